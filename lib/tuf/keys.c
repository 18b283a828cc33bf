/*
 * keys.c — TUF keys, signatures and hashes on OpenSSL 3 libcrypto.
 *
 * Three signature schemes, as the TUF specification and securesystemslib
 * define them, so metadata signed by other TUF tools verifies here and ours
 * there:
 *   ed25519 / ed25519: keyval.public is 64 hex digits of the raw public key;
 *     the signature is the raw 64 bytes (pure Ed25519 over the message).
 *   ecdsa (or ecdsa-sha2-nistp256) / ecdsa-sha2-nistp256: keyval.public is a
 *     PEM SubjectPublicKeyInfo of a P-256 key; the signature is DER
 *     (r, s) over SHA-256.
 *   rsa / rsassa-pss-sha256: keyval.public is a PEM SubjectPublicKeyInfo of
 *     an RSA key of 2048 to 8192 bits; RSASSA-PSS with SHA-256 and
 *     MGF1-SHA-256; we sign with a 32-byte salt and accept any salt length.
 * Signatures travel as hex. Key ids are hex SHA-256 of the key object's
 * canonical JSON (cjson.c).
 *
 * Key objects and signatures come from downloaded metadata, so everything
 * here treats them as hostile: every JSON type and length is checked before
 * use, every OpenSSL result is checked, OpenSSL's error queue is emptied
 * after a failure (so a flood of bad signatures cannot grow it), and nothing
 * leaks on any path. A key of a type or scheme we do not know is not an
 * error: it yields a key that verifies nothing, as the specification asks.
 *
 * Also here: the hashes TUF lists for files (sha256, sha512) and the signer,
 * the private half of a key as rf_tuf_keygen writes it (PKCS#8 PEM).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "tuf/tuf_int.h"

/* A private key file: a 8192-bit RSA key in PEM is under 7 KiB. */
#define SIGNER_FILE_MAX (64u * 1024u)

/* A PEM public key inside a key object: an 8192-bit RSA key is about 1.5 KiB. */
#define PUB_PEM_MAX (16u * 1024u)

/* RSA moduli we accept: below 2048 bits is too weak to trust; above 8192
 * nobody signs TUF metadata, and the bound keeps verification cheap. */
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192
#define RSA_KEYGEN_BITS 3072

/* Signature hex accepted by rftuf_key_verify: 1024 bytes, an 8192-bit RSA
 * signature; the others are far shorter. */
#define SIG_HEX_MAX 2048

/* The PSS salt length we sign with: the digest length (SHA-256), what
 * securesystemslib uses. */
#define PSS_SIGN_SALT 32

#define ED25519_PUB_LEN 32
#define ED25519_SIG_LEN 64

/* 0 in type: a key of a type or scheme we do not know; verifies nothing. */
struct rftuf_key {
    int type; /* rf_tuf_keytype, or 0 */
    EVP_PKEY *pkey;
};

struct rf_tuf_signer {
    rf_tuf_keytype type;
    EVP_PKEY *pkey;
    char keyid[65];
    char *pub_json;
};

/* ---- small helpers ------------------------------------------------------ */

/* The reason of OpenSSL's most recent error, for a message; empties the
 * queue so failures do not pile up in it. */
static const char *ossl_reason(char *buf, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, n);
    else
        snprintf(buf, n, "no detail from libcrypto");
    ERR_clear_error();
    return buf;
}

/* Refuse every passphrase prompt: keys are never read interactively, and an
 * encrypted key must fail instead of waiting on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Is v exactly the string lit (length-checked, so an embedded NUL never
 * matches)? */
static int jstr_is(const json_t *v, const char *lit)
{
    size_t n = strlen(lit);
    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), lit, n) == 0;
}

int rftuf_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode exactly slen hex digits (either case) into out. 0 unless slen is
 * even, non-zero, at most 2 * cap, and every byte is a hex digit. */
static int hex_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen)
{
    if (slen == 0 || slen % 2 != 0 || slen / 2 > cap)
        return 0;
    for (size_t i = 0; i < slen / 2; i++) {
        int hi = rftuf_hexval((unsigned char)s[2 * i]);
        int lo = rftuf_hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *outlen = slen / 2;
    return 1;
}

/* Is s exactly n hex digits? */
static int is_hex(const char *s, size_t len, size_t n)
{
    if (len != n)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (rftuf_hexval((unsigned char)s[i]) < 0)
            return 0;
    return 1;
}

/* Is pkey an EC key on P-256 (a named curve, not explicit parameters)? */
static int is_p256(EVP_PKEY *pkey)
{
    char group[64];
    size_t glen = 0;
    if (!EVP_PKEY_is_a(pkey, "EC"))
        return 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1) {
        ERR_clear_error();
        return 0;
    }
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
}

/* Is pkey an RSA key (not RSA-PSS-restricted) of an accepted size? */
static int is_rsa_ok(EVP_PKEY *pkey, int *bits)
{
    *bits = 0;
    if (!EVP_PKEY_is_a(pkey, "RSA"))
        return 0;
    *bits = EVP_PKEY_get_bits(pkey);
    return *bits >= RSA_MIN_BITS && *bits <= RSA_MAX_BITS;
}

/* ---- key types ------------------------------------------------------------ */

rf_rc rf_tuf_keytype_parse(const char *name, rf_tuf_keytype *out)
{
    if (!name || !out)
        return RF_E_USAGE;
    if (strcmp(name, "ed25519") == 0)
        *out = RF_TUF_KEY_ED25519;
    else if (strcmp(name, "ecdsa") == 0)
        *out = RF_TUF_KEY_ECDSA_P256;
    else if (strcmp(name, "rsa") == 0)
        *out = RF_TUF_KEY_RSA_PSS;
    else
        return RF_E_USAGE;
    return RF_OK;
}

/* The type a private or public key is, for a signer; RF_E_UNSUPPORTED for
 * anything but ed25519, P-256 and RSA of an accepted size. */
static rf_rc key_type_of(EVP_PKEY *pkey, rf_tuf_keytype *out, const char *what, rf_err *err)
{
    int bits = 0;
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        *out = RF_TUF_KEY_ED25519;
        return RF_OK;
    }
    if (is_p256(pkey)) {
        *out = RF_TUF_KEY_ECDSA_P256;
        return RF_OK;
    }
    if (is_rsa_ok(pkey, &bits)) {
        *out = RF_TUF_KEY_RSA_PSS;
        return RF_OK;
    }
    if (bits)
        return rf_err_set(err, RF_E_UNSUPPORTED, what, 0, 0,
                          "RSA key of %d bits; ringfence accepts %d to %d bits", bits,
                          RSA_MIN_BITS, RSA_MAX_BITS);
    return rf_err_set(err, RF_E_UNSUPPORTED, what, 0, 0,
                      "key of type %s is not supported (ed25519, ecdsa P-256 or rsa)",
                      EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "?");
}

/* The TUF public key object of pkey ({"keytype","keyval":{"public"},"scheme"}),
 * as JSON text (*pub_json, malloc'd) and its key id. */
static rf_rc describe_key(EVP_PKEY *pkey, rf_tuf_keytype type, char **pub_json,
                          char keyid[65], rf_err *err)
{
    char why[256];
    rf_rc rc = RF_OK;
    json_t *pub = NULL, *obj = NULL;
    BIO *bio = NULL;
    rf_buf canon;
    rf_buf_init(&canon);

    const char *keytype = NULL, *scheme = NULL;
    if (type == RF_TUF_KEY_ED25519) {
        uint8_t raw[ED25519_PUB_LEN];
        size_t rlen = sizeof(raw);
        char hex[2 * ED25519_PUB_LEN + 1];
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &rlen) != 1 || rlen != sizeof(raw)) {
            rc = rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                            "cannot get the raw ed25519 public key: %s",
                            ossl_reason(why, sizeof(why)));
            goto out;
        }
        rf_hex(raw, rlen, hex);
        pub = json_string(hex);
        keytype = "ed25519";
        scheme = "ed25519";
    } else {
        char *data = NULL;
        bio = BIO_new(BIO_s_mem());
        if (!bio || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
            rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "cannot write the public key as PEM: %s",
                            ossl_reason(why, sizeof(why)));
            goto out;
        }
        long n = BIO_get_mem_data(bio, &data);
        if (n <= 0 || !data) {
            rc = rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "empty PEM public key");
            goto out;
        }
        pub = json_stringn(data, (size_t)n);
        if (type == RF_TUF_KEY_ECDSA_P256) {
            keytype = "ecdsa";
            scheme = "ecdsa-sha2-nistp256";
        } else {
            keytype = "rsa";
            scheme = "rsassa-pss-sha256";
        }
    }
    if (!pub) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory building a key object");
        goto out;
    }
    obj = json_pack("{s:s, s:{s:O}, s:s}", "keytype", keytype, "keyval", "public", pub,
                    "scheme", scheme);
    if (!obj) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory building a key object");
        goto out;
    }
    if ((rc = rftuf_cjson(obj, &canon, err)) != RF_OK)
        goto out;
    rftuf_sha256_hex(canon.data, canon.len, keyid);
    /* The key id is over the canonical form, whose PEM newlines are raw; the
     * text handed out is ordinary JSON (sorted, compact, newlines escaped),
     * so that it can be read back and embedded in metadata. */
    *pub_json = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    if (!*pub_json)
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory building a key object");
out:
    rf_buf_free(&canon);
    json_decref(obj);
    json_decref(pub);
    BIO_free(bio);
    return rc;
}

/* ---- key generation and signers ---------------------------------------- */

rf_rc rf_tuf_keygen(rf_tuf_keytype type, char **priv_pem, char **pub_json, char keyid[65],
                    rf_err *err)
{
    if (!priv_pem || !pub_json || !keyid)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_tuf_keygen: NULL argument");
    char why[256];
    EVP_PKEY *pkey = NULL;
    switch (type) {
    case RF_TUF_KEY_ED25519: pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
    case RF_TUF_KEY_ECDSA_P256: pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); break;
    case RF_TUF_KEY_RSA_PSS:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_KEYGEN_BITS);
        break;
    default:
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "unknown key type %d", (int)type);
    }
    if (!pkey)
        return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "key generation failed: %s",
                          ossl_reason(why, sizeof(why)));

    rf_rc rc = RF_OK;
    char *pub = NULL, *priv = NULL;
    char id[65];
    /* Secure-heap BIO: the private PEM is wiped when the BIO is freed. */
    BIO *bio = BIO_new(BIO_s_secmem());
    char *data = NULL;
    long n = 0;
    if (!bio || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        (n = BIO_get_mem_data(bio, &data)) <= 0 || !data) {
        rc = rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "cannot write the private key as PEM: %s",
                        ossl_reason(why, sizeof(why)));
        goto out;
    }
    priv = rf_strndup(data, (size_t)n);
    if (!priv) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    if ((rc = describe_key(pkey, type, &pub, id, err)) != RF_OK)
        goto out;
    *priv_pem = priv;
    *pub_json = pub;
    memcpy(keyid, id, sizeof(id));
    priv = NULL;
    pub = NULL;
out:
    if (priv) {
        OPENSSL_cleanse(priv, strlen(priv));
        free(priv);
    }
    free(pub);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return rc;
}

rf_rc rf_tuf_signer_load(const char *path, rf_tuf_signer **out, rf_err *err)
{
    if (!path || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_tuf_signer_load: NULL argument");
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_rc rc = rf_file_read(path, SIGNER_FILE_MAX, &buf, &len, err);
    if (rc != RF_OK)
        return rc;

    char why[256];
    EVP_PKEY *pkey = NULL;
    rf_tuf_signer *s = NULL;
    BIO *bio = len <= (size_t)INT32_MAX ? BIO_new_mem_buf(buf, (int)len) : NULL;
    if (!bio) {
        rc = rf_err_set(err, RF_E_NOMEM, path, 0, 0, "out of memory");
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (!pkey) {
        rc = rf_err_set(err, RF_E_PARSE, path, 0, 0,
                        "not a PEM private key (or one encrypted with a passphrase): %s",
                        ossl_reason(why, sizeof(why)));
        goto out;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        rc = rf_err_set(err, RF_E_NOMEM, path, 0, 0, "out of memory");
        goto out;
    }
    if ((rc = key_type_of(pkey, &s->type, path, err)) != RF_OK)
        goto out;
    if ((rc = describe_key(pkey, s->type, &s->pub_json, s->keyid, err)) != RF_OK)
        goto out;
    s->pkey = pkey;
    pkey = NULL;
    *out = s;
    s = NULL;
out:
    rf_tuf_signer_free(s);
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}

const char *rf_tuf_signer_keyid(const rf_tuf_signer *s)
{
    return s ? s->keyid : NULL;
}

const char *rf_tuf_signer_pub_json(const rf_tuf_signer *s)
{
    return s ? s->pub_json : NULL;
}

void rf_tuf_signer_free(rf_tuf_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->pkey);
    free(s->pub_json);
    free(s);
}

rf_rc rftuf_sign(const rf_tuf_signer *s, const uint8_t *msg, size_t len, char **sig_hex,
                 rf_err *err)
{
    if (!s || !s->pkey || (!msg && len) || !sig_hex)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rftuf_sign: NULL argument");
    static const uint8_t empty[1];
    if (!msg)
        msg = empty;
    char why[256];
    rf_rc rc = RF_OK;
    uint8_t *sig = NULL;
    char *hex = NULL;
    size_t siglen = 0;
    EVP_PKEY_CTX *pctx = NULL; /* owned by mctx */
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    if (!mctx) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    const EVP_MD *md = s->type == RF_TUF_KEY_ED25519 ? NULL : EVP_sha256();
    if (EVP_DigestSignInit(mctx, &pctx, md, NULL, s->pkey) != 1)
        goto fail;
    if (s->type == RF_TUF_KEY_RSA_PSS &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, PSS_SIGN_SALT) <= 0))
        goto fail;
    if (EVP_DigestSign(mctx, NULL, &siglen, msg, len) != 1 || siglen == 0 ||
        siglen > SIG_HEX_MAX / 2)
        goto fail;
    sig = malloc(siglen);
    hex = sig ? malloc(2 * siglen + 1) : NULL;
    if (!hex) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    if (EVP_DigestSign(mctx, sig, &siglen, msg, len) != 1)
        goto fail;
    rf_hex(sig, siglen, hex);
    *sig_hex = hex;
    hex = NULL;
    goto out;
fail:
    rc = rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "signing with key %s failed: %s", s->keyid,
                    ossl_reason(why, sizeof(why)));
out:
    free(hex);
    free(sig);
    EVP_MD_CTX_free(mctx);
    return rc;
}

/* ---- verification keys -------------------------------------------------- */

/* A PEM public key from a key object's keyval.public. */
static rf_rc read_pub_pem(const json_t *pub, EVP_PKEY **out, rf_err *err)
{
    char why[256];
    const char *pem = json_string_value(pub);
    size_t len = json_string_length(pub);
    if (len == 0 || len > PUB_PEM_MAX || memchr(pem, '\0', len))
        return rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                          "key object: 'keyval.public' is not a PEM public key (%zu bytes)", len);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    if (!pkey)
        return rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                          "key object: 'keyval.public' is not a PEM public key: %s",
                          ossl_reason(why, sizeof(why)));
    *out = pkey;
    return RF_OK;
}

rf_rc rftuf_key_from_json(const json_t *keyobj, rftuf_key **out, rf_err *err)
{
    if (!keyobj || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rftuf_key_from_json: NULL argument");
    if (!json_is_object(keyobj))
        return rf_err_set(err, RF_E_PARSE, NULL, 0, 0, "key object is not a JSON object");
    const json_t *keytype = json_object_get(keyobj, "keytype");
    const json_t *scheme = json_object_get(keyobj, "scheme");
    const json_t *keyval = json_object_get(keyobj, "keyval");
    if (!json_is_string(keytype))
        return rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                          "key object: 'keytype' is missing or not a string");
    if (!json_is_string(scheme))
        return rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                          "key object: 'scheme' is missing or not a string");
    if (!json_is_object(keyval))
        return rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                          "key object: 'keyval' is missing or not an object");

    int type = 0;
    if (jstr_is(keytype, "ed25519") && jstr_is(scheme, "ed25519"))
        type = RF_TUF_KEY_ED25519;
    else if ((jstr_is(keytype, "ecdsa") || jstr_is(keytype, "ecdsa-sha2-nistp256")) &&
             jstr_is(scheme, "ecdsa-sha2-nistp256"))
        type = RF_TUF_KEY_ECDSA_P256;
    else if (jstr_is(keytype, "rsa") && jstr_is(scheme, "rsassa-pss-sha256"))
        type = RF_TUF_KEY_RSA_PSS;

    rftuf_key *k = calloc(1, sizeof(*k));
    if (!k)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    if (type == 0) { /* well formed, but not ours: verifies nothing */
        *out = k;
        return RF_OK;
    }

    rf_rc rc = RF_OK;
    EVP_PKEY *pkey = NULL;
    const json_t *pub = json_object_get(keyval, "public");
    if (!json_is_string(pub)) {
        rc = rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                        "key object: 'keyval.public' is missing or not a string");
        goto out;
    }
    if (type == RF_TUF_KEY_ED25519) {
        uint8_t raw[ED25519_PUB_LEN];
        size_t rlen = 0;
        size_t hlen = json_string_length(pub);
        if (hlen != 2 * ED25519_PUB_LEN ||
            !hex_decode(json_string_value(pub), hlen, raw, sizeof(raw), &rlen)) {
            rc = rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                            "key object: an ed25519 'keyval.public' must be %d hex digits",
                            2 * ED25519_PUB_LEN);
            goto out;
        }
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, rlen);
        if (!pkey) {
            char why[256];
            rc = rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                            "key object: not an ed25519 public key: %s",
                            ossl_reason(why, sizeof(why)));
            goto out;
        }
    } else {
        if ((rc = read_pub_pem(pub, &pkey, err)) != RF_OK)
            goto out;
        int bits = 0;
        if (type == RF_TUF_KEY_ECDSA_P256 && !is_p256(pkey)) {
            rc = rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                            "key object: declared ecdsa-sha2-nistp256, but the PEM holds a "
                            "%s key that is not on P-256",
                            EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey)
                                                          : "?");
            goto out;
        }
        if (type == RF_TUF_KEY_RSA_PSS && !is_rsa_ok(pkey, &bits)) {
            if (bits)
                rc = rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                                "key object: RSA key of %d bits; accepted are %d to %d bits",
                                bits, RSA_MIN_BITS, RSA_MAX_BITS);
            else
                rc = rf_err_set(err, RF_E_PARSE, NULL, 0, 0,
                                "key object: declared rsa, but the PEM holds a %s key",
                                EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey)
                                                              : "?");
            goto out;
        }
    }
    k->type = type;
    k->pkey = pkey;
    pkey = NULL;
    *out = k;
    k = NULL;
out:
    EVP_PKEY_free(pkey);
    rftuf_key_free(k);
    return rc;
}

void rftuf_key_free(rftuf_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

int rftuf_key_same(const rftuf_key *a, const rftuf_key *b)
{
    if (!a || !b || !a->pkey || !b->pkey)
        return 0;
    return EVP_PKEY_eq(a->pkey, b->pkey) == 1;
}

int rftuf_key_verify(const rftuf_key *k, const uint8_t *msg, size_t len, const char *sig_hex)
{
    if (!k || k->type == 0 || !k->pkey || !sig_hex || (!msg && len))
        return 0;
    static const uint8_t empty[1];
    if (!msg)
        msg = empty;
    size_t hlen = strnlen(sig_hex, SIG_HEX_MAX + 1);
    uint8_t sig[SIG_HEX_MAX / 2];
    size_t siglen = 0;
    if (hlen > SIG_HEX_MAX || !hex_decode(sig_hex, hlen, sig, sizeof(sig), &siglen))
        return 0;
    if (k->type == RF_TUF_KEY_ED25519 && siglen != ED25519_SIG_LEN)
        return 0;

    int ok = 0;
    EVP_PKEY_CTX *pctx = NULL; /* owned by mctx */
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    if (!mctx)
        goto out;
    const EVP_MD *md = k->type == RF_TUF_KEY_ED25519 ? NULL : EVP_sha256();
    if (EVP_DigestVerifyInit(mctx, &pctx, md, NULL, k->pkey) != 1)
        goto out;
    if (k->type == RF_TUF_KEY_RSA_PSS &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) <= 0))
        goto out;
    /* 1 is a valid signature; 0 a wrong one, < 0 a malformed one. */
    ok = EVP_DigestVerify(mctx, sig, siglen, msg, len) == 1;
out:
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    return ok;
}

rf_rc rftuf_keyid(const json_t *keyobj, char out[65], rf_err *err)
{
    if (!keyobj || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rftuf_keyid: NULL argument");
    rf_buf canon;
    rf_buf_init(&canon);
    rf_rc rc = rftuf_cjson(keyobj, &canon, err);
    if (rc == RF_OK)
        rftuf_sha256_hex(canon.data, canon.len, out);
    rf_buf_free(&canon);
    return rc;
}

/* ---- hashes ------------------------------------------------------------- */

void rftuf_sha256_hex(const uint8_t *buf, size_t len, char out[65])
{
    uint8_t d[32];
    static const uint8_t empty[1];
    rf_sha256(buf ? (const void *)buf : empty, buf ? len : 0, d);
    rf_hex(d, sizeof(d), out);
}

void rftuf_sha512_hex(const uint8_t *buf, size_t len, char out[129])
{
    uint8_t d[64];
    unsigned int dlen = sizeof(d);
    static const uint8_t empty[1];
    /* A digest that fails (a broken libcrypto) is all zeros and never
     * matches real data, as rf_sha256 does. */
    if (EVP_Digest(buf ? (const void *)buf : empty, buf ? len : 0, d, &dlen, EVP_sha512(),
                   NULL) != 1 ||
        dlen != sizeof(d)) {
        ERR_clear_error();
        memset(d, 0, sizeof(d));
    }
    rf_hex(d, sizeof(d), out);
}

rf_rc rftuf_hashes_check(const json_t *hashes, const uint8_t *buf, size_t len,
                         const char *what, rf_err *err)
{
    if (!buf && len)
        return rf_err_set(err, RF_E_USAGE, what, 0, 0, "rftuf_hashes_check: NULL argument");
    if (!json_is_object(hashes) || json_object_size(hashes) == 0)
        return rf_err_set(err, RF_E_PARSE, what, 0, 0,
                          "'hashes' must be a non-empty object of algorithm: hex digest");
    char sha256[65] = "", sha512[129] = "";
    int known = 0, bad = 0;
    char bad_alg[8] = "", bad_have[129] = "", bad_want[129] = "";
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach((json_t *)hashes, key, klen, v)
    {
        if (!json_is_string(v))
            return rf_err_set(err, RF_E_PARSE, what, 0, 0,
                              "hash '%.32s' is not a string of hex digits", key);
        const char *want = json_string_value(v);
        size_t wlen = json_string_length(v);
        const char *have;
        size_t hlen;
        if (klen == 6 && memcmp(key, "sha256", 6) == 0) {
            if (!sha256[0])
                rftuf_sha256_hex(buf, len, sha256);
            have = sha256;
            hlen = 64;
        } else if (klen == 6 && memcmp(key, "sha512", 6) == 0) {
            if (!sha512[0])
                rftuf_sha512_hex(buf, len, sha512);
            have = sha512;
            hlen = 128;
        } else {
            continue; /* an algorithm we do not know: ignored */
        }
        if (!is_hex(want, wlen, hlen))
            return rf_err_set(err, RF_E_PARSE, what, 0, 0,
                              "hash %s must be %zu hex digits", key, hlen);
        known++;
        if (!bad && strncasecmp(have, want, hlen) != 0) {
            bad = 1;
            snprintf(bad_alg, sizeof(bad_alg), "%s", key);
            memcpy(bad_have, have, hlen + 1);
            memcpy(bad_want, want, hlen);
            bad_want[hlen] = '\0';
        }
    }
    if (bad)
        return rf_err_set(err, RF_E_CHECKSUM, what, 0, 0,
                          "%s of the %zu bytes is %s, but the metadata lists %s", bad_alg, len,
                          bad_have, bad_want);
    if (!known)
        return rf_err_set(err, RF_E_UNSUPPORTED, what, 0, 0,
                          "'hashes' lists no algorithm ringfence checks (sha256, sha512)");
    return RF_OK;
}
