#include "config.h"
#include "modules/derp/server.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
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
