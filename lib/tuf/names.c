/*
 * names.c — how TUF role and target names become file names and URL parts.
 * The client (the names it stores and fetches under) and the repository (the
 * names it stages and publishes under) must agree byte for byte, so both
 * take them from here: one percent-encoding, one "NAME.json".
 */
#include <stdlib.h>
#include <string.h>

#include "tuf/tuf_int.h"

char *rftuf_quote(const char *s, int keep_slash)
{
    static const char hexd[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(n * 3 + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        int safe = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                   (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '~' ||
                   ch == '-' || (keep_slash && ch == '/');
        if (safe) {
            o[j++] = (char)ch;
        } else {
            o[j++] = '%';
            o[j++] = hexd[ch >> 4];
            o[j++] = hexd[ch & 15];
        }
    }
    o[j] = 0;
    return o;
}

char *rftuf_role_file(const char *role)
{
    char *q = rftuf_quote(role, 0);
    if (!q)
        return NULL;
    rf_buf o;
    rf_buf_init(&o);
    rf_buf_printf(&o, "%s.json", q);
    free(q);
    return rf_buf_take(&o);
}
