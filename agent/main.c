/*
 * main.c — the ringfence-agent command: enroll | run | status, their options
 * and exit codes (agent.h, docs/man/ringfence-agent.8).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "agent.h"
#include "ringfence/schema.h"
#include "ringfence/tuf.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " AGENT_PROG " enroll --server URL --token TOKEN --state-dir DIR\n"
            "                       --sensor-version V --sensor-manifest FILE --root ROOT.json\n"
            "                       [--ca PEM] [--tuf-url URL] [--hostname NAME] [--group NAME]\n"
            "       " AGENT_PROG " run --state-dir DIR [--events SPEC] [--confirm-after SECS]\n"
            "                       [--max-starts N] [--max-backoff SECS] [--detections FILE]\n"
            "                       [--seed N] [--fault crash-on-content=CHANNEL:VERSION]\n"
            "       " AGENT_PROG " status --state-dir DIR [--json]\n"
            "       " AGENT_PROG " --help | --version\n"
            "\n"
            "The ringfence endpoint agent: takes security content from the control plane\n"
            "(ringfenced) only through TUF, runs it next to the sensor, and can never leave\n"
            "its host unusable: new content runs on trial in the inactive A/B slot, and a\n"
            "trial that does not survive N starts is reverted to the last-known-good by\n"
            "the agent itself, with no network, and reported.\n"
            "\n"
            "enroll   register with a tenant's enrollment token and trust ROOT.json\n"
            "run      check in, update, evaluate events (until SIGTERM/SIGINT)\n"
            "status   slots, trial, last-known-good and bad versions per channel\n"
            "\n"
            "Events (--events): synthetic:RATE (default synthetic:100), replay:FILE.jsonl,\n"
            "stdin, none. Each command has --help.\n"
            "\n"
            "Exit codes: 0 done, 1 refused by the server / unreachable / unusable state,\n"
            "2 usage, 3 the state directory is not an enrolled agent's.\n"
            "\n"
            "See ringfence-agent(8).\n");
}

static int bad_usage(const char *fmt, ...) RF_PRINTF(1, 2);
static int bad_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, AGENT_PROG ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(" AGENT_PROG " --help for usage)\n");
    va_end(ap);
    return AGENT_EXIT_USAGE;
}

/* ---- enroll ------------------------------------------------------------------ */

static const char *const ENROLL_HELP =
    "usage: " AGENT_PROG " enroll --server URL --token TOKEN --state-dir DIR\n"
    "           --sensor-version V --sensor-manifest FILE --root ROOT.json\n"
    "           [--ca PEM] [--tuf-url URL] [--hostname NAME] [--group NAME]\n"
    "\n"
    "Registers this host with ringfenced (POST /v1/enroll) and prepares DIR:\n"
    "  --server URL           the control plane, http://HOST:PORT or https://...\n"
    "  --token TOKEN          the tenant's enrollment token\n"
    "  --state-dir DIR        created (0700) if missing; must not be enrolled yet\n"
    "  --sensor-version V     this host's sensor build\n"
    "  --sensor-manifest FILE the sensor's SensorManifest (YAML) describing V: what\n"
    "                         inputs it supplies; content is built for it\n"
    "  --root ROOT.json       the TUF root to trust (shipped with the agent, out of\n"
    "                         band); content not backed by it is refused\n"
    "  --ca PEM               CA bundle the server's TLS certificate must chain to\n"
    "                         (copied into DIR); default: the system's\n"
    "  --tuf-url URL          where the TUF repository is (a mirror or CDN);\n"
    "                         default: SERVER/tuf\n"
    "  --hostname NAME        default: this machine's host name\n"
    "  --group NAME           the tenant's group for this host (policies by group)\n"
    "Exit: 0 enrolled, 1 refused or unreachable, 2 usage, 3 DIR is unusable.\n";

static int copy_file(const char *from, const char *to, size_t max, rf_err *e)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_rc rc = rf_file_read(from, max, &buf, &len, e);
    if (rc == RF_OK)
        rc = rf_file_write_atomic(to, buf, len, 0600, e);
    free(buf);
    return rc == RF_OK ? 0 : -1;
}

static int print_err(const char *what, const rf_err *e, int code)
{
    char buf[RF_ERR_MSG_MAX + RF_ERR_FILE_MAX + 16];
    rf_err_format(e, buf, sizeof(buf));
    fprintf(stderr, AGENT_PROG ": %s: %s\n", what, buf);
    return code;
}

static char *strip_slash(const char *s)
{
    char *d = strdup(s);
    size_t n = d ? strlen(d) : 0;
    while (n && d[n - 1] == '/')
        d[--n] = '\0';
    return d;
}

static int url_ok(const char *u)
{
    return (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) && strlen(u) < 1024;
}

static int cmd_enroll(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, 0, 's'},  {"token", required_argument, 0, 't'},
        {"state-dir", required_argument, 0, 'd'}, {"sensor-version", required_argument, 0, 'v'},
        {"sensor-manifest", required_argument, 0, 'm'}, {"root", required_argument, 0, 'r'},
        {"ca", required_argument, 0, 'c'},      {"tuf-url", required_argument, 0, 'u'},
        {"hostname", required_argument, 0, 'n'}, {"group", required_argument, 0, 'g'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *server = NULL, *token = NULL, *state = NULL, *sv = NULL, *mf = NULL,
               *root = NULL, *ca = NULL, *tuf = NULL, *host = NULL, *group = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's': server = optarg; break;
        case 't': token = optarg; break;
        case 'd': state = optarg; break;
        case 'v': sv = optarg; break;
        case 'm': mf = optarg; break;
        case 'r': root = optarg; break;
        case 'c': ca = optarg; break;
        case 'u': tuf = optarg; break;
        case 'n': host = optarg; break;
        case 'g': group = optarg; break;
        case 'h': fputs(ENROLL_HELP, stdout); return AGENT_EXIT_OK;
        default: fputs(ENROLL_HELP, stderr); return AGENT_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return bad_usage("enroll: unexpected argument '%s'", argv[optind]);
    if (!server || !token || !state || !sv || !mf || !root) {
        fputs(ENROLL_HELP, stderr);
        return bad_usage("enroll: %s", "--server, --token, --state-dir, --sensor-version, "
                                       "--sensor-manifest and --root are required");
    }
    if (!url_ok(server))
        return bad_usage("enroll: --server must be an http:// or https:// URL, got '%s'", server);
    if (tuf && !url_ok(tuf))
        return bad_usage("enroll: --tuf-url must be an http:// or https:// URL, got '%s'", tuf);
    if (strlen(token) > 512)
        return bad_usage("enroll: %s", "--token is longer than 512 bytes");
    char hn[256];
    if (!host) {
        if (gethostname(hn, sizeof(hn)) != 0)
            snprintf(hn, sizeof(hn), "host");
        hn[sizeof(hn) - 1] = '\0';
        host = hn;
    }

    rf_err e;
    /* The manifest must describe this very sensor: it is what content is
     * built against on this host. */
    rf_workspace *ws = NULL;
    uint8_t *mbuf = NULL;
    size_t mlen = 0;
    if (rf_file_read(mf, 1u << 20, &mbuf, &mlen, &e) != RF_OK)
        return print_err("--sensor-manifest", &e, AGENT_EXIT_USAGE);
    rf_rc rc = rf_workspace_new(&ws);
    if (rc == RF_OK)
        rc = rf_workspace_add_yaml(ws, mf, (const char *)mbuf, mlen, &e);
    free(mbuf);
    if (rc != RF_OK) {
        rf_workspace_free(ws);
        return print_err("--sensor-manifest", &e, AGENT_EXIT_USAGE);
    }
    int found = rf_workspace_find_sensor(ws, sv) != NULL;
    rf_workspace_free(ws);
    if (!found)
        return bad_usage("enroll: --sensor-manifest does not describe sensor %s", sv);

    if (mkdir(state, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, AGENT_PROG ": cannot create %s: %s\n", state, strerror(errno));
        return AGENT_EXIT_NOSTATE;
    }
    char *conf_path = agent_path(state, AGENT_CONF_FILE);
    char *tuf_dir = agent_path(state, AGENT_TUF_DIR);
    char *man_path = agent_path(state, AGENT_MANIFEST_FILE);
    char *ca_path = agent_path(state, AGENT_CA_FILE);
    agent_conf conf;
    memset(&conf, 0, sizeof(conf));
    int code = AGENT_EXIT_FAIL;
    rf_buf resp;
    rf_buf_init(&resp);
    json_t *ans = NULL;
    char *body = NULL, *url = NULL;
    if (!conf_path || !tuf_dir || !man_path || !ca_path)
        goto out;
    if (access(conf_path, F_OK) == 0) {
        fprintf(stderr,
                AGENT_PROG ": %s is already enrolled (%s exists); use another directory, or "
                           "remove it to enroll this host again\n",
                state, conf_path);
        goto out;
    }
    /* Everything local first, so that a bad root or CA never costs a host
     * enrollment on the server. */
    if (rf_tuf_client_init(tuf_dir, root, &e) != RF_OK) {
        code = print_err("--root", &e, AGENT_EXIT_USAGE);
        goto out;
    }
    if (ca && copy_file(ca, ca_path, 1u << 20, &e)) {
        code = print_err("--ca", &e, AGENT_EXIT_USAGE);
        goto out;
    }
    if (copy_file(mf, man_path, 1u << 20, &e)) {
        code = print_err("cannot keep the sensor manifest", &e, AGENT_EXIT_NOSTATE);
        goto out;
    }

    json_t *req = json_pack("{s:s,s:s}", "hostname", host, "sensor_version", sv);
    if (req && group)
        json_object_set_new(req, "group", json_string(group));
    body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    conf.server = strip_slash(server);
    size_t url_len = conf.server ? strlen(conf.server) + 16 : 0;
    url = conf.server ? malloc(url_len) : NULL;
    if (!body || !url)
        goto out;
    snprintf(url, url_len, "%s/v1/enroll", conf.server);
    long status = 0;
    if (agent_http_json(url, ca ? ca_path : NULL, token, body, 15000, &status, &resp, &e) !=
        RF_OK) {
        print_err("enroll", &e, 0);
        goto out;
    }
    ans = json_loadb((const char *)resp.data, resp.len, 0, NULL);
    if (status != 201) {
        json_t *m = json_object_get(ans, "error");
        fprintf(stderr, AGENT_PROG ": enroll refused: HTTP %ld%s%s\n", status,
                json_is_string(m) ? ": " : "", json_is_string(m) ? json_string_value(m) : "");
        goto out;
    }
    json_t *id = json_object_get(ans, "host_id"), *tk = json_object_get(ans, "token"),
           *tn = json_object_get(ans, "tenant"), *gr = json_object_get(ans, "group"),
           *iv = json_object_get(ans, "checkin_interval_s");
    if (!json_is_integer(id) || json_integer_value(id) < 1 || !json_is_string(tk) ||
        !json_is_string(tn) || !json_is_string(gr) || !json_is_integer(iv) ||
        json_integer_value(iv) < 1 || json_integer_value(iv) > 86400) {
        fprintf(stderr, AGENT_PROG ": enroll: the server's answer is not an enrollment\n");
        goto out;
    }
    conf.host_id = json_integer_value(id);
    conf.token = strdup(json_string_value(tk));
    conf.tenant = strdup(json_string_value(tn));
    conf.group = strdup(json_string_value(gr));
    conf.hostname = strdup(host);
    conf.sensor_version = strdup(sv);
    conf.checkin_interval_s = json_integer_value(iv);
    conf.enrolled_at = time(NULL);
    conf.has_ca = ca != NULL;
    if (tuf) {
        conf.tuf_url = strip_slash(tuf);
    } else if (conf.server && (conf.tuf_url = malloc(strlen(conf.server) + 8))) {
        snprintf(conf.tuf_url, strlen(conf.server) + 8, "%s/tuf", conf.server);
    }
    if (!conf.token || !conf.tenant || !conf.group || !conf.hostname || !conf.sensor_version ||
        !conf.tuf_url)
        goto out;
    /* agent.json last: its presence is what "enrolled" means. */
    if (agent_conf_save(state, &conf, &e) != RF_OK) {
        code = print_err("cannot write agent.json", &e, AGENT_EXIT_NOSTATE);
        goto out;
    }
    printf("enrolled as host %" PRId64 " of tenant %s (group %s), sensor %s; state in %s\n",
           conf.host_id, conf.tenant, conf.group, sv, state);
    code = AGENT_EXIT_OK;
out:
    json_decref(ans);
    rf_buf_free(&resp);
    free(body);
    free(url);
    agent_conf_free(&conf);
    free(conf_path);
    free(tuf_dir);
    free(man_path);
    free(ca_path);
    return code;
}

/* ---- run ------------------------------------------------------------------------ */

static const char *const RUN_HELP =
    "usage: " AGENT_PROG " run --state-dir DIR [options]\n"
    "\n"
    "Runs until SIGTERM or SIGINT (exit 0). At start, before any network, the boot\n"
    "guard counts the start against content on trial and reverts a trial that did\n"
    "not survive --max-starts starts. Then it checks in every interval the server\n"
    "gives, takes assigned content through TUF, and evaluates events.\n"
    "  --state-dir DIR        an enrolled agent's state directory\n"
    "  --events SPEC          synthetic:RATE (events/s; default synthetic:100),\n"
    "                         replay:FILE.jsonl, stdin, or none\n"
    "  --confirm-after SECS   a trial evaluating events this long is confirmed\n"
    "                         healthy and becomes the last-known-good (default 60)\n"
    "  --max-starts N         starts of an unconfirmed trial before the revert\n"
    "                         (default 3, at most 100)\n"
    "  --max-backoff SECS     longest wait between failed check-ins (default 300)\n"
    "  --detections FILE      JSON-lines detections log (default DIR/detections.jsonl)\n"
    "  --seed N               seed of synthetic events (default 1)\n"
    "  --fault crash-on-content=CHANNEL:VERSION\n"
    "                         FOR TESTS AND DEMOS ONLY: abort() as soon as that\n"
    "                         content is active, standing in for a sensor bug\n"
    "Exit: 0 stopped by a signal, 1 unusable state, 2 usage, 3 not enrolled.\n";

static int parse_u(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    return rf_parse_u64(s, hi, out) == RF_OK && *out >= lo ? 0 : -1;
}

static int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, 0, 'd'},   {"events", required_argument, 0, 'e'},
        {"confirm-after", required_argument, 0, 'c'}, {"max-starts", required_argument, 0, 'n'},
        {"max-backoff", required_argument, 0, 'b'}, {"detections", required_argument, 0, 'o'},
        {"seed", required_argument, 0, 's'},        {"fault", required_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    agent_run_opts o;
    memset(&o, 0, sizeof(o));
    o.events = "synthetic:100";
    o.confirm_after_s = 60;
    o.max_starts = RF_AGENT_DEFAULT_MAX_STARTS;
    o.max_backoff_s = 300;
    o.seed = 1;
    uint64_t v;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.state = optarg; break;
        case 'e': o.events = optarg; break;
        case 'o': o.detections = optarg; break;
        case 'c':
            if (parse_u(optarg, 1, 86400, &v))
                return bad_usage("run: --confirm-after must be 1..86400 seconds, got '%s'",
                                 optarg);
            o.confirm_after_s = (uint32_t)v;
            break;
        case 'n':
            if (parse_u(optarg, 1, RF_AGENT_MAX_STARTS_LIMIT, &v))
                return bad_usage("run: --max-starts must be 1..100, got '%s'", optarg);
            o.max_starts = (uint32_t)v;
            break;
        case 'b':
            if (parse_u(optarg, 1, 86400, &v))
                return bad_usage("run: --max-backoff must be 1..86400 seconds, got '%s'",
                                 optarg);
            o.max_backoff_s = v;
            break;
        case 's':
            if (parse_u(optarg, 0, UINT64_MAX, &v))
                return bad_usage("run: --seed must be a non-negative integer, got '%s'", optarg);
            o.seed = v;
            break;
        case 'f': {
            const char *p = "crash-on-content=";
            char chs[16];
            const char *colon = strchr(optarg, ':');
            uint64_t chv = 0, ver = 0;
            size_t pl = strlen(p);
            if (strncmp(optarg, p, pl) != 0 || !colon || (size_t)(colon - optarg - pl) >= sizeof(chs))
                return bad_usage("run: --fault must be crash-on-content=CHANNEL:VERSION, got '%s'",
                                 optarg);
            memcpy(chs, optarg + pl, (size_t)(colon - optarg) - pl);
            chs[colon - optarg - pl] = '\0';
            if (parse_u(chs, 1, 65535, &chv) || parse_u(colon + 1, 1, UINT32_MAX, &ver))
                return bad_usage("run: --fault crash-on-content needs CHANNEL 1..65535 and "
                                 "VERSION >= 1, got '%s'",
                                 optarg);
            o.fault_on = 1;
            o.fault_channel = (uint16_t)chv;
            o.fault_version = (uint32_t)ver;
            break;
        }
        case 'h': fputs(RUN_HELP, stdout); return AGENT_EXIT_OK;
        default: fputs(RUN_HELP, stderr); return AGENT_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return bad_usage("run: unexpected argument '%s'", argv[optind]);
    if (!o.state) {
        fputs(RUN_HELP, stderr);
        return bad_usage("run: %s", "--state-dir is required");
    }
    /* A bad --events spec is a usage error before anything starts. */
    rf_agent_source *probe = NULL;
    rf_err e;
    if (strncmp(o.events, "replay:", 7) != 0 && strcmp(o.events, "stdin") != 0) {
        if (rf_agent_source_open(o.events, 0, &probe, &e) != RF_OK)
            return bad_usage("run: %s", e.msg);
        rf_agent_source_close(probe);
    }
    return agent_run(&o);
}

/* ---- status ---------------------------------------------------------------------- */

static const char *const STATUS_HELP =
    "usage: " AGENT_PROG " status --state-dir DIR [--json]\n"
    "\n"
    "Prints what the boot guard knows (per channel: the active slot and version,\n"
    "the trial and its starts, the last-known-good, the highest trusted version,\n"
    "bad versions) and, from DIR/run.json, what the running agent last reported.\n"
    "Reads only; changes nothing in DIR.\n"
    "Exit: 0, 1 guard.json unusable, 2 usage, 3 not enrolled.\n";

/* Load guard.json without touching DIR: rf_agent_state_load moves an
 * unusable file aside, which is the running agent's job, not status's. So
 * load a copy in a scratch directory. */
static int load_guard_copy(const char *state, rf_agent_state *st, rf_err *e)
{
    char *src = agent_path(state, "guard.json");
    char tmpl[] = "/tmp/ringfence-agent-status.XXXXXX";
    char *dir = mkdtemp(tmpl);
    int rc = -1;
    if (!src || !dir) {
        free(src);
        return rf_err_set(e, RF_E_IO, NULL, 0, 0, "cannot make a scratch directory"), -1;
    }
    char *dst = agent_path(dir, "guard.json");
    if (access(src, F_OK) != 0) {
        rf_agent_state_init(st);
        rc = 0;
    } else if (dst && copy_file(src, dst, RF_AGENT_MAX_STATE_BYTES + 1, e) == 0 &&
               rf_agent_state_load(dir, st, e) == RF_OK) {
        rc = 0;
    } else if (e->rc == RF_E_LIMIT) {
        rf_agent_state_init(st);
        st->quarantined = 1;
        snprintf(st->quarantine_msg, sizeof(st->quarantine_msg), "guard.json is too large");
        rc = 0;
    }
    /* Remove the copy and whatever load moved aside. */
    char *q = agent_path(dir, "quarantine");
    DIR *d = q ? opendir(q) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *f = agent_path(q, de->d_name);
        if (f)
            unlink(f);
        free(f);
    }
    if (d)
        closedir(d);
    if (q)
        rmdir(q);
    if (dst)
        unlink(dst);
    rmdir(dir);
    free(q);
    free(dst);
    free(src);
    return rc;
}

static json_t *read_run_json(const char *state)
{
    char *p = agent_path(state, AGENT_RUN_FILE);
    uint8_t *buf = NULL;
    size_t len = 0;
    json_t *o = NULL;
    if (p && rf_file_read(p, 1u << 20, &buf, &len, NULL) == RF_OK)
        o = json_loadb((const char *)buf, len, 0, NULL);
    free(buf);
    free(p);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static json_t *bad_list(const rf_agent_chan *c)
{
    json_t *a = json_array();
    for (uint32_t k = 0; k < c->nbad; k++)
        json_array_append_new(a, json_integer(c->bad[k]));
    return a;
}

static int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {{"state-dir", required_argument, 0, 'd'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *state = NULL;
    int as_json = 0, c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': state = optarg; break;
        case 'j': as_json = 1; break;
        case 'h': fputs(STATUS_HELP, stdout); return AGENT_EXIT_OK;
        default: fputs(STATUS_HELP, stderr); return AGENT_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return bad_usage("status: unexpected argument '%s'", argv[optind]);
    if (!state) {
        fputs(STATUS_HELP, stderr);
        return bad_usage("status: %s", "--state-dir is required");
    }
    agent_conf conf;
    rf_err e;
    if (agent_conf_load(state, &conf, &e) != RF_OK)
        return print_err("not an enrolled agent's state directory", &e, AGENT_EXIT_NOSTATE);
    static rf_agent_state st;
    if (load_guard_copy(state, &st, &e)) {
        agent_conf_free(&conf);
        return print_err("cannot read guard.json", &e, AGENT_EXIT_FAIL);
    }
    json_t *run = read_run_json(state);
    json_int_t pid = json_integer_value(json_object_get(run, "pid"));
    int running = pid > 0 && kill((pid_t)pid, 0) == 0;
    int code = st.quarantined ? AGENT_EXIT_FAIL : AGENT_EXIT_OK;

    if (as_json) {
        json_t *chs = json_array();
        for (uint32_t i = 0; i < st.nchannels; i++) {
            const rf_agent_chan *ch = &st.ch[i];
            char a[2] = {ch->active, 0}, l[2] = {ch->lkg, 0};
            json_t *o = json_pack("{s:i,s:s?,s:I,s:s?,s:I,s:I,s:o}", "channel", ch->channel,
                                  "active_slot", ch->active ? a : NULL, "active_version",
                                  (json_int_t)ch->active_version, "lkg_slot",
                                  ch->lkg ? l : NULL, "lkg_version",
                                  (json_int_t)ch->lkg_version, "highest_trusted",
                                  (json_int_t)ch->highest_trusted, "bad", bad_list(ch));
            if (o && ch->has_trial) {
                char t[2] = {ch->trial.slot, 0};
                json_object_set_new(o, "trial",
                                    json_pack("{s:s,s:I,s:I}", "slot", t, "version",
                                              (json_int_t)ch->trial.version, "starts",
                                              (json_int_t)ch->trial.starts));
            }
            json_array_append_new(chs, o);
        }
        json_t *out = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:b,s:o,s:o*}", "host_id",
                                (json_int_t)conf.host_id, "tenant", conf.tenant, "group",
                                conf.group, "hostname", conf.hostname, "sensor_version",
                                conf.sensor_version, "server", conf.server, "running",
                                running, "channels", chs, "last_run", run);
        run = NULL; /* owned by out now */
        if (out && st.quarantined)
            json_object_set_new(out, "guard_unusable", json_string(st.quarantine_msg));
        char *text = out ? json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        if (text)
            puts(text);
        free(text);
        json_decref(out);
    } else {
        printf("host %" PRId64 " (%s), tenant %s, group %s, sensor %s\n", conf.host_id,
               conf.hostname, conf.tenant, conf.group, conf.sensor_version);
        printf("server %s, TUF %s%s\n", conf.server, conf.tuf_url,
               conf.has_ca ? ", TLS CA pinned" : "");
        if (run) {
            json_int_t last = json_integer_value(json_object_get(run, "last_checkin_ok"));
            const char *err = json_string_value(json_object_get(run, "last_error"));
            printf("agent %s (pid %lld, start %lld); last check-in %s%lld s ago; events %lld, "
                   "detections %lld\n",
                   running ? "running" : "not running", (long long)pid,
                   (long long)json_integer_value(json_object_get(run, "starts")),
                   last ? "" : "never, ", last ? (long long)(time(NULL) - last) : 0LL,
                   (long long)json_integer_value(json_object_get(run, "events")),
                   (long long)json_integer_value(json_object_get(run, "detections")));
            if (err && err[0])
                printf("last error: %s\n", err);
        } else {
            printf("agent has not run yet\n");
        }
        if (st.quarantined)
            printf("guard.json is unusable (%s); the agent moves it aside at its next start\n",
                   st.quarantine_msg);
        if (st.nchannels == 0)
            printf("no content yet\n");
        for (uint32_t i = 0; i < st.nchannels; i++) {
            const rf_agent_chan *ch = &st.ch[i];
            printf("channel %u\n", ch->channel);
            if (ch->active)
                printf("  active           slot %c, version %u%s\n", ch->active,
                       ch->active_version, ch->has_trial ? " (on trial)" : "");
            else
                printf("  active           none\n");
            if (ch->has_trial)
                printf("  trial            slot %c, version %u, %u start(s) so far\n",
                       ch->trial.slot, ch->trial.version, ch->trial.starts);
            if (ch->lkg)
                printf("  last-known-good  slot %c, version %u\n", ch->lkg, ch->lkg_version);
            else
                printf("  last-known-good  none\n");
            printf("  highest trusted  %u\n", ch->highest_trusted);
            printf("  bad              ");
            if (!ch->nbad)
                printf("none");
            for (uint32_t k = 0; k < ch->nbad; k++)
                printf("%s%u", k ? ", " : "", ch->bad[k]);
            printf("\n");
        }
    }
    json_decref(run);
    agent_conf_free(&conf);
    return code;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return AGENT_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return AGENT_EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf(AGENT_PROG " %s\n", RF_VERSION_STRING);
        return AGENT_EXIT_OK;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, AGENT_PROG ": libcurl did not initialise\n");
        return AGENT_EXIT_FAIL;
    }
    int code;
    if (!strcmp(cmd, "enroll"))
        code = cmd_enroll(argc - 1, argv + 1);
    else if (!strcmp(cmd, "run"))
        code = cmd_run(argc - 1, argv + 1);
    else if (!strcmp(cmd, "status"))
        code = cmd_status(argc - 1, argv + 1);
    else
        code = bad_usage("unknown command '%s'", cmd);
    curl_global_cleanup();
    return code;
}
