/*
 * guard.c — the boot guard's state machine (agent.h, docs/design-agent.md
 * "Boot guard"). Pure logic on rf_agent_state: the caller persists the state,
 * so every transition here can be unit tested without a process that
 * crashes. A channel is in one of two shapes, which state.c checks on load:
 *   settled: active == last-known-good (both possibly none), no trial;
 *   on trial: active == the trial's slot and version, which is not the
 *             last-known-good slot, so the fallback's file is never touched.
 * begin_trial moves settled -> on trial, confirm moves the trial into the
 * last-known-good, and on_start counts starts and reverts a trial that has
 * crashed the agent N times, marking its version bad for good.
 */
#include <string.h>

#include "ringfence/agent.h"

static rf_agent_chan *find_mut(rf_agent_state *st, uint16_t channel)
{
    return (rf_agent_chan *)rf_agent_state_find(st, channel);
}

static int in_bad(const rf_agent_chan *c, uint32_t v)
{
    for (uint32_t i = 0; i < c->nbad; i++)
        if (c->bad[i] == v)
            return 1;
    return 0;
}

rf_rc rf_agent_guard_begin_trial(rf_agent_state *st, uint16_t channel, char slot,
                                 uint32_t version, unsigned flags)
{
    if (!st || channel == 0 || (slot != 'a' && slot != 'b') || version == 0 ||
        (flags & ~RF_AGENT_TRIAL_ROLLBACK) || st->nchannels > RF_AGENT_MAX_CHANNELS)
        return RF_E_USAGE;
    rf_agent_chan fresh;
    rf_agent_chan *c = find_mut(st, channel);
    if (!c) {
        if (st->nchannels == RF_AGENT_MAX_CHANNELS)
            return RF_E_LIMIT;
        memset(&fresh, 0, sizeof(fresh));
        fresh.channel = channel;
        c = &fresh;
    }
    if (in_bad(c, version))
        return RF_E_ROLLBACK;
    if (version < c->highest_trusted && !(flags & RF_AGENT_TRIAL_ROLLBACK))
        return RF_E_ROLLBACK;
    if (slot == c->lkg || version == c->lkg_version)
        return RF_E_USAGE; /* the fallback's file, or what already is the fallback */
    if (c->nbad >= RF_AGENT_MAX_BAD)
        return RF_E_LIMIT; /* a revert could not record this version */

    if (!(c->has_trial && c->trial.version == version))
        c->trial.starts = 0; /* the same version again keeps its count */
    c->has_trial = 1;
    c->trial.slot = slot;
    c->trial.version = version;
    c->active = slot;
    c->active_version = version;
    if (c == &fresh)
        st->ch[st->nchannels++] = fresh;
    return RF_OK;
}

/* End C's trial: the last-known-good runs again and the trial's version is
 * bad for good. begin_trial left room in bad for it. */
static void revert_trial(rf_agent_chan *c, rf_agent_action *a)
{
    if (!in_bad(c, c->trial.version) && c->nbad < RF_AGENT_MAX_BAD)
        c->bad[c->nbad++] = c->trial.version;
    a->channel = c->channel;
    a->reverted_version = c->trial.version;
    a->restored_version = c->lkg_version;
    c->active = c->lkg;
    c->active_version = c->lkg_version;
    c->has_trial = 0;
    memset(&c->trial, 0, sizeof(c->trial));
}

rf_rc rf_agent_guard_on_start(rf_agent_state *st, uint32_t max_starts,
                              rf_agent_actions *out)
{
    if (!st || !out || max_starts > RF_AGENT_MAX_STARTS_LIMIT ||
        st->nchannels > RF_AGENT_MAX_CHANNELS)
        return RF_E_USAGE;
    if (max_starts == 0)
        max_starts = RF_AGENT_DEFAULT_MAX_STARTS;
    rf_agent_actions acts;
    memset(&acts, 0, sizeof(acts));
    for (uint32_t i = 0; i < st->nchannels; i++) {
        rf_agent_chan *c = &st->ch[i];
        if (!c->has_trial)
            continue;
        c->trial.starts++;
        if (c->trial.starts < max_starts)
            continue;
        /* N starts and no confirmation: the content is taken to be what
         * crashes the agent. */
        revert_trial(c, &acts.a[acts.n++]);
    }
    *out = acts;
    return RF_OK;
}

uint32_t rf_agent_guard_on_clean_stop(rf_agent_state *st)
{
    if (!st || st->nchannels > RF_AGENT_MAX_CHANNELS)
        return 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->nchannels; i++) {
        rf_agent_chan *c = &st->ch[i];
        /* starts is 0 for a trial this run began: its start was counted
         * before the trial existed, so there is nothing to take back. */
        if (c->has_trial && c->trial.starts > 0) {
            c->trial.starts--;
            n++;
        }
    }
    return n;
}

rf_rc rf_agent_guard_confirm(rf_agent_state *st, uint16_t channel)
{
    if (!st || channel == 0)
        return RF_E_USAGE;
    rf_agent_chan *c = find_mut(st, channel);
    if (!c || !c->has_trial)
        return RF_E_NOTFOUND;
    c->lkg = c->trial.slot;
    c->lkg_version = c->trial.version;
    if (c->trial.version > c->highest_trusted)
        c->highest_trusted = c->trial.version;
    c->active = c->lkg;
    c->active_version = c->lkg_version;
    c->has_trial = 0;
    memset(&c->trial, 0, sizeof(c->trial));
    return RF_OK;
}

rf_rc rf_agent_guard_revert(rf_agent_state *st, uint16_t channel, rf_agent_action *out)
{
    if (!st || !out || channel == 0)
        return RF_E_USAGE;
    rf_agent_chan *c = find_mut(st, channel);
    if (!c || !c->has_trial)
        return RF_E_NOTFOUND;
    revert_trial(c, out);
    return RF_OK;
}

rf_rc rf_agent_guard_remove(rf_agent_state *st, uint16_t channel)
{
    if (!st || channel == 0)
        return RF_E_USAGE;
    rf_agent_chan *c = find_mut(st, channel);
    if (!c)
        return RF_E_NOTFOUND;
    c->active = c->lkg = RF_AGENT_SLOT_NONE;
    c->active_version = c->lkg_version = 0;
    c->has_trial = 0;
    memset(&c->trial, 0, sizeof(c->trial));
    return RF_OK;
}

rf_rc rf_agent_slot_inactive(const rf_agent_state *st, uint16_t channel, char *slot)
{
    if (!st || !slot || channel == 0)
        return RF_E_USAGE;
    const rf_agent_chan *c = rf_agent_state_find(st, channel);
    char busy = c ? (c->lkg != RF_AGENT_SLOT_NONE ? c->lkg : c->active) : RF_AGENT_SLOT_NONE;
    *slot = busy == 'a' ? 'b' : 'a';
    return RF_OK;
}
