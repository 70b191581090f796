// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/filewatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"

/* See filewatch.h. */

/* What polling compares: a rename-into-place changes the inode, a write in place the mtime or size. */
struct sig {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim;
};

struct filewatch {
    struct loop *loop;
    char *path;
    char *dir;        /* the directory inotify watches */
    const char *base; /* the file's name in it (points into path) */
    int ino;          /* the inotify fd, or -1 */
    bool polling;
    struct loop_watch *lw;
    struct timer settle, poll;
    unsigned settle_ms, poll_ms;
    struct sig last;
    filewatch_cb cb;
    void *arg;
};

static void sig_of(const char *path, struct sig *s)
{
    struct stat st;
    memset(s, 0, sizeof *s);
    if (stat(path, &st))
        return;
    *s = (struct sig){true, st.st_dev, st.st_ino, st.st_size, st.st_mtim};
}

static bool sig_eq(const struct sig *a, const struct sig *b)
{
    if (a->exists != b->exists)
        return false;
    return !a->exists || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                          a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec);
}

static void settle_cb(struct timer *t, void *arg)
{
    struct filewatch *w = arg;
    (void)t;
    w->cb(w->arg); /* last: it may free w */
}

static void changed(struct filewatch *w)
{
    timer_start(&w->settle, w->settle_ms); /* re-armed by each change: the owner hears once they stop */
}

static void poll_cb(struct timer *t, void *arg)
{
    struct filewatch *w = arg;
    struct sig now;
    sig_of(w->path, &now);
    if (!sig_eq(&now, &w->last)) {
        w->last = now;
        changed(w);
    }
    timer_start(t, w->poll_ms);
}

static void start_polling(struct filewatch *w)
{
    w->polling = true;
    sig_of(w->path, &w->last);
    timer_start(&w->poll, w->poll_ms);
}

static void stop_inotify(struct filewatch *w)
{
    if (w->lw)
        loop_watch_free(w->lw);
    if (w->ino >= 0)
        close(w->ino);
    w->lw = NULL;
    w->ino = -1;
}

static void ino_cb(struct loop_watch *lw, int fd, int events, void *arg)
{
    struct filewatch *w = arg;
    (void)lw, (void)events;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool ours = false, gone = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if ((ev->len && !strcmp(ev->name, w->base)) || (ev->mask & IN_Q_OVERFLOW))
                ours = true; /* (an overflow may have lost one of ours) */
            if (ev->mask & IN_IGNORED)
                gone = true; /* the directory itself was removed or moved away */
            p += sizeof *ev + ev->len;
        }
    }
    if (gone) {
        log_warn("event=filewatch file=%s msg=\"its directory went away; polling it every %u ms\"", w->path,
                 w->poll_ms);
        loop_watch_set(w->lw, 0); /* (not closed here: the loop still holds the fd in this callback) */
        start_polling(w);
        ours = true;
    }
    if (ours)
        changed(w);
}

static int start_inotify(struct filewatch *w)
{
    w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->ino < 0 || inotify_add_watch(w->ino, w->dir,
                                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                            IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
        log_warn("event=filewatch file=%s dir=%s error=\"inotify: %s\" msg=\"polling it every %u ms\"", w->path,
                 w->dir, strerror(errno), w->poll_ms);
        stop_inotify(w);
        return -1;
    }
    if (!(w->lw = loop_watch_add(w->loop, w->ino, LOOP_READ, ino_cb, w))) {
        stop_inotify(w);
        return -1;
    }
    return 0;
}

struct filewatch *filewatch_new(struct loop *l, const char *path, unsigned settle_ms, unsigned poll_ms,
                                unsigned flags, filewatch_cb cb, void *arg)
{
    struct filewatch *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return NULL;
    }
    const char *slash = strrchr(w->path, '/');
    w->dir = !slash ? strdup(".") : slash == w->path ? strdup("/") : strndup(w->path, (size_t)(slash - w->path));
    if (!w->dir) {
        free(w->path);
        free(w);
        return NULL;
    }
    w->base = slash ? slash + 1 : w->path;
    w->loop = l;
    w->ino = -1;
    w->settle_ms = settle_ms;
    w->poll_ms = poll_ms ? poll_ms : 1000;
    w->cb = cb;
    w->arg = arg;
    timer_init(&w->settle, l, settle_cb, w);
    timer_init(&w->poll, l, poll_cb, w);
    if ((flags & FILEWATCH_POLL) || start_inotify(w))
        start_polling(w);
    return w;
}

bool filewatch_polling(const struct filewatch *w)
{
    return w->polling;
}

void filewatch_free(struct filewatch *w)
{
    if (!w)
        return;
    timer_stop(&w->settle);
    timer_stop(&w->poll);
    stop_inotify(w);
    free(w->dir);
    free(w->path);
    free(w);
}
