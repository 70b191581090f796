// SPDX-License-Identifier: BSD-3-Clause
/* TAI64N timestamps as WireGuard sends them in initiations: 8-byte big-endian TAI seconds
 * (0x400000000000000a + unix seconds) and 4-byte big-endian nanoseconds with the low 24 bits cleared,
 * so the timestamp does not leak a fine-grained clock. Compared bytewise. */
#ifndef WEFT_WG_TAI64N_H
#define WEFT_WG_TAI64N_H

#include <stdbool.h>
#include <stdint.h>

#define WG_TAI64N_LEN 12

/* From a Unix time in nanoseconds (wall clock). */
void wg_tai64n_from_unix_ns(uint8_t out[WG_TAI64N_LEN], uint64_t unix_ns);
/* From CLOCK_REALTIME. */
void wg_tai64n_now(uint8_t out[WG_TAI64N_LEN]);
/* True if a is strictly later than b. */
bool wg_tai64n_after(const uint8_t a[WG_TAI64N_LEN], const uint8_t b[WG_TAI64N_LEN]);

#endif
