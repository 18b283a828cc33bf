/*
 * fetch.c — rf_tuf_fetch_http: one bounded HTTP(S) GET on libcurl, the only
 * place where the TUF client touches the network. Everything a server sends
 * is hostile, so the body is capped at max_len bytes whatever Content-Length
 * says (a larger announced length is refused before any body byte is read),
 * the response headers are capped too, every request has a time limit when
 * the caller gives one, nothing is decompressed (the cap is on the bytes we
 * keep, and those are the bytes the metadata's lengths and hashes cover),
 * redirects are not followed, and only http and https are spoken. On any
 * failure the caller's buffer is left exactly as it was at entry.
 *
 * Content-Length lies: a larger length than the limit is refused at once
 * (RF_E_LIMIT); a body shorter than its length is RF_E_NETWORK (libcurl's
 * "partial file"); a length shorter than what the server sends ends the
 * body at that length and the excess is discarded, so the result is RF_OK
 * with the announced bytes, never more (the hashes decide what they are
 * worth). Any 2xx status is success; 403 and 404 are RF_E_NOTFOUND (a
 * missing file, e.g. no newer root); every other status RF_E_NETWORK.
 */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "ringfence/tuf.h"
#include "ringfence/util.h"


/* URLs are quoted in messages up to this many bytes, so the status or
 * curl's reason still fits in rf_err.msg. */
#define FETCH_URL_QUOTE 200

/* ---- libcurl global state -------------------------------------------- */

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    /* CURL_GLOBAL_DEFAULT: SSL included. Never cleaned up: other threads
     * may still be fetching when any one caller is done, and the process
     * exit releases it. */
    g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- one transfer ----------------------------------------------------- */

typedef struct fetch_state {
    CURL *h;
    rf_buf *out;
    size_t max_len;
    size_t got;        /* body bytes appended by this call */
    size_t hdr_bytes;  /* header bytes seen, all blocks */
    long status;       /* final status once known, else 0 */
    int too_big;       /* body over max_len (announced or received) */
    int hdr_too_big;   /* headers over RF_MAX_HTTP_HEADER_BYTES */
    int bad_status;    /* status was not 2xx; transfer stopped */
    int oom;           /* an append to out failed */
    curl_off_t announced; /* Content-Length of a 2xx response, -1 if none */
} fetch_state;

static int status_ok(long code)
{
    return code >= 200 && code <= 299;
}

/*
 * Look at the status once a header block is complete (or body bytes arrive
 * without one, as after a 101). Returns 0 to continue, -1 to stop: a
 * non-2xx status or a 2xx whose Content-Length exceeds max_len.
 */
static int check_response(fetch_state *st)
{
    long code = 0;
    if (curl_easy_getinfo(st->h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
        code = 0;
    if (!status_ok(code)) {
        st->status = code;
        st->bad_status = 1;
        return -1;
    }
    st->status = code;
    curl_off_t cl = -1;
    if (curl_easy_getinfo(st->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK)
        cl = -1;
    st->announced = cl;
    if (cl >= 0 && (uint64_t)cl > (uint64_t)st->max_len) {
        st->too_big = 1;
        return -1;
    }
    return 0;
}

/* CURLOPT_HEADERFUNCTION: count header bytes; at the blank line that ends a
 * block, judge the status (interim 1xx blocks are passed over). */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    fetch_state *st = ud;
    size_t len = size * n; /* curl: size is always 1 */
    if (len > RF_MAX_HTTP_HEADER_BYTES - st->hdr_bytes) {
        st->hdr_too_big = 1;
        return 0;
    }
    st->hdr_bytes += len;
    int blank = (len == 2 && p[0] == '\r' && p[1] == '\n') || (len == 1 && p[0] == '\n');
    if (!blank)
        return len;
    long code = 0;
    if (curl_easy_getinfo(st->h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
        code = 0;
    if (code >= 100 && code <= 199 && code != 101)
        return len; /* interim; the real response follows */
    return check_response(st) == 0 ? len : 0;
}

/* CURLOPT_WRITEFUNCTION: append body bytes, never past max_len. */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    fetch_state *st = ud;
    size_t len = size * n;
    if (st->status == 0 && check_response(st) != 0)
        return CURL_WRITEFUNC_ERROR;
    if (len > st->max_len - st->got) {
        st->too_big = 1;
        return CURL_WRITEFUNC_ERROR;
    }
    rf_buf_append(st->out, p, len);
    if (st->out->oom) {
        st->oom = 1;
        return CURL_WRITEFUNC_ERROR;
    }
    st->got += len;
    return len;
}

/* Copy curl's error text (which may quote what a server sent) as printable
 * ASCII only, so it cannot forge log lines or terminal escapes. */
static void sanitize(const char *in, char *outs, size_t n)
{
    size_t i = 0;
    for (; i + 1 < n && in[i]; i++) {
        unsigned char c = (unsigned char)in[i];
        outs[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n)
        outs[i] = '\0';
}

/* http:// or https://, any case. The protocol list set on the handle would
 * refuse the rest too; checking here gives the caller a clear RF_E_USAGE
 * and keeps libcurl from guessing a scheme for a bare host name. */
static int scheme_allowed(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* Clamp a millisecond count to what CURLOPT_*_MS take (long). */
static long ms_to_long(uint64_t ms)
{
    return ms > (uint64_t)LONG_MAX ? LONG_MAX : (long)ms;
}

/*
 * The request timeout: the smaller of lim->request_timeout_ms and the time
 * left to lim->deadline_ns, 0 when neither is set. RF_E_NETWORK when the
 * deadline has already passed.
 */
static rf_rc effective_timeout(const rf_tuf_fetch_limits *lim, const char *url,
                               uint64_t *ms, rf_err *err)
{
    *ms = 0;
    if (!lim)
        return RF_OK;
    uint64_t t = lim->request_timeout_ms;
    if (lim->deadline_ns) {
        uint64_t now = rf_now_ns();
        if (now >= lim->deadline_ns)
            return rf_err_set(err, RF_E_NETWORK, NULL, 0, 0,
                              "GET %.*s: deadline passed before the request was made",
                              FETCH_URL_QUOTE, url);
        uint64_t d = lim->deadline_ns - now;
        uint64_t left = d / 1000000u + (d % 1000000u != 0); /* rounded up, >= 1 */
        if (t == 0 || left < t)
            t = left;
    }
    *ms = t;
    return RF_OK;
}

/* Put back out as it was at entry: length, terminator, oom flag. */
static void restore(rf_buf *out, size_t len0, int oom0)
{
    out->len = len0;
    out->oom = oom0;
    if (out->data && out->cap > len0)
        out->data[len0] = 0;
}

rf_rc rf_tuf_fetch_http(void *ctx, const char *url, size_t max_len,
                        const rf_tuf_fetch_limits *lim, rf_buf *out, rf_err *err)
{
    const rf_tuf_http_opts *ho = ctx;
    if (!url || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "fetch: url and out are required");
    if (strnlen(url, RF_MAX_URL + 1) > RF_MAX_URL)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "fetch: URL longer than %u bytes: %.*s...", RF_MAX_URL,
                          FETCH_URL_QUOTE, url);
    if (!scheme_allowed(url))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "fetch: only http:// and https:// URLs are allowed: %.*s",
                          FETCH_URL_QUOTE, url);
    if (out->oom)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0,
                          "fetch: output buffer already failed an allocation");

    uint64_t tmo_ms = 0;
    rf_rc rc = effective_timeout(lim, url, &tmo_ms, err);
    if (rc != RF_OK)
        return rc;

    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK)
        return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "fetch: libcurl did not initialise: %s",
                          curl_easy_strerror(g_curl_init_rc));

    const size_t len0 = out->len;
    const int oom0 = out->oom;
    fetch_state st = { .out = out, .max_len = max_len, .announced = -1 };
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    struct curl_slist *hdrs = NULL;

    st.h = curl_easy_init();
    if (!st.h) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "fetch: cannot create a libcurl handle");
        goto out;
    }
    /* "identity" asks for the bytes as stored; content decoding stays off,
     * so a server that compresses anyway gives us bytes that fail their
     * hashes rather than a decompression bomb. */
    hdrs = curl_slist_append(NULL, "Accept-Encoding: identity");
    if (!hdrs) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "fetch: out of memory");
        goto out_easy;
    }

    CURLcode cc = CURLE_OK;
#define SETOPT(opt, val)                                 \
    do {                                                 \
        if (cc == CURLE_OK)                              \
            cc = curl_easy_setopt(st.h, opt, val);       \
    } while (0)
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PROXY, ""); /* no proxy, and none from the environment */
    SETOPT(CURLOPT_HTTP09_ALLOWED, 0L);
    SETOPT(CURLOPT_HTTP_CONTENT_DECODING, 0L);
    SETOPT(CURLOPT_HTTP_TRANSFER_DECODING, 1L); /* chunked only */
    SETOPT(CURLOPT_HTTPHEADER, hdrs);
    SETOPT(CURLOPT_USERAGENT, "ringfence/" RF_VERSION_STRING);
    SETOPT(CURLOPT_ERRORBUFFER, errbuf);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, &st);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, &st);
    if (ho && ho->ca_file)
        SETOPT(CURLOPT_CAINFO, ho->ca_file);
    if (tmo_ms) {
        SETOPT(CURLOPT_TIMEOUT_MS, ms_to_long(tmo_ms));
        SETOPT(CURLOPT_CONNECTTIMEOUT_MS, ms_to_long(tmo_ms));
    }
    if (lim && lim->low_speed_bytes && lim->low_speed_secs) {
        SETOPT(CURLOPT_LOW_SPEED_LIMIT, (long)lim->low_speed_bytes);
        SETOPT(CURLOPT_LOW_SPEED_TIME, (long)lim->low_speed_secs);
    }
#undef SETOPT
    if (cc != CURLE_OK) {
        rc = rf_err_set(err, cc == CURLE_OUT_OF_MEMORY ? RF_E_NOMEM : RF_E_INTERNAL, NULL, 0,
                        0, "fetch: libcurl refused an option: %s", curl_easy_strerror(cc));
        goto out_hdrs;
    }

    cc = curl_easy_perform(st.h);

    /* Our own verdicts first: they explain the CURLE_WRITE_ERROR they cause. */
    if (st.too_big) {
        if (st.announced >= 0 && (uint64_t)st.announced > (uint64_t)max_len)
            rc = rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                            "GET %.*s: Content-Length %" CURL_FORMAT_CURL_OFF_T
                            " exceeds the limit of %zu bytes",
                            FETCH_URL_QUOTE, url, st.announced, max_len);
        else
            rc = rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                            "GET %.*s: body exceeds the limit of %zu bytes", FETCH_URL_QUOTE,
                            url, max_len);
        goto out_hdrs;
    }
    if (st.hdr_too_big) {
        rc = rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                        "GET %.*s: response headers exceed %u bytes", FETCH_URL_QUOTE, url,
                        RF_MAX_HTTP_HEADER_BYTES);
        goto out_hdrs;
    }
    if (st.oom) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "GET %.*s: out of memory after %zu bytes",
                        FETCH_URL_QUOTE, url, st.got);
        goto out_hdrs;
    }
    if (cc == CURLE_OK && !st.bad_status) {
        /* Every HTTP response passes on_header, but judge the final status
         * here too rather than trust that. */
        long code = 0;
        if (curl_easy_getinfo(st.h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || !status_ok(code)) {
            st.status = code;
            st.bad_status = 1;
        }
    }
    if (st.bad_status) {
        long code = st.status;
        if (code == 403 || code == 404)
            rc = rf_err_set(err, RF_E_NOTFOUND, NULL, 0, 0, "GET %.*s: HTTP %ld",
                            FETCH_URL_QUOTE, url, code);
        else if (code >= 300 && code <= 399)
            rc = rf_err_set(err, RF_E_NETWORK, NULL, 0, 0,
                            "GET %.*s: HTTP %ld (redirects are not followed)",
                            FETCH_URL_QUOTE, url, code);
        else
            rc = rf_err_set(err, RF_E_NETWORK, NULL, 0, 0, "GET %.*s: HTTP %ld",
                            FETCH_URL_QUOTE, url, code);
        goto out_hdrs;
    }
    if (cc != CURLE_OK) {
        char why[CURL_ERROR_SIZE];
        sanitize(errbuf[0] ? errbuf : curl_easy_strerror(cc), why, sizeof(why));
        rf_rc mapped = RF_E_NETWORK;
        if (cc == CURLE_OUT_OF_MEMORY)
            mapped = RF_E_NOMEM;
        else if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL)
            mapped = RF_E_USAGE;
        rc = rf_err_set(err, mapped, NULL, 0, 0, "GET %.*s: %s", FETCH_URL_QUOTE, url, why);
        goto out_hdrs;
    }
    rc = RF_OK;

out_hdrs:
    curl_slist_free_all(hdrs);
out_easy:
    curl_easy_cleanup(st.h);
out:
    if (rc != RF_OK)
        restore(out, len0, oom0);
    return rc;
}
