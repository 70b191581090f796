// SPDX-License-Identifier: BSD-3-Clause
/* Libraries loaded on first use (dlopen) instead of linked: those a process of some role would otherwise map
 * for nothing (libcurl, libyaml, libnftables, libsystemd and what each pulls in). Each user keeps a struct of
 * function pointers typed from the library's own header, so every call is checked as if linked, and lists
 * them for dynlib_open with DYNLIB_SYM. */
#ifndef WEFT_CORE_DYNLIB_H
#define WEFT_CORE_DYNLIB_H

#include <stddef.h>

struct dynlib_sym {
    const char *name; /* the symbol */
    void *slot;       /* where its address goes: a function pointer of the symbol's type */
};
/* {"prefix_name", &table.name}: for an X-macro list of a library's functions. */
#define DYNLIB_SYM(table, prefix, name) {prefix #name, &(table).name},

/* Open soname and fill every slot of syms. Returns the handle (for dlclose), or NULL with why in err:
 * "cannot load WHAT (install the Debian package PACKAGE): <dlerror>", or "SONAME has no SYMBOL". */
void *dynlib_open(const char *soname, const char *what, const char *package, const struct dynlib_sym *syms,
                  size_t nsyms, char *err, size_t errlen);

#endif
