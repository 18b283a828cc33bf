/*
 * agent.h — the parts of ringfence-agent that need no network and no process
 * of their own (docs/design-agent.md): the boot guard's per-channel state and
 * its file STATE/guard.json, the guard's state machine, and the two content
 * slots per channel under STATE/slots/<channel>/{a,b}.rfc.
 *
 * They live in libringfence so that they are unit tested without processes
 * and so that a sensor embedding the interpreter can use them without the
 * agent program. The guard functions are pure logic on rf_agent_state (no
 * I/O); the caller saves the state with rf_agent_state_save at the points the
 * design names (after a start is counted, before content is loaded; after a
 * trial is recorded, before it is activated).
 *
 * rf_agent_state is plain, fixed-size data owned by the caller (no pointers,
 * nothing to free), so it can live on the stack or in a static.
 */
#ifndef RINGFENCE_AGENT_H
#define RINGFENCE_AGENT_H

#include "ringfence/channel.h"
#include "ringfence/interp.h"
#include "ringfence/limits.h"
#include "ringfence/ringfence.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Channels one host runs content for. Real sensors have tens of channels;
 * 64 keeps the state a fixed 12 KiB and guard.json a few KiB. */
#define RF_AGENT_MAX_CHANNELS 64u

/* Bad versions remembered per channel. Each one is a version that crashed
 * the sensor N times; more than 32 on one channel is a fleet emergency, not
 * something to keep a longer list for. begin_trial refuses (RF_E_LIMIT) once
 * the list is full, so a revert can always record its version. */
#define RF_AGENT_MAX_BAD 32u

/* guard.json size limit: the largest valid state (64 channels, 32 bad
 * versions each, indented) is about 40 KiB; anything bigger is garbage. */
#define RF_AGENT_MAX_STATE_BYTES (64u * 1024u)

/* Starts of an unconfirmed trial before the guard reverts it (design:
 * "N (default 3)"), and the largest N accepted: a guard that waits for more
 * than 100 crashes does not guard. */
#define RF_AGENT_DEFAULT_MAX_STARTS 3u
#define RF_AGENT_MAX_STARTS_LIMIT 100u

/* Version of the guard.json layout ("format"). */
#define RF_AGENT_STATE_FORMAT 1

/* A slot name: 'a' or 'b'; RF_AGENT_SLOT_NONE for "no slot". */
#define RF_AGENT_SLOT_NONE '\0'

/* A trial: content activated but not yet confirmed. */
typedef struct rf_agent_trial {
    char slot;        /* 'a' or 'b' */
    uint32_t version; /* content_version, >= 1 */
    uint32_t starts;  /* agent starts counted since the trial began */
} rf_agent_trial;

/* The guard's state for one channel. */
typedef struct rf_agent_chan {
    uint16_t channel;         /* 1..65535 */
    char active;              /* slot whose content runs, or RF_AGENT_SLOT_NONE */
    uint32_t active_version;  /* 0 when active is NONE */
    char lkg;                 /* last-known-good slot, or RF_AGENT_SLOT_NONE */
    uint32_t lkg_version;     /* 0 when lkg is NONE */
    uint8_t has_trial;        /* 1: trial is meaningful */
    rf_agent_trial trial;
    uint32_t nbad;
    uint32_t bad[RF_AGENT_MAX_BAD]; /* unique, in the order they went bad */
    uint32_t highest_trusted; /* highest version ever confirmed; 0 for none */
} rf_agent_chan;

/* The whole of STATE/guard.json. */
typedef struct rf_agent_state {
    uint32_t nchannels;
    rf_agent_chan ch[RF_AGENT_MAX_CHANNELS]; /* channel numbers unique */
    /* Set by rf_agent_state_load when guard.json was unusable and was moved
     * to STATE/quarantine/: quarantined = 1 and quarantine_msg says what was
     * wrong and where the file went, for the agent's log. Not saved. */
    uint8_t quarantined;
    char quarantine_msg[RF_ERR_MSG_MAX];
} rf_agent_state;

/* What the guard did at a start, to report at the next check-in. */
typedef struct rf_agent_action {
    uint16_t channel;
    uint32_t reverted_version; /* now in the channel's bad list */
    uint32_t restored_version; /* the last-known-good now active; 0 for none */
} rf_agent_action;

typedef struct rf_agent_actions {
    uint32_t n;
    rf_agent_action a[RF_AGENT_MAX_CHANNELS]; /* at most one per channel */
} rf_agent_actions;

/* An empty state: no channels, not quarantined. NULL-safe. */
void rf_agent_state_init(rf_agent_state *st);

/*
 * Load DIR/guard.json into *st (caller-owned). A missing file is an empty
 * state. A file that is too large, does not parse, or fails the checks
 * (unknown fields, wrong types, a slot that is not "a"/"b", counts or versions
 * out of range, fields that contradict each other) is moved to
 * DIR/quarantine/guard.json.<unix time> and *st is an empty state with
 * st->quarantined = 1 (and st->quarantine_msg), with RF_OK returned, so
 * that a torn file never becomes a crash loop.
 * Fails (RF_E_IO) only when the file cannot be read for another reason or
 * cannot be moved aside; RF_E_USAGE on NULL arguments.
 */
rf_rc rf_agent_state_load(const char *dir, rf_agent_state *st, rf_err *err) RF_WUR;

/*
 * Write *st to DIR/guard.json with rf_file_write_atomic (mode 0600), creating
 * DIR (0700) if it is missing. A state that load would refuse is not written
 * (RF_E_USAGE), so save never produces a file that gets quarantined.
 */
rf_rc rf_agent_state_save(const char *dir, const rf_agent_state *st, rf_err *err) RF_WUR;

/* The channel's entry in *st, or NULL if it has none. Points into *st. */
const rf_agent_chan *rf_agent_state_find(const rf_agent_state *st, uint16_t channel);

/* ---- the boot guard (pure logic, no I/O) --------------------------------- */

/* begin_trial flag: the assignment is a rollback, so a version below the
 * highest trusted one is allowed (a bad version still is not). */
#define RF_AGENT_TRIAL_ROLLBACK 0x1u

/*
 * Record that VERSION, written to SLOT of CHANNEL, is about to be activated
 * on trial: it becomes the channel's active content with starts = 0. Adds the
 * channel to *st if it is new. Refused, with *st unchanged:
 *   RF_E_ROLLBACK  VERSION is in the bad list, or is below the highest
 *                  trusted version and flags lack RF_AGENT_TRIAL_ROLLBACK;
 *   RF_E_USAGE     bad arguments, SLOT is the last-known-good slot (the
 *                  fallback is never overwritten), or VERSION already is
 *                  the last-known-good;
 *   RF_E_LIMIT     the channel is new and the state is full, or the
 *                  channel's bad list is full.
 * A trial of the same version already under way keeps its start count, so a
 * repeated assignment cannot reset the guard.
 */
rf_rc rf_agent_guard_begin_trial(rf_agent_state *st, uint16_t channel, char slot,
                                 uint32_t version, unsigned flags) RF_WUR;

/*
 * Call at every agent start, before any content is loaded (and save the
 * state before loading it). For every channel on trial, starts += 1; a trial
 * that reaches MAX_STARTS (0 means RF_AGENT_DEFAULT_MAX_STARTS) is reverted:
 * the last-known-good becomes active again (or nothing, if there is none),
 * the trial's version is added to the bad list and the trial ends. *out
 * (caller-owned) lists the reverts of this start, each exactly once.
 * RF_E_USAGE (nothing changed) on NULL arguments or MAX_STARTS above
 * RF_AGENT_MAX_STARTS_LIMIT.
 */
rf_rc rf_agent_guard_on_start(rf_agent_state *st, uint32_t max_starts,
                              rf_agent_actions *out) RF_WUR;

/*
 * Call when the agent stops cleanly (a handled SIGTERM or SIGINT, after the
 * event thread has stopped and the content is unloaded), then save: the
 * start that ends this way is taken back from every trial's count, so that
 * restarts of a service or shutdowns of a host during a trial do not mark
 * good content bad. What the guard counts is starts that followed no clean
 * stop: a crash, a kill, a power cut, a hang a watchdog ended. Returns the
 * number of trials whose count went down; NULL-safe (0).
 */
uint32_t rf_agent_guard_on_clean_stop(rf_agent_state *st);

/*
 * The channel's trial ran long enough: it becomes the last-known-good and
 * the highest trusted version rises to it if higher. RF_E_NOTFOUND if the
 * channel has no trial; RF_E_USAGE on bad arguments.
 */
rf_rc rf_agent_guard_confirm(rf_agent_state *st, uint16_t channel) RF_WUR;

/*
 * Revert the channel's trial now, as on_start does at the Nth start: for
 * content that cannot even be loaded from its slot at start. The version
 * becomes bad; *out says what was reverted and restored. RF_E_NOTFOUND if
 * the channel has no trial; RF_E_USAGE on bad arguments.
 */
rf_rc rf_agent_guard_revert(rf_agent_state *st, uint16_t channel,
                            rf_agent_action *out) RF_WUR;

/*
 * The control plane withdrew the channel's content (a rollback with nothing
 * to go back to): nothing runs on it any more, with no last-known-good. The
 * bad versions and the highest trusted version stay. RF_E_NOTFOUND if *st
 * does not know the channel.
 */
rf_rc rf_agent_guard_remove(rf_agent_state *st, uint16_t channel) RF_WUR;

/* ---- the A/B slots ------------------------------------------------------- */

/*
 * The slot to write CHANNEL's next content into: never the last-known-good
 * (the guard's fallback); with no last-known-good, not the active slot; 'a'
 * for a channel *st does not know. Sets *slot; RF_E_USAGE on bad arguments.
 */
rf_rc rf_agent_slot_inactive(const rf_agent_state *st, uint16_t channel,
                             char *slot) RF_WUR;

/*
 * Write BUF[0..LEN) as DIR/slots/<channel>/<slot>.rfc with
 * rf_file_write_atomic (mode 0600), creating the directories (0700). The
 * bytes are not interpreted here; the caller has checked them with
 * rf_channel_read. RF_E_LIMIT above RF_MAX_CHANNEL_BYTES.
 */
rf_rc rf_agent_slot_write(const char *dir, uint16_t channel, char slot,
                          const void *buf, size_t len, rf_err *err) RF_WUR;

/*
 * Read DIR/slots/<channel>/<slot>.rfc through rf_channel_read. On success *ch
 * is a new channel the caller frees with rf_channel_free. A file whose
 * channel number is not CHANNEL is RF_E_FORMAT.
 */
rf_rc rf_agent_slot_read(const char *dir, uint16_t channel, char slot,
                         rf_channel **ch, rf_err *err) RF_WUR;


/* ---- health (lib/agent/health.c) ----------------------------------------- */

/* Entries of "top_detections" in a check-in. */
#define RF_AGENT_HEALTH_TOP 10u
/* Distinct (channel, version, instance) detection counters kept; detections
 * of further instances are still counted in the totals. */
#define RF_AGENT_HEALTH_MAX_KEYS 65536u
#define RF_AGENT_INSTANCE_ID_MAX (RF_ID_MAX + 1u) /* an id and its NUL */

/*
 * What the agent measures for its check-ins. Thread-safe: the event thread
 * calls rf_agent_health_event / _detection while the check-in thread takes
 * snapshots. Totals (events, detections) run from the agent's start; the
 * per-event cost figures (mean, p50, p99) cover the window since the last
 * snapshot that asked for a new window, so the gates see the cost of what
 * runs now.
 */
typedef struct rf_agent_health rf_agent_health;

typedef struct rf_agent_top {
    uint16_t channel;
    uint32_t version;
    char instance[RF_AGENT_INSTANCE_ID_MAX]; /* truncated if longer */
    uint64_t count;
} rf_agent_top;

typedef struct rf_agent_health_snap {
    uint64_t events;      /* evaluated since start */
    uint64_t detections;  /* since start */
    uint64_t window_events;
    uint64_t cpu_ns_mean; /* over the window, samples above 16x the median
                             counted as 16x the median (preemption, not
                             content); 0 when the window saw no event */
    uint64_t cpu_ns_p50;  /* from a log-linear histogram, within 1/16 */
    uint64_t cpu_ns_p99;
    uint32_t ntop;        /* most frequent first, ties by channel, instance */
    rf_agent_top top[RF_AGENT_HEALTH_TOP];
} rf_agent_health_snap;

rf_rc rf_agent_health_new(rf_agent_health **out) RF_WUR;
void rf_agent_health_free(rf_agent_health *h); /* NULL-safe */
/* One event evaluated (against every active channel) in COST_NS. */
void rf_agent_health_event(rf_agent_health *h, uint64_t cost_ns);
/* One detection by INSTANCE of CHANNEL at content VERSION. */
void rf_agent_health_detection(rf_agent_health *h, uint16_t channel, uint32_t version,
                               const char *instance);
/* Fill *out; with NEW_WINDOW, start a new cost window after reading. */
void rf_agent_health_snapshot(rf_agent_health *h, int new_window,
                              rf_agent_health_snap *out);
/* This process's resident set size in KiB (/proc/self/statm), 0 if unknown. */
uint64_t rf_agent_rss_kb(void);

/* ---- event sources (lib/agent/events.c) ---------------------------------- */

/*
 * Where the agent's events come from (run --events SPEC):
 *   "replay:FILE"     JSON lines (rf_event_parse) read once, as fast as they
 *                     are evaluated; then the source is at its end
 *   "stdin"           JSON lines from standard input, as they arrive
 *   "synthetic:RATE"  RATE events per second (1..1000000), generated from a
 *                     model of the content that runs (rf_agent_synth_model)
 *   "none"            no events (the source is at its end at once)
 * A line that does not parse is counted (rf_agent_source_bad) and skipped,
 * never fatal.
 */
typedef struct rf_agent_source rf_agent_source;

/* A synthetic event's shape: built from a channel (the template type it
 * serves, field types taken from its criteria and embedded tests, and the
 * inputs of up to 256 of its instances' expect-match tests) for a sensor
 * that supplies NINPUTS inputs. Owns copies of what it needs; the channel
 * may be freed afterwards. */
typedef struct rf_agent_synth_model rf_agent_synth_model;
rf_rc rf_agent_synth_model_new(const rf_channel *ch, uint32_t ninputs,
                               rf_agent_synth_model **out) RF_WUR;
void rf_agent_synth_model_free(rf_agent_synth_model *m); /* NULL-safe */

/* One event handed to the evaluator. Valid until the next call of
 * rf_agent_source_next on the same source. */
typedef struct rf_agent_event {
    uint64_t seq;              /* 1, 2, 3, ... per source, no gaps */
    const char *template_type; /* NULL when the event does not say */
    uint32_t ninputs;
    const rf_input *inputs;
} rf_agent_event;

/* Open SPEC (above). RF_E_USAGE with a message for a bad spec, RF_E_IO for
 * a replay file that cannot be opened. SEED makes synthetic events
 * reproducible. */
rf_rc rf_agent_source_open(const char *spec, uint64_t seed, rf_agent_source **out,
                           rf_err *err) RF_WUR;
void rf_agent_source_close(rf_agent_source *s); /* NULL-safe */

/*
 * The next event, waiting at most TIMEOUT_MS for it. RF_OK: *ev is set.
 * RF_E_NOTFOUND: none arrived in time (try again).
 * RF_E_IO: the source is at its end (replay file done, stdin closed, "none")
 * and will give no more. MODEL (may be NULL) is what a synthetic source
 * builds its events from: without one it gives background events of 20
 * string inputs with no template type. Other sources ignore MODEL.
 * Synthetic events: about 1 in 100 is an instance's expect-match test event
 * (inputs outside the test filled with background values), the rest
 * background values that match no instance's distinctive criteria by chance
 * only; paced to RATE on the monotonic clock.
 */
rf_rc rf_agent_source_next(rf_agent_source *s, const rf_agent_synth_model *model,
                           int timeout_ms, rf_agent_event *ev) RF_WUR;

/* Lines that failed to parse and were skipped. */
uint64_t rf_agent_source_bad(const rf_agent_source *s);

#ifdef __cplusplus
}
#endif
#endif
