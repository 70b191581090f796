#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/ctx.h"
#include "core/http.h"
#include "core/log.h"
#include "core/module.h"
#include "modules/derp/derp.h"

#define K(name, type, def, doc) {#name, type, def, doc, offsetof(struct derp_conf, name), 0, 0, NULL}
static const struct cfg_key derp_keys[] = {
    K(listen, CFG_STR, "127.0.0.1:8080", "plain HTTP listener for /derp (shared with control when the same)"),
    K(tls_listen, CFG_STR, NULL, "TLS listener for /derp (needs tls_cert and tls_key), e.g. [::]:443"),
    K(tls_cert, CFG_STR, NULL, "PEM certificate chain for tls_listen"),
    K(tls_key, CFG_STR, NULL, "PEM private key for tls_listen"),
    K(stun_listen, CFG_STR, "127.0.0.1:3478", "UDP address of the STUN server (empty: no STUN)"),
    K(key_file, CFG_STR, "derp.key", "the relay's private key (relative to state_dir; created 0600)"),
    K(mesh_key, CFG_STR, NULL, "file holding the region's mesh key (64 hex digits)"),
    K(mesh_with, CFG_LIST, NULL, "URLs of the other relays of this region, e.g. https://derp2.example:443"),
    K(verify_clients, CFG_STR, NULL, "admission URL: POST {NodePublic, Source}, admit on {\"Allow\":true}"),
    K(verify_fail_open, CFG_BOOL, "false", "admit clients when the admission URL cannot be reached"),
    K(metrics_listen, CFG_STR, NULL, "listener of its own for /metrics (default: on listen)"),
    CFG_END,
};

/* /derp/probe and /derp/latency-check: clients and browsers measure latency with these (CORS open). */
static void handle_probe(struct http_req *req, void *arg)
{
    const char *m = http_req_method(req);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        http_respond_text(req, 405, "bogus probe method\n");
        return;
    }
    static const struct http_header h[] = {{"Access-Control-Allow-Origin", "*"}};
    http_respond(req, 200, h, 1, "", 0);
}

static int derp_start(struct weft_instance *inst)
{
    struct derp_conf *conf = inst->conf;
    char err[512];
    const char *addrs[2] = {conf->listen, conf->tls_listen};
    for (int i = 0; i < 2; i++) {
        if (!addrs[i])
            continue;
        struct http_server *srv = weft_http(inst->ctx, addrs[i], i ? conf->tls_cert : NULL,
                                            i ? conf->tls_key : NULL, err, sizeof err);
        if (!srv) {
            log_error("module=derp event=listen addr=%s error=\"%s\"", addrs[i], err);
            return -1;
        }
        http_route(srv, "/derp/probe", 0, handle_probe, inst);
        http_route(srv, "/derp/latency-check", 0, handle_probe, inst);
    }
    return 0;
}

WEFT_MODULE(derp) = {
    .abi = WEFT_ABI_VERSION,
    .name = "derp",
    .version = WEFT_VERSION,
    .summary = "DERP relay and STUN server",
    .keys = derp_keys,
    .conf_size = sizeof(struct derp_conf),
    .is_role = 1,
    .start = derp_start,
};
