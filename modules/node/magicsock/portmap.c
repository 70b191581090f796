// SPDX-License-Identifier: BSD-3-Clause
/* Port mapping on the gateway: not yet (the next step adds NAT-PMP, PCP and UPnP IGD). */
#include "config.h"

#include <stdlib.h>

#include "modules/node/magicsock/ms_int.h"

struct ms_portmap {
    struct ms *m;
};

struct ms_portmap *ms_pm_new(struct ms *m)
{
    struct ms_portmap *pm = calloc(1, sizeof *pm);
    if (pm)
        pm->m = m;
    return pm;
}

void ms_pm_free(struct ms_portmap *pm)
{
    free(pm);
}

bool ms_pm_mapping(struct ms_portmap *pm, struct disco_addr *ext)
{
    (void)pm;
    (void)ext;
    return false;
}

void ms_pm_services(struct ms_portmap *pm, int *upnp, int *pmp, int *pcp)
{
    (void)pm;
    *upnp = *pmp = *pcp = -1;
}

void ms_pm_link_changed(struct ms_portmap *pm)
{
    (void)pm;
}
