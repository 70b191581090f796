// SPDX-License-Identifier: BSD-3-Clause
/* The core's own verbs. */
#ifndef WEFT_VERBS_H
#define WEFT_VERBS_H
#include "core/module.h"
extern const struct weft_verb core_verbs[];
int verb_serve(struct weft_cli *cli, int argc, char **argv);
#endif
