/*
 * events.c — where ringfence-agent's events come from (agent.h, "event
 * sources"): a JSON-lines file replayed once, JSON lines on standard input,
 * synthetic events at a fixed rate, or nothing.
 *
 * Line sources (replay:FILE and stdin) share one reader: a buffer of
 * RF_MAX_EVENT_LINE + 1 bytes, filled with read(2) after poll(2), so a read
 * never blocks past the caller's timeout and a quiet stdin still lets the
 * agent notice a shutdown. A line is handed to rf_event_parse, the one parser
 * of events; one that does not parse, or is longer than the limit (dropped up
 * to its newline without being held in memory), is counted and skipped, so a
 * sensor's bad line never stops the agent.
 *
 * Synthetic events stand in for a sensor in tests and in `make demo`. They
 * are paced on the monotonic clock and depend only on the seed and the model,
 * never on timing, so a run can be reproduced. About 1 in 100 is the test
 * event of an instance that expects a match (so detections happen at a known
 * rate); the rest are background values made of random lowercase words,
 * which no distinctive criterion matches except by a very unlikely chance.
 * Every synthetic string is copied into the source's own buffer, so an event
 * stays valid until the next call even if the caller frees the model.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ringfence/agent.h"
#include "ringfence/event.h"
#include "ringfence/util.h"

#define RATE_MAX 1000000u

/* Instances whose expect-match tests a model keeps: enough to exercise many
 * criteria, few enough that the model stays small for a 100,000-instance
 * channel. */
#define SYNTH_MAX_INSTANCES 256u

/* One synthetic event in SYNTH_MATCH_ONE_IN is an instance's test event. */
#define SYNTH_MATCH_ONE_IN 100u

/* Inputs of a synthetic event without a model (a sensor of the size of the
 * named-pipe feature, 20 inputs). */
#define SYNTH_DEFAULT_INPUTS 20u

/* Bytes reserved per input of a synthetic event: a test value is at most
 * RF_MAX_STRING bytes (model_new refuses longer ones), a background value
 * far less. */
#define SYNTH_SLOT (RF_MAX_STRING + 1u)

/* The longest background string bg_string writes, NUL included. */
#define BG_MAX 64u
_Static_assert(BG_MAX <= SYNTH_SLOT, "a background string fits an input's slot");

/* A consumer slower than the rate does not get a burst to catch up with
 * afterwards: a schedule more than this far behind starts again from now. */
#define SYNTH_MAX_LAG_NS 100000000ull

/* The line buffer: the longest line allowed plus one byte, so that a full
 * buffer without a newline proves the line is too long. */
#define LINE_CAP ((size_t)RF_MAX_EVENT_LINE + 1u)

/* ---- the synthetic model -------------------------------------------------- */

typedef struct synth_val {
    uint16_t field;
    rf_value_type type;
    int64_t i;
    uint32_t len;
    char *s; /* RF_VAL_STRING: owned, len <= RF_MAX_STRING */
} synth_val;

typedef struct synth_test {
    uint32_t n; /* inputs on fields < ninputs, sorted by field */
    synth_val *v;
} synth_test;

typedef struct synth_inst {
    uint32_t ntests; /* >= 1: its expect-match tests */
    synth_test *tests;
} synth_inst;

struct rf_agent_synth_model {
    char *template_type; /* NULL when the channel names none */
    uint32_t ninputs;
    rf_value_type ftype[RF_MAX_INPUTS]; /* RF_VAL_STRING or RF_VAL_INT */
    uint32_t ninst;
    synth_inst *inst;
};

void rf_agent_synth_model_free(rf_agent_synth_model *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; m->inst && i < m->ninst; i++) {
        synth_inst *si = &m->inst[i];
        for (uint32_t t = 0; si->tests && t < si->ntests; t++) {
            synth_test *st = &si->tests[t];
            for (uint32_t k = 0; st->v && k < st->n; k++)
                free(st->v[k].s);
            free(st->v);
        }
        free(si->tests);
    }
    free(m->inst);
    free(m->template_type);
    free(m);
}

static uint32_t expect_match_tests(const rf_instance *in)
{
    uint32_t n = 0;
    for (uint32_t t = 0; in->tests && t < in->ntests; t++)
        n += in->tests[t].expect_match ? 1u : 0u;
    return n;
}

/* Copy test T's inputs on fields below NINPUTS into *out. */
static rf_rc copy_test(const rf_test *t, uint32_t ninputs, synth_test *out)
{
    if (t->ninputs && !t->inputs)
        return RF_E_USAGE;
    uint32_t n = 0;
    for (uint32_t k = 0; k < t->ninputs; k++)
        n += t->inputs[k].field < ninputs ? 1u : 0u;
    if (n == 0)
        return RF_OK; /* an event of background values only */
    out->v = calloc(n, sizeof(*out->v));
    if (!out->v)
        return RF_E_NOMEM;
    for (uint32_t k = 0; k < t->ninputs; k++) {
        const rf_test_input *ti = &t->inputs[k];
        if (ti->field >= ninputs)
            continue; /* the sensor does not supply it */
        synth_val *sv = &out->v[out->n++];
        sv->field = ti->field;
        sv->type = ti->v.type;
        if (ti->v.type == RF_VAL_INT) {
            sv->i = ti->v.i;
        } else if (ti->v.type == RF_VAL_STRING) {
            if (!ti->v.s && ti->v.len)
                return RF_E_USAGE;
            if (ti->v.len > RF_MAX_STRING)
                return RF_E_LIMIT; /* would not fit the source's input slot */
            sv->s = malloc((size_t)ti->v.len + 1u);
            if (!sv->s)
                return RF_E_NOMEM;
            if (ti->v.len)
                memcpy(sv->s, ti->v.s, ti->v.len);
            sv->s[ti->v.len] = '\0';
            sv->len = ti->v.len;
        } else if (ti->v.type != RF_VAL_ABSENT) {
            return RF_E_USAGE;
        }
    }
    /* Test inputs are sorted by field (channel.h); next_synth relies on it,
     * so a hand-built channel that breaks the rule is refused. */
    for (uint32_t k = 1; k < out->n; k++)
        if (out->v[k].field <= out->v[k - 1].field)
            return RF_E_USAGE;
    return RF_OK;
}

static rf_rc copy_instance(const rf_instance *in, uint32_t ninputs, synth_inst *out)
{
    out->tests = calloc(expect_match_tests(in), sizeof(*out->tests));
    if (!out->tests)
        return RF_E_NOMEM;
    for (uint32_t t = 0; t < in->ntests; t++) {
        if (!in->tests[t].expect_match)
            continue;
        rf_rc rc = copy_test(&in->tests[t], ninputs, &out->tests[out->ntests++]);
        if (rc != RF_OK)
            return rc;
    }
    return RF_OK;
}

/* Field types: a criterion on the field says, else a test value on it,
 * else string. The first one met wins; valid content never disagrees. */
static void field_types(const rf_channel *ch, rf_agent_synth_model *m)
{
    uint8_t known[RF_MAX_INPUTS] = {0};
    for (uint32_t f = 0; f < m->ninputs; f++)
        m->ftype[f] = RF_VAL_STRING;
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t c = 0; in->crits && c < in->ncrits; c++) {
            const rf_crit *cr = &in->crits[c];
            if (cr->field >= m->ninputs || known[cr->field])
                continue;
            if (cr->vtype == RF_VAL_INT || cr->vtype == RF_VAL_STRING) {
                m->ftype[cr->field] = cr->vtype;
                known[cr->field] = 1;
            }
        }
    }
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t t = 0; in->tests && t < in->ntests; t++) {
            const rf_test *te = &in->tests[t];
            for (uint32_t k = 0; te->inputs && k < te->ninputs; k++) {
                const rf_test_input *ti = &te->inputs[k];
                if (ti->field >= m->ninputs || known[ti->field])
                    continue;
                if (ti->v.type == RF_VAL_INT || ti->v.type == RF_VAL_STRING) {
                    m->ftype[ti->field] = ti->v.type;
                    known[ti->field] = 1;
                }
            }
        }
    }
}

/*
 * Errors: RF_E_USAGE for NULL arguments, NINPUTS outside 1..RF_MAX_INPUTS or
 * a channel whose counts and pointers disagree; RF_E_LIMIT for a template
 * type longer than RF_NAME_MAX or a test string longer than RF_MAX_STRING
 * (neither passes rf_channel_read); RF_E_NOMEM.
 */
rf_rc rf_agent_synth_model_new(const rf_channel *ch, uint32_t ninputs,
                               rf_agent_synth_model **out)
{
    if (!ch || !out || ninputs == 0 || ninputs > RF_MAX_INPUTS ||
        (ch->ninstances && !ch->instances))
        return RF_E_USAGE;
    if (ch->template_type && strlen(ch->template_type) > RF_NAME_MAX)
        return RF_E_LIMIT;
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        if ((in->ncrits && !in->crits) || (in->ntests && !in->tests))
            return RF_E_USAGE;
    }

    rf_agent_synth_model *m = calloc(1, sizeof(*m));
    if (!m)
        return RF_E_NOMEM;
    rf_rc rc = RF_E_NOMEM;
    m->ninputs = ninputs;
    if (ch->template_type && !(m->template_type = rf_strdup(ch->template_type)))
        goto out_free;
    field_types(ch, m);

    /* Instances with an expect-match test; above SYNTH_MAX_INSTANCES of them,
     * an even spread across the channel rather than its first ones. */
    uint32_t k = 0;
    for (uint32_t i = 0; i < ch->ninstances; i++)
        k += expect_match_tests(&ch->instances[i]) ? 1u : 0u;
    uint32_t want = k < SYNTH_MAX_INSTANCES ? k : SYNTH_MAX_INSTANCES;
    if (want) {
        m->inst = calloc(want, sizeof(*m->inst));
        if (!m->inst)
            goto out_free;
    }
    uint32_t seen = 0; /* instances with an expect-match test so far */
    for (uint32_t i = 0; i < ch->ninstances && m->ninst < want; i++) {
        const rf_instance *in = &ch->instances[i];
        if (!expect_match_tests(in))
            continue;
        /* take the j-th of them for j = 0..want-1 at floor(j * k / want) */
        if (seen++ != (uint32_t)((uint64_t)m->ninst * k / want))
            continue;
        rc = copy_instance(in, ninputs, &m->inst[m->ninst++]);
        if (rc != RF_OK)
            goto out_free;
    }
    *out = m;
    return RF_OK;

out_free:
    rf_agent_synth_model_free(m);
    return rc;
}

/* ---- sources ------------------------------------------------------------- */

typedef enum src_kind { SRC_NONE, SRC_LINES, SRC_SYNTH } src_kind;

struct rf_agent_source {
    src_kind kind;
    uint64_t seq;  /* of the last event handed out */
    uint64_t bad;  /* lines skipped */
    int done;      /* at its end: RF_E_IO from now on */

    /* SRC_LINES */
    int fd;
    int own_fd;    /* replay: ours to close; stdin: not */
    int eof;       /* read(2) returned 0 */
    int skipping;  /* inside a line that was too long, up to its newline */
    char *buf;     /* LINE_CAP bytes; unread ones are buf[off .. off + len) */
    size_t off, len;
    rf_event *cur; /* the event handed out last; freed at the next call */

    /* SRC_SYNTH */
    uint64_t rate;
    uint64_t period_ns, rem, acc; /* 1e9 / rate = period_ns + rem / rate */
    int started;
    uint64_t due; /* when the next event is due (rf_now_ns) */
    rf_rng rng;
    char tt[RF_NAME_MAX + 1];
    rf_input in[RF_MAX_INPUTS];
    char *strs; /* RF_MAX_INPUTS * SYNTH_SLOT bytes: input f's string at f * SYNTH_SLOT */
};

static rf_rc open_lines(rf_agent_source *s, const char *file, rf_err *err)
{
    if (file) {
        s->fd = open(file, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0)
            return rf_err_set(err, RF_E_IO, file, 0, 0, "events: cannot open: %s",
                              strerror(errno));
        s->own_fd = 1;
        struct stat sb;
        if (fstat(s->fd, &sb) != 0)
            return rf_err_set(err, RF_E_IO, file, 0, 0, "events: cannot stat: %s",
                              strerror(errno));
        if (S_ISDIR(sb.st_mode))
            return rf_err_set(err, RF_E_IO, file, 0, 0, "events: is a directory");
    } else {
        if (fcntl(STDIN_FILENO, F_GETFL) == -1)
            return rf_err_set(err, RF_E_IO, NULL, 0, 0,
                              "events: standard input is not open");
        s->fd = STDIN_FILENO;
    }
    s->buf = malloc(LINE_CAP);
    if (!s->buf)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "events: out of memory");
    s->kind = SRC_LINES;
    return RF_OK;
}

static rf_rc open_synth(rf_agent_source *s, const char *arg, uint64_t seed, rf_err *err)
{
    uint64_t rate = 0;
    if (rf_parse_u64(arg, RATE_MAX, &rate) != RF_OK || rate == 0)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "events: 'synthetic:' needs a rate of 1..%u events/s, "
                          "got '%.64s'",
                          RATE_MAX, arg);
    /* Address space only: pages are touched as inputs are written, and a
     * model's test strings (<= RF_MAX_STRING each) then fit without any
     * allocation on the event path. */
    s->strs = malloc((size_t)RF_MAX_INPUTS * SYNTH_SLOT);
    if (!s->strs)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "events: out of memory");
    s->kind = SRC_SYNTH;
    s->rate = rate;
    s->period_ns = 1000000000ull / rate;
    s->rem = 1000000000ull % rate;
    rf_rng_seed(&s->rng, seed);
    return RF_OK;
}

rf_rc rf_agent_source_open(const char *spec, uint64_t seed, rf_agent_source **out,
                           rf_err *err)
{
    if (!spec || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "rf_agent_source_open: NULL argument");
    rf_agent_source *s = calloc(1, sizeof(*s));
    if (!s)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "events: out of memory");
    s->fd = -1;
    rf_rc rc;
    if (strncmp(spec, "replay:", 7) == 0) {
        if (spec[7] == '\0')
            rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                            "events: 'replay:' needs a file name (replay:FILE)");
        else
            rc = open_lines(s, spec + 7, err);
    } else if (strcmp(spec, "stdin") == 0) {
        rc = open_lines(s, NULL, err);
    } else if (strncmp(spec, "synthetic:", 10) == 0) {
        rc = open_synth(s, spec + 10, seed, err);
    } else if (strcmp(spec, "none") == 0) {
        s->kind = SRC_NONE;
        s->done = 1;
        rc = RF_OK;
    } else {
        rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                        "events: unknown source '%.64s' (expected replay:FILE, stdin, "
                        "synthetic:RATE or none)",
                        spec);
    }
    if (rc != RF_OK) {
        rf_agent_source_close(s);
        return rc;
    }
    *out = s;
    return RF_OK;
}

void rf_agent_source_close(rf_agent_source *s)
{
    if (!s)
        return;
    rf_event_free(s->cur);
    free(s->buf);
    free(s->strs);
    if (s->own_fd && s->fd >= 0)
        close(s->fd);
    free(s);
}

uint64_t rf_agent_source_bad(const rf_agent_source *s)
{
    return s ? s->bad : 0;
}

/* ---- line sources -------------------------------------------------------- */

static void consume(rf_agent_source *s, size_t n)
{
    s->off += n;
    s->len -= n;
}

/*
 * The next complete line, without its newline, into [*line, *line + *n):
 * 1 if there is one in the buffer (or, at end of file, the unterminated
 * rest), 0 if more bytes are needed. A line longer than RF_MAX_EVENT_LINE is
 * counted bad here and its bytes dropped as they arrive.
 */
static int take_line(rf_agent_source *s, const char **line, size_t *n)
{
    for (;;) {
        char *p = s->buf + s->off;
        char *nl = s->len ? memchr(p, '\n', s->len) : NULL;
        if (s->skipping) {
            if (!nl) {
                s->off = s->len = 0;
                return 0;
            }
            s->skipping = 0;
            consume(s, (size_t)(nl - p) + 1u);
            continue;
        }
        if (nl) {
            *line = p;
            *n = (size_t)(nl - p); /* <= RF_MAX_EVENT_LINE: it fit the buffer */
            consume(s, *n + 1u);
            return 1;
        }
        if (s->len > RF_MAX_EVENT_LINE) {
            s->bad++;
            s->skipping = 1;
            s->off = s->len = 0;
            return 0;
        }
        if (s->eof && s->len) {
            *line = p;
            *n = s->len;
            consume(s, s->len);
            return 1;
        }
        return 0;
    }
}

static int blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

/* Milliseconds from now to DEADLINE for poll(2), rounded up; -1 (no limit)
 * for a negative timeout. */
static int poll_ms(int timeout_ms, uint64_t deadline)
{
    if (timeout_ms < 0)
        return -1;
    uint64_t now = rf_now_ns();
    if (now >= deadline)
        return 0;
    uint64_t ms = (deadline - now + 999999u) / 1000000u;
    return ms > (uint64_t)timeout_ms ? timeout_ms : (int)ms;
}

/*
 * Read more bytes into the buffer, waiting until DEADLINE. RF_OK: bytes came
 * (or end of file, s->eof, or a spurious wake-up: look again); RF_E_NOTFOUND:
 * nothing in time, or a signal interrupted the wait, so that the caller can
 * check for shutdown; RF_E_IO: the descriptor failed and the source ends.
 */
static rf_rc fill(rf_agent_source *s, int timeout_ms, uint64_t deadline)
{
    if (s->off) {
        memmove(s->buf, s->buf + s->off, s->len);
        s->off = 0;
    }
    /* take_line flags a full buffer without a newline as too long, so there
     * is room: a read of 0 bytes here means end of file, never "no room". */
    assert(s->len < LINE_CAP);
    struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
    int r = poll(&pfd, 1, poll_ms(timeout_ms, deadline));
    if (r == 0)
        return RF_E_NOTFOUND;
    if (r < 0)
        return errno == EINTR || errno == EAGAIN ? RF_E_NOTFOUND : RF_E_IO;
    if (pfd.revents & POLLNVAL)
        return RF_E_IO;
    ssize_t got = read(s->fd, s->buf + s->len, LINE_CAP - s->len);
    if (got > 0) {
        s->len += (size_t)got;
        return RF_OK;
    }
    if (got == 0) {
        s->eof = 1;
        return RF_OK;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return RF_OK;
    return errno == EINTR ? RF_E_NOTFOUND : RF_E_IO;
}

static rf_rc next_line(rf_agent_source *s, int timeout_ms, rf_agent_event *ev)
{
    uint64_t deadline = rf_now_ns() + (timeout_ms > 0 ? (uint64_t)timeout_ms : 0u) * 1000000u;
    for (int reads = 0;; reads++) {
        const char *line;
        size_t n;
        while (take_line(s, &line, &n)) {
            if (blank(line, n))
                continue;
            rf_event *e = NULL;
            if (rf_event_parse(line, n, &e, NULL) != RF_OK) {
                s->bad++;
                continue;
            }
            s->cur = e;
            ev->seq = ++s->seq;
            ev->template_type = e->template_type;
            ev->ninputs = e->ninputs;
            ev->inputs = e->inputs;
            return RF_OK;
        }
        if (s->eof) {
            s->done = 1;
            return RF_E_IO;
        }
        /* A writer that keeps sending bad or unfinished lines must not keep
         * the caller past its timeout (it checks for shutdown between calls);
         * every call still gets one read. */
        if (reads > 0 && timeout_ms >= 0 && rf_now_ns() >= deadline)
            return RF_E_NOTFOUND;
        rf_rc rc = fill(s, timeout_ms, deadline);
        if (rc == RF_E_IO)
            s->done = 1;
        if (rc != RF_OK)
            return rc;
    }
}

/* ---- synthetic events ---------------------------------------------------- */

/* A lowercase word of 4..12 letters at p; returns its length. One draw of
 * 64 bits holds 13 letters (26^13 < 2^64). */
static uint32_t word(rf_rng *r, char *p)
{
    uint32_t n = 4u + rf_rng_below(r, 9);
    uint64_t x = rf_rng_next(r);
    for (uint32_t i = 0; i < n; i++, x /= 26u)
        p[i] = (char)('a' + (int)(x % 26u));
    return n;
}

static uint32_t put(char *p, uint32_t at, const char *lit)
{
    size_t n = strlen(lit);
    memcpy(p + at, lit, n);
    return at + (uint32_t)n;
}

/* A background string at p (BG_MAX bytes): a word, a Windows path, a pipe
 * name or a command line, each built around random words; at most
 * 9 + 12 + 15 + 12 + 4 = 52 bytes plus the NUL. */
static uint32_t bg_string(rf_rng *r, char *p)
{
    uint32_t n = 0;
    switch (rf_rng_below(r, 4)) {
    case 0:
        n = word(r, p);
        break;
    case 1:
        n = put(p, 0, "C:\\Users\\");
        n += word(r, p + n);
        n = put(p, n, "\\AppData\\Local\\");
        n += word(r, p + n);
        n = put(p, n, ".exe");
        break;
    case 2:
        n = put(p, 0, "\\\\.\\pipe\\");
        n += word(r, p + n);
        p[n++] = '_';
        n += word(r, p + n);
        break;
    default:
        n = word(r, p);
        n = put(p, n, " --");
        n += word(r, p + n);
        p[n++] = '=';
        n += word(r, p + n);
        break;
    }
    p[n] = '\0';
    return n;
}

static void bg_input(rf_agent_source *s, uint32_t f, rf_value_type t)
{
    rf_input *in = &s->in[f];
    if (t == RF_VAL_INT) {
        *in = (rf_input){.type = RF_VAL_INT, .i = (int64_t)rf_rng_below(&s->rng, 65536)};
        return;
    }
    char *p = s->strs + (size_t)f * SYNTH_SLOT;
    uint32_t n = bg_string(&s->rng, p);
    *in = (rf_input){.type = RF_VAL_STRING, .s = p, .len = n};
}

static void test_input(rf_agent_source *s, const synth_val *v)
{
    rf_input *in = &s->in[v->field];
    if (v->type == RF_VAL_INT) {
        *in = (rf_input){.type = RF_VAL_INT, .i = v->i};
    } else if (v->type == RF_VAL_STRING) {
        char *p = s->strs + (size_t)v->field * SYNTH_SLOT;
        memcpy(p, v->s, (size_t)v->len + 1u); /* len <= RF_MAX_STRING */
        *in = (rf_input){.type = RF_VAL_STRING, .s = p, .len = v->len};
    } else {
        *in = (rf_input){.type = RF_VAL_ABSENT};
    }
}

/* Sleep until the absolute monotonic time T (ns). 0 when interrupted. */
static int sleep_until(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000u),
                          .tv_nsec = (long)(t % 1000000000u)};
    return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == 0;
}

/* Wait for the next event to be due; RF_E_NOTFOUND if it is not due within
 * the timeout (after waiting the timeout) or a signal came. */
static rf_rc synth_wait(rf_agent_source *s, int timeout_ms)
{
    uint64_t now = rf_now_ns();
    if (!s->started || now > s->due + SYNTH_MAX_LAG_NS) {
        s->started = 1;
        s->due = now; /* the first event (or the first after a stall) is due now */
    }
    if (s->due > now) {
        if (timeout_ms >= 0 && s->due - now > (uint64_t)timeout_ms * 1000000u) {
            (void)sleep_until(now + (uint64_t)timeout_ms * 1000000u);
            return RF_E_NOTFOUND;
        }
        if (!sleep_until(s->due))
            return RF_E_NOTFOUND;
    }
    s->due += s->period_ns;
    s->acc += s->rem;
    if (s->acc >= s->rate) {
        s->acc -= s->rate;
        s->due++;
    }
    return RF_OK;
}

static rf_rc next_synth(rf_agent_source *s, const rf_agent_synth_model *m, int timeout_ms,
                        rf_agent_event *ev)
{
    rf_rc rc = synth_wait(s, timeout_ms);
    if (rc != RF_OK)
        return rc;
    uint32_t n = m ? m->ninputs : SYNTH_DEFAULT_INPUTS;
    const synth_test *t = NULL;
    /* Drawn even without a model, so the background stream of a seed does
     * not depend on whether tests exist. */
    uint32_t roll = rf_rng_below(&s->rng, SYNTH_MATCH_ONE_IN);
    if (m && m->ninst && roll == 0) {
        const synth_inst *si = &m->inst[rf_rng_below(&s->rng, m->ninst)];
        t = &si->tests[rf_rng_below(&s->rng, si->ntests)];
    }
    uint32_t k = 0; /* next input of t, sorted by field */
    for (uint32_t f = 0; f < n; f++) {
        if (t && k < t->n && t->v[k].field == f)
            test_input(s, &t->v[k++]);
        else
            bg_input(s, f, m ? m->ftype[f] : RF_VAL_STRING);
    }
    ev->template_type = NULL;
    if (m && m->template_type) {
        size_t tl = strlen(m->template_type); /* <= RF_NAME_MAX: model_new checked */
        memcpy(s->tt, m->template_type, tl + 1u);
        ev->template_type = s->tt;
    }
    ev->seq = ++s->seq;
    ev->ninputs = n;
    ev->inputs = s->in;
    return RF_OK;
}

/*
 * agent.h has the contract. Beyond it: a negative TIMEOUT_MS waits without a
 * limit (as poll(2) does); a signal that interrupts the wait is
 * RF_E_NOTFOUND, so the agent's loop sees its shutdown flag at once;
 * RF_E_USAGE for NULL arguments. The previous event's storage is released
 * here, whatever the result.
 */
rf_rc rf_agent_source_next(rf_agent_source *s, const rf_agent_synth_model *model,
                           int timeout_ms, rf_agent_event *ev)
{
    if (!s || !ev)
        return RF_E_USAGE;
    /* The previous event's storage: the caller is done with it now. */
    rf_event_free(s->cur);
    s->cur = NULL;
    if (s->done)
        return RF_E_IO;
    switch (s->kind) {
    case SRC_LINES:
        return next_line(s, timeout_ms, ev);
    case SRC_SYNTH:
        return next_synth(s, model, timeout_ms, ev);
    case SRC_NONE:
        break;
    }
    s->done = 1;
    return RF_E_IO;
}
