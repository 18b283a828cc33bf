/*
 * synth.c — the synthetic IPC workspace of synth.h: one seeded generator of
 * template instances (as an rf_channel), the YAML writer that renders that
 * same rf_channel, and a generator of background and matching events.
 *
 * Why one generator: benchmarks compare the in-memory load path (rf_channel →
 * write → read → interpreter) with the on-disk path (YAML → validator); both
 * must see exactly the same content, so the YAML is printed from the channel
 * rather than generated a second time.
 *
 * Matching events are built from an instance's criteria by witness(), which
 * derives a value satisfying a criterion from the criterion itself (a glob
 * with its wildcards filled, a prefix with a tail, a value of a range, ...).
 * A regex cannot be inverted that cheaply, so the generator records the
 * value it made each regex for in the instance's first (expect: match) test,
 * and witness() reads it from there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"

/* ---- random numbers ---------------------------------------------------- */

/* Percent chance. */
static int chance(rf_rng *r, uint32_t pct)
{
    return rf_rng_below(r, 100) < pct;
}

#define PICK(r, arr) ((arr)[rf_rng_below((r), (uint32_t)(sizeof(arr) / sizeof((arr)[0])))])
#define COUNT(arr) ((uint32_t)(sizeof(arr) / sizeof((arr)[0])))

/* ---- the template type ------------------------------------------------- */

enum {
    F_PIPE_NAME, F_IMAGE_PATH, F_COMMAND_LINE, F_USER_SID, F_PARENT_IMAGE,
    F_PARENT_PID, F_PROCESS_ID, F_SESSION_ID, F_ACCESS_MASK, F_INTEGRITY_LEVEL,
    F_USER_NAME, F_HOST_NAME, F_SERVER_PIPE_IMAGE, F_OPEN_MODE, F_PIPE_MODE,
    F_MAX_INSTANCES, F_CLIENT_PID, F_FILE_HASH, F_SIGNER, F_TOKEN_ELEVATION,
    F_REMOTE_HOST,
};

static const struct {
    const char *name;
    rf_field_type type;
} FIELDS[SYNTH_NFIELDS] = {
    {"pipe_name", RF_TYPE_STRING},      {"image_path", RF_TYPE_STRING},
    {"command_line", RF_TYPE_STRING},   {"user_sid", RF_TYPE_STRING},
    {"parent_image", RF_TYPE_STRING},   {"parent_pid", RF_TYPE_INT},
    {"process_id", RF_TYPE_INT},        {"session_id", RF_TYPE_INT},
    {"access_mask", RF_TYPE_INT},       {"integrity_level", RF_TYPE_INT},
    {"user_name", RF_TYPE_STRING},      {"host_name", RF_TYPE_STRING},
    {"server_pipe_image", RF_TYPE_STRING}, {"open_mode", RF_TYPE_INT},
    {"pipe_mode", RF_TYPE_INT},         {"max_instances", RF_TYPE_INT},
    {"client_pid", RF_TYPE_INT},        {"file_hash", RF_TYPE_STRING},
    {"signer", RF_TYPE_STRING},         {"token_elevation", RF_TYPE_INT},
    {"remote_host", RF_TYPE_STRING},
};

const char *synth_field_name(uint32_t i)
{
    return i < SYNTH_NFIELDS ? FIELDS[i].name : "?";
}

rf_field_type synth_field_type(uint32_t i)
{
    return i < SYNTH_NFIELDS ? FIELDS[i].type : RF_TYPE_STRING;
}

char *synth_type_yaml(void)
{
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b, "kind: TemplateType\nname: %s\nversion: %u\nfields:\n",
                  SYNTH_TYPE_NAME, SYNTH_TYPE_VERSION);
    for (uint32_t i = 0; i < SYNTH_NFIELDS; i++)
        rf_buf_printf(&b, "  - {name: %s, type: %s}\n", FIELDS[i].name,
                      FIELDS[i].type == RF_TYPE_INT ? "int" : "string");
    return rf_buf_take(&b);
}

char *synth_sensor_yaml(const char *sensor_version, uint32_t inputs)
{
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b,
                  "kind: SensorManifest\nsensor_version: \"%s\"\n"
                  "template_types:\n  - {name: %s, version: %u, inputs: %u}\n",
                  sensor_version, SYNTH_TYPE_NAME, SYNTH_TYPE_VERSION, inputs);
    return rf_buf_take(&b);
}

static rf_rc add_doc(rf_workspace *ws, const char *file, char *text, rf_err *err)
{
    if (!text)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    rf_rc rc = rf_workspace_add_yaml(ws, file, text, strlen(text), err);
    free(text);
    return rc;
}

rf_rc synth_workspace(rf_workspace **out, rf_err *err)
{
    rf_workspace *ws = NULL;
    rf_rc rc = rf_workspace_new(&ws);
    if (rc != RF_OK)
        return rf_err_set(err, rc, NULL, 0, 0, "cannot create a workspace");
    rc = add_doc(ws, "types/" SYNTH_TYPE_NAME ".yaml", synth_type_yaml(), err);
    if (rc != RF_OK)
        goto out_free_ws;
    rc = add_doc(ws, "sensors/sensor-20.yaml",
                 synth_sensor_yaml(SYNTH_SENSOR_20, SYNTH_CRIT_FIELDS), err);
    if (rc != RF_OK)
        goto out_free_ws;
    rc = add_doc(ws, "sensors/sensor-21.yaml",
                 synth_sensor_yaml(SYNTH_SENSOR_21, SYNTH_NFIELDS), err);
    if (rc != RF_OK)
        goto out_free_ws;
    *out = ws;
    return RF_OK;
out_free_ws:
    rf_workspace_free(ws);
    return rc;
}

/* ---- vocabularies ------------------------------------------------------ */

static const char *const EXES[] = {
    "rundll32.exe", "powershell.exe", "svchost.exe", "chrome.exe",
    "explorer.exe", "cmd.exe", "lsass.exe", "services.exe", "msedge.exe",
    "teams.exe", "winword.exe", "excel.exe", "dllhost.exe", "wmiprvse.exe",
    "spoolsv.exe", "notepad.exe", "mshta.exe", "regsvr32.exe",
};
static const char *const DIRS[] = {
    "C:\\Windows\\System32", "C:\\Windows\\SysWOW64", "C:\\Windows",
    "C:\\Program Files\\Google\\Chrome\\Application",
    "C:\\Program Files (x86)\\Microsoft\\Edge\\Application",
    "C:\\Users\\alice\\AppData\\Local\\Temp", "C:\\ProgramData\\Vendor",
};
static const char *const PIPE_WORDS[] = {
    "lsass", "wkssvc", "srvsvc", "spoolss", "ntsvcs", "eventlog", "atsvc",
    "samr", "netlogon", "winreg", "epmapper", "msagent", "status", "postex",
    "mojo", "interprocess", "rpc_lookup", "dce", "halfduplex", "sdlrpc",
};
static const char *const CMD_ARGS[] = {
    "-k netsvcs -p", "-enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA",
    "--type=renderer --field-trial-handle=1720", "/c whoami /all",
    "-NoProfile -ExecutionPolicy Bypass -File C:\\temp\\x.ps1",
    "shell32.dll,Control_RunDLL", "", "-Embedding", "/s /n /u /i:x.sct scrobj.dll",
};
static const char *const WELL_KNOWN_SIDS[] = {"S-1-5-18", "S-1-5-19", "S-1-5-20"};
static const char *const USERS[] = {
    "SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE", "alice", "bob", "jdoe",
    "admin", "svc_backup",
};
static const char *const SIGNERS[] = {
    "Microsoft Windows", "Microsoft Corporation", "Google LLC",
    "Mozilla Corporation", "Unknown Publisher", "Zoom Video Communications, Inc.",
};
static const int64_t ACCESS_MASKS[] = {0x1f01ff, 0x120089, 0x12019f, 0x3, 0x80, 0x100000};
static const int64_t INTEGRITY[] = {0x1000, 0x2000, 0x3000, 0x4000};
static const int64_t PIPE_MODES[] = {0, 2, 4, 6};

/* A fixed pool of "known bad" hashes that criteria and events share. */
#define HASH_POOL 32
static char hash_pool[HASH_POOL][65];
static int hash_pool_ready;

static void put_s(rf_buf *b, const char *s)
{
    rf_buf_append(b, s, strlen(s));
}

static void put_hex(rf_buf *b, rf_rng *r, uint32_t n, int upper)
{
    static const char lo[] = "0123456789abcdef";
    static const char up[] = "0123456789ABCDEF";
    char tmp[64];
    while (n > 0) {
        uint32_t k = n < sizeof(tmp) ? n : (uint32_t)sizeof(tmp);
        for (uint32_t i = 0; i < k; i++)
            tmp[i] = (upper ? up : lo)[rf_rng_below(r, 16)];
        rf_buf_append(b, tmp, k);
        n -= k;
    }
}

static void init_hash_pool(void)
{
    if (hash_pool_ready)
        return;
    rf_rng r;
    rf_rng_seed(&r, 0xbadbadull);
    for (int i = 0; i < HASH_POOL; i++) {
        for (int j = 0; j < 64; j++)
            hash_pool[i][j] = "0123456789abcdef"[rf_rng_below(&r, 16)];
        hash_pool[i][64] = '\0';
    }
    hash_pool_ready = 1;
}

/*
 * The instance token: "zq" and four letters of [g-z], a bijection of the
 * instance index (< 20^4). Background values use only hex digits, words
 * without "zq", and fixed vocabularies, so they never contain a token, and
 * a token is always followed by a character outside [g-z].
 */
static void put_token(rf_buf *b, uint32_t k)
{
    static const char L[] = "ghijklmnopqrstuvwxyz";
    uint32_t v = (uint32_t)(((uint64_t)k * 7919u + 13u) % 160000u);
    char t[7] = {'z', 'q', 0, 0, 0, 0, 0};
    for (int i = 5; i >= 2; i--) {
        t[i] = L[v % 20u];
        v /= 20u;
    }
    rf_buf_append(b, t, 6);
}

static void put_path(rf_buf *b, rf_rng *r)
{
    rf_buf_printf(b, "%s\\%s", PICK(r, DIRS), PICK(r, EXES));
}

/* A realistic value of string field f that matches no distinctive criterion. */
static void background_str(rf_buf *b, rf_rng *r, uint32_t f)
{
    switch (f) {
    case F_PIPE_NAME:
        put_s(b, "\\\\.\\pipe\\");
        switch (rf_rng_below(r, 6)) {
        case 0:
            put_s(b, PICK(r, PIPE_WORDS));
            break;
        case 1:
            rf_buf_printf(b, "mojo.%u.%u.", 4 * rf_rng_below(r, 16000),
                          rf_rng_below(r, 64));
            put_hex(b, r, 16, 0);
            break;
        case 2:
            put_s(b, "chrome.sync.");
            put_hex(b, r, 8, 0);
            break;
        case 3:
            rf_buf_printf(b, "PSHost.%u.%u.DefaultAppDomain.powershell",
                          rf_rng_below(r, 1000000000), 4 * rf_rng_below(r, 16000));
            break;
        case 4:
            put_s(b, "msagent_");
            put_hex(b, r, 2, 0);
            break;
        default:
            rf_buf_printf(b, "%s_", PICK(r, PIPE_WORDS));
            put_hex(b, r, 8, 0);
            break;
        }
        return;
    case F_IMAGE_PATH:
    case F_PARENT_IMAGE:
    case F_SERVER_PIPE_IMAGE:
        put_path(b, r);
        return;
    case F_COMMAND_LINE:
        put_s(b, "\"");
        put_path(b, r);
        rf_buf_printf(b, "\" %s", PICK(r, CMD_ARGS));
        return;
    case F_USER_SID:
        if (chance(r, 50))
            put_s(b, PICK(r, WELL_KNOWN_SIDS));
        else
            rf_buf_printf(b, "S-1-5-21-%u-%u-%u-%u", rf_rng_below(r, 2000000000),
                          rf_rng_below(r, 2000000000), rf_rng_below(r, 2000000000),
                          1000 + rf_rng_below(r, 5000));
        return;
    case F_USER_NAME:
        put_s(b, PICK(r, USERS));
        return;
    case F_HOST_NAME:
        switch (rf_rng_below(r, 3)) {
        case 0:
            rf_buf_printf(b, "WS-%05u", rf_rng_below(r, 100000));
            break;
        case 1:
            rf_buf_printf(b, "SRV-%s", PICK(r, PIPE_WORDS));
            break;
        default:
            put_s(b, "LAPTOP-");
            put_hex(b, r, 8, 1);
            break;
        }
        return;
    case F_FILE_HASH:
        if (chance(r, 5))
            put_s(b, hash_pool[rf_rng_below(r, HASH_POOL)]);
        else
            put_hex(b, r, 64, 0);
        return;
    case F_SIGNER:
        put_s(b, PICK(r, SIGNERS));
        return;
    case F_REMOTE_HOST:
        rf_buf_printf(b, "10.%u.%u.%u", rf_rng_below(r, 256), rf_rng_below(r, 256),
                      1 + rf_rng_below(r, 254));
        return;
    default:
        put_hex(b, r, 8, 0);
        return;
    }
}

static int64_t background_int(rf_rng *r, uint32_t f)
{
    switch (f) {
    case F_PARENT_PID:
    case F_PROCESS_ID:
    case F_CLIENT_PID:
        return 4 + 4 * (int64_t)rf_rng_below(r, 16383);
    case F_SESSION_ID:
        return chance(r, 50) ? 0 : 1 + rf_rng_below(r, 3);
    case F_ACCESS_MASK:
        return PICK(r, ACCESS_MASKS);
    case F_INTEGRITY_LEVEL:
        return PICK(r, INTEGRITY);
    case F_OPEN_MODE:
        return 1 + rf_rng_below(r, 3);
    case F_PIPE_MODE:
        return PICK(r, PIPE_MODES);
    case F_MAX_INSTANCES:
        return chance(r, 60) ? 255 : 1 + rf_rng_below(r, 255);
    case F_TOKEN_ELEVATION:
        return 1 + rf_rng_below(r, 3);
    default:
        return rf_rng_below(r, 1000);
    }
}

/* ---- witnesses: a value that satisfies a criterion --------------------- */

static void put_filler(rf_buf *b, rf_rng *r, uint32_t max)
{
    put_hex(b, r, rf_rng_below(r, max + 1), 0);
}

static void put_head(rf_buf *b, rf_rng *r, uint32_t f)
{
    if (f == F_PIPE_NAME) {
        put_s(b, "\\\\.\\pipe\\");
        put_filler(b, r, 6);
    } else if (f == F_IMAGE_PATH || f == F_PARENT_IMAGE || f == F_SERVER_PIPE_IMAGE) {
        put_s(b, PICK(r, DIRS));
    } else if (f == F_COMMAND_LINE) {
        put_s(b, "\"");
        put_path(b, r);
        put_s(b, "\"");
    } else {
        put_filler(b, r, 6);
    }
}

/* Flip the case of some ASCII letters of b->data[from..]: nocase witnesses. */
static void scramble_case(rf_buf *b, size_t from, rf_rng *r)
{
    if (b->oom)
        return;
    for (size_t i = from; i < b->len; i++) {
        uint8_t c = b->data[i];
        if (((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) && chance(r, 30))
            b->data[i] = (uint8_t)(c ^ 0x20);
    }
}

/* The instance's first test (expect: match) input for field f, or NULL. */
static const rf_value *match_test_value(const rf_instance *inst, uint16_t f)
{
    if (!inst || inst->ntests == 0 || !inst->tests[0].expect_match)
        return NULL;
    const rf_test *t = &inst->tests[0];
    for (uint32_t i = 0; i < t->ninputs; i++)
        if (t->inputs[i].field == f)
            return &t->inputs[i].v;
    return NULL;
}

/*
 * Append to b a string satisfying string criterion c of inst (for a regex,
 * the value recorded in inst's match test).
 */
static void witness_str(rf_buf *b, rf_rng *r, const rf_instance *inst, const rf_crit *c)
{
    size_t start = b->len;
    const rf_value *v = c->nvals ? &c->vals[0] : NULL;
    if (!v && c->kind != RF_CRIT_REGEX)
        return;
    switch (c->kind) {
    case RF_CRIT_EQUALS:
        rf_buf_append(b, v->s, v->len);
        break;
    case RF_CRIT_ONE_OF:
        v = &c->vals[rf_rng_below(r, c->nvals)];
        rf_buf_append(b, v->s, v->len);
        break;
    case RF_CRIT_PREFIX:
        rf_buf_append(b, v->s, v->len);
        put_filler(b, r, 8);
        break;
    case RF_CRIT_SUFFIX:
        put_head(b, r, c->field);
        rf_buf_append(b, v->s, v->len);
        break;
    case RF_CRIT_CONTAINS:
        put_head(b, r, c->field);
        rf_buf_append(b, v->s, v->len);
        put_filler(b, r, 8);
        break;
    case RF_CRIT_GLOB:
        for (uint32_t i = 0; i < v->len; i++) {
            if (v->s[i] == '*')
                put_filler(b, r, 6);
            else if (v->s[i] == '?')
                put_hex(b, r, 1, 0);
            else
                rf_buf_append(b, &v->s[i], 1);
        }
        break;
    case RF_CRIT_REGEX: {
        const rf_value *w = match_test_value(inst, c->field);
        if (w && w->type == RF_VAL_STRING)
            rf_buf_append(b, w->s, w->len);
        break;
    }
    default:
        break;
    }
    if (c->flags & RF_CRIT_NOCASE)
        scramble_case(b, start, r);
}

static int64_t witness_int(rf_rng *r, const rf_crit *c)
{
    if (c->nvals == 0)
        return 0;
    switch (c->kind) {
    case RF_CRIT_ONE_OF:
        return c->vals[rf_rng_below(r, c->nvals)].i;
    case RF_CRIT_RANGE: {
        if (c->nvals < 2 || c->vals[1].i < c->vals[0].i)
            return c->nvals ? c->vals[0].i : 0;
        uint64_t span = (uint64_t)c->vals[1].i - (uint64_t)c->vals[0].i;
        uint64_t off = span >= UINT32_MAX ? rf_rng_next(r) % (span + 1)
                                          : rf_rng_below(r, (uint32_t)span + 1);
        return (int64_t)((uint64_t)c->vals[0].i + off);
    }
    default:
        return c->vals[0].i;
    }
}

/* ---- the generator ----------------------------------------------------- */

/* A criterion being built, with its witness when it cannot be derived. */
typedef struct pend {
    rf_crit c;
    char *regex_witness; /* RF_CRIT_REGEX only */
} pend;

typedef struct gen {
    rf_rng *r;
    rf_buf t; /* scratch text */
    int oom;
} gen;

/* Take the scratch text as a malloc'd string value. */
static void take_str(gen *g, rf_value *v)
{
    v->type = RF_VAL_STRING;
    v->len = (uint32_t)g->t.len;
    v->s = rf_buf_take(&g->t);
    if (!v->s) {
        g->oom = 1;
        v->s = NULL;
        v->len = 0;
    }
    rf_buf_init(&g->t);
}

static void crit_init(gen *g, pend *p, uint32_t f, rf_crit_kind k, uint32_t nvals)
{
    memset(p, 0, sizeof(*p));
    p->c.field = (uint16_t)f;
    p->c.field_name = strdup(FIELDS[f].name);
    p->c.kind = k;
    p->c.vtype = FIELDS[f].type == RF_TYPE_INT ? RF_VAL_INT : RF_VAL_STRING;
    p->c.nvals = nvals;
    p->c.vals = calloc(nvals, sizeof(rf_value));
    if (!p->c.field_name || !p->c.vals) {
        g->oom = 1;
        p->c.nvals = 0;
    }
}

/* A string criterion with one value: the scratch text. */
static void crit_str1(gen *g, pend *p, uint32_t f, rf_crit_kind k, int nocase)
{
    crit_init(g, p, f, k, 1);
    if (p->c.nvals)
        take_str(g, &p->c.vals[0]);
    else
        rf_buf_free(&g->t);
    p->c.flags = nocase ? RF_CRIT_NOCASE : 0;
}

/* A string one_of from a vocabulary, n distinct entries (n <= count). */
static void crit_str_oneof(gen *g, pend *p, uint32_t f, const char *const *vocab,
                           uint32_t count, uint32_t n, int nocase)
{
    uint32_t start = rf_rng_below(g->r, count);
    crit_init(g, p, f, RF_CRIT_ONE_OF, n);
    for (uint32_t i = 0; i < p->c.nvals; i++) {
        put_s(&g->t, vocab[(start + i) % count]);
        take_str(g, &p->c.vals[i]);
    }
    p->c.flags = nocase ? RF_CRIT_NOCASE : 0;
}

static void crit_int_vals(gen *g, pend *p, uint32_t f, rf_crit_kind k,
                          const int64_t *vals, uint32_t n)
{
    crit_init(g, p, f, k, n);
    for (uint32_t i = 0; i < p->c.nvals; i++) {
        p->c.vals[i].type = RF_VAL_INT;
        p->c.vals[i].i = vals[i];
    }
}

static void crit_regex(gen *g, pend *p, uint32_t f, int nocase, rf_buf *w)
{
    crit_str1(g, p, f, RF_CRIT_REGEX, nocase);
    p->regex_witness = rf_buf_take(w);
    if (!p->regex_witness)
        g->oom = 1;
    rf_buf_init(w);
}

/* The criterion no background event satisfies (see put_token). */
static void distinctive(gen *g, pend *p, uint32_t k, uint32_t *field)
{
    rf_rng *r = g->r;
    rf_buf *t = &g->t;
    int nocase = chance(r, 60);
    const char *word = PICK(r, PIPE_WORDS);
    if (chance(r, 85)) {
        *field = F_PIPE_NAME;
        uint32_t kind = rf_rng_below(r, 100);
        if (kind < 35) {
            switch (rf_rng_below(r, 4)) {
            case 0:
                rf_buf_printf(t, "\\\\.\\pipe\\%s_", word);
                put_token(t, k);
                put_s(t, "_*");
                break;
            case 1:
                put_s(t, "\\\\.\\pipe\\*");
                put_token(t, k);
                put_s(t, "*");
                break;
            case 2:
                put_s(t, "\\\\.\\pipe\\");
                put_token(t, k);
                put_s(t, "-????");
                break;
            default:
                put_s(t, "*\\");
                put_token(t, k);
                rf_buf_printf(t, ".%s*", word);
                break;
            }
            crit_str1(g, p, F_PIPE_NAME, RF_CRIT_GLOB, nocase);
        } else if (kind < 50) {
            rf_buf_printf(t, "\\\\.\\pipe\\%s", word);
            put_token(t, k);
            crit_str1(g, p, F_PIPE_NAME, RF_CRIT_PREFIX, nocase);
        } else if (kind < 60) {
            put_token(t, k);
            rf_buf_printf(t, "_%s", word);
            crit_str1(g, p, F_PIPE_NAME, RF_CRIT_SUFFIX, nocase);
        } else if (kind < 75) {
            put_token(t, k);
            crit_str1(g, p, F_PIPE_NAME, RF_CRIT_CONTAINS, nocase);
        } else if (kind < 85) {
            rf_buf_printf(t, "\\\\.\\pipe\\%s_", word);
            put_token(t, k);
            crit_str1(g, p, F_PIPE_NAME, RF_CRIT_EQUALS, nocase);
        } else if (kind < 90) {
            uint32_t n = 2 + rf_rng_below(r, 5);
            crit_init(g, p, F_PIPE_NAME, RF_CRIT_ONE_OF, n);
            for (uint32_t i = 0; i < p->c.nvals; i++) {
                put_s(t, "\\\\.\\pipe\\");
                put_token(t, k);
                rf_buf_printf(t, "_%u", i);
                take_str(g, &p->c.vals[i]);
            }
            p->c.flags = nocase ? RF_CRIT_NOCASE : 0;
        } else {
            rf_buf w;
            rf_buf_init(&w);
            if (chance(r, 50)) {
                rf_buf_printf(t, "\\\\pipe\\\\%s_", word);
                put_token(t, k);
                put_s(t, "_[0-9a-f]{4,8}$");
                rf_buf_printf(&w, "\\\\.\\pipe\\%s_", word);
                put_token(&w, k);
                put_s(&w, "_");
                put_hex(&w, r, 4 + rf_rng_below(r, 5), 0);
            } else {
                put_s(t, "^\\\\\\\\\\.\\\\pipe\\\\");
                put_token(t, k);
                put_s(t, "[0-9]{2,6}(_x|_svc)?$");
                put_s(&w, "\\\\.\\pipe\\");
                put_token(&w, k);
                rf_buf_printf(&w, "%u", 10 + rf_rng_below(r, 99990));
                if (chance(r, 50))
                    put_s(&w, chance(r, 50) ? "_x" : "_svc");
            }
            if (nocase)
                scramble_case(&w, 0, r);
            crit_regex(g, p, F_PIPE_NAME, nocase, &w);
        }
        return;
    }
    switch (rf_rng_below(r, 4)) {
    case 0:
        *field = F_COMMAND_LINE;
        put_s(t, " --");
        put_token(t, k);
        put_s(t, " ");
        crit_str1(g, p, F_COMMAND_LINE, RF_CRIT_CONTAINS, 1);
        break;
    case 1:
        *field = F_USER_NAME;
        put_s(t, "svc_");
        put_token(t, k);
        crit_str1(g, p, F_USER_NAME, RF_CRIT_EQUALS, 1);
        break;
    case 2:
        *field = F_SERVER_PIPE_IMAGE;
        put_s(t, "\\");
        put_token(t, k);
        put_s(t, ".exe");
        crit_str1(g, p, F_SERVER_PIPE_IMAGE, RF_CRIT_SUFFIX, 1);
        break;
    default:
        *field = F_FILE_HASH;
        put_hex(t, r, 64, 0);
        crit_str1(g, p, F_FILE_HASH, RF_CRIT_EQUALS, 0);
        break;
    }
}

/* A common criterion on field f, one background events often satisfy. */
static void common(gen *g, pend *p, uint32_t f)
{
    rf_rng *r = g->r;
    rf_buf *t = &g->t;
    uint32_t x = rf_rng_below(r, 100);
    switch (f) {
    case F_IMAGE_PATH:
    case F_PARENT_IMAGE:
    case F_SERVER_PIPE_IMAGE:
        if (x < 45) {
            rf_buf_printf(t, "\\%s", PICK(r, EXES));
            crit_str1(g, p, f, RF_CRIT_SUFFIX, 1);
        } else if (x < 65) {
            uint32_t n = 2 + rf_rng_below(r, 3);
            crit_init(g, p, f, RF_CRIT_ONE_OF, n);
            for (uint32_t i = 0; i < p->c.nvals; i++) {
                rf_buf_printf(t, "%s\\%s", DIRS[i % COUNT(DIRS)], PICK(r, EXES));
                take_str(g, &p->c.vals[i]);
            }
            p->c.flags = RF_CRIT_NOCASE;
        } else if (x < 85) {
            rf_buf_printf(t, "C:\\Windows\\*\\%s", PICK(r, EXES));
            crit_str1(g, p, f, RF_CRIT_GLOB, 1);
        } else {
            put_path(t, r);
            crit_str1(g, p, f, RF_CRIT_EQUALS, 1);
        }
        return;
    case F_COMMAND_LINE:
        if (x < 35) {
            put_s(t, " -enc ");
            crit_str1(g, p, f, RF_CRIT_CONTAINS, 1);
        } else if (x < 65) {
            rf_buf w;
            rf_buf_init(&w);
            put_s(t, "\\s-(e|en|enc|encodedcommand)\\s");
            put_s(&w, "powershell.exe -enc SQBFAFgA");
            crit_regex(g, p, f, 1, &w);
        } else if (x < 85) {
            rf_buf w;
            rf_buf_init(&w);
            put_s(t, "rundll32(\\.exe)?\"?\\s+[^,\\s]+,[A-Za-z_]+");
            put_s(&w, "\"C:\\Windows\\System32\\rundll32.exe\" shell32.dll,Control_RunDLL");
            crit_regex(g, p, f, 0, &w);
        } else {
            put_s(t, "--type=renderer");
            crit_str1(g, p, f, RF_CRIT_CONTAINS, 0);
        }
        return;
    case F_USER_SID:
        if (x < 40) {
            put_s(t, "S-1-5-21-");
            crit_str1(g, p, f, RF_CRIT_PREFIX, 0);
        } else if (x < 70) {
            put_s(t, "S-1-5-18");
            crit_str1(g, p, f, RF_CRIT_EQUALS, 0);
        } else {
            crit_str_oneof(g, p, f, WELL_KNOWN_SIDS, COUNT(WELL_KNOWN_SIDS), 2, 0);
        }
        return;
    case F_PARENT_PID:
    case F_PROCESS_ID:
    case F_CLIENT_PID: {
        static const int64_t spans[] = {4096, 16384, 65535};
        int64_t lo = 4 * (int64_t)rf_rng_below(r, 8000);
        int64_t v[2] = {lo, lo + PICK(r, spans)};
        crit_int_vals(g, p, f, RF_CRIT_RANGE, v, 2);
        return;
    }
    case F_SESSION_ID: {
        static const int64_t zero = 0, v[2] = {1, 10};
        if (x < 50)
            crit_int_vals(g, p, f, RF_CRIT_EQUALS, &zero, 1);
        else
            crit_int_vals(g, p, f, RF_CRIT_RANGE, v, 2);
        return;
    }
    case F_ACCESS_MASK:
        if (x < 60)
            crit_int_vals(g, p, f, RF_CRIT_ONE_OF, ACCESS_MASKS, 1 + rf_rng_below(r, 3));
        else
            crit_int_vals(g, p, f, RF_CRIT_EQUALS, ACCESS_MASKS, 1);
        return;
    case F_INTEGRITY_LEVEL: {
        int64_t v[2] = {0x3000, 0x4000};
        if (x < 40)
            crit_int_vals(g, p, f, RF_CRIT_ONE_OF, INTEGRITY + 2, 2);
        else if (x < 70)
            crit_int_vals(g, p, f, RF_CRIT_EQUALS, INTEGRITY + 3, 1);
        else
            crit_int_vals(g, p, f, RF_CRIT_RANGE, v, 2);
        return;
    }
    case F_USER_NAME:
        if (x < 50) {
            put_s(t, "SYSTEM");
            crit_str1(g, p, f, RF_CRIT_EQUALS, 1);
        } else {
            crit_str_oneof(g, p, f, USERS, COUNT(USERS), 2 + rf_rng_below(r, 3), 1);
        }
        return;
    case F_HOST_NAME:
        if (x < 40) {
            put_s(t, "WS-*");
            crit_str1(g, p, f, RF_CRIT_GLOB, 1);
        } else if (x < 70) {
            put_s(t, "SRV-");
            crit_str1(g, p, f, RF_CRIT_PREFIX, 1);
        } else {
            rf_buf w;
            rf_buf_init(&w);
            put_s(t, "^LAPTOP-[0-9A-F]{8}$");
            put_s(&w, "LAPTOP-");
            put_hex(&w, r, 8, 1);
            crit_regex(g, p, f, 0, &w);
        }
        return;
    case F_OPEN_MODE: {
        int64_t v[2] = {1, 2};
        crit_int_vals(g, p, f, x < 50 ? RF_CRIT_ONE_OF : RF_CRIT_EQUALS, v, x < 50 ? 2 : 1);
        return;
    }
    case F_PIPE_MODE:
        if (x < 50)
            crit_int_vals(g, p, f, RF_CRIT_ONE_OF, PIPE_MODES + 1, 3);
        else
            crit_int_vals(g, p, f, RF_CRIT_EQUALS, PIPE_MODES, 1);
        return;
    case F_MAX_INSTANCES: {
        static const int64_t v[2] = {1, 16}, most = 255;
        if (x < 50)
            crit_int_vals(g, p, f, RF_CRIT_RANGE, v, 2);
        else
            crit_int_vals(g, p, f, RF_CRIT_EQUALS, &most, 1);
        return;
    }
    case F_FILE_HASH: {
        uint32_t n = 2 + rf_rng_below(r, 7);
        uint32_t start = rf_rng_below(r, HASH_POOL);
        crit_init(g, p, f, RF_CRIT_ONE_OF, n);
        for (uint32_t i = 0; i < p->c.nvals; i++) {
            put_s(t, hash_pool[(start + i) % HASH_POOL]);
            take_str(g, &p->c.vals[i]);
        }
        return;
    }
    case F_SIGNER:
        if (x < 40) {
            put_s(t, "Microsoft Windows");
            crit_str1(g, p, f, RF_CRIT_EQUALS, 1);
        } else if (x < 70) {
            crit_str_oneof(g, p, f, SIGNERS, COUNT(SIGNERS), 2, 1);
        } else {
            put_s(t, "Microsoft");
            crit_str1(g, p, f, RF_CRIT_CONTAINS, 1);
        }
        return;
    case F_TOKEN_ELEVATION: {
        static const int64_t v[2] = {2, 3}, lim_full[2] = {1, 2};
        if (x < 40)
            crit_int_vals(g, p, f, RF_CRIT_EQUALS, v, 1);
        else if (x < 70)
            crit_int_vals(g, p, f, RF_CRIT_ONE_OF, lim_full, 2);
        else
            crit_int_vals(g, p, f, RF_CRIT_RANGE, v, 2);
        return;
    }
    default: /* F_PIPE_NAME: only ever distinctive */
        put_s(t, "\\\\.\\pipe\\");
        crit_str1(g, p, f, RF_CRIT_PREFIX, 0);
        return;
    }
}

static int pend_cmp(const void *a, const void *b)
{
    const pend *x = a, *y = b;
    return (int)x->c.field - (int)y->c.field;
}

/* Set test input *ti to a value for criterion p (its witness). */
static void test_input(gen *g, rf_test_input *ti, const pend *p)
{
    ti->field = p->c.field;
    if (p->c.vtype == RF_VAL_INT) {
        ti->v.type = RF_VAL_INT;
        ti->v.i = witness_int(g->r, &p->c);
        return;
    }
    if (p->c.kind == RF_CRIT_REGEX)
        put_s(&g->t, p->regex_witness ? p->regex_witness : "");
    else
        witness_str(&g->t, g->r, NULL, &p->c);
    take_str(g, &ti->v);
}

static void gen_instance(gen *g, rf_instance *inst, uint32_t k)
{
    static const rf_severity sevs[] = {RF_SEV_INFO, RF_SEV_LOW, RF_SEV_MEDIUM,
                                       RF_SEV_HIGH, RF_SEV_CRITICAL};
    rf_rng *r = g->r;
    char id[32];
    snprintf(id, sizeof(id), "synth-%05u", k);
    inst->id = strdup(id);
    inst->action = chance(r, 20) ? RF_ACTION_BLOCK : RF_ACTION_DETECT;
    inst->severity = PICK(r, sevs);
    if (!inst->id)
        g->oom = 1;

    pend ps[5];
    uint32_t n = 2 + rf_rng_below(r, 4);
    uint32_t used = 0, dfield = 0;
    distinctive(g, &ps[0], k, &dfield);
    used |= 1u << dfield;
    for (uint32_t i = 1; i < n; i++) {
        uint32_t f;
        do
            f = 1 + rf_rng_below(r, SYNTH_CRIT_FIELDS - 1);
        while (used & (1u << f));
        used |= 1u << f;
        common(g, &ps[i], f);
    }
    qsort(ps, n, sizeof(ps[0]), pend_cmp);

    inst->crits = calloc(n, sizeof(rf_crit));
    inst->tests = calloc(2, sizeof(rf_test));
    rf_test_input *m = calloc(n, sizeof(rf_test_input));
    rf_test_input *nm = calloc(n, sizeof(rf_test_input));
    if (!inst->crits || !inst->tests || !m || !nm) {
        g->oom = 1;
        free(m);
        free(nm);
        for (uint32_t i = 0; i < n; i++) {
            /* Hand the criteria to a throwaway instance so they are freed. */
            free(ps[i].regex_witness);
            free(ps[i].c.field_name);
            for (uint32_t j = 0; j < ps[i].c.nvals; j++)
                free(ps[i].c.vals[j].s);
            free(ps[i].c.vals);
        }
        return;
    }
    inst->ncrits = n;
    inst->ntests = 2;
    inst->tests[0] = (rf_test){.expect_match = 1, .ninputs = n, .inputs = m};
    inst->tests[1] = (rf_test){.expect_match = 0, .ninputs = n, .inputs = nm};
    for (uint32_t i = 0; i < n; i++) {
        test_input(g, &m[i], &ps[i]);
        if (ps[i].c.field == dfield) {
            /* The no_match test: the distinctive field gets a background value. */
            nm[i].field = ps[i].c.field;
            background_str(&g->t, r, ps[i].c.field);
            take_str(g, &nm[i].v);
        } else {
            test_input(g, &nm[i], &ps[i]);
        }
        inst->crits[i] = ps[i].c;
        free(ps[i].regex_witness);
    }
}

rf_rc synth_channel(uint32_t n, uint64_t seed, rf_channel **out)
{
    if (n == 0 || n > RF_MAX_INSTANCES)
        return RF_E_USAGE;
    init_hash_pool();
    rf_channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return RF_E_NOMEM;
    ch->channel = SYNTH_CHANNEL_NUMBER;
    ch->template_type = strdup(SYNTH_TYPE_NAME);
    ch->template_version = SYNTH_TYPE_VERSION;
    ch->content_version = 1;
    ch->instances = calloc(n, sizeof(rf_instance));
    if (!ch->template_type || !ch->instances) {
        rf_channel_free(ch);
        return RF_E_NOMEM;
    }
    ch->ninstances = n;

    rf_rng r;
    rf_rng_seed(&r, seed);
    gen g = {.r = &r, .oom = 0};
    rf_buf_init(&g.t);
    for (uint32_t k = 0; k < n && !g.oom; k++)
        gen_instance(&g, &ch->instances[k], k);
    rf_buf_free(&g.t);
    if (g.oom) {
        rf_channel_free(ch);
        return RF_E_NOMEM;
    }
    *out = ch;
    return RF_OK;
}

/* ---- YAML -------------------------------------------------------------- */

/* A single-quoted YAML scalar: only the quote itself needs doubling. */
static void yaml_str(rf_buf *b, const char *s, uint32_t len)
{
    rf_buf_append(b, "'", 1);
    for (uint32_t i = 0; i < len; i++) {
        if (s[i] == '\'')
            rf_buf_append(b, "''", 2);
        else
            rf_buf_append(b, &s[i], 1);
    }
    rf_buf_append(b, "'", 1);
}

static void yaml_value(rf_buf *b, const rf_value *v)
{
    if (v->type == RF_VAL_INT)
        rf_buf_printf(b, "%lld", (long long)v->i);
    else if (v->type == RF_VAL_STRING)
        yaml_str(b, v->s, v->len);
    else
        put_s(b, "null");
}

static void yaml_test(rf_buf *b, const rf_instance *inst, const rf_test *t)
{
    put_s(b, "      - {event: {");
    for (uint32_t i = 0; i < t->ninputs; i++) {
        uint16_t f = t->inputs[i].field;
        const char *name = f < SYNTH_NFIELDS ? FIELDS[f].name : "?";
        /* Prefer the channel's own field name when a criterion carries it. */
        for (uint32_t j = 0; j < inst->ncrits; j++)
            if (inst->crits[j].field == f && inst->crits[j].field_name)
                name = inst->crits[j].field_name;
        rf_buf_printf(b, "%s%s: ", i ? ", " : "", name);
        yaml_value(b, &t->inputs[i].v);
    }
    rf_buf_printf(b, "}, expect: %s}\n", t->expect_match ? "match" : "no_match");
}

void synth_channel_yaml(const rf_channel *ch, rf_buf *b)
{
    rf_buf_printf(b,
                  "kind: Channel\nchannel: %u\ntemplate_type: %s\n"
                  "template_version: %u\ncontent_version: %u\ninstances:\n",
                  ch->channel, ch->template_type, ch->template_version,
                  ch->content_version);
    for (uint32_t k = 0; k < ch->ninstances; k++) {
        const rf_instance *in = &ch->instances[k];
        rf_buf_printf(b, "  - id: %s\n    action: %s\n    severity: %s\n    match:\n",
                      in->id, rf_action_name(in->action), rf_severity_name(in->severity));
        for (uint32_t i = 0; i < in->ncrits; i++) {
            const rf_crit *c = &in->crits[i];
            rf_buf_printf(b, "      %s: {%s: ", c->field_name, rf_crit_kind_name(c->kind));
            if (c->kind == RF_CRIT_ONE_OF || c->kind == RF_CRIT_RANGE) {
                put_s(b, "[");
                for (uint32_t j = 0; j < c->nvals; j++) {
                    if (j)
                        put_s(b, ", ");
                    yaml_value(b, &c->vals[j]);
                }
                put_s(b, "]");
            } else if (c->nvals) {
                yaml_value(b, &c->vals[0]);
            }
            put_s(b, (c->flags & RF_CRIT_NOCASE) ? ", nocase: true}\n" : "}\n");
        }
        if (in->ntests) {
            put_s(b, "    tests:\n");
            for (uint32_t t = 0; t < in->ntests; t++)
                yaml_test(b, in, &in->tests[t]);
        }
    }
}

/* ---- events ------------------------------------------------------------ */

void synth_events_init(synth_events *ev)
{
    memset(ev, 0, sizeof(*ev));
    rf_buf_init(&ev->text);
}

void synth_events_free(synth_events *ev)
{
    free(ev->inputs);
    free(ev->target);
    free(ev->offs);
    rf_buf_free(&ev->text);
    synth_events_init(ev);
}

rf_rc synth_events_fill(synth_events *ev, rf_rng *r, const rf_channel *ch,
                        uint32_t n, uint32_t ninputs, uint32_t match_ppm)
{
    if (ninputs < SYNTH_CRIT_FIELDS || ninputs > SYNTH_NFIELDS || !ch || ch->ninstances == 0)
        return RF_E_USAGE;
    init_hash_pool();
    size_t total = (size_t)n * ninputs;
    if (n > ev->cap || ninputs != ev->ninputs) {
        rf_input *in = realloc(ev->inputs, total * sizeof(rf_input));
        if (!in)
            return RF_E_NOMEM;
        ev->inputs = in;
        uint32_t *tg = realloc(ev->target, (size_t)n * sizeof(uint32_t));
        if (!tg)
            return RF_E_NOMEM;
        ev->target = tg;
        uint32_t *of = realloc(ev->offs, total * sizeof(uint32_t));
        if (!of)
            return RF_E_NOMEM;
        ev->offs = of;
        ev->cap = n;
    }
    ev->n = n;
    ev->ninputs = ninputs;
    ev->text.len = 0;

    for (uint32_t e = 0; e < n; e++) {
        rf_input *in = &ev->inputs[(size_t)e * ninputs];
        uint32_t *of = &ev->offs[(size_t)e * ninputs];
        const rf_instance *inst = NULL;
        ev->target[e] = UINT32_MAX;
        if (rf_rng_below(r, 1000000) < match_ppm) {
            ev->target[e] = rf_rng_below(r, ch->ninstances);
            inst = &ch->instances[ev->target[e]];
        }
        uint32_t ci = 0;
        for (uint32_t f = 0; f < ninputs; f++) {
            const rf_crit *c = NULL;
            while (inst && ci < inst->ncrits && inst->crits[ci].field < f)
                ci++;
            if (inst && ci < inst->ncrits && inst->crits[ci].field == f)
                c = &inst->crits[ci];
            memset(&in[f], 0, sizeof(in[f]));
            if (FIELDS[f].type == RF_TYPE_INT) {
                in[f].type = RF_VAL_INT;
                in[f].i = c ? witness_int(r, c) : background_int(r, f);
                of[f] = UINT32_MAX;
                continue;
            }
            size_t start = ev->text.len;
            if (c)
                witness_str(&ev->text, r, inst, c);
            else
                background_str(&ev->text, r, f);
            in[f].type = RF_VAL_STRING;
            in[f].len = (uint32_t)(ev->text.len - start);
            of[f] = (uint32_t)start;
            rf_buf_append(&ev->text, "", 1); /* NUL-terminate each value */
        }
    }
    if (ev->text.oom || ev->text.len > UINT32_MAX)
        return RF_E_NOMEM;
    /* Storage is final now: turn offsets into pointers. */
    for (size_t i = 0; i < total; i++)
        if (ev->inputs[i].type == RF_VAL_STRING)
            ev->inputs[i].s = (const char *)ev->text.data + ev->offs[i];
    return RF_OK;
}

static void json_str(rf_buf *b, const char *s, uint32_t len)
{
    rf_buf_append(b, "\"", 1);
    for (uint32_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rf_buf_append(b, esc, 2);
        } else if (c < 0x20) {
            rf_buf_printf(b, "\\u%04x", c);
        } else {
            rf_buf_append(b, &s[i], 1);
        }
    }
    rf_buf_append(b, "\"", 1);
}

void synth_event_json(rf_buf *b, const rf_input *in, uint32_t ninputs,
                      const char *sensor_version)
{
    put_s(b, "{\"template_type\":\"" SYNTH_TYPE_NAME "\",\"sensor_version\":");
    json_str(b, sensor_version, (uint32_t)strlen(sensor_version));
    put_s(b, ",\"inputs\":[");
    for (uint32_t i = 0; i < ninputs; i++) {
        if (i)
            put_s(b, ",");
        if (in[i].type == RF_VAL_STRING)
            json_str(b, in[i].s, in[i].len);
        else if (in[i].type == RF_VAL_INT)
            rf_buf_printf(b, "%lld", (long long)in[i].i);
        else
            put_s(b, "null");
    }
    put_s(b, "]}\n");
}
