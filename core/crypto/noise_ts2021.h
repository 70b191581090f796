// SPDX-License-Identifier: BSD-3-Clause
/* The ts2021 control-plane Noise handshake (Noise_IK_25519_ChaChaPoly_BLAKE2s, prologue
 * "Tailscale Control Protocol v<N>") and its transport records (spec control-ts2021.md §3).
 * Bytes in, bytes out: the caller moves them over HTTP/1.1-upgraded TCP. */
#ifndef WEFT_CRYPTO_NOISE_TS2021_H
#define WEFT_CRYPTO_NOISE_TS2021_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TS2021_INITIATION_LEN 101
#define TS2021_RESPONSE_LEN 51
#define TS2021_HDR_LEN 3            /* type(1) ‖ uint16 BE length */
#define TS2021_TAG_LEN 16
#define TS2021_MAX_RECORD 4096      /* header included */
#define TS2021_MAX_CIPHERTEXT (TS2021_MAX_RECORD - TS2021_HDR_LEN)   /* 4093 */
#define TS2021_MAX_PLAINTEXT (TS2021_MAX_CIPHERTEXT - TS2021_TAG_LEN) /* 4077 */

enum ts2021_type {
    TS2021_TYPE_INITIATION = 1,
    TS2021_TYPE_RESPONSE = 2,
    TS2021_TYPE_ERROR = 3,
    TS2021_TYPE_RECORD = 4,
};

enum ts2021_err {
    TS2021_ERR = -1,        /* malformed input, bad argument or wrong state */
    TS2021_ERR_AUTH = -2,   /* AEAD tag or DH (low-order key) failure */
    TS2021_ERR_NONCE = -3,  /* the cipher's counter is exhausted: drop the connection */
    TS2021_ERR_SPACE = -4,  /* output buffer too small */
    TS2021_ERR_SERVER = -5, /* the server answered with an error frame (see ts2021_error_text) */
};

/* Handshake state; opaque to callers. Wipe with ts2021_handshake_wipe when abandoned. */
struct ts2021_handshake {
    uint8_t h[32], ck[32];
    uint8_t e_priv[32], e_pub[32]; /* our ephemeral */
    uint8_t s_priv[32];            /* our static: machine key (initiator) / control key (responder) */
    uint8_t rs[32];                /* their static: control key (initiator) / machine key (responder) */
    uint8_t re[32];                /* their ephemeral */
    uint16_t version;
    uint8_t state;
};

/* One direction: ChaCha20-Poly1305 IETF with nonce 0x00000000 ‖ uint64 BE counter. */
struct ts2021_cipher {
    uint8_t key[32];
    uint64_t nonce;
};

struct ts2021_transport {
    struct ts2021_cipher tx, rx;
    uint8_t handshake_hash[32]; /* channel binding */
    uint8_t peer[32];           /* the other side's static key (control key / machine key) */
    uint16_t version;
};

/* Client: builds the 101-byte initiation. eph_priv injects the ephemeral private key (tests); NULL draws
 * a random one. 0 or an error. */
int ts2021_initiator_start(struct ts2021_handshake *hs, uint8_t out[TS2021_INITIATION_LEN],
                           const uint8_t machine_priv[32], const uint8_t control_pub[32], uint16_t version,
                           const uint8_t *eph_priv);
/* Client: consumes the server's answer (one whole frame: the 51-byte response, or an error frame, which
 * gives TS2021_ERR_SERVER) and fills t. hs is wiped on return either way. */
int ts2021_initiator_finish(struct ts2021_handshake *hs, struct ts2021_transport *t,
                            const uint8_t *msg, size_t len);

/* Server: checks and decrypts an initiation (exactly 101 bytes), yielding the client's protocol version
 * and machine public key. control_pub may be NULL (then derived from control_priv). 0 or an error; on
 * error hs is wiped. The caller may reject the version or machine key, then must wipe hs. */
int ts2021_responder_read(struct ts2021_handshake *hs, const uint8_t *msg, size_t len,
                          const uint8_t control_priv[32], const uint8_t *control_pub,
                          uint16_t *version, uint8_t machine_pub[32]);
/* Server: builds the 51-byte response and fills t. eph_priv as for the initiator. hs is wiped. */
int ts2021_responder_finish(struct ts2021_handshake *hs, struct ts2021_transport *t,
                            uint8_t out[TS2021_RESPONSE_LEN], const uint8_t *eph_priv);

void ts2021_handshake_wipe(struct ts2021_handshake *hs);
void ts2021_transport_wipe(struct ts2021_transport *t);

/* Frame header of whatever comes first in buf: returns the whole frame length (3 + L) and sets *type, 0 if
 * fewer than 3 bytes are available. Does not check the type or bound L: see ts2021_record_len. */
ssize_t ts2021_frame_len(const uint8_t *buf, size_t len, uint8_t *type);
/* For the transport phase: whole record length (3 + L) once the header is in, 0 if fewer than 3 bytes,
 * TS2021_ERR for a type other than 4, a record over 4096 bytes or one too short to hold a tag. */
ssize_t ts2021_record_len(const uint8_t *buf, size_t len);

/* Encrypts len <= 4077 bytes into one record (len + 19 bytes) and advances t->tx. pt may be exactly
 * out + 3 (in place); no other overlap. Returns the record length or an error. */
ssize_t ts2021_seal_record(struct ts2021_transport *t, uint8_t *out, size_t cap, const uint8_t *pt, size_t len);
/* Decrypts exactly one whole record (as delimited by ts2021_record_len) and advances t->rx. out may be
 * exactly rec + 3 (in place); no other overlap. Returns the plaintext length or an error; any error is
 * fatal to the connection (t->rx is not advanced). */
ssize_t ts2021_open_record(struct ts2021_transport *t, uint8_t *out, size_t cap, const uint8_t *rec, size_t len);
/* Wire bytes needed to send len plaintext bytes as records of at most 4096 bytes. */
size_t ts2021_sealed_len(size_t len);
/* Splits len bytes of plaintext into as many full records as needed, the last one short (none for
 * len 0), like the Go client does for one Write. All or nothing: checks room and nonces first. out must
 * not overlap pt. Returns the bytes written or an error. */
ssize_t ts2021_seal(struct ts2021_transport *t, uint8_t *out, size_t cap, const uint8_t *pt, size_t len);

/* Error frame (server -> client instead of the response): 0x03 ‖ uint16 BE length ‖ text. Returns its
 * length (text is cut at 65535 bytes) or TS2021_ERR_SPACE. */
ssize_t ts2021_error_frame(uint8_t *out, size_t cap, const char *text, size_t textlen);
/* Finds the text inside a whole error frame: 0 with *text and *textlen pointing into msg, or TS2021_ERR. */
int ts2021_error_text(const uint8_t *msg, size_t len, const uint8_t **text, size_t *textlen);

#endif
