// SPDX-License-Identifier: BSD-3-Clause
/* The engine in-process: two devices joined by a pluggable transport (a queue), no TUN, no sockets.
 * Handshake started by either side, data both ways, staged packets, replayed / garbage / spoofed
 * datagrams dropped without harm, roaming, cookie replies under load with the retry carrying mac2,
 * rekeying with shortened timers, peer removal, and the UAPI text protocol (set, get). */
#include "config.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/wg/device.h"
#include "core/wg/noise.h"
#include "core/wg/uapi.h"
#include "t/tap.h"

struct dgram {
    int to; /* 0 = A, 1 = B */
    struct wg_endpoint from;
    size_t len;
    uint8_t buf[2048];
};

static struct dgram q[4096];
static size_t qn;
static struct wg_device *dev[2];
static struct wg_peer *peer_of[2]; /* dev[i]'s peer (the other side) */
static int handshakes[2], delivered[2];
static uint8_t last_pkt[2][2048];
static size_t last_len[2];
static int tid[2];

static struct wg_endpoint ep_named(int tr, const char *name)
{
    struct wg_endpoint e;
    memset(&e, 0, sizeof(e));
    e.transport = (uint32_t)tr;
    e.len = (socklen_t)strlen(name);
    memcpy(e.addr.bytes, name, e.len);
    return e;
}

/* ctx: the index of the sending device */
static int q_send(void *ctx, const struct wg_endpoint *to, const struct iovec *pkts, size_t n)
{
    int from = (int)(intptr_t)ctx;
    for (size_t i = 0; i < n && qn < 4096; i++) {
        struct dgram *g = &q[qn++];
        g->to = to->addr.bytes[0] == 'A' ? 0 : 1;
        /* the receiver sees it from the sender's name on its own transport */
        g->from = ep_named(tid[g->to], from == 0 ? "A" : "B");
        g->len = pkts[i].iov_len;
        memcpy(g->buf, pkts[i].iov_base, g->len);
    }
    return (int)n;
}

static const struct wg_transport_ops q_ops = {"queue", q_send};

static void pump(void)
{
    for (size_t i = 0; i < qn; i++) {
        struct dgram g = q[i];
        wg_device_input(dev[g.to], &g.from, g.buf, g.len);
    }
    qn = 0;
}

/* pump until quiet, running the loop for timers too */
static void settle(struct loop *l, int ms)
{
    for (int i = 0; i < ms; i++) {
        pump();
        loop_run_once(l, 1);
    }
    pump();
}

static void on_deliver(void *ctx, struct wg_peer *from, const struct iovec *pkts, size_t n)
{
    (void)from;
    int i = (int)(intptr_t)ctx;
    delivered[i] += (int)n;
    last_len[i] = pkts[n - 1].iov_len;
    memcpy(last_pkt[i], pkts[n - 1].iov_base, last_len[i]);
}

static void on_event(void *ctx, struct wg_peer *p, enum wg_event ev)
{
    (void)p;
    if (ev == WG_EVENT_HANDSHAKE)
        handshakes[(int)(intptr_t)ctx]++;
}

static size_t ip4(uint8_t *p, const char *src, const char *dst, size_t payload)
{
    memset(p, 0, 20);
    p[0] = 0x45;
    p[2] = (uint8_t)((20 + payload) >> 8);
    p[3] = (uint8_t)(20 + payload);
    p[8] = 64;
    p[9] = 17;
    inet_pton(AF_INET, src, p + 12);
    inet_pton(AF_INET, dst, p + 16);
    for (size_t i = 0; i < payload; i++)
        p[20 + i] = (uint8_t)(i ^ 0x5a);
    return 20 + payload;
}

static void send_ip(int from, const char *src, const char *dst, size_t payload)
{
    uint8_t p[1500];
    struct iovec v = {p, ip4(p, src, dst, payload)};
    wg_device_send(dev[from], &v, 1);
}

static void pfx(struct wg_peer *p, const char *a, unsigned cidr)
{
    uint8_t b[16];
    int fam = strchr(a, ':') ? 6 : 4;
    inet_pton(fam == 4 ? AF_INET : AF_INET6, a, b);
    wg_peer_allowed_ip_add(p, fam, b, cidr);
}

static uint64_t dropped(int i)
{
    struct wg_device_stats s;
    wg_device_get_stats(dev[i], &s);
    return s.rx_dropped;
}

/* packet hooks: drop what the test says, count what they saw */
static int in_seen, out_seen, in_drop_len, out_drop_len, out_take_len;
static struct wg_peer *in_from;
static enum wg_pkt_verdict in_hook(void *ctx, struct wg_peer *from, const uint8_t *pkt, size_t len)
{
    (void)ctx;
    (void)pkt;
    in_seen++;
    in_from = from;
    return (int)len == in_drop_len ? WG_PKT_DROP : WG_PKT_PASS;
}
static enum wg_pkt_verdict out_hook(void *ctx, const uint8_t *pkt, size_t len)
{
    (void)ctx;
    (void)pkt;
    out_seen++;
    return (int)len == out_drop_len ? WG_PKT_DROP : (int)len == out_take_len ? WG_PKT_TAKEN : WG_PKT_PASS;
}

static int other_seen;
static uint8_t other_buf[256];
static size_t other_len;
static void on_other(void *ctx, const struct sockaddr *from, socklen_t fl, uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)from;
    (void)fl;
    other_seen++;
    other_len = len < sizeof(other_buf) ? len : sizeof(other_buf);
    memcpy(other_buf, buf, other_len);
}

static void setup(struct loop *l, unsigned scale, bool load_b)
{
    uint8_t priv[2][32], pub[2][32];
    for (int i = 0; i < 2; i++) {
        wg_key_generate(priv[i], pub[i]);
        dev[i] = wg_device_new(l);
        wg_device_set_test_knobs(dev[i], scale, i == 1 && load_b);
        wg_device_set_private_key(dev[i], priv[i]);
        tid[i] = wg_device_add_transport(dev[i], &q_ops, (void *)(intptr_t)i);
        wg_device_set_deliver(dev[i], on_deliver, (void *)(intptr_t)i);
        wg_device_set_event_hook(dev[i], on_event, (void *)(intptr_t)i);
        handshakes[i] = delivered[i] = 0;
    }
    for (int i = 0; i < 2; i++) {
        peer_of[i] = wg_peer_add(dev[i], pub[1 - i]);
        struct wg_endpoint e = ep_named(tid[i], i == 0 ? "B" : "A");
        wg_peer_set_endpoint(peer_of[i], &e);
        pfx(peer_of[i], i == 0 ? "10.0.0.2" : "10.0.0.1", 32);
    }
    pfx(peer_of[0], "fd00::2", 128);
    pfx(peer_of[1], "fd00::1", 128);
    qn = 0;
}

static void teardown(void)
{
    wg_device_free(dev[0]);
    wg_device_free(dev[1]);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    struct loop *l = loop_new();

    /* --- A starts the handshake by sending --- */
    setup(l, 1, false);
    send_ip(0, "10.0.0.1", "10.0.0.2", 100);
    is_int((long long)qn, 1, "a packet without a session sends one initiation");
    ok(q[0].len == 148, "it is an initiation");
    pump(); /* B consumes, responds */
    pump(); /* A consumes the response, sends the staged packet */
    pump();
    is_int(handshakes[0], 1, "A: handshake event");
    is_int(handshakes[1], 1, "B: handshake event once the staged packet confirmed the keys");
    is_int(delivered[1], 1, "B got the staged packet");
    ok(last_len[1] == 120 && last_pkt[1][20] == 0x5a && last_pkt[1][119] == (uint8_t)(99 ^ 0x5a),
       "its bytes arrived intact (padding trimmed by the IP length)");
    send_ip(1, "10.0.0.2", "10.0.0.1", 10); /* to 10.0.0.1: routed to A */
    pump();
    is_int(delivered[0], 1, "B -> A works on the confirmed session");

    /* --- replay, garbage, spoofing --- */
    send_ip(0, "10.0.0.1", "10.0.0.2", 50);
    struct dgram saved = q[0];
    pump();
    is_int(delivered[1], 2, "fresh packet delivered");
    uint64_t d0 = dropped(1);
    wg_device_input(dev[1], &saved.from, saved.buf, saved.len);
    is_int(delivered[1], 2, "replayed datagram not delivered");
    ok(dropped(1) == d0 + 1, "and counted as dropped");
    uint8_t junk[200];
    for (int i = 0; i < 50; i++) {
        randombytes_buf(junk, sizeof(junk));
        junk[0] = (uint8_t)(1 + i % 4);
        junk[1] = junk[2] = junk[3] = 0;
        size_t lens[] = {148, 92, 64, 200, 32};
        struct wg_endpoint from = ep_named(tid[1], "A");
        wg_device_input(dev[1], &from, junk, lens[i % 5]);
    }
    ok(dropped(1) >= d0 + 51, "garbage of every type dropped");
    is_int(handshakes[1], 1, "garbage started no handshake");
    send_ip(0, "10.0.0.1", "10.0.0.2", 60);
    pump();
    is_int(delivered[1], 3, "the session still carries data after garbage");
    send_ip(0, "10.0.0.77", "10.0.0.2", 60);
    pump();
    is_int(delivered[1], 3, "inner source outside A's allowed IPs is refused by B");
    uint8_t p6[100];
    memset(p6, 0, sizeof(p6));
    p6[0] = 0x60;
    p6[5] = 60;
    p6[6] = 17;
    inet_pton(AF_INET6, "fd00::1", p6 + 8);
    inet_pton(AF_INET6, "fd00::2", p6 + 24);
    struct iovec v6 = {p6, 100};
    wg_device_send(dev[0], &v6, 1);
    pump();
    is_int(delivered[1], 4, "IPv6 routed and delivered");
    send_ip(0, "10.0.0.1", "10.9.9.9", 10);
    is_int((long long)qn, 0, "no route: nothing sent");

    /* --- roaming --- */
    send_ip(0, "10.0.0.1", "10.0.0.2", 20);
    struct wg_endpoint moved = ep_named(tid[1], "A-moved");
    ok(qn == 1, "one datagram queued");
    wg_device_input(dev[1], &moved, q[0].buf, q[0].len);
    qn = 0;
    struct wg_peer_stats ps;
    wg_peer_get_stats(peer_of[1], &ps);
    ok(ps.endpoint.len == 7 && memcmp(ps.endpoint.addr.bytes, "A-moved", 7) == 0,
       "B's endpoint for A follows the authenticated packet");
    ok(ps.rx_bytes > 0 && ps.tx_bytes > 0 && ps.last_handshake.tv_sec > 0, "stats: bytes and handshake time");

    /* --- roaming off: the endpoint stays where the caller put it --- */
    wg_device_set_roaming(dev[1], false);
    send_ip(0, "10.0.0.1", "10.0.0.2", 21);
    struct wg_endpoint elsewhere = ep_named(tid[1], "A-third");
    int got_before = delivered[1];
    wg_device_input(dev[1], &elsewhere, q[0].buf, q[0].len);
    qn = 0;
    wg_peer_get_stats(peer_of[1], &ps);
    ok(delivered[1] == got_before + 1 && ps.endpoint.len == 7 && memcmp(ps.endpoint.addr.bytes, "A-moved", 7) == 0,
       "roaming off: the packet is delivered, the endpoint stays");
    wg_device_set_roaming(dev[1], true);

    /* --- packet hooks --- */
    wg_device_set_packet_hooks(dev[1], in_hook, NULL, NULL);
    wg_device_set_packet_hooks(dev[0], NULL, out_hook, NULL);
    in_drop_len = 20 + 33;
    got_before = delivered[1];
    send_ip(0, "10.0.0.1", "10.0.0.2", 33);
    pump();
    send_ip(0, "10.0.0.1", "10.0.0.2", 34);
    pump();
    struct wg_device_stats hs1;
    wg_device_get_stats(dev[1], &hs1);
    ok(in_seen == 2 && in_from == peer_of[1], "the in hook sees each decrypted packet with its peer");
    ok(delivered[1] == got_before + 1 && hs1.rx_filtered == 1, "what it drops is not delivered, and counted");
    out_drop_len = 20 + 35;
    out_take_len = 20 + 36;
    send_ip(0, "10.0.0.1", "10.0.0.2", 35);
    send_ip(0, "10.0.0.1", "10.0.0.2", 36);
    send_ip(0, "10.0.0.1", "10.9.9.9", 36); /* no route, but taken before routing */
    struct wg_device_stats hs0;
    wg_device_get_stats(dev[0], &hs0);
    ok(out_seen == 5 && qn == 0, "the out hook sees every packet before routing; dropped and taken ones go nowhere");
    ok(hs0.tx_filtered == 1, "a drop by the out hook is counted, a take is not");
    wg_device_set_packet_hooks(dev[0], NULL, NULL, NULL);
    wg_device_set_packet_hooks(dev[1], NULL, NULL, NULL);
    uint8_t inj[60];
    struct iovec iv = {inj, ip4(inj, "10.0.0.9", "10.0.0.1", 40)};
    got_before = delivered[0];
    ok(wg_device_tun_inject(dev[0], &iv, 1) == 1 && delivered[0] == got_before + 1,
       "tun_inject hands a local packet to the tunnel side");
    teardown();

    /* --- B starts; timers shortened 100x: rekey after 1.2 s --- */
    setup(l, 100, false);
    send_ip(1, "10.0.0.2", "10.0.0.1", 30);
    settle(l, 20);
    is_int(delivered[0], 1, "handshake started by the other side delivers too");
    int before = handshakes[0] + handshakes[1];
    for (int i = 0; i < 30; i++) { /* 1.5 s of traffic */
        send_ip(1, "10.0.0.2", "10.0.0.1", 30);
        send_ip(0, "10.0.0.1", "10.0.0.2", 30);
        settle(l, 50);
    }
    ok(handshakes[0] + handshakes[1] > before, "the session was rekeyed after REKEY_AFTER_TIME");
    int got0 = delivered[0], got1 = delivered[1];
    send_ip(1, "10.0.0.2", "10.0.0.1", 30);
    send_ip(0, "10.0.0.1", "10.0.0.2", 30);
    settle(l, 20);
    ok(delivered[0] == got0 + 1 && delivered[1] == got1 + 1, "traffic flows both ways after rekeying");
    /* remove and re-add: the other side recovers through a new handshake */
    uint8_t pubB[32];
    memcpy(pubB, wg_peer_public_key(peer_of[0]), 32);
    wg_peer_remove(peer_of[0]);
    peer_of[0] = wg_peer_add(dev[0], pubB);
    struct wg_endpoint eb = ep_named(tid[0], "B");
    wg_peer_set_endpoint(peer_of[0], &eb);
    pfx(peer_of[0], "10.0.0.2", 32);
    got1 = delivered[1];
    send_ip(0, "10.0.0.1", "10.0.0.2", 30);
    settle(l, 30);
    is_int(delivered[1], got1 + 1, "a re-added peer handshakes again and delivers");
    teardown();

    /* --- under load: B answers with a cookie; A's retry carries mac2 and succeeds --- */
    setup(l, 100, true);
    send_ip(0, "10.0.0.1", "10.0.0.2", 30);
    pump(); /* B: cookie reply */
    struct wg_device_stats st;
    wg_device_get_stats(dev[1], &st);
    is_int((long long)st.cookie_replies, 1, "B under load sent a cookie reply");
    is_int(handshakes[1] + handshakes[0], 0, "no session yet");
    settle(l, 200); /* retransmit after REKEY_TIMEOUT/100 + jitter */
    ok(handshakes[0] == 1 && delivered[1] == 1, "retry with mac2 admitted: handshake done, packet delivered");
    teardown();

    /* --- the UDP socket shared with other protocols: non-WireGuard datagrams go to a hook --- */
    {
        struct wg_device *u = wg_device_new(l);
        wg_device_set_udp_other(u, on_other, NULL);
        ok(wg_device_set_listen_port(u, 0) == 0, "bound a UDP port");
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(wg_device_listen_port(u))};
        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        bind(fd, (struct sockaddr *)&(struct sockaddr_in){.sin_family = AF_INET}, sizeof(struct sockaddr_in));
        sendto(fd, "TS\xf0\x9f\x92\xac disco-ish", 17, 0, (struct sockaddr *)&to, sizeof to);
        uint8_t wgjunk[148] = {1};
        sendto(fd, wgjunk, sizeof wgjunk, 0, (struct sockaddr *)&to, sizeof to); /* WireGuard-shaped: not the hook's */
        for (int i = 0; i < 200 && other_seen < 1; i++)
            loop_run_once(l, 5);
        loop_run_once(l, 20);
        ok(other_seen == 1 && other_len == 17 && memcmp(other_buf, "TS\xf0\x9f\x92\xac", 6) == 0,
           "a disco-looking datagram reaches the hook, a WireGuard-shaped one does not");
        struct sockaddr_in me;
        socklen_t ml = sizeof me;
        getsockname(fd, (struct sockaddr *)&me, &ml);
        inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
        struct iovec pv[2] = {{"pong-1", 6}, {"pong-2", 6}};
        ok(wg_device_udp_send(u, (struct sockaddr *)&me, sizeof me, pv, 2) == 0, "udp_send from the device socket");
        char rb[64];
        ssize_t r1 = recv(fd, rb, sizeof rb, 0);
        ssize_t r2 = recv(fd, rb + 8, sizeof rb - 8, 0);
        ok(r1 == 6 && r2 == 6 && memcmp(rb, "pong-1", 6) == 0 && memcmp(rb + 8, "pong-2", 6) == 0,
           "both datagrams arrive, in order");
        ok(wg_device_udp_send(u, (struct sockaddr *)&(struct sockaddr){.sa_family = AF_UNIX}, 16, pv, 1) < 0,
           "a non-IP address is refused");
        close(fd);
        wg_device_free(u);
    }

    /* --- UAPI --- */
    struct wg_device *d = wg_device_new(l);
    const char *set =
        "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
        "fwmark=0\n"
        "replace_peers=true\n"
        "public_key=b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33\n"
        "preshared_key=188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52\n"
        "replace_allowed_ips=true\n"
        "allowed_ip=192.168.4.4/32\n"
        "endpoint=[abcd:23::33%2]:51820\n";
    ok(wg_uapi_set(d, set, strlen(set)) < 0, "scoped IPv6 endpoint refused (numeric forms only)");
    set = "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
          "replace_peers=true\n"
          "public_key=b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33\n"
          "preshared_key=188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52\n"
          "replace_allowed_ips=true\n"
          "allowed_ip=192.168.4.4/32\n"
          "endpoint=[abcd:23::33]:51820\n"
          "public_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376\n"
          "replace_allowed_ips=true\n"
          "allowed_ip=192.168.4.6/32\n"
          "persistent_keepalive_interval=111\n"
          "endpoint=182.122.22.19:3233\n"
          "public_key=662e14fd594556f522604703340351258903b64f35553763f19426ab2a515c58\n"
          "endpoint=5.152.198.39:51820\n"
          "replace_allowed_ips=true\n"
          "allowed_ip=192.168.4.10/32\n"
          "allowed_ip=192.168.4.11/32\n"
          "public_key=e818b58db5274087fcc1be5dc728cf53d3b5726b4cef6b9bab8f8f8c2452c25c\n"
          "remove=true\n"
          "public_key=0000000000000000000000000000000000000000000000000000000000000001\n"
          "update_only=true\n"
          "allowed_ip=10.0.0.0/8\n";
    is_int(wg_uapi_set(d, set, strlen(set)), 0, "the xplatform example configuration applies");
    char *got = wg_uapi_get(d);
    const char *want =
        "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
        "public_key=b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33\n"
        "preshared_key=188515093e952f5f22e865cef3012e72f8b5f0b598ac0309d5dacce3b70fcf52\n"
        "protocol_version=1\n"
        "endpoint=[abcd:23::33]:51820\n"
        "last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
        "persistent_keepalive_interval=0\n"
        "allowed_ip=192.168.4.4/32\n"
        "public_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376\n"
        "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
        "protocol_version=1\n"
        "endpoint=182.122.22.19:3233\n";
    ok(got && strncmp(got, want, strlen(want)) == 0, "get lists the device and peers in order");
    if (got && strncmp(got, want, strlen(want)) != 0)
        diag("got:\n%s", got);
    ok(got && strstr(got, "allowed_ip=192.168.4.10/32\nallowed_ip=192.168.4.11/32\nerrno=0\n\n"),
       "the last peer's prefixes, then errno=0 and a blank line");
    ok(got && !strstr(got, "public_key=0000"), "update_only did not create a peer");
    ok(got && !strstr(got, "listen_port"), "no listen_port while unbound");
    free(got);
    const char *bad[] = {"private_key=zz\n", "listen_port=70000\n", "allowed_ip=1.2.3.4/8\n",
                         "public_key=58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376\n"
                         "allowed_ip=1.2.3.4/40\n",
                         "frobnicate=1\n", "protocol_version=2\n", "noequals\n"};
    int refused = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        refused += wg_uapi_set(d, bad[i], strlen(bad[i])) == -22;
    is_int(refused, 7, "malformed lines refused with -EINVAL");
    set = "listen_port=0\n";
    ok(wg_uapi_set(d, set, strlen(set)) == 0 && wg_device_listen_port(d) != 0, "listen_port=0 binds a port");
    got = wg_uapi_get(d);
    char lp[32];
    snprintf(lp, sizeof(lp), "listen_port=%u\n", wg_device_listen_port(d));
    ok(got && strstr(got, lp), "get reports the bound port");
    free(got);
    wg_device_free(d);
    loop_free(l);
    done_testing();
}
