/*
 * rollout_int.h — what the files of lib/rollout share and nobody else sees:
 * the seeding of the random numbers the fleet generator and the expansion
 * of fleet files draw (the engine itself never draws), and the readers of the values that fleet and plan
 * files have in common — durations ("90s", "5m", "24h", "3d"), shares and
 * fractions (0.25 or "25%"), bounded decimal numbers and labels — each of
 * which reports a bad value at its file:line:col.
 */
#ifndef RINGFENCE_LIB_ROLLOUT_INT_H
#define RINGFENCE_LIB_ROLLOUT_INT_H

#include <stdint.h>

#include "ringfence/rollout.h"
#include "ringfence/util.h"
#include "yaml/yamldoc.h"

/* ---- random numbers ------------------------------------------------------- */

/* Seed rf_rng (util.h) for one use of a fleet's seed; `stream` separates
 * independent uses (the sensor mix, the offline hosts, the generated
 * tenants) so that changing one part of a fleet file does not reshuffle the
 * others. */
static inline void rfrollout_rng_seed(rf_rng *r, uint64_t seed, uint64_t stream)
{
    rf_rng_seed(r, (seed ^ rf_mix64(stream)) + RF_GOLDEN64);
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
