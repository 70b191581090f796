// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <stdbool.h>

#include "core/cli.h"
#include "core/cli_args.h"
#include "core/cli_http.h"
#include "core/module.h"
#include "core/text.h"
#include "modules/control/app.h"
#include "modules/control/control.h"
#include "modules/control/policy/policy.h"

/* `weft users|authkeys|nodes|policy ...`: clients of the running server's admin socket (admin.c). They read the
 * same configuration as `weft serve` (-c FILE, -o key=value) to find state_dir and control.admin_socket.
 * Tables for people; --json prints the server's answer for scripts. */

struct resp {
    char *p;
    size_t len;
};

static int on_body(void *arg, const char *d, size_t add)
{
    struct resp *r = arg;
    char *p = realloc(r->p, r->len + add + 1);
    if (!p)
        return -1;
    memcpy(p + r->len, d, add);
    r->p = p;
    r->len += add;
    r->p[r->len] = 0;
    return 0;
}

/* The socket to talk to: --socket PATH; else control.admin_socket when absolute; else admin_socket (default
 * control.sock) in state_dir (a server run by hand with this configuration), then in the runtime directory
 * (/run/weft: the systemd units'). The first that answers is taken; when none does, each is reported with
 * exactly why (no socket, nothing answering, permission denied) and what to do. 0, or -1 after printing. */
static int find_socket(struct weft_cli *cli, const char *verb, const char *given, char *out, size_t cap)
{
    struct control_conf *conf = cli_module_conf(cli, "control");
    if (!conf) {
        fprintf(stderr, "weft %s: no control configuration (is the control module installed? weft modules)\n",
                verb);
        return -1;
    }
    char cand[2][4096];
    int n = 0;
    if (given) {
        if (strlen(given) >= sizeof cand[0]) {
            fprintf(stderr, "weft %s: --socket: the path is too long\n", verb);
            return -1;
        }
        memcpy(cand[n++], given, strlen(given) + 1);
    } else {
        if (admin_socket_path(cli->core.state_dir, conf->admin_socket, cand[n], sizeof cand[0]) == 0)
            n++;
        if (admin_socket_path(cli_runtime_dir(), conf->admin_socket, cand[n], sizeof cand[0]) == 0 &&
            (n == 0 || strcmp(cand[0], cand[n])))
            n++;
    }
    for (int i = 0; i < n; i++) { /* say where a relative path is: "wrong directory" is one of the causes */
        char abs[sizeof cand[0]], cwd[PATH_MAX];
        if (cand[i][0] != '/' && getcwd(cwd, sizeof cwd) &&
            (size_t)snprintf(abs, sizeof abs, "%s/%s", cwd, cand[i] + (strncmp(cand[i], "./", 2) ? 0 : 2)) <
                sizeof abs)
            memcpy(cand[i], abs, sizeof abs);
    }
    int err[2] = {0, 0}, start = 0, denied = 0;
    for (int i = 0; i < n; i++) {
        err[i] = cli_socket_probe(cand[i]);
        if (!err[i] && strlen(cand[i]) < cap) {
            memcpy(out, cand[i], strlen(cand[i]) + 1);
            return 0;
        }
    }
    char why[PATH_MAX + 512];
    fprintf(stderr, "weft %s: cannot reach the control server:%s", verb, n == 1 ? " " : "\n");
    for (int i = 0; i < n; i++) {
        enum cli_socket_problem p = cli_socket_problem(cand[i], err[i], why, sizeof why);
        start |= p == CLI_SOCK_MISSING || p == CLI_SOCK_DEAD;
        denied |= p == CLI_SOCK_DENIED;
        fprintf(stderr, "%s%s\n", n == 1 ? "" : "  ", why);
    }
    if (start && !denied)
        fprintf(stderr, "Is it running? Start it with `systemctl start weft@control` (or `weft serve`)%s.\n",
                given ? "" : "; if it runs with another configuration, name that with -c FILE, or its socket "
                             "with --socket PATH");
    return -1;
}

/* One call; the answer's JSON object, or NULL after printing why. With refused, a refusal's answer
 * (4xx with an "errors" list) is returned there instead of printed. */
static struct json_object *call2(struct weft_cli *cli, const char *verb, const char *given, const char *path,
                                 struct json_object *in, struct json_object **refused)
{
    size_t nerr = cli_load_config(cli);
    if (nerr) {
        fprintf(stderr, "weft %s: %s: %zu configuration error%s\n", verb, cli->config_source, nerr,
                nerr == 1 ? "" : "s");
        json_object_put(in);
        return NULL;
    }
    char sock[4096], url[512];
    if (find_socket(cli, verb, given, sock, sizeof sock)) {
        json_object_put(in);
        return NULL;
    }
    snprintf(url, sizeof url, "/v1/%s", path);
    struct resp r = {0};
    const char *body = in ? json_object_to_json_string_ext(in, JSON_C_TO_STRING_PLAIN) : NULL;
    struct cli_http_req q = {.sock = sock, .method = in ? "POST" : "GET", .path = url, .host = "weft",
                             .body = body, .body_len = body ? strlen(body) : 0, .timeout_s = 30,
                             .on_body = on_body, .arg = &r};
    int status, cerr;
    char err[4096 + 128];
    int rc = cli_http(&q, &status, &cerr, err, sizeof err);
    json_object_put(in);
    if (rc != CLI_HTTP_OK) {
        fprintf(stderr, "weft %s: the control server at %s did not answer: %s\n", verb, sock, err);
        free(r.p);
        return NULL;
    }
    struct json_object *o = r.p ? json_tokener_parse(r.p) : NULL, *pv;
    free(r.p);
    /* the policy's text keeps its lines (newlines, tabs); its other controls go, as everywhere */
    char *pol = NULL;
    if (o && json_object_object_get_ex(o, "policy", &pv) && json_object_is_type(pv, json_type_string) &&
        (pol = strdup(json_object_get_string(pv))))
        text_strip_controls_lines(pol);
    json_strip_controls(o); /* nodes' hostnames, OS, tags... came from the network: no terminal controls */
    if (pol)
        json_object_object_add(o, "policy", json_object_new_string(pol));
    free(pol);
    struct json_object *e;
    if (refused && o && status >= 400 && status < 500 && json_object_object_get_ex(o, "errors", &e)) {
        *refused = o;
        return NULL;
    }
    if (!o || status != 200) {
        if (o && json_object_object_get_ex(o, "error", &e))
            fprintf(stderr, "weft %s: %s\n", verb, json_object_get_string(e));
        else
            fprintf(stderr, "weft %s: the server answered %d\n", verb, status);
        json_object_put(o);
        return NULL;
    }
    return o;
}

static struct json_object *call(struct weft_cli *cli, const char *verb, const char *given, const char *path,
                               struct json_object *in)
{
    return call2(cli, verb, given, path, in, NULL);
}

static const char *s(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !v)
        return "-";
    if (json_object_is_type(v, json_type_array)) {
        const char *t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        return strcmp(t, "[]") ? t : "-";
    }
    const char *t = json_object_get_string(v);
    return t && *t ? t : "-";
}

static int print_json(struct json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return 0;
}

static int usage_err(const char *verb, const char *msg)
{
    fprintf(stderr, "weft %s: %s (weft %s --help)\n", verb, msg, verb);
    return 2;
}

/* The subcommand (the first word, when it is not an option; else dflt) and the arguments after it. */
static const char *subcommand(int *argc, char ***argv, const char *dflt)
{
    if (*argc > 1 && (*argv)[1][0] != '-') {
        const char *sub = (*argv)[1];
        (*argv)++;
        (*argc)--;
        return sub;
    }
    return dflt;
}

/* The options every admin verb takes. */
struct admin_opts {
    int json;
    const char *socket;
};
#define ADMIN_OPTS(a) CLI_OPT_FLAG("--json", &(a).json), CLI_OPT_VALUE("--socket", &(a).socket)

/* ---- users ---- */

static int run_users(struct weft_cli *cli, int argc, char **argv)
{
    struct admin_opts a = {0};
    int force = 0, npos;
    const char *pos[2], *sub = subcommand(&argc, &argv, "list");
    const struct cli_opt plain[] = {ADMIN_OPTS(a), CLI_OPT_END};
    const struct cli_opt del[] = {ADMIN_OPTS(a), CLI_OPT_FLAG("--force", &force), CLI_OPT_END};
    struct json_object *o;
    char verb[32];
    snprintf(verb, sizeof verb, "users %s", sub);
    if (!strcmp(sub, "list")) {
        if (cli_args(verb, argc, argv, plain, pos, 0, &npos))
            return 2;
        if (!(o = call(cli, "users", a.socket, "users", NULL)))
            return 1;
        if (a.json)
            return print_json(o);
        struct json_object *arr;
        json_object_object_get_ex(o, "users", &arr);
        printf("%-6s %-32s %-6s %s\n", "ID", "NAME", "NODES", "CREATED");
        for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
            struct json_object *u = json_object_array_get_idx(arr, i);
            printf("%-6s %-32s %-6s %s\n", s(u, "id"), s(u, "name"), s(u, "nodes"), s(u, "created"));
        }
        json_object_put(o);
        return 0;
    }
    const char *path;
    int want;
    if (!strcmp(sub, "create")) {
        path = "users/create", want = 1;
    } else if (!strcmp(sub, "rename")) {
        path = "users/rename", want = 2;
    } else if (!strcmp(sub, "delete")) {
        path = "users/delete", want = 1;
    } else {
        return usage_err("users", "create NAME | list | rename NAME NEW | delete NAME [--force]");
    }
    if (cli_args(verb, argc, argv, !strcmp(sub, "delete") ? del : plain, pos, want, &npos))
        return 2;
    if (npos != want)
        return usage_err(verb, want == 1 ? "takes one user NAME" : "takes NAME and NEWNAME");
    struct json_object *in = json_object_new_object();
    json_object_object_add(in, "name", json_object_new_string(pos[0]));
    if (want == 2)
        json_object_object_add(in, "new_name", json_object_new_string(pos[1]));
    if (!strcmp(sub, "delete"))
        json_object_object_add(in, "force", json_object_new_boolean(force));
    if (!(o = call(cli, "users", a.socket, path, in)))
        return 1;
    if (a.json)
        return print_json(o);
    printf("user %s: %sd\n", pos[want - 1], sub);
    json_object_put(o);
    return 0;
}

/* ---- authkeys ---- */

/* "24h", "90m", "30s", "7d", "1h30m", or seconds. -1 if malformed. */
static long long parse_duration(const char *t)
{
    long long total = 0;
    if (!*t)
        return -1;
    while (*t) {
        char *e;
        long long v = strtoll(t, &e, 10);
        if (e == t || v < 0)
            return -1;
        long long mul = 1;
        switch (*e) {
        case 'd': mul = 86400; e++; break;
        case 'h': mul = 3600; e++; break;
        case 'm': mul = 60; e++; break;
        case 's': e++; break;
        case 0: break;
        default: return -1;
        }
        total += v * mul;
        t = e;
    }
    return total;
}

static int run_authkeys(struct weft_cli *cli, int argc, char **argv)
{
    struct admin_opts a = {0};
    int reusable = 0, ephemeral = 0, npos;
    const char *user = NULL, *exp = NULL, *tags = NULL, *pos[1];
    const char *sub = subcommand(&argc, &argv, "list");
    const struct cli_opt plain[] = {ADMIN_OPTS(a), CLI_OPT_END};
    const struct cli_opt create[] = {ADMIN_OPTS(a),
                                     CLI_OPT_FLAG("--reusable", &reusable),
                                     CLI_OPT_FLAG("--ephemeral", &ephemeral),
                                     CLI_OPT_VALUE("--user", &user),
                                     CLI_OPT_VALUE("--expiration", &exp),
                                     CLI_OPT_VALUE("--tags", &tags),
                                     CLI_OPT_END};
    struct json_object *o;
    char verb[32];
    snprintf(verb, sizeof verb, "authkeys %s", sub);
    if (!strcmp(sub, "list")) {
        if (cli_args(verb, argc, argv, plain, pos, 0, &npos))
            return 2;
        if (!(o = call(cli, "authkeys", a.socket, "authkeys", NULL)))
            return 1;
        if (a.json)
            return print_json(o);
        struct json_object *arr;
        json_object_object_get_ex(o, "authkeys", &arr);
        printf("%-5s %-20s %-16s %-8s %-9s %-5s %-6s %-22s %s\n", "ID", "KEY", "USER", "REUSABLE", "EPHEMERAL",
               "USED", "USABLE", "EXPIRATION", "TAGS");
        for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
            struct json_object *k = json_object_array_get_idx(arr, i);
            printf("%-5s %-20s %-16s %-8s %-9s %-5s %-6s %-22s %s\n", s(k, "id"), s(k, "prefix"), s(k, "user"),
                   s(k, "reusable"), s(k, "ephemeral"), s(k, "used"), s(k, "usable"), s(k, "expiration"),
                   s(k, "tags"));
        }
        json_object_put(o);
        return 0;
    }
    if (!strcmp(sub, "create")) {
        if (cli_args(verb, argc, argv, create, pos, 0, &npos))
            return 2;
        if (!user)
            return usage_err(verb, "needs --user USER");
        struct json_object *in = json_object_new_object();
        json_object_object_add(in, "user", json_object_new_string(user));
        json_object_object_add(in, "reusable", json_object_new_boolean(reusable));
        json_object_object_add(in, "ephemeral", json_object_new_boolean(ephemeral));
        if (exp) {
            long long d = parse_duration(exp);
            if (d < 0) {
                json_object_put(in);
                return usage_err(verb, "--expiration wants a duration like 24h, 90m, 7d");
            }
            json_object_object_add(in, "expiration", json_object_new_int64(d));
        }
        struct json_object *ta = json_object_new_array();
        for (const char *t = tags; t && *t;) {
            size_t l = strcspn(t, ",");
            if (l)
                json_object_array_add(ta, json_object_new_string_len(t, (int)l));
            t += l + (t[l] == ',');
        }
        json_object_object_add(in, "tags", ta);
        if (!(o = call(cli, "authkeys", a.socket, "authkeys/create", in)))
            return 1;
        if (a.json)
            return print_json(o);
        printf("pre-auth key %s for %s (%s%s); shown once:\n%s\n", s(o, "id"), user,
               reusable ? "reusable" : "single use", ephemeral ? ", ephemeral nodes" : "", s(o, "key"));
        json_object_put(o);
        return 0;
    }
    if (!strcmp(sub, "expire")) {
        if (cli_args(verb, argc, argv, plain, pos, 1, &npos))
            return 2;
        char *e;
        long long id = npos ? strtoll(pos[0], &e, 10) : 0;
        if (!npos || *e || id <= 0)
            return usage_err(verb, "takes the key's ID (weft authkeys list)");
        struct json_object *in = json_object_new_object();
        json_object_object_add(in, "id", json_object_new_int64(id));
        if (!(o = call(cli, "authkeys", a.socket, "authkeys/expire", in)))
            return 1;
        if (a.json)
            return print_json(o);
        printf("pre-auth key %lld expired\n", id);
        json_object_put(o);
        return 0;
    }
    return usage_err("authkeys", "create --user U [...] | list | expire ID");
}

/* ---- nodes ---- */

static void node_row(struct json_object *n)
{
    printf("%-5s %-24s %-12s %-15s %-24s %-6s %-8s %-22s %s\n", s(n, "id"), s(n, "name"), s(n, "user"),
           s(n, "ipv4"), s(n, "ipv6"), s(n, "online"), s(n, "expired"), s(n, "last_seen"), s(n, "tags"));
}

static void node_head(void)
{
    printf("%-5s %-24s %-12s %-15s %-24s %-6s %-8s %-22s %s\n", "ID", "NAME", "USER", "IPV4", "IPV6", "ONLINE",
           "EXPIRED", "LAST SEEN", "TAGS");
}

static void route_list(struct json_object *n, const char *key, const char *label)
{
    struct json_object *a;
    printf("%-11s", label);
    size_t len = json_object_object_get_ex(n, key, &a) && json_object_is_type(a, json_type_array)
                     ? json_object_array_length(a)
                     : 0;
    for (size_t i = 0; i < len; i++)
        printf("%s%s", i ? ", " : " ", json_object_get_string(json_object_array_get_idx(a, i)));
    printf("%s\n", len ? "" : " -");
}

/* weft nodes routes NODE | weft nodes approve-routes NODE [PREFIX...] */
static int node_routes(struct weft_cli *cli, const char *sub, const char *verb, int argc, char **argv)
{
    struct admin_opts a = {0};
    const struct cli_opt plain[] = {ADMIN_OPTS(a), CLI_OPT_END};
    const char *pos[1 + 64];
    int npos;
    bool approve = !strcmp(sub, "approve-routes");
    if (cli_args(verb, argc, argv, plain, pos, approve ? 1 + 64 : 1, &npos))
        return 2;
    if (npos < 1)
        return usage_err(verb, approve ? "takes NODE and the prefixes to approve (none: approve none)"
                                       : "takes one NODE (its ID or name)");
    struct json_object *in = json_object_new_object(), *o;
    json_object_object_add(in, "node", json_object_new_string(pos[0]));
    if (approve) {
        struct json_object *r = json_object_new_array();
        for (int i = 1; i < npos; i++) /* "10.0.0.0/24,10.1.0.0/24" as one word too */
            for (const char *p = pos[i]; *p;) {
                size_t l = strcspn(p, ",");
                if (l)
                    json_object_array_add(r, json_object_new_string_len(p, (int)l));
                p += l + (p[l] == ',');
            }
        json_object_object_add(in, "routes", r);
    }
    if (!(o = call(cli, "nodes", a.socket, approve ? "nodes/approve-routes" : "nodes/routes", in)))
        return 1;
    if (a.json)
        return print_json(o);
    printf("node %s (%s)%s\n", s(o, "id"), s(o, "name"),
           json_object_get_boolean(json_object_object_get(o, "exit_node")) ? ", exit node" : "");
    route_list(o, "advertised_routes", "advertised");
    route_list(o, "approved_routes", "approved");
    route_list(o, "primary_routes", "primary");
    json_object_put(o);
    return 0;
}

static int run_nodes(struct weft_cli *cli, int argc, char **argv)
{
    struct admin_opts a = {0};
    const char *user = NULL, *pos[2], *sub = subcommand(&argc, &argv, "list");
    int npos;
    const struct cli_opt plain[] = {ADMIN_OPTS(a), CLI_OPT_END};
    const struct cli_opt reg[] = {ADMIN_OPTS(a), CLI_OPT_VALUE("--user", &user), CLI_OPT_END};
    struct json_object *o, *in;
    char verb[32];
    snprintf(verb, sizeof verb, "nodes %s", sub);
    if (!strcmp(sub, "list")) {
        if (cli_args(verb, argc, argv, plain, pos, 0, &npos))
            return 2;
        if (!(o = call(cli, "nodes", a.socket, "nodes", NULL)))
            return 1;
        if (a.json)
            return print_json(o);
        struct json_object *arr;
        json_object_object_get_ex(o, "nodes", &arr);
        node_head();
        for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
            node_row(json_object_array_get_idx(arr, i));
        json_object_put(o);
        return 0;
    }
    if (!strcmp(sub, "routes") || !strcmp(sub, "approve-routes"))
        return node_routes(cli, sub, verb, argc, argv);
    const char *path;
    int want = 1;
    if (!strcmp(sub, "register")) {
        path = "nodes/register";
    } else if (!strcmp(sub, "expire")) {
        path = "nodes/expire";
    } else if (!strcmp(sub, "rename")) {
        path = "nodes/rename", want = 2;
    } else if (!strcmp(sub, "delete")) {
        path = "nodes/delete";
    } else {
        return usage_err("nodes", "list | register --user U AUTHID | expire NODE | rename NODE NAME | "
                                  "delete NODE | routes NODE | approve-routes NODE [PREFIX...]");
    }
    if (cli_args(verb, argc, argv, !strcmp(sub, "register") ? reg : plain, pos, want, &npos))
        return 2;
    if (npos != want)
        return usage_err(verb, !strcmp(sub, "register") ? "takes the AUTHID (or its URL)"
                               : want == 2               ? "takes NODE and NEWNAME"
                                                         : "takes one NODE (its ID or name)");
    in = json_object_new_object();
    if (!strcmp(sub, "register")) {
        if (!user) {
            json_object_put(in);
            return usage_err(verb, "needs --user USER");
        }
        json_object_object_add(in, "user", json_object_new_string(user));
        json_object_object_add(in, "authid", json_object_new_string(pos[0]));
    } else {
        json_object_object_add(in, "node", json_object_new_string(pos[0]));
        if (want == 2)
            json_object_object_add(in, "name", json_object_new_string(pos[1]));
    }
    if (!(o = call(cli, "nodes", a.socket, path, in)))
        return 1;
    if (a.json)
        return print_json(o);
    if (!strcmp(sub, "delete")) {
        printf("node %s deleted\n", pos[0]);
    } else {
        node_head();
        node_row(o);
    }
    json_object_put(o);
    return 0;
}

/* ---- apikeys, oauth-clients: credentials of the REST API (/api/v2/) ---- */

static int run_creds(struct weft_cli *cli, int argc, char **argv, bool oauth)
{
    const char *noun = oauth ? "oauth-clients" : "apikeys", *path = oauth ? "oauth-clients" : "apikeys";
    struct admin_opts a = {0};
    int npos;
    const char *exp = NULL, *desc = NULL, *scopes = NULL, *pos[1];
    const char *sub = subcommand(&argc, &argv, "list");
    const struct cli_opt plain[] = {ADMIN_OPTS(a), CLI_OPT_END};
    const struct cli_opt create[] = {ADMIN_OPTS(a), CLI_OPT_VALUE("--expiration", &exp),
                                     CLI_OPT_VALUE("--description", &desc), CLI_OPT_END};
    const struct cli_opt create_oauth[] = {ADMIN_OPTS(a), CLI_OPT_VALUE("--expiration", &exp),
                                           CLI_OPT_VALUE("--description", &desc),
                                           CLI_OPT_VALUE("--scopes", &scopes), CLI_OPT_END};
    struct json_object *o;
    char verb[48], p[64];
    snprintf(verb, sizeof verb, "%s %s", noun, sub);
    if (!strcmp(sub, "list")) {
        if (cli_args(verb, argc, argv, plain, pos, 0, &npos))
            return 2;
        if (!(o = call(cli, noun, a.socket, path, NULL)))
            return 1;
        if (a.json)
            return print_json(o);
        struct json_object *arr;
        json_object_object_get_ex(o, oauth ? "oauth_clients" : "apikeys", &arr);
        printf("%-14s %-6s %-22s %-22s %s%s\n", "ID", "USABLE", "EXPIRATION", "CREATED", oauth ? "SCOPES  " : "",
               "DESCRIPTION");
        for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
            struct json_object *k = json_object_array_get_idx(arr, i);
            printf("%-14s %-6s %-22s %-22s ", s(k, "id"), s(k, "usable"), s(k, "expiration"), s(k, "created"));
            if (oauth)
                printf("%s  ", s(k, "scopes"));
            printf("%s\n", s(k, "description"));
        }
        json_object_put(o);
        return 0;
    }
    if (!strcmp(sub, "create")) {
        if (cli_args(verb, argc, argv, oauth ? create_oauth : create, pos, 0, &npos))
            return 2;
        if (oauth && !scopes)
            return usage_err(verb, "needs --scopes (e.g. devices:core,auth_keys:read)");
        struct json_object *in = json_object_new_object();
        if (exp) {
            long long d = parse_duration(exp);
            if (d < 0) {
                json_object_put(in);
                return usage_err(verb, "--expiration wants a duration like 24h, 90m, 7d");
            }
            json_object_object_add(in, "expiration", json_object_new_int64(d));
        }
        if (desc)
            json_object_object_add(in, "description", json_object_new_string(desc));
        if (scopes)
            json_object_object_add(in, "scopes", json_object_new_string(scopes));
        snprintf(p, sizeof p, "%s/create", path);
        if (!(o = call(cli, noun, a.socket, p, in)))
            return 1;
        if (a.json)
            return print_json(o);
        if (oauth)
            printf("OAuth client %s (scopes %s); client_id and secret, the secret shown once:\n%s\n%s\n",
                   s(o, "id"), s(o, "scopes"), s(o, "id"), s(o, "secret"));
        else
            printf("API key %s; shown once:\n%s\n", s(o, "id"), s(o, "key"));
        json_object_put(o);
        return 0;
    }
    if (!strcmp(sub, oauth ? "delete" : "expire")) {
        if (cli_args(verb, argc, argv, plain, pos, 1, &npos))
            return 2;
        if (npos != 1)
            return usage_err(verb, oauth ? "takes the client's ID (weft oauth-clients list)"
                                         : "takes the key's ID (weft apikeys list)");
        struct json_object *in = json_object_new_object();
        json_object_object_add(in, "id", json_object_new_string(pos[0]));
        snprintf(p, sizeof p, "%s/%s", path, sub);
        if (!(o = call(cli, noun, a.socket, p, in)))
            return 1;
        if (a.json)
            return print_json(o);
        printf("%s %s %s\n", oauth ? "OAuth client" : "API key", pos[0], oauth ? "deleted" : "expired");
        json_object_put(o);
        return 0;
    }
    return usage_err(noun, oauth ? "create --scopes S [...] | list | delete ID"
                                 : "create [--expiration D] [--description T] | list | expire ID");
}

static int run_apikeys(struct weft_cli *cli, int argc, char **argv)
{
    return run_creds(cli, argc, argv, false);
}

static int run_oauth_clients(struct weft_cli *cli, int argc, char **argv)
{
    return run_creds(cli, argc, argv, true);
}

/* ---- policy ---- */

static char *read_all(const char *path, size_t *len)
{
    FILE *f = !strcmp(path, "-") ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 > cap) {
            char *p = realloc(buf, cap = cap ? cap * 2 : 16384);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (!r)
            break;
        n += r;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

/* A refusal's errors as FILE:LINE:COL: message (FILE: message when not tied to a place). */
static void print_refusal(const char *file, struct json_object *o)
{
    struct json_object *errs;
    json_object_object_get_ex(o, "errors", &errs);
    for (size_t i = 0; errs && i < json_object_array_length(errs); i++) {
        struct json_object *e = json_object_array_get_idx(errs, i), *v;
        int line = json_object_object_get_ex(e, "line", &v) ? json_object_get_int(v) : 0;
        int col = json_object_object_get_ex(e, "col", &v) ? json_object_get_int(v) : 0;
        const char *msg = json_object_object_get_ex(e, "message", &v) ? json_object_get_string(v) : "?";
        if (line)
            fprintf(stderr, "%s:%d:%d: %s\n", file, line, col, msg);
        else
            fprintf(stderr, "%s: %s\n", file, msg);
    }
}

static int run_policy(struct weft_cli *cli, int argc, char **argv)
{
    struct admin_opts a = {0};
    const char *topo = NULL, *pos[1], *sub = subcommand(&argc, &argv, "");
    int npos;
    const struct cli_opt plain[] = {ADMIN_OPTS(a), CLI_OPT_END};
    const struct cli_opt check[] = {ADMIN_OPTS(a), CLI_OPT_VALUE("--topology", &topo), CLI_OPT_END};
    char verb[32];
    snprintf(verb, sizeof verb, "policy %s", sub);
    if (!strcmp(sub, "get")) {
        if (cli_args(verb, argc, argv, plain, pos, 0, &npos))
            return 2;
        struct json_object *o = call(cli, "policy", a.socket, "policy", NULL), *v;
        if (!o)
            return 1;
        if (a.json)
            return print_json(o);
        if (json_object_object_get_ex(o, "policy", &v) && v && json_object_is_type(v, json_type_string)) {
            fputs(json_object_get_string(v), stdout);
            size_t l = (size_t)json_object_get_string_len(v);
            if (l && json_object_get_string(v)[l - 1] != '\n')
                fputc('\n', stdout);
        } else {
            fprintf(stderr, "weft policy: no policy (source: %s): every node may reach every other\n", s(o, "source"));
        }
        json_object_put(o);
        return 0;
    }
    if (strcmp(sub, "set") && strcmp(sub, "check"))
        return usage_err("policy", "get | set FILE | check FILE [--topology current]");
    bool is_check = !strcmp(sub, "check");
    if (cli_args(verb, argc, argv, is_check ? check : plain, pos, 1, &npos))
        return 2;
    if (npos != 1)
        return usage_err(verb, "takes the policy FILE (- for stdin)");
    if (topo && strcmp(topo, "current"))
        return usage_err(verb, "--topology takes \"current\" (the running server's tailnet)");
    const char *file = pos[0];
    size_t len;
    char *text = read_all(file, &len);
    if (!text) {
        fprintf(stderr, "weft policy: %s: cannot read\n", file);
        return 1;
    }
    if (is_check && !topo) {
        /* offline: the file alone (syntax, selectors, definitions); tests need a tailnet */
        struct pol_errors errs;
        struct policy *p = policy_parse(text, len, &errs);
        free(text);
        if (!p) {
            char *t = pol_errors_format(&errs, file);
            fputs(t ? t : "", stderr);
            free(t);
            pol_errors_free(&errs);
            return 1;
        }
        bool tests = policy_has_tests(p);
        policy_free(p);
        printf("%s: ok%s\n", file, tests ? " (its tests need a tailnet: --topology current runs them)" : "");
        return 0;
    }
    struct json_object *in = json_object_new_object(), *refused = NULL;
    json_object_object_add(in, "policy", json_object_new_string_len(text, (int)len));
    free(text);
    struct json_object *o = call2(cli, "policy", a.socket, is_check ? "policy/check" : "policy/set", in, &refused);
    if (refused) {
        print_refusal(file, refused);
        json_object_put(refused);
        return 1;
    }
    if (!o)
        return 1;
    if (a.json)
        return print_json(o);
    printf(is_check ? "%s: ok against the running tailnet\n" : "%s: in force\n", file);
    json_object_put(o);
    return 0;
}

#define ADMIN_HELP                                                                                            \
    "\nThey talk to the running server through its admin socket: --socket PATH, else control.admin_socket\n"   \
    "(default control.sock) in state_dir, then in /run/weft (the systemd units'; $RUNTIME_DIRECTORY when\n"     \
    "set). They read the same configuration as weft serve (-c FILE, -o key=value) to find it. --json\n"       \
    "prints the server's answer.\n"

int run_db(struct weft_cli *cli, int argc, char **argv); /* dbcopy.c */
extern const char db_usage[];

const struct weft_verb control_verbs[] = {
    {"users", "manage users of the running control server",
     "usage: weft users create NAME\n"
     "       weft users list [--json]\n"
     "       weft users rename NAME NEWNAME\n"
     "       weft users delete NAME [--force]   (--force also deletes the user's nodes and keys)\n"
     ADMIN_HELP,
     run_users},
    {"authkeys", "manage pre-auth keys of the running control server",
     "usage: weft authkeys create --user USER [--reusable] [--ephemeral] [--expiration 24h]\n"
     "                            [--tags tag:a,tag:b] [--json]\n"
     "       weft authkeys list [--json]\n"
     "       weft authkeys expire ID\n"
     "create prints the key on its last line (it is shown only once).\n" ADMIN_HELP,
     run_authkeys},
    {"nodes", "list and manage nodes of the running control server",
     "usage: weft nodes list [--json]\n"
     "       weft nodes register --user USER AUTHID   (approve an interactive login; AUTHID or its URL)\n"
     "       weft nodes expire NODE\n"
     "       weft nodes rename NODE NEWNAME\n"
     "       weft nodes delete NODE\n"
     "       weft nodes routes NODE          (routes it advertises, the approved ones, those it is primary for)\n"
     "       weft nodes approve-routes NODE [PREFIX...]   (the whole approved list; none: approve none;\n"
     "                                        0.0.0.0/0 ::/0 makes an exit node)\n"
     "NODE is a node's ID or name.\n" ADMIN_HELP,
     run_nodes},
    {"apikeys", "manage API keys of the REST API (/api/v2/)",
     "usage: weft apikeys create [--expiration 90d] [--description TEXT] [--json]\n"
     "       weft apikeys list [--json]\n"
     "       weft apikeys expire ID\n"
     "create prints the key (tskey-api-...) on its last line; it is shown only once and stored hashed.\n"
     "Use it as \"Authorization: Bearer KEY\" or as the user name of HTTP basic auth. An API key has every\n"
     "scope; for less, use an OAuth client.\n" ADMIN_HELP,
     run_apikeys},
    {"oauth-clients", "manage OAuth clients of the REST API (/api/v2/)",
     "usage: weft oauth-clients create --scopes S1,S2 [--expiration D] [--description TEXT] [--json]\n"
     "       weft oauth-clients list [--json]\n"
     "       weft oauth-clients delete ID\n"
     "Scopes: all, devices:core, devices:routes, auth_keys, dns, policy_file, users, each also as NAME:read.\n"
     "create prints the client_id and the secret (tskey-client-..., shown once) on its last two lines; the\n"
     "client gets hour-long access tokens from POST /api/v2/oauth/token (client credentials).\n" ADMIN_HELP,
     run_oauth_clients},
    {"policy", "show, set or check the access policy (Tailscale's policy file format)",
     "usage: weft policy get [--json]\n"
     "       weft policy set FILE              (control.policy.mode: database)\n"
     "       weft policy check FILE [--topology current]\n"
     "get prints the policy in force. set validates FILE against the running tailnet (syntax, selectors,\n"
     "tests) and puts it in force; a refused policy changes nothing and every error is printed as\n"
     "FILE:LINE:COL: message. check validates FILE offline (no server needed); with --topology current it\n"
     "also runs the policy's tests against the running server's tailnet. FILE may be - (stdin).\n"
     "In file mode (control.policy.path) edit the file instead: the server re-reads it when it changes.\n"
     ADMIN_HELP,
     run_policy},
    {"db", "copy control's database between backends (SQLite, PostgreSQL)", db_usage, run_db},
    {NULL, NULL, NULL, NULL},
};
