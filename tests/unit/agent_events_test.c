/*
 * agent_events_test.c — unit tests for lib/agent/events.c: every source spec
 * opens and every bad one is refused with a message; a replayed file gives
 * its events in order with seq 1..n and then the end, counting and skipping
 * malformed and overlong lines (the length limit tested at its boundary);
 * stdin, through a pipe put on fd 0, waits with a timeout, joins partial
 * lines and ends at EOF; synthetic events are paced (loosely: this is not a
 * timing test), reproducible from the seed, never constant, and, with a
 * model of a channel built here in memory, about 1 in 100 of them is an
 * instance's test event that the interpreter matches while the background
 * matches nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringfence/agent.h"
#include "ringfence/channel.h"
#include "ringfence/interp.h"
#include "ringfence/util.h"
#include "support/rm_tree.h"

#define TYPE "ipc_named_pipe"

static int setup(void **state)
{
    char *d = strdup("/tmp/rf_agent_events_test.XXXXXX");
    if (!d || !mkdtemp(d)) {
        free(d);
        return -1;
    }
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    char *d = *state;
    int rc = rm_tree(d);
    free(d);
    return rc;
}

static rf_agent_source *open_ok(const char *spec, uint64_t seed)
{
    rf_agent_source *s = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_agent_source_open(spec, seed, &s, &err);
    if (rc != RF_OK)
        fail_msg("open '%s': %s: %s", spec, rf_strerror(rc), err.msg);
    assert_non_null(s);
    return s;
}

static void open_fails(const char *spec, rf_rc want, const char *msg_part)
{
    rf_agent_source *s = (rf_agent_source *)0x1;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_agent_source_open(spec, 1, &s, &err);
    if (rc != want)
        fail_msg("open '%s': %s, expected %s", spec, rf_strerror(rc), rf_strerror(want));
    assert_ptr_equal(s, (rf_agent_source *)0x1); /* untouched on failure */
    assert_int_equal(err.rc, want);
    if (!strstr(err.msg, msg_part))
        fail_msg("open '%s': message '%s' lacks '%s'", spec, err.msg, msg_part);
}

/* ---- specs ---- */

static void test_specs(void **state)
{
    const char *dir = *state;
    rf_agent_event ev;
    rf_agent_source *s = open_ok("none", 0);
    assert_int_equal(rf_agent_source_next(s, NULL, 0, &ev), RF_E_IO);
    assert_int_equal(rf_agent_source_next(s, NULL, 0, &ev), RF_E_IO);
    assert_int_equal(rf_agent_source_bad(s), 0);
    rf_agent_source_close(s);

    rf_agent_source_close(open_ok("synthetic:1", 0));
    rf_agent_source_close(open_ok("synthetic:1000000", 0));
    rf_agent_source_close(open_ok("stdin", 0));

    open_fails("synthetic:x", RF_E_USAGE,
               "'synthetic:' needs a rate of 1..1000000 events/s, got 'x'");
    open_fails("synthetic:", RF_E_USAGE, "got ''");
    open_fails("synthetic:0", RF_E_USAGE, "got '0'");
    open_fails("synthetic:1000001", RF_E_USAGE, "got '1000001'");
    open_fails("synthetic:-5", RF_E_USAGE, "got '-5'");
    open_fails("synthetic:10 ", RF_E_USAGE, "got '10 '");
    open_fails("replay:", RF_E_USAGE, "needs a file name");
    open_fails("", RF_E_USAGE, "unknown source ''");
    open_fails("Stdin", RF_E_USAGE, "unknown source 'Stdin'");
    open_fails("nonex", RF_E_USAGE, "expected replay:FILE, stdin, synthetic:RATE or none");

    char spec[4200];
    snprintf(spec, sizeof(spec), "replay:%s/missing.jsonl", dir);
    open_fails(spec, RF_E_IO, "cannot open");
    snprintf(spec, sizeof(spec), "replay:%s", dir);
    open_fails(spec, RF_E_IO, "is a directory");

    rf_agent_source *out = NULL;
    assert_int_equal(rf_agent_source_open(NULL, 0, &out, NULL), RF_E_USAGE);
    assert_int_equal(rf_agent_source_open("none", 0, NULL, NULL), RF_E_USAGE);
    assert_int_equal(rf_agent_source_next(NULL, NULL, 0, &ev), RF_E_USAGE);
    assert_int_equal(rf_agent_source_bad(NULL), 0);
    rf_agent_source_close(NULL);
}

/* ---- replay ---- */

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* {"inputs":["xxx...",N]} padded with x to exactly LEN bytes (len >= 20). */
static void sized_line(rf_buf *b, size_t len, int n)
{
    char tail[32];
    int w = snprintf(tail, sizeof(tail), "\",%d]}", n);
    assert_true(w > 0);
    const char *head = "{\"inputs\":[\"";
    size_t pad = len - strlen(head) - (size_t)w;
    rf_buf_append(b, head, strlen(head));
    for (size_t i = 0; i < pad; i++)
        rf_buf_append(b, "x", 1);
    rf_buf_append(b, tail, (size_t)w);
}

/* The next event must be SEQ with an int VAL at input IDX. A replay uses a
 * timeout of -1 (no limit: a regular file never blocks), so a slow machine
 * cannot turn a long bad line into RF_E_NOTFOUND. */
static void expect_int_event(rf_agent_source *s, int timeout_ms, uint64_t seq, uint32_t idx,
                             int64_t val)
{
    rf_agent_event ev;
    memset(&ev, 0, sizeof(ev));
    assert_int_equal(rf_agent_source_next(s, NULL, timeout_ms, &ev), RF_OK);
    assert_int_equal(ev.seq, seq);
    assert_true(ev.ninputs > idx);
    assert_int_equal(ev.inputs[idx].type, RF_VAL_INT);
    assert_int_equal(ev.inputs[idx].i, val);
}

static void test_replay(void **state)
{
    const char *dir = *state;
    char path[4096], spec[4200];
    snprintf(path, sizeof(path), "%s/events.jsonl", dir);
    snprintf(spec, sizeof(spec), "replay:%s", path);

    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b, "{\"template_type\":\"%s\",\"inputs\":[\"\\\\\\\\.\\\\pipe\\\\a\",1]}\n",
                  TYPE);
    rf_buf_printf(&b, "{\"inputs\":[null,2]}\r\n"); /* CRLF: trailing whitespace */
    rf_buf_printf(&b, "\n   \n\t\r\n");            /* blank lines: skipped, not bad */
    rf_buf_printf(&b, "{\"inputs\":[\"x\",\n");    /* malformed (cut) */
    rf_buf_printf(&b, "not json at all\n");       /* malformed */
    rf_buf_printf(&b, "{\"inputs\":[0,3],\"extra\":1}\n"); /* unknown key: bad */
    rf_buf_printf(&b, "{\"inputs\":[0,4]}\n");
    sized_line(&b, RF_MAX_EVENT_LINE, 5); /* exactly the limit: fine */
    rf_buf_append(&b, "\n", 1);
    sized_line(&b, RF_MAX_EVENT_LINE + 1u, 99); /* one byte over: bad */
    rf_buf_append(&b, "\n", 1);
    sized_line(&b, 3u * RF_MAX_EVENT_LINE, 98); /* far over: bad, once */
    rf_buf_append(&b, "\n", 1);
    rf_buf_printf(&b, "{\"inputs\":[0,6]}"); /* the last line has no newline */
    assert_false(b.oom);
    write_file(path, b.data, b.len);
    rf_buf_free(&b);

    rf_agent_source *s = open_ok(spec, 0);
    rf_agent_event ev;
    assert_int_equal(rf_agent_source_next(s, NULL, -1, &ev), RF_OK);
    assert_int_equal(ev.seq, 1);
    assert_non_null(ev.template_type);
    assert_string_equal(ev.template_type, TYPE);
    assert_int_equal(ev.ninputs, 2);
    assert_int_equal(ev.inputs[0].type, RF_VAL_STRING);
    assert_int_equal(ev.inputs[0].len, 10);
    assert_memory_equal(ev.inputs[0].s, "\\\\.\\pipe\\a", 10);
    assert_int_equal(ev.inputs[1].i, 1);

    assert_int_equal(rf_agent_source_next(s, NULL, -1, &ev), RF_OK);
    assert_int_equal(ev.seq, 2);
    assert_null(ev.template_type);
    assert_int_equal(ev.inputs[0].type, RF_VAL_ABSENT);
    assert_int_equal(ev.inputs[1].i, 2);

    expect_int_event(s, -1, 3, 1, 4);
    assert_int_equal(rf_agent_source_bad(s), 3);
    assert_int_equal(rf_agent_source_next(s, NULL, -1, &ev), RF_OK);
    assert_int_equal(ev.seq, 4);
    assert_int_equal(ev.inputs[0].len, RF_MAX_EVENT_LINE - 17u);
    assert_int_equal(ev.inputs[1].i, 5);
    expect_int_event(s, -1, 5, 1, 6);
    assert_int_equal(rf_agent_source_bad(s), 5);
    assert_int_equal(rf_agent_source_next(s, NULL, -1, &ev), RF_E_IO);
    assert_int_equal(rf_agent_source_next(s, NULL, -1, &ev), RF_E_IO);
    assert_int_equal(rf_agent_source_bad(s), 5);
    rf_agent_source_close(s);

    /* An empty file is at its end at once; a source closed mid-file frees
     * the event it handed out (ASan checks). */
    write_file(path, "", 0);
    s = open_ok(spec, 0);
    assert_int_equal(rf_agent_source_next(s, NULL, -1, &ev), RF_E_IO);
    rf_agent_source_close(s);
    write_file(path, "{\"inputs\":[1]}\n{\"inputs\":[2]}\n", 30);
    s = open_ok(spec, 0);
    expect_int_event(s, -1, 1, 0, 1);
    rf_agent_source_close(s);
}

/* ---- stdin ---- */

static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(write(fd, s, n), (ssize_t)n);
}

static void test_stdin(void **state)
{
    (void)state;
    /* Put a pipe on fd 0 for the length of the test; the source reads fd 0
     * itself, as the agent's would. */
    int saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
    close(p[0]);

    rf_agent_source *s = open_ok("stdin", 0);
    rf_agent_event ev;
    /* Nothing yet: the timeout, not a block. */
    uint64_t t0 = rf_now_ns();
    assert_int_equal(rf_agent_source_next(s, NULL, 20, &ev), RF_E_NOTFOUND);
    assert_true(rf_now_ns() - t0 < 5000000000ull);
    assert_int_equal(rf_agent_source_next(s, NULL, 0, &ev), RF_E_NOTFOUND);

    put(p[1], "{\"inputs\":[7]}\n");
    expect_int_event(s, 1000, 1, 0, 7);
    /* A line arriving in pieces is joined. */
    put(p[1], "{\"inputs\":");
    assert_int_equal(rf_agent_source_next(s, NULL, 20, &ev), RF_E_NOTFOUND);
    put(p[1], "[8]}\n\n{bad}\n{\"inputs\":[9]}\n{\"inputs\":[10]}");
    expect_int_event(s, 1000, 2, 0, 8);
    expect_int_event(s, 1000, 3, 0, 9);
    assert_int_equal(rf_agent_source_bad(s), 1);
    /* The unterminated line waits for its newline or for EOF. */
    assert_int_equal(rf_agent_source_next(s, NULL, 20, &ev), RF_E_NOTFOUND);
    close(p[1]);
    expect_int_event(s, 1000, 4, 0, 10);
    assert_int_equal(rf_agent_source_next(s, NULL, 20, &ev), RF_E_IO);
    assert_int_equal(rf_agent_source_next(s, NULL, 20, &ev), RF_E_IO);
    rf_agent_source_close(s);

    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
}

/* ---- synthetic ---- */

static void test_synthetic_pacing(void **state)
{
    (void)state;
    rf_agent_source *s = open_ok("synthetic:1000", 3);
    rf_agent_event ev;
    uint64_t t0 = rf_now_ns(), n = 0, last = 0;
    while (rf_now_ns() - t0 < 100000000ull) {
        rf_rc rc = rf_agent_source_next(s, NULL, 10, &ev);
        assert_true(rc == RF_OK || rc == RF_E_NOTFOUND);
        if (rc == RF_OK) {
            assert_int_equal(ev.seq, last + 1u); /* no gaps */
            last = ev.seq;
            n++;
        }
    }
    if (n < 20 || n > 400)
        fail_msg("rate 1000 gave %llu events in 100 ms", (unsigned long long)n);
    rf_agent_source_close(s);

    /* Rate 1: the first event is due at once, the next not within 10 ms. */
    s = open_ok("synthetic:1", 3);
    assert_int_equal(rf_agent_source_next(s, NULL, 1000, &ev), RF_OK);
    assert_int_equal(rf_agent_source_next(s, NULL, 10, &ev), RF_E_NOTFOUND);
    assert_int_equal(rf_agent_source_next(s, NULL, 0, &ev), RF_E_NOTFOUND);
    rf_agent_source_close(s);
}

/* Byte-for-byte equality of two events' inputs. */
static int same_inputs(const rf_agent_event *a, const rf_agent_event *b)
{
    if (a->ninputs != b->ninputs)
        return 0;
    for (uint32_t i = 0; i < a->ninputs; i++) {
        const rf_input *x = &a->inputs[i], *y = &b->inputs[i];
        if (x->type != y->type)
            return 0;
        if (x->type == RF_VAL_INT && x->i != y->i)
            return 0;
        if (x->type == RF_VAL_STRING &&
            (x->len != y->len || memcmp(x->s, y->s, x->len) != 0))
            return 0;
    }
    return 1;
}

static void test_synthetic_determinism(void **state)
{
    (void)state;
    rf_agent_source *a = open_ok("synthetic:1000000", 7);
    rf_agent_source *b = open_ok("synthetic:1000000", 7);
    rf_agent_source *c = open_ok("synthetic:1000000", 8);
    enum { N = 300 };
    uint32_t differ_c = 0, distinct = 0;
    char seen[N][64];
    for (uint64_t i = 1; i <= N; i++) {
        rf_agent_event ea, eb, ec;
        assert_int_equal(rf_agent_source_next(a, NULL, 1000, &ea), RF_OK);
        assert_int_equal(rf_agent_source_next(b, NULL, 1000, &eb), RF_OK);
        assert_int_equal(rf_agent_source_next(c, NULL, 1000, &ec), RF_OK);
        assert_int_equal(ea.seq, i);
        /* Without a model: 20 background strings, no template type. */
        assert_null(ea.template_type);
        assert_int_equal(ea.ninputs, 20);
        for (uint32_t k = 0; k < ea.ninputs; k++) {
            assert_int_equal(ea.inputs[k].type, RF_VAL_STRING);
            assert_true(ea.inputs[k].len > 0 && ea.inputs[k].len < 64);
            assert_int_equal(strlen(ea.inputs[k].s), ea.inputs[k].len);
        }
        assert_true(same_inputs(&ea, &eb));
        differ_c += !same_inputs(&ea, &ec);
        /* Background values are not constant. */
        int dup = 0;
        for (uint32_t k = 0; k < distinct; k++)
            dup |= strcmp(seen[k], ea.inputs[0].s) == 0;
        if (!dup)
            snprintf(seen[distinct++], sizeof(seen[0]), "%s", ea.inputs[0].s);
    }
    assert_int_equal(differ_c, N);
    assert_true(distinct > N * 9 / 10);
    rf_agent_source_close(a);
    rf_agent_source_close(b);
    rf_agent_source_close(c);
}

/* ---- a model built from a channel ---- */

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    assert_non_null(p);
    return p;
}

static rf_instance *add_inst(rf_channel *ch, const char *id)
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

/* A criterion with one or two values (RANGE). Criteria must be added in
 * increasing field order (channel.h). */
static void add_crit(rf_instance *in, uint16_t field, rf_crit_kind kind, uint8_t flags,
                     const char *s, int64_t lo, int64_t hi)
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
    c->flags = flags;
    c->nvals = kind == RF_CRIT_RANGE ? 2 : 1;
    c->vals = calloc(c->nvals, sizeof(*c->vals));
    assert_non_null(c->vals);
    if (s) {
        c->vtype = RF_VAL_STRING;
        c->vals[0] = (rf_value){.type = RF_VAL_STRING, .s = xstrdup(s),
                                .len = (uint32_t)strlen(s)};
    } else {
        c->vtype = RF_VAL_INT;
        c->vals[0] = (rf_value){.type = RF_VAL_INT, .i = lo};
        if (c->nvals == 2)
            c->vals[1] = (rf_value){.type = RF_VAL_INT, .i = hi};
    }
}

static rf_test *add_test(rf_instance *in, int expect_match)
{
    rf_test *nt = realloc(in->tests, (in->ntests + 1) * sizeof(*nt));
    assert_non_null(nt);
    in->tests = nt;
    rf_test *t = &in->tests[in->ntests++];
    memset(t, 0, sizeof(*t));
    t->expect_match = (uint8_t)expect_match;
    return t;
}

/* A test input (in increasing field order): a string, or an int if s is NULL. */
static void test_in(rf_test *t, uint16_t field, const char *s, int64_t i)
{
    rf_test_input *ni = realloc(t->inputs, (t->ninputs + 1) * sizeof(*ni));
    assert_non_null(ni);
    t->inputs = ni;
    rf_test_input *ti = &t->inputs[t->ninputs++];
    memset(ti, 0, sizeof(*ti));
    ti->field = field;
    if (s)
        ti->v = (rf_value){.type = RF_VAL_STRING, .s = xstrdup(s), .len = (uint32_t)strlen(s)};
    else
        ti->v = (rf_value){.type = RF_VAL_INT, .i = i};
}

#define BEACON "\\\\.\\pipe\\MSSE-4312-server"
#define RUNDLL "C:\\Windows\\System32\\rundll32.exe"

/*
 * Channel 291 in small: field 0 pipe name, 1 image path, 2 integrity level
 * (an int), 3 parent image. Instance 0 (beacon) and 1 (rundll) each have an
 * expect-match test; instance 2 has only a no-match test, so its test never
 * becomes a synthetic event. Rundll's test also names field 5, which a
 * 4-input sensor lacks: dropped.
 */
static rf_channel *small_channel(void)
{
    rf_channel *ch = calloc(1, sizeof(*ch));
    assert_non_null(ch);
    ch->channel = 291;
    ch->template_type = xstrdup(TYPE);
    ch->template_version = 1;
    ch->content_version = 4;

    rf_instance *in = add_inst(ch, "c291-beacon");
    add_crit(in, 0, RF_CRIT_GLOB, 0, "\\\\.\\pipe\\MSSE-*-server", 0, 0);
    add_crit(in, 2, RF_CRIT_RANGE, 0, NULL, 16384, 16384);
    rf_test *t = add_test(in, 1);
    test_in(t, 0, BEACON, 0);
    test_in(t, 2, NULL, 16384);
    t = add_test(in, 0);
    test_in(t, 0, "\\\\.\\pipe\\MSSE-server", 0);

    in = add_inst(ch, "c291-rundll");
    add_crit(in, 1, RF_CRIT_SUFFIX, RF_CRIT_NOCASE, "\\rundll32.exe", 0, 0);
    t = add_test(in, 1);
    test_in(t, 1, RUNDLL, 0);
    test_in(t, 5, "dropped", 0);

    in = add_inst(ch, "c291-never");
    add_crit(in, 3, RF_CRIT_EQUALS, 0, "zz-never-zz", 0, 0);
    t = add_test(in, 0);
    test_in(t, 3, "other", 0);
    return ch;
}

static rf_interp *build_interp(const rf_channel *ch, uint32_t inputs)
{
    rf_sensor_support sup = {.name = (char *)TYPE, .version = 1, .inputs = inputs};
    rf_sensor_manifest m = {.sensor_version = (char *)"7.11.18110", .nsupports = 1,
                            .supports = &sup};
    rf_interp *ip = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_interp_build(ch, &m, &ip, &err);
    if (rc != RF_OK)
        fail_msg("interp build: %s: %s", rf_strerror(rc), err.msg);
    return ip;
}

static int is_str(const rf_input *in, const char *s)
{
    return in->type == RF_VAL_STRING && in->len == strlen(s) && memcmp(in->s, s, in->len) == 0;
}

static void test_synthetic_model(void **state)
{
    (void)state;
    rf_channel *ch = small_channel();
    rf_interp *ip = build_interp(ch, 4);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    rf_agent_synth_model *m = NULL;
    assert_int_equal(rf_agent_synth_model_new(ch, 4, &m), RF_OK);
    assert_non_null(m);
    rf_channel_free(ch); /* the model holds copies (ASan would see otherwise) */

    rf_agent_source *s = open_ok("synthetic:1000000", 11);
    enum { N = 5000 };
    uint32_t tests = 0, beacon = 0, rundll = 0, matched = 0, bg_matched = 0;
    for (uint32_t i = 0; i < N; i++) {
        rf_agent_event ev;
        assert_int_equal(rf_agent_source_next(s, m, 1000, &ev), RF_OK);
        assert_non_null(ev.template_type);
        assert_string_equal(ev.template_type, TYPE);
        assert_int_equal(ev.ninputs, 4);
        /* field types from the criteria: 2 is an int, the rest strings */
        assert_int_equal(ev.inputs[0].type, RF_VAL_STRING);
        assert_int_equal(ev.inputs[1].type, RF_VAL_STRING);
        assert_int_equal(ev.inputs[2].type, RF_VAL_INT);
        assert_int_equal(ev.inputs[3].type, RF_VAL_STRING);
        int is_beacon = is_str(&ev.inputs[0], BEACON);
        int is_rundll = is_str(&ev.inputs[1], RUNDLL);
        assert_false(is_beacon && is_rundll);
        if (is_beacon)
            assert_int_equal(ev.inputs[2].i, 16384);
        else
            assert_true(ev.inputs[2].i >= 0 && ev.inputs[2].i <= 65535);
        assert_false(is_str(&ev.inputs[3], "other")); /* no-match tests unused */

        uint32_t hits[4], nh = 0;
        assert_int_equal(rf_interp_eval(ip, scr, ev.inputs, ev.ninputs, hits, 4, &nh), RF_OK);
        beacon += (uint32_t)is_beacon;
        rundll += (uint32_t)is_rundll;
        if (is_beacon || is_rundll) {
            tests++;
            /* a test event matches its instance (and only by chance more) */
            assert_true(nh >= 1);
            assert_int_equal(hits[0], is_beacon ? 0u : 1u);
        }
        matched += nh > 0;
        bg_matched += nh > 0 && !is_beacon && !is_rundll;
    }
    /* About 1 in 100 (50 expected): loose bounds, 0.3 % .. 3 %. */
    if (tests < 15 || tests > 150)
        fail_msg("%u test events in %u", tests, (unsigned)N);
    assert_true(beacon > 0 && rundll > 0); /* both instances are used */
    assert_int_equal(bg_matched, 0);
    assert_int_equal(matched, tests);

    /* The event stays valid until the next call, even with the model gone. */
    rf_agent_event ev;
    assert_int_equal(rf_agent_source_next(s, m, 1000, &ev), RF_OK);
    char keep[64];
    snprintf(keep, sizeof(keep), "%.*s", (int)ev.inputs[0].len, ev.inputs[0].s);
    rf_agent_synth_model_free(m);
    assert_true(is_str(&ev.inputs[0], keep));
    assert_string_equal(ev.template_type, TYPE);

    rf_agent_source_close(s);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

static void test_model_without_tests(void **state)
{
    (void)state;
    rf_channel *ch = small_channel();
    /* Drop every expect-match test: background only, still typed. */
    for (uint32_t i = 0; i < ch->ninstances; i++)
        for (uint32_t t = 0; t < ch->instances[i].ntests; t++)
            ch->instances[i].tests[t].expect_match = 0;
    rf_interp *ip = build_interp(ch, 4);
    rf_interp_scratch *scr = NULL;
    assert_int_equal(rf_interp_scratch_new(ip, &scr), RF_OK);
    rf_agent_synth_model *m = NULL;
    assert_int_equal(rf_agent_synth_model_new(ch, 4, &m), RF_OK);

    /* A sensor with more inputs than the content uses: fields 4..9 carry
     * background strings. */
    rf_agent_synth_model *wide = NULL;
    assert_int_equal(rf_agent_synth_model_new(ch, 10, &wide), RF_OK);

    rf_agent_source *s = open_ok("synthetic:1000000", 5);
    for (uint32_t i = 0; i < 2000; i++) {
        rf_agent_event ev;
        assert_int_equal(rf_agent_source_next(s, m, 1000, &ev), RF_OK);
        assert_int_equal(ev.inputs[2].type, RF_VAL_INT);
        uint32_t hits[4], nh = 0;
        assert_int_equal(rf_interp_eval(ip, scr, ev.inputs, ev.ninputs, hits, 4, &nh), RF_OK);
        assert_int_equal(nh, 0);
    }
    rf_agent_event ev;
    assert_int_equal(rf_agent_source_next(s, wide, 1000, &ev), RF_OK);
    assert_int_equal(ev.ninputs, 10);
    assert_int_equal(ev.inputs[2].type, RF_VAL_INT);
    assert_int_equal(ev.inputs[9].type, RF_VAL_STRING);
    rf_agent_source_close(s);

    /* Bad arguments. */
    rf_agent_synth_model *x = (rf_agent_synth_model *)0x1;
    assert_int_equal(rf_agent_synth_model_new(ch, 0, &x), RF_E_USAGE);
    assert_int_equal(rf_agent_synth_model_new(ch, RF_MAX_INPUTS + 1u, &x), RF_E_USAGE);
    assert_int_equal(rf_agent_synth_model_new(NULL, 4, &x), RF_E_USAGE);
    assert_int_equal(rf_agent_synth_model_new(ch, 4, NULL), RF_E_USAGE);
    assert_ptr_equal(x, (rf_agent_synth_model *)0x1);
    rf_agent_synth_model_free(NULL);

    rf_agent_synth_model_free(m);
    rf_agent_synth_model_free(wide);
    rf_channel_free(ch);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

static void test_model_many_instances(void **state)
{
    (void)state;
    /* 1000 instances with a test each: the model keeps 256 spread over the
     * channel, so test events come from its whole length. */
    rf_channel *ch = calloc(1, sizeof(*ch));
    assert_non_null(ch);
    ch->channel = 7;
    ch->template_type = xstrdup(TYPE);
    ch->template_version = 1;
    ch->content_version = 1;
    char id[32], val[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "inst-%04d", i);
        snprintf(val, sizeof(val), "marker-%04d", i);
        rf_instance *in = add_inst(ch, id);
        add_crit(in, 0, RF_CRIT_EQUALS, 0, val, 0, 0);
        test_in(add_test(in, 1), 0, val, 0);
    }
    rf_agent_synth_model *m = NULL;
    assert_int_equal(rf_agent_synth_model_new(ch, 1, &m), RF_OK);
    rf_channel_free(ch);
    rf_agent_source *s = open_ok("synthetic:1000000", 9);
    int lo = 1000, hi = -1, tests = 0;
    for (int i = 0; i < 60000; i++) {
        rf_agent_event ev;
        assert_int_equal(rf_agent_source_next(s, m, 1000, &ev), RF_OK);
        const rf_input *in = &ev.inputs[0];
        if (in->len == 11 && memcmp(in->s, "marker-", 7) == 0) {
            char num[5];
            memcpy(num, in->s + 7, 4);
            num[4] = '\0';
            uint64_t v = 0;
            assert_int_equal(rf_parse_u64(num, 999, &v), RF_OK);
            int k = (int)v;
            lo = k < lo ? k : lo;
            hi = k > hi ? k : hi;
            tests++;
        }
    }
    assert_true(tests > 300 && tests < 900);
    assert_true(lo < 50);  /* from the start of the channel ... */
    assert_true(hi > 950); /* ... to its end */
    rf_agent_source_close(s);
    rf_agent_synth_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_specs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
        cmocka_unit_test(test_stdin),
        cmocka_unit_test(test_synthetic_pacing),
        cmocka_unit_test(test_synthetic_determinism),
        cmocka_unit_test(test_synthetic_model),
        cmocka_unit_test(test_model_without_tests),
        cmocka_unit_test(test_model_many_instances),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
