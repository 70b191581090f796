// SPDX-License-Identifier: BSD-3-Clause
/* DERP protocol v2 (spec/derp.md): frame header, every frame type's layout, an incremental stream
 * parser, the sealed ClientInfo/ServerInfo JSON, and the HTTP upgrade header rules.
 *
 * Decoders return views into the caller's buffer; encoders write into a caller buffer and return the
 * number of bytes written, or -1 when it does not fit or an argument is out of range. No I/O. */
#ifndef WEFT_WIRE_DERP_FRAME_H
#define WEFT_WIRE_DERP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DERP_PROTOCOL_VERSION 2
#define DERP_MAGIC "DERP\xf0\x9f\x94\x91" /* "DERP🔑" */
#define DERP_MAGIC_LEN 8
#define DERP_KEY_LEN 32
#define DERP_NONCE_LEN 24
#define DERP_BOX_OVERHEAD 16 /* Poly1305 tag in front of the ciphertext */
#define DERP_FRAME_HEADER_LEN 5 /* type, uint32 BE payload length */
#define DERP_MAX_PACKET_SIZE (64 << 10) /* data packet after the key(s) */
#define DERP_MAX_FRAME_SIZE (1 << 20) /* clients refuse larger frames */
#define DERP_MAX_CLIENT_INFO_LEN (256 << 10) /* servers refuse a larger ClientInfo */
#define DERP_PING_LEN 8
#define DERP_PING_MAX_LEN 1000 /* the server tolerates this much and echoes the first 8 */
#define DERP_PEER_PRESENT_LEN 51 /* key, 16-byte IP, port, flags */
#define DERP_RESTARTING_LEN 8

enum derp_frame_type {
    DERP_FRAME_SERVER_KEY = 0x01,
    DERP_FRAME_CLIENT_INFO = 0x02,
    DERP_FRAME_SERVER_INFO = 0x03,
    DERP_FRAME_SEND_PACKET = 0x04,
    DERP_FRAME_RECV_PACKET = 0x05,
    DERP_FRAME_KEEP_ALIVE = 0x06,
    DERP_FRAME_NOTE_PREFERRED = 0x07,
    DERP_FRAME_PEER_GONE = 0x08,
    DERP_FRAME_PEER_PRESENT = 0x09,
    DERP_FRAME_FORWARD_PACKET = 0x0a,
    DERP_FRAME_WATCH_CONNS = 0x10,
    DERP_FRAME_CLOSE_PEER = 0x11,
    DERP_FRAME_PING = 0x12,
    DERP_FRAME_PONG = 0x13,
    DERP_FRAME_HEALTH = 0x14,
    DERP_FRAME_RESTARTING = 0x15,
};

enum derp_peer_gone_reason {
    DERP_PEER_GONE_DISCONNECTED = 0x00,
    DERP_PEER_GONE_NOT_HERE = 0x01,
};

enum derp_peer_present_flags {
    DERP_PEER_PRESENT_IS_REGULAR = 0x01,
    DERP_PEER_PRESENT_IS_MESH_PEER = 0x02,
    DERP_PEER_PRESENT_IS_PROBER = 0x04,
    DERP_PEER_PRESENT_NOT_IDEAL = 0x08,
};

/* Name of a frame type ("SendPacket", ...), or NULL for a type the spec does not list. */
const char *derp_frame_type_name(uint8_t type);

/* ---- stream parser ---- */

struct derp_frame {
    uint8_t type;
    uint32_t len; /* payload length from the header */
    const uint8_t *payload; /* view into the buffer; valid only when a whole frame was returned */
};

enum {
    DERP_PARSE_NEED_MORE = 0,
    DERP_PARSE_OVERSIZED = -1, /* header announces more than max_payload: close the connection */
};

/* Looks at the start of buf. Returns the total frame size (header + payload, > 0) when a whole frame
 * is there (f filled: consume that many bytes), DERP_PARSE_NEED_MORE when more bytes are needed
 * (f->type/f->len are filled once the 5 header bytes are present, so the caller knows the total it
 * needs), or DERP_PARSE_OVERSIZED. Unknown types parse like any other: the caller skips them. */
long derp_frame_parse(const uint8_t *buf, size_t len, uint32_t max_payload, struct derp_frame *f);

/* Writes the 5-byte header. */
void derp_frame_header_put(uint8_t *out, uint8_t type, uint32_t payload_len);

/* ---- per-type payload decoders: 0 on success, -1 when malformed ---- */

struct derp_server_key {
    const uint8_t *key;
};
struct derp_client_info_frame {
    const uint8_t *client_key, *nonce, *box; /* box = tag ‖ ciphertext */
    size_t box_len;
};
struct derp_server_info_frame {
    const uint8_t *nonce, *box;
    size_t box_len;
};
struct derp_packet { /* SendPacket (dst), RecvPacket (src), ForwardPacket (both) */
    const uint8_t *src_key, *dst_key; /* NULL when the frame type does not carry it */
    const uint8_t *data;
    size_t data_len;
};
struct derp_peer_gone {
    const uint8_t *key;
    uint8_t reason;
};
struct derp_peer_present {
    const uint8_t *key;
    bool has_addr; /* IP and port present (older servers sent the key only) */
    uint8_t ip[16]; /* IPv4 as ::ffff:a.b.c.d */
    uint16_t port;
    bool has_flags;
    uint8_t flags;
};
struct derp_restarting {
    uint32_t reconnect_in_ms, try_for_ms;
};

int derp_server_key_decode(const uint8_t *p, size_t n, struct derp_server_key *out);
int derp_client_info_frame_decode(const uint8_t *p, size_t n, struct derp_client_info_frame *out);
int derp_server_info_frame_decode(const uint8_t *p, size_t n, struct derp_server_info_frame *out);
int derp_send_packet_decode(const uint8_t *p, size_t n, struct derp_packet *out);
int derp_recv_packet_decode(const uint8_t *p, size_t n, struct derp_packet *out);
int derp_forward_packet_decode(const uint8_t *p, size_t n, struct derp_packet *out);
int derp_note_preferred_decode(const uint8_t *p, size_t n, bool *preferred);
int derp_peer_gone_decode(const uint8_t *p, size_t n, struct derp_peer_gone *out);
int derp_peer_present_decode(const uint8_t *p, size_t n, struct derp_peer_present *out);
int derp_close_peer_decode(const uint8_t *p, size_t n, const uint8_t **key);
/* Ping and Pong: 8..1000 bytes; *data points at the first 8 (the part that is echoed). */
int derp_ping_decode(const uint8_t *p, size_t n, const uint8_t **data);
int derp_restarting_decode(const uint8_t *p, size_t n, struct derp_restarting *out);

/* ---- frame encoders: whole frame (header included) into out; length or -1 ---- */

long derp_server_key_encode(uint8_t *out, size_t cap, const uint8_t server_key[32]);
long derp_client_info_frame_encode(uint8_t *out, size_t cap, const uint8_t client_key[32],
                                   const uint8_t nonce[24], const uint8_t *box, size_t box_len);
long derp_server_info_frame_encode(uint8_t *out, size_t cap, const uint8_t nonce[24], const uint8_t *box,
                                   size_t box_len);
long derp_send_packet_encode(uint8_t *out, size_t cap, const uint8_t dst_key[32], const uint8_t *data,
                             size_t len);
long derp_recv_packet_encode(uint8_t *out, size_t cap, const uint8_t src_key[32], const uint8_t *data,
                             size_t len);
long derp_forward_packet_encode(uint8_t *out, size_t cap, const uint8_t src_key[32],
                                const uint8_t dst_key[32], const uint8_t *data, size_t len);
/* Header + key(s) only (37 or 69 bytes), for a gather write with the packet that follows. */
long derp_packet_header_encode(uint8_t *out, size_t cap, uint8_t type, const uint8_t *key1,
                               const uint8_t *key2, size_t data_len);
long derp_keep_alive_encode(uint8_t *out, size_t cap);
long derp_note_preferred_encode(uint8_t *out, size_t cap, bool preferred);
long derp_peer_gone_encode(uint8_t *out, size_t cap, const uint8_t key[32], uint8_t reason);
/* ip: 16 bytes (v4-mapped for IPv4). */
long derp_peer_present_encode(uint8_t *out, size_t cap, const uint8_t key[32], const uint8_t ip[16],
                              uint16_t port, uint8_t flags);
long derp_watch_conns_encode(uint8_t *out, size_t cap);
long derp_close_peer_encode(uint8_t *out, size_t cap, const uint8_t key[32]);
long derp_ping_encode(uint8_t *out, size_t cap, const uint8_t data[8]);
long derp_pong_encode(uint8_t *out, size_t cap, const uint8_t data[8]);
long derp_health_encode(uint8_t *out, size_t cap, const char *text, size_t len);
long derp_restarting_encode(uint8_t *out, size_t cap, uint32_t reconnect_in_ms, uint32_t try_for_ms);

/* ---- ClientInfo / ServerInfo JSON and their box ---- */

#define DERP_APP_NAME_MAX 128

struct derp_client_info {
    bool has_mesh_key;
    uint8_t mesh_key[32]; /* "meshKey": 64 hex, omitted when absent */
    int version; /* "version", omitted when 0 */
    bool can_ack_pings; /* "CanAckPings", always present */
    bool is_prober; /* "IsProber", omitted when false */
    char app_name[DERP_APP_NAME_MAX]; /* "AppName", omitted when empty */
};

struct derp_server_info {
    int version; /* "version", omitted when 0 */
    long long token_bucket_bytes_per_second; /* omitted when 0 */
    long long token_bucket_bytes_burst; /* omitted when 0 */
};

/* Compact JSON in Go's field order. Length (no NUL written unless room) or -1. */
long derp_client_info_to_json(const struct derp_client_info *ci, char *out, size_t cap);
long derp_server_info_to_json(const struct derp_server_info *si, char *out, size_t cap);
/* Parse; keys match case-insensitively as Go's decoder does; unknown keys are ignored. 0 / -1. */
int derp_client_info_from_json(const char *json, size_t len, struct derp_client_info *ci);
int derp_server_info_from_json(const char *json, size_t len, struct derp_server_info *si);

/* Whole FrameClientInfo: client_key ‖ nonce ‖ crypto_box(JSON) from client_priv to server_key.
 * nonce NULL = random. Frame length or -1. */
long derp_client_info_seal(uint8_t *out, size_t cap, const uint8_t client_priv[32],
                           const uint8_t client_key[32], const uint8_t server_key[32], const uint8_t *nonce,
                           const struct derp_client_info *ci);
/* Opens a FrameClientInfo payload with the server's private key. On success copies the client's
 * public key to client_key and fills ci. 0 / -1 (short, too big, bad box or bad JSON). */
int derp_client_info_open(const uint8_t *payload, size_t n, const uint8_t server_priv[32],
                          uint8_t client_key[32], struct derp_client_info *ci);
long derp_server_info_seal(uint8_t *out, size_t cap, const uint8_t server_priv[32],
                           const uint8_t client_key[32], const uint8_t *nonce,
                           const struct derp_server_info *si);
int derp_server_info_open(const uint8_t *payload, size_t n, const uint8_t client_priv[32],
                          const uint8_t server_key[32], struct derp_server_info *si);

/* ---- HTTP upgrade (§1) and /generate_204 (§7): strings in, strings out ---- */

#define DERP_HDR_VERSION "Derp-Version"
#define DERP_HDR_PUBLIC_KEY "Derp-Public-Key"
#define DERP_HDR_FAST_START "Derp-Fast-Start"
#define DERP_HDR_IDEAL_NODE "Ideal-Node"
#define DERP_HDR_CHALLENGE "X-Tailscale-Challenge"
#define DERP_HDR_RESPONSE "X-Tailscale-Response"
#define DERP_UPGRADE_REQUIRED_BODY "DERP requires connection upgrade"
#define DERP_NO_CACHE "no-cache, no-store, must-revalidate, no-transform, max-age=0"

/* Client request: GET /derp with Upgrade: DERP. ideal_node may be NULL; fast_start adds the header.
 * Length written (NUL-terminated) or -1. */
long derp_http_request(char *out, size_t cap, const char *host, const char *ideal_node, bool fast_start);
/* Server's 101 response with Derp-Version and Derp-Public-Key (64 lowercase hex). */
long derp_http_response_101(char *out, size_t cap, const uint8_t server_key[32]);

enum derp_upgrade_kind { DERP_UPGRADE_NONE = 0, DERP_UPGRADE_DERP = 1, DERP_UPGRADE_WEBSOCKET = 2 };
/* Value of the request's Upgrade header (NULL = absent): DERP or websocket, case-insensitive. */
enum derp_upgrade_kind derp_http_upgrade_kind(const char *upgrade);
/* Derp-Fast-Start header value (NULL = absent): true only for exactly "1". */
bool derp_http_fast_start(const char *value);
/* Derp-Public-Key value: 64 hex digits (either case), surrounding blanks ignored. 0 / -1. */
int derp_http_parse_public_key(const char *value, uint8_t key[32]);
/* /generate_204: given the X-Tailscale-Challenge value (NULL = absent), writes the value of the
 * X-Tailscale-Response header ("response <c>") and returns its length, or returns 0 when no response
 * header is to be sent (absent, empty, > 64 chars, or a char outside [A-Za-z0-9._:-]); -1 if out is
 * too small. */
long derp_generate_204_response(const char *challenge, char *out, size_t cap);

#endif
