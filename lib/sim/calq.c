/*
 * calq.c — the simulator's calendar queue: one bucket per simulated second,
 * each a chain of fixed-size chunks of events. Push appends to the tail
 * chunk of a bucket, drain hands out the head chunks in order. Both are
 * O(1) per event; chunks are recycled through a free list, so a run
 * allocates only while the number of pending events grows.
 */
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

rf_rc rfsim_calq_init(rfsim_calq *q, uint32_t nbuckets)
{
    memset(q, 0, sizeof(*q));
    if (nbuckets == 0)
        nbuckets = 1;
    q->nbuckets = nbuckets;
    q->head = malloc((size_t)nbuckets * sizeof(*q->head));
    q->tail = malloc((size_t)nbuckets * sizeof(*q->tail));
    if (!q->head || !q->tail) {
        free(q->head);
        free(q->tail);
        memset(q, 0, sizeof(*q));
        return RF_E_NOMEM;
    }
    memset(q->head, 0xff, (size_t)nbuckets * sizeof(*q->head));
    memset(q->tail, 0xff, (size_t)nbuckets * sizeof(*q->tail));
    q->free_list = RFSIM_NONE;
    return RF_OK;
}

void rfsim_calq_free(rfsim_calq *q)
{
    if (!q)
        return;
    for (uint32_t i = 0; i < q->nslabs; i++)
        free(q->slabs[i]);
    free(q->slabs);
    free(q->head);
    free(q->tail);
    memset(q, 0, sizeof(*q));
}

static inline rfsim_chunk *chunk(const rfsim_calq *q, uint32_t i)
{
    return &q->slabs[i / RFSIM_SLAB_CHUNKS][i % RFSIM_SLAB_CHUNKS];
}

/* A new slab of chunks, all onto the free list. */
static rf_rc grow(rfsim_calq *q)
{
    if ((uint64_t)(q->nslabs + 1) * RFSIM_SLAB_CHUNKS >= RFSIM_NONE)
        return RF_E_NOMEM;
    if (q->nslabs == q->slab_cap) {
        uint32_t cap = q->slab_cap ? q->slab_cap * 2 : 16;
        rfsim_chunk **s = realloc(q->slabs, (size_t)cap * sizeof(*s));
        if (!s)
            return RF_E_NOMEM;
        q->slabs = s;
        q->slab_cap = cap;
    }
    rfsim_chunk *slab = malloc((size_t)RFSIM_SLAB_CHUNKS * sizeof(*slab));
    if (!slab)
        return RF_E_NOMEM;
    uint32_t base = q->nslabs * RFSIM_SLAB_CHUNKS;
    q->slabs[q->nslabs++] = slab;
    for (uint32_t i = RFSIM_SLAB_CHUNKS; i-- > 0;) {
        slab[i].next = q->free_list;
        slab[i].n = 0;
        q->free_list = base + i;
    }
    return RF_OK;
}

rf_rc rfsim_calq_push(rfsim_calq *q, int64_t t, rfsim_event ev)
{
    if (t < 0)
        t = 0;
    if (t >= (int64_t)q->nbuckets) {
        q->dropped++;
        return RF_OK;
    }
    uint32_t b = (uint32_t)t;
    uint32_t ti = q->tail[b];
    rfsim_chunk *c = ti != RFSIM_NONE ? chunk(q, ti) : NULL;
    if (!c || c->n == RFSIM_CHUNK_EVENTS) {
        if (q->free_list == RFSIM_NONE) {
            rf_rc rc = grow(q);
            if (rc != RF_OK)
                return rc;
        }
        uint32_t ni = q->free_list;
        rfsim_chunk *nc = chunk(q, ni);
        q->free_list = nc->next;
        nc->next = RFSIM_NONE;
        nc->n = 0;
        if (c)
            c->next = ni;
        else
            q->head[b] = ni;
        q->tail[b] = ni;
        c = nc;
        if (++q->chunks_in_use > q->max_chunks)
            q->max_chunks = q->chunks_in_use;
    }
    c->ev[c->n++] = ev;
    q->pushed++;
    if (++q->pending > q->max_pending)
        q->max_pending = q->pending;
    return RF_OK;
}

size_t rfsim_calq_drain(rfsim_calq *q, uint32_t t, rfsim_event *buf, size_t cap)
{
    if (t >= q->nbuckets)
        return 0;
    size_t n = 0;
    while (q->head[t] != RFSIM_NONE) {
        uint32_t hi = q->head[t];
        rfsim_chunk *c = chunk(q, hi);
        if (n + c->n > cap)
            break;
        memcpy(buf + n, c->ev, (size_t)c->n * sizeof(*buf));
        n += c->n;
        q->pending -= c->n;
        q->head[t] = c->next;
        if (c->next == RFSIM_NONE)
            q->tail[t] = RFSIM_NONE;
        c->next = q->free_list;
        c->n = 0;
        q->free_list = hi;
        q->chunks_in_use--;
    }
    return n;
}
