/*
 * exec.c — the validator's work that loads content into the matching engine:
 * the engine half of stage 4 (patterns), stage 5 (embedded tests), stage 6
 * (execution) and stage 7 (differential), all in child processes that run
 * under CPU-time and address-space limits.
 *
 * Why children: content that makes the engine or the interpreter crash,
 * spin or allocate without bound must reject, not take the validator (or the
 * server running the upload check) down with it. Jobs: one per sensor
 * (build its interpreter once; tests, corpus replay, synthetic events with a
 * value in every input it supplies, events with fewer inputs, and the
 * baseline), one for the run-time layer (below) and one compiling every
 * pattern alone. Up to one job per CPU runs at a time.
 *
 * A child reports through a pipe in fixed binary records: progress before
 * each phase (so a crash is attributed to "sensor X, replaying the corpus"),
 * failed tests and patterns, and a closing result. The parent trusts nothing
 * in them, reads with a wall-clock deadline, kills after it, and turns a
 * signal, a limit hit, a short stream or a cost over budget into findings.
 *
 * The run-time layer: besides each sensor's real interpreter (which refuses,
 * at load time, content needing inputs the sensor does not supply), one
 * interpreter is built as if a sensor supplied every field the template type
 * declares -- what the 19 July validator believed -- and fed each short
 * sensor's real-length events. Every event its run-time bounds check refuses
 * is one that would have read past the inputs on a real host: the second,
 * independent layer, proven on this content.
 *
 * fork() is why the validator runs only in a single-threaded process
 * (validate.c refuses otherwise): a child of a process with other threads
 * inherits every lock they held at the fork and can wait on one forever.
 * Under AddressSanitizer, whose allocator is not fork-safe, that hung
 * children of the server until their wall-clock limit. ringfenced runs the
 * validator as a job of its own (server/validate.c). A child always ends
 * with _exit().
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ringfence/util.h"
#include "validate/validate_int.h"

/* Timed evaluations per sensor before a mean cost per event is judged:
 * 20,000 events of a microsecond are 20 ms of CPU, well above clock noise. */
#define RFVAL_COST_MIN_EVALS 20000u

#if defined(__SANITIZE_ADDRESS__)
#define RFVAL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RFVAL_ASAN 1
#endif
#endif
#ifndef RFVAL_ASAN
#define RFVAL_ASAN 0
#endif

#define XMAGIC 0x52465856u /* "RFXV" */

/* Record tags. */
enum {
    XT_PROGRESS = 1, /* a job enters a phase */
    XT_SENSOR = 2,   /* a sensor job's result (its last record) */
    XT_TESTFAIL = 3, /* one failed embedded test */
    XT_DECL = 4,     /* the as-declared job's result for one sensor */
    XT_PATFAIL = 5,  /* one pattern the engine refuses */
    XT_DONE = 6,     /* the as-declared or patterns job finished */
};

enum {
    PH_START = 0,
    PH_BUILD,
    PH_TESTS,
    PH_CORPUS,
    PH_SYNTH,
    PH_SHORT,
    PH_DECLARED,
    PH_BASELINE,
    PH_DIFF,
    PH_PATTERNS,
    PH_COUNT
};

static const char *const phase_names[PH_COUNT] = {
    "starting",
    "building the interpreter",
    "running the embedded tests",
    "replaying the corpus",
    "evaluating synthetic all-fields events",
    "evaluating events with fewer inputs than supplied",
    "checking the run-time bounds check (interpreter built as declared)",
    "building the baseline's interpreter",
    "replaying the corpus through the baseline",
    "compiling every pattern alone",
};

/* Exit codes of the child other than 0. */
#define XEXIT_NOMEM 75  /* an allocation failed: the memory limit */
#define XEXIT_WRITE 76  /* the pipe to the parent failed */

#define TOP_N 3

/* Everything a child reports, in one record type. Fixed size, < PIPE_BUF, so
 * each record is written atomically. Strings are NUL-terminated by the
 * child and re-terminated by the parent, which trusts nothing in them. */
typedef struct xrec {
    uint32_t magic;
    uint32_t tag;
    uint32_t job;    /* the job that writes it */
    uint32_t phase;  /* XT_PROGRESS */
    uint32_t sensor; /* XT_PROGRESS, XT_DECL: index into rfval_run.sens */
    uint64_t npat;   /* XT_DONE of the patterns job: patterns checked */

    int32_t build_rc;
    char build_msg[RF_ERR_MSG_MAX];
    uint32_t inputs_required;

    /* XT_TESTFAIL: instance, test; XT_PATFAIL: instance, criterion (tf_test),
     * rc and the engine's message in build_msg */
    uint32_t tf_inst, tf_test, tf_dropped, tf_got;
    int32_t tf_rc;
    /* XT_SENSOR: the tests stage */
    uint64_t tests_run, tests_failed;

    uint64_t corpus_events, corpus_detections, corpus_refused;
    uint64_t synth_events, synth_detections, synth_refused;
    uint64_t short_events, short_refused, short_violations;
    uint64_t eval_errors;
    uint64_t nevals, ns_total, ns_max;

    int32_t decl_state; /* 0 not needed, 1 ran, 2 build refused */
    int32_t decl_rc;
    char decl_msg[RF_ERR_MSG_MAX];
    uint64_t decl_events, decl_refused;

    int32_t diff_state; /* 0 not run, 1 compared, 2 baseline refused */
    int32_t base_rc;
    char base_msg[RF_ERR_MSG_MAX];
    uint64_t diff_events, base_detections, new_detections;
    uint32_t ntop;
    char top_id[TOP_N][RF_ID_MAX + 1];
    uint64_t top_new[TOP_N], top_old[TOP_N];
} xrec;

_Static_assert(sizeof(xrec) <= 4096, "xrec must fit one atomic pipe write");

/* ================= the child ================= */

typedef struct xchild {
    rfval_run *v;
    int fd;
    uint32_t job;
    int do_tests, do_exec, do_diff;
    uint32_t *matches;  /* ninstances (of the larger channel) */
    rf_input *inputs;   /* max inputs of any sensor, at least nfields */
    char *arena;        /* glob rewrites for one synthetic event */
    size_t arena_cap;
    uint64_t *newc;     /* detections per instance of the new channel */
    uint64_t *basec;    /* per instance of the baseline */
    struct bid { const char *id; uint32_t idx; } *bids; /* baseline ids, sorted */
} xchild;

static void xwrite(xchild *c, const xrec *r)
{
    const uint8_t *p = (const uint8_t *)r;
    size_t left = sizeof(*r);
    while (left) {
        ssize_t w = write(c->fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(XEXIT_WRITE);
        p += w;
        left -= (size_t)w;
    }
}

static void xinit(const xchild *c, xrec *r, uint32_t tag)
{
    memset(r, 0, sizeof(*r));
    r->magic = XMAGIC;
    r->tag = tag;
    r->job = c->job;
}

static void xprogress(xchild *c, uint32_t k, uint32_t phase)
{
    xrec r;
    xinit(c, &r, XT_PROGRESS);
    r.sensor = k;
    r.phase = phase;
    xwrite(c, &r);
}

static void copy_msg(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* Faults on request, so the unit tests can prove the parent survives and
 * reports each kind of death. Read only here, in the child. */
static void test_fault(const rfval_run *v)
{
    const char *f = getenv("RF_VALIDATE_TEST_CHILD_FAULT");
    if (!f || !*f)
        return;
    if (strcmp(f, "segv") == 0) {
        raise(SIGSEGV);
    } else if (strcmp(f, "abort") == 0) {
        abort();
    } else if (strcmp(f, "spin") == 0) {
        volatile uint64_t x = 0;
        for (;;)
            x++;
    } else if (strcmp(f, "alloc") == 0) {
        /* Reserve without touching: the address-space limit stops this long
         * before the host notices. If no limit stops it, give up loudly. */
        uint64_t total = 0;
        for (;;) {
            void *p = malloc(64u << 20);
            if (!p)
                _exit(XEXIT_NOMEM);
            total += 64u << 20;
            if (total > 8 * v->o.exec_mem_bytes)
                abort();
        }
    }
}

static void child_limits(const rfval_run *v)
{
    /* Die of our own faults rather than run a host program's handlers (a
     * test framework's SIGSEGV handler would longjmp back into its runner). */
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGXCPU, SIGTERM};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGKILL);

    struct rlimit rl;
    rl.rlim_cur = v->o.exec_cpu_seconds;
    rl.rlim_max = (rlim_t)v->o.exec_cpu_seconds + 1; /* SIGXCPU, then SIGKILL */
    setrlimit(RLIMIT_CPU, &rl);
#if !RFVAL_ASAN
    /* AddressSanitizer reserves terabytes of address space up front: under
     * it only the CPU limit applies. */
    rl.rlim_cur = v->o.exec_mem_bytes;
    rl.rlim_max = v->o.exec_mem_bytes;
    setrlimit(RLIMIT_AS, &rl);
#endif
}

/* The corpus events this sensor would see: same template type (or none
 * named), same sensor version (or none named). */
static int event_for(const rfval_run *v, const rf_event *ev, const char *sensor_version)
{
    if (ev->template_type && strcmp(ev->template_type, v->ch->template_type) != 0)
        return 0;
    if (ev->sensor_version && strcmp(ev->sensor_version, sensor_version) != 0)
        return 0;
    return 1;
}

/*
 * Evaluate with timing. Only the wall-clock maximum is taken per event (for
 * the operator; never judged, one preemption would decide it). The mean cost
 * that the budget judges is thread CPU time read once around a whole pass
 * (see cost_pass): a CPU-clock read is a system call of about a microsecond
 * on some hosts, and single readings jump by a scheduler tick.
 */
static rf_rc timed_eval(xchild *c, const rf_interp *ip, rf_interp_scratch *scr,
                        const rf_input *in, uint32_t n, uint32_t cap, uint32_t *nm, xrec *r)
{
    uint64_t t0 = rf_now_ns();
    rf_rc rc = rf_interp_eval(ip, scr, in, n, c->matches, cap, nm);
    uint64_t dt = rf_now_ns() - t0;
    r->nevals++;
    if (dt > r->ns_max)
        r->ns_max = dt;
    return rc;
}

/* Replay the corpus through ip; per-instance counts into counts (if not
 * NULL). Returns detections; *events and *refused count. */
static uint64_t replay(xchild *c, const rf_interp *ip, rf_interp_scratch *scr,
                       uint32_t nin, const char *sv, uint32_t ninst, uint64_t *counts,
                       uint64_t *events, uint64_t *refused, xrec *r, int timed)
{
    const rfval_run *v = c->v;
    uint64_t det = 0;
    for (uint32_t e = 0; e < v->nevents; e++) {
        const rf_event *ev = v->events[e];
        if (!event_for(v, ev, sv))
            continue;
        uint32_t n = ev->ninputs < nin ? ev->ninputs : nin;
        uint32_t nm = 0;
        rf_rc rc;
        if (timed)
            rc = timed_eval(c, ip, scr, ev->inputs, n, ninst, &nm, r);
        else
            rc = rf_interp_eval(ip, scr, ev->inputs, n, c->matches, ninst, &nm);
        (*events)++;
        if (rc == RF_E_INPUT) {
            (*refused)++;
            continue;
        }
        if (rc != RF_OK) {
            r->eval_errors++;
            continue;
        }
        det += nm;
        if (counts) {
            uint32_t w = nm < ninst ? nm : ninst;
            for (uint32_t q = 0; q < w; q++)
                counts[c->matches[q]]++;
        }
    }
    return det;
}

/* A regex usable as its own literal: only a leading ^ / trailing $ and no
 * other metacharacter. */
static int regex_literal(const rf_value *val, const char **s, uint32_t *len)
{
    const char *p = val->s;
    uint32_t n = val->len;
    if (n && p[0] == '^') {
        p++;
        n--;
    }
    if (n && p[n - 1] == '$')
        n--;
    for (uint32_t i = 0; i < n; i++)
        if (strchr("\\.[](){}*+?|^$", p[i]))
            return 0;
    *s = p;
    *len = n;
    return 1;
}

/*
 * Fill c->inputs[0..nin) for instance i (or for no instance when i ==
 * UINT32_MAX): a value for EVERY input, satisfying the instance's criteria
 * where that is easy (literal of equals/one_of/prefix/suffix/contains, glob
 * with '*' removed and '?' as 'a', a literal regex, low end of a range), a
 * plain non-empty value of the field's type elsewhere.
 */
static void synth_event(xchild *c, uint32_t i, uint32_t nin)
{
    const rfval_run *v = c->v;
    const rf_template_type *tt = v->tt;
    for (uint32_t f = 0; f < nin; f++) {
        rf_input *in = &c->inputs[f];
        if (tt && f < tt->nfields && tt->fields[f].type == RF_TYPE_INT)
            *in = (rf_input){.type = RF_VAL_INT, .i = 1};
        else
            *in = (rf_input){.type = RF_VAL_STRING, .s = "x", .len = 1};
    }
    if (i == UINT32_MAX)
        return;
    const rf_instance *ins = &v->ch->instances[i];
    size_t used = 0;
    for (uint32_t j = 0; j < ins->ncrits; j++) {
        const rf_crit *cr = &ins->crits[j];
        if (cr->field >= nin || cr->nvals == 0)
            continue;
        const rf_value *val = &cr->vals[0];
        rf_input *in = &c->inputs[cr->field];
        if (val->type == RF_VAL_INT) {
            *in = (rf_input){.type = RF_VAL_INT, .i = val->i};
            continue;
        }
        if (val->type != RF_VAL_STRING)
            continue;
        switch (cr->kind) {
        case RF_CRIT_GLOB: {
            if (used + val->len + 1 > c->arena_cap)
                break; /* keep the plain value */
            char *o = c->arena + used;
            uint32_t n = 0;
            for (uint32_t q = 0; q < val->len; q++) {
                char ch = val->s[q];
                if (ch == '*')
                    continue;
                o[n++] = ch == '?' ? 'a' : ch;
            }
            o[n] = 0;
            used += n + 1;
            *in = (rf_input){.type = RF_VAL_STRING, .s = o, .len = n};
            break;
        }
        case RF_CRIT_REGEX: {
            const char *s;
            uint32_t n;
            if (regex_literal(val, &s, &n) && n)
                *in = (rf_input){.type = RF_VAL_STRING, .s = s, .len = n};
            break;
        }
        default:
            *in = (rf_input){.type = RF_VAL_STRING, .s = val->s, .len = val->len};
            break;
        }
    }
}

static int cmp_bid(const void *a, const void *b)
{
    return strcmp(((const struct bid *)a)->id, ((const struct bid *)b)->id);
}

static uint64_t base_count_of(const xchild *c, const char *id)
{
    const rf_channel *b = c->v->baseline;
    struct bid key = {id, 0};
    const struct bid *hit = bsearch(&key, c->bids, b->ninstances, sizeof(*c->bids), cmp_bid);
    return hit ? c->basec[hit->idx] : 0;
}

/* The TOP_N instances whose detections rose most against the baseline. */
static void top_contributors(xchild *c, xrec *r)
{
    const rf_channel *ch = c->v->ch;
    r->ntop = 0;
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        uint64_t nw = c->newc[i];
        if (!nw)
            continue;
        uint64_t old = base_count_of(c, ch->instances[i].id);
        if (nw <= old)
            continue;
        uint64_t d = nw - old;
        uint32_t pos = r->ntop;
        while (pos > 0 && r->top_new[pos - 1] - r->top_old[pos - 1] < d)
            pos--;
        if (pos >= TOP_N)
            continue;
        uint32_t last = r->ntop < TOP_N ? r->ntop : TOP_N - 1;
        for (uint32_t q = last; q > pos; q--) {
            memcpy(r->top_id[q], r->top_id[q - 1], sizeof(r->top_id[q]));
            r->top_new[q] = r->top_new[q - 1];
            r->top_old[q] = r->top_old[q - 1];
        }
        copy_msg(r->top_id[pos], sizeof(r->top_id[pos]), ch->instances[i].id);
        r->top_new[pos] = nw;
        r->top_old[pos] = old;
        if (r->ntop < TOP_N)
            r->ntop++;
    }
}

/* Synthetic and short events through the real interpreter. */
static void synth_phase(xchild *c, uint32_t k, const rf_interp *ip, rf_interp_scratch *scr,
                        uint32_t nin, xrec *r)
{
    const rfval_run *v = c->v;
    uint32_t ninst = v->ch->ninstances;
    uint32_t nsynth = ninst < v->o.synthetic_events ? ninst : v->o.synthetic_events;
    if (!nsynth)
        nsynth = 1;
    xprogress(c, k, PH_SYNTH);
    for (uint32_t s = 0; s < nsynth; s++) {
        uint32_t i = ninst == 0 ? UINT32_MAX
                                : (uint32_t)((uint64_t)s * ninst / nsynth);
        synth_event(c, i, nin);
        uint32_t nm = 0;
        rf_rc rc = timed_eval(c, ip, scr, c->inputs, nin, ninst, &nm, r);
        r->synth_events++;
        if (rc == RF_E_INPUT)
            r->synth_refused++;
        else if (rc != RF_OK)
            r->eval_errors++;
        else
            r->synth_detections += nm;
    }
    /* Fewer inputs than the sensor supplies: the run-time check must refuse
     * exactly those shorter than what the content needs. */
    xprogress(c, k, PH_SHORT);
    uint32_t req = rf_interp_inputs_required(ip);
    uint32_t lens[3] = {0, req ? req - 1 : 0, nin ? nin - 1 : 0};
    synth_event(c, ninst ? 0 : UINT32_MAX, nin);
    for (int q = 0; q < 3; q++) {
        if ((q == 1 && (!req || lens[1] == lens[0])) ||
            (q == 2 && (lens[2] == lens[0] || lens[2] == lens[1] || lens[2] >= nin)))
            continue;
        uint32_t nm = 0;
        rf_rc rc = rf_interp_eval(ip, scr, c->inputs, lens[q], c->matches, ninst, &nm);
        r->short_events++;
        if (rc == RF_E_INPUT)
            r->short_refused++;
        int should_refuse = lens[q] < req;
        if ((rc == RF_E_INPUT) != should_refuse || (rc != RF_OK && rc != RF_E_INPUT))
            r->short_violations++;
    }
}

/*
 * Pad the timed evaluations of one sensor up to RFVAL_COST_MIN_EVALS by
 * evaluating the synthetic events again (results not counted), so that the
 * mean cost per event rests on enough work to be measured: a handful of
 * events would be judged on clock noise. Counts only r->nevals.
 */
static void cost_pad(xchild *c, const rf_interp *ip, rf_interp_scratch *scr, uint32_t nin,
                     uint64_t done, xrec *r)
{
    const rfval_run *v = c->v;
    uint32_t ninst = v->ch->ninstances;
    uint32_t nsynth = ninst < v->o.synthetic_events ? ninst : v->o.synthetic_events;
    if (!nsynth)
        nsynth = 1;
    for (uint64_t s = 0; done + s < RFVAL_COST_MIN_EVALS; s++) {
        uint32_t k = (uint32_t)(s % nsynth);
        uint32_t i = ninst == 0 ? UINT32_MAX : (uint32_t)((uint64_t)k * ninst / nsynth);
        synth_event(c, i, nin);
        uint32_t nm = 0;
        (void)timed_eval(c, ip, scr, c->inputs, nin, ninst, &nm, r);
    }
}

static void baseline_phase(xchild *c, uint32_t k, const rf_sensor_manifest *m, uint32_t nin,
                           xrec *r)
{
    const rf_channel *b = c->v->baseline;
    xprogress(c, k, PH_BASELINE);
    rf_interp *ip = NULL;
    rf_interp_scratch *scr = NULL;
    rf_err e;
    rf_err_clear(&e);
    rf_rc rc = rf_interp_build(b, m, &ip, &e);
    if (rc == RF_OK)
        rc = rf_interp_scratch_new(ip, &scr);
    if (rc == RF_E_NOMEM)
        _exit(XEXIT_NOMEM);
    if (rc != RF_OK) {
        r->diff_state = 2;
        r->base_rc = rc;
        copy_msg(r->base_msg, sizeof(r->base_msg), e.msg);
        rf_interp_free(ip);
        return;
    }
    xprogress(c, k, PH_DIFF);
    memset(c->basec, 0, (b->ninstances ? b->ninstances : 1) * sizeof(*c->basec));
    uint64_t ev = 0, refused = 0;
    r->base_detections = replay(c, ip, scr, nin, m->sensor_version, b->ninstances, c->basec,
                                &ev, &refused, r, 0);
    r->diff_state = 1;
    top_contributors(c, r);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
}

static int has_match(const uint32_t *m, uint32_t n, uint32_t idx)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m[mid] == idx)
            return 1;
        if (m[mid] < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Stage 5 for this sensor: every test of every instance, the event
 * truncated to the inputs the sensor supplies (absent where not named). */
static void tests_phase(xchild *c, uint32_t k, const rf_interp *ip, rf_interp_scratch *scr,
                        uint32_t nin, xrec *r)
{
    const rf_channel *ch = c->v->ch;
    xprogress(c, k, PH_TESTS);
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t t = 0; t < in->ntests; t++) {
            const rf_test *te = &in->tests[t];
            for (uint32_t q = 0; q < nin; q++)
                c->inputs[q] = (rf_input){.type = RF_VAL_ABSENT};
            uint32_t dropped = 0;
            for (uint32_t q = 0; q < te->ninputs; q++) {
                const rf_test_input *ti = &te->inputs[q];
                if (ti->field >= nin) {
                    dropped += ti->v.type != RF_VAL_ABSENT;
                    continue;
                }
                c->inputs[ti->field] = (rf_input){
                    .type = ti->v.type, .s = ti->v.s, .len = ti->v.len, .i = ti->v.i};
            }
            uint32_t nm = 0;
            rf_rc rc = rf_interp_eval(ip, scr, c->inputs, nin, c->matches, ch->ninstances, &nm);
            r->tests_run++;
            int got = rc == RF_OK &&
                      has_match(c->matches, nm < ch->ninstances ? nm : ch->ninstances, i);
            if (rc == RF_OK && got == (int)te->expect_match)
                continue;
            if (++r->tests_failed > RF_MAX_FINDINGS_PER_STAGE)
                continue; /* counted, not listed */
            xrec f;
            xinit(c, &f, XT_TESTFAIL);
            f.tf_inst = i;
            f.tf_test = t;
            f.tf_dropped = dropped;
            f.tf_got = (uint32_t)got;
            f.tf_rc = rc;
            xwrite(c, &f);
        }
    }
}

/* ---- the jobs ---- */

typedef enum xkind {
    XJ_SENSOR = 1,   /* one sensor: build, tests, corpus, synthetic, baseline */
    XJ_DECLARED = 2, /* the run-time layer, for every sensor short of the declaration */
    XJ_PATTERNS = 3, /* stage 4: every pattern compiled alone */
} xkind;

typedef struct xflags {
    int do_patterns, do_tests, do_exec, do_diff;
} xflags;

/* The run-time layer: ONE interpreter built as if a sensor supplied every
 * field the template type declares (what the 19 July validator believed),
 * fed each short sensor's real-length synthetic events. Any event the
 * run-time bounds check refuses would have read past that sensor's inputs. */
static void declared_job(xchild *c)
{
    const rfval_run *v = c->v;
    xprogress(c, 0, PH_DECLARED);
    rf_sensor_support ds = {
        .name = v->ch->template_type,
        .version = v->ch->template_version,
        .inputs = v->tt->nfields,
        .line = 0,
    };
    rf_sensor_manifest dm = {
        .sensor_version = (char *)"as-declared",
        .nsupports = 1,
        .supports = &ds,
        .file = NULL,
        .line = 0,
    };
    rf_interp *ip = NULL;
    rf_interp_scratch *scr = NULL;
    rf_err e;
    rf_err_clear(&e);
    rf_rc rc = rf_interp_build(v->ch, &dm, &ip, &e);
    if (rc == RF_OK)
        rc = rf_interp_scratch_new(ip, &scr);
    if (rc == RF_E_NOMEM)
        _exit(XEXIT_NOMEM);
    uint32_t ninst = v->ch->ninstances;
    uint32_t nsynth = ninst < v->o.synthetic_events ? ninst : v->o.synthetic_events;
    if (!nsynth)
        nsynth = 1;
    for (uint32_t k = 0; k < v->nsens; k++) {
        uint32_t nin = rfval_support(v, k)->inputs;
        if (nin >= v->tt->nfields)
            continue;
        xrec r;
        xinit(c, &r, XT_DECL);
        r.sensor = k;
        if (rc != RF_OK) {
            r.decl_state = 2;
            r.decl_rc = rc;
            copy_msg(r.decl_msg, sizeof(r.decl_msg), e.msg);
            xwrite(c, &r);
            continue;
        }
        xprogress(c, k, PH_DECLARED);
        r.decl_state = 1;
        for (uint32_t s = 0; s < nsynth; s++) {
            uint32_t i = ninst == 0 ? UINT32_MAX : (uint32_t)((uint64_t)s * ninst / nsynth);
            synth_event(c, i, nin);
            uint32_t nm = 0;
            rf_rc erc = rf_interp_eval(ip, scr, c->inputs, nin, c->matches, ninst, &nm);
            r.decl_events++;
            if (erc == RF_E_INPUT)
                r.decl_refused++;
        }
        xwrite(c, &r);
    }
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
    xrec d;
    xinit(c, &d, XT_DONE);
    xwrite(c, &d);
}

static int is_pattern_kind(rf_crit_kind k)
{
    return k == RF_CRIT_PREFIX || k == RF_CRIT_SUFFIX || k == RF_CRIT_CONTAINS ||
           k == RF_CRIT_GLOB || k == RF_CRIT_REGEX;
}

/* Stage 4's engine half: a hostile pattern may make the engine's compiler
 * spin or allocate, so it too runs under the limits. */
static void patterns_job(xchild *c)
{
    const rf_channel *ch = c->v->ch;
    xprogress(c, 0, PH_PATTERNS);
    uint64_t npat = 0, nfail = 0;
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ncrits; j++) {
            const rf_crit *cr = &in->crits[j];
            if (cr->vtype != RF_VAL_STRING || !is_pattern_kind(cr->kind))
                continue;
            npat++;
            rf_err e;
            rf_err_clear(&e);
            rf_rc rc = rf_interp_check_crit(cr, &e);
            if (rc == RF_E_NOMEM)
                _exit(XEXIT_NOMEM);
            if (rc == RF_OK || ++nfail > RF_MAX_FINDINGS_PER_STAGE)
                continue;
            xrec r;
            xinit(c, &r, XT_PATFAIL);
            r.tf_inst = i;
            r.tf_test = j;
            r.tf_rc = rc;
            copy_msg(r.build_msg, sizeof(r.build_msg), e.msg);
            xwrite(c, &r);
        }
    }
    xrec d;
    xinit(c, &d, XT_DONE);
    d.npat = npat;
    d.tests_failed = nfail;
    xwrite(c, &d);
}

static void sensor_job(xchild *c, uint32_t k)
{
    rfval_run *v = c->v;
    const rf_sensor_manifest *m = &v->ws->sensors[v->sens[k]];
    uint32_t nin = rfval_support(v, k)->inputs;
    if (c->do_diff) {
        uint32_t nb = v->baseline->ninstances;
        c->basec = calloc(nb ? nb : 1, sizeof(*c->basec));
        c->bids = malloc((nb ? nb : 1) * sizeof(*c->bids));
        if (!c->basec || !c->bids)
            _exit(XEXIT_NOMEM);
        for (uint32_t i = 0; i < nb; i++) {
            c->bids[i].id = v->baseline->instances[i].id ? v->baseline->instances[i].id : "";
            c->bids[i].idx = i;
        }
        qsort(c->bids, nb, sizeof(*c->bids), cmp_bid);
    }
    xrec r;
    xinit(c, &r, XT_SENSOR);
    r.sensor = k;
    rf_interp *ip = NULL;
    rf_interp_scratch *scr = NULL;
    rf_err e;
    rf_err_clear(&e);
    rf_rc rc = rf_interp_build(v->ch, m, &ip, &e);
    if (rc == RF_OK)
        rc = rf_interp_scratch_new(ip, &scr);
    if (rc == RF_E_NOMEM)
        _exit(XEXIT_NOMEM);
    r.build_rc = rc;
    if (rc != RF_OK) {
        copy_msg(r.build_msg, sizeof(r.build_msg), e.msg);
    } else {
        uint32_t ninst = v->ch->ninstances;
        r.inputs_required = rf_interp_inputs_required(ip);
        if (c->do_tests)
            tests_phase(c, k, ip, scr, nin, &r);
        uint64_t cpu0 = rf_thread_cpu_ns();
        if (c->do_exec || c->do_diff) {
            xprogress(c, k, PH_CORPUS);
            r.corpus_detections = replay(c, ip, scr, nin, m->sensor_version, ninst,
                                         c->do_diff ? c->newc : NULL, &r.corpus_events,
                                         &r.corpus_refused, &r, 1);
            r.new_detections = r.corpus_detections;
            r.diff_events = r.corpus_events;
        }
        if (c->do_exec) {
            synth_phase(c, k, ip, scr, nin, &r);
            cost_pad(c, ip, scr, nin, r.nevals, &r);
        }
        r.ns_total = rf_thread_cpu_ns() - cpu0;
    }
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
    if (c->do_diff && r.build_rc == RF_OK)
        baseline_phase(c, k, m, nin, &r);
    xwrite(c, &r);
}

/* One child process: job number j of kind kind (sensor k). Never returns. */
static void child_main(rfval_run *v, uint32_t j, xkind kind, uint32_t k, int fd,
                       const xflags *fl) __attribute__((noreturn));

static void child_main(rfval_run *v, uint32_t j, xkind kind, uint32_t k, int fd,
                       const xflags *fl)
{
    xchild c;
    memset(&c, 0, sizeof(c));
    c.v = v;
    c.fd = fd;
    c.job = j;
    c.do_tests = fl->do_tests;
    c.do_exec = fl->do_exec;
    c.do_diff = fl->do_diff;
    child_limits(v);
    xprogress(&c, k, kind == XJ_PATTERNS ? PH_PATTERNS
                     : kind == XJ_DECLARED ? PH_DECLARED : PH_BUILD);
    if (kind == XJ_SENSOR)
        test_fault(v); /* the per-sensor interpreter processes only */

    uint32_t maxinst = v->ch->ninstances;
    if (c.do_diff && v->baseline->ninstances > maxinst)
        maxinst = v->baseline->ninstances;
    uint32_t maxin = v->tt ? v->tt->nfields : 1;
    for (uint32_t q = 0; q < v->nsens; q++)
        if (rfval_support(v, q)->inputs > maxin)
            maxin = rfval_support(v, q)->inputs;
    c.arena_cap = (size_t)maxin * (RF_MAX_STRING + 1);
    c.matches = malloc((maxinst ? maxinst : 1) * sizeof(*c.matches));
    c.inputs = malloc((size_t)maxin * sizeof(*c.inputs));
    c.arena = malloc(c.arena_cap);
    c.newc = calloc(v->ch->ninstances ? v->ch->ninstances : 1, sizeof(*c.newc));
    if (!c.matches || !c.inputs || !c.arena || !c.newc)
        _exit(XEXIT_NOMEM);
    switch (kind) {
    case XJ_SENSOR: sensor_job(&c, k); break;
    case XJ_DECLARED: declared_job(&c); break;
    case XJ_PATTERNS: patterns_job(&c); break;
    }
    /* No cleanup: the process ends here, and exit handlers of the host
     * program (atexit, stdio buffers) must not run in the child. */
    _exit(0);
}

/* ================= the parent ================= */

/* A failed embedded test or refused pattern, as a child reported it. */
typedef struct xfail {
    uint32_t inst, sub, dropped; /* sub: test or criterion index */
    int32_t rc;
    uint8_t got;
    char *msg; /* patterns: the engine's message */
} xfail;

/* The run-time layer's result for one sensor. */
typedef struct xdecl {
    int got;
    int32_t state, rc;
    char msg[RF_ERR_MSG_MAX];
    uint64_t events, refused;
} xdecl;

/* The parent's view of one job's child. */
typedef struct xjob {
    xkind kind;
    uint32_t sensor; /* XJ_SENSOR */
    pid_t pid;
    int fd; /* read end, -1 when closed */
    int running;
    uint64_t deadline_ns;
    uint8_t buf[sizeof(xrec)];
    size_t have;

    int start_errno;
    int finished; /* its closing record arrived */
    xrec rec;     /* XJ_SENSOR: the result; XJ_PATTERNS: XT_DONE */
    xfail *fails;
    uint32_t nfails, capfails;
    int bad_record;
    uint32_t last_phase, last_sensor;
    int timed_out;
    int waited;
    int status;
    struct rusage ru;
} xjob;

struct rfval_exec {
    rfval_run *v;
    xflags fl;
    xjob *jobs;
    uint32_t njobs;
    int32_t decl_job, pat_job; /* job indices, -1 when none */
    xdecl *decl;               /* per sensor */
    uint32_t next;             /* next job to start */
    uint32_t running;
    uint32_t maxpar;
    uint64_t wall_ns; /* per child */
    int oom;
};

static const char *sensor_name(const rfval_run *v, uint32_t k)
{
    return v->ws->sensors[v->sens[k]].sensor_version;
}

/* The stage a sensor job's own fate (crash, limit) is reported under. */
static rf_stage fate_stage(const rfval_exec *x)
{
    return x->fl.do_exec ? RF_STAGE_EXECUTION
                         : x->fl.do_tests ? RF_STAGE_TESTS : RF_STAGE_DIFFERENTIAL;
}

static void start_job(rfval_exec *x, uint32_t j)
{
    xjob *s = &x->jobs[j];
    int fds[2];
    s->fd = -1;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        s->start_errno = errno;
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        s->start_errno = errno;
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(x->v, j, s->kind, s->sensor, fds[1], &x->fl);
    }
    close(fds[1]);
    s->pid = pid;
    s->fd = fds[0];
    s->running = 1;
    s->deadline_ns = rf_now_ns() + x->wall_ns;
    x->running++;
}

static int add_fail(rfval_exec *x, xjob *s, const xrec *r)
{
    if (s->nfails == s->capfails) {
        uint32_t cap = s->capfails ? s->capfails * 2 : 16;
        xfail *p = realloc(s->fails, cap * sizeof(*p));
        if (!p) {
            x->oom = 1;
            return 0;
        }
        s->fails = p;
        s->capfails = cap;
    }
    xfail *f = &s->fails[s->nfails];
    *f = (xfail){.inst = r->tf_inst,
                 .sub = r->tf_test,
                 .dropped = r->tf_dropped,
                 .rc = r->tf_rc,
                 .got = r->tf_got != 0,
                 .msg = NULL};
    if (r->tag == XT_PATFAIL) {
        f->msg = strndup(r->build_msg, sizeof(r->build_msg) - 1);
        if (!f->msg) {
            x->oom = 1;
            return 0;
        }
    }
    s->nfails++;
    return 1;
}

/* Check and store one record from job j. Nothing in it is trusted. */
static void take_record(rfval_exec *x, uint32_t j, xrec *r)
{
    rfval_run *v = x->v;
    xjob *s = &x->jobs[j];
    const rf_channel *ch = v->ch;
    if (r->magic != XMAGIC || r->job != j) {
        s->bad_record = 1;
        return;
    }
    r->build_msg[sizeof(r->build_msg) - 1] = 0;
    r->decl_msg[sizeof(r->decl_msg) - 1] = 0;
    r->base_msg[sizeof(r->base_msg) - 1] = 0;
    for (uint32_t q = 0; q < TOP_N; q++)
        r->top_id[q][RF_ID_MAX] = 0;
    if (r->ntop > TOP_N)
        r->ntop = TOP_N;
    switch (r->tag) {
    case XT_PROGRESS:
        if (r->phase >= PH_COUNT || (v->nsens && r->sensor >= v->nsens)) {
            s->bad_record = 1;
            return;
        }
        s->last_phase = r->phase;
        s->last_sensor = r->sensor;
        if (s->kind == XJ_PATTERNS) {
            rfval_progress(v, RF_STAGE_PATTERNS, "%s", phase_names[r->phase]);
            return;
        }
        rf_stage st = r->phase == PH_TESTS ? RF_STAGE_TESTS
                      : r->phase == PH_BASELINE || r->phase == PH_DIFF
                          ? RF_STAGE_DIFFERENTIAL
                          : fate_stage(x);
        if (v->nsens)
            rfval_progress(v, st, "sensor %s: %s", sensor_name(v, r->sensor),
                           phase_names[r->phase]);
        return;
    case XT_TESTFAIL:
        if (s->kind != XJ_SENSOR || r->tf_inst >= ch->ninstances ||
            r->tf_test >= ch->instances[r->tf_inst].ntests) {
            s->bad_record = 1;
            return;
        }
        add_fail(x, s, r);
        return;
    case XT_PATFAIL:
        if (s->kind != XJ_PATTERNS || r->tf_inst >= ch->ninstances ||
            r->tf_test >= ch->instances[r->tf_inst].ncrits) {
            s->bad_record = 1;
            return;
        }
        add_fail(x, s, r);
        return;
    case XT_DECL:
        if (s->kind != XJ_DECLARED || r->sensor >= v->nsens) {
            s->bad_record = 1;
            return;
        }
        xdecl *d = &x->decl[r->sensor];
        d->got = 1;
        d->state = r->decl_state;
        d->rc = r->decl_rc;
        memcpy(d->msg, r->decl_msg, sizeof(d->msg));
        d->events = r->decl_events;
        d->refused = r->decl_refused;
        return;
    case XT_SENSOR:
    case XT_DONE:
        if ((r->tag == XT_SENSOR) != (s->kind == XJ_SENSOR) ||
            (s->kind == XJ_SENSOR && r->sensor != s->sensor)) {
            s->bad_record = 1;
            return;
        }
        s->rec = *r;
        s->finished = 1;
        return;
    default:
        s->bad_record = 1;
    }
}

static void reap(rfval_exec *x, uint32_t j)
{
    xjob *s = &x->jobs[j];
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->have)
        s->bad_record = 1;
    for (;;) {
        pid_t w = wait4(s->pid, &s->status, 0, &s->ru);
        if (w == s->pid) {
            s->waited = 1;
            break;
        }
        if (w < 0 && errno == EINTR)
            continue;
        break; /* ECHILD: the host ignores SIGCHLD; judge by the records */
    }
    s->running = 0;
    x->running--;
}

/* Read from every running child until all have ended, starting the rest as
 * slots free up; a child past its wall-clock deadline is killed. */
static void collect(rfval_exec *x)
{
    uint32_t n = x->njobs;
    struct pollfd *pf = malloc((x->maxpar ? x->maxpar : 1) * sizeof(*pf));
    uint32_t *who = malloc((x->maxpar ? x->maxpar : 1) * sizeof(*who));
    if (!pf || !who) {
        x->oom = 1;
        goto out;
    }
    /* A child started before the parent read the corpus may have waited on
     * a full pipe: its wall clock starts now. */
    uint64_t now0 = rf_now_ns();
    for (uint32_t j = 0; j < n; j++)
        if (x->jobs[j].running)
            x->jobs[j].deadline_ns = now0 + x->wall_ns;
    for (;;) {
        while (x->running < x->maxpar && x->next < n)
            start_job(x, x->next++);
        if (!x->running)
            break;
        uint32_t np = 0;
        uint64_t now = rf_now_ns(), first = UINT64_MAX;
        for (uint32_t j = 0; j < n; j++) {
            xjob *s = &x->jobs[j];
            if (!s->running)
                continue;
            if (now >= s->deadline_ns) {
                s->timed_out = 1;
                kill(s->pid, SIGKILL);
                reap(x, j);
                continue;
            }
            if (s->deadline_ns < first)
                first = s->deadline_ns;
            pf[np] = (struct pollfd){.fd = s->fd, .events = POLLIN};
            who[np++] = j;
        }
        if (!np)
            continue;
        uint64_t left_ms = (first - now) / 1000000u + 1;
        int pr = poll(pf, np, left_ms > 60000 ? 60000 : (int)left_ms);
        if (pr < 0 && errno != EINTR) {
            /* Cannot wait on the children: stop them rather than hang. */
            for (uint32_t q = 0; q < np; q++) {
                x->jobs[who[q]].timed_out = 1;
                kill(x->jobs[who[q]].pid, SIGKILL);
                reap(x, who[q]);
            }
            continue;
        }
        for (uint32_t q = 0; pr > 0 && q < np; q++) {
            if (!pf[q].revents)
                continue;
            xjob *s = &x->jobs[who[q]];
            ssize_t got = read(s->fd, s->buf + s->have, sizeof(s->buf) - s->have);
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0) {
                reap(x, who[q]); /* EOF: finished or died */
                continue;
            }
            s->have += (size_t)got;
            if (s->have == sizeof(s->buf)) {
                xrec rec;
                memcpy(&rec, s->buf, sizeof(rec));
                s->have = 0;
                take_record(x, who[q], &rec);
            }
        }
    }
out:
    /* No child may outlive the collection. */
    for (uint32_t j = 0; j < n; j++) {
        if (x->jobs[j].running) {
            kill(x->jobs[j].pid, SIGKILL);
            reap(x, j);
        }
    }
    free(pf);
    free(who);
}

static double tv_sec(struct timeval t)
{
    return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

/* Turn a job's end into a finding under stage st; 1 if it did not finish. */
static int job_fate(rfval_exec *x, uint32_t j, rf_stage st)
{
    rfval_run *v = x->v;
    const xjob *s = &x->jobs[j];
    rfval_where w = RFVAL_WHERE_NONE;
    w.file = v->display;
    char during[320];
    const char *ph = phase_names[s->last_phase < PH_COUNT ? s->last_phase : PH_START];
    if (s->kind == XJ_PATTERNS) {
        snprintf(during, sizeof(during), "while %s", ph);
    } else if (v->nsens) {
        uint32_t k = s->kind == XJ_SENSOR ? s->sensor : s->last_sensor;
        const rf_sensor_support *sup = rfval_support(v, k);
        snprintf(during, sizeof(during), "while %s for sensor %s (%u inputs)", ph,
                 sensor_name(v, k), sup->inputs);
        w.sensor_version = sensor_name(v, k);
        w.sensor_inputs = (int32_t)sup->inputs;
    } else {
        snprintf(during, sizeof(during), "while %s", ph);
    }
    const char *who = s->kind == XJ_PATTERNS ? "the pattern compiler process"
                      : s->kind == XJ_DECLARED
                          ? "the interpreter process (built as declared)"
                          : "the interpreter process";
    double cpu = s->waited ? tv_sec(s->ru.ru_utime) + tv_sec(s->ru.ru_stime) : 0;
    unsigned cpulim = v->o.exec_cpu_seconds;
    unsigned long long mem = (unsigned long long)v->o.exec_mem_bytes;

    if (s->start_errno) {
        rfval_add(v->r, st, 1, &w, "%s: cannot start %s: %s", v->display, who,
                  strerror(s->start_errno));
        return 1;
    }
    if (s->timed_out) {
        rfval_add(v->r, st, 1, &w,
                  "%s: %s ran past its wall-clock limit of %llu s %s and was killed",
                  v->display, who, (unsigned long long)(x->wall_ns / 1000000000u), during);
        return 1;
    }
    if (s->waited && WIFSIGNALED(s->status)) {
        int sig = WTERMSIG(s->status);
        if (sig == SIGXCPU || (sig == SIGKILL && cpu + 0.5 >= cpulim))
            rfval_add(v->r, st, 1, &w,
                      "%s: %s hit the CPU limit of %u s (%s) %s: content that keeps a core "
                      "busy (the CPU-spike class)",
                      v->display, who, cpulim, sig == SIGXCPU ? "SIGXCPU" : "SIGKILL",
                      during);
        else if (sig == SIGSEGV || sig == SIGBUS)
            rfval_add(v->r, st, 1, &w,
                      "%s: %s crashed with %s (invalid memory access) %s: on a host this is "
                      "a crashed sensor",
                      v->display, who, sig == SIGSEGV ? "SIGSEGV" : "SIGBUS", during);
        else if (sig == SIGABRT)
            rfval_add(v->r, st, 1, &w,
                      "%s: %s aborted (SIGABRT) %s: a failed assertion, or an allocation "
                      "failure under the memory limit of %llu bytes",
                      v->display, who, during, mem);
        else
            rfval_add(v->r, st, 1, &w, "%s: %s was killed by signal %d (%s) %s", v->display,
                      who, sig, strsignal(sig), during);
        return 1;
    }
    if (s->waited && WIFEXITED(s->status) && WEXITSTATUS(s->status) != 0) {
        int code = WEXITSTATUS(s->status);
        if (code == XEXIT_NOMEM)
            rfval_add(v->r, st, 1, &w,
                      "%s: %s hit the memory limit of %llu bytes (RLIMIT_AS) %s", v->display,
                      who, mem, during);
        else
            rfval_add(v->r, st, 1, &w,
                      "%s: %s exited with status %d %s, without a complete result",
                      v->display, who, code, during);
        return 1;
    }
    if (!s->finished || s->bad_record) {
        rfval_add(v->r, st, 1, &w, "%s: %s's result records are short, missing or malformed (%s)",
                  v->display, who, during);
        return 1;
    }
    return 0;
}

static rf_stage_status status_of(const rfval_run *v, rf_stage st)
{
    return v->r->errors[st] ? RF_STATUS_FAIL : RF_STATUS_PASS;
}

static void loc_of(const rfval_run *v, uint32_t line, char *at, size_t n)
{
    if (line)
        snprintf(at, n, "%s:%u", v->display, line);
    else
        snprintf(at, n, "%s", v->display);
}

/* Stage 4's engine findings. */
static void patterns_findings(rfval_exec *x)
{
    rfval_run *v = x->v;
    if (x->pat_job < 0)
        return;
    const xjob *s = &x->jobs[x->pat_job];
    if (job_fate(x, (uint32_t)x->pat_job, RF_STAGE_PATTERNS)) {
        rfval_set_stage(v->r, RF_STAGE_PATTERNS, RF_STATUS_FAIL,
                        "the pattern compiler process did not finish");
        return;
    }
    for (uint32_t q = 0; q < s->nfails; q++) {
        const xfail *f = &s->fails[q];
        const rf_instance *in = &v->ch->instances[f->inst];
        const rf_crit *c = &in->crits[f->sub];
        rfval_where w = RFVAL_WHERE_NONE;
        w.file = v->display;
        w.line = rfval_line_crit(v, f->inst, f->sub);
        w.instance = in->id;
        w.field = c->field_name;
        w.field_index = c->field;
        char at[RF_ERR_FILE_MAX + 16];
        loc_of(v, w.line, at, sizeof(at));
        rfval_add(v->r, RF_STAGE_PATTERNS, 1, &w,
                  "%s: instance '%s': the %s criterion on field '%s' does not compile in the "
                  "matching engine: %s (%s)",
                  at, in->id, rf_crit_kind_name(c->kind), c->field_name ? c->field_name : "?",
                  f->msg ? f->msg : "", rf_strerror((rf_rc)f->rc));
    }
    if (s->rec.tests_failed > s->nfails)
        rfval_add_unlisted(v->r, RF_STAGE_PATTERNS, 1, (uint32_t)(s->rec.tests_failed - s->nfails));
    rfval_set_stage(v->r, RF_STAGE_PATTERNS, status_of(v, RF_STAGE_PATTERNS),
                    "%llu patterns compiled one by one: %llu refused by the engine; %u errors",
                    (unsigned long long)s->rec.npat, (unsigned long long)s->rec.tests_failed,
                    v->r->errors[RF_STAGE_PATTERNS]);
}

/* Stage 5 findings for the sensor of job j. */
static void tests_findings(rfval_exec *x, uint32_t j, int died)
{
    rfval_run *v = x->v;
    const xjob *s = &x->jobs[j];
    uint32_t k = s->sensor;
    const rf_sensor_manifest *m = &v->ws->sensors[v->sens[k]];
    uint32_t nin = rfval_support(v, k)->inputs;
    rfval_where w = RFVAL_WHERE_NONE;
    w.file = v->display;
    w.sensor_version = m->sensor_version;
    w.sensor_inputs = (int32_t)nin;
    if (died) {
        if (fate_stage(x) != RF_STAGE_TESTS)
            rfval_add(v->r, RF_STAGE_TESTS, 1, &w,
                      "%s: the embedded tests on sensor %s did not complete: the interpreter "
                      "process did not finish (see the %s stage)",
                      v->display, m->sensor_version, rf_stage_name(fate_stage(x)));
        return;
    }
    if (s->rec.build_rc != RF_OK) {
        rfval_add(v->r, RF_STAGE_TESTS, 1, &w,
                  "%s: sensor %s (%u inputs) refuses to load this channel, so no test can "
                  "pass on it: %s (%s)",
                  v->display, m->sensor_version, nin, s->rec.build_msg,
                  rf_strerror((rf_rc)s->rec.build_rc));
        return;
    }
    for (uint32_t q = 0; q < s->nfails; q++) {
        const xfail *f = &s->fails[q];
        const rf_instance *in = &v->ch->instances[f->inst];
        const rf_test *te = &in->tests[f->sub];
        rfval_where wt = w;
        wt.line = rfval_line_test(v, f->inst, f->sub);
        wt.instance = in->id;
        char at[RF_ERR_FILE_MAX + 16];
        loc_of(v, wt.line, at, sizeof(at));
        if (f->rc != RF_OK) {
            rfval_add(v->r, RF_STAGE_TESTS, 1, &wt,
                      "%s: instance '%s' test %u: sensor %s (%u inputs) refused the event "
                      "(%s)",
                      at, in->id, f->sub + 1, m->sensor_version, nin,
                      rf_strerror((rf_rc)f->rc));
            continue;
        }
        char note[192] = "";
        if (f->dropped)
            snprintf(note, sizeof(note),
                     " (%u test value%s on fields >= %u dropped: sensor %s does not supply "
                     "them)",
                     f->dropped, f->dropped == 1 ? "" : "s", nin, m->sensor_version);
        rfval_add(v->r, RF_STAGE_TESTS, 1, &wt,
                  "%s: instance '%s' test %u expects %s, but on sensor %s (%u inputs) it "
                  "gives %s%s",
                  at, in->id, f->sub + 1, te->expect_match ? "match" : "no_match",
                  m->sensor_version, nin, f->got ? "match" : "no_match", note);
    }
    if (s->rec.tests_failed > s->nfails)
        rfval_add_unlisted(v->r, RF_STAGE_TESTS, 1, (uint32_t)(s->rec.tests_failed - s->nfails));
}

/* Stage 6 findings for sensor k: its job's record (NULL if the job died)
 * and the run-time layer's result. */
static void exec_findings(rfval_exec *x, uint32_t k, const xrec *r)
{
    rfval_run *v = x->v;
    const rf_sensor_manifest *m = &v->ws->sensors[v->sens[k]];
    uint32_t nin = rfval_support(v, k)->inputs;
    rfval_where w = RFVAL_WHERE_NONE;
    w.file = v->display;
    w.sensor_version = m->sensor_version;
    w.sensor_inputs = (int32_t)nin;
    const rf_stage st = RF_STAGE_EXECUTION;
    const xdecl *d = &x->decl[k];

    if (d->got && d->state == 1 && d->refused)
        rfval_add(v->r, st, 1, &w,
                  "%s: this content would read past the %u inputs sensor %s supplies: built "
                  "as the template type declares it (%u inputs), the run-time bounds check "
                  "refused %llu of %llu events of this sensor's real length",
                  v->display, nin, m->sensor_version, v->tt ? v->tt->nfields : 0,
                  (unsigned long long)d->refused, (unsigned long long)d->events);
    if (d->got && d->state == 2)
        rfval_add(v->r, st, 0, &w,
                  "%s: the interpreter built as the template type declares it was refused: "
                  "%s (%s); the run-time layer could not be exercised for sensor %s",
                  v->display, d->msg, rf_strerror((rf_rc)d->rc), m->sensor_version);
    if (!r)
        return;
    if (r->build_rc != RF_OK)
        rfval_add(v->r, st, 1, &w,
                  "%s: sensor %s (%u inputs) refuses to load this channel: %s (%s); hosts "
                  "running %s could not use this content",
                  v->display, m->sensor_version, nin, r->build_msg,
                  rf_strerror((rf_rc)r->build_rc), m->sensor_version);
    if (r->eval_errors)
        rfval_add(v->r, st, 1, &w,
                  "%s: on sensor %s the interpreter failed %llu evaluations with an "
                  "unexpected error",
                  v->display, m->sensor_version, (unsigned long long)r->eval_errors);
    if (r->synth_refused)
        rfval_add(v->r, st, 1, &w,
                  "%s: on sensor %s the interpreter refused %llu of %llu events carrying all "
                  "%u inputs the sensor supplies",
                  v->display, m->sensor_version, (unsigned long long)r->synth_refused,
                  (unsigned long long)r->synth_events, nin);
    if (r->short_violations)
        rfval_add(v->r, st, 1, &w,
                  "%s: on sensor %s the run-time input check misjudged %llu of %llu events "
                  "with fewer inputs than supplied (content needs %u inputs)",
                  v->display, m->sensor_version, (unsigned long long)r->short_violations,
                  (unsigned long long)r->short_events, r->inputs_required);
    if (r->corpus_refused)
        rfval_add(v->r, st, 0, &w,
                  "%s: %llu of %llu corpus events for sensor %s carry fewer inputs than the "
                  "content needs; the run-time check refused them",
                  v->display, (unsigned long long)r->corpus_refused,
                  (unsigned long long)r->corpus_events, m->sensor_version);
    if (r->nevals) {
        uint64_t mean = r->ns_total / r->nevals;
        if (mean > v->o.exec_event_budget_ns)
            rfval_add(v->r, st, 1, &w,
                      "%s: on sensor %s an event costs %llu ns of CPU on average (max %llu ns "
                      "wall-clock over %llu events), over the budget of %llu ns: the "
                      "CPU-spike class",
                      v->display, m->sensor_version, (unsigned long long)mean,
                      (unsigned long long)r->ns_max, (unsigned long long)r->nevals,
                      (unsigned long long)v->o.exec_event_budget_ns);
    }
}

/* Stage 7 findings for sensor k; 1 if it was compared. */
static int diff_findings(rfval_run *v, uint32_t k, const xrec *r, rf_buf *sum)
{
    const rf_stage st = RF_STAGE_DIFFERENTIAL;
    const double ratio = v->o.diff_max_ratio;
    const rf_sensor_manifest *m = &v->ws->sensors[v->sens[k]];
    uint32_t nin = rfval_support(v, k)->inputs;
    rfval_where w = RFVAL_WHERE_NONE;
    w.file = v->display;
    w.sensor_version = m->sensor_version;
    w.sensor_inputs = (int32_t)nin;
    if (r->build_rc != RF_OK) {
        rfval_add(v->r, st, 0, &w,
                  "%s: sensor %s refuses this content, so its detection volume cannot be "
                  "compared",
                  v->display, m->sensor_version);
        return 0;
    }
    if (r->diff_state == 2) {
        rfval_add(v->r, st, 0, &w, "sensor %s refuses the baseline (%s: %s): no comparison",
                  m->sensor_version, rf_strerror((rf_rc)r->base_rc), r->base_msg);
        return 0;
    }
    if (r->diff_state != 1 || !r->diff_events)
        return 0;
    uint64_t old = r->base_detections, nw = r->new_detections;
    double lim = ratio * (double)old;
    double floor2 = (double)old + (double)v->o.diff_min_detections;
    if (floor2 > lim)
        lim = floor2;
    rf_buf_printf(sum, "%s%s: %llu -> %llu", sum->len ? "; " : "", m->sensor_version,
                  (unsigned long long)old, (unsigned long long)nw);
    if ((double)nw <= lim)
        return 1;
    char top[TOP_N * (RF_ID_MAX + 48)] = "";
    size_t off = 0;
    for (uint32_t q = 0; q < r->ntop && off < sizeof(top); q++) {
        int n = snprintf(top + off, sizeof(top) - off, "%s'%s' (%llu -> %llu)", q ? ", " : "",
                         r->top_id[q], (unsigned long long)r->top_old[q],
                         (unsigned long long)r->top_new[q]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    char rs[32];
    if (old)
        snprintf(rs, sizeof(rs), "x%.1f", (double)nw / (double)old);
    else
        snprintf(rs, sizeof(rs), "from zero");
    w.instance = r->ntop ? r->top_id[0] : NULL;
    rfval_add(v->r, st, 1, &w,
              "%s: on sensor %s, detection volume on the corpus (%llu events) rose from %llu "
              "to %llu (%s, limit x%.1f and at least +%u): a false-positive storm; top "
              "contributors: %s",
              v->display, m->sensor_version, (unsigned long long)r->diff_events,
              (unsigned long long)old, (unsigned long long)nw, rs, ratio,
              v->o.diff_min_detections, off ? top : "none");
    return 1;
}

static void no_sensor(rfval_run *v, rf_stage st)
{
    rfval_no_sensor_finding(v, st);
    rfval_set_stage(v->r, st, RF_STATUS_FAIL, "0 sensors run %s v%u: nothing evaluated",
                    v->ch->template_type, v->ch->template_version);
}

rf_rc rfval_exec_start(rfval_run *v, int do_patterns, rfval_exec **out)
{
    rfval_exec *x = calloc(1, sizeof(*x));
    if (!x)
        return RF_E_NOMEM;
    x->v = v;
    x->fl.do_patterns = do_patterns;
    x->decl_job = x->pat_job = -1;
    /* Room for every job: patterns, one per sensor, the as-declared one. */
    x->jobs = calloc((size_t)v->nsens + 2, sizeof(*x->jobs));
    x->decl = calloc(v->nsens ? v->nsens : 1, sizeof(*x->decl));
    if (!x->jobs || !x->decl) {
        free(x->jobs);
        free(x->decl);
        free(x);
        return RF_E_NOMEM;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    x->maxpar = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (uint32_t)ncpu;
    /* Wall clock per child: 3x the CPU limit, and never under 30 s, so that
     * on a loaded machine a child still dies of its CPU limit (the finding
     * that names the cause) before this backstop fires. */
    uint64_t wall = (uint64_t)v->o.exec_cpu_seconds * 3u;
    if (wall < (uint64_t)v->o.exec_cpu_seconds + 30u)
        wall = (uint64_t)v->o.exec_cpu_seconds + 30u;
    x->wall_ns = wall * 1000000000u;
    /* The pattern checks need only the channel: they start now and overlap
     * the parent's reading of the corpus. */
    if (do_patterns) {
        x->pat_job = (int32_t)x->njobs;
        x->jobs[x->njobs++] = (xjob){.kind = XJ_PATTERNS, .fd = -1};
        rfval_progress(v, RF_STAGE_PATTERNS, "starting the pattern compiler process");
        start_job(x, x->next++);
    }
    *out = x;
    return RF_OK;
}

/* Add the interpreter jobs once the corpus and baseline are loaded. */
static void add_sensor_jobs(rfval_exec *x, int do_tests, int do_exec, int do_diff)
{
    rfval_run *v = x->v;
    x->fl.do_tests = do_tests;
    x->fl.do_exec = do_exec;
    x->fl.do_diff = do_diff;
    if (!v->nsens || (!do_tests && !do_exec && !do_diff))
        return;
    /* Longest first: the sensors' builds, then the as-declared build. */
    for (uint32_t k = 0; k < v->nsens; k++)
        x->jobs[x->njobs++] = (xjob){.kind = XJ_SENSOR, .sensor = k, .fd = -1};
    int need_decl = 0;
    for (uint32_t k = 0; do_exec && v->tt && k < v->nsens; k++)
        need_decl |= rfval_support(v, k)->inputs < v->tt->nfields;
    if (need_decl) {
        x->decl_job = (int32_t)x->njobs;
        x->jobs[x->njobs++] = (xjob){.kind = XJ_DECLARED, .fd = -1};
    }
    rfval_progress(v, fate_stage(x), "starting %u interpreter processes (%u at a time)",
                   x->njobs - x->next, x->maxpar);
}

rf_rc rfval_exec_finish(rfval_exec *x, int do_tests, int do_exec, int do_diff)
{
    rfval_run *v = x->v;
    add_sensor_jobs(x, do_tests, do_exec, do_diff);
    const xflags fl = x->fl;
    rf_rc rc = RF_OK;
    collect(x);
    if (x->oom) {
        rc = RF_E_NOMEM;
        goto out;
    }
    if (fl.do_patterns)
        patterns_findings(x);
    if (!v->nsens) {
        if (fl.do_tests)
            no_sensor(v, RF_STAGE_TESTS);
        if (fl.do_exec)
            no_sensor(v, RF_STAGE_EXECUTION);
        if (fl.do_diff)
            no_sensor(v, RF_STAGE_DIFFERENTIAL);
        goto out;
    }
    if (!fl.do_tests && !fl.do_exec && !fl.do_diff)
        goto out;
    int decl_died = x->decl_job >= 0 && job_fate(x, (uint32_t)x->decl_job, RF_STAGE_EXECUTION);
    uint32_t loaded = 0, ndied = decl_died ? 1 : 0, compared = 0;
    uint64_t trun = 0, tfail = 0, cev = 0, sev = 0, det = 0, nevals = 0, ns = 0, nsmax = 0;
    double cpu = 0;
    long rss = 0;
    rf_buf sum;
    rf_buf_init(&sum);
    for (uint32_t j = 0; j < x->njobs; j++) {
        const xjob *s = &x->jobs[j];
        if (s->waited) {
            cpu += tv_sec(s->ru.ru_utime) + tv_sec(s->ru.ru_stime);
            if (s->ru.ru_maxrss > rss)
                rss = s->ru.ru_maxrss;
        }
        if (s->kind != XJ_SENSOR)
            continue;
        uint32_t k = s->sensor;
        int died = job_fate(x, j, fate_stage(x));
        ndied += (uint32_t)died;
        if (fl.do_tests)
            tests_findings(x, j, died);
        if (fl.do_exec)
            exec_findings(x, k, died ? NULL : &s->rec);
        if (died)
            continue;
        const xrec *r = &s->rec;
        loaded += r->build_rc == RF_OK;
        trun += r->tests_run;
        tfail += r->tests_failed;
        cev += r->corpus_events;
        sev += r->synth_events;
        det += r->corpus_detections + r->synth_detections;
        nevals += r->nevals;
        ns += r->ns_total;
        if (r->ns_max > nsmax)
            nsmax = r->ns_max;
        if (fl.do_diff)
            compared += (uint32_t)diff_findings(v, k, r, &sum);
    }
    if (fl.do_tests)
        rfval_set_stage(v->r, RF_STAGE_TESTS, status_of(v, RF_STAGE_TESTS),
                        "%llu test evaluations on %u of %u sensors (%u instances): %llu "
                        "failed%s",
                        (unsigned long long)trun, loaded, v->nsens, v->ch->ninstances,
                        (unsigned long long)tfail,
                        loaded < v->nsens ? "; a sensor that cannot load the channel "
                                            "fails every test" : "");
    if (fl.do_exec)
        rfval_set_stage(v->r, RF_STAGE_EXECUTION, status_of(v, RF_STAGE_EXECUTION),
                        "%u of %u sensors loaded the channel%s; %llu corpus and %llu "
                        "synthetic events, %llu detections; %llu ns CPU mean, %llu ns wall max per "
                        "event; %u processes used %.2f s CPU, at most %ld MiB each",
                        loaded, v->nsens, ndied ? " (some processes died)" : "",
                        (unsigned long long)cev, (unsigned long long)sev,
                        (unsigned long long)det,
                        (unsigned long long)(nevals ? ns / nevals : 0),
                        (unsigned long long)nsmax, x->njobs, cpu, rss / 1024);
    if (fl.do_diff) {
        char *s = rf_buf_take(&sum);
        if (ndied && fl.do_exec)
            rfval_set_stage(v->r, RF_STAGE_DIFFERENTIAL,
                            v->r->errors[RF_STAGE_DIFFERENTIAL] ? RF_STATUS_FAIL
                                                                : RF_STATUS_NOT_RUN,
                            "incomplete: interpreter processes died (see execution)");
        else if (!compared && !v->r->errors[RF_STAGE_DIFFERENTIAL])
            rfval_set_stage(v->r, RF_STAGE_DIFFERENTIAL, RF_STATUS_SKIPPED,
                            "no corpus events for any sensor running this content: "
                            "detection volume not compared");
        else
            rfval_set_stage(v->r, RF_STAGE_DIFFERENTIAL, status_of(v, RF_STAGE_DIFFERENTIAL),
                            "against content_version %u, %u sensors compared (detections "
                            "baseline -> new): %s",
                            v->baseline->content_version, compared, s ? s : "");
        free(s);
    }
out:
    for (uint32_t j = 0; j < x->njobs; j++) {
        for (uint32_t q = 0; q < x->jobs[j].nfails; q++)
            free(x->jobs[j].fails[q].msg);
        free(x->jobs[j].fails);
    }
    free(x->jobs);
    free(x->decl);
    free(x);
    return rc;
}
