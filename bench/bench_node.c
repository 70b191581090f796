// SPDX-License-Identifier: BSD-3-Clause
/* `make bench` runs programs: this one runs bench/node.sh (namespaces, weft control + derp, weft nodes,
 * iperf3) with the build tree's binary and modules. The script calls it back as
 *     bench_node register URL AUTHKEY COUNT
 * to register COUNT extra machines with control (the real protocol: /key, Noise, HTTP/2, RegisterRequest
 * with the pre-auth key), giving the measured node that many peers. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/control_client.h"
#include "core/crypto/key.h"
#include "core/json/tailcfg.h"
#include "core/loop.h"

#define PARALLEL 8

struct reg {
    struct loop *loop;
    const char *url, *authkey;
    int total, started, done, failed;
};

struct one {
    struct reg *r;
    int i;
    struct key machine, node;
};

static void next(struct reg *r);

static void finish(struct one *o, int ok)
{
    struct reg *r = o->r;
    r->done++;
    if (!ok)
        r->failed++;
    free(o);
    if (r->done == r->total)
        loop_stop(r->loop);
    else
        next(r);
}

static void on_done(struct control_call *call, int status, const uint8_t *body, size_t len, const char *err,
                    void *arg)
{
    struct one *o = arg;
    int ok = !err && status == 200 && len && strstr((const char *)body, "\"MachineAuthorized\":true");
    if (!ok)
        fprintf(stderr, "bench_node: register %d: %s (status %d) %.*s\n", o->i, err ? err : "refused",
                status, (int)(len > 200 ? 200 : len), (const char *)body);
    finish(o, ok);
}

static void on_ready(struct control_client *cc, const char *err, void *arg)
{
    struct one *o = arg;
    if (err) {
        fprintf(stderr, "bench_node: connect: %s\n", err);
        finish(o, 0);
        return;
    }
    struct key pub;
    key_public(&pub, &o->node);
    struct tc_register_request rq;
    memset(&rq, 0, sizeof rq);
    rq.version = CONTROL_CLIENT_VERSION;
    memcpy(rq.node_key.b, pub.b, 32);
    struct tc_register_auth auth = {.auth_key = o->r->authkey};
    rq.auth = &auth;
    char host[32];
    snprintf(host, sizeof host, "peer%03d", o->i);
    struct tc_hostinfo h;
    memset(&h, 0, sizeof h);
    h.hostname = host;
    h.os = "linux";
    rq.hostinfo = &h;
    struct jbuf b;
    jbuf_init(&b);
    tc_register_request_emit(&b, &rq);
    static const struct control_call_cbs cbs = {NULL, NULL, on_done};
    if (!control_client_request(cc, "POST", "/machine/register", NULL, 0, b.p, b.len, &cbs, o)) {
        fprintf(stderr, "bench_node: request failed\n");
        finish(o, 0);
    }
    jbuf_free(&b);
    /* the channel closes when this process ends: registered nodes stay, offline */
}

static void next(struct reg *r)
{
    if (r->started == r->total)
        return;
    struct one *o = calloc(1, sizeof *o);
    o->r = r;
    o->i = r->started++;
    key_generate(&o->machine);
    key_generate(&o->node);
    struct control_client_opts co = {.server_url = r->url, .machine_priv = &o->machine};
    if (!control_client_connect(r->loop, &co, on_ready, NULL, o)) {
        fprintf(stderr, "bench_node: bad URL %s\n", r->url);
        exit(1);
    }
}

static int do_register(const char *url, const char *authkey, int n)
{
    struct reg r = {.loop = loop_new(), .url = url, .authkey = authkey, .total = n};
    if (!r.loop || n <= 0)
        return 1;
    for (int i = 0; i < PARALLEL && i < n; i++)
        next(&r);
    loop_run(r.loop);
    loop_free(r.loop);
    printf("registered %d of %d\n", r.done - r.failed, n);
    return r.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "register") == 0)
        return do_register(argv[2], argv[3], atoi(argv[4]));
    setenv("WEFT", WEFT_ABS_BUILDDIR "/weft", 0);
    setenv("WEFT_SRCDIR", WEFT_ABS_SRCDIR, 0);
    setenv("WEFT_BUILDDIR", WEFT_ABS_BUILDDIR, 0);
    setenv("WEFT_MODULE_PATH",
           WEFT_ABS_BUILDDIR "/modules/control/.libs:" WEFT_ABS_BUILDDIR
                             "/modules/derp/.libs:" WEFT_ABS_BUILDDIR "/modules/node/.libs",
           0);
    setenv("WEFT_BENCH_NODE_TOOL", WEFT_ABS_BUILDDIR "/bench/bench_node", 0);
    execl("/bin/bash", "bash", WEFT_ABS_SRCDIR "/bench/node.sh", (char *)NULL);
    perror("bench_node: bash");
    return 1;
}
