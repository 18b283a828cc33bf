/*
 * ringfence.h — the result codes and error details shared by every module of
 * libringfence. Every fallible public function returns an rf_rc and, when the
 * caller passes an rf_err, fills it with a message a person can act on (file,
 * line, column, what was expected). Results are written through
 * out-parameters and only on success.
 */
#ifndef RINGFENCE_RINGFENCE_H
#define RINGFENCE_RINGFENCE_H

#include <stddef.h>
#include <stdint.h>

#include "ringfence/limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RF_WUR __attribute__((warn_unused_result))
#define RF_PRINTF(a, b) __attribute__((format(printf, a, b)))

#define RF_VERSION_STRING "0.1.0"

/* Result codes. Explicit numbers; never renumbered, only appended. */
typedef enum rf_rc {
    RF_OK = 0,
    RF_E_NOMEM = 1,      /* an allocation failed */
    RF_E_IO = 2,         /* a file could not be opened, read or written */
    RF_E_USAGE = 3,      /* the caller passed an invalid argument */
    RF_E_PARSE = 4,      /* input is not well formed (YAML, JSON, syntax) */
    RF_E_SCHEMA = 5,     /* well formed, but breaks the content model */
    RF_E_FORMAT = 6,     /* a binary channel file is malformed */
    RF_E_CHECKSUM = 7,   /* a digest does not match the bytes it covers */
    RF_E_CAPABILITY = 8, /* content needs an input a sensor does not supply */
    RF_E_PATTERN = 9,    /* a pattern does not compile in the matching engine */
    RF_E_LIMIT = 10,     /* a size, count or complexity limit was exceeded */
    RF_E_NOTFOUND = 11,  /* a named thing (type, sensor, file) does not exist */
    RF_E_INPUT = 12,     /* an event supplies fewer inputs than content needs */
    RF_E_REJECTED = 13,  /* the validator rejected the content */
    RF_E_INTERNAL = 14,  /* a bug in ringfence itself */
    RF_E_UNSUPPORTED = 15, /* a format or feature version this build lacks */
    RF_E_SIGNATURE = 16, /* too few valid signatures from the keys a role trusts */
    RF_E_EXPIRED = 17,   /* signed metadata is past its expiry time */
    RF_E_ROLLBACK = 18,  /* a version older than (or inconsistent with) what is trusted */
    RF_E_NETWORK = 19,   /* a download failed, was refused or ran out of time */
} rf_rc;

/* The name of a result code ("RF_E_PARSE"); never NULL. */
const char *rf_strerror(rf_rc rc);

/*
 * Error detail. Caller-owned, usually on the stack; every function that takes
 * an rf_err * accepts NULL. Filled only when the function fails.
 */
typedef struct rf_err {
    rf_rc rc;
    char file[RF_ERR_FILE_MAX]; /* "" when not about a file */
    uint32_t line;              /* 1-based; 0 when unknown */
    uint32_t col;               /* 1-based; 0 when unknown */
    uint64_t offset;            /* byte offset in a binary input; RF_NO_OFFSET when none */
    char msg[RF_ERR_MSG_MAX];
} rf_err;

#define RF_NO_OFFSET UINT64_MAX

/* Clear an error detail to "no error". NULL-safe. */
void rf_err_clear(rf_err *err);

/*
 * Record an error: sets every field of *err (NULL-safe) and returns rc, so
 * callers can write `return rf_err_set(err, RF_E_PARSE, file, line, col, ...)`.
 * file may be NULL.
 */
rf_rc rf_err_set(rf_err *err, rf_rc rc, const char *file, uint32_t line,
                 uint32_t col, const char *fmt, ...) RF_PRINTF(6, 7);

/* Same, for binary inputs: offset instead of line and column. */
rf_rc rf_err_set_at(rf_err *err, rf_rc rc, const char *file, uint64_t offset,
                    const char *fmt, ...) RF_PRINTF(5, 6);

/*
 * Format an error for a person: "file:line:col: msg", "file: at byte N: msg"
 * or just "msg". Always NUL-terminates buf (when n > 0).
 */
void rf_err_format(const rf_err *err, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
