/*
 * store.c — the part of the store (store.h) that is the same for every
 * backend: the URL picks the backend, the connection pool hands out one
 * connection per transaction, every argument is checked here once (so the
 * backends see only well-formed calls), log seqs are assigned per rollout,
 * and the audit chain is hashed and verified. The SQL lives in sqlite.c
 * and pg.c, the schema in migrations.c.
 *
 * A transaction in which a database call failed is marked failed: later
 * calls in it are refused and commit rolls it back. Both backends behave
 * the same way here, though SQLite alone could carry on after some errors;
 * PostgreSQL aborts the transaction at the first one.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringfence/util.h"
#include "store/store_int.h"

#define DEFAULT_POOL 4u
/* Entries read per page by rf_store_audit_verify: bounds its memory, not
 * the length of the chain it walks. */
#define VERIFY_PAGE 512u

#define FIXED_OK(arr) (memchr((arr), '\0', sizeof(arr)) != NULL)

static rf_rc usage(rf_err *err, const char *fn, const char *what)
{
    rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "%s: %s", fn, what);
    return RF_E_USAGE;
}

static rf_rc oom(rf_err *err)
{
    rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    return RF_E_NOMEM;
}

rf_rc rfstore_db_error(rf_store_tx *tx, rf_err *err, rf_rc rc, const char *fmt, ...)
{
    if (tx)
        tx->failed = 1;
    if (!err)
        return rc;
    char msg[RF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Database messages may span lines (libpq: "...failed: ...\n\tIs the
     * server running...?\n"); the record is one line. */
    size_t n = 0;
    for (const char *q = msg; *q; q++) {
        char c = (*q == '\n' || *q == '\t' || *q == '\r') ? ' ' : *q;
        if (c == ' ' && (n == 0 || msg[n - 1] == ' '))
            continue;
        msg[n++] = c;
    }
    while (n > 0 && msg[n - 1] == ' ')
        n--;
    msg[n] = '\0';
    return rf_err_set(err, rc, NULL, 0, 0, "%s", msg);
}

rf_rc rfstore_grow(void **arr, size_t *cap, size_t len, size_t elem)
{
    if (len < *cap)
        return RF_OK;
    size_t ncap = *cap ? *cap * 2 : 16;
    if (ncap < *cap || ncap > SIZE_MAX / elem)
        return RF_E_NOMEM;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return RF_E_NOMEM;
    *arr = p;
    *cap = ncap;
    return RF_OK;
}

/* Refuse a call on a missing, failed or (for a change) read-only
 * transaction. */
static rf_rc tx_ready(rf_store_tx *tx, int write, const char *fn, rf_err *err)
{
    if (!tx)
        return usage(err, fn, "no transaction");
    if (tx->failed)
        return rf_err_set(err, RF_E_IO, NULL, 0, 0,
                          "%s: an earlier call in this transaction failed; roll it back", fn);
    if (write && !tx->write)
        return usage(err, fn, "a change needs a write transaction (rf_store_begin write=1)");
    return RF_OK;
}

/* ---- the pool -------------------------------------------------------------- */

static rf_rc pool_init(rfstore_pool *p, unsigned max)
{
    memset(p, 0, sizeof(*p));
    p->idle = calloc(max, sizeof(*p->idle));
    if (!p->idle)
        return RF_E_NOMEM;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        goto out_free;
    if (pthread_cond_init(&p->cv, NULL) != 0)
        goto out_mutex;
    p->max = max;
    return RF_OK;

out_mutex:
    pthread_mutex_destroy(&p->mu);
out_free:
    free(p->idle);
    p->idle = NULL;
    return RF_E_NOMEM;
}

/* An idle connection, or NULL with a slot reserved for the caller to open
 * one (and give back, or give NULL to free the slot). Blocks while every
 * slot is in use. */
static void *pool_take(rfstore_pool *p)
{
    void *c = NULL;
    pthread_mutex_lock(&p->mu);
    while (p->nidle == 0 && p->nopen >= p->max)
        pthread_cond_wait(&p->cv, &p->mu);
    if (p->nidle > 0)
        c = p->idle[--p->nidle];
    else
        p->nopen++;
    pthread_mutex_unlock(&p->mu);
    return c;
}

static void pool_give(rfstore_pool *p, void *c)
{
    pthread_mutex_lock(&p->mu);
    if (c)
        p->idle[p->nidle++] = c;
    else
        p->nopen--;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Back to the pool if fit for another transaction, else closed. */
static void conn_release(rf_store *st, void *c)
{
    if (st->ops->conn_reusable(c)) {
        pool_give(&st->pool, c);
    } else {
        st->ops->conn_close(c);
        pool_give(&st->pool, NULL);
    }
}

static void pool_destroy(rf_store *st)
{
    rfstore_pool *p = &st->pool;
    if (!p->idle)
        return;
    for (unsigned i = 0; i < p->nidle; i++)
        st->ops->conn_close(p->idle[i]);
    free(p->idle);
    p->idle = NULL;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

/* ---- open, close ------------------------------------------------------------ */

rf_rc rf_store_open(const char *url, unsigned pool, int exclusive, rf_store **out, rf_err *err)
{
    if (!url || !out)
        return usage(err, __func__, "url and out are required");
    rf_store *st = calloc(1, sizeof(*st));
    if (!st)
        return oom(err);
    const char *target = url;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
        st->ops = &rfstore_pg_ops;
    } else {
        st->ops = &rfstore_sqlite_ops;
        if (strncmp(url, "sqlite:", 7) == 0)
            target = url + 7;
    }
    if (pool == 0)
        pool = DEFAULT_POOL;

    rf_rc rc = st->ops->open(st, target, exclusive, &pool, err);
    if (rc != RF_OK)
        goto out_free;
    if (pool_init(&st->pool, pool) != RF_OK) {
        rc = oom(err);
        goto out_backend;
    }
    void *c = pool_take(&st->pool);
    rc = st->ops->conn_open(st, &c, err);
    if (rc != RF_OK) {
        pool_give(&st->pool, NULL);
        goto out_pool;
    }
    rc = st->ops->migrate(st, c, &st->schema_version, err);
    conn_release(st, c);
    if (rc != RF_OK)
        goto out_pool;
    *out = st;
    return RF_OK;

out_pool:
    pool_destroy(st);
out_backend:
    st->ops->close(st);
out_free:
    free(st);
    return rc;
}

void rf_store_close(rf_store *st)
{
    if (!st)
        return;
    pool_destroy(st);
    st->ops->close(st);
    free(st);
}

rf_store_backend rf_store_backend_of(const rf_store *st)
{
    return st ? st->ops->backend : RF_STORE_SQLITE;
}

int rf_store_schema_version(rf_store *st)
{
    return st ? st->schema_version : 0;
}

/* ---- transactions ------------------------------------------------------------ */

static void tx_end(rf_store_tx *tx)
{
    conn_release(tx->st, tx->conn);
    free(tx);
}

rf_rc rf_store_begin(rf_store *st, int write, rf_store_tx **out, rf_err *err)
{
    if (!st || !out)
        return usage(err, __func__, "store and out are required");
    rf_store_tx *tx = calloc(1, sizeof(*tx));
    if (!tx)
        return oom(err);
    tx->st = st;
    tx->write = write != 0;
    for (int attempt = 0;; attempt++) {
        void *c = pool_take(&st->pool);
        int fresh = c == NULL;
        if (fresh) {
            rf_rc rc = st->ops->conn_open(st, &c, err);
            if (rc != RF_OK) {
                pool_give(&st->pool, NULL);
                free(tx);
                return rc;
            }
        }
        tx->conn = c;
        tx->failed = 0;
        rf_rc rc = st->ops->begin(tx, err);
        if (rc == RF_OK) {
            *out = tx;
            return RF_OK;
        }
        int reusable = st->ops->conn_reusable(c);
        conn_release(st, c);
        /* A pooled connection that went bad while idle (the database
         * restarted, say) is replaced once; any other failure is final. */
        if (fresh || reusable || attempt > 0) {
            free(tx);
            return rc;
        }
    }
}

rf_rc rf_store_commit(rf_store_tx *tx, rf_err *err)
{
    if (!tx)
        return usage(err, __func__, "no transaction");
    rf_rc rc;
    if (tx->failed) {
        tx->st->ops->rollback(tx);
        rc = rf_err_set(err, RF_E_IO, NULL, 0, 0,
                        "not committed: an earlier call in this transaction failed");
    } else {
        rc = tx->st->ops->commit(tx, err);
    }
    tx_end(tx);
    return rc;
}

void rf_store_rollback(rf_store_tx *tx)
{
    if (!tx)
        return;
    tx->st->ops->rollback(tx);
    tx_end(tx);
}

/* ---- tenants, tokens, hosts ------------------------------------------------------ */

static int tenant_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= RF_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

rf_rc rf_store_tenant_create(rf_store_tx *tx, const char *name, int internal, int64_t now,
                             int64_t *id, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!name || !id)
        return usage(err, __func__, "name and id are required");
    if (!tenant_name_ok(name))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "tenant name \"%.80s\" is not [a-z0-9_-]{1,63}", name);
    return tx->st->ops->tenant_create(tx, name, internal != 0, now, id, err);
}

rf_rc rf_store_tenant_get(rf_store_tx *tx, const char *name, rf_store_tenant *out, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!name || !out)
        return usage(err, __func__, "name and out are required");
    return tx->st->ops->tenant_get(tx, name, 0, out, err);
}

rf_rc rf_store_tenant_by_id(rf_store_tx *tx, int64_t id, rf_store_tenant *out, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out)
        return usage(err, __func__, "out is required");
    return tx->st->ops->tenant_get(tx, NULL, id, out, err);
}

rf_rc rf_store_tenant_list(rf_store_tx *tx, rf_store_tenant **out, size_t *n, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out || !n)
        return usage(err, __func__, "out and n are required");
    return tx->st->ops->tenant_list(tx, out, n, err);
}

rf_rc rf_store_token_create(rf_store_tx *tx, const rf_store_token *t, int64_t *id, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!t || !id)
        return usage(err, __func__, "token and id are required");
    if (!FIXED_OK(t->role) || !t->role[0] || !FIXED_OK(t->name) || !t->name[0])
        return usage(err, __func__, "role and name must be non-empty terminated strings");
    if (t->tenant_id < 0 || t->host_id < 0)
        return usage(err, __func__, "tenant_id and host_id are ids or 0");
    return tx->st->ops->token_create(tx, t, id, err);
}

rf_rc rf_store_token_revoke(rf_store_tx *tx, int64_t id, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (id <= 0)
        return usage(err, __func__, "a token id is required");
    return tx->st->ops->token_revoke(tx, id, err);
}

rf_rc rf_store_token_list(rf_store_tx *tx, int64_t tenant_id, rf_store_token **out, size_t *n,
                          rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out || !n)
        return usage(err, __func__, "out and n are required");
    return tx->st->ops->token_list(tx, tenant_id, out, n, err);
}

rf_rc rf_store_token_by_hash(rf_store_tx *tx, const uint8_t hash[32], rf_store_token *out,
                             rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!hash || !out)
        return usage(err, __func__, "hash and out are required");
    return tx->st->ops->token_by_hash(tx, hash, out, err);
}

rf_rc rf_store_host_create(rf_store_tx *tx, const rf_store_host *h, int64_t *id, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!h || !id)
        return usage(err, __func__, "host and id are required");
    if (!FIXED_OK(h->group) || !FIXED_OK(h->hostname) || !FIXED_OK(h->sensor_version))
        return usage(err, __func__, "group, hostname and sensor_version must be terminated");
    return tx->st->ops->host_create(tx, h, id, err);
}

rf_rc rf_store_host_get(rf_store_tx *tx, int64_t id, rf_store_host *out, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out)
        return usage(err, __func__, "out is required");
    return tx->st->ops->host_get(tx, id, out, err);
}

rf_rc rf_store_host_seen_since(rf_store_tx *tx, int64_t since, rf_store_host **out, size_t *n,
                               rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out || !n)
        return usage(err, __func__, "out and n are required");
    return tx->st->ops->host_seen_since(tx, since, out, n, err);
}

rf_rc rf_store_host_list(rf_store_tx *tx, int64_t max_id, rf_store_host **out, size_t *n,
                         rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out || !n)
        return usage(err, __func__, "out and n are required");
    return tx->st->ops->host_list(tx, max_id == 0 ? INT64_MAX : max_id, out, n, err);
}

rf_rc rf_store_host_seen(rf_store_tx *tx, const int64_t *ids, const int64_t *times, size_t n,
                         rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (n == 0)
        return RF_OK;
    if (!ids || !times)
        return usage(err, __func__, "ids and times are required");
    return tx->st->ops->host_seen(tx, ids, times, n, err);
}

/* ---- policies ---------------------------------------------------------------------- */

rf_rc rf_store_policy_put(rf_store_tx *tx, const rf_store_policy *p, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!p)
        return usage(err, __func__, "policy is required");
    if (!FIXED_OK(p->group) || !p->group[0] || !FIXED_OK(p->mode) || !p->mode[0])
        return usage(err, __func__, "group and mode must be non-empty terminated strings");
    return tx->st->ops->policy_put(tx, p, err);
}

rf_rc rf_store_policy_get(rf_store_tx *tx, int64_t tenant_id, const char *group,
                          uint32_t channel, rf_store_policy *out, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!group || !out)
        return usage(err, __func__, "group and out are required");
    if (strlen(group) >= RF_NAME_MAX)
        return rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0, "no policy for group \"%.64s...\"",
                          group);
    return tx->st->ops->policy_get(tx, tenant_id, group, channel, out, err);
}

rf_rc rf_store_policy_list(rf_store_tx *tx, uint32_t channel, rf_store_policy **out, size_t *n,
                           rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out || !n)
        return usage(err, __func__, "out and n are required");
    return tx->st->ops->policy_list(tx, channel, out, n, err);
}

/* ---- releases ------------------------------------------------------------------------ */

void rf_store_release_free(rf_store_release *r)
{
    if (!r)
        return;
    free(r->channel_file);
    free(r->manifests);
    free(r->report);
    r->channel_file = NULL;
    r->channel_len = 0;
    r->manifests = NULL;
    r->report = NULL;
}

rf_rc rf_store_release_create(rf_store_tx *tx, const rf_store_release *r, int64_t *id,
                              rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!r || !id)
        return usage(err, __func__, "release and id are required");
    if (!FIXED_OK(r->template_type) || !FIXED_OK(r->sha256) || !FIXED_OK(r->state) ||
        !r->state[0] || !FIXED_OK(r->author) || !FIXED_OK(r->approver) || !FIXED_OK(r->target))
        return usage(err, __func__, "a string field is not terminated (or state is empty)");
    if (!r->channel_file && r->channel_len > 0)
        return usage(err, __func__, "channel_len without channel_file");
    /* Both databases take a blob's length as an int. */
    if (r->channel_len > (size_t)INT32_MAX)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0, "channel file of %zu bytes is too large",
                          r->channel_len);
    return tx->st->ops->release_create(tx, r, id, err);
}

rf_rc rf_store_release_get(rf_store_tx *tx, int64_t id, int with_blobs, rf_store_release *out,
                           rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out)
        return usage(err, __func__, "out is required");
    return tx->st->ops->release_get(tx, id, with_blobs != 0, out, err);
}

rf_rc rf_store_release_approve(rf_store_tx *tx, int64_t id, const char *approver, int64_t now,
                               const char *target, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!approver || !target)
        return usage(err, __func__, "approver and target are required");
    if (!approver[0] || strlen(approver) >= RF_NAME_MAX ||
        strlen(target) >= sizeof(((rf_store_release *)0)->target))
        return usage(err, __func__, "approver is empty or too long, or target is too long");
    return tx->st->ops->release_approve(tx, id, approver, now, target, err);
}

rf_rc rf_store_release_list(rf_store_tx *tx, uint32_t channel, rf_store_release **out,
                            size_t *n, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out || !n)
        return usage(err, __func__, "out and n are required");
    return tx->st->ops->release_list(tx, channel, out, n, err);
}

/* ---- rollouts --------------------------------------------------------------------------- */

void rf_store_rollout_free(rf_store_rollout *r)
{
    if (!r)
        return;
    free(r->plan);
    r->plan = NULL;
}

rf_rc rf_store_rollout_create(rf_store_tx *tx, const rf_store_rollout *r, int64_t *id,
                              rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!r || !id)
        return usage(err, __func__, "rollout and id are required");
    if (!FIXED_OK(r->reason) || !FIXED_OK(r->operator_name) || !FIXED_OK(r->state) ||
        !r->state[0])
        return usage(err, __func__, "a string field is not terminated (or state is empty)");
    return tx->st->ops->rollout_create(tx, r, id, err);
}

rf_rc rf_store_rollout_get(rf_store_tx *tx, int64_t id, rf_store_rollout *out, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out)
        return usage(err, __func__, "out is required");
    return tx->st->ops->rollout_get(tx, id, out, err);
}

rf_rc rf_store_rollout_set_state(rf_store_tx *tx, int64_t id, const char *state, int64_t now,
                                 rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!state || !state[0] || strlen(state) >= sizeof(((rf_store_rollout *)0)->state))
        return usage(err, __func__, "state must be a non-empty short string");
    return tx->st->ops->rollout_set_state(tx, id, state, now, err);
}

rf_rc rf_store_rollout_list(rf_store_tx *tx, const char *state, rf_store_rollout **out,
                            size_t *n, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out || !n)
        return usage(err, __func__, "out and n are required");
    return tx->st->ops->rollout_list(tx, state, out, n, err);
}

/* ---- the rollout log -------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Index of v in the sorted, distinct u[0..m). */
static size_t find_i64(const int64_t *u, size_t m, int64_t v)
{
    size_t lo = 0, hi = m;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (u[mid] <= v)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Seqs are reserved per distinct rollout of the batch, in rollout id order
 * (a fixed lock order, so two appenders cannot deadlock), then handed out
 * in entry order. e[i].seq is written only once every entry is in.
 */
rf_rc rf_store_log_append(rf_store_tx *tx, rf_store_log *e, size_t n, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (n == 0)
        return RF_OK;
    if (!e)
        return usage(err, __func__, "entries are required");
    if (n > SIZE_MAX / (2 * sizeof(int64_t)))
        return oom(err);
    for (size_t i = 0; i < n; i++) {
        if (e[i].rollout_id <= 0)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "%s: entry %zu has no rollout id",
                              __func__, i);
        if (!isfinite(e[i].value))
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "%s: entry %zu has a value of %g",
                              __func__, i, e[i].value);
    }
    int64_t *seq = malloc(n * sizeof(*seq));
    int64_t *u = malloc(n * sizeof(*u));
    int64_t *next = NULL;
    if (!seq || !u) {
        rc = oom(err);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        u[i] = e[i].rollout_id;
    qsort(u, n, sizeof(*u), cmp_i64);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || u[m - 1] != u[i])
            u[m++] = u[i];
    next = calloc(m, sizeof(*next));
    if (!next) {
        rc = oom(err);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        next[find_i64(u, m, e[i].rollout_id)]++;
    for (size_t k = 0; k < m; k++) {
        int64_t last;
        rc = tx->st->ops->log_reserve(tx, u[k], next[k], &last, err);
        if (rc != RF_OK)
            goto out;
        next[k] = last - next[k] + 1;
    }
    for (size_t i = 0; i < n; i++)
        seq[i] = next[find_i64(u, m, e[i].rollout_id)]++;
    rc = tx->st->ops->log_insert(tx, e, seq, n, err);
    if (rc == RF_OK)
        for (size_t i = 0; i < n; i++)
            e[i].seq = seq[i];
out:
    free(next);
    free(u);
    free(seq);
    return rc;
}

rf_rc rf_store_rollout_lock(rf_store_tx *tx, int64_t rollout_id, int64_t *last_seq,
                            rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (rollout_id <= 0)
        return usage(err, __func__, "a rollout id is required");
    /* Reserving no seq takes the same row lock an append takes. */
    int64_t last = 0;
    rc = tx->st->ops->log_reserve(tx, rollout_id, 0, &last, err);
    if (rc == RF_OK && last_seq)
        *last_seq = last;
    return rc;
}

rf_rc rf_store_log_read(rf_store_tx *tx, int64_t rollout_id, int64_t after, int kinds_min,
                        size_t limit, rf_store_log **out, size_t *n, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out || !n)
        return usage(err, __func__, "out and n are required");
    return tx->st->ops->log_read(tx, rollout_id, after, kinds_min, limit ? limit : SIZE_MAX, out,
                                 n, err);
}

void rf_store_log_free_array(rf_store_log *e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++)
        free(e[i].detail);
    free(e);
}

/* ---- the report inbox ------------------------------------------------------------------ */

rf_rc rf_store_inbox_put(rf_store_tx *tx, const rf_store_inbox *e, size_t n, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (n == 0)
        return RF_OK;
    if (!e)
        return usage(err, __func__, "entries are required");
    for (size_t i = 0; i < n; i++)
        if (e[i].rollout_id <= 0 || !isfinite(e[i].value))
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "%s: entry %zu has no rollout id or a value of %g", __func__, i,
                              e[i].value);
    return tx->st->ops->inbox_put(tx, e, n, err);
}

static int cmp_inbox_row(const void *a, const void *b)
{
    return cmp_i64(&((const rfstore_inbox_row *)a)->id, &((const rfstore_inbox_row *)b)->id);
}

rf_rc rf_store_inbox_take(rf_store_tx *tx, size_t limit, rf_store_inbox **out, size_t *n,
                          rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out || !n)
        return usage(err, __func__, "out and n are required");
    rfstore_inbox_row *rows = NULL;
    size_t k = 0;
    rc = tx->st->ops->inbox_take(tx, limit ? limit : SIZE_MAX, &rows, &k, err);
    if (rc != RF_OK)
        return rc;
    rf_store_inbox *e = NULL;
    if (k > 0) {
        e = malloc(k * sizeof(*e));
        if (!e) {
            free(rows);
            /* The rows are deleted in this transaction: it must not commit. */
            return rfstore_db_error(tx, err, RF_E_NOMEM, "out of memory");
        }
        qsort(rows, k, sizeof(*rows), cmp_inbox_row);
        for (size_t i = 0; i < k; i++)
            e[i] = rows[i].e;
    }
    free(rows);
    *out = e;
    *n = k;
    return RF_OK;
}

/* ---- audit --------------------------------------------------------------------------------- */

void rfstore_audit_clear(rf_store_audit *a)
{
    free(a->actor);
    free(a->action);
    free(a->object);
    free(a->detail);
    memset(a, 0, sizeof(*a));
}

void rfstore_clear_release(void *p)
{
    rf_store_release_free(p);
}

void rfstore_clear_rollout(void *p)
{
    rf_store_rollout_free(p);
}

void rfstore_clear_log(void *p)
{
    free(((rf_store_log *)p)->detail);
}

void rfstore_clear_audit(void *p)
{
    rfstore_audit_clear(p);
}

void rf_store_audit_free_array(rf_store_audit *a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        rfstore_audit_clear(&a[i]);
    free(a);
}

static void buf_str(rf_buf *b, const char *s)
{
    if (s)
        rf_buf_append(b, s, strlen(s));
}

rf_rc rfstore_audit_hash(const rf_store_audit *a, char out[65])
{
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_append(&b, a->prev, strnlen(a->prev, sizeof(a->prev)));
    rf_buf_printf(&b, "\n%" PRId64 "\n%" PRId64 "\n", a->seq, a->t);
    buf_str(&b, a->actor);
    rf_buf_append(&b, "\n", 1);
    buf_str(&b, a->action);
    rf_buf_append(&b, "\n", 1);
    buf_str(&b, a->object);
    rf_buf_append(&b, "\n", 1);
    buf_str(&b, a->detail);
    if (b.oom) {
        rf_buf_free(&b);
        out[0] = '\0';
        return RF_E_NOMEM;
    }
    uint8_t d[32];
    rf_sha256(b.data, b.len, d);
    rf_hex(d, sizeof(d), out);
    rf_buf_free(&b);
    return RF_OK;
}

void rf_store_audit_hash(const rf_store_audit *a, char out[65])
{
    if (!out)
        return;
    if (!a || rfstore_audit_hash(a, out) != RF_OK)
        out[0] = '\0'; /* matches no stored hash */
}

rf_rc rf_store_audit_append(rf_store_tx *tx, int64_t t, const char *actor, const char *action,
                            const char *object, const char *detail, int64_t *seq_out,
                            rf_err *err)
{
    rf_rc rc = tx_ready(tx, 1, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!actor || !action || !object)
        return usage(err, __func__, "actor, action and object are required");
    rf_store_audit a = {
        .t = t,
        .actor = (char *)actor,
        .action = (char *)action,
        .object = (char *)object,
        .detail = (char *)(detail ? detail : ""),
    };
    int64_t last;
    rc = tx->st->ops->audit_last(tx, &last, a.prev, err);
    if (rc != RF_OK)
        return rc;
    a.seq = last + 1;
    if (rfstore_audit_hash(&a, a.hash) != RF_OK)
        return oom(err);
    rc = tx->st->ops->audit_insert(tx, &a, err);
    if (rc == RF_OK && seq_out)
        *seq_out = a.seq;
    return rc;
}

rf_rc rf_store_audit_read(rf_store_tx *tx, int64_t after, size_t limit, rf_store_audit **out,
                          size_t *n, rf_err *err)
{
    rf_rc rc = tx_ready(tx, 0, __func__, err);
    if (rc != RF_OK)
        return rc;
    if (!out || !n)
        return usage(err, __func__, "out and n are required");
    return tx->st->ops->audit_read(tx, after, limit ? limit : SIZE_MAX, out, n, err);
}

/* The first fault of entry a, given the previous entry's hash and the seq
 * expected; NULL when it is sound. */
static const char *audit_fault(const rf_store_audit *a, const char *prev, int64_t expect,
                               char *why, size_t whylen)
{
    if (a->seq != expect) {
        snprintf(why, whylen, "entry missing (the next one is seq %" PRId64 ")", a->seq);
        return why;
    }
    if (strcmp(a->prev, prev) != 0)
        return "its prev is not the hash of the entry before";
    char h[65];
    if (rfstore_audit_hash(a, h) != RF_OK)
        return "out of memory while hashing";
    if (strcmp(h, a->hash) != 0)
        return "its hash does not match its fields";
    return NULL;
}

/* One read transaction: SQLite and PostgreSQL (REPEATABLE READ) both give
 * it one snapshot, so appends during the walk are not half seen. */
rf_rc rf_store_audit_verify(rf_store *st, uint64_t *count, rf_err *err)
{
    if (!st || !count)
        return usage(err, __func__, "store and count are required");
    rf_store_tx *tx = NULL;
    rf_rc rc = rf_store_begin(st, 0, &tx, err);
    if (rc != RF_OK)
        return rc;
    char prev[65];
    memset(prev, '0', 64);
    prev[64] = '\0';
    int64_t expect = 1;
    uint64_t total = 0;
    for (;;) {
        rf_store_audit *a = NULL;
        size_t k = 0;
        rc = rf_store_audit_read(tx, expect - 1, VERIFY_PAGE, &a, &k, err);
        if (rc != RF_OK)
            goto out;
        for (size_t i = 0; i < k; i++) {
            char why[96];
            const char *f = audit_fault(&a[i], prev, expect, why, sizeof(why));
            if (f) {
                rc = rf_err_set(err, RF_E_CHECKSUM, NULL, 0, 0,
                                "audit chain broken at seq %" PRId64 ": %s", expect, f);
                rf_store_audit_free_array(a, k);
                goto out;
            }
            memcpy(prev, a[i].hash, sizeof(prev));
            expect++;
            total++;
        }
        rf_store_audit_free_array(a, k);
        if (k < VERIFY_PAGE)
            break;
    }
    *count = total;
out:
    rf_store_rollback(tx);
    return rc;
}

/* ---- leadership ---------------------------------------------------------------------------- */

rf_rc rf_store_leader_try(rf_store *st, int *leader, rf_err *err)
{
    if (!st || !leader)
        return usage(err, __func__, "store and leader are required");
    return st->ops->leader_try(st, leader, err);
}

void rf_store_leader_release(rf_store *st)
{
    if (st)
        st->ops->leader_release(st);
}
