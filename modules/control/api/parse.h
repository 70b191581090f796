// SPDX-License-Identifier: BSD-3-Clause
/* Parsers of REST API request input that is not JSON (JSON goes through core's parser): the
 * Authorization header, application/x-www-form-urlencoded bodies (the OAuth token request) and OAuth
 * scope lists. Pure functions of their input (t/fuzz/fuzz_api_parse.c). */
#ifndef WEFT_CONTROL_API_PARSE_H
#define WEFT_CONTROL_API_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#define API_SECRET_MAX 256

/* "Bearer TOKEN", or "Basic base64(USER:PASSWORD)" (Tailscale takes an API key as the user name with an
 * empty password; an OAuth token request sends client_id:client_secret). user gets the token or the user
 * name, pass the password ("" for Bearer). 0, or -1 if the header has neither shape or a part does not fit
 * (cap bytes each, NUL included) or holds a NUL. */
int api_parse_authorization(const char *hdr, char *user, size_t ucap, char *pass, size_t pcap);

/* The value of field name in a form body (percent- and '+'-decoded) into out. 1 if found, 0 if not, -1 if
 * the body is malformed (bad %-escape) or the value does not fit or decodes to a NUL. */
int api_form_get(const char *body, size_t len, const char *name, char *out, size_t cap);

/* The OAuth scopes weft knows (Tailscale's names): all, devices:core, devices:routes, auth_keys, dns,
 * policy_file, users, each also as NAME:read. Whether every space/comma-separated word of list is one
 * (and there is at least one); on false, bad names the first unknown word (bad may be NULL). */
bool api_scopes_valid(const char *list, char *bad, size_t badcap);
/* Whether granted (a scope list) allows need ("devices:core" or "devices:core:read"): the scope itself,
 * or the write scope for a :read need, or "all" (and "all:read" for a :read need). */
bool api_scope_allows(const char *granted, const char *need);

/* The value of cookie name in a Cookie header ("a=1; b=2") into out. 1 if found, 0 if not, -1 if its
 * value does not fit (cap bytes, NUL included). Values are taken as sent (weft's own cookies are hex). */
int api_cookie_get(const char *hdr, const char *name, char *out, size_t cap);

#endif
