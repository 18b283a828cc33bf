/*
 * state.c — the boot guard's state file, STATE/guard.json (agent.h). The
 * file is untrusted: a kill -9 cannot tear it (every write is
 * rf_file_write_atomic), but a full disk, an operator's editor or a bug can
 * leave anything there. So load checks every field, type, range and the
 * invariants between fields, and a file that fails is moved to
 * STATE/quarantine/ and replaced by an empty state rather than refused: an
 * agent that refused to start on it would never get past it (a crash loop
 * of its own). Save runs the same checks first, so it never writes a file
 * that load would quarantine.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ringfence/agent.h"
#include "ringfence/util.h"

#define WHY_MAX 200

void rf_agent_state_init(rf_agent_state *st)
{
    if (st)
        memset(st, 0, sizeof(*st));
}

const rf_agent_chan *rf_agent_state_find(const rf_agent_state *st, uint16_t channel)
{
    if (!st || st->nchannels > RF_AGENT_MAX_CHANNELS)
        return NULL;
    for (uint32_t i = 0; i < st->nchannels; i++)
        if (st->ch[i].channel == channel)
            return &st->ch[i];
    return NULL;
}

static int is_slot(char s)
{
    return s == 'a' || s == 'b';
}

static int in_bad(const rf_agent_chan *c, uint32_t v)
{
    for (uint32_t i = 0; i < c->nbad && i < RF_AGENT_MAX_BAD; i++)
        if (c->bad[i] == v)
            return 1;
    return 0;
}

/*
 * The invariants the guard's state machine keeps (guard.c). Returns 1 if c
 * holds them, else 0 with a reason in why.
 */
static int chan_ok(const rf_agent_chan *c, char *why, size_t n)
{
    if (c->channel == 0)
        return snprintf(why, n, "channel 0 is not a channel"), 0;
    if (c->active != RF_AGENT_SLOT_NONE && !is_slot(c->active))
        return snprintf(why, n, "channel %u: active slot is not a or b", c->channel), 0;
    if (c->lkg != RF_AGENT_SLOT_NONE && !is_slot(c->lkg))
        return snprintf(why, n, "channel %u: last-known-good slot is not a or b", c->channel), 0;
    if ((c->active == RF_AGENT_SLOT_NONE) != (c->active_version == 0))
        return snprintf(why, n, "channel %u: active slot and version disagree", c->channel), 0;
    if ((c->lkg == RF_AGENT_SLOT_NONE) != (c->lkg_version == 0))
        return snprintf(why, n, "channel %u: last-known-good slot and version disagree",
                        c->channel), 0;
    if (c->lkg_version > c->highest_trusted)
        return snprintf(why, n, "channel %u: last-known-good %u above highest trusted %u",
                        c->channel, c->lkg_version, c->highest_trusted), 0;
    if (c->nbad > RF_AGENT_MAX_BAD)
        return snprintf(why, n, "channel %u: %u bad versions, more than %u", c->channel,
                        c->nbad, RF_AGENT_MAX_BAD), 0;
    for (uint32_t i = 0; i < c->nbad; i++) {
        if (c->bad[i] == 0)
            return snprintf(why, n, "channel %u: bad version 0", c->channel), 0;
        for (uint32_t j = 0; j < i; j++)
            if (c->bad[j] == c->bad[i])
                return snprintf(why, n, "channel %u: bad version %u listed twice",
                                c->channel, c->bad[i]), 0;
    }
    if (c->lkg_version && in_bad(c, c->lkg_version))
        return snprintf(why, n, "channel %u: last-known-good %u is also bad", c->channel,
                        c->lkg_version), 0;
    if (c->has_trial > 1)
        return snprintf(why, n, "channel %u: has_trial is not 0 or 1", c->channel), 0;
    if (c->has_trial) {
        const rf_agent_trial *t = &c->trial;
        if (!is_slot(t->slot) || t->version == 0)
            return snprintf(why, n, "channel %u: trial needs slot a or b and a version",
                            c->channel), 0;
        if (t->starts >= RF_AGENT_MAX_STARTS_LIMIT)
            return snprintf(why, n, "channel %u: trial starts %u out of range", c->channel,
                            t->starts), 0;
        if (t->slot == c->lkg)
            return snprintf(why, n, "channel %u: trial in the last-known-good slot",
                            c->channel), 0;
        if (c->active != t->slot || c->active_version != t->version)
            return snprintf(why, n, "channel %u: trial is not the active content",
                            c->channel), 0;
        if (in_bad(c, t->version))
            return snprintf(why, n, "channel %u: trial version %u is bad", c->channel,
                            t->version), 0;
    } else if (c->active != c->lkg || c->active_version != c->lkg_version) {
        return snprintf(why, n, "channel %u: no trial, yet active is not the last-known-good",
                        c->channel), 0;
    }
    return 1;
}

static int state_ok(const rf_agent_state *st, char *why, size_t n)
{
    if (st->nchannels > RF_AGENT_MAX_CHANNELS)
        return snprintf(why, n, "%u channels, more than %u", st->nchannels,
                        RF_AGENT_MAX_CHANNELS), 0;
    for (uint32_t i = 0; i < st->nchannels; i++) {
        if (!chan_ok(&st->ch[i], why, n))
            return 0;
        for (uint32_t j = 0; j < i; j++)
            if (st->ch[j].channel == st->ch[i].channel)
                return snprintf(why, n, "channel %u listed twice", st->ch[i].channel), 0;
    }
    return 1;
}

/* ---- parsing ------------------------------------------------------------- */

/* 1 if every key of obj is one of names[0..n). */
static int only_keys(json_t *obj, const char *const *names, size_t n, char *why,
                     size_t wn, const char *where)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        (void)v;
        size_t i = 0;
        while (i < n && strcmp(k, names[i]) != 0)
            i++;
        if (i == n)
            return snprintf(why, wn, "%s: unknown field \"%.40s\"", where, k), 0;
    }
    return 1;
}

static int get_u32(json_t *obj, const char *key, uint32_t hi, uint32_t *out, char *why,
                   size_t n, const char *where)
{
    json_t *v = json_object_get(obj, key);
    if (!v || !json_is_integer(v))
        return snprintf(why, n, "%s: \"%s\" must be an integer", where, key), 0;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > hi)
        return snprintf(why, n, "%s: \"%s\" = %lld out of range 0..%u", where, key,
                        (long long)x, hi), 0;
    *out = (uint32_t)x;
    return 1;
}

/* A slot field: "a", "b", or null (none) when nullable. */
static int get_slot(json_t *obj, const char *key, int nullable, char *out, char *why,
                    size_t n, const char *where)
{
    json_t *v = json_object_get(obj, key);
    if (v && nullable && json_is_null(v)) {
        *out = RF_AGENT_SLOT_NONE;
        return 1;
    }
    if (!v || !json_is_string(v) || json_string_length(v) != 1 ||
        !is_slot(json_string_value(v)[0]))
        return snprintf(why, n, "%s: \"%s\" must be \"a\" or \"b\"%s", where, key,
                        nullable ? " or null" : ""), 0;
    *out = json_string_value(v)[0];
    return 1;
}

static int parse_chan(json_t *o, uint32_t idx, rf_agent_chan *c, char *why, size_t n)
{
    static const char *const keys[] = {"channel", "active", "active_version", "lkg",
                                       "lkg_version", "trial", "bad", "highest_trusted"};
    static const char *const tkeys[] = {"slot", "version", "starts"};
    char where[48];
    snprintf(where, sizeof(where), "channels[%u]", idx);
    if (!json_is_object(o))
        return snprintf(why, n, "%s: not an object", where), 0;
    if (!only_keys(o, keys, sizeof(keys) / sizeof(keys[0]), why, n, where))
        return 0;
    uint32_t chnum;
    if (!get_u32(o, "channel", 65535, &chnum, why, n, where) ||
        !get_slot(o, "active", 1, &c->active, why, n, where) ||
        !get_u32(o, "active_version", UINT32_MAX, &c->active_version, why, n, where) ||
        !get_slot(o, "lkg", 1, &c->lkg, why, n, where) ||
        !get_u32(o, "lkg_version", UINT32_MAX, &c->lkg_version, why, n, where) ||
        !get_u32(o, "highest_trusted", UINT32_MAX, &c->highest_trusted, why, n, where))
        return 0;
    c->channel = (uint16_t)chnum;

    json_t *t = json_object_get(o, "trial");
    if (!t)
        return snprintf(why, n, "%s: \"trial\" missing (null for none)", where), 0;
    if (!json_is_null(t)) {
        if (!json_is_object(t))
            return snprintf(why, n, "%s: \"trial\" must be an object or null", where), 0;
        snprintf(where, sizeof(where), "channels[%u].trial", idx);
        if (!only_keys(t, tkeys, sizeof(tkeys) / sizeof(tkeys[0]), why, n, where) ||
            !get_slot(t, "slot", 0, &c->trial.slot, why, n, where) ||
            !get_u32(t, "version", UINT32_MAX, &c->trial.version, why, n, where) ||
            !get_u32(t, "starts", RF_AGENT_MAX_STARTS_LIMIT - 1, &c->trial.starts, why, n,
                     where))
            return 0;
        c->has_trial = 1;
        snprintf(where, sizeof(where), "channels[%u]", idx);
    }

    json_t *b = json_object_get(o, "bad");
    if (!b || !json_is_array(b))
        return snprintf(why, n, "%s: \"bad\" must be an array", where), 0;
    if (json_array_size(b) > RF_AGENT_MAX_BAD)
        return snprintf(why, n, "%s: %zu bad versions, more than %u", where,
                        json_array_size(b), RF_AGENT_MAX_BAD), 0;
    for (size_t i = 0; i < json_array_size(b); i++) {
        json_t *v = json_array_get(b, i);
        json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;
        if (x < 1 || (uint64_t)x > UINT32_MAX)
            return snprintf(why, n, "%s: bad[%zu] must be a version 1..%u", where, i,
                            UINT32_MAX), 0;
        c->bad[c->nbad++] = (uint32_t)x;
    }
    return 1;
}

/* Parse and check the file's bytes into *st (already empty). */
static int parse_state(const uint8_t *buf, size_t len, rf_agent_state *st, char *why,
                       size_t n)
{
    static const char *const keys[] = {"format", "channels"};
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    int ok = 0;
    if (!root) {
        snprintf(why, n, "not JSON: line %d column %d: %.80s", jerr.line, jerr.column,
                 jerr.text);
        return 0;
    }
    if (!json_is_object(root)) {
        snprintf(why, n, "not a JSON object");
        goto out;
    }
    if (!only_keys(root, keys, 2, why, n, "guard.json"))
        goto out;
    uint32_t format;
    if (!get_u32(root, "format", UINT32_MAX, &format, why, n, "guard.json"))
        goto out;
    if (format != RF_AGENT_STATE_FORMAT) {
        snprintf(why, n, "format %u, this build reads %d", format, RF_AGENT_STATE_FORMAT);
        goto out;
    }
    json_t *chs = json_object_get(root, "channels");
    if (!chs || !json_is_array(chs)) {
        snprintf(why, n, "\"channels\" must be an array");
        goto out;
    }
    if (json_array_size(chs) > RF_AGENT_MAX_CHANNELS) {
        snprintf(why, n, "%zu channels, more than %u", json_array_size(chs),
                 RF_AGENT_MAX_CHANNELS);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(chs); i++) {
        if (!parse_chan(json_array_get(chs, i), (uint32_t)i, &st->ch[i], why, n))
            goto out;
        st->nchannels++;
    }
    ok = state_ok(st, why, n);
out:
    json_decref(root);
    return ok;
}

/* ---- files --------------------------------------------------------------- */

static rf_rc join(char *out, size_t n, const char *a, const char *b, rf_err *err)
{
    int k = snprintf(out, n, "%s/%s", a, b);
    if (k < 0 || (size_t)k >= n)
        return rf_err_set(err, RF_E_IO, a, 0, 0, "path too long");
    return RF_OK;
}

/* mkdir one level, 0700; an existing directory is fine. */
static rf_rc mkdir_one(const char *path, rf_err *err)
{
    if (mkdir(path, 0700) == 0)
        return RF_OK;
    struct stat sb;
    if (errno == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return RF_OK;
    return rf_err_set(err, RF_E_IO, path, 0, 0, "cannot create directory: %s",
                      errno == EEXIST ? "exists and is not a directory" : strerror(errno));
}

static void fsync_dir(const char *path)
{
    /* Best effort: the rename already happened; losing it on power loss
     * only means the torn file is quarantined again at the next start. */
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* Move PATH to DIR/quarantine/guard.json.<unix time>[.k]; *dst gets the name. */
static rf_rc quarantine(const char *dir, const char *path, char *dst, size_t dn,
                        rf_err *err)
{
    char qdir[PATH_MAX];
    rf_rc rc = join(qdir, sizeof(qdir), dir, "quarantine", err);
    if (rc == RF_OK)
        rc = mkdir_one(qdir, err);
    if (rc != RF_OK)
        return rc;
    long long now = (long long)time(NULL);
    for (unsigned k = 0; k < 1000; k++) {
        int w = k ? snprintf(dst, dn, "%s/guard.json.%lld.%u", qdir, now, k)
                  : snprintf(dst, dn, "%s/guard.json.%lld", qdir, now);
        if (w < 0 || (size_t)w >= dn)
            return rf_err_set(err, RF_E_IO, qdir, 0, 0, "path too long");
        struct stat sb;
        if (lstat(dst, &sb) == 0)
            continue; /* another quarantine this second: keep both */
        if (rename(path, dst) != 0)
            return rf_err_set(err, RF_E_IO, path, 0, 0, "cannot move to %s: %s", dst,
                              strerror(errno));
        fsync_dir(qdir);
        fsync_dir(dir);
        return RF_OK;
    }
    return rf_err_set(err, RF_E_IO, qdir, 0, 0, "too many quarantined files this second");
}

rf_rc rf_agent_state_load(const char *dir, rf_agent_state *st, rf_err *err)
{
    if (!dir || !*dir || !st)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_agent_state_load: NULL argument");
    char path[PATH_MAX];
    rf_rc rc = join(path, sizeof(path), dir, "guard.json", err);
    if (rc != RF_OK)
        return rc;

    rf_agent_state tmp;
    rf_agent_state_init(&tmp);
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno != ENOENT)
            return rf_err_set(err, RF_E_IO, path, 0, 0, "cannot stat: %s", strerror(errno));
        *st = tmp; /* never written yet: an empty state */
        return RF_OK;
    }

    uint8_t *buf = NULL;
    size_t len = 0;
    char why[WHY_MAX];
    rf_err ferr;
    rf_err_clear(&ferr);
    rc = rf_file_read(path, RF_AGENT_MAX_STATE_BYTES, &buf, &len, &ferr);
    if (rc == RF_E_LIMIT) {
        snprintf(why, sizeof(why), "larger than %u bytes", RF_AGENT_MAX_STATE_BYTES);
    } else if (rc != RF_OK) {
        if (err)
            *err = ferr;
        return rc;
    } else if (parse_state(buf, len, &tmp, why, sizeof(why))) {
        free(buf);
        *st = tmp;
        return RF_OK;
    }
    free(buf);

    char dst[PATH_MAX];
    rc = quarantine(dir, path, dst, sizeof(dst), err);
    if (rc != RF_OK)
        return rc;
    rf_agent_state_init(&tmp);
    tmp.quarantined = 1;
    /* "PATH: why; moved to DST" for the agent's log, through the error
     * formatter (a long path may cut it short, which is fine for a log). */
    rf_err qerr;
    rf_err_set(&qerr, RF_E_PARSE, path, 0, 0, "%s; moved to %s", why, dst);
    rf_err_format(&qerr, tmp.quarantine_msg, sizeof(tmp.quarantine_msg));
    *st = tmp;
    return RF_OK;
}

static json_t *slot_json(char s)
{
    char v[2] = {s, 0};
    return s == RF_AGENT_SLOT_NONE ? json_null() : json_string(v);
}

static json_t *chan_json(const rf_agent_chan *c)
{
    json_t *o = json_object();
    json_t *bad = json_array();
    json_t *t = c->has_trial ? json_object() : json_null();
    if (!o || !bad || !t)
        goto fail;
    if (c->has_trial &&
        (json_object_set_new(t, "slot", slot_json(c->trial.slot)) ||
         json_object_set_new(t, "version", json_integer(c->trial.version)) ||
         json_object_set_new(t, "starts", json_integer(c->trial.starts))))
        goto fail;
    for (uint32_t i = 0; i < c->nbad; i++)
        if (json_array_append_new(bad, json_integer(c->bad[i])))
            goto fail;
    /* json_object_set_new takes its value's reference even when it fails,
     * so t and bad are dropped from cleanup as soon as they are handed over. */
    int bad_rc = json_object_set_new(o, "channel", json_integer(c->channel)) ||
                 json_object_set_new(o, "active", slot_json(c->active)) ||
                 json_object_set_new(o, "active_version", json_integer(c->active_version)) ||
                 json_object_set_new(o, "lkg", slot_json(c->lkg)) ||
                 json_object_set_new(o, "lkg_version", json_integer(c->lkg_version));
    bad_rc |= json_object_set_new(o, "trial", t);
    t = NULL;
    bad_rc |= json_object_set_new(o, "bad", bad);
    bad = NULL;
    bad_rc |= json_object_set_new(o, "highest_trusted", json_integer(c->highest_trusted));
    if (bad_rc)
        goto fail;
    return o;
fail:
    json_decref(t);
    json_decref(bad);
    json_decref(o);
    return NULL;
}

rf_rc rf_agent_state_save(const char *dir, const rf_agent_state *st, rf_err *err)
{
    if (!dir || !*dir || !st)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_agent_state_save: NULL argument");
    char why[WHY_MAX];
    if (!state_ok(st, why, sizeof(why)))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "refusing to save guard state: %s",
                          why);
    char path[PATH_MAX];
    rf_rc rc = join(path, sizeof(path), dir, "guard.json", err);
    if (rc != RF_OK)
        return rc;
    rc = mkdir_one(dir, err);
    if (rc != RF_OK)
        return rc;

    rc = RF_E_NOMEM;
    char *text = NULL;
    json_t *root = json_object();
    json_t *chs = json_array();
    if (!root || !chs)
        goto out_free;
    for (uint32_t i = 0; i < st->nchannels; i++)
        if (json_array_append_new(chs, chan_json(&st->ch[i])))
            goto out_free;
    if (json_object_set_new(root, "format", json_integer(RF_AGENT_STATE_FORMAT)))
        goto out_free;
    json_t *c = chs;
    chs = NULL;
    if (json_object_set_new(root, "channels", c))
        goto out_free;
    text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!text)
        goto out_free;
    size_t len = strlen(text);
    if (len + 1 > RF_AGENT_MAX_STATE_BYTES) {
        rc = rf_err_set(err, RF_E_INTERNAL, path, 0, 0, "state is %zu bytes, above the %u limit",
                        len + 1, RF_AGENT_MAX_STATE_BYTES);
        goto out_free;
    }
    text[len] = '\n'; /* replaces the NUL; the length below excludes it */
    rc = rf_file_write_atomic(path, text, len + 1, 0600, err);
out_free:
    if (rc == RF_E_NOMEM)
        rf_err_set(err, RF_E_NOMEM, path, 0, 0, "out of memory building guard state");
    free(text);
    json_decref(chs);
    json_decref(root);
    return rc;
}
