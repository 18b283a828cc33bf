/*
 * fuzz_event.c — libFuzzer harness for rf_event_parse (lib/event), the
 * parser of sensor event lines. Any input must give RF_OK or an error, never
 * a crash; an event that parses must survive rf_event_to_json and parse
 * again to the same inputs (the round trip the corpus tools rely on).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ringfence/event.h"

static void same_event(const rf_event *a, const rf_event *b)
{
    if (a->ninputs != b->ninputs)
        abort();
    if ((a->template_type == NULL) != (b->template_type == NULL) ||
        (a->template_type && strcmp(a->template_type, b->template_type) != 0))
        abort();
    if ((a->sensor_version == NULL) != (b->sensor_version == NULL) ||
        (a->sensor_version && strcmp(a->sensor_version, b->sensor_version) != 0))
        abort();
    for (uint32_t i = 0; i < a->ninputs; i++) {
        const rf_input *x = &a->inputs[i], *y = &b->inputs[i];
        if (x->type != y->type)
            abort();
        if (x->type == RF_VAL_INT && x->i != y->i)
            abort();
        if (x->type == RF_VAL_STRING &&
            (x->len != y->len || memcmp(x->s, y->s, x->len) != 0))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rf_event *ev = NULL;
    rf_err err;
    if (rf_event_parse((const char *)data, size, &ev, &err) != RF_OK)
        return 0;
    char *js = NULL;
    if (rf_event_to_json(ev, &js) != RF_OK)
        abort(); /* a parsed event is always valid UTF-8 and serialisable */
    rf_event *ev2 = NULL;
    if (rf_event_parse(js, strlen(js), &ev2, &err) != RF_OK)
        abort();
    same_event(ev, ev2);
    rf_event_free(ev2);
    free(js);
    rf_event_free(ev);
    return 0;
}
