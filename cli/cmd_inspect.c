/*
 * cmd_inspect.c — `ringfence inspect FILE.rfc [--json]`: show what a channel
 * file carries — header facts, then every instance with its criteria and
 * embedded tests — as text for a person or as JSON for a script.
 *
 * The file is read with rf_channel_read, the same total reader the agent
 * uses, so `inspect` shows exactly what a sensor would load, and any byte
 * string is either shown or refused with a one-line error (exit 1). Strings
 * from the file are printed through cli_put_safe (text) or jansson (JSON),
 * never raw to the terminal.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "ringfence/channel.h"
#include "ringfence/util.h"

static const char usage[] =
    "usage: ringfence inspect FILE.rfc [--json]\n"
    "\n"
    "Read a channel file with the fleet's reader (every count, offset and\n"
    "the body SHA-256 checked) and show its header (channel, template type\n"
    "and version, content version, inputs required, instances, SHA-256) and\n"
    "every instance: action, severity, each criterion (field name, field\n"
    "index, kind, values, nocase) and its embedded tests.\n"
    "\n"
    "Options:\n"
    "  --json       print the same as one JSON document\n"
    "  -C DIR       accepted for symmetry; inspect needs no workspace\n"
    "  -h, --help   this help\n"
    "\n"
    "Exit codes: 0 shown, 1 the file is not a valid channel file, 2 usage or\n"
    "I/O error.\n"
    "\n"
    "Example:\n"
    "  ringfence inspect c291-v5.rfc\n";

/* A value for a person: strings in single quotes (as YAML writes them, '
 * doubled), control bytes escaped; integers in decimal. */
static void put_value(const rf_value *v)
{
    if (v->type == RF_VAL_INT) {
        printf("%" PRId64, v->i);
        return;
    }
    if (v->type != RF_VAL_STRING || !v->s) {
        printf("null");
        return;
    }
    fputc('\'', stdout);
    for (uint32_t i = 0; i < v->len; i++) {
        if (v->s[i] == '\'')
            fputs("''", stdout);
        else
            cli_put_safe(stdout, v->s + i, 1);
    }
    fputc('\'', stdout);
}

static void print_text(const char *path, const rf_channel *ch, size_t size,
                       const char *file_hex, const char *body_hex)
{
    printf("channel file ");
    cli_puts_safe(stdout, path);
    printf("\n  channel           %u\n", ch->channel);
    printf("  template type     ");
    cli_puts_safe(stdout, ch->template_type);
    printf(" v%u\n", ch->template_version);
    printf("  content version   %u\n", ch->content_version);
    printf("  inputs required   %u\n", rf_channel_inputs_required(ch));
    printf("  instances         %u\n", ch->ninstances);
    printf("  size              %zu bytes\n", size);
    printf("  sha256            %s\n", file_hex);
    printf("  body sha256       %s\n", body_hex);

    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        printf("\ninstance ");
        cli_puts_safe(stdout, in->id);
        printf("  (%s, %s, %u criteri%s, %u test%s)\n", rf_action_name(in->action),
               rf_severity_name(in->severity), in->ncrits, in->ncrits == 1 ? "on" : "a",
               in->ntests, in->ntests == 1 ? "" : "s");
        if (in->ncrits == 0)
            printf("  (no criteria: matches every event)\n");
        for (uint32_t k = 0; k < in->ncrits; k++) {
            const rf_crit *cr = &in->crits[k];
            printf("  [%3u] %-22s %-9s ", cr->field, cr->field_name ? cr->field_name : "?",
                   rf_crit_kind_name(cr->kind));
            int list = cr->kind == RF_CRIT_ONE_OF || cr->kind == RF_CRIT_RANGE;
            if (list)
                fputc('[', stdout);
            for (uint32_t v = 0; v < cr->nvals; v++) {
                if (v)
                    fputs(", ", stdout);
                put_value(&cr->vals[v]);
            }
            if (list)
                fputc(']', stdout);
            if (cr->flags & RF_CRIT_NOCASE)
                printf("  nocase");
            fputc('\n', stdout);
        }
        for (uint32_t t = 0; t < in->ntests; t++) {
            const rf_test *te = &in->tests[t];
            printf("  test %u: expect %s:", t + 1, te->expect_match ? "match" : "no_match");
            if (te->ninputs == 0)
                printf(" (empty event)");
            for (uint32_t k = 0; k < te->ninputs; k++) {
                printf(" [%u]=", te->inputs[k].field);
                put_value(&te->inputs[k].v);
            }
            fputc('\n', stdout);
        }
    }
}

/* jansson wants UTF-8 strings; the reader guarantees it, json_stringn checks. */
static json_t *json_value(const rf_value *v)
{
    if (v->type == RF_VAL_INT)
        return json_integer((json_int_t)v->i);
    if (v->type == RF_VAL_STRING && v->s)
        return json_stringn(v->s, v->len);
    return json_null();
}

/* json_object_set_new that remembers a failure instead of losing it. */
static void put(json_t *obj, const char *key, json_t *val, int *oom)
{
    if (!val || json_object_set_new(obj, key, val) != 0)
        *oom = 1;
}

static void append(json_t *arr, json_t *val, int *oom)
{
    if (!val || json_array_append_new(arr, val) != 0)
        *oom = 1;
}

static json_t *build_json(const char *path, const rf_channel *ch, size_t size,
                          const char *file_hex, const char *body_hex)
{
    int oom = 0;
    json_t *root = json_object();
    if (!root)
        return NULL;
    put(root, "file", json_string(path), &oom);
    put(root, "channel", json_integer(ch->channel), &oom);
    put(root, "template_type", json_string(ch->template_type), &oom);
    put(root, "template_version", json_integer(ch->template_version), &oom);
    put(root, "content_version", json_integer(ch->content_version), &oom);
    put(root, "inputs_required", json_integer(rf_channel_inputs_required(ch)), &oom);
    put(root, "ninstances", json_integer(ch->ninstances), &oom);
    put(root, "size", json_integer((json_int_t)size), &oom);
    put(root, "sha256", json_string(file_hex), &oom);
    put(root, "body_sha256", json_string(body_hex), &oom);
    json_t *insts = json_array();
    put(root, "instances", insts, &oom);
    for (uint32_t i = 0; insts && i < ch->ninstances && !oom; i++) {
        const rf_instance *in = &ch->instances[i];
        json_t *o = json_object();
        append(insts, o, &oom);
        if (!o)
            break;
        put(o, "id", json_string(in->id), &oom);
        put(o, "action", json_string(rf_action_name(in->action)), &oom);
        put(o, "severity", json_string(rf_severity_name(in->severity)), &oom);
        json_t *crits = json_array();
        put(o, "criteria", crits, &oom);
        for (uint32_t k = 0; crits && k < in->ncrits && !oom; k++) {
            const rf_crit *cr = &in->crits[k];
            json_t *co = json_object();
            append(crits, co, &oom);
            if (!co)
                break;
            put(co, "field", json_string(cr->field_name ? cr->field_name : ""), &oom);
            put(co, "index", json_integer(cr->field), &oom);
            put(co, "kind", json_string(rf_crit_kind_name(cr->kind)), &oom);
            put(co, "type", json_string(cr->vtype == RF_VAL_INT ? "int" : "string"), &oom);
            put(co, "nocase", json_boolean(cr->flags & RF_CRIT_NOCASE), &oom);
            json_t *vals = json_array();
            put(co, "values", vals, &oom);
            for (uint32_t v = 0; vals && v < cr->nvals; v++)
                append(vals, json_value(&cr->vals[v]), &oom);
        }
        json_t *tests = json_array();
        put(o, "tests", tests, &oom);
        for (uint32_t t = 0; tests && t < in->ntests && !oom; t++) {
            const rf_test *te = &in->tests[t];
            json_t *to = json_object();
            append(tests, to, &oom);
            if (!to)
                break;
            put(to, "expect", json_string(te->expect_match ? "match" : "no_match"), &oom);
            json_t *ins = json_array();
            put(to, "inputs", ins, &oom);
            for (uint32_t k = 0; ins && k < te->ninputs; k++) {
                json_t *io = json_object();
                append(ins, io, &oom);
                if (!io)
                    break;
                put(io, "index", json_integer(te->inputs[k].field), &oom);
                put(io, "value", json_value(&te->inputs[k].v), &oom);
            }
        }
    }
    if (oom) {
        json_decref(root);
        return NULL;
    }
    return root;
}

int cmd_inspect(int argc, char **argv, const char *workspace)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int as_json = 0;
    int c;
    (void)workspace;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":C:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = 1; break;
        case 'C': break;
        case 'h': return cli_help(usage);
        default: return cli_option_error("inspect", argv, c);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("inspect", "expected one FILE.rfc, got %d arguments",
                               argc - optind);
    const char *path = argv[optind];
    int ec = cli_check_file(path, "channel file");
    if (ec)
        return ec;

    uint8_t *buf = NULL;
    size_t len = 0;
    rf_channel *ch = NULL;
    json_t *root = NULL;
    char *text = NULL;
    rf_err err;
    rf_err_clear(&err);

    rf_rc rc = rf_file_read(path, RF_MAX_CHANNEL_BYTES, &buf, &len, &err);
    if (rc == RF_OK)
        rc = rf_channel_read(buf, len, path, &ch, &err);
    if (rc != RF_OK) {
        cli_error_rf(&err);
        ec = cli_exit_for_rc(rc);
        goto out;
    }

    uint8_t digest[32];
    char file_hex[65], body_hex[65];
    rf_sha256(buf, len, digest);
    rf_hex(digest, sizeof(digest), file_hex);
    rf_hex(ch->body_sha256, sizeof(ch->body_sha256), body_hex);

    if (!as_json) {
        print_text(path, ch, len, file_hex, body_hex);
        ec = RF_EXIT_OK;
        goto out;
    }
    root = build_json(path, ch, len, file_hex, body_hex);
    if (root)
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!text) {
        cli_error("%s: cannot render the channel as JSON (out of memory or not UTF-8)", path);
        ec = RF_EXIT_USAGE;
        goto out;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    ec = RF_EXIT_OK;

out:
    free(text);
    json_decref(root);
    rf_channel_free(ch);
    free(buf);
    return ec;
}
