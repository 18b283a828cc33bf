/*
 * interp_int.h — what the files of lib/interp share and nobody else sees:
 * the translation of a criterion into a Vectorscan expression (pattern.c),
 * the exact-value hash tables and the int interval lists (table.c), and a
 * test hook for the scratch epoch. The public contract is interp.h.
 */
#ifndef RINGFENCE_LIB_INTERP_INT_H
#define RINGFENCE_LIB_INTERP_INT_H

#include <stdint.h>

#include "ringfence/interp.h"
#include "ringfence/util.h"

/* 1 for the kinds that go to the Vectorscan database of their field. */
int rfinterp_is_pattern_kind(rf_crit_kind k);

/*
 * Translate one pattern-kind string criterion into a Vectorscan expression,
 * appended NUL-terminated to *out, and its compile flags into *flags.
 * Returns RF_E_SCHEMA for a criterion that is not a pattern-kind string
 * criterion with one value, RF_E_LIMIT for a value over its length limit
 * (messages name the problem, not the instance: callers add that).
 */
rf_rc rfinterp_pattern(const rf_crit *c, rf_buf *out, unsigned *flags, rf_err *err);

/*
 * How the interpreter evaluates a pattern-kind criterion (c already checked:
 * a string criterion with one value). *lit / *litlen: the literal for
 * PREFIX, SUFFIX, CONTAINS and EQUALS (for a glob, the part between its
 * leading and trailing stars).
 */
typedef enum rfinterp_class {
    RFI_ANYSTR,   /* every string value matches ("*", empty prefix...) */
    RFI_PREFIX,   /* literal at the start */
    RFI_SUFFIX,   /* literal at the end */
    RFI_CONTAINS, /* literal anywhere */
    RFI_EQUALS,   /* literal is the whole value (a glob with no wildcard) */
    RFI_REGEX,    /* compile rfinterp_pattern's expression */
} rfinterp_class;

rfinterp_class rfinterp_classify(const rf_crit *c, const char **lit, uint32_t *litlen);

/*
 * Globs that need more than a literal (a '?' or an inner '*') are not left to
 * a Vectorscan expression: Vectorscan 5.4.9 misses matches of the anchored
 * form \A<lit>.*<lit>\z (and with '?': ...(?:one UTF-8 character)\z) once the input reaches 67
 * bytes, in block, stream and vectored mode alike (found by fuzz_glob; see
 * tests/unit/interp_test.c test_vectorscan_anchored_dotall_bug). Such a glob
 * is looked for in the field's database as one of its literal runs (empty
 * when it has none: the empty expression then fires on every input), and a
 * hit is confirmed once per event by rfinterp_glob_match. Every anchored
 * expression with a dot-all star inside (\A<lit>.*<lit>\z included) is
 * affected, so every glob with a '?' or an inner '*' takes this path.
 */
typedef struct rfinterp_run {
    const char *s;
    uint32_t len;
} rfinterp_run;

/*
 * Choose each glob's literal: the run (maximal stretch without '*' or '?') of
 * it that the fewest runs of all n globs share, the longest among those, so
 * that a run every glob of a field starts with ("C:\Windows\") does not make
 * every glob be confirmed on every event. globs[i] is the glob, out[i] its
 * chosen run (length 0 when it has none). O(r log r) in the number of runs.
 */
rf_rc rfinterp_glob_literals(const rfinterp_run *globs, uint32_t n, rfinterp_run *out);

/* 1 if the whole of s[0..sn) matches glob p[0..pn): '*' any run of bytes,
 * '?' one UTF-8-shaped character, every other byte itself (ASCII case
 * folded when nocase). Iterative, O(pn * sn) at worst, no recursion. */
int rfinterp_glob_match(const char *p, uint32_t pn, const char *s, uint32_t sn, int nocase);

/* An escaped literal expression (bytes reversed when asked), NUL-terminated. */
rf_rc rfinterp_literal(const char *s, uint32_t len, int reversed, rf_buf *out);

/* Fast 64-bit hash of a byte string (wyhash-style multiply-fold). */
uint64_t rfinterp_hash_bytes(const void *p, size_t n);

/* ---- exact string values: open addressing, keys stored once ---- */

typedef struct rfinterp_sslot {
    uint64_t hash;
    uint32_t koff, klen; /* key bytes in keys[koff .. koff+klen) */
    uint32_t poff, pn;   /* ids in posts[poff .. poff+pn); pn == 0: empty */
} rfinterp_sslot;

typedef struct rfinterp_stab {
    uint32_t mask; /* slots - 1 (slots is a power of two); unused when nkeys == 0 */
    uint32_t nkeys;
    uint32_t minlen, maxlen; /* of the keys: inputs outside cannot be equal */
    rfinterp_sslot *slots;
    char *keys;
    uint32_t *posts;
    size_t keybytes, nposts;
} rfinterp_stab;

/* A (key, id) pair collected while building. The id is whatever the caller
 * files under the key: interp.c uses pattern ids (exact values), criterion
 * ids (grouping identical criteria) and instance ids (int anchors). */
typedef struct rfinterp_sent {
    uint64_t hash;
    uint32_t koff, klen; /* in the builder's arena */
    uint32_t crit;
} rfinterp_sent;

typedef struct rfinterp_sbuild {
    rf_buf arena; /* key bytes (lower-cased for a nocase table) */
    rfinterp_sent *ents;
    size_t n, cap;
} rfinterp_sbuild;

void rfinterp_sbuild_init(rfinterp_sbuild *b);
void rfinterp_sbuild_free(rfinterp_sbuild *b);
/* Add (key, crit); lower-case ASCII when fold. RF_E_NOMEM on failure. */
rf_rc rfinterp_sbuild_add(rfinterp_sbuild *b, const char *s, uint32_t len, int fold,
                          uint32_t crit);
/* Turn the collected pairs into t (which the caller zeroed); frees nothing of b. */
rf_rc rfinterp_stab_finish(rfinterp_sbuild *b, rfinterp_stab *t);
void rfinterp_stab_free(rfinterp_stab *t);
size_t rfinterp_stab_memory(const rfinterp_stab *t);
/* The ids filed under key s (sorted, unique), or NULL with *n = 0. */
const uint32_t *rfinterp_stab_find(const rfinterp_stab *t, const char *s, uint32_t len,
                                   uint32_t *n);

/* ---- exact int values ---- */

typedef struct rfinterp_islot {
    int64_t key;
    uint32_t poff, pn; /* pn == 0: empty */
} rfinterp_islot;

typedef struct rfinterp_itab {
    uint32_t mask, nkeys;
    rfinterp_islot *slots;
    uint32_t *posts;
    size_t nposts;
} rfinterp_itab;

typedef struct rfinterp_ient {
    int64_t key;
    uint32_t crit; /* the id filed under key (interp.c: an instance anchored on it) */
} rfinterp_ient;

rf_rc rfinterp_itab_finish(rfinterp_ient *ents, size_t n, rfinterp_itab *t);
void rfinterp_itab_free(rfinterp_itab *t);
size_t rfinterp_itab_memory(const rfinterp_itab *t);
const uint32_t *rfinterp_itab_find(const rfinterp_itab *t, int64_t key, uint32_t *n);

/* ---- int ranges: sorted by lo, with the largest hi of each block ---- */

#define RFINTERP_RANGE_BLOCK 16u

typedef struct rfinterp_range {
    int64_t lo, hi;
    uint32_t crit; /* the id filed under it (interp.c: an instance anchored on it) */
} rfinterp_range;

typedef struct rfinterp_rlist {
    uint32_t n;
    rfinterp_range *r;  /* sorted by lo */
    int64_t *block_max; /* max hi of r[b*BLOCK .. (b+1)*BLOCK) */
} rfinterp_rlist;

/* Takes ownership of r (n entries); sorts it. */
rf_rc rfinterp_rlist_finish(rfinterp_range *r, uint32_t n, rfinterp_rlist *l);
void rfinterp_rlist_free(rfinterp_rlist *l);

/* Test hook: set a scratch's epoch counter (to exercise wraparound). */
void rfinterp_scratch_set_epoch(rf_interp_scratch *s, uint32_t epoch);

#endif
