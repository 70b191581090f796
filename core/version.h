// SPDX-License-Identifier: BSD-3-Clause
/* weft's version and the module ABI version: a module built against another ABI is refused. */
#ifndef WEFT_VERSION_H
#define WEFT_VERSION_H
#include "config.h"
#define WEFT_VERSION PACKAGE_VERSION
#define WEFT_ABI_VERSION 4 /* 2: weft_module.check, cfg_key.check, cfg_section origins; 3: weft_module.iface;
                              * 4: weft_module.serves */
#endif
