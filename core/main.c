// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/verbs.h"

/* Generated at build time: the modules linked into this binary (none unless --enable-builtin-modules). */
extern const struct weft_module *const weft_builtin_modules[];

static int usage(FILE *out)
{
    fprintf(out, "usage: weft [-c FILE] [-o key=value]... [--log-level LEVEL] [--module-path DIRS] COMMAND [ARGS]\n"
                 "Run `weft help` for the commands.\n");
    return 2;
}

static const struct weft_verb *find_verb(struct weft_cli *cli, const char *name, const struct weft_module **owner)
{
    for (const struct weft_verb *v = core_verbs; v->name; v++)
        if (strcmp(v->name, name) == 0)
            return v;
    cli_load_modules(cli);
    for (size_t i = 0; i < cli->modules.n; i++)
        for (const struct weft_verb *v = cli->modules.mods[i]->verbs; v && v->name; v++)
            if (strcmp(v->name, name) == 0) {
                *owner = cli->modules.mods[i];
                return v;
            }
    return NULL;
}

static void unknown(struct weft_cli *cli, const char *name)
{
    const char *cand[128];
    size_t n = 0;
    for (const struct weft_verb *v = core_verbs; v->name && n < 128; v++)
        cand[n++] = v->name;
    for (size_t i = 0; i < cli->modules.n; i++)
        for (const struct weft_verb *v = cli->modules.mods[i]->verbs; v && v->name && n < 128; v++)
            cand[n++] = v->name;
    const char *dym = cfg_did_you_mean(name, cand, n);
    fprintf(stderr, "weft: unknown command '%s'%s%s%s; run `weft help`\n", name, dym ? " (did you mean '" : "",
            dym ? dym : "", dym ? "'?)" : "");
    if (cli->module_errors[0])
        fprintf(stderr, "%s", cli->module_errors);
}

int main(int argc, char **argv)
{
    struct weft_cli cli = {.builtin = weft_builtin_modules};
    int rc;
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0))
        argv[1] = "version";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        argv[1] = "help";
    if (cli_parse_common(&cli, &argc, argv)) {
        cli_free(&cli);
        return 2;
    }
    if (argc < 2) {
        cli_free(&cli);
        return usage(stderr);
    }
    const struct weft_module *owner = NULL;
    const struct weft_verb *v = find_verb(&cli, argv[1], &owner);
    if (!v) {
        unknown(&cli, argv[1]);
        cli_free(&cli);
        return 2;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        printf("%s", v->usage);
        cli_free(&cli);
        return 0;
    }
    rc = v->run(&cli, argc - 1, argv + 1);
    cli_free(&cli);
    return rc;
}
