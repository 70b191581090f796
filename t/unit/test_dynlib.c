// SPDX-License-Identifier: BSD-3-Clause
/* core/dynlib: a library opened on first use fills its typed slots, and says why when it cannot. */
#include "config.h"
#include "core/dynlib.h"
#include "t/tap.h"

#include <dlfcn.h>
#include <string.h>

static struct {
    __typeof__(strlen) *len; /* (named as DYNLIB_SYM wants: the symbol without its prefix) */
    __typeof__(strcmp) *cmp;
} c;

int main(void)
{
    char err[300];
    plan(7);
    const struct dynlib_sym good[] = {DYNLIB_SYM(c, "str", len) DYNLIB_SYM(c, "str", cmp)};
    void *h = dynlib_open("libc.so.6", "libc", "libc6", good, 2, err, sizeof err);
    ok(h != NULL, "libc opens");
    ok(c.len != NULL && c.len("four") == 4, "its strlen is callable through the typed slot");
    ok(c.cmp != NULL && c.cmp("a", "a") == 0, "and strcmp");
    if (h)
        dlclose(h);

    h = dynlib_open("libweft-no-such.so.9", "libnosuch", "libnosuch9", good, 2, err, sizeof err);
    ok(h == NULL, "a library that is not there");
    ok(strncmp(err, "cannot load libnosuch (install the Debian package libnosuch9): ", 63) == 0,
       "says which package to install: %s", err);

    struct {
        void (*f)(void);
    } bad;
    const struct dynlib_sym missing[] = {{"weft_no_such_function", &bad.f}};
    h = dynlib_open("libc.so.6", "libc", "libc6", missing, 1, err, sizeof err);
    ok(h == NULL, "a symbol the library lacks");
    is_str(err, "libc.so.6 has no weft_no_such_function", "is named");
    return done_testing();
}
