// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "core/addr.h"
#include "core/admission.h"
#include "core/ctx.h"
#include "core/h2.h"
#include "core/http.h"
#include "core/json/json_util.h"
#include "core/log.h"
#include "core/module.h"
#include "modules/control/api/api.h"
#include "modules/control/access.h"
#include "modules/control/app.h"
#include "modules/control/console.h"
#include "modules/control/dsn.h"
#include "modules/control/channel.h"
#include "modules/control/ctrl.h"
#include "modules/control/login/login.h"
#include "modules/control/store.h"

/* The control role's glue: the store and the brain (ctrl) for the module's life, /machine/register and
 * /machine/map in the channel's handler table, /register/<id> and /verify on the plain HTTP side, node
 * admission for an in-process DERP relay, the admin socket (admin.c). */

struct app {
    struct weft_instance *inst;
    struct store *store;
    struct ctrl *ctrl;
    struct admission adm;
    struct http_server *admin;
    struct api *api;
    struct console *console; /* /admin/ */
    bool login_opened;
    /* /verify: who may ask */
    struct addr_prefix *verify_allow;
    size_t nverify_allow;
    bool relay_here;
    char verify_secret[256];
    size_t verify_secret_len;
};

#define SECRET_MIN 16

struct app *app_of(struct weft_instance *inst)
{
    return inst->data;
}

struct ctrl *app_ctrl(struct app *a)
{
    return a->ctrl;
}

static int admitted(void *ctx, const uint8_t node_key[32])
{
    struct app *a = ctx;
    struct cnode *n = cluster_node_by_node_key(a->ctrl, node_key);
    return n && !ctrl_node_expired(n, ctrl_now());
}

/* control.verify_allow and control.verify_secret_file. 0, or -1 (logged). */
static int verify_setup(struct app *a, const struct control_conf *conf)
{
    a->verify_allow = calloc(conf->verify_allow.n ? conf->verify_allow.n : 1, sizeof *a->verify_allow);
    if (!a->verify_allow)
        return -1;
    for (size_t i = 0; i < conf->verify_allow.n; i++)
        if (addr_prefix_parse(conf->verify_allow.v[i], &a->verify_allow[a->nverify_allow++])) {
            log_error("module=control event=init key=control.verify_allow error=\"'%s' is not a CIDR prefix\"",
                      conf->verify_allow.v[i]);
            return -1;
        }
    const char *f = conf->verify_secret_file;
    if (!f || !*f)
        return 0;
    FILE *fp = fopen(f, "r");
    size_t n = fp ? fread(a->verify_secret, 1, sizeof a->verify_secret - 1, fp) : 0;
    int rerr = fp ? ferror(fp) : errno;
    if (fp)
        fclose(fp);
    while (n && (a->verify_secret[n - 1] == '\n' || a->verify_secret[n - 1] == '\r' ||
                 a->verify_secret[n - 1] == ' '))
        n--;
    a->verify_secret[n] = 0;
    if (!fp || rerr || n < SECRET_MIN || strcspn(a->verify_secret, " \t\r\n&#") != n) {
        log_error("module=control event=init key=control.verify_secret_file file=%s error=\"%s\"", f,
                  !fp || rerr ? strerror(rerr ? rerr : errno)
                              : "the secret must be one line of at least 16 characters, without spaces, & or #");
        sodium_memzero(a->verify_secret, sizeof a->verify_secret);
        return -1;
    }
    a->verify_secret_len = n;
    return 0;
}

static void relay_revoke(void *arg, const uint8_t node_key[32])
{
    const struct relay_clients *rc = arg;
    rc->drop_node(rc->ctx, node_key);
}

int app_init(struct weft_instance *inst)
{
    struct control_conf *conf = inst->conf;
    struct app *a = calloc(1, sizeof *a);
    if (!a)
        return -1;
    a->inst = inst;
    if (verify_setup(a, conf)) {
        free(a->verify_allow);
        free(a);
        return -1;
    }
    char path[DSN_MAX], err[512], shown[DSN_MAX];
    const char *db = conf->database ? conf->database : "control.db";
    if (conf->database_dsn_file) {
        if (dsn_read_file(conf->database_dsn_file, path, sizeof path, err, sizeof err)) {
            log_error("module=control event=store key=control.database_dsn_file error=\"%s\"", err);
            free(a->verify_allow);
            free(a);
            return -1;
        }
        db = path;
    } else if (db[0] != '/' && !strchr(db, ':')) {
        /* a DSN ("sqlite:...", "postgres://...") or an absolute path is taken as is */
        if (!weft_state_path(inst->ctx, db, path, sizeof path)) {
            log_error("module=control event=store error=\"state path too long\"");
            free(a->verify_allow);
            free(a);
            return -1;
        }
        db = path;
    }
    dsn_redact(db, shown, sizeof shown);
    /* A storage plugin loaded in this process offers its backend (store_postgres for postgres://). */
    const struct store_ops *pg = weft_plugin_iface(inst->ctx, "store_postgres");
    if (pg && store_register(pg, err, sizeof err)) {
        log_error("module=control event=store database=%s error=\"%s\"", shown, err);
        free(a->verify_allow);
        free(a);
        return -1;
    }
    if (!pg && dsn_is_postgres(db)) {
        log_error("module=control event=store database=%s error=\"PostgreSQL needs the store_postgres plugin, "
                  "which is not loaded: install the weft-postgres package (from source: build with libpq-dev), "
                  "or check --module-path\"", shown);
        free(a->verify_allow);
        free(a);
        return -1;
    }
    a->store = store_open(db, true, err, sizeof err);
    sodium_memzero(path, sizeof path);
    if (!a->store) {
        log_error("module=control event=store database=%s error=\"%s\"", shown, err);
        free(a->verify_allow);
        free(a);
        return -1;
    }
    db = shown;
    bool derp_here = weft_runs(inst->ctx, "derp");
    conf->state_dir = weft_state_dir(inst->ctx);
    a->ctrl = ctrl_new(conf, weft_loop(inst->ctx), a->store, derp_here, (int)conf->derp_stun_port, err,
                       sizeof err);
    if (!a->ctrl) {
        log_error("module=control event=init error=\"%s\"", err);
        store_close(a->store);
        free(a->verify_allow);
        free(a);
        return -1;
    }
    metrics_add(weft_metrics(inst->ctx), ctrl_collect_metrics, a->ctrl);
    a->store->latency = &a->ctrl->st.store_seconds;
    a->adm.node_admitted = admitted;
    a->adm.ctx = a;
    a->relay_here = derp_here;
    if (derp_here)
        weft_service_put(inst->ctx, ADMISSION_SERVICE, &a->adm);
    inst->data = a;
    log_info("module=control event=store database=%s nodes=%zu users=%zu", db, a->ctrl->nnodes,
             a->ctrl->nusers);
    return 0;
}

/* ---- /machine/register ---- */

static void send_answer(struct h2_req *req, const struct reg_answer *ans)
{
    struct http_header h = {"content-type", ans->ctype ? ans->ctype : "text/plain; charset=utf-8"};
    h2_respond(req, ans->status, &h, 1, ans->body, ans->len);
}

struct reg_wait {
    struct h2_req *req;
    struct reg_waiter *w;
};

static void reg_wait_done(void *arg, const struct reg_answer *ans)
{
    struct reg_wait *rw = arg;
    h2_req_on_gone(rw->req, NULL, NULL);
    send_answer(rw->req, ans);
    free(rw);
}

static void reg_wait_gone(void *arg)
{
    struct reg_wait *rw = arg;
    reg_cancel(rw->w);
    free(rw);
}

static void h_register(struct h2_req *req, const struct channel_peer *peer, void *arg)
{
    struct app *a = arg;
    if (strcmp(h2_req_method(req), "POST")) {
        h2_respond_text(req, 405, "method not allowed");
        return;
    }
    size_t len;
    const uint8_t *body = h2_req_body(req, &len);
    struct reg_answer ans;
    struct reg_wait *rw = calloc(1, sizeof *rw);
    if (!rw) {
        h2_respond_text(req, 500, "out of memory");
        return;
    }
    rw->req = req;
    a->ctrl->reg_src = peer->addr;
    int rc = reg_handle(a->ctrl, peer->machine.b, peer->version, body, len, &ans, reg_wait_done, rw, &rw->w);
    a->ctrl->reg_src = NULL;
    if (rc == 1) { /* held until an admin approves, or the client goes */
        h2_req_on_gone(req, reg_wait_gone, rw);
        return;
    }
    free(rw);
    send_answer(req, &ans);
    reg_answer_free(&ans);
}

/* ---- /machine/map ---- */

struct map_glue {
    struct h2_req *req;
    struct ctrl_sess *sess;
    int in_write, gone;
};

static int glue_write(void *h, const void *data, size_t len)
{
    struct map_glue *g = h;
    if (g->gone)
        return -1;
    g->in_write = 1;
    int rc = h2_reply_write(g->req, data, len);
    g->in_write = 0;
    return g->gone ? -1 : rc;
}

static size_t glue_queued(void *h)
{
    struct map_glue *g = h;
    return g->gone ? 0 : h2_reply_queued(g->req);
}

static void glue_end(void *h)
{
    struct map_glue *g = h;
    if (!g->gone) {
        h2_req_on_gone(g->req, NULL, NULL);
        h2_reply_end(g->req);
    }
    free(g);
}

static const struct ctrl_sink_ops glue_ops = {glue_write, glue_queued, glue_end};

static void glue_gone(void *arg)
{
    struct map_glue *g = arg;
    g->gone = 1;
    if (g->in_write || !g->sess) /* the writer sees -1 and ends the session (which frees g) */
        return;
    ctrl_sess_gone(g->sess);
    free(g);
}

static void h_map(struct h2_req *req, const struct channel_peer *peer, void *arg)
{
    struct app *a = arg;
    if (strcmp(h2_req_method(req), "POST")) {
        h2_respond_text(req, 405, "method not allowed");
        return;
    }
    size_t len;
    const uint8_t *body = h2_req_body(req, &len);
    struct map_decision d;
    map_handle(a->ctrl, peer->machine.b, peer->version, body, len, &d);
    if (d.kind == MAP_RESPOND) {
        struct http_header h = {"content-type", d.ctype ? d.ctype : "text/plain; charset=utf-8"};
        h2_respond(req, d.status, &h, d.ctype ? 1 : 0, d.body, d.len);
        free(d.body);
        return;
    }
    struct map_glue *g = calloc(1, sizeof *g);
    struct http_header h = {"content-type", "application/octet-stream"};
    if (!g || h2_reply_start(req, 200, &h, 1)) {
        free(g);
        h2_respond_text(req, 500, "out of memory");
        return;
    }
    g->req = req;
    h2_req_on_gone(req, glue_gone, g);
    g->sess = ctrl_sess_open(a->ctrl, d.node, d.capver, d.compress, &glue_ops, g);
    if (!g->sess) {
        if (!g->gone) {
            h2_req_on_gone(req, NULL, NULL);
            h2_reply_end(req);
        }
        free(g);
    }
}

/* ---- /machine/ping-response: a node answers a health probe (probe.h) ---- */

static void h_ping_response(struct h2_req *req, const struct channel_peer *peer, void *arg)
{
    struct app *a = arg;
    const char *m = h2_req_method(req);
    if (strcmp(m, "HEAD") && strcmp(m, "GET") && strcmp(m, "POST")) {
        h2_respond_text(req, 405, "method not allowed");
        return;
    }
    const char *q = strchr(h2_req_path(req), '?');
    int status = probe_answer(a->ctrl, peer->machine.b, q ? q + 1 : "");
    h2_respond(req, status, NULL, 0, NULL, 0);
}

/* ---- /machine/ssh/action/...: where SSH "check" rules send a node (SSHPolicy holdAndDelegate) ----
 * Tailscale's control plane answers after the user re-authenticates in a browser; weft has no such
 * login flow yet, so the session is refused with a message the SSH client shows, rather than left to
 * hang. */
static void h_ssh_action(struct h2_req *req, const struct channel_peer *peer, void *arg)
{
    (void)peer, (void)arg;
    static const char body[] = "{\"reject\":true,\"message\":\"weft: SSH check rules need a re-authentication "
                               "flow that weft does not have yet; the tailnet's policy should use action "
                               "\\\"accept\\\" for this rule\\n\"}";
    struct http_header h = {"content-type", "application/json"};
    h2_respond(req, 200, &h, 1, body, sizeof body - 1);
}

/* ---- plain HTTP: /register/<id>, /verify ---- */

static void h_register_page(struct http_req *req, void *arg)
{
    struct app *a = arg;
    const char *id = http_req_path(req) + strlen("/register/");
    char host[MODEL_HOSTNAME_MAX + 1] = "";
    if (strspn(id, "0123456789abcdef") != strlen(id) || !reg_pending_info(a->ctrl, id, host, sizeof host)) {
        http_respond_text(req, 404, "no such registration (it expired or was already approved)\n");
        return;
    }
    if (login_active(a->ctrl->login)) { /* an identity provider logs the machine's user in */
        login_begin_node(a->ctrl->login, req, id);
        return;
    }
    char page[2048];
    /* id is hex and host is only shown after escaping-free filtering: keep the page free of markup from
     * the client */
    char safe[MODEL_HOSTNAME_MAX + 1];
    size_t j = 0;
    for (size_t i = 0; host[i] && j + 1 < sizeof safe; i++)
        if ((host[i] >= 'a' && host[i] <= 'z') || (host[i] >= 'A' && host[i] <= 'Z') ||
            (host[i] >= '0' && host[i] <= '9') || host[i] == '-' || host[i] == '.' || host[i] == '_')
            safe[j++] = host[i];
    safe[j] = 0;
    snprintf(page, sizeof page,
             "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>weft: register a machine</title></head>"
             "<body><h1>Register machine %s</h1>\n<p>An administrator approves it on the server with:</p>\n"
             "<pre>weft nodes register --user USER %s</pre>\n</body></html>\n",
             safe[0] ? safe : "(unnamed)", id);
    struct http_header h = {"Content-Type", "text/html; charset=utf-8"};
    http_respond(req, 200, &h, 1, page, strlen(page));
}

/* The secret of control.verify_secret_file, given as ?secret=... (what a stock derper's
 * --verify-client-url can carry) or "Authorization: Bearer ...". */
static bool verify_secret_ok(struct app *a, struct http_req *req)
{
    if (!a->verify_secret_len)
        return false;
    const char *given = NULL;
    size_t glen = 0;
    const char *auth = http_req_header(req, "Authorization");
    if (auth && !strncmp(auth, "Bearer ", 7)) {
        given = auth + 7;
        glen = strlen(given);
    }
    for (const char *q = http_req_query(req); !given && q && *q; q = strchr(q, '&') ? strchr(q, '&') + 1 : NULL)
        if (!strncmp(q, "secret=", 7)) {
            given = q + 7;
            glen = strcspn(given, "&");
        }
    return given && glen == a->verify_secret_len && sodium_memcmp(given, a->verify_secret, glen) == 0;
}

/* /verify answers whether a node key is ours: it must not be a public oracle of the tailnet's keys. */
static bool verify_allowed(struct app *a, struct http_req *req)
{
    struct sockaddr_storage peer, local;
    if (http_req_peer(req, (struct sockaddr *)&peer) == 0)
        return false;
    for (size_t i = 0; i < a->nverify_allow; i++)
        if (addr_prefix_contains(&a->verify_allow[i], (struct sockaddr *)&peer))
            return true;
    /* a relay in this process reaching us through a public address comes from this host's own address
     * (the kernel drops outside packets claiming a local source) */
    if (a->relay_here && http_req_local(req, (struct sockaddr *)&local) &&
        addr_same_ip((struct sockaddr *)&peer, (struct sockaddr *)&local))
        return true;
    return verify_secret_ok(a, req);
}

/* DERP admission over HTTP (derp.md §9): {"NodePublic":"nodekey:…","Source":"ip"} -> {"Allow":bool} */
static void h_verify(struct http_req *req, void *arg)
{
    struct app *a = arg;
    if (strcmp(http_req_method(req), "POST")) {
        http_respond_text(req, 405, "method not allowed\n");
        return;
    }
    if (!verify_allowed(a, req)) {
        char peer[ADDR_STRLEN];
        a->ctrl->st.verify_refused++;
        log_info("module=control event=verify_refused peer=%s", http_req_peer_str(req, peer, sizeof peer));
        http_respond_text(req, 403, "forbidden: /verify answers only the addresses of control.verify_allow "
                                    "or holders of control.verify_secret_file\n");
        return;
    }
    size_t len;
    const uint8_t *body = http_req_body(req, &len);
    struct json_object *o = body ? tc_json_parse((const char *)body, len) : NULL, *v;
    tc_key k;
    if (!o || !json_object_object_get_ex(o, "NodePublic", &v) || !json_object_is_type(v, json_type_string) ||
        tc_key_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v), TC_PREFIX_NODE, &k)) {
        json_object_put(o);
        http_respond_text(req, 400, "bad request: want {\"NodePublic\":\"nodekey:...\"}\n");
        return;
    }
    json_object_put(o);
    http_respond_json(req, 200, admitted(a, k.b) ? "{\"Allow\":true}" : "{\"Allow\":false}");
}

int app_start(struct weft_instance *inst, struct http_server *srv)
{
    struct app *a = app_of(inst);
    if (http_route(srv, "/register/", 1, h_register_page, a) || http_route(srv, "/verify", 0, h_verify, a))
        return -1;
    if (!a->api && !(a->api = api_new(a->ctrl))) /* the REST API (api/): one for every listener */
        return -1;
    if (api_route(a->api, srv)) /* at /api/v2/ */
        return -1;
    struct control_conf *conf = inst->conf;
    if (!a->console && !(a->console = console_new(conf->console_dir)))
        return -1;
    if (console_route(a->console, srv)) /* the web console, /admin/, a client of that API */
        return -1;
    if (!a->login_opened) { /* once, for every listener: interactive login through a provider (login/) */
        char err[512];
        a->login_opened = true;
        a->ctrl->login = login_open(inst, a->ctrl, err, sizeof err);
        if (!a->ctrl->login && err[0]) {
            log_error("module=control event=login error=\"%s\"", err);
            return -1;
        }
    }
    if (a->ctrl->login && login_routes(a->ctrl->login, srv))
        return -1;
    struct channel *ch = channel_of(inst);
    if (!ch || channel_handle(ch, "/machine/register", 0, h_register, a) ||
        channel_handle(ch, "/machine/map", 0, h_map, a) ||
        channel_handle(ch, "/machine/ping-response", 0, h_ping_response, a) ||
        channel_handle(ch, "/machine/ssh/action/", 1, h_ssh_action, a))
        return -1;
    /* every module is initialised by now: an in-process relay has offered its side */
    struct relay_clients *rc = weft_service_get(inst->ctx, RELAY_CLIENTS_SERVICE);
    if (rc && rc->drop_node) {
        a->ctrl->on_revoke = relay_revoke;
        a->ctrl->on_revoke_arg = rc;
    }
    return 0;
}

int app_start_admin(struct weft_instance *inst)
{
    struct app *a = app_of(inst);
    access_start(a->ctrl);
    a->admin = admin_listen(inst, a->ctrl);
    return a->admin ? 0 : -1;
}

void app_stop(struct weft_instance *inst)
{
    struct app *a = app_of(inst);
    if (a) {
        /* map polls never end by themselves: end them so the connections can drain */
        while (a->ctrl->sessions)
            ctrl_sess_end(a->ctrl->sessions);
        if (a->admin)
            http_server_close(a->admin);
    }
    channel_stop(inst);
}

int app_drained(struct weft_instance *inst)
{
    return channel_drained(inst);
}

void app_finish(struct weft_instance *inst)
{
    struct app *a = app_of(inst);
    channel_finish(inst); /* open requests see on_gone: waiters and streams let go of ctrl */
    if (!a)
        return;
    if (a->admin)
        http_server_free(a->admin);
    api_free(a->api);
    console_free(a->console);
    login_free(a->ctrl->login);
    a->ctrl->login = NULL;
    metrics_remove(weft_metrics(inst->ctx), a->ctrl);
    a->store->latency = NULL;
    ctrl_free(a->ctrl);
    store_close(a->store);
    free(a->verify_allow);
    sodium_memzero(a->verify_secret, sizeof a->verify_secret);
    free(a);
    inst->data = NULL;
}
