// SPDX-License-Identifier: BSD-3-Clause
/* DNS over TCP to 100.100.100.100 on the intercepted path: a minimal TCP responder. The address is never a
 * local one (it must not be reachable from anywhere but this machine's own TUN), so the kernel's TCP cannot
 * serve it; the few states a DNS server needs are done here instead: the passive open (SYN, SYN-ACK, ACK),
 * in-order data with 2-byte length-prefixed messages in (RFC 1035 §4.2.2, RFC 7766), answers out in
 * MSS-sized segments within the peer's window, go-back-N retransmission on a timer, the close started by
 * either side, RST for strays, and an idle timeout. Out-of-order segments are dropped (the peer sends them
 * again: this is a single hop inside the machine, where reordering does not happen). */
#ifndef WEFT_NODE_DNS_TCP_H
#define WEFT_NODE_DNS_TCP_H

#include <stddef.h>
#include <stdint.h>

#include "modules/node/dns/ippkt.h"

struct loop;
struct dns_tcp;

struct dns_tcp_ops {
    /* an IP packet to give to the OS (through the TUN) */
    void (*send)(void *arg, const uint8_t *pkt, size_t len);
    /* one whole DNS message from connection id: answer it with dns_tcp_reply (exactly once) */
    void (*message)(void *arg, uint64_t id, const struct ipp_flow *flow, const uint8_t *msg, size_t len);
};

struct dns_tcp_stats {
    uint64_t opened, closed, reset, retransmits, refused, stray;
    size_t open;
};

/* path_mtu: the TUN's MTU (segments are sized to fit it). */
struct dns_tcp *dns_tcp_new(struct loop *l, unsigned path_mtu, const struct dns_tcp_ops *ops, void *arg);
void dns_tcp_free(struct dns_tcp *t);

/* A parsed TCP packet from the OS to our address. */
void dns_tcp_input(struct dns_tcp *t, const struct ipp_packet *p);

/* The answer to a message from connection id (NULL/0: none, the connection is closed). 0, or -1 if the
 * connection is gone (the answer is dropped). */
int dns_tcp_reply(struct dns_tcp *t, uint64_t id, const uint8_t *msg, size_t len);

void dns_tcp_get_stats(const struct dns_tcp *t, struct dns_tcp_stats *st);

#endif
