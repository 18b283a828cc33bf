/*
 * validate_test.c — the Content Validator against the 19 July 2024 fixture
 * workspace (tests/data/validate/ws): a 21-field IPC template type, sensor
 * 7.11 supplying 20 inputs and 7.16 supplying 21. Each stage is shown to
 * reject what it exists to reject, on its own (with the others skipped), and
 * the execution stage's child is made to crash, abort, spin and allocate
 * without bound to prove the validator survives and reports each.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "ringfence/compile.h"
#include "ringfence/util.h"
#include "ringfence/validate.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef TEST_ASAN
#define TEST_ASAN 0
#endif

#define WS RF_TEST_DATA "/validate/ws"
#define CH(name) WS "/channels/" name

static rf_workspace *g_ws;

static int group_setup(void **state)
{
    (void)state;
    rf_err e;
    rf_err_clear(&e);
    if (rf_workspace_load(WS, &g_ws, &e) != RF_OK) {
        char buf[1024];
        rf_err_format(&e, buf, sizeof(buf));
        fprintf(stderr, "cannot load %s: %s\n", WS, buf);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    rf_workspace_free(g_ws);
    return 0;
}

static int unset_fault(void **state)
{
    (void)state;
    unsetenv("RF_VALIDATE_TEST_CHILD_FAULT");
    return 0;
}

/* Print the report, so a failing assertion comes with the evidence. */
static void dump(const rf_report *r)
{
    char *js = NULL;
    if (rf_report_to_json(r, &js) == RF_OK) {
        fprintf(stderr, "%s\n", js); /* print_message truncates long text */
        free(js);
    }
}

static rf_report *run_opts(const char *path, const rf_validate_opts *o)
{
    rf_report *r = NULL;
    rf_err e;
    rf_err_clear(&e);
    rf_rc rc = rf_validate_path(g_ws, path, o, &r, &e);
    if (rc != RF_OK)
        print_message("rf_validate_path: %s: %s\n", rf_strerror(rc), e.msg);
    assert_int_equal(rc, RF_OK);
    assert_non_null(r);
    return r;
}

static rf_report *run(const char *path)
{
    return run_opts(path, NULL);
}

/* The first finding of stage st whose message contains needle (or any, if
 * needle is NULL) and, if sv is not NULL, whose sensor is sv; 1 if found. */
static int find(const rf_report *r, rf_stage st, const char *needle, const char *sv,
                rf_finding *out)
{
    for (uint32_t i = 0; i < rf_report_nfindings(r); i++) {
        rf_finding f;
        if (rf_report_finding(r, i, &f) != RF_OK)
            return 0;
        if (f.stage != st)
            continue;
        if (needle && !strstr(f.message, needle))
            continue;
        if (sv && (!f.sensor_version || strcmp(f.sensor_version, sv) != 0))
            continue;
        if (out)
            *out = f;
        return 1;
    }
    return 0;
}

static uint32_t count_errors(const rf_report *r, rf_stage st)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < rf_report_nfindings(r); i++) {
        rf_finding f;
        assert_int_equal(rf_report_finding(r, i, &f), RF_OK);
        if (f.stage == st && f.error)
            n++;
    }
    return n;
}

static void expect_status(const rf_report *r, rf_stage st, rf_stage_status want)
{
    rf_stage_status got = rf_report_stage_status(r, st);
    if (got != want) {
        dump(r);
        fail_msg("stage %s is %s, expected %s", rf_stage_name(st), rf_stage_status_name(got),
                 rf_stage_status_name(want));
    }
}

/* ---- the whole pipeline ---- */

static void test_wildcard_field21_accepted(void **state)
{
    (void)state;
    rf_report *r = run(CH("c291-v6.yaml"));
    if (!rf_report_passed(r))
        dump(r);
    assert_true(rf_report_passed(r));
    for (int s = RF_STAGE_PARSE; s <= RF_STAGE_EXECUTION; s++)
        expect_status(r, (rf_stage)s, RF_STATUS_PASS);
    expect_status(r, RF_STAGE_DIFFERENTIAL, RF_STATUS_SKIPPED);
    assert_non_null(strstr(rf_report_stage_summary(r, RF_STAGE_CAPABILITY), "2 sensors"));
    /* The instance without tests is a warning, not an error. */
    rf_finding f;
    assert_true(find(r, RF_STAGE_TESTS, "has no tests", NULL, &f));
    assert_int_equal(f.error, 0);
    assert_string_equal(f.instance, "pipe-c2-004");
    size_t n = 0;
    assert_non_null(rf_report_channel_bytes(r, &n));
    assert_true(n > 0);
    rf_report_free(r);
}

static void test_field21_rejected_at_capability(void **state)
{
    (void)state;
    rf_report *r = run(CH("c291-v7-0719.yaml"));
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_PARSE, RF_STATUS_PASS);
    expect_status(r, RF_STAGE_SCHEMA, RF_STATUS_PASS);
    expect_status(r, RF_STAGE_CAPABILITY, RF_STATUS_FAIL);
    rf_finding f;
    assert_true(find(r, RF_STAGE_CAPABILITY, NULL, NULL, &f));
    assert_int_equal(f.error, 1);
    assert_string_equal(f.sensor_version, "7.11.18110");
    assert_int_equal(f.sensor_inputs, 20);
    assert_int_equal(f.field_index, 20);
    assert_string_equal(f.field, "pipe_flags");
    assert_string_equal(f.instance, "pipe-c2-0719");
    assert_string_equal(f.file, "channels/c291-v7-0719.yaml");
    assert_int_equal(f.line, 23);
    assert_non_null(strstr(f.message, "channels/c291-v7-0719.yaml:23:"));
    assert_non_null(strstr(f.message, "supplies only 20 inputs (indices 0..19)"));
    /* Exactly one violation: sensor 7.16 supplies the field. */
    assert_int_equal(count_errors(r, RF_STAGE_CAPABILITY), 1);
    assert_false(find(r, RF_STAGE_CAPABILITY, NULL, "7.16.18605", NULL));
    /* And the later layers agree independently. */
    expect_status(r, RF_STAGE_TESTS, RF_STATUS_FAIL);
    expect_status(r, RF_STAGE_EXECUTION, RF_STATUS_FAIL);
    rf_report_free(r);
}

static void test_field21_without_capability_stage(void **state)
{
    (void)state;
    rf_validate_opts o;
    rf_validate_opts_init(&o);
    o.skip = 1u << RF_STAGE_CAPABILITY;
    rf_report *r = run_opts(CH("c291-v7-0719.yaml"), &o);
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_CAPABILITY, RF_STATUS_SKIPPED);
    assert_string_equal(rf_report_stage_summary(r, RF_STAGE_CAPABILITY), "skipped on request");
    /* Tests: 7.11 refuses to build the interpreter; 7.16 passes. */
    expect_status(r, RF_STAGE_TESTS, RF_STATUS_FAIL);
    rf_finding f;
    assert_true(find(r, RF_STAGE_TESTS, "refuses to load", "7.11.18110", &f));
    assert_int_equal(f.sensor_inputs, 20);
    assert_false(find(r, RF_STAGE_TESTS, NULL, "7.16.18605", NULL));
    /* Execution: the load-time refusal, and the run-time layer on its own. */
    expect_status(r, RF_STAGE_EXECUTION, RF_STATUS_FAIL);
    assert_true(find(r, RF_STAGE_EXECUTION, "refuses to load", "7.11.18110", NULL));
    assert_true(find(r, RF_STAGE_EXECUTION, "would read past the 20 inputs", "7.11.18110", &f));
    assert_int_equal(f.error, 1);
    assert_non_null(strstr(f.message, "run-time bounds check refused"));
    rf_report_free(r);

    /* The execution stage alone (capability and tests off) still rejects. */
    o.skip = (1u << RF_STAGE_CAPABILITY) | (1u << RF_STAGE_TESTS);
    r = run_opts(CH("c291-v7-0719.yaml"), &o);
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_TESTS, RF_STATUS_SKIPPED);
    expect_status(r, RF_STAGE_EXECUTION, RF_STATUS_FAIL);
    rf_report_free(r);

    /* And the tests stage alone. */
    o.skip = (1u << RF_STAGE_CAPABILITY) | (1u << RF_STAGE_EXECUTION);
    r = run_opts(CH("c291-v7-0719.yaml"), &o);
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_TESTS, RF_STATUS_FAIL);
    expect_status(r, RF_STAGE_EXECUTION, RF_STATUS_SKIPPED);
    rf_report_free(r);
}

static void test_failing_embedded_test(void **state)
{
    (void)state;
    rf_report *r = run(CH("c291-failtest.yaml"));
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_CAPABILITY, RF_STATUS_PASS);
    expect_status(r, RF_STAGE_PATTERNS, RF_STATUS_PASS);
    expect_status(r, RF_STAGE_TESTS, RF_STATUS_FAIL);
    rf_finding f;
    assert_true(find(r, RF_STAGE_TESTS, "expects match", "7.11.18110", &f));
    assert_string_equal(f.instance, "pipe-c2-wrong");
    assert_int_equal(f.line, 22);
    assert_true(find(r, RF_STAGE_TESTS, "expects match", "7.16.18605", NULL));
    assert_int_equal(count_errors(r, RF_STAGE_TESTS), 2); /* once per sensor */
    rf_report_free(r);
}

static void test_bad_regex(void **state)
{
    (void)state;
    rf_report *r = run(CH("c291-badregex.yaml"));
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_PATTERNS, RF_STATUS_FAIL);
    rf_finding f;
    assert_true(find(r, RF_STAGE_PATTERNS, "does not compile", NULL, &f));
    assert_string_equal(f.instance, "pipe-c2-backref");
    assert_string_equal(f.field, "command_line");
    assert_int_equal(f.field_index, 7);
    rf_report_free(r);
}

static void test_no_sensor_runs_type(void **state)
{
    (void)state;
    rf_report *r = run(CH("file-orphan.yaml"));
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_CAPABILITY, RF_STATUS_FAIL);
    assert_true(find(r, RF_STAGE_CAPABILITY, "no sensor in the workspace runs", NULL, NULL));
    expect_status(r, RF_STAGE_TESTS, RF_STATUS_FAIL);
    expect_status(r, RF_STAGE_EXECUTION, RF_STATUS_FAIL);
    rf_report_free(r);
}

/* ---- inputs that do not parse ---- */

static char g_tmpdir[64];

static const char *tmp_write(const char *name, const void *buf, size_t len)
{
    static char path[256];
    if (!g_tmpdir[0]) {
        snprintf(g_tmpdir, sizeof(g_tmpdir), "/tmp/rf_validate_test.XXXXXX");
        assert_non_null(mkdtemp(g_tmpdir));
    }
    snprintf(path, sizeof(path), "%s/%s", g_tmpdir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    return path;
}

static void test_source_errors(void **state)
{
    (void)state;
    const char *bad = "kind: Channel\nchannel: [291\n";
    rf_report *r = run(tmp_write("bad.yaml", bad, strlen(bad)));
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_PARSE, RF_STATUS_FAIL);
    for (int s = RF_STAGE_SCHEMA; s < RF_STAGE_COUNT; s++)
        expect_status(r, (rf_stage)s, RF_STATUS_NOT_RUN);
    rf_report_free(r);

    const char *schema = "kind: Channel\nchannel: 291\ntemplate_type: ipc_named_pipe\n"
                         "template_version: 1\ncontent_version: 1\ninstances:\n"
                         "  - id: a\n    action: detect\n    severity: low\n"
                         "    match:\n      no_such_field: {equals: 'x'}\n";
    r = run(tmp_write("schema.yaml", schema, strlen(schema)));
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_PARSE, RF_STATUS_PASS);
    expect_status(r, RF_STAGE_SCHEMA, RF_STATUS_FAIL);
    expect_status(r, RF_STAGE_CAPABILITY, RF_STATUS_NOT_RUN);
    expect_status(r, RF_STAGE_EXECUTION, RF_STATUS_NOT_RUN);
    rf_finding f;
    assert_true(find(r, RF_STAGE_SCHEMA, NULL, NULL, &f));
    assert_true(f.line > 0);
    rf_report_free(r);

    r = run(tmp_write("missing.rfc", "", 0));
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_PARSE, RF_STATUS_FAIL);
    rf_report_free(r);
}

/* ---- binary channel files ---- */

static uint8_t *compile_bytes(const char *path, size_t *n)
{
    rf_channel *ch = NULL;
    rf_err e;
    rf_err_clear(&e);
    assert_int_equal(rf_compile_file(g_ws, path, &ch, &e), RF_OK);
    uint8_t *buf = NULL;
    assert_int_equal(rf_channel_write(ch, &buf, n, &e), RF_OK);
    rf_channel_free(ch);
    return buf;
}

static void test_binary_rfc(void **state)
{
    (void)state;
    size_t n = 0;
    uint8_t *buf = compile_bytes(CH("c291-v6.yaml"), &n);
    rf_report *r = run(tmp_write("c291-v6.rfc", buf, n));
    if (!rf_report_passed(r))
        dump(r);
    assert_true(rf_report_passed(r));
    size_t got = 0;
    const uint8_t *b = rf_report_channel_bytes(r, &got);
    assert_int_equal(got, n);
    assert_memory_equal(b, buf, n);
    rf_report_free(r);

    /* The server's upload check: the same bytes in memory. */
    rf_err e;
    rf_err_clear(&e);
    assert_int_equal(rf_validate_bytes(g_ws, buf, n, "upload.rfc", NULL, &r, &e), RF_OK);
    assert_true(rf_report_passed(r));
    rf_report_free(r);

    /* One flipped byte in the body: the total reader refuses it. */
    buf[n - 1] ^= 0x55;
    assert_int_equal(rf_validate_bytes(g_ws, buf, n, "upload.rfc", NULL, &r, &e), RF_OK);
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_PARSE, RF_STATUS_FAIL);
    expect_status(r, RF_STAGE_CAPABILITY, RF_STATUS_NOT_RUN);
    rf_report_free(r);
    free(buf);

    /* The 19 July content as a binary: rejected, no line numbers to give. */
    buf = compile_bytes(CH("c291-v7-0719.yaml"), &n);
    r = run(tmp_write("c291-v7.rfc", buf, n));
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_CAPABILITY, RF_STATUS_FAIL);
    rf_finding f;
    assert_true(find(r, RF_STAGE_CAPABILITY, NULL, "7.11.18110", &f));
    assert_int_equal(f.field_index, 20);
    assert_int_equal(f.sensor_inputs, 20);
    assert_int_equal(f.line, 0);
    rf_report_free(r);
    free(buf);
}

/* ---- the execution child's faults ---- */

static rf_report *run_fault(const char *fault, uint32_t cpu, uint64_t mem)
{
    rf_validate_opts o;
    rf_validate_opts_init(&o);
    o.exec_cpu_seconds = cpu;
    if (mem)
        o.exec_mem_bytes = mem;
    assert_int_equal(setenv("RF_VALIDATE_TEST_CHILD_FAULT", fault, 1), 0);
    rf_report *r = run_opts(CH("c291-v6.yaml"), &o);
    unsetenv("RF_VALIDATE_TEST_CHILD_FAULT");
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_EXECUTION, RF_STATUS_FAIL);
    /* The stages that need no interpreter process still ran and passed; the
     * tests, which ran in the same (dead) process, say so. */
    expect_status(r, RF_STAGE_CAPABILITY, RF_STATUS_PASS);
    expect_status(r, RF_STAGE_PATTERNS, RF_STATUS_PASS);
    expect_status(r, RF_STAGE_TESTS, RF_STATUS_FAIL);
    assert_true(find(r, RF_STAGE_TESTS, "did not complete", "7.11.18110", NULL));
    /* One finding per sensor: every child met the fault. */
    assert_int_equal(count_errors(r, RF_STAGE_EXECUTION), 2);
    return r;
}

static void test_child_segv(void **state)
{
    (void)state;
    rf_report *r = run_fault("segv", 10, 0);
    rf_finding f;
    assert_true(find(r, RF_STAGE_EXECUTION, "SIGSEGV", NULL, &f));
    assert_int_equal(f.error, 1);
    assert_non_null(strstr(f.message, "building the interpreter"));
    rf_report_free(r);
}

static void test_child_abort(void **state)
{
    (void)state;
    rf_report *r = run_fault("abort", 10, 0);
    assert_true(find(r, RF_STAGE_EXECUTION, "SIGABRT", NULL, NULL));
    rf_report_free(r);
}

static void test_child_cpu_limit(void **state)
{
    (void)state;
    rf_report *r = run_fault("spin", 1, 0);
    if (!find(r, RF_STAGE_EXECUTION, "CPU limit of 1 s", NULL, NULL))
        dump(r);
    assert_true(find(r, RF_STAGE_EXECUTION, "CPU limit of 1 s", NULL, NULL));
    rf_report_free(r);
}

static void test_child_memory_limit(void **state)
{
    (void)state;
    if (TEST_ASAN)
        skip(); /* no RLIMIT_AS under AddressSanitizer */
    rf_report *r = run_fault("alloc", 10, 1024ull << 20);
    if (!find(r, RF_STAGE_EXECUTION, "memory limit", NULL, NULL))
        dump(r);
    assert_true(find(r, RF_STAGE_EXECUTION, "memory limit of 1073741824 bytes", NULL, NULL));
    rf_report_free(r);
}

static void test_event_budget(void **state)
{
    (void)state;
    rf_validate_opts o;
    rf_validate_opts_init(&o);
    o.exec_event_budget_ns = 1; /* no real event costs under 1 ns */
    rf_report *r = run_opts(CH("c291-v6.yaml"), &o);
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_EXECUTION, RF_STATUS_FAIL);
    assert_true(find(r, RF_STAGE_EXECUTION, "over the budget of 1 ns", "7.11.18110", NULL));
    rf_report_free(r);
}

/* ---- differential ---- */

static void test_differential_storm(void **state)
{
    (void)state;
    rf_validate_opts o;
    rf_validate_opts_init(&o);
    o.baseline_path = CH("c291-v6.yaml");
    rf_report *r = run_opts(CH("c291-v8-storm.yaml"), &o);
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_EXECUTION, RF_STATUS_PASS);
    expect_status(r, RF_STAGE_DIFFERENTIAL, RF_STATUS_FAIL);
    rf_finding f;
    assert_true(find(r, RF_STAGE_DIFFERENTIAL, "false-positive storm", "7.11.18110", &f));
    /* 4 detections per sensor before; pipe-any-storm adds all 200 events. */
    assert_non_null(strstr(f.message, "rose from 4 to 204"));
    assert_non_null(strstr(f.message, "'pipe-any-storm' (0 -> 200)"));
    assert_string_equal(f.instance, "pipe-any-storm");
    assert_true(find(r, RF_STAGE_DIFFERENTIAL, "false-positive storm", "7.16.18605", NULL));
    rf_report_free(r);
}

static void test_differential_modest(void **state)
{
    (void)state;
    rf_validate_opts o;
    rf_validate_opts_init(&o);
    o.baseline_path = CH("c291-v6.yaml");
    rf_report *r = run_opts(CH("c291-v8-modest.yaml"), &o);
    if (!rf_report_passed(r))
        dump(r);
    assert_true(rf_report_passed(r));
    expect_status(r, RF_STAGE_DIFFERENTIAL, RF_STATUS_PASS);
    assert_non_null(strstr(rf_report_stage_summary(r, RF_STAGE_DIFFERENTIAL), "4 -> 6"));
    rf_report_free(r);

    /* A baseline that is not older is an error of its own. */
    o.baseline_path = CH("c291-v8-modest.yaml");
    r = run_opts(CH("c291-v8-modest.yaml"), &o);
    assert_false(rf_report_passed(r));
    expect_status(r, RF_STAGE_DIFFERENTIAL, RF_STATUS_FAIL);
    assert_true(find(r, RF_STAGE_DIFFERENTIAL, "not lower", NULL, NULL));
    rf_report_free(r);

    /* No corpus: nothing to compare. */
    o.baseline_path = CH("c291-v6.yaml");
    o.corpus_dir = RF_TEST_DATA "/validate/no-corpus";
    r = run_opts(CH("c291-v8-modest.yaml"), &o);
    if (!rf_report_passed(r))
        dump(r);
    assert_true(rf_report_passed(r));
    expect_status(r, RF_STAGE_DIFFERENTIAL, RF_STATUS_SKIPPED);
    assert_non_null(strstr(rf_report_stage_summary(r, RF_STAGE_DIFFERENTIAL), "no corpus"));
    rf_report_free(r);
}

/* ---- report, options, progress ---- */

static void test_json_report(void **state)
{
    (void)state;
    rf_report *r = run(CH("c291-v7-0719.yaml"));
    char *js = NULL;
    assert_int_equal(rf_report_to_json(r, &js), RF_OK);
    json_error_t je;
    json_t *root = json_loads(js, 0, &je);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "ringfence_report")), 1);
    assert_string_equal(json_string_value(json_object_get(root, "verdict")), "rejected");
    assert_string_equal(json_string_value(json_object_get(root, "file")),
                        "channels/c291-v7-0719.yaml");
    assert_int_equal(json_integer_value(json_object_get(root, "channel")), 291);
    assert_string_equal(json_string_value(json_object_get(root, "template_type")),
                        "ipc_named_pipe");
    assert_int_equal(json_integer_value(json_object_get(root, "content_version")), 7);
    assert_int_equal(strlen(json_string_value(json_object_get(root, "body_sha256"))), 64);
    json_t *stages = json_object_get(root, "stages");
    assert_int_equal(json_array_size(stages), RF_STAGE_COUNT);
    int seen = 0;
    for (size_t i = 0; i < json_array_size(stages); i++) {
        json_t *s = json_array_get(stages, i);
        assert_string_equal(json_string_value(json_object_get(s, "name")),
                            rf_stage_name((rf_stage)i));
        assert_non_null(json_string_value(json_object_get(s, "status")));
        assert_non_null(json_string_value(json_object_get(s, "summary")));
        if (i != RF_STAGE_CAPABILITY)
            continue;
        assert_string_equal(json_string_value(json_object_get(s, "status")), "fail");
        json_t *fa = json_array_get(json_object_get(s, "findings"), 0);
        assert_non_null(fa);
        assert_string_equal(json_string_value(json_object_get(fa, "severity")), "error");
        assert_string_equal(json_string_value(json_object_get(fa, "sensor_version")),
                            "7.11.18110");
        assert_int_equal(json_integer_value(json_object_get(fa, "sensor_inputs")), 20);
        assert_int_equal(json_integer_value(json_object_get(fa, "field_index")), 20);
        assert_string_equal(json_string_value(json_object_get(fa, "field")), "pipe_flags");
        assert_string_equal(json_string_value(json_object_get(fa, "instance")),
                            "pipe-c2-0719");
        assert_int_equal(json_integer_value(json_object_get(fa, "line")), 23);
        assert_non_null(json_string_value(json_object_get(fa, "message")));
        assert_non_null(json_string_value(json_object_get(fa, "file")));
        seen = 1;
    }
    assert_true(seen);
    json_decref(root);
    free(js);
    rf_report_free(r);
}

static int g_progress[RF_STAGE_COUNT];

static void on_progress(void *ctx, rf_stage st, const char *what)
{
    assert_ptr_equal(ctx, g_progress);
    assert_non_null(what);
    if ((unsigned)st < RF_STAGE_COUNT)
        g_progress[st]++;
}

static void test_options_and_progress(void **state)
{
    (void)state;
    rf_validate_opts o;
    rf_validate_opts_init(&o);
    o.skip = 1u << RF_STAGE_PARSE;
    rf_report *r = NULL;
    rf_err e;
    rf_err_clear(&e);
    assert_int_equal(rf_validate_path(g_ws, CH("c291-v6.yaml"), &o, &r, &e), RF_E_USAGE);
    assert_null(r);
    o.skip = 1u << RF_STAGE_COUNT;
    assert_int_equal(rf_validate_path(g_ws, CH("c291-v6.yaml"), &o, &r, &e), RF_E_USAGE);

    rf_validate_opts_init(&o);
    memset(g_progress, 0, sizeof(g_progress));
    o.progress = on_progress;
    o.progress_ctx = g_progress;
    o.baseline_path = CH("c291-v6.yaml");
    r = run_opts(CH("c291-v8-modest.yaml"), &o);
    for (int s = 0; s < RF_STAGE_COUNT; s++)
        if (!g_progress[s])
            fail_msg("no progress reported for stage %s", rf_stage_name((rf_stage)s));
    rf_report_free(r);

    assert_int_equal(rf_stage_from_name("capability"), RF_STAGE_CAPABILITY);
    assert_int_equal(rf_stage_from_name("nope"), -1);
    assert_string_equal(rf_stage_status_name(RF_STATUS_NOT_RUN), "not_run");
}

/* A thread that waits until told to stop: the host has two threads. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_stop;

static void *idle_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    while (!g_stop)
        pthread_cond_wait(&g_cv, &g_mu);
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* The validator forks its checks, so it refuses to run in a process with
 * other threads (whose locks a child would inherit); alone it runs. */
static void test_refuses_threaded_host(void **state)
{
    (void)state;
    size_t n;
    uint8_t *buf = compile_bytes(CH("c291-v6.yaml"), &n);
    rf_report *r = NULL;
    rf_err e;
    rf_err_clear(&e);
    pthread_t t;
    g_stop = 0;
    assert_int_equal(pthread_create(&t, NULL, idle_thread, NULL), 0);
    assert_int_equal(rf_validate_bytes(g_ws, buf, n, "upload.rfc", NULL, &r, &e), RF_E_USAGE);
    assert_null(r);
    assert_non_null(strstr(e.msg, "single-threaded"));
    assert_non_null(strstr(e.msg, "2 threads"));
    pthread_mutex_lock(&g_mu);
    g_stop = 1;
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(rf_validate_bytes(g_ws, buf, n, "upload.rfc", NULL, &r, &e), RF_OK);
    assert_true(rf_report_passed(r));
    rf_report_free(r);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wildcard_field21_accepted),
        cmocka_unit_test(test_field21_rejected_at_capability),
        cmocka_unit_test(test_field21_without_capability_stage),
        cmocka_unit_test(test_failing_embedded_test),
        cmocka_unit_test(test_bad_regex),
        cmocka_unit_test(test_no_sensor_runs_type),
        cmocka_unit_test(test_source_errors),
        cmocka_unit_test(test_binary_rfc),
        cmocka_unit_test_teardown(test_child_segv, unset_fault),
        cmocka_unit_test_teardown(test_child_abort, unset_fault),
        cmocka_unit_test_teardown(test_child_cpu_limit, unset_fault),
        cmocka_unit_test_teardown(test_child_memory_limit, unset_fault),
        cmocka_unit_test(test_event_budget),
        cmocka_unit_test(test_differential_storm),
        cmocka_unit_test(test_differential_modest),
        cmocka_unit_test(test_json_report),
        cmocka_unit_test(test_options_and_progress),
        cmocka_unit_test(test_refuses_threaded_host),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    if (g_tmpdir[0]) {
        const char *names[] = {"bad.yaml", "schema.yaml", "missing.rfc", "c291-v6.rfc",
                               "c291-v7.rfc"};
        char p[256];
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            snprintf(p, sizeof(p), "%s/%s", g_tmpdir, names[i]);
            unlink(p);
        }
        rmdir(g_tmpdir);
    }
    return rc;
}
