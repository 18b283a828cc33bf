/*
 * fuzz_agent_state.c — libFuzzer harness for the boot guard's state file
 * (rf_agent_state_load, lib/agent/state.c): the one file the agent reads at
 * every start before anything else, and which a crash, a full disk or a
 * person may have left in any shape. Any bytes as guard.json must give a
 * state or a quarantine, never a crash; a state that loads must save, and
 * what it saves must load again unquarantined and equal (so the agent never
 * writes a file it would move aside at its next start); the guard's
 * transitions on a loaded state must keep it savable.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "ringfence/agent.h"
#include "ringfence/util.h"

static char g_dir[64];

/* Empty DIR (one level of files) and remove it when RMDIR. */
static void clear_dir(const char *dir, int rm)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char p[sizeof(g_dir) + 16 + sizeof(de->d_name)];
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    if (rm)
        rmdir(dir);
}

static void quarantine_dir(char *q, size_t n)
{
    snprintf(q, n, "%s/quarantine", g_dir);
}

static void cleanup(void)
{
    char q[96];
    quarantine_dir(q, sizeof(q));
    clear_dir(q, 1);
    clear_dir(g_dir, 1);
}

static void setup(void)
{
    if (g_dir[0])
        return;
    snprintf(g_dir, sizeof(g_dir), "/tmp/rf-fuzz-agent-state.XXXXXX");
    if (!mkdtemp(g_dir))
        abort();
    atexit(cleanup);
}

static void must_round_trip(const rf_agent_state *st)
{
    static rf_agent_state back;
    rf_err err;
    if (rf_agent_state_save(g_dir, st, &err) != RF_OK)
        abort(); /* a state load accepted must be savable */
    if (rf_agent_state_load(g_dir, &back, &err) != RF_OK || back.quarantined)
        abort();
    if (back.nchannels != st->nchannels ||
        memcmp(back.ch, st->ch, st->nchannels * sizeof(st->ch[0])) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    char path[96];
    snprintf(path, sizeof(path), "%s/guard.json", g_dir);
    rf_err err;
    if (rf_file_write_atomic(path, data, size, 0600, &err) != RF_OK)
        abort();
    static rf_agent_state st;
    if (rf_agent_state_load(g_dir, &st, &err) != RF_OK)
        abort(); /* an unusable file is quarantined, never an error */
    if (st.quarantined) {
        if (access(path, F_OK) == 0)
            abort(); /* it must have been moved aside */
    } else {
        must_round_trip(&st);
        /* One start and a confirmation on every channel: still savable. */
        rf_agent_actions acts;
        if (rf_agent_guard_on_start(&st, 0, &acts) != RF_OK)
            abort();
        for (uint32_t i = 0; i < st.nchannels; i++)
            if (st.ch[i].has_trial && rf_agent_guard_confirm(&st, st.ch[i].channel) != RF_OK)
                abort();
        must_round_trip(&st);
    }
    /* Keep the quarantine from growing without bound over a long run. */
    if (st.quarantined) {
        char q[96];
        quarantine_dir(q, sizeof(q));
        clear_dir(q, 0);
    }
    return 0;
}
