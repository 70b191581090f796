// SPDX-License-Identifier: BSD-3-Clause
/* Config: defaults, a good file, every kind of error with FILE:LINE:COL and key, overrides, did-you-mean. */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/cfg.h"
#include "t/tap.h"

struct top {
    char *state_dir;
    struct cfg_list roles;
};
struct srv {
    char *listen;
    long long workers;
    int verbose;
    long long timeout;
    int mode;
    struct cfg_list peers;
    char *dns_name;
    struct cfg_map dns_zones;
    struct cfg_list dns_names;
    char *acme_dir;
    struct cfg_list acme_domains;
    char *tls_key;
    int group_mode;
    char *group_path;
};

/* a value check: names must not contain 'x' */
static const char *no_x(const char *v, char *buf, size_t len)
{
    if (!strchr(v, 'x'))
        return NULL;
    snprintf(buf, len, "'%s' has an x", v);
    return buf;
}

/* checks of the dns.* group: a name may not have an X; a zone's values are numbers */
static const char *check_name(const char *item, char *buf, size_t len)
{
    return strchr(item, 'X') ? (snprintf(buf, len, "'%s' has an X", item), buf) : NULL;
}
static const char *check_num(const char *item, char *buf, size_t len)
{
    return strspn(item, "0123456789,") == strlen(item) ? NULL : (snprintf(buf, len, "'%s' is not a number", item), buf);
}

static const char *const modes[] = {"open", "closed", NULL};
/* A key's own check (cfg_key.check): refuses values starting with '!'. */
static const char *no_bang(const char *v, char *buf, size_t len)
{
    if (v[0] != '!')
        return NULL;
    snprintf(buf, len, "'%s' starts with '!'", v);
    return buf;
}
/* peers carries both checks (the tests of each use it) */
static const char *no_bang_no_x(const char *v, char *buf, size_t len)
{
    const char *msg = no_bang(v, buf, len);
    return msg ? msg : no_x(v, buf, len);
}
static const struct cfg_key top_keys[] = {
    {"state_dir", CFG_STR, "/var/lib/x", "d", offsetof(struct top, state_dir), 0, 0, NULL},
    {"roles", CFG_LIST, "a, b", "d", offsetof(struct top, roles), 0, 0, NULL},
    CFG_END,
};
static const struct cfg_key srv_keys[] = {
    {"listen", CFG_STR, "127.0.0.1:80", "d", offsetof(struct srv, listen), 0, 0, NULL, no_bang},
    {"workers", CFG_INT, "4", "d", offsetof(struct srv, workers), 1, 64, NULL},
    {"verbose", CFG_BOOL, "false", "d", offsetof(struct srv, verbose), 0, 0, NULL},
    {"timeout", CFG_DURATION, "90s", "d", offsetof(struct srv, timeout), 0, 3600000, NULL},
    {"mode", CFG_ENUM, "open", "d", offsetof(struct srv, mode), 0, 0, modes},
    {"peers", CFG_LIST, NULL, "d", offsetof(struct srv, peers), 0, 0, NULL, no_bang_no_x},
    {"tls.acme.directory", CFG_STR, "https://d", "d", offsetof(struct srv, acme_dir), 0, 0, NULL, no_x},
    {"tls.acme.domains", CFG_LIST, NULL, "d", offsetof(struct srv, acme_domains), 0, 0, NULL, NULL},
    {"tls.key", CFG_STR, NULL, "d", offsetof(struct srv, tls_key), 0, 0, NULL, NULL},
    {"group.mode", CFG_ENUM, "open", "d", offsetof(struct srv, group_mode), 0, 0, modes, NULL},
    {"group.path", CFG_STR, NULL, "d", offsetof(struct srv, group_path), 0, 0, NULL, NULL},
    {"dns.name", CFG_STR, NULL, "d", offsetof(struct srv, dns_name), 0, 0, NULL, check_name},
    {"dns.zones", CFG_MAP, NULL, "d", offsetof(struct srv, dns_zones), 0, 0, NULL, check_num},
    {"dns.names", CFG_LIST, NULL, "d", offsetof(struct srv, dns_names), 0, 0, NULL, check_name},
    CFG_END,
};

static struct top top;
static struct srv srv;
static struct cfg_section secs[] = {
    {NULL, top_keys, sizeof top, &top},
    {"server", srv_keys, sizeof srv, &srv},
};

static size_t load_text(const char *text, const struct cfg_override *ov, size_t nov, struct cfg_errors *err)
{
    char path[] = "/tmp/weft-test-config-XXXXXX";
    int fd = mkstemp(path);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
    config_free(secs, 2);
    memset(err, 0, sizeof *err);
    size_t n = config_load(secs, 2, path, NULL, ov, nov, err);
    /* make error text independent of the temp name */
    if (err->text) {
        char *p;
        while ((p = strstr(err->text, path)))
            memcpy(p, "F.yaml", 6), memmove(p + 6, p + strlen(path), strlen(p + strlen(path)) + 1);
    }
    unlink(path);
    return n;
}

static int has(const struct cfg_errors *e, const char *line)
{
    int r = e->text && strstr(e->text, line) != NULL;
    if (!r)
        diag("want line '%s' in:\n%s", line, e->text ? e->text : "(no errors)");
    return r;
}

int main(void)
{
    struct cfg_errors err = {0};

    /* defaults */
    is_int(config_load(secs, 2, NULL, NULL, NULL, 0, &err), 0, "defaults alone load");
    is_str(top.state_dir, "/var/lib/x", "string default");
    is_int(top.roles.n, 2, "list default split on commas");
    is_str(top.roles.v[1], "b", "list default item");
    is_int(srv.workers, 4, "int default");
    is_int(srv.timeout, 90000, "duration default in ms");

    /* a good file */
    is_int(load_text("state_dir: /srv/weft\nroles: [x]\nserver:\n  listen: \"[::]:443\"\n  workers: 8\n"
                     "  verbose: yes\n  timeout: 1m30500ms\n  mode: closed\n  peers:\n    - a\n    - b\n",
                     NULL, 0, &err),
           0, "good file loads");
    is_str(top.state_dir, "/srv/weft", "top string");
    is_int(top.roles.n, 1, "flow list");
    is_str(srv.listen, "[::]:443", "quoted string");
    is_int(srv.workers, 8, "int");
    is_int(srv.verbose, 1, "bool yes");
    is_int(srv.timeout, 90500, "duration 1m30500ms");
    is_int(srv.mode, 1, "enum index");
    is_int(srv.peers.n, 2, "block list");
    cfg_errors_free(&err);

    /* every error kind, all in one pass, with positions */
    size_t n = load_text("state_dri: /x\n"          /* 1: unknown top key, did you mean */
                         "server:\n"
                         "  lisen: a\n"             /* 3: unknown key in section */
                         "  workers: many\n"        /* 4: wrong type */
                         "  timeout: 2h\n"          /* 5: out of range */
                         "  mode: ajar\n"           /* 6: bad enum */
                         "  verbose: maybe\n"       /* 7: bad bool */
                         "  listen: [a, b]\n"       /* 8: list for a string */
                         "  workers: 0\n"           /* 9: below min, and a duplicate */
                         "zzz: 1\n",                /* 10: unknown, no suggestion */
                         NULL, 0, &err);
    is_int(n, 10, "ten errors reported in one pass");
    ok(has(&err, "F.yaml:1:1: state_dri: unknown key (did you mean 'state_dir'?)"), "unknown top key");
    ok(has(&err, "F.yaml:3:3: server.lisen: unknown key (did you mean 'server.listen'?)"), "unknown section key");
    ok(has(&err, "F.yaml:4:12: server.workers: 'many' is not an integer"), "wrong type");
    ok(has(&err, "F.yaml:5:12: server.timeout: '2h' is out of range"), "duration out of range");
    ok(has(&err, "F.yaml:6:9: server.mode: 'ajar' is not one of: open closed"), "enum");
    ok(has(&err, "F.yaml:7:12: server.verbose: 'maybe' is not true or false"), "bool");
    ok(has(&err, "F.yaml:8:11: server.listen: expected a string, found a list"), "list for string");
    ok(has(&err, "F.yaml:9:12: server.workers: 0 is out of range (1 to 64)"), "int out of range");
    ok(has(&err, "server.workers: duplicate key (first at line 4)"), "duplicate key");
    ok(has(&err, "F.yaml:10:1: zzz: unknown key\n"), "unknown key without suggestion");
    cfg_errors_free(&err);

    /* a key's own check, on strings and on each list item, from the file and from -o */
    struct cfg_override bang[] = {{"server.peers=ok,!no"}};
    n = load_text("server:\n  listen: \"!x\"\n  peers:\n    - a\n    - \"!b\"\n", bang, 1, &err);
    is_int(n, 3, "checked values refused where they are written");
    ok(has(&err, "F.yaml:2:11: server.listen: '!x' starts with '!'"), "a string's check, with its position");
    ok(has(&err, "F.yaml:5:7: server.peers: '!b' starts with '!'"), "a list item's check, at the item");
    ok(has(&err, "command line: server.peers: '!no' starts with '!'"), "an override's check");
    cfg_errors_free(&err);

    /* YAML syntax error */
    n = load_text("server:\n  listen: [unclosed\n", NULL, 0, &err);
    ok(n == 1 && has(&err, "F.yaml:3:1: YAML syntax: did not find expected ',' or ']'"), "syntax error with position");
    cfg_errors_free(&err);

    n = load_text("- a\n- b\n", NULL, 0, &err);
    ok(n == 1 && has(&err, "F.yaml:1:1: the configuration must be a mapping"), "top must be a mapping");
    cfg_errors_free(&err);

    /* overrides win over the file, and are checked too */
    struct cfg_override ov[] = {{"server.workers=16"}, {"state_dir=/o"}, {"server.peers=p,q ,r"},
                                {"server.nope=1"}, {"srever.listen=x"}, {"novalue"}, {"server.workers=x"}};
    n = load_text("server:\n  workers: 2\n", ov, 3, &err);
    is_int(n, 0, "good overrides");
    is_int(srv.workers, 16, "override beats file");
    is_str(top.state_dir, "/o", "top-level override");
    ok(srv.peers.n == 3 && strcmp(srv.peers.v[1], "q") == 0, "list override split and trimmed");
    cfg_errors_free(&err);
    n = load_text("", ov + 3, 4, &err);
    is_int(n, 4, "bad overrides all reported");
    ok(has(&err, "command line: server.nope: unknown key"), "override unknown key");
    ok(has(&err, "command line: srever.listen: unknown section (did you mean 'server'?)"), "override section typo");
    ok(has(&err, "-o takes key.path=value, got 'novalue'"), "override without =");
    ok(has(&err, "command line: server.workers: 'x' is not an integer"), "override wrong type");
    cfg_errors_free(&err);

    /* a group of dotted keys: nested or dotted in the file, dotted on the command line */
    n = load_text("server:\n  group:\n    mode: closed\n    path: /p\n", NULL, 0, &err);
    ok(n == 0 && srv.group_mode == 1 && !strcmp(srv.group_path, "/p"), "a nested mapping sets group.mode, group.path");
    cfg_errors_free(&err);
    n = load_text("server:\n  group.mode: closed\n", (struct cfg_override[]){{"server.group.path=/q"}}, 1, &err);
    ok(n == 0 && srv.group_mode == 1 && !strcmp(srv.group_path, "/q"), "dotted in the file and with -o");
    cfg_errors_free(&err);
    n = load_text("server:\n  group:\n    mode: ajar\n    pth: x\n    mode: open\n", NULL, 0, &err);
    is_int(n, 3, "errors inside a nested group");
    ok(has(&err, "F.yaml:3:11: server.group.mode: 'ajar' is not one of: open closed"), "bad value, full key path");
    ok(has(&err, "F.yaml:4:5: server.group.pth: unknown key (did you mean 'server.group.path'?)"),
       "unknown nested key with a suggestion");
    ok(has(&err, "server.group.mode: duplicate key (first at line 3)"), "duplicate nested key");
    cfg_errors_free(&err);

    /* missing file */
    config_free(secs, 2);
    n = config_load(secs, 2, "/nonexistent/weft.yaml", NULL, NULL, 0, &err);
    ok(n == 1 && has(&err, "/nonexistent/weft.yaml: cannot open"), "missing file named");
    cfg_errors_free(&err);

    /* durations */
    long long ms;
    ok(cfg_parse_duration("500ms", &ms) == 0 && ms == 500, "500ms");
    ok(cfg_parse_duration("24h", &ms) == 0 && ms == 86400000, "24h");
    ok(cfg_parse_duration("30", &ms) == 0 && ms == 30000, "bare number is seconds");
    ok(cfg_parse_duration("5x", &ms) < 0 && cfg_parse_duration("", &ms) < 0 && cfg_parse_duration("-1s", &ms) < 0,
       "bad durations refused");

    /* a group of keys (dns.*), a map; each value's check at its position */
    n = load_text("server:\n"
                  "  dns:\n"
                  "    name: aXb\n"
                  "    zones:\n"
                  "      good: [1, 2]\n"
                  "      bad: [3, x]\n"
                  "    names: [ok, nX]\n"
                  "  listen: ok\n",
                  NULL, 0, &err);
    ok(n == 3, "three check errors (%zu)", n);
    ok(has(&err, "F.yaml:3:11: server.dns.name: 'aXb' has an X"), "a string's check, at its value");
    ok(has(&err, "F.yaml:6:16: server.dns.zones: 'x' is not a number"), "a map value's check, at the item");
    ok(has(&err, "F.yaml:7:17: server.dns.names: 'nX' has an X"), "a list item's check, at the item");
    ok(srv.dns_zones.n == 0 && srv.dns_names.n == 0, "a map or list with a bad item is not set");
    cfg_errors_free(&err);
    /* what a module's check hook does with several keys: report at a list item or a map's name */
    n = load_text("server:\n"
                  "  dns:\n"
                  "    zones:\n"
                  "      good: [1, 2]\n"
                  "      bad: 3, 4\n"
                  "    names: [q, ok]\n"
                  "  listen: ok\n",
                  NULL, 0, &err);
    ok(n == 0 && srv.dns_zones.n == 2 && !strcmp(srv.dns_zones.keys[1], "bad") && srv.dns_zones.vals[1].n == 2 &&
           !strcmp(srv.dns_zones.vals[1].v[1], "4") && srv.dns_names.n == 2,
       "the map as written (a list, or a comma-separated scalar)");
    for (size_t i = 0; i < srv.dns_zones.n; i++)
        if (!strcmp(srv.dns_zones.keys[i], "bad"))
            cfg_error_item(&err, &secs[1], "dns.zones", i, "zone '%s' is bad", srv.dns_zones.keys[i]);
    for (size_t i = 0; i < srv.dns_names.n; i++)
        if (!strcmp(srv.dns_names.v[i], srv.listen))
            cfg_error_item(&err, &secs[1], "dns.names", i, "'%s' is the same as listen", srv.dns_names.v[i]);
    ok(has(&err, ":5:7: server.dns.zones: zone 'bad' is bad"), "cfg_error_item: a map's name, at the name");
    ok(has(&err, ":6:16: server.dns.names: 'ok' is the same as listen"),
       "cfg_error_item: a list item, at the item (comparing with a key set later in the file)");
    cfg_error_item(&err, &secs[1], "dns.names", 7, "past the end");
    ok(has(&err, ":6:12: server.dns.names: past the end"), "cfg_error_item past the items: at the key");
    cfg_errors_free(&err);
    n = load_text("server:\n  peers: a, b\n  dns:\n    names: c, dX\n", NULL, 0, &err);
    ok(n == 1 && srv.peers.n == 2 && !strcmp(srv.peers.v[1], "b") && srv.dns_names.n == 0,
       "a list written as a comma-separated scalar in the file");
    ok(has(&err, "F.yaml:4:12: server.dns.names: 'dX' has an X"), "... its items checked at the scalar");
    cfg_errors_free(&err);
    n = load_text("server:\n  dns.zones: {a: [1], a: 2}\n  names: [q]\n  dns: {name: q, nope: 1}\n", NULL, 0, &err);
    ok(has(&err, "F.yaml:2:14: server.dns.zones: 'a' appears twice"), "a map's key twice");
    ok(has(&err, "server.names: unknown key (did you mean 'server.dns.names'?)"),
       "a key moved into a group is suggested by its old name");
    ok(has(&err, "F.yaml:4:18: server.dns.nope: unknown key"), "an unknown key in a group");
    ok(srv.dns_name && !strcmp(srv.dns_name, "q"), "dotted and nested forms both set the group's keys");
    cfg_errors_free(&err);
    n = load_text("server:\n  dns:\n    zones: {a: [1]}\n",
                  (struct cfg_override[]){{"server.dns.zones={z: [1, 2], y: 3}"}, {"server.dns.names=ok, Xa"}}, 2,
                  &err);
    ok(n == 1 && srv.dns_zones.n == 2 && !strcmp(srv.dns_zones.keys[0], "z") && srv.dns_zones.vals[0].n == 2 &&
           !strcmp(srv.dns_zones.vals[1].v[0], "3"),
       "a map from -o in YAML flow text replaces the file's");
    ok(has(&err, "command line: server.dns.names: 'Xa' has an X"), "checks on -o values name the command line");
    cfg_errors_free(&err);
    n = load_text("state_dir: b\n", (struct cfg_override[]){{"server.dns.zones=[1"}, {"server.dns.zones=x"}}, 2, &err);
    ok(n == 2 && has(&err, "command line: server.dns.zones: '[1' is not YAML flow text") &&
           has(&err, "command line: server.dns.zones: expected a mapping of names to lists, found a scalar"),
       "a map from -o that is not a mapping");
    if (n != 2)
        diag("%s", err.text);
    cfg_errors_free(&err);

    /* print → load round trip */
    config_free(secs, 2);
    config_load(secs, 2, NULL, NULL,
                (struct cfg_override[]){{"server.listen=a: b#c"}, {"server.peers=p,y"},
                                        {"server.dns.zones={\"a b\": [1, \"2,3\"], c: []}"}},
                3, &err);
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    config_print(f, secs, 2, 1);
    fclose(f);
    n = load_text(buf, NULL, 0, &err);
    ok(n == 0 && strcmp(srv.listen, "a: b#c") == 0 && srv.peers.n == 2 && srv.timeout == 90000 &&
           srv.dns_zones.n == 2 && !strcmp(srv.dns_zones.keys[0], "a b") && srv.dns_zones.vals[0].n == 2 &&
           !strcmp(srv.dns_zones.vals[0].v[1], "2,3") && srv.dns_zones.vals[1].n == 0,
       "printed configuration loads back the same (a group, a map)");
    if (n)
        diag("%s\n%s", err.text, buf);
    free(buf);
    cfg_errors_free(&err);

    /* nested keys: mappings, or the dotted name written flat; checks report at the item's position */
    n = load_text("server:\n  tls:\n    acme:\n      domains: [a, b]\n    key: /k\n"
                  "  tls.acme.directory: https://e\n",
                  NULL, 0, &err);
    ok(n == 0 && srv.acme_domains.n == 2 && strcmp(srv.tls_key, "/k") == 0 && strcmp(srv.acme_dir, "https://e") == 0,
       "nested mappings and dotted names fill the nested keys");
    ok(cfg_is_set(&secs[1], "tls.key") && !cfg_is_set(&secs[1], "workers"), "cfg_is_set: set vs default");
    const struct cfg_origin *o = cfg_origin_of(&secs[1], "tls.key");
    ok(o && o->from == CFG_FROM_FILE && o->line == 5 && o->col == 10, "the origin of a nested key is its value's position");
    cfg_error(&err, &secs[1], "tls.key", "a cross-key problem");
    ok(has(&err, "F.yaml:5:10: server.tls.key: a cross-key problem") || has(&err, ":5:10: server.tls.key: a cross-key problem"),
       "cfg_error reports at the key's position");
    cfg_errors_free(&err);
    n = load_text("server:\n  peers: [a, box, c]\n  tls:\n    acme:\n      domain: [a]\n    akme: {}\n"
                  "  tls.acme.directory: https://x\n",
                  NULL, 0, &err);
    is_int(n, 4, "nested and checked errors");
    ok(has(&err, "F.yaml:2:14: server.peers: 'box' has an x"), "a list item that fails its check, at the item");
    ok(has(&err, "F.yaml:5:7: server.tls.acme.domain: unknown key (did you mean 'server.tls.acme.domains'?)"),
       "an unknown nested key, with its full name and a suggestion");
    ok(has(&err, "F.yaml:6:5: server.tls.akme: unknown key"), "an unknown nested mapping");
    ok(has(&err, "F.yaml:7:23: server.tls.acme.directory: 'https://x' has an x"), "a checked string");
    cfg_errors_free(&err);
    struct cfg_override ovx[] = {{"server.tls.acme.domains=p,q"}};
    n = load_text("", ovx, 1, &err);
    ok(n == 0 && srv.acme_domains.n == 2 && cfg_origin_of(&secs[1], "tls.acme.domains")->from == CFG_FROM_COMMAND_LINE,
       "-o sets a nested key, and remembers it came from the command line");
    cfg_error(&err, &secs[1], "tls.acme.domains", "wrong");
    ok(has(&err, "command line: server.tls.acme.domains: wrong"), "cfg_error for a -o key says command line");
    cfg_errors_free(&err);

    /* reload helpers: compare and exchange one key's value between two structs */
    struct srv a = {0}, b = {0};
    a.listen = strdup("x");
    b.listen = strdup("y");
    a.workers = b.workers = 3;
    const struct cfg_key *kl = &srv_keys[0], *kw = &srv_keys[1];
    ok(!cfg_key_equal(kl, &a, &b) && cfg_key_equal(kw, &a, &b), "cfg_key_equal");
    cfg_key_swap(kl, &a, &b);
    ok(strcmp(a.listen, "y") == 0 && strcmp(b.listen, "x") == 0, "cfg_key_swap exchanges the values");
    free(a.listen);
    free(b.listen);

    config_free(secs, 2);
    return done_testing();
}
