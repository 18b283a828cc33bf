/*
 * compile_test.c — Channel source to rf_channel (lib/compile), against the
 * ws1 fixture workspace (tests/data/yaml/ws1): every criterion kind for
 * string and int fields, explicit wildcards not stored, criteria and test
 * inputs sorted by field, source lines, every error class with its exact
 * file:line:col, limits, and determinism (same bytes in, equal channel and
 * equal channel file out).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringfence/compile.h"
#include "ringfence/util.h"
#include "support/channel_eq.h"

#define DATA(x) RF_TEST_DATA "/yaml/" x

/* ws1's ipc_named_pipe v1: pipe_name(s) image_path(s) parent_pid(i)
 * session_id(i) command_line(s). */
static rf_workspace *g_ws;

/* Six header lines: the first instance starts on line 7. */
#define HDR                                                                    \
    "kind: Channel\nchannel: 291\ntemplate_type: ipc_named_pipe\n"             \
    "template_version: 1\ncontent_version: 7\ninstances:\n"
/* Four more: match entries start on line 11, keys at column 7. */
#define INST "  - id: i1\n    action: detect\n    severity: high\n    match:\n"

static int setup(void **state)
{
    (void)state;
    rf_err err;
    if (rf_workspace_load(DATA("ws1"), &g_ws, &err) != RF_OK) {
        fprintf(stderr, "cannot load ws1: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rf_workspace_free(g_ws);
    return 0;
}

static rf_channel *compile_ok(const char *src)
{
    rf_channel *ch = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_compile_parse(g_ws, "c.yaml", src, strlen(src), &ch, &err);
    if (rc != RF_OK)
        fail_msg("unexpected %s at %u:%u: %s", rf_strerror(rc), err.line, err.col, err.msg);
    assert_non_null(ch);
    return ch;
}

static void compile_fails(const char *src, rf_rc want, uint32_t line, uint32_t col,
                          const char *sub)
{
    rf_channel *ch = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_compile_parse(g_ws, "c.yaml", src, strlen(src), &ch, &err);
    if (rc != want || err.line != line || err.col != col || !strstr(err.msg, sub))
        fail_msg("expected %s at %u:%u containing '%s'; got %s at %u:%u: %s",
                 rf_strerror(want), line, col, sub, rf_strerror(rc), err.line, err.col,
                 err.msg);
    assert_null(ch);
    assert_string_equal(err.file, "c.yaml");
}

/* One criterion line (match entry on line 11) that must fail. */
static void crit_fails(const char *entry, rf_rc want, uint32_t col, const char *sub)
{
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b, HDR INST "      %s\n", entry);
    char *src = rf_buf_take(&b);
    assert_non_null(src);
    compile_fails(src, want, 11, col, sub);
    free(src);
}

/* One criterion line that must compile; returns the channel. */
static rf_channel *crit_ok(const char *entry)
{
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b, HDR INST "      %s\n", entry);
    char *src = rf_buf_take(&b);
    assert_non_null(src);
    rf_channel *ch = compile_ok(src);
    free(src);
    return ch;
}

static void test_good_file(void **state)
{
    (void)state;
    rf_channel *ch = NULL;
    rf_err err;
    rf_rc rc = rf_compile_file(g_ws, DATA("channels/good.yaml"), &ch, &err);
    if (rc)
        fail_msg("%s at %u:%u: %s", rf_strerror(rc), err.line, err.col, err.msg);
    assert_int_equal(ch->channel, 291);
    assert_string_equal(ch->template_type, "ipc_named_pipe");
    assert_int_equal(ch->template_version, 1);
    assert_int_equal(ch->content_version, 7);
    assert_string_equal(ch->source, DATA("channels/good.yaml"));
    assert_int_equal(ch->ninstances, 3);

    const rf_instance *in = &ch->instances[0];
    assert_string_equal(in->id, "pipe-c2-001");
    assert_int_equal(in->action, RF_ACTION_DETECT);
    assert_int_equal(in->severity, RF_SEV_HIGH);
    assert_int_equal(in->line, 7);
    /* session_id {any: true} is not stored; the rest sorted by field. */
    assert_int_equal(in->ncrits, 3);
    const rf_crit *c = &in->crits[0];
    assert_int_equal(c->field, 0);
    assert_string_equal(c->field_name, "pipe_name");
    assert_int_equal(c->kind, RF_CRIT_GLOB);
    assert_int_equal(c->vtype, RF_VAL_STRING);
    assert_int_equal(c->flags, RF_CRIT_NOCASE);
    assert_int_equal(c->nvals, 1);
    assert_string_equal(c->vals[0].s, "\\\\.\\pipe\\msagent_*");
    assert_int_equal(c->vals[0].len, strlen("\\\\.\\pipe\\msagent_*"));
    assert_int_equal(c->vals[0].type, RF_VAL_STRING);
    assert_int_equal(c->line, 12);
    c = &in->crits[1];
    assert_int_equal(c->field, 1);
    assert_string_equal(c->field_name, "image_path");
    assert_int_equal(c->kind, RF_CRIT_SUFFIX);
    assert_string_equal(c->vals[0].s, "\\rundll32.exe");
    assert_int_equal(c->line, 14);
    c = &in->crits[2];
    assert_int_equal(c->field, 2);
    assert_string_equal(c->field_name, "parent_pid");
    assert_int_equal(c->kind, RF_CRIT_RANGE);
    assert_int_equal(c->vtype, RF_VAL_INT);
    assert_int_equal(c->flags, 0);
    assert_int_equal(c->nvals, 2);
    assert_int_equal(c->vals[0].type, RF_VAL_INT);
    assert_int_equal(c->vals[0].i, 1);
    assert_int_equal(c->vals[1].i, 65535);
    assert_int_equal(c->line, 11);

    assert_int_equal(in->ntests, 2);
    const rf_test *t = &in->tests[0];
    assert_int_equal(t->expect_match, 1);
    assert_int_equal(t->line, 16);
    assert_int_equal(t->ninputs, 3);
    assert_int_equal(t->inputs[0].field, 0);
    assert_string_equal(t->inputs[0].v.s, "\\\\.\\pipe\\msagent_5a");
    assert_int_equal(t->inputs[1].field, 1);
    assert_string_equal(t->inputs[1].v.s, "C:\\Windows\\rundll32.exe");
    assert_int_equal(t->inputs[2].field, 2);
    assert_int_equal(t->inputs[2].v.type, RF_VAL_INT);
    assert_int_equal(t->inputs[2].v.i, 4);
    t = &in->tests[1];
    assert_int_equal(t->expect_match, 0);
    assert_int_equal(t->line, 17);
    assert_int_equal(t->ninputs, 1); /* session_id: null is absent */
    assert_int_equal(t->inputs[0].field, 0);

    in = &ch->instances[1];
    assert_string_equal(in->id, "vendor:family.002_x");
    assert_int_equal(in->action, RF_ACTION_BLOCK);
    assert_int_equal(in->severity, RF_SEV_CRITICAL);
    assert_int_equal(in->line, 19);
    assert_int_equal(in->ncrits, 1);
    assert_int_equal(in->crits[0].field, 4);
    assert_int_equal(in->crits[0].kind, RF_CRIT_CONTAINS);
    assert_string_equal(in->crits[0].vals[0].s, " -enc ");
    assert_int_equal(in->ntests, 0);

    in = &ch->instances[2];
    assert_int_equal(in->severity, RF_SEV_INFO);
    assert_int_equal(in->ncrits, 0);
    assert_null(in->crits);
    rf_channel_free(ch);
}

static void test_string_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *entry;
        rf_crit_kind kind;
        const char *val;
        uint8_t flags;
    } cases[] = {
        {"pipe_name: {equals: 'a b'}", RF_CRIT_EQUALS, "a b", 0},
        {"pipe_name: {equals: ''}", RF_CRIT_EQUALS, "", 0},
        {"pipe_name: {prefix: pre, nocase: false}", RF_CRIT_PREFIX, "pre", 0},
        {"pipe_name: {nocase: true, suffix: .exe}", RF_CRIT_SUFFIX, ".exe", RF_CRIT_NOCASE},
        {"pipe_name: {contains: \"tab\\there\"}", RF_CRIT_CONTAINS, "tab\there", 0},
        {"pipe_name: {glob: 'a?*'}", RF_CRIT_GLOB, "a?*", 0},
        {"pipe_name: {regex: '^x[0-9]+$', nocase: true}", RF_CRIT_REGEX, "^x[0-9]+$",
         RF_CRIT_NOCASE},
        {"pipe_name: {equals: 'caf\xc3\xa9'}", RF_CRIT_EQUALS, "caf\xc3\xa9", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rf_channel *ch = crit_ok(cases[i].entry);
        assert_int_equal(ch->instances[0].ncrits, 1);
        const rf_crit *c = &ch->instances[0].crits[0];
        assert_int_equal(c->kind, cases[i].kind);
        assert_int_equal(c->vtype, RF_VAL_STRING);
        assert_int_equal(c->flags, cases[i].flags);
        assert_int_equal(c->nvals, 1);
        assert_string_equal(c->vals[0].s, cases[i].val);
        assert_int_equal(c->vals[0].len, strlen(cases[i].val));
        assert_int_equal(c->line, 11);
        rf_channel_free(ch);
    }
    rf_channel *ch = crit_ok("command_line: {one_of: [a, 'B', '', \"c\"], nocase: true}");
    const rf_crit *c = &ch->instances[0].crits[0];
    assert_int_equal(c->field, 4);
    assert_int_equal(c->kind, RF_CRIT_ONE_OF);
    assert_int_equal(c->flags, RF_CRIT_NOCASE);
    assert_int_equal(c->nvals, 4);
    assert_string_equal(c->vals[0].s, "a");
    assert_string_equal(c->vals[1].s, "B");
    assert_string_equal(c->vals[2].s, "");
    assert_string_equal(c->vals[3].s, "c");
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(c->vals[i].type, RF_VAL_STRING);
    rf_channel_free(ch);
}

static void test_int_kinds(void **state)
{
    (void)state;
    rf_channel *ch = crit_ok("parent_pid: {equals: -9223372036854775808}");
    const rf_crit *c = &ch->instances[0].crits[0];
    assert_int_equal(c->kind, RF_CRIT_EQUALS);
    assert_int_equal(c->vtype, RF_VAL_INT);
    assert_int_equal(c->nvals, 1);
    assert_true(c->vals[0].i == INT64_MIN);
    rf_channel_free(ch);

    ch = crit_ok("session_id: {range: [-5, -5]}");
    c = &ch->instances[0].crits[0];
    assert_int_equal(c->field, 3);
    assert_int_equal(c->kind, RF_CRIT_RANGE);
    assert_int_equal(c->vals[0].i, -5);
    assert_int_equal(c->vals[1].i, -5);
    rf_channel_free(ch);

    ch = crit_ok("session_id: {one_of: [3, 1, 2, 9223372036854775807]}");
    c = &ch->instances[0].crits[0];
    assert_int_equal(c->kind, RF_CRIT_ONE_OF);
    assert_int_equal(c->vtype, RF_VAL_INT);
    assert_int_equal(c->nvals, 4);
    assert_int_equal(c->vals[0].i, 3); /* source order kept */
    assert_int_equal(c->vals[2].i, 2);
    assert_true(c->vals[3].i == INT64_MAX);
    assert_int_equal(c->vals[0].type, RF_VAL_INT);
    rf_channel_free(ch);
}

static void test_wildcards_and_empty_match(void **state)
{
    (void)state;
    static const char *const srcs[] = {
        HDR "  - {id: a, action: detect, severity: low}\n",
        HDR "  - {id: a, action: detect, severity: low, match: {}}\n",
        HDR "  - {id: a, action: detect, severity: low, match: }\n",
        HDR "  - {id: a, action: detect, severity: low, match: {pipe_name: {any: true}, "
            "parent_pid: {any: true}}}\n",
    };
    for (size_t i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++) {
        rf_channel *ch = compile_ok(srcs[i]);
        assert_int_equal(ch->ninstances, 1);
        assert_int_equal(ch->instances[0].ncrits, 0);
        assert_null(ch->instances[0].crits);
        rf_channel_free(ch);
    }
    rf_channel *ch = compile_ok("kind: Channel\nchannel: 1\ntemplate_type: ipc_named_pipe\n"
                                "template_version: 1\ncontent_version: 1\ninstances: []\n");
    assert_int_equal(ch->ninstances, 0);
    assert_int_equal(ch->channel, 1);
    rf_channel_free(ch);
}

static void test_sort_order(void **state)
{
    (void)state;
    rf_channel *ch = compile_ok(HDR INST "      command_line: {equals: x}\n"
                                         "      session_id: {equals: 1}\n"
                                         "      pipe_name: {any: true}\n"
                                         "      image_path: {prefix: y}\n"
                                         "      parent_pid: {one_of: [1]}\n"
                                         "    tests:\n"
                                         "      - event: {command_line: a, session_id: 2, "
                                         "image_path: b, pipe_name: ~, parent_pid: 3}\n"
                                         "        expect: no_match\n");
    const rf_instance *in = &ch->instances[0];
    assert_int_equal(in->ncrits, 4);
    static const uint16_t want[] = {1, 2, 3, 4};
    static const uint32_t lines[] = {14, 15, 12, 11};
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(in->crits[i].field, want[i]);
        assert_int_equal(in->crits[i].line, lines[i]);
        assert_string_equal(in->crits[i].field_name,
                            g_ws->types[0].fields[want[i]].name);
    }
    assert_int_equal(in->tests[0].ninputs, 4);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(in->tests[0].inputs[i].field, want[i]);
    assert_int_equal(in->tests[0].inputs[2].v.i, 2);
    assert_string_equal(in->tests[0].inputs[3].v.s, "a");
    rf_channel_free(ch);
}

static void test_crit_errors(void **state)
{
    (void)state;
    /* Column 7 is the field key, 20 the first key inside "{" for a
     * 10-character field name such as parent_pid or image_path. */
    crit_fails("parent_pid: {glob: '4*'}", RF_E_SCHEMA, 20,
               "field 'parent_pid' is int; criterion 'glob' needs a string field");
    crit_fails("image_path: {range: [1, 2]}", RF_E_SCHEMA, 20,
               "field 'image_path' is string; criterion 'range' needs an int field");
    crit_fails("parent_pid: {prefix: '4'}", RF_E_SCHEMA, 20, "needs a string field");
    crit_fails("parent_pid: {equals: 4, nocase: true}", RF_E_SCHEMA, 31,
               "'nocase' applies to string criteria only; field 'parent_pid' is int");
    crit_fails("image_path: {equals: x, nocase: yes}", RF_E_SCHEMA, 39,
               "'nocase' must be true or false; found a string");
    crit_fails("image_path: {equals: x, prefix: y}", RF_E_SCHEMA, 31,
               "has two kinds, 'equals' and 'prefix'");
    crit_fails("image_path: {nocase: true}", RF_E_SCHEMA, 19,
               "the criterion for field 'image_path' has no kind; expected one of: any");
    crit_fails("image_path: {starts_with: x}", RF_E_SCHEMA, 20,
               "unknown key 'starts_with' in the criterion for field 'image_path'; expected "
               "one of: any, equals");
    crit_fails("image_path: x.exe", RF_E_SCHEMA, 19,
               "the criterion for field 'image_path' must be a mapping such as {equals: ...}; "
               "found a string");
    crit_fails("image_path: {any: false}", RF_E_SCHEMA, 25, "'any: false' for field");
    crit_fails("image_path: {any: true, nocase: true}", RF_E_SCHEMA, 31,
               "'nocase' has no meaning with 'any'");
    crit_fails("image_path: {any: 1}", RF_E_SCHEMA, 25, "'any' must be true or false");
    crit_fails("no_such_field: {any: true}", RF_E_SCHEMA, 7,
               "unknown field 'no_such_field' in 'match'; template type 'ipc_named_pipe' "
               "version 1 has fields: pipe_name, image_path, parent_pid, session_id, "
               "command_line");
    /* Empty operands, each with its reason. */
    crit_fails("image_path: {prefix: ''}", RF_E_SCHEMA, 28,
               "empty 'prefix' for field 'image_path': an empty string would match every value");
    crit_fails("image_path: {suffix: \"\"}", RF_E_SCHEMA, 28, "empty 'suffix'");
    crit_fails("image_path: {contains: ''}", RF_E_SCHEMA, 30, "empty 'contains'");
    crit_fails("image_path: {glob: ''}", RF_E_SCHEMA, 26,
               "an empty glob matches only the empty value");
    crit_fails("image_path: {regex: ''}", RF_E_SCHEMA, 27, "an empty regex matches every value");
    /* Value types. */
    crit_fails("image_path: {equals: 5}", RF_E_SCHEMA, 28,
               "the value of 'equals' for field 'image_path' must be a string; found an "
               "integer (write it in quotes: '5')");
    crit_fails("image_path: {equals: [a]}", RF_E_SCHEMA, 28, "must be a string; found a list");
    crit_fails("image_path: {equals: ~}", RF_E_SCHEMA, 28, "must be a string; found null");
    crit_fails("parent_pid: {equals: '4'}", RF_E_SCHEMA, 28,
               "the value of 'equals' for field 'parent_pid' must be an integer; found the "
               "quoted string '4'");
    crit_fails("parent_pid: {equals: 9223372036854775808}", RF_E_SCHEMA, 28,
               "outside the allowed range");
    crit_fails("parent_pid: {equals: 1.5}", RF_E_SCHEMA, 28, "found a decimal number");
    /* one_of. */
    crit_fails("image_path: {one_of: []}", RF_E_SCHEMA, 28,
               "'one_of' for field 'image_path' is empty");
    crit_fails("image_path: {one_of: a}", RF_E_SCHEMA, 28,
               "the value of 'one_of' must be a list; found a string");
    crit_fails("image_path: {one_of: [a, b, 'a']}", RF_E_SCHEMA, 35,
               "duplicate value 'a' in 'one_of' for field 'image_path' (first at line 11)");
    crit_fails("image_path: {one_of: [abc, ABC], nocase: true}", RF_E_SCHEMA, 34,
               "duplicate value 'ABC' in 'one_of' for field 'image_path' (nocase)");
    crit_fails("parent_pid: {one_of: [1, 2, 1]}", RF_E_SCHEMA, 35,
               "duplicate value '1' in 'one_of' for field 'parent_pid'");
    crit_fails("parent_pid: {one_of: [1, x]}", RF_E_SCHEMA, 32,
               "a 'one_of' value for field 'parent_pid' must be an integer");
    /* range. */
    crit_fails("parent_pid: {range: [5, 4]}", RF_E_SCHEMA, 27,
               "'range' for field 'parent_pid' is empty: low end 5 is above high end 4");
    crit_fails("parent_pid: {range: [5]}", RF_E_SCHEMA, 27, "a list of two integers [LO, HI]");
    crit_fails("parent_pid: {range: [1, 2, 3]}", RF_E_SCHEMA, 27, "a list of two integers");
    crit_fails("parent_pid: {range: 5}", RF_E_SCHEMA, 27, "a list of two integers");
    crit_fails("parent_pid: {range: [1, '2']}", RF_E_SCHEMA, 31,
               "the high end of 'range' must be an integer");
}

static void test_limits(void **state)
{
    (void)state;
    rf_buf b;
    rf_buf_init(&b);
    /* A string one byte over RF_MAX_STRING. */
    rf_buf_printf(&b, HDR INST "      image_path: {equals: '");
    for (int i = 0; i <= RF_MAX_STRING; i++)
        rf_buf_append(&b, "x", 1);
    rf_buf_printf(&b, "'}\n");
    char *src = rf_buf_take(&b);
    compile_fails(src, RF_E_LIMIT, 11, 28,
                  "the value of 'equals' for field 'image_path' is 4097 bytes long; the "
                  "limit is 4096 bytes");
    free(src);
    /* A regex one byte over RF_MAX_REGEX (fine as any other string). */
    rf_buf_printf(&b, HDR INST "      image_path: {regex: '");
    for (int i = 0; i <= RF_MAX_REGEX; i++)
        rf_buf_append(&b, "y", 1);
    rf_buf_printf(&b, "'}\n");
    src = rf_buf_take(&b);
    compile_fails(src, RF_E_LIMIT, 11, 27, "is 1025 bytes long; the limit is 1024 bytes");
    free(src);
    /* one_of with RF_MAX_ONE_OF + 1 values. */
    rf_buf_printf(&b, HDR INST "      parent_pid: {one_of: [0");
    for (int i = 1; i <= RF_MAX_ONE_OF; i++)
        rf_buf_printf(&b, ",%d", i);
    rf_buf_printf(&b, "]}\n");
    src = rf_buf_take(&b);
    compile_fails(src, RF_E_LIMIT, 11, 28,
                  "'one_of' for field 'parent_pid' has 4097 values; the limit is 4096");
    free(src);
    /* RF_MAX_ONE_OF exactly is fine. */
    rf_buf_printf(&b, HDR INST "      parent_pid: {one_of: [0");
    for (int i = 1; i < RF_MAX_ONE_OF; i++)
        rf_buf_printf(&b, ",%d", i);
    rf_buf_printf(&b, "]}\n");
    src = rf_buf_take(&b);
    rf_channel *ch = compile_ok(src);
    assert_int_equal(ch->instances[0].crits[0].nvals, RF_MAX_ONE_OF);
    rf_channel_free(ch);
    free(src);
    /* RF_MAX_TESTS + 1 tests. */
    rf_buf_printf(&b, HDR "  - id: a\n    action: detect\n    severity: low\n    tests:\n");
    for (int i = 0; i <= RF_MAX_TESTS; i++)
        rf_buf_printf(&b, "      - {event: {}, expect: match}\n");
    src = rf_buf_take(&b);
    compile_fails(src, RF_E_LIMIT, 11, 7, "instance 'a' has 65 tests; the limit is 64");
    free(src);
    /* RF_MAX_INSTANCES + 1 entries are refused before any is looked at. */
    rf_buf_printf(&b, "kind: Channel\nchannel: 1\ntemplate_type: ipc_named_pipe\n"
                      "template_version: 1\ncontent_version: 1\ninstances: [0");
    for (int i = 0; i < RF_MAX_INSTANCES; i++)
        rf_buf_append(&b, ",0", 2);
    rf_buf_printf(&b, "]\n");
    src = rf_buf_take(&b);
    compile_fails(src, RF_E_LIMIT, 6, 12, "100001 instances; a channel holds at most 100000");
    free(src);
}

static void test_instance_errors(void **state)
{
    (void)state;
    compile_fails(HDR "  - {id: a, action: detect, severity: low}\n"
                      "  - {id: b, action: detect, severity: low}\n"
                      "  - {id: a, action: block, severity: low}\n",
                  RF_E_SCHEMA, 9, 10, "duplicate instance id 'a' (first at line 7)");
    compile_fails(HDR "  - {id: 'bad id', action: detect, severity: low}\n", RF_E_SCHEMA, 7, 10,
                  "instance id 'bad id' is not valid");
    compile_fails(HDR "  - {id: 007, action: detect, severity: low}\n", RF_E_SCHEMA, 7, 10,
                  "'id' must be a string; found an integer (write it in quotes: '007')");
    compile_fails(HDR "  - {id: a, action: alert, severity: low}\n", RF_E_SCHEMA, 7, 21,
                  "'action' must be 'detect' or 'block'; found 'alert'");
    compile_fails(HDR "  - {id: a, action: detect, severity: severe}\n", RF_E_SCHEMA, 7, 39,
                  "'severity' must be one of info, low, medium, high, critical; found 'severe'");
    compile_fails(HDR "  - {action: detect, severity: low}\n", RF_E_SCHEMA, 7, 5,
                  "missing required key 'id' in an instance");
    compile_fails(HDR "  - {id: a, action: detect, severity: low, enabled: true}\n",
                  RF_E_SCHEMA, 7, 44,
                  "unknown key 'enabled' in an instance; expected one of: id, action, "
                  "severity, match, tests");
    compile_fails(HDR "  - just-a-string\n", RF_E_SCHEMA, 7, 5,
                  "each entry of 'instances' must be a mapping; found a string");
    compile_fails(HDR "  - {id: a, action: detect, severity: low, match: [x]}\n", RF_E_SCHEMA,
                  7, 51, "'match' must be a mapping; found a list");
    /* 128 characters is the longest id. */
    char id[RF_ID_MAX + 2];
    memset(id, 'x', sizeof(id));
    id[RF_ID_MAX] = 0;
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b, HDR "  - {id: %s, action: detect, severity: low}\n", id);
    char *src = rf_buf_take(&b);
    rf_channel *ch = compile_ok(src);
    assert_int_equal(strlen(ch->instances[0].id), RF_ID_MAX);
    rf_channel_free(ch);
    free(src);
    id[RF_ID_MAX] = 'x';
    id[RF_ID_MAX + 1] = 0;
    rf_buf_printf(&b, HDR "  - {id: %s, action: detect, severity: low}\n", id);
    src = rf_buf_take(&b);
    compile_fails(src, RF_E_SCHEMA, 7, 10, "is not valid");
    free(src);
}

static void test_test_errors(void **state)
{
    (void)state;
#define TI HDR "  - id: a\n    action: detect\n    severity: low\n    tests:\n"
    /* Tests start on line 11, column 7 ("      - "), mapping at column 9. */
    compile_fails(TI "      - {event: {}, expect: maybe}\n", RF_E_SCHEMA, 11, 29,
                  "'expect' must be 'match' or 'no_match'; found 'maybe'");
    compile_fails(TI "      - {event: {}, expect: match, name: x}\n", RF_E_SCHEMA, 11, 36,
                  "unknown key 'name' in a test; expected one of: event, expect");
    compile_fails(TI "      - {expect: match}\n", RF_E_SCHEMA, 11, 9,
                  "missing required key 'event' in a test");
    compile_fails(TI "      - {event: [1], expect: match}\n", RF_E_SCHEMA, 11, 17,
                  "'event' must be a mapping; found a list");
    compile_fails(TI "      - {event: {pid: 4}, expect: match}\n", RF_E_SCHEMA, 11, 18,
                  "unknown field 'pid' in a test event; template type 'ipc_named_pipe' "
                  "version 1 has fields:");
    compile_fails(TI "      - {event: {parent_pid: '4'}, expect: match}\n", RF_E_SCHEMA, 11, 30,
                  "test event value for int field 'parent_pid' must be an integer; found the "
                  "quoted string '4'");
    compile_fails(TI "      - {event: {pipe_name: 4}, expect: match}\n", RF_E_SCHEMA, 11, 29,
                  "test event value for string field 'pipe_name' must be a string; found an "
                  "integer");
    compile_fails(TI "      - {event: {pipe_name: true}, expect: match}\n", RF_E_SCHEMA, 11, 29,
                  "found a boolean");
    compile_fails(TI "      - 5\n", RF_E_SCHEMA, 11, 9,
                  "each entry of 'tests' must be a mapping; found an integer");
    compile_fails(HDR "  - {id: a, action: detect, severity: low, tests: {}}\n", RF_E_SCHEMA,
                  7, 51, "'tests' must be a list; found a mapping");
#undef TI
}

static void test_channel_errors(void **state)
{
    (void)state;
    compile_fails("kind: Channel\nchannel: 0\ntemplate_type: ipc_named_pipe\n"
                  "template_version: 1\ncontent_version: 1\ninstances: []\n",
                  RF_E_SCHEMA, 2, 10,
                  "'channel' is 0, outside the allowed range 1..65535");
    compile_fails("kind: Channel\nchannel: 65536\ntemplate_type: ipc_named_pipe\n"
                  "template_version: 1\ncontent_version: 1\ninstances: []\n",
                  RF_E_SCHEMA, 2, 10, "outside the allowed range 1..65535");
    compile_fails("kind: Channel\nchannel: 1\ntemplate_type: ipc_named_pipe\n"
                  "template_version: 1\ncontent_version: 0\ninstances: []\n",
                  RF_E_SCHEMA, 5, 18, "'content_version' is 0, outside the allowed range "
                                      "1..4294967295");
    compile_fails("kind: Channel\nchannel: 1\ntemplate_type: ipc_named_pipe\n"
                  "template_version: 0\ncontent_version: 1\ninstances: []\n",
                  RF_E_SCHEMA, 4, 19, "'template_version' is 0");
    compile_fails("kind: Channel\nchannel: 1\ntemplate_type: ipc_named_pipe\n"
                  "template_version: 3\ncontent_version: 1\ninstances: []\n",
                  RF_E_SCHEMA, 4, 19,
                  "template type 'ipc_named_pipe' has no version 3 in the workspace; "
                  "versions present: 1, 2");
    compile_fails("kind: Channel\nchannel: 1\ntemplate_type: file_write\n"
                  "template_version: 1\ncontent_version: 1\ninstances: []\n",
                  RF_E_SCHEMA, 3, 16, "template type 'file_write' is not in the workspace");
    compile_fails("kind: Channel\nchannel: 1\ntemplate_type: ipc_named_pipe\n"
                  "template_version: 1\ncontent_version: 1\n",
                  RF_E_SCHEMA, 1, 1, "missing required key 'instances' in a Channel");
    compile_fails("kind: Channel\nchannel: 1\ntemplate_type: ipc_named_pipe\n"
                  "template_version: 1\ncontent_version: 1\ninstances: {}\n",
                  RF_E_SCHEMA, 6, 12, "'instances' must be a list; found a mapping");
    compile_fails("kind: Channel\nchanel: 1\n", RF_E_SCHEMA, 2, 1,
                  "unknown key 'chanel' in a Channel; expected one of: kind, channel, "
                  "template_type, template_version, content_version, instances");
    compile_fails("kind: TemplateType\nname: x\n", RF_E_SCHEMA, 1, 7,
                  "this is a 'TemplateType' document, not a Channel");
    compile_fails("channel: 1\n", RF_E_SCHEMA, 1, 1, "missing required key 'kind'");
    compile_fails("- kind: Channel\n", RF_E_SCHEMA, 1, 1,
                  "a Channel document must be a mapping at the top level; found a list");
    compile_fails("just words\n", RF_E_SCHEMA, 1, 1, "found a string");
    compile_fails("", RF_E_PARSE, 1, 1, "empty document");
    compile_fails("kind: Channel\nchannel: &c 1\n", RF_E_PARSE, 2, 10, "anchors");
    compile_fails("kind: Channel\nkind: Channel\n", RF_E_SCHEMA, 2, 1, "duplicate key 'kind'");
}

static void file_fails(const char *path, rf_rc want, uint32_t line, uint32_t col,
                       const char *sub)
{
    rf_channel *ch = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_compile_file(g_ws, path, &ch, &err);
    if (rc != want || err.line != line || err.col != col || !strstr(err.msg, sub))
        fail_msg("expected %s at %u:%u containing '%s'; got %s at %u:%u: %s",
                 rf_strerror(want), line, col, sub, rf_strerror(rc), err.line, err.col,
                 err.msg);
    assert_null(ch);
    assert_string_equal(err.file, path);
}

static void test_file_errors(void **state)
{
    (void)state;
    file_fails(DATA("channels/missing.yaml"), RF_E_IO, 0, 0, "cannot open");
    file_fails(DATA("channels"), RF_E_IO, 0, 0, "is a directory");
    file_fails(DATA("channels/empty.yaml"), RF_E_PARSE, 1, 1, "empty document");
    file_fails(DATA("channels/wrong_kind.yaml"), RF_E_SCHEMA, 1, 7,
               "this is a 'SensorManifest' document, not a Channel");
    file_fails(DATA("channels/glob_on_int.yaml"), RF_E_SCHEMA, 11, 20,
               "field 'parent_pid' is int; criterion 'glob' needs a string field");
    /* A file over RF_MAX_SOURCE_BYTES is refused before it is read: a sparse
     * file of that size costs nothing to make. */
    char big[] = "/tmp/rf_compile_big_XXXXXX";
    int fd = mkstemp(big);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)RF_MAX_SOURCE_BYTES + 1), 0);
    close(fd);
    file_fails(big, RF_E_LIMIT, 0, 0, "larger than the limit");
    unlink(big);
    /* The in-memory entry point checks the length before touching the bytes. */
    rf_channel *ch = NULL;
    rf_err err;
    assert_int_equal(rf_compile_parse(g_ws, "x", "kind: Channel", (size_t)RF_MAX_SOURCE_BYTES + 1,
                                      &ch, &err),
                     RF_E_LIMIT);
    assert_null(ch);
    assert_int_equal(rf_compile_file(g_ws, NULL, &ch, NULL), RF_E_USAGE);
    assert_int_equal(rf_compile_parse(NULL, "x", "a", 1, &ch, NULL), RF_E_USAGE);
}

static void test_determinism(void **state)
{
    (void)state;
    uint8_t *src = NULL;
    size_t len = 0;
    rf_err err;
    assert_int_equal(rf_file_read(DATA("channels/good.yaml"), RF_MAX_SOURCE_BYTES, &src, &len,
                                  &err),
                     RF_OK);
    rf_channel *a = NULL, *b = NULL;
    assert_int_equal(rf_compile_parse(g_ws, "x.yaml", (const char *)src, len, &a, &err), RF_OK);
    assert_int_equal(rf_compile_parse(g_ws, "x.yaml", (const char *)src, len, &b, &err), RF_OK);
    assert_channel_eq(a, b, 1);
    /* And the channel writer turns both into the same bytes. */
    uint8_t *wa = NULL, *wb = NULL;
    size_t la = 0, lb = 0;
    rf_rc rc = rf_channel_write(a, &wa, &la, &err);
    if (rc)
        fail_msg("rf_channel_write: %s: %s", rf_strerror(rc), err.msg);
    assert_int_equal(rf_channel_write(b, &wb, &lb, &err), RF_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(wa, wb, la);
    free(wa);
    free(wb);
    rf_channel_free(a);
    rf_channel_free(b);
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_string_kinds),
        cmocka_unit_test(test_int_kinds),
        cmocka_unit_test(test_wildcards_and_empty_match),
        cmocka_unit_test(test_sort_order),
        cmocka_unit_test(test_crit_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_instance_errors),
        cmocka_unit_test(test_test_errors),
        cmocka_unit_test(test_channel_errors),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_determinism),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
