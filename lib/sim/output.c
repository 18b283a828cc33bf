/*
 * output.c — the simulator's result as a person reads it (a text summary),
 * as a program reads it (one JSON object), and as a chart is drawn from it
 * (timeline.csv and marks.csv for scripts/sim-chart.gp). Nothing here reads
 * a clock or the environment: the same result gives the same bytes.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "ringfence/sim.h"

static const char *action_name(rf_decide a)
{
    switch (a) {
    case RF_DECIDE_HOLD: return "hold";
    case RF_DECIDE_PROMOTE: return "promote";
    case RF_DECIDE_HALT: return "halt";
    case RF_DECIDE_COMPLETE: return "complete";
    }
    return "unknown";
}

static const char *wave_name(const rf_sim_result *r, uint32_t w)
{
    return w < r->nwaves ? r->wave_name[w] : "?";
}

/* "h:mm:ss", or "-" for RF_NEVER. */
static void fmt_time(int64_t t, char *buf, size_t n)
{
    if (t == RF_NEVER) {
        snprintf(buf, n, "-");
        return;
    }
    const char *sign = t < 0 ? "-" : "";
    int64_t a = t < 0 ? -t : t;
    snprintf(buf, n, "%s%" PRId64 ":%02d:%02d", sign, a / 3600, (int)(a / 60 % 60),
             (int)(a % 60));
}

/* A count with thousands separators. */
static void fmt_count(uint64_t v, char *buf, size_t n)
{
    char tmp[32];
    int len = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < len && o + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
}

static void row_count(FILE *f, const char *label, uint64_t a, uint64_t b)
{
    char x[32], y[32];
    fmt_count(a, x, sizeof(x));
    fmt_count(b, y, sizeof(y));
    fprintf(f, "  %-26s %14s %14s\n", label, x, y);
}

static int64_t diff_or_never(int64_t a, int64_t b)
{
    return (a == RF_NEVER || b == RF_NEVER) ? RF_NEVER : a - b;
}

rf_rc rf_sim_write_text(const rf_sim_result *r, FILE *f)
{
    const rf_sim_opts *o = &r->opts;
    char a[32], b[32], c[32], d[32];
    fmt_count(r->hosts, a, sizeof(a));
    fmt_count(r->offline, b, sizeof(b));
    fmt_count(r->tenants, c, sizeof(c));
    fprintf(f, "simulation: scenario %s, strategy %s (gates %s, boot guard %s%s), seed %" PRIu64
               "\n",
            rf_sim_scenario_name(o->scenario), rf_sim_strategy_name(o->strategy),
            o->strategy == RF_SIM_PUSH_ALL ? "none" : (o->gates ? "on" : "off"),
            (o->strategy == RF_SIM_PUSH_ALL || !o->boot_guard) ? "off" : "on",
            o->emergency ? ", emergency release" : "", o->seed);
    fmt_time(o->duration_s, d, sizeof(d));
    fprintf(f, "fleet: %s hosts (%s offline), %s tenants; plan %s, check-in every %u s, "
               "silence after %u s more; %s simulated\n",
            a, b, c, r->plan_name, r->checkin_interval_s, r->silence_grace_s, d);
    if (o->confirm_s)
        fprintf(f, "agents check in %u s after taking the release (confirmation)\n",
                o->confirm_s);
    fprintf(f, "release: needs %u inputs%s; noise %.4g silences and %.4g crashes per host "
               "per day (%" PRIu64 " and %" PRIu64 " drawn)\n\n",
            r->inputs_required,
            o->scenario == RF_SIM_JULY19 ? ", claims every sensor can run it" : "",
            o->noise_silence, o->noise_crash, r->noise_silences, r->noise_crashes);

    fprintf(f, "  %-26s %14s %14s\n", "hosts (that check in)", "customer", "internal");
    row_count(f, "hosts", r->customer.hosts, r->internal.hosts);
    row_count(f, "eligible (in a wave)", r->customer.eligible, r->internal.eligible);
    row_count(f, "affected (would crash)", r->customer.affected, r->internal.affected);
    row_count(f, "exposed (took it)", r->customer.exposed, r->internal.exposed);
    row_count(f, "crashed", r->customer.crashed, r->internal.crashed);
    fprintf(f, "  %-26s %14.1f %14.1f\n", "down-hours", r->customer.down_hours,
            r->internal.down_hours);
    row_count(f, "recovered automatically", r->customer.recovered, r->internal.recovered);
    row_count(f, "needing a person", r->customer.needing_person,
              r->internal.needing_person);
    row_count(f, "rolled back", r->customer.rolled_back, r->internal.rolled_back);
    fputc('\n', f);

    fmt_time(r->first_exposure_s, a, sizeof(a));
    fmt_time(r->first_crash_s, b, sizeof(b));
    fmt_time(r->halt_s, c, sizeof(c));
    fprintf(f, "first exposure %s, first crash %s, halt %s%s", a, b, c,
            (r->halt_s != RF_NEVER && !o->gates) ? " (not acted on: no gates)" : "");
    fmt_time(r->complete_s, a, sizeof(a));
    fprintf(f, ", complete %s\n", a);
    fmt_time(diff_or_never(r->halt_s, r->first_exposure_s), a, sizeof(a));
    fmt_time(diff_or_never(r->halt_s, r->first_crash_s), b, sizeof(b));
    fprintf(f, "first exposure to halt %s, first crash to halt %s\n", a, b);
    if (r->customer.crashed) {
        fmt_time(r->crash_reach_s[0], a, sizeof(a));
        fmt_time(r->crash_reach_s[2], b, sizeof(b));
        fmt_time(r->crash_reach_s[3], c, sizeof(c));
        fprintf(f, "customer crashes: half by %s, 99%% by %s, the last at %s\n", a, b, c);
    }
    fmt_count(r->good_denominator, d, sizeof(d));
    fmt_time(r->good_reach_s[0], a, sizeof(a));
    fmt_time(r->good_reach_s[1], b, sizeof(b));
    fmt_time(r->good_reach_s[2], c, sizeof(c));
    if (r->good_is_rollback)
        fprintf(f, "good content again (rollback or revert) on the %s hosts that took it, "
                   "from the halt: 50%% %s, 90%% %s, 99%% %s\n",
                d, a, b, c);
    else
        fprintf(f, "release on the %s eligible hosts: 50%% %s, 90%% %s, 99%% %s\n", d, a, b,
                c);
    if (!r->good_is_rollback) {
        fmt_count(r->good_denominator_nodelay, d, sizeof(d));
        fmt_time(r->good_reach_nodelay_s[0], a, sizeof(a));
        fmt_time(r->good_reach_nodelay_s[1], b, sizeof(b));
        fmt_time(r->good_reach_nodelay_s[2], c, sizeof(c));
        fprintf(f, "release on the %s of them with no GA delay: 50%% %s, 90%% %s, 99%% %s%s\n",
                d, a, b, c, r->all_waves_opened ? "" : " (not every wave opened)");
    }

    fprintf(f, "\nwaves:\n");
    for (uint32_t w = 0; w < r->nwaves; w++) {
        fmt_time(r->wave_opened_s[w], a, sizeof(a));
        fprintf(f, "  %-20s opened %s\n", r->wave_name[w], a);
    }
    fprintf(f, "decisions (%u, and %" PRIu64 " holds):\n", r->ndecisions, r->holds);
    for (uint32_t i = 0; i < r->ndecisions; i++) {
        const rf_decision *dd = &r->decisions[i];
        fmt_time(dd->t, a, sizeof(a));
        fprintf(f, "  %s %-8s %-16s %s", a, action_name(dd->action), wave_name(r, dd->wave),
                dd->reason);
        if (dd->ev.signal[0])
            fprintf(f, " [%s: %.3g/%.3g; events %" PRIu64 " treated, %" PRIu64
                       " control; exposure %.0f/%.0f host-s; %" PRIu64 " treated hosts, %" PRIu64
                       " reports]",
                    dd->ev.signal, dd->ev.statistic, dd->ev.threshold, dd->ev.treated_events,
                    dd->ev.control_events, dd->ev.treated_exposure_s, dd->ev.control_exposure_s,
                    dd->ev.treated_hosts, dd->ev.reports);
        fputc('\n', f);
    }
    fprintf(f, "work: %" PRIu64 " events, %" PRIu64 " reports, %" PRIu64
               " engine steps; sampled share %.4g\n",
            r->events, r->reports, r->steps, r->sample);
    return ferror(f) ? RF_E_IO : RF_OK;
}

/* ---- JSON ------------------------------------------------------------------------------ */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_time(FILE *f, int64_t t)
{
    if (t == RF_NEVER)
        fputs("null", f);
    else
        fprintf(f, "%" PRId64, t);
}

/* A finite double; JSON has no inf or nan. */
static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

static void json_counts(FILE *f, const rf_sim_counts *c)
{
    fprintf(f,
            "{\"hosts\":%" PRIu64 ",\"eligible\":%" PRIu64 ",\"affected\":%" PRIu64
            ",\"exposed\":%" PRIu64 ",\"crashed\":%" PRIu64 ",\"down_hours\":",
            c->hosts, c->eligible, c->affected, c->exposed, c->crashed);
    fprintf(f, "%.3f", c->down_hours);
    fprintf(f,
            ",\"recovered_automatically\":%" PRIu64 ",\"needing_person\":%" PRIu64
            ",\"rolled_back\":%" PRIu64 "}",
            c->recovered, c->needing_person, c->rolled_back);
}

static void json_reach(FILE *f, const int64_t *t)
{
    fputs("{\"50\":", f);
    json_time(f, t[0]);
    fputs(",\"90\":", f);
    json_time(f, t[1]);
    fputs(",\"99\":", f);
    json_time(f, t[2]);
    fputc('}', f);
}

rf_rc rf_sim_write_json(const rf_sim_result *r, FILE *f)
{
    const rf_sim_opts *o = &r->opts;
    fputs("{\"scenario\":", f);
    json_str(f, rf_sim_scenario_name(o->scenario));
    fputs(",\"strategy\":", f);
    json_str(f, rf_sim_strategy_name(o->strategy));
    int ring = o->strategy == RF_SIM_RINGFENCE;
    fprintf(f, ",\"gates\":%s,\"boot_guard\":%s,\"emergency\":%s,\"seed\":%" PRIu64,
            ring && o->gates ? "true" : "false", ring && o->boot_guard ? "true" : "false",
            o->emergency ? "true" : "false", o->seed);
    fputs(",\"plan\":", f);
    json_str(f, r->plan_name);
    fprintf(f,
            ",\"hosts\":%u,\"offline\":%u,\"tenants\":%u,\"duration_s\":%u"
            ",\"checkin_interval_s\":%u,\"silence_grace_s\":%u,\"step_s\":%u"
            ",\"inputs_required\":%u",
            r->hosts, r->offline, r->tenants, o->duration_s, r->checkin_interval_s,
            r->silence_grace_s, o->step_s, r->inputs_required);
    fprintf(f, ",\"confirm_checkin_s\":%u", o->confirm_s);
    fputs(",\"noise\":{\"silence_per_day\":", f);
    json_num(f, o->noise_silence);
    fputs(",\"crash_per_day\":", f);
    json_num(f, o->noise_crash);
    fprintf(f, ",\"silences\":%" PRIu64 ",\"crashes\":%" PRIu64 "}", r->noise_silences,
            r->noise_crashes);
    fputs(",\"customer\":", f);
    json_counts(f, &r->customer);
    fputs(",\"internal\":", f);
    json_counts(f, &r->internal);
    fputs(",\"first_exposure_s\":", f);
    json_time(f, r->first_exposure_s);
    fputs(",\"first_crash_s\":", f);
    json_time(f, r->first_crash_s);
    fputs(",\"halt_s\":", f);
    json_time(f, r->halt_s);
    fprintf(f, ",\"halt_acted_on\":%s",
            (r->halt_s != RF_NEVER && ring && o->gates) ? "true" : "false");
    fputs(",\"complete_s\":", f);
    json_time(f, r->complete_s);
    fputs(",\"exposure_to_halt_s\":", f);
    json_time(f, diff_or_never(r->halt_s, r->first_exposure_s));
    fputs(",\"crash_to_halt_s\":", f);
    json_time(f, diff_or_never(r->halt_s, r->first_crash_s));
    fputs(",\"customer_crash_reach_s\":", f);
    json_reach(f, r->crash_reach_s);
    fputs(",\"customer_last_crash_s\":", f);
    json_time(f, r->crash_reach_s[3]);
    fprintf(f, ",\"good_content\":{\"what\":\"%s\",\"from\":\"%s\",\"hosts\":%" PRIu64,
            r->good_is_rollback ? "rollback" : "release", r->good_is_rollback ? "halt" : "start",
            r->good_denominator);
    fputs(",\"reach_s\":", f);
    json_reach(f, r->good_reach_s);
    if (!r->good_is_rollback) {
        fprintf(f, ",\"hosts_nodelay\":%" PRIu64 ",\"reach_nodelay_s\":",
                r->good_denominator_nodelay);
        json_reach(f, r->good_reach_nodelay_s);
        fprintf(f, ",\"all_waves_opened\":%s", r->all_waves_opened ? "true" : "false");
    }
    fputc('}', f);

    fputs(",\"waves\":[", f);
    for (uint32_t w = 0; w < r->nwaves; w++) {
        fputs(w ? ",{\"name\":" : "{\"name\":", f);
        json_str(f, r->wave_name[w]);
        fputs(",\"opened_s\":", f);
        json_time(f, r->wave_opened_s[w]);
        fputc('}', f);
    }
    fputs("],\"decisions\":[", f);
    for (uint32_t i = 0; i < r->ndecisions; i++) {
        const rf_decision *d = &r->decisions[i];
        fprintf(f, "%s{\"t_s\":%" PRId64 ",\"action\":\"%s\",\"wave\":%u,\"wave_name\":",
                i ? "," : "", d->t, action_name(d->action), d->wave);
        json_str(f, wave_name(r, d->wave));
        fputs(",\"reason\":", f);
        json_str(f, d->reason);
        fputs(",\"evidence\":{\"signal\":", f);
        json_str(f, d->ev.signal);
        fputs(",\"statistic\":", f);
        json_num(f, d->ev.statistic);
        fputs(",\"threshold\":", f);
        json_num(f, d->ev.threshold);
        fprintf(f, ",\"treated_events\":%" PRIu64 ",\"control_events\":%" PRIu64,
                d->ev.treated_events, d->ev.control_events);
        fputs(",\"treated_exposure_s\":", f);
        json_num(f, d->ev.treated_exposure_s);
        fputs(",\"control_exposure_s\":", f);
        json_num(f, d->ev.control_exposure_s);
        fprintf(f, ",\"treated_hosts\":%" PRIu64 ",\"reports\":%" PRIu64 "}}",
                d->ev.treated_hosts, d->ev.reports);
    }
    fprintf(f, "],\"holds\":%" PRIu64 ",\"events\":%" PRIu64 ",\"reports\":%" PRIu64
               ",\"steps\":%" PRIu64 ",\"sample\":",
            r->holds, r->events, r->reports, r->steps);
    json_num(f, r->sample);
    fputs("}\n", f);
    return ferror(f) ? RF_E_IO : RF_OK;
}

/* ---- timeline ------------------------------------------------------------------------------ */

rf_rc rf_sim_write_timeline(const rf_sim_result *r, FILE *f)
{
    fputs("minute,exposed,customer_exposed,crashed,customer_crashed,down,recovered,"
          "needing_person,rolled_back,wave,halted\n",
          f);
    for (uint32_t i = 0; i < r->nminutes; i++) {
        const rf_sim_minute *m = &r->timeline[i];
        fprintf(f,
                "%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
                ",%" PRIu64 ",%" PRIu64 ",%u,%d\n",
                m->minute, m->exposed, m->customer_exposed, m->crashed, m->customer_crashed,
                m->down, m->recovered, m->needing_person, m->rolled_back, m->wave, m->halted);
    }
    return ferror(f) ? RF_E_IO : RF_OK;
}

rf_rc rf_sim_write_marks(const rf_sim_result *r, FILE *f)
{
    fputs("minute,label\n", f);
    for (uint32_t w = 0; w < r->nwaves; w++)
        if (r->wave_opened_s[w] != RF_NEVER && r->wave_opened_s[w] < (int64_t)r->opts.duration_s)
            fprintf(f, "%.3f,%s\n", (double)r->wave_opened_s[w] / 60.0, r->wave_name[w]);
    if (r->halt_s != RF_NEVER)
        fprintf(f, "%.3f,halt\n", (double)r->halt_s / 60.0);
    return ferror(f) ? RF_E_IO : RF_OK;
}
