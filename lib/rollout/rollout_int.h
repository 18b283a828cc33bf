/*
 * rollout_int.h — what the files of lib/rollout share and nobody else sees:
 * a small fast deterministic random number generator (the fleet generator
 * and the expansion of fleet files into hosts draw from it; the engine
 * itself never draws), and the readers of the values that fleet and plan
 * files have in common — durations ("90s", "5m", "24h", "3d"), shares and
 * fractions (0.25 or "25%"), bounded decimal numbers and labels — each of
 * which reports a bad value at its file:line:col.
 */
#ifndef RINGFENCE_LIB_ROLLOUT_INT_H
#define RINGFENCE_LIB_ROLLOUT_INT_H

#include <stdint.h>

#include "ringfence/rollout.h"
#include "yaml/yamldoc.h"

/* ---- random numbers ------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: fast, small state, and the same
 * stream for the same seed on every platform (no rand(), no libc state). */
typedef struct rfrollout_rng {
    uint64_t s[4];
} rfrollout_rng;

/* splitmix64 step: also a good 64-bit mixer of (seed, index) pairs. */
static inline uint64_t rfrollout_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Seed a generator; `stream` separates independent uses of one seed (the
 * sensor mix, the offline hosts, the generated tenants) so that changing
 * one part of a fleet file does not reshuffle the others. */
static inline void rfrollout_rng_seed(rfrollout_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ rfrollout_mix64(stream);
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ull;
        r->s[i] = rfrollout_mix64(x);
    }
}

static inline uint64_t rfrollout_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rfrollout_rng_next(rfrollout_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rfrollout_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rfrollout_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n) for n >= 1 (multiply-shift on the top 32 bits; the
 * bias is below 2^-32 * n, immaterial for n <= 2^25). */
static inline uint32_t rfrollout_rng_below(rfrollout_rng *r, uint32_t n)
{
    return (uint32_t)(((rfrollout_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, 1), 53 bits. */
static inline double rfrollout_rng_unit(rfrollout_rng *r)
{
    return (double)(rfrollout_rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- values of fleet and plan files ----------------------------------------- */

/* Read a whole YAML file (at most RF_MAX_SOURCE_BYTES) and parse it. RF_E_IO
 * for a missing or unreadable file. Caller frees *out with rfyaml_free. */
rf_rc rfrollout_load_doc(const char *path, rfyaml_doc **out, rf_err *err) RF_WUR;

/* A duration: a plain integer (seconds) or a string of number-unit pairs
 * with units s, m, h, d ("90s", "5m", "1h30m", "3d"), in [lo, hi] seconds. */
rf_rc rfrollout_duration(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                         uint32_t lo, uint32_t hi, uint32_t *out, rf_err *err) RF_WUR;

/* A finite decimal number (integer or float, no hex/octal/inf/nan) in [lo, hi]. */
rf_rc rfrollout_number(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                       double lo, double hi, double *out, rf_err *err) RF_WUR;

/* A share or fraction in [0, 1]: a number, or a percentage string "25%". */
rf_rc rfrollout_fraction(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                         double *out, rf_err *err) RF_WUR;

/* A label (tenant, group, wave, fleet or plan name): 1 to RF_NAME_MAX - 1
 * characters from A-Z a-z 0-9 _ . - % +. Copied into out (RF_NAME_MAX bytes). */
rf_rc rfrollout_label(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                      char *out, rf_err *err) RF_WUR;

/* 1 if s (NUL-terminated within RF_NAME_MAX bytes) is a valid label. */
int rfrollout_label_valid(const char *s);

#endif
