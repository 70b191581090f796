// SPDX-License-Identifier: BSD-3-Clause
/* bench_derp: a DERP load generator over core/derp_client against the real relay (`weft serve derp`, started
 * here as a child process on loopback). Prints, for N = 1, 10, 100 sender->receiver pairs of 1400-byte
 * packets: relayed packets/s, Gbit/s, drops, the relay's CPU seconds per GB relayed and its CPU use, twice:
 * paced (each sender keeps a window of packets in flight, as TCP inside WireGuard would) and unpaced
 * (senders write as fast as their sockets take: the relay is overloaded); then the best median of either
 * (the peak) against the unpaced medians (overload); first, the relay's RSS per idle connection with
 * 10,000 connections. WEFT (default ./weft) and WEFT_MODULE_PATH (default ./modules/derp/.libs) say where the
 * relay is; BENCH_DERP_SECONDS sets each measurement's length (default 3), BENCH_DERP_IDLE the idle count
 * (10000, 0 to skip), BENCH_DERP_PAIRS the list of N ("1,10,100"), BENCH_DERP_ROUNDS how many times each
 * figure is measured (3: paced and unpaced take turns; the medians are compared). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/crypto/key.h"
#include "core/derp_client.h"
#include "core/loop.h"

#define PKT 1400
/* A sender keeps at most this much unsent before waiting for the socket, */
#define HIGH_WATER (128 * 1024)
/* and at most this many packets in flight to its receiver (a congestion window: senders over DERP are TCP
 * flows inside WireGuard, which back off; a blind flood only measures how fast packets can be dropped). */
#define WINDOW 512
/* ... shared by all pairs when there are many (their receive buffers are one process's memory). */
#define TOTAL_WINDOW 16384
static uint64_t g_window = WINDOW;
/* Unpaced: no window, only the socket (and HIGH_WATER in the client) holds a sender back. */
static int g_unpaced;

static struct loop *L;
static uint64_t g_sent, g_recv, g_bytes;
static int g_sending;
static long g_up;
static uint8_t pkt[PKT];

struct pair {
    struct derp_client *tx, *rx;
    uint8_t rxkey[32];
    uint64_t sent, recv, last_recv; /* recv counts losses too, once they are declared */
};
static uint64_t g_lost;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the relay process ---- */

static pid_t relay_pid;
static char relay_url[64];
static char state_dir[64];

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static int port_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static int relay_start(void)
{
    const char *weft = getenv("WEFT") ? getenv("WEFT") : "./weft";
    struct stat st;
    if (getenv("WEFT_MODULE_PATH") == NULL && stat("modules/derp/.libs", &st) == 0)
        setenv("WEFT_MODULE_PATH", "modules/derp/.libs", 1);
    setenv("WEFT_CONFIG", "/nonexistent/weft.yaml", 1);
    uint16_t port = free_port();
    snprintf(relay_url, sizeof(relay_url), "http://127.0.0.1:%u/derp", port);
    char listen[64], sd[96];
    snprintf(listen, sizeof(listen), "derp.listen=127.0.0.1:%u", port);
    snprintf(sd, sizeof(sd), "state_dir=%s", state_dir);
    relay_pid = fork();
    if (relay_pid == 0) {
        int devnull = open("/dev/null", 1);
        dup2(devnull, 2);
        execl(weft, weft, "serve", "derp", "-o", sd, "-o", listen, "-o", "derp.stun_listen=", "-o",
              "log_level=warn", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (port_open(port))
            return 0;
        usleep(50000);
    }
    fprintf(stderr, "bench_derp: the relay (%s) did not start\n", weft);
    return -1;
}

static void relay_stop(void)
{
    kill(relay_pid, SIGTERM);
    waitpid(relay_pid, NULL, 0);
}

/* The relay's CPU seconds (user + system) so far. */
static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static double relay_cpu(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)relay_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, stt = 0;
    if (p != NULL)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt);
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

static long relay_rss_kb(void)
{
    char path[64], line[256];
    long kb = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)relay_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* ---- clients ---- */

static void on_up(struct derp_client *c, const uint8_t server_key[32], void *arg)
{
    g_up++;
}

static void pump(struct derp_client *c, struct pair *p)
{
    while (g_sending && (g_unpaced || p->sent - p->recv < g_window) && derp_client_queued(c) < HIGH_WATER) {
        if (derp_client_send(c, p->rxkey, pkt, PKT) != 0)
            return;
        p->sent++;
        g_sent++;
    }
}

static void on_packet(struct derp_client *c, const uint8_t src[32], const uint8_t *data, size_t len,
                      void *arg)
{
    struct pair *p = arg;
    g_recv++;
    g_bytes += len;
    p->recv++;
    if (!g_unpaced && p->sent - p->recv == g_window / 2)
        pump(p->tx, p);
}

/* A window that made no progress for a while lost packets: count them and open it again. */
static void check_losses(struct pair *ps, int n)
{
    for (int i = 0; i < n; i++) {
        struct pair *p = &ps[i];
        if (p->recv == p->last_recv && p->sent > p->recv) {
            g_lost += p->sent - p->recv;
            p->recv = p->sent;
            pump(p->tx, p);
        }
        p->last_recv = p->recv;
    }
}

static void on_writable(struct derp_client *c, void *arg)
{
    pump(c, arg);
}

static struct derp_client *client(const struct derp_client_cbs *cbs, void *arg)
{
    struct key k;
    key_generate(&k);
    struct derp_client_opts o = {.url = relay_url, .priv = k.b};
    return derp_client_new(L, &o, cbs, arg);
}

static int wait_up(long want, double secs)
{
    double end = now_s() + secs;
    while (g_up < want && now_s() < end)
        loop_run_once(L, 10);
    return g_up >= want ? 0 : -1;
}

static struct pair *g_pairs;
static int g_npairs;

static void run_for(double secs)
{
    double end = now_s() + secs, check = now_s() + 0.2;
    while (now_s() < end) {
        loop_run_once(L, 5);
        if (g_npairs > 0 && !g_unpaced && now_s() > check) {
            check_losses(g_pairs, g_npairs);
            check = now_s() + 0.2;
        }
    }
}

/* Run until nothing has arrived for quiet seconds (at most max). */
static void run_until_quiet(double quiet, double max)
{
    double end = now_s() + max;
    uint64_t last = g_recv;
    double last_t = now_s();
    while (now_s() < end && now_s() - last_t < quiet) {
        loop_run_once(L, 5);
        if (g_recv != last) {
            last = g_recv;
            last_t = now_s();
        }
    }
}

struct result {
    double pps, gbit;
};

/* The run with the median throughput (its packets/s go with it). */
static struct result median(const struct result *r, int n)
{
    struct result s[16];
    memcpy(s, r, (size_t)n * sizeof(*s));
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && s[j].gbit < s[j - 1].gbit; j--) {
            struct result t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    return s[n / 2];
}

static int bench_pairs(int n, double secs, int unpaced, struct result *res)
{
    static const struct derp_client_cbs rxcbs = {.on_connected = on_up, .on_packet = on_packet};
    static const struct derp_client_cbs txcbs = {.on_connected = on_up, .on_writable = on_writable};
    struct pair *ps = calloc((size_t)n, sizeof(*ps));
    g_up = 0;
    for (int i = 0; i < n; i++) {
        ps[i].rx = client(&rxcbs, &ps[i]);
        memcpy(ps[i].rxkey, derp_client_public_key(ps[i].rx), 32);
    }
    if (wait_up(n, 10) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        ps[i].tx = client(&txcbs, &ps[i]);
    if (wait_up(2L * n, 10) != 0)
        return -1;

    g_pairs = ps;
    g_npairs = n;
    g_unpaced = unpaced;
    g_window = (uint64_t)(TOTAL_WINDOW / n < WINDOW ? TOTAL_WINDOW / n : WINDOW);
    g_sending = 1;
    for (int i = 0; i < n; i++)
        pump(ps[i].tx, &ps[i]);
    run_for(0.5); /* warm up */
    uint64_t r0 = g_recv, b0 = g_bytes;
    double c0 = relay_cpu(), s0 = self_cpu(), t0 = now_s();
    run_for(secs);
    double dt = now_s() - t0, cpu = relay_cpu() - c0, scpu = self_cpu() - s0;
    uint64_t pkts = g_recv - r0, bytes = g_bytes - b0;
    g_sending = 0;
    g_npairs = 0;
    run_until_quiet(0.5, 10); /* what is in flight arrives */
    uint64_t drops = g_sent > g_recv ? g_sent - g_recv : 0;
    res->gbit = (double)bytes * 8 / dt / 1e9;
    res->pps = (double)pkts / dt;
    printf("N=%-4d %-7s %9.0f packets/s %6.2f Gbit/s  drops %llu of %llu (%.2f%%)  relay: %.2f CPU s/GB, "
           "%.0f%% of a core (load generator %.0f%%)\n",
           n, unpaced ? "unpaced" : "paced", res->pps, res->gbit, (unsigned long long)drops,
           (unsigned long long)g_sent, g_sent ? 100.0 * (double)drops / (double)g_sent : 0.0,
           bytes ? cpu / ((double)bytes / 1e9) : 0.0, 100.0 * cpu / dt, 100.0 * scpu / dt);
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        derp_client_free(ps[i].tx);
        derp_client_free(ps[i].rx);
    }
    free(ps);
    g_sent = g_recv = g_bytes = g_lost = 0;
    g_unpaced = 0;
    run_for(0.3);
    return 0;
}

static int bench_idle(long n)
{
    static const struct derp_client_cbs cbs = {.on_connected = on_up};
    struct derp_client **cs = calloc((size_t)n, sizeof(*cs));
    g_up = 0;
    /* a few connections first, so the baseline has the relay's per-process buffers warm */
    for (int i = 0; i < 10; i++)
        cs[i] = client(&cbs, NULL);
    if (wait_up(10, 10) != 0)
        return -1;
    run_for(0.3);
    long before = relay_rss_kb();
    double t0 = now_s();
    for (long i = 10; i < n; i++) {
        cs[i] = client(&cbs, NULL);
        if (i % 500 == 499)
            wait_up(i + 1, 10);
    }
    if (wait_up(n, 30) != 0) {
        fprintf(stderr, "bench_derp: only %ld of %ld idle clients connected\n", g_up, n);
        return -1;
    }
    double dt = now_s() - t0;
    run_for(0.5);
    long after = relay_rss_kb();
    printf("idle: %ld connections (handshakes at %.0f/s), relay RSS %ld kB -> %ld kB: %.2f KiB per "
           "connection\n",
           n, (double)(n - 10) / dt, before, after, (double)(after - before) / (double)(n - 10));
    fflush(stdout);
    for (long i = 0; i < n; i++)
        derp_client_free(cs[i]);
    free(cs);
    run_for(0.3);
    return 0;
}

int main(void)
{
    double secs = getenv("BENCH_DERP_SECONDS") ? atof(getenv("BENCH_DERP_SECONDS")) : 3.0;
    long idle = getenv("BENCH_DERP_IDLE") ? atol(getenv("BENCH_DERP_IDLE")) : 10000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur < idle + 100) {
        idle = (long)rl.rlim_cur - 100;
        fprintf(stderr, "bench_derp: RLIMIT_NOFILE allows %ld idle connections only\n", idle);
    }
    signal(SIGPIPE, SIG_IGN);
    if (key_crypto_init() != 0)
        return 1;
    for (size_t i = 0; i < sizeof(pkt); i++)
        pkt[i] = (uint8_t)i;
    snprintf(state_dir, sizeof(state_dir), "/tmp/bench_derp.%d", (int)getpid());
    mkdir(state_dir, 0700);
    L = loop_new();
    int rc = 0;

    printf("DERP relay, %d-byte packets over loopback, one relay process (weft serve derp)\n", PKT);
    if (relay_start() != 0)
        return 1;
    if (idle > 10 && bench_idle(idle) != 0)
        rc = 1;
    relay_stop();

    if (relay_start() != 0)
        return 1;
    /* the same relay process for every figure: peak and overload come from one run */
    int ns[16], nn = 0;
    const char *list = getenv("BENCH_DERP_PAIRS") ? getenv("BENCH_DERP_PAIRS") : "1,10,100";
    for (const char *p = list; *p && nn < 16; p += strspn(p, ","))
        if ((ns[nn] = (int)strtol(p, (char **)&p, 10)) > 0)
            nn++;
        else
            break;
    /* rounds: paced and unpaced take turns, so drift in the machine's load falls on both; medians reported */
    int rounds = getenv("BENCH_DERP_ROUNDS") ? atoi(getenv("BENCH_DERP_ROUNDS")) : 3;
    if (rounds < 1 || rounds > 16)
        rounds = 3;
    static struct result runs[16][2][16];
    struct result paced[16] = {{0}}, unp[16] = {{0}};
    double peak = 0;
    int peak_n = 0;
    for (int i = 0; i < nn; i++) {
        for (int r = 0; r < rounds; r++)
            for (int u = 0; u < 2; u++)
                if (bench_pairs(ns[i], secs, u, &runs[i][u][r]) != 0) {
                    fprintf(stderr, "bench_derp: N=%d: clients did not connect\n", ns[i]);
                    rc = 1;
                    goto out;
                }
        paced[i] = median(runs[i][0], rounds);
        unp[i] = median(runs[i][1], rounds);
    }
    /* the peak: the best median of any offered load (paced windows, or the unpaced flood itself) */
    const struct result *pk = NULL;
    const char *pk_mode = "";
    for (int i = 0; i < nn; i++)
        for (int u = 0; u < 2; u++) {
            const struct result *r = u ? &unp[i] : &paced[i];
            if (r->gbit > peak) {
                peak = r->gbit;
                peak_n = i;
                pk = r;
                pk_mode = u ? "unpaced" : "paced";
            }
        }
    printf("medians of %d rounds:\n", rounds);
    for (int i = 0; i < nn; i++)
        printf("N=%-4d paced %6.2f Gbit/s %9.0f packets/s   unpaced %6.2f Gbit/s %9.0f packets/s\n", ns[i],
               paced[i].gbit, paced[i].pps, unp[i].gbit, unp[i].pps);
    printf("peak (best median of any offered load): %.2f Gbit/s, %.0f packets/s, %s at N=%d\n", peak,
           pk ? pk->pps : 0.0, pk_mode, ns[peak_n]);
    for (int i = 0; i < nn; i++)
        printf("overload (unpaced median) N=%-4d %6.2f Gbit/s, %9.0f packets/s: %3.0f%% of peak\n", ns[i],
               unp[i].gbit, unp[i].pps, peak > 0 ? 100.0 * unp[i].gbit / peak : 0.0);
out:
    relay_stop();
    loop_free(L);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", state_dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
