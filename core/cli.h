// SPDX-License-Identifier: BSD-3-Clause
/* The command line: options every verb shares (-c, -o, --log-level, --module-path), the modules found,
 * and the configuration they define. Verbs of the core and of modules get a struct weft_cli. */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H

#include "core/cfg.h"
#include "core/module.h"
#include "core/log.h"

/* The top-level (core) keys. */
struct core_conf {
    char *state_dir;
    int log_level;              /* enum log_level */
    struct cfg_list roles;
    long long shutdown_timeout; /* ms */
    char *metrics_listen;       /* NULL: the roles' default; "" or "off": none */
    int log_timestamps;         /* enum log_timestamps */
};

struct weft_cli {
    const char *config_path;  /* -c FILE; NULL: /etc/weft/weft.yaml when it exists, else the embedded default */
    int config_given;         /* -c was on the command line */
    struct cfg_override *ov;  /* -o key=value, in order */
    size_t nov;
    const char *module_path;  /* --module-path */
    const char *log_level;    /* --log-level */
    const struct weft_module *const *builtin; /* modules linked into the binary */

    struct module_set modules; /* after cli_load_modules */
    char module_errors[4096];

    struct cfg_section *sections; /* after cli_load_config: [0] is the core, then one per module */
    size_t nsections;
    struct core_conf core;
    const char *config_source; /* the file read, or "(embedded default)" */
};

/* The YAML used when there is no config file at all: single-box control + DERP. */
extern const char weft_default_config[];

/* Take the shared options out of argv (anywhere before "--"); returns -1 with a message on a bad one. */
int cli_parse_common(struct weft_cli *cli, int *argc, char **argv);

/* Load every module (once). Problems (ABI mismatch...) are kept in module_errors. */
void cli_load_modules(struct weft_cli *cli);

/* Load and check the configuration for every loaded module. Prints every error to stderr; returns their count. */
size_t cli_load_config(struct weft_cli *cli);
/* The same, with the errors into err instead (a reload logs them). */
size_t cli_load_config_errors(struct weft_cli *cli, struct cfg_errors *err);

/* A loaded module's config struct, or NULL. */
void *cli_module_conf(struct weft_cli *cli, const char *module);

/* argv holds --help or -h (before "--"). */
int cli_wants_help(int argc, char **argv);

/* Free the loaded configuration (before unloading a module whose key table it uses). */
void cli_free_config(struct weft_cli *cli);

void cli_free(struct weft_cli *cli);

#endif
