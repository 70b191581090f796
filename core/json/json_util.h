// SPDX-License-Identifier: BSD-3-Clause
/* Helpers for the control protocol's JSON as Go writes it: time.Time, key text forms, []byte as base64,
 * a bump arena for parsed documents, and a strict front end to json-c. No I/O. */
#ifndef WEFT_JSON_UTIL_H
#define WEFT_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Go's time.Time in UTC: seconds since 0001-01-01T00:00:00Z (Go's zero time) plus nanoseconds, so a
 * zeroed struct is the zero time that Go writes as "0001-01-01T00:00:00Z". */
struct tc_time {
    int64_t sec;
    int32_t nsec; /* 0..999999999 */
};

#define TC_TIME_UNIX_OFFSET INT64_C(62135596800) /* seconds from 0001-01-01 to 1970-01-01 */
#define TC_TIME_TEXT_MAX 40                      /* "9999-12-31T23:59:59.999999999Z" + NUL fits */

static inline bool tc_time_is_zero(const struct tc_time *t) { return t->sec == 0 && t->nsec == 0; }
static inline struct tc_time tc_time_from_unix(int64_t unix_sec, int32_t nsec)
{
    return (struct tc_time){ unix_sec + TC_TIME_UNIX_OFFSET, nsec };
}
static inline int64_t tc_time_to_unix(const struct tc_time *t) { return t->sec - TC_TIME_UNIX_OFFSET; }
struct tc_time tc_time_now(void);

/* RFC 3339 as Go's MarshalJSON writes it (UTC "Z", fraction without trailing zeros). Writes at most
 * TC_TIME_TEXT_MAX bytes including the NUL; returns the length, or -1 for a year outside 1..9999. */
int tc_time_format(const struct tc_time *t, char *out);
/* RFC 3339 ("2026-08-22T12:00:00Z", optional fraction, "Z" or a "+hh:mm" offset, folded to UTC).
 * s need not be NUL-terminated. Returns 0 or -1. */
int tc_time_parse(const char *s, size_t len, struct tc_time *out);

/* 32-byte public keys in their text form: prefix + 64 hex digits ("nodekey:8520f0..."). */
#define TC_KEY_LEN 32
#define TC_KEY_TEXT_MAX 80
#define TC_PREFIX_NODE "nodekey:"
#define TC_PREFIX_MACHINE "mkey:"
#define TC_PREFIX_DISCO "discokey:"
#define TC_PREFIX_NL "nlpub:"

typedef struct tc_key {
    uint8_t b[TC_KEY_LEN];
} tc_key;

bool tc_key_is_zero(const tc_key *k);
/* Writes prefix + lowercase hex + NUL into out (TC_KEY_TEXT_MAX bytes); returns the length or -1. */
int tc_key_format(const tc_key *k, const char *prefix, char *out);
/* Parses prefix + 64 hex digits (either case). The empty string is the zero key. Returns 0 or -1. */
int tc_key_parse(const char *s, size_t len, const char *prefix, tc_key *out);

/* Standard padded base64 (Go's encoding of []byte). tc_b64_decode returns the length or -1. */
size_t tc_b64_encoded_len(size_t n);
long tc_b64_decode(const char *s, size_t len, uint8_t *out, size_t cap);

/* Bump allocator that owns everything a parsed document points to; freed in one go. */
struct tc_arena_blk;
struct tc_arena {
    struct tc_arena_blk *blk;
};
void *tc_arena_alloc(struct tc_arena *a, size_t n);               /* zeroed, 16-aligned; NULL if OOM */
void *tc_arena_array(struct tc_arena *a, size_t n, size_t size);  /* overflow-checked; NULL if OOM */
void tc_arena_free(struct tc_arena *a);

/* Strict JSON (RFC 8259) syntax check, UTF-8 included: what json-c alone lets through (NaN, Infinity, 'quotes', "1.",
 * comments, trailing garbage) must not reach a Go peer when we pass raw values on. Returns 0 or -1. */
int tc_json_validate(const char *s, size_t len);
/* Validates, then parses with json-c. Returns a new reference or NULL. */
struct json_object *tc_json_parse(const char *s, size_t len);

/* Compact serialization of a json-c value (no "\/" escaping). The text lives in the object until it
 * is freed or serialized again. */
const char *tc_json_text(struct json_object *o, size_t *len);

#endif
