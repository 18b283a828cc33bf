/*
 * pg.c — the PostgreSQL backend of the store (libpq). Several ringfenced
 * instances may share one database, so everything that must be serial is
 * serialised by the database itself: the rollout engine runs where the
 * session advisory lock RFSTORE_PG_LOCK_LEADER is held (on a connection
 * kept for it alone), audit appends take the transaction advisory lock
 * RFSTORE_PG_LOCK_AUDIT (one chain, no forks), a log append locks its
 * rollout's row (gap-free seqs), and inbox takers skip each other's rows
 * (FOR UPDATE SKIP LOCKED).
 *
 * Every value travels as a parameter of PQexecParams; SQL text holds no
 * value. Batches (last-seen updates, log entries, inbox reports) are one
 * statement each, the columns passed as arrays and unnested by the server,
 * so a flush of thousands of rows is one round trip. Write transactions run
 * at READ COMMITTED; read transactions at REPEATABLE READ READ ONLY, which
 * gives them one snapshot as SQLite's do.
 *
 * The URL may hold a password: it is kept in memory for reconnecting and
 * never written into a message.
 */
#include <inttypes.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "ringfence/util.h"
#include "store/store_int.h"

/* connect_timeout: a database that does not answer in this long is down. */
#define CONNECT_TIMEOUT_S "10"
/* The leader's connection notices a dead peer within about this long (TCP
 * keepalives and user timeout), so it does not think itself leader for
 * minutes after its session (and lock) is gone. */
#define LEADER_TCP_TIMEOUT_MS "10000"

typedef struct pg_store {
    char *url; /* owned; may hold a password */
    pthread_mutex_t lmu; /* guards leader and held */
    PGconn *leader;      /* the connection holding the leader lock, or trying to */
    int held;
} pg_store;

/* ---- numbers as text, whatever the process locale -------------------------------- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* %.17g round-trips a double; a decimal comma (a locale's) becomes '.'. */
static void fmt_f64(char *buf, size_t size, double v)
{
    snprintf(buf, size, "%.17g", v);
    for (char *p = buf; *p; p++)
        if (*p == ',')
            *p = '.';
}

static int parse_f64(const char *s, double *out)
{
    pthread_once(&c_locale_once, c_locale_init);
    char *end = NULL;
    double v = c_locale ? strtod_l(s, &end, c_locale) : strtod(s, &end);
    if (end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* ---- parameters ------------------------------------------------------------------- */

#define PGP_MAX 16

/* Parameters of one statement; numbers are formatted into num[]. */
typedef struct pgp {
    int n;
    const char *v[PGP_MAX];
    int len[PGP_MAX];
    int fmt[PGP_MAX];
    char num[PGP_MAX][32];
} pgp;

static void p_text(pgp *p, const char *s)
{
    p->v[p->n] = s; /* NULL is SQL NULL */
    p->len[p->n] = 0;
    p->fmt[p->n] = 0;
    p->n++;
}

static void p_i64(pgp *p, int64_t x)
{
    snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, x);
    p_text(p, p->num[p->n]);
}

static void p_bool(pgp *p, int b)
{
    p_text(p, b ? "t" : "f");
}

/* Binary bytea; never NULL (an empty blob is ""). */
static void p_bin(pgp *p, const void *d, size_t n)
{
    p->v[p->n] = n ? d : "";
    p->len[p->n] = (int)n;
    p->fmt[p->n] = 1;
    p->n++;
}

/* SIZE_MAX ("no limit") is LIMIT NULL. */
static void p_limit(pgp *p, size_t limit)
{
    if (limit > (size_t)INT64_MAX)
        p_text(p, NULL);
    else
        p_i64(p, (int64_t)limit);
}

/* Array literals for unnest(): {1,2,3}, {t,f}, {"a\"b",NULL}. */
typedef struct pga {
    rf_buf b;
    size_t n;
} pga;

static void a_init(pga *a)
{
    rf_buf_init(&a->b);
    rf_buf_append(&a->b, "{", 1);
    a->n = 0;
}

static void a_sep(pga *a)
{
    if (a->n++)
        rf_buf_append(&a->b, ",", 1);
}

static void a_i64(pga *a, int64_t v)
{
    char t[24];
    int k = snprintf(t, sizeof(t), "%" PRId64, v);
    a_sep(a);
    rf_buf_append(&a->b, t, (size_t)k);
}

static void a_bool(pga *a, int v)
{
    a_sep(a);
    rf_buf_append(&a->b, v ? "t" : "f", 1);
}

static void a_f64(pga *a, double v)
{
    char t[40];
    fmt_f64(t, sizeof(t), v);
    a_sep(a);
    rf_buf_append(&a->b, t, strlen(t));
}

static void a_text(pga *a, const char *s)
{
    a_sep(a);
    if (!s) {
        rf_buf_append(&a->b, "NULL", 4);
        return;
    }
    rf_buf_append(&a->b, "\"", 1);
    for (const char *q = s; *q; q++) {
        size_t run = strcspn(q, "\"\\");
        rf_buf_append(&a->b, q, run);
        q += run;
        if (!*q)
            break;
        char esc[2] = {'\\', *q};
        rf_buf_append(&a->b, esc, 2);
    }
    rf_buf_append(&a->b, "\"", 1);
}

/* Close the literal and NUL-terminate it; NULL after an allocation failed. */
static const char *a_done(pga *a)
{
    rf_buf_append(&a->b, "}", 1);
    rf_buf_append(&a->b, "", 1);
    return a->b.oom ? NULL : (const char *)a->b.data;
}

/* ---- running statements ------------------------------------------------------------ */

static rf_rc pg_fail(rf_store_tx *tx, PGconn *c, const PGresult *r, const char *what,
                     rf_err *err)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg)
        msg = PQerrorMessage(c);
    if (state && strcmp(state, "23505") == 0)
        return rfstore_db_error(tx, err, RF_E_SCHEMA, "%s: already exists (%s)", what, msg);
    if (state && strcmp(state, "23503") == 0)
        return rfstore_db_error(tx, err, RF_E_NOTFOUND, "%s: a row it refers to does not exist",
                                what);
    return rfstore_db_error(tx, err, RF_E_IO, "%s: %s", what, msg);
}

/* Run one statement. *out (may be NULL) gets the result (caller PQclears). */
static rf_rc pg_run(rf_store_tx *tx, const char *sql, const pgp *p, PGresult **out,
                    const char *what, rf_err *err)
{
    PGconn *c = tx->conn;
    PGresult *r = PQexecParams(c, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL,
                               p ? p->fmt : NULL, 0);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        rf_rc rc = pg_fail(tx, c, r, what, err);
        PQclear(r);
        return rc;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return RF_OK;
}

/* A parameterless command (BEGIN, COMMIT, DDL scripts of several statements). */
static rf_rc pg_cmd(rf_store_tx *tx, const char *sql, const char *what, rf_err *err)
{
    PGconn *c = tx->conn;
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    rf_rc rc = RF_OK;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = pg_fail(tx, c, r, what, err);
    PQclear(r);
    return rc;
}

/* ---- reading results ------------------------------------------------------------------- */

/* Reads one row; the first malformed column is kept in rc and bad. */
typedef struct pgrow {
    const PGresult *r;
    int row;
    rf_rc rc;
    int bad;
} pgrow;

static void g_bad(pgrow *g, int col, rf_rc rc)
{
    if (g->rc == RF_OK) {
        g->rc = rc;
        g->bad = col;
    }
}

static int64_t g_i64(pgrow *g, int col)
{
    if (PQgetisnull(g->r, g->row, col))
        return 0;
    int64_t v;
    if (rf_parse_i64(PQgetvalue(g->r, g->row, col), INT64_MIN, INT64_MAX, &v) != RF_OK) {
        g_bad(g, col, RF_E_FORMAT);
        return 0;
    }
    return v;
}

static int g_bool(pgrow *g, int col)
{
    return !PQgetisnull(g->r, g->row, col) && PQgetvalue(g->r, g->row, col)[0] == 't';
}

static double g_f64(pgrow *g, int col)
{
    double v = 0;
    if (!PQgetisnull(g->r, g->row, col) && parse_f64(PQgetvalue(g->r, g->row, col), &v) != 0)
        g_bad(g, col, RF_E_FORMAT);
    return v;
}

static void g_fixed(pgrow *g, int col, char *buf, size_t size)
{
    buf[0] = '\0';
    if (PQgetisnull(g->r, g->row, col))
        return;
    size_t n = (size_t)PQgetlength(g->r, g->row, col);
    if (n >= size) {
        g_bad(g, col, RF_E_FORMAT);
        return;
    }
    memcpy(buf, PQgetvalue(g->r, g->row, col), n);
    buf[n] = '\0';
}

/* malloc'd copy (caller frees); NULL for SQL NULL. */
static char *g_dup(pgrow *g, int col)
{
    if (PQgetisnull(g->r, g->row, col))
        return NULL;
    char *s = rf_strndup(PQgetvalue(g->r, g->row, col), (size_t)PQgetlength(g->r, g->row, col));
    if (!s)
        g_bad(g, col, RF_E_NOMEM);
    return s;
}

/* A bytea column (text format, hex) as malloc'd bytes; never NULL on success. */
static uint8_t *g_bytea(pgrow *g, int col, size_t *len)
{
    size_t n = 0;
    unsigned char *raw =
        PQunescapeBytea((const unsigned char *)PQgetvalue(g->r, g->row, col), &n);
    if (!raw) {
        g_bad(g, col, RF_E_NOMEM);
        return NULL;
    }
    uint8_t *out = malloc(n ? n : 1);
    if (!out)
        g_bad(g, col, RF_E_NOMEM);
    else if (n)
        memcpy(out, raw, n);
    PQfreemem(raw);
    *len = n;
    return out;
}

/* The row's verdict, with the column named when one was malformed. */
static rf_rc g_check(const pgrow *g, rf_err *err)
{
    if (g->rc == RF_OK)
        return RF_OK;
    if (g->rc == RF_E_NOMEM)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    return rf_err_set(err, g->rc, NULL, 0, 0, "stored %s is malformed or too long",
                      PQfname(g->r, g->bad));
}

/* ---- row readers (the column lists are sqlite.c's) ------------------------------------ */

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

typedef rf_rc (*pg_row_fn)(pgrow *g, void *dst, rf_err *err);

static rf_rc row_tenant(pgrow *g, void *dst, rf_err *err)
{
    rf_store_tenant *t = dst;
    memset(t, 0, sizeof(*t));
    t->id = g_i64(g, 0);
    g_fixed(g, 1, t->name, sizeof(t->name));
    t->internal = g_bool(g, 2);
    t->created = g_i64(g, 3);
    return g_check(g, err);
}

static rf_rc row_token(pgrow *g, void *dst, rf_err *err)
{
    rf_store_token *t = dst;
    memset(t, 0, sizeof(*t));
    t->id = g_i64(g, 0);
    size_t n = 0;
    uint8_t *h = g_bytea(g, 1, &n);
    if (h && n == sizeof(t->hash))
        memcpy(t->hash, h, n);
    else if (h)
        g_bad(g, 1, RF_E_FORMAT);
    free(h);
    g_fixed(g, 2, t->role, sizeof(t->role));
    g_fixed(g, 3, t->name, sizeof(t->name));
    t->tenant_id = g_i64(g, 4);
    t->host_id = g_i64(g, 5);
    t->created = g_i64(g, 6);
    t->revoked = g_bool(g, 7);
    return g_check(g, err);
}

static rf_rc row_host(pgrow *g, void *dst, rf_err *err)
{
    rf_store_host *h = dst;
    memset(h, 0, sizeof(*h));
    h->id = g_i64(g, 0);
    h->tenant_id = g_i64(g, 1);
    g_fixed(g, 2, h->group, sizeof(h->group));
    g_fixed(g, 3, h->hostname, sizeof(h->hostname));
    g_fixed(g, 4, h->sensor_version, sizeof(h->sensor_version));
    h->enrolled = g_i64(g, 5);
    h->last_seen = g_i64(g, 6);
    return g_check(g, err);
}

static rf_rc row_policy(pgrow *g, void *dst, rf_err *err)
{
    rf_store_policy *p = dst;
    memset(p, 0, sizeof(*p));
    p->tenant_id = g_i64(g, 0);
    g_fixed(g, 1, p->group, sizeof(p->group));
    p->channel = (uint32_t)g_i64(g, 2);
    g_fixed(g, 3, p->mode, sizeof(p->mode));
    p->ga_delay_s = (uint32_t)g_i64(g, 4);
    p->pinned_version = (uint64_t)g_i64(g, 5);
    p->emergency_opt_in = g_bool(g, 6);
    p->updated = g_i64(g, 7);
    return g_check(g, err);
}

static rf_rc row_release_any(pgrow *g, rf_store_release *r, int with_blobs, rf_err *err)
{
    memset(r, 0, sizeof(*r));
    r->id = g_i64(g, 0);
    r->channel = (uint32_t)g_i64(g, 1);
    r->content_version = (uint64_t)g_i64(g, 2);
    g_fixed(g, 3, r->template_type, sizeof(r->template_type));
    r->template_version = (uint32_t)g_i64(g, 4);
    r->inputs_required = (uint32_t)g_i64(g, 5);
    g_fixed(g, 6, r->sha256, sizeof(r->sha256));
    g_fixed(g, 7, r->state, sizeof(r->state));
    g_fixed(g, 8, r->author, sizeof(r->author));
    g_fixed(g, 9, r->approver, sizeof(r->approver));
    r->created = g_i64(g, 10);
    r->approved = g_i64(g, 11);
    g_fixed(g, 12, r->target, sizeof(r->target));
    r->channel_len = (size_t)g_i64(g, 13);
    if (with_blobs && g->rc == RF_OK) {
        r->channel_file = g_bytea(g, 14, &r->channel_len);
        r->manifests = g_dup(g, 15);
        r->report = g_dup(g, 16);
    }
    rf_rc rc = g_check(g, err);
    if (rc != RF_OK)
        rf_store_release_free(r);
    return rc;
}

static rf_rc row_release(pgrow *g, void *dst, rf_err *err)
{
    return row_release_any(g, dst, 0, err);
}

static rf_rc row_release_blobs(pgrow *g, void *dst, rf_err *err)
{
    return row_release_any(g, dst, 1, err);
}

static rf_rc row_rollout(pgrow *g, void *dst, rf_err *err)
{
    rf_store_rollout *r = dst;
    memset(r, 0, sizeof(*r));
    r->id = g_i64(g, 0);
    r->release_id = g_i64(g, 1);
    r->channel = (uint32_t)g_i64(g, 2);
    r->content_version = (uint64_t)g_i64(g, 3);
    r->last_good_version = (uint64_t)g_i64(g, 4);
    r->emergency = g_bool(g, 5);
    g_fixed(g, 6, r->reason, sizeof(r->reason));
    g_fixed(g, 7, r->operator_name, sizeof(r->operator_name));
    r->seed = (uint64_t)g_i64(g, 8);
    r->t0 = g_i64(g, 9);
    r->fleet_max_host = g_i64(g, 10);
    g_fixed(g, 11, r->state, sizeof(r->state));
    if (g->rc == RF_OK)
        r->plan = g_dup(g, 12);
    r->updated = g_i64(g, 13);
    rf_rc rc = g_check(g, err);
    if (rc != RF_OK)
        rf_store_rollout_free(r);
    return rc;
}

static rf_rc row_log(pgrow *g, void *dst, rf_err *err)
{
    rf_store_log *e = dst;
    memset(e, 0, sizeof(*e));
    e->rollout_id = g_i64(g, 0);
    e->seq = g_i64(g, 1);
    e->t = g_i64(g, 2);
    e->kind = (int)g_i64(g, 3);
    e->host = g_i64(g, 4);
    e->treated = g_bool(g, 5);
    e->value = g_f64(g, 6);
    if (g->rc == RF_OK)
        e->detail = g_dup(g, 7);
    rf_rc rc = g_check(g, err);
    if (rc != RF_OK) {
        free(e->detail);
        e->detail = NULL;
    }
    return rc;
}

static rf_rc row_inbox(pgrow *g, void *dst, rf_err *err)
{
    rfstore_inbox_row *r = dst;
    memset(r, 0, sizeof(*r));
    r->id = g_i64(g, 0);
    r->e.rollout_id = g_i64(g, 1);
    r->e.t = g_i64(g, 2);
    r->e.kind = (int)g_i64(g, 3);
    r->e.host = g_i64(g, 4);
    r->e.treated = g_bool(g, 5);
    r->e.value = g_f64(g, 6);
    return g_check(g, err);
}


static rf_rc row_audit(pgrow *g, void *dst, rf_err *err)
{
    rf_store_audit *a = dst;
    memset(a, 0, sizeof(*a));
    a->seq = g_i64(g, 0);
    a->t = g_i64(g, 1);
    g_fixed(g, 6, a->prev, sizeof(a->prev));
    g_fixed(g, 7, a->hash, sizeof(a->hash));
    if (g->rc == RF_OK) {
        a->actor = g_dup(g, 2);
        a->action = g_dup(g, 3);
        a->object = g_dup(g, 4);
        a->detail = g_dup(g, 5);
    }
    rf_rc rc = g_check(g, err);
    if (rc != RF_OK)
        rfstore_audit_clear(a);
    return rc;
}


/* Query and read its one row into *dst; RF_E_NOTFOUND (err not filled: the
 * caller names the thing) when there is none. */
static rf_rc pg_one(rf_store_tx *tx, const char *sql, const pgp *p, pg_row_fn fn, void *dst,
                    const char *what, rf_err *err)
{
    PGresult *r = NULL;
    rf_rc rc = pg_run(tx, sql, p, &r, what, err);
    if (rc != RF_OK)
        return rc;
    if (PQntuples(r) == 0) {
        rc = RF_E_NOTFOUND;
    } else {
        pgrow g = {r, 0, RF_OK, 0};
        rc = fn(&g, dst, err);
    }
    PQclear(r);
    return rc;
}

/* Query and read every row into a malloc'd array (caller frees; NULL when
 * empty). clear (may be NULL) frees a row's members on failure. */
static rf_rc pg_list(rf_store_tx *tx, const char *sql, const pgp *p, pg_row_fn fn,
                     void (*clear)(void *), size_t elem, void **out, size_t *n,
                     const char *what, rf_err *err)
{
    PGresult *r = NULL;
    rf_rc rc = pg_run(tx, sql, p, &r, what, err);
    if (rc != RF_OK)
        return rc;
    size_t k = (size_t)PQntuples(r), i = 0;
    void *arr = NULL;
    if (k > 0) {
        arr = calloc(k, elem);
        if (!arr) {
            rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
            goto out;
        }
    }
    for (; i < k; i++) {
        pgrow g = {r, (int)i, RF_OK, 0};
        rc = fn(&g, (char *)arr + i * elem, err);
        if (rc != RF_OK)
            break;
    }
    if (rc != RF_OK) {
        for (size_t j = 0; clear && j < i; j++)
            clear((char *)arr + j * elem);
        free(arr);
        goto out;
    }
    *out = arr;
    *n = k;
out:
    PQclear(r);
    return rc;
}

/* An UPDATE: RF_E_NOTFOUND (err not filled) when no row changed. */
static rf_rc pg_update(rf_store_tx *tx, const char *sql, const pgp *p, const char *what,
                       rf_err *err)
{
    PGresult *r = NULL;
    rf_rc rc = pg_run(tx, sql, p, &r, what, err);
    if (rc != RF_OK)
        return rc;
    const char *k = PQcmdTuples(r);
    if (!k[0] || strcmp(k, "0") == 0)
        rc = RF_E_NOTFOUND;
    PQclear(r);
    return rc;
}

/* An INSERT ... RETURNING id: *id, or *got = 0 when no row came back (ON
 * CONFLICT DO NOTHING). */
static rf_rc pg_insert_id(rf_store_tx *tx, const char *sql, const pgp *p, int64_t *id, int *got,
                          const char *what, rf_err *err)
{
    PGresult *r = NULL;
    rf_rc rc = pg_run(tx, sql, p, &r, what, err);
    if (rc != RF_OK)
        return rc;
    *got = PQntuples(r) > 0;
    if (*got) {
        pgrow g = {r, 0, RF_OK, 0};
        *id = g_i64(&g, 0);
        rc = g_check(&g, err);
    }
    PQclear(r);
    return rc;
}

/* ---- store, connections, transactions ---------------------------------------------- */

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation exists, skipping" and the like */
}

static PGconn *pg_connect(const char *url, int leader)
{
    const char *kw[12], *val[12];
    int i = 0;
    /* Defaults first, then the URL (which may override them). */
    kw[i] = "connect_timeout", val[i++] = CONNECT_TIMEOUT_S;
    if (leader) {
        kw[i] = "keepalives", val[i++] = "1";
        kw[i] = "keepalives_idle", val[i++] = "5";
        kw[i] = "keepalives_interval", val[i++] = "2";
        kw[i] = "keepalives_count", val[i++] = "3";
        kw[i] = "tcp_user_timeout", val[i++] = LEADER_TCP_TIMEOUT_MS;
    }
    kw[i] = "dbname", val[i++] = url;
    kw[i] = "fallback_application_name", val[i++] = "ringfenced";
    /* Named, so that an operator sees which session holds the lock. */
    if (leader)
        kw[i] = "application_name", val[i++] = "ringfenced leader";
    kw[i] = NULL, val[i] = NULL;
    PGconn *c = PQconnectdbParams(kw, val, 1);
    if (c)
        PQsetNoticeProcessor(c, quiet_notices, NULL);
    return c;
}

static rf_rc pg_open(rf_store *st, const char *target, int exclusive, unsigned *pool,
                     rf_err *err)
{
    (void)exclusive; /* several instances share a PostgreSQL database by design */
    (void)pool;
    pg_store *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    ps->url = rf_strdup(target);
    if (!ps->url || pthread_mutex_init(&ps->lmu, NULL) != 0) {
        free(ps->url);
        free(ps);
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    }
    st->impl = ps;
    return RF_OK;
}

static void pg_leader_release(rf_store *st);

static void pg_close(rf_store *st)
{
    pg_store *ps = st->impl;
    if (!ps)
        return;
    /* Unlock explicitly: the server frees a dead session's locks only once
     * its backend has exited, which may be after another instance asks. */
    pg_leader_release(st);
    if (ps->leader)
        PQfinish(ps->leader);
    pthread_mutex_destroy(&ps->lmu);
    free(ps->url);
    free(ps);
    st->impl = NULL;
}

static void pg_conn_close(void *conn)
{
    if (conn)
        PQfinish(conn);
}

static rf_rc pg_conn_open(rf_store *st, void **out, rf_err *err)
{
    pg_store *ps = st->impl;
    PGconn *c = pg_connect(ps->url, 0);
    if (!c)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    if (PQstatus(c) != CONNECTION_OK) {
        rf_rc rc = rfstore_db_error(NULL, err, RF_E_IO, "cannot connect to PostgreSQL: %s",
                                    PQerrorMessage(c));
        PQfinish(c);
        return rc;
    }
    *out = c;
    return RF_OK;
}

static int pg_conn_reusable(void *conn)
{
    return PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE;
}

static rf_rc pg_begin(rf_store_tx *tx, rf_err *err)
{
    return pg_cmd(tx, tx->write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                  "beginning a transaction", err);
}

static void pg_rollback(rf_store_tx *tx)
{
    PGconn *c = tx->conn;
    if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, "ROLLBACK"));
}

static rf_rc pg_commit(rf_store_tx *tx, rf_err *err)
{
    PGconn *c = tx->conn;
    PGresult *r = PQexec(c, "COMMIT");
    rf_rc rc = RF_OK;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_fail(tx, c, r, "committing", err);
    else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) /* an aborted transaction "commits" so */
        rc = rfstore_db_error(tx, err, RF_E_IO, "committing: the database rolled it back");
    PQclear(r);
    if (rc != RF_OK)
        pg_rollback(tx);
    return rc;
}

/* Migrations: one transaction each under the migration lock, the version
 * read under it, so instances starting together do not both run a script. */
static rf_rc pg_migrate(rf_store *st, void *conn, int *version, rf_err *err)
{
    rf_store_tx tx = {.st = st, .conn = conn, .write = 1};
    for (;;) {
        rf_rc rc = pg_cmd(&tx, "BEGIN", "beginning a migration", err);
        if (rc != RF_OK)
            return rc;
        pgp p = {0};
        p_i64(&p, RFSTORE_PG_LOCK_MIGRATE);
        rc = pg_run(&tx, "SELECT pg_advisory_xact_lock($1::bigint)", &p, NULL,
                    "locking the database for migration", err);
        if (rc == RF_OK)
            rc = pg_cmd(&tx,
                        "CREATE TABLE IF NOT EXISTS schema_version ("
                        "  version integer PRIMARY KEY, applied bigint NOT NULL)",
                        "creating schema_version", err);
        PGresult *r = NULL;
        if (rc == RF_OK)
            rc = pg_run(&tx, "SELECT coalesce(max(version), 0) FROM schema_version", NULL, &r,
                        "reading the schema version", err);
        int cur = 0;
        if (rc == RF_OK) {
            pgrow g = {r, 0, RF_OK, 0};
            int64_t v = PQntuples(r) == 1 ? g_i64(&g, 0) : -1;
            PQclear(r);
            if (v < 0 || g.rc != RF_OK)
                rc = rf_err_set(err, RF_E_FORMAT, NULL, 0, 0, "schema_version is damaged");
            cur = v > INT32_MAX ? INT32_MAX : (int)v;
        }
        if (rc == RF_OK && cur > RF_STORE_SCHEMA_VERSION)
            rc = rf_err_set(err, RF_E_UNSUPPORTED, NULL, 0, 0,
                            "the database has schema version %d; this build knows up to %d "
                            "(it was written by a newer ringfence)",
                            cur, RF_STORE_SCHEMA_VERSION);
        if (rc == RF_OK && cur == RF_STORE_SCHEMA_VERSION) {
            rc = pg_cmd(&tx, "COMMIT", "committing", err);
            if (rc == RF_OK) {
                *version = cur;
                return RF_OK;
            }
        }
        if (rc == RF_OK) {
            char what[64];
            snprintf(what, sizeof(what), "migrating to schema version %d", cur + 1);
            rc = pg_cmd(&tx, rfstore_pg_migrations[cur], what, err);
        }
        if (rc == RF_OK) {
            pgp q = {0};
            p_i64(&q, cur + 1);
            p_i64(&q, (int64_t)time(NULL));
            rc = pg_run(&tx, "INSERT INTO schema_version (version, applied) VALUES ($1, $2)", &q,
                        NULL, "recording the schema version", err);
        }
        if (rc == RF_OK)
            rc = pg_cmd(&tx, "COMMIT", "committing a migration", err);
        if (rc != RF_OK) {
            pg_rollback(&tx);
            return rc;
        }
    }
}

/* ---- leadership ------------------------------------------------------------------------ */

/*
 * The lock lives as long as the leader connection's session. While held,
 * each call checks that the session is still alive; a failed check means
 * the session (and the lock) may be gone, so the connection is reset and
 * leadership reported lost. The next call tries for the lock again.
 */
static rf_rc pg_leader_try(rf_store *st, int *leader, rf_err *err)
{
    pg_store *ps = st->impl;
    pthread_mutex_lock(&ps->lmu);
    if (!ps->leader) {
        ps->leader = pg_connect(ps->url, 1);
        if (!ps->leader) {
            pthread_mutex_unlock(&ps->lmu);
            return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
        }
    } else if (PQstatus(ps->leader) != CONNECTION_OK) {
        PQreset(ps->leader);
    }
    int is = 0;
    if (PQstatus(ps->leader) == CONNECTION_OK) {
        pgp p = {0};
        p_i64(&p, RFSTORE_PG_LOCK_LEADER);
        PGresult *r = ps->held ? PQexec(ps->leader, "SELECT true")
                               : PQexecParams(ps->leader, "SELECT pg_try_advisory_lock($1::bigint)",
                                              p.n, NULL, p.v, p.len, p.fmt, 0);
        if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            is = PQgetvalue(r, 0, 0)[0] == 't';
        } else if (ps->held) {
            /* Whatever state the session is in, a new one holds nothing. */
            PQreset(ps->leader);
        }
        PQclear(r);
    }
    ps->held = is;
    *leader = is;
    pthread_mutex_unlock(&ps->lmu);
    return RF_OK;
}

static void pg_leader_release(rf_store *st)
{
    pg_store *ps = st->impl;
    pthread_mutex_lock(&ps->lmu);
    if (ps->held && PQstatus(ps->leader) == CONNECTION_OK) {
        pgp p = {0};
        p_i64(&p, RFSTORE_PG_LOCK_LEADER);
        PQclear(PQexecParams(ps->leader, "SELECT pg_advisory_unlock($1::bigint)", p.n, NULL, p.v,
                             p.len, p.fmt, 0));
    }
    ps->held = 0;
    pthread_mutex_unlock(&ps->lmu);
}

/* ---- tenants, tokens, hosts ------------------------------------------------------------ */

static rf_rc pg_tenant_create(rf_store_tx *tx, const char *name, int internal, int64_t now,
                              int64_t *id, rf_err *err)
{
    pgp p = {0};
    p_text(&p, name);
    p_bool(&p, internal);
    p_i64(&p, now);
    int64_t v = 0;
    int got = 0;
    rf_rc rc = pg_insert_id(tx,
                            "INSERT INTO tenants (name, internal, created) VALUES ($1, $2, $3) "
                            "ON CONFLICT (name) DO NOTHING RETURNING id",
                            &p, &v, &got, "creating a tenant", err);
    if (rc != RF_OK)
        return rc;
    if (!got)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "tenant \"%s\" exists already", name);
    *id = v;
    return RF_OK;
}

static rf_rc pg_tenant_get(rf_store_tx *tx, const char *name, int64_t id, rf_store_tenant *out,
                           rf_err *err)
{
    pgp p = {0};
    if (name)
        p_text(&p, name);
    else
        p_i64(&p, id);
    rf_store_tenant t;
    rf_rc rc = pg_one(tx,
                      name ? "SELECT " TENANT_COLS " FROM tenants WHERE name = $1"
                           : "SELECT " TENANT_COLS " FROM tenants WHERE id = $1",
                      &p, row_tenant, &t, "reading a tenant", err);
    if (rc == RF_E_NOTFOUND) {
        if (name)
            return rf_err_set(err, rc, NULL, 0, 0, "tenant \"%s\" not found", name);
        return rf_err_set(err, rc, NULL, 0, 0, "tenant %" PRId64 " not found", id);
    }
    if (rc == RF_OK)
        *out = t;
    return rc;
}

static rf_rc pg_tenant_list(rf_store_tx *tx, rf_store_tenant **out, size_t *n, rf_err *err)
{
    return pg_list(tx, "SELECT " TENANT_COLS " FROM tenants ORDER BY id", NULL, row_tenant, NULL,
                   sizeof(**out), (void **)out, n, "listing tenants", err);
}

static rf_rc pg_token_create(rf_store_tx *tx, const rf_store_token *t, int64_t *id, rf_err *err)
{
    pgp p = {0};
    p_bin(&p, t->hash, sizeof(t->hash));
    p_text(&p, t->role);
    p_text(&p, t->name);
    if (t->tenant_id)
        p_i64(&p, t->tenant_id);
    else
        p_text(&p, NULL);
    if (t->host_id)
        p_i64(&p, t->host_id);
    else
        p_text(&p, NULL);
    p_i64(&p, t->created);
    p_bool(&p, t->revoked);
    int64_t v = 0;
    int got = 0;
    rf_rc rc = pg_insert_id(tx,
                            "INSERT INTO tokens (hash, role, name, tenant_id, host_id, created, "
                            "revoked) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                            "ON CONFLICT (hash) DO NOTHING RETURNING id",
                            &p, &v, &got, "creating a token", err);
    if (rc != RF_OK)
        return rc;
    if (!got)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                          "a token with the same hash exists already");
    *id = v;
    return RF_OK;
}

static rf_rc pg_token_revoke(rf_store_tx *tx, int64_t id, rf_err *err)
{
    pgp p = {0};
    p_i64(&p, id);
    rf_rc rc = pg_update(tx, "UPDATE tokens SET revoked = true WHERE id = $1", &p,
                         "revoking a token", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "token %" PRId64 " not found", id);
    return rc;
}

static rf_rc pg_token_list(rf_store_tx *tx, int64_t tenant_id, rf_store_token **out, size_t *n,
                           rf_err *err)
{
    pgp p = {0};
    p_i64(&p, tenant_id);
    return pg_list(tx,
                   "SELECT " TOKEN_COLS " FROM tokens WHERE $1::bigint < 0 OR "
                   "($1::bigint = 0 AND tenant_id IS NULL) OR tenant_id = $1::bigint ORDER BY id",
                   &p, row_token, NULL, sizeof(**out), (void **)out, n, "listing tokens", err);
}

static rf_rc pg_token_by_hash(rf_store_tx *tx, const uint8_t hash[32], rf_store_token *out,
                              rf_err *err)
{
    pgp p = {0};
    p_bin(&p, hash, 32);
    rf_store_token t;
    rf_rc rc = pg_one(tx, "SELECT " TOKEN_COLS " FROM tokens WHERE hash = $1", &p, row_token, &t,
                      "reading a token", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "no such token");
    if (rc == RF_OK)
        *out = t;
    return rc;
}

static rf_rc pg_host_create(rf_store_tx *tx, const rf_store_host *h, int64_t *id, rf_err *err)
{
    pgp p = {0};
    p_i64(&p, h->tenant_id);
    p_text(&p, h->group);
    p_text(&p, h->hostname);
    p_text(&p, h->sensor_version);
    p_i64(&p, h->enrolled);
    p_i64(&p, h->last_seen);
    int64_t v = 0;
    int got = 0;
    rf_rc rc = pg_insert_id(tx,
                            "INSERT INTO hosts (tenant_id, grp, hostname, sensor_version, "
                            "enrolled, last_seen) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                            &p, &v, &got, "creating a host", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "creating a host: tenant %" PRId64 " not found",
                          h->tenant_id);
    if (rc != RF_OK)
        return rc;
    if (!got)
        return rfstore_db_error(tx, err, RF_E_INTERNAL, "creating a host: no id returned");
    *id = v;
    return RF_OK;
}

static rf_rc pg_host_get(rf_store_tx *tx, int64_t id, rf_store_host *out, rf_err *err)
{
    pgp p = {0};
    p_i64(&p, id);
    rf_store_host h;
    rf_rc rc = pg_one(tx, "SELECT " HOST_COLS " FROM hosts WHERE id = $1", &p, row_host, &h,
                      "reading a host", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "host %" PRId64 " not found", id);
    if (rc == RF_OK)
        *out = h;
    return rc;
}

static rf_rc pg_host_list(rf_store_tx *tx, int64_t max_id, rf_store_host **out, size_t *n,
                          rf_err *err)
{
    pgp p = {0};
    p_i64(&p, max_id);
    return pg_list(tx, "SELECT " HOST_COLS " FROM hosts WHERE id <= $1 ORDER BY id", &p,
                   row_host, NULL, sizeof(**out), (void **)out, n, "listing hosts", err);
}

static rf_rc pg_host_seen_since(rf_store_tx *tx, int64_t since, rf_store_host **out, size_t *n,
                                rf_err *err)
{
    pgp p = {0};
    p_i64(&p, since);
    return pg_list(tx, "SELECT " HOST_COLS " FROM hosts WHERE last_seen > $1 ORDER BY id", &p,
                   row_host, NULL, sizeof(**out), (void **)out, n, "listing hosts seen lately",
                   err);
}

/* One statement for the batch. A host listed twice gets its last time, as
 * one UPDATE per entry would give it; an id that is not a host is skipped. */
static rf_rc pg_host_seen(rf_store_tx *tx, const int64_t *ids, const int64_t *times, size_t n,
                          rf_err *err)
{
    pga a_id, a_t;
    a_init(&a_id);
    a_init(&a_t);
    for (size_t i = 0; i < n; i++) {
        a_i64(&a_id, ids[i]);
        a_i64(&a_t, times[i]);
    }
    pgp p = {0};
    p_text(&p, a_done(&a_id));
    p_text(&p, a_done(&a_t));
    rf_rc rc;
    if (!p.v[0] || !p.v[1])
        rc = rfstore_db_error(tx, err, RF_E_NOMEM, "out of memory");
    else
        rc = pg_run(tx,
                    "UPDATE hosts AS h SET last_seen = v.t FROM ("
                    "  SELECT DISTINCT ON (u.id) u.id, u.t"
                    "  FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS u(id, t, o)"
                    "  ORDER BY u.id, u.o DESC) AS v "
                    "WHERE h.id = v.id",
                    &p, NULL, "updating last-seen times", err);
    rf_buf_free(&a_id.b);
    rf_buf_free(&a_t.b);
    return rc;
}

/* ---- policies ---------------------------------------------------------------------- */

static rf_rc pg_policy_put(rf_store_tx *tx, const rf_store_policy *pol, rf_err *err)
{
    pgp p = {0};
    p_i64(&p, pol->tenant_id);
    p_text(&p, pol->group);
    p_i64(&p, pol->channel);
    p_text(&p, pol->mode);
    p_i64(&p, pol->ga_delay_s);
    p_i64(&p, (int64_t)pol->pinned_version);
    p_bool(&p, pol->emergency_opt_in);
    p_i64(&p, pol->updated);
    rf_rc rc = pg_run(tx,
                      "INSERT INTO policies (" POLICY_COLS ") "
                      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                      "ON CONFLICT (tenant_id, grp, channel) DO UPDATE SET "
                      "mode = excluded.mode, ga_delay_s = excluded.ga_delay_s, "
                      "pinned_version = excluded.pinned_version, "
                      "emergency_opt_in = excluded.emergency_opt_in, "
                      "updated = excluded.updated",
                      &p, NULL, "storing a policy", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "storing a policy: tenant %" PRId64 " not found",
                          pol->tenant_id);
    return rc;
}

static rf_rc pg_policy_get(rf_store_tx *tx, int64_t tenant_id, const char *group,
                           uint32_t channel, rf_store_policy *out, rf_err *err)
{
    pgp p = {0};
    p_i64(&p, tenant_id);
    p_text(&p, group);
    p_i64(&p, channel);
    rf_store_policy pol;
    rf_rc rc = pg_one(tx,
                      "SELECT " POLICY_COLS " FROM policies "
                      "WHERE tenant_id = $1 AND grp = $2 AND channel = $3",
                      &p, row_policy, &pol, "reading a policy", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0,
                          "no policy for tenant %" PRId64 " group \"%s\" channel %" PRIu32,
                          tenant_id, group, channel);
    if (rc == RF_OK)
        *out = pol;
    return rc;
}

static rf_rc pg_policy_list(rf_store_tx *tx, uint32_t channel, rf_store_policy **out, size_t *n,
                            rf_err *err)
{
    pgp p = {0};
    p_i64(&p, channel);
    return pg_list(tx,
                   "SELECT " POLICY_COLS " FROM policies WHERE channel = $1 "
                   "ORDER BY tenant_id, grp",
                   &p, row_policy, NULL, sizeof(**out), (void **)out, n, "listing policies",
                   err);
}

/* ---- releases -------------------------------------------------------------------------- */

static rf_rc pg_release_create(rf_store_tx *tx, const rf_store_release *r, int64_t *id,
                               rf_err *err)
{
    pgp p = {0};
    p_i64(&p, r->channel);
    p_i64(&p, (int64_t)r->content_version);
    p_text(&p, r->template_type);
    p_i64(&p, r->template_version);
    p_i64(&p, r->inputs_required);
    p_text(&p, r->sha256);
    p_text(&p, r->state);
    p_text(&p, r->author);
    p_text(&p, r->approver);
    p_i64(&p, r->created);
    p_i64(&p, r->approved);
    p_text(&p, r->target);
    p_bin(&p, r->channel_file, r->channel_len);
    p_text(&p, r->manifests ? r->manifests : "");
    p_text(&p, r->report ? r->report : "");
    int64_t v = 0;
    int got = 0;
    rf_rc rc = pg_insert_id(tx,
                            "INSERT INTO releases (channel, content_version, template_type, "
                            "template_version, inputs_required, sha256, state, author, "
                            "approver, created, approved, target, channel_file, manifests, "
                            "report) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
                            "$12, $13, $14, $15) "
                            "ON CONFLICT (channel, content_version) DO NOTHING RETURNING id",
                            &p, &v, &got, "creating a release", err);
    if (rc != RF_OK)
        return rc;
    if (!got)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                          "a release of channel %" PRIu32 " content version %" PRIu64
                          " exists already",
                          r->channel, r->content_version);
    *id = v;
    return RF_OK;
}

static rf_rc pg_release_get(rf_store_tx *tx, int64_t id, int with_blobs, rf_store_release *out,
                            rf_err *err)
{
    pgp p = {0};
    p_i64(&p, id);
    rf_store_release r;
    rf_rc rc = pg_one(tx,
                      with_blobs ? "SELECT " REL_COLS ", channel_file, manifests, report "
                                   "FROM releases WHERE id = $1"
                                 : "SELECT " REL_COLS " FROM releases WHERE id = $1",
                      &p, with_blobs ? row_release_blobs : row_release, &r, "reading a release",
                      err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "release %" PRId64 " not found", id);
    if (rc == RF_OK)
        *out = r;
    return rc;
}

static rf_rc pg_release_approve(rf_store_tx *tx, int64_t id, const char *approver, int64_t now,
                                const char *target, rf_err *err)
{
    pgp p = {0};
    p_text(&p, approver);
    p_i64(&p, now);
    p_text(&p, target);
    p_i64(&p, id);
    rf_rc rc = pg_update(tx,
                         "UPDATE releases SET state = 'approved', approver = $1, approved = $2, "
                         "target = $3 WHERE id = $4",
                         &p, "approving a release", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "release %" PRId64 " not found", id);
    return rc;
}

static rf_rc pg_release_list(rf_store_tx *tx, uint32_t channel, rf_store_release **out,
                             size_t *n, rf_err *err)
{
    pgp p = {0};
    p_i64(&p, channel);
    return pg_list(tx,
                   "SELECT " REL_COLS " FROM releases "
                   "WHERE $1::bigint = 0 OR channel = $1::bigint ORDER BY id DESC",
                   &p, row_release, rfstore_clear_release, sizeof(**out), (void **)out, n,
                   "listing releases", err);
}

/* ---- rollouts -------------------------------------------------------------------------- */

static rf_rc pg_rollout_create(rf_store_tx *tx, const rf_store_rollout *r, int64_t *id,
                               rf_err *err)
{
    pgp p = {0};
    p_i64(&p, r->release_id);
    p_i64(&p, r->channel);
    p_i64(&p, (int64_t)r->content_version);
    p_i64(&p, (int64_t)r->last_good_version);
    p_bool(&p, r->emergency);
    p_text(&p, r->reason);
    p_text(&p, r->operator_name);
    p_i64(&p, (int64_t)r->seed);
    p_i64(&p, r->t0);
    p_i64(&p, r->fleet_max_host);
    p_text(&p, r->state);
    p_text(&p, r->plan ? r->plan : "");
    p_i64(&p, r->updated);
    int64_t v = 0;
    int got = 0;
    rf_rc rc = pg_insert_id(tx,
                            "INSERT INTO rollouts (release_id, channel, content_version, "
                            "last_good_version, emergency, reason, operator_name, seed, t0, "
                            "fleet_max_host, state, plan, updated) VALUES ($1, $2, $3, $4, $5, "
                            "$6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
                            &p, &v, &got, "creating a rollout", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0,
                          "creating a rollout: release %" PRId64 " not found", r->release_id);
    if (rc != RF_OK)
        return rc;
    if (!got)
        return rfstore_db_error(tx, err, RF_E_INTERNAL, "creating a rollout: no id returned");
    *id = v;
    return RF_OK;
}

static rf_rc pg_rollout_get(rf_store_tx *tx, int64_t id, rf_store_rollout *out, rf_err *err)
{
    pgp p = {0};
    p_i64(&p, id);
    rf_store_rollout r;
    rf_rc rc = pg_one(tx, "SELECT " RO_COLS " FROM rollouts WHERE id = $1", &p, row_rollout, &r,
                      "reading a rollout", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "rollout %" PRId64 " not found", id);
    if (rc == RF_OK)
        *out = r;
    return rc;
}

static rf_rc pg_rollout_set_state(rf_store_tx *tx, int64_t id, const char *state, int64_t now,
                                  rf_err *err)
{
    pgp p = {0};
    p_text(&p, state);
    p_i64(&p, now);
    p_i64(&p, id);
    rf_rc rc = pg_update(tx, "UPDATE rollouts SET state = $1, updated = $2 WHERE id = $3", &p,
                         "setting a rollout's state", err);
    if (rc == RF_E_NOTFOUND)
        return rf_err_set(err, rc, NULL, 0, 0, "rollout %" PRId64 " not found", id);
    return rc;
}

static rf_rc pg_rollout_list(rf_store_tx *tx, const char *state, rf_store_rollout **out,
                             size_t *n, rf_err *err)
{
    pgp p = {0};
    p_text(&p, state);
    return pg_list(tx,
                   "SELECT " RO_COLS " FROM rollouts "
                   "WHERE $1::text IS NULL OR state = $1::text ORDER BY id",
                   &p, row_rollout, rfstore_clear_rollout, sizeof(**out), (void **)out, n,
                   "listing rollouts", err);
}

/* ---- the rollout log and the inbox ------------------------------------------------------- */

/* The row lock taken here is held to the end of the transaction: another
 * instance appending to the same rollout waits, so seqs are in commit order. */
static rf_rc pg_log_reserve(rf_store_tx *tx, int64_t rollout_id, int64_t count, int64_t *last,
                            rf_err *err)
{
    pgp p = {0};
    p_i64(&p, count);
    p_i64(&p, rollout_id);
    int64_t v = 0;
    int got = 0;
    rf_rc rc = pg_insert_id(tx,
                            "UPDATE rollouts SET log_seq = log_seq + $1 WHERE id = $2 "
                            "RETURNING log_seq",
                            &p, &v, &got, "appending to a rollout log", err);
    if (rc != RF_OK)
        return rc;
    if (!got)
        return rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0,
                          "appending to a rollout log: rollout %" PRId64 " not found",
                          rollout_id);
    *last = v;
    return RF_OK;
}

static rf_rc pg_log_insert(rf_store_tx *tx, const rf_store_log *e, const int64_t *seq, size_t n,
                           rf_err *err)
{
    enum { NCOL = 8 };
    pga a[NCOL];
    for (int c = 0; c < NCOL; c++)
        a_init(&a[c]);
    for (size_t i = 0; i < n; i++) {
        a_i64(&a[0], e[i].rollout_id);
        a_i64(&a[1], seq[i]);
        a_i64(&a[2], e[i].t);
        a_i64(&a[3], e[i].kind);
        a_i64(&a[4], e[i].host);
        a_bool(&a[5], e[i].treated);
        a_f64(&a[6], e[i].value);
        a_text(&a[7], e[i].detail);
    }
    pgp p = {0};
    int ok = 1;
    for (int c = 0; c < NCOL; c++) {
        p_text(&p, a_done(&a[c]));
        ok = ok && p.v[c];
    }
    rf_rc rc;
    if (!ok)
        rc = rfstore_db_error(tx, err, RF_E_NOMEM, "out of memory");
    else
        rc = pg_run(tx,
                    "INSERT INTO rollout_log (" LOG_COLS ") "
                    "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], "
                    "$4::integer[], $5::bigint[], $6::boolean[], $7::float8[], $8::text[])",
                    &p, NULL, "appending to a rollout log", err);
    for (int c = 0; c < NCOL; c++)
        rf_buf_free(&a[c].b);
    return rc;
}

static rf_rc pg_log_read(rf_store_tx *tx, int64_t rollout_id, int64_t after, int kinds_min,
                         size_t limit, rf_store_log **out, size_t *n, rf_err *err)
{
    pgp p = {0};
    p_i64(&p, rollout_id);
    p_i64(&p, after);
    p_i64(&p, kinds_min);
    p_limit(&p, limit);
    return pg_list(tx,
                   "SELECT " LOG_COLS " FROM rollout_log "
                   "WHERE rollout_id = $1 AND seq > $2 AND kind >= $3 "
                   "ORDER BY seq LIMIT $4::bigint",
                   &p, row_log, rfstore_clear_log, sizeof(**out), (void **)out, n,
                   "reading a rollout log", err);
}

static rf_rc pg_inbox_put(rf_store_tx *tx, const rf_store_inbox *e, size_t n, rf_err *err)
{
    enum { NCOL = 6 };
    pga a[NCOL];
    for (int c = 0; c < NCOL; c++)
        a_init(&a[c]);
    for (size_t i = 0; i < n; i++) {
        a_i64(&a[0], e[i].rollout_id);
        a_i64(&a[1], e[i].t);
        a_i64(&a[2], e[i].kind);
        a_i64(&a[3], e[i].host);
        a_bool(&a[4], e[i].treated);
        a_f64(&a[5], e[i].value);
    }
    pgp p = {0};
    int ok = 1;
    for (int c = 0; c < NCOL; c++) {
        p_text(&p, a_done(&a[c]));
        ok = ok && p.v[c];
    }
    rf_rc rc;
    if (!ok)
        rc = rfstore_db_error(tx, err, RF_E_NOMEM, "out of memory");
    else
        rc = pg_run(tx,
                    "INSERT INTO report_inbox (rollout_id, t, kind, host, treated, value) "
                    "SELECT r, t, k, h, tr, v FROM unnest($1::bigint[], $2::bigint[], "
                    "$3::integer[], $4::bigint[], $5::boolean[], $6::float8[]) "
                    "WITH ORDINALITY AS u(r, t, k, h, tr, v, o) ORDER BY o",
                    &p, NULL, "queueing reports", err);
    for (int c = 0; c < NCOL; c++)
        rf_buf_free(&a[c].b);
    return rc;
}

static rf_rc pg_inbox_take(rf_store_tx *tx, size_t limit, rfstore_inbox_row **out, size_t *n,
                           rf_err *err)
{
    pgp p = {0};
    p_limit(&p, limit);
    rf_rc rc = pg_list(tx,
                       "DELETE FROM report_inbox WHERE id IN ("
                       "  SELECT id FROM report_inbox ORDER BY id LIMIT $1::bigint"
                       "  FOR UPDATE SKIP LOCKED) "
                       "RETURNING id, rollout_id, t, kind, host, treated, value",
                       &p, row_inbox, NULL, sizeof(**out), (void **)out, n,
                       "taking queued reports", err);
    if (rc != RF_OK)
        tx->failed = 1; /* rows may be deleted and not returned */
    return rc;
}

/* ---- audit ----------------------------------------------------------------------------- */

static rf_rc pg_audit_last(rf_store_tx *tx, int64_t *seq, char hash[65], rf_err *err)
{
    pgp p = {0};
    p_i64(&p, RFSTORE_PG_LOCK_AUDIT);
    rf_rc rc = pg_run(tx, "SELECT pg_advisory_xact_lock($1::bigint)", &p, NULL,
                      "locking the audit log", err);
    if (rc != RF_OK)
        return rc;
    /* READ COMMITTED: this statement's snapshot is taken after the lock, so
     * it sees the entry of whoever held it last. */
    PGresult *r = NULL;
    rc = pg_run(tx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", NULL, &r,
                "reading the audit log", err);
    if (rc != RF_OK)
        return rc;
    int64_t v = 0;
    char h[65];
    memset(h, '0', 64);
    h[64] = '\0';
    if (PQntuples(r) > 0) {
        pgrow g = {r, 0, RF_OK, 0};
        v = g_i64(&g, 0);
        g_fixed(&g, 1, h, sizeof(h));
        if (g.rc == RF_OK && strlen(h) != 64)
            g_bad(&g, 1, RF_E_FORMAT);
        rc = g_check(&g, err);
    }
    PQclear(r);
    if (rc != RF_OK)
        return rc;
    *seq = v;
    memcpy(hash, h, 65);
    return RF_OK;
}

static rf_rc pg_audit_insert(rf_store_tx *tx, const rf_store_audit *a, rf_err *err)
{
    pgp p = {0};
    p_i64(&p, a->seq);
    p_i64(&p, a->t);
    p_text(&p, a->actor);
    p_text(&p, a->action);
    p_text(&p, a->object);
    p_text(&p, a->detail);
    p_text(&p, a->prev);
    p_text(&p, a->hash);
    return pg_run(tx,
                  "INSERT INTO audit (" AUDIT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                  &p, NULL, "appending to the audit log", err);
}

static rf_rc pg_audit_read(rf_store_tx *tx, int64_t after, size_t limit, rf_store_audit **out,
                           size_t *n, rf_err *err)
{
    pgp p = {0};
    p_i64(&p, after);
    p_limit(&p, limit);
    return pg_list(tx,
                   "SELECT " AUDIT_COLS " FROM audit WHERE seq > $1 ORDER BY seq "
                   "LIMIT $2::bigint",
                   &p, row_audit, rfstore_clear_audit, sizeof(**out), (void **)out, n,
                   "reading the audit log", err);
}

const rfstore_ops rfstore_pg_ops = {
    .backend = RF_STORE_POSTGRES,
    .open = pg_open,
    .migrate = pg_migrate,
    .close = pg_close,
    .conn_open = pg_conn_open,
    .conn_close = pg_conn_close,
    .conn_reusable = pg_conn_reusable,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .leader_try = pg_leader_try,
    .leader_release = pg_leader_release,
    .tenant_create = pg_tenant_create,
    .tenant_get = pg_tenant_get,
    .tenant_list = pg_tenant_list,
    .token_create = pg_token_create,
    .token_by_hash = pg_token_by_hash,
    .token_revoke = pg_token_revoke,
    .token_list = pg_token_list,
    .host_create = pg_host_create,
    .host_get = pg_host_get,
    .host_list = pg_host_list,
    .host_seen_since = pg_host_seen_since,
    .host_seen = pg_host_seen,
    .policy_put = pg_policy_put,
    .policy_get = pg_policy_get,
    .policy_list = pg_policy_list,
    .release_create = pg_release_create,
    .release_get = pg_release_get,
    .release_approve = pg_release_approve,
    .release_list = pg_release_list,
    .rollout_create = pg_rollout_create,
    .rollout_get = pg_rollout_get,
    .rollout_set_state = pg_rollout_set_state,
    .rollout_list = pg_rollout_list,
    .log_reserve = pg_log_reserve,
    .log_insert = pg_log_insert,
    .log_read = pg_log_read,
    .inbox_put = pg_inbox_put,
    .inbox_take = pg_inbox_take,
    .audit_last = pg_audit_last,
    .audit_insert = pg_audit_insert,
    .audit_read = pg_audit_read,
};
