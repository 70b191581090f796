// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/channel.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/module.h"
#include "modules/control/control.h"

/* The channel of each control instance (one per process in practice). */
struct inst_channel {
    struct weft_instance *inst;
    struct channel *ch;
    struct inst_channel *next;
};
static struct inst_channel *instances;

struct channel *channel_of(struct weft_instance *inst)
{
    for (struct inst_channel *i = instances; i != NULL; i = i->next)
        if (i->inst == inst)
            return i->ch;
    return NULL;
}

/* control.max_conns 0: three quarters of the open-file limit, leaving room for the database, the
 * listeners, the admin socket and an in-process relay. */
static void limits_of(const struct control_conf *conf, struct channel_limits *lim)
{
    memset(lim, 0, sizeof(*lim));
    lim->max_conns = conf->max_conns;
    if (lim->max_conns == 0) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
            lim->max_conns = (long long)(rl.rlim_cur / 4 * 3);
        if (lim->max_conns <= 0 || lim->max_conns > 10000000)
            lim->max_conns = 10000000;
    }
    lim->accept_rate = conf->accept_rate;
    lim->accept_burst = conf->accept_burst;
    lim->first_request_ms = (unsigned)conf->first_request_timeout;
    lim->idle_ms = (unsigned)conf->idle_timeout;
    lim->max_buffered = (size_t)conf->channel_buffer;
}

/* What the channel's limits did, next to the registrations' refusals (metrics.c). */
static void collect(struct metrics_w *w, void *arg)
{
    const struct channel *ch = arg;
    const struct channel_stats *st = channel_stats(ch);
    mw_gauge(w, "weft_control_connections", "Control connections (Noise channels) open now.",
             (double)channel_connections(ch));
    mw_family(w, "weft_control_connections_refused_total", "counter",
              "Control connections refused at the upgrade by control.max_conns (503) or control.accept_rate "
              "(429).");
    mw_sample(w, "weft_control_connections_refused_total", (double)st->refused_max_conns, "reason", "max_conns",
              NULL);
    mw_sample(w, "weft_control_connections_refused_total", (double)st->refused_rate, "reason", "accept_rate",
              NULL);
    mw_family(w, "weft_control_connections_closed_total", "counter",
              "Control connections closed by a timeout: no first request within control.first_request_timeout, "
              "or no request open for control.idle_timeout.");
    mw_sample(w, "weft_control_connections_closed_total", (double)st->closed_first_request, "reason",
              "first_request_timeout", NULL);
    mw_sample(w, "weft_control_connections_closed_total", (double)st->closed_idle, "reason", "idle_timeout",
              NULL);
    mw_counter(w, "weft_control_requests_busy_total",
               "Requests on a control connection answered 503: it held control.channel_buffer bytes already.",
               (double)st->refused_busy);
}

int channel_start(struct weft_instance *inst, struct http_server *srv)
{
    struct channel *ch = channel_of(inst);
    if (ch == NULL) {
        char path[4096], err[256];
        struct key priv;
        int created = 0;
        if (weft_state_path(inst->ctx, "control.key", path, sizeof(path)) == NULL) {
            log_error("module=control event=control_key error=\"state path too long\"");
            return -1;
        }
        if (key_load_or_create(path, &priv, &created, err, sizeof(err)) != 0) {
            log_error("module=control event=control_key path=%s error=\"%s\"", path, err);
            return -1;
        }
        struct channel_limits lim;
        limits_of(inst->conf, &lim);
        log_info("module=control event=channel_limits max_conns=%lld accept_rate=%lld first_request_timeout=%ums "
                 "idle_timeout=%ums channel_buffer=%zu",
                 lim.max_conns, lim.accept_rate, lim.first_request_ms, lim.idle_ms, lim.max_buffered);
        ch = channel_new(weft_loop(inst->ctx), &priv);
        sodium_memzero(&priv, sizeof(priv));
        struct inst_channel *i = ch ? malloc(sizeof(*i)) : NULL;
        if (i == NULL) {
            channel_free(ch);
            log_error("module=control event=channel error=\"out of memory\"");
            return -1;
        }
        channel_set_limits(ch, &lim);
        i->inst = inst;
        i->ch = ch;
        i->next = instances;
        instances = i;
        metrics_add(weft_metrics(inst->ctx), collect, ch);
        char pub[KEY_TEXT_MAX];
        key_format(pub, sizeof(pub), KEY_TEXT_MACHINE, channel_public_key(ch));
        log_info("module=control event=control_key path=%s created=%s public=%s", path,
                 created ? "yes" : "no", pub);
    }
    if (channel_attach(ch, srv) != 0) {
        log_error("module=control event=channel error=\"cannot route /key and /ts2021\"");
        return -1;
    }
    return 0;
}

void channel_stop(struct weft_instance *inst)
{
    struct channel *ch = channel_of(inst);
    if (ch != NULL)
        channel_shutdown(ch);
}

int channel_drained(struct weft_instance *inst)
{
    struct channel *ch = channel_of(inst);
    if (ch == NULL)
        return 1;
    return channel_idle(ch);
}

void channel_finish(struct weft_instance *inst)
{
    for (struct inst_channel **pi = &instances; *pi != NULL; pi = &(*pi)->next)
        if ((*pi)->inst == inst) {
            struct inst_channel *i = *pi;
            *pi = i->next;
            metrics_remove(weft_metrics(i->inst->ctx), i->ch);
            channel_free(i->ch);
            free(i);
            return;
        }
}
