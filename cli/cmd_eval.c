/*
 * cmd_eval.c — `ringfence eval FILE.rfc --sensor VERSION [EVENTS.jsonl|-]`:
 * run recorded events through the Content Interpreter exactly as one sensor
 * build would, and print one JSON line per matching event.
 *
 * The interpreter is built for (channel, sensor manifest), so the load-time
 * capability check applies: content that names an input the sensor does not
 * supply is refused (exit 1) before any event is read. Each event is handed
 * over with the inputs it carries — nothing is padded or truncated — so the
 * run-time check applies too: an event with fewer inputs than the content
 * needs is refused with RF_E_INPUT, reported for its line, and never read
 * past its end.
 *
 * A bad line does not stop the run: it is reported on stderr as
 * "EVENTS:LINE: message", the next line is read, and the exit code is 1 at
 * the end. By default only events recorded on the chosen sensor (or that
 * name no sensor) are evaluated; --all-sensors feeds every event.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common.h"
#include "ringfence/channel.h"
#include "ringfence/event.h"
#include "ringfence/interp.h"

static const char usage[] =
    "usage: ringfence [-C DIR] eval FILE.rfc --sensor VERSION [EVENTS.jsonl|-]\n"
    "\n"
    "Build the interpreter for the channel file as the sensor build VERSION of\n"
    "the workspace would (sensors/*.yaml), then evaluate events, one JSON\n"
    "object per line (standard input when EVENTS is '-' or absent):\n"
    "  {\"template_type\":\"ipc_named_pipe\",\"sensor_version\":\"7.11.18110\",\n"
    "   \"inputs\":[\"\\\\\\\\.\\\\pipe\\\\x\",\"C:\\\\a.exe\",4]}\n"
    "For every matching event, print one line on standard output:\n"
    "  {\"line\":N,\"matches\":[{\"id\":...,\"action\":...,\"severity\":...}]}\n"
    "A summary goes to standard error. Events are passed with the inputs they\n"
    "carry: one with fewer inputs than the content needs is refused by the\n"
    "interpreter (RF_E_INPUT) and reported for its line. A line that is not a\n"
    "valid event is reported as EVENTS:LINE: message and skipped.\n"
    "\n"
    "Options:\n"
    "  -s, --sensor VERSION  the sensor build to act as (required)\n"
    "  --all-sensors         evaluate every event; by default events recorded\n"
    "                        on another sensor version, or for another template\n"
    "                        type, are skipped and counted\n"
    "  -C DIR                the workspace (default: the current directory)\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit codes: 0 every event evaluated, 1 the interpreter refused the\n"
    "content, or some line was invalid or refused, 2 usage or I/O error\n"
    "(unknown sensor version, missing file).\n"
    "\n"
    "Example:\n"
    "  ringfence -C examples/channel-291 eval c291-v4.rfc --sensor 7.11.18110 \\\n"
    "      examples/channel-291/corpus/ipc-events.jsonl\n";

enum { OPT_ALL_SENSORS = 256 };

struct counts {
    uint64_t lines, events, evaluated, matched, matches, skipped_sensor, skipped_type;
    uint64_t bad, refused;
};

/*
 * Read one line of at most `cap` bytes into buf (NUL-terminated, newline
 * removed). Returns 1 for a line, 0 at end of file, -1 on a read error. A
 * longer line is consumed to its end and *too_long set, so one huge line
 * cannot make the tool allocate without bound.
 */
static int read_line(FILE *f, char *buf, size_t cap, size_t *len, int *too_long)
{
    size_t n = 0;
    int c, any = 0;
    *too_long = 0;
    while ((c = getc_unlocked(f)) != EOF) {
        any = 1;
        if (c == '\n')
            break;
        if (n < cap)
            buf[n++] = (char)c;
        else
            *too_long = 1;
    }
    if (ferror(f))
        return -1;
    buf[n] = '\0';
    *len = n;
    return any ? 1 : 0;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

/* "NAME:LINE: message" on stderr for one event line. */
static void line_error(const char *name, uint64_t line, const char *fmt, ...)
    RF_PRINTF(3, 4);
static void line_error(const char *name, uint64_t line, const char *fmt, ...)
{
    char msg[CLI_ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli_error("%s:%llu: %s", name, (unsigned long long)line, msg);
}

/* Print the matches of one event as one JSON line. Returns 0 or -1 (OOM). */
static int print_matches(const rf_interp *ip, uint64_t line, const uint32_t *m, uint32_t n)
{
    int oom = 0;
    json_t *root = json_object();
    json_t *arr = json_array();
    if (!root || !arr) {
        json_decref(root);
        json_decref(arr);
        return -1;
    }
    if (json_object_set_new(root, "line", json_integer((json_int_t)line)) != 0 ||
        json_object_set_new(root, "matches", arr) != 0)
        oom = 1;
    for (uint32_t k = 0; k < n && !oom; k++) {
        json_t *o = json_object();
        if (!o || json_array_append_new(arr, o) != 0) {
            oom = 1;
            break;
        }
        const char *id = rf_interp_instance_id(ip, m[k]);
        if (json_object_set_new(o, "id", json_string(id ? id : "")) != 0 ||
            json_object_set_new(o, "action",
                                json_string(rf_action_name(rf_interp_instance_action(ip, m[k])))) != 0 ||
            json_object_set_new(
                o, "severity",
                json_string(rf_severity_name(rf_interp_instance_severity(ip, m[k])))) != 0)
            oom = 1;
    }
    char *text = oom ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return -1;
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
    return 0;
}

int cmd_eval(int argc, char **argv, const char *workspace)
{
    static const struct option longopts[] = {
        {"sensor", required_argument, NULL, 's'},
        {"all-sensors", no_argument, NULL, OPT_ALL_SENSORS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sensor = NULL;
    int all_sensors = 0;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:C:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': sensor = optarg; break;
        case OPT_ALL_SENSORS: all_sensors = 1; break;
        case 'C': workspace = optarg; break;
        case 'h': return cli_help(usage);
        default: return cli_option_error("eval", argv, c);
        }
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2)
        return cli_usage_error("eval", "expected FILE.rfc and at most one EVENTS file, got %d "
                                       "arguments", npos);
    if (!sensor)
        return cli_usage_error("eval", "--sensor VERSION is required");
    const char *path = argv[optind];
    const char *events = npos == 2 ? argv[optind + 1] : "-";
    int from_stdin = strcmp(events, "-") == 0;
    const char *ev_name = from_stdin ? "<stdin>" : events;

    int ec = cli_check_file(path, "channel file");
    if (ec)
        return ec;
    if (!from_stdin && (ec = cli_check_file(events, "events file")) != 0)
        return ec;

    rf_workspace *ws = NULL;
    rf_channel *ch = NULL;
    rf_interp *ip = NULL;
    rf_interp_scratch *scr = NULL;
    uint32_t *matches = NULL;
    char *line = NULL;
    FILE *in = NULL;
    struct counts n = {0};
    rf_err err;
    rf_err_clear(&err);

    ec = cli_load_workspace(workspace, &ws);
    if (ec)
        goto out;
    const rf_sensor_manifest *m = rf_workspace_find_sensor(ws, sensor);
    if (!m) {
        char have[512] = "";
        size_t used = 0;
        for (uint32_t i = 0; i < ws->nsensors && used < sizeof(have); i++) {
            int w = snprintf(have + used, sizeof(have) - used, "%s%s", i ? ", " : "",
                             ws->sensors[i].sensor_version);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        cli_error("no sensor manifest with sensor_version '%s' in %s/sensors (have: %s)",
                  sensor, workspace, ws->nsensors ? have : "none");
        ec = RF_EXIT_USAGE;
        goto out;
    }

    rf_rc rc = rf_channel_read_file(path, &ch, &err);
    if (rc != RF_OK) {
        cli_error_rf(&err);
        ec = cli_exit_for_rc(rc);
        goto out;
    }
    /* The load-time check: the sensor must supply every input the content
     * names. A refusal here is the interpreter doing its job: exit 1. */
    rc = rf_interp_build(ch, m, &ip, &err);
    if (rc != RF_OK) {
        char msg[CLI_ERRBUF];
        rf_err_format(&err, msg, sizeof(msg));
        cli_error("%s [%s: the interpreter of sensor %s refuses to load this channel]", msg,
                  rf_strerror(rc), sensor);
        ec = cli_exit_for_rc(rc);
        goto out;
    }
    rc = rf_interp_scratch_new(ip, &scr);
    if (rc != RF_OK) {
        cli_error("cannot allocate interpreter scratch (%s)", rf_strerror(rc));
        ec = RF_EXIT_USAGE;
        goto out;
    }
    uint32_t cap = rf_interp_ninstances(ip);
    matches = malloc(((size_t)cap + 1) * sizeof(*matches));
    line = malloc((size_t)RF_MAX_EVENT_LINE + 1);
    if (!matches || !line) {
        cli_error("out of memory");
        ec = RF_EXIT_USAGE;
        goto out;
    }

    if (from_stdin) {
        in = stdin;
    } else {
        in = fopen(events, "re");
        if (!in) {
            cli_error("%s: cannot open events file: %s", events, strerror(errno));
            ec = RF_EXIT_USAGE;
            goto out;
        }
    }

    for (;;) {
        size_t len = 0;
        int too_long = 0;
        int r = read_line(in, line, RF_MAX_EVENT_LINE, &len, &too_long);
        if (r < 0) {
            cli_error("%s: read error: %s", ev_name, strerror(errno));
            ec = RF_EXIT_USAGE;
            goto out;
        }
        if (r == 0)
            break;
        n.lines++;
        if (too_long) {
            line_error(ev_name, n.lines, "line longer than %u bytes", RF_MAX_EVENT_LINE);
            n.bad++;
            continue;
        }
        if (blank(line, len))
            continue;
        n.events++;
        rf_event *ev = NULL;
        rf_err_clear(&err);
        rc = rf_event_parse(line, len, &ev, &err);
        if (rc != RF_OK) {
            if (err.col)
                cli_error("%s:%llu:%u: %s", ev_name, (unsigned long long)n.lines, err.col,
                          err.msg);
            else
                line_error(ev_name, n.lines, "%s", err.msg[0] ? err.msg : rf_strerror(rc));
            n.bad++;
            continue;
        }
        if (ev->template_type && strcmp(ev->template_type, ch->template_type) != 0) {
            n.skipped_type++;
            rf_event_free(ev);
            continue;
        }
        if (!all_sensors && ev->sensor_version && strcmp(ev->sensor_version, sensor) != 0) {
            n.skipped_sensor++;
            rf_event_free(ev);
            continue;
        }
        uint32_t nm = 0;
        rc = rf_interp_eval(ip, scr, ev->inputs, ev->ninputs, matches, cap, &nm);
        uint32_t ninputs = ev->ninputs;
        rf_event_free(ev);
        if (rc == RF_E_INPUT) {
            line_error(ev_name, n.lines,
                       "refused by the interpreter (RF_E_INPUT): the event carries %u "
                       "input%s, the content needs %u",
                       ninputs, ninputs == 1 ? "" : "s", rf_interp_inputs_required(ip));
            n.refused++;
            continue;
        }
        if (rc != RF_OK) {
            line_error(ev_name, n.lines, "evaluation failed (%s)", rf_strerror(rc));
            n.refused++;
            continue;
        }
        n.evaluated++;
        if (nm == 0)
            continue;
        if (nm > cap)
            nm = cap; /* cannot happen: cap is every instance */
        n.matched++;
        n.matches += nm;
        if (print_matches(ip, n.lines, matches, nm) != 0) {
            cli_error("out of memory");
            ec = RF_EXIT_USAGE;
            goto out;
        }
    }

    fprintf(stderr,
            "eval: %llu events, %llu evaluated by sensor %s, %llu matched (%llu matches)",
            (unsigned long long)n.events, (unsigned long long)n.evaluated, sensor,
            (unsigned long long)n.matched, (unsigned long long)n.matches);
    if (n.skipped_sensor)
        fprintf(stderr, ", %llu skipped (other sensors)", (unsigned long long)n.skipped_sensor);
    if (n.skipped_type)
        fprintf(stderr, ", %llu skipped (other template types)",
                (unsigned long long)n.skipped_type);
    if (n.refused)
        fprintf(stderr, ", %llu refused", (unsigned long long)n.refused);
    if (n.bad)
        fprintf(stderr, ", %llu invalid lines", (unsigned long long)n.bad);
    fputc('\n', stderr);
    ec = (n.bad || n.refused) ? RF_EXIT_REJECTED : RF_EXIT_OK;

out:
    if (in && in != stdin)
        fclose(in);
    free(line);
    free(matches);
    rf_interp_scratch_free(scr);
    rf_interp_free(ip);
    rf_channel_free(ch);
    rf_workspace_free(ws);
    return ec;
}
