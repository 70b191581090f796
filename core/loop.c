// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/loop_h2o.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* h2o_evloop_run takes an int32 wait; an hour is plenty between wake-ups when nothing is due. */
#define MAX_WAIT_MS (3600 * 1000)

struct defer {
    struct defer *next;
    void (*cb)(void *arg);
    void *arg;
};

struct sigroute {
    void (*cb)(int signo, void *arg);
    void *arg;
};

struct loop_watch {
    struct loop_handle h;
    struct loop *loop;
    h2o_socket_t *sock;
    int fd;
    int events;
    int write_armed; /* an h2o write notification is pending (it cannot be withdrawn) */
    int busy;        /* inside the callback: free later */
    int dead;
    loop_watch_cb cb;
    void *arg;
};

struct loop {
    h2o_evloop_t *h2o;
    uint64_t now;
    int polling; /* inside h2o_evloop_run: its wait may have lasted any time, so loop_now reads the clock */
    int stopped;

    struct timer **heap;
    size_t heap_len, heap_cap;
    uint64_t timer_seq;

    struct defer *defer_head, **defer_tail, *defer_free;

    struct loop_handle handles; /* anchor of a circular list */

    int sigfd;
    struct loop_watch *sigwatch;
    sigset_t sigmask, orig_mask;
    int mask_saved;
    struct sigroute sigs[_NSIG];

    h2o_multithread_queue_t *mq;
    h2o_multithread_receiver_t resolver;
    int resolver_on;
    long resolving;

    SSL_CTX *tls_client;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->h2o = h2o_evloop_create();
    l->now = mono_ms();
    l->defer_tail = &l->defer_head;
    l->handles.prev = l->handles.next = &l->handles;
    l->sigfd = -1;
    sigemptyset(&l->sigmask);
    signal(SIGPIPE, SIG_IGN); /* a write to a vanished peer is an error to handle, not a reason to die */
    if (h2o_hostinfo_max_threads < 4)
        h2o_hostinfo_max_threads = 4; /* h2o resolves names on a small thread pool; 1 serialises them */
    return l;
}

/* Between iterations now is the time the iteration began. Inside h2o_evloop_run it is not: the callbacks it
 * makes run after a wait of any length, and a timer armed there must count from the time it is armed, not
 * from before the wait (that made timers fire early by the idle time). h2o offers no hook between its wait
 * and its dispatch, so while it runs every read takes the clock (a vDSO call, ~25 ns). */
uint64_t loop_now(struct loop *l)
{
    if (l->polling)
        l->now = mono_ms();
    return l->now;
}

uint64_t loop_update_now(struct loop *l)
{
    return l->now = mono_ms();
}

h2o_loop_t *loop_h2o(struct loop *l)
{
    return l->h2o;
}

/* ---- handles ---- */

void loop_handle_add(struct loop *l, struct loop_handle *h)
{
    h->next = l->handles.next;
    h->prev = &l->handles;
    l->handles.next->prev = h;
    l->handles.next = h;
}

void loop_handle_del(struct loop_handle *h)
{
    if (h->next == NULL)
        return;
    h->prev->next = h->next;
    h->next->prev = h->prev;
    h->next = h->prev = NULL;
}

/* ---- deferred calls ---- */

int loop_defer(struct loop *l, void (*cb)(void *arg), void *arg)
{
    struct defer *d = l->defer_free;
    if (d != NULL)
        l->defer_free = d->next;
    else if ((d = malloc(sizeof(*d))) == NULL)
        return -1;
    d->next = NULL;
    d->cb = cb;
    d->arg = arg;
    *l->defer_tail = d;
    l->defer_tail = &d->next;
    return 0;
}

/* Run the calls queued so far; calls queued by them wait for the next round (no starvation). */
static int run_deferred(struct loop *l)
{
    struct defer *d = l->defer_head;
    int n = 0;
    l->defer_head = NULL;
    l->defer_tail = &l->defer_head;
    while (d != NULL) {
        struct defer *next = d->next;
        void (*cb)(void *) = d->cb;
        void *arg = d->arg;
        d->next = l->defer_free;
        l->defer_free = d;
        cb(arg);
        d = next;
        n++;
    }
    return n;
}

/* ---- timers: a binary min-heap of (deadline, seq) ---- */

static int timer_before(const struct timer *a, const struct timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(struct loop *l, size_t i, struct timer *t)
{
    l->heap[i] = t;
    t->idx = i;
}

static void heap_up(struct loop *l, size_t i)
{
    struct timer *t = l->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_before(t, l->heap[p]))
            break;
        heap_set(l, i, l->heap[p]);
        i = p;
    }
    heap_set(l, i, t);
}

static void heap_down(struct loop *l, size_t i)
{
    struct timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->heap_len)
            break;
        if (c + 1 < l->heap_len && timer_before(l->heap[c + 1], l->heap[c]))
            c++;
        if (!timer_before(l->heap[c], t))
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

static void heap_remove(struct loop *l, size_t i)
{
    struct timer *t = l->heap[i];
    struct timer *last = l->heap[--l->heap_len];
    t->idx = SIZE_MAX;
    if (i == l->heap_len)
        return;
    heap_set(l, i, last);
    if (i > 0 && timer_before(last, l->heap[(i - 1) / 2]))
        heap_up(l, i);
    else
        heap_down(l, i);
}

void timer_init(struct timer *t, struct loop *l, timer_cb cb, void *arg)
{
    t->loop = l;
    t->cb = cb;
    t->arg = arg;
    t->deadline = 0;
    t->seq = 0;
    t->idx = SIZE_MAX;
}

void timer_start_at(struct timer *t, uint64_t deadline)
{
    struct loop *l = t->loop;
    t->deadline = deadline;
    t->seq = ++l->timer_seq;
    if (t->idx != SIZE_MAX) {
        /* re-arm in place: it can only move down if it became later (its seq grew too) */
        size_t i = t->idx;
        if (i > 0 && timer_before(t, l->heap[(i - 1) / 2]))
            heap_up(l, i);
        else
            heap_down(l, i);
        return;
    }
    if (l->heap_len == l->heap_cap) {
        size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
        struct timer **h = realloc(l->heap, cap * sizeof(*h));
        if (h == NULL)
            abort(); /* a timer that silently never fires is worse */
        l->heap = h;
        l->heap_cap = cap;
    }
    heap_set(l, l->heap_len++, t);
    heap_up(l, t->idx);
}

void timer_start(struct timer *t, uint64_t ms)
{
    timer_start_at(t, loop_now(t->loop) + ms);
}

void timer_stop(struct timer *t)
{
    /* a zeroed timer (calloc'ed, never initialised: loop NULL) counts as disarmed, so an owner freed on an
     * error path before it got to timer_init does not remove another timer from the heap */
    if (t->loop != NULL && t->idx != SIZE_MAX)
        heap_remove(t->loop, t->idx);
}

int timer_armed(const struct timer *t)
{
    return t->loop != NULL && t->idx != SIZE_MAX;
}

size_t loop_timers(struct loop *l)
{
    return l->heap_len;
}

/* Fire the due timers that were armed before this round began (one re-armed for "now" waits a round). */
static void run_timers(struct loop *l)
{
    uint64_t seq_limit = l->timer_seq;
    while (l->heap_len > 0) {
        struct timer *t = l->heap[0];
        if (t->deadline > l->now || t->seq > seq_limit)
            break;
        heap_remove(l, 0);
        t->cb(t, t->arg);
    }
}

/* ---- running ---- */

static int32_t next_wait(struct loop *l, int32_t max_wait)
{
    if (l->defer_head != NULL)
        return 0;
    /* A socket operation from one of our timers or deferred calls that h2o completed at once (a write the
     * kernel took whole) left its callback on h2o's pending list, which h2o runs only after it polls: the
     * poll must not sleep, or the callback waits for unrelated traffic (a writer waiting for its drain hung). */
    if (l->h2o->_pending_as_client != NULL || l->h2o->_pending_as_server != NULL)
        return 0;
    if (l->heap_len > 0) {
        uint64_t d = l->heap[0]->deadline;
        if (d <= l->now)
            return 0;
        if (d - l->now < (uint64_t)max_wait)
            return (int32_t)(d - l->now);
    }
    return max_wait;
}

/* Wait and dispatch through h2o; now is fresh again when it returns. 0, or -1 on a poll failure. */
static int poll_h2o(struct loop *l, int32_t wait)
{
    l->polling = 1;
    int rc = h2o_evloop_run(l->h2o, wait);
    int e = errno;
    l->polling = 0;
    l->now = mono_ms();
    return rc != 0 && e != EINTR ? -1 : 0;
}

int loop_run_once(struct loop *l, int max_wait_ms)
{
    int ret = 0;
    l->now = mono_ms();
    run_timers(l);
    run_deferred(l);
    if (poll_h2o(l, next_wait(l, max_wait_ms < 0 ? MAX_WAIT_MS : max_wait_ms)) != 0)
        ret = -1;
    run_deferred(l);
    run_timers(l);
    return ret;
}

int loop_run(struct loop *l)
{
    l->stopped = 0;
    while (!l->stopped) {
        l->now = mono_ms();
        run_timers(l);
        run_deferred(l);
        if (l->stopped)
            break;
        if (poll_h2o(l, next_wait(l, MAX_WAIT_MS)) != 0)
            return -1;
        run_deferred(l);
    }
    /* what the stopping callback queued still runs */
    run_deferred(l);
    return 0;
}

void loop_stop(struct loop *l)
{
    l->stopped = 1;
}

/* h2o (2.2, and its master the same) polls a socket for writing whenever the socket has a write callback when
 * h2o updates its poll set, a write that completed at once included: that one's callback only waits in the
 * pending list. When such a write is made outside h2o_evloop_run (from our timers and deferred calls, where
 * h2o itself never writes) and the socket is due an update, h2o polls it for writing, the notification then
 * clears the callback without another update, and the socket stays polled with no callback: its next
 * writable event trips h2o's assertion in write_pending, and the process aborts (a DERP client flooding a
 * relay did, one run in a few dozen on a loaded machine). Re-linking the socket (read_start with the same
 * callback, or read_stop when not reading: both only ask for an update) makes h2o's next update drop the
 * write poll; when a new write follows, that update keeps it. */
void loop_h2o_repoll(h2o_socket_t *sock)
{
    if (h2o_socket_is_reading(sock))
        h2o_socket_read_start(sock, sock->_cb.read);
    else
        h2o_socket_read_stop(sock);
}

/* ---- fd watches ---- */

static void watch_release(struct loop_watch *w)
{
    h2o_socket_export_t info;
    /* detach the fd from h2o without closing it: export, then drop the export's buffer */
    w->sock->_cb.write = NULL; /* a pending write notification cannot be withdrawn otherwise */
    w->sock->_cb.read = NULL;
    if (h2o_socket_export(w->sock, &info) == 0) {
        h2o_buffer_dispose(&info.input);
    } else {
        h2o_socket_close(w->sock);
    }
    w->sock = NULL;
    free(w);
}

static void watch_dispatch(struct loop_watch *w, int ev)
{
    w->busy++;
    w->cb(w, w->fd, ev, w->arg);
    w->busy--;
}

static void watch_on_write(h2o_socket_t *sock, const char *err);

static void watch_after(struct loop_watch *w)
{
    if (w->busy)
        return;
    if (w->dead) {
        watch_release(w);
        return;
    }
    if ((w->events & LOOP_WRITE) && !w->write_armed) {
        w->write_armed = 1;
        h2o_socket_notify_write(w->sock, watch_on_write);
    }
}

static void watch_on_read(h2o_socket_t *sock, const char *err)
{
    struct loop_watch *w = sock->data;
    if (!w->dead && (w->events & LOOP_READ))
        watch_dispatch(w, LOOP_READ);
    watch_after(w);
}

static void watch_on_write(h2o_socket_t *sock, const char *err)
{
    struct loop_watch *w = sock->data;
    w->write_armed = 0;
    if (!w->dead && (w->events & LOOP_WRITE))
        watch_dispatch(w, LOOP_WRITE);
    watch_after(w);
}

static void watch_handle_close(struct loop_handle *h)
{
    loop_watch_free((struct loop_watch *)h);
}

struct loop_watch *loop_watch_add(struct loop *l, int fd, int events, loop_watch_cb cb, void *arg)
{
    struct loop_watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->loop = l;
    w->fd = fd;
    w->cb = cb;
    w->arg = arg;
    w->sock = h2o_evloop_socket_create(l->h2o, fd, H2O_SOCKET_FLAG_DONT_READ);
    if (w->sock == NULL) {
        free(w);
        return NULL;
    }
    w->sock->data = w;
    w->h.close = watch_handle_close;
    loop_handle_add(l, &w->h);
    loop_watch_set(w, events);
    return w;
}

void loop_watch_set(struct loop_watch *w, int events)
{
    if (w->dead)
        return;
    if ((events & LOOP_READ) && !h2o_socket_is_reading(w->sock))
        h2o_socket_read_start(w->sock, watch_on_read);
    else if (!(events & LOOP_READ) && h2o_socket_is_reading(w->sock))
        h2o_socket_read_stop(w->sock);
    w->events = events;
    if ((events & LOOP_WRITE) && !w->write_armed && !w->busy) {
        w->write_armed = 1;
        h2o_socket_notify_write(w->sock, watch_on_write);
    }
    /* clearing LOOP_WRITE leaves at most one notification to be ignored */
}

void loop_watch_free(struct loop_watch *w)
{
    if (w == NULL || w->dead)
        return;
    w->dead = 1;
    loop_handle_del(&w->h);
    if (h2o_socket_is_reading(w->sock))
        h2o_socket_read_stop(w->sock);
    if (!w->busy)
        watch_release(w);
}

int loop_watch_fd(const struct loop_watch *w)
{
    return w->fd;
}

/* ---- signals ---- */

static void on_signalfd(struct loop_watch *w, int fd, int events, void *arg)
{
    struct loop *l = arg;
    struct signalfd_siginfo si[8];
    for (;;) {
        ssize_t n = read(fd, si, sizeof(si));
        if (n <= 0)
            return;
        for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
            unsigned s = si[i].ssi_signo;
            if (s < _NSIG && l->sigs[s].cb != NULL)
                l->sigs[s].cb((int)s, l->sigs[s].arg);
        }
    }
}

int loop_signal(struct loop *l, int signo, void (*cb)(int signo, void *arg), void *arg)
{
    sigset_t one;
    if (signo <= 0 || signo >= _NSIG || signo == SIGKILL || signo == SIGSTOP)
        return -1;
    sigemptyset(&one);
    sigaddset(&one, signo);
    if (cb != NULL) {
        if (!l->mask_saved) {
            if (pthread_sigmask(SIG_BLOCK, &one, &l->orig_mask) != 0)
                return -1;
            l->mask_saved = 1;
        } else if (pthread_sigmask(SIG_BLOCK, &one, NULL) != 0) {
            return -1;
        }
        sigaddset(&l->sigmask, signo);
        int fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (fd < 0)
            return -1;
        if (l->sigfd < 0) {
            l->sigfd = fd;
            l->sigwatch = loop_watch_add(l, fd, LOOP_READ, on_signalfd, l);
            if (l->sigwatch == NULL)
                return -1;
            loop_handle_del(&l->sigwatch->h); /* the loop frees it itself, after the other handles */
        }
        l->sigs[signo].cb = cb;
        l->sigs[signo].arg = arg;
        return 0;
    }
    l->sigs[signo].cb = NULL;
    sigdelset(&l->sigmask, signo);
    if (l->sigfd >= 0)
        signalfd(l->sigfd, &l->sigmask, 0);
    if (l->mask_saved && !sigismember(&l->orig_mask, signo))
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    return 0;
}

static void signals_free(struct loop *l)
{
    if (l->sigwatch != NULL)
        loop_watch_free(l->sigwatch);
    l->sigwatch = NULL;
    if (l->sigfd >= 0)
        close(l->sigfd);
    l->sigfd = -1;
    if (l->mask_saved) {
        /* drop what is still pending for our signals, then restore the caller's mask */
        struct timespec zero = {0, 0};
        while (sigtimedwait(&l->sigmask, NULL, &zero) > 0)
            ;
        pthread_sigmask(SIG_SETMASK, &l->orig_mask, NULL);
        l->mask_saved = 0;
    }
}

/* ---- name resolution and TLS client context ---- */

h2o_multithread_receiver_t *loop_resolver(struct loop *l)
{
    if (!l->resolver_on) {
        if ((l->mq = h2o_multithread_create_queue(l->h2o)) == NULL)
            return NULL;
        h2o_multithread_register_receiver(l->mq, &l->resolver, h2o_hostinfo_getaddr_receiver);
        l->resolver_on = 1;
    }
    return &l->resolver;
}

void loop_resolving(struct loop *l, int delta)
{
    l->resolving += delta;
}

SSL_CTX *loop_tls_client_ctx(struct loop *l)
{
    if (l->tls_client == NULL) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        if (ctx == NULL)
            return NULL;
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_default_verify_paths(ctx);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        l->tls_client = ctx;
    }
    return l->tls_client;
}

/* ---- teardown ---- */

void loop_free(struct loop *l)
{
    if (l == NULL)
        return;
    signals_free(l);
    for (int round = 0; round < 100; round++) {
        while (l->handles.next != &l->handles) {
            struct loop_handle *h = l->handles.next;
            h->close(h);
            if (l->handles.next == h)
                loop_handle_del(h); /* a close hook that forgot to unlink */
        }
        /* answers to name lookups land in our queue: wait for them (bounded) */
        for (int i = 0; l->resolving > 0 && i < 300; i++)
            h2o_evloop_run(l->h2o, 100);
        h2o_evloop_run(l->h2o, 0); /* let h2o finish closing sockets */
        if (run_deferred(l) == 0 && l->handles.next == &l->handles && l->defer_head == NULL)
            break;
    }
    if (l->resolver_on) {
        h2o_multithread_unregister_receiver(l->mq, &l->resolver);
        h2o_multithread_destroy_queue(l->mq);
#if H2O_VERSION_MAJOR == 2 && H2O_VERSION_MINOR == 2
        free(l->mq); /* h2o 2.2's evloop build destroys the queue but never frees it */
#endif
    }
    h2o_evloop_run(l->h2o, 0);
    for (size_t i = 0; i < l->heap_len; i++)
        l->heap[i]->idx = SIZE_MAX;
    free(l->heap);
    if (l->tls_client != NULL)
        SSL_CTX_free(l->tls_client);
    h2o_evloop_destroy(l->h2o);
    while (l->defer_free != NULL) {
        struct defer *d = l->defer_free;
        l->defer_free = d->next;
        free(d);
    }
    free(l);
}
