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
 * The channel's trial ran long enough: it becomes the last-known-good and
 * the highest trusted version rises to it if higher. RF_E_NOTFOUND if the
 * channel has no trial; RF_E_USAGE on bad arguments.
 */
rf_rc rf_agent_guard_confirm(rf_agent_state *st, uint16_t channel) RF_WUR;

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

#ifdef __cplusplus
}
#endif
#endif
