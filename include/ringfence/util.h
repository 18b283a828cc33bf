/*
 * util.h — small helpers every module and program shares: whole-file reads
 * with a size limit, atomic file writes, SHA-256, UTF-8 checks, hex, and
 * bounded string building. Kept public because the programs need them too
 * (STYLE.md: programs use only the public API).
 */
#ifndef RINGFENCE_UTIL_H
#define RINGFENCE_UTIL_H

#include <stdio.h>

#include "ringfence/ringfence.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Read a whole regular file. Fails with RF_E_IO (missing, a directory,
 * unreadable) or RF_E_LIMIT (larger than max) before reading it.
 * On success *out is malloc'd with one extra NUL byte after *len bytes;
 * the caller frees it.
 */
rf_rc rf_file_read(const char *path, size_t max, uint8_t **out, size_t *len,
                   rf_err *err) RF_WUR;

/*
 * Write a file atomically: write PATH.tmp.PID, fsync, rename over PATH,
 * fsync the directory. mode is the new file's permission bits.
 */
rf_rc rf_file_write_atomic(const char *path, const void *buf, size_t len,
                           unsigned mode, rf_err *err) RF_WUR;

/* SHA-256 of buf (OpenSSL libcrypto). */
void rf_sha256(const void *buf, size_t len, uint8_t out[32]);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void rf_hex(const uint8_t *in, size_t n, char *out);

/*
 * If buf[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF),
 * return 1. Otherwise return 0 and, if bad_off is not NULL, store the offset
 * of the first invalid byte.
 */
int rf_utf8_valid(const char *buf, size_t len, size_t *bad_off);

/* strdup that returns NULL on NULL. */
char *rf_strdup(const char *s);
char *rf_strndup(const char *s, size_t n);

/* A growable byte buffer. */
typedef struct rf_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int oom; /* set once an append failed; later appends do nothing */
} rf_buf;

void rf_buf_init(rf_buf *b);
void rf_buf_free(rf_buf *b);
void rf_buf_append(rf_buf *b, const void *p, size_t n);
void rf_buf_printf(rf_buf *b, const char *fmt, ...) RF_PRINTF(2, 3);
/* NUL-terminate and hand the data over (caller frees); NULL after oom. */
char *rf_buf_take(rf_buf *b);

/*
 * A small, fast, deterministic random number generator: xoshiro256** seeded
 * through splitmix64, the same stream for the same seed on every platform
 * (no rand(), no libc state). For simulation and synthetic data only, never
 * for keys or anything secret.
 */
typedef struct rf_rng {
    uint64_t s[4];
} rf_rng;

#define RF_GOLDEN64 0x9e3779b97f4a7c15ull

/* The splitmix64 step of x: also a good 64-bit mixer of (seed, index) pairs. */
static inline uint64_t rf_mix64(uint64_t x)
{
    x += RF_GOLDEN64;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline void rf_rng_seed(rf_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++, seed += RF_GOLDEN64)
        r->s[i] = rf_mix64(seed);
}

static inline uint64_t rf_rng_next(rf_rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, n) for n >= 1 (multiply-shift on the top 32 bits; the bias
 * is below 2^-32 * n, immaterial for simulation). */
static inline uint32_t rf_rng_below(rf_rng *r, uint32_t n)
{
    return (uint32_t)(((rf_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, 1), 53 bits. */
static inline double rf_rng_unit(rf_rng *r)
{
    return (double)(rf_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Parse a base-10 integer with full checks (whole string, range). */
rf_rc rf_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) RF_WUR;
rf_rc rf_parse_u64(const char *s, uint64_t hi, uint64_t *out) RF_WUR;

/*
 * Find a repeated string among n strings, at(ctx, i) giving the i-th (never
 * NULL). Sorts (string, index) pairs, so O(n log n) even for 100,000 ids or a
 * huge YAML mapping. Of all repeats, the one whose second occurrence comes
 * first is reported, which is where a reader of the input meets it:
 * *first < *second are its two indices. When nothing repeats, RF_OK with
 * *second = UINT32_MAX. RF_E_NOMEM if the index could not be allocated.
 */
typedef const char *(*rf_str_at_fn)(const void *ctx, uint32_t i);
rf_rc rf_find_repeat(uint32_t n, rf_str_at_fn at, const void *ctx, uint32_t *first,
                     uint32_t *second) RF_WUR;

/* Monotonic clock in nanoseconds. */
uint64_t rf_now_ns(void);

/* CPU time used by the calling thread, in nanoseconds: a cost that other
 * load on the machine does not inflate (unlike rf_now_ns). */
uint64_t rf_thread_cpu_ns(void);

#ifdef __cplusplus
}
#endif
#endif
