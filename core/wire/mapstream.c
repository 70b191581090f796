// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wire/mapstream.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "core/wire/byteorder.h"

int mapstream_enc_init(struct mapstream_enc *e, bool compress, int level)
{
    e->cctx = NULL;
    e->level = level;
    if (!compress)
        return 0;
    e->cctx = ZSTD_createCCtx();
    return e->cctx ? 0 : -1;
}

void mapstream_enc_free(struct mapstream_enc *e)
{
    ZSTD_freeCCtx(e->cctx);
    e->cctx = NULL;
}

size_t mapstream_frame_bound(const struct mapstream_enc *e, size_t len)
{
    return MAPSTREAM_HEADER_LEN + (e->cctx ? ZSTD_compressBound(len) : len);
}

long mapstream_encode(struct mapstream_enc *e, uint8_t *out, size_t cap, const void *json, size_t len)
{
    if (cap < MAPSTREAM_HEADER_LEN)
        return -1;
    size_t body;
    if (e->cctx) {
        /* One-shot compression writes the content size into the frame header: the receiver knows
         * the decompressed size up front. */
        body = ZSTD_compressCCtx(e->cctx, out + MAPSTREAM_HEADER_LEN, cap - MAPSTREAM_HEADER_LEN, json, len,
                                 e->level);
        if (ZSTD_isError(body))
            return -1;
    } else {
        if (cap - MAPSTREAM_HEADER_LEN < len)
            return -1;
        memmove(out + MAPSTREAM_HEADER_LEN, json, len);
        body = len;
    }
    if (body > UINT32_MAX)
        return -1;
    wire_put_le32(out, (uint32_t)body);
    return (long)(MAPSTREAM_HEADER_LEN + body);
}

/* ---- decoder ---- */

static unsigned log2_ceil(size_t x)
{
    unsigned l = 0;
    while (l < 63 && ((size_t)1 << l) < x)
        l++;
    return l;
}

int mapstream_dec_init(struct mapstream_dec *d, bool compressed, size_t max_msg)
{
    memset(d, 0, sizeof(*d));
    d->max_msg = max_msg ? max_msg : MAPSTREAM_DEFAULT_MAX;
    if (!compressed)
        return 0;
    d->dctx = ZSTD_createDCtx();
    if (!d->dctx)
        return -1;
    /* The window never needs to exceed the message cap: refuse frames that ask for more memory. */
    unsigned wl = log2_ceil(d->max_msg);
    if (wl < 10) /* ZSTD_WINDOWLOG_ABSOLUTEMIN */
        wl = 10;
    if (wl > 31) /* ZSTD_WINDOWLOG_MAX_64 */
        wl = 31;
    ZSTD_DCtx_setParameter(d->dctx, ZSTD_d_windowLogMax, (int)wl);
    return 0;
}

void mapstream_dec_free(struct mapstream_dec *d)
{
    ZSTD_freeDCtx(d->dctx);
    free(d->frame);
    free(d->msg);
    memset(d, 0, sizeof(*d));
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    uint8_t *p = realloc(*buf, c);
    if (!p)
        return -1;
    *buf = p;
    *cap = c;
    return 0;
}

/* Decompresses d->frame into d->msg (+1 byte for a NUL). */
static int decompress(struct mapstream_dec *d)
{
    ZSTD_DCtx_reset(d->dctx, ZSTD_reset_session_only);
    unsigned long long hint = ZSTD_getFrameContentSize(d->frame, d->frame_len);
    if (hint == ZSTD_CONTENTSIZE_ERROR)
        return MAPSTREAM_ERR_BAD;
    if (hint != ZSTD_CONTENTSIZE_UNKNOWN && hint > d->max_msg)
        return MAPSTREAM_ERR_TOO_BIG;
    /* +2: room for the NUL and one spare byte, so a frame that fills its announced size is seen to
     * be complete without another round. */
    size_t want = hint != ZSTD_CONTENTSIZE_UNKNOWN ? (size_t)hint + 2 : d->frame_len * 4 + 2;
    if (want > d->max_msg + 2)
        want = d->max_msg + 2;
    if (grow(&d->msg, &d->msg_cap, want) < 0)
        return MAPSTREAM_ERR_NOMEM;

    ZSTD_inBuffer in = {d->frame, d->frame_len, 0};
    ZSTD_outBuffer out = {d->msg, d->msg_cap - 1, 0};
    size_t r = 1;
    for (;;) {
        r = ZSTD_decompressStream(d->dctx, &out, &in);
        if (ZSTD_isError(r))
            return MAPSTREAM_ERR_BAD;
        if (out.pos > d->max_msg)
            return MAPSTREAM_ERR_TOO_BIG;
        /* all input used and everything it yields flushed; r == 0 also when the output exactly filled the
         * buffer as the last frame ended (another round would read a next frame's missing header) */
        if (in.pos == in.size && (out.pos < out.size || r == 0))
            break;
        if (out.pos == out.size) {
            if (out.size >= d->max_msg + 1)
                return MAPSTREAM_ERR_TOO_BIG;
            if (grow(&d->msg, &d->msg_cap,
                     d->msg_cap * 2 > d->max_msg + 2 ? d->max_msg + 2 : d->msg_cap * 2) < 0)
                return MAPSTREAM_ERR_NOMEM;
            out.dst = d->msg;
            out.size = d->msg_cap - 1;
        }
    }
    if (r != 0)
        return MAPSTREAM_ERR_BAD; /* the last frame is truncated */
    d->msg_len = out.pos;
    d->msg[d->msg_len] = 0;
    return 0;
}

long mapstream_dec_feed(struct mapstream_dec *d, const uint8_t *in, size_t n, const uint8_t **msg,
                        size_t *len)
{
    *msg = NULL;
    *len = 0;
    if (d->error)
        return d->error;
    size_t used = 0;
    if (d->hdr_have < MAPSTREAM_HEADER_LEN) {
        size_t take = MAPSTREAM_HEADER_LEN - d->hdr_have;
        if (take > n)
            take = n;
        memcpy(d->hdr + d->hdr_have, in, take);
        d->hdr_have += take;
        used += take;
        if (d->hdr_have < MAPSTREAM_HEADER_LEN)
            return (long)used;
        d->frame_len = wire_le32(d->hdr);
        d->frame_have = 0;
        size_t limit = d->dctx ? ZSTD_compressBound(d->max_msg) : d->max_msg;
        if (d->frame_len > limit)
            return d->error = MAPSTREAM_ERR_TOO_BIG;
        if (d->dctx && d->frame_len == 0)
            return d->error = MAPSTREAM_ERR_BAD;
        if (grow(&d->frame, &d->frame_cap, d->frame_len + 1) < 0)
            return d->error = MAPSTREAM_ERR_NOMEM;
    }
    size_t take = d->frame_len - d->frame_have;
    if (take > n - used)
        take = n - used;
    memcpy(d->frame + d->frame_have, in + used, take);
    d->frame_have += take;
    used += take;
    if (d->frame_have < d->frame_len)
        return (long)used;

    /* A whole body: the next call starts a new header. */
    d->hdr_have = 0;
    if (d->dctx) {
        int r = decompress(d);
        if (r < 0)
            return d->error = r;
        *msg = d->msg;
        *len = d->msg_len;
    } else {
        d->frame[d->frame_len] = 0;
        *msg = d->frame;
        *len = d->frame_len;
    }
    return (long)used;
}
