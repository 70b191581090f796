// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wire/ts2021.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <sodium.h>

#include "core/wire/byteorder.h"

long ts2021_base64_encode(char *out, size_t cap, const uint8_t *in, size_t n)
{
    size_t need = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
    if (cap < need)
        return -1;
    sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_ORIGINAL);
    return (long)(need - 1);
}

long ts2021_base64_decode(uint8_t *out, size_t cap, const char *in, size_t n)
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, cap, in, n, "\r\n", &bin_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != in + n)
        return -1;
    return (long)bin_len;
}

static bool header_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

long ts2021_http_request(char *out, size_t cap, const char *host, const uint8_t init[TS2021_INIT_LEN])
{
    char b64[140];
    if (!host || !*host || !header_safe(host) ||
        ts2021_base64_encode(b64, sizeof(b64), init, TS2021_INIT_LEN) < 0)
        return -1;
    /* Header order as the Go client's, from the capture. */
    int n = snprintf(out, cap,
                     "POST " TS2021_PATH " HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "User-Agent: weft/" PACKAGE_VERSION "\r\n"
                     "Content-Length: 0\r\n"
                     "Connection: upgrade\r\n"
                     "Upgrade: " TS2021_UPGRADE "\r\n" TS2021_HDR_HANDSHAKE ": %s\r\n"
                     "\r\n",
                     host, b64);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

enum ts2021_upgrade_kind ts2021_upgrade_kind(const char *upgrade)
{
    if (!upgrade)
        return TS2021_UPGRADE_NONE;
    if (!strcasecmp(upgrade, TS2021_UPGRADE))
        return TS2021_UPGRADE_CONTROL;
    if (!strcasecmp(upgrade, "websocket"))
        return TS2021_UPGRADE_WEBSOCKET;
    return TS2021_UPGRADE_NONE;
}

int ts2021_handshake_header_parse(const char *value, uint8_t init[TS2021_INIT_LEN])
{
    if (!value || !*value)
        return TS2021_HS_BAD;
    size_t len = strlen(value);
    /* Decode into a bigger buffer so a wrong length is told apart from bad base64. */
    uint8_t tmp[3 * 1024];
    if (len > (sizeof(tmp) / 3) * 4)
        return TS2021_HS_BAD_LEN; /* far too long to be an initiation, whatever it decodes to */
    long n = ts2021_base64_decode(tmp, sizeof(tmp), value, len);
    if (n < 0)
        return TS2021_HS_BAD;
    if (n != TS2021_INIT_LEN)
        return TS2021_HS_BAD_LEN;
    memcpy(init, tmp, TS2021_INIT_LEN);
    return TS2021_HS_OK;
}

long ts2021_http_response_101(char *out, size_t cap)
{
    static const char r[] = "HTTP/1.1 101 Switching Protocols\r\n"
                            "Upgrade: " TS2021_UPGRADE "\r\n"
                            "Connection: upgrade\r\n"
                            "\r\n";
    if (cap < sizeof(r))
        return -1;
    memcpy(out, r, sizeof(r));
    return (long)sizeof(r) - 1;
}

bool ts2021_http_response_ok(int status, const char *upgrade)
{
    return status == 101 && upgrade && !strcmp(upgrade, TS2021_UPGRADE);
}

long ts2021_error_frame_encode(uint8_t *out, size_t cap, const char *text)
{
    size_t len = strlen(text);
    if (len > 65535)
        len = 65535;
    if (cap < 3 || cap - 3 < len)
        return -1;
    out[0] = TS2021_MSG_ERROR;
    wire_put_be16(out + 1, (uint16_t)len);
    memcpy(out + 3, text, len);
    return (long)(3 + len);
}

/* ---- early payload ---- */

long ts2021_early_noise_json(char *out, size_t cap, const uint8_t chal_pub[32])
{
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), chal_pub, 32);
    int n = snprintf(out, cap, "{\"nodeKeyChallenge\":\"chalpub:%s\"}", hex);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int ts2021_early_noise_parse(const char *json, size_t len, uint8_t chal_pub[32])
{
    if (len > TS2021_EARLY_MAX)
        return -1;
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return -1;
    struct json_object *o = json_tokener_parse_ex(tok, json, (int)len);
    int rc = -1;
    if (!o || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object))
        goto out;
    rc = 0;
    json_object_object_foreach (o, k, v) {
        if (strcasecmp(k, "nodeKeyChallenge"))
            continue;
        rc = 0;
        if (json_object_is_type(v, json_type_null))
            continue;
        const char *s = json_object_get_string(v);
        size_t bin_len = 0;
        const char *end = NULL;
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) != 8 + 64 ||
            strncmp(s, "chalpub:", 8) ||
            sodium_hex2bin(chal_pub, 32, s + 8, 64, NULL, &bin_len, &end) != 0 || bin_len != 32 ||
            end != s + 72) {
            rc = -1;
            break;
        }
        rc = 1;
    }
out:
    if (o)
        json_object_put(o);
    json_tokener_free(tok);
    return rc;
}

long ts2021_early_payload_encode(uint8_t *out, size_t cap, const char *json, size_t len)
{
    if (len > TS2021_EARLY_MAX || cap < TS2021_EARLY_HEADER_LEN || cap - TS2021_EARLY_HEADER_LEN < len)
        return -1;
    memcpy(out, TS2021_EARLY_MAGIC, TS2021_EARLY_MAGIC_LEN);
    wire_put_be32(out + TS2021_EARLY_MAGIC_LEN, (uint32_t)len);
    memcpy(out + TS2021_EARLY_HEADER_LEN, json, len);
    return (long)(TS2021_EARLY_HEADER_LEN + len);
}

void ts2021_early_init(struct ts2021_early *e) { memset(e, 0, sizeof(*e)); }

void ts2021_early_free(struct ts2021_early *e)
{
    free(e->json);
    e->json = NULL;
}

long ts2021_early_feed(struct ts2021_early *e, const uint8_t *in, size_t n)
{
    size_t used = 0;
    while (used < n && e->state == TS2021_EARLY_READING) {
        if (e->hdr_have < TS2021_EARLY_HEADER_LEN) {
            uint8_t c = in[used++];
            e->hdr[e->hdr_have++] = c;
            /* A byte that departs from the magic settles it: no early payload. What was taken so far
             * is HTTP/2 and goes back to the caller through hdr. */
            if (e->hdr_have <= TS2021_EARLY_MAGIC_LEN && c != (uint8_t)TS2021_EARLY_MAGIC[e->hdr_have - 1]) {
                e->state = TS2021_EARLY_NONE;
                break;
            }
            if (e->hdr_have == TS2021_EARLY_HEADER_LEN) {
                e->json_len = wire_be32(e->hdr + TS2021_EARLY_MAGIC_LEN);
                if (e->json_len > TS2021_EARLY_MAX || !(e->json = malloc((size_t)e->json_len + 1))) {
                    e->state = TS2021_EARLY_ERROR;
                    return -1;
                }
                e->json[e->json_len] = 0;
                if (e->json_len == 0)
                    e->state = TS2021_EARLY_GOT;
            }
            continue;
        }
        size_t take = e->json_len - e->json_have;
        if (take > n - used)
            take = n - used;
        memcpy(e->json + e->json_have, in + used, take);
        e->json_have += take;
        used += take;
        if (e->json_have == e->json_len)
            e->state = TS2021_EARLY_GOT;
    }
    return e->state == TS2021_EARLY_ERROR ? -1 : (long)used;
}
