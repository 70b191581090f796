// SPDX-License-Identifier: BSD-3-Clause
/* Socket address text forms shared by listeners, outbound streams and UDP:
 * "1.2.3.4:80", "[::1]:443", ":3478" (every interface), "host.name:443", "unix:/path/to.sock". */
#ifndef WEFT_CORE_ADDR_H
#define WEFT_CORE_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest text addr_format writes, with its NUL. */
#define ADDR_STRLEN 120

/* A parsed address: numeric (sa filled), a name to resolve (host filled, sa empty), or a unix path. */
struct addr {
    struct sockaddr_storage
        sa;         /* family AF_INET, AF_INET6 or AF_UNIX; AF_UNSPEC while host needs resolving */
    socklen_t len;  /* length of sa, 0 while host needs resolving */
    char host[256]; /* the host as written (without brackets), "" for a wildcard */
    uint16_t port;
};

/* Parse "host:port", "[v6]:port", ":port" (wildcard: [::], dual-stack) or "unix:/path"; -1 if malformed. */
int addr_parse(const char *text, struct addr *out);
/* Parse like addr_parse but refuse names: only numeric hosts, wildcards and unix paths; -1 otherwise. */
int addr_parse_numeric(const char *text, struct addr *out);
/* Write "1.2.3.4:80", "[::1]:443" or "unix:/path" for sa into buf (>= ADDR_STRLEN); returns buf. */
char *addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t cap);
/* Port of an AF_INET/AF_INET6 address (host order), 0 for others. */
uint16_t addr_port(const struct sockaddr *sa);
/* Set the port of an AF_INET/AF_INET6 address. */
void addr_set_port(struct sockaddr *sa, uint16_t port);

/* An address prefix ("10.0.0.0/8", "fd00::/8"; a bare address is a /32 or /128). */
struct addr_prefix {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned bits;
};
/* Parse a prefix (host bits may be set; they are ignored); -1 if malformed. */
int addr_prefix_parse(const char *text, struct addr_prefix *out);
/* 1 if sa's address (AF_INET, AF_INET6; a v4-mapped v6 address counts as v4) is inside p. */
int addr_prefix_contains(const struct addr_prefix *p, const struct sockaddr *sa);
/* 1 if a and b hold the same IP address (ports ignored; v4-mapped v6 equals v4). */
int addr_same_ip(const struct sockaddr *a, const struct sockaddr *b);

#endif
