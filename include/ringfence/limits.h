/*
 * limits.h — every size and count limit of ringfence in one place, each with
 * the reason for its value. Untrusted input (YAML, channel files, events) is
 * checked against these before anything is allocated for it, so a hostile
 * file cannot make a reader allocate without bound.
 */
#ifndef RINGFENCE_LIMITS_H
#define RINGFENCE_LIMITS_H

/* Error detail buffers: long enough for a path plus a sentence naming an
 * instance, field, sensor version and counts. */
#define RF_ERR_FILE_MAX 256
#define RF_ERR_MSG_MAX 512

/* Names of template types and fields: [a-z0-9_]{1,64} (DESIGN.md). */
#define RF_NAME_MAX 64

/* Instance ids: [A-Za-z0-9_.:-]{1,128}; long enough for "vendor:family:nnn"
 * style ids, short enough to print in one log line. */
#define RF_ID_MAX 128

/* Sensor versions like "7.11.18110": digits, letters, '.', '-', '+', '_'. */
#define RF_SENSOR_VERSION_MAX 64

/* Fields in one template type. Real sensor features supply tens of inputs;
 * 256 keeps the field index in one byte of headroom while far above need. */
#define RF_MAX_FIELDS 256

/* Instances in one channel. Rapid-response channels carry thousands; 100k
 * bounds interpreter build memory (see docs/performance.md). */
#define RF_MAX_INSTANCES 100000

/* One string criterion value or event string input, in bytes. Paths and
 * pipe names are far shorter; 4 KiB covers command lines. */
#define RF_MAX_STRING 4096

/* Values in one one_of list. */
#define RF_MAX_ONE_OF 4096

/* Embedded tests per instance. */
#define RF_MAX_TESTS 64

/* Whole-file limits: a source (YAML) file and a binary channel file. A
 * 100,000-instance channel compiles to well under this; anything larger is
 * refused before it is read into memory. */
#define RF_MAX_SOURCE_BYTES (32u * 1024u * 1024u)
#define RF_MAX_CHANNEL_BYTES (64u * 1024u * 1024u)

/* YAML nesting depth. Documents nest at most 6 deep; 32 leaves room and
 * stops deep-nesting bombs long before the parser's stack is at risk. */
#define RF_MAX_YAML_DEPTH 32

/* YAML nodes (scalars + collections) in one document: bounds memory for
 * pathological files; a 100,000-instance channel needs about 2.5 million. */
#define RF_MAX_YAML_NODES 4000000u

/* Documents of each kind in one workspace. */
#define RF_MAX_TYPES 1024
#define RF_MAX_SENSORS 1024

/* One line of a JSON-lines event file, and the inputs of one event. */
#define RF_MAX_EVENT_LINE (1024u * 1024u)
#define RF_MAX_INPUTS RF_MAX_FIELDS

/* Total patterns handed to the matching engine for one channel: Vectorscan
 * compile time and memory grow with it (docs/performance.md). */
#define RF_MAX_PATTERNS 200000

/* Regex length, in bytes, before compilation. */
#define RF_MAX_REGEX 1024

/* Validator findings listed per stage; more are counted, not listed, so a
 * 100,000-instance channel wrong everywhere still gives a readable report. */
#define RF_MAX_FINDINGS_PER_STAGE 1000

/* Synthetic events per sensor in the validator's execution stage: one per
 * instance up to the instance limit, so every instance is exercised. */
#define RF_MAX_SYNTHETIC_EVENTS RF_MAX_INSTANCES

/* One replay-corpus file (JSON lines), read whole: a million recorded events
 * is about 200 MiB. */
#define RF_MAX_CORPUS_BYTES (1024u * 1024u * 1024u)

/* TUF client download bounds: a
 * root with hundreds of keys fits in 512 kB, a timestamp in 16 kB; snapshot
 * and targets grow with the number of roles and targets. */
#define RF_TUF_MAX_ROOT_BYTES 512000u
#define RF_TUF_MAX_TIMESTAMP_BYTES 16384u
#define RF_TUF_MAX_SNAPSHOT_BYTES 2000000u
#define RF_TUF_MAX_TARGETS_BYTES 5000000u
/* Root versions taken in one update: bounds the work a repository can make a
 * client do, yet covers years of monthly rotations. */
#define RF_TUF_MAX_ROOT_ROTATIONS 256u
/* Delegated roles visited in one target search (the specification's
 * default); bounds the work a hostile delegation graph can cause. */
#define RF_TUF_MAX_DELEGATIONS 32u

/* Longest URL handed to libcurl. Repository base URLs plus a consistent-
 * snapshot target path ("<sha512 hex>.<path>") fit easily; anything longer
 * is a configuration or metadata error, not a URL to send. */
#define RF_MAX_URL 8192

/* All response header bytes of one download, interim (1xx) blocks included.
 * A static file server sends well under 2 KiB; 64 KiB stops a server that
 * streams headers forever from keeping a client busy without a body. */
#define RF_MAX_HTTP_HEADER_BYTES (64u * 1024u)

/* Hosts in one fleet: above the 8.5 million of the key numbers with room,
 * and small enough that the host arrays stay under 150 MiB. */
#define RF_FLEET_MAX_HOSTS 20000000u
/* Tenants (listed plus generated) and groups per tenant: tenant and group
 * tables stay a few tens of MiB at most. */
#define RF_FLEET_MAX_TENANTS 1000000u
#define RF_FLEET_MAX_GROUPS_PER_TENANT 256u
/* A GA delay is at most three days (DESIGN.md, "Rollouts"). */
#define RF_FLEET_MAX_DELAY_S (72u * 3600u)
/* Sensor builds in one fleet (host_sensor is 16 bits; one per manifest). */
#define RF_FLEET_MAX_SENSORS RF_MAX_SENSORS
/* Bounds of the plan's numbers: a bake longer than a week, or a check-in
 * interval or grace longer than a day, is a typo rather than a plan; a
 * gate that waits for more than a million reports never decides. */
#define RF_PLAN_MAX_BAKE_S (7u * 86400u)
#define RF_PLAN_MAX_INTERVAL_S 86400u
#define RF_PLAN_MAX_REPORTS 1000000u
#define RF_PLAN_MAX_RATIO 1e6
#define RF_PLAN_MAX_CPU_RATIO 100.0

#endif
