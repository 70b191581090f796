// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/udp.h"
#include "core/loop_h2o.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Batches read per readiness event before yielding to other fds. */
#define READ_ROUNDS 8
#define SEND_CHUNK 64

struct udp_sock {
    struct loop_handle h;
    struct loop *loop;
    h2o_socket_t *sock;
    int fd;
    uint16_t port;
    struct udp_msg *msgs;
    size_t nmsgs;
    struct mmsghdr *hdrs;
    struct iovec *iovs;
    udp_recv_cb cb;
    void *arg;
    int busy, dead;
};

static void udp_release(struct udp_sock *u)
{
    free(u->hdrs);
    free(u->iovs);
    free(u);
}

static void on_readable(h2o_socket_t *sock, const char *err)
{
    struct udp_sock *u = sock->data;
    u->busy = 1;
    for (int round = 0; round < READ_ROUNDS && !u->dead && u->cb != NULL; round++) {
        size_t n = u->nmsgs;
        for (size_t i = 0; i < n; i++) {
            u->iovs[i].iov_base = u->msgs[i].buf;
            u->iovs[i].iov_len = u->msgs[i].cap;
            memset(&u->hdrs[i], 0, sizeof(u->hdrs[i]));
            u->hdrs[i].msg_hdr.msg_name = &u->msgs[i].addr;
            u->hdrs[i].msg_hdr.msg_namelen = sizeof(u->msgs[i].addr);
            u->hdrs[i].msg_hdr.msg_iov = &u->iovs[i];
            u->hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        int got;
        while ((got = recvmmsg(u->fd, u->hdrs, (unsigned)n, MSG_DONTWAIT, NULL)) < 0 && errno == EINTR)
            ;
        if (got <= 0)
            break; /* EAGAIN, or an error (e.g. ICMP unreachable reported on the socket): try next time */
        for (int i = 0; i < got; i++) {
            u->msgs[i].len = u->hdrs[i].msg_len;
            u->msgs[i].addrlen = u->hdrs[i].msg_hdr.msg_namelen;
            u->msgs[i].truncated = (u->hdrs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
        }
        u->cb(u, u->msgs, (size_t)got, u->arg);
        if ((size_t)got < n)
            break;
    }
    u->busy = 0;
    if (u->dead)
        udp_release(u);
}

static void handle_close(struct loop_handle *h)
{
    udp_close((struct udp_sock *)h);
}

struct udp_sock *udp_bind(struct loop *l, const char *addr, char *err, size_t errlen)
{
    struct udp_sock *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        snprintf(err, errlen, "udp %s: out of memory", addr);
        return NULL;
    }
    u->fd = net_listen(addr, SOCK_DGRAM, 0, &u->port, NULL, err, errlen);
    if (u->fd < 0) {
        free(u);
        return NULL;
    }
    u->loop = l;
    u->sock = h2o_evloop_socket_create(loop_h2o(l), u->fd, H2O_SOCKET_FLAG_DONT_READ);
    u->sock->data = u;
    u->h.close = handle_close;
    loop_handle_add(l, &u->h);
    return u;
}

uint16_t udp_port(const struct udp_sock *u)
{
    return u->port;
}

int udp_fd(const struct udp_sock *u)
{
    return u->fd;
}

int udp_recv_start(struct udp_sock *u, struct udp_msg *msgs, size_t n, udp_recv_cb cb, void *arg)
{
    if (u->dead || n == 0 || n > 1024 || cb == NULL)
        return -1;
    if (n > u->nmsgs || u->hdrs == NULL) {
        struct mmsghdr *h = realloc(u->hdrs, n * sizeof(*h));
        if (h == NULL)
            return -1;
        u->hdrs = h;
        struct iovec *v = realloc(u->iovs, n * sizeof(*v));
        if (v == NULL)
            return -1;
        u->iovs = v;
    }
    u->msgs = msgs;
    u->nmsgs = n;
    u->cb = cb;
    u->arg = arg;
    if (!h2o_socket_is_reading(u->sock))
        h2o_socket_read_start(u->sock, on_readable);
    return 0;
}

void udp_recv_stop(struct udp_sock *u)
{
    if (u->dead)
        return;
    u->cb = NULL;
    if (h2o_socket_is_reading(u->sock))
        h2o_socket_read_stop(u->sock);
}

int udp_send(struct udp_sock *u, const void *buf, size_t len, const struct sockaddr *to, socklen_t tolen)
{
    ssize_t w;
    while ((w = sendto(u->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, to, tolen)) < 0 && errno == EINTR)
        ;
    return w < 0 ? -1 : 0;
}

int udp_send_batch(struct udp_sock *u, const struct udp_msg *msgs, size_t n)
{
    struct mmsghdr hdrs[SEND_CHUNK];
    struct iovec iovs[SEND_CHUNK];
    size_t sent = 0;
    while (sent < n) {
        size_t k = n - sent < SEND_CHUNK ? n - sent : SEND_CHUNK;
        for (size_t i = 0; i < k; i++) {
            const struct udp_msg *m = &msgs[sent + i];
            iovs[i].iov_base = m->buf;
            iovs[i].iov_len = m->len;
            memset(&hdrs[i], 0, sizeof(hdrs[i]));
            hdrs[i].msg_hdr.msg_name = (void *)(uintptr_t)&m->addr;
            hdrs[i].msg_hdr.msg_namelen = m->addrlen;
            hdrs[i].msg_hdr.msg_iov = &iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        int w;
        while ((w = sendmmsg(u->fd, hdrs, (unsigned)k, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
            ;
        if (w < 0)
            return sent > 0 ? (int)sent : -1;
        sent += (size_t)w;
        if ((size_t)w < k)
            break;
    }
    return (int)sent;
}

void udp_close(struct udp_sock *u)
{
    if (u == NULL || u->dead)
        return;
    u->dead = 1;
    loop_handle_del(&u->h);
    if (h2o_socket_is_reading(u->sock))
        h2o_socket_read_stop(u->sock);
    h2o_socket_close(u->sock); /* closes the fd */
    u->sock = NULL;
    if (!u->busy)
        udp_release(u);
}
