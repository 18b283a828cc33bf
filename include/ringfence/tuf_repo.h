/*
 * tuf_repo.h — the repository side of TUF in libringfence: a repository kept
 * in a directory (working metadata, target files, settings), the edits a
 * release needs (targets, delegations, root keys and thresholds, expiry), the
 * signing of each role in turn by as many key holders as its threshold asks,
 * and publication into a directory any HTTP server or CDN can serve.
 *
 * Publication checks every role with the same signature code the client uses
 * and then runs the library's own client over what it wrote, so a
 * repository that ringfence publishes is one its agents can update from.
 * The directory layout is documented in lib/tuf/repo.c and docs/trust.md.
 *
 * All strings handed in are copied or parsed; nothing is kept by reference.
 */
#ifndef RINGFENCE_TUF_REPO_H
#define RINGFENCE_TUF_REPO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ringfence/ringfence.h"
#include "ringfence/tuf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A target path: at most this many bytes in all, ... */
#define RF_TUF_REPO_PATH_MAX 512
/* ... and this many per '/'-separated part, so that the published name
 * "<sha256>.<part>" (65 bytes more) still fits a file name of 255 bytes. */
#define RF_TUF_REPO_PART_MAX 180
/* One target file. Channel files are at most 64 MiB; this leaves room for
 * other artefacts while bounding what is read into memory at once. */
#define RF_TUF_REPO_MAX_TARGET_BYTES (1024u * 1024u * 1024u)
/* Delegated roles in one repository: far above need; bounds every walk of
 * the delegation tree. The client visits at most RF_TUF_MAX_DELEGATIONS
 * roles per search, so deep chains beyond that are refused too. */
#define RF_TUF_REPO_MAX_ROLES 1000
/* Keys given for one role at once, and paths of one delegation. */
#define RF_TUF_REPO_MAX_KEYS 64
#define RF_TUF_REPO_MAX_PATHS 256
/* An expiry period: one minute to twenty years. */
#define RF_TUF_REPO_PERIOD_MIN 60
#define RF_TUF_REPO_PERIOD_MAX (20LL * 366 * 86400)

/* The URL prefix rf_tuf_repo_fetch_file serves: "file-base/metadata/X" is
 * DIR/metadata/X. */
#define RF_TUF_REPO_FILE_BASE "file-base"

/* Expiry periods, one per kind of role (repo.json "expiry_seconds"). */
typedef enum rf_tuf_repo_period {
    RF_TUF_PERIOD_ROOT = 0,      /* default 365 days */
    RF_TUF_PERIOD_TARGETS = 1,   /* default 90 days */
    RF_TUF_PERIOD_DELEGATED = 2, /* every delegated role; default 90 days */
    RF_TUF_PERIOD_SNAPSHOT = 3,  /* default 7 days */
    RF_TUF_PERIOD_TIMESTAMP = 4, /* default 1 day */
} rf_tuf_repo_period;
#define RF_TUF_PERIOD_COUNT 5

/* "root", "targets", "delegated", "snapshot", "timestamp". */
const char *rf_tuf_repo_period_name(rf_tuf_repo_period p);
/* The reverse; RF_E_USAGE for anything else. */
rf_rc rf_tuf_repo_period_parse(const char *name, rf_tuf_repo_period *out) RF_WUR;
/* The default period of p, in seconds. */
int64_t rf_tuf_repo_period_default(rf_tuf_repo_period p);

/* The keys of one role: public key objects as JSON text (the content of a
 * NAME.pub file written by `ringfence keys gen`), and a threshold. */
typedef struct rf_tuf_repo_keys {
    const char *const *pub_json;
    size_t n;          /* 1..RF_TUF_REPO_MAX_KEYS */
    int64_t threshold; /* 1..n; 0 means 1 */
} rf_tuf_repo_keys;

typedef struct rf_tuf_repo_init_opts {
    rf_tuf_repo_keys root, targets, snapshot, timestamp;
    int64_t period[RF_TUF_PERIOD_COUNT]; /* seconds; 0: the default */
    int consistent_snapshot;             /* 1: versioned and hashed file names */
    time_t now;                          /* 0: the clock */
} rf_tuf_repo_init_opts;

/* Fill o with the defaults: no keys, default periods, consistent snapshots. */
void rf_tuf_repo_init_opts_default(rf_tuf_repo_init_opts *o);

/*
 * Create a repository in dir (created if absent; an existing dir must be
 * empty): repo.json, staged/root.json (version 1, unsigned), its copy in
 * staged/root-history/1.root.json, and an empty staged/targets.json
 * (version 1, unsigned). Snapshot and timestamp are made later by
 * rf_tuf_repo_snapshot / rf_tuf_repo_timestamp.
 */
rf_rc rf_tuf_repo_init(const char *dir, const rf_tuf_repo_init_opts *o, rf_err *err) RF_WUR;

/* An open repository. Opaque. */
typedef struct rf_tuf_repo rf_tuf_repo;

/*
 * Open the repository in dir: read and check repo.json and every staged
 * document (the whole delegation tree and the root history). Holds an
 * exclusive lock on dir/.lock until rf_tuf_repo_free, so two commands never
 * edit one repository at once (RF_E_IO "in use" when another holds it).
 * Caller frees with rf_tuf_repo_free.
 */
rf_rc rf_tuf_repo_open(const char *dir, rf_tuf_repo **out, rf_err *err) RF_WUR;
void rf_tuf_repo_free(rf_tuf_repo *r);

/* Fix the clock of every later operation (tests); 0 returns to the clock. */
void rf_tuf_repo_set_now(rf_tuf_repo *r, time_t now);

/*
 * Every operation below that changes a role's signed part clears that
 * role's signatures, gives it version published+1 (so a role changed several
 * times between two publications takes one new version) and sets its expiry
 * to now + its period. Each writes what it changed at once, atomically.
 */

/*
 * Copy file into the repository as target `path` of `role` (NULL:
 * "targets"), listed with its length, sha256 and sha512 and, if custom_json
 * is not NULL, that JSON object as "custom". The path is checked (no "..",
 * "." or empty parts, no leading '/', no backslash or control bytes, UTF-8,
 * RF_TUF_REPO_PATH_MAX / RF_TUF_REPO_PART_MAX); a delegated role refuses a
 * path outside the paths delegated to it (RF_E_USAGE); a path listed by
 * another role is refused. *changed (may be NULL) is 0 when the role already
 * listed exactly this entry (nothing was changed).
 */
rf_rc rf_tuf_repo_add_target(rf_tuf_repo *r, const char *role, const char *path,
                             const char *file, const char *custom_json, int *changed,
                             rf_err *err) RF_WUR;

/* Remove target `path` from `role` (NULL: "targets") and its file.
 * RF_E_NOTFOUND if the role does not list it. */
rf_rc rf_tuf_repo_remove_target(rf_tuf_repo *r, const char *role, const char *path,
                                rf_err *err) RF_WUR;

/*
 * Add s's signature to the staged metadata of `role` (replacing an earlier
 * signature by the same key). The key must be one the role trusts; for a
 * root version not published yet, a root key of it or of the previous version.
 * RF_E_SIGNATURE when it is not, RF_E_NOTFOUND for an unknown role.
 */
rf_rc rf_tuf_repo_sign(rf_tuf_repo *r, const char *role, const rf_tuf_signer *s,
                       rf_err *err) RF_WUR;

/* Make a new snapshot listing the current version of targets.json and of
 * every delegated role, signed by s (a snapshot key). */
rf_rc rf_tuf_repo_snapshot(rf_tuf_repo *r, const rf_tuf_signer *s, rf_err *err) RF_WUR;

/* Make a new timestamp listing the staged snapshot (version, length,
 * sha256), signed by s (a timestamp key). */
rf_rc rf_tuf_repo_timestamp(rf_tuf_repo *r, const rf_tuf_signer *s, rf_err *err) RF_WUR;

/* One change to the root. */
typedef enum rf_tuf_root_op {
    RF_TUF_ROOT_ADD_KEY = 1,    /* role, arg = public key JSON */
    RF_TUF_ROOT_REMOVE_KEY = 2, /* role, arg = key id (64 hex) or public key JSON */
    RF_TUF_ROOT_THRESHOLD = 3,  /* role, n = threshold */
    RF_TUF_ROOT_EXPIRES = 4,    /* n = the root's expiry period in seconds */
} rf_tuf_root_op;

typedef struct rf_tuf_root_change {
    rf_tuf_root_op op;
    const char *role; /* "root", "targets", "snapshot" or "timestamp" */
    const char *arg;
    int64_t n;
} rf_tuf_root_change;

/*
 * Apply changes (all or none) to the root: a new root version (previous + 1,
 * unless the current one is not published yet), unsigned, the previous one
 * kept in staged/root-history. Every role must end with at least one key and
 * a threshold it can reach (RF_E_USAGE otherwise). It must then be signed by
 * a threshold of the previous root's root keys and of its own.
 */
rf_rc rf_tuf_repo_root_edit(rf_tuf_repo *r, const rf_tuf_root_change *changes, size_t n,
                            rf_err *err) RF_WUR;

/* A delegation from a targets role to a new delegated role. */
typedef struct rf_tuf_delegation {
    const char *parent;     /* NULL: "targets" */
    const char *name;       /* [A-Za-z0-9._-], 1..RF_NAME_MAX bytes, not a top-level name */
    rf_tuf_repo_keys keys;
    const char *const *paths; /* patterns; NULL or npaths 0: every path */
    size_t npaths;
    int terminating;
} rf_tuf_delegation;

/* Add the delegation to its parent and create the delegated role (version 1
 * or the next after its last published version, no targets). Without paths
 * the role is trusted for every path (path_hash_prefixes "0".."f"). */
rf_rc rf_tuf_repo_delegate(rf_tuf_repo *r, const rf_tuf_delegation *d, rf_err *err) RF_WUR;

/* Set the expiry period of a kind of role (repo.json only: it applies at
 * each role's next change or renewal). */
rf_rc rf_tuf_repo_set_period(rf_tuf_repo *r, rf_tuf_repo_period p, int64_t seconds,
                             rf_err *err) RF_WUR;

/* Renew `role`: expiry now + its period, counted as a change (signatures
 * cleared, version rule above). */
rf_rc rf_tuf_repo_renew(rf_tuf_repo *r, const char *role, rf_err *err) RF_WUR;

/*
 * Check that everything is ready to publish (each role signed by its
 * threshold, new roots by the old and new thresholds, snapshot and timestamp
 * current, nothing expired, sizes within the client's limits). The first
 * problem is returned (with the command that fixes it); see
 * rf_tuf_repo_status_json for all of them.
 */
rf_rc rf_tuf_repo_check(rf_tuf_repo *r, rf_err *err) RF_WUR;

/*
 * Publish into out (created if needed): out/metadata/N.root.json for every
 * root version, N.targets.json, N.<role>.json (names percent-encoded),
 * N.snapshot.json (and unversioned copies when consistent_snapshot is
 * false), timestamp.json last; target files as out/targets/DIR/SHA256.NAME
 * (consistent) or out/targets/PATH. Older files are kept. Then the
 * library's client, trusting the first root, updates from out and finds and
 * downloads every target; only when it succeeds are the published versions
 * recorded in repo.json. A failed check writes nothing; a failed client run
 * leaves the files written but repo.json unchanged.
 */
rf_rc rf_tuf_repo_publish(rf_tuf_repo *r, const char *out, rf_err *err) RF_WUR;

/*
 * The state of every role as a JSON document (malloc'd, caller frees):
 * {"repository", "consistent_snapshot", "now", "roles": [{"role",
 * "parent", "version", "expires", "expired", "signatures", "threshold",
 * "keyids", "previous_root": {"signatures", "threshold"}, "published_version",
 * "published", "targets"}...], "ready", "problems": [...]}.
 */
rf_rc rf_tuf_repo_status_json(rf_tuf_repo *r, char **out, rf_err *err) RF_WUR;

/* The key id of a public key given as JSON text, after checking that it is
 * a key type ringfence signs and verifies with. */
rf_rc rf_tuf_repo_keyid(const char *pub_json, char out[65], rf_err *err) RF_WUR;

/*
 * A rf_tuf_fetch_fn that serves a published directory: ctx is the
 * directory (const char *), URLs are RF_TUF_REPO_FILE_BASE "/" + a
 * percent-encoded relative path. max_len is honoured (RF_E_LIMIT), a
 * missing file is RF_E_NOTFOUND, a path with ".." RF_E_USAGE.
 */
rf_rc rf_tuf_repo_fetch_file(void *ctx, const char *url, size_t max_len,
                             const rf_tuf_fetch_limits *lim, rf_buf *out,
                             rf_err *err) RF_WUR;

#ifdef __cplusplus
}
#endif
#endif
