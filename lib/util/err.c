/*
 * err.c — result-code names and the error-detail record (ringfence.h).
 * Messages are formatted with vsnprintf into fixed buffers so that reporting
 * an error can never itself fail or allocate.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ringfence/ringfence.h"

const char *rf_strerror(rf_rc rc)
{
    switch (rc) {
    case RF_OK: return "RF_OK";
    case RF_E_NOMEM: return "RF_E_NOMEM";
    case RF_E_IO: return "RF_E_IO";
    case RF_E_USAGE: return "RF_E_USAGE";
    case RF_E_PARSE: return "RF_E_PARSE";
    case RF_E_SCHEMA: return "RF_E_SCHEMA";
    case RF_E_FORMAT: return "RF_E_FORMAT";
    case RF_E_CHECKSUM: return "RF_E_CHECKSUM";
    case RF_E_CAPABILITY: return "RF_E_CAPABILITY";
    case RF_E_PATTERN: return "RF_E_PATTERN";
    case RF_E_LIMIT: return "RF_E_LIMIT";
    case RF_E_NOTFOUND: return "RF_E_NOTFOUND";
    case RF_E_INPUT: return "RF_E_INPUT";
    case RF_E_REJECTED: return "RF_E_REJECTED";
    case RF_E_INTERNAL: return "RF_E_INTERNAL";
    case RF_E_UNSUPPORTED: return "RF_E_UNSUPPORTED";
    case RF_E_SIGNATURE: return "RF_E_SIGNATURE";
    case RF_E_EXPIRED: return "RF_E_EXPIRED";
    case RF_E_ROLLBACK: return "RF_E_ROLLBACK";
    case RF_E_NETWORK: return "RF_E_NETWORK";
    }
    return "RF_E_UNKNOWN";
}

void rf_err_clear(rf_err *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof(*err));
    err->offset = RF_NO_OFFSET;
}

static void set_file(rf_err *err, const char *file)
{
    if (!file) {
        err->file[0] = '\0';
        return;
    }
    size_t n = strlen(file);
    if (n >= sizeof(err->file)) {
        /* Keep the end of a long path: the file name matters most. */
        const char *tail = file + n - (sizeof(err->file) - 4);
        snprintf(err->file, sizeof(err->file), "...%s", tail);
    } else {
        memcpy(err->file, file, n + 1);
    }
}

rf_rc rf_err_set(rf_err *err, rf_rc rc, const char *file, uint32_t line,
                 uint32_t col, const char *fmt, ...)
{
    if (!err)
        return rc;
    err->rc = rc;
    set_file(err, file);
    err->line = line;
    err->col = col;
    err->offset = RF_NO_OFFSET;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return rc;
}

rf_rc rf_err_set_at(rf_err *err, rf_rc rc, const char *file, uint64_t offset,
                    const char *fmt, ...)
{
    if (!err)
        return rc;
    err->rc = rc;
    set_file(err, file);
    err->line = 0;
    err->col = 0;
    err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return rc;
}

void rf_err_format(const rf_err *err, char *buf, size_t n)
{
    if (n == 0)
        return;
    if (!err) {
        buf[0] = '\0';
        return;
    }
    if (err->file[0] && err->line && err->col)
        snprintf(buf, n, "%s:%u:%u: %s", err->file, err->line, err->col, err->msg);
    else if (err->file[0] && err->line)
        snprintf(buf, n, "%s:%u: %s", err->file, err->line, err->msg);
    else if (err->file[0] && err->offset != RF_NO_OFFSET)
        snprintf(buf, n, "%s: at byte %llu: %s", err->file,
                 (unsigned long long)err->offset, err->msg);
    else if (err->file[0])
        snprintf(buf, n, "%s: %s", err->file, err->msg);
    else if (err->offset != RF_NO_OFFSET)
        snprintf(buf, n, "at byte %llu: %s", (unsigned long long)err->offset, err->msg);
    else
        snprintf(buf, n, "%s", err->msg);
}
