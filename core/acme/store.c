// SPDX-License-Identifier: BSD-3-Clause
#include "config.h"
#include "core/acme/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/acme/cert.h"

#define MAX_FILE (1u << 20)

int acme_store_dir(const char *state_dir, char *out, size_t len, char *err, size_t errlen)
{
    int n = snprintf(out, len, "%s/acme", state_dir);
    if (n < 0 || (size_t)n >= len) {
        snprintf(err, errlen, "state_dir path too long");
        return -1;
    }
    struct stat st;
    if ((mkdir(out, 0700) != 0 && errno != EEXIST) || stat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: %s", out, strerror(errno ? errno : ENOTDIR));
        return -1;
    }
    return 0;
}

char *acme_store_read(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(MAX_FILE + 1);
    size_t n = 0;
    ssize_t r = 1;
    while (buf && n < MAX_FILE && (r = read(fd, buf + n, MAX_FILE - n)) > 0)
        n += (size_t)r;
    close(fd);
    if (!buf || r < 0 || n == MAX_FILE) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int acme_store_write(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0) {
            snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

EVP_PKEY *acme_store_account_key(const char *dir, int *created, char *err, size_t errlen)
{
    char path[4200];
    size_t len;
    snprintf(path, sizeof path, "%s/account.key", dir);
    *created = 0;
    char *pem = acme_store_read(path, &len);
    if (pem) {
        EVP_PKEY *k = acme_key_from_pem(pem, len);
        free(pem);
        if (!k)
            snprintf(err, errlen, "%s: not a PEM private key", path);
        return k;
    }
    if (errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *k = acme_key_new();
    char *text = k ? acme_key_pem(k) : NULL;
    if (!text || acme_store_write(path, text, strlen(text), err, errlen) != 0) {
        if (!text)
            snprintf(err, errlen, "cannot make an account key");
        free(text);
        EVP_PKEY_free(k);
        return NULL;
    }
    free(text);
    *created = 1;
    return k;
}
