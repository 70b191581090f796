// SPDX-License-Identifier: BSD-3-Clause
/* The control role's metrics (core/metrics.h): what the mirror holds, counted at scrape time, and what
 * registration, fan-out and the store counted as they went (struct ctrl_stats). */
#include "config.h"

#include "core/metrics.h"
#include "modules/control/ctrl.h"

static const char *const reg_results[REG_NRESULTS] = {
    [REG_OK_AUTHKEY] = "authkey", [REG_OK_INTERACTIVE] = "interactive", [REG_OK_KNOWN] = "known",
    [REG_LOGOUT] = "logout",      [REG_PENDING] = "pending",
};
static const char *const refusals[REFUSED_NREASONS] = {
    [REFUSED_MALFORMED] = "malformed",        [REFUSED_OTHER_MACHINE] = "node_key_of_other_machine",
    [REFUSED_KEY_UNKNOWN] = "authkey_unknown", [REFUSED_KEY_REVOKED] = "authkey_revoked",
    [REFUSED_KEY_EXPIRED] = "authkey_expired", [REFUSED_KEY_USED] = "authkey_used",
    [REFUSED_TOO_MANY_PENDING] = "too_many_pending", [REFUSED_TOO_MANY_WAITERS] = "too_many_followups",
};

void ctrl_collect_metrics(struct metrics_w *w, void *arg)
{
    struct ctrl *c = arg;
    int64_t now = ctrl_now();
    size_t online = 0, expired = 0, ephemeral = 0;
    for (size_t i = 0; i < c->nnodes; i++) {
        const struct cnode *n = c->nodes[i];
        if (ctrl_node_expired(n, now))
            expired++;
        else if (n->m.online)
            online++;
        ephemeral += n->m.ephemeral;
    }
    mw_family(w, "weft_control_nodes", "gauge", "Nodes known to the coordination server, by state.");
    mw_sample(w, "weft_control_nodes", (double)online, "state", "online", NULL);
    mw_sample(w, "weft_control_nodes", (double)(c->nnodes - online - expired), "state", "offline", NULL);
    mw_sample(w, "weft_control_nodes", (double)expired, "state", "expired", NULL);
    mw_gauge(w, "weft_control_ephemeral_nodes", "Nodes that are removed when they stay offline.",
             (double)ephemeral);
    mw_gauge(w, "weft_control_users", "Users.", (double)c->nusers);
    mw_gauge(w, "weft_control_map_streams", "Map streams (long polls) open now.", (double)c->nsessions);

    mw_family(w, "weft_control_registrations_total", "counter",
              "Registrations answered, by how: authkey, interactive (approved), known (a registered node "
              "again), logout, pending (an interactive login began).");
    for (int i = 0; i < REG_NRESULTS; i++)
        mw_sample(w, "weft_control_registrations_total", (double)c->st.registrations[i], "result", reg_results[i],
                  NULL);
    mw_family(w, "weft_control_registrations_refused_total", "counter", "Registrations refused, by reason.");
    for (int i = 0; i < REFUSED_NREASONS; i++)
        mw_sample(w, "weft_control_registrations_refused_total", (double)c->st.refused[i], "reason", refusals[i],
                  NULL);
    mw_counter(w, "weft_control_verify_refused_total",
               "/verify requests refused (403): from outside control.verify_allow, without the secret.",
               (double)c->st.verify_refused);

    mw_counter(w, "weft_control_map_bytes_total", "Bytes written to map streams (framed, compressed).",
               (double)c->bytes_written);
    mw_counter(w, "weft_control_map_frames_total", "Messages written to map streams.", (double)c->frames_written);
    mw_counter(w, "weft_control_full_maps_total", "Whole maps built (a stream's first message).",
               (double)c->full_maps);
    mw_counter(w, "weft_control_deltas_total", "Per-recipient deltas built.", (double)c->deltas_built);
    mw_hist(w, "weft_control_delta_batch_nodes", "Nodes changed or removed in one fan-out batch.",
            &c->st.batch_nodes);
    mw_hist(w, "weft_control_delta_latency_seconds",
            "From a batch's first change to its deltas written to every stream (batch_delay included).",
            &c->st.batch_latency);
    mw_hist(w, "weft_control_delta_flush_seconds", "Building and writing one batch's deltas.",
            &c->st.flush_seconds);
    mw_hist(w, "weft_control_store_operation_duration_seconds", "One call to the store (SQLite).",
            &c->st.store_seconds);
}
