// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/wg/offload.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

#define READ_CAP (65536 + WG_VNET_HDR_LEN)
#define FLOWS 8
#define FLOW_SEGS 64 /* like the kernel's GRO: at most 64 segments per superpacket */

struct flow {
    bool open;
    uint8_t *head;
    struct wg_tcp_seg hs;
    uint32_t next_seq;
    size_t total;   /* payload bytes merged */
    size_t count;   /* segments */
    bool closed;    /* a short or PSH segment ended it: nothing may follow */
    uint8_t extra_flags;
    struct iovec iov[FLOW_SEGS + 2]; /* vnet header, head packet, then each further payload */
};

struct wg_tun {
    int fd;
    char name[IFNAMSIZ];
    bool offloads;
    bool iter_active;
    struct wg_gso_iter it;
    uint8_t *rbuf;
    struct flow flows[FLOWS];
    uint8_t vhdr[FLOWS][WG_VNET_HDR_LEN];
};

static int ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    snprintf(ifr->ifr_name, IFNAMSIZ, "%s", name);
    int rc = ioctl(s, req, ifr);
    int e = errno;
    close(s);
    errno = e;
    return rc;
}

struct wg_tun *wg_tun_open(const char *name, unsigned mtu, char *err, size_t errlen)
{
    if (strlen(name) == 0 || strlen(name) >= IFNAMSIZ || strchr(name, '/')) {
        snprintf(err, errlen, "bad interface name '%s'", name);
        return NULL;
    }
    struct wg_tun *t = calloc(1, sizeof(*t));
    if (!t || !(t->rbuf = malloc(READ_CAP))) {
        free(t);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (t->fd < 0) {
        snprintf(err, errlen, "/dev/net/tun: %s", strerror(errno));
        goto fail;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        snprintf(err, errlen, "TUNSETIFF %s: %s", name, strerror(errno));
        goto fail;
    }
    snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
    int hdrsz = WG_VNET_HDR_LEN;
    if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdrsz) < 0) {
        snprintf(err, errlen, "TUNSETVNETHDRSZ %s: %s", name, strerror(errno));
        goto fail;
    }
    /* USO needs Linux 6.2; without it UDP comes as plain packets, TCP still in superpackets. */
    unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    if (getenv("WEFT_WG_NO_OFFLOAD") == NULL) {
        if (ioctl(t->fd, TUNSETOFFLOAD, off | TUN_F_USO4 | TUN_F_USO6) == 0 ||
            ioctl(t->fd, TUNSETOFFLOAD, off) == 0)
            t->offloads = true;
    }
    if (mtu) {
        memset(&ifr, 0, sizeof(ifr));
        ifr.ifr_mtu = (int)mtu;
        if (ifreq_ioctl(t->name, SIOCSIFMTU, &ifr) < 0) {
            snprintf(err, errlen, "set MTU %u on %s: %s", mtu, t->name, strerror(errno));
            goto fail;
        }
    }
    return t;
fail:
    if (t->fd >= 0)
        close(t->fd);
    free(t->rbuf);
    free(t);
    return NULL;
}

void wg_tun_close(struct wg_tun *t)
{
    if (!t)
        return;
    close(t->fd);
    free(t->rbuf);
    free(t);
}

int wg_tun_fd(const struct wg_tun *t)
{
    return t->fd;
}

const char *wg_tun_name(const struct wg_tun *t)
{
    return t->name;
}

bool wg_tun_offloads(const struct wg_tun *t)
{
    return t->offloads;
}

int wg_tun_mtu(const struct wg_tun *t)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (ifreq_ioctl(t->name, SIOCGIFMTU, &ifr) < 0)
        return -1;
    return ifr.ifr_mtu;
}

int wg_tun_read(struct wg_tun *t, uint8_t *const *bufs, size_t *lens, size_t n, size_t cap, uint64_t *dropped)
{
    size_t got = 0;
    while (got < n) {
        if (!t->iter_active) {
            ssize_t r = read(t->fd, t->rbuf, READ_CAP);
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                return got ? (int)got : -1;
            }
            struct wg_vnet_hdr h;
            if (r < WG_VNET_HDR_LEN) {
                (*dropped)++;
                continue;
            }
            wg_vnet_hdr_decode(&h, t->rbuf);
            if (wg_gso_begin(&t->it, &h, t->rbuf + WG_VNET_HDR_LEN, (size_t)r - WG_VNET_HDR_LEN) < 0) {
                (*dropped)++;
                continue;
            }
            t->iter_active = true;
        }
        int m = wg_gso_next(&t->it, bufs[got], cap);
        if (m <= 0) {
            if (m < 0)
                (*dropped)++;
            t->iter_active = false;
            continue;
        }
        lens[got++] = (size_t)m;
    }
    return (int)got;
}

static const uint8_t zero_hdr[WG_VNET_HDR_LEN];

static bool write_one(struct wg_tun *t, const struct iovec *pkt)
{
    struct iovec iov[2] = {{(void *)zero_hdr, WG_VNET_HDR_LEN}, *pkt};
    return writev(t->fd, iov, 2) >= 0;
}

/* Write a flow: alone as it came, or as one superpacket. Returns the packets written. */
static size_t flow_flush(struct wg_tun *t, struct flow *f, size_t idx)
{
    f->open = false;
    if (f->count == 1)
        return write_one(t, &f->iov[1]) ? 1 : 0;
    struct wg_vnet_hdr h;
    wg_tcp_coalesce_finish(f->head, &f->hs, f->total, (uint16_t)f->hs.payload_len, f->extra_flags, &h);
    wg_vnet_hdr_encode(&h, t->vhdr[idx]);
    f->iov[0].iov_base = t->vhdr[idx];
    f->iov[0].iov_len = WG_VNET_HDR_LEN;
    return writev(t->fd, f->iov, (int)f->count + 1) >= 0 ? f->count : 0;
}

static size_t flush_all(struct wg_tun *t)
{
    size_t w = 0;
    for (size_t i = 0; i < FLOWS; i++)
        if (t->flows[i].open)
            w += flow_flush(t, &t->flows[i], i);
    return w;
}

/* Same addresses as an open flow (a packet that must not overtake it). */
static bool same_hosts(const struct flow *f, const uint8_t *p, size_t len)
{
    if (len < 20 || (p[0] >> 4) != (f->head[0] >> 4))
        return false;
    if (f->hs.family == 4)
        return memcmp(p + 12, f->head + 12, 8) == 0;
    return len >= 40 && memcmp(p + 8, f->head + 8, 32) == 0;
}

size_t wg_tun_write(struct wg_tun *t, struct iovec *pkts, size_t n)
{
    size_t written = 0;
    if (!t->offloads) {
        for (size_t i = 0; i < n; i++)
            written += write_one(t, &pkts[i]);
        return written;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = pkts[i].iov_base;
        size_t len = pkts[i].iov_len;
        struct wg_tcp_seg s;
        if (!wg_tcp_seg_parse(p, len, &s)) {
            for (size_t k = 0; k < FLOWS; k++)
                if (t->flows[k].open && same_hosts(&t->flows[k], p, len))
                    written += flow_flush(t, &t->flows[k], k);
            written += write_one(t, &pkts[i]);
            continue;
        }
        struct flow *f = NULL;
        size_t free_k = FLOWS;
        for (size_t k = 0; k < FLOWS; k++) {
            struct flow *c = &t->flows[k];
            if (!c->open) {
                if (free_k == FLOWS)
                    free_k = k;
                continue;
            }
            if (!c->closed && c->count < FLOW_SEGS && s.payload_len <= c->hs.payload_len &&
                c->total + s.payload_len + s.hdr_len <= 65535 &&
                wg_tcp_seg_follows(c->head, &c->hs, c->next_seq, p, &s)) {
                f = c;
                break;
            }
            if (same_hosts(c, p, len) && memcmp(c->head + c->hs.l3_len, p + s.l3_len, 4) == 0) {
                /* the same flow but it cannot follow: write what came before it first */
                written += flow_flush(t, c, k);
                if (free_k == FLOWS)
                    free_k = k;
            }
        }
        if (f) {
            f->iov[f->count + 1].iov_base = p + s.hdr_len;
            f->iov[f->count + 1].iov_len = s.payload_len;
            f->count++;
            f->total += s.payload_len;
            f->next_seq += (uint32_t)s.payload_len;
            if (s.payload_len < f->hs.payload_len || (s.flags & 0x08)) {
                f->closed = true;
                f->extra_flags |= s.flags & 0x08;
            }
            continue;
        }
        if (free_k == FLOWS) {
            written += flush_all(t);
            free_k = 0;
        }
        f = &t->flows[free_k];
        f->open = true;
        f->head = p;
        f->hs = s;
        f->next_seq = s.seq + (uint32_t)s.payload_len;
        f->total = s.payload_len;
        f->count = 1;
        f->closed = (s.flags & 0x08) != 0;
        f->extra_flags = 0;
        f->iov[1].iov_base = p;
        f->iov[1].iov_len = len;
    }
    return written + flush_all(t);
}
