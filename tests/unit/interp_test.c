/*
 * interp_test.c — unit tests of the Content Interpreter (lib/interp).
 *
 * Channels are built by hand with malloc (channel.h says how) and freed by
 * this file's own helper, so these tests do not depend on lib/channel's code.
 * Besides one test per criterion kind and per rule of the contract (load-time
 * and run-time input checks, output order, cap, epoch wraparound), the
 * strongest test builds ~1000 random instances and checks every match of
 * thousands of random events against a naive reference matcher written here
 * (POSIX <regex.h> stands in for the regexes, which are chosen to mean the
 * same in both engines); a second one does the same with instances that
 * share a few broad criteria, for the interpreter's anchor-and-confirm path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <regex.h>

#include "interp/interp_int.h"
#include "ringfence/interp.h"

#define TYPE "ipc_named_pipe"

/* ---- building channels by hand ---- */

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

static rf_channel *ch_new(void)
{
    rf_channel *ch = calloc(1, sizeof(*ch));
    assert_non_null(ch);
    ch->channel = 291;
    ch->template_type = xstrdup(TYPE);
    ch->template_version = 1;
    ch->content_version = 1;
    return ch;
}

static rf_instance *ch_add_inst(rf_channel *ch, const char *id)
{
    rf_instance *ni = realloc(ch->instances, (ch->ninstances + 1) * sizeof(*ni));
    assert_non_null(ni);
    ch->instances = ni;
    rf_instance *in = &ch->instances[ch->ninstances++];
    memset(in, 0, sizeof(*in));
    in->id = xstrdup(id);
    in->action = RF_ACTION_DETECT;
    in->severity = RF_SEV_HIGH;
    return in;
}

static rf_crit *inst_add_crit(rf_instance *in, uint16_t field, rf_crit_kind kind,
                              rf_value_type vt, uint8_t flags)
{
    rf_crit *nc = realloc(in->crits, (in->ncrits + 1) * sizeof(*nc));
    assert_non_null(nc);
    in->crits = nc;
    rf_crit *c = &in->crits[in->ncrits++];
    memset(c, 0, sizeof(*c));
    char name[32];
    snprintf(name, sizeof(name), "field_%u", field + 1u);
    c->field = field;
    c->field_name = xstrdup(name);
    c->kind = kind;
    c->vtype = vt;
    c->flags = flags;
    return c;
}

static rf_value *crit_add_val(rf_crit *c)
{
    rf_value *nv = realloc(c->vals, (c->nvals + 1) * sizeof(*nv));
    assert_non_null(nv);
    c->vals = nv;
    rf_value *v = &c->vals[c->nvals++];
    memset(v, 0, sizeof(*v));
    return v;
}

static void crit_add_str(rf_crit *c, const char *s)
{
    rf_value *v = crit_add_val(c);
    v->type = RF_VAL_STRING;
    v->s = xstrdup(s);
    v->len = (uint32_t)strlen(s);
}

static void crit_add_int(rf_crit *c, int64_t i)
{
    rf_value *v = crit_add_val(c);
    v->type = RF_VAL_INT;
    v->i = i;
}

static rf_crit *add_str(rf_instance *in, uint16_t field, rf_crit_kind k, uint8_t flags,
                        const char *s)
{
    rf_crit *c = inst_add_crit(in, field, k, RF_VAL_STRING, flags);
    crit_add_str(c, s);
    return c;
}

static rf_crit *add_int(rf_instance *in, uint16_t field, rf_crit_kind k, int64_t a)
{
    rf_crit *c = inst_add_crit(in, field, k, RF_VAL_INT, 0);
    crit_add_int(c, a);
    return c;
}

static rf_crit *add_range(rf_instance *in, uint16_t field, int64_t lo, int64_t hi)
{
    rf_crit *c = inst_add_crit(in, field, RF_CRIT_RANGE, RF_VAL_INT, 0);
    crit_add_int(c, lo);
    crit_add_int(c, hi);
    return c;
}

static void ch_free(rf_channel *ch)
{
    if (!ch)
        return;
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        rf_instance *in = &ch->instances[i];
        for (uint32_t k = 0; k < in->ncrits; k++) {
            rf_crit *c = &in->crits[k];
            for (uint32_t v = 0; v < c->nvals; v++)
                free(c->vals[v].s);
            free(c->vals);
            free(c->field_name);
        }
        free(in->crits);
        free(in->id);
    }
    free(ch->instances);
    free(ch->template_type);
    free(ch->source);
    free(ch);
}

/* A sensor manifest implementing TYPE v1 with `inputs` inputs. */
typedef struct manifest {
    rf_sensor_support sup;
    rf_sensor_manifest m;
} manifest;

static void mf_init(manifest *mf, uint32_t inputs)
{
    memset(mf, 0, sizeof(*mf));
    mf->sup.name = (char *)TYPE;
    mf->sup.version = 1;
    mf->sup.inputs = inputs;
    mf->m.sensor_version = (char *)"7.11.18110";
    mf->m.nsupports = 1;
    mf->m.supports = &mf->sup;
}

static rf_interp *build_ok(const rf_channel *ch, uint32_t inputs)
{
    manifest mf;
    mf_init(&mf, inputs);
    rf_interp *ip = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_interp_build(ch, &mf.m, &ip, &err);
    if (rc != RF_OK)
        fail_msg("build failed: %s: %s", rf_strerror(rc), err.msg);
    assert_non_null(ip);
    return ip;
}

static rf_input S(const char *s)
{
    return (rf_input){.type = RF_VAL_STRING, .s = s, .len = (uint32_t)strlen(s)};
}

static rf_input SN(const char *s, uint32_t len)
{
    return (rf_input){.type = RF_VAL_STRING, .s = s, .len = len};
}

static rf_input I(int64_t i)
{
    return (rf_input){.type = RF_VAL_INT, .i = i};
}

static const rf_input ABSENT = {.type = RF_VAL_ABSENT};

/* Evaluate and return the match count; matches go to out (cap 64). */
static uint32_t eval(const rf_interp *ip, rf_interp_scratch *scr, const rf_input *in,
                     uint32_t n, uint32_t *out)
{
    uint32_t nm = 99;
    uint32_t tmp[64];
    assert_int_equal(rf_interp_eval(ip, scr, in, n, out ? out : tmp, 64, &nm), RF_OK);
    return nm;
}

/* Does one string criterion (field 0) match input `in`? */
static int str1(rf_crit_kind k, uint8_t flags, const char *val, rf_input in)
{
    rf_channel *ch = ch_new();
    add_str(ch_add_inst(ch, "x"), 0, k, flags, val);
    rf_interp *ip = build_ok(ch, 1);
    ch_free(ch);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    uint32_t nm = eval(ip, scr, &in, 1, NULL);
    assert_true(nm <= 1);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
    return (int)nm;
}

static int str1s(rf_crit_kind k, uint8_t flags, const char *val, const char *in)
{
    return str1(k, flags, val, S(in));
}

#define NC RF_CRIT_NOCASE

/* ---- criterion kinds ---- */

static void test_prefix_suffix_contains(void **state)
{
    (void)state;
    assert_true(str1s(RF_CRIT_PREFIX, 0, "\\\\.\\pipe\\", "\\\\.\\pipe\\msagent_5a"));
    assert_false(str1s(RF_CRIT_PREFIX, 0, "\\\\.\\pipe\\", "x\\\\.\\pipe\\msagent"));
    assert_false(str1s(RF_CRIT_PREFIX, 0, "abc", "ab"));
    assert_true(str1s(RF_CRIT_PREFIX, 0, "abc", "abc"));
    assert_false(str1s(RF_CRIT_PREFIX, 0, "ABC", "abcd"));
    assert_true(str1s(RF_CRIT_PREFIX, NC, "ABC", "abcd"));
    /* special characters are literal, never regex syntax */
    assert_true(str1s(RF_CRIT_PREFIX, 0, "a.*(b[", "a.*(b[c"));
    assert_false(str1s(RF_CRIT_PREFIX, 0, "a.*(b[", "axxxb[c"));
    assert_false(str1s(RF_CRIT_PREFIX, 0, "a.c", "abc"));

    assert_true(str1s(RF_CRIT_SUFFIX, 0, "\\rundll32.exe", "C:\\Windows\\rundll32.exe"));
    assert_true(str1s(RF_CRIT_SUFFIX, NC, "\\rundll32.exe", "C:\\WINDOWS\\RUNDLL32.EXE"));
    assert_false(str1s(RF_CRIT_SUFFIX, 0, "\\rundll32.exe", "C:\\WINDOWS\\RUNDLL32.EXE"));
    assert_false(str1s(RF_CRIT_SUFFIX, 0, ".exe", "a.exe.bak"));
    /* suffix is the very end: not before a trailing newline */
    assert_false(str1s(RF_CRIT_SUFFIX, 0, ".exe", "a.exe\n"));
    assert_false(str1s(RF_CRIT_SUFFIX, 0, "x.exe", "xexe"));

    assert_true(str1s(RF_CRIT_CONTAINS, 0, "(", "a(b"));
    assert_true(str1s(RF_CRIT_CONTAINS, 0, "[*]", "x[*]y"));
    assert_false(str1s(RF_CRIT_CONTAINS, 0, "[*]", "x[a]y"));
    assert_true(str1s(RF_CRIT_CONTAINS, 0, "\\", "C:\\"));
    assert_true(str1s(RF_CRIT_CONTAINS, NC, "MsAgent", "\\\\.\\pipe\\MSAGENT_1"));
    assert_false(str1s(RF_CRIT_CONTAINS, 0, "MsAgent", "\\\\.\\pipe\\MSAGENT_1"));
    /* bytes above 0x7f and an embedded NUL in the input */
    assert_true(str1s(RF_CRIT_CONTAINS, 0, "\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"));
    assert_true(str1(RF_CRIT_CONTAINS, 0, "b", SN("a\0b", 3)));
    assert_true(str1(RF_CRIT_SUFFIX, 0, "b", SN("a\0b", 3)));
    assert_false(str1(RF_CRIT_PREFIX, 0, "ab", SN("a\0b", 3)));
}

static void test_equals_one_of_string(void **state)
{
    (void)state;
    assert_true(str1s(RF_CRIT_EQUALS, 0, "abc", "abc"));
    assert_false(str1s(RF_CRIT_EQUALS, 0, "abc", "abcd"));
    assert_false(str1s(RF_CRIT_EQUALS, 0, "abc", "ABC"));
    assert_true(str1s(RF_CRIT_EQUALS, NC, "abc", "ABC"));
    assert_true(str1s(RF_CRIT_EQUALS, NC, "C:\\Win", "c:\\WIN"));
    assert_false(str1s(RF_CRIT_EQUALS, NC, "abc", "abd"));
    assert_false(str1(RF_CRIT_EQUALS, 0, "ab", SN("ab\0", 3)));
    /* longer than any value: cannot be equal (and the scratch is not overrun) */
    static char big[RF_MAX_STRING * 2 + 1];
    memset(big, 'A', sizeof(big) - 1);
    assert_false(str1s(RF_CRIT_EQUALS, NC, "aaa", big));

    rf_channel *ch = ch_new();
    rf_crit *c = inst_add_crit(ch_add_inst(ch, "one"), 0, RF_CRIT_ONE_OF, RF_VAL_STRING, 0);
    crit_add_str(c, "alpha");
    crit_add_str(c, "beta");
    crit_add_str(c, "beta"); /* duplicate within one criterion counts once */
    c = inst_add_crit(ch_add_inst(ch, "two"), 0, RF_CRIT_ONE_OF, RF_VAL_STRING, NC);
    crit_add_str(c, "BETA");
    crit_add_str(c, "Gamma");
    rf_interp *ip = build_ok(ch, 1);
    ch_free(ch);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    uint32_t m[64];
    rf_input in = S("alpha");
    assert_int_equal(eval(ip, scr, &in, 1, m), 1);
    assert_int_equal(m[0], 0);
    in = S("beta");
    assert_int_equal(eval(ip, scr, &in, 1, m), 2);
    assert_int_equal(m[0], 0);
    assert_int_equal(m[1], 1);
    in = S("GAMMA");
    assert_int_equal(eval(ip, scr, &in, 1, m), 1);
    assert_int_equal(m[0], 1);
    in = S("Beta");
    assert_int_equal(eval(ip, scr, &in, 1, m), 1);
    assert_int_equal(m[0], 1);
    in = S("delta");
    assert_int_equal(eval(ip, scr, &in, 1, m), 0);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

static void test_glob(void **state)
{
    (void)state;
    /* backslashes are literal; whole value */
    assert_true(str1s(RF_CRIT_GLOB, NC, "\\\\.\\pipe\\msagent_*", "\\\\.\\pipe\\MSAGENT_5a"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "\\\\.\\pipe\\msagent_*", "\\\\.\\pipe\\MSAGENT_5a"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "\\\\.\\pipe\\msagent_*", "x\\\\.\\pipe\\msagent_5a"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "\\\\.\\pipe\\msagent_*", "\\\\.\\pipe\\msagentX5a"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "\\d", "5"));
    assert_true(str1s(RF_CRIT_GLOB, 0, "\\d", "\\d"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "abc", "abcd"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "abc", "xabc"));
    assert_true(str1s(RF_CRIT_GLOB, 0, "abc", "abc"));
    /* '*' includes the empty run, and newlines */
    assert_true(str1s(RF_CRIT_GLOB, 0, "a*b", "ab"));
    assert_true(str1s(RF_CRIT_GLOB, 0, "a*b", "a\nxx\nb"));
    assert_true(str1s(RF_CRIT_GLOB, 0, "a**b", "ab"));
    assert_true(str1s(RF_CRIT_GLOB, 0, "*", ""));
    assert_true(str1s(RF_CRIT_GLOB, 0, "*", "anything"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "a*", "ba"));
    /* '?' is exactly one UTF-8 character */
    assert_true(str1s(RF_CRIT_GLOB, 0, "a?c", "abc"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "a?c", "ac"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "a?c", "abbc"));
    assert_true(str1s(RF_CRIT_GLOB, 0, "a?c", "a\xc3\xa9" "c"));         /* é, 2 bytes */
    assert_true(str1s(RF_CRIT_GLOB, 0, "a?c", "a\xe2\x82\xac" "c"));     /* €, 3 bytes */
    assert_true(str1s(RF_CRIT_GLOB, 0, "a?c", "a\xf0\x9f\x98\x80" "c")); /* 4 bytes */
    assert_false(str1s(RF_CRIT_GLOB, 0, "a??c", "a\xc3\xa9" "c"));
    assert_true(str1s(RF_CRIT_GLOB, 0, "?", "\n"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "?", ""));
    assert_false(str1s(RF_CRIT_GLOB, 0, "?", "\xff")); /* not a character */
    /* regex metacharacters are literal */
    assert_true(str1s(RF_CRIT_GLOB, 0, "a.(b)[c]+", "a.(b)[c]+"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "a.(b)[c]+", "aX(b)cc"));
    assert_true(str1s(RF_CRIT_GLOB, 0, "C:\\*\\*.exe", "C:\\Windows\\a.exe"));
    assert_false(str1s(RF_CRIT_GLOB, 0, "C:\\*\\*.exe", "C:\\a.exe"));
    /* whole value means the very end, not before a trailing newline */
    assert_false(str1s(RF_CRIT_GLOB, 0, "abc", "abc\n"));
}

static void test_regex(void **state)
{
    (void)state;
    assert_true(str1s(RF_CRIT_REGEX, 0, "b+c", "xxabbbcyy"));  /* anywhere */
    assert_false(str1s(RF_CRIT_REGEX, 0, "^b+c", "abbc"));     /* anchored */
    assert_true(str1s(RF_CRIT_REGEX, 0, "^ab+c$", "abbc"));
    assert_false(str1s(RF_CRIT_REGEX, 0, "^ab+c$", "abbcd"));
    assert_true(str1s(RF_CRIT_REGEX, 0, "msagent_[0-9a-f]{2}$", "\\\\.\\pipe\\msagent_5a"));
    assert_false(str1s(RF_CRIT_REGEX, 0, "msagent_[0-9a-f]{2}$", "\\\\.\\pipe\\MSAGENT_5A"));
    assert_true(str1s(RF_CRIT_REGEX, NC, "msagent_[0-9a-f]{2}$", "\\\\.\\pipe\\MSAGENT_5A"));
    /* as written: '.' does not match newline unless (?s) */
    assert_false(str1s(RF_CRIT_REGEX, 0, "a.b", "a\nb"));
    assert_true(str1s(RF_CRIT_REGEX, 0, "(?s)a.b", "a\nb"));
    /* a regex that can match empty matches every string, the empty one too */
    assert_true(str1s(RF_CRIT_REGEX, 0, "x*", ""));
    assert_true(str1s(RF_CRIT_REGEX, 0, "x*", "abc"));
}

static void test_int_kinds(void **state)
{
    (void)state;
    rf_channel *ch = ch_new();
    add_int(ch_add_inst(ch, "eq4"), 0, RF_CRIT_EQUALS, 4);
    rf_crit *c = inst_add_crit(ch_add_inst(ch, "oneof"), 0, RF_CRIT_ONE_OF, RF_VAL_INT, 0);
    crit_add_int(c, 4);
    crit_add_int(c, INT64_MIN);
    crit_add_int(c, 4);
    crit_add_int(c, -7);
    add_range(ch_add_inst(ch, "r1"), 0, 1, 65535);
    add_range(ch_add_inst(ch, "rneg"), 0, INT64_MIN, -1);
    add_range(ch_add_inst(ch, "rpoint"), 0, 100, 100);
    add_range(ch_add_inst(ch, "rmax"), 0, INT64_MAX - 1, INT64_MAX);
    rf_interp *ip = build_ok(ch, 1);
    ch_free(ch);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    uint32_t m[64];
    struct {
        int64_t v;
        uint32_t n;
        uint32_t want[4];
    } cases[] = {
        {4, 3, {0, 1, 2}},     {-7, 2, {1, 3}},     {INT64_MIN, 2, {1, 3}},
        {0, 0, {0}},           {1, 1, {2}},         {65535, 1, {2}},
        {65536, 0, {0}},       {100, 2, {2, 4}},    {-1, 1, {3}},
        {INT64_MAX, 1, {5}},   {INT64_MAX - 2, 0, {0}},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        rf_input in = I(cases[k].v);
        uint32_t n = eval(ip, scr, &in, 1, m);
        if (n != cases[k].n)
            fail_msg("value %lld: %u matches, want %u", (long long)cases[k].v, n, cases[k].n);
        for (uint32_t j = 0; j < n; j++)
            assert_int_equal(m[j], cases[k].want[j]);
    }
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

/* Many ranges (several blocks), checked against a linear scan. */
static void test_many_ranges(void **state)
{
    (void)state;
    rf_channel *ch = ch_new();
    int64_t lo[300], hi[300];
    uint64_t x = 12345;
    for (int i = 0; i < 300; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        lo[i] = (int64_t)((x >> 33) % 1000) - 500;
        hi[i] = lo[i] + (int64_t)((x >> 13) % 200);
        char id[16];
        snprintf(id, sizeof(id), "r%d", i);
        add_range(ch_add_inst(ch, id), 0, lo[i], hi[i]);
    }
    rf_interp *ip = build_ok(ch, 1);
    ch_free(ch);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    uint32_t m[300];
    for (int64_t v = -600; v <= 800; v += 7) {
        rf_input in = I(v);
        uint32_t nm = 0;
        assert_int_equal(rf_interp_eval(ip, scr, &in, 1, m, 300, &nm), RF_OK);
        uint32_t want = 0;
        for (int i = 0; i < 300; i++)
            if (lo[i] <= v && v <= hi[i]) {
                assert_true(want < nm);
                assert_int_equal(m[want], i);
                want++;
            }
        assert_int_equal(nm, want);
    }
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

static void test_empty_input(void **state)
{
    (void)state;
    assert_true(str1s(RF_CRIT_GLOB, 0, "*", ""));
    assert_false(str1s(RF_CRIT_GLOB, 0, "?*", ""));
    assert_true(str1s(RF_CRIT_EQUALS, 0, "", ""));
    assert_false(str1s(RF_CRIT_EQUALS, 0, "a", ""));
    assert_true(str1s(RF_CRIT_PREFIX, 0, "", ""));
    assert_true(str1s(RF_CRIT_PREFIX, 0, "", "abc"));
    assert_true(str1s(RF_CRIT_CONTAINS, 0, "", ""));
    assert_false(str1s(RF_CRIT_CONTAINS, 0, "a", ""));
    assert_false(str1s(RF_CRIT_SUFFIX, 0, "a", ""));
    assert_false(str1s(RF_CRIT_REGEX, 0, "a", ""));
    /* an empty string with a NULL pointer is still the empty string */
    assert_true(str1(RF_CRIT_GLOB, 0, "*", SN(NULL, 0)));
}

static void test_absent_and_type_mismatch(void **state)
{
    (void)state;
    rf_channel *ch = ch_new();
    add_str(ch_add_inst(ch, "s"), 0, RF_CRIT_GLOB, 0, "*");
    add_int(ch_add_inst(ch, "i"), 1, RF_CRIT_EQUALS, 5);
    add_range(ch_add_inst(ch, "r"), 1, INT64_MIN, INT64_MAX);
    add_str(ch_add_inst(ch, "e"), 0, RF_CRIT_EQUALS, 0, "5");
    rf_interp *ip = build_ok(ch, 2);
    ch_free(ch);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    uint32_t m[64];
    rf_input in[2] = {S("5"), I(5)};
    assert_int_equal(eval(ip, scr, in, 2, m), 4);
    in[0] = ABSENT;
    in[1] = ABSENT;
    assert_int_equal(eval(ip, scr, in, 2, m), 0);
    in[0] = I(5);     /* int where a string is expected */
    in[1] = S("5");   /* string where an int is expected */
    assert_int_equal(eval(ip, scr, in, 2, m), 0);
    in[0] = S("x");
    in[1] = I(6);
    assert_int_equal(eval(ip, scr, in, 2, m), 2);
    assert_int_equal(m[0], 0);
    assert_int_equal(m[1], 2);
    /* unknown input type: treated as absent */
    in[0].type = (rf_value_type)77;
    assert_int_equal(eval(ip, scr, in, 2, m), 1);
    assert_int_equal(m[0], 2);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

static void test_zero_criteria_instance(void **state)
{
    (void)state;
    rf_channel *ch = ch_new();
    add_str(ch_add_inst(ch, "a"), 0, RF_CRIT_EQUALS, 0, "x");
    ch_add_inst(ch, "always");
    rf_instance *w = ch_add_inst(ch, "explicit-any");
    inst_add_crit(w, 3, RF_CRIT_ANY, RF_VAL_STRING, 0); /* a wildcard, even past inputs */
    rf_interp *ip = build_ok(ch, 1);
    ch_free(ch);
    assert_int_equal(rf_interp_inputs_required(ip), 1);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    uint32_t m[64];
    rf_input in = S("y");
    assert_int_equal(eval(ip, scr, &in, 1, m), 2);
    assert_int_equal(m[0], 1);
    assert_int_equal(m[1], 2);
    in = S("x");
    assert_int_equal(eval(ip, scr, &in, 1, m), 3);
    assert_int_equal(m[0], 0);
    assert_int_equal(m[1], 1);
    assert_int_equal(m[2], 2);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);

    /* a channel of only wildcard instances needs no input at all */
    ch = ch_new();
    ch_add_inst(ch, "all");
    ip = build_ok(ch, 0);
    ch_free(ch);
    assert_int_equal(rf_interp_inputs_required(ip), 0);
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    assert_int_equal(eval(ip, scr, NULL, 0, m), 1);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

static void test_shared_field(void **state)
{
    (void)state;
    /* 200 instances on one field, several criteria per instance, one_of
     * values shared across instances */
    rf_channel *ch = ch_new();
    for (int i = 0; i < 200; i++) {
        char id[32], v[32];
        snprintf(id, sizeof(id), "inst-%03d", i);
        rf_instance *in = ch_add_inst(ch, id);
        snprintf(v, sizeof(v), "\\\\.\\pipe\\p%d_*", i % 10);
        add_str(in, 0, RF_CRIT_GLOB, NC, v);
        rf_crit *c = inst_add_crit(in, 1, RF_CRIT_ONE_OF, RF_VAL_STRING, 0);
        crit_add_str(c, "rundll32.exe");
        snprintf(v, sizeof(v), "img%d.exe", i % 3);
        crit_add_str(c, v);
        add_range(in, 2, i, i + 10);
    }
    rf_interp *ip = build_ok(ch, 3);
    ch_free(ch);
    assert_int_equal(rf_interp_ninstances(ip), 200);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    uint32_t m[64];
    rf_input in[3] = {S("\\\\.\\PIPE\\p3_zz"), S("rundll32.exe"), I(50)};
    /* i % 10 == 3 and 40 <= i <= 50 -> 43 */
    assert_int_equal(eval(ip, scr, in, 3, m), 1);
    assert_int_equal(m[0], 43);
    in[1] = S("img1.exe"); /* i % 3 == 1 too: 43 % 3 == 1 */
    assert_int_equal(eval(ip, scr, in, 3, m), 1);
    in[1] = S("img0.exe");
    assert_int_equal(eval(ip, scr, in, 3, m), 0);
    in[2] = I(150); /* 140..150 with i%10==3: 143 */
    in[1] = S("rundll32.exe");
    assert_int_equal(eval(ip, scr, in, 3, m), 1);
    assert_int_equal(m[0], 143);
    assert_string_equal(rf_interp_instance_id(ip, 143), "inst-143");
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

/* ---- the two input checks ---- */

static rf_channel *channel_291(void)
{
    rf_channel *ch = ch_new();
    rf_instance *a = ch_add_inst(ch, "pipe-c2-001");
    add_str(a, 0, RF_CRIT_GLOB, NC, "\\\\.\\pipe\\msagent_*");
    rf_instance *b = ch_add_inst(ch, "pipe-c2-291");
    add_str(b, 0, RF_CRIT_PREFIX, 0, "\\\\.\\pipe\\");
    add_str(b, 20, RF_CRIT_EQUALS, 0, "x"); /* field_21, index 20 */
    return ch;
}

static void test_load_time_check(void **state)
{
    (void)state;
    rf_channel *ch = channel_291();
    manifest mf;
    mf_init(&mf, 20);
    rf_interp *ip = (rf_interp *)0x1;
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, &err), RF_E_CAPABILITY);
    assert_ptr_equal(ip, (rf_interp *)0x1); /* untouched on failure */
    assert_int_equal(err.rc, RF_E_CAPABILITY);
    assert_string_equal(err.msg, "instance 'pipe-c2-291' criterion on field 'field_21' "
                                 "(index 20) needs input 21, but sensor 7.11.18110 "
                                 "supplies 20 inputs");

    mf_init(&mf, 21);
    ip = NULL;
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, &err), RF_OK);
    assert_int_equal(rf_interp_inputs_required(ip), 21);
    assert_int_equal(rf_interp_inputs_supplied(ip), 21);
    rf_interp_free(ip);
    ch_free(ch);
}

static void test_run_time_check(void **state)
{
    (void)state;
    rf_channel *ch = channel_291();
    rf_interp *ip = build_ok(ch, 21);
    ch_free(ch);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    /* exactly 20 inputs on the heap: under ASan a read of inputs[20] aborts */
    rf_input *in = malloc(20 * sizeof(*in));
    assert_non_null(in);
    for (int i = 0; i < 20; i++)
        in[i] = S("\\\\.\\pipe\\msagent_1");
    uint32_t m[4] = {7, 7, 7, 7}, nm = 99;
    assert_int_equal(rf_interp_eval(ip, scr, in, 20, m, 4, &nm), RF_E_INPUT);
    assert_int_equal(nm, 0);
    assert_int_equal(m[0], 7);
    assert_int_equal(rf_interp_eval(ip, scr, in, 0, m, 4, &nm), RF_E_INPUT);
    assert_int_equal(nm, 0);
    free(in);

    in = malloc(21 * sizeof(*in));
    assert_non_null(in);
    for (int i = 0; i < 21; i++)
        in[i] = S("\\\\.\\pipe\\msagent_1");
    assert_int_equal(rf_interp_eval(ip, scr, in, 21, m, 4, &nm), RF_OK);
    assert_int_equal(nm, 1);
    assert_int_equal(m[0], 0);
    in[20] = S("x");
    assert_int_equal(rf_interp_eval(ip, scr, in, 21, m, 4, &nm), RF_OK);
    assert_int_equal(nm, 2);
    free(in);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

static void test_notfound(void **state)
{
    (void)state;
    rf_channel *ch = channel_291();
    manifest mf;
    mf_init(&mf, 30);
    mf.sup.version = 2;
    rf_interp *ip = NULL;
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, &err), RF_E_NOTFOUND);
    assert_null(ip);
    assert_non_null(strstr(err.msg, "7.11.18110"));
    assert_non_null(strstr(err.msg, TYPE));
    mf_init(&mf, 30);
    mf.sup.name = (char *)"other_type";
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, &err), RF_E_NOTFOUND);
    mf.m.nsupports = 0;
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, &err), RF_E_NOTFOUND);
    ch_free(ch);
}

/* ---- patterns and structure ---- */

static void test_bad_regex(void **state)
{
    (void)state;
    rf_channel *ch = ch_new();
    add_str(ch_add_inst(ch, "good"), 0, RF_CRIT_REGEX, 0, "ab+c");
    rf_crit *bad = add_str(ch_add_inst(ch, "backref"), 0, RF_CRIT_REGEX, 0, "(a)\\1");
    manifest mf;
    mf_init(&mf, 1);
    rf_interp *ip = NULL;
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, &err), RF_E_PATTERN);
    assert_null(ip);
    assert_non_null(strstr(err.msg, "backref"));
    assert_non_null(strstr(err.msg, "field_1"));
    assert_non_null(strstr(err.msg, "Back-reference"));

    assert_int_equal(rf_interp_check_crit(bad, &err), RF_E_PATTERN);
    assert_non_null(strstr(err.msg, "Back-reference"));
    assert_int_equal(rf_interp_check_crit(&ch->instances[0].crits[0], &err), RF_OK);
    ch_free(ch);

    /* unbalanced parenthesis; over-long regex; non-pattern kinds */
    ch = ch_new();
    rf_instance *in = ch_add_inst(ch, "x");
    rf_crit *c1 = add_str(in, 0, RF_CRIT_REGEX, 0, "(ab");
    assert_int_equal(rf_interp_check_crit(c1, &err), RF_E_PATTERN);
    char longre[RF_MAX_REGEX + 2];
    memset(longre, 'a', sizeof(longre) - 1);
    longre[sizeof(longre) - 1] = '\0';
    rf_crit *c2 = add_str(in, 1, RF_CRIT_REGEX, 0, longre);
    assert_int_equal(rf_interp_check_crit(c2, &err), RF_E_LIMIT);
    rf_crit *c3 = add_int(in, 2, RF_CRIT_EQUALS, 1);
    assert_int_equal(rf_interp_check_crit(c3, &err), RF_OK);
    rf_crit *c4 = add_str(in, 3, RF_CRIT_GLOB, NC, "a*b?c\\(");
    assert_int_equal(rf_interp_check_crit(c4, &err), RF_OK);
    assert_int_equal(rf_interp_check_crit(NULL, &err), RF_E_USAGE);
    ch_free(ch);
}

/* Build a 1-instance channel whose criterion is then broken by `breakit`. */
static rf_rc build_broken(void (*breakit)(rf_crit *), rf_err *err)
{
    rf_channel *ch = ch_new();
    rf_instance *in = ch_add_inst(ch, "broken");
    rf_crit *c = inst_add_crit(in, 0, RF_CRIT_RANGE, RF_VAL_INT, 0);
    crit_add_int(c, 1);
    crit_add_int(c, 2);
    breakit(c);
    manifest mf;
    mf_init(&mf, 1);
    rf_interp *ip = NULL;
    rf_rc rc = rf_interp_build(ch, &mf.m, &ip, err);
    rf_interp_free(ip);
    if (rc != RF_OK)
        assert_null(ip);
    /* restore what ch_free needs */
    ch_free(ch);
    return rc;
}

static void br_nvals(rf_crit *c) { c->nvals = 1; }
static void br_lohi(rf_crit *c) { c->vals[0].i = 5; }
static void br_vtype(rf_crit *c) { c->vtype = RF_VAL_STRING; }
static void br_kind(rf_crit *c) { c->kind = (rf_crit_kind)42; }
static void br_flags(rf_crit *c) { c->flags = RF_CRIT_NOCASE; }
static void br_valtype(rf_crit *c) { c->vals[1].type = RF_VAL_ABSENT; }
static void br_pattern_int(rf_crit *c) { c->kind = RF_CRIT_PREFIX; }
static void br_nothing(rf_crit *c) { (void)c; }

static void test_structure_checks(void **state)
{
    (void)state;
    rf_err err;
    assert_int_equal(build_broken(br_nothing, &err), RF_OK);
    assert_int_equal(build_broken(br_nvals, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "broken"));
    assert_int_equal(build_broken(br_lohi, &err), RF_E_SCHEMA);
    assert_int_equal(build_broken(br_vtype, &err), RF_E_SCHEMA);
    assert_int_equal(build_broken(br_kind, &err), RF_E_SCHEMA);
    assert_int_equal(build_broken(br_flags, &err), RF_E_SCHEMA);
    assert_int_equal(build_broken(br_valtype, &err), RF_E_SCHEMA);
    assert_int_equal(build_broken(br_pattern_int, &err), RF_E_SCHEMA);

    manifest mf;
    mf_init(&mf, 1);
    rf_interp *ip = NULL;
    assert_int_equal(rf_interp_build(NULL, &mf.m, &ip, &err), RF_E_USAGE);
    rf_channel *ch = ch_new();
    rf_instance *in = ch_add_inst(ch, "bad-action");
    in->action = (rf_action)9;
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, &err), RF_E_SCHEMA);
    in->action = RF_ACTION_BLOCK;
    in->severity = (rf_severity)0;
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, &err), RF_E_SCHEMA);
    in->severity = RF_SEV_CRITICAL;
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, &err), RF_OK);
    assert_int_equal(rf_interp_instance_action(ip, 0), RF_ACTION_BLOCK);
    assert_int_equal(rf_interp_instance_severity(ip, 0), RF_SEV_CRITICAL);
    assert_null(rf_interp_instance_id(ip, 1));
    rf_interp_free(ip);
    /* string value longer than RF_MAX_STRING */
    char *big = malloc(RF_MAX_STRING + 2);
    assert_non_null(big);
    memset(big, 'a', RF_MAX_STRING + 1);
    big[RF_MAX_STRING + 1] = '\0';
    add_str(in, 0, RF_CRIT_EQUALS, 0, big);
    free(big);
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, &err), RF_E_LIMIT);
    ch_free(ch);
}

/* ---- output ---- */

static void test_order_and_cap(void **state)
{
    (void)state;
    rf_channel *ch = ch_new();
    /* instances interleaved across kinds so hits arrive out of order */
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof(id), "i%02d", i);
        rf_instance *in = ch_add_inst(ch, id);
        switch (i % 4) {
        case 0: add_range(in, 1, 0, 10); break;
        case 1: add_str(in, 0, RF_CRIT_CONTAINS, 0, "b"); break;
        case 2: add_str(in, 0, RF_CRIT_EQUALS, 0, "abc"); break;
        case 3: break; /* always */
        }
    }
    rf_interp *ip = build_ok(ch, 2);
    ch_free(ch);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    rf_input in[2] = {S("abc"), I(5)};
    uint32_t m[40], nm = 0;
    assert_int_equal(rf_interp_eval(ip, scr, in, 2, m, 40, &nm), RF_OK);
    assert_int_equal(nm, 40);
    for (uint32_t k = 0; k < 40; k++)
        assert_int_equal(m[k], k);
    /* cap smaller than the count: the first `cap` in order, count still full */
    uint32_t small[5] = {0};
    uint32_t sentinel = 0xdeadbeef;
    uint32_t guard[6];
    memcpy(guard, small, sizeof(small));
    guard[5] = sentinel;
    assert_int_equal(rf_interp_eval(ip, scr, in, 2, guard, 5, &nm), RF_OK);
    assert_int_equal(nm, 40);
    for (uint32_t k = 0; k < 5; k++)
        assert_int_equal(guard[k], k);
    assert_int_equal(guard[5], sentinel);
    /* cap 0 with no array */
    assert_int_equal(rf_interp_eval(ip, scr, in, 2, NULL, 0, &nm), RF_OK);
    assert_int_equal(nm, 40);
    in[0] = S("xyz");
    in[1] = I(50);
    assert_int_equal(rf_interp_eval(ip, scr, in, 2, m, 40, &nm), RF_OK);
    assert_int_equal(nm, 10);
    for (uint32_t k = 0; k < 10; k++)
        assert_int_equal(m[k], 4 * k + 3);
    /* a scratch of another interpreter is refused */
    rf_interp *other = build_ok((ch = ch_new(), ch), 0);
    ch_free(ch);
    assert_int_equal(rf_interp_eval(other, scr, in, 2, m, 40, &nm), RF_E_USAGE);
    rf_interp_free(other);
    assert_true(rf_interp_memory(ip) > 0);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

/* Vectorscan 5.4.9 with HS_FLAG_SINGLEMATCH misses short literals and
 * regexes past byte ~64 (found by fuzz_glob); the interpreter must not. */
static void test_vectorscan_singlematch_bug(void **state)
{
    (void)state;
    char in[300];
    for (int pre = 0; pre < 260; pre += 7) {
        memset(in, '\xff', (size_t)pre);
        memcpy(in + pre, "\\x", 3);
        rf_input v = SN(in, (uint32_t)pre + 2);
        if (!str1(RF_CRIT_CONTAINS, 0, "\\", v))
            fail_msg("contains '\\' missed after %d bytes", pre);
        memset(in, 'q', (size_t)pre);
        memcpy(in + pre, "abbx", 5);
        v = SN(in, (uint32_t)pre + 4);
        if (!str1(RF_CRIT_CONTAINS, NC, "X", v))
            fail_msg("contains 'X' nocase missed after %d bytes", pre);
        if (!str1(RF_CRIT_REGEX, 0, "ab+", v))
            fail_msg("regex ab+ missed after %d bytes", pre);
        if (!str1(RF_CRIT_GLOB, 0, "*bx", v))
            fail_msg("glob *bx missed after %d bytes", pre);
    }
}

/* Vectorscan 5.4.9 misses \A<lit>.*<lit>\z and \A<lit>.*<lit>(?:UTF-8 char)\z
 * (dot-all star, both anchors) past 66 input bytes, in every scan mode (found by
 * fuzz_glob: glob "a*b?" against "a" + 111 bytes + "b "). Such globs are
 * confirmed by rfinterp_glob_match instead; these must all match. */
static void test_vectorscan_anchored_dotall_bug(void **state)
{
    (void)state;
    char in[300];
    for (int n = 0; n < 260; n += 3) {
        in[0] = 'a';
        memset(in + 1, n % 2 ? '\xff' : 'x', (size_t)n);
        memcpy(in + 1 + n, "b ", 2);
        rf_input v = SN(in, (uint32_t)n + 3);
        if (!str1(RF_CRIT_GLOB, 0, "a*b?", v))
            fail_msg("glob a*b? missed with %d bytes between", n);
        if (!str1(RF_CRIT_GLOB, NC, "A*B?", v))
            fail_msg("glob A*B? nocase missed with %d bytes between", n);
        if (!str1(RF_CRIT_GLOB, 0, "a*b ", v))
            fail_msg("glob 'a*b ' missed with %d bytes between", n);
        if (!str1(RF_CRIT_GLOB, 0, "?*b?", v))
            fail_msg("glob ?*b? missed with %d bytes between", n);
        if (!str1(RF_CRIT_GLOB, 0, "a*x*?", v) != !(n > 0 && n % 2 == 0))
            fail_msg("glob a*x*? wrong with %d bytes between", n);
    }
}

static void test_epoch_wrap(void **state)
{
    (void)state;
    rf_channel *ch = ch_new();
    rf_instance *a = ch_add_inst(ch, "two");
    add_str(a, 0, RF_CRIT_PREFIX, 0, "ab");
    add_int(a, 1, RF_CRIT_EQUALS, 1);
    rf_interp *ip = build_ok(ch, 2);
    ch_free(ch);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    rf_input yes[2] = {S("abc"), I(1)}, half[2] = {S("abc"), I(2)};
    rfinterp_scratch_set_epoch(scr, UINT32_MAX - 3);
    /* half matches leave stale stamps; a full match must still need both */
    for (int k = 0; k < 8; k++) {
        assert_int_equal(eval(ip, scr, half, 2, NULL), 0);
        assert_int_equal(eval(ip, scr, yes, 2, NULL), 1);
    }
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

/* ---- randomized cross-check against a naive reference ---- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* Tokens strings are made of: ASCII of both cases, regex/glob metacharacters,
 * a 2-byte UTF-8 character, an invalid byte, and a backslash. */
static const char *const TOK[] = {"a", "b", "c", "A", "B", ".", "*", "?", "\\",
                                  "(", "\xc3\xa9", "\xff", "x"};
#define NTOK (sizeof(TOK) / sizeof(TOK[0]))

static void rand_str(char *buf, size_t cap, uint32_t maxtok)
{
    size_t n = 0;
    uint32_t k = rnd(maxtok + 1);
    buf[0] = '\0';
    for (uint32_t i = 0; i < k; i++) {
        const char *t = TOK[rnd(NTOK)];
        size_t l = strlen(t);
        if (n + l + 1 > cap)
            break;
        memcpy(buf + n, t, l + 1);
        n += l;
    }
}

/* Regexes meaning the same in Vectorscan and POSIX ERE on these inputs
 * (no newlines, so '$' is the end in both). */
static const char *const REGEXES[] = {"a.c", "^ab", "b+a", "(ab|ba)c", "[A-C]x",
                                      "ca$", "a{2}", "^$", "\\.\\*", "x|é"};
#define NREGEX (sizeof(REGEXES) / sizeof(REGEXES[0]))

static unsigned char fold(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static int bytes_eq(const char *a, const char *b, size_t n, int nocase)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (nocase ? fold(x) != fold(y) : x != y)
            return 0;
    }
    return 1;
}

/* Length of one UTF-8-shaped character at s (0 if none). */
static size_t utf8_one(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 0;
    size_t need = s[0] < 0x80 ? 1 : s[0] >= 0xc0 && s[0] <= 0xdf ? 2
                : s[0] >= 0xe0 && s[0] <= 0xef                  ? 3
                : s[0] >= 0xf0 && s[0] <= 0xf7                  ? 4
                                                                : 0;
    if (need == 0 || need > n)
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return need;
}

static int ref_glob(const char *p, size_t pn, const char *s, size_t sn, int nocase)
{
    if (pn == 0)
        return sn == 0;
    if (p[0] == '*') {
        for (size_t k = 0; k <= sn; k++)
            if (ref_glob(p + 1, pn - 1, s + k, sn - k, nocase))
                return 1;
        return 0;
    }
    if (p[0] == '?') {
        size_t l = utf8_one((const unsigned char *)s, sn);
        return l && ref_glob(p + 1, pn - 1, s + l, sn - l, nocase);
    }
    return sn && bytes_eq(p, s, 1, nocase) && ref_glob(p + 1, pn - 1, s + 1, sn - 1, nocase);
}

static int ref_crit(const rf_crit *c, const rf_input *in)
{
    if (in->type != c->vtype)
        return 0;
    int nc = (c->flags & RF_CRIT_NOCASE) != 0;
    if (c->vtype == RF_VAL_INT) {
        switch (c->kind) {
        case RF_CRIT_EQUALS: return in->i == c->vals[0].i;
        case RF_CRIT_ONE_OF:
            for (uint32_t k = 0; k < c->nvals; k++)
                if (in->i == c->vals[k].i)
                    return 1;
            return 0;
        case RF_CRIT_RANGE: return c->vals[0].i <= in->i && in->i <= c->vals[1].i;
        default: fail_msg("bad int kind");
        }
    }
    const char *v = c->vals[0].s, *s = in->s;
    size_t vl = c->vals[0].len, sl = in->len;
    switch (c->kind) {
    case RF_CRIT_EQUALS: return vl == sl && bytes_eq(v, s, sl, nc);
    case RF_CRIT_ONE_OF:
        for (uint32_t k = 0; k < c->nvals; k++)
            if (c->vals[k].len == sl && bytes_eq(c->vals[k].s, s, sl, nc))
                return 1;
        return 0;
    case RF_CRIT_PREFIX: return vl <= sl && bytes_eq(v, s, vl, nc);
    case RF_CRIT_SUFFIX: return vl <= sl && bytes_eq(v, s + sl - vl, vl, nc);
    case RF_CRIT_CONTAINS:
        for (size_t k = 0; k + vl <= sl; k++)
            if (bytes_eq(v, s + k, vl, nc))
                return 1;
        return 0;
    case RF_CRIT_GLOB: return ref_glob(v, vl, s, sl, nc);
    case RF_CRIT_REGEX: {
        regex_t re;
        assert_int_equal(regcomp(&re, v, REG_EXTENDED | REG_NOSUB | (nc ? REG_ICASE : 0)), 0);
        char buf[512];
        assert_true(sl < sizeof(buf));
        memcpy(buf, s, sl);
        buf[sl] = '\0';
        int r = regexec(&re, buf, 0, NULL, 0) == 0;
        regfree(&re);
        return r;
    }
    default: fail_msg("bad string kind");
    }
    return 0;
}

#define RF_NFIELDS 6 /* 0..3 strings, 4..5 ints */

static void rand_crit(rf_instance *in, uint16_t field)
{
    if (field >= 4) {
        uint32_t k = rnd(3);
        if (k == 0) {
            add_int(in, field, RF_CRIT_EQUALS, (int64_t)rnd(7) - 3);
        } else if (k == 1) {
            rf_crit *c = inst_add_crit(in, field, RF_CRIT_ONE_OF, RF_VAL_INT, 0);
            uint32_t n = 1 + rnd(4);
            for (uint32_t j = 0; j < n; j++)
                crit_add_int(c, rnd(10) == 0 ? INT64_MIN : (int64_t)rnd(7) - 3);
        } else {
            int64_t lo = (int64_t)rnd(9) - 4;
            add_range(in, field, lo, lo + (int64_t)rnd(4));
        }
        return;
    }
    static const rf_crit_kind kinds[] = {RF_CRIT_EQUALS, RF_CRIT_PREFIX, RF_CRIT_SUFFIX,
                                         RF_CRIT_CONTAINS, RF_CRIT_GLOB, RF_CRIT_REGEX,
                                         RF_CRIT_ONE_OF};
    rf_crit_kind k = kinds[rnd(7)];
    uint8_t flags = rnd(3) == 0 ? RF_CRIT_NOCASE : 0;
    char buf[64];
    if (k == RF_CRIT_REGEX) {
        add_str(in, field, k, flags, REGEXES[rnd(NREGEX)]);
    } else if (k == RF_CRIT_ONE_OF) {
        rf_crit *c = inst_add_crit(in, field, k, RF_VAL_STRING, flags);
        uint32_t n = 1 + rnd(3);
        for (uint32_t j = 0; j < n; j++) {
            rand_str(buf, sizeof(buf), 2);
            crit_add_str(c, buf);
        }
    } else {
        rand_str(buf, sizeof(buf), k == RF_CRIT_GLOB ? 4 : 2);
        add_str(in, field, k, flags, buf);
    }
}

/* The interpreter's matches got[0..nm) for event e must be exactly the
 * instances whose every criterion the reference accepts, in order. */
static void expect_reference(const rf_channel *ch, const rf_input *in, const uint32_t *got,
                             uint32_t nm, uint32_t e)
{
    uint32_t j = 0;
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *inst = &ch->instances[i];
        int ok = 1;
        for (uint32_t k = 0; k < inst->ncrits && ok; k++)
            ok = ref_crit(&inst->crits[k], &in[inst->crits[k].field]);
        if (!ok)
            continue;
        if (j >= nm || got[j] != i)
            fail_msg("event %u: instance %u (%s) should match; interpreter gave %s %u", e, i,
                     inst->id, j < nm ? "instance" : "only", j < nm ? got[j] : nm);
        j++;
    }
    if (j != nm)
        fail_msg("event %u: interpreter gave %u matches, reference %u (extra: %u)", e, nm, j,
                 got[j < nm ? j : 0]);
}

static void test_random_crosscheck(void **state)
{
    (void)state;
    const uint32_t NINST = 1000, NEVENTS = 3000;
    rng_state = 0x9e3779b97f4a7c15ull;
    rf_channel *ch = ch_new();
    for (uint32_t i = 0; i < NINST; i++) {
        char id[16];
        snprintf(id, sizeof(id), "r%u", i);
        rf_instance *in = ch_add_inst(ch, id);
        for (uint16_t f = 0; f < RF_NFIELDS; f++)
            if (rnd(3) == 0)
                rand_crit(in, f);
    }
    rf_interp *ip = build_ok(ch, RF_NFIELDS);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    uint32_t *got = malloc(NINST * sizeof(*got));
    assert_non_null(got);
    char sbuf[RF_NFIELDS][256];
    uint64_t total = 0;
    for (uint32_t e = 0; e < NEVENTS; e++) {
        rf_input in[RF_NFIELDS];
        for (uint32_t f = 0; f < RF_NFIELDS; f++) {
            uint32_t r = rnd(20);
            if (r == 0) {
                in[f] = ABSENT;
            } else if ((f < 4) == (r != 1)) { /* r == 1: wrong type */
                /* a quarter are long: engines change strategy past 64 bytes */
                rand_str(sbuf[f], sizeof(sbuf[f]), rnd(4) ? 5 : 120);
                in[f] = S(sbuf[f]);
            } else {
                in[f] = I((int64_t)rnd(9) - 4);
            }
        }
        uint32_t nm = 0;
        assert_int_equal(rf_interp_eval(ip, scr, in, RF_NFIELDS, got, NINST, &nm), RF_OK);
        expect_reference(ch, in, got, nm, e);
        total += nm;
    }
    /* the test is only meaningful if many events match something */
    assert_true(total > NEVENTS);
    free(got);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
    ch_free(ch);
}

/*
 * Fields the interpreter looks at only when a candidate needs them: 40
 * instances anchored on a unique contains on field 0 also need a value
 * shared by all of them on field 1 (exact table) and a shared suffix on
 * field 2 (database), fields on which no instance is anchored; instance 40's
 * cheapest criterion is a unique value on field 3, the only one there, and
 * it has a unique literal on field 0 too.
 */
static void test_lazy_fields(void **state)
{
    (void)state;
    rf_channel *ch = ch_new();
    char id[16], v[16];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof(id), "l%d", i);
        rf_instance *in = ch_add_inst(ch, id);
        snprintf(v, sizeof(v), "q%dx", i);
        add_str(in, 0, RF_CRIT_CONTAINS, NC, v);
        add_str(in, 1, RF_CRIT_EQUALS, NC, "SameValueLong");
        add_str(in, 2, RF_CRIT_SUFFIX, 0, ".exe");
    }
    rf_instance *in = ch_add_inst(ch, "l40");
    add_str(in, 3, RF_CRIT_EQUALS, NC, "only");
    add_str(in, 0, RF_CRIT_CONTAINS, 0, "q40x");
    rf_interp *ip = build_ok(ch, 4);
    ch_free(ch);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    uint32_t m[64];
    rf_input ev[4] = {S("Q3X q40x"), S("samevaluelonG"), S("a.exe"), S("ONLY")};
    assert_int_equal(eval(ip, scr, ev, 4, m), 2);
    assert_int_equal(m[0], 3);
    assert_int_equal(m[1], 40);
    ev[3] = S("onlY2");
    assert_int_equal(eval(ip, scr, ev, 4, m), 1);
    assert_int_equal(m[0], 3);
    ev[3] = S("only");
    ev[2] = S("a.exe2");
    assert_int_equal(eval(ip, scr, ev, 4, m), 1);
    assert_int_equal(m[0], 40);
    ev[2] = S(".exe");
    ev[1] = S("samevaluelon");
    assert_int_equal(eval(ip, scr, ev, 4, m), 1);
    assert_int_equal(m[0], 40);
    ev[1] = I(7);
    ev[3] = ABSENT;
    assert_int_equal(eval(ip, scr, ev, 4, m), 0);
    ev[1] = S("SAMEVALUELONG");
    assert_int_equal(eval(ip, scr, ev, 4, m), 1);
    assert_int_equal(m[0], 3);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

/* A string input with a NULL pointer and a length is treated as absent, also
 * for "any string" criteria whether they anchor their instance or not. */
static void test_malformed_string_input(void **state)
{
    (void)state;
    rf_channel *ch = ch_new();
    add_str(ch_add_inst(ch, "any"), 0, RF_CRIT_GLOB, 0, "*");
    rf_instance *in = ch_add_inst(ch, "any-and-prefix");
    add_str(in, 0, RF_CRIT_GLOB, 0, "*");
    add_str(in, 1, RF_CRIT_PREFIX, 0, "ab");
    rf_interp *ip = build_ok(ch, 2);
    ch_free(ch);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    uint32_t m[8];
    rf_input ev[2] = {S("x"), S("abc")};
    assert_int_equal(eval(ip, scr, ev, 2, m), 2);
    ev[0] = SN(NULL, 3);
    assert_int_equal(eval(ip, scr, ev, 2, m), 0);
    ev[0] = S("");
    ev[1] = SN(NULL, 2);
    assert_int_equal(eval(ip, scr, ev, 2, m), 1);
    assert_int_equal(m[0], 0);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

/* One criterion many instances carry (see test_shared_anchor_crosscheck). */
typedef struct broad {
    uint16_t field;
    rf_crit_kind kind;
    uint8_t flags;
    const char *s[3]; /* string values (NULL-terminated list), or NULL for ints */
    int64_t i[3];
    uint32_t ni;
} broad;

static const broad BROAD[] = {
    {0, RF_CRIT_CONTAINS, NC, {"a"}, {0}, 0},
    {0, RF_CRIT_SUFFIX, 0, {"b"}, {0}, 0},
    {0, RF_CRIT_PREFIX, NC, {"ab"}, {0}, 0},
    {0, RF_CRIT_GLOB, 0, {"*a*b*"}, {0}, 0},
    {0, RF_CRIT_REGEX, 0, {"a.c"}, {0}, 0},
    {1, RF_CRIT_ONE_OF, NC, {"ab", "ba", "AB"}, {0}, 0},
    {1, RF_CRIT_GLOB, 0, {"*"}, {0}, 0},
    {1, RF_CRIT_GLOB, NC, {"a*"}, {0}, 0},
    {2, RF_CRIT_EQUALS, NC, {"aBcAbCaBcAbCx"}, {0}, 0}, /* > 8 bytes: lower-cased in words */
    {2, RF_CRIT_CONTAINS, 0, {"bc"}, {0}, 0},
    {3, RF_CRIT_SUFFIX, NC, {"c"}, {0}, 0},
    {3, RF_CRIT_REGEX, 0, {"^ab"}, {0}, 0},
    {3, RF_CRIT_GLOB, 0, {"?b*"}, {0}, 0},
    {4, RF_CRIT_RANGE, 0, {NULL}, {-2, 2}, 2},
    {4, RF_CRIT_ONE_OF, 0, {NULL}, {1, 1, 3}, 3},
    {5, RF_CRIT_EQUALS, 0, {NULL}, {0}, 1},
};
#define NBROAD (sizeof(BROAD) / sizeof(BROAD[0]))

static void add_broad(rf_instance *in, const broad *b)
{
    if (!b->s[0]) {
        rf_crit *c = inst_add_crit(in, b->field, b->kind, RF_VAL_INT, 0);
        for (uint32_t k = 0; k < b->ni; k++)
            crit_add_int(c, b->i[k]);
        return;
    }
    rf_crit *c = inst_add_crit(in, b->field, b->kind, RF_VAL_STRING, b->flags);
    for (uint32_t k = 0; k < 3 && b->s[k]; k++)
        crit_add_str(c, b->s[k]);
}

/* Exact values of BROAD, which events carry with their case scrambled. */
static const char *const BROAD_VALS[] = {"ab", "ba", "aBcAbCaBcAbCx", "abc"};

/*
 * The anchor-and-confirm path under sharing: 1,500 instances drawn mostly
 * from 16 broad criteria, so one pattern anchors hundreds of instances, a
 * matching event has hundreds of candidates and matches, fields whose
 * patterns anchor nobody (or few enough to be moved elsewhere) are only
 * scanned on demand, and instances anchored on an int, on "any string" or
 * on nothing sit beside them. The epoch wraps during the run. Every event is
 * checked against ref_crit.
 */
static void test_shared_anchor_crosscheck(void **state)
{
    (void)state;
    const uint32_t NINST = 1500, NEVENTS = 3000;
    rng_state = 0x2545f4914f6cdd1dull;
    rf_channel *ch = ch_new();
    for (uint32_t i = 0; i < NINST; i++) {
        char id[16], buf[64];
        snprintf(id, sizeof(id), "s%u", i);
        rf_instance *in = ch_add_inst(ch, id);
        uint32_t shape = rnd(20);
        if (shape == 0)
            continue; /* no criteria: always a match */
        if (shape == 1) { /* ints only */
            add_broad(in, &BROAD[13 + rnd(3)]);
            if (rnd(2))
                add_broad(in, &BROAD[13 + rnd(3)]);
            continue;
        }
        if (shape == 2) { /* any string only */
            add_broad(in, &BROAD[6]);
            continue;
        }
        uint32_t n = 1 + rnd(4);
        for (uint32_t k = 0; k < n; k++)
            add_broad(in, &BROAD[rnd(NBROAD)]); /* duplicates within an instance too */
        if (rnd(2))
            rand_crit(in, (uint16_t)rnd(3)); /* a narrower criterion on field 0..2 */
        if (rnd(100) == 0) { /* a unique exact value: a field with few anchors */
            snprintf(buf, sizeof(buf), "only-%u", i);
            add_str(in, 2, RF_CRIT_EQUALS, NC, buf);
        }
    }
    rf_interp *ip = build_ok(ch, RF_NFIELDS);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    rfinterp_scratch_set_epoch(scr, UINT32_MAX - NEVENTS / 2);
    uint32_t *got = malloc(NINST * sizeof(*got));
    assert_non_null(got);
    char sbuf[RF_NFIELDS][256];
    uint64_t total = 0;
    uint32_t most = 0;
    for (uint32_t e = 0; e < NEVENTS; e++) {
        rf_input in[RF_NFIELDS];
        for (uint32_t f = 0; f < RF_NFIELDS; f++) {
            uint32_t r = rnd(30);
            if (r == 0) {
                in[f] = ABSENT;
            } else if (r == 1) { /* wrong type */
                in[f] = f < 4 ? I(1) : S("1");
            } else if (f >= 4) {
                in[f] = I((int64_t)rnd(7) - 3);
            } else if (r < 10 && f != 0) {
                const char *v = BROAD_VALS[rnd(sizeof(BROAD_VALS) / sizeof(BROAD_VALS[0]))];
                size_t l = strlen(v);
                for (size_t k = 0; k <= l; k++)
                    sbuf[f][k] = (char)(rnd(2) ? fold((unsigned char)v[k]) : v[k]);
                for (size_t k = 0; k < l; k++)
                    if (rnd(2) && sbuf[f][k] >= 'a' && sbuf[f][k] <= 'z')
                        sbuf[f][k] = (char)(sbuf[f][k] - 32);
                in[f] = S(sbuf[f]);
            } else {
                rand_str(sbuf[f], sizeof(sbuf[f]), rnd(4) ? 6 : 120);
                in[f] = S(sbuf[f]);
            }
        }
        uint32_t nm = 0;
        assert_int_equal(rf_interp_eval(ip, scr, in, RF_NFIELDS, got, NINST, &nm), RF_OK);
        expect_reference(ch, in, got, nm, e);
        total += nm;
        if (nm > most)
            most = nm;
    }
    /* sharing really happened: many matches per event, some events with hundreds */
    assert_true(total > 20ull * NEVENTS);
    assert_true(most > 200);
    free(got);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
    ch_free(ch);
}

static void test_copies_and_facts(void **state)
{
    (void)state;
    rf_channel *ch = ch_new();
    rf_instance *in = ch_add_inst(ch, "keep-me");
    in->action = RF_ACTION_BLOCK;
    in->severity = RF_SEV_LOW;
    add_str(in, 2, RF_CRIT_SUFFIX, 0, "z");
    manifest mf;
    mf_init(&mf, 7);
    rf_interp *ip = NULL;
    assert_int_equal(rf_interp_build(ch, &mf.m, &ip, NULL), RF_OK);
    ch_free(ch); /* the interpreter must not point into the channel */
    assert_string_equal(rf_interp_instance_id(ip, 0), "keep-me");
    assert_int_equal(rf_interp_instance_action(ip, 0), RF_ACTION_BLOCK);
    assert_int_equal(rf_interp_instance_severity(ip, 0), RF_SEV_LOW);
    assert_int_equal(rf_interp_ninstances(ip), 1);
    assert_int_equal(rf_interp_inputs_required(ip), 3);
    assert_int_equal(rf_interp_inputs_supplied(ip), 7);
    rf_interp_scratch *a = NULL, *b = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &a), RF_OK);
    assert_int_equal(rf_interp_scratch_new(ip, &b), RF_OK);
    rf_input ev[3] = {ABSENT, ABSENT, S("zz")};
    assert_int_equal(eval(ip, a, ev, 3, NULL), 1);
    assert_int_equal(eval(ip, b, ev, 3, NULL), 1);
    rf_interp_scratch_free(a);
    rf_interp_scratch_free(b);
    rf_interp_free(ip);
    rf_interp_free(NULL);
    rf_interp_scratch_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_suffix_contains),
        cmocka_unit_test(test_equals_one_of_string),
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_int_kinds),
        cmocka_unit_test(test_many_ranges),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_absent_and_type_mismatch),
        cmocka_unit_test(test_zero_criteria_instance),
        cmocka_unit_test(test_shared_field),
        cmocka_unit_test(test_load_time_check),
        cmocka_unit_test(test_run_time_check),
        cmocka_unit_test(test_notfound),
        cmocka_unit_test(test_bad_regex),
        cmocka_unit_test(test_structure_checks),
        cmocka_unit_test(test_order_and_cap),
        cmocka_unit_test(test_vectorscan_singlematch_bug),
        cmocka_unit_test(test_vectorscan_anchored_dotall_bug),
        cmocka_unit_test(test_epoch_wrap),
        cmocka_unit_test(test_random_crosscheck),
        cmocka_unit_test(test_shared_anchor_crosscheck),
        cmocka_unit_test(test_lazy_fields),
        cmocka_unit_test(test_malformed_string_input),
        cmocka_unit_test(test_copies_and_facts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
