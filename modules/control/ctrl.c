// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "core/json/tailcfg.h"
#include "core/log.h"
#include "modules/control/access.h"
#include "modules/control/ctrl.h"
#include "modules/control/dnsconf.h"
#include "modules/control/hostinfo.h"
#include "modules/control/ipalloc.h"
#include "modules/control/naming.h"
#include "modules/control/store.h"

/* last_seen of an online node reaches the store at most this often (seconds), in batches written every
 * SEEN_FLUSH_MS: 10,000 streamers cost ~170 row updates a second, in a few transactions. */
#define SEEN_PERSIST_S 60
#define SEEN_FLUSH_MS 5000
#define DEFAULT_HOSTINFO_MAX 16384

int64_t ctrl_now(void)
{
    return (int64_t)time(NULL);
}

/* "http://host:port/..." -> host, port, tls. */
static int parse_server_url(struct ctrl *c, const char *url)
{
    const char *p;
    if (!strncmp(url, "https://", 8)) {
        c->server_tls = true;
        c->server_port = 443;
        p = url + 8;
    } else if (!strncmp(url, "http://", 7)) {
        c->server_port = 80;
        p = url + 7;
    } else {
        return -1;
    }
    const char *end = p + strcspn(p, "/?#");
    const char *host = p, *hend, *port = NULL;
    if (*p == '[') {
        host = p + 1;
        hend = memchr(p, ']', (size_t)(end - p));
        if (!hend)
            return -1;
        if (hend + 1 < end && hend[1] == ':')
            port = hend + 2;
    } else {
        hend = memchr(p, ':', (size_t)(end - p));
        if (hend)
            port = hend + 1;
        else
            hend = end;
    }
    if (hend == host)
        return -1;
    if (port) {
        char *e;
        long v = strtol(port, &e, 10);
        if (e != end || v <= 0 || v > 65535)
            return -1;
        c->server_port = (int)v;
    }
    c->server_host = strndup(host, (size_t)(hend - host));
    return c->server_host ? 0 : -1;
}

char *ctrl_hostinfo_clean(struct ctrl *c, const char *json, size_t len, size_t *outlen)
{
    size_t max = c && c->conf && c->conf->hostinfo_max ? (size_t)c->conf->hostinfo_max : DEFAULT_HOSTINFO_MAX;
    return hostinfo_clean(json, len, NULL, max, outlen);
}

static char *json_str(struct json_object *o, const char *key)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return strdup(json_object_get_string(v));
}

/* The Hostinfo peers get: the members they use (hostinfo_peer_keys), cleaned. The access policy reads the
 * OS and version for device posture from that cleaned text (the advertised routes from routes.c). */
int ctrl_node_set_hostinfo(struct cnode *n, const char *json, size_t len)
{
    struct ctrl *c = n->c;
    size_t max = c && c->conf && c->conf->hostinfo_max ? (size_t)c->conf->hostinfo_max : DEFAULT_HOSTINFO_MAX;
    char *trimmed = json && len ? hostinfo_clean(json, len, hostinfo_peer_keys, max, NULL) : NULL;
    free(n->hi_os);
    free(n->hi_os_version);
    free(n->hi_version);
    n->hi_os = n->hi_os_version = n->hi_version = NULL;
    struct json_object *o = trimmed ? tc_json_parse(trimmed, strlen(trimmed)) : NULL;
    if (o && json_object_is_type(o, json_type_object)) {
        n->hi_os = json_str(o, "OS");
        n->hi_os_version = json_str(o, "OSVersion");
        n->hi_version = json_str(o, "IPNVersion");
    }
    json_object_put(o);
    int changed = (!trimmed != !n->peer_hostinfo) ||
                  (trimmed && strcmp(trimmed, n->peer_hostinfo) != 0);
    free(n->peer_hostinfo);
    n->peer_hostinfo = trimmed;
    return changed;
}

static void eph_timer_cb(struct timer *t, void *arg)
{
    struct cnode *n = arg;
    (void)t;
    if (n->nsess || n->nremote)
        return;
    if (!cluster_leader(n->c)) { /* the leader removes it; look again in case leadership comes here */
        timer_start(&n->eph_timer, 5000);
        return;
    }
    log_info("module=control event=ephemeral_removed node=%lld name=%s", (long long)n->m.id, n->m.given_name);
    ctrl_node_remove(n->c, n, true);
}

size_t ctrl_node_pos(struct ctrl *c, int64_t id)
{
    size_t lo = 0, hi = c->nnodes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->nodes[mid]->m.id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct cnode *ctrl_node_by_id(struct ctrl *c, int64_t id)
{
    size_t i = ctrl_node_pos(c, id);
    return i < c->nnodes && c->nodes[i]->m.id == id ? c->nodes[i] : NULL;
}

static bool has_nkey(const struct cnode *n, const void *key)
{
    return !memcmp(n->m.node_key, key, 32);
}

static bool has_mkey(const struct cnode *n, const void *key)
{
    return !memcmp(n->m.machine_key, key, 32);
}

static bool has_name(const struct cnode *n, const void *key)
{
    return !strcmp(n->m.given_name, key);
}

/* The node holding key (the first by id, as a scan would find it): the index's entries under its hash
 * checked against each node's key now. */
static struct cnode *find(struct ctrl *c, const struct nodeindex *ix, const void *key, size_t len,
                          bool (*match)(const struct cnode *, const void *))
{
    struct cnode *best = NULL;
    if (c->ix_broken) {
        for (size_t i = 0; i < c->nnodes && !best; i++)
            if (match(c->nodes[i], key))
                best = c->nodes[i];
        return best;
    }
    size_t it = 0;
    struct cnode *n;
    while ((n = nodeindex_next(ix, nodeindex_hash(key, len), &it)))
        if (match(n, key) && (!best || n->m.id < best->m.id))
            best = n;
    return best;
}

struct cnode *ctrl_node_by_node_key(struct ctrl *c, const uint8_t key[32])
{
    return find(c, &c->by_nkey, key, 32, has_nkey);
}

struct cnode *ctrl_node_by_machine_key(struct ctrl *c, const uint8_t key[32])
{
    return find(c, &c->by_mkey, key, 32, has_mkey);
}

struct cnode *ctrl_node_by_name(struct ctrl *c, const char *name)
{
    return find(c, &c->by_name, name, strlen(name), has_name);
}

static void refile(struct ctrl *c, struct nodeindex *ix, struct cnode *n, uint64_t *filed, uint64_t h)
{
    if (n->indexed && *filed == h)
        return;
    if (n->indexed)
        nodeindex_del(ix, *filed, n);
    if (nodeindex_add(ix, h, n))
        c->ix_broken = true;
    *filed = h;
}

void ctrl_node_reindex(struct ctrl *c, struct cnode *n)
{
    refile(c, &c->by_nkey, n, &n->ix_nkey, nodeindex_hash(n->m.node_key, 32));
    refile(c, &c->by_mkey, n, &n->ix_mkey, nodeindex_hash(n->m.machine_key, 32));
    refile(c, &c->by_name, n, &n->ix_name, nodeindex_hash(n->m.given_name, strlen(n->m.given_name)));
    n->indexed = true;
}

static void unindex(struct ctrl *c, struct cnode *n)
{
    if (!n->indexed)
        return;
    nodeindex_del(&c->by_nkey, n->ix_nkey, n);
    nodeindex_del(&c->by_mkey, n->ix_mkey, n);
    nodeindex_del(&c->by_name, n->ix_name, n);
    n->indexed = false;
}

struct cnode *ctrl_node_add(struct ctrl *c, struct model_node *m)
{
    if (c->nnodes == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct cnode **v = realloc(c->nodes, cap * sizeof *v);
        if (!v)
            return NULL;
        c->nodes = v;
        c->cap = cap;
    }
    struct cnode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->m = *m;
    memset(m, 0, sizeof *m);
    n->c = c;
    n->m.online = false;
    n->seen_stored = n->m.last_seen;
    timer_init(&n->eph_timer, c->loop, eph_timer_cb, n);
    /* rows written before control cleaned what clients send are cleaned as they are loaded */
    hostinfo_clean_str(n->m.hostname, sizeof n->m.hostname, n->m.hostname);
    if (n->m.hostinfo) {
        char *clean = ctrl_hostinfo_clean(c, n->m.hostinfo, strlen(n->m.hostinfo), NULL);
        free(n->m.hostinfo);
        n->m.hostinfo = clean;
    }
    if (n->m.hostinfo)
        ctrl_node_set_hostinfo(n, n->m.hostinfo, strlen(n->m.hostinfo));
    size_t i = ctrl_node_pos(c, n->m.id);
    memmove(c->nodes + i + 1, c->nodes + i, (c->nnodes - i) * sizeof *c->nodes);
    c->nodes[i] = n;
    c->nnodes++;
    ctrl_node_reindex(c, n);
    mapper_blocks_stale(c, i, true);
    access_node(c, n);
    routes_node_update(c, n);
    return n;
}

static void cnode_free(struct cnode *n)
{
    timer_stop(&n->eph_timer);
    model_node_clear(&n->m);
    model_strlist_free(&n->primary);
    model_strlist_free(&n->cand);
    routes_views_free(n);
    free(n->peer_json);
    free(n->peer_hostinfo);
    free(n->padd);
    free(n->prem);
    free(n->fadd);
    free(n->frem);
    free(n->hi_os);
    free(n->hi_os_version);
    free(n->hi_version);
    free(n->remote);
    free(n);
}

int ctrl_node_remove(struct ctrl *c, struct cnode *n, bool del)
{
    int rc = 0;
    if (del) {
        rc = store_node_delete(c->store, n->m.id);
        if (rc && rc != STORE_NOTFOUND) {
            log_error("module=control event=node_delete node=%lld error=\"%s\"", (long long)n->m.id,
                      store_errmsg(c->store));
            return rc;
        }
        rc = 0;
    }
    ctrl_revoke(c, n->m.node_key);
    if (n->nsess)
        cluster_local_online(c, n, false);
    n->removing = true;
    while (n->sess)
        ctrl_sess_end(n->sess);
    routes_node_forget(c, n); /* its prefixes get other primaries */
    if (n->m.has_ipv4)
        ipalloc_release(c->ipa, 4, n->m.ipv4);
    if (n->m.has_ipv6)
        ipalloc_release(c->ipa, 6, n->m.ipv6);
    if (n->pending) { /* drop it from the batch: swap with the last */
        c->changed[n->pending_idx] = c->changed[--c->nchanged];
        if (n->pending_idx < c->nchanged)
            c->changed[n->pending_idx]->pending_idx = n->pending_idx;
        n->pending = 0;
    }
    size_t i = ctrl_node_pos(c, n->m.id);
    if (i < c->nnodes && c->nodes[i] == n) {
        memmove(c->nodes + i, c->nodes + i + 1, (c->nnodes - i - 1) * sizeof *c->nodes);
        c->nnodes--;
        mapper_blocks_stale(c, i, true);
    }
    unindex(c, n);
    access_node_gone(c, n->m.id); /* its peers are told through the policy (PeersRemoved) */
    fanout_removed(c, n->m.id);
    cnode_free(n);
    return rc;
}

bool ctrl_node_expired(const struct cnode *n, int64_t now)
{
    return n->m.expiry != 0 && n->m.expiry <= now;
}

int ctrl_node_save(struct ctrl *c, struct cnode *n, unsigned what)
{
    int rc = store_node_update(c->store, &n->m);
    if (rc) {
        log_error("module=control event=node_update node=%lld error=\"%s\"", (long long)n->m.id,
                  store_errmsg(c->store));
        return rc;
    }
    if (what & ~(unsigned)CH_SELF)
        mapper_invalidate(n);
    if (what & (CH_FULL | CH_SELF))
        access_node(c, n); /* tags, user, routes, addresses: what the policy reads */
    if (what)
        fanout_node(c, n, what);
    return 0;
}

static void node_online_apply(struct ctrl *c, struct cnode *n, bool online);

void ctrl_node_online(struct ctrl *c, struct cnode *n, bool online)
{
    cluster_local_online(c, n, online);
    ctrl_node_online_changed(c, n);
}

void ctrl_node_online_changed(struct ctrl *c, struct cnode *n)
{
    bool online = n->nsess > 0 || n->nremote > 0 || n->held_until;
    if (online != n->m.online)
        node_online_apply(c, n, online);
}

static void node_online_apply(struct ctrl *c, struct cnode *n, bool online)
{
    n->m.online = online;
    if (!online) {
        n->m.last_seen = ctrl_now();
        if (store_node_set_last_seen(c->store, n->m.id, n->m.last_seen))
            log_warn("module=control event=last_seen node=%lld error=\"%s\"", (long long)n->m.id,
                     store_errmsg(c->store));
        else
            n->seen_stored = n->m.last_seen;
        if (n->m.ephemeral)
            timer_start(&n->eph_timer, (uint64_t)c->conf->ephemeral_timeout);
    } else {
        timer_stop(&n->eph_timer);
        n->online_gen++;
        n->online_since_ms = loop_now(c->loop);
        n->unhealthy = false; /* judged afresh by the probes of this online period */
    }
    mapper_invalidate(n);
    fanout_node(c, n, CH_ONLINE);
    routes_node_update(c, n); /* primaries move to online nodes (failover) */
}

static void seen_flush_cb(struct timer *t, void *arg)
{
    struct ctrl *c = arg;
    (void)t;
    if (!c->nseen)
        return;
    bool tx = store_begin(c->store) == 0;
    size_t failed = 0;
    for (size_t i = 0; i < c->nseen; i++) {
        struct cnode *n = ctrl_node_by_id(c, c->seen[i]);
        if (!n || !n->seen_dirty) /* removed since, or written at its disconnect */
            continue;
        n->seen_dirty = false;
        if (store_node_set_last_seen(c->store, n->m.id, n->m.last_seen))
            failed++;
        else
            n->seen_stored = n->m.last_seen;
    }
    if (tx && store_commit(c->store)) {
        store_rollback(c->store);
        failed = c->nseen;
    }
    if (failed) /* the next map request or keep-alive tries again */
        log_warn("module=control event=last_seen nodes=%zu error=\"%s\"", failed, store_errmsg(c->store));
    c->nseen = 0;
}

void ctrl_node_seen(struct ctrl *c, struct cnode *n)
{
    n->m.last_seen = ctrl_now();
    if (n->seen_dirty || n->m.last_seen - n->seen_stored < SEEN_PERSIST_S)
        return;
    if (c->nseen == c->seen_cap) {
        size_t cap = c->seen_cap ? c->seen_cap * 2 : 64;
        int64_t *v = realloc(c->seen, cap * sizeof *v);
        if (!v)
            return;
        c->seen = v;
        c->seen_cap = cap;
    }
    c->seen[c->nseen++] = n->m.id;
    n->seen_dirty = true;
    if (!timer_armed(&c->seen_flush))
        timer_start(&c->seen_flush, SEEN_FLUSH_MS);
}

/* Is label taken by a node other than self? */
struct name_probe {
    struct ctrl *c;
    const struct cnode *self;
};

static bool taken_by_other(void *ctx, const char *label)
{
    struct name_probe *p = ctx;
    struct cnode *o = ctrl_node_by_name(p->c, label);
    return o != NULL && o != p->self;
}

unsigned ctrl_node_set_hostname(struct ctrl *c, struct cnode *n, const char *hostname)
{
    char clean[MODEL_HOSTNAME_MAX + 1];
    hostinfo_clean_str(clean, sizeof clean, hostname ? hostname : "");
    if (!strcmp(clean, n->m.hostname))
        return 0;
    char old_label[NAMING_LABEL_MAX + 1], label[NAMING_LABEL_MAX + 1];
    naming_label(n->m.hostname, old_label);
    naming_label(clean, label);
    model_strlcpy(n->m.hostname, clean, sizeof n->m.hostname);
    if (n->m.renamed || !strcmp(old_label, label))
        return 0; /* an admin's name stays; "My Laptop" -> "my-laptop" changes nothing */
    char given[NAMING_LABEL_MAX + 1];
    struct name_probe probe = {c, n};
    if (naming_unique(label, taken_by_other, &probe, given) || !strcmp(given, n->m.given_name))
        return 0;
    log_info("module=control event=node_renamed node=%lld from=%s to=%s reason=\"the client's hostname "
             "changed\"", (long long)n->m.id, n->m.given_name, given);
    model_strlcpy(n->m.given_name, given, sizeof n->m.given_name);
    ctrl_node_reindex(c, n);
    return CH_FULL | CH_SELF;
}

void ctrl_revoke(struct ctrl *c, const uint8_t node_key[32])
{
    if (c->on_revoke)
        c->on_revoke(c->on_revoke_arg, node_key);
}

const struct model_user *ctrl_user(struct ctrl *c, int64_t id)
{
    for (size_t i = 0; i < c->nusers; i++)
        if (c->users[i].id == id)
            return &c->users[i];
    return NULL;
}

int ctrl_users_reload(struct ctrl *c)
{
    struct model_user *u = NULL;
    size_t n = 0;
    int rc = store_user_list(c->store, &u, &n);
    if (rc)
        return rc;
    free(c->users);
    c->users = u;
    c->nusers = n;
    c->users_changed = true;
    access_users(c);
    return 0;
}

struct ctrl *ctrl_new(struct control_conf *conf, struct loop *loop, struct store *store, bool embedded_derp,
                      int derp_stun_port, char *err, size_t errlen)
{
    struct ctrl *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->conf = conf;
    c->loop = loop;
    c->store = store;
    c->state_dir = conf->state_dir ? strdup(conf->state_dir) : NULL;
    c->keepalive_ms = conf->keepalive ? conf->keepalive : 50000;
    c->batch_ms = conf->batch_delay;
    mhist_init(&c->st.batch_nodes, mhist_sizes, mhist_sizes_n);
    mhist_init(&c->st.batch_latency, mhist_seconds, mhist_seconds_n);
    mhist_init(&c->st.flush_seconds, mhist_seconds, mhist_seconds_n);
    mhist_init(&c->st.store_seconds, mhist_seconds, mhist_seconds_n);
    c->rng = (uint32_t)time(NULL) | 1;
    c->max_queued = conf->stream_queue_max > 0 ? (size_t)conf->stream_queue_max : 16u << 20;
    jbuf_init(&c->jb);
    jbuf_init(&c->jb2);
    timer_init(&c->flush, loop, NULL, NULL);
    timer_init(&c->seen_flush, loop, seen_flush_cb, c);
    if (pending_init(&c->pending, conf->max_pending > 0 ? (size_t)conf->max_pending : 1000)) {
        snprintf(err, errlen, "out of memory");
        free(c);
        return NULL;
    }
    if (!conf->dns.base_domain) { /* check-config says so too (dnsconf_check) */
        snprintf(err, errlen, "control.dns.base_domain is empty: nodes' names are NAME.<base_domain>");
        goto fail;
    }
    if (parse_server_url(c, conf->server_url ? conf->server_url : "http://127.0.0.1:8080")) {
        snprintf(err, errlen, "server_url %s: not an http:// or https:// URL", conf->server_url);
        goto fail;
    }
    c->ipa = ipalloc_new(conf->prefix_v4, conf->prefix_v6, err, errlen);
    if (!c->ipa)
        goto fail;
    if (cluster_start(c, err, errlen))
        goto fail;
    if (store_addrs_in_use(store, ipalloc_load_cb, c->ipa)) {
        snprintf(err, errlen, "loading addresses: %s", store_errmsg(store));
        goto fail;
    }
    if (ctrl_users_reload(c)) {
        snprintf(err, errlen, "loading users: %s", store_errmsg(store));
        goto fail;
    }
    struct model_node *v = NULL;
    size_t nv = 0;
    if (store_node_list(store, &v, &nv)) {
        snprintf(err, errlen, "loading nodes: %s", store_errmsg(store));
        goto fail;
    }
    for (size_t i = 0; i < nv; i++) {
        struct cnode *n = ctrl_node_add(c, &v[i]);
        if (!n) {
            model_nodes_free(v, nv);
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (n->m.ephemeral) /* offline since the last run: the grace period starts now */
            timer_start(&n->eph_timer, (uint64_t)conf->ephemeral_timeout);
    }
    free(v);
    if (mapstream_enc_init(&c->enc_zstd, true, MAPSTREAM_DEFAULT_LEVEL) ||
        mapstream_enc_init(&c->enc_plain, false, 0)) {
        snprintf(err, errlen, "zstd context");
        goto fail;
    }
    static const char ka[] = "{\"KeepAlive\":true}";
    long kl = mapstream_encode(&c->enc_zstd, c->keepalive_frame, sizeof c->keepalive_frame, ka, sizeof ka - 1);
    if (kl < 0) {
        snprintf(err, errlen, "keep-alive frame");
        goto fail;
    }
    c->keepalive_len = (size_t)kl;
    if (access_init(c, err, errlen))
        goto fail;
    if (dnsover_load(c, err, errlen)) /* the DNS settings set through the API, over the file's */
        goto fail;
    dnsconf_watch_start(c); /* the extra records file read before the DNSConfig is built */
    if (mapper_init_static(c, embedded_derp, derp_stun_port)) {
        snprintf(err, errlen, "building the DERP map / DNS config%s%s", conf->derp_map_file ? " from " : "",
                 conf->derp_map_file ? conf->derp_map_file : "");
        goto fail;
    }
    probe_init(c);
    cluster_run(c);
    return c;
fail:
    ctrl_free(c);
    return NULL;
}

void ctrl_free(struct ctrl *c)
{
    if (!c)
        return;
    cluster_stop(c);
    while (c->sessions)
        ctrl_sess_end(c->sessions);
    reg_free_all(c);
    timer_stop(&c->flush);
    probe_free(c);
    routes_free(&c->routes);
    dnsconf_watch_stop(c);
    dnsover_free(&c->dns_over);
    seen_flush_cb(&c->seen_flush, c); /* what the nodes were last seen at, before the store closes */
    timer_stop(&c->seen_flush);
    free(c->seen);
    access_free(c);
    for (size_t i = 0; i < c->nnodes; i++)
        cnode_free(c->nodes[i]);
    free(c->nodes);
    nodeindex_free(&c->by_nkey);
    nodeindex_free(&c->by_mkey);
    nodeindex_free(&c->by_name);
    free(c->users);
    free(c->users_new);
    free(c->changed);
    free(c->removed);
    free(c->derp_json);
    free(c->dns_json);
    free(c->server_host);
    free(c->state_dir);
    free(c->frame);
    free(c->raws);
    jbuf_free(&c->jb);
    jbuf_free(&c->jb2);
    mapper_blocks_free(c);
    mapstream_enc_free(&c->enc_zstd);
    mapstream_enc_free(&c->enc_plain);
    if (c->ipa)
        ipalloc_free(c->ipa);
    free(c);
}
