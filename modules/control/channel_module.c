// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/channel.h"

#include <sodium.h>
#include <stdlib.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/module.h"

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
        ch = channel_new(weft_loop(inst->ctx), &priv);
        sodium_memzero(&priv, sizeof(priv));
        struct inst_channel *i = ch ? malloc(sizeof(*i)) : NULL;
        if (i == NULL) {
            channel_free(ch);
            log_error("module=control event=channel error=\"out of memory\"");
            return -1;
        }
        i->inst = inst;
        i->ch = ch;
        i->next = instances;
        instances = i;
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
            channel_free(i->ch);
            free(i);
            return;
        }
}
