// SPDX-License-Identifier: BSD-3-Clause
/* bench_control's harness, shared by its runs without a policy (bench_control.c) and under one
 * (bench_control_policy.c): N simulated nodes with map streams, a change made through the server's own
 * entry points, and every stream that should learn of it decoded and parsed as its client would. */
#ifndef WEFT_BENCH_CONTROL_H
#define WEFT_BENCH_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/json/tailcfg.h"
#include "modules/control/authkey.h"
#include "modules/control/control.h"

#define WAIT_S 5.0 /* a stream that has not got the change by then failed (a scenario may say longer) */
#define ROUNDS 5   /* changes per scenario and N */

struct sim {
    uint8_t mk[32], nk[32], dk[32];
    struct cnode *node;
    uint64_t bytes;    /* everything the stream was sent (first map included) */
    int waiting;       /* 1 while the change is expected on this stream */
    uint8_t *rx;       /* bytes written after the change, held as a socket would hold them */
    size_t rx_len, rx_cap;
    double written_at; /* when the server's last write to it after the change returned */
    double decode_s;   /* this stream's own decode + parse time */
    int carried;       /* a parsed message carried the change */
};

struct bench;

/* What a run adds to the plain tailnet (a policy and its users, say); every hook may be NULL. */
struct bench_hooks {
    void (*conf)(struct bench *b, struct control_conf *conf); /* before the server is made */
    int (*prepare)(struct bench *b);                          /* after, before the first node */
    const char *(*key)(struct bench *b, int i);               /* node i's pre-auth key (else the bench user's) */
};

struct bench {
    int n, cap; /* streams now; room for the nodes scenarios add */
    struct loop *L;
    struct store *st;
    struct ctrl *c;
    struct control_conf conf;
    struct sim *v;
    char dir[64];
    char body[4096];
    char key[AUTHKEY_TEXT_LEN + 1]; /* the bench user's pre-auth key */
    int64_t user_id; /* the bench user */
    long rss0;       /* KiB, before the first node */
    int round;       /* which repetition of a scenario */
    char want[64];   /* scenario scratch: what the change was */
    const struct bench_hooks *hooks;
    void *ext; /* the hooks' own state */
    /* the change under way */
    int expected;
    double t_change, t_flush, t_flushed, cpu_change, cpu_flushed;
};

/* A kind of change. change() makes it through the server's own entry point (called from a loop event);
 * carries() says whether a parsed message tells stream s about it; expects() which streams must get it,
 * asked before the change, or right after it when expects_after (a node that joins: who may see it). */
struct scenario {
    const char *name;
    int (*change)(struct bench *b);
    bool (*carries)(struct bench *b, struct sim *s, const struct tc_map_response *r);
    bool (*expects)(struct bench *b, struct sim *s);
    bool expects_after;
    double wait_s; /* 0: WAIT_S */
};

double now_s(void);
double cpu_s(void);
long rss_kb(void);
/* N nodes registered, each with its stream open; room for extra more. */
int bench_setup(struct bench *b, int n, int extra, const struct bench_hooks *h, void *ext);
/* One more node (b->v[b->n], then b->n++), registered with key and its stream open. */
int bench_join(struct bench *b, const char *key);
/* ROUNDS changes of the scenario, timed; prints the figures. -1 on failure (a delivery missing). */
int measure(struct bench *b, const struct scenario *sc);
void bench_free(struct bench *b);

int bench_policy(int n); /* bench_control_policy.c */

#endif
