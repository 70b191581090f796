// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/serve_plan.h"

/* The plan is a list of NUL-terminated fields: "R" ROLE, "K" NAME FILE (a module to load), "S" NAME (a
 * module found that this process does without). */

/* Is module m needed by a process running these roles? A role only by itself; a plugin that names its role
 * only with that role; a plugin that names none, always. */
static int wanted(const struct weft_module *m, const char *const *roles, size_t nroles)
{
    const char *role = m->is_role ? m->name : m->serves;
    if (!role)
        return 1;
    for (size_t j = 0; j < nroles; j++)
        if (strcmp(roles[j], role) == 0)
            return 1;
    return 0;
}

static void put(FILE *f, const char *a, const char *b, const char *c)
{
    fputs(a, f);
    fputc(0, f);
    fputs(b, f);
    fputc(0, f);
    if (c) {
        fputs(c, f);
        fputc(0, f);
    }
}

/* In the child: every module found loaded, the whole configuration checked, the roles chosen and looked up,
 * messages on stderr. Writes the plan to f; returns the exit status (0: the plan is whole). */
static int plan_check(struct weft_cli *cli, const char *const *named, size_t nnamed, FILE *f)
{
    cli_load_modules(cli);
    if (cli->module_errors[0])
        fprintf(stderr, "%s", cli->module_errors);
    if (cli_load_config(cli))
        return 1;
    /* the roles: named on the command line, else the config's */
    size_t nroles = nnamed ? nnamed : cli->core.roles.n;
    const char *const *roles = nnamed ? named : (const char *const *)cli->core.roles.v;
    if (nroles == 0) {
        fprintf(stderr, "weft serve: no roles to run (name them, or set `roles` in the configuration)\n");
        return 2;
    }
    for (size_t i = 0; i < nroles; i++) {
        const struct weft_module *m = module_find(&cli->modules, roles[i]);
        if (m && m->is_role)
            continue;
        const char *cand[64];
        size_t n = 0;
        for (size_t j = 0; j < cli->modules.n && n < 64; j++)
            if (cli->modules.mods[j]->is_role)
                cand[n++] = cli->modules.mods[j]->name;
        const char *dym = cfg_did_you_mean(roles[i], cand, n);
        fprintf(stderr, "weft serve: no role '%s'%s%s%s (see `weft modules`)\n", roles[i],
                dym ? "; did you mean '" : "", dym ? dym : "", dym ? "'?" : "");
        if (n == 0) { /* no role module at all: the module path is wrong, say what to do */
            const char *path = cli->module_path ? cli->module_path : module_default_path();
            fprintf(stderr,
                    "weft serve: no %s.so in the module path %s%s; install weft's modules there (make "
                    "install), or point --module-path or $WEFT_MODULE_PATH at the directory that holds "
                    "%s.so, or build the roles into the binary (./configure --enable-builtin-modules)\n",
                    roles[i], path,
                    cli->module_path                                            ? " (--module-path)"
                    : getenv("WEFT_MODULE_PATH") && *getenv("WEFT_MODULE_PATH") ? " ($WEFT_MODULE_PATH)"
                                                                                : "",
                    roles[i]);
        }
        return 2;
    }
    for (size_t i = 0; i < nroles; i++)
        put(f, "R", roles[i], NULL);
    for (size_t i = 0; i < cli->modules.n; i++) {
        const struct weft_module *m = cli->modules.mods[i];
        if (wanted(m, roles, nroles))
            put(f, "K", m->name, cli->modules.paths[i]);
        else
            put(f, "S", m->name, NULL);
    }
    return 0;
}

/* The plan's fields, read to the end of the pipe; NULL-terminated in *out. Returns how many, -1 if out of
 * memory. */
static long read_fields(FILE *f, char ***out)
{
    char **v = NULL, *line = NULL;
    size_t n = 0, cap = 0;
    ssize_t len;
    while ((len = getdelim(&line, &cap, 0, f)) > 0) {
        char **w = realloc(v, (n + 2) * sizeof *w);
        if (!w)
            break;
        v = w;
        v[n++] = line;
        line = NULL;
        cap = 0;
    }
    free(line);
    if (v)
        v[n] = NULL;
    *out = v;
    return v || n == 0 ? (long)n : -1;
}

int serve_plan(struct weft_cli *cli, const char *const *named, size_t nnamed, char ***roles, size_t *nroles)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC)) {
        fprintf(stderr, "weft serve: pipe: %s\n", strerror(errno));
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "weft serve: fork: %s\n", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return 1;
    }
    if (pid == 0) {
        close(pfd[0]);
        FILE *f = fdopen(pfd[1], "w");
        int rc = f ? plan_check(cli, named, nnamed, f) : 1;
        if (f && fclose(f) && !rc)
            rc = 1;
        fflush(stdout);
        fflush(stderr);
        _exit(rc); /* no exit handlers: the libraries the modules brought are the parent's too */
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    char **v = NULL;
    long n = f ? read_fields(f, &v) : -1;
    if (f)
        fclose(f);
    else
        close(pfd[0]);
    int wst, rc;
    while ((rc = waitpid(pid, &wst, 0)) < 0 && errno == EINTR)
        ;
    int st = 1;
    if (rc < 0) {
        fprintf(stderr, "weft serve: waitpid: %s\n", strerror(errno));
    } else if (!WIFEXITED(wst)) {
        fprintf(stderr, "weft serve: the configuration check died (signal %d)\n", WTERMSIG(wst));
    } else if ((st = WEXITSTATUS(wst)) == 0 && n < 0) {
        fprintf(stderr, "weft serve: out of memory\n");
        st = 1;
    }
    for (long i = 0; st == 0 && i < n; i++) {
        char err[1024];
        if (strcmp(v[i], "R") == 0 && i + 1 < n) {
            char **r = realloc(*roles, (*nroles + 1) * sizeof *r);
            if (!r) {
                st = 1;
                break;
            }
            *roles = r;
            r[(*nroles)++] = strdup(v[++i]);
        } else if (strcmp(v[i], "K") == 0 && i + 2 < n) {
            if (module_load_one(&cli->modules, cli->builtin, v[i + 1], v[i + 2], err, sizeof err)) {
                fprintf(stderr, "weft serve: %s\n", err);
                st = 1;
            }
            i += 2;
        } else if (strcmp(v[i], "S") == 0 && i + 1 < n) {
            module_skip(&cli->modules, v[++i]);
        } else {
            fprintf(stderr, "weft serve: the configuration check said '%s'\n", v[i]);
            st = 1;
        }
    }
    for (long i = 0; i < n; i++)
        free(v[i]);
    free(v);
    /* checked whole by the child: the sections of the modules left out are taken unchecked now */
    if (st == 0 && cli_load_config(cli))
        st = 1;
    return st;
}
