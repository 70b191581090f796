// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/derp/server.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/derp_client.h"
#include "core/log.h"
#include "core/wire/derp_frame.h"

/* A mesh link holding more than this unsent makes senders wait (back-pressure) until it drains, */
#define MESH_PAUSE_AT (1u << 20)
/* and once they have waited long enough, drops further forwarded packets past this. */
#define MESH_MAX_QUEUED (8u << 20)

/* Our connection, as a mesh client, to another relay of the region: it tells us who is connected there
 * (WatchConns), and carries our ForwardPackets to them. */
struct mesh_link {
    struct mesh_link *next;
    struct derp_server *srv;
    char *url;
    struct derp_client *c;
    int up;
    struct bp_room room; /* senders waiting for the link to drain */
};

int derp_read_mesh_key(const char *path, uint8_t key[32], char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "mesh_key %s: cannot open", path);
        return -1;
    }
    char buf[256];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = buf;
    while (isspace((unsigned char)*p))
        p++;
    size_t l = strlen(p);
    while (l > 0 && isspace((unsigned char)p[l - 1]))
        p[--l] = 0;
    struct key k;
    if (key_parse(&k, KEY_TEXT_BARE, p, l) != 0) {
        sodium_memzero(buf, sizeof(buf));
        snprintf(err, errlen, "mesh_key %s: want 64 hex digits", path);
        return -1;
    }
    memcpy(key, k.b, 32);
    sodium_memzero(buf, sizeof(buf));
    sodium_memzero(&k, sizeof(k));
    return 0;
}

/* Forget every key this link announced: a reconnect's PeerPresent flood is the new truth. */
static void forget_link(struct derp_server *srv, struct mesh_link *l)
{
    for (size_t b = 0; b < srv->nbuckets; b++) {
        struct peer *p = srv->buckets[b];
        while (p != NULL) {
            struct peer *next = p->hnext;
            if (p->fwd == l) {
                p->fwd = NULL;
                peer_maybe_free(srv, p);
            }
            p = next;
        }
    }
}

static void link_free(struct mesh_link *l)
{
    bp_room_release(&l->room);
    derp_client_free(l->c);
    free(l->url);
    free(l);
}

static void on_connected(struct derp_client *c, const uint8_t server_key[32], void *arg)
{
    struct mesh_link *l = arg;
    struct derp_server *srv = l->srv;
    if (memcmp(server_key, srv->pub.b, 32) == 0) {
        /* mesh_with lists this relay too (one list for the whole region): no link to ourselves */
        log_info("module=derp event=mesh_self url=%s", l->url);
        struct mesh_link **pp = &srv->links;
        while (*pp != l)
            pp = &(*pp)->next;
        *pp = l->next;
        link_free(l);
        return;
    }
    forget_link(srv, l);
    l->up = 1;
    srv->nlinks_up++;
    derp_client_watch_conns(c);
    log_info("module=derp event=mesh_up url=%s", l->url);
}

static void on_disconnected(struct derp_client *c, const char *err, void *arg)
{
    struct mesh_link *l = arg;
    if (l->up) {
        l->up = 0;
        l->srv->nlinks_up--;
        log_warn("module=derp event=mesh_down url=%s error=\"%s\"", l->url, err);
    } else {
        log_debug("module=derp event=mesh_dial url=%s error=\"%s\"", l->url, err);
    }
    bp_room_release(&l->room); /* their packets to keys behind it are dropped now, not held */
    forget_link(l->srv, l);
}

static void on_writable(struct derp_client *c, void *arg)
{
    struct mesh_link *l = arg;
    bp_room_release(&l->room);
}

static void on_peer_present(struct derp_client *c, const struct derp_peer_present *pp, void *arg)
{
    struct mesh_link *l = arg;
    struct derp_server *srv = l->srv;
    if (memcmp(pp->key, srv->pub.b, 32) == 0 ||
        (pp->has_flags && (pp->flags & DERP_PEER_PRESENT_IS_MESH_PEER)))
        return;
    struct peer *p = peer_get(srv, pp->key);
    if (p != NULL)
        p->fwd = l;
}

static void on_peer_gone(struct derp_client *c, const uint8_t key[32], uint8_t reason, void *arg)
{
    struct mesh_link *l = arg;
    struct peer *p = peer_find(l->srv, key);
    if (p != NULL && p->fwd == l) {
        p->fwd = NULL;
        peer_maybe_free(l->srv, p);
    }
}

int mesh_wait(struct derp_server *srv, struct mesh_link *l, struct dconn *c)
{
    return l->up && derp_client_queued(l->c) >= MESH_PAUSE_AT && bp_wait(c, &l->room);
}

int mesh_forward(struct derp_server *srv, struct mesh_link *l, const uint8_t src[32], const uint8_t dst[32],
                 const uint8_t *data, size_t len)
{
    if (!l->up || derp_client_queued(l->c) > MESH_MAX_QUEUED ||
        derp_client_forward(l->c, src, dst, data, len) != 0) {
        srv->m.drops[DROP_MESH_QUEUE]++;
        return -1;
    }
    return 0;
}

int mesh_start(struct derp_server *srv)
{
    const struct derp_conf *conf = srv->conf;
    static const struct derp_client_cbs cbs = {
        .on_connected = on_connected,
        .on_disconnected = on_disconnected,
        .on_peer_present = on_peer_present,
        .on_peer_gone = on_peer_gone,
        .on_writable = on_writable,
    };
    if (conf->mesh_with.n == 0)
        return 0;
    if (!srv->has_mesh_key) {
        log_error("module=derp event=mesh error=\"mesh_with needs mesh_key\"");
        return -1;
    }
    for (size_t i = 0; i < conf->mesh_with.n; i++) {
        struct mesh_link *l = calloc(1, sizeof(*l));
        if (l == NULL || (l->url = strdup(conf->mesh_with.v[i])) == NULL) {
            free(l);
            return -1;
        }
        l->srv = srv;
        struct derp_client_opts o = {
            .url = l->url,
            .priv = srv->priv.b,
            .mesh_key = srv->mesh_key,
            .ca_file = conf->mesh_ca_file,
            .reconnect = 1,
            .backoff_min_ms = 200,
            .backoff_max_ms = 5000,
        };
        l->c = derp_client_new(srv->loop, &o, &cbs, l);
        if (l->c == NULL) {
            log_error("module=derp event=mesh url=%s error=\"bad mesh URL\"", l->url);
            free(l->url);
            free(l);
            return -1;
        }
        l->next = srv->links;
        srv->links = l;
    }
    return 0;
}

void mesh_stop(struct derp_server *srv)
{
    while (srv->links != NULL) {
        struct mesh_link *l = srv->links;
        srv->links = l->next;
        if (l->up)
            srv->nlinks_up--;
        l->up = 0;
        forget_link(srv, l);
        link_free(l);
    }
}
