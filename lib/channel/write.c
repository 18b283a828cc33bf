/*
 * write.c — rf_channel_write: an rf_channel to the bytes of channel file v1.
 *
 * The output is canonical: every byte is a function of the channel's content
 * (never of `source`, line numbers or pointer values), records and strings are
 * laid out in one fixed order with no gaps, and every reserved byte is zero.
 * The model is checked with rfchan_check() first, so the writer never emits a
 * file the reader would refuse.
 */
#include <stdlib.h>
#include <string.h>

#include "channel/internal.h"
#include "ringfence/util.h"

/* A write cursor over one region of the output buffer. The sizes were
 * computed beforehand, so overrunning a region is a bug in this file. */
typedef struct wr {
    uint8_t *p;
} wr;

static void put_u8(wr *w, uint8_t v)
{
    *w->p++ = v;
}

static void put_u16(wr *w, uint16_t v)
{
    w->p[0] = (uint8_t)v;
    w->p[1] = (uint8_t)(v >> 8);
    w->p += 2;
}

static void put_u32(wr *w, uint32_t v)
{
    for (int k = 0; k < 4; k++)
        w->p[k] = (uint8_t)(v >> (8 * k));
    w->p += 4;
}

static void put_u64(wr *w, uint64_t v)
{
    for (int k = 0; k < 8; k++)
        w->p[k] = (uint8_t)(v >> (8 * k));
    w->p += 8;
}

static void put_zero(wr *w, size_t n)
{
    memset(w->p, 0, n);
    w->p += n;
}

/* Strings region: appends bytes and returns the (offset, length) reference. */
typedef struct strtab {
    uint8_t *base;
    uint32_t len;
} strtab;

static void put_str(wr *w, strtab *st, const char *s, uint32_t len)
{
    put_u32(w, st->len);
    put_u32(w, len);
    if (len)
        memcpy(st->base + st->len, s, len);
    st->len += len;
}

/* A 16-byte value record: type, 7 zero bytes, payload. */
static void put_value(wr *w, strtab *st, const rf_value *v)
{
    put_u8(w, (uint8_t)v->type);
    put_zero(w, 7);
    if (v->type == RF_VAL_STRING)
        put_str(w, st, v->s, v->len);
    else if (v->type == RF_VAL_INT)
        put_u64(w, (uint64_t)v->i);
    else
        put_zero(w, 8);
}

static rf_rc report(const rf_channel *ch, const rfchan_problem *p, rf_err *err)
{
    rf_rc rc = p->rc == RF_E_FORMAT ? RF_E_SCHEMA : p->rc;
    return rf_err_set(err, rc, ch->source, p->line, 0, "cannot write channel: %s", p->msg);
}

rf_rc rf_channel_write(rf_channel *ch, uint8_t **out, size_t *outlen, rf_err *err)
{
    if (!ch || !out || !outlen)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_channel_write: NULL argument");

    rfchan_problem p;
    rf_rc rc = rfchan_check(ch, &p);
    if (rc == RF_E_NOMEM)
        return rf_err_set(err, rc, ch->source, 0, 0, "out of memory checking the channel");
    if (rc != RF_OK)
        return report(ch, &p, err);

    /* Section sizes. Counts are bounded by the checked limits, so 64-bit
     * sums cannot overflow; the total is then held to RF_MAX_CHANNEL_BYTES. */
    uint64_t n[RFCHAN_NSECTIONS] = {ch->ninstances, 0, 0, 0, 0, 0};
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        n[RFCHAN_SEC_STRINGS] += strlen(in->id);
        n[RFCHAN_SEC_CRITERIA] += in->ncrits;
        n[RFCHAN_SEC_TESTS] += in->ntests;
        for (uint32_t j = 0; j < in->ncrits; j++) {
            const rf_crit *c = &in->crits[j];
            n[RFCHAN_SEC_STRINGS] += strlen(c->field_name);
            n[RFCHAN_SEC_VALUES] += c->nvals;
            for (uint32_t k = 0; k < c->nvals; k++)
                if (c->vals[k].type == RF_VAL_STRING)
                    n[RFCHAN_SEC_STRINGS] += c->vals[k].len;
        }
        for (uint32_t j = 0; j < in->ntests; j++) {
            const rf_test *t = &in->tests[j];
            n[RFCHAN_SEC_TEST_INPUTS] += t->ninputs;
            for (uint32_t k = 0; k < t->ninputs; k++)
                if (t->inputs[k].v.type == RF_VAL_STRING)
                    n[RFCHAN_SEC_STRINGS] += t->inputs[k].v.len;
        }
    }
    uint64_t off[RFCHAN_NSECTIONS], len[RFCHAN_NSECTIONS], body = 0;
    for (int s = 0; s < RFCHAN_NSECTIONS; s++) {
        off[s] = body;
        len[s] = n[s] * rfchan_rec_size[s];
        body += len[s];
    }
    uint64_t total = RFCHAN_HEADER_LEN + body;
    if (total > RF_MAX_CHANNEL_BYTES)
        return rf_err_set(err, RF_E_LIMIT, ch->source, 0, 0,
                          "cannot write channel: %llu bytes, limit %u",
                          (unsigned long long)total, RF_MAX_CHANNEL_BYTES);
    uint8_t *buf = calloc(1, (size_t)total);
    if (!buf)
        return rf_err_set(err, RF_E_NOMEM, ch->source, 0, 0, "out of memory (%llu bytes)",
                          (unsigned long long)total);
    uint8_t *b = buf + RFCHAN_HEADER_LEN;
    strtab st = {b + off[RFCHAN_SEC_STRINGS], 0};

    /* Header. calloc already zeroed reserved bytes and name padding. */
    uint32_t tlen = (uint32_t)strlen(ch->template_type);
    wr w = {buf};
    memcpy(w.p, RFCHAN_MAGIC, RFCHAN_MAGIC_LEN);
    w.p += RFCHAN_MAGIC_LEN;
    put_u16(&w, RF_CHANNEL_FORMAT_VERSION);
    put_u16(&w, RFCHAN_HEADER_LEN);
    w.p += 32; /* digest, filled last */
    put_u32(&w, (uint32_t)body);
    put_u16(&w, ch->channel);
    put_u8(&w, (uint8_t)tlen);
    put_u8(&w, 0);
    memcpy(w.p, ch->template_type, tlen);
    w.p += RF_NAME_MAX;
    put_u32(&w, ch->template_version);
    put_u32(&w, ch->content_version);
    put_u32(&w, ch->ninstances);
    put_u32(&w, rf_channel_inputs_required(ch));
    put_u32(&w, 0);
    for (int s = 0; s < RFCHAN_NSECTIONS; s++) {
        put_u32(&w, (uint32_t)off[s]);
        put_u32(&w, (uint32_t)len[s]);
    }

    /* Sections, each in instance order; strings follow reference order. */
    uint32_t crit_next = 0, test_next = 0, val_next = 0, tin_next = 0;
    w.p = b + off[RFCHAN_SEC_INSTANCES];
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        put_str(&w, &st, in->id, (uint32_t)strlen(in->id));
        put_u8(&w, (uint8_t)in->action);
        put_u8(&w, (uint8_t)in->severity);
        put_u16(&w, 0);
        put_u32(&w, crit_next);
        put_u32(&w, in->ncrits);
        put_u32(&w, test_next);
        put_u32(&w, in->ntests);
        crit_next += in->ncrits;
        test_next += in->ntests;
    }
    w.p = b + off[RFCHAN_SEC_CRITERIA];
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ncrits; j++) {
            const rf_crit *c = &in->crits[j];
            put_u16(&w, c->field);
            put_u8(&w, (uint8_t)c->kind);
            put_u8(&w, (uint8_t)c->vtype);
            put_u8(&w, c->flags);
            put_zero(&w, 3);
            put_str(&w, &st, c->field_name, (uint32_t)strlen(c->field_name));
            put_u32(&w, val_next);
            put_u32(&w, c->nvals);
            val_next += c->nvals;
        }
    }
    w.p = b + off[RFCHAN_SEC_VALUES];
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ncrits; j++)
            for (uint32_t k = 0; k < in->crits[j].nvals; k++)
                put_value(&w, &st, &in->crits[j].vals[k]);
    }
    w.p = b + off[RFCHAN_SEC_TESTS];
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ntests; j++) {
            const rf_test *t = &in->tests[j];
            put_u8(&w, t->expect_match);
            put_zero(&w, 3);
            put_u32(&w, tin_next);
            put_u32(&w, t->ninputs);
            tin_next += t->ninputs;
        }
    }
    w.p = b + off[RFCHAN_SEC_TEST_INPUTS];
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ntests; j++) {
            const rf_test *t = &in->tests[j];
            for (uint32_t k = 0; k < t->ninputs; k++) {
                put_u16(&w, t->inputs[k].field);
                put_zero(&w, 6);
                put_value(&w, &st, &t->inputs[k].v);
            }
        }
    }
    if (st.len != len[RFCHAN_SEC_STRINGS]) {
        free(buf);
        return rf_err_set(err, RF_E_INTERNAL, ch->source, 0, 0,
                          "channel writer: strings size mismatch");
    }

    rf_sha256(buf + RFCHAN_DIGEST_FROM, (size_t)total - RFCHAN_DIGEST_FROM,
              buf + RFCHAN_H_DIGEST);
    memcpy(ch->body_sha256, buf + RFCHAN_H_DIGEST, 32);
    *out = buf;
    *outlen = (size_t)total;
    return RF_OK;
}
