/*
 * conf.c — STATE/agent.json: what enrollment gave this host. Written once by
 * `enroll` (atomically, 0600: it holds the agent token) and read by `run` and
 * `status`. Every field is checked on load, so a damaged file is a clear
 * error (exit 3), never a half-configured agent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent.h"

#define CONF_FORMAT 1
#define CONF_MAX_BYTES (64u * 1024u)

char *agent_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void agent_conf_free(agent_conf *c)
{
    if (!c)
        return;
    free(c->server);
    free(c->tuf_url);
    free(c->token);
    free(c->tenant);
    free(c->group);
    free(c->hostname);
    free(c->sensor_version);
    memset(c, 0, sizeof(*c));
}

static int take_str(json_t *o, const char *k, char **out)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4096)
        return -1;
    *out = strdup(json_string_value(v));
    return *out ? 0 : -1;
}

rf_rc agent_conf_load(const char *state, agent_conf *c, rf_err *err)
{
    memset(c, 0, sizeof(*c));
    char *path = agent_path(state, AGENT_CONF_FILE);
    if (!path)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_rc rc = rf_file_read(path, CONF_MAX_BYTES, &buf, &len, err);
    if (rc != RF_OK) {
        free(path);
        return rc;
    }
    json_error_t je;
    json_t *o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!json_is_object(o)) {
        rc = rf_err_set(err, RF_E_PARSE, path, 0, 0, "not a JSON object: %s", je.text);
        goto out;
    }
    json_t *fmt = json_object_get(o, "format");
    json_t *id = json_object_get(o, "host_id");
    json_t *iv = json_object_get(o, "checkin_interval_s");
    json_t *at = json_object_get(o, "enrolled_at");
    json_t *ca = json_object_get(o, "ca");
    if (!json_is_integer(fmt) || json_integer_value(fmt) != CONF_FORMAT) {
        rc = rf_err_set(err, RF_E_UNSUPPORTED, path, 0, 0, "format must be %d", CONF_FORMAT);
        goto out;
    }
    if (!json_is_integer(id) || json_integer_value(id) < 1 || !json_is_integer(iv) ||
        json_integer_value(iv) < 1 || json_integer_value(iv) > 86400 ||
        !json_is_integer(at) || !json_is_boolean(ca) || take_str(o, "server", &c->server) ||
        take_str(o, "tuf_url", &c->tuf_url) || take_str(o, "token", &c->token) ||
        take_str(o, "tenant", &c->tenant) || take_str(o, "group", &c->group) ||
        take_str(o, "hostname", &c->hostname) ||
        take_str(o, "sensor_version", &c->sensor_version)) {
        rc = rf_err_set(err, RF_E_SCHEMA, path, 0, 0,
                        "a field is missing or wrong (host_id, server, tuf_url, token, tenant, "
                        "group, hostname, sensor_version, checkin_interval_s, enrolled_at, "
                        "ca): enroll again");
        goto out;
    }
    c->host_id = json_integer_value(id);
    c->checkin_interval_s = json_integer_value(iv);
    c->enrolled_at = json_integer_value(at);
    c->has_ca = json_is_true(ca);
    rc = RF_OK;
out:
    if (rc != RF_OK)
        agent_conf_free(c);
    json_decref(o);
    free(path);
    return rc;
}

rf_rc agent_conf_save(const char *state, const agent_conf *c, rf_err *err)
{
    json_t *o = json_pack("{s:i,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:b}", "format",
                          CONF_FORMAT, "host_id", (json_int_t)c->host_id, "server", c->server,
                          "tuf_url", c->tuf_url, "token", c->token, "tenant", c->tenant,
                          "group", c->group, "hostname", c->hostname, "sensor_version",
                          c->sensor_version, "checkin_interval_s",
                          (json_int_t)c->checkin_interval_s, "enrolled_at",
                          (json_int_t)c->enrolled_at, "ca", c->has_ca);
    char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    char *path = agent_path(state, AGENT_CONF_FILE);
    rf_rc rc;
    if (!text || !path)
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    else
        rc = rf_file_write_atomic(path, text, strlen(text), 0600, err);
    free(text);
    free(path);
    return rc;
}
