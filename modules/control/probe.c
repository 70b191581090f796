// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "modules/control/ctrl.h"
#include "modules/control/probe.h"

/* Health probes of subnet routers: see probe.h for what and why. */

#define PROBE_IDLE_RECHECK_MS 10000 /* probing off (interval 0): look at the setting again this often */

static uint64_t interval_ms(const struct ctrl *c)
{
    return c->conf->route_probe_interval > 0 ? (uint64_t)c->conf->route_probe_interval : 0;
}

static uint64_t timeout_ms(const struct ctrl *c)
{
    uint64_t iv = interval_ms(c), t = c->conf->route_probe_timeout > 0 ? (uint64_t)c->conf->route_probe_timeout : 5000;
    return iv && t >= iv ? iv / 2 : t; /* check-config refuses timeout >= interval; a reload might not */
}

static int out_add(struct probe_state *p, const struct probe_out *o)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct probe_out *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return -1;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = *o;
    return 0;
}

static bool out_has(const struct probe_state *p, int64_t node)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].node == node)
            return true;
    return false;
}

/* The probe's message on every open stream of n: a keep-alive carrying the PingRequest. */
static int send_probe(struct ctrl *c, struct cnode *n, const char *id)
{
    const char *base = c->conf->server_url ? c->conf->server_url : "http://127.0.0.1:8080";
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    if (blen > 400 || strpbrk(base, "\"\\"))
        return -1;
    char msg[600];
    int len = snprintf(msg, sizeof msg,
                       "{\"KeepAlive\":true,\"PingRequest\":{\"URL\":\"%.*s/machine/ping-response?id=%s\","
                       "\"URLIsNoise\":true}}",
                       (int)blen, base, id);
    if (len < 0 || (size_t)len >= sizeof msg)
        return -1;
    uint8_t zframe[768], pframe[sizeof msg + 8];
    long zl = mapstream_encode(&c->enc_zstd, zframe, sizeof zframe, msg, (size_t)len);
    long pl = mapstream_encode(&c->enc_plain, pframe, sizeof pframe, msg, (size_t)len);
    if (zl < 0 || pl < 0)
        return -1;
    return fanout_node_message(c, n, zframe, (size_t)zl, pframe, (size_t)pl);
}

/* Re-elect n's prefixes after its health changed. */
static void health_changed(struct ctrl *c, struct cnode *n, bool unhealthy)
{
    n->unhealthy = unhealthy;
    routes_node_update(c, n);
}

void probe_judge(struct ctrl *c)
{
    struct probe_state *p = &c->probe;
    timer_stop(&p->deadline);
    for (size_t i = 0; i < p->n; i++) {
        struct probe_out *o = &p->v[i];
        struct cnode *n = ctrl_node_by_id(c, o->node);
        if (o->answered || !n || !n->m.online || n->removing)
            continue;
        if (n->online_gen != o->online_gen || o->fresh) {
            log_debug("module=control event=route_probe node=%lld result=deferred reason=\"%s\"",
                      (long long)n->m.id, o->fresh ? "its stream is younger than one probe interval"
                                                   : "it reconnected during the probe");
            continue;
        }
        p->failed++;
        if (n->unhealthy)
            continue;
        log_warn("module=control event=route_probe node=%lld result=unhealthy timeout_ms=%llu msg=\"the node's "
                 "stream is open but it does not answer health probes: its subnet routes go to another "
                 "router\"",
                 (long long)n->m.id, (unsigned long long)timeout_ms(c));
        health_changed(c, n, true);
    }
    p->n = 0;
}

static void deadline_cb(struct timer *t, void *arg)
{
    (void)t;
    probe_judge(arg);
}

static void cycle_cb(struct timer *t, void *arg)
{
    struct ctrl *c = arg;
    uint64_t iv = interval_ms(c);
    (void)t;
    timer_start(&c->probe.cycle, iv ? iv : PROBE_IDLE_RECHECK_MS);
    if (iv)
        probe_cycle(c);
}

void probe_cycle(struct ctrl *c)
{
    struct probe_state *p = &c->probe;
    uint64_t iv = interval_ms(c);
    if (p->n) /* the last cycle's deadline has not come (a reload shortened the interval): judge it now */
        probe_judge(c);
    uint64_t now = loop_now(c->loop);
    /* the online candidates of every prefix that has more than one: only there can a primary move */
    for (size_t i = 0; i < c->routes.n; i++) {
        const struct route_entry *e = &c->routes.v[i];
        if (e->nnodes < 2)
            continue;
        for (size_t j = 0; j < e->nnodes; j++) {
            struct cnode *n = ctrl_node_by_id(c, e->nodes[j]);
            if (!n || !n->m.online || n->removing || !n->nsess || out_has(p, n->m.id))
                continue;
            struct probe_out o = {.node = n->m.id, .online_gen = n->online_gen};
            o.fresh = now - n->online_since_ms < iv;
            uint8_t r[PROBE_ID_LEN / 2];
            randombytes_buf(r, sizeof r);
            sodium_bin2hex(o.id, sizeof o.id, r, sizeof r);
            if (out_add(p, &o))
                break;
        }
    }
    /* then sent: a write that ends a slow stream takes the node offline, which changes the table above */
    for (size_t i = 0; i < p->n; i++) {
        struct cnode *n = ctrl_node_by_id(c, p->v[i].node);
        if (!n || !n->m.online || send_probe(c, n, p->v[i].id)) {
            p->v[i].answered = true; /* not sent: nothing to judge */
            continue;
        }
        p->sent++;
        log_debug("module=control event=route_probe node=%lld result=sent", (long long)n->m.id);
    }
    if (p->n)
        timer_start(&p->deadline, timeout_ms(c));
}

int probe_answer(struct ctrl *c, const uint8_t mkey[32], const char *query)
{
    struct probe_state *p = &c->probe;
    const char *id = NULL;
    for (const char *q = query; q && *q; q = strchr(q, '&') ? strchr(q, '&') + 1 : NULL)
        if (!strncmp(q, "id=", 3))
            id = q + 3;
    size_t idlen = id ? strcspn(id, "&") : 0;
    if (idlen != PROBE_ID_LEN)
        return 404;
    for (size_t i = 0; i < p->n; i++) {
        struct probe_out *o = &p->v[i];
        if (o->answered || memcmp(o->id, id, PROBE_ID_LEN))
            continue;
        struct cnode *n = ctrl_node_by_id(c, o->node);
        /* the id is unguessable, and the answer must come over the probed machine's own channel */
        if (!n || memcmp(n->m.machine_key, mkey, 32))
            return 404;
        o->answered = true;
        p->answered++;
        if (n->unhealthy) {
            log_info("module=control event=route_probe node=%lld result=healthy msg=\"the node answers health "
                     "probes again\"",
                     (long long)n->m.id);
            health_changed(c, n, false);
        }
        return 200;
    }
    return 404;
}

void probe_init(struct ctrl *c)
{
    struct probe_state *p = &c->probe;
    timer_init(&p->cycle, c->loop, cycle_cb, c);
    timer_init(&p->deadline, c->loop, deadline_cb, c);
    uint64_t iv = interval_ms(c);
    timer_start(&p->cycle, iv ? iv : PROBE_IDLE_RECHECK_MS);
}

void probe_free(struct ctrl *c)
{
    struct probe_state *p = &c->probe;
    timer_stop(&p->cycle);
    timer_stop(&p->deadline);
    free(p->v);
    memset(p, 0, sizeof *p);
}
