/*
 * table.c — the interpreter's exact-value structures: open-addressing hash
 * tables for string and int equals/one_of values (one key may map to the
 * criteria of many instances), and sorted interval lists for int ranges.
 * They are built once from collected (value, criterion) pairs and are
 * read-only afterwards, so lookups need no locks and allocate nothing.
 *
 * Tables are sized to a power of two at least twice the key count (load
 * factor <= 0.5), so a lookup touches one or two slots on average.
 */
#include <stdlib.h>
#include <string.h>

#include "interp/interp_int.h"

/* ---- hashing ---- */

static inline uint64_t mix64(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t rfinterp_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x243f6a8885a308d3ull ^ ((uint64_t)n * 0x9e3779b97f4a7c15ull);
    while (n >= 8) {
        h = mix64(h ^ rd64(s), 0xa0761d6478bd642full);
        s += 8;
        n -= 8;
    }
    uint64_t t = 0;
    if (n)
        memcpy(&t, s, n);
    h = mix64(h ^ t, 0xe7037ed1a0b428dbull);
    return mix64(h, 0x8ebc6af09c88c6e3ull);
}

static inline uint64_t hash_i64(int64_t k)
{
    uint64_t x = (uint64_t)k;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint32_t table_slots(size_t nkeys)
{
    uint32_t cap = 4;
    while (cap < nkeys * 2)
        cap <<= 1;
    return cap;
}

/* ---- strings ---- */

void rfinterp_sbuild_init(rfinterp_sbuild *b)
{
    memset(b, 0, sizeof(*b));
    rf_buf_init(&b->arena);
}

void rfinterp_sbuild_free(rfinterp_sbuild *b)
{
    rf_buf_free(&b->arena);
    free(b->ents);
    memset(b, 0, sizeof(*b));
}

rf_rc rfinterp_sbuild_add(rfinterp_sbuild *b, const char *s, uint32_t len, int fold,
                          uint32_t crit)
{
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 16;
        rfinterp_sent *e = realloc(b->ents, ncap * sizeof(*e));
        if (!e)
            return RF_E_NOMEM;
        b->ents = e;
        b->cap = ncap;
    }
    if (b->arena.len > UINT32_MAX - (size_t)len)
        return RF_E_NOMEM;
    uint32_t off = (uint32_t)b->arena.len;
    rf_buf_append(&b->arena, s, len);
    if (b->arena.oom)
        return RF_E_NOMEM;
    char *k = (char *)b->arena.data + off;
    if (fold)
        for (uint32_t i = 0; i < len; i++)
            if (k[i] >= 'A' && k[i] <= 'Z')
                k[i] = (char)(k[i] + ('a' - 'A'));
    rfinterp_sent *e = &b->ents[b->n++];
    e->hash = rfinterp_hash_bytes(k, len);
    e->koff = off;
    e->klen = len;
    e->crit = crit;
    return RF_OK;
}

/* qsort has no context argument: the arena being sorted is passed here.
 * Building runs on one thread per interpreter, but several interpreters may
 * be built at once, hence thread-local. */
static _Thread_local const char *sort_arena;

static int sent_cmp(const void *pa, const void *pb)
{
    const rfinterp_sent *a = pa, *b = pb;
    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    if (a->klen != b->klen)
        return a->klen < b->klen ? -1 : 1;
    int c = memcmp(sort_arena + a->koff, sort_arena + b->koff, a->klen);
    if (c)
        return c;
    return a->crit < b->crit ? -1 : a->crit > b->crit;
}

static int sent_same_key(const char *arena, const rfinterp_sent *a, const rfinterp_sent *b)
{
    return a->hash == b->hash && a->klen == b->klen &&
           memcmp(arena + a->koff, arena + b->koff, a->klen) == 0;
}

rf_rc rfinterp_stab_finish(rfinterp_sbuild *b, rfinterp_stab *t)
{
    memset(t, 0, sizeof(*t));
    if (b->n == 0)
        return RF_OK;
    const char *arena = (const char *)b->arena.data;
    sort_arena = arena;
    qsort(b->ents, b->n, sizeof(*b->ents), sent_cmp);
    sort_arena = NULL;

    size_t nkeys = 0, keybytes = 0;
    for (size_t i = 0; i < b->n; i++)
        if (i == 0 || !sent_same_key(arena, &b->ents[i - 1], &b->ents[i])) {
            nkeys++;
            keybytes += b->ents[i].klen;
        }
    t->mask = table_slots(nkeys) - 1;
    t->slots = calloc((size_t)t->mask + 1, sizeof(*t->slots));
    t->keys = malloc(keybytes ? keybytes : 1);
    t->posts = malloc(b->n * sizeof(*t->posts));
    if (!t->slots || !t->keys || !t->posts) {
        rfinterp_stab_free(t);
        return RF_E_NOMEM;
    }
    t->minlen = UINT32_MAX;
    size_t i = 0;
    while (i < b->n) {
        const rfinterp_sent *k = &b->ents[i];
        uint32_t koff = (uint32_t)t->keybytes, poff = (uint32_t)t->nposts;
        memcpy(t->keys + koff, arena + k->koff, k->klen);
        t->keybytes += k->klen;
        for (; i < b->n && sent_same_key(arena, k, &b->ents[i]); i++)
            if (t->nposts == poff || t->posts[t->nposts - 1] != b->ents[i].crit)
                t->posts[t->nposts++] = b->ents[i].crit; /* sorted: dups adjacent */
        uint32_t s = (uint32_t)k->hash & t->mask;
        while (t->slots[s].pn)
            s = (s + 1) & t->mask;
        t->slots[s] = (rfinterp_sslot){k->hash, koff, k->klen, poff,
                                       (uint32_t)(t->nposts - poff)};
        if (k->klen < t->minlen)
            t->minlen = k->klen;
        if (k->klen > t->maxlen)
            t->maxlen = k->klen;
        t->nkeys++;
    }
    return RF_OK;
}

void rfinterp_stab_free(rfinterp_stab *t)
{
    free(t->slots);
    free(t->keys);
    free(t->posts);
    memset(t, 0, sizeof(*t));
}

size_t rfinterp_stab_memory(const rfinterp_stab *t)
{
    if (!t->nkeys)
        return 0;
    return ((size_t)t->mask + 1) * sizeof(*t->slots) + t->keybytes +
           t->nposts * sizeof(*t->posts);
}

const uint32_t *rfinterp_stab_find(const rfinterp_stab *t, const char *s, uint32_t len,
                                   uint32_t *n)
{
    *n = 0;
    if (!t->nkeys || len < t->minlen || len > t->maxlen)
        return NULL;
    uint64_t h = rfinterp_hash_bytes(s, len);
    for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
        const rfinterp_sslot *sl = &t->slots[i];
        if (!sl->pn)
            return NULL;
        if (sl->hash == h && sl->klen == len && memcmp(t->keys + sl->koff, s, len) == 0) {
            *n = sl->pn;
            return t->posts + sl->poff;
        }
    }
}

/* ---- ints ---- */

static int ient_cmp(const void *pa, const void *pb)
{
    const rfinterp_ient *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->crit < b->crit ? -1 : a->crit > b->crit;
}

rf_rc rfinterp_itab_finish(rfinterp_ient *ents, size_t n, rfinterp_itab *t)
{
    memset(t, 0, sizeof(*t));
    if (n == 0)
        return RF_OK;
    qsort(ents, n, sizeof(*ents), ient_cmp);
    size_t nkeys = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || ents[i - 1].key != ents[i].key)
            nkeys++;
    t->mask = table_slots(nkeys) - 1;
    t->slots = calloc((size_t)t->mask + 1, sizeof(*t->slots));
    t->posts = malloc(n * sizeof(*t->posts));
    if (!t->slots || !t->posts) {
        rfinterp_itab_free(t);
        return RF_E_NOMEM;
    }
    size_t i = 0;
    while (i < n) {
        int64_t key = ents[i].key;
        uint32_t poff = (uint32_t)t->nposts;
        for (; i < n && ents[i].key == key; i++)
            if (t->nposts == poff || t->posts[t->nposts - 1] != ents[i].crit)
                t->posts[t->nposts++] = ents[i].crit;
        uint32_t s = (uint32_t)hash_i64(key) & t->mask;
        while (t->slots[s].pn)
            s = (s + 1) & t->mask;
        t->slots[s] = (rfinterp_islot){key, poff, (uint32_t)(t->nposts - poff)};
        t->nkeys++;
    }
    return RF_OK;
}

void rfinterp_itab_free(rfinterp_itab *t)
{
    free(t->slots);
    free(t->posts);
    memset(t, 0, sizeof(*t));
}

size_t rfinterp_itab_memory(const rfinterp_itab *t)
{
    if (!t->nkeys)
        return 0;
    return ((size_t)t->mask + 1) * sizeof(*t->slots) + t->nposts * sizeof(*t->posts);
}

const uint32_t *rfinterp_itab_find(const rfinterp_itab *t, int64_t key, uint32_t *n)
{
    *n = 0;
    if (!t->nkeys)
        return NULL;
    for (uint32_t i = (uint32_t)hash_i64(key) & t->mask;; i = (i + 1) & t->mask) {
        const rfinterp_islot *sl = &t->slots[i];
        if (!sl->pn)
            return NULL;
        if (sl->key == key) {
            *n = sl->pn;
            return t->posts + sl->poff;
        }
    }
}

/* ---- int ranges ----
 * Sorted by lo; a query walks the blocks whose first lo <= v and looks inside
 * only those whose largest hi reaches v. Cost: O(B + k) per query, B the
 * number of blocks starting at or below v (at most n/16), k the intervals
 * inside visited blocks. Content with thousands of ranges on one field stays
 * in the low microseconds; an interval tree would make it O(log n + k). */

static int range_cmp(const void *pa, const void *pb)
{
    const rfinterp_range *a = pa, *b = pb;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return a->crit < b->crit ? -1 : a->crit > b->crit;
}

rf_rc rfinterp_rlist_finish(rfinterp_range *r, uint32_t n, rfinterp_rlist *l)
{
    memset(l, 0, sizeof(*l));
    if (n == 0) {
        free(r);
        return RF_OK;
    }
    qsort(r, n, sizeof(*r), range_cmp);
    uint32_t nb = (n + RFINTERP_RANGE_BLOCK - 1) / RFINTERP_RANGE_BLOCK;
    l->block_max = malloc(nb * sizeof(*l->block_max));
    if (!l->block_max) {
        free(r);
        return RF_E_NOMEM;
    }
    for (uint32_t b = 0; b < nb; b++) {
        int64_t m = INT64_MIN;
        for (uint32_t i = b * RFINTERP_RANGE_BLOCK; i < n && i < (b + 1) * RFINTERP_RANGE_BLOCK;
             i++)
            if (r[i].hi > m)
                m = r[i].hi;
        l->block_max[b] = m;
    }
    l->r = r;
    l->n = n;
    return RF_OK;
}

void rfinterp_rlist_free(rfinterp_rlist *l)
{
    free(l->r);
    free(l->block_max);
    memset(l, 0, sizeof(*l));
}
