// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/addr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

static int parse_port(const char *s, uint16_t *port)
{
    unsigned long v = 0;
    if (*s == 0)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65535)
            return -1;
    }
    *port = (uint16_t)v;
    return 0;
}

static int host_is_name(const char *h)
{
    if (*h == 0 || *h == '.' || *h == '-')
        return 0;
    for (; *h; h++)
        if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
              *h == '.' || *h == '-' || *h == '_'))
            return 0;
    return 1;
}

/* A numeric host (v4, or v6 with an optional %scope) into out->sa; 0 on success. */
static int numeric_host(const char *host, int want_v6, struct addr *out)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST;
    hints.ai_family = want_v6 ? AF_INET6 : AF_UNSPEC;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
        return -1;
    if (res->ai_addrlen > sizeof(out->sa)) {
        freeaddrinfo(res);
        return -1;
    }
    memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
    out->len = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int parse(const char *text, struct addr *out, int numeric_only)
{
    memset(out, 0, sizeof(*out));
    if (text == NULL)
        return -1;
    if (strncmp(text, "unix:", 5) == 0) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&out->sa;
        size_t n = strlen(text + 5);
        if (n == 0 || n >= sizeof(sun->sun_path))
            return -1;
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, text + 5, n + 1);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
    }

    const char *colon, *hs = text, *he;
    int bracketed = 0;
    if (*text == '[') {
        const char *rb = strchr(text, ']');
        if (rb == NULL || rb[1] != ':')
            return -1;
        hs = text + 1;
        he = rb;
        colon = rb + 1;
        bracketed = 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return -1;
        he = colon;
        if (memchr(text, ':', (size_t)(colon - text)) != NULL)
            return -1; /* an IPv6 literal needs brackets */
    }
    if ((size_t)(he - hs) >= sizeof(out->host))
        return -1;
    memcpy(out->host, hs, (size_t)(he - hs));
    out->host[he - hs] = 0;
    if (parse_port(colon + 1, &out->port) != 0)
        return -1;

    if (out->host[0] == 0) {
        if (bracketed)
            return -1;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->sa;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_any;
        s6->sin6_port = htons(out->port);
        out->len = sizeof(*s6);
        return 0;
    }
    if (numeric_host(out->host, bracketed, out) == 0) {
        addr_set_port((struct sockaddr *)&out->sa, out->port);
        return 0;
    }
    if (bracketed || numeric_only || !host_is_name(out->host))
        return -1;
    out->len = 0; /* a name: the caller resolves it */
    return 0;
}

int addr_parse(const char *text, struct addr *out)
{
    return parse(text, out, 0);
}

int addr_parse_numeric(const char *text, struct addr *out)
{
    return parse(text, out, 1);
}

char *addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap)
{
    char host[INET6_ADDRSTRLEN + 20];
    if (cap == 0)
        return buf;
    buf[0] = 0;
    if (sa == NULL || len == 0) {
        snprintf(buf, cap, "?");
        return buf;
    }
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(buf, cap, "%s:%u", host, ntohs(s4->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        if (s6->sin6_scope_id != 0) /* numeric: getnameinfo drops it for global addresses */
            snprintf(buf, cap, "[%s%%%u]:%u", host, (unsigned)s6->sin6_scope_id, ntohs(s6->sin6_port));
        else
            snprintf(buf, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
        size_t max =
            len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (max > sizeof(sun->sun_path))
            max = sizeof(sun->sun_path);
        snprintf(buf, cap, "unix:%.*s", (int)strnlen(sun->sun_path, max), sun->sun_path);
        break;
    }
    default: snprintf(buf, cap, "?family%d", sa->sa_family);
    }
    return buf;
}

uint16_t addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}

void addr_set_port(struct sockaddr *sa, uint16_t port)
{
    if (sa->sa_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons(port);
    else if (sa->sa_family == AF_INET6)
        ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

int addr_prefix_parse(const char *text, struct addr_prefix *out)
{
    char host[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t hl = slash ? (size_t)(slash - text) : strlen(text);
    if (hl == 0 || hl >= sizeof(host))
        return -1;
    memcpy(host, text, hl);
    host[hl] = 0;
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, host, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, host, out->addr) == 1)
        out->family = AF_INET6;
    else
        return -1;
    unsigned max = out->family == AF_INET ? 32 : 128;
    out->bits = max;
    if (slash) {
        unsigned long v = 0;
        const char *p = slash + 1;
        if (*p == 0 || strlen(p) > 3)
            return -1;
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return -1;
            v = v * 10 + (unsigned long)(*p - '0');
        }
        if (v > max)
            return -1;
        out->bits = (unsigned)v;
    }
    return 0;
}

/* The IP of sa as family + bytes; a v4-mapped v6 address is returned as v4. 0, or -1 for other families. */
static int ip_of(const struct sockaddr *sa, int *family, const uint8_t **ip)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (sa->sa_family == AF_INET) {
        *family = AF_INET;
        *ip = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (memcmp(a, mapped, 12) == 0) {
            *family = AF_INET;
            *ip = a + 12;
        } else {
            *family = AF_INET6;
            *ip = a;
        }
        return 0;
    }
    return -1;
}

int addr_prefix_contains(const struct addr_prefix *p, const struct sockaddr *sa)
{
    int fam;
    const uint8_t *ip;
    if (ip_of(sa, &fam, &ip) != 0 || fam != p->family)
        return 0;
    unsigned full = p->bits / 8, rest = p->bits % 8;
    if (memcmp(ip, p->addr, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (ip[full] & mask) == (p->addr[full] & mask);
}

int addr_same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
    int fa, fb;
    const uint8_t *ia, *ib;
    if (ip_of(a, &fa, &ia) != 0 || ip_of(b, &fb, &ib) != 0 || fa != fb)
        return 0;
    return memcmp(ia, ib, fa == AF_INET ? 4 : 16) == 0;
}
