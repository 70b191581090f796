// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/derp/server.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/udp.h"
#include "core/wire/stun.h"

#define STUN_BATCH 32
#define STUN_BUF 1280 /* a binding request is 20-100 bytes; anything this big is not one */

/* The STUN server: binding requests in, XOR-MAPPED-ADDRESS answers out, a batch per wake-up. */
struct stun_server {
    struct derp_server *srv;
    struct udp_sock *u;
    struct udp_msg in[STUN_BATCH], out[STUN_BATCH];
    uint8_t inbuf[STUN_BATCH][STUN_BUF];
    uint8_t outbuf[STUN_BATCH][STUN_RESPONSE_V6_LEN];
};

static int to_stun_addr(const struct sockaddr_storage *ss, struct stun_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        a->ip[10] = a->ip[11] = 0xff;
        memcpy(a->ip + 12, &in->sin_addr, 4);
        a->port = ntohs(in->sin_port);
        return 0;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        memcpy(a->ip, &in6->sin6_addr, 16);
        a->port = ntohs(in6->sin6_port);
        return 0;
    }
    return -1;
}

static void on_recv(struct udp_sock *u, struct udp_msg *msgs, size_t n, void *arg)
{
    struct stun_server *st = arg;
    struct derp_metrics *m = &st->srv->m;
    size_t nout = 0;
    for (size_t i = 0; i < n; i++) {
        struct stun_request rq;
        struct stun_addr a;
        if (msgs[i].truncated || stun_request_parse(msgs[i].buf, msgs[i].len, &rq) != 0 ||
            to_stun_addr(&msgs[i].addr, &a) != 0) {
            m->stun_ignored++;
            continue;
        }
        m->stun_requests++;
        long len = stun_response_encode(st->outbuf[nout], sizeof(st->outbuf[nout]), rq.tx_id, &a);
        if (len < 0)
            continue;
        st->out[nout].buf = st->outbuf[nout];
        st->out[nout].len = (size_t)len;
        memcpy(&st->out[nout].addr, &msgs[i].addr, msgs[i].addrlen);
        st->out[nout].addrlen = msgs[i].addrlen;
        nout++;
    }
    size_t sent = 0;
    while (sent < nout) {
        int r = udp_send_batch(u, st->out + sent, nout - sent);
        if (r <= 0)
            break; /* a full socket buffer: the clients ask again */
        sent += (size_t)r;
    }
    m->stun_responses += sent;
}

struct stun_server *stun_server_start(struct derp_server *srv, const char *addr, char *err, size_t errlen)
{
    struct stun_server *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    st->srv = srv;
    if ((st->u = udp_bind(srv->loop, addr, err, errlen)) == NULL) {
        free(st);
        return NULL;
    }
    for (size_t i = 0; i < STUN_BATCH; i++) {
        st->in[i].buf = st->inbuf[i];
        st->in[i].cap = STUN_BUF;
    }
    udp_recv_start(st->u, st->in, STUN_BATCH, on_recv, st);
    return st;
}

void stun_server_free(struct stun_server *st)
{
    if (st == NULL)
        return;
    udp_close(st->u);
    free(st);
}
