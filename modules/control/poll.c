// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/json/tailcfg.h"
#include "core/log.h"
#include "modules/control/ctrl.h"
#include "modules/control/store.h"

/* /machine/map (spec control-ts2021.md §7.1): the three request kinds
 *   Stream         -> the long poll: a full map, then deltas and keep-alives (fanout.c)
 *   !Stream, Omit  -> "lite" update of endpoints / disco key / Hostinfo: 200, empty body
 *   !Stream, !Omit -> one full map, then the end
 * Each applies what the node reports first and queues the change for its peers. */

static void respond(struct map_decision *d, int status, const char *text)
{
    d->kind = MAP_RESPOND;
    d->status = status;
    d->ctype = "text/plain; charset=utf-8";
    d->body = text ? (uint8_t *)strdup(text) : NULL;
    d->len = text ? strlen(text) : 0;
}

static bool same_strs(const struct model_strlist *a, const struct tc_strs *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]))
            return false;
    return true;
}

void map_handle(struct ctrl *c, const uint8_t mkey[32], int capver, const uint8_t *body, size_t len,
                struct map_decision *d)
{
    memset(d, 0, sizeof *d);
    struct tc_map_request req;
    if (tc_map_request_parse(&req, (const char *)body, len)) {
        respond(d, 400, "malformed MapRequest");
        return;
    }
    /* registered through another instance a moment ago: read from the store, not refused */
    struct cnode *n = tc_key_is_zero(&req.node_key) ? NULL : cluster_node_by_node_key(c, req.node_key.b);
    if (!n) {
        respond(d, 401, "node key not registered");
        goto out;
    }
    if (memcmp(n->m.machine_key, mkey, 32)) {
        log_warn("module=control event=map_refused node=%lld reason=\"node key of another machine\"",
                 (long long)n->m.id);
        respond(d, 401, "this node key is registered to another machine");
        goto out;
    }
    bool expired = ctrl_node_expired(n, ctrl_now());
    unsigned what = 0;
    ctrl_node_seen(c, n);
    if (!expired) {
        if (!tc_key_is_zero(&req.disco_key) && memcmp(n->m.disco_key, req.disco_key.b, 32)) {
            memcpy(n->m.disco_key, req.disco_key.b, 32);
            what |= CH_DISCO;
        }
        if (req.endpoints.n && !same_strs(&n->m.endpoints, &req.endpoints)) {
            struct model_strlist l = {0};
            for (size_t i = 0; i < req.endpoints.n; i++)
                model_strlist_add(&l, req.endpoints.v[i]);
            model_strlist_free(&n->m.endpoints);
            n->m.endpoints = l;
            what |= CH_ENDPOINTS;
        }
        if (req.hostinfo) {
            size_t rl, hl = 0;
            const char *raw = tc_raw_text(&req.hostinfo->raw, &rl);
            char *h = raw ? ctrl_hostinfo_clean(c, raw, rl, &hl) : NULL; /* hostinfo.h: what we keep */
            if (h && (!n->m.hostinfo || strcmp(n->m.hostinfo, h))) {
                free(n->m.hostinfo);
                n->m.hostinfo = h;
                h = NULL;
                if (ctrl_node_set_hostinfo(n, n->m.hostinfo, hl))
                    what |= CH_FULL;
                if (req.hostinfo->hostname) /* `tailscale set --hostname`: the name follows, unless... */
                    what |= ctrl_node_set_hostname(c, n, req.hostinfo->hostname);
                what |= 0x100; /* stored, nothing for peers */
                n->routes_read = false;
            }
            if (!n->routes_read) {
                /* the routes it advertises (RoutableIPs absent: none), read when its Hostinfo changed and
                 * once per node after a start (a database from before schema 3 has none stored yet);
                 * stored, approved and elected at once, so that peers hear of them in the same batch */
                struct model_strlist adv = {0};
                if (routes_from_hostinfo(c, n, &req.hostinfo->routable_ips, &adv) == 0 &&
                    routes_set_advertised(c, n, &adv) < 0) {
                    model_strlist_free(&adv);
                    respond(d, 500, "store failure");
                    goto out;
                }
                model_strlist_free(&adv);
                n->routes_read = true;
            }
            free(h);
            if (req.hostinfo->netinfo && req.hostinfo->netinfo->preferred_derp > 0 &&
                req.hostinfo->netinfo->preferred_derp != n->m.home_derp) {
                n->m.home_derp = req.hostinfo->netinfo->preferred_derp;
                what |= CH_DERP;
            }
        }
        int v = req.version > 0 ? req.version : capver;
        if (v > 0 && v != n->m.capver) {
            n->m.capver = v;
            what |= CH_FULL;
        }
        if (what && ctrl_node_save(c, n, what & ~0x100u)) {
            respond(d, 500, "store failure");
            goto out;
        }
    }
    d->compress = req.compress && !strcmp(req.compress, "zstd");
    d->capver = req.version > 0 ? req.version : capver;
    if (req.stream && !expired) {
        d->kind = MAP_STREAM;
        d->node = n;
        goto out;
    }
    if (!req.stream && req.omit_peers) {
        d->kind = MAP_RESPOND;
        d->status = 200;
        goto out;
    }
    /* one map: the one-shot request, or an expired node's stream (it learns its KeyExpiry and stops) */
    size_t fl;
    const uint8_t *f;
    if (!(f = mapper_full_frame(c, n, d->capver, d->compress, &fl))) {
        respond(d, 500, "out of memory");
        goto out;
    }
    d->kind = MAP_RESPOND;
    d->status = 200;
    d->ctype = "application/octet-stream";
    d->body = malloc(fl);
    if (d->body) {
        memcpy(d->body, f, fl);
        d->len = fl;
    }
out:
    tc_map_request_clear(&req);
}
