/* The node role's configuration. */
#ifndef WEFT_MODULES_NODE_H
#define WEFT_MODULES_NODE_H
#include "core/cfg.h"
struct node_conf {
    char *socket;
    char *socket_group;
    char *tun;
    long long port;
    char *login_server;
    char *hostname;
};
#endif
