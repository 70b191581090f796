// SPDX-License-Identifier: BSD-3-Clause
/* magicsock in-process: two WireGuard devices with their path managers on loopback UDP, and a DERP between
 * them that is a queue. WireGuard starts over DERP and moves to the direct path once disco proves it
 * (the session survives the move); then bad input at B's socket, each dropped and counted with no effect
 * on A's path: disco from an unknown key, a box that does not open, a Pong for no ping, a genuine Pong
 * replayed from another address, a CallMeMaybe over UDP, a flood of pings (rate-limited pongs); a new
 * disco key resets the peer's paths. */
#include "config.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/wg/device.h"
#include "core/wg/noise.h"
#include "modules/node/magicsock/ms_int.h"
#include "t/tap.h"

struct side {
    struct wg_device *dev;
    struct ms *ms;
    struct ms_peer *peer; /* the other side */
    struct wg_peer *wp;
    uint8_t priv[32], pub[32], dpriv[32], dpub[32];
    char ep[32];
    int delivered;
} S[2];

struct dq {
    int to;
    uint8_t src[32];
    uint8_t buf[2048];
    size_t len;
} Q[256];
static size_t qn;
static struct loop *L;

static int derp_send(void *arg, int region, const uint8_t key[32], const struct iovec *iov, size_t n)
{
    int from = (int)(intptr_t)arg;
    if (qn == 256)
        return -1;
    struct dq *d = &Q[qn++];
    d->to = 1 - from;
    memcpy(d->src, S[from].pub, 32);
    d->len = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(d->buf + d->len, iov[i].iov_base, iov[i].iov_len);
        d->len += iov[i].iov_len;
    }
    return 0;
}

static void on_deliver(void *ctx, struct wg_peer *from, const struct iovec *pkts, size_t n)
{
    S[(int)(intptr_t)ctx].delivered += (int)n;
}

static void pump(int ms)
{
    for (int i = 0; i < ms; i++) {
        size_t n = qn;
        struct dq copy[256];
        memcpy(copy, Q, n * sizeof *Q);
        qn = 0;
        for (size_t k = 0; k < n; k++)
            ms_derp_input(S[copy[k].to].ms, 900, copy[k].src, copy[k].buf, copy[k].len);
        loop_run_once(L, 1);
    }
}

static void send_ip(int from)
{
    uint8_t p[60] = {0x45, 0, 0, 60, 0, 0, 0, 0, 64, 17};
    p[12] = 10, p[15] = (uint8_t)(from + 1);
    p[16] = 10, p[19] = (uint8_t)(2 - from);
    struct iovec v = {p, sizeof p};
    wg_device_send(S[from].dev, &v, 1);
}

static void conf(int i, struct ms_peer_conf *c, const char **eps)
{
    int o = 1 - i;
    memset(c, 0, sizeof *c);
    c->id = o + 1;
    c->name = o ? "b" : "a";
    c->key = S[o].pub;
    c->disco = S[o].dpub;
    c->home_derp = 900;
    eps[0] = S[o].ep;
    c->endpoints = eps;
    c->nendpoints = 1;
}

static struct ms_path path(int i)
{
    struct ms_path p;
    ms_peer_path(S[i].peer, &p);
    return p;
}

/* Seal plain from A's disco key to B's and send it to B's socket from fd. */
static void to_b(int fd, const uint8_t *plain, size_t len, const uint8_t *from_dpriv, const uint8_t *from_dpub)
{
    uint8_t shared[32], pkt[512];
    disco_shared_key(shared, S[1].dpub, from_dpriv);
    long n = disco_seal(pkt, sizeof pkt, from_dpub, shared, NULL, plain, len);
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(wg_device_listen_port(S[1].dev))};
    inet_pton(AF_INET, "127.0.0.1", &b.sin_addr);
    sendto(fd, pkt, (size_t)n, 0, (struct sockaddr *)&b, sizeof b);
}

static struct ms_stats stats(int i)
{
    struct ms_stats st;
    ms_get_stats(S[i].ms, &st);
    return st;
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    L = loop_new();
    for (int i = 0; i < 2; i++) {
        struct side *s = &S[i];
        wg_key_generate(s->priv, s->pub);
        randombytes_buf(s->dpriv, 32);
        crypto_scalarmult_base(s->dpub, s->dpriv);
        s->dev = wg_device_new(L);
        wg_device_set_private_key(s->dev, s->priv);
        wg_device_set_deliver(s->dev, on_deliver, (void *)(intptr_t)i);
        if (wg_device_set_listen_port(s->dev, 0)) {
            skip_all("cannot bind UDP");
        }
        snprintf(s->ep, sizeof s->ep, "127.0.0.1:%u", wg_device_listen_port(s->dev));
        static const struct ms_cbs cbs = {derp_send, NULL, NULL};
        struct ms_opts o = {.no_portmap = true};
        s->ms = ms_new(L, s->dev, &o, &cbs, (void *)(intptr_t)i);
        ms_set_keys(s->ms, s->pub, s->dpriv);
        ms_set_home(s->ms, 900);
    }
    for (int i = 0; i < 2; i++) {
        struct ms_peer_conf c;
        const char *eps[1];
        conf(i, &c, eps);
        S[i].peer = ms_peer_add(S[i].ms, &c);
        S[i].wp = wg_peer_add(S[i].dev, S[1 - i].pub);
        struct wg_endpoint ep;
        ms_peer_wg_endpoint(S[i].peer, &ep);
        wg_peer_set_endpoint(S[i].wp, &ep);
        uint8_t a[4] = {10, 0, 0, (uint8_t)(2 - i)};
        wg_peer_allowed_ip_add(S[i].wp, 4, a, 32);
        S[i].ms->eps_time = loop_now(L); /* endpoints fresh: CallMeMaybe goes at once */
    }
    ok(S[0].peer && S[1].peer, "each side has the other as a peer");

    /* --- WireGuard starts through DERP, moves to the direct path --- */
    send_ip(0);
    pump(50);
    is_int(S[1].delivered, 1, "the first packet arrives (its handshake went through DERP or direct)");
    ok(stats(0).disco_tx_derp > 0, "A sent disco through DERP (CallMeMaybe)");
    for (int i = 0; i < 100 && !(path(0).direct && path(1).direct); i++) {
        send_ip(0);
        send_ip(1);
        pump(5);
    }
    ok(path(0).direct && path(1).direct, "both sides found the direct path");
    char a[64];
    struct ms_path p0 = path(0);
    is_str(ms_addr_format(&p0.addr, a, sizeof a), S[1].ep, "A uses B's endpoint");
    int before = S[1].delivered;
    uint64_t derp_before = path(0).tx_derp;
    send_ip(0);
    pump(5);
    ok(S[1].delivered == before + 1 && path(0).tx_derp == derp_before, "data now goes direct only, same session");
    struct wg_peer_stats ws;
    wg_peer_get_stats(S[0].wp, &ws);
    ok(ws.endpoint.transport == (uint32_t)ms_transport(S[0].ms), "WireGuard's endpoint is still the peer, not an address");

    /* --- bad input at B's socket --- */
    int fd = socket(AF_INET, SOCK_DGRAM, 0), fd2 = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in any = {.sin_family = AF_INET};
    bind(fd, (struct sockaddr *)&any, sizeof any);
    bind(fd2, (struct sockaddr *)&any, sizeof any);
    uint8_t stranger_priv[32], stranger_pub[32], ping[64];
    randombytes_buf(stranger_priv, 32);
    crypto_scalarmult_base(stranger_pub, stranger_priv);
    uint8_t txid[12];
    randombytes_buf(txid, 12);
    long pl = disco_ping_encode(ping, sizeof ping, txid, S[0].pub, 0);
    struct ms_stats s0 = stats(1);
    to_b(fd, ping, (size_t)pl, stranger_priv, stranger_pub);
    pump(10);
    ok(stats(1).disco_unknown_key == s0.disco_unknown_key + 1 && stats(1).pong_tx == s0.pong_tx,
       "a ping from an unknown disco key: dropped, counted, unanswered");
    uint8_t bad[128];
    memcpy(bad, DISCO_MAGIC, 6);
    memcpy(bad + 6, S[0].dpub, 32);
    randombytes_buf(bad + 38, sizeof bad - 38);
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(wg_device_listen_port(S[1].dev))};
    inet_pton(AF_INET, "127.0.0.1", &b.sin_addr);
    sendto(fd, bad, sizeof bad, 0, (struct sockaddr *)&b, sizeof b);
    pump(10);
    ok(stats(1).disco_bad_box == s0.disco_bad_box + 1, "A's key with a box that does not open: counted");
    uint8_t pong[64];
    struct disco_addr src;
    ms_addr_parse("127.0.0.1:1", &src);
    long ql = disco_pong_encode(pong, sizeof pong, txid, &src);
    to_b(fd, pong, (size_t)ql, S[0].dpriv, S[0].dpub);
    pump(10);
    ok(stats(1).pong_unknown == s0.pong_unknown + 1, "a genuine box, a Pong for no ping of ours: counted");
    /* a real Pong for a ping B has in flight, sent from another address than the one B pinged */
    struct ms_peer *bp = S[1].peer;
    const struct ms_sent_ping *live = NULL;
    {
        /* A's CallMeMaybe through DERP makes B ping A's endpoints at once; the loop does not run, so the
         * ping is still in flight */
        struct disco_addr aep;
        ms_addr_parse(S[0].ep, &aep);
        uint8_t plain[64], shared[32], pkt[256];
        long n = disco_call_me_maybe_encode(plain, sizeof plain, &aep, 1);
        disco_shared_key(shared, S[1].dpub, S[0].dpriv);
        long m = disco_seal(pkt, sizeof pkt, S[0].dpub, shared, NULL, plain, (size_t)n);
        ms_derp_input(S[1].ms, 900, S[0].pub, pkt, (size_t)m);
        for (size_t i = 0; i < bp->pings_cap && !live; i++)
            if (bp->pings[i].used && !bp->pings[i].derp && ms_addr_eq(&bp->pings[i].to, &aep))
                live = &bp->pings[i];
    }
    ok(live != NULL, "B has a ping in flight to A's address");
    if (live) {
        ql = disco_pong_encode(pong, sizeof pong, live->txid, &src);
        uint64_t wrong = stats(1).pong_wrong_path, unknown = stats(1).pong_unknown;
        to_b(fd2, pong, (size_t)ql, S[0].dpriv, S[0].dpub); /* from fd2, not A's socket */
        pump(10);
        ok(stats(1).pong_wrong_path == wrong + 1, "its Pong replayed from another address: refused, counted");
        ok(stats(1).pong_unknown == unknown && !live->used && path(1).direct,
           "the ping still took A's real Pong afterwards (it was not used up by the replay)");
    }
    uint8_t cmm[64];
    struct disco_addr evil;
    ms_addr_parse("10.9.9.9:9", &evil);
    long cl = disco_call_me_maybe_encode(cmm, sizeof cmm, &evil, 1);
    uint64_t refused = stats(1).cmm_refused;
    to_b(fd, cmm, (size_t)cl, S[0].dpriv, S[0].dpub);
    pump(10);
    ok(stats(1).cmm_refused == refused + 1, "a CallMeMaybe over UDP (not DERP): refused, counted");
    bool listed = false;
    for (size_t i = 0; i < bp->eps_cap; i++)
        listed |= bp->eps[i].used && ms_addr_eq(&bp->eps[i].addr, &evil);
    ok(!listed, "and its endpoint was not taken");
    /* a flood of genuine pings from one address */
    uint64_t limited = stats(1).ping_limited;
    for (int i = 0; i < 400; i++) {
        randombytes_buf(txid, 12);
        pl = disco_ping_encode(ping, sizeof ping, txid, S[0].pub, 0);
        to_b(fd, ping, (size_t)pl, S[0].dpriv, S[0].dpub);
        if (i % 50 == 0)
            loop_run_once(L, 0);
    }
    pump(20);
    ok(stats(1).ping_limited > limited, "a ping flood: pongs rate-limited (%llu not answered)",
       (unsigned long long)(stats(1).ping_limited - limited));
    size_t cands = 0;
    for (size_t i = 0; i < bp->eps_cap; i++)
        cands += bp->eps[i].used;
    ok(cands <= MS_MAX_EPS, "B's candidates for A stay bounded (%zu)", cands);
    before = S[1].delivered;
    for (int i = 0; i < 5; i++) {
        send_ip(0);
        pump(5);
    }
    ok(path(0).direct && S[1].delivered == before + 5, "A's direct path and traffic are untouched by all that");

    /* --- a new disco key (the peer restarted) resets the paths --- */
    uint8_t ndpriv[32], ndpub[32];
    randombytes_buf(ndpriv, 32);
    crypto_scalarmult_base(ndpub, ndpriv);
    struct ms_peer_conf c;
    const char *eps[1];
    conf(1, &c, eps);
    c.disco = ndpub;
    ms_peer_update(S[1].peer, &c);
    ok(!path(1).have_addr && !path(1).direct, "B forgot its path to A when A's disco key changed");
    memcpy(S[0].dpriv, ndpriv, 32);
    memcpy(S[0].dpub, ndpub, 32);
    ms_set_keys(S[0].ms, S[0].pub, ndpriv);
    for (int i = 0; i < 100 && !(path(0).direct && path(1).direct); i++) {
        send_ip(0);
        send_ip(1);
        pump(5);
    }
    ok(path(0).direct && path(1).direct, "and found it again with the new key");

    close(fd);
    close(fd2);
    for (int i = 0; i < 2; i++) {
        ms_free(S[i].ms);
        wg_device_free(S[i].dev);
    }
    loop_free(L);
    done_testing();
}
