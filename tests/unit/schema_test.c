/*
 * schema_test.c — the content workspace (lib/schema): loading the ws1
 * fixture workspace from tests/data/yaml (order, paths, lookups, a manifest
 * naming a type the workspace lacks), workspace-level errors naming both
 * files, and every document-level error class with its exact line:col.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringfence/schema.h"
#include "ringfence/util.h"

#define WS(x) RF_TEST_DATA "/yaml/" x

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static void test_load_ws1(void **state)
{
    (void)state;
    rf_workspace *ws = NULL;
    rf_err err;
    rf_rc rc = rf_workspace_load(WS("ws1"), &ws, &err);
    if (rc)
        fail_msg("%s: %s:%u:%u: %s", rf_strerror(rc), err.file, err.line, err.col, err.msg);
    assert_string_equal(ws->dir, WS("ws1"));
    /* .hidden.yaml and notes.txt are not loaded; files come in name order. */
    assert_int_equal(ws->ntypes, 2);
    const rf_template_type *t = &ws->types[0];
    assert_string_equal(t->name, "ipc_named_pipe");
    assert_int_equal(t->version, 1);
    assert_int_equal(t->nfields, 5);
    assert_true(ends_with(t->file, "ws1/types/ipc_named_pipe.yaml"));
    assert_int_equal(t->line, 2);
    assert_string_equal(t->fields[2].name, "parent_pid");
    assert_int_equal(t->fields[2].type, RF_TYPE_INT);
    assert_int_equal(t->fields[2].line, 8);
    assert_int_equal(t->fields[4].type, RF_TYPE_STRING);
    assert_int_equal(rf_template_field_index(t, "command_line"), 4);
    assert_int_equal(rf_template_field_index(t, "pipe_name"), 0);
    assert_int_equal(rf_template_field_index(t, "nope"), -1);
    assert_int_equal(ws->types[1].version, 2);
    assert_int_equal(ws->types[1].nfields, 2);
    assert_true(ends_with(ws->types[1].file, "ipc_named_pipe_v2.yml"));

    assert_ptr_equal(rf_workspace_find_type(ws, "ipc_named_pipe", 2), &ws->types[1]);
    assert_null(rf_workspace_find_type(ws, "ipc_named_pipe", 3));
    assert_null(rf_workspace_find_type(ws, "other", 1));

    assert_int_equal(ws->nsensors, 2);
    const rf_sensor_manifest *m = rf_workspace_find_sensor(ws, "7.11.18110");
    assert_ptr_equal(m, &ws->sensors[0]);
    assert_int_equal(m->nsupports, 2);
    assert_true(ends_with(m->file, "ws1/sensors/a_7.11.yaml"));
    const rf_sensor_support *s = rf_sensor_find_support(m, "ipc_named_pipe", 1);
    assert_non_null(s);
    assert_int_equal(s->inputs, 4);
    assert_int_equal(s->line, 4);
    /* A manifest may name a type the workspace lacks (a retired type). */
    s = rf_sensor_find_support(m, "retired_type", 3);
    assert_non_null(s);
    assert_int_equal(s->inputs, 2);
    assert_null(rf_sensor_find_support(m, "ipc_named_pipe", 2));
    m = rf_workspace_find_sensor(ws, "7.12.1-beta+build_5");
    assert_non_null(m);
    assert_int_equal(rf_sensor_find_support(m, "ipc_named_pipe", 2)->inputs, 2);
    assert_null(rf_workspace_find_sensor(ws, "7.13"));
    rf_workspace_free(ws);
}

static void load_fails(const char *dir, rf_rc want, const char *file_suffix, uint32_t line,
                       uint32_t col, const char *sub)
{
    rf_workspace *ws = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_workspace_load(dir, &ws, &err);
    if (rc != want || err.line != line || err.col != col || !strstr(err.msg, sub) ||
        !ends_with(err.file, file_suffix))
        fail_msg("expected %s at %s:%u:%u containing '%s'; got %s at %s:%u:%u: %s",
                 rf_strerror(want), file_suffix, line, col, sub, rf_strerror(rc), err.file,
                 err.line, err.col, err.msg);
    assert_null(ws);
}

static void test_load_errors(void **state)
{
    (void)state;
    load_fails(WS("does_not_exist"), RF_E_IO, "does_not_exist", 0, 0, "cannot open");
    load_fails(WS("ws1/types/ipc_named_pipe.yaml"), RF_E_IO, "ipc_named_pipe.yaml", 0, 0,
               "not a directory");
    load_fails(WS("ws_typesfile"), RF_E_IO, "ws_typesfile/types", 0, 0, "cannot open folder");
    /* Same (name, version) twice: the second file, naming the first. */
    load_fails(WS("ws_duptype"), RF_E_SCHEMA, "ws_duptype/types/c.yaml", 2, 7,
               "template type 'proc' version 1 is already defined in ");
    load_fails(WS("ws_duptype"), RF_E_SCHEMA, "c.yaml", 2, 7, "ws_duptype/types/a.yaml:1");
    load_fails(WS("ws_dupsensor"), RF_E_SCHEMA, "ws_dupsensor/sensors/two.yaml", 3, 17,
               "sensor_version '1.0' is already defined in ");
    load_fails(WS("ws_dupsensor"), RF_E_SCHEMA, "two.yaml", 3, 17, "sensors/one.yaml:1");
    load_fails(WS("ws_wrongfolder"), RF_E_SCHEMA, "ws_wrongfolder/sensors/t.yaml", 1, 7,
               "does not belong in sensors/");
    load_fails(WS("ws_badfile"), RF_E_SCHEMA, "ws_badfile/types/bad.yaml", 6, 21,
               "field type must be 'string' or 'int'; found 'float'");
}

static void test_load_empty_folder(void **state)
{
    (void)state;
    /* No types/ and no sensors/: an empty workspace, not an error. */
    rf_workspace *ws = NULL;
    rf_err err;
    assert_int_equal(rf_workspace_load(WS("channels"), &ws, &err), RF_OK);
    assert_int_equal(ws->ntypes, 0);
    assert_int_equal(ws->nsensors, 0);
    rf_workspace_free(ws);
}

/* Add one document to a fresh workspace, expecting an error. */
static void add_fails(const char *doc, rf_rc want, uint32_t line, uint32_t col, const char *sub)
{
    rf_workspace *ws = NULL;
    assert_int_equal(rf_workspace_new(&ws), RF_OK);
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_workspace_add_yaml(ws, "doc.yaml", doc, strlen(doc), &err);
    if (rc != want || err.line != line || err.col != col || !strstr(err.msg, sub))
        fail_msg("expected %s at %u:%u containing '%s'; got %s at %u:%u: %s",
                 rf_strerror(want), line, col, sub, rf_strerror(rc), err.line, err.col,
                 err.msg);
    assert_string_equal(err.file, "doc.yaml");
    /* Nothing half-added. */
    assert_int_equal(ws->ntypes, 0);
    assert_int_equal(ws->nsensors, 0);
    rf_workspace_free(ws);
}

static void test_type_errors(void **state)
{
    (void)state;
    add_fails("kind: TemplateType\nname: t\nversion: 1\nfields: [{name: a, type: int}]\n"
              "extra: 1\n",
              RF_E_SCHEMA, 5, 1,
              "unknown key 'extra' in a TemplateType; expected one of: kind, name, version, "
              "fields");
    add_fails("kind: TemplateType\nname: t\nversion: 1\n", RF_E_SCHEMA, 1, 1,
              "missing required key 'fields' in a TemplateType");
    add_fails("kind: TemplateType\nname: t\nversion: 1\nfields: []\n", RF_E_SCHEMA, 4, 9,
              "'fields' is empty");
    add_fails("kind: TemplateType\nname: t\nversion: 1\nfields: {a: int}\n", RF_E_SCHEMA, 4, 9,
              "'fields' must be a list; found a mapping");
    add_fails("kind: TemplateType\nname: Bad-Name\nversion: 1\nfields: [{name: a, type: int}]\n",
              RF_E_SCHEMA, 2, 7, "template type name 'Bad-Name' is not a valid name");
    add_fails("kind: TemplateType\nname: t\nversion: 0\nfields: [{name: a, type: int}]\n",
              RF_E_SCHEMA, 3, 10, "'version' is 0, outside the allowed range 1..4294967295");
    add_fails("kind: TemplateType\nname: t\nversion: '1'\nfields: [{name: a, type: int}]\n",
              RF_E_SCHEMA, 3, 10, "quoted string '1'");
    add_fails("kind: TemplateType\nname: t\nversion: 4294967296\nfields: [{name: a, type: int}]\n",
              RF_E_SCHEMA, 3, 10, "outside the allowed range");
    add_fails("kind: TemplateType\nname: t\nversion: 1\nfields:\n  - {name: a, type: int}\n"
              "  - {name: b, type: int}\n  - {name: a, type: string}\n",
              RF_E_SCHEMA, 7, 12, "duplicate field name 'a' (first at line 5)");
    add_fails("kind: TemplateType\nname: t\nversion: 1\nfields:\n  - {name: a, type: int, x: 1}\n",
              RF_E_SCHEMA, 5, 26, "unknown key 'x' in a field; expected one of: name, type");
    add_fails("kind: TemplateType\nname: t\nversion: 1\nfields:\n  - {name: a}\n", RF_E_SCHEMA,
              5, 5, "missing required key 'type' in a field");
    add_fails("kind: TemplateType\nname: t\nversion: 1\nfields:\n  - a\n", RF_E_SCHEMA, 5, 5,
              "each entry of 'fields' must be a mapping; found a string");
    add_fails("kind: TemplateType\nname: t\nversion: 1\nfields:\n  - {name: A1, type: int}\n",
              RF_E_SCHEMA, 5, 12, "field name 'A1' is not a valid name");
}

static void test_too_many_fields(void **state)
{
    (void)state;
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b, "kind: TemplateType\nname: wide\nversion: 1\nfields:\n");
    for (int i = 0; i <= RF_MAX_FIELDS; i++)
        rf_buf_printf(&b, "  - {name: f%d, type: int}\n", i);
    char *doc = rf_buf_take(&b);
    assert_non_null(doc);
    add_fails(doc, RF_E_LIMIT, 5, 3, "257 fields; a template type has at most 256");
    free(doc);
}

static void test_sensor_errors(void **state)
{
    (void)state;
    add_fails("kind: SensorManifest\nsensor_version: '7.11 beta'\ntemplate_types: []\n",
              RF_E_SCHEMA, 2, 17, "sensor_version '7.11 beta' is not valid");
    add_fails("kind: SensorManifest\nsensor_version: 7\ntemplate_types: []\n", RF_E_SCHEMA, 2,
              17, "'sensor_version' must be a string; found an integer");
    add_fails("kind: SensorManifest\nsensor_version: '1'\ntemplate_types:\n"
              "  - {name: t, version: 1, inputs: 257}\n",
              RF_E_SCHEMA, 4, 35, "'inputs' is 257, outside the allowed range 0..256");
    add_fails("kind: SensorManifest\nsensor_version: '1'\ntemplate_types:\n"
              "  - {name: t, version: 1, inputs: -1}\n",
              RF_E_SCHEMA, 4, 35, "outside the allowed range");
    add_fails("kind: SensorManifest\nsensor_version: '1'\ntemplate_types:\n"
              "  - {name: t, version: 1, inputs: 3}\n  - {name: u, version: 1, inputs: 3}\n"
              "  - {name: t, version: 1, inputs: 4}\n",
              RF_E_SCHEMA, 6, 5, "template type 't' version 1 is listed twice (first at line 4)");
    add_fails("kind: SensorManifest\nsensor_version: '1'\ntemplate_types:\n"
              "  - {name: t, version: 1}\n",
              RF_E_SCHEMA, 4, 5, "missing required key 'inputs' in a template_types entry");
    add_fails("kind: SensorManifest\nsensor_version: '1'\n", RF_E_SCHEMA, 1, 1,
              "missing required key 'template_types'");
    add_fails("kind: SensorManifest\nsensor_version: '1'\ntemplate_types: []\nfoo: 1\n",
              RF_E_SCHEMA, 4, 1, "unknown key 'foo' in a SensorManifest");
}

static void test_document_errors(void **state)
{
    (void)state;
    add_fails("kind: Channel\nchannel: 1\n", RF_E_SCHEMA, 1, 7,
              "a Channel document is not part of the workspace");
    add_fails("kind: Template\n", RF_E_SCHEMA, 1, 7,
              "unknown kind 'Template'; expected TemplateType or SensorManifest");
    add_fails("- kind: TemplateType\n", RF_E_SCHEMA, 1, 1, "must be a mapping; found a list");
    add_fails("name: t\n", RF_E_SCHEMA, 1, 1, "missing required key 'kind'");
    add_fails("", RF_E_PARSE, 1, 1, "empty document");
    add_fails("kind: TemplateType\nname: &n t\n", RF_E_PARSE, 2, 7, "anchors");
}

static void test_add_in_memory(void **state)
{
    (void)state;
    rf_workspace *ws = NULL;
    assert_int_equal(rf_workspace_new(&ws), RF_OK);
    assert_string_equal(ws->dir, "");
    const char *t = "kind: TemplateType\nname: t\nversion: 1\nfields: [{name: a, type: int}]\n";
    rf_err err;
    assert_int_equal(rf_workspace_add_yaml(ws, "mem1", t, strlen(t), &err), RF_OK);
    assert_int_equal(ws->ntypes, 1);
    assert_string_equal(ws->types[0].file, "mem1");
    /* The same type again is refused and names the first. */
    assert_int_equal(rf_workspace_add_yaml(ws, "mem2", t, strlen(t), &err), RF_E_SCHEMA);
    assert_string_equal(err.file, "mem2");
    assert_non_null(strstr(err.msg, "already defined in mem1:1"));
    assert_int_equal(ws->ntypes, 1);
    const char *m = "kind: SensorManifest\nsensor_version: '2.0'\n"
                    "template_types: [{name: t, version: 1, inputs: 0}]\n";
    assert_int_equal(rf_workspace_add_yaml(ws, "mem3", m, strlen(m), &err), RF_OK);
    assert_int_equal(ws->nsensors, 1);
    assert_int_equal(ws->sensors[0].supports[0].inputs, 0);
    /* Without a file name the document's file is "" (and messages say <input>). */
    const char *t2 = "kind: TemplateType\nname: t\nversion: 2\nfields: [{name: a, type: int}]\n";
    assert_int_equal(rf_workspace_add_yaml(ws, NULL, t2, strlen(t2), &err), RF_OK);
    assert_string_equal(ws->types[1].file, "");
    assert_int_equal(rf_workspace_add_yaml(ws, NULL, "x: [", 4, &err), RF_E_PARSE);
    assert_string_equal(err.file, "<input>");
    assert_int_equal(rf_workspace_add_yaml(NULL, "f", t2, strlen(t2), &err), RF_E_USAGE);
    rf_workspace_free(ws);
    rf_workspace_free(NULL);
}

static void test_name_valid(void **state)
{
    (void)state;
    assert_true(rf_name_valid("a"));
    assert_true(rf_name_valid("ipc_named_pipe_2"));
    char s[RF_NAME_MAX + 2];
    memset(s, 'a', sizeof(s));
    s[RF_NAME_MAX] = 0;
    assert_true(rf_name_valid(s));
    s[RF_NAME_MAX] = 'a';
    s[RF_NAME_MAX + 1] = 0;
    assert_false(rf_name_valid(s));
    assert_false(rf_name_valid(""));
    assert_false(rf_name_valid(NULL));
    assert_false(rf_name_valid("Abc"));
    assert_false(rf_name_valid("a-b"));
    assert_false(rf_name_valid("a b"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_ws1),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_load_empty_folder),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_too_many_fields),
        cmocka_unit_test(test_sensor_errors),
        cmocka_unit_test(test_document_errors),
        cmocka_unit_test(test_add_in_memory),
        cmocka_unit_test(test_name_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
