/*
 * yamldoc.h — the one YAML loader of libringfence (internal to the library:
 * lib/schema and lib/compile use it, nobody else parses YAML).
 *
 * rfyaml_parse() turns one YAML document into a small tree of nodes built
 * from libyaml's event stream, with a 1-based line and column on every node.
 * It refuses everything a ringfence document never needs and an attacker
 * could use: anchors and aliases (alias bombs), tags other than the YAML core
 * ones, nesting deeper than RF_MAX_YAML_DEPTH, more than RF_MAX_YAML_NODES
 * nodes, duplicate mapping keys, non-scalar mapping keys, bytes that are not
 * UTF-8, NUL characters (raw or escaped), empty files and second documents.
 *
 * Plain scalars are resolved with the YAML 1.2 core schema (null, bool, int,
 * float, otherwise string); quoted and block scalars are always strings. The
 * typed accessors below turn a node into a C value or an error message that
 * names the file, line and column and says what was expected.
 *
 * Ownership: a document owns every node, string and array reachable from it;
 * rfyaml_free() releases them all at once (nodes live in an arena).
 */
#ifndef RINGFENCE_LIB_YAMLDOC_H
#define RINGFENCE_LIB_YAMLDOC_H

#include <stddef.h>
#include <stdint.h>

#include "ringfence/ringfence.h"

typedef enum rfyaml_kind {
    RFYAML_SCALAR = 1,
    RFYAML_SEQ = 2,
    RFYAML_MAP = 3,
} rfyaml_kind;

/* What a scalar means: plain scalars by the core schema, others are STR. */
typedef enum rfyaml_stype {
    RFYAML_STR = 1,
    RFYAML_INT = 2,   /* looks like an integer (range not yet checked) */
    RFYAML_BOOL = 3,
    RFYAML_NULL = 4,
    RFYAML_FLOAT = 5,
} rfyaml_stype;

typedef struct rfyaml_node rfyaml_node;

typedef struct rfyaml_pair {
    const rfyaml_node *key; /* always a scalar */
    const rfyaml_node *val;
} rfyaml_pair;

struct rfyaml_node {
    rfyaml_kind kind;
    rfyaml_stype stype; /* scalars only */
    int plain;          /* scalars: 1 if written without quotes or block style */
    uint32_t line;      /* 1-based */
    uint32_t col;       /* 1-based, in characters */
    const char *str;    /* scalars: NUL-terminated, no embedded NUL, UTF-8 */
    size_t len;         /* scalars: strlen(str) */
    uint32_t n;         /* sequences: items; mappings: pairs */
    const rfyaml_node *const *items; /* sequences */
    const rfyaml_pair *pairs;        /* mappings, in document order */
};

typedef struct rfyaml_doc rfyaml_doc;

/*
 * Parse buf[0..len) (need not be NUL-terminated) as exactly one YAML
 * document. `file` (may be NULL) names it in messages and is copied.
 * Errors: RF_E_PARSE (syntax, UTF-8, NUL, anchors/aliases, tags, depth, node
 * count, empty or second document), RF_E_SCHEMA (duplicate key), RF_E_NOMEM.
 * On success *out is owned by the caller (rfyaml_free).
 */
rf_rc rfyaml_parse(const char *file, const char *buf, size_t len,
                   rfyaml_doc **out, rf_err *err) RF_WUR;

void rfyaml_free(rfyaml_doc *d);

/* The root node (never NULL for a parsed document) and the file name. */
const rfyaml_node *rfyaml_root(const rfyaml_doc *d);
const char *rfyaml_file(const rfyaml_doc *d);

/* Record an error at node n (its line and column) in d's file; returns rc. */
rf_rc rfyaml_error(const rfyaml_doc *d, const rfyaml_node *n, rf_err *err,
                   rf_rc rc, const char *fmt, ...) RF_PRINTF(5, 6);

/* "a mapping", "a list", "a string", "an integer", "null", ... */
const char *rfyaml_describe(const rfyaml_node *n);

/*
 * Copy s into buf (size n >= 8) for quoting in a one-line message: control
 * characters become '?', long strings are cut and end in "...". Returns buf.
 */
const char *rfyaml_show(const char *s, char *buf, size_t n);

/* 1 if n is a null scalar (~, null, or nothing at all). */
int rfyaml_is_null(const rfyaml_node *n);

/*
 * Typed accessors. `what` names the value in the message ("'name'",
 * "value of 'equals'"). On failure they return RF_E_SCHEMA at n's position.
 */
/* A mapping / a sequence. */
rf_rc rfyaml_want_map(const rfyaml_doc *d, const rfyaml_node *n,
                      const char *what, rf_err *err) RF_WUR;
rf_rc rfyaml_want_seq(const rfyaml_doc *d, const rfyaml_node *n,
                      const char *what, rf_err *err) RF_WUR;
/* A string scalar (quoted, block, or a plain scalar that is not a number,
 * bool or null). *out borrows from the document. */
rf_rc rfyaml_str(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                 const char **out, size_t *len, rf_err *err) RF_WUR;
/* A plain decimal integer in [lo, hi] (a quoted "5" is a string). */
rf_rc rfyaml_int(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                 int64_t lo, int64_t hi, int64_t *out, rf_err *err) RF_WUR;
/* A plain true or false. */
rf_rc rfyaml_bool(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                  int *out, rf_err *err) RF_WUR;

/* The value for key in mapping m, or NULL (also when m is not a mapping). */
const rfyaml_node *rfyaml_get(const rfyaml_node *m, const char *key);
/* The key node for key in mapping m, or NULL. */
const rfyaml_node *rfyaml_get_key(const rfyaml_node *m, const char *key);

/*
 * The value for a required key: "missing required key 'fields' in
 * <context>" (RF_E_SCHEMA) at the mapping's position when absent.
 */
rf_rc rfyaml_require(const rfyaml_doc *d, const rfyaml_node *m, const char *key,
                     const char *context, const rfyaml_node **out,
                     rf_err *err) RF_WUR;

/*
 * Check that mapping m has no key outside keys[0..nkeys): "unknown key 'x'
 * in <context>; expected one of: a, b, c" (RF_E_SCHEMA) at the key.
 */
rf_rc rfyaml_only_keys(const rfyaml_doc *d, const rfyaml_node *m,
                       const char *context, const char *const *keys,
                       size_t nkeys, rf_err *err) RF_WUR;

#endif
