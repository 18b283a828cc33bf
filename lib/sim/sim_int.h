/*
 * sim_int.h — what the files of lib/sim share: the calendar queue that
 * orders the simulator's events, and the counter-based random numbers every
 * draw comes from. Not part of the public API; the unit test includes it to
 * test the queue directly.
 */
#ifndef RINGFENCE_LIB_SIM_INT_H
#define RINGFENCE_LIB_SIM_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ringfence/ringfence.h"

/* ---- the calendar queue ------------------------------------------------------ */

/*
 * One bucket per simulated second over [0, nbuckets). An event is a host and
 * 32 bits of kind and data; pushing appends to the bucket's chain of chunks
 * (O(1)), draining hands out whole chunks in push order (FIFO within a
 * second), so the run is deterministic. Chunks come from slabs and go back
 * to a free list: after warm-up nothing allocates. Events at or beyond
 * nbuckets are counted as dropped (they would happen after the run).
 */
typedef struct rfsim_event {
    uint32_t host;
    uint32_t what; /* kind in the low 8 bits, data above */
} rfsim_event;

#define RFSIM_CHUNK_EVENTS 126u /* a chunk is 1 KiB: 126 events, a next index and a count */
#define RFSIM_SLAB_CHUNKS 4096u
#define RFSIM_NONE UINT32_MAX

typedef struct rfsim_chunk {
    uint32_t next;
    uint32_t n;
    rfsim_event ev[RFSIM_CHUNK_EVENTS];
} rfsim_chunk;

typedef struct rfsim_calq {
    uint32_t nbuckets;
    uint32_t *head;       /* first chunk of each bucket, RFSIM_NONE if empty */
    uint32_t *tail;       /* last chunk of each bucket */
    rfsim_chunk **slabs;  /* chunk i is slabs[i / SLAB][i % SLAB] */
    uint32_t nslabs, slab_cap;
    uint32_t free_list;   /* chain of free chunks through .next */
    uint64_t pending;     /* events pushed and not drained */
    uint64_t pushed;
    uint64_t dropped;     /* pushed at or beyond nbuckets */
    uint64_t max_pending;
    uint32_t chunks_in_use, max_chunks;
} rfsim_calq;

/* An empty queue of nbuckets (>= 1) seconds. RF_E_NOMEM. */
rf_rc rfsim_calq_init(rfsim_calq *q, uint32_t nbuckets) RF_WUR;
void rfsim_calq_free(rfsim_calq *q);
/* Schedule ev at second t (t >= 0; t >= nbuckets: dropped and counted).
 * The caller must never push into a bucket it already drained. RF_E_NOMEM
 * when a new slab cannot be had. */
rf_rc rfsim_calq_push(rfsim_calq *q, int64_t t, rfsim_event ev) RF_WUR;
/* Move up to cap events (cap >= RFSIM_CHUNK_EVENTS) of bucket t, oldest
 * first, into buf and return how many; 0 when the bucket is empty. Events
 * pushed to t meanwhile come out of later calls. */
size_t rfsim_calq_drain(rfsim_calq *q, uint32_t t, rfsim_event *buf, size_t cap);

/* ---- random numbers ------------------------------------------------------------- */

/* splitmix64's finaliser: a strong 64-bit mixer. */
static inline uint64_t rfsim_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A random 64-bit value that depends only on (seed, purpose, a, b): the
 * simulator's draws are keyed by what they are for (a host's phase, its
 * k-th check-in's jitter), never by the order in which they are made. */
static inline uint64_t rfsim_hash(uint64_t seed, uint32_t purpose, uint64_t a, uint64_t b)
{
    uint64_t x = rfsim_mix64(seed ^ ((uint64_t)purpose << 56) ^ a);
    return rfsim_mix64(x ^ (b * 0xd6e8feb86659fd93ull));
}

/* Uniform in [0, 1) from 53 bits of a hash. */
static inline double rfsim_unit(uint64_t x)
{
    return (double)(x >> 11) * 0x1.0p-53;
}

/* A sequential stream (for the noise, drawn once at the start). */
typedef struct rfsim_rng {
    uint64_t state;
} rfsim_rng;

static inline uint64_t rfsim_rng_next(rfsim_rng *r)
{
    r->state += 0x9e3779b97f4a7c15ull;
    uint64_t x = r->state;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

#endif
