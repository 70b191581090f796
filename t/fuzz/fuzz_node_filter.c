// SPDX-License-Identifier: BSD-3-Clause
/* IP packets from a peer (whatever it sends) through the node's packet parser and filter, inbound and
 * outbound, against a filter with every rule form: no crash, no UB, no leak; the parsed fields stay
 * inside the packet; a decision is always one of the reasons; an outbound UDP packet makes its reply
 * pass. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "modules/node/filter/filter.c"
#include "modules/node/filter/packet.c"

static struct filter *F;

static void setup(void)
{
    static char *s1[] = {"100.64.0.1", "100.64.0.5-100.64.0.9", "cap:x"}, *s2[] = {"*"},
                *s3[] = {"fd7a:115c:a1e0::/48", "100.64.0.0/10"};
    static struct nm_port_range d1[] = {{"100.64.0.2", 22, 22, false}, {"*", 80, 443, false}},
                                d2[] = {{"100.64.0.2", 0, 65535, false}},
                                d3[] = {{"fd7a:115c:a1e0::2", 1000, 2000, false}, {"100.64.0.2", 53, 53, false}};
    static int32_t p2[] = {47, 132, 300, -1};
    static struct nm_filter_rule r[] = {
        {s1, 3, d1, 2, NULL, 0},
        {s2, 1, d2, 1, p2, 4},
        {s3, 2, d3, 2, NULL, 0},
    };
    F = filter_new();
    char err[200];
    filter_set_rules(F, r, 3, err, sizeof err);
    struct nl_prefix local[2];
    nl_prefix_parse("100.64.0.2/32", &local[0]);
    nl_prefix_parse("fd7a:115c:a1e0::2/128", &local[1]);
    filter_set_local(F, local, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!F)
        setup();
    struct pkt q;
    pkt_parse(data, size, &q);
    if (!q.bad && q.family != 4 && q.family != 6)
        abort();
    enum filter_reason r = filter_in(F, data, size, 1);
    if ((int)r < 0 || r >= FR_COUNT)
        abort();
    filter_out(F, data, size, 2);
    /* the reply to an outbound UDP packet passes (if it is addressed to us) */
    if (!q.bad && !q.fragment && q.proto == PKT_UDP && size <= 4096) {
        uint8_t *rev = malloc(size);
        memcpy(rev, data, size);
        size_t a = q.family == 4 ? 12 : 8, al = q.family == 4 ? 4 : 16;
        uint8_t tmp[16];
        memcpy(tmp, rev + a, al);
        memcpy(rev + a, rev + a + al, al);
        memcpy(rev + a + al, tmp, al);
        struct pkt rq;
        pkt_parse(rev, size, &rq);
        if (!rq.bad) {
            size_t t = q.family == 4 ? (size_t)(rev[0] & 15) * 4 : 40;
            if (t + 4 <= size) {
                uint8_t sp[2] = {rev[t], rev[t + 1]};
                rev[t] = rev[t + 2];
                rev[t + 1] = rev[t + 3];
                rev[t + 2] = sp[0];
                rev[t + 3] = sp[1];
                pkt_parse(rev, size, &rq);
                enum filter_reason rr = filter_in_parsed(F, &rq, 3);
                bool ours = false;
                for (size_t i = 0; i < F->nlocal; i++)
                    ours |= F->local[i].family == rq.family && masked_eq(F->local[i].addr, rq.dst, F->local[i].bits);
                bool special = (rq.family == 4 ? (rq.dst[0] & 0xf0) == 0xe0 || (rq.dst[0] == 169 && rq.dst[1] == 254)
                                               : rq.dst[0] == 0xff || (rq.dst[0] == 0xfe && (rq.dst[1] & 0xc0) == 0x80));
                if (ours && !special && !rq.bad && rq.proto == PKT_UDP && rr != FR_ACCEPT)
                    abort(); /* a tracked flow's reply was refused */
            }
        }
        free(rev);
    }
    return 0;
}
