/*
 * read.c — rf_channel_read, the one reader of channel files, and
 * rf_channel_read_file.
 *
 * The reader is total: any byte string gives either a fully checked channel
 * or an error with the byte offset of the problem. The order is fixed:
 *   1. framing: magic, format version, header length, total length;
 *   2. the SHA-256 digest over everything after the digest field;
 *   3. header fields and the section table (contiguous, in order, exact);
 *   4. records, section by section, through bounded cursors: every count is
 *      checked against the records actually present before anything is
 *      allocated for it, so allocations never exceed a small multiple of the
 *      input's size; every reference must be the next unused record or
 *      string byte, which makes the encoding canonical;
 *   5. rfchan_check(), the content invariants shared with the writer, and
 *      inputs_required recomputed and compared with the header.
 * A checksum only says the bytes are the ones that were written; the deep
 * checks are what make a file safe to hand to the interpreter.
 */
#include <stdlib.h>
#include <string.h>

#include "channel/internal.h"
#include "ringfence/util.h"

/* A bounded read cursor. pos and end are absolute offsets into base, so an
 * error can always name the byte it is about. */
typedef struct rd {
    const uint8_t *base;
    size_t pos;
    size_t end;
} rd;

static int rd_bytes(rd *c, size_t n, const uint8_t **out)
{
    if (c->pos > c->end || c->end - c->pos < n)
        return -1;
    *out = c->base + c->pos;
    c->pos += n;
    return 0;
}

static int rd_u8(rd *c, uint8_t *v)
{
    const uint8_t *p;
    if (rd_bytes(c, 1, &p))
        return -1;
    *v = p[0];
    return 0;
}

static int rd_u16(rd *c, uint16_t *v)
{
    const uint8_t *p;
    if (rd_bytes(c, 2, &p))
        return -1;
    *v = (uint16_t)(p[0] | (p[1] << 8));
    return 0;
}

static int rd_u32(rd *c, uint32_t *v)
{
    const uint8_t *p;
    if (rd_bytes(c, 4, &p))
        return -1;
    *v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
    return 0;
}

static int rd_u64(rd *c, uint64_t *v)
{
    uint32_t lo, hi;
    if (rd_u32(c, &lo) || rd_u32(c, &hi))
        return -1;
    *v = (uint64_t)lo | ((uint64_t)hi << 32);
    return 0;
}

/* Reads n bytes that must all be zero; *bad is the offset of the first
 * non-zero one. Returns -1 if short, 1 if non-zero, 0 if fine. */
static int rd_zero(rd *c, size_t n, size_t *bad)
{
    size_t at = c->pos;
    const uint8_t *p;
    if (rd_bytes(c, n, &p))
        return -1;
    for (size_t k = 0; k < n; k++)
        if (p[k]) {
            *bad = at + k;
            return 1;
        }
    return 0;
}

/* Everything the record passes share. */
typedef struct reader {
    const uint8_t *buf;
    size_t len;
    const char *name;
    rf_err *err;
    size_t body;                       /* absolute offset of the body */
    uint32_t off[RFCHAN_NSECTIONS];    /* section offsets, body-relative */
    uint32_t slen[RFCHAN_NSECTIONS];   /* section lengths */
    uint32_t nrec[RFCHAN_NSECTIONS];   /* records in each section */
    uint32_t next[RFCHAN_NSECTIONS];   /* next unreferenced record / string byte */
} reader;

#define FAIL(r, rc, at, ...) rf_err_set_at((r)->err, (rc), (r)->name, (uint64_t)(at), __VA_ARGS__)

static rf_rc truncated(reader *r, const rd *c)
{
    return FAIL(r, RF_E_FORMAT, c->pos, "truncated record");
}

static rf_rc reserved_set(reader *r, size_t at)
{
    return FAIL(r, RF_E_FORMAT, at, "reserved byte is 0x%02x, must be 0", r->buf[at]);
}

static size_t rec_at(const reader *r, int sec, uint64_t idx)
{
    return r->body + r->off[sec] + (size_t)idx * rfchan_rec_size[sec];
}

/*
 * A string reference (u32 offset, u32 length) at the cursor. The offset must
 * be the next unused byte of the strings section (strings are stored once,
 * in reference order, back to back), the bytes must be present and hold no
 * NUL. max bounds the length; over it is RF_E_LIMIT when limit_rc says so,
 * otherwise RF_E_FORMAT. On success *out is a malloc'd NUL-terminated copy.
 */
static rf_rc get_str(reader *r, rd *c, uint32_t max, rf_rc over_rc, const char *what,
                     char **out, uint32_t *outlen)
{
    size_t at = c->pos;
    uint32_t off, n;
    if (rd_u32(c, &off) || rd_u32(c, &n))
        return truncated(r, c);
    uint32_t *next = &r->next[RFCHAN_SEC_STRINGS];
    if (off != *next)
        return FAIL(r, RF_E_FORMAT, at, "%s string offset %u, expected %u (strings are stored "
                    "in reference order)", what, off, *next);
    if (n > r->slen[RFCHAN_SEC_STRINGS] - off)
        return FAIL(r, RF_E_FORMAT, at + 4, "%s string of %u bytes runs past the strings "
                    "section", what, n);
    if (n > max)
        return FAIL(r, over_rc, at + 4, "%s string of %u bytes, limit %u", what, n, max);
    const uint8_t *s = r->buf + r->body + r->off[RFCHAN_SEC_STRINGS] + off;
    const uint8_t *nul = memchr(s, 0, n);
    if (nul)
        return FAIL(r, RF_E_FORMAT, (size_t)(nul - r->buf), "%s string contains a NUL byte",
                    what);
    char *copy = malloc((size_t)n + 1);
    if (!copy)
        return FAIL(r, RF_E_NOMEM, at, "out of memory");
    memcpy(copy, s, n);
    copy[n] = '\0';
    *next += n;
    *out = copy;
    if (outlen)
        *outlen = n;
    return RF_OK;
}

/* The first/count pair of a record referring to records of section `sec`:
 * first must be the next unused record, count must fit in what is left. */
static rf_rc get_span(reader *r, rd *c, int sec, uint32_t *count)
{
    size_t at = c->pos;
    uint32_t first, n;
    if (rd_u32(c, &first) || rd_u32(c, &n))
        return truncated(r, c);
    if (first != r->next[sec])
        return FAIL(r, RF_E_FORMAT, at, "first %s record is %u, expected %u", rfchan_sec_name[sec],
                    first, r->next[sec]);
    if (n > r->nrec[sec] - first)
        return FAIL(r, RF_E_FORMAT, at + 4, "%u %s records, only %u left in the section", n,
                    rfchan_sec_name[sec], r->nrec[sec] - first);
    r->next[sec] += n;
    *count = n;
    return RF_OK;
}

/* A 16-byte value record. allow_absent: test inputs may be absent (type 0,
 * zero payload); criterion values may not. */
static rf_rc get_value(reader *r, rd *c, int allow_absent, const char *what, rf_value *v)
{
    size_t at = c->pos, bad;
    uint8_t type;
    if (rd_u8(c, &type))
        return truncated(r, c);
    int z = rd_zero(c, 7, &bad);
    if (z < 0)
        return truncated(r, c);
    if (z > 0)
        return reserved_set(r, bad);
    if (type == RF_VAL_STRING) {
        v->type = RF_VAL_STRING;
        return get_str(r, c, RF_MAX_STRING, RF_E_LIMIT, what, &v->s, &v->len);
    }
    if (type == RF_VAL_INT) {
        uint64_t u;
        if (rd_u64(c, &u))
            return truncated(r, c);
        v->type = RF_VAL_INT;
        v->i = (int64_t)u;
        return RF_OK;
    }
    if (type == RF_VAL_ABSENT && allow_absent) {
        z = rd_zero(c, 8, &bad);
        if (z < 0)
            return truncated(r, c);
        if (z > 0)
            return reserved_set(r, bad);
        v->type = RF_VAL_ABSENT;
        return RF_OK;
    }
    return FAIL(r, RF_E_FORMAT, at, "%s value type %u is not %s", what, type,
                allow_absent ? "0 (absent), 1 (string) or 2 (int)" : "1 (string) or 2 (int)");
}

static rf_rc read_header(reader *r, rf_channel *ch, uint32_t *inputs_required)
{
    rd c = {r->buf, RFCHAN_H_BODY_LEN + 4, RFCHAN_HEADER_LEN};
    uint16_t chan;
    uint8_t tlen, res0;
    uint32_t res1;
    const uint8_t *tname;
    size_t bad;
    if (rd_u16(&c, &chan) || rd_u8(&c, &tlen) || rd_u8(&c, &res0))
        return truncated(r, &c);
    ch->channel = chan;
    if (tlen < 1 || tlen > RF_NAME_MAX)
        return FAIL(r, RF_E_FORMAT, RFCHAN_H_TYPE_LEN, "template type name length %u is not "
                    "1..%d", tlen, RF_NAME_MAX);
    if (res0)
        return reserved_set(r, RFCHAN_H_RESERVED0);
    if (rd_bytes(&c, tlen, &tname))
        return truncated(r, &c);
    const uint8_t *nul = memchr(tname, 0, tlen);
    if (nul)
        return FAIL(r, RF_E_FORMAT, (size_t)(nul - r->buf), "template type name contains a "
                    "NUL byte");
    int z = rd_zero(&c, RF_NAME_MAX - tlen, &bad);
    if (z < 0)
        return truncated(r, &c);
    if (z > 0)
        return FAIL(r, RF_E_FORMAT, bad, "template type name padding is not zero");
    ch->template_type = malloc((size_t)tlen + 1);
    if (!ch->template_type)
        return FAIL(r, RF_E_NOMEM, RFCHAN_H_TYPE, "out of memory");
    memcpy(ch->template_type, tname, tlen);
    ch->template_type[tlen] = '\0';

    if (rd_u32(&c, &ch->template_version) || rd_u32(&c, &ch->content_version) ||
        rd_u32(&c, &ch->ninstances) || rd_u32(&c, inputs_required) || rd_u32(&c, &res1))
        return truncated(r, &c);
    /* ninstances stays set: instances is still NULL, rf_channel_free copes. */
    if (ch->ninstances > RF_MAX_INSTANCES)
        return FAIL(r, RF_E_LIMIT, RFCHAN_H_NINSTANCES, "%u instances, limit %d",
                    ch->ninstances, RF_MAX_INSTANCES);
    if (res1) {
        for (size_t k = 0; k < 4; k++)
            if (r->buf[RFCHAN_H_RESERVED1 + k])
                return reserved_set(r, RFCHAN_H_RESERVED1 + k);
    }

    /* Section table: contiguous, in order, covering the body exactly. */
    uint32_t body_len = (uint32_t)(r->len - RFCHAN_HEADER_LEN), expect = 0;
    for (int s = 0; s < RFCHAN_NSECTIONS; s++) {
        size_t at = c.pos;
        if (rd_u32(&c, &r->off[s]) || rd_u32(&c, &r->slen[s]))
            return truncated(r, &c);
        if (r->off[s] != expect)
            return FAIL(r, RF_E_FORMAT, at, "%s section at body offset %u, expected %u "
                        "(sections are contiguous and in order)", rfchan_sec_name[s],
                        r->off[s], expect);
        if (r->slen[s] > body_len - expect)
            return FAIL(r, RF_E_FORMAT, at + 4, "%s section of %u bytes runs past the body "
                        "(%u bytes)", rfchan_sec_name[s], r->slen[s], body_len);
        if (r->slen[s] % rfchan_rec_size[s])
            return FAIL(r, RF_E_FORMAT, at + 4, "%s section length %u is not a multiple of "
                        "its record size %u", rfchan_sec_name[s], r->slen[s],
                        rfchan_rec_size[s]);
        r->nrec[s] = r->slen[s] / rfchan_rec_size[s];
        expect += r->slen[s];
    }
    if (expect != body_len)
        return FAIL(r, RF_E_FORMAT, RFCHAN_H_SECTIONS + 8 * (RFCHAN_NSECTIONS - 1) + 4,
                    "sections cover %u bytes, body has %u", expect, body_len);
    if (r->nrec[RFCHAN_SEC_INSTANCES] != ch->ninstances)
        return FAIL(r, RF_E_FORMAT, RFCHAN_H_SECTIONS + 4, "instances section holds %u "
                    "records, header says %u instances", r->nrec[RFCHAN_SEC_INSTANCES],
                    ch->ninstances);
    return RF_OK;
}

static rf_rc read_instances(reader *r, rf_channel *ch)
{
    uint32_t n = ch->ninstances;
    if (n == 0)
        return RF_OK;
    /* n records are present (checked against the section), so this
     * allocation is bounded by the input's size. */
    rf_instance *ins = calloc(n, sizeof(*ins));
    if (!ins)
        return FAIL(r, RF_E_NOMEM, RFCHAN_H_NINSTANCES, "out of memory");
    ch->instances = ins;
    rd c = {r->buf, rec_at(r, RFCHAN_SEC_INSTANCES, 0), rec_at(r, RFCHAN_SEC_INSTANCES, n)};
    for (uint32_t i = 0; i < n; i++) {
        rf_instance *in = &ins[i];
        uint8_t action, sev;
        uint32_t cnt = 0; /* set by get_span on success */
        size_t bad;
        rf_rc rc = get_str(r, &c, RF_ID_MAX, RF_E_FORMAT, "instance id", &in->id, NULL);
        if (rc != RF_OK)
            return rc;
        if (rd_u8(&c, &action) || rd_u8(&c, &sev))
            return truncated(r, &c);
        in->action = (rf_action)action;
        in->severity = (rf_severity)sev;
        int z = rd_zero(&c, 2, &bad);
        if (z < 0)
            return truncated(r, &c);
        if (z > 0)
            return reserved_set(r, bad);
        if ((rc = get_span(r, &c, RFCHAN_SEC_CRITERIA, &cnt)) != RF_OK)
            return rc;
        if (cnt) {
            if (!(in->crits = calloc(cnt, sizeof(*in->crits))))
                return FAIL(r, RF_E_NOMEM, c.pos, "out of memory");
            in->ncrits = cnt;
        }
        if ((rc = get_span(r, &c, RFCHAN_SEC_TESTS, &cnt)) != RF_OK)
            return rc;
        if (cnt) {
            if (!(in->tests = calloc(cnt, sizeof(*in->tests))))
                return FAIL(r, RF_E_NOMEM, c.pos, "out of memory");
            in->ntests = cnt;
        }
    }
    return RF_OK;
}

static rf_rc read_criteria(reader *r, rf_channel *ch)
{
    rd c = {r->buf, rec_at(r, RFCHAN_SEC_CRITERIA, 0),
            rec_at(r, RFCHAN_SEC_CRITERIA, r->nrec[RFCHAN_SEC_CRITERIA])};
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ncrits; j++) {
            rf_crit *cr = &in->crits[j];
            uint8_t kind, vtype;
            uint32_t cnt = 0; /* set by get_span on success */
            size_t bad;
            if (rd_u16(&c, &cr->field) || rd_u8(&c, &kind) || rd_u8(&c, &vtype) ||
                rd_u8(&c, &cr->flags))
                return truncated(r, &c);
            cr->kind = (rf_crit_kind)kind;
            cr->vtype = (rf_value_type)vtype;
            int z = rd_zero(&c, 3, &bad);
            if (z < 0)
                return truncated(r, &c);
            if (z > 0)
                return reserved_set(r, bad);
            rf_rc rc = get_str(r, &c, RF_NAME_MAX, RF_E_FORMAT, "field name", &cr->field_name,
                               NULL);
            if (rc != RF_OK)
                return rc;
            if ((rc = get_span(r, &c, RFCHAN_SEC_VALUES, &cnt)) != RF_OK)
                return rc;
            if (cnt) {
                if (!(cr->vals = calloc(cnt, sizeof(*cr->vals))))
                    return FAIL(r, RF_E_NOMEM, c.pos, "out of memory");
                cr->nvals = cnt;
            }
        }
    }
    return RF_OK;
}

static rf_rc read_values(reader *r, rf_channel *ch)
{
    rd c = {r->buf, rec_at(r, RFCHAN_SEC_VALUES, 0),
            rec_at(r, RFCHAN_SEC_VALUES, r->nrec[RFCHAN_SEC_VALUES])};
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ncrits; j++) {
            rf_crit *cr = &in->crits[j];
            for (uint32_t k = 0; k < cr->nvals; k++) {
                rf_rc rc = get_value(r, &c, 0, "criterion", &cr->vals[k]);
                if (rc != RF_OK)
                    return rc;
            }
        }
    }
    return RF_OK;
}

static rf_rc read_tests(reader *r, rf_channel *ch)
{
    rd c = {r->buf, rec_at(r, RFCHAN_SEC_TESTS, 0),
            rec_at(r, RFCHAN_SEC_TESTS, r->nrec[RFCHAN_SEC_TESTS])};
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ntests; j++) {
            rf_test *t = &in->tests[j];
            uint32_t cnt = 0; /* set by get_span on success */
            size_t bad;
            if (rd_u8(&c, &t->expect_match))
                return truncated(r, &c);
            int z = rd_zero(&c, 3, &bad);
            if (z < 0)
                return truncated(r, &c);
            if (z > 0)
                return reserved_set(r, bad);
            rf_rc rc = get_span(r, &c, RFCHAN_SEC_TEST_INPUTS, &cnt);
            if (rc != RF_OK)
                return rc;
            if (cnt) {
                if (!(t->inputs = calloc(cnt, sizeof(*t->inputs))))
                    return FAIL(r, RF_E_NOMEM, c.pos, "out of memory");
                t->ninputs = cnt;
            }
        }
    }
    return RF_OK;
}

static rf_rc read_test_inputs(reader *r, rf_channel *ch)
{
    rd c = {r->buf, rec_at(r, RFCHAN_SEC_TEST_INPUTS, 0),
            rec_at(r, RFCHAN_SEC_TEST_INPUTS, r->nrec[RFCHAN_SEC_TEST_INPUTS])};
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ntests; j++) {
            rf_test *t = &in->tests[j];
            for (uint32_t k = 0; k < t->ninputs; k++) {
                size_t bad;
                if (rd_u16(&c, &t->inputs[k].field))
                    return truncated(r, &c);
                int z = rd_zero(&c, 6, &bad);
                if (z < 0)
                    return truncated(r, &c);
                if (z > 0)
                    return reserved_set(r, bad);
                rf_rc rc = get_value(r, &c, 1, "test input", &t->inputs[k].v);
                if (rc != RF_OK)
                    return rc;
            }
        }
    }
    return RF_OK;
}

/* Every record and string byte must be referenced exactly once. */
static rf_rc check_all_used(reader *r)
{
    for (int s = RFCHAN_SEC_CRITERIA; s < RFCHAN_NSECTIONS; s++) {
        uint32_t total = s == RFCHAN_SEC_STRINGS ? r->slen[s] : r->nrec[s];
        if (r->next[s] != total)
            return FAIL(r, RF_E_FORMAT, rec_at(r, s, r->next[s]),
                        "%s section: %u %s not referenced by any record", rfchan_sec_name[s],
                        total - r->next[s], s == RFCHAN_SEC_STRINGS ? "bytes" : "records");
    }
    return RF_OK;
}

rf_rc rf_channel_read(const uint8_t *buf, size_t len, const char *name, rf_channel **out,
                      rf_err *err)
{
    if (!out || (!buf && len))
        return rf_err_set(err, RF_E_USAGE, name, 0, 0, "rf_channel_read: NULL argument");
    reader r = {.buf = buf, .len = len, .name = name, .err = err, .body = RFCHAN_HEADER_LEN};

    /* 1. Framing. */
    if (len > RF_MAX_CHANNEL_BYTES)
        return FAIL(&r, RF_E_LIMIT, 0, "channel file of %zu bytes, limit %u", len,
                    RF_MAX_CHANNEL_BYTES);
    if (len < RFCHAN_MAGIC_LEN || memcmp(buf, RFCHAN_MAGIC, RFCHAN_MAGIC_LEN) != 0) {
        if (len >= 4 && memcmp(buf + 1, "RFC", 3) == 0)
            return FAIL(&r, RF_E_FORMAT, 0, "channel file magic damaged (a text-mode or 7-bit "
                        "transfer changes these bytes)");
        return FAIL(&r, RF_E_FORMAT, 0, "not a ringfence channel file (bad magic)");
    }
    rd c = {buf, RFCHAN_H_VERSION, len};
    uint16_t version, hlen;
    uint32_t body_len;
    if (rd_u16(&c, &version))
        return FAIL(&r, RF_E_FORMAT, len, "truncated header");
    if (version != RF_CHANNEL_FORMAT_VERSION)
        return FAIL(&r, RF_E_UNSUPPORTED, RFCHAN_H_VERSION, "channel format version %u, this "
                    "build reads version %d", version, RF_CHANNEL_FORMAT_VERSION);
    if (rd_u16(&c, &hlen))
        return FAIL(&r, RF_E_FORMAT, len, "truncated header");
    if (hlen != RFCHAN_HEADER_LEN)
        return FAIL(&r, RF_E_FORMAT, RFCHAN_H_HEADER_LEN, "header length %u, version 1 "
                    "headers are %d bytes", hlen, RFCHAN_HEADER_LEN);
    if (len < RFCHAN_HEADER_LEN)
        return FAIL(&r, RF_E_FORMAT, len, "truncated header: %zu bytes, need %d", len,
                    RFCHAN_HEADER_LEN);
    c.pos = RFCHAN_H_BODY_LEN;
    if (rd_u32(&c, &body_len))
        return FAIL(&r, RF_E_FORMAT, len, "truncated header");
    if (body_len != len - RFCHAN_HEADER_LEN)
        return FAIL(&r, RF_E_FORMAT, RFCHAN_H_BODY_LEN, "body length %u, but %zu bytes follow "
                    "the header (%s)", body_len, len - RFCHAN_HEADER_LEN,
                    body_len > len - RFCHAN_HEADER_LEN ? "file truncated" : "trailing bytes");

    /* 2. Digest, before any field is trusted. */
    uint8_t digest[32];
    rf_sha256(buf + RFCHAN_DIGEST_FROM, len - RFCHAN_DIGEST_FROM, digest);
    if (memcmp(digest, buf + RFCHAN_H_DIGEST, 32) != 0)
        return FAIL(&r, RF_E_CHECKSUM, RFCHAN_H_DIGEST, "SHA-256 digest does not match the "
                    "file's contents (corrupted or altered)");

    /* 3-4. Header and records. */
    rf_channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return FAIL(&r, RF_E_NOMEM, 0, "out of memory");
    uint32_t inputs_required = 0;
    rf_rc rc = read_header(&r, ch, &inputs_required);
    if (rc == RF_OK)
        rc = read_instances(&r, ch);
    if (rc == RF_OK)
        rc = read_criteria(&r, ch);
    if (rc == RF_OK)
        rc = read_values(&r, ch);
    if (rc == RF_OK)
        rc = read_tests(&r, ch);
    if (rc == RF_OK)
        rc = read_test_inputs(&r, ch);
    if (rc == RF_OK)
        rc = check_all_used(&r);
    if (rc != RF_OK)
        goto out_free;

    /* 5. Content invariants, shared with the writer. */
    rfchan_problem p;
    rc = rfchan_check(ch, &p);
    if (rc == RF_E_NOMEM) {
        FAIL(&r, rc, 0, "out of memory");
        goto out_free;
    }
    if (rc != RF_OK) {
        uint64_t at = p.sec == RFCHAN_SEC_HEADER ? p.at : rec_at(&r, p.sec, p.idx) + p.at;
        FAIL(&r, rc, at, "%s", p.msg);
        goto out_free;
    }
    uint32_t need = rf_channel_inputs_required(ch);
    if (inputs_required != need) {
        rc = FAIL(&r, RF_E_FORMAT, RFCHAN_H_INPUTS_REQ, "header says the channel requires %u "
                  "inputs, its criteria use %u (1 + highest field index)", inputs_required, need);
        goto out_free;
    }
    if (name && !(ch->source = strdup(name))) {
        rc = FAIL(&r, RF_E_NOMEM, 0, "out of memory");
        goto out_free;
    }
    memcpy(ch->body_sha256, digest, 32);
    *out = ch;
    return RF_OK;

out_free:
    rf_channel_free(ch);
    return rc;
}

rf_rc rf_channel_read_file(const char *path, rf_channel **out, rf_err *err)
{
    if (!path || !out)
        return rf_err_set(err, RF_E_USAGE, path, 0, 0, "rf_channel_read_file: NULL argument");
    uint8_t *buf = NULL;
    size_t len = 0;
    /* rf_file_read refuses files over the limit before reading them. */
    rf_rc rc = rf_file_read(path, RF_MAX_CHANNEL_BYTES, &buf, &len, err);
    if (rc != RF_OK)
        return rc;
    rc = rf_channel_read(buf, len, path, out, err);
    free(buf);
    return rc;
}
