// SPDX-License-Identifier: BSD-3-Clause
/* The web admin console (issue 16): static files under /admin/ on control's listeners, read from
 * control.admin.console_dir (installed in $(pkgdatadir)/console). The console is HTML, CSS and JavaScript
 * that talk only to the REST API (/api/v2/); this file only serves them, safely: known file types only,
 * nothing outside the directory, a Content-Security-Policy that allows no inline script. */
#ifndef WEFT_CONTROL_CONSOLE_H
#define WEFT_CONTROL_CONSOLE_H

struct http_server;
struct console;

/* The console served from dir (NULL: the installed one). NULL on allocation failure. */
struct console *console_new(const char *dir);
/* Routes /admin and /admin/ on srv. 0, or -1. */
int console_route(struct console *cs, struct http_server *srv);
void console_free(struct console *cs);

#endif
