/*
 * slots.c — the two content slots per channel, STATE/slots/<channel>/a.rfc
 * and b.rfc (agent.h). New content is always written to the slot that is not
 * the last-known-good (rf_agent_slot_inactive), with rf_file_write_atomic,
 * so a kill -9 during a download leaves the fallback untouched and the other
 * slot either old or new, never torn. Reading goes through rf_channel_read,
 * the one reader of channel files: a slot file is as untrusted as a download.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ringfence/agent.h"
#include "ringfence/util.h"

static rf_rc mkdir_one(const char *path, rf_err *err)
{
    if (mkdir(path, 0700) == 0)
        return RF_OK;
    int e = errno;
    struct stat sb;
    if (e == EEXIST && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return RF_OK;
    return rf_err_set(err, RF_E_IO, path, 0, 0, "cannot create directory: %s",
                      e == EEXIST ? "exists and is not a directory" : strerror(e));
}

/*
 * DIR/slots/<channel>/<slot>.rfc into path; with mk, create DIR, DIR/slots
 * and DIR/slots/<channel> (0700) on the way.
 */
static rf_rc slot_path(const char *dir, uint16_t channel, char slot, int mk, char *path,
                       size_t n, rf_err *err)
{
    int w = snprintf(path, n, "%s/slots/%u/%c.rfc", dir, (unsigned)channel, slot);
    if (w < 0 || (size_t)w >= n)
        return rf_err_set(err, RF_E_IO, dir, 0, 0, "path too long");
    if (!mk)
        return RF_OK;
    char d[PATH_MAX];
    rf_rc rc = mkdir_one(dir, err);
    snprintf(d, sizeof(d), "%s/slots", dir); /* shorter than path: fits */
    if (rc == RF_OK)
        rc = mkdir_one(d, err);
    snprintf(d, sizeof(d), "%s/slots/%u", dir, (unsigned)channel);
    if (rc == RF_OK)
        rc = mkdir_one(d, err);
    return rc;
}

static int args_ok(const char *dir, uint16_t channel, char slot)
{
    return dir && *dir && channel != 0 && (slot == 'a' || slot == 'b');
}

rf_rc rf_agent_slot_write(const char *dir, uint16_t channel, char slot,
                          const void *buf, size_t len, rf_err *err)
{
    if (!args_ok(dir, channel, slot) || (!buf && len))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "rf_agent_slot_write: needs a directory, channel 1..65535, "
                          "slot a or b, and a buffer");
    if (len > RF_MAX_CHANNEL_BYTES)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                          "channel file of %zu bytes, above the limit of %u", len,
                          RF_MAX_CHANNEL_BYTES);
    char path[PATH_MAX];
    rf_rc rc = slot_path(dir, channel, slot, 1, path, sizeof(path), err);
    if (rc != RF_OK)
        return rc;
    return rf_file_write_atomic(path, buf ? buf : "", len, 0600, err);
}

rf_rc rf_agent_slot_read(const char *dir, uint16_t channel, char slot,
                         rf_channel **ch, rf_err *err)
{
    if (!args_ok(dir, channel, slot) || !ch)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "rf_agent_slot_read: needs a directory, channel 1..65535, "
                          "slot a or b, and an output");
    char path[PATH_MAX];
    rf_rc rc = slot_path(dir, channel, slot, 0, path, sizeof(path), err);
    if (rc != RF_OK)
        return rc;
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = rf_file_read(path, RF_MAX_CHANNEL_BYTES, &buf, &len, err);
    if (rc != RF_OK)
        return rc;
    rf_channel *c = NULL;
    rc = rf_channel_read(buf, len, path, &c, err);
    free(buf);
    if (rc != RF_OK)
        return rc;
    if (c->channel != channel) {
        rc = rf_err_set(err, RF_E_FORMAT, path, 0, 0,
                        "slot of channel %u holds content for channel %u",
                        (unsigned)channel, (unsigned)c->channel);
        rf_channel_free(c);
        return rc;
    }
    *ch = c;
    return RF_OK;
}
