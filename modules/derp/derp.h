/* The derp role's configuration. */
#ifndef WEFT_MODULES_DERP_H
#define WEFT_MODULES_DERP_H
#include "core/cfg.h"
struct derp_conf {
    char *listen;
    char *tls_listen;
    char *tls_cert;
    char *tls_key;
    char *stun_listen;
    char *key_file;
    char *mesh_key;
    struct cfg_list mesh_with;
    char *verify_clients;
    int verify_fail_open;
    char *metrics_listen;
};
#endif
