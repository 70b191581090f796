// SPDX-License-Identifier: BSD-3-Clause
/* A shared object without a descriptor: the loader must refuse it. */
int not_a_weft_module(void);
int not_a_weft_module(void) { return 42; }
