// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wire/derp_frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <sodium.h>

#include "core/wire/byteorder.h"

const char *derp_frame_type_name(uint8_t type)
{
    switch (type) {
    case DERP_FRAME_SERVER_KEY: return "ServerKey";
    case DERP_FRAME_CLIENT_INFO: return "ClientInfo";
    case DERP_FRAME_SERVER_INFO: return "ServerInfo";
    case DERP_FRAME_SEND_PACKET: return "SendPacket";
    case DERP_FRAME_RECV_PACKET: return "RecvPacket";
    case DERP_FRAME_KEEP_ALIVE: return "KeepAlive";
    case DERP_FRAME_NOTE_PREFERRED: return "NotePreferred";
    case DERP_FRAME_PEER_GONE: return "PeerGone";
    case DERP_FRAME_PEER_PRESENT: return "PeerPresent";
    case DERP_FRAME_FORWARD_PACKET: return "ForwardPacket";
    case DERP_FRAME_WATCH_CONNS: return "WatchConns";
    case DERP_FRAME_CLOSE_PEER: return "ClosePeer";
    case DERP_FRAME_PING: return "Ping";
    case DERP_FRAME_PONG: return "Pong";
    case DERP_FRAME_HEALTH: return "Health";
    case DERP_FRAME_RESTARTING: return "Restarting";
    default: return NULL;
    }
}

/* ---- stream parser ---- */

long derp_frame_parse(const uint8_t *buf, size_t len, uint32_t max_payload, struct derp_frame *f)
{
    f->payload = NULL;
    if (len < DERP_FRAME_HEADER_LEN) {
        f->type = 0;
        f->len = 0;
        return DERP_PARSE_NEED_MORE;
    }
    f->type = buf[0];
    f->len = wire_be32(buf + 1);
    if (f->len > max_payload)
        return DERP_PARSE_OVERSIZED;
    if (len - DERP_FRAME_HEADER_LEN < f->len)
        return DERP_PARSE_NEED_MORE;
    f->payload = buf + DERP_FRAME_HEADER_LEN;
    return (long)(DERP_FRAME_HEADER_LEN + (size_t)f->len);
}

void derp_frame_header_put(uint8_t *out, uint8_t type, uint32_t payload_len)
{
    out[0] = type;
    wire_put_be32(out + 1, payload_len);
}

/* ---- decoders ---- */

int derp_server_key_decode(const uint8_t *p, size_t n, struct derp_server_key *out)
{
    /* Extra bytes after the key are allowed (reserved for future use). */
    if (n < DERP_MAGIC_LEN + DERP_KEY_LEN || memcmp(p, DERP_MAGIC, DERP_MAGIC_LEN) != 0)
        return -1;
    out->key = p + DERP_MAGIC_LEN;
    return 0;
}

int derp_client_info_frame_decode(const uint8_t *p, size_t n, struct derp_client_info_frame *out)
{
    if (n < DERP_KEY_LEN + DERP_NONCE_LEN + DERP_BOX_OVERHEAD || n > DERP_MAX_CLIENT_INFO_LEN)
        return -1;
    out->client_key = p;
    out->nonce = p + DERP_KEY_LEN;
    out->box = p + DERP_KEY_LEN + DERP_NONCE_LEN;
    out->box_len = n - DERP_KEY_LEN - DERP_NONCE_LEN;
    return 0;
}

int derp_server_info_frame_decode(const uint8_t *p, size_t n, struct derp_server_info_frame *out)
{
    if (n < DERP_NONCE_LEN + DERP_BOX_OVERHEAD || n > DERP_MAX_FRAME_SIZE)
        return -1;
    out->nonce = p;
    out->box = p + DERP_NONCE_LEN;
    out->box_len = n - DERP_NONCE_LEN;
    return 0;
}

static int packet_decode(const uint8_t *p, size_t n, int nkeys, struct derp_packet *out)
{
    size_t hdr = (size_t)nkeys * DERP_KEY_LEN;
    if (n < hdr || n - hdr > DERP_MAX_PACKET_SIZE)
        return -1;
    out->src_key = out->dst_key = NULL;
    out->data = p + hdr;
    out->data_len = n - hdr;
    return 0;
}

int derp_send_packet_decode(const uint8_t *p, size_t n, struct derp_packet *out)
{
    if (packet_decode(p, n, 1, out) < 0)
        return -1;
    out->dst_key = p;
    return 0;
}

int derp_recv_packet_decode(const uint8_t *p, size_t n, struct derp_packet *out)
{
    if (packet_decode(p, n, 1, out) < 0)
        return -1;
    out->src_key = p;
    return 0;
}

int derp_forward_packet_decode(const uint8_t *p, size_t n, struct derp_packet *out)
{
    if (packet_decode(p, n, 2, out) < 0)
        return -1;
    out->src_key = p;
    out->dst_key = p + DERP_KEY_LEN;
    return 0;
}

int derp_note_preferred_decode(const uint8_t *p, size_t n, bool *preferred)
{
    if (n != 1)
        return -1;
    *preferred = p[0] != 0;
    return 0;
}

int derp_peer_gone_decode(const uint8_t *p, size_t n, struct derp_peer_gone *out)
{
    /* The reason byte was added later: a bare key means "disconnected". */
    if (n < DERP_KEY_LEN)
        return -1;
    out->key = p;
    out->reason = n > DERP_KEY_LEN ? p[DERP_KEY_LEN] : DERP_PEER_GONE_DISCONNECTED;
    return 0;
}

int derp_peer_present_decode(const uint8_t *p, size_t n, struct derp_peer_present *out)
{
    memset(out, 0, sizeof(*out));
    if (n < DERP_KEY_LEN)
        return -1;
    out->key = p;
    if (n >= DERP_KEY_LEN + 18) {
        out->has_addr = true;
        memcpy(out->ip, p + DERP_KEY_LEN, 16);
        out->port = wire_be16(p + DERP_KEY_LEN + 16);
    }
    if (n >= DERP_PEER_PRESENT_LEN) {
        out->has_flags = true;
        out->flags = p[DERP_KEY_LEN + 18];
    }
    return 0;
}

int derp_close_peer_decode(const uint8_t *p, size_t n, const uint8_t **key)
{
    if (n != DERP_KEY_LEN)
        return -1;
    *key = p;
    return 0;
}

int derp_ping_decode(const uint8_t *p, size_t n, const uint8_t **data)
{
    if (n < DERP_PING_LEN || n > DERP_PING_MAX_LEN)
        return -1;
    *data = p;
    return 0;
}

int derp_restarting_decode(const uint8_t *p, size_t n, struct derp_restarting *out)
{
    if (n < DERP_RESTARTING_LEN)
        return -1;
    out->reconnect_in_ms = wire_be32(p);
    out->try_for_ms = wire_be32(p + 4);
    return 0;
}

/* ---- encoders ---- */

/* Header plus up to three pieces of payload; NULL/0 pieces are skipped. */
static long frame_put(uint8_t *out, size_t cap, uint8_t type, const void *a, size_t alen, const void *b,
                      size_t blen, const void *c, size_t clen)
{
    if (alen > DERP_MAX_FRAME_SIZE || blen > DERP_MAX_FRAME_SIZE || clen > DERP_MAX_FRAME_SIZE)
        return -1;
    size_t plen = alen + blen + clen;
    if (plen > DERP_MAX_FRAME_SIZE || cap < DERP_FRAME_HEADER_LEN || cap - DERP_FRAME_HEADER_LEN < plen)
        return -1;
    derp_frame_header_put(out, type, (uint32_t)plen);
    uint8_t *w = out + DERP_FRAME_HEADER_LEN;
    if (alen) {
        memmove(w, a, alen);
        w += alen;
    }
    if (blen) {
        memmove(w, b, blen);
        w += blen;
    }
    if (clen)
        memmove(w, c, clen);
    return (long)(DERP_FRAME_HEADER_LEN + plen);
}

long derp_server_key_encode(uint8_t *out, size_t cap, const uint8_t server_key[32])
{
    return frame_put(out, cap, DERP_FRAME_SERVER_KEY, DERP_MAGIC, DERP_MAGIC_LEN, server_key, DERP_KEY_LEN,
                     NULL, 0);
}

long derp_client_info_frame_encode(uint8_t *out, size_t cap, const uint8_t client_key[32],
                                   const uint8_t nonce[24], const uint8_t *box, size_t box_len)
{
    if (box_len < DERP_BOX_OVERHEAD)
        return -1;
    return frame_put(out, cap, DERP_FRAME_CLIENT_INFO, client_key, DERP_KEY_LEN, nonce, DERP_NONCE_LEN, box,
                     box_len);
}

long derp_server_info_frame_encode(uint8_t *out, size_t cap, const uint8_t nonce[24], const uint8_t *box,
                                   size_t box_len)
{
    if (box_len < DERP_BOX_OVERHEAD)
        return -1;
    return frame_put(out, cap, DERP_FRAME_SERVER_INFO, nonce, DERP_NONCE_LEN, box, box_len, NULL, 0);
}

long derp_send_packet_encode(uint8_t *out, size_t cap, const uint8_t dst_key[32], const uint8_t *data,
                             size_t len)
{
    if (len > DERP_MAX_PACKET_SIZE)
        return -1;
    return frame_put(out, cap, DERP_FRAME_SEND_PACKET, dst_key, DERP_KEY_LEN, data, len, NULL, 0);
}

long derp_recv_packet_encode(uint8_t *out, size_t cap, const uint8_t src_key[32], const uint8_t *data,
                             size_t len)
{
    if (len > DERP_MAX_PACKET_SIZE)
        return -1;
    return frame_put(out, cap, DERP_FRAME_RECV_PACKET, src_key, DERP_KEY_LEN, data, len, NULL, 0);
}

long derp_forward_packet_encode(uint8_t *out, size_t cap, const uint8_t src_key[32],
                                const uint8_t dst_key[32], const uint8_t *data, size_t len)
{
    if (len > DERP_MAX_PACKET_SIZE)
        return -1;
    return frame_put(out, cap, DERP_FRAME_FORWARD_PACKET, src_key, DERP_KEY_LEN, dst_key, DERP_KEY_LEN, data,
                     len);
}

long derp_packet_header_encode(uint8_t *out, size_t cap, uint8_t type, const uint8_t *key1,
                               const uint8_t *key2, size_t data_len)
{
    size_t nkeys = key2 ? 2 : 1;
    if (!key1 || data_len > DERP_MAX_PACKET_SIZE)
        return -1;
    if (type == DERP_FRAME_FORWARD_PACKET
            ? nkeys != 2
            : (type != DERP_FRAME_SEND_PACKET && type != DERP_FRAME_RECV_PACKET) || nkeys != 1)
        return -1;
    size_t hdr = DERP_FRAME_HEADER_LEN + nkeys * DERP_KEY_LEN;
    if (cap < hdr)
        return -1;
    derp_frame_header_put(out, type, (uint32_t)(nkeys * DERP_KEY_LEN + data_len));
    memcpy(out + DERP_FRAME_HEADER_LEN, key1, DERP_KEY_LEN);
    if (key2)
        memcpy(out + DERP_FRAME_HEADER_LEN + DERP_KEY_LEN, key2, DERP_KEY_LEN);
    return (long)hdr;
}

long derp_keep_alive_encode(uint8_t *out, size_t cap)
{
    return frame_put(out, cap, DERP_FRAME_KEEP_ALIVE, NULL, 0, NULL, 0, NULL, 0);
}

long derp_note_preferred_encode(uint8_t *out, size_t cap, bool preferred)
{
    uint8_t v = preferred ? 1 : 0;
    return frame_put(out, cap, DERP_FRAME_NOTE_PREFERRED, &v, 1, NULL, 0, NULL, 0);
}

long derp_peer_gone_encode(uint8_t *out, size_t cap, const uint8_t key[32], uint8_t reason)
{
    return frame_put(out, cap, DERP_FRAME_PEER_GONE, key, DERP_KEY_LEN, &reason, 1, NULL, 0);
}

long derp_peer_present_encode(uint8_t *out, size_t cap, const uint8_t key[32], const uint8_t ip[16],
                              uint16_t port, uint8_t flags)
{
    uint8_t tail[3];
    wire_put_be16(tail, port);
    tail[2] = flags;
    return frame_put(out, cap, DERP_FRAME_PEER_PRESENT, key, DERP_KEY_LEN, ip, 16, tail, 3);
}

long derp_watch_conns_encode(uint8_t *out, size_t cap)
{
    return frame_put(out, cap, DERP_FRAME_WATCH_CONNS, NULL, 0, NULL, 0, NULL, 0);
}

long derp_close_peer_encode(uint8_t *out, size_t cap, const uint8_t key[32])
{
    return frame_put(out, cap, DERP_FRAME_CLOSE_PEER, key, DERP_KEY_LEN, NULL, 0, NULL, 0);
}

long derp_ping_encode(uint8_t *out, size_t cap, const uint8_t data[8])
{
    return frame_put(out, cap, DERP_FRAME_PING, data, DERP_PING_LEN, NULL, 0, NULL, 0);
}

long derp_pong_encode(uint8_t *out, size_t cap, const uint8_t data[8])
{
    return frame_put(out, cap, DERP_FRAME_PONG, data, DERP_PING_LEN, NULL, 0, NULL, 0);
}

long derp_health_encode(uint8_t *out, size_t cap, const char *text, size_t len)
{
    return frame_put(out, cap, DERP_FRAME_HEALTH, text, len, NULL, 0, NULL, 0);
}

long derp_restarting_encode(uint8_t *out, size_t cap, uint32_t reconnect_in_ms, uint32_t try_for_ms)
{
    uint8_t v[DERP_RESTARTING_LEN];
    wire_put_be32(v, reconnect_in_ms);
    wire_put_be32(v + 4, try_for_ms);
    return frame_put(out, cap, DERP_FRAME_RESTARTING, v, sizeof(v), NULL, 0, NULL, 0);
}

/* ---- ClientInfo / ServerInfo JSON ---- */

static long json_emit(struct json_object *o, char *out, size_t cap)
{
    size_t n;
    const char *s =
        json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    long r = -1;
    if (s && n <= cap) {
        memcpy(out, s, n);
        if (n < cap)
            out[n] = 0;
        r = (long)n;
    }
    json_object_put(o);
    return r;
}

long derp_client_info_to_json(const struct derp_client_info *ci, char *out, size_t cap)
{
    struct json_object *o = json_object_new_object();
    if (!o)
        return -1;
    if (ci->has_mesh_key) {
        char hex[65];
        sodium_bin2hex(hex, sizeof(hex), ci->mesh_key, sizeof(ci->mesh_key));
        json_object_object_add(o, "meshKey", json_object_new_string(hex));
        sodium_memzero(hex, sizeof(hex));
    }
    if (ci->version)
        json_object_object_add(o, "version", json_object_new_int(ci->version));
    json_object_object_add(o, "CanAckPings", json_object_new_boolean(ci->can_ack_pings));
    if (ci->is_prober)
        json_object_object_add(o, "IsProber", json_object_new_boolean(1));
    if (ci->app_name[0])
        json_object_object_add(o, "AppName", json_object_new_string(ci->app_name));
    return json_emit(o, out, cap);
}

long derp_server_info_to_json(const struct derp_server_info *si, char *out, size_t cap)
{
    struct json_object *o = json_object_new_object();
    if (!o)
        return -1;
    if (si->version)
        json_object_object_add(o, "version", json_object_new_int(si->version));
    if (si->token_bucket_bytes_per_second)
        json_object_object_add(o, "TokenBucketBytesPerSecond",
                               json_object_new_int64(si->token_bucket_bytes_per_second));
    if (si->token_bucket_bytes_burst)
        json_object_object_add(o, "TokenBucketBytesBurst",
                               json_object_new_int64(si->token_bucket_bytes_burst));
    return json_emit(o, out, cap);
}

static struct json_object *json_parse_object(const char *json, size_t len)
{
    if (len > DERP_MAX_CLIENT_INFO_LEN || len > INT32_MAX)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    struct json_object *o = json_tokener_parse_ex(tok, json, (int)len);
    /* The whole input must be one object (trailing blanks allowed, nothing else). */
    if (o && json_tokener_get_error(tok) == json_tokener_success) {
        size_t off = json_tokener_get_parse_end(tok);
        for (; off < len; off++)
            if (json[off] != ' ' && json[off] != '\t' && json[off] != '\n' && json[off] != '\r')
                break;
        if (off != len || !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            o = NULL;
        }
    } else if (o) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(tok);
    return o;
}

/* Go's json fills a field from JSON null as "no change" and rejects wrong types. */
static int json_get_int(struct json_object *v, long long lo, long long hi, long long *out)
{
    if (json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return -1;
    errno = 0;
    long long x = json_object_get_int64(v);
    if (errno || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int json_get_bool(struct json_object *v, bool *out)
{
    if (json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return -1;
    *out = json_object_get_boolean(v);
    return 0;
}

int derp_client_info_from_json(const char *json, size_t len, struct derp_client_info *ci)
{
    memset(ci, 0, sizeof(*ci));
    struct json_object *o = json_parse_object(json, len);
    if (!o)
        return -1;
    int rc = 0;
    json_object_object_foreach (o, k, v) {
        long long x;
        if (!strcasecmp(k, "meshKey")) {
            if (json_object_is_type(v, json_type_null))
                continue;
            const char *s = json_object_get_string(v);
            size_t bin_len = 0;
            const char *end = NULL;
            if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) != 64 ||
                sodium_hex2bin(ci->mesh_key, 32, s, 64, NULL, &bin_len, &end) != 0 || bin_len != 32 ||
                end != s + 64) {
                rc = -1;
                break;
            }
            ci->has_mesh_key = true;
        } else if (!strcasecmp(k, "version")) {
            x = ci->version;
            if (json_get_int(v, INT32_MIN, INT32_MAX, &x) < 0) {
                rc = -1;
                break;
            }
            ci->version = (int)x;
        } else if (!strcasecmp(k, "CanAckPings")) {
            if (json_get_bool(v, &ci->can_ack_pings) < 0) {
                rc = -1;
                break;
            }
        } else if (!strcasecmp(k, "IsProber")) {
            if (json_get_bool(v, &ci->is_prober) < 0) {
                rc = -1;
                break;
            }
        } else if (!strcasecmp(k, "AppName")) {
            if (json_object_is_type(v, json_type_null))
                continue;
            if (!json_object_is_type(v, json_type_string)) {
                rc = -1;
                break;
            }
            /* Informational only: keep what fits. */
            snprintf(ci->app_name, sizeof(ci->app_name), "%s", json_object_get_string(v));
        }
    }
    json_object_put(o);
    if (rc < 0)
        sodium_memzero(ci, sizeof(*ci));
    return rc;
}

int derp_server_info_from_json(const char *json, size_t len, struct derp_server_info *si)
{
    memset(si, 0, sizeof(*si));
    struct json_object *o = json_parse_object(json, len);
    if (!o)
        return -1;
    int rc = 0;
    json_object_object_foreach (o, k, v) {
        long long x;
        if (!strcasecmp(k, "version")) {
            x = si->version;
            if (json_get_int(v, INT32_MIN, INT32_MAX, &x) < 0)
                rc = -1;
            else
                si->version = (int)x;
        } else if (!strcasecmp(k, "TokenBucketBytesPerSecond")) {
            if (json_get_int(v, INT64_MIN, INT64_MAX, &si->token_bucket_bytes_per_second) < 0)
                rc = -1;
        } else if (!strcasecmp(k, "TokenBucketBytesBurst")) {
            if (json_get_int(v, INT64_MIN, INT64_MAX, &si->token_bucket_bytes_burst) < 0)
                rc = -1;
        }
        if (rc < 0)
            break;
    }
    json_object_put(o);
    return rc;
}

/* ---- sealing: JSON goes straight into the frame buffer, then is boxed in place ---- */

/* Boxes the len bytes at m (which must be at c + 16, i.e. in place) to c. */
static int box_in_place(uint8_t *c, size_t len, const uint8_t nonce[24], const uint8_t pk[32],
                        const uint8_t sk[32])
{
    /* The detached form works in place (ciphertext over the plaintext), the tag goes in front. */
    uint8_t k[crypto_box_BEFORENMBYTES];
    if (crypto_box_beforenm(k, pk, sk) != 0)
        return -1;
    int r = crypto_box_detached_afternm(c + DERP_BOX_OVERHEAD, c, c + DERP_BOX_OVERHEAD, len, nonce, k);
    sodium_memzero(k, sizeof(k));
    return r;
}

long derp_client_info_seal(uint8_t *out, size_t cap, const uint8_t client_priv[32],
                           const uint8_t client_key[32], const uint8_t server_key[32], const uint8_t *nonce,
                           const struct derp_client_info *ci)
{
    size_t hdr = DERP_FRAME_HEADER_LEN + DERP_KEY_LEN + DERP_NONCE_LEN;
    if (cap < hdr + DERP_BOX_OVERHEAD)
        return -1;
    uint8_t *n = out + DERP_FRAME_HEADER_LEN + DERP_KEY_LEN, *box = out + hdr;
    long jl = derp_client_info_to_json(ci, (char *)box + DERP_BOX_OVERHEAD, cap - hdr - DERP_BOX_OVERHEAD);
    if (jl < 0)
        return -1;
    if (nonce)
        memmove(n, nonce, DERP_NONCE_LEN);
    else
        randombytes_buf(n, DERP_NONCE_LEN);
    if (box_in_place(box, (size_t)jl, n, server_key, client_priv) != 0)
        return -1;
    memmove(out + DERP_FRAME_HEADER_LEN, client_key, DERP_KEY_LEN);
    size_t plen = DERP_KEY_LEN + DERP_NONCE_LEN + DERP_BOX_OVERHEAD + (size_t)jl;
    derp_frame_header_put(out, DERP_FRAME_CLIENT_INFO, (uint32_t)plen);
    return (long)(DERP_FRAME_HEADER_LEN + plen);
}

long derp_server_info_seal(uint8_t *out, size_t cap, const uint8_t server_priv[32],
                           const uint8_t client_key[32], const uint8_t *nonce,
                           const struct derp_server_info *si)
{
    size_t hdr = DERP_FRAME_HEADER_LEN + DERP_NONCE_LEN;
    if (cap < hdr + DERP_BOX_OVERHEAD)
        return -1;
    uint8_t *n = out + DERP_FRAME_HEADER_LEN, *box = out + hdr;
    long jl = derp_server_info_to_json(si, (char *)box + DERP_BOX_OVERHEAD, cap - hdr - DERP_BOX_OVERHEAD);
    if (jl < 0)
        return -1;
    if (nonce)
        memmove(n, nonce, DERP_NONCE_LEN);
    else
        randombytes_buf(n, DERP_NONCE_LEN);
    if (box_in_place(box, (size_t)jl, n, client_key, server_priv) != 0)
        return -1;
    size_t plen = DERP_NONCE_LEN + DERP_BOX_OVERHEAD + (size_t)jl;
    derp_frame_header_put(out, DERP_FRAME_SERVER_INFO, (uint32_t)plen);
    return (long)(DERP_FRAME_HEADER_LEN + plen);
}

/* Opens nonce/box into a temporary buffer (once per connection, so malloc is fine). */
static char *box_open(const uint8_t *nonce, const uint8_t *box, size_t box_len, const uint8_t pk[32],
                      const uint8_t sk[32], size_t *mlen)
{
    if (box_len < DERP_BOX_OVERHEAD || box_len > DERP_MAX_CLIENT_INFO_LEN)
        return NULL;
    *mlen = box_len - DERP_BOX_OVERHEAD;
    char *m = malloc(*mlen + 1);
    if (!m)
        return NULL;
    if (crypto_box_open_easy((uint8_t *)m, box, box_len, nonce, pk, sk) != 0) {
        free(m);
        return NULL;
    }
    m[*mlen] = 0;
    return m;
}

int derp_client_info_open(const uint8_t *payload, size_t n, const uint8_t server_priv[32],
                          uint8_t client_key[32], struct derp_client_info *ci)
{
    struct derp_client_info_frame f;
    size_t mlen;
    if (derp_client_info_frame_decode(payload, n, &f) < 0)
        return -1;
    char *m = box_open(f.nonce, f.box, f.box_len, f.client_key, server_priv, &mlen);
    if (!m)
        return -1;
    int r = derp_client_info_from_json(m, mlen, ci);
    sodium_memzero(m, mlen);
    free(m);
    if (r == 0)
        memcpy(client_key, f.client_key, DERP_KEY_LEN);
    return r;
}

int derp_server_info_open(const uint8_t *payload, size_t n, const uint8_t client_priv[32],
                          const uint8_t server_key[32], struct derp_server_info *si)
{
    struct derp_server_info_frame f;
    size_t mlen;
    if (derp_server_info_frame_decode(payload, n, &f) < 0)
        return -1;
    char *m = box_open(f.nonce, f.box, f.box_len, server_key, client_priv, &mlen);
    if (!m)
        return -1;
    int r = derp_server_info_from_json(m, mlen, si);
    free(m);
    return r;
}

/* ---- HTTP upgrade helpers ---- */

static long put_str(char *out, size_t cap, int n) { return n < 0 || (size_t)n >= cap ? -1 : n; }

/* A header value must not smuggle CR/LF into the request. */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n')
            return false;
    return true;
}

long derp_http_request(char *out, size_t cap, const char *host, const char *ideal_node, bool fast_start)
{
    if (!host || !*host || !header_safe(host) || (ideal_node && !header_safe(ideal_node)))
        return -1;
    int n = snprintf(out, cap,
                     "GET /derp HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: DERP\r\n"
                     "Connection: Upgrade\r\n"
                     "%s%s%s"
                     "%s"
                     "User-Agent: weft/" PACKAGE_VERSION "\r\n"
                     "\r\n",
                     host, ideal_node && *ideal_node ? DERP_HDR_IDEAL_NODE ": " : "",
                     ideal_node && *ideal_node ? ideal_node : "", ideal_node && *ideal_node ? "\r\n" : "",
                     fast_start ? DERP_HDR_FAST_START ": 1\r\n" : "");
    return put_str(out, cap, n);
}

long derp_http_response_101(char *out, size_t cap, const uint8_t server_key[32])
{
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), server_key, DERP_KEY_LEN);
    int n = snprintf(out, cap,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: DERP\r\n"
                     "Connection: Upgrade\r\n" DERP_HDR_VERSION ": %d\r\n" DERP_HDR_PUBLIC_KEY ": %s\r\n"
                     "\r\n",
                     DERP_PROTOCOL_VERSION, hex);
    return put_str(out, cap, n);
}

enum derp_upgrade_kind derp_http_upgrade_kind(const char *upgrade)
{
    if (!upgrade)
        return DERP_UPGRADE_NONE;
    if (!strcasecmp(upgrade, "DERP"))
        return DERP_UPGRADE_DERP;
    if (!strcasecmp(upgrade, "websocket"))
        return DERP_UPGRADE_WEBSOCKET;
    return DERP_UPGRADE_NONE;
}

bool derp_http_fast_start(const char *value) { return value && !strcmp(value, "1"); }

int derp_http_parse_public_key(const char *value, uint8_t key[32])
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    size_t bin_len = 0;
    const char *end = NULL;
    if (len != 64 || sodium_hex2bin(key, DERP_KEY_LEN, value, 64, NULL, &bin_len, &end) != 0 ||
        bin_len != DERP_KEY_LEN || end != value + 64)
        return -1;
    return 0;
}

long derp_generate_204_response(const char *challenge, char *out, size_t cap)
{
    if (!challenge || !*challenge)
        return 0;
    size_t len = strlen(challenge);
    if (len > 64)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)challenge[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == ':' || c == '-';
        if (!ok)
            return 0;
    }
    int n = snprintf(out, cap, "response %s", challenge);
    return put_str(out, cap, n);
}
