/*
 * compile.h — Channel source (YAML, kind: Channel) to rf_channel, and from
 * there to a channel file with rf_channel_write(). Field names are resolved to
 * indices through the workspace's template type, so compiling needs the
 * workspace. Output is reproducible: identical input gives identical bytes.
 */
#ifndef RINGFENCE_COMPILE_H
#define RINGFENCE_COMPILE_H

#include "ringfence/channel.h"
#include "ringfence/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Parse a Channel document held in memory. `file` names it in messages.
 * Errors: RF_E_PARSE (not YAML, bad UTF-8, anchors/aliases, too deep),
 * RF_E_SCHEMA (unknown/duplicate keys, wrong types, unknown template type or
 * field, criterion that does not fit the field's type, duplicate ids, ...),
 * RF_E_LIMIT. Every message names file, line and column.
 * On success *out is a new channel (with `source` and line numbers set) the
 * caller frees with rf_channel_free.
 */
rf_rc rf_compile_parse(const rf_workspace *ws, const char *file, const char *buf,
                       size_t len, rf_channel **out, rf_err *err) RF_WUR;

/* Same, reading the file (size checked against RF_MAX_SOURCE_BYTES first). */
rf_rc rf_compile_file(const rf_workspace *ws, const char *path, rf_channel **out,
                      rf_err *err) RF_WUR;

#ifdef __cplusplus
}
#endif
#endif
