// SPDX-License-Identifier: BSD-3-Clause
/* The control role's data model: users, nodes, pre-auth keys. Plain structs, no I/O; the store
 * (store.h) persists them. Times are Unix seconds, 0 meaning "zero time" (never / unknown). Keys are raw
 * 32-byte public keys (text forms are the caller's business, see core/crypto/key.h). */
#ifndef WEFT_CONTROL_MODEL_H
#define WEFT_CONTROL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MODEL_KEY_LEN 32
#define MODEL_USER_NAME_MAX 255     /* login name, e.g. an e-mail address */
#define MODEL_HOSTNAME_MAX 255      /* Hostinfo.Hostname as the client sent it (longer is truncated) */
#define MODEL_LABEL_MAX 63          /* a DNS label (RFC 1035) */
#define MODEL_STABLE_ID_MAX 31
#define MODEL_AUTHKEY_PREFIX_MAX 31 /* the displayable start of a pre-auth key */

/* A list of strings (endpoints "ip:port", tags "tag:x"). Heap owned; {NULL, 0} is the empty list. */
struct model_strlist {
    char **v;
    size_t n;
};

struct model_user {
    int64_t id;                                   /* > 0, assigned by the store, never reused */
    char name[MODEL_USER_NAME_MAX + 1];           /* unique login name */
    char display_name[MODEL_USER_NAME_MAX + 1];
    int64_t created;
};

struct model_node {
    int64_t id;                                   /* > 0, assigned by the store, never reused */
    char stable_id[MODEL_STABLE_ID_MAX + 1];      /* assigned by the store when empty on insert */
    int64_t user_id;                              /* owner; for tagged nodes the user who registered */
    uint8_t machine_key[MODEL_KEY_LEN];           /* unique */
    uint8_t node_key[MODEL_KEY_LEN];              /* unique */
    uint8_t disco_key[MODEL_KEY_LEN];             /* all zero = unknown */
    char hostname[MODEL_HOSTNAME_MAX + 1];        /* as reported by the client */
    char given_name[MODEL_LABEL_MAX + 1];         /* DNS label, unique in the tailnet (naming.h) */
    bool has_ipv4, has_ipv6;
    uint8_t ipv4[4];                              /* unique among nodes */
    uint8_t ipv6[16];                             /* unique among nodes */
    struct model_strlist endpoints;               /* "ip:port" / "[ip6]:port" */
    char *hostinfo;                               /* raw Hostinfo JSON as sent, stored as is; may be NULL */
    int home_derp;                                /* region ID, 0 = unknown */
    int capver;                                   /* client capability version, 0 = unknown */
    int64_t expiry;                               /* key expiry; 0 = never */
    int64_t created;
    int64_t last_seen;
    bool online;                                  /* runtime only: never stored */
    bool ephemeral;
    struct model_strlist tags;                    /* "tag:x"; non-empty = tagged node */
    int64_t authkey_id;                           /* pre-auth key used to register it; 0 = none */
    bool renamed;                                 /* an admin named it: the hostname no longer does */
    /* Routes (routes.h): what the node offers in Hostinfo.RoutableIPs (the valid ones, canonical CIDR
     * text, kept up to date from every map request), and what an admin or the policy approved. Only
     * their intersection is routed; 0.0.0.0/0 + ::/0 in both make an exit node. */
    struct model_strlist routes_advertised;
    struct model_strlist routes_approved;
};

/* A pre-auth key. The secret itself is never stored: only its SHA-256 (authkey.h makes and checks keys),
 * so a leaked database does not hand out usable keys. `prefix` is a displayable start of the key. */
struct model_authkey {
    int64_t id;
    char prefix[MODEL_AUTHKEY_PREFIX_MAX + 1];
    uint8_t hash[32];                             /* SHA-256 of the whole key text; unique */
    int64_t user_id;
    bool reusable;
    bool ephemeral;                               /* nodes registered with it are ephemeral */
    bool revoked;
    int64_t expiration;                           /* 0 = never */
    struct model_strlist tags;                    /* nodes registered with it get these tags */
    int64_t used_count;
    int64_t created;
};

/* Appends a copy of s. 0, or -1 on allocation failure. */
int model_strlist_add(struct model_strlist *l, const char *s);
/* Replaces *dst by a deep copy of src. 0 or -1. */
int model_strlist_copy(struct model_strlist *dst, const struct model_strlist *src);
int model_strlist_contains(const struct model_strlist *l, const char *s);
void model_strlist_free(struct model_strlist *l);
/* JSON array text of the list (malloc'd), or NULL on allocation failure. */
char *model_strlist_to_json(const struct model_strlist *l);
/* Parses a JSON array of strings (NULL or "" = empty). 0, or -1 on malformed input (l left empty). */
int model_strlist_from_json(struct model_strlist *l, const char *json);

/* Frees the heap members of a node (endpoints, hostinfo, tags) and zeroes it. */
void model_node_clear(struct model_node *n);
/* Deep copy; dst must not hold heap members (cleared or fresh). 0 or -1. */
int model_node_copy(struct model_node *dst, const struct model_node *src);
void model_authkey_clear(struct model_authkey *k);
/* Free arrays returned by the store's list operations. */
void model_nodes_free(struct model_node *v, size_t n);
void model_authkeys_free(struct model_authkey *v, size_t n);

/* Bounded string copy that always terminates and never splits a UTF-8 sequence. Returns 1 if truncated. */
int model_strlcpy(char *dst, const char *src, size_t cap);

#endif
