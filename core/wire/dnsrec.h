// SPDX-License-Identifier: BSD-3-Clause
/* DNS names and records as the control server's DNSConfig carries them (ExtraRecords: name, type, value):
 * checked by control at check-config time, turned into wire records by the node's resolver. Records are
 * read with ldns, in zone-file syntax for their type. */
#ifndef WEFT_CORE_WIRE_DNSREC_H
#define WEFT_CORE_WIRE_DNSREC_H

#include <stddef.h>

#include <ldns/ldns.h>

/* "name" lowercased, the trailing dot removed, into buf; -1 if not a valid domain name (labels of 1-63
 * letters, digits, '-' (not first or last), '_'; 253 characters in all). */
int dns_name_canon(const char *name, char *buf, size_t cap);

/* The record types an extra record may have. Tailscale's own clients use A and AAAA (and a record without
 * a type: A or AAAA by its value) and ignore the others; weft's node answers all of these. */
extern const char *const dns_record_types[]; /* NULL-terminated */

/* The record name TYPE value (type "" or NULL: A or AAAA by the value) with the given TTL; NULL with a
 * reason in err. */
ldns_rr *dns_record_rr(const char *name, const char *type, const char *value, unsigned ttl, char *err,
                       size_t errlen);
/* 0 if dns_record_rr would make a record of it, else -1 with the reason. */
int dns_record_check(const char *name, const char *type, const char *value, char *err, size_t errlen);

#endif
