/*
 * repo_publish.c — the checks before a TUF repository is published, its
 * publication into a directory that any HTTP server can serve, the proof
 * that the library's own client can update from what was written, and the
 * status report of `ringfence repo status`.
 *
 * The checks verify exactly the bytes that will be published, with
 * rftuf_meta_verify (the client's own threshold check). A publication writes
 * target files first, then delegated and top-level targets metadata, the
 * snapshot, the root versions, and timestamp.json last, so a client that
 * fetches the new timestamp finds everything it names already in place; older
 * versioned files are never removed, so a client in the middle of an update
 * can still finish it. Only when the client run over the published directory
 * succeeds are the published versions recorded in repo.json.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tuf/repo_int.h"

static rf_rc oom(rf_err *err)
{
    return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
}

/* ---- problems ------------------------------------------------------------------ */

/* Problems found by the checks: the first goes to err (and decides the
 * result); all are listed when list is not NULL. */
typedef struct probs {
    rf_err *err;
    json_t *list;
    rf_rc rc;
} probs;

static void problem(probs *p, rf_rc rc, const char *fmt, ...) RF_PRINTF(3, 4);
static void problem(probs *p, rf_rc rc, const char *fmt, ...)
{
    char m[RF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    if (p->rc == RF_OK) {
        p->rc = rc;
        rf_err_set(p->err, rc, NULL, 0, 0, "%s", m);
    }
    if (p->list)
        json_array_append_new(p->list, json_string(m));
}

/* ---- reading what will be published --------------------------------------------- */

/* Read a staged file and parse it. */
static rf_rc read_meta(const char *path, rftuf_role_type t, rf_buf *bytes, rftuf_meta **m,
                       rf_err *err)
{
    rf_rc rc = rfrepo_read(path, RF_TUF_MAX_TARGETS_BYTES * 4u, bytes, err);
    if (rc == RF_OK)
        rc = rftuf_meta_parse(bytes->data, bytes->len, t, path, m, err);
    return rc;
}

/* read_meta for the checks: a file that cannot be read, or a path whose
 * allocation failed (NULL), is one more problem. 1 when *m was read. */
static int read_checked(probs *p, const char *path, rftuf_role_type t, rf_buf *bytes,
                        rftuf_meta **m)
{
    if (!path) {
        problem(p, RF_E_NOMEM, "%s", "out of memory");
        return 0;
    }
    rf_err e;
    rf_err_clear(&e);
    if (read_meta(path, t, bytes, m, &e) != RF_OK) {
        problem(p, e.rc, "%s", e.msg);
        return 0;
    }
    return 1;
}

static size_t client_max(rftuf_role_type t)
{
    switch (t) {
    case RFTUF_ROOT: return RF_TUF_MAX_ROOT_BYTES;
    case RFTUF_TIMESTAMP: return RF_TUF_MAX_TIMESTAMP_BYTES;
    case RFTUF_SNAPSHOT: return RF_TUF_MAX_SNAPSHOT_BYTES;
    case RFTUF_TARGETS: return RF_TUF_MAX_TARGETS_BYTES;
    }
    return 0;
}

/* Common checks of one role's staged file: size within the client's
 * limit, version not below the published one, not expired. */
static void check_common(rf_tuf_repo *r, const rfrepo_role *ro, const rf_buf *b,
                         const rftuf_meta *m, int check_expiry, probs *p)
{
    if (b->len > client_max(ro->type))
        problem(p, RF_E_LIMIT,
                "%s is %zu bytes; clients accept at most %zu%s", ro->name, b->len,
                client_max(ro->type),
                ro->type == RFTUF_TARGETS ? ": move targets into delegated roles" : "");
    int64_t pub = rfrepo_published(r, ro);
    if (m->version < pub)
        problem(p, RF_E_ROLLBACK,
                "staged %s version %lld is older than the published version %lld: the staged "
                "files are not those of this repository's last publication",
                ro->name, (long long)m->version, (long long)pub);
    if (check_expiry && rfrepo_now(r) >= m->expires) {
        char when[21];
        rftuf_time_format(m->expires, when);
        if (ro->type == RFTUF_SNAPSHOT || ro->type == RFTUF_TIMESTAMP)
            problem(p, RF_E_EXPIRED, "%s version %lld expired at %s: run 'ringfence repo %s %s "
                                     "--key KEY' again",
                    ro->name, (long long)m->version, when, ro->name, r->dir);
        else
            problem(p, RF_E_EXPIRED,
                    "%s version %lld expired at %s: renew it with 'ringfence repo renew %s "
                    "--role %s', then sign it",
                    ro->name, (long long)m->version, when, r->dir, ro->name);
    }
}

/* Verify m as role ro with rftuf_meta_verify, the client's check. */
static void check_sigs(rf_tuf_repo *r, const rfrepo_role *ro, const rftuf_meta *m, probs *p)
{
    const json_t *keys, *keyids;
    int64_t t;
    rf_err e2;
    rf_err_clear(&e2);
    if (rfrepo_role_keys(r, ro, &keys, &keyids, &t, &e2) != RF_OK) {
        problem(p, e2.rc, "%s", e2.msg);
        return;
    }
    if (rftuf_meta_verify(m, keys, keyids, t, ro->name, &e2) == RF_OK)
        return;
    if (ro->type == RFTUF_SNAPSHOT || ro->type == RFTUF_TIMESTAMP)
        /* Usually a key rotated in root: the role is remade with the new key. */
        problem(p, e2.rc, "%s version %lld is not signed enough (%s): run 'ringfence repo %s %s "
                          "--key KEY' with a key the root lists for it",
                ro->name, (long long)m->version, e2.msg, ro->name, r->dir);
    else
        problem(p, e2.rc, "%s version %lld is not signed enough (%s): sign it with "
                          "'ringfence repo sign %s --role %s --key KEY'",
                ro->name, (long long)m->version, e2.msg, r->dir, ro->name);
}

static void check_roots(rf_tuf_repo *r, probs *p)
{
    int64_t cur = (int64_t)r->nhist;
    int64_t pub = rfrepo_published(r, &r->roles[RFREPO_ROOT]);
    int64_t from = pub >= 1 && pub <= cur ? pub : 1;
    for (int64_t v = from; v <= cur; v++) {
        char *path = rfrepo_history_path(r, v);
        rf_buf b;
        rf_buf_init(&b);
        rftuf_meta *m = NULL;
        rf_err e2;
        rf_err_clear(&e2);
        char what[48];
        snprintf(what, sizeof(what), "root version %lld", (long long)v);
        if (!read_checked(p, path, RFTUF_ROOT, &b, &m))
            goto next;
        check_common(r, &r->roles[RFREPO_ROOT], &b, m, v == cur, p);
        if (rftuf_meta_verify_by_root(m, m->signed_, "root", what, &e2) != RF_OK)
            problem(p, e2.rc,
                    "%s is not signed by a threshold of its own root keys (%s): sign it with "
                    "'ringfence repo sign %s --role root --key KEY'",
                    what, e2.msg, r->dir);
        if (v >= 2) {
            if (rftuf_meta_verify_by_root(m, rfrepo_signed(r->hist[v - 2]), "root", what,
                                          &e2) != RF_OK)
                problem(p, e2.rc,
                        "%s is not signed by a threshold of root version %lld's root keys "
                        "(%s): the holders of the previous root keys sign it with 'ringfence "
                        "repo sign %s --role root --key KEY'",
                        what, (long long)(v - 1), e2.msg, r->dir);
        }
    next:
        rftuf_meta_free(m);
        rf_buf_free(&b);
        free(path);
    }
}

/* All checks; the first problem is returned. */
static rf_rc run_checks(rf_tuf_repo *r, json_t *list, rf_err *err)
{
    probs p = {err, list, RF_OK};
    check_roots(r, &p);

    /* Targets roles, and what the snapshot must list. */
    rf_buf snapb;
    rf_buf_init(&snapb);
    rftuf_meta *snap = NULL;
    const rfrepo_role *sro = &r->roles[RFREPO_SNAPSHOT];
    const rfrepo_role *tro = &r->roles[RFREPO_TIMESTAMP];
    char *sp = NULL, *tp = NULL;
    if (sro->doc) {
        sp = rfrepo_staged_path(r, "snapshot");
        (void)read_checked(&p, sp, RFTUF_SNAPSHOT, &snapb, &snap);
    } else {
        problem(&p, RF_E_NOTFOUND,
                "there is no snapshot yet: run 'ringfence repo snapshot %s --key SNAPSHOT_KEY'",
                r->dir);
    }
    for (size_t i = RFREPO_TARGETS; i < r->nroles; i++) {
        const rfrepo_role *ro = &r->roles[i];
        if (ro->type != RFTUF_TARGETS)
            continue;
        char *path = rfrepo_staged_path(r, ro->name);
        rf_buf b;
        rf_buf_init(&b);
        rftuf_meta *m = NULL;
        if (read_checked(&p, path, RFTUF_TARGETS, &b, &m)) {
            check_common(r, ro, &b, m, 1, &p);
            check_sigs(r, ro, m, &p);
            if (snap) {
                char key[RF_NAME_MAX + 16];
                snprintf(key, sizeof(key), "%s.json", ro->name);
                const json_t *mf = json_object_get(json_object_get(snap->signed_, "meta"), key);
                int64_t lv = json_integer_value(json_object_get(mf, "version"));
                if (!mf || lv != m->version)
                    problem(&p, RF_E_ROLLBACK,
                            "the snapshot lists %s %s%lld, but %s is at version %lld: run "
                            "'ringfence repo snapshot %s --key SNAPSHOT_KEY'",
                            key, mf ? "version " : "no version", (long long)(mf ? lv : 0),
                            ro->name, (long long)m->version, r->dir);
            }
        }
        rftuf_meta_free(m);
        rf_buf_free(&b);
        free(path);
    }
    if (snap) {
        check_common(r, sro, &snapb, snap, 1, &p);
        check_sigs(r, sro, snap, &p);
    }

    /* The timestamp must name exactly the staged snapshot's bytes. */
    if (!tro->doc) {
        problem(&p, RF_E_NOTFOUND,
                "there is no timestamp yet: run 'ringfence repo timestamp %s --key "
                "TIMESTAMP_KEY'",
                r->dir);
    } else {
        rf_buf b;
        rf_buf_init(&b);
        rftuf_meta *m = NULL;
        tp = rfrepo_staged_path(r, "timestamp");
        if (read_checked(&p, tp, RFTUF_TIMESTAMP, &b, &m)) {
            check_common(r, tro, &b, m, 1, &p);
            check_sigs(r, tro, m, &p);
            if (snap) {
                const json_t *mf = json_object_get(json_object_get(m->signed_, "meta"),
                                                   "snapshot.json");
                const json_t *len = json_object_get(mf, "length");
                const json_t *h = json_object_get(mf, "hashes");
                char hex[65];
                rftuf_sha256_hex(snapb.data, snapb.len, hex);
                const char *lh = json_string_value(json_object_get(h, "sha256"));
                if (json_integer_value(json_object_get(mf, "version")) != snap->version ||
                    (len && (uint64_t)json_integer_value(len) != snapb.len) ||
                    (h && (!lh || strcmp(lh, hex) != 0)))
                    problem(&p, RF_E_ROLLBACK,
                            "the timestamp does not name the current snapshot (version %lld as "
                            "it is now signed): run 'ringfence repo timestamp %s --key "
                            "TIMESTAMP_KEY'",
                            (long long)snap->version, r->dir);
            }
        }
        rftuf_meta_free(m);
        rf_buf_free(&b);
    }
    rftuf_meta_free(snap);
    rf_buf_free(&snapb);
    free(sp);
    free(tp);
    return p.rc;
}

rf_rc rf_tuf_repo_check(rf_tuf_repo *r, rf_err *err)
{
    if (!r)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "no repository");
    return run_checks(r, NULL, err);
}

/* ---- the file fetcher ------------------------------------------------------------ */

rf_rc rf_tuf_repo_fetch_file(void *ctx, const char *url, size_t max_len,
                             const rf_tuf_fetch_limits *lim, rf_buf *out, rf_err *err)
{
    (void)lim; /* local files: no time limits to keep */
    const char *dir = ctx;
    size_t bl = strlen(RF_TUF_REPO_FILE_BASE);
    if (!dir || !url || !out || strncmp(url, RF_TUF_REPO_FILE_BASE, bl) != 0 || url[bl] != '/')
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "not a %s/ URL: %.200s",
                          RF_TUF_REPO_FILE_BASE, url ? url : "(null)");
    const char *u = url + bl + 1;
    size_t n = strlen(u);
    char *rel = malloc(n + 1);
    if (!rel)
        return oom(err);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (u[i] == '%') {
            int a = i + 2 < n + 1 ? rftuf_hexval((unsigned char)u[i + 1]) : -1;
            int b = a >= 0 ? rftuf_hexval((unsigned char)u[i + 2]) : -1;
            if (a < 0 || b < 0 || (a == 0 && b == 0)) {
                free(rel);
                return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "bad escape in URL %.200s", url);
            }
            rel[j++] = (char)(a * 16 + b);
            i += 2;
        } else {
            rel[j++] = u[i];
        }
    }
    rel[j] = '\0';
    /* Never outside dir: no absolute path, no "." / ".." / empty parts. */
    int ok = rel[0] != '\0' && rel[0] != '/';
    for (const char *s = rel; ok;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        ok = len > 0 && !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
        if (!e)
            break;
        s = e + 1;
    }
    if (!ok) {
        free(rel);
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "URL %.200s leaves the directory", url);
    }
    char *path = rfrepo_join(dir, rel, NULL);
    free(rel);
    if (!path)
        return oom(err);
    rf_rc rc;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = rf_err_set(err, RF_E_NOTFOUND, path, 0, 0, "no such file");
    } else if ((uint64_t)st.st_size > max_len) {
        rc = rf_err_set(err, RF_E_LIMIT, path, 0, 0, "is %lld bytes, more than the %zu allowed",
                        (long long)st.st_size, max_len);
    } else {
        uint8_t *buf = NULL;
        size_t len = 0;
        rc = rf_file_read(path, max_len, &buf, &len, err);
        if (rc == RF_OK) {
            rf_buf_append(out, buf, len);
            free(buf);
            if (out->oom)
                rc = oom(err);
        }
    }
    free(path);
    return rc;
}

/* ---- writing ----------------------------------------------------------------------- */

/* Write out/rel unless it already holds exactly these bytes. */
static rf_rc put(const char *out, const char *rel, const uint8_t *data, size_t len, rf_err *err)
{
    rf_rc rc = rfrepo_mkdirs_for(out, rel, err);
    if (rc != RF_OK)
        return rc;
    char *p = rfrepo_join(out, rel, NULL);
    if (!p)
        return oom(err);
    struct stat st;
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == len) {
        uint8_t *have = NULL;
        size_t hl = 0;
        if (rf_file_read(p, len, &have, &hl, NULL) == RF_OK && hl == len &&
            memcmp(have, data, len) == 0) {
            free(have);
            free(p);
            return RF_OK;
        }
        free(have);
    }
    rc = rf_file_write_atomic(p, data, len, 0644, err);
    free(p);
    return rc;
}

/* Publish a staged metadata file as metadata/V.NAME.json (when v > 0)
 * and as metadata/NAME.json (when unversioned). */
static rf_rc put_meta(const char *out, const char *src, const char *name, int64_t v,
                      int unversioned, rf_err *err)
{
    rf_buf b;
    rf_buf_init(&b);
    rf_rc rc = rfrepo_read(src, RF_TUF_MAX_TARGETS_BYTES * 4u, &b, err);
    char *file = rftuf_role_file(name);
    char rel[RF_NAME_MAX * 3 + 64];
    if (rc == RF_OK && !file)
        rc = oom(err);
    if (rc == RF_OK && strlen(file) > RF_NAME_MAX * 3 + 8)
        rc = rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "role name too long: %.64s", name);
    if (rc == RF_OK && v > 0) {
        snprintf(rel, sizeof(rel), "metadata/%lld.%s", (long long)v, file);
        rc = put(out, rel, b.data, b.len, err);
    }
    if (rc == RF_OK && unversioned) {
        snprintf(rel, sizeof(rel), "metadata/%s", file);
        rc = put(out, rel, b.data, b.len, err);
    }
    free(file);
    rf_buf_free(&b);
    return rc;
}

/* The published name of a target: DIR/SHA256.NAME or the path itself. */
static char *target_rel(const char *path, const char *sha256, int consistent)
{
    rf_buf o;
    rf_buf_init(&o);
    if (consistent) {
        const char *slash = strrchr(path, '/');
        size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
        rf_buf_printf(&o, "targets/");
        rf_buf_append(&o, path, dl);
        rf_buf_printf(&o, "%s.%s", sha256, path + dl);
    } else {
        rf_buf_printf(&o, "targets/%s", path);
    }
    return rf_buf_take(&o);
}

static rf_rc put_targets(rf_tuf_repo *r, const char *out, int consistent, rf_err *err)
{
    for (size_t i = RFREPO_TARGETS; i < r->nroles; i++) {
        const rfrepo_role *ro = &r->roles[i];
        if (ro->type != RFTUF_TARGETS)
            continue;
        const char *path;
        const json_t *ti;
        json_object_foreach(json_object_get(rfrepo_signed(ro->doc), "targets"), path, ti) {
            const json_t *h = json_object_get(ti, "hashes");
            const char *sha = json_string_value(json_object_get(h, "sha256"));
            uint64_t len = (uint64_t)json_integer_value(json_object_get(ti, "length"));
            if (!sha || strlen(sha) != 64)
                return rf_err_set(err, RF_E_UNSUPPORTED, NULL, 0, 0,
                                  "target \"%.80s\" of %s lists no sha256", path, ro->name);
            char *rel = target_rel(path, sha, consistent);
            char *dest = rel ? rfrepo_join(out, rel, NULL) : NULL;
            if (!rel || !dest) {
                free(rel);
                free(dest);
                return oom(err);
            }
            /* A hashed name already there holds these bytes (it was written
             * atomically after the same check). */
            struct stat st;
            if (consistent && stat(dest, &st) == 0 && S_ISREG(st.st_mode) &&
                (uint64_t)st.st_size == len) {
                free(rel);
                free(dest);
                continue;
            }
            free(dest);
            char *src = rfrepo_join(r->dir, "targets", path);
            rf_buf b;
            rf_buf_init(&b);
            rf_rc rc = src ? rfrepo_read(src, RF_TUF_REPO_MAX_TARGET_BYTES, &b, err) : oom(err);
            if (rc == RF_OK && (b.len != len || rftuf_hashes_check(h, b.data, b.len, src,
                                                                   NULL) != RF_OK))
                rc = rf_err_set(err, RF_E_CHECKSUM, src, 0, 0,
                                "does not match its entry in role %s (changed after it was "
                                "added?): add it again with 'ringfence repo add-target'",
                                ro->name);
            if (rc == RF_OK)
                rc = put(out, rel, b.data, b.len, err);
            rf_buf_free(&b);
            free(src);
            free(rel);
            if (rc != RF_OK)
                return rc;
        }
    }
    return RF_OK;
}

/* ---- the client's check ------------------------------------------------------------- */

static void remove_tree_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    unsigned guard = 0;
    while ((e = readdir(d)) != NULL && guard++ < 1000000) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = rfrepo_join(dir, e->d_name, NULL);
        if (p)
            unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

/* The version in a trusted metadata file the client wrote, or 0. */
static int64_t trusted_version(const char *mdir, const char *file, rftuf_role_type t)
{
    char *p = rfrepo_join(mdir, file, NULL);
    rf_buf b;
    rf_buf_init(&b);
    rftuf_meta *m = NULL;
    int64_t v = 0;
    if (p && read_meta(p, t, &b, &m, NULL) == RF_OK)
        v = m->version;
    rftuf_meta_free(m);
    rf_buf_free(&b);
    free(p);
    return v;
}

static rf_rc client_check(rf_tuf_repo *r, const char *out, rf_err *err)
{
    const char *tmpdir = getenv("TMPDIR");
    rf_buf tb;
    rf_buf_init(&tb);
    rf_buf_printf(&tb, "%s/rf-publish-XXXXXX", tmpdir && tmpdir[0] ? tmpdir : "/tmp");
    char *tmp = rf_buf_take(&tb);
    if (!tmp)
        return oom(err);
    if (!mkdtemp(tmp)) {
        rf_rc rc = rf_err_set(err, RF_E_IO, tmp, 0, 0, "cannot create a temporary directory: %s",
                              strerror(errno));
        free(tmp);
        return rc;
    }
    char *mdir = rfrepo_join(tmp, "metadata", NULL);
    char *tdir = rfrepo_join(tmp, "targets", NULL);
    char *root = NULL;
    rf_tuf_client *c = NULL;
    rf_err e2;
    rf_err_clear(&e2);
    rf_rc rc = RF_OK;
    if (!mdir || !tdir) {
        rc = oom(err);
        goto out;
    }
    if (mkdir(tdir, 0755) != 0) {
        rc = rf_err_set(err, RF_E_IO, tdir, 0, 0, "cannot create: %s", strerror(errno));
        goto out;
    }
    /* Trust the first root (or the oldest one a client can still rotate
     * from in one update) and let the client walk the chain. */
    int64_t cur = (int64_t)r->nhist;
    int64_t start = cur > (int64_t)RF_TUF_MAX_ROOT_ROTATIONS
                        ? cur - (int64_t)RF_TUF_MAX_ROOT_ROTATIONS
                        : 1;
    rf_buf rb;
    rf_buf_init(&rb);
    rf_buf_printf(&rb, "%s/metadata/%lld.root.json", out, (long long)start);
    root = rf_buf_take(&rb);
    if (!root) {
        rc = oom(err);
        goto out;
    }
    rc = rf_tuf_client_init(mdir, root, &e2);
    rf_tuf_client_opts o;
    rf_tuf_client_opts_default(&o);
    o.metadata_dir = mdir;
    o.metadata_url = RF_TUF_REPO_FILE_BASE "/metadata";
    o.target_base_url = RF_TUF_REPO_FILE_BASE "/targets";
    o.fetch = rf_tuf_repo_fetch_file;
    o.fetch_ctx = (void *)out;
    o.now = rfrepo_now(r);
    if (rc == RF_OK)
        rc = rf_tuf_client_new(&o, &c, &e2);
    if (rc == RF_OK)
        rc = rf_tuf_client_refresh(c, &e2);
    if (rc != RF_OK) {
        rc = rf_err_set(err, rc, NULL, 0, 0, "a client cannot update from %s: %s", out, e2.msg);
        goto out;
    }
    int64_t got = trusted_version(mdir, "root.json", RFTUF_ROOT);
    if (got != cur) {
        rc = rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                        "a client updating from %s ends at root version %lld, not %lld", out,
                        (long long)got, (long long)cur);
        goto out;
    }
    got = trusted_version(mdir, "timestamp.json", RFTUF_TIMESTAMP);
    if (got != rfrepo_version(r->roles[RFREPO_TIMESTAMP].doc)) {
        rc = rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                        "a client updating from %s ends at timestamp version %lld, not %lld", out,
                        (long long)got,
                        (long long)rfrepo_version(r->roles[RFREPO_TIMESTAMP].doc));
        goto out;
    }
    for (size_t i = RFREPO_TARGETS; i < r->nroles && rc == RF_OK; i++) {
        const rfrepo_role *ro = &r->roles[i];
        if (ro->type != RFTUF_TARGETS)
            continue;
        const char *path;
        const json_t *ti;
        json_object_foreach(json_object_get(rfrepo_signed(ro->doc), "targets"), path, ti) {
            rf_tuf_target *t = NULL;
            char *written = NULL;
            rc = rf_tuf_client_find_target(c, path, &t, &e2);
            if (rc == RF_OK && strcmp(t->role, ro->name) != 0)
                rc = rf_err_set(&e2, RF_E_INTERNAL, NULL, 0, 0,
                                "found in role %s, not in %s, which lists it", t->role,
                                ro->name);
            if (rc == RF_OK)
                rc = rf_tuf_client_download(c, t, tdir, &written, &e2);
            if (written)
                unlink(written);
            free(written);
            rf_tuf_target_free(t);
            if (rc != RF_OK) {
                rc = rf_err_set(err, rc, NULL, 0, 0, "a client cannot get target \"%.80s\": %s",
                                path, e2.msg);
                break;
            }
        }
    }
out:
    rf_tuf_client_free(c);
    if (mdir)
        remove_tree_files(mdir);
    if (tdir)
        remove_tree_files(tdir);
    rmdir(tmp);
    free(mdir);
    free(tdir);
    free(root);
    free(tmp);
    return rc;
}

/* ---- publish ------------------------------------------------------------------------- */

rf_rc rf_tuf_repo_publish(rf_tuf_repo *r, const char *out, rf_err *err)
{
    if (!r || !out || !*out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "an output directory is needed");
    rf_rc rc = run_checks(r, NULL, err);
    if (rc != RF_OK)
        return rc;
    if (mkdir(out, 0755) != 0 && errno != EEXIST)
        return rf_err_set(err, RF_E_IO, out, 0, 0, "cannot create: %s", strerror(errno));
    int cs = json_is_true(json_object_get(rfrepo_signed(r->roles[RFREPO_ROOT].doc),
                                          "consistent_snapshot"));
    rc = put_targets(r, out, cs, err);
    if (rc != RF_OK)
        return rc;
    /* Delegated roles before the targets role that names them, targets
     * before the snapshot, roots, and the timestamp last. */
    for (size_t i = r->nroles; i-- > RFREPO_TARGETS;) {
        const rfrepo_role *ro = &r->roles[i];
        if (ro->type != RFTUF_TARGETS)
            continue;
        char *src = rfrepo_staged_path(r, ro->name);
        rc = src ? put_meta(out, src, ro->name, rfrepo_version(ro->doc), !cs, err) : oom(err);
        free(src);
        if (rc != RF_OK)
            return rc;
    }
    {
        char *src = rfrepo_staged_path(r, "snapshot");
        rc = src ? put_meta(out, src, "snapshot",
                            rfrepo_version(r->roles[RFREPO_SNAPSHOT].doc), !cs, err)
                 : oom(err);
        free(src);
        if (rc != RF_OK)
            return rc;
    }
    for (size_t v = 1; v <= r->nhist; v++) {
        char *src = rfrepo_history_path(r, (int64_t)v);
        rc = src ? put_meta(out, src, "root", (int64_t)v, !cs && v == r->nhist, err) : oom(err);
        free(src);
        if (rc != RF_OK)
            return rc;
    }
    {
        char *src = rfrepo_staged_path(r, "timestamp");
        rc = src ? put_meta(out, src, "timestamp", 0, 1, err) : oom(err);
        free(src);
        if (rc != RF_OK)
            return rc;
    }

    rc = client_check(r, out, err);
    if (rc != RF_OK)
        return rc;

    /* Record what is now public. */
    json_t *pub = json_object_get(r->cfg, "published");
    json_t *old = json_deep_copy(pub);
    if (!old)
        return oom(err);
    json_object_set_new(pub, "root", json_integer((json_int_t)r->nhist));
    for (size_t i = 0; i < r->nroles; i++) {
        const rfrepo_role *ro = &r->roles[i];
        json_t *at = ro->delegated ? json_object_get(pub, "delegated") : pub;
        if (i != RFREPO_ROOT)
            json_object_set_new(at, ro->name, json_integer(rfrepo_version(ro->doc)));
    }
    rc = rfrepo_save_cfg(r, err);
    if (rc != RF_OK)
        json_object_set(r->cfg, "published", old);
    json_decref(old);
    return rc;
}

/* ---- status --------------------------------------------------------------------------- */

static json_t *role_status(rf_tuf_repo *r, const rfrepo_role *ro)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "role", json_string(ro->name));
    if (ro->delegated)
        json_object_set_new(o, "parent", json_string(r->roles[ro->parent].name));
    int64_t pub = rfrepo_published(r, ro);
    json_object_set_new(o, "published_version", json_integer(pub));
    const json_t *keys = NULL, *keyids = NULL;
    int64_t t = 0;
    if (rfrepo_role_keys(r, ro, &keys, &keyids, &t, NULL) == RF_OK) {
        json_object_set_new(o, "threshold", json_integer(t));
        json_object_set_new(o, "keyids", json_deep_copy(keyids));
    }
    if (!ro->doc) {
        json_object_set_new(o, "version", json_null());
        json_object_set_new(o, "published", json_false());
        return o;
    }
    int64_t v = rfrepo_version(ro->doc);
    const char *exp = json_string_value(json_object_get(rfrepo_signed(ro->doc), "expires"));
    time_t when = 0;
    json_object_set_new(o, "version", json_integer(v));
    json_object_set_new(o, "expires", json_string(exp ? exp : ""));
    json_object_set_new(o, "expired", json_boolean(!exp || rftuf_time_parse(exp, &when) != RF_OK ||
                                                   rfrepo_now(r) >= when));
    json_object_set_new(o, "signatures",
                        json_integer(keys ? rfrepo_count_sigs(ro->doc, keys, keyids) : 0));
    json_object_set_new(o, "published", json_boolean(v <= pub));
    if (ro->type == RFTUF_TARGETS)
        json_object_set_new(o, "targets", json_integer((json_int_t)json_object_size(
                                              json_object_get(rfrepo_signed(ro->doc), "targets"))));
    if (ro->type == RFTUF_ROOT && v >= 2 && (size_t)v <= r->nhist) {
        const json_t *ps = rfrepo_signed(r->hist[v - 2]);
        const json_t *prev = json_object_get(json_object_get(ps, "roles"), "root");
        json_object_set_new(
            o, "previous_root",
            json_pack("{s:I, s:I, s:O}", "signatures",
                      (json_int_t)rfrepo_count_sigs(ro->doc, json_object_get(ps, "keys"),
                                                    json_object_get(prev, "keyids")),
                      "threshold", json_integer_value(json_object_get(prev, "threshold")),
                      "keyids", json_object_get(prev, "keyids")));
    }
    return o;
}

rf_rc rf_tuf_repo_status_json(rf_tuf_repo *r, char **out, rf_err *err)
{
    if (!r || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "no repository");
    json_t *o = json_object(), *roles = json_array(), *probl = json_array();
    if (!o || !roles || !probl) {
        json_decref(o);
        json_decref(roles);
        json_decref(probl);
        return oom(err);
    }
    char now[21];
    rftuf_time_format(rfrepo_now(r), now);
    json_object_set_new(o, "repository", json_string(r->dir));
    json_object_set_new(o, "consistent_snapshot",
                        json_boolean(json_is_true(json_object_get(
                            rfrepo_signed(r->roles[RFREPO_ROOT].doc), "consistent_snapshot"))));
    json_object_set_new(o, "now", json_string(now));
    for (size_t i = 0; i < r->nroles; i++)
        json_array_append_new(roles, role_status(r, &r->roles[i]));
    json_object_set_new(o, "roles", roles);
    rf_err e2;
    rf_err_clear(&e2);
    rf_rc crc = run_checks(r, probl, &e2);
    json_object_set_new(o, "ready", json_boolean(crc == RF_OK));
    json_object_set_new(o, "problems", probl);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        return oom(err);
    *out = s;
    return RF_OK;
}
