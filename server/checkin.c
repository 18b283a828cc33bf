/*
 * checkin.c — the agent's two calls. POST /v1/enroll turns a tenant's
 * enrollment token into a host and its agent token (one transaction, with an
 * audit line). POST /v1/checkin is the hot path: it is answered from memory —
 * the host, its rollouts' replicas, the channels' current versions — and its
 * health becomes engine reports on a queue that the ticker writes to the
 * rollout log; it takes no database lock (docs/design-server.md, "Check-in").
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

int rfd_word_ok(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || (extra && strchr(extra, c))))
            return 0;
    }
    return 1;
}

/* [A-Za-z0-9._-]{1,max-1} */
static int token_word(const char *s, size_t max)
{
    return rfd_word_ok(s, max, NULL);
}

int rfd_group_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= RF_NAME_MAX)
        return 0;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void rfd_api_enroll(rfd_req *r)
{
    static const char *const allowed[] = {"hostname", "sensor_version", "group", NULL};
    json_t *o = rfd_body_object(r, allowed);
    if (!o)
        return;
    const char *hostname = NULL, *sv = NULL, *group = "default";
    if (rfd_get_str(r, o, "hostname", &hostname) < 0 || rfd_get_str(r, o, "sensor_version", &sv) < 0 ||
        rfd_get_str(r, o, "group", &group) < 0)
        goto out;
    if (!hostname || !token_word(hostname, RF_NAME_MAX * 2)) {
        rfd_fail(r, 400, "field 'hostname' is required: 1..127 characters of [A-Za-z0-9._-]");
        goto out;
    }
    if (!sv || !token_word(sv, RF_SENSOR_VERSION_MAX)) {
        rfd_fail(r, 400,
                 "field 'sensor_version' is required: 1..63 characters of [A-Za-z0-9._-]");
        goto out;
    }
    if (!rfd_group_name_ok(group)) {
        rfd_fail(r, 400, "field 'group' must be 1..63 characters of [a-z0-9_-]");
        goto out;
    }
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(r->srv->store, 1, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        goto out;
    }
    rf_store_tenant t;
    rf_store_host h;
    memset(&h, 0, sizeof(h));
    h.tenant_id = r->auth.tenant_id;
    snprintf(h.group, sizeof(h.group), "%s", group);
    snprintf(h.hostname, sizeof(h.hostname), "%s", hostname);
    snprintf(h.sensor_version, sizeof(h.sensor_version), "%s", sv);
    h.enrolled = r->now;
    char token[68];
    int64_t tok_id;
    rf_rc rc = rf_store_tenant_by_id(tx, r->auth.tenant_id, &t, &err);
    if (!rc)
        rc = rf_store_host_create(tx, &h, &h.id, &err);
    if (!rc)
        rc = rfd_token_issue(r->srv, tx, "agent", hostname, h.tenant_id, h.id, r->now, token,
                             &tok_id, &err);
    if (!rc) {
        char obj[64];
        snprintf(obj, sizeof(obj), "host/%lld", (long long)h.id);
        json_t *d = json_pack("{s:s,s:s,s:s,s:s}", "tenant", t.name, "hostname", hostname,
                              "sensor_version", sv, "group", group);
        rc = rfd_audit(r, tx, "host.enroll", obj, d, &err);
        json_decref(d);
    }
    if (!rc)
        rc = rf_store_commit(tx, &err);
    else
        rf_store_rollback(tx);
    if (rc) {
        rfd_store_fail(r, &err);
        goto out;
    }
    (void)rfd_host_add(r->srv, &h);
    rfd_auth aa;
    memset(&aa, 0, sizeof(aa));
    aa.token_id = tok_id;
    aa.role = RFD_AGENT;
    snprintf(aa.name, sizeof(aa.name), "%s", hostname);
    aa.tenant_id = h.tenant_id;
    aa.host_id = h.id;
    rfd_token_remember(r->srv, token, &aa);
    atomic_fetch_add(&r->srv->m.enrollments, 1);
    rfd_reply(r, 201,
              json_pack("{s:I,s:s,s:s,s:s,s:I}", "host_id", (json_int_t)h.id, "token", token,
                        "tenant", t.name, "group", group, "checkin_interval_s",
                        (json_int_t)r->srv->cfg.checkin_interval_s));
out:
    json_decref(o);
}

/* ---- check-in ------------------------------------------------------------------ */

typedef struct chan_state {
    uint32_t channel;
    uint64_t version;
    int load_failed; /* the agent could not load `version` */
} chan_state;

typedef struct checkin {
    chan_state ch[RFD_MAX_CHANNELS_PER_HOST];
    uint32_t nch;
    struct {
        uint32_t channel;
        uint64_t version;
    } bad[32];
    uint32_t nbad;
    int64_t events, detections, cpu_ns_mean;
    int has_health;
} checkin;

static int parse_checkin(rfd_req *r, json_t *o, checkin *c)
{
    memset(c, 0, sizeof(*c));
    json_t *content = json_object_get(o, "content");
    if (content && !json_is_array(content)) {
        rfd_fail(r, 400, "field 'content' must be an array of {channel, version, status}");
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(content, i, v)
    {
        static const char *const ck[] = {"channel", "version", "status"};
        if (!json_is_object(v)) {
            rfd_fail(r, 400, "content[%zu] must be an object", i);
            return -1;
        }
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            int ok = 0;
            for (size_t j = 0; j < 3; j++)
                ok |= strcmp(k, ck[j]) == 0;
            if (!ok) {
                rfd_fail(r, 400, "unknown field 'content[%zu].%s'", i, k);
                return -1;
            }
        }
        int64_t chn = 0, ver = 0;
        const char *st = "active";
        if (rfd_get_int(r, v, "channel", 1, 65535, &chn) <= 0) {
            if (!r->out)
                rfd_fail(r, 400, "content[%zu].channel is required (1..65535)", i);
            return -1;
        }
        if (rfd_get_int(r, v, "version", 0, INT64_MAX, &ver) < 0 ||
            rfd_get_str(r, v, "status", &st) < 0)
            return -1;
        if (strcmp(st, "active") && strcmp(st, "load_failed") && strcmp(st, "none")) {
            rfd_fail(r, 400, "content[%zu].status must be active, load_failed or none", i);
            return -1;
        }
        if (c->nch == RFD_MAX_CHANNELS_PER_HOST) {
            rfd_fail(r, 400, "at most %d channels per host", RFD_MAX_CHANNELS_PER_HOST);
            return -1;
        }
        c->ch[c->nch].channel = (uint32_t)chn;
        c->ch[c->nch].version = (uint64_t)ver;
        c->ch[c->nch].load_failed = strcmp(st, "load_failed") == 0;
        c->nch++;
    }
    json_t *h = json_object_get(o, "health");
    if (!h)
        return 0;
    if (!json_is_object(h)) {
        rfd_fail(r, 400, "field 'health' must be an object");
        return -1;
    }
    static const char *const hk[] = {"uptime_s",      "boot_attempts", "reverts",  "events",
                                     "cpu_ns_mean",   "cpu_ns_p50",    "cpu_ns_p99", "detections",
                                     "rss_kb",        "bad",           "top_detections",
                                     "load_failures", "channels"};
    const char *k;
    json_t *x;
    json_object_foreach(h, k, x)
    {
        int ok = 0;
        for (size_t j = 0; j < sizeof(hk) / sizeof(hk[0]); j++)
            ok |= strcmp(k, hk[j]) == 0;
        if (!ok) {
            rfd_fail(r, 400, "unknown field 'health.%s'", k);
            return -1;
        }
        if (strcmp(k, "bad") && strcmp(k, "top_detections") && strcmp(k, "channels") &&
            !(json_is_integer(x) && json_integer_value(x) >= 0)) {
            rfd_fail(r, 400, "field 'health.%s' must be a non-negative integer", k);
            return -1;
        }
    }
    c->has_health = 1;
    c->events = json_integer_value(json_object_get(h, "events"));
    c->detections = json_integer_value(json_object_get(h, "detections"));
    c->cpu_ns_mean = json_integer_value(json_object_get(h, "cpu_ns_mean"));
    json_t *bad = json_object_get(h, "bad");
    if (bad && !json_is_array(bad)) {
        rfd_fail(r, 400, "field 'health.bad' must be an array of {channel, version}");
        return -1;
    }
    json_array_foreach(bad, i, v)
    {
        int64_t chn = 0, ver = 0;
        if (!json_is_object(v) || rfd_get_int(r, v, "channel", 1, 65535, &chn) <= 0 ||
            rfd_get_int(r, v, "version", 1, INT64_MAX, &ver) <= 0) {
            if (!r->out)
                rfd_fail(r, 400, "health.bad[%zu] must be {channel, version}", i);
            return -1;
        }
        if (c->nbad < 32) {
            c->bad[c->nbad].channel = (uint32_t)chn;
            c->bad[c->nbad].version = (uint64_t)ver;
            c->nbad++;
        }
    }
    json_t *top = json_object_get(h, "top_detections");
    if (top && !json_is_array(top)) {
        rfd_fail(r, 400, "field 'health.top_detections' must be an array");
        return -1;
    }
    json_t *chs = json_object_get(h, "channels");
    if (chs && !json_is_array(chs)) {
        rfd_fail(r, 400, "field 'health.channels' must be an array");
        return -1;
    }
    return 0;
}

static const chan_state *find_chan(const checkin *c, uint32_t channel)
{
    for (uint32_t i = 0; i < c->nch; i++)
        if (c->ch[i].channel == channel)
            return &c->ch[i];
    return NULL;
}

static int is_bad(const checkin *c, uint32_t channel, uint64_t version)
{
    if (!c)
        return 0;
    for (uint32_t i = 0; i < c->nbad; i++)
        if (c->bad[i].channel == channel && c->bad[i].version == version)
            return 1;
    return 0;
}

void rfd_assign(json_t *arr, uint32_t channel, uint64_t version, const char *target,
                const char *kind)
{
    json_t *o = json_pack("{s:I,s:I,s:s}", "channel", (json_int_t)channel, "content_version",
                          (json_int_t)version, "kind", kind);
    json_object_set_new(o, "target", target && *target ? json_string(target) : json_null());
    json_array_append_new(arr, o);
}

static int bad_cb(const void *ctx, uint32_t channel, uint64_t version)
{
    return is_bad(ctx, channel, version);
}

static void queue(rfd_server *s, const rfd_rollout *ro, int64_t t, rf_report_kind k, int64_t idx,
                  int treated, double value)
{
    rf_store_inbox e = {ro->id, t, (int)k, idx, treated, value};
    rfd_queue_report(s, &e);
}

void rfd_target_name(uint32_t channel, uint64_t version, char *buf, size_t n)
{
    snprintf(buf, n, "channels/%u/%llu.rfc", channel, (unsigned long long)version);
}

void rfd_api_checkin(rfd_req *r)
{
    rfd_server *s = r->srv;
    static const char *const allowed[] = {"sensor_version", "content", "health", NULL};
    json_t *o = rfd_body_object(r, allowed);
    if (!o)
        return;
    checkin c;
    const char *sv = NULL;
    if (rfd_get_str(r, o, "sensor_version", &sv) < 0 || parse_checkin(r, o, &c) < 0)
        goto out;
    rfd_host *h = rfd_host_find(s, r->auth.host_id);
    if (!h) {
        /* Enrolled through another instance: load it once. */
        rf_store_tx *tx;
        rf_store_host sh;
        rf_err err;
        if (rf_store_begin(s->store, 0, &tx, &err) != RF_OK) {
            rfd_store_fail(r, &err);
            goto out;
        }
        rf_rc rc = rf_store_host_get(tx, r->auth.host_id, &sh, &err);
        rf_store_rollback(tx);
        if (rc) {
            rfd_fail(r, 404, "host %lld is not enrolled", (long long)r->auth.host_id);
            goto out;
        }
        (void)rfd_host_add(s, &sh);
        h = rfd_host_find(s, r->auth.host_id);
        if (!h) {
            rfd_fail(r, 503, "out of memory");
            goto out;
        }
    }
    if (sv && strcmp(sv, h->sensor_version) != 0) {
        rfd_fail(r, 409,
                 "host %lld enrolled with sensor %s but reports %s: enroll again after a "
                 "sensor upgrade",
                 (long long)h->id, h->sensor_version, sv);
        goto out;
    }
    int64_t now = r->now;
    atomic_store(&h->last_seen, now);
    atomic_fetch_add(&s->m.checkins, 1);

    /* Health deltas since the last check-in (totals restart with the agent). */
    int64_t d_det = 0, d_ev = 0;
    pthread_mutex_lock(&h->mu);
    if (c.has_health) {
        d_det = (uint64_t)c.detections >= h->detections ? c.detections - (int64_t)h->detections
                                                         : c.detections;
        d_ev = (uint64_t)c.events >= h->events ? c.events - (int64_t)h->events : c.events;
        h->detections = (uint64_t)c.detections;
        h->events = (uint64_t)c.events;
    }
    h->nchan = c.nch;
    for (uint32_t i = 0; i < c.nch; i++) {
        h->chan[i] = c.ch[i].channel;
        h->version[i] = c.ch[i].version;
    }
    pthread_mutex_unlock(&h->mu);

    json_t *as = json_array();
    uint32_t done[RFD_MAX_CHANNELS_PER_HOST + 64] = {0};
    size_t ndone = 0;
    char tgt[256];

    pthread_mutex_lock(&s->ro_mu);
    size_t nro = s->nro;
    rfd_rollout *ros[64];
    if (nro > 64)
        nro = 64;
    if (nro)
        memcpy(ros, s->ro, nro * sizeof(*ros));
    pthread_mutex_unlock(&s->ro_mu);

    for (size_t i = 0; i < nro; i++) {
        rfd_rollout *ro = ros[i];
        int64_t idx = rfd_rollout_index(ro, h->id);
        if (idx < 0)
            continue;
        uint32_t ch = ro->row.channel;
        done[ndone++] = ch;
        const chan_state *cs = find_chan(&c, ch);
        uint64_t runs_v = cs ? cs->version : 0;
        uint64_t rv = ro->row.content_version;
        int runs = runs_v == rv;

        pthread_rwlock_rdlock(&ro->lock);
        uint8_t fl = atomic_load(&ro->applied[idx]) | atomic_load(&ro->queued[idx]);
        int took = (fl & RFD_F_TOOK) != 0;
        rf_assign a = rf_rollout_assignment(ro->eng, (uint32_t)idx, now, took);
        rf_rollout_state st = rf_rollout_state_of(ro->eng);
        int rolling_back = rf_rollout_rolling_back(ro->eng);
        uint64_t rbv = rolling_back ? rf_rollout_rollback_version(ro->eng) : 0;
        uint32_t g = ro->fleet.host_group[idx];
        rf_policy pol = ro->fleet.groups[g].policy;
        int internal = ro->fleet.tenants[ro->fleet.groups[g].tenant].internal;
        pthread_rwlock_unlock(&ro->lock);
        int live = strcmp(ro->row.state, "running") == 0;

        /* What the host measured since its last check-in (CPU per event,
         * detections) counts for the release only if it ran the release
         * then: a host that is told to take it now measured its old
         * content. And only if it ran content of this channel at all: a
         * host with none (before the channel's first release) detects
         * nothing and costs nothing, which says nothing of what content
         * does, and as control it made every first release look like a
         * detection storm. */
        if (live && ((took && runs) || runs_v > 0))
            rfd_measure(ro, idx, took && runs, d_det > 0 ? (uint64_t)d_det : 0,
                        d_ev > 0 && c.cpu_ns_mean > 0 ? (uint64_t)c.cpu_ns_mean : 0);

        if (!internal && pol.mode == RF_POLICY_PINNED) {
            if (pol.pinned_version && runs_v != pol.pinned_version) {
                rfd_target_name(ch, pol.pinned_version, tgt, sizeof(tgt));
                rfd_assign(as, ch, pol.pinned_version, tgt, "pinned");
            }
        } else if (a == RF_ASSIGN_RELEASE) {
            if (!(atomic_fetch_or(&ro->queued[idx], RFD_F_TOOK) & RFD_F_TOOK) && live)
                queue(s, ro, now, RF_REPORT_TOOK, idx, 1, 0);
            rfd_assign(as, ch, rv, ro->target, "release");
        } else if (a == RF_ASSIGN_ROLLBACK) {
            if (runs_v != rbv)
                rfd_assign(as, ch, rbv, ro->rb_target, ro->rb_target[0] ? "rollback" : "remove");
        } else if (took && !runs && !is_bad(&c, ch, rv) && st != RF_ROLLOUT_HALTED &&
                   runs_v < rv) {
            rfd_assign(as, ch, rv, ro->target, "release"); /* not fetched yet: again */
        } else if (a == RF_ASSIGN_NONE && !took) {
            /* Not its turn in this rollout (a wave not open yet, a GA
             * delay, excluded): what it may have outside it. */
            rfd_current_assign(s, h, ch, runs_v, bad_cb, &c, now, as);
        }

        if (!live)
            continue;
        if (fl & RFD_F_SILENT) {
            if (!(atomic_fetch_or(&ro->queued[idx], RFD_F_SILENT) & RFD_F_SILENT))
                queue(s, ro, now, RF_REPORT_BACK, idx, took, 0);
        }
        if (runs && took)
            queue(s, ro, now, RF_REPORT_CHECKIN, idx, 1, 0);
        if (took && is_bad(&c, ch, rv) &&
            !(atomic_fetch_or(&ro->queued[idx], RFD_F_REVERT) & RFD_F_REVERT))
            queue(s, ro, now, RF_REPORT_REVERT, idx, 1, 0);
        if (took && cs && runs && cs->load_failed &&
            !(atomic_fetch_or(&ro->queued[idx], RFD_F_LOADFAIL) & RFD_F_LOADFAIL))
            queue(s, ro, now, RF_REPORT_LOAD_FAIL, idx, 1, 0);
    }

    /* Channels where this host is in no rollout: the current version. */
    uint32_t chs[64];
    size_t nchs = rfd_current_channels(s, chs, 64);
    for (size_t i = 0; i < nchs; i++) {
        int seen = 0;
        for (size_t j = 0; j < ndone; j++)
            seen |= done[j] == chs[i];
        if (seen)
            continue;
        const chan_state *cs = find_chan(&c, chs[i]);
        rfd_current_assign(s, h, chs[i], cs ? cs->version : 0, bad_cb, &c, now, as);
    }

    atomic_fetch_add(&s->m.assignments, json_array_size(as));
    rfd_reply(r, 200,
              json_pack("{s:I,s:I,s:I,s:o}", "host_id", (json_int_t)h->id, "server_time",
                        (json_int_t)now, "next_checkin_s",
                        (json_int_t)s->cfg.checkin_interval_s, "assignments", as));
out:
    json_decref(o);
}
