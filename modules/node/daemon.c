// SPDX-License-Identifier: BSD-3-Clause
/* The node daemon's life (module hooks) and its state machine: identity in the state directory, the
 * stored login parameters, `up` / `down` / `logout`, and the glue between the control session, the
 * netmap and the data plane. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "core/ctx.h"
#include "core/json/tailcfg.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/module.h"
#include "modules/node/ctl.h"
#include "modules/node/dp.h"
#include "modules/node/localapi.h"
#include "modules/node/node.h"
#include "modules/node/router/router.h"

const char *node_state_name(enum node_state s)
{
    switch (s) {
    case NODE_NO_STATE:
        return "NoState";
    case NODE_STOPPED:
        return "Stopped";
    case NODE_NEEDS_LOGIN:
        return "NeedsLogin";
    case NODE_STARTING:
        return "Starting";
    case NODE_RUNNING:
        return "Running";
    }
    return "?";
}

void node_set_state(struct node *n, enum node_state s)
{
    if (n->state == s)
        return;
    log_info("module=node event=state state=%s was=%s", node_state_name(s), node_state_name(n->state));
    n->state = s;
    if (s == NODE_RUNNING)
        n->auth_url[0] = 0;
    lapi_notify(n->lapi, LAPI_EV_STATE, node_state_name(s));
}

const char *node_hostname(struct node *n, char *buf, size_t cap)
{
    const char *h = n->prefs.hostname[0] ? n->prefs.hostname : n->conf->hostname;
    if (h && *h) {
        snprintf(buf, cap, "%s", h);
        return buf;
    }
    if (gethostname(buf, cap) != 0 || !buf[0])
        snprintf(buf, cap, "weft-node");
    buf[cap - 1] = 0;
    return buf;
}

/* ---- stored state ---- */

static int prefs_load(struct node *n)
{
    memset(&n->prefs, 0, sizeof n->prefs);
    n->prefs.accept_dns = true;
    struct json_object *o = json_object_from_file(n->path_prefs);
    if (!o)
        return access(n->path_prefs, F_OK) == 0 ? -1 : 0;
    struct json_object *v;
    if (json_object_object_get_ex(o, "LoginServer", &v))
        snprintf(n->prefs.login_server, sizeof n->prefs.login_server, "%s", json_object_get_string(v));
    if (json_object_object_get_ex(o, "Hostname", &v))
        snprintf(n->prefs.hostname, sizeof n->prefs.hostname, "%s", json_object_get_string(v));
    if (json_object_object_get_ex(o, "WantRunning", &v))
        n->prefs.want_running = json_object_get_boolean(v);
    if (json_object_object_get_ex(o, "LoggedIn", &v))
        n->prefs.logged_in = json_object_get_boolean(v);
    struct node_routing *r = &n->prefs.routing;
    if (json_object_object_get_ex(o, "AdvertiseRoutes", &v) && json_object_is_type(v, json_type_array))
        for (size_t i = 0; i < json_object_array_length(v) && r->nadvertise < NODE_MAX_ROUTES; i++)
            if (!nl_prefix_parse(json_object_get_string(json_object_array_get_idx(v, i)),
                                 &r->advertise[r->nadvertise]))
                r->nadvertise++;
    if (json_object_object_get_ex(o, "AdvertiseExitNode", &v))
        r->advertise_exit = json_object_get_boolean(v);
    if (json_object_object_get_ex(o, "NoSNAT", &v))
        r->no_snat = json_object_get_boolean(v);
    if (json_object_object_get_ex(o, "RouteAll", &v))
        r->accept_routes = json_object_get_boolean(v);
    if (json_object_object_get_ex(o, "ExitNode", &v))
        snprintf(r->exit_node, sizeof r->exit_node, "%s", json_object_get_string(v));
    if (json_object_object_get_ex(o, "ExitNodeAllowLANAccess", &v))
        r->exit_allow_lan = json_object_get_boolean(v);
    if (json_object_object_get_ex(o, "AcceptDNS", &v))
        n->prefs.accept_dns = json_object_get_boolean(v);
    json_object_put(o);
    return 0;
}

int node_prefs_save(struct node *n)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "LoginServer", json_object_new_string(n->prefs.login_server));
    json_object_object_add(o, "Hostname", json_object_new_string(n->prefs.hostname));
    json_object_object_add(o, "WantRunning", json_object_new_boolean(n->prefs.want_running));
    json_object_object_add(o, "LoggedIn", json_object_new_boolean(n->prefs.logged_in));
    const struct node_routing *r = &n->prefs.routing;
    struct json_object *adv = json_object_new_array();
    for (size_t i = 0; i < r->nadvertise; i++) {
        char t[64];
        json_object_array_add(adv, json_object_new_string(nl_prefix_format(&r->advertise[i], 1, t, sizeof t)));
    }
    json_object_object_add(o, "AdvertiseRoutes", adv);
    json_object_object_add(o, "AdvertiseExitNode", json_object_new_boolean(r->advertise_exit));
    json_object_object_add(o, "NoSNAT", json_object_new_boolean(r->no_snat));
    json_object_object_add(o, "RouteAll", json_object_new_boolean(r->accept_routes));
    json_object_object_add(o, "ExitNode", json_object_new_string(r->exit_node));
    json_object_object_add(o, "ExitNodeAllowLANAccess", json_object_new_boolean(r->exit_allow_lan));
    json_object_object_add(o, "AcceptDNS", json_object_new_boolean(n->prefs.accept_dns));
    const char *text =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", n->path_prefs);
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        size_t len = strlen(text);
        if (write(fd, text, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0)
            rc = 0;
        close(fd);
        if (rc == 0 && rename(tmp, n->path_prefs) != 0)
            rc = -1;
        if (rc)
            unlink(tmp);
    }
    if (rc)
        log_error("module=node event=prefs_save file=%s error=\"%s\"", n->path_prefs, strerror(errno));
    json_object_put(o);
    return rc;
}

static int load_key(const char *path, struct key *priv, struct key *pub, const char *what)
{
    char err[256];
    int created = 0;
    if (key_load_or_create(path, priv, &created, err, sizeof err)) {
        log_error("module=node event=key file=%s error=\"%s\"", path, err);
        return -1;
    }
    key_public(pub, priv);
    char t[KEY_TEXT_MAX];
    key_format(t, sizeof t,
               !strcmp(what, "machine") ? KEY_TEXT_MACHINE
               : !strcmp(what, "disco") ? KEY_TEXT_DISCO
                                        : KEY_TEXT_NODE,
               pub);
    log_info("module=node event=key kind=%s public=%s %s=yes", what, t, created ? "created" : "loaded");
    return 0;
}

/* A fresh node key (after logout: the next login is a new node). */
static int new_node_key(struct node *n)
{
    struct key k;
    char err[256];
    if (key_generate(&k) || key_save_private(n->path_node, &k, err, sizeof err)) {
        log_error("module=node event=key file=%s error=\"%s\"", n->path_node, err);
        sodium_memzero(&k, sizeof k);
        return -1;
    }
    sodium_memzero(&n->node_priv, sizeof n->node_priv);
    n->node_priv = k;
    key_public(&n->node_pub, &n->node_priv);
    sodium_memzero(&k, sizeof k);
    return 0;
}

/* ---- the session ---- */

static void session_stop(struct node *n)
{
    router_free(n->router); /* routes, rules and the nft table go before the TUN does */
    n->router = NULL;
    ctl_free(n->ctl);
    n->ctl = NULL;
    n->control_ok = false;
    node_dns_stop(n);
    if (n->dp)
        netmap_clear(&n->nm, &dp_netmap_ops, n->dp);
    else
        netmap_free(&n->nm);
    dp_free(n->dp);
    n->dp = NULL;
}

static int session_start(struct node *n, char *err, size_t errlen)
{
    ctl_free(n->ctl);
    n->ctl = NULL;
    if (!n->dp && !(n->dp = dp_new(n, err, errlen)))
        return -1;
    if (!n->router && dp_tun_index(n->dp) && !(n->router = router_new(n, dp_tun_name(n->dp), dp_tun_index(n->dp)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    router_sync(n->router);
    node_dns_start(n);
    n->last_error[0] = 0;
    n->ctl = ctl_new(n);
    if (!n->ctl) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    node_set_state(n, NODE_STARTING);
    return 0;
}

void node_on_registered(struct node *n, const char *login_name)
{
    log_info("module=node event=registered login=%s", login_name && *login_name ? login_name : "-");
    n->registered_at = time(NULL);
    n->auth_url[0] = 0;
    if (!n->prefs.logged_in) {
        n->prefs.logged_in = true;
        node_prefs_save(n);
    }
}

void node_on_auth_url(struct node *n, const char *url)
{
    snprintf(n->auth_url, sizeof n->auth_url, "%s", url);
    log_info("module=node event=needs_login auth_url=%s", url);
    node_set_state(n, NODE_NEEDS_LOGIN);
    lapi_notify(n->lapi, LAPI_EV_AUTH_URL, url);
}

void node_on_refused(struct node *n, const char *why)
{
    snprintf(n->last_error, sizeof n->last_error, "login refused: %s", why);
    log_error("module=node event=login_refused reason=\"%s\"", why);
    node_set_state(n, NODE_NEEDS_LOGIN);
    lapi_notify(n->lapi, LAPI_EV_REFUSED, why);
}

void node_on_control_error(struct node *n, const char *why)
{
    snprintf(n->last_error, sizeof n->last_error, "%s", why);
    lapi_notify(n->lapi, LAPI_EV_CONTROL_ERROR, why);
}

int node_on_map(struct node *n, const struct tc_map_response *m, char *err, size_t errlen)
{
    if (!n->dp) {
        snprintf(err, errlen, "no data plane");
        return -1;
    }
    bool first = !n->nm.have_self;
    uint64_t gen = n->nm.generation;
    if (netmap_apply(&n->nm, m, time(NULL), &dp_netmap_ops, n->dp, err, errlen))
        return -1;
    node_dns_on_map(n, m, first || n->nm.generation != gen);
    if (first) {
        char a[200] = "";
        for (size_t i = 0; i < n->nm.self.naddrs; i++) {
            char t[64];
            size_t l = strlen(a);
            snprintf(a + l, sizeof a - l, "%s%s", i ? "," : "",
                     nl_prefix_format(&n->nm.self.addrs[i], 1, t, sizeof t));
        }
        log_info("module=node event=netmap name=%s addresses=%s peers=%zu regions=%zu", n->nm.self.name, a,
                 n->nm.npeers, n->nm.nregions);
    }
    n->last_error[0] = 0;
    router_sync(n->router); /* peers' routes, the exit node, endpoints that keep the physical path */
    const struct nm_node *self = &n->nm.self;
    ctl_set_key_expiry(n->ctl, self->key_expiry);
    if (self->expired || (self->key_expiry && self->key_expiry <= time(NULL))) {
        snprintf(n->last_error, sizeof n->last_error, "the node key expired");
        node_set_state(n, NODE_NEEDS_LOGIN);
    } else if (!self->machine_authorized) {
        snprintf(n->last_error, sizeof n->last_error, "waiting for the machine to be authorized");
        node_set_state(n, NODE_STARTING);
    } else {
        node_set_state(n, NODE_RUNNING);
    }
    return 0;
}

void node_commit_node_key(struct node *n, const struct key *priv)
{
    char err[256];
    if (key_save_private(n->path_node, priv, err, sizeof err))
        log_error("module=node event=key file=%s error=\"%s\"", n->path_node, err);
    n->node_priv = *priv;
    key_public(&n->node_pub, &n->node_priv);
    char t[KEY_TEXT_MAX];
    key_format(t, sizeof t, KEY_TEXT_NODE, &n->node_pub);
    log_info("module=node event=node_key_rotated public=%s", t);
    if (n->dp)
        dp_set_key(n->dp, &n->node_priv);
}

void node_on_home_derp(struct node *n, int region)
{
    ctl_send_update(n->ctl); /* it sends only when the home region differs from what control knows */
    if (region)
        lapi_notify(n->lapi, LAPI_EV_STATE, node_state_name(n->state));
}

void node_on_netinfo(struct node *n)
{
    ctl_send_update(n->ctl);
}

/* ---- commands ---- */

int node_up(struct node *n, const char *login_server, const char *authkey, const char *hostname, char *err,
            size_t errlen)
{
    char ls[sizeof n->prefs.login_server];
    snprintf(ls, sizeof ls, "%s",
             login_server && *login_server ? login_server
             : n->prefs.login_server[0]    ? n->prefs.login_server
             : n->conf->login_server       ? n->conf->login_server
                                           : "");
    if (!*ls) {
        snprintf(err, errlen, "no login server: weft up --login-server URL");
        return -1;
    }
    if (strncmp(ls, "http://", 7) != 0 && strncmp(ls, "https://", 8) != 0) {
        snprintf(err, errlen, "login server '%s': want http://HOST[:PORT] or https://HOST[:PORT]", ls);
        return -1;
    }
    bool same = strcmp(ls, n->prefs.login_server) == 0;
    bool changed = !same || (authkey && *authkey) || (hostname && strcmp(hostname, n->prefs.hostname) != 0);
    if (!same) { /* another control server: its relays, and this node key means nothing there */
        session_stop(n);
        n->prefs.logged_in = false;
    }
    snprintf(n->prefs.login_server, sizeof n->prefs.login_server, "%s", ls);
    if (hostname)
        snprintf(n->prefs.hostname, sizeof n->prefs.hostname, "%s", hostname);
    if (authkey && *authkey) {
        free(n->authkey);
        n->authkey = strdup(authkey);
    }
    n->prefs.want_running = true;
    node_prefs_save(n);
    if (n->ctl && !changed && (n->state == NODE_RUNNING || n->state == NODE_STARTING))
        return 0; /* already up as asked */
    log_info("module=node event=up login_server=%s authkey=%s", ls, n->authkey ? "given" : "none");
    return session_start(n, err, errlen);
}

void node_set_routing(struct node *n, const struct node_routing *r)
{
    if (!memcmp(r, &n->prefs.routing, sizeof *r))
        return;
    n->prefs.routing = *r;
    node_prefs_save(n);
    log_info("module=node event=routing advertise=%zu exit=%s snat=%s accept_routes=%s exit_node=%s lan=%s",
             r->nadvertise, r->advertise_exit ? "yes" : "no", r->no_snat ? "no" : "yes",
             r->accept_routes ? "yes" : "no", r->exit_node[0] ? r->exit_node : "-", r->exit_allow_lan ? "yes" : "no");
    router_sync(n->router);
    ctl_send_update(n->ctl); /* Hostinfo.RoutableIPs changed: control hears at once */
}

void node_down(struct node *n)
{
    log_info("module=node event=down");
    n->prefs.want_running = false;
    node_prefs_save(n);
    session_stop(n);
    node_set_state(n, NODE_STOPPED);
}

struct logout_wait {
    struct node *n;
    void (*done)(void *arg, const char *err);
    void *arg;
};

static void logout_finish(void *arg, const char *err)
{
    struct logout_wait *w = arg;
    struct node *n = w->n;
    n->logout = NULL;
    if (err)
        log_warn("module=node event=logout error=\"%s\"", err);
    else
        log_info("module=node event=logged_out");
    session_stop(n);
    n->prefs.logged_in = false;
    n->prefs.want_running = false;
    node_prefs_save(n);
    free(n->authkey);
    n->authkey = NULL;
    new_node_key(n);
    node_set_state(n, NODE_NEEDS_LOGIN);
    if (w->done)
        w->done(w->arg, err);
    free(w);
}

static void logout_local(struct timer *t, void *arg)
{
    struct node *n = arg;
    if (n->logout)
        logout_finish(n->logout, NULL);
}

int node_logout(struct node *n, void (*done)(void *arg, const char *err), void *arg)
{
    struct logout_wait *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->n = n;
    w->done = done;
    w->arg = arg;
    n->logout = w;
    if (!n->prefs.logged_in || !n->prefs.login_server[0]) { /* nothing to tell control */
        timer_start(&n->t_logout, 0); /* answered from the loop, as when control answers */
        return 0;
    }
    if (!n->ctl) {
        n->ctl = ctl_new(n);
        if (!n->ctl) {
            n->logout = NULL;
            free(w);
            return -1;
        }
    }
    ctl_logout(n->ctl, logout_finish, w);
    return 0;
}

/* ---- module hooks ---- */

int node_module_init(struct weft_instance *inst)
{
    struct node_conf *conf = inst->conf;
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        return -1;
    inst->data = n;
    n->inst = inst;
    n->conf = conf;
    n->loop = weft_loop(inst->ctx);
    netmap_init(&n->nm);
    timer_init(&n->t_logout, n->loop, logout_local, n);
    if (!weft_state_path(inst->ctx, "node-machine.key", n->path_machine, sizeof n->path_machine) ||
        !weft_state_path(inst->ctx, "node-nodekey.key", n->path_node, sizeof n->path_node) ||
        !weft_state_path(inst->ctx, "node-disco.key", n->path_disco, sizeof n->path_disco) ||
        !weft_state_path(inst->ctx, "node-prefs.json", n->path_prefs, sizeof n->path_prefs) ||
        !weft_state_path(inst->ctx, "node-resolv.conf.backup", n->path_resolv_backup,
                         sizeof n->path_resolv_backup)) {
        log_error("module=node event=init error=\"state_dir path too long\"");
        return -1;
    }
    if (load_key(n->path_machine, &n->machine_priv, &n->machine_pub, "machine") ||
        load_key(n->path_node, &n->node_priv, &n->node_pub, "node") ||
        load_key(n->path_disco, &n->disco_priv, &n->disco_pub, "disco"))
        return -1;
    if (prefs_load(n)) {
        log_error("module=node event=init file=%s error=\"unreadable\"", n->path_prefs);
        return -1;
    }
    uint8_t id[32];
    randombytes_buf(id, sizeof id);
    sodium_bin2hex(n->backend_log_id, sizeof n->backend_log_id, id, sizeof id);
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(n->os_version, sizeof n->os_version, "%s", u.release);
    n->state = n->prefs.logged_in ? NODE_STOPPED : NODE_NO_STATE;
    metrics_add(weft_metrics(inst->ctx), node_collect_metrics, n);
    return 0;
}

int node_module_start(struct weft_instance *inst)
{
    struct node *n = inst->data;
    char err[512];
    char path[4096];
    if (lapi_socket_path(weft_state_dir(inst->ctx), n->conf->socket, path, sizeof path)) {
        log_error("module=node event=localapi error=\"socket path too long\"");
        return -1;
    }
    n->lapi = lapi_new(n, path, n->conf->socket_group, err, sizeof err);
    if (!n->lapi) {
        log_error("module=node event=localapi socket=%s error=\"%s\"", path, err);
        return -1;
    }
    node_dns_recover(n);
    log_info("module=node event=ready socket=%s state=%s login_server=%s", path, node_state_name(n->state),
             n->prefs.login_server[0] ? n->prefs.login_server : "-");
    const char *tun = n->conf->tun;
    if (tun && *tun && strcmp(tun, "none"))
        router_cleanup_stale(n->path_prefs); /* what a killed daemon left: nft table, routes, rules, forwarding */
    if (n->prefs.want_running && n->prefs.login_server[0]) {
        if (session_start(n, err, sizeof err)) {
            log_error("module=node event=start error=\"%s\"", err);
            snprintf(n->last_error, sizeof n->last_error, "%s", err);
            node_set_state(n, NODE_STOPPED);
        }
    }
    return 0;
}

void node_module_stop(struct weft_instance *inst)
{
    struct node *n = inst->data;
    if (!n)
        return;
    lapi_close(n->lapi);
    session_stop(n);
}

void node_module_finish(struct weft_instance *inst)
{
    struct node *n = inst->data;
    if (!n)
        return;
    metrics_remove(weft_metrics(inst->ctx), n);
    session_stop(n);
    timer_stop(&n->t_logout);
    free(n->logout); /* a logout cut short by the shutdown */
    lapi_free(n->lapi);
    netmap_free(&n->nm);
    free(n->authkey);
    sodium_memzero(&n->machine_priv, sizeof n->machine_priv);
    sodium_memzero(&n->node_priv, sizeof n->node_priv);
    sodium_memzero(&n->disco_priv, sizeof n->disco_priv);
    free(n);
    inst->data = NULL;
}
