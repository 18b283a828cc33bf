/*
 * cmd_validate.c — `ringfence validate`: run the Content Validator
 * (rf_validate_path) over a channel source or channel file and print the
 * verdict: one line per stage, then every finding as "file:line: [stage]
 * message" (errors first), then "verdict: ACCEPTED" or "verdict: REJECTED".
 *
 * Switching stages off is possible, but only with a second flag whose name
 * says what it means, and it is announced loudly: 19 July happened because
 * one check was trusted and others did not exist; a validator whose stages
 * are easy to turn off is a validator that will be turned off.
 *
 * The report printers (stages, findings, verdict) live in common.c because
 * `ringfence test` prints the same findings.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "ringfence/util.h"
#include "ringfence/validate.h"

static const char usage[] =
    "usage: ringfence [-C DIR] validate CHANNEL.yaml|FILE.rfc [options]\n"
    "\n"
    "Run every stage of the Content Validator against every sensor manifest\n"
    "of the workspace: parse, schema, capability (every non-wildcard field is\n"
    "an input every sensor supplies), patterns, embedded tests (per sensor,\n"
    "events truncated to what it supplies), execution (the interpreter in a\n"
    "child process under CPU and memory limits, fed the corpus and synthetic\n"
    "events with a value in every field) and, with --baseline, differential\n"
    "(detection volume against the previous release).\n"
    "\n"
    "Options:\n"
    "  --baseline PREV     previous release (.rfc or .yaml) for the\n"
    "                      differential stage\n"
    "  --report FILE       also write the whole verdict as JSON to FILE\n"
    "                      (written atomically); '-' prints the JSON on\n"
    "                      standard output instead of the text verdict\n"
    "  --corpus DIR        recorded events (*.jsonl) for the execution and\n"
    "                      differential stages (default: DIR/corpus of -C)\n"
    "  --skip STAGE[,...]  switch stages off; refused unless\n"
    "                      --i-know-this-is-unsafe is also given\n"
    "  --i-know-this-is-unsafe\n"
    "                      allow --skip (a warning is printed)\n"
    "  -q, --quiet         print only the verdict line and errors\n"
    "  -C DIR              the workspace (default: the current directory)\n"
    "  -h, --help          this help\n"
    "\n"
    "Stages: parse, schema, capability, patterns, tests, execution, differential.\n"
    "\n"
    "Exit codes: 0 accepted, 1 rejected, 2 usage or I/O error (missing or\n"
    "unreadable file, unknown option, --skip without --i-know-this-is-unsafe).\n"
    "\n"
    "Example:\n"
    "  ringfence -C examples/channel-291 validate \\\n"
    "      examples/channel-291/channels/c291-v5.yaml --report verdict.json\n";

enum { OPT_BASELINE = 256, OPT_REPORT, OPT_CORPUS, OPT_SKIP, OPT_UNSAFE };

/* Progress on stderr, one rewritten line, only for a person watching. */
static void progress(void *ctx, rf_stage stage, const char *what)
{
    (void)ctx;
    fprintf(stderr, "\r\033[K  validating: %s", rf_stage_name(stage));
    if (what && what[0]) {
        /* Keep it to one terminal line, so \r can rewrite it; cut on a
         * character boundary. */
        size_t n = strlen(what);
        if (n > 64) {
            n = 64;
            while (n > 0 && ((unsigned char)what[n] & 0xC0) == 0x80)
                n--;
        }
        fputs(" — ", stderr);
        cli_put_safe(stderr, what, n);
    }
    fflush(stderr);
}

/* Parse "a,b,c" into a skip mask. Returns 0 or an exit code. */
static int parse_skip(const char *list, uint32_t *mask)
{
    char *copy = rf_strdup(list);
    if (!copy) {
        cli_error("out of memory");
        return RF_EXIT_USAGE;
    }
    int ec = 0;
    char *p = copy;
    while (ec == 0) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!p[0]) {
            ec = cli_usage_error("validate", "--skip: empty stage name in '%s'", list);
            break;
        }
        int s = rf_stage_from_name(p);
        if (s < 0) {
            ec = cli_usage_error("validate",
                                 "--skip: unknown stage '%s' (stages: parse, schema, "
                                 "capability, patterns, tests, execution, differential)",
                                 p);
            break;
        }
        if (s == RF_STAGE_PARSE) {
            ec = cli_usage_error("validate",
                                 "--skip: the parse stage cannot be skipped: nothing "
                                 "else can run without it");
            break;
        }
        *mask |= 1u << (unsigned)s;
        if (!comma)
            break;
        p = comma + 1;
    }
    free(copy);
    return ec;
}

int cmd_validate(int argc, char **argv, const char *workspace)
{
    static const struct option longopts[] = {
        {"baseline", required_argument, NULL, OPT_BASELINE},
        {"report", required_argument, NULL, OPT_REPORT},
        {"corpus", required_argument, NULL, OPT_CORPUS},
        {"skip", required_argument, NULL, OPT_SKIP},
        {"i-know-this-is-unsafe", no_argument, NULL, OPT_UNSAFE},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *baseline = NULL, *report_path = NULL, *corpus = NULL, *skip = NULL;
    int unsafe = 0, quiet = 0;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":C:qh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_BASELINE: baseline = optarg; break;
        case OPT_REPORT: report_path = optarg; break;
        case OPT_CORPUS: corpus = optarg; break;
        case OPT_SKIP: skip = optarg; break;
        case OPT_UNSAFE: unsafe = 1; break;
        case 'q': quiet = 1; break;
        case 'C': workspace = optarg; break;
        case 'h': return cli_help(usage);
        default: return cli_option_error("validate", argv, c);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("validate",
                               "expected one CHANNEL.yaml or FILE.rfc, got %d arguments",
                               argc - optind);
    const char *path = argv[optind];

    uint32_t mask = 0;
    if (skip) {
        if (!unsafe)
            return cli_usage_error("validate",
                                   "--skip switches validator stages off and is refused "
                                   "unless --i-know-this-is-unsafe is also given");
        int ec = parse_skip(skip, &mask);
        if (ec)
            return ec;
    }
    if (report_path && !report_path[0])
        return cli_usage_error("validate", "--report needs a file name");

    int ec = cli_check_file(path, "channel");
    if (ec)
        return ec;
    if (baseline && (ec = cli_check_file(baseline, "baseline")) != 0)
        return ec;
    if (corpus && (ec = cli_check_dir(corpus, "corpus directory")) != 0)
        return ec;

    if (mask) {
        int col = cli_use_color(stderr);
        fprintf(stderr, "%sringfence: WARNING: UNSAFE: validator stage(s) switched off: ",
                col ? "\033[1;31m" : "");
        cli_puts_safe(stderr, skip);
        fprintf(stderr, ". A verdict from this run does NOT mean the content is "
                        "safe to ship.%s\n",
                col ? "\033[0m" : "");
    }

    rf_workspace *ws = NULL;
    rf_report *rep = NULL;
    char *json = NULL;
    rf_err err;
    rf_err_clear(&err);

    ec = cli_load_workspace(workspace, &ws);
    if (ec)
        goto out;

    rf_validate_opts opts;
    rf_validate_opts_init(&opts);
    opts.skip = mask;
    opts.baseline_path = baseline;
    opts.corpus_dir = corpus;
    int show_progress = isatty(STDERR_FILENO) && !quiet;
    if (show_progress) {
        opts.progress = progress;
        opts.progress_ctx = NULL;
    }
    rf_rc rc = rf_validate_path(ws, path, &opts, &rep, &err);
    if (show_progress) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    if (rc != RF_OK) {
        cli_error_rf(&err);
        ec = RF_EXIT_USAGE;
        goto out;
    }
    int passed = rf_report_passed(rep);

    if (report_path) {
        rc = rf_report_to_json(rep, &json);
        if (rc != RF_OK) {
            cli_error("%s: cannot render the report as JSON (%s)", path, rf_strerror(rc));
            ec = RF_EXIT_USAGE;
            goto out;
        }
        if (strcmp(report_path, "-") == 0) {
            fputs(json, stdout);
            fputc('\n', stdout);
        } else {
            rc = rf_file_write_atomic(report_path, json, strlen(json), 0644, &err);
            if (rc != RF_OK) {
                cli_error_rf(&err);
                ec = RF_EXIT_USAGE;
                goto out;
            }
        }
    }

    if (!report_path || strcmp(report_path, "-") != 0) {
        int col = cli_use_color(stdout);
        if (!quiet)
            cli_print_stages(stdout, rep, col);
        cli_print_findings(stdout, rep, path, col, CLI_STAGES_ALL, quiet, NULL, NULL);
        cli_print_verdict(stdout, rep, col);
    }
    ec = passed ? RF_EXIT_OK : RF_EXIT_REJECTED;

out:
    free(json);
    rf_report_free(rep);
    rf_workspace_free(ws);
    return ec;
}
