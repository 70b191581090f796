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

#endif
