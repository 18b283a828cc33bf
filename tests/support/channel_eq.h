/*
 * channel_eq.h — field-by-field equality of two rf_channels for cmocka
 * tests (include after <cmocka.h>). The channel tests compare a channel
 * with what the reader returns for its bytes; the compiler tests compare two
 * compilations of one source, source lines included.
 */
#ifndef RINGFENCE_TESTS_CHANNEL_EQ_H
#define RINGFENCE_TESTS_CHANNEL_EQ_H

#include "ringfence/channel.h"

static void assert_value_eq(const rf_value *a, const rf_value *b)
{
    assert_int_equal(a->type, b->type);
    assert_true(a->i == b->i);
    assert_int_equal(a->len, b->len);
    if (a->type == RF_VAL_STRING)
        assert_memory_equal(a->s, b->s, a->len + 1);
}

/* with_lines: also compare the source lines of instances, criteria and tests
 * (a channel read from bytes has none). */
static void assert_channel_eq(const rf_channel *a, const rf_channel *b, int with_lines)
{
    assert_int_equal(a->channel, b->channel);
    assert_string_equal(a->template_type, b->template_type);
    assert_int_equal(a->template_version, b->template_version);
    assert_int_equal(a->content_version, b->content_version);
    assert_int_equal(a->ninstances, b->ninstances);
    for (uint32_t i = 0; i < a->ninstances; i++) {
        const rf_instance *x = &a->instances[i], *y = &b->instances[i];
        assert_string_equal(x->id, y->id);
        assert_int_equal(x->action, y->action);
        assert_int_equal(x->severity, y->severity);
        if (with_lines)
            assert_int_equal(x->line, y->line);
        assert_int_equal(x->ncrits, y->ncrits);
        assert_int_equal(x->ntests, y->ntests);
        for (uint32_t j = 0; j < x->ncrits; j++) {
            const rf_crit *c = &x->crits[j], *d = &y->crits[j];
            assert_int_equal(c->field, d->field);
            assert_string_equal(c->field_name, d->field_name);
            assert_int_equal(c->kind, d->kind);
            assert_int_equal(c->vtype, d->vtype);
            assert_int_equal(c->flags, d->flags);
            if (with_lines)
                assert_int_equal(c->line, d->line);
            assert_int_equal(c->nvals, d->nvals);
            for (uint32_t k = 0; k < c->nvals; k++)
                assert_value_eq(&c->vals[k], &d->vals[k]);
        }
        for (uint32_t j = 0; j < x->ntests; j++) {
            const rf_test *t = &x->tests[j], *u = &y->tests[j];
            assert_int_equal(t->expect_match, u->expect_match);
            if (with_lines)
                assert_int_equal(t->line, u->line);
            assert_int_equal(t->ninputs, u->ninputs);
            for (uint32_t k = 0; k < t->ninputs; k++) {
                assert_int_equal(t->inputs[k].field, u->inputs[k].field);
                assert_value_eq(&t->inputs[k].v, &u->inputs[k].v);
            }
        }
    }
}

#endif
