// SPDX-License-Identifier: BSD-3-Clause
/* 32-byte keys (X25519 private/public, Ed25519 public for tailnet lock) and their text forms (spec keys.md). */
#ifndef WEFT_CRYPTO_KEY_H
#define WEFT_CRYPTO_KEY_H

#include <stddef.h>
#include <stdint.h>

#define KEY_LEN 32
/* Longest text form ("discokey:" / "privkey:" ... + 64 hex) plus NUL. */
#define KEY_TEXT_MAX 80

struct key {
    uint8_t b[KEY_LEN];
};

/* Text forms; the kind selects the prefix. KEY_TEXT_BARE is 64 hex digits with no prefix (DERP mesh key,
 * Derp-Public-Key header). KEY_TEXT_NL is an Ed25519 public key: only parsed/formatted, never used here. */
enum key_text {
    KEY_TEXT_MACHINE,   /* mkey: (machine and control public keys) */
    KEY_TEXT_NODE,      /* nodekey: (node and DERP server public keys) */
    KEY_TEXT_DISCO,     /* discokey: */
    KEY_TEXT_CHALLENGE, /* chalpub: */
    KEY_TEXT_NL,        /* nlpub: */
    KEY_TEXT_PRIVATE,   /* privkey: */
    KEY_TEXT_BARE,      /* no prefix */
};

/* Makes libsodium ready (idempotent, cheap after the first call); 0 or -1. The functions here and in
 * box/noise_ts2021 call it themselves. */
int key_crypto_init(void);

/* New clamped X25519 private key from the CSPRNG. 0 or -1. */
int key_generate(struct key *priv);
/* pub = X25519(priv, 9). 0 or -1. */
int key_public(struct key *pub, const struct key *priv);
/* X25519 shared secret; -1 when the result is all zero (low-order peer key). out may not alias inputs. */
int key_shared(uint8_t out[KEY_LEN], const struct key *priv, const struct key *pub);

int key_is_zero(const struct key *k);           /* constant time */
int key_equal(const struct key *a, const struct key *b); /* constant time; 1 if equal */

/* The prefix of a kind ("" for KEY_TEXT_BARE). */
const char *key_text_prefix(enum key_text kind);
/* Writes prefix + 64 lowercase hex + NUL; returns the string length, or -1 if cap is too small. */
int key_format(char *out, size_t cap, enum key_text kind, const struct key *k);
/* Parses exactly prefix + 64 hex digits (either case) from s[0..len); no surrounding space. 0 or -1
 * (wrong prefix, wrong length, non-hex). k is untouched on failure. */
int key_parse(struct key *k, enum key_text kind, const char *s, size_t len);
/* key_parse over a NUL-terminated string. */
int key_parse_str(struct key *k, enum key_text kind, const char *s);

/* Private key files hold "privkey:<64 hex>\n", mode 0600.
 * save: writes a temp file next to path (O_CREAT|O_EXCL, 0600), fsyncs, renames over path, fsyncs the
 * directory. load: refuses a file group- or world-accessible, not a regular file, malformed, or holding
 * the zero key. load_or_create: load, or when path does not exist generate + save (*created = 1).
 * All return 0 or -1 with a printable reason in err (may be NULL). */
int key_save_private(const char *path, const struct key *priv, char *err, size_t errlen);
int key_load_private(const char *path, struct key *priv, char *err, size_t errlen);
int key_load_or_create(const char *path, struct key *priv, int *created, char *err, size_t errlen);

#endif
