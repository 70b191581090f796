// SPDX-License-Identifier: BSD-3-Clause
/* The ts2021 Noise transport over a stream (spec control-ts2021.md §3.6): records in, plaintext out to a
 * callback; plaintext in, records queued on the stream. Both ends of the control channel use it once the
 * handshake is done (the server right after its 101, the client after reading the 51-byte response).
 * Records are opened in place in the stream's input buffer and sealed into one shared scratch buffer, so a
 * connection costs no memory here beyond this small struct and what the stream itself queues. */
#ifndef WEFT_CORE_NOISE_STREAM_H
#define WEFT_CORE_NOISE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto/noise_ts2021.h"

struct stream;
struct noise_stream;

/* Plaintext arrived: data is writable and valid during the call only; the owner may write or close. */
typedef void (*noise_stream_data_cb)(struct noise_stream *ns, uint8_t *data, size_t len, void *arg);
/* Everything queued has reached the socket (resume producing). */
typedef void (*noise_stream_drain_cb)(struct noise_stream *ns, void *arg);
/* The connection is gone: err NULL after noise_stream_close/end, else why (a bad record, the peer closed,
 * a timeout). Called once, from the loop; ns is freed right after. */
typedef void (*noise_stream_close_cb)(struct noise_stream *ns, const char *err, void *arg);

/* Take over s (its callbacks are replaced; bytes already in its input are treated as records) with the
 * transport keys t (copied; wipe yours). Starts reading. NULL if out of memory (s is closed then). */
struct noise_stream *noise_stream_new(struct stream *s, const struct ts2021_transport *t,
                                      noise_stream_data_cb on_data, noise_stream_drain_cb on_drain,
                                      noise_stream_close_cb on_close, void *arg);
/* Seal len bytes as records (at most 4077 plaintext bytes each) and queue them. 0, or -1 when the
 * connection is closing (or the nonce space is used up, which closes it). */
int noise_stream_write(struct noise_stream *ns, const void *data, size_t len);
/* Wire bytes queued on the stream and not yet written to the socket. */
size_t noise_stream_queued(const struct noise_stream *ns);
/* Stop / resume delivering records (back-pressure); buffered input stays. */
void noise_stream_pause(struct noise_stream *ns);
void noise_stream_resume(struct noise_stream *ns);
/* Close now (queued output dropped) / after the queued output; on_close(ns, NULL) follows. Safe twice. */
void noise_stream_close(struct noise_stream *ns);
void noise_stream_end(struct noise_stream *ns);
/* Close now and never call back (for an owner that is going away): ns is freed by the loop. */
void noise_stream_abandon(struct noise_stream *ns);
/* The underlying stream (for its peer address, timeouts). */
struct stream *noise_stream_socket(struct noise_stream *ns);
/* The keys and peer of this connection (handshake hash, peer static key, protocol version). */
const struct ts2021_transport *noise_stream_transport(const struct noise_stream *ns);

#endif
