/*
 * channel.h — the channel: a set of template instances for one template type,
 * in memory (rf_channel) and as the binary channel file v1 (.rfc) of
 * docs/channel-format.md.
 *
 * rf_channel_read() is the one reader of channel files: the validator, the
 * interpreter, the server and the agent all load content through it. It is
 * total: for any byte string it returns either a fully checked channel or an
 * error saying what is wrong and at which byte.
 *
 * rf_channel is plain data. Every pointer in it was allocated with malloc and
 * belongs to the channel; rf_channel_free() frees it all. Code that builds a
 * channel by hand (the compiler, benchmarks) allocates with malloc too.
 */
#ifndef RINGFENCE_CHANNEL_H
#define RINGFENCE_CHANNEL_H

#include "ringfence/ringfence.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RF_CHANNEL_FORMAT_VERSION 1

typedef enum rf_value_type {
    RF_VAL_ABSENT = 0, /* an event input that is null / not supplied */
    RF_VAL_STRING = 1,
    RF_VAL_INT = 2,
} rf_value_type;

/* A typed value: a criterion operand or a test-event input. */
typedef struct rf_value {
    rf_value_type type;
    int64_t i;    /* RF_VAL_INT */
    char *s;      /* RF_VAL_STRING: UTF-8, NUL-terminated, no embedded NUL */
    uint32_t len; /* RF_VAL_STRING: strlen(s) */
} rf_value;

/* Criterion kinds. Numbers are part of the file format: never renumber. */
typedef enum rf_crit_kind {
    RF_CRIT_ANY = 0,      /* explicit wildcard; never stored in a file */
    RF_CRIT_EQUALS = 1,   /* string or int; 1 value */
    RF_CRIT_PREFIX = 2,   /* string; 1 value */
    RF_CRIT_SUFFIX = 3,   /* string; 1 value */
    RF_CRIT_CONTAINS = 4, /* string; 1 value */
    RF_CRIT_GLOB = 5,     /* string; 1 value; '*' and '?' only, whole value */
    RF_CRIT_REGEX = 6,    /* string; 1 value; matches anywhere unless anchored */
    RF_CRIT_ONE_OF = 7,   /* string or int; 1..RF_MAX_ONE_OF values */
    RF_CRIT_RANGE = 8,    /* int; 2 values, lo <= hi, inclusive */
} rf_crit_kind;
#define RF_CRIT_KIND_MAX RF_CRIT_RANGE

#define RF_CRIT_NOCASE 0x01u /* string criteria: ASCII case-insensitive */
#define RF_CRIT_FLAGS_ALL RF_CRIT_NOCASE

typedef struct rf_crit {
    uint16_t field;      /* input index in the template type */
    char *field_name;    /* the template type's name for that index */
    rf_crit_kind kind;
    rf_value_type vtype; /* RF_VAL_STRING or RF_VAL_INT */
    uint8_t flags;       /* RF_CRIT_* */
    uint32_t nvals;
    rf_value *vals;      /* all of type vtype */
    uint32_t line;       /* source line (0 when read from a binary) */
} rf_crit;

typedef enum rf_action { RF_ACTION_DETECT = 1, RF_ACTION_BLOCK = 2 } rf_action;

typedef enum rf_severity {
    RF_SEV_INFO = 1,
    RF_SEV_LOW = 2,
    RF_SEV_MEDIUM = 3,
    RF_SEV_HIGH = 4,
    RF_SEV_CRITICAL = 5,
} rf_severity;

/* One input of a test event: field index and value. */
typedef struct rf_test_input {
    uint16_t field;
    rf_value v;
} rf_test_input;

typedef struct rf_test {
    uint8_t expect_match; /* 1: expect match, 0: expect no_match */
    uint32_t ninputs;     /* sorted by field, unique */
    rf_test_input *inputs;
    uint32_t line;
} rf_test;

typedef struct rf_instance {
    char *id;
    rf_action action;
    rf_severity severity;
    uint32_t ncrits; /* non-wildcard criteria only, sorted by field, unique */
    rf_crit *crits;
    uint32_t ntests;
    rf_test *tests;
    uint32_t line;
} rf_instance;

typedef struct rf_channel {
    uint16_t channel;          /* 1..65535 */
    char *template_type;
    uint32_t template_version; /* >= 1 */
    uint32_t content_version;  /* >= 1; strictly increasing per channel */
    uint32_t ninstances;
    rf_instance *instances;    /* ids unique */
    char *source;              /* file it came from, or NULL */
    uint8_t body_sha256[32];   /* set by rf_channel_read / rf_channel_write */
} rf_channel;

/*
 * The number of inputs a sensor must supply for this channel: one more than
 * the highest field index any non-wildcard criterion uses (0 if none).
 */
uint32_t rf_channel_inputs_required(const rf_channel *ch);

/*
 * Serialise to channel file v1. Output depends only on the channel's content
 * (not on `source`, lines or addresses): identical channels give identical
 * bytes. On success *out is a malloc'd buffer the caller frees, *outlen its
 * size, and ch->body_sha256 is updated. Fails on a channel that breaks the
 * format's invariants (RF_E_SCHEMA / RF_E_LIMIT).
 */
rf_rc rf_channel_write(rf_channel *ch, uint8_t **out, size_t *outlen, rf_err *err) RF_WUR;

/*
 * Read and fully check a channel file held in memory. `name` (may be NULL)
 * names the input in error messages. On success *out is a new channel the
 * caller frees with rf_channel_free.
 */
rf_rc rf_channel_read(const uint8_t *buf, size_t len, const char *name,
                      rf_channel **out, rf_err *err) RF_WUR;

/* Read a channel file from disk (size checked before reading). */
rf_rc rf_channel_read_file(const char *path, rf_channel **out, rf_err *err) RF_WUR;

void rf_channel_free(rf_channel *ch);

/* Names for printing and for the YAML keywords ("glob", "detect", "high"). */
const char *rf_crit_kind_name(rf_crit_kind k);
const char *rf_action_name(rf_action a);
const char *rf_severity_name(rf_severity s);

#ifdef __cplusplus
}
#endif
#endif
