/*
 * tuf.h — The Update Framework (specification 1.0.x) in libringfence: keys and
 * signatures, the download of untrusted bytes with hard limits, and the whole
 * client update workflow ("detailed client workflow" of the specification).
 * The repository side (keeping and signing a repository directory) is in
 * ringfence/tuf_repo.h and uses the same verification code as the client.
 *
 * Everything a repository, mirror or network sends is untrusted: it is read
 * only up to a fixed size, within a time limit, verified (signatures, then
 * hashes and lengths, then versions and expiry) and only then used or stored.
 */
#ifndef RINGFENCE_TUF_H
#define RINGFENCE_TUF_H

#include <stdint.h>
#include <time.h>

#include "ringfence/ringfence.h"
#include "ringfence/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- keys ------------------------------------------------------------ */

typedef enum rf_tuf_keytype {
    RF_TUF_KEY_ED25519 = 1,    /* keytype "ed25519", scheme "ed25519" */
    RF_TUF_KEY_ECDSA_P256 = 2, /* keytype "ecdsa", scheme "ecdsa-sha2-nistp256" */
    RF_TUF_KEY_RSA_PSS = 3,    /* keytype "rsa", scheme "rsassa-pss-sha256" */
} rf_tuf_keytype;

/* "ed25519" | "ecdsa" | "rsa" → type. RF_E_USAGE for anything else. */
rf_rc rf_tuf_keytype_parse(const char *name, rf_tuf_keytype *out) RF_WUR;

/*
 * Generate a key pair. *priv_pem receives the private key as PKCS#8 PEM,
 * *pub_json the public key as a TUF key object
 * ({"keytype":..,"keyval":{"public":..},"scheme":..}) in compact JSON with
 * sorted keys (a PEM's newlines escaped, so any JSON reader takes it);
 * keyid receives the key id as TUF computes it (hex sha256 of the object's
 * canonical JSON, where those newlines are raw). Both strings are malloc'd
 * and owned by the caller (free()).
 */
rf_rc rf_tuf_keygen(rf_tuf_keytype type, char **priv_pem, char **pub_json,
                    char keyid[65], rf_err *err) RF_WUR;

/* A private key that can sign metadata. Opaque. */
typedef struct rf_tuf_signer rf_tuf_signer;

/* Load a private key file written by rf_tuf_keygen (PEM). Caller frees with
 * rf_tuf_signer_free. */
rf_rc rf_tuf_signer_load(const char *path, rf_tuf_signer **out, rf_err *err) RF_WUR;
/* The signer's key id (64 hex digits) and public key object (JSON text, as
 * rf_tuf_keygen gives it); owned by the signer. */
const char *rf_tuf_signer_keyid(const rf_tuf_signer *s);
const char *rf_tuf_signer_pub_json(const rf_tuf_signer *s);
void rf_tuf_signer_free(rf_tuf_signer *s);

/* ---- downloads ----------------------------------------------------------- */

typedef struct rf_tuf_fetch_limits {
    uint64_t request_timeout_ms; /* one request, connect to last byte; 0 = none */
    uint64_t deadline_ns;        /* absolute, on the rf_now_ns clock; 0 = none */
    uint32_t low_speed_bytes;    /* abort when slower than this many bytes/s ... */
    uint32_t low_speed_secs;     /* ... for this many seconds (0 = no check) */
} rf_tuf_fetch_limits;

/*
 * Fetch url into out (appended), reading at most max_len bytes: a longer body
 * (whatever Content-Length says) is RF_E_LIMIT, a 403/404 is RF_E_NOTFOUND,
 * any other failure (status, redirect, connection, time limit) RF_E_NETWORK;
 * a URL that is not http(s) or longer than RF_MAX_URL is RF_E_USAGE. On any
 * failure out is restored to its length at entry. A body shorter than its
 * Content-Length is an error; one longer is cut at the announced length. lim
 * NULL means no time limit (max_len still holds).
 * Implemented by rf_tuf_fetch_http (libcurl, http and https; ctx NULL or a
 * const rf_tuf_http_opts *); the client takes
 * any function of this shape, so a test or the agent can supply its own.
 */
typedef rf_rc (*rf_tuf_fetch_fn)(void *ctx, const char *url, size_t max_len,
                                 const rf_tuf_fetch_limits *lim, rf_buf *out,
                                 rf_err *err);
/* What rf_tuf_fetch_http takes as its ctx (NULL: the defaults). */
typedef struct rf_tuf_http_opts {
    const char *ca_file; /* PEM bundle that https servers must chain to;
                            NULL: the system's trust store */
} rf_tuf_http_opts;
rf_rc rf_tuf_fetch_http(void *ctx, const char *url, size_t max_len,
                        const rf_tuf_fetch_limits *lim, rf_buf *out,
                        rf_err *err) RF_WUR;

/* ---- the client ---------------------------------------------------------- */

typedef struct rf_tuf_client_opts {
    const char *metadata_dir;    /* trusted metadata: root.json, timestamp.json, ... */
    const char *metadata_url;    /* base URL of the repository's metadata */
    const char *target_base_url; /* base URL of its targets (may be NULL: no downloads) */
    size_t max_root_bytes;       /* upper bounds on every download */
    size_t max_timestamp_bytes;
    size_t max_snapshot_bytes;
    size_t max_targets_bytes;    /* top-level and delegated targets */
    uint32_t max_root_rotations; /* new root versions taken in one update */
    uint32_t max_delegations;    /* roles visited in one target search */
    uint64_t request_timeout_ms; /* one download */
    uint64_t total_timeout_ms;   /* one refresh, or one download of a target */
    uint32_t low_speed_bytes;    /* slow-retrieval guard, see rf_tuf_fetch_limits */
    uint32_t low_speed_secs;
    time_t now;                  /* 0: read the clock once at each refresh */
    rf_tuf_fetch_fn fetch;       /* NULL: rf_tuf_fetch_http */
    void *fetch_ctx;
} rf_tuf_client_opts;

/* Fill opts with the defaults documented in docs/trust.md (all limits set). */
void rf_tuf_client_opts_default(rf_tuf_client_opts *opts);

/*
 * Start trusting root_path: it must parse as root metadata signed by a
 * threshold of its own root keys. Writes metadata_dir/root.json atomically
 * (creating metadata_dir if needed) and removes any other trusted metadata
 * there. Makes no network request.
 */
rf_rc rf_tuf_client_init(const char *metadata_dir, const char *root_path,
                         rf_err *err) RF_WUR;

typedef struct rf_tuf_client rf_tuf_client;

/* Load the trusted metadata from opts->metadata_dir (root.json must exist
 * and verify; other files that fail to verify are ignored). The opts strings
 * are copied. Caller frees with rf_tuf_client_free. */
rf_rc rf_tuf_client_new(const rf_tuf_client_opts *opts, rf_tuf_client **out,
                        rf_err *err) RF_WUR;
void rf_tuf_client_free(rf_tuf_client *c);

/*
 * The top-level update: root (one version at a time), timestamp, snapshot,
 * targets, each verified and persisted atomically before the next. Stops at
 * the first failure with the trusted state on disk still consistent.
 */
rf_rc rf_tuf_client_refresh(rf_tuf_client *c, rf_err *err) RF_WUR;

/* What signed targets metadata says of one target. */
typedef struct rf_tuf_target {
    char *path;        /* the target path as listed */
    uint64_t length;
    char sha256[65];   /* "" when the metadata lists no sha256 */
    char sha512[129];  /* "" when the metadata lists no sha512 */
    char *custom_json; /* the "custom" object as compact JSON, or NULL */
    char *role;        /* the role that listed it ("targets" or a delegated role) */
} rf_tuf_target;
void rf_tuf_target_free(rf_tuf_target *t);

/*
 * Find a target by path: refreshes first if the client has not refreshed
 * yet, then searches the delegation tree in pre-order (terminating roles,
 * path patterns, the visited-role and max_delegations limits), fetching and
 * verifying delegated targets metadata as needed. RF_E_NOTFOUND if no role
 * lists it. Caller frees *out with rf_tuf_target_free.
 */
rf_rc rf_tuf_client_find_target(rf_tuf_client *c, const char *path,
                                rf_tuf_target **out, rf_err *err) RF_WUR;

/*
 * Download a target found by rf_tuf_client_find_target into dir under
 * rf_tuf_target_filename(t->path); checks length and every listed hash
 * before the file appears (atomic write). If the file is already there with
 * matching hashes, nothing is fetched. *written (may be NULL) receives the
 * path written, malloc'd, caller frees.
 */
rf_rc rf_tuf_client_download(rf_tuf_client *c, const rf_tuf_target *t,
                             const char *dir, char **written, rf_err *err) RF_WUR;

/* The local file name of a target path: every byte but [A-Za-z0-9._~-]
 * percent-encoded, so "a/../b" is "a%2F..%2Fb" and never leaves the
 * directory; "." and ".." themselves are encoded whole. Caller frees. */
char *rf_tuf_target_filename(const char *path);

#ifdef __cplusplus
}
#endif
#endif
