/*
 * cjson.c — strict JSON reading and canonical JSON writing for lib/tuf.
 *
 * Every signature in TUF covers the canonical form of a "signed" object, so
 * the client and the repository must produce exactly the bytes every other
 * TUF implementation produces: OLPC canonical JSON as securesystemslib writes
 * it. Object keys sorted by their bytes, no whitespace, integers in decimal,
 * strings written byte for byte with only '"' and '\\' escaped by a
 * backslash (control characters and non-ASCII pass through raw), and no real
 * numbers at all.
 *
 * Metadata arrives from the network, so the reader is strict: jansson parses
 * the whole buffer as one value with duplicate keys, "\u0000" in strings,
 * integers outside int64 and trailing bytes all refused, and real numbers are
 * refused here afterwards (canonical JSON cannot carry them, so a document
 * holding one could never be verified). Nesting is bounded by jansson's
 * parser (JSON_PARSER_MAX_DEPTH), which also bounds the recursion below.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tuf/tuf_int.h"

/* Nesting accepted by rftuf_cjson. jansson's parser stops at
 * JSON_PARSER_MAX_DEPTH (2048) levels, so everything rftuf_json_parse
 * accepts is within this; the bound exists for values built in code, where
 * it also stops a cycle from recursing without end. */
#define CJSON_MAX_DEPTH (JSON_PARSER_MAX_DEPTH + 2)

static const char *kind_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown value";
}

/* 1 if v or anything inside it is a real number. depth is bounded by the
 * parser that built v (rftuf_json_parse only calls this on parsed values). */
static int has_real(const json_t *v)
{
    if (json_is_real(v))
        return 1;
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++)
            if (has_real(json_array_get(v, i)))
                return 1;
    } else if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)v, key, m)
        {
            if (has_real(m))
                return 1;
        }
    }
    return 0;
}

rf_rc rftuf_json_parse(const uint8_t *buf, size_t len, const char *what, json_t **out,
                       rf_err *err)
{
    if (!out || (!buf && len))
        return rf_err_set(err, RF_E_USAGE, what, 0, 0, "rftuf_json_parse: NULL argument");
    json_error_t jerr;
    /* Without JSON_ALLOW_NUL, "\u0000" is refused; without
     * JSON_DISABLE_EOF_CHECK, anything but whitespace after the value is. */
    json_t *v = json_loadb(buf ? (const char *)buf : "", len,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v) {
        rf_rc rc = json_error_code(&jerr) == json_error_out_of_memory ? RF_E_NOMEM
                                                                       : RF_E_PARSE;
        return rf_err_set(err, rc, what, jerr.line > 0 ? (uint32_t)jerr.line : 0,
                          jerr.column > 0 ? (uint32_t)jerr.column : 0, "invalid JSON: %s",
                          jerr.text);
    }
    if (has_real(v)) {
        json_decref(v);
        return rf_err_set(err, RF_E_PARSE, what, 0, 0,
                          "holds a real number, which canonical JSON cannot represent "
                          "(only integers are allowed)");
    }
    *out = v;
    return RF_OK;
}

/* One object member during sorting. */
typedef struct member {
    const char *key;
    size_t len;
    const json_t *val;
} member;

/* Byte order; a key that is a prefix of another sorts first. */
static int member_cmp(const void *a, const void *b)
{
    const member *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* A JSON string: '"' and '\\' get a backslash, every other byte is copied. */
static void put_string(rf_buf *out, const char *s, size_t len)
{
    rf_buf_append(out, "\"", 1);
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            rf_buf_append(out, s + run, i - run);
            rf_buf_append(out, "\\", 1);
            run = i; /* the quote or backslash itself goes with the next run */
        }
    }
    rf_buf_append(out, s + run, len - run);
    rf_buf_append(out, "\"", 1);
}

static rf_rc put_value(const json_t *v, rf_buf *out, unsigned depth, rf_err *err)
{
    if (depth > CJSON_MAX_DEPTH)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                          "canonical JSON: nested more than %d levels deep", CJSON_MAX_DEPTH);
    switch (json_typeof(v)) {
    case JSON_NULL: rf_buf_append(out, "null", 4); return RF_OK;
    case JSON_TRUE: rf_buf_append(out, "true", 4); return RF_OK;
    case JSON_FALSE: rf_buf_append(out, "false", 5); return RF_OK;
    case JSON_INTEGER:
        rf_buf_printf(out, "%lld", (long long)json_integer_value(v));
        return RF_OK;
    case JSON_STRING:
        put_string(out, json_string_value(v), json_string_length(v));
        return RF_OK;
    case JSON_REAL:
        return rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                          "canonical JSON cannot represent the real number %g",
                          json_real_value(v));
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        rf_buf_append(out, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                rf_buf_append(out, ",", 1);
            rf_rc rc = put_value(json_array_get(v, i), out, depth + 1, err);
            if (rc != RF_OK)
                return rc;
        }
        rf_buf_append(out, "]", 1);
        return RF_OK;
    }
    case JSON_OBJECT: {
        /* jansson iterates in hash or insertion order: collect and sort. */
        size_t n = json_object_size(v);
        member *ms = NULL;
        if (n) {
            ms = calloc(n, sizeof(*ms));
            if (!ms)
                return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0,
                                  "canonical JSON: out of memory sorting %zu keys", n);
        }
        size_t i = 0;
        const char *key;
        size_t klen;
        json_t *m;
        json_object_keylen_foreach((json_t *)v, key, klen, m)
        {
            if (i == n)
                break; /* cannot happen: size and iteration agree */
            ms[i].key = key;
            ms[i].len = klen;
            ms[i].val = m;
            i++;
        }
        if (i > 1)
            qsort(ms, i, sizeof(*ms), member_cmp);
        rf_rc rc = RF_OK;
        rf_buf_append(out, "{", 1);
        for (size_t j = 0; j < i; j++) {
            if (j)
                rf_buf_append(out, ",", 1);
            put_string(out, ms[j].key, ms[j].len);
            rf_buf_append(out, ":", 1);
            if ((rc = put_value(ms[j].val, out, depth + 1, err)) != RF_OK)
                break;
        }
        free(ms);
        if (rc != RF_OK)
            return rc;
        rf_buf_append(out, "}", 1);
        return RF_OK;
    }
    }
    return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "canonical JSON: %s has an unknown type",
                      kind_name(v));
}

rf_rc rftuf_cjson(const json_t *v, rf_buf *out, rf_err *err)
{
    if (!v || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rftuf_cjson: NULL argument");
    rf_rc rc = put_value(v, out, 1, err);
    if (rc != RF_OK)
        return rc;
    if (out->oom)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "canonical JSON: out of memory");
    return RF_OK;
}
