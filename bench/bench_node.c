// SPDX-License-Identifier: BSD-3-Clause
/* `make bench` runs programs: this one runs bench/node.sh (namespaces, weft control + derp, weft nodes,
 * iperf3) with the build tree's binary and every module of the build on the module path, as a package
 * installs them. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    setenv("WEFT", WEFT_ABS_BUILDDIR "/weft", 0);
    setenv("WEFT_SRCDIR", WEFT_ABS_SRCDIR, 0);
    setenv("WEFT_BUILDDIR", WEFT_ABS_BUILDDIR, 0);
    setenv("WEFT_MODULE_PATH",
           WEFT_ABS_BUILDDIR "/modules/control/.libs:" WEFT_ABS_BUILDDIR
                             "/modules/derp/.libs:" WEFT_ABS_BUILDDIR "/modules/node/.libs",
           0);
    execl("/bin/bash", "bash", WEFT_ABS_SRCDIR "/bench/node.sh", (char *)NULL);
    perror("bench_node: bash");
    return 1;
}
