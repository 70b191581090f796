// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <zstd.h>

#include "core/json/tailcfg.h"
#include "core/log.h"
#include "modules/control/access.h"
#include "modules/control/ctrl.h"
#include "modules/control/derpmap.h"
#include "modules/control/dnsconf.h"
#include "modules/control/ipalloc.h"

/* MapResponses (spec control-ts2021.md §7, netmap.md). Every node's entry as its peers see it is
 * serialized once and cached until the node changes, so a full map is a splice of cached texts (the
 * work per map grows with N, not with the cost of building N nodes) and a delta is built once for all
 * recipients (fanout.c). */

struct node_scratch {
    char addr[2][64];
    const char *addrs[2];
    const char *allowed[2 + ROUTES_MAX + 2];
    char fqdn[MODEL_LABEL_MAX + 260];
    char legacy_derp[32];
    char stable[MODEL_STABLE_ID_MAX + 1];
    struct tc_hostinfo hi;
};

/* routes: the subnet routes it carries for the recipient (NULL: its primaries, routes.h) */
static void fill_node(struct ctrl *c, const struct cnode *n, bool self, struct tc_node *t, struct node_scratch *s,
                      const struct model_strlist *routes)
{
    if (!routes)
        routes = &n->primary;
    const struct model_node *m = &n->m;
    memset(t, 0, sizeof *t);
    memset(&s->hi, 0, sizeof s->hi);
    t->id = m->id;
    t->stable_id = m->stable_id;
    snprintf(s->fqdn, sizeof s->fqdn, "%s.%s.", m->given_name, c->conf->dns.base_domain);
    t->name = s->fqdn;
    t->user = m->user_id;
    memcpy(t->key.b, m->node_key, 32);
    if (m->expiry)
        t->key_expiry = tc_time_from_unix(m->expiry, 0);
    memcpy(t->machine.b, m->machine_key, 32);
    memcpy(t->disco_key.b, m->disco_key, 32);
    size_t na = 0;
    if (m->has_ipv4) {
        inet_ntop(AF_INET, m->ipv4, s->addr[na], sizeof s->addr[na]);
        strcat(s->addr[na], "/32");
        s->addrs[na] = s->addr[na];
        na++;
    }
    if (m->has_ipv6) {
        inet_ntop(AF_INET6, m->ipv6, s->addr[na], sizeof s->addr[na]);
        strcat(s->addr[na], "/128");
        s->addrs[na] = s->addr[na];
        na++;
    }
    t->addresses = (struct tc_strs){s->addrs, na};
    /* AllowedIPs: cap < 112 needs them even when they are the addresses (later ones take absent =
     * Addresses); routes: the subnet routes this node is primary for, then the exit routes of an exit
     * node (routes.h) */
    size_t nal = 0;
    for (size_t i = 0; i < na; i++)
        s->allowed[nal++] = s->addrs[i];
    for (size_t i = 0; i < routes->n && nal < 2 + ROUTES_MAX; i++)
        s->allowed[nal++] = routes->v[i];
    if (routes_is_exit(n)) {
        s->allowed[nal++] = "0.0.0.0/0";
        s->allowed[nal++] = "::/0";
    }
    t->allowed_ips = (struct tc_strs){s->allowed, nal};
    t->primary_routes = (struct tc_strs){(const char *const *)routes->v, routes->n};
    t->endpoints = (struct tc_strs){(const char *const *)m->endpoints.v, m->endpoints.n};
    /* legacy DERP for clients before cap 111; HomeDERP for the rest (both, as headscale does) */
    snprintf(s->legacy_derp, sizeof s->legacy_derp, "127.3.3.40:%d", m->home_derp);
    t->legacy_derp = s->legacy_derp;
    t->home_derp = m->home_derp;
    const char *hi = self ? m->hostinfo : n->peer_hostinfo;
    if (hi) {
        s->hi.raw.text = hi;
        s->hi.raw.len = strlen(hi);
        t->hostinfo = &s->hi;
    }
    t->created = tc_time_from_unix(m->created, 0);
    t->cap = m->capver;
    t->tags = (struct tc_strs){(const char *const *)m->tags.v, m->tags.n};
    if (!self) {
        t->online = m->online ? TC_TRUE : TC_FALSE;
        if (!m->online && m->last_seen) {
            t->has_last_seen = true;
            t->last_seen = tc_time_from_unix(m->last_seen, 0);
        }
    }
    t->machine_authorized = true;
    t->expired = ctrl_node_expired(n, ctrl_now());
}

void mapper_invalidate(struct cnode *n)
{
    struct ctrl *c = n->c;
    size_t pos = c ? ctrl_node_pos(c, n->m.id) : 0;
    if (c && pos < c->nnodes && c->nodes[pos] == n) {
        if (c->nblocks)
            mapper_blocks_stale(c, pos, false);
        ctrl_node_reindex(c, n); /* a changed node may have a new key or name */
    }
    free(n->peer_json);
    n->peer_json = NULL;
    n->peer_json_len = 0;
}

const char *mapper_peer_json(struct ctrl *c, struct cnode *n, size_t *len)
{
    if (!n->peer_json) {
        struct tc_node t;
        struct node_scratch s;
        fill_node(c, n, false, &t, &s, NULL);
        n->peer_json = tc_node_to_json(&t, &n->peer_json_len);
        if (!n->peer_json)
            return NULL;
    }
    *len = n->peer_json_len;
    return n->peer_json;
}

const char *mapper_peer_json_for(struct ctrl *c, struct cnode *viewer, struct cnode *n, size_t *len)
{
    struct route_view *v = viewer && viewer->nviews ? routes_view(viewer, n->m.id) : NULL;
    if (!v)
        return mapper_peer_json(c, n, len);
    struct tc_node t;
    struct node_scratch s;
    fill_node(c, n, false, &t, &s, &v->routes);
    free(v->json);
    v->json = tc_node_to_json(&t, &v->len);
    *len = v->len;
    return v->json;
}

static const struct tc_capmap_entry self_caps[] = {
    {"https://tailscale.com/cap/file-sharing", {"[]", 2, NULL}},
    {"https://tailscale.com/cap/is-admin", {"[]", 2, NULL}},
    {"https://tailscale.com/cap/ssh", {"[]", 2, NULL}},
};

static int cmp_cap(const void *a, const void *b)
{
    return strcmp(((const struct tc_capmap_entry *)a)->name, ((const struct tc_capmap_entry *)b)->name);
}

int mapper_self_node(struct ctrl *c, struct cnode *self, int capver, struct jbuf *jb)
{
    struct tc_node t;
    struct node_scratch s;
    fill_node(c, self, true, &t, &s, NULL);
    struct tc_capmap_entry *caps = NULL;
    struct json_object *attrs = NULL;
    if (capver >= 74) { /* Node.CapMap exists from cap 74 */
        t.cap_map = (struct tc_capmap){self_caps, sizeof self_caps / sizeof self_caps[0]};
        /* the policy's node attributes join the base capabilities (sorted, as Go writes a map) */
        size_t al;
        const char *at = access_caps(c, self, &al);
        if (al) {
            struct jbuf o;
            jbuf_init(&o);
            jbuf_putc(&o, '{');
            jbuf_put(&o, at, al);
            jbuf_putc(&o, '}');
            attrs = o.oom ? NULL : tc_json_parse(o.p, o.len);
            jbuf_free(&o);
        }
        size_t na = attrs ? (size_t)json_object_object_length(attrs) : 0;
        caps = na ? calloc(na + 3, sizeof *caps) : NULL;
        if (caps) {
            size_t n = 3;
            memcpy(caps, self_caps, sizeof self_caps);
            json_object_object_foreach(attrs, k, v)
            {
                bool dup = false;
                for (size_t i = 0; i < 3; i++)
                    dup |= !strcmp(k, self_caps[i].name);
                if (dup)
                    continue;
                caps[n].name = k;
                if (v && !json_object_is_type(v, json_type_null))
                    caps[n].value.obj = v;
                n++;
            }
            qsort(caps, n, sizeof *caps, cmp_cap);
            t.cap_map = (struct tc_capmap){caps, n};
        }
    }
    int rc = tc_node_emit(jb, &t) || jb->oom ? -1 : 0;
    free(caps);
    json_object_put(attrs);
    return rc;
}

/* The node's packet filter and SSH policy into r (the texts are copied into fb, which the caller frees
 * after emitting r). PacketFilters {"base":[...]} from capability version 81, PacketFilter before. */
static int policy_parts(struct ctrl *c, struct cnode *self, int capver, struct tc_map_response *r,
                        struct jbuf *fb, struct jbuf *sb, bool filter, bool ssh)
{
    if (filter) {
        size_t fl;
        const char *f = access_filter(c, self, &fl);
        if (!f)
            return -1;
        if (capver >= 81)
            jbuf_put(fb, "{\"base\":", 8);
        jbuf_put(fb, f, fl);
        if (capver >= 81)
            jbuf_putc(fb, '}');
        if (fb->oom)
            return -1;
        if (capver >= 81)
            r->packet_filters_json = (struct tc_raw){fb->p, fb->len, NULL};
        else
            r->packet_filter_json = (struct tc_raw){fb->p, fb->len, NULL};
    }
    if (ssh) {
        size_t sl;
        const char *t = access_ssh(c, self, &sl);
        if (t) {
            jbuf_put(sb, t, sl);
            if (sb->oom)
                return -1;
            r->ssh_policy = (struct tc_raw){sb->p, sb->len, NULL};
        }
    }
    return 0;
}

int mapper_policy_parts(struct ctrl *c, struct cnode *self, int capver, struct tc_map_response *r,
                        struct jbuf *fb, struct jbuf *sb, bool filter, bool ssh)
{
    return policy_parts(c, self, capver, r, fb, sb, filter, ssh);
}

static struct tc_user_profile *user_profiles(struct ctrl *c, size_t *n)
{
    struct tc_user_profile *v = calloc(c->nusers ? c->nusers : 1, sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < c->nusers; i++) {
        v[i].id = c->users[i].id;
        v[i].login_name = c->users[i].name;
        v[i].display_name = c->users[i].display_name[0] ? c->users[i].display_name : c->users[i].name;
    }
    *n = c->nusers;
    return v;
}

/* Filled with the parts every full map shares. */
static void map_common(struct ctrl *c, struct tc_map_response *r, int capver)
{
    r->derp_map_json = (struct tc_raw){c->derp_json, c->derp_len, NULL};
    r->dns_config_json = (struct tc_raw){c->dns_json, c->dns_len, NULL};
    r->domain = c->server_host;
    r->collect_services = TC_FALSE;
    (void)capver;
    r->has_control_time = true;
    r->control_time = tc_time_now();
    r->debug = (struct tc_raw){"{\"DisableLogTail\":true}", 23, NULL};
}

static const char peers_marker[] = "\"@@weft-peers@@\"";

/* marked: Peers holds only the marker, to be replaced by the peer frames */
static int map_full(struct ctrl *c, struct cnode *self, int capver, bool marked)
{
    if (c->raws_cap < c->nnodes + 1) {
        struct tc_raw *v = realloc(c->raws, (c->nnodes + 1) * sizeof *v);
        if (!v)
            return -1;
        c->raws = v;
        c->raws_cap = c->nnodes + 1;
    }
    size_t np = 0;
    routes_views_refresh(c);
    /* an expired node learns that from its own KeyExpiry (NeedsLogin), and nothing about its peers */
    bool expired = ctrl_node_expired(self, ctrl_now());
    bool all = access_all_visible(c);
    for (size_t i = 0; !marked && !expired && i < c->nnodes; i++) {
        struct cnode *p = c->nodes[i];
        if (p == self || (!all && !access_visible(c, self, p)))
            continue;
        size_t len;
        const char *j = mapper_peer_json_for(c, self, p, &len);
        if (!j)
            return -1;
        c->raws[np++] = (struct tc_raw){j, len, NULL};
    }
    if (marked) {
        c->raws[0] = (struct tc_raw){peers_marker, sizeof peers_marker - 1, NULL};
        np = 1;
    }
    struct jbuf node;
    jbuf_init(&node);
    if (mapper_self_node(c, self, capver, &node)) {
        jbuf_free(&node);
        return -1;
    }
    struct tc_map_response r;
    memset(&r, 0, sizeof r);
    r.node_json = (struct tc_raw){node.p, node.len, NULL};
    map_common(c, &r, capver);
    r.peers.json = c->raws;
    r.peers.njson = np;
    struct jbuf fb, sb;
    jbuf_init(&fb);
    jbuf_init(&sb);
    if (policy_parts(c, self, capver, &r, &fb, &sb, true, true)) {
        jbuf_free(&fb);
        jbuf_free(&sb);
        jbuf_free(&node);
        return -1;
    }
    size_t nu = 0;
    struct tc_user_profile *up = user_profiles(c, &nu);
    r.user_profiles = up;
    r.nuser_profiles = up ? nu : 0;
    jbuf_reset(&c->jb);
    int rc = tc_map_response_emit(&c->jb, &r);
    free(up);
    jbuf_free(&node);
    jbuf_free(&fb);
    jbuf_free(&sb);
    c->full_maps++;
    return rc || c->jb.oom ? -1 : 0;
}

int mapper_full(struct ctrl *c, struct cnode *self, int capver)
{
    return map_full(c, self, capver, false);
}

struct peer_block {
    uint8_t *z; /* one zstd frame of ",peer,peer,..." (every entry with its leading comma); NULL: stale */
    size_t len;
};

void mapper_blocks_stale(struct ctrl *c, size_t pos, bool shift)
{
    for (size_t b = pos / MAPPER_BLOCK; b < c->nblocks; b++) {
        free(c->blocks[b].z);
        c->blocks[b].z = NULL;
        if (!shift)
            break;
    }
}

void mapper_blocks_free(struct ctrl *c)
{
    mapper_blocks_stale(c, 0, true);
    free(c->blocks);
    c->blocks = NULL;
    c->nblocks = 0;
}

/* Appends one zstd frame of src to c->frame at *off. 0 or -1. */
static int zappend(struct ctrl *c, size_t *off, const void *src, size_t len)
{
    size_t need = *off + ZSTD_compressBound(len);
    if (need > c->frame_cap) {
        size_t cap = c->frame_cap ? c->frame_cap : 65536;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(c->frame, cap);
        if (!p)
            return -1;
        c->frame = p;
        c->frame_cap = cap;
    }
    size_t r = ZSTD_compressCCtx(c->enc_zstd.cctx, c->frame + *off, c->frame_cap - *off, src, len,
                                 c->enc_zstd.level);
    if (ZSTD_isError(r))
        return -1;
    *off += r;
    return 0;
}

static int raw_append(struct ctrl *c, size_t *off, const void *src, size_t len)
{
    if (*off + len > c->frame_cap) {
        size_t cap = c->frame_cap ? c->frame_cap : 65536;
        while (cap < *off + len)
            cap *= 2;
        uint8_t *p = realloc(c->frame, cap);
        if (!p)
            return -1;
        c->frame = p;
        c->frame_cap = cap;
    }
    memcpy(c->frame + *off, src, len);
    *off += len;
    return 0;
}

/* ",peer,peer..." of nodes [lo, hi) except skip1/skip2, and (for viewer) only those it may see, into
 * c->jb2; each as rviewer sees it (its route views; NULL: the shared entries). */
static int block_text(struct ctrl *c, size_t lo, size_t hi, const struct cnode *skip1, const struct cnode *skip2,
                      const struct cnode *viewer, struct cnode *rviewer)
{
    jbuf_reset(&c->jb2);
    for (size_t i = lo; i < hi; i++) {
        struct cnode *p = c->nodes[i];
        if (p == skip1 || p == skip2 || (viewer && !access_visible(c, viewer, p)))
            continue;
        size_t l;
        const char *j = mapper_peer_json_for(c, rviewer, p, &l);
        if (!j)
            return -1;
        jbuf_putc(&c->jb2, ',');
        jbuf_put(&c->jb2, j, l);
    }
    return c->jb2.oom ? -1 : 0;
}

/* Whether viewer sees every node of [lo, hi) but itself. */
static bool block_all_visible(struct ctrl *c, size_t lo, size_t hi, const struct cnode *viewer)
{
    for (size_t i = lo; i < hi; i++)
        if (c->nodes[i] != viewer && !access_visible(c, viewer, c->nodes[i]))
            return false;
    return true;
}

const uint8_t *mapper_full_frame(struct ctrl *c, struct cnode *self, int capver, bool compress, size_t *len)
{
    size_t spos = ctrl_node_pos(c, self->m.id);
    if (!compress || c->nnodes < 2 || ctrl_node_expired(self, ctrl_now()) || spos >= c->nnodes) {
        if (mapper_full(c, self, capver))
            return NULL;
        return mapper_frame(c, compress, len);
    }
    if (map_full(c, self, capver, true))
        return NULL;
    const char *mk = memmem(c->jb.p, c->jb.len, peers_marker, sizeof peers_marker - 1);
    if (!mk)
        return NULL;
    size_t pre = (size_t)(mk - c->jb.p), post = pre + sizeof peers_marker - 1;
    size_t nb = (c->nnodes + MAPPER_BLOCK - 1) / MAPPER_BLOCK;
    if (nb > c->nblocks) {
        struct peer_block *v = realloc(c->blocks, nb * sizeof *v);
        if (!v)
            return NULL;
        memset(v + c->nblocks, 0, (nb - c->nblocks) * sizeof *v);
        c->blocks = v;
        c->nblocks = nb;
    }
    /* the first peer goes with the head (no leading comma); blocks holding it or self are fresh, and so
     * are those holding a node self may not see (the policy hides it) */
    bool all = access_all_visible(c);
    size_t fpos = 0;
    while (fpos < c->nnodes && (fpos == spos || (!all && !access_visible(c, self, c->nodes[fpos]))))
        fpos++;
    if (fpos == c->nnodes) { /* no peers at all */
        if (mapper_full(c, self, capver))
            return NULL;
        return mapper_frame(c, compress, len);
    }
    struct cnode *first = c->nodes[fpos];
    size_t off = MAPSTREAM_HEADER_LEN, fl;
    const char *fj = mapper_peer_json_for(c, self, first, &fl);
    if (!fj)
        return NULL;
    jbuf_reset(&c->jb2);
    jbuf_put(&c->jb2, c->jb.p, pre);
    jbuf_put(&c->jb2, fj, fl);
    if (c->jb2.oom || zappend(c, &off, c->jb2.p, c->jb2.len))
        return NULL;
    for (size_t b = 0; b < nb; b++) {
        size_t lo = b * MAPPER_BLOCK, hi = lo + MAPPER_BLOCK < c->nnodes ? lo + MAPPER_BLOCK : c->nnodes;
        /* a node with route views (routes.h) gets its own blocks */
        if ((spos >= lo && spos < hi) || (fpos >= lo && fpos < hi) || self->nviews ||
            (!all && !block_all_visible(c, lo, hi, self))) {
            if (block_text(c, lo, hi, self, first, all ? NULL : self, self))
                return NULL;
            if (c->jb2.len && zappend(c, &off, c->jb2.p, c->jb2.len))
                return NULL;
            continue;
        }
        struct peer_block *pb = &c->blocks[b];
        if (!pb->z) {
            if (block_text(c, lo, hi, NULL, NULL, NULL, NULL))
                return NULL;
            /* compress into the tail of c->frame, then keep a copy */
            size_t at = off;
            if (zappend(c, &at, c->jb2.p, c->jb2.len))
                return NULL;
            pb->len = at - off;
            pb->z = malloc(pb->len);
            if (!pb->z)
                return NULL;
            memcpy(pb->z, c->frame + off, pb->len);
        }
        if (raw_append(c, &off, pb->z, pb->len))
            return NULL;
    }
    if (zappend(c, &off, c->jb.p + post, c->jb.len - post))
        return NULL;
    size_t body = off - MAPSTREAM_HEADER_LEN;
    if (body > UINT32_MAX)
        return NULL;
    c->frame[0] = (uint8_t)body;
    c->frame[1] = (uint8_t)(body >> 8);
    c->frame[2] = (uint8_t)(body >> 16);
    c->frame[3] = (uint8_t)(body >> 24);
    *len = off;
    return c->frame;
}

const uint8_t *mapper_frame(struct ctrl *c, bool compress, size_t *len)
{
    struct mapstream_enc *e = compress ? &c->enc_zstd : &c->enc_plain;
    size_t need = mapstream_frame_bound(e, c->jb.len);
    if (need > c->frame_cap) {
        uint8_t *p = realloc(c->frame, need);
        if (!p)
            return NULL;
        c->frame = p;
        c->frame_cap = need;
    }
    long n = mapstream_encode(e, c->frame, c->frame_cap, c->jb.p, c->jb.len);
    if (n < 0)
        return NULL;
    *len = (size_t)n;
    return c->frame;
}

/* ---- the static parts ---- */

/* The DERP map: the file's, else the embedded relay's entry (at server_url's host and port), into *out. */
static int build_derp(struct ctrl *c, const struct control_conf *cf, char **out, size_t *outlen)
{
    if (cf->derp_map_file) {
        char err[512];
        if (derpmap_load(cf->derp_map_file, out, outlen, err, sizeof err)) {
            log_error("module=control event=derp_map error=\"%s\"", err);
            return -1;
        }
        return 0;
    }
    struct tc_derp_map m;
    memset(&m, 0, sizeof m);
    struct tc_derp_region r;
    memset(&r, 0, sizeof r);
    struct tc_derp_node dn;
    memset(&dn, 0, sizeof dn);
    char name[16];
    if (c->embedded_derp) {
        uint8_t a[16];
        snprintf(name, sizeof name, "%lld", cf->derp_region_id);
        dn.name = name;
        dn.region_id = (int32_t)cf->derp_region_id;
        dn.host_name = c->server_host;
        if (inet_pton(AF_INET, c->server_host, a) == 1)
            dn.ipv4 = c->server_host;
        else if (inet_pton(AF_INET6, c->server_host, a) == 1)
            dn.ipv6 = c->server_host;
        dn.stun_port = c->stun_port ? c->stun_port : -1;
        dn.derp_port = c->server_port;
        r.region_id = dn.region_id;
        r.region_code = "weft";
        r.region_name = "weft embedded DERP";
        r.nodes = &dn;
        r.nnodes = 1;
        m.regions = &r;
        m.nregions = 1;
    } else {
        log_warn("module=control event=derp_map msg=\"no DERP relay: run derp in this process or set "
                 "control.derp_map_file; clients will have no relay\"");
    }
    struct jbuf b;
    jbuf_init(&b);
    int rc = tc_derp_map_emit(&b, &m);
    *out = rc ? NULL : jbuf_take(&b, outlen);
    jbuf_free(&b);
    return *out ? 0 : -1;
}

/* Replace *cur with fresh if they differ; 1 if replaced, 0 if the same (fresh freed). */
static int replace_text(char **cur, size_t *curlen, char *fresh, size_t len)
{
    if (*cur && *curlen == len && memcmp(*cur, fresh, len) == 0) {
        free(fresh);
        return 0;
    }
    free(*cur);
    *cur = fresh;
    *curlen = len;
    return 1;
}

int mapper_rebuild_static(struct ctrl *c, unsigned *changed)
{
    char *derp, *dns;
    size_t dl, nl;
    *changed = 0;
    if (build_derp(c, c->conf, &derp, &dl))
        return -1;
    if (dnsconf_build(c, c->conf, &dns, &nl)) {
        free(derp);
        return -1;
    }
    if (replace_text(&c->derp_json, &c->derp_len, derp, dl))
        *changed |= STATIC_DERP;
    if (replace_text(&c->dns_json, &c->dns_len, dns, nl))
        *changed |= STATIC_DNS;
    return 0;
}

int mapper_init_static(struct ctrl *c, bool embedded_derp, int stun_port)
{
    unsigned changed;
    c->embedded_derp = embedded_derp;
    c->stun_port = stun_port;
    /* the packet filter is the access policy's (access.c), control.packet_filter_file included */
    return mapper_rebuild_static(c, &changed);
}
