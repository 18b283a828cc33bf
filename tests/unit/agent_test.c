/*
 * agent_test.c — unit tests for lib/agent: the boot guard's state file
 * (round trip, and quarantine of every kind of unusable guard.json instead
 * of a refusal or a crash), the guard's state machine (a trial that crashes
 * N starts is reverted to the last-known-good, its version is bad for good
 * and reported exactly once; a confirmed one stays; versions below the
 * highest trusted one need a rollback), and the A/B slots (atomic writes
 * read back equal, the slot to write alternates and never is the fallback).
 * Each test runs in its own temporary state directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringfence/agent.h"
#include "ringfence/channel.h"
#include "ringfence/util.h"
#include "support/rm_tree.h"

#define CH 291

static int setup(void **state)
{
    char *d = strdup("/tmp/rf_agent_test.XXXXXX");
    if (!d || !mkdtemp(d)) {
        free(d);
        return -1;
    }
    *state = d;
    return 0;
}

static int teardown(void **state)
{
    char *d = *state;
    int rc = rm_tree(d);
    free(d);
    return rc;
}

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
    int w = snprintf(out, n, "%s/%s", dir, name);
    assert_true(w > 0 && (size_t)w < n);
}

static void write_raw(const char *dir, const char *name, const void *buf, size_t len)
{
    char p[4096];
    path_in(p, sizeof(p), dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat sb;
    path_in(p, sizeof(p), dir, name);
    return lstat(p, &sb) == 0;
}

/* Entries of DIR/quarantine named guard.json.<digits>[.k]; the first one's
 * name into first (if not NULL). */
static int quarantined_files(const char *dir, char *first, size_t n)
{
    char q[4096];
    path_in(q, sizeof(q), dir, "quarantine");
    DIR *d = opendir(q);
    if (!d)
        return 0;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "guard.json.", 11) != 0)
            continue;
        assert_true(e->d_name[11] >= '0' && e->d_name[11] <= '9');
        if (count++ == 0 && first) {
            int w = snprintf(first, n, "%s/%s", q, e->d_name);
            assert_true(w > 0 && (size_t)w < n);
        } else if (first)
            first[0] = '\0'; /* ambiguous: only meaningful with one file */
    }
    closedir(d);
    return count;
}

static void assert_chan_equal(const rf_agent_chan *x, const rf_agent_chan *y)
{
    assert_int_equal(x->channel, y->channel);
    assert_int_equal(x->active, y->active);
    assert_int_equal(x->active_version, y->active_version);
    assert_int_equal(x->lkg, y->lkg);
    assert_int_equal(x->lkg_version, y->lkg_version);
    assert_int_equal(x->has_trial, y->has_trial);
    if (x->has_trial) {
        assert_int_equal(x->trial.slot, y->trial.slot);
        assert_int_equal(x->trial.version, y->trial.version);
        assert_int_equal(x->trial.starts, y->trial.starts);
    }
    assert_int_equal(x->nbad, y->nbad);
    for (uint32_t i = 0; i < x->nbad; i++)
        assert_int_equal(x->bad[i], y->bad[i]);
    assert_int_equal(x->highest_trusted, y->highest_trusted);
}

static void assert_state_equal(const rf_agent_state *x, const rf_agent_state *y)
{
    assert_int_equal(x->nchannels, y->nchannels);
    for (uint32_t i = 0; i < x->nchannels; i++)
        assert_chan_equal(&x->ch[i], &y->ch[i]);
}

/* Load, count one start, save: what the agent does before loading content. */
static rf_agent_actions restart(const char *dir, uint32_t max_starts)
{
    rf_agent_state st;
    rf_agent_actions acts;
    rf_err err;
    assert_int_equal(rf_agent_state_load(dir, &st, &err), RF_OK);
    assert_int_equal(st.quarantined, 0);
    assert_int_equal(rf_agent_guard_on_start(&st, max_starts, &acts), RF_OK);
    assert_int_equal(rf_agent_state_save(dir, &st, &err), RF_OK);
    return acts;
}

static void load_ok(const char *dir, rf_agent_state *st)
{
    rf_err err;
    assert_int_equal(rf_agent_state_load(dir, st, &err), RF_OK);
    assert_int_equal(st->quarantined, 0);
}

static void save_ok(const char *dir, const rf_agent_state *st)
{
    rf_err err;
    rf_rc rc = rf_agent_state_save(dir, st, &err);
    if (rc != RF_OK)
        fail_msg("save: %s", err.msg);
}

/* A state with two channels: one settled with bad versions, one on trial. */
static void sample_state(rf_agent_state *st)
{
    rf_agent_state_init(st);
    assert_int_equal(rf_agent_guard_begin_trial(st, CH, 'a', 5, 0), RF_OK);
    assert_int_equal(rf_agent_guard_confirm(st, CH), RF_OK);
    assert_int_equal(rf_agent_guard_begin_trial(st, 7, 'a', 1, 0), RF_OK);
    assert_int_equal(rf_agent_guard_confirm(st, 7), RF_OK);
    assert_int_equal(rf_agent_guard_begin_trial(st, 7, 'b', 2, 0), RF_OK);
    rf_agent_actions acts;
    for (int i = 0; i < 3; i++)
        assert_int_equal(rf_agent_guard_on_start(st, 3, &acts), RF_OK);
    assert_int_equal(acts.n, 1);
    assert_int_equal(rf_agent_guard_begin_trial(st, 7, 'b', 4, 0), RF_OK);
    assert_int_equal(rf_agent_guard_on_start(st, 3, &acts), RF_OK);
    assert_int_equal(rf_agent_guard_begin_trial(st, CH, 'b', 4000000000u, 0), RF_OK);
    assert_int_equal(rf_agent_guard_on_start(st, 3, &acts), RF_OK);
    assert_int_equal(acts.n, 0);
}

/* ---- the state file ------------------------------------------------------ */

static void test_state_missing_is_empty(void **state)
{
    const char *dir = *state;
    rf_agent_state st;
    memset(&st, 0xab, sizeof(st));
    load_ok(dir, &st);
    assert_int_equal(st.nchannels, 0);
    assert_int_equal(quarantined_files(dir, NULL, 0), 0);
}

static void test_state_round_trip(void **state)
{
    const char *dir = *state;
    rf_agent_state st, back;
    sample_state(&st);
    const rf_agent_chan *c7 = rf_agent_state_find(&st, 7);
    assert_non_null(c7);
    assert_int_equal(c7->nbad, 1);
    assert_int_equal(c7->trial.starts, 2);
    save_ok(dir, &st);

    char p[4096];
    struct stat sb;
    path_in(p, sizeof(p), dir, "guard.json");
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    load_ok(dir, &back);
    assert_state_equal(&st, &back);

    /* Saving what was loaded gives the same bytes: the format is stable. */
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    assert_int_equal(rf_file_read(p, 1 << 20, &a, &alen, NULL), RF_OK);
    save_ok(dir, &back);
    assert_int_equal(rf_file_read(p, 1 << 20, &b, &blen, NULL), RF_OK);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(a);
    free(b);

    /* An empty state round-trips too, and save creates a missing DIR. */
    char sub[4096];
    path_in(sub, sizeof(sub), dir, "fresh");
    rf_agent_state_init(&st);
    save_ok(sub, &st);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    load_ok(sub, &back);
    assert_int_equal(back.nchannels, 0);
}

/* The largest state the limits allow saves under RF_AGENT_MAX_STATE_BYTES
 * and loads back (so the size limit never quarantines a real state). */
static void test_state_largest_fits(void **state)
{
    const char *dir = *state;
    rf_agent_state st, back;
    rf_agent_state_init(&st);
    for (uint32_t i = 0; i < RF_AGENT_MAX_CHANNELS; i++) {
        rf_agent_chan *c = &st.ch[st.nchannels++];
        c->channel = (uint16_t)(65535 - i);
        c->lkg = c->active = 'a';
        c->lkg_version = c->active_version = 4000000000u;
        c->highest_trusted = 4294967295u;
        c->has_trial = 1;
        c->active = c->trial.slot = 'b';
        c->active_version = c->trial.version = 4294967295u;
        c->trial.starts = RF_AGENT_MAX_STARTS_LIMIT - 1;
        for (uint32_t j = 0; j < RF_AGENT_MAX_BAD; j++)
            c->bad[c->nbad++] = 4294967294u - j;
    }
    save_ok(dir, &st);
    char p[4096];
    struct stat sb;
    path_in(p, sizeof(p), dir, "guard.json");
    assert_int_equal(stat(p, &sb), 0);
    assert_true((uint64_t)sb.st_size < RF_AGENT_MAX_STATE_BYTES);
    load_ok(dir, &back);
    assert_state_equal(&st, &back);
}

/* Each of these is moved to quarantine/, and load gives an empty state. */
static void quarantine_case(const char *dir, const char *what, const void *buf, size_t len)
{
    int before = quarantined_files(dir, NULL, 0);
    write_raw(dir, "guard.json", buf, len);
    rf_agent_state st;
    rf_err err;
    memset(&st, 0xab, sizeof(st));
    rf_rc rc = rf_agent_state_load(dir, &st, &err);
    if (rc != RF_OK)
        fail_msg("%s: load failed: %s", what, err.msg);
    if (!st.quarantined)
        fail_msg("%s: not quarantined", what);
    assert_int_equal(st.nchannels, 0);
    assert_true(strstr(st.quarantine_msg, "quarantine/guard.json.") != NULL);
    assert_false(exists(dir, "guard.json"));
    assert_int_equal(quarantined_files(dir, NULL, 0), before + 1);

    /* The next start finds no file: an empty state, no second quarantine. */
    rf_agent_state again;
    load_ok(dir, &again);
    assert_int_equal(again.nchannels, 0);
    assert_int_equal(quarantined_files(dir, NULL, 0), before + 1);
}

static void test_state_quarantine(void **state)
{
    const char *dir = *state;

    /* The moved file keeps its bytes, for a person to look at. */
    static const char garbage[] = "\x7f" "ELF garbage \x00\x01\x02";
    write_raw(dir, "guard.json", garbage, sizeof(garbage));
    rf_agent_state st;
    rf_err err;
    assert_int_equal(rf_agent_state_load(dir, &st, &err), RF_OK);
    assert_int_equal(st.quarantined, 1);
    char moved[4096];
    assert_int_equal(quarantined_files(dir, moved, sizeof(moved)), 1);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(rf_file_read(moved, 1 << 20, &buf, &len, NULL), RF_OK);
    assert_int_equal(len, sizeof(garbage));
    assert_memory_equal(buf, garbage, len);
    free(buf);

    /* A torn file: every proper prefix of a valid state is quarantined. */
    rf_agent_state good;
    sample_state(&good);
    char sub[4096];
    path_in(sub, sizeof(sub), dir, "valid");
    save_ok(sub, &good);
    char gp[4096];
    path_in(gp, sizeof(gp), sub, "guard.json");
    uint8_t *text = NULL;
    size_t tlen = 0;
    assert_int_equal(rf_file_read(gp, 1 << 20, &text, &tlen, NULL), RF_OK);
    /* the trailing newline is optional; everything shorter is torn */
    for (size_t cut = 0; cut + 1 < tlen; cut += 7)
        quarantine_case(dir, "torn", text, cut);
    free(text);

    static const char *const bad[] = {
        "",
        "null",
        "[]",
        "{}",
        "{\"format\":1}",
        "{\"format\":2,\"channels\":[]}",
        "{\"format\":1,\"channels\":[],\"extra\":0}",
        "{\"format\":1,\"channels\":[],\"format\":1}",
        "{\"format\":\"1\",\"channels\":[]}",
        "{\"format\":1,\"channels\":{}}",
        "{\"format\":1,\"channels\":[7]}",
        /* a channel with a wrong piece each */
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\",\"active_version\":1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[],\"highest_trusted\":1,"
        "\"color\":\"red\"}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"c\",\"active_version\":1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"ab\",\"active_version\":1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\",\"active_version\":1.5,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\",\"active_version\":true,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":0,\"active\":\"a\",\"active_version\":1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":65536,\"active\":\"a\",\"active_version\":1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\",\"active_version\":-1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\","
        "\"active_version\":4294967296,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[],\"highest_trusted\":1}]}",
        /* missing field */
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\",\"active_version\":1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"bad\":[],\"highest_trusted\":1}]}",
        /* fields that contradict each other */
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":null,\"active_version\":1,"
        "\"lkg\":null,\"lkg_version\":0,\"trial\":null,\"bad\":[],\"highest_trusted\":0}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\",\"active_version\":1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[],\"highest_trusted\":0}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\",\"active_version\":2,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":{\"slot\":\"a\",\"version\":2,\"starts\":0},"
        "\"bad\":[],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"b\",\"active_version\":2,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":{\"slot\":\"b\",\"version\":2,\"starts\":0},"
        "\"bad\":[2],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"b\",\"active_version\":2,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":{\"slot\":\"b\",\"version\":2,"
        "\"starts\":100},\"bad\":[],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"b\",\"active_version\":2,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":{\"slot\":\"b\",\"version\":2,\"starts\":0,"
        "\"x\":1},\"bad\":[],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\",\"active_version\":1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[3,3],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\",\"active_version\":1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[0],\"highest_trusted\":1}]}",
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":\"a\",\"active_version\":1,"
        "\"lkg\":\"a\",\"lkg_version\":1,\"trial\":null,\"bad\":[\"4\"],\"highest_trusted\":1}]}",
        /* the same channel twice */
        "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":null,\"active_version\":0,"
        "\"lkg\":null,\"lkg_version\":0,\"trial\":null,\"bad\":[],\"highest_trusted\":0},"
        "{\"channel\":5,\"active\":null,\"active_version\":0,"
        "\"lkg\":null,\"lkg_version\":0,\"trial\":null,\"bad\":[],\"highest_trusted\":0}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        quarantine_case(dir, bad[i], bad[i], strlen(bad[i]));

    /* Counts out of range: 33 bad versions, 65 channels. */
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b, "{\"format\":1,\"channels\":[{\"channel\":5,\"active\":null,"
                      "\"active_version\":0,\"lkg\":null,\"lkg_version\":0,\"trial\":null,"
                      "\"highest_trusted\":0,\"bad\":[");
    for (unsigned i = 1; i <= RF_AGENT_MAX_BAD + 1; i++)
        rf_buf_printf(&b, "%s%u", i > 1 ? "," : "", i);
    rf_buf_printf(&b, "]}]}");
    char *s = rf_buf_take(&b);
    assert_non_null(s);
    quarantine_case(dir, "too many bad", s, strlen(s));
    free(s);

    rf_buf_init(&b);
    rf_buf_printf(&b, "{\"format\":1,\"channels\":[");
    for (unsigned i = 1; i <= RF_AGENT_MAX_CHANNELS + 1; i++)
        rf_buf_printf(&b, "%s{\"channel\":%u,\"active\":null,\"active_version\":0,"
                          "\"lkg\":null,\"lkg_version\":0,\"trial\":null,\"bad\":[],"
                          "\"highest_trusted\":0}",
                      i > 1 ? "," : "", i);
    rf_buf_printf(&b, "]}");
    s = rf_buf_take(&b);
    assert_non_null(s);
    quarantine_case(dir, "too many channels", s, strlen(s));
    free(s);

    /* Over-long: a valid empty state padded past the size limit. */
    size_t big = RF_AGENT_MAX_STATE_BYTES + 1;
    char *pad = malloc(big);
    assert_non_null(pad);
    memset(pad, ' ', big);
    static const char empty[] = "{\"format\":1,\"channels\":[]}";
    memcpy(pad, empty, sizeof(empty) - 1);
    quarantine_case(dir, "over-long", pad, big);
    /* one byte shorter is within the limit and loads */
    write_raw(dir, "guard.json", pad, big - 1);
    rf_agent_state ok;
    load_ok(dir, &ok);
    assert_int_equal(ok.nchannels, 0);
    free(pad);
}

/* ---- the boot guard ------------------------------------------------------ */

static void test_guard_reverts_after_n_starts(void **state)
{
    const char *dir = *state;
    rf_agent_state st;
    rf_agent_actions acts;
    char slot;

    /* Version 5 in slot a runs and is confirmed: the last-known-good. */
    rf_agent_state_init(&st);
    assert_int_equal(rf_agent_slot_inactive(&st, CH, &slot), RF_OK);
    assert_int_equal(slot, 'a');
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, slot, 5, 0), RF_OK);
    assert_int_equal(rf_agent_guard_confirm(&st, CH), RF_OK);

    /* Version 6 goes to slot b on trial, then crashes the agent. */
    assert_int_equal(rf_agent_slot_inactive(&st, CH, &slot), RF_OK);
    assert_int_equal(slot, 'b');
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, slot, 6, 0), RF_OK);
    const rf_agent_chan *c = rf_agent_state_find(&st, CH);
    assert_non_null(c);
    assert_int_equal(c->active, 'b');
    assert_int_equal(c->active_version, 6);
    assert_int_equal(c->trial.starts, 0);
    save_ok(dir, &st);

    /* Starts 1 and 2: counted, persisted, nothing reverted yet. */
    for (uint32_t i = 1; i <= 2; i++) {
        acts = restart(dir, 0);
        assert_int_equal(acts.n, 0);
        load_ok(dir, &st);
        c = rf_agent_state_find(&st, CH);
        assert_int_equal(c->trial.starts, i);
        assert_int_equal(c->active, 'b');
    }

    /* Start 3 reaches N = 3: back to slot a, version 5; 6 is bad. */
    acts = restart(dir, 0);
    assert_int_equal(acts.n, 1);
    assert_int_equal(acts.a[0].channel, CH);
    assert_int_equal(acts.a[0].reverted_version, 6);
    assert_int_equal(acts.a[0].restored_version, 5);
    load_ok(dir, &st);
    c = rf_agent_state_find(&st, CH);
    assert_int_equal(c->active, 'a');
    assert_int_equal(c->active_version, 5);
    assert_int_equal(c->lkg, 'a');
    assert_int_equal(c->lkg_version, 5);
    assert_int_equal(c->has_trial, 0);
    assert_int_equal(c->nbad, 1);
    assert_int_equal(c->bad[0], 6);
    assert_int_equal(c->highest_trusted, 5);

    /* Reported once: later starts report nothing. */
    for (int i = 0; i < 3; i++) {
        acts = restart(dir, 0);
        assert_int_equal(acts.n, 0);
    }

    /* Version 6 is never accepted again, not even as a rollback. */
    load_ok(dir, &st);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'b', 6, 0), RF_E_ROLLBACK);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'b', 6, RF_AGENT_TRIAL_ROLLBACK),
                     RF_E_ROLLBACK);
    c = rf_agent_state_find(&st, CH);
    assert_int_equal(c->has_trial, 0);
    assert_int_equal(c->active, 'a');
    /* A fixed version 7 is. */
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'b', 7, 0), RF_OK);
}

static void test_guard_no_lkg_reverts_to_nothing(void **state)
{
    (void)state;
    rf_agent_state st;
    rf_agent_actions acts;
    rf_agent_state_init(&st);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 1, 0), RF_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rf_agent_guard_on_start(&st, 2, &acts), RF_OK);
        assert_int_equal(acts.n, (uint32_t)i);
    }
    assert_int_equal(acts.a[0].reverted_version, 1);
    assert_int_equal(acts.a[0].restored_version, 0);
    const rf_agent_chan *c = rf_agent_state_find(&st, CH);
    assert_int_equal(c->active, RF_AGENT_SLOT_NONE);
    assert_int_equal(c->active_version, 0);
    assert_int_equal(c->nbad, 1);
}

static void test_guard_confirm_keeps(void **state)
{
    const char *dir = *state;
    rf_agent_state st;
    rf_agent_state_init(&st);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 5, 0), RF_OK);
    assert_int_equal(rf_agent_guard_confirm(&st, CH), RF_OK);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'b', 6, 0), RF_OK);
    save_ok(dir, &st);
    for (int i = 0; i < 2; i++)
        assert_int_equal(restart(dir, 3).n, 0);

    load_ok(dir, &st);
    assert_int_equal(rf_agent_guard_confirm(&st, CH), RF_OK);
    save_ok(dir, &st);
    for (int i = 0; i < 5; i++)
        assert_int_equal(restart(dir, 3).n, 0);

    load_ok(dir, &st);
    const rf_agent_chan *c = rf_agent_state_find(&st, CH);
    assert_int_equal(c->active, 'b');
    assert_int_equal(c->active_version, 6);
    assert_int_equal(c->lkg, 'b');
    assert_int_equal(c->lkg_version, 6);
    assert_int_equal(c->highest_trusted, 6);
    assert_int_equal(c->has_trial, 0);
    assert_int_equal(c->nbad, 0);
    /* a second confirm has no trial to confirm */
    assert_int_equal(rf_agent_guard_confirm(&st, CH), RF_E_NOTFOUND);
    assert_int_equal(rf_agent_guard_confirm(&st, 9), RF_E_NOTFOUND);
}

static void test_guard_rollback_rule(void **state)
{
    (void)state;
    rf_agent_state st;
    rf_agent_state_init(&st);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 10, 0), RF_OK);
    assert_int_equal(rf_agent_guard_confirm(&st, CH), RF_OK);

    /* Below the highest trusted version: refused, state unchanged. */
    rf_agent_state before = st;
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'b', 9, 0), RF_E_ROLLBACK);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'b', 1, 0), RF_E_ROLLBACK);
    assert_state_equal(&before, &st);

    /* Unless it is a rollback. */
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'b', 9, RF_AGENT_TRIAL_ROLLBACK),
                     RF_OK);
    assert_int_equal(rf_agent_guard_confirm(&st, CH), RF_OK);
    const rf_agent_chan *c = rf_agent_state_find(&st, CH);
    assert_int_equal(c->lkg_version, 9);
    assert_int_equal(c->highest_trusted, 10); /* the high-water mark stays */
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 11, 0), RF_OK);

    /* The guard never writes over the fallback's slot. */
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'b', 12, 0), RF_E_USAGE);
}

static void test_guard_same_version_keeps_count(void **state)
{
    (void)state;
    rf_agent_state st;
    rf_agent_actions acts;
    rf_agent_state_init(&st);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 3, 0), RF_OK);
    assert_int_equal(rf_agent_guard_on_start(&st, 3, &acts), RF_OK);
    assert_int_equal(rf_agent_guard_on_start(&st, 3, &acts), RF_OK);
    /* the server assigns the same version again after a crash */
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 3, 0), RF_OK);
    assert_int_equal(rf_agent_state_find(&st, CH)->trial.starts, 2);
    assert_int_equal(rf_agent_guard_on_start(&st, 3, &acts), RF_OK);
    assert_int_equal(acts.n, 1);
    /* a new version starts its own count */
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 4, 0), RF_OK);
    assert_int_equal(rf_agent_state_find(&st, CH)->trial.starts, 0);
    assert_int_equal(rf_agent_guard_on_start(&st, 3, &acts), RF_OK);
    assert_int_equal(rf_agent_state_find(&st, CH)->trial.starts, 1);
    /* ... also when it replaces a trial under way */
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 5, 0), RF_OK);
    assert_int_equal(rf_agent_state_find(&st, CH)->trial.starts, 0);
    assert_int_equal(rf_agent_state_find(&st, CH)->trial.version, 5);
}

/* Clean stops do not count: any number of them during a trial leaves it
 * on trial; crashes among them still revert at the Nth unclean start. */
static void test_guard_clean_stops_do_not_count(void **state)
{
    (void)state;
    rf_agent_state st;
    rf_agent_actions acts;
    rf_agent_state_init(&st);
    assert_int_equal(rf_agent_guard_on_clean_stop(NULL), 0);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 1, 0), RF_OK);
    assert_int_equal(rf_agent_guard_confirm(&st, CH), RF_OK);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'b', 2, 0), RF_OK);
    /* the run that began the trial stops cleanly: its start was counted
     * before the trial existed, so nothing to take back */
    assert_int_equal(rf_agent_guard_on_clean_stop(&st), 0);
    assert_int_equal(rf_agent_state_find(&st, CH)->trial.starts, 0);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(rf_agent_guard_on_start(&st, 3, &acts), RF_OK);
        assert_int_equal(acts.n, 0);
        assert_int_equal(rf_agent_guard_on_clean_stop(&st), 1);
    }
    const rf_agent_chan *c = rf_agent_state_find(&st, CH);
    assert_true(c->has_trial);
    assert_int_equal(c->trial.starts, 0);
    assert_int_equal(c->nbad, 0);
    /* two crashes, a clean stop between them, then the third crash */
    assert_int_equal(rf_agent_guard_on_start(&st, 3, &acts), RF_OK); /* crashes */
    assert_int_equal(rf_agent_guard_on_start(&st, 3, &acts), RF_OK); /* stops */
    assert_int_equal(rf_agent_guard_on_clean_stop(&st), 1);
    assert_int_equal(rf_agent_guard_on_start(&st, 3, &acts), RF_OK); /* crashes */
    assert_int_equal(acts.n, 0);
    assert_int_equal(rf_agent_guard_on_start(&st, 3, &acts), RF_OK);
    assert_int_equal(acts.n, 1);
    assert_int_equal(acts.a[0].reverted_version, 2);
    c = rf_agent_state_find(&st, CH);
    assert_false(c->has_trial);
    assert_int_equal(c->active_version, 1);
    /* no trial: nothing to take back */
    assert_int_equal(rf_agent_guard_on_clean_stop(&st), 0);
}

static void test_guard_limits(void **state)
{
    (void)state;
    rf_agent_state st;
    rf_agent_actions acts;
    rf_agent_state_init(&st);
    for (uint32_t i = 1; i <= RF_AGENT_MAX_CHANNELS; i++)
        assert_int_equal(rf_agent_guard_begin_trial(&st, (uint16_t)i, 'a', 1, 0), RF_OK);
    assert_int_equal(rf_agent_guard_begin_trial(&st, 1000, 'a', 1, 0), RF_E_LIMIT);
    assert_int_equal(st.nchannels, RF_AGENT_MAX_CHANNELS);
    /* every channel on trial reverts in the same start */
    assert_int_equal(rf_agent_guard_on_start(&st, 1, &acts), RF_OK);
    assert_int_equal(acts.n, RF_AGENT_MAX_CHANNELS);

    /* A full bad list refuses new trials, so a revert can always record. */
    rf_agent_state_init(&st);
    for (uint32_t v = 1; v <= RF_AGENT_MAX_BAD; v++) {
        assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', v, 0), RF_OK);
        assert_int_equal(rf_agent_guard_on_start(&st, 1, &acts), RF_OK);
        assert_int_equal(acts.n, 1);
    }
    assert_int_equal(rf_agent_state_find(&st, CH)->nbad, RF_AGENT_MAX_BAD);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 100, 0), RF_E_LIMIT);
}

/* ---- slots --------------------------------------------------------------- */

static uint8_t *golden(const char *name, size_t *len, rf_channel **ch)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/channel/%s", RF_TEST_DATA, name);
    uint8_t *buf = NULL;
    assert_int_equal(rf_file_read(p, RF_MAX_CHANNEL_BYTES, &buf, len, NULL), RF_OK);
    rf_err err;
    assert_int_equal(rf_channel_read(buf, *len, p, ch, &err), RF_OK);
    return buf;
}

static void assert_slot_holds(const char *dir, uint16_t channel, char slot,
                              const uint8_t *buf, size_t len)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/slots/%u/%c.rfc", dir, (unsigned)channel, slot);
    uint8_t *got = NULL;
    size_t glen = 0;
    assert_int_equal(rf_file_read(p, RF_MAX_CHANNEL_BYTES, &got, &glen, NULL), RF_OK);
    assert_int_equal(glen, len);
    assert_memory_equal(got, buf, len);
    free(got);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    rf_channel *ch = NULL;
    rf_err err;
    assert_int_equal(rf_agent_slot_read(dir, channel, slot, &ch, &err), RF_OK);
    uint8_t *again = NULL;
    size_t alen = 0;
    assert_int_equal(rf_channel_write(ch, &again, &alen, &err), RF_OK);
    assert_int_equal(alen, len); /* canonical: the same channel, the same bytes */
    assert_memory_equal(again, buf, len);
    free(again);
    rf_channel_free(ch);
}

/* No PATH.tmp.PID left behind in the channel's slot directory. */
static void assert_no_temp(const char *dir, uint16_t channel)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/slots/%u", dir, (unsigned)channel);
    DIR *d = opendir(p);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        assert_null(strstr(e->d_name, ".tmp."));
    closedir(d);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
}

static void test_slots_write_read(void **state)
{
    const char *dir = *state;
    size_t l1, l2;
    rf_channel *c1, *c2;
    uint8_t *b1 = golden("small.rfc", &l1, &c1);
    uint8_t *b2 = golden("sample.rfc", &l2, &c2);
    rf_err err;

    uint16_t n1 = c1->channel;
    assert_int_equal(rf_agent_slot_write(dir, n1, 'a', b1, l1, &err), RF_OK);
    assert_slot_holds(dir, n1, 'a', b1, l1);
    assert_no_temp(dir, n1);

    /* Overwriting replaces the whole file. */
    assert_int_equal(rf_agent_slot_write(dir, n1, 'b', b2, l2, &err), RF_OK);
    assert_slot_holds(dir, n1, 'b', b2, l2);
    assert_int_equal(rf_agent_slot_write(dir, n1, 'b', b1, l1, &err), RF_OK);
    assert_slot_holds(dir, n1, 'b', b1, l1);

    /* Content for another channel in this channel's slot is refused, and
     * the output is left alone. */
    c2->channel = (uint16_t)(n1 + 1);
    uint8_t *other = NULL;
    size_t olen = 0;
    assert_int_equal(rf_channel_write(c2, &other, &olen, &err), RF_OK);
    assert_int_equal(rf_agent_slot_write(dir, n1, 'b', other, olen, &err), RF_OK);
    rf_channel *x = (rf_channel *)0x1;
    assert_int_equal(rf_agent_slot_read(dir, n1, 'b', &x, &err), RF_E_FORMAT);
    assert_ptr_equal(x, (rf_channel *)0x1);
    assert_int_equal(rf_agent_slot_write(dir, c2->channel, 'a', other, olen, &err), RF_OK);
    assert_slot_holds(dir, c2->channel, 'a', other, olen);
    free(other);
    assert_no_temp(dir, n1);
    /* slot a untouched by all of that */
    assert_slot_holds(dir, n1, 'a', b1, l1);

    /* A torn or garbage slot is an error, never a channel. */
    assert_int_equal(rf_agent_slot_write(dir, n1, 'b', b1, l1 / 2, &err), RF_OK);
    x = NULL;
    assert_int_not_equal(rf_agent_slot_read(dir, n1, 'b', &x, &err), RF_OK);
    assert_null(x);
    /* a slot never written */
    assert_int_equal(rf_agent_slot_read(dir, 4242, 'a', &x, &err), RF_E_IO);
    assert_null(x);

    free(b1);
    free(b2);
    rf_channel_free(c1);
    rf_channel_free(c2);
}

static void test_slots_alternate(void **state)
{
    const char *dir = *state;
    size_t len;
    rf_channel *c;
    uint8_t *buf = golden("small.rfc", &len, &c);
    uint16_t n = c->channel;
    rf_agent_state st;
    rf_agent_state_init(&st);
    rf_err err;

    char want = 'a';
    for (uint32_t v = 1; v <= 6; v++) {
        char slot;
        assert_int_equal(rf_agent_slot_inactive(&st, n, &slot), RF_OK);
        assert_int_equal(slot, want);
        assert_int_equal(rf_agent_slot_write(dir, n, slot, buf, len, &err), RF_OK);
        assert_int_equal(rf_agent_guard_begin_trial(&st, n, slot, v, 0), RF_OK);
        /* while on trial, the next write still avoids the fallback */
        char next;
        assert_int_equal(rf_agent_slot_inactive(&st, n, &next), RF_OK);
        const rf_agent_chan *ch = rf_agent_state_find(&st, n);
        if (ch->lkg != RF_AGENT_SLOT_NONE)
            assert_int_not_equal(next, ch->lkg);
        assert_int_equal(rf_agent_guard_confirm(&st, n), RF_OK);
        want = want == 'a' ? 'b' : 'a';
    }
    free(buf);
    rf_channel_free(c);
}

/* ---- bad arguments ------------------------------------------------------- */

static void test_usage(void **state)
{
    const char *dir = *state;
    rf_agent_state st;
    rf_agent_actions acts;
    rf_channel *ch = NULL;
    rf_err err;
    char slot = 'z';
    rf_agent_state_init(&st);

    assert_int_equal(rf_agent_state_load(NULL, &st, &err), RF_E_USAGE);
    assert_int_equal(err.rc, RF_E_USAGE);
    assert_int_equal(rf_agent_state_load("", &st, NULL), RF_E_USAGE);
    assert_int_equal(rf_agent_state_load(dir, NULL, NULL), RF_E_USAGE);
    assert_int_equal(rf_agent_state_save(NULL, &st, NULL), RF_E_USAGE);
    assert_int_equal(rf_agent_state_save(dir, NULL, NULL), RF_E_USAGE);

    assert_int_equal(rf_agent_guard_begin_trial(NULL, CH, 'a', 1, 0), RF_E_USAGE);
    assert_int_equal(rf_agent_guard_begin_trial(&st, 0, 'a', 1, 0), RF_E_USAGE);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'c', 1, 0), RF_E_USAGE);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, RF_AGENT_SLOT_NONE, 1, 0),
                     RF_E_USAGE);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 0, 0), RF_E_USAGE);
    assert_int_equal(rf_agent_guard_begin_trial(&st, CH, 'a', 1, 0x80), RF_E_USAGE);
    assert_int_equal(st.nchannels, 0);
    assert_int_equal(rf_agent_guard_on_start(NULL, 3, &acts), RF_E_USAGE);
    assert_int_equal(rf_agent_guard_on_start(&st, 3, NULL), RF_E_USAGE);
    assert_int_equal(rf_agent_guard_on_start(&st, RF_AGENT_MAX_STARTS_LIMIT + 1, &acts),
                     RF_E_USAGE);
    assert_int_equal(rf_agent_guard_confirm(NULL, CH), RF_E_USAGE);
    assert_int_equal(rf_agent_guard_confirm(&st, 0), RF_E_USAGE);

    assert_int_equal(rf_agent_slot_inactive(NULL, CH, &slot), RF_E_USAGE);
    assert_int_equal(rf_agent_slot_inactive(&st, CH, NULL), RF_E_USAGE);
    assert_int_equal(rf_agent_slot_inactive(&st, 0, &slot), RF_E_USAGE);
    assert_int_equal(slot, 'z');

    static const uint8_t bytes[4] = {1, 2, 3, 4};
    assert_int_equal(rf_agent_slot_write(NULL, CH, 'a', bytes, 4, &err), RF_E_USAGE);
    assert_int_equal(rf_agent_slot_write(dir, 0, 'a', bytes, 4, &err), RF_E_USAGE);
    assert_int_equal(rf_agent_slot_write(dir, CH, 'c', bytes, 4, &err), RF_E_USAGE);
    assert_int_equal(rf_agent_slot_write(dir, CH, 'a', NULL, 4, &err), RF_E_USAGE);
    assert_int_equal(rf_agent_slot_write(dir, CH, 'a', bytes,
                                         (size_t)RF_MAX_CHANNEL_BYTES + 1, &err),
                     RF_E_LIMIT);
    assert_false(exists(dir, "slots"));
    assert_int_equal(rf_agent_slot_read(NULL, CH, 'a', &ch, &err), RF_E_USAGE);
    assert_int_equal(rf_agent_slot_read(dir, 0, 'a', &ch, &err), RF_E_USAGE);
    assert_int_equal(rf_agent_slot_read(dir, CH, 'x', &ch, &err), RF_E_USAGE);
    assert_int_equal(rf_agent_slot_read(dir, CH, 'a', NULL, &err), RF_E_USAGE);
    assert_null(ch);

    /* A state the guard could never produce is not saved. */
    rf_agent_state bad;
    rf_agent_state_init(&bad);
    bad.nchannels = 1;
    bad.ch[0].channel = CH;
    bad.ch[0].active = 'x';
    bad.ch[0].active_version = 1;
    assert_int_equal(rf_agent_state_save(dir, &bad, &err), RF_E_USAGE);
    bad.nchannels = RF_AGENT_MAX_CHANNELS + 1;
    assert_int_equal(rf_agent_state_save(dir, &bad, &err), RF_E_USAGE);
    assert_false(exists(dir, "guard.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_state_missing_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_largest_fits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_reverts_after_n_starts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_no_lkg_reverts_to_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_confirm_keeps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_rollback_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_same_version_keeps_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_clean_stops_do_not_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slots_write_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slots_alternate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
