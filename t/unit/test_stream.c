// SPDX-License-Identifier: BSD-3-Clause
/* core/stream: a raw TCP listener, write back-pressure (queued bytes, drain), stream_end flushing, read
 * timeouts, close reporting, and a unix socket listener created with mode 0600. */
#include "config.h"
#include "core/addr.h"
#include "core/loop.h"
#include "core/loop_h2o.h"
#include "core/stream.h"
#include "t/tap.h"

#include <netinet/in.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static struct loop *L;

/* The accepted socket of a TCP listener on port (the stream API does not expose fds): bound to it, connected. */
static int accepted_fd(uint16_t port)
{
    for (int fd = 3; fd < 1024; fd++) {
        struct sockaddr_in a, b;
        socklen_t al = sizeof(a), bl = sizeof(b);
        if (getsockname(fd, (struct sockaddr *)&a, &al) == 0 && a.sin_family == AF_INET &&
            ntohs(a.sin_port) == port && getpeername(fd, (struct sockaddr *)&b, &bl) == 0)
            return fd;
    }
    return -1;
}

static int sockopt(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof(v);
    return getsockopt(fd, level, name, &v, &l) == 0 ? v : -2;
}

static int run_until(int *flag, int ms)
{
    uint64_t end = loop_update_now(L) + (uint64_t)ms;
    while (!*flag && loop_now(L) < end)
        loop_run_once(L, 20);
    return *flag;
}

/* server side: accepted streams, paused until told to read; count the bytes */
static struct stream *srv_s;
static size_t srv_bytes;
static int srv_closed;
static char srv_close_err[64];

static size_t srv_biggest; /* the most input one read callback saw */
static uint8_t srv_next;    /* the byte expected next (the chunked test sends a counting pattern) */
static int srv_order_ok = 1;

static void srv_read(struct stream *s, void *arg)
{
    size_t n;
    uint8_t *p = stream_input(s, &n);
    if (n > srv_biggest)
        srv_biggest = n;
    for (size_t i = 0; i < n; i++)
        if (p[i] != srv_next++)
            srv_order_ok = 0;
    srv_bytes += n;
    stream_consume(s, n);
}

static void srv_close(struct stream *s, const char *err, void *arg)
{
    srv_closed = 1;
    snprintf(srv_close_err, sizeof(srv_close_err), "%s", err ? err : "(null)");
    srv_s = NULL;
}

static void on_accept(struct stream_listener *ls, struct stream *s, void *arg)
{
    srv_s = s;
    stream_set_callbacks(s, srv_read, NULL, srv_close, NULL);
}

/* client side */
static struct stream *cl_s;
static int cl_connected, cl_drained, cl_closed;
static char cl_err[128];

static void cl_drain(struct stream *s, void *arg)
{
    cl_drained++;
}

static void cl_close(struct stream *s, const char *err, void *arg)
{
    cl_closed = 1;
    cl_s = NULL;
}

static void cl_close_err(struct stream *s, const char *err, void *arg)
{
    cl_closed = 1;
    cl_s = NULL;
    snprintf(cl_err, sizeof(cl_err), "%s", err ? err : "(null)");
}

static void on_connect(struct stream *s, const char *err, void *arg)
{
    cl_connected = 1;
    if (err != NULL) {
        snprintf(cl_err, sizeof(cl_err), "%s", err);
        return;
    }
    cl_s = s;
    stream_set_callbacks(s, NULL, cl_drain, cl_close, NULL);
}

static void reset(void)
{
    srv_s = cl_s = NULL;
    srv_bytes = srv_biggest = 0;
    srv_next = 0;
    srv_order_ok = 1;
    srv_closed = cl_connected = cl_drained = cl_closed = 0;
    cl_err[0] = srv_close_err[0] = 0;
}

static int accepted(void)
{
    return srv_s != NULL;
}

/* a write from a deferred call, and what comes first: its drain or a timer long after */
static int late_timer_fired;

static void write_from_defer(void *arg)
{
    /* more iovecs than one writev takes: queued whole and handed to h2o, which writes it at once */
    static struct iovec v[IOV_MAX + 1];
    for (size_t i = 0; i < IOV_MAX + 1; i++)
        v[i] = (struct iovec){"x", 1};
    stream_writev(cl_s, v, IOV_MAX + 1);
}

static void drain_stops(struct stream *s, void *arg)
{
    cl_drained++;
    loop_stop(L);
}

static void on_late_timer(struct timer *t, void *arg)
{
    late_timer_fired = 1;
    loop_stop(L);
}

/* A write made outside h2o_evloop_run (here: straight from the test, as our timers do) that completes at
 * once, on a socket h2o is due to re-poll, and leaves the socket not writable: h2o polls it for writing for
 * the pending notification; once that has run, the socket must not stay polled with no write callback, or
 * its next writable event aborts the process (h2o's assertion in write_pending). A unix socketpair makes
 * it exact: a stream socket is writable again only when the queued bytes fall to a quarter of its buffer. */
static int rp_drained;
static void rp_drain(struct stream *s, void *arg)
{
    rp_drained++;
}

static void test_repoll(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
        ok(0, "socketpair");
        return;
    }
    int sz = 65536;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    int buf = sockopt(sv[0], SOL_SOCKET, SO_SNDBUF); /* (the kernel doubles it) */
    struct stream *s = stream_from_socket(L, h2o_evloop_socket_create(loop_h2o(L), sv[0], 0));
    stream_set_callbacks(s, NULL, rp_drain, NULL, NULL);
    /* more than IOV_MAX parts: the stream hands them to h2o's write, which writes them all at once */
    static uint8_t data[48 * 1024];
    size_t nparts = IOV_MAX + 1, each = (size_t)buf * 3 / 8 / nparts;
    struct iovec *iov = calloc(nparts, sizeof(*iov));
    for (size_t i = 0; i < nparts; i++)
        iov[i] = (struct iovec){data, each < sizeof(data) ? each : sizeof(data)};
    stream_read_start(s); /* the socket is due an update */
    ok(stream_writev(s, iov, nparts) == 0, "a write of %zu parts, %zu bytes, completes at once", nparts,
       nparts * each);
    for (int i = 0; i < 10 && !rp_drained; i++)
        loop_run_once(L, 10);
    is_int(rp_drained, 1, "its completion is reported");
    /* the peer reads everything: the socket becomes writable, with nothing to write */
    uint8_t sink[65536];
    size_t got = 0;
    ssize_t r;
    while ((r = read(sv[1], sink, sizeof(sink))) > 0)
        got += (size_t)r;
    is_int((long long)got, (long long)(nparts * each), "the peer read it all");
    for (int i = 0; i < 5; i++)
        loop_run_once(L, 10); /* (without the fix, h2o aborts here) */
    ok(stream_write(s, "x", 1) == 0 && read(sv[1], sink, 1) == 1, "the stream still writes");
    stream_close(s);
    close(sv[1]);
    free(iov);
    loop_run_once(L, 0);
}

int main(void)
{
    char err[256], addr[80];
    plan(40);
    L = loop_new();

    struct stream_listener *ls = stream_listen(L, "127.0.0.1:0", 0, on_accept, NULL, err, sizeof(err));
    ok(ls != NULL, "raw TCP listener");
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", stream_listener_port(ls));

    /* back-pressure: the server does not read, the client writes until the kernel buffers fill */
    reset();
    ok(stream_connect(L, addr, NULL, on_connect, NULL) != NULL, "connect started");
    run_until(&cl_connected, 2000);
    ok(cl_s != NULL, "connected %s", cl_err);
    int got_accept = 0;
    for (int i = 0; i < 100 && !(got_accept = accepted()); i++)
        loop_run_once(L, 10);
    ok(got_accept, "accepted");
    char peer[ADDR_STRLEN];
    ok(strncmp(stream_peer_str(srv_s, peer, sizeof(peer)), "127.0.0.1:", 10) == 0, "peer address %s", peer);

    /* TCP keepalive on the accepted socket: the options, the user timeout as their total, and off again */
    int kfd = accepted_fd(stream_listener_port(ls));
    ok(kfd >= 0 && stream_set_tcp_keepalive(srv_s, 60, 20, 3) == 0, "stream_set_tcp_keepalive on TCP");
    ok(sockopt(kfd, SOL_SOCKET, SO_KEEPALIVE) == 1, "SO_KEEPALIVE on");
    ok(sockopt(kfd, IPPROTO_TCP, TCP_KEEPIDLE) == 60 && sockopt(kfd, IPPROTO_TCP, TCP_KEEPINTVL) == 20 &&
           sockopt(kfd, IPPROTO_TCP, TCP_KEEPCNT) == 3,
       "TCP_KEEPIDLE/KEEPINTVL/KEEPCNT 60/20/3");
    is_int(sockopt(kfd, IPPROTO_TCP, TCP_USER_TIMEOUT), 120000, "TCP_USER_TIMEOUT = idle + intvl * count");
    ok(stream_set_tcp_keepalive(srv_s, 0, 0, 0) == 0 && sockopt(kfd, SOL_SOCKET, SO_KEEPALIVE) == 0 &&
           sockopt(kfd, IPPROTO_TCP, TCP_USER_TIMEOUT) == 0,
       "idle 0 turns keepalive and the user timeout off");

    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof(chunk));
    size_t written = 0;
    for (int i = 0; i < 64 && stream_queued(cl_s) == 0; i++) {
        stream_write(cl_s, chunk, sizeof(chunk));
        written += sizeof(chunk);
    }
    size_t queued = stream_queued(cl_s);
    ok(queued > 0, "writes beyond the socket buffers are queued (%zu of %zu bytes)", queued, written);
    for (int i = 0; i < 4; i++) {
        stream_write(cl_s, chunk, sizeof(chunk));
        written += sizeof(chunk);
    }
    ok(stream_queued(cl_s) >= queued + 4 * sizeof(chunk) - 0, "queued grows with every write while blocked");
    is_int(cl_drained, 0, "no drain while the peer does not read");

    stream_read_start(srv_s);
    run_until(&cl_drained, 5000);
    ok(cl_drained >= 1, "drain callback once the peer reads");
    is_int((long long)stream_queued(cl_s), 0, "nothing queued after the drain");
    for (int i = 0; i < 200 && srv_bytes < written; i++)
        loop_run_once(L, 10);
    is_int((long long)srv_bytes, (long long)written, "the peer got every byte in order");

    /* stream_end flushes, then closes; the peer sees EOF */
    stream_write(cl_s, "tail", 4);
    stream_end(cl_s);
    ok(stream_write(cl_s, "more", 4) == -1, "writes after stream_end are refused");
    run_until(&srv_closed, 2000);
    ok(cl_closed, "client close callback after stream_end");
    is_str(srv_close_err, "socket closed by peer", "server saw the peer close");
    is_int((long long)srv_bytes, (long long)written + 4, "queued tail flushed before the close");

    /* read timeout */
    reset();
    stream_connect(L, addr, NULL, on_connect, NULL);
    run_until(&cl_connected, 2000);
    for (int i = 0; i < 100 && !accepted(); i++)
        loop_run_once(L, 10);
    stream_read_start(cl_s); /* only a reading stream notices the peer's close */
    stream_set_read_timeout(srv_s, 50);
    stream_read_start(srv_s);
    run_until(&srv_closed, 2000);
    is_str(srv_close_err, "read timeout", "idle stream closed by its read timeout");
    run_until(&cl_closed, 2000);
    ok(cl_closed, "the client saw it");

    /* write timeout: the peer never reads, the queue makes no progress */
    reset();
    stream_connect(L, addr, NULL, on_connect, NULL);
    run_until(&cl_connected, 2000);
    for (int i = 0; i < 100 && !accepted(); i++)
        loop_run_once(L, 10);
    stream_set_callbacks(cl_s, NULL, NULL, cl_close_err, NULL);
    stream_set_write_timeout(cl_s, 100);
    for (int i = 0; i < 64 && stream_queued(cl_s) == 0; i++)
        stream_write(cl_s, chunk, sizeof(chunk));
    run_until(&cl_closed, 3000);
    is_str(cl_err, "write timeout", "a stuck write queue closes the stream after its write timeout");

    /* deadline */
    reset();
    stream_connect(L, addr, NULL, on_connect, NULL);
    run_until(&cl_connected, 2000);
    stream_set_callbacks(cl_s, NULL, NULL, cl_close_err, NULL);
    stream_set_deadline(cl_s, 30);
    run_until(&cl_closed, 2000);
    is_str(cl_err, "deadline", "the deadline closes the stream whatever happens");
    for (int i = 0; i < 10; i++)
        loop_run_once(L, 5);
    if (srv_s != NULL)
        stream_close(srv_s);

    /* A write from one of our deferred calls that the kernel takes whole: h2o runs its completion after its
     * next poll, which must not sleep (the drain used to wait for unrelated traffic or the next timer). */
    reset();
    stream_connect(L, addr, NULL, on_connect, NULL);
    run_until(&cl_connected, 2000);
    for (int i = 0; i < 100 && !accepted(); i++)
        loop_run_once(L, 10);
    struct timer late;
    timer_init(&late, L, on_late_timer, NULL);
    if (cl_s != NULL) {
        /* one write through h2o first: after it the socket is no longer polled for writing (a new one is,
         * until its first write, and that poll would end the sleep by chance) */
        write_from_defer(NULL);
        for (int i = 0; i < 20 && stream_queued(cl_s) > 0; i++)
            loop_run_once(L, 10);
        for (int i = 0; i < 3; i++)
            loop_run_once(L, 0);
        stream_set_callbacks(cl_s, NULL, drain_stops, cl_close, NULL);
        cl_drained = 0;
        timer_start(&late, 3000);
        loop_defer(L, write_from_defer, NULL);
        loop_run(L);
    }
    ok(cl_drained == 1 && !late_timer_fired, "a write made in a deferred call drains at once, not at the next timer");
    timer_stop(&late);
    if (cl_s != NULL)
        stream_close(cl_s);
    if (srv_s != NULL)
        stream_close(srv_s);
    for (int i = 0; i < 10; i++)
        loop_run_once(L, 5);

    /* A read chunk: the reader takes at most that much per round, however much the kernel holds, including
     * what it held before the switch; everything arrives in order. */
    reset();
    stream_connect(L, addr, NULL, on_connect, NULL);
    run_until(&cl_connected, 2000);
    for (int i = 0; i < 100 && !accepted(); i++)
        loop_run_once(L, 10);
    static uint8_t pattern[1 << 20];
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)i;
    if (cl_s != NULL && srv_s != NULL) {
        stream_write(cl_s, pattern, 100000); /* waits in the kernel: the server is not reading yet */
        for (int i = 0; i < 5; i++)
            loop_run_once(L, 5);
        ok(stream_set_read_chunk(srv_s, 4096) == 0, "stream_set_read_chunk on a plain TCP stream");
        ok(stream_set_read_chunk(srv_s, 4096) == -1, "only once");
        stream_read_start(srv_s);
        for (size_t off = 100000; off < sizeof(pattern); off += 65536) {
            size_t k = sizeof(pattern) - off < 65536 ? sizeof(pattern) - off : 65536;
            /* keep the counting pattern going across writes */
            static uint8_t more[65536];
            for (size_t i = 0; i < k; i++)
                more[i] = (uint8_t)(off + i);
            stream_write(cl_s, more, k);
        }
        for (int i = 0; i < 2000 && srv_bytes < sizeof(pattern); i++)
            loop_run_once(L, 10);
    }
    is_int((long long)srv_bytes, (long long)sizeof(pattern), "every byte arrives");
    ok(srv_order_ok && srv_biggest <= 4096, "in order, at most 4096 bytes per read (biggest %zu)", srv_biggest);
    if (cl_s != NULL)
        stream_close(cl_s);
    if (srv_s != NULL)
        stream_close(srv_s);
    for (int i = 0; i < 10; i++)
        loop_run_once(L, 5);

    /* connecting to nothing */
    reset();
    stream_connect(L, "127.0.0.1:1", NULL, on_connect, NULL);
    run_until(&cl_connected, 2000);
    ok(cl_err[0] && cl_s == NULL, "refused connection reported: %s", cl_err);
    ok(stream_connect(L, "no port here", NULL, on_connect, NULL) == NULL,
       "malformed address refused at once");

    stream_listener_free(ls);

    /* unix socket listener, mode 0600 */
    char dir[] = "/tmp/weft-test-stream-XXXXXX", path[128], uaddr[140];
    if (mkdtemp(dir) == NULL)
        return done_testing();
    snprintf(path, sizeof(path), "%s/api.sock", dir);
    snprintf(uaddr, sizeof(uaddr), "unix:%s", path);
    reset();
    ls = stream_listen(L, uaddr, 0600, on_accept, NULL, err, sizeof(err));
    struct stat st;
    memset(&st, 0, sizeof(st));
    int st_ok = ls != NULL && stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
    ok(st_ok && (st.st_mode & 0777) == 0600, "unix socket created with mode 0600 (%o)",
       (unsigned)(st.st_mode & 0777));
    stream_connect(L, uaddr, NULL, on_connect, NULL);
    run_until(&cl_connected, 2000);
    for (int i = 0; i < 100 && !accepted(); i++)
        loop_run_once(L, 10);
    if (srv_s)
        stream_read_start(srv_s);
    if (cl_s)
        stream_write(cl_s, "over unix", 9);
    for (int i = 0; i < 100 && srv_bytes < 9; i++)
        loop_run_once(L, 10);
    is_int((long long)srv_bytes, 9, "bytes over the unix socket");
    ok(srv_s != NULL && stream_set_tcp_keepalive(srv_s, 60, 20, 3) == 0, "keepalive is a no-op on unix sockets");
    ok(cl_s != NULL && stream_set_tcp_keepalive(cl_s, 60, 20, 3) == 0, "on both ends");
    stream_listener_free(ls);
    ok(access(path, F_OK) != 0, "socket file removed with the listener");
    rmdir(dir);

    test_repoll();

    /* loop_free closes the streams still open and reports their close */
    loop_free(L);
    return done_testing();
}
