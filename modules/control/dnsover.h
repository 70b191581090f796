// SPDX-License-Identifier: BSD-3-Clause
/* DNS settings changed at run time (the REST API's POST /api/v2/tailnet/-/dns/...): each is stored in the
 * database (the settings table, under the name of the control.dns key it overrides) and, while stored, is
 * in force instead of the configuration file's value of that key; the file's other DNS keys stay in force.
 * A change is pushed to every node at once (as a DNSConfig delta; a MagicDNS switch sends whole maps, as a
 * reload does). They survive restarts and reloads; DELETE /api/v2/weft/dns removes them all (the file's
 * values are in force again).
 *
 * Overridable: dns.nameservers, dns.search_domains (lists), dns.magic_dns (bool), dns.routes (split DNS:
 * domain -> nameservers). base_domain, override_local_dns and the extra records stay the file's. */
#ifndef WEFT_MODULES_CONTROL_DNSOVER_H
#define WEFT_MODULES_CONTROL_DNSOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/cfg.h"

struct ctrl;
struct control_dns_conf;

struct dns_over {
    bool has_nameservers, has_search_domains, has_magic_dns, has_routes;
    struct cfg_list nameservers, search_domains;
    bool magic_dns;
    struct cfg_map routes;
};

/* The stored settings into c->dns_over (at start, before the DNSConfig is built). A stored value that
 * does not parse is logged and left out (the file's stays in force). 0, or -1 with err when the store
 * cannot be read. */
int dnsover_load(struct ctrl *c, char *err, size_t errlen);
void dnsover_free(struct dns_over *o);
/* The stored settings read again after another control instance changed them (cluster.c), and the new
 * DNSConfig pushed. When the store cannot be read, the settings in force stay (logged). */
void dnsover_reload(struct ctrl *c);

/* The DNS settings in force: file's with c's stored ones over it. A shallow copy: it borrows from both. */
void dnsover_effective(const struct ctrl *c, const struct control_dns_conf *file, struct control_dns_conf *out);

/* Store one setting (the values already checked: nameservers by cfg_check_nameserver, domains by
 * cfg_check_domain), take it into force and push the new DNSConfig. The value is taken (moved out of
 * *v). 0, or -1 with the store's error in err (nothing changed). */
int dnsover_set_nameservers(struct ctrl *c, struct cfg_list *v, char *err, size_t errlen);
int dnsover_set_search_domains(struct ctrl *c, struct cfg_list *v, char *err, size_t errlen);
int dnsover_set_magic_dns(struct ctrl *c, bool on, char *err, size_t errlen);
int dnsover_set_routes(struct ctrl *c, struct cfg_map *v, char *err, size_t errlen);
/* Every stored setting removed: the file's are in force again. */
int dnsover_clear(struct ctrl *c, char *err, size_t errlen);

void dnsover_list_free(struct cfg_list *l);
void dnsover_map_free(struct cfg_map *m);

#endif
