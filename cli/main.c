/*
 * main.c — the `ringfence` command: global options (-C DIR, --help,
 * --version), then dispatch to one command (cmd_<name>.c). Each command
 * parses its own options with getopt_long and returns an exit code:
 * 0 success, 1 content rejected or invalid, 2 usage or I/O error.
 *
 * SIGPIPE is ignored so that a closed output pipe is a write error (exit 2)
 * and never a signal: no input may end a ringfence process with a signal.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "ringfence/ringfence.h"

typedef int (*cmd_fn)(int argc, char **argv, const char *workspace);

static const struct command {
    const char *name;
    cmd_fn fn;
    const char *summary;
} commands[] = {
    {"init", cmd_init, "create a new content workspace with an example of each document"},
    {"compile", cmd_compile, "compile a channel source (YAML) into a channel file (.rfc)"},
    {"validate", cmd_validate, "run the Content Validator: every stage, a verdict"},
    {"test", cmd_test, "run a channel's embedded tests against every sensor manifest"},
    {"inspect", cmd_inspect, "show what a channel file contains"},
    {"eval", cmd_eval, "evaluate recorded events with the interpreter of one sensor"},
    {"bench", cmd_bench, "measure interpreter throughput on synthetic content"},
    {"keys", cmd_keys, "make TUF signing keys (ed25519, ecdsa, rsa); show key ids"},
    {"repo", cmd_repo, "keep, sign and publish the TUF repository agents update from"},
    {"plan", cmd_plan, "show a release's blast radius over a fleet before it starts"},
    {"sim", cmd_sim, "simulate a release over a whole fleet with the rollout engine"},
    {"audit", cmd_audit, "verify or list the control plane's hash-chained audit log"},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ringfence [-C DIR] COMMAND [ARGS...]\n"
            "       ringfence --help | --version\n"
            "       ringfence COMMAND --help\n"
            "\n"
            "ringfence compiles, validates and tests rapid-response content for\n"
            "endpoint sensors, so that content a sensor cannot run never ships.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "Global options:\n"
            "  -C DIR       the content workspace (types/, sensors/, channels/,\n"
            "               corpus/); default: the current directory. File\n"
            "               arguments stay relative to the current directory.\n"
            "               Also accepted after the command name.\n"
            "  -h, --help   this help\n"
            "  --version    print the version\n"
            "\n"
            "Exit codes: 0 success, 1 content rejected or invalid, 2 usage or I/O error.\n"
            "\n"
            "Example:\n"
            "  ringfence -C examples/channel-291 validate \\\n"
            "      examples/channel-291/channels/c291-v5.yaml\n"
            "\n"
            "See ringfence(1).\n");
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);

    const char *workspace = ".";
    int i = 1;
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "-C") == 0) {
            if (i + 1 >= argc) {
                cli_error("option -C needs a directory (see 'ringfence --help')");
                return RF_EXIT_USAGE;
            }
            workspace = argv[i + 1];
            i += 2;
        } else if (strncmp(a, "-C", 2) == 0) {
            workspace = a + 2;
            i++;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return cli_finish_output(RF_EXIT_OK);
        } else if (strcmp(a, "--version") == 0) {
            printf("ringfence %s\n", RF_VERSION_STRING);
            return cli_finish_output(RF_EXIT_OK);
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            cli_error("unknown option '%s' (see 'ringfence --help')", a);
            return RF_EXIT_USAGE;
        } else {
            break;
        }
    }
    if (!workspace[0]) {
        cli_error("option -C needs a directory");
        return RF_EXIT_USAGE;
    }
    if (i >= argc) {
        usage(stderr);
        return RF_EXIT_USAGE;
    }

    /* `ringfence help [COMMAND]` is the same as --help. */
    if (strcmp(argv[i], "help") == 0) {
        if (i + 1 >= argc) {
            usage(stdout);
            return cli_finish_output(RF_EXIT_OK);
        }
        const struct command *hc = find_command(argv[i + 1]);
        if (!hc) {
            cli_error("unknown command '%s' (see 'ringfence --help')", argv[i + 1]);
            return RF_EXIT_USAGE;
        }
        char help[] = "--help";
        char *hargv[] = {argv[i + 1], help, NULL};
        return cli_finish_output(hc->fn(2, hargv, workspace));
    }

    const struct command *c = find_command(argv[i]);
    if (!c) {
        cli_error("unknown command '%s' (see 'ringfence --help')", argv[i]);
        return RF_EXIT_USAGE;
    }
    return cli_finish_output(c->fn(argc - i, argv + i, workspace));
}
