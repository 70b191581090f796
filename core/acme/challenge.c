// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/acme/challenge.h"

#include <stdlib.h>
#include <string.h>

#include "core/acme/cert.h"
#include "core/http.h"
#include "core/log.h"
#include "core/tls.h"

struct token {
    char *token, *key_auth;
};

/* Pending http-01 challenges of the process: a handful at most (one per name being validated). */
static struct token *tokens;
static size_t ntokens;

int acme_http01_set(const char *token, const char *key_auth)
{
    acme_http01_clear(token);
    struct token *v = realloc(tokens, (ntokens + 1) * sizeof *v);
    if (!v)
        return -1;
    tokens = v;
    tokens[ntokens].token = strdup(token);
    tokens[ntokens].key_auth = strdup(key_auth);
    if (!tokens[ntokens].token || !tokens[ntokens].key_auth) {
        free(tokens[ntokens].token);
        free(tokens[ntokens].key_auth);
        return -1;
    }
    ntokens++;
    return 0;
}

void acme_http01_clear(const char *token)
{
    for (size_t i = 0; i < ntokens; i++)
        if (strcmp(tokens[i].token, token) == 0) {
            free(tokens[i].token);
            free(tokens[i].key_auth);
            tokens[i] = tokens[--ntokens];
            break;
        }
    if (ntokens == 0) {
        free(tokens);
        tokens = NULL;
    }
}

void acme_http01_handle(struct http_req *req, void *arg)
{
    const char *token = http_req_path(req) + strlen(ACME_HTTP01_PREFIX);
    char peer[128];
    for (size_t i = 0; i < ntokens; i++)
        if (strcmp(tokens[i].token, token) == 0) {
            static const struct http_header ct = {"Content-Type", "application/octet-stream"};
            log_info("event=acme challenge=http-01 peer=%s msg=\"answered a validation request\"",
                     http_req_peer_str(req, peer, sizeof peer));
            http_respond(req, 200, &ct, 1, tokens[i].key_auth, strlen(tokens[i].key_auth));
            return;
        }
    http_respond_text(req, 404, "no such challenge\n");
}

int acme_tlsalpn01_set(struct tls_ctx *t, const char *name, const char *key_auth)
{
    char *cert, *key;
    if (acme_alpn_cert(name, key_auth, &cert, &key) != 0)
        return -1;
    int rc = tls_ctx_set_alpn_challenge(t, name, cert, key);
    free(cert);
    free(key);
    return rc;
}

void acme_tlsalpn01_clear(struct tls_ctx *t, const char *name)
{
    tls_ctx_set_alpn_challenge(t, name, NULL, NULL);
}
