/*
 * repo.c — a TUF repository kept in a directory, and the edits that make a
 * release: targets added and removed, delegations, root keys and thresholds,
 * expiry, and signatures added one key holder at a time. Publication, the
 * checks before it and the status report are in repo_publish.c.
 *
 * Layout of REPO (also in docs/trust.md):
 *
 *   REPO/repo.json      settings: {"ringfence_tuf_repo": 1,
 *                       "consistent_snapshot": bool, "expiry_seconds":
 *                       {"root", "targets", "delegated", "snapshot",
 *                       "timestamp"}, "published": {"root", "targets",
 *                       "snapshot", "timestamp", "delegated": {NAME: N}}}
 *                       — the last *published* version of each role.
 *   REPO/staged/        the working metadata, each a whole signed envelope
 *                       {"signed": ..., "signatures": [...]}: root.json,
 *                       targets.json, NAME.json per delegated role (name
 *                       percent-encoded), snapshot.json, timestamp.json
 *                       (the last two once made);
 *   REPO/staged/root-history/N.root.json
 *                       every root version ever made, the current included;
 *   REPO/targets/PATH   the target files, at their target paths;
 *   REPO/.lock          held (flock) by the one command editing the repo.
 *
 * Documents are kept as parsed JSON and written back whole, so fields this
 * code does not know survive every edit. Every file is written atomically.
 * A change to a role's signed part clears its signatures, gives it the
 * version after the last published one (once per publication cycle) and
 * restarts its expiry period. Each operation changes a copy of a document
 * and replaces the original only once the copy is on disk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tuf/repo_int.h"

/* repo.json and the root history are small; this bounds a damaged one. */
#define CFG_MAX_BYTES (4u * 1024u * 1024u)
#define PUB_MAX_BYTES 65536u

static const char *const period_names[RF_TUF_PERIOD_COUNT] = {
    "root", "targets", "delegated", "snapshot", "timestamp",
};
static const int64_t period_defaults[RF_TUF_PERIOD_COUNT] = {
    365 * 86400LL, 90 * 86400LL, 90 * 86400LL, 7 * 86400LL, 86400LL,
};
static const char *const top_names[RFREPO_NTOP] = {"root", "targets", "snapshot",
                                                   "timestamp"};

/* ---- small helpers -------------------------------------------------------- */

static rf_rc oom(rf_err *err)
{
    return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
}

const char *rf_tuf_repo_period_name(rf_tuf_repo_period p)
{
    return (unsigned)p < RF_TUF_PERIOD_COUNT ? period_names[p] : "?";
}

rf_rc rf_tuf_repo_period_parse(const char *name, rf_tuf_repo_period *out)
{
    for (int i = 0; name && i < RF_TUF_PERIOD_COUNT; i++)
        if (strcmp(name, period_names[i]) == 0) {
            *out = (rf_tuf_repo_period)i;
            return RF_OK;
        }
    return RF_E_USAGE;
}

int64_t rf_tuf_repo_period_default(rf_tuf_repo_period p)
{
    return (unsigned)p < RF_TUF_PERIOD_COUNT ? period_defaults[p] : 86400;
}

void rf_tuf_repo_init_opts_default(rf_tuf_repo_init_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->consistent_snapshot = 1;
}

time_t rfrepo_now(const rf_tuf_repo *r)
{
    return r && r->fixed_now ? r->fixed_now : time(NULL);
}

void rf_tuf_repo_set_now(rf_tuf_repo *r, time_t now)
{
    if (r)
        r->fixed_now = now;
}

char *rfrepo_join(const char *a, const char *b, const char *c)
{
    rf_buf o;
    rf_buf_init(&o);
    if (c)
        rf_buf_printf(&o, "%s/%s/%s", a, b, c);
    else
        rf_buf_printf(&o, "%s/%s", a, b);
    return rf_buf_take(&o);
}

char *rfrepo_staged_path(const rf_tuf_repo *r, const char *name)
{
    char *f = rftuf_role_file(name);
    char *p = f ? rfrepo_join(r->dir, "staged", f) : NULL;
    free(f);
    return p;
}

char *rfrepo_history_path(const rf_tuf_repo *r, int64_t v)
{
    rf_buf o;
    rf_buf_init(&o);
    rf_buf_printf(&o, "%s/staged/root-history/%lld.root.json", r->dir, (long long)v);
    return rf_buf_take(&o);
}

json_t *rfrepo_signed(const json_t *doc)
{
    return json_object_get(doc, "signed");
}

int64_t rfrepo_version(const json_t *doc)
{
    return json_integer_value(json_object_get(rfrepo_signed(doc), "version"));
}

rfrepo_role *rfrepo_find(rf_tuf_repo *r, const char *name)
{
    for (size_t i = 0; name && i < r->nroles; i++)
        if (strcmp(r->roles[i].name, name) == 0)
            return &r->roles[i];
    return NULL;
}

int64_t rfrepo_published(const rf_tuf_repo *r, const rfrepo_role *ro)
{
    const json_t *p = json_object_get(r->cfg, "published");
    if (ro->delegated)
        p = json_object_get(p, "delegated");
    return json_integer_value(json_object_get(p, ro->name));
}

int64_t rfrepo_period_of(const rf_tuf_repo *r, const rfrepo_role *ro)
{
    const char *k = ro->delegated ? "delegated" : ro->name;
    return json_integer_value(json_object_get(json_object_get(r->cfg, "expiry_seconds"), k));
}

const json_t *rfrepo_deleg_entry(const rf_tuf_repo *r, const rfrepo_role *ro)
{
    if (!ro->delegated)
        return NULL;
    const json_t *roles = json_object_get(
        json_object_get(rfrepo_signed(r->roles[ro->parent].doc), "delegations"), "roles");
    for (size_t i = 0; i < json_array_size(roles); i++) {
        const json_t *e = json_array_get(roles, i);
        if (strcmp(json_string_value(json_object_get(e, "name")), ro->name) == 0)
            return e;
    }
    return NULL;
}

rf_rc rfrepo_role_keys(const rf_tuf_repo *r, const rfrepo_role *ro, const json_t **keys,
                       const json_t **keyids, int64_t *threshold, rf_err *err)
{
    const json_t *entry;
    if (ro->delegated) {
        entry = rfrepo_deleg_entry(r, ro);
        *keys = json_object_get(
            json_object_get(rfrepo_signed(r->roles[ro->parent].doc), "delegations"), "keys");
    } else {
        const json_t *rs = rfrepo_signed(r->roles[RFREPO_ROOT].doc);
        entry = json_object_get(json_object_get(rs, "roles"), ro->name);
        *keys = json_object_get(rs, "keys");
    }
    *keyids = json_object_get(entry, "keyids");
    *threshold = json_integer_value(json_object_get(entry, "threshold"));
    if (!entry || !*keys || !*keyids)
        return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "no keys found for role \"%s\"",
                          ro->name);
    return RF_OK;
}

rf_rc rfrepo_read(const char *path, size_t max, rf_buf *out, rf_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_rc rc = rf_file_read(path, max, &buf, &len, err);
    if (rc != RF_OK)
        return rc;
    rf_buf_free(out);
    out->data = buf;
    out->len = len;
    out->cap = len + 1;
    out->oom = 0;
    return RF_OK;
}

rf_rc rfrepo_mkdirs_for(const char *base, const char *rel, rf_err *err)
{
    size_t bl = strlen(base), rl = strlen(rel);
    char *p = malloc(bl + rl + 2);
    if (!p)
        return oom(err);
    memcpy(p, base, bl);
    p[bl] = '/';
    memcpy(p + bl + 1, rel, rl + 1);
    rf_rc rc = RF_OK;
    /* Each '/' in rel ends one directory to create. */
    for (char *s = p + bl + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            rc = rf_err_set(err, RF_E_IO, p, 0, 0, "cannot create directory: %s",
                            strerror(errno));
            break;
        }
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
            rc = rf_err_set(err, RF_E_IO, p, 0, 0, "exists and is not a directory");
            break;
        }
        *s = '/';
    }
    free(p);
    return rc;
}

/* Write a document as indented JSON with sorted keys (stable, readable,
 * diffable), atomically. */
static rf_rc write_json(const char *path, const json_t *doc, rf_err *err)
{
    char *s = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (!s)
        return oom(err);
    size_t n = strlen(s);
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_append(&b, s, n);
    rf_buf_append(&b, "\n", 1);
    free(s);
    rf_rc rc = b.oom ? oom(err) : rf_file_write_atomic(path, b.data, b.len, 0644, err);
    rf_buf_free(&b);
    return rc;
}

/* write_json to path, then free path; a NULL path (the allocation that
 * made it failed) is RF_E_NOMEM. */
static rf_rc write_json_to(char *path, const json_t *doc, rf_err *err)
{
    rf_rc rc = path ? write_json(path, doc, err) : oom(err);
    free(path);
    return rc;
}

rf_rc rfrepo_save_cfg(rf_tuf_repo *r, rf_err *err)
{
    return write_json_to(rfrepo_join(r->dir, "repo.json", NULL), r->cfg, err);
}

static void expires_in(json_t *s, time_t now, int64_t period)
{
    char buf[21];
    rftuf_time_format(now + (time_t)period, buf);
    json_object_set_new(s, "expires", json_string(buf));
}

/* ---- keys ------------------------------------------------------------------ */

/*
 * Parse a public key object from JSON text. Canonical JSON leaves control
 * bytes (the newlines of a PEM key) raw inside strings, which strict JSON
 * refuses; they are escaped first, so both forms are accepted. The key must
 * be of a type ringfence signs with. *out is owned by the caller.
 */
static rf_rc parse_pub(const char *text, const char *what, json_t **out, char kid[65],
                       rf_err *err)
{
    if (!text)
        return rf_err_set(err, RF_E_USAGE, what, 0, 0, "no public key given");
    while (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r')
        text++;
    if (strncmp(text, "-----BEGIN", 10) == 0)
        return rf_err_set(err, RF_E_PARSE, what, 0, 0,
                          "this is a PEM file, not a public key: give the NAME.pub file "
                          "that 'ringfence keys gen' wrote");
    size_t n = strlen(text);
    if (n > PUB_MAX_BYTES)
        return rf_err_set(err, RF_E_LIMIT, what, 0, 0, "public key is larger than %u bytes",
                          PUB_MAX_BYTES);
    rf_buf b;
    rf_buf_init(&b);
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (in_str && c == '\\' && i + 1 < n) {
            rf_buf_append(&b, text + i, 2);
            i++;
            continue;
        }
        if (c == '"')
            in_str = !in_str;
        if (in_str && c < 0x20)
            rf_buf_printf(&b, "\\u%04x", c);
        else
            rf_buf_append(&b, &c, 1);
    }
    if (b.oom) {
        rf_buf_free(&b);
        return oom(err);
    }
    json_t *k = NULL;
    rf_rc rc = rftuf_json_parse(b.data, b.len, what, &k, err);
    rf_buf_free(&b);
    if (rc != RF_OK)
        return rc;
    const char *kt = json_string_value(json_object_get(k, "keytype"));
    const char *sc = json_string_value(json_object_get(k, "scheme"));
    const char *pub = json_string_value(json_object_get(json_object_get(k, "keyval"), "public"));
    if (!json_is_object(k) || !kt || !sc || !pub) {
        rc = rf_err_set(err, RF_E_PARSE, what, 0, 0,
                        "not a public key object (needs keytype, scheme and keyval.public)");
        goto fail;
    }
    if (!((strcmp(kt, "ed25519") == 0 && strcmp(sc, "ed25519") == 0) ||
          ((strcmp(kt, "ecdsa") == 0 || strcmp(kt, "ecdsa-sha2-nistp256") == 0) &&
           strcmp(sc, "ecdsa-sha2-nistp256") == 0) ||
          (strcmp(kt, "rsa") == 0 && strcmp(sc, "rsassa-pss-sha256") == 0))) {
        rc = rf_err_set(err, RF_E_UNSUPPORTED, what, 0, 0,
                        "key type \"%.32s\" with scheme \"%.32s\" is not one ringfence "
                        "uses (ed25519, ecdsa-sha2-nistp256, rsassa-pss-sha256)",
                        kt, sc);
        goto fail;
    }
    rftuf_key *key = NULL;
    rc = rftuf_key_from_json(k, &key, err);
    rftuf_key_free(key);
    if (rc != RF_OK)
        goto fail;
    rc = rftuf_keyid(k, kid, err);
    if (rc != RF_OK)
        goto fail;
    *out = k;
    return RF_OK;
fail:
    json_decref(k);
    return rc;
}

rf_rc rf_tuf_repo_keyid(const char *pub_json, char out[65], rf_err *err)
{
    json_t *k = NULL;
    char kid[65];
    rf_rc rc = parse_pub(pub_json, NULL, &k, kid, err);
    if (rc != RF_OK)
        return rc;
    json_decref(k);
    memcpy(out, kid, 65);
    return RF_OK;
}

static int array_has(const json_t *arr, const char *s)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (strcmp(json_string_value(json_array_get(arr, i)), s) == 0)
            return 1;
    return 0;
}

/*
 * Add a role's keys to keys (keyid → object) and fill keyids, checking the
 * count and threshold. what names the role in messages.
 */
static rf_rc add_role_keys(const rf_tuf_repo_keys *k, const char *what, json_t *keys,
                           json_t *keyids, int64_t *threshold, rf_err *err)
{
    if (k->n == 0 || !k->pub_json)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "role %s needs at least one key", what);
    if (k->n > RF_TUF_REPO_MAX_KEYS)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0, "role %s: at most %d keys", what,
                          RF_TUF_REPO_MAX_KEYS);
    int64_t t = k->threshold ? k->threshold : 1;
    if (t < 1 || (uint64_t)t > k->n)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "role %s: threshold %lld needs between 1 and %zu (its number of "
                          "keys)", what, (long long)t, k->n);
    for (size_t i = 0; i < k->n; i++) {
        json_t *obj = NULL;
        char kid[65];
        char w[80];
        snprintf(w, sizeof(w), "%s key %zu", what, i + 1);
        rf_rc rc = parse_pub(k->pub_json[i], w, &obj, kid, err);
        if (rc != RF_OK)
            return rc;
        if (array_has(keyids, kid)) {
            json_decref(obj);
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "role %s: key %.16s... is given twice", what, kid);
        }
        if (json_object_set_new(keys, kid, obj) != 0 ||
            json_array_append_new(keyids, json_string(kid)) != 0)
            return oom(err);
    }
    *threshold = t;
    return RF_OK;
}

/* Distinct keys among keyids with a valid signature on doc. */
int64_t rfrepo_count_sigs(const json_t *doc, const json_t *keys, const json_t *keyids)
{
    rf_buf canon;
    rf_buf_init(&canon);
    if (rftuf_cjson(rfrepo_signed(doc), &canon, NULL) != RF_OK || canon.oom) {
        rf_buf_free(&canon);
        return 0;
    }
    const json_t *sigs = json_object_get(doc, "signatures");
    int64_t good = 0;
    for (size_t i = 0; i < json_array_size(keyids); i++) {
        const char *kid = json_string_value(json_array_get(keyids, i));
        const json_t *kobj = kid ? json_object_get(keys, kid) : NULL;
        rftuf_key *k = NULL;
        if (!kid || !kobj || rftuf_key_from_json(kobj, &k, NULL) != RF_OK)
            continue;
        for (size_t j = 0; j < json_array_size(sigs); j++) {
            const json_t *sg = json_array_get(sigs, j);
            const char *sk = json_string_value(json_object_get(sg, "keyid"));
            const char *sv = json_string_value(json_object_get(sg, "sig"));
            if (sk && sv && strcmp(sk, kid) == 0 &&
                rftuf_key_verify(k, canon.data, canon.len, sv)) {
                good++;
                break;
            }
        }
        rftuf_key_free(k);
    }
    rf_buf_free(&canon);
    return good;
}

/* ---- repo.json --------------------------------------------------------------- */

static rf_rc cfg_bad(rf_err *err, const char *path, const char *what)
{
    return rf_err_set(err, RF_E_SCHEMA, path, 0, 0,
                      "not a valid ringfence repository settings file: %s", what);
}

static int int_in(const json_t *v, int64_t lo, int64_t hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static rf_rc check_cfg(const json_t *c, const char *path, rf_err *err)
{
    if (!json_is_object(c))
        return cfg_bad(err, path, "not a JSON object");
    const json_t *f = json_object_get(c, "ringfence_tuf_repo");
    if (!json_is_integer(f))
        return cfg_bad(err, path, "\"ringfence_tuf_repo\" (format version) is missing");
    if (json_integer_value(f) != 1)
        return rf_err_set(err, RF_E_UNSUPPORTED, path, 0, 0,
                          "repository format %lld is not supported by this ringfence (1 is)",
                          (long long)json_integer_value(f));
    if (!json_is_boolean(json_object_get(c, "consistent_snapshot")))
        return cfg_bad(err, path, "\"consistent_snapshot\" must be true or false");
    const json_t *e = json_object_get(c, "expiry_seconds");
    if (!json_is_object(e))
        return cfg_bad(err, path, "\"expiry_seconds\" must be an object");
    for (int i = 0; i < RF_TUF_PERIOD_COUNT; i++)
        if (!int_in(json_object_get(e, period_names[i]), RF_TUF_REPO_PERIOD_MIN,
                    RF_TUF_REPO_PERIOD_MAX))
            return rf_err_set(err, RF_E_SCHEMA, path, 0, 0,
                              "expiry_seconds.%s must be an integer from %d to %lld",
                              period_names[i], RF_TUF_REPO_PERIOD_MIN,
                              (long long)RF_TUF_REPO_PERIOD_MAX);
    const json_t *p = json_object_get(c, "published");
    if (!json_is_object(p))
        return cfg_bad(err, path, "\"published\" must be an object");
    for (int i = 0; i < RFREPO_NTOP; i++)
        if (!int_in(json_object_get(p, top_names[i]), 0, INT64_MAX))
            return rf_err_set(err, RF_E_SCHEMA, path, 0, 0,
                              "published.%s must be an integer >= 0", top_names[i]);
    const json_t *d = json_object_get(p, "delegated");
    if (!json_is_object(d))
        return cfg_bad(err, path, "\"published.delegated\" must be an object");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)d, k, v) {
        if (!int_in(v, 0, INT64_MAX))
            return rf_err_set(err, RF_E_SCHEMA, path, 0, 0,
                              "published.delegated.%.64s must be an integer >= 0", k);
    }
    return RF_OK;
}

/* ---- open ------------------------------------------------------------------ */

static rf_rc add_role(rf_tuf_repo *r, const char *name, rftuf_role_type t, int delegated,
                      size_t parent, json_t *doc, rf_err *err)
{
    rfrepo_role *n = realloc(r->roles, (r->nroles + 1) * sizeof(*n));
    if (!n)
        return oom(err);
    r->roles = n;
    rfrepo_role *ro = &r->roles[r->nroles];
    ro->name = rf_strdup(name);
    if (!ro->name)
        return oom(err);
    ro->type = t;
    ro->delegated = delegated;
    ro->parent = parent;
    ro->doc = doc;
    r->nroles++;
    return RF_OK;
}

/* Read and check one staged document. *out is NULL (RF_OK) when optional
 * and absent. */
static rf_rc load_doc(const char *path, rftuf_role_type t, int optional, json_t **out,
                      rf_err *err)
{
    *out = NULL;
    struct stat st;
    if (optional && lstat(path, &st) != 0 && errno == ENOENT)
        return RF_OK;
    rf_buf b;
    rf_buf_init(&b);
    size_t max = RF_TUF_MAX_TARGETS_BYTES * 4u;
    rf_rc rc = rfrepo_read(path, max, &b, err);
    if (rc != RF_OK)
        return rc;
    rftuf_meta *m = NULL;
    rc = rftuf_meta_parse(b.data, b.len, t, path, &m, err);
    rf_buf_free(&b);
    if (rc != RF_OK)
        return rc;
    *out = json_incref(m->doc);
    rftuf_meta_free(m);
    return RF_OK;
}

/* A delegated role's name: [A-Za-z0-9._-]{1,RF_NAME_MAX}, not "." or "..",
 * not a top-level role's. Keeps staged and published file names plain. */
static rf_rc check_role_name(const char *name, rf_err *err)
{
    size_t n = strlen(name);
    int ok = n >= 1 && n <= RF_NAME_MAX && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    if (!ok)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "role name \"%.80s\" is not allowed: use 1 to %d of "
                          "A-Z a-z 0-9 . _ -",
                          name, RF_NAME_MAX);
    for (int i = 0; i < RFREPO_NTOP; i++)
        if (strcmp(name, top_names[i]) == 0)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "\"%s\" is a top-level role; a delegated role needs another name",
                              name);
    return RF_OK;
}

/* Walk the delegation tree from targets (pre-order) and load every role. */
static rf_rc load_delegated(rf_tuf_repo *r, rf_err *err)
{
    /* The roles array is itself the work list: role i's children are
     * appended when role i is reached, so the walk is breadth-first over
     * the array and ends when no role adds another. */
    for (size_t i = RFREPO_TARGETS; i < r->nroles; i++) {
        if (r->roles[i].type != RFTUF_TARGETS)
            continue;
        const json_t *roles = json_object_get(
            json_object_get(rfrepo_signed(r->roles[i].doc), "delegations"), "roles");
        for (size_t j = 0; j < json_array_size(roles); j++) {
            const char *nm = json_string_value(json_object_get(json_array_get(roles, j), "name"));
            char *path = NULL;
            json_t *doc = NULL;
            rf_err e2;
            rf_err_clear(&e2);
            rf_rc rc = check_role_name(nm, &e2);
            if (rc != RF_OK)
                return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "staged %s.json delegates: %s",
                                  r->roles[i].name, e2.msg);
            if (rfrepo_find(r, nm))
                return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                                  "role \"%s\" is delegated twice (again by %s); this "
                                  "repository keeps each delegated role in one place",
                                  nm, r->roles[i].name);
            if (r->nroles >= RFREPO_NTOP + RF_TUF_REPO_MAX_ROLES)
                return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                                  "more than %d delegated roles", RF_TUF_REPO_MAX_ROLES);
            path = rfrepo_staged_path(r, nm);
            if (!path)
                return oom(err);
            rc = load_doc(path, RFTUF_TARGETS, 0, &doc, err);
            free(path);
            if (rc == RF_OK)
                rc = add_role(r, nm, RFTUF_TARGETS, 1, i, doc, err);
            if (rc != RF_OK) {
                json_decref(doc);
                return rc;
            }
        }
    }
    return RF_OK;
}

static rf_rc load_history(rf_tuf_repo *r, rf_err *err)
{
    int64_t n = rfrepo_version(r->roles[RFREPO_ROOT].doc);
    if (n < 1 || n > 1000000)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "staged root version %lld is not usable",
                          (long long)n);
    r->hist = calloc((size_t)n, sizeof(*r->hist));
    if (!r->hist)
        return oom(err);
    r->nhist = (size_t)n;
    for (int64_t v = 1; v <= n; v++) {
        char *p = rfrepo_history_path(r, v);
        if (!p)
            return oom(err);
        rf_rc rc = load_doc(p, RFTUF_ROOT, 0, &r->hist[v - 1], err);
        if (rc == RF_OK && rfrepo_version(r->hist[v - 1]) != v)
            rc = rf_err_set(err, RF_E_SCHEMA, p, 0, 0, "holds root version %lld, not %lld",
                            (long long)rfrepo_version(r->hist[v - 1]), (long long)v);
        if (rc == RF_OK && v == n && !json_equal(r->hist[v - 1], r->roles[RFREPO_ROOT].doc))
            rc = rf_err_set(err, RF_E_SCHEMA, p, 0, 0,
                            "differs from staged/root.json (an interrupted edit?): copy the "
                            "one you mean to keep over the other");
        free(p);
        if (rc != RF_OK)
            return rc;
    }
    return RF_OK;
}

static rf_rc lock_repo(rf_tuf_repo *r, rf_err *err)
{
    char *p = rfrepo_join(r->dir, ".lock", NULL);
    if (!p)
        return oom(err);
    r->lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (r->lockfd < 0) {
        rf_rc rc = rf_err_set(err, RF_E_IO, p, 0, 0, "cannot open the lock file: %s",
                              strerror(errno));
        free(p);
        return rc;
    }
    if (flock(r->lockfd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        rf_rc rc = rf_err_set(err, RF_E_IO, r->dir, 0, 0,
                              e == EWOULDBLOCK ? "the repository is in use by another "
                                                 "ringfence command; try again when it ends"
                                               : "cannot lock the repository: %s",
                              strerror(e));
        free(p);
        return rc;
    }
    free(p);
    return RF_OK;
}

rf_rc rf_tuf_repo_open(const char *dir, rf_tuf_repo **out, rf_err *err)
{
    if (!dir || !*dir || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "a repository directory is needed");
    rf_tuf_repo *r = calloc(1, sizeof(*r));
    if (!r)
        return oom(err);
    r->lockfd = -1;
    r->dir = rf_strdup(dir);
    char *p = NULL;
    rf_rc rc;
    if (!r->dir) {
        rc = oom(err);
        goto fail;
    }
    p = rfrepo_join(dir, "repo.json", NULL);
    if (!p) {
        rc = oom(err);
        goto fail;
    }
    struct stat st;
    if (stat(p, &st) != 0) {
        int e = errno;
        if (e == ENOENT)
            rc = rf_err_set(err, RF_E_IO, dir, 0, 0,
                            "not a ringfence TUF repository (no repo.json): create one with "
                            "'ringfence repo init'");
        else
            rc = rf_err_set(err, RF_E_IO, p, 0, 0, "cannot read: %s", strerror(e));
        goto fail;
    }
    rc = lock_repo(r, err);
    if (rc != RF_OK)
        goto fail;
    {
        rf_buf b;
        rf_buf_init(&b);
        rc = rfrepo_read(p, CFG_MAX_BYTES, &b, err);
        if (rc == RF_OK)
            rc = rftuf_json_parse(b.data, b.len, p, &r->cfg, err);
        rf_buf_free(&b);
        if (rc == RF_OK)
            rc = check_cfg(r->cfg, p, err);
        if (rc != RF_OK)
            goto fail;
    }
    for (int i = 0; i < RFREPO_NTOP; i++) {
        static const rftuf_role_type types[RFREPO_NTOP] = {RFTUF_ROOT, RFTUF_TARGETS,
                                                           RFTUF_SNAPSHOT, RFTUF_TIMESTAMP};
        char *sp = rfrepo_staged_path(r, top_names[i]);
        json_t *doc = NULL;
        rc = sp ? load_doc(sp, types[i], i >= RFREPO_SNAPSHOT, &doc, err) : oom(err);
        free(sp);
        if (rc == RF_OK)
            rc = add_role(r, top_names[i], types[i], 0, 0, doc, err);
        if (rc != RF_OK) {
            json_decref(doc);
            goto fail;
        }
    }
    rc = load_history(r, err);
    if (rc == RF_OK)
        rc = load_delegated(r, err);
    if (rc != RF_OK)
        goto fail;
    free(p);
    *out = r;
    return RF_OK;
fail:
    free(p);
    rf_tuf_repo_free(r);
    return rc;
}

void rf_tuf_repo_free(rf_tuf_repo *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nroles; i++) {
        free(r->roles[i].name);
        json_decref(r->roles[i].doc);
    }
    free(r->roles);
    for (size_t i = 0; i < r->nhist; i++)
        json_decref(r->hist[i]);
    free(r->hist);
    json_decref(r->cfg);
    if (r->lockfd >= 0)
        close(r->lockfd); /* releases the flock */
    free(r->dir);
    free(r);
}

/* ---- init ---------------------------------------------------------------- */

static json_t *envelope(json_t *signed_)
{
    json_t *e = json_object();
    if (!e || !signed_) {
        json_decref(e);
        json_decref(signed_);
        return NULL;
    }
    json_object_set_new(e, "signatures", json_array());
    json_object_set_new(e, "signed", signed_);
    return e;
}

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

static rf_rc make_dir(const char *a, const char *b, const char *c, rf_err *err)
{
    char *p = b ? rfrepo_join(a, b, c) : rf_strdup(a);
    if (!p)
        return oom(err);
    rf_rc rc = RF_OK;
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        rc = rf_err_set(err, RF_E_IO, p, 0, 0, "cannot create directory: %s", strerror(errno));
    free(p);
    return rc;
}

rf_rc rf_tuf_repo_init(const char *dir, const rf_tuf_repo_init_opts *o, rf_err *err)
{
    if (!dir || !*dir || !o)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "a repository directory is needed");
    for (int i = 0; i < RF_TUF_PERIOD_COUNT; i++)
        if (o->period[i] != 0 &&
            (o->period[i] < RF_TUF_REPO_PERIOD_MIN || o->period[i] > RF_TUF_REPO_PERIOD_MAX))
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "expiry period of %s must be from %d seconds to %lld days",
                              period_names[i], RF_TUF_REPO_PERIOD_MIN,
                              (long long)(RF_TUF_REPO_PERIOD_MAX / 86400));
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return rf_err_set(err, RF_E_IO, dir, 0, 0, "exists and is not a directory");
        if (!dir_is_empty(dir))
            return rf_err_set(err, RF_E_IO, dir, 0, 0,
                              "exists and is not empty: a repository is created in a new "
                              "or empty directory");
    }

    rf_rc rc = RF_OK;
    json_t *keys = json_object(), *roles = json_object();
    json_t *cfg = NULL, *root = NULL, *targets = NULL;
    time_t now = o->now ? o->now : time(NULL);
    int64_t period[RF_TUF_PERIOD_COUNT];
    for (int i = 0; i < RF_TUF_PERIOD_COUNT; i++)
        period[i] = o->period[i] ? o->period[i] : period_defaults[i];
    if (!keys || !roles) {
        rc = oom(err);
        goto out;
    }
    const rf_tuf_repo_keys *rk[RFREPO_NTOP] = {&o->root, &o->targets, &o->snapshot,
                                               &o->timestamp};
    for (int i = 0; i < RFREPO_NTOP; i++) {
        json_t *ids = json_array();
        int64_t t = 0;
        if (!ids) {
            rc = oom(err);
            goto out;
        }
        rc = add_role_keys(rk[i], top_names[i], keys, ids, &t, err);
        if (rc != RF_OK) {
            json_decref(ids);
            goto out;
        }
        json_object_set_new(roles, top_names[i],
                            json_pack("{s:o, s:I}", "keyids", ids, "threshold", (json_int_t)t));
    }
    char exp_root[21], exp_targets[21];
    rftuf_time_format(now + (time_t)period[RF_TUF_PERIOD_ROOT], exp_root);
    rftuf_time_format(now + (time_t)period[RF_TUF_PERIOD_TARGETS], exp_targets);
    root = envelope(json_pack("{s:s, s:s, s:b, s:i, s:s, s:O, s:O}", "_type", "root",
                              "spec_version", RFREPO_SPEC_VERSION, "consistent_snapshot",
                              o->consistent_snapshot ? 1 : 0, "version", 1, "expires",
                              exp_root, "keys", keys, "roles", roles));
    targets = envelope(json_pack("{s:s, s:s, s:i, s:s, s:{}}", "_type", "targets",
                                 "spec_version", RFREPO_SPEC_VERSION, "version", 1, "expires",
                                 exp_targets, "targets"));
    cfg = json_pack("{s:i, s:b, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:i, s:i, s:i, s:i, s:{}}}",
                    "ringfence_tuf_repo", 1, "consistent_snapshot",
                    o->consistent_snapshot ? 1 : 0, "expiry_seconds", "root",
                    (json_int_t)period[0], "targets", (json_int_t)period[1], "delegated",
                    (json_int_t)period[2], "snapshot", (json_int_t)period[3], "timestamp",
                    (json_int_t)period[4], "published", "root", 0, "targets", 0, "snapshot",
                    0, "timestamp", 0, "delegated");
    if (!root || !targets || !cfg) {
        rc = oom(err);
        goto out;
    }
    /* Check what we made with the parser every reader uses. */
    {
        char *s = json_dumps(root, JSON_COMPACT);
        rftuf_meta *m = NULL;
        rc = s ? rftuf_meta_parse((const uint8_t *)s, strlen(s), RFTUF_ROOT, "new root", &m,
                                  err)
               : oom(err);
        free(s);
        rftuf_meta_free(m);
        if (rc != RF_OK)
            goto out;
    }
    if ((rc = make_dir(dir, NULL, NULL, err)) != RF_OK ||
        (rc = make_dir(dir, "staged", NULL, err)) != RF_OK ||
        (rc = make_dir(dir, "staged", "root-history", err)) != RF_OK ||
        (rc = make_dir(dir, "targets", NULL, err)) != RF_OK)
        goto out;
    if ((rc = write_json_to(rfrepo_join(dir, "staged/root-history", "1.root.json"), root,
                            err)) != RF_OK ||
        (rc = write_json_to(rfrepo_join(dir, "staged", "root.json"), root, err)) != RF_OK ||
        (rc = write_json_to(rfrepo_join(dir, "staged", "targets.json"), targets, err)) != RF_OK)
        goto out;
    /* repo.json last: its presence marks a whole repository. */
    rc = write_json_to(rfrepo_join(dir, "repo.json", NULL), cfg, err);
out:
    json_decref(keys);
    json_decref(roles);
    json_decref(root);
    json_decref(targets);
    json_decref(cfg);
    return rc;
}

/* ---- changes ----------------------------------------------------------------- */

/* The role called name (NULL: "targets"), which must be a targets role when
 * want_targets. */
static rf_rc find_role(rf_tuf_repo *r, const char *name, int want_targets, rfrepo_role **out,
                       rf_err *err)
{
    if (!name)
        name = "targets";
    rfrepo_role *ro = rfrepo_find(r, name);
    if (!ro) {
        rf_buf b;
        rf_buf_init(&b);
        for (size_t i = 0; i < r->nroles && i < 12; i++)
            if (!want_targets || r->roles[i].type == RFTUF_TARGETS)
                rf_buf_printf(&b, "%s%s", b.len ? ", " : "", r->roles[i].name);
        char *names = rf_buf_take(&b);
        rf_rc rc = rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0,
                              "no role \"%.80s\" in this repository (roles: %s%s)", name,
                              names ? names : "?", r->nroles > 12 ? ", ..." : "");
        free(names);
        return rc;
    }
    if (want_targets && ro->type != RFTUF_TARGETS)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "role \"%s\" holds no targets: use targets or a delegated role", name);
    *out = ro;
    return RF_OK;
}

/*
 * Make doc (a copy of ro's document) a changed version: signatures cleared,
 * version published+1 unless it is already an unpublished one, expiry now +
 * the role's period.
 */
static void begin_change(const rf_tuf_repo *r, const rfrepo_role *ro, json_t *doc)
{
    json_t *s = rfrepo_signed(doc);
    int64_t v = rfrepo_version(doc), pub = rfrepo_published(r, ro);
    if (v <= pub)
        json_object_set_new(s, "version", json_integer(pub + 1));
    expires_in(s, rfrepo_now(r), rfrepo_period_of(r, ro));
    json_array_clear(json_object_get(doc, "signatures"));
}

/*
 * Write doc as ro's staged document (and, for root, as its version in the
 * history, first) and then make it ro's document. Takes doc's reference
 * either way. The result is checked with the metadata parser before it is
 * written, so an edit can never store a document readers refuse.
 */
static rf_rc commit(rf_tuf_repo *r, rfrepo_role *ro, json_t *doc, rf_err *err)
{
    rf_rc rc = RF_OK;
    char *p = NULL;
    {
        char *s = json_dumps(doc, JSON_COMPACT);
        rftuf_meta *m = NULL;
        rc = s ? rftuf_meta_parse((const uint8_t *)s, strlen(s), ro->type, ro->name, &m, err)
               : oom(err);
        free(s);
        rftuf_meta_free(m);
        if (rc != RF_OK) {
            char why[RF_ERR_MSG_MAX];
            snprintf(why, sizeof(why), "%s", err ? err->msg : "");
            rc = rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "the edited %s would be invalid: %s",
                            ro->name, why);
            goto out;
        }
    }
    if (ro->type == RFTUF_ROOT && !ro->delegated) {
        int64_t v = rfrepo_version(doc);
        if (v < 1 || (size_t)v > r->nhist + 1) {
            rc = rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "root version %lld out of order",
                            (long long)v);
            goto out;
        }
        p = rfrepo_history_path(r, v);
        rc = p ? write_json(p, doc, err) : oom(err);
        if (rc != RF_OK)
            goto out;
        json_t *copy = json_deep_copy(doc);
        if (!copy) {
            rc = oom(err);
            goto out;
        }
        if ((size_t)v == r->nhist + 1) {
            json_t **nh = realloc(r->hist, (r->nhist + 1) * sizeof(*nh));
            if (!nh) {
                json_decref(copy);
                rc = oom(err);
                goto out;
            }
            r->hist = nh;
            r->hist[r->nhist++] = copy;
        } else {
            json_decref(r->hist[v - 1]);
            r->hist[v - 1] = copy;
        }
        free(p);
        p = NULL;
    }
    p = rfrepo_staged_path(r, ro->name);
    rc = p ? write_json(p, doc, err) : oom(err);
    if (rc != RF_OK)
        goto out;
    json_decref(ro->doc);
    ro->doc = doc;
    doc = NULL;
out:
    free(p);
    json_decref(doc);
    return rc;
}

/* A copy of ro's document to change. */
static rf_rc copy_doc(const rfrepo_role *ro, json_t **out, rf_err *err)
{
    *out = json_deep_copy(ro->doc);
    return *out ? RF_OK : oom(err);
}

/* ---- targets -------------------------------------------------------------------- */

static rf_rc check_target_path(const char *p, rf_err *err)
{
    size_t n = strlen(p);
    if (n == 0)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "an empty target path");
    if (n > RF_TUF_REPO_PATH_MAX)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "target path is %zu bytes, at most %d are allowed", n,
                          RF_TUF_REPO_PATH_MAX);
    if (!rf_utf8_valid(p, n, NULL))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "target path is not valid UTF-8");
    if (p[0] == '/')
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "target path \"%.80s\" must be relative (no leading '/')", p);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "target path holds a control byte (0x%02x)", c);
        if (c == '\\')
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "target path \"%.80s\" holds a backslash; use '/'", p);
    }
    const char *s = p;
    for (;;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "target path \"%.80s\" has an empty part", p);
        if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "target path \"%.80s\" has a \".\" or \"..\" part", p);
        if (len > RF_TUF_REPO_PART_MAX)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "a part of target path \"%.80s...\" is %zu bytes, at most %d",
                              p, len, RF_TUF_REPO_PART_MAX);
        if (!e)
            break;
        s = e + 1;
    }
    return RF_OK;
}

/* Does the delegation entry e cover path? */
static int entry_covers(const json_t *e, const char *path)
{
    const json_t *paths = json_object_get(e, "paths");
    if (paths) {
        for (size_t j = 0; j < json_array_size(paths); j++)
            if (rftuf_path_match(json_string_value(json_array_get(paths, j)), path))
                return 1;
        return 0;
    }
    return rftuf_hash_prefix_match(json_object_get(e, "path_hash_prefixes"), path);
}

/* A delegated role may list path only if every delegation from targets down
 * to it covers the path (else clients never look there). */
static rf_rc check_delegated_path(const rf_tuf_repo *r, const rfrepo_role *ro,
                                  const char *path, rf_err *err)
{
    size_t guard = 0;
    while (ro->delegated && guard++ <= r->nroles) {
        const json_t *e = rfrepo_deleg_entry(r, ro);
        if (!entry_covers(e, path)) {
            rf_buf b;
            rf_buf_init(&b);
            const json_t *paths = json_object_get(e, "paths");
            for (size_t j = 0; j < json_array_size(paths) && j < 8; j++)
                rf_buf_printf(&b, "%s%s", j ? ", " : "",
                              json_string_value(json_array_get(paths, j)));
            if (!paths)
                rf_buf_printf(&b, "its path hash prefixes");
            char *list = rf_buf_take(&b);
            rf_rc rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                                  "role \"%s\" is trusted only for %s: target \"%.80s\" is "
                                  "outside them",
                                  ro->name, list && list[0] ? list : "no paths", path);
            free(list);
            return rc;
        }
        ro = &r->roles[ro->parent];
    }
    return RF_OK;
}

/* Another role listing path, or a listed path that would have to be both a
 * file and a directory with it. */
static rf_rc check_path_free(const rf_tuf_repo *r, const rfrepo_role *self, const char *path,
                             rf_err *err)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < r->nroles; i++) {
        const rfrepo_role *ro = &r->roles[i];
        if (ro->type != RFTUF_TARGETS)
            continue;
        const char *k;
        const json_t *v;
        json_object_foreach(json_object_get(rfrepo_signed(ro->doc), "targets"), k, v) {
            if (ro != self && strcmp(k, path) == 0)
                return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                                  "target \"%.80s\" is already listed by role \"%s\": remove "
                                  "it there first",
                                  path, ro->name);
            size_t kn = strlen(k);
            if ((kn < n && strncmp(k, path, kn) == 0 && path[kn] == '/') ||
                (n < kn && strncmp(k, path, n) == 0 && k[n] == '/'))
                return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                                  "target \"%.80s\" conflicts with target \"%.80s\" of role "
                                  "\"%s\": a path cannot be both a file and a directory",
                                  path, k, ro->name);
        }
    }
    return RF_OK;
}

rf_rc rf_tuf_repo_add_target(rf_tuf_repo *r, const char *role, const char *path,
                             const char *file, const char *custom_json, int *changed,
                             rf_err *err)
{
    if (!r || !path || !file)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "a target path and a file are needed");
    rfrepo_role *ro = NULL;
    rf_rc rc = find_role(r, role, 1, &ro, err);
    if (rc == RF_OK)
        rc = check_target_path(path, err);
    if (rc == RF_OK)
        rc = check_delegated_path(r, ro, path, err);
    if (rc == RF_OK)
        rc = check_path_free(r, ro, path, err);
    if (rc != RF_OK)
        return rc;

    json_t *custom = NULL, *entry = NULL, *doc = NULL;
    char *dest = NULL;
    rf_buf b;
    rf_buf_init(&b);
    if (custom_json) {
        rc = rftuf_json_parse((const uint8_t *)custom_json, strlen(custom_json),
                              "custom metadata", &custom, err);
        if (rc != RF_OK)
            goto out;
        if (!json_is_object(custom)) {
            rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "custom metadata must be a JSON object");
            goto out;
        }
    }
    rc = rfrepo_read(file, RF_TUF_REPO_MAX_TARGET_BYTES, &b, err);
    if (rc != RF_OK)
        goto out;
    char h256[65], h512[129];
    rftuf_sha256_hex(b.data, b.len, h256);
    rftuf_sha512_hex(b.data, b.len, h512);
    entry = json_pack("{s:I, s:{s:s, s:s}}", "length", (json_int_t)b.len, "hashes", "sha256",
                      h256, "sha512", h512);
    if (!entry || (custom && json_object_set(entry, "custom", custom) != 0)) {
        rc = oom(err);
        goto out;
    }
    const json_t *old = json_object_get(json_object_get(rfrepo_signed(ro->doc), "targets"), path);
    if (old && json_equal((json_t *)old, entry)) {
        if (changed)
            *changed = 0;
        goto out; /* nothing to do; the file is the same by its hashes */
    }
    /* The file first: metadata never lists a target the repository lacks. */
    rc = rfrepo_mkdirs_for(r->dir, "targets/x", err);
    if (rc == RF_OK) {
        char *tdir = rfrepo_join(r->dir, "targets", NULL);
        rc = tdir ? rfrepo_mkdirs_for(tdir, path, err) : oom(err);
        free(tdir);
    }
    if (rc != RF_OK)
        goto out;
    dest = rfrepo_join(r->dir, "targets", path);
    rc = dest ? rf_file_write_atomic(dest, b.data, b.len, 0644, err) : oom(err);
    if (rc != RF_OK)
        goto out;
    rc = copy_doc(ro, &doc, err);
    if (rc != RF_OK)
        goto out;
    begin_change(r, ro, doc);
    if (json_object_set(json_object_get(rfrepo_signed(doc), "targets"), path, entry) != 0) {
        rc = oom(err);
        goto out;
    }
    rc = commit(r, ro, doc, err);
    doc = NULL;
    if (rc == RF_OK && changed)
        *changed = 1;
out:
    rf_buf_free(&b);
    json_decref(custom);
    json_decref(entry);
    json_decref(doc);
    free(dest);
    return rc;
}

rf_rc rf_tuf_repo_remove_target(rf_tuf_repo *r, const char *role, const char *path,
                                rf_err *err)
{
    if (!r || !path)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "a target path is needed");
    rfrepo_role *ro = NULL;
    rf_rc rc = find_role(r, role, 1, &ro, err);
    if (rc != RF_OK)
        return rc;
    if (!json_object_get(json_object_get(rfrepo_signed(ro->doc), "targets"), path))
        return rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0,
                          "role \"%s\" lists no target \"%.80s\"", ro->name, path);
    json_t *doc = NULL;
    rc = copy_doc(ro, &doc, err);
    if (rc != RF_OK)
        return rc;
    begin_change(r, ro, doc);
    json_object_del(json_object_get(rfrepo_signed(doc), "targets"), path);
    rc = commit(r, ro, doc, err);
    if (rc != RF_OK)
        return rc;
    /* The file goes too (paths listed are checked, so this stays inside
     * REPO/targets), then any directories it leaves empty. */
    if (check_target_path(path, NULL) == RF_OK) {
        char *p = rfrepo_join(r->dir, "targets", path);
        if (p) {
            if (unlink(p) == 0) {
                char *tdir = rfrepo_join(r->dir, "targets", NULL);
                for (char *s = strrchr(p, '/'); tdir && s && s > p; s = strrchr(p, '/')) {
                    *s = '\0';
                    if (strcmp(p, tdir) == 0 || rmdir(p) != 0)
                        break;
                }
                free(tdir);
            }
            free(p);
        }
    }
    return RF_OK;
}

/* ---- signing ---------------------------------------------------------------------- */

/*
 * The key object with id kid that may sign doc as role ro: one of ro's keys
 * (for a root version, of that version or of the previous one). NULL when
 * the key is not trusted for the role.
 */
static const json_t *signing_key(const rf_tuf_repo *r, const rfrepo_role *ro,
                                 const json_t *doc, const char *kid)
{
    if (ro->type == RFTUF_ROOT && !ro->delegated) {
        const json_t *s = rfrepo_signed(doc);
        if (array_has(json_object_get(json_object_get(json_object_get(s, "roles"), "root"),
                                      "keyids"),
                      kid))
            return json_object_get(json_object_get(s, "keys"), kid);
        /* The previous root's keys sign a new root until it is published. */
        int64_t v = rfrepo_version(doc);
        if (v >= 2 && (size_t)(v - 1) <= r->nhist && v > rfrepo_published(r, ro)) {
            const json_t *ps = rfrepo_signed(r->hist[v - 2]);
            if (array_has(json_object_get(json_object_get(json_object_get(ps, "roles"), "root"),
                                          "keyids"),
                          kid))
                return json_object_get(json_object_get(ps, "keys"), kid);
        }
        return NULL;
    }
    const json_t *keys, *keyids;
    int64_t t;
    if (rfrepo_role_keys(r, ro, &keys, &keyids, &t, NULL) != RF_OK)
        return NULL;
    return array_has(keyids, kid) ? json_object_get(keys, kid) : NULL;
}

/* Sign doc (ro's document or a changed copy) with s, in memory. */
static rf_rc sign_doc(const rf_tuf_repo *r, const rfrepo_role *ro, json_t *doc,
                      const rf_tuf_signer *s, rf_err *err)
{
    const char *kid = rf_tuf_signer_keyid(s);
    const json_t *kobj = signing_key(r, ro, doc, kid);
    if (!kobj)
        return rf_err_set(err, RF_E_SIGNATURE, NULL, 0, 0,
                          "key %.16s... is not a key of role %s%s: see 'ringfence repo status' "
                          "for the key ids it trusts",
                          kid, ro->name,
                          ro->type == RFTUF_ROOT && !ro->delegated
                              ? " (in this root version, or the previous one until this is "
                                "published)"
                              : "");
    rf_buf canon;
    rf_buf_init(&canon);
    char *sig = NULL;
    rftuf_key *key = NULL;
    rf_rc rc = rftuf_cjson(rfrepo_signed(doc), &canon, err);
    if (rc == RF_OK && canon.oom)
        rc = oom(err);
    if (rc == RF_OK)
        rc = rftuf_sign(s, canon.data, canon.len, &sig, err);
    if (rc == RF_OK)
        rc = rftuf_key_from_json(kobj, &key, err);
    /* Check the signature as a client will, with the key the role lists. */
    if (rc == RF_OK && !rftuf_key_verify(key, canon.data, canon.len, sig))
        rc = rf_err_set(err, RF_E_SIGNATURE, NULL, 0, 0,
                        "the signature made with key %.16s... does not verify with the public "
                        "key role %s lists under that id",
                        kid, ro->name);
    if (rc == RF_OK) {
        json_t *sigs = json_object_get(doc, "signatures");
        for (size_t i = json_array_size(sigs); i > 0; i--) {
            const char *k = json_string_value(json_object_get(json_array_get(sigs, i - 1), "keyid"));
            if (k && strcmp(k, kid) == 0)
                json_array_remove(sigs, i - 1);
        }
        if (json_array_append_new(sigs, json_pack("{s:s, s:s}", "keyid", kid, "sig", sig)) != 0)
            rc = oom(err);
    }
    rftuf_key_free(key);
    free(sig);
    rf_buf_free(&canon);
    return rc;
}

/* The role called name, which must have a document already (snapshot and
 * timestamp are made by their own commands), and a copy of that document to
 * change. Caller decrefs *doc. */
static rf_rc edit_made_role(rf_tuf_repo *r, const char *name, rfrepo_role **ro, json_t **doc,
                            rf_err *err)
{
    rf_rc rc = find_role(r, name, 0, ro, err);
    if (rc != RF_OK)
        return rc;
    if (!(*ro)->doc)
        return rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0,
                          "there is no %s yet: make one with 'ringfence repo %s'", (*ro)->name,
                          (*ro)->name);
    return copy_doc(*ro, doc, err);
}

rf_rc rf_tuf_repo_sign(rf_tuf_repo *r, const char *role, const rf_tuf_signer *s, rf_err *err)
{
    if (!r || !role || !s)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "a role and a key are needed");
    rfrepo_role *ro = NULL;
    json_t *doc = NULL;
    rf_rc rc = edit_made_role(r, role, &ro, &doc, err);
    if (rc == RF_OK)
        rc = sign_doc(r, ro, doc, s, err);
    if (rc != RF_OK) {
        json_decref(doc);
        return rc;
    }
    return commit(r, ro, doc, err);
}

/* ---- snapshot and timestamp ---------------------------------------------------- */

/* A new or changed document for snapshot / timestamp: the old one's copy
 * (unknown fields kept) or a fresh one, then meta set, changed and signed. */
static rf_rc remake(rf_tuf_repo *r, rfrepo_role *ro, json_t *meta, const rf_tuf_signer *s,
                    rf_err *err)
{
    /* Refuse a wrong key before anything changes. */
    if (!signing_key(r, ro, NULL, rf_tuf_signer_keyid(s))) {
        json_decref(meta);
        return rf_err_set(err, RF_E_SIGNATURE, NULL, 0, 0,
                          "key %.16s... is not a key of role %s: see 'ringfence repo status' "
                          "for the key ids it trusts",
                          rf_tuf_signer_keyid(s), ro->name);
    }
    json_t *doc = NULL;
    if (ro->doc) {
        doc = json_deep_copy(ro->doc);
    } else {
        doc = envelope(json_pack("{s:s, s:s, s:i, s:s}", "_type", ro->name, "spec_version",
                                 RFREPO_SPEC_VERSION, "version", 0, "expires",
                                 "1970-01-01T00:00:00Z"));
    }
    if (!doc || json_object_set_new(rfrepo_signed(doc), "meta", meta) != 0) {
        json_decref(doc);
        return oom(err);
    }
    begin_change(r, ro, doc);
    rf_rc rc = sign_doc(r, ro, doc, s, err);
    if (rc != RF_OK) {
        json_decref(doc);
        return rc;
    }
    return commit(r, ro, doc, err);
}

rf_rc rf_tuf_repo_snapshot(rf_tuf_repo *r, const rf_tuf_signer *s, rf_err *err)
{
    if (!r || !s)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "a snapshot key is needed");
    rfrepo_role *ro = &r->roles[RFREPO_SNAPSHOT];
    /* Roles listed before stay listed: clients refuse a snapshot that drops
     * a role their trusted snapshot lists. */
    json_t *meta = ro->doc ? json_deep_copy(json_object_get(rfrepo_signed(ro->doc), "meta"))
                           : json_object();
    if (!meta)
        return oom(err);
    for (size_t i = RFREPO_TARGETS; i < r->nroles; i++) {
        if (r->roles[i].type != RFTUF_TARGETS)
            continue;
        char key[RF_NAME_MAX + 16];
        snprintf(key, sizeof(key), "%s.json", r->roles[i].name);
        if (json_object_set_new(meta, key,
                                json_pack("{s:I}", "version",
                                          (json_int_t)rfrepo_version(r->roles[i].doc))) != 0) {
            json_decref(meta);
            return oom(err);
        }
    }
    return remake(r, ro, meta, s, err);
}

rf_rc rf_tuf_repo_timestamp(rf_tuf_repo *r, const rf_tuf_signer *s, rf_err *err)
{
    if (!r || !s)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "a timestamp key is needed");
    if (!r->roles[RFREPO_SNAPSHOT].doc)
        return rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0,
                          "there is no snapshot yet: run 'ringfence repo snapshot' first");
    /* The timestamp covers the snapshot's bytes exactly as they will be
     * published: those of the staged file. */
    char *p = rfrepo_staged_path(r, "snapshot");
    rf_buf b;
    rf_buf_init(&b);
    rf_rc rc = p ? rfrepo_read(p, RF_TUF_MAX_SNAPSHOT_BYTES * 4u, &b, err) : oom(err);
    free(p);
    if (rc != RF_OK)
        return rc;
    char h[65];
    rftuf_sha256_hex(b.data, b.len, h);
    json_t *meta = json_pack("{s:{s:I, s:I, s:{s:s}}}", "snapshot.json", "version",
                             (json_int_t)rfrepo_version(r->roles[RFREPO_SNAPSHOT].doc), "length",
                             (json_int_t)b.len, "hashes", "sha256", h);
    rf_buf_free(&b);
    if (!meta)
        return oom(err);
    return remake(r, &r->roles[RFREPO_TIMESTAMP], meta, s, err);
}

/* ---- root --------------------------------------------------------------------- */

static int is_keyid(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int top_role_index(const char *role)
{
    for (int i = 0; role && i < RFREPO_NTOP; i++)
        if (strcmp(role, top_names[i]) == 0)
            return i;
    return -1;
}

rf_rc rf_tuf_repo_root_edit(rf_tuf_repo *r, const rf_tuf_root_change *ch, size_t n,
                            rf_err *err)
{
    if (!r || (n && !ch))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "no changes given");
    rfrepo_role *ro = &r->roles[RFREPO_ROOT];
    json_t *doc = NULL;
    int64_t new_period = 0;
    rf_rc rc = copy_doc(ro, &doc, err);
    if (rc != RF_OK)
        return rc;
    json_t *s = rfrepo_signed(doc);
    json_t *keys = json_object_get(s, "keys");
    json_t *roles = json_object_get(s, "roles");
    for (size_t i = 0; i < n; i++) {
        const rf_tuf_root_change *c = &ch[i];
        if (c->op == RF_TUF_ROOT_EXPIRES) {
            if (c->n < RF_TUF_REPO_PERIOD_MIN || c->n > RF_TUF_REPO_PERIOD_MAX) {
                rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                                "root expiry period must be from %d seconds to %lld days",
                                RF_TUF_REPO_PERIOD_MIN,
                                (long long)(RF_TUF_REPO_PERIOD_MAX / 86400));
                goto out;
            }
            new_period = c->n;
            continue;
        }
        if (top_role_index(c->role) < 0) {
            rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                            "\"%.64s\" is not a role the root holds keys for (root, targets, "
                            "snapshot, timestamp; delegated keys are in their parent)",
                            c->role ? c->role : "");
            goto out;
        }
        json_t *entry = json_object_get(roles, c->role);
        json_t *ids = json_object_get(entry, "keyids");
        char kid[65];
        if (c->op == RF_TUF_ROOT_ADD_KEY) {
            json_t *obj = NULL;
            rc = parse_pub(c->arg, c->role, &obj, kid, err);
            if (rc != RF_OK)
                goto out;
            if (array_has(ids, kid)) {
                json_decref(obj);
                rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                                "key %.16s... is already a key of role %s", kid, c->role);
                goto out;
            }
            if (json_array_size(ids) >= RF_TUF_REPO_MAX_KEYS) {
                json_decref(obj);
                rc = rf_err_set(err, RF_E_LIMIT, NULL, 0, 0, "role %s: at most %d keys",
                                c->role, RF_TUF_REPO_MAX_KEYS);
                goto out;
            }
            json_object_set_new(keys, kid, obj);
            json_array_append_new(ids, json_string(kid));
        } else if (c->op == RF_TUF_ROOT_REMOVE_KEY) {
            if (is_keyid(c->arg)) {
                memcpy(kid, c->arg, 65);
            } else {
                json_t *obj = NULL;
                rc = parse_pub(c->arg, c->role, &obj, kid, err);
                json_decref(obj);
                if (rc != RF_OK)
                    goto out;
            }
            size_t at = SIZE_MAX;
            for (size_t j = 0; j < json_array_size(ids); j++)
                if (strcmp(json_string_value(json_array_get(ids, j)), kid) == 0)
                    at = j;
            if (at == SIZE_MAX) {
                rc = rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0,
                                "key %.16s... is not a key of role %s", kid, c->role);
                goto out;
            }
            json_array_remove(ids, at);
        } else if (c->op == RF_TUF_ROOT_THRESHOLD) {
            if (c->n < 1) {
                rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                                "threshold of role %s must be at least 1", c->role);
                goto out;
            }
            json_object_set_new(entry, "threshold", json_integer(c->n));
        } else {
            rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "unknown root change %d", (int)c->op);
            goto out;
        }
    }
    /* The result must be usable: each role with keys and a reachable
     * threshold; keys no role uses any more are dropped. */
    for (int i = 0; i < RFREPO_NTOP; i++) {
        json_t *entry = json_object_get(roles, top_names[i]);
        size_t nk = json_array_size(json_object_get(entry, "keyids"));
        int64_t t = json_integer_value(json_object_get(entry, "threshold"));
        if (nk == 0) {
            rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                            "role %s would have no key left: add its new key in the same "
                            "command",
                            top_names[i]);
            goto out;
        }
        if (t > (int64_t)nk) {
            rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                            "role %s would need %lld signatures but have only %zu key%s: "
                            "lower its threshold or add keys",
                            top_names[i], (long long)t, nk, nk == 1 ? "" : "s");
            goto out;
        }
    }
    {
        const char *k;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(keys, tmp, k, v) {
            int used = 0;
            for (int i = 0; i < RFREPO_NTOP && !used; i++)
                used = array_has(json_object_get(json_object_get(roles, top_names[i]), "keyids"),
                                 k);
            if (!used)
                json_object_del(keys, k);
        }
    }
    if (new_period) {
        json_object_set_new(json_object_get(r->cfg, "expiry_seconds"), "root",
                            json_integer(new_period));
        rc = rfrepo_save_cfg(r, err);
        if (rc != RF_OK)
            goto out;
    }
    begin_change(r, ro, doc);
    rc = commit(r, ro, doc, err);
    doc = NULL;
out:
    json_decref(doc);
    return rc;
}

/* ---- delegations ---------------------------------------------------------------- */

rf_rc rf_tuf_repo_delegate(rf_tuf_repo *r, const rf_tuf_delegation *d, rf_err *err)
{
    if (!r || !d || !d->name)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "a delegated role needs a name");
    rfrepo_role *parent = NULL;
    rf_rc rc = find_role(r, d->parent, 1, &parent, err);
    if (rc == RF_OK)
        rc = check_role_name(d->name, err);
    if (rc != RF_OK)
        return rc;
    if (rfrepo_find(r, d->name))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "role \"%s\" already exists", d->name);
    if (r->nroles >= RFREPO_NTOP + RF_TUF_REPO_MAX_ROLES)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0, "at most %d delegated roles",
                          RF_TUF_REPO_MAX_ROLES);
    /* Depth: a client visits at most RF_TUF_MAX_DELEGATIONS roles per search. */
    {
        size_t depth = 1;
        for (const rfrepo_role *p = parent; p->delegated && depth <= r->nroles;
             p = &r->roles[p->parent])
            depth++;
        if (depth >= RF_TUF_MAX_DELEGATIONS)
            return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                              "delegation chain too deep: clients visit at most %u roles",
                              RF_TUF_MAX_DELEGATIONS);
    }
    if (d->npaths > RF_TUF_REPO_MAX_PATHS)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0, "at most %d paths per delegation",
                          RF_TUF_REPO_MAX_PATHS);

    json_t *pdoc = NULL, *child = NULL, *ids = json_array(), *newkeys = json_object();
    json_t *entry = NULL;
    char *cpath = NULL;
    int64_t t = 0;
    if (!ids || !newkeys) {
        rc = oom(err);
        goto out;
    }
    rc = add_role_keys(&d->keys, d->name, newkeys, ids, &t, err);
    if (rc != RF_OK)
        goto out;
    entry = json_pack("{s:s, s:O, s:I, s:b}", "name", d->name, "keyids", ids, "threshold",
                      (json_int_t)t, "terminating", d->terminating ? 1 : 0);
    if (!entry) {
        rc = oom(err);
        goto out;
    }
    if (d->npaths > 0 && d->paths) {
        json_t *paths = json_array();
        for (size_t i = 0; paths && i < d->npaths; i++) {
            const char *pt = d->paths[i];
            size_t pl = pt ? strlen(pt) : 0;
            if (pl == 0 || pl > RF_TUF_REPO_PATH_MAX || !rf_utf8_valid(pt, pl, NULL)) {
                json_decref(paths);
                rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                                "delegated path pattern %zu is empty, too long or not UTF-8",
                                i + 1);
                goto out;
            }
            json_array_append_new(paths, json_string(pt));
        }
        if (!paths || json_object_set_new(entry, "paths", paths) != 0) {
            rc = oom(err);
            goto out;
        }
    } else {
        /* Every path: each sha256 starts with one of the 16 hex digits. */
        json_t *pfx = json_array();
        for (int i = 0; pfx && i < 16; i++) {
            char h[2] = {"0123456789abcdef"[i], 0};
            json_array_append_new(pfx, json_string(h));
        }
        if (!pfx || json_object_set_new(entry, "path_hash_prefixes", pfx) != 0) {
            rc = oom(err);
            goto out;
        }
    }
    rc = copy_doc(parent, &pdoc, err);
    if (rc != RF_OK)
        goto out;
    json_t *ps = rfrepo_signed(pdoc);
    json_t *dl = json_object_get(ps, "delegations");
    if (!dl) {
        dl = json_pack("{s:{}, s:[]}", "keys", "roles");
        if (!dl || json_object_set_new(ps, "delegations", dl) != 0) {
            rc = oom(err);
            goto out;
        }
    }
    {
        const char *k;
        json_t *v;
        json_object_foreach(newkeys, k, v) {
            if (json_object_set(json_object_get(dl, "keys"), k, v) != 0) {
                rc = oom(err);
                goto out;
            }
        }
    }
    if (json_array_append(json_object_get(dl, "roles"), entry) != 0) {
        rc = oom(err);
        goto out;
    }
    begin_change(r, parent, pdoc);

    /* The new role: version after its last publication (if it ever was). */
    const json_t *pubd = json_object_get(json_object_get(r->cfg, "published"), "delegated");
    int64_t pv = json_integer_value(json_object_get(pubd, d->name));
    char exp[21];
    rftuf_time_format(rfrepo_now(r) + (time_t)json_integer_value(json_object_get(
                                          json_object_get(r->cfg, "expiry_seconds"), "delegated")),
                      exp);
    child = envelope(json_pack("{s:s, s:s, s:I, s:s, s:{}}", "_type", "targets", "spec_version",
                               RFREPO_SPEC_VERSION, "version", (json_int_t)(pv + 1), "expires",
                               exp, "targets"));
    if (!child) {
        rc = oom(err);
        goto out;
    }
    cpath = rfrepo_staged_path(r, d->name);
    if (!cpath) {
        rc = oom(err);
        goto out;
    }
    rc = write_json(cpath, child, err);
    if (rc != RF_OK)
        goto out;
    size_t pidx = (size_t)(parent - r->roles);
    rc = commit(r, parent, pdoc, err);
    pdoc = NULL;
    if (rc != RF_OK)
        goto out;
    rc = add_role(r, d->name, RFTUF_TARGETS, 1, pidx, child, err);
    if (rc == RF_OK)
        child = NULL;
out:
    free(cpath);
    json_decref(pdoc);
    json_decref(child);
    json_decref(ids);
    json_decref(newkeys);
    json_decref(entry);
    return rc;
}

/* ---- expiry -------------------------------------------------------------------- */

rf_rc rf_tuf_repo_set_period(rf_tuf_repo *r, rf_tuf_repo_period p, int64_t seconds, rf_err *err)
{
    if (!r || (unsigned)p >= RF_TUF_PERIOD_COUNT)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "unknown kind of role");
    if (seconds < RF_TUF_REPO_PERIOD_MIN || seconds > RF_TUF_REPO_PERIOD_MAX)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "expiry period must be from %d seconds to %lld days",
                          RF_TUF_REPO_PERIOD_MIN, (long long)(RF_TUF_REPO_PERIOD_MAX / 86400));
    json_t *e = json_object_get(r->cfg, "expiry_seconds");
    json_t *old = json_incref(json_object_get(e, period_names[p]));
    json_object_set_new(e, period_names[p], json_integer(seconds));
    rf_rc rc = rfrepo_save_cfg(r, err);
    if (rc != RF_OK)
        json_object_set(e, period_names[p], old);
    json_decref(old);
    return rc;
}

rf_rc rf_tuf_repo_renew(rf_tuf_repo *r, const char *role, rf_err *err)
{
    if (!r || !role)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "a role is needed");
    rfrepo_role *ro = NULL;
    json_t *doc = NULL;
    rf_rc rc = edit_made_role(r, role, &ro, &doc, err);
    if (rc != RF_OK)
        return rc;
    begin_change(r, ro, doc);
    return commit(r, ro, doc, err);
}
