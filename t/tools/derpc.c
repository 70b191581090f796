// SPDX-License-Identifier: BSD-3-Clause
/* derpc: a DERP client for the shell tests, over core/derp_client (and raw sockets for misbehaving on
 * purpose). Prints one line per event on stdout ("connected KEY", "received N", "pong", "peer_gone KEY
 * REASON", ...).
 * A sender numbers its packets per destination (--send-to may be given several times: round robin), in
 * the first 8 bytes of the payload (after the 62-byte disco header with --disco). A receiver checks every
 * packet: its source is one of --from (when given), and each source's numbers run 0, 1, 2, ... with nothing
 * twice, out of order or missing (--allow-loss: missing is fine, the rest still holds). A violation prints
 * "bad-source KEY" or "bad-seq KEY got N want M" and makes the exit status 3. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/crypto/key.h"
#include "core/derp_client.h"
#include "core/loop.h"
#include "core/wire/derp_frame.h"

#define MAX_DST 16
#define MAX_SRC 64

static struct {
    const char *url, *key_file, *ca_file, *pin, *raw, *exit_on, *mesh_key_file;
    int ndst, disco, events, ping, reconnect, insecure, quiet_recv, allow_loss, nfrom, watch;
    int have_close_peer, have_forward_from;
    uint8_t close_peer[32], forward_from[32];
    uint8_t dst[MAX_DST][32];
    uint64_t dst_seq[MAX_DST];
    uint8_t from[MAX_SRC][32];
    long count, size, interval_ms, expect, idle, timeout_s, hold_s, ping_after_ms, read_rate, progress_ms;
} opt = {.size = 100, .timeout_s = 30};

static struct loop *L;
static struct key priv;
static long sent, received;
static int exit_code = 1;
static struct timer t_send, t_timeout, t_hold, t_ping, t_progress;
static struct derp_client *client;
static struct derp_client **idle_clients;
static long idle_up;
static uint8_t *payload;

/* What a receiver has seen from each source. */
static struct src {
    uint8_t key[32];
    uint64_t next; /* the number the next packet must carry */
} srcs[MAX_SRC];
static int nsrcs, order_errors;

static void hex(const uint8_t *k, char out[65])
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", k[i]);
}

static void finish(int code)
{
    exit_code = code;
    loop_stop(L);
}

/* The payload's sequence number: where it is and whether the packets are big enough to carry one. */
static size_t seq_off(void)
{
    return opt.disco ? 62 : 0;
}

static void check_packet(const uint8_t src[32], const uint8_t *data, size_t len)
{
    char h[65];
    if (opt.nfrom > 0) {
        int known = 0;
        for (int i = 0; i < opt.nfrom && !known; i++)
            known = memcmp(opt.from[i], src, 32) == 0;
        if (!known) {
            hex(src, h);
            printf("bad-source %s\n", h);
            order_errors++;
            return;
        }
    }
    size_t off = len >= 62 && memcmp(data, "TS\xf0\x9f\x92\xac", 6) == 0 ? 62 : 0;
    if (len < off + 8)
        return; /* too short to carry a number */
    uint64_t seq;
    memcpy(&seq, data + off, 8);
    struct src *sp = NULL;
    for (int i = 0; i < nsrcs && sp == NULL; i++)
        if (memcmp(srcs[i].key, src, 32) == 0)
            sp = &srcs[i];
    if (sp == NULL) {
        if (nsrcs == MAX_SRC) {
            printf("too-many-sources\n");
            order_errors++;
            return;
        }
        sp = &srcs[nsrcs++];
        memcpy(sp->key, src, 32);
        sp->next = 0;
    }
    if (seq == sp->next || (opt.allow_loss && seq > sp->next)) {
        sp->next = seq + 1;
        return;
    }
    hex(src, h);
    printf("bad-seq %s got %llu want %llu\n", h, (unsigned long long)seq, (unsigned long long)sp->next);
    order_errors++;
    if (seq > sp->next)
        sp->next = seq + 1;
}

static void maybe_done(void)
{
    int sending_done = opt.count == 0 || sent >= opt.count;
    int recv_done = opt.expect == 0 || received >= opt.expect;
    if (opt.idle || opt.exit_on)
        return;
    if (sending_done && recv_done && !opt.ping) {
        if (opt.hold_s > 0) {
            if (!timer_armed(&t_hold))
                timer_start(&t_hold, (uint64_t)opt.hold_s * 1000);
            return;
        }
        /* let the last frames reach the kernel before leaving */
        if (derp_client_queued(client) == 0)
            finish(0);
    }
}

static void send_some(void)
{
    if (!derp_client_connected(client))
        return;
    while (sent < opt.count && derp_client_queued(client) < (1u << 20)) {
        int d = (int)(sent % opt.ndst);
        if ((size_t)opt.size >= seq_off() + 8)
            memcpy(payload + seq_off(), &opt.dst_seq[d], 8);
        if (opt.have_forward_from
                ? derp_client_forward(client, opt.forward_from, opt.dst[d], payload, (size_t)opt.size) != 0
                : derp_client_send(client, opt.dst[d], payload, (size_t)opt.size) != 0)
            break;
        opt.dst_seq[d]++;
        sent++;
        if (opt.interval_ms > 0) {
            timer_start(&t_send, (uint64_t)opt.interval_ms);
            return;
        }
    }
    maybe_done();
}

static void on_send_timer(struct timer *t, void *arg)
{
    send_some();
}

static void on_timeout(struct timer *t, void *arg)
{
    if (opt.idle) {
        printf("idle %ld/%ld\n", idle_up, opt.idle);
        finish(idle_up == opt.idle ? 0 : 1);
        return;
    }
    printf("timeout sent=%ld received=%ld\n", sent, received);
    finish(1);
}

static void on_ping_timer(struct timer *t, void *arg)
{
    static const uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    derp_client_ping(client, d);
}

/* SIGUSR1: one ping now (a test makes this connection the one that sent last, at the moment it chooses) */
static void on_usr1(int signo, void *arg)
{
    if (client)
        on_ping_timer(NULL, NULL);
}

/* --progress: "progress received=N sent=N" every so often (tests watch a receiver's count move) */
static void on_progress(struct timer *t, void *arg)
{
    printf("progress received=%ld sent=%ld\n", received, sent);
    timer_start(&t_progress, (uint64_t)opt.progress_ms);
}

static void on_hold(struct timer *t, void *arg)
{
    finish(0);
}

static void on_connected(struct derp_client *c, const uint8_t server_key[32], void *arg)
{
    char h[65];
    if (opt.idle) {
        if (++idle_up == opt.idle) {
            printf("connected %ld\n", idle_up);
            if (opt.hold_s > 0)
                timer_start(&t_hold, (uint64_t)opt.hold_s * 1000);
        }
        return;
    }
    hex(server_key, h);
    printf("connected %s\n", h);
    if (opt.ping) {
        static const uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        derp_client_ping(c, d);
    }
    if (opt.ping_after_ms > 0)
        timer_start(&t_ping, (uint64_t)opt.ping_after_ms);
    if (opt.watch)
        derp_client_watch_conns(c);
    if (opt.have_close_peer)
        derp_client_close_peer(c, opt.close_peer);
    send_some();
}

static void on_disconnected(struct derp_client *c, const char *err, void *arg)
{
    if (opt.idle) {
        printf("disconnected %s\n", err);
        return;
    }
    printf("disconnected %s\n", err);
    if (!opt.reconnect && !(opt.exit_on && strcmp(opt.exit_on, "disconnected") == 0))
        finish(1);
    else if (opt.exit_on && strcmp(opt.exit_on, "disconnected") == 0)
        finish(0);
}

static void on_packet(struct derp_client *c, const uint8_t src[32], const uint8_t *data, size_t len,
                      void *arg)
{
    received++;
    check_packet(src, data, len);
    if (opt.events && !opt.quiet_recv) {
        char h[65];
        hex(src, h);
        printf("packet %s %zu\n", h, len);
    }
    if (opt.expect && received == opt.expect)
        printf("received %ld\n", received);
    maybe_done();
}

static void event(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void event(const char *name, const char *fmt, ...)
{
    if (opt.events) {
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }
    if (opt.exit_on && strcmp(opt.exit_on, name) == 0) {
        if (!opt.events) {
            va_list ap;
            va_start(ap, fmt);
            vprintf(fmt, ap);
            va_end(ap);
        }
        finish(0);
    }
}

static void on_peer_gone(struct derp_client *c, const uint8_t key[32], uint8_t reason, void *arg)
{
    char h[65];
    hex(key, h);
    event(reason == DERP_PEER_GONE_NOT_HERE ? "not_here" : "peer_gone", "%s %s %u\n",
          reason == DERP_PEER_GONE_NOT_HERE ? "not_here" : "peer_gone", h, reason);
}

static void on_peer_present(struct derp_client *c, const struct derp_peer_present *pp, void *arg)
{
    char h[65];
    hex(pp->key, h);
    event("peer_present", "peer_present %s\n", h);
}

static void on_pong(struct derp_client *c, const uint8_t data[8], void *arg)
{
    static const uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    printf("pong %s\n", memcmp(data, d, 8) == 0 ? "ok" : "mismatch");
    if (opt.ping) {
        opt.ping = 0;
        maybe_done();
    }
}

static void on_keep_alive(struct derp_client *c, void *arg)
{
    event("keepalive", "keepalive\n");
}

static void on_restarting(struct derp_client *c, uint32_t in_ms, uint32_t try_ms, void *arg)
{
    event("restarting", "restarting %u %u\n", in_ms, try_ms);
}

static void on_health(struct derp_client *c, const char *text, size_t len, void *arg)
{
    event("health", "health %.*s\n", (int)len, text);
}

static void on_writable(struct derp_client *c, void *arg)
{
    if (opt.interval_ms == 0)
        send_some();
    else
        maybe_done();
}

/* ---- raw mode: a client that misbehaves on purpose, with blocking sockets ---- */

static int raw_connect(struct derp_url *u)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    char port[8];
    snprintf(port, sizeof(port), "%u", u->port);
    if (getaddrinfo(u->host, port, &hints, &res) != 0)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && opt.raw != NULL && (strcmp(opt.raw, "stall-read") == 0 || strcmp(opt.raw, "slow-read") == 0)) {
        int sz = 4096; /* before connect: a small window the relay fills at once (no autotuning) */
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* slow-read: take the relay's frames at about opt.read_rate bytes a second, checking the packets as the
 * event-driven receiver does; 0 once --expect packets came (3 if any was out of place), 1 if dropped or
 * timed out. */
static int slow_read(int fd)
{
    static uint8_t buf[1 << 17];
    size_t have = 0;
    long rate = opt.read_rate > 0 ? opt.read_rate : 1 << 20;
    while (received < opt.expect) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have < 4096 ? sizeof(buf) - have : 4096);
        if (r <= 0) {
            if (r == 0)
                printf("dropped received=%ld\n", received);
            else
                printf("timeout received=%ld\n", received);
            return 1;
        }
        have += (size_t)r;
        size_t off = 0;
        while (have - off >= DERP_FRAME_HEADER_LEN) {
            const uint8_t *h = buf + off;
            uint32_t len = (uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
            if (len > sizeof(buf) - DERP_FRAME_HEADER_LEN) {
                printf("bad-frame length %u\n", len);
                return 1;
            }
            if (have - off < DERP_FRAME_HEADER_LEN + len)
                break;
            if (h[0] == DERP_FRAME_RECV_PACKET && len >= 32) {
                received++;
                check_packet(h + DERP_FRAME_HEADER_LEN, h + DERP_FRAME_HEADER_LEN + 32, len - 32);
            }
            off += DERP_FRAME_HEADER_LEN + len;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
        usleep((useconds_t)((double)r * 1e6 / (double)rate));
    }
    printf("received %ld\n", received);
    return order_errors > 0 ? 3 : 0;
}

static int read_exact(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- ws-burst: a WebSocket client that sends a burst of packets in one write ---- */

/* One message from the server (unmasked frames; control frames skipped): its payload into buf, its length,
 * or -1 on EOF, timeout or a message bigger than cap. */
static long ws_read_msg(int fd, uint8_t *buf, size_t cap)
{
    for (;;) {
        uint8_t h[10];
        if (read_exact(fd, h, 2) != 0)
            return -1;
        uint64_t len = h[1] & 0x7f;
        if (len == 126 || len == 127) {
            size_t k = len == 126 ? 2 : 8;
            if (read_exact(fd, h + 2, k) != 0)
                return -1;
            len = 0;
            for (size_t i = 0; i < k; i++)
                len = len << 8 | h[2 + i];
        }
        if (len > cap)
            return -1;
        if (read_exact(fd, buf, (size_t)len) != 0)
            return -1;
        if ((h[0] & 0x0f) < 8)
            return (long)len;
    }
}

/* Append data as one masked client frame (binary, final) to out at *n. */
static void ws_put(uint8_t *out, size_t *n, const uint8_t *data, size_t len)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t *p = out + *n;
    p[0] = 0x82;
    size_t h = 2;
    if (len < 126) {
        p[1] = (uint8_t)(0x80 | len);
    } else {
        p[1] = 0x80 | 126;
        p[2] = (uint8_t)(len >> 8);
        p[3] = (uint8_t)len;
        h = 4;
    }
    memcpy(p + h, mask, 4);
    for (size_t i = 0; i < len; i++)
        p[h + 4 + i] = data[i] ^ mask[i & 3];
    *n += h + 4 + len;
}

/* Upgrade to WebSocket (subprotocol derp), handshake, then write --count SendPackets to the first --send-to
 * (numbered as usual), each in its own WebSocket message, all in one write; then stay until the timeout.
 * 0 if the relay kept the connection ("still-open"), 1 if it dropped it. */
static int run_ws_burst(int fd, const struct derp_url *u)
{
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: derp\r\n\r\n",
                     u->path, u->hostport);
    if (opt.ndst == 0 || write(fd, req, (size_t)n) != n)
        return 2;
    char head[4096];
    size_t hl = 0;
    while (hl < sizeof(head) - 1 && (hl < 4 || memcmp(head + hl - 4, "\r\n\r\n", 4) != 0)) {
        if (read(fd, head + hl, 1) != 1)
            return 2;
        hl++;
    }
    static uint8_t msg[1 << 16];
    long ml = ws_read_msg(fd, msg, sizeof(msg)); /* ServerKey: header, magic, key */
    if (strncmp(head, "HTTP/1.1 101", 12) != 0 || ml != DERP_FRAME_HEADER_LEN + 40 ||
        msg[0] != DERP_FRAME_SERVER_KEY) {
        fprintf(stderr, "derpc: no WebSocket upgrade\n");
        return 2;
    }
    uint8_t pub[32], frame[512], server_key[32];
    memcpy(server_key, msg + DERP_FRAME_HEADER_LEN + 8, 32);
    struct key pk;
    key_public(&pk, &priv);
    memcpy(pub, pk.b, 32);
    struct derp_client_info ci = {.version = 2, .can_ack_pings = 1};
    long fl = derp_client_info_seal(frame, sizeof(frame), priv.b, pub, server_key, NULL, &ci);
    static uint8_t out[1 << 23];
    size_t on = 0;
    if (fl < 0)
        return 2;
    ws_put(out, &on, frame, (size_t)fl);
    if (write(fd, out, on) != (ssize_t)on || (ml = ws_read_msg(fd, msg, sizeof(msg))) < 1 ||
        msg[0] != DERP_FRAME_SERVER_INFO)
        return 2;
    char h[65];
    hex(pub, h);
    printf("connected %s\n", h);
    on = 0;
    size_t plen = (size_t)opt.size, flen = DERP_FRAME_HEADER_LEN + 32 + plen;
    if (plen < 8 || flen > 65535 || (size_t)opt.count * (flen + 8) > sizeof(out))
        return 2;
    for (long i = 0; i < opt.count; i++) {
        uint8_t f[DERP_FRAME_HEADER_LEN + 32 + 65536];
        f[0] = DERP_FRAME_SEND_PACKET;
        f[1] = (uint8_t)((32 + plen) >> 24);
        f[2] = (uint8_t)((32 + plen) >> 16);
        f[3] = (uint8_t)((32 + plen) >> 8);
        f[4] = (uint8_t)(32 + plen);
        memcpy(f + DERP_FRAME_HEADER_LEN, opt.dst[0], 32);
        memset(f + DERP_FRAME_HEADER_LEN + 32, 0, plen);
        uint64_t seq = (uint64_t)i;
        memcpy(f + DERP_FRAME_HEADER_LEN + 32, &seq, 8);
        ws_put(out, &on, f, flen);
    }
    size_t done = 0;
    while (done < on) {
        ssize_t w = write(fd, out + done, on - done);
        if (w <= 0) {
            printf("dropped while sending\n");
            return 1;
        }
        done += (size_t)w;
    }
    sent = opt.count;
    printf("sent %ld in one write of %zu bytes\n", sent, on);
    fflush(stdout);
    /* the relay's keep-alives keep coming: wait out the timeout by the clock, not by a quiet read */
    time_t end = time(NULL) + opt.timeout_s;
    while (time(NULL) < end) {
        errno = 0; /* EOF leaves errno alone: only a timeout sets EAGAIN */
        if (ws_read_msg(fd, msg, sizeof(msg)) < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            printf("dropped\n");
            return 1;
        }
    }
    printf("still-open\n");
    return 0;
}

/* Upgrade and (unless stall-handshake) finish the handshake; then misbehave as asked. Exit status 0 when the
 * server dropped us (what the tests expect), 1 if it kept us longer than the timeout. */
static int run_raw(void)
{
    struct derp_url u;
    if (derp_url_parse(opt.url, &u) != 0 || u.tls) {
        fprintf(stderr, "derpc: raw mode needs an http:// URL\n");
        return 2;
    }
    int fd = raw_connect(&u);
    if (fd < 0) {
        perror("derpc: connect");
        return 2;
    }
    struct timeval tv = {opt.timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (strcmp(opt.raw, "ws-burst") == 0)
        return run_ws_burst(fd, &u);
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n", u.path,
                     u.hostport);
    if (write(fd, req, (size_t)n) != n)
        return 2;
    /* the head, byte by byte up to the blank line */
    char head[4096];
    size_t hl = 0;
    while (hl < sizeof(head) - 1 && (hl < 4 || memcmp(head + hl - 4, "\r\n\r\n", 4) != 0)) {
        if (read(fd, head + hl, 1) != 1)
            return 2;
        hl++;
    }
    uint8_t sk[5 + 40];
    if (strncmp(head, "HTTP/1.1 101", 12) != 0 || read_exact(fd, sk, sizeof(sk)) != 0) {
        fprintf(stderr, "derpc: no upgrade\n");
        return 2;
    }
    if (strcmp(opt.raw, "garbage") == 0) {
        static const char junk[] = "\x7f\xff\xff\xff\xffthis is not DERP at all";
        if (write(fd, junk, sizeof(junk) - 1) < 0)
            return 2;
    } else if (strcmp(opt.raw, "stall-handshake") != 0) {
        uint8_t pub[32], frame[512];
        struct key pk;
        key_public(&pk, &priv);
        memcpy(pub, pk.b, 32);
        struct derp_client_info ci = {.version = 2, .can_ack_pings = 1};
        long fl = derp_client_info_seal(frame, sizeof(frame), priv.b, pub, sk + 5 + 8, NULL, &ci);
        if (fl < 0 || write(fd, frame, (size_t)fl) != fl)
            return 2;
        uint8_t hdr[5];
        if (read_exact(fd, hdr, 5) != 0 || hdr[0] != DERP_FRAME_SERVER_INFO)
            return 2;
        uint8_t skip[512];
        uint32_t sl = (uint32_t)hdr[1] << 24 | hdr[2] << 16 | hdr[3] << 8 | hdr[4];
        if (sl > sizeof(skip) || read_exact(fd, skip, sl) != 0)
            return 2;
        char h[65];
        hex(pub, h);
        printf("connected %s\n", h);
        fflush(stdout);
        if (strcmp(opt.raw, "oversize") == 0) {
            uint8_t big[5] = {DERP_FRAME_SEND_PACKET, 0x00, 0x20, 0x00, 0x00}; /* 2 MiB announced */
            if (write(fd, big, 5) != 5)
                return 2;
        } else if (strcmp(opt.raw, "slow-read") == 0) {
            return slow_read(fd);
        } else if (strcmp(opt.raw, "stall-read") == 0) {
            /* never read again: the relay's writes to us must time out */
            sleep((unsigned)opt.timeout_s);
            return 0;
        }
    }
    /* now the relay should hang up on us */
    uint8_t b[4096];
    for (;;) {
        ssize_t r = read(fd, b, sizeof(b));
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
            printf("dropped\n");
            return 0;
        }
        if (r < 0) {
            printf("still-open\n");
            return 1;
        }
    }
}

static void usage(void)
{
    fprintf(
        stderr,
        "usage: derpc [--key-file F] --pubkey\n"
        "       derpc [options] URL\n"
        "  --key-file F --send-to HEX... --count N --size N --interval MS --disco --expect N --ping --events\n"
        "  --from HEX... --allow-loss\n"
        "  --mesh-key FILE --watch --close-peer HEX --forward-from HEX (ForwardPacket to --send-to)\n"
        "  --progress MS\n"
        "  --exit-on EVENT --timeout S --hold S --idle N --reconnect --ping-after MS --insecure --ca-file F "
        "--pin F\n"
        "  --raw garbage|oversize|stall-handshake|stall-read|slow-read [--read-rate BYTES_PER_S]|ws-burst\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"key-file", 1, 0, 'k'},   {"pubkey", 0, 0, 'P'},
                                       {"send-to", 1, 0, 't'},    {"count", 1, 0, 'n'},
                                       {"size", 1, 0, 's'},       {"interval", 1, 0, 'i'},
                                       {"disco", 0, 0, 'd'},      {"expect", 1, 0, 'e'},
                                       {"ping", 0, 0, 'p'},       {"events", 0, 0, 'v'},
                                       {"exit-on", 1, 0, 'x'},    {"timeout", 1, 0, 'T'},
                                       {"hold", 1, 0, 'H'},       {"idle", 1, 0, 'I'},
                                       {"reconnect", 0, 0, 'r'},  {"insecure", 0, 0, 'K'},
                                       {"ping-after", 1, 0, 'A'}, {"ca-file", 1, 0, 'C'},
                                       {"pin", 1, 0, 'N'},        {"raw", 1, 0, 'R'},
                                       {"quiet-recv", 0, 0, 'q'}, {"from", 1, 0, 'F'},
                                       {"allow-loss", 0, 0, 'L'}, {"read-rate", 1, 0, 'B'},
                                       {"mesh-key", 1, 0, 'M'},   {"watch", 0, 0, 'W'},
                                       {"close-peer", 1, 0, 'X'}, {"forward-from", 1, 0, 'O'},
                                       {"progress", 1, 0, 'G'},
                                       {0, 0, 0, 0}};
    int c, print_pub = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'k':
            opt.key_file = optarg;
            break;
        case 'P':
            print_pub = 1;
            break;
        case 't':
        case 'F':
        case 'X':
        case 'O': {
            struct key k;
            if (key_parse_str(&k, KEY_TEXT_BARE, optarg) != 0 &&
                key_parse_str(&k, KEY_TEXT_NODE, optarg) != 0)
                usage();
            if (c == 't' && opt.ndst < MAX_DST)
                memcpy(opt.dst[opt.ndst++], k.b, 32);
            else if (c == 'F' && opt.nfrom < MAX_SRC)
                memcpy(opt.from[opt.nfrom++], k.b, 32);
            else if (c == 'X')
                memcpy(opt.close_peer, k.b, 32), opt.have_close_peer = 1;
            else if (c == 'O')
                memcpy(opt.forward_from, k.b, 32), opt.have_forward_from = 1;
            else
                usage();
            break;
        }
        case 'M':
            opt.mesh_key_file = optarg;
            break;
        case 'G':
            opt.progress_ms = atol(optarg);
            break;
        case 'W':
            opt.watch = 1;
            break;
        case 'L':
            opt.allow_loss = 1;
            break;
        case 'B':
            opt.read_rate = atol(optarg);
            break;
        case 'n':
            opt.count = atol(optarg);
            break;
        case 's':
            opt.size = atol(optarg);
            break;
        case 'i':
            opt.interval_ms = atol(optarg);
            break;
        case 'd':
            opt.disco = 1;
            break;
        case 'e':
            opt.expect = atol(optarg);
            break;
        case 'p':
            opt.ping = 1;
            break;
        case 'v':
            opt.events = 1;
            break;
        case 'x':
            opt.exit_on = optarg;
            break;
        case 'T':
            opt.timeout_s = atol(optarg);
            break;
        case 'H':
            opt.hold_s = atol(optarg);
            break;
        case 'I':
            opt.idle = atol(optarg);
            break;
        case 'r':
            opt.reconnect = 1;
            break;
        case 'K':
            opt.insecure = 1;
            break;
        case 'A':
            opt.ping_after_ms = atol(optarg);
            break;
        case 'C':
            opt.ca_file = optarg;
            break;
        case 'N':
            opt.pin = optarg;
            break;
        case 'R':
            opt.raw = optarg;
            break;
        case 'q':
            opt.quiet_recv = 1;
            break;
        default:
            usage();
        }
    }
    if (key_crypto_init() != 0)
        return 2;
    if (opt.key_file != NULL) {
        char err[256];
        int created;
        if (key_load_or_create(opt.key_file, &priv, &created, err, sizeof(err)) != 0) {
            fprintf(stderr, "derpc: %s\n", err);
            return 2;
        }
    } else {
        key_generate(&priv);
    }
    if (print_pub) {
        struct key pub;
        char h[65];
        key_public(&pub, &priv);
        hex(pub.b, h);
        printf("%s\n", h);
        return 0;
    }
    if (optind != argc - 1)
        usage();
    opt.url = argv[optind];
    if (opt.raw != NULL)
        return run_raw();
    if (opt.size < 1 || opt.size > DERP_MAX_PACKET_SIZE || (opt.disco && opt.size < 62))
        opt.size = opt.disco ? 62 : 100;
    if (opt.count > 0 && opt.ndst == 0)
        usage();
    payload = calloc(1, (size_t)opt.size);
    if (opt.disco)
        memcpy(payload, "TS\xf0\x9f\x92\xac", 6);

    L = loop_new();
    timer_init(&t_send, L, on_send_timer, NULL);
    timer_init(&t_timeout, L, on_timeout, NULL);
    timer_init(&t_hold, L, on_hold, NULL);
    timer_init(&t_ping, L, on_ping_timer, NULL);
    loop_signal(L, SIGUSR1, on_usr1, NULL);
    timer_init(&t_progress, L, on_progress, NULL);
    if (opt.progress_ms > 0)
        timer_start(&t_progress, (uint64_t)opt.progress_ms);
    timer_start(&t_timeout, (uint64_t)opt.timeout_s * 1000);
    struct derp_client_cbs cbs = {
        .on_connected = on_connected,
        .on_disconnected = on_disconnected,
        .on_packet = on_packet,
        .on_peer_gone = on_peer_gone,
        .on_pong = on_pong,
        .on_keep_alive = on_keep_alive,
        .on_restarting = on_restarting,
        .on_health = on_health,
        .on_writable = on_writable,
        .on_peer_present = on_peer_present,
    };
    uint8_t mesh_key[32];
    if (opt.mesh_key_file != NULL) {
        /* the relay's own reader: 64 hex digits, surrounding space allowed */
        char buf[256];
        FILE *f = fopen(opt.mesh_key_file, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        struct key k;
        char *p = buf;
        while (*p == ' ' || *p == '\n')
            p++;
        p[strcspn(p, " \r\n")] = 0;
        if (key_parse_str(&k, KEY_TEXT_BARE, p) != 0) {
            fprintf(stderr, "derpc: %s: want 64 hex digits\n", opt.mesh_key_file);
            return 2;
        }
        memcpy(mesh_key, k.b, 32);
    }
    struct derp_client_opts o = {.url = opt.url,
                                 .mesh_key = opt.mesh_key_file ? mesh_key : NULL,
                                 .priv = priv.b,
                                 .insecure = opt.insecure,
                                 .ca_file = opt.ca_file,
                                 .pin_cert_file = opt.pin,
                                 .reconnect = opt.reconnect,
                                 .backoff_min_ms = 100,
                                 .backoff_max_ms = 1000};
    if (opt.idle > 0) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        idle_clients = calloc((size_t)opt.idle, sizeof(*idle_clients));
        struct derp_client_cbs icbs = {.on_connected = on_connected, .on_disconnected = on_disconnected};
        for (long i = 0; i < opt.idle; i++) {
            struct key k;
            key_generate(&k);
            o.priv = k.b;
            idle_clients[i] = derp_client_new(L, &o, &icbs, NULL);
            /* pace the dialling a little so the accept queue never overflows */
            if (i % 256 == 255)
                loop_run_once(L, 0);
        }
    } else {
        client = derp_client_new(L, &o, &cbs, NULL);
        if (client == NULL) {
            fprintf(stderr, "derpc: bad URL %s\n", opt.url);
            return 2;
        }
    }
    loop_run(L);
    if (order_errors > 0) {
        printf("order-errors %d\n", order_errors);
        exit_code = 3;
    }
    if (client != NULL)
        derp_client_free(client);
    for (long i = 0; i < opt.idle; i++)
        derp_client_free(idle_clients[i]);
    free(idle_clients);
    timer_stop(&t_send);
    timer_stop(&t_timeout);
    timer_stop(&t_hold);
    timer_stop(&t_ping);
    timer_stop(&t_progress);
    loop_free(L);
    free(payload);
    return exit_code;
}
