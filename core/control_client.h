// SPDX-License-Identifier: BSD-3-Clause
/* The control channel, node end (spec control-ts2021.md §1-§5): GET /key, the POST /ts2021 upgrade, the
 * Noise initiator, the early payload, then an HTTP/2 client session (the preface and settings of the
 * official client) inside the Noise records. Requests get their answer whole, or chunk by chunk for long
 * streaming responses (the map poll). Used by the node role, the tests and the control benchmark, which
 * holds thousands of these in one process: a connection costs a stream, an nghttp2 session and ~1 KiB. */
#ifndef WEFT_CORE_CONTROL_CLIENT_H
#define WEFT_CORE_CONTROL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/crypto/key.h"
#include "core/http.h"
#include "core/stream.h"

struct loop;
struct control_client;
struct control_call;

/* The capability version we announce unless told otherwise (the one of the captures' client). */
#define CONTROL_CLIENT_VERSION 97

struct control_client_opts {
    const char *server_url;         /* "http://host[:port]" or "https://host[:port]" (the login server) */
    const struct key *machine_priv; /* our machine key (copied) */
    const struct key *control_pub;  /* the server's control key; NULL: GET /key first */
    uint16_t version;               /* capability version (0: CONTROL_CLIENT_VERSION) */
    const struct stream_connect_opts *connect; /* TLS verification and timeout for https (may be NULL) */
    unsigned timeout_ms; /* /key + connect + upgrade + handshake + early payload (default 10000) */
};

/* err NULL: the channel is up (the early payload, if any, has been read). Otherwise the attempt failed
 * and cc is freed after this returns. */
typedef void (*control_client_ready_cb)(struct control_client *cc, const char *err, void *arg);
/* The channel is gone after being up (err says why; "closed by the server" after a GOAWAY and EOF).
 * Calls still open got their on_done first; cc is freed after this returns. */
typedef void (*control_client_close_cb)(struct control_client *cc, const char *err, void *arg);

/* Start connecting. NULL on bad options (unparsable URL, no key). */
struct control_client *control_client_connect(struct loop *l, const struct control_client_opts *o,
                                              control_client_ready_cb on_ready,
                                              control_client_close_cb on_close, void *arg);
/* Close now and free; no callback of cc or of its calls follows. Safe from any callback of cc. */
void control_client_close(struct control_client *cc);

/* The server's control public key (from /key or the options). */
const struct key *control_client_server_key(const struct control_client *cc);
/* The early payload's JSON (NUL-terminated) once ready, or NULL if the server sent none. */
const char *control_client_early_json(const struct control_client *cc);
/* The nodeKeyChallenge of the early payload: 0 and *chal filled, or -1 if there was none. */
int control_client_challenge(const struct control_client *cc, struct key *chal);
/* Calls in flight. */
size_t control_client_calls(const struct control_client *cc);

struct control_call_cbs {
    /* The response head (regular headers, lowercase names; valid during the call). May be NULL. */
    void (*on_head)(struct control_call *call, int status, const struct http_header *hs, size_t n,
                    void *arg);
    /* Each body chunk as it arrives (a streaming answer). NULL: the body is collected for on_done. */
    void (*on_data)(struct control_call *call, const uint8_t *data, size_t len, void *arg);
    /* The end: err NULL after a complete answer (body/len: the collected body, NUL-terminated, when
     * on_data is NULL), else why it failed (status is 0 if no head arrived). The call is freed after. */
    void (*on_done)(struct control_call *call, int status, const uint8_t *body, size_t len, const char *err,
                    void *arg);
};

/* Largest body collected for on_done (more fails the call). */
#define CONTROL_CALL_MAX_BODY (16u << 20)

/* Send a request (method, path, extra headers with lowercase names, body copied). Allowed as soon as
 * control_client_connect returned (it is sent once the channel is up). NULL on failure. */
struct control_call *control_client_request(struct control_client *cc, const char *method, const char *path,
                                            const struct http_header *hs, size_t n, const void *body,
                                            size_t len, const struct control_call_cbs *cbs, void *arg);
/* Cancel (RST_STREAM CANCEL); no callback follows. */
void control_call_cancel(struct control_call *call);

#endif
