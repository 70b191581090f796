// SPDX-License-Identifier: BSD-3-Clause
/* A policy engine node for the policy tests (t/unit/test_policy.c, t/fuzz/fuzz_policy.c): node ID id
 * holds 100.64.0.ID and fd7a:115c:a1e0::ID, so a test reads who is who from the addresses it gets. Include
 * after modules/control/policy/policy.h. */
#ifndef WEFT_T_POLICY_NODE_H
#define WEFT_T_POLICY_NODE_H

#include <stdint.h>
#include <string.h>

static inline struct pol_node pol_test_node(int64_t id, int64_t user, const char *const *tags, size_t ntags)
{
    struct pol_node n;
    memset(&n, 0, sizeof n);
    n.id = id;
    n.user_id = user;
    n.tags = tags;
    n.ntags = ntags;
    n.has4 = n.has6 = true;
    n.ip4[0] = 100, n.ip4[1] = 64, n.ip4[3] = (uint8_t)id;
    static const uint8_t v6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};
    memcpy(n.ip6, v6, 16);
    n.ip6[15] = (uint8_t)id;
    return n;
}

#endif
