/*
 * channel_test.c — unit tests for lib/channel: the channel file v1 writer and
 * the total reader. They check the round trip field by field, that output is
 * canonical (byte-identical, independent of source and lines), that the
 * writer refuses invalid models, that the reader survives every truncation
 * and every single-byte change of a valid file, that hand-crafted files with
 * a correct digest but bad structure fail with the right code and offset,
 * that the committed golden files still come out byte for byte (a format
 * freeze), and that a 100,000-instance channel round-trips.
 *
 * RF_CHANNEL_UPDATE_GOLDEN=1 rewrites the .rfc files in tests/data/channel, and
 * RF_CHANNEL_WRITE_SEEDS=DIR writes fuzz seeds into DIR; both only after a
 * deliberate format change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel/internal.h"
#include "ringfence/channel.h"
#include "ringfence/util.h"
#include "support/channel_eq.h"

/* ---- building channels by hand ------------------------------------------ */

static char *xs(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

static rf_value vstr(const char *s)
{
    rf_value v = {.type = RF_VAL_STRING, .s = xs(s), .len = (uint32_t)strlen(s)};
    return v;
}

static rf_value vint(int64_t i)
{
    rf_value v = {.type = RF_VAL_INT, .i = i};
    return v;
}

static void set_crit(rf_crit *c, uint16_t field, const char *name, rf_crit_kind kind,
                     rf_value_type vt, uint8_t flags, uint32_t n, const rf_value *vals)
{
    c->field = field;
    c->field_name = xs(name);
    c->kind = kind;
    c->vtype = vt;
    c->flags = flags;
    c->nvals = n;
    c->vals = calloc(n, sizeof(*c->vals));
    assert_non_null(c->vals);
    memcpy(c->vals, vals, n * sizeof(*vals));
}

static rf_channel *new_channel(uint16_t num, const char *type, uint32_t ninst)
{
    rf_channel *ch = calloc(1, sizeof(*ch));
    assert_non_null(ch);
    ch->channel = num;
    ch->template_type = xs(type);
    ch->template_version = 1;
    ch->content_version = 7;
    ch->ninstances = ninst;
    ch->instances = calloc(ninst ? ninst : 1, sizeof(*ch->instances));
    assert_non_null(ch->instances);
    return ch;
}

static void set_inst(rf_instance *in, const char *id, rf_action a, rf_severity s,
                     uint32_t ncrits, uint32_t ntests)
{
    in->id = xs(id);
    in->action = a;
    in->severity = s;
    in->ncrits = ncrits;
    in->crits = ncrits ? calloc(ncrits, sizeof(rf_crit)) : NULL;
    in->ntests = ntests;
    in->tests = ntests ? calloc(ntests, sizeof(rf_test)) : NULL;
}

static void set_test(rf_test *t, uint8_t expect, uint32_t n, const rf_test_input *in)
{
    t->expect_match = expect;
    t->ninputs = n;
    t->inputs = calloc(n ? n : 1, sizeof(*t->inputs));
    assert_non_null(t->inputs);
    memcpy(t->inputs, in, n * sizeof(*in));
}

/*
 * The full sample: every criterion kind, both value types, nocase, tests
 * (absent inputs included), an instance with no criteria, and a criterion on
 * field 20 — the 19 July shape — so inputs_required is 21.
 */
static rf_channel *build_sample(void)
{
    rf_channel *ch = new_channel(291, "ipc_named_pipe", 4);
    ch->source = xs("channels/sample.yaml");
    rf_instance *in = &ch->instances[0];
    set_inst(in, "pipe-c2-001", RF_ACTION_DETECT, RF_SEV_HIGH, 3, 3);
    in->line = 7;
    set_crit(&in->crits[0], 0, "pipe_name", RF_CRIT_GLOB, RF_VAL_STRING, RF_CRIT_NOCASE, 1,
             (rf_value[]){vstr("\\\\.\\pipe\\msagent_*")});
    set_crit(&in->crits[1], 1, "image_path", RF_CRIT_SUFFIX, RF_VAL_STRING, RF_CRIT_NOCASE, 1,
             (rf_value[]){vstr("\\rundll32.exe")});
    set_crit(&in->crits[2], 2, "parent_pid", RF_CRIT_RANGE, RF_VAL_INT, 0, 2,
             (rf_value[]){vint(1), vint(65535)});
    set_test(&in->tests[0], 1, 3,
             (rf_test_input[]){{0, vstr("\\\\.\\pipe\\msagent_5a")},
                               {1, vstr("C:\\Windows\\rundll32.exe")},
                               {2, vint(4)}});
    set_test(&in->tests[1], 0, 1, (rf_test_input[]){{0, vstr("\\\\.\\pipe\\other")}});
    set_test(&in->tests[2], 0, 2,
             (rf_test_input[]){{0, {.type = RF_VAL_ABSENT}}, {5, vstr("")}});

    in = &ch->instances[1];
    set_inst(in, "inst.two:x-2", RF_ACTION_BLOCK, RF_SEV_CRITICAL, 6, 1);
    set_crit(&in->crits[0], 0, "pipe_name", RF_CRIT_EQUALS, RF_VAL_STRING, 0, 1,
             (rf_value[]){vstr("abc")});
    set_crit(&in->crits[1], 3, "cmd", RF_CRIT_PREFIX, RF_VAL_STRING, 0, 1,
             (rf_value[]){vstr("C:\\")});
    set_crit(&in->crits[2], 4, "title", RF_CRIT_CONTAINS, RF_VAL_STRING, RF_CRIT_NOCASE, 1,
             (rf_value[]){vstr("\xc3\xa9vil \xe2\x82\xac")});
    set_crit(&in->crits[3], 5, "user", RF_CRIT_REGEX, RF_VAL_STRING, 0, 1,
             (rf_value[]){vstr("^a+b$")});
    set_crit(&in->crits[4], 6, "verb", RF_CRIT_ONE_OF, RF_VAL_STRING, RF_CRIT_NOCASE, 3,
             (rf_value[]){vstr("x"), vstr("y"), vstr("")});
    set_crit(&in->crits[5], 7, "code", RF_CRIT_ONE_OF, RF_VAL_INT, 0, 3,
             (rf_value[]){vint(3), vint(INT64_MIN), vint(INT64_MAX)});
    set_test(&in->tests[0], 1, 1, (rf_test_input[]){{7, vint(-1)}});

    in = &ch->instances[2];
    set_inst(in, "zero-crits", RF_ACTION_DETECT, RF_SEV_INFO, 0, 0);

    in = &ch->instances[3];
    set_inst(in, "field-20", RF_ACTION_DETECT, RF_SEV_LOW, 2, 0);
    set_crit(&in->crits[0], 8, "delta", RF_CRIT_EQUALS, RF_VAL_INT, 0, 1,
             (rf_value[]){vint(-5)});
    set_crit(&in->crits[1], 20, "input_21", RF_CRIT_EQUALS, RF_VAL_STRING, 0, 1,
             (rf_value[]){vstr("x")});
    return ch;
}

/* The small golden channel: two instances, used for the hex dump in
 * docs/channel-format.md and for the crafted-file tests. */
static rf_channel *build_small(void)
{
    rf_channel *ch = new_channel(291, "ipc", 2);
    rf_instance *in = &ch->instances[0];
    set_inst(in, "id-a", RF_ACTION_DETECT, RF_SEV_HIGH, 2, 1);
    set_crit(&in->crits[0], 0, "pipe", RF_CRIT_PREFIX, RF_VAL_STRING, RF_CRIT_NOCASE, 1,
             (rf_value[]){vstr("ms")});
    set_crit(&in->crits[1], 2, "pid", RF_CRIT_RANGE, RF_VAL_INT, 0, 2,
             (rf_value[]){vint(1), vint(9)});
    set_test(&in->tests[0], 1, 2, (rf_test_input[]){{0, vstr("MSx")}, {2, vint(4)}});
    in = &ch->instances[1];
    set_inst(in, "id-b", RF_ACTION_BLOCK, RF_SEV_LOW, 1, 0);
    set_crit(&in->crits[0], 0, "pipe", RF_CRIT_EQUALS, RF_VAL_STRING, 0, 1,
             (rf_value[]){vstr("x")});
    return ch;
}

static void write_ok(rf_channel *ch, uint8_t **buf, size_t *len)
{
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_channel_write(ch, buf, len, &err);
    if (rc != RF_OK)
        fail_msg("write failed: %s %s", rf_strerror(rc), err.msg);
}

/* ---- comparing ---------------------------------------------------------- */

/* ---- raw file helpers for crafted inputs -------------------------------- */

static uint32_t get32(const uint8_t *b, size_t off)
{
    return (uint32_t)b[off] | ((uint32_t)b[off + 1] << 8) | ((uint32_t)b[off + 2] << 16) |
           ((uint32_t)b[off + 3] << 24);
}

static void put32(uint8_t *b, size_t off, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        b[off + k] = (uint8_t)(v >> (8 * k));
}

static void put16(uint8_t *b, size_t off, uint16_t v)
{
    b[off] = (uint8_t)v;
    b[off + 1] = (uint8_t)(v >> 8);
}

static void patch_digest(uint8_t *b, size_t len)
{
    if (len >= RFCHAN_HEADER_LEN)
        rf_sha256(b + RFCHAN_DIGEST_FROM, len - RFCHAN_DIGEST_FROM, b + RFCHAN_H_DIGEST);
}

/* Absolute offset of record idx of section sec. */
static size_t rec(const uint8_t *b, int sec, uint32_t idx)
{
    return RFCHAN_HEADER_LEN + get32(b, RFCHAN_H_SECTIONS + 8 * (size_t)sec) +
           (size_t)idx * rfchan_rec_size[sec];
}

/* Reads b; asserts failure with rc and offset; returns nothing. */
static void expect_fail(const uint8_t *b, size_t len, rf_rc want, uint64_t want_off)
{
    rf_channel *ch = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_channel_read(b, len, "crafted.rfc", &ch, &err);
    if (rc != want || err.offset != want_off)
        fail_msg("want %s at %llu, got %s at %llu: %s", rf_strerror(want),
                 (unsigned long long)want_off, rf_strerror(rc), (unsigned long long)err.offset,
                 err.msg);
    assert_null(ch);
    assert_int_equal(err.rc, want);
    assert_string_equal(err.file, "crafted.rfc");
}

/* ---- tests -------------------------------------------------------------- */

static void test_names(void **state)
{
    (void)state;
    const char *kinds[] = {"any", "equals", "prefix", "suffix", "contains",
                           "glob", "regex", "one_of", "range"};
    for (int k = 0; k <= RF_CRIT_KIND_MAX; k++)
        assert_string_equal(rf_crit_kind_name((rf_crit_kind)k), kinds[k]);
    assert_string_equal(rf_action_name(RF_ACTION_DETECT), "detect");
    assert_string_equal(rf_action_name(RF_ACTION_BLOCK), "block");
    const char *sev[] = {"info", "low", "medium", "high", "critical"};
    for (int s = 1; s <= 5; s++)
        assert_string_equal(rf_severity_name((rf_severity)s), sev[s - 1]);
    assert_string_equal(rf_action_name((rf_action)9), "?");
    rf_channel_free(NULL);
}

static void test_roundtrip(void **state)
{
    (void)state;
    rf_channel *ch = build_sample();
    assert_int_equal(rf_channel_inputs_required(ch), 21);
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    write_ok(ch, &buf, &len);
    uint8_t d[32];
    rf_sha256(buf + RFCHAN_DIGEST_FROM, len - RFCHAN_DIGEST_FROM, d);
    assert_memory_equal(ch->body_sha256, d, 32);
    assert_int_equal(get32(buf, RFCHAN_H_INPUTS_REQ), 21);

    rf_channel *back = NULL;
    rf_err err;
    assert_int_equal(rf_channel_read(buf, len, "sample.rfc", &back, &err), RF_OK);
    assert_channel_eq(ch, back, 0);
    assert_string_equal(back->source, "sample.rfc");
    assert_memory_equal(back->body_sha256, ch->body_sha256, 32);
    assert_int_equal(back->instances[0].crits[0].line, 0);
    assert_int_equal(rf_channel_inputs_required(back), 21);

    write_ok(back, &buf2, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    free(buf);
    free(buf2);
    rf_channel_free(back);
    rf_channel_free(ch);
}

static void test_write_canonical(void **state)
{
    (void)state;
    rf_channel *a = build_sample(), *b = build_sample();
    free(b->source);
    b->source = NULL;
    b->instances[0].line = 99;
    b->instances[0].crits[1].line = 1234;
    b->instances[1].tests[0].line = 5;
    memset(b->body_sha256, 0xAB, 32);
    uint8_t *x, *y, *z;
    size_t xl, yl, zl;
    write_ok(a, &x, &xl);
    write_ok(a, &y, &yl);
    write_ok(b, &z, &zl);
    assert_int_equal(xl, yl);
    assert_memory_equal(x, y, xl);
    assert_int_equal(xl, zl);
    assert_memory_equal(x, z, xl);
    /* A content change changes the bytes and the digest. */
    uint8_t *w;
    size_t wl;
    b->content_version = 8;
    write_ok(b, &w, &wl);
    assert_true(memcmp(x, w, xl) != 0);
    assert_true(memcmp(a->body_sha256, b->body_sha256, 32) != 0);
    free(x);
    free(y);
    free(z);
    free(w);
    rf_channel_free(a);
    rf_channel_free(b);
}

static void test_empty_channel(void **state)
{
    (void)state;
    rf_channel *ch = new_channel(1, "t", 0);
    uint8_t *buf;
    size_t len;
    write_ok(ch, &buf, &len);
    assert_int_equal(len, RFCHAN_HEADER_LEN);
    rf_channel *back = NULL;
    assert_int_equal(rf_channel_read(buf, len, NULL, &back, NULL), RF_OK);
    assert_int_equal(back->ninstances, 0);
    assert_null(back->source);
    assert_int_equal(rf_channel_inputs_required(back), 0);
    free(buf);
    rf_channel_free(back);
    rf_channel_free(ch);
}

/* ---- the writer refuses invalid models ---------------------------------- */

typedef void (*mutator)(rf_channel *ch);

static void m_chan0(rf_channel *ch) { ch->channel = 0; }
static void m_type(rf_channel *ch) { ch->template_type[0] = 'A'; }
static void m_tver(rf_channel *ch) { ch->template_version = 0; }
static void m_cver(rf_channel *ch) { ch->content_version = 0; }
static void m_id(rf_channel *ch) { ch->instances[0].id[2] = ' '; }
static void m_dupid(rf_channel *ch) { memcpy(ch->instances[1].id, "field-20", 9); }
static void m_action(rf_channel *ch) { ch->instances[0].action = (rf_action)3; }
static void m_sev(rf_channel *ch) { ch->instances[0].severity = (rf_severity)0; }
static void m_sev6(rf_channel *ch) { ch->instances[0].severity = (rf_severity)6; }
static void m_any(rf_channel *ch) { ch->instances[0].crits[0].kind = RF_CRIT_ANY; }
static void m_kind9(rf_channel *ch) { ch->instances[0].crits[0].kind = (rf_crit_kind)9; }
static void m_vtype(rf_channel *ch) { ch->instances[3].crits[0].vtype = RF_VAL_STRING; }
static void m_nocase_int(rf_channel *ch) { ch->instances[0].crits[2].flags = RF_CRIT_NOCASE; }
static void m_flags(rf_channel *ch) { ch->instances[0].crits[0].flags = 0x02; }
static void m_unsorted(rf_channel *ch) { ch->instances[0].crits[1].field = 0; }
static void m_range_lohi(rf_channel *ch) { ch->instances[0].crits[2].vals[0].i = 70000; }
static void m_range_one(rf_channel *ch) { ch->instances[0].crits[2].nvals = 1; }
static void m_range_str(rf_channel *ch) { ch->instances[0].crits[2].kind = RF_CRIT_PREFIX; }
static void m_prefix_empty(rf_channel *ch) { ch->instances[1].crits[1].vals[0].s[0] = 0; ch->instances[1].crits[1].vals[0].len = 0; }
static void m_badlen(rf_channel *ch) { ch->instances[1].crits[1].vals[0].len = 2; }
static void m_utf8(rf_channel *ch) { ch->instances[1].crits[2].vals[0].s[1] = (char)0xff; }
static void m_oneof_dup(rf_channel *ch) { ch->instances[1].crits[5].vals[2].i = 3; }
static void m_oneof_dupstr(rf_channel *ch) { ch->instances[1].crits[4].vals[1].s[0] = 'x'; }
static void m_field_big(rf_channel *ch) { ch->instances[3].crits[1].field = RF_MAX_FIELDS; }
static void m_field_name(rf_channel *ch) { ch->instances[1].crits[0].field_name[0] = 'q'; }
static void m_field_name2(rf_channel *ch) { memcpy(ch->instances[3].crits[1].field_name, "cmd\0", 4); }
static void m_field_name_bad(rf_channel *ch) { ch->instances[0].crits[0].field_name[0] = '-'; }
static void m_expect(rf_channel *ch) { ch->instances[0].tests[0].expect_match = 2; }
static void m_tin_sort(rf_channel *ch) { ch->instances[0].tests[0].inputs[2].field = 1; }
static void m_tin_type(rf_channel *ch) { ch->instances[0].tests[0].inputs[2].v.type = (rf_value_type)3; }
static void m_null_vals(rf_channel *ch) { ch->instances[3].crits[0].vals[0].type = RF_VAL_STRING; ch->instances[3].crits[0].vtype = RF_VAL_STRING; }

static void m_long_string(rf_channel *ch)
{
    rf_value *v = &ch->instances[1].crits[1].vals[0];
    free(v->s);
    v->s = malloc(RF_MAX_STRING + 2);
    memset(v->s, 'a', RF_MAX_STRING + 1);
    v->s[RF_MAX_STRING + 1] = 0;
    v->len = RF_MAX_STRING + 1;
}

static void m_many_tests(rf_channel *ch)
{
    rf_instance *in = &ch->instances[2];
    in->ntests = RF_MAX_TESTS + 1;
    in->tests = calloc(in->ntests, sizeof(rf_test));
}

static void m_many_oneof(rf_channel *ch)
{
    rf_crit *c = &ch->instances[1].crits[5];
    free(c->vals);
    c->nvals = RF_MAX_ONE_OF + 1;
    c->vals = calloc(c->nvals, sizeof(rf_value));
    for (uint32_t k = 0; k < c->nvals; k++)
        c->vals[k] = vint(k);
}

static void m_big_oneof_dup(rf_channel *ch)
{
    rf_crit *c = &ch->instances[1].crits[5];
    free(c->vals);
    c->nvals = 100;
    c->vals = calloc(c->nvals, sizeof(rf_value));
    for (uint32_t k = 0; k < c->nvals; k++)
        c->vals[k] = vint(k == 77 ? 5 : k);
}

static void m_many_instances(rf_channel *ch)
{
    ch->ninstances = RF_MAX_INSTANCES + 1; /* checked before instances are walked */
}

static void restore_many_instances(rf_channel *ch)
{
    if (ch->ninstances == RF_MAX_INSTANCES + 1)
        ch->ninstances = 4;
}

static void test_writer_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        mutator m;
        rf_rc rc;
    } cases[] = {
        {"channel 0", m_chan0, RF_E_SCHEMA},
        {"bad type name", m_type, RF_E_SCHEMA},
        {"template version 0", m_tver, RF_E_SCHEMA},
        {"content version 0", m_cver, RF_E_SCHEMA},
        {"bad id", m_id, RF_E_SCHEMA},
        {"duplicate id", m_dupid, RF_E_SCHEMA},
        {"action 3", m_action, RF_E_SCHEMA},
        {"severity 0", m_sev, RF_E_SCHEMA},
        {"severity 6", m_sev6, RF_E_SCHEMA},
        {"kind any stored", m_any, RF_E_SCHEMA},
        {"kind 9", m_kind9, RF_E_SCHEMA},
        {"value type mismatch", m_vtype, RF_E_SCHEMA},
        {"nocase on int", m_nocase_int, RF_E_SCHEMA},
        {"unknown flag", m_flags, RF_E_SCHEMA},
        {"unsorted criteria", m_unsorted, RF_E_SCHEMA},
        {"range lo > hi", m_range_lohi, RF_E_SCHEMA},
        {"range one value", m_range_one, RF_E_SCHEMA},
        {"prefix on ints", m_range_str, RF_E_SCHEMA},
        {"empty prefix", m_prefix_empty, RF_E_SCHEMA},
        {"len != strlen", m_badlen, RF_E_SCHEMA},
        {"bad utf-8", m_utf8, RF_E_SCHEMA},
        {"one_of duplicate int", m_oneof_dup, RF_E_SCHEMA},
        {"one_of duplicate string", m_oneof_dupstr, RF_E_SCHEMA},
        {"one_of duplicate in 100", m_big_oneof_dup, RF_E_SCHEMA},
        {"field >= 256", m_field_big, RF_E_SCHEMA},
        {"two names for a field", m_field_name, RF_E_SCHEMA},
        {"one name for two fields", m_field_name2, RF_E_SCHEMA},
        {"bad field name", m_field_name_bad, RF_E_SCHEMA},
        {"test expect 2", m_expect, RF_E_SCHEMA},
        {"test inputs unsorted", m_tin_sort, RF_E_SCHEMA},
        {"test input type 3", m_tin_type, RF_E_SCHEMA},
        {"string value without bytes", m_null_vals, RF_E_SCHEMA},
        {"string > RF_MAX_STRING", m_long_string, RF_E_LIMIT},
        {"tests > RF_MAX_TESTS", m_many_tests, RF_E_LIMIT},
        {"one_of > RF_MAX_ONE_OF", m_many_oneof, RF_E_LIMIT},
        {"instances > RF_MAX_INSTANCES", m_many_instances, RF_E_LIMIT},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        rf_channel *ch = build_sample();
        cases[k].m(ch);
        uint8_t *buf = (uint8_t *)0x1; /* must stay untouched */
        size_t len = 12345;
        rf_err err;
        rf_err_clear(&err);
        rf_rc rc = rf_channel_write(ch, &buf, &len, &err);
        if (rc != cases[k].rc)
            fail_msg("%s: want %s, got %s (%s)", cases[k].what, rf_strerror(cases[k].rc),
                     rf_strerror(rc), err.msg);
        assert_ptr_equal(buf, (uint8_t *)0x1);
        assert_int_equal(len, 12345);
        assert_true(err.msg[0] != '\0');
        assert_string_equal(err.file, "channels/sample.yaml");
        restore_many_instances(ch);
        rf_channel_free(ch);
    }
}

static void test_writer_reports_line(void **state)
{
    (void)state;
    rf_channel *ch = build_sample();
    ch->instances[0].crits[2].line = 42;
    ch->instances[0].crits[2].vals[0].i = 99999; /* lo > hi */
    uint8_t *buf;
    size_t len;
    rf_err err;
    assert_int_equal(rf_channel_write(ch, &buf, &len, &err), RF_E_SCHEMA);
    assert_int_equal(err.line, 42);
    assert_non_null(strstr(err.msg, "pipe-c2-001"));
    assert_non_null(strstr(err.msg, "parent_pid"));
    rf_channel_free(ch);
}

/* ---- the reader is total ------------------------------------------------- */

static void test_truncations(void **state)
{
    (void)state;
    rf_channel *ch = build_sample();
    uint8_t *buf;
    size_t len;
    write_ok(ch, &buf, &len);
    for (size_t n = 0; n < len; n++) {
        /* A fresh exact-size copy, so ASan sees any read past n. */
        uint8_t *cp = malloc(n ? n : 1);
        memcpy(cp, buf, n);
        rf_channel *out = NULL;
        rf_err err;
        rf_err_clear(&err);
        rf_rc rc = rf_channel_read(cp, n, NULL, &out, &err);
        if (rc == RF_OK)
            fail_msg("truncation to %zu bytes accepted", n);
        assert_true(rc == RF_E_FORMAT);
        assert_true(err.offset != RF_NO_OFFSET && err.offset <= n);
        assert_null(out);
        /* With the digest patched, the structural checks must catch it. */
        if (n >= RFCHAN_HEADER_LEN) {
            put32(cp, RFCHAN_H_BODY_LEN, (uint32_t)(n - RFCHAN_HEADER_LEN));
            patch_digest(cp, n);
            rc = rf_channel_read(cp, n, NULL, &out, &err);
            if (rc == RF_OK)
                fail_msg("truncation to %zu bytes (digest patched) accepted", n);
            assert_true(err.offset != RF_NO_OFFSET && err.offset <= n);
        }
        free(cp);
    }
    free(buf);
    rf_channel_free(ch);
}

/* Reads a changed file: it must fail with an offset, or be accepted and
 * re-serialise to exactly the same bytes. Returns 1 if accepted. */
static int check_mutant(const uint8_t *b, size_t len)
{
    rf_channel *out = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_channel_read(b, len, NULL, &out, &err);
    if (rc != RF_OK) {
        assert_null(out);
        assert_true(rc == RF_E_FORMAT || rc == RF_E_CHECKSUM || rc == RF_E_LIMIT ||
                    rc == RF_E_UNSUPPORTED);
        assert_true(err.offset != RF_NO_OFFSET && err.offset < len);
        return 0;
    }
    uint8_t *re;
    size_t relen;
    write_ok(out, &re, &relen);
    assert_int_equal(relen, len);
    assert_memory_equal(re, b, len);
    free(re);
    rf_channel_free(out);
    return 1;
}

static void test_byte_flips(void **state)
{
    (void)state;
    rf_channel *ch = build_sample();
    uint8_t *buf;
    size_t len;
    write_ok(ch, &buf, &len);
    uint8_t *cp = malloc(len);
    unsigned accepted = 0;
    for (size_t i = 0; i < len; i++) {
        for (int mode = 0; mode < 2; mode++) {
            memcpy(cp, buf, len);
            cp[i] = mode ? (uint8_t)(cp[i] + 1) : (uint8_t)(cp[i] ^ 0xff);
            /* As is: only the digest can catch most of these. */
            if (check_mutant(cp, len) && i >= RFCHAN_DIGEST_FROM)
                fail_msg("byte %zu changed without the digest noticing", i);
            /* Digest patched: the deep checks are on their own. */
            if (i >= RFCHAN_DIGEST_FROM) {
                patch_digest(cp, len);
                accepted += (unsigned)check_mutant(cp, len);
            }
        }
    }
    /* Some flips are legitimately other valid channels (a changed string
     * byte, an int value); make sure the test saw both outcomes. */
    assert_true(accepted > 0);
    assert_true(accepted < 2 * (len - RFCHAN_DIGEST_FROM));
    free(cp);
    free(buf);
    rf_channel_free(ch);
}

/* ---- crafted files: digest right, structure wrong ------------------------ */

typedef struct crafted {
    uint8_t *b;
    size_t len;
} crafted;

static crafted small_file(void)
{
    rf_channel *ch = build_small();
    crafted c;
    write_ok(ch, &c.b, &c.len);
    rf_channel_free(ch);
    return c;
}

static void test_crafted(void **state)
{
    (void)state;
    crafted c;
    size_t r;

    /* Sanity: the unmodified file reads. */
    c = small_file();
    assert_int_equal(check_mutant(c.b, c.len), 1);
    /* Wrong digest. */
    c.b[c.len - 1] ^= 1;
    expect_fail(c.b, c.len, RF_E_CHECKSUM, RFCHAN_H_DIGEST);
    free(c.b);

    /* Format version 2: unsupported, before the digest is even looked at. */
    c = small_file();
    put16(c.b, RFCHAN_H_VERSION, 2);
    expect_fail(c.b, c.len, RF_E_UNSUPPORTED, RFCHAN_H_VERSION);
    free(c.b);

    /* Text-mode damage: CR LF became LF. */
    c = small_file();
    memmove(c.b + 4, c.b + 5, c.len - 5);
    expect_fail(c.b, c.len - 1, RF_E_FORMAT, 0);
    free(c.b);

    /* Header length other than 184. */
    c = small_file();
    put16(c.b, RFCHAN_H_HEADER_LEN, 200);
    expect_fail(c.b, c.len, RF_E_FORMAT, RFCHAN_H_HEADER_LEN);
    free(c.b);

    /* Trailing bytes, body length unchanged. */
    c = small_file();
    c.b = realloc(c.b, c.len + 1);
    c.b[c.len] = 0;
    expect_fail(c.b, c.len + 1, RF_E_FORMAT, RFCHAN_H_BODY_LEN);
    /* ... and with body length and digest updated: sections do not cover it. */
    put32(c.b, RFCHAN_H_BODY_LEN, (uint32_t)(c.len + 1 - RFCHAN_HEADER_LEN));
    patch_digest(c.b, c.len + 1);
    expect_fail(c.b, c.len + 1, RF_E_FORMAT, RFCHAN_H_SECTIONS + 8 * 5 + 4);
    free(c.b);

    /* Instance count larger than the file: 100,000 in a 400-byte file. */
    c = small_file();
    put32(c.b, RFCHAN_H_NINSTANCES, 100000);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, RFCHAN_H_SECTIONS + 4);
    put32(c.b, RFCHAN_H_NINSTANCES, RF_MAX_INSTANCES + 1);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_LIMIT, RFCHAN_H_NINSTANCES);
    free(c.b);

    /* A criterion count far past the records present (an allocation bomb). */
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_INSTANCES, 0);
    put32(c.b, r + RFCHAN_INST_CRIT_COUNT, 0x7fffffff);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_INST_CRIT_COUNT);
    free(c.b);

    /* Overlapping sections: criteria starting at body offset 0. */
    c = small_file();
    put32(c.b, RFCHAN_H_SECTIONS + 8, 0);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, RFCHAN_H_SECTIONS + 8);
    free(c.b);

    /* A section length that runs past the body. */
    c = small_file();
    put32(c.b, RFCHAN_H_SECTIONS + 8 * 5 + 4, 0xfffffff0);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, RFCHAN_H_SECTIONS + 8 * 5 + 4);
    free(c.b);

    /* A crit record's first-value index pointing back (overlap). */
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_CRITERIA, 1);
    put32(c.b, r + RFCHAN_CRIT_VAL_FIRST, 0);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_CRIT_VAL_FIRST);
    free(c.b);

    /* A string offset out of order. */
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_INSTANCES, 1);
    put32(c.b, r + RFCHAN_INST_ID, 0);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_INST_ID);
    free(c.b);

    /* Unsorted criteria: instance 0's second criterion moved to field 0. */
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_CRITERIA, 1);
    put16(c.b, r + RFCHAN_CRIT_FIELD, 0);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_CRIT_FIELD);
    free(c.b);

    /* Duplicate ids: "id-b" becomes "id-a". */
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_INSTANCES, 1);
    size_t s = rec(c.b, RFCHAN_SEC_STRINGS, 0) + get32(c.b, r + RFCHAN_INST_ID);
    assert_memory_equal(c.b + s, "id-b", 4);
    c.b[s + 3] = 'a';
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_INST_ID);
    free(c.b);

    /* Bad enums: action 3, severity 6, kind 0 (wildcard stored), kind 9,
     * value type 3. */
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_INSTANCES, 1);
    c.b[r + RFCHAN_INST_ACTION] = 3;
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_INST_ACTION);
    free(c.b);
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_INSTANCES, 0);
    c.b[r + RFCHAN_INST_SEVERITY] = 6;
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_INST_SEVERITY);
    free(c.b);
    for (uint8_t kind = 0; kind < 10; kind += 9) {
        c = small_file();
        r = rec(c.b, RFCHAN_SEC_CRITERIA, 2);
        c.b[r + RFCHAN_CRIT_KIND] = kind;
        patch_digest(c.b, c.len);
        expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_CRIT_KIND);
        free(c.b);
    }
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_VALUES, 0);
    c.b[r + RFCHAN_VAL_TYPE] = 3;
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_VAL_TYPE);
    free(c.b);

    /* Range with lo > hi (values 1 and 2 are pid's range [1, 9]). */
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_VALUES, 1);
    put32(c.b, r + RFCHAN_VAL_PAYLOAD, 100);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_VAL_PAYLOAD);
    free(c.b);

    /* inputs_required mismatch: the 19 July check. */
    c = small_file();
    assert_int_equal(get32(c.b, RFCHAN_H_INPUTS_REQ), 3);
    put32(c.b, RFCHAN_H_INPUTS_REQ, 2);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, RFCHAN_H_INPUTS_REQ);
    free(c.b);

    /* Reserved bytes set: header, instance, criterion, value, test, input. */
    size_t reserved[6];
    c = small_file();
    reserved[0] = RFCHAN_H_RESERVED1 + 2;
    reserved[1] = rec(c.b, RFCHAN_SEC_INSTANCES, 0) + RFCHAN_INST_RESERVED + 1;
    reserved[2] = rec(c.b, RFCHAN_SEC_CRITERIA, 1) + RFCHAN_CRIT_RESERVED;
    reserved[3] = rec(c.b, RFCHAN_SEC_VALUES, 0) + RFCHAN_VAL_RESERVED + 6;
    reserved[4] = rec(c.b, RFCHAN_SEC_TESTS, 0) + RFCHAN_TEST_RESERVED + 2;
    reserved[5] = rec(c.b, RFCHAN_SEC_TEST_INPUTS, 1) + RFCHAN_TIN_RESERVED;
    free(c.b);
    for (int k = 0; k < 6; k++) {
        c = small_file();
        c.b[reserved[k]] = 0x01;
        patch_digest(c.b, c.len);
        expect_fail(c.b, c.len, RF_E_FORMAT, reserved[k]);
        free(c.b);
    }
    /* Template name padding and reserved byte after its length. */
    c = small_file();
    c.b[RFCHAN_H_TYPE + 10] = 'x';
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, RFCHAN_H_TYPE + 10);
    free(c.b);
    c = small_file();
    c.b[RFCHAN_H_RESERVED0] = 1;
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, RFCHAN_H_RESERVED0);
    free(c.b);

    /* A NUL inside a string. */
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_INSTANCES, 0);
    s = rec(c.b, RFCHAN_SEC_STRINGS, 0) + get32(c.b, r + RFCHAN_INST_ID);
    c.b[s + 1] = 0;
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, s + 1);
    free(c.b);

    /* Test inputs not increasing by field (inputs 0 and 2 of test 0). */
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_TEST_INPUTS, 1);
    put16(c.b, r + RFCHAN_TIN_FIELD, 0);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_TIN_FIELD);
    free(c.b);

    /* Test expect 2. */
    c = small_file();
    r = rec(c.b, RFCHAN_SEC_TESTS, 0);
    c.b[r + RFCHAN_TEST_EXPECT] = 2;
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, r + RFCHAN_TEST_EXPECT);
    free(c.b);

    /* Channel 0. */
    c = small_file();
    put16(c.b, RFCHAN_H_CHANNEL, 0);
    patch_digest(c.b, c.len);
    expect_fail(c.b, c.len, RF_E_FORMAT, RFCHAN_H_CHANNEL);
    free(c.b);
}

/* An unreferenced record: a spare criterion appended to the section. */
static void test_unreferenced_record(void **state)
{
    (void)state;
    crafted c = small_file();
    /* Grow the criteria section by one record and shift everything after. */
    size_t at = rec(c.b, RFCHAN_SEC_VALUES, 0);
    uint8_t *b = calloc(1, c.len + RFCHAN_CRIT_SIZE);
    memcpy(b, c.b, at);
    memcpy(b + at + RFCHAN_CRIT_SIZE, c.b + at, c.len - at);
    size_t len = c.len + RFCHAN_CRIT_SIZE;
    put32(b, RFCHAN_H_SECTIONS + 8 + 4, get32(b, RFCHAN_H_SECTIONS + 8 + 4) + RFCHAN_CRIT_SIZE);
    for (int s = RFCHAN_SEC_VALUES; s < RFCHAN_NSECTIONS; s++)
        put32(b, RFCHAN_H_SECTIONS + 8 * (size_t)s,
              get32(b, RFCHAN_H_SECTIONS + 8 * (size_t)s) + RFCHAN_CRIT_SIZE);
    put32(b, RFCHAN_H_BODY_LEN, (uint32_t)(len - RFCHAN_HEADER_LEN));
    patch_digest(b, len);
    expect_fail(b, len, RF_E_FORMAT, at);
    free(b);
    free(c.b);
}

/* A hostile header announcing the most it can in a tiny file must not make
 * the reader allocate for it: the file is refused before allocation. */
static void test_no_allocation_bomb(void **state)
{
    (void)state;
    uint8_t b[RFCHAN_HEADER_LEN + 28];
    memset(b, 0, sizeof(b));
    memcpy(b, RFCHAN_MAGIC, 8);
    put16(b, RFCHAN_H_VERSION, 1);
    put16(b, RFCHAN_H_HEADER_LEN, RFCHAN_HEADER_LEN);
    put32(b, RFCHAN_H_BODY_LEN, 28);
    put16(b, RFCHAN_H_CHANNEL, 1);
    b[RFCHAN_H_TYPE_LEN] = 1;
    b[RFCHAN_H_TYPE] = 't';
    put32(b, RFCHAN_H_TEMPLATE_VER, 1);
    put32(b, RFCHAN_H_CONTENT_VER, 1);
    put32(b, RFCHAN_H_NINSTANCES, 1);
    put32(b, RFCHAN_H_SECTIONS + 4, 28);
    for (int s = 1; s < RFCHAN_NSECTIONS; s++)
        put32(b, RFCHAN_H_SECTIONS + 8 * (size_t)s, 28);
    size_t r = RFCHAN_HEADER_LEN;
    b[r + RFCHAN_INST_ID + 0] = 0; /* id: offset 0, length 0 -> invalid id later */
    put32(b, r + RFCHAN_INST_CRIT_COUNT, 0xffffffff);
    put32(b, r + RFCHAN_INST_TEST_COUNT, 0xffffffff);
    patch_digest(b, sizeof(b));
    expect_fail(b, sizeof(b), RF_E_FORMAT, r + RFCHAN_INST_CRIT_COUNT);
}

static void test_read_args(void **state)
{
    (void)state;
    rf_channel *ch = NULL;
    rf_err err;
    assert_int_equal(rf_channel_read(NULL, 0, NULL, &ch, &err), RF_E_FORMAT);
    assert_int_equal(err.offset, 0);
    assert_int_equal(rf_channel_read(NULL, 5, NULL, &ch, &err), RF_E_USAGE);
    assert_int_equal(rf_channel_read((const uint8_t *)"x", 1, NULL, NULL, &err), RF_E_USAGE);
    assert_int_equal(rf_channel_read_file(RF_TEST_DATA "/channel/does-not-exist.rfc", &ch, &err),
                     RF_E_IO);
    assert_null(ch);
    uint8_t *buf;
    size_t len;
    assert_int_equal(rf_channel_write(NULL, &buf, &len, &err), RF_E_USAGE);

    /* Over the size limit: refused in memory, and on disk before reading
     * (a sparse file, so the test writes almost nothing). */
    size_t big = (size_t)RF_MAX_CHANNEL_BYTES + 1;
    uint8_t *huge = calloc(1, big);
    assert_non_null(huge);
    assert_int_equal(rf_channel_read(huge, big, NULL, &ch, &err), RF_E_LIMIT);
    assert_int_equal(err.offset, 0);
    free(huge);
    char path[] = "/tmp/rf_channel_big_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)big), 0);
    close(fd);
    assert_int_equal(rf_channel_read_file(path, &ch, &err), RF_E_LIMIT);
    assert_null(ch);
    unlink(path);
}

static void test_read_file(void **state)
{
    (void)state;
    rf_channel *ch = build_sample();
    uint8_t *buf;
    size_t len;
    write_ok(ch, &buf, &len);
    char path[] = "/tmp/rf_channel_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
    rf_channel *back = NULL;
    rf_err err;
    assert_int_equal(rf_channel_read_file(path, &back, &err), RF_OK);
    assert_channel_eq(ch, back, 0);
    assert_string_equal(back->source, path);
    rf_channel_free(back);
    /* An error names the file. */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, buf, 100), 100);
    close(fd);
    back = NULL;
    assert_int_equal(rf_channel_read_file(path, &back, &err), RF_E_FORMAT);
    assert_null(back);
    assert_string_equal(err.file, path);
    unlink(path);
    free(buf);
    rf_channel_free(ch);
}

/* ---- golden files: a format freeze -------------------------------------- */

static void check_golden(const char *file, rf_channel *(*build)(void))
{
    char path[512];
    snprintf(path, sizeof(path), "%s/channel/%s", RF_TEST_DATA, file);
    rf_channel *ch = build();
    uint8_t *buf;
    size_t len;
    write_ok(ch, &buf, &len);
    const char *upd = getenv("RF_CHANNEL_UPDATE_GOLDEN");
    rf_err err;
    if (upd && *upd)
        assert_int_equal(rf_file_write_atomic(path, buf, len, 0644, &err), RF_OK);
    uint8_t *gold;
    size_t glen;
    if (rf_file_read(path, RF_MAX_CHANNEL_BYTES, &gold, &glen, &err) != RF_OK)
        fail_msg("%s: %s", path, err.msg);
    /* The writer still produces the committed bytes... */
    assert_int_equal(len, glen);
    assert_memory_equal(buf, gold, len);
    /* ...and the reader still reads them to the same channel. */
    rf_channel *back = NULL;
    assert_int_equal(rf_channel_read_file(path, &back, &err), RF_OK);
    assert_channel_eq(ch, back, 0);
    rf_channel_free(back);
    free(gold);
    free(buf);
    rf_channel_free(ch);
}

static rf_channel *build_empty(void)
{
    return new_channel(1, "t", 0);
}

static void test_golden(void **state)
{
    (void)state;
    check_golden("small.rfc", build_small);
    check_golden("sample.rfc", build_sample);
}

/* Writes fuzz seeds when RF_CHANNEL_WRITE_SEEDS=DIR; otherwise does nothing. */
static void test_write_seeds(void **state)
{
    (void)state;
    const char *dir = getenv("RF_CHANNEL_WRITE_SEEDS");
    if (!dir || !*dir)
        skip();
    rf_channel *(*builders[])(void) = {build_small, build_sample, build_empty};
    const char *names[] = {"valid-small.rfc", "valid-sample.rfc", "valid-empty.rfc"};
    for (int k = 0; k < 3; k++) {
        rf_channel *ch = builders[k]();
        uint8_t *buf;
        size_t len;
        write_ok(ch, &buf, &len);
        char path[512];
        rf_err err;
        snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
        assert_int_equal(rf_file_write_atomic(path, buf, len, 0644, &err), RF_OK);
        if (k == 0) {
            /* Broken seeds: truncated, bad digest, bad inputs_required. */
            snprintf(path, sizeof(path), "%s/broken-truncated.rfc", dir);
            assert_int_equal(rf_file_write_atomic(path, buf, len - 7, 0644, &err), RF_OK);
            buf[len - 1] ^= 0x20;
            snprintf(path, sizeof(path), "%s/broken-digest.rfc", dir);
            assert_int_equal(rf_file_write_atomic(path, buf, len, 0644, &err), RF_OK);
            buf[len - 1] ^= 0x20;
            put32(buf, RFCHAN_H_INPUTS_REQ, 2);
            patch_digest(buf, len);
            snprintf(path, sizeof(path), "%s/broken-inputs-required.rfc", dir);
            assert_int_equal(rf_file_write_atomic(path, buf, len, 0644, &err), RF_OK);
        }
        free(buf);
        rf_channel_free(ch);
    }
}

/* ---- scale --------------------------------------------------------------- */

static rf_channel *build_big(uint32_t n)
{
    rf_channel *ch = new_channel(7, "proc_start", n);
    for (uint32_t i = 0; i < n; i++) {
        rf_instance *in = &ch->instances[i];
        char id[32];
        /* Ids in an order that is not sorted, so uniqueness needs a sort. */
        snprintf(id, sizeof(id), "r:%08x", (i * 2654435761u) ^ 0x5a5a5a5au);
        set_inst(in, id, RF_ACTION_DETECT, (rf_severity)(1 + i % 5), 2, 1);
        char v[32];
        snprintf(v, sizeof(v), "C:\\bin\\tool%u.exe", i);
        set_crit(&in->crits[0], 1, "image", RF_CRIT_SUFFIX, RF_VAL_STRING, RF_CRIT_NOCASE, 1,
                 (rf_value[]){vstr(v)});
        set_crit(&in->crits[1], 3, "pid", RF_CRIT_RANGE, RF_VAL_INT, 0, 2,
                 (rf_value[]){vint(i), vint((int64_t)i + 10)});
        set_test(&in->tests[0], 1, 2, (rf_test_input[]){{1, vstr(v)}, {3, vint(i)}});
    }
    return ch;
}

static void test_big(void **state)
{
    (void)state;
    rf_channel *ch = build_big(RF_MAX_INSTANCES);
    uint8_t *buf, *buf2;
    size_t len, len2;
    write_ok(ch, &buf, &len);
    rf_channel *back = NULL;
    rf_err err;
    uint64_t t0 = rf_now_ns();
    rf_rc rc = rf_channel_read(buf, len, "big.rfc", &back, &err);
    uint64_t t1 = rf_now_ns();
    if (rc != RF_OK)
        fail_msg("%s", err.msg);
    print_message("read %u instances (%zu bytes) in %.1f ms\n", back->ninstances, len,
                  (double)(t1 - t0) / 1e6);
    assert_int_equal(rf_channel_inputs_required(back), 4);
    assert_channel_eq(ch, back, 0);
    write_ok(back, &buf2, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(buf, buf2, len);
    rf_channel_free(back);

    /* A duplicate id far apart is still found, with its record's offset. */
    size_t r0 = rec(buf, RFCHAN_SEC_INSTANCES, 0);
    size_t r9 = rec(buf, RFCHAN_SEC_INSTANCES, 99999);
    size_t s0 = rec(buf, RFCHAN_SEC_STRINGS, 0) + get32(buf, r0);
    size_t s9 = rec(buf, RFCHAN_SEC_STRINGS, 0) + get32(buf, r9);
    assert_int_equal(get32(buf, r0 + 4), get32(buf, r9 + 4));
    memcpy(buf + s9, buf + s0, get32(buf, r0 + 4));
    patch_digest(buf, len);
    back = NULL;
    assert_int_equal(rf_channel_read(buf, len, NULL, &back, &err), RF_E_FORMAT);
    assert_true(err.offset == r0 || err.offset == r9);
    assert_null(back);
    free(buf);
    free(buf2);
    rf_channel_free(ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_write_canonical),
        cmocka_unit_test(test_empty_channel),
        cmocka_unit_test(test_writer_refuses),
        cmocka_unit_test(test_writer_reports_line),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_crafted),
        cmocka_unit_test(test_unreferenced_record),
        cmocka_unit_test(test_no_allocation_bomb),
        cmocka_unit_test(test_read_args),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_write_seeds),
        cmocka_unit_test(test_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
