// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "core/dynlib.h"

void *dynlib_open(const char *soname, const char *what, const char *package, const struct dynlib_sym *syms,
                  size_t nsyms, char *err, size_t errlen)
{
    /* RTLD_LOCAL: the library's symbols serve only these slots, and cannot interpose on anyone else's */
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load %s (install the Debian package %s): %s", what, package, dlerror());
        return NULL;
    }
    for (size_t i = 0; i < nsyms; i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            snprintf(err, errlen, "%s has no %s", soname, syms[i].name);
            dlclose(h);
            return NULL;
        }
        /* (a data pointer into a function pointer: POSIX makes them the same size; memcpy, not a cast) */
        memcpy(syms[i].slot, &p, sizeof p);
    }
    return h;
}
