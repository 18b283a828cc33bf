/*
 * api.c — the control plane's resources other than enroll and check-in:
 * tenants and their tokens, vendor tokens, tenant policies, releases (upload
 * with the server's own run of the validator, approval by a second person,
 * publication through TUF), rollouts (start, read, halt, resume, rollback),
 * the blast radius on the live fleet, and the audit log. Every state change
 * is one store transaction with its audit line; a request that fails
 * changes nothing.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringfence/blast.h"
#include "ringfence/channel.h"
#include "ringfence/schema.h"
#include "ringfence/validate.h"
#include "server.h"

/* ---- shared checks ------------------------------------------------------------- */

static int tenant_name_ok(const char *s)
{
    return rfd_group_name_ok(s);
}

/* The tenant named in the path, as the caller may see it: a tenant-admin
 * sees only its own tenant, and any other name is 404 (existence is not
 * revealed). Answers and returns -1 on failure. */
static int path_tenant(rfd_req *r, rf_store_tx *tx, const char *name, rf_store_tenant *t)
{
    rf_err err;
    rf_rc rc = tenant_name_ok(name) ? rf_store_tenant_get(tx, name, t, &err) : RF_E_NOTFOUND;
    if (rc == RF_E_NOTFOUND ||
        (!rc && (r->auth.role & (RFD_TENANT_ADMIN)) && t->id != r->auth.tenant_id)) {
        rfd_fail(r, 404, "no tenant '%s'", name);
        return -1;
    }
    if (rc) {
        rfd_store_fail(r, &err);
        return -1;
    }
    return 0;
}

/* Commit, or answer the store error. 0 on success. */
static int commit_or_fail(rfd_req *r, rf_store_tx *tx, rf_rc rc, const rf_err *err)
{
    rf_err cerr;
    if (rc) {
        rf_store_rollback(tx);
        rfd_store_fail(r, err);
        return -1;
    }
    if (rf_store_commit(tx, &cerr) != RF_OK) {
        rfd_store_fail(r, &cerr);
        return -1;
    }
    return 0;
}

/* ---- tenants, tokens, policies ------------------------------------------------------ */

static json_t *tenant_json(const rf_store_tenant *t)
{
    return json_pack("{s:I,s:s,s:b,s:I}", "id", (json_int_t)t->id, "name", t->name, "internal",
                     t->internal, "created", (json_int_t)t->created);
}

static void create_tenant(rfd_req *r)
{
    static const char *const allowed[] = {"name", "internal", NULL};
    json_t *o = rfd_body_object(r, allowed);
    if (!o)
        return;
    const char *name = NULL;
    int internal = 0;
    if (rfd_get_str(r, o, "name", &name) < 0 || rfd_get_bool(r, o, "internal", &internal) < 0)
        goto out;
    if (!name || !tenant_name_ok(name)) {
        rfd_fail(r, 400, "field 'name' is required: 1..63 characters of [a-z0-9_-]");
        goto out;
    }
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(r->srv->store, 1, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        goto out;
    }
    rf_store_tenant t;
    memset(&t, 0, sizeof(t));
    rf_rc rc = rf_store_tenant_create(tx, name, internal, r->now, &t.id, &err);
    if (rc == RF_E_SCHEMA) {
        rf_store_rollback(tx);
        rfd_fail(r, 409, "tenant '%s' exists already", name);
        goto out;
    }
    snprintf(t.name, sizeof(t.name), "%s", name);
    t.internal = internal;
    t.created = r->now;
    char obj[96];
    snprintf(obj, sizeof(obj), "tenant/%s", name);
    json_t *d = tenant_json(&t);
    if (!rc)
        rc = rfd_audit(r, tx, "tenant.create", obj, d, &err);
    if (commit_or_fail(r, tx, rc, &err) == 0)
        rfd_reply(r, 201, json_incref(d));
    json_decref(d);
out:
    json_decref(o);
}

static void list_tenants(rfd_req *r)
{
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(r->srv->store, 0, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    rf_store_tenant *ts = NULL;
    size_t n = 0;
    rf_rc rc = rf_store_tenant_list(tx, &ts, &n, &err);
    rf_store_rollback(tx);
    if (rc) {
        rfd_store_fail(r, &err);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, tenant_json(&ts[i]));
    free(ts);
    rfd_reply(r, 200, json_pack("{s:o}", "tenants", a));
}

/* Issue a token of `role` (already checked) in a write transaction. */
static void issue(rfd_req *r, const char *role, const char *name, int64_t tenant_id,
                  const char *tenant_name)
{
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(r->srv->store, 1, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    char token[68];
    int64_t id = 0;
    rf_rc rc = rfd_token_issue(r->srv, tx, role, name, tenant_id, 0, r->now, token, &id, &err);
    char obj[64];
    snprintf(obj, sizeof(obj), "token/%lld", (long long)id);
    json_t *d = json_pack("{s:s,s:s}", "role", role, "name", name);
    if (tenant_name)
        json_object_set_new(d, "tenant", json_string(tenant_name));
    if (!rc)
        rc = rfd_audit(r, tx, "token.issue", obj, d, &err);
    if (commit_or_fail(r, tx, rc, &err) == 0) {
        rfd_auth a;
        memset(&a, 0, sizeof(a));
        a.token_id = id;
        a.role = rfd_role_bit(role);
        snprintf(a.name, sizeof(a.name), "%s", name);
        a.tenant_id = tenant_id;
        rfd_token_remember(r->srv, token, &a);
        json_object_set_new(d, "id", json_integer(id));
        json_object_set_new(d, "token", json_string(token));
        rfd_reply(r, 201, json_incref(d));
    }
    json_decref(d);
}

/* GET: the tokens of a tenant (tenant_id > 0) or the vendor's (0); never
 * the tokens themselves, which are not stored. */
static void list_tokens(rfd_req *r, int64_t tenant_id)
{
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(r->srv->store, 0, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    rf_store_token *ts = NULL;
    size_t n = 0;
    rf_rc rc = rf_store_token_list(tx, tenant_id, &ts, &n, &err);
    rf_store_rollback(tx);
    if (rc) {
        rfd_store_fail(r, &err);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:I,s:s,s:s,s:I,s:b}", "id", (json_int_t)ts[i].id, "role",
                              ts[i].role, "name", ts[i].name, "created", (json_int_t)ts[i].created,
                              "revoked", ts[i].revoked);
        json_object_set_new(o, "host_id",
                            ts[i].host_id ? json_integer(ts[i].host_id) : json_null());
        json_array_append_new(a, o);
    }
    free(ts);
    rfd_reply(r, 200, json_pack("{s:o}", "tokens", a));
}

/* DELETE: revoke token `id`, which must belong to tenant_id (0: the vendor's;
 * -1: any, for an admin). Another tenant's token is 404. */
static void revoke_token(rfd_req *r, const char *ids, int64_t tenant_id)
{
    int64_t id = rfd_parse_id(ids);
    rf_store_tx *tx;
    rf_err err;
    if (!id) {
        rfd_fail(r, 404, "no token '%s'", ids);
        return;
    }
    if (rf_store_begin(r->srv->store, 1, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    rf_store_token *ts = NULL;
    size_t n = 0;
    rf_rc rc = rf_store_token_list(tx, tenant_id, &ts, &n, &err);
    const rf_store_token *t = NULL;
    for (size_t i = 0; !rc && i < n; i++)
        if (ts[i].id == id)
            t = &ts[i];
    if (!rc && !t) {
        free(ts);
        rf_store_rollback(tx);
        rfd_fail(r, 404, "no token %lld", (long long)id);
        return;
    }
    if (!rc && t->revoked) {
        free(ts);
        rf_store_rollback(tx);
        rfd_fail(r, 409, "token %lld is revoked already", (long long)id);
        return;
    }
    if (!rc && t->id == r->auth.token_id) {
        free(ts);
        rf_store_rollback(tx);
        rfd_fail(r, 409, "a token cannot revoke itself");
        return;
    }
    json_t *d = t ? json_pack("{s:s,s:s}", "role", t->role, "name", t->name) : NULL;
    free(ts);
    if (!rc)
        rc = rf_store_token_revoke(tx, id, &err);
    char obj[64];
    snprintf(obj, sizeof(obj), "token/%lld", (long long)id);
    if (!rc)
        rc = rfd_audit(r, tx, "token.revoke", obj, d, &err);
    if (commit_or_fail(r, tx, rc, &err) == 0) {
        rfd_token_forget(r->srv, id);
        json_object_set_new(d, "id", json_integer(id));
        json_object_set_new(d, "revoked", json_true());
        rfd_reply(r, 200, json_incref(d));
    }
    json_decref(d);
}

/* The name a token is issued to: [A-Za-z0-9._@-]{1,63}. */
static int identity_ok(const char *s)
{
    return rfd_word_ok(s, RF_NAME_MAX, "@");
}

/* Parse {"role", "name"} for a token; roles limited to `may` (RFD_* bits). */
static int token_body(rfd_req *r, unsigned may, const char **role, const char **name, json_t **o)
{
    static const char *const allowed[] = {"role", "name", NULL};
    *o = rfd_body_object(r, allowed);
    if (!*o)
        return -1;
    *role = NULL;
    *name = NULL;
    if (rfd_get_str(r, *o, "role", role) < 0 || rfd_get_str(r, *o, "name", name) < 0)
        return -1;
    if (!*role || !(rfd_role_bit(*role) & may)) {
        char list[128] = "";
        for (unsigned b = 1; b < RFD_ANYONE; b <<= 1)
            if (b & may) {
                size_t l = strlen(list);
                snprintf(list + l, sizeof(list) - l, "%s%s", l ? ", " : "", rfd_role_name(b));
            }
        rfd_fail(r, 400, "field 'role' is required here: one of %s", list);
        return -1;
    }
    if (!*name || !identity_ok(*name)) {
        rfd_fail(r, 400,
                 "field 'name' is required: who the token is for, 1..63 characters of "
                 "[A-Za-z0-9._@-]");
        return -1;
    }
    return 0;
}

void rfd_api_tokens(rfd_req *r, char **seg, size_t nseg)
{
    if (nseg == 2) {
        if (strcmp(r->method, "DELETE"))
            rfd_fail(r, 405, "use DELETE");
        else
            revoke_token(r, seg[1], -1);
        return;
    }
    if (nseg != 1) {
        rfd_fail(r, 404, "no such endpoint: %s", r->url);
        return;
    }
    if (strcmp(r->method, "GET") == 0) {
        list_tokens(r, 0);
        return;
    }
    if (strcmp(r->method, "POST")) {
        rfd_fail(r, 405, "use GET or POST");
        return;
    }
    const char *role, *name;
    json_t *o;
    if (token_body(r, RFD_VENDOR, &role, &name, &o) == 0)
        issue(r, role, name, 0, NULL);
    json_decref(o);
}

static const char *const policy_modes[] = {"early", "ga", "pinned", "paused"};

static json_t *policy_json(const rf_store_policy *p, const char *tenant, int is_default)
{
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:I,s:b,s:b}", "tenant", tenant, "group", p->group,
                          "channel", (json_int_t)p->channel, "mode", p->mode, "ga_delay_s",
                          (json_int_t)p->ga_delay_s, "emergency_opt_in", p->emergency_opt_in,
                          "default", is_default);
    json_object_set_new(o, "pinned_version",
                        p->pinned_version ? json_integer((json_int_t)p->pinned_version)
                                          : json_null());
    json_object_set_new(o, "updated", json_integer(p->updated));
    return o;
}

static void policy(rfd_req *r, rf_store_tenant *t, const char *chs)
{
    int64_t ch = rfd_parse_id(chs);
    if (ch < 1 || ch > 65535) {
        rfd_fail(r, 404, "no channel '%s' (channels are 1..65535)", chs);
        return;
    }
    const char *group = rfd_query(r, "group");
    if (!group)
        group = "*";
    if (strcmp(group, "*") && !rfd_group_name_ok(group)) {
        rfd_fail(r, 400, "query 'group' must be * or 1..63 characters of [a-z0-9_-]");
        return;
    }
    int get = strcmp(r->method, "GET") == 0;
    if (!get && strcmp(r->method, "PUT")) {
        rfd_fail(r, 405, "use GET or PUT");
        return;
    }
    rf_err err;
    rf_store_tx *tx;
    if (!get) {
        /* Only the tenant's own admin: no vendor role can change a tenant's
         * policy. The refusal is audited. */
        if (r->auth.role != RFD_TENANT_ADMIN) {
            if (rf_store_begin(r->srv->store, 1, &tx, &err) == RF_OK) {
                char obj[128];
                snprintf(obj, sizeof(obj), "tenant/%s/policy/%lld", t->name, (long long)ch);
                json_t *d = json_pack("{s:s}", "group", group);
                rf_rc rc = rfd_audit(r, tx, "policy.refused", obj, d, &err);
                json_decref(d);
                if (rc || rf_store_commit(tx, &err) != RF_OK)
                    rfd_warn(r->srv, "audit of a refused policy change failed: %s", err.msg);
                if (rc)
                    rf_store_rollback(tx);
            }
            rfd_fail(r, 403,
                     "only tenant '%s' can change its policies (with its tenant-admin token); "
                     "a token of role %s cannot",
                     t->name, rfd_role_name(r->auth.role));
            return;
        }
    }
    rf_store_policy p;
    memset(&p, 0, sizeof(p));
    if (get) {
        if (rf_store_begin(r->srv->store, 0, &tx, &err) != RF_OK) {
            rfd_store_fail(r, &err);
            return;
        }
        /* What the group's hosts follow: its own policy, else the tenant's
         * "*", else GA without delay. */
        rf_rc rc = rf_store_policy_get(tx, t->id, group, (uint32_t)ch, &p, &err);
        const char *from = group;
        if (rc == RF_E_NOTFOUND && strcmp(group, "*") != 0) {
            rc = rf_store_policy_get(tx, t->id, "*", (uint32_t)ch, &p, &err);
            from = "*";
        }
        rf_store_rollback(tx);
        int dflt = rc == RF_E_NOTFOUND;
        if (rc && !dflt) {
            rfd_store_fail(r, &err);
            return;
        }
        if (dflt) {
            p.tenant_id = t->id;
            p.channel = (uint32_t)ch;
            snprintf(p.mode, sizeof(p.mode), "ga");
            from = NULL;
        }
        snprintf(p.group, sizeof(p.group), "%s", group);
        json_t *o = policy_json(&p, t->name, dflt);
        json_object_set_new(o, "inherited_from",
                            from && strcmp(from, group) ? json_string(from) : json_null());
        rfd_reply(r, 200, o);
        return;
    }
    static const char *const allowed[] = {"mode", "ga_delay_s", "ga_delay_h", "pinned_version",
                                          "emergency_opt_in", NULL};
    json_t *o = rfd_body_object(r, allowed);
    if (!o)
        return;
    const char *mode = NULL;
    int64_t delay_s = 0, delay_h = -1, pin = 0;
    int opt = 0;
    if (rfd_get_str(r, o, "mode", &mode) < 0 ||
        rfd_get_int(r, o, "ga_delay_s", 0, RF_FLEET_MAX_DELAY_S, &delay_s) < 0 ||
        rfd_get_int(r, o, "ga_delay_h", 0, RF_FLEET_MAX_DELAY_S / 3600, &delay_h) < 0 ||
        rfd_get_int(r, o, "pinned_version", 1, UINT32_MAX, &pin) < 0 ||
        rfd_get_bool(r, o, "emergency_opt_in", &opt) < 0)
        goto out;
    int ok = 0;
    for (size_t i = 0; mode && i < 4; i++)
        ok |= strcmp(mode, policy_modes[i]) == 0;
    if (!ok) {
        rfd_fail(r, 400, "field 'mode' is required: early, ga, pinned or paused");
        goto out;
    }
    if (delay_h >= 0)
        delay_s = delay_h * 3600;
    if (strcmp(mode, "pinned") == 0 && !pin) {
        rfd_fail(r, 400, "mode 'pinned' needs field 'pinned_version'");
        goto out;
    }
    if (strcmp(mode, "pinned") && pin) {
        rfd_fail(r, 400, "field 'pinned_version' goes with mode 'pinned' only");
        goto out;
    }
    if (strcmp(mode, "ga") && delay_s) {
        rfd_fail(r, 400, "a GA delay goes with mode 'ga' only");
        goto out;
    }
    p.tenant_id = t->id;
    snprintf(p.group, sizeof(p.group), "%s", group);
    p.channel = (uint32_t)ch;
    snprintf(p.mode, sizeof(p.mode), "%s", mode);
    p.ga_delay_s = (uint32_t)delay_s;
    p.pinned_version = (uint64_t)pin;
    p.emergency_opt_in = opt;
    p.updated = r->now;
    if (rf_store_begin(r->srv->store, 1, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        goto out;
    }
    rf_rc rc = rf_store_policy_put(tx, &p, &err);
    json_t *d = policy_json(&p, t->name, 0);
    char obj[128];
    snprintf(obj, sizeof(obj), "tenant/%s/policy/%lld", t->name, (long long)ch);
    if (!rc)
        rc = rfd_audit(r, tx, "policy.set", obj, d, &err);
    if (commit_or_fail(r, tx, rc, &err) == 0) {
        rfd_policies_changed(r->srv);
        rfd_reply(r, 200, json_incref(d));
    }
    json_decref(d);
out:
    json_decref(o);
}

void rfd_api_tenants(rfd_req *r, char **seg, size_t nseg)
{
    if (nseg == 1) {
        if (strcmp(r->method, "POST") == 0) {
            if (r->auth.role != RFD_ADMIN) {
                rfd_fail(r, 403, "only an admin token creates tenants");
                return;
            }
            create_tenant(r);
        } else if (strcmp(r->method, "GET") == 0) {
            list_tenants(r);
        } else {
            rfd_fail(r, 405, "use GET or POST");
        }
        return;
    }
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(r->srv->store, 0, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    rf_store_tenant t;
    int bad = path_tenant(r, tx, seg[1], &t);
    rf_store_rollback(tx);
    if (bad)
        return;
    if (nseg == 2) {
        if (strcmp(r->method, "GET")) {
            rfd_fail(r, 405, "use GET");
            return;
        }
        rfd_reply(r, 200, tenant_json(&t));
        return;
    }
    if (nseg == 4 && strcmp(seg[2], "tokens") == 0) {
        if (strcmp(r->method, "DELETE"))
            rfd_fail(r, 405, "use DELETE");
        else
            revoke_token(r, seg[3], t.id);
        return;
    }
    if (nseg == 3 && strcmp(seg[2], "tokens") == 0) {
        if (strcmp(r->method, "GET") == 0) {
            list_tokens(r, t.id);
            return;
        }
        if (strcmp(r->method, "POST")) {
            rfd_fail(r, 405, "use GET or POST");
            return;
        }
        const char *role, *name;
        json_t *o;
        if (token_body(r, RFD_TENANT_ADMIN | RFD_ENROLL, &role, &name, &o) == 0)
            issue(r, role, name, t.id, t.name);
        json_decref(o);
        return;
    }
    if (nseg == 4 && strcmp(seg[2], "policies") == 0) {
        policy(r, &t, seg[3]);
        return;
    }
    rfd_fail(r, 404, "no such endpoint: %s", r->url);
}

/* ---- releases ------------------------------------------------------------------------ */

static json_t *release_json(const rf_store_release *x)
{
    json_t *o = json_pack("{s:I,s:I,s:I,s:s,s:I,s:I,s:s,s:s,s:s,s:I,s:I}", "id", (json_int_t)x->id,
                          "channel", (json_int_t)x->channel, "content_version",
                          (json_int_t)x->content_version, "template_type", x->template_type,
                          "template_version", (json_int_t)x->template_version, "inputs_required",
                          (json_int_t)x->inputs_required, "sha256", x->sha256, "state", x->state,
                          "author", x->author, "created", (json_int_t)x->created, "length",
                          (json_int_t)x->channel_len);
    json_object_set_new(o, "approver", x->approver[0] ? json_string(x->approver) : json_null());
    json_object_set_new(o, "approved", x->approved ? json_integer(x->approved) : json_null());
    json_object_set_new(o, "target", x->target[0] ? json_string(x->target) : json_null());
    return o;
}

/* Base64 (standard alphabet, padding, no line breaks) into a new buffer. */
static int b64_decode(const char *in, uint8_t **out, size_t *len)
{
    size_t n = strlen(in);
    if (n == 0 || n % 4 || n > (size_t)INT32_MAX)
        return -1;
    uint8_t *b = malloc(n / 4 * 3 + 1);
    if (!b)
        return -1;
    int k = EVP_DecodeBlock(b, (const unsigned char *)in, (int)n);
    if (k < 0) {
        free(b);
        return -1;
    }
    size_t pad = (in[n - 1] == '=') + (in[n - 2] == '=');
    *out = b;
    *len = (size_t)k - pad;
    return 0;
}

/* Write buf to DIR/name; 0 on success. */
static int write_file(const char *dir, const char *name, const void *buf, size_t len, char *path,
                      size_t pn)
{
    snprintf(path, pn, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(buf, 1, len, f) == len;
    ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

static void upload_release(rfd_req *r)
{
    rfd_server *s = r->srv;
    static const char *const allowed[] = {"channel_file", "types", "sensors", "corpus", NULL};
    json_t *o = rfd_body_object(r, allowed);
    if (!o)
        return;
    uint8_t *cf = NULL;
    size_t cl = 0;
    rf_workspace *ws = NULL;
    rf_channel *ch = NULL;
    char *report = NULL, *manifests = NULL;
    char tmp[256];
    const char *tdir = getenv("TMPDIR");
    if (!tdir || !*tdir || strlen(tdir) > 200)
        tdir = "/tmp";
    snprintf(tmp, sizeof(tmp), "%s/ringfenced-validate-XXXXXX", tdir);
    int have_tmp = 0;
    rf_store_release *prev = NULL;
    size_t nprev = 0;
    const char *b64 = NULL, *corpus = NULL;
    if (rfd_get_str(r, o, "channel_file", &b64) < 0 || rfd_get_str(r, o, "corpus", &corpus) < 0)
        goto out;
    if (!b64 || b64_decode(b64, &cf, &cl) != 0) {
        rfd_fail(r, 400, "field 'channel_file' is required: the compiled channel file (.rfc), "
                         "base64 without line breaks");
        goto out;
    }
    json_t *types = json_object_get(o, "types"), *sensors = json_object_get(o, "sensors");
    if (!json_is_array(types) || !json_is_array(sensors) || json_array_size(sensors) == 0) {
        rfd_fail(r, 400, "fields 'types' and 'sensors' are required: arrays of the TemplateType "
                         "and SensorManifest YAML documents the release is validated against "
                         "(at least one sensor)");
        goto out;
    }
    json_t *ms = json_pack("{s:O,s:O}", "types", types, "sensors", sensors);
    size_t i;
    json_t *v;
    json_array_foreach(types, i, v) if (!json_is_string(v))
    {
        json_decref(ms);
        rfd_fail(r, 400, "types[%zu] must be a string (a YAML document)", i);
        goto out;
    }
    json_array_foreach(sensors, i, v) if (!json_is_string(v))
    {
        json_decref(ms);
        rfd_fail(r, 400, "sensors[%zu] must be a string (a YAML document)", i);
        goto out;
    }
    manifests = json_dumps(ms, JSON_COMPACT);
    json_decref(ms);
    rf_err err;
    rf_err_clear(&err);
    /* Loaded here only to answer 422 at once; the validation job loads
     * its own copy from manifests.json. */
    if (!manifests || rfd_release_workspace(manifests, &ws, &err) != RF_OK) {
        char b[700];
        rf_err_format(&err, b, sizeof(b));
        rfd_fail(r, 422, "the manifests do not load: %s", b);
        goto out;
    }
    if (rf_channel_read(cf, cl, "channel_file", &ch, &err) != RF_OK) {
        char b[700];
        rf_err_format(&err, b, sizeof(b));
        rfd_fail_with(r, 422, json_pack("{s:s}", "stage", "parse"),
                      "the channel file is refused by the reader: %s", b);
        goto out;
    }

    /* The previous release of the channel is the differential baseline, and
     * the content version must be above every version the channel has. */
    rf_store_tx *tx;
    if (rf_store_begin(s->store, 0, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        goto out;
    }
    rf_rc rc = rf_store_release_list(tx, ch->channel, &prev, &nprev, &err);
    rf_store_release base;
    memset(&base, 0, sizeof(base));
    if (!rc && nprev)
        rc = rf_store_release_get(tx, prev[0].id, 1, &base, &err);
    /* A rollback version told to hosts is taken too, even one that carried
     * no content (the rollback of a channel's first release). */
    uint64_t above = nprev ? prev[0].content_version : 0;
    rf_store_rollout *rs = NULL;
    size_t nrs = 0;
    if (!rc)
        rc = rf_store_rollout_list(tx, "rolling-back", &rs, &nrs, &err);
    for (size_t k = 0; k < nrs; k++) {
        uint64_t rbv = (rs[k].content_version > rs[k].last_good_version
                            ? rs[k].content_version
                            : rs[k].last_good_version) +
                       1;
        if (rs[k].channel == ch->channel && rbv > above)
            above = rbv;
        rf_store_rollout_free(&rs[k]);
    }
    free(rs);
    rf_store_rollback(tx);
    if (rc) {
        rfd_store_fail(r, &err);
        goto out;
    }
    if (ch->content_version <= above) {
        rf_store_release_free(&base);
        rfd_fail(r, 409,
                 "channel %u has version %llu already; a new release needs a content_version "
                 "above it (this one is %u)",
                 ch->channel, (unsigned long long)above, ch->content_version);
        goto out;
    }
    if (!mkdtemp(tmp)) {
        rf_store_release_free(&base);
        rfd_fail(r, 500, "no temporary directory: %s", strerror(errno));
        goto out;
    }
    have_tmp = 1;
    char bpath[600] = "", cdir[600];
    if (nprev && base.channel_file &&
        write_file(tmp, "baseline.rfc", base.channel_file, base.channel_len, bpath,
                   sizeof(bpath))) {
        rf_store_release_free(&base);
        rfd_fail(r, 500, "cannot write the baseline for the validator");
        goto out;
    }
    rf_store_release_free(&base);
    snprintf(cdir, sizeof(cdir), "%s/corpus", tmp);
    if (mkdir(cdir, 0700) != 0) {
        rfd_fail(r, 500, "cannot make a corpus directory");
        goto out;
    }
    if (corpus) {
        char cp[600];
        if (write_file(cdir, "upload.jsonl", corpus, strlen(corpus), cp, sizeof(cp))) {
            rfd_fail(r, 500, "cannot write the corpus for the validator");
            goto out;
        }
    }
    /* The validator runs in a job of its own (validate.c): it forks. */
    char up[600], mp[600];
    if (write_file(tmp, "upload.rfc", cf, cl, up, sizeof(up)) ||
        write_file(tmp, "manifests.json", manifests, strlen(manifests), mp, sizeof(mp))) {
        rfd_fail(r, 500, "cannot write the upload for the validator");
        goto out;
    }
    int passed = 0;
    char first[600];
    json_t *rj = NULL;
    pthread_mutex_lock(&s->validate_mu);
    rc = rfd_validate_release(s, tmp, &passed, &rj, first, sizeof(first), &err);
    pthread_mutex_unlock(&s->validate_mu);
    if (rc) {
        char b[700];
        rf_err_format(&err, b, sizeof(b));
        rfd_fail(r, 500, "the validator could not run: %s", b);
        goto out;
    }
    report = json_dumps(rj, JSON_COMPACT);
    if (!report) {
        json_decref(rj);
        rfd_fail(r, 503, "out of memory");
        goto out;
    }
    if (!passed) {
        /* The first error, in words, and the whole report. */
        rfd_fail_with(r, 422, json_pack("{s:o}", "report", rj),
                      "the validator rejected channel %u version %u: %s", ch->channel,
                      ch->content_version, first);
        goto out;
    }
    rf_store_release x;
    memset(&x, 0, sizeof(x));
    x.channel = ch->channel;
    x.content_version = ch->content_version;
    snprintf(x.template_type, sizeof(x.template_type), "%s", ch->template_type);
    x.template_version = ch->template_version;
    x.inputs_required = rf_channel_inputs_required(ch);
    uint8_t d[32];
    rf_sha256(cf, cl, d);
    rf_hex(d, 32, x.sha256);
    snprintf(x.state, sizeof(x.state), "validated");
    snprintf(x.author, sizeof(x.author), "%s", r->auth.name);
    x.created = r->now;
    x.channel_file = cf;
    x.channel_len = cl;
    x.manifests = manifests;
    x.report = report;
    if (rf_store_begin(s->store, 1, &tx, &err) != RF_OK) {
        json_decref(rj);
        rfd_store_fail(r, &err);
        goto out;
    }
    rc = rf_store_release_create(tx, &x, &x.id, &err);
    if (rc == RF_E_SCHEMA) {
        rf_store_rollback(tx);
        json_decref(rj);
        rfd_fail(r, 409, "channel %u version %u exists already", ch->channel,
                 ch->content_version);
        goto out;
    }
    json_t *jd = release_json(&x);
    char obj[64];
    snprintf(obj, sizeof(obj), "release/%lld", (long long)x.id);
    if (!rc)
        rc = rfd_audit(r, tx, "release.create", obj, jd, &err);
    if (commit_or_fail(r, tx, rc, &err) == 0) {
        json_object_set_new(jd, "report", rj ? rj : json_null());
        rfd_reply(r, 201, json_incref(jd));
    } else {
        json_decref(rj);
    }
    json_decref(jd);
out:
    if (have_tmp)
        rfd_validate_dir_remove(tmp);
    for (size_t k = 0; k < nprev; k++)
        rf_store_release_free(&prev[k]);
    free(prev);
    free(cf);
    free(manifests);
    free(report);
    rf_channel_free(ch);
    rf_workspace_free(ws);
    json_decref(o);
}

/* The custom metadata of a channel file's TUF target. */
/* rollback_of: for a rollback version, the release it undoes; content_of:
 * the version whose content it carries (0, 0 for a release). */
static char *target_custom(const rf_store_release *x, uint64_t rollback_of, uint64_t content_of)
{
    json_t *o = json_pack("{s:I,s:I,s:s,s:I,s:s,s:I}", "channel", (json_int_t)x->channel,
                          "content_version", (json_int_t)x->content_version, "template_type",
                          x->template_type, "template_version", (json_int_t)x->template_version,
                          "sha256", x->sha256, "release", (json_int_t)x->id);
    if (x->report) {
        uint8_t d[32];
        char hex[65];
        rf_sha256(x->report, strlen(x->report), d);
        rf_hex(d, 32, hex);
        json_object_set_new(o, "report_sha256", json_string(hex));
    }
    if (rollback_of) {
        json_object_set_new(o, "rollback_of", json_integer((json_int_t)rollback_of));
        json_object_set_new(o, "content_of", json_integer((json_int_t)content_of));
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

/* Stage (and, with an online targets key, publish) a release's target. */
static int publish_release(rfd_req *r, const rf_store_release *x, uint64_t rollback_of,
                           uint64_t content_of, int *published, char *why, size_t wn)
{
    rfd_server *s = r->srv;
    *published = 0;
    if (!s->pub) {
        snprintf(why, wn, "this server keeps no TUF repository (start it with --repo)");
        return 0;
    }
    char *custom = target_custom(x, rollback_of, content_of);
    rf_err err;
    rf_err_clear(&err);
    pthread_mutex_lock(&s->pub_mu);
    rf_rc rc = rfd_publisher_add(s->pub, x->target, x->channel_file, x->channel_len, custom,
                                 published, why, wn, &err);
    pthread_mutex_unlock(&s->pub_mu);
    free(custom);
    if (rc) {
        char b[700];
        rf_err_format(&err, b, sizeof(b));
        rfd_fail(r, 500, "publishing %s failed: %s", x->target, b);
        return -1;
    }
    return 0;
}

static void approve_release(rfd_req *r, int64_t id)
{
    rfd_server *s = r->srv;
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(s->store, 1, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    rf_store_release x;
    rf_rc rc = rf_store_release_get(tx, id, 1, &x, &err);
    if (rc == RF_E_NOTFOUND) {
        rf_store_rollback(tx);
        rfd_fail(r, 404, "no release %lld", (long long)id);
        return;
    }
    if (rc) {
        rf_store_rollback(tx);
        rfd_store_fail(r, &err);
        return;
    }
    if (strcmp(x.author, r->auth.name) == 0) {
        json_t *d = json_pack("{s:s}", "author", x.author);
        char obj[64];
        snprintf(obj, sizeof(obj), "release/%lld", (long long)id);
        rc = rfd_audit(r, tx, "release.approve.refused", obj, d, &err);
        json_decref(d);
        if (rc || rf_store_commit(tx, &err) != RF_OK) {
            if (rc)
                rf_store_rollback(tx);
        }
        rf_store_release_free(&x);
        rfd_fail(r, 403, "'%s' wrote release %lld and cannot also approve it: a second person must",
                 r->auth.name, (long long)id);
        return;
    }
    if (strcmp(x.state, "validated") != 0) {
        rf_store_rollback(tx);
        rf_store_release_free(&x);
        rfd_fail(r, 409, "release %lld is %s already", (long long)id, x.state);
        return;
    }
    rfd_target_name(x.channel, x.content_version, x.target, sizeof(x.target));
    int published = 0;
    char why[1024] = "";
    if (publish_release(r, &x, 0, 0, &published, why, sizeof(why))) {
        rf_store_rollback(tx);
        rf_store_release_free(&x);
        return;
    }
    rc = rf_store_release_approve(tx, id, r->auth.name, r->now, x.target, &err);
    json_t *d = json_pack("{s:s,s:b}", "target", x.target, "published", published);
    char obj[64];
    snprintf(obj, sizeof(obj), "release/%lld", (long long)id);
    if (!rc)
        rc = rfd_audit(r, tx, "release.approve", obj, d, &err);
    json_decref(d);
    if (commit_or_fail(r, tx, rc, &err) == 0) {
        snprintf(x.state, sizeof(x.state), "approved");
        snprintf(x.approver, sizeof(x.approver), "%s", r->auth.name);
        x.approved = r->now;
        json_t *o = release_json(&x);
        json_object_set_new(o, "published", json_boolean(published));
        if (!published)
            json_object_set_new(o, "signing", json_string(why));
        rfd_reply(r, 200, o);
    }
    rf_store_release_free(&x);
}

static void get_release(rfd_req *r, int64_t id)
{
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(r->srv->store, 0, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    rf_store_release x;
    rf_rc rc = rf_store_release_get(tx, id, 1, &x, &err);
    rf_store_rollback(tx);
    if (rc == RF_E_NOTFOUND) {
        rfd_fail(r, 404, "no release %lld", (long long)id);
        return;
    }
    if (rc) {
        rfd_store_fail(r, &err);
        return;
    }
    json_t *o = release_json(&x);
    json_error_t je;
    json_t *rep = x.report ? json_loads(x.report, 0, &je) : NULL;
    json_object_set_new(o, "report", rep ? rep : json_null());
    rf_store_release_free(&x);
    rfd_reply(r, 200, o);
}

static void list_releases(rfd_req *r)
{
    const char *chs = rfd_query(r, "channel");
    int64_t ch = 0;
    if (chs && ((ch = rfd_parse_id(chs)) < 1 || ch > 65535)) {
        rfd_fail(r, 400, "query 'channel' must be 1..65535");
        return;
    }
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(r->srv->store, 0, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    rf_store_release *xs = NULL;
    size_t n = 0;
    rf_rc rc = rf_store_release_list(tx, (uint32_t)ch, &xs, &n, &err);
    rf_store_rollback(tx);
    if (rc) {
        rfd_store_fail(r, &err);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, release_json(&xs[i]));
        rf_store_release_free(&xs[i]);
    }
    free(xs);
    rfd_reply(r, 200, json_pack("{s:o}", "releases", a));
}

void rfd_api_releases(rfd_req *r, char **seg, size_t nseg)
{
    if (nseg == 1) {
        if (strcmp(r->method, "POST") == 0)
            upload_release(r);
        else if (strcmp(r->method, "GET") == 0)
            list_releases(r);
        else
            rfd_fail(r, 405, "use GET or POST");
        return;
    }
    int64_t id = rfd_parse_id(seg[1]);
    if (!id) {
        rfd_fail(r, 404, "no release '%s'", seg[1]);
        return;
    }
    if (nseg == 2) {
        if (strcmp(r->method, "GET"))
            rfd_fail(r, 405, "use GET");
        else
            get_release(r, id);
        return;
    }
    if (nseg == 3 && strcmp(seg[2], "approve") == 0) {
        if (strcmp(r->method, "POST"))
            rfd_fail(r, 405, "use POST");
        else
            approve_release(r, id);
        return;
    }
    rfd_fail(r, 404, "no such endpoint: %s", r->url);
}

/* ---- rollouts ---------------------------------------------------------------------------- */

/*
 * The rollback version of a rollout is prepared when it starts: the last
 * good content re-issued under version max(release, last good) + 1, stored
 * as a release of its own and published with the release, so that a halt
 * never waits for a person to sign anything.
 */
static int prepare_rollback(rfd_req *r, rf_store_tx *tx, const rf_store_release *rel,
                            uint64_t last_good, int *published, char *why, size_t wn)
{
    rf_err err;
    *published = 1;
    if (!last_good)
        return 0;
    uint64_t v = (rel->content_version > last_good ? rel->content_version : last_good) + 1;
    rf_store_release *xs = NULL;
    size_t n = 0;
    rf_rc rc = rf_store_release_list(tx, rel->channel, &xs, &n, &err);
    if (rc) {
        rfd_store_fail(r, &err);
        return -1;
    }
    int64_t good_id = 0, have_v = 0;
    for (size_t i = 0; i < n; i++) {
        if (xs[i].content_version == last_good)
            good_id = xs[i].id;
        if (xs[i].content_version == v)
            have_v = xs[i].id;
        if (xs[i].content_version > v)
            have_v = -1;
    }
    for (size_t i = 0; i < n; i++)
        rf_store_release_free(&xs[i]);
    free(xs);
    if (have_v < 0) {
        rfd_fail(r, 409, "channel %u has releases above %llu: roll out the newest release",
                 rel->channel, (unsigned long long)v);
        return -1;
    }
    if (!good_id) {
        rfd_fail(r, 500, "the last good version %llu of channel %u has no release",
                 (unsigned long long)last_good, rel->channel);
        return -1;
    }
    rf_store_release good, x;
    memset(&x, 0, sizeof(x));
    if (rf_store_release_get(tx, have_v ? have_v : good_id, 1, &good, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return -1;
    }
    int ret = -1;
    rf_channel *ch = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    char mine[RF_NAME_MAX];
    snprintf(mine, sizeof(mine), "rollback-of-%llu", (unsigned long long)rel->content_version);
    if (have_v && strcmp(good.author, mine) != 0) {
        rfd_fail(r, 409, "channel %u has a release %llu already: roll out the newest release",
                 rel->channel, (unsigned long long)v);
        rf_store_release_free(&good);
        return -1;
    }
    if (have_v) {
        /* Prepared already (a retry): publish it again if needed. */
        ret = publish_release(r, &good, rel->content_version, last_good, published, why, wn);
        rf_store_release_free(&good);
        return ret;
    }
    if (rf_channel_read(good.channel_file, good.channel_len, "last good", &ch, &err) != RF_OK ||
        (ch->content_version = (uint32_t)v, rf_channel_write(ch, &buf, &len, &err)) != RF_OK) {
        rfd_fail(r, 500, "cannot re-issue version %llu as %llu: %s",
                 (unsigned long long)last_good, (unsigned long long)v, err.msg);
        goto out;
    }
    x.channel = rel->channel;
    x.content_version = v;
    snprintf(x.template_type, sizeof(x.template_type), "%s", good.template_type);
    x.template_version = good.template_version;
    x.inputs_required = good.inputs_required;
    uint8_t d[32];
    rf_sha256(buf, len, d);
    rf_hex(d, 32, x.sha256);
    snprintf(x.state, sizeof(x.state), "approved");
    snprintf(x.author, sizeof(x.author), "rollback-of-%llu", (unsigned long long)rel->content_version);
    /* Its content was approved when it was released; the operator who starts
     * the rollout is in the audit line below. */
    snprintf(x.approver, sizeof(x.approver), "%s", good.approver);
    x.created = x.approved = r->now;
    rfd_target_name(x.channel, v, x.target, sizeof(x.target));
    x.channel_file = buf;
    x.channel_len = len;
    x.manifests = good.manifests;
    x.report = good.report;
    if (rf_store_release_create(tx, &x, &x.id, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        goto out;
    }
    char obj[64];
    snprintf(obj, sizeof(obj), "release/%lld", (long long)x.id);
    json_t *jd = json_pack("{s:I,s:I,s:I}", "rollback_of", (json_int_t)rel->content_version,
                           "content_of", (json_int_t)last_good, "content_version", (json_int_t)v);
    rc = rfd_audit(r, tx, "release.rollback-prepared", obj, jd, &err);
    json_decref(jd);
    if (rc) {
        rfd_store_fail(r, &err);
        goto out;
    }
    ret = publish_release(r, &x, rel->content_version, last_good, published, why, wn);
out:
    x.manifests = NULL;
    x.report = NULL;
    free(buf);
    rf_channel_free(ch);
    rf_store_release_free(&good);
    return ret;
}

static int is_published(rfd_server *s, const char *target, const char *sha)
{
    if (!s->pub)
        return 0;
    pthread_mutex_lock(&s->pub_mu);
    int ok = rfd_publisher_is_published(s->pub, target, sha);
    pthread_mutex_unlock(&s->pub_mu);
    return ok;
}

static void start_rollout(rfd_req *r)
{
    rfd_server *s = r->srv;
    static const char *const allowed[] = {"release", "emergency", "reason", NULL};
    json_t *o = rfd_body_object(r, allowed);
    if (!o)
        return;
    int64_t rid = 0;
    int emergency = 0;
    const char *reason = "";
    rfd_rollout *ro = NULL;
    if (rfd_get_int(r, o, "release", 1, INT64_MAX, &rid) < 0 ||
        rfd_get_bool(r, o, "emergency", &emergency) < 0 || rfd_get_str(r, o, "reason", &reason) < 0)
        goto out;
    if (!rid) {
        rfd_fail(r, 400, "field 'release' is required: the id of an approved release");
        goto out;
    }
    if (emergency && strlen(reason) < 3) {
        rfd_fail(r, 400, "an emergency rollout needs a 'reason'");
        goto out;
    }
    if (strlen(reason) >= sizeof(((rf_store_rollout *)0)->reason)) {
        rfd_fail(r, 400, "field 'reason' is longer than %zu bytes",
                 sizeof(((rf_store_rollout *)0)->reason) - 1);
        goto out;
    }
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(s->store, 1, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        goto out;
    }
    rf_store_release rel;
    rf_rc rc = rf_store_release_get(tx, rid, 0, &rel, &err);
    if (rc == RF_E_NOTFOUND) {
        rf_store_rollback(tx);
        rfd_fail(r, 404, "no release %lld", (long long)rid);
        goto out;
    }
    if (rc) {
        rf_store_rollback(tx);
        rfd_store_fail(r, &err);
        goto out;
    }
    char obj[64];
    if (strcmp(rel.state, "approved") != 0 || strncmp(rel.author, "rollback-of-", 12) == 0) {
        snprintf(obj, sizeof(obj), "release/%lld", (long long)rid);
        json_t *d = json_pack("{s:s}", "state", rel.state);
        rc = rfd_audit(r, tx, "rollout.refused", obj, d, &err);
        json_decref(d);
        if (rc || rf_store_commit(tx, &err) != RF_OK)
            rf_store_rollback(tx);
        rfd_fail(r, 409, "release %lld is %s: only an approved release can be rolled out",
                 (long long)rid, strncmp(rel.author, "rollback-of-", 12) == 0 ? "a rollback version" : rel.state);
        rf_store_release_free(&rel);
        goto out;
    }
    pthread_mutex_lock(&s->ro_mu);
    rfd_rollout *cur = rfd_rollout_of_channel(s, rel.channel);
    int busy = cur && strcmp(cur->row.state, "running") == 0;
    int64_t busy_id = busy ? cur->id : 0;
    pthread_mutex_unlock(&s->ro_mu);
    uint64_t last_good = rfd_current_version(s, rel.channel, NULL);
    if (busy) {
        rf_store_rollback(tx);
        rfd_fail(r, 409, "rollout %lld of channel %u is still running: halt it or let it finish",
                 (long long)busy_id, rel.channel);
        rf_store_release_free(&rel);
        goto out;
    }
    if (last_good >= rel.content_version) {
        rf_store_rollback(tx);
        rfd_fail(r, 409, "channel %u is at version %llu already; version %llu would go back",
                 rel.channel, (unsigned long long)last_good,
                 (unsigned long long)rel.content_version);
        rf_store_release_free(&rel);
        goto out;
    }
    int rb_pub = 1, rel_pub = is_published(s, rel.target, rel.sha256);
    char why[1024] = "";
    if (prepare_rollback(r, tx, &rel, last_good, &rb_pub, why, sizeof(why))) {
        rf_store_rollback(tx);
        rf_store_release_free(&rel);
        goto out;
    }
    if (!rel_pub && s->pub && !is_published(s, rel.target, rel.sha256)) {
        /* Approved while the publisher could not sign; try once more. */
        rf_store_release full;
        if (rf_store_release_get(tx, rid, 1, &full, &err) == RF_OK) {
            (void)publish_release(r, &full, 0, 0, &rel_pub, why, sizeof(why));
            rf_store_release_free(&full);
        }
        if (r->out) {
            rf_store_rollback(tx);
            rf_store_release_free(&rel);
            goto out;
        }
    }
    if (!rel_pub || !rb_pub) {
        /* Keep the prepared rollback version: the retry after signing uses it. */
        rc = rf_store_commit(tx, &err);
        rfd_fail_with(r, 409, json_pack("{s:s}", "signing", why),
                      "release %lld%s is not published in the TUF repository yet: %s",
                      (long long)rid, rb_pub ? "" : " (or its rollback version)", why);
        rf_store_release_free(&rel);
        goto out;
    }
    rf_store_rollout row;
    memset(&row, 0, sizeof(row));
    row.release_id = rid;
    row.channel = rel.channel;
    row.content_version = rel.content_version;
    row.last_good_version = last_good;
    row.emergency = emergency;
    snprintf(row.reason, sizeof(row.reason), "%s", reason);
    snprintf(row.operator_name, sizeof(row.operator_name), "%s", r->auth.name);
    if (RAND_bytes((unsigned char *)&row.seed, sizeof(row.seed)) != 1)
        row.seed = rf_now_ns();
    row.t0 = r->now;
    /* The fleet is every host enrolled so far, through any instance. */
    if (rf_store_backend_of(s->store) == RF_STORE_POSTGRES)
        rfd_hosts_sync_all(s);
    row.fleet_max_host = rfd_hosts_max_id(s);
    snprintf(row.state, sizeof(row.state), "running");
    row.plan = s->plan_text;
    row.updated = r->now;
    rc = rfd_rollout_create(s, tx, &row, &ro, &err);
    row.plan = NULL;
    if (!rc) {
        snprintf(obj, sizeof(obj), "rollout/%lld", (long long)row.id);
        json_t *d = json_pack("{s:I,s:I,s:I,s:I,s:b,s:s,s:I}", "release", (json_int_t)rid,
                              "channel", (json_int_t)rel.channel, "content_version",
                              (json_int_t)rel.content_version, "last_good_version",
                              (json_int_t)last_good, "emergency", emergency, "reason", reason,
                              "fleet_hosts", (json_int_t)row.fleet_max_host);
        rc = rfd_audit(r, tx, "rollout.create", obj, d, &err);
        json_decref(d);
    }
    rf_store_release_free(&rel);
    if (commit_or_fail(r, tx, rc, &err) != 0) {
        rfd_rollout_discard(ro);
        ro = NULL;
        goto out;
    }
    rfd_rollout_install(s, ro);
    if (rf_store_begin(s->store, 0, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        goto out;
    }
    json_t *j = rfd_rollout_json(s, tx, ro, &err);
    rf_store_rollback(tx);
    if (!j)
        rfd_store_fail(r, &err);
    else
        rfd_reply(r, 201, j);
out:
    json_decref(o);
}

void rfd_api_rollouts(rfd_req *r, char **seg, size_t nseg)
{
    rfd_server *s = r->srv;
    if (nseg == 1) {
        if (strcmp(r->method, "POST") == 0) {
            start_rollout(r);
            return;
        }
        if (strcmp(r->method, "GET")) {
            rfd_fail(r, 405, "use GET or POST");
            return;
        }
        rf_store_tx *tx;
        rf_err err;
        if (rf_store_begin(s->store, 0, &tx, &err) != RF_OK) {
            rfd_store_fail(r, &err);
            return;
        }
        const char *state = rfd_query(r, "state");
        if (state && strcmp(state, "running") && strcmp(state, "halted") &&
            strcmp(state, "rolling-back") && strcmp(state, "complete")) {
            rf_store_rollback(tx);
            rfd_fail(r, 400, "query 'state' must be running, halted, rolling-back or complete");
            return;
        }
        rf_store_rollout *rs = NULL;
        size_t n = 0;
        rf_rc rc = rf_store_rollout_list(tx, state, &rs, &n, &err);
        rf_store_rollback(tx);
        if (rc) {
            rfd_store_fail(r, &err);
            return;
        }
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(
                a, json_pack("{s:I,s:I,s:I,s:I,s:s,s:b,s:I}", "id", (json_int_t)rs[i].id,
                             "release", (json_int_t)rs[i].release_id, "channel",
                             (json_int_t)rs[i].channel, "content_version",
                             (json_int_t)rs[i].content_version, "state", rs[i].state,
                             "emergency", rs[i].emergency, "started_at", (json_int_t)rs[i].t0));
            rf_store_rollout_free(&rs[i]);
        }
        free(rs);
        rfd_reply(r, 200, json_pack("{s:o}", "rollouts", a));
        return;
    }
    int64_t id = rfd_parse_id(seg[1]);
    pthread_mutex_lock(&s->ro_mu);
    rfd_rollout *ro = id ? rfd_rollout_by_id(s, id) : NULL;
    pthread_mutex_unlock(&s->ro_mu);
    rf_store_tx *tx;
    rf_err err;
    rfd_rollout *old = NULL;
    if (!ro && id) {
        /* Not the newest of its channel: read it back from its log. */
        rf_rc rc = rfd_rollout_transient(s, id, &old, &err);
        if (rc && rc != RF_E_NOTFOUND) {
            rfd_store_fail(r, &err);
            return;
        }
        ro = old;
    }
    if (!ro) {
        rfd_fail(r, 404, "no rollout '%s'", seg[1]);
        return;
    }
    if (nseg == 2) {
        json_t *j = NULL;
        if (strcmp(r->method, "GET")) {
            rfd_fail(r, 405, "use GET");
        } else if (rf_store_begin(s->store, 0, &tx, &err) != RF_OK) {
            rfd_store_fail(r, &err);
        } else {
            j = rfd_rollout_json(s, tx, ro, &err);
            rf_store_rollback(tx);
            if (!j)
                rfd_store_fail(r, &err);
            else
                rfd_reply(r, 200, j);
        }
        rfd_rollout_discard(old);
        return;
    }
    if (old) {
        rfd_rollout_discard(old);
        rfd_fail(r, strcmp(r->method, "POST") ? 405 : 409,
                 "rollout %lld is not the newest of its channel: nothing can change it now",
                 (long long)id);
        return;
    }
    if (nseg != 3) {
        rfd_fail(r, 404, "no such endpoint: %s", r->url);
        return;
    }
    rf_operator_op op;
    if (strcmp(seg[2], "halt") == 0)
        op = RF_OP_HALT;
    else if (strcmp(seg[2], "resume") == 0)
        op = RF_OP_RESUME;
    else if (strcmp(seg[2], "rollback") == 0)
        op = RF_OP_ROLLBACK;
    else {
        rfd_fail(r, 404, "no such endpoint: %s", r->url);
        return;
    }
    if (strcmp(r->method, "POST")) {
        rfd_fail(r, 405, "use POST");
        return;
    }
    static const char *const allowed[] = {"reason", NULL};
    json_t *o = NULL;
    const char *reason = "";
    if (r->body.len) {
        o = rfd_body_object(r, allowed);
        if (!o || rfd_get_str(r, o, "reason", &reason) < 0) {
            json_decref(o);
            return;
        }
    }
    if (rf_store_begin(s->store, 1, &tx, &err) != RF_OK) {
        json_decref(o);
        rfd_store_fail(r, &err);
        return;
    }
    rf_decision d;
    rf_rc rc = rfd_rollout_operate(s, tx, ro, op, r->now, &d, &err);
    if (rc == RF_E_USAGE) {
        rf_store_rollback(tx);
        json_decref(o);
        rfd_fail(r, 409, "%s", err.msg);
        return;
    }
    char obj[64], action[32];
    snprintf(obj, sizeof(obj), "rollout/%lld", (long long)ro->id);
    snprintf(action, sizeof(action), "rollout.%s", seg[2]);
    json_t *jd = json_pack("{s:s,s:s}", "reason", reason, "decision", d.reason);
    if (!rc)
        rc = rfd_audit(r, tx, action, obj, jd, &err);
    json_decref(jd);
    json_decref(o);
    int ok = commit_or_fail(r, tx, rc, &err) == 0;
    rfd_rollout_committed(s, ro, ok);
    if (!ok)
        return;
    if (rf_store_begin(s->store, 0, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    json_t *j = rfd_rollout_json(s, tx, ro, &err);
    rf_store_rollback(tx);
    if (!j)
        rfd_store_fail(r, &err);
    else
        rfd_reply(r, 200, j);
}

/* ---- the blast radius on the live fleet --------------------------------------------------- */

void rfd_api_plan(rfd_req *r)
{
    rfd_server *s = r->srv;
    int64_t rid = rfd_parse_id(rfd_query(r, "release"));
    if (!rid) {
        rfd_fail(r, 400, "query 'release' is required: GET /v1/plan?release=ID");
        return;
    }
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(s->store, 0, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    rf_store_rollout row;
    memset(&row, 0, sizeof(row));
    rf_store_release rel;
    rf_rc rc = rf_store_release_get(tx, rid, 0, &rel, &err);
    if (rc == RF_E_NOTFOUND) {
        rf_store_rollback(tx);
        rfd_fail(r, 404, "no release %lld", (long long)rid);
        return;
    }
    if (rc) {
        rf_store_rollback(tx);
        rfd_store_fail(r, &err);
        return;
    }
    row.release_id = rid;
    row.channel = rel.channel;
    row.content_version = rel.content_version;
    row.last_good_version = rfd_current_version(s, rel.channel, NULL);
    row.t0 = 0;
    row.seed = 1;
    if (rf_store_backend_of(s->store) == RF_STORE_POSTGRES)
        rfd_hosts_sync_all(s);
    row.fleet_max_host = rfd_hosts_max_id(s);
    row.plan = s->plan_text;
    char *json = NULL;
    rc = rfd_blast_of(s, tx, &row, rel.template_type, &json, &err);
    rf_store_rollback(tx);
    rf_store_release_free(&rel);
    if (rc) {
        rfd_fail(r, 500, "computing the blast radius failed: %s", err.msg);
        return;
    }
    r->status = 200;
    r->out = json;
    r->out_len = strlen(json);
    r->ctype = "application/json";
}

/* ---- audit -------------------------------------------------------------------------------- */

void rfd_api_audit(rfd_req *r)
{
    int64_t after = 0, limit = 1000;
    const char *a = rfd_query(r, "after"), *l = rfd_query(r, "limit");
    if (a && rf_parse_i64(a, 0, INT64_MAX, &after) != RF_OK) {
        rfd_fail(r, 400, "query 'after' must be a sequence number (0 or more)");
        return;
    }
    if (l && rf_parse_i64(l, 1, 10000, &limit) != RF_OK) {
        rfd_fail(r, 400, "query 'limit' must be 1..10000");
        return;
    }
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(r->srv->store, 0, &tx, &err) != RF_OK) {
        rfd_store_fail(r, &err);
        return;
    }
    rf_store_audit *e = NULL;
    size_t n = 0;
    rf_rc rc = rf_store_audit_read(tx, after, (size_t)limit, &e, &n, &err);
    rf_store_rollback(tx);
    if (rc) {
        rfd_store_fail(r, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_error_t je;
        json_t *d = json_loads(e[i].detail ? e[i].detail : "{}", 0, &je);
        json_array_append_new(
            arr, json_pack("{s:I,s:I,s:s,s:s,s:s,s:o,s:s,s:s}", "seq", (json_int_t)e[i].seq, "t",
                           (json_int_t)e[i].t, "actor", e[i].actor, "action", e[i].action,
                           "object", e[i].object, "detail", d ? d : json_string(e[i].detail),
                           "prev", e[i].prev, "hash", e[i].hash));
    }
    int64_t next = n ? e[n - 1].seq : after;
    rf_store_audit_free_array(e, n);
    rfd_reply(r, 200, json_pack("{s:o,s:I}", "entries", arr, "next", (json_int_t)next));
}
