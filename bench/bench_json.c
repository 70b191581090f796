// SPDX-License-Identifier: BSD-3-Clause
/* MapResponse JSON at tailnet scale: emit from typed nodes, parse (client side), and control's path of
 * splicing cached per-peer Node texts into one recipient's full map. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json/tailcfg.h"

/* CPU time of this process: the machine running the benchmarks is shared, wall time is noise. */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A Hostinfo as a v1.68 linux client sends it (what control stores and passes on). */
static const char hostinfo_fmt[] =
    "{\"IPNVersion\":\"1.68.2-t1234567\",\"BackendLogID\":\"%064x\",\"OS\":\"linux\","
    "\"OSVersion\":\"6.1.0\",\"Distro\":\"debian\",\"DistroVersion\":\"12.11\",\"Desktop\":false,"
    "\"Hostname\":\"host%d\",\"Machine\":\"x86_64\",\"GoArch\":\"amd64\",\"GoVersion\":\"go1.22.12\","
    "\"Services\":[{\"Proto\":\"peerapi4\",\"Port\":%d},{\"Proto\":\"peerapi6\",\"Port\":%d}],"
    "\"NetInfo\":{\"MappingVariesByDestIP\":false,\"HairPinning\":null,\"WorkingIPv6\":false,"
    "\"OSHasIPv6\":true,\"WorkingUDP\":true,\"WorkingICMPv4\":false,\"UPnP\":false,\"PMP\":false,"
    "\"PCP\":false,\"PreferredDERP\":900,\"DERPLatency\":{\"900-v4\":0.0%d}},\"Userspace\":false}";

struct fixture {
    struct tc_node *nodes;
    struct tc_hostinfo *hi;
    char **text; /* hostinfo texts */
    char (*strs)[4][48];
    const char *(*addr)[2];
    const char *(*eps)[2];
    int n;
};

static const char *const caps[] = { "https://tailscale.com/cap/file-sharing", "https://tailscale.com/cap/is-admin",
                                    "https://tailscale.com/cap/ssh" };
static struct tc_capmap_entry capv[3];

static void fixture_make(struct fixture *f, int n)
{
    f->n = n;
    f->nodes = calloc((size_t)n, sizeof *f->nodes);
    f->hi = calloc((size_t)n, sizeof *f->hi);
    f->text = calloc((size_t)n, sizeof *f->text);
    f->strs = calloc((size_t)n, sizeof *f->strs);
    f->addr = calloc((size_t)n, sizeof *f->addr);
    f->eps = calloc((size_t)n, sizeof *f->eps);
    for (int i = 0; i < 3; i++)
        capv[i] = (struct tc_capmap_entry){ caps[i], { "[]", 2, NULL } };
    for (int i = 0; i < n; i++) {
        struct tc_node *x = &f->nodes[i];
        int id = i + 1;
        char (*s)[48] = f->strs[i];
        f->text[i] = malloc(1024);
        int l = snprintf(f->text[i], 1024, hostinfo_fmt, id * 2654435761u, id, 40000 + id % 20000,
                         40000 + id % 20000, 100 + id % 900);
        f->hi[i].raw = (struct tc_raw){ f->text[i], (size_t)l, NULL };
        snprintf(s[0], 48, "host%d.tail.example.com.", id);
        snprintf(s[1], 48, "100.%d.%d.%d/32", 64 + id / 65536, id / 256 % 256, id % 256);
        snprintf(s[2], 48, "fd7a:115c:a1e0::%x/128", id);
        snprintf(s[3], 48, "198.51.100.%d:%d", id % 250 + 1, 41641 + id % 1000);
        f->addr[i][0] = s[1];
        f->addr[i][1] = s[2];
        f->eps[i][0] = s[3];
        f->eps[i][1] = "10.0.0.2:41641";
        x->id = id;
        x->stable_id = s[0] + 4; /* any unique string */
        x->name = s[0];
        x->user = 1 + id % 50;
        for (int k = 0; k < 32; k++) {
            x->key.b[k] = (uint8_t)(id * 31 + k);
            x->machine.b[k] = (uint8_t)(id * 17 + k);
            x->disco_key.b[k] = (uint8_t)(id * 13 + k);
        }
        x->key_expiry = tc_time_from_unix(1800000000, 0);
        x->addresses = (struct tc_strs){ f->addr[i], 2 };
        x->allowed_ips = (struct tc_strs){ f->addr[i], 2 };
        x->endpoints = (struct tc_strs){ f->eps[i], 2 };
        x->home_derp = 900;
        x->hostinfo = &f->hi[i];
        x->created = tc_time_from_unix(1790000000 + id, 123456789);
        x->cap = 113;
        x->online = TC_TRUE;
        x->machine_authorized = true;
        x->cap_map = (struct tc_capmap){ capv, 3 };
    }
}

static void fixture_free(struct fixture *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->text[i]);
    free(f->nodes);
    free(f->hi);
    free(f->text);
    free(f->strs);
    free(f->addr);
    free(f->eps);
}

static void base_map(struct tc_map_response *m, const struct tc_node *self)
{
    static const struct tc_derp_node dn = { .name = "900a", .region_id = 900, .host_name = "derp.example.com",
                                            .ipv4 = "203.0.113.10", .stun_port = 3478, .derp_port = 443 };
    static const struct tc_derp_region dr = { .region_id = 900, .region_code = "home", .region_name = "Home",
                                              .nodes = &dn, .nnodes = 1 };
    static const struct tc_derp_map dm = { .regions = &dr, .nregions = 1 };
    static const char *const dom[] = { "tail.example.com" };
    static const struct tc_dns_config dns = { .domains = { dom, 1 }, .proxied = true };
    static const char *const star[] = { "*" };
    static const struct tc_net_port_range any = { .ip = "*", .first = 0, .last = 65535 };
    static const struct tc_filter_rule allow = { .src_ips = { star, 1 }, .dst_ports = &any, .ndst_ports = 1 };
    static const struct tc_named_filter base = { .name = "base", .rules = &allow, .nrules = 1 };
    static const struct tc_user_profile up = { .id = 1, .login_name = "alice", .display_name = "Alice" };
    memset(m, 0, sizeof *m);
    m->node = self;
    m->derp_map = &dm;
    m->dns_config = &dns;
    m->domain = "example.com";
    m->collect_services = TC_FALSE;
    m->packet_filters = &base;
    m->npacket_filters = 1;
    m->user_profiles = &up;
    m->nuser_profiles = 1;
    m->has_control_time = true;
    m->control_time = tc_time_now();
}

static void run(int n)
{
    struct fixture f;
    fixture_make(&f, n + 1);
    struct tc_map_response m;
    base_map(&m, &f.nodes[0]);
    m.peers = (struct tc_nodes){ f.nodes + 1, (size_t)n, NULL, 0 };
    int reps = n >= 10000 ? 5 : 20;

    struct jbuf b;
    jbuf_init(&b);
    double best = 1e9;
    for (int r = 0; r < reps; r++) {
        jbuf_reset(&b);
        double t0 = now_ms();
        tc_map_response_emit(&b, &m);
        double t = now_ms() - t0;
        best = t < best ? t : best;
    }
    size_t size = b.len;
    printf("%6d peers: emit typed MapResponse  %8.2f ms  (%.1f MB, %.0f MB/s)\n", n, best, size / 1e6,
           size / 1e6 / (best / 1e3));

    best = 1e9;
    double bestfree = 1e9;
    for (int r = 0; r < reps; r++) {
        struct tc_map_response p;
        double t0 = now_ms();
        int rc = tc_map_response_parse(&p, b.p, b.len);
        double t = now_ms() - t0;
        if (rc < 0 || p.peers.n != (size_t)n) {
            fprintf(stderr, "parse failed: %s\n", p.doc.error);
            exit(1);
        }
        t0 = now_ms();
        tc_map_response_clear(&p);
        double tf = now_ms() - t0;
        best = t < best ? t : best;
        bestfree = tf < bestfree ? tf : bestfree;
    }
    printf("%6d peers: parse MapResponse       %8.2f ms  (%.0f MB/s; freeing it %.2f ms)\n", n, best,
           size / 1e6 / (best / 1e3), bestfree);

    /* control: each peer's Node serialized once, then spliced into every recipient's map */
    struct tc_raw *cache = calloc((size_t)n, sizeof *cache);
    double t0 = now_ms();
    for (int i = 0; i < n; i++)
        cache[i].text = tc_node_to_json(&f.nodes[i + 1], &cache[i].len);
    double tcache = now_ms() - t0;
    m.peers = (struct tc_nodes){ NULL, 0, cache, (size_t)n };
    best = 1e9;
    for (int r = 0; r < reps; r++) {
        jbuf_reset(&b);
        t0 = now_ms();
        tc_map_response_emit(&b, &m);
        double t = now_ms() - t0;
        best = t < best ? t : best;
    }
    printf("%6d peers: serialize %d Nodes once  %8.2f ms  (%.2f us/node)\n", n, n, tcache, tcache * 1e3 / n);
    printf("%6d peers: full map from cached peers %6.2f ms  (%.1f MB, %.0f MB/s)\n", n, best, b.len / 1e6,
           b.len / 1e6 / (best / 1e3));
    if (b.len != size)
        printf("  (cached and typed output sizes differ: %zu vs %zu)\n", b.len, size);
    for (int i = 0; i < n; i++)
        free((void *)cache[i].text);
    free(cache);
    if (getenv("BENCH_JSON_DUMP")) {
        FILE *df = fopen(getenv("BENCH_JSON_DUMP"), "wb");
        fwrite(b.p, 1, b.len, df);
        fclose(df);
    }
    jbuf_free(&b);
    fixture_free(&f);
}

int main(void)
{
    printf("CPU ms, best of several runs\n");
    run(1000);
    run(10000);
    return 0;
}
