// SPDX-License-Identifier: BSD-3-Clause
/* core/derp_client: DERP URLs, and a client's failure path (no relay listening: reported, retried). */
#include "config.h"

#include "core/derp_client.h"
#include "core/crypto/key.h"
#include "core/loop.h"
#include "t/tap.h"

static int disconnects;
static char last_err[128];

static void on_disconnected(struct derp_client *c, const char *err, void *arg)
{
    disconnects++;
    snprintf(last_err, sizeof(last_err), "%s", err);
    if (disconnects == 2)
        loop_stop(arg);
}

int main(void)
{
    struct derp_url u;
    ok(derp_url_parse("https://derp.example.com/derp", &u) == 0, "https URL");
    ok(u.tls == 1 && u.port == 443, "TLS on 443 by default");
    is_str(u.host, "derp.example.com", "host");
    is_str(u.hostport, "derp.example.com:443", "host:port to dial");
    is_str(u.path, "/derp", "path");
    ok(derp_url_parse("http://127.0.0.1:3340", &u) == 0 && !u.tls && u.port == 3340, "http with a port");
    is_str(u.path, "/derp", "the path defaults to /derp");
    ok(derp_url_parse("http://[::1]:8080/derp", &u) == 0, "IPv6 literal");
    is_str(u.host, "::1", "host without brackets");
    is_str(u.hostport, "[::1]:8080", "brackets again in host:port");
    ok(derp_url_parse("derp2.example", &u) == 0 && u.tls && u.port == 443, "a bare host means https:443");
    ok(derp_url_parse("ftp://x/derp", &u) != 0, "other schemes refused");
    ok(derp_url_parse("http://x:0/derp", &u) != 0, "port 0 refused");
    ok(derp_url_parse("http://x:70000/derp", &u) != 0, "port > 65535 refused");
    ok(derp_url_parse("http://x:80derp", &u) != 0, "junk after the port refused");
    ok(derp_url_parse("http:///derp", &u) != 0, "empty host refused");
    ok(derp_url_parse("http://x/de rp", &u) != 0, "blank in the path refused");
    ok(derp_url_parse(NULL, &u) != 0, "NULL refused");

    /* nobody listens on the port: the failure is reported, and with reconnect tried again */
    struct loop *l = loop_new();
    struct key k;
    key_generate(&k);
    struct derp_client_opts o = {.url = "http://127.0.0.1:1/derp", .priv = k.b, .reconnect = 1,
                                 .backoff_min_ms = 10, .backoff_max_ms = 20};
    struct derp_client_cbs cbs = {.on_disconnected = on_disconnected};
    struct derp_client *c = derp_client_new(l, &o, &cbs, l);
    ok(c != NULL, "a client");
    ok(!derp_client_connected(c), "not connected yet");
    ok(derp_client_send(c, k.b, "x", 1) != 0, "send refused while not connected");
    loop_run(l);
    is_int(disconnects, 2, "the failed dial is reported, and retried after the backoff");
    ok(strstr(last_err, "connect") != NULL, "the error says why");
    derp_client_free(c);
    o.url = "nope://x";
    ok(derp_client_new(l, &o, &cbs, l) == NULL, "a bad URL gives no client");
    loop_free(l);
    return done_testing();
}
