// SPDX-License-Identifier: BSD-3-Clause
/* `weft db migrate --from DSN --to DSN [--force]`: copies a tailnet between databases (SQLite to PostgreSQL
 * and back, or between two of one kind) through the storage interface, so that it works for any pair of
 * backends: users, pre-auth keys and nodes with their ids (the nodes' owners and keys refer to them), the
 * policy, the REST API's credentials, run-time settings and the users' OpenID identities, in one transaction
 * on the target, then counted on both sides. The control server must not be writing to the
 * source meanwhile (stop it, or copy a backup).
 *
 * A table added by a migration is copied here too: one more copy step below, next to the others. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/cli_args.h"
#include "core/module.h"
#include "modules/control/dsn.h"
#include "modules/control/model.h"
#include "modules/control/store.h"

struct counts {
    size_t users, keys, nodes, creds, settings, identities;
};

static const int cred_kinds[] = {MODEL_CRED_APIKEY, MODEL_CRED_OAUTH};

/* Every API credential of every kind (free()). */
static int creds_all(struct store *s, struct model_cred **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < sizeof cred_kinds / sizeof cred_kinds[0]; i++) {
        struct model_cred *v;
        size_t nv;
        int rc = store_cred_list(s, cred_kinds[i], &v, &nv);
        if (rc != STORE_OK) {
            free(*out);
            *out = NULL;
            *n = 0;
            return rc;
        }
        struct model_cred *all = realloc(*out, (*n + nv + 1) * sizeof *all);
        if (!all) {
            free(v);
            free(*out);
            *out = NULL;
            *n = 0;
            return store_fail(s, STORE_IO, "out of memory");
        }
        if (nv)
            memcpy(all + *n, v, nv * sizeof *v);
        free(v);
        *out = all;
        *n += nv;
    }
    return STORE_OK;
}

/* Settings and identities are read through callbacks: this one counts them, or copies them to `to`. */
struct rows {
    struct store *to; /* NULL: count only */
    size_t n;
    int rc;
    char **names; /* collect_setting: the names, to remove them afterwards */
};

static void count_setting(void *ctx, const char *name, const char *value)
{
    struct rows *r = ctx;
    if (r->rc == STORE_OK && r->to)
        r->rc = store_setting_set(r->to, name, value);
    r->n++;
}

static void count_identity(void *ctx, const char *issuer, const char *subject, int64_t user_id)
{
    struct rows *r = ctx;
    if (r->rc == STORE_OK && r->to)
        r->rc = store_identity_bind(r->to, issuer, subject, user_id);
    r->n++;
}

static void collect_setting(void *ctx, const char *name, const char *value)
{
    (void)value;
    struct rows *r = ctx;
    char **nv = realloc(r->names, (r->n + 1) * sizeof *nv);
    if (!nv || !(nv[r->n] = strdup(name))) {
        if (nv)
            r->names = nv;
        r->rc = STORE_IO;
        return;
    }
    r->names = nv;
    r->n++;
}

static int count(struct store *s, struct counts *c)
{
    struct model_user *u = NULL;
    struct model_authkey *k = NULL;
    struct model_node *n = NULL;
    struct model_cred *cr = NULL;
    struct rows st = {0}, id = {0};
    int rc = store_user_list(s, &u, &c->users);
    if (rc == STORE_OK)
        rc = store_authkey_list(s, &k, &c->keys);
    if (rc == STORE_OK)
        rc = store_node_list(s, &n, &c->nodes);
    if (rc == STORE_OK)
        rc = creds_all(s, &cr, &c->creds);
    if (rc == STORE_OK && (rc = store_setting_list(s, count_setting, &st)) == STORE_OK)
        c->settings = st.n;
    if (rc == STORE_OK && (rc = store_identity_list(s, count_identity, &id)) == STORE_OK)
        c->identities = id.n;
    free(u);
    model_authkeys_free(k, c->keys);
    model_nodes_free(n, c->nodes);
    free(cr);
    return rc;
}

/* Empties the target for --force: a user's forced deletion takes its nodes, keys and identity with it; the
 * API credentials and settings go one by one. */
static int wipe(struct store *s)
{
    struct model_user *u;
    size_t n;
    int rc = store_user_list(s, &u, &n);
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        rc = store_user_delete(s, u[i].id, true);
    free(u);
    struct model_cred *c = NULL;
    if (rc == STORE_OK)
        rc = creds_all(s, &c, &n);
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        rc = store_cred_delete(s, c[i].key_id);
    free(c);
    struct rows st = {0};
    if (rc == STORE_OK && (rc = store_setting_list(s, collect_setting, &st)) == STORE_OK && st.rc)
        rc = store_fail(s, st.rc, "out of memory");
    for (size_t i = 0; i < st.n; i++) {
        if (rc == STORE_OK)
            rc = store_setting_set(s, st.names[i], NULL);
        free(st.names[i]);
    }
    free(st.names);
    return rc;
}

static int copy(struct store *from, struct store *to, const char **what)
{
    struct model_user *u = NULL;
    struct model_authkey *k = NULL;
    struct model_node *n = NULL;
    size_t nu = 0, nk = 0, nn = 0;
    int rc;
    *what = "users";
    if ((rc = store_user_list(from, &u, &nu)))
        goto out;
    for (size_t i = 0; i < nu && !rc; i++)
        rc = store_user_create(to, &u[i]);
    if (rc)
        goto out;
    *what = "pre-auth keys";
    if ((rc = store_authkey_list(from, &k, &nk)))
        goto out;
    for (size_t i = 0; i < nk && !rc; i++)
        rc = store_authkey_create(to, &k[i]);
    if (rc)
        goto out;
    *what = "nodes";
    if ((rc = store_node_list(from, &n, &nn)))
        goto out;
    for (size_t i = 0; i < nn && !rc; i++)
        rc = store_node_insert(to, &n[i]);
    if (rc)
        goto out;
    /* The policy (control.policy.mode: database), when one was ever set. */
    *what = "the policy";
    char *pol = NULL;
    size_t plen = 0;
    if ((rc = store_policy_get(from, &pol, &plen, NULL)) == STORE_OK)
        rc = store_policy_set(to, pol, plen);
    else if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    free(pol);
    if (rc)
        goto out;
    /* The REST API's credentials (their ids are nobody's reference: key_id is), run-time settings, and the
     * identities the users log in with (after the users they name). */
    *what = "API credentials";
    struct model_cred *cr = NULL;
    size_t nc = 0;
    if ((rc = creds_all(from, &cr, &nc)))
        goto out;
    for (size_t i = 0; i < nc && !rc; i++)
        rc = store_cred_create(to, &cr[i]);
    free(cr);
    if (rc)
        goto out;
    *what = "settings";
    struct rows st = {.to = to};
    if ((rc = store_setting_list(from, count_setting, &st)) || (rc = st.rc))
        goto out;
    *what = "user identities";
    struct rows id = {.to = to};
    if ((rc = store_identity_list(from, count_identity, &id)) || (rc = id.rc))
        goto out;
out:
    free(u);
    model_authkeys_free(k, nk);
    model_nodes_free(n, nn);
    return rc;
}

const char db_usage[] =
    "usage: weft db migrate --from DSN --to DSN [--force]\n"
    "Copies a tailnet (users, pre-auth keys, nodes with their ids, the policy, API credentials, settings,\n"
    "OpenID identities) from one control database\n"
    "to another, e.g. --from sqlite:/var/lib/weft/control.db --to postgres://weft@db.example/weft, and\n"
    "prints the counts on both sides. DSN: an SQLite file (PATH or sqlite:PATH) or postgres://... (needs the\n"
    "store_postgres plugin); file:PATH reads the DSN from a file (control.database_dsn_file's format).\n"
    "The target is brought to the current schema (so is the source: SQLite keeps a copy first); a target\n"
    "that already holds a tailnet is refused unless --force, which replaces it. Stop the control server\n"
    "that uses the source first.\n";

/* --from/--to: "file:PATH" holds the DSN (with its password) on its first line. */
static int resolve(const char *arg, char *out, size_t cap)
{
    char err[512];
    if (strncmp(arg, "file:", 5) == 0) {
        if (dsn_read_file(arg + 5, out, cap, err, sizeof err)) {
            fprintf(stderr, "weft db migrate: %s\n", err);
            return -1;
        }
    } else {
        snprintf(out, cap, "%s", arg);
    }
    if (dsn_check(out, err, sizeof err)) {
        fprintf(stderr, "weft db migrate: %s\n", err);
        return -1;
    }
    return 0;
}

int run_db(struct weft_cli *cli, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "migrate") != 0) {
        fputs(db_usage, argc < 2 ? stdout : stderr);
        return 2;
    }
    argc--, argv++;
    const char *from_arg = NULL, *to_arg = NULL;
    int force = 0, npos;
    const struct cli_opt opts[] = {CLI_OPT_VALUE("--from", &from_arg), CLI_OPT_VALUE("--to", &to_arg),
                                   CLI_OPT_FLAG("--force", &force), CLI_OPT_END};
    if (cli_args("db migrate", argc, argv, opts, NULL, 0, &npos))
        return 2;
    if (!from_arg || !to_arg) {
        fprintf(stderr, "weft db migrate: --from and --to are both needed\n%s", db_usage);
        return 2;
    }
    char from[DSN_MAX], to[DSN_MAX], shown_from[DSN_MAX], shown_to[DSN_MAX], err[1024];
    if (resolve(from_arg, from, sizeof from) || resolve(to_arg, to, sizeof to))
        return 2;
    dsn_redact(from, shown_from, sizeof shown_from);
    dsn_redact(to, shown_to, sizeof shown_to);
    const struct weft_module *pm = module_find(&cli->modules, "store_postgres");
    if (pm && pm->iface && store_register(pm->iface, err, sizeof err)) {
        fprintf(stderr, "weft db migrate: %s\n", err);
        return 1;
    }
    if (!pm && (dsn_is_postgres(from) || dsn_is_postgres(to))) {
        fprintf(stderr, "weft db migrate: PostgreSQL needs the store_postgres plugin, which is not loaded "
                        "(see `weft modules`; Debian: install the weft-postgres package; from source: weft builds it when "
                        "configure finds libpq-dev)\n");
        return 1;
    }
    struct store *src = store_open(from, true, err, sizeof err);
    if (!src) {
        fprintf(stderr, "weft db migrate: source %s: %s\n", shown_from, err);
        return 1;
    }
    struct store *dst = store_open(to, true, err, sizeof err);
    if (!dst) {
        fprintf(stderr, "weft db migrate: target %s: %s\n", shown_to, err);
        store_close(src);
        return 1;
    }
    int status = 1, rc;
    struct counts cs = {0}, ct = {0};
    if ((rc = count(src, &cs))) {
        fprintf(stderr, "weft db migrate: source %s: %s\n", shown_from, store_errmsg(src));
        goto out;
    }
    if ((rc = count(dst, &ct))) {
        fprintf(stderr, "weft db migrate: target %s: %s\n", shown_to, store_errmsg(dst));
        goto out;
    }
    if ((ct.users || ct.keys || ct.nodes || ct.creds || ct.settings) && !force) {
        fprintf(stderr,
                "weft db migrate: the target %s already holds a tailnet (%zu users, %zu pre-auth keys, %zu "
                "nodes, %zu API credentials, %zu settings); refusing to mix two: --force replaces it\n",
                shown_to, ct.users, ct.keys, ct.nodes, ct.creds, ct.settings);
        status = 1;
        goto out;
    }
    const char *what = "the old tailnet";
    dst->keep_ids = true;
    if ((rc = store_begin(dst)) || (force && (rc = wipe(dst))) || (rc = copy(src, dst, &what)) ||
        (rc = store_commit(dst))) {
        fprintf(stderr, "weft db migrate: copying %s into %s: %s; nothing was changed there\n", what, shown_to,
                store_errmsg(dst));
        store_rollback(dst);
        goto out;
    }
    if ((rc = count(dst, &ct))) {
        fprintf(stderr, "weft db migrate: target %s: %s\n", shown_to, store_errmsg(dst));
        goto out;
    }
    printf("copied %s -> %s\n", shown_from, shown_to);
    printf("%-14s %8s %8s\n", "", "source", "target");
    printf("%-14s %8zu %8zu\n", "users", cs.users, ct.users);
    printf("%-14s %8zu %8zu\n", "pre-auth keys", cs.keys, ct.keys);
    printf("%-14s %8zu %8zu\n", "nodes", cs.nodes, ct.nodes);
    printf("%-14s %8zu %8zu\n", "API creds", cs.creds, ct.creds);
    printf("%-14s %8zu %8zu\n", "settings", cs.settings, ct.settings);
    printf("%-14s %8zu %8zu\n", "identities", cs.identities, ct.identities);
    if (cs.users == ct.users && cs.keys == ct.keys && cs.nodes == ct.nodes && cs.creds == ct.creds &&
        cs.settings == ct.settings && cs.identities == ct.identities) {
        printf("counts equal\n");
        status = 0;
    } else {
        fprintf(stderr, "weft db migrate: the counts differ\n");
    }
out:
    memset(from, 0, sizeof from);
    memset(to, 0, sizeof to);
    store_close(src);
    store_close(dst);
    return status;
}

