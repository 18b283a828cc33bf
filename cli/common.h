/*
 * common.h — helpers the ringfence commands share: one-line error messages
 * in the "ringfence: <detail>" form, the mapping from rf_rc to exit codes,
 * option-error reporting for getopt_long, input checks that tell an I/O
 * problem (exit 2) from bad content (exit 1), workspace loading, terminal
 * detection for colour, and safe printing of untrusted strings.
 */
#ifndef RINGFENCE_CLI_COMMON_H
#define RINGFENCE_CLI_COMMON_H

#include <stdio.h>

#include "ringfence/ringfence.h"
#include "ringfence/schema.h"
#include "ringfence/validate.h"

#include "cli.h"

/* Room for rf_err_format() output: a path, a location and a message. */
#define CLI_ERRBUF (RF_ERR_FILE_MAX + RF_ERR_MSG_MAX + 64)

/* "ringfence: <message>" on stderr, on one line. */
void cli_error(const char *fmt, ...) RF_PRINTF(1, 2);

/* "ringfence: <rf_err_format(err)>" on stderr, on one line. */
void cli_error_rf(const rf_err *err);

/* Warning, same shape: "ringfence: warning: <message>". */
void cli_warn(const char *fmt, ...) RF_PRINTF(1, 2);

/*
 * The exit code for a library result: RF_EXIT_USAGE for I/O, usage, memory
 * and internal errors (ringfence could not do its job), RF_EXIT_REJECTED for
 * everything that says the content is bad.
 */
int cli_exit_for_rc(rf_rc rc);

/*
 * A usage error of command `cmd`: prints "ringfence CMD: <message>" and a
 * pointer to --help on stderr; returns RF_EXIT_USAGE.
 */
int cli_usage_error(const char *cmd, const char *fmt, ...) RF_PRINTF(2, 3);

/*
 * Report the option error getopt_long just returned ('?' or ':') for command
 * `cmd`. Needs opterr = 0 and an optstring starting with ':'. Returns
 * RF_EXIT_USAGE.
 */
int cli_option_error(const char *cmd, char **argv, int c);

/*
 * Check that `path` is a readable regular file before handing it to the
 * library, so a missing file, a directory or an unreadable file is an I/O
 * error (exit 2) rather than rejected content. `what` names the argument in
 * the message. Returns 0 or RF_EXIT_USAGE (message printed).
 */
int cli_check_file(const char *path, const char *what);

/* Same for a directory that must exist and be searchable. */
int cli_check_dir(const char *path, const char *what);

/*
 * Load the workspace at `dir` (types/ and sensors/). Returns 0 and sets
 * *out (caller frees with rf_workspace_free) or an exit code after printing
 * the error.
 */
int cli_load_workspace(const char *dir, rf_workspace **out);

/* 1 when colour may be used on f: a terminal, NO_COLOR unset, TERM not dumb. */
int cli_use_color(FILE *f);

/*
 * Print s (len bytes) so that it stays on one line and cannot drive the
 * terminal: control bytes and DEL become \xNN, newlines \n. Everything else,
 * UTF-8 included, is written as is.
 */
void cli_put_safe(FILE *f, const char *s, size_t len);

/* Same, NUL-terminated; NULL prints nothing. */
void cli_puts_safe(FILE *f, const char *s);

/*
 * Flush stdout and turn a write error (full disk, closed pipe) into an exit
 * code: returns rc, or RF_EXIT_USAGE if output was lost while rc was 0.
 */
int cli_finish_output(int rc);

/* Every stage, as a mask for the printers below. */
#define CLI_STAGES_ALL ((1u << RF_STAGE_COUNT) - 1u)

/*
 * Validator report printers, shared by `validate` and `test`. Colour codes
 * are written only when `color` is set.
 *
 * cli_print_stages: one line per stage: mark, name, status, summary.
 * cli_print_findings: findings of the stages in `stage_mask` (and, when
 *   `sensor` is not NULL, of that sensor only; "" selects the findings that
 *   name no sensor), errors first, each as "file:line[:col]: [stage]
 *   message" after `indent` (may be NULL); notes only when !errors_only.
 *   `path` is the location used when a finding names no file. Returns the
 *   number of lines printed.
 * cli_print_verdict: "verdict: ACCEPTED" or "verdict: REJECTED (N errors)".
 */
void cli_print_stages(FILE *f, const rf_report *r, int color);
uint32_t cli_print_findings(FILE *f, const rf_report *r, const char *path, int color,
                            uint32_t stage_mask, int errors_only, const char *sensor,
                            const char *indent);
void cli_print_verdict(FILE *f, const rf_report *r, int color);

/* Handle -h/--help: print `usage` to stdout. Returns RF_EXIT_OK. */
int cli_help(const char *usage);

/* One subcommand of a command with subcommands ("keys gen", "repo init"). */
typedef struct cli_subcmd {
    const char *name;
    int (*fn)(int argc, char **argv); /* argv[0] is the subcommand's name */
} cli_subcmd;

/*
 * Run the subcommand argv[1] of command cmd ("keys", "repo") from subs (n
 * entries): no subcommand prints usage to stderr (RF_EXIT_USAGE); -h, --help
 * or help prints it to stdout; an unknown name is a usage error listing the
 * names of subs in their order. Returns the exit code.
 */
int cli_subcommand(const char *cmd, const char *usage, const cli_subcmd *subs, size_t n,
                   int argc, char **argv);

#endif
