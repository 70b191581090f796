// SPDX-License-Identifier: BSD-3-Clause
/* Fuzz the DERP stream parser and every frame decoder; re-encode what decodes and compare. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/wire/derp_frame.h"

static uint8_t out[DERP_FRAME_HEADER_LEN + DERP_MAX_FRAME_SIZE];

#define CHECK(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort(); \
        } \
    } while (0)

/* The re-encoded frame must equal the input frame (for types whose encoding is canonical). */
static void same(long n, const uint8_t *frame, size_t flen)
{
    CHECK(n == (long)flen);
    CHECK(memcmp(out, frame, flen) == 0);
}

static void one_frame(const struct derp_frame *f, const uint8_t *frame, size_t flen)
{
    const uint8_t *p = f->payload;
    size_t n = f->len;
    switch (f->type) {
    case DERP_FRAME_SERVER_KEY: {
        struct derp_server_key k;
        if (derp_server_key_decode(p, n, &k) == 0 && n == 40)
            same(derp_server_key_encode(out, sizeof(out), k.key), frame, flen);
        break;
    }
    case DERP_FRAME_CLIENT_INFO: {
        struct derp_client_info_frame c;
        if (derp_client_info_frame_decode(p, n, &c) == 0)
            same(derp_client_info_frame_encode(out, sizeof(out), c.client_key, c.nonce, c.box, c.box_len),
                 frame, flen);
        /* Try to open with a fixed key: nearly always fails, must never crash. */
        static const uint8_t priv[32] = {1};
        uint8_t ck[32];
        struct derp_client_info ci;
        (void)derp_client_info_open(p, n, priv, ck, &ci);
        /* And the JSON parser on the raw payload. */
        if (derp_client_info_from_json((const char *)p, n, &ci) == 0) {
            char j[1024];
            long jl = derp_client_info_to_json(&ci, j, sizeof(j));
            struct derp_client_info back;
            CHECK(jl > 0 && derp_client_info_from_json(j, (size_t)jl, &back) == 0);
            CHECK(back.version == ci.version && back.can_ack_pings == ci.can_ack_pings &&
                  back.is_prober == ci.is_prober && back.has_mesh_key == ci.has_mesh_key &&
                  !memcmp(back.mesh_key, ci.mesh_key, 32));
        }
        break;
    }
    case DERP_FRAME_SERVER_INFO: {
        struct derp_server_info_frame s;
        if (derp_server_info_frame_decode(p, n, &s) == 0)
            same(derp_server_info_frame_encode(out, sizeof(out), s.nonce, s.box, s.box_len), frame, flen);
        struct derp_server_info si;
        if (derp_server_info_from_json((const char *)p, n, &si) == 0) {
            char j[256];
            CHECK(derp_server_info_to_json(&si, j, sizeof(j)) > 0);
        }
        break;
    }
    case DERP_FRAME_SEND_PACKET:
    case DERP_FRAME_RECV_PACKET:
    case DERP_FRAME_FORWARD_PACKET: {
        struct derp_packet pk;
        int r = f->type == DERP_FRAME_SEND_PACKET   ? derp_send_packet_decode(p, n, &pk)
                : f->type == DERP_FRAME_RECV_PACKET ? derp_recv_packet_decode(p, n, &pk)
                                                    : derp_forward_packet_decode(p, n, &pk);
        if (r < 0)
            break;
        CHECK(pk.data + pk.data_len == p + n);
        long m =
            f->type == DERP_FRAME_SEND_PACKET
                ? derp_send_packet_encode(out, sizeof(out), pk.dst_key, pk.data, pk.data_len)
            : f->type == DERP_FRAME_RECV_PACKET
                ? derp_recv_packet_encode(out, sizeof(out), pk.src_key, pk.data, pk.data_len)
                : derp_forward_packet_encode(out, sizeof(out), pk.src_key, pk.dst_key, pk.data, pk.data_len);
        same(m, frame, flen);
        uint8_t hdr[80];
        long h = derp_packet_header_encode(hdr, sizeof(hdr), f->type, pk.src_key ? pk.src_key : pk.dst_key,
                                           pk.src_key ? pk.dst_key : NULL, pk.data_len);
        CHECK(h > 0 && memcmp(hdr, frame, (size_t)h) == 0);
        break;
    }
    case DERP_FRAME_KEEP_ALIVE:
        if (n == 0)
            same(derp_keep_alive_encode(out, sizeof(out)), frame, flen);
        break;
    case DERP_FRAME_WATCH_CONNS:
        if (n == 0)
            same(derp_watch_conns_encode(out, sizeof(out)), frame, flen);
        break;
    case DERP_FRAME_NOTE_PREFERRED: {
        bool pref;
        if (derp_note_preferred_decode(p, n, &pref) == 0 && p[0] <= 1)
            same(derp_note_preferred_encode(out, sizeof(out), pref), frame, flen);
        break;
    }
    case DERP_FRAME_PEER_GONE: {
        struct derp_peer_gone g;
        if (derp_peer_gone_decode(p, n, &g) == 0 && n == 33)
            same(derp_peer_gone_encode(out, sizeof(out), g.key, g.reason), frame, flen);
        break;
    }
    case DERP_FRAME_PEER_PRESENT: {
        struct derp_peer_present pp;
        if (derp_peer_present_decode(p, n, &pp) == 0 && n == DERP_PEER_PRESENT_LEN)
            same(derp_peer_present_encode(out, sizeof(out), pp.key, pp.ip, pp.port, pp.flags), frame, flen);
        break;
    }
    case DERP_FRAME_CLOSE_PEER: {
        const uint8_t *k;
        if (derp_close_peer_decode(p, n, &k) == 0)
            same(derp_close_peer_encode(out, sizeof(out), k), frame, flen);
        break;
    }
    case DERP_FRAME_PING:
    case DERP_FRAME_PONG: {
        const uint8_t *d;
        if (derp_ping_decode(p, n, &d) == 0 && n == 8)
            same(f->type == DERP_FRAME_PING ? derp_ping_encode(out, sizeof(out), d)
                                            : derp_pong_encode(out, sizeof(out), d),
                 frame, flen);
        break;
    }
    case DERP_FRAME_HEALTH:
        same(derp_health_encode(out, sizeof(out), (const char *)p, n), frame, flen);
        break;
    case DERP_FRAME_RESTARTING: {
        struct derp_restarting rs;
        if (derp_restarting_decode(p, n, &rs) == 0 && n == 8)
            same(derp_restarting_encode(out, sizeof(out), rs.reconnect_in_ms, rs.try_for_ms), frame, flen);
        break;
    }
    default: break; /* unknown: skipped */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        if (sodium_init() < 0)
            abort();
        init = 1;
    }
    /* Walk the input as a stream; the first byte picks the cap so small caps get exercised too. */
    if (size == 0)
        return 0;
    uint32_t cap = data[0] & 1 ? DERP_MAX_FRAME_SIZE : 64;
    const uint8_t *p = data + 1;
    size_t left = size - 1;
    while (left) {
        struct derp_frame f;
        long r = derp_frame_parse(p, left, cap, &f);
        if (r <= 0) {
            if (r == 0 && left >= DERP_FRAME_HEADER_LEN)
                CHECK(f.len > left - DERP_FRAME_HEADER_LEN);
            break;
        }
        CHECK((size_t)r == DERP_FRAME_HEADER_LEN + f.len && (size_t)r <= left);
        one_frame(&f, p, (size_t)r);
        p += r;
        left -= (size_t)r;
    }
    /* HTTP helpers on the raw bytes as a string. */
    char s[128];
    size_t sl = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    memcpy(s, data, sl);
    s[sl] = 0;
    char o[256];
    long g = derp_generate_204_response(s, o, sizeof(o));
    CHECK(g == 0 || (g == (long)strlen(s) + 9 && !strncmp(o + 9, s, strlen(s))));
    uint8_t k[32];
    (void)derp_http_parse_public_key(s, k);
    (void)derp_http_upgrade_kind(s);
    return 0;
}
