// SPDX-License-Identifier: BSD-3-Clause
/* core/filewatch: a file written in place, renamed into place (as editors save), created and removed is
 * reported, once its changes settle, by inotify and by the polling fallback alike; a neighbour's changes
 * are not; a missing directory falls back to polling and still sees the file appear. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/filewatch.h"
#include "core/loop.h"
#include "t/tap.h"

static int fired;
static void on_change(void *arg)
{
    (void)arg;
    fired++;
}

/* Run the loop until the callback has run want times in all, or ms pass; the count. */
static int wait_fired(struct loop *l, int want, unsigned ms)
{
    uint64_t end = loop_update_now(l) + ms;
    while (fired < want && loop_update_now(l) < end)
        loop_run_once(l, 20);
    return fired;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Save as an editor does: write a new file beside, rename it over the old one. */
static void save_renamed(const char *dir, const char *path, const char *text)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/.policy.swp", dir);
    put(tmp, text);
    rename(tmp, path);
}

/* The scaled waits: a loaded machine (or ASan) is slow to deliver; the checks do not depend on it. */
#define LONG 10000

static void run(struct loop *l, const char *dir, unsigned flags, const char *how)
{
    char path[512], other[512];
    snprintf(path, sizeof path, "%s/policy.hujson", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    put(path, "{}");
    fired = 0;
    struct filewatch *w = filewatch_new(l, path, 50, 30, flags, on_change, NULL);
    ok(w != NULL, "%s: watching %s", how, path);
    if (!w)
        return;
    is_int(filewatch_polling(w), (flags & FILEWATCH_POLL) != 0, "polling only when asked (inotify works here)");
    /* a poll takes its first look at start: let a tick pass so a write is not in the same timestamp tick */
    usleep(20000);

    put(path, "{\"acls\": []}");
    is_int(wait_fired(l, 1, LONG), 1, "written in place: reported");
    save_renamed(dir, path, "{\"acls\": [1]}");
    is_int(wait_fired(l, 2, LONG), 2, "renamed into place: reported");
    put(other, "x");
    save_renamed(dir, other, "neighbour");
    is_int(wait_fired(l, 3, 400), 2, "a neighbour written and replaced: not reported");
    for (int i = 0; i < 5; i++) {
        char text[32];
        snprintf(text, sizeof text, "{\"v\": %d}", i * 1111);
        put(path, text);
        usleep(5000);
    }
    is_int(wait_fired(l, 3, LONG), 3, "five writes in quick succession: reported");
    is_int(wait_fired(l, 4, 400), 3, "once, when they settle");
    unlink(path);
    is_int(wait_fired(l, 4, LONG), 4, "removed: reported");
    put(path, "{}");
    is_int(wait_fired(l, 5, LONG), 5, "created again: reported");
    filewatch_free(w);
    put(path, "{\"after\": true}");
    is_int(wait_fired(l, 6, 300), 5, "after filewatch_free: nothing");
    unlink(other);
}

int main(void)
{
    char dir[] = "/tmp/weft-filewatch.XXXXXX";
    if (!mkdtemp(dir))
        skip_all("cannot make a temporary directory");
    struct loop *l = loop_new();
    ok(l != NULL, "a loop");
    run(l, dir, 0, "inotify");
    run(l, dir, FILEWATCH_POLL, "polling");

    /* a directory that is not there yet: inotify cannot watch it, polling sees the file appear */
    char sub[600], path[700];
    snprintf(sub, sizeof sub, "%s/later", dir);
    snprintf(path, sizeof path, "%s/extra.json", sub);
    fired = 0;
    struct filewatch *w = filewatch_new(l, path, 20, 30, 0, on_change, NULL);
    ok(w && filewatch_polling(w), "a missing directory: polls");
    mkdir(sub, 0700);
    put(path, "[]");
    is_int(wait_fired(l, 1, LONG), 1, "the file appearing there is reported");
    filewatch_free(w);
    unlink(path);
    rmdir(sub);

    /* the watched directory itself goes away: it falls back to polling, and the file coming back is seen */
    mkdir(sub, 0700);
    put(path, "[]");
    fired = 0;
    w = filewatch_new(l, path, 20, 30, 0, on_change, NULL);
    ok(w && !filewatch_polling(w), "the directory exists: inotify");
    unlink(path);
    rmdir(sub);
    for (uint64_t end = loop_update_now(l) + LONG; w && !filewatch_polling(w) && loop_update_now(l) < end;)
        loop_run_once(l, 20);
    ok(w && filewatch_polling(w), "its directory removed: polls");
    int before = fired;
    mkdir(sub, 0700);
    put(path, "[1]");
    is_int(wait_fired(l, before + 1, LONG), before + 1, "the file coming back is reported");
    filewatch_free(w);
    unlink(path);
    rmdir(sub);

    filewatch_free(NULL);
    rmdir(dir);
    loop_free(l);
    return done_testing();
}
