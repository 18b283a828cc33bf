/*
 * schema.h — the content workspace: Template Types (what a sensor feature can
 * look at) and Sensor Manifests (what one sensor build actually supplies),
 * loaded from YAML. See DESIGN.md "Content model".
 *
 * All structures here are plain data owned by the rf_workspace that holds
 * them; every pointer was allocated with malloc and is freed by
 * rf_workspace_free(). Callers treat them as read-only.
 */
#ifndef RINGFENCE_SCHEMA_H
#define RINGFENCE_SCHEMA_H

#include "ringfence/ringfence.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rf_field_type {
    RF_TYPE_STRING = 1,
    RF_TYPE_INT = 2,
} rf_field_type;

typedef struct rf_field {
    char *name; /* [a-z0-9_]{1,64} */
    rf_field_type type;
    uint32_t line; /* source line, 0 if unknown */
} rf_field;

typedef struct rf_template_type {
    char *name;
    uint32_t version; /* >= 1 */
    uint32_t nfields; /* 1..RF_MAX_FIELDS; a field's index is its position */
    rf_field *fields;
    char *file; /* path it was loaded from ("" when from memory) */
    uint32_t line;
} rf_template_type;

/* One entry of a manifest's template_types list. */
typedef struct rf_sensor_support {
    char *name;       /* template type name */
    uint32_t version; /* template type version */
    uint32_t inputs;  /* the sensor supplies inputs[0 .. inputs-1] */
    uint32_t line;
} rf_sensor_support;

typedef struct rf_sensor_manifest {
    char *sensor_version; /* e.g. "7.11.18110" */
    uint32_t nsupports;
    rf_sensor_support *supports;
    char *file;
    uint32_t line;
} rf_sensor_manifest;

typedef struct rf_workspace {
    char *dir; /* the workspace directory ("" when built in memory) */
    uint32_t ntypes;
    rf_template_type *types;
    uint32_t nsensors;
    rf_sensor_manifest *sensors;
} rf_workspace;

/* A new, empty workspace (no directory). Free with rf_workspace_free. */
rf_rc rf_workspace_new(rf_workspace **out) RF_WUR;

/*
 * Load every .yaml and .yml file of DIR/types and DIR/sensors (files in
 * name order; hidden files skipped). DIR itself must be a directory
 * (RF_E_IO otherwise). A missing types/ or sensors/ folder is an empty list,
 * not an error; a file that fails to parse is, and so is a SensorManifest in
 * types/ or a TemplateType in sensors/. Duplicate (name, version) types and
 * duplicate sensor versions are errors naming both files.
 * On success *out is a new workspace the caller frees.
 */
rf_rc rf_workspace_load(const char *dir, rf_workspace **out, rf_err *err) RF_WUR;

/*
 * Parse one YAML document of kind TemplateType or SensorManifest from memory
 * and add it to ws. `file` names it in error messages. Fails with
 * RF_E_SCHEMA for a Channel or unknown kind.
 */
rf_rc rf_workspace_add_yaml(rf_workspace *ws, const char *file, const char *buf,
                            size_t len, rf_err *err) RF_WUR;

void rf_workspace_free(rf_workspace *ws);

/* Lookups; they return pointers into ws, or NULL. */
const rf_template_type *rf_workspace_find_type(const rf_workspace *ws,
                                               const char *name, uint32_t version);
const rf_sensor_manifest *rf_workspace_find_sensor(const rf_workspace *ws,
                                                   const char *sensor_version);
/* The manifest's entry for (type, version), or NULL if it does not implement it. */
const rf_sensor_support *rf_sensor_find_support(const rf_sensor_manifest *m,
                                                const char *type, uint32_t version);
/* Index of a field by name, or -1. */
int rf_template_field_index(const rf_template_type *tt, const char *name);

/* 1 if s is a valid template type / field name: [a-z0-9_]{1,64}. */
int rf_name_valid(const char *s);

#ifdef __cplusplus
}
#endif
#endif
