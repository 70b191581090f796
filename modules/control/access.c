// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/filewatch.h"
#include "core/json/json_util.h"
#include "core/log.h"
#include "modules/control/access.h"
#include "modules/control/ctrl.h"
#include "modules/control/store.h"

/* See access.h. The engine's sink turns its reports into per-node pending work: a node whose own filter,
 * SSH policy or attributes changed, and the peers that became visible or invisible to it; fanout.c sends
 * them with the next batch. */

struct access {
    struct pol_engine *eng;
    int mode;
    char *path;        /* file mode: the file (resolved) */
    char *conf_path;   /* control.policy.path as configured (a reload compares with it) */
    char *text;        /* the text in force (NULL: none) */
    size_t textlen;
    struct filewatch *watch; /* file mode: its changes are reloaded */
};

static struct access *A(struct ctrl *c)
{
    return c->acc;
}

/* ---- the engine's reports ---- */

static void list_drop(int64_t *v, size_t *n, int64_t id)
{
    for (size_t i = 0; i < *n; i++)
        if (v[i] == id) {
            v[i] = v[--*n];
            return;
        }
}

static void list_add(int64_t **v, size_t *n, size_t *cap, int64_t id)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i] == id)
            return;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        int64_t *x = realloc(*v, nc * sizeof *x);
        if (!x)
            return;
        *v = x;
        *cap = nc;
    }
    (*v)[(*n)++] = id;
}

static void sink_node(void *arg, int64_t id, unsigned what)
{
    struct ctrl *c = arg;
    struct cnode *n = ctrl_node_by_id(c, id);
    c->views_stale = true; /* what the policy lets nodes reach changed: maybe their routes too */
    if (!n)
        return;
    n->pol |= what;
    fanout_node(c, n, CH_POLICY);
}

static void sink_peers(void *arg, int64_t viewer, const int64_t *add, size_t nadd, const int64_t *rem, size_t nrem)
{
    struct ctrl *c = arg;
    struct cnode *n = ctrl_node_by_id(c, viewer);
    c->views_stale = true;
    if (!n)
        return;
    if (!n->npadd && !n->nprem) {
        /* nothing pending: the engine's lists are the lists (no duplicates in them), taken whole, not
         * one by one with a look-up each (a policy change may bring thousands of peers into view) */
        size_t lens[2] = {nadd, nrem};
        int64_t **dst[2] = {&n->padd, &n->prem};
        size_t *ns[2] = {&n->npadd, &n->nprem}, *caps[2] = {&n->capadd, &n->caprem};
        const int64_t *src[2] = {add, rem};
        for (int k = 0; k < 2; k++) {
            if (!lens[k])
                continue;
            if (lens[k] > *caps[k]) {
                int64_t *v = realloc(*dst[k], lens[k] * sizeof *v);
                if (!v)
                    continue;
                *dst[k] = v;
                *caps[k] = lens[k];
            }
            memcpy(*dst[k], src[k], lens[k] * sizeof *src[k]);
            *ns[k] = lens[k];
        }
        fanout_node(c, n, CH_POLICY);
        return;
    }
    for (size_t i = 0; i < nadd; i++) {
        list_drop(n->prem, &n->nprem, add[i]);
        list_add(&n->padd, &n->npadd, &n->capadd, add[i]);
    }
    for (size_t i = 0; i < nrem; i++) {
        list_drop(n->padd, &n->npadd, rem[i]);
        list_add(&n->prem, &n->nprem, &n->caprem, rem[i]);
    }
    fanout_node(c, n, CH_POLICY);
}

/* ---- the tailnet into the engine ---- */

static struct pol_node to_pol(const struct cnode *n)
{
    struct pol_node p;
    memset(&p, 0, sizeof p);
    p.id = n->m.id;
    p.user_id = n->m.user_id;
    p.tags = (const char *const *)n->m.tags.v;
    p.ntags = n->m.tags.n;
    p.has4 = n->m.has_ipv4;
    p.has6 = n->m.has_ipv6;
    memcpy(p.ip4, n->m.ipv4, 4);
    memcpy(p.ip6, n->m.ipv6, 16);
    /* the routes as routes.c keeps them: valid advertised ones, and those an admin or the autoApprovers
     * approved (canonical CIDR text; both halves of an exit node's) */
    p.routable = (const char *const *)n->m.routes_advertised.v;
    p.nroutable = n->m.routes_advertised.n;
    p.approved = (const char *const *)n->m.routes_approved.v;
    p.napproved = n->m.routes_approved.n;
    p.os = n->hi_os;
    p.os_version = n->hi_os_version;
    p.ts_version = n->hi_version;
    return p;
}

void access_node(struct ctrl *c, struct cnode *n)
{
    struct access *a = A(c);
    if (!a)
        return;
    struct pol_node p = to_pol(n);
    c->views_stale = true;
    if (pol_engine_node_set(a->eng, &p))
        log_error("module=control event=policy node=%lld error=\"out of memory\"", (long long)n->m.id);
    if (pol_engine_unsettled(a->eng))
        fanout_soon(c);
}

void access_node_gone(struct ctrl *c, int64_t id)
{
    struct access *a = A(c);
    if (!a)
        return;
    pol_engine_node_del(a->eng, id);
    if (pol_engine_unsettled(a->eng))
        fanout_soon(c);
}

void access_settle(struct ctrl *c)
{
    struct access *a = A(c);
    if (a)
        pol_engine_settle(a->eng);
}

void access_flushed(struct ctrl *c)
{
    struct access *a = A(c);
    if (a)
        pol_engine_release(a->eng);
}

void access_users(struct ctrl *c)
{
    struct access *a = A(c);
    if (!a)
        return;
    struct pol_user *u = calloc(c->nusers ? c->nusers : 1, sizeof *u);
    if (!u)
        return;
    for (size_t i = 0; i < c->nusers; i++) {
        u[i].id = c->users[i].id;
        u[i].login = c->users[i].name;
    }
    if (pol_engine_set_users(a->eng, u, c->nusers))
        log_error("module=control event=policy error=\"out of memory updating users\"");
    free(u);
}

/* ---- loading ---- */

static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 > cap) {
            if (cap > (64u << 20)) {
                snprintf(err, errlen, "%s: larger than 64 MiB", path);
                free(buf);
                fclose(f);
                return -1;
            }
            char *p = realloc(buf, cap = cap ? cap * 2 : 16384);
            if (!p) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (!r)
            break;
        n += r;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Every error as "SOURCE:LINE:COL: message" lines into err. */
static void errs_text(const struct pol_errors *e, const char *source, char *err, size_t errlen)
{
    char *t = pol_errors_format(e, source);
    snprintf(err, errlen, "%s", t ? t : "");
    free(t);
    size_t l = strlen(err);
    while (l && err[l - 1] == '\n')
        err[--l] = 0;
}

/* control.packet_filter_file is the filter only while no policy is in force: say so when a policy comes in. */
static void file_unused(struct ctrl *c, const char *source)
{
    if (!A(c)->text && c->conf->packet_filter_file)
        log_warn("module=control event=policy source=%s msg=\"a policy is in force: nodes get its filters, not "
                 "control.packet_filter_file's (used again only if the policy is removed)\"", source);
}

/* Parses text and puts it in force. 0, or -1 with every error in err. */
static int install(struct ctrl *c, const char *text, size_t len, const char *source, char *err, size_t errlen)
{
    struct access *a = A(c);
    struct pol_errors errs;
    struct policy *p = policy_parse(text, len, &errs);
    if (!p) {
        errs_text(&errs, source, err, errlen);
        pol_errors_free(&errs);
        return -1;
    }
    if (pol_engine_set_policy(a->eng, p, &errs)) {
        errs_text(&errs, source, err, errlen);
        pol_errors_free(&errs);
        policy_free(p);
        return -1;
    }
    pol_errors_free(&errs);
    file_unused(c, source);
    if (policy_uses_roles(p))
        log_warn("module=control event=policy source=%s msg=\"the policy names user roles (autogroup:admin, "
                 ":owner, ...): weft's users hold none, so they match nobody\"", source);
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = 0;
    }
    free(a->text);
    a->text = copy;
    a->textlen = copy ? len : 0;
    return 0;
}

/* The policy file's path: relative paths are relative to state_dir, like the database's. */
static char *policy_file(const struct ctrl *c, const struct control_conf *conf)
{
    if (conf->policy_mode != POLICY_MODE_FILE || !conf->policy_path || !*conf->policy_path)
        return NULL;
    if (conf->policy_path[0] == '/' || !c->state_dir)
        return strdup(conf->policy_path);
    size_t n = strlen(c->state_dir) + strlen(conf->policy_path) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", c->state_dir, conf->policy_path);
    return p;
}

/* Loads from where conf says. 0 (installed, or unchanged), 1 (no policy configured: allow-all), -1. */
static int load(struct ctrl *c, const struct control_conf *conf, char *err, size_t errlen)
{
    struct access *a = A(c);
    char *text = NULL;
    size_t len = 0;
    const char *source;
    if (conf->policy_mode == POLICY_MODE_DATABASE) {
        int64_t updated;
        int rc = store_policy_get(c->store, &text, &len, &updated);
        if (rc == STORE_NOTFOUND)
            text = NULL;
        else if (rc) {
            snprintf(err, errlen, "reading the policy from the database: %s", store_errmsg(c->store));
            return -1;
        }
        source = "database";
    } else {
        char *path = policy_file(c, conf);
        if (!path) {
            text = NULL;
        } else if (read_file(path, &text, &len, err, errlen)) {
            free(path);
            return -1;
        }
        source = conf->policy_path;
        free(path);
    }
    if (!text) {
        if (a->text) {
            /* the policy was taken away: back to allow-all */
            struct pol_errors errs;
            pol_engine_set_policy(a->eng, NULL, &errs);
            pol_errors_free(&errs);
            free(a->text);
            a->text = NULL;
            a->textlen = 0;
            log_info("module=control event=policy result=none msg=\"no policy: %s\"",
                     c->conf->packet_filter_file ? "every node gets control.packet_filter_file's filter"
                                                 : "every node may reach every other");
        }
        return 1;
    }
    if (a->text && a->textlen == len && !memcmp(a->text, text, len)) {
        free(text);
        return 0;
    }
    int rc = install(c, text, len, source, err, errlen);
    free(text);
    if (rc == 0)
        routes_auto_approve_all(c); /* its autoApprovers may approve what waits */
    return rc;
}

static int set_path(struct ctrl *c, const struct control_conf *conf)
{
    struct access *a = A(c);
    free(a->path);
    a->path = NULL;
    if (conf->policy_mode != POLICY_MODE_FILE || !conf->policy_path || !*conf->policy_path)
        return 0;
    if (!(a->path = policy_file(c, conf)))
        return -1;
    free(a->conf_path);
    if (!(a->conf_path = strdup(conf->policy_path)))
        return -1;
    return 0;
}

/* control.packet_filter_file: a JSON array of FilterRules every node gets while no policy is in force
 * (fixed setups and tests). */
static int default_filter(struct ctrl *c, char *err, size_t errlen)
{
    const char *path = c->conf->packet_filter_file;
    char *buf;
    size_t len;
    if (!path)
        return 0;
    if (read_file(path, &buf, &len, err, errlen))
        return -1;
    struct json_object *o = tc_json_parse(buf, len);
    free(buf);
    if (!o || !json_object_is_type(o, json_type_array)) {
        json_object_put(o);
        snprintf(err, errlen, "control.packet_filter_file: %s: not a JSON array of FilterRules", path);
        return -1;
    }
    size_t tl;
    const char *t = tc_json_text(o, &tl);
    int rc = pol_engine_set_default_filter(A(c)->eng, t, tl);
    json_object_put(o);
    if (rc) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    log_info("module=control event=packet_filter file=%s msg=\"the filter of every node while no policy is in "
             "force\"", path);
    return 0;
}

/* The routes' approval hook (routes.h): the policy's autoApprovers, for a route the node advertises. */
static bool auto_approve(void *arg, const struct cnode *n, const char *route)
{
    struct ctrl *c = arg;
    struct access *a = A(c);
    return a && a->text && pol_route_auto_approved(a->eng, n->m.id, route);
}

int access_init(struct ctrl *c, char *err, size_t errlen)
{
    struct access *a = calloc(1, sizeof *a);
    if (!a || !(a->eng = pol_engine_new())) {
        free(a);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->mode = c->conf->policy_mode;
    c->acc = a;
    c->approver = (struct route_approver){auto_approve, c};
    pol_engine_set_server_url(a->eng, c->conf->server_url ? c->conf->server_url : "");
    if (default_filter(c, err, errlen))
        return -1;
    access_users(c);
    for (size_t i = 0; i < c->nnodes; i++)
        access_node(c, c->nodes[i]);
    if (set_path(c, c->conf)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char why[8192];
    int rc = load(c, c->conf, why, sizeof why);
    if (rc < 0) {
        char *save, *line = strtok_r(why, "\n", &save);
        for (; line; line = strtok_r(NULL, "\n", &save))
            log_error("module=control event=policy error=\"%s\"", line);
        snprintf(err, errlen, "the policy is refused (its errors are above); fix it or set no control.policy.path");
        return -1;
    }
    if (rc == 0)
        log_info("module=control event=policy result=loaded source=%s", access_source(c));
    /* the engine reports changes from now on */
    struct pol_sink sink = {c, sink_node, sink_peers};
    pol_engine_set_sink(a->eng, &sink);
    pol_engine_defer(a->eng, true); /* settled once per fan-out batch (access_settle) */
    return 0;
}

int access_reload(struct ctrl *c, const struct control_conf *conf)
{
    struct access *a = A(c);
    if (!a)
        return -1;
    char *now = policy_file(c, conf);
    bool moved = a->mode != conf->policy_mode || !now != !a->path || (now && strcmp(now, a->path));
    free(now);
    char why[8192];
    int rc = load(c, conf, why, sizeof why);
    if (rc < 0) {
        /* one line per error in the log, each with its place */
        char *save, *line = strtok_r(why, "\n", &save);
        log_error("module=control event=policy result=refused msg=\"keeping the policy in force\"");
        for (; line; line = strtok_r(NULL, "\n", &save))
            log_error("module=control event=policy error=\"%s\"", line);
        return -1;
    }
    if (rc == 0)
        log_info("module=control event=policy result=loaded source=%s",
                 conf->policy_mode == POLICY_MODE_DATABASE ? "database" : conf->policy_path);
    if (moved) {
        a->mode = conf->policy_mode;
        set_path(c, conf);
        if (a->watch) { /* watch the new place */
            filewatch_free(a->watch);
            a->watch = NULL;
            access_start(c);
        }
    }
    return 0;
}

/* ---- watching the file ---- */

static void changed_cb(void *arg)
{
    struct ctrl *c = arg;
    struct access *a = A(c);
    log_info("module=control event=policy msg=\"%s changed; reloading\"", a->path);
    /* where the policy lives now (a SIGHUP may have moved it since the configuration was loaded) */
    struct control_conf now = *c->conf;
    now.policy_mode = a->mode;
    now.policy_path = a->conf_path;
    access_reload(c, &now);
}

void access_start(struct ctrl *c)
{
    struct access *a = A(c);
    if (!a || !a->path || a->watch)
        return;
    /* 200 ms: an editor's steps are over; polling (without inotify) every second */
    if (!(a->watch = filewatch_new(c->loop, a->path, 200, 1000, 0, changed_cb, c)))
        log_warn("module=control event=policy file=%s error=\"cannot watch: out of memory\" msg=\"reload with "
                 "SIGHUP\"",
                 a->path);
}

void access_free(struct ctrl *c)
{
    struct access *a = A(c);
    if (!a)
        return;
    filewatch_free(a->watch);
    pol_engine_free(a->eng);
    free(a->text);
    free(a->path);
    free(a->conf_path);
    free(a);
    c->acc = NULL;
}

/* ---- the admin verbs ---- */

int access_check(struct ctrl *c, const char *text, size_t len, struct pol_errors *errs)
{
    struct access *a = A(c);
    memset(errs, 0, sizeof *errs);
    struct policy *p = policy_parse(text, len, errs);
    if (!p)
        return -1;
    int rc = pol_engine_check(a->eng, p, errs);
    policy_free(p);
    return rc;
}

static void errs_add(struct pol_errors *e, const char *msg)
{
    struct pol_error *v = realloc(e->v, (e->n + 1) * sizeof *v);
    if (!v)
        return;
    e->v = v;
    v[e->n].line = v[e->n].col = 0;
    v[e->n].msg = strdup(msg);
    if (v[e->n].msg)
        e->n++;
}

int access_set(struct ctrl *c, const char *text, size_t len, struct pol_errors *errs)
{
    struct access *a = A(c);
    memset(errs, 0, sizeof *errs);
    if (a->mode != POLICY_MODE_DATABASE) {
        char m[4200];
        snprintf(m, sizeof m, "control.policy.mode is file: the policy is %s; edit that file instead",
                 a->path ? a->path : "(none configured)");
        errs_add(errs, m);
        return -1;
    }
    struct policy *p = policy_parse(text, len, errs);
    if (!p)
        return -1;
    if (pol_engine_check(a->eng, p, errs)) {
        policy_free(p);
        return -1;
    }
    /* stored first: what is in force is always what a restart would load */
    if (store_policy_set(c->store, text, len)) {
        errs_add(errs, store_errmsg(c->store));
        policy_free(p);
        return -1;
    }
    if (pol_engine_set_policy(a->eng, p, errs)) {
        policy_free(p);
        return -1;
    }
    file_unused(c, "database");
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = 0;
    }
    free(a->text);
    a->text = copy;
    a->textlen = copy ? len : 0;
    log_info("module=control event=policy result=loaded source=database");
    routes_auto_approve_all(c);
    return 0;
}

const char *access_text(struct ctrl *c, size_t *len)
{
    struct access *a = A(c);
    *len = a ? a->textlen : 0;
    return a ? a->text : NULL;
}

const char *access_source(struct ctrl *c)
{
    struct access *a = A(c);
    if (!a)
        return "none";
    if (a->mode == POLICY_MODE_DATABASE)
        return "database";
    return a->path ? a->path : "none";
}

/* ---- results ---- */

struct pol_engine *access_engine(struct ctrl *c)
{
    return A(c) ? A(c)->eng : NULL;
}

bool access_visible(struct ctrl *c, const struct cnode *viewer, const struct cnode *subject)
{
    struct access *a = A(c);
    return !a || pol_visible(a->eng, viewer->m.id, subject->m.id);
}

int64_t access_via_router(struct ctrl *c, const struct cnode *viewer, const char *prefix, const int64_t *routers,
                          size_t n, int64_t primary)
{
    struct access *a = A(c);
    return a ? pol_via_router(a->eng, viewer->m.id, prefix, routers, n, primary) : POL_VIA_PRIMARY;
}

void access_resend_peer(struct ctrl *c, struct cnode *viewer, struct cnode *peer)
{
    list_drop(viewer->prem, &viewer->nprem, peer->m.id);
    list_add(&viewer->padd, &viewer->npadd, &viewer->capadd, peer->m.id);
    fanout_node(c, viewer, CH_POLICY);
}

bool access_all_visible(struct ctrl *c)
{
    struct access *a = A(c);
    return !a || pol_all_visible(a->eng);
}

long access_slot(struct ctrl *c, const struct cnode *n)
{
    struct access *a = A(c);
    return a ? pol_slot(a->eng, n->m.id) : -1;
}

const uint64_t *access_peer_bits(struct ctrl *c, const struct cnode *viewer)
{
    struct access *a = A(c);
    return a ? pol_peer_bits(a->eng, viewer->m.id) : NULL;
}

const char *access_filter(struct ctrl *c, const struct cnode *n, size_t *len)
{
    struct access *a = A(c);
    return a ? pol_filter_json(a->eng, n->m.id, len) : NULL;
}

const char *access_ssh(struct ctrl *c, const struct cnode *n, size_t *len)
{
    struct access *a = A(c);
    return a ? pol_ssh_json(a->eng, n->m.id, len) : NULL;
}

const char *access_caps(struct ctrl *c, const struct cnode *n, size_t *len)
{
    struct access *a = A(c);
    if (!a) {
        *len = 0;
        return "";
    }
    const char *t = pol_caps_json(a->eng, n->m.id, len);
    return t ? t : "";
}
