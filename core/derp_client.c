// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/derp_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/crypto/key.h"
#include "core/loop.h"
#include "core/stream.h"
#include "core/wire/byteorder.h"
#include "core/wire/derp_frame.h"
#include "core/picohttp.h"


#define MAX_HEAD 16384
/* The most read from the relay at once (see stream_set_read_chunk). */
#define READ_CHUNK (128 * 1024)
/* A flushed send buffer bigger than this is given back. */
#define KEEP_PEND (256 * 1024)

enum { C_IDLE, C_CONNECTING, C_UPGRADING, C_HANDSHAKE, C_CONNECTED, C_WAITING, C_STOPPED };

struct derp_client {
    struct loop *loop;
    struct derp_client_cbs cb;
    void *arg;
    struct derp_url url;
    char *connect_addr, *sni, *ca_file, *pin_cert_file;
    int insecure, is_prober, no_ack_pings, reconnect;
    unsigned backoff_min, backoff_max, read_timeout, connect_timeout;
    unsigned backoff;
    struct key priv, pub;
    uint8_t server_key[32];
    uint8_t mesh_key[32];
    int has_mesh_key;

    int state;
    struct stream *s;
    struct timer retry;
    uint8_t *pend;
    size_t pend_len, pend_cap;
    int flush_queued;
    int busy; /* depth of our callbacks on the stack */
    int dead; /* derp_client_free was called: free once nothing refers to c */
};

/* ---- URLs ---- */

int derp_url_parse(const char *url, struct derp_url *out)
{
    const char *p = url;
    memset(out, 0, sizeof(*out));
    if (url == NULL)
        return -1;
    out->tls = 1;
    if (strncasecmp(p, "https://", 8) == 0) {
        p += 8;
    } else if (strncasecmp(p, "http://", 7) == 0) {
        out->tls = 0;
        p += 7;
    } else if (strstr(p, "://") != NULL) {
        return -1;
    }
    out->port = out->tls ? 443 : 80;
    const char *hend, *hstart = p;
    if (*p == '[') {
        hstart = p + 1;
        hend = strchr(hstart, ']');
        if (hend == NULL)
            return -1;
        p = hend + 1;
    } else {
        hend = p + strcspn(p, ":/");
        p = hend;
    }
    size_t hl = (size_t)(hend - hstart);
    if (hl == 0 || hl >= sizeof(out->host))
        return -1;
    memcpy(out->host, hstart, hl);
    out->host[hl] = 0;
    if (*p == ':') {
        char *end;
        unsigned long port = strtoul(p + 1, &end, 10);
        if (end == p + 1 || port == 0 || port > 65535)
            return -1;
        out->port = (uint16_t)port;
        p = end;
    }
    if (*p == 0) {
        strcpy(out->path, "/derp");
    } else if (*p == '/') {
        if (strlen(p) >= sizeof(out->path) || strpbrk(p, "\r\n ") != NULL)
            return -1;
        strcpy(out->path, p);
    } else {
        return -1;
    }
    int v6 = strchr(out->host, ':') != NULL;
    snprintf(out->hostport, sizeof(out->hostport), v6 ? "[%s]:%u" : "%s:%u", out->host, out->port);
    return 0;
}

/* ---- lifetime ---- */

static void client_release(struct derp_client *c)
{
    if (!c->dead || c->busy > 0 || c->flush_queued)
        return;
    timer_stop(&c->retry);
    free(c->connect_addr);
    free(c->sni);
    free(c->ca_file);
    free(c->pin_cert_file);
    free(c->pend);
    sodium_memzero(&c->priv, sizeof(c->priv));
    free(c);
}

/* Detach from the stream (no callback of it reaches us again) and close it. */
static void drop_stream(struct derp_client *c)
{
    if (c->s != NULL) {
        stream_set_callbacks(c->s, NULL, NULL, NULL, NULL);
        stream_close(c->s);
        c->s = NULL;
    }
    c->pend_len = 0;
}

static void dial(struct derp_client *c);

static void on_retry(struct timer *t, void *arg)
{
    dial(arg);
}

/* The connection is gone (err says why): report, then retry or stop. */
static void lost(struct derp_client *c, const char *err)
{
    int was = c->state;
    drop_stream(c);
    if (c->reconnect) {
        c->state = C_WAITING;
        unsigned d = c->backoff ? c->backoff : c->backoff_min;
        c->backoff = d * 2 > c->backoff_max ? c->backoff_max : d * 2;
        d = d / 2 +
            randombytes_uniform(d / 2 + 1); /* jitter: dialers that failed together don't retry together */
        timer_start(&c->retry, d);
    } else {
        c->state = C_STOPPED;
    }
    if (was != C_IDLE && c->cb.on_disconnected != NULL) {
        c->busy++;
        c->cb.on_disconnected(c, err, c->arg);
        c->busy--;
    }
    client_release(c); /* callers that use c afterwards hold busy */
}

/* ---- writing ---- */

static void flush(void *arg)
{
    struct derp_client *c = arg;
    c->flush_queued = 0;
    if (c->dead) {
        client_release(c);
        return;
    }
    if (c->s == NULL || c->pend_len == 0)
        return;
    size_t n = c->pend_len;
    c->pend_len = 0;
    if (stream_write(c->s, c->pend, n) != 0)
        return; /* the stream is closing: its close callback reports */
    if (c->pend_cap > KEEP_PEND) {
        free(c->pend);
        c->pend = NULL;
        c->pend_cap = 0;
    }
    if (stream_queued(c->s) == 0 && c->state == C_CONNECTED && c->cb.on_writable != NULL) {
        c->busy++;
        c->cb.on_writable(c, c->arg);
        c->busy--;
        client_release(c);
    }
}

/* Room for n more bytes in the send buffer; NULL when out of memory. */
static uint8_t *pend_reserve(struct derp_client *c, size_t n)
{
    if (c->pend_len + n > c->pend_cap) {
        size_t cap = c->pend_cap ? c->pend_cap : 16384;
        while (cap < c->pend_len + n)
            cap *= 2;
        uint8_t *p = realloc(c->pend, cap);
        if (p == NULL)
            return NULL;
        c->pend = p;
        c->pend_cap = cap;
    }
    return c->pend + c->pend_len;
}

static void pend_commit(struct derp_client *c, size_t n)
{
    c->pend_len += n;
    if (!c->flush_queued && loop_defer(c->loop, flush, c) == 0)
        c->flush_queued = 1;
}

/* Queue a whole frame: header, then the given parts. */
static int queue_frame(struct derp_client *c, uint8_t type, const struct iovec *parts, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += parts[i].iov_len;
    if (total > DERP_MAX_FRAME_SIZE)
        return -1;
    uint8_t *p = pend_reserve(c, DERP_FRAME_HEADER_LEN + total);
    if (p == NULL)
        return -1;
    derp_frame_header_put(p, type, (uint32_t)total);
    size_t off = DERP_FRAME_HEADER_LEN;
    for (size_t i = 0; i < n; i++) {
        memcpy(p + off, parts[i].iov_base, parts[i].iov_len);
        off += parts[i].iov_len;
    }
    pend_commit(c, off);
    return 0;
}

static int ready(const struct derp_client *c)
{
    return c != NULL && !c->dead && c->state == C_CONNECTED && c->s != NULL;
}

int derp_client_sendv(struct derp_client *c, const uint8_t dst[32], const struct iovec *iov, size_t n)
{
    if (!ready(c) || n > 62)
        return -1;
    struct iovec parts[64];
    size_t len = 0;
    parts[0] = (struct iovec){(void *)(uintptr_t)dst, 32};
    for (size_t i = 0; i < n; i++) {
        parts[i + 1] = iov[i];
        len += iov[i].iov_len;
    }
    if (len > DERP_MAX_PACKET_SIZE)
        return -1;
    return queue_frame(c, DERP_FRAME_SEND_PACKET, parts, n + 1);
}

int derp_client_send(struct derp_client *c, const uint8_t dst[32], const void *pkt, size_t len)
{
    if (!ready(c) || len > DERP_MAX_PACKET_SIZE)
        return -1;
    /* the common case without the gather machinery */
    uint8_t *p = pend_reserve(c, DERP_FRAME_HEADER_LEN + 32 + len);
    if (p == NULL)
        return -1;
    derp_frame_header_put(p, DERP_FRAME_SEND_PACKET, (uint32_t)(32 + len));
    memcpy(p + DERP_FRAME_HEADER_LEN, dst, 32);
    memcpy(p + DERP_FRAME_HEADER_LEN + 32, pkt, len);
    pend_commit(c, DERP_FRAME_HEADER_LEN + 32 + len);
    return 0;
}

int derp_client_forward(struct derp_client *c, const uint8_t src[32], const uint8_t dst[32], const void *pkt,
                        size_t len)
{
    if (!ready(c) || len > DERP_MAX_PACKET_SIZE)
        return -1;
    struct iovec parts[3] = {
        {(void *)(uintptr_t)src, 32}, {(void *)(uintptr_t)dst, 32}, {(void *)(uintptr_t)pkt, len}};
    return queue_frame(c, DERP_FRAME_FORWARD_PACKET, parts, 3);
}

int derp_client_ping(struct derp_client *c, const uint8_t data[8])
{
    if (!ready(c))
        return -1;
    struct iovec v = {(void *)(uintptr_t)data, 8};
    return queue_frame(c, DERP_FRAME_PING, &v, 1);
}

int derp_client_note_preferred(struct derp_client *c, int preferred)
{
    if (!ready(c))
        return -1;
    uint8_t b = preferred ? 1 : 0;
    struct iovec v = {&b, 1};
    return queue_frame(c, DERP_FRAME_NOTE_PREFERRED, &v, 1);
}

int derp_client_watch_conns(struct derp_client *c)
{
    if (!ready(c))
        return -1;
    return queue_frame(c, DERP_FRAME_WATCH_CONNS, NULL, 0);
}

int derp_client_close_peer(struct derp_client *c, const uint8_t key[32])
{
    if (!ready(c))
        return -1;
    struct iovec v = {(void *)(uintptr_t)key, 32};
    return queue_frame(c, DERP_FRAME_CLOSE_PEER, &v, 1);
}

size_t derp_client_queued(const struct derp_client *c)
{
    return c->pend_len + (c->s != NULL ? stream_queued(c->s) : 0);
}

/* ---- reading ---- */

static void on_close(struct stream *s, const char *err, void *arg)
{
    struct derp_client *c = arg;
    c->s = NULL; /* the stream frees itself after this */
    lost(c, err ? err : "connection closed");
}

static void on_drain(struct stream *s, void *arg)
{
    struct derp_client *c = arg;
    if (c->state == C_CONNECTED && c->pend_len == 0 && c->cb.on_writable != NULL) {
        c->busy++;
        c->cb.on_writable(c, c->arg);
        c->busy--;
        client_release(c);
    }
}

/* ServerKey arrived: answer with our sealed ClientInfo. */
static int send_client_info(struct derp_client *c)
{
    struct derp_client_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.version = DERP_PROTOCOL_VERSION;
    ci.can_ack_pings = !c->no_ack_pings;
    ci.is_prober = c->is_prober != 0;
    if (c->has_mesh_key) {
        ci.has_mesh_key = 1;
        memcpy(ci.mesh_key, c->mesh_key, 32);
    }
    uint8_t frame[512];
    long n = derp_client_info_seal(frame, sizeof(frame), c->priv.b, c->pub.b, c->server_key, NULL, &ci);
    sodium_memzero(&ci, sizeof(ci));
    if (n < 0)
        return -1;
    return stream_write(c->s, frame, (size_t)n);
}

/* One whole frame; 0 to go on, -1 when the connection was dropped (or c freed) meanwhile. */
static int handle_frame(struct derp_client *c, const struct derp_frame *f)
{
    const uint8_t *p = f->payload;
    size_t n = f->len;
    if (c->state == C_HANDSHAKE) {
        if (f->type == DERP_FRAME_SERVER_KEY) {
            struct derp_server_key sk;
            if (derp_server_key_decode(p, n, &sk) != 0) {
                lost(c, "malformed ServerKey");
                return -1;
            }
            memcpy(c->server_key, sk.key, 32);
            if (send_client_info(c) != 0) {
                lost(c, "cannot send ClientInfo");
                return -1;
            }
            return 0;
        }
        if (f->type == DERP_FRAME_SERVER_INFO) {
            struct derp_server_info si;
            if (derp_server_info_open(p, n, c->priv.b, c->server_key, &si) != 0) {
                lost(c, "cannot open ServerInfo");
                return -1;
            }
            c->state = C_CONNECTED;
            c->backoff = 0;
            stream_set_deadline(c->s, 0);
            stream_set_read_timeout(c->s, c->read_timeout);
            if (c->cb.on_connected != NULL)
                c->cb.on_connected(c, c->server_key, c->arg);
            return 0;
        }
        return 0; /* anything else before ServerInfo: skipped */
    }

    switch (f->type) {
    case DERP_FRAME_RECV_PACKET: {
        struct derp_packet pk;
        if (derp_recv_packet_decode(p, n, &pk) != 0)
            break;
        if (c->cb.on_packet != NULL)
            c->cb.on_packet(c, pk.src_key, pk.data, pk.data_len, c->arg);
        break;
    }
    case DERP_FRAME_KEEP_ALIVE:
        if (c->cb.on_keep_alive != NULL)
            c->cb.on_keep_alive(c, c->arg);
        break;
    case DERP_FRAME_PEER_GONE: {
        struct derp_peer_gone g;
        if (derp_peer_gone_decode(p, n, &g) == 0 && c->cb.on_peer_gone != NULL)
            c->cb.on_peer_gone(c, g.key, g.reason, c->arg);
        break;
    }
    case DERP_FRAME_PEER_PRESENT: {
        struct derp_peer_present pp;
        if (derp_peer_present_decode(p, n, &pp) == 0 && c->cb.on_peer_present != NULL)
            c->cb.on_peer_present(c, &pp, c->arg);
        break;
    }
    case DERP_FRAME_PING: {
        const uint8_t *d;
        if (!c->no_ack_pings && derp_ping_decode(p, n, &d) == 0) {
            struct iovec v = {(void *)(uintptr_t)d, 8};
            queue_frame(c, DERP_FRAME_PONG, &v, 1);
        }
        break;
    }
    case DERP_FRAME_PONG: {
        const uint8_t *d;
        if (derp_ping_decode(p, n, &d) == 0 && c->cb.on_pong != NULL)
            c->cb.on_pong(c, d, c->arg);
        break;
    }
    case DERP_FRAME_HEALTH:
        if (c->cb.on_health != NULL)
            c->cb.on_health(c, (const char *)p, n, c->arg);
        break;
    case DERP_FRAME_RESTARTING: {
        struct derp_restarting r;
        if (derp_restarting_decode(p, n, &r) == 0 && c->cb.on_restarting != NULL)
            c->cb.on_restarting(c, r.reconnect_in_ms, r.try_for_ms, c->arg);
        break;
    }
    default:
        break; /* ServerKey again (fast start) and unknown types are skipped */
    }
    return 0;
}

static void on_frames(struct stream *s, void *arg)
{
    struct derp_client *c = arg;
    size_t len, off = 0;
    uint8_t *buf = stream_input(s, &len);
    c->busy++;
    while (off < len) {
        struct derp_frame f;
        long r = derp_frame_parse(buf + off, len - off, DERP_MAX_FRAME_SIZE, &f);
        if (r == DERP_PARSE_NEED_MORE)
            break;
        if (r < 0) {
            lost(c, "oversized frame");
            off = 0;
            break;
        }
        if (handle_frame(c, &f) != 0 || c->s != s) {
            off = 0; /* s is closed (its input is gone with it) */
            break;
        }
        off += (size_t)r;
    }
    if (off > 0)
        stream_consume(s, off);
    c->busy--;
    client_release(c);
}

/* The 101 (or anything else) to our upgrade request. */
static void on_head(struct stream *s, void *arg)
{
    struct derp_client *c = arg;
    size_t len;
    const char *buf = (const char *)stream_input(s, &len);
    struct phr_header hs[32];
    size_t nh = 32;
    int minor, status;
    const char *msg;
    size_t msg_len;
    int n = phr_parse_response(buf, len, &minor, &status, &msg, &msg_len, hs, &nh, 0);
    if (n == -2) {
        if (len > MAX_HEAD)
            lost(c, "upgrade response head too large");
        return;
    }
    if (n < 0) {
        lost(c, "malformed upgrade response");
        return;
    }
    if (status != 101) {
        char err[64];
        snprintf(err, sizeof(err), "upgrade refused: HTTP %d", status);
        lost(c, err);
        return;
    }
    stream_consume(s, (size_t)n);
    c->state = C_HANDSHAKE;
    stream_set_callbacks(s, on_frames, on_drain, on_close, c);
    on_frames(s, c);
}

static void on_connect(struct stream *s, const char *err, void *arg)
{
    struct derp_client *c = arg;
    if (err != NULL) {
        c->s = NULL; /* freed by the stream layer after this */
        lost(c, err);
        return;
    }
    c->state = C_UPGRADING;
    /* bounded reads: a relay's burst is taken a piece at a time, between the loop's other work (plain
     * TCP only; TLS keeps h2o's reading) */
    stream_set_read_chunk(s, READ_CHUNK);
    char req[1024];
    const char *host = (c->url.port == (c->url.tls ? 443 : 80)) ? c->url.host : c->url.hostport;
    int v6 = strchr(host, ':') != NULL && host == c->url.host;
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s%s%s\r\nUser-Agent: weft\r\nUpgrade: DERP\r\n"
                     "Connection: Upgrade\r\n\r\n",
                     c->url.path, v6 ? "[" : "", host, v6 ? "]" : "");
    stream_set_callbacks(s, on_head, on_drain, on_close, c);
    stream_set_deadline(s, c->connect_timeout);
    if (n < 0 || (size_t)n >= sizeof(req) || stream_write(s, req, (size_t)n) != 0) {
        lost(c, "cannot send the upgrade request");
        return;
    }
    stream_read_start(s);
}

static void dial(struct derp_client *c)
{
    struct stream_connect_opts o = {
        .tls = c->url.tls,
        .sni = c->sni,
        .ca_file = c->ca_file,
        .pin_cert_file = c->pin_cert_file,
        .insecure = c->insecure,
        .timeout_ms = c->connect_timeout,
    };
    memset(c->server_key, 0, sizeof(c->server_key));
    c->pend_len = 0;
    c->state = C_CONNECTING;
    if (o.tls && o.sni == NULL)
        o.sni = c->url.host;
    c->s = stream_connect(c->loop, c->connect_addr ? c->connect_addr : c->url.hostport, &o, on_connect, c);
    if (c->s == NULL)
        lost(c, "cannot dial");
}

void derp_client_reconnect(struct derp_client *c)
{
    if (c->dead)
        return;
    if (c->state == C_WAITING || c->state == C_STOPPED) {
        timer_stop(&c->retry);
        c->busy++;
        dial(c);
        c->busy--;
        client_release(c);
        return;
    }
    int keep = c->reconnect;
    c->busy++;
    c->reconnect = 1;
    lost(c, "reconnect requested");
    c->reconnect = keep;
    c->busy--;
    client_release(c);
}

static char *dup_opt(const char *s, int *fail)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *fail = 1;
    return d;
}

struct derp_client *derp_client_new(struct loop *l, const struct derp_client_opts *o,
                                    const struct derp_client_cbs *cbs, void *arg)
{
    if (o == NULL || o->priv == NULL || key_crypto_init() != 0)
        return NULL;
    struct derp_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    int fail = 0;
    c->loop = l;
    if (cbs != NULL)
        c->cb = *cbs;
    c->arg = arg;
    if (derp_url_parse(o->url, &c->url) != 0)
        fail = 1;
    c->connect_addr = dup_opt(o->connect_addr, &fail);
    c->sni = dup_opt(o->sni, &fail);
    c->ca_file = dup_opt(o->ca_file, &fail);
    c->pin_cert_file = dup_opt(o->pin_cert_file, &fail);
    c->insecure = o->insecure;
    c->is_prober = o->is_prober;
    c->no_ack_pings = o->no_ack_pings;
    c->reconnect = o->reconnect;
    c->backoff_min = o->backoff_min_ms ? o->backoff_min_ms : 250;
    c->backoff_max = o->backoff_max_ms ? o->backoff_max_ms : 30000;
    if (c->backoff_max < c->backoff_min)
        c->backoff_max = c->backoff_min;
    c->read_timeout = o->read_timeout_ms ? o->read_timeout_ms : 120000;
    c->connect_timeout = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
    memcpy(c->priv.b, o->priv, 32);
    if (key_public(&c->pub, &c->priv) != 0)
        fail = 1;
    if (o->mesh_key != NULL) {
        memcpy(c->mesh_key, o->mesh_key, 32);
        c->has_mesh_key = 1;
    }
    timer_init(&c->retry, l, on_retry, c);
    if (fail) {
        c->dead = 1;
        client_release(c);
        return NULL;
    }
    c->busy++;
    dial(c);
    c->busy--;
    if (c->dead) {
        client_release(c);
        return NULL;
    }
    return c;
}

void derp_client_free(struct derp_client *c)
{
    if (c == NULL || c->dead)
        return;
    c->dead = 1;
    timer_stop(&c->retry);
    drop_stream(c);
    c->state = C_STOPPED;
    client_release(c);
}

int derp_client_connected(const struct derp_client *c)
{
    return ready(c);
}

const uint8_t *derp_client_public_key(const struct derp_client *c)
{
    return c->pub.b;
}

const uint8_t *derp_client_server_key(const struct derp_client *c)
{
    return c->server_key;
}
