/*
 * cmd_audit.c — `ringfence audit verify|list --db DB`: check the control
 * plane's hash-chained audit log, or print it, straight from the database
 * (SQLite file or PostgreSQL URL) with the store's own reader. Read-only:
 * it never writes to the database, so it can run beside a serving
 * ringfenced.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ringfence/store.h"
#include "ringfence/util.h"

static const char usage[] =
    "usage: ringfence audit verify --db DB\n"
    "       ringfence audit list --db DB [--after SEQ] [--limit N]\n"
    "\n"
    "verify: walk ringfenced's audit log from its first entry and check that\n"
    "every entry's hash recomputes from its fields and the hash before it, and\n"
    "that the sequence numbers have no gap. Prints the number of entries and the\n"
    "newest hash, which can be written down elsewhere to detect a rewrite later.\n"
    "\n"
    "list: print entries (seq, time, actor, action, object, detail), one a line.\n"
    "\n"
    "DB is the server's database: a SQLite file (or sqlite:PATH), or\n"
    "postgresql://USER@HOST:PORT/DATABASE.\n"
    "\n"
    "Exit codes: 0 the chain verifies (list: printed), 1 the chain is broken\n"
    "(the first broken entry is named), 2 usage or I/O error (no such database).\n";

static int open_db(const char *db, rf_store **st)
{
    rf_err err;
    rf_err_clear(&err);
    if (!db)
        return cli_usage_error("audit", "--db DB is required");
    /* A SQLite path must exist: audit never creates a database. */
    if (strncmp(db, "postgres", 8) != 0) {
        const char *path = strncmp(db, "sqlite:", 7) == 0 ? db + 7 : db;
        if (cli_check_file(path, "database"))
            return RF_EXIT_USAGE;
    }
    if (rf_store_open(db, 1, 0, st, &err) != RF_OK) {
        cli_error_rf(&err);
        return cli_exit_for_rc(err.rc);
    }
    return 0;
}

static int parse_opts(const char *sub, int argc, char **argv, const char **db, int64_t *after,
                      int64_t *limit)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"after", required_argument, NULL, 'a'},
                                         {"limit", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': *db = optarg; break;
        case 'a':
            if (!after || rf_parse_i64(optarg, 0, INT64_MAX, after) != RF_OK)
                return cli_usage_error(sub, "--after takes a sequence number");
            break;
        case 'l':
            if (!limit || rf_parse_i64(optarg, 1, INT64_MAX, limit) != RF_OK)
                return cli_usage_error(sub, "--limit takes a positive number");
            break;
        case 'h': return -1;
        default: return cli_option_error(sub, argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error(sub, "unexpected argument '%s'", argv[optind]);
    return 0;
}

static int audit_verify(int argc, char **argv)
{
    const char *db = NULL;
    int rc = parse_opts("audit verify", argc, argv, &db, NULL, NULL);
    if (rc)
        return rc < 0 ? cli_help(usage) : rc;
    rf_store *st = NULL;
    if ((rc = open_db(db, &st)))
        return rc;
    uint64_t n = 0;
    rf_err err;
    rf_err_clear(&err);
    rf_rc r = rf_store_audit_verify(st, &n, &err);
    if (r != RF_OK) {
        cli_error_rf(&err);
        rf_store_close(st);
        return cli_exit_for_rc(r);
    }
    /* The newest hash, to be kept elsewhere. */
    char head[65] = "";
    rf_store_tx *tx;
    if (n && rf_store_begin(st, 0, &tx, &err) == RF_OK) {
        rf_store_audit *a = NULL;
        size_t k = 0;
        if (rf_store_audit_read(tx, (int64_t)n - 1, 1, &a, &k, &err) == RF_OK && k == 1)
            snprintf(head, sizeof(head), "%s", a[0].hash);
        rf_store_audit_free_array(a, k);
        rf_store_rollback(tx);
    }
    printf("audit log of %s: %" PRIu64 " entries, chain intact%s%s\n", db, n,
           head[0] ? "; newest hash " : "", head);
    rf_store_close(st);
    return cli_finish_output(RF_EXIT_OK);
}

static int audit_list(int argc, char **argv)
{
    const char *db = NULL;
    int64_t after = 0, limit = INT64_MAX;
    int rc = parse_opts("audit list", argc, argv, &db, &after, &limit);
    if (rc)
        return rc < 0 ? cli_help(usage) : rc;
    rf_store *st = NULL;
    if ((rc = open_db(db, &st)))
        return rc;
    rf_err err;
    rf_err_clear(&err);
    int64_t printed = 0;
    while (printed < limit) {
        rf_store_tx *tx;
        if (rf_store_begin(st, 0, &tx, &err) != RF_OK)
            break;
        rf_store_audit *a = NULL;
        size_t n = 0;
        int64_t want = limit - printed < 1000 ? limit - printed : 1000;
        rf_rc r = rf_store_audit_read(tx, after, (size_t)want, &a, &n, &err);
        rf_store_rollback(tx);
        if (r != RF_OK)
            break;
        for (size_t i = 0; i < n; i++) {
            printf("%" PRId64 " %" PRId64 " ", a[i].seq, a[i].t);
            cli_puts_safe(stdout, a[i].actor);
            fputs(" | ", stdout);
            cli_puts_safe(stdout, a[i].action);
            fputc(' ', stdout);
            cli_puts_safe(stdout, a[i].object);
            fputc(' ', stdout);
            cli_puts_safe(stdout, a[i].detail);
            fputc('\n', stdout);
            after = a[i].seq;
        }
        printed += (int64_t)n;
        rf_store_audit_free_array(a, n);
        if ((int64_t)n < want)
            break;
    }
    rf_store_close(st);
    if (err.rc != RF_OK) {
        cli_error_rf(&err);
        return cli_exit_for_rc(err.rc);
    }
    return cli_finish_output(RF_EXIT_OK);
}

int cmd_audit(int argc, char **argv, const char *workspace)
{
    (void)workspace;
    static const cli_subcmd subs[] = {{"verify", audit_verify}, {"list", audit_list}};
    return cli_subcommand("audit", usage, subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
