/*
 * cmd_sim.c — `ringfence sim`: replay a release over a whole fleet with the
 * discrete-event simulator (lib/sim), driving the real rollout engine, and
 * show what happened to the hosts. The fleet comes from the fleet generator
 * (--hosts, --tenants) or a Fleet YAML file (--fleet); the plan is the
 * default one or a Plan YAML file (--plan). Prints a summary (text or
 * --json), and with --out DIR a per-minute timeline.csv, the marks of wave
 * openings and the halt, and chart.svg drawn by gnuplot (the script,
 * scripts/sim-chart.gp, is built in and written next to the data). --bench
 * prints what the run cost: events, wall time, events per second, memory.
 *
 * Exit codes: 0 the run completed, whatever its outcome; 1 the fleet or
 * plan file is invalid; 2 usage or I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ringfence/rollout.h"

#include "common.h"
#include "ringfence/sim.h"
#include "ringfence/util.h"

extern char **environ;

#define SIM_DEFAULT_FLEET 8500000u /* customer and internal: the hosts of 19 July */
#define SIM_MAX_HOSTS RF_FLEET_MAX_HOSTS
#define SIM_HOSTS_PER_TENANT 170u /* default tenants: hosts / 170 (50,000 at full scale) */
#define SIM_MAX_TENANTS RF_FLEET_MAX_TENANTS
#define GNUPLOT_TIMEOUT_S 60

static const char usage[] =
    "usage: ringfence sim [--scenario S] [--strategy S] [--hosts N] [--tenants T]\n"
    "                     [--fleet FLEET.yaml] [--plan PLAN.yaml] [--duration D]\n"
    "                     [--seed K] [--noise RATE] [--emergency] [--no-gates]\n"
    "                     [--no-boot-guard] [--json] [--out DIR] [--bench]\n"
    "\n"
    "Simulate a content release over a fleet, second by second, with the\n"
    "rollout engine deciding who gets it and when (the same engine the server\n"
    "runs), and show what happened: customer hosts exposed, crashed, hours\n"
    "down, recovered by themselves or needing a person; when the rollout\n"
    "halted; how fast good content reached the fleet; every gate decision\n"
    "with its evidence.\n"
    "\n"
    "Scenarios (--scenario, default good):\n"
    "  good          nothing goes wrong\n"
    "  july19        the release needs 21 inputs and claims every sensor can run\n"
    "                it; hosts whose sensor supplies fewer crash at every boot\n"
    "  latent-crash  every host crashes --latent-delay after taking it\n"
    "  cpu-spike     per-event CPU cost x10 on hosts running it\n"
    "  fp-storm      detections x50 on hosts running it\n"
    "\n"
    "Strategies (--strategy, default ringfence):\n"
    "  ringfence     the plan's waves, bakes and gates, and the agent's boot guard\n"
    "  push-all      everyone at once, no gates, no boot guard, customer policies\n"
    "                ignored: how content was shipped on 19 July\n"
    "\n"
    "Options:\n"
    "  --hosts N         customer hosts of the generated fleet (default: 8,500,000\n"
    "                    with the vendor's own hosts)\n"
    "  --tenants T       customer tenants (default hosts / 170: 50,000 at full scale)\n"
    "  --fleet FILE      a Fleet YAML file instead of a generated fleet\n"
    "  --plan FILE       a Plan YAML file instead of the default plan\n"
    "  --duration D      simulated time: seconds or 90s, 45m, 24h, 3d (default 24h)\n"
    "  --seed K          makes the run reproducible (default 1)\n"
    "  --noise RATE      background outages per host per day (default 0.02);\n"
    "                    unrelated crashes are RATE/20 unless --noise-crash\n"
    "  --noise-crash R   unrelated crashes per host per day (default 0.001)\n"
    "  --latent-delay D  latent-crash: time from taking it to the crash (60m)\n"
    "  --step D          time between engine steps, 10s .. 30s (default 15s)\n"
    "  --sample P        share of hosts reporting CPU and detections at every\n"
    "                    check-in (default: about 100,000 hosts)\n"
    "  --confirm-checkin D  agents check in D after taking the release, when the\n"
    "                    boot guard confirms it, not only at the next periodic\n"
    "                    check-in (default 60s; 0: periodic only)\n"
    "  --emergency       an emergency release: the plan's emergency bakes\n"
    "  --no-gates        ringfence without its gates (waves and bakes only)\n"
    "  --no-boot-guard   ringfence without the agent's boot guard\n"
    "  --json            print the summary as one JSON object\n"
    "  --out DIR         write DIR/timeline.csv, DIR/marks.csv, DIR/chart.gp and\n"
    "                    DIR/chart.svg (with gnuplot; without it, the CSV only)\n"
    "  --bench           print hosts, simulated hours, events, wall seconds,\n"
    "                    events per second and peak memory after the summary\n"
    "                    (on stderr with --json)\n"
    "  --chart-script    print the built-in gnuplot script and exit\n"
    "  -h, --help        this help\n"
    "\n"
    "Exit codes: 0 the run completed (whatever its outcome), 1 the fleet or\n"
    "plan file is invalid, 2 usage or I/O error.\n"
    "\n"
    "Examples:\n"
    "  ringfence sim --scenario july19 --strategy push-all\n"
    "  ringfence sim --scenario july19 --hosts 200000 --json\n"
    "  ringfence sim --scenario good --emergency --out /tmp/sim-good\n";

/* scripts/sim-chart.gp, built in so that --out needs no installed data
 * file; tests/integration/sim.sh checks that the two are identical. */
static const char chart_script[] =
    "# sim-chart.gp — the chart of a `ringfence sim --out DIR` run: hosts that\n"
    "# took the release, crashed, are down, recovered by themselves and rolled\n"
    "# back, over simulated time on a log scale, with the wave openings and the\n"
    "# halt as vertical lines. `ringfence sim --out DIR` writes this script as\n"
    "# DIR/chart.gp and runs it; to draw again:\n"
    "#\n"
    "#   gnuplot -e \"dir='DIR'\" DIR/chart.gp\n"
    "#\n"
    "# Reads DIR/timeline.csv and DIR/marks.csv, writes DIR/chart.svg. A zero\n"
    "# cannot be drawn on a log scale, so zeros are left out of each line.\n"
    "if (!exists(\"dir\")) dir = \".\"\n"
    "if (!exists(\"title\")) title = \"ringfence sim\"\n"
    "set terminal svg size 1100,620 dynamic enhanced font \"sans,11\" background rgb \"white\"\n"
    "set output dir.\"/chart.svg\"\n"
    "set datafile separator \",\"\n"
    "# The scale first (before any range or log axis, which stats would obey).\n"
    "stats dir.\"/timeline.csv\" every ::1 using 2 nooutput\n"
    "ymax = (STATS_max > 10) ? STATS_max * 3 : 30\n"
    "stats dir.\"/marks.csv\" every ::1 using (strcol(2) eq \"halt\" ? 1 : 0) nooutput\n"
    "halt_title = (STATS_max > 0) ? \"halt\" : \"\"\n"
    "set key below horizontal maxrows 2\n"
    "set logscale y\n"
    "set yrange [0.8:*]\n"
    "set format y \"10^{%L}\"\n"
    "set xlabel \"simulated time (hours)\"\n"
    "set ylabel \"hosts\"\n"
    "set grid xtics ytics\n"
    "set title title noenhanced\n"
    "nz(v) = (v > 0) ? v : NaN\n"
    "set yrange [0.8:ymax]\n"
    "set style line 1 lc rgb \"#1f77b4\" lw 2\n"
    "set style line 2 lc rgb \"#d62728\" lw 2\n"
    "set style line 3 lc rgb \"#ff7f0e\" lw 2 dt 2\n"
    "set style line 4 lc rgb \"#2ca02c\" lw 2\n"
    "set style line 5 lc rgb \"#9467bd\" lw 2\n"
    "set style line 6 lc rgb \"#7f7f7f\" lw 1 dt 3\n"
    "set style line 7 lc rgb \"#000000\" lw 1\n"
    "set style line 8 lc rgb \"#1f77b4\" lw 2 dt 3\n"
    "plot dir.\"/timeline.csv\" every ::1 using ($1/60.0):(nz($2)) with lines ls 1 title \"exposed (took it)\", \\\n"
    "     dir.\"/timeline.csv\" every ::1 using ($1/60.0):(nz($3)) with lines ls 8 title \"customer hosts exposed\", \\\n"
    "     dir.\"/timeline.csv\" every ::1 using ($1/60.0):(nz($4)) with lines ls 2 title \"crashed\", \\\n"
    "     dir.\"/timeline.csv\" every ::1 using ($1/60.0):(nz($6)) with lines ls 3 title \"down now\", \\\n"
    "     dir.\"/timeline.csv\" every ::1 using ($1/60.0):(nz($7)) with lines ls 4 title \"recovered by the boot guard\", \\\n"
    "     dir.\"/timeline.csv\" every ::1 using ($1/60.0):(nz($9)) with lines ls 5 title \"rolled back\", \\\n"
    "     dir.\"/marks.csv\" every ::1 using ($1/60.0):(strcol(2) eq \"halt\" ? NaN : 0.8):(0):(ymax-0.8) with vectors nohead ls 6 notitle, \\\n"
    "     dir.\"/marks.csv\" every ::1 using ($1/60.0):(strcol(2) eq \"halt\" ? 0.8 : NaN):(0):(ymax-0.8) with vectors nohead ls 7 title halt_title, \\\n"
    "     dir.\"/marks.csv\" every ::1 using ($1/60.0):(ymax/1.6):2 with labels rotate by 90 right offset 0.6,0 font \"sans,9\" notitle, \\\n"
    "     1 with lines lt -2 notitle\n";

/* ---- option values ------------------------------------------------------------ */

/* A duration: plain seconds, or number-unit pairs with units s, m, h, d
 * ("90s", "45m", "1h30m", "3d"), in [lo, hi] seconds. */
static int parse_duration(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (!s || !*s)
        return 0;
    uint64_t total = 0;
    const char *p = s;
    int pairs = 0;
    while (*p) {
        if (*p < '0' || *p > '9')
            return 0;
        uint64_t v = 0;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (++digits > 9)
                return 0;
            v = v * 10u + (uint64_t)(*p - '0');
            p++;
        }
        uint64_t unit = 1;
        switch (*p) {
        case 's': unit = 1; p++; break;
        case 'm': unit = 60; p++; break;
        case 'h': unit = 3600; p++; break;
        case 'd': unit = 86400; p++; break;
        case '\0':
            if (pairs > 0)
                return 0; /* "1h30": a unit is needed after the first pair */
            break;
        default: return 0;
        }
        total += v * unit;
        if (total > hi)
            return 0;
        pairs++;
    }
    if (total < lo)
        return 0;
    *out = (uint32_t)total;
    return 1;
}

/* A rate per host per day: a decimal number, optionally followed by "/day". */
static int parse_rate(const char *s, double *out)
{
    if (!s || !*s)
        return 0;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0.0 || v > 100.0)
        return 0;
    if (*end && strcmp(end, "/day") != 0 && strcmp(end, "/d") != 0)
        return 0;
    *out = v;
    return 1;
}

/* A share in (0, 1]. */
static int parse_share(const char *s, double *out)
{
    if (!s || !*s)
        return 0;
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0.0 && v <= 1.0))
        return 0;
    *out = v;
    return 1;
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    uint64_t v = 0;
    if (!s || rf_parse_u64(s, hi, &v) != RF_OK || v < lo)
        return 0;
    *out = (uint32_t)v;
    return 1;
}

/* ---- measuring ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* ---- --out DIR ---------------------------------------------------------------------- */

typedef rf_rc (*writer_fn)(const rf_sim_result *r, FILE *f);

/* Write one output file atomically through a memory stream. */
static int write_out(const char *dir, const char *name, const rf_sim_result *r, writer_fn fn,
                     const char *text)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        cli_error("%s: output directory name too long", dir);
        return RF_EXIT_USAGE;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) {
        cli_error("%s: out of memory", path);
        return RF_EXIT_USAGE;
    }
    rf_rc rc = RF_OK;
    if (fn)
        rc = fn(r, m);
    else
        fputs(text, m);
    if (fclose(m) != 0 || rc != RF_OK) {
        free(buf);
        cli_error("%s: out of memory", path);
        return RF_EXIT_USAGE;
    }
    rf_err err;
    rf_err_clear(&err);
    rc = rf_file_write_atomic(path, buf, len, 0644, &err);
    free(buf);
    if (rc != RF_OK) {
        cli_error_rf(&err);
        return RF_EXIT_USAGE;
    }
    return 0;
}

/* Run gnuplot on DIR/chart.gp with a time limit, its messages into
 * DIR/chart.log. Returns 0 when chart.svg was drawn, 1 when gnuplot is
 * missing, 2 when it failed. */
static int run_gnuplot(const char *dir, const char *title)
{
    char script[4096], defs[8192], log[4096];
    if ((size_t)snprintf(script, sizeof(script), "%s/chart.gp", dir) >= sizeof(script) ||
        (size_t)snprintf(log, sizeof(log), "%s/chart.log", dir) >= sizeof(log))
        return 2;
    /* Quote the directory and title for gnuplot's single-quoted strings. */
    char qdir[4096], qtitle[512];
    size_t o = 0;
    for (const char *p = dir; *p && o + 3 < sizeof(qdir); p++) {
        if (*p == '\'')
            qdir[o++] = '\'';
        qdir[o++] = *p;
    }
    qdir[o] = '\0';
    o = 0;
    for (const char *p = title; *p && o + 3 < sizeof(qtitle); p++) {
        if (*p == '\'')
            qtitle[o++] = '\'';
        qtitle[o++] = *p;
    }
    qtitle[o] = '\0';
    if ((size_t)snprintf(defs, sizeof(defs), "dir='%s'; title='%s'", qdir, qtitle) >=
        sizeof(defs))
        return 2;

    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return 2;
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    char a0[] = "gnuplot", a1[] = "-e";
    char *args[] = {a0, a1, defs, script, NULL};
    pid_t pid;
    int e = posix_spawnp(&pid, "gnuplot", &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e == ENOENT) {
        unlink(log);
        return 1;
    }
    if (e != 0)
        return 2;
    int status = 0;
    double deadline = now_s() + GNUPLOT_TIMEOUT_S;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return 2;
        if (now_s() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return 2;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        unlink(log);
        return 1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        unlink(log);
        return 0;
    }
    return 2;
}

static int write_dir(const char *dir, const rf_sim_result *r)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0777) != 0) {
            cli_error("%s: cannot create the output directory: %s", dir, strerror(errno));
            return RF_EXIT_USAGE;
        }
    }
    int ec = cli_check_dir(dir, "output directory");
    if (!ec)
        ec = write_out(dir, "timeline.csv", r, rf_sim_write_timeline, NULL);
    if (!ec)
        ec = write_out(dir, "marks.csv", r, rf_sim_write_marks, NULL);
    if (!ec)
        ec = write_out(dir, "chart.gp", r, NULL, chart_script);
    if (ec)
        return ec;
    char title[256];
    snprintf(title, sizeof(title), "%s, %s%s%s, %u hosts, seed %" PRIu64,
             rf_sim_scenario_name(r->opts.scenario), rf_sim_strategy_name(r->opts.strategy),
             (r->opts.strategy == RF_SIM_RINGFENCE && !r->opts.gates) ? " without gates" : "",
             (r->opts.strategy == RF_SIM_RINGFENCE && !r->opts.boot_guard)
                 ? " without boot guard"
                 : "",
             r->hosts, r->opts.seed);
    int g = run_gnuplot(dir, title);
    if (g != 0) {
        /* No half-drawn chart is left behind. */
        char svg[4096];
        if ((size_t)snprintf(svg, sizeof(svg), "%s/chart.svg", dir) < sizeof(svg))
            unlink(svg);
    }
    if (g == 1)
        cli_warn("gnuplot not found: wrote %s/timeline.csv but no chart.svg "
                 "(install gnuplot and run: gnuplot -e \"dir='%s'\" %s/chart.gp)",
                 dir, dir, dir);
    else if (g == 2)
        cli_warn("gnuplot failed (see %s/chart.log): wrote %s/timeline.csv but no chart.svg",
                 dir, dir);
    return 0;
}

/* ---- the command ----------------------------------------------------------------------- */

int cmd_sim(int argc, char **argv, const char *workspace)
{
    enum {
        O_SCENARIO = 256, O_STRATEGY, O_HOSTS, O_TENANTS, O_FLEET, O_PLAN, O_DURATION,
        O_SEED, O_NOISE, O_NOISE_CRASH, O_LATENT, O_STEP, O_SAMPLE, O_EMERGENCY,
        O_NO_GATES, O_NO_BOOT_GUARD, O_JSON, O_OUT, O_BENCH, O_CHART, O_CONFIRM,
    };
    static const struct option longopts[] = {
        {"scenario", required_argument, NULL, O_SCENARIO},
        {"strategy", required_argument, NULL, O_STRATEGY},
        {"hosts", required_argument, NULL, O_HOSTS},
        {"tenants", required_argument, NULL, O_TENANTS},
        {"fleet", required_argument, NULL, O_FLEET},
        {"plan", required_argument, NULL, O_PLAN},
        {"duration", required_argument, NULL, O_DURATION},
        {"seed", required_argument, NULL, O_SEED},
        {"noise", required_argument, NULL, O_NOISE},
        {"noise-crash", required_argument, NULL, O_NOISE_CRASH},
        {"latent-delay", required_argument, NULL, O_LATENT},
        {"step", required_argument, NULL, O_STEP},
        {"sample", required_argument, NULL, O_SAMPLE},
        {"confirm-checkin", required_argument, NULL, O_CONFIRM},
        {"emergency", no_argument, NULL, O_EMERGENCY},
        {"no-gates", no_argument, NULL, O_NO_GATES},
        {"no-boot-guard", no_argument, NULL, O_NO_BOOT_GUARD},
        {"json", no_argument, NULL, O_JSON},
        {"out", required_argument, NULL, O_OUT},
        {"bench", no_argument, NULL, O_BENCH},
        {"chart-script", no_argument, NULL, O_CHART},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    (void)workspace;
    rf_sim_opts o;
    rf_sim_opts_default(&o);
    uint32_t hosts = 0, tenants = 0;
    int have_hosts = 0, have_noise_crash = 0, as_json = 0, bench = 0;
    const char *fleet_path = NULL, *plan_path = NULL, *out_dir = NULL;
    uint64_t seed = 1;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":C:h", longopts, NULL)) != -1) {
        switch (c) {
        case O_SCENARIO:
            if (rf_sim_scenario_parse(optarg, &o.scenario) != RF_OK)
                return cli_usage_error("sim", "unknown scenario '%s' (good, july19, "
                                       "latent-crash, cpu-spike, fp-storm)", optarg);
            break;
        case O_STRATEGY:
            if (rf_sim_strategy_parse(optarg, &o.strategy) != RF_OK)
                return cli_usage_error("sim", "unknown strategy '%s' (ringfence, push-all)",
                                       optarg);
            break;
        case O_HOSTS:
            if (!parse_u32(optarg, 1, SIM_MAX_HOSTS, &hosts))
                return cli_usage_error("sim", "--hosts: '%s' is not a number in 1..%u", optarg,
                                       SIM_MAX_HOSTS);
            have_hosts = 1;
            break;
        case O_TENANTS:
            if (!parse_u32(optarg, 1, SIM_MAX_TENANTS, &tenants))
                return cli_usage_error("sim", "--tenants: '%s' is not a number in 1..%u",
                                       optarg, SIM_MAX_TENANTS);
            have_hosts = 1;
            break;
        case O_FLEET: fleet_path = optarg; break;
        case O_PLAN: plan_path = optarg; break;
        case O_DURATION:
            if (!parse_duration(optarg, 1, RF_SIM_MAX_DURATION_S, &o.duration_s))
                return cli_usage_error("sim", "--duration: '%s' is not a duration of 1s..31d "
                                       "(e.g. 3600, 90m, 24h, 1h30m)", optarg);
            break;
        case O_SEED:
            if (rf_parse_u64(optarg, UINT64_MAX, &seed) != RF_OK)
                return cli_usage_error("sim", "--seed: '%s' is not an unsigned number", optarg);
            break;
        case O_NOISE:
            if (!parse_rate(optarg, &o.noise_silence))
                return cli_usage_error("sim", "--noise: '%s' is not a rate of 0..100 per host "
                                       "per day (e.g. 0.02 or 0.02/day)", optarg);
            break;
        case O_NOISE_CRASH:
            if (!parse_rate(optarg, &o.noise_crash))
                return cli_usage_error("sim", "--noise-crash: '%s' is not a rate of 0..100 "
                                       "per host per day", optarg);
            have_noise_crash = 1;
            break;
        case O_LATENT:
            if (!parse_duration(optarg, 0, RF_SIM_MAX_DURATION_S, &o.latent_delay_s))
                return cli_usage_error("sim", "--latent-delay: '%s' is not a duration",
                                       optarg);
            break;
        case O_STEP:
            if (!parse_duration(optarg, 10, 30, &o.step_s))
                return cli_usage_error("sim", "--step: '%s' is not a duration of 10s..30s",
                                       optarg);
            break;
        case O_SAMPLE:
            if (!parse_share(optarg, &o.sample))
                return cli_usage_error("sim", "--sample: '%s' is not a share in (0, 1]",
                                       optarg);
            break;
        case O_CONFIRM:
            if (!parse_duration(optarg, 0, 86400, &o.confirm_s))
                return cli_usage_error("sim", "--confirm-checkin: '%s' is not a duration",
                                       optarg);
            break;
        case O_EMERGENCY: o.emergency = 1; break;
        case O_NO_GATES: o.gates = 0; break;
        case O_NO_BOOT_GUARD: o.boot_guard = 0; break;
        case O_JSON: as_json = 1; break;
        case O_OUT: out_dir = optarg; break;
        case O_BENCH: bench = 1; break;
        case O_CHART:
            fputs(chart_script, stdout);
            return RF_EXIT_OK;
        case 'C': break;
        case 'h': return cli_help(usage);
        default: return cli_option_error("sim", argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error("sim", "unexpected argument '%s'", argv[optind]);
    if (fleet_path && have_hosts)
        return cli_usage_error("sim", "--fleet and --hosts/--tenants do not go together");
    if (o.strategy == RF_SIM_PUSH_ALL && (!o.gates || !o.boot_guard || plan_path))
        return cli_usage_error("sim", "push-all has no plan, gates or boot guard to change");
    if (out_dir && !*out_dir)
        return cli_usage_error("sim", "--out needs a directory");
    if (!have_noise_crash)
        o.noise_crash = o.noise_silence / 20.0;
    o.seed = seed;
    if (fleet_path) {
        int ec = cli_check_file(fleet_path, "fleet file");
        if (ec)
            return ec;
    }
    if (plan_path) {
        int ec = cli_check_file(plan_path, "plan file");
        if (ec)
            return ec;
    }

    rf_err err;
    rf_err_clear(&err);
    rf_plan plan;
    rf_fleet *fleet = NULL;
    rf_sim_result *res = NULL;
    int ec = RF_EXIT_OK;
    rf_rc rc;
    if (plan_path) {
        rc = rf_plan_load(plan_path, &plan, &err);
        if (rc != RF_OK) {
            cli_error_rf(&err);
            return cli_exit_for_rc(rc);
        }
        o.plan = &plan;
    }

    double t_fleet = now_s();
    if (fleet_path) {
        rc = rf_fleet_load(fleet_path, seed, &fleet, &err);
    } else {
        rf_fleet_gen g;
        memset(&g, 0, sizeof(g));
        rf_fleet_gen_default(&g);
        g.hosts = hosts ? hosts
                        : (g.internal_hosts < SIM_DEFAULT_FLEET ? SIM_DEFAULT_FLEET - g.internal_hosts
                                                                : SIM_DEFAULT_FLEET);
        hosts = g.hosts;
        g.tenants = tenants ? tenants
                            : (hosts / SIM_HOSTS_PER_TENANT ? hosts / SIM_HOSTS_PER_TENANT : 1);
        if (g.tenants > hosts)
            g.tenants = hosts;
        rc = rf_fleet_generate(&g, seed, &fleet, &err);
    }
    if (rc != RF_OK) {
        cli_error_rf(&err);
        return cli_exit_for_rc(rc);
    }
    double t_sim = now_s();
    rc = rf_sim_run(fleet, &o, &res, &err);
    double t_end = now_s();
    if (rc != RF_OK) {
        cli_error_rf(&err);
        ec = cli_exit_for_rc(rc);
        goto out;
    }

    rc = as_json ? rf_sim_write_json(res, stdout) : rf_sim_write_text(res, stdout);
    if (rc != RF_OK) {
        ec = RF_EXIT_USAGE;
        goto out;
    }
    if (out_dir) {
        ec = write_dir(out_dir, res);
        if (ec)
            goto out;
    }
    if (bench) {
        FILE *bf = as_json ? stderr : stdout;
        double wall = t_end - t_sim;
        fprintf(bf, "\nbench: hosts %u\n", res->hosts);
        fprintf(bf, "bench: simulated hours %.2f\n", (double)o.duration_s / 3600.0);
        fprintf(bf, "bench: events processed %" PRIu64 " (and %" PRIu64 " reports to the engine)\n",
                res->events, res->reports);
        fprintf(bf, "bench: fleet seconds %.2f\n", t_sim - t_fleet);
        fprintf(bf, "bench: wall seconds %.2f\n", wall);
        fprintf(bf, "bench: events per second %.0f\n",
                wall > 0 ? (double)res->events / wall : 0.0);
        fprintf(bf, "bench: max RSS %.0f MiB\n", peak_rss_mib());
    }
out:
    rf_sim_result_free(res);
    rf_fleet_free(fleet);
    return ec;
}
