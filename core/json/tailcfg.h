// SPDX-License-Identifier: BSD-3-Clause
/* The control protocol's JSON messages (Go package tailcfg) as typed C structs, parsed through json-c
 * and emitted into a jbuf with Go's field names, order, omitempty rules and value formats.
 *
 * Conventions of every struct here:
 *  - Strings are NUL-terminated `const char *`; NULL means empty ("" where Go writes the field).
 *  - Arrays are pointer + count; count 0 is Go's nil/empty slice (omitted where Go has omitempty).
 *  - enum tc_optbool is Go's opt.Bool or *bool: unset (omitted/null), false, true.
 *  - `has_*` flags mark pointer fields (*time.Time, *Hostinfo, ...) that Go can leave out.
 *  - struct tc_raw is a JSON value kept opaque (SSHPolicy, CapMap values, a client's Hostinfo, ...):
 *    written verbatim on emit. Parsing sets .obj (a json-c value inside the document); code that builds
 *    messages sets .text/.len instead (e.g. a Node serialized once and spliced into many maps).
 *
 * Parsed documents: tc_X_parse() fills a caller-owned struct whose pointers all lead into its .doc
 * (the json-c tree and an arena); tc_X_clear() frees it all. Unknown fields are ignored; a known field
 * with the wrong JSON type fails the parse (as in Go); null is the same as absent. Field names match
 * exactly as Go writes them (Go would also take other casings; no real sender uses them).
 *
 * Emitting: tc_X_emit() appends one JSON object to a jbuf and returns 0, or -1 if out of memory.
 * Map-typed fields (Regions, Routes, CapMap, OnlineChange, ...) are written in array order; Go sorts map
 * keys, so pass them sorted where byte-equality with Go matters (clients do not care).
 * Emitting a parsed document serializes its json-c values in place (json-c caches the text in the
 * object): do not emit one parsed document from two threads at once. */
#ifndef WEFT_JSON_TAILCFG_H
#define WEFT_JSON_TAILCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json/jbuf.h"
#include "core/json/json_util.h"

struct json_object;

enum tc_optbool { TC_UNSET = 0, TC_FALSE = 1, TC_TRUE = 2 };

struct tc_strs {
    const char *const *v;
    size_t n;
};

struct tc_raw {
    const char *text; /* serialized value, spliced as is */
    size_t len;
    struct json_object *obj; /* or a json-c value, serialized when emitted */
};

static inline bool tc_raw_present(const struct tc_raw *r) { return r->text || r->obj; }
/* The value's compact text (serializing .obj if needed); NULL if absent. */
const char *tc_raw_text(const struct tc_raw *r, size_t *len);

struct tc_bytes { /* Go []byte, base64 in JSON; p == NULL is nil (null or omitted) */
    const uint8_t *p;
    size_t len;
};

/* Parse-side bookkeeping shared by every top-level message. */
struct tc_doc {
    struct json_object *root;
    struct tc_arena arena;
    const char *error; /* static text naming what failed, after a failed parse */
};

/* ---- Hostinfo ---- */

struct tc_service {
    const char *proto; /* "tcp", "udp", "peerapi4", "peerapi6", "peerapi-dns-proxy" */
    uint16_t port;
    const char *description;
};

struct tc_derp_latency {
    const char *name; /* "999-v4" */
    double seconds;
};

struct tc_netinfo {
    enum tc_optbool mapping_varies_by_dest_ip, hair_pinning, working_ipv6, os_has_ipv6, working_udp,
        working_icmpv4;
    bool have_port_map;
    enum tc_optbool upnp, pmp, pcp;
    int32_t preferred_derp;
    const char *link_type;
    const struct tc_derp_latency *derp_latency;
    size_t nderp_latency;
    const char *firewall_mode;
};

/* When .raw is present it is what gets emitted (control passes a client's Hostinfo on untouched); the
 * typed fields are then a read-only view. Without .raw the typed fields are emitted (a client's own). */
struct tc_hostinfo {
    struct tc_raw raw;
    const char *ipn_version, *frontend_log_id, *backend_log_id, *os, *os_version;
    enum tc_optbool container;
    const char *env, *distro, *distro_version, *distro_code_name, *app;
    enum tc_optbool desktop;
    const char *package, *device_model, *push_device_token, *hostname;
    bool shields_up, sharee_node, no_logs_no_support, wire_ingress, allows_update;
    const char *machine, *go_arch, *go_arch_var, *go_version;
    struct tc_strs routable_ips, request_tags, wol_macs;
    const struct tc_service *services;
    size_t nservices;
    const struct tc_netinfo *netinfo; /* NULL: absent */
    struct tc_strs ssh_host_keys;     /* JSON "sshHostKeys" */
    const char *cloud;
    enum tc_optbool userspace, userspace_router, app_connector;
    struct tc_raw location;
};

/* ---- Node ---- */

struct tc_capmap_entry {
    const char *name;    /* "https://tailscale.com/cap/ssh" */
    struct tc_raw value; /* a JSON array (usually "[]"), or absent for null */
};

struct tc_capmap {
    const struct tc_capmap_entry *v;
    size_t n;
};

struct tc_node {
    int64_t id;
    const char *stable_id, *name; /* name: FQDN with trailing dot */
    int64_t user, sharer;
    tc_key key;
    struct tc_time key_expiry; /* always written; zero = never expires */
    struct tc_bytes key_signature;
    tc_key machine, disco_key;           /* omitted when zero */
    struct tc_strs addresses, allowed_ips; /* prefixes "100.64.0.1/32"; allowed_ips omitted when empty */
    struct tc_strs endpoints;            /* "ip:port" */
    const char *legacy_derp;             /* JSON "DERP": "127.3.3.40:<region>" */
    int32_t home_derp;
    const struct tc_hostinfo *hostinfo; /* NULL: absent */
    struct tc_time created;             /* always written */
    int32_t cap;
    struct tc_strs tags, primary_routes;
    bool has_last_seen;
    struct tc_time last_seen;
    enum tc_optbool online;
    bool machine_authorized;
    struct tc_strs capabilities;
    struct tc_capmap cap_map;
    bool unsigned_peer_api_only;
    const char *computed_name, *computed_name_with_host, *data_plane_audit_log_id;
    bool expired;
    const char *self_node_v4_masq_addr, *self_node_v6_masq_addr;
    bool is_wireguard_only, is_jailed;
    const struct tc_resolver *exit_node_dns_resolvers;
    size_t nexit_node_dns_resolvers;
};

/* ---- DERP map ---- */

struct tc_derp_node {
    const char *name;
    int32_t region_id;
    const char *host_name, *cert_name, *ipv4, *ipv6;
    int32_t stun_port; /* 0 = 3478, -1 = none */
    bool stun_only;
    int32_t derp_port; /* 0 = 443 */
    bool insecure_for_tests;
    const char *stun_test_ip;
    bool can_port80;
};

struct tc_derp_region {
    int32_t region_id;
    const char *region_code, *region_name;
    double latitude, longitude;
    bool avoid, no_measure_no_home;
    const struct tc_derp_node *nodes;
    size_t nnodes;
};

struct tc_region_score {
    int32_t region_id;
    double score;
};

struct tc_derp_map {
    bool has_home_params;
    const struct tc_region_score *region_scores;
    size_t nregion_scores;
    const struct tc_derp_region *regions; /* JSON object keyed by decimal RegionID */
    size_t nregions;
    bool omit_default_regions; /* JSON "omitDefaultRegions" */
};

/* ---- DNS ---- */

struct tc_resolver {
    const char *addr; /* "1.1.1.1", "1.1.1.1:53", "https://...", "tls://..." */
    struct tc_strs bootstrap_resolution;
    bool use_with_exit_node;
};

struct tc_dns_route {
    const char *suffix;
    const struct tc_resolver *resolvers; /* none: "[]", handled by 100.100.100.100 itself */
    size_t nresolvers;
    bool null; /* write null instead of [] */
};

struct tc_dns_record {
    const char *name, *type, *value;
};

struct tc_dns_config {
    const struct tc_resolver *resolvers;
    size_t nresolvers;
    const struct tc_dns_route *routes;
    size_t nroutes;
    const struct tc_resolver *fallback_resolvers;
    size_t nfallback_resolvers;
    struct tc_strs domains;
    bool proxied;
    struct tc_strs nameservers, cert_domains;
    const struct tc_dns_record *extra_records;
    size_t nextra_records;
    struct tc_strs exit_node_filtered_set;
    const char *temp_corp_issue_13969;
};

/* ---- packet filter ---- */

struct tc_net_port_range {
    const char *ip; /* "*", IP, CIDR, "a-b" */
    bool has_bits;  /* deprecated Bits */
    int32_t bits;
    uint16_t first, last; /* "Ports":{"First","Last"} */
};

struct tc_filter_rule {
    struct tc_strs src_ips;
    const struct tc_net_port_range *dst_ports;
    size_t ndst_ports;
    const int32_t *ip_proto;
    size_t nip_proto;
    struct tc_raw cap_grant; /* []CapGrant, opaque */
};

struct tc_named_filter { /* one entry of PacketFilters */
    const char *name;
    const struct tc_filter_rule *rules;
    size_t nrules;
    bool null; /* null deletes the named filter (name "*" with null: clear all first) */
};

/* ---- the rest of MapResponse ---- */

struct tc_user_profile {
    int64_t id;
    const char *login_name, *display_name, *profile_pic_url;
    struct tc_strs groups;
};

struct tc_peer_change {
    int64_t node_id;
    int32_t derp_region, cap;
    struct tc_capmap cap_map;
    struct tc_strs endpoints;
    bool has_key, has_disco_key, has_last_seen, has_key_expiry;
    tc_key key, disco_key;
    struct tc_bytes key_signature;
    enum tc_optbool online;
    struct tc_time last_seen, key_expiry;
};

struct tc_id_bool { /* an entry of map[NodeID]bool */
    int64_t id;
    bool value;
};

struct tc_ping_request {
    const char *url;
    bool url_is_noise, log;
    const char *types, *ip;
    struct tc_bytes payload;
};

/* For []Node fields: typed nodes, then already-serialized Node objects (each a complete JSON object
 * text), in that order. The serialized form is what control caches per peer. */
struct tc_nodes {
    const struct tc_node *v;
    size_t n;
    const struct tc_raw *json;
    size_t njson;
};

struct tc_map_response {
    struct tc_doc doc;
    const char *map_session_handle;
    int64_t seq;
    bool keep_alive;
    const struct tc_ping_request *ping_request;
    const char *pop_browser_url;
    const struct tc_node *node;     /* self node; or node_json (pre-serialized) */
    struct tc_raw node_json;
    const struct tc_derp_map *derp_map;
    struct tc_raw derp_map_json;
    struct tc_nodes peers, peers_changed; /* parse fills .v/.n */
    const int64_t *peers_removed;
    size_t npeers_removed;
    const struct tc_peer_change *peers_changed_patch;
    size_t npeers_changed_patch;
    const struct tc_id_bool *peer_seen_change, *online_change;
    size_t npeer_seen_change, nonline_change;
    const struct tc_dns_config *dns_config;
    struct tc_raw dns_config_json;
    const char *domain;
    enum tc_optbool collect_services;
    bool has_packet_filter; /* with no rules writes [] (deny all) */
    const struct tc_filter_rule *packet_filter;
    size_t npacket_filter;
    struct tc_raw packet_filter_json; /* or the PacketFilter list pre-serialized (wins over the above) */
    const struct tc_named_filter *packet_filters;
    size_t npacket_filters;
    struct tc_raw packet_filters_json; /* or the whole PacketFilters object pre-serialized */
    const struct tc_user_profile *user_profiles;
    size_t nuser_profiles;
    struct tc_strs health;
    struct tc_raw display_messages, ssh_policy;
    bool has_control_time;
    struct tc_time control_time;
    struct tc_raw tka_info;
    const char *domain_data_plane_audit_log_id;
    struct tc_raw debug; /* e.g. {"DisableLogTail":true} */
    struct tc_raw control_dial_plan, client_version;
    enum tc_optbool default_auto_update;
};

/* ---- requests ---- */

struct tc_map_request {
    struct tc_doc doc;
    int32_t version;
    const char *compress; /* "zstd" */
    bool keep_alive;
    tc_key node_key, disco_key;
    bool stream;
    const struct tc_hostinfo *hostinfo; /* NULL writes null */
    const char *map_session_handle;
    int64_t map_session_seq;
    struct tc_strs endpoints;
    const int32_t *endpoint_types; /* 0 unknown, 1 local, 2 STUN, 3 portmapped, 4 STUN4LocalPort */
    size_t nendpoint_types;
    const char *tka_head;
    bool read_only, omit_peers;
    struct tc_strs debug_flags;
};

struct tc_register_auth {
    const char *provider, *login_name;
    struct tc_raw oauth2_token;
    const char *auth_key;
};

struct tc_register_request {
    struct tc_doc doc;
    int32_t version;
    tc_key node_key, old_node_key, nl_key;
    const struct tc_register_auth *auth; /* NULL: absent */
    struct tc_time expiry;               /* in the past with the current key: logout */
    const char *followup;
    const struct tc_hostinfo *hostinfo; /* NULL writes null */
    bool ephemeral;
    struct tc_bytes node_key_signature; /* nil writes null */
    struct tc_raw signature_type;
    bool has_timestamp;
    struct tc_time timestamp;
    struct tc_bytes device_cert, signature;
    const char *tailnet;
};

struct tc_user {
    int64_t id;
    const char *display_name, *profile_pic_url;
    struct tc_time created;
};

struct tc_login {
    int64_t id;
    const char *provider, *login_name, *display_name, *profile_pic_url;
};

struct tc_register_response {
    struct tc_doc doc;
    struct tc_user user;
    struct tc_login login;
    bool node_key_expired, machine_authorized;
    const char *auth_url;
    struct tc_bytes node_key_signature; /* nil writes null */
    const char *error;
};

/* ---- parse (client and server) ---- */

int tc_register_request_parse(struct tc_register_request *r, const char *json, size_t len);
int tc_register_response_parse(struct tc_register_response *r, const char *json, size_t len);
int tc_map_request_parse(struct tc_map_request *r, const char *json, size_t len);
int tc_map_response_parse(struct tc_map_response *r, const char *json, size_t len);
void tc_register_request_clear(struct tc_register_request *r);
void tc_register_response_clear(struct tc_register_response *r);
void tc_map_request_clear(struct tc_map_request *r);
void tc_map_response_clear(struct tc_map_response *r);

/* ---- emit ---- */

int tc_register_request_emit(struct jbuf *b, const struct tc_register_request *r);
int tc_register_response_emit(struct jbuf *b, const struct tc_register_response *r);
int tc_map_request_emit(struct jbuf *b, const struct tc_map_request *r);
int tc_map_response_emit(struct jbuf *b, const struct tc_map_response *m);

int tc_node_emit(struct jbuf *b, const struct tc_node *n);
int tc_hostinfo_emit(struct jbuf *b, const struct tc_hostinfo *h);
int tc_derp_map_emit(struct jbuf *b, const struct tc_derp_map *d);
int tc_dns_config_emit(struct jbuf *b, const struct tc_dns_config *d);
int tc_packet_filters_emit(struct jbuf *b, const struct tc_named_filter *f, size_t n);
int tc_filter_rules_emit(struct jbuf *b, const struct tc_filter_rule *r, size_t n);

/* A Node serialized once, for caching and splicing (tc_nodes.json); malloc'd, NULL if OOM. */
char *tc_node_to_json(const struct tc_node *n, size_t *len);

#endif
