/*
 * run.c — `ringfence-agent run`: the agent as it runs on a host
 * (docs/design-agent.md).
 *
 * Two threads:
 *   the event thread  owns the running content (one runtime per channel: its
 *                     interpreter, scratch and synthetic-event model), reads
 *                     events from the source and evaluates each one exactly
 *                     once against every channel of its template type;
 *   the main thread   the boot guard at start (before any network), then the
 *                     check-in loop: health out, assignments in, content
 *                     through lib/tuf into the inactive slot, the interpreter
 *                     built aside, the trial recorded, the swap, confirmation.
 * A swap is a command the event thread takes between two events, so no event
 * is dropped or evaluated twice; the replaced runtime comes back to the main
 * thread, which frees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <malloc.h>

#include "agent.h"
#include "ringfence/channel.h"
#include "ringfence/interp.h"
#include "ringfence/limits.h"
#include "ringfence/schema.h"
#include "ringfence/tuf.h"

#define REQUEST_TIMEOUT_MS 10000u
#define DETECTIONS_ROTATE_BYTES (64u * 1024u * 1024u)
#define TUF_RETRY_S 30 /* a target the metadata did not list: look again after */

/* ---- logging -------------------------------------------------------------- */

static int64_t g_host_id;

static void alog(const char *fmt, ...) RF_PRINTF(1, 2);
static void alog(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ " AGENT_PROG "[host %" PRId64 "]: %s\n",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
            ts.tv_nsec / 1000000, g_host_id, msg);
}

static void alog_err(const char *what, const rf_err *e)
{
    char buf[RF_ERR_MSG_MAX + RF_ERR_FILE_MAX + 64];
    rf_err_format(e, buf, sizeof(buf));
    alog("%s: %s", what, buf);
}

/* ---- runtimes: what runs for one channel ---------------------------------------- */

typedef struct runtime {
    uint16_t channel;
    uint32_t version;
    char *ttype; /* template type the channel serves */
    rf_interp *ip;
    rf_interp_scratch *scr;
    rf_agent_synth_model *model;
    uint32_t *matches;
    uint32_t cap;
} runtime;

static void runtime_free(runtime *r)
{
    if (!r)
        return;
    rf_agent_synth_model_free(r->model);
    rf_interp_scratch_free(r->scr);
    rf_interp_free(r->ip);
    free(r->matches);
    free(r->ttype);
    free(r);
}

/* The interpreter for CH on this host's sensor: the same rf_interp_build the
 * validator runs for every manifest, so what loads here is what was checked
 * there. */
static rf_rc runtime_build(const rf_channel *ch, const rf_sensor_manifest *m, runtime **out,
                           rf_err *err)
{
    runtime *r = calloc(1, sizeof(*r));
    if (!r)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    r->channel = ch->channel;
    r->version = ch->content_version;
    rf_rc rc = rf_interp_build(ch, m, &r->ip, err);
    if (rc != RF_OK)
        goto fail;
    rc = rf_interp_scratch_new(r->ip, &r->scr);
    if (rc != RF_OK) {
        rf_err_set(err, rc, NULL, 0, 0, "cannot make the interpreter's scratch");
        goto fail;
    }
    const rf_sensor_support *sup =
        rf_sensor_find_support(m, ch->template_type, ch->template_version);
    uint32_t ninputs = sup ? sup->inputs : rf_interp_inputs_supplied(r->ip);
    rc = rf_agent_synth_model_new(ch, ninputs ? ninputs : 1, &r->model);
    if (rc != RF_OK) {
        rf_err_set(err, rc, NULL, 0, 0, "cannot build the synthetic event model");
        goto fail;
    }
    r->cap = ch->ninstances ? ch->ninstances : 1;
    r->matches = malloc((size_t)r->cap * sizeof(uint32_t));
    r->ttype = strdup(ch->template_type);
    if (!r->matches || !r->ttype) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
        goto fail;
    }
    *out = r;
    return RF_OK;
fail:
    runtime_free(r);
    return rc;
}

/* ---- the agent -------------------------------------------------------------- */

enum { CMD_NONE, CMD_INSTALL, CMD_REMOVE };

/* What the main thread knows of one channel beyond guard.json. */
typedef struct chan_info {
    uint16_t channel;
    uint32_t running;        /* version the event thread runs; 0: nothing */
    uint64_t activated_ns;   /* when the running version was activated */
    uint64_t loops_at_act;   /* event loop count then */
    uint32_t load_failed;    /* assigned version that could not be loaded */
    uint32_t refused;        /* assigned version refused (below trusted, untrusted) */
    char refused_why[256];
    int64_t refused_at;
    int refused_final;       /* 1: never retried (a rollback refusal) */
} chan_info;

typedef struct agent {
    const agent_run_opts *o;
    agent_conf conf;
    char *ca_path;            /* NULL: system trust store */
    rf_workspace *ws;         /* holds the sensor manifest */
    const rf_sensor_manifest *manifest;
    rf_agent_state st;
    uint32_t nchan;
    chan_info ch[RF_AGENT_MAX_CHANNELS];
    rf_agent_health *health;
    rf_agent_source *src;
    rf_tuf_client *tuf;
    rf_tuf_http_opts http;
    FILE *det;
    char *det_path;
    uint64_t started_ns;
    int64_t started_at;
    uint64_t starts;          /* agent starts since enrollment (run.json) */
    uint64_t load_failures;
    uint64_t last_activation_ms;
    rf_agent_health_snap last_hs; /* what the last check-in reported */
    int64_t last_checkin_ok;
    char last_error[RF_ERR_MSG_MAX + 128];
    rf_rng rng;

    /* The event thread's own state. */
    uint32_t nrt;
    runtime *rt[RF_AGENT_MAX_CHANNELS];
    _Atomic uint64_t loops;
    _Atomic uint64_t input_refused;
    _Atomic int source_ended;

    /* The one command slot between the threads. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int cmd_pending;
    int cmd;
    uint16_t cmd_channel;
    runtime *cmd_rt;   /* in: the runtime to install; out: the one it replaced */
    int cmd_done;
    int ev_stopped; /* the event thread has left its loop (under mu) */
} agent;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static chan_info *info_of(agent *ag, uint16_t channel)
{
    for (uint32_t i = 0; i < ag->nchan; i++)
        if (ag->ch[i].channel == channel)
            return &ag->ch[i];
    if (ag->nchan == RF_AGENT_MAX_CHANNELS)
        return NULL;
    chan_info *c = &ag->ch[ag->nchan++];
    memset(c, 0, sizeof(*c));
    c->channel = channel;
    return c;
}

/* The fault injection of the issue: a sensor bug no validator can see. */
static void maybe_crash(const agent *ag, uint16_t channel, uint32_t version)
{
    if (ag->o->fault_on && ag->o->fault_channel == channel && ag->o->fault_version == version) {
        alog("fault injection: crash-on-content=%u:%u is now active; aborting", channel,
             version);
        abort();
    }
}

/* ---- the event thread ------------------------------------------------------- */

static void log_detection(agent *ag, const rf_agent_event *ev, const runtime *r, uint32_t idx)
{
    rf_agent_health_detection(ag->health, r->channel, r->version,
                              rf_interp_instance_id(r->ip, idx));
    if (!ag->det)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *o = json_pack("{s:I,s:I,s:i,s:I,s:s,s:s,s:s}", "time_ms",
                          (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, "event",
                          (json_int_t)ev->seq, "channel", r->channel, "version",
                          (json_int_t)r->version, "instance", rf_interp_instance_id(r->ip, idx),
                          "action", rf_action_name(rf_interp_instance_action(r->ip, idx)),
                          "severity",
                          rf_severity_name(rf_interp_instance_severity(r->ip, idx)));
    if (o) {
        json_dumpf(o, ag->det, JSON_COMPACT);
        fputc('\n', ag->det);
        json_decref(o);
    }
}

static void rotate_detections(agent *ag)
{
    long pos = ftell(ag->det);
    if (pos < 0 || (unsigned long)pos < DETECTIONS_ROTATE_BYTES)
        return;
    fclose(ag->det);
    size_t n = strlen(ag->det_path) + 3;
    char *old = malloc(n);
    if (old) {
        snprintf(old, n, "%s.1", ag->det_path);
        if (rename(ag->det_path, old) != 0)
            alog("cannot rotate %s: %s", ag->det_path, strerror(errno));
        free(old);
    }
    ag->det = fopen(ag->det_path, "a");
    if (!ag->det)
        alog("cannot reopen %s: %s; detections are still counted", ag->det_path,
             strerror(errno));
}

/* Carry out the pending command (install or remove one channel's runtime);
 * called with ag->mu held, by the event thread, or by the main thread once
 * the event thread has stopped. Returns the runtime installed, if any. */
static runtime *apply_command(agent *ag)
{
    runtime *in = ag->cmd == CMD_INSTALL ? ag->cmd_rt : NULL;
    uint16_t chn = ag->cmd == CMD_INSTALL ? in->channel : ag->cmd_channel;
    runtime *old = NULL;
    uint32_t i;
    for (i = 0; i < ag->nrt; i++)
        if (ag->rt[i]->channel == chn)
            break;
    if (i < ag->nrt) {
        old = ag->rt[i];
        if (in)
            ag->rt[i] = in;
        else
            ag->rt[i] = ag->rt[--ag->nrt];
    } else if (in) {
        ag->rt[ag->nrt++] = in; /* room: channels are bounded by the guard state */
    }
    ag->cmd_rt = old;
    ag->cmd_done = 1;
    atomic_store(&ag->cmd_pending, 0);
    pthread_cond_broadcast(&ag->cv);
    return in;
}

static void take_command(agent *ag)
{
    pthread_mutex_lock(&ag->mu);
    runtime *in = apply_command(ag);
    pthread_mutex_unlock(&ag->mu);
    if (in)
        maybe_crash(ag, in->channel, in->version);
}

static void *event_thread(void *arg)
{
    agent *ag = arg;
    uint64_t last_flush = rf_now_ns();
    while (!g_stop) {
        if (atomic_load(&ag->cmd_pending))
            take_command(ag);
        atomic_fetch_add(&ag->loops, 1);
        if (atomic_load(&ag->source_ended)) {
            /* Nothing to evaluate: sleep until a command comes (or a second
             * passes), so an idle agent costs nothing. */
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += 1;
            pthread_mutex_lock(&ag->mu);
            if (!atomic_load(&ag->cmd_pending) && !g_stop)
                pthread_cond_timedwait(&ag->cv, &ag->mu, &dl);
            pthread_mutex_unlock(&ag->mu);
            continue;
        }
        const rf_agent_synth_model *model = ag->nrt ? ag->rt[0]->model : NULL;
        rf_agent_event ev;
        rf_rc rc = rf_agent_source_next(ag->src, model, 50, &ev);
        if (rc == RF_E_IO) {
            atomic_store(&ag->source_ended, 1);
            alog("event source %s: at its end (%" PRIu64
                 " malformed lines skipped); content stays loaded",
                 ag->o->events, rf_agent_source_bad(ag->src));
            continue;
        }
        if (rc != RF_OK)
            continue;
        uint64_t cost = 0;
        for (uint32_t i = 0; i < ag->nrt; i++) {
            runtime *r = ag->rt[i];
            if (ev.template_type && strcmp(ev.template_type, r->ttype) != 0)
                continue;
            uint32_t nm = 0;
            uint64_t t0 = rf_now_ns();
            rf_rc er = rf_interp_eval(r->ip, r->scr, ev.inputs, ev.ninputs, r->matches, r->cap,
                                      &nm);
            cost += rf_now_ns() - t0;
            if (er == RF_E_INPUT) {
                atomic_fetch_add(&ag->input_refused, 1);
                continue;
            }
            if (er != RF_OK)
                continue;
            for (uint32_t k = 0; k < nm && k < r->cap; k++)
                log_detection(ag, &ev, r, r->matches[k]);
        }
        rf_agent_health_event(ag->health, cost);
        uint64_t now = rf_now_ns();
        if (ag->det && now - last_flush > 1000000000ull) {
            fflush(ag->det);
            rotate_detections(ag);
            last_flush = now;
        }
    }
    if (ag->det)
        fflush(ag->det);
    /* A swap handed over while we were stopping must not wait for us. */
    pthread_mutex_lock(&ag->mu);
    ag->ev_stopped = 1;
    pthread_cond_broadcast(&ag->cv);
    pthread_mutex_unlock(&ag->mu);
    return NULL;
}

/* Hand R (or, with R NULL, the removal of CHANNEL) to the event thread and
 * wait until it runs; frees what it replaced. */
static void swap_in(agent *ag, uint16_t channel, runtime *r)
{
    pthread_mutex_lock(&ag->mu);
    ag->cmd = r ? CMD_INSTALL : CMD_REMOVE;
    ag->cmd_channel = channel;
    ag->cmd_rt = r;
    ag->cmd_done = 0;
    atomic_store(&ag->cmd_pending, 1);
    pthread_cond_broadcast(&ag->cv); /* an idle event thread waits on it */
    while (!ag->cmd_done && !ag->ev_stopped)
        pthread_cond_wait(&ag->cv, &ag->mu);
    if (!ag->cmd_done) /* stopping (SIGTERM): nothing evaluates any more */
        apply_command(ag);
    runtime *old = ag->cmd_rt;
    ag->cmd = CMD_NONE;
    ag->cmd_rt = NULL;
    pthread_mutex_unlock(&ag->mu);
    runtime_free(old);
}

/* ---- state ------------------------------------------------------------------- */

static int save_guard(agent *ag)
{
    rf_err e;
    if (rf_agent_state_save(ag->o->state, &ag->st, &e) != RF_OK) {
        alog_err("cannot save guard.json", &e);
        return -1;
    }
    return 0;
}

/* STATE/run.json: what `status` shows of a running agent. Informational,
 * so written without fsync (write + rename), once per check-in. */
static void write_run_json(agent *ag)
{
    rf_agent_health_snap hs;
    rf_agent_health_snapshot(ag->health, 0, &hs);
    json_t *chs = json_array();
    for (uint32_t i = 0; i < ag->nchan; i++) {
        const chan_info *c = &ag->ch[i];
        json_array_append_new(
            chs, json_pack("{s:i,s:I,s:I,s:I}", "channel", c->channel, "running",
                           (json_int_t)c->running, "load_failed", (json_int_t)c->load_failed,
                           "refused", (json_int_t)c->refused));
    }
    json_t *o = json_pack(
        "{s:i,s:I,s:I,s:I,s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:b,s:I,s:I,s:o}", "pid", (int)getpid(),
        "host_id", (json_int_t)ag->conf.host_id, "started_at", (json_int_t)ag->started_at,
        "starts", (json_int_t)ag->starts, "last_checkin_ok", (json_int_t)ag->last_checkin_ok,
        "last_error", ag->last_error, "events", (json_int_t)hs.events, "detections",
        (json_int_t)hs.detections, "input_refused",
        (json_int_t)atomic_load(&ag->input_refused), "source_bad",
        (json_int_t)(ag->src ? rf_agent_source_bad(ag->src) : 0), "rss_kb", (json_int_t)rf_agent_rss_kb(),
        "source_ended", atomic_load(&ag->source_ended), "load_failures",
        (json_int_t)ag->load_failures, "last_activation_ms",
        (json_int_t)ag->last_activation_ms, "channels", chs ? chs : json_array());
    if (o) {
        /* The cost window of the last check-in (per event, all channels). */
        json_object_set_new(o, "cpu_ns_mean", json_integer((json_int_t)ag->last_hs.cpu_ns_mean));
        json_object_set_new(o, "cpu_ns_p50", json_integer((json_int_t)ag->last_hs.cpu_ns_p50));
        json_object_set_new(o, "cpu_ns_p99", json_integer((json_int_t)ag->last_hs.cpu_ns_p99));
    }
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    char *path = agent_path(ag->o->state, AGENT_RUN_FILE);
    char *tmp = agent_path(ag->o->state, AGENT_RUN_FILE ".tmp");
    if (text && path && tmp) {
        FILE *f = fopen(tmp, "w");
        if (f) {
            int ok = fputs(text, f) >= 0;
            ok &= fclose(f) == 0;
            if (!ok || rename(tmp, path) != 0)
                unlink(tmp);
        }
    }
    free(text);
    free(path);
    free(tmp);
}

/* What the last run.json said of the starts so far. */
static uint64_t previous_starts(const char *state)
{
    char *path = agent_path(state, AGENT_RUN_FILE);
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t n = 0;
    if (path && rf_file_read(path, 1u << 20, &buf, &len, NULL) == RF_OK) {
        json_t *o = json_loadb((const char *)buf, len, 0, NULL);
        json_t *s = json_object_get(o, "starts");
        if (json_is_integer(s) && json_integer_value(s) > 0)
            n = (uint64_t)json_integer_value(s);
        json_decref(o);
    }
    free(buf);
    free(path);
    return n;
}

/* ---- start: the boot guard, before any network ------------------------------- */

static rf_rc load_slot(agent *ag, uint16_t channel, char slot, uint32_t version, runtime **out,
                       rf_err *e)
{
    rf_channel *ch = NULL;
    rf_rc rc = rf_agent_slot_read(ag->o->state, channel, slot, &ch, e);
    if (rc != RF_OK)
        return rc;
    if (ch->content_version != version) {
        rc = rf_err_set(e, RF_E_FORMAT, NULL, 0, 0,
                        "slot %c of channel %u holds version %u, guard.json says %u", slot,
                        channel, ch->content_version, version);
    } else {
        rc = runtime_build(ch, ag->manifest, out, e);
    }
    rf_channel_free(ch);
    return rc;
}

static int boot_guard(agent *ag)
{
    rf_err e;
    if (rf_agent_state_load(ag->o->state, &ag->st, &e) != RF_OK) {
        alog_err("cannot read guard.json", &e);
        return -1;
    }
    if (ag->st.quarantined)
        alog("%s; starting from an empty state (content comes again at the next check-in)",
             ag->st.quarantine_msg);
    rf_agent_actions acts;
    if (rf_agent_guard_on_start(&ag->st, ag->o->max_starts, &acts) != RF_OK)
        return -1;
    for (uint32_t i = 0; i < ag->st.nchannels; i++) {
        const rf_agent_chan *c = &ag->st.ch[i];
        if (c->has_trial)
            alog("channel %u: version %u on trial, start %u of %u", c->channel,
                 c->trial.version, c->trial.starts, ag->o->max_starts);
    }
    for (uint32_t i = 0; i < acts.n; i++)
        alog("boot guard: channel %u version %u did not survive %u starts; reverted to %s%u "
             "and marked bad (reported at the next check-in)",
             acts.a[i].channel, acts.a[i].reverted_version, ag->o->max_starts,
             acts.a[i].restored_version ? "last-known-good version " : "no content, version ",
             acts.a[i].restored_version);
    /* The count is on disk before any content is loaded: a crash while
     * loading counts too. */
    if (save_guard(ag))
        return -1;

    for (uint32_t i = 0; i < ag->st.nchannels; i++) {
        rf_agent_chan *c = &ag->st.ch[i];
        chan_info *ci = info_of(ag, c->channel);
        if (c->active == RF_AGENT_SLOT_NONE || !ci)
            continue;
        runtime *r = NULL;
        rf_rc rc = load_slot(ag, c->channel, c->active, c->active_version, &r, &e);
        if (rc != RF_OK && c->has_trial) {
            alog_err("the content on trial cannot be loaded", &e);
            rf_agent_action a;
            if (rf_agent_guard_revert(&ag->st, c->channel, &a) == RF_OK && !save_guard(ag))
                alog("boot guard: channel %u version %u reverted to %u and marked bad",
                     a.channel, a.reverted_version, a.restored_version);
            if (c->active != RF_AGENT_SLOT_NONE)
                rc = load_slot(ag, c->channel, c->active, c->active_version, &r, &e);
        }
        if (rc != RF_OK) {
            /* A slot that fails its checks is a local disk fault, not a
             * fault of the version: forget the slot (bad versions and the
             * highest trusted stay) so that the version is fetched through
             * TUF again at the next check-in. */
            alog_err("the last-known-good content cannot be loaded", &e);
            uint32_t v = c->active_version;
            if (rf_agent_guard_remove(&ag->st, c->channel) == RF_OK && !save_guard(ag))
                alog("channel %u: slot dropped; version %u is fetched again at the next "
                     "check-in",
                     c->channel, v);
            continue;
        }
        ag->rt[ag->nrt++] = r;
        ci->running = r->version;
        ci->activated_ns = rf_now_ns();
        alog("channel %u: running version %u from slot %c%s (%u instances)", c->channel,
             r->version, c->active, c->has_trial ? " (trial)" : "",
             rf_interp_ninstances(r->ip));
        maybe_crash(ag, r->channel, r->version);
    }
    malloc_trim(0);
    return 0;
}

/* ---- updates ------------------------------------------------------------------ */

static void refuse(chan_info *ci, uint32_t version, int final, const char *fmt, ...)
    RF_PRINTF(4, 5);
static void refuse(chan_info *ci, uint32_t version, int final, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ci->refused_why, sizeof(ci->refused_why), fmt, ap);
    va_end(ap);
    ci->refused = version;
    ci->refused_final = final;
    ci->refused_at = time(NULL);
    alog("channel %u version %u refused: %s", ci->channel, version, ci->refused_why);
}

static int is_bad(const rf_agent_chan *c, uint32_t v)
{
    for (uint32_t i = 0; c && i < c->nbad; i++)
        if (c->bad[i] == v)
            return 1;
    return 0;
}

/* The signed custom metadata of a target must name this very content. */
static int custom_matches(const rf_tuf_target *t, uint16_t channel, uint32_t version,
                          int *rollback)
{
    json_t *o = t->custom_json ? json_loads(t->custom_json, 0, NULL) : NULL;
    json_t *c = json_object_get(o, "channel");
    json_t *v = json_object_get(o, "content_version");
    int ok = json_is_integer(c) && json_integer_value(c) == channel && json_is_integer(v) &&
             json_integer_value(v) == version;
    *rollback = json_object_get(o, "rollback_of") != NULL;
    json_decref(o);
    return ok;
}

static int tuf_ready(agent *ag, int *refreshed)
{
    rf_err e;
    if (*refreshed)
        return 0;
    if (!ag->tuf) {
        rf_tuf_client_opts to;
        rf_tuf_client_opts_default(&to);
        char *mdir = agent_path(ag->o->state, AGENT_TUF_DIR);
        size_t n = strlen(ag->conf.tuf_url) + 16;
        char *murl = malloc(n), *turl = malloc(n);
        if (!mdir || !murl || !turl) {
            free(mdir);
            free(murl);
            free(turl);
            return -1;
        }
        snprintf(murl, n, "%s/metadata", ag->conf.tuf_url);
        snprintf(turl, n, "%s/targets", ag->conf.tuf_url);
        to.metadata_dir = mdir;
        to.metadata_url = murl;
        to.target_base_url = turl;
        to.fetch_ctx = &ag->http;
        rf_rc rc = rf_tuf_client_new(&to, &ag->tuf, &e);
        free(mdir);
        free(murl);
        free(turl);
        if (rc != RF_OK) {
            alog_err("TUF: cannot load the trusted metadata", &e);
            return -1;
        }
    }
    if (rf_tuf_client_refresh(ag->tuf, &e) != RF_OK) {
        alog_err("TUF: refresh failed, keeping the content that runs", &e);
        snprintf(ag->last_error, sizeof(ag->last_error), "TUF refresh failed: %s", e.msg);
        return -1;
    }
    *refreshed = 1;
    return 0;
}

/* Fetch, check, build aside, record the trial, swap. */
static void take_assignment(agent *ag, uint16_t channel, uint32_t version, const char *target,
                            const char *kind, int *refreshed)
{
    chan_info *ci = info_of(ag, channel);
    if (!ci)
        return;
    const rf_agent_chan *gc = rf_agent_state_find(&ag->st, channel);
    if (!target) { /* "remove": a rollback with no earlier content */
        if (ci->running || (gc && gc->active != RF_AGENT_SLOT_NONE)) {
            swap_in(ag, channel, NULL);
            if (rf_agent_guard_remove(&ag->st, channel) == RF_OK && !save_guard(ag))
                alog("channel %u: content removed by the control plane (%s)", channel, kind);
            ci->running = 0;
        }
        return;
    }
    if (ci->running == version || (gc && gc->active_version == version) ||
        ci->load_failed == version || is_bad(gc, version))
        return;
    if (ci->refused == version &&
        (ci->refused_final || time(NULL) - ci->refused_at < TUF_RETRY_S))
        return;
    if (gc && version < gc->highest_trusted && strcmp(kind, "rollback") != 0) {
        refuse(ci, version, 1, "below version %u, the highest this host has trusted (%s)",
               gc->highest_trusted, kind);
        return;
    }
    if (tuf_ready(ag, refreshed))
        return; /* logged; tried again at the next check-in */

    rf_err e;
    rf_tuf_target *t = NULL;
    rf_rc rc = rf_tuf_client_find_target(ag->tuf, target, &t, &e);
    if (rc != RF_OK) {
        refuse(ci, version, 0, "target %s is not backed by the signed TUF metadata: %s",
               target, e.msg);
        return;
    }
    int rollback = 0;
    if (!custom_matches(t, channel, version, &rollback)) {
        refuse(ci, version, 0,
               "the signed metadata of %s does not say channel %u version %u", target,
               channel, version);
        rf_tuf_target_free(t);
        return;
    }
    if (gc && version < gc->highest_trusted && !rollback) {
        refuse(ci, version, 1, "below version %u and not signed as a rollback",
               gc->highest_trusted);
        rf_tuf_target_free(t);
        return;
    }
    char *ddir = agent_path(ag->o->state, AGENT_DOWNLOAD_DIR);
    if (ddir && mkdir(ddir, 0700) != 0 && errno != EEXIST)
        alog("cannot create %s: %s", ddir, strerror(errno));
    char *file = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_channel *ch = NULL;
    runtime *r = NULL;
    rc = ddir ? rf_tuf_client_download(ag->tuf, t, ddir, &file, &e) : RF_E_NOMEM;
    rf_tuf_target_free(t);
    free(ddir);
    if (rc != RF_OK) {
        refuse(ci, version, 0, "download of %s failed: %s", target, e.msg);
        goto out;
    }
    uint64_t t_dl = rf_now_ns();
    rc = rf_file_read(file, RF_MAX_CHANNEL_BYTES, &buf, &len, &e);
    unlink(file);
    if (rc == RF_OK)
        rc = rf_channel_read(buf, len, target, &ch, &e);
    if (rc == RF_OK && (ch->channel != channel || ch->content_version != version))
        rc = rf_err_set(&e, RF_E_FORMAT, target, 0, 0,
                        "the file holds channel %u version %u", ch->channel,
                        ch->content_version);
    if (rc == RF_OK)
        rc = runtime_build(ch, ag->manifest, &r, &e);
    if (rc != RF_OK) {
        char why[RF_ERR_MSG_MAX + 64];
        rf_err_format(&e, why, sizeof(why));
        alog("channel %u version %u cannot be loaded on sensor %s: %s", channel, version,
             ag->conf.sensor_version, why);
        ci->load_failed = version;
        ag->load_failures++;
        goto out;
    }
    char slot;
    if (rf_agent_slot_inactive(&ag->st, channel, &slot) != RF_OK ||
        rf_agent_slot_write(ag->o->state, channel, slot, buf, len, &e) != RF_OK) {
        alog_err("cannot write the inactive slot", &e);
        goto out;
    }
    rf_agent_state before = ag->st;
    rc = rf_agent_guard_begin_trial(&ag->st, channel, slot, version,
                                    rollback ? RF_AGENT_TRIAL_ROLLBACK : 0);
    if (rc != RF_OK) {
        refuse(ci, version, 1, "the boot guard refuses it (%s)", rf_strerror(rc));
        goto out;
    }
    /* The trial is on disk before the content runs: if it crashes the agent,
     * the next start counts against it. */
    if (save_guard(ag)) {
        ag->st = before;
        goto out;
    }
    uint32_t ninst = rf_interp_ninstances(r->ip);
    size_t imem = rf_interp_memory(r->ip);
    swap_in(ag, channel, r);
    r = NULL;
    uint64_t now = rf_now_ns();
    ag->last_activation_ms = (now - t_dl) / 1000000u;
    ci->running = version;
    ci->activated_ns = now;
    ci->loops_at_act = atomic_load(&ag->loops);
    ci->load_failed = 0;
    ci->refused = 0;
    alog("channel %u: version %u active from slot %c on trial (%s, %u instances, %zu KiB, "
         "%" PRIu64 " ms after download)",
         channel, version, slot, kind, ninst, imem / 1024, ag->last_activation_ms);
out:
    runtime_free(r);
    rf_channel_free(ch);
    free(buf);
    free(file);
    /* The channel's parse tree, the file and the old interpreter are gone:
     * give the pages back, so that idle RSS is what runs, not what ran. */
    malloc_trim(0);
}

/* When the next trial becomes due for confirmation (rf_now_ns clock), or
 * UINT64_MAX when none is running. */
static uint64_t next_confirm_ns(agent *ag)
{
    uint64_t t = UINT64_MAX;
    for (uint32_t i = 0; i < ag->st.nchannels; i++) {
        const rf_agent_chan *c = &ag->st.ch[i];
        chan_info *ci = info_of(ag, c->channel);
        if (!c->has_trial || !ci || ci->running != c->trial.version)
            continue;
        uint64_t due = ci->activated_ns + (uint64_t)ag->o->confirm_after_s * 1000000000ull;
        if (due < t)
            t = due;
    }
    return t;
}

/* Trials that ran long enough become the last-known-good. Returns how many. */
static int confirm_due(agent *ag)
{
    int n = 0;
    uint64_t now = rf_now_ns();
    for (uint32_t i = 0; i < ag->st.nchannels; i++) {
        rf_agent_chan *c = &ag->st.ch[i];
        chan_info *ci = info_of(ag, c->channel);
        if (!c->has_trial || !ci || ci->running != c->trial.version)
            continue;
        if (now - ci->activated_ns < (uint64_t)ag->o->confirm_after_s * 1000000000ull ||
            atomic_load(&ag->loops) == ci->loops_at_act)
            continue;
        rf_agent_state before = ag->st;
        uint32_t v = c->trial.version;
        if (rf_agent_guard_confirm(&ag->st, c->channel) != RF_OK)
            continue;
        if (save_guard(ag)) {
            ag->st = before;
            continue;
        }
        alog("channel %u: version %u confirmed healthy after %u s; it is the last-known-good",
             c->channel, v, ag->o->confirm_after_s);
        n++;
    }
    return n;
}

/* ---- check-ins ----------------------------------------------------------------- */

static json_t *checkin_body(agent *ag)
{
    rf_agent_health_snap hs;
    rf_agent_health_snapshot(ag->health, 1, &hs);
    ag->last_hs = hs;
    json_t *content = json_array(), *bad = json_array(), *top = json_array(),
           *chs = json_array();
    uint64_t reverts = 0;
    for (uint32_t i = 0; i < ag->st.nchannels; i++) {
        const rf_agent_chan *c = &ag->st.ch[i];
        chan_info *ci = info_of(ag, c->channel);
        uint32_t v = c->active_version;
        const char *status = ci && ci->running ? "active" : "none";
        if (ci && ci->load_failed) {
            v = ci->load_failed;
            status = "load_failed";
        }
        json_array_append_new(content, json_pack("{s:i,s:I,s:s}", "channel", c->channel,
                                                 "version", (json_int_t)v, "status", status));
        for (uint32_t k = 0; k < c->nbad; k++)
            json_array_append_new(bad, json_pack("{s:i,s:I}", "channel", c->channel,
                                                 "version", (json_int_t)c->bad[k]));
        reverts += c->nbad;
        json_t *d = json_pack("{s:i,s:I,s:I,s:b,s:I}", "channel", c->channel, "active",
                              (json_int_t)c->active_version, "last_known_good",
                              (json_int_t)c->lkg_version, "trial", c->has_trial,
                              "highest_trusted", (json_int_t)c->highest_trusted);
        if (d && c->has_trial)
            json_object_set_new(d, "trial_starts", json_integer(c->trial.starts));
        if (d && ci && ci->refused) {
            json_object_set_new(d, "refused", json_integer(ci->refused));
            json_object_set_new(d, "refused_why", json_string(ci->refused_why));
        }
        json_array_append_new(chs, d);
    }
    for (uint32_t i = 0; i < hs.ntop; i++)
        json_array_append_new(top, json_pack("{s:i,s:I,s:s,s:I}", "channel", hs.top[i].channel,
                                             "version", (json_int_t)hs.top[i].version,
                                             "instance", hs.top[i].instance, "count",
                                             (json_int_t)hs.top[i].count));
    uint64_t up = (rf_now_ns() - ag->started_ns) / 1000000000ull;
    json_t *health = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:o}", "uptime_s", (json_int_t)up,
        "boot_attempts", (json_int_t)ag->starts, "reverts", (json_int_t)reverts, "events",
        (json_int_t)hs.events, "cpu_ns_mean", (json_int_t)hs.cpu_ns_mean, "cpu_ns_p50",
        (json_int_t)hs.cpu_ns_p50, "cpu_ns_p99", (json_int_t)hs.cpu_ns_p99, "detections",
        (json_int_t)hs.detections, "rss_kb", (json_int_t)rf_agent_rss_kb(), "load_failures",
        (json_int_t)ag->load_failures, "bad", bad, "top_detections", top, "channels", chs);
    return json_pack("{s:s,s:o,s:o}", "sensor_version", ag->conf.sensor_version, "content",
                     content, "health", health);
}

/* One check-in. Returns 0 when the server answered 200 with a usable body,
 * -1 otherwise (logged; the caller backs off). *next_s: the server's
 * interval. */
static int checkin(agent *ag, uint64_t *next_s)
{
    json_t *body = checkin_body(ag);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return -1;
    size_t n = strlen(ag->conf.server) + 16;
    char *url = malloc(n);
    if (!url) {
        free(text);
        return -1;
    }
    snprintf(url, n, "%s/v1/checkin", ag->conf.server);
    rf_buf resp;
    rf_buf_init(&resp);
    rf_err e;
    long status = 0;
    rf_rc rc = agent_http_json(url, ag->ca_path, ag->conf.token, text, REQUEST_TIMEOUT_MS,
                               &status, &resp, &e);
    free(url);
    free(text);
    int ok = -1;
    json_t *o = NULL;
    if (rc != RF_OK) {
        snprintf(ag->last_error, sizeof(ag->last_error), "check-in: %s", e.msg);
        goto out;
    }
    o = json_loadb((const char *)resp.data, resp.len, 0, NULL);
    if (status != 200) {
        json_t *m = json_object_get(o, "error");
        snprintf(ag->last_error, sizeof(ag->last_error), "check-in: HTTP %ld%s%s", status,
                 json_is_string(m) ? ": " : "", json_is_string(m) ? json_string_value(m) : "");
        goto out;
    }
    json_t *as = json_object_get(o, "assignments");
    json_t *nx = json_object_get(o, "next_checkin_s");
    if (!json_is_object(o) || !json_is_array(as)) {
        snprintf(ag->last_error, sizeof(ag->last_error),
                 "check-in: the answer is not a check-in answer (%zu bytes)", resp.len);
        goto out;
    }
    if (json_is_integer(nx) && json_integer_value(nx) >= 1 && json_integer_value(nx) <= 86400)
        *next_s = (uint64_t)json_integer_value(nx);
    ag->last_checkin_ok = time(NULL);
    ag->last_error[0] = '\0';
    ok = 0;
    int refreshed = 0;
    size_t i;
    json_t *a;
    json_array_foreach(as, i, a)
    {
        json_t *c = json_object_get(a, "channel");
        json_t *v = json_object_get(a, "content_version");
        json_t *t = json_object_get(a, "target");
        json_t *k = json_object_get(a, "kind");
        if (!json_is_integer(c) || json_integer_value(c) < 1 || json_integer_value(c) > 65535 ||
            !json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > UINT32_MAX || !json_is_string(k) ||
            !(json_is_string(t) || json_is_null(t))) {
            alog("check-in: assignment %zu is malformed; ignored", i);
            continue;
        }
        if (g_stop)
            break;
        take_assignment(ag, (uint16_t)json_integer_value(c), (uint32_t)json_integer_value(v),
                        json_is_string(t) ? json_string_value(t) : NULL, json_string_value(k),
                        &refreshed);
    }
out:
    json_decref(o);
    rf_buf_free(&resp);
    return ok;
}

/* ---- the command ------------------------------------------------------------------ */

static int load_manifest(agent *ag)
{
    rf_err e;
    char *path = agent_path(ag->o->state, AGENT_MANIFEST_FILE);
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_rc rc = path ? rf_file_read(path, 1u << 20, &buf, &len, &e) : RF_E_NOMEM;
    if (rc == RF_OK)
        rc = rf_workspace_new(&ag->ws);
    if (rc == RF_OK)
        rc = rf_workspace_add_yaml(ag->ws, path, (const char *)buf, len, &e);
    free(buf);
    free(path);
    if (rc != RF_OK) {
        alog_err("cannot load the sensor manifest", &e);
        return -1;
    }
    ag->manifest = rf_workspace_find_sensor(ag->ws, ag->conf.sensor_version);
    if (!ag->manifest) {
        alog("the sensor manifest does not describe sensor %s", ag->conf.sensor_version);
        return -1;
    }
    return 0;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec d = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

int agent_run(const agent_run_opts *o)
{
    static agent ag_storage; /* large (the guard state): not on the stack */
    agent *ag = &ag_storage;
    memset(ag, 0, sizeof(*ag));
    ag->o = o;
    ag->started_ns = rf_now_ns();
    ag->started_at = time(NULL);
    rf_rng_seed(&ag->rng, o->seed ^ (uint64_t)getpid() ^ ag->started_ns);
    pthread_mutex_init(&ag->mu, NULL);
    pthread_cond_init(&ag->cv, NULL);
    int code = AGENT_EXIT_FAIL;
    pthread_t th;
    int th_started = 0;
    int lock_fd = -1;

    rf_err e;
    if (agent_conf_load(o->state, &ag->conf, &e) != RF_OK) {
        char buf[RF_ERR_MSG_MAX + RF_ERR_FILE_MAX + 16];
        rf_err_format(&e, buf, sizeof(buf));
        fprintf(stderr, AGENT_PROG ": %s is not an enrolled agent's state directory: %s\n",
                o->state, buf);
        code = AGENT_EXIT_NOSTATE;
        goto out;
    }
    g_host_id = ag->conf.host_id;
    /* One agent per state directory: a second one would count starts and
     * write guard.json and the slots under the first. The lock lives as
     * long as the process (a crash releases it). */
    char *lock_path = agent_path(o->state, "run.lock");
    lock_fd = lock_path ? open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
    free(lock_path);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        json_t *run = NULL;
        char *rp = agent_path(o->state, AGENT_RUN_FILE);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (rp && rf_file_read(rp, 1u << 20, &buf, &len, NULL) == RF_OK)
            run = json_loadb((const char *)buf, len, 0, NULL);
        fprintf(stderr, AGENT_PROG ": %s is in use by another agent (pid %lld); not starting\n",
                o->state, (long long)json_integer_value(json_object_get(run, "pid")));
        json_decref(run);
        free(buf);
        free(rp);
        goto out;
    }
    if (ag->conf.has_ca) {
        ag->ca_path = agent_path(o->state, AGENT_CA_FILE);
        ag->http.ca_file = ag->ca_path;
    }
    ag->starts = previous_starts(o->state) + 1;
    if (load_manifest(ag))
        goto out;
    if (rf_agent_health_new(&ag->health) != RF_OK)
        goto out;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    alog("start %" PRIu64 ": sensor %s, state %s, server %s", ag->starts,
         ag->conf.sensor_version, o->state, ag->conf.server);
    /* Counted before content is loaded, so crashes at start count too. */
    write_run_json(ag);
    if (boot_guard(ag))
        goto out;

    if (rf_agent_source_open(o->events, o->seed ^ (uint64_t)ag->conf.host_id, &ag->src, &e) !=
        RF_OK) {
        alog_err("events", &e);
        code = AGENT_EXIT_USAGE;
        goto out;
    }
    ag->det_path = o->detections ? strdup(o->detections)
                                 : agent_path(o->state, AGENT_DETECTIONS_FILE);
    ag->det = ag->det_path ? fopen(ag->det_path, "a") : NULL;
    if (!ag->det)
        alog("cannot open the detections log %s: %s; detections are still counted",
             ag->det_path ? ag->det_path : "?", strerror(errno));
    /* The event thread blocks SIGTERM/SIGINT (it inherits this mask), so
     * they interrupt the main thread's sleep. */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    int perr = pthread_create(&th, NULL, event_thread, ag);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (perr != 0) {
        alog("cannot start the event thread");
        goto out;
    }
    th_started = 1;

    uint64_t interval_s = (uint64_t)ag->conf.checkin_interval_s;
    uint32_t failures = 0;
    uint64_t next_at = rf_now_ns(); /* check in at once */
    while (!g_stop) {
        uint64_t now = rf_now_ns();
        if (confirm_due(ag))
            next_at = now; /* the confirmation check-in */
        if (now >= next_at) {
            if (checkin(ag, &interval_s) == 0) {
                failures = 0;
                /* A little jitter keeps a fleet from checking in in lockstep. */
                uint64_t ms = interval_s * 1000u;
                next_at = rf_now_ns() + (ms - ms / 10 +
                                         (uint64_t)(rf_rng_unit(&ag->rng) * (double)(ms / 5))) *
                                            1000000ull;
            } else {
                failures++;
                uint64_t ms = agent_backoff_ms(failures, interval_s * 1000u,
                                               o->max_backoff_s * 1000u, &ag->rng);
                alog("%s; next check-in in %.1f s (failure %u), content keeps running",
                     ag->last_error, (double)ms / 1000.0, failures);
                next_at = rf_now_ns() + ms * 1000000ull;
            }
            write_run_json(ag);
        }
        /* Sleep to the next thing to do; SIGTERM/SIGINT cut it short (the
         * event thread blocks them, so they land here). A trial whose
         * event loop has not moved yet is looked at again soon. */
        uint64_t wake = next_at, due = next_confirm_ns(ag);
        if (due < wake)
            wake = due;
        now = rf_now_ns();
        uint64_t ms = wake > now ? (wake - now) / 1000000u + 1 : 0;
        sleep_ms(ms > 1000 ? 1000 : ms < 20 ? 20 : ms);
    }
    alog("stopping (signal)");
    code = AGENT_EXIT_OK;
out:
    g_stop = 1;
    pthread_mutex_lock(&ag->mu);
    pthread_cond_broadcast(&ag->cv);
    pthread_mutex_unlock(&ag->mu);
    if (th_started)
        pthread_join(th, NULL);
    if (ag->health)
        write_run_json(ag);
    for (uint32_t i = 0; i < ag->nrt; i++)
        runtime_free(ag->rt[i]);
    /* A clean stop: the start it ends is taken back from each trial's
     * count (a restarted service or a host shut down is not a crash). */
    if (code == AGENT_EXIT_OK && rf_agent_guard_on_clean_stop(&ag->st) > 0 &&
        save_guard(ag) == 0) /* if the save fails, this start counts: the safe side */
        alog("clean stop: this start does not count against the trial");
    if (ag->det)
        fclose(ag->det);
    free(ag->det_path);
    rf_agent_source_close(ag->src);
    rf_tuf_client_free(ag->tuf);
    rf_agent_health_free(ag->health);
    rf_workspace_free(ag->ws);
    free(ag->ca_path);
    agent_conf_free(&ag->conf);
    pthread_mutex_destroy(&ag->mu);
    pthread_cond_destroy(&ag->cv);
    if (lock_fd >= 0)
        close(lock_fd);
    return code;
}
