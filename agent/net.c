/*
 * net.c — the agent's requests to ringfenced (enroll, check-in) with libcurl.
 * TLS is verified against the CA pinned at enrollment; no proxy from the
 * environment, no redirects, bounded answers and a time limit on every
 * request, so a hostile or broken server can delay the agent's check-ins but
 * never hang it or make it hold unbounded memory. Content itself never comes
 * this way: it comes through lib/tuf (run.c).
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "agent.h"

#define RESP_MAX (1024u * 1024u)

typedef struct sink {
    rf_buf *b;
    int too_big;
} sink;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    sink *s = ud;
    size_t len = sz * n;
    if (s->b->len + len > RESP_MAX) {
        s->too_big = 1;
        return 0; /* aborts the transfer */
    }
    rf_buf_append(s->b, p, len);
    return s->b->oom ? 0 : len;
}

rf_rc agent_http_json(const char *url, const char *ca_file, const char *bearer,
                      const char *body, uint64_t timeout_ms, long *status, rf_buf *resp,
                      rf_err *err)
{
    CURL *h = curl_easy_init();
    if (!h)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "cannot create a libcurl handle");
    char auth[600];
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (bearer) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        struct curl_slist *h2 = hdrs ? curl_slist_append(hdrs, auth) : NULL;
        if (!h2) {
            curl_slist_free_all(hdrs);
            hdrs = NULL;
        } else {
            hdrs = h2;
        }
    }
    if (!hdrs) {
        curl_easy_cleanup(h);
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    sink s = {.b = resp, .too_big = 0};
    CURLcode cc = CURLE_OK;
#define SETOPT(opt, val)                         \
    do {                                         \
        if (cc == CURLE_OK)                      \
            cc = curl_easy_setopt(h, opt, val);  \
    } while (0)
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PROXY, "");
    SETOPT(CURLOPT_HTTPHEADER, hdrs);
    SETOPT(CURLOPT_USERAGENT, "ringfence-agent/" RF_VERSION_STRING);
    SETOPT(CURLOPT_ERRORBUFFER, ebuf);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, &s);
    SETOPT(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    if (ca_file)
        SETOPT(CURLOPT_CAINFO, ca_file);
    if (body) {
        SETOPT(CURLOPT_POSTFIELDS, body);
        SETOPT(CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
#undef SETOPT
    rf_rc rc = RF_OK;
    if (cc == CURLE_OK)
        cc = curl_easy_perform(h);
    if (s.too_big) {
        rc = rf_err_set(err, RF_E_NETWORK, NULL, 0, 0, "%s: answer larger than %u bytes", url,
                        RESP_MAX);
    } else if (resp->oom) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    } else if (cc != CURLE_OK) {
        rc = rf_err_set(err, RF_E_NETWORK, NULL, 0, 0, "%s: %s", url,
                        ebuf[0] ? ebuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        rf_buf_append(resp, "", 1); /* NUL-terminate for the JSON parser ... */
        resp->len--;                /* ... without counting it */
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc;
}

uint64_t agent_backoff_ms(uint32_t failures, uint64_t base_ms, uint64_t cap_ms, rf_rng *rng)
{
    uint64_t w = base_ms;
    for (uint32_t i = 0; i < failures && w < cap_ms; i++)
        w *= 2;
    if (w > cap_ms)
        w = cap_ms;
    uint64_t lo = base_ms / 2;
    if (w <= lo)
        return lo;
    /* Full jitter: a fleet that lost its server together must not come
     * back in lockstep. */
    return lo + (uint64_t)(rf_rng_unit(rng) * (double)(w - lo));
}
