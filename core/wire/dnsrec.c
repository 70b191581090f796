// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wire/dnsrec.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int dns_name_canon(const char *name, char *buf, size_t cap)
{
    size_t len = strlen(name);
    if (len && name[len - 1] == '.')
        len--;
    if (!len || len > 253 || len + 1 > cap)
        return -1;
    size_t lab = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c == '.') {
            if (!lab || name[i - 1] == '-')
                return -1;
            lab = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-') {
            if (c == '-' && !lab)
                return -1;
            if (++lab > 63)
                return -1;
        } else {
            return -1;
        }
        buf[i] = c;
    }
    if (name[len - 1] == '-')
        return -1;
    buf[len] = 0;
    return 0;
}

const char *const dns_record_types[] = {"A", "AAAA", "CNAME", "TXT", "MX", "SRV", "PTR", "NS", "CAA", NULL};

ldns_rr *dns_record_rr(const char *name, const char *type, const char *value, unsigned ttl, char *err,
                       size_t errlen)
{
    char c[256];
    if (!name || dns_name_canon(name, c, sizeof c)) {
        snprintf(err, errlen, "'%s' is not a DNS name", name ? name : "");
        return NULL;
    }
    if (!value || !*value) {
        snprintf(err, errlen, "the record for %s has no value", c);
        return NULL;
    }
    uint8_t a[16];
    const char *t = type && *type ? type : inet_pton(AF_INET, value, a) == 1 ? "A"
                                           : inet_pton(AF_INET6, value, a) == 1 ? "AAAA"
                                                                                 : NULL;
    if (!t) {
        snprintf(err, errlen, "a record without a type needs an IPv4 or IPv6 address as its value, not '%s'",
                 value);
        return NULL;
    }
    size_t k = 0;
    for (; dns_record_types[k]; k++)
        if (strcasecmp(dns_record_types[k], t) == 0)
            break;
    if (!dns_record_types[k]) {
        snprintf(err, errlen, "record type '%s' is not one of A, AAAA, CNAME, TXT, MX, SRV, PTR, NS, CAA", t);
        return NULL;
    }
    /* ldns reads an A or AAAA value leniently (inet_aton's forms): insist on the plain address */
    if ((k == 0 && inet_pton(AF_INET, value, a) != 1) || (k == 1 && inet_pton(AF_INET6, value, a) != 1)) {
        snprintf(err, errlen, "'%s' is not an %s address", value, k ? "IPv6" : "IPv4");
        return NULL;
    }
    if (strpbrk(value, "\n\r;()")) { /* one record, no zone-file comments or continuations */
        snprintf(err, errlen, "the value of the %s record for %s has a newline, ';' or parentheses", t, c);
        return NULL;
    }
    /* TXT: an unquoted value is one string, spaces and all */
    char *quoted = NULL;
    if (strcasecmp(t, "TXT") == 0 && value[0] != '"') {
        size_t vl = strlen(value);
        if (!(quoted = malloc(vl * 2 + 3)))
            return NULL;
        size_t q = 0;
        quoted[q++] = '"';
        for (size_t i = 0; i < vl; i++) {
            if (value[i] == '"' || value[i] == '\\')
                quoted[q++] = '\\';
            quoted[q++] = value[i];
        }
        quoted[q++] = '"';
        quoted[q] = 0;
    }
    char *text;
    int tl = asprintf(&text, "%s. %u IN %s %s", c, ttl, dns_record_types[k], quoted ? quoted : value);
    free(quoted);
    if (tl < 0) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ldns_rr *rr = NULL;
    ldns_status st = ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL);
    free(text);
    if (st != LDNS_STATUS_OK) {
        ldns_rr_free(rr);
        snprintf(err, errlen, "'%s' is not a valid %s value: %s", value, dns_record_types[k],
                 ldns_get_errorstr_by_id(st));
        return NULL;
    }
    return rr;
}

int dns_record_check(const char *name, const char *type, const char *value, char *err, size_t errlen)
{
    ldns_rr *rr = dns_record_rr(name, type, value, 600, err, errlen);
    if (!rr)
        return -1;
    ldns_rr_free(rr);
    return 0;
}
