/*
 * cmd_test.c — `ringfence test CHANNEL.yaml|FILE.rfc`: run a channel's
 * embedded tests, once per sensor manifest that implements its template
 * type, each test event truncated to the inputs that sensor supplies.
 *
 * It is the validator with every stage but parse, schema and tests switched
 * off (the library takes the skip mask directly; this is not the unsafe
 * --skip of `validate`, since `test` never claims to accept content). The
 * tests stage is the one implementation of embedded tests: this command only
 * counts its findings per sensor and prints them.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ringfence/channel.h"
#include "ringfence/validate.h"

static const char usage[] =
    "usage: ringfence [-C DIR] test CHANNEL.yaml|FILE.rfc\n"
    "\n"
    "Run the embedded tests of every instance (their 'tests:' lists) once for\n"
    "every sensor manifest of the workspace that implements the channel's\n"
    "template type, each test event truncated to the inputs that sensor\n"
    "supplies. Prints, per sensor, how many tests passed and every failure.\n"
    "Only the parse, schema and tests stages of the validator run: a channel\n"
    "whose tests pass may still be rejected by 'ringfence validate'.\n"
    "\n"
    "Options:\n"
    "  -C DIR       the workspace (default: the current directory)\n"
    "  -h, --help   this help\n"
    "\n"
    "Exit codes: 0 every test passed on every sensor, 1 a test failed or the\n"
    "channel is invalid, 2 usage or I/O error.\n"
    "\n"
    "Example:\n"
    "  ringfence -C examples/channel-291 test \\\n"
    "      examples/channel-291/channels/c291-v4.yaml\n";

/* Failures the tests stage reported for one sensor; *whole is set when a
 * finding names no instance (the sensor could not run the tests at all). */
static uint32_t count_failures(const rf_report *r, const char *sensor, int *whole)
{
    uint32_t n = rf_report_nfindings(r), fails = 0;
    *whole = 0;
    for (uint32_t i = 0; i < n; i++) {
        rf_finding fd;
        if (rf_report_finding(r, i, &fd) != RF_OK)
            continue;
        if (fd.stage != RF_STAGE_TESTS || !fd.error || !fd.sensor_version ||
            strcmp(fd.sensor_version, sensor) != 0)
            continue;
        if (!fd.instance)
            *whole = 1;
        else
            fails++;
    }
    return fails;
}

int cmd_test(int argc, char **argv, const char *workspace)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":C:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'C': workspace = optarg; break;
        case 'h': return cli_help(usage);
        default: return cli_option_error("test", argv, c);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("test", "expected one CHANNEL.yaml or FILE.rfc, got %d arguments",
                               argc - optind);
    const char *path = argv[optind];
    int ec = cli_check_file(path, "channel");
    if (ec)
        return ec;

    rf_workspace *ws = NULL;
    rf_report *rep = NULL;
    rf_channel *ch = NULL;
    rf_err err;
    rf_err_clear(&err);
    int col = cli_use_color(stdout);

    ec = cli_load_workspace(workspace, &ws);
    if (ec)
        goto out;

    rf_validate_opts opts;
    rf_validate_opts_init(&opts);
    opts.skip = CLI_STAGES_ALL & ~((1u << RF_STAGE_PARSE) | (1u << RF_STAGE_SCHEMA) |
                                   (1u << RF_STAGE_TESTS));
    rf_rc rc = rf_validate_path(ws, path, &opts, &rep, &err);
    if (rc != RF_OK) {
        cli_error_rf(&err);
        ec = RF_EXIT_USAGE;
        goto out;
    }

    /* The channel did not get as far as the tests: show why. */
    if (rf_report_stage_status(rep, RF_STAGE_PARSE) != RF_STATUS_PASS ||
        rf_report_stage_status(rep, RF_STAGE_SCHEMA) != RF_STATUS_PASS) {
        cli_print_findings(stdout, rep, path, col, CLI_STAGES_ALL, 0, NULL, NULL);
        printf("tests: NOT RUN (the channel is invalid)\n");
        ec = RF_EXIT_REJECTED;
        goto out;
    }

    size_t nbytes = 0;
    const uint8_t *bytes = rf_report_channel_bytes(rep, &nbytes);
    if (!bytes || rf_channel_read(bytes, nbytes, path, &ch, &err) != RF_OK) {
        cli_error("%s: internal error: the validated channel does not read back", path);
        ec = RF_EXIT_USAGE;
        goto out;
    }
    uint32_t ntests = 0;
    for (uint32_t i = 0; i < ch->ninstances; i++)
        ntests += ch->instances[i].ntests;

    uint32_t nsensors = 0;
    for (uint32_t s = 0; s < ws->nsensors; s++) {
        const rf_sensor_manifest *m = &ws->sensors[s];
        const rf_sensor_support *sup =
            rf_sensor_find_support(m, ch->template_type, ch->template_version);
        if (!sup)
            continue;
        nsensors++;
        int whole = 0;
        uint32_t fails = count_failures(rep, m->sensor_version, &whole);
        uint32_t passed = whole ? 0 : (fails > ntests ? 0 : ntests - fails);
        int ok = passed == ntests && !whole;
        printf("sensor ");
        cli_puts_safe(stdout, m->sensor_version);
        printf(" (%u input%s): %s%u/%u tests passed%s\n", sup->inputs,
               sup->inputs == 1 ? "" : "s", col ? (ok ? "\033[32m" : "\033[31m") : "",
               passed, ntests, col ? "\033[0m" : "");
        cli_print_findings(stdout, rep, path, col, 1u << RF_STAGE_TESTS, 1,
                           m->sensor_version, "    ");
    }
    /* Anything the tests stage said that is not about one sensor. */
    cli_print_findings(stdout, rep, path, col, 1u << RF_STAGE_TESTS, 0, "", NULL);
    if (nsensors == 0)
        printf("no sensor manifest in the workspace implements %s v%u: no test ran\n",
               ch->template_type, ch->template_version);

    rf_stage_status st = rf_report_stage_status(rep, RF_STAGE_TESTS);
    int ok = st == RF_STATUS_PASS && nsensors > 0;
    printf("tests: %s%s%s (%u test%s × %u sensor%s)\n",
           col ? (ok ? "\033[1;32m" : "\033[1;31m") : "", ok ? "PASSED" : "FAILED",
           col ? "\033[0m" : "", ntests, ntests == 1 ? "" : "s", nsensors,
           nsensors == 1 ? "" : "s");
    ec = ok ? RF_EXIT_OK : RF_EXIT_REJECTED;

out:
    rf_channel_free(ch);
    rf_report_free(rep);
    rf_workspace_free(ws);
    return ec;
}
