/*
 * yaml_test.c — the one YAML loader (lib/yaml): node tree and positions,
 * scalar resolution, every refusal (anchors, aliases, alias bombs, deep
 * nesting, duplicate keys, bad UTF-8, NUL, tags, second and empty documents,
 * syntax errors) with its exact line and column, and the typed accessors'
 * results and messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringfence/util.h"
#include "yaml/yamldoc.h"

static rfyaml_doc *parse_ok(const char *s)
{
    rfyaml_doc *d = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rfyaml_parse("t.yaml", s, strlen(s), &d, &err);
    if (rc != RF_OK)
        fail_msg("unexpected error %s: %u:%u: %s", rf_strerror(rc), err.line, err.col,
                 err.msg);
    assert_non_null(d);
    return d;
}

/* Parse buf[0..len) expecting failure rc at line:col with msg containing sub. */
static void parse_fails_n(const char *buf, size_t len, rf_rc rc, uint32_t line, uint32_t col,
                          const char *sub)
{
    rfyaml_doc *d = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc got = rfyaml_parse("t.yaml", buf, len, &d, &err);
    if (got != rc || err.line != line || err.col != col || !strstr(err.msg, sub))
        fail_msg("expected %s at %u:%u containing '%s'; got %s at %u:%u: %s",
                 rf_strerror(rc), line, col, sub, rf_strerror(got), err.line, err.col,
                 err.msg);
    assert_null(d);
    assert_string_equal(err.file, "t.yaml");
}

static void parse_fails(const char *s, rf_rc rc, uint32_t line, uint32_t col, const char *sub)
{
    parse_fails_n(s, strlen(s), rc, line, col, sub);
}

static void test_tree_and_positions(void **state)
{
    (void)state;
    rfyaml_doc *d = parse_ok("# comment\n"
                             "kind: Thing\n"
                             "list:\n"
                             "  - a\n"
                             "  - 'b'\n"
                             "map: {x: 1, y: -2}\n"
                             "empty:\n");
    const rfyaml_node *r = rfyaml_root(d);
    assert_int_equal(r->kind, RFYAML_MAP);
    assert_int_equal(r->n, 4);
    assert_int_equal(r->line, 2);
    assert_int_equal(r->col, 1);
    assert_string_equal(r->pairs[0].key->str, "kind");
    assert_string_equal(r->pairs[0].val->str, "Thing");
    assert_int_equal(r->pairs[0].val->line, 2);
    assert_int_equal(r->pairs[0].val->col, 7);
    const rfyaml_node *l = rfyaml_get(r, "list");
    assert_non_null(l);
    assert_int_equal(l->kind, RFYAML_SEQ);
    assert_int_equal(l->n, 2);
    assert_string_equal(l->items[0]->str, "a");
    assert_true(l->items[0]->plain);
    assert_int_equal(l->items[1]->line, 5);
    assert_int_equal(l->items[1]->col, 5);
    assert_false(l->items[1]->plain);
    const rfyaml_node *m = rfyaml_get(r, "map");
    assert_int_equal(m->kind, RFYAML_MAP);
    assert_int_equal(rfyaml_get(m, "y")->stype, RFYAML_INT);
    assert_int_equal(rfyaml_get(m, "y")->col, 16);
    assert_true(rfyaml_is_null(rfyaml_get(r, "empty")));
    assert_null(rfyaml_get(r, "missing"));
    assert_non_null(rfyaml_get_key(r, "map"));
    assert_int_equal(rfyaml_get_key(r, "map")->line, 6);
    assert_string_equal(rfyaml_file(d), "t.yaml");
    rfyaml_free(d);
}

static void test_scalar_resolution(void **state)
{
    (void)state;
    rfyaml_doc *d = parse_ok("[5, '5', \"5\", true, True, ~, null, 1.5, 7.11.18110, x, "
                             "0x1F, 1e3, .inf, !!str 7, \"\"]");
    const rfyaml_node *s = rfyaml_root(d);
    static const rfyaml_stype want[] = {RFYAML_INT, RFYAML_STR, RFYAML_STR, RFYAML_BOOL,
                                        RFYAML_BOOL, RFYAML_NULL, RFYAML_NULL, RFYAML_FLOAT,
                                        RFYAML_STR, RFYAML_STR, RFYAML_INT, RFYAML_FLOAT,
                                        RFYAML_FLOAT, RFYAML_STR, RFYAML_STR};
    assert_int_equal(s->n, sizeof(want) / sizeof(want[0]));
    for (uint32_t i = 0; i < s->n; i++) {
        if (s->items[i]->stype != want[i])
            fail_msg("item %u ('%s'): stype %d, want %d", i, s->items[i]->str,
                     s->items[i]->stype, want[i]);
    }
    assert_string_equal(s->items[14]->str, "");
    rfyaml_free(d);
    /* Block scalars are strings, whatever they hold. */
    d = parse_ok("b: |\n  12\n");
    const rfyaml_node *b = rfyaml_get(rfyaml_root(d), "b");
    assert_int_equal(b->stype, RFYAML_STR);
    assert_false(b->plain);
    assert_string_equal(b->str, "12\n");
    rfyaml_free(d);
}

static void test_anchor_refused(void **state)
{
    (void)state;
    parse_fails("a: 1\nb: &anc [1, 2]\n", RF_E_PARSE, 2, 4, "anchors (&anc) are not allowed");
    parse_fails("a: &s x\n", RF_E_PARSE, 1, 4, "not allowed in ringfence documents");
}

static void test_alias_refused(void **state)
{
    (void)state;
    /* libyaml's event parser does not resolve aliases, so an alias to an
     * undefined anchor still arrives as an alias event — and is refused. */
    parse_fails("a: 1\nb: *ref\n", RF_E_PARSE, 2, 4, "aliases (*ref) are not allowed");
}

static void test_billion_laughs(void **state)
{
    (void)state;
    const char *bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
                       "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                       "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                       "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                       "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                       "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    parse_fails(bomb, RF_E_PARSE, 1, 4, "anchors (&a)");
}

static char *repeat(const char *a, size_t na, const char *b, size_t nb)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la * na + lb * nb + 1);
    assert_non_null(s);
    size_t o = 0;
    for (size_t i = 0; i < na; i++, o += la)
        memcpy(s + o, a, la);
    for (size_t i = 0; i < nb; i++, o += lb)
        memcpy(s + o, b, lb);
    s[o] = 0;
    return s;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* 10,000 levels of flow lists: refused at level 33, no stack overflow. */
    char *s = repeat("[", 10000, "]", 10000);
    parse_fails(s, RF_E_PARSE, 1, RF_MAX_YAML_DEPTH + 1, "nesting is deeper than 32");
    free(s);
    /* Flow mappings. */
    s = repeat("{a: ", 10000, "}", 10000);
    parse_fails(s, RF_E_PARSE, 1, 4 * RF_MAX_YAML_DEPTH + 1, "nesting");
    free(s);
    /* Block lists: "- - - - ... x". */
    s = repeat("- ", 10000, "x", 1);
    parse_fails(s, RF_E_PARSE, 1, 2 * RF_MAX_YAML_DEPTH + 1, "nesting");
    free(s);
    /* Exactly the limit is fine. */
    s = repeat("[", RF_MAX_YAML_DEPTH, "]", RF_MAX_YAML_DEPTH);
    rfyaml_doc *d = parse_ok(s);
    rfyaml_free(d);
    free(s);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    parse_fails("a: 1\nb: 2\na: 3\n", RF_E_SCHEMA, 3, 1,
                "duplicate key 'a' (first at line 1, again at line 3)");
    parse_fails("top:\n  x: 1\n  y: 2\n  x: 3\n", RF_E_SCHEMA, 4, 3, "duplicate key 'x'");
    /* Of several duplicates, the one repeated first is named. */
    parse_fails("b: 1\na: 1\nc: 1\na: 2\nb: 2\n", RF_E_SCHEMA, 4, 1, "duplicate key 'a'");
    /* Quoted and plain spellings of one key are one key. */
    parse_fails("{k: 1, 'k': 2}", RF_E_SCHEMA, 1, 8, "duplicate key 'k'");
}

static void test_bad_utf8(void **state)
{
    (void)state;
    parse_fails("a: 1\nb: x\xffy\n", RF_E_PARSE, 2, 5, "invalid UTF-8");
    /* Columns count characters: "é" is one column. */
    parse_fails("a: 1\nb: \xc3\xa9\xc3\n", RF_E_PARSE, 2, 5, "invalid UTF-8");
    /* An overlong encoding and a surrogate. */
    parse_fails("a: \xc0\xaf\n", RF_E_PARSE, 1, 4, "invalid UTF-8");
    parse_fails("a: ok\nbb: \xed\xa0\x80\n", RF_E_PARSE, 2, 5, "invalid UTF-8");
}

static void test_nul(void **state)
{
    (void)state;
    const char raw[] = "a: 1\nb: x\0y\n";
    parse_fails_n(raw, sizeof(raw) - 1, RF_E_PARSE, 2, 5, "NUL byte");
    /* A NUL written as an escape is refused too (strings are C strings). */
    parse_fails("a: 1\nb: \"x\\0y\"\n", RF_E_PARSE, 2, 4, "NUL character");
}

static void test_control_char(void **state)
{
    (void)state;
    /* Valid UTF-8 but not printable: libyaml's reader refuses it; the offset
     * is turned into a line and column. */
    parse_fails("a: 1\nb: x\x01\n", RF_E_PARSE, 2, 5, "control characters");
}

static void test_documents(void **state)
{
    (void)state;
    parse_fails("a: 1\n---\nb: 2\n", RF_E_PARSE, 2, 1, "a second YAML document");
    parse_fails("---\na: 1\n...\n---\nb: 2\n", RF_E_PARSE, 4, 1, "second");
    parse_fails("", RF_E_PARSE, 1, 1, "empty document");
    parse_fails("# only a comment\n\n", RF_E_PARSE, 1, 1, "empty document");
    parse_fails("---\n", RF_E_PARSE, 2, 1, "empty document");
    /* One explicit document is fine. */
    rfyaml_doc *d = parse_ok("---\na: 1\n...\n");
    rfyaml_free(d);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    parse_fails("a: b: c\n", RF_E_PARSE, 1, 5, "mapping values are not allowed");
    parse_fails("a: 1\nb: [1, 2\n", RF_E_PARSE, 3, 1, "YAML syntax error");
    parse_fails("a: 'unterminated\n", RF_E_PARSE, 2, 1, "YAML syntax error");
    parse_fails("a:\n\tb: 1\n", RF_E_PARSE, 2, 1, "YAML syntax error");
}

static void test_tags(void **state)
{
    (void)state;
    parse_fails("a: !foo x\n", RF_E_PARSE, 1, 4, "tag '!foo' is not allowed");
    parse_fails("a: !!binary aGk=\n", RF_E_PARSE, 1, 4, "not allowed");
    parse_fails("a: !!int x\n", RF_E_PARSE, 1, 4, "does not match its tag !!int");
    parse_fails("a: !!map [1]\n", RF_E_PARSE, 1, 4, "cannot be used on a list");
    parse_fails("%TAG !! tag:example.com,2000:\n---\na: !!str x\n", RF_E_PARSE, 3, 4,
                "not allowed");
    rfyaml_doc *d = parse_ok("a: !!str 5\nb: !!int 7\n");
    const rfyaml_node *r = rfyaml_root(d);
    assert_int_equal(rfyaml_get(r, "a")->stype, RFYAML_STR);
    assert_int_equal(rfyaml_get(r, "b")->stype, RFYAML_INT);
    rfyaml_free(d);
}

static void test_complex_key(void **state)
{
    (void)state;
    parse_fails("? [a, b]\n: c\n", RF_E_PARSE, 1, 3, "mapping key must be a plain scalar");
}

static void test_crlf(void **state)
{
    (void)state;
    rfyaml_doc *d = parse_ok("a: 1\r\nb: two\r\n");
    const rfyaml_node *b = rfyaml_get(rfyaml_root(d), "b");
    assert_string_equal(b->str, "two");
    assert_int_equal(b->line, 2);
    rfyaml_free(d);
}

static void test_int_accessor(void **state)
{
    (void)state;
    rfyaml_doc *d = parse_ok("{p: 5, q: '5', n: -3, big: 99999999999999999999, hex: 0x10, "
                             "f: 1.5, s: abc, min: -9223372036854775808}");
    const rfyaml_node *r = rfyaml_root(d);
    rf_err err;
    int64_t v = 0;
    assert_int_equal(rfyaml_int(d, rfyaml_get(r, "p"), "'p'", 1, 10, &v, &err), RF_OK);
    assert_int_equal(v, 5);
    assert_int_equal(rfyaml_int(d, rfyaml_get(r, "n"), "'n'", -5, 5, &v, &err), RF_OK);
    assert_int_equal(v, -3);
    assert_int_equal(rfyaml_int(d, rfyaml_get(r, "min"), "'min'", INT64_MIN, INT64_MAX, &v,
                                &err),
                     RF_OK);
    assert_true(v == INT64_MIN);

    /* A quoted number is a string. */
    v = 42;
    assert_int_equal(rfyaml_int(d, rfyaml_get(r, "q"), "'q'", 1, 10, &v, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "quoted string '5'"));
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 11);
    assert_int_equal(v, 42); /* not written on failure */

    assert_int_equal(rfyaml_int(d, rfyaml_get(r, "p"), "'p'", 6, 10, &v, &err), RF_E_SCHEMA);
    assert_string_equal(err.msg, "'p' is 5, outside the allowed range 6..10");
    assert_int_equal(rfyaml_int(d, rfyaml_get(r, "big"), "'big'", INT64_MIN, INT64_MAX, &v,
                                &err),
                     RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "outside the allowed range"));
    assert_int_equal(rfyaml_int(d, rfyaml_get(r, "hex"), "'hex'", 0, 100, &v, &err),
                     RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "decimal"));
    assert_int_equal(rfyaml_int(d, rfyaml_get(r, "f"), "'f'", 0, 100, &v, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "found a decimal number"));
    assert_int_equal(rfyaml_int(d, rfyaml_get(r, "s"), "'s'", 0, 100, &v, &err), RF_E_SCHEMA);
    rfyaml_free(d);
}

static void test_str_bool_accessors(void **state)
{
    (void)state;
    rfyaml_doc *d = parse_ok("{s: abc, i: 12, t: true, f: false, ts: 'true', l: [1]}");
    const rfyaml_node *r = rfyaml_root(d);
    rf_err err;
    const char *s = NULL;
    size_t len = 0;
    assert_int_equal(rfyaml_str(d, rfyaml_get(r, "s"), "'s'", &s, &len, &err), RF_OK);
    assert_string_equal(s, "abc");
    assert_int_equal(len, 3);
    assert_int_equal(rfyaml_str(d, rfyaml_get(r, "i"), "'i'", &s, &len, &err), RF_E_SCHEMA);
    assert_string_equal(err.msg, "'i' must be a string; found an integer (write it in "
                                 "quotes: '12')");
    assert_int_equal(rfyaml_str(d, rfyaml_get(r, "l"), "'l'", &s, &len, &err), RF_E_SCHEMA);
    assert_string_equal(err.msg, "'l' must be a string; found a list");
    int b = -1;
    assert_int_equal(rfyaml_bool(d, rfyaml_get(r, "t"), "'t'", &b, &err), RF_OK);
    assert_int_equal(b, 1);
    assert_int_equal(rfyaml_bool(d, rfyaml_get(r, "f"), "'f'", &b, &err), RF_OK);
    assert_int_equal(b, 0);
    assert_int_equal(rfyaml_bool(d, rfyaml_get(r, "ts"), "'ts'", &b, &err), RF_E_SCHEMA);
    assert_int_equal(rfyaml_bool(d, rfyaml_get(r, "i"), "'i'", &b, &err), RF_E_SCHEMA);
    rfyaml_free(d);
}

static void test_keys_helpers(void **state)
{
    (void)state;
    rfyaml_doc *d = parse_ok("outer:\n  a: 1\n  zz: 2\n");
    const rfyaml_node *m = rfyaml_get(rfyaml_root(d), "outer");
    static const char *const keys[] = {"a", "b", "c"};
    rf_err err;
    assert_int_equal(rfyaml_only_keys(d, m, "a thing", keys, 3, &err), RF_E_SCHEMA);
    assert_string_equal(err.msg, "unknown key 'zz' in a thing; expected one of: a, b, c");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 3);
    assert_int_equal(rfyaml_only_keys(d, rfyaml_root(d), "root", (const char *const[]){"outer"},
                                      1, &err),
                     RF_OK);
    const rfyaml_node *v = NULL;
    assert_int_equal(rfyaml_require(d, m, "a", "a thing", &v, &err), RF_OK);
    assert_string_equal(v->str, "1");
    assert_int_equal(rfyaml_require(d, m, "fields", "a thing", &v, &err), RF_E_SCHEMA);
    assert_string_equal(err.msg, "missing required key 'fields' in a thing");
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 3);
    char buf[RF_ERR_MSG_MAX + 64];
    rf_err_format(&err, buf, sizeof(buf));
    assert_string_equal(buf, "t.yaml:2:3: missing required key 'fields' in a thing");
    rfyaml_free(d);
}

static void test_show(void **state)
{
    (void)state;
    char b[12];
    assert_string_equal(rfyaml_show("a\nb", b, sizeof(b)), "a?b");
    assert_string_equal(rfyaml_show("abcdefghijklmnop", b, sizeof(b)), "abcdefgh...");
    /* A cut never splits a UTF-8 sequence. */
    assert_string_equal(rfyaml_show("abcdefg\xc3\xa9xyz", b, sizeof(b)), "abcdefg...");
}

static void test_node_limit(void **state)
{
    (void)state;
    /* One list with RF_MAX_YAML_NODES scalars is one node too many. */
    size_t n = RF_MAX_YAML_NODES;
    char *s = malloc(2 * n + 2);
    assert_non_null(s);
    s[0] = '[';
    for (size_t i = 0; i < n; i++) {
        s[1 + 2 * i] = '1';
        s[2 + 2 * i] = ',';
    }
    s[2 * n] = ']';
    s[2 * n + 1] = 0;
    parse_fails(s, RF_E_PARSE, 1, (uint32_t)(2 * n), "more than 4000000 YAML nodes");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tree_and_positions),
        cmocka_unit_test(test_scalar_resolution),
        cmocka_unit_test(test_anchor_refused),
        cmocka_unit_test(test_alias_refused),
        cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_control_char),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_complex_key),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_int_accessor),
        cmocka_unit_test(test_str_bool_accessors),
        cmocka_unit_test(test_keys_helpers),
        cmocka_unit_test(test_show),
        cmocka_unit_test(test_node_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
