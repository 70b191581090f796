// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/json/tailcfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field order, names and omitempty follow tailcfg's Go structs (tailscale v1.68, plus HomeDERP and the
 * few fields newer servers send), so our output is what Go's json.Marshal would write. */

const char *tc_raw_text(const struct tc_raw *r, size_t *len)
{
    if (r->text) {
        *len = r->len;
        return r->text;
    }
    if (r->obj)
        return tc_json_text(r->obj, len);
    *len = 0;
    return NULL;
}

static void raw(struct jbuf *b, const struct tc_raw *r)
{
    size_t n;
    const char *t = tc_raw_text(r, &n);
    if (t)
        jbuf_raw(b, t, n);
    else
        jbuf_null(b);
}

/* Small helpers for "field if not empty": they keep the struct emitters one line per Go field. */
static void f_str(struct jbuf *b, const char *name, const char *v)
{
    jbuf_field(b, name);
    jbuf_str(b, v);
}

static void o_str(struct jbuf *b, const char *name, const char *v)
{
    if (v && *v)
        f_str(b, name, v);
}

static void f_int(struct jbuf *b, const char *name, int64_t v)
{
    jbuf_field(b, name);
    jbuf_i64(b, v);
}

static void o_int(struct jbuf *b, const char *name, int64_t v)
{
    if (v)
        f_int(b, name, v);
}

static void f_bool(struct jbuf *b, const char *name, bool v)
{
    jbuf_field(b, name);
    jbuf_bool(b, v);
}

static void o_bool(struct jbuf *b, const char *name, bool v)
{
    if (v)
        f_bool(b, name, v);
}

static void o_f64(struct jbuf *b, const char *name, double v)
{
    if (v != 0) {
        jbuf_field(b, name);
        jbuf_f64(b, v);
    }
}

static void optbool(struct jbuf *b, enum tc_optbool v)
{
    if (v == TC_UNSET)
        jbuf_null(b);
    else
        jbuf_bool(b, v == TC_TRUE);
}

static void f_optbool(struct jbuf *b, const char *name, enum tc_optbool v) /* opt.Bool without omitempty */
{
    jbuf_field(b, name);
    optbool(b, v);
}

static void o_optbool(struct jbuf *b, const char *name, enum tc_optbool v)
{
    if (v != TC_UNSET)
        f_optbool(b, name, v);
}

static void f_time(struct jbuf *b, const char *name, const struct tc_time *t)
{
    jbuf_field(b, name);
    jbuf_time(b, t);
}

static void f_key(struct jbuf *b, const char *name, const tc_key *k, const char *prefix)
{
    jbuf_field(b, name);
    jbuf_key(b, k, prefix);
}

static void o_key(struct jbuf *b, const char *name, const tc_key *k, const char *prefix)
{
    if (!tc_key_is_zero(k))
        f_key(b, name, k, prefix);
}

static void strs(struct jbuf *b, const struct tc_strs *s)
{
    jbuf_open(b, '[');
    for (size_t i = 0; i < s->n; i++)
        jbuf_str(b, s->v[i]);
    jbuf_close(b, ']');
}

static void f_strs(struct jbuf *b, const char *name, const struct tc_strs *s) /* nil writes null */
{
    jbuf_field(b, name);
    if (s->n)
        strs(b, s);
    else
        jbuf_null(b);
}

static void o_strs(struct jbuf *b, const char *name, const struct tc_strs *s)
{
    if (s->n) {
        jbuf_field(b, name);
        strs(b, s);
    }
}

static void o_bytes(struct jbuf *b, const char *name, const struct tc_bytes *v)
{
    if (v->p && v->len) {
        jbuf_field(b, name);
        jbuf_b64(b, v->p, v->len);
    }
}

static void f_bytes(struct jbuf *b, const char *name, const struct tc_bytes *v)
{
    jbuf_field(b, name);
    jbuf_b64(b, v->p, v->len);
}

static void o_raw(struct jbuf *b, const char *name, const struct tc_raw *r)
{
    if (tc_raw_present(r)) {
        jbuf_field(b, name);
        raw(b, r);
    }
}

static int done(struct jbuf *b) { return b->oom ? -1 : 0; }

/* ---- Hostinfo ---- */

static void netinfo(struct jbuf *b, const struct tc_netinfo *n)
{
    jbuf_open(b, '{');
    f_optbool(b, "MappingVariesByDestIP", n->mapping_varies_by_dest_ip);
    f_optbool(b, "HairPinning", n->hair_pinning);
    f_optbool(b, "WorkingIPv6", n->working_ipv6);
    f_optbool(b, "OSHasIPv6", n->os_has_ipv6);
    f_optbool(b, "WorkingUDP", n->working_udp);
    f_optbool(b, "WorkingICMPv4", n->working_icmpv4);
    o_bool(b, "HavePortMap", n->have_port_map);
    f_optbool(b, "UPnP", n->upnp);
    f_optbool(b, "PMP", n->pmp);
    f_optbool(b, "PCP", n->pcp);
    f_int(b, "PreferredDERP", n->preferred_derp);
    o_str(b, "LinkType", n->link_type);
    if (n->nderp_latency) {
        jbuf_field(b, "DERPLatency");
        jbuf_open(b, '{');
        for (size_t i = 0; i < n->nderp_latency; i++) {
            jbuf_name(b, n->derp_latency[i].name);
            jbuf_f64(b, n->derp_latency[i].seconds);
        }
        jbuf_close(b, '}');
    }
    o_str(b, "FirewallMode", n->firewall_mode);
    jbuf_close(b, '}');
}

static void hostinfo(struct jbuf *b, const struct tc_hostinfo *h)
{
    if (tc_raw_present(&h->raw)) {
        raw(b, &h->raw);
        return;
    }
    jbuf_open(b, '{');
    o_str(b, "IPNVersion", h->ipn_version);
    o_str(b, "FrontendLogID", h->frontend_log_id);
    o_str(b, "BackendLogID", h->backend_log_id);
    o_str(b, "OS", h->os);
    o_str(b, "OSVersion", h->os_version);
    o_optbool(b, "Container", h->container);
    o_str(b, "Env", h->env);
    o_str(b, "Distro", h->distro);
    o_str(b, "DistroVersion", h->distro_version);
    o_str(b, "DistroCodeName", h->distro_code_name);
    o_str(b, "App", h->app);
    o_optbool(b, "Desktop", h->desktop);
    o_str(b, "Package", h->package);
    o_str(b, "DeviceModel", h->device_model);
    o_str(b, "PushDeviceToken", h->push_device_token);
    o_str(b, "Hostname", h->hostname);
    o_bool(b, "ShieldsUp", h->shields_up);
    o_bool(b, "ShareeNode", h->sharee_node);
    o_bool(b, "NoLogsNoSupport", h->no_logs_no_support);
    o_bool(b, "WireIngress", h->wire_ingress);
    o_bool(b, "AllowsUpdate", h->allows_update);
    o_str(b, "Machine", h->machine);
    o_str(b, "GoArch", h->go_arch);
    o_str(b, "GoArchVar", h->go_arch_var);
    o_str(b, "GoVersion", h->go_version);
    o_strs(b, "RoutableIPs", &h->routable_ips);
    o_strs(b, "RequestTags", &h->request_tags);
    o_strs(b, "WoLMACs", &h->wol_macs);
    if (h->nservices) {
        jbuf_field(b, "Services");
        jbuf_open(b, '[');
        for (size_t i = 0; i < h->nservices; i++) {
            const struct tc_service *s = &h->services[i];
            jbuf_open(b, '{');
            f_str(b, "Proto", s->proto);
            f_int(b, "Port", s->port);
            o_str(b, "Description", s->description);
            jbuf_close(b, '}');
        }
        jbuf_close(b, ']');
    }
    if (h->netinfo) {
        jbuf_field(b, "NetInfo");
        netinfo(b, h->netinfo);
    }
    o_strs(b, "sshHostKeys", &h->ssh_host_keys);
    o_str(b, "Cloud", h->cloud);
    o_optbool(b, "Userspace", h->userspace);
    o_optbool(b, "UserspaceRouter", h->userspace_router);
    o_optbool(b, "AppConnector", h->app_connector);
    o_raw(b, "Location", &h->location);
    jbuf_close(b, '}');
}

int tc_hostinfo_emit(struct jbuf *b, const struct tc_hostinfo *h)
{
    hostinfo(b, h);
    return done(b);
}

/* ---- Node ---- */

static void resolver(struct jbuf *b, const struct tc_resolver *r)
{
    jbuf_open(b, '{');
    o_str(b, "Addr", r->addr);
    o_strs(b, "BootstrapResolution", &r->bootstrap_resolution);
    o_bool(b, "UseWithExitNode", r->use_with_exit_node);
    jbuf_close(b, '}');
}

static void resolvers(struct jbuf *b, const struct tc_resolver *r, size_t n)
{
    jbuf_open(b, '[');
    for (size_t i = 0; i < n; i++)
        resolver(b, &r[i]);
    jbuf_close(b, ']');
}

static void o_resolvers(struct jbuf *b, const char *name, const struct tc_resolver *r, size_t n)
{
    if (n) {
        jbuf_field(b, name);
        resolvers(b, r, n);
    }
}

static void o_capmap(struct jbuf *b, const char *name, const struct tc_capmap *c)
{
    if (!c->n)
        return;
    jbuf_field(b, name);
    jbuf_open(b, '{');
    for (size_t i = 0; i < c->n; i++) {
        jbuf_name(b, c->v[i].name);
        raw(b, &c->v[i].value);
    }
    jbuf_close(b, '}');
}

static void node(struct jbuf *b, const struct tc_node *n)
{
    jbuf_open(b, '{');
    f_int(b, "ID", n->id);
    f_str(b, "StableID", n->stable_id);
    f_str(b, "Name", n->name);
    f_int(b, "User", n->user);
    o_int(b, "Sharer", n->sharer);
    f_key(b, "Key", &n->key, TC_PREFIX_NODE);
    f_time(b, "KeyExpiry", &n->key_expiry);
    o_bytes(b, "KeySignature", &n->key_signature);
    o_key(b, "Machine", &n->machine, TC_PREFIX_MACHINE);
    o_key(b, "DiscoKey", &n->disco_key, TC_PREFIX_DISCO);
    f_strs(b, "Addresses", &n->addresses);
    o_strs(b, "AllowedIPs", &n->allowed_ips);
    o_strs(b, "Endpoints", &n->endpoints);
    o_str(b, "DERP", n->legacy_derp);
    o_int(b, "HomeDERP", n->home_derp);
    if (n->hostinfo) {
        jbuf_field(b, "Hostinfo");
        hostinfo(b, n->hostinfo);
    }
    f_time(b, "Created", &n->created);
    o_int(b, "Cap", n->cap);
    o_strs(b, "Tags", &n->tags);
    o_strs(b, "PrimaryRoutes", &n->primary_routes);
    if (n->has_last_seen)
        f_time(b, "LastSeen", &n->last_seen);
    o_optbool(b, "Online", n->online);
    o_bool(b, "MachineAuthorized", n->machine_authorized);
    o_strs(b, "Capabilities", &n->capabilities);
    o_capmap(b, "CapMap", &n->cap_map);
    o_bool(b, "UnsignedPeerAPIOnly", n->unsigned_peer_api_only);
    o_str(b, "ComputedName", n->computed_name);
    o_str(b, "ComputedNameWithHost", n->computed_name_with_host);
    o_str(b, "DataPlaneAuditLogID", n->data_plane_audit_log_id);
    o_bool(b, "Expired", n->expired);
    o_str(b, "SelfNodeV4MasqAddrForThisPeer", n->self_node_v4_masq_addr);
    o_str(b, "SelfNodeV6MasqAddrForThisPeer", n->self_node_v6_masq_addr);
    o_bool(b, "IsWireGuardOnly", n->is_wireguard_only);
    o_bool(b, "IsJailed", n->is_jailed);
    o_resolvers(b, "ExitNodeDNSResolvers", n->exit_node_dns_resolvers, n->nexit_node_dns_resolvers);
    jbuf_close(b, '}');
}

int tc_node_emit(struct jbuf *b, const struct tc_node *n)
{
    node(b, n);
    return done(b);
}

char *tc_node_to_json(const struct tc_node *n, size_t *len)
{
    struct jbuf b;
    jbuf_init(&b);
    node(&b, n);
    return jbuf_take(&b, len);
}

/* ---- DERPMap ---- */

static void derp_node(struct jbuf *b, const struct tc_derp_node *n)
{
    jbuf_open(b, '{');
    f_str(b, "Name", n->name);
    f_int(b, "RegionID", n->region_id);
    f_str(b, "HostName", n->host_name);
    o_str(b, "CertName", n->cert_name);
    o_str(b, "IPv4", n->ipv4);
    o_str(b, "IPv6", n->ipv6);
    o_int(b, "STUNPort", n->stun_port);
    o_bool(b, "STUNOnly", n->stun_only);
    o_int(b, "DERPPort", n->derp_port);
    o_bool(b, "InsecureForTests", n->insecure_for_tests);
    o_str(b, "STUNTestIP", n->stun_test_ip);
    o_bool(b, "CanPort80", n->can_port80);
    jbuf_close(b, '}');
}

static void derp_map(struct jbuf *b, const struct tc_derp_map *d)
{
    jbuf_open(b, '{');
    if (d->has_home_params) {
        jbuf_field(b, "HomeParams");
        jbuf_open(b, '{');
        if (d->nregion_scores) {
            jbuf_field(b, "RegionScore");
            jbuf_open(b, '{');
            for (size_t i = 0; i < d->nregion_scores; i++) {
                char k[16];
                snprintf(k, sizeof k, "%d", (int)d->region_scores[i].region_id);
                jbuf_field(b, k);
                jbuf_f64(b, d->region_scores[i].score);
            }
            jbuf_close(b, '}');
        }
        jbuf_close(b, '}');
    }
    jbuf_field(b, "Regions");
    if (d->nregions) {
        jbuf_open(b, '{');
        for (size_t i = 0; i < d->nregions; i++) {
            const struct tc_derp_region *r = &d->regions[i];
            char k[16];
            snprintf(k, sizeof k, "%d", (int)r->region_id);
            jbuf_field(b, k);
            jbuf_open(b, '{');
            f_int(b, "RegionID", r->region_id);
            f_str(b, "RegionCode", r->region_code);
            f_str(b, "RegionName", r->region_name);
            o_f64(b, "Latitude", r->latitude);
            o_f64(b, "Longitude", r->longitude);
            o_bool(b, "Avoid", r->avoid);
            o_bool(b, "NoMeasureNoHome", r->no_measure_no_home);
            jbuf_field(b, "Nodes");
            if (r->nnodes) {
                jbuf_open(b, '[');
                for (size_t j = 0; j < r->nnodes; j++)
                    derp_node(b, &r->nodes[j]);
                jbuf_close(b, ']');
            } else {
                jbuf_null(b);
            }
            jbuf_close(b, '}');
        }
        jbuf_close(b, '}');
    } else {
        jbuf_null(b);
    }
    o_bool(b, "omitDefaultRegions", d->omit_default_regions);
    jbuf_close(b, '}');
}

int tc_derp_map_emit(struct jbuf *b, const struct tc_derp_map *d)
{
    derp_map(b, d);
    return done(b);
}

/* ---- DNSConfig ---- */

static void dns_config(struct jbuf *b, const struct tc_dns_config *d)
{
    jbuf_open(b, '{');
    o_resolvers(b, "Resolvers", d->resolvers, d->nresolvers);
    if (d->nroutes) {
        jbuf_field(b, "Routes");
        jbuf_open(b, '{');
        for (size_t i = 0; i < d->nroutes; i++) {
            const struct tc_dns_route *r = &d->routes[i];
            jbuf_name(b, r->suffix);
            if (r->null && !r->nresolvers)
                jbuf_null(b);
            else
                resolvers(b, r->resolvers, r->nresolvers);
        }
        jbuf_close(b, '}');
    }
    o_resolvers(b, "FallbackResolvers", d->fallback_resolvers, d->nfallback_resolvers);
    o_strs(b, "Domains", &d->domains);
    o_bool(b, "Proxied", d->proxied);
    o_strs(b, "Nameservers", &d->nameservers);
    o_strs(b, "CertDomains", &d->cert_domains);
    if (d->nextra_records) {
        jbuf_field(b, "ExtraRecords");
        jbuf_open(b, '[');
        for (size_t i = 0; i < d->nextra_records; i++) {
            jbuf_open(b, '{');
            f_str(b, "Name", d->extra_records[i].name);
            o_str(b, "Type", d->extra_records[i].type);
            f_str(b, "Value", d->extra_records[i].value);
            jbuf_close(b, '}');
        }
        jbuf_close(b, ']');
    }
    o_strs(b, "ExitNodeFilteredSet", &d->exit_node_filtered_set);
    o_str(b, "TempCorpIssue13969", d->temp_corp_issue_13969);
    jbuf_close(b, '}');
}

int tc_dns_config_emit(struct jbuf *b, const struct tc_dns_config *d)
{
    dns_config(b, d);
    return done(b);
}

/* ---- packet filters ---- */

static void filter_rules(struct jbuf *b, const struct tc_filter_rule *r, size_t n)
{
    jbuf_open(b, '[');
    for (size_t i = 0; i < n; i++) {
        jbuf_open(b, '{');
        f_strs(b, "SrcIPs", &r[i].src_ips);
        if (r[i].ndst_ports) {
            jbuf_field(b, "DstPorts");
            jbuf_open(b, '[');
            for (size_t j = 0; j < r[i].ndst_ports; j++) {
                const struct tc_net_port_range *p = &r[i].dst_ports[j];
                jbuf_open(b, '{');
                f_str(b, "IP", p->ip);
                if (p->has_bits)
                    f_int(b, "Bits", p->bits);
                jbuf_field(b, "Ports");
                jbuf_open(b, '{');
                f_int(b, "First", p->first);
                f_int(b, "Last", p->last);
                jbuf_close(b, '}');
                jbuf_close(b, '}');
            }
            jbuf_close(b, ']');
        }
        if (r[i].nip_proto) {
            jbuf_field(b, "IPProto");
            jbuf_open(b, '[');
            for (size_t j = 0; j < r[i].nip_proto; j++)
                jbuf_i64(b, r[i].ip_proto[j]);
            jbuf_close(b, ']');
        }
        o_raw(b, "CapGrant", &r[i].cap_grant);
        jbuf_close(b, '}');
    }
    jbuf_close(b, ']');
}

int tc_filter_rules_emit(struct jbuf *b, const struct tc_filter_rule *r, size_t n)
{
    filter_rules(b, r, n);
    return done(b);
}

static void packet_filters(struct jbuf *b, const struct tc_named_filter *f, size_t n)
{
    jbuf_open(b, '{');
    for (size_t i = 0; i < n; i++) {
        jbuf_name(b, f[i].name);
        if (f[i].null && !f[i].nrules)
            jbuf_null(b);
        else
            filter_rules(b, f[i].rules, f[i].nrules);
    }
    jbuf_close(b, '}');
}

int tc_packet_filters_emit(struct jbuf *b, const struct tc_named_filter *f, size_t n)
{
    packet_filters(b, f, n);
    return done(b);
}

/* ---- MapResponse ---- */

static void nodes(struct jbuf *b, const char *name, const struct tc_nodes *ns)
{
    if (!ns->n && !ns->njson)
        return;
    jbuf_field(b, name);
    jbuf_open(b, '[');
    for (size_t i = 0; i < ns->n; i++)
        node(b, &ns->v[i]);
    for (size_t i = 0; i < ns->njson; i++)
        raw(b, &ns->json[i]);
    jbuf_close(b, ']');
}

static void id_bools(struct jbuf *b, const char *name, const struct tc_id_bool *v, size_t n)
{
    if (!n)
        return;
    jbuf_field(b, name);
    jbuf_open(b, '{');
    for (size_t i = 0; i < n; i++) {
        char k[24];
        snprintf(k, sizeof k, "%lld", (long long)v[i].id);
        jbuf_field(b, k);
        jbuf_bool(b, v[i].value);
    }
    jbuf_close(b, '}');
}

static void peer_change(struct jbuf *b, const struct tc_peer_change *p)
{
    jbuf_open(b, '{');
    f_int(b, "NodeID", p->node_id);
    o_int(b, "DERPRegion", p->derp_region);
    o_int(b, "Cap", p->cap);
    o_capmap(b, "CapMap", &p->cap_map);
    o_strs(b, "Endpoints", &p->endpoints);
    if (p->has_key)
        f_key(b, "Key", &p->key, TC_PREFIX_NODE);
    o_bytes(b, "KeySignature", &p->key_signature);
    if (p->has_disco_key)
        f_key(b, "DiscoKey", &p->disco_key, TC_PREFIX_DISCO);
    o_optbool(b, "Online", p->online);
    if (p->has_last_seen)
        f_time(b, "LastSeen", &p->last_seen);
    if (p->has_key_expiry)
        f_time(b, "KeyExpiry", &p->key_expiry);
    jbuf_close(b, '}');
}

int tc_map_response_emit(struct jbuf *b, const struct tc_map_response *m)
{
    jbuf_open(b, '{');
    o_str(b, "MapSessionHandle", m->map_session_handle);
    o_int(b, "Seq", m->seq);
    o_bool(b, "KeepAlive", m->keep_alive);
    if (m->ping_request) {
        const struct tc_ping_request *p = m->ping_request;
        jbuf_field(b, "PingRequest");
        jbuf_open(b, '{');
        f_str(b, "URL", p->url);
        o_bool(b, "URLIsNoise", p->url_is_noise);
        o_bool(b, "Log", p->log);
        o_str(b, "Types", p->types);
        o_str(b, "IP", p->ip);
        o_bytes(b, "Payload", &p->payload);
        jbuf_close(b, '}');
    }
    o_str(b, "PopBrowserURL", m->pop_browser_url);
    if (m->node) {
        jbuf_field(b, "Node");
        node(b, m->node);
    } else {
        o_raw(b, "Node", &m->node_json);
    }
    if (m->derp_map) {
        jbuf_field(b, "DERPMap");
        derp_map(b, m->derp_map);
    } else {
        o_raw(b, "DERPMap", &m->derp_map_json);
    }
    nodes(b, "Peers", &m->peers);
    nodes(b, "PeersChanged", &m->peers_changed);
    if (m->npeers_removed) {
        jbuf_field(b, "PeersRemoved");
        jbuf_open(b, '[');
        for (size_t i = 0; i < m->npeers_removed; i++)
            jbuf_i64(b, m->peers_removed[i]);
        jbuf_close(b, ']');
    }
    if (m->npeers_changed_patch) {
        jbuf_field(b, "PeersChangedPatch");
        jbuf_open(b, '[');
        for (size_t i = 0; i < m->npeers_changed_patch; i++)
            peer_change(b, &m->peers_changed_patch[i]);
        jbuf_close(b, ']');
    }
    id_bools(b, "PeerSeenChange", m->peer_seen_change, m->npeer_seen_change);
    id_bools(b, "OnlineChange", m->online_change, m->nonline_change);
    if (m->dns_config) {
        jbuf_field(b, "DNSConfig");
        dns_config(b, m->dns_config);
    } else {
        o_raw(b, "DNSConfig", &m->dns_config_json);
    }
    o_str(b, "Domain", m->domain);
    o_optbool(b, "CollectServices", m->collect_services);
    if (tc_raw_present(&m->packet_filter_json)) {
        o_raw(b, "PacketFilter", &m->packet_filter_json);
    } else if (m->has_packet_filter) {
        jbuf_field(b, "PacketFilter");
        filter_rules(b, m->packet_filter, m->npacket_filter);
    }
    if (m->npacket_filters) {
        jbuf_field(b, "PacketFilters");
        packet_filters(b, m->packet_filters, m->npacket_filters);
    } else {
        o_raw(b, "PacketFilters", &m->packet_filters_json);
    }
    if (m->nuser_profiles) {
        jbuf_field(b, "UserProfiles");
        jbuf_open(b, '[');
        for (size_t i = 0; i < m->nuser_profiles; i++) {
            const struct tc_user_profile *u = &m->user_profiles[i];
            jbuf_open(b, '{');
            f_int(b, "ID", u->id);
            f_str(b, "LoginName", u->login_name);
            f_str(b, "DisplayName", u->display_name);
            o_str(b, "ProfilePicURL", u->profile_pic_url);
            o_strs(b, "Groups", &u->groups);
            jbuf_close(b, '}');
        }
        jbuf_close(b, ']');
    }
    o_strs(b, "Health", &m->health);
    o_raw(b, "DisplayMessages", &m->display_messages);
    o_raw(b, "SSHPolicy", &m->ssh_policy);
    if (m->has_control_time)
        f_time(b, "ControlTime", &m->control_time);
    o_raw(b, "TKAInfo", &m->tka_info);
    o_str(b, "DomainDataPlaneAuditLogID", m->domain_data_plane_audit_log_id);
    o_raw(b, "Debug", &m->debug);
    o_raw(b, "ControlDialPlan", &m->control_dial_plan);
    o_raw(b, "ClientVersion", &m->client_version);
    o_optbool(b, "DefaultAutoUpdate", m->default_auto_update);
    jbuf_close(b, '}');
    return done(b);
}

/* ---- requests and the register response ---- */

int tc_map_request_emit(struct jbuf *b, const struct tc_map_request *r)
{
    jbuf_open(b, '{');
    f_int(b, "Version", r->version);
    f_str(b, "Compress", r->compress);
    f_bool(b, "KeepAlive", r->keep_alive);
    f_key(b, "NodeKey", &r->node_key, TC_PREFIX_NODE);
    f_key(b, "DiscoKey", &r->disco_key, TC_PREFIX_DISCO);
    f_bool(b, "Stream", r->stream);
    jbuf_field(b, "Hostinfo");
    if (r->hostinfo)
        hostinfo(b, r->hostinfo);
    else
        jbuf_null(b);
    o_str(b, "MapSessionHandle", r->map_session_handle);
    o_int(b, "MapSessionSeq", r->map_session_seq);
    o_strs(b, "Endpoints", &r->endpoints);
    if (r->nendpoint_types) {
        jbuf_field(b, "EndpointTypes");
        jbuf_open(b, '[');
        for (size_t i = 0; i < r->nendpoint_types; i++)
            jbuf_i64(b, r->endpoint_types[i]);
        jbuf_close(b, ']');
    }
    o_str(b, "TKAHead", r->tka_head);
    o_bool(b, "ReadOnly", r->read_only);
    o_bool(b, "OmitPeers", r->omit_peers);
    o_strs(b, "DebugFlags", &r->debug_flags);
    jbuf_close(b, '}');
    return done(b);
}

int tc_register_request_emit(struct jbuf *b, const struct tc_register_request *r)
{
    jbuf_open(b, '{');
    f_int(b, "Version", r->version);
    f_key(b, "NodeKey", &r->node_key, TC_PREFIX_NODE);
    f_key(b, "OldNodeKey", &r->old_node_key, TC_PREFIX_NODE);
    f_key(b, "NLKey", &r->nl_key, TC_PREFIX_NL);
    if (r->auth) {
        jbuf_field(b, "Auth");
        jbuf_open(b, '{');
        o_str(b, "Provider", r->auth->provider);
        o_str(b, "LoginName", r->auth->login_name);
        o_raw(b, "Oauth2Token", &r->auth->oauth2_token);
        o_str(b, "AuthKey", r->auth->auth_key);
        jbuf_close(b, '}');
    }
    f_time(b, "Expiry", &r->expiry);
    f_str(b, "Followup", r->followup);
    jbuf_field(b, "Hostinfo");
    if (r->hostinfo)
        hostinfo(b, r->hostinfo);
    else
        jbuf_null(b);
    o_bool(b, "Ephemeral", r->ephemeral);
    f_bytes(b, "NodeKeySignature", &r->node_key_signature);
    o_raw(b, "SignatureType", &r->signature_type);
    if (r->has_timestamp)
        f_time(b, "Timestamp", &r->timestamp);
    o_bytes(b, "DeviceCert", &r->device_cert);
    o_bytes(b, "Signature", &r->signature);
    o_str(b, "Tailnet", r->tailnet);
    jbuf_close(b, '}');
    return done(b);
}

int tc_register_response_emit(struct jbuf *b, const struct tc_register_response *r)
{
    jbuf_open(b, '{');
    jbuf_field(b, "User");
    jbuf_open(b, '{');
    f_int(b, "ID", r->user.id);
    f_str(b, "DisplayName", r->user.display_name);
    f_str(b, "ProfilePicURL", r->user.profile_pic_url);
    f_time(b, "Created", &r->user.created);
    jbuf_close(b, '}');
    jbuf_field(b, "Login");
    jbuf_open(b, '{');
    f_int(b, "ID", r->login.id);
    f_str(b, "Provider", r->login.provider);
    f_str(b, "LoginName", r->login.login_name);
    f_str(b, "DisplayName", r->login.display_name);
    f_str(b, "ProfilePicURL", r->login.profile_pic_url);
    jbuf_close(b, '}');
    f_bool(b, "NodeKeyExpired", r->node_key_expired);
    f_bool(b, "MachineAuthorized", r->machine_authorized);
    f_str(b, "AuthURL", r->auth_url);
    f_bytes(b, "NodeKeySignature", &r->node_key_signature);
    f_str(b, "Error", r->error);
    jbuf_close(b, '}');
    return done(b);
}
