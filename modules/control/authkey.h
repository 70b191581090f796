// SPDX-License-Identifier: BSD-3-Clause
/* Pre-auth keys (spec control-ts2021.md §6.3 flow A): "weft-auth-" + 48 lowercase hex digits (192 random
 * bits), prefixed so that users and secret scanners can tell them from other secrets.
 *
 * Only SHA-256(key text) is stored, with the first 8 hex digits kept for display ("weft-auth-1a2b3c4d");
 * the full key is shown once, when it is made. With 192 random bits a plain hash is enough (no
 * password-style stretching needed).
 *
 * Validation refuses, each with its own reason for the RegisterResponse: an unknown key, a revoked one,
 * an expired one, and a single-use key already used. Headscale's exception (the same machine coming back
 * with the same node key and its now-used key is let in, since containers run `tailscale up --authkey`
 * on every start) is the register handler's to apply: authkey_lookup still fills *out on refusals. */
#ifndef WEFT_CONTROL_AUTHKEY_H
#define WEFT_CONTROL_AUTHKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modules/control/model.h"

struct store;

#define AUTHKEY_TEXT_PREFIX "weft-auth-"
#define AUTHKEY_SECRET_HEX 48
#define AUTHKEY_TEXT_LEN (sizeof(AUTHKEY_TEXT_PREFIX) - 1 + AUTHKEY_SECRET_HEX)
#define AUTHKEY_SHOWN_HEX 8
#define AUTHKEY_TAG_MAX 128

enum authkey_status {
    AUTHKEY_OK = 0,
    AUTHKEY_UNKNOWN = -1, /* malformed, or no such key */
    AUTHKEY_REVOKED = -2,
    AUTHKEY_EXPIRED = -3,
    AUTHKEY_USED = -4,    /* single-use key already used */
    AUTHKEY_ERROR = -5,   /* the store failed: store_errmsg says why; refuse the registration */
};

/* A sentence for the client (RegisterResponse.Error) for each status. */
const char *authkey_reason(int status);

/* SHA-256 of the key text as stored. */
void authkey_hash(const char *text, size_t len, uint8_t out[32]);
/* Whether text has the shape of one of our keys (prefix + 48 lowercase hex). */
bool authkey_well_formed(const char *text);

/* New random key: writes its text (NUL-terminated) and fills k->prefix and k->hash. 0 or -1. */
int authkey_generate(char text[AUTHKEY_TEXT_LEN + 1], struct model_authkey *k);

/* State of a stored key at time `now`: AUTHKEY_OK or the first refusal of revoked, expired, used. */
int authkey_check(const struct model_authkey *k, int64_t now);

/* Finds text in the store and checks it. *out is filled (release with model_authkey_clear) unless the
 * status is AUTHKEY_UNKNOWN or AUTHKEY_ERROR. */
int authkey_lookup(struct store *s, const char *text, int64_t now, struct model_authkey *out);

/* Makes and stores a key for user_id; tags (may be NULL) must pass authkey_tag_valid; description may be
 * NULL (none) and is cut to fit. On success writes
 * the key text (to show once) and fills *out; returns a store_rc (STORE_INVALID for a bad tag, with
 * the message in store_errmsg). */
int authkey_create(struct store *s, int64_t user_id, bool reusable, bool ephemeral, int64_t expiration,
                   const struct model_strlist *tags, const char *description, char text[AUTHKEY_TEXT_LEN + 1],
                   struct model_authkey *out);

/* ACL tags: "tag:" + a letter + letters, digits or '-', at most AUTHKEY_TAG_MAX bytes in all. */
bool authkey_tag_valid(const char *tag);

#endif
