// SPDX-License-Identifier: BSD-3-Clause
/* Text from the network made safe for a terminal. A peer's hostname or OS, a server's error message: a CLI
 * that prints them raw lets whoever chose them move the cursor, rewrite lines, set the clipboard (OSC 52)
 * or forge output. */
#ifndef WEFT_CORE_TEXT_H
#define WEFT_CORE_TEXT_H

#include <stddef.h>

struct json_object;

/* Strip C0 controls (newline and tab included), DEL and C1 controls (U+0080..U+009F) from s in place, and
 * turn bytes that are not UTF-8 into '?' (a lone 0x9b is CSI to an 8-bit terminal). Returns the new length. */
size_t text_strip_controls(char *s);
/* The same for text of several lines (a policy file): newline and tab are kept. */
size_t text_strip_controls_lines(char *s);

/* The same for every string value in a parsed JSON document (objects and arrays, at any depth). */
void json_strip_controls(struct json_object *o);

#endif
