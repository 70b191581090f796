// SPDX-License-Identifier: BSD-3-Clause
/* Interface addresses, routes and link state through rtnetlink (NETLINK_ROUTE), as `ip addr`, `ip route`
 * and `ip link set up` do. Each call is one synchronous request on a short-lived socket, answered by the
 * kernel's ACK: used when the node's netmap changes, never on a packet path. Needs CAP_NET_ADMIN.
 * nl_monitor listens for the kernel's change notifications instead (no privilege needed).
 * Every function returns 0, or a negative errno (-EEXIST, -ENODEV, -EPERM, ...). */
#ifndef WEFT_CORE_NETLINK_H
#define WEFT_CORE_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An IPv4 or IPv6 prefix: family 4 or 6, the address bytes (4 or 16 used), the prefix length. */
struct nl_prefix {
    uint8_t family;
    uint8_t bits;
    uint8_t addr[16];
};

/* Parse "100.64.0.1/32", "fd7a::1/128" or a bare address (full length). 0 or -1. */
int nl_prefix_parse(const char *text, struct nl_prefix *p);
/* "100.64.0.1/32" into buf (>= 50 bytes); with_len 0 leaves out "/N". Returns buf. */
char *nl_prefix_format(const struct nl_prefix *p, int with_len, char *buf, size_t cap);
/* The prefix with the host bits cleared. */
void nl_prefix_mask(struct nl_prefix *p);
/* 1 if a contains b (same family, a no longer than b, b's address inside a). */
int nl_prefix_contains(const struct nl_prefix *a, const struct nl_prefix *b);
int nl_prefix_equal(const struct nl_prefix *a, const struct nl_prefix *b);

/* Bring the link up or down. */
int nl_link_set_up(int ifindex, bool up);
/* Add (replace) or delete an address on the link; IPv6 addresses skip duplicate address detection. */
int nl_addr_add(int ifindex, const struct nl_prefix *p);
int nl_addr_del(int ifindex, const struct nl_prefix *p);
/* Add (replace) or delete a route to the prefix through the link (main table, scope link), with a metric. */
int nl_route_add(int ifindex, const struct nl_prefix *dst, uint32_t metric);
int nl_route_del(int ifindex, const struct nl_prefix *dst, uint32_t metric);

/* Policy routing. A route to dst through the link in routing table `table` (throw_: a "throw" route,
 * no link: a lookup that finds it goes on with the next rule), added (replaced) or deleted; a rule "from
 * all lookup table" at priority for family 4 or 6 (add: -EEXIST when it is there); nl_table_flush deletes
 * every route of the table (both families) and returns how many went. */
int nl_table_route_add(int ifindex, const struct nl_prefix *dst, uint32_t table, bool throw_);
int nl_table_route_del(int ifindex, const struct nl_prefix *dst, uint32_t table, bool throw_);
int nl_rule_add(int family, uint32_t priority, uint32_t table);
int nl_rule_del(int family, uint32_t priority, uint32_t table);
int nl_table_flush(uint32_t table);

/* Notifications of interface, address and (main table) route changes, on the loop: cb(arg, ifindex,
 * major) per kernel message; major: a link or an address came, went or changed (a route change alone is
 * not). A burst of messages is many calls: callers debounce. NULL if the socket cannot be opened. */
struct loop;
struct nl_monitor;
typedef void (*nl_change_fn)(void *arg, int ifindex, bool major);
struct nl_monitor *nl_monitor_new(struct loop *l, nl_change_fn cb, void *arg);
void nl_monitor_free(struct nl_monitor *m);

#endif
