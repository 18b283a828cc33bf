/*
 * yaml.c — the one YAML loader (yamldoc.h). libyaml's event parser (which
 * keeps explicit stacks and never recurses) feeds a small node tree; nothing
 * here recurses either, so no document can exhaust the C stack. Everything a
 * ringfence document never needs is refused while the events stream past —
 * an alias is refused at its first appearance, before anything is expanded,
 * and nesting is refused at level RF_MAX_YAML_DEPTH + 1 — so a hostile file
 * costs at most one pass over its bytes.
 *
 * Nodes, strings and child arrays are allocated from one arena per document
 * and released together by rfyaml_free().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ringfence/util.h"
#include "yaml/yamldoc.h"

/* ---- arena ------------------------------------------------------------ */

#define ARENA_CHUNK (64u * 1024u)
#define ARENA_ALIGN (sizeof(max_align_t))

typedef struct chunk {
    struct chunk *next;
    size_t used;
    size_t cap;
    max_align_t data[];
} chunk;

struct rfyaml_doc {
    chunk *chunks;
    char *file;
    const rfyaml_node *root;
};

/* n bytes aligned to `align` (a power of two <= ARENA_ALIGN); strings ask
 * for 1 so that millions of short scalars do not each waste a padding. */
static void *arena_alloc_aligned(rfyaml_doc *d, size_t n, size_t align)
{
    if (n > SIZE_MAX - 2 * ARENA_ALIGN)
        return NULL;
    chunk *c = d->chunks;
    if (c) {
        size_t pad = (align - (c->used & (align - 1))) & (align - 1);
        if (c->cap - c->used >= n + pad) {
            void *p = (char *)c->data + c->used + pad;
            c->used += n + pad;
            return p;
        }
    }
    /* Does not fit: a new chunk, whose start is aligned for anything. */
    size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    chunk *nc = malloc(sizeof(*nc) + cap);
    if (!nc)
        return NULL;
    nc->used = n;
    nc->cap = cap;
    /* A chunk made for one big block goes behind the current one so the
     * space left in the current chunk stays usable. */
    if (c && cap > ARENA_CHUNK) {
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        d->chunks = nc;
    }
    return nc->data;
}

static void *arena_alloc(rfyaml_doc *d, size_t n)
{
    return arena_alloc_aligned(d, n, ARENA_ALIGN);
}

void rfyaml_free(rfyaml_doc *d)
{
    if (!d)
        return;
    chunk *c = d->chunks;
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
    free(d->file);
    free(d);
}

const rfyaml_node *rfyaml_root(const rfyaml_doc *d)
{
    return d->root;
}

const char *rfyaml_file(const rfyaml_doc *d)
{
    return d->file;
}

/* ---- positions and messages ------------------------------------------- */

/* 1-based line and column (in characters) of byte off of buf. The bytes
 * before off are valid UTF-8 whenever this is called. */
static void pos_of(const char *buf, size_t off, uint32_t *line, uint32_t *col)
{
    uint32_t l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == '\n') {
            l++;
            c = 1;
        } else if ((ch & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

const char *rfyaml_show(const char *s, char *buf, size_t n)
{
    if (n < 8) {
        if (n)
            buf[0] = 0;
        return buf;
    }
    size_t max = n - 4, o = 0, i = 0;
    for (; s[i] && o < max; i++)
        buf[o++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i]) {
        /* Do not cut a UTF-8 sequence in half. */
        while (o > 0 && ((unsigned char)buf[o - 1] & 0xC0) == 0x80)
            o--;
        if (o > 0 && (unsigned char)buf[o - 1] >= 0xC0)
            o--;
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

rf_rc rfyaml_error(const rfyaml_doc *d, const rfyaml_node *n, rf_err *err,
                   rf_rc rc, const char *fmt, ...)
{
    if (!err)
        return rc;
    char msg[RF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return rf_err_set(err, rc, d->file, n ? n->line : 1, n ? n->col : 1, "%s", msg);
}

/* ---- scalar resolution (YAML 1.2 core schema) -------------------------- */

static int all_in(const char *s, const char *set)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!strchr(set, *s))
            return 0;
    return 1;
}

static int is_float(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (!strcmp(s, ".inf") || !strcmp(s, ".Inf") || !strcmp(s, ".INF"))
        return 1;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            s++;
            digits++;
        }
    }
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!all_in(s, "0123456789"))
            return 0;
        return 1;
    }
    return *s == 0;
}

static rfyaml_stype resolve_plain(const char *s)
{
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
        !strcmp(s, "NULL"))
        return RFYAML_NULL;
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") ||
        !strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return RFYAML_BOOL;
    const char *t = s;
    if (*t == '+' || *t == '-')
        t++;
    if (all_in(t, "0123456789"))
        return RFYAML_INT;
    if (!strncmp(s, "0o", 2) && all_in(s + 2, "01234567"))
        return RFYAML_INT;
    if (!strncmp(s, "0x", 2) && all_in(s + 2, "0123456789abcdefABCDEF"))
        return RFYAML_INT;
    if (is_float(s) || !strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))
        return RFYAML_FLOAT;
    return RFYAML_STR;
}

/* ---- the event loop ----------------------------------------------------- */

#define CORE_TAG "tag:yaml.org,2002:"

typedef struct frame {
    rfyaml_node *node;       /* the open collection */
    const rfyaml_node **v;   /* its children so far (maps: key, value, ...) */
    uint32_t n;
    uint32_t cap;
} frame;

typedef struct loader {
    rfyaml_doc *d;
    const char *buf;
    size_t len;
    frame stack[RF_MAX_YAML_DEPTH];
    uint32_t depth;
    uint32_t nodes;
    rf_err *err;
} loader;

static rf_rc at_mark(loader *L, yaml_mark_t m, rf_rc rc, const char *fmt, ...)
    RF_PRINTF(4, 5);

static rf_rc at_mark(loader *L, yaml_mark_t m, rf_rc rc, const char *fmt, ...)
{
    if (!L->err)
        return rc;
    char msg[RF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return rf_err_set(L->err, rc, L->d->file, (uint32_t)m.line + 1,
                      (uint32_t)m.column + 1, "%s", msg);
}

static rf_rc nomem(loader *L)
{
    return rf_err_set(L->err, RF_E_NOMEM, L->d->file, 0, 0, "out of memory loading YAML");
}

static rfyaml_node *new_node(loader *L, rfyaml_kind kind, yaml_mark_t m, rf_rc *rc)
{
    if (L->nodes >= RF_MAX_YAML_NODES) {
        *rc = at_mark(L, m, RF_E_PARSE,
                      "document has more than %u YAML nodes (the limit)",
                      (unsigned)RF_MAX_YAML_NODES);
        return NULL;
    }
    rfyaml_node *n = arena_alloc(L->d, sizeof(*n));
    if (!n) {
        *rc = nomem(L);
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->line = (uint32_t)m.line + 1;
    n->col = (uint32_t)m.column + 1;
    L->nodes++;
    *rc = RF_OK;
    return n;
}

static rf_rc check_anchor(loader *L, const yaml_char_t *anchor, yaml_mark_t m)
{
    if (!anchor)
        return RF_OK;
    char b[80];
    return at_mark(L, m, RF_E_PARSE,
                   "anchors (&%s) are not allowed in ringfence documents; "
                   "write the value out in full",
                   rfyaml_show((const char *)anchor, b, sizeof(b)));
}

/* An explicit tag must be one of the YAML core tags: *core is set to its
 * short name ("str", "seq", ...), or NULL when there is no tag. Any other
 * tag is an error. */
static rf_rc check_tag(loader *L, const yaml_char_t *tag, yaml_mark_t m,
                       const char **core)
{
    *core = NULL;
    if (!tag)
        return RF_OK;
    static const char *const ok[] = {"str", "int", "bool", "null", "float", "seq", "map"};
    const char *t = (const char *)tag;
    if (!strncmp(t, CORE_TAG, strlen(CORE_TAG))) {
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
            if (!strcmp(t + strlen(CORE_TAG), ok[i])) {
                *core = ok[i];
                return RF_OK;
            }
    }
    char b[80];
    return at_mark(L, m, RF_E_PARSE,
                   "tag '%s' is not allowed; only the YAML core tags "
                   "(!!str, !!int, !!bool, !!null, !!float, !!seq, !!map) are",
                   rfyaml_show(t, b, sizeof(b)));
}

/* Add a finished node to the open collection (or make it the root). */
static rf_rc attach(loader *L, const rfyaml_node *n)
{
    if (L->depth == 0) {
        L->d->root = n;
        return RF_OK;
    }
    frame *f = &L->stack[L->depth - 1];
    if (f->node->kind == RFYAML_MAP && f->n % 2 == 0 && n->kind != RFYAML_SCALAR)
        return rfyaml_error(L->d, n, L->err, RF_E_PARSE,
                            "a mapping key must be a plain scalar, not %s",
                            rfyaml_describe(n));
    if (f->n == f->cap) {
        uint32_t cap = f->cap ? f->cap * 2 : 16;
        const rfyaml_node **v = realloc(f->v, (size_t)cap * sizeof(*v));
        if (!v)
            return nomem(L);
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = n;
    return RF_OK;
}

static const char *key_at(const void *ctx, uint32_t i)
{
    return ((const rfyaml_node *)ctx)->pairs[i].key->str;
}

/* Refuse duplicate keys (rf_find_repeat: O(n log n) for huge mappings; the
 * duplicate whose second occurrence comes first is named). */
static rf_rc check_dup_keys(loader *L, const rfyaml_node *m)
{
    uint32_t best_first, best_second;
    if (rf_find_repeat(m->n, key_at, m, &best_first, &best_second) != RF_OK)
        return nomem(L);
    if (best_second == UINT32_MAX)
        return RF_OK;
    const rfyaml_node *a = m->pairs[best_first].key, *b = m->pairs[best_second].key;
    char s[80];
    return rfyaml_error(L->d, b, L->err, RF_E_SCHEMA,
                        "duplicate key '%s' (first at line %u, again at line %u)",
                        rfyaml_show(b->str, s, sizeof(s)), a->line, b->line);
}

static rf_rc on_scalar(loader *L, yaml_event_t *ev)
{
    rf_rc rc = check_anchor(L, ev->data.scalar.anchor, ev->start_mark);
    if (rc)
        return rc;
    const char *core;
    rc = check_tag(L, ev->data.scalar.tag, ev->start_mark, &core);
    if (rc)
        return rc;
    rfyaml_node *n = new_node(L, RFYAML_SCALAR, ev->start_mark, &rc);
    if (!n)
        return rc;
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(v, 0, len))
        return rfyaml_error(L->d, n, L->err, RF_E_PARSE,
                            "a NUL character (\\0) is not allowed in a string");
    char *s = arena_alloc_aligned(L->d, len + 1, 1);
    if (!s)
        return nomem(L);
    memcpy(s, v, len);
    s[len] = 0;
    n->str = s;
    n->len = len;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->stype = n->plain ? resolve_plain(s) : RFYAML_STR;
    if (core) {
        static const struct {
            const char *tag;
            rfyaml_stype t;
        } map[] = {{"str", RFYAML_STR}, {"int", RFYAML_INT}, {"bool", RFYAML_BOOL},
                   {"null", RFYAML_NULL}, {"float", RFYAML_FLOAT}};
        int found = 0;
        for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
            if (strcmp(core, map[i].tag))
                continue;
            found = 1;
            if (map[i].t == RFYAML_STR) {
                n->stype = RFYAML_STR;
                n->plain = 0;
            } else if (resolve_plain(s) != map[i].t) {
                return rfyaml_error(L->d, n, L->err, RF_E_PARSE,
                                    "value does not match its tag !!%s", core);
            } else {
                n->stype = map[i].t;
                n->plain = 1;
            }
        }
        if (!found)
            return rfyaml_error(L->d, n, L->err, RF_E_PARSE,
                                "tag !!%s cannot be used on a scalar", core);
    }
    return attach(L, n);
}

static rf_rc on_start(loader *L, yaml_event_t *ev, rfyaml_kind kind)
{
    const yaml_char_t *anchor = kind == RFYAML_SEQ ? ev->data.sequence_start.anchor
                                                   : ev->data.mapping_start.anchor;
    const yaml_char_t *tag = kind == RFYAML_SEQ ? ev->data.sequence_start.tag
                                                : ev->data.mapping_start.tag;
    rf_rc rc = check_anchor(L, anchor, ev->start_mark);
    if (rc)
        return rc;
    const char *core;
    rc = check_tag(L, tag, ev->start_mark, &core);
    if (rc)
        return rc;
    if (core && strcmp(core, kind == RFYAML_SEQ ? "seq" : "map"))
        return at_mark(L, ev->start_mark, RF_E_PARSE, "tag !!%s cannot be used on a %s",
                       core, kind == RFYAML_SEQ ? "list" : "mapping");
    if (L->depth >= RF_MAX_YAML_DEPTH)
        return at_mark(L, ev->start_mark, RF_E_PARSE,
                       "nesting is deeper than %u levels (the limit)",
                       (unsigned)RF_MAX_YAML_DEPTH);
    rfyaml_node *n = new_node(L, kind, ev->start_mark, &rc);
    if (!n)
        return rc;
    frame *f = &L->stack[L->depth++];
    f->node = n;
    f->n = 0; /* f->v and f->cap are kept from earlier use of this level */
    return RF_OK;
}

static rf_rc on_end(loader *L)
{
    frame *f = &L->stack[--L->depth];
    rfyaml_node *n = f->node;
    if (n->kind == RFYAML_SEQ) {
        if (f->n) {
            const rfyaml_node **items = arena_alloc(L->d, (size_t)f->n * sizeof(*items));
            if (!items)
                return nomem(L);
            memcpy(items, f->v, (size_t)f->n * sizeof(*items));
            n->items = items;
        }
        n->n = f->n;
    } else {
        uint32_t np = f->n / 2;
        if (np) {
            rfyaml_pair *p = arena_alloc(L->d, (size_t)np * sizeof(*p));
            if (!p)
                return nomem(L);
            for (uint32_t i = 0; i < np; i++) {
                p[i].key = f->v[2 * i];
                p[i].val = f->v[2 * i + 1];
            }
            n->pairs = p;
        }
        n->n = np;
        rf_rc rc = check_dup_keys(L, n);
        if (rc)
            return rc;
    }
    return attach(L, n);
}

static rf_rc syntax_error(loader *L, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR)
        return nomem(L);
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        uint32_t line, col;
        size_t off = p->problem_offset < L->len ? p->problem_offset : L->len;
        pos_of(L->buf, off, &line, &col);
        return rf_err_set(L->err, RF_E_PARSE, L->d->file, line, col,
                          "YAML syntax error: %s", problem);
    }
    if (p->context)
        return at_mark(L, p->problem_mark, RF_E_PARSE,
                       "YAML syntax error: %s (%s at line %u)", problem, p->context,
                       (unsigned)p->context_mark.line + 1);
    return at_mark(L, p->problem_mark, RF_E_PARSE, "YAML syntax error: %s", problem);
}

/* Refuse bytes libyaml should never see: invalid UTF-8 and NUL. */
static rf_rc check_bytes(loader *L)
{
    size_t bad = L->len;
    int utf8_ok = rf_utf8_valid(L->buf, L->len, &bad);
    const char *nul = memchr(L->buf, 0, utf8_ok ? L->len : bad);
    uint32_t line, col;
    if (nul) {
        pos_of(L->buf, (size_t)(nul - L->buf), &line, &col);
        return rf_err_set(L->err, RF_E_PARSE, L->d->file, line, col,
                          "NUL byte in a YAML document");
    }
    if (!utf8_ok) {
        pos_of(L->buf, bad, &line, &col);
        return rf_err_set(L->err, RF_E_PARSE, L->d->file, line, col,
                          "invalid UTF-8 (byte 0x%02x at offset %zu)",
                          (unsigned char)L->buf[bad], bad);
    }
    return RF_OK;
}

rf_rc rfyaml_parse(const char *file, const char *buf, size_t len,
                   rfyaml_doc **out, rf_err *err)
{
    rf_rc rc = RF_OK;
    loader L;
    memset(&L, 0, sizeof(L));
    L.buf = buf;
    L.len = len;
    L.err = err;
    L.d = calloc(1, sizeof(*L.d));
    if (!L.d)
        return rf_err_set(err, RF_E_NOMEM, file, 0, 0, "out of memory loading YAML");
    L.d->file = strdup(file ? file : "<input>");
    if (!L.d->file) {
        rc = rf_err_set(err, RF_E_NOMEM, file, 0, 0, "out of memory loading YAML");
        goto out_free_doc;
    }
    rc = check_bytes(&L);
    if (rc)
        goto out_free_doc;

    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        rc = nomem(&L);
        goto out_free_doc;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);

    int docs = 0, done = 0;
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = syntax_error(&L, &p);
            goto out_parser;
        }
        switch (ev.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = at_mark(&L, ev.start_mark, RF_E_PARSE,
                             "a second YAML document; a ringfence file holds exactly one");
            break;
        case YAML_ALIAS_EVENT: {
            char b[80];
            rc = at_mark(&L, ev.start_mark, RF_E_PARSE,
                         "aliases (*%s) are not allowed in ringfence documents; "
                         "write the value out in full",
                         rfyaml_show((const char *)ev.data.alias.anchor, b, sizeof(b)));
            break;
        }
        case YAML_SCALAR_EVENT:
            rc = on_scalar(&L, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            rc = on_start(&L, &ev, RFYAML_SEQ);
            break;
        case YAML_MAPPING_START_EVENT:
            rc = on_start(&L, &ev, RFYAML_MAP);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            rc = on_end(&L);
            break;
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        default: /* stream start, document end, no event */
            break;
        }
        yaml_event_delete(&ev);
        if (rc)
            goto out_parser;
    }
    const rfyaml_node *root = L.d->root;
    if (!root || (root->kind == RFYAML_SCALAR && root->plain && root->len == 0)) {
        rc = rf_err_set(err, RF_E_PARSE, L.d->file, root ? root->line : 1,
                        root ? root->col : 1, "empty document");
        goto out_parser;
    }
    yaml_parser_delete(&p);
    for (uint32_t i = 0; i < RF_MAX_YAML_DEPTH; i++)
        free(L.stack[i].v);
    *out = L.d;
    return RF_OK;

out_parser:
    yaml_parser_delete(&p);
    for (uint32_t i = 0; i < RF_MAX_YAML_DEPTH; i++)
        free(L.stack[i].v);
out_free_doc:
    rfyaml_free(L.d);
    return rc;
}

/* ---- accessors ------------------------------------------------------------ */

const char *rfyaml_describe(const rfyaml_node *n)
{
    if (!n)
        return "nothing";
    switch (n->kind) {
    case RFYAML_SEQ: return "a list";
    case RFYAML_MAP: return "a mapping";
    case RFYAML_SCALAR: break;
    }
    switch (n->stype) {
    case RFYAML_STR: return "a string";
    case RFYAML_INT: return "an integer";
    case RFYAML_BOOL: return "a boolean";
    case RFYAML_NULL: return "null (no value)";
    case RFYAML_FLOAT: return "a decimal number";
    }
    return "a scalar";
}

int rfyaml_is_null(const rfyaml_node *n)
{
    return n && n->kind == RFYAML_SCALAR && n->stype == RFYAML_NULL;
}

rf_rc rfyaml_want_map(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                      rf_err *err)
{
    if (n->kind == RFYAML_MAP)
        return RF_OK;
    return rfyaml_error(d, n, err, RF_E_SCHEMA, "%s must be a mapping; found %s", what,
                        rfyaml_describe(n));
}

rf_rc rfyaml_want_seq(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                      rf_err *err)
{
    if (n->kind == RFYAML_SEQ)
        return RF_OK;
    return rfyaml_error(d, n, err, RF_E_SCHEMA, "%s must be a list; found %s", what,
                        rfyaml_describe(n));
}

rf_rc rfyaml_str(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                 const char **out, size_t *len, rf_err *err)
{
    if (n->kind == RFYAML_SCALAR && n->stype == RFYAML_STR) {
        *out = n->str;
        if (len)
            *len = n->len;
        return RF_OK;
    }
    if (n->kind == RFYAML_SCALAR && n->stype != RFYAML_NULL) {
        char b[80];
        return rfyaml_error(d, n, err, RF_E_SCHEMA,
                            "%s must be a string; found %s (write it in quotes: '%s')",
                            what, rfyaml_describe(n), rfyaml_show(n->str, b, sizeof(b)));
    }
    return rfyaml_error(d, n, err, RF_E_SCHEMA, "%s must be a string; found %s", what,
                        rfyaml_describe(n));
}

rf_rc rfyaml_int(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                 int64_t lo, int64_t hi, int64_t *out, rf_err *err)
{
    char b[80];
    if (n->kind != RFYAML_SCALAR || n->stype != RFYAML_INT || !n->plain) {
        if (n->kind == RFYAML_SCALAR && n->stype == RFYAML_STR && !n->plain)
            return rfyaml_error(d, n, err, RF_E_SCHEMA,
                                "%s must be an integer; found the quoted string '%s' "
                                "(write numbers without quotes)",
                                what, rfyaml_show(n->str, b, sizeof(b)));
        return rfyaml_error(d, n, err, RF_E_SCHEMA, "%s must be an integer; found %s",
                            what, rfyaml_describe(n));
    }
    const char *s = n->str;
    if (*s == '+' || *s == '-')
        s++;
    if (!all_in(s, "0123456789"))
        return rfyaml_error(d, n, err, RF_E_SCHEMA,
                            "%s must be a decimal integer; found '%s'", what,
                            rfyaml_show(n->str, b, sizeof(b)));
    int64_t v;
    if (rf_parse_i64(n->str, INT64_MIN, INT64_MAX, &v) != RF_OK || v < lo || v > hi)
        return rfyaml_error(d, n, err, RF_E_SCHEMA,
                            "%s is %s, outside the allowed range %lld..%lld", what,
                            rfyaml_show(n->str, b, sizeof(b)), (long long)lo,
                            (long long)hi);
    *out = v;
    return RF_OK;
}

rf_rc rfyaml_bool(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                  int *out, rf_err *err)
{
    if (n->kind == RFYAML_SCALAR && n->plain && !strcmp(n->str, "true")) {
        *out = 1;
        return RF_OK;
    }
    if (n->kind == RFYAML_SCALAR && n->plain && !strcmp(n->str, "false")) {
        *out = 0;
        return RF_OK;
    }
    return rfyaml_error(d, n, err, RF_E_SCHEMA, "%s must be true or false; found %s",
                        what, rfyaml_describe(n));
}

const rfyaml_node *rfyaml_get_key(const rfyaml_node *m, const char *key)
{
    if (!m || m->kind != RFYAML_MAP)
        return NULL;
    for (uint32_t i = 0; i < m->n; i++)
        if (!strcmp(m->pairs[i].key->str, key))
            return m->pairs[i].key;
    return NULL;
}

const rfyaml_node *rfyaml_get(const rfyaml_node *m, const char *key)
{
    if (!m || m->kind != RFYAML_MAP)
        return NULL;
    for (uint32_t i = 0; i < m->n; i++)
        if (!strcmp(m->pairs[i].key->str, key))
            return m->pairs[i].val;
    return NULL;
}

rf_rc rfyaml_require(const rfyaml_doc *d, const rfyaml_node *m, const char *key,
                     const char *context, const rfyaml_node **out, rf_err *err)
{
    const rfyaml_node *v = rfyaml_get(m, key);
    if (!v)
        return rfyaml_error(d, m, err, RF_E_SCHEMA, "missing required key '%s' in %s",
                            key, context);
    *out = v;
    return RF_OK;
}

rf_rc rfyaml_only_keys(const rfyaml_doc *d, const rfyaml_node *m, const char *context,
                       const char *const *keys, size_t nkeys, rf_err *err)
{
    for (uint32_t i = 0; i < m->n; i++) {
        const rfyaml_node *k = m->pairs[i].key;
        size_t j = 0;
        while (j < nkeys && strcmp(k->str, keys[j]))
            j++;
        if (j < nkeys)
            continue;
        char list[RF_ERR_MSG_MAX / 2];
        size_t o = 0;
        list[0] = 0;
        for (j = 0; j < nkeys; j++) {
            int w = snprintf(list + o, sizeof(list) - o, "%s%s", j ? ", " : "", keys[j]);
            if (w < 0 || (size_t)w >= sizeof(list) - o)
                break;
            o += (size_t)w;
        }
        char b[80];
        return rfyaml_error(d, k, err, RF_E_SCHEMA,
                            "unknown key '%s' in %s; expected one of: %s",
                            rfyaml_show(k->str, b, sizeof(b)), context, list);
    }
    return RF_OK;
}
