// SPDX-License-Identifier: BSD-3-Clause
/* Fuzzes what control keeps of a node's Hostinfo.RoutableIPs (client-controlled): the input is the list,
 * one route per line. Properties: every route kept parses, is canonical (no host bits), lies outside the
 * tailnet's ranges unless it is a /0, 0.0.0.0/0 and ::/0 are kept together or not at all, none lies
 * inside another, the list is sorted without duplicates, and keeping it again changes nothing.
 * The control sources are not in libweftcore (the fuzz build's library), so they are compiled in here;
 * the route table's callers into the rest of control are stubs (only routes_from_hostinfo runs). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/control/model.c"
#include "modules/control/routes.c"

struct cnode *ctrl_node_by_id(struct ctrl *c, int64_t id) { (void)c; (void)id; return NULL; }
bool ctrl_node_expired(const struct cnode *n, int64_t now) { (void)n; (void)now; return false; }
int64_t ctrl_now(void) { return 0; }
void mapper_invalidate(struct cnode *n) { (void)n; }
void fanout_node(struct ctrl *c, struct cnode *n, unsigned what) { (void)c; (void)n; (void)what; }
const char *store_errmsg(const struct store *s) { (void)s; return ""; }
void access_node(struct ctrl *c, struct cnode *n) { (void)c; (void)n; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        log_set_level(LOG_ERROR); /* every ignored route is a warning */
        quiet = true;
    }
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    const char *v[256];
    size_t n = 0;
    for (char *p = text, *nl; p && n < 256; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        v[n++] = p;
    }
    struct control_conf cf = {.prefix_v4 = "100.64.0.0/10", .prefix_v6 = "fd7a:115c:a1e0::/48"};
    struct ctrl c = {.conf = &cf};
    struct cnode node = {.m = {.id = 1}};
    struct model_strlist out = {0}, again = {0};
    struct tc_strs in = {v, n};
    if (routes_from_hostinfo(&c, &node, &in, &out))
        abort();
    struct nl_prefix t4, t6;
    nl_prefix_parse(cf.prefix_v4, &t4);
    nl_prefix_parse(cf.prefix_v6, &t6);
    bool e4 = false, e6 = false;
    for (size_t i = 0; i < out.n; i++) {
        struct nl_prefix p, m;
        char canon[64];
        if (nl_prefix_parse(out.v[i], &p))
            abort();
        m = p;
        nl_prefix_mask(&m);
        if (!nl_prefix_equal(&m, &p) || strcmp(nl_prefix_format(&p, 1, canon, sizeof canon), out.v[i]))
            abort();
        if (p.bits && (nl_prefix_contains(&t4, &p) || nl_prefix_contains(&p, &t4) || nl_prefix_contains(&t6, &p) ||
                       nl_prefix_contains(&p, &t6)))
            abort();
        e4 |= !p.bits && p.family == 4;
        e6 |= !p.bits && p.family == 6;
        if (i && strcmp(out.v[i - 1], out.v[i]) >= 0)
            abort();
        for (size_t j = 0; j < out.n; j++) {
            struct nl_prefix q;
            nl_prefix_parse(out.v[j], &q);
            if (i != j && p.bits && q.bits && nl_prefix_contains(&q, &p))
                abort();
        }
    }
    if (e4 != e6 || out.n > ROUTES_MAX)
        abort();
    struct tc_strs in2 = {(const char *const *)out.v, out.n};
    if (routes_from_hostinfo(&c, &node, &in2, &again) || again.n != out.n)
        abort();
    for (size_t i = 0; i < out.n; i++)
        if (strcmp(out.v[i], again.v[i]))
            abort();
    model_strlist_free(&out);
    model_strlist_free(&again);
    free(text);
    return 0;
}
