// SPDX-License-Identifier: BSD-3-Clause
/* Test tool: stands in for systemd-resolved on a private D-Bus bus (systemd-resolved itself cannot run in
 * a test: it wants to be PID 1's service and owns the host's /etc/resolv.conf). It owns
 * org.freedesktop.resolve1 on the bus $DBUS_SYSTEM_BUS_ADDRESS names, takes the link calls weft's node
 * makes with the signatures resolved has, and prints each one on a line, arguments decoded:
 *   SetLinkDNS 7 100.100.100.100
 *   SetLinkDomains 7 weft.internal ~corp.example ~.
 *   SetLinkDefaultRoute 7 yes
 *   RevertLink 7
 * "ready" once the name is owned. Runs until killed. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

static int set_link_dns(sd_bus_message *m, void *ud, sd_bus_error *e)
{
    int32_t ifindex;
    int r = sd_bus_message_read(m, "i", &ifindex);
    if (r < 0 || (r = sd_bus_message_enter_container(m, 'a', "(iay)")) < 0)
        return r;
    printf("SetLinkDNS %d", ifindex);
    while ((r = sd_bus_message_enter_container(m, 'r', "iay")) > 0) {
        int32_t fam;
        const void *p;
        size_t n;
        char text[INET6_ADDRSTRLEN] = "?";
        if ((r = sd_bus_message_read(m, "i", &fam)) < 0 || (r = sd_bus_message_read_array(m, 'y', &p, &n)) < 0)
            return r;
        if ((fam == AF_INET && n == 4) || (fam == AF_INET6 && n == 16))
            inet_ntop(fam, p, text, sizeof text);
        printf(" %s", text);
        sd_bus_message_exit_container(m);
    }
    sd_bus_message_exit_container(m);
    printf("\n");
    fflush(stdout);
    return sd_bus_reply_method_return(m, NULL);
}

static int set_link_domains(sd_bus_message *m, void *ud, sd_bus_error *e)
{
    int32_t ifindex;
    int r = sd_bus_message_read(m, "i", &ifindex);
    if (r < 0 || (r = sd_bus_message_enter_container(m, 'a', "(sb)")) < 0)
        return r;
    printf("SetLinkDomains %d", ifindex);
    const char *dom;
    int routing;
    while ((r = sd_bus_message_read(m, "(sb)", &dom, &routing)) > 0)
        printf(" %s%s", routing ? "~" : "", dom);
    sd_bus_message_exit_container(m);
    printf("\n");
    fflush(stdout);
    return sd_bus_reply_method_return(m, NULL);
}

static int set_link_default_route(sd_bus_message *m, void *ud, sd_bus_error *e)
{
    int32_t ifindex;
    int b;
    int r = sd_bus_message_read(m, "ib", &ifindex, &b);
    if (r < 0)
        return r;
    printf("SetLinkDefaultRoute %d %s\n", ifindex, b ? "yes" : "no");
    fflush(stdout);
    return sd_bus_reply_method_return(m, NULL);
}

static int set_link_str(sd_bus_message *m, void *ud, sd_bus_error *e)
{
    int32_t ifindex;
    const char *s;
    int r = sd_bus_message_read(m, "is", &ifindex, &s);
    if (r < 0)
        return r;
    printf("%s %d %s\n", sd_bus_message_get_member(m), ifindex, s);
    fflush(stdout);
    return sd_bus_reply_method_return(m, NULL);
}

static int link_only(sd_bus_message *m, void *ud, sd_bus_error *e)
{
    int32_t ifindex;
    int r = sd_bus_message_read(m, "i", &ifindex);
    if (r < 0)
        return r;
    printf("%s %d\n", sd_bus_message_get_member(m), ifindex);
    fflush(stdout);
    return sd_bus_reply_method_return(m, NULL);
}

static int no_args(sd_bus_message *m, void *ud, sd_bus_error *e)
{
    printf("%s\n", sd_bus_message_get_member(m));
    fflush(stdout);
    return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable manager[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("SetLinkDNS", "ia(iay)", "", set_link_dns, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SetLinkDomains", "ia(sb)", "", set_link_domains, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SetLinkDefaultRoute", "ib", "", set_link_default_route, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SetLinkLLMNR", "is", "", set_link_str, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("SetLinkMulticastDNS", "is", "", set_link_str, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("RevertLink", "i", "", link_only, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD("FlushCaches", "", "", no_args, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

int main(void)
{
    sd_bus *bus = NULL;
    int r = sd_bus_open_system(&bus);
    if (r < 0) {
        fprintf(stderr, "fake_resolved: cannot reach the bus: %s\n", strerror(-r));
        return 1;
    }
    if ((r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/resolve1", "org.freedesktop.resolve1.Manager",
                                      manager, NULL)) < 0 ||
        (r = sd_bus_request_name(bus, "org.freedesktop.resolve1", 0)) < 0) {
        fprintf(stderr, "fake_resolved: %s\n", strerror(-r));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        r = sd_bus_process(bus, NULL);
        if (r < 0) {
            fprintf(stderr, "fake_resolved: %s\n", strerror(-r));
            return 1;
        }
        if (r == 0 && sd_bus_wait(bus, (uint64_t)-1) < 0)
            return 1;
    }
}
