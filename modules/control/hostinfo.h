// SPDX-License-Identifier: BSD-3-Clause
/* Hostinfo from clients, cleaned before control keeps it or hands it to other nodes. Every string a
 * client sends (its hostname, OS, services...) ends up in other nodes' `status` output, the admin CLI
 * and the log; a hostile client must not be able to put escape sequences or fake lines there, nor make
 * control keep or fan out megabytes. So: control characters (C0, DEL, C1) are removed from every
 * string and key, strings are cut at HOSTINFO_STR_MAX bytes (on a character boundary), objects and lists
 * at HOSTINFO_ITEMS_MAX entries and HOSTINFO_DEPTH_MAX levels, and the whole at a byte budget (members
 * that do not fit are left out whole). Input is JSON that tc_json_validate accepts (valid UTF-8). */
#ifndef WEFT_CONTROL_HOSTINFO_H
#define WEFT_CONTROL_HOSTINFO_H

#include <stddef.h>

#define HOSTINFO_STR_MAX 1024  /* an RSA-4096 SSH host key is ~730 bytes */
#define HOSTINFO_ITEMS_MAX 256
#define HOSTINFO_DEPTH_MAX 4   /* Hostinfo.NetInfo.DERPLatency is the deepest Tailscale sends: 3 */

/* The members approving an interactive registration needs (its name and what the admin sees). */
extern const char *const hostinfo_approval_keys[];
/* The members peers get (what they use; not the client's DERP latencies, which change all the time). */
extern const char *const hostinfo_peer_keys[];

/* A cleaned copy (malloc'd, NUL-terminated, *outlen its length) of the Hostinfo object json[0..len):
 * only the top-level members named in keys (NULL-terminated; NULL: all), at most max bytes. NULL if
 * json is not a JSON object, or out of memory. */
char *hostinfo_clean(const char *json, size_t len, const char *const *keys, size_t max, size_t *outlen);
/* src without control characters, cut to fit dst[cap] on a UTF-8 boundary (src is NUL-terminated
 * UTF-8; bytes of invalid sequences are dropped). Returns dst. */
char *hostinfo_clean_str(char *dst, size_t cap, const char *src);

#endif
