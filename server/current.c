/*
 * current.c — what a host gets when no rollout speaks for it: the channel's
 * current version (raised by a completed rollout, or by a rollback to the
 * version carrying the last good content), given only as the host's
 * tenant's policy allows: nothing while paused, the pinned version while
 * pinned, and with a GA delay only once the delay has passed since the
 * content's last GA wave opened. Policies come from a cache of the store's
 * policy rows; while the cache is stale nothing is given (a host asks again
 * at its next check-in), so a tenant's pause is never outrun.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

/* ---- policies --------------------------------------------------------------- */

void rfd_policy_of_row(const rf_store_policy *sp, rf_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->mode = strcmp(sp->mode, "early") == 0    ? RF_POLICY_EARLY
              : strcmp(sp->mode, "pinned") == 0 ? RF_POLICY_PINNED
              : strcmp(sp->mode, "paused") == 0 ? RF_POLICY_PAUSED
                                                : RF_POLICY_GA;
    p->ga_delay_s = sp->ga_delay_s;
    p->pinned_version = sp->pinned_version;
    p->emergency_opt_in = sp->emergency_opt_in;
}

void rfd_policy_for(const rf_store_policy *ps, size_t n, int64_t tenant, const char *group,
                    rf_policy *out)
{
    const rf_store_policy *star = NULL;
    for (size_t i = 0; i < n; i++) {
        if (ps[i].tenant_id != tenant)
            continue;
        if (strcmp(ps[i].group, group) == 0) {
            rfd_policy_of_row(&ps[i], out);
            return;
        }
        if (strcmp(ps[i].group, "*") == 0)
            star = &ps[i];
    }
    if (star) {
        rfd_policy_of_row(star, out);
        return;
    }
    memset(out, 0, sizeof(*out));
}

/* ---- state (under ro_mu) ------------------------------------------------------- */

typedef struct chan_cur {
    uint32_t channel;
    uint64_t version;
    uint64_t same_as; /* a rollback version: the version whose content it carries */
    int64_t ga_open;  /* when that content's last GA wave opened */
} chan_cur;

#define MAX_CHANNELS 256
static chan_cur g_cur[MAX_CHANNELS];
static size_t g_ncur;

/* The policy rows of every channel in g_cur or with a rollout replica. */
static rf_store_policy *g_pol;
static size_t g_npol;
static int g_pol_stale = 1;
static uint32_t g_pol_ch[MAX_CHANNELS]; /* the channels g_pol covers */
static size_t g_npol_ch;

static int covered(uint32_t channel)
{
    for (size_t i = 0; i < g_npol_ch; i++)
        if (g_pol_ch[i] == channel)
            return 1;
    return 0;
}

void rfd_current_set(rfd_server *s, uint32_t channel, uint64_t version, uint64_t same_as,
                     int64_t ga_open)
{
    pthread_mutex_lock(&s->ro_mu);
    chan_cur *c = NULL;
    for (size_t i = 0; i < g_ncur; i++)
        if (g_cur[i].channel == channel)
            c = &g_cur[i];
    if (!c && g_ncur < MAX_CHANNELS) {
        c = &g_cur[g_ncur++];
        memset(c, 0, sizeof(*c));
        c->channel = channel;
    }
    if (c && version > c->version) {
        if (same_as) {
            /* A rollback carries content that was current already: its GA
             * opening stays; content never seen as current waits from now. */
            int64_t open = c->version == same_as || c->same_as == same_as ? c->ga_open : 0;
            ga_open = open ? open : (int64_t)time(NULL);
        }
        c->version = version;
        c->same_as = same_as;
        c->ga_open = ga_open;
    }
    if (!covered(channel))
        g_pol_stale = 1;
    pthread_mutex_unlock(&s->ro_mu);
}

uint64_t rfd_current_version(rfd_server *s, uint32_t channel, uint64_t *same_as)
{
    uint64_t v = 0, same = 0;
    pthread_mutex_lock(&s->ro_mu);
    for (size_t i = 0; i < g_ncur; i++)
        if (g_cur[i].channel == channel) {
            v = g_cur[i].version;
            same = g_cur[i].same_as;
        }
    pthread_mutex_unlock(&s->ro_mu);
    if (same_as)
        *same_as = same;
    return v;
}

void rfd_policies_changed(rfd_server *s)
{
    pthread_mutex_lock(&s->ro_mu);
    g_pol_stale = 1;
    pthread_mutex_unlock(&s->ro_mu);
}

/* Reload the cache from the store (the ticker, when stale; and every few
 * seconds, for changes made through other instances). */
static void reload(rfd_server *s)
{
    uint32_t chs[MAX_CHANNELS];
    size_t nch = 0;
    pthread_mutex_lock(&s->ro_mu);
    for (size_t i = 0; i < g_ncur; i++)
        chs[nch++] = g_cur[i].channel;
    for (size_t i = 0; i < s->nro && nch < MAX_CHANNELS; i++) {
        int dup = 0;
        for (size_t j = 0; j < nch; j++)
            dup |= chs[j] == s->ro[i]->row.channel;
        if (!dup)
            chs[nch++] = s->ro[i]->row.channel;
    }
    pthread_mutex_unlock(&s->ro_mu);
    rf_store_tx *tx;
    if (rf_store_begin(s->store, 0, &tx, NULL) != RF_OK)
        return;
    rf_store_policy *all = NULL;
    size_t nall = 0;
    int ok = 1;
    for (size_t i = 0; i < nch && ok; i++) {
        rf_store_policy *ps = NULL;
        size_t n = 0;
        if (rf_store_policy_list(tx, chs[i], &ps, &n, NULL) != RF_OK) {
            ok = 0;
            break;
        }
        rf_store_policy *m = realloc(all, (nall + n + 1) * sizeof(*m));
        if (!m) {
            free(ps);
            ok = 0;
            break;
        }
        all = m;
        if (n)
            memcpy(all + nall, ps, n * sizeof(*ps));
        nall += n;
        free(ps);
    }
    rf_store_rollback(tx);
    if (!ok) {
        free(all);
        return;
    }
    pthread_mutex_lock(&s->ro_mu);
    free(g_pol);
    g_pol = all;
    g_npol = nall;
    memcpy(g_pol_ch, chs, nch * sizeof(*chs));
    g_npol_ch = nch;
    /* Stale again if a channel appeared while this ran. */
    g_pol_stale = 0;
    for (size_t i = 0; i < g_ncur; i++)
        g_pol_stale |= !covered(g_cur[i].channel);
    pthread_mutex_unlock(&s->ro_mu);
}

void rfd_tick_policies(rfd_server *s)
{
    static int64_t last;
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&s->ro_mu);
    int stale = g_pol_stale;
    pthread_mutex_unlock(&s->ro_mu);
    /* Several instances: another one may have changed a policy or revoked
     * a token. */
    int remote = rf_store_backend_of(s->store) == RF_STORE_POSTGRES && now - last >= 2;
    if (remote)
        rfd_tokens_follow_revocations(s);
    if (stale || remote) {
        last = now;
        reload(s);
    }
}

void rfd_policies_free(void)
{
    free(g_pol);
    g_pol = NULL;
    g_npol = 0;
    g_npol_ch = 0;
    g_ncur = 0;
    g_pol_stale = 1;
}

/* The policy of (tenant, group) on channel; 0 if not known now (stale). */
static int policy_now(rfd_server *s, int64_t tenant, const char *group, uint32_t channel,
                      rf_policy *p)
{
    pthread_mutex_lock(&s->ro_mu);
    int ok = !g_pol_stale && covered(channel);
    if (ok) {
        /* Rows are grouped by channel in g_pol. */
        size_t a = 0;
        while (a < g_npol && g_pol[a].channel != channel)
            a++;
        size_t b = a;
        while (b < g_npol && g_pol[b].channel == channel)
            b++;
        rfd_policy_for(g_pol + a, b - a, tenant, group, p);
    }
    pthread_mutex_unlock(&s->ro_mu);
    return ok;
}

void rfd_current_assign(rfd_server *s, const rfd_host *h, uint32_t channel, uint64_t runs,
                        int (*bad)(const void *ctx, uint32_t ch, uint64_t v), const void *ctx,
                        int64_t now, json_t *as)
{
    rf_policy p;
    if (!policy_now(s, h->tenant_id, h->group, channel, &p) || p.mode == RF_POLICY_PAUSED)
        return;
    char tgt[256];
    if (p.mode == RF_POLICY_PINNED) {
        if (p.pinned_version && runs != p.pinned_version) {
            rfd_target_name(channel, p.pinned_version, tgt, sizeof(tgt));
            rfd_assign(as, channel, p.pinned_version, tgt, "pinned");
        }
        return;
    }
    chan_cur c;
    memset(&c, 0, sizeof(c));
    pthread_mutex_lock(&s->ro_mu);
    for (size_t i = 0; i < g_ncur; i++)
        if (g_cur[i].channel == channel)
            c = g_cur[i];
    pthread_mutex_unlock(&s->ro_mu);
    if (!c.version || runs >= c.version || (c.same_as && runs == c.same_as) ||
        bad(ctx, channel, c.version))
        return;
    if (p.mode == RF_POLICY_GA && p.ga_delay_s && now < c.ga_open + (int64_t)p.ga_delay_s)
        return;
    rfd_target_name(channel, c.version, tgt, sizeof(tgt));
    rfd_assign(as, channel, c.version, tgt, "current");
}

size_t rfd_current_channels(rfd_server *s, uint32_t *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&s->ro_mu);
    for (size_t i = 0; i < g_ncur && n < max; i++)
        out[n++] = g_cur[i].channel;
    pthread_mutex_unlock(&s->ro_mu);
    return n;
}
