/*
 * sqlite.c — the SQLite backend of the store: one database file in WAL mode
 * (readers never wait for the writer), synchronous=FULL (a committed
 * transaction survives a power cut), foreign keys on, and a five-second
 * busy timeout for the moments two connections want the write lock. Write
 * transactions are BEGIN IMMEDIATE, so they queue for the lock at their
 * start instead of failing half-way when a reader upgrades.
 *
 * Each pooled connection keeps its prepared statements (prepared on first
 * use, reset after each), so the check-in flush — thousands of last-seen
 * updates in one transaction — is a loop of bind, step, reset.
 *
 * One ringfenced per file: an exclusive open holds flock(PATH.lock) for the
 * store's lifetime, and a second exclusive open (from any process) is
 * refused. Tools that only read (audit verify) open without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ringfence/util.h"
#include "store/store_int.h"

/* busy_timeout: how long a connection waits for another's write lock. A
 * check-in flush holds it for milliseconds; five seconds means something
 * is wrong. */
#define BUSY_TIMEOUT_MS 5000

typedef struct sq_store {
    char *path; /* owned */
    int memory; /* ":memory:": one connection (each would be its own database) */
    int lock_fd; /* PATH.lock, held while the store is open; -1 if not exclusive */
} sq_store;

enum {
    SQ_BEGIN,
    SQ_BEGIN_IMMEDIATE,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_TENANT_INS,
    SQ_TENANT_BY_NAME,
    SQ_TENANT_BY_ID,
    SQ_TENANT_LIST,
    SQ_TOKEN_INS,
    SQ_TOKEN_BY_HASH,
    SQ_TOKEN_REVOKE,
    SQ_TOKEN_LIST,
    SQ_HOST_INS,
    SQ_HOST_GET,
    SQ_HOST_LIST,
    SQ_HOST_SEEN_SINCE,
    SQ_HOST_SEEN,
    SQ_POLICY_PUT,
    SQ_POLICY_GET,
    SQ_POLICY_LIST,
    SQ_REL_INS,
    SQ_REL_GET,
    SQ_REL_GET_BLOBS,
    SQ_REL_APPROVE,
    SQ_REL_LIST,
    SQ_RO_INS,
    SQ_RO_GET,
    SQ_RO_STATE,
    SQ_RO_LIST,
    SQ_LOG_RESERVE,
    SQ_LOG_INS,
    SQ_LOG_READ,
    SQ_INBOX_INS,
    SQ_INBOX_TAKE,
    SQ_AUDIT_LAST,
    SQ_AUDIT_INS,
    SQ_AUDIT_READ,
    SQ_N
};

#define TENANT_COLS "id, name, internal, created"
#define TOKEN_COLS "id, hash, role, name, tenant_id, host_id, created, revoked"
#define HOST_COLS "id, tenant_id, grp, hostname, sensor_version, enrolled, last_seen"
#define POLICY_COLS                                                                           \
    "tenant_id, grp, channel, mode, ga_delay_s, pinned_version, emergency_opt_in, updated"
#define REL_COLS                                                                              \
    "id, channel, content_version, template_type, template_version, inputs_required, "       \
    "sha256, state, author, approver, created, approved, target, length(channel_file)"
#define RO_COLS                                                                               \
    "id, release_id, channel, content_version, last_good_version, emergency, reason, "       \
    "operator_name, seed, t0, fleet_max_host, state, plan, updated"
#define LOG_COLS "rollout_id, seq, t, kind, host, treated, value, detail"
#define AUDIT_COLS "seq, t, actor, action, object, detail, prev, hash"

static const char *const sq_sql[SQ_N] = {
    [SQ_BEGIN] = "BEGIN",
    [SQ_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_TENANT_INS] = "INSERT INTO tenants (name, internal, created) VALUES (?, ?, ?) "
                      "ON CONFLICT (name) DO NOTHING RETURNING id",
    [SQ_TENANT_BY_NAME] = "SELECT " TENANT_COLS " FROM tenants WHERE name = ?",
    [SQ_TENANT_BY_ID] = "SELECT " TENANT_COLS " FROM tenants WHERE id = ?",
    [SQ_TENANT_LIST] = "SELECT " TENANT_COLS " FROM tenants ORDER BY id",
    [SQ_TOKEN_INS] = "INSERT INTO tokens (hash, role, name, tenant_id, host_id, created, "
                     "revoked) VALUES (?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (hash) DO NOTHING RETURNING id",
    [SQ_TOKEN_BY_HASH] = "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?",
    [SQ_TOKEN_REVOKE] = "UPDATE tokens SET revoked = 1 WHERE id = ?",
    [SQ_TOKEN_LIST] = "SELECT " TOKEN_COLS " FROM tokens WHERE ?1 < 0 OR "
                      "(?1 = 0 AND tenant_id IS NULL) OR tenant_id = ?1 ORDER BY id",
    [SQ_HOST_INS] = "INSERT INTO hosts (tenant_id, grp, hostname, sensor_version, enrolled, "
                    "last_seen) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    [SQ_HOST_GET] = "SELECT " HOST_COLS " FROM hosts WHERE id = ?",
    [SQ_HOST_LIST] = "SELECT " HOST_COLS " FROM hosts WHERE id <= ? ORDER BY id",
    [SQ_HOST_SEEN_SINCE] = "SELECT " HOST_COLS " FROM hosts WHERE last_seen > ? ORDER BY id",
    [SQ_HOST_SEEN] = "UPDATE hosts SET last_seen = ? WHERE id = ?",
    [SQ_POLICY_PUT] = "INSERT INTO policies (" POLICY_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (tenant_id, grp, channel) DO UPDATE SET "
                      "mode = excluded.mode, ga_delay_s = excluded.ga_delay_s, "
                      "pinned_version = excluded.pinned_version, "
                      "emergency_opt_in = excluded.emergency_opt_in, "
                      "updated = excluded.updated",
    [SQ_POLICY_GET] = "SELECT " POLICY_COLS " FROM policies "
                      "WHERE tenant_id = ? AND grp = ? AND channel = ?",
    [SQ_POLICY_LIST] = "SELECT " POLICY_COLS " FROM policies WHERE channel = ? "
                       "ORDER BY tenant_id, grp",
    [SQ_REL_INS] = "INSERT INTO releases (channel, content_version, template_type, "
                   "template_version, inputs_required, sha256, state, author, approver, "
                   "created, approved, target, channel_file, manifests, report) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (channel, content_version) DO NOTHING RETURNING id",
    [SQ_REL_GET] = "SELECT " REL_COLS " FROM releases WHERE id = ?",
    [SQ_REL_GET_BLOBS] = "SELECT " REL_COLS ", channel_file, manifests, report "
                         "FROM releases WHERE id = ?",
    [SQ_REL_APPROVE] = "UPDATE releases SET state = 'approved', approver = ?, approved = ?, "
                       "target = ? WHERE id = ?",
    [SQ_REL_LIST] = "SELECT " REL_COLS " FROM releases WHERE ?1 = 0 OR channel = ?1 "
                    "ORDER BY id DESC",
    [SQ_RO_INS] = "INSERT INTO rollouts (release_id, channel, content_version, "
                  "last_good_version, emergency, reason, operator_name, seed, t0, "
                  "fleet_max_host, state, plan, updated) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    [SQ_RO_GET] = "SELECT " RO_COLS " FROM rollouts WHERE id = ?",
    [SQ_RO_STATE] = "UPDATE rollouts SET state = ?, updated = ? WHERE id = ?",
    [SQ_RO_LIST] = "SELECT " RO_COLS " FROM rollouts WHERE ?1 IS NULL OR state = ?1 "
                   "ORDER BY id",
    [SQ_LOG_RESERVE] = "UPDATE rollouts SET log_seq = log_seq + ? WHERE id = ? "
                       "RETURNING log_seq",
    [SQ_LOG_INS] = "INSERT INTO rollout_log (" LOG_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [SQ_LOG_READ] = "SELECT " LOG_COLS " FROM rollout_log "
                    "WHERE rollout_id = ? AND seq > ? AND kind >= ? ORDER BY seq LIMIT ?",
    [SQ_INBOX_INS] = "INSERT INTO report_inbox (rollout_id, t, kind, host, treated, value) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
    [SQ_INBOX_TAKE] = "DELETE FROM report_inbox WHERE id IN "
                      "(SELECT id FROM report_inbox ORDER BY id LIMIT ?) "
                      "RETURNING id, rollout_id, t, kind, host, treated, value",
    [SQ_AUDIT_LAST] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
    [SQ_AUDIT_INS] = "INSERT INTO audit (" AUDIT_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    [SQ_AUDIT_READ] = "SELECT " AUDIT_COLS " FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
};

typedef struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ_N]; /* prepared on first use */
} sq_conn;

/* ---- errors, statements, binding --------------------------------------------- */

/* Map a failed SQLite call (extended result codes are on) to a result. */
static rf_rc sq_fail(rf_store_tx *tx, sqlite3 *db, int rc, const char *what, rf_err *err)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return rfstore_db_error(tx, err, RF_E_SCHEMA, "%s: already exists (%s)", what,
                                sqlite3_errmsg(db));
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return rfstore_db_error(tx, err, RF_E_NOTFOUND, "%s: a row it refers to does not exist",
                                what);
    case SQLITE_NOMEM:
        return rfstore_db_error(tx, err, RF_E_NOMEM, "%s: out of memory", what);
    default:
        return rfstore_db_error(tx, err, RF_E_IO, "%s: %s", what, sqlite3_errmsg(db));
    }
}

/* The connection's statement `which`, prepared on first use. */
static rf_rc sq_get(rf_store_tx *tx, int which, sqlite3_stmt **out, rf_err *err)
{
    sq_conn *c = tx->conn;
    *out = NULL;
    if (!c->stmt[which]) {
        int rc = sqlite3_prepare_v3(c->db, sq_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                    &c->stmt[which], NULL);
        if (rc != SQLITE_OK)
            return sq_fail(tx, c->db, rc, "preparing a statement", err);
    }
    *out = c->stmt[which];
    return RF_OK;
}

/* Ready a statement for its next use and drop its (borrowed) bindings. */
static void sq_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Positional binding that stops at the first failure (kept in rc). */
typedef struct sqb {
    sqlite3_stmt *s;
    int i;
    int rc;
} sqb;

static void b_i64(sqb *b, int64_t v)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_int64(b->s, ++b->i, v);
}

static void b_f64(sqb *b, double v)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_double(b->s, ++b->i, v);
}

/* Text that stays valid until sq_done (SQLITE_STATIC); NULL binds NULL. */
static void b_text(sqb *b, const char *v)
{
    if (b->rc == SQLITE_OK)
        b->rc = v ? sqlite3_bind_text(b->s, ++b->i, v, -1, SQLITE_STATIC)
                  : sqlite3_bind_null(b->s, ++b->i);
}

/* A blob, never NULL: zero bytes bind an empty blob. */
static void b_blob(sqb *b, const void *p, size_t n)
{
    if (b->rc != SQLITE_OK)
        return;
    if (n == 0)
        b->rc = sqlite3_bind_zeroblob(b->s, ++b->i, 0);
    else
        b->rc = sqlite3_bind_blob(b->s, ++b->i, p, (int)n, SQLITE_STATIC);
}

/* SIZE_MAX ("no limit") is -1 to SQLite. */
static void b_limit(sqb *b, size_t limit)
{
    b_i64(b, limit > (size_t)INT64_MAX ? -1 : (int64_t)limit);
}

/* Step once: *row 1 (a row) or 0 (done). */
static rf_rc sq_step(rf_store_tx *tx, sqlite3_stmt *s, int *row, const char *what, rf_err *err)
{
    *row = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *row = 1;
        return RF_OK;
    }
    if (rc == SQLITE_DONE) {
        *row = 0;
        return RF_OK;
    }
    return sq_fail(tx, sqlite3_db_handle(s), rc, what, err);
}

/* Bind failures are out of memory or a bug here; either way, an error. */
static rf_rc sq_bound(rf_store_tx *tx, const sqb *b, const char *what, rf_err *err)
{
    if (b->rc == SQLITE_OK)
        return RF_OK;
    return sq_fail(tx, sqlite3_db_handle(b->s), b->rc, what, err);
}

/* Run a statement that returns no rows (or whose rows do not matter). */
static rf_rc sq_run(rf_store_tx *tx, sqlite3_stmt *s, const char *what, rf_err *err)
{
    int row;
    rf_rc rc;
    do
        rc = sq_step(tx, s, &row, what, err);
    while (rc == RF_OK && row);
    return rc;
}

/* ---- reading columns ---------------------------------------------------------- */

/* Text column into a fixed field; too long (a database edited by hand) is
 * RF_E_FORMAT rather than a silent cut. */
static rf_rc col_fixed(sqlite3_stmt *s, int col, char *buf, size_t size, rf_err *err)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (!t) {
        buf[0] = '\0';
        if (sqlite3_column_type(s, col) != SQLITE_NULL)
            return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
        return RF_OK;
    }
    if (n >= size)
        return rf_err_set(err, RF_E_FORMAT, NULL, 0, 0,
                          "stored %s is %zu bytes long, more than its %zu", sqlite3_column_name(s, col),
                          n, size - 1);
    memcpy(buf, t, n);
    buf[n] = '\0';
    return RF_OK;
}

/* Text column as a malloc'd string (caller frees); NULL stays NULL. */
static rf_rc col_dup(sqlite3_stmt *s, int col, char **out, rf_err *err)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    if (!t) {
        *out = NULL;
        if (sqlite3_column_type(s, col) != SQLITE_NULL)
            return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
        return RF_OK;
    }
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    *out = rf_strndup((const char *)t, n);
    if (!*out)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    return RF_OK;
}

static int64_t col_i64(sqlite3_stmt *s, int col)
{
    return sqlite3_column_int64(s, col);
}

/* ---- row readers: one per table, shared by its get and list ---------------------- */

typedef rf_rc (*sq_row_fn)(sqlite3_stmt *s, void *dst, rf_err *err);

static rf_rc row_tenant(sqlite3_stmt *s, void *dst, rf_err *err)
{
    rf_store_tenant *t = dst;
    memset(t, 0, sizeof(*t));
    t->id = col_i64(s, 0);
    t->internal = col_i64(s, 2) != 0;
    t->created = col_i64(s, 3);
    return col_fixed(s, 1, t->name, sizeof(t->name), err);
}

static rf_rc row_token(sqlite3_stmt *s, void *dst, rf_err *err)
{
    rf_store_token *t = dst;
    memset(t, 0, sizeof(*t));
    t->id = col_i64(s, 0);
    const void *h = sqlite3_column_blob(s, 1);
    if (!h || sqlite3_column_bytes(s, 1) != 32)
        return rf_err_set(err, RF_E_FORMAT, NULL, 0, 0, "stored token %" PRId64
                          " has a hash that is not 32 bytes", t->id);
    memcpy(t->hash, h, 32);
    t->tenant_id = col_i64(s, 4);
    t->host_id = col_i64(s, 5);
    t->created = col_i64(s, 6);
    t->revoked = col_i64(s, 7) != 0;
    rf_rc rc = col_fixed(s, 2, t->role, sizeof(t->role), err);
    return rc != RF_OK ? rc : col_fixed(s, 3, t->name, sizeof(t->name), err);
}

static rf_rc row_host(sqlite3_stmt *s, void *dst, rf_err *err)
{
    rf_store_host *h = dst;
    memset(h, 0, sizeof(*h));
    h->id = col_i64(s, 0);
    h->tenant_id = col_i64(s, 1);
    h->enrolled = col_i64(s, 5);
    h->last_seen = col_i64(s, 6);
    rf_rc rc = col_fixed(s, 2, h->group, sizeof(h->group), err);
    if (rc == RF_OK)
        rc = col_fixed(s, 3, h->hostname, sizeof(h->hostname), err);
    if (rc == RF_OK)
        rc = col_fixed(s, 4, h->sensor_version, sizeof(h->sensor_version), err);
    return rc;
}

static rf_rc row_policy(sqlite3_stmt *s, void *dst, rf_err *err)
{
    rf_store_policy *p = dst;
    memset(p, 0, sizeof(*p));
    p->tenant_id = col_i64(s, 0);
    p->channel = (uint32_t)col_i64(s, 2);
    p->ga_delay_s = (uint32_t)col_i64(s, 4);
    p->pinned_version = (uint64_t)col_i64(s, 5);
    p->emergency_opt_in = col_i64(s, 6) != 0;
    p->updated = col_i64(s, 7);
    rf_rc rc = col_fixed(s, 1, p->group, sizeof(p->group), err);
    return rc != RF_OK ? rc : col_fixed(s, 3, p->mode, sizeof(p->mode), err);
}

/* REL_COLS; with_blobs: also the three columns after them. */
static rf_rc row_release_any(sqlite3_stmt *s, rf_store_release *r, int with_blobs, rf_err *err)
{
    memset(r, 0, sizeof(*r));
    r->id = col_i64(s, 0);
    r->channel = (uint32_t)col_i64(s, 1);
    r->content_version = (uint64_t)col_i64(s, 2);
    r->template_version = (uint32_t)col_i64(s, 4);
    r->inputs_required = (uint32_t)col_i64(s, 5);
    r->created = col_i64(s, 10);
    r->approved = col_i64(s, 11);
    r->channel_len = (size_t)col_i64(s, 13);
    rf_rc rc = col_fixed(s, 3, r->template_type, sizeof(r->template_type), err);
    if (rc == RF_OK)
        rc = col_fixed(s, 6, r->sha256, sizeof(r->sha256), err);
    if (rc == RF_OK)
        rc = col_fixed(s, 7, r->state, sizeof(r->state), err);
    if (rc == RF_OK)
        rc = col_fixed(s, 8, r->author, sizeof(r->author), err);
    if (rc == RF_OK)
        rc = col_fixed(s, 9, r->approver, sizeof(r->approver), err);
    if (rc == RF_OK)
        rc = col_fixed(s, 12, r->target, sizeof(r->target), err);
    if (rc != RF_OK || !with_blobs)
        return rc;

    const void *blob = sqlite3_column_blob(s, 14);
    size_t n = (size_t)sqlite3_column_bytes(s, 14);
    /* Never NULL once loaded, even for an empty file. */
    r->channel_file = malloc(n ? n : 1);
    if (!r->channel_file)
        goto out_nomem;
    if (n)
        memcpy(r->channel_file, blob, n);
    r->channel_len = n;
    rc = col_dup(s, 15, &r->manifests, err);
    if (rc == RF_OK)
        rc = col_dup(s, 16, &r->report, err);
    if (rc != RF_OK)
        rf_store_release_free(r);
    return rc;

out_nomem:
    return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
}

static rf_rc row_release(sqlite3_stmt *s, void *dst, rf_err *err)
{
    return row_release_any(s, dst, 0, err);
}

static rf_rc row_release_blobs(sqlite3_stmt *s, void *dst, rf_err *err)
{
    return row_release_any(s, dst, 1, err);
}

static rf_rc row_rollout(sqlite3_stmt *s, void *dst, rf_err *err)
{
    rf_store_rollout *r = dst;
    memset(r, 0, sizeof(*r));
    r->id = col_i64(s, 0);
    r->release_id = col_i64(s, 1);
    r->channel = (uint32_t)col_i64(s, 2);
    r->content_version = (uint64_t)col_i64(s, 3);
    r->last_good_version = (uint64_t)col_i64(s, 4);
    r->emergency = col_i64(s, 5) != 0;
    r->seed = (uint64_t)col_i64(s, 8);
    r->t0 = col_i64(s, 9);
    r->fleet_max_host = col_i64(s, 10);
    r->updated = col_i64(s, 13);
    rf_rc rc = col_fixed(s, 6, r->reason, sizeof(r->reason), err);
    if (rc == RF_OK)
        rc = col_fixed(s, 7, r->operator_name, sizeof(r->operator_name), err);
    if (rc == RF_OK)
        rc = col_fixed(s, 11, r->state, sizeof(r->state), err);
    if (rc == RF_OK)
        rc = col_dup(s, 12, &r->plan, err);
    return rc;
}

static rf_rc row_log(sqlite3_stmt *s, void *dst, rf_err *err)
{
    rf_store_log *e = dst;
    memset(e, 0, sizeof(*e));
    e->rollout_id = col_i64(s, 0);
    e->seq = col_i64(s, 1);
    e->t = col_i64(s, 2);
    e->kind = (int)col_i64(s, 3);
    e->host = col_i64(s, 4);
    e->treated = col_i64(s, 5) != 0;
    e->value = sqlite3_column_double(s, 6);
    return col_dup(s, 7, &e->detail, err);
}

static rf_rc row_inbox(sqlite3_stmt *s, void *dst, rf_err *err)
{
    (void)err;
    rfstore_inbox_row *r = dst;
    memset(r, 0, sizeof(*r));
    r->id = col_i64(s, 0);
    r->e.rollout_id = col_i64(s, 1);
    r->e.t = col_i64(s, 2);
    r->e.kind = (int)col_i64(s, 3);
    r->e.host = col_i64(s, 4);
    r->e.treated = col_i64(s, 5) != 0;
    r->e.value = sqlite3_column_double(s, 6);
    return RF_OK;
}


static rf_rc row_audit(sqlite3_stmt *s, void *dst, rf_err *err)
{
    rf_store_audit *a = dst;
    memset(a, 0, sizeof(*a));
    a->seq = col_i64(s, 0);
    a->t = col_i64(s, 1);
    rf_rc rc = col_dup(s, 2, &a->actor, err);
    if (rc == RF_OK)
        rc = col_dup(s, 3, &a->action, err);
    if (rc == RF_OK)
        rc = col_dup(s, 4, &a->object, err);
    if (rc == RF_OK)
        rc = col_dup(s, 5, &a->detail, err);
    if (rc == RF_OK)
        rc = col_fixed(s, 6, a->prev, sizeof(a->prev), err);
    if (rc == RF_OK)
        rc = col_fixed(s, 7, a->hash, sizeof(a->hash), err);
    if (rc != RF_OK)
        rfstore_audit_clear(a);
    return rc;
}


/* The one row of a bound statement into *dst; RF_E_NOTFOUND (err not
 * filled: the caller names the thing) when there is none. Resets s. */
static rf_rc sq_one(rf_store_tx *tx, sqlite3_stmt *s, sq_row_fn fn, void *dst,
                    const char *what, rf_err *err)
{
    int row;
    rf_rc rc = sq_step(tx, s, &row, what, err);
    if (rc == RF_OK)
        rc = row ? fn(s, dst, err) : RF_E_NOTFOUND;
    sq_done(s);
    return rc;
}

/* Every row of a bound statement into a malloc'd array (caller frees; NULL
 * when empty). clear (may be NULL) frees a row's members on failure. Resets
 * s. */
static rf_rc sq_list(rf_store_tx *tx, sqlite3_stmt *s, sq_row_fn fn, void (*clear)(void *),
                     size_t elem, void **out, size_t *n, const char *what, rf_err *err)
{
    void *arr = NULL;
    size_t len = 0, cap = 0;
    rf_rc rc;
    for (;;) {
        int row;
        rc = sq_step(tx, s, &row, what, err);
        if (rc != RF_OK || !row)
            break;
        if (rfstore_grow(&arr, &cap, len, elem) != RF_OK) {
            rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        rc = fn(s, (char *)arr + len * elem, err);
        if (rc != RF_OK)
            break;
        len++;
    }
    sq_done(s);
    if (rc != RF_OK) {
        for (size_t i = 0; clear && i < len; i++)
            clear((char *)arr + i * elem);
        free(arr);
        return rc;
    }
    *out = arr;
    *n = len;
    return RF_OK;
}

/* ---- store, connections, transactions ------------------------------------------ */

static rf_rc sq_open(rf_store *st, const char *target, int exclusive, unsigned *pool,
                     rf_err *err)
{
    if (!*target)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "no SQLite database path");
    if (!sqlite3_threadsafe())
        return rf_err_set(err, RF_E_UNSUPPORTED, NULL, 0, 0,
                          "this SQLite library is built without thread support");
    rf_rc rc = RF_E_NOMEM;
    char *lock = NULL;
    sq_store *ss = calloc(1, sizeof(*ss));
    if (!ss)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    ss->lock_fd = -1;
    ss->path = rf_strdup(target);
    if (!ss->path)
        goto out_nomem;
    ss->memory = strcmp(target, ":memory:") == 0;
    if (ss->memory) {
        *pool = 1;
    } else if (exclusive) {
        size_t n = strlen(target) + sizeof(".lock");
        lock = malloc(n);
        if (!lock)
            goto out_nomem;
        snprintf(lock, n, "%s.lock", target);
        ss->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (ss->lock_fd < 0) {
            rc = rf_err_set(err, RF_E_IO, lock, 0, 0, "cannot open the lock file: %s",
                            strerror(errno));
            goto out_free;
        }
        if (flock(ss->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            if (errno == EWOULDBLOCK)
                rc = rf_err_set(err, RF_E_IO, target, 0, 0,
                                "the database is in use by another server (%s is locked); "
                                "one server per SQLite file",
                                lock);
            else
                rc = rf_err_set(err, RF_E_IO, lock, 0, 0, "cannot lock: %s", strerror(errno));
            goto out_free;
        }
        free(lock);
    }
    st->impl = ss;
    return RF_OK;

out_nomem:
    rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
out_free:
    free(lock);
    if (ss->lock_fd >= 0)
        close(ss->lock_fd);
    free(ss->path);
    free(ss);
    return rc;
}

static void sq_close(rf_store *st)
{
    sq_store *ss = st->impl;
    if (!ss)
        return;
    if (ss->lock_fd >= 0)
        close(ss->lock_fd); /* releases the flock */
    free(ss->path);
    free(ss);
    st->impl = NULL;
}

static void sq_conn_close(void *conn)
{
    sq_conn *c = conn;
    if (!c)
        return;
    for (int i = 0; i < SQ_N; i++)
        sqlite3_finalize(c->stmt[i]);
    sqlite3_close(c->db);
    free(c);
}

static rf_rc sq_conn_open(rf_store *st, void **out, rf_err *err)
{
    sq_store *ss = st->impl;
    rf_rc rc;
    sq_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                SQLITE_OPEN_EXRESCODE;
    int src = sqlite3_open_v2(ss->path, &c->db, flags, NULL);
    if (src != SQLITE_OK) {
        rc = rf_err_set(err, RF_E_IO, ss->path, 0, 0, "cannot open the database: %s",
                        c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(src));
        goto out_close;
    }
    sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);

    sqlite3_stmt *s = NULL;
    src = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_step(s);
    if (src != SQLITE_ROW) {
        rc = rf_err_set(err, RF_E_IO, ss->path, 0, 0, "cannot set WAL mode: %s",
                        sqlite3_errmsg(c->db));
        sqlite3_finalize(s);
        goto out_close;
    }
    const char *mode = (const char *)sqlite3_column_text(s, 0);
    int wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(s);
    if (!wal && !ss->memory) {
        rc = rf_err_set(err, RF_E_IO, ss->path, 0, 0, "the database refused WAL mode");
        goto out_close;
    }
    char *msg = NULL;
    src = sqlite3_exec(c->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL,
                       &msg);
    if (src != SQLITE_OK) {
        rc = rf_err_set(err, RF_E_IO, ss->path, 0, 0, "cannot set up the connection: %s",
                        msg ? msg : sqlite3_errstr(src));
        sqlite3_free(msg);
        goto out_close;
    }
    *out = c;
    return RF_OK;

out_close:
    sq_conn_close(c);
    return rc;
}

static int sq_conn_reusable(void *conn)
{
    return sqlite3_get_autocommit(((sq_conn *)conn)->db) != 0;
}

static rf_rc sq_simple(rf_store_tx *tx, int which, const char *what, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, which, &s, err);
    if (rc != RF_OK)
        return rc;
    rc = sq_run(tx, s, what, err);
    sq_done(s);
    return rc;
}

static rf_rc sq_begin(rf_store_tx *tx, rf_err *err)
{
    return sq_simple(tx, tx->write ? SQ_BEGIN_IMMEDIATE : SQ_BEGIN, "beginning a transaction",
                     err);
}

static void sq_rollback(rf_store_tx *tx)
{
    sq_conn *c = tx->conn;
    /* Some errors (a full disk) end the transaction by themselves. */
    if (sqlite3_get_autocommit(c->db))
        return;
    if (sq_simple(tx, SQ_ROLLBACK, "rolling back", NULL) != RF_OK)
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static rf_rc sq_commit(rf_store_tx *tx, rf_err *err)
{
    rf_rc rc = sq_simple(tx, SQ_COMMIT, "committing", err);
    if (rc != RF_OK)
        sq_rollback(tx);
    return rc;
}

/* Migrations: each in its own BEGIN IMMEDIATE, the version read under the
 * write lock, so two processes opening a new file at once do not both run
 * a script. */
static rf_rc sq_exec(sqlite3 *db, const char *sql, const char *what, rf_err *err)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return RF_OK;
    rf_err_set(err, RF_E_IO, NULL, 0, 0, "%s: %s", what, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return RF_E_IO;
}

static rf_rc sq_version(sqlite3 *db, int *version, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_version", -1,
                                &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rf_err_set(err, RF_E_IO, NULL, 0, 0, "reading the schema version: %s",
                   sqlite3_errmsg(db));
        sqlite3_finalize(s);
        return RF_E_IO;
    }
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    *version = v > INT32_MAX ? INT32_MAX : v < 0 ? 0 : (int)v;
    return RF_OK;
}

static rf_rc sq_record_version(sqlite3 *db, int version, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO schema_version (version, applied) VALUES (?, ?)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int(s, 1, version);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
        return RF_OK;
    return rf_err_set(err, RF_E_IO, NULL, 0, 0, "recording schema version %d: %s", version,
                      sqlite3_errmsg(db));
}

static rf_rc sq_migrate(rf_store *st, void *conn, int *version, rf_err *err)
{
    sqlite3 *db = ((sq_conn *)conn)->db;
    const char *path = ((sq_store *)st->impl)->path;
    for (;;) {
        rf_rc rc = sq_exec(db, "BEGIN IMMEDIATE", "locking the database for migration", err);
        if (rc != RF_OK)
            return rc;
        rc = sq_exec(db,
                     "CREATE TABLE IF NOT EXISTS schema_version ("
                     "  version INTEGER PRIMARY KEY, applied INTEGER NOT NULL) STRICT",
                     "creating schema_version", err);
        int cur = 0;
        if (rc == RF_OK)
            rc = sq_version(db, &cur, err);
        if (rc == RF_OK && cur > RF_STORE_SCHEMA_VERSION)
            rc = rf_err_set(err, RF_E_UNSUPPORTED, path, 0, 0,
                            "the database has schema version %d; this build knows up to %d "
                            "(it was written by a newer ringfence)",
                            cur, RF_STORE_SCHEMA_VERSION);
        if (rc == RF_OK && cur == RF_STORE_SCHEMA_VERSION) {
            rc = sq_exec(db, "COMMIT", "committing", err);
            if (rc == RF_OK) {
                *version = cur;
                return RF_OK;
            }
        }
        if (rc == RF_OK) {
            char what[64];
            snprintf(what, sizeof(what), "migrating to schema version %d", cur + 1);
            rc = sq_exec(db, rfstore_sqlite_migrations[cur], what, err);
        }
        if (rc == RF_OK)
            rc = sq_record_version(db, cur + 1, err);
        if (rc == RF_OK)
            rc = sq_exec(db, "COMMIT", "committing a migration", err);
        if (rc != RF_OK) {
            if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
}

/* One server per file: whoever opened the store serves it. */
static rf_rc sq_leader_try(rf_store *st, int *leader, rf_err *err)
{
    (void)st;
    (void)err;
    *leader = 1;
    return RF_OK;
}

static void sq_leader_release(rf_store *st)
{
    (void)st;
}

/* ---- tenants, tokens, hosts ---------------------------------------------------------- */

static rf_rc sq_tenant_create(rf_store_tx *tx, const char *name, int internal, int64_t now,
                              int64_t *id, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_TENANT_INS, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_text(&b, name);
    b_i64(&b, internal);
    b_i64(&b, now);
    int row = 0;
    rc = sq_bound(tx, &b, "creating a tenant", err);
    if (rc == RF_OK)
        rc = sq_step(tx, s, &row, "creating a tenant", err);
    int64_t v = row ? col_i64(s, 0) : 0;
    if (rc == RF_OK && row)
        rc = sq_run(tx, s, "creating a tenant", err);
    sq_done(s);
    if (rc != RF_OK)
        return rc;
    if (!row)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "tenant \"%s\" exists already", name);
    *id = v;
    return RF_OK;
}

static rf_rc sq_tenant_get(rf_store_tx *tx, const char *name, int64_t id, rf_store_tenant *out,
                           rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, name ? SQ_TENANT_BY_NAME : SQ_TENANT_BY_ID, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    if (name)
        b_text(&b, name);
    else
        b_i64(&b, id);
    rf_store_tenant t;
    rc = sq_bound(tx, &b, "reading a tenant", err);
    if (rc == RF_OK)
        rc = sq_one(tx, s, row_tenant, &t, "reading a tenant", err);
    else
        sq_done(s);
    if (rc == RF_E_NOTFOUND) {
        if (name)
            return rf_err_set(err, rc, NULL, 0, 0, "tenant \"%s\" not found", name);
        return rf_err_set(err, rc, NULL, 0, 0, "tenant %" PRId64 " not found", id);
    }
    if (rc == RF_OK)
        *out = t;
    return rc;
}

static rf_rc sq_tenant_list(rf_store_tx *tx, rf_store_tenant **out, size_t *n, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_TENANT_LIST, &s, err);
    if (rc != RF_OK)
        return rc;
    return sq_list(tx, s, row_tenant, NULL, sizeof(**out), (void **)out, n, "listing tenants",
                   err);
}

static rf_rc sq_token_create(rf_store_tx *tx, const rf_store_token *t, int64_t *id, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_TOKEN_INS, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_blob(&b, t->hash, sizeof(t->hash));
    b_text(&b, t->role);
    b_text(&b, t->name);
    if (t->tenant_id)
        b_i64(&b, t->tenant_id);
    else
        b_text(&b, NULL);
    if (t->host_id)
        b_i64(&b, t->host_id);
    else
        b_text(&b, NULL);
    b_i64(&b, t->created);
    b_i64(&b, t->revoked != 0);
    int row = 0;
    rc = sq_bound(tx, &b, "creating a token", err);
    if (rc == RF_OK)
        rc = sq_step(tx, s, &row, "creating a token", err);
    int64_t v = row ? col_i64(s, 0) : 0;
    if (rc == RF_OK && row)
        rc = sq_run(tx, s, "creating a token", err);
    sq_done(s);
    if (rc != RF_OK)
        return rc;
    if (!row)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                          "a token with the same hash exists already");
    *id = v;
    return RF_OK;
}

static rf_rc sq_update(rf_store_tx *tx, sqlite3_stmt *s, const sqb *b, const char *what,
                       rf_err *err);

static rf_rc sq_token_revoke(rf_store_tx *tx, int64_t id, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_TOKEN_REVOKE, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, id);
    rc = sq_update(tx, s, &b, "revoking a token", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "token %" PRId64 " not found", id);
    return rc;
}

static rf_rc sq_token_list(rf_store_tx *tx, int64_t tenant_id, rf_store_token **out, size_t *n,
                           rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_TOKEN_LIST, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, tenant_id);
    rc = sq_bound(tx, &b, "listing tokens", err);
    if (rc != RF_OK) {
        sq_done(s);
        return rc;
    }
    return sq_list(tx, s, row_token, NULL, sizeof(**out), (void **)out, n, "listing tokens",
                   err);
}

static rf_rc sq_token_by_hash(rf_store_tx *tx, const uint8_t hash[32], rf_store_token *out,
                              rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_TOKEN_BY_HASH, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_blob(&b, hash, 32);
    rf_store_token t;
    rc = sq_bound(tx, &b, "reading a token", err);
    if (rc == RF_OK)
        rc = sq_one(tx, s, row_token, &t, "reading a token", err);
    else
        sq_done(s);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "no such token");
    if (rc == RF_OK)
        *out = t;
    return rc;
}

static rf_rc sq_host_create(rf_store_tx *tx, const rf_store_host *h, int64_t *id, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_HOST_INS, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, h->tenant_id);
    b_text(&b, h->group);
    b_text(&b, h->hostname);
    b_text(&b, h->sensor_version);
    b_i64(&b, h->enrolled);
    b_i64(&b, h->last_seen);
    int row = 0;
    rc = sq_bound(tx, &b, "creating a host", err);
    if (rc == RF_OK)
        rc = sq_step(tx, s, &row, "creating a host", err);
    int64_t v = row ? col_i64(s, 0) : 0;
    if (rc == RF_OK && row)
        rc = sq_run(tx, s, "creating a host", err);
    sq_done(s);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "creating a host: tenant %" PRId64 " not found",
                          h->tenant_id);
    if (rc != RF_OK)
        return rc;
    if (!row)
        return rfstore_db_error(tx, err, RF_E_INTERNAL, "creating a host: no id returned");
    *id = v;
    return RF_OK;
}

static rf_rc sq_host_get(rf_store_tx *tx, int64_t id, rf_store_host *out, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_HOST_GET, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, id);
    rf_store_host h;
    rc = sq_bound(tx, &b, "reading a host", err);
    if (rc == RF_OK)
        rc = sq_one(tx, s, row_host, &h, "reading a host", err);
    else
        sq_done(s);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "host %" PRId64 " not found", id);
    if (rc == RF_OK)
        *out = h;
    return rc;
}

static rf_rc sq_host_list(rf_store_tx *tx, int64_t max_id, rf_store_host **out, size_t *n,
                          rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_HOST_LIST, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, max_id);
    rc = sq_bound(tx, &b, "listing hosts", err);
    if (rc != RF_OK) {
        sq_done(s);
        return rc;
    }
    return sq_list(tx, s, row_host, NULL, sizeof(**out), (void **)out, n, "listing hosts", err);
}

static rf_rc sq_host_seen_since(rf_store_tx *tx, int64_t since, rf_store_host **out, size_t *n,
                                rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_HOST_SEEN_SINCE, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, since);
    rc = sq_bound(tx, &b, "listing hosts seen lately", err);
    if (rc != RF_OK) {
        sq_done(s);
        return rc;
    }
    return sq_list(tx, s, row_host, NULL, sizeof(**out), (void **)out, n,
                   "listing hosts seen lately", err);
}

static rf_rc sq_host_seen(rf_store_tx *tx, const int64_t *ids, const int64_t *times, size_t n,
                          rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_HOST_SEEN, &s, err);
    if (rc != RF_OK)
        return rc;
    for (size_t i = 0; i < n && rc == RF_OK; i++) {
        sqb b = {s, 0, SQLITE_OK};
        b_i64(&b, times[i]);
        b_i64(&b, ids[i]);
        rc = sq_bound(tx, &b, "updating last-seen times", err);
        if (rc == RF_OK)
            rc = sq_run(tx, s, "updating last-seen times", err);
        sqlite3_reset(s);
    }
    sq_done(s);
    return rc;
}

/* ---- policies -------------------------------------------------------------------- */

static rf_rc sq_policy_put(rf_store_tx *tx, const rf_store_policy *p, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_POLICY_PUT, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, p->tenant_id);
    b_text(&b, p->group);
    b_i64(&b, p->channel);
    b_text(&b, p->mode);
    b_i64(&b, p->ga_delay_s);
    b_i64(&b, (int64_t)p->pinned_version);
    b_i64(&b, p->emergency_opt_in != 0);
    b_i64(&b, p->updated);
    rc = sq_bound(tx, &b, "storing a policy", err);
    if (rc == RF_OK)
        rc = sq_run(tx, s, "storing a policy", err);
    sq_done(s);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "storing a policy: tenant %" PRId64 " not found",
                          p->tenant_id);
    return rc;
}

static rf_rc sq_policy_get(rf_store_tx *tx, int64_t tenant_id, const char *group,
                           uint32_t channel, rf_store_policy *out, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_POLICY_GET, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, tenant_id);
    b_text(&b, group);
    b_i64(&b, channel);
    rf_store_policy p;
    rc = sq_bound(tx, &b, "reading a policy", err);
    if (rc == RF_OK)
        rc = sq_one(tx, s, row_policy, &p, "reading a policy", err);
    else
        sq_done(s);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0,
                          "no policy for tenant %" PRId64 " group \"%s\" channel %" PRIu32,
                          tenant_id, group, channel);
    if (rc == RF_OK)
        *out = p;
    return rc;
}

static rf_rc sq_policy_list(rf_store_tx *tx, uint32_t channel, rf_store_policy **out, size_t *n,
                            rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_POLICY_LIST, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, channel);
    rc = sq_bound(tx, &b, "listing policies", err);
    if (rc != RF_OK) {
        sq_done(s);
        return rc;
    }
    return sq_list(tx, s, row_policy, NULL, sizeof(**out), (void **)out, n, "listing policies",
                   err);
}

/* ---- releases ---------------------------------------------------------------------- */

static rf_rc sq_release_create(rf_store_tx *tx, const rf_store_release *r, int64_t *id,
                               rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_REL_INS, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, r->channel);
    b_i64(&b, (int64_t)r->content_version);
    b_text(&b, r->template_type);
    b_i64(&b, r->template_version);
    b_i64(&b, r->inputs_required);
    b_text(&b, r->sha256);
    b_text(&b, r->state);
    b_text(&b, r->author);
    b_text(&b, r->approver);
    b_i64(&b, r->created);
    b_i64(&b, r->approved);
    b_text(&b, r->target);
    b_blob(&b, r->channel_file, r->channel_len);
    b_text(&b, r->manifests ? r->manifests : "");
    b_text(&b, r->report ? r->report : "");
    int row = 0;
    rc = sq_bound(tx, &b, "creating a release", err);
    if (rc == RF_OK)
        rc = sq_step(tx, s, &row, "creating a release", err);
    int64_t v = row ? col_i64(s, 0) : 0;
    if (rc == RF_OK && row)
        rc = sq_run(tx, s, "creating a release", err);
    sq_done(s);
    if (rc != RF_OK)
        return rc;
    if (!row)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                          "a release of channel %" PRIu32 " content version %" PRIu64
                          " exists already",
                          r->channel, r->content_version);
    *id = v;
    return RF_OK;
}

static rf_rc sq_release_get(rf_store_tx *tx, int64_t id, int with_blobs, rf_store_release *out,
                            rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, with_blobs ? SQ_REL_GET_BLOBS : SQ_REL_GET, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, id);
    rf_store_release r;
    rc = sq_bound(tx, &b, "reading a release", err);
    if (rc == RF_OK)
        rc = sq_one(tx, s, with_blobs ? row_release_blobs : row_release, &r, "reading a release",
                    err);
    else
        sq_done(s);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "release %" PRId64 " not found", id);
    if (rc == RF_OK)
        *out = r;
    return rc;
}

/* An UPDATE by id: RF_E_NOTFOUND (err not filled) when no row changed. */
static rf_rc sq_update(rf_store_tx *tx, sqlite3_stmt *s, const sqb *b, const char *what,
                       rf_err *err)
{
    rf_rc rc = sq_bound(tx, b, what, err);
    if (rc == RF_OK)
        rc = sq_run(tx, s, what, err);
    if (rc == RF_OK && sqlite3_changes(sqlite3_db_handle(s)) == 0)
        rc = RF_E_NOTFOUND;
    sq_done(s);
    return rc;
}

static rf_rc sq_release_approve(rf_store_tx *tx, int64_t id, const char *approver, int64_t now,
                                const char *target, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_REL_APPROVE, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_text(&b, approver);
    b_i64(&b, now);
    b_text(&b, target);
    b_i64(&b, id);
    rc = sq_update(tx, s, &b, "approving a release", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "release %" PRId64 " not found", id);
    return rc;
}

static rf_rc sq_release_list(rf_store_tx *tx, uint32_t channel, rf_store_release **out,
                             size_t *n, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_REL_LIST, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, channel);
    rc = sq_bound(tx, &b, "listing releases", err);
    if (rc != RF_OK) {
        sq_done(s);
        return rc;
    }
    return sq_list(tx, s, row_release, rfstore_clear_release, sizeof(**out), (void **)out, n,
                   "listing releases", err);
}

/* ---- rollouts ------------------------------------------------------------------------ */

static rf_rc sq_rollout_create(rf_store_tx *tx, const rf_store_rollout *r, int64_t *id,
                               rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_RO_INS, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, r->release_id);
    b_i64(&b, r->channel);
    b_i64(&b, (int64_t)r->content_version);
    b_i64(&b, (int64_t)r->last_good_version);
    b_i64(&b, r->emergency != 0);
    b_text(&b, r->reason);
    b_text(&b, r->operator_name);
    b_i64(&b, (int64_t)r->seed);
    b_i64(&b, r->t0);
    b_i64(&b, r->fleet_max_host);
    b_text(&b, r->state);
    b_text(&b, r->plan ? r->plan : "");
    b_i64(&b, r->updated);
    int row = 0;
    rc = sq_bound(tx, &b, "creating a rollout", err);
    if (rc == RF_OK)
        rc = sq_step(tx, s, &row, "creating a rollout", err);
    int64_t v = row ? col_i64(s, 0) : 0;
    if (rc == RF_OK && row)
        rc = sq_run(tx, s, "creating a rollout", err);
    sq_done(s);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0,
                          "creating a rollout: release %" PRId64 " not found", r->release_id);
    if (rc != RF_OK)
        return rc;
    if (!row)
        return rfstore_db_error(tx, err, RF_E_INTERNAL, "creating a rollout: no id returned");
    *id = v;
    return RF_OK;
}

static rf_rc sq_rollout_get(rf_store_tx *tx, int64_t id, rf_store_rollout *out, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_RO_GET, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, id);
    rf_store_rollout r;
    rc = sq_bound(tx, &b, "reading a rollout", err);
    if (rc == RF_OK)
        rc = sq_one(tx, s, row_rollout, &r, "reading a rollout", err);
    else
        sq_done(s);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "rollout %" PRId64 " not found", id);
    if (rc == RF_OK)
        *out = r;
    return rc;
}

static rf_rc sq_rollout_set_state(rf_store_tx *tx, int64_t id, const char *state, int64_t now,
                                  rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_RO_STATE, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_text(&b, state);
    b_i64(&b, now);
    b_i64(&b, id);
    rc = sq_update(tx, s, &b, "setting a rollout's state", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "rollout %" PRId64 " not found", id);
    return rc;
}

static rf_rc sq_rollout_list(rf_store_tx *tx, const char *state, rf_store_rollout **out,
                             size_t *n, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_RO_LIST, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_text(&b, state);
    rc = sq_bound(tx, &b, "listing rollouts", err);
    if (rc != RF_OK) {
        sq_done(s);
        return rc;
    }
    return sq_list(tx, s, row_rollout, rfstore_clear_rollout, sizeof(**out), (void **)out, n,
                   "listing rollouts", err);
}

/* ---- the rollout log and the inbox ----------------------------------------------------- */

static rf_rc sq_log_reserve(rf_store_tx *tx, int64_t rollout_id, int64_t count, int64_t *last,
                            rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_LOG_RESERVE, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, count);
    b_i64(&b, rollout_id);
    int row = 0;
    rc = sq_bound(tx, &b, "appending to a rollout log", err);
    if (rc == RF_OK)
        rc = sq_step(tx, s, &row, "appending to a rollout log", err);
    int64_t v = row ? col_i64(s, 0) : 0;
    if (rc == RF_OK && row)
        rc = sq_run(tx, s, "appending to a rollout log", err);
    sq_done(s);
    if (rc != RF_OK)
        return rc;
    if (!row)
        return rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0,
                          "appending to a rollout log: rollout %" PRId64 " not found",
                          rollout_id);
    *last = v;
    return RF_OK;
}

static rf_rc sq_log_insert(rf_store_tx *tx, const rf_store_log *e, const int64_t *seq, size_t n,
                           rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_LOG_INS, &s, err);
    if (rc != RF_OK)
        return rc;
    for (size_t i = 0; i < n && rc == RF_OK; i++) {
        sqb b = {s, 0, SQLITE_OK};
        b_i64(&b, e[i].rollout_id);
        b_i64(&b, seq[i]);
        b_i64(&b, e[i].t);
        b_i64(&b, e[i].kind);
        b_i64(&b, e[i].host);
        b_i64(&b, e[i].treated != 0);
        b_f64(&b, e[i].value);
        b_text(&b, e[i].detail);
        rc = sq_bound(tx, &b, "appending to a rollout log", err);
        if (rc == RF_OK)
            rc = sq_run(tx, s, "appending to a rollout log", err);
        sqlite3_reset(s);
    }
    sq_done(s);
    return rc;
}

static rf_rc sq_log_read(rf_store_tx *tx, int64_t rollout_id, int64_t after, int kinds_min,
                         size_t limit, rf_store_log **out, size_t *n, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_LOG_READ, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, rollout_id);
    b_i64(&b, after);
    b_i64(&b, kinds_min);
    b_limit(&b, limit);
    rc = sq_bound(tx, &b, "reading a rollout log", err);
    if (rc != RF_OK) {
        sq_done(s);
        return rc;
    }
    return sq_list(tx, s, row_log, rfstore_clear_log, sizeof(**out), (void **)out, n,
                   "reading a rollout log", err);
}

static rf_rc sq_inbox_put(rf_store_tx *tx, const rf_store_inbox *e, size_t n, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_INBOX_INS, &s, err);
    if (rc != RF_OK)
        return rc;
    for (size_t i = 0; i < n && rc == RF_OK; i++) {
        sqb b = {s, 0, SQLITE_OK};
        b_i64(&b, e[i].rollout_id);
        b_i64(&b, e[i].t);
        b_i64(&b, e[i].kind);
        b_i64(&b, e[i].host);
        b_i64(&b, e[i].treated != 0);
        b_f64(&b, e[i].value);
        rc = sq_bound(tx, &b, "queueing reports", err);
        if (rc == RF_OK)
            rc = sq_run(tx, s, "queueing reports", err);
        sqlite3_reset(s);
    }
    sq_done(s);
    return rc;
}

static rf_rc sq_inbox_take(rf_store_tx *tx, size_t limit, rfstore_inbox_row **out, size_t *n,
                           rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_INBOX_TAKE, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_limit(&b, limit);
    rc = sq_bound(tx, &b, "taking queued reports", err);
    if (rc != RF_OK) {
        sq_done(s);
        return rc;
    }
    rc = sq_list(tx, s, row_inbox, NULL, sizeof(**out), (void **)out, n, "taking queued reports",
                 err);
    if (rc != RF_OK)
        tx->failed = 1; /* some rows may be deleted and not returned */
    return rc;
}

/* ---- audit ------------------------------------------------------------------------------ */

/* The write lock of the transaction is the audit lock. */
static rf_rc sq_audit_last(rf_store_tx *tx, int64_t *seq, char hash[65], rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_AUDIT_LAST, &s, err);
    if (rc != RF_OK)
        return rc;
    int row = 0;
    int64_t v = 0;
    char h[65];
    memset(h, '0', 64);
    h[64] = '\0';
    rc = sq_step(tx, s, &row, "reading the audit log", err);
    if (rc == RF_OK && row) {
        v = col_i64(s, 0);
        rc = col_fixed(s, 1, h, sizeof(h), err);
        if (rc == RF_OK && strlen(h) != 64)
            rc = rf_err_set(err, RF_E_FORMAT, NULL, 0, 0,
                            "the last audit entry (seq %" PRId64 ") has a damaged hash", v);
    }
    sq_done(s);
    if (rc != RF_OK)
        return rc;
    *seq = v;
    memcpy(hash, h, 65);
    return RF_OK;
}

static rf_rc sq_audit_insert(rf_store_tx *tx, const rf_store_audit *a, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_AUDIT_INS, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, a->seq);
    b_i64(&b, a->t);
    b_text(&b, a->actor);
    b_text(&b, a->action);
    b_text(&b, a->object);
    b_text(&b, a->detail);
    b_text(&b, a->prev);
    b_text(&b, a->hash);
    rc = sq_bound(tx, &b, "appending to the audit log", err);
    if (rc == RF_OK)
        rc = sq_run(tx, s, "appending to the audit log", err);
    sq_done(s);
    return rc;
}

static rf_rc sq_audit_read(rf_store_tx *tx, int64_t after, size_t limit, rf_store_audit **out,
                           size_t *n, rf_err *err)
{
    sqlite3_stmt *s = NULL;
    rf_rc rc = sq_get(tx, SQ_AUDIT_READ, &s, err);
    if (rc != RF_OK)
        return rc;
    sqb b = {s, 0, SQLITE_OK};
    b_i64(&b, after);
    b_limit(&b, limit);
    rc = sq_bound(tx, &b, "reading the audit log", err);
    if (rc != RF_OK) {
        sq_done(s);
        return rc;
    }
    return sq_list(tx, s, row_audit, rfstore_clear_audit, sizeof(**out), (void **)out, n,
                   "reading the audit log", err);
}

const rfstore_ops rfstore_sqlite_ops = {
    .backend = RF_STORE_SQLITE,
    .open = sq_open,
    .migrate = sq_migrate,
    .close = sq_close,
    .conn_open = sq_conn_open,
    .conn_close = sq_conn_close,
    .conn_reusable = sq_conn_reusable,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .leader_try = sq_leader_try,
    .leader_release = sq_leader_release,
    .tenant_create = sq_tenant_create,
    .tenant_get = sq_tenant_get,
    .tenant_list = sq_tenant_list,
    .token_create = sq_token_create,
    .token_by_hash = sq_token_by_hash,
    .token_revoke = sq_token_revoke,
    .token_list = sq_token_list,
    .host_create = sq_host_create,
    .host_get = sq_host_get,
    .host_list = sq_host_list,
    .host_seen_since = sq_host_seen_since,
    .host_seen = sq_host_seen,
    .policy_put = sq_policy_put,
    .policy_get = sq_policy_get,
    .policy_list = sq_policy_list,
    .release_create = sq_release_create,
    .release_get = sq_release_get,
    .release_approve = sq_release_approve,
    .release_list = sq_release_list,
    .rollout_create = sq_rollout_create,
    .rollout_get = sq_rollout_get,
    .rollout_set_state = sq_rollout_set_state,
    .rollout_list = sq_rollout_list,
    .log_reserve = sq_log_reserve,
    .log_insert = sq_log_insert,
    .log_read = sq_log_read,
    .inbox_put = sq_inbox_put,
    .inbox_take = sq_inbox_take,
    .audit_last = sq_audit_last,
    .audit_insert = sq_audit_insert,
    .audit_read = sq_audit_read,
};
