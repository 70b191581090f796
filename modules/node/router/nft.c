// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbuf.h"
#include "modules/node/dp.h"
#include "modules/node/node.h"
#include "modules/node/router/router.h"

/* The serving rules, in nftables' own language through libnftables: each change is one transaction that
 * creates the table if missing, deletes it (with everything in it) and writes it anew, so the kernel
 * never sees half a ruleset, and nothing outside `table inet weft` is ever named. */

static void prefix_list(struct jbuf *b, const struct node_routing *r, int family)
{
    size_t k = 0;
    for (size_t i = 0; i < r->nadvertise; i++) {
        if (r->advertise[i].family != family)
            continue;
        char t[64];
        nl_prefix_format(&r->advertise[i], 1, t, sizeof t);
        jbuf_put(b, k++ ? ", " : "{ ", 2);
        jbuf_put(b, t, strlen(t));
    }
    if (k)
        jbuf_put(b, " }", 2);
}

static bool has_family(const struct node_routing *r, int family)
{
    for (size_t i = 0; i < r->nadvertise; i++)
        if (r->advertise[i].family == family)
            return true;
    return false;
}

char *router_nft_text(const struct node_routing *r, const char *ifname)
{
    if (!r->nadvertise && !r->advertise_exit)
        return NULL;
    struct jbuf b;
    jbuf_init(&b);
    char line[512];
#define PUT(...)                                                                                                   \
    do {                                                                                                           \
        snprintf(line, sizeof line, __VA_ARGS__);                                                                  \
        jbuf_put(&b, line, strlen(line));                                                                          \
    } while (0)
    PUT("table inet %s {\n", ROUTER_NFT_TABLE);
    /* TCP through the tunnel fits its MTU: MSS clamped to the route's MTU both ways */
    PUT("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    PUT("    iifname \"%s\" tcp flags syn tcp option maxseg size set rt mtu\n", ifname);
    PUT("    oifname \"%s\" tcp flags syn tcp option maxseg size set rt mtu\n  }\n", ifname);
    PUT("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
    const char *range[2] = {DP_RANGE_V4, DP_RANGE_V6}, *fam[2] = {"ip", "ip6"};
    for (int f = 0; f < 2; f++) {
        int family = f ? 6 : 4;
        if (!r->no_snat) {
            /* the LAN and the internet see the router's address: replies come back without routes */
            PUT("    %s saddr %s oifname != \"%s\" masquerade\n", fam[f], range[f], ifname);
        } else if (r->advertise_exit) {
            /* no SNAT to the advertised subnets (they route the tailnet back), only to the internet */
            PUT("    %s saddr %s oifname != \"%s\" ", fam[f], range[f], ifname);
            if (has_family(r, family)) {
                PUT("%s daddr != ", fam[f]);
                prefix_list(&b, r, family);
                PUT(" ");
            }
            PUT("masquerade\n");
        }
    }
    PUT("  }\n}\n");
#undef PUT
    char *t = b.oom ? NULL : jbuf_take(&b, NULL);
    jbuf_free(&b);
    return t;
}

int router_nft_apply(const char *text, char *err, size_t errlen)
{
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) {
        snprintf(err, errlen, "libnftables: no context");
        return -1;
    }
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    size_t len = (text ? strlen(text) : 0) + 128;
    char *cmd = malloc(len);
    int rc = -1;
    if (cmd) {
        /* "add" first: deleting a table that is not there fails the whole transaction */
        snprintf(cmd, len, "add table inet %s\ndelete table inet %s\n%s", ROUTER_NFT_TABLE, ROUTER_NFT_TABLE,
                 text ? text : "");
        rc = nft_run_cmd_from_buffer(ctx, cmd) == 0 ? 0 : -1;
        if (rc) {
            const char *e = nft_ctx_get_error_buffer(ctx);
            snprintf(err, errlen, "%.*s", (int)strcspn(e ? e : "", "\n"), e ? e : "nftables failed");
        }
        free(cmd);
    } else {
        snprintf(err, errlen, "out of memory");
    }
    nft_ctx_free(ctx);
    return rc;
}

int router_nft_exists(void)
{
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx)
        return 0;
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    int rc = nft_run_cmd_from_buffer(ctx, "list table inet " ROUTER_NFT_TABLE) == 0;
    nft_ctx_free(ctx);
    return rc;
}
