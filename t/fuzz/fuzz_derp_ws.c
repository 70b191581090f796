// SPDX-License-Identifier: BSD-3-Clause
/* Fuzzes the DERP relay's WebSocket framing (modules/derp/ws.c): ws_unwrap_input, the function the relay
 * runs on every client's input, over arbitrary bytes, and the header encoder against the parser.
 * First byte: the mode (low bit) and the split/size choices; the rest is the input.
 * Mode 0 (raw bytes): feeding the input whole and in pieces (as the stream delivers it) gives the same
 *   payload, pongs and verdict; consumption, buffer and cap invariants hold; no crash, leak or UB.
 * Mode 1 (round trip): the rest describes client frames (opcode, fragmentation, mask key, payload), which are
 *   encoded with ws_frame_header plus a mask, then unwrapped: the payload bytes and ping payloads come back
 *   in order. Every header the encoder writes (any length < 2^63) parses back to the same opcode and length.
 * The derp module's sources are not in libweftcore, so ws.c is compiled in here. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/derp/ws.c"

struct sink {
    uint8_t *p;
    size_t n;
};

static void sink_put(struct sink *s, const uint8_t *p, size_t n)
{
    uint8_t *np = realloc(s->p, s->n + n + 1);
    if (np == NULL)
        abort();
    if (n > 0)
        memcpy(np + s->n, p, n);
    s->p = np;
    s->n += n;
}

static void on_pong(void *arg, const uint8_t *p, size_t n)
{
    sink_put(arg, p, n);
}

struct run {
    struct ws_state w;
    struct sink pongs;
    int rc;
    const char *why;
    size_t consumed;
};

/* Feed in[0..len) to ws_unwrap_input in pieces of at most step bytes (0: whole), keeping the unconsumed
 * tail as the stream would. */
static void feed(struct run *r, const uint8_t *in, size_t len, size_t step, size_t max_frame)
{
    uint8_t *buf = malloc(len + 1);
    size_t have = 0, given = 0;
    memset(r, 0, sizeof(*r));
    if (buf == NULL)
        abort();
    while (given < len) {
        size_t k = step == 0 || len - given < step ? len - given : step;
        memcpy(buf + have, in + given, k);
        have += k;
        given += k;
        size_t used = 0;
        const char *why = "unset";
        int rc = ws_unwrap_input(&r->w, buf, have, max_frame, &used, on_pong, &r->pongs, &why);
        if (used > have || r->w.len > r->w.cap || r->w.cap > 4 * max_frame || (rc == 0 && strcmp(why, "unset")))
            abort();
        if (r->w.cap > 0 && r->w.buf == NULL)
            abort();
        r->consumed += used;
        memmove(buf, buf + used, have - used);
        have -= used;
        if (rc != 0) {
            r->rc = rc;
            r->why = why;
            break;
        }
    }
    free(buf);
}

static void run_free(struct run *r)
{
    free(r->w.buf);
    free(r->pongs.p);
}

static void raw(const uint8_t *data, size_t size, uint8_t ctl)
{
    size_t max_frame = ctl & 2 ? 64 + (64 << 10) : 200;
    size_t step = (ctl >> 2) % 8;
    struct run a, b;
    feed(&a, data, size, 0, max_frame);
    feed(&b, data, size, step, max_frame);
    if (a.rc != b.rc || a.w.len != b.w.len || a.pongs.n != b.pongs.n || a.consumed != b.consumed ||
        (a.rc != 0 && (a.why == NULL) != (b.why == NULL)))
        abort();
    if ((a.w.len && memcmp(a.w.buf, b.w.buf, a.w.len)) || (a.pongs.n && memcmp(a.pongs.p, b.pongs.p, a.pongs.n)))
        abort();
    run_free(&a);
    run_free(&b);
}

static uint64_t take(const uint8_t **p, size_t *n, size_t k)
{
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++) {
        v <<= 8;
        if (*n > 0) {
            v |= **p;
            (*p)++;
            (*n)--;
        }
    }
    return v;
}

/* A client frame: the server's header with the mask bit set and the key after it, the payload masked. */
static void put_frame(struct sink *out, uint8_t opcode, int fin, const uint8_t mask[4], const uint8_t *p, size_t n)
{
    uint8_t h[14];
    size_t hl = ws_frame_header(h, opcode, n);
    if (!fin)
        h[0] &= 0x7f;
    h[1] |= 0x80;
    memcpy(h + hl, mask, 4);
    sink_put(out, h, hl + 4);
    size_t at = out->n;
    sink_put(out, p, n);
    for (size_t i = 0; i < n; i++)
        out->p[at + i] ^= mask[i & 3];
}

static void roundtrip(const uint8_t *data, size_t size, uint8_t ctl)
{
    /* Header encoding: any length below 2^63 parses back. */
    uint64_t L = take(&data, &size, 8) & ~(1ULL << 63);
    uint8_t h[10];
    struct ws_frame f;
    size_t hl = ws_frame_header(h, 2, L);
    if (ws_parse_header(h, hl, &f) != 1 || f.len != L || f.hdr != hl || f.opcode != 2 || !f.fin || f.masked)
        abort();
    if (ws_parse_header(h, hl - 1, &f) != 0)
        abort();

    struct sink wire = {0}, want = {0}, pings = {0};
    size_t max_frame = 64 + (64 << 10);
    while (size > 0) {
        uint8_t op = (uint8_t)take(&data, &size, 1);
        size_t n = (size_t)take(&data, &size, 2) % 300;
        if (op & 0x40)
            n *= 256; /* reach the 64-bit length form now and then */
        if (n > max_frame)
            n = max_frame;
        uint8_t mask[4];
        uint64_t m = take(&data, &size, 4);
        memcpy(mask, &m, 4);
        uint8_t *p = calloc(1, n + 1);
        memcpy(p, data, n < size ? n : size);
        take(&data, &size, 0);
        size_t eat = n < size ? n : size;
        data += eat;
        size -= eat;
        switch (op & 3) {
        case 0: /* one binary frame */
            put_frame(&wire, 2, 1, mask, p, n);
            sink_put(&want, p, n);
            break;
        case 1: { /* the same payload as a fragmented message */
            size_t cut = n / 2;
            put_frame(&wire, 2, 0, mask, p, cut);
            if (op & 4)
                put_frame(&wire, 9, 1, mask, p, cut < 125 ? cut : 125); /* a ping in between */
            if (op & 4)
                sink_put(&pings, p, cut < 125 ? cut : 125);
            put_frame(&wire, 0, 1, mask, p + cut, n - cut);
            sink_put(&want, p, n);
            break;
        }
        case 2: /* ping */
            put_frame(&wire, 9, 1, mask, p, n % 126);
            sink_put(&pings, p, n % 126);
            break;
        case 3: /* pong: ignored */
            put_frame(&wire, 10, 1, mask, p, n % 126);
            break;
        }
        free(p);
    }
    struct run r;
    feed(&r, wire.p, wire.n, (ctl >> 2) % 16, max_frame);
    if (r.rc != 0) {
        /* Only the buffer cap may refuse valid frames (nothing drains the payload here). */
        if (r.why == NULL || strcmp(r.why, "WebSocket buffer overflow") != 0)
            abort();
    } else if (r.consumed != wire.n || r.w.len != want.n || (want.n && memcmp(r.w.buf, want.p, want.n)) ||
               r.pongs.n != pings.n || (pings.n && memcmp(r.pongs.p, pings.p, pings.n)) || r.w.in_msg) {
        abort();
    }
    run_free(&r);
    free(wire.p);
    free(want.p);
    free(pings.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 17)
        return 0;
    uint8_t ctl = data[0];
    if (ctl & 1)
        roundtrip(data + 1, size - 1, ctl);
    else
        raw(data + 1, size - 1, ctl);
    return 0;
}
