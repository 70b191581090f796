// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/ping.h"

#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"

struct pinger {
    struct loop *loop;
    int fd;
    int family;
    int raw;
    uint16_t id, seq;
    uint8_t dst[16];
    struct loop_watch *w;
    struct timer t;
    struct timespec sent;
    ping_cb cb;
    void *arg;
};

static double ms_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void release(void *arg)
{
    struct pinger *p = arg;
    close(p->fd);
    free(p);
}

/* From the watch's own callback: the loop lets go of the watch when the callback returns, so the fd is
 * closed after that. */
static void finish(struct pinger *p, const char *err, double rtt)
{
    ping_cb cb = p->cb;
    void *arg = p->arg;
    timer_stop(&p->t);
    loop_watch_free(p->w);
    p->w = NULL;
    if (loop_defer(p->loop, release, p) != 0)
        release(p);
    cb(arg, err, rtt);
}

static uint16_t csum(const uint8_t *b, size_t n)
{
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        s += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (n & 1)
        s += (uint32_t)(b[n - 1] << 8);
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void on_read(struct loop_watch *w, int fd, int events, void *arg)
{
    struct pinger *p = arg;
    for (;;) {
        uint8_t buf[2048];
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return;
        const uint8_t *icmp = buf;
        size_t len = (size_t)n;
        if (p->family == 4 && p->raw) { /* a raw IPv4 socket hands us the IP header too */
            if (len < 20)
                continue;
            size_t ihl = (size_t)(buf[0] & 0x0f) * 4;
            if (ihl < 20 || ihl > len)
                continue;
            icmp += ihl;
            len -= ihl;
        }
        if (len < 8)
            continue;
        int reply = p->family == 4 ? icmp[0] == ICMP_ECHOREPLY : icmp[0] == ICMP6_ECHO_REPLY;
        if (!reply)
            continue;
        const uint8_t *src = p->family == 4 ? (const uint8_t *)&((struct sockaddr_in *)&from)->sin_addr
                                            : (const uint8_t *)&((struct sockaddr_in6 *)&from)->sin6_addr;
        if (memcmp(src, p->dst, p->family == 4 ? 4 : 16) != 0)
            continue;
        uint16_t id = (uint16_t)(icmp[4] << 8 | icmp[5]), sq = (uint16_t)(icmp[6] << 8 | icmp[7]);
        if ((p->raw && id != p->id) || sq != p->seq)
            continue;
        finish(p, NULL, ms_since(&p->sent));
        return;
    }
}

static void on_timeout(struct timer *t, void *arg)
{
    finish(arg, "timed out", 0);
}

struct pinger *ping_start(struct loop *l, int family, const uint8_t *src, const uint8_t *dst,
                          unsigned timeout_ms, ping_cb cb, void *arg, char *err, size_t errlen)
{
    int af = family == 4 ? AF_INET : AF_INET6;
    int proto = family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    int raw = 0;
    int fd = socket(af, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, proto);
    if (fd < 0) {
        raw = 1;
        fd = socket(af, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, proto);
    }
    if (fd < 0) {
        snprintf(err, errlen, "no ICMP socket: %s", strerror(errno));
        return NULL;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (family == 4) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        if (src)
            memcpy(&a->sin_addr, src, 4);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        if (src)
            memcpy(&a->sin6_addr, src, 16);
        sl = sizeof *a;
    }
    if (src && bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        snprintf(err, errlen, "bind to our tailnet address: %s", strerror(errno));
        close(fd);
        return NULL;
    }
    struct pinger *p = calloc(1, sizeof *p);
    if (!p) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->loop = l;
    p->fd = fd;
    p->family = family;
    p->raw = raw;
    p->id = (uint16_t)randombytes_random();
    p->seq = (uint16_t)(randombytes_random() | 1);
    memcpy(p->dst, dst, family == 4 ? 4 : 16);
    p->cb = cb;
    p->arg = arg;
    timer_init(&p->t, l, on_timeout, p);

    uint8_t pkt[64];
    memset(pkt, 0, sizeof pkt);
    pkt[0] = family == 4 ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
    pkt[4] = (uint8_t)(p->id >> 8);
    pkt[5] = (uint8_t)p->id;
    pkt[6] = (uint8_t)(p->seq >> 8);
    pkt[7] = (uint8_t)p->seq;
    memcpy(pkt + 8, "weft ping", 9);
    if (family == 4) { /* ICMPv6's checksum is the kernel's (it needs the pseudo-header) */
        uint16_t c = csum(pkt, sizeof pkt);
        pkt[2] = (uint8_t)(c >> 8);
        pkt[3] = (uint8_t)c;
    }
    memset(&ss, 0, sizeof ss);
    if (family == 4) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        memcpy(&a->sin_addr, dst, 4);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        memcpy(&a->sin6_addr, dst, 16);
    }
    clock_gettime(CLOCK_MONOTONIC, &p->sent);
    if (sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&ss, sl) < 0) {
        snprintf(err, errlen, "send: %s", strerror(errno));
        close(fd);
        free(p);
        return NULL;
    }
    p->w = loop_watch_add(l, fd, LOOP_READ, on_read, p);
    if (!p->w) {
        snprintf(err, errlen, "out of memory");
        close(fd);
        free(p);
        return NULL;
    }
    timer_start(&p->t, timeout_ms);
    return p;
}

void ping_cancel(struct pinger *p)
{
    if (!p)
        return;
    timer_stop(&p->t);
    if (p->w)
        loop_watch_free(p->w);
    close(p->fd);
    free(p);
}
