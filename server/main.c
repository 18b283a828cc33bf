/*
 * main.c — ringfenced, the control plane: `init` creates the database and
 * the first admin token; `serve` answers the HTTP API (http.c) and runs the
 * ticker that drives the rollout engine (rollouts.c) until SIGTERM or
 * SIGINT. Exit codes: 0 success, 1 the database or repository refused
 * (already initialised, newer schema, a key that does not load), 2 usage or
 * I/O error. See docs/operating.md and docs/man/ringfenced.8.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

static const char usage_text[] =
    "usage: ringfenced init --db DB [--admin-name NAME]\n"
    "       ringfenced serve --db DB --listen HOST:PORT [options]\n"
    "       ringfenced validate-job DIR   (run by serve for each release upload)\n"
    "\n"
    "The ringfence control plane. DB is a SQLite file path (or sqlite:PATH), or\n"
    "postgresql://USER@HOST:PORT/DATABASE for PostgreSQL.\n"
    "\n"
    "init   create the schema and print one admin token (shown once)\n"
    "serve  answer the HTTP API and run the rollout engine\n"
    "\n"
    "serve options:\n"
    "  --listen HOST:PORT       address to listen on (plain HTTP only on loopback\n"
    "                           unless --insecure-listen)\n"
    "  --tls-cert FILE --tls-key FILE   serve HTTPS (PEM)\n"
    "  --insecure-listen        allow plain HTTP on a non-loopback address\n"
    "  --repo DIR               the TUF repository (made with `ringfence repo init`)\n"
    "  --public DIR             where it is published and served at /tuf/ (DIR/public)\n"
    "  --targets-key FILE       sign targets online (else approvals wait for an\n"
    "                           offline `ringfence repo sign`)\n"
    "  --snapshot-key FILE --timestamp-key FILE   the online TUF keys\n"
    "  --plan FILE              the rollout plan (default: the built-in plan)\n"
    "  --checkin-interval SECS  what agents are told (default: the plan's\n"
    "                           checkin_interval; never more)\n"
    "  --threads N              HTTP worker threads (default: the number of cores)\n"
    "  --tick-ms N              ticker period in milliseconds (default 250)\n"
    "  --max-body BYTES         request body limit (default 1048576)\n"
    "  --max-release-body BYTES release upload limit (default 100663296)\n"
    "  --quiet                  log only errors\n"
    "\n"
    "Exit codes: 0 success, 1 refused by the database or repository, 2 usage or I/O\n"
    "error. See docs/operating.md.\n";

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int usage_error(const char *what)
{
    fprintf(stderr, "ringfenced: %s\n(ringfenced --help for usage)\n", what);
    return 2;
}

static int fail_err(const rf_err *err)
{
    char buf[RF_ERR_MSG_MAX + RF_ERR_FILE_MAX + 32];
    rf_err_format(err, buf, sizeof(buf));
    fprintf(stderr, "ringfenced: %s\n", buf);
    switch (err->rc) {
    case RF_E_USAGE:
    case RF_E_IO:
    case RF_E_NOMEM:
        return 2;
    default:
        return 1;
    }
}

static int cmd_init(int argc, char **argv)
{
    const char *db = NULL, *name = "admin";
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"admin-name", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'n': name = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return usage_error("init: unknown option");
        }
    }
    if (optind < argc)
        return usage_error("init: unexpected argument");
    if (!db)
        return usage_error("init needs --db DB");
    rf_err err;
    rf_err_clear(&err);
    rf_store *st = NULL;
    if (rf_store_open(db, 1, 0, &st, &err) != RF_OK)
        return fail_err(&err);
    rfd_server s;
    memset(&s, 0, sizeof(s));
    s.store = st;
    rf_store_tx *tx = NULL;
    int rc = 0;
    if (rf_store_begin(st, 1, &tx, &err) != RF_OK) {
        rc = fail_err(&err);
        goto out;
    }
    rf_store_audit *a = NULL;
    size_t n = 0;
    if (rf_store_audit_read(tx, 0, 1, &a, &n, &err) != RF_OK) {
        rf_store_rollback(tx);
        rc = fail_err(&err);
        goto out;
    }
    rf_store_audit_free_array(a, n);
    if (n > 0) {
        rf_store_rollback(tx);
        fprintf(stderr,
                "ringfenced: %s is initialised already (its audit log has entries); an admin "
                "can issue more tokens with POST /v1/tokens\n",
                db);
        rc = 1;
        goto out;
    }
    char token[68];
    int64_t id;
    if (rfd_token_issue(&s, tx, "admin", name, 0, 0, (int64_t)time(NULL), token, &id, &err) !=
            RF_OK ||
        rf_store_audit_append(tx, (int64_t)time(NULL), "ringfenced init", "server.init", "server",
                              "{}", NULL, &err) != RF_OK ||
        rf_store_commit(tx, &err) != RF_OK) {
        rc = fail_err(&err);
        goto out;
    }
    printf("%s\n", token);
    fprintf(stderr,
            "ringfenced: created %s (schema version %d); the line above is the admin token "
            "for '%s', shown only now\n",
            db, rf_store_schema_version(st), name);
out:
    rf_store_close(st);
    return rc;
}

/* 1 if `ringfenced init` ran on the database (its audit log has entries). */
static int initialised(rf_store *st)
{
    rf_store_tx *tx;
    if (rf_store_begin(st, 0, &tx, NULL) != RF_OK)
        return 0;
    rf_store_audit *a = NULL;
    size_t n = 0;
    rf_rc rc = rf_store_audit_read(tx, 0, 1, &a, &n, NULL);
    rf_store_rollback(tx);
    rf_store_audit_free_array(a, n);
    return rc == RF_OK && n > 0;
}

static int parse_size(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (rf_parse_u64(v, hi, out) != RF_OK || *out < lo) {
        fprintf(stderr, "ringfenced: %s must be a number from %llu to %llu\n", opt,
                (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    rfd_server *s = calloc(1, sizeof(*s));
    if (!s)
        return 2;
    rfd_config *c = &s->cfg;
    c->max_body = 1u << 20;
    c->max_release_body = 96u << 20;
    c->tick_ms = 250;
    c->checkin_interval_s = 0; /* the plan's */
    long np = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = np > 0 && np < 64 ? (unsigned)np : 2;
    enum { O_DB = 1, O_LISTEN, O_CERT, O_KEY, O_INSECURE, O_REPO, O_PUBLIC, O_TKEY, O_SKEY,
           O_TSKEY, O_PLAN, O_INTERVAL, O_THREADS, O_TICK, O_BODY, O_RBODY, O_QUIET, O_HELP };
    static const struct option opts[] = {
        {"db", required_argument, NULL, O_DB},
        {"listen", required_argument, NULL, O_LISTEN},
        {"tls-cert", required_argument, NULL, O_CERT},
        {"tls-key", required_argument, NULL, O_KEY},
        {"insecure-listen", no_argument, NULL, O_INSECURE},
        {"repo", required_argument, NULL, O_REPO},
        {"public", required_argument, NULL, O_PUBLIC},
        {"targets-key", required_argument, NULL, O_TKEY},
        {"snapshot-key", required_argument, NULL, O_SKEY},
        {"timestamp-key", required_argument, NULL, O_TSKEY},
        {"plan", required_argument, NULL, O_PLAN},
        {"checkin-interval", required_argument, NULL, O_INTERVAL},
        {"threads", required_argument, NULL, O_THREADS},
        {"tick-ms", required_argument, NULL, O_TICK},
        {"max-body", required_argument, NULL, O_BODY},
        {"max-release-body", required_argument, NULL, O_RBODY},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0}};
    int o, rc = 0;
    uint64_t v;
    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_DB: c->db_url = optarg; break;
        case O_LISTEN: c->listen = optarg; break;
        case O_CERT: c->tls_cert = optarg; break;
        case O_KEY: c->tls_key = optarg; break;
        case O_INSECURE: c->insecure_listen = 1; break;
        case O_REPO: c->tuf.repo_dir = optarg; c->have_tuf = 1; break;
        case O_PUBLIC: c->tuf.public_dir = optarg; break;
        case O_TKEY: c->tuf.targets_key = optarg; break;
        case O_SKEY: c->tuf.snapshot_key = optarg; break;
        case O_TSKEY: c->tuf.timestamp_key = optarg; break;
        case O_PLAN: c->plan_path = optarg; break;
        case O_INTERVAL:
            if (parse_size("--checkin-interval", optarg, 1, 86400, &v))
                goto usage;
            c->checkin_interval_s = (unsigned)v;
            break;
        case O_THREADS:
            if (parse_size("--threads", optarg, 1, 256, &v))
                goto usage;
            c->threads = (unsigned)v;
            break;
        case O_TICK:
            if (parse_size("--tick-ms", optarg, 10, 60000, &v))
                goto usage;
            c->tick_ms = (unsigned)v;
            break;
        case O_BODY:
            if (parse_size("--max-body", optarg, 1024, 1u << 30, &v))
                goto usage;
            c->max_body = (size_t)v;
            break;
        case O_RBODY:
            if (parse_size("--max-release-body", optarg, 1024, 1u << 30, &v))
                goto usage;
            c->max_release_body = (size_t)v;
            break;
        case O_QUIET: c->quiet = 1; break;
        case O_HELP: fputs(usage_text, stdout); free(s); return 0;
        default:
            fprintf(stderr, "ringfenced: serve: unknown option %s\n", argv[optind - 1]);
            goto usage;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ringfenced: serve: unexpected argument '%s'\n", argv[optind]);
        goto usage;
    }
    if (!c->db_url || !c->listen) {
        fprintf(stderr, "ringfenced: serve needs --db DB and --listen HOST:PORT\n");
        goto usage;
    }
    if (!!c->tls_cert != !!c->tls_key) {
        fprintf(stderr, "ringfenced: --tls-cert and --tls-key go together\n");
        goto usage;
    }
    if (!c->have_tuf && (c->tuf.public_dir || c->tuf.targets_key || c->tuf.snapshot_key ||
                         c->tuf.timestamp_key)) {
        fprintf(stderr, "ringfenced: TUF keys and --public need --repo DIR\n");
        goto usage;
    }

    rf_err err;
    rf_err_clear(&err);
    pthread_rwlock_init(&s->hosts_lock, NULL);
    pthread_mutex_init(&s->tok_mu, NULL);
    pthread_mutex_init(&s->ro_mu, NULL);
    pthread_mutex_init(&s->q_mu, NULL);
    pthread_mutex_init(&s->pub_mu, NULL);
    pthread_mutex_init(&s->validate_mu, NULL);
    s->started = (int64_t)time(NULL);

    if (c->plan_path) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (rf_file_read(c->plan_path, RF_MAX_SOURCE_BYTES, &buf, &len, &err) != RF_OK ||
            rf_plan_parse(c->plan_path, (const char *)buf, len, &s->plan, &err) != RF_OK) {
            free(buf);
            rc = fail_err(&err);
            goto out_free;
        }
        s->plan_text = (char *)buf;
    } else {
        rf_plan_default(&s->plan);
        s->plan_text = rf_strdup("");
    }
    /* serve never creates a database: a mistyped path must not come up as an
     * empty control plane that no token can use. */
    if (strncmp(c->db_url, "postgres", 8) != 0) {
        const char *path = strncmp(c->db_url, "sqlite:", 7) == 0 ? c->db_url + 7 : c->db_url;
        if (access(path, F_OK) != 0) {
            fprintf(stderr, "ringfenced: no database at %s: create it with `ringfenced init --db %s`\n",
                    path, path);
            rc = 2;
            goto out_free;
        }
    }
    /* A wave that bakes for less than a check-in interval plus the grace
     * can be promoted before a host that crashed on the release counts as
     * silent; allowed (emergency bakes are short), but said. */
    for (uint32_t w = 0; w < s->plan.nwaves; w++) {
        uint32_t need = s->plan.checkin_interval_s + s->plan.silence_grace_s;
        const rf_wave *wv = &s->plan.waves[w];
        if (wv->bake_s < need)
            rfd_warn(s,
                     "plan %s: wave %s bakes %us, less than the check-in interval plus the "
                     "silence grace (%us): a host that crashed on a release may not count as "
                     "silent before the wave is promoted",
                     s->plan.name, wv->name, wv->bake_s, need);
    }
    /* Agents are told the plan's interval unless asked for less: a longer
     * one would make every host look silent to the gates. */
    if (!c->checkin_interval_s) {
        c->checkin_interval_s = s->plan.checkin_interval_s;
    } else if (c->checkin_interval_s > s->plan.checkin_interval_s) {
        fprintf(stderr,
                "ringfenced: --checkin-interval %u is longer than the plan's checkin_interval "
                "(%us): every host would look silent to the gates; use at most %u, or a plan "
                "with a longer interval\n",
                c->checkin_interval_s, s->plan.checkin_interval_s, s->plan.checkin_interval_s);
        rc = 2;
        goto out_free;
    }
    if (rf_store_open(c->db_url, c->threads + 3, 1, &s->store, &err) != RF_OK) {
        rc = fail_err(&err);
        goto out_free;
    }
    if (!initialised(s->store)) {
        fprintf(stderr, "ringfenced: %s has no control plane in it yet: run `ringfenced init --db "
                        "DB` first\n", c->db_url);
        rc = 1;
        goto out_store;
    }
    if (c->have_tuf && rfd_publisher_open(&c->tuf, &s->pub, &err) != RF_OK) {
        rc = fail_err(&err);
        goto out_store;
    }
    rfd_tokens_follow_revocations(s); /* where the audit log ends, before the load */
    if (rfd_hosts_load(s, &err) != RF_OK || rfd_tokens_load(s, &err) != RF_OK ||
        rfd_rollouts_load(s, &err) != RF_OK) {
        rc = fail_err(&err);
        goto out_pub;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* The first tick decides leadership before requests come in. */
    rfd_tick_policies(s);
    rfd_tick(s);
    if (rfd_http_start(s, &err) != RF_OK) {
        rc = fail_err(&err);
        goto out_state;
    }
    rfd_log(s, "serving on %s%s, database %s (%s), %zu hosts, %zu rollouts loaded", c->listen,
            c->tls_cert ? " (TLS)" : "",
            rf_store_backend_of(s->store) == RF_STORE_POSTGRES ? "PostgreSQL" : "SQLite",
            c->db_url, s->nhosts, s->nro);
    while (!g_stop) {
        struct timespec ts = {(time_t)(c->tick_ms / 1000), (long)(c->tick_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        if (g_stop)
            break;
        rfd_tick_policies(s);
        rfd_tick(s);
    }
    rfd_log(s, "stopping");
    rfd_http_stop(s);
    rfd_tick(s); /* what the last requests queued */
out_state:
    rf_store_leader_release(s->store);
    rfd_rollouts_free(s);
    rfd_policies_free();
    rfd_hosts_free(s);
    rfd_token_cache_free(s);
    free(s->q);
out_pub:
    rfd_publisher_free(s->pub);
out_store:
    rf_store_close(s->store);
out_free:
    free(s->plan_text);
    free(s);
    return rc;
usage:
    free(s);
    fprintf(stderr, "(ringfenced --help for usage)\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ringfenced %s\n", RF_VERSION_STRING);
        return 0;
    }
    if (strcmp(argv[1], "init") == 0)
        return cmd_init(argc - 1, argv + 1);
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    if (strcmp(argv[1], "validate-job") == 0)
        return rfd_validate_job_main(argc - 1, argv + 1);
    fprintf(stderr, "ringfenced: unknown command '%s'\n(ringfenced --help for usage)\n", argv[1]);
    return 2;
}
