// SPDX-License-Identifier: BSD-3-Clause
/* Figures for core/loop, core/stream and core/udp on one thread over loopback: timer restarts/s with
 * 10,000 armed, TCP stream MB/s through the loop, UDP datagrams/s with mmsg batches. */
#include "config.h"
#include "core/loop.h"
#include "core/stream.h"
#include "core/udp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nop_timer(struct timer *t, void *arg)
{
}

static void bench_timers(struct loop *l)
{
    enum { N = 10000, OPS = 5000000 };
    static struct timer ts[N];
    for (int i = 0; i < N; i++) {
        timer_init(&ts[i], l, nop_timer, NULL);
        timer_start(&ts[i], 1000 + (uint64_t)(i % 977));
    }
    uint32_t x = 1;
    double t0 = secs();
    for (int i = 0; i < OPS; i++) {
        x = x * 1103515245u + 12345u;
        timer_start(&ts[x % N], 1000 + (x >> 16) % 5000); /* a read timeout reset per packet, say */
    }
    double dt = secs() - t0;
    printf("timers: %.1f M restarts/s with %d armed\n", OPS / dt / 1e6, N);
    for (int i = 0; i < N; i++)
        timer_stop(&ts[i]);
}

/* ---- TCP stream throughput ---- */

#define TOTAL (1024L * 1024 * 1024)
static char chunk[256 * 1024];
static struct stream *rx, *tx;
static long received, sent;
static int done;

static void rx_read(struct stream *s, void *arg)
{
    size_t n;
    stream_input(s, &n);
    received += (long)n;
    stream_consume(s, n);
    if (received >= TOTAL)
        done = 1;
}

static void pump(struct stream *s)
{
    while (sent < TOTAL && stream_queued(s) < 4 * sizeof(chunk)) {
        stream_write(s, chunk, sizeof(chunk));
        sent += (long)sizeof(chunk);
    }
}

static void tx_drain(struct stream *s, void *arg)
{
    pump(s);
}

static void on_accept(struct stream_listener *ls, struct stream *s, void *arg)
{
    rx = s;
    stream_set_callbacks(s, rx_read, NULL, NULL, NULL);
    stream_read_start(s);
}

static void on_connect(struct stream *s, const char *err, void *arg)
{
    if (err != NULL) {
        fprintf(stderr, "connect: %s\n", err);
        exit(1);
    }
    tx = s;
    stream_set_callbacks(s, NULL, tx_drain, NULL, NULL);
}

static void bench_stream(struct loop *l)
{
    char err[200], addr[64];
    struct stream_listener *ls = stream_listen(l, "127.0.0.1:0", 0, on_accept, NULL, err, sizeof(err));
    if (ls == NULL) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", stream_listener_port(ls));
    stream_connect(l, addr, NULL, on_connect, NULL);
    while (tx == NULL || rx == NULL)
        loop_run_once(l, 100);
    double t0 = secs();
    pump(tx);
    while (!done)
        loop_run_once(l, 100);
    double dt = secs() - t0;
    printf("stream: %.0f MB/s over loopback TCP (%ld MB through one loop, both ends)\n", TOTAL / dt / 1e6,
           TOTAL >> 20);
    stream_close(tx);
    stream_close(rx);
    stream_listener_free(ls);
    loop_run_once(l, 0);
}

/* ---- UDP ---- */

#define SLOTS 64
static uint8_t bufs[SLOTS][1500];
static struct udp_msg slots[SLOTS];
static long udp_got;

static void on_udp(struct udp_sock *u, struct udp_msg *m, size_t n, void *arg)
{
    udp_got += (long)n;
}

static void bench_udp(struct loop *l)
{
    enum { PKTS = 2000000, SIZE = 1200 };
    char err[200];
    struct udp_sock *a = udp_bind(l, "127.0.0.1:0", err, sizeof(err));
    struct udp_sock *b = udp_bind(l, "127.0.0.1:0", err, sizeof(err));
    int big = 8 << 20;
    setsockopt(udp_fd(b), SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    for (int i = 0; i < SLOTS; i++)
        slots[i] = (struct udp_msg){.buf = bufs[i], .cap = sizeof(bufs[i])};
    udp_recv_start(b, slots, SLOTS, on_udp, NULL);
    static uint8_t payload[SIZE];
    struct udp_msg out[SLOTS];
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(udp_port(b))};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < SLOTS; i++) {
        out[i] = (struct udp_msg){.buf = payload, .len = SIZE};
        memcpy(&out[i].addr, &to, sizeof(to));
        out[i].addrlen = sizeof(to);
    }
    long sent_pkts = 0;
    double t0 = secs();
    while (sent_pkts < PKTS) {
        int w = udp_send_batch(a, out, SLOTS);
        if (w > 0)
            sent_pkts += w;
        loop_run_once(l, 0); /* receive what is there; drops when the receiver falls behind */
    }
    for (int i = 0; i < 20; i++)
        loop_run_once(l, 5);
    double dt = secs() - t0;
    printf("udp: %.2f M datagrams/s sent, %.2f M/s received (%d-byte, batches of %d; %.1f%% received)\n",
           sent_pkts / dt / 1e6, udp_got / dt / 1e6, SIZE, SLOTS,
           100.0 * (double)udp_got / (double)sent_pkts);
    udp_close(a);
    udp_close(b);
}

int main(void)
{
    struct loop *l = loop_new();
    memset(chunk, 'z', sizeof(chunk));
    bench_timers(l);
    bench_stream(l);
    bench_udp(l);
    loop_free(l);
    return 0;
}
