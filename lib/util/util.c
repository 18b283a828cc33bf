/*
 * util.c — file, hashing, UTF-8, buffer and number helpers shared by every
 * module and program (util.h). Whole-file reads check the size with fstat
 * before allocating, so a huge or special file is refused cheaply.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ringfence/util.h"

rf_rc rf_file_read(const char *path, size_t max, uint8_t **out, size_t *len,
                   rf_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rf_err_set(err, RF_E_IO, path, 0, 0, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rf_err_set(err, RF_E_IO, path, 0, 0, "cannot stat: %s", strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return rf_err_set(err, RF_E_IO, path, 0, 0, "is a directory, not a file");
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return rf_err_set(err, RF_E_IO, path, 0, 0, "is not a regular file");
    }
    if ((uint64_t)st.st_size > (uint64_t)max) {
        close(fd);
        return rf_err_set(err, RF_E_LIMIT, path, 0, 0,
                          "file is %llu bytes, larger than the limit of %zu bytes",
                          (unsigned long long)st.st_size, max);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return rf_err_set(err, RF_E_NOMEM, path, 0, 0, "out of memory reading %zu bytes", size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return rf_err_set(err, RF_E_IO, path, 0, 0, "read failed: %s", strerror(e));
        }
        if (r == 0)
            break; /* file shrank while reading: take what is there */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    *len = got;
    return RF_OK;
}

static rf_rc fsync_dir_of(const char *path, rf_err *err)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        dir[0] = '.';
        dir[1] = 0;
    } else if (slash == path) {
        dir[0] = '/';
        dir[1] = 0;
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir))
            return rf_err_set(err, RF_E_IO, path, 0, 0, "path too long");
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return rf_err_set(err, RF_E_IO, dir, 0, 0, "cannot open directory: %s", strerror(errno));
    int rc = fsync(dfd);
    int e = errno;
    close(dfd);
    if (rc != 0 && e != EINVAL)
        return rf_err_set(err, RF_E_IO, dir, 0, 0, "fsync directory failed: %s", strerror(e));
    return RF_OK;
}

rf_rc rf_file_write_atomic(const char *path, const void *buf, size_t len,
                           unsigned mode, rf_err *err)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return rf_err_set(err, RF_E_IO, path, 0, 0, "path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return rf_err_set(err, RF_E_IO, tmp, 0, 0, "cannot create: %s", strerror(errno));
    const uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return rf_err_set(err, RF_E_IO, tmp, 0, 0, "write failed: %s", strerror(e));
        }
        done += (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return rf_err_set(err, RF_E_IO, tmp, 0, 0, "fsync failed: %s", strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return rf_err_set(err, RF_E_IO, tmp, 0, 0, "close failed: %s", strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return rf_err_set(err, RF_E_IO, path, 0, 0, "rename failed: %s", strerror(e));
    }
    return fsync_dir_of(path, err);
}

void rf_sha256(const void *buf, size_t len, uint8_t out[32])
{
    unsigned int outlen = 32;
    /* EVP_Digest with a static algorithm cannot fail short of a broken
     * libcrypto; on failure leave a digest of zeros, which never matches. */
    if (!EVP_Digest(buf, len, out, &outlen, EVP_sha256(), NULL))
        memset(out, 0, 32);
}

void rf_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

int rf_utf8_valid(const char *buf, size_t len, size_t *bad_off)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t need;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            goto bad;
        }
        if (len - i <= need)
            goto bad;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += need + 1;
    }
    return 1;
bad:
    if (bad_off)
        *bad_off = i;
    return 0;
}

char *rf_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *rf_strndup(const char *s, size_t n)
{
    return s ? strndup(s, n) : NULL;
}

void rf_buf_init(rf_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void rf_buf_free(rf_buf *b)
{
    free(b->data);
    rf_buf_init(b);
}

static int buf_reserve(rf_buf *b, size_t extra)
{
    if (b->oom)
        return 0;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return 0;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void rf_buf_append(rf_buf *b, const void *p, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void rf_buf_printf(rf_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *rf_buf_take(rf_buf *b)
{
    if (b->oom) {
        rf_buf_free(b);
        return NULL;
    }
    if (!buf_reserve(b, 0)) {
        rf_buf_free(b);
        return NULL;
    }
    b->data[b->len] = 0;
    char *p = (char *)b->data;
    rf_buf_init(b);
    return p;
}

rf_rc rf_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s)
        return RF_E_USAGE;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return RF_E_USAGE;
    if (v < lo || v > hi)
        return RF_E_LIMIT;
    *out = (int64_t)v;
    return RF_OK;
}

rf_rc rf_parse_u64(const char *s, uint64_t hi, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return RF_E_USAGE;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return RF_E_USAGE;
    if (v > hi)
        return RF_E_LIMIT;
    *out = (uint64_t)v;
    return RF_OK;
}

uint64_t rf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t rf_thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct str_ref {
    const char *s;
    uint32_t idx;
} str_ref;

static int str_ref_cmp(const void *a, const void *b)
{
    const str_ref *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    if (c)
        return c;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

rf_rc rf_find_repeat(uint32_t n, rf_str_at_fn at, const void *ctx, uint32_t *first,
                     uint32_t *second)
{
    *first = 0;
    *second = UINT32_MAX;
    if (n < 2)
        return RF_OK;
    str_ref *r = malloc((size_t)n * sizeof(*r));
    if (!r)
        return RF_E_NOMEM;
    for (uint32_t i = 0; i < n; i++) {
        r[i].s = at(ctx, i);
        r[i].idx = i;
    }
    qsort(r, n, sizeof(*r), str_ref_cmp);
    for (uint32_t i = 1; i < n; i++) {
        if (r[i].idx < *second && strcmp(r[i - 1].s, r[i].s) == 0) {
            *first = r[i - 1].idx;
            *second = r[i].idx;
        }
    }
    free(r);
    return RF_OK;
}
