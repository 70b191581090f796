// SPDX-License-Identifier: BSD-3-Clause
/* Answers from "the gateway" (anyone on the LAN can send them) through the NAT-PMP and PCP parsers: no
 * crash, no UB; a parsed MAP answer's fields come from inside the datagram. */
#include "config.h"

#include <stdlib.h>

#include "modules/node/magicsock/pmp.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pmp_response r;
    if (pmp_response_parse(data, size, &r) == 0 && r.op == PMP_OP_MAP_UDP && size < PMP_MAP_RESP_LEN)
        abort();
    struct pcp_response c;
    if (pcp_response_parse(data, size, &c) == 0 && c.op == PCP_OP_MAP && size < PCP_MAP_LEN)
        abort();
    return 0;
}
