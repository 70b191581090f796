// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/derp/server.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/addr.h"
#include "core/ctx.h"
#include "core/http.h"
#include "core/log.h"
#include "core/stream.h"
#include "core/wire/byteorder.h"
#include "core/wire/derp_frame.h"
#include "core/wire/disco.h"

/* Largest frame a running client may send: ForwardPacket (two keys) plus a full packet. */
#define MAX_STEADY_FRAME (64 + DERP_MAX_PACKET_SIZE)
/* Bytes batched for one destination within one read before further packets take the queue. */
#define BATCH_MAX (512 * 1024)
/* iovecs per writev. */
#define IOV_CHUNK 256
/* Reading from a client's socket resumes only when less than this of its input waits to be processed: what
 * is buffered is worked off first, so a paused sender's input stays in the kernel, not in our memory. */
#define READ_RESUME_BELOW (256 * 1024)
/* The most read from a client's socket at once (h2o would take all the kernel holds: megabytes after a
 * pause, into a buffer grown and faulted in for them). */
#define READ_CHUNK (128 * 1024)
/* Keys remembered per sender for PeerGone. */
#define MAX_SENT 65536
/* How long a restarting relay tells clients to wait, and how long to keep trying. */
#define RESTART_RECONNECT_MS 1000
#define RESTART_TRY_FOR_MS 30000

enum { CS_HANDSHAKE, CS_VERIFYING, CS_RUNNING, CS_CLOSING };

struct qpkt {
    uint32_t len;
    uint8_t b[]; /* a whole RecvPacket frame */
};

/* A bounded ring of packets waiting for a busy destination; the oldest goes when it is full. */
struct pktq {
    uint32_t head, n, cap;
    struct qpkt *s[];
};

struct rlim {
    double tokens;
    uint64_t last;
    struct timer t;
};

/* A sender paused by back-pressure (allocated at its first pause, kept while it lives). */
struct bp_pause {
    struct bp_room *room; /* what it waits for room in; NULL when it reads */
    struct dconn *next, **pprev;
    struct timer t; /* the limit on the wait */
};

struct dconn {
    struct dconn *prev, *next;
    struct derp_server *srv;
    struct stream *s;
    struct peer *peer;
    struct dconn *dup_next;
    struct verify_req *verify;
    struct pktq *q, *dq; /* data and disco queues, allocated while needed */
    struct ws_state *ws;
    struct rlim *rl;
    struct bp_pause *bp; /* as a sender: paused for a full destination */
    struct bp_room room; /* as a destination: the senders waiting for its queue to drain */
    struct timer ka;
    uint64_t id;
    uint64_t nothere_last;
    int32_t bhead, btail;
    uint32_t bbytes;
    uint8_t state, is_mesh, is_prober, preferred, dirty, watcher, nothere_tokens, kick_queued;
    uint8_t read_off; /* we stopped reading its socket (verifying, rate limit, back-pressure, backlog) */
    uint16_t port;
    uint8_t ip[16];
    uint8_t key[32];
    uint8_t last_dst[32];
};

static void conn_kill(struct dconn *c, const char *why);
static void conn_resume(struct dconn *c);
static size_t conn_backlog(struct dconn *c);

/* ---- key table ---- */

static uint64_t key_hash(const struct derp_server *srv, const uint8_t key[32])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, 32, srv->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

struct peer *peer_find(struct derp_server *srv, const uint8_t key[32])
{
    if (srv->nbuckets == 0)
        return NULL;
    struct peer *p = srv->buckets[key_hash(srv, key) & (srv->nbuckets - 1)];
    while (p != NULL && memcmp(p->key, key, 32) != 0)
        p = p->hnext;
    return p;
}

static int table_grow(struct derp_server *srv)
{
    size_t n = srv->nbuckets ? srv->nbuckets * 2 : 256;
    struct peer **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return -1;
    for (size_t i = 0; i < srv->nbuckets; i++) {
        struct peer *p = srv->buckets[i];
        while (p != NULL) {
            struct peer *next = p->hnext;
            size_t j = key_hash(srv, p->key) & (n - 1);
            p->hnext = b[j];
            b[j] = p;
            p = next;
        }
    }
    free(srv->buckets);
    srv->buckets = b;
    srv->nbuckets = n;
    return 0;
}

struct peer *peer_get(struct derp_server *srv, const uint8_t key[32])
{
    struct peer *p = peer_find(srv, key);
    if (p != NULL)
        return p;
    if (srv->npeers >= srv->nbuckets && table_grow(srv) != 0)
        return NULL;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    memcpy(p->key, key, 32);
    size_t j = key_hash(srv, key) & (srv->nbuckets - 1);
    p->hnext = srv->buckets[j];
    srv->buckets[j] = p;
    srv->npeers++;
    return p;
}

/* Remember that p sent to key (an open-addressing set; keys are public keys, spread evenly). */
static void sent_add(struct peer *p, const uint8_t key[32])
{
    if (p->nsent * 2 >= p->capsent) {
        if (p->capsent >= MAX_SENT)
            return;
        uint32_t cap = p->capsent ? p->capsent * 2 : 8;
        uint8_t(*t)[32] = calloc(cap, 32);
        if (t == NULL)
            return;
        for (uint32_t i = 0; i < p->capsent; i++) {
            if (key_is_zero((const struct key *)p->sent[i]))
                continue;
            uint32_t j = wire_be32(p->sent[i]) & (cap - 1);
            while (!key_is_zero((const struct key *)t[j]))
                j = (j + 1) & (cap - 1);
            memcpy(t[j], p->sent[i], 32);
        }
        free(p->sent);
        p->sent = t;
        p->capsent = cap;
    }
    uint32_t j = wire_be32(key) & (p->capsent - 1);
    while (!key_is_zero((const struct key *)p->sent[j])) {
        if (memcmp(p->sent[j], key, 32) == 0)
            return;
        j = (j + 1) & (p->capsent - 1);
    }
    memcpy(p->sent[j], key, 32);
    p->nsent++;
}

static int conn_write(struct dconn *c, const void *buf, size_t len);

void peer_maybe_free(struct derp_server *srv, struct peer *p)
{
    if (p == NULL || p->conns != NULL || p->fwd != NULL)
        return;
    /* gone from the region: whoever it talked to stops using the reverse path */
    uint8_t f[64];
    long n = derp_peer_gone_encode(f, sizeof(f), p->key, DERP_PEER_GONE_DISCONNECTED);
    for (uint32_t i = 0; i < p->capsent; i++) {
        if (key_is_zero((const struct key *)p->sent[i]))
            continue;
        struct peer *q = peer_find(srv, p->sent[i]);
        if (q == NULL)
            continue;
        for (struct dconn *d = q->conns; d != NULL; d = d->dup_next)
            if (conn_write(d, f, (size_t)n) == 0)
                srv->m.peer_gone_sent++;
    }
    free(p->sent);
    size_t j = key_hash(srv, p->key) & (srv->nbuckets - 1);
    struct peer **pp = &srv->buckets[j];
    while (*pp != p)
        pp = &(*pp)->hnext;
    *pp = p->hnext;
    srv->npeers--;
    free(p);
}

/* ---- writing ---- */

/* Everything written to a client goes through here (WebSocket clients get it wrapped). */
static int conn_writev(struct dconn *c, const struct iovec *iov, size_t n)
{
    if (c->s == NULL || c->state == CS_CLOSING)
        return -1;
    if (c->ws == NULL)
        return stream_writev(c->s, iov, n);
    struct iovec v[IOV_CHUNK + 1];
    uint8_t hdr[10];
    uint64_t total = 0;
    if (n > IOV_CHUNK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        v[i + 1] = iov[i];
        total += iov[i].iov_len;
    }
    v[0] = (struct iovec){hdr, ws_frame_header(hdr, 2, total)};
    return stream_writev(c->s, v, n + 1);
}

static int conn_write(struct dconn *c, const void *buf, size_t len)
{
    struct iovec v = {(void *)(uintptr_t)buf, len};
    return conn_writev(c, &v, 1);
}

static int queue_empty(const struct dconn *c)
{
    return (c->q == NULL || c->q->n == 0) && (c->dq == NULL || c->dq->n == 0);
}

/* Write out both queues (disco first: it is small and time-sensitive); the stream copies what the kernel
 * does not take, so the queues are empty after this. */
static void flush_queue(struct dconn *c)
{
    struct pktq *qs[2] = {c->dq, c->q};
    struct iovec v[IOV_CHUNK];
    size_t nv = 0;
    int failed = 0;
    for (int k = 0; k < 2; k++) {
        struct pktq *q = qs[k];
        if (q == NULL)
            continue;
        while (q->n > 0) {
            struct qpkt *pk = q->s[q->head];
            v[nv++] = (struct iovec){pk->b, pk->len};
            q->head = (q->head + 1) % q->cap;
            q->n--;
            if (nv == IOV_CHUNK || q->n == 0) {
                if (!failed && conn_writev(c, v, nv) != 0)
                    failed = 1;
                for (size_t i = 0; i < nv; i++)
                    free((uint8_t *)v[i].iov_base - offsetof(struct qpkt, b));
                if (failed)
                    c->srv->m.drops[DROP_WRITE_ERROR] += nv;
                nv = 0;
            }
        }
    }
    free(c->q);
    free(c->dq);
    c->q = c->dq = NULL;
    bp_room_release(&c->room);
}

/* ---- back-pressure ---- */

static void bp_unlink(struct dconn *c)
{
    struct bp_pause *b = c->bp;
    if (b == NULL || b->room == NULL)
        return;
    *b->pprev = b->next;
    if (b->next != NULL)
        b->next->bp->pprev = b->pprev;
    b->room = NULL;
    b->next = NULL;
    b->pprev = NULL;
    timer_stop(&b->t);
}

void bp_room_release(struct bp_room *r)
{
    r->overflowing = 0;
    while (r->head != NULL) {
        struct dconn *c = r->head;
        bp_unlink(c);
        conn_resume(c);
    }
}

/* A sender waited the limit: the destination is not draining. Stop making anyone wait for it, so the
 * senders' other traffic flows; its packets take the head-drop path until it drains (or its write timeout
 * drops it). */
static void on_bp_timeout(struct timer *t, void *arg)
{
    struct dconn *c = arg;
    struct bp_room *r = c->bp->room;
    if (r == NULL)
        return;
    c->srv->m.bp_overflows++;
    bp_room_release(r);
    r->overflowing = 1;
}

int bp_wait(struct dconn *c, struct bp_room *r)
{
    if (r->overflowing || c->state != CS_RUNNING || c->s == NULL)
        return 0;
    if (c->bp == NULL) {
        if ((c->bp = calloc(1, sizeof(*c->bp))) == NULL)
            return 0;
        timer_init(&c->bp->t, c->srv->loop, on_bp_timeout, c);
    }
    struct bp_pause *b = c->bp;
    if (b->room != NULL)
        return 1;
    b->room = r;
    b->next = r->head;
    if (r->head != NULL)
        r->head->bp->pprev = &b->next;
    b->pprev = &r->head;
    r->head = c;
    timer_start(&b->t, (uint64_t)c->srv->conf->backpressure_wait);
    c->srv->m.bp_pauses++;
    return 1;
}

/* Is dst's queue for this kind of packet full (so that one more would push out its oldest)? */
static int dst_full(const struct dconn *dst, int disco)
{
    const struct pktq *q = disco ? dst->dq : dst->q;
    return dst->state == CS_RUNNING && dst->s != NULL && q != NULL && q->n >= q->cap;
}

static void mark_dirty(struct derp_server *srv, struct dconn *c)
{
    if (c->dirty)
        return;
    if (srv->ndirty == srv->capdirty) {
        size_t cap = srv->capdirty ? srv->capdirty * 2 : 64;
        struct dconn **d = realloc(srv->dirty, cap * sizeof(*d));
        if (d == NULL)
            return; /* flushed later by the drain callback or the next read */
        srv->dirty = d;
        srv->capdirty = cap;
    }
    c->dirty = 1;
    srv->dirty[srv->ndirty++] = c;
}

static void enqueue(struct dconn *c, const uint8_t *frame, size_t len, int disco)
{
    struct derp_server *srv = c->srv;
    struct pktq **qp = disco ? &c->dq : &c->q;
    uint32_t depth = (uint32_t)srv->conf->queue_depth;
    if (*qp == NULL) {
        if ((*qp = calloc(1, sizeof(struct pktq) + depth * sizeof(struct qpkt *))) == NULL) {
            srv->m.drops[DROP_WRITE_ERROR]++;
            return;
        }
        (*qp)->cap = depth;
    }
    struct pktq *q = *qp;
    struct qpkt *pk = malloc(sizeof(*pk) + len);
    if (pk == NULL) {
        srv->m.drops[DROP_WRITE_ERROR]++;
        return;
    }
    pk->len = (uint32_t)len;
    memcpy(pk->b, frame, len);
    if (q->n == q->cap) { /* head drop: the newest packet is the one worth delivering */
        free(q->s[q->head]);
        q->head = (q->head + 1) % q->cap;
        q->n--;
        srv->m.drops[DROP_QUEUE_HEAD]++;
    }
    q->s[(q->head + q->n) % q->cap] = pk;
    q->n++;
    mark_dirty(srv, c);
}

/* Hand a whole RecvPacket frame to dst: batched as a view of the sender's input when dst is idle (written at
 * the end of the current read, without a copy), else copied into its bounded queue. */
static void deliver(struct derp_server *srv, struct dconn *dst, const uint8_t *frame, size_t len,
                    size_t data_len, int disco)
{
    if (dst->state != CS_RUNNING || dst->s == NULL) {
        srv->m.drops[DROP_GONE]++;
        return;
    }
    srv->m.packets_relayed++;
    srv->m.bytes_relayed += data_len;
    if (dst->ws == NULL && queue_empty(dst) && dst->bbytes + len <= BATCH_MAX &&
        stream_queued(dst->s) == 0) {
        if (srv->nbents == srv->capbents) {
            size_t cap = srv->capbents ? srv->capbents * 2 : 1024;
            struct bent *b = realloc(srv->bents, cap * sizeof(*b));
            if (b == NULL) {
                enqueue(dst, frame, len, disco);
                return;
            }
            srv->bents = b;
            srv->capbents = cap;
        }
        int32_t i = (int32_t)srv->nbents++;
        srv->bents[i] = (struct bent){frame, (uint32_t)len, -1};
        if (dst->bhead < 0)
            dst->bhead = i;
        else
            srv->bents[dst->btail].next = i;
        dst->btail = i;
        dst->bbytes += (uint32_t)len;
        mark_dirty(srv, dst);
        return;
    }
    enqueue(dst, frame, len, disco);
}

/* End of a read: one writev per destination for its batch (adjacent frames merged), then its queue. */
static void flush_batches(struct derp_server *srv)
{
    for (size_t k = 0; k < srv->ndirty; k++) {
        struct dconn *d = srv->dirty[k];
        struct iovec v[IOV_CHUNK];
        size_t nv = 0;
        d->dirty = 0;
        for (int32_t i = d->bhead; i >= 0; i = srv->bents[i].next) {
            const struct bent *b = &srv->bents[i];
            if (nv > 0 && (const uint8_t *)v[nv - 1].iov_base + v[nv - 1].iov_len == b->p) {
                v[nv - 1].iov_len += b->len;
                continue;
            }
            if (nv == IOV_CHUNK) {
                if (conn_writev(d, v, nv) != 0)
                    srv->m.drops[DROP_WRITE_ERROR]++;
                nv = 0;
            }
            v[nv++] = (struct iovec){(void *)(uintptr_t)b->p, b->len};
        }
        if (nv > 0 && conn_writev(d, v, nv) != 0)
            srv->m.drops[DROP_WRITE_ERROR]++;
        d->bhead = d->btail = -1;
        d->bbytes = 0;
        if (!queue_empty(d) && d->s != NULL && d->state == CS_RUNNING && stream_queued(d->s) == 0)
            flush_queue(d);
    }
    srv->ndirty = 0;
    srv->nbents = 0;
}

/* ---- watchers (mesh peers that sent WatchConns) ---- */

static uint8_t conn_flags(const struct dconn *c)
{
    if (c->is_mesh)
        return DERP_PEER_PRESENT_IS_MESH_PEER;
    if (c->is_prober)
        return DERP_PEER_PRESENT_IS_PROBER;
    return DERP_PEER_PRESENT_IS_REGULAR;
}

static void tell_watchers(struct derp_server *srv, const uint8_t *frame, size_t len, uint64_t *counter)
{
    for (size_t i = 0; i < srv->nwatchers; i++)
        if (conn_write(srv->watchers[i], frame, len) == 0)
            (*counter)++;
}

static void announce(struct derp_server *srv, struct dconn *c, int present)
{
    uint8_t f[64];
    long n;
    if (srv->nwatchers == 0 || c->is_mesh)
        return;
    if (present) {
        n = derp_peer_present_encode(f, sizeof(f), c->key, c->ip, c->port, conn_flags(c));
        tell_watchers(srv, f, (size_t)n, &srv->m.peer_present_sent);
    } else {
        n = derp_peer_gone_encode(f, sizeof(f), c->key, DERP_PEER_GONE_DISCONNECTED);
        tell_watchers(srv, f, (size_t)n, &srv->m.peer_gone_sent);
    }
}

static int add_watcher(struct derp_server *srv, struct dconn *c)
{
    if (c->watcher)
        return 0;
    if (srv->nwatchers == srv->capwatchers) {
        size_t cap = srv->capwatchers ? srv->capwatchers * 2 : 8;
        struct dconn **w = realloc(srv->watchers, cap * sizeof(*w));
        if (w == NULL)
            return -1;
        srv->watchers = w;
        srv->capwatchers = cap;
    }
    srv->watchers[srv->nwatchers++] = c;
    c->watcher = 1;
    /* the flood: everyone connected here now */
    for (size_t b = 0; b < srv->nbuckets; b++)
        for (struct peer *p = srv->buckets[b]; p != NULL; p = p->hnext) {
            struct dconn *a = p->active;
            if (a == NULL || a->is_mesh)
                continue;
            uint8_t f[64];
            long n = derp_peer_present_encode(f, sizeof(f), p->key, a->ip, a->port, conn_flags(a));
            if (conn_write(c, f, (size_t)n) == 0)
                srv->m.peer_present_sent++;
        }
    return 0;
}

static void del_watcher(struct derp_server *srv, struct dconn *c)
{
    for (size_t i = 0; i < srv->nwatchers; i++)
        if (srv->watchers[i] == c) {
            srv->watchers[i] = srv->watchers[--srv->nwatchers];
            break;
        }
    c->watcher = 0;
}

/* ---- per-connection timers ---- */

/* The keep-alive interval plus jitter (up to 5 s, a tenth of the interval when that is shorter), so the
 * connections accepted together don't all wake together. */
static uint64_t keepalive_ms(const struct derp_server *srv)
{
    uint32_t jitter = (uint32_t)(srv->conf->keepalive / 10 < 5000 ? srv->conf->keepalive / 10 : 5000);
    return (uint64_t)srv->conf->keepalive + randombytes_uniform(jitter + 1);
}

static void on_keepalive(struct timer *t, void *arg)
{
    struct dconn *c = arg;
    uint8_t f[DERP_FRAME_HEADER_LEN];
    derp_keep_alive_encode(f, sizeof(f));
    if (conn_write(c, f, sizeof(f)) == 0)
        c->srv->m.keepalives++;
    timer_start(&c->ka, keepalive_ms(c->srv));
}

/* Is c's input on hold: a rate-limit pause or a wait for room at a destination? */
static int conn_held(const struct dconn *c)
{
    return (c->bp != NULL && c->bp->room != NULL) || (c->rl != NULL && timer_armed(&c->rl->t));
}

/* Input received and not yet processed (WebSocket: unwrapped or not). */
static size_t conn_backlog(struct dconn *c)
{
    size_t n = 0;
    if (c->s != NULL)
        stream_input(c->s, &n);
    return n + (c->ws != NULL ? c->ws->len : 0);
}

/* Read from the socket, or not, as c's state says. */
static void conn_reading(struct dconn *c)
{
    if (c->state == CS_CLOSING || c->s == NULL)
        return;
    int want = c->state != CS_VERIFYING && !conn_held(c) && conn_backlog(c) < READ_RESUME_BELOW;
    if (want && c->read_off) {
        c->read_off = 0;
        stream_read_start(c->s); /* input already buffered comes again on the next round */
    } else if (!want && !c->read_off) {
        c->read_off = 1;
        stream_read_stop(c->s);
    }
}

/* Process c's buffered input on the next loop round (one timer for the server: a connection that goes
 * meanwhile takes itself off the list). */
static void kick_later(struct dconn *c)
{
    struct derp_server *srv = c->srv;
    if (c->kick_queued)
        return;
    if (srv->nkicks == srv->capkicks) {
        size_t cap = srv->capkicks ? srv->capkicks * 2 : 64;
        struct dconn **k = realloc(srv->kicks, cap * sizeof(*k));
        if (k == NULL)
            return; /* it reads again when its socket has more */
        srv->kicks = k;
        srv->capkicks = cap;
    }
    srv->kicks[srv->nkicks++] = c;
    c->kick_queued = 1;
    if (!timer_armed(&srv->kick_t))
        timer_start(&srv->kick_t, 0);
}

static void conn_input(struct dconn *c);

static void on_kick(struct timer *t, void *arg)
{
    struct derp_server *srv = arg;
    size_t n = srv->nkicks; /* those queued by these wait for the next round */
    for (size_t i = 0; i < n; i++) {
        struct dconn *c = srv->kicks[i];
        if (c == NULL)
            continue;
        srv->kicks[i] = NULL;
        c->kick_queued = 0;
        if (c->state == CS_RUNNING && c->s != NULL)
            conn_input(c);
    }
    memmove(srv->kicks, srv->kicks + n, (srv->nkicks - n) * sizeof(*srv->kicks));
    srv->nkicks -= n;
    if (srv->nkicks > 0)
        timer_start(&srv->kick_t, 0);
}

/* The hold on c's input is over: work off what is buffered, then read again. */
static void conn_resume(struct dconn *c)
{
    if (c->state == CS_CLOSING || c->s == NULL)
        return;
    if (c->state == CS_RUNNING && !conn_held(c) && conn_backlog(c) > 0)
        kick_later(c);
    conn_reading(c);
}

static void on_rl_timer(struct timer *t, void *arg)
{
    conn_resume(arg);
}

/* The receive token bucket: 1 if size bytes may be read now, else 0 and reading pauses until they may. */
static int rl_take(struct dconn *c, size_t size)
{
    struct rlim *rl = c->rl;
    const struct derp_conf *conf = c->srv->conf;
    uint64_t now = loop_now(c->srv->loop);
    rl->tokens += (double)(now - rl->last) * (double)conf->rate_limit / 1000.0;
    rl->last = now;
    if (rl->tokens > (double)conf->rate_burst)
        rl->tokens = (double)conf->rate_burst;
    if (rl->tokens >= (double)size) {
        rl->tokens -= (double)size;
        return 1;
    }
    uint64_t wait = (uint64_t)(((double)size - rl->tokens) * 1000.0 / (double)conf->rate_limit) + 1;
    timer_start(&rl->t, wait); /* conn_input stops reading */
    c->srv->m.rate_limited++;
    return 0;
}

static void rl_start(struct dconn *c)
{
    struct derp_server *srv = c->srv;
    if ((c->rl = calloc(1, sizeof(*c->rl))) != NULL) {
        c->rl->tokens = (double)srv->conf->rate_burst;
        c->rl->last = loop_now(srv->loop);
        timer_init(&c->rl->t, srv->loop, on_rl_timer, c);
    }
}

void derp_server_limits_changed(struct derp_server *srv, int accept_changed)
{
    const struct derp_conf *conf = srv->conf;
    if (accept_changed) /* a new rate starts with a full bucket, as at start */
        accept_limit_init(&srv->accept, conf->max_conns, conf->accept_rate, conf->accept_burst,
                          loop_now(srv->loop));
    else
        srv->accept.max_conns = conf->max_conns; /* the bucket goes on */
    for (struct dconn *c = srv->conns; c != NULL; c = c->next) {
        if (c->state != CS_RUNNING)
            continue; /* the rest get the new values when they are admitted */
        stream_set_write_timeout(c->s, (unsigned)(c->is_mesh ? conf->mesh_write_timeout : conf->write_timeout));
        if (c->is_mesh)
            continue;
        if (conf->rate_limit > 0 && c->rl == NULL) {
            rl_start(c);
        } else if (conf->rate_limit == 0 && c->rl != NULL) {
            timer_stop(&c->rl->t);
            free(c->rl);
            c->rl = NULL;
            conn_resume(c); /* it may have been waiting for tokens */
        } else if (c->rl != NULL && c->rl->tokens > (double)conf->rate_burst) {
            c->rl->tokens = (double)conf->rate_burst;
        }
    }
}

/* ---- admission and registration ---- */

static void send_server_info(struct dconn *c)
{
    struct derp_server_info si = {.version = DERP_PROTOCOL_VERSION};
    uint8_t f[256];
    long n = derp_server_info_seal(f, sizeof(f), c->srv->priv.b, c->key, NULL, &si);
    if (n > 0)
        conn_write(c, f, (size_t)n);
}

void derp_admit_done(struct dconn *c, int allow, const char *why)
{
    struct derp_server *srv = c->srv;
    c->verify = NULL;
    if (c->state != CS_HANDSHAKE && c->state != CS_VERIFYING)
        return;
    if (!allow) {
        char ks[KEY_TEXT_MAX];
        key_format(ks, sizeof(ks), KEY_TEXT_NODE, (const struct key *)c->key);
        log_info("module=derp event=refused key=%s reason=\"%s\"", ks, why ? why : "not admitted");
        srv->m.admission_denied++;
        conn_kill(c, NULL);
        return;
    }
    c->state = CS_RUNNING;
    stream_set_deadline(c->s, 0);
    stream_set_write_timeout(
        c->s, (unsigned)(c->is_mesh ? srv->conf->mesh_write_timeout : srv->conf->write_timeout));
    send_server_info(c);
    struct peer *p = peer_get(srv, c->key);
    if (p == NULL) {
        conn_kill(c, "out of memory");
        return;
    }
    int first = p->conns == NULL;
    c->peer = p;
    c->dup_next = p->conns;
    p->conns = c;
    p->active = c; /* the newest connection for a key is active until another one sends */
    if (c->is_mesh)
        srv->nmesh++;
    else
        srv->nclients++;
    if (first)
        announce(srv, c, 1);
    if (srv->conf->rate_limit > 0 && !c->is_mesh)
        rl_start(c);
    timer_start(&c->ka, keepalive_ms(srv));
    if (c->state == CS_RUNNING)
        conn_resume(c);
}

/* ClientInfo: who it is; a mesh peer is in at once, anyone else goes through admission. -1: drop it. */
static int handle_client_info(struct dconn *c, const struct derp_frame *f)
{
    struct derp_server *srv = c->srv;
    struct derp_client_info ci;
    if (f->type != DERP_FRAME_CLIENT_INFO)
        return -1;
    if (derp_client_info_open(f->payload, f->len, srv->priv.b, c->key, &ci) != 0)
        return -1;
    c->is_prober = ci.is_prober;
    if (ci.has_mesh_key && srv->has_mesh_key && sodium_memcmp(ci.mesh_key, srv->mesh_key, 32) == 0) {
        c->is_mesh = 1;
        sodium_memzero(&ci, sizeof(ci));
        derp_admit_done(c, 1, NULL);
        return 0;
    }
    sodium_memzero(&ci, sizeof(ci));
    c->state = CS_VERIFYING;
    conn_reading(c);
    char ip[ADDR_STRLEN];
    struct sockaddr_storage ss;
    socklen_t sl = stream_peer(c->s, (struct sockaddr *)&ss);
    addr_format((struct sockaddr *)&ss, sl, ip, sizeof(ip));
    /* the admission URL wants the bare IP */
    char *colon = strrchr(ip, ':');
    if (colon != NULL && strncmp(ip, "unix:", 5) != 0) {
        *colon = 0;
        if (ip[0] == '[') {
            memmove(ip, ip + 1, strlen(ip));
            ip[strlen(ip) - 1] = 0;
        }
    }
    struct verify_req *v = derp_admit(srv, c, c->key, ip);
    if (v != NULL && c->state == CS_VERIFYING)
        c->verify = v;
    return 0;
}

/* ---- frames from a running client ---- */

static void not_here(struct dconn *c, const uint8_t dst[32])
{
    uint64_t now = loop_now(c->srv->loop);
    uint64_t refill = (now - c->nothere_last) / 1000;
    if (refill > 0) {
        c->nothere_tokens = (uint8_t)(c->nothere_tokens + refill > 3 ? 3 : c->nothere_tokens + refill);
        c->nothere_last = now;
    }
    if (c->nothere_tokens == 0)
        return;
    c->nothere_tokens--;
    uint8_t f[64];
    long n = derp_peer_gone_encode(f, sizeof(f), dst, DERP_PEER_GONE_NOT_HERE);
    if (conn_write(c, f, (size_t)n) == 0)
        c->srv->m.not_here_sent++;
}

static void note_sent(struct dconn *c, struct peer *from, const uint8_t dst[32])
{
    if (memcmp(c->last_dst, dst, 32) == 0)
        return;
    memcpy(c->last_dst, dst, 32);
    sent_add(from, dst);
}

/* SendPacket: rewritten in place into the RecvPacket the destination gets (same size: type and key change).
 */
static int on_send_packet(struct dconn *c, uint8_t *frame, const struct derp_frame *f)
{
    struct derp_server *srv = c->srv;
    struct derp_packet pk;
    if (derp_send_packet_decode(f->payload, f->len, &pk) != 0 || pk.data_len > DERP_MAX_PACKET_SIZE)
        return -1;
    struct peer *dp = peer_find(srv, pk.dst_key);
    int disco = disco_looks_like_wrapper(pk.data, pk.data_len);
    /* a full destination: leave the frame unread and wait (the caller stops reading) */
    if (dp != NULL && dp->active != NULL && dst_full(dp->active, disco) && bp_wait(c, &dp->active->room))
        return 1;
    if (dp != NULL && dp->active == NULL && dp->fwd != NULL && mesh_wait(srv, dp->fwd, c))
        return 1;
    srv->m.packets_recv++;
    srv->m.bytes_recv += pk.data_len;
    if (dp != NULL && dp->active != NULL) {
        note_sent(c, c->peer, pk.dst_key);
        struct dconn *dst = dp->active;
        frame[0] = DERP_FRAME_RECV_PACKET;
        memcpy(frame + DERP_FRAME_HEADER_LEN, c->key, 32);
        deliver(srv, dst, frame, DERP_FRAME_HEADER_LEN + f->len, pk.data_len, disco);
        return 0;
    }
    if (dp != NULL && dp->fwd != NULL) {
        note_sent(c, c->peer, pk.dst_key);
        if (mesh_forward(srv, dp->fwd, c->key, pk.dst_key, pk.data, pk.data_len) == 0) {
            srv->m.packets_forwarded++;
            srv->m.bytes_forwarded += pk.data_len;
        }
        return 0;
    }
    srv->m.drops[DROP_UNKNOWN_DEST]++;
    if (disco)
        not_here(c, pk.dst_key);
    return 0;
}

/* ForwardPacket from a mesh peer: src ‖ dst ‖ data becomes RecvPacket(src ‖ data) 32 bytes further on. */
static int on_forward_packet(struct dconn *c, uint8_t *frame, const struct derp_frame *f)
{
    struct derp_server *srv = c->srv;
    struct derp_packet pk;
    if (derp_forward_packet_decode(f->payload, f->len, &pk) != 0 || pk.data_len > DERP_MAX_PACKET_SIZE)
        return -1;
    if (!c->is_mesh) {
        srv->m.drops[DROP_NOT_MESH]++;
        return -2;
    }
    struct peer *dp = peer_find(srv, pk.dst_key);
    int disco = disco_looks_like_wrapper(pk.data, pk.data_len);
    if (dp != NULL && dp->active != NULL && dst_full(dp->active, disco) && bp_wait(c, &dp->active->room))
        return 1;
    srv->m.packets_recv++;
    srv->m.bytes_recv += pk.data_len;
    if (dp == NULL || dp->active == NULL) {
        srv->m.drops[DROP_UNKNOWN_DEST_FWD]++;
        return 0; /* never forwarded again: no loops between mesh peers */
    }
    struct peer *sp = peer_find(srv, pk.src_key);
    if (sp != NULL)
        sent_add(sp, pk.dst_key);
    uint8_t *out = frame + 32;
    memmove(out + DERP_FRAME_HEADER_LEN, frame + DERP_FRAME_HEADER_LEN, 32); /* src key */
    derp_frame_header_put(out, DERP_FRAME_RECV_PACKET, (uint32_t)(32 + pk.data_len));
    deliver(srv, dp->active, out, DERP_FRAME_HEADER_LEN + 32 + pk.data_len, pk.data_len, disco);
    return 0;
}

static void close_peer(struct derp_server *srv, const uint8_t key[32])
{
    struct peer *p = peer_find(srv, key);
    if (p == NULL)
        return;
    for (struct dconn *d = p->conns; d != NULL; d = d->dup_next)
        if (!d->is_mesh)
            conn_kill(d, NULL);
}

void derp_server_drop_key(struct derp_server *srv, const uint8_t key[32], const char *why)
{
    struct peer *p = peer_find(srv, key);
    if (p == NULL)
        return;
    for (struct dconn *d = p->conns; d != NULL; d = d->dup_next)
        if (!d->is_mesh)
            conn_kill(d, why);
}

/* One frame from a running client; frame points at its header (it may be rewritten). -1: drop the client
 * (malformed), -2: drop it (a mesh-only frame from a client without the mesh key, as derper does); 1: the
 * frame was left alone and c waits for room at its destination. */
static int handle_frame(struct dconn *c, uint8_t *frame, const struct derp_frame *f)
{
    struct derp_server *srv = c->srv;
    if (c->peer->active != c)
        c->peer->active = c; /* duplicates: the one that sent last gets the packets */
    switch (f->type) {
    case DERP_FRAME_SEND_PACKET:
        return on_send_packet(c, frame, f);
    case DERP_FRAME_FORWARD_PACKET:
        return on_forward_packet(c, frame, f);
    case DERP_FRAME_NOTE_PREFERRED: {
        bool pref;
        if (derp_note_preferred_decode(f->payload, f->len, &pref) != 0)
            return -1;
        if (pref && !c->preferred) {
            srv->npreferred++;
            srv->m.home_conns_total++;
        } else if (!pref && c->preferred) {
            srv->npreferred--;
        }
        c->preferred = pref;
        return 0;
    }
    case DERP_FRAME_PING: {
        const uint8_t *d;
        uint8_t out[DERP_FRAME_HEADER_LEN + 8];
        if (derp_ping_decode(f->payload, f->len, &d) != 0)
            return -1;
        srv->m.pings++;
        derp_pong_encode(out, sizeof(out), d);
        if (conn_write(c, out, sizeof(out)) == 0)
            srv->m.pongs_sent++;
        return 0;
    }
    case DERP_FRAME_WATCH_CONNS:
        if (!c->is_mesh)
            return -2;
        return add_watcher(srv, c);
    case DERP_FRAME_CLOSE_PEER: {
        const uint8_t *k;
        if (!c->is_mesh)
            return -2;
        if (derp_close_peer_decode(f->payload, f->len, &k) != 0)
            return -1;
        close_peer(srv, k);
        return 0;
    }
    case DERP_FRAME_PONG:
        return 0;
    default:
        srv->m.frames_unknown++; /* unknown types are skipped, as the protocol says */
        return 0;
    }
}

/* Parse and act on the whole frames in buf; returns the bytes used. *why is set when c must go. */
static size_t process(struct dconn *c, uint8_t *buf, size_t len, const char **why)
{
    size_t off = 0;
    while (off < len && (c->state == CS_HANDSHAKE || c->state == CS_RUNNING)) {
        struct derp_frame f;
        uint32_t max = c->state == CS_HANDSHAKE ? DERP_MAX_CLIENT_INFO_LEN : MAX_STEADY_FRAME;
        long r = derp_frame_parse(buf + off, len - off, max, &f);
        if (r == DERP_PARSE_NEED_MORE)
            break;
        if (r < 0) {
            c->srv->m.clients_dropped_oversized++;
            *why = "oversized frame";
            break;
        }
        if (c->state == CS_HANDSHAKE) {
            if (handle_client_info(c, &f) != 0) {
                c->srv->m.handshake_failures++;
                *why = "bad ClientInfo";
                break;
            }
            off += (size_t)r;
            continue;
        }
        if (c->rl != NULL && !rl_take(c, (size_t)r))
            break;
        int hr = handle_frame(c, buf + off, &f);
        if (hr > 0) {
            if (c->rl != NULL)
                c->rl->tokens += (double)r; /* read again after the wait */
            break;
        }
        if (hr == -2) {
            c->srv->m.clients_dropped_not_mesh++;
            *why = "mesh-only frame (WatchConns, ClosePeer, ForwardPacket) from a client without the mesh key";
            off += (size_t)r;
            break;
        }
        if (hr != 0) {
            c->srv->m.clients_dropped_malformed++;
            *why = "malformed frame";
            off += (size_t)r;
            break;
        }
        off += (size_t)r;
    }
    return off;
}

static void ws_pong(void *arg, const uint8_t *p, size_t n)
{
    struct dconn *c = arg;
    uint8_t h[10];
    struct iovec v[2] = {{h, ws_frame_header(h, 10, n)}, {(void *)(uintptr_t)p, n}};
    stream_writev(c->s, v, 2);
}

/* WebSocket: move the payload of whole data frames, unmasked, into c->ws; answer pings; -1 on close/error.
 */
static int ws_unwrap(struct dconn *c, const char **why)
{
    size_t len, used = 0;
    uint8_t *in = stream_input(c->s, &len);
    int rc = ws_unwrap_input(c->ws, in, len, MAX_STEADY_FRAME, &used, ws_pong, c, why);
    stream_consume(c->s, used);
    return rc;
}

static void conn_input(struct dconn *c)
{
    struct derp_server *srv = c->srv;
    const char *why = NULL;
    int kill = 0;
    if (c->ws != NULL) {
        /* what is unwrapped first, then more, while it moves: ws->buf holds a few frames at most */
        for (;;) {
            size_t used = process(c, c->ws->buf, c->ws->len, &why);
            flush_batches(srv);
            if (used > 0) { /* (buf is NULL until the first frame arrives) */
                memmove(c->ws->buf, c->ws->buf + used, c->ws->len - used);
                c->ws->len -= used;
            }
            if (kill || why != NULL || c->s == NULL || conn_held(c) ||
                (c->state != CS_RUNNING && c->state != CS_HANDSHAKE))
                break;
            size_t before = c->ws->len, in;
            stream_input(c->s, &in);
            if (ws_unwrap(c, &why) != 0)
                kill = 1; /* after what came before it is handled */
            size_t left;
            stream_input(c->s, &left);
            if (!kill && c->ws->len == before && left == in)
                break;
        }
    } else {
        size_t len;
        uint8_t *buf = stream_input(c->s, &len);
        size_t used = process(c, buf, len, &why);
        flush_batches(srv); /* before the input is consumed: the batches are views of it */
        stream_consume(c->s, used);
    }
    if (kill || why != NULL)
        conn_kill(c, why);
    else
        conn_reading(c); /* stops while held (until conn_resume) or while a backlog is left */
}

static void on_read(struct stream *s, void *arg)
{
    conn_input(arg);
}

static void on_drain(struct stream *s, void *arg)
{
    struct dconn *c = arg;
    if (c->state != CS_RUNNING)
        return;
    if (!queue_empty(c))
        flush_queue(c);
    bp_room_release(&c->room);
}

/* ---- connection life ---- */

static void conn_free(struct dconn *c)
{
    struct derp_server *srv = c->srv;
    if (c->verify != NULL)
        verify_cancel(c->verify);
    if (c->watcher)
        del_watcher(srv, c);
    if (c->peer != NULL) {
        struct peer *p = c->peer;
        struct dconn **pp = &p->conns;
        while (*pp != NULL && *pp != c)
            pp = &(*pp)->dup_next;
        if (*pp == c)
            *pp = c->dup_next;
        if (p->active == c)
            p->active = p->conns;
        if (c->is_mesh)
            srv->nmesh--;
        else
            srv->nclients--;
        if (p->conns == NULL) {
            announce(srv, c, 0);
            peer_maybe_free(srv, p);
        }
        c->peer = NULL;
    }
    if (c->preferred)
        srv->npreferred--;
    if (c->ws != NULL) {
        srv->nws--;
        free(c->ws->buf);
        free(c->ws);
    }
    if (c->rl != NULL) {
        timer_stop(&c->rl->t);
        free(c->rl);
    }
    if (c->bp != NULL) {
        bp_unlink(c);
        free(c->bp);
    }
    bp_room_release(&c->room); /* its waiters find it gone */
    if (c->kick_queued)
        for (size_t i = 0; i < srv->nkicks; i++)
            if (srv->kicks[i] == c)
                srv->kicks[i] = NULL;
    timer_stop(&c->ka);
    struct pktq *qs[2] = {c->q, c->dq};
    for (int k = 0; k < 2; k++)
        if (qs[k] != NULL) {
            for (uint32_t i = 0; i < qs[k]->n; i++)
                free(qs[k]->s[(qs[k]->head + i) % qs[k]->cap]);
            free(qs[k]);
        }
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    srv->nconns--;
    free(c);
}

static void on_close(struct stream *s, const char *err, void *arg)
{
    struct dconn *c = arg;
    if (err != NULL && c->state != CS_CLOSING &&
        (strstr(err, "timeout") != NULL || strcmp(err, "deadline") == 0))
        log_info("module=derp event=drop id=%llu reason=\"%s\"", (unsigned long long)c->id, err);
    else if (err != NULL && c->state != CS_CLOSING)
        log_debug("module=derp event=disconnect id=%llu reason=\"%s\"", (unsigned long long)c->id, err);
    c->state = CS_CLOSING;
    c->s = NULL;
    conn_free(c);
}

/* Drop a client now (its close callback frees it from the loop). */
static void conn_kill(struct dconn *c, const char *why)
{
    if (c->state == CS_CLOSING || c->s == NULL)
        return;
    if (why != NULL) {
        char peer[ADDR_STRLEN];
        log_info("module=derp event=drop id=%llu peer=%s reason=\"%s\"", (unsigned long long)c->id,
                 stream_peer_str(c->s, peer, sizeof(peer)), why);
    }
    c->state = CS_CLOSING;
    stream_close(c->s);
}

static void start_conn(struct derp_server *srv, struct stream *s, int ws)
{
    if (s == NULL)
        return;
    struct dconn *c = calloc(1, sizeof(*c));
    if (c == NULL || (ws && (c->ws = calloc(1, sizeof(*c->ws))) == NULL)) {
        if (c != NULL)
            free(c);
        stream_close(s);
        return;
    }
    c->srv = srv;
    c->s = s;
    c->id = ++srv->next_id;
    c->bhead = c->btail = -1;
    c->nothere_tokens = 3;
    c->nothere_last = loop_now(srv->loop);
    timer_init(&c->ka, srv->loop, on_keepalive, c);
    /* Read a client a piece at a time (plain TCP; h2o reads all the kernel holds otherwise): a sender that
     * was paused has megabytes waiting there, which would land at once in a buffer grown and faulted in for
     * them, and be worked off from cold memory. */
    stream_set_read_chunk(s, READ_CHUNK);
    if (srv->conf->tcp_keepalive > 0) {
        /* Finds dead idle peers without traffic of ours: probes after T idle, every T/3, 3 of them. */
        unsigned idle = (unsigned)((srv->conf->tcp_keepalive + 999) / 1000);
        if (stream_set_tcp_keepalive(s, idle, idle / 3 ? idle / 3 : 1, 3) != 0)
            log_debug("module=derp event=tcp_keepalive id=%llu error=\"%s\"", (unsigned long long)c->id,
                      strerror(errno));
    }
    struct sockaddr_storage ss;
    socklen_t sl = stream_peer(s, (struct sockaddr *)&ss);
    if (sl > 0 && ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        c->ip[10] = c->ip[11] = 0xff;
        memcpy(c->ip + 12, &in->sin_addr, 4);
        c->port = ntohs(in->sin_port);
    } else if (sl > 0 && ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        memcpy(c->ip, &in6->sin6_addr, 16);
        c->port = ntohs(in6->sin6_port);
    }
    c->next = srv->conns;
    if (c->next != NULL)
        c->next->prev = c;
    srv->conns = c;
    srv->nconns++;
    if (ws)
        srv->nws++;
    srv->m.accepts++;
    stream_set_callbacks(s, on_read, on_drain, on_close, c);
    stream_set_deadline(s, (unsigned)srv->conf->handshake_timeout);
    uint8_t f[64];
    long n = derp_server_key_encode(f, sizeof(f), srv->pub.b);
    conn_write(c, f, (size_t)n);
    stream_read_start(s);
}

static void on_upgraded_derp(struct stream *s, void *arg)
{
    start_conn(arg, s, 0);
}

static void on_upgraded_ws(struct stream *s, void *arg)
{
    start_conn(arg, s, 1);
}

static int accept_allowed(struct derp_server *srv)
{
    int rc = accept_limit_check(&srv->accept, srv->nconns, loop_now(srv->loop));
    if (rc == 503)
        srv->m.accepts_refused_limit++;
    else if (rc == 429)
        srv->m.accepts_refused_rate++;
    return rc;
}

/* Does the comma-separated header value list the token? */
static int has_token(const char *list, const char *tok)
{
    size_t tl = strlen(tok);
    for (const char *p = list; p != NULL && *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        size_t l = strcspn(p, ", \t");
        if (l == tl && strncasecmp(p, tok, tl) == 0)
            return 1;
        p += l;
    }
    return 0;
}

void derp_handle_upgrade(struct http_req *req, void *arg)
{
    struct derp_server *srv = arg;
    enum derp_upgrade_kind kind = derp_http_upgrade_kind(http_req_header(req, "Upgrade"));
    if (kind == DERP_UPGRADE_NONE || http_req_version(req) >= 0x200) {
        http_respond_text(req, 426, DERP_UPGRADE_REQUIRED_BODY);
        return;
    }
    if (srv->stopping) {
        http_respond_text(req, 503, "shutting down\n");
        return;
    }
    int refuse = accept_allowed(srv);
    if (refuse != 0) {
        http_respond_text(req, refuse, refuse == 503 ? "too many connections\n" : "slow down\n");
        return;
    }
    if (kind == DERP_UPGRADE_DERP) {
        char hex[65];
        key_format(hex, sizeof(hex), KEY_TEXT_BARE, &srv->pub);
        const struct http_header h[] = {{DERP_HDR_VERSION, "2"}, {DERP_HDR_PUBLIC_KEY, hex}};
        if (http_upgrade(req, "DERP", h, 2, on_upgraded_derp, srv) != 0)
            http_respond_text(req, 426, DERP_UPGRADE_REQUIRED_BODY);
        return;
    }
    const char *wskey = http_req_header(req, "Sec-WebSocket-Key");
    if (!has_token(http_req_header(req, "Sec-WebSocket-Protocol"), "derp") || wskey == NULL) {
        http_respond_text(req, 400, "WebSocket clients must ask for the derp subprotocol\n");
        return;
    }
    char acc[32];
    ws_accept_key(wskey, acc);
    const struct http_header h[] = {{"Sec-WebSocket-Accept", acc}, {"Sec-WebSocket-Protocol", "derp"}};
    if (http_upgrade(req, "websocket", h, 2, on_upgraded_ws, srv) != 0)
        http_respond_text(req, 426, DERP_UPGRADE_REQUIRED_BODY);
}

/* ---- the server ---- */

struct derp_server *derp_server_new(struct weft_ctx *ctx, const struct derp_conf *conf,
                                    const struct key *priv)
{
    struct derp_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    srv->ctx = ctx;
    srv->loop = weft_loop(ctx);
    srv->conf = conf;
    srv->priv = *priv;
    if (key_public(&srv->pub, &srv->priv) != 0) {
        free(srv);
        return NULL;
    }
    randombytes_buf(srv->hash_key, sizeof(srv->hash_key));
    accept_limit_init(&srv->accept, conf->max_conns, conf->accept_rate, conf->accept_burst,
                      loop_now(srv->loop));
    timer_init(&srv->kick_t, srv->loop, on_kick, srv);
    return srv;
}

size_t derp_server_conns(const struct derp_server *srv)
{
    return srv->nconns;
}

void derp_server_stop(struct derp_server *srv)
{
    srv->stopping = 1;
    mesh_stop(srv);
    if (srv->stun != NULL) {
        stun_server_free(srv->stun);
        srv->stun = NULL;
    }
    uint8_t f[DERP_FRAME_HEADER_LEN + DERP_RESTARTING_LEN];
    derp_restarting_encode(f, sizeof(f), RESTART_RECONNECT_MS, RESTART_TRY_FOR_MS);
    for (struct dconn *c = srv->conns; c != NULL; c = c->next) {
        if (c->state == CS_RUNNING) {
            conn_write(c, f, sizeof(f));
            c->state = CS_CLOSING;
            stream_end(c->s);
        } else {
            conn_kill(c, NULL);
        }
    }
}

void derp_server_free(struct derp_server *srv)
{
    if (srv == NULL)
        return;
    srv->stopping = 1;
    mesh_stop(srv);
    if (srv->stun != NULL)
        stun_server_free(srv->stun);
    for (struct dconn *c = srv->conns; c != NULL; c = c->next) {
        if (c->s != NULL) {
            stream_set_callbacks(c->s, NULL, NULL, NULL, NULL);
            stream_close(c->s);
            c->s = NULL;
        }
        c->state = CS_CLOSING;
        c->watcher = 0;
    }
    srv->nwatchers = 0; /* nobody is left to tell */
    while (srv->conns != NULL)
        conn_free(srv->conns);
    for (size_t b = 0; b < srv->nbuckets; b++)
        while (srv->buckets[b] != NULL) {
            struct peer *p = srv->buckets[b];
            srv->buckets[b] = p->hnext;
            free(p->sent);
            free(p);
        }
    free(srv->buckets);
    free(srv->watchers);
    free(srv->bents);
    free(srv->dirty);
    timer_stop(&srv->kick_t);
    free(srv->kicks);
    sodium_memzero(&srv->priv, sizeof(srv->priv));
    free(srv);
}
