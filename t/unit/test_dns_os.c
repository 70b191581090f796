// SPDX-License-Identifier: BSD-3-Clause
/* The node's system-resolver integration (modules/node/dns/os.c) on real files in a temporary directory:
 * a plain resolv.conf rewritten with a backup and restored; the original back after a crash; and the
 * files of other managers (NetworkManager, a symlink to something unknown, resolvconf's without its
 * program) left exactly as they were. systemd-resolved over D-Bus is t/node_dns.t's (a stand-in bus). */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/json/jbuf.h"
#include "modules/node/dns/dns.h"
#include "modules/node/dns/os.h"
#include "t/tap.h"

static char dir[64], rc_path[128], bk_path[128];

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0)
        abort();
    fclose(f);
}

static bool same(const char *path, const char *want)
{
    char *got = slurp(path);
    bool r = got && !strcmp(got, want);
    if (!r)
        diag("%s holds:\n%s", path, got ? got : "(nothing)");
    free(got);
    return r;
}

static bool contains(const char *path, const char *want)
{
    char *got = slurp(path);
    bool r = got && strstr(got, want);
    free(got);
    return r;
}

static struct dns_os_wants wants(void)
{
    static char *search[] = {"tail.example"}, *match[] = {"tail.example", "corp.example"};
    return (struct dns_os_wants){true, search, 1, match, 2, false};
}

static void status_has(struct dns_os *o, const char *want, const char *name)
{
    struct jbuf b;
    jbuf_init(&b);
    dns_os_status(o, &b);
    jbuf_put(&b, "", 1);
    ok(b.p && strstr(b.p, want), "%s (%s)", name, b.p ? b.p : "");
    jbuf_free(&b);
}

/* A file another manager owns: left alone, with its reason in the status, and unchanged by apply and free. */
static void left_alone(const char *text, const char *why, const char *name)
{
    put(rc_path, text);
    unlink(bk_path);
    struct dns_os *o = dns_os_new(rc_path, bk_path, "weft0", 1);
    struct dns_os_wants w = wants();
    char err[256];
    ok(dns_os_apply(o, &w, err, sizeof err) == 0 && dns_os_mode(o) == DNS_OS_LEFT_ALONE, "%s: left alone", name);
    status_has(o, why, "... the status says why");
    dns_os_free(o);
    ok(same(rc_path, text) && access(bk_path, F_OK) != 0, "... the file untouched, no backup");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-test-dns-os-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(rc_path, sizeof rc_path, "%s/resolv.conf", dir);
    snprintf(bk_path, sizeof bk_path, "%s/resolv.conf.weft-backup", dir);
    const char *orig = "# the machine's own\nnameserver 192.0.2.53\nsearch lan.example\n";
    char err[256];

    /* a plain file: rewritten (backup first), restored */
    put(rc_path, orig);
    struct dns_os *o = dns_os_new(rc_path, bk_path, "weft0", 1);
    struct dns_os_wants w = wants();
    ok(dns_os_apply(o, &w, err, sizeof err) == 0 && dns_os_mode(o) == DNS_OS_FILE, "a plain resolv.conf: rewritten");
    ok(contains(rc_path, DNS_OS_MARKER) && contains(rc_path, "nameserver 100.100.100.100") &&
           contains(rc_path, "search tail.example"),
       "... with the marker, 100.100.100.100 and the MagicDNS suffix");
    ok(same(bk_path, orig), "... the original kept as the backup");
    char **ns = NULL;
    size_t nns = 0;
    dns_os_read_resolvers(rc_path, bk_path, &ns, &nns);
    ok(nns == 1 && !strcmp(ns[0], "192.0.2.53"), "the machine's resolvers are read from the backup while ours");
    for (size_t i = 0; i < nns; i++)
        free(ns[i]);
    free(ns);
    ok(dns_os_apply(o, &w, err, sizeof err) == 0 && same(bk_path, orig),
       "applied again: the backup is still the original, not weft's file");
    dns_os_free(o);
    ok(same(rc_path, orig) && access(bk_path, F_OK) != 0, "freed (weft down, exit): the original back, no backup");

    /* a crash: weft's file stays until the next start recovers the original */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) { /* a daemon that applies and dies without restoring anything */
        o = dns_os_new(rc_path, bk_path, "weft0", 1);
        _exit(dns_os_apply(o, &w, err, sizeof err) ? 1 : 0);
    }
    int wst;
    ok(pid > 0 && waitpid(pid, &wst, 0) == pid && WIFEXITED(wst) && WEXITSTATUS(wst) == 0,
       "a process applies and exits without restoring (a crash)");
    ok(contains(rc_path, DNS_OS_MARKER), "after a crash resolv.conf is still weft's");
    ok(dns_os_recover(rc_path, bk_path) == 1 && same(rc_path, orig) && access(bk_path, F_OK) != 0,
       "the next start restores the original");
    ok(dns_os_recover(rc_path, bk_path) == 0 && same(rc_path, orig), "... once: a file that is not ours is kept");
    put(rc_path, DNS_OS_MARKER "\nnameserver 100.100.100.100\n");
    ok(dns_os_recover(rc_path, bk_path) == -1 && contains(rc_path, DNS_OS_MARKER),
       "weft's file without a backup: left as it is (nothing to restore)");

    /* never fight another manager */
    left_alone("# Generated by NetworkManager\nnameserver 192.168.1.1\n", "NetworkManager", "NetworkManager's file");
    char target[PATH_MAX + 16];
    snprintf(target, sizeof target, "%s/elsewhere.conf", dir);
    put(target, "nameserver 192.0.2.9\n");
    unlink(rc_path);
    if (symlink(target, rc_path))
        abort();
    o = dns_os_new(rc_path, bk_path, "weft0", 1);
    ok(dns_os_apply(o, &w, err, sizeof err) == 0 && dns_os_mode(o) == DNS_OS_LEFT_ALONE,
       "a symlink to a file of an unknown manager: left alone");
    status_has(o, "managed by something weft does not know", "... the status says why");
    dns_os_free(o);
    struct stat st;
    ok(lstat(rc_path, &st) == 0 && S_ISLNK(st.st_mode) && same(target, "nameserver 192.0.2.9\n") &&
           access(bk_path, F_OK) != 0,
       "... still the same symlink to the same file, no backup");
    unlink(rc_path);
    if (access("/sbin/resolvconf", X_OK) == 0 || access("/usr/sbin/resolvconf", X_OK) == 0) {
        /* this machine has resolvconf: the test would run it for real */
        skip("resolvconf is installed here");
        skip("resolvconf is installed here");
        skip("resolvconf is installed here");
    } else {
        left_alone("# Dynamic resolv.conf(5) file for glibc resolver(3) generated by resolvconf(8)\n"
                   "nameserver 192.0.2.1\n",
                   "no resolvconf program", "resolvconf's file without the resolvconf program");
    }

    /* not enabled (no MagicDNS, no resolvers): nothing is touched */
    put(rc_path, orig);
    o = dns_os_new(rc_path, bk_path, "weft0", 1);
    struct dns_os_wants off = {0};
    ok(dns_os_apply(o, &off, err, sizeof err) == 0 && dns_os_mode(o) == DNS_OS_NONE && same(rc_path, orig),
       "a config without DNS: resolv.conf untouched");
    dns_os_free(o);

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd))
        return 1;
    return done_testing();
}
