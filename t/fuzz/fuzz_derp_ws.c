// SPDX-License-Identifier: BSD-3-Clause
/* Fuzzes the DERP relay's WebSocket framing (modules/derp/ws.c): ws_unwrap_input, the function the relay
 * runs on every client's input, over arbitrary bytes, and the header encoder against the parser.
 * First byte: the mode (low bit) and the split/drain choices; the rest is the input.
 * Mode 0 (raw bytes): feeding the input whole and in pieces (as the stream delivers it), with the unwrapped
 *   payload taken out as the relay's parser would, gives the same payload, pongs and verdict; consumption,
 *   buffer and cap invariants hold; a full buffer only ever pauses the unwrapping; no crash, leak or UB.
 * Mode 1 (round trip): the rest describes client frames (opcode, fragmentation, mask key, payload), which are
 *   encoded with ws_frame_header plus a mask, then unwrapped: the payload bytes and ping payloads come back
 *   in order. Every header the encoder writes (any length < 2^63) parses back to the same opcode and length.
 * Kept small and fast on purpose (it ran at ~80 exec/s and 450 MB when a few input bytes could describe
 * 65 KB frames by the thousand, fed a byte at a time into buffers that grew by exact reallocs): inputs are at
 * most 8 KB, generated frames at most 2 KB and 8 KB in all, buffers grow geometrically, and the small
 * max_frame puts the "buffer full" path within reach of short inputs.
 * The derp module's sources are not in libweftcore, so ws.c is compiled in here. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/derp/ws.c"

#define WS_FUZZ_MAX_INPUT 8192
#define MAX_GEN_FRAME 2048
#define MAX_GEN_TOTAL 8192

struct sink {
    uint8_t *p;
    size_t n, cap;
};

static void sink_put(struct sink *s, const uint8_t *p, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->n + n + 1)
            cap *= 2;
        uint8_t *np = realloc(s->p, cap);
        if (np == NULL)
            abort();
        s->p = np;
        s->cap = cap;
    }
    if (n > 0)
        memcpy(s->p + s->n, p, n);
    s->n += n;
}

static void on_pong(void *arg, const uint8_t *p, size_t n)
{
    sink_put(arg, p, n);
}

struct run {
    struct ws_state w;
    struct sink got;   /* the unwrapped payload, as the relay's parser takes it out of w */
    struct sink pongs; /* ping payloads, in order */
    int rc;
    const char *why;
    size_t consumed;
};

/* The relay's parser taking payload out of w: all of it, or (partial) half, leaving the rest. */
static void take_out(struct run *r, int partial)
{
    if (r->w.len == 0)
        return;
    size_t k = partial ? r->w.len / 2 : r->w.len;
    sink_put(&r->got, r->w.buf, k);
    memmove(r->w.buf, r->w.buf + k, r->w.len - k);
    r->w.len -= k;
}

/* One ws_unwrap_input call over buf[0..*have), with the invariants; the unconsumed tail stays in buf. */
static int step(struct run *r, uint8_t *buf, size_t *have, size_t max_frame)
{
    size_t used = 0;
    const char *why = "unset";
    int rc = ws_unwrap_input(&r->w, buf, *have, max_frame, &used, on_pong, &r->pongs, &why);
    if (used > *have || r->w.len > r->w.cap || r->w.cap > 4 * max_frame || (rc == 0 && strcmp(why, "unset")))
        abort();
    if (r->w.cap > 0 && r->w.buf == NULL)
        abort();
    r->consumed += used;
    memmove(buf, buf + used, *have - used);
    *have -= used;
    if (rc != 0) {
        r->rc = rc;
        r->why = why;
    }
    return rc;
}

/* Feed in[0..len) in pieces of at most piece bytes (0: whole), keeping the unconsumed tail as the stream
 * would, and taking payload out after each call as the relay does; at the end, keep going while a full
 * buffer holds frames back. */
static void feed(struct run *r, const uint8_t *in, size_t len, size_t piece, size_t max_frame, int partial)
{
    uint8_t *buf = malloc(len + 1);
    size_t have = 0, given = 0;
    memset(r, 0, sizeof(*r));
    if (buf == NULL)
        abort();
    while (given < len) {
        size_t k = piece == 0 || len - given < piece ? len - given : piece;
        memcpy(buf + have, in + given, k);
        have += k;
        given += k;
        if (step(r, buf, &have, max_frame) != 0)
            goto out;
        take_out(r, partial);
    }
    /* what a full buffer held back: once the parser has taken everything out, a whole frame must go in */
    while (have > 0) {
        size_t before = have;
        take_out(r, 0);
        if (step(r, buf, &have, max_frame) != 0)
            goto out;
        if (have == before) {
            struct ws_frame f;
            if (ws_parse_header(buf, have, &f) == 1 && have - f.hdr >= f.len)
                abort(); /* a whole frame and an empty buffer, and still nothing moves */
            break;
        }
    }
out:
    take_out(r, 0); /* w stays valid after an error too: what it holds was unwrapped before it */
    free(buf);
}

static void run_free(struct run *r)
{
    free(r->w.buf);
    free(r->got.p);
    free(r->pongs.p);
}

static void raw(const uint8_t *data, size_t size, uint8_t ctl)
{
    size_t max_frame = ctl & 2 ? 64 + 1024 : 200;
    size_t piece = (ctl >> 2) % 8;
    int partial = (ctl >> 5) & 1;
    struct run a, b;
    feed(&a, data, size, 0, max_frame, 0);
    feed(&b, data, size, piece, max_frame, partial);
    /* the same payload, pongs and verdict, however the input was cut and however fast it was taken out */
    if (a.rc != b.rc || a.got.n != b.got.n || a.pongs.n != b.pongs.n || a.consumed != b.consumed ||
        (a.rc != 0 && (a.why == NULL) != (b.why == NULL)))
        abort();
    if ((a.got.n && memcmp(a.got.p, b.got.p, a.got.n)) || (a.pongs.n && memcmp(a.pongs.p, b.pongs.p, a.pongs.n)))
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
    static uint8_t p[MAX_GEN_FRAME];
    size_t max_frame = ctl & 2 ? 64 + 1024 : 200;
    while (size > 0 && wire.n < MAX_GEN_TOTAL) {
        uint8_t op = (uint8_t)take(&data, &size, 1);
        size_t n = (size_t)take(&data, &size, 2) % (MAX_GEN_FRAME + 1);
        if (n > max_frame)
            n = max_frame;
        uint8_t mask[4];
        uint64_t m = take(&data, &size, 4);
        memcpy(mask, &m, 4);
        /* the payload: input bytes (while they last) when op says so, else a pattern, so that short inputs
         * reach full buffers */
        size_t eat = (op & 8) ? (n < size ? n : size) : 0;
        memcpy(p, data, eat);
        for (size_t i = eat; i < n; i++)
            p[i] = (uint8_t)(i * 31 + op);
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
    }
    struct run r;
    feed(&r, wire.p, wire.n, (ctl >> 2) % 16, max_frame, (ctl >> 6) & 1);
    /* valid frames, drained as the relay drains them: everything comes back, nothing is refused */
    if (r.rc != 0 || r.consumed != wire.n || r.got.n != want.n || (want.n && memcmp(r.got.p, want.p, want.n)) ||
        r.pongs.n != pings.n || (pings.n && memcmp(r.pongs.p, pings.p, pings.n)) || r.w.in_msg)
        abort();
    run_free(&r);
    free(wire.p);
    free(want.p);
    free(pings.p);
}

/* ASan keeps 256 MB of freed memory in quarantine by default: most of this target's memory, for nothing it
 * needs (its buffers are small and short-lived). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=16:malloc_context_size=10";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > WS_FUZZ_MAX_INPUT)
        return 0;
    uint8_t ctl = data[0];
    if (ctl & 1)
        roundtrip(data + 1, size - 1, ctl);
    else
        raw(data + 1, size - 1, ctl);
    return 0;
}
