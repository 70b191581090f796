// SPDX-License-Identifier: BSD-3-Clause
/* Why a WireGuard message was refused: the data plane counts and logs these, never answers them. */
#ifndef WEFT_WG_ERRORS_H
#define WEFT_WG_ERRORS_H

enum wg_err {
    WG_OK = 0,
    WG_EINVAL = -1,   /* wrong length, type or layout; buffer too small */
    WG_EMAC = -2,     /* mac1 (or required mac2) does not verify */
    WG_EDECRYPT = -3, /* an AEAD tag does not verify */
    WG_EPEER = -4,    /* unknown peer or index, or a peer whose static key is unusable */
    WG_ESTATE = -5,   /* message not expected in the handshake's current state */
    WG_EREPLAY = -6,  /* initiation timestamp not newer, or transport counter replayed / out of window */
    WG_EFLOOD = -7,   /* initiations from this peer faster than one per 20 ms */
    WG_EDH = -8,      /* X25519 gave the all-zero point */
    WG_ECOUNTER = -9, /* keypair nonces exhausted (REJECT_AFTER_MESSAGES) */
};

#endif
