/*
 * publish.c — ringfenced's TUF publisher (publish.h): approved releases are
 * added to the repository with libringfence's repository API, the same calls
 * `ringfence repo` makes, then signed and published with whatever keys the
 * server holds; what it lacks is left to the offline key holders, who are
 * told the exact commands. The ticker's rfd_publisher_refresh keeps the
 * online roles from expiring and finishes publications whose offline
 * signatures have been made.
 *
 * The repository is opened for one call at a time and closed before it
 * returns (rf_tuf_repo_open takes the lock, rf_tuf_repo_free drops it), so
 * `ringfence repo sign` and friends can run on the same directory while the
 * server runs. Nothing about the repository is cached across calls but the
 * identity of a few of its files and the earliest expiry seen, which let
 * refresh skip opening it when nothing can be due.
 *
 * What is published is judged as an agent judges it: a TUF client of the
 * library, its trusted metadata in a private scratch directory, updates from
 * the public directory. Its view is rebuilt only when the published
 * timestamp.json changes, which every publication does (it is written last).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "publish.h"
#include "ringfence/tuf.h"
#include "ringfence/tuf_repo.h"
#include "ringfence/util.h"

/* Files of the repository whose change means someone edited it (a key holder
 * signed, a role was renewed): refresh then looks again. */
static const char *const watched[] = {
    "repo.json", "staged/root.json", "staged/targets.json", "staged/snapshot.json",
    "staged/timestamp.json",
};
#define NWATCH (sizeof(watched) / sizeof(watched[0]))

/* The longest refresh trusts its cached look: changes the watched files do
 * not show (a delegated role signed offline) are seen within this time. */
#define LOOK_MAX_S 600

/* staged/targets.json is read back to compare entries; the same bound the
 * library reads staged metadata with. */
#define STAGED_MAX_BYTES ((size_t)RF_TUF_MAX_TARGETS_BYTES * 4u)

enum { K_TARGETS, K_SNAPSHOT, K_TIMESTAMP, K_COUNT };
static const char *const key_role[K_COUNT] = {"targets", "snapshot", "timestamp"};

typedef struct fileid {
    int present;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} fileid;

struct rfd_publisher {
    char *repo;                 /* owned copies of the options */
    char *pub;
    char *key_path[K_COUNT];    /* NULL: that key is not loaded */
    rf_tuf_signer *key[K_COUNT];
    char *work;                 /* private scratch directory (mkdtemp) */
    char *cdir;                 /* work/client: the view's trusted metadata */
    rf_tuf_client *view;        /* NULL: no verified view yet */
    uint8_t view_ts[32];        /* sha256 of the timestamp.json the view read */
    int fresh;                  /* refresh's cache below is valid */
    fileid ids[NWATCH];
    int64_t due_at;             /* earliest expiry of a role this publisher renews */
    int64_t look_by;            /* look again at the latest then */
};

/* ---- small helpers ---------------------------------------------------------- */

static rf_rc oom(rf_err *err)
{
    return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
}

/* a/b, malloc'd (NULL when out of memory). */
static char *join(const char *a, const char *b)
{
    rf_buf o;
    rf_buf_init(&o);
    rf_buf_printf(&o, "%s/%s", a, b);
    return rf_buf_take(&o);
}

/* Append s to b as one shell word: as it is when it holds only safe bytes,
 * else in single quotes. */
static void shq(rf_buf *b, const char *s)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789_./:=@%+,-";
    if (*s && strspn(s, safe) == strlen(s)) {
        rf_buf_append(b, s, strlen(s));
        return;
    }
    rf_buf_append(b, "'", 1);
    for (; *s; s++) {
        if (*s == '\'')
            rf_buf_append(b, "'\\''", 4);
        else
            rf_buf_append(b, s, 1);
    }
    rf_buf_append(b, "'", 1);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SSZ" (how the repository writes "expires") to Unix
 * seconds. 0 when s is not exactly that. */
static int parse_time(const char *s, int64_t *out)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
    if (!s || strlen(s) != sizeof(pat) - 1)
        return 0;
    int64_t v[6] = {0};
    static const int at[6] = {0, 5, 8, 11, 14, 17}, len[6] = {4, 2, 2, 2, 2, 2};
    for (size_t i = 0; i < sizeof(pat) - 1; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return 0;
    }
    for (int k = 0; k < 6; k++)
        for (int i = 0; i < len[k]; i++)
            v[k] = v[k] * 10 + (s[at[k] + i] - '0');
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return 0;
    *out = days_from_civil(v[0], v[1], v[2]) * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
    return 1;
}

/* Remove the plain files of dir, then dir itself (the scratch directories
 * hold no subdirectories). */
static void rm_flat(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *p = join(dir, e->d_name);
            if (p)
                unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void take_ids(const rfd_publisher *p, fileid ids[NWATCH])
{
    for (size_t i = 0; i < NWATCH; i++) {
        memset(&ids[i], 0, sizeof(ids[i]));
        char *path = join(p->repo, watched[i]);
        struct stat st;
        if (path && stat(path, &st) == 0) {
            ids[i].present = 1;
            ids[i].dev = st.st_dev;
            ids[i].ino = st.st_ino;
            ids[i].size = st.st_size;
            ids[i].mtime = st.st_mtim;
        }
        free(path);
    }
}

static int ids_equal(const fileid *a, const fileid *b)
{
    for (size_t i = 0; i < NWATCH; i++)
        if (a[i].present != b[i].present || a[i].dev != b[i].dev || a[i].ino != b[i].ino ||
            a[i].size != b[i].size || a[i].mtime.tv_sec != b[i].mtime.tv_sec ||
            a[i].mtime.tv_nsec != b[i].mtime.tv_nsec)
            return 0;
    return 1;
}

/* Parse custom metadata text: NULL stays NULL; anything but a JSON object is
 * RF_E_USAGE. Caller decrefs *out. */
static rf_rc parse_custom(const char *text, json_t **out, rf_err *err)
{
    *out = NULL;
    if (!text)
        return RF_OK;
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        rf_rc rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "custom metadata must be a JSON object%s%s", j ? "" : ": ",
                              j ? "" : je.text);
        json_decref(j);
        return rc;
    }
    *out = j;
    return RF_OK;
}

/* How an existing entry compares with what is being added. */
enum { ENTRY_ABSENT, ENTRY_SAME, ENTRY_OTHER };

static int entry_cmp(const char *sha, const json_t *custom, const char *want_sha,
                     const json_t *want_custom)
{
    if (!sha || strcmp(sha, want_sha) != 0)
        return ENTRY_OTHER;
    if (!custom && !want_custom)
        return ENTRY_SAME;
    if (!custom || !want_custom)
        return ENTRY_OTHER;
    return json_equal((json_t *)custom, (json_t *)want_custom) ? ENTRY_SAME : ENTRY_OTHER;
}

/* ---- the published view ----------------------------------------------------- */

static void view_drop(rfd_publisher *p)
{
    rf_tuf_client_free(p->view);
    p->view = NULL;
    memset(p->view_ts, 0, sizeof(p->view_ts));
}

/* Make p->view a client that has updated from the public directory as it is
 * now. Kept while the published timestamp.json is the same bytes; otherwise
 * the client updates from what it trusted before, and if that fails (a
 * rebuilt public directory, damaged local state) starts again from
 * 1.root.json. An error (nothing published yet, an expired or damaged
 * publication) leaves no view. */
static rf_rc view_update(rfd_publisher *p, rf_err *err)
{
    char *tsp = join(p->pub, "metadata/timestamp.json");
    char *root = join(p->pub, "metadata/1.root.json");
    char *mine = join(p->cdir, "root.json");
    uint8_t *tsb = NULL;
    size_t tsl = 0;
    rf_rc rc;
    if (!tsp || !root || !mine) {
        rc = oom(err);
        goto out;
    }
    rc = rf_file_read(tsp, RF_TUF_MAX_TIMESTAMP_BYTES, &tsb, &tsl, err);
    if (rc != RF_OK) {
        view_drop(p);
        goto out;
    }
    uint8_t h[32];
    rf_sha256(tsb, tsl, h);
    if (p->view && memcmp(h, p->view_ts, sizeof(h)) == 0)
        goto out;
    view_drop(p);
    struct stat st;
    for (int attempt = stat(mine, &st) == 0 ? 0 : 1; attempt < 2; attempt++) {
        if (attempt == 1 && (rc = rf_tuf_client_init(p->cdir, root, err)) != RF_OK)
            break;
        rf_tuf_client_opts o;
        rf_tuf_client_opts_default(&o);
        o.metadata_dir = p->cdir;
        o.metadata_url = RF_TUF_REPO_FILE_BASE "/metadata";
        o.target_base_url = RF_TUF_REPO_FILE_BASE "/targets";
        o.fetch = rf_tuf_repo_fetch_file;
        o.fetch_ctx = p->pub;
        rf_tuf_client *c = NULL;
        rc = rf_tuf_client_new(&o, &c, err);
        if (rc == RF_OK)
            rc = rf_tuf_client_refresh(c, err);
        if (rc == RF_OK) {
            p->view = c;
            memcpy(p->view_ts, h, sizeof(h));
            break;
        }
        rf_tuf_client_free(c);
    }
out:
    free(tsb);
    free(tsp);
    free(root);
    free(mine);
    return rc;
}

/* The published entry of name, as the view finds it. Caller frees *out with
 * rf_tuf_target_free. RF_E_NOTFOUND when it is not published (or nothing
 * verifiable is). */
static rf_rc view_find(rfd_publisher *p, const char *name, rf_tuf_target **out)
{
    if (view_update(p, NULL) != RF_OK || !p->view)
        return RF_E_NOTFOUND;
    return rf_tuf_client_find_target(p->view, name, out, NULL);
}

/* How the published repository lists name against (sha, custom). */
static int published_entry(rfd_publisher *p, const char *name, const char *sha,
                           const json_t *custom)
{
    rf_tuf_target *t = NULL;
    if (view_find(p, name, &t) != RF_OK)
        return ENTRY_ABSENT;
    json_t *c = NULL;
    json_error_t je;
    if (t->custom_json)
        c = json_loads(t->custom_json, 0, &je);
    int r = entry_cmp(t->sha256, c, sha, custom);
    json_decref(c);
    rf_tuf_target_free(t);
    return r;
}

/* ---- the repository --------------------------------------------------------- */

/* Open the repository for one operation, its clock at now (0: the clock).
 * Caller frees with rf_tuf_repo_free, which releases the lock. */
static rf_rc repo_open(const rfd_publisher *p, int64_t now, rf_tuf_repo **out, rf_err *err)
{
    rf_rc rc = rf_tuf_repo_open(p->repo, out, err);
    if (rc == RF_OK && now > 0)
        rf_tuf_repo_set_now(*out, (time_t)now);
    return rc;
}

/* The repository's status document, parsed. Caller decrefs. */
static rf_rc get_status(rf_tuf_repo *r, json_t **out, rf_err *err)
{
    char *s = NULL;
    rf_rc rc = rf_tuf_repo_status_json(r, &s, err);
    if (rc != RF_OK)
        return rc;
    json_error_t je;
    *out = json_loads(s, 0, &je);
    free(s);
    if (!*out)
        return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                          "the repository's status does not parse: %s", je.text);
    return RF_OK;
}

/* What the status says of one role. */
typedef struct role_st {
    const char *name;
    int made;          /* there is a staged document */
    int published;     /* the staged version is the published one */
    int enough;        /* signed by its threshold (a new root: also by the previous one's) */
    int64_t need;      /* signatures still missing (the larger of the two for a root) */
    int64_t version;
    int64_t threshold;
    int64_t expires;   /* Unix seconds; 0 when not made or unreadable */
} role_st;

static void role_info(const json_t *o, role_st *s)
{
    memset(s, 0, sizeof(*s));
    s->name = json_string_value(json_object_get(o, "role"));
    const json_t *v = json_object_get(o, "version");
    if (!json_is_integer(v))
        return;
    s->made = 1;
    s->version = json_integer_value(v);
    s->published = json_is_true(json_object_get(o, "published"));
    if (!parse_time(json_string_value(json_object_get(o, "expires")), &s->expires))
        s->expires = 0;
    s->threshold = json_integer_value(json_object_get(o, "threshold"));
    int64_t need = s->threshold - json_integer_value(json_object_get(o, "signatures"));
    const json_t *pr = json_object_get(o, "previous_root");
    if (pr && !s->published) {
        int64_t n2 = json_integer_value(json_object_get(pr, "threshold")) -
                     json_integer_value(json_object_get(pr, "signatures"));
        if (n2 > need)
            need = n2;
    }
    s->need = need > 0 ? need : 0;
    s->enough = s->need == 0;
}

/* The status entry of role name, or an empty one. */
static void role_of(const json_t *st, const char *name, role_st *s)
{
    const json_t *roles = json_object_get(st, "roles");
    for (size_t i = 0; i < json_array_size(roles); i++) {
        const json_t *o = json_array_get(roles, i);
        const char *n = json_string_value(json_object_get(o, "role"));
        if (n && strcmp(n, name) == 0) {
            role_info(o, s);
            return;
        }
    }
    memset(s, 0, sizeof(*s));
    s->name = name;
}

static int is_online(const char *name)
{
    return strcmp(name, "snapshot") == 0 || strcmp(name, "timestamp") == 0;
}

/* Append the commands that finish the publication from state st: a sign
 * command for every offline role short of signatures, then (when full)
 * snapshot, timestamp and publish. */
static void explain(const rfd_publisher *p, const json_t *st, int full, rf_buf *b)
{
    const json_t *roles = json_object_get(st, "roles");
    rf_buf more;
    rf_buf_init(&more);
    int nsign = 0;
    for (size_t i = 0; i < json_array_size(roles); i++) {
        role_st s;
        role_info(json_array_get(roles, i), &s);
        if (!s.name || is_online(s.name) || !s.made || s.published || s.enough)
            continue;
        const char *ph = strcmp(s.name, "root") == 0      ? "ROOT_KEY"
                         : strcmp(s.name, "targets") == 0 ? "TARGETS_KEY"
                                                          : "KEY";
        rf_buf_printf(b, "%sringfence repo sign ", nsign++ && !full ? " && " : "");
        shq(b, p->repo);
        rf_buf_printf(b, " --role ");
        shq(b, s.name);
        rf_buf_printf(b, " --key %s%s", ph, full ? " && " : "");
        if (s.need > 1)
            rf_buf_printf(&more, "; %s needs %lld more signatures, each with another of its "
                                 "keys",
                          s.name, (long long)s.need);
    }
    static const char *const key_ph[K_COUNT] = {NULL, "SNAPSHOT_KEY", "TIMESTAMP_KEY"};
    for (int k = K_SNAPSHOT; k <= K_TIMESTAMP && full; k++) {
        rf_buf_printf(b, "ringfence repo %s ", key_role[k]);
        shq(b, p->repo);
        rf_buf_printf(b, " --key ");
        if (p->key_path[k])
            shq(b, p->key_path[k]);
        else
            rf_buf_printf(b, "%s", key_ph[k]);
        rf_buf_printf(b, " && ");
    }
    if (full) {
        rf_buf_printf(b, "ringfence repo publish ");
        shq(b, p->repo);
        rf_buf_printf(b, " ");
        shq(b, p->pub);
    }
    if (more.len)
        rf_buf_append(b, more.data, more.len);
    rf_buf_free(&more);
}

/* What advance() found and did. */
typedef struct adv {
    int published;   /* every staged role is published */
    int blocked;     /* an offline role lacks signatures */
    int need_online; /* snapshot or timestamp must be made, and its key is not here */
    int due;         /* the snapshot or timestamp made expires within the margin: */
    const char *due_role; /* which ("snapshot" or "timestamp") */
    int64_t due_expires;
    int64_t next;    /* earliest expiry of the roles this publisher renews; 0: none */
    role_st ts;      /* the timestamp, as found */
    json_t *st;      /* the last status read (owned; for explanations) */
} adv;

static int64_t earliest(int64_t a, int64_t b)
{
    return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

static void adv_next(const rfd_publisher *p, const json_t *st, adv *a)
{
    a->next = 0;
    for (int k = 0; k < K_COUNT; k++) {
        if (!p->key[k])
            continue;
        role_st s;
        role_of(st, key_role[k], &s);
        a->next = earliest(a->next, s.made ? s.expires : 0);
    }
}

static rf_rc restatus(rf_tuf_repo *r, adv *a, rf_err *err)
{
    json_decref(a->st);
    a->st = NULL;
    return get_status(r, &a->st, err);
}

/*
 * Take the repository r (open, its clock at now) as far towards publication
 * as the loaded keys allow: sign targets if it changed (or renew and sign it
 * when it expires within margin), then, unless an offline role still lacks
 * signatures, make the snapshot and timestamp that are stale or expire within
 * margin, and publish whatever is not published yet. A new snapshot is made
 * only when the old one is stale or near its expiry (the timestamp alone is
 * tried first), so renewals do not churn versions clients must fetch.
 * Caller decrefs a->st.
 */
static rf_rc advance(rfd_publisher *p, rf_tuf_repo *r, int64_t now, int64_t margin, adv *a,
                     rf_err *err)
{
    memset(a, 0, sizeof(*a));
    rf_rc rc = restatus(r, a, err);
    if (rc != RF_OK)
        return rc;
    role_st t;
    role_of(a->st, "targets", &t);
    if (p->key[K_TARGETS] && t.made) {
        int did = 0;
        /* Renewed only when this key alone can sign it again: otherwise the
         * renewal would take a valid published version out of reach. */
        if (t.published && t.threshold <= 1 && t.expires - now <= margin) {
            if ((rc = rf_tuf_repo_renew(r, "targets", err)) != RF_OK)
                return rc;
            t.published = 0;
            t.enough = 0;
            did = 1;
        }
        if (!t.published && !t.enough) {
            if ((rc = rf_tuf_repo_sign(r, "targets", p->key[K_TARGETS], err)) != RF_OK)
                return rc;
            did = 1;
        }
        if (did && (rc = restatus(r, a, err)) != RF_OK)
            return rc;
    }

    role_st snap;
    role_of(a->st, "snapshot", &snap);
    role_of(a->st, "timestamp", &a->ts);
    int snap_due = !snap.made || snap.expires - now <= margin;
    int ts_due = !a->ts.made || a->ts.expires - now <= margin;
    /* Due for the caller: something made (so maybe served) is about to
     * expire. A repository never published has nothing to keep fresh. */
    a->due = (snap.made && snap_due) || (a->ts.made && ts_due);
    a->due_role = snap.made && snap_due ? "snapshot" : "timestamp";
    a->due_expires = snap.made && snap_due ? snap.expires : a->ts.expires;
    adv_next(p, a->st, a);

    int unpub = 0, snap_stale = 0;
    const json_t *roles = json_object_get(a->st, "roles");
    for (size_t i = 0; i < json_array_size(roles); i++) {
        role_st s;
        role_info(json_array_get(roles, i), &s);
        if (!s.name)
            continue;
        if (!s.made || !s.published)
            unpub = 1;
        if (!is_online(s.name) && s.made && !s.published && !s.enough)
            a->blocked = 1;
        /* A targets role changed since the published snapshot, which
         * therefore does not list its new version. */
        if (!is_online(s.name) && strcmp(s.name, "root") != 0 && s.made && !s.published &&
            snap.published)
            snap_stale = 1;
    }
    if (a->blocked)
        return RF_OK;

    int ready = json_is_true(json_object_get(a->st, "ready"));
    if (!ready || snap_due || ts_due) {
        int done = 0;
        if (!snap_due && !snap_stale && p->key[K_TIMESTAMP]) {
            /* Perhaps only the timestamp is stale or near its expiry. */
            if ((rc = rf_tuf_repo_timestamp(r, p->key[K_TIMESTAMP], err)) != RF_OK)
                return rc;
            done = rf_tuf_repo_check(r, NULL) == RF_OK;
        }
        if (!done) {
            if (!p->key[K_SNAPSHOT] || !p->key[K_TIMESTAMP]) {
                a->need_online = 1;
                return RF_OK;
            }
            if ((rc = rf_tuf_repo_snapshot(r, p->key[K_SNAPSHOT], err)) != RF_OK ||
                (rc = rf_tuf_repo_timestamp(r, p->key[K_TIMESTAMP], err)) != RF_OK)
                return rc;
        }
        unpub = 1;
    }
    if (unpub) {
        if ((rc = rf_tuf_repo_publish(r, p->pub, err)) != RF_OK)
            return rc;
        if ((rc = restatus(r, a, err)) != RF_OK)
            return rc;
        role_of(a->st, "timestamp", &a->ts);
        adv_next(p, a->st, a);
        a->due = 0;
    }
    a->published = 1;
    return RF_OK;
}

/* ---- open and free ---------------------------------------------------------- */

/* Check that each loaded key is one the repository's root lists for its
 * role, so a wrong key file is found at start, not at the first release. */
static rf_rc check_keys(rfd_publisher *p, rf_err *err)
{
    rf_tuf_repo *r = NULL;
    json_t *st = NULL;
    rf_rc rc = repo_open(p, 0, &r, err);
    if (rc == RF_OK)
        rc = get_status(r, &st, err);
    rf_tuf_repo_free(r);
    if (rc != RF_OK)
        return rc;
    const json_t *roles = json_object_get(st, "roles");
    for (int k = 0; k < K_COUNT && rc == RF_OK; k++) {
        if (!p->key[k])
            continue;
        const char *id = rf_tuf_signer_keyid(p->key[k]);
        const json_t *ids = NULL;
        for (size_t i = 0; i < json_array_size(roles); i++) {
            const json_t *o = json_array_get(roles, i);
            const char *n = json_string_value(json_object_get(o, "role"));
            if (n && strcmp(n, key_role[k]) == 0)
                ids = json_object_get(o, "keyids");
        }
        int found = 0;
        for (size_t i = 0; i < json_array_size(ids); i++) {
            const char *s = json_string_value(json_array_get(ids, i));
            if (s && strcmp(s, id) == 0)
                found = 1;
        }
        if (!found)
            rc = rf_err_set(err, RF_E_SIGNATURE, p->key_path[k], 0, 0,
                            "key %.16s... is not a %s key of the repository %s: see "
                            "'ringfence repo status %s' for the key ids its root trusts",
                            id, key_role[k], p->repo, p->repo);
    }
    json_decref(st);
    return rc;
}

rf_rc rfd_publisher_open(const rfd_publisher_opts *o, rfd_publisher **out, rf_err *err)
{
    if (!o || !o->repo_dir || !*o->repo_dir || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "the publisher needs a repository directory");
    if (o->public_dir && !*o->public_dir)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "an empty public directory");
    rfd_publisher *p = calloc(1, sizeof(*p));
    if (!p)
        return oom(err);
    rf_rc rc = RF_OK;
    const char *paths[K_COUNT] = {o->targets_key, o->snapshot_key, o->timestamp_key};
    p->repo = rf_strdup(o->repo_dir);
    p->pub = o->public_dir ? rf_strdup(o->public_dir) : join(o->repo_dir, "public");
    if (!p->repo || !p->pub) {
        rc = oom(err);
        goto fail;
    }
    for (int k = 0; k < K_COUNT; k++) {
        if (!paths[k])
            continue;
        if (!*paths[k]) {
            rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "an empty %s key file name",
                            key_role[k]);
            goto fail;
        }
        p->key_path[k] = rf_strdup(paths[k]);
        if (!p->key_path[k]) {
            rc = oom(err);
            goto fail;
        }
        rf_err e2;
        rf_err_clear(&e2);
        rc = rf_tuf_signer_load(paths[k], &p->key[k], &e2);
        if (rc != RF_OK) {
            rc = rf_err_set(err, rc, paths[k], 0, 0, "%s key: %s", key_role[k], e2.msg);
            goto fail;
        }
    }
    rc = check_keys(p, err);
    if (rc != RF_OK)
        goto fail;
    {
        const char *tmp = getenv("TMPDIR");
        rf_buf b;
        rf_buf_init(&b);
        rf_buf_printf(&b, "%s/ringfenced-publish-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        p->work = rf_buf_take(&b);
    }
    if (!p->work) {
        rc = oom(err);
        goto fail;
    }
    if (!mkdtemp(p->work)) {
        rc = rf_err_set(err, RF_E_IO, p->work, 0, 0, "cannot create a scratch directory: %s",
                        strerror(errno));
        free(p->work);
        p->work = NULL;
        goto fail;
    }
    p->cdir = join(p->work, "client");
    if (!p->cdir) {
        rc = oom(err);
        goto fail;
    }
    *out = p;
    return RF_OK;
fail:
    rfd_publisher_free(p);
    return rc;
}

void rfd_publisher_free(rfd_publisher *p)
{
    if (!p)
        return;
    view_drop(p);
    if (p->cdir)
        rm_flat(p->cdir);
    if (p->work)
        rm_flat(p->work);
    for (int k = 0; k < K_COUNT; k++) {
        rf_tuf_signer_free(p->key[k]);
        free(p->key_path[k]);
    }
    free(p->cdir);
    free(p->work);
    free(p->repo);
    free(p->pub);
    free(p);
}

const char *rfd_publisher_public_dir(const rfd_publisher *p)
{
    return p ? p->pub : NULL;
}

/* ---- add -------------------------------------------------------------------- */

/* How the staged targets metadata lists name against (sha, custom). Read
 * while r is open, so under the repository's lock. The layout is the one
 * docs/trust.md documents: staged/targets.json is the whole signed document. */
static rf_rc staged_entry(const rfd_publisher *p, const char *name, const char *sha,
                          const json_t *custom, int *out, rf_err *err)
{
    char *path = join(p->repo, "staged/targets.json");
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!path)
        return oom(err);
    rf_rc rc = rf_file_read(path, STAGED_MAX_BYTES, &buf, &len, err);
    json_t *doc = NULL;
    if (rc == RF_OK) {
        json_error_t je;
        doc = json_loadb((const char *)buf, len, 0, &je);
        if (!doc)
            rc = rf_err_set(err, RF_E_PARSE, path, je.line > 0 ? (uint32_t)je.line : 0, 0,
                            "%s", je.text);
    }
    if (rc == RF_OK) {
        const json_t *e = json_object_get(
            json_object_get(json_object_get(doc, "signed"), "targets"), name);
        if (!e)
            *out = ENTRY_ABSENT;
        else
            *out = entry_cmp(json_string_value(
                                 json_object_get(json_object_get(e, "hashes"), "sha256")),
                             json_object_get(e, "custom"), sha, custom);
    }
    json_decref(doc);
    free(buf);
    free(path);
    return rc;
}

/* Write buf to a new file in the scratch directory (the repository API adds
 * targets from files). Caller unlinks and frees *out. */
static rf_rc scratch_file(const rfd_publisher *p, const uint8_t *buf, size_t len, char **out,
                          rf_err *err)
{
    char *path = join(p->work, "target-XXXXXX");
    if (!path)
        return oom(err);
    int fd = mkstemp(path);
    if (fd < 0) {
        rf_rc rc = rf_err_set(err, RF_E_IO, path, 0, 0, "cannot create: %s", strerror(errno));
        free(path);
        return rc;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rf_rc rc = rf_err_set(err, RF_E_IO, path, 0, 0, "cannot write: %s",
                                  w < 0 ? strerror(errno) : "no space written");
            close(fd);
            unlink(path);
            free(path);
            return rc;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        rf_rc rc = rf_err_set(err, RF_E_IO, path, 0, 0, "cannot write: %s", strerror(errno));
        unlink(path);
        free(path);
        return rc;
    }
    *out = path;
    return RF_OK;
}

static void set_why(char *why, size_t whylen, const char *s)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", s ? s : "");
}

rf_rc rfd_publisher_add(rfd_publisher *p, const char *name, const uint8_t *buf, size_t len,
                        const char *custom_json, int *published, char *why, size_t whylen,
                        rf_err *err)
{
    set_why(why, whylen, "");
    if (!p || !name || (!buf && len) || !published)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "rfd_publisher_add: a publisher, a name, the bytes and "
                          "'published' are needed");
    if (len > RF_TUF_REPO_MAX_TARGET_BYTES)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                          "target \"%.80s\" is %zu bytes, at most %u are published", name, len,
                          RF_TUF_REPO_MAX_TARGET_BYTES);
    json_t *custom = NULL;
    rf_tuf_repo *r = NULL;
    char *tmp = NULL;
    adv a;
    memset(&a, 0, sizeof(a));
    rf_buf msg;
    rf_buf_init(&msg);
    rf_rc rc = parse_custom(custom_json, &custom, err);
    if (rc != RF_OK)
        goto out;
    uint8_t d[32];
    char sha[65];
    rf_sha256(buf ? (const void *)buf : (const void *)"", len, d);
    rf_hex(d, 32, sha);

    /* Published already, exactly so: a retry after the publication. */
    int pe = published_entry(p, name, sha, custom);
    if (pe == ENTRY_SAME) {
        *published = 1;
        goto out;
    }
    if (pe == ENTRY_OTHER) {
        rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                        "target \"%.80s\" is already published with other content or custom "
                        "metadata; a published name is never given new content: use a new "
                        "name",
                        name);
        goto out;
    }

    rc = repo_open(p, 0, &r, err);
    if (rc != RF_OK)
        goto out;
    int se = ENTRY_ABSENT;
    rc = staged_entry(p, name, sha, custom, &se, err);
    if (rc != RF_OK)
        goto out;
    if (se == ENTRY_OTHER) {
        rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                        "target \"%.80s\" is already staged with other content or custom "
                        "metadata (it may be awaiting its offline signature); a name is "
                        "never given new content: use a new name",
                        name);
        goto out;
    }
    if (se == ENTRY_ABSENT) {
        rc = scratch_file(p, buf, len, &tmp, err);
        if (rc != RF_OK)
            goto out;
        rc = rf_tuf_repo_add_target(r, NULL, name, tmp, custom_json, NULL, err);
        if (rc != RF_OK)
            goto out;
    }
    p->fresh = 0; /* the repository is ours to judge again at the next refresh */
    rc = advance(p, r, (int64_t)time(NULL), 0, &a, err);
    if (rc != RF_OK)
        goto out;
    *published = a.published;
    if (!a.published) {
        if (a.blocked)
            rf_buf_printf(&msg, "target %s is staged, not published: it waits for signatures "
                                "made offline; run: ",
                          name);
        else
            rf_buf_printf(&msg, "target %s is staged and signed, not published: the snapshot "
                                "and timestamp are made offline; run: ",
                          name);
        explain(p, a.st, 1, &msg);
        if (a.blocked && p->key[K_SNAPSHOT] && p->key[K_TIMESTAMP])
            rf_buf_printf(&msg, " (or only the sign command: ringfenced then makes the "
                                "snapshot and timestamp and publishes at its next refresh)");
        char *s = rf_buf_take(&msg);
        set_why(why, whylen, s ? s : "not published: waiting for offline signatures");
        free(s);
    }
out:
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    rf_tuf_repo_free(r);
    json_decref(a.st);
    json_decref(custom);
    rf_buf_free(&msg);
    return rc;
}

/* ---- is_published ------------------------------------------------------------ */

int rfd_publisher_is_published(rfd_publisher *p, const char *name, const char *sha256_hex)
{
    if (!p || !name || !sha256_hex || strlen(sha256_hex) != 64)
        return 0;
    char want[65];
    for (int i = 0; i < 64; i++) {
        char c = sha256_hex[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        want[i] = c;
    }
    want[64] = '\0';
    rf_tuf_target *t = NULL;
    if (view_find(p, name, &t) != RF_OK)
        return 0;
    int yes = strcmp(t->sha256, want) == 0;
    rf_tuf_target_free(t);
    return yes;
}

/* ---- refresh ---------------------------------------------------------------- */

rf_rc rfd_publisher_refresh(rfd_publisher *p, int64_t now, int64_t margin_s, rf_err *err)
{
    if (!p)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rfd_publisher_refresh: no publisher");
    if (!p->key[K_SNAPSHOT] && !p->key[K_TIMESTAMP])
        return RF_OK;
    if (now <= 0)
        now = (int64_t)time(NULL);
    if (margin_s < 0)
        margin_s = 0;
    fileid ids[NWATCH];
    take_ids(p, ids);
    if (p->fresh && ids_equal(ids, p->ids) && now < p->look_by &&
        (p->due_at == 0 || now + margin_s < p->due_at))
        return RF_OK;

    rf_tuf_repo *r = NULL;
    adv a;
    memset(&a, 0, sizeof(a));
    rf_buf msg;
    rf_buf_init(&msg);
    p->fresh = 0;
    rf_rc rc = repo_open(p, now, &r, err);
    if (rc == RF_OK)
        rc = advance(p, r, now, margin_s, &a, err);
    if (rc == RF_OK && a.due && (a.blocked || a.need_online)) {
        /* Kept short: it must fit an rf_err message with two paths in it. */
        char when[32] = "?";
        time_t tt = (time_t)a.due_expires;
        struct tm tm;
        if (a.due_expires && gmtime_r(&tt, &tm))
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        int auto_ = p->key[K_SNAPSHOT] && p->key[K_TIMESTAMP];
        rf_buf_printf(&msg, "%s %s at %s and cannot be renewed %s: ", a.due_role,
                      a.due_expires <= now ? "expired" : "expires", when,
                      a.blocked ? "while a change waits for offline signatures (a publication "
                                  "publishes every role)"
                                : "without its online key");
        explain(p, a.st, !auto_ || !a.blocked, &msg);
        if (auto_ && a.blocked)
            rf_buf_printf(&msg, "; ringfenced publishes at its next refresh after that");
        char *s = rf_buf_take(&msg);
        rc = rf_err_set(err, RF_E_SIGNATURE, NULL, 0, 0, "%s", s ? s : "out of memory");
        free(s);
    }
    rf_tuf_repo_free(r);
    if (rc == RF_OK) {
        take_ids(p, p->ids);
        p->due_at = a.next;
        p->look_by = now + LOOK_MAX_S;
        p->fresh = 1;
    }
    json_decref(a.st);
    rf_buf_free(&msg);
    return rc;
}
