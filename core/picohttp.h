// SPDX-License-Identifier: BSD-3-Clause
/* libh2o-evloop exports picohttpparser's functions but ships no header for them: declared once here. */
#ifndef WEFT_CORE_PICOHTTP_H
#define WEFT_CORE_PICOHTTP_H

#include <stddef.h>

struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, struct phr_header *headers, size_t *num_headers,
                      size_t last_len);
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status, const char **msg,
                       size_t *msg_len, struct phr_header *headers, size_t *num_headers, size_t last_len);

#endif
