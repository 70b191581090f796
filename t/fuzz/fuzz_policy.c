// SPDX-License-Identifier: BSD-3-Clause
/* Fuzzes the policy file (administrator input, and what `weft policy set` sends over the admin socket):
 * the HuJSON reader, the parser and its checks, and the compiler over a small tailnet (filters, peers,
 * SSH policies, node attributes, the policy's tests), then a node joining, being retagged and leaving.
 * Properties: no crash or sanitizer report, bounded work (inputs are capped at 64 KiB), every refusal has
 * an error with a place, every compiled filter and SSH policy is valid JSON, and hj_standardize agrees
 * with the reader on what is HuJSON.
 * The control sources are not in libweftcore (the fuzz build's library), so they are compiled in here. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "modules/control/policy/alias.c"
#include "modules/control/policy/engine.c"
#include "modules/control/policy/rules.c"
#include "modules/control/policy/filter.c"
#include "modules/control/policy/hujson.c"
#include "modules/control/policy/netset.c"
#include "modules/control/policy/nodeattrs.c"
#include "modules/control/policy/parse.c"
#include "modules/control/policy/parse_access.c"
#include "modules/control/policy/parse_nodes.c"
#include "modules/control/policy/parse_tests.c"
#include "modules/control/policy/select.c"
#include "modules/control/policy/ssh.c"
#include "modules/control/policy/tests.c"
#include "t/policy_node.h"

static const struct pol_user fz_users[] = {{1, "alice@example.com", POL_ROLE_ADMIN}, {2, "bob@example.org", 0},
                                           {3, "carol", 0}};
static const char *const fz_t1[] = {"tag:server"}, *const fz_t2[] = {"tag:router", "tag:exit"};
static const char *const fz_r2[] = {"10.33.0.0/16", "0.0.0.0/0", "::/0"};

static void valid_json(const char *t, size_t l)
{
    if (!t)
        return;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, t, (int)l);
    if (!o || json_tokener_get_error(tok) != json_tokener_success)
        abort();
    json_object_put(o);
    json_tokener_free(tok);
}

static void results(struct pol_engine *e)
{
    for (int64_t id = 1; id <= 5; id++) {
        size_t l;
        valid_json(pol_filter_json(e, id, &l), l);
        valid_json(pol_ssh_json(e, id, &l), l);
        pol_caps_json(e, id, &l);
        for (int64_t j = 1; j <= 5; j++)
            if (pol_visible(e, id, j) != pol_visible(e, j, id))
                abort(); /* visibility is symmetric */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    /* the reader and the standardizer agree on what is well-formed */
    struct hj_doc d;
    struct hj_error he;
    int parsed = hj_parse((const char *)data, size, &d, &he);
    if (!parsed)
        hj_free(&d);
    else if (he.pos.line == 0 || he.pos.col == 0 || !he.msg[0])
        abort(); /* a refusal always has a place and a reason */
    char *copy = malloc(size + 1);
    memcpy(copy, data, size);
    copy[size] = 0;
    if (!parsed && hj_standardize(copy, size) != 0)
        abort();
    free(copy);

    struct pol_errors errs;
    struct policy *p = policy_parse((const char *)data, size, &errs);
    if (!p) {
        if (!errs.n)
            abort();
        for (size_t i = 0; i < errs.n; i++)
            if (!errs.v[i].msg)
                abort();
        pol_errors_free(&errs);
        return 0;
    }
    pol_errors_free(&errs);
    struct pol_engine *e = pol_engine_new();
    pol_engine_set_users(e, fz_users, 3);
    struct pol_node n[5] = {pol_test_node(1, 1, NULL, 0), pol_test_node(2, 1, NULL, 0),
                            pol_test_node(3, 2, NULL, 0), pol_test_node(4, 0, fz_t1, 1),
                            pol_test_node(5, 0, fz_t2, 2)};
    n[4].routable = fz_r2;
    n[4].nroutable = 3;
    n[4].approved = fz_r2;
    n[4].napproved = 1;
    for (int i = 0; i < 5; i++)
        pol_engine_node_set(e, &n[i]);
    if (pol_engine_set_policy(e, p, &errs)) {
        pol_errors_free(&errs);
        policy_free(p);
        pol_engine_free(e);
        return 0;
    }
    pol_errors_free(&errs);
    results(e);
    /* incremental: a join, a retag, a leave */
    struct pol_node c = pol_test_node(6, 3, NULL, 0);
    pol_engine_node_set(e, &c);
    struct pol_node c2 = pol_test_node(6, 0, fz_t1, 1);
    pol_engine_node_set(e, &c2);
    pol_engine_node_del(e, 3);
    results(e);
    pol_engine_free(e);
    return 0;
}
