// SPDX-License-Identifier: BSD-3-Clause
/* The node role's metrics (core/metrics.h): its state, its peers and how each is reached, WireGuard bytes
 * and handshakes. Per-peer series carry the peer's short name; they end when the peer leaves the tailnet. */
#include "config.h"

#include <time.h>

#include "core/metrics.h"
#include "modules/node/dp.h"
#include "modules/node/netmap.h"
#include "modules/node/node.h"

void node_collect_metrics(struct metrics_w *w, void *arg)
{
    struct node *n = arg;
    static const enum node_state states[] = {NODE_NO_STATE, NODE_STOPPED, NODE_NEEDS_LOGIN, NODE_STARTING,
                                             NODE_RUNNING};
    mw_family(w, "weft_node_state", "gauge", "The node's state (1 for the current one).");
    for (size_t i = 0; i < sizeof states / sizeof *states; i++)
        mw_sample(w, "weft_node_state", n->state == states[i], "state", node_state_name(states[i]), NULL);
    mw_gauge(w, "weft_node_control_connected", "1 while the map stream to the control server is up.",
             n->control_ok);
    size_t online = 0, relay = 0, none = 0;
    for (size_t i = 0; i < n->nm.npeers; i++) {
        const struct nm_node *p = n->nm.peers[i];
        struct dp_peer_info pi;
        dp_peer_info(n->dp, p, &pi);
        online += p->online > 0;
        if (pi.present && pi.region)
            relay++;
        else
            none++;
    }
    mw_gauge(w, "weft_node_peers", "Peers in the network map.", (double)n->nm.npeers);
    mw_gauge(w, "weft_node_peers_online", "Peers the control server sees online.", (double)online);
    mw_family(w, "weft_node_peer_paths", "gauge", "Peers by how packets reach them: relay (DERP), direct, none.");
    mw_sample(w, "weft_node_peer_paths", (double)relay, "path", "relay", NULL);
    mw_sample(w, "weft_node_peer_paths", 0, "path", "direct", NULL); /* direct UDP paths (disco) come next */
    mw_sample(w, "weft_node_peer_paths", (double)none, "path", "none", NULL);
    mw_counter(w, "weft_node_handshakes_total", "WireGuard sessions established with peers.",
               (double)n->handshakes);

    static const char *const fam[3][3] = {
        {"weft_node_peer_received_bytes_total", "counter", "WireGuard bytes received from the peer."},
        {"weft_node_peer_sent_bytes_total", "counter", "WireGuard bytes sent to the peer."},
        {"weft_node_peer_last_handshake_timestamp_seconds", "gauge",
         "When the last WireGuard handshake with the peer completed (unix seconds; 0: never)."},
    };
    for (int f = 0; f < 3; f++) {
        mw_family(w, fam[f][0], fam[f][1], fam[f][2]);
        for (size_t i = 0; i < n->nm.npeers; i++) {
            const struct nm_node *p = n->nm.peers[i];
            struct dp_peer_info pi;
            char name[64];
            dp_peer_info(n->dp, p, &pi);
            double v = f == 0 ? (double)pi.rx_bytes : f == 1 ? (double)pi.tx_bytes
                                                             : (double)pi.last_handshake.tv_sec;
            mw_sample(w, fam[f][0], v, "peer", nm_node_short_name(p, name, sizeof name), NULL);
        }
    }
}
