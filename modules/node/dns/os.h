// SPDX-License-Identifier: BSD-3-Clause
/* Pointing the machine's resolver at 100.100.100.100 (`weft up --accept-dns`, on by default), in whatever
 * way the machine manages DNS, found from /etc/resolv.conf:
 *   - systemd-resolved (resolv.conf is its stub or points there): the TUN link is configured over D-Bus
 *     (sd-bus): DNS server 100.100.100.100, routing domains for the MagicDNS suffix and the split-DNS
 *     domains, search domains, the default route only when control's config has global resolvers;
 *     RevertLink undoes it all.
 *   - resolvconf (Debian's or openresolv): its own mechanism, `resolvconf -a IFACE` / `-d IFACE`.
 *   - NetworkManager writing resolv.conf itself, or a symlink to a file nobody we know manages: left
 *     alone, with a warning saying so (never fight another manager).
 *   - a plain file: rewritten, with a backup in the state directory first; restored on `weft down`, on
 *     exit, and after a crash on the next start (the file carries a marker line so it is known as ours).
 * Each call does its work at once (a few file operations, or a D-Bus call with a short timeout). */
#ifndef WEFT_NODE_DNS_OS_H
#define WEFT_NODE_DNS_OS_H

#include <stdbool.h>
#include <stddef.h>

struct dns_os_wants;
struct jbuf;

#define DNS_OS_MARKER "# weft: this file was written by weft; the original is restored on `weft down`"

enum dns_os_mode {
    DNS_OS_NONE,      /* nothing applied (yet, or --accept-dns=false) */
    DNS_OS_RESOLVED,  /* systemd-resolved over D-Bus */
    DNS_OS_RESOLVCONF, /* the resolvconf program */
    DNS_OS_FILE,      /* /etc/resolv.conf rewritten (backup kept) */
    DNS_OS_LEFT_ALONE, /* another manager owns it: not touched */
};
const char *dns_os_mode_name(enum dns_os_mode m);

struct dns_os;

/* resolv_conf: normally "/etc/resolv.conf"; backup: a file in the state directory. */
struct dns_os *dns_os_new(const char *resolv_conf, const char *backup, const char *ifname, int ifindex);
/* Restore what was changed (as dns_os_restore), then free. */
void dns_os_free(struct dns_os *o);

/* Configure the OS for w (w->enabled false: restore). 0, or -1 with a reason in err (and a warning logged). */
int dns_os_apply(struct dns_os *o, const struct dns_os_wants *w, char *err, size_t errlen);
/* Undo what apply did. */
void dns_os_restore(struct dns_os *o);

/* At start: a resolv.conf left by a weft that crashed (it has the marker and the backup is there) gets its
 * original back. 1 if it did, 0 if nothing to do, -1 on an error (logged). */
int dns_os_recover(const char *resolv_conf, const char *backup);

/* The nameservers the machine had before weft changed anything: from the backup when resolv.conf is ours,
 * else from resolv.conf. *out: strdup'd strings ("192.0.2.1", "[2001:db8::1]:53"). */
int dns_os_read_resolvers(const char *resolv_conf, const char *backup, char ***out, size_t *n);

/* JSON fields of what is configured: Mode, Detail, Error. */
void dns_os_status(const struct dns_os *o, struct jbuf *b);
enum dns_os_mode dns_os_mode(const struct dns_os *o);

#endif
