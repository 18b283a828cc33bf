/*
 * meta.c — one TUF metadata document: the envelope, the common fields and
 * the fields of each role type, checked once here so that the client and the
 * repository can then read them without re-checking; the threshold signature
 * check both use; and the matching of delegated path patterns.
 *
 * Everything here reads untrusted JSON. A document that passes
 * rftuf_meta_parse has every field the specification requires, of the right
 * JSON type and range; fields we do not know are left in place untouched
 * (signatures cover them, and the repository must write them back as they
 * were).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tuf/tuf_int.h"

const char *rftuf_role_type_name(rftuf_role_type t)
{
    switch (t) {
    case RFTUF_ROOT: return "root";
    case RFTUF_TIMESTAMP: return "timestamp";
    case RFTUF_SNAPSHOT: return "snapshot";
    case RFTUF_TARGETS: return "targets";
    }
    return "?";
}

/* ---- time ------------------------------------------------------------- */

static int two_digits(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return 0;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 1;
}

rf_rc rftuf_time_parse(const char *s, time_t *out)
{
    /* Exactly YYYY-MM-DDTHH:MM:SSZ, as the specification writes it. */
    if (!s || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || s[19] != 'Z')
        return RF_E_PARSE;
    int y1, y2, mo, d, h, mi, se;
    if (!two_digits(s, &y1) || !two_digits(s + 2, &y2) || !two_digits(s + 5, &mo) ||
        !two_digits(s + 8, &d) || !two_digits(s + 11, &h) ||
        !two_digits(s + 14, &mi) || !two_digits(s + 17, &se))
        return RF_E_PARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return RF_E_PARSE;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y1 * 100 + y2 - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && !(y1 == 19 && y2 == 69))
        return RF_E_PARSE;
    *out = t;
    return RF_OK;
}

void rftuf_time_format(time_t t, char buf[21])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        memcpy(buf, "9999-12-31T23:59:59Z", 21);
        return;
    }
    char tmp[80];
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(buf, tmp, 20);
    buf[20] = '\0';
}

/* ---- field checks ------------------------------------------------------ */

static rf_rc bad(rf_err *err, const char *what, const char *fmt, ...) RF_PRINTF(3, 4);
static rf_rc bad(rf_err *err, const char *what, const char *fmt, ...)
{
    char m[RF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    return rf_err_set(err, RF_E_SCHEMA, what, 0, 0, "%s", m);
}

static int is_int_min(const json_t *v, json_int_t min)
{
    return json_is_integer(v) && json_integer_value(v) >= min;
}

/* A "meta" entry of timestamp or snapshot: version >= 1, optional length
 * >= 0, optional non-empty hashes object of strings. */
static rf_rc check_metafile(const json_t *mf, const char *what, const char *name,
                            rf_err *err)
{
    if (!json_is_object(mf))
        return bad(err, what, "meta entry \"%s\" is not an object", name);
    if (!is_int_min(json_object_get(mf, "version"), 1))
        return bad(err, what, "meta entry \"%s\" needs an integer version >= 1", name);
    const json_t *len = json_object_get(mf, "length");
    if (len && !is_int_min(len, 0))
        return bad(err, what, "meta entry \"%s\" has a bad length", name);
    const json_t *h = json_object_get(mf, "hashes");
    if (h) {
        if (!json_is_object(h) || json_object_size(h) == 0)
            return bad(err, what, "meta entry \"%s\" has an empty or bad hashes object", name);
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)h, k, v) {
            if (!json_is_string(v))
                return bad(err, what, "meta entry \"%s\" has a non-string hash", name);
        }
    }
    return RF_OK;
}

/* keys object: keyid → well-formed key object. */
static rf_rc check_keys(const json_t *keys, const char *what, rf_err *err)
{
    if (!json_is_object(keys))
        return bad(err, what, "%s is not an object", "keys");
    const char *kid;
    const json_t *kobj;
    json_object_foreach((json_t *)keys, kid, kobj) {
        rftuf_key *k = NULL;
        rf_err e2;
        rf_err_clear(&e2);
        if (rftuf_key_from_json(kobj, &k, &e2) != RF_OK)
            return rf_err_set(err, RF_E_SCHEMA, what, 0, 0, "key %.64s: %s", kid, e2.msg);
        rftuf_key_free(k);
    }
    return RF_OK;
}

/* A role's keyids (array of unique strings) and threshold (>= 1). */
static rf_rc check_role_keys(const json_t *role, const char *what, const char *name,
                             rf_err *err)
{
    const json_t *ids = json_object_get(role, "keyids");
    if (!json_is_array(ids))
        return bad(err, what, "role \"%s\" needs a keyids array", name);
    size_t n = json_array_size(ids);
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(ids, i);
        if (!json_is_string(a))
            return bad(err, what, "role \"%s\" has a non-string key id", name);
        for (size_t j = 0; j < i; j++)
            if (json_equal((json_t *)a, json_array_get(ids, j)))
                return bad(err, what, "role \"%s\" lists a key id twice", name);
    }
    if (!is_int_min(json_object_get(role, "threshold"), 1))
        return bad(err, what, "role \"%s\" needs an integer threshold >= 1", name);
    return RF_OK;
}

static rf_rc check_root(const json_t *s, const char *what, rf_err *err)
{
    const json_t *cs = json_object_get(s, "consistent_snapshot");
    if (cs && !json_is_boolean(cs))
        return bad(err, what, "%s must be true or false", "consistent_snapshot");
    rf_rc rc = check_keys(json_object_get(s, "keys"), what, err);
    if (rc != RF_OK)
        return rc;
    const json_t *roles = json_object_get(s, "roles");
    if (!json_is_object(roles) || json_object_size(roles) != 4)
        return bad(err, what, "%s must name exactly root, timestamp, snapshot and targets",
                   "roles");
    static const char *const names[] = {"root", "timestamp", "snapshot", "targets"};
    for (size_t i = 0; i < 4; i++) {
        const json_t *r = json_object_get(roles, names[i]);
        if (!json_is_object(r))
            return bad(err, what, "roles has no \"%s\"", names[i]);
        rc = check_role_keys(r, what, names[i], err);
        if (rc != RF_OK)
            return rc;
    }
    return RF_OK;
}

static rf_rc check_delegations(const json_t *d, const char *what, rf_err *err)
{
    if (!json_is_object(d))
        return bad(err, what, "%s is not an object", "delegations");
    rf_rc rc = check_keys(json_object_get(d, "keys"), what, err);
    if (rc != RF_OK)
        return rc;
    const json_t *roles = json_object_get(d, "roles");
    if (!json_is_array(roles))
        return bad(err, what, "delegations needs a %s array", "roles");
    size_t n = json_array_size(roles);
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(roles, i);
        if (!json_is_object(r))
            return bad(err, what, "delegated %s entry is not an object", "role");
        const json_t *name = json_object_get(r, "name");
        if (!json_is_string(name) || json_string_length(name) == 0)
            return bad(err, what, "a delegated role needs a %s", "name");
        const char *nm = json_string_value(name);
        static const char *const top[] = {"root", "timestamp", "snapshot", "targets"};
        for (size_t t = 0; t < 4; t++)
            if (strcmp(nm, top[t]) == 0)
                return bad(err, what, "a delegated role may not be called \"%s\"", nm);
        for (size_t j = 0; j < i; j++)
            if (json_equal((json_t *)name,
                           json_object_get(json_array_get(roles, j), "name")))
                return bad(err, what, "delegated role \"%s\" is listed twice", nm);
        rc = check_role_keys(r, what, nm, err);
        if (rc != RF_OK)
            return rc;
        const json_t *term = json_object_get(r, "terminating");
        if (!json_is_boolean(term))
            return bad(err, what, "delegated role \"%s\" needs terminating true or false", nm);
        const json_t *paths = json_object_get(r, "paths");
        const json_t *pfx = json_object_get(r, "path_hash_prefixes");
        if ((paths != NULL) == (pfx != NULL))
            return bad(err, what,
                       "delegated role \"%s\" needs exactly one of paths and path_hash_prefixes",
                       nm);
        const json_t *arr = paths ? paths : pfx;
        if (!json_is_array(arr))
            return bad(err, what, "delegated role \"%s\": paths must be an array", nm);
        for (size_t j = 0; j < json_array_size(arr); j++)
            if (!json_is_string(json_array_get(arr, j)))
                return bad(err, what, "delegated role \"%s\": a path is not a string", nm);
    }
    return RF_OK;
}

static rf_rc check_targets(const json_t *s, const char *what, rf_err *err)
{
    const json_t *t = json_object_get(s, "targets");
    if (!json_is_object(t))
        return bad(err, what, "%s must be an object", "targets");
    const char *path;
    const json_t *ti;
    json_object_foreach((json_t *)t, path, ti) {
        if (!json_is_object(ti))
            return bad(err, what, "target \"%s\" is not an object", path);
        if (!is_int_min(json_object_get(ti, "length"), 0))
            return bad(err, what, "target \"%s\" needs an integer length >= 0", path);
        const json_t *h = json_object_get(ti, "hashes");
        if (!json_is_object(h) || json_object_size(h) == 0)
            return bad(err, what, "target \"%s\" needs a non-empty hashes object", path);
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)h, k, v) {
            if (!json_is_string(v))
                return bad(err, what, "target \"%s\" has a non-string hash", path);
        }
        const json_t *c = json_object_get(ti, "custom");
        if (c && !json_is_object(c))
            return bad(err, what, "target \"%s\": custom must be an object", path);
    }
    const json_t *d = json_object_get(s, "delegations");
    if (d)
        return check_delegations(d, what, err);
    return RF_OK;
}

static rf_rc check_meta_map(const json_t *s, const char *what, rf_err *err)
{
    const json_t *meta = json_object_get(s, "meta");
    if (!json_is_object(meta))
        return bad(err, what, "%s must be an object", "meta");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)meta, k, v) {
        rf_rc rc = check_metafile(v, what, k, err);
        if (rc != RF_OK)
            return rc;
    }
    return RF_OK;
}

/* ---- parse -------------------------------------------------------------- */

rf_rc rftuf_meta_parse(const uint8_t *buf, size_t len, rftuf_role_type expect,
                       const char *what, rftuf_meta **out, rf_err *err)
{
    json_t *doc = NULL;
    rf_rc rc = rftuf_json_parse(buf, len, what, &doc, err);
    if (rc != RF_OK)
        return rc;
    rftuf_meta *m = calloc(1, sizeof(*m));
    if (!m) {
        json_decref(doc);
        return rf_err_set(err, RF_E_NOMEM, what, 0, 0, "out of memory");
    }
    m->doc = doc;
    rf_buf_init(&m->canon);
    m->type = expect;

    json_t *s = json_object_get(doc, "signed");
    json_t *sigs = json_object_get(doc, "signatures");
    if (!json_is_object(doc) || !json_is_object(s) || !json_is_array(sigs)) {
        rc = bad(err, what, "%s", "not TUF metadata: needs a \"signed\" object and a "
                                  "\"signatures\" array");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(sigs); i++) {
        const json_t *sg = json_array_get(sigs, i);
        if (!json_is_object(sg) || !json_is_string(json_object_get(sg, "keyid")) ||
            !json_is_string(json_object_get(sg, "sig"))) {
            rc = bad(err, what, "%s", "a signature needs string keyid and sig");
            goto fail;
        }
    }
    m->signed_ = s;
    m->signatures = sigs;

    const json_t *type = json_object_get(s, "_type");
    if (!json_is_string(type) ||
        strcmp(json_string_value(type), rftuf_role_type_name(expect)) != 0) {
        rc = rf_err_set(err, RF_E_SCHEMA, what, 0, 0,
                        "expected _type \"%s\", found %s%s%s",
                        rftuf_role_type_name(expect), json_is_string(type) ? "\"" : "",
                        json_is_string(type) ? json_string_value(type) : "none",
                        json_is_string(type) ? "\"" : "");
        goto fail;
    }
    const json_t *sv = json_object_get(s, "spec_version");
    if (!json_is_string(sv)) {
        rc = bad(err, what, "%s is missing", "spec_version");
        goto fail;
    }
    {
        /* Major version 1, as "1.x" or "1.x.y" with numeric parts. */
        const char *v = json_string_value(sv);
        int parts = 0, digits = 0;
        int ok = v[0] == '1' && v[1] == '.';
        for (const char *p = v; ok && *p; p++) {
            if (*p == '.') {
                ok = digits > 0;
                parts++;
                digits = 0;
            } else if (*p >= '0' && *p <= '9') {
                digits++;
            } else {
                ok = 0;
            }
        }
        if (!ok || digits == 0 || parts < 1 || parts > 2) {
            rc = rf_err_set(err, RF_E_UNSUPPORTED, what, 0, 0,
                            "spec_version \"%.32s\" is not a supported 1.x version", v);
            goto fail;
        }
    }
    const json_t *ver = json_object_get(s, "version");
    if (!is_int_min(ver, 1)) {
        rc = bad(err, what, "%s must be an integer >= 1", "version");
        goto fail;
    }
    m->version = json_integer_value(ver);
    const json_t *exp = json_object_get(s, "expires");
    if (!json_is_string(exp) || rftuf_time_parse(json_string_value(exp), &m->expires) != RF_OK) {
        rc = bad(err, what, "%s must be a time YYYY-MM-DDTHH:MM:SSZ", "expires");
        goto fail;
    }

    switch (expect) {
    case RFTUF_ROOT:
        rc = check_root(s, what, err);
        m->consistent_snapshot = json_is_true(json_object_get(s, "consistent_snapshot"));
        break;
    case RFTUF_TIMESTAMP:
        rc = check_meta_map(s, what, err);
        if (rc == RF_OK && !json_object_get(json_object_get(s, "meta"), "snapshot.json"))
            rc = bad(err, what, "timestamp meta must list %s", "snapshot.json");
        break;
    case RFTUF_SNAPSHOT:
        rc = check_meta_map(s, what, err);
        break;
    case RFTUF_TARGETS:
        rc = check_targets(s, what, err);
        break;
    }
    if (rc != RF_OK)
        goto fail;

    rc = rftuf_cjson(s, &m->canon, err);
    if (rc != RF_OK)
        goto fail;
    *out = m;
    return RF_OK;
fail:
    rftuf_meta_free(m);
    return rc;
}

void rftuf_meta_free(rftuf_meta *m)
{
    if (!m)
        return;
    json_decref(m->doc);
    rf_buf_free(&m->canon);
    free(m);
}

/* ---- signatures --------------------------------------------------------- */

static int array_has_string(const json_t *arr, const char *s)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *v = json_array_get(arr, i);
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

rf_rc rftuf_meta_verify(const rftuf_meta *m, const json_t *keys,
                        const json_t *keyids, int64_t threshold, const char *role,
                        rf_err *err)
{
    if (threshold < 1 || !json_is_array(keyids) || !json_is_object(keys))
        return rf_err_set(err, RF_E_SIGNATURE, NULL, 0, 0,
                          "%s: the delegating metadata gives no usable keys", role);
    /* Each trusted key counts once, however many signatures name it, and
     * two key ids holding the same key material count once too: `counted`
     * keeps the keys that have already given a valid signature. */
    size_t nsig = json_array_size(m->signatures);
    rftuf_key **counted = calloc(json_array_size(keyids) + 1, sizeof(*counted));
    if (!counted)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    size_t ncounted = 0;
    int64_t good = 0;
    for (size_t i = 0; i < nsig && good < threshold; i++) {
        const json_t *sg = json_array_get(m->signatures, i);
        const char *kid = json_string_value(json_object_get(sg, "keyid"));
        if (!array_has_string(keyids, kid))
            continue;
        const json_t *kobj = json_object_get(keys, kid);
        rftuf_key *k = NULL;
        if (!kobj || rftuf_key_from_json(kobj, &k, NULL) != RF_OK)
            continue;
        int dup = 0;
        for (size_t j = 0; j < ncounted && !dup; j++)
            dup = rftuf_key_same(counted[j], k);
        if (!dup && ncounted < json_array_size(keyids) &&
            rftuf_key_verify(k, (const uint8_t *)m->canon.data, m->canon.len,
                             json_string_value(json_object_get(sg, "sig")))) {
            counted[ncounted++] = k;
            good++;
        } else {
            rftuf_key_free(k);
        }
    }
    for (size_t j = 0; j < ncounted; j++)
        rftuf_key_free(counted[j]);
    free(counted);
    if (good < threshold)
        return rf_err_set(err, RF_E_SIGNATURE, NULL, 0, 0,
                          "%s: %lld valid signature%s from distinct trusted keys, %lld needed",
                          role, (long long)good, good == 1 ? "" : "s",
                          (long long)threshold);
    return RF_OK;
}

rf_rc rftuf_meta_verify_by_root(const rftuf_meta *m, const json_t *root_signed,
                                const char *role, const char *what, rf_err *err)
{
    const json_t *r = json_object_get(json_object_get(root_signed, "roles"), role);
    return rftuf_meta_verify(m, json_object_get(root_signed, "keys"), json_object_get(r, "keyids"),
                             json_integer_value(json_object_get(r, "threshold")), what, err);
}

/* ---- delegated paths ---------------------------------------------------- */

/* Match one '/'-free segment against a glob segment: '*' any run, '?' one
 * byte, [set] / [!set] one byte of (not of) the set, others literal.
 * Iterative with one backtrack point, so linear-ish and never recursive. */
static int class_match(const char **pp, const char *pe, char c, int *matched)
{
    const char *p = *pp + 1; /* past '[' */
    int neg = 0;
    if (p < pe && (*p == '!' || *p == '^')) {
        neg = 1;
        p++;
    }
    int hit = 0, first = 1;
    while (p < pe && (*p != ']' || first)) {
        char lo = *p, hi = *p;
        if (p + 2 < pe && p[1] == '-' && p[2] != ']') {
            hi = p[2];
            p += 2;
        }
        if ((unsigned char)c >= (unsigned char)lo && (unsigned char)c <= (unsigned char)hi)
            hit = 1;
        p++;
        first = 0;
    }
    if (p >= pe)
        return 0; /* no closing bracket: treat '[' as literal */
    *pp = p + 1;
    *matched = hit != neg;
    return 1;
}

static int seg_match(const char *p, const char *pe, const char *s, const char *se)
{
    const char *star_p = NULL, *star_s = NULL;
    while (s < se) {
        if (p < pe && *p == '*') {
            star_p = ++p;
            star_s = s;
            continue;
        }
        if (p < pe) {
            int m = 0;
            const char *np = p;
            if (*p == '?') {
                m = 1;
                np = p + 1;
            } else if (*p == '[' && class_match(&np, pe, *s, &m)) {
                /* np advanced past the class */
            } else {
                m = *p == *s;
                np = p + 1;
            }
            if (m) {
                p = np;
                s++;
                continue;
            }
        }
        if (!star_p)
            return 0;
        p = star_p;
        s = ++star_s;
    }
    while (p < pe && *p == '*')
        p++;
    return p == pe;
}

int rftuf_path_match(const char *pattern, const char *path)
{
    /* Same number of '/'-separated parts, each part matched on its own, so
     * '*' never crosses a directory boundary. */
    const char *p = pattern, *s = path;
    for (;;) {
        const char *pe = strchr(p, '/');
        const char *se = strchr(s, '/');
        if (!pe)
            pe = p + strlen(p);
        if (!se)
            se = s + strlen(s);
        if (!seg_match(p, pe, s, se))
            return 0;
        if ((*pe == '/') != (*se == '/'))
            return 0;
        if (*pe == '\0')
            return 1;
        p = pe + 1;
        s = se + 1;
    }
}

int rftuf_hash_prefix_match(const json_t *prefixes, const char *path)
{
    char hex[65];
    rftuf_sha256_hex((const uint8_t *)path, strlen(path), hex);
    for (size_t i = 0; i < json_array_size(prefixes); i++) {
        const char *pf = json_string_value(json_array_get(prefixes, i));
        if (pf && strlen(pf) <= 64 && strncmp(hex, pf, strlen(pf)) == 0)
            return 1;
    }
    return 0;
}
