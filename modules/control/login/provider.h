// SPDX-License-Identifier: BSD-3-Clause
/* Interactive login through an outside identity provider (issue 16 part 2). Control owns the places a
 * browser is sent (the AuthURL a node prints, the console's login link, the provider's callback) and what a
 * proven identity may do (register the waiting machine to its user, open a console session); a provider
 * plugin (plugins/auth_oidc) owns the protocol: it offers LOGIN_PROVIDER_SERVICE (weft_service_put) and
 * control opens it at start with its control.oidc.* settings. Control never sees a token, a provider never
 * sees the database. */
#ifndef WEFT_CONTROL_LOGIN_PROVIDER_H
#define WEFT_CONTROL_LOGIN_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/cfg.h"

#define LOGIN_PROVIDER_SERVICE "control.login-provider"
#define LOGIN_CALLBACK_PATH "/oidc/callback"

/* control.oidc.* (declared in control's key table, read by the provider at open; it keeps copies). */
struct login_oidc_conf {
    char *issuer;
    char *client_id;
    char *client_secret;
    char *client_secret_file;
    struct cfg_list scopes;
    struct cfg_list allowed_domains;
    struct cfg_list allowed_users;
    struct cfg_list allowed_groups;
    struct cfg_list console_users;
    struct cfg_list console_groups;
    int pkce;
    struct cfg_list extra_params;
    struct cfg_list algorithms;
    char *ca_file;
    long long jwks_refresh_min;
};

enum login_purpose { LOGIN_NODE, LOGIN_CONSOLE };

/* Who the provider proved the browser's user to be, after its own allow-lists said yes. */
struct login_identity {
    const char *issuer, *subject; /* who the provider says it is (the ID token's iss and sub): a node's user is
                                   * bound to it at its first login, and found by it afterwards */
    const char *user;         /* the login name for a new user (the verified e-mail address, else sub@issuer) */
    const char *display_name; /* may be "" */
    bool console;             /* in console_users / console_groups */
};

/* What control offers its provider. Each returns 0, or -1 with a sentence for the browser's user in msg. */
struct login_host {
    void *arg;
    /* whether authid is a machine waiting for an interactive login; its hostname into host */
    bool (*node_pending)(void *arg, const char *authid, char *host, size_t hostlen);
    /* register the machine waiting as authid to the user bound to id's issuer and subject; at the first
     * login, to the user named id->user (created if there is none, then bound). On success msg holds the
     * weft user's name. */
    int (*node_login)(void *arg, const char *authid, const struct login_identity *id, char *msg, size_t msglen);
    /* a console session for id: the Set-Cookie header values to send (two) into cookies */
    int (*console_login)(void *arg, const struct login_identity *id, char cookies[2][256], char *msg,
                         size_t msglen);
    /* A login under way, between the redirect to the provider and its callback, which may come back to another
     * control instance on the database: kept for ttl seconds under state (control stores only its hash), with
     * data (text, at most LOGIN_FLOW_DATA_MAX bytes, the provider's to seal). take hands it out once: 0 and data
     * into out (cap bytes), or -1 when it is unknown, expired, taken already, or the store failed. */
    int (*flow_put)(void *arg, const char *state, const char *data, int ttl);
    int (*flow_take)(void *arg, const char *state, char *out, size_t cap);
};
#define LOGIN_FLOW_DATA_MAX 1200

struct http_req;
struct weft_ctx;

struct login_provider {
    const char *name; /* "oidc" */
    /* Set up from conf (copied); redirect_uri is server_url + LOGIN_CALLBACK_PATH, secure whether it is https
     * (cookies get Secure). NULL and a message on failure. */
    void *(*open)(struct weft_ctx *ctx, const struct login_oidc_conf *conf, const char *redirect_uri, bool secure,
                  const struct login_host *host, char *err, size_t errlen);
    /* Send the browser of req to the provider: for LOGIN_NODE arg is the AuthID, for LOGIN_CONSOLE the local
     * path to land on afterwards. Answers req (now or later). */
    void (*begin)(void *p, struct http_req *req, enum login_purpose purpose, const char *arg);
    /* The provider's redirect back (LOGIN_CALLBACK_PATH): answers req, now or later. */
    void (*callback)(void *p, struct http_req *req);
    void (*close)(void *p);
};

#endif
