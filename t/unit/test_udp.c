// SPDX-License-Identifier: BSD-3-Clause
/* core/udp: bind on 127.0.0.1:0, a batch of datagrams echoed back with sendmmsg, boundaries and sources
 * kept. */
#include "config.h"
#include "core/addr.h"
#include "core/loop.h"
#include "core/udp.h"
#include "t/tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#define SLOTS 16
#define BATCH 5

static struct loop *L;
static uint8_t echo_bufs[SLOTS][2048], cl_bufs[SLOTS][2048];
static struct udp_msg echo_slots[SLOTS], cl_slots[SLOTS];
static int echo_batches, cl_got, cl_ok_order, cl_bad_source;
static uint16_t echo_port;

/* the echo side sends each batch straight back with one sendmmsg */
static void on_echo(struct udp_sock *u, struct udp_msg *m, size_t n, void *arg)
{
    echo_batches++;
    udp_send_batch(u, m, n); /* len and addr already say where and what */
}

static void on_client(struct udp_sock *u, struct udp_msg *m, size_t n, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "datagram-%d", cl_got);
        if (m[i].len == strlen(want) && memcmp(m[i].buf, want, m[i].len) == 0)
            cl_ok_order++;
        if (addr_port((struct sockaddr *)&m[i].addr) != echo_port)
            cl_bad_source++;
        cl_got++;
    }
}

int main(void)
{
    char err[256];
    plan(10);
    L = loop_new();
    for (int i = 0; i < SLOTS; i++) {
        echo_slots[i] = (struct udp_msg){.buf = echo_bufs[i], .cap = sizeof(echo_bufs[i])};
        cl_slots[i] = (struct udp_msg){.buf = cl_bufs[i], .cap = sizeof(cl_bufs[i])};
    }
    struct udp_sock *echo = udp_bind(L, "127.0.0.1:0", err, sizeof(err));
    struct udp_sock *cl = udp_bind(L, "127.0.0.1:0", err, sizeof(err));
    ok(echo != NULL && cl != NULL, "two sockets bound");
    echo_port = udp_port(echo);
    ok(echo_port != 0 && udp_port(cl) != 0 && udp_port(cl) != echo_port, "bound ports reported (%u, %u)",
       echo_port, udp_port(cl));
    ok(udp_recv_start(echo, echo_slots, SLOTS, on_echo, NULL) == 0, "echo receiving");
    ok(udp_recv_start(cl, cl_slots, SLOTS, on_client, NULL) == 0, "client receiving");

    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(echo_port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct udp_msg out[BATCH];
    char texts[BATCH][32];
    for (int i = 0; i < BATCH; i++) {
        snprintf(texts[i], sizeof(texts[i]), "datagram-%d", i);
        out[i] = (struct udp_msg){.buf = (uint8_t *)texts[i], .len = strlen(texts[i])};
        memcpy(&out[i].addr, &to, sizeof(to));
        out[i].addrlen = sizeof(to);
    }
    is_int(udp_send_batch(cl, out, BATCH), BATCH, "a batch of 5 sent with sendmmsg");

    uint64_t end = loop_update_now(L) + 2000;
    while (cl_got < BATCH && loop_now(L) < end)
        loop_run_once(L, 20);
    is_int(cl_got, BATCH, "all 5 echoed back");
    is_int(cl_ok_order, BATCH, "boundaries and order kept");
    is_int(cl_bad_source, 0, "source address is the echo socket");
    ok(echo_batches >= 1 && echo_batches <= BATCH, "received in %d batch(es)", echo_batches);

    struct udp_sock *bad = udp_bind(L, "[::1]:99999", err, sizeof(err));
    ok(bad == NULL && strstr(err, "[::1]:99999"), "bad address named in the error: %s", err);

    udp_close(echo);
    loop_free(L); /* closes cl */
    return done_testing();
}
