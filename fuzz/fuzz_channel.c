/*
 * fuzz_channel.c — libFuzzer harness for rf_channel_read, the one reader of
 * channel files. Two properties are checked on every input:
 *   - the reader never crashes, leaks or reads out of bounds (sanitizers);
 *   - canonical encoding: if the reader accepts bytes, rf_channel_write of
 *     the result gives back exactly those bytes (abort() otherwise).
 * A random mutation almost never keeps the SHA-256 digest right, which would
 * leave every check after it unfuzzed. So an input the reader refuses with
 * RF_E_CHECKSUM is read a second time with its digest recomputed and patched
 * in, and the deep structural checks get fuzzed too.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ringfence/channel.h"
#include "ringfence/util.h"

/* Layout facts of channel file v1 (docs/channel-format.md). */
#define DIGEST_AT 12
#define DIGEST_FROM 44

static void read_and_check(const uint8_t *data, size_t size)
{
    rf_channel *ch = NULL;
    rf_err err;
    rf_rc rc = rf_channel_read(data, size, "fuzz", &ch, &err);
    if (rc != RF_OK) {
        if (ch || err.rc != rc || err.offset == RF_NO_OFFSET)
            abort(); /* failures leave *out alone and say where */
        return;
    }
    uint8_t *out = NULL;
    size_t outlen = 0;
    if (rf_channel_write(ch, &out, &outlen, &err) != RF_OK)
        abort(); /* the writer refused what the reader accepted */
    if (outlen != size || memcmp(out, data, size) != 0)
        abort(); /* two encodings of one channel */
    free(out);
    rf_channel_free(ch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rf_channel *ch = NULL;
    rf_rc rc = rf_channel_read(data, size, NULL, &ch, NULL);
    rf_channel_free(ch);
    if (rc != RF_E_CHECKSUM) {
        read_and_check(data, size);
        return 0;
    }
    if (size < DIGEST_FROM)
        abort(); /* a checksum verdict on a file too short to hold one */
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    rf_sha256(copy + DIGEST_FROM, size - DIGEST_FROM, copy + DIGEST_AT);
    read_and_check(copy, size);
    free(copy);
    return 0;
}
