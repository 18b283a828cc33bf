/*
 * agent.h — the pieces of the ringfence-agent program (docs/design-agent.md).
 *
 *   main.c     enroll | run | status: options, exit codes, the state directory
 *   conf.c     STATE/agent.json and STATE/run.json
 *   net.c      HTTP to ringfenced with libcurl (CA pinned), back-off with jitter
 *   run.c      the running agent: boot guard at start, the event thread, the
 *              check-in loop, updates through TUF, swaps, confirmations
 *
 * The boot guard, the slots, health and the event sources are library code
 * (lib/agent, include/ringfence/agent.h); this program adds the network, the
 * threads and the policy of when to do what.
 */
#ifndef RINGFENCE_AGENT_PROGRAM_H
#define RINGFENCE_AGENT_PROGRAM_H

#include <stdint.h>

#include "ringfence/agent.h"
#include "ringfence/ringfence.h"
#include "ringfence/util.h"

#define AGENT_PROG "ringfence-agent"

/* Exit codes (docs/man/ringfence-agent.8). */
#define AGENT_EXIT_OK 0      /* done; `run` stopped by SIGTERM or SIGINT */
#define AGENT_EXIT_FAIL 1    /* refused by the server, unreachable, unusable state */
#define AGENT_EXIT_USAGE 2   /* bad command line */
#define AGENT_EXIT_NOSTATE 3 /* the state directory is not an enrolled agent's */

/* Files in the state directory. */
#define AGENT_CONF_FILE "agent.json"
#define AGENT_RUN_FILE "run.json"
#define AGENT_MANIFEST_FILE "sensor.yaml"
#define AGENT_CA_FILE "ca.pem"
#define AGENT_TUF_DIR "tuf"
#define AGENT_DOWNLOAD_DIR "download"
#define AGENT_DETECTIONS_FILE "detections.jsonl"

/* What enrollment stored (STATE/agent.json, mode 0600: it holds the token). */
typedef struct agent_conf {
    int64_t host_id;
    char *server;         /* base URL of ringfenced, no trailing '/' */
    char *tuf_url;        /* base URL of the TUF repository (metadata/, targets/) */
    char *token;          /* the agent's bearer token */
    char *tenant;
    char *group;
    char *hostname;
    char *sensor_version;
    int has_ca;           /* STATE/ca.pem pins the servers' CA */
    int64_t checkin_interval_s;
    int64_t enrolled_at;  /* unix seconds */
} agent_conf;

rf_rc agent_conf_load(const char *state, agent_conf *c, rf_err *err) RF_WUR;
rf_rc agent_conf_save(const char *state, const agent_conf *c, rf_err *err) RF_WUR;
void agent_conf_free(agent_conf *c);

/* "DIR/NAME", malloc'd; NULL on allocation failure. */
char *agent_path(const char *dir, const char *name);

/* ---- HTTP (net.c) ------------------------------------------------------------ */

/* One JSON request to the control plane. BODY may be NULL (GET). On RF_OK
 * *status is the HTTP status and resp holds at most 1 MiB of its body;
 * RF_E_NETWORK when no answer came (connection, TLS, timeout), with why in
 * err. CA_FILE NULL: the system's trust store. */
rf_rc agent_http_json(const char *url, const char *ca_file, const char *bearer,
                      const char *body, uint64_t timeout_ms, long *status, rf_buf *resp,
                      rf_err *err) RF_WUR;

/* The next wait after FAILURES consecutive failed check-ins (>= 1): full
 * jitter over min(cap, base * 2^failures), at least base/2. */
uint64_t agent_backoff_ms(uint32_t failures, uint64_t base_ms, uint64_t cap_ms, rf_rng *rng);

/* ---- running (run.c) ------------------------------------------------------- */

typedef struct agent_run_opts {
    const char *state;
    const char *events;         /* event source spec */
    const char *detections;     /* detections log; NULL: STATE/detections.jsonl */
    uint32_t confirm_after_s;   /* trial confirmed after this long evaluating events */
    uint32_t max_starts;        /* boot guard N */
    uint64_t max_backoff_s;     /* cap on the wait after failed check-ins */
    uint64_t seed;
    int fault_on;               /* --fault crash-on-content=CH:V */
    uint16_t fault_channel;
    uint32_t fault_version;
} agent_run_opts;

/* The whole `run` command; returns an exit code. */
int agent_run(const agent_run_opts *o);

#endif
