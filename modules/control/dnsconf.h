// SPDX-License-Identifier: BSD-3-Clause
/* control.dns: the checks of its keys (run by check-config and at start, errors at FILE:LINE:COL), the
 * DNSConfig every node gets (built once, again when the extra records file changes, and then pushed to
 * every node as a delta), and the watch on that file. */
#ifndef WEFT_MODULES_CONTROL_DNSCONF_H
#define WEFT_MODULES_CONTROL_DNSCONF_H

#include <stddef.h>

#include "core/cfg.h"

struct ctrl;
struct control_conf;

/* cfg_key checks (conf: the struct control_conf). */
const char *dnsconf_check_domain(const void *conf, const char *item, enum cfg_part part, char *buf, size_t len);
const char *dnsconf_check_resolver(const void *conf, const char *item, enum cfg_part part, char *buf, size_t len);
const char *dnsconf_check_route(const void *conf, const char *item, enum cfg_part part, char *buf, size_t len);
const char *dnsconf_check_record(const void *conf, const char *item, enum cfg_part part, char *buf, size_t len);
const char *dnsconf_check_records_file(const void *conf, const char *item, enum cfg_part part, char *buf,
                                       size_t len);

/* One extra record, "NAME TYPE VALUE" (or "NAME VALUE" for an address): its three parts in rec (pointers
 * into line, which is modified). 0, or -1 with the reason and the 1-based column it is about. */
struct dnsconf_rec {
    char *name, *type, *value;
};
int dnsconf_parse_record(const void *conf, char *line, struct dnsconf_rec *rec, char *err, size_t errlen, int *col);

/* c->dns_json from the configuration and the records file (kept as it was if the file is bad now). */
int dnsconf_build(struct ctrl *c);
/* Watch dns.extra_records_file (checked every second: changed contents are read, checked and, when good,
 * pushed to every node). */
void dnsconf_watch_start(struct ctrl *c);
void dnsconf_watch_stop(struct ctrl *c);
/* SIGHUP: the re-read control.dns (in nc) replaces the running one, except magic_dns and base_domain (the
 * nodes' names: those take a restart); a DNSConfig that changed goes to every node. The old values end in
 * nc, which the caller frees. */
int dnsconf_reload(struct ctrl *c, struct control_conf *nc);

#endif
