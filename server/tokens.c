/*
 * tokens.c — bearer tokens: issued as "rf_" + 64 hex digits of 32 random
 * bytes, stored only as their SHA-256, and looked up through an in-memory
 * cache so that a check-in costs no database read: every valid token is
 * loaded at start, a new one is added when its transaction commits. The
 * cache is keyed by the hash; the final comparison is CRYPTO_memcmp, in
 * constant time. Unknown tokens are not cached (a flood of bad tokens costs
 * one indexed read each, and never fills memory). A revocation takes effect
 * at once on the instance that made it and within RFD_TOKEN_RECHECK_S on
 * the others, which read a cached token from the store again after that.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

struct rfd_tok_ent {
    uint8_t hash[32];
    int used;
    int64_t checked; /* when the store last said it is valid */
    rfd_auth a;
};

/* A cached token is read from the store again after this long, so that a
 * revocation made through another instance takes effect here too. */
#define RFD_TOKEN_RECHECK_S 300

static uint64_t slot_of(const uint8_t h[32])
{
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

/* Insert under tok_mu. Grows at half full. */
static void cache_put(rfd_server *s, const uint8_t h[32], const rfd_auth *a, int64_t now)
{
    if ((s->tok_n + 1) * 2 > s->tok_cap) {
        size_t ncap = s->tok_cap ? s->tok_cap * 2 : 1024;
        struct rfd_tok_ent *n = calloc(ncap, sizeof(*n));
        if (!n)
            return; /* the cache is an optimisation: the store still answers */
        for (size_t i = 0; i < s->tok_cap; i++) {
            if (!s->tok[i].used)
                continue;
            size_t j = slot_of(s->tok[i].hash) & (ncap - 1);
            while (n[j].used)
                j = (j + 1) & (ncap - 1);
            n[j] = s->tok[i];
        }
        free(s->tok);
        s->tok = n;
        s->tok_cap = ncap;
    }
    size_t j = slot_of(h) & (s->tok_cap - 1);
    while (s->tok[j].used) {
        if (CRYPTO_memcmp(s->tok[j].hash, h, 32) == 0) {
            s->tok[j].a = *a;
            s->tok[j].checked = now;
            return;
        }
        j = (j + 1) & (s->tok_cap - 1);
    }
    memcpy(s->tok[j].hash, h, 32);
    s->tok[j].a = *a;
    s->tok[j].checked = now;
    s->tok[j].used = 1;
    s->tok_n++;
}

static int cache_get(rfd_server *s, const uint8_t h[32], int64_t now, rfd_auth *out)
{
    if (!s->tok_cap)
        return 0;
    size_t j = slot_of(h) & (s->tok_cap - 1);
    while (s->tok[j].used) {
        if (CRYPTO_memcmp(s->tok[j].hash, h, 32) == 0) {
            if (now - s->tok[j].checked > RFD_TOKEN_RECHECK_S)
                return 0; /* ask the store again */
            *out = s->tok[j].a;
            return 1;
        }
        j = (j + 1) & (s->tok_cap - 1);
    }
    return 0;
}

static void auth_of(const rf_store_token *t, rfd_auth *a)
{
    memset(a, 0, sizeof(*a));
    a->token_id = t->id;
    a->role = rfd_role_bit(t->role);
    snprintf(a->name, sizeof(a->name), "%s", t->name);
    a->tenant_id = t->tenant_id;
    a->host_id = t->host_id;
}

rf_rc rfd_token_issue(rfd_server *s, rf_store_tx *tx, const char *role, const char *name,
                      int64_t tenant_id, int64_t host_id, int64_t now, char token[68],
                      int64_t *id, rf_err *err)
{
    uint8_t raw[32];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "no random bytes for a token");
    char hex[65];
    rf_hex(raw, sizeof(raw), hex);
    snprintf(token, 68, "rf_%s", hex);
    rf_store_token t;
    memset(&t, 0, sizeof(t));
    rf_sha256(token, strlen(token), t.hash);
    snprintf(t.role, sizeof(t.role), "%s", role);
    snprintf(t.name, sizeof(t.name), "%s", name ? name : "");
    t.tenant_id = tenant_id;
    t.host_id = host_id;
    t.created = now;
    rf_rc rc = rf_store_token_create(tx, &t, id, err);
    OPENSSL_cleanse(raw, sizeof(raw));
    /* Cached only once the caller's transaction commits (rfd_token_remember). */
    (void)s;
    return rc;
}

void rfd_token_remember(rfd_server *s, const char *token, const rfd_auth *a)
{
    uint8_t h[32];
    rf_sha256(token, strlen(token), h);
    pthread_mutex_lock(&s->tok_mu);
    cache_put(s, h, a, (int64_t)time(NULL));
    pthread_mutex_unlock(&s->tok_mu);
}

void rfd_token_forget(rfd_server *s, int64_t id)
{
    pthread_mutex_lock(&s->tok_mu);
    for (size_t i = 0; i < s->tok_cap; i++)
        if (s->tok[i].used && s->tok[i].a.token_id == id)
            s->tok[i].a.role = 0; /* kept as a tombstone: revoked */
    pthread_mutex_unlock(&s->tok_mu);
}

rf_rc rfd_tokens_load(rfd_server *s, rf_err *err)
{
    rf_store_tx *tx;
    rf_rc rc = rf_store_begin(s->store, 0, &tx, err);
    if (rc)
        return rc;
    rf_store_token *ts = NULL;
    size_t n = 0;
    rc = rf_store_token_list(tx, -1, &ts, &n, err);
    rf_store_rollback(tx);
    if (rc)
        return rc;
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&s->tok_mu);
    for (size_t i = 0; i < n; i++) {
        if (ts[i].revoked)
            continue;
        rfd_auth a;
        auth_of(&ts[i], &a);
        if (a.role)
            cache_put(s, ts[i].hash, &a, now);
    }
    pthread_mutex_unlock(&s->tok_mu);
    free(ts);
    return RF_OK;
}

int rfd_token_auth(rfd_server *s, const char *bearer, rfd_auth *out)
{
    size_t n = strlen(bearer);
    if (n != 67 || strncmp(bearer, "rf_", 3) != 0)
        return 0;
    uint8_t h[32];
    rf_sha256(bearer, n, h);
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&s->tok_mu);
    int hit = cache_get(s, h, now, out);
    pthread_mutex_unlock(&s->tok_mu);
    if (hit)
        return out->role != 0;
    rf_store_tx *tx;
    rf_store_token t;
    if (rf_store_begin(s->store, 0, &tx, NULL) != RF_OK)
        return 0;
    rf_rc rc = rf_store_token_by_hash(tx, h, &t, NULL);
    rf_store_rollback(tx);
    if (rc != RF_OK || t.revoked)
        return 0;
    auth_of(&t, out);
    if (!out->role)
        return 0;
    pthread_mutex_lock(&s->tok_mu);
    cache_put(s, h, out, now);
    pthread_mutex_unlock(&s->tok_mu);
    return 1;
}

void rfd_token_cache_free(rfd_server *s)
{
    free(s->tok);
    s->tok = NULL;
    s->tok_cap = s->tok_n = 0;
}
