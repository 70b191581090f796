// SPDX-License-Identifier: BSD-3-Clause
/* control.derp_map_file: a tailcfg.DERPMap in JSON, read and checked the way clients will use it. */
#ifndef WEFT_CONTROL_DERPMAP_H
#define WEFT_CONTROL_DERPMAP_H

#include <stddef.h>

/* Read file and check it is a DERP map clients can use: an object with a non-empty "Regions" object whose
 * members are regions keyed by their decimal RegionID, each with at least one node that has a Name, the same
 * RegionID and a HostName. The JSON text (compact) into *json (malloc'd). 0, or -1 with the reason in err. */
int derpmap_load(const char *file, char **json, size_t *len, char *err, size_t errlen);

#endif
