// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "modules/node/dns/os.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "core/dynlib.h"
#include "core/json/jbuf.h"
#include "core/log.h"
#include "modules/node/dns/dns.h"

#define RESOLVED_DEST "org.freedesktop.resolve1"
#define RESOLVED_PATH "/org/freedesktop/resolve1"
#define RESOLVED_IFACE "org.freedesktop.resolve1.Manager"
#define BUS_TIMEOUT_US (2 * 1000 * 1000)

struct dns_os {
    char *resolv_conf, *backup, *ifname;
    int ifindex;
    enum dns_os_mode mode;
    char detail[256];
    char error[256];
    bool warned;
};

const char *dns_os_mode_name(enum dns_os_mode m)
{
    switch (m) {
    case DNS_OS_RESOLVED:
        return "systemd-resolved";
    case DNS_OS_RESOLVCONF:
        return "resolvconf";
    case DNS_OS_FILE:
        return "resolv.conf";
    case DNS_OS_LEFT_ALONE:
        return "left-alone";
    default:
        return "none";
    }
}

/* ---- files ---- */

static char *read_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    fclose(f);
    if (buf)
        buf[n] = 0;
    return buf;
}

/* Write text to path: a temporary file next to it renamed over it, or (a bind-mounted file, as in containers
 * and `ip netns exec`, cannot be renamed over) written in place. 0 or -1 with errno. */
static int write_file(const char *path, const char *text, mode_t mode)
{
    char tmp[PATH_MAX];
    size_t len = strlen(text);
    if (snprintf(tmp, sizeof tmp, "%s.weft-tmp", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd >= 0) {
        bool good = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
        close(fd);
        if (good && rename(tmp, path) == 0)
            return 0;
        unlink(tmp);
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    bool good = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    close(fd);
    errno = e;
    return good ? 0 : -1;
}

static bool has_marker(const char *text)
{
    return text && strstr(text, DNS_OS_MARKER) != NULL;
}

int dns_os_recover(const char *resolv_conf, const char *backup)
{
    char *cur = read_file(resolv_conf, 65536);
    int rc = 0;
    if (has_marker(cur)) {
        char *orig = read_file(backup, 65536);
        if (!orig) {
            log_warn("module=node event=dns_os file=%s msg=\"written by weft but no backup at %s: left as it "
                     "is\"",
                     resolv_conf, backup);
            rc = -1;
        } else if (write_file(resolv_conf, orig, 0644)) {
            log_error("module=node event=dns_os file=%s error=\"%s\" msg=\"cannot restore it\"", resolv_conf,
                      strerror(errno));
            rc = -1;
        } else {
            log_info("module=node event=dns_os_recovered file=%s msg=\"restored from %s (weft did not stop "
                     "cleanly)\"",
                     resolv_conf, backup);
            unlink(backup);
            rc = 1;
        }
        free(orig);
    }
    free(cur);
    return rc;
}

static int push_str(char ***v, size_t *n, const char *s)
{
    char **w = realloc(*v, (*n + 1) * sizeof *w);
    if (!w)
        return -1;
    *v = w;
    if (!(w[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

int dns_os_read_resolvers(const char *resolv_conf, const char *backup, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char *text = read_file(resolv_conf, 65536);
    if (has_marker(text)) {
        free(text);
        text = read_file(backup, 65536);
    }
    if (!text)
        return -1;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char addr[128];
        if (sscanf(line, " nameserver %127s", addr) != 1)
            continue;
        char *pct = strchr(addr, '%'); /* a scope: fe80::1%eth0 is not something we can use as text */
        if (pct)
            continue;
        char buf[140];
        if (strchr(addr, ':'))
            snprintf(buf, sizeof buf, "[%s]:53", addr);
        else
            snprintf(buf, sizeof buf, "%s", addr);
        push_str(out, n, buf);
    }
    free(text);
    return 0;
}

/* ---- who manages resolv.conf ---- */

static enum dns_os_mode detect(const struct dns_os *o, char *detail, size_t cap)
{
    char target[PATH_MAX] = "";
    ssize_t tl = readlink(o->resolv_conf, target, sizeof target - 1);
    if (tl > 0)
        target[tl] = 0;
    char *text = read_file(o->resolv_conf, 65536);
    enum dns_os_mode m = DNS_OS_FILE;
    if (strstr(target, "/run/systemd/resolve/") || (text && strstr(text, "systemd-resolved"))) {
        m = DNS_OS_RESOLVED;
        snprintf(detail, cap, "%s is systemd-resolved's", o->resolv_conf);
    } else if (strstr(target, "resolvconf") || (text && (strstr(text, "resolvconf") || strstr(text, "openresolv")))) {
        if (access("/sbin/resolvconf", X_OK) == 0 || access("/usr/sbin/resolvconf", X_OK) == 0) {
            m = DNS_OS_RESOLVCONF;
            snprintf(detail, cap, "%s is generated by resolvconf", o->resolv_conf);
        } else {
            m = DNS_OS_LEFT_ALONE;
            snprintf(detail, cap, "%s says resolvconf manages it, but there is no resolvconf program",
                     o->resolv_conf);
        }
    } else if (text && strstr(text, "NetworkManager")) {
        m = DNS_OS_LEFT_ALONE;
        snprintf(detail, cap,
                 "NetworkManager writes %s (with its own DNS backend): set its dns=systemd-resolved or add "
                 "100.100.100.100 in its connection settings",
                 o->resolv_conf);
    } else if (tl > 0 && !has_marker(text)) {
        m = DNS_OS_LEFT_ALONE;
        snprintf(detail, cap, "%s is a symlink to %s, managed by something weft does not know", o->resolv_conf,
                 target);
    } else {
        snprintf(detail, cap, "%s rewritten (backup %s)", o->resolv_conf, o->backup);
    }
    free(text);
    return m;
}

/* ---- systemd-resolved over D-Bus ---- */

/* libsystemd is loaded (dlopen) the first time the node talks to systemd-resolved, not linked: with what it
 * brings (libgcrypt, libgpg-error, liblzma, liblz4, libcap) it is some 700 KiB of a node's resident memory,
 * and a node whose resolv.conf is a plain file, or that doesn't take the tailnet's DNS, never uses it. The
 * functions are typed from sd-bus.h, so every call is checked as if linked. */
#ifndef WEFT_LIBSYSTEMD_SONAME
#define WEFT_LIBSYSTEMD_SONAME "libsystemd.so.0"
#endif
#define SDB_FUNCS(X)                                                                                              \
    X(open_system) X(flush_close_unref) X(call) X(call_method) X(error_free) X(message_new_method_call)             \
    X(message_unref) X(message_get_member) X(message_append) X(message_append_array)                               \
    X(message_open_container) X(message_close_container)
static struct {
#define X(name) __typeof__(sd_bus_##name) *name;
    SDB_FUNCS(X)
#undef X
} sdb;
static int sdb_state; /* 0: not tried; 1: loaded; -1: cannot be (sdb_err says why) */
static char sdb_err[300];

static int sdb_load(void)
{
    if (sdb_state)
        return sdb_state;
    static const struct dynlib_sym syms[] = {
#define X(name) DYNLIB_SYM(sdb, "sd_bus_", name)
        SDB_FUNCS(X)
#undef X
    };
    sdb_state = dynlib_open(WEFT_LIBSYSTEMD_SONAME, "libsystemd", "libsystemd0", syms, sizeof syms / sizeof *syms,
                            sdb_err, sizeof sdb_err)
                    ? 1
                    : -1;
    return sdb_state;
}

static int bus_call(sd_bus *bus, sd_bus_message *m, char *err, size_t errlen)
{
    sd_bus_error e = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int r = sdb.call(bus, m, BUS_TIMEOUT_US, &e, &reply);
    if (r < 0)
        snprintf(err, errlen, "%s: %s", sdb.message_get_member(m),
                 e.message ? e.message : strerror(-r));
    sdb.error_free(&e);
    sdb.message_unref(reply);
    return r < 0 ? -1 : 0;
}

static int resolved_apply(struct dns_os *o, const struct dns_os_wants *w, char *err, size_t errlen)
{
    if (sdb_load() < 0) {
        snprintf(err, errlen, "%s", sdb_err);
        return -1;
    }
    sd_bus *bus = NULL;
    sd_bus_message *m = NULL;
    int r = sdb.open_system(&bus);
    if (r < 0) {
        snprintf(err, errlen, "cannot reach the system bus: %s", strerror(-r));
        return -1;
    }
    int rc = -1;
    /* DNS server: 100.100.100.100 (and the IPv6 address, both answer) */
    if (sdb.message_new_method_call(bus, &m, RESOLVED_DEST, RESOLVED_PATH, RESOLVED_IFACE, "SetLinkDNS") < 0 ||
        sdb.message_append(m, "i", o->ifindex) < 0 || sdb.message_open_container(m, 'a', "(iay)") < 0 ||
        sdb.message_open_container(m, 'r', "iay") < 0 || sdb.message_append(m, "i", AF_INET) < 0 ||
        sdb.message_append_array(m, 'y', dns_quad100_v4, 4) < 0 || sdb.message_close_container(m) < 0 ||
        sdb.message_close_container(m) < 0 || bus_call(bus, m, err, errlen))
        goto out;
    m = sdb.message_unref(m);
    /* domains: search domains as they are, the others routing-only (~domain); "." routing-only makes the
     * link the default route for every name */
    if (sdb.message_new_method_call(bus, &m, RESOLVED_DEST, RESOLVED_PATH, RESOLVED_IFACE, "SetLinkDomains") <
            0 ||
        sdb.message_append(m, "i", o->ifindex) < 0 || sdb.message_open_container(m, 'a', "(sb)") < 0)
        goto out;
    for (size_t i = 0; i < w->nsearch; i++)
        if (sdb.message_append(m, "(sb)", w->search[i], 0) < 0)
            goto out;
    for (size_t i = 0; i < w->nmatch; i++) {
        bool also_search = false;
        for (size_t k = 0; k < w->nsearch; k++)
            also_search |= !strcmp(w->search[k], w->match[i]);
        if (!also_search && sdb.message_append(m, "(sb)", w->match[i], 1) < 0)
            goto out;
    }
    if (w->default_route && sdb.message_append(m, "(sb)", ".", 1) < 0)
        goto out;
    if (sdb.message_close_container(m) < 0 || bus_call(bus, m, err, errlen))
        goto out;
    m = sdb.message_unref(m);
    if (sdb.message_new_method_call(bus, &m, RESOLVED_DEST, RESOLVED_PATH, RESOLVED_IFACE,
                                       "SetLinkDefaultRoute") < 0 ||
        sdb.message_append(m, "ib", o->ifindex, (int)w->default_route) < 0)
        goto out;
    if (bus_call(bus, m, err, errlen))
        log_warn("module=node event=dns_os msg=\"SetLinkDefaultRoute failed (systemd before 246?): %s\"", err);
    m = sdb.message_unref(m);
    /* no LLMNR or mDNS on a tunnel; stale answers out of resolved's cache */
    if (sdb.message_new_method_call(bus, &m, RESOLVED_DEST, RESOLVED_PATH, RESOLVED_IFACE, "SetLinkLLMNR") >=
            0 &&
        sdb.message_append(m, "is", o->ifindex, "no") >= 0)
        bus_call(bus, m, err, errlen);
    m = sdb.message_unref(m);
    if (sdb.message_new_method_call(bus, &m, RESOLVED_DEST, RESOLVED_PATH, RESOLVED_IFACE, "FlushCaches") >= 0)
        bus_call(bus, m, err, errlen);
    err[0] = 0;
    rc = 0;
out:
    if (rc && !err[0])
        snprintf(err, errlen, "cannot build the D-Bus call");
    sdb.message_unref(m);
    sdb.flush_close_unref(bus);
    return rc;
}

static void resolved_revert(struct dns_os *o)
{
    sd_bus *bus = NULL;
    if (sdb_load() < 0 || sdb.open_system(&bus) < 0) /* apply could not have worked either: nothing to revert */
        return;
    sd_bus_error e = SD_BUS_ERROR_NULL;
    int r = sdb.call_method(bus, RESOLVED_DEST, RESOLVED_PATH, RESOLVED_IFACE, "RevertLink", &e, NULL, "i",
                               o->ifindex);
    if (r < 0)
        log_warn("module=node event=dns_os error=\"RevertLink: %s\"", e.message ? e.message : strerror(-r));
    sdb.error_free(&e);
    sdb.flush_close_unref(bus);
}

/* ---- resolvconf ---- */

static int run_resolvconf(const char *const argv[], const char *input)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none); /* the loop blocks signals for its signalfd */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    const char *prog = access("/sbin/resolvconf", X_OK) == 0 ? "/sbin/resolvconf" : "/usr/sbin/resolvconf";
    int r = posix_spawn(&pid, prog, &fa, &at, (char *const *)argv, NULL);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(pfd[0]);
    if (r) {
        close(pfd[1]);
        errno = r;
        return -1;
    }
    if (input && write(pfd[1], input, strlen(input)) < 0)
        log_warn("module=node event=dns_os error=\"writing to resolvconf: %s\"", strerror(errno));
    close(pfd[1]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---- the resolv.conf text ---- */

static char *resolv_text(const struct dns_os_wants *w, bool marker)
{
    struct jbuf b; /* a growing buffer is all that is needed */
    jbuf_init(&b);
    if (marker) {
        jbuf_put(&b, DNS_OS_MARKER, strlen(DNS_OS_MARKER));
        jbuf_put(&b, "\n", 1);
    }
    const char *ns = "nameserver 100.100.100.100\n";
    jbuf_put(&b, ns, strlen(ns));
    if (w->nsearch) {
        jbuf_put(&b, "search", 6);
        for (size_t i = 0; i < w->nsearch; i++) {
            jbuf_put(&b, " ", 1);
            jbuf_put(&b, w->search[i], strlen(w->search[i]));
        }
        jbuf_put(&b, "\n", 1);
    }
    jbuf_putc(&b, 0);
    size_t len;
    char *t = b.oom ? NULL : jbuf_take(&b, &len);
    jbuf_free(&b);
    return t;
}

/* ---- apply / restore ---- */

static void restore(struct dns_os *o)
{
    switch (o->mode) {
    case DNS_OS_RESOLVED:
        resolved_revert(o);
        log_info("module=node event=dns_os mode=systemd-resolved msg=\"link %s reverted\"", o->ifname);
        break;
    case DNS_OS_RESOLVCONF: {
        char iface[64];
        snprintf(iface, sizeof iface, "%s.weft", o->ifname);
        const char *argv[] = {"resolvconf", "-d", iface, NULL};
        if (run_resolvconf(argv, NULL))
            log_warn("module=node event=dns_os msg=\"resolvconf -d %s failed\"", iface);
        break;
    }
    case DNS_OS_FILE: {
        char *cur = read_file(o->resolv_conf, 65536);
        char *orig = read_file(o->backup, 65536);
        if (!has_marker(cur)) {
            log_warn("module=node event=dns_os file=%s msg=\"changed by someone else since weft wrote it: left "
                     "as it is\"",
                     o->resolv_conf);
            unlink(o->backup);
        } else if (orig && write_file(o->resolv_conf, orig, 0644) == 0) {
            unlink(o->backup);
            log_info("module=node event=dns_os file=%s msg=\"restored\"", o->resolv_conf);
        } else {
            log_error("module=node event=dns_os file=%s error=\"%s\" msg=\"cannot restore it from %s\"",
                      o->resolv_conf, orig ? strerror(errno) : "no backup", o->backup);
        }
        free(cur);
        free(orig);
        break;
    }
    default:
        break;
    }
    o->mode = DNS_OS_NONE;
}

void dns_os_restore(struct dns_os *o)
{
    if (o)
        restore(o);
}

int dns_os_apply(struct dns_os *o, const struct dns_os_wants *w, char *err, size_t errlen)
{
    err[0] = 0;
    o->error[0] = 0;
    if (!w->enabled) {
        restore(o);
        return 0;
    }
    enum dns_os_mode m = o->mode;
    if (m == DNS_OS_NONE) {
        m = detect(o, o->detail, sizeof o->detail);
        if (m == DNS_OS_LEFT_ALONE) {
            o->mode = m;
            log_warn("module=node event=dns_os mode=left-alone msg=\"%s: MagicDNS names resolve only with dig "
                     "@100.100.100.100\"",
                     o->detail);
            return 0;
        }
    }
    int rc = 0;
    if (m == DNS_OS_RESOLVED) {
        rc = resolved_apply(o, w, err, errlen);
    } else if (m == DNS_OS_RESOLVCONF) {
        char iface[64];
        snprintf(iface, sizeof iface, "%s.weft", o->ifname);
        const char *argv[] = {"resolvconf", "-a", iface, NULL};
        char *text = resolv_text(w, false);
        rc = text ? run_resolvconf(argv, text) : -1;
        free(text);
        if (rc)
            snprintf(err, errlen, "resolvconf -a %s failed", iface);
    } else if (m == DNS_OS_FILE) {
        if (o->mode != DNS_OS_FILE) { /* first time: keep the original (unless it is already ours) */
            char *cur = read_file(o->resolv_conf, 65536);
            if (!has_marker(cur) && write_file(o->backup, cur ? cur : "", 0600)) {
                snprintf(err, errlen, "cannot write the backup %s: %s", o->backup, strerror(errno));
                rc = -1;
            }
            free(cur);
        }
        char *text = rc ? NULL : resolv_text(w, true);
        if (!rc && (!text || write_file(o->resolv_conf, text, 0644))) {
            snprintf(err, errlen, "cannot write %s: %s", o->resolv_conf, strerror(errno));
            rc = -1;
        }
        free(text);
    }
    if (rc) {
        snprintf(o->error, sizeof o->error, "%s", err);
        log_warn("module=node event=dns_os mode=%s error=\"%s\"", dns_os_mode_name(m), err);
        if (o->mode == DNS_OS_NONE && m != DNS_OS_FILE)
            return -1;
        if (m == DNS_OS_FILE && o->mode != DNS_OS_FILE)
            return -1; /* nothing was changed */
    }
    if (o->mode != m)
        log_info("module=node event=dns_os mode=%s msg=\"%s\"", dns_os_mode_name(m), o->detail);
    o->mode = m;
    return rc;
}

struct dns_os *dns_os_new(const char *resolv_conf, const char *backup, const char *ifname, int ifindex)
{
    struct dns_os *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->resolv_conf = strdup(resolv_conf);
    o->backup = strdup(backup);
    o->ifname = strdup(ifname ? ifname : "");
    o->ifindex = ifindex;
    if (!o->resolv_conf || !o->backup || !o->ifname) {
        dns_os_free(o);
        return NULL;
    }
    return o;
}

void dns_os_free(struct dns_os *o)
{
    if (!o)
        return;
    restore(o);
    free(o->resolv_conf);
    free(o->backup);
    free(o->ifname);
    free(o);
}

enum dns_os_mode dns_os_mode(const struct dns_os *o)
{
    return o ? o->mode : DNS_OS_NONE;
}

void dns_os_status(const struct dns_os *o, struct jbuf *b)
{
    jbuf_field(b, "Mode");
    jbuf_str(b, dns_os_mode_name(o ? o->mode : DNS_OS_NONE));
    jbuf_field(b, "Detail");
    jbuf_str(b, o && o->mode != DNS_OS_NONE ? o->detail : "");
    jbuf_field(b, "Error");
    jbuf_str(b, o ? o->error : "");
}
