// SPDX-License-Identifier: BSD-3-Clause
/* WireGuard message layouts (spec/wireguard.md §3): sizes, field offsets, and the first look at a
 * datagram. Every integer field is little-endian; the type is one byte followed by three zero bytes. */
#ifndef WEFT_WG_MESSAGES_H
#define WEFT_WG_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#define WG_KEY_LEN 32
#define WG_TAG_LEN 16 /* Poly1305 */
#define WG_MAC_LEN 16
#define WG_COOKIE_LEN 16
#define WG_COOKIE_NONCE_LEN 24

enum wg_msg_type {
    WG_MSG_INITIATION = 1,
    WG_MSG_RESPONSE = 2,
    WG_MSG_COOKIE_REPLY = 3,
    WG_MSG_TRANSPORT = 4,
};

#define WG_INITIATION_LEN 148
#define WG_RESPONSE_LEN 92
#define WG_COOKIE_REPLY_LEN 64
#define WG_TRANSPORT_HEADER_LEN 16
#define WG_TRANSPORT_MIN_LEN (WG_TRANSPORT_HEADER_LEN + WG_TAG_LEN) /* a keepalive */

/* Initiation */
#define WG_INIT_SENDER 4
#define WG_INIT_EPHEMERAL 8
#define WG_INIT_STATIC 40    /* 32 + tag */
#define WG_INIT_TIMESTAMP 88 /* 12 + tag */
#define WG_INIT_MAC1 116
#define WG_INIT_MAC2 132
/* Response */
#define WG_RESP_SENDER 4
#define WG_RESP_RECEIVER 8
#define WG_RESP_EPHEMERAL 12
#define WG_RESP_EMPTY 44 /* tag only */
#define WG_RESP_MAC1 60
#define WG_RESP_MAC2 76
/* Cookie reply */
#define WG_COOKIE_RECEIVER 4
#define WG_COOKIE_NONCE 8
#define WG_COOKIE_ENCRYPTED 32 /* 16 + tag */
/* Transport data */
#define WG_DATA_RECEIVER 4
#define WG_DATA_COUNTER 8

static inline uint32_t wg_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void wg_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t wg_get_le64(const uint8_t *p)
{
    return (uint64_t)wg_get_le32(p) | (uint64_t)wg_get_le32(p + 4) << 32;
}

static inline void wg_put_le64(uint8_t *p, uint64_t v)
{
    wg_put_le32(p, (uint32_t)v);
    wg_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* The message type of a datagram if its header is well-formed and its length fits the type (exact for
 * handshake and cookie messages, at least a keepalive for transport data); -1 otherwise. */
static inline int wg_msg_classify(const uint8_t *msg, size_t len)
{
    if (len < 4)
        return -1;
    uint32_t type = wg_get_le32(msg);
    switch (type) {
    case WG_MSG_INITIATION:
        return len == WG_INITIATION_LEN ? (int)type : -1;
    case WG_MSG_RESPONSE:
        return len == WG_RESPONSE_LEN ? (int)type : -1;
    case WG_MSG_COOKIE_REPLY:
        return len == WG_COOKIE_REPLY_LEN ? (int)type : -1;
    case WG_MSG_TRANSPORT:
        return len >= WG_TRANSPORT_MIN_LEN ? (int)type : -1;
    default:
        return -1;
    }
}

/* The local index a classified response / cookie reply / transport message is addressed to (the caller
 * maps it to a handshake or keypair). Only call after wg_msg_classify() accepted the message. */
static inline uint32_t wg_msg_receiver(const uint8_t *msg, int type)
{
    return wg_get_le32(msg + (type == WG_MSG_RESPONSE ? WG_RESP_RECEIVER : 4));
}

#endif
