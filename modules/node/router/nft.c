// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dynlib.h"
#include "core/json/jbuf.h"
#include "modules/node/dp.h"
#include "modules/node/node.h"
#include "modules/node/router/router.h"

/* The serving rules, in nftables' own language through libnftables: each change is one transaction that
 * creates the table if missing, deletes it (with everything in it) and writes it anew, so the kernel
 * never sees half a ruleset, and nothing outside `table inet weft` is ever named.
 *
 * libnftables is loaded (dlopen) the first time a node serves routes, not linked: with what it brings
 * (libnftnl, libxtables, GMP, jansson) it is over a megabyte of a node's resident memory, and most nodes
 * never route. The functions are typed from libnftables.h, so every call is checked as if linked. */
#ifndef WEFT_LIBNFTABLES_SONAME
#define WEFT_LIBNFTABLES_SONAME "libnftables.so.1"
#endif
#define NFT_FUNCS(X)                                                                                              \
    X(ctx_new) X(ctx_free) X(ctx_buffer_output) X(ctx_buffer_error) X(ctx_get_error_buffer) X(run_cmd_from_buffer)
static struct {
#define X(name) __typeof__(nft_##name) *name;
    NFT_FUNCS(X)
#undef X
} nf;
static int nf_state;      /* 0: not tried; 1: loaded; -1: cannot be (nf_err says why) */
static char nf_err[300];

static int nft_load(void)
{
    if (nf_state)
        return nf_state;
    static const struct dynlib_sym syms[] = {
#define X(name) DYNLIB_SYM(nf, "nft_", name)
        NFT_FUNCS(X)
#undef X
    };
    nf_state = dynlib_open(WEFT_LIBNFTABLES_SONAME, "libnftables", "libnftables1", syms, sizeof syms / sizeof *syms,
                           nf_err, sizeof nf_err)
                   ? 1
                   : -1;
    return nf_state;
}

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
    if (nft_load() < 0) {
        snprintf(err, errlen, "%s", nf_err);
        return -1;
    }
    struct nft_ctx *ctx = nf.ctx_new(NFT_CTX_DEFAULT);
    if (!ctx) {
        snprintf(err, errlen, "libnftables: no context");
        return -1;
    }
    nf.ctx_buffer_output(ctx);
    nf.ctx_buffer_error(ctx);
    size_t len = (text ? strlen(text) : 0) + 128;
    char *cmd = malloc(len);
    int rc = -1;
    if (cmd) {
        /* "add" first: deleting a table that is not there fails the whole transaction */
        snprintf(cmd, len, "add table inet %s\ndelete table inet %s\n%s", ROUTER_NFT_TABLE, ROUTER_NFT_TABLE,
                 text ? text : "");
        rc = nf.run_cmd_from_buffer(ctx, cmd) == 0 ? 0 : -1;
        if (rc) {
            const char *e = nf.ctx_get_error_buffer(ctx);
            snprintf(err, errlen, "%.*s", (int)strcspn(e ? e : "", "\n"), e ? e : "nftables failed");
        }
        free(cmd);
    } else {
        snprintf(err, errlen, "out of memory");
    }
    nf.ctx_free(ctx);
    return rc;
}
