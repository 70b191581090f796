// SPDX-License-Identifier: BSD-3-Clause
/* Value checks for config keys (struct cfg_key.check): what a client or a listener would choke on, refused at
 * check-config time with the value's FILE:LINE:COL instead. Each returns NULL if the value is good, else a
 * message written into buf. */
#ifndef WEFT_CORE_CFGCHECK_H
#define WEFT_CORE_CFGCHECK_H

#include <stddef.h>

/* A TCP listen address: "HOST:PORT", "[V6]:PORT", ":PORT" (every interface) or "unix:/PATH". */
const char *cfg_check_listen(const char *v, char *buf, size_t len);
/* A UDP listen address: as cfg_check_listen without unix sockets. */
const char *cfg_check_udp_listen(const char *v, char *buf, size_t len);
/* An http:// or https:// URL with a host (a DNS name, an IPv4 address or a bracketed IPv6 address) and an
 * optional port and path. */
const char *cfg_check_http_url(const char *v, char *buf, size_t len);
/* The same, https:// only. */
const char *cfg_check_https_url(const char *v, char *buf, size_t len);
/* A DNS domain name (labels of letters, digits and hyphens, not starting or ending with a hyphen; at most
 * 63 characters a label and 253 in all; no trailing dot). */
const char *cfg_check_domain(const char *v, char *buf, size_t len);
/* A DNS server for nodes: an IP address (optionally "IP:PORT" or "[V6]:PORT"), or a DNS-over-HTTPS URL. */
const char *cfg_check_nameserver(const char *v, char *buf, size_t len);
/* An e-mail address (LOCAL@DOMAIN). */
const char *cfg_check_email(const char *v, char *buf, size_t len);

/* A PEM file of CA certificates that can be read and holds at least one certificate (a bundle that does not
 * parse would otherwise fail every TLS connection made with it, long after the start). */
const char *cfg_check_ca_file(const char *v, char *buf, size_t len);

/* Helpers for the checks above, useful to modules' cross-key checks. */
/* 1 if s is a valid DNS name (as cfg_check_domain); wildcard: a leading "*." is allowed. */
int cfg_is_domain(const char *s, int wildcard);
/* Split an http(s) URL: tls, host (without brackets) into host/hostlen, port (default 80/443). 0 or -1. */
int cfg_url_split(const char *url, int *tls, char *host, size_t hostlen, int *port);

#endif
