// SPDX-License-Identifier: BSD-3-Clause
/* WireGuard protocol constants (whitepaper §6, wireguard-go constants.go): one place for the limits that
 * the replay window, the transport codec and the timer machine all use. */
#ifndef WEFT_WG_CONSTANTS_H
#define WEFT_WG_CONSTANTS_H

#include <stdint.h>

#define WG_NSEC_PER_SEC 1000000000ULL
#define WG_NSEC_PER_MSEC 1000000ULL

#define WG_REKEY_AFTER_MESSAGES (1ULL << 60)
#define WG_REJECT_AFTER_MESSAGES (UINT64_MAX - (1ULL << 13)) /* 2^64 - 2^13 - 1 */
#define WG_REKEY_AFTER_TIME (120 * WG_NSEC_PER_SEC)
#define WG_REJECT_AFTER_TIME (180 * WG_NSEC_PER_SEC)
#define WG_REKEY_ATTEMPT_TIME (90 * WG_NSEC_PER_SEC)
#define WG_REKEY_TIMEOUT (5 * WG_NSEC_PER_SEC)
#define WG_REKEY_TIMEOUT_JITTER_MAX (334 * WG_NSEC_PER_MSEC) /* jitter drawn from [0, this) */
#define WG_KEEPALIVE_TIMEOUT (10 * WG_NSEC_PER_SEC)
#define WG_COOKIE_REFRESH_TIME (120 * WG_NSEC_PER_SEC)
#define WG_HANDSHAKE_INITIATION_RATE (WG_NSEC_PER_SEC / 50) /* at most one consumed initiation / 20 ms */
#define WG_MAX_TIMER_HANDSHAKES (WG_REKEY_ATTEMPT_TIME / WG_REKEY_TIMEOUT) /* 18 */

#endif
