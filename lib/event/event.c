/*
 * event.c — one JSON line into an rf_event (event.h), and back.
 *
 * A line is exactly one JSON object (trailing whitespace, "\r" included, is
 * allowed; anything else after it is not) with only the keys template_type
 * (string), sensor_version (string) and inputs (array of at most
 * RF_MAX_INPUTS strings, integers or nulls). jansson parses it, with
 * duplicate keys rejected and "\u0000" allowed inside strings: a sensor input
 * is just bytes, so an embedded NUL is kept (its length comes from
 * json_string_length). Strings are bounded only by the line limit.
 *
 * The event and everything it points to live in ONE allocation, so
 * rf_event_free is a single free and a parsed event cannot leak pieces.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ringfence/event.h"
#include "ringfence/util.h"

static const char *json_kind(const json_t *v)
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
    return "unknown";
}

/* A top-level string member: a C string, so no embedded NUL. */
static rf_rc get_name(const json_t *v, const char *key, const char **out, size_t *len,
                      rf_err *err)
{
    if (!json_is_string(v))
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "'%s' must be a string, not a %s",
                          key, json_kind(v));
    *out = json_string_value(v);
    *len = json_string_length(v);
    if (memchr(*out, '\0', *len))
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "'%s' contains a NUL character", key);
    return RF_OK;
}

rf_rc rf_event_parse(const char *line, size_t len, rf_event **out, rf_err *err)
{
    if (!out || (!line && len))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_event_parse: NULL argument");
    if (len > RF_MAX_EVENT_LINE)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                          "event line is %zu bytes, more than the limit of %u", len,
                          (unsigned)RF_MAX_EVENT_LINE);
    json_error_t jerr;
    json_t *root = json_loadb(line ? line : "", len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                              &jerr);
    if (!root) {
        enum json_error_code code = json_error_code(&jerr);
        rf_rc rc = RF_E_PARSE;
        if (code == json_error_numeric_overflow || code == json_error_duplicate_key)
            rc = RF_E_SCHEMA;
        else if (code == json_error_out_of_memory)
            rc = RF_E_NOMEM;
        return rf_err_set(err, rc, NULL, jerr.line > 0 ? (uint32_t)jerr.line : 0,
                          jerr.column > 0 ? (uint32_t)jerr.column : 0, "event: %s", jerr.text);
    }

    rf_rc rc = RF_OK;
    const char *tt = NULL, *sv = NULL;
    size_t ttlen = 0, svlen = 0;
    const json_t *inputs = NULL;
    if (!json_is_object(root)) {
        rc = rf_err_set(err, RF_E_PARSE, NULL, 0, 0, "event is a %s, not an object",
                        json_kind(root));
        goto out;
    }
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(root, key, klen, v)
    {
        if (klen == 13 && memcmp(key, "template_type", 13) == 0) {
            if ((rc = get_name(v, "template_type", &tt, &ttlen, err)) != RF_OK)
                goto out;
        } else if (klen == 14 && memcmp(key, "sensor_version", 14) == 0) {
            if ((rc = get_name(v, "sensor_version", &sv, &svlen, err)) != RF_OK)
                goto out;
        } else if (klen == 6 && memcmp(key, "inputs", 6) == 0) {
            if (!json_is_array(v)) {
                rc = rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                                "'inputs' must be an array, not a %s", json_kind(v));
                goto out;
            }
            inputs = v;
        } else {
            /* The key may hold a NUL: print only up to it, bounded. */
            rc = rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                            "unknown key '%.64s' (allowed: template_type, sensor_version, "
                            "inputs)",
                            key);
            goto out;
        }
    }
    if (!inputs) {
        rc = rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "event has no 'inputs' array");
        goto out;
    }
    size_t n = json_array_size(inputs);
    if (n > RF_MAX_INPUTS) {
        rc = rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                        "event has %zu inputs, more than the limit of %u", n,
                        (unsigned)RF_MAX_INPUTS);
        goto out;
    }
    /* Size the single allocation; strings get a NUL after them for convenience. */
    size_t bytes = sizeof(rf_event) + n * sizeof(rf_input);
    if (tt)
        bytes += ttlen + 1;
    if (sv)
        bytes += svlen + 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(inputs, i);
        if (json_is_string(e)) {
            bytes += json_string_length(e) + 1; /* < line length, so no overflow */
        } else if (!json_is_integer(e) && !json_is_null(e)) {
            rc = rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                            "inputs[%zu] is a %s: only strings, integers and null are allowed",
                            i, json_kind(e));
            goto out;
        }
    }
    rf_event *ev = calloc(1, bytes);
    if (!ev) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    ev->ninputs = (uint32_t)n;
    ev->inputs = (rf_input *)(ev + 1);
    char *p = (char *)(ev->inputs + n);
    if (tt) {
        memcpy(p, tt, ttlen + 1);
        ev->template_type = p;
        p += ttlen + 1;
    }
    if (sv) {
        memcpy(p, sv, svlen + 1);
        ev->sensor_version = p;
        p += svlen + 1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(inputs, i);
        rf_input *in = &ev->inputs[i];
        if (json_is_string(e)) {
            size_t sl = json_string_length(e);
            memcpy(p, json_string_value(e), sl);
            p[sl] = '\0';
            in->type = RF_VAL_STRING;
            in->s = p;
            in->len = (uint32_t)sl;
            p += sl + 1;
        } else if (json_is_integer(e)) {
            in->type = RF_VAL_INT;
            in->i = (int64_t)json_integer_value(e);
        } else {
            in->type = RF_VAL_ABSENT;
        }
    }
    *out = ev;
out:
    json_decref(root);
    return rc;
}

void rf_event_free(rf_event *ev)
{
    free(ev); /* one allocation: see the top of this file */
}

rf_rc rf_event_to_json(const rf_event *ev, char **out)
{
    if (!ev || !out || (ev->ninputs && !ev->inputs))
        return RF_E_USAGE;
    rf_rc rc = RF_E_NOMEM;
    json_t *o = json_object(), *arr = json_array();
    if (!o || !arr)
        goto out;
    if (ev->template_type &&
        json_object_set_new(o, "template_type", json_string(ev->template_type)) != 0)
        goto out_bad;
    if (ev->sensor_version &&
        json_object_set_new(o, "sensor_version", json_string(ev->sensor_version)) != 0)
        goto out_bad;
    for (uint32_t i = 0; i < ev->ninputs; i++) {
        const rf_input *in = &ev->inputs[i];
        json_t *e;
        switch (in->type) {
        case RF_VAL_STRING:
            if (!in->s && in->len)
                goto out_bad;
            e = json_stringn(in->s ? in->s : "", in->len); /* NULL if not UTF-8 */
            break;
        case RF_VAL_INT:
            e = json_integer((json_int_t)in->i);
            break;
        case RF_VAL_ABSENT:
            e = json_null();
            break;
        default:
            goto out_bad;
        }
        if (json_array_append_new(arr, e) != 0)
            goto out_bad;
    }
    if (json_object_set(o, "inputs", arr) != 0)
        goto out;
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        goto out;
    *out = s;
    rc = RF_OK;
    goto out;
out_bad:
    /* A value jansson refused: invalid UTF-8 or a malformed input. */
    rc = RF_E_SCHEMA;
out:
    json_decref(arr);
    json_decref(o);
    return rc;
}
