/*
 * health.c — what the agent measures for its check-ins (agent.h): events and
 * detections since start, the per-event cost of the current window (mean,
 * p50, p99) and detection counts per (channel, version, instance).
 *
 * The event thread calls rf_agent_health_event once per event, so that path
 * is one short critical section that only adds to counters and one histogram
 * bucket: no allocation, no search. The cost histogram is log-linear, like
 * HdrHistogram's: values below 16 ns have a bucket each, and every power of
 * two [2^e, 2^(e+1)) above is cut into 16 equal sub-buckets, so a bucket is
 * never wider than 1/16 of its lower bound. A percentile is answered with the
 * upper bound of the bucket that holds it, clamped to the largest value seen
 * in the window: never below the true value and less than 1/16 above it.
 *
 * Detections are counted in an open-addressing hash table keyed by
 * (channel, version, instance id). A key is allocated only when it first
 * appears, and at most RF_AGENT_HEALTH_MAX_KEYS are kept: an agent that sees
 * a flood of distinct instances must not grow without bound. Detections of
 * keys beyond the limit, or whose allocation failed, still count in the
 * totals (and in untracked, for a debugger or a later field of the
 * snapshot); a failure to allocate never reaches the event thread's caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringfence/agent.h"

/* Sub-buckets per power of two: 16 gives the 1/16 bound of the header. */
#define SUB_BITS 4u
#define SUB (1u << SUB_BITS)
/* Values below SUB get one bucket each; exponents SUB_BITS..63 get SUB
 * buckets each: 16 + 60 * 16 = 976 buckets, 7.8 KiB. */
#define NBUCKETS (SUB + (64u - SUB_BITS) * SUB)

/* The table's initial number of slots (a power of two); it doubles when it
 * is half full, so MAX_KEYS keys need at most 2 * MAX_KEYS slots. */
#define SLOTS_MIN 64u

/* One detection counter. inst is a private copy of the instance id, cut at
 * RF_ID_MAX bytes: valid ids are never longer (limits.h), so only an id no
 * channel could carry is cut, and distinct valid ids stay distinct keys. */
typedef struct det_key {
    uint64_t hash;
    uint64_t count;
    uint32_t version;
    uint16_t channel;
    char *inst; /* NULL: the slot is free */
} det_key;

struct rf_agent_health {
    pthread_mutex_t mu;
    /* totals, from start */
    uint64_t events;
    uint64_t detections;
    /* detections not kept per key: over MAX_KEYS, or out of memory */
    uint64_t untracked;
    /* the current cost window */
    uint64_t w_events;
    uint64_t w_sum; /* saturates instead of wrapping */
    uint64_t w_max;
    uint64_t hist[NBUCKETS];
    uint64_t hsum[NBUCKETS]; /* the sum of each bucket's samples (saturating) */
    /* the detection table: nslots is a power of two, nkeys <= nslots / 2 */
    det_key *slots;
    uint32_t nslots;
    uint32_t nkeys;
};

/* ---- the cost histogram -------------------------------------------------- */

static uint32_t bucket_of(uint64_t v)
{
    if (v < SUB)
        return (uint32_t)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v >= 16, so e >= 4 */
    unsigned sub = (unsigned)(v >> (e - SUB_BITS)) & (SUB - 1u);
    return SUB + (e - SUB_BITS) * SUB + sub;
}

/* The largest value that falls into bucket b. */
static uint64_t bucket_high(uint32_t b)
{
    if (b < SUB)
        return b;
    unsigned e = (b - SUB) / SUB + SUB_BITS;
    unsigned sub = (b - SUB) % SUB;
    uint64_t width = 1ull << (e - SUB_BITS);
    uint64_t lo = (1ull << e) + (uint64_t)sub * width;
    return lo + (width - 1u); /* the top bucket ends at UINT64_MAX exactly */
}

/* The nearest-rank PCT-th percentile (smallest value with at least
 * ceil(n * PCT / 100) values at or below it) of the window. Called locked,
 * with w_events > 0. */
static uint64_t percentile(const rf_agent_health *h, unsigned pct)
{
    uint64_t n = h->w_events;
    /* ceil(n * pct / 100) without overflow for any n */
    uint64_t rank = n / 100u * pct + ((n % 100u) * pct + 99u) / 100u;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (uint32_t b = 0; b < NBUCKETS; b++) {
        seen += h->hist[b];
        if (seen >= rank) {
            uint64_t hi = bucket_high(b);
            return hi < h->w_max ? hi : h->w_max;
        }
    }
    return h->w_max; /* not reached: the buckets add up to w_events */
}

/* The window's mean with every sample above CPU_CAP_X times the median
 * counted as CPU_CAP_X times the median. The cost is wall time on the event
 * thread, so a sample now and then holds a preemption or an interrupt (a
 * millisecond against an evaluation of a few microseconds), and one such
 * sample among a hundred triples a window's plain mean: the gates would read
 * the scheduler as content cost. Content that really costs more moves the
 * whole distribution, median included, and shows undiminished. Exact but
 * for the cap's own bucket, which is taken whole (at most 1/16 above the
 * cap). Called locked, with w_events > 0. */
#define CPU_CAP_X 16u
static uint64_t robust_mean(const rf_agent_health *h, uint64_t p50)
{
    uint64_t cap = p50 > UINT64_MAX / CPU_CAP_X ? UINT64_MAX : p50 * CPU_CAP_X;
    if (h->w_max <= cap || h->w_sum == UINT64_MAX)
        return h->w_sum / h->w_events;
    uint32_t cb = bucket_of(cap);
    uint64_t sum = 0;
    for (uint32_t b = 0; b < NBUCKETS; b++) {
        uint64_t add = b <= cb ? h->hsum[b] : (h->hist[b] > UINT64_MAX / cap ? UINT64_MAX
                                                                             : h->hist[b] * cap);
        sum = sum + add < sum ? UINT64_MAX : sum + add;
    }
    return sum / h->w_events;
}

/* ---- the detection table ------------------------------------------------- */

static size_t inst_len(const char *inst)
{
    return strnlen(inst, RF_ID_MAX);
}

/* FNV-1a over the key, finished with rf_mix64's avalanche so that the low
 * bits (the slot index) depend on every byte. */
static uint64_t key_hash(uint16_t channel, uint32_t version, const char *inst, size_t len)
{
    uint64_t x = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        x = (x ^ (uint8_t)inst[i]) * 0x100000001b3ull;
    x ^= ((uint64_t)channel << 32) ^ version;
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The slot holding the key, or the free slot where it would go. The table
 * is never more than half full, so the probe ends. */
static det_key *find_slot(det_key *slots, uint32_t nslots, uint64_t hash, uint16_t channel,
                          uint32_t version, const char *inst, size_t len)
{
    uint32_t mask = nslots - 1u;
    for (uint32_t i = (uint32_t)hash & mask;; i = (i + 1u) & mask) {
        det_key *k = &slots[i];
        if (!k->inst)
            return k;
        if (k->hash == hash && k->channel == channel && k->version == version &&
            strncmp(k->inst, inst, len) == 0 && k->inst[len] == '\0')
            return k;
    }
}

/* Double the table. On failure the table is unchanged and 0 is returned. */
static int grow(rf_agent_health *h)
{
    uint32_t n = h->nslots * 2u;
    det_key *s = calloc(n, sizeof(*s));
    if (!s)
        return 0;
    for (uint32_t i = 0; i < h->nslots; i++) {
        det_key *k = &h->slots[i];
        if (!k->inst)
            continue;
        det_key *d = find_slot(s, n, k->hash, k->channel, k->version, k->inst,
                               strlen(k->inst));
        *d = *k;
    }
    free(h->slots);
    h->slots = s;
    h->nslots = n;
    return 1;
}

/* ---- the public functions ------------------------------------------------ */

rf_rc rf_agent_health_new(rf_agent_health **out)
{
    if (!out)
        return RF_E_USAGE;
    rf_agent_health *h = calloc(1, sizeof(*h));
    if (!h)
        return RF_E_NOMEM;
    h->slots = calloc(SLOTS_MIN, sizeof(*h->slots));
    if (!h->slots)
        goto out_free;
    h->nslots = SLOTS_MIN;
    if (pthread_mutex_init(&h->mu, NULL) != 0)
        goto out_free_slots;
    *out = h;
    return RF_OK;

out_free_slots:
    free(h->slots);
out_free:
    free(h);
    return RF_E_NOMEM;
}

void rf_agent_health_free(rf_agent_health *h)
{
    if (!h)
        return;
    for (uint32_t i = 0; i < h->nslots; i++)
        free(h->slots[i].inst);
    free(h->slots);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void rf_agent_health_event(rf_agent_health *h, uint64_t cost_ns)
{
    if (!h)
        return;
    uint32_t b = bucket_of(cost_ns); /* outside the lock: pure arithmetic */
    pthread_mutex_lock(&h->mu);
    h->events++;
    h->w_events++;
    h->w_sum = h->w_sum + cost_ns < h->w_sum ? UINT64_MAX : h->w_sum + cost_ns;
    if (cost_ns > h->w_max)
        h->w_max = cost_ns;
    h->hist[b]++;
    h->hsum[b] = h->hsum[b] + cost_ns < h->hsum[b] ? UINT64_MAX : h->hsum[b] + cost_ns;
    pthread_mutex_unlock(&h->mu);
}

void rf_agent_health_detection(rf_agent_health *h, uint16_t channel, uint32_t version,
                               const char *instance)
{
    if (!h)
        return;
    const char *inst = instance ? instance : "";
    size_t len = inst_len(inst);
    uint64_t hash = key_hash(channel, version, inst, len); /* outside the lock */

    pthread_mutex_lock(&h->mu);
    h->detections++;
    det_key *k = find_slot(h->slots, h->nslots, hash, channel, version, inst, len);
    if (k->inst) {
        k->count++;
        goto out;
    }
    /* A new key: the only case that allocates. Grow first so that the
     * table stays at most half full after the insert. */
    if (h->nkeys >= RF_AGENT_HEALTH_MAX_KEYS) {
        h->untracked++;
        goto out;
    }
    if ((h->nkeys + 1u) * 2u > h->nslots) {
        if (!grow(h)) {
            h->untracked++;
            goto out;
        }
        k = find_slot(h->slots, h->nslots, hash, channel, version, inst, len);
    }
    char *copy = malloc(len + 1u);
    if (!copy) {
        h->untracked++;
        goto out;
    }
    memcpy(copy, inst, len);
    copy[len] = '\0';
    k->hash = hash;
    k->count = 1;
    k->version = version;
    k->channel = channel;
    k->inst = copy;
    h->nkeys++;
out:
    pthread_mutex_unlock(&h->mu);
}

/* Does a rank before b? More detections first; ties by channel, then
 * instance id, then version, so the order is total and the same on every
 * run whatever the hash table's layout. */
static int top_before(const det_key *a, const det_key *b)
{
    if (a->count != b->count)
        return a->count > b->count;
    if (a->channel != b->channel)
        return a->channel < b->channel;
    int c = strcmp(a->inst, b->inst);
    if (c != 0)
        return c < 0;
    return a->version < b->version;
}

void rf_agent_health_snapshot(rf_agent_health *h, int new_window, rf_agent_health_snap *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!h)
        return;
    /* The top keys are chosen by pointer under the lock (an insertion into
     * a list of at most RF_AGENT_HEALTH_TOP, so one pass over the table) and
     * copied out before it is released: a concurrent insert may move keys. */
    const det_key *top[RF_AGENT_HEALTH_TOP];
    uint32_t ntop = 0;

    pthread_mutex_lock(&h->mu);
    out->events = h->events;
    out->detections = h->detections;
    out->window_events = h->w_events;
    if (h->w_events > 0) {
        out->cpu_ns_p50 = percentile(h, 50);
        out->cpu_ns_mean = robust_mean(h, out->cpu_ns_p50);
        out->cpu_ns_p99 = percentile(h, 99);
    }
    for (uint32_t i = 0; i < h->nslots; i++) {
        const det_key *k = &h->slots[i];
        if (!k->inst)
            continue;
        if (ntop == RF_AGENT_HEALTH_TOP && !top_before(k, top[ntop - 1u]))
            continue;
        uint32_t j = ntop < RF_AGENT_HEALTH_TOP ? ntop++ : ntop - 1u;
        for (; j > 0 && top_before(k, top[j - 1u]); j--)
            top[j] = top[j - 1u];
        top[j] = k;
    }
    out->ntop = ntop;
    for (uint32_t i = 0; i < ntop; i++) {
        rf_agent_top *t = &out->top[i];
        t->channel = top[i]->channel;
        t->version = top[i]->version;
        t->count = top[i]->count;
        size_t n = strnlen(top[i]->inst, sizeof(t->instance) - 1u); /* truncated */
        memcpy(t->instance, top[i]->inst, n);
        t->instance[n] = '\0';
    }
    if (new_window) {
        h->w_events = 0;
        h->w_sum = 0;
        h->w_max = 0;
        memset(h->hist, 0, sizeof(h->hist));
        memset(h->hsum, 0, sizeof(h->hsum));
    }
    pthread_mutex_unlock(&h->mu);
}

uint64_t rf_agent_rss_kb(void)
{
    /* statm is one short line of page counts: "size resident shared ...". */
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[256];
    ssize_t n;
    do
        n = read(fd, buf, sizeof(buf) - 1u);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';

    char *p = buf, *end = NULL;
    errno = 0;
    (void)strtoull(p, &end, 10); /* size: not needed */
    if (errno != 0 || end == p || *end != ' ')
        return 0;
    p = end;
    errno = 0;
    unsigned long long resident = strtoull(p, &end, 10);
    if (errno != 0 || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0)
        return 0;
    unsigned long long kb_per_page = (unsigned long long)page / 1024u;
    if (kb_per_page == 0 || resident > UINT64_MAX / kb_per_page)
        return 0;
    return (uint64_t)(resident * kb_per_page);
}
