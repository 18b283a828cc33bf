/*
 * cmd_plan.c — `ringfence plan`: a release's blast radius before it
 * starts. It loads a fleet (rf_fleet_load), a plan (rf_plan_load, or the
 * default plan) and a channel file, decides which of the fleet's sensor
 * builds can run the channel (by their input counts, or by the workspace's
 * sensor manifests), and hands them to rf_blast_compute (blast.h) — the
 * computation the server's GET /v1/plan answers with — then prints the
 * report as text (rf_blast_print) or, with --json, as one JSON object
 * (rf_blast_to_json).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ringfence/blast.h"
#include "ringfence/rollout.h"

#include "common.h"
#include "ringfence/channel.h"
#include "ringfence/schema.h"
#include "ringfence/util.h"

static const char usage[] =
    "usage: ringfence plan --fleet FLEET.yaml --release FILE.rfc [--plan PLAN.yaml]\n"
    "                      [--seed K] [--sensor-manifests DIR] [--emergency] [--json]\n"
    "\n"
    "Show a release's blast radius before it starts: which hosts of the fleet\n"
    "get it in which wave of the plan, who is excluded and why (paused, pinned,\n"
    "sensor build cannot run it, offline), hosts per tenant and per sensor\n"
    "build, the most customer hosts that can take it before the first health\n"
    "gate can act, and the expected time to reach 50%, 90% and 99% of the\n"
    "eligible hosts if every gate passes.\n"
    "\n"
    "Options:\n"
    "  --fleet FILE          the fleet (docs/gates.md, \"Fleet files\")\n"
    "  --release FILE.rfc    the channel file to release\n"
    "  --plan FILE           the rollout plan (default: the built-in default plan,\n"
    "                        examples/plans/default.yaml)\n"
    "  --seed K              seed for the fleet's hosts and the engine's ranks\n"
    "                        (default 1); same seed, same answer\n"
    "  --sensor-manifests DIR  decide which sensor builds can run the release\n"
    "                        from the workspace's sensor manifests (DIR/sensors)\n"
    "                        instead of the fleet's input counts\n"
    "  --emergency           an emergency release: emergency bakes, and no GA\n"
    "                        delay for tenants that opted into emergencies\n"
    "  --json                print the same as one JSON object\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit codes: 0 shown, 1 a fleet, plan or channel file is invalid, 2 usage\n"
    "or I/O error.\n"
    "\n"
    "Example:\n"
    "  ringfence plan --fleet examples/fleets/small.yaml --release c291-v5.rfc\n";

/* Which fleet sensor builds can run the channel: by the fleet's input
 * counts, or by the workspace's sensor manifests (a build without a
 * manifest, or whose manifest lacks the template type, cannot). */
static int sensors_ok(const rf_fleet *f, const rf_channel *ch, uint32_t need, const char *dir,
                      uint8_t *ok)
{
    if (!dir) {
        for (uint32_t s = 0; s < f->nsensors; s++)
            ok[s] = f->sensors[s].inputs >= need;
        return RF_EXIT_OK;
    }
    int ec = cli_check_dir(dir, "sensor manifests directory");
    if (ec)
        return ec;
    rf_workspace *ws = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_workspace_load(dir, &ws, &err);
    if (rc) {
        cli_error_rf(&err);
        return cli_exit_for_rc(rc);
    }
    for (uint32_t s = 0; s < f->nsensors; s++) {
        const rf_sensor_manifest *m = rf_workspace_find_sensor(ws, f->sensors[s].version);
        const rf_sensor_support *sup =
            m ? rf_sensor_find_support(m, ch->template_type, ch->template_version) : NULL;
        ok[s] = sup && sup->inputs >= need;
    }
    rf_workspace_free(ws);
    return RF_EXIT_OK;
}

int cmd_plan(int argc, char **argv, const char *workspace)
{
    static const struct option longopts[] = {
        {"fleet", required_argument, NULL, 'f'},
        {"release", required_argument, NULL, 'r'},
        {"plan", required_argument, NULL, 'p'},
        {"seed", required_argument, NULL, 's'},
        {"sensor-manifests", required_argument, NULL, 'm'},
        {"emergency", no_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *fleet_path = NULL, *release_path = NULL, *plan_path = NULL, *manifests = NULL;
    uint64_t seed = 1;
    int emergency = 0, as_json = 0, c;
    (void)workspace;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":C:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fleet_path = optarg; break;
        case 'r': release_path = optarg; break;
        case 'p': plan_path = optarg; break;
        case 'm': manifests = optarg; break;
        case 'e': emergency = 1; break;
        case 'j': as_json = 1; break;
        case 's':
            if (rf_parse_u64(optarg, UINT64_MAX, &seed) != RF_OK)
                return cli_usage_error("plan", "--seed needs a non-negative integer, not '%s'",
                                       optarg);
            break;
        case 'C': break;
        case 'h': return cli_help(usage);
        default: return cli_option_error("plan", argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error("plan", "unexpected argument '%s'", argv[optind]);
    if (!fleet_path)
        return cli_usage_error("plan", "--fleet FLEET.yaml is required");
    if (!release_path)
        return cli_usage_error("plan", "--release FILE.rfc is required");
    int ec = cli_check_file(fleet_path, "fleet file");
    if (!ec)
        ec = cli_check_file(release_path, "release");
    if (!ec && plan_path)
        ec = cli_check_file(plan_path, "plan file");
    if (ec)
        return ec;

    rf_err err;
    rf_err_clear(&err);
    rf_channel *ch = NULL;
    rf_fleet *fleet = NULL;
    rf_blast *blast = NULL;
    uint8_t *ok = NULL;
    char *text = NULL;
    rf_plan plan;
    rf_release rel;
    memset(&rel, 0, sizeof(rel));

    rf_rc rc = rf_channel_read_file(release_path, &ch, &err);
    if (!rc) {
        if (plan_path)
            rc = rf_plan_load(plan_path, &plan, &err);
        else
            rf_plan_default(&plan);
    }
    if (!rc)
        rc = rf_fleet_load(fleet_path, seed, &fleet, &err);
    if (rc) {
        cli_error_rf(&err);
        ec = cli_exit_for_rc(rc);
        goto out;
    }

    ok = calloc(fleet->nsensors, 1);
    if (!ok) {
        cli_error("out of memory");
        ec = RF_EXIT_USAGE;
        goto out;
    }
    uint32_t need = rf_channel_inputs_required(ch);
    ec = sensors_ok(fleet, ch, need, manifests, ok);
    if (ec)
        goto out;
    snprintf(rel.channel, sizeof(rel.channel), "%u", ch->channel);
    rel.content_version = ch->content_version;
    rel.last_good_version = ch->content_version > 1 ? ch->content_version - 1 : 0;
    rel.inputs_required = need;
    rel.sensor_ok = ok;
    rel.emergency = emergency;

    const rf_blast_names names = {
        .release_file = release_path,
        .template_type = ch->template_type,
        .fleet_file = fleet_path,
        .plan_file = plan_path,
        .sensors_from_manifests = manifests != NULL,
    };
    rc = rf_blast_compute(&plan, fleet, &rel, seed, &names, &blast, &err);
    if (!rc && as_json)
        rc = rf_blast_to_json(blast, &text, &err);
    if (rc) {
        cli_error_rf(&err);
        ec = cli_exit_for_rc(rc);
        goto out;
    }
    if (as_json) {
        fputs(text, stdout);
        fputc('\n', stdout);
    } else {
        rf_blast_print(blast, stdout);
    }
    ec = RF_EXIT_OK;

out:
    free(text);
    rf_blast_free(blast);
    free(ok);
    rf_fleet_free(fleet);
    rf_channel_free(ch);
    return ec;
}
