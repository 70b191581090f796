// SPDX-License-Identifier: BSD-3-Clause
/* `make bench` runs programs: this one runs bench/wireguard.sh (namespaces, iperf3, weft and
 * wireguard-go) with the build tree's binary and modules. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    setenv("WEFT", WEFT_ABS_BUILDDIR "/weft", 0);
    setenv("WEFT_SRCDIR", WEFT_ABS_SRCDIR, 0);
    setenv("WEFT_MODULE_PATH", WEFT_ABS_BUILDDIR "/modules/node/.libs", 0);
    execl("/bin/bash", "bash", WEFT_ABS_SRCDIR "/bench/wireguard.sh", (char *)NULL);
    perror("bench_wireguard: bash");
    return 1;
}
