// SPDX-License-Identifier: BSD-3-Clause
/* The one event loop of a weft process (over h2o's evloop): fd watches, timers, signals, deferred calls.
 * Single-threaded: every function here is called from the loop's thread. No module sees h2o. */
#ifndef WEFT_CORE_LOOP_H
#define WEFT_CORE_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_watch;
struct timer;

typedef void (*timer_cb)(struct timer *t, void *arg);

/* A timer lives in its owner's memory (no allocation); fields are private. Stop it before freeing it. A zeroed
 * timer (calloc'ed, not yet through timer_init) is disarmed: timer_stop on it does nothing. */
struct timer {
    struct loop *loop;
    timer_cb cb;
    void *arg;
    uint64_t deadline; /* loop_now() milliseconds */
    uint64_t seq;      /* tie-break: equal deadlines fire in start order */
    size_t idx;        /* position in the loop's heap, SIZE_MAX when not armed */
};

/* Create a loop (and ignore SIGPIPE for the process: write errors are reported instead); NULL on failure. */
struct loop *loop_new(void);
/* Close everything still open on the loop (streams, listeners, watches, servers), run their close callbacks,
 * free. */
void loop_free(struct loop *l);
/* Run until loop_stop; 0 when stopped, -1 on a poll failure. */
int loop_run(struct loop *l);
/* Run one iteration, waiting at most max_wait_ms (0: don't block) for events; -1 on a poll failure. */
int loop_run_once(struct loop *l, int max_wait_ms);
/* Make loop_run return after the current callback and the deferred calls queued so far. */
void loop_stop(struct loop *l);
/* Monotonic milliseconds: the time the iteration began, or (in a callback that follows a wait for events) the
 * time of the call, so a timer armed there counts from when it is armed, however long the loop slept. */
uint64_t loop_now(struct loop *l);
/* Re-read the monotonic clock into loop_now (after a long computation). */
uint64_t loop_update_now(struct loop *l);

/* Queue cb(arg) to run after the current callback returns (FIFO); 0, or -1 if out of memory. */
int loop_defer(struct loop *l, void (*cb)(void *arg), void *arg);

/* Prepare a timer; does not arm it. */
void timer_init(struct timer *t, struct loop *l, timer_cb cb, void *arg);
/* Arm (or re-arm) to fire once, ms milliseconds from loop_now. O(log n). */
void timer_start(struct timer *t, uint64_t ms);
/* Arm (or re-arm) to fire once at the absolute loop_now time deadline. */
void timer_start_at(struct timer *t, uint64_t deadline);
/* Disarm; safe on a disarmed or zeroed timer and from any callback, including its own. */
void timer_stop(struct timer *t);
/* 1 if armed. */
int timer_armed(const struct timer *t);
/* Number of armed timers on the loop. */
size_t loop_timers(struct loop *l);

enum { LOOP_READ = 1, LOOP_WRITE = 2 };
/* events: what is ready (LOOP_READ and/or LOOP_WRITE); the callback reads/writes the fd itself. */
typedef void (*loop_watch_cb)(struct loop_watch *w, int fd, int events, void *arg);

/* Watch fd (made non-blocking) for the given interest; level-triggered. NULL on failure. The fd stays the
 * caller's. */
struct loop_watch *loop_watch_add(struct loop *l, int fd, int events, loop_watch_cb cb, void *arg);
/* Change the interest (0 pauses the watch). */
void loop_watch_set(struct loop_watch *w, int events);
/* Stop watching and free the watch (safe inside its own callback); does not close the fd. */
void loop_watch_free(struct loop_watch *w);
/* The watched fd. */
int loop_watch_fd(const struct loop_watch *w);

/* Route signal signo to cb through a signalfd (the signal gets blocked for the process with sigprocmask);
 * cb NULL removes the route and unblocks it. Children inherit the blocked mask: reset it after fork. 0 or
 * -1. */
int loop_signal(struct loop *l, int signo, void (*cb)(int signo, void *arg), void *arg);

#endif
