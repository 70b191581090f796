// SPDX-License-Identifier: BSD-3-Clause
/* ctlc: a test client for the control channel, built on core/control_client. Connects to a running
 * `weft serve control`: GET /key, the Noise handshake, the early payload, then the requests given on
 * the command line, printing what came back; -n N more clients at once; raw modes send malformed
 * handshakes or garbage after the upgrade to see the server refuse them, or hold connections open (idle,
 * silent after the handshake, slowloris) to see the server's limits. For t/control-channel.t and
 * t/faults/. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/control_client.h"
#include "core/crypto/key.h"
#include "core/crypto/noise_ts2021.h"
#include "core/http_client.h"
#include "core/loop.h"
#include "core/stream.h"
#include "core/wire/ts2021.h"

static const char usage[] =
    "usage: ctlc [options] URL [METHOD:PATH[:BODY|:@FILE]]...\n"
    "  -k FILE          machine private key file (default: a new key per client)\n"
    "  -V N             capability version (default 97)\n"
    "  -c mkey:...      the control key: skip GET /key\n"
    "  -e mkey:...      fail unless GET /key answers with this key\n"
    "  -n N             then N more clients at once, each making the requests\n"
    "  -t MS            timeout (default 10000)\n"
    "  -r B64           raw: send this X-Tailscale-Handshake, print the status and any error frame\n"
    "  -g               raw: a good handshake, then garbage instead of Noise records; print 'closed'\n"
    "  -S               raw: a good handshake, then silence; print 'closed after MS ms' when dropped\n"
    "  -H MS            hold each client open MS ms after its answers; print when the server closes it\n"
    "  -s               with -n: print a summary of answer statuses and connect errors\n"
    "  -1               each client sends its requests one after the other (default: all at once)\n"
    "  -L N             slowloris: N connections that send an HTTP request head one byte a second\n"
    "                   (-S: N connections that go silent after a good handshake); hold them for -t\n"
    "                   printing each second how many are open and how many the server dropped\n";

static struct loop *L;
static const char *url;
static uint16_t version = 97;
static unsigned timeout_ms = 10000;
static struct key fixed_machine;
static int have_fixed;
static char **reqs;
static int nreqs;
static int failures;
static unsigned hold_ms;
static int summary, sequential;

/* -s: answer statuses and connect errors over every client */
static int statuses[600];
static struct {
    char text[96];
    int n;
} errs[8];

static void count_error(const char *err)
{
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        if (errs[i].n == 0)
            snprintf(errs[i].text, sizeof(errs[i].text), "%s", err);
        if (strcmp(errs[i].text, err) == 0) {
            errs[i].n++;
            return;
        }
    }
}

struct client {
    struct control_client *cc;
    int ready, failed, closed, pending, answered;
    int print;
    uint64_t idle_since; /* loop time its last answer came (hold starts) */
    int next;            /* the next request to send */
    uint64_t closed_at;
};

static void print_body(const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len && i < 2000; i++)
        putchar(b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '.');
}

static void send_requests(struct client *cl);

static void on_done(struct control_call *c, int status, const uint8_t *body, size_t len, const char *err,
                    void *arg)
{
    struct client *cl = ((void **)arg)[0];
    const char *what = ((void **)arg)[1];
    free(arg);
    cl->pending--;
    if (cl->pending == 0)
        cl->idle_since = loop_now(L);
    if (status > 0 && status < 600)
        statuses[status]++;
    if (err != NULL) {
        failures++;
        char e[96];
        snprintf(e, sizeof(e), "%s (HTTP %d)", err, status);
        count_error(e);
        if (cl->print)
            printf("response %s error %s\n", what, err);
        return;
    }
    cl->answered++;
    if (cl->print) {
        printf("response %s %d %zu ", what, status, len);
        print_body(body, len);
        putchar('\n');
    }
    if (sequential && cl->next < nreqs)
        send_requests(cl);
}

static void send_requests(struct client *cl)
{
    static const struct control_call_cbs cbs = {NULL, NULL, on_done};
    for (int i = cl->next; i < nreqs && (!sequential || i == cl->next); i++) {
        char *spec = strdup(reqs[i]);
        char *method = spec, *path = strchr(spec, ':'), *body = NULL;
        if (path == NULL) {
            fprintf(stderr, "ctlc: bad request %s (METHOD:PATH[:BODY])\n", reqs[i]);
            exit(2);
        }
        *path++ = 0;
        if ((body = strchr(path, ':')) != NULL)
            *body++ = 0;
        char *file_body = NULL;
        size_t blen = body ? strlen(body) : 0;
        if (body != NULL && body[0] == '@') { /* a body too large for the command line */
            FILE *f = fopen(body + 1, "rb");
            if (f == NULL || fseek(f, 0, SEEK_END) != 0) {
                fprintf(stderr, "ctlc: %s: %s\n", body + 1, strerror(errno));
                exit(2);
            }
            blen = (size_t)ftell(f);
            rewind(f);
            file_body = malloc(blen + 1);
            if (file_body == NULL || fread(file_body, 1, blen, f) != blen)
                exit(2);
            fclose(f);
            body = file_body;
        }
        void **arg = malloc(2 * sizeof(void *));
        arg[0] = cl;
        arg[1] = (void *)reqs[i];
        if (control_client_request(cl->cc, method, path, NULL, 0, body, blen, &cbs, arg) == NULL) {
            failures++;
            free(arg);
        } else {
            cl->pending++;
        }
        free(file_body);
        free(spec);
    }
    cl->next = sequential ? cl->next + 1 : nreqs;
}

static void on_ready(struct control_client *cc, const char *err, void *arg)
{
    struct client *cl = arg;
    if (err != NULL) {
        cl->failed = 1;
        count_error(err);
        if (cl->print)
            printf("error %s\n", err);
        return;
    }
    cl->ready = 1;
    cl->idle_since = loop_now(L);
    if (cl->print) {
        char k[KEY_TEXT_MAX];
        key_format(k, sizeof(k), KEY_TEXT_MACHINE, control_client_server_key(cc));
        printf("key %s\n", k);
        const char *early = control_client_early_json(cc);
        printf("early %s\n", early ? early : "none");
    }
    send_requests(cl);
}

static void on_close(struct control_client *cc, const char *err, void *arg)
{
    struct client *cl = arg;
    cl->closed = 1;
    cl->closed_at = loop_now(L);
    if (cl->print && hold_ms && cl->pending == 0)
        printf("closed after %llu ms: %s\n", (unsigned long long)(cl->closed_at - cl->idle_since),
               err ? err : "");
    else if (cl->print)
        printf("closed %s\n", err ? err : "");
}

static struct control_client *start(struct client *cl, const struct key *control)
{
    struct key m;
    if (have_fixed)
        m = fixed_machine;
    else
        key_generate(&m);
    struct control_client_opts o = {.server_url = url,
                                    .machine_priv = &m,
                                    .control_pub = control,
                                    .version = version,
                                    .timeout_ms = timeout_ms};
    cl->cc = control_client_connect(L, &o, on_ready, on_close, cl);
    if (cl->cc == NULL)
        cl->failed = 1;
    return cl->cc;
}

static int run_until(int (*done)(void *), void *arg)
{
    uint64_t end = loop_update_now(L) + timeout_ms + hold_ms + 1000;
    while (!done(arg) && loop_now(L) < end)
        loop_run_once(L, 50);
    return done(arg);
}

static int first_done(void *arg)
{
    struct client *cl = arg;
    if (cl->failed || cl->closed)
        return 1;
    if (!cl->ready || cl->pending > 0)
        return 0;
    return hold_ms == 0 || loop_now(L) >= cl->idle_since + hold_ms;
}

struct many {
    struct client *cls;
    int n;
};

static int many_done(void *arg)
{
    struct many *m = arg;
    for (int i = 0; i < m->n; i++)
        if (!first_done(&m->cls[i]))
            return 0;
    return 1;
}

/* ---- raw modes ---- */

struct raw {
    const char *b64;
    int garbage, silent, print;
    struct key control;
    struct ts2021_handshake hs;
    int done, handshaken;
    uint64_t t_hs;
};

static int raw_dropped;

static void raw_close(struct stream *s, const char *err, void *arg)
{
    struct raw *r = arg;
    raw_dropped++;
    if (r->print && r->silent && r->handshaken)
        printf("closed after %llu ms\n", (unsigned long long)(loop_now(L) - r->t_hs));
    else if (r->print)
        printf("closed\n");
    r->done = 1;
}

static void raw_read(struct stream *s, void *arg)
{
    struct raw *r = arg;
    size_t len;
    uint8_t *p = stream_input(s, &len), type;
    ssize_t fl = ts2021_frame_len(p, len, &type);
    if (r->handshaken) { /* the early payload and whatever follows: ignored */
        stream_consume(s, len);
        return;
    }
    if (fl <= 0 || (size_t)fl > len)
        return;
    if (type == TS2021_TYPE_ERROR) {
        const uint8_t *text;
        size_t tl;
        if (ts2021_error_text(p, (size_t)fl, &text, &tl) == 0 && r->print)
            printf("error-frame %.*s\n", (int)tl, (const char *)text);
        stream_consume(s, (size_t)fl);
        return;
    }
    struct ts2021_transport t;
    if (type == TS2021_TYPE_RESPONSE && ts2021_initiator_finish(&r->hs, &t, p, (size_t)fl) == 0) {
        if (r->print)
            printf("handshake ok\n");
        r->handshaken = 1;
        r->t_hs = loop_now(L);
        ts2021_transport_wipe(&t);
    }
    stream_consume(s, (size_t)fl);
    if (r->garbage) {
        static const char junk[] = "GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE";
        stream_write(s, junk, sizeof(junk));
        r->garbage = 0;
    }
    stream_consume(s, len);
}

static void raw_response(struct stream *s, const struct http_response *res, const char *err, void *arg)
{
    struct raw *r = arg;
    if (err != NULL) {
        if (r->print)
            printf("error %s\n", err);
        r->done = 1;
        return;
    }
    if (r->print)
        printf("status %d\n", res->status);
    stream_set_callbacks(s, raw_read, NULL, raw_close, r);
    stream_read_start(s);
}

static void raw_connected(struct stream *s, const char *err, void *arg)
{
    struct raw *r = arg;
    if (err != NULL) {
        if (r->print)
            printf("error %s\n", err);
        r->done = 1;
        return;
    }
    uint8_t init[TS2021_INITIATION_LEN];
    char b64[200];
    struct key m;
    key_generate(&m);
    ts2021_initiator_start(&r->hs, init, m.b, r->control.b, version, NULL);
    ts2021_base64_encode(b64, sizeof(b64), init, sizeof(init));
    const struct http_header hs[] = {{"Upgrade", TS2021_UPGRADE},
                                     {"Connection", "upgrade"},
                                     {"X-Tailscale-Handshake", r->b64 ? r->b64 : b64}};
    const char *host = strstr(url, "://") + 3;
    if (http_client_request(s, "POST", TS2021_PATH, host, hs, 3, NULL, 0, raw_response, r) != 0) {
        if (r->print)
            printf("error cannot send\n");
        r->done = 1;
    }
}

static int raw_done(void *arg)
{
    return ((struct raw *)arg)->done;
}

/* host:port of the http:// URL into addr; -1 (with a message) for other URLs */
static int url_addr(char *addr, size_t len)
{
    const char *host = strstr(url, "://");
    if (host == NULL || strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "ctlc: raw modes need an http:// URL\n");
        return -1;
    }
    snprintf(addr, len, "%.*s", (int)strcspn(host + 3, "/"), host + 3);
    if (strchr(addr, ':') == NULL)
        strncat(addr, ":80", len - strlen(addr) - 1);
    return 0;
}

static int raw_mode(struct raw *r)
{
    char addr[300];
    if (url_addr(addr, sizeof(addr)) != 0)
        return 2;
    if (stream_connect(L, addr, NULL, raw_connected, r) == NULL) {
        printf("error bad address\n");
        return 1;
    }
    return run_until(raw_done, r) ? 0 : 1;
}

/* ---- slowloris: many connections that hold the server's sockets ---- */

static const char slow_head[] = "POST /ts2021 HTTP/1.1\r\nHost: slow\r\nUpgrade: tailscale-control-protocol\r\n"
                                "Connection: upgrade\r\nX-Tailscale-Handshake: AAAA\r\nX-Padding: ";
struct slow {
    struct stream *s;
    size_t sent;
    int up, closed;
};
static struct slow *slows;
static struct raw *raws; /* -L with -S */
static int nslow, slow_up, slow_closed;

static void slow_close(struct stream *s, const char *err, void *arg)
{
    struct slow *w = arg;
    w->s = NULL;
    if (!w->closed) {
        w->closed = 1;
        slow_closed++;
    }
}

static void slow_read(struct stream *s, void *arg)
{
    size_t len;
    stream_input(s, &len);
    stream_consume(s, len); /* an answer (408, 400...): the server's close follows */
}

static void slow_connected(struct stream *s, const char *err, void *arg)
{
    struct slow *w = arg;
    if (err != NULL) {
        w->s = NULL;
        w->closed = 1;
        slow_closed++;
        return;
    }
    w->up = 1;
    slow_up++;
    stream_set_callbacks(s, slow_read, NULL, slow_close, w);
    stream_read_start(s);
}

/* one more byte of the head on every connection, once a second: never a complete request */
static void slow_tick(struct timer *t, void *arg)
{
    for (int i = 0; i < nslow; i++) {
        struct slow *w = &slows[i];
        if (!w->up || w->closed || w->s == NULL)
            continue;
        char c = w->sent < sizeof(slow_head) - 1 ? slow_head[w->sent] : 'x';
        w->sent++;
        stream_write(w->s, &c, 1);
    }
    timer_start(t, 1000);
}

static int slow_mode(int n, int silent, const struct key *control)
{
    char addr[300];
    if (url_addr(addr, sizeof(addr)) != 0)
        return 2;
    raws = silent ? calloc((size_t)n, sizeof(*raws)) : NULL;
    slows = silent ? NULL : calloc((size_t)n, sizeof(*slows));
    nslow = n;
    for (int i = 0; i < n; i++) {
        struct stream *s;
        if (silent) {
            raws[i].silent = 1;
            raws[i].control = *control;
            s = stream_connect(L, addr, NULL, raw_connected, &raws[i]);
        } else {
            s = slows[i].s = stream_connect(L, addr, NULL, slow_connected, &slows[i]);
        }
        if (s == NULL) {
            fprintf(stderr, "ctlc: cannot connect %d\n", i);
            return 1;
        }
    }
    struct timer tick;
    timer_init(&tick, L, slow_tick, NULL);
    if (!silent)
        timer_start(&tick, 1000);
    uint64_t end = loop_update_now(L) + timeout_ms, next = loop_now(L) + 1000;
    int printed = 0;
    while (loop_now(L) < end) {
        loop_run_once(L, 100);
        int up = 0;
        for (int i = 0; silent && i < n; i++)
            up += raws[i].handshaken;
        if (!silent)
            up = slow_up;
        if (!printed && up + (silent ? raw_dropped : slow_closed) >= n) {
            printf("slowloris connected %d\n", up);
            printed = 1;
        }
        if (loop_now(L) >= next) {
            next += 1000;
            printf("slowloris open %d dropped %d\n", up - (silent ? raw_dropped : slow_closed),
                   silent ? raw_dropped : slow_closed);
        }
    }
    timer_stop(&tick);
    int dropped = silent ? raw_dropped : slow_closed;
    printf("slowloris %d dropped %d\n", n, dropped);
    return 0;
}

int main(int argc, char **argv)
{
    const char *control_text = NULL, *expect = NULL, *raw_b64 = NULL;
    int n = 0, garbage = 0, silent = 0, nslowloris = 0, opt;
    while ((opt = getopt(argc, argv, "k:V:c:e:n:t:r:gSH:sL:1h")) != -1) {
        switch (opt) {
        case 'k': {
            char err[256];
            if (key_load_private(optarg, &fixed_machine, err, sizeof(err)) != 0) {
                fprintf(stderr, "ctlc: %s\n", err);
                return 2;
            }
            have_fixed = 1;
            break;
        }
        case 'V': version = (uint16_t)atoi(optarg); break;
        case 'c': control_text = optarg; break;
        case 'e': expect = optarg; break;
        case 'n': n = atoi(optarg); break;
        case 't': timeout_ms = (unsigned)atoi(optarg); break;
        case 'r': raw_b64 = optarg; break;
        case 'g': garbage = 1; break;
        case 'S': silent = 1; break;
        case 'H': hold_ms = (unsigned)atoi(optarg); break;
        case 's': summary = 1; break;
        case '1': sequential = 1; break;
        case 'L': nslowloris = atoi(optarg); break;
        default: fputs(usage, opt == 'h' ? stdout : stderr); return opt == 'h' ? 0 : 2;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    url = argv[optind++];
    reqs = argv + optind;
    nreqs = argc - optind;
    setvbuf(stdout, NULL, _IOLBF, 0);
    L = loop_new();
    struct key control;
    if (control_text != NULL && key_parse_str(&control, KEY_TEXT_MACHINE, control_text) != 0) {
        fprintf(stderr, "ctlc: bad control key %s\n", control_text);
        return 2;
    }
    if ((garbage || silent) && control_text == NULL) {
        fprintf(stderr, "ctlc: -g and -S need -c\n");
        return 2;
    }
    if (nslowloris > 0) {
        int rc = slow_mode(nslowloris, silent, &control);
        loop_free(L); /* closes what is still open: the close callbacks still see the arrays */
        free(raws);
        free(slows);
        return rc;
    }
    if (raw_b64 != NULL || garbage || silent) {
        struct raw r = {.b64 = raw_b64, .garbage = garbage, .silent = silent, .print = 1};
        if (control_text != NULL)
            r.control = control;
        int rc = raw_mode(&r);
        loop_free(L);
        return rc;
    }

    struct client first = {.print = 1};
    if (start(&first, control_text ? &control : NULL) == NULL) {
        fprintf(stderr, "ctlc: bad URL %s\n", url);
        return 2;
    }
    run_until(first_done, &first);
    int rc = 0;
    if (!first.ready) {
        rc = 1;
    } else {
        control = *control_client_server_key(first.cc);
        if (expect != NULL) {
            char k[KEY_TEXT_MAX];
            key_format(k, sizeof(k), KEY_TEXT_MACHINE, &control);
            if (strcmp(k, expect) != 0) {
                printf("error key mismatch: got %s want %s\n", k, expect);
                rc = 1;
            }
        }
    }
    if (rc == 0 && n > 0) {
        struct many m = {calloc((size_t)n, sizeof(struct client)), n};
        for (int i = 0; i < n; i++)
            start(&m.cls[i], &control);
        run_until(many_done, &m);
        int ready = 0, answered = 0;
        for (int i = 0; i < n; i++) {
            ready += m.cls[i].ready;
            answered += m.cls[i].answered;
            if (m.cls[i].cc != NULL && !m.cls[i].failed && !m.cls[i].closed)
                control_client_close(m.cls[i].cc);
        }
        printf("clients %d ready %d answered %d\n", n, ready, answered);
        if (hold_ms) {
            int closed = 0;
            for (int i = 0; i < n; i++)
                closed += m.cls[i].ready && m.cls[i].closed;
            printf("held %d closed %d\n", ready, closed);
        }
        if (summary) {
            printf("statuses");
            for (int i = 0; i < 600; i++)
                if (statuses[i])
                    printf(" %d:%d", i, statuses[i]);
            printf("\nerrors");
            for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]) && errs[i].n; i++)
                printf(" %s:%d;", errs[i].text, errs[i].n);
            printf("\n");
        }
        if (!summary && (ready != n || answered != n * nreqs))
            rc = 1;
        loop_run_once(L, 0);
        free(m.cls);
    }
    if (failures > 0 && !summary)
        rc = 1;
    if (first.ready && !first.closed)
        control_client_close(first.cc);
    loop_run_once(L, 0);
    loop_free(L);
    return rc;
}
