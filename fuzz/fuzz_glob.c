/*
 * fuzz_glob.c — differential harness for the interpreter's string criteria.
 * Input: byte 0 picks the kind (glob, prefix, suffix, contains, equals,
 * regex) and nocase; then the criterion value up to the first 0x00 byte; the
 * rest is the event's input string (any bytes, NUL and invalid UTF-8
 * included). Every non-regex kind is checked against a naive matcher written
 * here; a regex only has to build or be refused, never crash.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ringfence/interp.h"

static unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static int eq(const unsigned char *a, const unsigned char *b, size_t n, int nc)
{
    for (size_t i = 0; i < n; i++)
        if (nc ? fold(a[i]) != fold(b[i]) : a[i] != b[i])
            return 0;
    return 1;
}

static size_t utf8_one(const unsigned char *s, size_t n)
{
    if (!n)
        return 0;
    size_t need = s[0] < 0x80 ? 1 : (s[0] >= 0xc0 && s[0] <= 0xdf) ? 2
                : (s[0] >= 0xe0 && s[0] <= 0xef) ? 3 : (s[0] >= 0xf0 && s[0] <= 0xf7) ? 4 : 0;
    if (!need || need > n)
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return need;
}

/* Glob by dynamic programming over (pattern position, input position). */
static int glob(const unsigned char *p, size_t pn, const unsigned char *s, size_t sn, int nc)
{
    unsigned char *ok = calloc((pn + 1) * (sn + 1), 1); /* ok[i*(sn+1)+j]: p[i..] ~ s[j..] */
    if (!ok)
        abort();
#define OK(i, j) ok[(size_t)(i) * (sn + 1) + (j)]
    OK(pn, sn) = 1;
    for (size_t i = pn; i-- > 0;)
        for (size_t j = sn + 1; j-- > 0;) {
            if (p[i] == '*')
                OK(i, j) = OK(i + 1, j) || (j < sn && OK(i, j + 1));
            else if (p[i] == '?') {
                size_t l = utf8_one(s + j, sn - j);
                OK(i, j) = l && OK(i + 1, j + l);
            } else
                OK(i, j) = j < sn && eq(p + i, s + j, 1, nc) && OK(i + 1, j + 1);
        }
    int r = OK(0, 0);
#undef OK
    free(ok);
    return r;
}

static int reference(rf_crit_kind k, int nc, const unsigned char *v, size_t vl,
                     const unsigned char *s, size_t sl)
{
    switch (k) {
    case RF_CRIT_GLOB: return glob(v, vl, s, sl, nc);
    case RF_CRIT_PREFIX: return vl <= sl && eq(v, s, vl, nc);
    case RF_CRIT_SUFFIX: return vl <= sl && eq(v, s + sl - vl, vl, nc);
    case RF_CRIT_EQUALS: return vl == sl && eq(v, s, vl, nc);
    case RF_CRIT_CONTAINS:
        for (size_t i = 0; i + vl <= sl; i++)
            if (eq(v, s + i, vl, nc))
                return 1;
        return 0;
    default: return -1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const rf_crit_kind kinds[] = {RF_CRIT_GLOB, RF_CRIT_PREFIX, RF_CRIT_SUFFIX,
                                         RF_CRIT_CONTAINS, RF_CRIT_EQUALS, RF_CRIT_REGEX};
    if (size < 1)
        return 0;
    rf_crit_kind kind = kinds[(data[0] & 0x7f) % 6];
    int nc = data[0] >> 7;
    const uint8_t *v = data + 1, *end = data + size;
    const uint8_t *sep = memchr(v, 0, (size_t)(end - v));
    size_t vl = sep ? (size_t)(sep - v) : (size_t)(end - v);
    if (vl > 256)
        return 0;
    const uint8_t *s = sep ? sep + 1 : end;
    size_t sl = (size_t)(end - s);

    char *val = malloc(vl + 1);
    if (!val)
        abort();
    memcpy(val, v, vl);
    val[vl] = '\0';
    rf_value rv = {.type = RF_VAL_STRING, .s = val, .len = (uint32_t)vl};
    rf_crit c = {.field = 0, .field_name = (char *)"f", .kind = kind, .vtype = RF_VAL_STRING,
                 .flags = nc ? RF_CRIT_NOCASE : 0, .nvals = 1, .vals = &rv};
    rf_instance in = {.id = (char *)"i", .action = RF_ACTION_DETECT,
                      .severity = RF_SEV_HIGH, .ncrits = 1, .crits = &c};
    rf_channel ch = {.channel = 1, .template_type = (char *)"t", .template_version = 1,
                     .content_version = 1, .ninstances = 1, .instances = &in};
    rf_sensor_support sup = {.name = (char *)"t", .version = 1, .inputs = 1};
    rf_sensor_manifest m = {.sensor_version = (char *)"1", .nsupports = 1, .supports = &sup};

    rf_interp *ip = NULL;
    rf_err err;
    rf_rc rc = rf_interp_build(&ch, &m, &ip, &err);
    if (rc != RF_OK) {
        /* only a regex may be refused by the engine */
        if (kind != RF_CRIT_REGEX || (rc != RF_E_PATTERN && rc != RF_E_LIMIT))
            abort();
        if (rf_interp_check_crit(&c, &err) == RF_OK)
            abort(); /* the validator's check must agree with the build */
        free(val);
        return 0;
    }
    rf_interp_scratch *scr = NULL;
    if (rf_interp_scratch_new(ip, &scr) != RF_OK)
        abort();
    rf_input input = {.type = RF_VAL_STRING, .s = (const char *)s, .len = (uint32_t)sl};
    uint32_t match[1], n = 0;
    if (rf_interp_eval(ip, scr, &input, 1, match, 1, &n) != RF_OK || n > 1)
        abort();
    int want = reference(kind, nc, v, vl, s, sl);
    if (want >= 0 && want != (int)n)
        abort();
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
    free(val);
    return 0;
}
