#include "config.h"

#include <stddef.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/module.h"
#include "modules/node/node.h"

#define K(name, type, def, doc) {#name, type, def, doc, offsetof(struct node_conf, name), 0, 0, NULL}
static const struct cfg_key node_keys[] = {
    K(socket, CFG_STR, "/run/weft/node.sock", "the local API socket the CLI talks to (mode 0600, or 0660 with socket_group)"),
    K(socket_group, CFG_STR, NULL, "group allowed to use the local API socket"),
    K(tun, CFG_STR, "weft0", "name of the TUN interface"),
    {"port", CFG_INT, "41641", "UDP port for WireGuard and disco (0: any)", offsetof(struct node_conf, port), 0,
     65535, NULL},
    K(login_server, CFG_STR, NULL, "control server URL to log in to (also `weft up --login-server`)"),
    K(hostname, CFG_STR, NULL, "the name to register (default: the system's hostname)"),
    CFG_END,
};

extern const struct weft_verb node_verbs[]; /* wireguard.c */

WEFT_MODULE(node) = {
    .abi = WEFT_ABI_VERSION,
    .name = "node",
    .version = WEFT_VERSION,
    .summary = "client daemon: joins a tailnet, TUN + WireGuard to its peers",
    .keys = node_keys,
    .conf_size = sizeof(struct node_conf),
    .is_role = 1,
    .verbs = node_verbs,
};
