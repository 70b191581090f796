// SPDX-License-Identifier: BSD-3-Clause
/* The /ts2021 HTTP/1.1 upgrade and the optional early payload (spec/control-ts2021.md §2, §3.5, §4).
 * Pure helpers: strings and bytes in, strings and bytes out. The Noise handshake itself is in
 * core/crypto. */
#ifndef WEFT_WIRE_TS2021_H
#define WEFT_WIRE_TS2021_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TS2021_PATH "/ts2021"
#define TS2021_UPGRADE "tailscale-control-protocol"
#define TS2021_HDR_HANDSHAKE "X-Tailscale-Handshake"
#define TS2021_INIT_LEN 101 /* Noise IK initiation: 5-byte header + 96 */
#define TS2021_EARLY_MAGIC "\xff\xff\xffTS"
#define TS2021_EARLY_MAGIC_LEN 5
#define TS2021_EARLY_HEADER_LEN 9 /* magic + uint32 BE length; also an HTTP/2 frame header's size */
#define TS2021_EARLY_MAX (10u << 20)
#define TS2021_MSG_ERROR 0x03 /* controlbase error frame: type, uint16 BE length, text */

/* Standard base64 with '=' padding (Go's base64.StdEncoding). Encode writes a NUL-terminated string
 * and returns its length; decode is strict (CR/LF ignored, as Go does) and returns the byte count. -1
 * on overflow or bad input. */
long ts2021_base64_encode(char *out, size_t cap, const uint8_t *in, size_t n);
long ts2021_base64_decode(uint8_t *out, size_t cap, const char *in, size_t n);

/* Client: the whole upgrade request (POST /ts2021 ... blank line). NUL-terminated; length or -1. */
long ts2021_http_request(char *out, size_t cap, const char *host, const uint8_t init[TS2021_INIT_LEN]);

enum ts2021_upgrade_kind {
    TS2021_UPGRADE_NONE = 0,
    TS2021_UPGRADE_CONTROL = 1,
    TS2021_UPGRADE_WEBSOCKET = 2
};
/* Server: value of the Upgrade header (NULL = absent). NONE means answer 400. */
enum ts2021_upgrade_kind ts2021_upgrade_kind(const char *upgrade);

enum {
    TS2021_HS_OK = 0,
    TS2021_HS_BAD = -1, /* absent or not base64: answer HTTP 400 */
    TS2021_HS_BAD_LEN = -2, /* decodes, but not 101 bytes: answer with a Noise error frame */
};
/* Server: X-Tailscale-Handshake value (NULL = absent) into the 101-byte initiation. */
int ts2021_handshake_header_parse(const char *value, uint8_t init[TS2021_INIT_LEN]);

/* Server: the 101 response head (status line, Upgrade, Connection, blank line). Length or -1. */
long ts2021_http_response_101(char *out, size_t cap);
/* Client: is this the response that starts the Noise stream? (status 101 and the Upgrade value) */
bool ts2021_http_response_ok(int status, const char *upgrade);

/* controlbase error frame (sent instead of the handshake response), text truncated to 65535. */
long ts2021_error_frame_encode(uint8_t *out, size_t cap, const char *text);

/* ---- early payload (server → client, first plaintext bytes after the handshake) ---- */

/* {"nodeKeyChallenge":"chalpub:<64 hex>"}. NUL-terminated; length or -1. */
long ts2021_early_noise_json(char *out, size_t cap, const uint8_t chal_pub[32]);
/* Parses EarlyNoise JSON: 1 with chal_pub filled, 0 when nodeKeyChallenge is absent/null, -1 bad. */
int ts2021_early_noise_parse(const char *json, size_t len, uint8_t chal_pub[32]);
/* magic ‖ uint32 BE len ‖ json. Length or -1. */
long ts2021_early_payload_encode(uint8_t *out, size_t cap, const char *json, size_t len);

enum ts2021_early_state {
    TS2021_EARLY_READING = 0, /* feed more bytes */
    TS2021_EARLY_GOT, /* whole payload read: json/json_len valid */
    TS2021_EARLY_NONE, /* the stream does not start with an early payload */
    TS2021_EARLY_ERROR, /* announced length over 10 MiB or out of memory */
};

/* Incremental decoder for the client's plaintext stream; records may split the payload anywhere. */
struct ts2021_early {
    enum ts2021_early_state state;
    uint8_t hdr[TS2021_EARLY_HEADER_LEN];
    size_t hdr_have;
    uint32_t json_len;
    size_t json_have;
    char *json; /* NUL-terminated once complete; owned, freed by ts2021_early_free */
};

void ts2021_early_init(struct ts2021_early *e);
/* Consumes from in what belongs to the early payload and returns that count (the rest of in is
 * HTTP/2), or -1 when the state becomes ERROR. When the state becomes NONE, the hdr_have bytes in
 * hdr were taken from the stream but belong to HTTP/2: hand them over first. */
long ts2021_early_feed(struct ts2021_early *e, const uint8_t *in, size_t n);
void ts2021_early_free(struct ts2021_early *e);

#endif
