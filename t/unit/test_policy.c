// SPDX-License-Identifier: BSD-3-Clause
/* The policy's building blocks: the HuJSON reader (comments, trailing commas, errors with their line and
 * column), IP ranges and their text, the policy parser's refusals (each with its place), and every kind of
 * selector matched against a small tailnet through the engine (filters, peers, SSH, attributes), including
 * the engine's reports when a node joins, is retagged and leaves. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json/jbuf.h"
#include "modules/control/policy/hujson.h"
#include "modules/control/policy/netset.h"
#include "modules/control/policy/policy.h"
#include "t/tap.h"

/* ---- HuJSON ---- */

static void hujson(void)
{
    struct hj_doc d;
    struct hj_error e;
    static const char text[] = "// a policy\n"
                               "{\n"
                               "  /* block\n     comment */ \"a\": [1, 2, 3,],  // trailing comma\n"
                               "  \"b\": {\"x\": \"caf\\u00e9 \\ud83d\\ude80\", \"y\": -1.5e3,},\n"
                               "  \"c\": true, \"d\": null,\n"
                               "}\n";
    ok(hj_parse(text, strlen(text), &d, &e) == 0, "comments and trailing commas are HuJSON");
    struct hj_val *a = hj_get(d.root, "a"), *b = hj_get(d.root, "b");
    ok(a && a->type == HJ_ARR && a->len == 3 && a->arr[2]->num == 3, "an array with a trailing comma");
    is_int(a ? a->pos.line : 0, 4, "a value knows its line");
    is_int(a ? a->pos.col : 0, 22, "and its column");
    struct hj_val *x = hj_get(b, "x");
    is_str(x ? x->s : NULL, "caf\xc3\xa9 \xf0\x9f\x9a\x80", "escapes and surrogate pairs decode to UTF-8");
    ok(hj_get(b, "y") && hj_get(b, "y")->num == -1500, "numbers");
    ok(hj_get(d.root, "c")->b && hj_get(d.root, "d")->type == HJ_NULL, "true and null");
    struct jbuf j;
    jbuf_init(&j);
    hj_emit(&j, b);
    jbuf_putc(&j, 0);
    is_str(j.p, "{\"x\":\"caf\xc3\xa9 \xf0\x9f\x9a\x80\",\"y\":-1.5e3}", "emitted as compact standard JSON");
    jbuf_free(&j);
    hj_free(&d);

    static const struct {
        const char *text;
        unsigned line, col;
        const char *msg;
    } bad[] = {
        {"{\"a\": [1, 2}", 1, 12, "unexpected '}', want ',' or ']' in array"},
        {"{\"a\": 1\n  \"b\": 2}", 2, 3, "unexpected '\"', want ',' or '}' in object"},
        {"{\"a\": \"unterminated}", 1, 7, "unterminated string"},
        {"{\"a\": \"bad \\q escape\"}", 1, 12, "bad escape in string"},
        {"{\"a\": 01}", 1, 7, "invalid number (leading zero)"},
        {"{\"a\": 1.}", 1, 7, "invalid number (digits must follow '.')"},
        {"{\"a\": tru}", 1, 7, "unexpected 't', want a value"},
        {"{\"a\": 1} x", 1, 10, "unexpected 'x', want end of input after the value"},
        {"{\n /* never closed", 2, 2, "unterminated /* comment"},
        {"{\"a\": \"\xff\"}", 1, 8, "invalid UTF-8 in string"},
        {"{\"a\": \"tab\there\"}", 1, 11, "control character in string (escape it)"},
        {"{\"a\": [,]}", 1, 8, "unexpected ',', want a value"},
        {"", 1, 1, "unexpected end of input, want a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = hj_parse(bad[i].text, strlen(bad[i].text), &d, &e);
        char name[160];
        snprintf(name, sizeof name, "refused at %u:%u: %s", bad[i].line, bad[i].col, bad[i].msg);
        ok(rc == -1 && e.pos.line == bad[i].line && e.pos.col == bad[i].col && !strcmp(e.msg, bad[i].msg), "%s",
           name);
        if (rc == 0)
            hj_free(&d);
        else if (e.pos.line != bad[i].line || e.pos.col != bad[i].col || strcmp(e.msg, bad[i].msg))
            diag("got %u:%u: %s", e.pos.line, e.pos.col, e.msg);
    }
    /* nesting is bounded */
    char deep[HJ_MAX_DEPTH * 2 + 8];
    memset(deep, '[', HJ_MAX_DEPTH + 1);
    memset(deep + HJ_MAX_DEPTH + 1, ']', HJ_MAX_DEPTH + 1);
    ok(hj_parse(deep, (size_t)(HJ_MAX_DEPTH + 1) * 2, &d, &e) == -1 && !strcmp(e.msg, "nested too deeply"),
       "nesting deeper than %d is refused", HJ_MAX_DEPTH);

    char st[] = "{\"a\": [1, /* c */ 2,], // x\n \"b\": \"//not a comment,\",}";
    ok(hj_standardize(st, strlen(st)) == 0, "standardize");
    is_str(st, "{\"a\": [1,         2 ],     \n \"b\": \"//not a comment,\" }",
           "comments and trailing commas become spaces, offsets kept, strings untouched");
}

/* ---- IP ranges ---- */

static void netsets(void)
{
    struct netset s;
    netset_init(&s);
    netset_tailnet_all(&s);
    char buf[NETSET_TEXT_MAX];
    is_int((long long)s.n, 3, "the tailnet: three ranges");
    is_str(netset_range_text_cidr(&s.v[0], buf), "100.64.0.0-100.115.91.255", "CGNAT below ChromeOS's block");
    is_str(netset_range_text_cidr(&s.v[1], buf), "100.115.94.0-100.127.255.255", "and above it");
    is_str(netset_range_text_cidr(&s.v[2], buf), "fd7a:115c:a1e0::/48", "an exact block is a prefix");
    netset_clear(&s);
    netset_internet(&s);
    is_int((long long)s.n, 7, "the internet: six IPv4 ranges and one IPv6");
    is_str(netset_range_text(&s.v[6], buf), "2000::-3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
           "the IPv6 internet as a range");
    netset_clear(&s);
    struct ipprefix p;
    ok(prefix_parse("10.1.2.0/24", 11, true, &p) == 0, "a CIDR");
    ok(prefix_parse("10.1.2.3/24", 11, true, &p) == -1, "host bits set: refused when strict");
    ok(prefix_parse("10.1.2.3/24", 11, false, &p) == 0 && !strcmp(prefix_format(&p, buf), "10.1.2.0/24"),
       "and masked when not");
    ok(prefix_parse("010.1.2.3", 9, true, &p) == -1, "leading zeros refused");
    ok(prefix_parse("10.0.0.0/33", 11, true, &p) == -1, "too long a prefix refused");
    struct ipaddr a, b;
    ip_parse("10.0.0.1", 8, &a);
    ip_parse("10.0.0.2", 8, &b);
    netset_add_ip(&s, &a);
    netset_add_ip(&s, &b);
    is_int((long long)s.n, 1, "adjacent addresses merge");
    is_str(netset_range_text_cidr(&s.v[0], buf), "10.0.0.1-10.0.0.2", "into a range (not a block: unaligned)");
    struct iprange r;
    ok(iprange_parse("10.0.0.2-10.0.0.1", 17, &r) == -1, "a reversed range is refused");
    netset_free(&s);
}

/* ---- the parser's refusals ---- */

static void refusals(void)
{
    static const struct {
        const char *text, *want; /* want: "LINE:COL: message" of the first error */
    } bad[] = {
        {"{\"acls\": [{\"action\": \"accept\", \"src\": [\"tag:x\"], \"dst\": [\"*:*\"]}]}",
         "1:40: src=tag not found: \"tag:x\""},
        {"{\"acls\": [{\"action\": \"accept\", \"src\": [\"autogroup:self\"], \"dst\": [\"*:*\"]}]}",
         "1:40: \"autogroup:self\" not valid on the src side of a rule"},
        {"{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"tag:s:ssh\"]}],\n"
         "\"tagOwners\": {\"tag:s\": []}}",
         "1:54: dst=\"tag:s:ssh\": port range \"ssh\": invalid first integer"},
        {"{\"acls\": [{\"action\": \"deny\", \"src\": [\"*\"], \"dst\": [\"*:*\"]}]}",
         "1:22: \"deny\" is not a valid action (want \"accept\")"},
        {"{\"groups\": {\"group:a\": [\"group:b\"], \"group:b\": []}}",
         "1:25: groups[\"group:a\"]: \"group:b\": group members cannot be recursive"},
        {"{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"autogroup:danger-all\"], \"ip\": [\"*\"]}]}",
         "1:36: cannot use autogroup:danger-all as a dst"},
        {"{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"]}]}", "1:13: ip and app can not both be empty"},
        {"{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"ip\": [\"tcp:0\"]}]}",
         "1:49: port range \"0\": first port must be >0, or use '*' for wildcard"},
        {"{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"0.0.0.0/0\"], \"ip\": [\"*\"]}]}",
         "1:36: dst \"0.0.0.0/0\": to allow all IP addresses, use \"*\" or \"autogroup:internet\""},
        {"{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"app\": {\"tailscale.com/cap/x\": [{}]}}]}",
         "1:50: capability name must not be in the tailscale.com domain"},
        {"{\"hosts\": {\"db\": \"10.0.0.1/8\"}}", "1:18: hosts[\"db\"]: \"10.0.0.1/8\": prefix has bits set beyond its mask"},
        {"{\"ssh\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*\"], \"users\": [\"root\"]}]}",
         "1:53: wildcard (*) is not supported as SSH destination"},
        {"{\"ssh\": [{\"action\": \"check\", \"src\": [\"a@\"], \"dst\": [\"a@\"], \"users\": []}]}",
         "1:69: users must be specified"},
        {"{\"nodeAttrs\": [{\"target\": [\"%bogus%\"], \"attr\": [\"x\"]}]}", "1:28: \"%bogus%\": invalid address"},
        {"{\"acls\": [], \"unknown\": 1}", "1:14: unknown section \"unknown\""},
        {"{\"postures\": {\"posture:a\": [\"crowdstrike:ztaScore >= 50\"]}}",
         "1:29: postures[\"posture:a\"]: \"crowdstrike:ztaScore\": weft can only evaluate node:os, node:osVersion, "
         "node:tsVersion and node:tsReleaseTrack (it has no device posture integrations)"},
        {"[1, 2]", "1:1: a policy is a JSON object, not array"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pol_errors errs;
        struct policy *p = policy_parse(bad[i].text, strlen(bad[i].text), &errs);
        char got[700] = "(accepted)";
        if (!p && errs.n)
            snprintf(got, sizeof got, "%u:%u: %s", errs.v[0].line, errs.v[0].col, errs.v[0].msg);
        is_str(got, bad[i].want, bad[i].want);
        policy_free(p);
        pol_errors_free(&errs);
    }
    /* every error at once, formatted as the CLI and the log print them */
    static const char many[] = "{\n  \"acls\": [\n    {\"action\": \"accept\", \"src\": [\"tag:a\"], \"dst\": [\"*:*\"]},\n"
                               "    {\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"group:b:22\"]},\n  ],\n}\n";
    struct pol_errors errs;
    ok(!policy_parse(many, strlen(many), &errs), "a policy with two errors is refused");
    char *t = pol_errors_format(&errs, "p.hujson");
    is_str(t, "p.hujson:3:34: src=tag not found: \"tag:a\"\np.hujson:4:48: dst=group not found: \"group:b\"\n",
           "both errors, as FILE:LINE:COL: message");
    free(t);
    pol_errors_free(&errs);
}

/* ---- selectors against a tailnet ---- */

enum { ALICE = 1, BOB, CAROL };
static const struct pol_user users[] = {
    {1, "alice@example.com", POL_ROLE_ADMIN}, {2, "bob@example.com", 0}, {3, "carol", 0}};
static const char *const t_server[] = {"tag:server"}, *const t_router[] = {"tag:router"};
static const char *const r_sub[] = {"10.9.0.0/16"}, *const r_exit[] = {"0.0.0.0/0", "::/0"};

/* nodes: 1 alice's laptop, 2 alice's phone, 3 bob's laptop, 4 carol's (login without domain), 5 a
 * server, 6 a router advertising 10.9.0.0/16 and an exit node */
static struct pol_node mknode(int64_t id, int64_t user, const char *const *tags, size_t ntags)
{
    struct pol_node n;
    memset(&n, 0, sizeof n);
    n.id = id;
    n.user_id = user;
    n.tags = tags;
    n.ntags = ntags;
    n.has4 = n.has6 = true;
    n.ip4[0] = 100, n.ip4[1] = 64, n.ip4[3] = (uint8_t)id;
    static const uint8_t v6[16] = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0};
    memcpy(n.ip6, v6, 16);
    n.ip6[15] = (uint8_t)id;
    return n;
}

static struct pol_engine *tailnet(void)
{
    struct pol_engine *e = pol_engine_new();
    pol_engine_set_users(e, users, 3);
    struct pol_node n[6] = {mknode(1, ALICE, NULL, 0), mknode(2, ALICE, NULL, 0), mknode(3, BOB, NULL, 0),
                            mknode(4, CAROL, NULL, 0), mknode(5, 0, t_server, 1), mknode(6, 0, t_router, 1)};
    n[5].routable = r_sub;
    n[5].nroutable = 1;
    n[5].approved = r_sub;
    n[5].napproved = 1;
    for (int i = 0; i < 6; i++)
        pol_engine_node_set(e, &n[i]);
    return e;
}

static int install(struct pol_engine *e, const char *text)
{
    struct pol_errors errs;
    struct policy *p = policy_parse(text, strlen(text), &errs);
    if (!p || pol_engine_set_policy(e, p, &errs)) {
        diag("refused: %s", errs.n ? errs.v[0].msg : "?");
        pol_errors_free(&errs);
        policy_free(p);
        return -1;
    }
    pol_errors_free(&errs);
    return 0;
}

/* "1,2,5": the nodes whose filter has a rule (the destinations of the policy). */
static void dsts(struct pol_engine *e, char *out, size_t cap)
{
    out[0] = 0;
    for (int64_t id = 1; id <= 6; id++) {
        size_t l;
        const char *f = pol_filter_json(e, id, &l);
        if (f && strcmp(f, "[]")) {
            size_t n = strlen(out);
            snprintf(out + n, cap - n, "%s%lld", n ? "," : "", (long long)id);
        }
    }
}

static bool has(struct pol_engine *e, int64_t id, const char *needle)
{
    size_t l;
    const char *f = pol_filter_json(e, id, &l);
    return f && strstr(f, needle);
}

static void selectors(void)
{
    struct pol_engine *e = tailnet();
    static const struct {
        const char *dst, *want;
    } dst_cases[] = {
        {"alice@example.com", "1,2"},
        {"carol@", "4"},
        {"user:*@example.com", "1,2,3"},
        {"group:eng", "1,2,3"},
        {"tag:server", "5"},
        {"autogroup:member", "1,2,3,4"},
        {"autogroup:tagged", "5,6"},
        {"autogroup:admin", "1,2"},
        {"100.64.0.3", "3"},
        {"100.64.0.0/30", "1,2,3"},
        {"fd7a:115c:a1e0::4", "4"},
        {"db", "5"},
        {"10.9.1.0/24", "6"},
        {"ipset:lab", "1,2,6"},
        {"*", "1,2,3,4,5,6"},
    };
    for (size_t i = 0; i < sizeof dst_cases / sizeof dst_cases[0]; i++) {
        char pol[1024], got[64];
        snprintf(pol, sizeof pol,
                 "{\"groups\": {\"group:eng\": [\"alice@example.com\", \"bob@example.com\"]},"
                 " \"tagOwners\": {\"tag:server\": [], \"tag:router\": []},"
                 " \"hosts\": {\"db\": \"100.64.0.5\"},"
                 " \"ipsets\": {\"ipset:lab\": [\"add 100.64.0.0/30\", \"remove 100.64.0.3\", \"add 10.9.0.0/20\"]},"
                 " \"grants\": [{\"src\": [\"*\"], \"dst\": [\"%s\"], \"ip\": [\"tcp:22\"]}]}",
                 dst_cases[i].dst);
        if (install(e, pol)) {
            ok(0, "dst %s", dst_cases[i].dst);
            continue;
        }
        dsts(e, got, sizeof got);
        char name[128];
        snprintf(name, sizeof name, "dst %s reaches nodes %s", dst_cases[i].dst, dst_cases[i].want);
        is_str(got, dst_cases[i].want, name);
    }

    /* sources: the SrcIPs each selector gives */
    ok(!install(e, "{\"tagOwners\": {\"tag:server\": []}, \"acls\": [{\"action\": \"accept\","
                   " \"src\": [\"carol@\", \"100.64.9.0/24\"], \"dst\": [\"tag:server:22\"]}]}"),
       "users and prefixes as sources");
    ok(has(e, 5, "\"SrcIPs\":[\"100.64.0.4\",\"100.64.9.0/24\",\"fd7a:115c:a1e0::4\"]"),
       "a user lists its nodes' addresses, a prefix itself, sorted");
    ok(has(e, 5, "{\"IP\":\"100.64.0.5\",\"Ports\":{\"First\":22,\"Last\":22}}"), "reduced to the server's address");
    ok(pol_visible(e, 4, 5) && pol_visible(e, 5, 4) && !pol_visible(e, 1, 5) && !pol_visible(e, 4, 1),
       "peers: carol and the server see each other, nobody else");
    ok(!install(e, "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"autogroup:self:*\"]}]}"),
       "autogroup:self");
    ok(has(e, 1, "\"SrcIPs\":[\"100.64.0.1\",\"100.64.0.2\",\"fd7a:115c:a1e0::1\",\"fd7a:115c:a1e0::2\"]") &&
           has(e, 1, "\"IP\":\"100.64.0.1\"") && !has(e, 1, "\"IP\":\"100.64.0.2\""),
       "a user's node is reached from its user's nodes only, reduced to itself");
    ok(pol_visible(e, 1, 2) && !pol_visible(e, 1, 3) && !pol_visible(e, 5, 1), "alice's two nodes see each other only");
    size_t l;
    ok(!strcmp(pol_filter_json(e, 5, &l), "[]"), "tagged nodes have no self");
    ok(!install(e, "{\"grants\": [{\"src\": [\"autogroup:danger-all\"], \"dst\": [\"autogroup:internet\"], \"ip\": [\"*\"]}]}"),
       "autogroup:internet, autogroup:danger-all");
    ok(!strcmp(pol_filter_json(e, 6, &l), "[]"), "not yet an exit node: nothing");

    /* a router becomes an exit node: the engine reports what changed, and only that */
    struct pol_node r = mknode(6, 0, t_router, 1);
    r.routable = r_exit;
    r.nroutable = 2;
    r.approved = r_exit;
    r.napproved = 2;
    pol_engine_node_set(e, &r);
    ok(has(e, 6, "\"SrcIPs\":[\"*\"]") && has(e, 6, "\"IP\":\"0.0.0.0-9.255.255.255\"") &&
           has(e, 6, "\"IP\":\"2000::-3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\""),
       "an exit node is reached from anywhere towards the internet");
    ok(pol_visible(e, 1, 6) && pol_visible(e, 6, 1), "and every node sees it");

    /* SSH and node attributes */
    ok(!install(e, "{\"tagOwners\": {\"tag:server\": []},"
                   " \"ssh\": [{\"action\": \"check\", \"src\": [\"autogroup:member\"], \"dst\": [\"tag:server\"],"
                   "          \"users\": [\"root\", \"autogroup:nonroot\", \"ubuntu\"]}],"
                   " \"nodeAttrs\": [{\"target\": [\"group:x\", \"tag:server\"], \"attr\": [\"funnel\"]}],"
                   " \"groups\": {\"group:x\": [\"bob@example.com\"]}}"),
       "ssh and nodeAttrs");
    const char *ssh = pol_ssh_json(e, 5, &l);
    ok(ssh && strstr(ssh, "\"sshUsers\":{\"*\":\"=\",\"root\":\"root\",\"ubuntu\":\"ubuntu\"}") &&
           strstr(ssh, "\"holdAndDelegate\":\"/machine/ssh/action/$SRC_NODE_ID/to/$DST_NODE_ID?local_user=$LOCAL_USER\"") &&
           strstr(ssh, "{\"nodeIP\":\"100.64.0.4\"}"),
       "SSHPolicy: users mapped, check action, members as principals");
    ssh = pol_ssh_json(e, 1, &l);
    ok(ssh && !strcmp(ssh, "{\"rules\":[]}"), "a node that is no SSH destination gets no rules");
    const char *caps = pol_caps_json(e, 3, &l);
    ok(caps && !strcmp(caps, "\"funnel\":null,\"https://tailscale.com/cap/funnel-ports?ports=443,8443,10000\":null,"
                             "\"https://tailscale.com/cap/warn-funnel-no-https\":null"),
       "node attributes: bob's node (group:x) gets funnel and what comes with it");
    ok(!strcmp(pol_caps_json(e, 1, &l), ""), "alice's node none");
    pol_engine_free(e);
}

/* ---- incremental reports ---- */

struct log {
    char text[4096];
};

static void on_node(void *arg, int64_t id, unsigned what)
{
    struct log *lg = arg;
    size_t n = strlen(lg->text);
    snprintf(lg->text + n, sizeof lg->text - n, "node %lld%s%s%s;", (long long)id, what & POL_CH_FILTER ? " filter" : "",
             what & POL_CH_SSH ? " ssh" : "", what & POL_CH_CAPS ? " caps" : "");
}

static void on_peers(void *arg, int64_t viewer, const int64_t *add, size_t nadd, const int64_t *rem, size_t nrem)
{
    struct log *lg = arg;
    for (size_t i = 0; i < nadd; i++) {
        size_t n = strlen(lg->text);
        snprintf(lg->text + n, sizeof lg->text - n, "%lld+%lld;", (long long)viewer, (long long)add[i]);
    }
    for (size_t i = 0; i < nrem; i++) {
        size_t n = strlen(lg->text);
        snprintf(lg->text + n, sizeof lg->text - n, "%lld-%lld;", (long long)viewer, (long long)rem[i]);
    }
}

static void reports(void)
{
    struct pol_engine *e = tailnet();
    ok(!install(e, "{\"tagOwners\": {\"tag:server\": [], \"tag:router\": []},"
                   " \"acls\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:server:443\"]}],"
                   " \"groups\": {\"group:eng\": [\"bob@example.com\"]}}"),
       "a policy: group:eng (bob) to the server");
    struct log lg = {""};
    struct pol_sink sink = {&lg, on_node, on_peers};
    pol_engine_set_sink(e, &sink);
    /* bob gets a second node: the server's filter changes (a new source), they see each other */
    struct pol_node b2 = mknode(7, BOB, NULL, 0);
    pol_engine_node_set(e, &b2);
    is_str(lg.text, "5+7;node 5 filter;", "a join: the server sees the newcomer and its filter gains it; nobody else hears");
    lg.text[0] = 0;
    /* the newcomer is retagged as a router: out of group:eng */
    struct pol_node b2t = mknode(7, 0, t_router, 1);
    pol_engine_node_set(e, &b2t);
    is_str(lg.text, "5-7;7-5;node 5 filter;", "a retag: the server loses it (its filter too), both are told");
    lg.text[0] = 0;
    /* a node no rule names changes: nobody hears */
    struct pol_node c4 = mknode(4, CAROL, NULL, 0);
    c4.os = "linux";
    pol_engine_node_set(e, &c4);
    is_str(lg.text, "", "a change no rule depends on: no report");
    /* bob's first node leaves */
    pol_engine_node_del(e, 3);
    is_str(lg.text, "5-3;node 5 filter;", "a leave: the server loses it and its filter changes");
    struct pol_stats st;
    pol_engine_stats(e, &st);
    is_int((long long)st.full_compiles, 1, "no full compile for joins, retags and leaves");
    /* policy edits: only the nodes whose result changes hear of it */
    lg.text[0] = 0;
    ok(!install(e, "{\"tagOwners\": {\"tag:server\": [], \"tag:router\": []},"
                   " \"acls\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:server:443\"]}],"
                   " \"groups\": {\"group:eng\": [\"bob@example.com\", \"carol@\"]}}"),
       "an edit: carol joins group:eng");
    is_str(lg.text, "4+5;5+4;node 5 filter;", "carol's node and the server see each other, the server's filter gains her");
    lg.text[0] = 0;
    ok(!install(e, "{\"tagOwners\": {\"tag:server\": [], \"tag:router\": []}, // the same, reworded\n"
                   " \"groups\": {\"group:eng\": [\"carol@\", \"bob@example.com\",],},"
                   " \"acls\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:server:443\"]},],}"),
       "an edit that changes no result");
    is_str(lg.text, "", "nobody hears of it");
    ok(!install(e, "{\"tagOwners\": {\"tag:server\": [], \"tag:router\": []},"
                   " \"acls\": [{\"action\": \"accept\", \"src\": [\"group:eng\"], \"dst\": [\"tag:server:8443\"]}],"
                   " \"groups\": {\"group:eng\": [\"bob@example.com\", \"carol@\"]}}"),
       "an edit: the port");
    is_str(lg.text, "node 5 filter;", "only the server's filter changes; no peers come or go");
    pol_engine_free(e);
}

/* control.packet_filter_file: the filter of every node while no policy is in force */
static void default_filter(void)
{
    struct pol_engine *e = tailnet();
    struct log lg = {""};
    struct pol_sink sink = {&lg, on_node, on_peers};
    size_t l;
    const char *f = pol_filter_json(e, 1, &l);
    ok(f && strstr(f, "\"SrcIPs\":[\"*\"]"), "no policy and no default filter: allow-all");
    pol_engine_set_sink(e, &sink);
    static const char file[] = "[{\"SrcIPs\":[\"100.64.0.3\"],\"DstPorts\":[{\"IP\":\"*\",\"Ports\":{\"First\":7,\"Last\":7}}]}]";
    ok(!pol_engine_set_default_filter(e, file, strlen(file)), "a default filter is set");
    is_str(lg.text, "node 1 filter;node 2 filter;node 3 filter;node 4 filter;node 5 filter;node 6 filter;",
           "every node's filter changes");
    f = pol_filter_json(e, 4, &l);
    ok(f && l == strlen(file) && !memcmp(f, file, l), "each gets the filter as given");
    ok(pol_visible(e, 1, 4) && pol_visible(e, 4, 1), "every node still sees every other");
    lg.text[0] = 0;
    ok(!install(e, "{\"acls\": [{\"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"tag:server:22\"]}],"
                   " \"tagOwners\": {\"tag:server\": []}}"),
       "a policy comes in");
    f = pol_filter_json(e, 4, &l);
    ok(f && !strcmp(f, "[]"), "it replaces the default filter (carol's node is no destination)");
    f = pol_filter_json(e, 5, &l);
    ok(f && strstr(f, "\"Ports\":{\"First\":22,\"Last\":22}"), "the server gets the policy's rule");
    lg.text[0] = 0;
    ok(!pol_engine_set_default_filter(e, NULL, 0), "the default filter is unset while the policy is in force");
    is_str(lg.text, "", "nobody hears of it");
    struct pol_errors errs;
    pol_engine_set_policy(e, NULL, &errs);
    pol_errors_free(&errs);
    f = pol_filter_json(e, 4, &l);
    ok(f && strstr(f, "\"SrcIPs\":[\"*\"]"), "the policy removed: allow-all again");
    pol_engine_free(e);
}

/* ---- device posture ---- */

static void postures(void)
{
    struct pol_engine *e = tailnet();
    /* alice's laptop runs macOS with 1.70.0, her phone iOS 1.69.1, bob linux 1.68.2 */
    struct pol_node n1 = mknode(1, ALICE, NULL, 0), n2 = mknode(2, ALICE, NULL, 0), n3 = mknode(3, BOB, NULL, 0);
    n1.os = "macOS", n1.ts_version = "1.70.0-t1234abcd";
    n2.os = "iOS", n2.ts_version = "1.69.1";
    n3.os = "linux", n3.ts_version = "1.68.2", n3.os_version = "6.1.0";
    pol_engine_node_set(e, &n1);
    pol_engine_node_set(e, &n2);
    pol_engine_node_set(e, &n3);
    ok(!install(e, "{\"tagOwners\": {\"tag:server\": []},"
                   " \"postures\": {\"posture:recent\": [\"node:tsVersion >= '1.69'\", \"node:os IN ['macos', 'linux']\"],"
                   "               \"posture:stable\": [\"node:tsReleaseTrack == 'stable'\", \"node:osVersion IS SET\"]},"
                   " \"grants\": [{\"src\": [\"*\"], \"dst\": [\"tag:server\"], \"ip\": [\"tcp:22\"],"
                   "              \"srcPosture\": [\"posture:recent\", \"posture:stable\"]}]}"),
       "postures and srcPosture");
    ok(has(e, 5, "\"SrcIPs\":[\"100.64.0.1\",\"100.64.0.3\",\"fd7a:115c:a1e0::1\",\"fd7a:115c:a1e0::3\"]"),
       "\"*\" under a posture lists the nodes that meet one (macOS 1.70, stable linux), not the ranges");
    ok(pol_visible(e, 5, 1) && !pol_visible(e, 5, 2) && pol_visible(e, 5, 3), "the iOS 1.69 phone is no source");
    struct log lg = {""};
    struct pol_sink sink = {&lg, on_node, on_peers};
    pol_engine_set_sink(e, &sink);
    n2.os = "macOS";
    pol_engine_node_set(e, &n2);
    is_str(lg.text, "5+2;2+5;node 5 filter;", "the phone now meets a posture: it and the server see each other, the server's filter gains it");
    pol_engine_set_sink(e, NULL);
    ok(!install(e, "{\"tagOwners\": {\"tag:server\": []},"
                   " \"postures\": {\"posture:linux\": [\"node:os == 'linux'\"]},"
                   " \"defaultSrcPosture\": [\"posture:linux\"],"
                   " \"acls\": [{\"action\": \"accept\", \"src\": [\"autogroup:member\"], \"dst\": [\"tag:server:22\"]}]}"),
       "defaultSrcPosture");
    ok(has(e, 5, "\"SrcIPs\":[\"100.64.0.3\",\"fd7a:115c:a1e0::3\"]"), "applies to rules without their own");
    struct pol_errors errs;
    static const char unknown[] = "{\"grants\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"ip\": [\"*\"], \"srcPosture\": [\"posture:x\"]}]}";
    ok(!policy_parse(unknown, strlen(unknown), &errs) && errs.n && strstr(errs.v[0].msg, "no such posture"),
       "an undefined posture is refused");
    pol_errors_free(&errs);
    pol_engine_free(e);
}

/* ---- tagOwners and autoApprovers, for registration and routes ---- */

static void owners_and_approvers(void)
{
    struct pol_engine *e = tailnet();
    ok(pol_tag_allowed(e, "tag:anything", BOB, NULL, 0), "without a policy any tag is allowed");
    ok(!install(e, "{\"groups\": {\"group:ops\": [\"bob@example.com\"]},"
                   " \"tagOwners\": {\"tag:server\": [\"group:ops\"], \"tag:router\": [\"alice@example.com\"],"
                   "                 \"tag:child\": [\"tag:router\"], \"tag:admins\": [\"autogroup:admin\"]},"
                   " \"autoApprovers\": {\"routes\": {\"10.9.0.0/16\": [\"tag:router\"], \"192.168.0.0/16\": [\"group:ops\"]},"
                   "                     \"exitNode\": [\"tag:router\"]}}"),
       "tagOwners and autoApprovers");
    ok(pol_tag_allowed(e, "tag:server", BOB, NULL, 0) && !pol_tag_allowed(e, "tag:server", ALICE, NULL, 0),
       "a tag owned by a group: its members only");
    ok(pol_tag_allowed(e, "tag:router", ALICE, NULL, 0), "a tag owned by a user");
    static const char *const router[] = {"tag:router"};
    ok(pol_tag_allowed(e, "tag:child", 0, router, 1) && !pol_tag_allowed(e, "tag:child", ALICE, NULL, 0),
       "a tag owned by a tag: a node carrying that tag may take it");
    ok(pol_tag_allowed(e, "tag:admins", ALICE, NULL, 0) && !pol_tag_allowed(e, "tag:admins", BOB, NULL, 0),
       "a tag owned by a role");
    ok(!pol_tag_allowed(e, "tag:undefined", ALICE, NULL, 0), "a tag the policy does not define is nobody's");
    ok(pol_route_auto_approved(e, 6, "10.9.1.0/24") && !pol_route_auto_approved(e, 6, "10.10.0.0/16"),
       "a router's route inside its approved prefix (not outside)");
    ok(pol_route_auto_approved(e, 6, "0.0.0.0/0") && !pol_route_auto_approved(e, 5, "0.0.0.0/0"),
       "exit node approval by tag");
    ok(pol_route_auto_approved(e, 3, "192.168.7.0/24") && !pol_route_auto_approved(e, 1, "192.168.7.0/24"),
       "route approval by group (bob's node, not alice's)");
    pol_engine_free(e);
}

int main(void)
{
    hujson();
    netsets();
    refusals();
    selectors();
    reports();
    default_filter();
    postures();
    owners_and_approvers();
    return done_testing();
}
