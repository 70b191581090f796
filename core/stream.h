// SPDX-License-Identifier: BSD-3-Clause
/* A byte-stream connection (TCP, TLS or unix socket) on the loop: accepted, upgraded from HTTP, or outbound.
 * Input accumulates in the stream's buffer until the owner consumes it; writes are queued (the owner watches
 * stream_queued to bound memory); closing is always reported once, later, through the close callback. */
#ifndef WEFT_CORE_STREAM_H
#define WEFT_CORE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

struct loop;
struct stream;
struct stream_listener;

/* New input is in stream_input; consume what was parsed, the rest stays for the next call. */
typedef void (*stream_read_cb)(struct stream *s, void *arg);
/* Everything queued has been written to the socket. */
typedef void (*stream_drain_cb)(struct stream *s, void *arg);
/* The stream is closed: err is NULL after stream_close/stream_end, else why ("socket closed by peer",
 * "read timeout", ...). Called once, from the loop (never inside a stream_* call); then s is freed. */
typedef void (*stream_close_cb)(struct stream *s, const char *err, void *arg);
/* Outbound connection result: err NULL on success. On failure the stream is freed after this returns. */
typedef void (*stream_connect_cb)(struct stream *s, const char *err, void *arg);
/* A listener accepted s: set its callbacks and start reading (or close it). */
typedef void (*stream_accept_cb)(struct stream_listener *ls, struct stream *s, void *arg);

/* Options for stream_connect; zero means the default. */
struct stream_connect_opts {
    int tls;                   /* wrap in TLS (1.2 or later) */
    const char *sni;           /* server name sent and checked against the certificate (default: the host) */
    const char *ca_file;       /* PEM CA bundle to verify against (default: the system store) */
    const char *pin_cert_file; /* PEM certificate the server must present exactly (no CA or name check) */
    int insecure;              /* accept any certificate: tests only */
    unsigned timeout_ms;       /* resolve + connect + handshake limit (default 10000) */
};

/* Set the callbacks (any may be NULL) and their argument. */
void stream_set_callbacks(struct stream *s, stream_read_cb on_read, stream_drain_cb on_drain,
                          stream_close_cb on_close, void *arg);
/* Start delivering input (already buffered input is delivered on the next loop round). */
void stream_read_start(struct stream *s);
/* Stop reading from the socket (back-pressure); buffered input stays. */
void stream_read_stop(struct stream *s);
/* The unconsumed input (valid until the next stream_* call that reads or consumes); *len gets its size. */
uint8_t *stream_input(struct stream *s, size_t *len);
/* Drop the first n bytes of the input (n is clamped to what is there). */
void stream_consume(struct stream *s, size_t n);

/* Queue iovecs for writing; the caller's buffers are free again on return. 0, or -1 once closing. */
int stream_writev(struct stream *s, const struct iovec *iov, size_t n);
/* Queue one buffer for writing; as stream_writev. */
int stream_write(struct stream *s, const void *buf, size_t len);
/* Bytes accepted by stream_write* but not yet written to the socket. */
size_t stream_queued(const struct stream *s);

/* Plain TCP: read at most bytes per round from the socket (h2o otherwise reads everything the kernel holds
 * at once: megabytes from a fast peer after a pause, into a buffer grown for it). For a reader that paces
 * itself (back-pressure). Only while nothing is being written; -1 if it cannot (TLS, writing, set). */
int stream_set_read_chunk(struct stream *s, size_t bytes);

/* Close now, dropping queued output; on_close(s, NULL) follows from the loop. Safe to call twice. */
void stream_close(struct stream *s);
/* Close once the queued output is written (stops reading now); on_close(s, NULL) follows. */
void stream_end(struct stream *s);
/* Close with "read timeout" when no input arrives for ms milliseconds (0 disables). */
void stream_set_read_timeout(struct stream *s, unsigned ms);
/* Close with "write timeout" when queued output makes no progress for ms milliseconds (0 disables). */
void stream_set_write_timeout(struct stream *s, unsigned ms);
/* Close with "deadline" ms milliseconds from now, whatever happens (0 disables). */
void stream_set_deadline(struct stream *s, unsigned ms);

/* TCP keepalive: probe after idle_s seconds without traffic, every intvl_s seconds, and give up (close with an
 * error) after count unanswered probes; TCP_USER_TIMEOUT is set to the same total (idle + intvl * count) so
 * unacknowledged output times out as soon. idle_s 0 turns both off. Values are clamped to what Linux takes.
 * A no-op returning 0 on non-TCP streams (unix sockets); -1 (errno set) if a setsockopt fails. */
int stream_set_tcp_keepalive(struct stream *s, unsigned idle_s, unsigned intvl_s, unsigned count);

/* The peer's address into sa (at least sizeof(struct sockaddr_storage)); its length, 0 if unknown. */
socklen_t stream_peer(struct stream *s, struct sockaddr *sa);
/* The peer as text ("1.2.3.4:5678", "[::1]:80", "unix:..."), in buf (>= ADDR_STRLEN); returns buf. */
char *stream_peer_str(struct stream *s, char *buf, size_t cap);
/* 1 if the stream runs over TLS. */
int stream_is_tls(const struct stream *s);
/* The loop the stream runs on. */
struct loop *stream_loop(const struct stream *s);

/* Connect to "host:port" (numeric or a name, resolved off-thread) or "unix:/path"; cb reports the outcome.
 * NULL if addr is malformed. stream_close before cb cancels quietly (cb is not called). */
struct stream *stream_connect(struct loop *l, const char *addr, const struct stream_connect_opts *opts,
                              stream_connect_cb cb, void *arg);

/* Listen on "host:port" (TCP) or "unix:/path" (the file is replaced and chmod'ed to mode; 0: 0600).
 * NULL on failure, with a message naming the address in err. */
struct stream_listener *stream_listen(struct loop *l, const char *addr, unsigned mode, stream_accept_cb cb,
                                      void *arg, char *err, size_t errlen);
/* The bound port of a TCP listener (after ":0"), 0 for unix sockets. */
uint16_t stream_listener_port(const struct stream_listener *ls);
/* Stop listening and free (a unix socket file is removed). Accepted streams live on. */
void stream_listener_free(struct stream_listener *ls);

#endif
