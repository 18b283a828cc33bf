/*
 * ringfence-tuf-client — libringfence's TUF client behind the command-line
 * protocol that TUF conformance suites use to drive a client under test:
 *
 *   ringfence-tuf-client --metadata-dir DIR init TRUSTED_ROOT
 *   ringfence-tuf-client --metadata-dir DIR --metadata-url URL refresh
 *   ringfence-tuf-client --metadata-dir DIR --metadata-url URL
 *       --target-name PATH [--target-name PATH...] --target-base-url URL
 *       --target-dir DIR download
 *
 * Options may come in any order, before or after the command. Exit 0 on
 * success, 1 on any failure, a command line it cannot use included. The
 * program is linked dynamically on purpose, so that a time-faking preload
 * library can move its clock in tests.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringfence/ringfence.h"
#include "ringfence/tuf.h"

#define MAX_TARGET_NAMES 256

static void usage(FILE *f)
{
    fputs("usage:\n"
          "  ringfence-tuf-client --metadata-dir DIR init TRUSTED_ROOT\n"
          "  ringfence-tuf-client --metadata-dir DIR --metadata-url URL refresh\n"
          "  ringfence-tuf-client --metadata-dir DIR --metadata-url URL\n"
          "      --target-name PATH [--target-name PATH ...]\n"
          "      --target-base-url URL --target-dir DIR download\n"
          "\n"
          "options:\n"
          "  --metadata-dir DIR       trusted metadata (root.json, timestamp.json, ...)\n"
          "  --metadata-url URL       the repository's metadata\n"
          "  --target-name PATH       a target to download (repeatable; in order)\n"
          "  --target-base-url URL    the repository's targets\n"
          "  --target-dir DIR         where downloaded targets are written\n"
          "  --request-timeout SECS   limit for one download (default 30)\n"
          "  --total-timeout SECS     limit for one refresh or target (default 300)\n"
          "  -h, --help               this text\n"
          "\n"
          "exit status: 0 success, 1 any failure (a bad command line included)\n",
          f);
}

static void fail(const char *what, const rf_err *err)
{
    char buf[RF_ERR_FILE_MAX + RF_ERR_MSG_MAX + 64];
    rf_err_format(err, buf, sizeof(buf));
    fprintf(stderr, "ringfence-tuf-client: %s: %s\n", what, buf);
}

static int parse_secs(const char *s, uint64_t *ms)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 86400)
        return 0;
    *ms = v * 1000ull;
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"metadata-dir", required_argument, NULL, 'm'},
        {"metadata-url", required_argument, NULL, 'u'},
        {"target-name", required_argument, NULL, 'n'},
        {"target-base-url", required_argument, NULL, 'b'},
        {"target-dir", required_argument, NULL, 'd'},
        {"request-timeout", required_argument, NULL, 'r'},
        {"total-timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    rf_tuf_client_opts o;
    rf_tuf_client_opts_default(&o);
    const char *names[MAX_TARGET_NAMES];
    size_t nnames = 0;
    const char *target_dir = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': o.metadata_dir = optarg; break;
        case 'u': o.metadata_url = optarg; break;
        case 'b': o.target_base_url = optarg; break;
        case 'd': target_dir = optarg; break;
        case 'n':
            if (nnames == MAX_TARGET_NAMES) {
                fprintf(stderr, "ringfence-tuf-client: at most %d --target-name\n",
                        MAX_TARGET_NAMES);
                return 1;
            }
            names[nnames++] = optarg;
            break;
        case 'r':
        case 't':
            if (!parse_secs(optarg, c == 'r' ? &o.request_timeout_ms : &o.total_timeout_ms)) {
                fprintf(stderr, "ringfence-tuf-client: bad timeout \"%s\" (1..86400 s)\n",
                        optarg);
                return 1;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "ringfence-tuf-client: %s needs a value\n", argv[optind - 1]);
            return 1;
        default:
            fprintf(stderr, "ringfence-tuf-client: unknown option %s\n", argv[optind - 1]);
            usage(stderr);
            return 1;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[optind];
    if (!o.metadata_dir) {
        fprintf(stderr, "ringfence-tuf-client: --metadata-dir is required\n");
        return 1;
    }
    rf_err err;
    rf_err_clear(&err);

    if (strcmp(cmd, "init") == 0) {
        if (argc - optind != 2) {
            fprintf(stderr, "ringfence-tuf-client: init takes one TRUSTED_ROOT file\n");
            return 1;
        }
        if (rf_tuf_client_init(o.metadata_dir, argv[optind + 1], &err) != RF_OK) {
            fail("init", &err);
            return 1;
        }
        return 0;
    }
    if (strcmp(cmd, "refresh") != 0 && strcmp(cmd, "download") != 0) {
        fprintf(stderr, "ringfence-tuf-client: unknown command \"%s\"\n", cmd);
        return 1;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "ringfence-tuf-client: %s takes no arguments\n", cmd);
        return 1;
    }
    if (!o.metadata_url) {
        fprintf(stderr, "ringfence-tuf-client: %s needs --metadata-url\n", cmd);
        return 1;
    }
    int download = strcmp(cmd, "download") == 0;
    if (download && (nnames == 0 || !o.target_base_url || !target_dir)) {
        fprintf(stderr, "ringfence-tuf-client: download needs --target-name, "
                        "--target-base-url and --target-dir\n");
        return 1;
    }

    rf_tuf_client *cl = NULL;
    if (rf_tuf_client_new(&o, &cl, &err) != RF_OK) {
        fail("loading trusted metadata", &err);
        return 1;
    }
    int status = 0;
    if (rf_tuf_client_refresh(cl, &err) != RF_OK) {
        fail("refresh", &err);
        status = 1;
    }
    for (size_t i = 0; download && status == 0 && i < nnames; i++) {
        rf_tuf_target *t = NULL;
        char *path = NULL;
        if (rf_tuf_client_find_target(cl, names[i], &t, &err) != RF_OK ||
            rf_tuf_client_download(cl, t, target_dir, &path, &err) != RF_OK) {
            fail(names[i], &err);
            status = 1;
        }
        free(path);
        rf_tuf_target_free(t);
    }
    rf_tuf_client_free(cl);
    return status;
}
