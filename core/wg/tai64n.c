// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"

#include "core/wg/tai64n.h"

#include <string.h>
#include <time.h>

#define TAI64_BASE 0x400000000000000aULL
#define WHITENER_MASK 0xffffffu

void wg_tai64n_from_unix_ns(uint8_t out[WG_TAI64N_LEN], uint64_t unix_ns)
{
    uint64_t secs = TAI64_BASE + unix_ns / 1000000000ULL;
    uint32_t nsec = (uint32_t)(unix_ns % 1000000000ULL) & ~WHITENER_MASK;
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(secs >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        out[8 + i] = (uint8_t)(nsec >> (24 - 8 * i));
}

void wg_tai64n_now(uint8_t out[WG_TAI64N_LEN])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    wg_tai64n_from_unix_ns(out, (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
}

bool wg_tai64n_after(const uint8_t a[WG_TAI64N_LEN], const uint8_t b[WG_TAI64N_LEN])
{
    return memcmp(a, b, WG_TAI64N_LEN) > 0;
}
