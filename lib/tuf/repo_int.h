/*
 * repo_int.h — shared between the files of the TUF repository (repo.c:
 * the directory, its documents and their edits; repo_publish.c: the checks
 * before publication, publication itself, status and the file fetcher).
 * Everything here is internal to lib/tuf.
 */
#ifndef RF_TUF_REPO_INT_H
#define RF_TUF_REPO_INT_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "ringfence/tuf_repo.h"
#include "tuf/tuf_int.h"

/* The spec_version written into every document we create. */
#define RFREPO_SPEC_VERSION "1.0.31"

/* Fixed positions of the top-level roles in rf_tuf_repo.roles; delegated
 * roles follow in pre-order of the delegation tree. */
enum { RFREPO_ROOT = 0, RFREPO_TARGETS = 1, RFREPO_SNAPSHOT = 2, RFREPO_TIMESTAMP = 3,
       RFREPO_NTOP = 4 };

typedef struct rfrepo_role {
    char *name;           /* "root", ..., or the delegated role's name */
    rftuf_role_type type; /* RFTUF_TARGETS for delegated roles */
    int delegated;
    size_t parent;        /* delegated: index of the delegating role */
    json_t *doc;          /* the envelope; NULL when not made yet (snapshot, timestamp) */
} rfrepo_role;

struct rf_tuf_repo {
    char *dir;
    int lockfd;
    time_t fixed_now; /* 0: the clock */
    json_t *cfg;      /* repo.json */
    rfrepo_role *roles;
    size_t nroles;
    json_t **hist;    /* hist[i]: root version i + 1 (envelope) */
    size_t nhist;     /* == the staged root's version */
};

time_t rfrepo_now(const rf_tuf_repo *r);

/* a + "/" + b (+ "/" + c when c is not NULL); malloc'd, NULL on OOM. */
char *rfrepo_join(const char *a, const char *b, const char *c);

/* The "signed" object of an envelope, its version and expiry. */
json_t *rfrepo_signed(const json_t *doc);
int64_t rfrepo_version(const json_t *doc);

/* The role called name, or NULL. */
rfrepo_role *rfrepo_find(rf_tuf_repo *r, const char *name);

/* The version of a role recorded as published in repo.json (0: never). */
int64_t rfrepo_published(const rf_tuf_repo *r, const rfrepo_role *ro);

/* The period (seconds) that applies to a role. */
int64_t rfrepo_period_of(const rf_tuf_repo *r, const rfrepo_role *ro);

/* The delegation entry naming ro in its parent's metadata (delegated only). */
const json_t *rfrepo_deleg_entry(const rf_tuf_repo *r, const rfrepo_role *ro);

/*
 * The keys a role is verified with: the key objects (keyid → key), the
 * trusted key ids and the threshold, from the staged root (top-level roles)
 * or from the delegating role. Borrowed from the documents. RF_E_INTERNAL
 * when the documents do not hold them (they were checked at open).
 */
rf_rc rfrepo_role_keys(const rf_tuf_repo *r, const rfrepo_role *ro, const json_t **keys,
                       const json_t **keyids, int64_t *threshold, rf_err *err);

/* Path of a role's staged file (dir/staged/NAME.json) and of root version v
 * in the history. Caller frees. */
char *rfrepo_staged_path(const rf_tuf_repo *r, const char *name);
char *rfrepo_history_path(const rf_tuf_repo *r, int64_t v);

/* Create every missing directory of the parent of base/rel (rel relative,
 * already checked to hold no "..") with mode 0755. */
rf_rc rfrepo_mkdirs_for(const char *base, const char *rel, rf_err *err) RF_WUR;

/* Read a whole file (at most max bytes). */
rf_rc rfrepo_read(const char *path, size_t max, rf_buf *out, rf_err *err) RF_WUR;

/* Number of distinct keys among keyids whose signature on doc verifies. */
int64_t rfrepo_count_sigs(const json_t *doc, const json_t *keys, const json_t *keyids);

/* Store repo.json. */
rf_rc rfrepo_save_cfg(rf_tuf_repo *r, rf_err *err) RF_WUR;

#endif
