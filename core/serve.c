// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/acme/challenge.h"
#include "core/acme/manager.h"
#include "core/cli.h"
#include "core/cli_args.h"
#include "core/ctx.h"
#include "core/http.h"
#include "core/log.h"
#include "core/state_dir.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/reload.h"
#include "core/serve_plan.h"
#include "core/tls.h"
#include "core/verbs.h"

struct service {
    char *name;
    void *iface;
};

struct shared_http {
    char *addr;
    struct http_server *srv;
    /* TLS: the owner's certificate keys (live: its reloads change them in place), a copy of them as they
     * were applied, and the certificate served */
    const struct tls_conf *tls;
    struct tls_conf applied;
    struct tls_ctx *tctx;
    struct acme_mgr *acme; /* when the certificate comes from ACME */
    int http01;            /* this (plain) server answers ACME http-01 challenges */
    int metrics;           /* a /metrics listener (weft_metrics_http): never a role's public listener too */
};

struct weft_ctx {
    struct weft_cli *cli;
    struct loop *loop;
    const char *state_dir;
    struct weft_instance *inst; /* in start order: plugins first, then roles as named */
    size_t ninst, nstarted;
    struct service *svc;
    size_t nsvc;
    struct shared_http *http;
    size_t nhttp;
    int stopping;
    uint64_t deadline;
    struct timer drain;
    struct metrics *metrics;
};

struct loop *weft_loop(struct weft_ctx *ctx) { return ctx->loop; }
const char *weft_state_dir(struct weft_ctx *ctx) { return ctx->state_dir; }
int weft_stopping(struct weft_ctx *ctx) { return ctx->stopping; }
struct metrics *weft_metrics(struct weft_ctx *ctx) { return ctx->metrics; }

char *weft_state_path(struct weft_ctx *ctx, const char *name, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s", ctx->state_dir, name);
    return n < 0 || (size_t)n >= len ? NULL : buf;
}

int weft_service_put(struct weft_ctx *ctx, const char *name, void *iface)
{
    if (weft_service_get(ctx, name))
        return -1;
    struct service *s = realloc(ctx->svc, (ctx->nsvc + 1) * sizeof *s);
    if (!s)
        return -1;
    ctx->svc = s;
    ctx->svc[ctx->nsvc].name = strdup(name);
    ctx->svc[ctx->nsvc++].iface = iface;
    return 0;
}

void *weft_service_get(struct weft_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->nsvc; i++)
        if (strcmp(ctx->svc[i].name, name) == 0)
            return ctx->svc[i].iface;
    return NULL;
}

const void *weft_plugin_iface(struct weft_ctx *ctx, const char *module)
{
    for (size_t i = 0; i < ctx->ninst; i++)
        if (strcmp(ctx->inst[i].mod->name, module) == 0)
            return ctx->inst[i].mod->iface;
    return NULL;
}

int weft_runs(struct weft_ctx *ctx, const char *module)
{
    for (size_t i = 0; i < ctx->ninst; i++)
        if (strcmp(ctx->inst[i].mod->name, module) == 0)
            return 1;
    return 0;
}

int weft_conf_is_set(struct weft_instance *inst, const char *key)
{
    struct weft_cli *cli = inst->ctx->cli;
    for (size_t i = 1; i < cli->nsections; i++)
        if (cli->sections[i].name && strcmp(cli->sections[i].name, inst->mod->name) == 0)
            return cfg_is_set(&cli->sections[i], key);
    return 0;
}

/* The certificate of h from its owner's keys as they are now: the files read again, or ACME (a new manager
 * for other names or another directory, else the new settings). 0, or -1 with err (the old one stays). */
static int tls_apply(struct weft_ctx *ctx, struct shared_http *h, char *err, size_t errlen)
{
    const struct tls_conf *t = h->tls;
    if (t->acme_domains.n > 0) {
        if (h->acme && tls_conf_same(&h->applied, t)) {
            if (!tls_conf_equal(&h->applied, t))
                acme_mgr_update(h->acme, t);
        } else {
            struct acme_mgr_opts o = {ctx->loop, ctx->state_dir, t, h->tctx, h->addr};
            struct acme_mgr *m = acme_mgr_new(&o, err, errlen);
            if (!m)
                return -1;
            acme_mgr_free(h->acme);
            h->acme = m;
        }
    } else {
        if (tls_ctx_use_files(h->tctx, t->cert, t->key, err, errlen) != 0)
            return -1;
        acme_mgr_free(h->acme);
        h->acme = NULL;
    }
    tls_conf_free(&h->applied);
    tls_conf_copy(&h->applied, t);
    return 0;
}

/* ACME http-01 challenges of t are answered on t's http_listen (a plain listener, shared). 0 or -1. */
static int http01_listener(struct weft_ctx *ctx, const struct tls_conf *t, char *err, size_t errlen)
{
    if (t->acme_domains.n == 0 || t->acme_challenge != TLS_CHALLENGE_HTTP01)
        return 0;
    if (!t->acme_http_listen) {
        snprintf(err, errlen, "tls.acme.challenge is http-01 but tls.acme.http_listen is empty");
        return -1;
    }
    struct http_server *srv = weft_http(ctx, t->acme_http_listen, NULL, err, errlen);
    if (!srv)
        return -1;
    for (size_t i = 0; i < ctx->nhttp; i++)
        if (ctx->http[i].srv == srv && !ctx->http[i].http01) {
            ctx->http[i].http01 = 1;
            http_route(srv, ACME_HTTP01_PREFIX, 1, acme_http01_handle, NULL);
        }
    return 0;
}

struct http_server *weft_http(struct weft_ctx *ctx, const char *addr, const struct tls_conf *tls, char *err,
                              size_t errlen)
{
    if (!tls_conf_enabled(tls))
        tls = NULL;
    for (size_t i = 0; i < ctx->nhttp; i++)
        if (strcmp(ctx->http[i].addr, addr) == 0) {
            struct shared_http *h = &ctx->http[i];
            if (h->metrics) {
                snprintf(err, errlen, "%s is the /metrics listener (metrics_listen), which serves nothing else",
                         addr);
                return NULL;
            }
            if ((!tls && !h->tls) || (tls && h->tls && (tls == h->tls || tls_conf_same(tls, h->tls))))
                return h->srv;
            snprintf(err, errlen, "%s is already a listener %s", addr,
                     !h->tls ? "without TLS" : !tls ? "with TLS" : "with another certificate");
            return NULL;
        }
    struct shared_http h = {.tls = tls, .addr = (char *)addr};
    if (tls) {
        if ((tls->cert == NULL) != (tls->key == NULL)) {
            snprintf(err, errlen, "%s: TLS needs both a certificate and a key file", addr);
            return NULL;
        }
        if (!(h.tctx = tls_ctx_new())) {
            snprintf(err, errlen, "%s: cannot create a TLS context", addr);
            return NULL;
        }
        char why[512];
        if (tls_apply(ctx, &h, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: %s", addr, why);
            goto fail;
        }
    }
    struct http_server *srv = http_server_new(ctx->loop);
    if (!srv) {
        snprintf(err, errlen, "%s: cannot create an HTTP server", addr);
        goto fail;
    }
    struct http_listen_opts opts = {.ssl_ctx = h.tctx ? tls_ctx_ssl(h.tctx) : NULL};
    if (http_listen(srv, addr, &opts, err, errlen) < 0) {
        http_server_free(srv);
        goto fail;
    }
    struct shared_http *v = realloc(ctx->http, (ctx->nhttp + 1) * sizeof *v);
    if (!v) {
        http_server_free(srv);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    ctx->http = v;
    h.addr = strdup(addr);
    h.srv = srv;
    ctx->http[ctx->nhttp++] = h;
    if (h.tctx) {
        char fp[65];
        tls_ctx_fingerprint(h.tctx, fp);
        log_info("event=listen addr=%s tls=yes cert=%s sha256=%s", addr, tls->cert ? tls->cert : "acme", fp);
        if (http01_listener(ctx, tls, err, errlen) != 0)
            return NULL; /* the core frees the TLS listener with the others */
    } else {
        log_info("event=listen addr=%s tls=no", addr);
    }
    return srv;
fail:
    acme_mgr_free(h.acme);
    tls_conf_free(&h.applied);
    tls_ctx_free(h.tctx);
    return NULL;
}

struct http_server *weft_metrics_http(struct weft_ctx *ctx, const char *addr, char *err, size_t errlen)
{
    for (size_t i = 0; i < ctx->nhttp; i++)
        if (strcmp(ctx->http[i].addr, addr) == 0) {
            if (ctx->http[i].metrics)
                return ctx->http[i].srv;
            snprintf(err, errlen, "%s is a public listener of this process; /metrics is only served on a "
                     "listener of its own", addr);
            return NULL;
        }
    struct http_server *srv = weft_http(ctx, addr, NULL, err, errlen);
    if (!srv)
        return NULL;
    if (http_route(srv, "/metrics", 0, metrics_http, ctx->metrics) != 0) {
        snprintf(err, errlen, "%s: out of memory", addr);
        return NULL; /* the server is freed with the others */
    }
    ctx->http[ctx->nhttp - 1].metrics = 1;
    return srv;
}

/* After a reload: every TLS listener serves what its owner's keys say now. Certificate files are read again
 * even when their names did not change (that is how a renewed certificate is picked up); on any error the
 * running certificate stays. */
static void tls_refresh(struct weft_ctx *ctx)
{
    size_t n = ctx->nhttp; /* http-01 listeners may be added below: they have no TLS */
    for (size_t i = 0; i < n; i++) {
        struct shared_http *h = &ctx->http[i];
        if (!h->tls)
            continue;
        char err[512], fp[65];
        if (!tls_conf_enabled(h->tls)) {
            log_warn("event=tls_reload addr=%s result=kept msg=\"a TLS listener cannot lose its certificate while "
                     "running; restart to apply\"", h->addr);
            continue;
        }
        const struct tls_conf *t = h->tls;
        char addr[300];
        snprintf(addr, sizeof addr, "%s", h->addr);
        if (tls_apply(ctx, h, err, sizeof err) != 0) {
            log_error("event=tls_reload addr=%s result=kept error=\"%s\"", addr, err);
            continue;
        }
        tls_ctx_fingerprint(h->tctx, fp);
        log_info("event=tls_reload addr=%s result=applied source=%s sha256=%s", addr, t->acme_domains.n ? "acme" : "files",
                 fp);
        if (http01_listener(ctx, t, err, sizeof err) != 0) /* h may move: not used after this */
            log_error("event=tls_reload addr=%s error=\"%s\"", addr, err);
    }
}

static int all_drained(struct weft_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nhttp; i++)
        if (http_server_connections(ctx->http[i].srv))
            return 0;
    for (size_t i = 0; i < ctx->nstarted; i++) {
        struct weft_instance *in = &ctx->inst[i];
        if (in->mod->drained && !in->mod->drained(in))
            return 0;
    }
    return 1;
}

static void drain_tick(struct timer *t, void *arg)
{
    struct weft_ctx *ctx = arg;
    if (all_drained(ctx)) {
        loop_stop(ctx->loop);
    } else if (loop_now(ctx->loop) >= ctx->deadline) {
        log_warn("event=shutdown msg=\"deadline passed; closing what is still open\"");
        loop_stop(ctx->loop);
    } else {
        timer_start(&ctx->drain, 50);
    }
}

void weft_shutdown(struct weft_ctx *ctx)
{
    if (ctx->stopping)
        return;
    ctx->stopping = 1;
    log_info("event=shutdown timeout_ms=%lld", ctx->cli->core.shutdown_timeout);
    for (size_t i = ctx->nstarted; i-- > 0;)
        if (ctx->inst[i].mod->stop)
            ctx->inst[i].mod->stop(&ctx->inst[i]);
    for (size_t i = 0; i < ctx->nhttp; i++)
        http_server_close(ctx->http[i].srv);
    ctx->deadline = loop_now(ctx->loop) + (uint64_t)ctx->cli->core.shutdown_timeout;
    timer_start(&ctx->drain, 0);
}

static void on_term(int signo, void *arg)
{
    struct weft_ctx *ctx = arg;
    if (ctx->stopping) { /* a second signal: don't wait any longer */
        log_warn("event=signal signal=%s msg=\"stopping now\"", strsignal(signo));
        loop_stop(ctx->loop);
        return;
    }
    log_info("event=signal signal=%s", strsignal(signo));
    weft_shutdown(ctx);
}

/* The core's own keys that cannot change while running. */
static const struct reload_fixed core_fixed[] = {
    {"state_dir", "the database, keys and sockets are open there"},
    {"roles", "the roles run are chosen at start"},
    {"metrics_listen", "the listening socket is opened at start"},
    {NULL, NULL},
};

/* SIGHUP: re-read the configuration; if it is good, the core applies its own keys, each module what it can,
 * then every TLS listener its certificate. A configuration with errors changes nothing. */
static void on_hup(int signo, void *arg)
{
    struct weft_ctx *ctx = arg;
    struct weft_cli *cli = ctx->cli;
    struct weft_cli fresh = {.config_path = cli->config_path, .config_given = cli->config_given, .ov = cli->ov,
                             .nov = cli->nov, .module_path = cli->module_path, .log_level = cli->log_level,
                             .builtin = cli->builtin};
    log_info("event=reload source=%s", cli->config_source);
    /* the module set stays: reuse it instead of loading again */
    fresh.modules = cli->modules;
    struct cfg_errors err = {0};
    size_t n = cli_load_config_errors(&fresh, &err);
    if (n) {
        for (char *line = err.text, *end; line && *line; line = end + 1) {
            end = strchr(line, '\n');
            if (!end)
                break;
            log_error("event=reload error=\"%.*s\"", (int)(end - line), line);
        }
        log_error("event=reload result=refused errors=%zu msg=\"the configuration has errors; keeping the running "
                  "one\"", n);
    } else {
        struct reload_changes ch;
        reload_take(NULL, fresh.sections[0].keys, &cli->core, &fresh.core, core_fixed, &ch);
        if (reload_changed(&ch, "log_level")) {
            if (cli->log_level)
                log_info("event=reload key=log_level result=kept msg=\"--log-level on the command line wins\"");
            else
                log_info("event=reload key=log_level result=applied level=%s",
                         (const char *[]){"error", "warn", "info", "debug"}[cli->core.log_level]);
        }
        if (reload_changed(&ch, "log_timestamps")) {
            log_set_timestamps((enum log_timestamps)cli->core.log_timestamps);
            log_info("event=reload key=log_timestamps result=applied");
        }
        if (reload_changed(&ch, "shutdown_timeout"))
            log_info("event=reload key=shutdown_timeout result=applied");
        for (size_t i = 0; i < ctx->nstarted; i++) {
            struct weft_instance *in = &ctx->inst[i];
            void *nc = cli_module_conf(&fresh, in->mod->name);
            if (!in->mod->reload) {
                log_info("event=reload module=%s msg=\"cannot reload; restart to apply changes\"", in->mod->name);
            } else if (in->mod->reload(in, nc) == 0) {
                log_info("event=reload module=%s result=applied", in->mod->name);
            } else {
                log_warn("event=reload module=%s result=refused", in->mod->name);
            }
        }
        tls_refresh(ctx);
        log_info("event=reload result=done");
    }
    cfg_errors_free(&err);
    memset(&fresh.modules, 0, sizeof fresh.modules);
    fresh.ov = NULL;
    cli_free(&fresh);
}

static int add_instance(struct weft_ctx *ctx, struct weft_cli *cli, const struct weft_module *m)
{
    for (size_t i = 0; i < ctx->ninst; i++)
        if (ctx->inst[i].mod == m)
            return 0;
    ctx->inst = realloc(ctx->inst, (ctx->ninst + 1) * sizeof *ctx->inst);
    ctx->inst[ctx->ninst++] = (struct weft_instance){m, ctx, cli_module_conf(cli, m->name), NULL};
    return 0;
}

/* The /metrics listener: metrics_listen, else a loopback port of the first role that has one (so that
 * weft@control, weft@derp and weft@node on one host do not collide), never the public listeners: a single
 * box whose control and relay follow each other onto the LAN keeps its one /metrics on loopback. A default
 * that is taken is only warned about; an address the configuration names must work. 0 or -1. */
static int metrics_listen(struct weft_ctx *ctx)
{
    const char *addr = ctx->cli->core.metrics_listen;
    int given = addr != NULL;
    if (!addr) {
        static const struct {
            const char *role, *addr;
        } def[] = {{"control", "127.0.0.1:9871"}, {"derp", "127.0.0.1:9872"}, {"node", "127.0.0.1:9873"}};
        for (size_t i = 0; i < sizeof def / sizeof *def && !addr; i++)
            if (weft_runs(ctx, def[i].role))
                addr = def[i].addr;
    }
    if (!addr || !*addr || strcmp(addr, "off") == 0)
        return 0;
    char err[512];
    if (!weft_metrics_http(ctx, addr, err, sizeof err)) {
        if (given) {
            log_error("event=metrics addr=%s error=\"%s\" msg=\"metrics_listen\"", addr, err);
            return -1;
        }
        log_warn("event=metrics addr=%s error=\"%s\" msg=\"no /metrics; set metrics_listen\"", addr, err);
        return 0;
    }
    log_info("event=metrics addr=%s path=/metrics", addr);
    return 0;
}

int verb_serve(struct weft_cli *cli, int argc, char **argv)
{
    char **roles = NULL;
    size_t nroles = 0;
    struct weft_ctx ctx = {.cli = cli};
    int rc = 1;
    /* Block the signals we take through signalfd before anything (a library, a module) starts a thread:
     * a thread that had them unblocked would take the default action and kill the process. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    const char **named = calloc((size_t)argc + 1, sizeof *named);
    int nnamed = 0;
    const struct cli_opt none[] = {CLI_OPT_END};
    if (!named || cli_args("serve", argc, argv, none, named, argc, &nnamed)) {
        free(named);
        return 2;
    }
    int st = serve_plan(cli, (const char *const *)named, (size_t)nnamed, &roles, &nroles);
    free(named);
    if (st)
        goto bad_plan;

    for (size_t i = 0; i < cli->modules.n; i++) /* plugins first: roles find their services at init */
        if (!cli->modules.mods[i]->is_role)
            add_instance(&ctx, cli, cli->modules.mods[i]);
    for (size_t i = 0; i < nroles; i++)
        add_instance(&ctx, cli, module_find(&cli->modules, roles[i]));
    for (size_t i = 0; i < nroles; i++)
        free(roles[i]);
    free(roles);

    ctx.state_dir = cli->core.state_dir;
    /* What the process creates is its own: the database and its -wal/-shm, keys, state files (sockets get
     * their modes explicitly). */
    umask(077);
    char err[1024];
    int lock_fd = -1;
    if (state_dir_prepare(ctx.state_dir, err, sizeof err) || (lock_fd = state_dir_lock(ctx.state_dir, err,
                                                                                          sizeof err)) < 0) {
        fprintf(stderr, "weft serve: %s\n", err);
        free(ctx.inst);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    ctx.loop = loop_new();
    if (!ctx.loop) {
        fprintf(stderr, "weft serve: cannot create the event loop\n");
        close(lock_fd);
        free(ctx.inst);
        return 1;
    }
    timer_init(&ctx.drain, ctx.loop, drain_tick, &ctx);
    ctx.metrics = metrics_new();
    if (!ctx.metrics) {
        fprintf(stderr, "weft serve: out of memory\n");
        loop_free(ctx.loop);
        close(lock_fd);
        free(ctx.inst);
        return 1;
    }
    metrics_add_process(ctx.metrics);
    loop_signal(ctx.loop, SIGTERM, on_term, &ctx);
    loop_signal(ctx.loop, SIGINT, on_term, &ctx);
    loop_signal(ctx.loop, SIGHUP, on_hup, &ctx);

    size_t ninit = 0;
    for (; ninit < ctx.ninst; ninit++) {
        struct weft_instance *in = &ctx.inst[ninit];
        if (in->mod->init && in->mod->init(in)) {
            log_error("event=init module=%s result=failed", in->mod->name);
            goto out;
        }
    }
    for (; ctx.nstarted < ctx.ninst; ctx.nstarted++) {
        struct weft_instance *in = &ctx.inst[ctx.nstarted];
        if (in->mod->start && in->mod->start(in)) {
            log_error("event=start module=%s result=failed", in->mod->name);
            for (size_t i = ctx.nstarted; i-- > 0;)
                if (ctx.inst[i].mod->stop)
                    ctx.inst[i].mod->stop(&ctx.inst[i]);
            goto out;
        }
    }
    if (metrics_listen(&ctx)) {
        for (size_t i = ctx.nstarted; i-- > 0;)
            if (ctx.inst[i].mod->stop)
                ctx.inst[i].mod->stop(&ctx.inst[i]);
        goto out;
    }
    {
        char list[512] = "";
        for (size_t i = 0; i < ctx.ninst; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "", ctx.inst[i].mod->name);
        log_info("event=started version=%s modules=%s config=\"%s\" state_dir=%s pid=%d", WEFT_VERSION, list,
                 cli->config_source, ctx.state_dir, (int)getpid());
    }
    rc = loop_run(ctx.loop) == 0 ? 0 : 1;
    timer_stop(&ctx.drain);
    log_info("event=stopped");

out:
    /* servers first: a request still open calls back into its module, which is still there */
    for (size_t i = 0; i < ctx.nhttp; i++) {
        http_server_free(ctx.http[i].srv);
        free(ctx.http[i].addr);
        acme_mgr_free(ctx.http[i].acme);
        tls_conf_free(&ctx.http[i].applied);
        tls_ctx_free(ctx.http[i].tctx);
    }
    free(ctx.http);
    for (size_t i = ninit; i-- > 0;)
        if (ctx.inst[i].mod->finish)
            ctx.inst[i].mod->finish(&ctx.inst[i]);
    loop_signal(ctx.loop, SIGTERM, NULL, NULL);
    loop_signal(ctx.loop, SIGINT, NULL, NULL);
    loop_signal(ctx.loop, SIGHUP, NULL, NULL);
    loop_free(ctx.loop);
    metrics_free(ctx.metrics);
    for (size_t i = 0; i < ctx.nsvc; i++)
        free(ctx.svc[i].name);
    free(ctx.svc);
    free(ctx.inst);
    close(lock_fd); /* the state_dir is free for another process now */
    return rc;

bad_plan:
    for (size_t i = 0; i < nroles; i++)
        free(roles[i]);
    free(roles);
    free(ctx.inst);
    return st;
}
