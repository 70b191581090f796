// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/noise_stream.h"
#include "core/stream.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Sealing goes through one buffer per thread: up to this many full records per stream_write. */
#define SCRATCH_RECORDS 16

struct noise_stream {
    struct stream *s;
    struct ts2021_transport t;
    noise_stream_data_cb on_data;
    noise_stream_drain_cb on_drain;
    noise_stream_close_cb on_close;
    void *arg;
    const char *err; /* why we closed it ourselves */
    int closing, paused;
};

static __thread uint8_t scratch[SCRATCH_RECORDS * TS2021_MAX_RECORD];

static void fail(struct noise_stream *ns, const char *why)
{
    if (ns->closing)
        return;
    ns->closing = 1;
    ns->err = why;
    stream_close(ns->s);
}

static void on_read(struct stream *s, void *arg)
{
    struct noise_stream *ns = arg;
    while (!ns->closing && !ns->paused) {
        size_t len;
        uint8_t *p = stream_input(s, &len);
        if (p == NULL)
            return;
        ssize_t rl = ts2021_record_len(p, len);
        if (rl < 0) {
            fail(ns, "bad noise record");
            return;
        }
        if (rl == 0 || (size_t)rl > len)
            return; /* wait for the rest */
        ssize_t n =
            ts2021_open_record(&ns->t, p + TS2021_HDR_LEN, (size_t)rl - TS2021_HDR_LEN, p, (size_t)rl);
        if (n < 0) {
            fail(ns, n == TS2021_ERR_NONCE ? "noise nonce exhausted" : "noise record failed to decrypt");
            return;
        }
        if (n > 0 && ns->on_data != NULL)
            ns->on_data(ns, p + TS2021_HDR_LEN, (size_t)n, ns->arg);
        stream_consume(s, (size_t)rl); /* a no-op once the callback closed the stream */
    }
}

static void on_drain(struct stream *s, void *arg)
{
    struct noise_stream *ns = arg;
    if (!ns->closing && ns->on_drain != NULL)
        ns->on_drain(ns, ns->arg);
}

static void on_close(struct stream *s, const char *err, void *arg)
{
    struct noise_stream *ns = arg;
    if (ns->on_close != NULL)
        ns->on_close(ns, err ? err : ns->err, ns->arg);
    ts2021_transport_wipe(&ns->t);
    free(ns);
}

struct noise_stream *noise_stream_new(struct stream *s, const struct ts2021_transport *t,
                                      noise_stream_data_cb on_data, noise_stream_drain_cb drain,
                                      noise_stream_close_cb closed, void *arg)
{
    struct noise_stream *ns = calloc(1, sizeof(*ns));
    if (ns == NULL) {
        stream_set_callbacks(s, NULL, NULL, NULL, NULL);
        stream_close(s);
        return NULL;
    }
    ns->s = s;
    ns->t = *t;
    ns->on_data = on_data;
    ns->on_drain = drain;
    ns->on_close = closed;
    ns->arg = arg;
    stream_set_callbacks(s, on_read, on_drain, on_close, ns);
    stream_read_start(s);
    return ns;
}

int noise_stream_write(struct noise_stream *ns, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (ns->closing)
        return -1;
    while (len > 0) {
        size_t n =
            len < SCRATCH_RECORDS * TS2021_MAX_PLAINTEXT ? len : SCRATCH_RECORDS * TS2021_MAX_PLAINTEXT;
        ssize_t w = ts2021_seal(&ns->t, scratch, sizeof(scratch), p, n);
        if (w < 0) {
            fail(ns, "noise nonce exhausted");
            return -1;
        }
        if (stream_write(ns->s, scratch, (size_t)w) != 0) {
            ns->closing = 1; /* the stream reports why through its close callback */
            return -1;
        }
        p += n;
        len -= n;
    }
    return 0;
}

size_t noise_stream_queued(const struct noise_stream *ns)
{
    return stream_queued(ns->s);
}

void noise_stream_pause(struct noise_stream *ns)
{
    if (ns->closing || ns->paused)
        return;
    ns->paused = 1;
    stream_read_stop(ns->s);
}

void noise_stream_resume(struct noise_stream *ns)
{
    if (ns->closing || !ns->paused)
        return;
    ns->paused = 0;
    stream_read_start(ns->s); /* delivers what is already buffered on the next loop round */
}

void noise_stream_close(struct noise_stream *ns)
{
    ns->closing = 1;
    stream_close(ns->s);
}

void noise_stream_end(struct noise_stream *ns)
{
    if (ns->closing)
        return;
    ns->closing = 1;
    stream_end(ns->s);
}

void noise_stream_abandon(struct noise_stream *ns)
{
    ns->on_data = NULL;
    ns->on_drain = NULL;
    ns->on_close = NULL;
    noise_stream_close(ns);
}

struct stream *noise_stream_socket(struct noise_stream *ns)
{
    return ns->s;
}

const struct ts2021_transport *noise_stream_transport(const struct noise_stream *ns)
{
    return &ns->t;
}
