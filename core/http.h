// SPDX-License-Identifier: BSD-3-Clause
/* The HTTP server modules hang paths on (HTTP/1.1 and HTTP/2, plain, TLS or unix socket), over h2o.
 * Handlers answer in one call (http_respond*), stream a reply (http_reply_*), or take the raw connection
 * after a 101 (http_upgrade). Everything runs on the loop's thread. */
#ifndef WEFT_CORE_HTTP_H
#define WEFT_CORE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct loop;
struct stream;
struct http_server;
struct http_req;
struct http_reply;

/* A header: NUL-terminated name and value. */
struct http_header {
    const char *name;
    const char *value;
};

/* Handle req: answer now or later (an unanswered request stays open until answered or gone). */
typedef void (*http_handler)(struct http_req *req, void *arg);
/* After a 101: s is the raw connection (its input holds any bytes sent after the request head), or NULL if
 * the 101 could not be written. Set s's callbacks and call stream_read_start. */
typedef void (*http_upgrade_cb)(struct stream *s, void *arg);

struct http_listen_opts {
    const char *cert_file; /* PEM chain: TLS (1.2+) when set, with key_file */
    const char *key_file;
    void *ssl_ctx; /* or TLS with this OpenSSL SSL_CTX (core/tls.h's tls_ctx_ssl), borrowed: its certificate
                    * may change while the listener runs; it must outlive the server */
    int no_h2;     /* ALPN offers http/1.1 only (h2 is offered by default) */
    unsigned mode; /* for "unix:/path": the socket file's mode (default 0600) */
};

/* A server on l with no listeners and no routes; NULL on failure. */
struct http_server *http_server_new(struct loop *l);
/* Listen on "127.0.0.1:8080", "[::]:443", ":80" or "unix:/path" (opts may be NULL). Returns a listener id >=
 * 0, or -1 with a message naming the address in err (address in use, bad address, bad certificate...). */
int http_listen(struct http_server *srv, const char *addr, const struct http_listen_opts *opts, char *err,
                size_t errlen);
/* The bound port of listener id (useful after ":0"); 0 for unix sockets or a bad id. */
uint16_t http_listener_port(struct http_server *srv, int id);
/* Route path to fn: exact match, or with prefix != 0 every path starting with it. The longest match wins,
 * exact before prefix. Unrouted paths get 404. 0, or -1 on failure. */
int http_route(struct http_server *srv, const char *path, int prefix, http_handler fn, void *arg);
/* Largest request body buffered for handlers (default 1 MiB; larger gets 413). */
void http_server_set_max_body(struct http_server *srv, size_t bytes);
/* Graceful shutdown: close the listeners, send HTTP/2 GOAWAY, end keep-alive after the current responses. */
void http_server_close(struct http_server *srv);
/* Connections still served over HTTP (upgraded ones belong to their streams and are not counted). */
size_t http_server_connections(const struct http_server *srv);
/* Close everything (pending requests see their on_gone) and free; call it outside the server's callbacks. */
void http_server_free(struct http_server *srv);

/* "GET", "POST", ... */
const char *http_req_method(const struct http_req *req);
/* The path, normalised (no "..", no query), e.g. "/register/abc". */
const char *http_req_path(const struct http_req *req);
/* The query after '?', without it ("" if none). */
const char *http_req_query(const struct http_req *req);
/* 0x100, 0x101 or 0x200. */
int http_req_version(const struct http_req *req);
/* The first header called name (case-insensitive), or NULL. "Upgrade" is seen only with "Connection:
 * upgrade" (HTTP/1.1); Content-Length and Transfer-Encoding are not seen (use http_req_body). */
const char *http_req_header(struct http_req *req, const char *name);
/* The request body (buffered whole); NULL and 0 if none. */
const uint8_t *http_req_body(const struct http_req *req, size_t *len);
/* The client's address into sa (room for a sockaddr_storage); its length, 0 if unknown. */
socklen_t http_req_peer(const struct http_req *req, struct sockaddr *sa);
/* The local address the client reached (the listener's side of the connection), as http_req_peer. */
socklen_t http_req_local(const struct http_req *req, struct sockaddr *sa);
/* The client's address as text in buf (>= ADDR_STRLEN); returns buf. */
char *http_req_peer_str(const struct http_req *req, char *buf, size_t cap);
/* 1 if the request came over TLS. */
int http_req_is_tls(const struct http_req *req);
/* For a handler that answers later: cb(arg) runs if the client goes away first (req is invalid after it).
 * h2o notices a vanished HTTP/1 client only when it next reads or writes the connection. */
void http_req_on_gone(struct http_req *req, void (*cb)(void *arg), void *arg);

/* Answer with status, headers (Content-Length is set from body_len) and body (copied). */
void http_respond(struct http_req *req, int status, const struct http_header *headers, size_t num_headers,
                  const void *body, size_t body_len);
/* Answer with a text/plain; charset=utf-8 body. */
void http_respond_text(struct http_req *req, int status, const char *text);
/* Answer with an application/json body. */
void http_respond_json(struct http_req *req, int status, const char *json);

/* Start a streamed answer (headers go out now). on_gone(arg) runs if the client leaves; http_reply_end must
 * still be called. NULL on failure. */
struct http_reply *http_reply_start(struct http_req *req, int status, const struct http_header *headers,
                                    size_t num_headers, void (*on_gone)(void *arg), void *arg);
/* Queue a chunk (copied); 0, or -1 once the client is gone. */
int http_reply_write(struct http_reply *r, const void *data, size_t len);
/* Bytes queued and not yet handed to the connection. */
size_t http_reply_queued(const struct http_reply *r);
/* Finish the answer after the queued chunks and release r. */
void http_reply_end(struct http_reply *r);

/* Answer 101 with "Upgrade: protocol" (and the given headers), then hand over the raw connection to cb.
 * HTTP/1.1 only: -1 (nothing sent) for HTTP/2 requests, which the handler must answer itself. */
int http_upgrade(struct http_req *req, const char *protocol, const struct http_header *headers,
                 size_t num_headers, http_upgrade_cb cb, void *arg);

#endif
