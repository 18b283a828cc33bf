/*
 * store_int.h — what the files of lib/store share: the store and
 * transaction handles, the connection pool, and the table of operations a
 * backend (sqlite.c, pg.c) provides. store.c checks every argument and the
 * transaction's state before it calls a backend, so a backend sees only
 * well-formed calls: non-NULL pointers, NUL-terminated fixed-size fields,
 * a write transaction for every change, finite values.
 */
#ifndef RINGFENCE_LIB_STORE_INT_H
#define RINGFENCE_LIB_STORE_INT_H

#include <pthread.h>

#include "ringfence/store.h"

/*
 * The pool: at most `max` connections open, the idle ones on a stack. A
 * taker blocks while all are in use. Connections are opened lazily by the
 * taker that finds none idle but a free slot.
 */
typedef struct rfstore_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void **idle; /* owned array of max entries; the connections are the backend's */
    unsigned nidle;
    unsigned nopen; /* idle + in use (+ being opened) */
    unsigned max;
} rfstore_pool;

typedef struct rfstore_ops rfstore_ops;

struct rf_store {
    const rfstore_ops *ops;
    void *impl; /* the backend's per-store state, owned by the backend */
    rfstore_pool pool;
    int schema_version;
};

struct rf_store_tx {
    rf_store *st;
    void *conn; /* one connection of st->pool, held until commit or rollback */
    int write;
    int failed; /* a database error happened: the transaction can only roll back */
};

/* An inbox entry with its row id, as a backend's inbox_take returns them. */
typedef struct rfstore_inbox_row {
    int64_t id;
    rf_store_inbox e;
} rfstore_inbox_row;

/*
 * A backend. Every data operation gets a live transaction on one of its
 * connections and returns RF_OK, RF_E_NOTFOUND, RF_E_SCHEMA (a uniqueness
 * conflict it handled without spoiling the transaction), or an error after
 * which it has set tx->failed (rfstore_db_error below). Outputs are written
 * only on RF_OK and belong to the caller.
 */
struct rfstore_ops {
    rf_store_backend backend;
    /* Set up st->impl for `target` (the URL, or the SQLite path without
     * "sqlite:"). May lower *pool (a SQLite memory database has one
     * connection). */
    rf_rc (*open)(rf_store *st, const char *target, int exclusive, unsigned *pool,
                  rf_err *err);
    /* Bring the schema up to RF_STORE_SCHEMA_VERSION with one connection of
     * the pool; *version gets the version found afterwards. */
    rf_rc (*migrate)(rf_store *st, void *conn, int *version, rf_err *err);
    void (*close)(rf_store *st); /* frees st->impl; the pool is already empty */
    rf_rc (*conn_open)(rf_store *st, void **conn, rf_err *err);
    void (*conn_close)(void *conn);
    int (*conn_reusable)(void *conn); /* 1: healthy and outside any transaction */
    rf_rc (*begin)(rf_store_tx *tx, rf_err *err);
    rf_rc (*commit)(rf_store_tx *tx, rf_err *err); /* rolls back when COMMIT fails */
    void (*rollback)(rf_store_tx *tx);
    rf_rc (*leader_try)(rf_store *st, int *leader, rf_err *err);
    void (*leader_release)(rf_store *st);

    rf_rc (*tenant_create)(rf_store_tx *tx, const char *name, int internal, int64_t now,
                           int64_t *id, rf_err *err);
    /* By name when name != NULL, else by id. */
    rf_rc (*tenant_get)(rf_store_tx *tx, const char *name, int64_t id, rf_store_tenant *out,
                        rf_err *err);
    rf_rc (*tenant_list)(rf_store_tx *tx, rf_store_tenant **out, size_t *n, rf_err *err);
    rf_rc (*token_create)(rf_store_tx *tx, const rf_store_token *t, int64_t *id, rf_err *err);
    rf_rc (*token_revoke)(rf_store_tx *tx, int64_t id, rf_err *err);
    rf_rc (*token_list)(rf_store_tx *tx, int64_t tenant_id, rf_store_token **out, size_t *n,
                        rf_err *err);
    rf_rc (*token_by_hash)(rf_store_tx *tx, const uint8_t hash[32], rf_store_token *out,
                           rf_err *err);
    rf_rc (*host_create)(rf_store_tx *tx, const rf_store_host *h, int64_t *id, rf_err *err);
    rf_rc (*host_get)(rf_store_tx *tx, int64_t id, rf_store_host *out, rf_err *err);
    /* max_id is never 0 here: store.c passes INT64_MAX for "all". */
    rf_rc (*host_seen_since)(rf_store_tx *tx, int64_t since, rf_store_host **out, size_t *n,
                             rf_err *err);
    rf_rc (*host_list)(rf_store_tx *tx, int64_t max_id, rf_store_host **out, size_t *n,
                       rf_err *err);
    rf_rc (*host_seen)(rf_store_tx *tx, const int64_t *ids, const int64_t *times, size_t n,
                       rf_err *err);
    rf_rc (*policy_put)(rf_store_tx *tx, const rf_store_policy *p, rf_err *err);
    rf_rc (*policy_get)(rf_store_tx *tx, int64_t tenant_id, const char *group,
                        uint32_t channel, rf_store_policy *out, rf_err *err);
    rf_rc (*policy_list)(rf_store_tx *tx, uint32_t channel, rf_store_policy **out, size_t *n,
                         rf_err *err);
    rf_rc (*release_create)(rf_store_tx *tx, const rf_store_release *r, int64_t *id,
                            rf_err *err);
    rf_rc (*release_get)(rf_store_tx *tx, int64_t id, int with_blobs, rf_store_release *out,
                         rf_err *err);
    rf_rc (*release_approve)(rf_store_tx *tx, int64_t id, const char *approver, int64_t now,
                             const char *target, rf_err *err);
    rf_rc (*release_list)(rf_store_tx *tx, uint32_t channel, rf_store_release **out,
                          size_t *n, rf_err *err);
    rf_rc (*rollout_create)(rf_store_tx *tx, const rf_store_rollout *r, int64_t *id,
                            rf_err *err);
    rf_rc (*rollout_get)(rf_store_tx *tx, int64_t id, rf_store_rollout *out, rf_err *err);
    rf_rc (*rollout_set_state)(rf_store_tx *tx, int64_t id, const char *state, int64_t now,
                               rf_err *err);
    rf_rc (*rollout_list)(rf_store_tx *tx, const char *state, rf_store_rollout **out,
                          size_t *n, rf_err *err);
    /* Add count to the rollout's log counter under its row lock; *last gets
     * the new value (the seq of the last of the count entries).
     * RF_E_NOTFOUND when there is no such rollout. */
    rf_rc (*log_reserve)(rf_store_tx *tx, int64_t rollout_id, int64_t count, int64_t *last,
                         rf_err *err);
    /* Insert entries with the given seqs (e[i].seq is ignored). */
    rf_rc (*log_insert)(rf_store_tx *tx, const rf_store_log *e, const int64_t *seq, size_t n,
                        rf_err *err);
    /* limit is never 0 here: store.c passes SIZE_MAX for "no limit". */
    rf_rc (*log_read)(rf_store_tx *tx, int64_t rollout_id, int64_t after, int kinds_min,
                      size_t limit, rf_store_log **out, size_t *n, rf_err *err);
    rf_rc (*inbox_put)(rf_store_tx *tx, const rf_store_inbox *e, size_t n, rf_err *err);
    /* Rows in any order; store.c sorts them by id. limit as for log_read. */
    rf_rc (*inbox_take)(rf_store_tx *tx, size_t limit, rfstore_inbox_row **out, size_t *n,
                        rf_err *err);
    /* Take the audit lock (held to the end of the transaction), then the
     * last entry's seq and hash: 0 and 64 zeros when the log is empty. */
    rf_rc (*audit_last)(rf_store_tx *tx, int64_t *seq, char hash[65], rf_err *err);
    rf_rc (*audit_insert)(rf_store_tx *tx, const rf_store_audit *a, rf_err *err);
    rf_rc (*audit_read)(rf_store_tx *tx, int64_t after, size_t limit, rf_store_audit **out,
                        size_t *n, rf_err *err);
};

extern const rfstore_ops rfstore_sqlite_ops;
extern const rfstore_ops rfstore_pg_ops;

/* The migrations (migrations.c): entry i takes a database from version i
 * to i + 1. Each array has RF_STORE_SCHEMA_VERSION entries. */
extern const char *const rfstore_sqlite_migrations[RF_STORE_SCHEMA_VERSION];
extern const char *const rfstore_pg_migrations[RF_STORE_SCHEMA_VERSION];

/* The advisory lock keys of PostgreSQL ("rf" and a number). */
#define RFSTORE_PG_LOCK_LEADER 0x72660001
#define RFSTORE_PG_LOCK_AUDIT 0x72660002
#define RFSTORE_PG_LOCK_MIGRATE 0x72660003

/* The hash of an entry into out; RF_E_NOMEM when the text to hash could not
 * be put together. rf_store_audit_hash is this without the result. */
rf_rc rfstore_audit_hash(const rf_store_audit *a, char out[65]);

/* Record a database failure: marks the transaction (when not NULL) as
 * failed and fills err. Returns rc. */
rf_rc rfstore_db_error(rf_store_tx *tx, rf_err *err, rf_rc rc, const char *fmt, ...)
    RF_PRINTF(4, 5);

/* Grow *arr (of elem-sized entries, *cap of them) to hold one more than
 * `len`. RF_E_NOMEM leaves *arr as it was. */
rf_rc rfstore_grow(void **arr, size_t *cap, size_t len, size_t elem);

/* Element cleanup for a result list that fails half-way (the members a row
 * owns), shared by the backends; and one audit entry's members. */
void rfstore_clear_release(void *p);
void rfstore_clear_rollout(void *p);
void rfstore_clear_log(void *p);
void rfstore_clear_audit(void *p);
void rfstore_audit_clear(rf_store_audit *a);

#endif
