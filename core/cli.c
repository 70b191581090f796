// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/cli.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/cfgcheck.h"

const char weft_default_config[] =
    "# weft's embedded default: one box runs the coordination server and its DERP relay on one port.\n"
    "roles: [control, derp]\n";

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_ts[] = {"auto", "on", "off", NULL}; /* enum log_timestamps */

static char default_state_dir[4096];

static const char *check_metrics_listen(const char *v, char *buf, size_t len)
{
    return strcmp(v, "off") == 0 ? NULL : cfg_check_listen(v, buf, len);
}

/* Built at run time: the default state directory depends on the environment (systemd's StateDirectory=). */
static struct cfg_key core_keys[] = {
    {"state_dir", CFG_STR, NULL, "where weft keeps its keys and database ($STATE_DIRECTORY or ./weft-state)",
     offsetof(struct core_conf, state_dir), 0, 0, NULL},
    {"log_level", CFG_ENUM, "info", "error, warn, info or debug", offsetof(struct core_conf, log_level), 0, 0,
     log_levels},
    {"roles", CFG_LIST, "control, derp", "the roles `weft serve` runs when none are named",
     offsetof(struct core_conf, roles), 0, 0, NULL},
    {"shutdown_timeout", CFG_DURATION, "5s", "on SIGTERM, how long open connections get to finish",
     offsetof(struct core_conf, shutdown_timeout), 0, 3600 * 1000, NULL},
    {"metrics_listen", CFG_STR, NULL,
     "Prometheus /metrics listener (default 127.0.0.1:9871 with control, :9872 derp, :9873 node; off: none)",
     offsetof(struct core_conf, metrics_listen), 0, 0, NULL, check_metrics_listen},
    {"log_timestamps", CFG_ENUM, "auto", "time= on log lines: on, off, or auto (off when stderr is the journal)",
     offsetof(struct core_conf, log_timestamps), 0, 0, log_ts},
    CFG_END,
};

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

static int take_value(int *i, int argc, char **argv, const char *opt, const char **out)
{
    size_t ol = strlen(opt);
    if (strcmp(argv[*i], opt) == 0) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "weft: %s needs a value\n", opt);
            return -1;
        }
        *out = argv[++*i];
        return 1;
    }
    if (strncmp(argv[*i], opt, ol) == 0 && argv[*i][ol] == '=' && opt[1] == '-') {
        *out = argv[*i] + ol + 1;
        return 1;
    }
    if (opt[1] != '-' && strncmp(argv[*i], opt, 2) == 0 && argv[*i][2]) { /* -cFILE */
        *out = argv[*i] + 2;
        return 1;
    }
    return 0;
}

int cli_parse_common(struct weft_cli *cli, int *argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *v;
        int r;
        if (strcmp(argv[i], "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if ((r = take_value(&i, *argc, argv, "-c", &v)) || (r = take_value(&i, *argc, argv, "--config", &v))) {
            if (r < 0)
                return -1;
            cli->config_path = v;
            cli->config_given = 1;
        } else if ((r = take_value(&i, *argc, argv, "-o", &v))) {
            if (r < 0)
                return -1;
            cli->ov = realloc(cli->ov, (cli->nov + 1) * sizeof *cli->ov);
            cli->ov[cli->nov++].text = v;
        } else if ((r = take_value(&i, *argc, argv, "--module-path", &v))) {
            if (r < 0)
                return -1;
            cli->module_path = v;
        } else if ((r = take_value(&i, *argc, argv, "--log-level", &v))) {
            enum log_level l;
            if (r < 0)
                return -1;
            if (log_parse_level(v, &l)) {
                fprintf(stderr, "weft: --log-level takes error, warn, info or debug, not '%s'\n", v);
                return -1;
            }
            cli->log_level = v;
            log_set_level(l);
        } else {
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

void cli_load_modules(struct weft_cli *cli)
{
    if (cli->modules.n || cli->module_errors[0])
        return;
    module_load_all(&cli->modules, cli->builtin, cli->module_path, cli->module_errors, sizeof cli->module_errors);
}

size_t cli_load_config(struct weft_cli *cli)
{
    struct cfg_errors err = {0};
    size_t n = cli_load_config_errors(cli, &err);
    if (n)
        fprintf(stderr, "%s", err.text);
    cfg_errors_free(&err);
    return n;
}

size_t cli_load_config_errors(struct weft_cli *cli, struct cfg_errors *err)
{
    cli_load_modules(cli);
    const char *sd = getenv("STATE_DIRECTORY"); /* systemd may list several, ':'-separated: take the first */
    if (sd && *sd)
        snprintf(default_state_dir, sizeof default_state_dir, "%.*s", (int)strcspn(sd, ":"), sd);
    else
        snprintf(default_state_dir, sizeof default_state_dir, "./weft-state");
    core_keys[0].def = default_state_dir;

    cli->nsections = 1 + cli->modules.n + cli->modules.nunloaded;
    cli->sections = calloc(cli->nsections, sizeof *cli->sections);
    cli->sections[0] = (struct cfg_section){NULL, core_keys, sizeof cli->core, &cli->core};
    for (size_t i = 0; i < cli->modules.n; i++) {
        const struct weft_module *m = cli->modules.mods[i];
        cli->sections[1 + i] = (struct cfg_section){m->name, m->keys, m->conf_size, calloc(1, m->conf_size + 1)};
    }
    for (size_t i = 0; i < cli->modules.nunloaded; i++)
        cli->sections[1 + cli->modules.n + i] = (struct cfg_section){cli->modules.unloaded[i], NULL, 0, NULL};

    const char *path = cli->config_path, *embedded = NULL;
    if (!path) { /* $WEFT_CONFIG names the default file instead of /etc/weft/weft.yaml */
        const char *def = getenv("WEFT_CONFIG");
        if (!def || !*def)
            def = WEFT_SYSCONFDIR "/weft/weft.yaml";
        if (access(def, F_OK) == 0)
            path = def;
        else
            embedded = weft_default_config;
    }
    cli->config_source = path ? path : "(embedded default)";
    size_t n = config_load(cli->sections, cli->nsections, path, embedded, cli->ov, cli->nov, err);
    for (size_t i = 0; i < cli->modules.n; i++) /* the modules' own checks: values that parsed, together */
        if (cli->modules.mods[i]->check)
            cli->modules.mods[i]->check(&cli->sections[1 + i], err);
    n = err->count;
    /* a configuration with errors changes nothing (a reload keeps the running one) */
    if (!cli->log_level && n == 0)
        log_set_level((enum log_level)cli->core.log_level);
    if (n == 0)
        log_set_timestamps((enum log_timestamps)cli->core.log_timestamps);
    return n;
}

void *cli_module_conf(struct weft_cli *cli, const char *module)
{
    for (size_t i = 1; i < cli->nsections; i++)
        if (strcmp(cli->sections[i].name, module) == 0)
            return cli->sections[i].conf;
    return NULL;
}

void cli_free_config(struct weft_cli *cli)
{
    if (cli->sections) {
        config_free(cli->sections, cli->nsections);
        for (size_t i = 1; i < cli->nsections; i++)
            free(cli->sections[i].conf);
        free(cli->sections);
    }
    cli->sections = NULL;
    cli->nsections = 0;
}

void cli_free(struct weft_cli *cli)
{
    cli_free_config(cli);
    module_set_free(&cli->modules);
    free(cli->ov);
    memset(cli, 0, sizeof *cli);
}
