/*
 * publish_test.c — ringfenced's TUF publisher (server/publish.c), compiled in
 * directly since the server has no CMake target of its own yet. Each test
 * makes keys and a repository with the library (root signed, as the first
 * publication needs), then: a publisher holding the targets key publishes
 * and the library's client downloads the target with its custom fields; one
 * without it stages, says which commands to run, and sees the publication
 * that an operator makes offline while it runs; refresh renews the timestamp
 * and snapshot, finishes a publication signed offline, and reports a
 * timestamp it cannot renew; bad inputs give clear errors.
 */
#include "../../server/publish.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "support/rm_tree.h"

#define DAY ((time_t)86400)

enum { KR, KT, KS, KTS, KX, NKEYS }; /* root, targets, snapshot, timestamp, unrelated */

typedef struct fx {
    char dir[256];
    char repo[300];
    char pub[320];
    char key[NKEYS][300];
    char *pubjson[NKEYS];
    rf_tuf_signer *s[NKEYS];
    int nclient;
} fx;

static const char *const custom5 = "{\"channel\":291,\"content_version\":5}";

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static char *read_all(const char *path)
{
    uint8_t *buf = NULL;
    size_t l = 0;
    if (rf_file_read(path, 64u << 20, &buf, &l, NULL) != RF_OK)
        return NULL;
    return (char *)buf;
}

static void sha_of(const char *s, char out[65])
{
    uint8_t d[32];
    rf_sha256(s, strlen(s), d);
    rf_hex(d, 32, out);
}

static rf_tuf_repo *repo_handle(fx *f)
{
    rf_tuf_repo *r = NULL;
    rf_err err;
    rf_err_clear(&err);
    if (rf_tuf_repo_open(f->repo, &r, &err) != RF_OK)
        fail_msg("open repository: %s", err.msg);
    return r;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/rfd-publish-test-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->repo, sizeof(f->repo), "%s/repo", f->dir);
    snprintf(f->pub, sizeof(f->pub), "%s/public", f->repo);
    static const char *const names[NKEYS] = {"root", "release", "snapshot key", "timestamp",
                                             "other"};
    for (int i = 0; i < NKEYS; i++) {
        char *priv = NULL;
        char id[65];
        rf_err err;
        rf_err_clear(&err);
        if (rf_tuf_keygen(i == KT ? RF_TUF_KEY_ECDSA_P256 : RF_TUF_KEY_ED25519, &priv,
                          &f->pubjson[i], id, &err) != RF_OK)
            return -1;
        snprintf(f->key[i], sizeof(f->key[i]), "%s/%s", f->dir, names[i]);
        write_file(f->key[i], priv, strlen(priv));
        chmod(f->key[i], 0600);
        free(priv);
        if (rf_tuf_signer_load(f->key[i], &f->s[i], &err) != RF_OK)
            return -1;
    }
    const char *rk[1] = {f->pubjson[KR]}, *tk[1] = {f->pubjson[KT]}, *sk[1] = {f->pubjson[KS]},
               *tsk[1] = {f->pubjson[KTS]};
    rf_tuf_repo_init_opts o;
    rf_tuf_repo_init_opts_default(&o);
    o.root = (rf_tuf_repo_keys){rk, 1, 1};
    o.targets = (rf_tuf_repo_keys){tk, 1, 1};
    o.snapshot = (rf_tuf_repo_keys){sk, 1, 1};
    o.timestamp = (rf_tuf_repo_keys){tsk, 1, 1};
    rf_err err;
    rf_err_clear(&err);
    if (rf_tuf_repo_init(f->repo, &o, &err) != RF_OK)
        return -1;
    /* The root key holders sign root version 1 before the first release. */
    rf_tuf_repo *r = NULL;
    if (rf_tuf_repo_open(f->repo, &r, &err) != RF_OK ||
        rf_tuf_repo_sign(r, "root", f->s[KR], &err) != RF_OK)
        return -1;
    rf_tuf_repo_free(r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    for (int i = 0; i < NKEYS; i++) {
        rf_tuf_signer_free(f->s[i]);
        free(f->pubjson[i]);
    }
    rm_tree(f->dir);
    free(f);
    return 0;
}

/* A publisher with the targets key (or not) and the online keys (or not). */
static rfd_publisher *publisher(fx *f, int targets, int online)
{
    rfd_publisher_opts o = {f->repo, NULL, targets ? f->key[KT] : NULL,
                            online ? f->key[KS] : NULL, online ? f->key[KTS] : NULL};
    rfd_publisher *p = NULL;
    rf_err err;
    rf_err_clear(&err);
    if (rfd_publisher_open(&o, &p, &err) != RF_OK)
        fail_msg("rfd_publisher_open: %s", err.msg);
    return p;
}

static int add(rfd_publisher *p, const char *name, const char *content, const char *custom,
               char *why, size_t whylen)
{
    int published = -1;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rfd_publisher_add(p, name, (const uint8_t *)content, strlen(content), custom,
                                 &published, why, whylen, &err);
    if (rc != RF_OK)
        fail_msg("rfd_publisher_add %s: %s (%s)", name, err.msg, rf_strerror(rc));
    assert_true(published == 0 || published == 1);
    return published;
}

/* A fresh client, as a new agent: trusts public/metadata/1.root.json, updates
 * at time now (0: the clock), finds path and downloads it. *content and *t
 * may be NULL. */
static rf_rc client_get(fx *f, const char *path, time_t now, rf_tuf_target **t,
                        char **content, rf_err *err)
{
    char mdir[400], tdir[420], root[420];
    snprintf(mdir, sizeof(mdir), "%s/client-%d", f->dir, f->nclient++);
    snprintf(tdir, sizeof(tdir), "%s-targets", mdir);
    snprintf(root, sizeof(root), "%s/metadata/1.root.json", f->pub);
    mkdir(tdir, 0755);
    rf_rc rc = rf_tuf_client_init(mdir, root, err);
    if (rc != RF_OK)
        return rc;
    rf_tuf_client_opts o;
    rf_tuf_client_opts_default(&o);
    o.metadata_dir = mdir;
    o.metadata_url = RF_TUF_REPO_FILE_BASE "/metadata";
    o.target_base_url = RF_TUF_REPO_FILE_BASE "/targets";
    o.fetch = rf_tuf_repo_fetch_file;
    o.fetch_ctx = f->pub;
    o.now = now;
    rf_tuf_client *c = NULL;
    rf_tuf_target *got = NULL;
    rc = rf_tuf_client_new(&o, &c, err);
    if (rc == RF_OK)
        rc = rf_tuf_client_refresh(c, err);
    if (rc == RF_OK && path) {
        rc = rf_tuf_client_find_target(c, path, &got, err);
        char *w = NULL;
        if (rc == RF_OK)
            rc = rf_tuf_client_download(c, got, tdir, &w, err);
        if (rc == RF_OK && content)
            *content = read_all(w);
        free(w);
    }
    if (rc == RF_OK && t)
        *t = got;
    else
        rf_tuf_target_free(got);
    rf_tuf_client_free(c);
    return rc;
}

/* The version of a published metadata file (public/metadata/FILE). */
static long long pub_version(fx *f, const char *file)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/metadata/%s", f->pub, file);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (!j)
        return -1;
    long long v = json_integer_value(json_object_get(json_object_get(j, "signed"), "version"));
    json_decref(j);
    return v;
}

/* The published version of a role as repo.json records it. */
static long long recorded(fx *f, const char *role)
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

/* What an operator types after a release is staged, through the API. */
static void operator_release(fx *f, int sign_only)
{
    rf_tuf_repo *r = repo_handle(f);
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_repo_sign(r, "targets", f->s[KT], &err), RF_OK);
    if (!sign_only) {
        assert_int_equal(rf_tuf_repo_snapshot(r, f->s[KS], &err), RF_OK);
        assert_int_equal(rf_tuf_repo_timestamp(r, f->s[KTS], &err), RF_OK);
        rf_rc rc = rf_tuf_repo_publish(r, f->pub, &err);
        if (rc != RF_OK)
            fail_msg("operator publish: %s", err.msg);
    }
    rf_tuf_repo_free(r);
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_online_targets_key_publishes(void **state)
{
    fx *f = *state;
    rfd_publisher *p = publisher(f, 1, 1);
    assert_string_equal(rfd_publisher_public_dir(p), f->pub);
    char sha[65], sha6[65], why[1024];
    sha_of("channel 291 v5 bytes", sha);
    sha_of("channel 291 v6 bytes", sha6);

    assert_int_equal(rfd_publisher_is_published(p, "channels/291/5.rfc", sha), 0);
    assert_int_equal(add(p, "channels/291/5.rfc", "channel 291 v5 bytes", custom5, why,
                         sizeof(why)),
                     1);
    assert_string_equal(why, "");
    assert_int_equal(recorded(f, "targets"), 1);

    /* An agent trusting 1.root.json finds it, with its bytes and custom. */
    rf_err err;
    rf_err_clear(&err);
    rf_tuf_target *t = NULL;
    char *content = NULL;
    rf_rc rc = client_get(f, "channels/291/5.rfc", 0, &t, &content, &err);
    if (rc != RF_OK)
        fail_msg("client: %s", err.msg);
    assert_string_equal(content, "channel 291 v5 bytes");
    assert_string_equal(t->sha256, sha);
    assert_string_equal(t->role, "targets");
    json_error_t je;
    json_t *c = json_loads(t->custom_json, 0, &je);
    assert_non_null(c);
    assert_int_equal(json_integer_value(json_object_get(c, "channel")), 291);
    assert_int_equal(json_integer_value(json_object_get(c, "content_version")), 5);
    json_decref(c);
    free(content);
    rf_tuf_target_free(t);

    assert_int_equal(rfd_publisher_is_published(p, "channels/291/5.rfc", sha), 1);
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (sha[i] >= 'a' && sha[i] <= 'f') ? (char)(sha[i] - 'a' + 'A') : sha[i];
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/5.rfc", upper), 1);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/5.rfc", sha6), 0);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/6.rfc", sha), 0);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/5.rfc", "abc"), 0);
    assert_int_equal(rfd_publisher_is_published(p, NULL, sha), 0);
    assert_int_equal(rfd_publisher_is_published(NULL, "channels/291/5.rfc", sha), 0);

    /* The same again (a retry): fine, and nothing new is published. */
    long long ts = pub_version(f, "timestamp.json");
    assert_int_equal(add(p, "channels/291/5.rfc", "channel 291 v5 bytes", custom5, why,
                         sizeof(why)),
                     1);
    assert_int_equal(pub_version(f, "timestamp.json"), ts);
    assert_int_equal(recorded(f, "targets"), 1);

    /* The same name with other bytes or other custom metadata: refused. */
    int published = -1;
    rf_err_clear(&err);
    rc = rfd_publisher_add(p, "channels/291/5.rfc", (const uint8_t *)"evil", 4, custom5,
                           &published, why, sizeof(why), &err);
    assert_int_equal(rc, RF_E_USAGE);
    assert_non_null(strstr(err.msg, "already published"));
    assert_int_equal(published, -1);
    rf_err_clear(&err);
    rc = rfd_publisher_add(p, "channels/291/5.rfc", (const uint8_t *)"channel 291 v5 bytes",
                           20, "{\"channel\":292}", &published, why, sizeof(why), &err);
    assert_int_equal(rc, RF_E_USAGE);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/5.rfc", sha), 1);

    /* A second target: a new targets version, both downloadable. */
    assert_int_equal(add(p, "channels/291/6.rfc", "channel 291 v6 bytes",
                         "{\"channel\":291,\"content_version\":6}", why, sizeof(why)),
                     1);
    assert_int_equal(recorded(f, "targets"), 2);
    assert_int_equal(pub_version(f, "2.targets.json"), 2);
    assert_true(pub_version(f, "timestamp.json") > ts);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/6.rfc", sha6), 1);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/5.rfc", sha), 1);
    content = NULL;
    rf_err_clear(&err);
    assert_int_equal(client_get(f, "channels/291/6.rfc", 0, NULL, &content, &err), RF_OK);
    assert_string_equal(content, "channel 291 v6 bytes");
    free(content);

    /* No custom metadata, empty content: both fine. */
    assert_int_equal(add(p, "notes/empty.txt", "", NULL, NULL, 0), 1);
    char sha0[65];
    sha_of("", sha0);
    assert_int_equal(rfd_publisher_is_published(p, "notes/empty.txt", sha0), 1);

    /* The publisher does not hold the repository's lock between calls. */
    rf_tuf_repo_free(repo_handle(f));
    rfd_publisher_free(p);
}

static void test_offline_targets_signing(void **state)
{
    fx *f = *state;
    rfd_publisher *p = publisher(f, 0, 1);
    char sha[65], why[2048];
    sha_of("v5", sha);
    assert_int_equal(add(p, "channels/291/5.rfc", "v5", custom5, why, sizeof(why)), 0);
    char want[1024];
    snprintf(want, sizeof(want), "ringfence repo sign %s --role targets --key TARGETS_KEY",
             f->repo);
    if (!strstr(why, want))
        fail_msg("why does not name the sign command: %s", why);
    /* The online keys' files are named as they are: "snapshot key" quoted. */
    snprintf(want, sizeof(want), "ringfence repo snapshot %s --key '%s'", f->repo, f->key[KS]);
    if (!strstr(why, want))
        fail_msg("why does not name the snapshot command: %s", why);
    snprintf(want, sizeof(want), "ringfence repo publish %s %s", f->repo, f->pub);
    assert_non_null(strstr(why, want));
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/5.rfc", sha), 0);

    /* Retried: still staged, still not an error. A short why is cut. */
    char small[16];
    assert_int_equal(add(p, "channels/291/5.rfc", "v5", custom5, small, sizeof(small)), 0);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    /* Other bytes for the staged name: refused. */
    int published = -1;
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rfd_publisher_add(p, "channels/291/5.rfc", (const uint8_t *)"v5!", 3,
                                       custom5, &published, why, sizeof(why), &err),
                     RF_E_USAGE);
    assert_non_null(strstr(err.msg, "already staged"));

    /* The operator signs and publishes while the server runs. */
    operator_release(f, 0);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/5.rfc", sha), 1);
    assert_int_equal(add(p, "channels/291/5.rfc", "v5", custom5, why, sizeof(why)), 1);
    assert_string_equal(why, "");
    char *content = NULL;
    rf_err_clear(&err);
    assert_int_equal(client_get(f, "channels/291/5.rfc", 0, NULL, &content, &err), RF_OK);
    assert_string_equal(content, "v5");
    free(content);
    rfd_publisher_free(p);
}

static void test_offline_sign_then_refresh_publishes(void **state)
{
    fx *f = *state;
    rfd_publisher *p = publisher(f, 0, 1);
    char sha[65], why[2048];
    sha_of("v7", sha);
    assert_int_equal(add(p, "channels/291/7.rfc", "v7", custom5, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "or only the sign command"));
    rf_err err;
    rf_err_clear(&err);
    /* Nothing published yet and nothing signed: refresh has nothing to keep
     * fresh and is not an error. */
    assert_int_equal(rfd_publisher_refresh(p, 0, 3600, &err), RF_OK);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/7.rfc", sha), 0);
    /* Only the offline step; the server's ticker does the rest. */
    operator_release(f, 1);
    assert_int_equal(rfd_publisher_refresh(p, 0, 3600, &err), RF_OK);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/7.rfc", sha), 1);
    assert_int_equal(recorded(f, "targets"), 1);
    rfd_publisher_free(p);
}

static void test_no_keys(void **state)
{
    fx *f = *state;
    rfd_publisher *p = publisher(f, 0, 0);
    char why[2048], sha[65];
    sha_of("x", sha);
    assert_int_equal(add(p, "a/x.bin", "x", NULL, why, sizeof(why)), 0);
    assert_non_null(strstr(why, "--role targets --key TARGETS_KEY"));
    assert_non_null(strstr(why, "--key SNAPSHOT_KEY"));
    assert_non_null(strstr(why, "--key TIMESTAMP_KEY"));
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rfd_publisher_refresh(p, 0, 3600, &err), RF_OK); /* a no-op */
    assert_int_equal(pub_version(f, "timestamp.json"), -1);
    operator_release(f, 0);
    assert_int_equal(rfd_publisher_is_published(p, "a/x.bin", sha), 1);
    rfd_publisher_free(p);
}

static void test_refresh_renews_online_roles(void **state)
{
    fx *f = *state;
    rfd_publisher *p = publisher(f, 1, 1);
    char sha[65];
    sha_of("v5", sha);
    assert_int_equal(add(p, "channels/291/5.rfc", "v5", custom5, NULL, 0), 1);
    long long ts = pub_version(f, "timestamp.json"), snap = recorded(f, "snapshot");
    {
        rf_tuf_repo *r = repo_handle(f);
        rf_err err;
        rf_err_clear(&err);
        assert_int_equal(rf_tuf_repo_set_period(r, RF_TUF_PERIOD_TIMESTAMP, 60, &err), RF_OK);
        rf_tuf_repo_free(r);
    }
    time_t now = time(NULL);
    rf_err err;
    rf_err_clear(&err);
    /* Nothing due: nothing changes. */
    assert_int_equal(rfd_publisher_refresh(p, now, 600, &err), RF_OK);
    /* ... and cheaply: the repository is not even opened (an operator's
     * command holding it does not get in the way). */
    rf_tuf_repo *held = repo_handle(f);
    assert_int_equal(rfd_publisher_refresh(p, now + 60, 600, &err), RF_OK);
    rf_tuf_repo_free(held);
    assert_int_equal(pub_version(f, "timestamp.json"), ts);

    /* Two days on, the one-day timestamp is renewed (for 60 s now). */
    time_t later = now + 2 * DAY;
    rf_rc rc = rfd_publisher_refresh(p, later, 600, &err);
    if (rc != RF_OK)
        fail_msg("refresh: %s", err.msg);
    assert_int_equal(pub_version(f, "timestamp.json"), ts + 1);
    assert_int_equal(recorded(f, "timestamp"), ts + 1);
    assert_int_equal(recorded(f, "snapshot"), snap); /* still 5 days to go */
    rf_err_clear(&err);
    rc = client_get(f, "channels/291/5.rfc", later + 30, NULL, NULL, &err);
    if (rc != RF_OK)
        fail_msg("client after refresh: %s", err.msg);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/5.rfc", sha), 1);
    /* Called again at once: cheap, nothing due. */
    held = repo_handle(f);
    assert_int_equal(rfd_publisher_refresh(p, later + 1, 30, &err), RF_OK);
    rf_tuf_repo_free(held);
    assert_int_equal(pub_version(f, "timestamp.json"), ts + 1);
    /* When due, a held repository is an error to retry, not a crash. */
    held = repo_handle(f);
    rf_err_clear(&err);
    assert_int_equal(rfd_publisher_refresh(p, later + 40, 30, &err), RF_E_IO);
    assert_non_null(strstr(err.msg, "in use"));
    rf_tuf_repo_free(held);
    /* Within the margin of its 60 s: renewed again. */
    assert_int_equal(rfd_publisher_refresh(p, later + 40, 30, &err), RF_OK);
    assert_int_equal(pub_version(f, "timestamp.json"), ts + 2);

    /* Eight days on, the snapshot is renewed too. */
    time_t much = now + 8 * DAY;
    rc = rfd_publisher_refresh(p, much, 600, &err);
    if (rc != RF_OK)
        fail_msg("refresh: %s", err.msg);
    assert_int_equal(recorded(f, "snapshot"), snap + 1);
    assert_int_equal(pub_version(f, "timestamp.json"), ts + 3);
    rf_err_clear(&err);
    rc = client_get(f, "channels/291/5.rfc", much + 30, NULL, NULL, &err);
    if (rc != RF_OK)
        fail_msg("client after the snapshot renewal: %s", err.msg);

    /* A hundred days on, the targets key held here renews targets too. */
    assert_int_equal(recorded(f, "targets"), 1);
    time_t far = now + 100 * DAY;
    rc = rfd_publisher_refresh(p, far, 600, &err);
    if (rc != RF_OK)
        fail_msg("refresh: %s", err.msg);
    assert_int_equal(recorded(f, "targets"), 2);
    rf_err_clear(&err);
    rc = client_get(f, "channels/291/5.rfc", far + 30, NULL, NULL, &err);
    if (rc != RF_OK)
        fail_msg("client after the targets renewal: %s", err.msg);
    rfd_publisher_free(p);
}

static void test_refresh_blocked_by_offline_signature(void **state)
{
    fx *f = *state;
    rfd_publisher *p = publisher(f, 0, 1);
    assert_int_equal(add(p, "channels/291/5.rfc", "v5", custom5, NULL, 0), 0);
    operator_release(f, 0);
    assert_int_equal(add(p, "channels/291/6.rfc", "v6", custom5, NULL, 0), 0);
    long long ts = pub_version(f, "timestamp.json");
    rf_err err;
    rf_err_clear(&err);
    /* Not due: quiet. */
    assert_int_equal(rfd_publisher_refresh(p, 0, 600, &err), RF_OK);
    /* Due, but targets v2 waits for its signature: said loudly. */
    rf_rc rc = rfd_publisher_refresh(p, time(NULL) + 2 * DAY, 600, &err);
    assert_int_equal(rc, RF_E_SIGNATURE);
    assert_non_null(strstr(err.msg, "cannot be renewed"));
    assert_non_null(strstr(err.msg, "--role targets --key TARGETS_KEY"));
    assert_int_equal(pub_version(f, "timestamp.json"), ts);
    /* The signature made, the next refresh publishes both. */
    operator_release(f, 1);
    rf_err_clear(&err);
    rc = rfd_publisher_refresh(p, 0, 600, &err);
    if (rc != RF_OK)
        fail_msg("refresh: %s", err.msg);
    char sha[65];
    sha_of("v6", sha);
    assert_int_equal(rfd_publisher_is_published(p, "channels/291/6.rfc", sha), 1);
    rfd_publisher_free(p);
}

static void test_repository_in_use(void **state)
{
    fx *f = *state;
    rfd_publisher *p = publisher(f, 1, 1);
    rf_tuf_repo *r = repo_handle(f); /* an operator's command, running */
    int published = -1;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rfd_publisher_add(p, "a/b", (const uint8_t *)"b", 1, NULL, &published, NULL, 0,
                                 &err);
    assert_int_equal(rc, RF_E_IO);
    assert_non_null(strstr(err.msg, "in use"));
    assert_int_equal(published, -1);
    rf_tuf_repo_free(r);
    assert_int_equal(add(p, "a/b", "b", NULL, NULL, 0), 1); /* the retry */
    rfd_publisher_free(p);
}

static void test_bad_inputs(void **state)
{
    fx *f = *state;
    rf_err err;
    rf_err_clear(&err);
    rfd_publisher *p = NULL;
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/no-such-repo", f->dir);

    rfd_publisher_opts o = {missing, NULL, NULL, NULL, NULL};
    assert_int_equal(rfd_publisher_open(&o, &p, &err), RF_E_IO);
    assert_null(p);
    assert_string_equal(err.file, missing);
    assert_non_null(strstr(err.msg, "not a ringfence TUF repository"));

    char nokey[400];
    snprintf(nokey, sizeof(nokey), "%s/no-such-key", f->dir);
    o = (rfd_publisher_opts){f->repo, NULL, nokey, NULL, NULL};
    rf_err_clear(&err);
    assert_int_equal(rfd_publisher_open(&o, &p, &err), RF_E_IO);
    assert_string_equal(err.file, nokey);
    assert_non_null(strstr(err.msg, "targets key"));

    /* Not a key file; a key of another role; a key of no role. */
    char junk[400];
    snprintf(junk, sizeof(junk), "%s/junk", f->dir);
    write_file(junk, "junk\n", 5);
    o = (rfd_publisher_opts){f->repo, NULL, NULL, junk, NULL};
    rf_err_clear(&err);
    assert_int_equal(rfd_publisher_open(&o, &p, &err), RF_E_PARSE);
    assert_string_equal(err.file, junk);
    o = (rfd_publisher_opts){f->repo, NULL, f->key[KTS], NULL, NULL};
    rf_err_clear(&err);
    assert_int_equal(rfd_publisher_open(&o, &p, &err), RF_E_SIGNATURE);
    assert_string_equal(err.file, f->key[KTS]);
    assert_non_null(strstr(err.msg, "not a targets key"));
    o = (rfd_publisher_opts){f->repo, NULL, NULL, NULL, f->key[KX]};
    rf_err_clear(&err);
    assert_int_equal(rfd_publisher_open(&o, &p, &err), RF_E_SIGNATURE);
    assert_string_equal(err.file, f->key[KX]);
    assert_null(p);
    assert_int_equal(rfd_publisher_open(NULL, &p, &err), RF_E_USAGE);
    o = (rfd_publisher_opts){"", NULL, NULL, NULL, NULL};
    assert_int_equal(rfd_publisher_open(&o, &p, &err), RF_E_USAGE);
    rfd_publisher_free(NULL);
    assert_null(rfd_publisher_public_dir(NULL));

    /* A public directory of its own. */
    char pubdir[400];
    snprintf(pubdir, sizeof(pubdir), "%s/served", f->dir);
    o = (rfd_publisher_opts){f->repo, pubdir, f->key[KT], f->key[KS], f->key[KTS]};
    rf_err_clear(&err);
    assert_int_equal(rfd_publisher_open(&o, &p, &err), RF_OK);
    assert_string_equal(rfd_publisher_public_dir(p), pubdir);

    static const char *const bad[] = {"../x", "/etc/passwd", "a//b", "a/./b", "a\\b", ""};
    char why[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int published = -1;
        rf_err_clear(&err);
        rf_rc rc = rfd_publisher_add(p, bad[i], (const uint8_t *)"x", 1, NULL, &published, why,
                                     sizeof(why), &err);
        if (rc != RF_E_USAGE)
            fail_msg("name \"%s\": %s (%s)", bad[i], rf_strerror(rc), err.msg);
        assert_true(strlen(err.msg) > 0);
        assert_int_equal(published, -1);
    }
    int published = -1;
    rf_err_clear(&err);
    assert_int_equal(rfd_publisher_add(p, "a/b", (const uint8_t *)"x", 1, "[1]", &published,
                                       why, sizeof(why), &err),
                     RF_E_USAGE);
    assert_non_null(strstr(err.msg, "JSON object"));
    assert_int_equal(rfd_publisher_add(p, "a/b", (const uint8_t *)"x", 1, "{bad", &published,
                                       why, sizeof(why), &err),
                     RF_E_USAGE);
    assert_int_equal(rfd_publisher_add(p, NULL, (const uint8_t *)"x", 1, NULL, &published, why,
                                       sizeof(why), &err),
                     RF_E_USAGE);
    assert_int_equal(rfd_publisher_add(p, "a/b", NULL, 1, NULL, &published, why, sizeof(why),
                                       &err),
                     RF_E_USAGE);
    assert_int_equal(rfd_publisher_add(p, "a/b", (const uint8_t *)"x", 1, NULL, NULL, why,
                                       sizeof(why), &err),
                     RF_E_USAGE);
    assert_int_equal(rfd_publisher_refresh(NULL, 0, 0, &err), RF_E_USAGE);
    /* Nothing of that was staged: the repository is untouched and a good
     * target still publishes, into the public directory given. */
    assert_int_equal(add(p, "a/b", "x", NULL, why, sizeof(why)), 1);
    char sha[65];
    sha_of("x", sha);
    assert_int_equal(rfd_publisher_is_published(p, "a/b", sha), 1);
    struct stat st;
    char ts[512];
    snprintf(ts, sizeof(ts), "%s/metadata/timestamp.json", pubdir);
    assert_int_equal(stat(ts, &st), 0);
    rfd_publisher_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_online_targets_key_publishes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline_targets_signing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offline_sign_then_refresh_publishes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_renews_online_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_blocked_by_offline_signature, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_repository_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_inputs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
