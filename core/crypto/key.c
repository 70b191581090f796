// SPDX-License-Identifier: BSD-3-Clause
/* X25519 keys via libsodium, their prefixed-hex text forms, and 0600 private key files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/crypto/key.h"

int key_crypto_init(void)
{
    static atomic_int ready;
    if (atomic_load_explicit(&ready, memory_order_acquire))
        return 0;
    if (sodium_init() < 0)
        return -1;
    atomic_store_explicit(&ready, 1, memory_order_release);
    return 0;
}

int key_generate(struct key *priv)
{
    if (key_crypto_init() < 0)
        return -1;
    randombytes_buf(priv->b, KEY_LEN);
    priv->b[0] &= 248;
    priv->b[31] = (uint8_t)((priv->b[31] & 127) | 64);
    return 0;
}

int key_public(struct key *pub, const struct key *priv)
{
    if (key_crypto_init() < 0)
        return -1;
    /* libsodium clamps internally; it fails only for a result of zero. */
    return crypto_scalarmult_base(pub->b, priv->b) == 0 ? 0 : -1;
}

int key_shared(uint8_t out[KEY_LEN], const struct key *priv, const struct key *pub)
{
    if (key_crypto_init() < 0)
        return -1;
    /* crypto_scalarmult already returns -1 on an all-zero result; checked again so the rule does not
     * depend on the libsodium build. */
    if (crypto_scalarmult(out, priv->b, pub->b) != 0 || sodium_is_zero(out, KEY_LEN)) {
        sodium_memzero(out, KEY_LEN);
        return -1;
    }
    return 0;
}

int key_is_zero(const struct key *k)
{
    return sodium_is_zero(k->b, KEY_LEN);
}

int key_equal(const struct key *a, const struct key *b)
{
    return sodium_memcmp(a->b, b->b, KEY_LEN) == 0;
}

static const char *const key_prefixes[] = {
    [KEY_TEXT_MACHINE] = "mkey:",
    [KEY_TEXT_NODE] = "nodekey:",
    [KEY_TEXT_DISCO] = "discokey:",
    [KEY_TEXT_CHALLENGE] = "chalpub:",
    [KEY_TEXT_NL] = "nlpub:",
    [KEY_TEXT_PRIVATE] = "privkey:",
    [KEY_TEXT_BARE] = "",
};

const char *key_text_prefix(enum key_text kind)
{
    if ((unsigned)kind >= sizeof(key_prefixes) / sizeof(key_prefixes[0]))
        return NULL;
    return key_prefixes[kind];
}

/* Hex without data-dependent branches or tables: private keys go through here too. */
static char hex_digit(unsigned nib)
{
    return (char)(nib + 'a' - 10 + ((((int)nib - 10) >> 8) & ('0' - 'a' + 10)));
}

int key_format(char *out, size_t cap, enum key_text kind, const struct key *k)
{
    const char *prefix = key_text_prefix(kind);
    if (!prefix)
        return -1;
    size_t plen = strlen(prefix);
    if (cap < plen + 2 * KEY_LEN + 1)
        return -1;
    memcpy(out, prefix, plen);
    for (size_t i = 0; i < KEY_LEN; i++) {
        out[plen + 2 * i] = hex_digit(k->b[i] >> 4);
        out[plen + 2 * i + 1] = hex_digit(k->b[i] & 15);
    }
    out[plen + 2 * KEY_LEN] = 0;
    return (int)(plen + 2 * KEY_LEN);
}

/* Returns the nibble and clears *ok on a non-hex character; uint8_t arithmetic keeps the masks exact. */
static uint8_t hex_value(uint8_t c, uint8_t *ok)
{
    uint8_t num = c ^ 48u;                        /* '0'..'9' -> 0..9 */
    uint8_t num_ok = (uint8_t)((num - 10u) >> 8); /* 0xff iff num < 10 */
    uint8_t alpha = (uint8_t)((c & ~32u) - 55u);  /* 'a'..'f' / 'A'..'F' -> 10..15 */
    uint8_t alpha_ok = (uint8_t)(((alpha - 10u) ^ (alpha - 16u)) >> 8); /* 0xff iff 10 <= alpha < 16 */
    *ok &= (uint8_t)(num_ok | alpha_ok);
    return (uint8_t)((num_ok & num) | (alpha_ok & alpha));
}

int key_parse(struct key *k, enum key_text kind, const char *s, size_t len)
{
    const char *prefix = key_text_prefix(kind);
    if (!prefix || !s)
        return -1;
    size_t plen = strlen(prefix);
    if (len != plen + 2 * KEY_LEN || memcmp(s, prefix, plen) != 0)
        return -1;
    struct key tmp;
    uint8_t ok = 0xff;
    const uint8_t *h = (const uint8_t *)s + plen;
    for (size_t i = 0; i < KEY_LEN; i++)
        tmp.b[i] = (uint8_t)(hex_value(h[2 * i], &ok) << 4 | hex_value(h[2 * i + 1], &ok));
    if (ok != 0xff) {
        sodium_memzero(&tmp, sizeof(tmp));
        return -1;
    }
    *k = tmp;
    sodium_memzero(&tmp, sizeof(tmp));
    return 0;
}

int key_parse_str(struct key *k, enum key_text kind, const char *s)
{
    return s ? key_parse(k, kind, s, strlen(s)) : -1;
}

__attribute__((format(printf, 3, 4)))
static int key_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path so the rename itself is durable. */
static int fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir))
            return -1;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

int key_save_private(const char *path, const struct key *priv, char *err, size_t errlen)
{
    char text[KEY_TEXT_MAX + 1], tmp[PATH_MAX];
    int fd = -1;

    if (key_crypto_init() < 0)
        return key_err(err, errlen, "libsodium initialization failed");
    if (key_is_zero(priv))
        return key_err(err, errlen, "refusing to save an all-zero private key");
    /* A random suffix so a stale temp file from a crash never blocks O_EXCL. */
    for (int tries = 0; tries < 8 && fd < 0; tries++) {
        if (snprintf(tmp, sizeof(tmp), "%s.tmp%08x", path, randombytes_random()) >= (int)sizeof(tmp))
            return key_err(err, errlen, "%s: path too long", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        return key_err(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));

    int n = key_format(text, sizeof(text), KEY_TEXT_PRIVATE, priv);
    text[n++] = '\n';
    /* fchmod: O_CREAT's mode is only what umask leaves; 0600 exactly is wanted, never more. */
    if (fchmod(fd, 0600) < 0 || write_all(fd, text, (size_t)n) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        sodium_memzero(text, sizeof(text));
        return key_err(err, errlen, "%s: cannot write: %s", tmp, strerror(e));
    }
    sodium_memzero(text, sizeof(text));
    if (close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return key_err(err, errlen, "%s: cannot write: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return key_err(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(e));
    }
    if (fsync_parent(path) < 0)
        return key_err(err, errlen, "%s: cannot sync its directory: %s", path, strerror(errno));
    return 0;
}

/* Opens and checks a key file; returns the fd, -1 with errno ENOENT when absent (err set too), or -1. */
static int key_open_checked(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0) {
        int e = errno;
        key_err(err, errlen, "%s: cannot open: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        key_err(err, errlen, "%s: cannot stat: %s", path, strerror(e));
        errno = EIO;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        key_err(err, errlen, "%s: not a regular file", path);
        errno = EINVAL;
        return -1;
    }
    if (st.st_uid != geteuid()) {
        /* its owner can read it, and replace it with a key of their choosing */
        close(fd);
        key_err(err, errlen, "%s: owned by uid %u, not by uid %u that weft runs as: a private key file must be "
                "its user's own (chown %u %s)", path, (unsigned)st.st_uid, (unsigned)geteuid(),
                (unsigned)geteuid(), path);
        errno = EPERM;
        return -1;
    }
    if (st.st_mode & 077) {
        close(fd);
        key_err(err, errlen, "%s: permissions %04o are too open: a private key file must not be "
                "accessible by group or others (chmod 600 %s)", path, (unsigned)(st.st_mode & 07777), path);
        errno = EPERM;
        return -1;
    }
    return fd;
}

int key_load_private(const char *path, struct key *priv, char *err, size_t errlen)
{
    /* Room for the key, a line ending and one byte more to notice trailing junk. */
    char buf[KEY_TEXT_MAX + 4];
    size_t n = 0;

    int fd = key_open_checked(path, err, errlen);
    if (fd < 0)
        return -1;
    while (n < sizeof(buf)) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            sodium_memzero(buf, sizeof(buf));
            return key_err(err, errlen, "%s: cannot read: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);

    /* Exactly "privkey:<64 hex>", optionally followed by "\n" or "\r\n". */
    size_t len = n;
    if (len && buf[len - 1] == '\n')
        len--;
    if (len && buf[len - 1] == '\r')
        len--;
    struct key k;
    int r = key_parse(&k, KEY_TEXT_PRIVATE, buf, len);
    sodium_memzero(buf, sizeof(buf));
    if (r < 0)
        return key_err(err, errlen, "%s: malformed private key file (want one line \"privkey:\" + 64 hex "
                       "digits)", path);
    if (key_is_zero(&k))
        return key_err(err, errlen, "%s: private key is all zero", path);
    *priv = k;
    sodium_memzero(&k, sizeof(k));
    return 0;
}

int key_load_or_create(const char *path, struct key *priv, int *created, char *err, size_t errlen)
{
    if (created)
        *created = 0;
    if (key_load_private(path, priv, err, errlen) == 0)
        return 0;
    /* Only a missing file is created; a file that exists but is unreadable or bad is never replaced. */
    struct stat st;
    if (lstat(path, &st) == 0 || errno != ENOENT)
        return -1;
    struct key k;
    if (key_generate(&k) < 0)
        return key_err(err, errlen, "cannot generate a private key");
    if (key_save_private(path, &k, err, errlen) < 0) {
        sodium_memzero(&k, sizeof(k));
        return -1;
    }
    *priv = k;
    sodium_memzero(&k, sizeof(k));
    if (created)
        *created = 1;
    return 0;
}
