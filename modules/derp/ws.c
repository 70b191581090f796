// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "modules/derp/server.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "core/wire/byteorder.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void ws_accept_key(const char *client_key, char out[32])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    unsigned int mdlen = 0;
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    if (x == NULL || EVP_DigestInit_ex(x, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(x, client_key, strlen(client_key)) != 1 ||
        EVP_DigestUpdate(x, WS_GUID, sizeof(WS_GUID) - 1) != 1 || EVP_DigestFinal_ex(x, md, &mdlen) != 1)
        memset(md, 0, sizeof(md));
    EVP_MD_CTX_free(x);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH); /* 28 chars + NUL */
}

size_t ws_frame_header(uint8_t *out, uint8_t opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        wire_put_be16(out + 2, (uint16_t)len);
        return 4;
    }
    out[1] = 127;
    wire_put_be64(out + 2, len);
    return 10;
}

int ws_parse_header(const uint8_t *p, size_t n, struct ws_frame *f)
{
    if (n < 2)
        return 0;
    f->fin = p[0] >> 7;
    f->opcode = p[0] & 0x0f;
    if (p[0] & 0x70)
        return -1; /* no extension was negotiated */
    f->masked = p[1] >> 7;
    uint64_t len = p[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = wire_be16(p + 2);
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = wire_be64(p + 2);
        if (len >> 63)
            return -1;
        h = 10;
    }
    if (f->masked) {
        if (n < h + 4)
            return 0;
        memcpy(f->mask, p + h, 4);
        h += 4;
    }
    if (f->opcode >= 8 && (len > 125 || !f->fin))
        return -1; /* control frames are short and whole */
    f->len = len;
    f->hdr = h;
    return 1;
}

int ws_unwrap_input(struct ws_state *w, uint8_t *in, size_t len, size_t max_frame, size_t *used,
                    void (*pong)(void *arg, const uint8_t *p, size_t n), void *arg, const char **why)
{
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        struct ws_frame f;
        int r = ws_parse_header(in + off, len - off, &f);
        if (r == 0)
            break;
        if (r < 0 || !f.masked || f.len > max_frame + 16) {
            *why = "bad WebSocket frame";
            rc = -1;
            break;
        }
        if (len - off - f.hdr < f.len)
            break;
        if (f.opcode <= 2 && w->len + f.len > 4 * max_frame)
            break; /* full: this frame waits until the owner has parsed what is here */
        uint8_t *p = in + off + f.hdr;
        for (uint64_t i = 0; i < f.len; i++)
            p[i] ^= f.mask[i & 3];
        if (f.opcode <= 2) {
            if ((f.opcode == 0) != (w->in_msg != 0)) {
                *why = "bad WebSocket fragmentation";
                rc = -1;
                break;
            }
            w->in_msg = !f.fin;
            if (w->len + f.len > w->cap) {
                size_t cap = w->cap ? w->cap : 4096;
                while (cap < w->len + f.len)
                    cap *= 2;
                if (cap > 4 * max_frame)
                    cap = 4 * max_frame;
                uint8_t *nb = realloc(w->buf, cap);
                if (nb == NULL) {
                    *why = "out of memory";
                    rc = -1;
                    break;
                }
                w->buf = nb;
                w->cap = cap;
            }
            if (f.len > 0)
                memcpy(w->buf + w->len, p, f.len);
            w->len += f.len;
        } else if (f.opcode == 9) { /* ping: pong with the same payload */
            pong(arg, p, f.len);
        } else if (f.opcode == 8) {
            *why = NULL;
            rc = -1;
            break;
        } else if (f.opcode != 10) {
            *why = "bad WebSocket opcode";
            rc = -1;
            break;
        }
        off += f.hdr + f.len;
    }
    *used = off;
    return rc;
}
