/*
 * event_test.c — unit tests of lib/event: JSON lines into rf_event and back.
 * Good lines (every value kind, embedded NUL, int64 extremes, trailing
 * whitespace) and one test per error class of event.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringfence/event.h"
#include "ringfence/util.h"

static rf_event *parse_ok(const char *line)
{
    rf_event *ev = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_event_parse(line, strlen(line), &ev, &err);
    if (rc != RF_OK)
        fail_msg("parse of %s failed: %s: %s", line, rf_strerror(rc), err.msg);
    assert_non_null(ev);
    return ev;
}

/* Expect rc; return the message (static buffer) for further checks. */
static const char *parse_fail(const char *line, size_t len, rf_rc want)
{
    static rf_err err;
    rf_event *ev = (rf_event *)0x1;
    rf_err_clear(&err);
    rf_rc rc = rf_event_parse(line, len, &ev, &err);
    if (rc != want)
        fail_msg("parse of %.80s: got %s (%s), want %s", line, rf_strerror(rc), err.msg,
                 rf_strerror(want));
    assert_ptr_equal(ev, (rf_event *)0x1); /* untouched on failure */
    assert_int_equal(err.rc, want);
    assert_true(err.msg[0] != '\0');
    return err.msg;
}

static const char *fail_s(const char *line, rf_rc want)
{
    return parse_fail(line, strlen(line), want);
}

static void test_design_example(void **state)
{
    (void)state;
    const char *line = "{\"template_type\":\"ipc_named_pipe\",\"sensor_version\":\"7.11.18110\","
                       "\"inputs\":[\"\\\\\\\\.\\\\pipe\\\\x\",\"C:\\\\a.exe\",4]}";
    rf_event *ev = parse_ok(line);
    assert_string_equal(ev->template_type, "ipc_named_pipe");
    assert_string_equal(ev->sensor_version, "7.11.18110");
    assert_int_equal(ev->ninputs, 3);
    assert_int_equal(ev->inputs[0].type, RF_VAL_STRING);
    assert_int_equal(ev->inputs[0].len, 10);
    assert_memory_equal(ev->inputs[0].s, "\\\\.\\pipe\\x", 10);
    assert_int_equal(ev->inputs[1].type, RF_VAL_STRING);
    assert_memory_equal(ev->inputs[1].s, "C:\\a.exe", 8);
    assert_int_equal(ev->inputs[2].type, RF_VAL_INT);
    assert_int_equal(ev->inputs[2].i, 4);

    /* and back: the same line, byte for byte */
    char *js = NULL;
    assert_int_equal(rf_event_to_json(ev, &js), RF_OK);
    assert_string_equal(js, line);
    free(js);
    rf_event_free(ev);
}

static void test_values(void **state)
{
    (void)state;
    rf_event *ev = parse_ok("  {\"inputs\":[null,\"a\\u0000b\",-9223372036854775808,"
                            "9223372036854775807,\"\",\"\\u00e9\",0]} \r\n");
    assert_null(ev->template_type);
    assert_null(ev->sensor_version);
    assert_int_equal(ev->ninputs, 7);
    assert_int_equal(ev->inputs[0].type, RF_VAL_ABSENT);
    assert_int_equal(ev->inputs[1].type, RF_VAL_STRING);
    assert_int_equal(ev->inputs[1].len, 3);
    assert_memory_equal(ev->inputs[1].s, "a\0b", 3);
    assert_int_equal(ev->inputs[2].type, RF_VAL_INT);
    assert_true(ev->inputs[2].i == INT64_MIN);
    assert_true(ev->inputs[3].i == INT64_MAX);
    assert_int_equal(ev->inputs[4].type, RF_VAL_STRING);
    assert_int_equal(ev->inputs[4].len, 0);
    assert_int_equal(ev->inputs[5].len, 2);
    assert_memory_equal(ev->inputs[5].s, "\xc3\xa9", 2);

    /* round trip keeps the embedded NUL and the extremes */
    char *js = NULL;
    assert_int_equal(rf_event_to_json(ev, &js), RF_OK);
    rf_event *ev2 = parse_ok(js);
    assert_int_equal(ev2->ninputs, 7);
    assert_int_equal(ev2->inputs[1].len, 3);
    assert_memory_equal(ev2->inputs[1].s, "a\0b", 3);
    assert_true(ev2->inputs[2].i == INT64_MIN);
    assert_int_equal(ev2->inputs[0].type, RF_VAL_ABSENT);
    free(js);
    rf_event_free(ev2);
    rf_event_free(ev);

    ev = parse_ok("{\"inputs\":[]}");
    assert_int_equal(ev->ninputs, 0);
    rf_event_free(ev);

    /* the full RF_MAX_INPUTS, and a long string (strings are just data) */
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b, "{\"inputs\":[");
    for (unsigned i = 0; i < RF_MAX_INPUTS; i++)
        rf_buf_printf(&b, "%s%u", i ? "," : "", i);
    rf_buf_printf(&b, ",\"");
    for (unsigned i = 0; i < 100000; i++)
        rf_buf_append(&b, "x", 1);
    rf_buf_printf(&b, "\"]}");
    char *s = rf_buf_take(&b);
    assert_non_null(s);
    /* one too many: RF_MAX_INPUTS ints plus the string */
    parse_fail(s, strlen(s), RF_E_LIMIT);
    free(s);

    rf_buf_init(&b);
    rf_buf_printf(&b, "{\"inputs\":[");
    for (unsigned i = 0; i + 1 < RF_MAX_INPUTS; i++)
        rf_buf_printf(&b, "%u,", i);
    rf_buf_printf(&b, "\"");
    for (unsigned i = 0; i < 100000; i++)
        rf_buf_append(&b, "x", 1);
    rf_buf_printf(&b, "\"]}");
    s = rf_buf_take(&b);
    assert_non_null(s);
    ev = parse_ok(s);
    assert_int_equal(ev->ninputs, RF_MAX_INPUTS);
    assert_int_equal(ev->inputs[RF_MAX_INPUTS - 1].len, 100000);
    assert_int_equal(ev->inputs[RF_MAX_INPUTS - 2].i, RF_MAX_INPUTS - 2);
    rf_event_free(ev);
    free(s);
    rf_event_free(NULL);
}

static void test_parse_errors(void **state)
{
    (void)state;
    fail_s("", RF_E_PARSE);
    fail_s("not json", RF_E_PARSE);
    fail_s("{\"inputs\":[1,2]", RF_E_PARSE);                   /* truncated */
    fail_s("{\"inputs\":[1]} x", RF_E_PARSE);                  /* trailing data */
    fail_s("{\"inputs\":[1]}{\"inputs\":[1]}", RF_E_PARSE);    /* two values */
    fail_s("[1,2]", RF_E_PARSE);                               /* not an object */
    fail_s("\"x\"", RF_E_PARSE);
    assert_non_null(strstr(fail_s("[1,2]", RF_E_PARSE), "not an object"));
    fail_s("{\"inputs\":[\"\xff\"]}", RF_E_PARSE);             /* bad UTF-8 */
    fail_s("{\"inputs\":[\"\xc3\"]}", RF_E_PARSE);
    parse_fail("{\"inputs\":[1]}\0", 15, RF_E_PARSE);          /* NUL after the value */
}

static void test_schema_errors(void **state)
{
    (void)state;
    const char *m;
    m = fail_s("{\"inputs\":[1],\"extra\":1}", RF_E_SCHEMA);
    assert_non_null(strstr(m, "extra"));
    fail_s("{\"inputs\":[1],\"inputs\":[2]}", RF_E_SCHEMA);     /* duplicate key */
    fail_s("{\"template_type\":\"a\"}", RF_E_SCHEMA);           /* no inputs */
    fail_s("{\"template_type\":1,\"inputs\":[]}", RF_E_SCHEMA);
    fail_s("{\"sensor_version\":null,\"inputs\":[]}", RF_E_SCHEMA);
    fail_s("{\"template_type\":\"a\\u0000b\",\"inputs\":[]}", RF_E_SCHEMA);
    fail_s("{\"inputs\":{}}", RF_E_SCHEMA);
    fail_s("{\"inputs\":\"x\"}", RF_E_SCHEMA);
    m = fail_s("{\"inputs\":[1,2.5]}", RF_E_SCHEMA);
    assert_non_null(strstr(m, "inputs[1]"));
    assert_non_null(strstr(m, "real"));
    m = fail_s("{\"inputs\":[true]}", RF_E_SCHEMA);
    assert_non_null(strstr(m, "inputs[0]"));
    m = fail_s("{\"inputs\":[null,null,{}]}", RF_E_SCHEMA);
    assert_non_null(strstr(m, "inputs[2]"));
    fail_s("{\"inputs\":[[1]]}", RF_E_SCHEMA);
    fail_s("{\"inputs\":[1e3]}", RF_E_SCHEMA);
    fail_s("{\"inputs\":[9223372036854775808]}", RF_E_SCHEMA);  /* > int64 */
    fail_s("{\"inputs\":[-9223372036854775809]}", RF_E_SCHEMA);
    /* a key with a NUL in it is never taken for "inputs" (jansson refuses it) */
    fail_s("{\"inputs\\u0000x\":[1]}", RF_E_PARSE);
}

static void test_limit_errors(void **state)
{
    (void)state;
    size_t n = RF_MAX_EVENT_LINE + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "{\"inputs\":[]}", 13);
    parse_fail(big, n, RF_E_LIMIT);
    /* exactly the limit is fine */
    rf_event *ev = NULL;
    assert_int_equal(rf_event_parse(big, n - 1, &ev, NULL), RF_OK);
    rf_event_free(ev);
    free(big);

    rf_event *out = NULL;
    assert_int_equal(rf_event_parse(NULL, 3, &out, NULL), RF_E_USAGE);
    assert_int_equal(rf_event_parse("{}", 2, NULL, NULL), RF_E_USAGE);
}

static void test_to_json_errors(void **state)
{
    (void)state;
    rf_input in[2] = {{.type = RF_VAL_STRING, .s = "\xff", .len = 1}, {.type = RF_VAL_INT}};
    rf_event ev = {.template_type = NULL, .sensor_version = NULL, .ninputs = 2, .inputs = in};
    char *js = (char *)0x1;
    assert_int_equal(rf_event_to_json(&ev, &js), RF_E_SCHEMA); /* not UTF-8 */
    assert_ptr_equal(js, (char *)0x1);
    in[0].type = (rf_value_type)9;
    assert_int_equal(rf_event_to_json(&ev, &js), RF_E_SCHEMA);
    in[0] = (rf_input){.type = RF_VAL_ABSENT};
    assert_int_equal(rf_event_to_json(&ev, &js), RF_OK);
    assert_string_equal(js, "{\"inputs\":[null,0]}");
    free(js);
    assert_int_equal(rf_event_to_json(NULL, &js), RF_E_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example), cmocka_unit_test(test_values),
        cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_limit_errors),   cmocka_unit_test(test_to_json_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
