/*
 * store.h — the control plane's durable state behind one interface with two
 * backends: SQLite (a file; the default) and PostgreSQL (libpq). Tenants,
 * tokens, hosts, policies, releases, rollouts and their logs, the report
 * inbox and the hash-chained audit log. ringfenced uses it for everything it
 * keeps; `ringfence audit verify` reads the audit chain through it. See
 * docs/design-server.md.
 *
 * Every call runs inside a transaction handle (rf_store_begin ... commit or
 * rollback). A handle owns one connection of the store's pool until it
 * ends; handles may be used from different threads, one thread per handle.
 * Strings in result structs are owned by the struct and freed by its
 * rf_store_*_free function (NULL-safe); every "out" is set only on RF_OK.
 * A lookup that finds nothing returns RF_E_NOTFOUND.
 */
#ifndef RINGFENCE_STORE_H
#define RINGFENCE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ringfence/ringfence.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rf_store rf_store;
typedef struct rf_store_tx rf_store_tx;

typedef enum rf_store_backend {
    RF_STORE_SQLITE = 0,
    RF_STORE_POSTGRES = 1,
} rf_store_backend;

/* The schema version this build creates and understands. */
#define RF_STORE_SCHEMA_VERSION 2

/*
 * Open (and create, for SQLite) the database at `url`: "postgresql://..." or
 * "postgres://..." is PostgreSQL; "sqlite:PATH" or any other string is a
 * SQLite file path. Runs pending migrations, each in its own transaction.
 * pool: connections kept for transactions (0: 4). A SQLite file already
 * opened by another process for serving is refused with RF_E_IO when
 * `exclusive` is set. A database with a newer schema than this build is
 * RF_E_UNSUPPORTED. Caller frees with rf_store_close, once every
 * transaction has ended.
 */
rf_rc rf_store_open(const char *url, unsigned pool, int exclusive, rf_store **out,
                    rf_err *err) RF_WUR;
void rf_store_close(rf_store *st);
rf_store_backend rf_store_backend_of(const rf_store *st);
/* The schema version found (after migrations). */
int rf_store_schema_version(rf_store *st);

/*
 * Begin a transaction. write: take the write lock at once (SQLite BEGIN
 * IMMEDIATE; PostgreSQL READ COMMITTED with row locks where needed). Blocks
 * while every pooled connection is in use. Caller ends it with commit or
 * rollback exactly once; both free the handle, whatever they return.
 * A read transaction (write 0) sees one snapshot (PostgreSQL: REPEATABLE
 * READ READ ONLY) and refuses changes with RF_E_USAGE.
 *
 * A database error spoils the transaction, as PostgreSQL does: later calls
 * in it fail and commit rolls it back (RF_E_IO). Usage errors, lookups that
 * find nothing and the "exists already" RF_E_SCHEMA of the create calls
 * leave it usable; a reference to a missing row (a host for an unknown
 * tenant: RF_E_NOTFOUND) does not.
 */
rf_rc rf_store_begin(rf_store *st, int write, rf_store_tx **out, rf_err *err) RF_WUR;
rf_rc rf_store_commit(rf_store_tx *tx, rf_err *err) RF_WUR;
void rf_store_rollback(rf_store_tx *tx);

/* ---- tenants ------------------------------------------------------------- */

typedef struct rf_store_tenant {
    int64_t id;
    char name[RF_NAME_MAX]; /* [a-z0-9_-]{1,63}, unique */
    int internal;           /* the vendor's own hosts */
    int64_t created;        /* unix seconds */
} rf_store_tenant;

/* RF_E_SCHEMA (message names the tenant) if the name is taken. */
rf_rc rf_store_tenant_create(rf_store_tx *tx, const char *name, int internal, int64_t now,
                             int64_t *id, rf_err *err) RF_WUR;
rf_rc rf_store_tenant_get(rf_store_tx *tx, const char *name, rf_store_tenant *out,
                          rf_err *err) RF_WUR;
rf_rc rf_store_tenant_by_id(rf_store_tx *tx, int64_t id, rf_store_tenant *out,
                            rf_err *err) RF_WUR;
/* Every tenant, by id. Caller frees *out with free(). */
rf_rc rf_store_tenant_list(rf_store_tx *tx, rf_store_tenant **out, size_t *n,
                           rf_err *err) RF_WUR;

/* ---- tokens -------------------------------------------------------------- */

typedef struct rf_store_token {
    int64_t id;
    uint8_t hash[32];       /* SHA-256 of the bearer token; the token itself is never stored */
    char role[16];          /* admin author approver operator tenant-admin enroll agent */
    char name[RF_NAME_MAX]; /* the identity (a person or service), for audit and four eyes */
    int64_t tenant_id;      /* tenant-admin, enroll, agent; else 0 */
    int64_t host_id;        /* agent; else 0 */
    int64_t created;
    int revoked;
} rf_store_token;

rf_rc rf_store_token_create(rf_store_tx *tx, const rf_store_token *t, int64_t *id,
                            rf_err *err) RF_WUR;
/* Mark a token revoked (it stays, for the audit log's references).
 * RF_E_NOTFOUND for an unknown id. */
rf_rc rf_store_token_revoke(rf_store_tx *tx, int64_t id, rf_err *err) RF_WUR;
/* Tokens by id: tenant_id < 0 every token, 0 the vendor's (no tenant), else
 * that tenant's (tenant-admin, enroll, agent). Caller frees *out with free(). */
rf_rc rf_store_token_list(rf_store_tx *tx, int64_t tenant_id, rf_store_token **out, size_t *n,
                          rf_err *err) RF_WUR;
rf_rc rf_store_token_by_hash(rf_store_tx *tx, const uint8_t hash[32], rf_store_token *out,
                             rf_err *err) RF_WUR;

/* ---- hosts --------------------------------------------------------------- */

typedef struct rf_store_host {
    int64_t id;
    int64_t tenant_id;
    char group[RF_NAME_MAX];                 /* host group within the tenant */
    char hostname[RF_NAME_MAX * 2];
    char sensor_version[RF_SENSOR_VERSION_MAX];
    int64_t enrolled;
    int64_t last_seen;                       /* 0: never checked in */
} rf_store_host;

rf_rc rf_store_host_create(rf_store_tx *tx, const rf_store_host *h, int64_t *id,
                           rf_err *err) RF_WUR;
rf_rc rf_store_host_get(rf_store_tx *tx, int64_t id, rf_store_host *out, rf_err *err) RF_WUR;
/* Hosts with id <= max_id (0: all), by id. Caller frees *out with free(). */
rf_rc rf_store_host_list(rf_store_tx *tx, int64_t max_id, rf_store_host **out, size_t *n,
                         rf_err *err) RF_WUR;
/* Hosts whose last_seen is later than `since`, by id (what other instances
 * flushed lately; indexed). Caller frees *out with free(). */
rf_rc rf_store_host_seen_since(rf_store_tx *tx, int64_t since, rf_store_host **out, size_t *n,
                               rf_err *err) RF_WUR;
/* Batched last-seen update, in the caller's transaction (SQLite: one
 * statement per host; PostgreSQL: one for the batch). A host listed twice
 * gets its last time; ids that are not hosts are skipped. */
rf_rc rf_store_host_seen(rf_store_tx *tx, const int64_t *ids, const int64_t *times, size_t n,
                         rf_err *err) RF_WUR;

/* ---- policies ------------------------------------------------------------ */

typedef struct rf_store_policy {
    int64_t tenant_id;
    char group[RF_NAME_MAX];    /* "*" : every host group of the tenant without its own */
    uint32_t channel;
    char mode[8];               /* early ga pinned paused */
    uint32_t ga_delay_s;
    uint64_t pinned_version;
    int emergency_opt_in;
    int64_t updated;
} rf_store_policy;

/* Insert or replace the policy of (tenant, group, channel). */
rf_rc rf_store_policy_put(rf_store_tx *tx, const rf_store_policy *p, rf_err *err) RF_WUR;
rf_rc rf_store_policy_get(rf_store_tx *tx, int64_t tenant_id, const char *group,
                          uint32_t channel, rf_store_policy *out, rf_err *err) RF_WUR;
/* Every policy of a channel. Caller frees *out with free(). */
rf_rc rf_store_policy_list(rf_store_tx *tx, uint32_t channel, rf_store_policy **out, size_t *n,
                           rf_err *err) RF_WUR;

/* ---- releases ------------------------------------------------------------ */

typedef struct rf_store_release {
    int64_t id;
    uint32_t channel;
    uint64_t content_version;
    char template_type[RF_NAME_MAX];
    uint32_t template_version;
    uint32_t inputs_required;
    char sha256[65];            /* of the channel file, hex */
    char state[16];             /* validated approved */
    char author[RF_NAME_MAX];
    char approver[RF_NAME_MAX]; /* "" until approved */
    int64_t created;
    int64_t approved;           /* 0 until approved */
    char target[256];           /* TUF target name once approved, else "" */
    uint8_t *channel_file;      /* owned; NULL in list results */
    size_t channel_len;
    char *manifests;            /* owned: the sensor manifests (YAML documents) */
    char *report;               /* owned: the validator's report (JSON) */
} rf_store_release;

void rf_store_release_free(rf_store_release *r); /* frees the owned members only */

/* RF_E_SCHEMA if (channel, content_version) exists already. */
rf_rc rf_store_release_create(rf_store_tx *tx, const rf_store_release *r, int64_t *id,
                              rf_err *err) RF_WUR;
/* with_blobs: also load channel_file, manifests and report. */
rf_rc rf_store_release_get(rf_store_tx *tx, int64_t id, int with_blobs, rf_store_release *out,
                           rf_err *err) RF_WUR;
/* Mark approved (state, approver, approved, target). RF_E_NOTFOUND. */
rf_rc rf_store_release_approve(rf_store_tx *tx, int64_t id, const char *approver, int64_t now,
                               const char *target, rf_err *err) RF_WUR;
/* Releases of a channel (0: all), newest first, without blobs. Caller frees
 * each with rf_store_release_free and the array with free(). */
rf_rc rf_store_release_list(rf_store_tx *tx, uint32_t channel, rf_store_release **out,
                            size_t *n, rf_err *err) RF_WUR;

/* ---- rollouts ------------------------------------------------------------ */

typedef struct rf_store_rollout {
    int64_t id;
    int64_t release_id;
    uint32_t channel;
    uint64_t content_version;
    uint64_t last_good_version;
    int emergency;
    char reason[512];
    char operator_name[RF_NAME_MAX];
    uint64_t seed;
    int64_t t0;
    int64_t fleet_max_host; /* the fleet snapshot: hosts with id <= this */
    char state[16];         /* running halted complete */
    char *plan;             /* owned: the plan's YAML text ("": the default plan) */
    int64_t updated;
} rf_store_rollout;

void rf_store_rollout_free(rf_store_rollout *r); /* the owned members only */

rf_rc rf_store_rollout_create(rf_store_tx *tx, const rf_store_rollout *r, int64_t *id,
                              rf_err *err) RF_WUR;
rf_rc rf_store_rollout_get(rf_store_tx *tx, int64_t id, rf_store_rollout *out,
                           rf_err *err) RF_WUR;
rf_rc rf_store_rollout_set_state(rf_store_tx *tx, int64_t id, const char *state, int64_t now,
                                 rf_err *err) RF_WUR;
/* Rollouts, by id; state NULL for all. Caller frees as for releases. */
rf_rc rf_store_rollout_list(rf_store_tx *tx, const char *state, rf_store_rollout **out,
                            size_t *n, rf_err *err) RF_WUR;

/* One entry of a rollout's log (docs/design-server.md, "The rollout log"). */
typedef struct rf_store_log {
    int64_t rollout_id;
    int64_t seq;        /* 1, 2, ... per rollout, assigned by rf_store_log_append */
    int64_t t;          /* unix seconds */
    int kind;           /* rf_report_kind 0..7; RF_LOG_* below */
    int64_t host;       /* host index in the rollout's fleet, or a group index; -1 if none */
    int treated;
    double value;
    char *detail;       /* owned, may be NULL: JSON (decision evidence, policy) */
} rf_store_log;

#define RF_LOG_POLICY 20
#define RF_LOG_DETECTIONS 25 /* a window's detection totals (detail JSON) */
#define RF_LOG_STEP 30
#define RF_LOG_OP_HALT 40
#define RF_LOG_OP_RESUME 41
#define RF_LOG_OP_ROLLBACK 42

/* Lock a rollout's log for the rest of the write transaction (PostgreSQL: its
 * row; SQLite: the write lock is the database's) and return its last seq, so
 * that reading the log and then appending to it happen with no entry of
 * another transaction in between. RF_E_NOTFOUND for an unknown rollout. */
rf_rc rf_store_rollout_lock(rf_store_tx *tx, int64_t rollout_id, int64_t *last_seq,
                            rf_err *err) RF_WUR;

/* Append entries in order; each gets the next seq of its rollout (written
 * back into e[i].seq, only on RF_OK). Values must be finite (RF_E_USAGE);
 * an unknown rollout is RF_E_NOTFOUND. */
rf_rc rf_store_log_append(rf_store_tx *tx, rf_store_log *e, size_t n, rf_err *err) RF_WUR;
/*
 * Entries of a rollout with seq > after, in seq order, at most `limit`
 * (0: no limit); kinds_min: only entries with kind >= this (0: all; RF_LOG_STEP
 * for the decisions and operator actions). Caller frees with
 * rf_store_log_free_array.
 */
rf_rc rf_store_log_read(rf_store_tx *tx, int64_t rollout_id, int64_t after, int kinds_min,
                        size_t limit, rf_store_log **out, size_t *n, rf_err *err) RF_WUR;
void rf_store_log_free_array(rf_store_log *e, size_t n);

/* ---- report inbox (check-ins received by instances that are not the leader) */

typedef struct rf_store_inbox {
    int64_t rollout_id;
    int64_t t;
    int kind;
    int64_t host;  /* host index in the rollout's fleet */
    int treated;
    double value;
} rf_store_inbox;

rf_rc rf_store_inbox_put(rf_store_tx *tx, const rf_store_inbox *e, size_t n,
                         rf_err *err) RF_WUR;
/* Remove and return up to `limit` entries (0: all), oldest first; entries
 * another transaction is taking are skipped. Caller frees *out with free(). */
rf_rc rf_store_inbox_take(rf_store_tx *tx, size_t limit, rf_store_inbox **out, size_t *n,
                          rf_err *err) RF_WUR;

/* ---- audit --------------------------------------------------------------- */

typedef struct rf_store_audit {
    int64_t seq;
    int64_t t;
    char *actor;   /* "token:12 (operator alice)", "engine" */
    char *action;  /* "rollout.create", "decision.halt", ... */
    char *object;  /* "rollout/3" */
    char *detail;  /* JSON */
    char prev[65];
    char hash[65];
} rf_store_audit;

void rf_store_audit_free_array(rf_store_audit *a, size_t n);

/* Append one entry: computes seq, prev and hash under the audit lock.
 * *seq_out (may be NULL) gets its seq. */
rf_rc rf_store_audit_append(rf_store_tx *tx, int64_t t, const char *actor, const char *action,
                            const char *object, const char *detail, int64_t *seq_out,
                            rf_err *err) RF_WUR;
/* Entries with seq > after, at most limit (0: no limit), in order. */
rf_rc rf_store_audit_read(rf_store_tx *tx, int64_t after, size_t limit, rf_store_audit **out,
                          size_t *n, rf_err *err) RF_WUR;
/* The hash of an entry from its fields and prev (docs/design-server.md). */
void rf_store_audit_hash(const rf_store_audit *a, char out[65]);
/*
 * Walk the whole chain: every prev is the hash of the entry before (64 zeros
 * for the first), every hash recomputes, seqs are 1, 2, 3, ... RF_OK with
 * *count entries; RF_E_CHECKSUM with the first broken seq in the message.
 */
rf_rc rf_store_audit_verify(rf_store *st, uint64_t *count, rf_err *err) RF_WUR;

/* ---- leadership (the rollout engine runs on one instance) ---------------- */

/*
 * Try to become (or stay) the leader: PostgreSQL's session advisory lock on a
 * connection kept for it; SQLite: always the leader (one server per file).
 * *leader is 1 while held; 0 if another instance holds it. A lost connection
 * drops leadership (reported as *leader = 0, then retried at the next call).
 */
rf_rc rf_store_leader_try(rf_store *st, int *leader, rf_err *err) RF_WUR;
void rf_store_leader_release(rf_store *st);

#ifdef __cplusplus
}
#endif
#endif
