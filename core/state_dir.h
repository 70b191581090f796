// SPDX-License-Identifier: BSD-3-Clause
/* The state directory of a serving process: keys, the database, sockets. Anyone who can write in it can
 * replace a socket (and receive the admin CLI's requests) or a key, so it must be the service user's own and
 * closed to group and others; and one process at a time may use it (two servers on one state_dir split its
 * state and delete each other's sockets). */
#ifndef WEFT_CORE_STATE_DIR_H
#define WEFT_CORE_STATE_DIR_H

#include <stddef.h>

/* Create dir (0700) if it is missing; refuse it, with a message saying how to fix it, when it is not a
 * directory, not owned by the effective uid, or writable by group or others. 0 or -1 (err set). */
int state_dir_prepare(const char *dir, char *err, size_t errlen);

/* Take an exclusive lock on dir/weft.lock (flock: released when the process ends, however it ends) and write
 * our pid in it. Returns the lock's fd (keep it open), or -1 with err naming the pid that holds it. */
int state_dir_lock(const char *dir, char *err, size_t errlen);

#endif
