/*
 * cmd_repo.c — `ringfence repo ...`: keep a TUF repository (libringfence's
 * tuf_repo.h) from the command line: create it, add and remove targets
 * (channel files get their channel, versions and validation report's hash as
 * custom metadata), sign each role with one key at a time, make the snapshot
 * and timestamp, change root keys, delegate, renew, publish and show status.
 *
 * Key options take one or more files (`--root-key a.pub b.pub` or repeated
 * `--root-key`), so these subcommands parse their own options: each value
 * after a key option that names an existing file is one more key. A channel
 * file is refused when its validation report is not an accepted verdict
 * for exactly that content: the release step is where 19 July would have
 * been stopped if nothing earlier had.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "common.h"
#include "ringfence/channel.h"
#include "ringfence/tuf.h"
#include "ringfence/tuf_repo.h"
#include "ringfence/util.h"

/* A .pub file or a report: far larger than any key or report needs. */
#define SMALL_FILE_MAX (16u * 1024u * 1024u)
#define MAXV RF_TUF_REPO_MAX_KEYS

static const char usage[] =
    "usage: ringfence repo SUBCOMMAND DIR [options]\n"
    "\n"
    "Keep a TUF repository in DIR and publish it for agents to update from.\n"
    "\n"
    "Subcommands:\n"
    "  init DIR            create a repository (root and targets version 1)\n"
    "  add-target DIR FILE add a file (a channel file gets channel metadata)\n"
    "  remove-target DIR PATH\n"
    "                      remove a target\n"
    "  sign DIR            sign one role with one private key\n"
    "  snapshot DIR        make and sign a new snapshot (online key)\n"
    "  timestamp DIR       make and sign a new timestamp (online key)\n"
    "  publish DIR OUT     check, write OUT/metadata and OUT/targets, verify\n"
    "                      them with ringfence's own client\n"
    "  root DIR            change root: keys and thresholds of the roles, expiry\n"
    "  delegate DIR        delegate paths to a new role with its own keys\n"
    "  renew DIR           restart a role's expiry period\n"
    "  status DIR          each role: version, expiry, signatures, published\n"
    "\n"
    "'ringfence repo SUBCOMMAND --help' describes each. A release is:\n"
    "  add-target -> sign --role targets (each key holder) -> snapshot ->\n"
    "  timestamp -> publish. See docs/trust.md.\n"
    "\n"
    "Exit codes: 0 done, 1 refused (signatures short, expired, bad metadata,\n"
    "the published repository failed the client check), 2 usage or I/O error.\n";

/* ---- options ------------------------------------------------------------------ */

enum {
    O_ROOT_KEY, O_ROOT_T, O_TARGETS_KEY, O_TARGETS_T, O_SNAPSHOT_KEY,
    O_TIMESTAMP_KEY, O_EXPIRES, O_NO_CS, O_NAME, O_ROLE, O_CUSTOM, O_REPORT, O_KEY,
    O_ADD_KEY, O_REMOVE_KEY, O_THRESHOLD, O_PATHS, O_TERMINATING, O_FROM, O_JSON, O_DAYS,
    O_COUNT
};

enum { K_FLAG, K_ONE, K_MANY, K_KEYS };

typedef struct optdef {
    int id;
    const char *name;
    char shrt;
    int kind;
} optdef;

typedef struct args {
    const char *pos[4];
    int npos;
    const char *v[O_COUNT][MAXV];
    size_t nv[O_COUNT];
} args;

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Parse argv (argv[0] is the subcommand) against defs. Returns 0, or an
 * exit code after printing the problem. */
static int parse(const char *cmd, int argc, char **argv, const optdef *defs, int maxpos,
                 args *a)
{
    memset(a, 0, sizeof(*a));
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] == '\0') {
            if (a->npos >= maxpos || a->npos >= 4)
                return cli_usage_error(cmd, "unexpected argument '%s'", s);
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            only_pos = 1;
            continue;
        }
        const optdef *d = NULL;
        const char *val = NULL;
        if (s[1] == '-') {
            const char *eq = strchr(s + 2, '=');
            size_t nl = eq ? (size_t)(eq - (s + 2)) : strlen(s + 2);
            for (const optdef *o = defs; o->name && !d; o++)
                if (strlen(o->name) == nl && strncmp(o->name, s + 2, nl) == 0)
                    d = o;
            if (!d)
                return cli_usage_error(cmd, "unknown option '%s'", s);
            if (eq)
                val = eq + 1;
        } else {
            for (const optdef *o = defs; o->name && !d; o++)
                if (o->shrt && o->shrt == s[1])
                    d = o;
            if (!d)
                return cli_usage_error(cmd, "unknown option '%s'", s);
            if (s[2])
                val = s + 2;
        }
        if (d->kind == K_FLAG) {
            if (val)
                return cli_usage_error(cmd, "option '--%s' takes no value", d->name);
            a->nv[d->id]++;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "option '--%s' needs a value", d->name);
            val = argv[++i];
        }
        if (d->kind == K_ONE && a->nv[d->id] > 0)
            return cli_usage_error(cmd, "option '--%s' given twice", d->name);
        if (a->nv[d->id] >= MAXV)
            return cli_usage_error(cmd, "option '--%s' given more than %d times", d->name, MAXV);
        a->v[d->id][a->nv[d->id]++] = val;
        /* More key files may follow one key option. */
        while (d->kind == K_KEYS && i + 1 < argc && argv[i + 1][0] != '-' &&
               is_file(argv[i + 1])) {
            if (a->nv[d->id] >= MAXV)
                return cli_usage_error(cmd, "more than %d keys for '--%s'", MAXV, d->name);
            a->v[d->id][a->nv[d->id]++] = argv[++i];
        }
    }
    return 0;
}

/* True when argv asks for help (-h or --help anywhere before "--"). */
static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

/*
 * The start every subcommand shares: help when asked, options, then exactly
 * npos positional arguments (need says which, when they are missing).
 * Returns 1 when the subcommand is over and must return *ec (help shown or
 * a usage error printed), 0 to go on with *a filled.
 */
static int begin(const char *cmd, const char *use, int argc, char **argv, const optdef *defs,
                 int npos, const char *need, args *a, int *ec)
{
    if (wants_help(argc, argv)) {
        *ec = cli_help(use);
        return 1;
    }
    *ec = parse(cmd, argc, argv, defs, npos, a);
    if (*ec)
        return 1;
    if (a->npos != npos) {
        *ec = cli_usage_error(cmd, "%s", need);
        return 1;
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------------- */

static int fail_rf(const rf_err *err, rf_rc rc)
{
    cli_error_rf(err);
    return cli_exit_for_rc(rc);
}

/* Read a small text file (a .pub, a report, JSON). Caller frees. */
static int read_text(const char *path, const char *what, char **out)
{
    int ec = cli_check_file(path, what);
    if (ec)
        return ec;
    rf_err err;
    rf_err_clear(&err);
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_rc rc = rf_file_read(path, SMALL_FILE_MAX, &buf, &len, &err);
    if (rc != RF_OK)
        return fail_rf(&err, rc);
    if (memchr(buf, 0, len)) {
        free(buf);
        cli_error("%s: %s holds a NUL byte; it is not a text file", path, what);
        return RF_EXIT_REJECTED;
    }
    *out = (char *)buf;
    return 0;
}

/* Read n public key files into texts[]; frees them on error. */
static int read_pubs(const char *const *paths, size_t n, const char *what, char **texts)
{
    for (size_t i = 0; i < n; i++) {
        int ec = read_text(paths[i], what, &texts[i]);
        if (ec) {
            for (size_t j = 0; j < i; j++)
                free(texts[j]);
            return ec;
        }
        /* Check it now, so the message names the file. */
        rf_err err;
        rf_err_clear(&err);
        char kid[65];
        rf_rc rc = rf_tuf_repo_keyid(texts[i], kid, &err);
        if (rc != RF_OK) {
            char m[RF_ERR_MSG_MAX];
            snprintf(m, sizeof(m), "%s", err.msg);
            cli_error("%s: %s: %s", paths[i], what, m);
            for (size_t j = 0; j <= i; j++)
                free(texts[j]);
            return cli_exit_for_rc(rc);
        }
    }
    return 0;
}

static void free_texts(char **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(t[i]);
}

/* A threshold argument: 1..64. */
static int parse_threshold(const char *cmd, const char *s, int64_t *out)
{
    if (rf_parse_i64(s, 1, MAXV, out) != RF_OK)
        return cli_usage_error(cmd, "bad threshold '%s': a whole number from 1 to %d", s, MAXV);
    return 0;
}

/* A period: N or Nd (days), Nh (hours). */
static int parse_period(const char *cmd, const char *s, int64_t *secs)
{
    size_t n = strlen(s);
    int64_t unit = 86400;
    char num[32];
    if (n == 0 || n >= sizeof(num))
        return cli_usage_error(cmd, "bad period '%s': days (30, 30d) or hours (12h)", s);
    memcpy(num, s, n + 1);
    if (num[n - 1] == 'd') {
        num[n - 1] = '\0';
    } else if (num[n - 1] == 'h') {
        num[n - 1] = '\0';
        unit = 3600;
    }
    int64_t v;
    if (rf_parse_i64(num, 1, RF_TUF_REPO_PERIOD_MAX / unit, &v) != RF_OK)
        return cli_usage_error(cmd, "bad period '%s': days (30, 30d) or hours (12h), at most "
                                    "%lld days",
                               s, (long long)(RF_TUF_REPO_PERIOD_MAX / 86400));
    *secs = v * unit;
    return 0;
}

static int open_repo(const char *dir, rf_tuf_repo **r)
{
    int ec = cli_check_dir(dir, "repository directory");
    if (ec)
        return ec;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_tuf_repo_open(dir, r, &err);
    if (rc != RF_OK)
        return fail_rf(&err, rc);
    return 0;
}

static int load_signer(const char *path, rf_tuf_signer **s)
{
    int ec = cli_check_file(path, "private key");
    if (ec)
        return ec;
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        cli_warn("%s: private key is readable by others (mode %04o); chmod 600 it", path,
                 (unsigned)(st.st_mode & 07777));
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_tuf_signer_load(path, s, &err);
    if (rc != RF_OK)
        return fail_rf(&err, rc);
    return 0;
}

/* The status entry of one role, from rf_tuf_repo_status_json. Caller
 * decrefs *doc; *role is borrowed from it. */
static int role_state(rf_tuf_repo *r, const char *name, json_t **doc, const json_t **role)
{
    rf_err err;
    rf_err_clear(&err);
    char *s = NULL;
    rf_rc rc = rf_tuf_repo_status_json(r, &s, &err);
    if (rc != RF_OK)
        return fail_rf(&err, rc);
    *doc = json_loads(s, 0, NULL);
    free(s);
    *role = NULL;
    json_t *roles = json_object_get(*doc, "roles");
    for (size_t i = 0; i < json_array_size(roles); i++) {
        json_t *o = json_array_get(roles, i);
        if (strcmp(json_string_value(json_object_get(o, "role")), name) == 0)
            *role = o;
    }
    if (!*role) {
        json_decref(*doc);
        cli_error("internal error: no status for role %s", name);
        return RF_EXIT_USAGE;
    }
    return 0;
}

/* "role R: version V, S of T signatures" (+ previous root keys). */
static void print_role_line(rf_tuf_repo *r, const char *name)
{
    json_t *doc = NULL;
    const json_t *o = NULL;
    if (role_state(r, name, &doc, &o))
        return;
    printf("%s: version %lld, %lld of %lld signature%s", name,
           (long long)json_integer_value(json_object_get(o, "version")),
           (long long)json_integer_value(json_object_get(o, "signatures")),
           (long long)json_integer_value(json_object_get(o, "threshold")),
           json_integer_value(json_object_get(o, "threshold")) == 1 ? "" : "s");
    const json_t *pr = json_object_get(o, "previous_root");
    if (pr && !json_is_true(json_object_get(o, "published")))
        printf(" (and %lld of %lld from the previous root's keys)",
               (long long)json_integer_value(json_object_get(pr, "signatures")),
               (long long)json_integer_value(json_object_get(pr, "threshold")));
    printf(", expires %s\n", json_string_value(json_object_get(o, "expires")));
    json_decref(doc);
}

/* ---- init ---------------------------------------------------------------------- */

static const char usage_init[] =
    "usage: ringfence repo init DIR --root-key PUB... [--root-threshold N]\n"
    "           --targets-key PUB... [--targets-threshold N]\n"
    "           --snapshot-key PUB --timestamp-key PUB\n"
    "           [--expires ROLE=DAYS]... [--no-consistent-snapshot]\n"
    "\n"
    "Create a repository in DIR (new or empty): root version 1 listing the keys\n"
    "of the four roles, and an empty targets version 1, both unsigned. PUB is a\n"
    "NAME.pub file from 'ringfence keys gen'; a key option takes several files\n"
    "(--root-key a.pub b.pub c.pub) or may be repeated.\n"
    "\n"
    "Options:\n"
    "  --root-key PUB...         root keys (keep them offline)\n"
    "  --root-threshold N        signatures a root needs (default 1)\n"
    "  --targets-key PUB...      targets keys (offline)\n"
    "  --targets-threshold N     signatures targets needs (default 1)\n"
    "  --snapshot-key PUB        the snapshot key (online)\n"
    "  --timestamp-key PUB       the timestamp key (online)\n"
    "  --expires ROLE=DAYS       expiry period of root (365), targets (90),\n"
    "                            delegated (90), snapshot (7), timestamp (1);\n"
    "                            DAYS may be written 12h for hours\n"
    "  --no-consistent-snapshot  publish unversioned file names instead of\n"
    "                            N.ROLE.json and HASH.NAME (not recommended)\n"
    "  -h, --help                this help\n"
    "\n"
    "Example:\n"
    "  ringfence repo init /srv/rf-repo --root-key alice.pub bob.pub carol.pub \\\n"
    "      --root-threshold 2 --targets-key rel.pub --snapshot-key snap.pub \\\n"
    "      --timestamp-key ts.pub\n";

static int repo_init(int argc, char **argv)
{
    static const optdef defs[] = {
        {O_ROOT_KEY, "root-key", 0, K_KEYS},
        {O_ROOT_T, "root-threshold", 0, K_ONE},
        {O_TARGETS_KEY, "targets-key", 0, K_KEYS},
        {O_TARGETS_T, "targets-threshold", 0, K_ONE},
        {O_SNAPSHOT_KEY, "snapshot-key", 0, K_KEYS},
        {O_TIMESTAMP_KEY, "timestamp-key", 0, K_KEYS},
        {O_EXPIRES, "expires", 0, K_MANY},
        {O_NO_CS, "no-consistent-snapshot", 0, K_FLAG},
        {0, NULL, 0, 0},
    };
    const char *cmd = "repo init";
    args a;
    int ec;
    if (begin(cmd, usage_init, argc, argv, defs, 1, "give the repository directory", &a, &ec))
        return ec;
    static const int kopt[4] = {O_ROOT_KEY, O_TARGETS_KEY, O_SNAPSHOT_KEY, O_TIMESTAMP_KEY};
    static const char *const kname[4] = {"--root-key", "--targets-key", "--snapshot-key",
                                         "--timestamp-key"};
    for (int i = 0; i < 4; i++)
        if (a.nv[kopt[i]] == 0)
            return cli_usage_error(cmd, "%s is required", kname[i]);
    rf_tuf_repo_init_opts o;
    rf_tuf_repo_init_opts_default(&o);
    if (a.nv[O_ROOT_T] && (ec = parse_threshold(cmd, a.v[O_ROOT_T][0], &o.root.threshold)))
        return ec;
    if (a.nv[O_TARGETS_T] &&
        (ec = parse_threshold(cmd, a.v[O_TARGETS_T][0], &o.targets.threshold)))
        return ec;
    for (size_t i = 0; i < a.nv[O_EXPIRES]; i++) {
        const char *s = a.v[O_EXPIRES][i];
        const char *eq = strchr(s, '=');
        char role[16];
        rf_tuf_repo_period p;
        if (!eq || (size_t)(eq - s) >= sizeof(role))
            return cli_usage_error(cmd, "--expires wants ROLE=DAYS, not '%s'", s);
        memcpy(role, s, (size_t)(eq - s));
        role[eq - s] = '\0';
        if (rf_tuf_repo_period_parse(role, &p) != RF_OK)
            return cli_usage_error(cmd, "--expires: unknown role '%s' (root, targets, delegated, "
                                        "snapshot, timestamp)",
                                   role);
        if ((ec = parse_period(cmd, eq + 1, &o.period[p])))
            return ec;
    }
    o.consistent_snapshot = a.nv[O_NO_CS] ? 0 : 1;

    char *texts[4][MAXV];
    size_t got = 0;
    rf_tuf_repo_keys *rk[4] = {&o.root, &o.targets, &o.snapshot, &o.timestamp};
    static const char *const what[4] = {"root key", "targets key", "snapshot key",
                                        "timestamp key"};
    for (; got < 4; got++) {
        ec = read_pubs(a.v[kopt[got]], a.nv[kopt[got]], what[got], texts[got]);
        if (ec)
            break;
        rk[got]->pub_json = (const char *const *)texts[got];
        rk[got]->n = a.nv[kopt[got]];
    }
    if (!ec) {
        if (o.root.threshold > (int64_t)o.root.n || o.targets.threshold > (int64_t)o.targets.n) {
            ec = cli_usage_error(cmd, "a threshold is larger than the number of keys given for "
                                      "its role");
        } else {
            rf_err err;
            rf_err_clear(&err);
            rf_rc rc = rf_tuf_repo_init(a.pos[0], &o, &err);
            if (rc != RF_OK) {
                ec = fail_rf(&err, rc);
            } else {
                printf("created repository ");
                cli_puts_safe(stdout, a.pos[0]);
                printf(" (root and targets version 1, unsigned)\n");
                printf("next: add targets, then sign targets and root, snapshot, timestamp, "
                       "publish (see 'ringfence repo status')\n");
            }
        }
    }
    for (size_t i = 0; i < got; i++)
        free_texts(texts[i], rk[i]->n);
    return ec;
}

/* ---- add-target ---------------------------------------------------------------- */

static const char usage_add[] =
    "usage: ringfence repo add-target DIR FILE [--name PATH] [--role ROLE]\n"
    "           [--custom JSON] [--report REPORT.json]\n"
    "\n"
    "Copy FILE into the repository as a target and list it (length, sha256,\n"
    "sha512) in targets or a delegated role, which becomes a new, unsigned\n"
    "version. A channel file (.rfc) gets custom metadata: channel,\n"
    "content_version, template_type, template_version, and with --report the\n"
    "report_sha256 of its validation report ('ringfence validate --report'),\n"
    "which must be an accepted verdict for exactly this content.\n"
    "\n"
    "Options:\n"
    "  --name PATH        target path (default: FILE's base name)\n"
    "  --role ROLE        targets (default) or a delegated role\n"
    "  --custom JSON      more custom fields (a JSON object)\n"
    "  --report FILE      the validation report of a channel file\n"
    "  -h, --help         this help\n"
    "\n"
    "Example:\n"
    "  ringfence repo add-target /srv/rf-repo c291-v5.rfc --name channels/291/c291-v5.rfc \\\n"
    "      --report c291-v5.report.json\n";

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Custom metadata of a channel file, checked against its report. Returns 0
 * and *out (caller decrefs, NULL when FILE is not a channel file) or an exit
 * code. */
static int channel_custom(const char *file, const char *report, json_t **out)
{
    *out = NULL;
    rf_err err;
    rf_err_clear(&err);
    int looks = 0;
    size_t fl = strlen(file);
    if (fl > 4 && strcmp(file + fl - 4, ".rfc") == 0)
        looks = 1;
    /* The first bytes of the channel file magic, "\x89RFC". */
    unsigned char head[4];
    FILE *fp = fopen(file, "rb");
    if (!fp) {
        cli_error("%s: cannot open target file: %s", file, strerror(errno));
        return RF_EXIT_USAGE;
    }
    if (fread(head, 1, 4, fp) == 4 && memcmp(head, "\x89RFC", 4) == 0)
        looks = 1;
    fclose(fp);
    if (!looks) {
        if (report) {
            cli_error("%s: not a channel file; --report applies to channel files only", file);
            return RF_EXIT_USAGE;
        }
        return 0;
    }
    rf_channel *ch = NULL;
    rf_rc rc = rf_channel_read_file(file, &ch, &err);
    if (rc != RF_OK) {
        cli_error_rf(&err);
        cli_error("%s: looks like a channel file but does not read as one: not released", file);
        return cli_exit_for_rc(rc);
    }
    int ec = 0;
    json_t *c = json_pack("{s:i, s:I, s:s, s:I}", "channel", (int)ch->channel, "content_version",
                          (json_int_t)ch->content_version, "template_type", ch->template_type,
                          "template_version", (json_int_t)ch->template_version);
    char *rtext = NULL;
    json_t *rep = NULL;
    if (!c) {
        cli_error("out of memory");
        ec = RF_EXIT_USAGE;
        goto out;
    }
    if (report) {
        ec = read_text(report, "validation report", &rtext);
        if (ec)
            goto out;
        json_error_t je;
        rep = json_loads(rtext, JSON_REJECT_DUPLICATES, &je);
        char body[65];
        rf_hex(ch->body_sha256, 32, body);
        const char *rb = json_string_value(json_object_get(rep, "body_sha256"));
        const char *verdict = json_string_value(json_object_get(rep, "verdict"));
        if (!rep || !json_is_object(rep) || !json_object_get(rep, "ringfence_report")) {
            cli_error("%s: not a ringfence validation report (make one with 'ringfence validate "
                      "--report FILE')", report);
            ec = RF_EXIT_REJECTED;
        } else if (!verdict || strcmp(verdict, "accepted") != 0) {
            cli_error("%s: the validator's verdict is '%s': content it rejected is never "
                      "released", report, verdict ? verdict : "missing");
            ec = RF_EXIT_REJECTED;
        } else if (!rb || strcmp(rb, body) != 0 ||
                   json_integer_value(json_object_get(rep, "channel")) != ch->channel ||
                   json_integer_value(json_object_get(rep, "content_version")) !=
                       (json_int_t)ch->content_version) {
            cli_error("%s: the report is for other content (channel %lld version %lld, body "
                      "sha256 %.16s...) than %s (channel %u version %u, body sha256 %.16s...)",
                      report, (long long)json_integer_value(json_object_get(rep, "channel")),
                      (long long)json_integer_value(json_object_get(rep, "content_version")),
                      rb ? rb : "none", file, ch->channel, ch->content_version, body);
            ec = RF_EXIT_REJECTED;
        } else {
            uint8_t d[32];
            char hex[65];
            rf_sha256(rtext, strlen(rtext), d);
            rf_hex(d, 32, hex);
            json_object_set_new(c, "report_sha256", json_string(hex));
        }
        if (ec)
            goto out;
    }
    *out = c;
    c = NULL;
out:
    json_decref(c);
    json_decref(rep);
    free(rtext);
    rf_channel_free(ch);
    return ec;
}

static int repo_add_target(int argc, char **argv)
{
    static const optdef defs[] = {
        {O_NAME, "name", 0, K_ONE},   {O_ROLE, "role", 0, K_ONE},
        {O_CUSTOM, "custom", 0, K_ONE}, {O_REPORT, "report", 0, K_ONE},
        {0, NULL, 0, 0},
    };
    const char *cmd = "repo add-target";
    args a;
    int ec;
    if (begin(cmd, usage_add, argc, argv, defs, 2,
              "give the repository directory and a file", &a, &ec))
        return ec;
    const char *file = a.pos[1];
    const char *name = a.nv[O_NAME] ? a.v[O_NAME][0] : base_name(file);
    const char *role = a.nv[O_ROLE] ? a.v[O_ROLE][0] : NULL;
    if ((ec = cli_check_file(file, "target file")))
        return ec;
    if (a.nv[O_REPORT] && (ec = cli_check_file(a.v[O_REPORT][0], "validation report")))
        return ec;
    json_t *custom = NULL, *extra = NULL;
    char *cjs = NULL;
    rf_tuf_repo *r = NULL;
    ec = channel_custom(file, a.nv[O_REPORT] ? a.v[O_REPORT][0] : NULL, &custom);
    if (ec)
        goto out;
    if (a.nv[O_CUSTOM]) {
        json_error_t je;
        extra = json_loads(a.v[O_CUSTOM][0], JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(extra)) {
            ec = cli_usage_error(cmd, "--custom needs a JSON object%s%s", extra ? "" : ": ",
                                 extra ? "" : je.text);
            goto out;
        }
        if (!custom)
            custom = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(extra, k, v) {
            if (json_object_get(custom, k)) {
                ec = cli_usage_error(cmd, "--custom cannot set \"%s\": it comes from the "
                                          "channel file",
                                     k);
                goto out;
            }
            json_object_set(custom, k, v);
        }
    }
    if (custom) {
        cjs = json_dumps(custom, JSON_COMPACT | JSON_SORT_KEYS);
        if (!cjs) {
            cli_error("out of memory");
            ec = RF_EXIT_USAGE;
            goto out;
        }
    }
    if ((ec = open_repo(a.pos[0], &r)))
        goto out;
    rf_err err;
    rf_err_clear(&err);
    int changed = 0;
    rf_rc rc = rf_tuf_repo_add_target(r, role, name, file, cjs, &changed, &err);
    if (rc != RF_OK) {
        ec = fail_rf(&err, rc);
        goto out;
    }
    printf("%s target ", changed ? "added" : "unchanged:");
    cli_puts_safe(stdout, name);
    printf(" in role %s", role ? role : "targets");
    if (cjs) {
        printf(" with custom ");
        cli_puts_safe(stdout, cjs);
    }
    printf("\n");
    print_role_line(r, role ? role : "targets");
    if (custom && json_object_get(custom, "channel") && !a.nv[O_REPORT])
        cli_warn("%s: added without --report: its metadata does not name the validation report",
                 file);
    ec = RF_EXIT_OK;
out:
    rf_tuf_repo_free(r);
    json_decref(custom);
    json_decref(extra);
    free(cjs);
    return ec;
}

/* ---- remove-target ---------------------------------------------------------------- */

static const char usage_remove[] =
    "usage: ringfence repo remove-target DIR PATH [--role ROLE]\n"
    "\n"
    "Remove target PATH from targets (or ROLE) and its file from the repository.\n"
    "The role becomes a new, unsigned version. Published files stay where they\n"
    "are; clients stop seeing the target once the next version is published.\n";

static int repo_remove_target(int argc, char **argv)
{
    static const optdef defs[] = {{O_ROLE, "role", 0, K_ONE}, {0, NULL, 0, 0}};
    const char *cmd = "repo remove-target";
    args a;
    int ec;
    if (begin(cmd, usage_remove, argc, argv, defs, 2,
              "give the repository directory and a target path", &a, &ec))
        return ec;
    rf_tuf_repo *r = NULL;
    if ((ec = open_repo(a.pos[0], &r)))
        return ec;
    const char *role = a.nv[O_ROLE] ? a.v[O_ROLE][0] : NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_tuf_repo_remove_target(r, role, a.pos[1], &err);
    if (rc != RF_OK) {
        ec = fail_rf(&err, rc);
    } else {
        printf("removed target ");
        cli_puts_safe(stdout, a.pos[1]);
        printf("\n");
        print_role_line(r, role ? role : "targets");
    }
    rf_tuf_repo_free(r);
    return ec;
}

/* ---- sign, snapshot, timestamp ---------------------------------------------------- */

static const char usage_sign[] =
    "usage: ringfence repo sign DIR --role ROLE --key PRIVATE\n"
    "\n"
    "Add the signature of one private key to the staged metadata of ROLE (root,\n"
    "targets, snapshot, timestamp or a delegated role), replacing an earlier\n"
    "signature by the same key. Key holders sign in turn until the role's\n"
    "threshold is reached. A new root version needs a threshold of the previous\n"
    "root's root keys and of its own; either kind of key signs it here.\n"
    "\n"
    "Example:\n"
    "  ringfence repo sign /srv/rf-repo --role targets --key /media/offline/rel\n";

static const char usage_snapshot[] =
    "usage: ringfence repo snapshot DIR --key PRIVATE\n"
    "\n"
    "Make a new snapshot listing the current version of targets and of every\n"
    "delegated role, signed with the snapshot key. Run it after the targets\n"
    "roles are signed, then 'ringfence repo timestamp'.\n";

static const char usage_timestamp[] =
    "usage: ringfence repo timestamp DIR --key PRIVATE\n"
    "\n"
    "Make a new timestamp naming the staged snapshot (version, length, sha256),\n"
    "signed with the timestamp key. Run it after 'repo snapshot', and again\n"
    "(then publish) before the timestamp expires: by default every day.\n";

static int repo_signlike(int argc, char **argv, int which)
{
    static const optdef defs_sign[] = {
        {O_ROLE, "role", 0, K_ONE}, {O_KEY, "key", 'k', K_ONE}, {0, NULL, 0, 0}};
    static const optdef defs_key[] = {{O_KEY, "key", 'k', K_ONE}, {0, NULL, 0, 0}};
    static const char *const cmds[3] = {"repo sign", "repo snapshot", "repo timestamp"};
    static const char *const usages[3] = {usage_sign, usage_snapshot, usage_timestamp};
    const char *cmd = cmds[which];
    args a;
    int ec;
    if (begin(cmd, usages[which], argc, argv, which == 0 ? defs_sign : defs_key, 1,
              "give the repository directory", &a, &ec))
        return ec;
    if (which == 0 && !a.nv[O_ROLE])
        return cli_usage_error(cmd, "--role is required");
    if (!a.nv[O_KEY])
        return cli_usage_error(cmd, "--key PRIVATE is required");
    rf_tuf_signer *s = NULL;
    rf_tuf_repo *r = NULL;
    if ((ec = load_signer(a.v[O_KEY][0], &s)))
        return ec;
    if ((ec = open_repo(a.pos[0], &r))) {
        rf_tuf_signer_free(s);
        return ec;
    }
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc;
    const char *role = which == 0 ? a.v[O_ROLE][0] : which == 1 ? "snapshot" : "timestamp";
    if (which == 0)
        rc = rf_tuf_repo_sign(r, role, s, &err);
    else if (which == 1)
        rc = rf_tuf_repo_snapshot(r, s, &err);
    else
        rc = rf_tuf_repo_timestamp(r, s, &err);
    if (rc != RF_OK) {
        ec = fail_rf(&err, rc);
    } else {
        printf("signed %s with key %s\n", role, rf_tuf_signer_keyid(s));
        print_role_line(r, role);
    }
    rf_tuf_repo_free(r);
    rf_tuf_signer_free(s);
    return ec;
}

/* ---- publish ---------------------------------------------------------------------- */

static const char usage_publish[] =
    "usage: ringfence repo publish DIR OUT\n"
    "\n"
    "Check that every role is signed by its threshold (a new root by the old\n"
    "and the new root keys), that the snapshot and timestamp are current and\n"
    "nothing has expired; then write OUT/metadata (N.root.json for every root\n"
    "version, N.targets.json, N.ROLE.json, N.snapshot.json, timestamp.json\n"
    "last) and OUT/targets (DIR/SHA256.NAME), keeping older files. Finally\n"
    "ringfence's own TUF client, trusting the first root, updates from OUT and\n"
    "downloads every target; only then are the versions recorded as published.\n"
    "Serve OUT with any HTTP server or CDN.\n"
    "\n"
    "Exit codes: 0 published, 1 refused (the message says which command fixes\n"
    "it) or the client check failed, 2 usage or I/O error.\n";

static int repo_publish(int argc, char **argv)
{
    static const optdef defs[] = {{0, NULL, 0, 0}};
    const char *cmd = "repo publish";
    args a;
    int ec;
    if (begin(cmd, usage_publish, argc, argv, defs, 2,
              "give the repository directory and the output directory", &a, &ec))
        return ec;
    rf_tuf_repo *r = NULL;
    if ((ec = open_repo(a.pos[0], &r)))
        return ec;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_tuf_repo_publish(r, a.pos[1], &err);
    if (rc != RF_OK) {
        ec = fail_rf(&err, rc);
    } else {
        char *s = NULL;
        json_t *st = NULL;
        if (rf_tuf_repo_status_json(r, &s, NULL) == RF_OK)
            st = json_loads(s, 0, NULL);
        free(s);
        printf("published ");
        cli_puts_safe(stdout, a.pos[1]);
        printf(":");
        json_t *roles = json_object_get(st, "roles");
        long long ntargets = 0;
        for (size_t i = 0; i < json_array_size(roles); i++) {
            json_t *o = json_array_get(roles, i);
            printf(" %s v%lld", json_string_value(json_object_get(o, "role")),
                   (long long)json_integer_value(json_object_get(o, "version")));
            ntargets += json_integer_value(json_object_get(o, "targets"));
        }
        printf("\nchecked: ringfence's TUF client updated from it and downloaded all %lld "
               "target%s\n",
               ntargets, ntargets == 1 ? "" : "s");
        json_decref(st);
    }
    rf_tuf_repo_free(r);
    return ec;
}

/* ---- root ----------------------------------------------------------------------- */

static const char usage_root[] =
    "usage: ringfence repo root DIR [--add-key ROLE=PUB]... [--remove-key ROLE=KEYID]...\n"
    "           [--threshold ROLE=N]... [--expires DAYS]\n"
    "\n"
    "Make a new root version (the previous one plus 1, unsigned; the previous\n"
    "is kept) with the keys of root, targets, snapshot or timestamp added or\n"
    "removed, thresholds changed, or a new expiry period. All changes apply at\n"
    "once, and each role must end with enough keys for its threshold. The new\n"
    "root must then be signed by a threshold of the previous root's root keys\n"
    "AND of its own ('ringfence repo sign DIR --role root --key ...').\n"
    "\n"
    "Options:\n"
    "  --add-key ROLE=PUB        add the public key in file PUB to ROLE\n"
    "  --remove-key ROLE=KEYID   remove a key (its id, or its .pub file)\n"
    "  --threshold ROLE=N        signatures ROLE needs\n"
    "  --expires DAYS            the root's expiry period (also renews it)\n"
    "\n"
    "Example (replace timestamp key after a compromise):\n"
    "  ringfence repo root /srv/rf-repo --add-key timestamp=ts2.pub \\\n"
    "      --remove-key timestamp=ts.pub\n";

/* Split "ROLE=VALUE"; role into buf. */
static int split_eq(const char *cmd, const char *opt, const char *s, char *role, size_t n,
                    const char **val)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || !eq[1] || (size_t)(eq - s) >= n)
        return cli_usage_error(cmd, "%s wants ROLE=VALUE, not '%s'", opt, s);
    memcpy(role, s, (size_t)(eq - s));
    role[eq - s] = '\0';
    *val = eq + 1;
    return 0;
}

static int repo_root(int argc, char **argv)
{
    static const optdef defs[] = {
        {O_ADD_KEY, "add-key", 0, K_MANY},     {O_REMOVE_KEY, "remove-key", 0, K_MANY},
        {O_THRESHOLD, "threshold", 0, K_MANY}, {O_EXPIRES, "expires", 0, K_ONE},
        {0, NULL, 0, 0},
    };
    const char *cmd = "repo root";
    args a;
    int ec;
    if (begin(cmd, usage_root, argc, argv, defs, 1, "give the repository directory", &a, &ec))
        return ec;
    size_t n = a.nv[O_ADD_KEY] + a.nv[O_REMOVE_KEY] + a.nv[O_THRESHOLD] + a.nv[O_EXPIRES];
    if (n == 0)
        return cli_usage_error(cmd, "nothing to change: give --add-key, --remove-key, "
                                    "--threshold or --expires");
    rf_tuf_root_change ch[4 * MAXV];
    char roles[4 * MAXV][16];
    char *texts[4 * MAXV];
    size_t nt = 0, k = 0;
    memset(ch, 0, sizeof(ch));
    for (size_t i = 0; i < a.nv[O_ADD_KEY] && !ec; i++, k++) {
        const char *v;
        ec = split_eq(cmd, "--add-key", a.v[O_ADD_KEY][i], roles[k], sizeof(roles[k]), &v);
        if (!ec)
            ec = read_pubs(&v, 1, "public key", &texts[nt]);
        if (!ec) {
            ch[k] = (rf_tuf_root_change){RF_TUF_ROOT_ADD_KEY, roles[k], texts[nt++], 0};
        }
    }
    for (size_t i = 0; i < a.nv[O_REMOVE_KEY] && !ec; i++, k++) {
        const char *v;
        ec = split_eq(cmd, "--remove-key", a.v[O_REMOVE_KEY][i], roles[k], sizeof(roles[k]), &v);
        if (ec)
            break;
        if (is_file(v)) {
            ec = read_pubs(&v, 1, "public key", &texts[nt]);
            if (!ec)
                v = texts[nt++];
        } else if (strlen(v) != 64) {
            ec = cli_usage_error(cmd, "--remove-key %s=%s: give a key id (64 hex digits) or a "
                                      ".pub file",
                                 roles[k], v);
        }
        if (!ec)
            ch[k] = (rf_tuf_root_change){RF_TUF_ROOT_REMOVE_KEY, roles[k], v, 0};
    }
    for (size_t i = 0; i < a.nv[O_THRESHOLD] && !ec; i++, k++) {
        const char *v;
        int64_t t = 0;
        ec = split_eq(cmd, "--threshold", a.v[O_THRESHOLD][i], roles[k], sizeof(roles[k]), &v);
        if (!ec)
            ec = parse_threshold(cmd, v, &t);
        if (!ec)
            ch[k] = (rf_tuf_root_change){RF_TUF_ROOT_THRESHOLD, roles[k], NULL, t};
    }
    if (!ec && a.nv[O_EXPIRES]) {
        int64_t secs = 0;
        ec = parse_period(cmd, a.v[O_EXPIRES][0], &secs);
        if (!ec)
            ch[k++] = (rf_tuf_root_change){RF_TUF_ROOT_EXPIRES, NULL, NULL, secs};
    }
    rf_tuf_repo *r = NULL;
    if (!ec)
        ec = open_repo(a.pos[0], &r);
    if (!ec) {
        rf_err err;
        rf_err_clear(&err);
        rf_rc rc = rf_tuf_repo_root_edit(r, ch, k, &err);
        if (rc != RF_OK) {
            ec = fail_rf(&err, rc);
        } else {
            printf("new root staged (unsigned): it needs a threshold of the previous root's "
                   "root keys and of its own\n");
            print_role_line(r, "root");
        }
    }
    rf_tuf_repo_free(r);
    free_texts(texts, nt);
    return ec;
}

/* ---- delegate ------------------------------------------------------------------------ */

static const char usage_delegate[] =
    "usage: ringfence repo delegate DIR --role NAME --key PUB... [--threshold N]\n"
    "           [--paths PATTERN,...] [--terminating] [--from PARENT]\n"
    "\n"
    "Delegate target paths from targets (or PARENT, itself delegated) to a new\n"
    "role NAME with its own keys; NAME starts as an empty, unsigned version.\n"
    "The parent becomes a new, unsigned version. Patterns follow TUF: '*' and\n"
    "'?' do not cross '/'. Without --paths the role is trusted for every path.\n"
    "\n"
    "Options:\n"
    "  --role NAME            the new role (A-Z a-z 0-9 . _ -)\n"
    "  --key PUB...           its public keys\n"
    "  --threshold N          signatures it needs (default 1)\n"
    "  --paths P1,P2          the path patterns it may sign for\n"
    "  --terminating          clients look no further than this role for its\n"
    "                         paths\n"
    "  --from PARENT          the delegating role (default targets)\n"
    "\n"
    "Example:\n"
    "  ringfence repo delegate /srv/rf-repo --role team-291 --key t291.pub \\\n"
    "      --paths 'channels/291/*' --terminating\n";

static int repo_delegate(int argc, char **argv)
{
    static const optdef defs[] = {
        {O_ROLE, "role", 0, K_ONE},       {O_KEY, "key", 'k', K_KEYS},
        {O_THRESHOLD, "threshold", 0, K_ONE}, {O_PATHS, "paths", 0, K_MANY},
        {O_TERMINATING, "terminating", 0, K_FLAG}, {O_FROM, "from", 0, K_ONE},
        {0, NULL, 0, 0},
    };
    const char *cmd = "repo delegate";
    args a;
    int ec;
    if (begin(cmd, usage_delegate, argc, argv, defs, 1, "give the repository directory", &a, &ec))
        return ec;
    if (!a.nv[O_ROLE])
        return cli_usage_error(cmd, "--role NAME is required");
    if (!a.nv[O_KEY])
        return cli_usage_error(cmd, "--key PUB is required");
    rf_tuf_delegation d;
    memset(&d, 0, sizeof(d));
    d.name = a.v[O_ROLE][0];
    d.parent = a.nv[O_FROM] ? a.v[O_FROM][0] : NULL;
    d.terminating = a.nv[O_TERMINATING] > 0;
    if (a.nv[O_THRESHOLD] && (ec = parse_threshold(cmd, a.v[O_THRESHOLD][0], &d.keys.threshold)))
        return ec;
    if (d.keys.threshold > (int64_t)a.nv[O_KEY])
        return cli_usage_error(cmd, "threshold %lld is more than the %zu key%s given",
                               (long long)d.keys.threshold, a.nv[O_KEY],
                               a.nv[O_KEY] == 1 ? "" : "s");
    /* Patterns: comma-separated, --paths may repeat. */
    char *pbuf[MAXV];
    const char *paths[RF_TUF_REPO_MAX_PATHS];
    size_t np = 0, nb = 0;
    for (size_t i = 0; i < a.nv[O_PATHS] && !ec; i++) {
        char *copy = rf_strdup(a.v[O_PATHS][i]);
        if (!copy) {
            cli_error("out of memory");
            ec = RF_EXIT_USAGE;
            break;
        }
        pbuf[nb++] = copy;
        for (char *s = copy; s && !ec;) {
            char *c = strchr(s, ',');
            if (c)
                *c = '\0';
            if (!*s)
                ec = cli_usage_error(cmd, "--paths has an empty pattern");
            else if (np >= RF_TUF_REPO_MAX_PATHS)
                ec = cli_usage_error(cmd, "at most %d path patterns", RF_TUF_REPO_MAX_PATHS);
            else
                paths[np++] = s;
            s = c ? c + 1 : NULL;
        }
    }
    d.paths = paths;
    d.npaths = np;
    char *texts[MAXV];
    size_t nt = 0;
    rf_tuf_repo *r = NULL;
    if (!ec) {
        ec = read_pubs(a.v[O_KEY], a.nv[O_KEY], "public key", texts);
        if (!ec)
            nt = a.nv[O_KEY];
    }
    d.keys.pub_json = (const char *const *)texts;
    d.keys.n = nt;
    if (!ec)
        ec = open_repo(a.pos[0], &r);
    if (!ec) {
        rf_err err;
        rf_err_clear(&err);
        rf_rc rc = rf_tuf_repo_delegate(r, &d, &err);
        if (rc != RF_OK) {
            ec = fail_rf(&err, rc);
        } else {
            printf("delegated %s to new role %s\n", np ? "paths" : "every path", d.name);
            print_role_line(r, d.parent ? d.parent : "targets");
            print_role_line(r, d.name);
        }
    }
    rf_tuf_repo_free(r);
    free_texts(texts, nt);
    free_texts(pbuf, nb);
    return ec;
}

/* ---- renew -------------------------------------------------------------------------- */

static const char usage_renew[] =
    "usage: ringfence repo renew DIR --role ROLE [--days PERIOD]\n"
    "\n"
    "Restart ROLE's expiry (now + its period): a new, unsigned version when the\n"
    "current one is published. With --days, first set the period of that kind of\n"
    "role (root, targets, delegated, snapshot, timestamp; 12h for hours). Sign it\n"
    "again, then snapshot, timestamp and publish. Snapshot and timestamp are\n"
    "usually renewed by running 'repo snapshot' / 'repo timestamp' again.\n";

static int repo_renew(int argc, char **argv)
{
    static const optdef defs[] = {
        {O_ROLE, "role", 0, K_ONE}, {O_DAYS, "days", 0, K_ONE}, {0, NULL, 0, 0}};
    const char *cmd = "repo renew";
    args a;
    int ec;
    if (begin(cmd, usage_renew, argc, argv, defs, 1, "give the repository directory", &a, &ec))
        return ec;
    if (!a.nv[O_ROLE])
        return cli_usage_error(cmd, "--role is required");
    int64_t secs = 0;
    if (a.nv[O_DAYS] && (ec = parse_period(cmd, a.v[O_DAYS][0], &secs)))
        return ec;
    rf_tuf_repo *r = NULL;
    if ((ec = open_repo(a.pos[0], &r)))
        return ec;
    const char *role = a.v[O_ROLE][0];
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = RF_OK;
    if (secs) {
        rf_tuf_repo_period p;
        if (rf_tuf_repo_period_parse(role, &p) != RF_OK) {
            /* A delegated role's name: its kind is "delegated". */
            json_t *st = NULL;
            const json_t *o = NULL;
            if (role_state(r, role, &st, &o) == 0 && json_object_get(o, "parent"))
                p = RF_TUF_PERIOD_DELEGATED;
            else
                rc = rf_err_set(&err, RF_E_NOTFOUND, NULL, 0, 0, "no role \"%s\"", role);
            json_decref(st);
        }
        if (rc == RF_OK)
            rc = rf_tuf_repo_set_period(r, p, secs, &err);
    }
    if (rc == RF_OK)
        rc = rf_tuf_repo_renew(r, role, &err);
    if (rc != RF_OK) {
        ec = fail_rf(&err, rc);
    } else {
        printf("renewed %s (unsigned now)\n", role);
        print_role_line(r, role);
    }
    rf_tuf_repo_free(r);
    return ec;
}

/* ---- status ------------------------------------------------------------------------ */

static const char usage_status[] =
    "usage: ringfence repo status DIR [--json]\n"
    "\n"
    "Show each role: version, expiry, valid signatures against its threshold (a\n"
    "new root: also against the previous root's), whether that version is\n"
    "published; then whether the repository is ready to publish and, if not,\n"
    "every problem with the command that fixes it; then the key ids per role.\n"
    "\n"
    "Options:\n"
    "  --json       the same as one JSON document\n";

static int repo_status(int argc, char **argv)
{
    static const optdef defs[] = {{O_JSON, "json", 0, K_FLAG}, {0, NULL, 0, 0}};
    const char *cmd = "repo status";
    args a;
    int ec;
    if (begin(cmd, usage_status, argc, argv, defs, 1, "give the repository directory", &a, &ec))
        return ec;
    rf_tuf_repo *r = NULL;
    if ((ec = open_repo(a.pos[0], &r)))
        return ec;
    rf_err err;
    rf_err_clear(&err);
    char *s = NULL;
    rf_rc rc = rf_tuf_repo_status_json(r, &s, &err);
    rf_tuf_repo_free(r);
    if (rc != RF_OK)
        return fail_rf(&err, rc);
    if (a.nv[O_JSON]) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
        return RF_EXIT_OK;
    }
    json_t *st = json_loads(s, 0, NULL);
    free(s);
    if (!st) {
        cli_error("out of memory");
        return RF_EXIT_USAGE;
    }
    printf("repository ");
    cli_puts_safe(stdout, a.pos[0]);
    printf(" (%s), now %s\n\n",
           json_is_true(json_object_get(st, "consistent_snapshot")) ? "consistent snapshots"
                                                                    : "no consistent snapshots",
           json_string_value(json_object_get(st, "now")));
    printf("%-16s %7s  %-20s  %-7s  %s\n", "ROLE", "VERSION", "EXPIRES", "SIGNED", "PUBLISHED");
    json_t *roles = json_object_get(st, "roles");
    for (size_t i = 0; i < json_array_size(roles); i++) {
        json_t *o = json_array_get(roles, i);
        const char *name = json_string_value(json_object_get(o, "role"));
        const json_t *parent = json_object_get(o, "parent");
        char label[96];
        snprintf(label, sizeof(label), "%s%s", parent ? "  " : "", name);
        cli_puts_safe(stdout, label);
        printf("%*s", (int)(strlen(label) < 16 ? 16 - strlen(label) : 0), "");
        if (json_is_null(json_object_get(o, "version"))) {
            printf(" %7s  %-20s  %-7s  %s\n", "-", "-", "-", "not made yet");
            continue;
        }
        char sig[32];
        snprintf(sig, sizeof(sig), "%lld/%lld",
                 (long long)json_integer_value(json_object_get(o, "signatures")),
                 (long long)json_integer_value(json_object_get(o, "threshold")));
        long long pv = (long long)json_integer_value(json_object_get(o, "published_version"));
        char pub[48];
        if (json_is_true(json_object_get(o, "published")))
            snprintf(pub, sizeof(pub), "yes");
        else if (pv)
            snprintf(pub, sizeof(pub), "no (v%lld is)", pv);
        else
            snprintf(pub, sizeof(pub), "no");
        printf(" %7lld  %-20s  %-7s  %s",
               (long long)json_integer_value(json_object_get(o, "version")),
               json_string_value(json_object_get(o, "expires")), sig, pub);
        if (json_is_true(json_object_get(o, "expired")))
            printf("  EXPIRED");
        const json_t *pr = json_object_get(o, "previous_root");
        if (pr && !json_is_true(json_object_get(o, "published")))
            printf("  previous root keys %lld/%lld",
                   (long long)json_integer_value(json_object_get(pr, "signatures")),
                   (long long)json_integer_value(json_object_get(pr, "threshold")));
        const json_t *nt = json_object_get(o, "targets");
        if (nt)
            printf("  %lld target%s", (long long)json_integer_value(nt),
                   json_integer_value(nt) == 1 ? "" : "s");
        printf("\n");
    }
    json_t *probs = json_object_get(st, "problems");
    if (json_is_true(json_object_get(st, "ready"))) {
        printf("\nready to publish\n");
    } else {
        printf("\nnot ready to publish:\n");
        for (size_t i = 0; i < json_array_size(probs); i++) {
            printf("  - ");
            cli_puts_safe(stdout, json_string_value(json_array_get(probs, i)));
            printf("\n");
        }
    }
    printf("\nkeys:\n");
    for (size_t i = 0; i < json_array_size(roles); i++) {
        json_t *o = json_array_get(roles, i);
        json_t *ids = json_object_get(o, "keyids");
        for (size_t j = 0; j < json_array_size(ids); j++) {
            printf("  %-14s ", j == 0 ? json_string_value(json_object_get(o, "role")) : "");
            cli_puts_safe(stdout, json_string_value(json_array_get(ids, j)));
            printf("\n");
        }
    }
    json_decref(st);
    return RF_EXIT_OK;
}

/* ---- dispatch ----------------------------------------------------------------------- */

static int repo_sign(int argc, char **argv)
{
    return repo_signlike(argc, argv, 0);
}

static int repo_snapshot(int argc, char **argv)
{
    return repo_signlike(argc, argv, 1);
}

static int repo_timestamp(int argc, char **argv)
{
    return repo_signlike(argc, argv, 2);
}

int cmd_repo(int argc, char **argv, const char *workspace)
{
    (void)workspace;
    static const cli_subcmd subs[] = {
        {"init", repo_init},           {"add-target", repo_add_target},
        {"remove-target", repo_remove_target}, {"sign", repo_sign},
        {"snapshot", repo_snapshot},   {"timestamp", repo_timestamp},
        {"publish", repo_publish},     {"root", repo_root},
        {"delegate", repo_delegate},   {"renew", repo_renew},
        {"status", repo_status},
    };
    return cli_subcommand("repo", usage, subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
