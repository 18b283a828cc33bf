/*
 * cli.h — what the files of the `ringfence` command share: exit codes and
 * the entry point of each command. Each cmd_<name>.c implements one command
 * over the public API of libringfence only.
 */
#ifndef RINGFENCE_CLI_H
#define RINGFENCE_CLI_H

/* Exit codes of every ringfence command (DESIGN.md). */
#define RF_EXIT_OK 0       /* success */
#define RF_EXIT_REJECTED 1 /* content or metadata rejected or invalid */
#define RF_EXIT_USAGE 2    /* usage or I/O error */

/*
 * Each command gets argc/argv with argv[0] = the command's name ("bench"),
 * the global options (-C DIR) already removed and `workspace` set to the
 * workspace directory (default "."). Returns an RF_EXIT_* code.
 */
int cmd_init(int argc, char **argv, const char *workspace);
int cmd_compile(int argc, char **argv, const char *workspace);
int cmd_validate(int argc, char **argv, const char *workspace);
int cmd_test(int argc, char **argv, const char *workspace);
int cmd_inspect(int argc, char **argv, const char *workspace);
int cmd_eval(int argc, char **argv, const char *workspace);
int cmd_bench(int argc, char **argv, const char *workspace);
int cmd_keys(int argc, char **argv, const char *workspace);
int cmd_repo(int argc, char **argv, const char *workspace);
int cmd_plan(int argc, char **argv, const char *workspace);
int cmd_sim(int argc, char **argv, const char *workspace);
int cmd_audit(int argc, char **argv, const char *workspace);

#endif
