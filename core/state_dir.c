// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/state_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_NAME "weft.lock"

int state_dir_prepare(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "state_dir %s: cannot create it: %s", dir, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        snprintf(err, errlen, "state_dir %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "state_dir %s: not a directory", dir);
        return -1;
    }
    uid_t me = geteuid();
    if (st.st_uid != me) {
        snprintf(err, errlen,
                 "state_dir %s is owned by uid %u, not by uid %u that weft runs as: whoever owns it can replace "
                 "its keys and sockets (chown %u %s, or run weft as its owner)",
                 dir, (unsigned)st.st_uid, (unsigned)me, (unsigned)me, dir);
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "state_dir %s is writable by %s (mode %04o): anyone who can write there can replace its "
                 "sockets and keys (chmod 700 %s)",
                 dir, (st.st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st.st_mode & 07777), dir);
        return -1;
    }
    return 0;
}

int state_dir_lock(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/" LOCK_NAME, dir) >= (int)sizeof path) {
        snprintf(err, errlen, "state_dir %s: path too long", dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strspn(pid, "0123456789")] = 0;
        close(fd);
        if (e == EWOULDBLOCK)
            snprintf(err, errlen,
                     "state_dir %s is in use by another weft (pid %s holds %s): two servers on one state_dir "
                     "would split its state; stop that one, or give this one its own state_dir",
                     dir, pid[0] ? pid : "unknown", path);
        else
            snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
        return -1;
    }
    char text[32];
    int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
