// SPDX-License-Identifier: BSD-3-Clause
/* A growable output buffer with JSON value writers that follow Go's encoding/json: string escaping
 * (including <, >, & and invalid UTF-8), float formatting, time.Time, keys, []byte.
 *
 * Commas are implicit: every value writer and jbuf_field() put a ',' first unless the buffer ends in
 * '{', '[' or ':'. So an object is jbuf_open(b,'{'), then jbuf_field + a value per member, jbuf_close.
 * Errors are sticky: after an allocation failure b->oom is set and writes are dropped. */
#ifndef WEFT_JSON_JBUF_H
#define WEFT_JSON_JBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json/json_util.h"

struct json_object;

struct jbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

void jbuf_init(struct jbuf *b);
void jbuf_free(struct jbuf *b);
static inline void jbuf_reset(struct jbuf *b) { b->len = 0; b->oom = false; }
bool jbuf_reserve(struct jbuf *b, size_t extra);
/* Hands the NUL-terminated text to the caller (free() it); the buffer is empty afterwards. NULL if OOM. */
char *jbuf_take(struct jbuf *b, size_t *len);

/* Raw bytes, no separator. */
void jbuf_put(struct jbuf *b, const void *s, size_t n);
static inline void jbuf_putc(struct jbuf *b, char c)
{
    if (b->len + 1 < b->cap || jbuf_reserve(b, 1))
        b->p[b->len++] = c;
}

void jbuf_sep(struct jbuf *b);                 /* ',' unless after '{', '[', ':' or at the start */
void jbuf_open(struct jbuf *b, char c);        /* sep + '{' or '[' */
void jbuf_close(struct jbuf *b, char c);       /* '}' or ']' */
void jbuf_field(struct jbuf *b, const char *name); /* sep + "name": (name is plain ASCII) */
void jbuf_name(struct jbuf *b, const char *name);  /* sep + "name": with escaping (map keys) */

void jbuf_str(struct jbuf *b, const char *s); /* NULL writes "" */
void jbuf_strn(struct jbuf *b, const char *s, size_t n);
void jbuf_i64(struct jbuf *b, int64_t v);
void jbuf_bool(struct jbuf *b, bool v);
void jbuf_null(struct jbuf *b);
void jbuf_f64(struct jbuf *b, double v); /* Go's float64 format; non-finite (Go refuses them) writes 0 */
void jbuf_time(struct jbuf *b, const struct tc_time *t);
void jbuf_key(struct jbuf *b, const tc_key *k, const char *prefix);
void jbuf_b64(struct jbuf *b, const uint8_t *p, size_t n); /* p == NULL writes null, as Go's nil []byte */
void jbuf_raw(struct jbuf *b, const char *text, size_t n); /* sep + an already-serialized value */
void jbuf_json(struct jbuf *b, struct json_object *o);     /* sep + a json-c value, compact */

#endif
