/*
 * cmd_compile.c — `ringfence compile CHANNEL.yaml [-o OUT.rfc]`: compile a
 * channel source against the workspace's template types into a channel file.
 *
 * The bytes are read back with rf_channel_read (the one reader every
 * consumer uses) before they are written, so the tool never writes a file
 * that the fleet's reader would refuse. The file is written atomically
 * (write, fsync, rename). Compiling does not validate: `ringfence validate`
 * decides whether content may ship.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ringfence/channel.h"
#include "ringfence/compile.h"
#include "ringfence/util.h"

static const char usage[] =
    "usage: ringfence [-C DIR] compile CHANNEL.yaml [-o OUT.rfc]\n"
    "\n"
    "Compile a channel source (kind: Channel) into a channel file. Field names\n"
    "are resolved through the template types of the workspace. Identical\n"
    "input gives byte-identical output. The file is written atomically; it is\n"
    "read back with the fleet's reader first. Compiling does not validate:\n"
    "run 'ringfence validate' before releasing anything.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   where to write (default: CHANNEL with .yaml\n"
    "                      replaced by .rfc)\n"
    "  -C DIR              the workspace (default: the current directory)\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit codes: 0 written, 1 the source is invalid, 2 usage or I/O error.\n"
    "\n"
    "Example:\n"
    "  ringfence -C examples/channel-291 compile \\\n"
    "      examples/channel-291/channels/c291-v4.yaml -o c291-v4.rfc\n";

/* OUT path for CHANNEL: ".yaml"/".yml" replaced by ".rfc". Caller frees. */
static char *default_output(const char *src)
{
    size_t n = strlen(src);
    size_t base = n;
    if (n > 5 && strcmp(src + n - 5, ".yaml") == 0)
        base = n - 5;
    else if (n > 4 && strcmp(src + n - 4, ".yml") == 0)
        base = n - 4;
    char *out = malloc(base + 5);
    if (!out)
        return NULL;
    memcpy(out, src, base);
    memcpy(out + base, ".rfc", 5);
    return out;
}

int cmd_compile(int argc, char **argv, const char *workspace)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out_path = NULL;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:C:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'C': workspace = optarg; break;
        case 'h': return cli_help(usage);
        default: return cli_option_error("compile", argv, c);
        }
    }
    if (argc - optind != 1)
        return cli_usage_error("compile", "expected one CHANNEL.yaml, got %d arguments",
                               argc - optind);
    const char *src = argv[optind];
    if (out_path && !out_path[0])
        return cli_usage_error("compile", "-o needs a file name");

    int ec = cli_check_file(src, "channel source");
    if (ec)
        return ec;

    rf_workspace *ws = NULL;
    rf_channel *ch = NULL;
    rf_channel *back = NULL;
    uint8_t *bytes = NULL;
    size_t nbytes = 0;
    char *dflt = NULL;
    rf_err err;
    rf_err_clear(&err);

    ec = cli_load_workspace(workspace, &ws);
    if (ec)
        goto out;

    rf_rc rc = rf_compile_file(ws, src, &ch, &err);
    if (rc != RF_OK) {
        cli_error_rf(&err);
        ec = cli_exit_for_rc(rc);
        goto out;
    }
    rc = rf_channel_write(ch, &bytes, &nbytes, &err);
    if (rc != RF_OK) {
        cli_error_rf(&err);
        ec = cli_exit_for_rc(rc);
        goto out;
    }
    rc = rf_channel_read(bytes, nbytes, src, &back, &err);
    if (rc != RF_OK) {
        /* The writer produced bytes the reader refuses: a library bug. */
        cli_error("%s: internal error: the compiled file does not read back", src);
        cli_error_rf(&err);
        ec = RF_EXIT_USAGE;
        goto out;
    }

    if (!out_path) {
        dflt = default_output(src);
        if (!dflt) {
            cli_error("out of memory");
            ec = RF_EXIT_USAGE;
            goto out;
        }
        out_path = dflt;
    }
    rc = rf_file_write_atomic(out_path, bytes, nbytes, 0644, &err);
    if (rc != RF_OK) {
        cli_error_rf(&err);
        ec = RF_EXIT_USAGE;
        goto out;
    }

    uint8_t digest[32];
    char hex[65];
    rf_sha256(bytes, nbytes, digest);
    rf_hex(digest, sizeof(digest), hex);
    printf("wrote ");
    cli_puts_safe(stdout, out_path);
    printf(" (%u instance%s, %zu bytes, sha256 %s)\n", back->ninstances,
           back->ninstances == 1 ? "" : "s", nbytes, hex);
    ec = RF_EXIT_OK;

out:
    free(dflt);
    free(bytes);
    rf_channel_free(back);
    rf_channel_free(ch);
    rf_workspace_free(ws);
    return ec;
}
