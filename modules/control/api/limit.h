// SPDX-License-Identifier: BSD-3-Clause
/* Failed authentications per source address: a token bucket per address (IPv4, or the /64 of an IPv6
 * address, since one host holds a whole /64) in a fixed table, so a client guessing secrets is slowed to
 * API_LIMIT_RATE tries a minute after a burst of API_LIMIT_BURST, and the table cannot be grown by
 * spraying addresses (the least recently failing entry is reused).
 * The API's own: core/limit.h's token bucket is one per listener, counted in whole tokens a second; this
 * needs one per source at a few tokens a minute. (Its log_every paces the "limited" log line.) */
#ifndef WEFT_CONTROL_API_LIMIT_H
#define WEFT_CONTROL_API_LIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define API_LIMIT_BURST 10
#define API_LIMIT_RATE 10 /* refills a minute */
#define API_LIMIT_SLOTS 1024

struct api_limit;
struct api_limit *api_limit_new(void);
void api_limit_free(struct api_limit *l);
/* Whether source sa may try to authenticate at now_ms; if not, *retry_s says when it may. */
bool api_limit_allowed(struct api_limit *l, const struct sockaddr *sa, uint64_t now_ms, int *retry_s);
/* A failed attempt from sa: takes a token. */
void api_limit_failed(struct api_limit *l, const struct sockaddr *sa, uint64_t now_ms);

#endif
