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

#include "core/cli.h"
#include "core/cli_args.h"
#include "core/ctx.h"
#include "core/http.h"
#include "core/log.h"
#include "core/state_dir.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/verbs.h"

struct service {
    char *name;
    void *iface;
};

struct shared_http {
    char *addr, *cert;
    struct http_server *srv;
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

int weft_runs(struct weft_ctx *ctx, const char *module)
{
    for (size_t i = 0; i < ctx->ninst; i++)
        if (strcmp(ctx->inst[i].mod->name, module) == 0)
            return 1;
    return 0;
}

static int same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

struct http_server *weft_http(struct weft_ctx *ctx, const char *addr, const char *cert, const char *key, char *err,
                              size_t errlen)
{
    for (size_t i = 0; i < ctx->nhttp; i++)
        if (strcmp(ctx->http[i].addr, addr) == 0) {
            if (same(ctx->http[i].cert, cert))
                return ctx->http[i].srv;
            snprintf(err, errlen, "%s is already a listener with other TLS settings", addr);
            return NULL;
        }
    if ((cert == NULL) != (key == NULL)) {
        snprintf(err, errlen, "%s: TLS needs both a certificate and a key file", addr);
        return NULL;
    }
    struct http_server *srv = http_server_new(ctx->loop);
    if (!srv) {
        snprintf(err, errlen, "%s: cannot create an HTTP server", addr);
        return NULL;
    }
    struct http_listen_opts opts = {.cert_file = cert, .key_file = key};
    if (http_listen(srv, addr, &opts, err, errlen) < 0) {
        http_server_free(srv);
        return NULL;
    }
    struct shared_http *h = realloc(ctx->http, (ctx->nhttp + 1) * sizeof *h);
    if (!h) {
        http_server_free(srv);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ctx->http = h;
    ctx->http[ctx->nhttp++] = (struct shared_http){strdup(addr), cert ? strdup(cert) : NULL, srv};
    log_info("event=listen addr=%s tls=%s", addr, cert ? "yes" : "no");
    return srv;
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

/* SIGHUP: re-read the configuration; each module applies what it can. */
static void on_hup(int signo, void *arg)
{
    struct weft_ctx *ctx = arg;
    struct weft_cli fresh = {.config_path = ctx->cli->config_path, .config_given = ctx->cli->config_given,
                             .ov = ctx->cli->ov, .nov = ctx->cli->nov, .module_path = ctx->cli->module_path,
                             .log_level = ctx->cli->log_level, .builtin = ctx->cli->builtin};
    log_info("event=reload source=%s", ctx->cli->config_source);
    /* the module set stays: reuse it instead of loading again */
    fresh.modules = ctx->cli->modules;
    if (cli_load_config(&fresh)) {
        log_error("event=reload msg=\"configuration has errors; keeping the running one\"");
    } else {
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
    }
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
 * weft@control, weft@derp and weft@node on one host do not collide), never the public listeners. A default
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
    struct http_server *srv = weft_http(ctx, addr, NULL, NULL, err, sizeof err);
    if (!srv || http_route(srv, "/metrics", 0, metrics_http, ctx->metrics)) {
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
    cli_load_modules(cli);
    if (cli->module_errors[0])
        fprintf(stderr, "%s", cli->module_errors);
    if (cli_load_config(cli)) {
        free(named);
        return 1;
    }

    /* the roles: named on the command line, else the config's (copied: the config is reloaded below) */
    nroles = nnamed ? (size_t)nnamed : cli->core.roles.n;
    if (nroles == 0) {
        fprintf(stderr, "weft serve: no roles to run (name them, or set `roles` in the configuration)\n");
        free(named);
        return 2;
    }
    roles = calloc(nroles, sizeof *roles);
    for (size_t i = 0; i < nroles; i++)
        roles[i] = strdup(nnamed ? named[i] : cli->core.roles.v[i]);
    free(named);
    for (size_t i = 0; i < nroles; i++) {
        const struct weft_module *m = module_find(&cli->modules, roles[i]);
        if (!m || !m->is_role) {
            const char *cand[64];
            size_t n = 0;
            for (size_t j = 0; j < cli->modules.n && n < 64; j++)
                if (cli->modules.mods[j]->is_role)
                    cand[n++] = cli->modules.mods[j]->name;
            const char *dym = cfg_did_you_mean(roles[i], cand, n);
            fprintf(stderr, "weft serve: no role '%s'%s%s%s (see `weft modules`)\n", roles[i],
                    dym ? "; did you mean '" : "", dym ? dym : "", dym ? "'?" : "");
            goto bad_roles;
        }
    }

    /* Roles this process doesn't run are unloaded, and their libraries with them (a node daemon doesn't
     * carry control's SQLite). They were loaded to check the whole configuration; it is read again without
     * them, their sections accepted unchecked. */
    int pruned = 0;
    for (size_t i = cli->modules.n; i-- > 0;) {
        const struct weft_module *m = cli->modules.mods[i];
        int wanted = !m->is_role;
        for (size_t j = 0; j < nroles && !wanted; j++)
            wanted = strcmp(roles[j], m->name) == 0;
        if (wanted)
            continue;
        if (!pruned)
            cli_free_config(cli);
        pruned = 1;
        module_unload(&cli->modules, i);
    }
    if (pruned && cli_load_config(cli))
        goto bad_roles;

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
        free(ctx.http[i].cert);
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

bad_roles:
    for (size_t i = 0; i < nroles; i++)
        free(roles[i]);
    free(roles);
    free(ctx.inst);
    return 2;
}
