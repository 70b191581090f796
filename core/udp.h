// SPDX-License-Identifier: BSD-3-Clause
/* UDP sockets on the loop: batched receive (recvmmsg into the caller's reusable buffers), batched send. */
#ifndef WEFT_CORE_UDP_H
#define WEFT_CORE_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct loop;
struct udp_sock;

/* One datagram slot: the caller owns buf (cap bytes); receive fills len and addr. */
struct udp_msg {
    uint8_t *buf;
    size_t cap;                   /* room in buf (receive) */
    size_t len;                   /* datagram length (received, or to send) */
    struct sockaddr_storage addr; /* source (received) or destination (to send) */
    socklen_t addrlen;
    int truncated; /* the datagram was longer than cap */
};

/* msgs[0..n) hold the datagrams just received; the slots are reused after the callback returns. */
typedef void (*udp_recv_cb)(struct udp_sock *u, struct udp_msg *msgs, size_t n, void *arg);

/* Bind "127.0.0.1:0", ":3478" (dual-stack), "[::]:41641", ...; NULL with a message naming the address in
 * err. */
struct udp_sock *udp_bind(struct loop *l, const char *addr, char *err, size_t errlen);
/* The bound port. */
uint16_t udp_port(const struct udp_sock *u);
/* The socket's fd (for setsockopt). */
int udp_fd(const struct udp_sock *u);
/* Start receiving into msgs[0..n) (the caller's slots, kept until udp_recv_stop/udp_close); cb gets each
 * batch. */
int udp_recv_start(struct udp_sock *u, struct udp_msg *msgs, size_t n, udp_recv_cb cb, void *arg);
/* Stop receiving. */
void udp_recv_stop(struct udp_sock *u);
/* Send one datagram; 0, or -1 with errno (EAGAIN: the socket buffer is full, the datagram is dropped). */
int udp_send(struct udp_sock *u, const void *buf, size_t len, const struct sockaddr *to, socklen_t tolen);
/* Send msgs[i].buf[0..len) to msgs[i].addr with sendmmsg; the count sent (a prefix), or -1 with errno. */
int udp_send_batch(struct udp_sock *u, const struct udp_msg *msgs, size_t n);
/* Close and free (safe inside the receive callback). */
void udp_close(struct udp_sock *u);

#endif
