/*
 * tuf_client_test.c — the TUF metadata checks and the client workflow
 * against an in-memory repository: the client is given a fetch function
 * that serves files from a table, so every rule can be driven exactly
 * (versions, signatures, expiry, delegations) without a network. The HTTP
 * attack suite in tests/tuf/ covers the same client end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringfence/tuf.h"
#include "support/rm_tree.h"
#include "tuf/tuf_int.h"

#define NOW ((time_t)1800000000) /* 2027-01-15 */
#define DAY 86400

/* ---- an in-memory repository ------------------------------------------ */

#define MAXF 64
typedef struct file {
    char name[256];
    char *data;
    size_t len;
} file;

typedef struct repo {
    file f[MAXF];
    size_t n;
    char log[64][256]; /* names fetched, in order */
    size_t nlog;
} repo;

static void repo_put(repo *r, const char *name, const char *data, size_t len)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].name, name) == 0) {
            free(r->f[i].data);
            r->f[i].data = malloc(len + 1);
            memcpy(r->f[i].data, data, len);
            r->f[i].len = len;
            return;
        }
    assert_true(r->n < MAXF);
    snprintf(r->f[r->n].name, sizeof(r->f[r->n].name), "%s", name);
    r->f[r->n].data = malloc(len + 1);
    memcpy(r->f[r->n].data, data, len);
    r->f[r->n].len = len;
    r->n++;
}

static void repo_free(repo *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->f[i].data);
    r->n = 0;
}

static rf_rc mem_fetch(void *ctx, const char *url, size_t max_len,
                       const rf_tuf_fetch_limits *lim, rf_buf *out, rf_err *err)
{
    (void)lim;
    repo *r = ctx;
    const char *name = strstr(url, "://mem/");
    assert_non_null(name);
    name += 7;
    if (r->nlog < 64)
        snprintf(r->log[r->nlog++], 256, "%s", name);
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].name, name) == 0) {
            if (r->f[i].len > max_len)
                return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0, "too long");
            rf_buf_append(out, r->f[i].data, r->f[i].len);
            return RF_OK;
        }
    return rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0, "404");
}

/* ---- keys and signing ---------------------------------------------------- */

typedef struct key {
    rf_tuf_signer *s;
    json_t *pub;
    char id[65];
} key;

static void key_new(key *k, rf_tuf_keytype t)
{
    char *priv = NULL, *pub = NULL;
    assert_int_equal(rf_tuf_keygen(t, &priv, &pub, k->id, NULL), RF_OK);
    char path[] = "/tmp/rf-tuf-key-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, priv, strlen(priv)), (ssize_t)strlen(priv));
    close(fd);
    assert_int_equal(rf_tuf_signer_load(path, &k->s, NULL), RF_OK);
    unlink(path);
    k->pub = json_loads(pub, 0, NULL);
    assert_non_null(k->pub);
    assert_string_equal(rf_tuf_signer_keyid(k->s), k->id);
    free(priv);
    free(pub);
}

static void key_free(key *k)
{
    rf_tuf_signer_free(k->s);
    json_decref(k->pub);
}

/* Wrap `signed` (stolen) in an envelope signed by the given keys. */
static char *sign_doc(json_t *sig, key **keys, size_t nkeys)
{
    rf_buf canon;
    rf_buf_init(&canon);
    assert_int_equal(rftuf_cjson(sig, &canon, NULL), RF_OK);
    json_t *sigs = json_array();
    for (size_t i = 0; i < nkeys; i++) {
        char *hex = NULL;
        assert_int_equal(rftuf_sign(keys[i]->s, canon.data, canon.len, &hex, NULL), RF_OK);
        json_array_append_new(sigs, json_pack("{s:s,s:s}", "keyid", keys[i]->id, "sig", hex));
        free(hex);
    }
    rf_buf_free(&canon);
    json_t *doc = json_pack("{s:o,s:o}", "signed", sig, "signatures", sigs);
    char *s = json_dumps(doc, JSON_INDENT(1)); /* not canonical on purpose */
    json_decref(doc);
    return s;
}

static json_t *common(const char *type, int64_t version, time_t expires)
{
    char e[21];
    rftuf_time_format(expires, e);
    return json_pack("{s:s,s:s,s:I,s:s}", "_type", type, "spec_version", "1.0.31", "version",
                     (json_int_t)version, "expires", e);
}

/* The test repository: keys per role and the current documents. */
typedef struct fixture {
    repo r;
    key root, ts, snap, tgt, del, other;
    int64_t root_v, ts_v, snap_v, tgt_v, del_v;
    int consistent;
    char mdir[64];
    char tdir[64];
    json_t *targets;   /* targets map of top-level targets */
    json_t *dtargets;  /* targets map of the delegated role "dev" */
    json_t *delegs;    /* delegations of top-level targets, or NULL */
} fixture;

static void put_signed(fixture *fx, const char *name, json_t *sig, key **keys, size_t n)
{
    char *s = sign_doc(sig, keys, n);
    repo_put(&fx->r, name, s, strlen(s));
    free(s);
}

static json_t *root_doc(fixture *fx, int64_t v, key *rootk, key *tsk)
{
    json_t *sig = common("root", v, NOW + 365 * DAY);
    json_t *keys = json_object();
    key *all[] = {rootk, tsk, &fx->snap, &fx->tgt};
    for (size_t i = 0; i < 4; i++)
        json_object_set(keys, all[i]->id, all[i]->pub);
    json_t *roles = json_object();
    const char *names[] = {"root", "timestamp", "snapshot", "targets"};
    for (size_t i = 0; i < 4; i++)
        json_object_set_new(roles, names[i],
                            json_pack("{s:[s],s:i}", "keyids", all[i]->id, "threshold", 1));
    json_object_set_new(sig, "keys", keys);
    json_object_set_new(sig, "roles", roles);
    json_object_set_new(sig, "consistent_snapshot", json_boolean(fx->consistent));
    json_object_set_new(sig, "x-unknown-field", json_string("kept"));
    return sig;
}

static void publish_root(fixture *fx, int64_t v, key *rootk, key *tsk, key **signers,
                         size_t nsigners)
{
    char name[32];
    snprintf(name, sizeof(name), "%lld.root.json", (long long)v);
    put_signed(fx, name, root_doc(fx, v, rootk, tsk), signers, nsigners);
}

static void add_target(json_t *map, const char *path, const char *content)
{
    char h[65];
    rftuf_sha256_hex((const uint8_t *)content, strlen(content), h);
    json_object_set_new(map, path,
                        json_pack("{s:I,s:{s:s},s:{s:s}}", "length",
                                  (json_int_t)strlen(content), "hashes", "sha256", h,
                                  "custom", "channel", "291"));
}

static void put_target(fixture *fx, const char *path, const char *content)
{
    char h[65], name[512];
    rftuf_sha256_hex((const uint8_t *)content, strlen(content), h);
    if (fx->consistent) {
        const char *sl = strrchr(path, '/');
        int dl = sl ? (int)(sl - path) + 1 : 0;
        snprintf(name, sizeof(name), "targets/%.*s%s.%s", dl, path, h, path + dl);
    } else {
        snprintf(name, sizeof(name), "targets/%s", path);
    }
    repo_put(&fx->r, name, content, strlen(content));
}

/* Publish targets (and "dev" when delegated), snapshot and timestamp at
 * their current versions, with the given expiry offset for all three. */
static void publish_rest(fixture *fx, time_t exp_ts, time_t exp_snap, time_t exp_tgt)
{
    char name[64];
    key *k;
    if (fx->delegs) {
        json_t *d = common("targets", fx->del_v, NOW + exp_tgt);
        json_object_set(d, "targets", fx->dtargets);
        snprintf(name, sizeof(name), fx->consistent ? "metadata/%lld.dev.json" : "metadata/dev.json",
                 (long long)fx->del_v);
        k = &fx->del;
        put_signed(fx, name, d, &k, 1);
    }
    json_t *t = common("targets", fx->tgt_v, NOW + exp_tgt);
    json_object_set(t, "targets", fx->targets);
    if (fx->delegs)
        json_object_set(t, "delegations", fx->delegs);
    snprintf(name, sizeof(name),
             fx->consistent ? "metadata/%lld.targets.json" : "metadata/targets.json",
             (long long)fx->tgt_v);
    k = &fx->tgt;
    put_signed(fx, name, t, &k, 1);

    json_t *s = common("snapshot", fx->snap_v, NOW + exp_snap);
    json_t *meta = json_pack("{s:{s:I}}", "targets.json", "version", (json_int_t)fx->tgt_v);
    if (fx->delegs)
        json_object_set_new(meta, "dev.json", json_pack("{s:I}", "version", (json_int_t)fx->del_v));
    json_object_set_new(s, "meta", meta);
    snprintf(name, sizeof(name),
             fx->consistent ? "metadata/%lld.snapshot.json" : "metadata/snapshot.json",
             (long long)fx->snap_v);
    k = &fx->snap;
    char *sb = sign_doc(s, &k, 1);
    repo_put(&fx->r, name, sb, strlen(sb));

    char h[65];
    rftuf_sha256_hex((const uint8_t *)sb, strlen(sb), h);
    json_t *ts = common("timestamp", fx->ts_v, NOW + exp_ts);
    json_object_set_new(ts, "meta",
                        json_pack("{s:{s:I,s:I,s:{s:s}}}", "snapshot.json", "version",
                                  (json_int_t)fx->snap_v, "length", (json_int_t)strlen(sb),
                                  "hashes", "sha256", h));
    free(sb);
    k = &fx->ts;
    put_signed(fx, "metadata/timestamp.json", ts, &k, 1);
}

static void root_file(fixture *fx, int64_t v, char *path, size_t n)
{
    char name[32];
    snprintf(name, sizeof(name), "%lld.root.json", (long long)v);
    for (size_t i = 0; i < fx->r.n; i++)
        if (strcmp(fx->r.f[i].name, name) == 0) {
            snprintf(path, n, "%s/init-root.json", fx->mdir);
            assert_int_equal(rf_file_write_atomic(path, fx->r.f[i].data, fx->r.f[i].len,
                                                  0644, NULL), RF_OK);
            return;
        }
    fail();
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    key_new(&fx->root, RF_TUF_KEY_ED25519);
    key_new(&fx->ts, RF_TUF_KEY_ED25519);
    key_new(&fx->snap, RF_TUF_KEY_ECDSA_P256);
    key_new(&fx->tgt, RF_TUF_KEY_ED25519);
    key_new(&fx->del, RF_TUF_KEY_ED25519);
    key_new(&fx->other, RF_TUF_KEY_ED25519);
    fx->consistent = 1;
    fx->root_v = fx->ts_v = fx->snap_v = fx->tgt_v = fx->del_v = 1;
    fx->targets = json_object();
    fx->dtargets = json_object();
    snprintf(fx->mdir, sizeof(fx->mdir), "/tmp/rf-tuf-md-XXXXXX");
    assert_non_null(mkdtemp(fx->mdir));
    snprintf(fx->tdir, sizeof(fx->tdir), "/tmp/rf-tuf-td-XXXXXX");
    assert_non_null(mkdtemp(fx->tdir));
    add_target(fx->targets, "channels/c291.rfc", "channel-bytes-v1");
    put_target(fx, "channels/c291.rfc", "channel-bytes-v1");
    key *k = &fx->root;
    publish_root(fx, 1, &fx->root, &fx->ts, &k, 1);
    /* root versions live under metadata/ too */
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    key *ks[] = {&fx->root, &fx->ts, &fx->snap, &fx->tgt, &fx->del, &fx->other};
    for (size_t i = 0; i < 6; i++)
        key_free(ks[i]);
    json_decref(fx->targets);
    json_decref(fx->dtargets);
    json_decref(fx->delegs);
    repo_free(&fx->r);
    assert_int_equal(rm_tree(fx->mdir), 0);
    assert_int_equal(rm_tree(fx->tdir), 0);
    free(fx);
    return 0;
}

/* Root files are fetched from metadata/N.root.json. */
static void mirror_roots(fixture *fx)
{
    for (size_t i = 0; i < fx->r.n; i++) {
        const char *nm = fx->r.f[i].name;
        if (strncmp(nm, "metadata/", 9) != 0 && strstr(nm, ".root.json")) {
            char m[300];
            snprintf(m, sizeof(m), "metadata/%s", nm);
            repo_put(&fx->r, m, fx->r.f[i].data, fx->r.f[i].len);
        }
    }
}

static rf_rc run(fixture *fx, rf_tuf_client **out, rf_err *err)
{
    mirror_roots(fx);
    rf_tuf_client_opts o;
    rf_tuf_client_opts_default(&o);
    o.metadata_dir = fx->mdir;
    o.metadata_url = "mem://mem/metadata";
    o.target_base_url = "mem://mem/targets";
    o.now = NOW;
    o.fetch = mem_fetch;
    o.fetch_ctx = &fx->r;
    fx->r.nlog = 0;
    rf_tuf_client *c = NULL;
    rf_rc rc = rf_tuf_client_new(&o, &c, err);
    if (rc != RF_OK)
        return rc;
    rc = rf_tuf_client_refresh(c, err);
    if (out)
        *out = c;
    else
        rf_tuf_client_free(c);
    return rc;
}

static void init_client(fixture *fx)
{
    char p[128];
    root_file(fx, 1, p, sizeof(p));
    assert_int_equal(rf_tuf_client_init(fx->mdir, p, NULL), RF_OK);
    unlink(p);
}

static int64_t disk_version(fixture *fx, const char *fname)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", fx->mdir, fname);
    uint8_t *b = NULL;
    size_t n = 0;
    if (rf_file_read(p, 1 << 22, &b, &n, NULL) != RF_OK)
        return -1;
    json_t *j = json_loadb((const char *)b, n, 0, NULL);
    free(b);
    int64_t v = json_integer_value(json_object_get(json_object_get(j, "signed"), "version"));
    json_decref(j);
    return v;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_time_and_paths(void **state)
{
    (void)state;
    time_t t;
    assert_int_equal(rftuf_time_parse("2030-01-01T00:00:00Z", &t), RF_OK);
    assert_int_equal(t, 1893456000);
    char b[21];
    rftuf_time_format(t, b);
    assert_string_equal(b, "2030-01-01T00:00:00Z");
    assert_int_not_equal(rftuf_time_parse("2030-01-01 00:00:00Z", &t), RF_OK);
    assert_int_not_equal(rftuf_time_parse("2030-13-01T00:00:00Z", &t), RF_OK);
    assert_int_not_equal(rftuf_time_parse("2030-01-01T00:00:00", &t), RF_OK);
    assert_int_not_equal(rftuf_time_parse("2030-01-01T00:00:00+01", &t), RF_OK);

    assert_true(rftuf_path_match("channels/*", "channels/a.rfc"));
    assert_false(rftuf_path_match("channels/*", "channels/x/a.rfc"));
    assert_false(rftuf_path_match("channels/*", "other/a.rfc"));
    assert_true(rftuf_path_match("*/*.rfc", "a/b.rfc"));
    assert_false(rftuf_path_match("*.rfc", "a/b.rfc"));
    assert_true(rftuf_path_match("c?91.rfc", "c291.rfc"));
    assert_true(rftuf_path_match("c[0-9]91.rfc", "c291.rfc"));
    assert_false(rftuf_path_match("c[!0-9]91.rfc", "c291.rfc"));
    assert_true(rftuf_path_match("a/b", "a/b"));
    assert_false(rftuf_path_match("a/b", "a/b/"));
    assert_true(rftuf_path_match("*", ""));
    assert_false(rftuf_path_match("a*b*c*d", "aXXbXXcXX"));

    char *f = rf_tuf_target_filename("../etc/passwd");
    assert_string_equal(f, "..%2Fetc%2Fpasswd");
    free(f);
    f = rf_tuf_target_filename("..");
    assert_string_equal(f, "%2E%2E");
    free(f);
    f = rf_tuf_target_filename("a%2Fb");
    assert_string_equal(f, "a%252Fb");
    free(f);
}

static void test_happy_path_and_cache(void **state)
{
    fixture *fx = *state;
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    init_client(fx);
    rf_tuf_client *c = NULL;
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(run(fx, &c, &err), RF_OK);
    assert_int_equal(disk_version(fx, "root.json"), 1);
    assert_int_equal(disk_version(fx, "timestamp.json"), 1);
    assert_int_equal(disk_version(fx, "snapshot.json"), 1);
    assert_int_equal(disk_version(fx, "targets.json"), 1);
    /* 2.root.json (404), timestamp, 1.snapshot, 1.targets */
    assert_int_equal(fx->r.nlog, 4);
    assert_string_equal(fx->r.log[0], "metadata/2.root.json");
    assert_string_equal(fx->r.log[1], "metadata/timestamp.json");
    assert_string_equal(fx->r.log[2], "metadata/1.snapshot.json");
    assert_string_equal(fx->r.log[3], "metadata/1.targets.json");

    rf_tuf_target *t = NULL;
    assert_int_equal(rf_tuf_client_find_target(c, "channels/c291.rfc", &t, &err), RF_OK);
    assert_int_equal(t->length, strlen("channel-bytes-v1"));
    assert_string_equal(t->role, "targets");
    assert_string_equal(t->custom_json, "{\"channel\":\"291\"}");
    char *w = NULL;
    assert_int_equal(rf_tuf_client_download(c, t, fx->tdir, &w, &err), RF_OK);
    uint8_t *b = NULL;
    size_t n = 0;
    assert_int_equal(rf_file_read(w, 1024, &b, &n, NULL), RF_OK);
    assert_memory_equal(b, "channel-bytes-v1", n);
    free(b);
    /* Second download: already there, nothing fetched. */
    size_t before = fx->r.nlog;
    free(w);
    assert_int_equal(rf_tuf_client_download(c, t, fx->tdir, &w, &err), RF_OK);
    assert_int_equal(fx->r.nlog, before);
    free(w);
    rf_tuf_target *none = NULL;
    assert_int_equal(rf_tuf_client_find_target(c, "channels/nope.rfc", &none, &err),
                     RF_E_NOTFOUND);
    assert_null(none);
    rf_tuf_target_free(t);
    rf_tuf_client_free(c);

    /* A new process with nothing new: only root probe and timestamp. */
    assert_int_equal(run(fx, NULL, &err), RF_OK);
    assert_int_equal(fx->r.nlog, 2);
}

static void test_target_tampered(void **state)
{
    fixture *fx = *state;
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    put_target(fx, "channels/c291.rfc", "channel-bytes-v2"); /* other name (hash) */
    char h[65];
    rftuf_sha256_hex((const uint8_t *)"channel-bytes-v1", 16, h);
    char name[128];
    snprintf(name, sizeof(name), "targets/channels/%s.c291.rfc", h);
    repo_put(&fx->r, name, "channel-bytes-vX", 16); /* same length, wrong bytes */
    init_client(fx);
    rf_tuf_client *c = NULL;
    rf_err err;
    assert_int_equal(run(fx, &c, &err), RF_OK);
    rf_tuf_target *t = NULL;
    assert_int_equal(rf_tuf_client_find_target(c, "channels/c291.rfc", &t, &err), RF_OK);
    char *w = NULL;
    assert_int_equal(rf_tuf_client_download(c, t, fx->tdir, &w, &err), RF_E_CHECKSUM);
    char p[256];
    snprintf(p, sizeof(p), "%s/channels%%2Fc291.rfc", fx->tdir);
    assert_int_not_equal(access(p, F_OK), 0);
    /* Longer than listed: the fetch is bounded by the listed length. */
    repo_put(&fx->r, name, "channel-bytes-v1-and-more", 25);
    assert_int_equal(rf_tuf_client_download(c, t, fx->tdir, &w, &err), RF_E_LIMIT);
    assert_int_not_equal(access(p, F_OK), 0);
    rf_tuf_target_free(t);
    rf_tuf_client_free(c);
}

static void test_rollback_and_freeze(void **state)
{
    fixture *fx = *state;
    fx->ts_v = 3;
    fx->snap_v = 3;
    fx->tgt_v = 3;
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    init_client(fx);
    rf_err err;
    assert_int_equal(run(fx, NULL, &err), RF_OK);
    /* An older timestamp, validly signed: refused, state unchanged. */
    fx->ts_v = 2;
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    assert_int_equal(run(fx, NULL, &err), RF_E_ROLLBACK);
    assert_int_equal(disk_version(fx, "timestamp.json"), 3);
    /* A newer timestamp naming an older snapshot. */
    fx->ts_v = 4;
    fx->snap_v = 2;
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    assert_int_equal(run(fx, NULL, &err), RF_E_ROLLBACK);
    assert_int_equal(disk_version(fx, "snapshot.json"), 3);
    /* A newer snapshot naming an older targets. */
    fx->ts_v = 5;
    fx->snap_v = 4;
    fx->tgt_v = 2;
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    assert_int_equal(run(fx, NULL, &err), RF_E_ROLLBACK);
    assert_int_equal(disk_version(fx, "snapshot.json"), 3);
    assert_int_equal(disk_version(fx, "targets.json"), 3);
    /* An expired timestamp is never taken. */
    fx->ts_v = 6;
    fx->snap_v = 5;
    fx->tgt_v = 4;
    publish_rest(fx, -1, 7 * DAY, 90 * DAY);
    assert_int_equal(run(fx, NULL, &err), RF_E_EXPIRED);
    assert_int_equal(disk_version(fx, "timestamp.json"), 5); /* v5 was valid itself */
    /* Nor an expired snapshot or targets. */
    fx->ts_v = 7;
    publish_rest(fx, DAY, -1, 90 * DAY);
    assert_int_equal(run(fx, NULL, &err), RF_E_EXPIRED);
    assert_int_equal(disk_version(fx, "snapshot.json"), 3);
    fx->ts_v = 8;
    fx->snap_v = 6;
    publish_rest(fx, DAY, DAY, -1);
    assert_int_equal(run(fx, NULL, &err), RF_E_EXPIRED);
    assert_int_equal(disk_version(fx, "targets.json"), 3);
    /* And all current again: taken. */
    fx->ts_v = 9;
    fx->snap_v = 7;
    fx->tgt_v = 5;
    publish_rest(fx, DAY, DAY, DAY);
    assert_int_equal(run(fx, NULL, &err), RF_OK);
    assert_int_equal(disk_version(fx, "targets.json"), 5);
}

static void test_signatures_threshold(void **state)
{
    fixture *fx = *state;
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    init_client(fx);
    rf_err err;
    /* Timestamp signed by an unlisted key. */
    fx->ts_v = 2;
    json_t *ts = common("timestamp", 2, NOW + DAY);
    json_object_set_new(ts, "meta", json_pack("{s:{s:i}}", "snapshot.json", "version", 1));
    key *k = &fx->other;
    put_signed(fx, "metadata/timestamp.json", ts, &k, 1);
    assert_int_equal(run(fx, NULL, &err), RF_E_SIGNATURE);
    assert_int_equal(disk_version(fx, "timestamp.json"), -1);
    /* Stripped signatures. */
    ts = common("timestamp", 2, NOW + DAY);
    json_object_set_new(ts, "meta", json_pack("{s:{s:i}}", "snapshot.json", "version", 1));
    put_signed(fx, "metadata/timestamp.json", ts, NULL, 0);
    assert_int_equal(run(fx, NULL, &err), RF_E_SIGNATURE);

    /* A root with threshold 2: two signatures by the same key count once. */
    json_t *r2 = root_doc(fx, 2, &fx->root, &fx->ts);
    json_t *rr = json_object_get(json_object_get(r2, "roles"), "root");
    json_object_set_new(rr, "threshold", json_integer(2));
    key *dup[] = {&fx->root, &fx->root};
    put_signed(fx, "2.root.json", r2, dup, 2);
    assert_int_equal(run(fx, NULL, &err), RF_E_SIGNATURE);
    assert_int_equal(disk_version(fx, "root.json"), 1);
    /* The same key under a second key id counts once too. */
    r2 = root_doc(fx, 2, &fx->root, &fx->ts);
    json_t *keys = json_object_get(r2, "keys");
    json_object_set(keys, "feedface", fx->root.pub);
    rr = json_object_get(json_object_get(r2, "roles"), "root");
    json_object_set_new(rr, "threshold", json_integer(2));
    json_array_append_new(json_object_get(rr, "keyids"), json_string("feedface"));
    rf_buf canon;
    rf_buf_init(&canon);
    assert_int_equal(rftuf_cjson(r2, &canon, NULL), RF_OK);
    char *hex = NULL;
    assert_int_equal(rftuf_sign(fx->root.s, canon.data, canon.len, &hex, NULL), RF_OK);
    json_t *doc = json_pack("{s:o,s:[{s:s,s:s},{s:s,s:s}]}", "signed", r2, "signatures",
                            "keyid", fx->root.id, "sig", hex, "keyid", "feedface", "sig", hex);
    char *s = json_dumps(doc, 0);
    repo_put(&fx->r, "2.root.json", s, strlen(s));
    free(s);
    free(hex);
    rf_buf_free(&canon);
    json_decref(doc);
    assert_int_equal(run(fx, NULL, &err), RF_E_SIGNATURE);
    assert_int_equal(disk_version(fx, "root.json"), 1);
}

static void test_root_rotation_and_fast_forward(void **state)
{
    fixture *fx = *state;
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    init_client(fx);
    rf_err err;
    assert_int_equal(run(fx, NULL, &err), RF_OK);
    /* A compromised timestamp key pushes version 2^62. */
    fx->ts_v = (int64_t)1 << 62;
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    assert_int_equal(run(fx, NULL, &err), RF_OK);
    assert_int_equal(disk_version(fx, "timestamp.json"), (int64_t)1 << 62);
    /* The repository rotates the timestamp key in root v2, signed by the
     * old and new root keys (here: root key unchanged, new timestamp key). */
    key newts;
    key_new(&newts, RF_TUF_KEY_RSA_PSS);
    key *rk = &fx->root;
    publish_root(fx, 2, &fx->root, &newts, &rk, 1);
    key saved = fx->ts;
    fx->ts = newts;
    fx->ts_v = 1;
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    assert_int_equal(run(fx, NULL, &err), RF_OK);
    assert_int_equal(disk_version(fx, "root.json"), 2);
    assert_int_equal(disk_version(fx, "timestamp.json"), 1);

    /* Root v3 signed by a new root key alone (not by the old): refused. */
    key newroot;
    key_new(&newroot, RF_TUF_KEY_ED25519);
    key *nk = &newroot;
    publish_root(fx, 3, &newroot, &newts, &nk, 1);
    assert_int_equal(run(fx, NULL, &err), RF_E_SIGNATURE);
    assert_int_equal(disk_version(fx, "root.json"), 2);
    /* Signed by old and new: taken; v4 then carries the wrong version. */
    key *both[] = {&fx->root, &newroot};
    publish_root(fx, 3, &newroot, &newts, both, 2);
    char *s4 = sign_doc(root_doc(fx, 5, &newroot, &newts), &nk, 1);
    repo_put(&fx->r, "4.root.json", s4, strlen(s4));
    free(s4);
    assert_int_equal(run(fx, NULL, &err), RF_E_ROLLBACK);
    assert_int_equal(disk_version(fx, "root.json"), 3);
    fx->ts = saved;
    key_free(&newts);
    key_free(&newroot);
}

static void test_delegations(void **state)
{
    fixture *fx = *state;
    /* targets delegates "dev" (channels/dev-*) then "all" (everything,
     * terminating); "dev" lists the target. */
    fx->delegs = json_pack("{s:{s:O},s:[{s:s,s:[s],s:i,s:b,s:[s]},{s:s,s:[s],s:i,s:b,s:[s]}]}",
                           "keys", fx->del.id, fx->del.pub, "roles", "name", "dev", "keyids",
                           fx->del.id, "threshold", 1, "terminating", 0, "paths",
                           "channels/dev-*", "name", "all", "keyids", fx->del.id,
                           "threshold", 1, "terminating", 1, "paths", "*/*");
    add_target(fx->dtargets, "channels/dev-1.rfc", "dev-content");
    put_target(fx, "channels/dev-1.rfc", "dev-content");
    /* "dev" also claims a path outside its patterns: never trusted. */
    add_target(fx->dtargets, "channels/prod.rfc", "evil");
    put_target(fx, "channels/prod.rfc", "evil");
    publish_rest(fx, DAY, 7 * DAY, 90 * DAY);
    init_client(fx);
    rf_tuf_client *c = NULL;
    rf_err err;
    assert_int_equal(run(fx, &c, &err), RF_OK);
    rf_tuf_target *t = NULL;
    assert_int_equal(rf_tuf_client_find_target(c, "channels/dev-1.rfc", &t, &err), RF_OK);
    assert_string_equal(t->role, "dev");
    char p[256];
    snprintf(p, sizeof(p), "%s/dev.json", fx->mdir);
    assert_int_equal(access(p, F_OK), 0);
    rf_tuf_target_free(t);
    t = NULL;
    /* channels/prod.rfc: "dev" does not match, "all" is not published:
     * the search fails rather than trusting "dev". */
    assert_int_not_equal(rf_tuf_client_find_target(c, "channels/prod.rfc", &t, &err), RF_OK);
    assert_null(t);
    rf_tuf_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_and_paths),
        cmocka_unit_test_setup_teardown(test_happy_path_and_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_and_freeze, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signatures_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_rotation_and_fast_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
