// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/netlink.h"

#include "core/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int nl_prefix_parse(const char *text, struct nl_prefix *p)
{
    char buf[64];
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        *slash = 0;
        char *end;
        if (!slash[1] || slash[1] == '-' || slash[1] == '+')
            return -1;
        bits = strtol(slash + 1, &end, 10);
        if (*end)
            return -1;
    }
    struct nl_prefix q;
    memset(&q, 0, sizeof q);
    if (inet_pton(AF_INET, buf, q.addr) == 1) {
        q.family = 4;
        if (bits < 0)
            bits = 32;
        if (bits > 32)
            return -1;
    } else if (inet_pton(AF_INET6, buf, q.addr) == 1) {
        q.family = 6;
        if (bits < 0)
            bits = 128;
        if (bits > 128)
            return -1;
    } else {
        return -1;
    }
    q.bits = (uint8_t)bits;
    *p = q;
    return 0;
}

char *nl_prefix_format(const struct nl_prefix *p, int with_len, char *buf, size_t cap)
{
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, a, sizeof a))
        strcpy(a, "?");
    if (with_len)
        snprintf(buf, cap, "%s/%u", a, p->bits);
    else
        snprintf(buf, cap, "%s", a);
    return buf;
}

void nl_prefix_mask(struct nl_prefix *p)
{
    unsigned len = p->family == 4 ? 4 : 16;
    for (unsigned i = 0; i < len; i++) {
        unsigned lo = i * 8;
        if (p->bits <= lo)
            p->addr[i] = 0;
        else if (p->bits < lo + 8)
            p->addr[i] &= (uint8_t)(0xff << (lo + 8 - p->bits));
    }
    for (unsigned i = len; i < 16; i++)
        p->addr[i] = 0;
}

int nl_prefix_contains(const struct nl_prefix *a, const struct nl_prefix *b)
{
    if (a->family != b->family || a->bits > b->bits)
        return 0;
    struct nl_prefix m = *b;
    m.bits = a->bits;
    nl_prefix_mask(&m);
    struct nl_prefix am = *a;
    nl_prefix_mask(&am);
    return memcmp(m.addr, am.addr, 16) == 0;
}

int nl_prefix_equal(const struct nl_prefix *a, const struct nl_prefix *b)
{
    unsigned len = a->family == 4 ? 4 : 16;
    return a->family == b->family && a->bits == b->bits && memcmp(a->addr, b->addr, len) == 0;
}

/* ---- requests ---- */

struct nl_req {
    struct nlmsghdr h;
    union {
        struct ifinfomsg ifi;
        struct ifaddrmsg ifa;
        struct rtmsg rt;
        struct fib_rule_hdr fr;
    } u;
    uint8_t attrs[128];
};

static int add_attr(struct nl_req *r, unsigned short type, const void *data, size_t len)
{
    size_t off = NLMSG_ALIGN(r->h.nlmsg_len);
    size_t alen = RTA_LENGTH(len);
    if (off + RTA_ALIGN(alen) > sizeof *r)
        return -1;
    struct rtattr *a = (struct rtattr *)((uint8_t *)r + off);
    a->rta_type = type;
    a->rta_len = (unsigned short)alen;
    memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = (uint32_t)(off + RTA_ALIGN(alen));
    return 0;
}

/* Send one request and wait for its ACK (or error). */
static int transact(struct nl_req *r)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    static uint32_t seq;
    r->h.nlmsg_seq = ++seq;
    r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    int rc = 0;
    if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = -errno;
        goto out;
    }
    for (;;) {
        uint8_t buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        size_t left = (size_t)n;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_seq != r->h.nlmsg_seq)
                continue;
            if (h->nlmsg_type == NLMSG_ERROR) {
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
                    rc = -EIO;
                } else {
                    const struct nlmsgerr *e = NLMSG_DATA(h);
                    rc = e->error; /* 0 is the ACK */
                }
                goto out;
            }
            if (h->nlmsg_type == NLMSG_DONE)
                goto out;
        }
    }
out:
    close(fd);
    return rc;
}

static void req_init(struct nl_req *r, uint16_t type, uint16_t flags, size_t body)
{
    memset(r, 0, sizeof *r);
    r->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(body);
    r->h.nlmsg_type = type;
    r->h.nlmsg_flags = flags;
}

int nl_link_set_up(int ifindex, bool up)
{
    struct nl_req r;
    req_init(&r, RTM_NEWLINK, 0, sizeof(struct ifinfomsg));
    r.u.ifi.ifi_family = AF_UNSPEC;
    r.u.ifi.ifi_index = ifindex;
    r.u.ifi.ifi_flags = up ? IFF_UP : 0;
    r.u.ifi.ifi_change = IFF_UP;
    return transact(&r);
}

static int addr_req(int ifindex, const struct nl_prefix *p, uint16_t type, uint16_t flags)
{
    if (p->family != 4 && p->family != 6)
        return -EINVAL;
    struct nl_req r;
    req_init(&r, type, flags, sizeof(struct ifaddrmsg));
    size_t alen = p->family == 4 ? 4 : 16;
    r.u.ifa.ifa_family = p->family == 4 ? AF_INET : AF_INET6;
    r.u.ifa.ifa_prefixlen = p->bits;
    r.u.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    r.u.ifa.ifa_index = (uint32_t)ifindex;
    if (p->family == 6 && type == RTM_NEWADDR) {
        /* no duplicate address detection: the address is usable (bindable) at once */
        r.u.ifa.ifa_flags = IFA_F_NODAD;
        uint32_t fl = IFA_F_NODAD;
        if (add_attr(&r, IFA_FLAGS, &fl, sizeof fl))
            return -EINVAL;
    }
    if (add_attr(&r, IFA_LOCAL, p->addr, alen) || add_attr(&r, IFA_ADDRESS, p->addr, alen))
        return -EINVAL;
    return transact(&r);
}

int nl_addr_add(int ifindex, const struct nl_prefix *p)
{
    return addr_req(ifindex, p, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
}

int nl_addr_del(int ifindex, const struct nl_prefix *p)
{
    return addr_req(ifindex, p, RTM_DELADDR, 0);
}

static int route_req(int ifindex, const struct nl_prefix *dst, uint32_t metric, uint16_t type,
                     uint16_t flags)
{
    if (dst->family != 4 && dst->family != 6)
        return -EINVAL;
    struct nl_prefix m = *dst;
    nl_prefix_mask(&m);
    struct nl_req r;
    req_init(&r, type, flags, sizeof(struct rtmsg));
    r.u.rt.rtm_family = m.family == 4 ? AF_INET : AF_INET6;
    r.u.rt.rtm_dst_len = m.bits;
    r.u.rt.rtm_table = RT_TABLE_MAIN;
    r.u.rt.rtm_protocol = RTPROT_STATIC;
    r.u.rt.rtm_scope = RT_SCOPE_LINK;
    r.u.rt.rtm_type = RTN_UNICAST;
    uint32_t oif = (uint32_t)ifindex;
    if (add_attr(&r, RTA_DST, m.addr, m.family == 4 ? 4 : 16) || add_attr(&r, RTA_OIF, &oif, sizeof oif) ||
        (metric && add_attr(&r, RTA_PRIORITY, &metric, sizeof metric)))
        return -EINVAL;
    return transact(&r);
}

int nl_route_add(int ifindex, const struct nl_prefix *dst, uint32_t metric)
{
    return route_req(ifindex, dst, metric, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
}

int nl_route_del(int ifindex, const struct nl_prefix *dst, uint32_t metric)
{
    return route_req(ifindex, dst, metric, RTM_DELROUTE, 0);
}

/* ---- policy routing: routes in a table of our own, rules that send lookups there ---- */

static int table_route_req(int ifindex, const struct nl_prefix *dst, uint32_t table, bool throw_, uint16_t type,
                           uint16_t flags)
{
    if (dst->family != 4 && dst->family != 6)
        return -EINVAL;
    struct nl_prefix m = *dst;
    nl_prefix_mask(&m);
    struct nl_req r;
    req_init(&r, type, flags, sizeof(struct rtmsg));
    r.u.rt.rtm_family = m.family == 4 ? AF_INET : AF_INET6;
    r.u.rt.rtm_dst_len = m.bits;
    r.u.rt.rtm_table = table < 256 ? (unsigned char)table : RT_TABLE_UNSPEC;
    r.u.rt.rtm_protocol = RTPROT_STATIC;
    r.u.rt.rtm_scope = throw_ ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    r.u.rt.rtm_type = throw_ ? RTN_THROW : RTN_UNICAST;
    uint32_t oif = (uint32_t)ifindex;
    if ((m.bits && add_attr(&r, RTA_DST, m.addr, m.family == 4 ? 4 : 16)) ||
        add_attr(&r, RTA_TABLE, &table, sizeof table) || (!throw_ && add_attr(&r, RTA_OIF, &oif, sizeof oif)))
        return -EINVAL;
    return transact(&r);
}

int nl_table_route_add(int ifindex, const struct nl_prefix *dst, uint32_t table, bool throw_)
{
    return table_route_req(ifindex, dst, table, throw_, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
}

int nl_table_route_del(int ifindex, const struct nl_prefix *dst, uint32_t table, bool throw_)
{
    return table_route_req(ifindex, dst, table, throw_, RTM_DELROUTE, 0);
}

static int rule_req(int family, uint32_t priority, uint32_t table, uint16_t type, uint16_t flags)
{
    struct nl_req r;
    req_init(&r, type, flags, sizeof(struct fib_rule_hdr));
    r.u.fr.family = family == 4 ? AF_INET : AF_INET6;
    r.u.fr.action = FR_ACT_TO_TBL;
    r.u.fr.table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
    if (add_attr(&r, FRA_PRIORITY, &priority, sizeof priority) || add_attr(&r, FRA_TABLE, &table, sizeof table))
        return -EINVAL;
    return transact(&r);
}

int nl_rule_add(int family, uint32_t priority, uint32_t table)
{
    return rule_req(family, priority, table, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL);
}

int nl_rule_del(int family, uint32_t priority, uint32_t table)
{
    return rule_req(family, priority, table, RTM_DELRULE, 0);
}

/* One dump of the routes of a family; the ones in table go into v (at most cap). */
static size_t dump_table(int family, uint32_t table, struct nl_prefix *v, bool *throws, size_t cap)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return 0;
    struct nl_req r;
    req_init(&r, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, sizeof(struct rtmsg));
    r.u.rt.rtm_family = family == 4 ? AF_INET : AF_INET6;
    r.h.nlmsg_seq = 1;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    size_t n = 0;
    if (sendto(fd, &r, r.h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0)
        goto out;
    for (;;) {
        uint8_t buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
        ssize_t got = recv(fd, buf, sizeof buf, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            goto out;
        size_t left = (size_t)got;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
                goto out;
            if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)))
                continue;
            struct rtmsg *rt = NLMSG_DATA(h);
            uint32_t t = rt->rtm_table;
            struct nl_prefix p = {.family = (uint8_t)family, .bits = rt->rtm_dst_len};
            size_t alen = RTM_PAYLOAD(h);
            for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
                if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) == 4)
                    memcpy(&t, RTA_DATA(a), 4);
                else if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == (family == 4 ? 4u : 16u))
                    memcpy(p.addr, RTA_DATA(a), RTA_PAYLOAD(a));
            }
            if (t == table && n < cap) {
                throws[n] = rt->rtm_type == RTN_THROW;
                v[n++] = p;
            }
        }
    }
out:
    close(fd);
    return n;
}

int nl_table_flush(uint32_t table)
{
    int removed = 0;
    for (int fam = 4; fam <= 6; fam += 2) {
        struct nl_prefix v[256];
        bool throws[256];
        size_t n = dump_table(fam, table, v, throws, 256);
        for (size_t i = 0; i < n; i++)
            removed += table_route_req(0, &v[i], table, throws[i], RTM_DELROUTE, 0) == 0;
    }
    return removed;
}

/* ---- change notifications ---- */

struct nl_monitor {
    int fd;
    struct loop_watch *w;
    nl_change_fn cb;
    void *arg;
};

static void on_nl(struct loop_watch *w, int fd, int events, void *arg)
{
    (void)w;
    (void)events;
    struct nl_monitor *m = arg;
    uint8_t buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
    for (int round = 0; round < 16; round++) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0)
            return; /* EAGAIN; ENOBUFS (we missed some): the next event re-reads everything anyway */
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            int ifindex = 0;
            bool major = false;
            switch (h->nlmsg_type) {
            case RTM_NEWLINK:
            case RTM_DELLINK:
                if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg)))
                    ifindex = ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
                major = true;
                break;
            case RTM_NEWADDR:
            case RTM_DELADDR:
                if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
                    ifindex = (int)((struct ifaddrmsg *)NLMSG_DATA(h))->ifa_index;
                major = true;
                break;
            case RTM_NEWROUTE:
            case RTM_DELROUTE:
                if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct rtmsg))) {
                    struct rtmsg *r = NLMSG_DATA(h);
                    if (r->rtm_table != RT_TABLE_MAIN)
                        continue; /* policy-routing tables of others */
                    /* the interface: the RTA_OIF attribute */
                    int len = (int)RTM_PAYLOAD(h);
                    for (struct rtattr *a = RTM_RTA(r); RTA_OK(a, len); a = RTA_NEXT(a, len))
                        if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) >= sizeof(int))
                            memcpy(&ifindex, RTA_DATA(a), sizeof(int));
                }
                break;
            default:
                continue;
            }
            m->cb(m->arg, ifindex, major);
        }
    }
}

struct nl_monitor *nl_monitor_new(struct loop *l, nl_change_fn cb, void *arg)
{
    struct nl_monitor *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cb = cb;
    m->arg = arg;
    m->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
                             .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
                                          RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE};
    if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        !(m->w = loop_watch_add(l, m->fd, LOOP_READ, on_nl, m))) {
        if (m->fd >= 0)
            close(m->fd);
        free(m);
        return NULL;
    }
    return m;
}

void nl_monitor_free(struct nl_monitor *m)
{
    if (!m)
        return;
    loop_watch_free(m->w);
    close(m->fd);
    free(m);
}
