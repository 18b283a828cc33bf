/*
 * fuzz_compile.c — libFuzzer harness for the Channel compiler and, through
 * it, the one YAML loader (lib/yaml) and the workspace lookups. A fixed
 * in-memory workspace (one template type with string and int fields, one
 * sensor manifest) is built once; every input is compiled against it. On
 * success the channel is freed; on failure the error must be well formed
 * (a NUL-terminated message and a position). Any crash, leak, sanitizer
 * report or abort is a bug. The corpus in fuzz/corpus/fuzz_compile/ is
 * replayed as an ordinary test by the normal build.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ringfence/compile.h"

static const char type_doc[] =
    "kind: TemplateType\n"
    "name: ipc_named_pipe\n"
    "version: 1\n"
    "fields:\n"
    "  - {name: pipe_name, type: string}\n"
    "  - {name: image_path, type: string}\n"
    "  - {name: parent_pid, type: int}\n"
    "  - {name: session_id, type: int}\n";

static const char sensor_doc[] =
    "kind: SensorManifest\n"
    "sensor_version: \"7.11.18110\"\n"
    "template_types:\n"
    "  - {name: ipc_named_pipe, version: 1, inputs: 3}\n";

static rf_workspace *workspace(void)
{
    static rf_workspace *ws;
    if (ws)
        return ws;
    rf_err err;
    if (rf_workspace_new(&ws) != RF_OK ||
        rf_workspace_add_yaml(ws, "type.yaml", type_doc, sizeof(type_doc) - 1, &err) != RF_OK ||
        rf_workspace_add_yaml(ws, "sensor.yaml", sensor_doc, sizeof(sensor_doc) - 1, &err) !=
            RF_OK)
        abort(); /* the harness itself is broken */
    return ws;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rf_channel *ch = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_compile_parse(workspace(), "fuzz.yaml", (const char *)data, size, &ch, &err);
    if (rc == RF_OK) {
        if (!ch || ch->channel == 0 || ch->template_version == 0 || ch->content_version == 0)
            abort();
        for (uint32_t i = 0; i < ch->ninstances; i++) {
            const rf_instance *in = &ch->instances[i];
            for (uint32_t j = 0; j < in->ncrits; j++) {
                /* sorted, unique, and naming a real field */
                if (in->crits[j].field >= 4 || (j && in->crits[j - 1].field >= in->crits[j].field))
                    abort();
            }
        }
        rf_channel_free(ch);
        return 0;
    }
    if (ch || memchr(err.msg, 0, sizeof(err.msg)) == NULL || err.rc != rc)
        abort();
    /* Content errors always carry a position (I/O cannot happen here). */
    if ((rc == RF_E_PARSE || rc == RF_E_SCHEMA) && (err.line == 0 || err.col == 0))
        abort();
    return 0;
}
