// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/verbs.h"

#include <stdio.h>
#include <string.h>

#include "core/cli.h"
#include "core/cli_args.h"

static int verb_version(struct weft_cli *cli, int argc, char **argv)
{
    const char *pos[1];
    int npos;
    const struct cli_opt none[] = {CLI_OPT_END};
    if (cli_args("version", argc, argv, none, pos, 0, &npos))
        return 2;
    printf("weft %s (module ABI %d)\n", WEFT_VERSION, WEFT_ABI_VERSION);
    return 0;
}

static int verb_check_config(struct weft_cli *cli, int argc, char **argv)
{
    int docs = 0, npos;
    const char *pos[1];
    const struct cli_opt opts[] = {CLI_OPT_FLAG("--doc", &docs), CLI_OPT_END};
    if (cli_args("check-config", argc, argv, opts, pos, 0, &npos))
        return 2;
    cli_load_modules(cli);
    if (cli->module_errors[0])
        fprintf(stderr, "%s", cli->module_errors);
    size_t n = cli_load_config(cli);
    if (n) {
        fprintf(stderr, "weft: %s: %zu error%s\n", cli->config_source, n, n == 1 ? "" : "s");
        return 1;
    }
    printf("# effective configuration from %s\n", cli->config_source);
    config_print(stdout, cli->sections, cli->nsections, docs);
    return 0;
}

static int verb_modules(struct weft_cli *cli, int argc, char **argv)
{
    const char *pos[1];
    int npos;
    const struct cli_opt none[] = {CLI_OPT_END};
    if (cli_args("modules", argc, argv, none, pos, 0, &npos))
        return 2;
    cli_load_modules(cli);
    int vw = 8; /* a version from git describe is longer than a release's */
    for (size_t i = 0; i < cli->modules.n; i++)
        if (cli->modules.mods[i]->version && (int)strlen(cli->modules.mods[i]->version) > vw)
            vw = (int)strlen(cli->modules.mods[i]->version);
    printf("%-10s %-*s %-4s %-6s %s\n", "NAME", vw, "VERSION", "ABI", "KIND", "FROM");
    for (size_t i = 0; i < cli->modules.n; i++) {
        const struct weft_module *m = cli->modules.mods[i];
        printf("%-10s %-*s %-4d %-6s %s\n", m->name, vw, m->version ? m->version : "-", m->abi,
               m->is_role ? "role" : "plugin", cli->modules.paths[i]);
    }
    if (cli->module_errors[0]) {
        fprintf(stderr, "%s", cli->module_errors);
        return 1;
    }
    return 0;
}

static const struct weft_verb *lookup(struct weft_cli *cli, const char *name)
{
    for (const struct weft_verb *v = core_verbs; v->name; v++)
        if (strcmp(v->name, name) == 0)
            return v;
    for (size_t i = 0; i < cli->modules.n; i++)
        for (const struct weft_verb *v = cli->modules.mods[i]->verbs; v && v->name; v++)
            if (strcmp(v->name, name) == 0)
                return v;
    return NULL;
}

static int verb_help(struct weft_cli *cli, int argc, char **argv)
{
    const char *pos[1];
    int npos;
    const struct cli_opt none[] = {CLI_OPT_END};
    if (cli_args("help", argc, argv, none, pos, 1, &npos))
        return 2;
    cli_load_modules(cli);
    if (npos) {
        const struct weft_verb *v = lookup(cli, pos[0]);
        if (!v) {
            fprintf(stderr, "weft help: no command '%s'\n", pos[0]);
            return 2;
        }
        printf("%s", v->usage);
        return 0;
    }
    printf("weft %s: a self-hosted mesh VPN compatible with Tailscale\n\n"
           "usage: weft [-c FILE] [-o key=value]... [--log-level LEVEL] [--module-path DIRS] COMMAND [ARGS]\n\n"
           "  -c FILE          configuration file (default /etc/weft/weft.yaml, else the embedded default)\n"
           "  -o key=value     set a configuration key, e.g. -o control.listen=0.0.0.0:8080 (repeatable)\n"
           "  --log-level L    error, warn, info or debug\n"
           "  --module-path D  where to look for modules (':'-separated; also $WEFT_MODULE_PATH)\n\n"
           "commands:\n",
           WEFT_VERSION);
    for (const struct weft_verb *v = core_verbs; v->name; v++)
        printf("  %-14s %s\n", v->name, v->summary);
    for (size_t i = 0; i < cli->modules.n; i++)
        for (const struct weft_verb *v = cli->modules.mods[i]->verbs; v && v->name; v++)
            printf("  %-14s %s (%s)\n", v->name, v->summary, cli->modules.mods[i]->name);
    printf("\nRun `weft help COMMAND` or `weft COMMAND --help` for one command.\n");
    if (cli->module_errors[0])
        fprintf(stderr, "\n%s", cli->module_errors);
    return 0;
}

const struct weft_verb core_verbs[] = {
    {"serve", "run the daemon with the given roles (control, derp, node)",
     "usage: weft serve [-c FILE] [-o key=value]... [ROLE...]\n\n"
     "Runs the named roles (control, derp, node) in one process on one event loop. With no roles named, runs\n"
     "the config file's `roles`; with no config file at all, control + derp on the embedded default\n"
     "(HTTP on 127.0.0.1:8080, state in ./weft-state or $STATE_DIRECTORY).\n"
     "SIGTERM/SIGINT shut down gracefully; SIGHUP reloads the configuration.\n",
     verb_serve},
    {"check-config", "validate the configuration and print it with defaults filled in",
     "usage: weft check-config [-c FILE] [-o key=value]... [--doc]\n\n"
     "Checks the configuration against every module's keys, reports every error as FILE:LINE:COL: key: message\n"
     "(exit status 1), or prints the effective configuration (--doc: with each key's description).\n",
     verb_check_config},
    {"modules", "list the modules found, with version and ABI",
     "usage: weft modules [--module-path DIRS]\n\n"
     "Lists the modules found (built in, then in the module path) and any that were refused.\n",
     verb_modules},
    {"help", "show the commands, or one command's usage", "usage: weft help [COMMAND]\n", verb_help},
    {"version", "print weft's version", "usage: weft version   (or weft --version)\n", verb_version},
    {NULL, NULL, NULL, NULL},
};
