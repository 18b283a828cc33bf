/*
 * tokens.c — bearer tokens: issued as "rf_" + 64 hex digits of 32 random
 * bytes, stored only as their SHA-256, and looked up through an in-memory
 * cache so that a check-in costs no database read: every valid token is
 * loaded at start, a new one is added when its transaction commits. The
 * cache is keyed by the hash; the final comparison is CRYPTO_memcmp, in
 * constant time. Unknown tokens are not cached (a flood of bad tokens costs
 * one indexed read each, and never fills memory). A revocation takes effect
 * at once on the instance that made it; the others see it in the audit log,
 * which they follow (rfd_tokens_follow_revocations), within a few seconds.
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
    rfd_auth a;
};

static uint64_t slot_of(const uint8_t h[32])
{
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

/* Insert under tok_mu. Grows at half full. */
static void cache_put(rfd_server *s, const uint8_t h[32], const rfd_auth *a)
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
            return;
        }
        j = (j + 1) & (s->tok_cap - 1);
    }
    memcpy(s->tok[j].hash, h, 32);
    s->tok[j].a = *a;
    s->tok[j].used = 1;
    s->tok_n++;
}

static int cache_get(rfd_server *s, const uint8_t h[32], rfd_auth *out)
{
    if (!s->tok_cap)
        return 0;
    size_t j = slot_of(h) & (s->tok_cap - 1);
    while (s->tok[j].used) {
        if (CRYPTO_memcmp(s->tok[j].hash, h, 32) == 0) {
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
    cache_put(s, h, a);
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
    pthread_mutex_lock(&s->tok_mu);
    for (size_t i = 0; i < n; i++) {
        if (ts[i].revoked)
            continue;
        rfd_auth a;
        auth_of(&ts[i], &a);
        if (a.role)
            cache_put(s, ts[i].hash, &a);
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
    pthread_mutex_lock(&s->tok_mu);
    int hit = cache_get(s, h, out);
    pthread_mutex_unlock(&s->tok_mu);
    if (hit)
        return out->role != 0;
    rf_store_tx *tx;
    rf_store_token t;
    if (rf_store_begin(s->store, 0, &tx, NULL) != RF_OK)
        return -1;
    rf_rc rc = rf_store_token_by_hash(tx, h, &t, NULL);
    rf_store_rollback(tx);
    if (rc != RF_OK && rc != RF_E_NOTFOUND)
        return -1; /* the database did not answer: not a verdict on the token */
    if (rc != RF_OK || t.revoked)
        return 0;
    auth_of(&t, out);
    if (!out->role)
        return 0;
    pthread_mutex_lock(&s->tok_mu);
    cache_put(s, h, out);
    pthread_mutex_unlock(&s->tok_mu);
    return 1;
}

void rfd_token_cache_free(rfd_server *s)
{
    free(s->tok);
    s->tok = NULL;
    s->tok_cap = s->tok_n = 0;
}

/*
 * Several instances: a token revoked through another one is refused here
 * once its token.revoke line appears in the audit log, which this follows.
 * The first call (before the tokens are loaded at start) only finds where
 * the log ends: what was revoked before is in the store's own state.
 */
void rfd_tokens_follow_revocations(rfd_server *s)
{
    static int64_t after;
    static int primed;
    rf_store_tx *tx;
    if (rf_store_begin(s->store, 0, &tx, NULL) != RF_OK)
        return;
    int ok = 0;
    for (int page = 0; page < 1000; page++) {
        rf_store_audit *a = NULL;
        size_t n = 0;
        if (rf_store_audit_read(tx, after, 10000, &a, &n, NULL) != RF_OK)
            break;
        for (size_t i = 0; i < n; i++) {
            int64_t id;
            if (primed && strcmp(a[i].action, "token.revoke") == 0 &&
                strncmp(a[i].object, "token/", 6) == 0 &&
                rf_parse_i64(a[i].object + 6, 1, INT64_MAX, &id) == RF_OK)
                rfd_token_forget(s, id);
        }
        if (n)
            after = a[n - 1].seq;
        rf_store_audit_free_array(a, n);
        if (n < 10000) {
            ok = 1;
            break;
        }
    }
    rf_store_rollback(tx);
    if (ok)
        primed = 1;
}
