// SPDX-License-Identifier: BSD-3-Clause
/* Go-convention helpers: time.Time text, key text, base64, float and string formatting, strict JSON. */
#include "config.h"

#include <json-c/json.h>
#include <math.h>

#include "core/json/jbuf.h"
#include "core/json/json_util.h"
#include "t/tap.h"

static void time_rt(const char *in, const char *want, int64_t want_unix, int32_t want_ns)
{
    struct tc_time t;
    char out[TC_TIME_TEXT_MAX];
    int r = tc_time_parse(in, strlen(in), &t);
    ok(r == 0, "parse %s", in);
    if (r < 0)
        return;
    is_int(tc_time_to_unix(&t), want_unix, "  unix seconds");
    is_int(t.nsec, want_ns, "  nanoseconds");
    ok(tc_time_format(&t, out) > 0, "  format");
    is_str(out, want, "  formatted as Go does");
}

static void time_bad(const char *in)
{
    struct tc_time t;
    ok(tc_time_parse(in, strlen(in), &t) < 0, "reject time '%s'", in);
}

static void f64(double v, const char *want)
{
    struct jbuf b;
    jbuf_init(&b);
    jbuf_f64(&b, v);
    char *s = jbuf_take(&b, NULL);
    is_str(s, want, want);
    free(s);
}

static void valid(const char *s, int want)
{
    ok((tc_json_validate(s, strlen(s)) == 0) == want, "%s JSON: %s", want ? "valid" : "invalid", s);
}

int main(void)
{
    char out[TC_KEY_TEXT_MAX];

    /* time.Time */
    struct tc_time zero = { 0, 0 };
    tc_time_format(&zero, out);
    is_str(out, "0001-01-01T00:00:00Z", "zeroed struct is Go's zero time");
    struct tc_time epoch = tc_time_from_unix(0, 0);
    tc_time_format(&epoch, out);
    is_str(out, "1970-01-01T00:00:00Z", "unix epoch");
    time_rt("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z", -62135596800, 0);
    time_rt("1970-01-01T00:02:03Z", "1970-01-01T00:02:03Z", 123, 0); /* the logout expiry */
    time_rt("2026-11-24T22:48:45.67113634Z", "2026-11-24T22:48:45.67113634Z", 1795560525, 671136340);
    time_rt("2026-11-24T22:48:45.000000001Z", "2026-11-24T22:48:45.000000001Z", 1795560525, 1);
    time_rt("2026-11-25T00:48:45.5+02:00", "2026-11-24T22:48:45.5Z", 1795560525, 500000000);
    time_rt("2026-11-24T21:48:45-01:00", "2026-11-24T22:48:45Z", 1795560525, 0);
    time_rt("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z", 1709164800, 0);
    time_rt("9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999999999Z", 253402300799, 999999999);
    time_rt("1969-12-31T23:59:59.25Z", "1969-12-31T23:59:59.25Z", -1, 250000000);
    time_bad("2026-02-29T00:00:00Z");
    time_bad("2026-13-01T00:00:00Z");
    time_bad("2026-08-22 12:00:00Z");
    time_bad("2026-08-22T12:00:00");
    time_bad("2026-08-22T12:00:60Z");
    time_bad("2026-08-22T12:00:00.Z");
    time_bad("2026-08-22T12:00:00Zjunk");
    time_bad("");
    struct tc_time big = { INT64_MAX, 0 };
    ok(tc_time_format(&big, out) < 0, "year past 9999 refused");

    /* keys: RFC 7748 public key of "alice" (keys.md) */
    tc_key k;
    unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", k.b, 32);
    tc_key_format(&k, TC_PREFIX_NODE, out);
    is_str(out, "nodekey:8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", "node key text");
    tc_key k2;
    const char *up = "discokey:8520F0098930A754748B7DDCB43EF75A0DBF3A0D26381AF4EBA4A98EAA9B4E6A";
    ok(tc_key_parse(up, strlen(up), TC_PREFIX_DISCO, &k2) == 0 && memcmp(k.b, k2.b, 32) == 0,
       "upper-case hex accepted");
    ok(tc_key_parse(up, strlen(up), TC_PREFIX_NODE, &k2) < 0, "wrong prefix refused");
    ok(tc_key_parse(out, strlen(out) - 1, TC_PREFIX_NODE, &k2) < 0, "short key refused");
    ok(tc_key_parse("", 0, TC_PREFIX_NODE, &k2) == 0 && tc_key_is_zero(&k2), "empty text is the zero key");
    const char *zk = "nodekey:0000000000000000000000000000000000000000000000000000000000000000";
    ok(tc_key_parse(zk, strlen(zk), TC_PREFIX_NODE, &k2) == 0 && tc_key_is_zero(&k2), "zero key text");

    /* base64 */
    uint8_t bin[16];
    is_int(tc_b64_decode("aGVsbG8=", 8, bin, sizeof bin), 5, "base64 decodes");
    ok(memcmp(bin, "hello", 5) == 0, "base64 bytes");
    is_int(tc_b64_decode("aGVsbG8", 7, bin, sizeof bin), -1, "unpadded base64 refused (Go StdEncoding)");
    struct jbuf b;
    jbuf_init(&b);
    jbuf_open(&b, '[');
    jbuf_b64(&b, (const uint8_t *)"hello", 5);
    jbuf_b64(&b, NULL, 0);
    jbuf_b64(&b, (const uint8_t *)"", 0);
    jbuf_close(&b, ']');
    char *s = jbuf_take(&b, NULL);
    is_str(s, "[\"aGVsbG8=\",null,\"\"]", "[]byte: base64, nil is null, empty is \"\"");
    free(s);

    /* float64 as encoding/json writes it */
    f64(0.000325093, "0.000325093");
    f64(1.5, "1.5");
    f64(100, "100");
    f64(-2.25, "-2.25");
    f64(1e21, "1e+21");
    f64(1e20, "100000000000000000000");
    f64(1e-7, "1e-7");
    f64(1e-6, "0.000001");
    f64(0.1, "0.1");
    f64(1.0 / 3, "0.3333333333333333");
    f64(123456789.125, "123456789.125");
    f64(2.5e-300, "2.5e-300");
    f64(NAN, "0");

    /* strings as encoding/json writes them (HTML-safe, invalid UTF-8 replaced) */
    jbuf_init(&b);
    jbuf_str(&b, "<a&b>\"\\\n\t\x01\x7f" "\xc3\xa9\xff" "\xe2\x80\xa8/");
    s = jbuf_take(&b, NULL);
    is_str(s, "\"\\u003ca\\u0026b\\u003e\\\"\\\\\\n\\t\\u0001\x7f\xc3\xa9\\ufffd\\u2028/\"", "Go string escaping");
    free(s);

    /* implicit commas */
    jbuf_init(&b);
    jbuf_open(&b, '{');
    jbuf_field(&b, "a");
    jbuf_open(&b, '[');
    jbuf_i64(&b, 1);
    jbuf_i64(&b, -9223372036854775807LL - 1);
    jbuf_open(&b, '{');
    jbuf_close(&b, '}');
    jbuf_close(&b, ']');
    jbuf_name(&b, "k\"");
    jbuf_bool(&b, true);
    jbuf_field(&b, "n");
    jbuf_null(&b);
    jbuf_close(&b, '}');
    s = jbuf_take(&b, NULL);
    is_str(s, "{\"a\":[1,-9223372036854775808,{}],\"k\\\"\":true,\"n\":null}", "commas placed by the writers");
    free(s);

    /* strict JSON gate */
    valid("{\"a\":[1,2.5,-0,1e3,\"x\\u00e9\",true,false,null,{}]}", 1);
    valid("  {\"a\" : 1 }  ", 1);
    valid("{\"a\":NaN}", 0);
    valid("{\"a\":Infinity}", 0);
    valid("{'a':1}", 0);
    valid("{\"a\":1.}", 0);
    valid("{\"a\":01}", 0);
    valid("{\"a\":1,}", 0);
    valid("{\"a\":1} x", 0);
    valid("{\"a\":/*c*/1}", 0);
    valid("{\"a\":\"\\x\"}", 0);
    valid("{\"a\":\"tab\there\"}", 0);
    valid("{\"a\":1e400}", 0);
    valid("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
          "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 0);
    json_object *o = tc_json_parse("{\"a\":\"\xff\"}", 9);
    ok(o == NULL, "invalid UTF-8 refused");
    valid("{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x92\xac\"}", 1);
    valid("{\"a\":\"\xc0\xaf\"}", 0);         /* overlong */
    valid("{\"a\":\"\xe0\x80\xaf\"}", 0);     /* overlong */
    valid("{\"a\":\"\xed\xa0\x80\"}", 0);     /* surrogate */
    valid("{\"a\":\"\xf4\x90\x80\x80\"}", 0); /* > U+10FFFF */
    valid("{\"a\":\"\xe2\x82\"}", 0);         /* truncated */
    valid("{\"\x80\":1}", 0);
    const char *dbl = "{\"a\":0.000325093,\"b\":\"x/y\"}";
    o = tc_json_parse(dbl, strlen(dbl));
    size_t n;
    is_str(o ? tc_json_text(o, &n) : NULL, "{\"a\":0.000325093,\"b\":\"x/y\"}", "json-c re-serializes compactly");
    json_object_put(o);

    /* arena */
    struct tc_arena a = { 0 };
    int zeroed = 1;
    for (int i = 0; i < 2000; i++) {
        unsigned char *p = tc_arena_alloc(&a, (size_t)(i * 37 % 5000));
        if (!p || ((uintptr_t)p & 15)) {
            zeroed = 0;
            break;
        }
        for (int j = 0; j < i * 37 % 5000; j++)
            zeroed &= p[j] == 0;
        memset(p, 0xaa, (size_t)(i * 37 % 5000));
    }
    ok(zeroed, "arena memory is zeroed and aligned");
    ok(tc_arena_array(&a, SIZE_MAX / 4, 8) == NULL, "arena refuses overflowing arrays");
    tc_arena_free(&a);
    return done_testing();
}
