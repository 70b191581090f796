// SPDX-License-Identifier: BSD-3-Clause
/* `weft wireguard [-f] IFNAME`: a standalone userspace WireGuard interface, driven by `wg` through the
 * cross-platform UAPI socket exactly as wireguard-go is. Without -f it detaches once the interface and
 * the socket exist (the parent exits 0 then, or 1 with the child's error on stderr). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/cli.h"
#include "core/cli_args.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/module.h"
#include "core/wg/device.h"
#include "core/wg/tun.h"
#include "core/wg/uapi.h"

static const char usage[] =
    "usage: weft wireguard [-f] [--mtu N] IFNAME\n"
    "\n"
    "Create the TUN interface IFNAME and run a userspace WireGuard device on it, configured through\n"
    "the UAPI socket " WG_UAPI_DIR "/IFNAME.sock: `wg set`, `wg show`, `wg showconf` and\n"
    "`wg syncconf` drive it as they drive wireguard-go. Addresses, routes and `ip link set up` are\n"
    "left to the caller (or wg-quick).\n"
    "\n"
    "  -f, --foreground  stay in the foreground (also WG_PROCESS_FOREGROUND=1); otherwise detach once\n"
    "                    the interface and socket are ready\n"
    "  --mtu N           the interface MTU (default 1280)\n"
    "\n"
    "SIGTERM or SIGINT, or the interface being deleted, stop it and remove the socket.\n";

struct wgd {
    struct loop *loop;
    struct wg_device *dev;
};

static void on_signal(int signo, void *arg)
{
    struct wgd *w = arg;
    log_info("wireguard: signal %d, stopping", signo);
    loop_stop(w->loop);
}

static void on_event(void *ctx, struct wg_peer *p, enum wg_event ev)
{
    (void)ctx;
    if (!p)
        return;
    const uint8_t *k = wg_peer_public_key(p);
    if (ev == WG_EVENT_HANDSHAKE)
        log_debug("wireguard: handshake with peer %02x%02x%02x%02x...", k[0], k[1], k[2], k[3]);
}

static void on_tun_gone(void *arg)
{
    struct wgd *w = arg;
    log_info("wireguard: interface gone, stopping");
    loop_stop(w->loop);
}

static unsigned env_uint(const char *name)
{
    const char *v = getenv(name);
    return v ? (unsigned)strtoul(v, NULL, 10) : 0;
}

/* Tell the waiting parent how the start went: 0 ready, else failed. */
static void report(int fd, char status)
{
    if (fd >= 0) {
        ssize_t r = write(fd, &status, 1);
        (void)r;
        close(fd);
    }
}

static int run(const char *ifname, unsigned mtu, int ready_fd)
{
    struct wgd w = {0};
    char err[256];
    int rc = 1;
    struct wg_tun *tun = NULL;
    struct wg_uapi *uapi = NULL;

    w.loop = loop_new();
    if (!w.loop) {
        fprintf(stderr, "weft wireguard: cannot create the event loop\n");
        report(ready_fd, 1);
        return 1;
    }
    tun = wg_tun_open(ifname, mtu, err, sizeof(err));
    if (!tun) {
        fprintf(stderr, "weft wireguard: %s\n", err);
        goto out;
    }
    w.dev = wg_device_new(w.loop);
    if (!w.dev) {
        fprintf(stderr, "weft wireguard: cannot create the device\n");
        goto out;
    }
    /* test-only: the integration tests shorten the protocol's timers and force cookie replies */
    wg_device_set_test_knobs(w.dev, env_uint("WEFT_WG_TEST_TIMER_SCALE"), env_uint("WEFT_WG_TEST_UNDER_LOAD") != 0);
    wg_device_set_event_hook(w.dev, on_event, &w);
    wg_device_attach_tun(w.dev, tun);
    uapi = wg_uapi_listen(w.loop, w.dev, getenv("WEFT_WG_UAPI_DIR"), wg_tun_name(tun), err, sizeof(err));
    if (!uapi) {
        fprintf(stderr, "weft wireguard: %s\n", err);
        goto out;
    }
    wg_device_set_tun_gone(w.dev, on_tun_gone, &w);
    loop_signal(w.loop, SIGTERM, on_signal, &w);
    loop_signal(w.loop, SIGINT, on_signal, &w);
    log_info("wireguard: interface %s up (offloads %s), UAPI on %s/%s.sock", wg_tun_name(tun),
             wg_tun_offloads(tun) ? "on" : "off", getenv("WEFT_WG_UAPI_DIR") ? getenv("WEFT_WG_UAPI_DIR")
                                                                           : WG_UAPI_DIR, wg_tun_name(tun));
    if (ready_fd >= 0) {
        report(ready_fd, 0);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
        ready_fd = -1;
    }
    rc = loop_run(w.loop) < 0 ? 1 : 0;
out:
    report(ready_fd, 1);
    wg_uapi_close(uapi);
    wg_device_free(w.dev);
    wg_tun_close(tun);
    loop_free(w.loop);
    return rc;
}

static int verb_wireguard(struct weft_cli *cli, int argc, char **argv)
{
    (void)cli;
    bool fg = getenv("WG_PROCESS_FOREGROUND") && strcmp(getenv("WG_PROCESS_FOREGROUND"), "1") == 0;
    unsigned mtu = WG_DEFAULT_MTU;
    const char *ifname = NULL, *mtu_text = NULL, *pos[1];
    int foreground = 0, npos;
    long long v;
    const struct cli_opt opts[] = {{"--foreground", "-f", NULL, &foreground}, CLI_OPT_VALUE("--mtu", &mtu_text),
                                   CLI_OPT_END};
    if (cli_args("wireguard", argc, argv, opts, pos, 1, &npos))
        return 2;
    if (foreground)
        fg = true;
    if (mtu_text) {
        if (cli_int("wireguard", "--mtu", mtu_text, 576, 9000, &v))
            return 2;
        mtu = (unsigned)v;
    }
    ifname = npos ? pos[0] : NULL;
    if (!ifname) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    if (fg)
        return run(ifname, mtu, -1);

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        fprintf(stderr, "weft wireguard: pipe: %s\n", strerror(errno));
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "weft wireguard: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        close(pfd[0]);
        setsid();
        _exit(run(ifname, mtu, pfd[1]));
    }
    close(pfd[1]);
    char status = 1;
    ssize_t r;
    while ((r = read(pfd[0], &status, 1)) < 0 && errno == EINTR)
        ;
    close(pfd[0]);
    if (r == 1 && status == 0)
        return 0;
    int st;
    waitpid(pid, &st, 0);
    return 1;
}

/* The node module's verbs. */
const struct weft_verb node_verbs[] = {
    {"wireguard", "run a standalone userspace WireGuard interface (driven by wg(8))", usage, verb_wireguard},
    {NULL, NULL, NULL, NULL},
};
