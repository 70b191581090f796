// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/cfgcheck.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/addr.h"

/* "'VALUE'" followed by rest. */
static const char *fail(char *buf, size_t len, const char *v, const char *rest)
{
    snprintf(buf, len, "'%s'%s", v, rest);
    return buf;
}

/* Digits and dots only: meant as an IPv4 address, so it must be one ("999.1.1.1" is not a name). */
static int looks_v4(const char *h)
{
    if (!*h)
        return 0;
    for (; *h; h++)
        if (!isdigit((unsigned char)*h) && *h != '.')
            return 0;
    return 1;
}

static int is_v4(const char *h)
{
    struct in_addr a;
    return inet_pton(AF_INET, h, &a) == 1;
}

static int is_v6(const char *h)
{
    struct in6_addr a;
    return inet_pton(AF_INET6, h, &a) == 1;
}

static int has_space_or_control(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v <= 0x20 || (unsigned char)*v == 0x7f)
            return 1;
    return 0;
}

int cfg_is_domain(const char *s, int wildcard)
{
    size_t n = strlen(s);
    if (wildcard && strncmp(s, "*.", 2) == 0)
        s += 2, n -= 2;
    if (n == 0 || n > 253 || looks_v4(s))
        return 0;
    const char *label = s;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == 0) {
            size_t l = (size_t)(p - label);
            if (l == 0 || l > 63 || label[0] == '-' || p[-1] == '-')
                return 0;
            if (*p == 0)
                return 1;
            label = p + 1;
        } else if (!isalnum((unsigned char)*p) && *p != '-') {
            return 0;
        }
    }
}

static const char *listen_common(const char *v, char *buf, size_t len, int allow_unix)
{
    const char *form = allow_unix ? " is not a listen address (HOST:PORT, [IPV6]:PORT, :PORT or unix:/PATH)"
                                  : " is not a listen address (HOST:PORT, [IPV6]:PORT or :PORT)";
    struct addr a;
    if ((strncmp(v, "unix:", 5) == 0 && !allow_unix) || addr_parse(v, &a) != 0)
        return fail(buf, len, v, form);
    if (a.sa.ss_family != AF_UNIX && a.len == 0 && (looks_v4(a.host) || !cfg_is_domain(a.host, 0)))
        return fail(buf, len, v, ": the host is neither an IP address nor a host name");
    return NULL;
}

const char *cfg_check_listen(const char *v, char *buf, size_t len)
{
    return listen_common(v, buf, len, 1);
}

const char *cfg_check_udp_listen(const char *v, char *buf, size_t len)
{
    return listen_common(v, buf, len, 0);
}

int cfg_url_split(const char *url, int *tls, char *host, size_t hostlen, int *port)
{
    const char *p;
    if (strncmp(url, "https://", 8) == 0) {
        *tls = 1;
        *port = 443;
        p = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        *tls = 0;
        *port = 80;
        p = url + 7;
    } else {
        return -1;
    }
    const char *end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)))
        return -1; /* user:password@ has no place here */
    const char *h = p, *he, *ps = NULL;
    if (*p == '[') {
        h = p + 1;
        he = memchr(p, ']', (size_t)(end - p));
        if (!he || (he + 1 < end && he[1] != ':'))
            return -1;
        if (he + 1 < end)
            ps = he + 2;
    } else {
        he = memchr(p, ':', (size_t)(end - p));
        if (he)
            ps = he + 1;
        else
            he = end;
    }
    if (he == h || (size_t)(he - h) >= hostlen)
        return -1;
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = 0;
    if (*p == '[' ? !is_v6(host) : (!is_v4(host) && (looks_v4(host) || !cfg_is_domain(host, 0))))
        return -1;
    if (ps) {
        if (ps == end)
            return -1;
        long v = 0;
        for (const char *q = ps; q < end; q++) {
            if (!isdigit((unsigned char)*q))
                return -1;
            v = v * 10 + (*q - '0');
            if (v > 65535)
                return -1;
        }
        if (v == 0)
            return -1;
        *port = (int)v;
    }
    return 0;
}

const char *cfg_check_http_url(const char *v, char *buf, size_t len)
{
    int tls, port;
    char host[256];
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
        return fail(buf, len, v, " is not a URL: it needs a scheme and a host, e.g. https://vpn.example.com");
    if (has_space_or_control(v) || cfg_url_split(v, &tls, host, sizeof host, &port) != 0)
        return fail(buf, len, v,
                    " is not a valid URL: it needs a host (a name or an IP address) and at most a port and a "
                    "path, e.g. https://vpn.example.com:443");
    return NULL;
}

const char *cfg_check_https_url(const char *v, char *buf, size_t len)
{
    if (strncmp(v, "https://", 8) != 0)
        return fail(buf, len, v, " is not an https:// URL");
    return cfg_check_http_url(v, buf, len);
}

const char *cfg_check_domain(const char *v, char *buf, size_t len)
{
    if (!cfg_is_domain(v, 0))
        return fail(buf, len, v,
                    " is not a domain name (labels of letters, digits and '-', separated by dots, e.g. "
                    "tail.example.com)");
    return NULL;
}

const char *cfg_check_nameserver(const char *v, char *buf, size_t len)
{
    if (strncmp(v, "https://", 8) == 0)
        return cfg_check_https_url(v, buf, len);
    if (is_v4(v) || is_v6(v))
        return NULL;
    struct addr a;
    if (addr_parse_numeric(v, &a) == 0 && a.sa.ss_family != AF_UNIX && a.host[0] && a.port)
        return NULL; /* IP:PORT, [V6]:PORT */
    return fail(buf, len, v,
                " is not a DNS server: give an IP address (1.1.1.1, 2606:4700::1111, 192.0.2.53:5353) or a "
                "DNS-over-HTTPS URL (https://dns.example/dns-query)");
}

const char *cfg_check_email(const char *v, char *buf, size_t len)
{
    const char *at = strchr(v, '@');
    if (!at || at == v || strchr(at + 1, '@') || has_space_or_control(v) || !cfg_is_domain(at + 1, 0) ||
        strpbrk(v, "<>(),;:\"[]\\"))
        return fail(buf, len, v, " is not an e-mail address (NAME@DOMAIN)");
    return NULL;
}

const char *cfg_check_ca_file(const char *v, char *buf, size_t len)
{
    FILE *f = fopen(v, "r");
    if (f == NULL) {
        snprintf(buf, len, "cannot read '%s': %s", v, strerror(errno));
        return buf;
    }
    int n = 0;
    X509 *x;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        X509_free(x);
        n++;
    }
    fclose(f);
    ERR_clear_error(); /* (the read that ends the loop leaves "no start line" queued) */
    if (n == 0)
        return fail(buf, len, v, " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    return NULL;
}
