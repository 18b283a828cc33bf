/*
 * server.h — the internals of ringfenced shared between its files: the
 * server handle, a request being answered, the in-memory state that lets a
 * check-in be answered without touching the database (hosts, token cache,
 * rollout replicas), and the functions each file provides. Nothing here is
 * part of libringfence: the server is a thin layer over the public API
 * (store.h, rollout.h, validate.h, tuf_repo.h). See docs/design-server.md.
 */
#ifndef RINGFENCED_SERVER_H
#define RINGFENCED_SERVER_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ringfence/ringfence.h"
#include "ringfence/rollout.h"
#include "ringfence/store.h"
#include "ringfence/util.h"

#include "publish.h"

/* ---- roles ----------------------------------------------------------------- */

enum {
    RFD_ADMIN = 1u << 0,
    RFD_AUTHOR = 1u << 1,
    RFD_APPROVER = 1u << 2,
    RFD_OPERATOR = 1u << 3,
    RFD_TENANT_ADMIN = 1u << 4,
    RFD_ENROLL = 1u << 5,
    RFD_AGENT = 1u << 6,
    RFD_ANYONE = 1u << 7, /* no token needed */
};
#define RFD_VENDOR (RFD_ADMIN | RFD_AUTHOR | RFD_APPROVER | RFD_OPERATOR)

/* The role bit of a role name, 0 if unknown; the name of one bit. */
unsigned rfd_role_bit(const char *name);
const char *rfd_role_name(unsigned bit);

/* Who is asking: what a bearer token stands for. */
typedef struct rfd_auth {
    int64_t token_id;
    unsigned role;          /* one RFD_* bit; 0 when not authenticated */
    char name[RF_NAME_MAX]; /* the identity the token was issued to */
    int64_t tenant_id;
    int64_t host_id;
} rfd_auth;

/* ---- in-memory hosts ------------------------------------------------------- */

#define RFD_MAX_CHANNELS_PER_HOST 8

typedef struct rfd_host {
    int64_t id;
    int64_t tenant_id;
    char group[RF_NAME_MAX];
    char sensor_version[RF_SENSOR_VERSION_MAX];
    _Atomic int64_t last_seen; /* unix seconds; the enrollment time until the first check-in */
    _Atomic int64_t flushed;   /* last_seen as last written to the store */
    pthread_mutex_t mu;        /* guards what follows */
    uint32_t nchan;
    uint32_t chan[RFD_MAX_CHANNELS_PER_HOST];
    uint64_t version[RFD_MAX_CHANNELS_PER_HOST]; /* the content it last said it runs */
    uint64_t detections;       /* health totals last seen, for deltas */
    uint64_t events;
} rfd_host;

/* ---- rollout replicas ------------------------------------------------------ */

/* Per-host flags of a replica: set as log entries are applied (A_), or as
 * a check-in queues a report on this instance (Q_, to queue it once). */
enum {
    RFD_F_TOOK = 1u << 0,
    RFD_F_SILENT = 1u << 1,
    RFD_F_REVERT = 1u << 2,
    RFD_F_LOADFAIL = 1u << 3,
};

typedef struct rfd_rollout {
    int64_t id;
    rf_store_rollout row;    /* as stored (state kept current in memory) */
    int64_t release_id;
    char target[256];        /* TUF target of the release */
    char sha256[65];
    uint64_t length;
    char rb_target[256];     /* TUF target of the rollback version, "" if none */
    char rb_sha256[65];
    uint64_t rb_length;
    rf_plan plan;
    rf_fleet fleet;          /* the snapshot; arrays owned */
    int64_t *fleet_ids;      /* host id of each fleet index, ascending */
    int64_t *group_tenant;   /* tenant id of each fleet group */
    rf_release rel;
    uint8_t *sensor_ok;
    rf_rollout *eng;
    int64_t applied_seq;     /* last log entry applied */
    _Atomic uint8_t *applied; /* RFD_F_* per fleet host, from the log */
    _Atomic uint8_t *queued;  /* RFD_F_* per fleet host, queued here */
    /* Detections and per-event CPU reported since the measurement window
     * opened: [0] measured on other content, [1] on the release. They reach
     * the gates once per window (a check-in interval plus the silence
     * grace): detections as totals with the check-ins they came with as
     * exposure, CPU as one mean per host, treated ones spread evenly among
     * the control ones (docs/design-server.md, "Measurements"). */
    _Atomic uint64_t det_n[2];   /* detections in the window */
    _Atomic uint64_t det_rep[2]; /* check-ins in the window: the exposure */
    _Atomic uint64_t *cpu_sum[2];
    _Atomic uint32_t *cpu_n[2];
    int64_t window_start;
    char holding[256];       /* why the engine held at its last step ("" if it did not) */
    uint32_t stuck_warned;   /* wave+1 a "stuck" warning was logged for */
    pthread_rwlock_t lock;   /* engine + applied: readers are check-ins */
    int dirty;               /* diverged from the log: rebuild from it */
} rfd_rollout;

/* ---- the server ------------------------------------------------------------ */

typedef struct rfd_metrics {
    _Atomic uint64_t requests;
    _Atomic uint64_t checkins;
    _Atomic uint64_t assignments;
    _Atomic uint64_t enrollments;
    _Atomic uint64_t status[6];      /* 1xx..5xx by first digit (index 1..5) */
    _Atomic uint64_t lat_bucket[16]; /* request latency histogram, see metrics.c */
    _Atomic uint64_t lat_sum_us;
    _Atomic uint64_t decisions[4];   /* rf_decide */
    _Atomic uint64_t reports_logged;
    _Atomic uint64_t ticks;
} rfd_metrics;

typedef struct rfd_config {
    const char *db_url;
    const char *listen;            /* host:port */
    int insecure_listen;
    const char *tls_cert, *tls_key;
    unsigned threads;
    size_t max_body;
    size_t max_release_body;
    unsigned tick_ms;
    unsigned checkin_interval_s;   /* told to agents */
    const char *plan_path;         /* NULL: the default plan */
    rfd_publisher_opts tuf;
    int have_tuf;
    int quiet;
} rfd_config;

typedef struct rfd_server {
    rfd_config cfg;
    rf_store *store;
    rfd_publisher *pub;
    pthread_mutex_t pub_mu;
    char *plan_text;               /* the --plan file's text, "" for the default */
    rf_plan plan;

    /* hosts: index = position; by_id maps id -> position (ids are dense-ish) */
    pthread_rwlock_t hosts_lock;
    rfd_host **hosts;
    size_t nhosts, cap_hosts;
    int64_t *host_index;           /* id -> position + 1, 0: unknown */
    size_t host_index_cap;

    /* token cache: open addressing on the first 8 bytes of the hash */
    pthread_mutex_t tok_mu;
    struct rfd_tok_ent *tok;
    size_t tok_cap, tok_n;

    /* rollout replicas: the newest rollout of each channel */
    pthread_mutex_t ro_mu;         /* guards the array, not the replicas */
    rfd_rollout **ro;
    size_t nro;

    /* reports waiting for the ticker (check-ins on this instance) */
    pthread_mutex_t q_mu;
    rf_store_inbox *q;
    size_t qn, qcap;
    _Atomic uint64_t q_dropped;

    pthread_mutex_t validate_mu;   /* one validation at a time (child processes) */
    _Atomic int leader;
    _Atomic int stop;
    rfd_metrics m;
    int64_t started;
} rfd_server;

/* ---- a request --------------------------------------------------------------- */

typedef struct rfd_req {
    rfd_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    rf_buf body;
    size_t limit;
    int too_large;
    rfd_auth auth;
    uint64_t t0_ns;
    int64_t now;
    /* the answer */
    unsigned status;
    char *out;
    size_t out_len;
    const char *ctype;
    char *file_path;   /* a static file to send instead of out */
} rfd_req;

/* Answer with a JSON value (stolen) / an error {"error": msg} with status. */
void rfd_reply(rfd_req *r, unsigned status, json_t *v);
void rfd_fail(rfd_req *r, unsigned status, const char *fmt, ...) RF_PRINTF(3, 4);
/* Error with extra members (stolen) merged into {"error": ...}. */
void rfd_fail_with(rfd_req *r, unsigned status, json_t *extra, const char *fmt, ...)
    RF_PRINTF(4, 5);

/* Parse the body as a JSON object whose members are all in `allowed`
 * (NULL-terminated); on failure answers 400 naming the problem and returns
 * NULL. Caller owns the result. */
json_t *rfd_body_object(rfd_req *r, const char *const *allowed);
/* Typed members: on a wrong type answers 400 naming the field and returns
 * -1; 0 if absent (out untouched), 1 if set. */
int rfd_get_str(rfd_req *r, json_t *o, const char *key, const char **out);
int rfd_get_int(rfd_req *r, json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out);
int rfd_get_bool(rfd_req *r, json_t *o, const char *key, int *out);
/* A query-string argument, or NULL. */
const char *rfd_query(rfd_req *r, const char *key);
/* Parse a decimal id path segment (1..INT64_MAX); 0 if it is not one. */
int64_t rfd_parse_id(const char *s);

/* Audit line in the request's transaction: actor from r->auth. */
rf_rc rfd_audit(rfd_req *r, rf_store_tx *tx, const char *action, const char *object,
                json_t *detail /* borrowed, may be NULL */, rf_err *err);
/* The actor string of an auth ("token:12 operator alice"). */
void rfd_actor(const rfd_auth *a, char *buf, size_t n);
/* Answer 500/503 for a store error (logged with its detail). */
void rfd_store_fail(rfd_req *r, const rf_err *err);

/* ---- what each file provides -------------------------------------------------- */

/* http.c */
rf_rc rfd_http_start(rfd_server *s, rf_err *err);
void rfd_http_stop(rfd_server *s);
/* A line on stderr: what happens (rfd_log, silenced by --quiet) and what
 * went wrong (rfd_warn, always). */
void rfd_log(rfd_server *s, const char *fmt, ...) RF_PRINTF(2, 3);
void rfd_warn(rfd_server *s, const char *fmt, ...) RF_PRINTF(2, 3);

/* checkin.c */
int rfd_group_name_ok(const char *s); /* [a-z0-9_-]{1,63} */
/* [A-Za-z0-9._-] and the bytes of extra (may be NULL), 1..max-1 of them. */
int rfd_word_ok(const char *s, size_t max, const char *extra);
/* "channels/<channel>/<version>.rfc", the TUF target of a content version. */
void rfd_target_name(uint32_t channel, uint64_t version, char *buf, size_t n);
/* Append one assignment {channel, content_version, target, kind} to `as`. */
void rfd_assign(json_t *as, uint32_t channel, uint64_t version, const char *target,
                const char *kind);

/* tokens.c: create (returns the token text once), authenticate */
rf_rc rfd_token_issue(rfd_server *s, rf_store_tx *tx, const char *role, const char *name,
                      int64_t tenant_id, int64_t host_id, int64_t now, char token[68],
                      int64_t *id, rf_err *err);
/* After the commit that created it: cache a token (no store read at its
 * first use). */
void rfd_token_remember(rfd_server *s, const char *token, const rfd_auth *a);
/* After the commit that revoked it: refuse it here from now on. */
void rfd_token_forget(rfd_server *s, int64_t id);
/* Cache every valid token of the store (at start). */
rf_rc rfd_tokens_load(rfd_server *s, rf_err *err);
/* Refuse the tokens other instances revoked (their audit lines). */
void rfd_tokens_follow_revocations(rfd_server *s);
/* Look the bearer token up (cache, then the store): 1 known, 0 unknown or
 * revoked, -1 the store did not answer for a token not cached. */
int rfd_token_auth(rfd_server *s, const char *bearer, rfd_auth *out);
void rfd_token_cache_free(rfd_server *s);

/* hosts.c */
rf_rc rfd_hosts_load(rfd_server *s, rf_err *err);
rfd_host *rfd_host_find(rfd_server *s, int64_t id); /* borrowed; NULL if unknown */
rf_rc rfd_host_add(rfd_server *s, const rf_store_host *h); /* after commit */
void rfd_hosts_free(rfd_server *s);
int64_t rfd_hosts_max_id(rfd_server *s);
/* Last-seen times flushed by other instances (PostgreSQL), taken if later. */
void rfd_hosts_refresh_seen(rfd_server *s);
/* Every host of the store into memory (before a rollout's fleet is taken). */
void rfd_hosts_sync_all(rfd_server *s);

/* validate.c: the release upload check, run as `ringfenced validate-job DIR`
 * in a process of its own (the validator forks; this process has threads).
 * DIR holds upload.rfc, manifests.json, corpus/ and optionally baseline.rfc.
 * The job's stderr goes to the server's log. On RF_OK *passed is the
 * verdict, first the first error in words and *report the validator's
 * report (caller decrefs). */
rf_rc rfd_validate_release(rfd_server *s, const char *dir, int *passed, json_t **report,
                           char *first, size_t fn, rf_err *err);
int rfd_validate_job_main(int argc, char **argv);
void rfd_validate_dir_remove(const char *dir);

/* rollouts.c */
rf_rc rfd_rollouts_load(rfd_server *s, rf_err *err);
void rfd_rollouts_free(rfd_server *s);
/* The replica of the newest rollout of a channel (reference held by the
 * caller's ro_mu section only); NULL if none. */
rfd_rollout *rfd_rollout_of_channel(rfd_server *s, uint32_t channel);
rfd_rollout *rfd_rollout_by_id(rfd_server *s, int64_t id);
/* Fleet index of a host in a replica, or -1. */
int64_t rfd_rollout_index(const rfd_rollout *ro, int64_t host_id);
/* A new rollout was committed: build its replica. */
rf_rc rfd_rollout_attach(rfd_server *s, int64_t id, rf_err *err);
/* Start a rollout in tx (stores it and its first log entries); the replica
 * is installed after the commit (rfd_rollout_install) or discarded. */
rf_rc rfd_rollout_create(rfd_server *s, rf_store_tx *tx, rf_store_rollout *row,
                         rfd_rollout **out, rf_err *err);
void rfd_rollout_install(rfd_server *s, rfd_rollout *ro);
void rfd_rollout_discard(rfd_rollout *ro);
/* A replica of any rollout (an older one of its channel, for reading), not
 * installed: the caller frees it with rfd_rollout_discard. */
rf_rc rfd_rollout_transient(rfd_server *s, int64_t id, rfd_rollout **out, rf_err *err);
/* After the commit of an operator action: ok 0 rebuilds the replica. */
void rfd_rollout_committed(rfd_server *s, rfd_rollout *ro, int ok);
/* The workspace a release was validated against (its stored manifests). */
struct rf_workspace;
rf_rc rfd_release_workspace(const char *manifests, struct rf_workspace **out, rf_err *err);

/* current.c: the channels' current versions, and the policies that govern
 * what a host gets outside a rollout. */
void rfd_policy_of_row(const rf_store_policy *sp, rf_policy *p);
/* The policy of a group from a channel's rows: its own, else the tenant's
 * "*", else GA without delay. */
void rfd_policy_for(const rf_store_policy *ps, size_t n, int64_t tenant, const char *group,
                    rf_policy *out);
/* Raise the channel's current version; same_as: the version whose content
 * a rollback version carries (0 for a release), ga_open: when the release's
 * last GA wave opened (ignored for a rollback, which keeps its content's). */
void rfd_current_set(rfd_server *s, uint32_t channel, uint64_t version, uint64_t same_as,
                     int64_t ga_open);
/* The current version (0: none yet); *same_as (may be NULL) as above. */
uint64_t rfd_current_version(rfd_server *s, uint32_t channel, uint64_t *same_as);
/* Append to `as` what host h, running version `runs` of channel, is to take
 * outside any rollout: its pin, or the current version when its policy
 * allows it now; bad(ctx, ch, v) says whether the host marked v bad. */
void rfd_current_assign(rfd_server *s, const rfd_host *h, uint32_t channel, uint64_t runs,
                        int (*bad)(const void *ctx, uint32_t ch, uint64_t v), const void *ctx,
                        int64_t now, json_t *as);
/* Channels that have a current version (at most max). */
size_t rfd_current_channels(rfd_server *s, uint32_t *out, size_t max);
void rfd_policies_changed(rfd_server *s);
void rfd_tick_policies(rfd_server *s);
void rfd_policies_free(void);
/* GET /v1/plan: the blast radius (JSON, caller frees) of row's release. */
rf_rc rfd_blast_of(rfd_server *s, rf_store_tx *tx, const rf_store_rollout *row,
                   const char *template_type, char **json, rf_err *err);
/* One tick: flush, silence sweep, gates (leader), follow the log. */
void rfd_tick(rfd_server *s);
/* Operator action inside the request's write transaction. */
rf_rc rfd_rollout_operate(rfd_server *s, rf_store_tx *tx, rfd_rollout *ro, rf_operator_op op,
                          int64_t now, rf_decision *out, rf_err *err);
/* The rollout's state as JSON (waves, counts, decisions). */
json_t *rfd_rollout_json(rfd_server *s, rf_store_tx *tx, rfd_rollout *ro, rf_err *err);
/* Queue a report from a check-in for the ticker. */
void rfd_queue_report(rfd_server *s, const rf_store_inbox *e);
/* Add a check-in's measurements (detections since the last one, the mean
 * per-event CPU) to the host's window; ran: measured on the release. */
void rfd_measure(rfd_rollout *ro, int64_t idx, int ran, uint64_t detections, uint64_t cpu_ns);

/* checkin.c */
void rfd_api_checkin(rfd_req *r);
void rfd_api_enroll(rfd_req *r);

/* api.c: the other resources */
void rfd_api_tenants(rfd_req *r, char **seg, size_t nseg);
void rfd_api_tokens(rfd_req *r, char **seg, size_t nseg);
void rfd_api_releases(rfd_req *r, char **seg, size_t nseg);
void rfd_api_rollouts(rfd_req *r, char **seg, size_t nseg);
void rfd_api_plan(rfd_req *r);
void rfd_api_audit(rfd_req *r);

/* metrics.c */
void rfd_metrics_observe(rfd_server *s, unsigned status, uint64_t us);
char *rfd_metrics_text(rfd_server *s); /* caller frees */

#endif
