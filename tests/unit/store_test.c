/*
 * store_test.c — the store (store.h) against SQLite in a scratch directory
 * and, when RF_TEST_PG_URL names a PostgreSQL server, the very same tests
 * against it (each test in a database of its own, dropped afterwards).
 * Every call is covered: creation, lookup and listing of each kind of row,
 * uniqueness and not-found errors, rollback and commit (across close and
 * reopen), migrations that run once and a newer schema refused, the
 * batched last-seen update, policy replacement, release blobs byte-exact,
 * log seqs and read filters, the inbox's order and removal, the audit chain
 * (and a row changed behind the store's back, found by seq), leadership,
 * the exclusive SQLite open, and concurrent writers from several threads.
 * The tamper and schema tests edit the database directly (sqlite3, libpq).
 *
 *   store_test              SQLite, then PostgreSQL if RF_TEST_PG_URL is set
 *   store_test --pg-only    PostgreSQL only (ctest's unit_store_pg)
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "ringfence/store.h"
#include "ringfence/util.h"
#include "support/rm_tree.h"

#define NOW ((int64_t)1800000000)

/* ---- fixture ------------------------------------------------------------------ */

typedef struct backend {
    const char *name;
    const char *pg_url; /* the server's admin URL; NULL for SQLite */
} backend;

typedef struct fx {
    const backend *be;
    char dir[256];   /* SQLite: the scratch directory */
    char path[300];  /* SQLite: the database file */
    char db[64];     /* PostgreSQL: this test's database */
    char url[1024];  /* what rf_store_open gets */
    rf_store *st;
} fx;

/* Assert a call returns RF_OK; the call may use `E` (an rf_err). */
#define OK(call)                                                                              \
    do {                                                                                      \
        rf_err E;                                                                             \
        rf_err_clear(&E);                                                                     \
        rf_rc rc_ = (call);                                                                   \
        if (rc_ != RF_OK)                                                                     \
            fail_msg("%s -> %s: %s", #call, rf_strerror(rc_), E.msg);                         \
    } while (0)

/* Assert a call fails with `want` and a message containing `sub` (or NULL). */
#define FAILS(want, sub, call)                                                                \
    do {                                                                                      \
        rf_err E;                                                                             \
        rf_err_clear(&E);                                                                     \
        rf_rc rc_ = (call);                                                                   \
        if (rc_ != (want))                                                                    \
            fail_msg("%s -> %s (wanted %s): %s", #call, rf_strerror(rc_), rf_strerror(want),   \
                     E.msg);                                                                  \
        const char *sub_ = (sub);                                                             \
        if (sub_ && !strstr(E.msg, sub_))                                                     \
            fail_msg("%s: message \"%s\" lacks \"%s\"", #call, E.msg, sub_);                  \
    } while (0)

static int is_pg(const fx *f)
{
    return f->be->pg_url != NULL;
}

/* The admin URL with its database replaced by db. */
static void pg_url_for(const char *base, const char *db, char *out, size_t n)
{
    const char *hostpart = strstr(base, "://");
    hostpart = hostpart ? hostpart + 3 : base;
    const char *slash = strchr(hostpart, '/');
    const char *query = strchr(hostpart, '?');
    size_t keep = slash ? (size_t)(slash - base) : query ? (size_t)(query - base) : strlen(base);
    snprintf(out, n, "%.*s/%s%s", (int)keep, base, db, query ? query : "");
}

static void no_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Run SQL on a PostgreSQL URL; fails the test on error. */
static void pg_exec(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, no_notices, NULL);
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* Run SQL on the fixture's database directly, behind the store's back. */
static void raw_exec(const fx *f, const char *sql)
{
    if (is_pg(f)) {
        pg_exec(f->url, sql);
        return;
    }
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
}

/* One integer from a query on the fixture's database. */
static int64_t raw_int(const fx *f, const char *sql)
{
    int64_t v = -1;
    if (is_pg(f)) {
        PGconn *c = PQconnectdb(f->url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        PGresult *r = PQexec(c, sql);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        assert_int_equal(PQntuples(r), 1);
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
        return v;
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static rf_store *open_store(const fx *f, int exclusive)
{
    rf_store *st = NULL;
    OK(rf_store_open(f->url, 2, exclusive, &st, &E));
    return st;
}

static void reopen(fx *f)
{
    rf_store_close(f->st);
    f->st = open_store(f, 0);
}

static int setup(void **state)
{
    static unsigned counter;
    const backend *be = *state;
    fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->be = be;
    if (be->pg_url) {
        snprintf(f->db, sizeof(f->db), "rf_store_test_%ld_%u", (long)getpid(), counter++);
        char sql[160];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", f->db);
        pg_exec(be->pg_url, sql);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
        pg_exec(be->pg_url, sql);
        pg_url_for(be->pg_url, f->db, f->url, sizeof(f->url));
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(f->dir, sizeof(f->dir), "%s/rf-store-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/store.db", f->dir);
        snprintf(f->url, sizeof(f->url), "sqlite:%s", f->path);
    }
    f->st = open_store(f, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    rf_store_close(f->st);
    if (is_pg(f)) {
        char sql[160];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->db);
        pg_exec(f->be->pg_url, sql);
    } else {
        rm_tree(f->dir);
    }
    free(f);
    return 0;
}

static rf_store_tx *begin(rf_store *st, int write)
{
    rf_store_tx *tx = NULL;
    OK(rf_store_begin(st, write, &tx, &E));
    return tx;
}

static void commit(rf_store_tx *tx)
{
    OK(rf_store_commit(tx, &E));
}

static int64_t mk_tenant(rf_store_tx *tx, const char *name)
{
    int64_t id = 0;
    OK(rf_store_tenant_create(tx, name, 0, NOW, &id, &E));
    assert_true(id > 0);
    return id;
}

static int64_t mk_host(rf_store_tx *tx, int64_t tenant, const char *name)
{
    rf_store_host h = {.tenant_id = tenant, .enrolled = NOW};
    snprintf(h.group, sizeof(h.group), "servers");
    snprintf(h.hostname, sizeof(h.hostname), "%s", name);
    snprintf(h.sensor_version, sizeof(h.sensor_version), "7.11.0");
    int64_t id = 0;
    OK(rf_store_host_create(tx, &h, &id, &E));
    assert_true(id > 0);
    return id;
}

static void fill_release(rf_store_release *r, uint32_t channel, uint64_t version)
{
    memset(r, 0, sizeof(*r));
    r->channel = channel;
    r->content_version = version;
    snprintf(r->template_type, sizeof(r->template_type), "named_pipe");
    r->template_version = 3;
    r->inputs_required = 21;
    memset(r->sha256, 'a', 64);
    snprintf(r->state, sizeof(r->state), "validated");
    snprintf(r->author, sizeof(r->author), "alice");
    r->created = NOW;
}

static int64_t mk_release(rf_store_tx *tx, uint32_t channel, uint64_t version)
{
    rf_store_release r;
    fill_release(&r, channel, version);
    int64_t id = 0;
    OK(rf_store_release_create(tx, &r, &id, &E));
    return id;
}

static int64_t mk_rollout(rf_store_tx *tx, int64_t release_id)
{
    rf_store_rollout r = {.release_id = release_id, .channel = 291, .content_version = 7,
                          .seed = 42, .t0 = NOW, .fleet_max_host = 10, .updated = NOW};
    snprintf(r.state, sizeof(r.state), "running");
    snprintf(r.operator_name, sizeof(r.operator_name), "olga");
    int64_t id = 0;
    OK(rf_store_rollout_create(tx, &r, &id, &E));
    return id;
}

/* ---- open, schema, transactions -------------------------------------------------- */

static void test_open_schema(void **state)
{
    fx *f = *state;
    assert_int_equal(rf_store_backend_of(f->st), is_pg(f) ? RF_STORE_POSTGRES : RF_STORE_SQLITE);
    assert_int_equal(rf_store_schema_version(f->st), RF_STORE_SCHEMA_VERSION);
    /* Reopening runs no migration again. */
    reopen(f);
    reopen(f);
    assert_int_equal(rf_store_schema_version(f->st), RF_STORE_SCHEMA_VERSION);
    /* One row per script, each applied once. */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM schema_version"), RF_STORE_SCHEMA_VERSION);
    assert_int_equal(raw_int(f, "SELECT max(version) FROM schema_version"),
                     RF_STORE_SCHEMA_VERSION);
    if (!is_pg(f)) {
        assert_int_equal(raw_int(f, "SELECT count(*) FROM pragma_journal_mode "
                                    "WHERE journal_mode = 'wal'"),
                         1);
    }
}

static void test_newer_schema_refused(void **state)
{
    fx *f = *state;
    char sql[128], want[64];
    int newer = RF_STORE_SCHEMA_VERSION + 1;
    snprintf(sql, sizeof(sql), "INSERT INTO schema_version (version, applied) VALUES (%d, 0)",
             newer);
    snprintf(want, sizeof(want), "schema version %d", newer);
    raw_exec(f, sql);
    rf_store_close(f->st);
    f->st = NULL;
    rf_store *st = NULL;
    FAILS(RF_E_UNSUPPORTED, want, rf_store_open(f->url, 0, 0, &st, &E));
    assert_null(st);
    /* Nothing was changed by the refusal. */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM schema_version"), newer);
    snprintf(sql, sizeof(sql), "DELETE FROM schema_version WHERE version = %d", newer);
    raw_exec(f, sql);
    f->st = open_store(f, 0);
}

static void test_open_errors(void **state)
{
    fx *f = *state;
    rf_store *st = NULL;
    FAILS(RF_E_USAGE, NULL, rf_store_open(NULL, 0, 0, &st, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_open(f->url, 0, 0, NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_open("sqlite:", 0, 0, &st, &E));
    FAILS(RF_E_IO, NULL, rf_store_open("/nonexistent-dir/x/store.db", 0, 0, &st, &E));
    /* Port 1 on loopback: refused at once. */
    FAILS(RF_E_IO, "connect", rf_store_open("postgresql://127.0.0.1:1/x", 0, 0, &st, &E));
    assert_null(st);

    /* A memory database: one connection, so every transaction sees it. */
    OK(rf_store_open("sqlite::memory:", 4, 1, &st, &E));
    rf_store_tx *tx = begin(st, 1);
    int64_t id = mk_tenant(tx, "mem");
    commit(tx);
    tx = begin(st, 0);
    rf_store_tenant t;
    OK(rf_store_tenant_by_id(tx, id, &t, &E));
    assert_string_equal(t.name, "mem");
    rf_store_rollback(tx);
    rf_store_close(st);
}

static void test_null_args(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = NULL;
    FAILS(RF_E_USAGE, NULL, rf_store_begin(NULL, 1, &tx, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_begin(f->st, 1, NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_commit(NULL, &E));
    rf_store_rollback(NULL);
    rf_store_close(NULL);
    rf_store_release_free(NULL);
    rf_store_rollout_free(NULL);
    rf_store_log_free_array(NULL, 3);
    rf_store_audit_free_array(NULL, 3);
    int64_t id;
    rf_store_tenant t;
    FAILS(RF_E_USAGE, NULL, rf_store_tenant_create(NULL, "a", 0, NOW, &id, &E));
    tx = begin(f->st, 1);
    FAILS(RF_E_USAGE, NULL, rf_store_tenant_create(tx, NULL, 0, NOW, &id, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_tenant_create(tx, "a", 0, NOW, NULL, &E));
    FAILS(RF_E_USAGE, "tenant name", rf_store_tenant_create(tx, "Bad Name", 0, NOW, &id, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_tenant_create(tx, "", 0, NOW, &id, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_tenant_get(tx, NULL, &t, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_tenant_get(tx, "a", NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_tenant_list(tx, NULL, NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_token_create(tx, NULL, &id, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_token_by_hash(tx, NULL, NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_host_create(tx, NULL, &id, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_host_get(tx, 1, NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_host_seen(tx, NULL, NULL, 3, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_policy_put(tx, NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_policy_get(tx, 1, NULL, 1, NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_release_create(tx, NULL, &id, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_release_approve(tx, 1, NULL, NOW, "t", &E));
    FAILS(RF_E_USAGE, NULL, rf_store_rollout_create(tx, NULL, &id, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_rollout_set_state(tx, 1, NULL, NOW, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_log_append(tx, NULL, 2, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_log_read(tx, 1, 0, 0, 0, NULL, NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_inbox_put(tx, NULL, 2, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_inbox_take(tx, 1, NULL, NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_audit_append(tx, NOW, NULL, "a", "o", "{}", NULL, &E));
    FAILS(RF_E_USAGE, NULL, rf_store_audit_read(tx, 0, 0, NULL, NULL, &E));
    uint64_t count;
    FAILS(RF_E_USAGE, NULL, rf_store_audit_verify(NULL, &count, &E));
    int leader;
    FAILS(RF_E_USAGE, NULL, rf_store_leader_try(NULL, &leader, &E));
    /* A non-finite value cannot be stored the same in both databases. */
    rf_store_log e = {.rollout_id = 1, .value = NAN};
    FAILS(RF_E_USAGE, NULL, rf_store_log_append(tx, &e, 1, &E));
    /* Usage errors do not spoil the transaction. */
    mk_tenant(tx, "still-fine");
    commit(tx);

    /* A change in a read transaction is refused. */
    tx = begin(f->st, 0);
    FAILS(RF_E_USAGE, "write transaction", rf_store_tenant_create(tx, "ro", 0, NOW, &id, &E));
    OK(rf_store_tenant_get(tx, "still-fine", &t, &E));
    rf_store_rollback(tx);
}

static void test_rollback_discards(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t tid = mk_tenant(tx, "gone");
    mk_host(tx, tid, "h1");
    OK(rf_store_audit_append(tx, NOW, "engine", "x", "y", "{}", NULL, &E));
    rf_store_rollback(tx);

    tx = begin(f->st, 0);
    rf_store_tenant t;
    FAILS(RF_E_NOTFOUND, "gone", rf_store_tenant_get(tx, "gone", &t, &E));
    rf_store_host *hs = (rf_store_host *)1;
    size_t n = 99;
    OK(rf_store_host_list(tx, 0, &hs, &n, &E));
    assert_int_equal(n, 0);
    free(hs);
    rf_store_audit *a = NULL;
    OK(rf_store_audit_read(tx, 0, 0, &a, &n, &E));
    assert_int_equal(n, 0);
    rf_store_audit_free_array(a, n);
    rf_store_rollback(tx);

    /* The same name can be taken after the rollback. */
    tx = begin(f->st, 1);
    mk_tenant(tx, "gone");
    commit(tx);
}

static void test_commit_persists(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t tid = mk_tenant(tx, "acme");
    int64_t hid = mk_host(tx, tid, "db-01");
    int64_t rid = mk_release(tx, 291, 9);
    int64_t ro = mk_rollout(tx, rid);
    OK(rf_store_audit_append(tx, NOW, "token:1 (admin root)", "tenant.create", "tenant/1",
                             "{\"name\":\"acme\"}", NULL, &E));
    commit(tx);
    rf_store_close(f->st);
    f->st = open_store(f, 0);

    tx = begin(f->st, 0);
    rf_store_tenant t;
    OK(rf_store_tenant_get(tx, "acme", &t, &E));
    assert_int_equal(t.id, tid);
    rf_store_host h;
    OK(rf_store_host_get(tx, hid, &h, &E));
    assert_string_equal(h.hostname, "db-01");
    rf_store_rollout r;
    OK(rf_store_rollout_get(tx, ro, &r, &E));
    assert_int_equal(r.release_id, rid);
    rf_store_rollout_free(&r);
    rf_store_rollback(tx);
    uint64_t count = 0;
    OK(rf_store_audit_verify(f->st, &count, &E));
    assert_int_equal(count, 1);
}

/* After a database error the transaction is spoiled: later calls and the
 * commit are refused, and nothing of it is kept. */
static void test_failed_transaction(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    mk_tenant(tx, "before");
    rf_store_host h = {.tenant_id = 999999};
    int64_t id;
    FAILS(RF_E_NOTFOUND, "tenant 999999", rf_store_host_create(tx, &h, &id, &E));
    rf_store_tenant t;
    FAILS(RF_E_IO, "roll it back", rf_store_tenant_get(tx, "before", &t, &E));
    FAILS(RF_E_IO, "not committed", rf_store_commit(tx, &E));

    tx = begin(f->st, 0);
    FAILS(RF_E_NOTFOUND, NULL, rf_store_tenant_get(tx, "before", &t, &E));
    rf_store_rollback(tx);
}

/* ---- tenants, tokens, hosts --------------------------------------------------------- */

static void test_tenants(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t a = 0, b = 0;
    OK(rf_store_tenant_create(tx, "vendor", 1, NOW, &a, &E));
    OK(rf_store_tenant_create(tx, "acme-co_2", 0, NOW + 5, &b, &E));
    assert_true(b > a);
    int64_t c = -7;
    FAILS(RF_E_SCHEMA, "\"vendor\"", rf_store_tenant_create(tx, "vendor", 0, NOW, &c, &E));
    assert_int_equal(c, -7);
    /* The conflict did not spoil the transaction. */
    rf_store_tenant t;
    OK(rf_store_tenant_get(tx, "acme-co_2", &t, &E));
    commit(tx);

    tx = begin(f->st, 0);
    memset(&t, 0x55, sizeof(t));
    OK(rf_store_tenant_get(tx, "vendor", &t, &E));
    assert_int_equal(t.id, a);
    assert_string_equal(t.name, "vendor");
    assert_int_equal(t.internal, 1);
    assert_int_equal(t.created, NOW);
    OK(rf_store_tenant_by_id(tx, b, &t, &E));
    assert_string_equal(t.name, "acme-co_2");
    assert_int_equal(t.internal, 0);
    assert_int_equal(t.created, NOW + 5);
    rf_store_tenant keep = t;
    FAILS(RF_E_NOTFOUND, "\"nope\"", rf_store_tenant_get(tx, "nope", &t, &E));
    FAILS(RF_E_NOTFOUND, "tenant 4242", rf_store_tenant_by_id(tx, 4242, &t, &E));
    assert_memory_equal(&t, &keep, sizeof(t)); /* out untouched on failure */

    rf_store_tenant *list = NULL;
    size_t n = 0;
    OK(rf_store_tenant_list(tx, &list, &n, &E));
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "vendor");
    assert_string_equal(list[1].name, "acme-co_2");
    free(list);
    rf_store_rollback(tx);
}

static void test_tokens(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t tid = mk_tenant(tx, "acme");
    int64_t hid = mk_host(tx, tid, "ws-1");
    rf_store_token k = {.tenant_id = tid, .host_id = hid, .created = NOW};
    rf_sha256("rf_secret", 9, k.hash);
    snprintf(k.role, sizeof(k.role), "agent");
    snprintf(k.name, sizeof(k.name), "host:ws-1");
    int64_t id1 = 0, id2 = 0;
    OK(rf_store_token_create(tx, &k, &id1, &E));
    rf_store_token admin = {.created = NOW, .revoked = 1};
    memset(admin.hash, 0, 32); /* NUL bytes in the hash */
    admin.hash[31] = 1;
    snprintf(admin.role, sizeof(admin.role), "admin");
    snprintf(admin.name, sizeof(admin.name), "root");
    OK(rf_store_token_create(tx, &admin, &id2, &E));
    FAILS(RF_E_SCHEMA, "token", rf_store_token_create(tx, &k, &id2, &E));
    rf_store_token bad = k;
    bad.hash[0] ^= 1;
    bad.tenant_id = 777777;
    FAILS(RF_E_NOTFOUND, NULL, rf_store_token_create(tx, &bad, &id2, &E));
    rf_store_rollback(tx);

    tx = begin(f->st, 1);
    tid = mk_tenant(tx, "acme");
    hid = mk_host(tx, tid, "ws-1");
    k.tenant_id = tid;
    k.host_id = hid;
    OK(rf_store_token_create(tx, &k, &id1, &E));
    OK(rf_store_token_create(tx, &admin, &id2, &E));
    commit(tx);

    tx = begin(f->st, 0);
    rf_store_token got;
    OK(rf_store_token_by_hash(tx, k.hash, &got, &E));
    assert_int_equal(got.id, id1);
    assert_memory_equal(got.hash, k.hash, 32);
    assert_string_equal(got.role, "agent");
    assert_string_equal(got.name, "host:ws-1");
    assert_int_equal(got.tenant_id, tid);
    assert_int_equal(got.host_id, hid);
    assert_int_equal(got.created, NOW);
    assert_int_equal(got.revoked, 0);
    OK(rf_store_token_by_hash(tx, admin.hash, &got, &E));
    assert_int_equal(got.id, id2);
    assert_int_equal(got.tenant_id, 0);
    assert_int_equal(got.host_id, 0);
    assert_int_equal(got.revoked, 1);
    uint8_t none[32] = {9};
    FAILS(RF_E_NOTFOUND, "token", rf_store_token_by_hash(tx, none, &got, &E));
    /* Lists: the tenant's, the vendor's (no tenant), all. */
    rf_store_token *tl = NULL;
    size_t tn = 0;
    OK(rf_store_token_list(tx, tid, &tl, &tn, &E));
    assert_int_equal(tn, 1);
    assert_int_equal(tl[0].id, id1);
    free(tl);
    OK(rf_store_token_list(tx, 0, &tl, &tn, &E));
    assert_int_equal(tn, 1);
    assert_int_equal(tl[0].id, id2);
    free(tl);
    OK(rf_store_token_list(tx, -1, &tl, &tn, &E));
    assert_int_equal(tn, 2);
    free(tl);
    FAILS(RF_E_USAGE, NULL, rf_store_token_revoke(tx, id1, &E)); /* a read transaction */
    rf_store_rollback(tx);

    /* Revoking marks it; the row stays for the audit log's references. */
    tx = begin(f->st, 1);
    OK(rf_store_token_revoke(tx, id1, &E));
    FAILS(RF_E_NOTFOUND, "not found", rf_store_token_revoke(tx, 424242, &E));
    commit(tx);
    tx = begin(f->st, 0);
    OK(rf_store_token_by_hash(tx, k.hash, &got, &E));
    assert_int_equal(got.revoked, 1);
    rf_store_rollback(tx);
}

static void test_hosts(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t tid = mk_tenant(tx, "acme");
    enum { N = 3000 };
    static int64_t ids[N + 1], times[N + 1];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "host-%04d", i);
        ids[i] = mk_host(tx, tid, name);
    }
    commit(tx);

    tx = begin(f->st, 0);
    rf_store_host h;
    OK(rf_store_host_get(tx, ids[7], &h, &E));
    assert_int_equal(h.id, ids[7]);
    assert_int_equal(h.tenant_id, tid);
    assert_string_equal(h.group, "servers");
    assert_string_equal(h.hostname, "host-0007");
    assert_string_equal(h.sensor_version, "7.11.0");
    assert_int_equal(h.enrolled, NOW);
    assert_int_equal(h.last_seen, 0);
    FAILS(RF_E_NOTFOUND, "host 99999999", rf_store_host_get(tx, 99999999, &h, &E));
    rf_store_host *list = NULL;
    size_t n = 0;
    OK(rf_store_host_list(tx, 0, &list, &n, &E));
    assert_int_equal(n, N);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(list[i].id, ids[i]);
    free(list);
    OK(rf_store_host_list(tx, ids[99], &list, &n, &E));
    assert_int_equal(n, 100);
    assert_int_equal(list[99].id, ids[99]);
    free(list);
    rf_store_rollback(tx);

    /* Last-seen for every host in one batch; host 0 twice (the last wins),
     * and an id that does not exist (ignored). */
    for (int i = 0; i < N; i++)
        times[i] = NOW + 1000 + i;
    ids[N] = ids[0];
    times[N] = NOW + 5;
    tx = begin(f->st, 1);
    OK(rf_store_host_seen(tx, ids, times, N + 1, &E));
    int64_t ghost = 99999999, t = NOW;
    OK(rf_store_host_seen(tx, &ghost, &t, 1, &E));
    OK(rf_store_host_seen(tx, NULL, NULL, 0, &E));
    commit(tx);

    tx = begin(f->st, 0);
    OK(rf_store_host_list(tx, 0, &list, &n, &E));
    assert_int_equal(n, N);
    assert_int_equal(list[0].last_seen, NOW + 5);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(list[i].last_seen, NOW + 1000 + (int64_t)i);
    free(list);
    /* Seen after a time: only the later ones, by id. */
    OK(rf_store_host_seen_since(tx, NOW + 1000 + N - 4, &list, &n, &E));
    assert_int_equal(n, 3);
    assert_int_equal(list[0].id, ids[N - 3]);
    assert_int_equal(list[2].last_seen, NOW + 1000 + N - 1);
    free(list);
    rf_store_rollback(tx);
}

/* ---- policies and releases ---------------------------------------------------------- */

static void test_policies(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t a = mk_tenant(tx, "a");
    int64_t b = mk_tenant(tx, "b");
    rf_store_policy p = {.tenant_id = b, .channel = 291, .ga_delay_s = 3600, .updated = NOW};
    snprintf(p.group, sizeof(p.group), "*");
    snprintf(p.mode, sizeof(p.mode), "ga");
    OK(rf_store_policy_put(tx, &p, &E));
    p.tenant_id = a;
    snprintf(p.group, sizeof(p.group), "dc-east");
    snprintf(p.mode, sizeof(p.mode), "early");
    OK(rf_store_policy_put(tx, &p, &E));
    p.channel = 292;
    OK(rf_store_policy_put(tx, &p, &E));
    /* Replace (a, dc-east, 291). */
    rf_store_policy q = {.tenant_id = a, .channel = 291, .ga_delay_s = 7,
                         .pinned_version = UINT64_MAX - 1, .emergency_opt_in = 1,
                         .updated = NOW + 60};
    snprintf(q.group, sizeof(q.group), "dc-east");
    snprintf(q.mode, sizeof(q.mode), "pinned");
    OK(rf_store_policy_put(tx, &q, &E));
    rf_store_policy bad = q;
    bad.tenant_id = 888888;
    FAILS(RF_E_NOTFOUND, "tenant 888888", rf_store_policy_put(tx, &bad, &E));
    rf_store_rollback(tx);

    /* Again, committed. */
    tx = begin(f->st, 1);
    a = mk_tenant(tx, "a");
    b = mk_tenant(tx, "b");
    p.tenant_id = b;
    p.channel = 291;
    snprintf(p.group, sizeof(p.group), "*");
    snprintf(p.mode, sizeof(p.mode), "ga");
    OK(rf_store_policy_put(tx, &p, &E));
    p.tenant_id = a;
    snprintf(p.group, sizeof(p.group), "dc-east");
    snprintf(p.mode, sizeof(p.mode), "early");
    OK(rf_store_policy_put(tx, &p, &E));
    p.channel = 292;
    OK(rf_store_policy_put(tx, &p, &E));
    q.tenant_id = a;
    OK(rf_store_policy_put(tx, &q, &E));
    commit(tx);

    tx = begin(f->st, 0);
    rf_store_policy got;
    OK(rf_store_policy_get(tx, a, "dc-east", 291, &got, &E));
    assert_int_equal(got.tenant_id, a);
    assert_string_equal(got.group, "dc-east");
    assert_int_equal(got.channel, 291);
    assert_string_equal(got.mode, "pinned");
    assert_int_equal(got.ga_delay_s, 7);
    assert_true(got.pinned_version == UINT64_MAX - 1);
    assert_int_equal(got.emergency_opt_in, 1);
    assert_int_equal(got.updated, NOW + 60);
    OK(rf_store_policy_get(tx, a, "dc-east", 292, &got, &E));
    assert_string_equal(got.mode, "early");
    FAILS(RF_E_NOTFOUND, "dc-west", rf_store_policy_get(tx, a, "dc-west", 291, &got, &E));
    rf_store_policy *list = NULL;
    size_t n = 0;
    OK(rf_store_policy_list(tx, 291, &list, &n, &E));
    assert_int_equal(n, 2);
    assert_int_equal(list[0].tenant_id, a);
    assert_string_equal(list[0].mode, "pinned");
    assert_int_equal(list[1].tenant_id, b);
    assert_string_equal(list[1].group, "*");
    free(list);
    OK(rf_store_policy_list(tx, 7, &list, &n, &E));
    assert_int_equal(n, 0);
    free(list);
    rf_store_rollback(tx);
}

static void test_releases(void **state)
{
    fx *f = *state;
    /* Every byte value, NULs among them. */
    uint8_t file[3 * 256];
    for (size_t i = 0; i < sizeof(file); i++)
        file[i] = (uint8_t)(i * 7);
    file[0] = 0;
    file[sizeof(file) - 1] = 0;

    rf_store_tx *tx = begin(f->st, 1);
    rf_store_release r;
    fill_release(&r, 291, UINT64_MAX);
    r.channel_file = file;
    r.channel_len = sizeof(file);
    r.manifests = "---\nsensor: 7.11\ninputs: [1, 2]\n...\n";
    r.report = "{\"ok\": true, \"quote\": \"\\\"\"}";
    int64_t id1 = 0, id2 = 0, id3 = 0, dup = -1;
    OK(rf_store_release_create(tx, &r, &id1, &E));
    FAILS(RF_E_SCHEMA, "content version 18446744073709551615",
          rf_store_release_create(tx, &r, &dup, &E));
    assert_int_equal(dup, -1);
    rf_store_release e;
    fill_release(&e, 291, 2); /* no file, no manifests, no report */
    OK(rf_store_release_create(tx, &e, &id2, &E));
    fill_release(&e, 4000000000u, 2);
    OK(rf_store_release_create(tx, &e, &id3, &E));
    commit(tx);

    tx = begin(f->st, 0);
    rf_store_release got;
    OK(rf_store_release_get(tx, id1, 1, &got, &E));
    assert_int_equal(got.id, id1);
    assert_int_equal(got.channel, 291);
    assert_true(got.content_version == UINT64_MAX);
    assert_string_equal(got.template_type, "named_pipe");
    assert_int_equal(got.template_version, 3);
    assert_int_equal(got.inputs_required, 21);
    assert_int_equal(strlen(got.sha256), 64);
    assert_string_equal(got.state, "validated");
    assert_string_equal(got.author, "alice");
    assert_string_equal(got.approver, "");
    assert_int_equal(got.approved, 0);
    assert_string_equal(got.target, "");
    assert_int_equal(got.channel_len, sizeof(file));
    assert_non_null(got.channel_file);
    assert_memory_equal(got.channel_file, file, sizeof(file));
    assert_string_equal(got.manifests, r.manifests);
    assert_string_equal(got.report, r.report);
    rf_store_release_free(&got);
    assert_null(got.channel_file);

    OK(rf_store_release_get(tx, id1, 0, &got, &E));
    assert_null(got.channel_file);
    assert_null(got.manifests);
    assert_int_equal(got.channel_len, sizeof(file));
    rf_store_release_free(&got);

    OK(rf_store_release_get(tx, id2, 1, &got, &E));
    assert_non_null(got.channel_file);
    assert_int_equal(got.channel_len, 0);
    assert_string_equal(got.manifests, "");
    assert_string_equal(got.report, "");
    rf_store_release_free(&got);
    FAILS(RF_E_NOTFOUND, "release 555", rf_store_release_get(tx, 555, 1, &got, &E));

    rf_store_release *list = NULL;
    size_t n = 0;
    OK(rf_store_release_list(tx, 0, &list, &n, &E));
    assert_int_equal(n, 3);
    assert_int_equal(list[0].id, id3); /* newest first */
    assert_int_equal(list[1].id, id2);
    assert_int_equal(list[2].id, id1);
    assert_int_equal(list[0].channel, 4000000000u);
    for (size_t i = 0; i < n; i++) {
        assert_null(list[i].channel_file);
        rf_store_release_free(&list[i]);
    }
    free(list);
    OK(rf_store_release_list(tx, 291, &list, &n, &E));
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, id2);
    assert_int_equal(list[1].id, id1);
    for (size_t i = 0; i < n; i++)
        rf_store_release_free(&list[i]);
    free(list);
    rf_store_rollback(tx);

    tx = begin(f->st, 1);
    OK(rf_store_release_approve(tx, id1, "bob", NOW + 100, "channels/291/C-00291-0001.sys", &E));
    FAILS(RF_E_NOTFOUND, "release 555",
          rf_store_release_approve(tx, 555, "bob", NOW, "x", &E));
    commit(tx);
    tx = begin(f->st, 0);
    OK(rf_store_release_get(tx, id1, 0, &got, &E));
    assert_string_equal(got.state, "approved");
    assert_string_equal(got.approver, "bob");
    assert_int_equal(got.approved, NOW + 100);
    assert_string_equal(got.target, "channels/291/C-00291-0001.sys");
    rf_store_release_free(&got);
    rf_store_rollback(tx);
}

/* ---- rollouts, the log, the inbox ------------------------------------------------------- */

static void test_rollouts(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t rel = mk_release(tx, 291, 7);
    rf_store_rollout r = {.release_id = rel, .channel = 291, .content_version = 7,
                          .last_good_version = 6, .emergency = 1,
                          .seed = 0xfedcba9876543210ull, .t0 = NOW, .fleet_max_host = 8500000,
                          .updated = NOW};
    snprintf(r.reason, sizeof(r.reason), "CVE-2024-0001: \"urgent\" fix");
    snprintf(r.operator_name, sizeof(r.operator_name), "olga");
    snprintf(r.state, sizeof(r.state), "running");
    r.plan = "stages:\n  - {name: canary, percent: 1}\n";
    int64_t a = 0, b = 0;
    OK(rf_store_rollout_create(tx, &r, &a, &E));
    r.plan = NULL;
    r.emergency = 0;
    OK(rf_store_rollout_create(tx, &r, &b, &E));
    rf_store_rollout bad = r;
    bad.release_id = 31337;
    int64_t c;
    FAILS(RF_E_NOTFOUND, "release 31337", rf_store_rollout_create(tx, &bad, &c, &E));
    rf_store_rollback(tx);

    tx = begin(f->st, 1);
    rel = mk_release(tx, 291, 7);
    r.release_id = rel;
    r.plan = "stages:\n  - {name: canary, percent: 1}\n";
    r.emergency = 1;
    OK(rf_store_rollout_create(tx, &r, &a, &E));
    r.plan = NULL;
    r.emergency = 0;
    OK(rf_store_rollout_create(tx, &r, &b, &E));
    OK(rf_store_rollout_set_state(tx, b, "halted", NOW + 30, &E));
    FAILS(RF_E_NOTFOUND, "rollout 999", rf_store_rollout_set_state(tx, 999, "halted", NOW, &E));
    commit(tx);

    tx = begin(f->st, 0);
    rf_store_rollout got;
    OK(rf_store_rollout_get(tx, a, &got, &E));
    assert_int_equal(got.id, a);
    assert_int_equal(got.release_id, rel);
    assert_int_equal(got.channel, 291);
    assert_int_equal(got.content_version, 7);
    assert_int_equal(got.last_good_version, 6);
    assert_int_equal(got.emergency, 1);
    assert_string_equal(got.reason, "CVE-2024-0001: \"urgent\" fix");
    assert_string_equal(got.operator_name, "olga");
    assert_true(got.seed == 0xfedcba9876543210ull);
    assert_int_equal(got.t0, NOW);
    assert_int_equal(got.fleet_max_host, 8500000);
    assert_string_equal(got.state, "running");
    assert_string_equal(got.plan, "stages:\n  - {name: canary, percent: 1}\n");
    assert_int_equal(got.updated, NOW);
    rf_store_rollout_free(&got);
    assert_null(got.plan);
    OK(rf_store_rollout_get(tx, b, &got, &E));
    assert_string_equal(got.state, "halted");
    assert_int_equal(got.updated, NOW + 30);
    assert_string_equal(got.plan, "");
    rf_store_rollout_free(&got);
    FAILS(RF_E_NOTFOUND, "rollout 999", rf_store_rollout_get(tx, 999, &got, &E));

    rf_store_rollout *list = NULL;
    size_t n = 0;
    OK(rf_store_rollout_list(tx, NULL, &list, &n, &E));
    assert_int_equal(n, 2);
    assert_int_equal(list[0].id, a);
    assert_int_equal(list[1].id, b);
    for (size_t i = 0; i < n; i++)
        rf_store_rollout_free(&list[i]);
    free(list);
    OK(rf_store_rollout_list(tx, "halted", &list, &n, &E));
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, b);
    rf_store_rollout_free(&list[0]);
    free(list);
    OK(rf_store_rollout_list(tx, "complete", &list, &n, &E));
    assert_int_equal(n, 0);
    free(list);
    rf_store_rollback(tx);
}

static void test_log(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t rel = mk_release(tx, 291, 7);
    int64_t a = mk_rollout(tx, rel), b = mk_rollout(tx, rel);
    /* Interleaved rollouts; details that need quoting; exact doubles. */
    rf_store_log e[6] = {
        {.rollout_id = a, .t = NOW, .kind = 0, .host = 5, .treated = 1, .value = 0.1},
        {.rollout_id = b, .t = NOW, .kind = 3, .host = 6, .value = -2.5e-300},
        {.rollout_id = a, .t = NOW + 1, .kind = RF_LOG_POLICY, .host = 2,
         .detail = "{\"group\":\"dc \\\"east\\\"\",\"path\":\"C:\\\\x\",\"u\":\"\xc3\xa9\"}"},
        {.rollout_id = a, .t = NOW + 2, .kind = 1, .host = -1, .value = 1e308},
        {.rollout_id = a, .t = NOW + 3, .kind = RF_LOG_STEP, .host = -1,
         .detail = "{\"action\":\"promote\"}"},
        {.rollout_id = b, .t = NOW + 3, .kind = RF_LOG_OP_HALT, .host = -1, .detail = "NULL"},
    };
    OK(rf_store_log_append(tx, e, 6, &E));
    assert_int_equal(e[0].seq, 1);
    assert_int_equal(e[1].seq, 1);
    assert_int_equal(e[2].seq, 2);
    assert_int_equal(e[3].seq, 3);
    assert_int_equal(e[4].seq, 4);
    assert_int_equal(e[5].seq, 2);
    commit(tx);

    tx = begin(f->st, 1);
    rf_store_log more[2] = {
        {.rollout_id = a, .t = NOW + 9, .kind = RF_LOG_OP_RESUME, .host = -1},
        {.rollout_id = 424242, .t = NOW + 9, .kind = 0},
    };
    FAILS(RF_E_NOTFOUND, "rollout 424242", rf_store_log_append(tx, more, 2, &E));
    assert_int_equal(more[0].seq, 0); /* not written back on failure */
    rf_store_rollback(tx);
    tx = begin(f->st, 1);
    OK(rf_store_log_append(tx, more, 1, &E));
    assert_int_equal(more[0].seq, 5);
    OK(rf_store_log_append(tx, more, 0, &E));
    commit(tx);

    /* The lock reserves nothing: it tells the last seq, the next append
     * follows it, and an unknown rollout or a read transaction is refused. */
    tx = begin(f->st, 1);
    int64_t last = -1;
    OK(rf_store_rollout_lock(tx, a, &last, &E));
    assert_int_equal(last, 5);
    OK(rf_store_rollout_lock(tx, a, NULL, &E));
    FAILS(RF_E_NOTFOUND, "424242", rf_store_rollout_lock(tx, 424242, &last, &E));
    rf_store_rollback(tx);
    tx = begin(f->st, 0);
    FAILS(RF_E_USAGE, NULL, rf_store_rollout_lock(tx, a, &last, &E));
    rf_store_rollback(tx);
    tx = begin(f->st, 1);
    OK(rf_store_rollout_lock(tx, b, &last, &E));
    assert_int_equal(last, 2);
    rf_store_rollback(tx);

    tx = begin(f->st, 0);
    rf_store_log *got = NULL;
    size_t n = 0;
    OK(rf_store_log_read(tx, a, 0, 0, 0, &got, &n, &E));
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i].seq, (int64_t)i + 1);
        assert_int_equal(got[i].rollout_id, a);
    }
    assert_int_equal(got[0].t, NOW);
    assert_int_equal(got[0].kind, 0);
    assert_int_equal(got[0].host, 5);
    assert_int_equal(got[0].treated, 1);
    assert_true(got[0].value == 0.1);
    assert_null(got[0].detail);
    assert_string_equal(got[1].detail, e[2].detail);
    assert_int_equal(got[1].kind, RF_LOG_POLICY);
    assert_true(got[2].value == 1e308);
    assert_int_equal(got[2].host, -1);
    assert_string_equal(got[3].detail, "{\"action\":\"promote\"}");
    assert_int_equal(got[4].kind, RF_LOG_OP_RESUME);
    rf_store_log_free_array(got, n);

    OK(rf_store_log_read(tx, a, 2, 0, 0, &got, &n, &E));
    assert_int_equal(n, 3);
    assert_int_equal(got[0].seq, 3);
    rf_store_log_free_array(got, n);
    OK(rf_store_log_read(tx, a, 0, RF_LOG_STEP, 0, &got, &n, &E));
    assert_int_equal(n, 2);
    assert_int_equal(got[0].seq, 4);
    assert_int_equal(got[1].seq, 5);
    rf_store_log_free_array(got, n);
    OK(rf_store_log_read(tx, a, 1, 0, 2, &got, &n, &E));
    assert_int_equal(n, 2);
    assert_int_equal(got[0].seq, 2);
    assert_int_equal(got[1].seq, 3);
    rf_store_log_free_array(got, n);
    OK(rf_store_log_read(tx, b, 0, 0, 0, &got, &n, &E));
    assert_int_equal(n, 2);
    assert_true(got[0].value == -2.5e-300);
    assert_int_equal(got[0].kind, 3);
    assert_string_equal(got[1].detail, "NULL"); /* the text, not SQL NULL */
    rf_store_log_free_array(got, n);
    OK(rf_store_log_read(tx, a, 5, 0, 0, &got, &n, &E));
    assert_int_equal(n, 0);
    rf_store_log_free_array(got, n);
    OK(rf_store_log_read(tx, 31337, 0, 0, 0, &got, &n, &E));
    assert_int_equal(n, 0);
    rf_store_log_free_array(got, n);
    rf_store_rollback(tx);
}

static void test_log_batch(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t rel = mk_release(tx, 291, 7);
    int64_t ro[3];
    for (int i = 0; i < 3; i++)
        ro[i] = mk_rollout(tx, rel);
    enum { N = 5000 };
    rf_store_log *e = calloc(N, sizeof(*e));
    assert_non_null(e);
    for (int i = 0; i < N; i++) {
        e[i].rollout_id = ro[(i * 7) % 3];
        e[i].t = NOW + i;
        e[i].kind = i % 8;
        e[i].host = i;
        e[i].value = i / 3.0;
    }
    OK(rf_store_log_append(tx, e, N, &E));
    commit(tx);
    int64_t next[3] = {1, 1, 1};
    for (int i = 0; i < N; i++)
        assert_int_equal(e[i].seq, next[(i * 7) % 3]++);

    tx = begin(f->st, 0);
    rf_store_log *got = NULL;
    size_t n = 0;
    OK(rf_store_log_read(tx, ro[1], 0, 0, 0, &got, &n, &E));
    assert_int_equal(n, (size_t)(next[1] - 1));
    size_t k = 0;
    for (int i = 0; i < N; i++) {
        if (e[i].rollout_id != ro[1])
            continue;
        assert_int_equal(got[k].seq, e[i].seq);
        assert_int_equal(got[k].host, i);
        assert_true(got[k].value == i / 3.0);
        k++;
    }
    rf_store_log_free_array(got, n);
    rf_store_rollback(tx);
    free(e);
}

static void test_inbox(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t rel = mk_release(tx, 291, 7);
    int64_t ro = mk_rollout(tx, rel);
    rf_store_inbox in[5];
    for (int i = 0; i < 5; i++)
        in[i] = (rf_store_inbox){.rollout_id = ro, .t = NOW + i, .kind = i, .host = 100 + i,
                                 .treated = i & 1, .value = i + 0.25};
    OK(rf_store_inbox_put(tx, in, 3, &E));
    OK(rf_store_inbox_put(tx, in + 3, 2, &E));
    OK(rf_store_inbox_put(tx, in, 0, &E));
    rf_store_inbox bad = {.rollout_id = 9999};
    rf_store_inbox *out = NULL;
    size_t n = 0;
    commit(tx);

    tx = begin(f->st, 1);
    FAILS(RF_E_NOTFOUND, NULL, rf_store_inbox_put(tx, &bad, 1, &E));
    rf_store_rollback(tx);

    /* A take that is rolled back removes nothing. */
    tx = begin(f->st, 1);
    OK(rf_store_inbox_take(tx, 0, &out, &n, &E));
    assert_int_equal(n, 5);
    free(out);
    rf_store_rollback(tx);

    tx = begin(f->st, 1);
    OK(rf_store_inbox_take(tx, 2, &out, &n, &E));
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].rollout_id, in[i].rollout_id);
        assert_int_equal(out[i].t, in[i].t);
        assert_int_equal(out[i].kind, in[i].kind);
        assert_int_equal(out[i].host, in[i].host);
        assert_int_equal(out[i].treated, in[i].treated);
        assert_true(out[i].value == in[i].value);
    }
    free(out);
    OK(rf_store_inbox_take(tx, 10, &out, &n, &E));
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(out[i].rollout_id, ro);
        assert_int_equal(out[i].t, NOW + 2 + (int64_t)i);
        assert_int_equal(out[i].kind, 2 + (int)i);
        assert_int_equal(out[i].host, 102 + (int64_t)i);
        assert_int_equal(out[i].treated, (2 + (int)i) & 1);
        assert_true(out[i].value == 2 + (double)i + 0.25);
    }
    free(out);
    OK(rf_store_inbox_take(tx, 10, &out, &n, &E));
    assert_int_equal(n, 0);
    free(out);
    commit(tx);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM report_inbox"), 0);

    /* Order is by arrival across puts. */
    tx = begin(f->st, 1);
    OK(rf_store_inbox_put(tx, in + 4, 1, &E));
    OK(rf_store_inbox_put(tx, in, 1, &E));
    OK(rf_store_inbox_take(tx, 0, &out, &n, &E));
    assert_int_equal(n, 2);
    assert_int_equal(out[0].host, 104);
    assert_int_equal(out[1].host, 100);
    free(out);
    commit(tx);
}

/* ---- audit ---------------------------------------------------------------------------- */

static void audit_many(fx *f, int n)
{
    rf_store_tx *tx = begin(f->st, 1);
    for (int i = 0; i < n; i++) {
        char obj[32], detail[64];
        snprintf(obj, sizeof(obj), "rollout/%d", i);
        snprintf(detail, sizeof(detail), "{\"i\":%d,\"s\":\"a\\nb \\\"q\\\"\"}", i);
        int64_t seq = 0;
        OK(rf_store_audit_append(tx, NOW + i, "token:12 (operator alice)", "rollout.create", obj,
                                 detail, &seq, &E));
        assert_int_equal(seq, i + 1);
    }
    commit(tx);
}

static void test_audit(void **state)
{
    fx *f = *state;
    uint64_t count = 99;
    OK(rf_store_audit_verify(f->st, &count, &E));
    assert_int_equal(count, 0);

    /* More than one page of rf_store_audit_verify. */
    audit_many(f, 1100);
    rf_store_tx *tx = begin(f->st, 1);
    OK(rf_store_audit_append(tx, NOW, "engine", "decision.halt", "rollout/3", NULL, NULL, &E));
    commit(tx);
    OK(rf_store_audit_verify(f->st, &count, &E));
    assert_int_equal(count, 1101);

    tx = begin(f->st, 0);
    rf_store_audit *a = NULL;
    size_t n = 0;
    OK(rf_store_audit_read(tx, 0, 3, &a, &n, &E));
    assert_int_equal(n, 3);
    /* The first entry's hash, as docs/design-server.md defines it. */
    char text[256];
    int len = snprintf(text, sizeof(text),
                       "%064d\n1\n%" PRId64 "\ntoken:12 (operator alice)\nrollout.create\n"
                       "rollout/0\n{\"i\":0,\"s\":\"a\\nb \\\"q\\\"\"}",
                       0, NOW);
    uint8_t d[32];
    char want[65];
    rf_sha256(text, (size_t)len, d);
    rf_hex(d, 32, want);
    assert_int_equal(a[0].seq, 1);
    assert_int_equal(a[0].t, NOW);
    assert_string_equal(a[0].prev, "0000000000000000000000000000000000000000000000000000000000000000");
    assert_string_equal(a[0].hash, want);
    assert_string_equal(a[0].actor, "token:12 (operator alice)");
    assert_string_equal(a[0].action, "rollout.create");
    assert_string_equal(a[0].object, "rollout/0");
    assert_string_equal(a[1].prev, a[0].hash);
    char h[65];
    rf_store_audit_hash(&a[2], h);
    assert_string_equal(h, a[2].hash);
    rf_store_audit_free_array(a, n);
    OK(rf_store_audit_read(tx, 1100, 0, &a, &n, &E));
    assert_int_equal(n, 1);
    assert_int_equal(a[0].seq, 1101);
    assert_string_equal(a[0].actor, "engine");
    assert_string_equal(a[0].detail, "");
    rf_store_audit_free_array(a, n);
    rf_store_rollback(tx);

    /* A detail changed behind the store's back: found, and its seq named. */
    raw_exec(f, "UPDATE audit SET detail = '{\"i\":3}' WHERE seq = 4");
    FAILS(RF_E_CHECKSUM, "seq 4:", rf_store_audit_verify(f->st, &count, &E));
    raw_exec(f, "UPDATE audit SET detail = '{\"i\":3,\"s\":\"a\\nb \\\"q\\\"\"}' WHERE seq = 4");
    OK(rf_store_audit_verify(f->st, &count, &E));
    assert_int_equal(count, 1101);
    /* A row rewritten whole, hash included: the next entry's prev breaks. */
    raw_exec(f, "UPDATE audit SET hash = '" "1111111111111111111111111111111111111111111111111111111111111111" "' WHERE seq = 700");
    FAILS(RF_E_CHECKSUM, "seq 700:", rf_store_audit_verify(f->st, &count, &E));
    /* A row removed. */
    raw_exec(f, "DELETE FROM audit WHERE seq = 600");
    FAILS(RF_E_CHECKSUM, "seq 600: entry missing", rf_store_audit_verify(f->st, &count, &E));
    assert_int_equal(count, 1101); /* not written on failure */
}

/* ---- leadership, exclusivity, concurrency -------------------------------------------------- */

static int leader_of(rf_store *st)
{
    int l = -1;
    OK(rf_store_leader_try(st, &l, &E));
    return l;
}

/* Until the store becomes leader (a lock freed by a session that is ending
 * is released by the server a moment later), at most a few seconds. */
static int becomes_leader(rf_store *st)
{
    for (int i = 0; i < 100; i++) {
        if (leader_of(st) == 1)
            return 1;
        usleep(50 * 1000);
    }
    return 0;
}

static void test_leader(void **state)
{
    fx *f = *state;
    assert_int_equal(leader_of(f->st), 1);
    assert_int_equal(leader_of(f->st), 1); /* stays leader */
    if (!is_pg(f)) {
        rf_store_leader_release(f->st);
        return;
    }
    rf_store *second = open_store(f, 0);
    assert_int_equal(leader_of(second), 0);
    assert_int_equal(leader_of(f->st), 1);
    rf_store_leader_release(f->st);
    assert_int_equal(leader_of(second), 1);
    assert_int_equal(leader_of(f->st), 0);
    rf_store_close(second);
    assert_true(becomes_leader(f->st));

    second = open_store(f, 0);
    assert_int_equal(leader_of(second), 0);
    rf_store_close(f->st); /* the leader goes away */
    f->st = NULL;
    assert_int_equal(leader_of(second), 1);
    f->st = second;

    /* The leader's session killed by the server: leadership is reported
     * lost, then taken again at a later call. */
    raw_exec(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'ringfenced leader' AND datname = current_database()");
    usleep(100 * 1000);
    assert_int_equal(leader_of(f->st), 0);
    assert_true(becomes_leader(f->st));
    /* The store's other connections still work. */
    rf_store_tx *tx = begin(f->st, 1);
    mk_tenant(tx, "after-kill");
    commit(tx);
}

static void test_exclusive(void **state)
{
    fx *f = *state;
    if (is_pg(f)) {
        /* Many instances share a PostgreSQL database: exclusive means nothing. */
        rf_store *a = open_store(f, 1), *b = open_store(f, 1);
        rf_store_close(a);
        rf_store_close(b);
        return;
    }
    rf_store *a = open_store(f, 1);
    rf_store *b = NULL;
    FAILS(RF_E_IO, "in use by another server", rf_store_open(f->url, 0, 1, &b, &E));
    assert_null(b);
    /* Readers (audit verify) do not need the lock. */
    rf_store *c = open_store(f, 0);
    uint64_t count;
    OK(rf_store_audit_verify(c, &count, &E));
    rf_store_close(c);
    rf_store_close(a);
    b = open_store(f, 1);
    rf_store_close(b);
}

typedef struct worker {
    rf_store *st;
    int n;
    int failures;
} worker;

static void *audit_worker(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        rf_store_tx *tx = NULL;
        rf_err err;
        if (rf_store_begin(w->st, 1, &tx, &err) != RF_OK) {
            w->failures++;
            continue;
        }
        if (rf_store_audit_append(tx, NOW + i, "worker", "test.append", "x", "{}", NULL, &err) !=
                RF_OK ||
            rf_store_inbox_put(tx, &(rf_store_inbox){.rollout_id = 1, .t = i}, 1, &err) !=
                RF_OK) {
            fprintf(stderr, "worker: %s\n", err.msg);
            w->failures++;
            rf_store_rollback(tx);
            continue;
        }
        if (rf_store_commit(tx, &err) != RF_OK) {
            fprintf(stderr, "worker: %s\n", err.msg);
            w->failures++;
        }
    }
    return NULL;
}

/* Threads on one store (more threads than pooled connections) and, for
 * PostgreSQL, a second store as a second instance: the audit chain has no
 * fork and every append is in. */
static void test_concurrent_writers(void **state)
{
    fx *f = *state;
    rf_store_tx *tx = begin(f->st, 1);
    int64_t rel = mk_release(tx, 291, 7);
    assert_int_equal(mk_rollout(tx, rel), 1);
    commit(tx);
    rf_store *other = is_pg(f) ? open_store(f, 0) : f->st;
    enum { T = 4, N = 40 };
    pthread_t th[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){.st = (i & 1) ? other : f->st, .n = N};
        assert_int_equal(pthread_create(&th[i], NULL, audit_worker, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].failures, 0);
    }
    if (other != f->st)
        rf_store_close(other);
    uint64_t count = 0;
    OK(rf_store_audit_verify(f->st, &count, &E));
    assert_int_equal(count, T * N);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM report_inbox"), T * N);
}

/* ---- main ------------------------------------------------------------------------------ */

#define STORE_TESTS(B)                                                                        \
    {                                                                                         \
        cmocka_unit_test_prestate_setup_teardown(test_open_schema, setup, teardown, B),       \
        cmocka_unit_test_prestate_setup_teardown(test_newer_schema_refused, setup, teardown,  \
                                                 B),                                          \
        cmocka_unit_test_prestate_setup_teardown(test_open_errors, setup, teardown, B),       \
        cmocka_unit_test_prestate_setup_teardown(test_null_args, setup, teardown, B),         \
        cmocka_unit_test_prestate_setup_teardown(test_rollback_discards, setup, teardown, B), \
        cmocka_unit_test_prestate_setup_teardown(test_commit_persists, setup, teardown, B),   \
        cmocka_unit_test_prestate_setup_teardown(test_failed_transaction, setup, teardown,    \
                                                 B),                                          \
        cmocka_unit_test_prestate_setup_teardown(test_tenants, setup, teardown, B),           \
        cmocka_unit_test_prestate_setup_teardown(test_tokens, setup, teardown, B),            \
        cmocka_unit_test_prestate_setup_teardown(test_hosts, setup, teardown, B),             \
        cmocka_unit_test_prestate_setup_teardown(test_policies, setup, teardown, B),          \
        cmocka_unit_test_prestate_setup_teardown(test_releases, setup, teardown, B),          \
        cmocka_unit_test_prestate_setup_teardown(test_rollouts, setup, teardown, B),          \
        cmocka_unit_test_prestate_setup_teardown(test_log, setup, teardown, B),               \
        cmocka_unit_test_prestate_setup_teardown(test_log_batch, setup, teardown, B),         \
        cmocka_unit_test_prestate_setup_teardown(test_inbox, setup, teardown, B),             \
        cmocka_unit_test_prestate_setup_teardown(test_audit, setup, teardown, B),             \
        cmocka_unit_test_prestate_setup_teardown(test_leader, setup, teardown, B),            \
        cmocka_unit_test_prestate_setup_teardown(test_exclusive, setup, teardown, B),         \
        cmocka_unit_test_prestate_setup_teardown(test_concurrent_writers, setup, teardown,    \
                                                 B),                                          \
    }

int main(int argc, char **argv)
{
    int pg_only = argc > 1 && strcmp(argv[1], "--pg-only") == 0;
    const char *pg = getenv("RF_TEST_PG_URL");
    static backend sq = {"sqlite", NULL};
    static backend pgb = {"postgresql", NULL};
    int failed = 0;
    if (!pg_only) {
        const struct CMUnitTest tests[] = STORE_TESTS(&sq);
        failed += cmocka_run_group_tests_name("store_sqlite", tests, NULL, NULL);
    }
    if (pg && *pg) {
        pgb.pg_url = pg;
        const struct CMUnitTest tests[] = STORE_TESTS(&pgb);
        failed += cmocka_run_group_tests_name("store_postgresql", tests, NULL, NULL);
    } else if (pg_only) {
        fprintf(stderr, "store_test --pg-only: RF_TEST_PG_URL is not set\n");
        return 1;
    }
    return failed ? 1 : 0;
}
