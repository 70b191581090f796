// SPDX-License-Identifier: BSD-3-Clause
/* control.dns: the checks of its keys (run by check-config and at start, errors at FILE:LINE:COL), the
 * DNSConfig every node gets (built once, again when the extra records file changes, and then pushed to
 * every node as a delta), and the watch on that file. */
#ifndef WEFT_MODULES_CONTROL_DNSCONF_H
#define WEFT_MODULES_CONTROL_DNSCONF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/cfg.h"

struct ctrl;
struct control_conf;

/* dns.extra_records' cfg_key check: one record's form ("NAME TYPE VALUE"), whatever the domains. */
const char *dnsconf_check_record(const char *item, char *buf, size_t len);
/* The module's check hook's share (s->conf: the struct control_conf): a base domain,
 * routes' domains, each extra record's name under a domain nodes ask about, the records file's contents. */
void dnsconf_check(const struct cfg_section *s, struct cfg_errors *err);

/* One extra record, "NAME TYPE VALUE" (or "NAME VALUE" for an address): its three parts in rec (pointers
 * into line, which is modified). 0, or -1 with the reason and the 1-based column it is about. */
struct dnsconf_rec {
    char *name, *type, *value;
};
int dnsconf_parse_record(const void *conf, char *line, struct dnsconf_rec *rec, char *err, size_t errlen, int *col);

/* The DNSConfig from cf and the records file last read (c) into *out (malloc'd). 0 or -1. */
int dnsconf_build(const struct ctrl *c, const struct control_conf *cf, char **out, size_t *outlen);
/* Watch dns.extra_records_file (checked every second: changed contents are read, checked and, when good,
 * pushed to every node). */
void dnsconf_watch_start(struct ctrl *c);
void dnsconf_watch_stop(struct ctrl *c);
/* A reload changed control.dns (already in c->conf): the records file is read again now (watched anew if
 * path_changed), before the DNSConfig is rebuilt. */
void dnsconf_file_refresh(struct ctrl *c, bool path_changed);

#endif
