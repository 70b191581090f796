// SPDX-License-Identifier: BSD-3-Clause
/* UPnP IGD port mapping through libminiupnpc (portmap.c decides when; see ms_int.h for the calls).
 *
 * UPnP needs SSDP discovery, HTTP and SOAP/XML: libminiupnpc does all of it (and is what most routers'
 * own daemon, miniupnpd, is tested against), so we write none of it. Its calls block - discovery waits
 * for answers, every SOAP action is a TCP exchange with the router - and the node has one loop that must
 * never block. So each job (discover, add or refresh a mapping, delete it) runs on a thread of its own,
 * one job at a time: the thread owns the IGD's URLs while it runs, the loop owns them between jobs (the
 * thread is joined before the loop looks), so nothing is shared while both run. The thread says it is
 * done through an eventfd the loop watches; the loop joins it and hands the result to portmap.c.
 *
 * At exit the mapping is deleted synchronously (a job under way is waited for first): bounded by
 * libminiupnpc's own socket timeouts, and a router left holding a mapping for a dead node is worse. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "modules/node/magicsock/ms_int.h"

#if defined(HAVE_MINIUPNPC) && !defined(WEFT_NO_UPNP) /* WEFT_NO_UPNP: the stubs (the fuzzers) */
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>

#define UPNP_DISCOVER_MS 1000 /* how long discovery listens for SSDP answers */
#define UPNP_DESC "weft"

enum job { JOB_PROBE, JOB_MAP, JOB_DELETE };

struct ms_upnp {
    struct loop *loop;
    ms_upnp_cb cb;
    void *arg;
    int efd;
    struct loop_watch *w;
    bool running; /* a job's thread exists (not yet joined) */
    pthread_t th;

    /* the job: set by the loop before the thread starts, read by the thread */
    enum job job;
    char self[INET_ADDRSTRLEN];
    uint16_t internal_port;
    uint32_t lifetime;
    /* the IGD: the thread's while a job runs, the loop's otherwise */
    bool have_igd;
    struct UPNPUrls urls;
    struct IGDdatas data;
    uint16_t mapped_port; /* our external port on it, 0: none */
    /* the result: written by the thread, read by the loop after the join */
    struct ms_upnp_result res;
};

static void forget_igd(struct ms_upnp *u)
{
    if (u->have_igd)
        FreeUPNPUrls(&u->urls);
    u->have_igd = false;
    memset(&u->urls, 0, sizeof u->urls);
}

/* Find the gateway's IGD (the one answering for our LAN address). Thread side. */
static bool discover(struct ms_upnp *u)
{
    if (u->have_igd)
        return true;
    int err = 0;
    struct UPNPDev *devs = upnpDiscover(UPNP_DISCOVER_MS, u->self, NULL, 0, 0, 2, &err);
    if (!devs) {
        snprintf(u->res.err, sizeof u->res.err, "no UPnP device answered discovery");
        return false;
    }
    char lan[64] = "";
    int r = UPNP_GetValidIGD(devs, &u->urls, &u->data, lan, sizeof lan);
    freeUPNPDevlist(devs);
    if (r != 1 && r != 2) { /* 1: a connected IGD; 2: an IGD that says it is not connected (many lie) */
        if (r != 0)
            FreeUPNPUrls(&u->urls);
        memset(&u->urls, 0, sizeof u->urls);
        snprintf(u->res.err, sizeof u->res.err, "no Internet Gateway Device among the UPnP devices");
        return false;
    }
    u->have_igd = true;
    return true;
}

static const char *upnp_err(int rc)
{
    const char *s = strupnperror(rc);
    return s ? s : "unknown error";
}

static void do_map(struct ms_upnp *u)
{
    if (!discover(u))
        return;
    u->res.igd = true;
    char ext[40] = "";
    int rc = UPNP_GetExternalIPAddress(u->urls.controlURL, u->data.first.servicetype, ext);
    struct in_addr ea;
    if (rc != UPNPCOMMAND_SUCCESS || inet_pton(AF_INET, ext, &ea) != 1 || ea.s_addr == 0) {
        snprintf(u->res.err, sizeof u->res.err, "the gateway gives no external address (%s)",
                 rc ? upnp_err(rc) : ext);
        forget_igd(u); /* it may have gone: look again next time */
        return;
    }
    char in[8], want[8], lease[16];
    snprintf(in, sizeof in, "%u", u->internal_port);
    uint16_t port = u->mapped_port ? u->mapped_port : u->internal_port; /* refresh keeps the port */
    uint32_t lifetime = u->lifetime;
    for (int attempt = 0; attempt < 3; attempt++) {
        snprintf(want, sizeof want, "%u", port);
        snprintf(lease, sizeof lease, "%u", lifetime);
        rc = UPNP_AddPortMapping(u->urls.controlURL, u->data.first.servicetype, want, in, u->self, UPNP_DESC, "UDP",
                                 NULL, lease);
        if (rc == UPNPCOMMAND_SUCCESS)
            break;
        if (rc == 725 && lifetime) { /* OnlyPermanentLeasesSupported: ask for one, refreshed all the same */
            lifetime = 0;
            continue;
        }
        if (rc == 718 || rc == 724) { /* ConflictInMappingEntry, SamePortValuesRequired: another port */
            port = (uint16_t)(1024 + randombytes_uniform(65535 - 1024));
            continue;
        }
        break;
    }
    if (rc != UPNPCOMMAND_SUCCESS) {
        snprintf(u->res.err, sizeof u->res.err, "AddPortMapping: %s (%d)", upnp_err(rc), rc);
        return;
    }
    u->mapped_port = port;
    memcpy(u->res.ext_ip, &ea.s_addr, 4);
    u->res.ext_port = port;
    u->res.lifetime = lifetime;
    u->res.mapped = true;
}

static void do_delete(struct ms_upnp *u)
{
    if (!u->mapped_port || !u->have_igd)
        return;
    char ext[8];
    snprintf(ext, sizeof ext, "%u", u->mapped_port);
    int rc = UPNP_DeletePortMapping(u->urls.controlURL, u->data.first.servicetype, ext, "UDP", NULL);
    if (rc != UPNPCOMMAND_SUCCESS && rc != 714) /* 714: NoSuchEntryInArray, it is gone all the same */
        snprintf(u->res.err, sizeof u->res.err, "DeletePortMapping: %s (%d)", upnp_err(rc), rc);
    else
        u->res.deleted = true;
    u->mapped_port = 0;
}

static void run_job(struct ms_upnp *u)
{
    switch (u->job) {
    case JOB_PROBE:
        u->res.igd = discover(u);
        break;
    case JOB_MAP:
        do_map(u);
        break;
    case JOB_DELETE:
        do_delete(u);
        forget_igd(u);
        break;
    }
}

static void *job_thread(void *arg)
{
    struct ms_upnp *u = arg;
    run_job(u);
    uint64_t one = 1;
    ssize_t w = write(u->efd, &one, sizeof one);
    (void)w;
    return NULL;
}

static void on_done(struct loop_watch *w, int fd, int events, void *arg)
{
    struct ms_upnp *u = arg;
    uint64_t v;
    if (read(fd, &v, sizeof v) != sizeof v || !u->running)
        return;
    pthread_join(u->th, NULL);
    u->running = false;
    struct ms_upnp_result r = u->res;
    r.probe = u->job == JOB_PROBE;
    r.delete = u->job == JOB_DELETE;
    if (u->cb)
        u->cb(u->arg, &r);
}

static bool start(struct ms_upnp *u, enum job job, const uint8_t self[4])
{
    if (u->running)
        return false;
    u->job = job;
    if (self)
        inet_ntop(AF_INET, self, u->self, sizeof u->self);
    memset(&u->res, 0, sizeof u->res);
    /* the thread takes no signals: they stay the loop's */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    int rc = pthread_create(&u->th, &at, job_thread, u);
    pthread_attr_destroy(&at);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_warn("module=node event=portmap protocol=upnp error=\"cannot start a thread: %s\"", strerror(rc));
        return false;
    }
    u->running = true;
    return true;
}

struct ms_upnp *ms_upnp_new(struct loop *l, ms_upnp_cb cb, void *arg)
{
    struct ms_upnp *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->loop = l;
    u->cb = cb;
    u->arg = arg;
    u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (u->efd < 0 || !(u->w = loop_watch_add(l, u->efd, LOOP_READ, on_done, u))) {
        if (u->efd >= 0)
            close(u->efd);
        free(u);
        return NULL;
    }
    return u;
}

bool ms_upnp_busy(const struct ms_upnp *u)
{
    return u->running;
}

bool ms_upnp_probe(struct ms_upnp *u, const uint8_t self[4])
{
    return start(u, JOB_PROBE, self);
}

bool ms_upnp_map(struct ms_upnp *u, const uint8_t self[4], uint16_t internal_port, uint32_t lifetime)
{
    if (u->running)
        return false;
    if (internal_port != u->internal_port)
        u->mapped_port = 0; /* another local port: a new mapping */
    u->internal_port = internal_port;
    u->lifetime = lifetime;
    return start(u, JOB_MAP, self);
}

bool ms_upnp_forget(struct ms_upnp *u)
{
    if (u->running)
        return false;
    if (!u->mapped_port) {
        forget_igd(u);
        return true;
    }
    return start(u, JOB_DELETE, NULL); /* the old gateway may be gone: the delete then fails, quietly */
}

void ms_upnp_free(struct ms_upnp *u)
{
    if (!u)
        return;
    if (u->running)
        pthread_join(u->th, NULL);
    if (u->mapped_port) {
        memset(&u->res, 0, sizeof u->res);
        uint16_t port = u->mapped_port;
        do_delete(u);
        if (u->res.deleted)
            log_info("module=node event=portmap protocol=upnp msg=\"mapping deleted\" external_port=%u", port);
        else
            log_warn("module=node event=portmap protocol=upnp error=\"%s\"", u->res.err);
    }
    forget_igd(u);
    loop_watch_free(u->w);
    close(u->efd);
    free(u);
}

#else /* no libminiupnpc: UPnP is not spoken (configure said so) */

struct ms_upnp *ms_upnp_new(struct loop *l, ms_upnp_cb cb, void *arg)
{
    return NULL;
}
bool ms_upnp_busy(const struct ms_upnp *u)
{
    return false;
}
bool ms_upnp_probe(struct ms_upnp *u, const uint8_t self[4])
{
    return false;
}
bool ms_upnp_map(struct ms_upnp *u, const uint8_t self[4], uint16_t internal_port, uint32_t lifetime)
{
    return false;
}
bool ms_upnp_forget(struct ms_upnp *u)
{
    return true;
}
void ms_upnp_free(struct ms_upnp *u)
{
}

#endif
