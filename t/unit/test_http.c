// SPDX-License-Identifier: BSD-3-Clause
/* core/http + core/stream + core/http_client on 127.0.0.1: routing, 404, bodies, streamed replies, upgrade
 * hijack with early data both ways, TLS with a certificate made at test time and a pinned client, errors. */
#include "config.h"
#include "core/http.h"
#include "core/http_client.h"
#include "core/loop.h"
#include "core/stream.h"
#include "t/tap.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static struct loop *L;
static struct http_server *srv;
static uint16_t port, tls_port;

static int run_until(int *flag, int ms)
{
    uint64_t end = loop_update_now(L) + (uint64_t)ms;
    while (!*flag && loop_now(L) < end)
        loop_run_once(L, 20);
    return *flag;
}

/* ---- server handlers ---- */

static void h_health(struct http_req *req, void *arg)
{
    http_respond_text(req, 200, http_req_is_tls(req) ? "ok tls\n" : "ok\n");
}

static void h_register(struct http_req *req, void *arg)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "{\"path\":\"%s\",\"query\":\"%s\",\"method\":\"%s\",\"x\":\"%s\"}",
             http_req_path(req), http_req_query(req), http_req_method(req),
             http_req_header(req, "x-test") ?: "");
    http_respond_json(req, 200, buf);
}

static void h_echo(struct http_req *req, void *arg)
{
    size_t n;
    const uint8_t *b = http_req_body(req, &n);
    struct http_header hs[] = {{"Content-Type", "application/octet-stream"}, {"X-Echo-Len", "yes"}};
    http_respond(req, 201, hs, 2, b, n);
}

static void h_stream(struct http_req *req, void *arg)
{
    struct http_reply *r = http_reply_start(req, 200, NULL, 0, NULL, NULL);
    http_reply_write(r, "alpha;", 6);
    http_reply_write(r, "beta;", 5);
    http_reply_end(r);
}

/* the upgraded side echoes every byte it gets */
static int up_server_got_early;
static void up_echo_read(struct stream *s, void *arg)
{
    size_t n;
    uint8_t *p = stream_input(s, &n);
    if (n >= 5 && memcmp(p, "EARLY", 5) == 0)
        up_server_got_early = 1;
    stream_write(s, p, n);
    stream_consume(s, n);
}
static int up_server_closed;
static void up_echo_close(struct stream *s, const char *err, void *arg)
{
    up_server_closed = 1;
}
static void on_upgraded(struct stream *s, void *arg)
{
    if (s == NULL)
        return;
    stream_set_callbacks(s, up_echo_read, NULL, up_echo_close, NULL);
    stream_read_start(s);
}
static int upgrade_refused_h2;
static void h_upgrade(struct http_req *req, void *arg)
{
    const char *up = http_req_header(req, "Upgrade");
    if (up == NULL || strcmp(up, "test-proto") != 0) {
        http_respond_text(req, 426, "upgrade required\n");
        return;
    }
    struct http_header extra = {"X-Server-Hello", "hi"};
    if (http_upgrade(req, "test-proto", &extra, 1, on_upgraded, NULL) != 0) {
        upgrade_refused_h2 = 1;
        http_respond_text(req, 400, "HTTP/1.1 only\n");
    }
}

static void h_force_upgrade(struct http_req *req, void *arg)
{
    if (http_upgrade(req, "test-proto", NULL, 0, on_upgraded, NULL) != 0)
        http_respond_text(req, 400, http_req_version(req) >= 0x200 ? "no upgrade over h2\n" : "refused\n");
}

/* Run the curl program (if any) against us while the loop serves; its stdout into out. -1 if no curl. */
static int run_curl(char *out, size_t cap, const char *url, const char *extra)
{
    int p[2];
    if (access("/usr/bin/curl", X_OK) != 0 || pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        execl("/usr/bin/curl", "curl", "-sk", "--max-time", "5", extra, "-w",
              "|%{http_version}|%{http_code}", url, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    size_t len = 0;
    int status = 0;
    for (int i = 0; i < 500; i++) {
        loop_run_once(L, 20);
        ssize_t n;
        while (len + 1 < cap && (n = read(p[0], out + len, cap - 1 - len)) > 0)
            len += (size_t)n;
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
    }
    ssize_t n;
    while (len + 1 < cap && (n = read(p[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = 0;
    close(p[0]);
    return 0;
}

/* ---- a tiny client: connect, one request; collect the status, a header, the bytes after the head ---- */

struct client {
    int done, status;
    char err[128];
    char hdr[64];
    char body[512];
    size_t body_len;
    const char *want_hdr;
    size_t want_bytes; /* stop collecting once this many body bytes arrived */
    const char *method, *path, *body_out, *early;
    struct http_header xh[2];
    struct stream *s;
};

static void cl_read(struct stream *s, void *arg)
{
    struct client *c = arg;
    size_t n;
    uint8_t *p = stream_input(s, &n);
    if (c->body_len + n >= sizeof(c->body))
        n = sizeof(c->body) - 1 - c->body_len;
    memcpy(c->body + c->body_len, p, n);
    c->body_len += n;
    c->body[c->body_len] = 0;
    stream_consume(s, n);
    if (c->body_len >= c->want_bytes)
        c->done = 1;
}

static void cl_close(struct stream *s, const char *err, void *arg)
{
    struct client *c = arg;
    c->s = NULL;
    c->done = 1;
}

static void cl_response(struct stream *s, const struct http_response *res, const char *err, void *arg)
{
    struct client *c = arg;
    if (err != NULL) {
        snprintf(c->err, sizeof(c->err), "%s", err);
        c->s = NULL;
        c->done = 1;
        return;
    }
    c->status = res->status;
    if (c->want_hdr && http_response_header(res, c->want_hdr))
        snprintf(c->hdr, sizeof(c->hdr), "%s", http_response_header(res, c->want_hdr));
    const char *cl = http_response_header(res, "content-length");
    if (cl != NULL)
        c->want_bytes = (size_t)atol(cl);
    if (c->want_bytes == 0 && res->status != 101 && cl != NULL) {
        c->done = 1;
        return;
    }
    stream_set_callbacks(s, cl_read, NULL, cl_close, c);
    stream_read_start(s);
}

static void cl_connected(struct stream *s, const char *err, void *arg)
{
    struct client *c = arg;
    if (err != NULL) {
        snprintf(c->err, sizeof(c->err), "%s", err);
        c->done = 1;
        return;
    }
    c->s = s;
    size_t blen = c->body_out ? strlen(c->body_out) : 0;
    size_t nxh = c->xh[1].name ? 2 : c->xh[0].name ? 1 : 0;
    http_client_request(s, c->method, c->path, "localhost", c->xh, nxh, c->body_out, blen, cl_response, c);
    if (c->early)
        stream_write(s, c->early, strlen(c->early)); /* right behind the request head */
}

static void client_run(struct client *c, uint16_t p, const struct stream_connect_opts *o)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", p);
    c->done = 0;
    if (stream_connect(L, addr, o, cl_connected, c) == NULL) {
        snprintf(c->err, sizeof(c->err), "stream_connect returned NULL");
        return;
    }
    run_until(&c->done, 3000);
}

static void client_close(struct client *c)
{
    if (c->s != NULL) {
        stream_set_callbacks(c->s, NULL, NULL, NULL, NULL);
        stream_close(c->s);
        c->s = NULL;
    }
}

/* ---- TLS material made at test time ---- */

static int make_cert(const char *cert_path, const char *key_path, const char *cn)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int ok_ = 0;
    if (pkey == NULL || x == NULL)
        goto out;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    char san[80];
    snprintf(san, sizeof(san), "DNS:%s", cn);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (ext == NULL)
        goto out;
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (X509_sign(x, pkey, EVP_sha256()) == 0)
        goto out;
    FILE *f = fopen(cert_path, "w");
    if (f == NULL)
        goto out;
    PEM_write_X509(f, x);
    fclose(f);
    if ((f = fopen(key_path, "w")) == NULL)
        goto out;
    PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    ok_ = 1;
out:
    X509_free(x);
    EVP_PKEY_free(pkey);
    return ok_;
}

int main(void)
{
    char err[256], dir[] = "/tmp/weft-test-http-XXXXXX";
    char cert[128], key[128], other[128], other_key[128];
    plan(41);
    L = loop_new();
    srv = http_server_new(L);
    ok(srv != NULL, "server created");

    int id = http_listen(srv, "127.0.0.1:0", NULL, err, sizeof(err));
    ok(id >= 0, "listen on 127.0.0.1:0");
    port = http_listener_port(srv, id);
    ok(port > 0, "bound port %u", port);
    http_route(srv, "/health", 0, h_health, NULL);
    http_route(srv, "/register/", 1, h_register, NULL);
    http_route(srv, "/echo", 0, h_echo, NULL);
    http_route(srv, "/stream", 0, h_stream, NULL);
    http_route(srv, "/ts2021", 0, h_upgrade, NULL);
    http_route(srv, "/derp", 0, h_upgrade, NULL);
    http_route(srv, "/force-upgrade", 0, h_force_upgrade, NULL);

    /* errors name the address */
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
    ok(http_listen(srv, addr, NULL, err, sizeof(err)) < 0 && strstr(err, addr) && strstr(err, "in use"),
       "address in use: %s", err);
    ok(http_listen(srv, "nonsense", NULL, err, sizeof(err)) < 0 && strstr(err, "nonsense"),
       "bad address: %s", err);

    struct client c = {.method = "GET", .path = "/health", .want_hdr = "content-type"};
    client_run(&c, port, NULL);
    is_int(c.status, 200, "GET /health is 200");
    is_str(c.body, "ok\n", "GET /health body");
    is_str(c.hdr, "text/plain; charset=utf-8", "content type of a text answer");
    ok(http_server_connections(srv) == 1, "one HTTP connection open");
    client_close(&c);

    struct client c2 = {.method = "GET", .path = "/nothing-here"};
    client_run(&c2, port, NULL);
    is_int(c2.status, 404, "unrouted path is 404");
    client_close(&c2);

    struct client c3 = {.method = "GET", .path = "/register/abc?x=1&y=2", .xh = {{"X-Test", "v"}}};
    client_run(&c3, port, NULL);
    is_int(c3.status, 200, "prefix route matched");
    is_str(c3.body, "{\"path\":\"/register/abc\",\"query\":\"x=1&y=2\",\"method\":\"GET\",\"x\":\"v\"}",
           "path, query, method and a header reached the handler");
    client_close(&c3);

    struct client c4 = {
        .method = "POST", .path = "/echo", .body_out = "some body bytes", .want_hdr = "x-echo-len"};
    client_run(&c4, port, NULL);
    is_int(c4.status, 201, "POST /echo status");
    is_str(c4.body, "some body bytes", "request body echoed");
    is_str(c4.hdr, "yes", "custom response header");
    client_close(&c4);

    struct client c5 = {.method = "GET", .path = "/stream", .want_bytes = 1 << 20};
    client_run(&c5, port, NULL);
    is_int(c5.status, 200, "streamed reply status");
    ok(strstr(c5.body, "alpha;") && strstr(c5.body, "beta;") && strstr(c5.body, "0\r\n\r\n"),
       "streamed reply chunks arrive, chunked-terminated");
    client_close(&c5);

    /* upgrade hijack: POST with early data right behind the head, then a round trip on the raw stream */
    struct client u = {.method = "POST",
                       .path = "/ts2021",
                       .xh = {{"Upgrade", "test-proto"}, {"Connection", "upgrade"}},
                       .early = "EARLY",
                       .want_hdr = "x-server-hello",
                       .want_bytes = 5};
    client_run(&u, port, NULL);
    is_int(u.status, 101, "POST upgrade answered 101");
    is_str(u.hdr, "hi", "101 carries the handler's headers");
    ok(up_server_got_early, "server stream saw the early data first");
    is_str(u.body, "EARLY", "early data echoed back over the raw stream");
    if (u.s != NULL) {
        u.body_len = 0;
        u.body[0] = 0;
        u.want_bytes = 4;
        u.done = 0;
        stream_write(u.s, "ping", 4);
        run_until(&u.done, 2000);
    }
    is_str(u.body, "ping", "raw bytes both ways after the upgrade");
    ok(http_server_connections(srv) == 0, "the upgraded connection is no longer counted by the server (%zu)",
       http_server_connections(srv));
    client_close(&u);
    run_until(&up_server_closed, 2000);
    ok(up_server_closed, "closing the client closes the server's upgraded stream");

    struct client g = {.method = "GET",
                       .path = "/derp",
                       .xh = {{"Upgrade", "test-proto"}, {"Connection", "Upgrade"}},
                       .want_bytes = 3};
    client_run(&g, port, NULL);
    is_int(g.status, 101, "GET upgrade answered 101");
    if (g.s != NULL) {
        g.done = 0;
        stream_write(g.s, "abc", 3);
        run_until(&g.done, 2000);
    }
    is_str(g.body, "abc", "GET-upgraded stream echoes");
    client_close(&g);

    /* TLS */
    if (mkdtemp(dir) == NULL) {
        skip_all("mkdtemp");
    }
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(other, sizeof(other), "%s/other.pem", dir);
    snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
    ok(make_cert(cert, key, "localhost") && make_cert(other, other_key, "localhost"),
       "self-signed certificates generated with OpenSSL");
    struct http_listen_opts to = {.cert_file = cert, .key_file = key};
    id = http_listen(srv, "127.0.0.1:0", &to, err, sizeof(err));
    ok(id >= 0, "TLS listener %s", id < 0 ? err : "");
    tls_port = http_listener_port(srv, id);
    struct http_listen_opts bad = {.cert_file = other, .key_file = key};
    ok(http_listen(srv, "127.0.0.1:0", &bad, err, sizeof(err)) < 0 && strstr(err, "127.0.0.1:0"),
       "mismatched key refused: %s", err);

    struct stream_connect_opts pin = {.tls = 1, .sni = "localhost", .pin_cert_file = cert};
    struct client t1 = {.method = "GET", .path = "/health"};
    client_run(&t1, tls_port, &pin);
    is_int(t1.status, 200, "GET over TLS with a pinned certificate");
    is_str(t1.body, "ok tls\n", "the handler saw TLS");
    client_close(&t1);

    struct stream_connect_opts wrong = {.tls = 1, .sni = "localhost", .pin_cert_file = other};
    struct client t2 = {.method = "GET", .path = "/health"};
    client_run(&t2, tls_port, &wrong);
    ok(t2.status == 0 && strstr(t2.err, "TLS"), "another pinned certificate is refused: %s", t2.err);

    struct stream_connect_opts sys = {.tls = 1, .sni = "localhost"};
    struct client t3 = {.method = "GET", .path = "/health"};
    client_run(&t3, tls_port, &sys);
    ok(t3.status == 0 && t3.err[0], "the system CA store does not trust it: %s", t3.err);

    struct stream_connect_opts ins = {.tls = 1, .sni = "other.name", .insecure = 1};
    struct client t4 = {.method = "GET", .path = "/health"};
    client_run(&t4, tls_port, &ins);
    is_int(t4.status, 200, "insecure mode accepts it, whatever the name");
    client_close(&t4);

    /* HTTP/2 over TLS (ALPN h2), and HTTP/1.1 over TLS, with the curl program as the client */
    char out[512], url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/health", tls_port);
    if (run_curl(out, sizeof(out), url, "--http2") == 0) {
        is_str(out, "ok tls\n|2|200", "curl --http2 over TLS negotiates h2 by ALPN");
        snprintf(url, sizeof(url), "https://127.0.0.1:%u/force-upgrade", tls_port);
        run_curl(out, sizeof(out), url, "--http2");
        is_str(out, "no upgrade over h2\n|2|400", "http_upgrade refuses an HTTP/2 request");
        snprintf(url, sizeof(url), "https://127.0.0.1:%u/health", tls_port);
        run_curl(out, sizeof(out), url, "--http1.1");
        is_str(out, "ok tls\n|1.1|200", "curl --http1.1 over TLS");
    } else {
        skip("no /usr/bin/curl");
        skip("no /usr/bin/curl");
        skip("no /usr/bin/curl");
    }

    /* outbound by name, and a refused connection */
    struct client n1 = {.method = "GET", .path = "/health"};
    char byname[64];
    snprintf(byname, sizeof(byname), "localhost:%u", port);
    n1.done = 0;
    stream_connect(L, byname, NULL, cl_connected, &n1);
    run_until(&n1.done, 5000);
    ok(n1.status == 200 || strstr(n1.err, "connect"), "connect by name resolves off-thread (%d %s)",
       n1.status, n1.err);
    client_close(&n1);

    struct client r1 = {.method = "GET", .path = "/"};
    client_run(&r1, 1, NULL);
    ok(r1.err[0] != 0 && r1.status == 0, "connection refused reported: %s", r1.err);

    /* graceful shutdown */
    for (int i = 0; i < 20; i++)
        loop_run_once(L, 10);
    http_server_close(srv);
    struct client z = {.method = "GET", .path = "/health"};
    client_run(&z, port, NULL);
    ok(z.status == 0 && z.err[0], "closed listeners refuse new connections: %s", z.err);
    is_int((long long)http_server_connections(srv), 0, "no connections left after the clients closed");

    http_server_free(srv);
    loop_free(L);
    unlink(cert);
    unlink(key);
    unlink(other);
    unlink(other_key);
    rmdir(dir);
    return done_testing();
}
