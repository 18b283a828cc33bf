/*
 * tuf_int.h — shared inside lib/tuf: canonical JSON, public keys and
 * signature checks, hashes, and the parsed form of one metadata file. The
 * client (client.c) and the repository (repo.c) both verify through these,
 * so there is one implementation of "is this role's metadata signed".
 */
#ifndef RF_TUF_INT_H
#define RF_TUF_INT_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "ringfence/tuf.h"
#include "ringfence/util.h"

/* ---- JSON (cjson.c) --------------------------------------------------- */

/*
 * Parse untrusted JSON text strictly: duplicate object keys, NUL in strings,
 * real numbers and integers outside int64 are errors (RF_E_PARSE), and the
 * whole buffer must be one value. what names the input in messages.
 * Caller owns *out (json_decref).
 */
rf_rc rftuf_json_parse(const uint8_t *buf, size_t len, const char *what,
                       json_t **out, rf_err *err) RF_WUR;

/*
 * Append the canonical form of v to out, as TUF specifies it (OLPC canonical
 * JSON as securesystemslib writes it): object keys sorted by their bytes, no
 * whitespace, strings escaped only for '"' and '\\' (all other bytes as
 * they are), integers in decimal, no reals (RF_E_PARSE).
 */
rf_rc rftuf_cjson(const json_t *v, rf_buf *out, rf_err *err) RF_WUR;

/* ---- public keys and signatures (keys.c) ----------------------------- */

typedef struct rftuf_key rftuf_key;

/*
 * Build a verification key from a TUF key object {"keytype","scheme",
 * "keyval":{"public"}}. Supported: ed25519/ed25519 (64 hex digits),
 * ecdsa or ecdsa-sha2-nistp256/ecdsa-sha2-nistp256 (PEM SubjectPublicKeyInfo),
 * rsa/rsassa-pss-sha256 (PEM). A well-formed key object of another type or
 * scheme yields a key that verifies nothing (*out set, RF_OK), as the
 * specification wants unknown keys ignored, not fatal. A malformed object
 * (missing fields, bad PEM or hex) is RF_E_PARSE. Caller frees.
 */
rf_rc rftuf_key_from_json(const json_t *keyobj, rftuf_key **out, rf_err *err) RF_WUR;
void rftuf_key_free(rftuf_key *k);

/* 1 when a and b hold the same public key material (however their key
 * objects are written), else 0. */
int rftuf_key_same(const rftuf_key *a, const rftuf_key *b);

/* 1 when sig_hex is a valid signature by k over msg, else 0 (never an error:
 * a malformed signature is simply not valid). */
int rftuf_key_verify(const rftuf_key *k, const uint8_t *msg, size_t len,
                     const char *sig_hex);

/* The key id TUF computes for a key object: hex sha256 of its canonical JSON. */
rf_rc rftuf_keyid(const json_t *keyobj, char out[65], rf_err *err) RF_WUR;

/* Sign msg with s; *sig_hex is malloc'd lowercase hex, caller frees.
 * ed25519: 64-byte signature; ecdsa: DER; rsa: PSS, MGF1-SHA256, salt 32. */
rf_rc rftuf_sign(const rf_tuf_signer *s, const uint8_t *msg, size_t len,
                 char **sig_hex, rf_err *err) RF_WUR;

/* ---- hashes (keys.c) ------------------------------------------------- */

/*
 * Check buf against a TUF "hashes" object ({"sha256": hex, "sha512": hex}).
 * Every listed algorithm we know must match (RF_E_CHECKSUM otherwise);
 * algorithms we do not know are ignored, but at least one known one must be
 * present (RF_E_UNSUPPORTED). An empty or malformed object is RF_E_PARSE.
 */
rf_rc rftuf_hashes_check(const json_t *hashes, const uint8_t *buf, size_t len,
                         const char *what, rf_err *err) RF_WUR;

/* The value of one hex digit (either case), or -1 when c is none. */
int rftuf_hexval(unsigned char c);

/* Lowercase hex sha256 / sha512 of buf. */
void rftuf_sha256_hex(const uint8_t *buf, size_t len, char out[65]);
void rftuf_sha512_hex(const uint8_t *buf, size_t len, char out[129]);

/* ---- one metadata file (meta.c) --------------------------------------- */

typedef enum rftuf_role_type {
    RFTUF_ROOT = 0,
    RFTUF_TIMESTAMP = 1,
    RFTUF_SNAPSHOT = 2,
    RFTUF_TARGETS = 3,
} rftuf_role_type;

/* "root", "timestamp", "snapshot", "targets". */
const char *rftuf_role_type_name(rftuf_role_type t);

typedef struct rftuf_meta {
    json_t *doc;         /* the whole parsed document (owned) */
    json_t *signed_;     /* doc["signed"] (borrowed from doc) */
    json_t *signatures;  /* doc["signatures"] (borrowed) */
    rf_buf canon;        /* canonical JSON of signed_: what signatures cover */
    rftuf_role_type type;
    int64_t version;     /* >= 1 */
    time_t expires;      /* UTC seconds */
    int consistent_snapshot; /* root only */
} rftuf_meta;

/*
 * Parse one metadata document of the expected type: the envelope
 * ({"signed":{...},"signatures":[{"keyid","sig"}...]}), "_type",
 * "spec_version" (major 1), "version" (>= 1), "expires"
 * (YYYY-MM-DDTHH:MM:SSZ) and the fields of that type. Unknown fields are kept
 * as they are. Signatures are not checked here. Caller frees with
 * rftuf_meta_free.
 */
rf_rc rftuf_meta_parse(const uint8_t *buf, size_t len, rftuf_role_type expect,
                       const char *what, rftuf_meta **out, rf_err *err) RF_WUR;
void rftuf_meta_free(rftuf_meta *m);

/*
 * Verify that m is signed by at least `threshold` distinct keys among
 * keyids (a JSON array of key ids), with the key objects in keys (a JSON
 * object keyid → key object). Each key counts once however many of its
 * signatures appear; unknown key ids and bad signatures count nothing.
 * role names the role in messages. RF_E_SIGNATURE when short.
 */
rf_rc rftuf_meta_verify(const rftuf_meta *m, const json_t *keys,
                        const json_t *keyids, int64_t threshold,
                        const char *role, rf_err *err) RF_WUR;

/*
 * rftuf_meta_verify with the keys, key ids and threshold that a root's
 * "signed" object (root_signed) gives top-level role `role`. what names m
 * in messages.
 */
rf_rc rftuf_meta_verify_by_root(const rftuf_meta *m, const json_t *root_signed,
                                const char *role, const char *what, rf_err *err) RF_WUR;

/* Parse "YYYY-MM-DDTHH:MM:SSZ" into UTC seconds. RF_E_PARSE otherwise. */
rf_rc rftuf_time_parse(const char *s, time_t *out) RF_WUR;
/* Format UTC seconds as "YYYY-MM-DDTHH:MM:SSZ" (buf of at least 21 bytes). */
void rftuf_time_format(time_t t, char buf[21]);

/*
 * Does a delegation's "paths" pattern match a target path? TUF's rules
 * (fnmatch-like, '*' and '?' do not cross '/', both must have the same number
 * of '/'-separated parts). "path_hash_prefixes" are matched by
 * rftuf_hash_prefix_match.
 */
int rftuf_path_match(const char *pattern, const char *path);
int rftuf_hash_prefix_match(const json_t *prefixes, const char *path);

/* ---- file and URL names (names.c) ------------------------------------ */

/* Percent-encode every byte outside [A-Za-z0-9._~-] (and '/' kept when
 * keep_slash). Caller frees; NULL on allocation failure. */
char *rftuf_quote(const char *s, int keep_slash);

/* The local file name (and URL name) of a role: "NAME.json", the name
 * percent-encoded, so a delegated role called "../x" or "a/b" stays one file
 * in its directory. Caller frees; NULL on allocation failure. */
char *rftuf_role_file(const char *role);

#endif
