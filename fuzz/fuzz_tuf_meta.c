/*
 * fuzz_tuf_meta.c — libFuzzer harness for the TUF metadata reader
 * (rftuf_meta_parse) and what the client does right after it with hostile
 * metadata: verify signatures with the keys the document itself lists, and
 * match delegated path patterns. The first byte picks the expected role type;
 * the rest is the document. Any input must give RF_OK or an error, never a
 * crash, a leak or undefined behaviour.
 */
#include <string.h>

#include "fuzz.h"
#include "tuf/tuf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    rftuf_role_type t = (rftuf_role_type)(data[0] % 4);
    rftuf_meta *m = NULL;
    if (rftuf_meta_parse(data + 1, size - 1, t, "fuzz", &m, NULL) != RF_OK)
        return 0;
    const json_t *s = m->signed_;
    if (t == RFTUF_ROOT) {
        const json_t *r = json_object_get(json_object_get(s, "roles"), "root");
        (void)!rftuf_meta_verify(m, json_object_get(s, "keys"), json_object_get(r, "keyids"),
                                 json_integer_value(json_object_get(r, "threshold")), "root",
                                 NULL);
    }
    if (t == RFTUF_TARGETS) {
        const json_t *d = json_object_get(s, "delegations");
        const json_t *roles = json_object_get(d, "roles");
        for (size_t i = 0; i < json_array_size(roles); i++) {
            const json_t *r = json_array_get(roles, i);
            (void)!rftuf_meta_verify(m, json_object_get(d, "keys"),
                                     json_object_get(r, "keyids"),
                                     json_integer_value(json_object_get(r, "threshold")),
                                     "delegated", NULL);
            const json_t *paths = json_object_get(r, "paths");
            for (size_t j = 0; j < json_array_size(paths); j++) {
                const char *p = json_string_value(json_array_get(paths, j));
                (void)rftuf_path_match(p, "channels/c291.rfc");
                (void)rftuf_path_match(p, p);
            }
            const json_t *pfx = json_object_get(r, "path_hash_prefixes");
            if (pfx)
                (void)rftuf_hash_prefix_match(pfx, "channels/c291.rfc");
        }
    }
    rftuf_meta_free(m);
    return 0;
}
