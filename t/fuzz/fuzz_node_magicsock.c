// SPDX-License-Identifier: BSD-3-Clause
/* What reaches the node's magicsock from the network, through its real entry points: datagrams on the
 * shared UDP socket (disco, STUN, junk) and DERP payloads (disco or WireGuard), from known and unknown
 * sources. The first input byte picks the way in; with bit 0x80 the rest is a disco message sealed
 * with a known peer's key (so the fuzzer reaches the Ping/Pong/CallMeMaybe handlers, not just the box
 * check). No crash, no UB, no leak; per-peer state stays within its bounds. */
#include "config.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "core/wg/device.h"
#include "modules/node/magicsock/conn.c"
#include "modules/node/magicsock/endpoints.c"
#include "modules/node/magicsock/netcheck.c"
#include "modules/node/magicsock/peer.c"
#include "modules/node/magicsock/pmp.c"
#include "modules/node/magicsock/portmap.c"
/* UPnP (libminiupnpc parses its own network input, on a thread): the stubs, so the fuzzer needs no library */
#define WEFT_NO_UPNP
#include "modules/node/magicsock/upnp.c"

static struct loop *L;
static struct wg_device *D;
static struct ms *M;
static uint8_t peer_disco_priv[32], peer_disco_pub[32], peer_node[32], my_disco_priv[32], my_node[32];

static int derp_send(void *arg, int region, const uint8_t key[32], const struct iovec *iov, size_t n)
{
    return 0;
}

static void setup(void)
{
    L = loop_new();
    D = wg_device_new(L);
    randombytes_buf(my_disco_priv, 32);
    randombytes_buf(my_node, 32);
    randombytes_buf(peer_node, 32);
    randombytes_buf(peer_disco_priv, 32);
    crypto_scalarmult_base(peer_disco_pub, peer_disco_priv);
    static const struct ms_cbs cbs = {derp_send, NULL, NULL};
    struct ms_opts o = {.port = 41641, .no_portmap = true};
    M = ms_new(L, D, &o, &cbs, NULL);
    ms_set_keys(M, my_node, my_disco_priv);
    static const char *eps[] = {"10.0.0.1:41641", "[2001:db8::1]:41641", "bogus", "1.2.3.4:0"};
    struct ms_peer_conf c = {.id = 1, .name = "p", .key = peer_node, .disco = peer_disco_pub, .home_derp = 900,
                             .endpoints = eps, .nendpoints = 4};
    ms_peer_add(M, &c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!M)
        setup();
    if (size < 1)
        return 0;
    uint8_t how = data[0];
    data++;
    size--;
    uint8_t pkt[2048];
    size_t len;
    if (how & 0x80) { /* a sealed disco message from the peer */
        uint8_t shared[32];
        uint8_t my_pub[32];
        crypto_scalarmult_base(my_pub, my_disco_priv);
        disco_shared_key(shared, my_pub, peer_disco_priv);
        long n = disco_seal(pkt, sizeof pkt, peer_disco_pub, shared, NULL, data, size > 1500 ? 1500 : size);
        if (n < 0)
            return 0;
        len = (size_t)n;
    } else {
        len = size > sizeof pkt ? sizeof pkt : size;
        memcpy(pkt, data, len);
    }
    struct disco_addr src;
    uint8_t ip[4] = {10, 0, 0, (uint8_t)(how & 3)};
    ms_addr_from4(&src, ip, (uint16_t)(41641 + (how & 0x0c)));
    uint8_t who[32];
    memcpy(who, (how & 0x10) ? peer_node : my_node, 32); /* the DERP source: the peer or a stranger */
    if (how & 0x40) {
        ms_derp_input(M, 900 + (how & 1), who, pkt, len);
    } else {
        struct sockaddr_storage ss;
        socklen_t sl = ms_addr_to_sa(&src, &ss);
        on_udp_other(M, (struct sockaddr *)&ss, sl, pkt, len);
    }
    struct ms_peer *p = M->first;
    size_t used = 0;
    for (size_t i = 0; i < p->eps_cap; i++)
        used += p->eps[i].used;
    if (used > MS_MAX_EPS || p->eps_cap > MS_MAX_EPS || p->pings_cap > MS_MAX_PINGS)
        abort();
    return 0;
}
