/*
 * hosts.c — the enrolled hosts in memory: what a check-in needs (tenant,
 * group, sensor build, last-seen, the content it runs) without a database
 * read. Loaded from the store at start; a new host is added after its
 * enrollment commits. Hosts are never removed while the server runs, so a
 * pointer from rfd_host_find stays valid until rfd_hosts_free.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

static int grow_index(rfd_server *s, int64_t id)
{
    if ((size_t)id < s->host_index_cap)
        return 0;
    size_t ncap = s->host_index_cap ? s->host_index_cap : 1024;
    while (ncap <= (size_t)id)
        ncap *= 2;
    int64_t *n = realloc(s->host_index, ncap * sizeof(*n));
    if (!n)
        return -1;
    memset(n + s->host_index_cap, 0, (ncap - s->host_index_cap) * sizeof(*n));
    s->host_index = n;
    s->host_index_cap = ncap;
    return 0;
}

/* Under hosts_lock (write). */
static rf_rc add_locked(rfd_server *s, const rf_store_host *h)
{
    if (h->id <= 0 || (uint64_t)h->id > (uint64_t)RF_FLEET_MAX_HOSTS * 4)
        return RF_E_USAGE;
    if ((size_t)h->id < s->host_index_cap && s->host_index[h->id])
        return RF_OK; /* known already */
    if (grow_index(s, h->id))
        return RF_E_NOMEM;
    if (s->nhosts == s->cap_hosts) {
        size_t ncap = s->cap_hosts ? s->cap_hosts * 2 : 1024;
        rfd_host **n = realloc(s->hosts, ncap * sizeof(*n));
        if (!n)
            return RF_E_NOMEM;
        s->hosts = n;
        s->cap_hosts = ncap;
    }
    rfd_host *x = calloc(1, sizeof(*x));
    if (!x)
        return RF_E_NOMEM;
    x->id = h->id;
    x->tenant_id = h->tenant_id;
    snprintf(x->group, sizeof(x->group), "%s", h->group);
    snprintf(x->sensor_version, sizeof(x->sensor_version), "%s", h->sensor_version);
    int64_t seen = h->last_seen ? h->last_seen : h->enrolled;
    atomic_store(&x->flushed, seen);
    /* A host is not silent for the time this server was not running: its
     * silence clock starts again when the server does. */
    if (seen < s->started)
        seen = s->started;
    atomic_store(&x->last_seen, seen);
    pthread_mutex_init(&x->mu, NULL);
    s->hosts[s->nhosts++] = x;
    s->host_index[h->id] = (int64_t)s->nhosts;
    return RF_OK;
}

rf_rc rfd_host_add(rfd_server *s, const rf_store_host *h)
{
    pthread_rwlock_wrlock(&s->hosts_lock);
    rf_rc rc = add_locked(s, h);
    pthread_rwlock_unlock(&s->hosts_lock);
    return rc;
}

rf_rc rfd_hosts_load(rfd_server *s, rf_err *err)
{
    rf_store_tx *tx;
    rf_rc rc = rf_store_begin(s->store, 0, &tx, err);
    if (rc)
        return rc;
    rf_store_host *hs = NULL;
    size_t n = 0;
    rc = rf_store_host_list(tx, 0, &hs, &n, err);
    rf_store_rollback(tx);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&s->hosts_lock);
    for (size_t i = 0; i < n && !rc; i++)
        rc = add_locked(s, &hs[i]);
    pthread_rwlock_unlock(&s->hosts_lock);
    free(hs);
    if (rc)
        return rf_err_set(err, rc, NULL, 0, 0, "loading %zu hosts: %s", n, rf_strerror(rc));
    return RF_OK;
}

rfd_host *rfd_host_find(rfd_server *s, int64_t id)
{
    rfd_host *h = NULL;
    pthread_rwlock_rdlock(&s->hosts_lock);
    if (id > 0 && (size_t)id < s->host_index_cap && s->host_index[id])
        h = s->hosts[s->host_index[id] - 1];
    pthread_rwlock_unlock(&s->hosts_lock);
    return h;
}

void rfd_hosts_free(rfd_server *s)
{
    for (size_t i = 0; i < s->nhosts; i++) {
        pthread_mutex_destroy(&s->hosts[i]->mu);
        free(s->hosts[i]);
    }
    free(s->hosts);
    free(s->host_index);
    s->hosts = NULL;
    s->host_index = NULL;
    s->nhosts = s->cap_hosts = s->host_index_cap = 0;
}

int64_t rfd_hosts_max_id(rfd_server *s)
{
    int64_t m = 0;
    pthread_rwlock_rdlock(&s->hosts_lock);
    for (size_t i = 0; i < s->nhosts; i++)
        if (s->hosts[i]->id > m)
            m = s->hosts[i]->id;
    pthread_rwlock_unlock(&s->hosts_lock);
    return m;
}

/*
 * Take the last-seen times other instances flushed to the store (several
 * ringfenced on one PostgreSQL): the leader's silence sweep must not call a
 * host silent that checks in through another instance. Only later times
 * are taken.
 */
void rfd_hosts_refresh_seen(rfd_server *s)
{
    rf_store_tx *tx;
    rf_err err;
    if (rf_store_begin(s->store, 0, &tx, &err) != RF_OK)
        return;
    rf_store_host *hs = NULL;
    size_t n = 0;
    /* Only what changed since the last read (a second of overlap: flushes of
     * other instances commit out of order). */
    static int64_t since;
    rf_rc rc = rf_store_host_seen_since(tx, since > 0 ? since - 1 : 0, &hs, &n, &err);
    rf_store_rollback(tx);
    if (rc) {
        rfd_warn(s, "reading last-seen times: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (hs[i].last_seen > since)
            since = hs[i].last_seen;
    for (size_t i = 0; i < n; i++) {
        rfd_host *h = rfd_host_find(s, hs[i].id);
        if (!h) {
            (void)rfd_host_add(s, &hs[i]);
            continue;
        }
        int64_t cur = atomic_load(&h->last_seen);
        while (hs[i].last_seen > cur &&
               !atomic_compare_exchange_weak(&h->last_seen, &cur, hs[i].last_seen))
            ;
        if (hs[i].last_seen > atomic_load(&h->flushed))
            atomic_store(&h->flushed, hs[i].last_seen);
    }
    free(hs);
}

/* Every host of the store into memory (a new rollout's fleet must include
 * hosts enrolled through other instances, checked in or not): the load done
 * at start, which skips the hosts known already. */
void rfd_hosts_sync_all(rfd_server *s)
{
    rf_err err;
    rf_err_clear(&err);
    if (rfd_hosts_load(s, &err) != RF_OK)
        rfd_warn(s, "reading the hosts: %s", err.msg);
}
