// SPDX-License-Identifier: BSD-3-Clause
/* Map stream framing (spec/control-ts2021.md §7.2): each message is a uint32 LITTLE-endian length
 * and that many bytes: a zstd frame of the JSON MapResponse when the client asked Compress:"zstd"
 * (current clients always do), else the JSON itself.
 *
 * The encoder and the decoder keep their zstd context and buffers between messages: buffers grow to
 * the largest message seen and are reused, nothing is allocated per message after that. */
#ifndef WEFT_WIRE_MAPSTREAM_H
#define WEFT_WIRE_MAPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAPSTREAM_HEADER_LEN 4
/* The Go client sets no limit; 20k peers is ~13 MB of JSON (DESIGN.md). Ours, per message, on both
 * the compressed frame and the decompressed JSON, unless the caller picks another. */
#define MAPSTREAM_DEFAULT_MAX (64u << 20)
#define MAPSTREAM_DEFAULT_LEVEL 1

struct mapstream_enc {
    void *cctx; /* ZSTD_CCtx; NULL when not compressing */
    int level;
};

/* compress false = plain JSON bodies. 0 / -1. */
int mapstream_enc_init(struct mapstream_enc *e, bool compress, int level);
void mapstream_enc_free(struct mapstream_enc *e);
/* Worst-case frame size for a JSON message of len bytes. */
size_t mapstream_frame_bound(const struct mapstream_enc *e, size_t len);
/* One frame (length + body) into out. Frame length or -1 (does not fit, or over 4 GiB). */
long mapstream_encode(struct mapstream_enc *e, uint8_t *out, size_t cap, const void *json, size_t len);

enum mapstream_err {
    MAPSTREAM_ERR_TOO_BIG = -1, /* frame or decompressed message over the cap */
    MAPSTREAM_ERR_BAD = -2, /* not a valid zstd stream, or an empty compressed frame */
    MAPSTREAM_ERR_NOMEM = -3,
};

struct mapstream_dec {
    void *dctx; /* ZSTD_DCtx; NULL when bodies are plain */
    size_t max_msg;
    uint8_t hdr[MAPSTREAM_HEADER_LEN];
    size_t hdr_have;
    uint8_t *frame; /* compressed body being collected */
    size_t frame_len, frame_have, frame_cap;
    uint8_t *msg; /* decompressed message */
    size_t msg_len, msg_cap;
    int error; /* sticky: once a stream is bad it stays bad */
};

/* max_msg 0 = MAPSTREAM_DEFAULT_MAX. 0 / -1. */
int mapstream_dec_init(struct mapstream_dec *d, bool compressed, size_t max_msg);
void mapstream_dec_free(struct mapstream_dec *d);
/* Consumes bytes of the stream up to the end of at most one message. Returns the number of bytes
 * consumed (>= 0) and, when a message completed, sets msg and len to it (valid until the next call;
 * NUL-terminated for convenience); msg is set to NULL otherwise. A negative mapstream_err on a bad stream.
 * Call again with the rest of the input while it is not empty. */
long mapstream_dec_feed(struct mapstream_dec *d, const uint8_t *in, size_t n, const uint8_t **msg,
                        size_t *len);

#endif
