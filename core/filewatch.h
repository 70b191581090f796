// SPDX-License-Identifier: BSD-3-Clause
/* Watching one file for changes (control's policy file, its DNS extra records file). inotify watches the
 * file's directory, not the file: editors and configuration managers replace a file by renaming a new one
 * over it, which a watch on the old inode would never see. Where inotify cannot be had (its limits reached,
 * the directory missing, a filesystem without it) the file is polled with stat(2) instead. Either way the
 * owner hears of a change once it has settled: an editor writes a file in several steps. */
#ifndef WEFT_CORE_FILEWATCH_H
#define WEFT_CORE_FILEWATCH_H

#include <stdbool.h>

struct loop;
struct filewatch;

typedef void (*filewatch_cb)(void *arg);

enum {
    FILEWATCH_POLL = 1, /* poll even where inotify works (a filesystem whose changes it misses, tests) */
};

/* Watch path: cb(arg) runs settle_ms after the last change seen to the file (written, replaced, created,
 * removed); when polling, the file is looked at every poll_ms. The callback may be told of a change that
 * left the content as it was: the owner compares. NULL only when out of memory: without inotify it polls. */
struct filewatch *filewatch_new(struct loop *l, const char *path, unsigned settle_ms, unsigned poll_ms,
                                unsigned flags, filewatch_cb cb, void *arg);
/* Whether it polls (asked to, or inotify could not be had). */
bool filewatch_polling(const struct filewatch *w);
/* Stop watching; safe on NULL and from the callback. */
void filewatch_free(struct filewatch *w);

#endif
