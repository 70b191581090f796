// SPDX-License-Identifier: BSD-3-Clause
/* logfmt lines on stderr: "level=info event=... key=value". Values brought in by %s or %c are escaped (\n, \",
 * \x1b...) and quoted unless they are a plain word, so no peer-supplied string can end a line or forge a key;
 * numbers are printf's. Write the keys and any fixed text in the format itself. */
#ifndef WEFT_LOG_H
#define WEFT_LOG_H

#include <stdarg.h>
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
void log_set_level(enum log_level l);
/* time=2026-01-02T03:04:05.678Z first on each line: on, off, or auto: off when stderr is the journal (it
 * stamps lines itself; systemd names the stream in $JOURNAL_STREAM), else on. */
enum log_timestamps { LOG_TS_AUTO, LOG_TS_ON, LOG_TS_OFF };
void log_set_timestamps(enum log_timestamps t);
int log_parse_level(const char *s, enum log_level *out);
void log_msg(enum log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level l, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#endif
