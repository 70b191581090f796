// SPDX-License-Identifier: BSD-3-Clause
/* The ACME server's answers (RFC 8555 §7.1), parsed from network input into plain structs: the directory,
 * an order, an authorization with the challenge of one kind, a problem document. Every parser takes any
 * bytes: -1 when they are not what was asked for. Strings are malloc'd; free with the _free functions. */
#ifndef WEFT_CORE_ACME_MSG_H
#define WEFT_CORE_ACME_MSG_H

#include <stddef.h>

struct acme_directory {
    char *new_nonce, *new_account, *new_order;
};
/* 0 if the body names all three. */
int acme_directory_parse(const char *body, size_t len, struct acme_directory *d);
void acme_directory_free(struct acme_directory *d);

struct acme_order_msg {
    char *status;      /* pending, ready, processing, valid, invalid */
    char *finalize;    /* URL */
    char *certificate; /* URL, when valid */
    char *error;       /* the order's error detail, if any */
    char **authz;      /* authorization URLs */
    size_t nauthz;
};
/* 0 if the body is an order with a status. */
int acme_order_parse(const char *body, size_t len, struct acme_order_msg *o);
void acme_order_msg_free(struct acme_order_msg *o);

struct acme_authz_msg {
    char *status; /* pending, valid, invalid, deactivated, expired, revoked */
    char *name;   /* the identifier's value */
    /* the challenge of the kind asked for (all NULL if the server offers none) */
    char *token, *url, *error;
};
/* 0 if the body is an authorization with a status and a DNS identifier; type: "http-01", "tls-alpn-01". */
int acme_authz_parse(const char *body, size_t len, const char *type, struct acme_authz_msg *a);
void acme_authz_msg_free(struct acme_authz_msg *a);

/* A problem document (RFC 7807): "detail (type)" into buf, *bad_nonce set for
 * urn:ietf:params:acme:error:badNonce. 0, or -1 if the body is not one (buf then empty). */
int acme_problem_parse(const char *body, size_t len, char *buf, size_t cap, int *bad_nonce);

#endif
