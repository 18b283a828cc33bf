/*
 * http.c — ringfenced's HTTP layer over libmicrohttpd: the daemon (epoll,
 * a thread pool, optional TLS), request bodies collected under a size limit,
 * bearer-token authentication, the routing table (which roles may call what)
 * and the JSON helpers every handler answers with. Handlers live in api.c
 * and checkin.c; this file knows nothing of what they do.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

/* Connections served at once, and the memory each may use for its headers
 * and read buffer (bodies are collected outside it, under --max-body): a
 * check-in is ~300 bytes, so 64 KiB is ample, and 4,096 x 64 KiB bounds the
 * pool at 256 MiB. */
#define RFD_MAX_CONNECTIONS 4096
#define RFD_CONNECTION_MEMORY (64 * 1024)

static struct MHD_Daemon *g_daemon;
/* The TLS certificate and key, kept until the daemon stops. */
static uint8_t *g_cert, *g_key;

static void vlog(const char *fmt, va_list ap)
{
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fprintf(stderr, "ringfenced: %s %s\n", ts, msg);
}

void rfd_log(rfd_server *s, const char *fmt, ...)
{
    if (s && s->cfg.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void rfd_warn(rfd_server *s, const char *fmt, ...)
{
    (void)s;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

/* ---- roles ---------------------------------------------------------------------- */

static const struct {
    unsigned bit;
    const char *name;
} roles[] = {
    {RFD_ADMIN, "admin"},       {RFD_AUTHOR, "author"}, {RFD_APPROVER, "approver"},
    {RFD_OPERATOR, "operator"}, {RFD_TENANT_ADMIN, "tenant-admin"},
    {RFD_ENROLL, "enroll"},     {RFD_AGENT, "agent"},
};

unsigned rfd_role_bit(const char *name)
{
    for (size_t i = 0; name && i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(roles[i].name, name) == 0)
            return roles[i].bit;
    return 0;
}

const char *rfd_role_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (roles[i].bit == bit)
            return roles[i].name;
    return "none";
}

void rfd_actor(const rfd_auth *a, char *buf, size_t n)
{
    if (!a->role)
        snprintf(buf, n, "anonymous");
    else
        snprintf(buf, n, "token:%lld %s %s", (long long)a->token_id, rfd_role_name(a->role),
                 a->name);
}

/* ---- answers ---------------------------------------------------------------------- */

void rfd_reply(rfd_req *r, unsigned status, json_t *v)
{
    free(r->out);
    r->out = NULL;
    r->status = status;
    r->ctype = "application/json";
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!s) {
        r->status = 500;
        s = rf_strdup("{\"error\":\"out of memory\"}");
    }
    r->out = s;
    r->out_len = s ? strlen(s) : 0;
}

static void vfail(rfd_req *r, unsigned status, json_t *extra, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    json_t *o = extra && json_is_object(extra) ? extra : json_object();
    if (extra && o != extra)
        json_decref(extra);
    json_object_set_new(o, "error", json_string(msg));
    rfd_reply(r, status, o);
}

void rfd_fail(rfd_req *r, unsigned status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r, status, NULL, fmt, ap);
    va_end(ap);
}

void rfd_fail_with(rfd_req *r, unsigned status, json_t *extra, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r, status, extra, fmt, ap);
    va_end(ap);
}

void rfd_store_fail(rfd_req *r, const rf_err *err)
{
    char buf[RF_ERR_MSG_MAX + 64];
    rf_err_format(err, buf, sizeof(buf));
    rfd_warn(r->srv, "%s %s: store: %s", r->method, r->url, buf);
    /* The detail (which may name the database host) goes to the log only. */
    if (err->rc == RF_E_NOMEM)
        rfd_fail(r, 503, "out of memory; try again");
    else
        rfd_fail(r, 503, "the database is unavailable; nothing was changed (the server's log "
                         "has the detail)");
}

/* ---- request bodies -------------------------------------------------------------------- */

json_t *rfd_body_object(rfd_req *r, const char *const *allowed)
{
    if (r->body.len == 0) {
        rfd_fail(r, 400, "the request needs a JSON object as its body");
        return NULL;
    }
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    /* application/json, optionally with parameters ("; charset=utf-8"). */
    int json_ct = !ct;
    if (ct && strncasecmp(ct, "application/json", 16) == 0) {
        const char *rest = ct + 16;
        while (*rest == ' ')
            rest++;
        json_ct = *rest == '\0' || *rest == ';';
    }
    if (!json_ct) {
        rfd_fail(r, 415, "Content-Type is '%s'; send application/json", ct);
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb((const char *)r->body.data, r->body.len,
                           JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        rfd_fail(r, 400, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        rfd_fail(r, 400, "the body must be a JSON object");
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed && allowed[i]; i++)
            ok |= strcmp(allowed[i], k) == 0;
        if (!ok) {
            rfd_fail(r, 400, "unknown field '%s'", k);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int rfd_get_str(rfd_req *r, json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        rfd_fail(r, 400, "field '%s' must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

int rfd_get_int(rfd_req *r, json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v)) {
        rfd_fail(r, 400, "field '%s' must be an integer", key);
        return -1;
    }
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi) {
        rfd_fail(r, 400, "field '%s' is %lld; allowed: %lld..%lld", key, (long long)x,
                 (long long)lo, (long long)hi);
        return -1;
    }
    *out = x;
    return 1;
}

int rfd_get_bool(rfd_req *r, json_t *o, const char *key, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        rfd_fail(r, 400, "field '%s' must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

const char *rfd_query(rfd_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

int64_t rfd_parse_id(const char *s)
{
    int64_t v;
    if (!s || !*s || s[0] == '0' || rf_parse_i64(s, 1, INT64_MAX, &v) != RF_OK)
        return 0;
    return v;
}

rf_rc rfd_audit(rfd_req *r, rf_store_tx *tx, const char *action, const char *object,
                json_t *detail, rf_err *err)
{
    char actor[160];
    rfd_actor(&r->auth, actor, sizeof(actor));
    char *d = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    rf_rc rc = rf_store_audit_append(tx, r->now, actor, action, object, d ? d : "{}", NULL, err);
    free(d);
    return rc;
}

/* ---- static TUF files ---------------------------------------------------------------- */

/* /tuf/<relative path>: only [A-Za-z0-9._%-/] and no "." or ".." parts. */
static void serve_tuf(rfd_req *r, const char *rel)
{
    const char *dir = r->srv->pub ? rfd_publisher_public_dir(r->srv->pub) : NULL;
    if (!dir) {
        rfd_fail(r, 404, "this server publishes no TUF repository (--repo)");
        return;
    }
    if (!*rel || strlen(rel) > 1024) {
        rfd_fail(r, 404, "no such file");
        return;
    }
    for (const char *p = rel; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-' || c == '/' || c == '%' || c == '+';
        if (!ok) {
            rfd_fail(r, 404, "no such file");
            return;
        }
    }
    /* Reject empty, "." and ".." parts. */
    const char *p = rel;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
            rfd_fail(r, 404, "no such file");
            return;
        }
        p += n + (e ? 1 : 0);
    }
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b, "%s/%s", dir, rel);
    r->file_path = rf_buf_take(&b);
    r->status = 200;
}

/* ---- routing ------------------------------------------------------------------------ */

/* Split the path after "/v1/" into at most 8 segments (in place copy). */
static size_t split(char *path, char **seg, size_t max)
{
    size_t n = 0;
    char *p = path;
    while (*p && n < max) {
        char *e = strchr(p, '/');
        if (e)
            *e = '\0';
        seg[n++] = p;
        if (!e)
            break;
        p = e + 1;
    }
    return n;
}

/* Which roles may reach each resource at all (the handlers check methods,
 * tenants and finer rules). Checked before the handler runs so that 401 and
 * 403 never depend on whether an object exists. */
static unsigned roles_for(const char *method, char **seg, size_t n)
{
    const char *r0 = n > 0 ? seg[0] : "";
    int get = strcmp(method, "GET") == 0;
    if (strcmp(r0, "enroll") == 0)
        return RFD_ENROLL;
    if (strcmp(r0, "checkin") == 0)
        return RFD_AGENT;
    if (strcmp(r0, "audit") == 0)
        return RFD_ADMIN;
    if (strcmp(r0, "tokens") == 0)
        return RFD_ADMIN;
    if (strcmp(r0, "plan") == 0)
        return RFD_ADMIN | RFD_OPERATOR;
    if (strcmp(r0, "tenants") == 0) {
        if (n <= 1)
            return RFD_ADMIN | (get ? RFD_OPERATOR : 0);
        if (n >= 3 && strcmp(seg[2], "policies") == 0)
            return get ? (RFD_ADMIN | RFD_OPERATOR | RFD_TENANT_ADMIN) : RFD_VENDOR | RFD_TENANT_ADMIN;
        if (n >= 3 && strcmp(seg[2], "tokens") == 0)
            return RFD_ADMIN | RFD_TENANT_ADMIN;
        return RFD_ADMIN | RFD_OPERATOR | RFD_TENANT_ADMIN;
    }
    if (strcmp(r0, "releases") == 0) {
        if (get)
            return RFD_VENDOR;
        if (n >= 3 && strcmp(seg[2], "approve") == 0)
            return RFD_APPROVER;
        return RFD_AUTHOR;
    }
    if (strcmp(r0, "rollouts") == 0)
        return get ? RFD_VENDOR : RFD_OPERATOR;
    return RFD_VENDOR | RFD_TENANT_ADMIN | RFD_ENROLL | RFD_AGENT;
}

static void dispatch(rfd_req *r)
{
    rfd_server *s = r->srv;
    const char *url = r->url;
    if (strcmp(url, "/healthz") == 0) {
        if (strcmp(r->method, "GET")) {
            rfd_fail(r, 405, "use GET");
            return;
        }
        /* Healthy means the database answers too. */
        rf_store_tx *tx;
        rf_store_tenant t;
        int db = rf_store_begin(s->store, 0, &tx, NULL) == RF_OK;
        if (db) {
            db = rf_store_tenant_get(tx, "healthz", &t, NULL) != RF_E_IO;
            rf_store_rollback(tx);
        }
        json_t *o = json_pack("{s:b,s:b,s:b,s:i,s:s}", "ok", db, "database", db, "leader",
                              atomic_load(&s->leader), "schema",
                              (json_int_t)rf_store_schema_version(s->store), "version",
                              RF_VERSION_STRING);
        rfd_reply(r, db ? 200 : 503, o);
        return;
    }
    if (strcmp(url, "/metrics") == 0) {
        if (strcmp(r->method, "GET")) {
            rfd_fail(r, 405, "use GET");
            return;
        }
        char *t = rfd_metrics_text(s);
        if (!t) {
            rfd_fail(r, 503, "out of memory");
            return;
        }
        r->status = 200;
        r->out = t;
        r->out_len = strlen(t);
        r->ctype = "text/plain; version=0.0.4";
        return;
    }
    if (strncmp(url, "/tuf/", 5) == 0) {
        if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD")) {
            rfd_fail(r, 405, "use GET");
            return;
        }
        serve_tuf(r, url + 5);
        return;
    }
    if (strncmp(url, "/v1/", 4) != 0) {
        rfd_fail(r, 404, "no such endpoint: %s", url);
        return;
    }
    char path[512];
    if (strlen(url + 4) >= sizeof(path)) {
        rfd_fail(r, 404, "no such endpoint");
        return;
    }
    snprintf(path, sizeof(path), "%s", url + 4);
    char *seg[8];
    size_t n = split(path, seg, 8);
    if (n == 0 || n >= 8) {
        rfd_fail(r, 404, "no such endpoint: %s", url);
        return;
    }

    /* Authentication first: unknown or missing token is 401 everywhere. */
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        rfd_fail(r, 401, "missing bearer token (Authorization: Bearer TOKEN)");
        return;
    }
    int known = rfd_token_auth(s, h + 7, &r->auth);
    if (known < 0) {
        /* Never 401 for this: an agent told "unknown token" would enroll again. */
        rfd_fail(r, 503, "the database is unavailable and this token is not known here yet; "
                         "try again later");
        return;
    }
    if (!known) {
        rfd_fail(r, 401, "unknown or revoked token");
        return;
    }
    unsigned allowed = roles_for(r->method, seg, n);
    if (!(allowed & r->auth.role)) {
        const char *rn = rfd_role_name(r->auth.role);
        rfd_fail(r, 403, "%s %s token may not %s %s", strchr("aeiou", rn[0]) ? "an" : "a", rn,
                 r->method, r->url);
        return;
    }
    if (strcmp(seg[0], "checkin") == 0 && n == 1) {
        if (strcmp(r->method, "POST")) {
            rfd_fail(r, 405, "use POST");
            return;
        }
        rfd_api_checkin(r);
    } else if (strcmp(seg[0], "enroll") == 0 && n == 1) {
        if (strcmp(r->method, "POST")) {
            rfd_fail(r, 405, "use POST");
            return;
        }
        rfd_api_enroll(r);
    } else if (strcmp(seg[0], "tenants") == 0) {
        rfd_api_tenants(r, seg, n);
    } else if (strcmp(seg[0], "tokens") == 0) {
        rfd_api_tokens(r, seg, n);
    } else if (strcmp(seg[0], "releases") == 0) {
        rfd_api_releases(r, seg, n);
    } else if (strcmp(seg[0], "rollouts") == 0) {
        rfd_api_rollouts(r, seg, n);
    } else if (strcmp(seg[0], "plan") == 0 && n == 1) {
        if (strcmp(r->method, "GET")) {
            rfd_fail(r, 405, "use GET");
            return;
        }
        rfd_api_plan(r);
    } else if (strcmp(seg[0], "audit") == 0 && n == 1) {
        if (strcmp(r->method, "GET")) {
            rfd_fail(r, 405, "use GET");
            return;
        }
        rfd_api_audit(r);
    } else {
        rfd_fail(r, 404, "no such endpoint: %s", url);
    }
}

/* ---- libmicrohttpd callbacks ----------------------------------------------------------- */

static size_t body_limit(rfd_server *s, const char *url, const char *method)
{
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/releases") == 0)
        return s->cfg.max_release_body;
    return s->cfg.max_body;
}

static enum MHD_Result send_answer(rfd_req *r)
{
    struct MHD_Response *resp = NULL;
    if (r->file_path) {
        int fd = open(r->file_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            if (fd >= 0)
                close(fd);
            free(r->file_path);
            r->file_path = NULL;
            rfd_fail(r, 404, "no such file");
        } else {
            resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
            if (!resp)
                close(fd);
            r->ctype = "application/octet-stream";
            if (strlen(r->file_path) > 5 &&
                strcmp(r->file_path + strlen(r->file_path) - 5, ".json") == 0)
                r->ctype = "application/json";
        }
    }
    if (!resp) {
        if (!r->out) {
            r->status = r->status ? r->status : 500;
            r->out = rf_strdup("{}");
            r->out_len = 2;
        }
        resp = MHD_create_response_from_buffer(r->out_len, r->out, MHD_RESPMEM_MUST_FREE);
        if (resp)
            r->out = NULL;
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->ctype ? r->ctype : "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    rfd_server *s = cls;
    rfd_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->srv = s;
        r->conn = conn;
        r->method = method;
        r->url = url;
        r->t0_ns = rf_now_ns();
        rf_buf_init(&r->body);
        r->limit = body_limit(s, url, method);
        *con_cls = r;
        /* A declared length over the limit is refused before any byte is read. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        uint64_t len;
        if (cl && rf_parse_u64(cl, UINT64_MAX, &len) == RF_OK && len > r->limit) {
            r->too_large = 1;
            rfd_fail(r, 413, "the body is %llu bytes; the limit for %s %s is %zu",
                     (unsigned long long)len, method, url, r->limit);
            return send_answer(r);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!r->too_large && r->body.len + *upload_size > r->limit) {
            r->too_large = 1;
            rf_buf_free(&r->body);
            rf_buf_init(&r->body);
        }
        if (!r->too_large)
            rf_buf_append(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_large && !r->out) {
        rfd_fail(r, 413, "the body is larger than the limit for %s %s (%zu bytes)", method, url,
                 r->limit);
        return send_answer(r);
    }
    if (r->too_large)
        return MHD_YES; /* answered already */
    r->now = (int64_t)time(NULL);
    if (r->body.data == NULL)
        rf_buf_append(&r->body, "", 0);
    dispatch(r);
    return send_answer(r);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    rfd_server *s = cls;
    rfd_req *r = *con_cls;
    if (!r)
        return;
    uint64_t us = (rf_now_ns() - r->t0_ns) / 1000;
    rfd_metrics_observe(s, r->status, us);
    rf_buf_free(&r->body);
    free(r->out);
    free(r->file_path);
    free(r);
    *con_cls = NULL;
}

/*
 * Percent-decoding of the path and query, in place. A decoded NUL would cut
 * the C string short ("acme%00x" read as "acme"), so it becomes 0x01, a
 * byte no name, id or file name accepts: such a request is refused, never
 * taken for a shorter one.
 */
static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval((unsigned char)r[1])) >= 0 &&
            (lo = hexval((unsigned char)r[2])) >= 0) {
            char v = (char)(hi * 16 + lo);
            *w++ = v ? v : '\x01';
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    rfd_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    rfd_warn(s, "http: %s", msg);
}

static int loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        return IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    return 0;
}

/* "HOST:PORT" or "[V6]:PORT" into a socket address. */
static rf_rc parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
                          rf_err *err)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || strlen(spec) >= sizeof(host))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "--listen '%s' is not HOST:PORT (e.g. 127.0.0.1:8443)", spec);
    size_t hl = (size_t)(colon - spec);
    memcpy(host, spec, hl);
    host[hl] = '\0';
    int64_t port;
    if (rf_parse_i64(colon + 1, 1, 65535, &port) != RF_OK)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "--listen '%s': port must be 1..65535",
                          spec);
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "--listen '%s': bad IPv6 address",
                              spec);
        *len = sizeof(*a);
        return RF_OK;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "--listen '%s': '%s' is not an IPv4 address", spec, host);
    *len = sizeof(*a);
    return RF_OK;
}

rf_rc rfd_http_start(rfd_server *s, rf_err *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    rf_rc rc = parse_listen(s->cfg.listen, &ss, &sl, err);
    if (rc)
        return rc;
    int tls = s->cfg.tls_cert && s->cfg.tls_key;
    if (!tls && !loopback(&ss) && !s->cfg.insecure_listen)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "refusing plain HTTP on %s, which is not a loopback address: give "
                          "--tls-cert and --tls-key, or --insecure-listen",
                          s->cfg.listen);
    uint8_t *cert = NULL, *key = NULL;
    size_t cl = 0, kl = 0;
    if (tls) {
        rc = rf_file_read(s->cfg.tls_cert, 1u << 20, &cert, &cl, err);
        if (!rc)
            rc = rf_file_read(s->cfg.tls_key, 1u << 20, &key, &kl, err);
        if (rc) {
            free(cert);
            return rc;
        }
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_USE_TURBO;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    unsigned threads = s->cfg.threads ? s->cfg.threads : 2;
    struct MHD_OptionItem ops[16];
    size_t no = 0;
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, s};
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape, NULL};
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, threads, NULL};
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, RFD_MAX_CONNECTIONS, NULL};
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL};
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                        RFD_CONNECTION_MEMORY, NULL};
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_done, s};
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096, NULL};
    if (tls) {
        ops[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
        ops[no++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
    }
    ops[no++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    (void)sl;
    g_daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, ops,
                                MHD_OPTION_END);
    g_cert = cert;
    g_key = key;
    if (!g_daemon)
        return rf_err_set(err, RF_E_IO, NULL, 0, 0,
                          "cannot listen on %s: %s (in use, or not an address of this host%s)",
                          s->cfg.listen, strerror(errno), tls ? ", or a bad certificate/key" : "");
    return RF_OK;
}

void rfd_http_stop(rfd_server *s)
{
    (void)s;
    if (g_daemon)
        MHD_stop_daemon(g_daemon);
    g_daemon = NULL;
    free(g_cert);
    free(g_key);
    g_cert = g_key = NULL;
}
