// SPDX-License-Identifier: BSD-3-Clause
/* HuJSON ("human JSON", the policy file's syntax): JSON (RFC 8259) plus // line comments, block comments
 * and a trailing comma after the last element of an array or object. The reader builds a tree in which
 * every value and object key keeps its line and column, so the policy parser can name FILE:LINE:COL for
 * any mistake (an unknown tag, a bad port) and not just for syntax errors.
 *
 * Lines and columns count from 1; a column counts bytes, as Go's tools (and the config reader) do.
 * Strings are decoded (escapes, surrogate pairs) into NUL-terminated UTF-8; a string holding \u0000 keeps
 * its length in .len. Invalid UTF-8, control characters in strings, leading zeros, NaN and the like are
 * refused as JSON refuses them. Nesting is limited (HJ_MAX_DEPTH) so hostile input cannot exhaust the
 * stack. Duplicate object keys are kept in order; the policy parser decides what they mean. */
#ifndef WEFT_CONTROL_POLICY_HUJSON_H
#define WEFT_CONTROL_POLICY_HUJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json/json_util.h"

#define HJ_MAX_DEPTH 200

struct jbuf;

enum hj_type { HJ_NULL, HJ_BOOL, HJ_NUM, HJ_STR, HJ_ARR, HJ_OBJ };

struct hj_pos {
    uint32_t line, col;
};

struct hj_member;

struct hj_val {
    enum hj_type type;
    struct hj_pos pos;
    const char *src; /* the value's text in the input (for numbers: exactly as written) */
    size_t srclen;
    bool b;          /* HJ_BOOL */
    double num;      /* HJ_NUM */
    const char *s;   /* HJ_STR: decoded, NUL-terminated */
    size_t len;      /* HJ_STR: bytes; HJ_ARR / HJ_OBJ: elements */
    struct hj_val **arr;
    struct hj_member *obj;
};

struct hj_member {
    const char *key; /* decoded */
    size_t keylen;
    struct hj_pos pos; /* of the key */
    struct hj_val *val;
};

struct hj_doc {
    struct tc_arena arena;
    struct hj_val *root;
};

struct hj_error {
    struct hj_pos pos;
    char msg[160];
};

/* Parses text (need not be NUL-terminated). 0 with doc filled (free with hj_free), or -1 with err. */
int hj_parse(const char *text, size_t len, struct hj_doc *doc, struct hj_error *err);
void hj_free(struct hj_doc *doc);

/* Member of an object by key (the last one if repeated), or NULL. */
struct hj_val *hj_get(const struct hj_val *obj, const char *key);
const char *hj_type_name(enum hj_type t);

/* Writes v as compact standard JSON (keys in their order, strings re-escaped as Go does). */
void hj_emit(struct jbuf *b, const struct hj_val *v);

/* Rewrites HuJSON into standard JSON in place, keeping every byte offset (comments and trailing commas
 * become spaces; newlines inside block comments stay), so a JSON parser's positions still point into the
 * original. Assumes the text is otherwise well-formed; returns 0, or -1 on an unterminated comment or
 * string. */
int hj_standardize(char *text, size_t len);

#endif
