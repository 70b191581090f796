// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/module.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What keep() makes of the entries of dir it takes (a malloc'ed string, NULL: skipped), sorted: a stable
 * order, whatever readdir says. Returns how many, *out the array (the caller frees both); 0 when dir
 * cannot be read. */
static size_t list_dir(const char *dir, char *(*keep)(const char *dir, const char *name), char ***out)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *k = keep(dir, de->d_name);
        if (!k)
            continue;
        char **v = realloc(names, (n + 1) * sizeof *v);
        if (!v) {
            free(k);
            break;
        }
        names = v;
        names[n++] = k;
    }
    closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, by_name);
    *out = names;
    return n;
}

/* A module's build directory: DIR/NAME/.libs */
static char *keep_libs_dir(const char *dir, const char *name)
{
    char libs[4500];
    snprintf(libs, sizeof libs, "%s/%s/.libs", dir, name);
    return name[0] != '.' && access(libs, F_OK) == 0 ? strdup(libs) : NULL;
}

/* A module: NAME.so, kept as NAME */
static char *keep_module(const char *dir, const char *name)
{
    size_t len = strlen(name);
    return len > 3 && strcmp(name + len - 3, ".so") == 0 ? strndup(name, len - 3) : NULL;
}

/* Running uninstalled, from the build tree it was built in (./weft after ./configure && make), the modules
 * are in the build tree too: modules/NAME/.libs/NAME.so and plugins/NAME/.libs/NAME.so next to the binary,
 * where libtool leaves them. The binary knows no build path (builds stay reproducible): it looks next to
 * itself, which an installed binary never has. Returns the ':'-joined directories, or NULL. */
static const char *build_tree_path(void)
{
    static char path[8192];
    static int done;
    if (done)
        return path[0] ? path : NULL;
    done = 1;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/config.status", exe); /* a configured build tree */
    if (access(probe, F_OK) != 0)
        return NULL;
    static const char *const parents[] = {"modules", "plugins"};
    size_t used = 0;
    for (size_t p = 0; p < 2; p++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", exe, parents[p]);
        char **names;
        size_t nn = list_dir(dir, keep_libs_dir, &names);
        for (size_t i = 0; i < nn; i++) {
            int w = snprintf(path + used, sizeof path - used, "%s%s", used ? ":" : "", names[i]);
            if (w > 0 && (size_t)w < sizeof path - used)
                used += (size_t)w;
            free(names[i]);
        }
        free(names);
    }
    return used ? path : NULL;
}

const char *module_default_path(void)
{
    const char *env = getenv("WEFT_MODULE_PATH");
    if (env && *env)
        return env;
    const char *tree = build_tree_path();
    return tree ? tree : WEFT_PKGLIBDIR;
}

static int check_abi(const struct weft_module *m, const char *file, char *err, size_t errlen)
{
    if (m->abi != WEFT_ABI_VERSION) {
        snprintf(err, errlen,
                 "module %s (%s) was built for module ABI %d, but this weft %s has module ABI %d: "
                 "rebuild the module against this weft, or install the matching weft",
                 m->name ? m->name : "?", file, m->abi, WEFT_VERSION, WEFT_ABI_VERSION);
        return -1;
    }
    return 0;
}

const struct weft_module *module_load_file(const char *file, const char *name, void **handle, char *err,
                                           size_t errlen)
{
    char sym[128];
    *handle = NULL;
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load module %s: %s", file, dlerror());
        return NULL;
    }
    snprintf(sym, sizeof sym, "weft_module_%s", name);
    const struct weft_module *m = dlsym(h, sym);
    if (!m) {
        snprintf(err, errlen, "%s is not a weft module (no symbol %s)", file, sym);
        dlclose(h);
        return NULL;
    }
    if (check_abi(m, file, err, errlen)) {
        dlclose(h);
        return NULL;
    }
    if (!m->name || strcmp(m->name, name) != 0) {
        snprintf(err, errlen, "module %s calls itself '%s'", file, m->name ? m->name : "(null)");
        dlclose(h);
        return NULL;
    }
    *handle = h;
    return m;
}

const struct weft_module *module_find(const struct module_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->mods[i]->name, name) == 0)
            return set->mods[i];
    return NULL;
}

static void add(struct module_set *set, const struct weft_module *m, const char *path, void *handle)
{
    set->mods = realloc(set->mods, (set->n + 1) * sizeof *set->mods);
    set->paths = realloc(set->paths, (set->n + 1) * sizeof *set->paths);
    set->handles = realloc(set->handles, (set->n + 1) * sizeof *set->handles);
    if (!set->mods || !set->paths || !set->handles)
        abort();
    set->mods[set->n] = m;
    set->paths[set->n] = strdup(path);
    set->handles[set->n] = handle;
    set->n++;
}

static void append_err(char *err, size_t errlen, const char *line)
{
    size_t used = strlen(err);
    if (used + 1 < errlen)
        snprintf(err + used, errlen - used, "%s\n", line);
}


size_t module_load_all(struct module_set *set, const struct weft_module *const *builtin, const char *path, char *err,
                       size_t errlen)
{
    char one[1024];
    if (errlen)
        err[0] = 0;
    for (size_t i = 0; builtin && builtin[i]; i++) {
        const struct weft_module *m = builtin[i];
        if (check_abi(m, "built-in", one, sizeof one) == 0)
            add(set, m, "built-in", NULL);
        else
            append_err(err, errlen, one);
    }
    char *dirs = strdup(path ? path : module_default_path());
    for (char *save = NULL, *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char **names;
        size_t nn = list_dir(dir, keep_module, &names);
        for (size_t i = 0; i < nn; i++) {
            if (module_find(set, names[i])) { /* the first found wins: built-in, then path order */
                free(names[i]);
                continue;
            }
            char file[4096];
            snprintf(file, sizeof file, "%s/%s.so", dir, names[i]);
            void *h;
            const struct weft_module *m = module_load_file(file, names[i], &h, one, sizeof one);
            if (m)
                add(set, m, file, h);
            else
                append_err(err, errlen, one);
            free(names[i]);
        }
        free(names);
    }
    free(dirs);
    return set->n;
}

int module_load_one(struct module_set *set, const struct weft_module *const *builtin, const char *name,
                    const char *file, char *err, size_t errlen)
{
    if (strcmp(file, "built-in") == 0) {
        for (size_t i = 0; builtin && builtin[i]; i++)
            if (strcmp(builtin[i]->name, name) == 0) {
                if (check_abi(builtin[i], "built-in", err, errlen))
                    return -1;
                add(set, builtin[i], "built-in", NULL);
                return 0;
            }
        snprintf(err, errlen, "no built-in module %s", name);
        return -1;
    }
    void *h;
    const struct weft_module *m = module_load_file(file, name, &h, err, errlen);
    if (!m)
        return -1;
    add(set, m, file, h);
    return 0;
}

void module_skip(struct module_set *set, const char *name)
{
    char **u = realloc(set->unloaded, (set->nunloaded + 1) * sizeof *u);
    if (!u)
        abort();
    set->unloaded = u;
    set->unloaded[set->nunloaded++] = strdup(name);
}

void module_set_free(struct module_set *set)
{
    for (size_t i = 0; i < set->nunloaded; i++)
        free(set->unloaded[i]);
    free(set->unloaded);
    for (size_t i = 0; i < set->n; i++) {
        free(set->paths[i]);
        /* Handles stay open: a module's code may still be referenced by exit handlers of its libraries. */
    }
    free(set->mods);
    free(set->paths);
    free(set->handles);
    memset(set, 0, sizeof *set);
}
