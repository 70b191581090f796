// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/uapi.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/wg/allowedips.h"
#include "core/wg/device.h"

#define MAX_REQUEST (64u << 20) /* a `wg syncconf` of many thousand peers fits */

/* ---- a growing text buffer ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 1024;
        while (nc < b->len + (size_t)n + 1)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
}

static void hex32(char out[65], const uint8_t k[32])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[k[i] >> 4];
        out[2 * i + 1] = digits[k[i] & 15];
    }
    out[64] = 0;
}

static int unhex32(uint8_t k[32], const char *s)
{
    if (strlen(s) != 64)
        return -1;
    for (int i = 0; i < 64; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0)
            return -1;
        if (i & 1)
            k[i / 2] |= (uint8_t)v;
        else
            k[i / 2] = (uint8_t)(v << 4);
    }
    return 0;
}

static void aip_line(void *ctx, const char *prefix)
{
    sb_printf(ctx, "allowed_ip=%s\n", prefix);
}

char *wg_uapi_get(struct wg_device *d)
{
    struct sbuf b = {0};
    char hex[65];
    uint8_t pub[32], priv[32];
    if (wg_device_public_key(d, pub, priv)) {
        hex32(hex, priv);
        sb_printf(&b, "private_key=%s\n", hex);
    }
    if (wg_device_listen_port(d))
        sb_printf(&b, "listen_port=%u\n", wg_device_listen_port(d));
    if (wg_device_fwmark(d))
        sb_printf(&b, "fwmark=%u\n", wg_device_fwmark(d));
    for (struct wg_peer *p = wg_peer_next(d, NULL); p; p = wg_peer_next(d, p)) {
        struct wg_peer_stats s;
        wg_peer_get_stats(p, &s);
        hex32(hex, wg_peer_public_key(p));
        sb_printf(&b, "public_key=%s\n", hex);
        uint8_t psk[32];
        wg_peer_psk(p, psk);
        hex32(hex, psk);
        sb_printf(&b, "preshared_key=%s\n", hex);
        sb_printf(&b, "protocol_version=1\n");
        if (s.endpoint.len && s.endpoint.transport == WG_TRANSPORT_UDP) {
            char ep[128];
            sb_printf(&b, "endpoint=%s\n", wg_endpoint_format(&s.endpoint, ep, sizeof(ep)));
        }
        sb_printf(&b, "last_handshake_time_sec=%lld\n", (long long)s.last_handshake.tv_sec);
        sb_printf(&b, "last_handshake_time_nsec=%ld\n", (long)s.last_handshake.tv_nsec);
        sb_printf(&b, "tx_bytes=%llu\n", (unsigned long long)s.tx_bytes);
        sb_printf(&b, "rx_bytes=%llu\n", (unsigned long long)s.rx_bytes);
        sb_printf(&b, "persistent_keepalive_interval=%u\n", s.persistent_keepalive);
        wg_peer_allowed_ips_each(p, aip_line, &b);
    }
    sb_printf(&b, "errno=0\n\n");
    memset(priv, 0, sizeof(priv));
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static int num(const char *v, unsigned long long max, unsigned long long *out)
{
    if (*v < '0' || *v > '9' || strlen(v) > 20)
        return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || errno || n > max)
        return -1;
    *out = n;
    return 0;
}

struct set_ctx {
    struct wg_device *d;
    struct wg_peer *peer;
    bool dummy;   /* lines for a peer to ignore (removed, or update_only and absent) */
    bool created; /* the current peer was created by this public_key line */
    bool in_peer;
};

static int set_line(struct set_ctx *c, const char *key, const char *val)
{
    struct wg_device *d = c->d;
    unsigned long long n;
    uint8_t k[32];
    if (!c->in_peer) {
        if (strcmp(key, "private_key") == 0) {
            if (unhex32(k, val) < 0)
                return -EINVAL;
            int rc = wg_device_set_private_key(d, k);
            memset(k, 0, sizeof(k));
            return rc < 0 ? -EINVAL : 0;
        }
        if (strcmp(key, "listen_port") == 0) {
            if (num(val, 65535, &n) < 0)
                return -EINVAL;
            return wg_device_set_listen_port(d, (uint16_t)n) < 0 ? -EADDRINUSE : 0;
        }
        if (strcmp(key, "fwmark") == 0) {
            if (num(val, 0xffffffffULL, &n) < 0)
                return -EINVAL;
            return wg_device_set_fwmark(d, (uint32_t)n) < 0 ? -EIO : 0;
        }
        if (strcmp(key, "replace_peers") == 0) {
            if (strcmp(val, "true") != 0)
                return -EINVAL;
            while (wg_peer_next(d, NULL))
                wg_peer_remove(wg_peer_next(d, NULL));
            return 0;
        }
    }
    if (strcmp(key, "public_key") == 0) {
        if (unhex32(k, val) < 0)
            return -EINVAL;
        c->in_peer = true;
        c->peer = wg_peer_find(d, k);
        c->created = false;
        c->dummy = false;
        if (!c->peer) {
            c->peer = wg_peer_add(d, k);
            c->created = c->peer != NULL;
            c->dummy = c->peer == NULL; /* our own key: ignored, as wireguard-go does */
        }
        return 0;
    }
    if (!c->in_peer)
        return -EINVAL;
    if (strcmp(key, "update_only") == 0) {
        if (strcmp(val, "true") != 0)
            return -EINVAL;
        if (c->created && !c->dummy) {
            wg_peer_remove(c->peer);
            c->peer = NULL;
            c->dummy = true;
        }
        return 0;
    }
    if (strcmp(key, "remove") == 0) {
        if (strcmp(val, "true") != 0)
            return -EINVAL;
        if (!c->dummy)
            wg_peer_remove(c->peer);
        c->peer = NULL;
        c->dummy = true;
        return 0;
    }
    if (strcmp(key, "preshared_key") == 0) {
        if (unhex32(k, val) < 0)
            return -EINVAL;
        if (!c->dummy)
            wg_peer_set_psk(c->peer, k);
        memset(k, 0, sizeof(k));
        return 0;
    }
    if (strcmp(key, "endpoint") == 0) {
        struct wg_endpoint ep;
        if (wg_endpoint_parse(val, &ep) < 0)
            return -EINVAL;
        if (!c->dummy)
            wg_peer_set_endpoint(c->peer, &ep);
        return 0;
    }
    if (strcmp(key, "persistent_keepalive_interval") == 0) {
        if (num(val, 65535, &n) < 0)
            return -EINVAL;
        if (!c->dummy)
            wg_peer_set_keepalive(c->peer, (uint16_t)n);
        return 0;
    }
    if (strcmp(key, "replace_allowed_ips") == 0) {
        if (strcmp(val, "true") != 0)
            return -EINVAL;
        if (!c->dummy)
            wg_peer_allowed_ips_clear(c->peer);
        return 0;
    }
    if (strcmp(key, "allowed_ip") == 0) {
        int family;
        uint8_t addr[16];
        unsigned cidr;
        if (wg_aip_parse(val, &family, addr, &cidr) < 0 || !strchr(val, '/'))
            return -EINVAL;
        if (!c->dummy && wg_peer_allowed_ip_add(c->peer, family, addr, cidr) < 0)
            return -ENOMEM;
        return 0;
    }
    if (strcmp(key, "protocol_version") == 0)
        return strcmp(val, "1") == 0 ? 0 : -EINVAL;
    return -EINVAL;
}

int wg_uapi_set(struct wg_device *d, const char *req, size_t len)
{
    struct set_ctx c = {.d = d};
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(req + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - req) : len;
        size_t ll = end - i;
        if (ll == 0)
            break;
        char line[512];
        if (ll >= sizeof(line))
            return -EINVAL;
        memcpy(line, req + i, ll);
        line[ll] = 0;
        i = end + 1;
        char *eq = strchr(line, '=');
        if (!eq)
            return -EINVAL;
        *eq = 0;
        int rc = set_line(&c, line, eq + 1);
        if (rc < 0)
            log_warn("wireguard: uapi: refused %s (errno %d)", line, -rc);
        memset(line, 0, sizeof(line)); /* the value may be a key */
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- the socket ---- */

struct conn {
    struct wg_uapi *u;
    struct conn *next;
    int fd;
    struct loop_watch *w;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off;
    bool closing;
};

struct wg_uapi {
    struct loop *loop;
    struct wg_device *d;
    int fd;
    struct loop_watch *w;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct conn *conns;
};

static void close_later(void *arg)
{
    close((int)(intptr_t)arg);
}

/* Inside its own callback the watch lets go of the fd only after the callback returns: close it then. */
static void conn_free(struct conn *c)
{
    struct conn **pp = &c->u->conns;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
    loop_watch_free(c->w);
    if (loop_defer(c->u->loop, close_later, (void *)(intptr_t)c->fd) < 0)
        close(c->fd);
    if (c->in)
        memset(c->in, 0, c->in_cap); /* may hold private keys */
    free(c->in);
    free(c->out);
    free(c);
}

/* Write what is pending; false if the connection died. */
static bool conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                loop_watch_set(c->w, LOOP_READ | LOOP_WRITE);
                return true;
            }
            return false;
        }
        c->out_off += (size_t)w;
    }
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    loop_watch_set(c->w, c->closing ? 0 : LOOP_READ);
    return !c->closing;
}

static void conn_reply(struct conn *c, char *text)
{
    size_t n = strlen(text);
    if (c->out) {
        char *np = realloc(c->out, c->out_len + n);
        if (!np) {
            free(text);
            return;
        }
        memcpy(np + c->out_len, text, n);
        c->out = np;
        c->out_len += n;
        free(text);
    } else {
        c->out = text;
        c->out_len = n;
        c->out_off = 0;
    }
}

static char *errno_text(int rc)
{
    char *t = malloc(32);
    if (t)
        snprintf(t, 32, "errno=%d\n\n", rc);
    return t;
}

/* Run every complete request in the input buffer. */
static void conn_process(struct conn *c)
{
    for (;;) {
        char *end = NULL;
        if (c->in_len >= 2)
            for (size_t i = 0; i + 1 < c->in_len; i++)
                if (c->in[i] == '\n' && c->in[i + 1] == '\n') {
                    end = c->in + i;
                    break;
                }
        if (!end)
            return;
        size_t reqlen = (size_t)(end - c->in) + 2;
        char *text = NULL;
        if (strncmp(c->in, "get=1\n", 6) == 0 && reqlen == 7) {
            text = wg_uapi_get(c->u->d);
        } else if (strncmp(c->in, "set=1\n", 6) == 0) {
            text = errno_text(wg_uapi_set(c->u->d, c->in + 6, reqlen - 6));
        } else {
            text = errno_text(-EPROTO);
            c->closing = true;
        }
        if (text)
            conn_reply(c, text);
        memset(c->in, 0, reqlen);
        memmove(c->in, c->in + reqlen, c->in_len - reqlen);
        c->in_len -= reqlen;
        if (c->closing)
            return;
    }
}

static void on_conn(struct loop_watch *w, int fd, int events, void *arg)
{
    (void)w;
    struct conn *c = arg;
    if (events & LOOP_READ) {
        for (;;) {
            if (c->in_cap - c->in_len < 4096) {
                size_t nc = c->in_cap ? c->in_cap * 2 : 8192;
                if (nc > MAX_REQUEST) {
                    conn_free(c);
                    return;
                }
                char *np = malloc(nc);
                if (!np) {
                    conn_free(c);
                    return;
                }
                if (c->in) {
                    memcpy(np, c->in, c->in_len);
                    memset(c->in, 0, c->in_cap);
                    free(c->in);
                }
                c->in = np;
                c->in_cap = nc;
            }
            ssize_t r = read(fd, c->in + c->in_len, c->in_cap - c->in_len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno == EAGAIN)
                break;
            if (r <= 0) {
                conn_free(c);
                return;
            }
            c->in_len += (size_t)r;
        }
        conn_process(c);
    }
    if (c->out && !conn_flush(c)) {
        conn_free(c);
        return;
    }
    if (c->closing && !c->out)
        conn_free(c);
}

static void on_accept(struct loop_watch *w, int fd, int events, void *arg)
{
    (void)w;
    (void)events;
    struct wg_uapi *u = arg;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(cfd);
            continue;
        }
        c->u = u;
        c->fd = cfd;
        c->w = loop_watch_add(u->loop, cfd, LOOP_READ, on_conn, c);
        if (!c->w) {
            close(cfd);
            free(c);
            continue;
        }
        c->next = u->conns;
        u->conns = c;
    }
}

struct wg_uapi *wg_uapi_listen(struct loop *loop, struct wg_device *d, const char *dir, const char *ifname,
                               char *err, size_t errlen)
{
    if (!dir)
        dir = WG_UAPI_DIR;
    struct wg_uapi *u = calloc(1, sizeof(*u));
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    u->loop = loop;
    u->d = d;
    u->fd = -1;
    if ((size_t)snprintf(u->path, sizeof(u->path), "%s/%s.sock", dir, ifname) >= sizeof(u->path)) {
        snprintf(err, errlen, "socket path too long");
        goto fail;
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        goto fail;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, u->path, strlen(u->path));
    /* A socket someone still answers on is another daemon's; a dead one is left over: replace it. */
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
        if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(probe);
            snprintf(err, errlen, "%s: in use by another process", u->path);
            goto fail;
        }
        close(probe);
    }
    unlink(u->path);
    u->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    mode_t old = umask(0077);
    int rc = u->fd < 0 ? -1 : bind(u->fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || listen(u->fd, 16) < 0) {
        snprintf(err, errlen, "%s: %s", u->path, strerror(errno));
        goto fail;
    }
    u->w = loop_watch_add(loop, u->fd, LOOP_READ, on_accept, u);
    if (!u->w) {
        snprintf(err, errlen, "%s: cannot watch", u->path);
        unlink(u->path);
        goto fail;
    }
    return u;
fail:
    if (u->fd >= 0)
        close(u->fd);
    free(u);
    return NULL;
}

void wg_uapi_close(struct wg_uapi *u)
{
    if (!u)
        return;
    while (u->conns)
        conn_free(u->conns);
    loop_watch_free(u->w);
    close(u->fd);
    unlink(u->path);
    free(u);
}
