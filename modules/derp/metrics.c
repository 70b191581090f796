// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/derp/server.h"

#include "core/metrics.h"

static const char *const drop_names[DROP_NREASONS] = {
    "unknown_dest", "unknown_dest_on_fwd", "queue_head", "gone", "write_error", "mesh_queue", "not_mesh",
};

/* The relay's collector in the process's registry (core/metrics.h); the names are derper's and stay. */
void derp_collect_metrics(struct metrics_w *w, void *arg)
{
    struct derp_server *srv = arg;
    const struct derp_metrics *m = &srv->m;
    mw_family(w, "derp_connections", "gauge", "Connections open now, by kind.");
    size_t handshaking = srv->nconns - srv->nclients - srv->nmesh;
    mw_sample(w, "derp_connections", (double)srv->nclients, "kind", "client", NULL);
    mw_sample(w, "derp_connections", (double)srv->nmesh, "kind", "mesh", NULL);
    mw_sample(w, "derp_connections", (double)handshaking, "kind", "handshake", NULL);
    mw_sample(w, "derp_connections", (double)srv->nws, "kind", "websocket", NULL);
    mw_sample(w, "derp_connections", (double)srv->npreferred, "kind", "home", NULL);
    mw_gauge(w, "derp_known_keys", "Keys connected here or on a mesh peer.", (double)srv->npeers);
    mw_gauge(w, "derp_watchers", "Mesh peers watching our connections.", (double)srv->nwatchers);
    mw_gauge(w, "derp_mesh_peers_up", "Mesh links to other relays that are up.", (double)srv->nlinks_up);
    mw_counter(w, "derp_accepts_total", "Connections upgraded to DERP.", (double)m->accepts);
    mw_family(w, "derp_accepts_refused_total", "counter", "Upgrades refused by a limit.");
    mw_sample(w, "derp_accepts_refused_total", (double)m->accepts_refused_limit, "reason", "max_conns", NULL);
    mw_sample(w, "derp_accepts_refused_total", (double)m->accepts_refused_rate, "reason", "accept_rate", NULL);
    mw_counter(w, "derp_handshake_failures_total", "Clients dropped during the handshake.",
               (double)m->handshake_failures);
    mw_counter(w, "derp_admission_denied_total", "Clients refused by admission.", (double)m->admission_denied);
    mw_counter(w, "derp_admission_errors_total", "Admission URL failures.", (double)m->admission_errors);
    mw_counter(w, "derp_packets_received_total", "Packets received from clients and mesh peers.",
               (double)m->packets_recv);
    mw_counter(w, "derp_bytes_received_total", "Packet bytes received.", (double)m->bytes_recv);
    mw_counter(w, "derp_packets_relayed_total", "Packets handed to a local client.", (double)m->packets_relayed);
    mw_counter(w, "derp_bytes_relayed_total", "Packet bytes handed to a local client.", (double)m->bytes_relayed);
    mw_counter(w, "derp_packets_forwarded_total", "Packets forwarded to a mesh peer.",
               (double)m->packets_forwarded);
    mw_counter(w, "derp_bytes_forwarded_total", "Packet bytes forwarded to a mesh peer.",
               (double)m->bytes_forwarded);
    mw_family(w, "derp_packets_dropped_total", "counter", "Packets dropped, by reason.");
    for (int i = 0; i < DROP_NREASONS; i++)
        mw_sample(w, "derp_packets_dropped_total", (double)m->drops[i], "reason", drop_names[i], NULL);
    mw_family(w, "derp_clients_dropped_total", "counter", "Clients dropped for what they sent.");
    mw_sample(w, "derp_clients_dropped_total", (double)m->clients_dropped_malformed, "reason", "malformed", NULL);
    mw_sample(w, "derp_clients_dropped_total", (double)m->clients_dropped_oversized, "reason", "oversized", NULL);
    mw_sample(w, "derp_clients_dropped_total", (double)m->clients_dropped_not_mesh, "reason", "not_mesh", NULL);
    mw_counter(w, "derp_pings_total", "Pings received.", (double)m->pings);
    mw_counter(w, "derp_pongs_sent_total", "Pongs sent.", (double)m->pongs_sent);
    mw_counter(w, "derp_keepalives_sent_total", "KeepAlive frames sent.", (double)m->keepalives);
    mw_counter(w, "derp_peer_gone_sent_total", "PeerGone frames sent (disconnected).", (double)m->peer_gone_sent);
    mw_counter(w, "derp_not_here_sent_total", "PeerGone NotHere frames sent.", (double)m->not_here_sent);
    mw_counter(w, "derp_peer_present_sent_total", "PeerPresent frames sent to watchers.",
               (double)m->peer_present_sent);
    mw_counter(w, "derp_frames_unknown_total", "Frames of unknown type skipped.", (double)m->frames_unknown);
    mw_counter(w, "derp_rate_limited_total", "Times a client's reading paused for its rate limit.",
               (double)m->rate_limited);
    mw_counter(w, "derp_backpressure_pauses_total",
               "Times a sender's reading paused because a destination it sends to was full.", (double)m->bp_pauses);
    mw_counter(w, "derp_backpressure_overflows_total",
               "Times a sender waited backpressure_wait in vain (that destination's packets were then dropped).",
               (double)m->bp_overflows);
    mw_counter(w, "derp_home_connections_total", "Connections marked as a client's home.",
               (double)m->home_conns_total);
    mw_counter(w, "derp_stun_requests_total", "STUN binding requests answered.", (double)m->stun_requests);
    mw_counter(w, "derp_stun_responses_total", "STUN responses sent.", (double)m->stun_responses);
    mw_counter(w, "derp_stun_ignored_total", "UDP datagrams that were not binding requests.",
               (double)m->stun_ignored);
}
