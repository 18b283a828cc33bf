/*
 * tuf_test.c — unit tests of lib/tuf: canonical JSON (cjson.c) and keys,
 * signatures and hashes (keys.c).
 *
 * Known answers come from outside ringfence, so a shared misunderstanding
 * between our signer and our verifier cannot pass: the key id, the ed25519,
 * ecdsa and rsassa-pss signatures and the digests below were made with
 * Debian 12's /usr/bin/python3 (hashlib, python3-cryptography 38):
 *
 *   msg = b'{"_type":"targets","version":1}'
 *   sk = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
 *   sk.sign(msg).hex()
 *   hashlib.sha256(b'{"keytype":"ed25519","keyval":{"public":"03a1..."},'
 *                  b'"scheme":"ed25519"}').hexdigest()
 *   ek = ec.derive_private_key(0x1234567890abcdef, ec.SECP256R1())
 *   ek.sign(msg, ec.ECDSA(hashes.SHA256())).hex()
 *   rk = rsa.generate_private_key(65537, 2048)
 *   rk.sign(msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
 *                            salt_length=32), hashes.SHA256()).hex()
 *   (and once more with salt_length=padding.PSS.MAX_LENGTH)
 *   rsa.generate_private_key(65537, 1024): a key too small to accept
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ringfence/tuf.h"
#include "ringfence/util.h"
#include "tuf/tuf_int.h"

/* ---- known answers ------------------------------------------------------- */

static const char MSG[] = "{\"_type\":\"targets\",\"version\":1}";

static const char ED_PUB[] = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
static const char ED_SIG[] =
    "b1d09b65fabf87a1143d27e554cdc61e0657fb782913365ba222ceb0045a81a9"
    "ea0e9c4a05102788691135840cc784adc75121ec2179e2acfc31e3ad0ef01d02";
static const char ED_CANON[] = "{\"keytype\":\"ed25519\",\"keyval\":{\"public\":"
                               "\"03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8\"},"
                               "\"scheme\":\"ed25519\"}";
static const char ED_KEYID[] = "63d00ee3cf4f5c61ad94efa696c68f13b608fe56ecea13fb144a6fd18e9235b9";

static const char EC_PEM[] = "-----BEGIN PUBLIC KEY-----\n"
                             "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEn62Erq4Iu+9/AQAU2CzvagneKwz4\n"
                             "cbXODE8dE6WaWTQHy0V2nxBw4sJHD+Wxv+YxM8CwzcZOpL83kajsKgf9Tw==\n"
                             "-----END PUBLIC KEY-----\n";
static const char EC_SIG[] = "3045022100ac6a7b3e1c1daad9a58a05ea3678192217d779a94d34ecd7c975b0c3b"
                             "9518f13022037f12e69f58ab19ceb24be7d6013061fd0666f9bc094181a343c6cf5"
                             "89573349";

static const char RSA_PEM[] = "-----BEGIN PUBLIC KEY-----\n"
                              "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAonBG1bbmGx1BAExUFLtc\n"
                              "phwsoCvS8sg9nXSfqBELxKipdurW7daHZZwn9OtFwua1JlxjR15uKBl/Xx9sPI1U\n"
                              "Vk6C5N5nJr/AdojH66qfi8STGQhhwxcwXUYaYpoUPx01vVBULyEb8GfUA7Z6Uvhz\n"
                              "qNdqZTqA699B0HFRsCflKWQJYPqOwuAusXYcBNRzGEDo77wQdRkLTN2LRYugFbRe\n"
                              "erJdf8ki40igoeOquW0o6REM9heNr1aFscXqph7R67Sq3ElyqybMCvpGnng41wMn\n"
                              "rEBRB8dSzS/L0TblI2efchRFW50+oaM8oxraYCBMvTZdNzGxBslZK8gUVXgBSlm8\n"
                              "WwIDAQAB\n"
                              "-----END PUBLIC KEY-----\n";
static const char RSA_SIG[] =
    "310c8ed7d582bde19b0466bbde9430309833bf831e48c364aee2146af38127bcafb62692687d3d0c2457e998dd08b5"
    "c5776de3ec77845779750f6b12df55473b27821fdff874e58799ab0804175ae64aef4f1fc97df04dcd69dc4e9da8d5"
    "dae5dca1705644c9f633155c0de5d722428adaec35889cc1dc38a0543f71f2dfdf6422959d0f8294e9892becdac5cf"
    "bf0f61871515a2c07ffc90263037204f39bd00f9089e03f2fee55b2f07e7b26f8c7067f2c08e1a70708a1143538e6e"
    "cc66db8453962dce75a8611ae7a050fe1521f0e3622d45715204a3358090004d9ea8d73e6a74eda22464e8e3b9919e"
    "1a4819e1760ff99a7f038b296a46a28f28853f430a";
static const char RSA_SIG_MAXSALT[] =
    "1683a0fc33042801c6ef5977752e12392ebe7ebcc69127ee3ad4ea64dddb897b2f5e123222ce3759e3232268bd3337"
    "634da459fca8b26eabfe983481ba41ebda9972768dd48b9734614d09e0f58f794c895202b60d3df3d2f245ab64c7eb"
    "1cbcb9f8fccee354b56dceb425aeae1bcd208c7dc9fdf3fbe87e76f041040d3cfcf4fff8ef2f4d99d3627ac9bccbed"
    "da58b498cc52f699f76de4f7576dea40dbdb27b5b23ce83231f29aee37d2e81ea6583243738fa4578a83bf5e167346"
    "88dd87a5d28d9adef5bcd294ba2b81891b6a8d9aeac235f8aae383bd25cd82768045bf20867b6c58f51f371c09cb9d"
    "88a50c0a31488c1d82b3bec0a90e239dbf14d60744";

static const char RSA1024_PEM[] = "-----BEGIN PUBLIC KEY-----\n"
                                  "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC/ixo80/Kr2dMGUlyfXw+oHrlI\n"
                                  "gV7rHxKXywByLfwviHqEDMwMzQvkbVXhXfJlHya9MeN6G5byQtEyZU6ZZhUVMBg+\n"
                                  "kVU5mJKAhDpMSLo9pbHJuGA/1BeASN+OMxK913yDKRsBFjBHztaWLKzmF5KPlFj5\n"
                                  "9CEP9N8m7vl2PWF43QIDAQAB\n"
                                  "-----END PUBLIC KEY-----\n";

static const char SHA256_ABC[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
static const char SHA512_ABC[] =
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
static const char SHA256_EMPTY[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const char SHA512_EMPTY[] =
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

/* ---- helpers ------------------------------------------------------------- */

static json_t *parse_ok(const char *text)
{
    json_t *v = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rftuf_json_parse((const uint8_t *)text, strlen(text), "test.json", &v, &err);
    if (rc != RF_OK)
        fail_msg("parse of %s failed: %s: %s", text, rf_strerror(rc), err.msg);
    assert_non_null(v);
    return v;
}

static void parse_fail_n(const char *text, size_t len, rf_rc want)
{
    json_t *v = (json_t *)0x1;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rftuf_json_parse((const uint8_t *)text, len, "test.json", &v, &err);
    if (rc != want)
        fail_msg("parse of %.80s: got %s, want %s", text, rf_strerror(rc), rf_strerror(want));
    assert_ptr_equal(v, (json_t *)0x1); /* untouched on failure */
    assert_int_equal(err.rc, want);
    assert_string_equal(err.file, "test.json");
    assert_true(err.msg[0] != '\0');
}

static void parse_fail(const char *text)
{
    parse_fail_n(text, strlen(text), RF_E_PARSE);
}

/*
 * Read canonical JSON back. Canonical JSON writes control characters inside
 * strings raw (a PEM key's newlines), which strict JSON does not allow, so
 * escape them first; canonical JSON has no bytes below 0x20 outside strings.
 */
static json_t *parse_canon(const char *c, size_t len)
{
    rf_buf b;
    rf_buf_init(&b);
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)c[i] < 0x20)
            rf_buf_printf(&b, "\\u%04x", (unsigned)(unsigned char)c[i]);
        else
            rf_buf_append(&b, c + i, 1);
    }
    assert_false(b.oom);
    json_t *v = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rftuf_json_parse(b.data, b.len, "canonical", &v, &err);
    if (rc != RF_OK)
        fail_msg("canonical text %s does not parse back: %s", (const char *)b.data, err.msg);
    rf_buf_free(&b);
    return v;
}

/* Canonical form of a value, as a malloc'd NUL-terminated string (*len bytes). */
static char *canon_of(const json_t *v, size_t *len)
{
    rf_buf b;
    rf_buf_init(&b);
    rf_err err;
    rf_rc rc = rftuf_cjson(v, &b, &err);
    if (rc != RF_OK)
        fail_msg("cjson failed: %s: %s", rf_strerror(rc), err.msg);
    *len = b.len;
    char *s = rf_buf_take(&b);
    assert_non_null(s);
    return s;
}

/* Parse text, write it canonically: must be exactly want (want_len bytes);
 * and the canonical text parses back to the same canonical text. */
static void canon_is_n(const char *text, const char *want, size_t want_len)
{
    json_t *v = parse_ok(text);
    size_t len = 0;
    char *got = canon_of(v, &len);
    if (len != want_len || memcmp(got, want, len) != 0)
        fail_msg("canonical form of %s is %s, want %s", text, got, want);
    json_t *again = parse_canon(got, len);
    size_t len2 = 0;
    char *got2 = canon_of(again, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(got2, got, len);
    free(got2);
    json_decref(again);
    free(got);
    json_decref(v);
}

static void canon_is(const char *text, const char *want)
{
    canon_is_n(text, want, strlen(want));
}

static json_t *key_obj(const char *keytype, const char *scheme, const char *pub)
{
    json_t *o = json_pack("{s:s, s:s, s:{s:s}}", "keytype", keytype, "scheme", scheme,
                          "keyval", "public", pub);
    assert_non_null(o);
    return o;
}

static rftuf_key *key_ok(const json_t *obj)
{
    rftuf_key *k = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rftuf_key_from_json(obj, &k, &err);
    if (rc != RF_OK)
        fail_msg("key_from_json failed: %s: %s", rf_strerror(rc), err.msg);
    assert_non_null(k);
    return k;
}

static void key_bad(const json_t *obj)
{
    rftuf_key *k = (rftuf_key *)0x1;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rftuf_key_from_json(obj, &k, &err);
    char *dump = json_dumps(obj, JSON_COMPACT);
    if (rc != RF_E_PARSE)
        fail_msg("key %.120s: got %s, want RF_E_PARSE", dump, rf_strerror(rc));
    free(dump);
    assert_ptr_equal(k, (rftuf_key *)0x1);
    assert_int_equal(err.rc, RF_E_PARSE);
    assert_true(err.msg[0] != '\0');
}

static void key_bad_text(const char *text)
{
    json_t *o = parse_ok(text);
    key_bad(o);
    json_decref(o);
}

static int verify(const rftuf_key *k, const char *msg, const char *sig)
{
    return rftuf_key_verify(k, (const uint8_t *)msg, strlen(msg), sig);
}

/* Flip the lowest bit of the hex digit at i. */
static void flip_hex(char *s, size_t i)
{
    static const char digits[] = "0123456789abcdef";
    const char *p = strchr(digits, s[i]);
    assert_non_null(p);
    s[i] = digits[(p - digits) ^ 1];
}

/* A scratch directory for key files, removed by the test that made it. */
static char *scratch_dir(void)
{
    char tmpl[] = "/tmp/rf_tuf_test.XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return rf_strdup(d);
}

static char *path_in(const char *dir, const char *name)
{
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_printf(&b, "%s/%s", dir, name);
    char *p = rf_buf_take(&b);
    assert_non_null(p);
    return p;
}

/* ---- canonical JSON ------------------------------------------------------ */

static void test_cjson_sorted_keys(void **state)
{
    (void)state;
    canon_is("{\"b\":1,\"a\":2}", "{\"a\":2,\"b\":1}");
    /* keys that differ only in later bytes, and a key that prefixes others */
    canon_is("{\"abd\":1,\"abc\":2,\"ab\":3,\"abcd\":4,\"a\":5}",
             "{\"a\":5,\"ab\":3,\"abc\":2,\"abcd\":4,\"abd\":1}");
    /* upper case sorts before lower case (byte order, not a collation) */
    canon_is("{\"a\":1,\"B\":2,\"_\":3}", "{\"B\":2,\"_\":3,\"a\":1}");
    /* non-ASCII keys in UTF-8 byte order: z (7a) < é (c3 a9) < éa < 日 (e6)
     * < Ａ U+FF21 (ef bc a1) < 😀 U+1F600 (f0 9f 98 80). UTF-16 order would
     * put the emoji (d83d) before U+FF21. */
    canon_is("{\"\\ud83d\\ude00\":6,\"\\uff21\":5,\"\xe6\x97\xa5\":4,\"\\u00e9a\":3,"
             "\"\xc3\xa9\":2,\"z\":1}",
             "{\"z\":1,\"\xc3\xa9\":2,\"\xc3\xa9" "a\":3,\"\xe6\x97\xa5\":4,"
             "\"\xef\xbc\xa1\":5,\"\xf0\x9f\x98\x80\":6}");
}

static void test_cjson_strings(void **state)
{
    (void)state;
    /* only '"' and '\' are escaped; "\/" in the input is just "/" */
    canon_is("[\"a\\\"b\\\\c\\/d\"]", "[\"a\\\"b\\\\c/d\"]");
    /* control characters and non-ASCII pass through as raw bytes */
    canon_is("[\"x\\n\\t\\u0001\\u001f\\u007f\\u00e9\\u20ac\"]",
             "[\"x\n\t\x01\x1f\x7f\xc3\xa9\xe2\x82\xac\"]");
    canon_is("{\"k\\\"\\\\\":\"\"}", "{\"k\\\"\\\\\":\"\"}");
    canon_is("\"\\\\\\\\\"", "\"\\\\\\\\\"");
}

static void test_cjson_values(void **state)
{
    (void)state;
    canon_is("  { \"z\" : [ 1 , { \"y\" : null , \"x\" : true } ] ,\n"
             " \"a\" : { \"c\" : false , \"b\" : [ ] } , \"e\" : { } }  \n",
             "{\"a\":{\"b\":[],\"c\":false},\"e\":{},\"z\":[1,{\"x\":true,\"y\":null}]}");
    canon_is("[-9223372036854775808,9223372036854775807,0,-0,-1,10]",
             "[-9223372036854775808,9223372036854775807,0,0,-1,10]");
    canon_is("[[[[]]],[{}]]", "[[[[]]],[{}]]");
    canon_is("7", "7");
    canon_is("null", "null");
}

/* Values built in code (as the repository side builds them): insertion
 * order is not the output order, and keys are compared with their length,
 * so an embedded NUL sorts as a byte. */
static void test_cjson_built(void **state)
{
    (void)state;
    json_t *o = json_object();
    assert_int_equal(json_object_setn_new(o, "a\0b", 3, json_integer(3)), 0);
    assert_int_equal(json_object_setn_new(o, "b", 1, json_integer(4)), 0);
    assert_int_equal(json_object_setn_new(o, "a", 1, json_integer(1)), 0);
    assert_int_equal(json_object_setn_new(o, "a\0", 2, json_integer(2)), 0);
    size_t len = 0;
    char *got = canon_of(o, &len);
    static const char want[] = "{\"a\":1,\"a\0\":2,\"a\0b\":3,\"b\":4}";
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(got, want, len);
    free(got);

    /* a real number cannot be written */
    assert_int_equal(json_object_set_new(o, "r", json_real(1.5)), 0);
    rf_buf b;
    rf_buf_init(&b);
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rftuf_cjson(o, &b, &err), RF_E_PARSE);
    assert_int_equal(err.rc, RF_E_PARSE);
    rf_buf_free(&b);
    json_decref(o);
}

static void test_json_parse_rejects(void **state)
{
    (void)state;
    /* real numbers, anywhere in the tree */
    parse_fail("{\"a\":1.0}");
    parse_fail("{\"a\":[1,{\"b\":[2e3]}]}");
    parse_fail("1.5");
    parse_fail("[-0.0]");
    /* duplicate keys, also nested */
    parse_fail("{\"a\":1,\"a\":2}");
    parse_fail("{\"x\":{\"a\":1,\"b\":2,\"a\":1}}");
    /* trailing garbage: the whole buffer is one value */
    parse_fail("{\"a\":1} x");
    parse_fail("{\"a\":1}{}");
    parse_fail("[1][2]");
    /* NUL in strings, escaped or raw, and in keys */
    parse_fail("[\"a\\u0000b\"]");
    parse_fail("{\"a\\u0000\":1}");
    parse_fail_n("[\"a\0b\"]", 7, RF_E_PARSE);
    parse_fail_n("[1]\0", 4, RF_E_PARSE);
    /* integers outside int64 */
    parse_fail("[9223372036854775808]");
    parse_fail("[-9223372036854775809]");
    /* not JSON at all, invalid UTF-8, empty */
    parse_fail("");
    parse_fail("   ");
    parse_fail("{'a':1}");
    parse_fail("[\"\xc3\x28\"]");
    parse_fail("[1,]");

    /* the message carries line and column */
    json_t *v = NULL;
    rf_err err;
    rf_err_clear(&err);
    const char *text = "{\n  \"a\": x\n}";
    assert_int_equal(rftuf_json_parse((const uint8_t *)text, strlen(text), "root.json", &v, &err),
                     RF_E_PARSE);
    assert_null(v);
    assert_string_equal(err.file, "root.json");
    assert_int_equal(err.line, 2);
    assert_true(err.col > 0);
}

static void test_json_parse_depth(void **state)
{
    (void)state;
    /* jansson bounds nesting; a deep bomb is an error, not a stack overflow */
    size_t n = 100000;
    char *s = malloc(2 * n);
    assert_non_null(s);
    memset(s, '[', n);
    memset(s + n, ']', n);
    parse_fail_n(s, 2 * n, RF_E_PARSE);
    /* and what it accepts, cjson writes */
    size_t ok = 1000;
    json_t *v = NULL;
    rf_err err;
    assert_int_equal(rftuf_json_parse((const uint8_t *)s + n - ok, 2 * ok, "deep", &v, &err),
                     RF_OK);
    size_t len = 0;
    char *c = canon_of(v, &len);
    assert_int_equal(len, 2 * ok);
    assert_memory_equal(c, s + n - ok, len);
    free(c);
    json_decref(v);
    free(s);
}

/* ---- key ids ------------------------------------------------------------- */

static void test_keyid_known_answer(void **state)
{
    (void)state;
    /* the key object as another tool might lay it out */
    json_t *o = parse_ok("{ \"scheme\": \"ed25519\", \"keyval\": { \"public\": "
                         "\"03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8\" },"
                         " \"keytype\": \"ed25519\" }");
    size_t len = 0;
    char *c = canon_of(o, &len);
    assert_string_equal(c, ED_CANON);
    free(c);
    char id[65];
    rf_err err;
    assert_int_equal(rftuf_keyid(o, id, &err), RF_OK);
    assert_string_equal(id, ED_KEYID);
    json_decref(o);

    /* a key object with a real number has no canonical form, so no key id */
    json_t *r = json_pack("{s:f}", "x", 1.5);
    assert_non_null(r);
    assert_int_equal(rftuf_keyid(r, id, &err), RF_E_PARSE);
    json_decref(r);
}

/* ---- keygen, signer, sign, verify for each key type ----------------------- */

static void check_type(rf_tuf_keytype type, const char *keytype, const char *scheme)
{
    rf_err err;
    rf_err_clear(&err);
    char *priv = NULL, *pub = NULL;
    char keyid[65];
    rf_rc rc = rf_tuf_keygen(type, &priv, &pub, keyid, &err);
    if (rc != RF_OK)
        fail_msg("keygen %s: %s: %s", keytype, rf_strerror(rc), err.msg);
    assert_non_null(priv);
    assert_non_null(pub);
    assert_int_equal(strncmp(priv, "-----BEGIN PRIVATE KEY-----\n", 28), 0); /* PKCS#8 */

    /* the public key object: canonical, of the right type, key id = sha256 */
    json_t *obj = parse_canon(pub, strlen(pub));
    size_t clen = 0;
    char *canon = canon_of(obj, &clen);
    assert_string_equal(canon, pub);
    free(canon);
    assert_int_equal(json_object_size(obj), 3);
    assert_string_equal(json_string_value(json_object_get(obj, "keytype")), keytype);
    assert_string_equal(json_string_value(json_object_get(obj, "scheme")), scheme);
    json_t *keyval = json_object_get(obj, "keyval");
    assert_int_equal(json_object_size(keyval), 1);
    const char *pubval = json_string_value(json_object_get(keyval, "public"));
    assert_non_null(pubval);
    if (type == RF_TUF_KEY_ED25519) {
        assert_int_equal(strlen(pubval), 64);
        assert_int_equal(strspn(pubval, "0123456789abcdef"), 64);
    } else {
        assert_int_equal(strncmp(pubval, "-----BEGIN PUBLIC KEY-----\n", 27), 0);
        size_t pl = strlen(pubval);
        assert_true(pl > 25);
        assert_string_equal(pubval + pl - 25, "-----END PUBLIC KEY-----\n");
        /* canonical JSON keeps the PEM's newlines raw (so it is not strict
         * JSON): the key id covers exactly these bytes, as in other tools */
        assert_non_null(strstr(pub, "-----BEGIN PUBLIC KEY-----\n"));
    }
    char id2[65];
    rftuf_sha256_hex((const uint8_t *)pub, strlen(pub), id2);
    assert_string_equal(keyid, id2);
    assert_int_equal(rftuf_keyid(obj, id2, &err), RF_OK);
    assert_string_equal(keyid, id2);

    /* the private key through a file, as the repository keeps it */
    char *dir = scratch_dir();
    char *path = path_in(dir, "key.pem");
    assert_int_equal(rf_file_write_atomic(path, priv, strlen(priv), 0600, &err), RF_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    rf_tuf_signer *s = NULL;
    rc = rf_tuf_signer_load(path, &s, &err);
    if (rc != RF_OK)
        fail_msg("signer_load %s: %s: %s", keytype, rf_strerror(rc), err.msg);
    assert_string_equal(rf_tuf_signer_keyid(s), keyid);
    assert_string_equal(rf_tuf_signer_pub_json(s), pub);

    /* sign and verify */
    rftuf_key *k = key_ok(obj);
    char *sig = NULL;
    assert_int_equal(rftuf_sign(s, (const uint8_t *)MSG, strlen(MSG), &sig, &err), RF_OK);
    size_t sl = strlen(sig);
    assert_int_equal(strspn(sig, "0123456789abcdef"), sl);
    if (type == RF_TUF_KEY_ED25519)
        assert_int_equal(sl, 128);
    else if (type == RF_TUF_KEY_RSA_PSS)
        assert_int_equal(sl, 2 * 3072 / 8);
    else
        assert_int_equal(strncmp(sig, "30", 2), 0); /* ecdsa: a DER SEQUENCE */
    assert_int_equal(verify(k, MSG, sig), 1);

    /* uppercase hex is the same signature */
    char *upper = rf_strdup(sig);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    assert_int_equal(verify(k, MSG, upper), 1);
    free(upper);

    /* one bit of the message */
    char msg2[sizeof(MSG)];
    memcpy(msg2, MSG, sizeof(MSG));
    msg2[10] ^= 1;
    assert_int_equal(verify(k, msg2, sig), 0);
    assert_int_equal(verify(k, "", sig), 0);

    /* one bit of the signature, at its start, middle and end */
    size_t where[3] = {sl > 10 ? 9 : 0, sl / 2, sl - 1};
    for (int i = 0; i < 3; i++) {
        char *bad = rf_strdup(sig);
        flip_hex(bad, where[i]);
        assert_int_equal(verify(k, MSG, bad), 0);
        free(bad);
    }

    /* malformed signatures: empty, odd length, not hex, too long, extra */
    assert_int_equal(verify(k, MSG, ""), 0);
    char *odd = rf_strndup(sig, sl - 1);
    assert_int_equal(verify(k, MSG, odd), 0);
    free(odd);
    rf_buf extra; /* a valid signature and one more digit: odd, refused */
    rf_buf_init(&extra);
    rf_buf_printf(&extra, "%s0", sig);
    assert_int_equal(verify(k, MSG, (const char *)extra.data), 0);
    rf_buf_free(&extra);
    char *nothex = rf_strdup(sig);
    nothex[sl / 2] = 'g';
    assert_int_equal(verify(k, MSG, nothex), 0);
    nothex[sl / 2] = ' ';
    assert_int_equal(verify(k, MSG, nothex), 0);
    free(nothex);
    rf_buf longer;
    rf_buf_init(&longer);
    rf_buf_printf(&longer, "%s00", sig);
    assert_int_equal(verify(k, MSG, (const char *)longer.data), 0);
    for (int i = 0; i < 1200; i++)
        rf_buf_append(&longer, "00", 2);
    assert_int_equal(verify(k, MSG, (const char *)longer.data), 0);
    rf_buf_free(&longer);
    assert_int_equal(rftuf_key_verify(k, (const uint8_t *)MSG, strlen(MSG), NULL), 0);
    assert_int_equal(rftuf_key_verify(NULL, (const uint8_t *)MSG, strlen(MSG), sig), 0);

    /* the empty message signs and verifies too */
    char *esig = NULL;
    assert_int_equal(rftuf_sign(s, NULL, 0, &esig, &err), RF_OK);
    assert_int_equal(rftuf_key_verify(k, NULL, 0, esig), 1);
    assert_int_equal(verify(k, MSG, esig), 0);
    free(esig);

    /* a signature by another key of the same type */
    char *priv2 = NULL, *pub2 = NULL;
    char keyid2[65];
    assert_int_equal(rf_tuf_keygen(type, &priv2, &pub2, keyid2, &err), RF_OK);
    assert_string_not_equal(keyid2, keyid);
    char *path2 = path_in(dir, "key2.pem");
    assert_int_equal(rf_file_write_atomic(path2, priv2, strlen(priv2), 0600, &err), RF_OK);
    rf_tuf_signer *s2 = NULL;
    assert_int_equal(rf_tuf_signer_load(path2, &s2, &err), RF_OK);
    char *sig2 = NULL;
    assert_int_equal(rftuf_sign(s2, (const uint8_t *)MSG, strlen(MSG), &sig2, &err), RF_OK);
    assert_int_equal(verify(k, MSG, sig2), 0);
    json_t *obj2 = parse_canon(pub2, strlen(pub2));
    rftuf_key *k2 = key_ok(obj2);
    assert_int_equal(verify(k2, MSG, sig2), 1);
    assert_int_equal(verify(k2, MSG, sig), 0);

    rftuf_key_free(k2);
    json_decref(obj2);
    free(sig2);
    rf_tuf_signer_free(s2);
    unlink(path2);
    free(path2);
    free(priv2);
    free(pub2);
    free(sig);
    rftuf_key_free(k);
    rf_tuf_signer_free(s);
    unlink(path);
    free(path);
    rmdir(dir);
    free(dir);
    json_decref(obj);
    free(priv);
    free(pub);
}

static void test_ed25519(void **state)
{
    (void)state;
    check_type(RF_TUF_KEY_ED25519, "ed25519", "ed25519");
}

static void test_ecdsa(void **state)
{
    (void)state;
    check_type(RF_TUF_KEY_ECDSA_P256, "ecdsa", "ecdsa-sha2-nistp256");
}

static void test_rsa(void **state)
{
    (void)state;
    check_type(RF_TUF_KEY_RSA_PSS, "rsa", "rsassa-pss-sha256");
}

static void test_keytype_parse(void **state)
{
    (void)state;
    rf_tuf_keytype t;
    assert_int_equal(rf_tuf_keytype_parse("ed25519", &t), RF_OK);
    assert_int_equal(t, RF_TUF_KEY_ED25519);
    assert_int_equal(rf_tuf_keytype_parse("ecdsa", &t), RF_OK);
    assert_int_equal(t, RF_TUF_KEY_ECDSA_P256);
    assert_int_equal(rf_tuf_keytype_parse("rsa", &t), RF_OK);
    assert_int_equal(t, RF_TUF_KEY_RSA_PSS);
    assert_int_equal(rf_tuf_keytype_parse("RSA", &t), RF_E_USAGE);
    assert_int_equal(rf_tuf_keytype_parse("", &t), RF_E_USAGE);
    assert_int_equal(rf_tuf_keytype_parse("ed448", &t), RF_E_USAGE);
    assert_int_equal(rf_tuf_keytype_parse(NULL, &t), RF_E_USAGE);

    char *priv = NULL, *pub = NULL;
    char id[65];
    rf_err err;
    rf_err_clear(&err);
    assert_int_equal(rf_tuf_keygen((rf_tuf_keytype)9, &priv, &pub, id, &err), RF_E_USAGE);
    assert_null(priv);
    assert_null(pub);
}

/* ---- interoperability: keys and signatures made by another TUF stack ------ */

static void test_interop_ed25519(void **state)
{
    (void)state;
    json_t *o = key_obj("ed25519", "ed25519", ED_PUB);
    rftuf_key *k = key_ok(o);
    assert_int_equal(verify(k, MSG, ED_SIG), 1);
    char sig[sizeof(ED_SIG)];
    memcpy(sig, ED_SIG, sizeof(sig));
    flip_hex(sig, 0);
    assert_int_equal(verify(k, MSG, sig), 0);
    assert_int_equal(verify(k, "{\"_type\":\"targets\",\"version\":2}", ED_SIG), 0);
    rftuf_key_free(k);
    json_decref(o);

    /* an uppercase public key is the same key */
    char up[sizeof(ED_PUB)];
    for (size_t i = 0; i < sizeof(ED_PUB); i++)
        up[i] = (ED_PUB[i] >= 'a' && ED_PUB[i] <= 'f') ? (char)(ED_PUB[i] - 32) : ED_PUB[i];
    o = key_obj("ed25519", "ed25519", up);
    k = key_ok(o);
    assert_int_equal(verify(k, MSG, ED_SIG), 1);
    rftuf_key_free(k);
    json_decref(o);
}

static void test_interop_ecdsa(void **state)
{
    (void)state;
    /* both key type spellings TUF tools write */
    const char *types[2] = {"ecdsa", "ecdsa-sha2-nistp256"};
    for (int i = 0; i < 2; i++) {
        json_t *o = key_obj(types[i], "ecdsa-sha2-nistp256", EC_PEM);
        rftuf_key *k = key_ok(o);
        assert_int_equal(verify(k, MSG, EC_SIG), 1);
        char sig[sizeof(EC_SIG)];
        memcpy(sig, EC_SIG, sizeof(sig));
        flip_hex(sig, 40);
        assert_int_equal(verify(k, MSG, sig), 0);
        assert_int_equal(verify(k, "{\"_type\":\"targets\",\"version\":2}", EC_SIG), 0);
        /* a raw 64-byte (r||s) signature is not DER: refused */
        assert_int_equal(verify(k, MSG, ED_SIG), 0);
        rftuf_key_free(k);
        json_decref(o);
    }
}

static void test_interop_rsa(void **state)
{
    (void)state;
    json_t *o = key_obj("rsa", "rsassa-pss-sha256", RSA_PEM);
    rftuf_key *k = key_ok(o);
    assert_int_equal(verify(k, MSG, RSA_SIG), 1);
    assert_int_equal(verify(k, MSG, RSA_SIG_MAXSALT), 1); /* any salt length */
    char sig[sizeof(RSA_SIG)];
    memcpy(sig, RSA_SIG, sizeof(sig));
    flip_hex(sig, 100);
    assert_int_equal(verify(k, MSG, sig), 0);
    assert_int_equal(verify(k, "{\"_type\":\"targets\",\"version\":2}", RSA_SIG), 0);
    assert_int_equal(verify(k, MSG, EC_SIG), 0);
    rftuf_key_free(k);
    json_decref(o);
}

/* Well-formed key objects we cannot use verify nothing; they are no error. */
static void test_unknown_keys(void **state)
{
    (void)state;
    json_t *objs[5] = {
        key_obj("ed448", "ed448", "00"),
        key_obj("rsa", "rsa-pkcs1v15-sha256", RSA_PEM),
        key_obj("rsa", "rsassa-pss-sha512", RSA_PEM),
        key_obj("ed25519", "ecdsa-sha2-nistp256", ED_PUB),
        json_pack("{s:s, s:s, s:{}}", "keytype", "sphincs", "scheme", "sphincs-shake",
                  "keyval"),
    };
    const char *sigs[3] = {ED_SIG, EC_SIG, RSA_SIG};
    for (int i = 0; i < 5; i++) {
        assert_non_null(objs[i]);
        rftuf_key *k = key_ok(objs[i]);
        for (int j = 0; j < 3; j++)
            assert_int_equal(verify(k, MSG, sigs[j]), 0);
        rftuf_key_free(k);
        json_decref(objs[i]);
    }
}

static void test_malformed_keys(void **state)
{
    (void)state;
    key_bad_text("[]");
    key_bad_text("\"ed25519\"");
    key_bad_text("{\"keytype\":\"ed25519\",\"scheme\":\"ed25519\"}");                 /* no keyval */
    key_bad_text("{\"keytype\":\"ed25519\",\"scheme\":\"ed25519\",\"keyval\":\"x\"}"); /* not object */
    key_bad_text("{\"scheme\":\"ed25519\",\"keyval\":{\"public\":\"00\"}}");          /* no keytype */
    key_bad_text("{\"keytype\":1,\"scheme\":\"ed25519\",\"keyval\":{}}");
    key_bad_text("{\"keytype\":\"ed25519\",\"keyval\":{}}"); /* no scheme */
    key_bad_text("{\"keytype\":\"ed25519\",\"scheme\":\"ed25519\",\"keyval\":{}}"); /* no public */
    key_bad_text("{\"keytype\":\"ed25519\",\"scheme\":\"ed25519\",\"keyval\":{\"public\":7}}");
    key_bad_text("{\"keytype\":\"rsa\",\"scheme\":\"rsassa-pss-sha256\",\"keyval\":{\"public\":null}}");

    /* ed25519 public: 62 and 66 digits, non-hex, a PEM */
    json_t *o = key_obj("ed25519", "ed25519", "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc866412553b");
    key_bad(o);
    json_decref(o);
    o = key_obj("ed25519", "ed25519",
                "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b800");
    key_bad(o);
    json_decref(o);
    o = key_obj("ed25519", "ed25519",
                "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531bx");
    key_bad(o);
    json_decref(o);
    o = key_obj("ed25519", "ed25519", EC_PEM);
    key_bad(o);
    json_decref(o);

    /* a PEM whose key is not what the object declares */
    o = key_obj("ecdsa", "ecdsa-sha2-nistp256", RSA_PEM);
    key_bad(o);
    json_decref(o);
    o = key_obj("rsa", "rsassa-pss-sha256", EC_PEM);
    key_bad(o);
    json_decref(o);
    /* an EC key on another curve (P-384) declared as P-256 */
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(p384);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, p384), 1);
    char *pem = NULL;
    long n = BIO_get_mem_data(bio, &pem);
    assert_true(n > 0);
    char *p384_pem = rf_strndup(pem, (size_t)n);
    o = key_obj("ecdsa", "ecdsa-sha2-nistp256", p384_pem);
    key_bad(o);
    json_decref(o);
    free(p384_pem);
    BIO_free(bio);
    EVP_PKEY_free(p384);
    /* too small an RSA key */
    o = key_obj("rsa", "rsassa-pss-sha256", RSA1024_PEM);
    key_bad(o);
    json_decref(o);
    /* not PEM, a truncated PEM, an empty string */
    o = key_obj("rsa", "rsassa-pss-sha256", "not a key");
    key_bad(o);
    json_decref(o);
    char half[sizeof(EC_PEM)];
    memcpy(half, EC_PEM, sizeof(EC_PEM) / 2);
    half[sizeof(EC_PEM) / 2] = '\0';
    o = key_obj("ecdsa", "ecdsa-sha2-nistp256", half);
    key_bad(o);
    json_decref(o);
    o = key_obj("ecdsa", "ecdsa-sha2-nistp256", "");
    key_bad(o);
    json_decref(o);
    /* a PEM with a NUL inside (only a value built in code can hold one) */
    json_t *nul = json_pack("{s:s, s:s, s:{s:s%}}", "keytype", "ecdsa", "scheme",
                            "ecdsa-sha2-nistp256", "keyval", "public", EC_PEM, sizeof(EC_PEM));
    assert_non_null(nul);
    key_bad(nul);
    json_decref(nul);
}

/* ---- hashes -------------------------------------------------------------- */

static rf_rc hashes(const char *text, const char *data)
{
    json_t *h = parse_ok(text);
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rftuf_hashes_check(h, (const uint8_t *)data, strlen(data), "t.bin", &err);
    if (rc != RF_OK) {
        assert_int_equal(err.rc, rc);
        assert_string_equal(err.file, "t.bin");
        assert_true(err.msg[0] != '\0');
    }
    json_decref(h);
    return rc;
}

static void test_hash_hex(void **state)
{
    (void)state;
    char h256[65], h512[129];
    rftuf_sha256_hex((const uint8_t *)"abc", 3, h256);
    rftuf_sha512_hex((const uint8_t *)"abc", 3, h512);
    assert_string_equal(h256, SHA256_ABC);
    assert_string_equal(h512, SHA512_ABC);
    rftuf_sha256_hex(NULL, 0, h256);
    rftuf_sha512_hex(NULL, 0, h512);
    assert_string_equal(h256, SHA256_EMPTY);
    assert_string_equal(h512, SHA512_EMPTY);
}

static void test_hashes_check(void **state)
{
    (void)state;
    rf_buf t;
    rf_buf_init(&t);
    char wrong256[65], wrong512[129];
    memcpy(wrong256, SHA256_ABC, sizeof(wrong256));
    wrong256[63] = '0'; /* ...ad → ...a0 */
    memcpy(wrong512, SHA512_ABC, sizeof(wrong512));
    wrong512[0] = 'e';

#define H(...) (rf_buf_free(&t), rf_buf_printf(&t, __VA_ARGS__), (const char *)t.data)
    assert_int_equal(hashes(H("{\"sha256\":\"%s\"}", SHA256_ABC), "abc"), RF_OK);
    assert_int_equal(hashes(H("{\"sha512\":\"%s\"}", SHA512_ABC), "abc"), RF_OK);
    assert_int_equal(hashes(H("{\"sha256\":\"%s\",\"sha512\":\"%s\"}", SHA256_ABC, SHA512_ABC),
                            "abc"),
                     RF_OK);
    assert_int_equal(hashes(H("{\"sha256\":\"%s\"}", SHA256_EMPTY), ""), RF_OK);
    /* uppercase digests are the same digest */
    assert_int_equal(hashes(H("{\"sha256\":\"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB"
                              "410FF61F20015AD\"}"),
                            "abc"),
                     RF_OK);
    /* mismatches */
    assert_int_equal(hashes(H("{\"sha256\":\"%s\"}", wrong256), "abc"), RF_E_CHECKSUM);
    assert_int_equal(hashes(H("{\"sha512\":\"%s\"}", wrong512), "abc"), RF_E_CHECKSUM);
    assert_int_equal(hashes(H("{\"sha256\":\"%s\"}", SHA256_ABC), "abd"), RF_E_CHECKSUM);
    /* one listed known hash mismatching while another matches, either way */
    assert_int_equal(hashes(H("{\"sha256\":\"%s\",\"sha512\":\"%s\"}", SHA256_ABC, wrong512),
                            "abc"),
                     RF_E_CHECKSUM);
    assert_int_equal(hashes(H("{\"sha256\":\"%s\",\"sha512\":\"%s\"}", wrong256, SHA512_ABC),
                            "abc"),
                     RF_E_CHECKSUM);
    /* unknown algorithms are ignored, but one known one must be there */
    assert_int_equal(hashes("{\"md5\":\"900150983cd24fb0d6963f7d28e17f72\"}", "abc"),
                     RF_E_UNSUPPORTED);
    assert_int_equal(hashes("{\"sha3-256\":\"00\",\"blake2b\":\"00\"}", "abc"), RF_E_UNSUPPORTED);
    assert_int_equal(hashes(H("{\"md5\":\"00\",\"sha256\":\"%s\"}", SHA256_ABC), "abc"), RF_OK);
    assert_int_equal(hashes(H("{\"SHA256\":\"%s\"}", SHA256_ABC), "abc"), RF_E_UNSUPPORTED);
    /* malformed */
    assert_int_equal(hashes("{}", "abc"), RF_E_PARSE);
    assert_int_equal(hashes("[]", "abc"), RF_E_PARSE);
    assert_int_equal(hashes("{\"sha256\":5}", "abc"), RF_E_PARSE);
    assert_int_equal(hashes("{\"sha256\":\"ba7816bf\"}", "abc"), RF_E_PARSE);
    assert_int_equal(hashes(H("{\"sha256\":\"%s00\"}", SHA256_ABC), "abc"), RF_E_PARSE);
    assert_int_equal(hashes("{\"sha256\":\"zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410f"
                            "f61f20015ad\"}",
                            "abc"),
                     RF_E_PARSE);
    assert_int_equal(hashes(H("{\"sha512\":\"%s\"}", SHA256_ABC), "abc"), RF_E_PARSE);
#undef H
    rf_buf_free(&t);
}

/* ---- signer files -------------------------------------------------------- */

static void signer_fails(const char *path, rf_rc want)
{
    rf_tuf_signer *s = (rf_tuf_signer *)0x1;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_tuf_signer_load(path, &s, &err);
    if (rc != want)
        fail_msg("signer_load %s: got %s (%s), want %s", path, rf_strerror(rc), err.msg,
                 rf_strerror(want));
    assert_ptr_equal(s, (rf_tuf_signer *)0x1);
    assert_int_equal(err.rc, want);
    assert_true(err.msg[0] != '\0');
}

static void write_file(const char *path, const void *buf, size_t len)
{
    rf_err err;
    assert_int_equal(rf_file_write_atomic(path, buf, len, 0600, &err), RF_OK);
}

static void test_signer_files(void **state)
{
    (void)state;
    char *dir = scratch_dir();
    char *path = path_in(dir, "key.pem");

    signer_fails(path, RF_E_IO); /* missing */
    write_file(path, "not a key\n", 10);
    signer_fails(path, RF_E_PARSE);
    write_file(path, "", 0);
    signer_fails(path, RF_E_PARSE);

    /* a real key, truncated; with a byte of its body changed */
    char *priv = NULL, *pub = NULL;
    char id[65];
    rf_err err;
    assert_int_equal(rf_tuf_keygen(RF_TUF_KEY_ED25519, &priv, &pub, id, &err), RF_OK);
    size_t pl = strlen(priv);
    write_file(path, priv, pl / 2);
    signer_fails(path, RF_E_PARSE);
    priv[40] = priv[40] == 'A' ? 'B' : 'A';
    write_file(path, priv, pl);
    signer_fails(path, RF_E_PARSE);

    /* a public key is not a signer */
    write_file(path, EC_PEM, strlen(EC_PEM));
    signer_fails(path, RF_E_PARSE);

    /* too large to be a key file */
    size_t big = 64 * 1024 + 1;
    char *junk = malloc(big);
    assert_non_null(junk);
    memset(junk, 'A', big);
    write_file(path, junk, big);
    signer_fails(path, RF_E_LIMIT);
    free(junk);

    /* a well-formed private key of a type TUF here does not sign with */
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    assert_non_null(p384);
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PrivateKey(bio, p384, NULL, NULL, 0, NULL, NULL), 1);
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    assert_true(n > 0);
    write_file(path, data, (size_t)n);
    signer_fails(path, RF_E_UNSUPPORTED);
    BIO_free(bio);
    EVP_PKEY_free(p384);

    /* a directory */
    signer_fails(dir, RF_E_IO);

    unlink(path);
    free(path);
    rmdir(dir);
    free(dir);
    free(priv);
    free(pub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cjson_sorted_keys),
        cmocka_unit_test(test_cjson_strings),
        cmocka_unit_test(test_cjson_values),
        cmocka_unit_test(test_cjson_built),
        cmocka_unit_test(test_json_parse_rejects),
        cmocka_unit_test(test_json_parse_depth),
        cmocka_unit_test(test_keyid_known_answer),
        cmocka_unit_test(test_keytype_parse),
        cmocka_unit_test(test_ed25519),
        cmocka_unit_test(test_ecdsa),
        cmocka_unit_test(test_rsa),
        cmocka_unit_test(test_interop_ed25519),
        cmocka_unit_test(test_interop_ecdsa),
        cmocka_unit_test(test_interop_rsa),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_malformed_keys),
        cmocka_unit_test(test_hash_hex),
        cmocka_unit_test(test_hashes_check),
        cmocka_unit_test(test_signer_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
