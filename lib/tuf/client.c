/*
 * client.c — the TUF client update workflow (specification 1.0.x, "detailed
 * client workflow"): root rotation one version at a time, then timestamp,
 * snapshot and targets, then the pre-order search of delegated targets, and
 * the download of a target checked against its length and hashes.
 *
 * Each update uses one reference time read at its start. Every download has
 * a size bound (from signed metadata where it gives one, else a configured
 * maximum) and lives under a per-request and a per-update time limit. Each
 * metadata file is verified completely (signatures, then version and
 * consistency with what is already trusted, then expiry) before it is
 * written to the metadata directory, atomically, under its unversioned name.
 * So the directory always holds metadata that was trusted at some point, and
 * a crash at any moment leaves each file either old or new.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tuf/tuf_int.h"

/* A delegated targets role loaded during this client's life. */
typedef struct deleg {
    char *name;
    rftuf_meta *meta;
} deleg;

struct rf_tuf_client {
    rf_tuf_client_opts o; /* the string fields point at the copies below */
    char *dir;
    char *murl;
    char *turl;
    rftuf_meta *root;
    rftuf_meta *ts;
    rftuf_meta *snap;
    rftuf_meta *targets;
    int targets_final; /* c->targets matches the current snapshot */
    deleg *dl;
    size_t ndl;
    int refreshed;
    time_t ref;        /* the one reference time of the current update */
    uint64_t deadline; /* rf_now_ns deadline of the current update or download */
};

void rf_tuf_client_opts_default(rf_tuf_client_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_root_bytes = RF_TUF_MAX_ROOT_BYTES;
    o->max_timestamp_bytes = RF_TUF_MAX_TIMESTAMP_BYTES;
    o->max_snapshot_bytes = RF_TUF_MAX_SNAPSHOT_BYTES;
    o->max_targets_bytes = RF_TUF_MAX_TARGETS_BYTES;
    o->max_root_rotations = RF_TUF_MAX_ROOT_ROTATIONS;
    o->max_delegations = RF_TUF_MAX_DELEGATIONS;
    o->request_timeout_ms = 30000;
    o->total_timeout_ms = 300000;
    o->low_speed_bytes = 0;
    o->low_speed_secs = 0;
}

/* ---- names and paths ---------------------------------------------------- */

char *rf_tuf_target_filename(const char *path)
{
    if (strcmp(path, ".") == 0)
        return rf_strdup("%2E");
    if (strcmp(path, "..") == 0)
        return rf_strdup("%2E%2E");
    if (path[0] == '\0')
        return rf_strdup("%00");
    return rftuf_quote(path, 0);
}

/* dir + "/" + name, malloc'd. */
static char *join(const char *a, const char *b)
{
    rf_buf o;
    rf_buf_init(&o);
    rf_buf_printf(&o, "%s/%s", a, b);
    return rf_buf_take(&o);
}

/* base URL + "/" + rest (one slash between). */
static char *url_join(const char *base, const char *rest)
{
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    rf_buf o;
    rf_buf_init(&o);
    rf_buf_append(&o, base, bl);
    rf_buf_printf(&o, "/%s", rest);
    return rf_buf_take(&o);
}

/* ---- local files -------------------------------------------------------- */

static rf_rc oom(rf_err *err)
{
    return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
}

static rf_rc persist(rf_tuf_client *c, const char *fname, const rf_buf *b, rf_err *err)
{
    char *p = join(c->dir, fname);
    if (!p)
        return oom(err);
    rf_rc rc = rf_file_write_atomic(p, b->data, b->len, 0644, err);
    free(p);
    return rc;
}

static rf_rc fsync_dir(const char *dir, rf_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rf_err_set(err, RF_E_IO, dir, 0, 0, "cannot open directory: %s",
                          strerror(errno));
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0)
        return rf_err_set(err, RF_E_IO, dir, 0, 0, "fsync failed: %s", strerror(e));
    return RF_OK;
}

/* Remove a trusted file (if present) and make the removal durable. */
static rf_rc remove_trusted(rf_tuf_client *c, const char *fname, rf_err *err)
{
    char *p = join(c->dir, fname);
    if (!p)
        return oom(err);
    int r = unlink(p);
    int e = errno;
    rf_rc rc = RF_OK;
    if (r != 0 && e != ENOENT)
        rc = rf_err_set(err, RF_E_IO, p, 0, 0, "cannot remove: %s", strerror(e));
    else if (r == 0)
        rc = fsync_dir(c->dir, err);
    free(p);
    return rc;
}

/* Read and parse a local metadata file; RF_E_NOTFOUND when absent. */
static rf_rc load_local(rf_tuf_client *c, const char *fname, rftuf_role_type t,
                        size_t max, rftuf_meta **out, rf_err *err)
{
    char *p = join(c->dir, fname);
    if (!p)
        return oom(err);
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_rc rc;
    if (access(p, F_OK) != 0) {
        rc = rf_err_set(err, RF_E_NOTFOUND, p, 0, 0, "no such file");
        goto out;
    }
    rc = rf_file_read(p, max, &buf, &len, err);
    if (rc == RF_OK)
        rc = rftuf_meta_parse(buf, len, t, p, out, err);
    free(buf);
out:
    free(p);
    return rc;
}

/* ---- keys of a role ------------------------------------------------------ */

/* Verify m as top-level role `role` of the trusted root. */
static rf_rc verify_by(const rftuf_meta *m, const rftuf_meta *root, const char *role,
                       rf_err *err)
{
    return rftuf_meta_verify_by_root(m, root->signed_, role, role, err);
}

/* Did the set of key ids of top-level role `role` change between a and b? */
static int keys_rotated(const json_t *a_root, const json_t *b_root, const char *role)
{
    const json_t *a = json_object_get(json_object_get(json_object_get(a_root, "roles"), role),
                                      "keyids");
    const json_t *b = json_object_get(json_object_get(json_object_get(b_root, "roles"), role),
                                      "keyids");
    if (json_array_size(a) != json_array_size(b))
        return 1;
    for (size_t i = 0; i < json_array_size(a); i++) {
        int found = 0;
        for (size_t j = 0; j < json_array_size(b) && !found; j++)
            found = json_equal(json_array_get(a, i), json_array_get(b, j));
        if (!found)
            return 1;
    }
    return 0;
}

static int expired(const rf_tuf_client *c, const rftuf_meta *m)
{
    return c->ref >= m->expires;
}

static rf_rc expired_err(rf_err *err, const char *role, const rftuf_meta *m)
{
    char when[21];
    rftuf_time_format(m->expires, when);
    return rf_err_set(err, RF_E_EXPIRED, NULL, 0, 0, "%s version %lld expired at %s", role,
                      (long long)m->version, when);
}

/* ---- downloads ------------------------------------------------------------ */

static rf_rc fetch(rf_tuf_client *c, const char *url, size_t max, rf_buf *out, rf_err *err)
{
    rf_tuf_fetch_limits lim = {
        .request_timeout_ms = c->o.request_timeout_ms,
        .deadline_ns = c->deadline,
        .low_speed_bytes = c->o.low_speed_bytes,
        .low_speed_secs = c->o.low_speed_secs,
    };
    rf_tuf_fetch_fn f = c->o.fetch ? c->o.fetch : rf_tuf_fetch_http;
    rf_err e2;
    rf_err_clear(&e2);
    rf_rc rc = f(c->o.fetch_ctx, url, max, &lim, out, &e2);
    if (rc != RF_OK)
        return rf_err_set(err, rc, NULL, 0, 0, "%s: %s", url, e2.msg);
    if (out->oom)
        return oom(err);
    return RF_OK;
}

/* A "meta" entry's length (or dflt) as a download bound. */
static size_t meta_len(const json_t *mf, size_t dflt)
{
    const json_t *l = json_object_get(mf, "length");
    return l ? (size_t)json_integer_value(l) : dflt;
}

/* Check downloaded bytes against a "meta" entry's length and hashes. */
static rf_rc check_metafile(const json_t *mf, const rf_buf *b, const char *what, rf_err *err)
{
    const json_t *l = json_object_get(mf, "length");
    if (l && (uint64_t)json_integer_value(l) != b->len)
        return rf_err_set(err, RF_E_CHECKSUM, what, 0, 0,
                          "is %zu bytes, signed metadata says %lld", b->len,
                          (long long)json_integer_value(l));
    const json_t *h = json_object_get(mf, "hashes");
    if (h)
        return rftuf_hashes_check(h, b->data, b->len, what, err);
    return RF_OK;
}

/* ---- loading the trusted state ------------------------------------------ */

static void drop(rftuf_meta **m)
{
    rftuf_meta_free(*m);
    *m = NULL;
}

static void drop_delegs(rf_tuf_client *c)
{
    for (size_t i = 0; i < c->ndl; i++) {
        free(c->dl[i].name);
        rftuf_meta_free(c->dl[i].meta);
    }
    free(c->dl);
    c->dl = NULL;
    c->ndl = 0;
}

/* Remove temporary files a killed writer may have left ("x.json.tmp.PID"). */
static void clean_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    unsigned guard = 0;
    while ((e = readdir(d)) != NULL && guard++ < 100000) {
        if (strstr(e->d_name, ".json.tmp.") == NULL)
            continue;
        char *p = join(dir, e->d_name);
        if (p)
            unlink(p);
        free(p);
    }
    closedir(d);
}

/* Parse root metadata and check it is signed by a threshold of its own root
 * keys. */
static rf_rc root_from_bytes(const uint8_t *buf, size_t len, const char *what,
                             rftuf_meta **out, rf_err *err)
{
    rftuf_meta *m = NULL;
    rf_rc rc = rftuf_meta_parse(buf, len, RFTUF_ROOT, what, &m, err);
    if (rc != RF_OK)
        return rc;
    rc = verify_by(m, m, "root", err);
    if (rc != RF_OK) {
        rftuf_meta_free(m);
        return rc;
    }
    *out = m;
    return RF_OK;
}

static rf_rc load_root_file(const char *path, size_t max, rftuf_meta **out, rf_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_rc rc = rf_file_read(path, max, &buf, &len, err);
    if (rc == RF_OK)
        rc = root_from_bytes(buf, len, path, out, err);
    free(buf);
    return rc;
}

rf_rc rf_tuf_client_init(const char *metadata_dir, const char *root_path, rf_err *err)
{
    if (!metadata_dir || !root_path)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "metadata dir and root file needed");
    /* Read the root before anything in the directory changes: it may be a
     * file in that very directory. */
    uint8_t *buf = NULL;
    size_t len = 0;
    rftuf_meta *m = NULL;
    rf_rc rc = rf_file_read(root_path, RF_TUF_MAX_ROOT_BYTES, &buf, &len, err);
    if (rc == RF_OK)
        rc = root_from_bytes(buf, len, root_path, &m, err);
    if (rc != RF_OK)
        goto out;
    if (mkdir(metadata_dir, 0755) != 0 && errno != EEXIST) {
        rc = rf_err_set(err, RF_E_IO, metadata_dir, 0, 0, "cannot create: %s",
                        strerror(errno));
        goto out;
    }
    /* Start from exactly this root: any metadata trusted before goes. */
    DIR *d = opendir(metadata_dir);
    if (!d) {
        rc = rf_err_set(err, RF_E_IO, metadata_dir, 0, 0, "cannot open: %s", strerror(errno));
        goto out;
    }
    struct dirent *e;
    unsigned guard = 0;
    while ((e = readdir(d)) != NULL && guard++ < 100000) {
        size_t n = strlen(e->d_name);
        if ((n > 5 && strcmp(e->d_name + n - 5, ".json") == 0) ||
            strstr(e->d_name, ".json.tmp.")) {
            char *p = join(metadata_dir, e->d_name);
            if (p)
                unlink(p);
            free(p);
        }
    }
    closedir(d);
    {
        char *p = join(metadata_dir, "root.json");
        rc = p ? rf_file_write_atomic(p, buf, len, 0644, err) : oom(err);
        free(p);
    }
out:
    free(buf);
    rftuf_meta_free(m);
    return rc;
}

rf_rc rf_tuf_client_new(const rf_tuf_client_opts *opts, rf_tuf_client **out, rf_err *err)
{
    if (!opts || !opts->metadata_dir)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "a metadata directory is needed");
    rf_tuf_client *c = calloc(1, sizeof(*c));
    if (!c)
        return oom(err);
    c->o = *opts;
    c->dir = rf_strdup(opts->metadata_dir);
    c->murl = rf_strdup(opts->metadata_url);
    c->turl = rf_strdup(opts->target_base_url);
    if (!c->dir || (opts->metadata_url && !c->murl) ||
        (opts->target_base_url && !c->turl)) {
        rf_tuf_client_free(c);
        return oom(err);
    }
    c->o.metadata_dir = c->dir;
    c->o.metadata_url = c->murl;
    c->o.target_base_url = c->turl;

    clean_temp_files(c->dir);
    char *rp = join(c->dir, "root.json");
    rf_rc rc = rp ? load_root_file(rp, c->o.max_root_bytes, &c->root, err) : oom(err);
    free(rp);
    if (rc != RF_OK) {
        rf_tuf_client_free(c);
        return rc;
    }
    /* The other trusted files serve rollback protection; one that no longer
     * verifies under the trusted root is simply not trusted. */
    if (load_local(c, "timestamp.json", RFTUF_TIMESTAMP, c->o.max_timestamp_bytes, &c->ts,
                   NULL) == RF_OK &&
        verify_by(c->ts, c->root, "timestamp", NULL) != RF_OK)
        drop(&c->ts);
    if (load_local(c, "snapshot.json", RFTUF_SNAPSHOT, c->o.max_snapshot_bytes, &c->snap,
                   NULL) == RF_OK &&
        verify_by(c->snap, c->root, "snapshot", NULL) != RF_OK)
        drop(&c->snap);
    if (load_local(c, "targets.json", RFTUF_TARGETS, c->o.max_targets_bytes, &c->targets,
                   NULL) == RF_OK &&
        verify_by(c->targets, c->root, "targets", NULL) != RF_OK)
        drop(&c->targets);
    *out = c;
    return RF_OK;
}

void rf_tuf_client_free(rf_tuf_client *c)
{
    if (!c)
        return;
    rftuf_meta_free(c->root);
    rftuf_meta_free(c->ts);
    rftuf_meta_free(c->snap);
    rftuf_meta_free(c->targets);
    drop_delegs(c);
    free(c->dir);
    free(c->murl);
    free(c->turl);
    free(c);
}

/* ---- the update ------------------------------------------------------------ */

static rf_rc need_url(const rf_tuf_client *c, rf_err *err)
{
    if (!c->murl || !*c->murl)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "no metadata URL given");
    return RF_OK;
}

/* 5.3: take each next root version in turn, each signed by a threshold of
 * the trusted root's root keys and of its own, with exactly the next
 * version number. */
static rf_rc update_root(rf_tuf_client *c, rf_err *err)
{
    json_t *start = json_incref(c->root->signed_); /* root at the start */
    rf_rc rc = RF_OK;
    for (uint32_t i = 0; i < c->o.max_root_rotations; i++) {
        int64_t v = c->root->version + 1;
        char name[48];
        snprintf(name, sizeof(name), "%lld.root.json", (long long)v);
        char *url = url_join(c->murl, name);
        if (!url) {
            rc = oom(err);
            goto out;
        }
        rf_buf b;
        rf_buf_init(&b);
        rc = fetch(c, url, c->o.max_root_bytes, &b, err);
        free(url);
        if (rc == RF_E_NOTFOUND) {
            rf_buf_free(&b);
            rc = RF_OK;
            break;
        }
        rftuf_meta *m = NULL;
        if (rc == RF_OK)
            rc = rftuf_meta_parse(b.data, b.len, RFTUF_ROOT, name, &m, err);
        if (rc == RF_OK)
            rc = verify_by(m, c->root, "root", err);
        if (rc == RF_OK) {
            rf_err e2;
            rf_err_clear(&e2);
            rc = verify_by(m, m, "root", &e2);
            if (rc != RF_OK)
                rf_err_set(err, rc, name, 0, 0, "new root is not signed by its own keys: %s",
                           e2.msg);
        }
        if (rc == RF_OK && m->version != v)
            rc = rf_err_set(err, RF_E_ROLLBACK, name, 0, 0, "has version %lld, expected %lld",
                            (long long)m->version, (long long)v);
        if (rc == RF_OK)
            rc = persist(c, "root.json", &b, err);
        rf_buf_free(&b);
        if (rc != RF_OK) {
            rftuf_meta_free(m);
            goto out;
        }
        rftuf_meta_free(c->root);
        c->root = m;
    }
    if (expired(c, c->root)) {
        rc = expired_err(err, "root", c->root);
        goto out;
    }
    /* 5.3.11: new timestamp or snapshot keys make the old trusted timestamp
     * and snapshot worthless; deleting them is what lets a repository recover
     * from a fast-forward attack by rotating those keys. */
    if (keys_rotated(start, c->root->signed_, "timestamp") ||
        keys_rotated(start, c->root->signed_, "snapshot")) {
        drop(&c->ts);
        drop(&c->snap);
        rc = remove_trusted(c, "timestamp.json", err);
        if (rc == RF_OK)
            rc = remove_trusted(c, "snapshot.json", err);
        if (rc != RF_OK)
            goto out;
    }
    /* What we trusted under the old root must still verify under the new. */
    if (c->ts && verify_by(c->ts, c->root, "timestamp", NULL) != RF_OK)
        drop(&c->ts);
    if (c->snap && verify_by(c->snap, c->root, "snapshot", NULL) != RF_OK)
        drop(&c->snap);
    if (c->targets && verify_by(c->targets, c->root, "targets", NULL) != RF_OK)
        drop(&c->targets);
out:
    json_decref(start);
    return rc;
}

static const json_t *ts_snapshot_meta(const rftuf_meta *ts)
{
    return json_object_get(json_object_get(ts->signed_, "meta"), "snapshot.json");
}

static int64_t mf_version(const json_t *mf)
{
    return json_integer_value(json_object_get(mf, "version"));
}

/* 5.4: the timestamp. */
static rf_rc update_timestamp(rf_tuf_client *c, rf_err *err)
{
    char *url = url_join(c->murl, "timestamp.json");
    if (!url)
        return oom(err);
    rf_buf b;
    rf_buf_init(&b);
    rftuf_meta *m = NULL;
    rf_rc rc = fetch(c, url, c->o.max_timestamp_bytes, &b, err);
    free(url);
    if (rc == RF_OK)
        rc = rftuf_meta_parse(b.data, b.len, RFTUF_TIMESTAMP, "timestamp.json", &m, err);
    if (rc == RF_OK)
        rc = verify_by(m, c->root, "timestamp", err);
    if (rc == RF_OK && c->ts) {
        if (m->version < c->ts->version) {
            rc = rf_err_set(err, RF_E_ROLLBACK, "timestamp.json", 0, 0,
                            "version %lld is older than the trusted version %lld",
                            (long long)m->version, (long long)c->ts->version);
        } else if (m->version == c->ts->version) {
            /* Nothing new: keep what we trust (it must still be current). */
            rftuf_meta_free(m);
            rf_buf_free(&b);
            return expired(c, c->ts) ? expired_err(err, "timestamp", c->ts) : RF_OK;
        } else if (mf_version(ts_snapshot_meta(m)) < mf_version(ts_snapshot_meta(c->ts))) {
            rc = rf_err_set(err, RF_E_ROLLBACK, "timestamp.json", 0, 0,
                            "lists snapshot version %lld, older than the trusted %lld",
                            (long long)mf_version(ts_snapshot_meta(m)),
                            (long long)mf_version(ts_snapshot_meta(c->ts)));
        }
    }
    if (rc == RF_OK && expired(c, m))
        rc = expired_err(err, "timestamp", m);
    if (rc == RF_OK)
        rc = persist(c, "timestamp.json", &b, err);
    rf_buf_free(&b);
    if (rc != RF_OK) {
        rftuf_meta_free(m);
        return rc;
    }
    rftuf_meta_free(c->ts);
    c->ts = m;
    return RF_OK;
}

/* 5.5: the snapshot the timestamp names. */
static rf_rc update_snapshot(rf_tuf_client *c, rf_err *err)
{
    const json_t *mf = ts_snapshot_meta(c->ts);
    int64_t v = mf_version(mf);
    if (c->snap && c->snap->version == v)
        return expired(c, c->snap) ? expired_err(err, "snapshot", c->snap) : RF_OK;

    char name[48];
    if (c->root->consistent_snapshot)
        snprintf(name, sizeof(name), "%lld.snapshot.json", (long long)v);
    else
        snprintf(name, sizeof(name), "snapshot.json");
    char *url = url_join(c->murl, name);
    if (!url)
        return oom(err);
    rf_buf b;
    rf_buf_init(&b);
    rftuf_meta *m = NULL;
    rf_rc rc = fetch(c, url, meta_len(mf, c->o.max_snapshot_bytes), &b, err);
    free(url);
    if (rc == RF_OK)
        rc = check_metafile(mf, &b, name, err);
    if (rc == RF_OK)
        rc = rftuf_meta_parse(b.data, b.len, RFTUF_SNAPSHOT, name, &m, err);
    if (rc == RF_OK)
        rc = verify_by(m, c->root, "snapshot", err);
    if (rc == RF_OK && m->version != v)
        rc = rf_err_set(err, RF_E_ROLLBACK, name, 0, 0,
                        "has version %lld, the timestamp says %lld", (long long)m->version,
                        (long long)v);
    if (rc == RF_OK && c->snap) {
        /* No role may disappear or go back in version. */
        const char *k;
        json_t *old;
        json_t *nmeta = json_object_get(m->signed_, "meta");
        json_object_foreach(json_object_get(c->snap->signed_, "meta"), k, old) {
            json_t *nw = json_object_get(nmeta, k);
            if (!nw) {
                rc = rf_err_set(err, RF_E_ROLLBACK, name, 0, 0,
                                "no longer lists %s, which the trusted snapshot lists", k);
                break;
            }
            if (mf_version(nw) < mf_version(old)) {
                rc = rf_err_set(err, RF_E_ROLLBACK, name, 0, 0,
                                "lists %s version %lld, older than the trusted %lld", k,
                                (long long)mf_version(nw), (long long)mf_version(old));
                break;
            }
        }
    }
    if (rc == RF_OK && expired(c, m))
        rc = expired_err(err, "snapshot", m);
    if (rc == RF_OK)
        rc = persist(c, "snapshot.json", &b, err);
    rf_buf_free(&b);
    if (rc != RF_OK) {
        rftuf_meta_free(m);
        return rc;
    }
    rftuf_meta_free(c->snap);
    c->snap = m;
    return RF_OK;
}

/*
 * 5.6 / 5.7.2: make sure the targets metadata of `role` is the version the
 * snapshot names, signed by a threshold of `keyids` among `keys` (from the
 * root for "targets", from the delegating role otherwise). *slot is the
 * cached metadata of the role (loaded from disk or earlier); it is replaced
 * when a new version is fetched. *final says it has been checked against
 * the current snapshot already.
 */
static rf_rc load_targets(rf_tuf_client *c, const char *role, const json_t *keys,
                          const json_t *keyids, int64_t threshold, rftuf_meta **slot,
                          int *final, rf_err *err)
{
    char key[RF_NAME_MAX * 4 + 8];
    int kn = snprintf(key, sizeof(key), "%s.json", role);
    if (kn < 0 || (size_t)kn >= sizeof(key))
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0, "role name too long: %.64s...", role);
    const json_t *mf = json_object_get(json_object_get(c->snap->signed_, "meta"), key);
    if (!mf)
        return rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0,
                          "the snapshot does not list role \"%s\"", role);
    int64_t v = mf_version(mf);
    char *fname = rftuf_role_file(role);
    if (!fname)
        return oom(err);
    if (!*slot)
        (void)!load_local(c, fname, RFTUF_TARGETS, c->o.max_targets_bytes, slot, NULL);
    if (*slot && (*final || (*slot)->version == v)) {
        /* Re-check the signatures: the same role may be reached through
         * another delegation with other keys. */
        rf_rc rc = rftuf_meta_verify(*slot, keys, keyids, threshold, role, err);
        if (rc == RF_OK && (*slot)->version == v) {
            *final = 1;
            free(fname);
            return expired(c, *slot) ? expired_err(err, role, *slot) : RF_OK;
        }
    }
    char name[64 + RF_NAME_MAX * 12];
    if (c->root->consistent_snapshot)
        snprintf(name, sizeof(name), "%lld.%s", (long long)v, fname);
    else
        snprintf(name, sizeof(name), "%s", fname);
    char *url = url_join(c->murl, name);
    rf_buf b;
    rf_buf_init(&b);
    rftuf_meta *m = NULL;
    rf_rc rc = url ? fetch(c, url, meta_len(mf, c->o.max_targets_bytes), &b, err) : oom(err);
    free(url);
    if (rc == RF_OK)
        rc = check_metafile(mf, &b, name, err);
    if (rc == RF_OK)
        rc = rftuf_meta_parse(b.data, b.len, RFTUF_TARGETS, name, &m, err);
    if (rc == RF_OK)
        rc = rftuf_meta_verify(m, keys, keyids, threshold, role, err);
    if (rc == RF_OK && m->version != v)
        rc = rf_err_set(err, RF_E_ROLLBACK, name, 0, 0,
                        "has version %lld, the snapshot says %lld", (long long)m->version,
                        (long long)v);
    if (rc == RF_OK && expired(c, m))
        rc = expired_err(err, role, m);
    if (rc == RF_OK)
        rc = persist(c, fname, &b, err);
    rf_buf_free(&b);
    free(fname);
    if (rc != RF_OK) {
        rftuf_meta_free(m);
        return rc;
    }
    rftuf_meta_free(*slot);
    *slot = m;
    *final = 1;
    return RF_OK;
}

static rf_rc load_top_targets(rf_tuf_client *c, rf_err *err)
{
    const json_t *r = json_object_get(json_object_get(c->root->signed_, "roles"), "targets");
    return load_targets(c, "targets", json_object_get(c->root->signed_, "keys"),
                        json_object_get(r, "keyids"),
                        json_integer_value(json_object_get(r, "threshold")), &c->targets,
                        &c->targets_final, err);
}

rf_rc rf_tuf_client_refresh(rf_tuf_client *c, rf_err *err)
{
    rf_rc rc = need_url(c, err);
    if (rc != RF_OK)
        return rc;
    c->ref = c->o.now ? c->o.now : time(NULL);
    c->deadline = c->o.total_timeout_ms ? rf_now_ns() + c->o.total_timeout_ms * 1000000ull : 0;
    c->refreshed = 0;
    c->targets_final = 0;
    drop_delegs(c);
    rc = update_root(c, err);
    if (rc == RF_OK)
        rc = update_timestamp(c, err);
    if (rc == RF_OK)
        rc = update_snapshot(c, err);
    if (rc == RF_OK)
        rc = load_top_targets(c, err);
    if (rc == RF_OK)
        c->refreshed = 1;
    return rc;
}

/* ---- target search ----------------------------------------------------------- */

static rftuf_meta **deleg_slot(rf_tuf_client *c, const char *name, int *fresh)
{
    for (size_t i = 0; i < c->ndl; i++)
        if (strcmp(c->dl[i].name, name) == 0) {
            *fresh = 0;
            return &c->dl[i].meta;
        }
    deleg *n = realloc(c->dl, (c->ndl + 1) * sizeof(*n));
    if (!n)
        return NULL;
    c->dl = n;
    c->dl[c->ndl].name = rf_strdup(name);
    c->dl[c->ndl].meta = NULL;
    if (!c->dl[c->ndl].name)
        return NULL;
    *fresh = 1;
    return &c->dl[c->ndl++].meta;
}

static rf_rc make_target(const char *path, const json_t *ti, const char *role,
                         rf_tuf_target **out, rf_err *err)
{
    rf_tuf_target *t = calloc(1, sizeof(*t));
    if (!t)
        return oom(err);
    t->path = rf_strdup(path);
    t->role = rf_strdup(role);
    t->length = (uint64_t)json_integer_value(json_object_get(ti, "length"));
    const json_t *h = json_object_get(ti, "hashes");
    const char *s256 = json_string_value(json_object_get(h, "sha256"));
    const char *s512 = json_string_value(json_object_get(h, "sha512"));
    if (s256 && strlen(s256) == 64)
        memcpy(t->sha256, s256, 65);
    if (s512 && strlen(s512) == 128)
        memcpy(t->sha512, s512, 129);
    const json_t *cu = json_object_get(ti, "custom");
    if (cu)
        t->custom_json = json_dumps(cu, JSON_COMPACT | JSON_SORT_KEYS);
    if (!t->path || !t->role || (cu && !t->custom_json)) {
        rf_tuf_target_free(t);
        return oom(err);
    }
    if (!t->sha256[0] && !t->sha512[0]) {
        rf_tuf_target_free(t);
        return rf_err_set(err, RF_E_UNSUPPORTED, NULL, 0, 0,
                          "target \"%s\" lists no sha256 or sha512 hash", path);
    }
    *out = t;
    return RF_OK;
}

void rf_tuf_target_free(rf_tuf_target *t)
{
    if (!t)
        return;
    free(t->path);
    free(t->custom_json);
    free(t->role);
    free(t);
}

/* One pending role of the search: its name, and the metadata (and the
 * delegation entry in it) that delegates to it. */
typedef struct visit {
    const char *name;
    const rftuf_meta *parent; /* NULL for "targets" */
    const json_t *entry;      /* the delegation entry; NULL for "targets" */
} visit;

rf_rc rf_tuf_client_find_target(rf_tuf_client *c, const char *path, rf_tuf_target **out,
                                rf_err *err)
{
    rf_rc rc;
    if (!path || !*path)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "an empty target path");
    if (!c->refreshed && (rc = rf_tuf_client_refresh(c, err)) != RF_OK)
        return rc;

    /* Pre-order depth-first search, at most max_delegations roles visited;
     * the stack holds at most that many roles' children. */
    size_t cap = 64, n = 0;
    visit *stack = malloc(cap * sizeof(*stack));
    visit *seen = calloc(c->o.max_delegations + 1, sizeof(*seen));
    size_t nseen = 0;
    if (!stack || !seen) {
        free(stack);
        free(seen);
        return oom(err);
    }
    stack[n++] = (visit){"targets", NULL, NULL};
    rc = RF_E_NOTFOUND;
    rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0, "no role lists target \"%s\"", path);
    while (n > 0 && nseen < c->o.max_delegations) {
        visit v = stack[--n];
        int dup = 0;
        for (size_t i = 0; i < nseen && !dup; i++)
            dup = strcmp(seen[i].name, v.name) == 0 && seen[i].parent == v.parent;
        if (dup)
            continue;
        const rftuf_meta *m;
        if (!v.parent) {
            m = c->targets;
        } else {
            int fresh = 0, final = 0;
            rftuf_meta **slot = deleg_slot(c, v.name, &fresh);
            if (!slot) {
                rc = oom(err);
                break;
            }
            /* A delegated role met again in this search was already checked
             * against this snapshot; its signatures are checked anew. */
            final = !fresh && *slot != NULL;
            const json_t *d = json_object_get(v.parent->signed_, "delegations");
            rc = load_targets(c, v.name, json_object_get(d, "keys"),
                              json_object_get(v.entry, "keyids"),
                              json_integer_value(json_object_get(v.entry, "threshold")), slot,
                              &final, err);
            if (rc != RF_OK)
                break;
            m = *slot;
            rc = RF_E_NOTFOUND;
        }
        seen[nseen++] = v;
        const json_t *ti = json_object_get(json_object_get(m->signed_, "targets"), path);
        if (ti) {
            rc = make_target(path, ti, v.name, out, err);
            break;
        }
        const json_t *roles = json_object_get(json_object_get(m->signed_, "delegations"),
                                              "roles");
        size_t first = n;
        for (size_t i = 0; i < json_array_size(roles); i++) {
            const json_t *r = json_array_get(roles, i);
            const json_t *paths = json_object_get(r, "paths");
            int match = 0;
            if (paths) {
                for (size_t j = 0; j < json_array_size(paths) && !match; j++)
                    match = rftuf_path_match(json_string_value(json_array_get(paths, j)), path);
            } else {
                match = rftuf_hash_prefix_match(json_object_get(r, "path_hash_prefixes"), path);
            }
            if (!match)
                continue;
            if (json_is_true(json_object_get(r, "terminating"))) {
                /* A terminating role ends the search past it: forget every
                 * pending role, this one's earlier siblings excepted. */
                memmove(stack, stack + first, (n - first) * sizeof(*stack));
                n -= first;
                first = 0;
            }
            if (n == cap) {
                visit *ns = realloc(stack, cap * 2 * sizeof(*ns));
                if (!ns) {
                    rc = oom(err);
                    goto out;
                }
                stack = ns;
                cap *= 2;
            }
            stack[n++] = (visit){json_string_value(json_object_get(r, "name")), m, r};
            if (json_is_true(json_object_get(r, "terminating")))
                break;
        }
        /* Children were pushed in order; reverse them so the first is
         * visited first. */
        for (size_t a = first, b = n; a + 1 < b; a++, b--) {
            visit t = stack[a];
            stack[a] = stack[b - 1];
            stack[b - 1] = t;
        }
    }
out:
    free(stack);
    free(seen);
    return rc;
}

/* ---- target download ---------------------------------------------------------- */

/* The target's hashes as a "hashes" object, for rftuf_hashes_check. */
static json_t *target_hashes(const rf_tuf_target *t)
{
    json_t *h = json_object();
    if (!h)
        return NULL;
    if (t->sha256[0])
        json_object_set_new(h, "sha256", json_string(t->sha256));
    if (t->sha512[0])
        json_object_set_new(h, "sha512", json_string(t->sha512));
    return h;
}

rf_rc rf_tuf_client_download(rf_tuf_client *c, const rf_tuf_target *t, const char *dir,
                             char **written, rf_err *err)
{
    if (!c->turl || !*c->turl)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "no target base URL given");
    if (t->length > SIZE_MAX - 1)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0, "target \"%s\" is too large", t->path);
    char *fname = rf_tuf_target_filename(t->path);
    char *dest = fname ? join(dir, fname) : NULL;
    json_t *h = target_hashes(t);
    char *rel = NULL, *qrel = NULL, *url = NULL;
    rf_buf b;
    rf_buf_init(&b);
    rf_rc rc = RF_OK;
    if (!fname || !dest || !h) {
        rc = oom(err);
        goto out;
    }

    /* Already here and intact: nothing to fetch. */
    {
        uint8_t *have = NULL;
        size_t hl = 0;
        if (access(dest, F_OK) == 0 &&
            rf_file_read(dest, (size_t)t->length, &have, &hl, NULL) == RF_OK) {
            int ok = hl == t->length &&
                     rftuf_hashes_check(h, have, hl, t->path, NULL) == RF_OK;
            free(have);
            if (ok)
                goto done;
        }
    }

    /* Consistent snapshots: targets are fetched as DIR/HASH.NAME. */
    if (c->root->consistent_snapshot) {
        const char *slash = strrchr(t->path, '/');
        size_t dl = slash ? (size_t)(slash - t->path) + 1 : 0;
        rf_buf r;
        rf_buf_init(&r);
        rf_buf_append(&r, t->path, dl);
        rf_buf_printf(&r, "%s.%s", t->sha256[0] ? t->sha256 : t->sha512, t->path + dl);
        rel = rf_buf_take(&r);
    } else {
        rel = rf_strdup(t->path);
    }
    qrel = rel ? rftuf_quote(rel, 1) : NULL;
    url = qrel ? url_join(c->turl, qrel) : NULL;
    if (!url) {
        rc = oom(err);
        goto out;
    }
    c->deadline = c->o.total_timeout_ms ? rf_now_ns() + c->o.total_timeout_ms * 1000000ull : 0;
    rc = fetch(c, url, (size_t)t->length, &b, err);
    if (rc == RF_OK && b.len != t->length)
        rc = rf_err_set(err, RF_E_CHECKSUM, t->path, 0, 0,
                        "is %zu bytes, signed metadata says %llu", b.len,
                        (unsigned long long)t->length);
    if (rc == RF_OK)
        rc = rftuf_hashes_check(h, b.data, b.len, t->path, err);
    if (rc == RF_OK)
        rc = rf_file_write_atomic(dest, b.data, b.len, 0644, err);
    if (rc != RF_OK)
        goto out;
done:
    if (written) {
        *written = dest;
        dest = NULL;
    }
out:
    rf_buf_free(&b);
    json_decref(h);
    free(url);
    free(qrel);
    free(rel);
    free(dest);
    free(fname);
    return rc;
}
