/*
 * rollouts.c — the rollout engine inside the server. Each channel's newest
 * rollout has a replica in memory: the fleet snapshot it started with, the
 * engine of lib/rollout, and per-host flags. The replica is only ever
 * changed by applying entries of the rollout's log (docs/design-server.md,
 * "The rollout log"), in log order, whether they were just written by this
 * instance or read back after a restart or from another instance; so a
 * kill -9 loses nothing that a decision rested on, and every instance that
 * follows the log computes the same engine state.
 *
 * The ticker (rfd_tick) does the periodic work: flush last-seen times,
 * become or stay the leader, turn queued check-in reports, silences and
 * policy changes into log entries, step the engine and record its decisions
 * with their evidence and an audit line.
 */
#include <math.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "ringfence/blast.h"
#include "ringfence/schema.h"
#include "server.h"

/* ---- small helpers ---------------------------------------------------------- */

static const char *decide_name(rf_decide d)
{
    switch (d) {
    case RF_DECIDE_PROMOTE: return "promote";
    case RF_DECIDE_HALT: return "halt";
    case RF_DECIDE_COMPLETE: return "complete";
    default: return "hold";
    }
}

static const char *ring_name(rf_ring r)
{
    return r == RF_RING_INTERNAL ? "internal" : r == RF_RING_EARLY ? "early" : "ga";
}

static const char *mode_name(rf_policy_mode m)
{
    switch (m) {
    case RF_POLICY_EARLY: return "early";
    case RF_POLICY_PINNED: return "pinned";
    case RF_POLICY_PAUSED: return "paused";
    default: return "ga";
    }
}

/* The store's state word for an engine state. */
static const char *state_word(const rfd_rollout *ro)
{
    switch (rf_rollout_state_of(ro->eng)) {
    case RF_ROLLOUT_COMPLETE: return "complete";
    case RF_ROLLOUT_HALTED: return rf_rollout_rolling_back(ro->eng) ? "rolling-back" : "halted";
    default: return "running";
    }
}

static json_t *evidence_json(const rf_decision *d)
{
    const rf_evidence *e = &d->ev;
    return json_pack("{s:s,s:f,s:f,s:I,s:I,s:f,s:f,s:I,s:I}", "signal", e->signal, "statistic",
                     isfinite(e->statistic) ? e->statistic : 0.0, "threshold",
                     isfinite(e->threshold) ? e->threshold : 0.0, "treated_events",
                     (json_int_t)e->treated_events, "control_events",
                     (json_int_t)e->control_events, "treated_exposure_s", e->treated_exposure_s,
                     "control_exposure_s", e->control_exposure_s, "treated_hosts",
                     (json_int_t)e->treated_hosts, "reports", (json_int_t)e->reports);
}

static char *decision_detail(const rfd_rollout *ro, const rf_decision *d, const char *by)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o}", "action", decide_name(d->action), "wave",
                          ro->plan.waves[d->wave < ro->plan.nwaves ? d->wave : 0].name, "reason",
                          d->reason, "by", by, "evidence", evidence_json(d));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

static char *policy_detail(const rf_policy *p)
{
    json_t *o = json_pack("{s:s,s:I,s:I,s:b}", "mode", mode_name(p->mode), "ga_delay_s",
                          (json_int_t)p->ga_delay_s, "pinned_version",
                          (json_int_t)p->pinned_version, "emergency_opt_in", p->emergency_opt_in);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return s;
}

static int policy_from_detail(const char *detail, rf_policy *p)
{
    json_error_t je;
    json_t *o = detail ? json_loads(detail, 0, &je) : NULL;
    if (!o)
        return -1;
    const char *mode = json_string_value(json_object_get(o, "mode"));
    memset(p, 0, sizeof(*p));
    p->mode = !mode                        ? RF_POLICY_GA
              : strcmp(mode, "early") == 0  ? RF_POLICY_EARLY
              : strcmp(mode, "pinned") == 0 ? RF_POLICY_PINNED
              : strcmp(mode, "paused") == 0 ? RF_POLICY_PAUSED
                                            : RF_POLICY_GA;
    p->ga_delay_s = (uint32_t)json_integer_value(json_object_get(o, "ga_delay_s"));
    p->pinned_version = (uint64_t)json_integer_value(json_object_get(o, "pinned_version"));
    p->emergency_opt_in = json_is_true(json_object_get(o, "emergency_opt_in"));
    json_decref(o);
    return 0;
}

static int policy_eq(const rf_policy *a, const rf_policy *b)
{
    return a->mode == b->mode && a->ga_delay_s == b->ga_delay_s &&
           a->pinned_version == b->pinned_version && a->emergency_opt_in == b->emergency_opt_in;
}

/* ---- replicas ------------------------------------------------------------------ */

static void replica_free(rfd_rollout *ro)
{
    if (!ro)
        return;
    rf_rollout_free(ro->eng);
    free(ro->fleet.tenants);
    free(ro->fleet.groups);
    free(ro->fleet.sensors);
    free(ro->fleet.host_group);
    free(ro->fleet.host_sensor);
    free(ro->fleet.host_flags);
    free(ro->fleet_ids);
    free(ro->group_tenant);
    free(ro->sensor_ok);
    free((void *)ro->applied);
    free((void *)ro->queued);
    for (int k = 0; k < 2; k++) {
        free((void *)ro->cpu_sum[k]);
        free((void *)ro->cpu_n[k]);
    }
    rf_store_rollout_free(&ro->row);
    pthread_rwlock_destroy(&ro->lock);
    free(ro);
}

int64_t rfd_rollout_index(const rfd_rollout *ro, int64_t host_id)
{
    size_t lo = 0, hi = ro->fleet.nhosts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ro->fleet_ids[mid] < host_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ro->fleet.nhosts && ro->fleet_ids[lo] == host_id ? (int64_t)lo : -1;
}

/* The sensor workspace a release was validated against ({"types":[...],
 * "sensors":[...]} of YAML texts). Caller frees. */
rf_rc rfd_release_workspace(const char *manifests, rf_workspace **out, rf_err *err)
{
    json_error_t je;
    json_t *o = manifests ? json_loads(manifests, 0, &je) : NULL;
    if (!o)
        return rf_err_set(err, RF_E_PARSE, NULL, 0, 0, "the release's manifests are unreadable");
    rf_workspace *ws = NULL;
    rf_rc rc = rf_workspace_new(&ws);
    if (rc) {
        json_decref(o);
        return rf_err_set(err, rc, NULL, 0, 0, "out of memory");
    }
    static const char *const keys[] = {"types", "sensors"};
    for (size_t k = 0; k < 2 && !rc; k++) {
        json_t *a = json_object_get(o, keys[k]);
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v)
        {
            const char *t = json_string_value(v);
            char name[64];
            snprintf(name, sizeof(name), "%s[%zu]", keys[k], i);
            if (t)
                rc = rf_workspace_add_yaml(ws, name, t, strlen(t), err);
            if (rc)
                break;
        }
    }
    json_decref(o);
    if (rc) {
        rf_workspace_free(ws);
        return rc;
    }
    *out = ws;
    return RF_OK;
}

/* Groups of the fleet: one per (tenant, host group), numbered in order of
 * first appearance along the hosts (by id). */
typedef struct gkey {
    int64_t tenant;
    const char *group;
    uint32_t idx;
} gkey;

static uint64_t ghash(int64_t t, const char *g)
{
    uint64_t h = rf_mix64((uint64_t)t);
    for (; *g; g++)
        h = (h ^ (uint8_t)*g) * 0x100000001b3ull;
    return h;
}

/*
 * Build a replica from its stored row: the fleet snapshot (hosts with id <=
 * fleet_max_host), the release's sensors, the plan, the groups' policies
 * and an engine at t0. The policies a rollout starts with are its log's
 * first entries (from_log), or, for a rollout being created, the tenants'
 * policies as the store has them now; the engine sizes its waves from them.
 */
static rf_rc replica_build(rfd_server *s, rf_store_tx *tx, const rf_store_rollout *row,
                           int from_log, rfd_rollout **out, rf_err *err)
{
    rf_rc rc;
    (void)s;
    rfd_rollout *ro = calloc(1, sizeof(*ro));
    if (!ro)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    pthread_rwlock_init(&ro->lock, NULL);
    ro->id = row->id;
    ro->row = *row;
    ro->row.plan = rf_strdup(row->plan ? row->plan : "");
    rf_store_host *hs = NULL;
    rf_store_tenant *ts = NULL;
    size_t nh = 0, nt = 0;
    rf_store_release rel;
    memset(&rel, 0, sizeof(rel));
    rf_workspace *ws = NULL;
    gkey *gt = NULL;

    if (ro->row.plan && ro->row.plan[0])
        rc = rf_plan_parse("rollout plan", ro->row.plan, strlen(ro->row.plan), &ro->plan, err);
    else {
        rf_plan_default(&ro->plan);
        rc = RF_OK;
    }
    if (rc)
        goto fail;
    rc = rf_store_release_get(tx, row->release_id, 1, &rel, err);
    if (rc)
        goto fail;
    ro->release_id = rel.id;
    snprintf(ro->target, sizeof(ro->target), "%s", rel.target);
    snprintf(ro->sha256, sizeof(ro->sha256), "%s", rel.sha256);
    ro->length = rel.channel_len;
    rc = rfd_release_workspace(rel.manifests, &ws, err);
    if (rc)
        goto fail;
    rc = rf_store_host_list(tx, row->fleet_max_host, &hs, &nh, err);
    if (!rc)
        rc = rf_store_tenant_list(tx, &ts, &nt, err);
    if (rc)
        goto fail;

    rf_fleet *f = &ro->fleet;
    f->ntenants = (uint32_t)nt;
    f->tenants = calloc(nt ? nt : 1, sizeof(*f->tenants));
    f->nhosts = (uint32_t)nh;
    f->host_group = calloc(nh ? nh : 1, sizeof(uint32_t));
    f->host_sensor = calloc(nh ? nh : 1, sizeof(uint16_t));
    f->host_flags = calloc(nh ? nh : 1, 1);
    ro->fleet_ids = calloc(nh ? nh : 1, sizeof(int64_t));
    ro->applied = calloc(nh ? nh : 1, 1);
    ro->queued = calloc(nh ? nh : 1, 1);
    int meas_ok = 1;
    for (int k = 0; k < 2; k++) {
        ro->cpu_sum[k] = calloc(nh ? nh : 1, sizeof(uint64_t));
        ro->cpu_n[k] = calloc(nh ? nh : 1, sizeof(uint32_t));
        meas_ok &= ro->cpu_sum[k] && ro->cpu_n[k];
    }
    ro->window_start = row->t0;
    f->groups = calloc(nh ? nh : 1, sizeof(*f->groups));
    ro->group_tenant = calloc(nh ? nh : 1, sizeof(int64_t));
    f->sensors = calloc(RF_MAX_SENSORS, sizeof(*f->sensors));
    ro->sensor_ok = calloc(RF_MAX_SENSORS, 1);
    size_t gcap = 1;
    while (gcap < 2 * (nh + 1))
        gcap *= 2;
    gt = calloc(gcap, sizeof(*gt));
    if (!f->tenants || !f->host_group || !f->host_sensor || !f->host_flags || !ro->fleet_ids ||
        !ro->applied || !ro->queued || !meas_ok || !f->groups || !ro->group_tenant ||
        !f->sensors || !ro->sensor_ok || !gt) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory for a fleet of %zu hosts",
                        nh);
        goto fail;
    }
    for (size_t i = 0; i < nt; i++) {
        snprintf(f->tenants[i].name, sizeof(f->tenants[i].name), "%s", ts[i].name);
        f->tenants[i].internal = ts[i].internal;
    }
    for (size_t i = 0; i < nh; i++) {
        const rf_store_host *h = &hs[i];
        ro->fleet_ids[i] = h->id;
        /* tenant index: ts is by id */
        size_t lo = 0, hi = nt;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (ts[mid].id < h->tenant_id)
                lo = mid + 1;
            else
                hi = mid;
        }
        uint32_t tix = lo < nt && ts[lo].id == h->tenant_id ? (uint32_t)lo : 0;
        size_t j = ghash(h->tenant_id, h->group) & (gcap - 1);
        while (gt[j].group && !(gt[j].tenant == h->tenant_id && strcmp(gt[j].group, h->group) == 0))
            j = (j + 1) & (gcap - 1);
        if (!gt[j].group) {
            gt[j].tenant = h->tenant_id;
            gt[j].group = h->group;
            gt[j].idx = f->ngroups;
            rf_fleet_group *g = &f->groups[f->ngroups];
            snprintf(g->name, sizeof(g->name), "%s", h->group);
            g->tenant = tix;
            ro->group_tenant[f->ngroups] = h->tenant_id;
            f->ngroups++;
        }
        f->host_group[i] = gt[j].idx;
        uint32_t sx = 0;
        for (; sx < f->nsensors; sx++)
            if (strcmp(f->sensors[sx].version, h->sensor_version) == 0)
                break;
        if (sx == f->nsensors) {
            if (f->nsensors >= RF_MAX_SENSORS) {
                rc = rf_err_set(err, RF_E_LIMIT, NULL, 0, 0, "more than %d sensor builds",
                                RF_MAX_SENSORS);
                goto fail;
            }
            rf_fleet_sensor *fs = &f->sensors[f->nsensors++];
            snprintf(fs->version, sizeof(fs->version), "%s", h->sensor_version);
            const rf_sensor_manifest *m = rf_workspace_find_sensor(ws, h->sensor_version);
            const rf_sensor_support *sup =
                m ? rf_sensor_find_support(m, rel.template_type, rel.template_version) : NULL;
            fs->inputs = sup ? sup->inputs : 0;
            ro->sensor_ok[sx] = sup && sup->inputs >= rel.inputs_required;
        }
        f->host_sensor[i] = (uint16_t)sx;
    }
    snprintf(ro->rel.channel, sizeof(ro->rel.channel), "%u", row->channel);
    ro->rel.content_version = row->content_version;
    ro->rel.last_good_version = row->last_good_version;
    ro->rel.inputs_required = rel.inputs_required;
    ro->rel.sensor_ok = ro->sensor_ok;
    ro->rel.emergency = row->emergency;
    if (from_log) {
        rf_store_log *pe = NULL;
        size_t npe = 0;
        rc = rf_store_log_read(tx, row->id, 0, 0, f->ngroups ? f->ngroups : 1, &pe, &npe, err);
        for (size_t i = 0; !rc && i < npe && pe[i].kind == RF_LOG_POLICY; i++) {
            if (pe[i].host < 0 || pe[i].host >= f->ngroups ||
                policy_from_detail(pe[i].detail, &f->groups[pe[i].host].policy))
                rc = rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                                "rollout %lld: log entry %lld is not a policy of its fleet",
                                (long long)row->id, (long long)pe[i].seq);
            ro->applied_seq = pe[i].seq;
        }
        rf_store_log_free_array(pe, npe);
    } else {
        rf_store_policy *ps = NULL;
        size_t np = 0;
        rc = rf_store_policy_list(tx, row->channel, &ps, &np, err);
        for (uint32_t g = 0; !rc && g < f->ngroups; g++)
            rfd_policy_for(ps, np, ro->group_tenant[g], f->groups[g].name, &f->groups[g].policy);
        free(ps);
    }
    if (rc)
        goto fail;
    rc = rf_rollout_new(&ro->plan, &ro->fleet, &ro->rel, row->seed, row->t0, &ro->eng, err);
    if (rc)
        goto fail;
    if (row->last_good_version > 0) {
        uint64_t v = row->content_version > row->last_good_version ? row->content_version
                                                                   : row->last_good_version;
        snprintf(ro->rb_target, sizeof(ro->rb_target), "channels/%u/%llu.rfc", row->channel,
                 (unsigned long long)(v + 1));
    }
    free(gt);
    free(hs);
    free(ts);
    rf_store_release_free(&rel);
    rf_workspace_free(ws);
    *out = ro;
    return RF_OK;
fail:
    free(gt);
    free(hs);
    free(ts);
    rf_store_release_free(&rel);
    rf_workspace_free(ws);
    replica_free(ro);
    return rc;
}

/* A completed rollout makes its release the channel's current version; a
 * rollback makes the rollback version current (it carries the last good
 * content). */
static void note_outcome(rfd_server *s, rfd_rollout *ro)
{
    rf_rollout_state st = rf_rollout_state_of(ro->eng);
    if (st == RF_ROLLOUT_COMPLETE)
        rfd_current_set(s, ro->row.channel, ro->row.content_version, 0,
                        rf_rollout_wave_opened(ro->eng, ro->plan.nwaves - 1));
    else if (st == RF_ROLLOUT_HALTED && rf_rollout_rolling_back(ro->eng) && ro->rb_target[0])
        rfd_current_set(s, ro->row.channel, rf_rollout_rollback_version(ro->eng),
                        ro->row.last_good_version, 0);
}

/*
 * Apply one log entry to the replica (write lock held). Reports are
 * de-duplicated here against what the log already holds (a host takes a
 * release once, goes silent once until it is back, reverts once): *used is
 * 0 for an entry that changed nothing and must not be logged. A step entry
 * must reach the decision it recorded; a mismatch means the log and the
 * engine disagree, which is reported as RF_E_INTERNAL.
 */
static rf_rc apply(rfd_server *s, rfd_rollout *ro, const rf_store_log *e, int *used,
                   rf_decision *dout, rf_err *err)
{
    *used = 1;
    rf_fleet *f = &ro->fleet;
    if (e->kind >= RF_REPORT_TOOK && e->kind <= RF_REPORT_DETECTIONS) {
        if (e->host < 0 || e->host >= f->nhosts) {
            *used = 0;
            return RF_OK;
        }
        uint32_t h = (uint32_t)e->host;
        uint8_t fl = atomic_load(&ro->applied[h]);
        rf_health_report r = {e->t, h, (rf_report_kind)e->kind, e->treated, e->value};
        switch (e->kind) {
        case RF_REPORT_TOOK:
            if (fl & RFD_F_TOOK) {
                *used = 0;
                return RF_OK;
            }
            atomic_fetch_or(&ro->applied[h], RFD_F_TOOK);
            r.treated = 1;
            break;
        case RF_REPORT_SILENT:
            if (fl & RFD_F_SILENT) {
                *used = 0;
                return RF_OK;
            }
            atomic_fetch_or(&ro->applied[h], RFD_F_SILENT);
            r.treated = (fl & RFD_F_TOOK) != 0;
            break;
        case RF_REPORT_BACK:
            if (!(fl & RFD_F_SILENT)) {
                *used = 0;
                return RF_OK;
            }
            atomic_fetch_and(&ro->applied[h], (uint8_t)~RFD_F_SILENT);
            atomic_fetch_and(&ro->queued[h], (uint8_t)~RFD_F_SILENT);
            r.treated = (fl & RFD_F_TOOK) != 0;
            break;
        case RF_REPORT_REVERT:
        case RF_REPORT_LOAD_FAIL: {
            uint8_t bit = e->kind == RF_REPORT_REVERT ? RFD_F_REVERT : RFD_F_LOADFAIL;
            if ((fl & bit) || !(fl & RFD_F_TOOK)) {
                *used = 0;
                return RF_OK;
            }
            atomic_fetch_or(&ro->applied[h], bit);
            r.treated = 1;
            break;
        }
        case RF_REPORT_CHECKIN:
            if (!(fl & RFD_F_TOOK)) {
                *used = 0;
                return RF_OK;
            }
            r.treated = 1;
            break;
        default:
            /* CPU and detections: measured on the release only if the host
             * took it and said it ran it over the interval measured. */
            r.treated = (fl & RFD_F_TOOK) && e->treated;
            break;
        }
        rf_rollout_observe(ro->eng, &r);
    } else if (e->kind == RF_LOG_DETECTIONS) {
        json_error_t je;
        json_t *o = e->detail ? json_loads(e->detail, 0, &je) : NULL;
        if (!o)
            return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                              "rollout %lld log %lld: unreadable detection window",
                              (long long)ro->id, (long long)e->seq);
        rf_rollout_observe_detections(
            ro->eng, e->t, (uint64_t)json_integer_value(json_object_get(o, "treated")),
            (uint64_t)json_integer_value(json_object_get(o, "control")),
            (double)json_integer_value(json_object_get(o, "treated_checkins")),
            (double)json_integer_value(json_object_get(o, "control_checkins")));
        json_decref(o);
    } else if (e->kind == RF_LOG_POLICY) {
        if (e->host < 0 || e->host >= f->ngroups)
            return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                              "rollout %lld log %lld: no group %lld", (long long)ro->id,
                              (long long)e->seq, (long long)e->host);
        rf_policy p;
        if (policy_from_detail(e->detail, &p))
            return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                              "rollout %lld log %lld: unreadable policy", (long long)ro->id,
                              (long long)e->seq);
        f->groups[e->host].policy = p;
    } else if (e->kind == RF_LOG_STEP) {
        rf_decision d;
        rf_decide got = rf_rollout_step(ro->eng, e->t, &d);
        if ((int)got != (int)e->value)
            return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                              "rollout %lld log %lld: replaying the log gives '%s' where '%s' "
                              "was recorded",
                              (long long)ro->id, (long long)e->seq, decide_name(got),
                              decide_name((rf_decide)(int)e->value));
        if (dout)
            *dout = d;
    } else if (e->kind >= RF_LOG_OP_HALT && e->kind <= RF_LOG_OP_ROLLBACK) {
        rf_decision d;
        rf_rc rc = rf_rollout_operator(ro->eng, (rf_operator_op)(e->kind - RF_LOG_OP_HALT), e->t,
                                       &d, err);
        if (rc)
            return rc;
        if (dout)
            *dout = d;
    } else {
        return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "rollout %lld log %lld: kind %d",
                          (long long)ro->id, (long long)e->seq, e->kind);
    }
    ro->applied_seq = e->seq > ro->applied_seq ? e->seq : ro->applied_seq;
    snprintf(ro->row.state, sizeof(ro->row.state), "%s", state_word(ro));
    (void)s;
    return RF_OK;
}

/* Apply the log after ro->applied_seq (replay or follow). Write lock held. */
static rf_rc follow(rfd_server *s, rf_store_tx *tx, rfd_rollout *ro, rf_err *err)
{
    for (;;) {
        rf_store_log *e = NULL;
        size_t n = 0;
        rf_rc rc = rf_store_log_read(tx, ro->id, ro->applied_seq, 0, 20000, &e, &n, err);
        if (rc)
            return rc;
        for (size_t i = 0; i < n && !rc; i++) {
            int used;
            rc = apply(s, ro, &e[i], &used, NULL, err);
            ro->applied_seq = e[i].seq;
        }
        rf_store_log_free_array(e, n);
        if (rc)
            return rc;
        if (n < 20000)
            break;
    }
    note_outcome(s, ro);
    return RF_OK;
}

/* ---- the set of replicas ---------------------------------------------------------------- */

rfd_rollout *rfd_rollout_of_channel(rfd_server *s, uint32_t channel)
{
    for (size_t i = 0; i < s->nro; i++)
        if (s->ro[i]->row.channel == channel)
            return s->ro[i];
    return NULL;
}

rfd_rollout *rfd_rollout_by_id(rfd_server *s, int64_t id)
{
    for (size_t i = 0; i < s->nro; i++)
        if (s->ro[i]->id == id)
            return s->ro[i];
    return NULL;
}

/* Install a replica as its channel's newest (under ro_mu). Replicas are
 * never freed while the server runs (a check-in may hold one); an older
 * replica of the channel is kept off the list but alive. */
static void install(rfd_server *s, rfd_rollout *ro)
{
    for (size_t i = 0; i < s->nro; i++) {
        if (s->ro[i]->row.channel == ro->row.channel) {
            if (s->ro[i]->id >= ro->id) {
                replica_free(ro);
                return;
            }
            s->ro[i] = ro; /* the old one stays allocated: see rfd_rollouts_free */
            return;
        }
    }
    rfd_rollout **n = realloc(s->ro, (s->nro + 1) * sizeof(*n));
    if (!n) {
        replica_free(ro);
        return;
    }
    s->ro = n;
    s->ro[s->nro++] = ro;
}

/* Replicas that were replaced by a newer rollout of their channel (under
 * ro_mu). A check-in or a request may still hold one for the length of a
 * request, so each is freed only RETIRE_S after it was replaced. */
#define RETIRE_S 300
static rfd_rollout **g_retired;
static int64_t *g_retired_at;
static size_t g_nretired;

static void retire_old(rfd_server *s, rfd_rollout *ro)
{
    rfd_rollout *old = rfd_rollout_of_channel(s, ro->row.channel);
    if (old && old != ro && old->id < ro->id) {
        rfd_rollout **n = realloc(g_retired, (g_nretired + 1) * sizeof(*n));
        if (n)
            g_retired = n;
        int64_t *t = realloc(g_retired_at, (g_nretired + 1) * sizeof(*t));
        if (t)
            g_retired_at = t;
        if (n && t) {
            g_retired[g_nretired] = old;
            g_retired_at[g_nretired] = (int64_t)time(NULL);
            g_nretired++;
        }
    }
}

/* Free the replicas replaced long enough ago. */
static void reap_retired(rfd_server *s, int64_t now)
{
    pthread_mutex_lock(&s->ro_mu);
    size_t keep = 0;
    for (size_t i = 0; i < g_nretired; i++) {
        if (now - g_retired_at[i] >= RETIRE_S) {
            replica_free(g_retired[i]);
            continue;
        }
        g_retired[keep] = g_retired[i];
        g_retired_at[keep] = g_retired_at[i];
        keep++;
    }
    g_nretired = keep;
    pthread_mutex_unlock(&s->ro_mu);
}

/* A replica of rollout `id` rebuilt from the store: its row, fleet and log. */
static rf_rc load_replica(rfd_server *s, int64_t id, rfd_rollout **out, rf_err *err)
{
    rf_store_tx *tx;
    rf_rc rc = rf_store_begin(s->store, 0, &tx, err);
    if (rc)
        return rc;
    rf_store_rollout row;
    rc = rf_store_rollout_get(tx, id, &row, err);
    if (rc) {
        rf_store_rollback(tx);
        return rc;
    }
    rfd_rollout *ro = NULL;
    rc = replica_build(s, tx, &row, 1, &ro, err);
    rf_store_rollout_free(&row); /* the replica keeps copies */
    if (rc) {
        rf_store_rollback(tx);
        return rc;
    }
    pthread_rwlock_wrlock(&ro->lock);
    rc = follow(s, tx, ro, err);
    pthread_rwlock_unlock(&ro->lock);
    rf_store_rollback(tx);
    if (rc) {
        replica_free(ro);
        return rc;
    }
    *out = ro;
    return RF_OK;
}

rf_rc rfd_rollout_attach(rfd_server *s, int64_t id, rf_err *err)
{
    rfd_rollout *ro = NULL;
    rf_rc rc = load_replica(s, id, &ro, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->ro_mu);
    retire_old(s, ro);
    install(s, ro);
    pthread_mutex_unlock(&s->ro_mu);
    return RF_OK;
}

rf_rc rfd_rollout_transient(rfd_server *s, int64_t id, rfd_rollout **out, rf_err *err)
{
    return load_replica(s, id, out, err);
}

rf_rc rfd_rollouts_load(rfd_server *s, rf_err *err)
{
    rf_store_tx *tx;
    rf_rc rc = rf_store_begin(s->store, 0, &tx, err);
    if (rc)
        return rc;
    rf_store_rollout *rs = NULL;
    size_t n = 0;
    rc = rf_store_rollout_list(tx, NULL, &rs, &n, err);
    rf_store_rollback(tx);
    if (rc)
        return rc;
    /* Each channel's current version comes from its newest rollouts: from
     * the newest complete one on (older ones were overtaken), each read back
     * from its log in order; the newest of each channel gets a replica. */
    for (size_t i = 0; i < n && !rc; i++) {
        int newest = 1, overtaken = 0;
        for (size_t j = i + 1; j < n; j++) {
            if (rs[j].channel != rs[i].channel)
                continue;
            newest = 0;
            overtaken |= strcmp(rs[j].state, "complete") == 0;
        }
        if (newest) {
            rc = rfd_rollout_attach(s, rs[i].id, err);
        } else if (!overtaken) {
            rfd_rollout *old = NULL;
            rc = load_replica(s, rs[i].id, &old, err);
            replica_free(old);
        }
    }
    for (size_t i = 0; i < n; i++)
        rf_store_rollout_free(&rs[i]);
    free(rs);
    return rc;
}

void rfd_rollouts_free(rfd_server *s)
{
    for (size_t i = 0; i < s->nro; i++)
        replica_free(s->ro[i]);
    free(s->ro);
    s->ro = NULL;
    s->nro = 0;
    for (size_t i = 0; i < g_nretired; i++)
        replica_free(g_retired[i]);
    free(g_retired);
    free(g_retired_at);
    g_retired = NULL;
    g_retired_at = NULL;
    g_nretired = 0;
}

/* ---- starting a rollout ------------------------------------------------------------------ */

/*
 * Create rollout `row` in tx: store it, build its replica from the store as
 * it is now, write the initial policy of every group as its first log
 * entries (so a replay starts from the same policies), and apply them. The
 * replica is installed once the caller's commit succeeded
 * (rfd_rollout_install).
 */
rf_rc rfd_rollout_create(rfd_server *s, rf_store_tx *tx, rf_store_rollout *row,
                         rfd_rollout **out, rf_err *err)
{
    rf_rc rc = rf_store_rollout_create(tx, row, &row->id, err);
    if (rc)
        return rc;
    rfd_rollout *ro = NULL;
    rc = replica_build(s, tx, row, 0, &ro, err);
    if (rc)
        return rc;
    rf_store_log *e = calloc(ro->fleet.ngroups ? ro->fleet.ngroups : 1, sizeof(*e));
    if (!e) {
        replica_free(ro);
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    }
    size_t ne = 0;
    for (uint32_t g = 0; g < ro->fleet.ngroups; g++) {
        e[ne].rollout_id = ro->id;
        e[ne].t = row->t0;
        e[ne].kind = RF_LOG_POLICY;
        e[ne].host = g;
        e[ne].detail = policy_detail(&ro->fleet.groups[g].policy);
        ne++;
    }
    if (ne)
        rc = rf_store_log_append(tx, e, ne, err);
    if (!rc && ne)
        ro->applied_seq = e[ne - 1].seq;
    rf_store_log_free_array(e, ne);
    if (rc) {
        replica_free(ro);
        return rc;
    }
    *out = ro;
    return RF_OK;
}

void rfd_rollout_install(rfd_server *s, rfd_rollout *ro)
{
    pthread_mutex_lock(&s->ro_mu);
    retire_old(s, ro);
    install(s, ro);
    pthread_mutex_unlock(&s->ro_mu);
}

void rfd_rollout_discard(rfd_rollout *ro)
{
    replica_free(ro);
}

/* ---- check-in reports -------------------------------------------------------------------- */

void rfd_queue_report(rfd_server *s, const rf_store_inbox *e)
{
    pthread_mutex_lock(&s->q_mu);
    if (s->qn == s->qcap) {
        size_t ncap = s->qcap ? s->qcap * 2 : 4096;
        /* Bounded: a ticker that cannot keep up sheds reports rather than
         * memory (counted in /metrics; silence still works from last-seen). */
        if (ncap > 4u * 1024 * 1024) {
            pthread_mutex_unlock(&s->q_mu);
            atomic_fetch_add(&s->q_dropped, 1);
            return;
        }
        rf_store_inbox *n = realloc(s->q, ncap * sizeof(*n));
        if (!n) {
            pthread_mutex_unlock(&s->q_mu);
            atomic_fetch_add(&s->q_dropped, 1);
            return;
        }
        s->q = n;
        s->qcap = ncap;
    }
    s->q[s->qn++] = *e;
    pthread_mutex_unlock(&s->q_mu);
}

void rfd_measure(rfd_rollout *ro, int64_t idx, int ran, uint64_t detections, uint64_t cpu_ns)
{
    if (idx < 0 || idx >= ro->fleet.nhosts)
        return;
    int k = ran ? 1 : 0;
    atomic_fetch_add(&ro->det_rep[k], 1);
    if (detections)
        atomic_fetch_add(&ro->det_n[k], detections);
    if (cpu_ns) {
        atomic_fetch_add(&ro->cpu_sum[k][idx], cpu_ns);
        atomic_fetch_add(&ro->cpu_n[k][idx], 1);
    }
}

/* The length of a measurement window (see lead_one). */
static int64_t window_of(const rfd_rollout *ro)
{
    return (int64_t)ro->plan.checkin_interval_s + (int64_t)ro->plan.silence_grace_s;
}

/* Inbox encoding of another instance's window: a CPU mean per host, and
 * the detection totals as host -1 (detections) and -2 (check-ins). */
#define WIN_DET (-1)
#define WIN_REP (-2)

/* A measurement handed over by another instance: into this one's window. */
static void measure_entry(rfd_rollout *ro, const rf_store_inbox *e)
{
    int k = e->treated ? 1 : 0;
    if (e->kind == RF_REPORT_DETECTIONS && e->host == WIN_DET && e->value >= 0)
        atomic_fetch_add(&ro->det_n[k], (uint64_t)e->value);
    else if (e->kind == RF_REPORT_DETECTIONS && e->host == WIN_REP && e->value >= 0)
        atomic_fetch_add(&ro->det_rep[k], (uint64_t)e->value);
    else if (e->kind == RF_REPORT_CPU && e->value >= 1)
        rfd_measure(ro, e->host, e->treated, 0, (uint64_t)e->value);
}

/* One entry of a closed window: a host's detections or mean CPU. */
typedef struct meas {
    uint32_t host;
    int kind;
    int treated;
    double value;
    double weight; /* events it stands for: detections, or 1 for a CPU mean */
} meas;

/*
 * Close the measurement window: take the detection totals and every host's
 * CPU sums (leaving zeros). The CPU means come back as entries with the
 * treated ones spread evenly among the control ones, so that their order
 * carries no signal. Caller frees *out.
 */
static rf_rc window_take(rfd_rollout *ro, uint64_t det[2], uint64_t rep[2], meas **out,
                         size_t *n)
{
    size_t nh = ro->fleet.nhosts ? ro->fleet.nhosts : 1;
    meas *buf = malloc(2 * nh * sizeof(*buf));
    meas *o = malloc(2 * nh * sizeof(*o));
    if (!buf || !o) {
        free(buf);
        free(o);
        return RF_E_NOMEM;
    }
    for (int k = 0; k < 2; k++) {
        det[k] = atomic_exchange(&ro->det_n[k], 0);
        rep[k] = atomic_exchange(&ro->det_rep[k], 0);
    }
    meas *list[2] = {buf, buf + nh};
    size_t cnt[2] = {0, 0};
    for (uint32_t h = 0; h < ro->fleet.nhosts; h++) {
        for (int k = 0; k < 2; k++) {
            uint64_t cs = atomic_exchange(&ro->cpu_sum[k][h], 0);
            uint32_t cn = atomic_exchange(&ro->cpu_n[k][h], 0);
            if (cn)
                list[k][cnt[k]++] = (meas){h, RF_REPORT_CPU, k, (double)cs / cn, 1};
        }
    }
    size_t no = 0, it = 0, ic = 0;
    while (it < cnt[1] || ic < cnt[0]) {
        int pick_t = it < cnt[1] && (ic >= cnt[0] || it * cnt[0] <= ic * cnt[1]);
        o[no++] = pick_t ? list[1][it++] : list[0][ic++];
    }
    free(buf);
    *out = o;
    *n = no;
    return RF_OK;
}

/* Put reports back on the queue after a tick could not store them (the
 * database was down): the next tick tries again. Bounded like the queue. */
static void requeue(rfd_server *s, const rf_store_inbox *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rfd_queue_report(s, &e[i]);
}

/* ---- one step of a rollout on the leader ---------------------------------------------------- */

/* Reports are sorted by time, keeping arrival order among equal times
 * (a host's "took" comes before its first check-in with it). */
typedef struct ordered {
    int64_t t;
    size_t i;
} ordered;

static int cmp_ordered(const void *a, const void *b)
{
    const ordered *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Concatenate a and b and sort stably by time. Caller frees; NULL on OOM. */
static rf_store_inbox *merge_sorted(const rf_store_inbox *a, size_t na, const rf_store_inbox *b,
                                    size_t nb)
{
    size_t n = na + nb;
    rf_store_inbox *out = malloc((n ? n : 1) * sizeof(*out));
    ordered *o = malloc((n ? n : 1) * sizeof(*o));
    if (!out || !o) {
        free(out);
        free(o);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        o[i].i = i;
        o[i].t = i < na ? a[i].t : b[i - na].t;
    }
    qsort(o, n, sizeof(*o), cmp_ordered);
    for (size_t i = 0; i < n; i++)
        out[i] = o[i].i < na ? a[o[i].i] : b[o[i].i - na];
    free(o);
    return out;
}

/*
 * In one write transaction: follow the log (entries other instances or
 * operators wrote), add this tick's reports (queued and from the inbox),
 * silences and policy changes, step the engine and, on a decision, record
 * it with its evidence, the rollout's new state and an audit line.
 */
static rf_rc lead_one(rfd_server *s, rfd_rollout *ro, rf_store_inbox *in, size_t nin,
                      int64_t now, rf_err *err)
{
    rf_store_tx *tx;
    rf_rc rc = rf_store_begin(s->store, 1, &tx, err);
    if (rc)
        return rc;
    rf_store_log *e = NULL;
    size_t ne = 0, cap = nin + 64;
    rf_store_policy *ps = NULL;
    size_t np = 0;
    uint32_t *tr = NULL, *co = NULL; /* this sweep's silent hosts, treated and control */
    meas *ms = NULL;                 /* this tick's closed measurement window */
    /* Lock the log first: what follow() reads and what this tick appends are
     * then contiguous, whatever other instances and operators write. */
    rc = rf_store_rollout_lock(tx, ro->id, NULL, err);
    if (rc) {
        rf_store_rollback(tx);
        return rc;
    }
    pthread_rwlock_wrlock(&ro->lock);
    rc = follow(s, tx, ro, err);
    if (rc)
        goto out;
    int running = rf_rollout_state_of(ro->eng) == RF_ROLLOUT_RUNNING;
    e = calloc(cap, sizeof(*e));
    if (!e) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
#define PUSH(K, H, TR, V, D)                                                             \
    do {                                                                                 \
        if (ne == cap) {                                                                 \
            size_t nc = cap * 2;                                                         \
            rf_store_log *ng = realloc(e, nc * sizeof(*e));                              \
            if (!ng) {                                                                   \
                rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");           \
                goto out;                                                                \
            }                                                                            \
            memset(ng + cap, 0, (nc - cap) * sizeof(*e));                                \
            e = ng;                                                                      \
            cap = nc;                                                                    \
        }                                                                                \
        e[ne] = (rf_store_log){ro->id, 0, now, (K), (H), (TR), (V), (D)};                \
        ne++;                                                                            \
    } while (0)

    if (running) {
        /* Reports first, in time order; then policy changes and silences,
         * at now. Each is applied (and kept only if it changed something)
         * before the next. */
        for (size_t i = 0; i < nin; i++) {
            if (in[i].kind == RF_REPORT_CPU || in[i].kind == RF_REPORT_DETECTIONS) {
                measure_entry(ro, &in[i]); /* from another instance's window */
                continue;
            }
            PUSH(in[i].kind, in[i].host, in[i].treated, in[i].value, NULL);
            e[ne - 1].t = in[i].t < now ? in[i].t : now;
        }
        rc = rf_store_policy_list(tx, ro->row.channel, &ps, &np, err);
        if (rc)
            goto out;
        for (uint32_t g = 0; g < ro->fleet.ngroups; g++) {
            rf_policy p;
            rfd_policy_for(ps, np, ro->group_tenant[g], ro->fleet.groups[g].name, &p);
            if (!policy_eq(&p, &ro->fleet.groups[g].policy))
                PUSH(RF_LOG_POLICY, g, 0, 0, policy_detail(&p));
        }
        /* Silence: no check-in within the interval plus the grace. The
         * silences found in one sweep happened over the same interval, so
         * their order is not evidence: they are fed with the treated ones
         * spread evenly among the control ones, not in host order (where a
         * fleet-wide outage would reach the gate as a run of treated hosts,
         * the first enrolled, and halt a good release). */
        int64_t limit = now - (int64_t)ro->plan.checkin_interval_s -
                        (int64_t)ro->plan.silence_grace_s;
        size_t nt = 0, nco = 0;
        for (uint32_t h = 0; h < ro->fleet.nhosts; h++) {
            uint8_t fl = atomic_load(&ro->applied[h]);
            if (fl & RFD_F_SILENT)
                continue;
            rfd_host *hh = rfd_host_find(s, ro->fleet_ids[h]);
            if (!hh || atomic_load(&hh->last_seen) >= limit)
                continue;
            uint32_t **list = (fl & RFD_F_TOOK) ? &tr : &co;
            size_t *cnt = (fl & RFD_F_TOOK) ? &nt : &nco;
            if (*cnt == 0 || (*cnt >= 16 && (*cnt & (*cnt - 1)) == 0)) { /* 16, 32, 64, ... */
                uint32_t *g = realloc(*list, (*cnt ? *cnt * 2 : 16) * sizeof(**list));
                if (!g) {
                    rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
                    goto out;
                }
                *list = g;
            }
            (*list)[(*cnt)++] = h;
        }
        size_t total = nt + nco, ti = 0, ci = 0;
        for (size_t k = 0; k < total; k++) {
            int pick_t = ti < nt && (ci >= nco || (ti + 1) * total <= (k + 1) * nt);
            PUSH(RF_REPORT_SILENT, pick_t ? tr[ti++] : co[ci++], 0, 0, NULL);
        }
        /* Measurements, once per window of a check-in interval plus the
         * silence grace: every live host has reported in it, whatever the
         * phase of its check-ins, so the treated hosts' share of it is
         * their share of the fleet when nothing is wrong. */
        if (now - ro->window_start >= window_of(ro)) {
            size_t nms = 0;
            uint64_t det[2], rep[2];
            if (window_take(ro, det, rep, &ms, &nms) != RF_OK) {
                rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
                goto out;
            }
            ro->window_start = now;
            for (size_t i = 0; i < nms; i++)
                PUSH(ms[i].kind, ms[i].host, ms[i].treated, ms[i].value, NULL);
            if (det[0] + det[1] > 0 && rep[0] > 0 && rep[1] > 0) {
                json_t *wd = json_pack("{s:I,s:I,s:I,s:I}", "treated", (json_int_t)det[1],
                                       "control", (json_int_t)det[0], "treated_checkins",
                                       (json_int_t)rep[1], "control_checkins",
                                       (json_int_t)rep[0]);
                char *wt = wd ? json_dumps(wd, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
                json_decref(wd);
                PUSH(RF_LOG_DETECTIONS, -1, 0, 0, wt);
            }
        }
    }
    /* Apply in order; drop what changed nothing. */
    size_t keep = 0;
    for (size_t i = 0; i < ne; i++) {
        int used = 1;
        rc = apply(s, ro, &e[i], &used, NULL, err);
        if (rc)
            goto out;
        if (used)
            e[keep++] = e[i];
        else
            free(e[i].detail);
    }
    ne = keep;
    rf_decision d;
    memset(&d, 0, sizeof(d));
    rf_decide act = RF_DECIDE_HOLD;
    if (running) {
        act = rf_rollout_step(ro->eng, now, &d);
        if (act == RF_DECIDE_HOLD) {
            snprintf(ro->holding, sizeof(ro->holding), "%s", d.reason);
            /* A wave far past its bake and still short of reports: its hosts
             * may all have crashed (a crashed host cannot report), or be off.
             * Holding is safe; the operator is told once. */
            uint32_t w = rf_rollout_wave(ro->eng);
            const rf_wave *wv = &ro->plan.waves[w];
            int64_t bake = ro->rel.emergency ? wv->emergency_bake_s : wv->bake_s;
            int64_t open_s = now - rf_rollout_wave_opened(ro->eng, w);
            if (open_s > bake + 2 * window_of(ro) && strstr(d.reason, "reports") &&
                ro->stuck_warned != w + 1) {
                ro->stuck_warned = w + 1;
                rfd_warn(s,
                         "rollout %lld: wave %s has waited %llds, past its bake of %llds, for "
                         "reports (%s): its hosts may have crashed or be switched off; halt "
                         "or roll back if they do not report",
                         (long long)ro->id, wv->name, (long long)open_s, (long long)bake,
                         d.reason);
            }
        } else {
            ro->holding[0] = '\0';
        }
        if (act != RF_DECIDE_HOLD) {
            char *detail = decision_detail(ro, &d, "engine");
            PUSH(RF_LOG_STEP, -1, 0, (double)act, detail);
            snprintf(ro->row.state, sizeof(ro->row.state), "%s", state_word(ro));
        }
    }
    if (ne) {
        rc = rf_store_log_append(tx, e, ne, err);
        if (rc)
            goto out;
        atomic_fetch_add(&s->m.reports_logged, ne);
        ro->applied_seq = e[ne - 1].seq;
    }
    if (act != RF_DECIDE_HOLD) {
        rc = rf_store_rollout_set_state(tx, ro->id, ro->row.state, now, err);
        char obj[64];
        snprintf(obj, sizeof(obj), "rollout/%lld", (long long)ro->id);
        char action[32];
        snprintf(action, sizeof(action), "decision.%s", decide_name(act));
        if (!rc)
            rc = rf_store_audit_append(tx, now, "engine", action, obj, e[ne - 1].detail, NULL,
                                       err);
        if (rc)
            goto out;
        atomic_fetch_add(&s->m.decisions[act], 1);
        rfd_log(s, "rollout %lld: %s — %s", (long long)ro->id, decide_name(act), d.reason);
    }
    rc = rf_store_commit(tx, err);
    tx = NULL;
    if (!rc)
        note_outcome(s, ro);
out:
    if (rc)
        ro->dirty = 1;
    pthread_rwlock_unlock(&ro->lock);
    if (tx)
        rf_store_rollback(tx);
    rf_store_log_free_array(e, ne);
    free(ps);
    free(tr);
    free(co);
    free(ms);
    return rc;
#undef PUSH
}

/* Rebuild a replica that diverged (a failed commit after it had applied
 * entries): a fresh one from the log. */
static void rebuild(rfd_server *s, rfd_rollout *ro)
{
    rf_err err;
    rf_err_clear(&err);
    if (rfd_rollout_attach(s, ro->id, &err) != RF_OK) {
        char b[600];
        rf_err_format(&err, b, sizeof(b));
        rfd_warn(s, "rollout %lld: rebuilding from its log failed: %s", (long long)ro->id, b);
    }
}

/* Write last-seen times that changed since the last flush. */
static void flush_seen(rfd_server *s)
{
    size_t cap = 0, n = 0;
    int64_t *ids = NULL, *ts = NULL;
    pthread_rwlock_rdlock(&s->hosts_lock);
    for (size_t i = 0; i < s->nhosts; i++) {
        rfd_host *h = s->hosts[i];
        int64_t seen = atomic_load(&h->last_seen);
        if (seen == atomic_load(&h->flushed))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            int64_t *a = realloc(ids, nc * sizeof(*a)), *b = NULL;
            if (a)
                ids = a;
            b = a ? realloc(ts, nc * sizeof(*b)) : NULL;
            if (!a || !b)
                break;
            ts = b;
            cap = nc;
        }
        ids[n] = h->id;
        ts[n] = seen;
        n++;
    }
    pthread_rwlock_unlock(&s->hosts_lock);
    if (n) {
        rf_store_tx *tx;
        rf_err err;
        if (rf_store_begin(s->store, 1, &tx, &err) == RF_OK) {
            if (rf_store_host_seen(tx, ids, ts, n, &err) == RF_OK &&
                rf_store_commit(tx, &err) == RF_OK) {
                for (size_t i = 0; i < n; i++) {
                    rfd_host *h = rfd_host_find(s, ids[i]);
                    if (h)
                        atomic_store(&h->flushed, ts[i]);
                }
            } else {
                rfd_warn(s, "flushing %zu last-seen times: %s", n, err.msg);
            }
        }
    }
    free(ids);
    free(ts);
}

/* Rollouts created by another instance (or by a request on this one that
 * did not install its replica). */
static void discover(rfd_server *s)
{
    rf_store_tx *tx;
    if (rf_store_begin(s->store, 0, &tx, NULL) != RF_OK)
        return;
    rf_store_rollout *rs = NULL;
    size_t n = 0;
    rf_rc rc = rf_store_rollout_list(tx, "running", &rs, &n, NULL);
    rf_store_rollback(tx);
    if (rc)
        return;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&s->ro_mu);
        rfd_rollout *cur = rfd_rollout_of_channel(s, rs[i].channel);
        int known = cur && cur->id >= rs[i].id;
        pthread_mutex_unlock(&s->ro_mu);
        if (!known) {
            rf_err err;
            if (rfd_rollout_attach(s, rs[i].id, &err) != RF_OK)
                rfd_warn(s, "rollout %lld: cannot load it: %s", (long long)rs[i].id, err.msg);
        }
        rf_store_rollout_free(&rs[i]);
    }
    free(rs);
}

/* The replicas as they are now (the array may grow while a tick runs;
 * replicas are never freed while the server runs). Caller frees. */
static rfd_rollout **replicas(rfd_server *s, size_t *n)
{
    pthread_mutex_lock(&s->ro_mu);
    size_t nro = s->nro;
    rfd_rollout **ros = malloc((nro ? nro : 1) * sizeof(*ros));
    if (ros && nro)
        memcpy(ros, s->ro, nro * sizeof(*ros));
    pthread_mutex_unlock(&s->ro_mu);
    *n = ros ? nro : 0;
    return ros;
}

/* Apply what other writers added to a replica's log (read transaction). */
static void follow_only(rfd_server *s, rfd_rollout *ro)
{
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(s->store, 0, &tx, &err) != RF_OK)
        return;
    pthread_rwlock_wrlock(&ro->lock);
    if (follow(s, tx, ro, &err) != RF_OK)
        ro->dirty = 1;
    pthread_rwlock_unlock(&ro->lock);
    rf_store_rollback(tx);
}

void rfd_tick(rfd_server *s)
{
    int64_t now = (int64_t)time(NULL);
    reap_retired(s, now);
    atomic_fetch_add(&s->m.ticks, 1);
    flush_seen(s);

    int leader = 0;
    rf_err err;
    if (rf_store_leader_try(s->store, &leader, &err) != RF_OK)
        leader = 0;
    if (leader != atomic_load(&s->leader))
        rfd_log(s, leader ? "this instance now runs the rollout engine (leader)"
                          : "another instance runs the rollout engine");
    atomic_store(&s->leader, leader);

    /* This tick's reports. */
    pthread_mutex_lock(&s->q_mu);
    rf_store_inbox *q = s->q;
    size_t qn = s->qn;
    s->q = NULL;
    s->qn = s->qcap = 0;
    pthread_mutex_unlock(&s->q_mu);

    discover(s);

    if (!leader) {
        /* Closed measurement windows go to the leader with the reports. */
        pthread_mutex_lock(&s->ro_mu);
        for (size_t i = 0; i < s->nro; i++) {
            rfd_rollout *ro = s->ro[i];
            if (strcmp(ro->row.state, "running") || now - ro->window_start < window_of(ro))
                continue;
            meas *ms = NULL;
            size_t nms = 0;
            uint64_t det[2], rep[2];
            if (window_take(ro, det, rep, &ms, &nms) != RF_OK)
                continue;
            ro->window_start = now;
            rf_store_inbox *g = realloc(q, (qn + nms + 4) * sizeof(*g));
            if (g) {
                q = g;
                for (size_t k = 0; k < nms; k++)
                    q[qn++] = (rf_store_inbox){ro->id, now, ms[k].kind, ms[k].host,
                                               ms[k].treated, ms[k].value};
                for (int k = 0; k < 2; k++) {
                    q[qn++] = (rf_store_inbox){ro->id, now, RF_REPORT_DETECTIONS, WIN_DET, k,
                                               (double)det[k]};
                    q[qn++] = (rf_store_inbox){ro->id, now, RF_REPORT_DETECTIONS, WIN_REP, k,
                                               (double)rep[k]};
                }
            }
            free(ms);
        }
        pthread_mutex_unlock(&s->ro_mu);
        /* Hand the reports to the leader, follow the log. */
        if (qn) {
            rf_store_tx *tx;
            if (rf_store_begin(s->store, 1, &tx, &err) == RF_OK) {
                if (rf_store_inbox_put(tx, q, qn, &err) != RF_OK) {
                    rf_store_rollback(tx);
                    tx = NULL;
                }
                if (!tx || rf_store_commit(tx, &err) != RF_OK) {
                    rfd_warn(s, "handing %zu reports to the leader: %s (kept for the next tick)",
                            qn, err.msg);
                    requeue(s, q, qn);
                }
            } else {
                requeue(s, q, qn);
            }
        }
        free(q);
        size_t nro;
        rfd_rollout **ros = replicas(s, &nro);
        for (size_t i = 0; i < nro; i++) {
            follow_only(s, ros[i]);
            if (ros[i]->dirty)
                rebuild(s, ros[i]);
        }
        free(ros);
        return;
    }

    /* The leader: last-seen times and reports from other instances too. */
    static int64_t last_seen_refresh;
    int64_t every = s->plan.silence_grace_s / 2;
    every = every < 1 ? 1 : every > 5 ? 5 : every;
    if (rf_store_backend_of(s->store) == RF_STORE_POSTGRES && now - last_seen_refresh >= every) {
        last_seen_refresh = now;
        rfd_hosts_refresh_seen(s);
    }
    rf_store_inbox *in = NULL;
    size_t nin = 0;
    {
        rf_store_tx *tx;
        if (rf_store_begin(s->store, 1, &tx, &err) == RF_OK) {
            if (rf_store_inbox_take(tx, 1000000, &in, &nin, &err) != RF_OK ||
                rf_store_commit(tx, &err) != RF_OK) {
                free(in);
                in = NULL;
                nin = 0;
            }
        }
    }
    size_t nall = qn + nin;
    rf_store_inbox *all = merge_sorted(in, nin, q, qn);
    if (!all)
        nall = 0;
    free(q);
    free(in);

    size_t nro;
    rfd_rollout **ros = replicas(s, &nro);
    for (size_t i = 0; i < nro; i++) {
        rfd_rollout *ro = ros[i];
        /* This rollout's reports (stable: still in time order). */
        size_t k = 0;
        rf_store_inbox *mine = malloc((nall ? nall : 1) * sizeof(*mine));
        for (size_t j = 0; mine && j < nall; j++)
            if (all[j].rollout_id == ro->id)
                mine[k++] = all[j];
        if (strcmp(ro->row.state, "running") != 0 && k == 0 && !ro->dirty) {
            /* Nothing can change a finished rollout but an operator, whose
             * entries are followed here. */
            follow_only(s, ro);
        } else if (lead_one(s, ro, mine, k, now, &err) != RF_OK) {
            char b[700];
            rf_err_format(&err, b, sizeof(b));
            rfd_warn(s, "rollout %lld: tick failed: %s (%zu reports kept for the next tick)",
                    (long long)ro->id, b, k);
            if (mine)
                requeue(s, mine, k);
        }
        free(mine);
        if (ro->dirty)
            rebuild(s, ro);
    }
    free(ros);
    free(all);

    static int64_t last_refresh;
    if (s->pub && now - last_refresh >= 60) {
        last_refresh = now;
        pthread_mutex_lock(&s->pub_mu);
        if (rfd_publisher_refresh(s->pub, now, 6 * 3600, &err) != RF_OK)
            rfd_warn(s, "keeping the TUF timestamp fresh: %s", err.msg);
        pthread_mutex_unlock(&s->pub_mu);
    }
}

/* ---- operator actions --------------------------------------------------------------------- */

rf_rc rfd_rollout_operate(rfd_server *s, rf_store_tx *tx, rfd_rollout *ro, rf_operator_op op,
                          int64_t now, rf_decision *out, rf_err *err)
{
    rf_rc rc = rf_store_rollout_lock(tx, ro->id, NULL, err);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&ro->lock);
    rc = follow(s, tx, ro, err);
    if (rc)
        goto out;
    /* Try it on the engine first: a refusal changes nothing. */
    rf_decision d;
    rc = rf_rollout_operator(ro->eng, op, now, &d, err);
    if (rc)
        goto out;
    rf_store_log e = {ro->id, 0, now, RF_LOG_OP_HALT + (int)op, -1, 0, 0, NULL};
    e.detail = decision_detail(ro, &d, "operator");
    rc = rf_store_log_append(tx, &e, 1, err);
    if (!rc) {
        ro->applied_seq = e.seq;
        snprintf(ro->row.state, sizeof(ro->row.state), "%s", state_word(ro));
        rc = rf_store_rollout_set_state(tx, ro->id, ro->row.state, now, err);
    }
    free(e.detail);
    if (!rc)
        *out = d;
    /* The engine changed before the commit: if the caller's commit fails the
     * replica is rebuilt from the log. */
    ro->dirty = rc != RF_OK;
out:
    pthread_rwlock_unlock(&ro->lock);
    return rc;
}

void rfd_rollout_committed(rfd_server *s, rfd_rollout *ro, int ok)
{
    if (!ok) {
        ro->dirty = 1;
        rebuild(s, ro);
        return;
    }
    note_outcome(s, ro);
}

/* ---- the rollout as JSON ------------------------------------------------------------------- */

json_t *rfd_rollout_json(rfd_server *s, rf_store_tx *tx, rfd_rollout *ro, rf_err *err)
{
    (void)s;
    rf_store_log *e = NULL;
    size_t n = 0;
    if (rf_store_log_read(tx, ro->id, 0, RF_LOG_STEP, 0, &e, &n, err) != RF_OK)
        return NULL;
    pthread_rwlock_rdlock(&ro->lock);
    json_t *waves = json_array();
    uint32_t cur = rf_rollout_wave(ro->eng);
    for (uint32_t w = 0; w < ro->plan.nwaves; w++) {
        const rf_wave *wv = &ro->plan.waves[w];
        int64_t op = rf_rollout_wave_opened(ro->eng, w);
        json_t *o = json_pack("{s:s,s:s,s:f,s:I,s:I,s:I,s:I}", "name", wv->name, "ring",
                              ring_name(wv->ring), "fraction", wv->fraction, "bake_s",
                              (json_int_t)(ro->rel.emergency ? wv->emergency_bake_s : wv->bake_s),
                              "hosts", (json_int_t)rf_rollout_wave_hosts(ro->eng, w), "took",
                              (json_int_t)rf_rollout_wave_took(ro->eng, w), "reports",
                              (json_int_t)rf_rollout_wave_reports(ro->eng, w));
        json_object_set_new(o, "opened_at", op == RF_NEVER ? json_null() : json_integer(op));
        json_object_set_new(o, "current", json_boolean(w == cur));
        json_array_append_new(waves, o);
    }
    uint64_t excluded[4] = {0};
    uint64_t took = 0, silent = 0, reverted = 0, loadfail = 0;
    for (uint32_t h = 0; h < ro->fleet.nhosts; h++) {
        uint32_t w;
        excluded[rf_rollout_host_wave(ro->eng, h, &w)]++;
        uint8_t f = atomic_load(&ro->applied[h]);
        took += (f & RFD_F_TOOK) != 0;
        silent += (f & RFD_F_SILENT) && (f & RFD_F_TOOK);
        reverted += (f & RFD_F_REVERT) != 0;
        loadfail += (f & RFD_F_LOADFAIL) != 0;
    }
    json_t *dec = json_array();
    for (size_t i = 0; i < n; i++) {
        json_error_t je;
        json_t *d = e[i].detail ? json_loads(e[i].detail, 0, &je) : json_object();
        if (!d)
            d = json_object();
        json_object_set_new(d, "t", json_integer(e[i].t));
        json_object_set_new(d, "seq", json_integer(e[i].seq));
        json_array_append_new(dec, d);
    }
    rf_store_log_free_array(e, n);
    json_t *o = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:s,s:b,s:s,s:s,s:I,s:I,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
        "s:o}",
        "id", (json_int_t)ro->id, "release", (json_int_t)ro->release_id, "channel",
        (json_int_t)ro->row.channel, "content_version", (json_int_t)ro->row.content_version,
        "last_good_version", (json_int_t)ro->row.last_good_version, "state", ro->row.state,
        "emergency", ro->row.emergency, "reason", ro->row.reason, "operator",
        ro->row.operator_name, "started_at", (json_int_t)ro->row.t0, "rollback_version",
        (json_int_t)(rf_rollout_state_of(ro->eng) == RF_ROLLOUT_HALTED
                         ? rf_rollout_rollback_version(ro->eng)
                         : 0),
        "waves", waves, "hosts", "fleet", (json_int_t)ro->fleet.nhosts, "eligible",
        (json_int_t)excluded[RF_EXCL_NONE], "excluded_paused", (json_int_t)excluded[RF_EXCL_PAUSED],
        "excluded_pinned", (json_int_t)excluded[RF_EXCL_PINNED], "excluded_sensor",
        (json_int_t)excluded[RF_EXCL_SENSOR], "took", (json_int_t)took, "silent_after_taking",
        (json_int_t)silent, "reverted", (json_int_t)reverted, "decisions", dec);
    json_object_set_new(json_object_get(o, "hosts"), "load_failed", json_integer((json_int_t)loadfail));
    json_object_set_new(o, "target", json_string(ro->target));
    json_object_set_new(o, "rollback_target", ro->rb_target[0] ? json_string(ro->rb_target) : json_null());
    json_object_set_new(o, "halted_by_gate", json_boolean(rf_rollout_halted_by_gate(ro->eng)));
    json_object_set_new(o, "holding", ro->holding[0] && strcmp(ro->row.state, "running") == 0
                                          ? json_string(ro->holding)
                                          : json_null());
    pthread_rwlock_unlock(&ro->lock);
    return o;
}

/* ---- the blast radius of a release on the fleet as it is now ---------------------------- */

rf_rc rfd_blast_of(rfd_server *s, rf_store_tx *tx, const rf_store_rollout *row,
                   const char *template_type, char **json, rf_err *err)
{
    rfd_rollout *ro = NULL;
    rf_rc rc = replica_build(s, tx, row, 0, &ro, err);
    if (rc)
        return rc;
    rf_blast_names names = {NULL, template_type, "live fleet", NULL, 1};
    rf_blast *b = NULL;
    rc = rf_blast_compute(&ro->plan, &ro->fleet, &ro->rel, row->seed, &names, &b, err);
    if (!rc)
        rc = rf_blast_to_json(b, json, err);
    rf_blast_free(b);
    replica_free(ro);
    return rc;
}
