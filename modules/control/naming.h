// SPDX-License-Identifier: BSD-3-Clause
/* MagicDNS node names (spec netmap.md §6): a node's label is a DNS-safe form of the hostname its client
 * reports, unique in the tailnet; Node.Name = label + "." + base domain + ".".
 *
 * naming_label follows Tailscale's hostname sanitizing (dnsname.SanitizeHostname): drop a ".local",
 * ".localdomain" or ".lan" suffix; lowercase ASCII letters; keep digits and '-'; turn the separators
 * ' ', '.', '@', '_' into '-'; drop everything else (other punctuation, non-ASCII bytes); no leading or
 * trailing '-'. Two deliberate differences: runs of '-' collapse to one (so "a  b" cannot produce the
 * IDNA-looking "xx--" form), and the 63-byte limit applies to the result, not the raw input. An empty
 * result becomes "node".
 *
 * naming_unique appends "-1", "-2", ... on collision (as Tailscale does: "host", "host-1"), shortening the
 * base so that the whole label still fits in 63 bytes. */
#ifndef WEFT_CONTROL_NAMING_H
#define WEFT_CONTROL_NAMING_H

#include <stdbool.h>
#include <stddef.h>

#define NAMING_LABEL_MAX 63
#define NAMING_FALLBACK "node"

/* Writes the label for hostname (NULL = "") into out; returns its length (1..63). */
size_t naming_label(const char *hostname, char out[NAMING_LABEL_MAX + 1]);

/* RFC 1035 label as we hand them out: 1..63 of [a-z0-9-], no leading/trailing '-'. For admin renames. */
bool naming_label_valid(const char *label);

/* Whether a label is already used by another node (the callback decides what "another" is: a node being
 * renamed or re-registered should not collide with itself). */
typedef bool (*naming_taken_fn)(void *ctx, const char *label);

/* First of base, base-1, base-2, ... that taken() refuses; base must be a valid label. 0, or -1 if every
 * candidate up to base-999999 is taken (or base is invalid). */
int naming_unique(const char *base, naming_taken_fn taken, void *ctx, char out[NAMING_LABEL_MAX + 1]);

/* The same search, remembering per base where the last one ended, so that a fleet of identical hostnames
 * ("localhost", container names) costs O(1) probes per new node instead of O(nodes with that name).
 * Suffixes are tried from the remembered one up to 999999, then from 1 (freed low suffixes are reused only
 * then). The base itself is always tried first. A NULL h behaves as naming_unique. */
struct naming_hints;
struct naming_hints *naming_hints_new(void);
void naming_hints_free(struct naming_hints *h);
int naming_unique_hinted(struct naming_hints *h, const char *base, naming_taken_fn taken, void *ctx,
                         char out[NAMING_LABEL_MAX + 1]);

/* naming_taken_fn over a store (ctx = struct store *): taken if any node has that given name. */
bool naming_taken_in_store(void *store, const char *label);

#endif
