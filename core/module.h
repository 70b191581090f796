// SPDX-License-Identifier: BSD-3-Clause
/* A module is one descriptor: its name, the ABI it was built for, its config keys, its hooks and its verbs.
 * The core loads modules by name (dlopen, or the built-in table) and knows nothing else about them. */
#ifndef WEFT_MODULE_H
#define WEFT_MODULE_H

#include <stddef.h>

#include "core/cfg.h"
#include "core/version.h"

struct weft_ctx;      /* a running `weft serve`: see core/ctx.h */
struct weft_cli;      /* a command line being run: see core/cli.h */
struct weft_instance; /* a module running in a weft_ctx */

/* A CLI verb a module adds: `weft NAME ...`. run returns the process exit status. */
struct weft_verb {
    const char *name;
    const char *summary; /* one line for `weft help` */
    const char *usage;   /* full text for `weft help NAME` and NAME --help */
    int (*run)(struct weft_cli *cli, int argc, char **argv);
};

struct weft_module {
    int abi;                   /* WEFT_ABI_VERSION as the module was compiled */
    const char *name;          /* "control": also its config section and its file name (control.so) */
    const char *version;
    const char *summary;
    const struct cfg_key *keys; /* its config section's keys, CFG_END-terminated */
    size_t conf_size;          /* the struct those keys' offsets point into */
    int is_role;               /* 1: `weft serve NAME` runs it; 0: a plugin other modules use */

    /* Hooks; any may be NULL. Non-zero from init/start aborts the start with the message logged. */
    int (*init)(struct weft_instance *inst);  /* config is final: open state, validate */
    int (*start)(struct weft_instance *inst); /* every module is initialised: listen, connect */
    void (*stop)(struct weft_instance *inst); /* graceful shutdown begins: stop accepting, say goodbye */
    int (*drained)(struct weft_instance *inst); /* after stop: 1 when nothing is left open */
    void (*finish)(struct weft_instance *inst); /* free everything */
    /* SIGHUP: newconf is the re-read, checked section. Apply what can change without dropping connections
     * (take each applied key's value into inst->conf, e.g. with reload_take in core/reload.h), name each
     * changed key that cannot change and why, and return 0; -1 if nothing could be applied. The core frees
     * newconf afterwards. NULL: every change waits for a restart. */
    int (*reload)(struct weft_instance *inst, void *newconf);

    const struct weft_verb *verbs; /* NULL-name-terminated, or NULL */

    /* check-config (and serve, and every reload) after the keys are parsed: checks that involve several
     * keys or a file's contents; report each with cfg_error(err, sec, key, ...) so it names FILE:LINE:COL.
     * sec->conf is the module's config struct. May be NULL. */
    void (*check)(const struct cfg_section *sec, struct cfg_errors *err);

    /* A plugin's interface for the role that uses it (e.g. a storage backend's operations table for control),
     * found by module name: weft_plugin_iface in a running process, module_find()->iface in a verb. The
     * core never looks inside. NULL for most modules. */
    const void *iface;

    /* A plugin's role ("control"): `weft serve` keeps the plugin loaded only where that role runs, so a node
     * daemon doesn't carry libpq and what it drags in (LDAP, GnuTLS, p11-kit: megabytes of mappings). NULL:
     * loaded with every role. Ignored for roles. */
    const char *serves;
};

struct weft_instance {
    const struct weft_module *mod;
    struct weft_ctx *ctx;
    void *conf; /* the module's config struct */
    void *data; /* the module's own state, set by init */
};

/* Define a module's descriptor: the symbol the loader looks up is weft_module_<name>. */
#define WEFT_MODULE(name) const struct weft_module weft_module_##name

/* --- the loader (core-internal; modules don't call these) --- */

struct module_set {
    const struct weft_module **mods;
    char **paths; /* where each was loaded from ("built-in" when linked in) */
    void **handles;
    size_t n;
    char **unloaded; /* names of modules found but not loaded (their config sections are accepted, unchecked) */
    size_t nunloaded;
};

/* Load every module found: the built-in table (NULL-terminated; may be NULL), then each directory of path (':'-separated). A module with
 * another ABI is refused with a message naming both versions (written to err, one line per problem).
 * Returns the number of modules loaded. */
size_t module_load_all(struct module_set *set, const struct weft_module *const *builtin, const char *path, char *err,
                       size_t errlen);

/* Load one module file; NULL and a message on failure (missing symbol, ABI mismatch, dlopen error). */
const struct weft_module *module_load_file(const char *file, const char *name, void **handle, char *err,
                                           size_t errlen);

const struct weft_module *module_find(const struct module_set *set, const char *name);

/* Load the module called name from file (as module_load_all found it; "built-in": from the built-in table)
 * into set. 0, or -1 and a message in err. */
int module_load_one(struct module_set *set, const struct weft_module *const *builtin, const char *name,
                    const char *file, char *err, size_t errlen);

/* Remember name as a module found but not loaded: its config section is accepted unchecked. */
void module_skip(struct module_set *set, const char *name);
void module_set_free(struct module_set *set);

/* The module search path when --module-path is not given: $WEFT_MODULE_PATH, else, for a binary run
 * uninstalled in its build tree, that tree's module directories, else the install directory. */
const char *module_default_path(void);

#endif
