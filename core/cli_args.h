// SPDX-License-Identifier: BSD-3-Clause
/* What the verbs share beyond the common options: strict parsing of a verb's own arguments (an option it
 * does not know is an error, never ignored), and an exact account of why a daemon's unix socket could not
 * be reached (no socket there, nothing answering, permission denied). */
#ifndef WEFT_CLI_ARGS_H
#define WEFT_CLI_ARGS_H

#include <stddef.h>

/* One option of a verb: "--name VALUE" / "--name=VALUE" when value is set, else a flag (*flag = 1).
 * alias: another spelling ("-4"), or NULL. A boolean flag also takes "--name=false" / "--name=true"
 * (*flag = 0 / 1; callers preset it to -1 to tell "not given"). */
struct cli_opt {
    const char *name;
    const char *alias;
    const char **value;
    int *flag;
    int boolean;
};
#define CLI_OPT_VALUE(n, v) {n, NULL, v, NULL, 0}
#define CLI_OPT_FLAG(n, f) {n, NULL, NULL, f, 0}
#define CLI_OPT_BOOL(n, f) {n, NULL, NULL, f, 1}
#define CLI_OPT_END {NULL, NULL, NULL, NULL, 0}

/* Parse argv[1..argc-1] against opts (CLI_OPT_END-terminated). Other words are positional, collected in pos
 * (at most maxpos; "--" makes every later word positional). An unknown option, a missing value, a value
 * given to a flag, or a positional word too many is printed as "weft VERB: ..." and gives -1.
 * *npos gets the number of positional words. */
int cli_args(const char *verb, int argc, char **argv, const struct cli_opt *opts, const char **pos, int maxpos,
             int *npos);

/* A decimal integer in [min, max] for option opt; -1 with a message if it is not one. */
int cli_int(const char *verb, const char *opt, const char *text, long long min, long long max, long long *out);

/* Why connect() to the unix socket at path failed with errno err, as one sentence without a newline:
 * "no socket at PATH", "nothing answers at PATH (a socket left by a server that is not running)",
 * "permission denied at PATH (srw-rw---- weft:weft): ...". Returns which of those it is. */
enum cli_socket_problem { CLI_SOCK_MISSING, CLI_SOCK_DEAD, CLI_SOCK_DENIED, CLI_SOCK_OTHER };
enum cli_socket_problem cli_socket_problem(const char *path, int err, char *out, size_t cap);

/* Try to connect to a unix socket (and close it): 0, or the errno of the failure. */
int cli_socket_probe(const char *path);

/* The well-known directory of the daemons' sockets: $RUNTIME_DIRECTORY when set (systemd gives it to the
 * services; tests set it), else /run/weft. */
const char *cli_runtime_dir(void);

#endif
