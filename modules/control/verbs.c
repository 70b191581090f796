// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "core/cli.h"
#include "core/module.h"
#include "core/text.h"
#include "modules/control/app.h"
#include "modules/control/control.h"

/* `weft users|authkeys|nodes ...`: clients of the running server's admin socket (admin.c). They read the
 * same configuration as `weft serve` (-c FILE, -o key=value) to find state_dir and control.admin_socket.
 * Tables for people; --json prints the server's answer for scripts. */

struct resp {
    char *p;
    size_t len;
};

static size_t on_body(char *d, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t add = sz * n;
    char *p = realloc(r->p, r->len + add + 1);
    if (!p)
        return 0;
    memcpy(p + r->len, d, add);
    r->p = p;
    r->len += add;
    r->p[r->len] = 0;
    return add;
}

/* One call; the answer's JSON object, or NULL after printing why. */
static struct json_object *call(struct weft_cli *cli, const char *verb, const char *path, struct json_object *in)
{
    size_t nerr = cli_load_config(cli);
    if (nerr) {
        fprintf(stderr, "weft %s: %s: %zu configuration error%s\n", verb, cli->config_source, nerr,
                nerr == 1 ? "" : "s");
        json_object_put(in);
        return NULL;
    }
    struct control_conf *conf = cli_module_conf(cli, "control");
    char sock[4096], url[512];
    if (!conf || admin_socket_path(cli->core.state_dir, conf->admin_socket, sock, sizeof sock)) {
        fprintf(stderr, "weft %s: no control configuration (is the control module installed?)\n", verb);
        json_object_put(in);
        return NULL;
    }
    snprintf(url, sizeof url, "http://weft/v1/%s", path);
    CURL *h = curl_easy_init();
    struct resp r = {0};
    long status = 0;
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    struct curl_slist *hs = NULL;
    if (in) {
        hs = curl_slist_append(hs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
        curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, json_object_to_json_string_ext(in, JSON_C_TO_STRING_PLAIN));
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    json_object_put(in);
    if (rc != CURLE_OK) {
        fprintf(stderr, "weft %s: cannot reach the control server at %s: %s (is `weft serve` running, and "
                        "may you use its socket?)\n", verb, sock, curl_easy_strerror(rc));
        free(r.p);
        return NULL;
    }
    struct json_object *o = r.p ? json_tokener_parse(r.p) : NULL;
    free(r.p);
    json_strip_controls(o); /* nodes' hostnames, OS, tags... came from the network: no terminal controls */
    struct json_object *e;
    if (!o || status != 200) {
        if (o && json_object_object_get_ex(o, "error", &e))
            fprintf(stderr, "weft %s: %s\n", verb, json_object_get_string(e));
        else
            fprintf(stderr, "weft %s: the server answered %ld\n", verb, status);
        json_object_put(o);
        return NULL;
    }
    return o;
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

static int has_flag(int *argc, char **argv, const char *flag)
{
    for (int i = 1; i < *argc; i++)
        if (!strcmp(argv[i], flag)) {
            memmove(argv + i, argv + i + 1, (size_t)(*argc - i) * sizeof *argv);
            (*argc)--;
            return 1;
        }
    return 0;
}

static const char *opt_value(int *argc, char **argv, const char *opt)
{
    size_t ol = strlen(opt);
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], opt) && i + 1 < *argc) {
            const char *v = argv[i + 1];
            memmove(argv + i, argv + i + 2, (size_t)(*argc - i - 1) * sizeof *argv);
            *argc -= 2;
            return v;
        }
        if (!strncmp(argv[i], opt, ol) && argv[i][ol] == '=') {
            const char *v = argv[i] + ol + 1;
            memmove(argv + i, argv + i + 1, (size_t)(*argc - i) * sizeof *argv);
            (*argc)--;
            return v;
        }
    }
    return NULL;
}

static int usage_err(const char *verb, const char *msg)
{
    fprintf(stderr, "weft %s: %s (weft %s --help)\n", verb, msg, verb);
    return 2;
}

/* ---- users ---- */

static int run_users(struct weft_cli *cli, int argc, char **argv)
{
    int json = has_flag(&argc, argv, "--json");
    int force = has_flag(&argc, argv, "--force");
    const char *sub = argc > 1 ? argv[1] : "list";
    struct json_object *in = json_object_new_object(), *o;
    if (!strcmp(sub, "list")) {
        json_object_put(in);
        if (!(o = call(cli, "users", "users", NULL)))
            return 1;
        if (json)
            return print_json(o);
        struct json_object *a;
        json_object_object_get_ex(o, "users", &a);
        printf("%-6s %-32s %-6s %s\n", "ID", "NAME", "NODES", "CREATED");
        for (size_t i = 0; a && i < json_object_array_length(a); i++) {
            struct json_object *u = json_object_array_get_idx(a, i);
            printf("%-6s %-32s %-6s %s\n", s(u, "id"), s(u, "name"), s(u, "nodes"), s(u, "created"));
        }
        json_object_put(o);
        return 0;
    }
    const char *path;
    if (!strcmp(sub, "create") && argc == 3) {
        path = "users/create";
    } else if (!strcmp(sub, "rename") && argc == 4) {
        path = "users/rename";
        json_object_object_add(in, "new_name", json_object_new_string(argv[3]));
    } else if (!strcmp(sub, "delete") && argc == 3) {
        path = "users/delete";
        json_object_object_add(in, "force", json_object_new_boolean(force));
    } else {
        json_object_put(in);
        return usage_err("users", "create NAME | list | rename NAME NEW | delete NAME [--force]");
    }
    json_object_object_add(in, "name", json_object_new_string(argv[2]));
    if (!(o = call(cli, "users", path, in)))
        return 1;
    if (json)
        return print_json(o);
    printf("user %s: %sd\n", argv[!strcmp(sub, "rename") ? 3 : 2], sub);
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
    int json = has_flag(&argc, argv, "--json");
    int reusable = has_flag(&argc, argv, "--reusable");
    int ephemeral = has_flag(&argc, argv, "--ephemeral");
    const char *user = opt_value(&argc, argv, "--user");
    const char *exp = opt_value(&argc, argv, "--expiration");
    const char *tags = opt_value(&argc, argv, "--tags");
    const char *sub = argc > 1 ? argv[1] : "list";
    struct json_object *o;
    if (!strcmp(sub, "list") && argc <= 2) {
        if (!(o = call(cli, "authkeys", "authkeys", NULL)))
            return 1;
        if (json)
            return print_json(o);
        struct json_object *a;
        json_object_object_get_ex(o, "authkeys", &a);
        printf("%-5s %-20s %-16s %-8s %-9s %-5s %-6s %-22s %s\n", "ID", "KEY", "USER", "REUSABLE", "EPHEMERAL",
               "USED", "USABLE", "EXPIRATION", "TAGS");
        for (size_t i = 0; a && i < json_object_array_length(a); i++) {
            struct json_object *k = json_object_array_get_idx(a, i);
            printf("%-5s %-20s %-16s %-8s %-9s %-5s %-6s %-22s %s\n", s(k, "id"), s(k, "prefix"), s(k, "user"),
                   s(k, "reusable"), s(k, "ephemeral"), s(k, "used"), s(k, "usable"), s(k, "expiration"),
                   s(k, "tags"));
        }
        json_object_put(o);
        return 0;
    }
    if (!strcmp(sub, "create") && argc == 2) {
        if (!user)
            return usage_err("authkeys", "create needs --user USER");
        struct json_object *in = json_object_new_object();
        json_object_object_add(in, "user", json_object_new_string(user));
        json_object_object_add(in, "reusable", json_object_new_boolean(reusable));
        json_object_object_add(in, "ephemeral", json_object_new_boolean(ephemeral));
        if (exp) {
            long long d = parse_duration(exp);
            if (d < 0) {
                json_object_put(in);
                return usage_err("authkeys", "--expiration wants a duration like 24h, 90m, 7d");
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
        if (!(o = call(cli, "authkeys", "authkeys/create", in)))
            return 1;
        if (json)
            return print_json(o);
        printf("pre-auth key %s for %s (%s%s); shown once:\n%s\n", s(o, "id"), user,
               reusable ? "reusable" : "single use", ephemeral ? ", ephemeral nodes" : "", s(o, "key"));
        json_object_put(o);
        return 0;
    }
    if (!strcmp(sub, "expire") && argc == 3) {
        char *e;
        long long id = strtoll(argv[2], &e, 10);
        if (*e || id <= 0)
            return usage_err("authkeys", "expire takes the key's ID (weft authkeys list)");
        struct json_object *in = json_object_new_object();
        json_object_object_add(in, "id", json_object_new_int64(id));
        if (!(o = call(cli, "authkeys", "authkeys/expire", in)))
            return 1;
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

static int run_nodes(struct weft_cli *cli, int argc, char **argv)
{
    int json = has_flag(&argc, argv, "--json");
    const char *user = opt_value(&argc, argv, "--user");
    const char *sub = argc > 1 ? argv[1] : "list";
    struct json_object *o, *in;
    if (!strcmp(sub, "list") && argc <= 2) {
        if (!(o = call(cli, "nodes", "nodes", NULL)))
            return 1;
        if (json)
            return print_json(o);
        struct json_object *a;
        json_object_object_get_ex(o, "nodes", &a);
        node_head();
        for (size_t i = 0; a && i < json_object_array_length(a); i++)
            node_row(json_object_array_get_idx(a, i));
        json_object_put(o);
        return 0;
    }
    in = json_object_new_object();
    const char *path;
    if (!strcmp(sub, "register") && argc == 3) {
        if (!user) {
            json_object_put(in);
            return usage_err("nodes", "register needs --user USER");
        }
        path = "nodes/register";
        json_object_object_add(in, "user", json_object_new_string(user));
        json_object_object_add(in, "authid", json_object_new_string(argv[2]));
    } else if (!strcmp(sub, "expire") && argc == 3) {
        path = "nodes/expire";
    } else if (!strcmp(sub, "rename") && argc == 4) {
        path = "nodes/rename";
        json_object_object_add(in, "name", json_object_new_string(argv[3]));
    } else if (!strcmp(sub, "delete") && argc == 3) {
        path = "nodes/delete";
    } else {
        json_object_put(in);
        return usage_err("nodes", "list | register --user U AUTHID | expire NODE | rename NODE NAME | "
                                  "delete NODE");
    }
    if (strcmp(sub, "register"))
        json_object_object_add(in, "node", json_object_new_string(argv[2]));
    if (!(o = call(cli, "nodes", path, in)))
        return 1;
    if (json)
        return print_json(o);
    if (!strcmp(sub, "delete")) {
        printf("node %s deleted\n", argv[2]);
    } else {
        node_head();
        node_row(o);
    }
    json_object_put(o);
    return 0;
}

const struct weft_verb control_verbs[] = {
    {"users", "manage users of the running control server",
     "usage: weft users create NAME\n"
     "       weft users list [--json]\n"
     "       weft users rename NAME NEWNAME\n"
     "       weft users delete NAME [--force]   (--force also deletes the user's nodes and keys)\n"
     "Talks to the running server through its admin socket (state_dir/control.admin_socket); takes the\n"
     "same -c FILE and -o key=value as weft serve to find it.\n",
     run_users},
    {"authkeys", "manage pre-auth keys of the running control server",
     "usage: weft authkeys create --user USER [--reusable] [--ephemeral] [--expiration 24h]\n"
     "                            [--tags tag:a,tag:b] [--json]\n"
     "       weft authkeys list [--json]\n"
     "       weft authkeys expire ID\n"
     "create prints the key on its last line (it is shown only once).\n",
     run_authkeys},
    {"nodes", "list and manage nodes of the running control server",
     "usage: weft nodes list [--json]\n"
     "       weft nodes register --user USER AUTHID   (approve an interactive login; AUTHID or its URL)\n"
     "       weft nodes expire NODE\n"
     "       weft nodes rename NODE NEWNAME\n"
     "       weft nodes delete NODE\n"
     "NODE is a node's ID or name.\n",
     run_nodes},
    {NULL, NULL, NULL, NULL},
};
