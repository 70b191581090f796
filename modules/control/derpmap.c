// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/control/derpmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/json/json_util.h"

#define MAX_FILE (4u << 20)

static char *slurp(const char *file, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", file, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 > cap) {
            char *p = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!p)
                break;
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (!r)
            break;
        n += r;
        if (n > MAX_FILE)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || n > MAX_FILE || !buf) {
        snprintf(err, errlen, "%s: %s", file, n > MAX_FILE ? "larger than 4 MiB" : "cannot read");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static int get_int(struct json_object *o, const char *k, long long *v)
{
    struct json_object *x;
    if (!json_object_object_get_ex(o, k, &x) || !json_object_is_type(x, json_type_int))
        return -1;
    *v = json_object_get_int64(x);
    return 0;
}

static const char *get_str(struct json_object *o, const char *k)
{
    struct json_object *x;
    if (!json_object_object_get_ex(o, k, &x) || !json_object_is_type(x, json_type_string))
        return NULL;
    return json_object_get_string(x);
}

static int check_map(struct json_object *m, char *err, size_t errlen)
{
    struct json_object *regions;
    if (!json_object_is_type(m, json_type_object)) {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }
    if (!json_object_object_get_ex(m, "Regions", &regions) || !json_object_is_type(regions, json_type_object) ||
        json_object_object_length(regions) == 0) {
        snprintf(err, errlen, "no \"Regions\": a DERP map needs at least one region");
        return -1;
    }
    json_object_object_foreach(regions, key, r)
    {
        long long id, nid;
        char *end;
        long long kid = strtoll(key, &end, 10);
        struct json_object *nodes;
        if (!json_object_is_type(r, json_type_object) || get_int(r, "RegionID", &id) || *end || id != kid ||
            id <= 0 || id > 0x7fffffff) {
            snprintf(err, errlen, "region \"%.40s\": needs \"RegionID\" equal to its key (a positive number)", key);
            return -1;
        }
        if (!json_object_object_get_ex(r, "Nodes", &nodes) || !json_object_is_type(nodes, json_type_array) ||
            json_object_array_length(nodes) == 0) {
            snprintf(err, errlen, "region %lld: needs \"Nodes\" with at least one node", id);
            return -1;
        }
        for (size_t i = 0; i < json_object_array_length(nodes); i++) {
            struct json_object *n = json_object_array_get_idx(nodes, i);
            const char *name = json_object_is_type(n, json_type_object) ? get_str(n, "Name") : NULL;
            const char *host = name ? get_str(n, "HostName") : NULL;
            if (!name || !*name || !host || !*host || get_int(n, "RegionID", &nid) || nid != id) {
                snprintf(err, errlen, "region %lld, node %zu: needs \"Name\", \"HostName\" and \"RegionID\": %lld", id,
                         i, id);
                return -1;
            }
        }
    }
    return 0;
}

int derpmap_load(const char *file, char **json, size_t *len, char *err, size_t errlen)
{
    size_t n;
    char *buf = slurp(file, &n, err, errlen);
    if (!buf)
        return -1;
    struct json_object *o = tc_json_parse(buf, n);
    free(buf);
    char why[256];
    if (!o) {
        snprintf(err, errlen, "%s: not valid JSON", file);
        return -1;
    }
    if (check_map(o, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", file, why);
        json_object_put(o);
        return -1;
    }
    size_t tl;
    const char *t = tc_json_text(o, &tl);
    *json = t ? strndup(t, tl) : NULL;
    *len = tl;
    json_object_put(o);
    if (!*json) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}
