/*
 * internal.h — what the files of lib/channel share: the byte layout of channel
 * file v1 (docs/channel-format.md is the prose version of these numbers) and
 * the one model checker that both the writer and the reader run, so that the
 * writer can never produce a file the reader refuses, and the reader accepts
 * exactly the channels the writer would write.
 */
#ifndef RINGFENCE_LIB_CHANNEL_INTERNAL_H
#define RINGFENCE_LIB_CHANNEL_INTERNAL_H

#include "ringfence/channel.h"

/* "\x89RFC\r\n\x1a\n": the high bit catches 7-bit transports, CR LF catches
 * text-mode newline conversion either way, ^Z stops a DOS `type`. */
#define RFCHAN_MAGIC "\x89RFC\r\n\x1a\n"
#define RFCHAN_MAGIC_LEN 8

/* Header field offsets (all integers little-endian). */
#define RFCHAN_H_MAGIC 0
#define RFCHAN_H_VERSION 8        /* u16 format version */
#define RFCHAN_H_HEADER_LEN 10    /* u16 header length */
#define RFCHAN_H_DIGEST 12        /* 32 bytes: SHA-256 of bytes [44, end) */
#define RFCHAN_H_BODY_LEN 44      /* u32 */
#define RFCHAN_H_CHANNEL 48       /* u16 */
#define RFCHAN_H_TYPE_LEN 50      /* u8 */
#define RFCHAN_H_RESERVED0 51     /* u8, zero */
#define RFCHAN_H_TYPE 52          /* 64 bytes, zero-padded */
#define RFCHAN_H_TEMPLATE_VER 116 /* u32 */
#define RFCHAN_H_CONTENT_VER 120  /* u32 */
#define RFCHAN_H_NINSTANCES 124   /* u32 */
#define RFCHAN_H_INPUTS_REQ 128   /* u32 */
#define RFCHAN_H_RESERVED1 132    /* u32, zero */
#define RFCHAN_H_SECTIONS 136     /* 6 x (u32 offset, u32 length) */
#define RFCHAN_HEADER_LEN 184
#define RFCHAN_DIGEST_FROM (RFCHAN_H_DIGEST + 32)

/* Body sections, in file order. */
enum {
    RFCHAN_SEC_INSTANCES = 0,
    RFCHAN_SEC_CRITERIA = 1,
    RFCHAN_SEC_VALUES = 2,
    RFCHAN_SEC_TESTS = 3,
    RFCHAN_SEC_TEST_INPUTS = 4,
    RFCHAN_SEC_STRINGS = 5,
    RFCHAN_NSECTIONS = 6,
    RFCHAN_SEC_HEADER = 7, /* a problem location in the header */
};

/* Record sizes, and field offsets inside records. */
#define RFCHAN_INST_SIZE 28
#define RFCHAN_INST_ID 0 /* u32 off, u32 len into strings */
#define RFCHAN_INST_ACTION 8
#define RFCHAN_INST_SEVERITY 9
#define RFCHAN_INST_RESERVED 10 /* u16 zero */
#define RFCHAN_INST_CRIT_FIRST 12
#define RFCHAN_INST_CRIT_COUNT 16
#define RFCHAN_INST_TEST_FIRST 20
#define RFCHAN_INST_TEST_COUNT 24

#define RFCHAN_CRIT_SIZE 24
#define RFCHAN_CRIT_FIELD 0 /* u16 */
#define RFCHAN_CRIT_KIND 2
#define RFCHAN_CRIT_VTYPE 3
#define RFCHAN_CRIT_FLAGS 4
#define RFCHAN_CRIT_RESERVED 5 /* 3 bytes zero */
#define RFCHAN_CRIT_NAME 8     /* u32 off, u32 len */
#define RFCHAN_CRIT_VAL_FIRST 16
#define RFCHAN_CRIT_VAL_COUNT 20

#define RFCHAN_VAL_SIZE 16
#define RFCHAN_VAL_TYPE 0
#define RFCHAN_VAL_RESERVED 1 /* 7 bytes zero */
#define RFCHAN_VAL_PAYLOAD 8  /* i64, or u32 off + u32 len, or zero */

#define RFCHAN_TEST_SIZE 12
#define RFCHAN_TEST_EXPECT 0
#define RFCHAN_TEST_RESERVED 1 /* 3 bytes zero */
#define RFCHAN_TEST_IN_FIRST 4
#define RFCHAN_TEST_IN_COUNT 8

#define RFCHAN_TIN_SIZE 24
#define RFCHAN_TIN_FIELD 0    /* u16 */
#define RFCHAN_TIN_RESERVED 2 /* 6 bytes zero */
#define RFCHAN_TIN_VALUE 8    /* a 16-byte value record */

/*
 * A problem the model checker found. `rc` is RF_E_LIMIT for a limit and
 * RF_E_FORMAT for any other broken invariant (the writer reports the latter
 * as RF_E_SCHEMA). The location is a record: section, index of the record in
 * its section, and the offset of the offending field inside the record (for
 * RFCHAN_SEC_HEADER, idx is 0 and `at` the header offset). `line` is the
 * source line of the object, 0 when unknown.
 */
typedef struct rfchan_problem {
    rf_rc rc;
    int sec;
    uint64_t idx;
    uint32_t at;
    uint32_t line;
    char msg[RF_ERR_MSG_MAX];
} rfchan_problem;

/*
 * Check every invariant of the channel model (docs/channel-format.md, "What
 * the reader checks", the part that is about content rather than framing).
 * Returns RF_OK, RF_E_NOMEM, or the problem's rc with *p filled.
 * Walks records in file order, so global record indices match the file.
 */
rf_rc rfchan_check(const rf_channel *ch, rfchan_problem *p);

/* Record sizes indexed by section (1 for strings). */
extern const uint32_t rfchan_rec_size[RFCHAN_NSECTIONS];
extern const char *const rfchan_sec_name[RFCHAN_NSECTIONS];

#endif
