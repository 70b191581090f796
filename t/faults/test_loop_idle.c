// SPDX-License-Identifier: BSD-3-Clause
/* Fault: timers fired early after the loop had been idle (issue 10, item 13). The loop took its time before it
 * blocked, so a timer armed by an event that ended a long wait counted from before the wait: an ephemeral node
 * removed 3 ms after it went away once the server had been idle 20 s. Here an fd event arrives after the loop
 * has slept IDLE_MS; its callback arms a DUR_MS timer, which must not fire sooner than DUR_MS later (1 ms of
 * slack: the loop's clock has millisecond resolution). Also: a zeroed, never initialised timer is disarmed. */
#include "config.h"
#include "core/loop.h"
#include "t/tap.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define IDLE_MS 400
#define DUR_MS 150

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

struct ctx {
    struct loop *l;
    struct timer t;
    int pipe[2];
    double armed, fired;
    int stop_on_fire;
};

static void *writer(void *arg)
{
    struct ctx *c = arg;
    usleep(IDLE_MS * 1000);
    if (write(c->pipe[1], "x", 1) != 1)
        abort();
    return NULL;
}

static void on_fire(struct timer *t, void *arg)
{
    struct ctx *c = arg;
    c->fired = now_ms();
    if (c->stop_on_fire)
        loop_stop(c->l);
}

static void on_readable(struct loop_watch *w, int fd, int events, void *arg)
{
    struct ctx *c = arg;
    char b;
    if (read(fd, &b, 1) != 1)
        return;
    c->armed = now_ms();
    timer_start(&c->t, DUR_MS);
}

/* once: drive with loop_run_once; else loop_run */
static void run_case(int once)
{
    struct ctx c = {0};
    c.l = loop_new();
    c.stop_on_fire = !once;
    if (pipe(c.pipe) != 0)
        abort();
    timer_init(&c.t, c.l, on_fire, &c);
    struct loop_watch *w = loop_watch_add(c.l, c.pipe[0], LOOP_READ, on_readable, &c);
    pthread_t th;
    pthread_create(&th, NULL, writer, &c);
    if (once) {
        double until = now_ms() + IDLE_MS + DUR_MS + 5000;
        while (c.fired == 0 && now_ms() < until)
            loop_run_once(c.l, -1); /* the first one blocks until the pipe is written: the idle period */
    } else {
        loop_run(c.l);
    }
    pthread_join(th, NULL);
    const char *how = once ? "loop_run_once" : "loop_run";
    ok(c.armed > 0 && c.fired > 0, "%s: the event came and the timer it armed fired", how);
    double waited = c.fired - c.armed;
    ok(waited >= DUR_MS - 1.0, "%s: a %d ms timer armed after %d ms idle fired after %.1f ms (not early)", how,
       DUR_MS, IDLE_MS, waited);
    ok(waited < DUR_MS + 2000, "%s: and not very late either", how);
    loop_watch_free(w);
    close(c.pipe[0]);
    close(c.pipe[1]);
    loop_free(c.l);
}

static int zfired;
static void on_z(struct timer *t, void *arg)
{
    zfired++;
}

int main(void)
{
    plan(8);
    run_case(1);
    run_case(0);

    /* an owner freed on an error path before timer_init: stopping its zeroed timer leaves others alone */
    struct loop *l = loop_new();
    struct timer a;
    timer_init(&a, l, on_z, NULL);
    timer_start(&a, 1);
    struct timer *z = calloc(1, sizeof *z);
    timer_stop(z);
    ok(!timer_armed(z) && timer_armed(&a) && loop_timers(l) == 1,
       "timer_stop on a zeroed timer does nothing (the armed one stays armed)");
    while (loop_timers(l) > 0)
        loop_run_once(l, 50);
    is_int(zfired, 1, "and the armed timer still fires");
    free(z);
    loop_free(l);
    return done_testing();
}
