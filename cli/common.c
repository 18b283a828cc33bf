/*
 * common.c — the helpers every ringfence command shares (common.h). They
 * keep the tool's promises in one place: every error is one line starting
 * with "ringfence:", an I/O or usage problem exits 2 and bad content exits 1,
 * and nothing read from a file can put control characters on the terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

RF_PRINTF(2, 0)
static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
    char buf[CLI_ERRBUF];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    fputs("ringfence: ", stderr);
    fputs(prefix, stderr);
    cli_puts_safe(stderr, buf);
    fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("", fmt, ap);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("warning: ", fmt, ap);
    va_end(ap);
}

void cli_error_rf(const rf_err *err)
{
    char buf[CLI_ERRBUF];
    rf_err_format(err, buf, sizeof(buf));
    if (!buf[0])
        snprintf(buf, sizeof(buf), "%s", rf_strerror(err ? err->rc : RF_E_INTERNAL));
    cli_error("%s", buf);
}

int cli_exit_for_rc(rf_rc rc)
{
    switch (rc) {
    case RF_OK:
        return RF_EXIT_OK;
    case RF_E_NOMEM:
    case RF_E_IO:
    case RF_E_USAGE:
    case RF_E_INTERNAL:
        return RF_EXIT_USAGE;
    case RF_E_PARSE:
    case RF_E_SCHEMA:
    case RF_E_FORMAT:
    case RF_E_CHECKSUM:
    case RF_E_CAPABILITY:
    case RF_E_PATTERN:
    case RF_E_LIMIT:
    case RF_E_NOTFOUND:
    case RF_E_INPUT:
    case RF_E_REJECTED:
    case RF_E_UNSUPPORTED:
    case RF_E_SIGNATURE:
    case RF_E_EXPIRED:
    case RF_E_ROLLBACK:
        return RF_EXIT_REJECTED;
    case RF_E_NETWORK:
        return RF_EXIT_USAGE;
    }
    return RF_EXIT_USAGE;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char buf[CLI_ERRBUF];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "ringfence %s: ", cmd);
    cli_puts_safe(stderr, buf);
    fprintf(stderr, " (see 'ringfence %s --help')\n", cmd);
    return RF_EXIT_USAGE;
}

int cli_option_error(const char *cmd, char **argv, int c)
{
    const char *arg = optind >= 1 ? argv[optind - 1] : "";
    if (c == ':') {
        if (optopt && optopt < 128)
            return cli_usage_error(cmd, "option -%c needs a value", optopt);
        return cli_usage_error(cmd, "option '%s' needs a value", arg);
    }
    if (optopt && optopt < 128)
        return cli_usage_error(cmd, "unknown option -%c", optopt);
    return cli_usage_error(cmd, "unknown option '%s'", arg);
}

int cli_check_file(const char *path, const char *what)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        cli_error("%s: cannot open %s: %s", path, what, strerror(errno));
        return RF_EXIT_USAGE;
    }
    struct stat st;
    int rc = fstat(fd, &st);
    int e = errno;
    close(fd);
    if (rc != 0) {
        cli_error("%s: cannot stat %s: %s", path, what, strerror(e));
        return RF_EXIT_USAGE;
    }
    if (S_ISDIR(st.st_mode)) {
        cli_error("%s: %s is a directory, not a file", path, what);
        return RF_EXIT_USAGE;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_error("%s: %s is not a regular file", path, what);
        return RF_EXIT_USAGE;
    }
    return 0;
}

int cli_check_dir(const char *path, const char *what)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_error("%s: cannot use %s: %s", path, what, strerror(errno));
        return RF_EXIT_USAGE;
    }
    if (!S_ISDIR(st.st_mode)) {
        cli_error("%s: %s is not a directory", path, what);
        return RF_EXIT_USAGE;
    }
    if (access(path, R_OK | X_OK) != 0) {
        cli_error("%s: cannot read %s: %s", path, what, strerror(errno));
        return RF_EXIT_USAGE;
    }
    return 0;
}

int cli_load_workspace(const char *dir, rf_workspace **out)
{
    int ec = cli_check_dir(dir, "workspace directory");
    if (ec)
        return ec;
    rf_err err;
    rf_err_clear(&err);
    rf_workspace *ws = NULL;
    rf_rc rc = rf_workspace_load(dir, &ws, &err);
    if (rc != RF_OK) {
        cli_error_rf(&err);
        return cli_exit_for_rc(rc);
    }
    *out = ws;
    return 0;
}

int cli_use_color(FILE *f)
{
    const char *no = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    if (no && no[0])
        return 0;
    if (term && strcmp(term, "dumb") == 0)
        return 0;
    return isatty(fileno(f));
}

void cli_put_safe(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
}

void cli_puts_safe(FILE *f, const char *s)
{
    if (s)
        cli_put_safe(f, s, strlen(s));
}

int cli_finish_output(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        /* A reader that went away (EPIPE) is not worth a message. */
        if (errno != EPIPE)
            cli_error("cannot write to standard output: %s", strerror(errno));
        if (rc == RF_EXIT_OK)
            rc = RF_EXIT_USAGE;
    }
    return rc;
}

int cli_help(const char *usage)
{
    fputs(usage, stdout);
    return RF_EXIT_OK;
}

int cli_subcommand(const char *cmd, const char *usage, const cli_subcmd *subs, size_t n,
                   int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return RF_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0)
        return cli_help(usage);
    for (size_t i = 0; i < n; i++)
        if (strcmp(sub, subs[i].name) == 0)
            return subs[i].fn(argc - 1, argv + 1);
    char names[512];
    size_t len = 0;
    names[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "", subs[i].name);
        if (w < 0 || (size_t)w >= sizeof(names) - len)
            break; /* a longer list is cut short; the usage text has them all */
        len += (size_t)w;
    }
    return cli_usage_error(cmd, "unknown subcommand '%s' (%s)", sub, names);
}

/* ---- validator report printers ---- */

#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_DIM "\033[2m"
#define C_BOLD "\033[1m"
#define C_OFF "\033[0m"

void cli_print_stages(FILE *f, const rf_report *r, int color)
{
    for (int s = 0; s < RF_STAGE_COUNT; s++) {
        rf_stage_status st = rf_report_stage_status(r, (rf_stage)s);
        const char *mark, *word, *c;
        switch (st) {
        case RF_STATUS_PASS: mark = "✓"; word = "pass"; c = C_GREEN; break;
        case RF_STATUS_FAIL: mark = "✗"; word = "FAIL"; c = C_RED; break;
        case RF_STATUS_SKIPPED: mark = "–"; word = "skipped"; c = C_YELLOW; break;
        case RF_STATUS_NOT_RUN:
        default: mark = "·"; word = "not run"; c = C_DIM; break;
        }
        fprintf(f, "  %s%s %-12s %-8s%s", color ? c : "", mark,
                rf_stage_name((rf_stage)s), word, color ? C_OFF : "");
        const char *sum = rf_report_stage_summary(r, (rf_stage)s);
        if (sum && sum[0]) {
            fputc(' ', f);
            cli_puts_safe(f, sum);
        }
        fputc('\n', f);
    }
}

/*
 * Split a message that already starts with its own location
 * ("FILE:12:5: text" or "FILE: at byte 9: text") into that location and the
 * text, so every finding line reads "location: [stage] text" whichever way
 * the library phrased it. Returns the length of the location prefix (without
 * the ": ") or 0.
 */
static size_t embedded_location(const char *msg, const char *file)
{
    if (!file || !file[0])
        return 0;
    size_t n = strlen(file);
    if (strncmp(msg, file, n) != 0 || msg[n] != ':')
        return 0;
    const char *p = msg + n;
    while (p[0] == ':' && p[1] >= '0' && p[1] <= '9') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (p[0] == ':' && p[1] == ' ')
        return (size_t)(p - msg);
    return 0;
}

static void print_finding(FILE *f, const rf_finding *fd, const char *path, int color,
                          const char *indent)
{
    fputs(indent, f);
    const char *file = fd->file && fd->file[0] ? fd->file : path;
    const char *msg = fd->message ? fd->message : "";
    size_t loc = embedded_location(msg, file);
    if (!loc && file != path)
        loc = embedded_location(msg, path);
    if (loc) {
        cli_put_safe(f, msg, loc);
        msg += loc + 2;
    } else {
        cli_puts_safe(f, file);
        if (fd->line)
            fprintf(f, ":%u", fd->line);
    }
    const char *c = fd->error ? C_RED : C_YELLOW;
    fprintf(f, ": %s[%s]%s %s", color ? c : "", rf_stage_name(fd->stage),
            color ? C_OFF : "", fd->error ? "" : "note: ");
    cli_puts_safe(f, msg);
    fputc('\n', f);
}

uint32_t cli_print_findings(FILE *f, const rf_report *r, const char *path, int color,
                            uint32_t stage_mask, int errors_only, const char *sensor,
                            const char *indent)
{
    uint32_t n = rf_report_nfindings(r), printed = 0;
    for (int pass = 1; pass >= 0; pass--) { /* errors first, then notes */
        if (pass == 0 && errors_only)
            break;
        for (uint32_t i = 0; i < n; i++) {
            rf_finding fd;
            if (rf_report_finding(r, i, &fd) != RF_OK)
                continue;
            if ((fd.error ? 1 : 0) != pass)
                continue;
            if ((unsigned)fd.stage >= RF_STAGE_COUNT ||
                !(stage_mask & (1u << (unsigned)fd.stage)))
                continue;
            if (sensor && !sensor[0] && fd.sensor_version && fd.sensor_version[0])
                continue;
            if (sensor && sensor[0] &&
                (!fd.sensor_version || strcmp(fd.sensor_version, sensor) != 0))
                continue;
            print_finding(f, &fd, path, color, indent ? indent : "");
            printed++;
        }
    }
    return printed;
}

void cli_print_verdict(FILE *f, const rf_report *r, int color)
{
    uint32_t n = rf_report_nfindings(r), errors = 0;
    for (uint32_t i = 0; i < n; i++) {
        rf_finding fd;
        if (rf_report_finding(r, i, &fd) == RF_OK && fd.error)
            errors++;
    }
    if (rf_report_passed(r))
        fprintf(f, "verdict: %sACCEPTED%s\n", color ? C_BOLD C_GREEN : "",
                color ? C_OFF : "");
    else
        fprintf(f, "verdict: %sREJECTED%s (%u error%s)\n", color ? C_BOLD C_RED : "",
                color ? C_OFF : "", errors, errors == 1 ? "" : "s");
}
