/*
 * fuzz_tuf_json.c — libFuzzer harness for lib/tuf's JSON reader and canonical
 * writer (cjson.c), through which every byte of downloaded TUF metadata
 * passes before any signature is checked. Any input must give RF_OK or an
 * error, never a crash; a document that parses must have a canonical form,
 * and that form must be a fixed point: read back and written again, it is
 * the same bytes, and the value read back equals the first one.
 *
 * Canonical JSON writes control characters inside strings raw, which strict
 * JSON (and so rftuf_json_parse) refuses; before reading the canonical form
 * back, those bytes are turned into \u00XX escapes. Canonical JSON has no
 * bytes below 0x20 outside strings, so nothing else changes.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
/* The internal header of lib/tuf; the harness build only has include/. */
#include "../lib/tuf/tuf_int.h"

/* Canonical text with raw control bytes escaped, as strict JSON wants. */
static void escape_controls(const rf_buf *in, rf_buf *out)
{
    for (size_t i = 0; i < in->len; i++) {
        if (in->data[i] < 0x20)
            rf_buf_printf(out, "\\u%04x", (unsigned)in->data[i]);
        else
            rf_buf_append(out, in->data + i, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = NULL, *v2 = NULL;
    rf_err err;
    rf_buf c1, strict, c2;
    rf_buf_init(&c1);
    rf_buf_init(&strict);
    rf_buf_init(&c2);
    if (rftuf_json_parse(data, size, "fuzz", &v, &err) != RF_OK)
        return 0;
    rf_rc rc = rftuf_cjson(v, &c1, &err);
    if (rc == RF_E_NOMEM)
        goto out;
    if (rc != RF_OK)
        abort(); /* whatever parses has a canonical form */
    escape_controls(&c1, &strict);
    if (strict.oom)
        goto out;
    rc = rftuf_json_parse(strict.data, strict.len, "canonical", &v2, &err);
    if (rc == RF_E_NOMEM)
        goto out;
    if (rc != RF_OK)
        abort(); /* the canonical form reads back */
    if (!json_equal(v, v2))
        abort(); /* ... as the same value */
    rc = rftuf_cjson(v2, &c2, &err);
    if (rc == RF_E_NOMEM)
        goto out;
    if (rc != RF_OK || c2.len != c1.len || memcmp(c1.data, c2.data, c1.len) != 0)
        abort(); /* ... and writes the same bytes */
out:
    rf_buf_free(&c2);
    rf_buf_free(&strict);
    rf_buf_free(&c1);
    json_decref(v2);
    json_decref(v);
    return 0;
}
