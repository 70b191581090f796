// SPDX-License-Identifier: BSD-3-Clause
/* A module built for another ABI: the loader must refuse it. */
#include "config.h"
#include "core/module.h"
WEFT_MODULE(badabi) = {.abi = 999, .name = "badabi", .version = "0", .summary = "test", .is_role = 1};
