// SPDX-License-Identifier: BSD-3-Clause
/* Fault: at the fd limit the accept loop spun (issue 10, item 4). With the limit reached, accept(2) fails
 * with EMFILE while the connection stays in the backlog, so the listener stays readable: it was woken 10,000
 * times a second, logged nothing, and new clients timed out. Here an HTTP listener and a stream listener
 * take connections from a child process until this process runs out of descriptors; then the loop must
 * stay quiet (few iterations a second), say so in the log (once, not per wake-up), and serve a new client
 * once descriptors are free again. */
#include "config.h"
#include "core/http.h"
#include "core/loop.h"
#include "core/stream.h"
#include "t/tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NCONN 40

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The clients: NCONN connections to each port on "g", hold them until "c", then one HTTP request whose
 * status line goes back to the parent. */
static void child(int in, int out, uint16_t hport, uint16_t sport)
{
    char b;
    int fds[2 * NCONN];
    if (read(in, &b, 1) != 1)
        _exit(1);
    for (int i = 0; i < NCONN; i++) {
        fds[2 * i] = connect_to(hport); /* the kernel completes them: the backlog holds what is not accepted */
        fds[2 * i + 1] = connect_to(sport);
    }
    if (write(out, "d", 1) != 1 || read(in, &b, 1) != 1)
        _exit(1);
    for (int i = 0; i < 2 * NCONN; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    char line[256] = "no answer";
    int fd = connect_to(hport);
    const char req[] = "GET /x HTTP/1.0\r\n\r\n";
    if (fd >= 0 && write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
        struct timeval tv = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n = read(fd, line, sizeof line - 1);
        line[n > 0 ? n : 0] = 0;
        line[strcspn(line, "\r\n")] = 0;
    }
    if (write(out, line, strlen(line)) < 0)
        _exit(1);
    _exit(0);
}

static void on_x(struct http_req *req, void *arg)
{
    http_respond_text(req, 200, "ok\n");
}

static int accepted;
static void on_stream_close(struct stream *s, const char *err, void *arg)
{
    accepted--;
}
static void on_stream_accept(struct stream_listener *ls, struct stream *s, void *arg)
{
    accepted++;
    stream_set_callbacks(s, NULL, NULL, on_stream_close, NULL);
    stream_read_start(s);
}

static char reply[256];
static size_t replied;
static int child_done;
static void on_child(struct loop_watch *w, int fd, int events, void *arg)
{
    ssize_t n = read(fd, reply + replied, sizeof reply - 1 - replied);
    if (n > 0) {
        replied += (size_t)n;
        reply[replied] = 0;
    } else {
        child_done = 1;
        loop_watch_set(w, 0);
    }
}

int main(void)
{
    plan(8);
    struct loop *l = loop_new();
    struct http_server *srv = http_server_new(l);
    char err[256];
    int id = http_listen(srv, "127.0.0.1:0", NULL, err, sizeof err);
    http_route(srv, "/x", 0, on_x, NULL);
    struct stream_listener *sl = stream_listen(l, "127.0.0.1:0", 0, on_stream_accept, NULL, err, sizeof err);
    if (id < 0 || !sl)
        skip_all("cannot listen on 127.0.0.1");
    uint16_t hport = http_listener_port(srv, id), sport = stream_listener_port(sl);

    int to_child[2], from_child[2];
    if (pipe(to_child) || pipe(from_child))
        abort();
    pid_t pid = fork();
    if (pid == 0) {
        close(to_child[1]);
        close(from_child[0]);
        child(to_child[0], from_child[1], hport, sport);
    }
    close(to_child[0]);
    close(from_child[1]);
    struct loop_watch *cw = loop_watch_add(l, from_child[0], LOOP_READ, on_child, NULL);

    /* the log goes to a file we read back */
    FILE *logf = tmpfile();
    int saved_err = dup(2);
    dup2(fileno(logf), 2);

    /* a limit that leaves 10 free descriptor numbers (a new fd takes the lowest free number below the limit):
     * the listeners run out after a handful of clients */
    int lim = 0;
    for (int nfree = 0; nfree < 10; lim++)
        if (fcntl(lim, F_GETFD) < 0)
            nfree++;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    struct rlimit low = {(rlim_t)lim, rl.rlim_max};
    setrlimit(RLIMIT_NOFILE, &low);

    if (write(to_child[1], "g", 1) != 1)
        abort();
    double until = now_ms() + 20000;
    while (replied < 1 && now_ms() < until)
        loop_run_once(l, 100);
    ok(replied >= 1 && reply[0] == 'd', "the child connected %d clients to each listener", NCONN);
    replied = 0;
    /* let the listeners fill the table */
    until = now_ms() + 500;
    while (now_ms() < until)
        loop_run_once(l, 50);

    size_t conns = http_server_connections(srv);
    long iterations = 0;
    double t0 = now_ms();
    while (now_ms() - t0 < 1000) {
        loop_run_once(l, 100);
        iterations++;
    }
    ok(accepted + (int)conns < NCONN, "the descriptors ran out (%d + %zu connections accepted of %d + %d)",
       accepted, conns, NCONN, NCONN);
    ok(iterations < 300, "at the fd limit the loop stays quiet: %ld iterations in 1 s (a spinning listener "
                         "makes thousands)", iterations);

    /* free the descriptors: the child closes its clients, then asks for a page */
    if (write(to_child[1], "c", 1) != 1)
        abort();
    until = now_ms() + 20000;
    while (!child_done && now_ms() < until)
        loop_run_once(l, 100);
    setrlimit(RLIMIT_NOFILE, &rl);
    ok(strncmp(reply, "HTTP/1.", 7) == 0 && strstr(reply, " 200") != NULL,
       "once descriptors are free again a new client is served (%s)", reply);

    fflush(stderr);
    dup2(saved_err, 2);
    close(saved_err);
    rewind(logf);
    char logtext[65536];
    size_t n = fread(logtext, 1, sizeof logtext - 1, logf);
    logtext[n] = 0;
    fclose(logf);
    int paused = 0, http_paused = 0;
    for (char *p = logtext; (p = strstr(p, "event=accept_paused")) != NULL; p++)
        paused++;
    char want[64];
    snprintf(want, sizeof want, "listen=127.0.0.1:0 ");
    http_paused = strstr(logtext, want) != NULL;
    ok(paused >= 1, "the pause is logged");
    ok(paused <= 4, "rate-limited: %d warnings for both listeners over the whole run", paused);
    ok(http_paused && strstr(logtext, "Too many open files") != NULL, "naming the listener and the error");
    if (!paused || paused > 4)
        diag("log: %.2000s", logtext);

    int status = 0;
    waitpid(pid, &status, 0);
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child finished");
    loop_watch_free(cw);
    stream_listener_free(sl);
    http_server_free(srv);
    loop_free(l);
    return done_testing();
}
