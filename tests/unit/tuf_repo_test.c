/*
 * tuf_repo_test.c — the TUF repository (tuf_repo.h) from init to a client
 * download: every release step, threshold signing in turn, the version and
 * signature rules of edits, root rotation that an old client follows,
 * delegations and their paths, fields the code does not know surviving
 * edits, and the refusals (bad paths, wrong keys, stale snapshot or
 * timestamp, expiry, damaged files) with nothing overwritten. Clients run
 * with rf_tuf_repo_fetch_file over the published directory.
 */
#include <fcntl.h>
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
#include <jansson.h>

#include "ringfence/tuf.h"
#include "ringfence/tuf_repo.h"
#include "support/rm_tree.h"

#define NOW ((time_t)1800000000) /* 2027-01-15 */
#define DAY 86400

/* ---- fixture ---------------------------------------------------------------- */

typedef struct key {
    rf_tuf_signer *s;
    char *pub;
    char id[65];
} key;

typedef struct fx {
    char dir[256]; /* scratch: repo in dir/R, published in dir/OUT */
    char repo[300];
    char out[300];
    key root[3], targets[3], snap, ts, extra[2];
} fx;

static void path_of(char *buf, size_t n, const fx *f, const char *rel)
{
    snprintf(buf, n, "%s/%s", f->dir, rel);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void write_str(const char *path, const char *s)
{
    write_file(path, s, strlen(s));
}

static char *read_all(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    size_t l = 0;
    if (rf_file_read(path, 64u << 20, &buf, &l, NULL) != RF_OK)
        return NULL;
    if (len)
        *len = l;
    return (char *)buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void make_key(fx *f, key *k, rf_tuf_keytype t, const char *name)
{
    char *priv = NULL;
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_keygen(t, &priv, &k->pub, k->id, &err), RF_OK);
    char p[400];
    path_of(p, sizeof(p), f, name);
    write_file(p, priv, strlen(priv));
    free(priv);
    assert_int_equal(rf_tuf_signer_load(p, &k->s, &err), RF_OK);
    assert_string_equal(rf_tuf_signer_keyid(k->s), k->id);
}

static void free_key(key *k)
{
    rf_tuf_signer_free(k->s);
    free(k->pub);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/rf-repo-test-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->repo, sizeof(f->repo), "%s/R", f->dir);
    snprintf(f->out, sizeof(f->out), "%s/OUT", f->dir);
    static const char *const names[] = {"root0", "root1", "root2", "tg0", "tg1", "tg2"};
    for (int i = 0; i < 3; i++) {
        make_key(f, &f->root[i], RF_TUF_KEY_ED25519, names[i]);
        make_key(f, &f->targets[i], i == 0 ? RF_TUF_KEY_ECDSA_P256 : RF_TUF_KEY_ED25519,
                 names[3 + i]);
    }
    make_key(f, &f->snap, RF_TUF_KEY_ED25519, "snap");
    make_key(f, &f->ts, RF_TUF_KEY_ED25519, "ts");
    make_key(f, &f->extra[0], RF_TUF_KEY_ED25519, "extra0");
    make_key(f, &f->extra[1], RF_TUF_KEY_ED25519, "extra1");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 3; i++) {
        free_key(&f->root[i]);
        free_key(&f->targets[i]);
    }
    free_key(&f->snap);
    free_key(&f->ts);
    free_key(&f->extra[0]);
    free_key(&f->extra[1]);
    rm_tree(f->dir);
    free(f);
    return 0;
}

/* A repository: root keys root[0..nroot) threshold rt, targets keys
 * targets[0..ntg) threshold tt, one snapshot and one timestamp key. */
static void init_repo(fx *f, size_t nroot, int64_t rt, size_t ntg, int64_t tt, int consistent)
{
    const char *rk[3], *tk[3], *sk[1] = {f->snap.pub}, *tsk[1] = {f->ts.pub};
    for (size_t i = 0; i < 3; i++) {
        rk[i] = f->root[i].pub;
        tk[i] = f->targets[i].pub;
    }
    rf_tuf_repo_init_opts o;
    rf_tuf_repo_init_opts_default(&o);
    o.root = (rf_tuf_repo_keys){rk, nroot, rt};
    o.targets = (rf_tuf_repo_keys){tk, ntg, tt};
    o.snapshot = (rf_tuf_repo_keys){sk, 1, 1};
    o.timestamp = (rf_tuf_repo_keys){tsk, 1, 1};
    o.consistent_snapshot = consistent;
    o.now = NOW;
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_init(f->repo, &o, &err), RF_OK);
}

static rf_tuf_repo *open_repo(fx *f)
{
    rf_tuf_repo *r = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_tuf_repo_open(f->repo, &r, &err);
    if (rc != RF_OK)
        fail_msg("open: %s", err.msg);
    rf_tuf_repo_set_now(r, NOW);
    return r;
}

/* A file in the scratch dir with the given content; returns its path in buf. */
static void make_file(fx *f, char *buf, size_t n, const char *name, const char *content)
{
    path_of(buf, n, f, name);
    write_file(buf, content, strlen(content));
}

static void add(fx *f, rf_tuf_repo *r, const char *role, const char *path, const char *content,
                const char *custom)
{
    char src[400];
    char nm[64];
    static int seq;
    snprintf(nm, sizeof(nm), "src-%d", seq++);
    make_file(f, src, sizeof(src), nm, content);
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_tuf_repo_add_target(r, role, path, src, custom, NULL, &err);
    if (rc != RF_OK)
        fail_msg("add %s: %s", path, err.msg);
}

static void sign(rf_tuf_repo *r, const char *role, const key *k)
{
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_tuf_repo_sign(r, role, k->s, &err);
    if (rc != RF_OK)
        fail_msg("sign %s: %s", role, err.msg);
}

static void snap_ts(fx *f, rf_tuf_repo *r)
{
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_snapshot(r, f->snap.s, &err), RF_OK);
    assert_int_equal(rf_tuf_repo_timestamp(r, f->ts.s, &err), RF_OK);
}

static void publish_ok(fx *f, rf_tuf_repo *r)
{
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_tuf_repo_publish(r, f->out, &err);
    if (rc != RF_OK)
        fail_msg("publish: %s (%s)", err.msg, rf_strerror(rc));
}

/* A staged document of the repository, parsed. */
static json_t *staged(fx *f, const char *file)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/staged/%s", f->repo, file);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    assert_non_null(j);
    return j;
}

static long long staged_version(fx *f, const char *file)
{
    json_t *j = staged(f, file);
    long long v = json_integer_value(json_object_get(json_object_get(j, "signed"), "version"));
    json_decref(j);
    return v;
}

static size_t staged_nsigs(fx *f, const char *file)
{
    json_t *j = staged(f, file);
    size_t n = json_array_size(json_object_get(j, "signatures"));
    json_decref(j);
    return n;
}

static long long published(fx *f, const char *role)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/repo.json", f->repo);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    assert_non_null(j);
    long long v = json_integer_value(json_object_get(json_object_get(j, "published"), role));
    json_decref(j);
    return v;
}

/* A client over the published directory, its metadata in dir/NAME. init:
 * start from OUT/metadata/1.root.json (else keep what it trusts). */
static rf_rc client_find(fx *f, const char *name, int init, const char *path,
                         rf_tuf_target **t, char **content, rf_err *err)
{
    char mdir[400], tdir[420], root[420];
    path_of(mdir, sizeof(mdir), f, name);
    snprintf(tdir, sizeof(tdir), "%s-targets", mdir);
    snprintf(root, sizeof(root), "%s/metadata/1.root.json", f->out);
    mkdir(tdir, 0755);
    rf_rc rc = RF_OK;
    if (init && (rc = rf_tuf_client_init(mdir, root, err)) != RF_OK)
        return rc;
    rf_tuf_client_opts o;
    rf_tuf_client_opts_default(&o);
    o.metadata_dir = mdir;
    o.metadata_url = RF_TUF_REPO_FILE_BASE "/metadata";
    o.target_base_url = RF_TUF_REPO_FILE_BASE "/targets";
    o.fetch = rf_tuf_repo_fetch_file;
    o.fetch_ctx = f->out;
    o.now = NOW + 60;
    rf_tuf_client *c = NULL;
    rc = rf_tuf_client_new(&o, &c, err);
    if (rc == RF_OK)
        rc = rf_tuf_client_refresh(c, err);
    if (rc == RF_OK && path) {
        rc = rf_tuf_client_find_target(c, path, t, err);
        char *w = NULL;
        if (rc == RF_OK)
            rc = rf_tuf_client_download(c, *t, tdir, &w, err);
        if (rc == RF_OK && content)
            *content = read_all(w, NULL);
        free(w);
    }
    rf_tuf_client_free(c);
    return rc;
}

/* The version of a file the client trusts. */
static long long trusted(fx *f, const char *name, const char *file)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s/%s", f->dir, name, file);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (!j)
        return -1;
    long long v = json_integer_value(json_object_get(json_object_get(j, "signed"), "version"));
    json_decref(j);
    return v;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_release_and_client_download(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 1);
    rf_tuf_repo *r = open_repo(f);
    add(f, r, NULL, "channels/291/c291-v5.rfc", "channel bytes v5",
        "{\"channel\":291,\"content_version\":5}");
    add(f, r, NULL, "readme.txt", "hello", NULL);
    sign(r, "targets", &f->targets[0]);
    sign(r, "root", &f->root[0]);
    snap_ts(f, r);
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_check(r, &err), RF_OK);
    publish_ok(f, r);
    rf_tuf_repo_free(r);

    /* Files on disk, timestamp unversioned, targets under their hash. */
    char p[600];
    const char *want[] = {"metadata/1.root.json", "metadata/1.targets.json",
                          "metadata/1.snapshot.json", "metadata/timestamp.json"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", f->out, want[i]);
        assert_true(exists(p));
    }
    snprintf(p, sizeof(p), "%s/metadata/targets.json", f->out);
    assert_false(exists(p)); /* consistent snapshots: versioned names only */
    char h[65];
    {
        uint8_t d[32];
        rf_sha256("hello", 5, d);
        rf_hex(d, 32, h);
    }
    snprintf(p, sizeof(p), "%s/targets/%s.readme.txt", f->out, h);
    assert_true(exists(p));
    assert_int_equal(published(f, "root"), 1);
    assert_int_equal(published(f, "targets"), 1);
    assert_int_equal(published(f, "snapshot"), 1);
    assert_int_equal(published(f, "timestamp"), 1);

    /* A client finds and downloads both, custom metadata intact. */
    rf_tuf_target *t = NULL;
    char *content = NULL;
    assert_int_equal(client_find(f, "c1", 1, "channels/291/c291-v5.rfc", &t, &content, &err),
                     RF_OK);
    assert_string_equal(content, "channel bytes v5");
    assert_string_equal(t->role, "targets");
    assert_int_equal(t->length, 16);
    assert_string_equal(t->custom_json, "{\"channel\":291,\"content_version\":5}");
    free(content);
    rf_tuf_target_free(t);
    t = NULL;
    assert_int_equal(client_find(f, "c1", 0, "readme.txt", &t, &content, &err), RF_OK);
    assert_string_equal(content, "hello");
    assert_null(t->custom_json);
    free(content);
    rf_tuf_target_free(t);
    t = NULL;
    assert_int_equal(client_find(f, "c1", 0, "nope", &t, NULL, &err), RF_E_NOTFOUND);
}

static void test_threshold_signing_in_turn(void **state)
{
    fx *f = *state;
    init_repo(f, 3, 2, 3, 2, 1);
    rf_tuf_repo *r = open_repo(f);
    add(f, r, NULL, "a.bin", "A", NULL);
    sign(r, "root", &f->root[0]);
    sign(r, "root", &f->root[2]);
    sign(r, "targets", &f->targets[1]);
    sign(r, "targets", &f->targets[1]); /* the same key again replaces, counts once */
    assert_int_equal(staged_nsigs(f, "targets.json"), 1);
    snap_ts(f, r);
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_publish(r, f->out, &err), RF_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "targets"));
    assert_non_null(strstr(err.msg, "1 valid signature"));
    assert_non_null(strstr(err.msg, "2 needed"));
    assert_false(exists(f->out)); /* a refused publish writes nothing */
    assert_int_equal(published(f, "targets"), 0);
    rf_tuf_repo_free(r);

    /* The second signer, in a later command. */
    r = open_repo(f);
    sign(r, "targets", &f->targets[0]);
    assert_int_equal(staged_nsigs(f, "targets.json"), 2);
    /* Signing targets does not change the snapshot: it lists versions. */
    publish_ok(f, r);
    rf_tuf_repo_free(r);
    rf_tuf_target *t = NULL;
    char *content = NULL;
    assert_int_equal(client_find(f, "c", 1, "a.bin", &t, &content, &err), RF_OK);
    assert_string_equal(content, "A");
    free(content);
    rf_tuf_target_free(t);

    /* A key of another role is refused and leaves the document alone. */
    r = open_repo(f);
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_sign(r, "targets", f->snap.s, &err), RF_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "not a key of role targets"));
    assert_int_equal(staged_nsigs(f, "targets.json"), 2);
    assert_int_equal(rf_tuf_repo_sign(r, "nosuchrole", f->snap.s, &err), RF_E_NOTFOUND);
    assert_int_equal(rf_tuf_repo_snapshot(r, f->ts.s, &err), RF_E_SIGNATURE);
    rf_tuf_repo_free(r);
}

static void test_changes_clear_signatures_and_bump_once(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 1);
    rf_tuf_repo *r = open_repo(f);
    add(f, r, NULL, "a", "1", NULL);
    assert_int_equal(staged_version(f, "targets.json"), 1); /* never published: stays 1 */
    sign(r, "targets", &f->targets[0]);
    assert_int_equal(staged_nsigs(f, "targets.json"), 1);
    add(f, r, NULL, "b", "2", NULL);
    assert_int_equal(staged_nsigs(f, "targets.json"), 0); /* a change clears them */
    assert_int_equal(staged_version(f, "targets.json"), 1);
    sign(r, "targets", &f->targets[0]);
    sign(r, "root", &f->root[0]);
    snap_ts(f, r);
    publish_ok(f, r);
    assert_int_equal(published(f, "targets"), 1);

    /* After publication: the first change bumps, later ones do not. */
    add(f, r, NULL, "c", "3", NULL);
    assert_int_equal(staged_version(f, "targets.json"), 2);
    add(f, r, NULL, "d", "4", NULL);
    assert_int_equal(staged_version(f, "targets.json"), 2);
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_remove_target(r, NULL, "a", &err), RF_OK);
    assert_int_equal(staged_version(f, "targets.json"), 2);
    char p[400];
    snprintf(p, sizeof(p), "%s/targets/a", f->repo);
    assert_false(exists(p));
    assert_int_equal(rf_tuf_repo_remove_target(r, NULL, "a", &err), RF_E_NOTFOUND);
    /* The same file again is no change at all. */
    int changed = 1;
    char src[400];
    sign(r, "targets", &f->targets[0]);
    make_file(f, src, sizeof(src), "same-d", "4");
    assert_int_equal(rf_tuf_repo_add_target(r, NULL, "d", src, NULL, &changed, &err), RF_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(staged_nsigs(f, "targets.json"), 1);

    /* The snapshot made before this change is stale now. */
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_publish(r, f->out, &err), RF_E_ROLLBACK);
    assert_non_null(strstr(err.msg, "repo snapshot"));
    rf_tuf_repo_free(r);
    r = open_repo(f);
    snap_ts(f, r);
    assert_int_equal(staged_version(f, "snapshot.json"), 2);
    assert_int_equal(staged_version(f, "timestamp.json"), 2);
    /* Re-signing the snapshot changes its bytes: the timestamp is stale. */
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_sign(r, "snapshot", f->snap.s, &err), RF_OK);
    assert_int_equal(rf_tuf_repo_check(r, &err), RF_OK); /* same signature bytes (ed25519) */
    publish_ok(f, r);
    assert_int_equal(published(f, "targets"), 2);
    assert_int_equal(published(f, "snapshot"), 2);

    /* Renewal is a change too. */
    assert_int_equal(rf_tuf_repo_renew(r, "targets", &err), RF_OK);
    assert_int_equal(staged_version(f, "targets.json"), 3);
    assert_int_equal(staged_nsigs(f, "targets.json"), 0);
    rf_tuf_repo_free(r);
}

static void test_stale_timestamp_and_expiry(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 1);
    rf_tuf_repo *r = open_repo(f);
    add(f, r, NULL, "a", "1", NULL);
    sign(r, "targets", &f->targets[0]);
    sign(r, "root", &f->root[0]);
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_timestamp(r, f->ts.s, &err), RF_E_NOTFOUND); /* no snapshot */
    snap_ts(f, r);
    /* A second snapshot after the timestamp (a minute later, so its expiry
     * and bytes differ): the timestamp names the old one. */
    rf_tuf_repo_set_now(r, NOW + 60);
    assert_int_equal(rf_tuf_repo_snapshot(r, f->snap.s, &err), RF_OK);
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_publish(r, f->out, &err), RF_E_ROLLBACK);
    assert_non_null(strstr(err.msg, "repo timestamp"));
    assert_int_equal(rf_tuf_repo_timestamp(r, f->ts.s, &err), RF_OK);
    /* Two days on, the timestamp (1 day) has expired. */
    rf_tuf_repo_set_now(r, NOW + 2 * DAY);
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_publish(r, f->out, &err), RF_E_EXPIRED);
    assert_non_null(strstr(err.msg, "timestamp"));
    assert_int_equal(rf_tuf_repo_timestamp(r, f->ts.s, &err), RF_OK);
    rf_tuf_repo_set_now(r, NOW + 2 * DAY + 10);
    rf_err_clear(&err);
    rf_rc rc = rf_tuf_repo_publish(r, f->out, &err);
    assert_int_equal(rc, RF_OK);
    rf_tuf_repo_free(r);
}

static void test_root_rotation(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 1); /* root key: root[0] */
    rf_tuf_repo *r = open_repo(f);
    add(f, r, NULL, "a", "1", NULL);
    sign(r, "targets", &f->targets[0]);
    sign(r, "root", &f->root[0]);
    snap_ts(f, r);
    publish_ok(f, r);
    rf_err err;
    rf_err_clear(&err);
    rf_tuf_target *t = NULL;
    assert_int_equal(client_find(f, "old", 1, NULL, &t, NULL, &err), RF_OK);
    assert_int_equal(trusted(f, "old", "root.json"), 1);

    /* Root v2: root keys root[1] and root[2] (threshold 2) replace root[0]. */
    rf_tuf_root_change ch[] = {
        {RF_TUF_ROOT_ADD_KEY, "root", f->root[1].pub, 0},
        {RF_TUF_ROOT_ADD_KEY, "root", f->root[2].pub, 0},
        {RF_TUF_ROOT_REMOVE_KEY, "root", f->root[0].id, 0},
        {RF_TUF_ROOT_THRESHOLD, "root", NULL, 2},
    };
    assert_int_equal(rf_tuf_repo_root_edit(r, ch, 4, &err), RF_OK);
    assert_int_equal(staged_version(f, "root.json"), 2);
    char p[400];
    snprintf(p, sizeof(p), "%s/staged/root-history/1.root.json", f->repo);
    assert_true(exists(p));
    snprintf(p, sizeof(p), "%s/staged/root-history/2.root.json", f->repo);
    assert_true(exists(p));
    /* A second edit in the same cycle keeps version 2. */
    rf_tuf_root_change ch2[] = {{RF_TUF_ROOT_EXPIRES, NULL, NULL, 200 * DAY}};
    assert_int_equal(rf_tuf_repo_root_edit(r, ch2, 1, &err), RF_OK);
    assert_int_equal(staged_version(f, "root.json"), 2);

    /* Signed only by the new keys: refused, naming the previous root. */
    sign(r, "root", &f->root[1]);
    sign(r, "root", &f->root[2]);
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_publish(r, f->out, &err), RF_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "root version 1's root keys"));
    snprintf(p, sizeof(p), "%s/metadata/2.root.json", f->out);
    assert_false(exists(p));
    /* A key of neither root is refused. */
    assert_int_equal(rf_tuf_repo_sign(r, "root", f->extra[0].s, &err), RF_E_SIGNATURE);
    /* The old root key signs too: published, and the old client moves on. */
    sign(r, "root", &f->root[0]);
    publish_ok(f, r);
    assert_int_equal(published(f, "root"), 2);
    assert_true(exists(p));
    rf_tuf_repo_free(r);
    char *content = NULL;
    assert_int_equal(client_find(f, "old", 0, "a", &t, &content, &err), RF_OK);
    assert_int_equal(trusted(f, "old", "root.json"), 2);
    assert_string_equal(content, "1");
    free(content);
    rf_tuf_target_free(t);

    /* Bad edits change nothing. */
    r = open_repo(f);
    rf_tuf_root_change bad1[] = {{RF_TUF_ROOT_THRESHOLD, "targets", NULL, 2}};
    assert_int_equal(rf_tuf_repo_root_edit(r, bad1, 1, &err), RF_E_USAGE);
    rf_tuf_root_change bad2[] = {{RF_TUF_ROOT_REMOVE_KEY, "snapshot", f->snap.id, 0}};
    assert_int_equal(rf_tuf_repo_root_edit(r, bad2, 1, &err), RF_E_USAGE);
    assert_non_null(strstr(err.msg, "no key left"));
    rf_tuf_root_change bad3[] = {{RF_TUF_ROOT_ADD_KEY, "bogus", f->extra[0].pub, 0}};
    assert_int_equal(rf_tuf_repo_root_edit(r, bad3, 1, &err), RF_E_USAGE);
    rf_tuf_root_change bad4[] = {{RF_TUF_ROOT_ADD_KEY, "targets", "{\"keytype\":1}", 0}};
    assert_int_not_equal(rf_tuf_repo_root_edit(r, bad4, 1, &err), RF_OK);
    assert_int_equal(staged_version(f, "root.json"), 2);
    assert_int_equal(staged_nsigs(f, "root.json"), 3);
    rf_tuf_repo_free(r);
}

static void test_timestamp_key_rotation(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 1);
    rf_tuf_repo *r = open_repo(f);
    add(f, r, NULL, "a", "1", NULL);
    sign(r, "targets", &f->targets[0]);
    sign(r, "root", &f->root[0]);
    snap_ts(f, r);
    publish_ok(f, r);
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(client_find(f, "c", 1, NULL, NULL, NULL, &err), RF_OK);
    /* Replace the timestamp key (extra[0]). */
    rf_tuf_root_change ch[] = {
        {RF_TUF_ROOT_ADD_KEY, "timestamp", f->extra[0].pub, 0},
        {RF_TUF_ROOT_REMOVE_KEY, "timestamp", f->ts.pub, 0},
    };
    assert_int_equal(rf_tuf_repo_root_edit(r, ch, 2, &err), RF_OK);
    sign(r, "root", &f->root[0]);
    /* The old timestamp no longer verifies under the new root. */
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_publish(r, f->out, &err), RF_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "timestamp"));
    assert_int_equal(rf_tuf_repo_timestamp(r, f->ts.s, &err), RF_E_SIGNATURE);
    assert_int_equal(rf_tuf_repo_timestamp(r, f->extra[0].s, &err), RF_OK);
    publish_ok(f, r);
    rf_tuf_repo_free(r);
    rf_tuf_target *t = NULL;
    assert_int_equal(client_find(f, "c", 0, "a", &t, NULL, &err), RF_OK);
    assert_int_equal(trusted(f, "c", "root.json"), 2);
    assert_int_equal(trusted(f, "c", "timestamp.json"), 2);
    rf_tuf_target_free(t);
}

static void test_delegation(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 1);
    rf_tuf_repo *r = open_repo(f);
    const char *k1[] = {f->extra[0].pub};
    const char *paths[] = {"channels/291/*"};
    rf_tuf_delegation d = {NULL, "team-291", {k1, 1, 1}, paths, 1, 1};
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_delegate(r, &d, &err), RF_OK);
    assert_int_equal(rf_tuf_repo_delegate(r, &d, &err), RF_E_USAGE); /* exists */
    rf_tuf_delegation bad = d;
    bad.name = "../evil";
    assert_int_equal(rf_tuf_repo_delegate(r, &bad, &err), RF_E_USAGE);
    bad.name = "snapshot";
    assert_int_equal(rf_tuf_repo_delegate(r, &bad, &err), RF_E_USAGE);
    /* A second role for every path, delegated from the first. */
    const char *k2[] = {f->extra[1].pub};
    rf_tuf_delegation d2 = {"team-291", "sub", {k2, 1, 1}, NULL, 0, 0};
    assert_int_equal(rf_tuf_repo_delegate(r, &d2, &err), RF_OK);

    add(f, r, "team-291", "channels/291/c.rfc", "C", NULL);
    char src[400];
    make_file(f, src, sizeof(src), "x", "X");
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_add_target(r, "team-291", "channels/292/c.rfc", src, NULL,
                                            NULL, &err),
                     RF_E_USAGE);
    assert_non_null(strstr(err.msg, "trusted only for channels/291/*"));
    assert_int_equal(rf_tuf_repo_add_target(r, "team-291", "channels/291/deep/c.rfc", src,
                                            NULL, NULL, &err),
                     RF_E_USAGE);
    /* "sub" is trusted for every path, but only below team-291's paths. */
    add(f, r, "sub", "channels/291/s.rfc", "S", NULL);
    assert_int_equal(rf_tuf_repo_add_target(r, "sub", "other", src, NULL, NULL, &err),
                     RF_E_USAGE);
    /* One path, one role. */
    assert_int_equal(rf_tuf_repo_add_target(r, NULL, "channels/291/c.rfc", src, NULL, NULL,
                                            &err),
                     RF_E_USAGE);
    assert_non_null(strstr(err.msg, "already listed by role \"team-291\""));
    assert_int_equal(rf_tuf_repo_add_target(r, NULL, "channels/291/c.rfc/x", src, NULL, NULL,
                                            &err),
                     RF_E_USAGE);
    assert_int_equal(rf_tuf_repo_add_target(r, "snapshot", "x", src, NULL, NULL, &err),
                     RF_E_USAGE);
    rf_tuf_repo_free(r);

    /* Reopened: the tree is found again. */
    r = open_repo(f);
    sign(r, "targets", &f->targets[0]);
    sign(r, "root", &f->root[0]);
    sign(r, "sub", &f->extra[1]);
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_sign(r, "team-291", f->extra[1].s, &err), RF_E_SIGNATURE);
    snap_ts(f, r);
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_publish(r, f->out, &err), RF_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "team-291"));
    sign(r, "team-291", &f->extra[0]);
    publish_ok(f, r);
    json_t *snap = staged(f, "snapshot.json");
    json_t *meta = json_object_get(json_object_get(snap, "signed"), "meta");
    assert_int_equal(json_object_size(meta), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(meta, "sub.json"),
                                                        "version")),
                     1);
    json_decref(snap);
    char p[400];
    snprintf(p, sizeof(p), "%s/metadata/1.team-291.json", f->out);
    assert_true(exists(p));
    rf_tuf_repo_free(r);

    rf_tuf_target *t = NULL;
    char *content = NULL;
    assert_int_equal(client_find(f, "c", 1, "channels/291/s.rfc", &t, &content, &err), RF_OK);
    assert_string_equal(t->role, "sub");
    assert_string_equal(content, "S");
    free(content);
    rf_tuf_target_free(t);
}

static void test_unknown_fields_preserved(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 1);
    /* Someone (another tool) added fields; they must survive our edits. */
    json_t *tg = staged(f, "targets.json");
    json_object_set_new(json_object_get(tg, "signed"), "x_note", json_string("keep me"));
    json_object_set_new(tg, "x_envelope", json_pack("{s:i}", "n", 7));
    char p[400];
    snprintf(p, sizeof(p), "%s/staged/targets.json", f->repo);
    assert_int_equal(json_dump_file(tg, p, JSON_INDENT(1)), 0);
    json_decref(tg);
    json_t *rt = staged(f, "root.json");
    json_object_set_new(json_object_get(rt, "signed"), "x_root", json_true());
    snprintf(p, sizeof(p), "%s/staged/root.json", f->repo);
    assert_int_equal(json_dump_file(rt, p, JSON_INDENT(1)), 0);
    snprintf(p, sizeof(p), "%s/staged/root-history/1.root.json", f->repo);
    assert_int_equal(json_dump_file(rt, p, JSON_INDENT(1)), 0);
    json_decref(rt);

    rf_tuf_repo *r = open_repo(f);
    add(f, r, NULL, "a", "1", NULL);
    rf_err err;
    rf_err_clear(&err);
    rf_tuf_root_change ch[] = {{RF_TUF_ROOT_THRESHOLD, "root", NULL, 1}};
    assert_int_equal(rf_tuf_repo_root_edit(r, ch, 1, &err), RF_OK);
    sign(r, "targets", &f->targets[0]);
    sign(r, "root", &f->root[0]);
    rf_tuf_repo_free(r);
    tg = staged(f, "targets.json");
    assert_string_equal(json_string_value(json_object_get(json_object_get(tg, "signed"),
                                                          "x_note")),
                        "keep me");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(tg, "x_envelope"), "n")),
                     7);
    assert_non_null(json_object_get(json_object_get(json_object_get(tg, "signed"), "targets"),
                                    "a"));
    json_decref(tg);
    rt = staged(f, "root.json");
    assert_true(json_is_true(json_object_get(json_object_get(rt, "signed"), "x_root")));
    json_decref(rt);
    /* And the signatures cover them: a client accepts the result. */
    r = open_repo(f);
    snap_ts(f, r);
    publish_ok(f, r);
    rf_tuf_repo_free(r);
}

static void test_bad_paths(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 1);
    rf_tuf_repo *r = open_repo(f);
    char src[400];
    make_file(f, src, sizeof(src), "x", "X");
    char longp[600], longpart[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    memset(longpart, 'b', sizeof(longpart) - 1);
    longpart[sizeof(longpart) - 1] = 0;
    const char *bad[] = {"",        "/etc/passwd", "a/../b", "..",     "a//b", "./a",
                         "a/.",     "a\\b",        "a\nb",   "a\x7f",  longp,  longpart,
                         "\xff\xfe", "a/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rf_err err;
        rf_err_clear(&err);
        rf_rc rc = rf_tuf_repo_add_target(r, NULL, bad[i], src, NULL, NULL, &err);
        if (rc != RF_E_USAGE)
            fail_msg("path %zu accepted or wrong error: %s", i, rf_strerror(rc));
    }
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_add_target(r, NULL, "ok/file", src, "[1]", NULL, &err),
                     RF_E_USAGE); /* custom must be an object */
    assert_int_equal(rf_tuf_repo_add_target(r, NULL, "ok/file", "/no/such/file", NULL, NULL,
                                            &err),
                     RF_E_IO);
    rf_tuf_repo_free(r);
    json_t *tg = staged(f, "targets.json");
    assert_int_equal(json_object_size(json_object_get(json_object_get(tg, "signed"), "targets")),
                     0);
    json_decref(tg);
    /* Nothing was written outside the repository. */
    char p[400];
    path_of(p, sizeof(p), f, "b");
    assert_false(exists(p));
    assert_int_equal(staged_version(f, "targets.json"), 1);
}

static void test_damaged_files(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 1);
    char p[400], q[400];
    snprintf(p, sizeof(p), "%s/repo.json", f->repo);
    size_t l0 = 0;
    char *good = read_all(p, &l0);
    assert_non_null(good);

    /* A torn repo.json: a clear error naming it, nothing rewritten. */
    write_file(p, good, l0 / 2);
    rf_tuf_repo *r = NULL;
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_open(f->repo, &r, &err), RF_E_PARSE);
    assert_null(r);
    assert_non_null(strstr(err.file, "repo.json"));
    size_t l1 = 0;
    char *now = read_all(p, &l1);
    assert_int_equal(l1, l0 / 2);
    free(now);
    /* Valid JSON with a wrong field. */
    write_str(p, "{\"ringfence_tuf_repo\":1,\"consistent_snapshot\":3}");
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_open(f->repo, &r, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "consistent_snapshot"));
    write_str(p, "{\"ringfence_tuf_repo\":2}");
    assert_int_equal(rf_tuf_repo_open(f->repo, &r, &err), RF_E_UNSUPPORTED);
    write_file(p, good, l0);
    free(good);

    /* A damaged staged file. */
    snprintf(q, sizeof(q), "%s/staged/targets.json", f->repo);
    size_t tl = 0;
    char *tgood = read_all(q, &tl);
    write_str(q, "{\"signed\":{\"_type\":\"root\"},\"signatures\":[]}");
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_open(f->repo, &r, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.file, "targets.json"));
    assert_non_null(strstr(err.msg, "expected _type \"targets\""));
    write_file(q, tgood, tl);
    free(tgood);

    /* The root and its history disagree. */
    snprintf(q, sizeof(q), "%s/staged/root-history/1.root.json", f->repo);
    size_t rl = 0;
    char *rgood = read_all(q, &rl);
    json_t *rt = staged(f, "root.json");
    json_object_set_new(json_object_get(rt, "signed"), "x", json_true());
    assert_int_equal(json_dump_file(rt, q, 0), 0);
    json_decref(rt);
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_open(f->repo, &r, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "differs from staged/root.json"));
    write_file(q, rgood, rl);
    free(rgood);

    /* A delegated role whose file is missing. */
    r = open_repo(f);
    const char *k1[] = {f->extra[0].pub};
    rf_tuf_delegation d = {NULL, "team", {k1, 1, 1}, NULL, 0, 0};
    assert_int_equal(rf_tuf_repo_delegate(r, &d, &err), RF_OK);
    /* Held lock: a second open is refused while the first is live. */
    rf_tuf_repo *r2 = NULL;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_open(f->repo, &r2, &err), RF_E_IO);
    assert_non_null(strstr(err.msg, "in use"));
    rf_tuf_repo_free(r);
    snprintf(q, sizeof(q), "%s/staged/team.json", f->repo);
    assert_int_equal(unlink(q), 0);
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_open(f->repo, &r, &err), RF_E_IO);
    assert_non_null(strstr(err.file, "team.json"));

    /* init refuses a non-empty directory and bad settings. */
    rf_tuf_repo_init_opts o;
    rf_tuf_repo_init_opts_default(&o);
    const char *rk[] = {f->root[0].pub};
    o.root = o.targets = o.snapshot = o.timestamp = (rf_tuf_repo_keys){rk, 1, 1};
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_init(f->repo, &o, &err), RF_E_IO);
    assert_non_null(strstr(err.msg, "not empty"));
    char fresh[400];
    path_of(fresh, sizeof(fresh), f, "fresh");
    o.root.threshold = 2;
    assert_int_equal(rf_tuf_repo_init(fresh, &o, &err), RF_E_USAGE);
    o.root.threshold = 1;
    const char *dup[] = {f->root[0].pub, f->root[0].pub};
    o.root = (rf_tuf_repo_keys){dup, 2, 1};
    assert_int_equal(rf_tuf_repo_init(fresh, &o, &err), RF_E_USAGE);
    const char *priv[] = {"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"};
    o.root = (rf_tuf_repo_keys){priv, 1, 1};
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_init(fresh, &o, &err), RF_E_PARSE);
    assert_non_null(strstr(err.msg, "PEM"));
    assert_false(exists(fresh));
}

static void test_not_consistent(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 0);
    rf_tuf_repo *r = open_repo(f);
    add(f, r, NULL, "dir/a.txt", "AAA", NULL);
    sign(r, "targets", &f->targets[0]);
    sign(r, "root", &f->root[0]);
    snap_ts(f, r);
    publish_ok(f, r);
    rf_tuf_repo_free(r);
    char p[400];
    const char *want[] = {"metadata/root.json",     "metadata/1.root.json",
                          "metadata/targets.json",  "metadata/1.targets.json",
                          "metadata/snapshot.json", "metadata/timestamp.json",
                          "targets/dir/a.txt"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", f->out, want[i]);
        if (!exists(p))
            fail_msg("missing %s", want[i]);
    }
    rf_err err;
    rf_err_clear(&err);
    rf_tuf_target *t = NULL;
    char *content = NULL;
    assert_int_equal(client_find(f, "c", 1, "dir/a.txt", &t, &content, &err), RF_OK);
    assert_string_equal(content, "AAA");
    free(content);
    rf_tuf_target_free(t);
}

static void test_tampered_target_and_fetcher(void **state)
{
    fx *f = *state;
    init_repo(f, 1, 1, 1, 1, 1);
    rf_tuf_repo *r = open_repo(f);
    add(f, r, NULL, "a", "original", NULL);
    sign(r, "targets", &f->targets[0]);
    sign(r, "root", &f->root[0]);
    snap_ts(f, r);
    /* The file in the repository changed behind its metadata. */
    char p[400];
    snprintf(p, sizeof(p), "%s/targets/a", f->repo);
    write_file(p, "tampered", 8);
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_publish(r, f->out, &err), RF_E_CHECKSUM);
    assert_non_null(strstr(err.msg, "add it again"));
    assert_int_equal(published(f, "targets"), 0);
    rf_tuf_repo_free(r);

    /* The fetcher: limits, missing files, escapes. */
    char dir[400];
    path_of(dir, sizeof(dir), f, "");
    char file[400];
    path_of(file, sizeof(file), f, "f.txt");
    write_file(file, "0123456789", 10);
    rf_buf b;
    rf_buf_init(&b);
    assert_int_equal(rf_tuf_repo_fetch_file(dir, "file-base/f.txt", 10, NULL, &b, &err), RF_OK);
    assert_int_equal(b.len, 10);
    assert_int_equal(rf_tuf_repo_fetch_file(dir, "file-base/f.txt", 9, NULL, &b, &err),
                     RF_E_LIMIT);
    assert_int_equal(rf_tuf_repo_fetch_file(dir, "file-base/f%2Etxt", 100, NULL, &b, &err),
                     RF_OK);
    assert_int_equal(b.len, 20);
    assert_int_equal(rf_tuf_repo_fetch_file(dir, "file-base/nope", 100, NULL, &b, &err),
                     RF_E_NOTFOUND);
    assert_int_equal(rf_tuf_repo_fetch_file(dir, "file-base/../x", 100, NULL, &b, &err),
                     RF_E_USAGE);
    assert_int_equal(rf_tuf_repo_fetch_file(dir, "file-base/%2E%2E/x", 100, NULL, &b, &err),
                     RF_E_USAGE);
    assert_int_equal(rf_tuf_repo_fetch_file(dir, "file-base/a%00b", 100, NULL, &b, &err),
                     RF_E_USAGE);
    assert_int_equal(rf_tuf_repo_fetch_file(dir, "http://x/f.txt", 100, NULL, &b, &err),
                     RF_E_USAGE);
    rf_buf_free(&b);
}

static void test_status(void **state)
{
    fx *f = *state;
    init_repo(f, 3, 2, 1, 1, 1);
    rf_tuf_repo *r = open_repo(f);
    sign(r, "root", &f->root[1]);
    char *s = NULL;
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_status_json(r, &s, &err), RF_OK);
    json_error_t je;
    json_t *st = json_loads(s, 0, &je);
    free(s);
    assert_non_null(st);
    assert_false(json_is_true(json_object_get(st, "ready")));
    json_t *roles = json_object_get(st, "roles");
    assert_int_equal(json_array_size(roles), 4);
    json_t *root = json_array_get(roles, 0);
    assert_string_equal(json_string_value(json_object_get(root, "role")), "root");
    assert_int_equal(json_integer_value(json_object_get(root, "signatures")), 1);
    assert_int_equal(json_integer_value(json_object_get(root, "threshold")), 2);
    assert_int_equal(json_array_size(json_object_get(root, "keyids")), 3);
    assert_true(json_is_null(json_object_get(json_array_get(roles, 2), "version")));
    assert_true(json_array_size(json_object_get(st, "problems")) >= 3);
    json_decref(st);
    rf_tuf_repo_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_release_and_client_download, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threshold_signing_in_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_clear_signatures_and_bump_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stale_timestamp_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timestamp_key_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_fields_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_consistent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_target_and_fetcher, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
