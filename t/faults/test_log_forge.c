// SPDX-License-Identifier: BSD-3-Clause
/* Fault: peer strings forged log lines (issue 10, item 5). A client's hostname in an interactive registration
 * went raw into control's log: "hostname=<script>...\x1b[31m\nlevel=error FORGED" printed a second line at
 * level error and coloured the terminal. Every value that comes in through %s must stay one escaped value. */
#include "config.h"
#include "core/log.h"
#include "t/tap.h"

#include <stdio.h>
#include <unistd.h>

static char out[65536];

/* Run one log call with stderr captured; the text in out. */
#define CAPTURE(call)                                                                                          \
    do {                                                                                                       \
        fflush(stderr);                                                                                        \
        FILE *tmp = tmpfile();                                                                                 \
        int saved = dup(2);                                                                                    \
        dup2(fileno(tmp), 2);                                                                                  \
        call;                                                                                                  \
        fflush(stderr);                                                                                        \
        dup2(saved, 2);                                                                                        \
        close(saved);                                                                                          \
        rewind(tmp);                                                                                           \
        size_t n = fread(out, 1, sizeof out - 1, tmp);                                                         \
        out[n] = 0;                                                                                            \
        fclose(tmp);                                                                                           \
    } while (0)

static int count(const char *s, char c)
{
    int n = 0;
    for (; *s; s++)
        n += *s == c;
    return n;
}

static int has_byte_below_space(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
            return 1;
    return 0;
}

int main(void)
{
    plan(13);
    log_set_level(LOG_DEBUG);
    const char *evil = "<script>\x1b[31m\nlevel=error FORGED";

    CAPTURE(log_info("module=control event=register hostname=%s user=%s", evil, "alice"));
    is_int(count(out, '\n'), 1, "a hostile value in key=%s stays on one line");
    ok(!has_byte_below_space(out), "no raw control character reaches the log");
    if (!ok(strstr(out, "hostname=\"<script>\\x1b[31m\\nlevel=error FORGED\"") != NULL,
       "it is quoted, with ESC and the newline escaped"))
        diag("got %s", out);
    ok(strstr(out, " user=alice\n") != NULL, "the keys after it are intact");

    CAPTURE(log_warn("event=x msg=\"cannot load %s: %s\"", "a\"b\\c", "x\ry\x7f"));
    if (!ok(strstr(out, "msg=\"cannot load a\\\"b\\\\c: x\\ry\\x7f\"") != NULL,
       "inside a quoted value: quotes, backslashes, CR and DEL escaped"))
        diag("got %s", out);

    CAPTURE(log_info("event=x a=%s b=%s c=%s d=%s", "plain-word_1.2:3/4", "two words", "", "k=v"));
    ok(strstr(out, "a=plain-word_1.2:3/4 ") != NULL, "a plain word stays bare");
    ok(strstr(out, "b=\"two words\"") != NULL, "a value with a space is quoted");
    ok(strstr(out, "c=\"\"") != NULL, "an empty value is \"\"");
    ok(strstr(out, "d=\"k=v\"") != NULL, "a value with '=' cannot pose as a key");

    CAPTURE(log_info("event=x os=%s", "Linux\xc2\x9b" "31mX caf\xc3\xa9 \xff"));
    if (!ok(strstr(out, "os=\"Linux\\xc2\\x9b31mX caf\xc3\xa9 \\xff\"") != NULL,
       "C1 controls and stray bytes escaped, printable UTF-8 kept"))
        diag("got %s", out);

    CAPTURE(log_info("event=x n=%d u=%llu z=%zu f=%.2f p=%.*s c=%c pct=100%%", -5, 18446744073709551615ull,
                     (size_t)7, 1.5, 3, "abcdef", '\n'));
    if (!ok(strstr(out, "n=-5 u=18446744073709551615 z=7 f=1.50 p=abc c=\"\\n\" pct=100%\n") != NULL,
       "numbers, precision and %%%% as printf"))
        diag("got %s", out);

    static char big[100000];
    memset(big, 'A', sizeof big - 1);
    CAPTURE(log_info("event=x big=%s after=%s", big, "yes"));
    ok(strlen(out) <= 8192 && count(out, '\n') == 1, "a huge value is cut: the line stays under 8 KiB");

    CAPTURE(log_debug("%s", "fine"));
    is_str(out, "level=debug fine\n", "a whole message through %s");
    return done_testing();
}
