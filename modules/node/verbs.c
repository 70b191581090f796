// SPDX-License-Identifier: BSD-3-Clause
/* The node's CLI verbs: `weft up|down|logout|status|ip|ping|netcheck`, clients of the daemon's local API
 * (localapi.h) over its unix socket. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/cli_args.h"
#include "core/cli_http.h"
#include "core/text.h"
#include "core/module.h"
#include "modules/node/localapi.h"
#include "modules/node/node.h"

/* Every string in the daemon's answers may have come from the network (peers' hostnames and OS, control's
 * messages): parse, then strip terminal controls before anything is printed. */
static struct json_object *parse_answer(const char *text)
{
    struct json_object *o = json_tokener_parse(text);
    json_strip_controls(o);
    return o;
}

/* ---- talking to the daemon ---- */

struct call {
    const char *verb;
    char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
    /* the body, or NDJSON lines handed to on_line as they come */
    char *buf;
    size_t len, cap;
    int (*on_line)(struct call *c, struct json_object *o); /* each line of a streamed answer */
    int result;
};

static int resolve_socket(struct weft_cli *cli, const char *given, char *out, size_t cap)
{
    if (given)
        return lapi_socket_path(".", given, out, cap);
    const char *env = getenv("WEFT_NODE_SOCKET");
    if (env && *env)
        return lapi_socket_path(".", env, out, cap);
    cli_load_modules(cli);
    const char *sock = NULL, *state = ".";
    /* a broken config file must not keep the CLI from the default socket: errors are the daemon's */
    FILE *saved = stderr;
    FILE *null = fopen("/dev/null", "w");
    if (null)
        stderr = null;
    size_t errs = cli_load_config(cli);
    if (null) {
        stderr = saved;
        fclose(null);
    }
    if (!errs) {
        struct node_conf *nc = cli_module_conf(cli, "node");
        if (nc)
            sock = nc->socket;
        if (cli->core.state_dir)
            state = cli->core.state_dir;
    }
    return lapi_socket_path(state, sock, out, cap);
}

/* Body bytes as they come: kept whole, or cut into NDJSON lines for on_line. */
static int on_body(void *arg, const char *data, size_t n)
{
    struct call *c = arg;
    if (c->len + n + 1 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        while (cap < c->len + n + 1)
            cap *= 2;
        char *p = realloc(c->buf, cap);
        if (!p)
            return -1;
        c->buf = p;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = 0;
    if (!c->on_line)
        return 0;
    char *nl;
    while ((nl = memchr(c->buf, '\n', c->len))) {
        *nl = 0;
        struct json_object *o = parse_answer(c->buf);
        size_t used = (size_t)(nl - c->buf) + 1;
        memmove(c->buf, nl + 1, c->len - used);
        c->len -= used;
        c->buf[c->len] = 0;
        if (o)
            c->on_line(c, o);
        json_object_put(o);
    }
    return 0;
}

/* One request over the unix socket; the body (if not streamed) in c->buf. 0, or -1 with the error printed.
 */
static int call(struct call *c, const char *method, const char *path, const char *body)
{
    struct cli_http_req q = {.sock = c->sock, .method = method, .path = path, .host = "weft-node", .body = body,
                             .body_len = body ? strlen(body) : 0, .on_body = on_body, .arg = c};
    int status, cerr;
    char err[PATH_MAX + 128];
    int rc = cli_http(&q, &status, &cerr, err, sizeof err);
    if (rc == CLI_HTTP_CONNECT) {
        char why[PATH_MAX + 512];
        enum cli_socket_problem p = cli_socket_problem(c->sock, cerr, why, sizeof why);
        fprintf(stderr, "weft %s: cannot reach the node daemon: %s\n", c->verb, why);
        if (p == CLI_SOCK_MISSING || p == CLI_SOCK_DEAD)
            fprintf(stderr, "Is it running? Start it with `systemctl start weft@node` (or `weft serve node`); "
                            "name another socket with --socket PATH.\n");
        else if (p == CLI_SOCK_DENIED)
            fprintf(stderr, "(node.socket_group names the group allowed to use it)\n");
        return -1;
    }
    if (rc != CLI_HTTP_OK) {
        fprintf(stderr, "weft %s: %s\n", c->verb, err);
        return -1;
    }
    if (status != 200 && !c->on_line) {
        struct json_object *o = c->buf ? parse_answer(c->buf) : NULL;
        struct json_object *e;
        if (o && json_object_object_get_ex(o, "Error", &e))
            fprintf(stderr, "weft %s: %s\n", c->verb, json_object_get_string(e));
        else
            fprintf(stderr, "weft %s: the daemon answered %d\n", c->verb, status);
        json_object_put(o);
        return -1;
    }
    return 0;
}

static struct json_object *call_json(struct call *c, const char *method, const char *path, const char *body)
{
    if (call(c, method, path, body))
        return NULL;
    struct json_object *o = c->buf ? parse_answer(c->buf) : NULL;
    if (!o)
        fprintf(stderr, "weft %s: the daemon's answer is not JSON\n", c->verb);
    return o;
}

static const char *get_str(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
        return "";
    return json_object_get_string(v);
}

static int64_t get_int(struct json_object *o, const char *k)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

/* The daemon's error answer: print it, return the exit status (1), or 0 if it is no error. */
static int answer_error(const struct call *c, struct json_object *o)
{
    const char *e = get_str(o, "Error");
    if (!*e)
        return 0;
    fprintf(stderr, "weft %s: %s\n", c->verb, e);
    return 1;
}

static void call_init(struct call *c, const char *verb)
{
    memset(c, 0, sizeof *c);
    c->verb = verb;
}

static int prepare(struct weft_cli *cli, struct call *c, const char *sock)
{
    if (resolve_socket(cli, sock, c->sock, sizeof c->sock)) {
        fprintf(stderr, "weft %s: the socket path is too long\n", c->verb);
        return -1;
    }
    return 0;
}

static void call_done(struct call *c)
{
    free(c->buf);
}

/* ---- up ---- */

static const char usage_up[] =
    "usage: weft up [--login-server URL] [--authkey KEY] [--hostname NAME] [--accept-dns[=BOOL]]\n"
    "               [--timeout SECONDS] [--socket PATH]\n"
    "               [--advertise-routes CIDR,...] [--advertise-exit-node[=false]] [--snat-subnet-routes=false]\n"
    "               [--accept-routes[=false]] [--exit-node PEER] [--exit-node-allow-lan-access[=false]]\n"
    "\n"
    "Connect this node to its tailnet: log in to the control server (with a pre-auth key, or\n"
    "interactively: the login URL is printed and `up` waits until it is visited), then bring up the\n"
    "TUN interface and WireGuard to the peers. The login server and hostname are remembered.\n"
    "\n"
    "  --login-server URL  the control server (default: the last one, or node.login_server)\n"
    "  --authkey KEY       a pre-auth key (`weft authkeys create` on the server)\n"
    "  --hostname NAME     the name to register (default: node.hostname, else the system's)\n"
    "  --accept-dns[=BOOL] point this machine's resolver at MagicDNS (100.100.100.100) with the\n"
    "                      control server's DNS settings (default true, remembered; see `weft dns status`)\n"
    "  --timeout SECONDS   how long to wait for Running (default 60)\n"
    "  --advertise-routes CIDR,...  offer these subnets to the tailnet (\"\" withdraws them); an admin\n"
    "                      approves them on the server (weft nodes approve-routes)\n"
    "  --advertise-exit-node  offer this node as an exit node (0.0.0.0/0 and ::/0)\n"
    "  --snat-subnet-routes=false  the LAN sees tailnet source addresses (it needs a route back)\n"
    "  --accept-routes     use the subnet routes other nodes offer\n"
    "  --exit-node PEER    send internet traffic through PEER (a name or tailnet address; \"\" stops)\n"
    "  --exit-node-allow-lan-access  with an exit node, keep the local LAN reachable directly\n"
    "Routing flags not given keep their last value.\n"
    "  --socket PATH       the daemon's socket (default: node.socket, /run/weft/node.sock)\n";

static int up_line(struct call *c, struct json_object *o)
{
    const char *url = get_str(o, "AuthURL");
    if (*url) {
        printf("\nTo authenticate, visit:\n\n\t%s\n\n", url);
        fflush(stdout);
        return 0;
    }
    const char *err = get_str(o, "Error");
    if (*err) {
        fprintf(stderr, "weft up: %s\n", err);
        c->result = 1;
        return 1;
    }
    if (strcmp(get_str(o, "State"), "Running") == 0) {
        c->result = 0;
        return 1;
    }
    return 0;
}

static int verb_up(struct weft_cli *cli, int argc, char **argv)
{
    const char *sock = NULL, *server = NULL, *authkey = NULL, *hostname = NULL, *timeout = NULL, *pos[1];
    const char *adv = NULL, *exit_node = NULL;
    int adv_exit = -1, snat = -1, accept = -1, lan = -1;
    int accept_dns = -1;
    /* --accept-dns[=BOOL] (a flag that may take a value) is taken out before the strict parser */
    char *args[argc + 1];
    int nargs = 0;
    for (int i = 0; i < argc; i++) {
        if (i && strcmp(argv[i], "--accept-dns") == 0) {
            accept_dns = 1;
        } else if (i && strncmp(argv[i], "--accept-dns=", 13) == 0) {
            if (cfg_parse_bool(argv[i] + 13, &accept_dns)) {
                fprintf(stderr, "weft up: --accept-dns wants true or false, not '%s'\n", argv[i] + 13);
                return 2;
            }
        } else {
            args[nargs++] = argv[i];
        }
    }
    args[nargs] = NULL;
    const struct cli_opt opts[] = {CLI_OPT_VALUE("--socket", &sock),       CLI_OPT_VALUE("--login-server", &server),
                                   CLI_OPT_VALUE("--authkey", &authkey),   CLI_OPT_VALUE("--hostname", &hostname),
                                   CLI_OPT_VALUE("--timeout", &timeout),
                                   CLI_OPT_VALUE("--advertise-routes", &adv),
                                   CLI_OPT_BOOL("--advertise-exit-node", &adv_exit),
                                   CLI_OPT_BOOL("--snat-subnet-routes", &snat),
                                   CLI_OPT_BOOL("--accept-routes", &accept),
                                   CLI_OPT_VALUE("--exit-node", &exit_node),
                                   CLI_OPT_BOOL("--exit-node-allow-lan-access", &lan),
                                   CLI_OPT_END};
    int npos;
    long long tmo = 0;
    if (cli_args("up", nargs, args, opts, pos, 0, &npos) ||
        (timeout && cli_int("up", "--timeout", timeout, 1, 86400, &tmo)))
        return 2;
    if (authkey && strncmp(authkey, "file:", 5) == 0) { /* keep keys out of `ps`: --authkey file:PATH */
        static char kbuf[512];
        FILE *f = fopen(authkey + 5, "r");
        if (!f || !fgets(kbuf, sizeof kbuf, f)) {
            fprintf(stderr, "weft up: cannot read the auth key from %s\n", authkey + 5);
            if (f)
                fclose(f);
            return 1;
        }
        fclose(f);
        kbuf[strcspn(kbuf, "\r\n")] = 0;
        authkey = kbuf;
    }
    struct call c;
    call_init(&c, "up");
    if (prepare(cli, &c, sock))
        return 1;
    struct json_object *o = json_object_new_object();
    if (server)
        json_object_object_add(o, "LoginServer", json_object_new_string(server));
    if (authkey)
        json_object_object_add(o, "AuthKey", json_object_new_string(authkey));
    if (hostname)
        json_object_object_add(o, "Hostname", json_object_new_string(hostname));
    if (timeout)
        json_object_object_add(o, "Timeout", json_object_new_int64(tmo));
    if (adv)
        json_object_object_add(o, "AdvertiseRoutes", json_object_new_string(adv));
    if (exit_node)
        json_object_object_add(o, "ExitNode", json_object_new_string(exit_node));
    const struct {
        const char *k;
        int v;
    } bools[] = {{"AdvertiseExitNode", adv_exit},
                 {"SNATSubnetRoutes", snat},
                 {"AcceptRoutes", accept},
                 {"ExitNodeAllowLANAccess", lan}};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
        if (bools[i].v >= 0)
            json_object_object_add(o, bools[i].k, json_object_new_boolean(bools[i].v));
    if (accept_dns >= 0)
        json_object_object_add(o, "AcceptDNS", json_object_new_boolean(accept_dns));
    c.on_line = up_line;
    c.result = -1;
    int rc = call(&c, "POST", "/v1/up", json_object_to_json_string(o));
    json_object_put(o);
    if (rc == 0 && c.result < 0 && c.len) { /* an answer that was not a stream: an error */
        struct json_object *e = parse_answer(c.buf);
        c.result = e ? answer_error(&c, e) : 1;
        json_object_put(e);
    }
    int result = rc ? 1 : c.result < 0 ? 1 : c.result;
    if (rc == 0 && c.result < 0 && !c.len)
        fprintf(stderr, "weft up: the daemon closed the connection\n");
    call_done(&c);
    return result;
}

/* ---- down, logout ---- */

static const char usage_down[] =
    "usage: weft down [--socket PATH]\n"
    "\n"
    "Disconnect from the tailnet: the map stream and relay connections close (peers see this node\n"
    "offline), addresses and routes are removed. The node stays logged in; `weft up` reconnects.\n";

static const char usage_logout[] =
    "usage: weft logout [--socket PATH]\n"
    "\n"
    "Log out: control expires this node's key (peers see it go), the daemon disconnects and forgets\n"
    "the key. Logging in again makes a new node.\n";

static int simple_verb(struct weft_cli *cli, int argc, char **argv, const char *verb, const char *usage,
                       const char *path)
{
    const char *sock = NULL, *pos[1];
    const struct cli_opt opts[] = {CLI_OPT_VALUE("--socket", &sock), CLI_OPT_END};
    int npos;
    (void)usage;
    if (cli_args(verb, argc, argv, opts, pos, 0, &npos))
        return 2;
    struct call c;
    call_init(&c, verb);
    if (prepare(cli, &c, sock))
        return 1;
    struct json_object *o = call_json(&c, "POST", path, "{}");
    int rc = o ? answer_error(&c, o) : 1;
    json_object_put(o);
    call_done(&c);
    return rc;
}

static int verb_down(struct weft_cli *cli, int argc, char **argv)
{
    return simple_verb(cli, argc, argv, "down", usage_down, "/v1/down");
}

static int verb_logout(struct weft_cli *cli, int argc, char **argv)
{
    return simple_verb(cli, argc, argv, "logout", usage_logout, "/v1/logout");
}

/* ---- status ---- */

static const char usage_status[] =
    "usage: weft status [--json] [--socket PATH]\n"
    "\n"
    "The node's state, and one line per peer: its tailnet address, name, OS, whether control sees it\n"
    "online, how it is reached (relay region, or direct), the last WireGuard handshake, bytes in/out.\n"
    "--json prints the daemon's answer as is.\n";

static void human_bytes(uint64_t v, char *buf, size_t cap)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double d = (double)v;
    int i = 0;
    while (d >= 1024 && i < 4) {
        d /= 1024;
        i++;
    }
    snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", d, u[i]);
}

static void ago(int64_t t, char *buf, size_t cap)
{
    if (!t) {
        snprintf(buf, cap, "never");
        return;
    }
    int64_t s = (int64_t)time(NULL) - t;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(buf, cap, "%llds ago", (long long)s);
    else if (s < 7200)
        snprintf(buf, cap, "%lldm ago", (long long)(s / 60));
    else
        snprintf(buf, cap, "%lldh ago", (long long)(s / 3600));
}

static const char *first_addr(struct json_object *node, int family)
{
    struct json_object *a;
    if (!json_object_object_get_ex(node, "Addresses", &a) || !json_object_is_type(a, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(a, i));
        int v6 = strchr(s, ':') != NULL;
        if (!family || (family == 6) == v6)
            return s;
    }
    return NULL;
}

static void short_name(const char *fqdn, const char *host, char *buf, size_t cap)
{
    const char *n = fqdn && *fqdn ? fqdn : host ? host : "";
    size_t l = strcspn(n, ".");
    if (l >= cap)
        l = cap - 1;
    memcpy(buf, n, l);
    buf[l] = 0;
}

/* "a, b, c" of a JSON array of strings into buf ("" when empty) */
static const char *join_arr(struct json_object *a, char *buf, size_t cap)
{
    size_t l = 0;
    buf[0] = 0;
    size_t n = a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
    for (size_t i = 0; i < n && l < cap; i++)
        l += (size_t)snprintf(buf + l, cap - l, "%s%s", i ? ", " : "",
                              json_object_get_string(json_object_array_get_idx(a, i)));
    return buf;
}

/* Routes offered, accepted and the exit node in use, as comment lines after the table. */
static void status_routes(struct json_object *o, struct json_object *self, struct json_object *peers, size_t np)
{
    struct json_object *r = json_object_object_get(o, "Routing");
    char buf[1024], name[128];
    if (!r)
        return;
    bool adv_exit = json_object_get_boolean(json_object_object_get(r, "AdvertiseExitNode"));
    join_arr(json_object_object_get(r, "AdvertiseRoutes"), buf, sizeof buf);
    if (*buf || adv_exit) {
        char appr[1024];
        join_arr(self ? json_object_object_get(self, "Routes") : NULL, appr, sizeof appr);
        printf("# offering: %s%s%s%s (routed to us: %s)\n", buf, *buf && adv_exit ? ", " : "",
               adv_exit ? "exit node" : "",
               json_object_get_boolean(json_object_object_get(r, "SNATSubnetRoutes")) ? "" : ", without SNAT",
               *appr ? appr : "none yet: an admin approves them");
    }
    bool accept = json_object_get_boolean(json_object_object_get(r, "AcceptRoutes"));
    for (size_t i = 0; i < np; i++) {
        struct json_object *p = json_object_array_get_idx(peers, i);
        join_arr(json_object_object_get(p, "Routes"), buf, sizeof buf);
        if (!*buf)
            continue;
        short_name(get_str(p, "Name"), get_str(p, "HostName"), name, sizeof name);
        printf("# %s offers %s%s\n", name, buf,
               json_object_get_boolean(json_object_object_get(p, "ExitNode")) ? " (our exit node)"
               : accept                                                       ? " (accepted)"
                                                                              : "");
    }
    const char *ex = get_str(r, "ExitNode");
    if (*ex)
        printf("# exit node: %s%s%s\n", ex, get_int(r, "ExitNodeID") ? "" : " (not in use: not found or not an exit node)",
               json_object_get_boolean(json_object_object_get(r, "ExitNodeAllowLANAccess")) ? ", LAN access allowed" : "");
}

static int verb_status(struct weft_cli *cli, int argc, char **argv)
{
    const char *sock = NULL, *pos[1];
    int json = 0, npos;
    const struct cli_opt opts[] = {CLI_OPT_VALUE("--socket", &sock), CLI_OPT_FLAG("--json", &json), CLI_OPT_END};
    if (cli_args("status", argc, argv, opts, pos, 0, &npos))
        return 2;
    struct call c;
    call_init(&c, "status");
    if (prepare(cli, &c, sock))
        return 1;
    struct json_object *o = call_json(&c, "GET", "/v1/status", NULL);
    if (!o) {
        call_done(&c);
        return 1;
    }
    if (json) {
        printf("%s\n",
               json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        call_done(&c);
        return 0;
    }
    const char *state = get_str(o, "State");
    printf("# %s", state);
    if (*get_str(o, "LoginServer"))
        printf(", login server %s (%s)", get_str(o, "LoginServer"),
               json_object_get_boolean(json_object_object_get(o, "ControlConnected")) ? "connected"
                                                                                      : "not connected");
    if (get_int(o, "HomeDERP"))
        printf(", home relay %lld (%s)", (long long)get_int(o, "HomeDERP"),
               json_object_get_boolean(json_object_object_get(o, "HomeDERPConnected")) ? "connected"
                                                                                       : "not connected");
    printf("\n");
    if (*get_str(o, "Error"))
        printf("# %s\n", get_str(o, "Error"));
    if (*get_str(o, "AuthURL"))
        printf("# log in at: %s\n", get_str(o, "AuthURL"));
    /* what to do next, in words (a bare state name told a new user nothing) */
    if (!strcmp(state, "NoState"))
        printf("# not logged in to a tailnet yet: weft up --login-server=URL [--authkey=KEY]\n");
    else if (!strcmp(state, "Stopped"))
        printf("# disconnected (weft down): weft up connects again\n");
    else if (!strcmp(state, "NeedsLogin") && !*get_str(o, "AuthURL"))
        printf("# needs a login: weft up [--authkey=KEY]\n");
    else if (!strcmp(state, "Starting"))
        printf("# logged in, waiting for the first network map from the control server\n");
    struct json_object *dns = json_object_object_get(o, "DNS");
    if (dns && json_object_get_boolean(json_object_object_get(dns, "Running"))) {
        struct json_object *os = json_object_object_get(dns, "OS");
        printf("# MagicDNS %s%s%s, system resolver: %s\n",
               json_object_get_boolean(json_object_object_get(dns, "MagicDNS")) ? "on" : "off",
               *get_str(dns, "Suffix") ? ", names under " : "", get_str(dns, "Suffix"),
               !json_object_get_boolean(json_object_object_get(dns, "AcceptDNS")) ? "not changed (--accept-dns=false)"
               : os                                                            ? get_str(os, "Mode")
                                                                               : "-");
    }
    struct json_object *self = json_object_object_get(o, "Self");
    const char *a4 = self ? first_addr(self, 4) : NULL;
    char name[128];
    if (self && a4) {
        short_name(get_str(self, "Name"), get_str(self, "HostName"), name, sizeof name);
        printf("%-16s %-20s %-8s %s\n", a4, name, "linux", "self");
    }
    struct json_object *peers = json_object_object_get(o, "Peers");
    size_t np = peers && json_object_is_type(peers, json_type_array) ? json_object_array_length(peers) : 0;
    for (size_t i = 0; i < np; i++) {
        struct json_object *p = json_object_array_get_idx(peers, i);
        const char *a = first_addr(p, 4);
        if (!a)
            a = first_addr(p, 6);
        short_name(get_str(p, "Name"), get_str(p, "HostName"), name, sizeof name);
        struct json_object *on = json_object_object_get(p, "Online");
        const char *online = json_object_get_boolean(json_object_object_get(p, "Expired")) ? "expired"
                             : !on || json_object_is_type(on, json_type_null)              ? "-"
                             : json_object_get_boolean(on)                                 ? "online"
                                                                                           : "offline";
        char how[96], hs[32], rx[32], tx[32];
        if (*get_str(p, "Direct"))
            snprintf(how, sizeof how, "direct %s", get_str(p, "Direct"));
        else if (get_int(p, "RelayRegion"))
            snprintf(how, sizeof how, "relay \"%s\" (%lld)", get_str(p, "Relay"),
                     (long long)get_int(p, "RelayRegion"));
        else
            snprintf(how, sizeof how, "no path");
        ago(get_int(p, "LastHandshake"), hs, sizeof hs);
        human_bytes((uint64_t)get_int(p, "RxBytes"), rx, sizeof rx);
        human_bytes((uint64_t)get_int(p, "TxBytes"), tx, sizeof tx);
        printf("%-16s %-20s %-8s %-8s %s, handshake %s, rx %s, tx %s\n", a ? a : "-", name,
               *get_str(p, "OS") ? get_str(p, "OS") : "-", online, how, hs, rx, tx);
    }
    if (!strcmp(state, "Running") && np == 0)
        printf("# no peers yet: the other nodes of the tailnet appear here as they join\n");
    status_routes(o, self, peers, np);
    int rc = strcmp(state, "Running") == 0 ? 0 : 1;
    json_object_put(o);
    call_done(&c);
    return rc;
}

/* ---- ip ---- */

static const char usage_ip[] =
    "usage: weft ip [-4|-6] [PEER] [--socket PATH]\n"
    "\n"
    "This node's tailnet addresses, or PEER's (a name, a hostname or an address); -4 or -6 prints\n"
    "only the first of that family.\n";

static int name_matches(struct json_object *p, const char *what)
{
    char n[128];
    short_name(get_str(p, "Name"), NULL, n, sizeof n);
    const char *fq = get_str(p, "Name");
    size_t wl = strlen(what), fl = strlen(fq);
    if (wl && what[wl - 1] == '.')
        wl--;
    if (fl && fq[fl - 1] == '.')
        fl--;
    if ((wl == fl && strncasecmp(fq, what, wl) == 0) || strcasecmp(n, what) == 0 ||
        strcasecmp(get_str(p, "HostName"), what) == 0)
        return 1;
    struct json_object *a = json_object_object_get(p, "Addresses");
    for (size_t i = 0; a && i < json_object_array_length(a); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(a, i)), what) == 0)
            return 1;
    return 0;
}

static int verb_ip(struct weft_cli *cli, int argc, char **argv)
{
    const char *sock = NULL, *peer = NULL, *pos[1];
    int v4 = 0, v6 = 0, npos;
    const struct cli_opt opts[] = {CLI_OPT_VALUE("--socket", &sock), CLI_OPT_FLAG("-4", &v4), CLI_OPT_FLAG("-6", &v6),
                                   CLI_OPT_END};
    if (cli_args("ip", argc, argv, opts, pos, 1, &npos))
        return 2;
    if (v4 && v6) {
        fprintf(stderr, "weft ip: -4 or -6, not both\n");
        return 2;
    }
    int family = v4 ? 4 : v6 ? 6 : 0;
    peer = npos ? pos[0] : NULL;
    struct call c;
    call_init(&c, "ip");
    if (prepare(cli, &c, sock))
        return 1;
    struct json_object *o = call_json(&c, "GET", "/v1/status", NULL);
    int rc = 1;
    if (!o)
        goto out;
    struct json_object *node = json_object_object_get(o, "Self");
    if (peer) {
        node = NULL;
        struct json_object *peers = json_object_object_get(o, "Peers");
        for (size_t i = 0; peers && i < json_object_array_length(peers); i++) {
            struct json_object *p = json_object_array_get_idx(peers, i);
            if (name_matches(p, peer)) {
                node = p;
                break;
            }
        }
        if (!node) {
            fprintf(stderr, "weft ip: no peer '%s' in the tailnet\n", peer);
            goto out;
        }
    }
    struct json_object *a = node ? json_object_object_get(node, "Addresses") : NULL;
    size_t na = a ? json_object_array_length(a) : 0;
    if (!na) {
        fprintf(stderr, "weft ip: no addresses yet (state %s)\n", get_str(o, "State"));
        goto out;
    }
    for (size_t i = 0; i < na; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(a, i));
        int is6 = strchr(s, ':') != NULL;
        if (family && (family == 6) != is6)
            continue;
        printf("%s\n", s);
        rc = 0;
        if (family)
            break;
    }
    if (rc)
        fprintf(stderr, "weft ip: no IPv%d address\n", family);
out:
    json_object_put(o);
    call_done(&c);
    return rc;
}

/* ---- ping ---- */

static const char usage_ping[] =
    "usage: weft ping [--count N] [--timeout SECONDS] [-4|-6] [--socket PATH] PEER\n"
    "\n"
    "Ping PEER (a name, hostname or tailnet address) through the tunnel with ICMP echo, printing the\n"
    "path the packets take (relay region, or direct) and the round-trip time. Without --count it stops at\n"
    "the first reply (at most 5 tries); with --count N it sends N. Exit status 0 if a reply came.\n";

static int verb_ping(struct weft_cli *cli, int argc, char **argv)
{
    const char *sock = NULL, *peer = NULL, *count = NULL, *timeout = NULL, *pos[1];
    int v4 = 0, v6 = 0, npos;
    const struct cli_opt opts[] = {CLI_OPT_VALUE("--socket", &sock), CLI_OPT_VALUE("--count", &count),
                                   CLI_OPT_VALUE("--timeout", &timeout), CLI_OPT_FLAG("-4", &v4),
                                   CLI_OPT_FLAG("-6", &v6), CLI_OPT_END};
    long long cnt = 5, to = 3;
    if (cli_args("ping", argc, argv, opts, pos, 1, &npos) ||
        (count && cli_int("ping", "--count", count, 1, 1000000, &cnt)) ||
        (timeout && cli_int("ping", "--timeout", timeout, 1, 3600, &to)))
        return 2;
    if (v4 && v6) {
        fprintf(stderr, "weft ping: -4 or -6, not both\n");
        return 2;
    }
    int family = v4 ? 4 : v6 ? 6 : 0;
    if (!npos) {
        fprintf(stderr, "%s", usage_ping);
        return 2;
    }
    peer = pos[0];
    int n = (int)cnt;
    int until_reply = !count;
    struct call c;
    call_init(&c, "ping");
    if (prepare(cli, &c, sock))
        return 1;
    int replies = 0, fatal = 0;
    for (int i = 0; i < n && !fatal; i++) {
        struct json_object *rq = json_object_new_object();
        json_object_object_add(rq, "Peer", json_object_new_string(peer));
        json_object_object_add(rq, "Timeout", json_object_new_int64(to));
        if (family)
            json_object_object_add(rq, "Family", json_object_new_int(family));
        c.len = 0;
        struct json_object *o = call_json(&c, "POST", "/v1/ping", json_object_to_json_string(rq));
        json_object_put(rq);
        if (!o) {
            fatal = 1;
            break;
        }
        const char *err = get_str(o, "Error");
        if (*err) {
            fprintf(stderr, "weft ping: %s\n", err);
            if (strcmp(get_str(o, "Kind"), "timeout") != 0)
                fatal = 1;
        } else {
            printf("pong from %s (%s) via %s in %.2fms\n", get_str(o, "Peer"), get_str(o, "IP"),
                   get_str(o, "Path"), json_object_get_double(json_object_object_get(o, "RTTms")));
            fflush(stdout);
            replies++;
        }
        json_object_put(o);
        if (replies && until_reply)
            break;
        if (i + 1 < n && !fatal && replies)
            usleep(1000 * 1000);
    }
    call_done(&c);
    return replies ? 0 : 1;
}

/* ---- netcheck ---- */

static const char usage_netcheck[] =
    "usage: weft netcheck [--json] [--socket PATH]\n"
    "\n"
    "Check this node's network as its peers see it (a fresh netcheck by the daemon, from its WireGuard\n"
    "socket): whether UDP works, its public IPv4 and IPv6 address:port (STUN), whether its NAT maps each\n"
    "destination differently (a \"hard\" NAT: direct paths need the other side open), which port-mapping\n"
    "protocols its gateway speaks, and the latency to each DERP region with the nearest one.\n";

static const char *tri(struct json_object *o, const char *k, const char *yes, const char *no)
{
    const char *v = get_str(o, k);
    return !strcmp(v, "true") ? yes : !strcmp(v, "false") ? no : "(unknown)";
}

static int verb_netcheck(struct weft_cli *cli, int argc, char **argv)
{
    const char *sock = NULL, *pos[1];
    int json = 0, npos;
    const struct cli_opt opts[] = {CLI_OPT_VALUE("--socket", &sock), CLI_OPT_FLAG("--json", &json), CLI_OPT_END};
    if (cli_args("netcheck", argc, argv, opts, pos, 0, &npos))
        return 2;
    struct call c;
    call_init(&c, "netcheck");
    if (prepare(cli, &c, sock))
        return 1;
    struct json_object *o = call_json(&c, "POST", "/v1/netcheck", "{}");
    if (!o) {
        call_done(&c);
        return 1;
    }
    int rc = 0;
    if (*get_str(o, "Error")) {
        fprintf(stderr, "weft netcheck: %s\n", get_str(o, "Error"));
        rc = 1;
    } else if (json) {
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        struct json_object *lat = json_object_object_get(o, "RegionLatency");
        int64_t pref = get_int(o, "PreferredDERP");
        const char *nearest = "";
        for (size_t i = 0; lat && i < json_object_array_length(lat); i++) {
            struct json_object *r = json_object_array_get_idx(lat, i);
            if (get_int(r, "Region") == pref)
                nearest = *get_str(r, "Name") ? get_str(r, "Name") : get_str(r, "Code");
        }
        printf("Report:\n");
        printf("\t* UDP: %s\n", json_object_get_boolean(json_object_object_get(o, "UDP")) ? "true" : "false");
        printf("\t* IPv4: %s%s\n", *get_str(o, "IPv4") ? "yes, " : "(no addr found)", get_str(o, "IPv4"));
        if (*get_str(o, "IPv6"))
            printf("\t* IPv6: yes, %s\n", get_str(o, "IPv6"));
        else
            printf("\t* IPv6: no, %s\n", json_object_get_boolean(json_object_object_get(o, "OSHasIPv6"))
                                                ? "but OS has support"
                                                : "unavailable in OS");
        printf("\t* MappingVariesByDestIP: %s\n", tri(o, "MappingVariesByDestIP", "true", "false"));
        char pm[64] = "";
        if (!strcmp(get_str(o, "UPnP"), "true"))
            strcat(pm, "UPnP");
        if (!strcmp(get_str(o, "PMP"), "true"))
            strcat(pm, *pm ? ", NAT-PMP" : "NAT-PMP");
        if (!strcmp(get_str(o, "PCP"), "true"))
            strcat(pm, *pm ? ", PCP" : "PCP");
        int checked = *get_str(o, "UPnP") || *get_str(o, "PMP") || *get_str(o, "PCP");
        printf("\t* PortMapping: %s\n", *pm ? pm : checked ? "none" : "(not checked)");
        printf("\t* Nearest DERP: %s\n", *nearest ? nearest : "(none)");
        printf("\t* DERP latency:\n");
        for (size_t i = 0; lat && i < json_object_array_length(lat); i++) {
            struct json_object *r = json_object_array_get_idx(lat, i);
            double v4 = json_object_get_double(json_object_object_get(r, "V4ms"));
            double v6 = json_object_get_double(json_object_object_get(r, "V6ms"));
            double best = !v4 ? v6 : !v6 ? v4 : v4 < v6 ? v4 : v6;
            char ms[32];
            if (best > 0)
                snprintf(ms, sizeof ms, "%.1fms", best);
            else
                snprintf(ms, sizeof ms, "-");
            printf("\t\t- %s: %-8s (%s)\n", get_str(r, "Code"), ms, get_str(r, "Name"));
        }
    }
    json_object_put(o);
    call_done(&c);
    return rc;
}

/* ---- dns ---- */

static const char usage_dns[] =
    "usage: weft dns status [--json] [--socket PATH]\n"
    "\n"
    "MagicDNS on this node: the resolver at 100.100.100.100 (the names it answers, the split-DNS routes\n"
    "and upstream resolvers control sent, its counters) and what the system resolver was told\n"
    "(systemd-resolved, resolvconf, /etc/resolv.conf rewritten, or left alone and why).\n";

static void print_list(const char *label, struct json_object *a)
{
    size_t n = a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
    printf("%-22s", label);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(a, i)));
    printf("%s\n", n ? "" : "-");
}

static int verb_dns(struct weft_cli *cli, int argc, char **argv)
{
    const char *sock = NULL, *pos[1];
    int json = 0, npos;
    const struct cli_opt opts[] = {CLI_OPT_VALUE("--socket", &sock), CLI_OPT_FLAG("--json", &json), CLI_OPT_END};
    if (cli_args("dns", argc, argv, opts, pos, 1, &npos))
        return 2;
    if (npos != 1 || strcmp(pos[0], "status")) {
        fprintf(stderr, "%s", usage_dns);
        return 2;
    }
    struct call c;
    call_init(&c, "dns");
    if (prepare(cli, &c, sock))
        return 1;
    struct json_object *o = call_json(&c, "GET", "/v1/status", NULL);
    if (!o) {
        call_done(&c);
        return 1;
    }
    struct json_object *d = json_object_object_get(o, "DNS");
    if (!d) {
        fprintf(stderr, "weft dns: the daemon says nothing about DNS\n");
        json_object_put(o);
        call_done(&c);
        return 1;
    }
    if (json) {
        printf("%s\n",
               json_object_to_json_string_ext(d, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        bool running = json_object_get_boolean(json_object_object_get(d, "Running"));
        printf("%-22s%s\n", "resolver", running ? "100.100.100.100, fd7a:115c:a1e0::53" : "not running (down)");
        if (running) {
            printf("%-22s%s\n", "MagicDNS",
                   json_object_get_boolean(json_object_object_get(d, "MagicDNS")) ? "on" : "off");
            printf("%-22s%s\n", "suffix", *get_str(d, "Suffix") ? get_str(d, "Suffix") : "-");
            printf("%-22s%lld names, %lld extra records\n", "names", (long long)get_int(d, "Names"),
                   (long long)get_int(d, "ExtraRecords"));
            print_list("search domains", json_object_object_get(d, "SearchDomains"));
            print_list("resolvers", json_object_object_get(d, "Resolvers"));
            print_list("fallback resolvers", json_object_object_get(d, "FallbackResolvers"));
            print_list("system's resolvers", json_object_object_get(d, "OSResolvers"));
            struct json_object *routes = json_object_object_get(d, "Routes");
            size_t nlocal = 0;
            if (routes && json_object_is_type(routes, json_type_object)) {
                json_object_object_foreach(routes, dom, ups) {
                    char label[300];
                    snprintf(label, sizeof label, "split %s", dom);
                    if (json_object_array_length(ups) == 0)
                        nlocal++;
                    else
                        print_list(label, ups);
                }
            }
            if (nlocal) { /* the reverse zones of the tailnet are many: a count, and the first few */
                printf("%-22s%zu domains:", "answered here only", nlocal);
                size_t k = 0;
                json_object_object_foreach(routes, dom, ups) {
                    if (json_object_array_length(ups) == 0 && k++ < 3)
                        printf(" %s", dom);
                }
                printf("%s\n", nlocal > 3 ? " ..." : "");
            }
            struct json_object *cn = json_object_object_get(d, "Counters");
            if (cn)
                printf("%-22s%lld queries: %lld answered here, %lld NXDOMAIN, %lld forwarded (%lld failed), "
                       "%lld truncated, %lld malformed\n",
                       "counters", (long long)get_int(cn, "Queries"), (long long)get_int(cn, "AnsweredLocally"),
                       (long long)get_int(cn, "NXDomain"), (long long)get_int(cn, "Forwarded"),
                       (long long)get_int(cn, "ForwardFailed"), (long long)get_int(cn, "Truncated"),
                       (long long)get_int(cn, "Malformed"));
        }
        struct json_object *os = json_object_object_get(d, "OS");
        bool accept = json_object_get_boolean(json_object_object_get(d, "AcceptDNS"));
        printf("%-22s%s\n", "system resolver",
               !accept ? "not changed (weft up --accept-dns=false)" : os ? get_str(os, "Mode") : "-");
        if (os && *get_str(os, "Detail"))
            printf("%-22s%s\n", "", get_str(os, "Detail"));
        if (os && *get_str(os, "Error"))
            printf("%-22serror: %s\n", "", get_str(os, "Error"));
    }
    json_object_put(o);
    call_done(&c);
    return 0;
}

const struct weft_verb node_cli_verbs[] = {
    {"up", "connect this node to its tailnet (log in, bring up the tunnel)", usage_up, verb_up},
    {"down", "disconnect from the tailnet (stay logged in)", usage_down, verb_down},
    {"logout", "log out of the tailnet and forget the node key", usage_logout, verb_logout},
    {"status", "the node's state and its peers", usage_status, verb_status},
    {"ip", "this node's (or a peer's) tailnet addresses", usage_ip, verb_ip},
    {"ping", "ping a peer through the tunnel, showing the path and round-trip time", usage_ping, verb_ping},
    {"netcheck", "check the node's network: UDP, public address, NAT kind, DERP latency", usage_netcheck,
     verb_netcheck},
    {"dns", "MagicDNS: what the resolver answers and what the system resolver was told", usage_dns, verb_dns},
    {NULL, NULL, NULL, NULL},
};
