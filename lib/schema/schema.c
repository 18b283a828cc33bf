/*
 * schema.c — the content workspace (schema.h): TemplateType and
 * SensorManifest documents, read through the one YAML loader (lib/yaml) and
 * checked against DESIGN.md's content model. Every refusal names the file,
 * line and column of the offending node. A workspace is loaded in sorted
 * file-name order so that the same directory always gives the same workspace
 * and the same first error.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ringfence/schema.h"
#include "ringfence/util.h"
#include "yaml/yamldoc.h"

enum doc_kind { KIND_ANY = 0, KIND_TYPE = 1, KIND_SENSOR = 2 };

int rf_name_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
        if (n >= RF_NAME_MAX)
            return 0;
    }
    return n >= 1;
}

static int sensor_version_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '+' || c == '-'))
            return 0;
        if (n >= RF_SENSOR_VERSION_MAX)
            return 0;
    }
    return n >= 1;
}

rf_rc rf_workspace_new(rf_workspace **out)
{
    rf_workspace *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return RF_E_NOMEM;
    ws->dir = strdup("");
    if (!ws->dir) {
        free(ws);
        return RF_E_NOMEM;
    }
    *out = ws;
    return RF_OK;
}

static void free_type(rf_template_type *t)
{
    for (uint32_t i = 0; i < t->nfields; i++)
        free(t->fields[i].name);
    free(t->fields);
    free(t->name);
    free(t->file);
}

static void free_sensor(rf_sensor_manifest *m)
{
    for (uint32_t i = 0; i < m->nsupports; i++)
        free(m->supports[i].name);
    free(m->supports);
    free(m->sensor_version);
    free(m->file);
}

void rf_workspace_free(rf_workspace *ws)
{
    if (!ws)
        return;
    for (uint32_t i = 0; i < ws->ntypes; i++)
        free_type(&ws->types[i]);
    for (uint32_t i = 0; i < ws->nsensors; i++)
        free_sensor(&ws->sensors[i]);
    free(ws->types);
    free(ws->sensors);
    free(ws->dir);
    free(ws);
}

const rf_template_type *rf_workspace_find_type(const rf_workspace *ws, const char *name,
                                               uint32_t version)
{
    if (!ws || !name)
        return NULL;
    for (uint32_t i = 0; i < ws->ntypes; i++)
        if (ws->types[i].version == version && !strcmp(ws->types[i].name, name))
            return &ws->types[i];
    return NULL;
}

const rf_sensor_manifest *rf_workspace_find_sensor(const rf_workspace *ws,
                                                   const char *sensor_version)
{
    if (!ws || !sensor_version)
        return NULL;
    for (uint32_t i = 0; i < ws->nsensors; i++)
        if (!strcmp(ws->sensors[i].sensor_version, sensor_version))
            return &ws->sensors[i];
    return NULL;
}

const rf_sensor_support *rf_sensor_find_support(const rf_sensor_manifest *m,
                                                const char *type, uint32_t version)
{
    if (!m || !type)
        return NULL;
    for (uint32_t i = 0; i < m->nsupports; i++)
        if (m->supports[i].version == version && !strcmp(m->supports[i].name, type))
            return &m->supports[i];
    return NULL;
}

int rf_template_field_index(const rf_template_type *tt, const char *name)
{
    if (!tt || !name)
        return -1;
    for (uint32_t i = 0; i < tt->nfields; i++)
        if (!strcmp(tt->fields[i].name, name))
            return (int)i;
    return -1;
}

static rf_rc nomem(const rfyaml_doc *d, rf_err *err)
{
    return rf_err_set(err, RF_E_NOMEM, rfyaml_file(d), 0, 0, "out of memory");
}

/* A name field: a string matching [a-z0-9_]{1,64}. */
static rf_rc get_name(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                      const char **out, rf_err *err)
{
    const char *s;
    rf_rc rc = rfyaml_str(d, n, what, &s, NULL, err);
    if (rc)
        return rc;
    if (!rf_name_valid(s)) {
        char b[80];
        return rfyaml_error(d, n, err, RF_E_SCHEMA,
                            "%s '%s' is not a valid name: use 1 to %d characters "
                            "from a-z, 0-9 and _",
                            what, rfyaml_show(s, b, sizeof(b)), RF_NAME_MAX);
    }
    *out = s;
    return RF_OK;
}

static rf_rc parse_field(const rfyaml_doc *d, const rfyaml_node *item, rf_field *f,
                         rf_err *err)
{
    static const char *const keys[] = {"name", "type"};
    rf_rc rc = rfyaml_want_map(d, item, "each entry of 'fields'", err);
    if (!rc)
        rc = rfyaml_only_keys(d, item, "a field", keys, 2, err);
    const rfyaml_node *nn = NULL, *tn = NULL;
    if (!rc)
        rc = rfyaml_require(d, item, "name", "a field", &nn, err);
    if (!rc)
        rc = rfyaml_require(d, item, "type", "a field", &tn, err);
    const char *name = NULL, *type = NULL;
    if (!rc)
        rc = get_name(d, nn, "field name", &name, err);
    if (!rc)
        rc = rfyaml_str(d, tn, "field type", &type, NULL, err);
    if (rc)
        return rc;
    if (!strcmp(type, "string")) {
        f->type = RF_TYPE_STRING;
    } else if (!strcmp(type, "int")) {
        f->type = RF_TYPE_INT;
    } else {
        char b[80];
        return rfyaml_error(d, tn, err, RF_E_SCHEMA,
                            "field type must be 'string' or 'int'; found '%s'",
                            rfyaml_show(type, b, sizeof(b)));
    }
    f->name = strdup(name);
    if (!f->name)
        return nomem(d, err);
    f->line = nn->line;
    return RF_OK;
}

static rf_rc parse_type(rf_workspace *ws, const rfyaml_doc *d, const rfyaml_node *root,
                        const char *file, rf_err *err)
{
    static const char *const keys[] = {"kind", "name", "version", "fields"};
    const char *ctx = "a TemplateType";
    rf_template_type t;
    memset(&t, 0, sizeof(t));
    const rfyaml_node *nn = NULL, *vn = NULL, *fn = NULL;
    const char *name = NULL;
    int64_t version = 0;
    rf_rc rc = rfyaml_only_keys(d, root, ctx, keys, 4, err);
    if (!rc)
        rc = rfyaml_require(d, root, "name", ctx, &nn, err);
    if (!rc)
        rc = rfyaml_require(d, root, "version", ctx, &vn, err);
    if (!rc)
        rc = rfyaml_require(d, root, "fields", ctx, &fn, err);
    if (!rc)
        rc = get_name(d, nn, "template type name", &name, err);
    if (!rc)
        rc = rfyaml_int(d, vn, "'version'", 1, UINT32_MAX, &version, err);
    if (!rc)
        rc = rfyaml_want_seq(d, fn, "'fields'", err);
    if (rc)
        return rc;
    if (fn->n == 0)
        return rfyaml_error(d, fn, err, RF_E_SCHEMA,
                            "'fields' is empty; a template type has at least one field");
    if (fn->n > RF_MAX_FIELDS)
        return rfyaml_error(d, fn, err, RF_E_LIMIT,
                            "%u fields; a template type has at most %d", fn->n,
                            RF_MAX_FIELDS);
    const rf_template_type *prev = rf_workspace_find_type(ws, name, (uint32_t)version);
    if (prev)
        return rfyaml_error(d, nn, err, RF_E_SCHEMA,
                            "template type '%s' version %u is already defined in %s:%u",
                            name, (unsigned)version, prev->file[0] ? prev->file : "<input>",
                            prev->line);
    if (ws->ntypes >= RF_MAX_TYPES)
        return rfyaml_error(d, root, err, RF_E_LIMIT,
                            "the workspace already holds %d template types (the limit)",
                            RF_MAX_TYPES);

    t.fields = calloc(fn->n, sizeof(*t.fields));
    if (!t.fields)
        return nomem(d, err);
    for (uint32_t i = 0; i < fn->n; i++) {
        rc = parse_field(d, fn->items[i], &t.fields[i], err);
        if (rc)
            goto out_free;
        t.nfields = i + 1;
        for (uint32_t j = 0; j < i; j++) {
            if (!strcmp(t.fields[j].name, t.fields[i].name)) {
                rc = rfyaml_error(d, rfyaml_get(fn->items[i], "name"), err, RF_E_SCHEMA,
                                  "duplicate field name '%s' (first at line %u)",
                                  t.fields[i].name, t.fields[j].line);
                goto out_free;
            }
        }
    }
    t.name = strdup(name);
    t.file = strdup(file);
    if (!t.name || !t.file) {
        rc = nomem(d, err);
        goto out_free;
    }
    t.version = (uint32_t)version;
    t.line = root->line;
    rf_template_type *types = realloc(ws->types, (ws->ntypes + 1) * sizeof(*types));
    if (!types) {
        rc = nomem(d, err);
        goto out_free;
    }
    ws->types = types;
    ws->types[ws->ntypes++] = t;
    return RF_OK;

out_free:
    free_type(&t);
    return rc;
}

static rf_rc parse_support(const rfyaml_doc *d, const rfyaml_node *item,
                           rf_sensor_support *s, rf_err *err)
{
    static const char *const keys[] = {"name", "version", "inputs"};
    const char *ctx = "a template_types entry";
    rf_rc rc = rfyaml_want_map(d, item, "each entry of 'template_types'", err);
    if (!rc)
        rc = rfyaml_only_keys(d, item, ctx, keys, 3, err);
    const rfyaml_node *nn = NULL, *vn = NULL, *in = NULL;
    if (!rc)
        rc = rfyaml_require(d, item, "name", ctx, &nn, err);
    if (!rc)
        rc = rfyaml_require(d, item, "version", ctx, &vn, err);
    if (!rc)
        rc = rfyaml_require(d, item, "inputs", ctx, &in, err);
    const char *name = NULL;
    int64_t version = 0, inputs = 0;
    if (!rc)
        rc = get_name(d, nn, "template type name", &name, err);
    if (!rc)
        rc = rfyaml_int(d, vn, "'version'", 1, UINT32_MAX, &version, err);
    if (!rc)
        rc = rfyaml_int(d, in, "'inputs'", 0, RF_MAX_FIELDS, &inputs, err);
    if (rc)
        return rc;
    s->name = strdup(name);
    if (!s->name)
        return nomem(d, err);
    s->version = (uint32_t)version;
    s->inputs = (uint32_t)inputs;
    s->line = item->line;
    return RF_OK;
}

static rf_rc parse_sensor(rf_workspace *ws, const rfyaml_doc *d, const rfyaml_node *root,
                          const char *file, rf_err *err)
{
    static const char *const keys[] = {"kind", "sensor_version", "template_types"};
    const char *ctx = "a SensorManifest";
    rf_sensor_manifest m;
    memset(&m, 0, sizeof(m));
    const rfyaml_node *sn = NULL, *tn = NULL;
    const char *sv = NULL;
    rf_rc rc = rfyaml_only_keys(d, root, ctx, keys, 3, err);
    if (!rc)
        rc = rfyaml_require(d, root, "sensor_version", ctx, &sn, err);
    if (!rc)
        rc = rfyaml_require(d, root, "template_types", ctx, &tn, err);
    if (!rc)
        rc = rfyaml_str(d, sn, "'sensor_version'", &sv, NULL, err);
    if (!rc)
        rc = rfyaml_want_seq(d, tn, "'template_types'", err);
    if (rc)
        return rc;
    if (!sensor_version_valid(sv)) {
        char b[80];
        return rfyaml_error(d, sn, err, RF_E_SCHEMA,
                            "sensor_version '%s' is not valid: use 1 to %d characters "
                            "from A-Z, a-z, 0-9 and . _ + -",
                            rfyaml_show(sv, b, sizeof(b)), RF_SENSOR_VERSION_MAX);
    }
    if (tn->n > RF_MAX_TYPES)
        return rfyaml_error(d, tn, err, RF_E_LIMIT,
                            "%u template_types entries; at most %d", tn->n, RF_MAX_TYPES);
    const rf_sensor_manifest *prev = rf_workspace_find_sensor(ws, sv);
    if (prev)
        return rfyaml_error(d, sn, err, RF_E_SCHEMA,
                            "sensor_version '%s' is already defined in %s:%u", sv,
                            prev->file[0] ? prev->file : "<input>", prev->line);
    if (ws->nsensors >= RF_MAX_SENSORS)
        return rfyaml_error(d, root, err, RF_E_LIMIT,
                            "the workspace already holds %d sensor manifests (the limit)",
                            RF_MAX_SENSORS);
    if (tn->n) {
        m.supports = calloc(tn->n, sizeof(*m.supports));
        if (!m.supports)
            return nomem(d, err);
    }
    for (uint32_t i = 0; i < tn->n; i++) {
        rc = parse_support(d, tn->items[i], &m.supports[i], err);
        if (rc)
            goto out_free;
        m.nsupports = i + 1;
        for (uint32_t j = 0; j < i; j++) {
            const rf_sensor_support *a = &m.supports[j], *b = &m.supports[i];
            if (a->version == b->version && !strcmp(a->name, b->name)) {
                rc = rfyaml_error(d, tn->items[i], err, RF_E_SCHEMA,
                                  "template type '%s' version %u is listed twice "
                                  "(first at line %u)",
                                  b->name, b->version, a->line);
                goto out_free;
            }
        }
    }
    m.sensor_version = strdup(sv);
    m.file = strdup(file);
    if (!m.sensor_version || !m.file) {
        rc = nomem(d, err);
        goto out_free;
    }
    m.line = root->line;
    rf_sensor_manifest *ms = realloc(ws->sensors, (ws->nsensors + 1) * sizeof(*ms));
    if (!ms) {
        rc = nomem(d, err);
        goto out_free;
    }
    ws->sensors = ms;
    ws->sensors[ws->nsensors++] = m;
    return RF_OK;

out_free:
    free_sensor(&m);
    return rc;
}

static rf_rc add_yaml(rf_workspace *ws, const char *file, const char *buf, size_t len,
                      enum doc_kind want, rf_err *err)
{
    rfyaml_doc *d = NULL;
    rf_rc rc = rfyaml_parse(file, buf, len, &d, err);
    if (rc)
        return rc;
    const rfyaml_node *root = rfyaml_root(d), *kn = NULL;
    const char *kind = NULL;
    rc = rfyaml_want_map(d, root, "a workspace document (TemplateType or SensorManifest)",
                         err);
    if (!rc)
        rc = rfyaml_require(d, root, "kind", "the document", &kn, err);
    if (!rc)
        rc = rfyaml_str(d, kn, "'kind'", &kind, NULL, err);
    if (rc)
        goto out;
    char b[80];
    if (!strcmp(kind, "TemplateType") && want != KIND_SENSOR) {
        rc = parse_type(ws, d, root, file ? file : "", err);
    } else if (!strcmp(kind, "SensorManifest") && want != KIND_TYPE) {
        rc = parse_sensor(ws, d, root, file ? file : "", err);
    } else if (!strcmp(kind, "TemplateType") || !strcmp(kind, "SensorManifest")) {
        rc = rfyaml_error(d, kn, err, RF_E_SCHEMA,
                          "a %s document does not belong in %s/ (TemplateType files go "
                          "in types/, SensorManifest files in sensors/)",
                          kind, want == KIND_TYPE ? "types" : "sensors");
    } else if (!strcmp(kind, "Channel")) {
        rc = rfyaml_error(d, kn, err, RF_E_SCHEMA,
                          "a Channel document is not part of the workspace's types or "
                          "sensors; compile it instead");
    } else {
        rc = rfyaml_error(d, kn, err, RF_E_SCHEMA,
                          "unknown kind '%s'; expected TemplateType or SensorManifest",
                          rfyaml_show(kind, b, sizeof(b)));
    }
out:
    rfyaml_free(d);
    return rc;
}

rf_rc rf_workspace_add_yaml(rf_workspace *ws, const char *file, const char *buf,
                            size_t len, rf_err *err)
{
    if (!ws || (!buf && len))
        return rf_err_set(err, RF_E_USAGE, file, 0, 0, "no workspace or no buffer");
    return add_yaml(ws, file, buf ? buf : "", len, KIND_ANY, err);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int yaml_name(const char *s)
{
    size_t n = strlen(s);
    if (s[0] == '.')
        return 0; /* hidden files: editor swap files and the like */
    return (n > 5 && !strcmp(s + n - 5, ".yaml")) || (n > 4 && !strcmp(s + n - 4, ".yml"));
}

/* Load every *.yaml / *.yml of DIR/sub in name order; a missing folder is
 * an empty list. */
static rf_rc load_folder(rf_workspace *ws, const char *dir, const char *sub,
                         enum doc_kind want, rf_err *err)
{
    rf_rc rc = RF_OK;
    char **names = NULL;
    size_t n = 0, cap = 0;
    rf_buf path;
    rf_buf_init(&path);
    rf_buf_printf(&path, "%s/%s", dir, sub);
    char *folder = rf_buf_take(&path);
    if (!folder)
        return rf_err_set(err, RF_E_NOMEM, dir, 0, 0, "out of memory");
    DIR *dh = opendir(folder);
    if (!dh) {
        if (errno == ENOENT)
            goto out_free_folder;
        rc = rf_err_set(err, RF_E_IO, folder, 0, 0, "cannot open folder: %s",
                        strerror(errno));
        goto out_free_folder;
    }
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (!yaml_name(de->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(names, nc * sizeof(*nn));
            if (!nn) {
                rc = rf_err_set(err, RF_E_NOMEM, folder, 0, 0, "out of memory");
                goto out_close;
            }
            names = nn;
            cap = nc;
        }
        names[n] = strdup(de->d_name);
        if (!names[n]) {
            rc = rf_err_set(err, RF_E_NOMEM, folder, 0, 0, "out of memory");
            goto out_close;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n && !rc; i++) {
        rf_buf_printf(&path, "%s/%s", folder, names[i]);
        char *file = rf_buf_take(&path);
        if (!file) {
            rc = rf_err_set(err, RF_E_NOMEM, folder, 0, 0, "out of memory");
            break;
        }
        uint8_t *buf = NULL;
        size_t len = 0;
        rc = rf_file_read(file, RF_MAX_SOURCE_BYTES, &buf, &len, err);
        if (!rc)
            rc = add_yaml(ws, file, (const char *)buf, len, want, err);
        free(buf);
        free(file);
    }
out_close:
    closedir(dh);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
out_free_folder:
    free(folder);
    return rc;
}

rf_rc rf_workspace_load(const char *dir, rf_workspace **out, rf_err *err)
{
    if (!dir || !*dir)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "no workspace directory given");
    struct stat st;
    if (stat(dir, &st) != 0)
        return rf_err_set(err, RF_E_IO, dir, 0, 0, "cannot open workspace: %s",
                          strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return rf_err_set(err, RF_E_IO, dir, 0, 0, "workspace is not a directory");
    rf_workspace *ws = NULL;
    if (rf_workspace_new(&ws) != RF_OK)
        return rf_err_set(err, RF_E_NOMEM, dir, 0, 0, "out of memory");
    free(ws->dir);
    ws->dir = strdup(dir);
    rf_rc rc = ws->dir ? RF_OK : rf_err_set(err, RF_E_NOMEM, dir, 0, 0, "out of memory");
    if (!rc)
        rc = load_folder(ws, dir, "types", KIND_TYPE, err);
    if (!rc)
        rc = load_folder(ws, dir, "sensors", KIND_SENSOR, err);
    if (rc) {
        rf_workspace_free(ws);
        return rc;
    }
    *out = ws;
    return RF_OK;
}
