/*
 * cmd_bench.c — `ringfence bench interp|validate`: measure the Content
 * Interpreter and the Content Validator on a synthetic IPC workspace
 * (synth.c) of realistic size, and print figures, never pass/fail on time.
 *
 * bench interp loads content the way a sensor does (rf_channel_write, then
 * rf_channel_read, then rf_interp_build), evaluates M events on one thread
 * and reports throughput, per-event latency percentiles, build time and
 * memory. It then runs the same content through a naive loop — every string
 * criterion a PCRE2 regex, instance after instance — on a subset of the same
 * events, both for the speed-up and as a correctness cross-check: the two
 * must agree on every event, or the command exits 1.
 *
 * bench validate writes the synthetic workspace to disk (YAML channel with
 * embedded tests, two sensors, a JSON-lines corpus) and times
 * rf_validate_path on it.
 *
 * Events are generated in batches outside the timed regions, so M can be
 * large without holding M events in memory (1M events of 20 inputs would be
 * about 1 GiB).
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>

#include "cli.h"
#include "ringfence/channel.h"
#include "ringfence/interp.h"
#include "ringfence/schema.h"
#include "ringfence/util.h"
#include "ringfence/validate.h"
#include "synth.h"

#define BENCH_BATCH 16384u       /* events generated, then evaluated, at a time */
#define BENCH_MATCH_PPM 10000u   /* 1% of events are built to match */
#define BENCH_NAIVE_DEFAULT 20000u

/* ---- small helpers ----------------------------------------------------- */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of this thread: on a shared machine, wall time includes waiting
 * for a core; CPU time does not. Both are reported. */
static inline uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU seconds (user + system) used by this process and its waited-for
 * children (the validator's execution stage runs in a child). */
static double process_cpu_s(void)
{
    struct rusage a, b;
    if (getrusage(RUSAGE_SELF, &a) != 0 || getrusage(RUSAGE_CHILDREN, &b) != 0)
        return 0;
    return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec +
                    b.ru_stime.tv_sec) +
           (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec +
                    b.ru_stime.tv_usec) / 1e6;
}

static uint64_t peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux: KiB */
}

static int show_progress;

static void progress(const char *what, uint64_t done, uint64_t total)
{
    if (!show_progress)
        return;
    if (total)
        fprintf(stderr, "\rbench: %s %3u%%", what, (unsigned)(done * 100 / total));
    else
        fprintf(stderr, "\rbench: %s ...", what);
    fflush(stderr);
}

static void progress_done(void)
{
    if (show_progress) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
}

/* "--name VALUE" or "--name=VALUE"; returns 1 and advances *i when matched. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *val = NULL;
        return 1;
    }
    *val = argv[++*i];
    return 1;
}

static int parse_u64_opt(const char *name, const char *val, uint64_t lo, uint64_t hi,
                         uint64_t *out)
{
    uint64_t v = 0;
    if (!val) {
        fprintf(stderr, "ringfence bench: %s needs a value\n", name);
        return 0;
    }
    if (rf_parse_u64(val, hi, &v) != RF_OK || v < lo) {
        fprintf(stderr, "ringfence bench: %s: '%s' is not a number in %llu..%llu\n",
                name, val, (unsigned long long)lo, (unsigned long long)hi);
        return 0;
    }
    *out = v;
    return 1;
}

static void print_err(const char *what, const rf_err *err)
{
    char buf[RF_ERR_FILE_MAX + RF_ERR_MSG_MAX + 64];
    rf_err_format(err, buf, sizeof(buf));
    fprintf(stderr, "ringfence bench: %s: %s (%s)\n", what, buf, rf_strerror(err->rc));
}

static void usage(FILE *f)
{
    fputs("usage: ringfence bench interp [options]\n"
          "       ringfence bench validate [options]\n"
          "\n"
          "Measure the interpreter or the validator on a synthetic IPC channel\n"
          "(template type ipc_named_pipe, 21 fields; criteria on fields 0..19).\n"
          "\n"
          "bench interp: write, read back and build N instances for a 20-input\n"
          "sensor, evaluate M events on one thread (1% built to match), then a\n"
          "naive per-instance PCRE2 loop on a subset as baseline and cross-check.\n"
          "  --instances N     instances in the channel (default 10000)\n"
          "  --events M        events to evaluate (default 1000000)\n"
          "  --naive-events K  events for the naive loop (default min(M, 20000);\n"
          "                    0 skips the baseline and the cross-check)\n"
          "  --seed K          random seed (default 1)\n"
          "  --json            print one JSON object instead of a table\n"
          "\n"
          "bench validate: write a workspace (types/, sensors/ with a 20- and a\n"
          "21-input sensor, channels/synthetic.yaml, corpus/corpus.jsonl) and time\n"
          "the whole validator on it.\n"
          "  --instances N     instances, each with 2 embedded tests (default 10000)\n"
          "  --events M        corpus events (default 100000)\n"
          "  --keep DIR        write the workspace to DIR and keep it\n"
          "                    (default: a temporary directory, removed afterwards)\n"
          "  --seed K          random seed (default 1)\n"
          "  --json            print one JSON object instead of a table\n"
          "\n"
          "Exit: 0 done; 1 the interpreter and the naive loop disagree, or the\n"
          "validator rejected the synthetic content; 2 usage or I/O error.\n",
          f);
}

static void print_grouped(FILE *f, uint64_t v)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    size_t n = strlen(tmp);
    for (size_t i = 0; i < n; i++) {
        fputc(tmp[i], f);
        if ((n - i - 1) % 3 == 0 && i + 1 < n)
            fputc(',', f);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static uint32_t percentile(const uint32_t *sorted, uint64_t n, double p)
{
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

/* ---- the naive baseline ------------------------------------------------ */

typedef struct naive_crit {
    const rf_crit *c;
    pcre2_code *re; /* string criteria */
} naive_crit;

typedef struct naive {
    uint32_t ninst;
    uint32_t *first; /* criteria of instance k: crits[first[k] .. first[k+1]) */
    naive_crit *crits;
    pcre2_match_data *md;
} naive;

static void re_literal(rf_buf *b, const char *s, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c >= 0x80;
        if (!plain)
            rf_buf_append(b, "\\", 1);
        rf_buf_append(b, &s[i], 1);
    }
}

/* The PCRE2 form of a string criterion (see the comment at the top). */
static void naive_pattern(rf_buf *b, const rf_crit *c)
{
    const rf_value *v = c->nvals ? &c->vals[0] : NULL;
    switch (c->kind) {
    case RF_CRIT_EQUALS:
        rf_buf_append(b, "\\A", 2);
        if (v)
            re_literal(b, v->s, v->len);
        rf_buf_append(b, "\\z", 2);
        break;
    case RF_CRIT_PREFIX:
        rf_buf_append(b, "\\A", 2);
        if (v)
            re_literal(b, v->s, v->len);
        break;
    case RF_CRIT_SUFFIX:
        if (v)
            re_literal(b, v->s, v->len);
        rf_buf_append(b, "\\z", 2);
        break;
    case RF_CRIT_CONTAINS:
        if (v)
            re_literal(b, v->s, v->len);
        break;
    case RF_CRIT_GLOB:
        rf_buf_append(b, "\\A", 2);
        for (uint32_t i = 0; v && i < v->len; i++) {
            if (v->s[i] == '*')
                rf_buf_append(b, ".*", 2);
            else if (v->s[i] == '?')
                rf_buf_append(b, ".", 1);
            else
                re_literal(b, &v->s[i], 1);
        }
        rf_buf_append(b, "\\z", 2);
        break;
    case RF_CRIT_ONE_OF:
        rf_buf_append(b, "\\A(?:", 5);
        for (uint32_t i = 0; i < c->nvals; i++) {
            if (i)
                rf_buf_append(b, "|", 1);
            re_literal(b, c->vals[i].s, c->vals[i].len);
        }
        rf_buf_append(b, ")\\z", 3);
        break;
    case RF_CRIT_REGEX:
        if (v)
            rf_buf_append(b, v->s, v->len);
        break;
    default:
        break;
    }
}

static void naive_free(naive *nv)
{
    if (!nv)
        return;
    if (nv->crits && nv->first)
        for (uint32_t i = 0; i < nv->first[nv->ninst]; i++)
            pcre2_code_free(nv->crits[i].re);
    free(nv->crits);
    free(nv->first);
    pcre2_match_data_free(nv->md);
    memset(nv, 0, sizeof(*nv));
}

/* Compile every string criterion of ch. The naive loop borrows ch. */
static int naive_build(naive *nv, const rf_channel *ch)
{
    memset(nv, 0, sizeof(*nv));
    uint64_t total = 0;
    for (uint32_t k = 0; k < ch->ninstances; k++)
        total += ch->instances[k].ncrits;
    nv->ninst = ch->ninstances;
    nv->first = calloc((size_t)ch->ninstances + 1, sizeof(uint32_t));
    nv->crits = calloc(total ? total : 1, sizeof(naive_crit));
    nv->md = pcre2_match_data_create(4, NULL);
    if (!nv->first || !nv->crits || !nv->md) {
        fprintf(stderr, "ringfence bench: out of memory\n");
        goto fail;
    }
    rf_buf pat;
    rf_buf_init(&pat);
    uint32_t j = 0;
    for (uint32_t k = 0; k < ch->ninstances; k++) {
        const rf_instance *in = &ch->instances[k];
        nv->first[k] = j;
        for (uint32_t i = 0; i < in->ncrits; i++, j++) {
            const rf_crit *c = &in->crits[i];
            nv->crits[j].c = c;
            nv->first[k + 1] = j + 1; /* keeps naive_free exact on failure */
            if (c->vtype != RF_VAL_STRING)
                continue;
            pat.len = 0;
            naive_pattern(&pat, c);
            if (pat.oom) {
                fprintf(stderr, "ringfence bench: out of memory\n");
                rf_buf_free(&pat);
                goto fail;
            }
            uint32_t opts = 0;
            if (c->flags & RF_CRIT_NOCASE)
                opts |= PCRE2_CASELESS;
            if (c->kind == RF_CRIT_GLOB)
                opts |= PCRE2_DOTALL;
            int ecode = 0;
            PCRE2_SIZE eoff = 0;
            nv->crits[j].re = pcre2_compile((PCRE2_SPTR)(pat.data ? (char *)pat.data : ""),
                                            pat.len, opts, &ecode, &eoff, NULL);
            if (!nv->crits[j].re) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(ecode, msg, sizeof(msg));
                fprintf(stderr, "ringfence bench: instance %s: PCRE2 cannot compile "
                                "/%s/: %s\n", in->id, pat.data ? (char *)pat.data : "",
                        (char *)msg);
                rf_buf_free(&pat);
                goto fail;
            }
        }
        nv->first[k + 1] = j;
    }
    rf_buf_free(&pat);
    return 1;
fail:
    naive_free(nv);
    return 0;
}

static int naive_crit_match(const naive *nv, const naive_crit *nc, const rf_input *in,
                            uint32_t ninputs)
{
    const rf_crit *c = nc->c;
    if (c->field >= ninputs)
        return 0;
    const rf_input *x = &in[c->field];
    if (x->type != c->vtype)
        return 0;
    if (c->vtype == RF_VAL_STRING)
        return pcre2_match(nc->re, (PCRE2_SPTR)x->s, x->len, 0, 0, nv->md, NULL) >= 0;
    switch (c->kind) {
    case RF_CRIT_EQUALS:
        return c->nvals && x->i == c->vals[0].i;
    case RF_CRIT_ONE_OF:
        for (uint32_t i = 0; i < c->nvals; i++)
            if (x->i == c->vals[i].i)
                return 1;
        return 0;
    case RF_CRIT_RANGE:
        return c->nvals == 2 && x->i >= c->vals[0].i && x->i <= c->vals[1].i;
    default:
        return 0;
    }
}

/* Matching instance indices, increasing, like rf_interp_eval. */
static uint32_t naive_eval(const naive *nv, const rf_input *in, uint32_t ninputs,
                           uint32_t *matches, uint32_t cap)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < nv->ninst; k++) {
        uint32_t i = nv->first[k];
        for (; i < nv->first[k + 1]; i++)
            if (!naive_crit_match(nv, &nv->crits[i], in, ninputs))
                break;
        if (i == nv->first[k + 1]) {
            if (n < cap)
                matches[n] = k;
            n++;
        }
    }
    return n;
}

/*
 * Work the counting design cannot avoid: how many criteria an event
 * satisfies (each is one counter bump in the interpreter) and how many
 * instances it touches. No short-circuit, so slow; run on a few events.
 */
static void naive_count_hits(const naive *nv, const rf_input *in, uint32_t ninputs,
                             uint64_t *crits, uint64_t *str_crits, uint64_t *insts)
{
    for (uint32_t k = 0; k < nv->ninst; k++) {
        uint32_t h = 0;
        for (uint32_t i = nv->first[k]; i < nv->first[k + 1]; i++) {
            int m = naive_crit_match(nv, &nv->crits[i], in, ninputs);
            h += (uint32_t)m;
            *str_crits += (uint64_t)(m && nv->crits[i].c->vtype == RF_VAL_STRING);
        }
        *crits += h;
        *insts += h != 0;
    }
}

#define BENCH_HIT_SAMPLE 500u /* events sampled for naive_count_hits */

/* ---- bench interp ------------------------------------------------------ */

typedef struct interp_opts {
    uint32_t instances;
    uint64_t events;
    uint64_t naive_events;
    int naive_set;
    uint64_t seed;
    int json;
} interp_opts;

typedef struct interp_result {
    uint64_t crits, str_crits, regex_crits, nocase_crits;
    size_t channel_bytes;
    double gen_s, load_s, build_s, naive_build_s;
    size_t interp_mem;
    uint64_t rss_after_build, rss_peak;
    double eval_s, eval_cpu_s, build_cpu_s;
    uint64_t matched_events, total_matches, constructed, missed_targets, eval_errors;
    uint32_t p50, p99, p999, pmax;
    uint32_t mp50, mp99, bp50, bp99; /* built-to-match events; background events */
    double lat_mean;
    uint32_t timer_p50, timer_p99;
    uint64_t naive_n, naive_mismatches;
    uint64_t hit_sample, hit_crits, hit_str_crits, hit_insts;
    double naive_s;
    uint32_t first_mismatch_event;
} interp_result;

/* Median and p99 of back-to-back clock_gettime pairs: what a timed empty
 * region costs, included in every per-event latency. */
static void timer_overhead(uint32_t *p50, uint32_t *p99)
{
    enum { N = 200000 };
    uint32_t *d = malloc(N * sizeof(uint32_t));
    if (!d) {
        *p50 = *p99 = 0;
        return;
    }
    for (int i = 0; i < N; i++) {
        uint64_t a = now_ns();
        uint64_t b = now_ns();
        d[i] = (uint32_t)(b - a);
    }
    qsort(d, N, sizeof(uint32_t), cmp_u32);
    *p50 = percentile(d, N, 50);
    *p99 = percentile(d, N, 99);
    free(d);
}

static int contains_u32(const uint32_t *a, uint32_t n, uint32_t v)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i] == v)
            return 1;
    return 0;
}

static void print_ms_or_s(FILE *f, double s)
{
    if (s < 1.0)
        fprintf(f, "%.1f ms", s * 1e3);
    else
        fprintf(f, "%.2f s", s);
}

static void interp_print_table(const interp_opts *o, const interp_result *r)
{
    double eps = r->eval_s > 0 ? (double)o->events / r->eval_s : 0;
    double neps = r->naive_s > 0 ? (double)r->naive_n / r->naive_s : 0;
    printf("ringfence bench interp: %u instances, %llu events, seed %llu, 1 thread, %ld CPUs online\n\n",
           o->instances, (unsigned long long)o->events, (unsigned long long)o->seed,
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("  %-26s %llu criteria (%llu string, %llu regex, %llu nocase); file %zu bytes\n",
           "channel", (unsigned long long)r->crits, (unsigned long long)r->str_crits,
           (unsigned long long)r->regex_crits, (unsigned long long)r->nocase_crits,
           r->channel_bytes);
    printf("  %-26s ", "generate (not timed)");
    print_ms_or_s(stdout, r->gen_s);
    printf("\n  %-26s ", "write + read back");
    print_ms_or_s(stdout, r->load_s);
    printf("\n\n  %-26s %-26s %-16s %s\n", "figure", "measured", "target", "");
    printf("  %-26s ", "interpreter build");
    char m[64];
    snprintf(m, sizeof(m), "%.3f s (CPU %.3f s)", r->build_s, r->build_cpu_s);
    printf("%-26s %-16s %s\n", m, "<= 3 s", r->build_s <= 3.0 ? "met" : "MISSED");
    snprintf(m, sizeof(m), "%.1f MiB", (double)r->interp_mem / 1048576.0);
    printf("  %-26s %-26s %-16s %s\n", "interpreter memory", m, "<= 256 MiB",
           r->interp_mem <= 256u * 1048576u ? "met" : "MISSED");
    printf("  %-26s ", "throughput (1 thread)");
    char t[64];
    snprintf(t, sizeof(t), "%.0f events/s", eps);
    printf("%-26s %-16s %s\n", t, ">= 1,000,000/s", eps >= 1e6 ? "met" : "MISSED");
    snprintf(t, sizeof(t), "%.0f events/CPU-s", r->eval_cpu_s > 0 ? (double)o->events / r->eval_cpu_s : 0);
    printf("  %-26s %-26s (thread CPU time: not counting waits for a core)\n", "", t);
    snprintf(m, sizeof(m), "%.2f us", r->p50 / 1000.0);
    printf("  %-26s %-26s\n", "latency p50", m);
    snprintf(m, sizeof(m), "%.2f us", r->p99 / 1000.0);
    printf("  %-26s %-26s %-16s %s\n", "latency p99", m, "<= 5 us",
           r->p99 <= 5000 ? "met" : "MISSED");
    snprintf(m, sizeof(m), "%.2f us", r->p999 / 1000.0);
    printf("  %-26s %-26s\n", "latency p99.9", m);
    snprintf(m, sizeof(m), "%.2f us", r->pmax / 1000.0);
    printf("  %-26s %-26s\n", "latency max", m);
    snprintf(m, sizeof(m), "%.2f us", r->lat_mean / 1000.0);
    printf("  %-26s %-26s\n", "latency mean", m);
    snprintf(m, sizeof(m), "%.2f / %.2f us", r->bp50 / 1000.0, r->bp99 / 1000.0);
    printf("  %-26s %-26s\n", "  background p50 / p99", m);
    snprintf(m, sizeof(m), "%.2f / %.2f us", r->mp50 / 1000.0, r->mp99 / 1000.0);
    printf("  %-26s %-26s\n", "  built-to-match p50 / p99", m);
    snprintf(m, sizeof(m), "%u ns (p99 %u ns)", r->timer_p50, r->timer_p99);
    printf("  %-26s %-26s (included in the latencies above)\n", "timer overhead", m);
    snprintf(m, sizeof(m), "%.1f MiB", (double)r->rss_after_build / 1048576.0);
    printf("  %-26s %-26s\n", "peak RSS after build", m);
    snprintf(m, sizeof(m), "%.1f MiB", (double)r->rss_peak / 1048576.0);
    printf("  %-26s %-26s (incl. event batches, naive loop)\n", "peak RSS at end", m);
    printf("\n  %-26s ", "matching events");
    print_grouped(stdout, r->matched_events);
    printf(" of ");
    print_grouped(stdout, o->events);
    printf(" (%.3f%%), ", o->events ? 100.0 * (double)r->matched_events / (double)o->events : 0);
    print_grouped(stdout, r->constructed);
    printf(" built to match\n");
    printf("  %-26s %llu\n", "built-to-match missed", (unsigned long long)r->missed_targets);
    printf("  %-26s %llu\n", "evaluation errors", (unsigned long long)r->eval_errors);
    if (r->naive_n) {
        printf("\n  %-26s %.0f events/s on the first %llu events (PCRE2, no JIT)\n",
               "naive per-instance loop", neps, (unsigned long long)r->naive_n);
        printf("  %-26s %.0fx\n", "speed-up", neps > 0 ? eps / neps : 0);
        printf("  %-26s %llu events compared, %llu mismatches\n", "cross-check",
               (unsigned long long)r->naive_n, (unsigned long long)r->naive_mismatches);
        if (r->hit_sample)
            printf("  %-26s %.0f criteria satisfied (%.0f of them on strings), %.0f instances "
                   "touched (mean of %llu events)\n",
                   "work per event", (double)r->hit_crits / (double)r->hit_sample,
                   (double)r->hit_str_crits / (double)r->hit_sample,
                   (double)r->hit_insts / (double)r->hit_sample,
                   (unsigned long long)r->hit_sample);
    } else {
        printf("\n  %-26s skipped (--naive-events 0)\n", "naive per-instance loop");
    }
}

static int interp_print_json(const interp_opts *o, const interp_result *r)
{
    double eps = r->eval_s > 0 ? (double)o->events / r->eval_s : 0;
    double neps = r->naive_s > 0 ? (double)r->naive_n / r->naive_s : 0;
    json_t *j = json_object();
    json_t *lat = json_object();
    json_t *nv = json_object();
    if (!j || !lat || !nv) {
        json_decref(j);
        json_decref(lat);
        json_decref(nv);
        return 0;
    }
    json_object_set_new(j, "bench", json_string("interp"));
    json_object_set_new(j, "instances", json_integer(o->instances));
    json_object_set_new(j, "events", json_integer((json_int_t)o->events));
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "cpus_online", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_set_new(j, "criteria", json_integer((json_int_t)r->crits));
    json_object_set_new(j, "string_criteria", json_integer((json_int_t)r->str_crits));
    json_object_set_new(j, "regex_criteria", json_integer((json_int_t)r->regex_crits));
    json_object_set_new(j, "nocase_criteria", json_integer((json_int_t)r->nocase_crits));
    json_object_set_new(j, "channel_bytes", json_integer((json_int_t)r->channel_bytes));
    json_object_set_new(j, "generate_s", json_real(r->gen_s));
    json_object_set_new(j, "write_read_s", json_real(r->load_s));
    json_object_set_new(j, "build_s", json_real(r->build_s));
    json_object_set_new(j, "build_cpu_s", json_real(r->build_cpu_s));
    json_object_set_new(j, "interp_memory_bytes", json_integer((json_int_t)r->interp_mem));
    json_object_set_new(j, "peak_rss_after_build_bytes", json_integer((json_int_t)r->rss_after_build));
    json_object_set_new(j, "peak_rss_bytes", json_integer((json_int_t)r->rss_peak));
    json_object_set_new(j, "eval_s", json_real(r->eval_s));
    json_object_set_new(j, "events_per_s", json_real(eps));
    json_object_set_new(j, "eval_cpu_s", json_real(r->eval_cpu_s));
    json_object_set_new(j, "events_per_cpu_s",
                        json_real(r->eval_cpu_s > 0 ? (double)o->events / r->eval_cpu_s : 0));
    json_object_set_new(lat, "p50", json_integer(r->p50));
    json_object_set_new(lat, "p99", json_integer(r->p99));
    json_object_set_new(lat, "p99_9", json_integer(r->p999));
    json_object_set_new(lat, "max", json_integer(r->pmax));
    json_object_set_new(lat, "mean", json_real(r->lat_mean));
    json_object_set_new(lat, "background_p50", json_integer(r->bp50));
    json_object_set_new(lat, "background_p99", json_integer(r->bp99));
    json_object_set_new(lat, "matching_p50", json_integer(r->mp50));
    json_object_set_new(lat, "matching_p99", json_integer(r->mp99));
    json_object_set_new(lat, "timer_overhead_p50", json_integer(r->timer_p50));
    json_object_set_new(lat, "timer_overhead_p99", json_integer(r->timer_p99));
    json_object_set_new(j, "latency_ns", lat);
    json_object_set_new(j, "matched_events", json_integer((json_int_t)r->matched_events));
    json_object_set_new(j, "match_rate", json_real(o->events ? (double)r->matched_events / (double)o->events : 0));
    json_object_set_new(j, "total_matches", json_integer((json_int_t)r->total_matches));
    json_object_set_new(j, "constructed_matching_events", json_integer((json_int_t)r->constructed));
    json_object_set_new(j, "constructed_missed", json_integer((json_int_t)r->missed_targets));
    json_object_set_new(j, "eval_errors", json_integer((json_int_t)r->eval_errors));
    json_object_set_new(nv, "events", json_integer((json_int_t)r->naive_n));
    json_object_set_new(nv, "engine", json_string("pcre2 (no JIT)"));
    json_object_set_new(nv, "build_s", json_real(r->naive_build_s));
    json_object_set_new(nv, "events_per_s", json_real(neps));
    json_object_set_new(nv, "speedup", json_real(neps > 0 ? eps / neps : 0));
    json_object_set_new(nv, "mismatches", json_integer((json_int_t)r->naive_mismatches));
    json_object_set_new(nv, "hit_sample_events", json_integer((json_int_t)r->hit_sample));
    json_object_set_new(nv, "criteria_satisfied_per_event",
                        json_real(r->hit_sample ? (double)r->hit_crits / (double)r->hit_sample : 0));
    json_object_set_new(nv, "string_criteria_satisfied_per_event",
                        json_real(r->hit_sample ? (double)r->hit_str_crits / (double)r->hit_sample : 0));
    json_object_set_new(nv, "instances_touched_per_event",
                        json_real(r->hit_sample ? (double)r->hit_insts / (double)r->hit_sample : 0));
    json_object_set_new(j, "naive", nv);
    char *s = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (!s)
        return 0;
    printf("%s\n", s);
    free(s);
    return 1;
}

static void count_crits(const rf_channel *ch, interp_result *r)
{
    for (uint32_t k = 0; k < ch->ninstances; k++)
        for (uint32_t i = 0; i < ch->instances[k].ncrits; i++) {
            const rf_crit *c = &ch->instances[k].crits[i];
            r->crits++;
            r->str_crits += c->vtype == RF_VAL_STRING;
            r->regex_crits += c->kind == RF_CRIT_REGEX;
            r->nocase_crits += (c->flags & RF_CRIT_NOCASE) != 0;
        }
}

static void report_mismatch(uint64_t ev, const uint32_t *a, uint32_t na,
                            const uint32_t *b, uint32_t nb, const rf_interp *ip)
{
    fprintf(stderr, "ringfence bench: MISMATCH on event %llu: interpreter %u match(es)",
            (unsigned long long)ev, na);
    for (uint32_t i = 0; i < na && i < 5; i++)
        fprintf(stderr, " %s", rf_interp_instance_id(ip, a[i]));
    fprintf(stderr, "; naive loop %u match(es)", nb);
    for (uint32_t i = 0; i < nb && i < 5; i++)
        fprintf(stderr, " %s", rf_interp_instance_id(ip, b[i]));
    fputc('\n', stderr);
}

static int bench_interp(const interp_opts *o)
{
    int rc = RF_EXIT_USAGE;
    rf_err err;
    rf_err_clear(&err);
    interp_result r;
    memset(&r, 0, sizeof(r));
    rf_workspace *ws = NULL;
    rf_channel *src = NULL, *ch = NULL;
    uint8_t *bytes = NULL;
    size_t nbytes = 0;
    rf_interp *ip = NULL;
    rf_interp_scratch *scr = NULL;
    uint32_t *lat = NULL, *mlat = NULL, *m1 = NULL, *m2 = NULL;
    uint64_t nmlat = 0, nblat = 0;
    naive nv;
    memset(&nv, 0, sizeof(nv));
    synth_events ev;
    synth_events_init(&ev);

    progress("generating content", 0, 0);
    uint64_t t0 = now_ns();
    if (synth_workspace(&ws, &err) != RF_OK) {
        progress_done();
        print_err("synthetic workspace", &err);
        goto out;
    }
    rf_rc e = synth_channel(o->instances, o->seed, &src);
    if (e != RF_OK) {
        progress_done();
        fprintf(stderr, "ringfence bench: generating the channel: %s\n", rf_strerror(e));
        goto out;
    }
    r.gen_s = (double)(now_ns() - t0) / 1e9;

    /* The real load path: bytes, then the one reader. */
    progress("writing and reading the channel", 0, 0);
    t0 = now_ns();
    if (rf_channel_write(src, &bytes, &nbytes, &err) != RF_OK) {
        progress_done();
        print_err("rf_channel_write", &err);
        goto out;
    }
    if (rf_channel_read(bytes, nbytes, "synthetic.rfc", &ch, &err) != RF_OK) {
        progress_done();
        print_err("rf_channel_read", &err);
        goto out;
    }
    r.load_s = (double)(now_ns() - t0) / 1e9;
    r.channel_bytes = nbytes;
    count_crits(ch, &r);

    const rf_sensor_manifest *man = rf_workspace_find_sensor(ws, SYNTH_SENSOR_20);
    if (!man) {
        progress_done();
        fprintf(stderr, "ringfence bench: sensor %s missing from the synthetic workspace\n",
                SYNTH_SENSOR_20);
        goto out;
    }
    progress("building the interpreter", 0, 0);
    uint64_t bc0 = cpu_ns();
    t0 = now_ns();
    if (rf_interp_build(ch, man, &ip, &err) != RF_OK) {
        progress_done();
        print_err("rf_interp_build", &err);
        rc = RF_EXIT_REJECTED;
        goto out;
    }
    r.build_s = (double)(now_ns() - t0) / 1e9;
    r.build_cpu_s = (double)(cpu_ns() - bc0) / 1e9;
    r.interp_mem = rf_interp_memory(ip);
    if (rf_interp_scratch_new(ip, &scr) != RF_OK) {
        progress_done();
        fprintf(stderr, "ringfence bench: rf_interp_scratch_new failed\n");
        goto out;
    }
    r.rss_after_build = peak_rss_bytes();

    r.naive_n = o->naive_set ? o->naive_events
                             : (o->events < BENCH_NAIVE_DEFAULT ? o->events : BENCH_NAIVE_DEFAULT);
    if (r.naive_n > o->events)
        r.naive_n = o->events;
    if (r.naive_n) {
        progress("compiling the naive PCRE2 baseline", 0, 0);
        t0 = now_ns();
        if (!naive_build(&nv, ch))
            goto out;
        r.naive_build_s = (double)(now_ns() - t0) / 1e9;
    }

    uint32_t cap = ch->ninstances;
    lat = malloc(o->events * sizeof(uint32_t));
    mlat = malloc(o->events * sizeof(uint32_t)); /* split: [matching..., ...background] */
    m1 = malloc((size_t)cap * sizeof(uint32_t));
    m2 = malloc((size_t)cap * sizeof(uint32_t));
    if (!lat || !mlat || !m1 || !m2) {
        progress_done();
        fprintf(stderr, "ringfence bench: out of memory for %llu latencies\n",
                (unsigned long long)o->events);
        goto out;
    }
    timer_overhead(&r.timer_p50, &r.timer_p99);

    rf_rng erng;
    rf_rng_seed(&erng, o->seed ^ 0x5eed5eed5eedull);
    uint64_t eval_ns = 0, eval_cpu = 0, naive_ns = 0, lat_sum = 0;
    r.first_mismatch_event = UINT32_MAX;
    for (uint64_t done = 0; done < o->events;) {
        uint32_t n = (uint32_t)(o->events - done < BENCH_BATCH ? o->events - done : BENCH_BATCH);
        progress("evaluating", done, o->events);
        if (synth_events_fill(&ev, &erng, src, n, SYNTH_CRIT_FIELDS, BENCH_MATCH_PPM) != RF_OK) {
            progress_done();
            fprintf(stderr, "ringfence bench: out of memory generating events\n");
            goto out;
        }
        const rf_input *in = ev.inputs;
        const uint32_t ni = ev.ninputs;

        /* Throughput: the whole batch under one pair of clock reads. */
        uint32_t nm = 0;
        uint64_t matched = 0, total = 0, errors = 0;
        uint64_t ac = cpu_ns();
        uint64_t a = now_ns();
        for (uint32_t i = 0; i < n; i++) {
            rf_rc x = rf_interp_eval(ip, scr, in + (size_t)i * ni, ni, m1, cap, &nm);
            errors += x != RF_OK;
            matched += nm != 0;
            total += nm;
        }
        eval_ns += now_ns() - a;
        eval_cpu += cpu_ns() - ac;
        r.matched_events += matched;
        r.total_matches += total;
        r.eval_errors += errors;

        /* Latency: each event timed alone; then untimed checks. */
        for (uint32_t i = 0; i < n; i++) {
            uint64_t b0 = now_ns();
            rf_rc x = rf_interp_eval(ip, scr, in + (size_t)i * ni, ni, m1, cap, &nm);
            uint64_t b1 = now_ns();
            uint64_t d = b1 - b0;
            lat[done + i] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
            lat_sum += d;
            if (ev.target[i] != UINT32_MAX)
                mlat[nmlat++] = lat[done + i];
            else
                mlat[o->events - ++nblat] = lat[done + i];
            if (ev.target[i] != UINT32_MAX) {
                r.constructed++;
                if (x != RF_OK || !contains_u32(m1, nm < cap ? nm : cap, ev.target[i])) {
                    if (r.missed_targets++ < 5)
                        fprintf(stderr, "ringfence bench: event %llu was built to match %s "
                                        "but the interpreter did not report it\n",
                                (unsigned long long)(done + i),
                                rf_interp_instance_id(ip, ev.target[i]));
                }
            }
        }
        done += n;
    }

    /*
     * The naive loop, after all timing: interleaving it with the timed loops
     * would evict the interpreter's state from the caches and inflate its
     * latencies. The same seed regenerates the same first events.
     */
    rf_rng_seed(&erng, o->seed ^ 0x5eed5eed5eedull);
    for (uint64_t nd = 0; nd < r.naive_n;) {
        uint32_t nb = (uint32_t)(o->events - nd < BENCH_BATCH ? o->events - nd : BENCH_BATCH);
        progress("naive loop", nd, r.naive_n);
        if (synth_events_fill(&ev, &erng, src, nb, SYNTH_CRIT_FIELDS, BENCH_MATCH_PPM) != RF_OK) {
            progress_done();
            fprintf(stderr, "ringfence bench: out of memory generating events\n");
            goto out;
        }
        const rf_input *nin = ev.inputs;
        const uint32_t nni = ev.ninputs;
        for (uint32_t i = 0; i < nb && nd + i < r.naive_n; i++) {
            uint32_t nm2 = 0;
            rf_rc x = rf_interp_eval(ip, scr, nin + (size_t)i * nni, nni, m1, cap, &nm2);
            uint64_t c0 = now_ns();
            uint32_t nn = naive_eval(&nv, nin + (size_t)i * nni, nni, m2, cap);
            naive_ns += now_ns() - c0;
            uint32_t nw = nm2 < cap ? nm2 : cap;
            if (x != RF_OK || nn != nm2 || memcmp(m1, m2, (size_t)nw * sizeof(uint32_t)) != 0) {
                if (r.naive_mismatches++ < 5) {
                    progress_done();
                    report_mismatch(nd + i, m1, nw, m2, nn < cap ? nn : cap, ip);
                }
            }
            if (nd + i < BENCH_HIT_SAMPLE) {
                naive_count_hits(&nv, nin + (size_t)i * nni, nni, &r.hit_crits, &r.hit_str_crits,
                                 &r.hit_insts);
                r.hit_sample++;
            }
        }
        nd += nb;
    }
    progress_done();
    r.eval_s = (double)eval_ns / 1e9;
    r.eval_cpu_s = (double)eval_cpu / 1e9;
    r.naive_s = (double)naive_ns / 1e9;
    r.lat_mean = o->events ? (double)lat_sum / (double)o->events : 0;
    qsort(lat, o->events, sizeof(uint32_t), cmp_u32);
    r.p50 = percentile(lat, o->events, 50);
    r.p99 = percentile(lat, o->events, 99);
    r.p999 = percentile(lat, o->events, 99.9);
    r.pmax = o->events ? lat[o->events - 1] : 0;
    qsort(mlat, nmlat, sizeof(uint32_t), cmp_u32);
    qsort(mlat + nmlat, nblat, sizeof(uint32_t), cmp_u32);
    r.mp50 = percentile(mlat, nmlat, 50);
    r.mp99 = percentile(mlat, nmlat, 99);
    r.bp50 = percentile(mlat + nmlat, nblat, 50);
    r.bp99 = percentile(mlat + nmlat, nblat, 99);
    r.rss_peak = peak_rss_bytes();

    if (o->json) {
        if (!interp_print_json(o, &r)) {
            fprintf(stderr, "ringfence bench: out of memory writing JSON\n");
            goto out;
        }
    } else {
        interp_print_table(o, &r);
    }
    rc = (r.naive_mismatches || r.missed_targets || r.eval_errors) ? RF_EXIT_REJECTED : RF_EXIT_OK;
    if (rc != RF_EXIT_OK)
        fprintf(stderr, "ringfence bench: the interpreter disagrees with the naive loop or "
                        "with the generator (%llu mismatches, %llu missed, %llu errors)\n",
                (unsigned long long)r.naive_mismatches, (unsigned long long)r.missed_targets,
                (unsigned long long)r.eval_errors);
out:
    synth_events_free(&ev);
    free(lat);
    free(mlat);
    free(m1);
    free(m2);
    naive_free(&nv);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
    free(bytes);
    rf_channel_free(ch);
    rf_channel_free(src);
    rf_workspace_free(ws);
    return rc;
}

/* ---- bench validate ---------------------------------------------------- */

typedef struct validate_opts {
    uint32_t instances;
    uint64_t events;
    const char *keep;
    uint64_t seed;
    int json;
} validate_opts;

static int write_file(const char *dir, const char *rel, const void *buf, size_t len)
{
    char path[4096];
    rf_err err;
    rf_err_clear(&err);
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >= sizeof(path)) {
        fprintf(stderr, "ringfence bench: path too long: %s/%s\n", dir, rel);
        return 0;
    }
    if (rf_file_write_atomic(path, buf, len, 0644, &err) != RF_OK) {
        print_err("writing the workspace", &err);
        return 0;
    }
    return 1;
}

static int make_dir(const char *dir, const char *rel)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s%s%s", dir, rel ? "/" : "", rel ? rel : "") >=
        sizeof(path)) {
        fprintf(stderr, "ringfence bench: path too long: %s\n", dir);
        return 0;
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "ringfence bench: cannot create %s: %s\n", path, strerror(errno));
        return 0;
    }
    return 1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path);
    return unlink(path);
}

static void on_stage(void *ctx, rf_stage stage, const char *what)
{
    (void)ctx;
    if (!show_progress)
        return;
    fprintf(stderr, "\r\033[Kbench: validating: %s%s%s", rf_stage_name(stage),
            what ? ": " : "", what ? what : "");
    fflush(stderr);
}

/* Write the workspace: types, sensors, channel YAML, corpus. */
static int write_workspace(const char *dir, const validate_opts *o, size_t *chan_bytes,
                           size_t *corpus_bytes)
{
    int ok = 0;
    char *t = NULL, *s20 = NULL, *s21 = NULL;
    rf_channel *ch = NULL;
    rf_buf b;
    rf_buf_init(&b);
    synth_events ev;
    synth_events_init(&ev);

    if (!make_dir(dir, NULL) || !make_dir(dir, "types") || !make_dir(dir, "sensors") ||
        !make_dir(dir, "channels") || !make_dir(dir, "corpus"))
        goto out;
    t = synth_type_yaml();
    s20 = synth_sensor_yaml(SYNTH_SENSOR_20, SYNTH_CRIT_FIELDS);
    s21 = synth_sensor_yaml(SYNTH_SENSOR_21, SYNTH_NFIELDS);
    if (!t || !s20 || !s21)
        goto out_nomem;
    if (!write_file(dir, "types/" SYNTH_TYPE_NAME ".yaml", t, strlen(t)) ||
        !write_file(dir, "sensors/sensor-20.yaml", s20, strlen(s20)) ||
        !write_file(dir, "sensors/sensor-21.yaml", s21, strlen(s21)))
        goto out;

    progress("generating the channel", 0, 0);
    rf_rc e = synth_channel(o->instances, o->seed, &ch);
    if (e != RF_OK) {
        progress_done();
        fprintf(stderr, "ringfence bench: generating the channel: %s\n", rf_strerror(e));
        goto out;
    }
    synth_channel_yaml(ch, &b);
    if (b.oom)
        goto out_nomem;
    *chan_bytes = b.len;
    if (!write_file(dir, "channels/synthetic.yaml", b.data, b.len))
        goto out;
    b.len = 0;

    /* One event in ten comes from the 21-input sensor. */
    rf_rng erng;
    rf_rng_seed(&erng, o->seed ^ 0xc0de5eedull);
    enum { CORPUS_BATCH = 1000 };
    for (uint64_t done = 0, batch = 0; done < o->events; batch++) {
        uint32_t n = (uint32_t)(o->events - done < CORPUS_BATCH ? o->events - done : CORPUS_BATCH);
        int wide = batch % 10 == 9;
        uint32_t ni = wide ? SYNTH_NFIELDS : SYNTH_CRIT_FIELDS;
        progress("generating the corpus", done, o->events);
        if (synth_events_fill(&ev, &erng, ch, n, ni, BENCH_MATCH_PPM) != RF_OK)
            goto out_nomem;
        for (uint32_t i = 0; i < n; i++)
            synth_event_json(&b, ev.inputs + (size_t)i * ni, ni,
                             wide ? SYNTH_SENSOR_21 : SYNTH_SENSOR_20);
        if (b.oom)
            goto out_nomem;
        done += n;
    }
    *corpus_bytes = b.len;
    if (!write_file(dir, "corpus/corpus.jsonl", b.data ? (const void *)b.data : "", b.len))
        goto out;
    ok = 1;
    goto out;
out_nomem:
    fprintf(stderr, "ringfence bench: out of memory writing the workspace\n");
out:
    progress_done();
    synth_events_free(&ev);
    rf_buf_free(&b);
    rf_channel_free(ch);
    free(t);
    free(s20);
    free(s21);
    return ok;
}

static int bench_validate(const validate_opts *o)
{
    int rc = RF_EXIT_USAGE;
    char tmpl[4096];
    const char *dir = o->keep;
    int made_temp = 0;
    rf_workspace *ws = NULL;
    rf_report *rep = NULL;
    rf_err err;
    rf_err_clear(&err);
    size_t chan_bytes = 0, corpus_bytes = 0;

    if (!dir) {
        const char *tmp = getenv("TMPDIR");
        if ((size_t)snprintf(tmpl, sizeof(tmpl), "%s/ringfence-bench-XXXXXX",
                             tmp && *tmp ? tmp : "/tmp") >= sizeof(tmpl) ||
            !mkdtemp(tmpl)) {
            fprintf(stderr, "ringfence bench: cannot create a temporary directory: %s\n",
                    strerror(errno));
            return RF_EXIT_USAGE;
        }
        dir = tmpl;
        made_temp = 1;
    }

    uint64_t t0 = now_ns();
    if (!write_workspace(dir, o, &chan_bytes, &corpus_bytes))
        goto out;
    double write_s = (double)(now_ns() - t0) / 1e9;

    char chan_path[4200];
    if ((size_t)snprintf(chan_path, sizeof(chan_path), "%s/channels/synthetic.yaml", dir) >=
        sizeof(chan_path)) {
        fprintf(stderr, "ringfence bench: path too long: %s\n", dir);
        goto out;
    }
    t0 = now_ns();
    if (rf_workspace_load(dir, &ws, &err) != RF_OK) {
        print_err("loading the workspace", &err);
        goto out;
    }
    double load_s = (double)(now_ns() - t0) / 1e9;

    rf_validate_opts vo;
    rf_validate_opts_init(&vo);
    vo.progress = on_stage;
    double cpu0 = process_cpu_s();
    t0 = now_ns();
    if (rf_validate_path(ws, chan_path, &vo, &rep, &err) != RF_OK) {
        progress_done();
        print_err("rf_validate_path", &err);
        goto out;
    }
    double val_s = (double)(now_ns() - t0) / 1e9;
    double val_cpu_s = process_cpu_s() - cpu0;
    progress_done();
    int passed = rf_report_passed(rep);
    uint32_t nf = rf_report_nfindings(rep);

    if (o->json) {
        json_t *j = json_object();
        json_t *st = json_object();
        if (!j || !st) {
            json_decref(j);
            json_decref(st);
            fprintf(stderr, "ringfence bench: out of memory\n");
            goto out;
        }
        json_object_set_new(j, "bench", json_string("validate"));
        json_object_set_new(j, "instances", json_integer(o->instances));
        json_object_set_new(j, "corpus_events", json_integer((json_int_t)o->events));
        json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
        json_object_set_new(j, "cpus_online", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
        json_object_set_new(j, "channel_yaml_bytes", json_integer((json_int_t)chan_bytes));
        json_object_set_new(j, "corpus_bytes", json_integer((json_int_t)corpus_bytes));
        json_object_set_new(j, "write_workspace_s", json_real(write_s));
        json_object_set_new(j, "load_workspace_s", json_real(load_s));
        json_object_set_new(j, "validate_s", json_real(val_s));
        json_object_set_new(j, "validate_cpu_s", json_real(val_cpu_s));
        json_object_set_new(j, "peak_rss_bytes", json_integer((json_int_t)peak_rss_bytes()));
        json_object_set_new(j, "passed", json_boolean(passed));
        json_object_set_new(j, "findings", json_integer(nf));
        for (int s = 0; s < RF_STAGE_COUNT; s++) {
            json_t *x = json_object();
            const char *sum = rf_report_stage_summary(rep, (rf_stage)s);
            json_object_set_new(x, "status", json_string(rf_stage_status_name(
                                                 rf_report_stage_status(rep, (rf_stage)s))));
            json_object_set_new(x, "summary", json_string(sum ? sum : ""));
            json_object_set_new(st, rf_stage_name((rf_stage)s), x);
        }
        json_object_set_new(j, "stages", st);
        json_t *fa = json_array();
        for (uint32_t i = 0; fa && i < nf; i++) {
            rf_finding f;
            if (rf_report_finding(rep, i, &f) != RF_OK)
                break;
            json_t *x = json_object();
            json_object_set_new(x, "stage", json_string(rf_stage_name(f.stage)));
            json_object_set_new(x, "error", json_boolean(f.error));
            json_object_set_new(x, "message", json_string(f.message ? f.message : ""));
            if (f.instance)
                json_object_set_new(x, "instance", json_string(f.instance));
            json_array_append_new(fa, x);
        }
        json_object_set_new(j, "findings_list", fa);
        if (o->keep)
            json_object_set_new(j, "workspace", json_string(o->keep));
        char *s = json_dumps(j, JSON_INDENT(2));
        json_decref(j);
        if (!s) {
            fprintf(stderr, "ringfence bench: out of memory\n");
            goto out;
        }
        printf("%s\n", s);
        free(s);
    } else {
        printf("ringfence bench validate: %u instances (2 tests each), %llu corpus events, "
               "2 sensors (20 and 21 inputs), seed %llu\n\n",
               o->instances, (unsigned long long)o->events, (unsigned long long)o->seed);
        printf("  %-22s %zu bytes channel YAML, %zu bytes corpus, ", "workspace", chan_bytes,
               corpus_bytes);
        print_ms_or_s(stdout, write_s);
        printf(" to write%s%s\n", o->keep ? " to " : "", o->keep ? o->keep : "");
        printf("  %-22s ", "rf_workspace_load");
        print_ms_or_s(stdout, load_s);
        printf("\n\n  %-14s %-9s %s\n", "stage", "status", "summary");
        for (int s = 0; s < RF_STAGE_COUNT; s++) {
            const char *sum = rf_report_stage_summary(rep, (rf_stage)s);
            printf("  %-14s %-9s %s\n", rf_stage_name((rf_stage)s),
                   rf_stage_status_name(rf_report_stage_status(rep, (rf_stage)s)),
                   sum ? sum : "");
        }
        printf("\n  %-22s %s, %u finding(s)\n", "verdict", passed ? "PASSED" : "REJECTED", nf);
        printf("  %-22s %.2f s wall, %.2f s CPU incl. the execution child   (target <= 15 s: %s)\n",
               "rf_validate_path", val_s, val_cpu_s, val_s <= 15.0 ? "met" : "MISSED");
        printf("  %-22s %.1f MiB\n", "peak RSS (this process)",
               (double)peak_rss_bytes() / 1048576.0);
        for (uint32_t i = 0; i < nf && i < 20; i++) {
            rf_finding f;
            if (rf_report_finding(rep, i, &f) != RF_OK)
                break;
            printf("    [%s] %s%s%s\n", rf_stage_name(f.stage), f.error ? "error: " : "",
                   f.instance ? f.instance : "", f.instance ? ": " : "");
            printf("        %s\n", f.message ? f.message : "");
        }
    }
    rc = passed ? RF_EXIT_OK : RF_EXIT_REJECTED;
out:
    rf_report_free(rep);
    rf_workspace_free(ws);
    if (made_temp)
        nftw(tmpl, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

/* ---- entry ------------------------------------------------------------- */

int cmd_bench(int argc, char **argv, const char *workspace)
{
    (void)workspace; /* the benchmarks make their own workspace */
    show_progress = isatty(STDERR_FILENO);
    if (argc < 2) {
        usage(stderr);
        return RF_EXIT_USAGE;
    }
    const char *what = argv[1];
    if (!strcmp(what, "--help") || !strcmp(what, "-h") || !strcmp(what, "help")) {
        usage(stdout);
        return RF_EXIT_OK;
    }
    int is_interp = !strcmp(what, "interp");
    if (!is_interp && strcmp(what, "validate") != 0) {
        fprintf(stderr, "ringfence bench: unknown benchmark '%s' (interp or validate)\n", what);
        usage(stderr);
        return RF_EXIT_USAGE;
    }

    uint64_t instances = 10000, events = is_interp ? 1000000 : 100000, seed = 1;
    uint64_t naive_events = 0;
    int naive_set = 0, json = 0;
    const char *keep = NULL;
    for (int i = 2; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return RF_EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (opt_value(argc, argv, &i, "--instances", &v)) {
            if (!parse_u64_opt("--instances", v, 1, RF_MAX_INSTANCES, &instances))
                return RF_EXIT_USAGE;
        } else if (opt_value(argc, argv, &i, "--events", &v)) {
            /* Latencies are kept per event (4 bytes each): cap at 1e9. */
            if (!parse_u64_opt("--events", v, is_interp ? 1 : 0, 1000000000ull, &events))
                return RF_EXIT_USAGE;
        } else if (opt_value(argc, argv, &i, "--seed", &v)) {
            if (!parse_u64_opt("--seed", v, 0, UINT64_MAX, &seed))
                return RF_EXIT_USAGE;
        } else if (is_interp && opt_value(argc, argv, &i, "--naive-events", &v)) {
            if (!parse_u64_opt("--naive-events", v, 0, 1000000000ull, &naive_events))
                return RF_EXIT_USAGE;
            naive_set = 1;
        } else if (!is_interp && opt_value(argc, argv, &i, "--keep", &v)) {
            if (!v || !*v) {
                fprintf(stderr, "ringfence bench: --keep needs a directory\n");
                return RF_EXIT_USAGE;
            }
            keep = v;
        } else {
            fprintf(stderr, "ringfence bench %s: unknown option '%s' (see --help)\n", what,
                    argv[i]);
            return RF_EXIT_USAGE;
        }
    }

    if (is_interp) {
        interp_opts o = {.instances = (uint32_t)instances, .events = events,
                         .naive_events = naive_events, .naive_set = naive_set,
                         .seed = seed, .json = json};
        return bench_interp(&o);
    }
    validate_opts o = {.instances = (uint32_t)instances, .events = events, .keep = keep,
                       .seed = seed, .json = json};
    return bench_validate(&o);
}
