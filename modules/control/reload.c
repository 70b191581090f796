// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <string.h>

#include "core/log.h"
#include "core/module.h"
#include "core/reload.h"
#include "modules/control/access.h"
#include "modules/control/app.h"
#include "modules/control/control.h"
#include "modules/control/ctrl.h"
#include "modules/control/dnsconf.h"

/* SIGHUP for the control role. Open connections and map streams stay; what changed reaches every connected
 * node as a delta (or, when every node's name changes, as a new full map on its open stream). The TLS keys
 * are taken here and applied by the core to the listener after this hook (core/serve.c). */

/* What cannot change while running, and why. */
static const struct reload_fixed fixed[] = {
    {"listen", "the listening socket is opened at start"},
    {"tls_listen", "the listening socket is opened at start"},
    {"server_url", "nodes logged in at this URL, and the login links and the embedded relay's entry derive from it"},
    {"prefix_v4", "nodes hold addresses from the running range"},
    {"prefix_v6", "nodes hold addresses from the running range"},
    {"database", "the database is open"},
    {"database_dsn_file", "the database is open"},
    {"admin_socket", "the admin socket is bound at start"},
    {"packet_filter_file", "the fixed packet filter is read at start (the access policy is what reloads)"},
    {"oidc.*", "the OpenID client is set up at start"},
    {NULL, NULL},
};

/* One concern that can change while running: the keys it reads and how it applies them. apply returns 0, or
 * -1 when the new values cannot be applied (they are put back and the running ones stay). */
struct part {
    const char *name;
    const char *keys[16];
    int (*apply)(struct ctrl *c, const struct reload_changes *ch);
};

static int any_changed(const struct part *p, const struct reload_changes *ch)
{
    for (size_t i = 0; p->keys[i]; i++)
        if (reload_changed(ch, p->keys[i]))
            return 1;
    return 0;
}

/* The DERP map and the DNS config: built again; what differs goes to every stream in the next delta. A
 * changed MagicDNS domain renames every node: every stream gets a whole new map instead. The extra records
 * file is read again first (it may have changed with the configuration, or be another file now). */
static int apply_statics(struct ctrl *c, const struct reload_changes *ch)
{
    unsigned changed;
    int stun = c->stun_port;
    if (reload_changed(ch, "derp_stun_port"))
        c->stun_port = (int)c->conf->derp_stun_port;
    if (reload_changed(ch, "dns"))
        dnsconf_file_refresh(c, reload_changed(ch, "dns.extra_records_file"));
    if (mapper_rebuild_static(c, &changed) != 0) {
        c->stun_port = stun;
        return -1;
    }
    if (reload_changed(ch, "dns.base_domain") || reload_changed(ch, "dns.magic_dns")) {
        for (size_t i = 0; i < c->nnodes; i++)
            mapper_invalidate(c->nodes[i]);
        mapper_blocks_stale(c, 0, true);
        log_info("module=control event=reload msg=\"MagicDNS names changed: sending every stream a new map\" "
                 "streams=%zu",
                 c->nsessions);
        fanout_full_maps(c);
    } else if (changed) {
        log_info("module=control event=reload derp_map=%s dns=%s streams=%zu", changed & STATIC_DERP ? "changed" : "same",
                 changed & STATIC_DNS ? "changed" : "same", c->nsessions);
        fanout_statics(c, changed);
    }
    return 0;
}

static int apply_streams(struct ctrl *c, const struct reload_changes *ch)
{
    c->keepalive_ms = c->conf->keepalive ? c->conf->keepalive : 50000;
    c->batch_ms = c->conf->batch_delay;
    c->max_queued = c->conf->stream_queue_max > 0 ? (size_t)c->conf->stream_queue_max : 16u << 20;
    return 0;
}

static const struct part parts[] = {
    {"DERP map and DNS",
     {"derp_map_file", "derp_region_id", "derp_stun_port", "dns.base_domain", "dns.magic_dns", "dns.nameservers",
      "dns.routes", "dns.search_domains", "dns.override_local_dns", "dns.extra_records", "dns.extra_records_file",
      NULL},
     apply_statics},
    {"map streams", {"keepalive", "batch_delay", "stream_queue_max", NULL}, apply_streams},
};

/* The access policy (access.c) is read again on every SIGHUP, changed keys or not: its file may have
 * changed under the same path. A policy that does not compile, or whose tests fail, is refused: the one in
 * force stays, and so do policy.mode and policy.path (where it came from). The nodes whose filter, peers,
 * SSH policy or capabilities change get deltas. */
static const char *const policy_keys[] = {"policy.mode", "policy.path", NULL};

int control_reload(struct weft_instance *inst, void *newconf)
{
    struct control_conf *conf = inst->conf, *next = newconf;
    struct ctrl *c = app_ctrl(app_of(inst));
    struct reload_changes ch;
    /* the other keys (ephemeral_timeout, offline_grace, node_expiry, the TLS keys) are read where they are used */
    reload_take("control", inst->mod->keys, conf, next, fixed, &ch);
    int rc = 0;
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        const struct part *p = &parts[i];
        if (!any_changed(p, &ch))
            continue;
        if (p->apply(c, &ch) != 0) {
            log_error("module=control event=reload part=\"%s\" result=kept msg=\"the new settings cannot be "
                      "applied; the running ones stay\"",
                      p->name);
            for (size_t j = 0; p->keys[j]; j++)
                reload_undo(inst->mod->keys, conf, next, p->keys[j], &ch);
            rc = -1;
        }
    }
    if (access_reload(c, conf) != 0) {
        for (size_t j = 0; policy_keys[j]; j++)
            reload_undo(inst->mod->keys, conf, next, policy_keys[j], &ch);
        rc = -1;
    }
    for (size_t i = 0; i < ch.n; i++)
        log_info("module=control event=reload key=control.%s result=applied", ch.keys[i]);
    return rc;
}
