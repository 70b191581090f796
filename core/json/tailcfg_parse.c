// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/json/tailcfg.h"

#include <json-c/json.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* The json-c tree stays alive in the document: strings point into it, arrays come from the arena. */

struct pc {
    struct tc_arena *a;
    const char *err;
};

#define FAIL(c, what)                                                                                          \
    do {                                                                                                       \
        (c)->err = (what);                                                                                     \
        return -1;                                                                                             \
    } while (0)
#define TRY(x)                                                                                                 \
    do {                                                                                                       \
        if ((x) < 0)                                                                                           \
            return -1;                                                                                         \
    } while (0)

/* The member's value, or NULL when absent or null (Go treats both alike). */
static json_object *get(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v))
        return NULL;
    return v;
}

static int v_str(struct pc *c, json_object *v, const char **out, const char *what)
{
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        FAIL(c, what);
    *out = json_object_get_string(v);
    return 0;
}

static int g_str(struct pc *c, json_object *o, const char *k, const char **out)
{
    return v_str(c, get(o, k), out, k);
}

static int v_i64(struct pc *c, json_object *v, int64_t min, int64_t max, int64_t *out, const char *what)
{
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_int))
        FAIL(c, what);
    int64_t x = json_object_get_int64(v);
    /* json-c clamps what does not fit in int64 (and keeps big positives as uint64) */
    if ((x == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX) || x < min || x > max)
        FAIL(c, what);
    *out = x;
    return 0;
}

static int g_i64(struct pc *c, json_object *o, const char *k, int64_t *out)
{
    return v_i64(c, get(o, k), INT64_MIN, INT64_MAX, out, k);
}

static int g_i32(struct pc *c, json_object *o, const char *k, int32_t *out)
{
    int64_t x = *out;
    TRY(v_i64(c, get(o, k), INT32_MIN, INT32_MAX, &x, k));
    *out = (int32_t)x;
    return 0;
}

static int g_u16(struct pc *c, json_object *o, const char *k, uint16_t *out)
{
    int64_t x = *out;
    TRY(v_i64(c, get(o, k), 0, UINT16_MAX, &x, k));
    *out = (uint16_t)x;
    return 0;
}

static int g_bool(struct pc *c, json_object *o, const char *k, bool *out)
{
    json_object *v = get(o, k);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        FAIL(c, k);
    *out = json_object_get_boolean(v);
    return 0;
}

static int g_optbool(struct pc *c, json_object *o, const char *k, enum tc_optbool *out)
{
    json_object *v = get(o, k);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        FAIL(c, k);
    *out = json_object_get_boolean(v) ? TC_TRUE : TC_FALSE;
    return 0;
}

static int g_double(struct pc *c, json_object *o, const char *k, double *out)
{
    json_object *v = get(o, k);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
        FAIL(c, k);
    *out = json_object_get_double(v);
    return 0;
}

static int v_time(struct pc *c, json_object *v, struct tc_time *out, bool *has, const char *what)
{
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string) ||
        tc_time_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v), out) < 0)
        FAIL(c, what);
    if (has)
        *has = true;
    return 0;
}

static int g_time(struct pc *c, json_object *o, const char *k, struct tc_time *out, bool *has)
{
    return v_time(c, get(o, k), out, has, k);
}

static int g_key(struct pc *c, json_object *o, const char *k, const char *prefix, tc_key *out, bool *has)
{
    json_object *v = get(o, k);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string) ||
        tc_key_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v), prefix, out) < 0)
        FAIL(c, k);
    if (has)
        *has = true;
    return 0;
}

static int g_bytes(struct pc *c, json_object *o, const char *k, struct tc_bytes *out)
{
    json_object *v = get(o, k);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        FAIL(c, k);
    size_t n = (size_t)json_object_get_string_len(v);
    uint8_t *p = tc_arena_alloc(c->a, n / 4 * 3 + 3);
    if (!p)
        FAIL(c, "out of memory");
    long l = tc_b64_decode(json_object_get_string(v), n, p, n / 4 * 3 + 3);
    if (l < 0)
        FAIL(c, k);
    out->p = p;
    out->len = (size_t)l;
    return 0;
}

static int g_raw(struct pc *c, json_object *o, const char *k, struct tc_raw *out)
{
    (void)c;
    out->obj = get(o, k);
    return 0;
}

static int g_obj(struct pc *c, json_object *o, const char *k, json_object **out)
{
    json_object *v = get(o, k);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        FAIL(c, k);
    *out = v;
    return 0;
}

/* An array member: *n elements, or 0 when absent. */
static int g_arr(struct pc *c, json_object *o, const char *k, json_object **out, size_t *n)
{
    json_object *v = get(o, k);
    *out = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_array))
        FAIL(c, k);
    *out = v;
    *n = json_object_array_length(v);
    return 0;
}

static void *arr_alloc(struct pc *c, size_t n, size_t size)
{
    void *p = tc_arena_array(c->a, n, size);
    if (!p)
        c->err = "out of memory";
    return p;
}

/* An array of objects under k, each parsed by fn into an arena array of size-byte elements. A null element
 * is refused when it would be a nil pointer in Go (null_is_error), else left zeroed; a non-object is refused. */
typedef int (*elem_fn)(struct pc *c, json_object *e, void *out);
static int g_objs(struct pc *c, json_object *o, const char *k, size_t size, int null_is_error, elem_fn fn,
                  void *out, size_t *nout)
{
    json_object *a;
    size_t n;
    TRY(g_arr(c, o, k, &a, &n));
    if (!n)
        return 0;
    uint8_t *v = arr_alloc(c, n, size);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(a, i);
        if (!e && null_is_error)
            FAIL(c, k);
        if (!e)
            continue;
        if (!json_object_is_type(e, json_type_object))
            FAIL(c, k);
        TRY(fn(c, e, v + i * size));
    }
    *(void **)out = v;
    *nout = n;
    return 0;
}

static int g_strs(struct pc *c, json_object *o, const char *k, struct tc_strs *out)
{
    json_object *a;
    size_t n;
    TRY(g_arr(c, o, k, &a, &n));
    if (!n)
        return 0;
    const char **v = arr_alloc(c, n, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        v[i] = "";
        TRY(v_str(c, json_object_array_get_idx(a, i), &v[i], k));
    }
    out->v = v;
    out->n = n;
    return 0;
}

static int g_ints(struct pc *c, json_object *o, const char *k, const int32_t **out, size_t *nout)
{
    json_object *a;
    size_t n;
    TRY(g_arr(c, o, k, &a, &n));
    if (!n)
        return 0;
    int32_t *v = arr_alloc(c, n, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int64_t x = 0;
        TRY(v_i64(c, json_object_array_get_idx(a, i), INT32_MIN, INT32_MAX, &x, k));
        v[i] = (int32_t)x;
    }
    *out = v;
    *nout = n;
    return 0;
}

/* Keys of map[NodeID]..., map[DERPRegionID]...: decimal strings. */
static int id_key(struct pc *c, const char *s, int64_t min, int64_t max, int64_t *out, const char *what)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max)
        FAIL(c, what);
    *out = v;
    return 0;
}

/* ---- Hostinfo ---- */

static int netinfo(struct pc *c, json_object *o, struct tc_netinfo *n)
{
    TRY(g_optbool(c, o, "MappingVariesByDestIP", &n->mapping_varies_by_dest_ip));
    TRY(g_optbool(c, o, "HairPinning", &n->hair_pinning));
    TRY(g_optbool(c, o, "WorkingIPv6", &n->working_ipv6));
    TRY(g_optbool(c, o, "OSHasIPv6", &n->os_has_ipv6));
    TRY(g_optbool(c, o, "WorkingUDP", &n->working_udp));
    TRY(g_optbool(c, o, "WorkingICMPv4", &n->working_icmpv4));
    TRY(g_bool(c, o, "HavePortMap", &n->have_port_map));
    TRY(g_optbool(c, o, "UPnP", &n->upnp));
    TRY(g_optbool(c, o, "PMP", &n->pmp));
    TRY(g_optbool(c, o, "PCP", &n->pcp));
    TRY(g_i32(c, o, "PreferredDERP", &n->preferred_derp));
    TRY(g_str(c, o, "LinkType", &n->link_type));
    TRY(g_str(c, o, "FirewallMode", &n->firewall_mode));
    json_object *lat;
    TRY(g_obj(c, o, "DERPLatency", &lat));
    if (lat) {
        size_t cnt = (size_t)json_object_object_length(lat), i = 0;
        struct tc_derp_latency *v = arr_alloc(c, cnt, sizeof *v);
        if (!v)
            return -1;
        json_object_object_foreach(lat, key, val)
        {
            v[i].name = key;
            if (!val || (!json_object_is_type(val, json_type_double) && !json_object_is_type(val, json_type_int)))
                FAIL(c, "DERPLatency");
            v[i++].seconds = json_object_get_double(val);
        }
        n->derp_latency = v;
        n->nderp_latency = i;
    }
    return 0;
}

static int service(struct pc *c, json_object *e, void *out)
{
    struct tc_service *v = out;
    TRY(g_str(c, e, "Proto", &v->proto));
    TRY(g_u16(c, e, "Port", &v->port));
    TRY(g_str(c, e, "Description", &v->description));
    return 0;
}

static int hostinfo(struct pc *c, json_object *o, const struct tc_hostinfo **out)
{
    if (!o) {
        *out = NULL;
        return 0;
    }
    if (!json_object_is_type(o, json_type_object))
        FAIL(c, "Hostinfo");
    struct tc_hostinfo *h = arr_alloc(c, 1, sizeof *h);
    if (!h)
        return -1;
    h->raw.obj = o;
    TRY(g_str(c, o, "IPNVersion", &h->ipn_version));
    TRY(g_str(c, o, "FrontendLogID", &h->frontend_log_id));
    TRY(g_str(c, o, "BackendLogID", &h->backend_log_id));
    TRY(g_str(c, o, "OS", &h->os));
    TRY(g_str(c, o, "OSVersion", &h->os_version));
    TRY(g_optbool(c, o, "Container", &h->container));
    TRY(g_str(c, o, "Env", &h->env));
    TRY(g_str(c, o, "Distro", &h->distro));
    TRY(g_str(c, o, "DistroVersion", &h->distro_version));
    TRY(g_str(c, o, "DistroCodeName", &h->distro_code_name));
    TRY(g_str(c, o, "App", &h->app));
    TRY(g_optbool(c, o, "Desktop", &h->desktop));
    TRY(g_str(c, o, "Package", &h->package));
    TRY(g_str(c, o, "DeviceModel", &h->device_model));
    TRY(g_str(c, o, "PushDeviceToken", &h->push_device_token));
    TRY(g_str(c, o, "Hostname", &h->hostname));
    TRY(g_bool(c, o, "ShieldsUp", &h->shields_up));
    TRY(g_bool(c, o, "ShareeNode", &h->sharee_node));
    TRY(g_bool(c, o, "NoLogsNoSupport", &h->no_logs_no_support));
    TRY(g_bool(c, o, "WireIngress", &h->wire_ingress));
    TRY(g_bool(c, o, "AllowsUpdate", &h->allows_update));
    TRY(g_str(c, o, "Machine", &h->machine));
    TRY(g_str(c, o, "GoArch", &h->go_arch));
    TRY(g_str(c, o, "GoArchVar", &h->go_arch_var));
    TRY(g_str(c, o, "GoVersion", &h->go_version));
    TRY(g_strs(c, o, "RoutableIPs", &h->routable_ips));
    TRY(g_strs(c, o, "RequestTags", &h->request_tags));
    TRY(g_strs(c, o, "WoLMACs", &h->wol_macs));
    TRY(g_objs(c, o, "Services", sizeof(struct tc_service), 0, service, &h->services, &h->nservices));
    json_object *ni;
    TRY(g_obj(c, o, "NetInfo", &ni));
    if (ni) {
        struct tc_netinfo *nv = arr_alloc(c, 1, sizeof *nv);
        if (!nv)
            return -1;
        TRY(netinfo(c, ni, nv));
        h->netinfo = nv;
    }
    TRY(g_strs(c, o, "sshHostKeys", &h->ssh_host_keys));
    TRY(g_str(c, o, "Cloud", &h->cloud));
    TRY(g_optbool(c, o, "Userspace", &h->userspace));
    TRY(g_optbool(c, o, "UserspaceRouter", &h->userspace_router));
    TRY(g_optbool(c, o, "AppConnector", &h->app_connector));
    TRY(g_raw(c, o, "Location", &h->location));
    *out = h;
    return 0;
}

/* ---- Node ---- */

static int capmap(struct pc *c, json_object *o, const char *k, struct tc_capmap *out)
{
    json_object *m;
    TRY(g_obj(c, o, k, &m));
    if (!m)
        return 0;
    size_t cnt = (size_t)json_object_object_length(m), i = 0;
    if (!cnt)
        return 0;
    struct tc_capmap_entry *v = arr_alloc(c, cnt, sizeof *v);
    if (!v)
        return -1;
    json_object_object_foreach(m, key, val)
    {
        if (val && !json_object_is_type(val, json_type_array))
            FAIL(c, k);
        v[i].name = key;
        v[i++].value.obj = val;
    }
    out->v = v;
    out->n = i;
    return 0;
}

static int resolver(struct pc *c, json_object *o, struct tc_resolver *r, const char *what)
{
    if (!o)
        return 0;
    if (!json_object_is_type(o, json_type_object))
        FAIL(c, what);
    TRY(g_str(c, o, "Addr", &r->addr));
    TRY(g_strs(c, o, "BootstrapResolution", &r->bootstrap_resolution));
    TRY(g_bool(c, o, "UseWithExitNode", &r->use_with_exit_node));
    return 0;
}

static int resolvers_v(struct pc *c, json_object *a, const struct tc_resolver **out, size_t *nout,
                       const char *what)
{
    if (!a)
        return 0;
    if (!json_object_is_type(a, json_type_array))
        FAIL(c, what);
    size_t n = json_object_array_length(a);
    if (!n)
        return 0;
    struct tc_resolver *v = arr_alloc(c, n, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++)
        TRY(resolver(c, json_object_array_get_idx(a, i), &v[i], what));
    *out = v;
    *nout = n;
    return 0;
}

static int resolvers(struct pc *c, json_object *o, const char *k, const struct tc_resolver **out, size_t *n)
{
    return resolvers_v(c, get(o, k), out, n, k);
}

static int node(struct pc *c, json_object *o, struct tc_node *n)
{
    if (!json_object_is_type(o, json_type_object))
        FAIL(c, "Node");
    TRY(g_i64(c, o, "ID", &n->id));
    TRY(g_str(c, o, "StableID", &n->stable_id));
    TRY(g_str(c, o, "Name", &n->name));
    TRY(g_i64(c, o, "User", &n->user));
    TRY(g_i64(c, o, "Sharer", &n->sharer));
    TRY(g_key(c, o, "Key", TC_PREFIX_NODE, &n->key, NULL));
    TRY(g_time(c, o, "KeyExpiry", &n->key_expiry, NULL));
    TRY(g_bytes(c, o, "KeySignature", &n->key_signature));
    TRY(g_key(c, o, "Machine", TC_PREFIX_MACHINE, &n->machine, NULL));
    TRY(g_key(c, o, "DiscoKey", TC_PREFIX_DISCO, &n->disco_key, NULL));
    TRY(g_strs(c, o, "Addresses", &n->addresses));
    TRY(g_strs(c, o, "AllowedIPs", &n->allowed_ips));
    TRY(g_strs(c, o, "Endpoints", &n->endpoints));
    TRY(g_str(c, o, "DERP", &n->legacy_derp));
    TRY(g_i32(c, o, "HomeDERP", &n->home_derp));
    TRY(hostinfo(c, get(o, "Hostinfo"), &n->hostinfo));
    TRY(g_time(c, o, "Created", &n->created, NULL));
    TRY(g_i32(c, o, "Cap", &n->cap));
    TRY(g_strs(c, o, "Tags", &n->tags));
    TRY(g_strs(c, o, "PrimaryRoutes", &n->primary_routes));
    TRY(g_time(c, o, "LastSeen", &n->last_seen, &n->has_last_seen));
    TRY(g_optbool(c, o, "Online", &n->online));
    TRY(g_bool(c, o, "MachineAuthorized", &n->machine_authorized));
    TRY(g_strs(c, o, "Capabilities", &n->capabilities));
    TRY(capmap(c, o, "CapMap", &n->cap_map));
    TRY(g_bool(c, o, "UnsignedPeerAPIOnly", &n->unsigned_peer_api_only));
    TRY(g_str(c, o, "ComputedName", &n->computed_name));
    TRY(g_str(c, o, "ComputedNameWithHost", &n->computed_name_with_host));
    TRY(g_str(c, o, "DataPlaneAuditLogID", &n->data_plane_audit_log_id));
    TRY(g_bool(c, o, "Expired", &n->expired));
    TRY(g_str(c, o, "SelfNodeV4MasqAddrForThisPeer", &n->self_node_v4_masq_addr));
    TRY(g_str(c, o, "SelfNodeV6MasqAddrForThisPeer", &n->self_node_v6_masq_addr));
    TRY(g_bool(c, o, "IsWireGuardOnly", &n->is_wireguard_only));
    TRY(g_bool(c, o, "IsJailed", &n->is_jailed));
    TRY(resolvers(c, o, "ExitNodeDNSResolvers", &n->exit_node_dns_resolvers, &n->nexit_node_dns_resolvers));
    return 0;
}

static int node_elem(struct pc *c, json_object *e, void *out)
{
    return node(c, e, out);
}

/* Peers, PeersChanged: a null element would be a nil *Node in Go: refused. */
static int nodes(struct pc *c, json_object *o, const char *k, struct tc_nodes *out)
{
    return g_objs(c, o, k, sizeof(struct tc_node), 1, node_elem, &out->v, &out->n);
}

/* ---- DERPMap ---- */

static int derp_node(struct pc *c, json_object *o, struct tc_derp_node *n)
{
    if (!json_object_is_type(o, json_type_object))
        FAIL(c, "DERPNode");
    TRY(g_str(c, o, "Name", &n->name));
    TRY(g_i32(c, o, "RegionID", &n->region_id));
    TRY(g_str(c, o, "HostName", &n->host_name));
    TRY(g_str(c, o, "CertName", &n->cert_name));
    TRY(g_str(c, o, "IPv4", &n->ipv4));
    TRY(g_str(c, o, "IPv6", &n->ipv6));
    TRY(g_i32(c, o, "STUNPort", &n->stun_port));
    TRY(g_bool(c, o, "STUNOnly", &n->stun_only));
    TRY(g_i32(c, o, "DERPPort", &n->derp_port));
    TRY(g_bool(c, o, "InsecureForTests", &n->insecure_for_tests));
    TRY(g_str(c, o, "STUNTestIP", &n->stun_test_ip));
    TRY(g_bool(c, o, "CanPort80", &n->can_port80));
    return 0;
}

static int derp_node_elem(struct pc *c, json_object *e, void *out)
{
    return derp_node(c, e, out);
}

static int derp_region(struct pc *c, json_object *o, struct tc_derp_region *r)
{
    if (!json_object_is_type(o, json_type_object))
        FAIL(c, "DERPRegion");
    TRY(g_i32(c, o, "RegionID", &r->region_id));
    TRY(g_str(c, o, "RegionCode", &r->region_code));
    TRY(g_str(c, o, "RegionName", &r->region_name));
    TRY(g_double(c, o, "Latitude", &r->latitude));
    TRY(g_double(c, o, "Longitude", &r->longitude));
    TRY(g_bool(c, o, "Avoid", &r->avoid));
    TRY(g_bool(c, o, "NoMeasureNoHome", &r->no_measure_no_home));
    TRY(g_objs(c, o, "Nodes", sizeof(struct tc_derp_node), 1, derp_node_elem, &r->nodes, &r->nnodes));
    return 0;
}

static int derp_map(struct pc *c, json_object *o, const struct tc_derp_map **out)
{
    if (!o)
        return 0;
    if (!json_object_is_type(o, json_type_object))
        FAIL(c, "DERPMap");
    struct tc_derp_map *d = arr_alloc(c, 1, sizeof *d);
    if (!d)
        return -1;
    json_object *hp, *regions;
    TRY(g_obj(c, o, "HomeParams", &hp));
    if (hp) {
        json_object *rs;
        d->has_home_params = true;
        TRY(g_obj(c, hp, "RegionScore", &rs));
        if (rs) {
            size_t cnt = (size_t)json_object_object_length(rs), i = 0;
            struct tc_region_score *v = arr_alloc(c, cnt, sizeof *v);
            if (!v)
                return -1;
            json_object_object_foreach(rs, key, val)
            {
                int64_t id;
                TRY(id_key(c, key, INT32_MIN, INT32_MAX, &id, "RegionScore"));
                if (!val || (!json_object_is_type(val, json_type_double) && !json_object_is_type(val, json_type_int)))
                    FAIL(c, "RegionScore");
                v[i].region_id = (int32_t)id;
                v[i++].score = json_object_get_double(val);
            }
            d->region_scores = v;
            d->nregion_scores = i;
        }
    }
    TRY(g_obj(c, o, "Regions", &regions));
    if (regions) {
        size_t cnt = (size_t)json_object_object_length(regions), i = 0;
        struct tc_derp_region *v = arr_alloc(c, cnt, sizeof *v);
        if (!v)
            return -1;
        json_object_object_foreach(regions, key, val)
        {
            int64_t id;
            TRY(id_key(c, key, INT32_MIN, INT32_MAX, &id, "Regions"));
            if (!val) /* a nil *DERPRegion: nothing to keep */
                continue;
            TRY(derp_region(c, val, &v[i]));
            /* The key is the region's ID; Go code trusts RegionID inside, but they must agree. */
            if (v[i].region_id != id)
                FAIL(c, "Regions: key and RegionID differ");
            i++;
        }
        d->regions = v;
        d->nregions = i;
    }
    TRY(g_bool(c, o, "omitDefaultRegions", &d->omit_default_regions));
    *out = d;
    return 0;
}

/* ---- DNSConfig ---- */

static int dns_record(struct pc *c, json_object *e, void *out)
{
    struct tc_dns_record *v = out;
    TRY(g_str(c, e, "Name", &v->name));
    TRY(g_str(c, e, "Type", &v->type));
    TRY(g_str(c, e, "Value", &v->value));
    return 0;
}

static int dns_config(struct pc *c, json_object *o, const struct tc_dns_config **out)
{
    if (!o)
        return 0;
    if (!json_object_is_type(o, json_type_object))
        FAIL(c, "DNSConfig");
    struct tc_dns_config *d = arr_alloc(c, 1, sizeof *d);
    if (!d)
        return -1;
    TRY(resolvers(c, o, "Resolvers", &d->resolvers, &d->nresolvers));
    json_object *routes;
    TRY(g_obj(c, o, "Routes", &routes));
    if (routes) {
        size_t cnt = (size_t)json_object_object_length(routes), i = 0;
        struct tc_dns_route *v = arr_alloc(c, cnt, sizeof *v);
        if (!v)
            return -1;
        json_object_object_foreach(routes, key, val)
        {
            v[i].suffix = key;
            v[i].null = !val;
            TRY(resolvers_v(c, val, &v[i].resolvers, &v[i].nresolvers, "Routes"));
            i++;
        }
        d->routes = v;
        d->nroutes = i;
    }
    TRY(resolvers(c, o, "FallbackResolvers", &d->fallback_resolvers, &d->nfallback_resolvers));
    TRY(g_strs(c, o, "Domains", &d->domains));
    TRY(g_bool(c, o, "Proxied", &d->proxied));
    TRY(g_strs(c, o, "Nameservers", &d->nameservers));
    TRY(g_strs(c, o, "CertDomains", &d->cert_domains));
    TRY(g_objs(c, o, "ExtraRecords", sizeof(struct tc_dns_record), 0, dns_record, &d->extra_records,
               &d->nextra_records));
    TRY(g_strs(c, o, "ExitNodeFilteredSet", &d->exit_node_filtered_set));
    TRY(g_str(c, o, "TempCorpIssue13969", &d->temp_corp_issue_13969));
    *out = d;
    return 0;
}

/* ---- packet filter ---- */

static int filter_rules_v(struct pc *c, json_object *a, const struct tc_filter_rule **out, size_t *nout,
                          const char *what)
{
    if (!json_object_is_type(a, json_type_array))
        FAIL(c, what);
    size_t n = json_object_array_length(a);
    if (!n)
        return 0;
    struct tc_filter_rule *v = arr_alloc(c, n, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_object *r = json_object_array_get_idx(a, i);
        if (!r)
            continue;
        if (!json_object_is_type(r, json_type_object))
            FAIL(c, what);
        TRY(g_strs(c, r, "SrcIPs", &v[i].src_ips));
        json_object *dp;
        size_t nd;
        TRY(g_arr(c, r, "DstPorts", &dp, &nd));
        if (nd) {
            struct tc_net_port_range *pv = arr_alloc(c, nd, sizeof *pv);
            if (!pv)
                return -1;
            for (size_t j = 0; j < nd; j++) {
                json_object *e = json_object_array_get_idx(dp, j), *ports;
                if (!e)
                    continue;
                if (!json_object_is_type(e, json_type_object))
                    FAIL(c, "DstPorts");
                TRY(g_str(c, e, "IP", &pv[j].ip));
                if (get(e, "Bits")) {
                    pv[j].has_bits = true;
                    TRY(g_i32(c, e, "Bits", &pv[j].bits));
                }
                TRY(g_obj(c, e, "Ports", &ports));
                if (ports) {
                    TRY(g_u16(c, ports, "First", &pv[j].first));
                    TRY(g_u16(c, ports, "Last", &pv[j].last));
                }
            }
            v[i].dst_ports = pv;
            v[i].ndst_ports = nd;
        }
        TRY(g_ints(c, r, "IPProto", &v[i].ip_proto, &v[i].nip_proto));
        json_object *cg;
        size_t ncg;
        TRY(g_arr(c, r, "CapGrant", &cg, &ncg));
        if (ncg)
            v[i].cap_grant.obj = cg;
    }
    *out = v;
    *nout = n;
    return 0;
}

/* ---- MapResponse ---- */

static int id_bools(struct pc *c, json_object *o, const char *k, const struct tc_id_bool **out, size_t *nout)
{
    json_object *m;
    TRY(g_obj(c, o, k, &m));
    if (!m)
        return 0;
    size_t cnt = (size_t)json_object_object_length(m), i = 0;
    if (!cnt)
        return 0;
    struct tc_id_bool *v = arr_alloc(c, cnt, sizeof *v);
    if (!v)
        return -1;
    json_object_object_foreach(m, key, val)
    {
        TRY(id_key(c, key, INT64_MIN, INT64_MAX, &v[i].id, k));
        if (val && !json_object_is_type(val, json_type_boolean))
            FAIL(c, k);
        v[i++].value = val ? json_object_get_boolean(val) : false;
    }
    *out = v;
    *nout = i;
    return 0;
}

static int peer_change(struct pc *c, json_object *o, struct tc_peer_change *p)
{
    if (!json_object_is_type(o, json_type_object))
        FAIL(c, "PeersChangedPatch");
    TRY(g_i64(c, o, "NodeID", &p->node_id));
    TRY(g_i32(c, o, "DERPRegion", &p->derp_region));
    TRY(g_i32(c, o, "Cap", &p->cap));
    TRY(capmap(c, o, "CapMap", &p->cap_map));
    TRY(g_strs(c, o, "Endpoints", &p->endpoints));
    TRY(g_key(c, o, "Key", TC_PREFIX_NODE, &p->key, &p->has_key));
    TRY(g_bytes(c, o, "KeySignature", &p->key_signature));
    TRY(g_key(c, o, "DiscoKey", TC_PREFIX_DISCO, &p->disco_key, &p->has_disco_key));
    TRY(g_optbool(c, o, "Online", &p->online));
    TRY(g_time(c, o, "LastSeen", &p->last_seen, &p->has_last_seen));
    TRY(g_time(c, o, "KeyExpiry", &p->key_expiry, &p->has_key_expiry));
    return 0;
}

static int peer_change_elem(struct pc *c, json_object *e, void *out)
{
    return peer_change(c, e, out);
}

static int user_profile(struct pc *c, json_object *e, void *out)
{
    struct tc_user_profile *v = out;
    TRY(g_i64(c, e, "ID", &v->id));
    TRY(g_str(c, e, "LoginName", &v->login_name));
    TRY(g_str(c, e, "DisplayName", &v->display_name));
    TRY(g_str(c, e, "ProfilePicURL", &v->profile_pic_url));
    TRY(g_strs(c, e, "Groups", &v->groups));
    return 0;
}

static int map_response(struct pc *c, json_object *o, struct tc_map_response *m)
{
    TRY(g_str(c, o, "MapSessionHandle", &m->map_session_handle));
    TRY(g_i64(c, o, "Seq", &m->seq));
    TRY(g_bool(c, o, "KeepAlive", &m->keep_alive));
    json_object *pr;
    TRY(g_obj(c, o, "PingRequest", &pr));
    if (pr) {
        struct tc_ping_request *p = arr_alloc(c, 1, sizeof *p);
        if (!p)
            return -1;
        TRY(g_str(c, pr, "URL", &p->url));
        TRY(g_bool(c, pr, "URLIsNoise", &p->url_is_noise));
        TRY(g_bool(c, pr, "Log", &p->log));
        TRY(g_str(c, pr, "Types", &p->types));
        TRY(g_str(c, pr, "IP", &p->ip));
        TRY(g_bytes(c, pr, "Payload", &p->payload));
        m->ping_request = p;
    }
    TRY(g_str(c, o, "PopBrowserURL", &m->pop_browser_url));
    json_object *self = get(o, "Node");
    if (self) {
        struct tc_node *n = arr_alloc(c, 1, sizeof *n);
        if (!n)
            return -1;
        TRY(node(c, self, n));
        m->node = n;
    }
    TRY(derp_map(c, get(o, "DERPMap"), &m->derp_map));
    TRY(nodes(c, o, "Peers", &m->peers));
    TRY(nodes(c, o, "PeersChanged", &m->peers_changed));
    json_object *a;
    size_t n;
    TRY(g_arr(c, o, "PeersRemoved", &a, &n));
    if (n) {
        int64_t *v = arr_alloc(c, n, sizeof *v);
        if (!v)
            return -1;
        for (size_t i = 0; i < n; i++)
            TRY(v_i64(c, json_object_array_get_idx(a, i), INT64_MIN, INT64_MAX, &v[i], "PeersRemoved"));
        m->peers_removed = v;
        m->npeers_removed = n;
    }
    TRY(g_objs(c, o, "PeersChangedPatch", sizeof(struct tc_peer_change), 1, peer_change_elem,
               &m->peers_changed_patch, &m->npeers_changed_patch));
    TRY(id_bools(c, o, "PeerSeenChange", &m->peer_seen_change, &m->npeer_seen_change));
    TRY(id_bools(c, o, "OnlineChange", &m->online_change, &m->nonline_change));
    TRY(dns_config(c, get(o, "DNSConfig"), &m->dns_config));
    TRY(g_str(c, o, "Domain", &m->domain));
    TRY(g_optbool(c, o, "CollectServices", &m->collect_services));
    json_object *pf = get(o, "PacketFilter");
    if (pf) {
        m->has_packet_filter = true;
        TRY(filter_rules_v(c, pf, &m->packet_filter, &m->npacket_filter, "PacketFilter"));
    }
    json_object *pfs;
    TRY(g_obj(c, o, "PacketFilters", &pfs));
    if (pfs) {
        size_t cnt = (size_t)json_object_object_length(pfs), i = 0;
        struct tc_named_filter *v = arr_alloc(c, cnt, sizeof *v);
        if (!v)
            return -1;
        json_object_object_foreach(pfs, key, val)
        {
            v[i].name = key;
            v[i].null = !val;
            if (val)
                TRY(filter_rules_v(c, val, &v[i].rules, &v[i].nrules, "PacketFilters"));
            i++;
        }
        m->packet_filters = v;
        m->npacket_filters = i;
    }
    TRY(g_objs(c, o, "UserProfiles", sizeof(struct tc_user_profile), 0, user_profile, &m->user_profiles,
               &m->nuser_profiles));
    TRY(g_strs(c, o, "Health", &m->health));
    TRY(g_raw(c, o, "DisplayMessages", &m->display_messages));
    TRY(g_raw(c, o, "SSHPolicy", &m->ssh_policy));
    TRY(g_time(c, o, "ControlTime", &m->control_time, &m->has_control_time));
    TRY(g_raw(c, o, "TKAInfo", &m->tka_info));
    TRY(g_str(c, o, "DomainDataPlaneAuditLogID", &m->domain_data_plane_audit_log_id));
    TRY(g_raw(c, o, "Debug", &m->debug));
    TRY(g_raw(c, o, "ControlDialPlan", &m->control_dial_plan));
    TRY(g_raw(c, o, "ClientVersion", &m->client_version));
    TRY(g_optbool(c, o, "DefaultAutoUpdate", &m->default_auto_update));
    return 0;
}

/* ---- requests ---- */

static int map_request(struct pc *c, json_object *o, struct tc_map_request *r)
{
    TRY(g_i32(c, o, "Version", &r->version));
    TRY(g_str(c, o, "Compress", &r->compress));
    TRY(g_bool(c, o, "KeepAlive", &r->keep_alive));
    TRY(g_key(c, o, "NodeKey", TC_PREFIX_NODE, &r->node_key, NULL));
    TRY(g_key(c, o, "DiscoKey", TC_PREFIX_DISCO, &r->disco_key, NULL));
    TRY(g_bool(c, o, "Stream", &r->stream));
    TRY(hostinfo(c, get(o, "Hostinfo"), &r->hostinfo));
    TRY(g_str(c, o, "MapSessionHandle", &r->map_session_handle));
    TRY(g_i64(c, o, "MapSessionSeq", &r->map_session_seq));
    TRY(g_strs(c, o, "Endpoints", &r->endpoints));
    TRY(g_ints(c, o, "EndpointTypes", &r->endpoint_types, &r->nendpoint_types));
    TRY(g_str(c, o, "TKAHead", &r->tka_head));
    TRY(g_bool(c, o, "ReadOnly", &r->read_only));
    TRY(g_bool(c, o, "OmitPeers", &r->omit_peers));
    TRY(g_strs(c, o, "DebugFlags", &r->debug_flags));
    return 0;
}

static int register_request(struct pc *c, json_object *o, struct tc_register_request *r)
{
    TRY(g_i32(c, o, "Version", &r->version));
    TRY(g_key(c, o, "NodeKey", TC_PREFIX_NODE, &r->node_key, NULL));
    TRY(g_key(c, o, "OldNodeKey", TC_PREFIX_NODE, &r->old_node_key, NULL));
    TRY(g_key(c, o, "NLKey", TC_PREFIX_NL, &r->nl_key, NULL));
    json_object *auth;
    TRY(g_obj(c, o, "Auth", &auth));
    if (auth) {
        struct tc_register_auth *a = arr_alloc(c, 1, sizeof *a);
        if (!a)
            return -1;
        TRY(g_str(c, auth, "Provider", &a->provider));
        TRY(g_str(c, auth, "LoginName", &a->login_name));
        TRY(g_raw(c, auth, "Oauth2Token", &a->oauth2_token));
        TRY(g_str(c, auth, "AuthKey", &a->auth_key));
        r->auth = a;
    }
    TRY(g_time(c, o, "Expiry", &r->expiry, NULL));
    TRY(g_str(c, o, "Followup", &r->followup));
    TRY(hostinfo(c, get(o, "Hostinfo"), &r->hostinfo));
    TRY(g_bool(c, o, "Ephemeral", &r->ephemeral));
    TRY(g_bytes(c, o, "NodeKeySignature", &r->node_key_signature));
    TRY(g_raw(c, o, "SignatureType", &r->signature_type));
    TRY(g_time(c, o, "Timestamp", &r->timestamp, &r->has_timestamp));
    TRY(g_bytes(c, o, "DeviceCert", &r->device_cert));
    TRY(g_bytes(c, o, "Signature", &r->signature));
    TRY(g_str(c, o, "Tailnet", &r->tailnet));
    return 0;
}

static int register_response(struct pc *c, json_object *o, struct tc_register_response *r)
{
    json_object *u, *l;
    TRY(g_obj(c, o, "User", &u));
    if (u) {
        TRY(g_i64(c, u, "ID", &r->user.id));
        TRY(g_str(c, u, "DisplayName", &r->user.display_name));
        TRY(g_str(c, u, "ProfilePicURL", &r->user.profile_pic_url));
        TRY(g_time(c, u, "Created", &r->user.created, NULL));
    }
    TRY(g_obj(c, o, "Login", &l));
    if (l) {
        TRY(g_i64(c, l, "ID", &r->login.id));
        TRY(g_str(c, l, "Provider", &r->login.provider));
        TRY(g_str(c, l, "LoginName", &r->login.login_name));
        TRY(g_str(c, l, "DisplayName", &r->login.display_name));
        TRY(g_str(c, l, "ProfilePicURL", &r->login.profile_pic_url));
    }
    TRY(g_bool(c, o, "NodeKeyExpired", &r->node_key_expired));
    TRY(g_bool(c, o, "MachineAuthorized", &r->machine_authorized));
    TRY(g_str(c, o, "AuthURL", &r->auth_url));
    TRY(g_bytes(c, o, "NodeKeySignature", &r->node_key_signature));
    TRY(g_str(c, o, "Error", &r->error));
    return 0;
}

/* ---- documents ---- */

static void doc_clear(struct tc_doc *d)
{
    /* Arena first: glibc consolidates every freed small chunk when a big one is freed, and the tree
     * frees ~100 small chunks per peer; the next parse then reuses them without that sweep. */
    tc_arena_free(&d->arena);
    if (d->root)
        json_object_put(d->root);
    d->root = NULL;
}

/* Parses json into *r (a struct that starts with a struct tc_doc, zeroed here) through fn. */
static int doc_parse(void *r, size_t size, const char *json, size_t len, int (*fn)(struct pc *, json_object *, void *))
{
    struct tc_doc *d = r;
    memset(r, 0, size);
    d->root = tc_json_parse(json, len);
    if (!d->root || !json_object_is_type(d->root, json_type_object)) {
        doc_clear(d);
        d->error = "not a JSON object";
        return -1;
    }
    struct pc c = { &d->arena, NULL };
    if (fn(&c, d->root, r) < 0) {
        const char *err = c.err ? c.err : "invalid";
        doc_clear(d);
        memset(r, 0, size);
        d->error = err;
        return -1;
    }
    return 0;
}

#define DOC_FUNCS(T, fn)                                                                                       \
    static int fn##_cb(struct pc *c, json_object *o, void *r) { return fn(c, o, r); }                          \
    int tc_##T##_parse(struct tc_##T *r, const char *json, size_t len)                                         \
    {                                                                                                          \
        return doc_parse(r, sizeof *r, json, len, fn##_cb);                                                    \
    }                                                                                                          \
    void tc_##T##_clear(struct tc_##T *r)                                                                      \
    {                                                                                                          \
        doc_clear(&r->doc);                                                                                    \
        memset(r, 0, sizeof *r);                                                                               \
    }

DOC_FUNCS(register_request, register_request)
DOC_FUNCS(register_response, register_response)
DOC_FUNCS(map_request, map_request)
DOC_FUNCS(map_response, map_response)
