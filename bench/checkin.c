/*
 * checkin.c — bench-checkin, a load generator for ringfenced's agent path.
 *
 * It enrolls a fleet of fake hosts (or reuses one saved in a state file),
 * then keeps a fixed number of check-ins in flight for a while, hosts taken
 * round-robin, optionally capped at a rate, and prints what the server
 * sustained: check-ins per second and the latency distribution, with every
 * failure counted by HTTP status and by transport error. It drives all of
 * that from one thread with the libcurl multi interface (HTTP/1.1,
 * keep-alive, connections reused), so the client costs little next to the
 * server it measures on the same machine.
 *
 * It is a benchmark: it prints figures and never fails because the server
 * is slow. Exit 0 when the run completed and every request succeeded, 1 when
 * some request failed (the summary says how many and why), 2 for usage and
 * setup errors. It only ever talks to a loopback address, so a mistyped
 * --url cannot send load to another machine.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ringfence/limits.h"

/* ---- limits ----------------------------------------------------------------- */

/* Hosts in one run: about 100 bytes each in memory, 200 MB at the top, and
 * 20 times the 100,000 of the reference run. */
#define BENCH_MAX_HOSTS 2000000u
/* Requests in flight: one socket each, kept under the usual soft limit of
 * 1024 open files with room for the rest of the process. */
#define BENCH_MAX_CONCURRENCY 1000u
/* One run lasts at most a day. */
#define BENCH_MAX_DURATION_S 86400u
/* Sensor versions mixed at enrollment (--sensor) plus the ones found in a
 * state file. */
#define BENCH_MAX_SENSORS 64u
/* Latencies kept one by one for exact percentiles: 64 MB of samples. Past
 * that the log histogram (below 0.8% of relative error) answers. A build
 * may lower it (-DBENCH_MAX_SAMPLES=1000) to check the histogram's figures
 * against the exact ones. */
#ifndef BENCH_MAX_SAMPLES
#define BENCH_MAX_SAMPLES (16u * 1024u * 1024u)
#endif
/* A response body: the check-in answer is a few hundred bytes; assignments
 * for many channels stay far below this. */
#define BENCH_RESP_MAX (64u * 1024u)
/* A request body: the check-in body is about 300 bytes. */
#define BENCH_BODY_MAX 1024u
/* One request may take this long before it counts as a transport error. */
#define BENCH_REQ_TIMEOUT_MS 30000L
#define BENCH_CONNECT_TIMEOUT_MS 5000L
/* A state file line: id, a token of 67 characters, a sensor version. */
#define BENCH_STATE_LINE_MAX 256u
/* A token as the server issues it: "rf_" + 64 hex digits. */
#define BENCH_TOKEN_LEN 67u
/* The longest base URL we rebuild: scheme://[host]:port. */
#define BENCH_URL_MAX 512u

/* The log histogram: values under 128 us have a bucket each, every further
 * power of two is split into 64 buckets (relative error under 1/64 at the
 * bucket's low edge, under 0.8% at its middle). 2^32 us fits in 1728. */
#define HIST_SUB 64u
#define HIST_N (64u * 26u + 128u)

#define STATE_MAGIC "# bench-checkin state 1"

/* ---- the run's state ------------------------------------------------------------ */

typedef struct bhost {
    int64_t id;         /* 0: not enrolled */
    uint64_t checkins;  /* sent so far: drives the growing health counters */
    uint8_t sensor;     /* index into bench.sensors */
    char token[BENCH_TOKEN_LEN + 1];
} bhost;

typedef enum { JOB_ENROLL = 1, JOB_CHECKIN = 2 } job_kind;

typedef struct slot {
    CURL *easy;
    struct curl_slist *hdrs; /* owned; freed when the transfer ends */
    size_t host;             /* index into bench.hosts */
    size_t len;              /* bytes of resp used */
    int overflow;            /* the response did not fit resp */
    char errbuf[CURL_ERROR_SIZE];
    char body[BENCH_BODY_MAX];
    char resp[BENCH_RESP_MAX + 1];
} slot;

typedef struct stats {
    uint64_t ok, failed, bad_body;
    uint64_t status[600];
    uint64_t curl_err[128];
    uint64_t sec_ok, sec_err; /* this second, for the progress line */
    uint32_t *lat;            /* microseconds, one per answered request */
    size_t nlat, cap;
    uint64_t nobs;            /* answered requests, kept or not */
    uint64_t hist[HIST_N];
    uint64_t max_us;
    uint64_t connects; /* sockets opened: connection reuse shows as few */
    char first_failure[512];
} stats;

typedef struct bench {
    /* options */
    char base[BENCH_URL_MAX]; /* scheme://host:port, rebuilt from --url */
    const char *admin_token;
    const char *tenant;
    const char *state_path;
    size_t nhosts;
    unsigned duration_s;
    unsigned concurrency;
    double rate; /* check-ins/s, 0: uncapped */
    int json;
    const char *sensors[BENCH_MAX_SENSORS];
    size_t nsensors, nsensors_cli;
    char *sensor_store[BENCH_MAX_SENSORS]; /* owned copies of state-file sensors */

    /* hosts: nall entries, the first nhosts used by the load */
    bhost *hosts;
    size_t nall;
    size_t from_state;
    char enroll_token[BENCH_TOKEN_LEN + 1];

    /* transfers */
    CURLM *multi;
    slot *slots;
    size_t *free_slots;
    size_t nfree;
    stats *cur; /* the phase's figures, for on_open */

    /* enrollment */
    size_t enroll_next, enroll_end;
    uint64_t enrolled;
    double enroll_s;
    stats est;

    /* load */
    size_t rr; /* next host, round-robin */
    stats st;
    double load_s;
    int interrupted;
} bench;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench-checkin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- small parsers ------------------------------------------------------------------ */

/* A decimal number in lo..hi, nothing else in the string. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || *end || v < lo || v > hi)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* [A-Za-z0-9._-]{1,max-1}: the server's rule for sensor versions. */
static int word_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* [a-z0-9_-]{1,63}: the server's rule for tenant names (they go in a path). */
static int tenant_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= RF_NAME_MAX)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* "rf_" + 64 lowercase hex digits. */
static int token_ok(const char *s)
{
    if (strlen(s) != BENCH_TOKEN_LEN || strncmp(s, "rf_", 3) != 0)
        return 0;
    for (s += 3; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* The index of sensor version v in b->sensors, adding a copy when it is new;
 * -1 when the table is full. */
static int sensor_index(bench *b, const char *v)
{
    for (size_t i = 0; i < b->nsensors; i++)
        if (strcmp(b->sensors[i], v) == 0)
            return (int)i;
    if (b->nsensors == BENCH_MAX_SENSORS)
        return -1;
    size_t n = strlen(v);
    char *c = malloc(n + 1);
    if (!c)
        return -1;
    memcpy(c, v, n + 1);
    b->sensor_store[b->nsensors] = c;
    b->sensors[b->nsensors] = c;
    return (int)b->nsensors++;
}

/*
 * Check --url and rebuild it as scheme://host:port into b->base. Only http
 * and https, no user, path, query or fragment, and a host that can only be
 * this machine: 127.0.0.0/8 written as a dotted quad, localhost (which curl
 * answers itself, without DNS) or ::1. Returns 0, or -1 with a message.
 */
static int check_url(bench *b, const char *url)
{
    int rc = -1;
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *x = NULL;
    CURLU *u = curl_url();
    if (!u) {
        fail_msg("out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        fail_msg("--url %s: not a URL (try http://127.0.0.1:8080)", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") && strcmp(scheme, "https"))) {
        fail_msg("--url %s: only http:// and https:// are supported", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &x, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_QUERY, &x, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &x, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_ZONEID, &x, 0) == CURLUE_OK) {
        fail_msg("--url %s: give only scheme, host and port", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && strcmp(path, "/") &&
        strcmp(path, "")) {
        fail_msg("--url %s: give only scheme, host and port (the paths are /v1/...)", url);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        fail_msg("--url %s: no host", url);
        goto out;
    }
    int loop = strcasecmp(host, "localhost") == 0;
    unsigned char a[16];
    if (!loop && inet_pton(AF_INET, host, a) == 1)
        loop = a[0] == 127;
    size_t hl = strlen(host);
    if (!loop && hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        char in[64];
        if (hl - 2 < sizeof(in)) {
            memcpy(in, host + 1, hl - 2);
            in[hl - 2] = '\0';
            loop = inet_pton(AF_INET6, in, a) == 1 && memcmp(a, &in6addr_loopback, 16) == 0;
        }
    }
    if (!loop) {
        fail_msg("--url %s: refusing host '%s': bench-checkin only sends load to this machine "
                 "(127.x.x.x, localhost or [::1])",
                 url, host);
        goto out;
    }
    int n = snprintf(b->base, sizeof(b->base), "%s://%s:%s", scheme, host, port);
    if (n < 0 || (size_t)n >= sizeof(b->base)) {
        fail_msg("--url %s: too long", url);
        goto out;
    }
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(x);
    curl_url_cleanup(u);
    return rc;
}

/* ---- latency figures ------------------------------------------------------------------- */

static size_t hist_index(uint64_t v)
{
    if (v < 2 * HIST_SUB)
        return (size_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - 6u; /* v >> e is in 64..127 */
    size_t i = (size_t)HIST_SUB * e + (size_t)(v >> e);
    return i < HIST_N ? i : HIST_N - 1;
}

/* The middle of bucket i, in microseconds. */
static double hist_value(size_t i)
{
    if (i < 2 * HIST_SUB)
        return (double)i;
    size_t e = i / HIST_SUB - 1, m = i - HIST_SUB * e;
    double lo = (double)((uint64_t)m << e), hi = (double)((uint64_t)(m + 1) << e);
    return (lo + hi - 1) / 2;
}

static void record_latency(stats *st, curl_off_t us)
{
    uint64_t v = us < 0 ? 0 : (uint64_t)us;
    if (v > UINT32_MAX)
        v = UINT32_MAX;
    st->nobs++;
    st->hist[hist_index(v)]++;
    if (v > st->max_us)
        st->max_us = v;
    if (st->nlat == st->cap && st->cap < BENCH_MAX_SAMPLES) {
        size_t ncap = st->cap ? st->cap * 2 : 65536;
        if (ncap > BENCH_MAX_SAMPLES)
            ncap = BENCH_MAX_SAMPLES;
        uint32_t *n = realloc(st->lat, ncap * sizeof(*n));
        if (n) {
            st->lat = n;
            st->cap = ncap;
        }
    }
    if (st->nlat < st->cap)
        st->lat[st->nlat++] = (uint32_t)v;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

typedef struct pct {
    double p50, p90, p99, p999, max; /* milliseconds */
    int exact;
} pct;

/* Nearest rank: the smallest sample with at least p of them at or below. */
static size_t rank_of(double p, uint64_t n)
{
    double r = ceil(p * (double)n);
    if (r < 1)
        r = 1;
    if (r > (double)n)
        r = (double)n;
    return (size_t)r - 1;
}

static double hist_pct(const stats *st, double p)
{
    size_t want = rank_of(p, st->nobs);
    uint64_t cum = 0;
    for (size_t i = 0; i < HIST_N; i++) {
        cum += st->hist[i];
        if (cum > want)
            return hist_value(i);
    }
    return (double)st->max_us;
}

static void percentiles(stats *st, pct *out)
{
    memset(out, 0, sizeof(*out));
    if (st->nobs == 0)
        return;
    static const double ps[4] = {0.50, 0.90, 0.99, 0.999};
    double v[4];
    out->exact = st->nlat == st->nobs;
    if (out->exact) {
        qsort(st->lat, st->nlat, sizeof(*st->lat), cmp_u32);
        for (size_t i = 0; i < 4; i++)
            v[i] = st->lat[rank_of(ps[i], st->nlat)];
    } else {
        for (size_t i = 0; i < 4; i++)
            v[i] = hist_pct(st, ps[i]);
    }
    out->p50 = v[0] / 1000;
    out->p90 = v[1] / 1000;
    out->p99 = v[2] / 1000;
    out->p999 = v[3] / 1000;
    out->max = (double)st->max_us / 1000;
}

/* ---- HTTP ------------------------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    slot *s = user;
    size_t n = size * nmemb;
    size_t room = BENCH_RESP_MAX - s->len;
    if (n > room) {
        s->overflow = 1;
        n = room;
    }
    memcpy(s->resp + s->len, data, n);
    s->len += n;
    s->resp[s->len] = '\0';
    return size * nmemb;
}

/* Every socket curl opens is counted: with keep-alive working, a run opens
 * about one per transfer in flight. */
static curl_socket_t on_open(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
    bench *b = user;
    (void)purpose;
    if (b->cur)
        b->cur->connects++;
    return socket(a->family, a->socktype, a->protocol);
}

/* Options every transfer gets: no proxy (an http_proxy in the environment
 * must not carry the load elsewhere), no redirects, HTTP/1.1, bounded time. */
static int easy_common(bench *b, CURL *e, slot *s)
{
    CURLcode c = CURLE_OK;
#define SET(opt, val)                                                                             \
    do {                                                                                          \
        if (c == CURLE_OK)                                                                        \
            c = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_NOPROXY, "*");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, BENCH_REQ_TIMEOUT_MS);
    SET(CURLOPT_CONNECTTIMEOUT_MS, BENCH_CONNECT_TIMEOUT_MS);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, s);
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
    SET(CURLOPT_PRIVATE, s);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_open);
    SET(CURLOPT_OPENSOCKETDATA, b);
#undef SET
    return c == CURLE_OK ? 0 : -1;
}

/*
 * Prepare s for one request: METHOD base+path with a bearer token and, when
 * body is not NULL, that JSON body (copied into s). Returns 0 or -1.
 */
static int prepare(bench *b, slot *s, const char *method, const char *path, const char *token,
                   const char *body)
{
    char url[BENCH_URL_MAX + 128];
    int n = snprintf(url, sizeof(url), "%s%s", b->base, path);
    if (n < 0 || (size_t)n >= sizeof(url))
        return -1;
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    s->len = 0;
    s->overflow = 0;
    s->resp[0] = '\0';
    s->errbuf[0] = '\0';
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (h && token) {
        char auth[BENCH_TOKEN_LEN + 32];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        struct curl_slist *t = curl_slist_append(h, auth);
        if (!t) {
            curl_slist_free_all(h);
            h = NULL;
        }
    }
    if (h && body) {
        struct curl_slist *t = curl_slist_append(h, "Content-Type: application/json");
        if (!t) {
            curl_slist_free_all(h);
            h = NULL;
        }
    }
    if (!h)
        return -1;
    s->hdrs = h;
    CURLcode c = curl_easy_setopt(s->easy, CURLOPT_URL, url);
    if (!c)
        c = curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->hdrs);
    if (body) {
        size_t bl = strlen(body);
        if (bl >= sizeof(s->body))
            return -1;
        memcpy(s->body, body, bl + 1);
        if (!c)
            c = curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)bl);
        if (!c)
            c = curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    } else {
        if (!c)
            c = curl_easy_setopt(s->easy, CURLOPT_HTTPGET, 1L);
    }
    if (!c && strcmp(method, "GET") && strcmp(method, "POST"))
        c = curl_easy_setopt(s->easy, CURLOPT_CUSTOMREQUEST, method);
    return c == CURLE_OK ? 0 : -1;
}

/* The server's message in a JSON error body, else the body itself. */
static void error_text(const slot *s, char *out, size_t n)
{
    json_t *o = json_loadb(s->resp, s->len, 0, NULL);
    const char *m = o ? json_string_value(json_object_get(o, "error")) : NULL;
    snprintf(out, n, "%.300s", m ? m : s->resp);
    json_decref(o);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

/* The address curl reached is loopback (a second check, after --url's). */
static int reached_loopback(CURL *e)
{
    char *ip = NULL;
    if (curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip) != CURLE_OK || !ip)
        return 0;
    unsigned char a[16];
    if (inet_pton(AF_INET, ip, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, ip, a) == 1)
        return memcmp(a, &in6addr_loopback, 16) == 0;
    return 0;
}

/*
 * One blocking request for the setup steps, on slot s. *status is the HTTP
 * status; *out, when not NULL, the parsed JSON body (the caller owns it, NULL
 * when the body is not JSON). Returns 0, or -1 with a message printed when
 * the server could not be reached.
 */
static int setup_call(bench *b, slot *s, const char *method, const char *path, const char *token,
                      json_t *body, long *status, json_t **out)
{
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text) {
            fail_msg("out of memory");
            return -1;
        }
    }
    int rc = prepare(b, s, method, path, token, text);
    free(text);
    if (rc) {
        fail_msg("cannot prepare %s %s", method, path);
        return -1;
    }
    CURLcode c = curl_easy_perform(s->easy);
    if (c != CURLE_OK) {
        fail_msg("%s %s%s: %s (is ringfenced serving on %s?)", method, b->base, path,
                 s->errbuf[0] ? s->errbuf : curl_easy_strerror(c), b->base);
        return -1;
    }
    if (!reached_loopback(s->easy)) {
        fail_msg("%s reached an address that is not loopback; stopping", b->base);
        return -1;
    }
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, status);
    if (out)
        *out = s->overflow ? NULL : json_loadb(s->resp, s->len, 0, NULL);
    return 0;
}

/* ---- the state file -------------------------------------------------------------------- */

/*
 * Load b->state_path when it exists into b->hosts (allocated here for
 * max(nhosts, lines) entries; b owns it). A missing file is an empty fleet.
 * The file is untrusted: every line is checked, and one bad line refuses the
 * whole file. Returns 0 or -1 with a message.
 */
static int state_load(bench *b)
{
    size_t cap = b->nhosts;
    b->hosts = calloc(cap, sizeof(*b->hosts));
    if (!b->hosts) {
        fail_msg("out of memory for %zu hosts", cap);
        return -1;
    }
    b->nall = 0;
    if (!b->state_path)
        return 0;
    FILE *f = fopen(b->state_path, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        fail_msg("%s: %s", b->state_path, strerror(errno));
        return -1;
    }
    char line[BENCH_STATE_LINE_MAX];
    unsigned long lineno = 0;
    int rc = -1;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') {
            fail_msg("%s:%lu: line too long or not terminated", b->state_path, lineno);
            goto out;
        }
        line[--n] = '\0';
        if (lineno == 1) {
            /* "# bench-checkin state 1 tenant=NAME" */
            size_t ml = strlen(STATE_MAGIC);
            if (strncmp(line, STATE_MAGIC " tenant=", ml + 8) != 0) {
                fail_msg("%s:1: not a bench-checkin state file", b->state_path);
                goto out;
            }
            if (strcmp(line + ml + 8, b->tenant) != 0) {
                fail_msg("%s: its hosts belong to tenant '%s', not '%s' (give --tenant %s or "
                         "another --state)",
                         b->state_path, line + ml + 8, b->tenant, line + ml + 8);
                goto out;
            }
            continue;
        }
        if (line[0] == '#')
            continue;
        /* ID TOKEN SENSOR */
        char *sp1 = strchr(line, ' ');
        char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (!sp1 || !sp2 || strchr(sp2 + 1, ' ')) {
            fail_msg("%s:%lu: expected 'HOST_ID TOKEN SENSOR_VERSION'", b->state_path, lineno);
            goto out;
        }
        *sp1 = *sp2 = '\0';
        uint64_t id;
        int si;
        if (parse_u64(line, 1, INT64_MAX, &id)) {
            fail_msg("%s:%lu: bad host id '%s'", b->state_path, lineno, line);
            goto out;
        }
        if (!token_ok(sp1 + 1)) {
            fail_msg("%s:%lu: bad token (expected rf_ and 64 hex digits)", b->state_path, lineno);
            goto out;
        }
        if (!word_ok(sp2 + 1, RF_SENSOR_VERSION_MAX) || (si = sensor_index(b, sp2 + 1)) < 0) {
            fail_msg("%s:%lu: bad sensor version (or more than %u versions)", b->state_path,
                     lineno, BENCH_MAX_SENSORS);
            goto out;
        }
        if (b->nall == BENCH_MAX_HOSTS) {
            fail_msg("%s: more than %u hosts", b->state_path, BENCH_MAX_HOSTS);
            goto out;
        }
        if (b->nall == cap) {
            size_t ncap = cap * 2 > BENCH_MAX_HOSTS ? BENCH_MAX_HOSTS : cap * 2;
            bhost *nh = realloc(b->hosts, ncap * sizeof(*nh));
            if (!nh) {
                fail_msg("out of memory reading %s", b->state_path);
                goto out;
            }
            memset(nh + cap, 0, (ncap - cap) * sizeof(*nh));
            b->hosts = nh;
            cap = ncap;
        }
        bhost *h = &b->hosts[b->nall++];
        h->id = (int64_t)id;
        h->sensor = (uint8_t)si;
        memcpy(h->token, sp1 + 1, BENCH_TOKEN_LEN + 1);
    }
    if (ferror(f)) {
        fail_msg("%s: read error", b->state_path);
        goto out;
    }
    if (lineno == 0) {
        fail_msg("%s: empty; delete it to enroll anew", b->state_path);
        goto out;
    }
    rc = 0;
out:
    fclose(f);
    return rc;
}

/* Write the enrolled hosts to b->state_path through a temporary file and a
 * rename, so an interrupted write leaves the old file. Returns 0 or -1. */
static int state_save(bench *b)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", b->state_path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        fail_msg("%s: path too long", b->state_path);
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fail_msg("%s: %s", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "%s tenant=%s\n", STATE_MAGIC, b->tenant);
    for (size_t i = 0; i < b->nall; i++) {
        const bhost *h = &b->hosts[i];
        if (h->id > 0)
            fprintf(f, "%" PRId64 " %s %s\n", h->id, h->token, b->sensors[h->sensor]);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fail_msg("%s: write error", tmp);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, b->state_path) != 0) {
        fail_msg("rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- the transfer loop ------------------------------------------------------------------- */

/* Count a failed request; the first one is kept in words. `who` names the
 * host: its id, or its hostname while it enrolls. */
static void count_failure(stats *st, const char *what, const char *who, long code, CURLcode cc,
                          const slot *s)
{
    st->failed++;
    st->sec_err++;
    if (st->first_failure[0])
        return;
    if (cc != CURLE_OK) {
        snprintf(st->first_failure, sizeof(st->first_failure), "%s (%s): %s", what, who,
                 s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc));
    } else {
        char msg[320];
        error_text(s, msg, sizeof(msg));
        snprintf(st->first_failure, sizeof(st->first_failure), "%s (%s): HTTP %ld: %s", what, who,
                 code, msg);
    }
}

/* Common bookkeeping of a finished transfer; returns the HTTP status (0 on a
 * transport error, counted here). */
static long finished(stats *st, slot *s, CURLcode cc, const char *what, const char *who)
{
    if (cc != CURLE_OK) {
        st->curl_err[(unsigned)cc < 128 ? (unsigned)cc : 127]++;
        count_failure(st, what, who, 0, cc, s);
        return 0;
    }
    long code = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    st->status[code >= 0 && code < 600 ? code : 0]++;
    curl_off_t us = 0;
    curl_easy_getinfo(s->easy, CURLINFO_TOTAL_TIME_T, &us);
    record_latency(st, us);
    return code;
}

static void enroll_done(bench *b, slot *s, CURLcode cc)
{
    char who[32];
    snprintf(who, sizeof(who), "hostname h%06zu", s->host + 1);
    long code = finished(&b->est, s, cc, "POST /v1/enroll", who);
    if (code == 0)
        return;
    if (code != 201) {
        count_failure(&b->est, "POST /v1/enroll", who, code, CURLE_OK, s);
        return;
    }
    json_t *o = s->overflow ? NULL : json_loadb(s->resp, s->len, 0, NULL);
    json_t *id = json_object_get(o, "host_id");
    const char *tok = json_string_value(json_object_get(o, "token"));
    if (!json_is_integer(id) || json_integer_value(id) <= 0 || !tok || !token_ok(tok)) {
        b->est.bad_body++;
        count_failure(&b->est, "POST /v1/enroll: answer without host_id and token", who, code,
                      CURLE_OK, s);
    } else {
        bhost *h = &b->hosts[s->host];
        h->id = (int64_t)json_integer_value(id);
        memcpy(h->token, tok, BENCH_TOKEN_LEN + 1);
        b->est.ok++;
        b->est.sec_ok++;
    }
    json_decref(o);
}

static void checkin_done(bench *b, slot *s, CURLcode cc)
{
    char who[48];
    snprintf(who, sizeof(who), "host %" PRId64, b->hosts[s->host].id);
    long code = finished(&b->st, s, cc, "POST /v1/checkin", who);
    if (code == 0)
        return;
    if (code != 200) {
        count_failure(&b->st, "POST /v1/checkin", who, code, CURLE_OK, s);
        return;
    }
    /* The answer must be this host's: a mix-up between connections would
     * otherwise pass as a fast 200. */
    json_t *o = s->overflow ? NULL : json_loadb(s->resp, s->len, 0, NULL);
    json_t *id = json_object_get(o, "host_id");
    if (!json_is_integer(id) || json_integer_value(id) != b->hosts[s->host].id ||
        !json_is_array(json_object_get(o, "assignments"))) {
        b->st.bad_body++;
        count_failure(&b->st, "POST /v1/checkin: answer not this host's (host_id, assignments)",
                      who, code, CURLE_OK, s);
    } else {
        b->st.ok++;
        b->st.sec_ok++;
    }
    json_decref(o);
}

/* Start the next enrollment on s; 1 when there is none left, -1 on error. */
static int enroll_start(bench *b, slot *s)
{
    if (b->enroll_next >= b->enroll_end)
        return 1;
    size_t i = b->enroll_next++;
    bhost *h = &b->hosts[i];
    h->sensor = (uint8_t)(i % b->nsensors_cli);
    char body[BENCH_BODY_MAX];
    int n = snprintf(body, sizeof(body),
                     "{\"hostname\":\"h%06zu\",\"sensor_version\":\"%s\",\"group\":\"default\"}",
                     i + 1, b->sensors[h->sensor]);
    if (n < 0 || (size_t)n >= sizeof(body))
        return -1;
    s->host = i;
    return prepare(b, s, "POST", "/v1/enroll", b->enroll_token, body);
}

/* Start the next host's check-in on s; -1 on error. */
static int checkin_start(bench *b, slot *s)
{
    size_t i = b->rr;
    b->rr = (b->rr + 1) % b->nhosts;
    bhost *h = &b->hosts[i];
    uint64_t k = ++h->checkins;
    char body[BENCH_BODY_MAX];
    int n = snprintf(body, sizeof(body),
                     "{\"sensor_version\":\"%s\","
                     "\"content\":[{\"channel\":291,\"version\":4,\"status\":\"active\"}],"
                     "\"health\":{\"uptime_s\":%" PRIu64 ",\"boot_attempts\":1,\"reverts\":0,"
                     "\"events\":%" PRIu64 ",\"cpu_ns_mean\":900,\"cpu_ns_p50\":800,"
                     "\"cpu_ns_p99\":3000,\"detections\":%" PRIu64 ",\"rss_kb\":30000,"
                     "\"bad\":[]}}",
                     b->sensors[h->sensor], 10 * k, 1000 * k, 2 * k);
    if (n < 0 || (size_t)n >= sizeof(body))
        return -1;
    s->host = i;
    return prepare(b, s, "POST", "/v1/checkin", h->token, body);
}

/*
 * Run one phase: keep up to b->concurrency transfers of `kind` in flight
 * until the work runs out (enrollment), the deadline passes (load; 0: none)
 * or SIGINT/SIGTERM, then wait for the transfers in flight; each is bounded
 * by BENCH_REQ_TIMEOUT_MS, so the loop is too. rate > 0 caps the starts per
 * second (a token bucket holding 100 ms of starts). A line per second goes
 * to stderr. Returns the phase's wall time in seconds, or -1 on an internal
 * error (message printed).
 */
static double run_phase(bench *b, job_kind kind, double deadline, double rate)
{
    stats *st = kind == JOB_ENROLL ? &b->est : &b->st;
    b->cur = st;
    double t0 = now_s(), tick = t0 + 1, last = t0, tend = t0;
    double burst = rate > 10 ? rate / 10 : 1, credit = 1;
    size_t inflight = 0;
    int stopping = 0, nomore = 0;
    unsigned secs = 0;
    for (;;) {
        double t = now_s();
        if (g_stop && !stopping) {
            b->interrupted = 1;
            stopping = 1;
        }
        if (deadline > 0 && t >= deadline)
            stopping = 1;
        if (rate > 0) {
            credit += (t - last) * rate;
            if (credit > burst)
                credit = burst;
        }
        last = t;
        while (!stopping && !nomore && b->nfree > 0 && (rate <= 0 || credit >= 1)) {
            slot *s = &b->slots[b->free_slots[b->nfree - 1]];
            int r = kind == JOB_ENROLL ? enroll_start(b, s) : checkin_start(b, s);
            if (r == 1) {
                nomore = 1;
                break;
            }
            if (r < 0 || curl_multi_add_handle(b->multi, s->easy) != CURLM_OK) {
                fail_msg("cannot start a request (out of memory?)");
                return -1;
            }
            b->nfree--;
            inflight++;
            if (rate > 0)
                credit -= 1;
        }
        if (inflight == 0 && (stopping || nomore))
            break;
        if (t >= tick) {
            secs++;
            if (kind == JOB_ENROLL)
                fprintf(stderr, "bench-checkin: enroll %3us: %" PRIu64 "/%zu hosts, %" PRIu64
                                "/s, %" PRIu64 " errors\n",
                        secs, b->est.ok, b->enroll_end - b->from_state, st->sec_ok, st->sec_err);
            else
                fprintf(stderr, "bench-checkin: load %4us: %" PRIu64 " check-ins/s, %" PRIu64
                                " errors, %zu in flight\n",
                        secs, st->sec_ok, st->sec_err, inflight);
            st->sec_ok = st->sec_err = 0;
            tick += 1;
            if (tick <= t)
                tick = t + 1;
        }

        int running = 0;
        CURLMcode mc = curl_multi_perform(b->multi, &running);
        if (mc != CURLM_OK) {
            fail_msg("curl_multi_perform: %s", curl_multi_strerror(mc));
            return -1;
        }
        CURLMsg *m;
        int queued, freed = 0;
        while ((m = curl_multi_info_read(b->multi, &queued)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            slot *s = NULL;
            CURL *e = m->easy_handle;
            CURLcode cc = m->data.result;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
            if (kind == JOB_ENROLL)
                enroll_done(b, s, cc);
            else
                checkin_done(b, s, cc);
            curl_multi_remove_handle(b->multi, e);
            b->free_slots[b->nfree++] = (size_t)(s - b->slots);
            inflight--;
            freed++;
        }
        if (freed)
            tend = now_s();

        t = now_s();
        if (freed && !stopping && !nomore && (rate <= 0 || credit >= 1))
            continue; /* refill before waiting */
        double wait = tick - t;
        if (deadline > 0 && !stopping && deadline - t < wait)
            wait = deadline - t;
        if (rate > 0 && !stopping && !nomore && b->nfree > 0 && credit < 1 &&
            (1 - credit) / rate < wait)
            wait = (1 - credit) / rate;
        int ms = wait <= 0 ? 0 : (int)ceil(wait * 1000);
        if (ms > 1000)
            ms = 1000;
        mc = curl_multi_poll(b->multi, NULL, 0, ms, NULL);
        if (mc != CURLM_OK) {
            fail_msg("curl_multi_poll: %s", curl_multi_strerror(mc));
            return -1;
        }
    }
    b->cur = NULL;
    return tend - t0;
}

/* ---- setup ----------------------------------------------------------------------------- */

/* Create the tenant (an existing one will do) and, when hosts are to be
 * enrolled, an enroll token. Returns 0 or -1 with a message. */
static int setup(bench *b, int need_enroll)
{
    slot *s = &b->slots[0];
    long code = 0;
    json_t *out = NULL;
    if (setup_call(b, s, "GET", "/healthz", NULL, NULL, &code, &out))
        return -1;
    json_decref(out);
    if (code != 200) {
        fail_msg("GET %s/healthz answered %ld: is this ringfenced?", b->base, code);
        return -1;
    }
    json_t *body = json_pack("{s:s,s:b}", "name", b->tenant, "internal", 0);
    int rc = setup_call(b, s, "POST", "/v1/tenants", b->admin_token, body, &code, NULL);
    json_decref(body);
    if (rc)
        return -1;
    if (code == 401 || code == 403) {
        char msg[320];
        error_text(s, msg, sizeof(msg));
        fail_msg("the admin token was refused (HTTP %ld: %s)", code, msg);
        return -1;
    }
    if (code != 201 && code != 409) {
        char msg[320];
        error_text(s, msg, sizeof(msg));
        fail_msg("POST /v1/tenants {\"name\":\"%s\"}: HTTP %ld: %s", b->tenant, code, msg);
        return -1;
    }
    if (!need_enroll)
        return 0;
    char path[128];
    snprintf(path, sizeof(path), "/v1/tenants/%s/tokens", b->tenant);
    body = json_pack("{s:s,s:s}", "role", "enroll", "name", "bench-enroll");
    out = NULL;
    rc = setup_call(b, s, "POST", path, b->admin_token, body, &code, &out);
    json_decref(body);
    if (rc)
        return -1;
    const char *tok = json_string_value(json_object_get(out, "token"));
    if (code != 201 || !tok || !token_ok(tok)) {
        char msg[320];
        error_text(s, msg, sizeof(msg));
        fail_msg("POST %s: HTTP %ld: %s", path, code, code == 201 ? "no token in the answer" : msg);
        json_decref(out);
        return -1;
    }
    memcpy(b->enroll_token, tok, BENCH_TOKEN_LEN + 1);
    json_decref(out);
    return 0;
}

/* One check-in of the first host before the load: a state file from another
 * database shows here as 401, a setup error rather than a failed run. */
static int probe_checkin(bench *b)
{
    slot *s = &b->slots[0];
    if (checkin_start(b, s)) {
        fail_msg("cannot prepare a check-in");
        return -1;
    }
    b->rr = 0;
    CURLcode c = curl_easy_perform(s->easy);
    if (c != CURLE_OK) {
        fail_msg("POST %s/v1/checkin: %s", b->base,
                 s->errbuf[0] ? s->errbuf : curl_easy_strerror(c));
        return -1;
    }
    long code = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200)
        return 0;
    char msg[320];
    error_text(s, msg, sizeof(msg));
    if (code == 401 && b->from_state)
        fail_msg("host %" PRId64 " of %s is unknown to this server (HTTP 401: %s): the state "
                 "file belongs to another database; delete it to enroll anew",
                 b->hosts[0].id, b->state_path, msg);
    else
        fail_msg("the first check-in (host %" PRId64 ") failed: HTTP %ld: %s", b->hosts[0].id, code,
                 msg);
    return -1;
}

/* ---- the summary ------------------------------------------------------------------------ */

static void print_errors_text(const stats *st)
{
    int any = 0;
    for (int c = 0; c < 600; c++) {
        if ((c < 200 || c > 299) && st->status[c]) {
            printf("%s HTTP %d: %" PRIu64, any ? "," : "", c, st->status[c]);
            any = 1;
        }
    }
    for (unsigned i = 0; i < 128; i++) {
        if (st->curl_err[i]) {
            printf("%s %s: %" PRIu64, any ? "," : "", curl_easy_strerror((CURLcode)i),
                   st->curl_err[i]);
            any = 1;
        }
    }
    if (st->bad_body) {
        printf("%s wrong answer body: %" PRIu64, any ? "," : "", st->bad_body);
        any = 1;
    }
    if (!any)
        printf(" none");
    printf("\n");
}

static json_t *errors_json(const stats *st)
{
    json_t *o = json_object(), *byst = json_object(), *bycurl = json_object();
    for (int c = 0; c < 600; c++) {
        if ((c < 200 || c > 299) && st->status[c]) {
            char k[16];
            snprintf(k, sizeof(k), "%d", c);
            json_object_set_new(byst, k, json_integer((json_int_t)st->status[c]));
        }
    }
    for (unsigned i = 0; i < 128; i++)
        if (st->curl_err[i])
            json_object_set_new(bycurl, curl_easy_strerror((CURLcode)i),
                                json_integer((json_int_t)st->curl_err[i]));
    json_object_set_new(o, "by_status", byst);
    json_object_set_new(o, "by_curl_error", bycurl);
    json_object_set_new(o, "bad_body", json_integer((json_int_t)st->bad_body));
    json_object_set_new(o, "first", st->first_failure[0] ? json_string(st->first_failure)
                                                         : json_null());
    return o;
}

static json_t *pct_json(const pct *p, uint64_t n)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:b,s:I}", "p50", p->p50, "p90", p->p90, "p99", p->p99,
                     "p99.9", p->p999, "max", p->max, "exact", p->exact, "samples", (json_int_t)n);
}

static void summary(bench *b)
{
    pct lp, ep;
    percentiles(&b->st, &lp);
    percentiles(&b->est, &ep);
    uint64_t req = b->st.ok + b->st.failed;
    double rate = b->load_s > 0 ? (double)b->st.ok / b->load_s : 0;
    double erate = b->enroll_s > 0 ? (double)b->enrolled / b->enroll_s : 0;
    if (b->json) {
        json_t *o = json_pack(
            "{s:s,s:I,s:I,s:I,s:I,s:f,s:I,s:f,s:b,s:I,s:I,s:I,s:f,s:I,s:o,s:o}", "url", b->base,
            "hosts", (json_int_t)b->nhosts, "hosts_from_state", (json_int_t)b->from_state,
            "hosts_enrolled", (json_int_t)b->enrolled, "concurrency", (json_int_t)b->concurrency,
            "rate_cap", b->rate, "duration_s", (json_int_t)b->duration_s, "wall_s", b->load_s,
            "interrupted", b->interrupted, "requests", (json_int_t)req, "ok", (json_int_t)b->st.ok,
            "failed", (json_int_t)b->st.failed, "checkins_per_s", rate, "connections",
            (json_int_t)b->st.connects, "latency_ms", pct_json(&lp, b->st.nobs), "errors",
            errors_json(&b->st));
        if (o && b->enrolled)
            json_object_set_new(o, "enroll",
                                json_pack("{s:f,s:f,s:I,s:o}", "wall_s", b->enroll_s, "per_s",
                                          erate, "connections", (json_int_t)b->est.connects,
                                          "latency_ms", pct_json(&ep, b->est.nobs)));
        char *t = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
        if (t)
            puts(t);
        free(t);
        json_decref(o);
        return;
    }
    printf("bench-checkin: %s, %zu hosts (%zu from state, %" PRIu64 " enrolled), concurrency %u, "
           "rate %s\n",
           b->base, b->nhosts, b->from_state, b->enrolled, b->concurrency,
           b->rate > 0 ? "capped" : "uncapped");
    if (b->enrolled)
        printf("enrollment    %" PRIu64 " hosts in %.1f s, %.0f/s, p50 %.2f ms, p99 %.2f ms\n",
               b->enrolled, b->enroll_s, erate, ep.p50, ep.p99);
    if (b->rate > 0)
        printf("rate cap      %.0f check-ins/s\n", b->rate);
    printf("duration      %u s asked, %.2f s wall%s\n", b->duration_s, b->load_s,
           b->interrupted ? " (interrupted)" : "");
    printf("requests      %" PRIu64 " (ok %" PRIu64 ", failed %" PRIu64 "), %" PRIu64
           " connections opened",
           req, b->st.ok, b->st.failed, b->st.connects);
    if (b->enrolled)
        printf(" (and %" PRIu64 " during enrollment)", b->est.connects);
    printf("\n");
    printf("check-ins/s   %.0f sustained (ok / wall seconds)\n", rate);
    printf("latency ms    p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (%s, %" PRIu64
           " samples)\n",
           lp.p50, lp.p90, lp.p99, lp.p999, lp.max, lp.exact ? "exact" : "log histogram",
           b->st.nobs);
    printf("errors       ");
    print_errors_text(&b->st);
    if (b->st.first_failure[0])
        printf("first failure %s\n", b->st.first_failure);
}

/* ---- main ------------------------------------------------------------------------------ */

static const char usage_text[] =
    "usage: bench-checkin --url http://127.0.0.1:PORT --admin-token TOKEN --hosts N\n"
    "                     [--state FILE] [--duration SECONDS] [--concurrency C] [--rate R]\n"
    "                     [--tenant NAME] [--sensor VERSION ...] [--json]\n"
    "\n"
    "Enrolls N hosts in tenant NAME (default bench; reused from FILE when it\n"
    "exists, and saved to it), then keeps C check-ins in flight (default 64) for\n"
    "SECONDS (default 10), at most R per second when given, and prints check-ins\n"
    "per second and latency percentiles. --sensor (repeatable) sets the sensor\n"
    "versions mixed at enrollment (default 7.11.18110 and 7.16.18605). Loopback\n"
    "URLs only. Exit 0: all requests succeeded; 1: some failed; 2: usage or setup.\n";

static void bench_free(bench *b)
{
    if (b->slots) {
        for (size_t i = 0; i < b->concurrency; i++) {
            curl_easy_cleanup(b->slots[i].easy);
            curl_slist_free_all(b->slots[i].hdrs);
        }
    }
    curl_multi_cleanup(b->multi);
    free(b->slots);
    free(b->free_slots);
    free(b->hosts);
    free(b->st.lat);
    free(b->est.lat);
    for (size_t i = 0; i < BENCH_MAX_SENSORS; i++)
        free(b->sensor_store[i]);
}

/* Options into b. Returns 0, 1 after --help, -1 with a message. */
static int parse_args(bench *b, int argc, char **argv)
{
    enum { O_URL = 1, O_ADMIN, O_HOSTS, O_STATE, O_DURATION, O_CONC, O_RATE, O_TENANT, O_SENSOR,
           O_JSON, O_HELP };
    static const struct option opts[] = {{"url", required_argument, NULL, O_URL},
                                         {"admin-token", required_argument, NULL, O_ADMIN},
                                         {"hosts", required_argument, NULL, O_HOSTS},
                                         {"state", required_argument, NULL, O_STATE},
                                         {"duration", required_argument, NULL, O_DURATION},
                                         {"concurrency", required_argument, NULL, O_CONC},
                                         {"rate", required_argument, NULL, O_RATE},
                                         {"tenant", required_argument, NULL, O_TENANT},
                                         {"sensor", required_argument, NULL, O_SENSOR},
                                         {"json", no_argument, NULL, O_JSON},
                                         {"help", no_argument, NULL, O_HELP},
                                         {NULL, 0, NULL, 0}};
    const char *url = NULL;
    uint64_t v;
    int o;
    b->tenant = "bench";
    b->duration_s = 10;
    b->concurrency = 64;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_URL: url = optarg; break;
        case O_ADMIN: b->admin_token = optarg; break;
        case O_HOSTS:
            if (parse_u64(optarg, 1, BENCH_MAX_HOSTS, &v)) {
                fail_msg("--hosts must be a number from 1 to %u", BENCH_MAX_HOSTS);
                return -1;
            }
            b->nhosts = (size_t)v;
            break;
        case O_STATE: b->state_path = optarg; break;
        case O_DURATION:
            if (parse_u64(optarg, 1, BENCH_MAX_DURATION_S, &v)) {
                fail_msg("--duration must be a number of seconds from 1 to %u",
                         BENCH_MAX_DURATION_S);
                return -1;
            }
            b->duration_s = (unsigned)v;
            break;
        case O_CONC:
            if (parse_u64(optarg, 1, BENCH_MAX_CONCURRENCY, &v)) {
                fail_msg("--concurrency must be a number from 1 to %u", BENCH_MAX_CONCURRENCY);
                return -1;
            }
            b->concurrency = (unsigned)v;
            break;
        case O_RATE:
            if (parse_u64(optarg, 1, 10000000, &v)) {
                fail_msg("--rate must be a number of check-ins per second from 1 to 10000000");
                return -1;
            }
            b->rate = (double)v;
            break;
        case O_TENANT: b->tenant = optarg; break;
        case O_SENSOR:
            if (!word_ok(optarg, RF_SENSOR_VERSION_MAX)) {
                fail_msg("--sensor %s: 1..63 characters of [A-Za-z0-9._-]", optarg);
                return -1;
            }
            if (b->nsensors == BENCH_MAX_SENSORS / 2) {
                fail_msg("at most %u --sensor versions", BENCH_MAX_SENSORS / 2);
                return -1;
            }
            if (sensor_index(b, optarg) < 0) {
                fail_msg("out of memory");
                return -1;
            }
            break;
        case O_JSON: b->json = 1; break;
        case O_HELP: fputs(usage_text, stdout); return 1;
        default: fputs(usage_text, stderr); return -1;
        }
    }
    if (optind < argc) {
        fail_msg("unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!url || !b->admin_token || !b->nhosts) {
        fail_msg("--url, --admin-token and --hosts are required (--help for usage)");
        return -1;
    }
    if (!token_ok(b->admin_token)) {
        fail_msg("--admin-token: expected rf_ and 64 hex digits (the first line of ringfenced "
                 "init)");
        return -1;
    }
    if (!tenant_ok(b->tenant)) {
        fail_msg("--tenant %s: 1..63 characters of [a-z0-9_-]", b->tenant);
        return -1;
    }
    if (b->nsensors == 0 &&
        (sensor_index(b, "7.11.18110") < 0 || sensor_index(b, "7.16.18605") < 0)) {
        fail_msg("out of memory");
        return -1;
    }
    b->nsensors_cli = b->nsensors;
    return check_url(b, url);
}

int main(int argc, char **argv)
{
    static bench bb;
    bench *b = &bb;
    int rc = 2;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fail_msg("curl_global_init failed");
        return 2;
    }
    int pa = parse_args(b, argc, argv);
    if (pa) {
        rc = pa > 0 ? 0 : 2;
        goto out;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    b->multi = curl_multi_init();
    b->slots = calloc(b->concurrency, sizeof(*b->slots));
    b->free_slots = calloc(b->concurrency, sizeof(*b->free_slots));
    if (!b->multi || !b->slots || !b->free_slots) {
        fail_msg("out of memory");
        goto out;
    }
    /* As many cached connections as transfers, so none is closed and
     * reopened between two requests. */
    curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS, (long)b->concurrency);
    for (size_t i = 0; i < b->concurrency; i++) {
        b->slots[i].easy = curl_easy_init();
        if (!b->slots[i].easy || easy_common(b, b->slots[i].easy, &b->slots[i])) {
            fail_msg("cannot set up curl handles");
            goto out;
        }
        b->free_slots[b->nfree++] = i;
    }

    if (state_load(b))
        goto out;
    b->from_state = b->nall < b->nhosts ? b->nall : b->nhosts;
    int need_enroll = b->nall < b->nhosts;
    if (setup(b, need_enroll))
        goto out;
    /* Hosts of a state file are tried before more are enrolled next to them. */
    if (b->from_state && probe_checkin(b))
        goto out;

    if (need_enroll) {
        b->enroll_next = b->nall;
        b->enroll_end = b->nhosts;
        b->nall = b->nhosts;
        fprintf(stderr, "bench-checkin: enrolling %zu hosts in tenant %s", b->nhosts - b->from_state,
                b->tenant);
        if (b->from_state)
            fprintf(stderr, " (%zu more from %s)", b->from_state, b->state_path);
        fputc('\n', stderr);
        b->enroll_s = run_phase(b, JOB_ENROLL, 0, 0);
        if (b->enroll_s < 0)
            goto out;
        b->enrolled = b->est.ok;
        /* Keep the hosts that did enroll, in order, so that a rerun only
         * enrolls the rest. */
        size_t w = 0;
        for (size_t i = 0; i < b->nall; i++)
            if (b->hosts[i].id > 0)
                b->hosts[w++] = b->hosts[i];
        b->nall = w;
        if (b->state_path && state_save(b))
            goto out;
        if (b->interrupted) {
            fail_msg("interrupted during enrollment (%" PRIu64 " hosts enrolled%s)", b->enrolled,
                     b->state_path ? ", saved" : "");
            goto out;
        }
        if (b->est.failed) {
            fail_msg("%" PRIu64 " of %zu enrollments failed; first: %s", b->est.failed,
                     b->nhosts - b->from_state, b->est.first_failure);
            goto out;
        }
        fprintf(stderr, "bench-checkin: enrolled %" PRIu64 " hosts in %.1f s (%.0f/s)\n",
                b->enrolled, b->enroll_s, b->enroll_s > 0 ? (double)b->enrolled / b->enroll_s : 0);
    }

    if (!b->from_state && probe_checkin(b))
        goto out;
    fprintf(stderr, "bench-checkin: %u s of check-ins from %zu hosts, %u in flight%s\n",
            b->duration_s, b->nhosts, b->concurrency, b->rate > 0 ? ", rate capped" : "");
    double t0 = now_s();
    b->load_s = run_phase(b, JOB_CHECKIN, t0 + b->duration_s, b->rate);
    if (b->load_s < 0)
        goto out;
    summary(b);
    rc = b->st.failed || b->interrupted ? 1 : 0;
    if (b->st.failed)
        fail_msg("%" PRIu64 " of %" PRIu64 " check-ins failed", b->st.failed,
                 b->st.ok + b->st.failed);
    if (b->interrupted)
        fail_msg("interrupted after %.1f of %u s", b->load_s, b->duration_s);
out:
    bench_free(b);
    curl_global_cleanup();
    return rc;
}
