/*
 * pattern.c — string criteria as Vectorscan expressions, and the validator's
 * one-criterion compile check (rf_interp_check_crit).
 *
 * Every literal byte except [A-Za-z0-9] is written as \xHH, so no value can
 * smuggle regex syntax into a prefix, suffix, contains or glob. We never set
 * HS_FLAG_UTF8: sensor inputs may be invalid UTF-8, which is undefined
 * behaviour for Vectorscan's UTF-8 mode. Consequences, by kind:
 *
 *   prefix    \A<lit>           suffix   <lit>\z   (\z: the very end; "$"
 *   contains  <lit>                                 would also match before a
 *                                                   trailing newline)
 *   glob      \A ... \z with HS_FLAG_DOTALL: '*' is .* (any run of bytes, the
 *             empty run included), '?' is exactly one UTF-8-shaped character
 *             (an ASCII byte, or a lead byte followed by its continuation
 *             bytes); a lone invalid byte is therefore not matched by '?'.
 *             Every other character, the backslash included, is literal.
 *   regex     exactly as written, PCRE defaults: it matches anywhere unless
 *             anchored, '.' does not match '\n' (write (?s) for that), '$'
 *             also matches before a final newline (write \z for the very end).
 *   nocase    HS_FLAG_CASELESS, which without UTF-8 mode folds ASCII only.
 *
 * Anchored expressions are slow to compile in bulk (2,500 anchored prefixes
 * take seconds, the same literals unanchored milliseconds), so the
 * interpreter does not compile prefix, suffix and contains as above: see
 * rfinterp_classify, which also turns the common glob shapes ("lit*",
 * "*lit", "*lit*", "lit", "*") into those cheaper forms. The expressions
 * built by rfinterp_pattern are what rf_interp_check_crit compiles, and what
 * the interpreter uses for regexes and the remaining globs.
 *
 * Globs with a '?' or an inner '*' are not matched by their expression:
 * Vectorscan 5.4.9 misses matches of \A<lit>.*<lit>(?:char)\z past 66 input
 * bytes (interp_int.h, rfinterp_glob_match). A user's regex of that shape
 * (both anchors around a dot-all star) is exposed to the same engine defect;
 * it is compiled as written and not worked around here.
 *
 * No expression gets HS_FLAG_SINGLEMATCH: in Vectorscan 5.4.9 (Debian
 * 12, AVX-512 host) it loses matches of short literals and regexes that start
 * past byte ~64 of the buffer (one-byte literal "x" after 66 bytes: missed;
 * without the flag: found; see tests/unit/interp_test.c
 * test_vectorscan_singlematch_bug and the fuzz_glob corpus). The interpreter
 * marks each pattern once per event through its scratch epoch stamps, so
 * repeated reports cost a callback each (returning at the stamp) and never
 * a wrong result. Every
 * expression gets HS_FLAG_ALLOWEMPTY (a glob "*", an empty literal or a regex like "a*" can
 * match the empty value; the flag changes nothing for other expressions).
 */
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "interp/interp_int.h"

/* One UTF-8 character, by shape only (no overlong or range checks). */
static const char GLOB_ONE[] =
    "(?:[\\x00-\\x7f]|[\\xc0-\\xdf][\\x80-\\xbf]|[\\xe0-\\xef][\\x80-\\xbf]{2}"
    "|[\\xf0-\\xf7][\\x80-\\xbf]{3})";

int rfinterp_is_pattern_kind(rf_crit_kind k)
{
    return k == RF_CRIT_PREFIX || k == RF_CRIT_SUFFIX || k == RF_CRIT_CONTAINS ||
           k == RF_CRIT_GLOB || k == RF_CRIT_REGEX;
}

static void put_literal_byte(rf_buf *b, unsigned char ch)
{
    static const char hex[] = "0123456789abcdef";
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) {
        rf_buf_append(b, &ch, 1);
        return;
    }
    char esc[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
    rf_buf_append(b, esc, sizeof(esc));
}

static void put_literal(rf_buf *b, const char *s, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        put_literal_byte(b, (unsigned char)s[i]);
}

rf_rc rfinterp_literal(const char *s, uint32_t len, int reversed, rf_buf *out)
{
    for (uint32_t i = 0; i < len; i++)
        put_literal_byte(out, (unsigned char)s[reversed ? len - 1 - i : i]);
    rf_buf_append(out, "", 1);
    return out->oom ? RF_E_NOMEM : RF_OK;
}

rfinterp_class rfinterp_classify(const rf_crit *c, const char **lit, uint32_t *litlen)
{
    const char *v = c->vals[0].s;
    uint32_t n = c->vals[0].len;
    *lit = v;
    *litlen = n;
    switch (c->kind) {
    case RF_CRIT_PREFIX: return n ? RFI_PREFIX : RFI_ANYSTR;
    case RF_CRIT_SUFFIX: return n ? RFI_SUFFIX : RFI_ANYSTR;
    case RF_CRIT_CONTAINS: return n ? RFI_CONTAINS : RFI_ANYSTR;
    case RF_CRIT_GLOB: break;
    default: return RFI_REGEX;
    }
    if (memchr(v, '?', n))
        return RFI_REGEX;
    uint32_t ls = 0, ts = 0;
    while (ls < n && v[ls] == '*')
        ls++;
    if (ls == n)
        return n ? RFI_ANYSTR : RFI_EQUALS; /* "*", "**"... ; "" equals "" */
    while (v[n - 1 - ts] == '*')
        ts++;
    const char *mid = v + ls;
    uint32_t midlen = n - ls - ts;
    if (memchr(mid, '*', midlen))
        return RFI_REGEX; /* an inner '*': left to the engine */
    *lit = mid;
    *litlen = midlen;
    if (!ls && !ts)
        return RFI_EQUALS;
    if (!ls)
        return RFI_PREFIX;
    if (!ts)
        return RFI_SUFFIX;
    return RFI_CONTAINS;
}

rf_rc rfinterp_pattern(const rf_crit *c, rf_buf *out, unsigned *flags, rf_err *err)
{
    if (!rfinterp_is_pattern_kind(c->kind) || c->vtype != RF_VAL_STRING || c->nvals != 1 ||
        !c->vals || c->vals[0].type != RF_VAL_STRING || !c->vals[0].s)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                          "criterion is not a pattern criterion with one string value");
    const rf_value *v = &c->vals[0];
    uint32_t max = c->kind == RF_CRIT_REGEX ? RF_MAX_REGEX : RF_MAX_STRING;
    if (v->len > max)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                          "%s value is %u bytes, more than the limit of %u",
                          rf_crit_kind_name(c->kind), v->len, max);
    if (memchr(v->s, '\0', v->len))
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "%s value contains a NUL byte",
                          rf_crit_kind_name(c->kind));

    unsigned f = HS_FLAG_ALLOWEMPTY; /* no SINGLEMATCH: see the top of this file */
    if (c->flags & RF_CRIT_NOCASE)
        f |= HS_FLAG_CASELESS;
    switch (c->kind) {
    case RF_CRIT_PREFIX:
        rf_buf_append(out, "\\A", 2);
        put_literal(out, v->s, v->len);
        break;
    case RF_CRIT_SUFFIX:
        put_literal(out, v->s, v->len);
        rf_buf_append(out, "\\z", 2);
        break;
    case RF_CRIT_CONTAINS:
        put_literal(out, v->s, v->len);
        break;
    case RF_CRIT_GLOB:
        f |= HS_FLAG_DOTALL;
        rf_buf_append(out, "\\A", 2);
        for (uint32_t i = 0; i < v->len; i++) {
            if (v->s[i] == '*') {
                /* Collapse runs of '*': same language, smaller automaton. */
                while (i + 1 < v->len && v->s[i + 1] == '*')
                    i++;
                rf_buf_append(out, ".*", 2);
            } else if (v->s[i] == '?') {
                rf_buf_append(out, GLOB_ONE, sizeof(GLOB_ONE) - 1);
            } else {
                put_literal_byte(out, (unsigned char)v->s[i]);
            }
        }
        rf_buf_append(out, "\\z", 2);
        break;
    case RF_CRIT_REGEX:
        rf_buf_append(out, v->s, v->len);
        break;
    default:
        return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "unreachable criterion kind");
    }
    rf_buf_append(out, "", 1);
    if (out->oom)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory building a pattern");
    *flags = f;
    return RF_OK;
}

rf_rc rf_interp_check_crit(const rf_crit *c, rf_err *err)
{
    if (!c)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "no criterion");
    if (!rfinterp_is_pattern_kind(c->kind))
        return RF_OK;
    rf_buf b;
    rf_buf_init(&b);
    unsigned flags = 0;
    rf_rc rc = rfinterp_pattern(c, &b, &flags, err);
    if (rc != RF_OK)
        goto out;
    hs_database_t *db = NULL;
    hs_compile_error_t *cerr = NULL;
    if (hs_compile((const char *)b.data, flags, HS_MODE_BLOCK, NULL, &db, &cerr) !=
        HS_SUCCESS) {
        rc = rf_err_set(err, RF_E_PATTERN, NULL, 0, 0, "%s '%s' does not compile: %s",
                        rf_crit_kind_name(c->kind), c->vals[0].s,
                        cerr && cerr->message ? cerr->message : "unknown error");
        hs_free_compile_error(cerr);
        goto out;
    }
    hs_free_database(db);
out:
    rf_buf_free(&b);
    return rc;
}

static int run_cmp(const void *a, const void *b)
{
    const rfinterp_run *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* The runs of glob g, written to `to` when not NULL; returns how many. */
static uint32_t each_run(const rfinterp_run *g, rfinterp_run *to)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < g->len;) {
        if (g->s[i] == '*' || g->s[i] == '?') {
            i++;
            continue;
        }
        uint32_t j = i;
        while (j < g->len && g->s[j] != '*' && g->s[j] != '?')
            j++;
        if (to)
            to[k] = (rfinterp_run){g->s + i, j - i};
        k++;
        i = j;
    }
    return k;
}

rf_rc rfinterp_glob_literals(const rfinterp_run *globs, uint32_t n, rfinterp_run *out)
{
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += each_run(&globs[i], NULL);
    rfinterp_run *all = malloc((total ? total : 1) * sizeof(*all));
    if (!all)
        return RF_E_NOMEM;
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        k += each_run(&globs[i], all + k);
    qsort(all, total, sizeof(*all), run_cmp);
    for (uint32_t i = 0; i < n; i++) {
        rfinterp_run mine[RF_MAX_STRING / 2 + 1];
        uint32_t m = each_run(&globs[i], mine);
        out[i] = (rfinterp_run){globs[i].s, 0};
        size_t best_count = SIZE_MAX;
        for (uint32_t r = 0; r < m; r++) {
            /* how many runs equal this one: the span of equal keys */
            rfinterp_run *hit = bsearch(&mine[r], all, total, sizeof(*all), run_cmp);
            size_t lo = (size_t)(hit - all), hi = lo;
            while (lo > 0 && run_cmp(&all[lo - 1], &mine[r]) == 0)
                lo--;
            while (hi + 1 < total && run_cmp(&all[hi + 1], &mine[r]) == 0)
                hi++;
            size_t count = hi - lo + 1;
            if (count < best_count || (count == best_count && mine[r].len > out[i].len)) {
                best_count = count;
                out[i] = mine[r];
            }
        }
    }
    free(all);
    return RF_OK;
}

/* Bytes of the one UTF-8-shaped character at s (the same shapes as the '?'
 * expression above), or 0 if s does not start with one. */
static uint32_t utf8_one(const unsigned char *s, uint32_t n)
{
    if (!n)
        return 0;
    uint32_t need = s[0] < 0x80                     ? 1
                    : (s[0] >= 0xc0 && s[0] <= 0xdf) ? 2
                    : (s[0] >= 0xe0 && s[0] <= 0xef) ? 3
                    : (s[0] >= 0xf0 && s[0] <= 0xf7) ? 4
                                                     : 0;
    if (!need || need > n)
        return 0;
    for (uint32_t i = 1; i < need; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return need;
}

static inline unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/*
 * The classic wildcard walk: on a mismatch, go back to just after the last
 * '*' and let it absorb one more byte. Leftmost placement of each star-free
 * segment is never worse than a later one, and '?' consumes a length fixed by
 * the byte it stands on, so the walk is exact.
 */
int rfinterp_glob_match(const char *pat, uint32_t pn, const char *str, uint32_t sn, int nocase)
{
    const unsigned char *p = (const unsigned char *)pat, *s = (const unsigned char *)str;
    uint32_t pi = 0, si = 0, star_p = UINT32_MAX, star_s = 0;
    while (si < sn) {
        if (pi < pn && p[pi] == '*') {
            star_p = ++pi;
            star_s = si;
            continue;
        }
        if (pi < pn) {
            if (p[pi] == '?') {
                uint32_t l = utf8_one(s + si, sn - si);
                if (l) {
                    pi++;
                    si += l;
                    continue;
                }
            } else if (nocase ? fold(p[pi]) == fold(s[si]) : p[pi] == s[si]) {
                pi++;
                si++;
                continue;
            }
        }
        if (star_p == UINT32_MAX)
            return 0;
        pi = star_p;
        si = ++star_s;
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}
