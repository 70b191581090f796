// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/derp/server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/http.h"

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (o->p != NULL && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap ? o->cap * 2 : 8192;
        while (cap < o->len + (size_t)n + 1)
            cap *= 2;
        char *q = realloc(o->p, cap);
        if (q == NULL)
            return;
        o->p = q;
        o->cap = cap;
    }
}

static void metric(struct out *o, const char *name, const char *type, const char *help, uint64_t v)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, (unsigned long long)v);
}

static const char *const drop_names[DROP_NREASONS] = {
    "unknown_dest", "unknown_dest_on_fwd", "queue_head", "gone", "write_error", "mesh_queue", "not_mesh",
};

/* Prometheus text exposition (version 0.0.4). */
void derp_handle_metrics(struct http_req *req, void *arg)
{
    struct derp_server *srv = arg;
    const struct derp_metrics *m = &srv->m;
    struct out o = {0};
    put(&o, "# HELP derp_connections Connections open now, by kind.\n# TYPE derp_connections gauge\n");
    size_t handshaking = srv->nconns - srv->nclients - srv->nmesh;
    put(&o, "derp_connections{kind=\"client\"} %zu\n", srv->nclients);
    put(&o, "derp_connections{kind=\"mesh\"} %zu\n", srv->nmesh);
    put(&o, "derp_connections{kind=\"handshake\"} %zu\n", handshaking);
    put(&o, "derp_connections{kind=\"websocket\"} %zu\n", srv->nws);
    put(&o, "derp_connections{kind=\"home\"} %zu\n", srv->npreferred);
    metric(&o, "derp_known_keys", "gauge", "Keys connected here or on a mesh peer.", srv->npeers);
    metric(&o, "derp_watchers", "gauge", "Mesh peers watching our connections.", srv->nwatchers);
    metric(&o, "derp_mesh_peers_up", "gauge", "Mesh links to other relays that are up.", srv->nlinks_up);
    metric(&o, "derp_accepts_total", "counter", "Connections upgraded to DERP.", m->accepts);
    put(&o, "# HELP derp_accepts_refused_total Upgrades refused by a limit.\n"
            "# TYPE derp_accepts_refused_total counter\n");
    put(&o, "derp_accepts_refused_total{reason=\"max_conns\"} %llu\n",
        (unsigned long long)m->accepts_refused_limit);
    put(&o, "derp_accepts_refused_total{reason=\"accept_rate\"} %llu\n",
        (unsigned long long)m->accepts_refused_rate);
    metric(&o, "derp_handshake_failures_total", "counter", "Clients dropped during the handshake.",
           m->handshake_failures);
    metric(&o, "derp_admission_denied_total", "counter", "Clients refused by admission.",
           m->admission_denied);
    metric(&o, "derp_admission_errors_total", "counter", "Admission URL failures.", m->admission_errors);
    metric(&o, "derp_packets_received_total", "counter", "Packets received from clients and mesh peers.",
           m->packets_recv);
    metric(&o, "derp_bytes_received_total", "counter", "Packet bytes received.", m->bytes_recv);
    metric(&o, "derp_packets_relayed_total", "counter", "Packets handed to a local client.",
           m->packets_relayed);
    metric(&o, "derp_bytes_relayed_total", "counter", "Packet bytes handed to a local client.",
           m->bytes_relayed);
    metric(&o, "derp_packets_forwarded_total", "counter", "Packets forwarded to a mesh peer.",
           m->packets_forwarded);
    metric(&o, "derp_bytes_forwarded_total", "counter", "Packet bytes forwarded to a mesh peer.",
           m->bytes_forwarded);
    put(&o, "# HELP derp_packets_dropped_total Packets dropped, by reason.\n"
            "# TYPE derp_packets_dropped_total counter\n");
    for (int i = 0; i < DROP_NREASONS; i++)
        put(&o, "derp_packets_dropped_total{reason=\"%s\"} %llu\n", drop_names[i],
            (unsigned long long)m->drops[i]);
    put(&o, "# HELP derp_clients_dropped_total Clients dropped for what they sent.\n"
            "# TYPE derp_clients_dropped_total counter\n");
    put(&o, "derp_clients_dropped_total{reason=\"malformed\"} %llu\n",
        (unsigned long long)m->clients_dropped_malformed);
    put(&o, "derp_clients_dropped_total{reason=\"oversized\"} %llu\n",
        (unsigned long long)m->clients_dropped_oversized);
    put(&o, "derp_clients_dropped_total{reason=\"not_mesh\"} %llu\n",
        (unsigned long long)m->clients_dropped_not_mesh);
    metric(&o, "derp_pings_total", "counter", "Pings received.", m->pings);
    metric(&o, "derp_pongs_sent_total", "counter", "Pongs sent.", m->pongs_sent);
    metric(&o, "derp_keepalives_sent_total", "counter", "KeepAlive frames sent.", m->keepalives);
    metric(&o, "derp_peer_gone_sent_total", "counter", "PeerGone frames sent (disconnected).",
           m->peer_gone_sent);
    metric(&o, "derp_not_here_sent_total", "counter", "PeerGone NotHere frames sent.", m->not_here_sent);
    metric(&o, "derp_peer_present_sent_total", "counter", "PeerPresent frames sent to watchers.",
           m->peer_present_sent);
    metric(&o, "derp_frames_unknown_total", "counter", "Frames of unknown type skipped.", m->frames_unknown);
    metric(&o, "derp_rate_limited_total", "counter", "Times a client's reading paused for its rate limit.",
           m->rate_limited);
    metric(&o, "derp_backpressure_pauses_total", "counter",
           "Times a sender's reading paused because a destination it sends to was full.", m->bp_pauses);
    metric(&o, "derp_backpressure_overflows_total", "counter",
           "Times a sender waited backpressure_wait in vain (that destination's packets were then dropped).",
           m->bp_overflows);
    metric(&o, "derp_home_connections_total", "counter", "Connections marked as a client's home.",
           m->home_conns_total);
    metric(&o, "derp_stun_requests_total", "counter", "STUN binding requests answered.", m->stun_requests);
    metric(&o, "derp_stun_responses_total", "counter", "STUN responses sent.", m->stun_responses);
    metric(&o, "derp_stun_ignored_total", "counter", "UDP datagrams that were not binding requests.",
           m->stun_ignored);
    static const struct http_header h[] = {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}};
    http_respond(req, 200, h, 1, o.p ? o.p : "", o.len);
    free(o.p);
}
