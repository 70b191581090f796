// SPDX-License-Identifier: BSD-3-Clause
/* core/acme: base64url (RFC 4648 §10 vectors), a JWS that OpenSSL verifies independently from its own header's
 * JWK, the key authorization, a CSR with every name, the tls-alpn-01 certificate's acmeIdentifier extension
 * (RFC 8737 §3), and the parsers of the server's answers. The whole protocol runs against pebble in t/acme.t. */
#include "config.h"

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "core/acme/cert.h"
#include "core/acme/jws.h"
#include "core/acme/msg.h"
#include "t/tap.h"

/* base64url decode (no padding); returns length or -1 */
static long unb64(const char *s, unsigned char *out, size_t cap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned v = 0;
    int bits = 0;
    size_t n = 0;
    for (; *s; s++) {
        const char *p = strchr(tab, *s);
        if (!p)
            return -1;
        v = v << 6 | (unsigned)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap)
                return -1;
            out[n++] = (unsigned char)(v >> bits);
        }
    }
    return (long)n;
}

static int verify_jws(const char *jws_text, char *payload, size_t cap, char *kid_out, size_t kcap)
{
    struct json_object *j = json_tokener_parse(jws_text), *v;
    const char *ph = json_object_object_get_ex(j, "protected", &v) ? json_object_get_string(v) : "";
    const char *pp = json_object_object_get_ex(j, "payload", &v) ? json_object_get_string(v) : "";
    const char *sg = json_object_object_get_ex(j, "signature", &v) ? json_object_get_string(v) : "";
    unsigned char hdr[1024], sig[64], x[32], y[32];
    long hl = unb64(ph, hdr, sizeof hdr - 1), pl = unb64(pp, (unsigned char *)payload, cap - 1);
    int ok = 0;
    if (hl < 0 || pl < 0 || unb64(sg, sig, sizeof sig) != 64)
        goto out;
    hdr[hl] = 0;
    payload[pl] = 0;
    struct json_object *h = json_tokener_parse((char *)hdr), *jwk, *alg;
    if (!h || !json_object_object_get_ex(h, "alg", &alg) || strcmp(json_object_get_string(alg), "ES256") != 0) {
        json_object_put(h);
        goto out;
    }
    kid_out[0] = 0;
    if (json_object_object_get_ex(h, "kid", &v))
        snprintf(kid_out, kcap, "%s", json_object_get_string(v));
    /* the key to verify with: the header's JWK when there is one */
    EVP_PKEY *pub = NULL;
    if (json_object_object_get_ex(h, "jwk", &jwk)) {
        struct json_object *jx, *jy;
        json_object_object_get_ex(jwk, "x", &jx);
        json_object_object_get_ex(jwk, "y", &jy);
        unsigned char point[65] = {4};
        if (unb64(json_object_get_string(jx), x, 32) == 32 && unb64(json_object_get_string(jy), y, 32) == 32) {
            memcpy(point + 1, x, 32);
            memcpy(point + 33, y, 32);
            OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
            OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
            OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
            OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
            EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
            EVP_PKEY_fromdata_init(kc);
            EVP_PKEY_fromdata(kc, &pub, EVP_PKEY_PUBLIC_KEY, params);
            EVP_PKEY_CTX_free(kc);
            OSSL_PARAM_free(params);
            OSSL_PARAM_BLD_free(b);
        }
    }
    json_object_put(h);
    if (!pub)
        goto out;
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
    unsigned char *der = NULL;
    int dl = i2d_ECDSA_SIG(es, &der);
    char input[4096];
    snprintf(input, sizeof input, "%s.%s", ph, pp);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
         EVP_DigestVerify(md, der, (size_t)dl, (unsigned char *)input, strlen(input)) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    EVP_PKEY_free(pub);
out:
    json_object_put(j);
    return ok;
}

int main(void)
{
    /* RFC 4648 §10, in the URL-safe alphabet without padding */
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    int all = 1;
    for (int i = 0; i < 7; i++) {
        char *b = acme_b64url(in[i], strlen(in[i]));
        all &= strcmp(b, want[i]) == 0;
        free(b);
    }
    ok(all, "base64url: RFC 4648 vectors");
    char *b = acme_b64url("\xfb\xff", 2);
    ok(strcmp(b, "-_8") == 0, "base64url uses - and _");
    free(b);

    EVP_PKEY *k = acme_key_new();
    ok(k != NULL, "a P-256 key");
    char payload[512], kid[256];
    char *jws = acme_jws(k, NULL, "nonce-1", "https://ca/new-acct", "{\"termsOfServiceAgreed\":true}");
    ok(jws && verify_jws(jws, payload, sizeof payload, kid, sizeof kid), "a JWS with the JWK verifies with OpenSSL");
    ok(strcmp(payload, "{\"termsOfServiceAgreed\":true}") == 0 && kid[0] == 0, "and carries the payload, no kid");
    free(jws);
    jws = acme_jws(k, "https://ca/acct/7", "nonce-2", "https://ca/order", "");
    struct json_object *j = json_tokener_parse(jws), *v;
    unsigned char hdr[512];
    json_object_object_get_ex(j, "protected", &v);
    long hl = unb64(json_object_get_string(v), hdr, sizeof hdr - 1);
    hdr[hl > 0 ? hl : 0] = 0;
    ok(strstr((char *)hdr, "\"kid\":\"https://ca/acct/7\"") && !strstr((char *)hdr, "jwk") &&
           strstr((char *)hdr, "\"nonce\":\"nonce-2\"") && strstr((char *)hdr, "\"url\":\"https://ca/order\""),
       "a POST-as-GET JWS names the account by kid, with nonce and url");
    json_object_object_get_ex(j, "payload", &v);
    ok(strcmp(json_object_get_string(v), "") == 0, "its payload is empty");
    json_object_put(j);
    free(jws);

    /* thumbprint: SHA-256 of the JWK with members in order; key authorization is token.thumbprint */
    char *jwk = acme_jwk(k), *tp = acme_thumbprint(k), *ka = acme_key_authorization("tok", k);
    unsigned char md[32];
    SHA256((unsigned char *)jwk, strlen(jwk), md);
    char *tp2 = acme_b64url(md, 32);
    ok(strncmp(jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", 31) == 0 && strcmp(tp, tp2) == 0 && strlen(tp) == 43,
       "JWK in RFC 7638 order, thumbprint is base64url(SHA-256(JWK))");
    ok(strncmp(ka, "tok.", 4) == 0 && strcmp(ka + 4, tp) == 0, "key authorization = token.thumbprint");

    /* the CSR names every domain */
    char *names[] = {"a.example", "b.example"};
    char *csr = acme_csr(k, names, 2);
    unsigned char der[2048];
    long dl = csr ? unb64(csr, der, sizeof der) : -1;
    const unsigned char *p = der;
    X509_REQ *req = dl > 0 ? d2i_X509_REQ(NULL, &p, dl) : NULL;
    STACK_OF(X509_EXTENSION) *exts = req ? X509_REQ_get_extensions(req) : NULL;
    GENERAL_NAMES *gens = exts ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL) : NULL;
    int n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    ok(req && X509_REQ_verify(req, k) == 1 && n == 2, "the CSR is signed by the key and has both names");
    GENERAL_NAMES_free(gens);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    free(csr);

    /* tls-alpn-01: critical acmeIdentifier = OCTET STRING(SHA-256(key authorization)) */
    char *cert, *key;
    ok(acme_alpn_cert("a.example", ka, &cert, &key) == 0, "the tls-alpn-01 certificate");
    BIO *bio = BIO_new_mem_buf(cert, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
    int idx = X509_get_ext_by_OBJ(x, oid, -1);
    X509_EXTENSION *e = idx >= 0 ? X509_get_ext(x, idx) : NULL;
    ASN1_OCTET_STRING *data = e ? X509_EXTENSION_get_data(e) : NULL;
    unsigned char want_ext[34] = {0x04, 0x20};
    SHA256((unsigned char *)ka, strlen(ka), want_ext + 2);
    ok(e && X509_EXTENSION_get_critical(e) && ASN1_STRING_length(data) == 34 &&
           memcmp(ASN1_STRING_get0_data(data), want_ext, 34) == 0,
       "has the critical acmeIdentifier extension with the key authorization's digest");
    ok(X509_check_host(x, "a.example", 0, 0, NULL) == 1, "for the name being validated");
    int64_t nb, na;
    int covers;
    ok(acme_cert_info(cert, strlen(cert), names, 1, &nb, &na, &covers) == 0 && covers && na > nb,
       "acme_cert_info reads its validity and names");
    ok(acme_cert_info(cert, strlen(cert), names, 2, &nb, &na, &covers) == 0 && !covers, "and sees a name it lacks");
    ASN1_OBJECT_free(oid);
    X509_free(x);
    free(cert);
    free(key);
    free(jwk);
    free(tp);
    free(tp2);
    free(ka);
    EVP_PKEY_free(k);

    /* the server's answers */
    static const char authz[] =
        "{\"identifier\":{\"type\":\"dns\",\"value\":\"a.example\"},\"status\":\"pending\",\"challenges\":["
        "{\"type\":\"http-01\",\"url\":\"https://ca/c/1\",\"token\":\"t1\"},"
        "{\"type\":\"tls-alpn-01\",\"url\":\"https://ca/c/2\",\"token\":\"t2\",\"error\":{\"detail\":\"x\"}}]}";
    struct acme_authz_msg a;
    ok(acme_authz_parse(authz, strlen(authz), "tls-alpn-01", &a) == 0 && strcmp(a.name, "a.example") == 0 &&
           strcmp(a.token, "t2") == 0 && strcmp(a.url, "https://ca/c/2") == 0 && strcmp(a.error, "x") == 0,
       "an authorization: the challenge of the kind asked for");
    acme_authz_msg_free(&a);
    ok(acme_authz_parse(authz, strlen(authz), "dns-01", &a) == 0 && a.token == NULL, "none of a kind not offered");
    acme_authz_msg_free(&a);
    static const char order[] = "{\"status\":\"pending\",\"authorizations\":[\"https://ca/a/1\",7,\"https://ca/a/2\"],"
                                "\"finalize\":\"https://ca/f\"}";
    struct acme_order_msg o;
    ok(acme_order_parse(order, strlen(order), &o) == 0 && o.nauthz == 2 && strcmp(o.authz[1], "https://ca/a/2") == 0 &&
           strcmp(o.finalize, "https://ca/f") == 0,
       "an order: its authorizations (strings only) and finalize URL");
    acme_order_msg_free(&o);
    ok(acme_order_parse("[1,2]", 5, &o) == -1 && acme_order_parse("{\"status\":3}", 12, &o) == -1,
       "not an order: refused");
    struct acme_directory d;
    ok(acme_directory_parse("{\"newNonce\":\"n\",\"newOrder\":\"o\"}", 31, &d) == -1, "a directory without newAccount");
    char buf[128];
    int bad;
    static const char prob[] = "{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"stale\"}";
    ok(acme_problem_parse(prob, strlen(prob), buf, sizeof buf, &bad) == 0 && bad &&
           strcmp(buf, "stale (urn:ietf:params:acme:error:badNonce)") == 0,
       "a problem document, badNonce recognised");
    return done_testing();
}
