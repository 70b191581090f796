// SPDX-License-Identifier: BSD-3-Clause
/* core/loop: timers (order, cancel, 10,000 of them, re-arm), deferred calls, fd watches, signals. */
#include "config.h"
#include "core/loop.h"
#include "t/tap.h"

#include <signal.h>
#include <unistd.h>

static int order[16], norder;

struct tmark {
    struct timer t;
    int id;
};

static void on_mark(struct timer *t, void *arg)
{
    order[norder++] = ((struct tmark *)arg)->id;
}

static void test_order(struct loop *l)
{
    struct tmark m[5];
    static const unsigned ms[5] = {40, 10, 30, 20, 10};
    for (int i = 0; i < 5; i++) {
        m[i].id = i;
        timer_init(&m[i].t, l, on_mark, &m[i]);
        timer_start(&m[i].t, ms[i]);
    }
    timer_stop(&m[2].t); /* cancelled: must not fire */
    is_int((long long)loop_timers(l), 4, "four timers armed after one stop");
    uint64_t t0 = loop_now(l);
    while (loop_timers(l) > 0)
        loop_run_once(l, 100);
    is_int(norder, 4, "four timers fired");
    /* 1 and 4 share a deadline: start order breaks the tie */
    ok(order[0] == 1 && order[1] == 4 && order[2] == 3 && order[3] == 0,
       "timers fire in deadline order (%d %d %d %d)", order[0], order[1], order[2], order[3]);
    ok(loop_now(l) - t0 >= 40, "the last timer fired after its deadline");
    ok(!timer_armed(&m[0].t) && !timer_armed(&m[2].t), "fired and stopped timers are disarmed");
}

/* ---- many timers, stopping others from a callback ---- */

#define MANY 10000
static struct timer many[MANY];
static int many_fired, many_bad;
static uint64_t many_last;

static void on_many(struct timer *t, void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    if (t->deadline < many_last)
        many_bad++;
    many_last = t->deadline;
    many_fired++;
    /* every fired even timer cancels its odd neighbour: stopping from inside a callback */
    if (i % 2 == 0 && i + 1 < MANY)
        timer_stop(&many[i + 1]);
}

static void test_many(struct loop *l)
{
    for (size_t i = 0; i < MANY; i++) {
        timer_init(&many[i], l, on_many, (void *)(uintptr_t)i);
        timer_start(&many[i], 1 + (i * 7919) % 50);
    }
    /* re-arm a quarter of them later: O(log n) restarts */
    for (size_t i = 0; i < MANY; i += 4)
        timer_start(&many[i], 60);
    is_int((long long)loop_timers(l), MANY, "10,000 timers armed");
    uint64_t deadline = loop_now(l) + 2000;
    while (loop_timers(l) > 0 && loop_now(l) < deadline)
        loop_run_once(l, 100);
    is_int((long long)loop_timers(l), 0, "all 10,000 timers done");
    is_int(many_bad, 0, "they fired in deadline order");
    ok(many_fired >= MANY / 2 && many_fired < MANY, "cancelled ones did not fire (%d fired)", many_fired);
}

/* ---- re-arm inside own callback, deferred calls ---- */

static int rearm_count;
static void on_rearm(struct timer *t, void *arg)
{
    if (++rearm_count < 3)
        timer_start(t, 0);
}

static int defer_log[4], ndefer;
static void on_defer2(void *arg)
{
    defer_log[ndefer++] = 2;
}
static void on_defer1(void *arg)
{
    struct loop *l = arg;
    defer_log[ndefer++] = 1;
    loop_defer(l, on_defer2, NULL); /* queued from a deferred call: runs in a later round */
}

static void test_rearm_defer(struct loop *l)
{
    struct timer t;
    timer_init(&t, l, on_rearm, NULL);
    timer_start(&t, 0);
    for (int i = 0; i < 10 && rearm_count < 3; i++)
        loop_run_once(l, 10);
    is_int(rearm_count, 3, "a timer re-armed for 0 ms inside its callback fires again (no starvation)");

    loop_defer(l, on_defer1, l);
    is_int(ndefer, 0, "deferred call does not run synchronously");
    loop_run_once(l, 0);
    loop_run_once(l, 0);
    ok(ndefer == 2 && defer_log[0] == 1 && defer_log[1] == 2, "deferred calls run in order");
}

/* ---- pipe watch ---- */

static int pipe_reads, pipe_writes;
static char pipe_got[32];
static void on_pipe_read(struct loop_watch *w, int fd, int ev, void *arg)
{
    ssize_t n = read(fd, pipe_got, sizeof(pipe_got) - 1);
    if (n > 0) {
        pipe_got[n] = 0;
        pipe_reads++;
    }
    loop_stop(arg);
}
static void on_pipe_write(struct loop_watch *w, int fd, int ev, void *arg)
{
    pipe_writes++;
    (void)!write(fd, "hello", 5);
    loop_watch_free(w); /* freeing a watch inside its own callback */
}

static void test_pipe(struct loop *l)
{
    int p[2];
    if (pipe(p) != 0) {
        ok(0, "pipe");
        return;
    }
    struct loop_watch *r = loop_watch_add(l, p[0], LOOP_READ, on_pipe_read, l);
    struct loop_watch *w = loop_watch_add(l, p[1], LOOP_WRITE, on_pipe_write, l);
    ok(r != NULL && w != NULL, "watches added");
    loop_run(l);
    is_int(pipe_writes, 1, "write readiness reported once, then the watch freed itself");
    is_str(pipe_got, "hello", "read watch got the bytes");
    ok(loop_watch_fd(r) == p[0], "watch fd");
    loop_watch_set(r, 0);
    (void)!write(p[1], "x", 1);
    loop_run_once(l, 20);
    is_int(pipe_reads, 1, "a paused watch is not called");
    loop_watch_free(r);
    close(p[0]);
    close(p[1]);
}

/* ---- signals ---- */

static int sig_seen, sig_hup;
static void on_sig(int signo, void *arg)
{
    if (signo == SIGUSR1)
        sig_seen++;
    if (signo == SIGHUP)
        sig_hup++;
    loop_stop(arg);
}

static void test_signal(struct loop *l)
{
    is_int(loop_signal(l, SIGUSR1, on_sig, l), 0, "route SIGUSR1");
    is_int(loop_signal(l, SIGHUP, on_sig, l), 0, "route SIGHUP");
    kill(getpid(), SIGUSR1);
    loop_run(l);
    is_int(sig_seen, 1, "SIGUSR1 reached its callback through the loop");
    kill(getpid(), SIGHUP);
    loop_run(l);
    is_int(sig_hup, 1, "SIGHUP too");
    is_int(loop_signal(l, SIGKILL, on_sig, l), -1, "SIGKILL cannot be routed");
}

int main(void)
{
    plan(23);
    struct loop *l = loop_new();
    ok(l != NULL, "loop_new");
    test_order(l);
    test_many(l);
    test_rearm_defer(l);
    test_pipe(l);
    test_signal(l);
    loop_free(l);
    return done_testing();
}
