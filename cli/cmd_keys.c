/*
 * cmd_keys.c — `ringfence keys gen|id`: make a TUF signing key pair, and
 * show the key id of a key file.
 *
 * A private key is created with open(O_CREAT|O_EXCL, 0600): it is never
 * readable by others for a moment, and an existing file (perhaps the only
 * copy of a root key) is never overwritten. The public half goes to
 * NAME.pub as one line of JSON, the form `ringfence repo` takes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "ringfence/tuf.h"
#include "ringfence/tuf_repo.h"
#include "ringfence/util.h"

static const char usage[] =
    "usage: ringfence keys gen [--type ed25519|ecdsa|rsa] -o NAME\n"
    "       ringfence keys id FILE...\n"
    "\n"
    "gen: make a key pair for signing TUF metadata. NAME receives the private\n"
    "key (PKCS#8 PEM, created with mode 0600; an existing file is never\n"
    "overwritten) and NAME.pub the public key object (one line of JSON), which\n"
    "'ringfence repo' takes wherever a public key is asked for. The key id is\n"
    "printed. Keep root and targets keys offline (removable media, an HSM).\n"
    "\n"
    "id: print the key id of each public (NAME.pub) or private key file.\n"
    "\n"
    "Options:\n"
    "  -t, --type TYPE     ed25519 (default), ecdsa (ecdsa-sha2-nistp256) or rsa\n"
    "                      (rsassa-pss-sha256, 3072 bits)\n"
    "  -o, --output NAME   the private key file; the public key is NAME.pub\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit codes: 0 done, 1 a key file is not a usable key, 2 usage or I/O error\n"
    "(including an existing NAME or NAME.pub).\n"
    "\n"
    "Example:\n"
    "  ringfence keys gen --type ed25519 -o /media/offline/root-alice\n";

/* Canonical JSON leaves the newlines of a PEM key raw inside strings; a
 * .pub file is one line of strict JSON, so control bytes inside strings are
 * escaped (the value, hence the key id, is unchanged). Caller frees. */
static char *one_line(const char *canon)
{
    rf_buf b;
    rf_buf_init(&b);
    int in_str = 0;
    for (const char *p = canon; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (in_str && c == '\\' && p[1]) {
            rf_buf_append(&b, p, 2);
            p++;
            continue;
        }
        if (c == '"')
            in_str = !in_str;
        if (c == '\n')
            rf_buf_append(&b, "\\n", 2);
        else if (c < 0x20)
            rf_buf_printf(&b, "\\u%04x", c);
        else
            rf_buf_append(&b, &c, 1);
    }
    rf_buf_append(&b, "\n", 1);
    return rf_buf_take(&b);
}

/* Create path (must not exist) with mode and write data; fsync. */
static int write_new(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            cli_error("%s: already exists; a key file is never overwritten (choose another "
                      "name or move it away)", path);
        else
            cli_error("%s: cannot create: %s", path, strerror(errno));
        return RF_EXIT_USAGE;
    }
    /* The umask may have taken bits away, never added them; make the mode exact. */
    if (fchmod(fd, mode) != 0) {
        cli_error("%s: cannot set mode: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return RF_EXIT_USAGE;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            cli_error("%s: cannot write: %s", path, strerror(errno));
            close(fd);
            unlink(path);
            return RF_EXIT_USAGE;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        cli_error("%s: cannot write: %s", path, strerror(errno));
        unlink(path);
        return RF_EXIT_USAGE;
    }
    return 0;
}

static int keys_gen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *type = "ed25519", *name = NULL;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":t:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 't': type = optarg; break;
        case 'o': name = optarg; break;
        case 'h': return cli_help(usage);
        default: return cli_option_error("keys gen", argv, c);
        }
    }
    if (optind != argc)
        return cli_usage_error("keys gen", "unexpected argument '%s'", argv[optind]);
    if (!name || !name[0])
        return cli_usage_error("keys gen", "-o NAME is required");
    rf_tuf_keytype kt;
    if (rf_tuf_keytype_parse(type, &kt) != RF_OK)
        return cli_usage_error("keys gen", "unknown key type '%s' (ed25519, ecdsa or rsa)", type);

    rf_buf pb;
    rf_buf_init(&pb);
    rf_buf_printf(&pb, "%s.pub", name);
    char *pubpath = rf_buf_take(&pb);
    char *priv = NULL, *pub = NULL, *line = NULL;
    char kid[65];
    int ec = RF_EXIT_USAGE;
    rf_err err;
    rf_err_clear(&err);
    if (!pubpath) {
        cli_error("out of memory");
        goto out;
    }
    /* Refuse before generating anything if either file is there. */
    struct stat st;
    if (lstat(name, &st) == 0 || lstat(pubpath, &st) == 0) {
        cli_error("%s: already exists; a key file is never overwritten (choose another name "
                  "or move it away)",
                  lstat(name, &st) == 0 ? name : pubpath);
        goto out;
    }
    rf_rc rc = rf_tuf_keygen(kt, &priv, &pub, kid, &err);
    if (rc != RF_OK) {
        cli_error_rf(&err);
        ec = cli_exit_for_rc(rc);
        goto out;
    }
    line = one_line(pub);
    if (!line) {
        cli_error("out of memory");
        goto out;
    }
    ec = write_new(name, priv, strlen(priv), 0600);
    if (ec)
        goto out;
    ec = write_new(pubpath, line, strlen(line), 0644);
    if (ec) {
        unlink(name); /* no private key without its public half */
        goto out;
    }
    printf("wrote ");
    cli_puts_safe(stdout, name);
    printf(" (private %s key, mode 0600) and ", type);
    cli_puts_safe(stdout, pubpath);
    printf("\nkeyid %s\n", kid);
    ec = RF_EXIT_OK;
out:
    if (priv) {
        /* Do not leave private key bytes in freed memory. */
        volatile char *v = priv;
        for (size_t i = 0; v[i]; i++)
            v[i] = 0;
    }
    free(priv);
    free(pub);
    free(line);
    free(pubpath);
    return ec;
}

static int keys_id(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
        return cli_help(usage);
    if (argc < 2)
        return cli_usage_error("keys id", "give one or more key files");
    int worst = RF_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        int ec = cli_check_file(f, "key file");
        if (ec) {
            worst = ec;
            continue;
        }
        rf_err err;
        rf_err_clear(&err);
        uint8_t *buf = NULL;
        size_t len = 0;
        char kid[65];
        rf_rc rc = rf_file_read(f, 1024 * 1024, &buf, &len, &err);
        if (rc == RF_OK && len > 10 && memcmp(buf, "-----BEGIN", 10) == 0) {
            rf_tuf_signer *s = NULL;
            rc = rf_tuf_signer_load(f, &s, &err);
            if (rc == RF_OK)
                memcpy(kid, rf_tuf_signer_keyid(s), 65);
            rf_tuf_signer_free(s);
        } else if (rc == RF_OK) {
            rc = rf_tuf_repo_keyid((const char *)buf, kid, &err);
        }
        free(buf);
        if (rc != RF_OK) {
            if (!err.file[0])
                snprintf(err.file, sizeof(err.file), "%s", f);
            cli_error_rf(&err);
            int e = cli_exit_for_rc(rc);
            if (e > worst)
                worst = e;
            continue;
        }
        printf("%s  ", kid);
        cli_puts_safe(stdout, f);
        fputc('\n', stdout);
    }
    return worst;
}

int cmd_keys(int argc, char **argv, const char *workspace)
{
    (void)workspace;
    static const cli_subcmd subs[] = {{"gen", keys_gen}, {"id", keys_id}};
    return cli_subcommand("keys", usage, subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
