// SPDX-License-Identifier: BSD-3-Clause
/* Health probes of subnet routers (routes.h): a router whose map stream stays open but that no longer
 * answers (the process hangs, the machine is wedged, its path to us is black-holed one way) would keep
 * its prefixes forever if only a stream's end counted. So every control.route_probe_interval, each online
 * node that shares a prefix with another online router (the only case where a primary can move) gets a
 * PingRequest on its map stream, inside a keep-alive message (netmap.md: a keep-alive is ignored except
 * for its PingRequest): {"URL":"<server_url>/machine/ping-response?id=<random>","URLIsNoise":true}. The
 * client answers with a HEAD of that URL over its Noise channel (control-ts2021.md §7.7). A node that has
 * not answered within control.route_probe_timeout is unhealthy: it keeps its streams and stays a peer, but
 * its prefixes go to a healthy router (routes.c elect). An answer makes it healthy again; it does not take
 * a prefix back from the router that has it (no flapping). A node whose stream is younger than one
 * interval when probed, or that reconnected during the probe, is not judged on that probe (a client that
 * just connected may still be setting up). */
#ifndef WEFT_CONTROL_PROBE_H
#define WEFT_CONTROL_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

struct ctrl;

#define PROBE_ID_LEN 32 /* hex digits of a probe's random id */

struct probe_out {
    int64_t node;
    char id[PROBE_ID_LEN + 1];
    uint64_t online_gen; /* the node's online period the probe was sent in */
    bool fresh;          /* the node had been online less than one interval when probed */
    bool answered;
};

struct probe_state {
    struct timer cycle, deadline;
    struct probe_out *v; /* the probes of the cycle under way */
    size_t n, cap;
    uint64_t sent, answered, failed; /* counts for tests and logs */
};

void probe_init(struct ctrl *c);
void probe_free(struct ctrl *c);
/* HEAD /machine/ping-response?id=ID over the Noise channel of machine key mkey: 200 if it answers a probe
 * of a node of that machine, else 404. */
int probe_answer(struct ctrl *c, const uint8_t mkey[32], const char *query);
/* What the timers run (unit tests call them directly): send a cycle's probes; judge the cycle's
 * unanswered ones. */
void probe_cycle(struct ctrl *c);
void probe_judge(struct ctrl *c);

#endif
