/*
 * tuf_fetch_test.c — unit tests of rf_tuf_fetch_http (lib/tuf/fetch.c)
 * against a small hostile HTTP server started inside the test: a forked
 * child listening on 127.0.0.1 (port 0) that serves canned responses by
 * path — exact bodies, bodies one byte too long, Content-Length lies in both
 * directions, endless bodies and headers, trickles, error statuses and
 * redirects. Every wait in the server has a timeout, the child kills itself
 * with alarm() as a last resort, and every test's teardown reaps it.
 *
 * Time bounds asserted here are generous upper bounds ("returned within
 * 5 s"), there only to prove a limit fired; they are not timing tests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringfence/tuf.h"
#include "ringfence/util.h"

/* ---- the server (child process) --------------------------------------- */

#define SRV_IO_TIMEOUT_MS 2000   /* one read or write of the server */
#define SRV_IDLE_TIMEOUT_MS 10000 /* no new connection for this long: exit */
#define SRV_STREAM_MAX_MS 10000  /* endless bodies and headers stop here */
#define SRV_MAX_CONNS 32
#define SRV_ALARM_S 30           /* the child's last resort */

static uint64_t ms_since(uint64_t t0)
{
    return (rf_now_ns() - t0) / 1000000u;
}

/* Send all of buf, each wait bounded; -1 once the client is gone or slow. */
static int send_all(int c, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        struct pollfd pf = { .fd = c, .events = POLLOUT };
        if (poll(&pf, 1, SRV_IO_TIMEOUT_MS) != 1)
            return -1;
        ssize_t n = send(c, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_str(int c, const char *s)
{
    return send_all(c, s, strlen(s));
}

/* Wait up to ms for the client to close (or send anything); 1 if it closed. */
static int client_closed(int c, int ms)
{
    struct pollfd pf = { .fd = c, .events = POLLIN };
    if (poll(&pf, 1, ms) != 1)
        return 0;
    char b[512];
    ssize_t n = recv(c, b, sizeof(b), MSG_DONTWAIT);
    return n <= 0 && !(n < 0 && errno == EAGAIN);
}

/* Keep the socket open until the client closes it, at most ms. */
static void hold_open(int c, int ms)
{
    uint64_t t0 = rf_now_ns();
    while ((int)ms_since(t0) < ms)
        if (client_closed(c, 100))
            return;
}

/* Read the request head (to the blank line) into buf; 0 on success. */
static int read_request(int c, char *buf, size_t cap)
{
    size_t len = 0;
    uint64_t t0 = rf_now_ns();
    while (len + 1 < cap && ms_since(t0) < SRV_IO_TIMEOUT_MS) {
        struct pollfd pf = { .fd = c, .events = POLLIN };
        if (poll(&pf, 1, SRV_IO_TIMEOUT_MS) != 1)
            return -1;
        ssize_t n = recv(c, buf + len, cap - 1 - len, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return 0;
    }
    return -1;
}

/* "/bytes/123" → 123 (bounded), or -1. */
static long path_num(const char *path, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0)
        return -1;
    uint64_t v = 0;
    if (rf_parse_u64(path + pl, 64u * 1024u * 1024u, &v) != RF_OK)
        return -1;
    return (long)v;
}

static void body_pattern(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + i % 26);
}

static void serve_bytes(int c, long n, int mode /* 0: CL, 1: no CL, 2: chunked */)
{
    char head[256];
    if (mode == 0)
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n", n);
    else if (mode == 1)
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    else
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    if (send_str(c, head) != 0)
        return;
    char *body = malloc((size_t)n + 1);
    if (!body)
        return;
    body_pattern(body, (size_t)n);
    if (mode != 2) {
        send_all(c, body, (size_t)n);
    } else {
        for (long off = 0; off < n; off += 100) {
            long k = n - off < 100 ? n - off : 100;
            char ch[32];
            snprintf(ch, sizeof(ch), "%lx\r\n", k);
            if (send_str(c, ch) || send_all(c, body + off, (size_t)k) || send_str(c, "\r\n"))
                break;
        }
        send_str(c, "0\r\n\r\n");
    }
    free(body);
    if (mode != 1) /* without a length, closing is what ends the body */
        hold_open(c, SRV_IO_TIMEOUT_MS);
}

/* Write for as long as the client reads, at most SRV_STREAM_MAX_MS. */
static void serve_stream(int c, const char *head, const char *chunk)
{
    if (send_str(c, head) != 0)
        return;
    uint64_t t0 = rf_now_ns();
    while (ms_since(t0) < SRV_STREAM_MAX_MS)
        if (send_str(c, chunk) != 0)
            return;
}

static void serve(int c)
{
    char req[8192];
    if (read_request(c, req, sizeof(req)) != 0)
        return;
    char path[512];
    if (strncmp(req, "GET ", 4) != 0)
        return;
    const char *sp = strchr(req + 4, ' ');
    if (!sp || (size_t)(sp - (req + 4)) >= sizeof(path))
        return;
    memcpy(path, req + 4, (size_t)(sp - (req + 4)));
    path[sp - (req + 4)] = '\0';

    long n;
    if (strcmp(path, "/hello") == 0) {
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        hold_open(c, SRV_IO_TIMEOUT_MS);
    } else if (strcmp(path, "/echo") == 0) {
        /* The request head as the body: lets the test see what we send. */
        char head[128];
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                 strlen(req));
        if (send_str(c, head) == 0)
            send_str(c, req);
        hold_open(c, SRV_IO_TIMEOUT_MS);
    } else if ((n = path_num(path, "/bytes/")) >= 0) {
        serve_bytes(c, n, 0);
    } else if ((n = path_num(path, "/nocl/")) >= 0) {
        serve_bytes(c, n, 1);
    } else if ((n = path_num(path, "/chunked/")) >= 0) {
        serve_bytes(c, n, 2);
    } else if (strcmp(path, "/bigcl") == 0) {
        /* Announces a gigabyte, sends nothing, keeps the connection. */
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n");
        hold_open(c, 5000);
    } else if (strcmp(path, "/lie") == 0) {
        /* Announces 5 bytes, sends 100, keeps the connection. */
        char body[101];
        memset(body, 'x', 100);
        memcpy(body, "HELLO", 5);
        body[100] = '\0';
        if (send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") == 0)
            send_str(c, body);
        hold_open(c, 5000);
    } else if (strcmp(path, "/short") == 0) {
        /* Announces 100 bytes, sends 10, closes. */
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    } else if (strcmp(path, "/endless") == 0) {
        static char chunk[65537];
        memset(chunk, 'e', sizeof(chunk) - 1);
        serve_stream(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", chunk);
    } else if (strcmp(path, "/hdrflood") == 0) {
        static char line[1024];
        memset(line, 'h', sizeof(line) - 1);
        memcpy(line, "X-Pad: ", 7);
        line[sizeof(line) - 3] = '\r';
        line[sizeof(line) - 2] = '\n';
        serve_stream(c, "HTTP/1.1 200 OK\r\n", line);
    } else if ((n = path_num(path, "/status/")) >= 0) {
        char head[256];
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %ld Whatever\r\n%sContent-Length: 10\r\n\r\nerror page", n,
                 n == 302 ? "Location: /hello\r\n" : "");
        send_str(c, head);
        hold_open(c, SRV_IO_TIMEOUT_MS);
    } else if (strcmp(path, "/404big") == 0) {
        /* A missing file with a page far over any metadata limit. */
        send_str(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 10000000\r\n\r\nnot here");
        hold_open(c, SRV_IO_TIMEOUT_MS);
    } else if (strcmp(path, "/trickle") == 0) {
        /* 100 bytes announced, one every 200 ms. */
        if (send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n") != 0)
            return;
        for (int i = 0; i < 100; i++) {
            if (send_str(c, "t") != 0 || client_closed(c, 200))
                return;
        }
    } else if (strcmp(path, "/gzip") == 0) {
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 7\r\n\r\n"
                    "notgzip");
        hold_open(c, SRV_IO_TIMEOUT_MS);
    } else if (strcmp(path, "/continue") == 0) {
        send_str(c, "HTTP/1.1 100 Continue\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter");
        hold_open(c, SRV_IO_TIMEOUT_MS);
    } else if (strcmp(path, "/101") == 0) {
        send_str(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw bytes");
    } else if (strcmp(path, "/empty") == 0) {
        send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        hold_open(c, SRV_IO_TIMEOUT_MS);
    } else {
        send_str(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

/* The child: accept and serve one connection at a time until the parent
 * closes ctl, nothing happens for SRV_IDLE_TIMEOUT_MS, or SRV_MAX_CONNS.
 * Exit status: the number of connections accepted. */
static void child_main(int lfd, int ctl)
{
    alarm(SRV_ALARM_S);
    int conns = 0;
    while (conns < SRV_MAX_CONNS) {
        struct pollfd pf[2] = { { .fd = lfd, .events = POLLIN }, { .fd = ctl, .events = POLLIN } };
        int r = poll(pf, 2, SRV_IDLE_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || pf[1].revents)
            break;
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            continue;
        conns++;
        serve(c);
        close(c);
    }
    _exit(conns);
}

/* ---- the server (parent side) ------------------------------------------ */

typedef struct srv {
    pid_t pid;
    int port;
    int ctl; /* write end; closing it tells the child to exit */
} srv;

static int srv_start(srv *s)
{
    memset(s, 0, sizeof(*s));
    s->pid = -1;
    s->ctl = -1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    int p[2];
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) != 0 || pipe2(p, O_CLOEXEC) != 0) {
        close(lfd);
        return -1;
    }
    s->port = ntohs(a.sin_port);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(lfd);
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[1]);
        child_main(lfd, p[0]);
    }
    close(lfd);
    close(p[0]);
    s->pid = pid;
    s->ctl = p[1];
    return 0;
}

/* Stop and reap the child (bounded: SIGKILL after 5 s). Returns the number
 * of connections it accepted, or -1 if it had to be killed or crashed. */
static int srv_stop(srv *s)
{
    if (s->pid <= 0)
        return -1;
    if (s->ctl >= 0) {
        close(s->ctl);
        s->ctl = -1;
    }
    int status = 0;
    pid_t r = 0;
    uint64_t t0 = rf_now_ns();
    while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 && ms_since(t0) < 5000) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    if (r == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
        s->pid = -1;
        return -1;
    }
    s->pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int setup(void **state)
{
    srv *s = malloc(sizeof(*s));
    if (!s || srv_start(s) != 0) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    srv *s = *state;
    srv_stop(s);
    free(s);
    return 0;
}

/* ---- helpers -------------------------------------------------------------- */

static rf_err g_err;
static uint64_t g_elapsed_ms;

/* GET path from the server with the given limits; the time taken goes to
 * g_elapsed_ms, the error detail to g_err. */
static rf_rc get(const srv *s, const char *path, size_t max, const rf_tuf_fetch_limits *lim,
                 rf_buf *out)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    rf_err_clear(&g_err);
    uint64_t t0 = rf_now_ns();
    rf_rc rc = rf_tuf_fetch_http(NULL, url, max, lim, out, &g_err);
    g_elapsed_ms = ms_since(t0);
    return rc;
}

static void expect_rc(rf_rc got, rf_rc want)
{
    if (got != want)
        fail_msg("got %s (%s), want %s", rf_strerror(got), g_err.msg, rf_strerror(want));
    if (want != RF_OK) {
        assert_int_equal(g_err.rc, want);
        assert_true(g_err.msg[0] != '\0');
    }
}

static void expect_body(const rf_buf *b, const void *want, size_t n)
{
    assert_int_equal(b->len, n);
    if (n)
        assert_memory_equal(b->data, want, n);
}

/* A port with nothing listening (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_ok_exact_body(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    expect_rc(get(s, "/hello", 1024, NULL, &b), RF_OK);
    expect_body(&b, "hello", 5);
    assert_int_equal(b.data[b.len], 0); /* still NUL-terminated */
    rf_buf_free(&b);
    assert_int_equal(srv_stop(s), 1);
}

static void test_request_headers(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    expect_rc(get(s, "/echo", 8192, NULL, &b), RF_OK);
    const char *req = (const char *)b.data;
    assert_non_null(strstr(req, "GET /echo HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "\r\nUser-Agent: ringfence/" RF_VERSION_STRING "\r\n"));
    assert_non_null(strstr(req, "\r\nAccept-Encoding: identity\r\n"));
    rf_buf_free(&b);
}

static void test_exactly_max_len(void **state)
{
    srv *s = *state;
    char want[1000];
    body_pattern(want, sizeof(want));
    static const char *const paths[] = { "/bytes/1000", "/nocl/1000", "/chunked/1000" };
    for (size_t i = 0; i < 3; i++) {
        rf_buf b;
        rf_buf_init(&b);
        expect_rc(get(s, paths[i], 1000, NULL, &b), RF_OK);
        expect_body(&b, want, sizeof(want));
        rf_buf_free(&b);
    }
    assert_int_equal(srv_stop(s), 3);
}

/* One byte over: with Content-Length (refused from the header), without
 * (refused while reading), chunked (the same); out untouched every time. */
static void test_one_over_max_len(void **state)
{
    srv *s = *state;
    static const char *const paths[] = { "/bytes/1001", "/nocl/1001", "/chunked/1001" };
    for (size_t i = 0; i < 3; i++) {
        rf_buf b;
        rf_buf_init(&b);
        expect_rc(get(s, paths[i], 1000, NULL, &b), RF_E_LIMIT);
        assert_int_equal(b.len, 0);
        assert_non_null(strstr(g_err.msg, "1000"));
        rf_buf_free(&b);
    }
}

static void test_content_length_over_limit_fails_fast(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    rf_tuf_fetch_limits lim = { .request_timeout_ms = 10000 };
    expect_rc(get(s, "/bigcl", 1024 * 1024, &lim, &b), RF_E_LIMIT);
    assert_non_null(strstr(g_err.msg, "Content-Length 1000000000"));
    assert_int_equal(b.len, 0);
    /* The server sends no body and holds the connection: only the header
     * check can end this before the 10 s timeout. */
    assert_true(g_elapsed_ms < 5000);
    rf_buf_free(&b);
}

/* Documented behaviour: a Content-Length smaller than what the server sends
 * ends the body at the announced length; the excess is dropped, never kept. */
static void test_content_length_lie_small(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    rf_tuf_fetch_limits lim = { .request_timeout_ms = 10000 };
    expect_rc(get(s, "/lie", 50, &lim, &b), RF_OK);
    expect_body(&b, "HELLO", 5);
    assert_true(g_elapsed_ms < 5000);
    rf_buf_free(&b);

    /* And a limit under the announced length is still a limit. */
    rf_buf_init(&b);
    expect_rc(get(s, "/lie", 4, &lim, &b), RF_E_LIMIT);
    assert_int_equal(b.len, 0);
    rf_buf_free(&b);
}

static void test_content_length_lie_large(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_append(&b, "keep", 4);
    rf_tuf_fetch_limits lim = { .request_timeout_ms = 10000 };
    expect_rc(get(s, "/short", 1000, &lim, &b), RF_E_NETWORK);
    expect_body(&b, "keep", 4); /* the 10 bytes that came are gone again */
    assert_int_equal(b.data[4], 0);
    rf_buf_free(&b);
}

static void test_endless_body(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    rf_tuf_fetch_limits lim = { .request_timeout_ms = 20000 };
    expect_rc(get(s, "/endless", 1024 * 1024, &lim, &b), RF_E_LIMIT);
    assert_int_equal(b.len, 0);
    assert_true(g_elapsed_ms < 5000);
    rf_buf_free(&b);
}

static void test_endless_headers(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    rf_tuf_fetch_limits lim = { .request_timeout_ms = 20000 };
    expect_rc(get(s, "/hdrflood", 1024, &lim, &b), RF_E_LIMIT);
    assert_non_null(strstr(g_err.msg, "headers"));
    assert_int_equal(b.len, 0);
    assert_true(g_elapsed_ms < 5000);
    rf_buf_free(&b);
}

static void test_statuses(void **state)
{
    srv *s = *state;
    static const struct {
        const char *path;
        rf_rc rc;
        const char *msg;
    } cases[] = {
        { "/status/404", RF_E_NOTFOUND, "HTTP 404" },
        { "/status/403", RF_E_NOTFOUND, "HTTP 403" },
        { "/status/500", RF_E_NETWORK, "HTTP 500" },
        { "/status/503", RF_E_NETWORK, "HTTP 503" },
        { "/status/302", RF_E_NETWORK, "HTTP 302 (redirects are not followed)" },
        { "/status/401", RF_E_NETWORK, "HTTP 401" },
        { "/404big", RF_E_NOTFOUND, "HTTP 404" }, /* not a size error */
        { "/101", RF_E_NETWORK, "HTTP 101" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rf_buf b;
        rf_buf_init(&b);
        rf_buf_append(&b, "x", 1);
        expect_rc(get(s, cases[i].path, 100, NULL, &b), cases[i].rc);
        if (!strstr(g_err.msg, cases[i].msg))
            fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].path, g_err.msg, cases[i].msg);
        expect_body(&b, "x", 1);
        rf_buf_free(&b);
    }
    /* The redirect was not followed: one connection per case, no more. */
    assert_int_equal(srv_stop(s), (int)(sizeof(cases) / sizeof(cases[0])));
}

static void test_interim_and_empty(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    expect_rc(get(s, "/continue", 100, NULL, &b), RF_OK);
    expect_body(&b, "after", 5);
    rf_buf_free(&b);

    rf_buf_init(&b);
    expect_rc(get(s, "/empty", 0, NULL, &b), RF_OK);
    assert_int_equal(b.len, 0);
    expect_rc(get(s, "/bytes/1", 0, NULL, &b), RF_E_LIMIT);
    assert_int_equal(b.len, 0);
    rf_buf_free(&b);
}

/* A server that compresses anyway: we keep its bytes as they are. */
static void test_no_decoding(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    expect_rc(get(s, "/gzip", 100, NULL, &b), RF_OK);
    expect_body(&b, "notgzip", 7);
    rf_buf_free(&b);
}

static void test_request_timeout(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    rf_tuf_fetch_limits lim = { .request_timeout_ms = 1000 };
    expect_rc(get(s, "/trickle", 1000, &lim, &b), RF_E_NETWORK);
    assert_non_null(strstr(g_err.msg, "timed out"));
    assert_int_equal(b.len, 0);
    assert_true(g_elapsed_ms < 5000);
    rf_buf_free(&b);
}

static void test_deadline_limits_request(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    rf_tuf_fetch_limits lim = { .request_timeout_ms = 60000,
                                .deadline_ns = rf_now_ns() + 700ull * 1000000u };
    expect_rc(get(s, "/trickle", 1000, &lim, &b), RF_E_NETWORK);
    assert_non_null(strstr(g_err.msg, "timed out"));
    assert_int_equal(b.len, 0);
    assert_true(g_elapsed_ms < 5000);
    rf_buf_free(&b);
}

static void test_deadline_passed(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_append(&b, "ab", 2);
    rf_tuf_fetch_limits lim = { .request_timeout_ms = 1000, .deadline_ns = rf_now_ns() - 1 };
    expect_rc(get(s, "/hello", 100, &lim, &b), RF_E_NETWORK);
    assert_non_null(strstr(g_err.msg, "deadline"));
    expect_body(&b, "ab", 2);
    rf_buf_free(&b);
    assert_int_equal(srv_stop(s), 0); /* no connection was made */
}

static void test_low_speed(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    /* No request timeout: only the low-speed check can end the trickle
     * (5 bytes/s) before the server gives up after 20 s. */
    rf_tuf_fetch_limits lim = { .low_speed_bytes = 100, .low_speed_secs = 1 };
    expect_rc(get(s, "/trickle", 1000, &lim, &b), RF_E_NETWORK);
    assert_non_null(strstr(g_err.msg, "too slow"));
    assert_int_equal(b.len, 0);
    assert_true(g_elapsed_ms < 5000);
    rf_buf_free(&b);
}

static void test_connection_refused(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", closed_port());
    rf_buf b;
    rf_buf_init(&b);
    rf_tuf_fetch_limits lim = { .request_timeout_ms = 5000 };
    rf_err_clear(&g_err);
    expect_rc(rf_tuf_fetch_http(NULL, url, 100, &lim, &b, &g_err), RF_E_NETWORK);
    assert_non_null(strstr(g_err.msg, "127.0.0.1"));
    assert_int_equal(b.len, 0);
    rf_buf_free(&b);
}

static void test_append_keeps_earlier_bytes(void **state)
{
    srv *s = *state;
    rf_buf b;
    rf_buf_init(&b);
    rf_buf_append(&b, "prefix-", 7);
    /* max_len counts only this call's bytes, not what was there. */
    expect_rc(get(s, "/hello", 5, NULL, &b), RF_OK);
    expect_body(&b, "prefix-hello", 12);
    expect_rc(get(s, "/nocl/6", 5, NULL, &b), RF_E_LIMIT);
    expect_body(&b, "prefix-hello", 12);
    assert_int_equal(b.data[12], 0);
    rf_buf_free(&b);
}

/* A proxy in the environment must not divert us (it would be refused). */
static void test_env_proxy_ignored(void **state)
{
    srv *s = *state;
    char proxy[64];
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", closed_port());
    static const char *const vars[] = { "http_proxy", "HTTPS_PROXY", "https_proxy",
                                        "ALL_PROXY", "all_proxy" };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(setenv(vars[i], proxy, 1), 0);
    rf_buf b;
    rf_buf_init(&b);
    rf_rc rc = get(s, "/hello", 100, NULL, &b);
    for (size_t i = 0; i < 5; i++)
        unsetenv(vars[i]);
    expect_rc(rc, RF_OK);
    expect_body(&b, "hello", 5);
    rf_buf_free(&b);
}

static void test_bad_urls(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "ftp://127.0.0.1/x", "file:///etc/passwd", "127.0.0.1/x", "", "gopher://127.0.0.1/",
        "http://[::1", /* malformed */
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        rf_buf b;
        rf_buf_init(&b);
        rf_err_clear(&g_err);
        rf_rc rc = rf_tuf_fetch_http(NULL, urls[i], 100, NULL, &b, &g_err);
        if (rc != RF_E_USAGE)
            fail_msg("%s: got %s (%s), want RF_E_USAGE", urls[i], rf_strerror(rc), g_err.msg);
        assert_int_equal(b.len, 0);
        rf_buf_free(&b);
    }

    /* Longer than 8 KiB. */
    size_t n = 9000;
    char *u = malloc(n + 1);
    assert_non_null(u);
    memcpy(u, "http://127.0.0.1/", 17);
    memset(u + 17, 'a', n - 17);
    u[n] = '\0';
    rf_buf b;
    rf_buf_init(&b);
    rf_err_clear(&g_err);
    expect_rc(rf_tuf_fetch_http(NULL, u, 100, NULL, &b, &g_err), RF_E_USAGE);
    assert_non_null(strstr(g_err.msg, "8192"));
    free(u);

    rf_err_clear(&g_err);
    expect_rc(rf_tuf_fetch_http(NULL, NULL, 100, NULL, &b, &g_err), RF_E_USAGE);
    rf_err_clear(&g_err);
    expect_rc(rf_tuf_fetch_http(NULL, "http://127.0.0.1/", 100, NULL, NULL, &g_err),
              RF_E_USAGE);
    /* err may be NULL. */
    assert_int_equal(rf_tuf_fetch_http(NULL, "ftp://x/", 100, NULL, &b, NULL), RF_E_USAGE);
    rf_buf_free(&b);
}

/* Several threads at once, before any other test has initialised libcurl
 * (this test runs first): the one-time global set-up and the per-call
 * handles must hold. The server takes connections one at a time; the rest
 * wait in its listen queue. */
#define NTHREADS 4
typedef struct thr_arg {
    const srv *s;
    int ok; /* fetches that returned exactly "hello" */
} thr_arg;

static void *thr_main(void *p)
{
    thr_arg *a = p;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", a->s->port);
    rf_tuf_fetch_limits lim = { .request_timeout_ms = 10000 };
    for (int i = 0; i < 3; i++) {
        rf_buf b;
        rf_buf_init(&b);
        if (rf_tuf_fetch_http(NULL, url, 5, &lim, &b, NULL) == RF_OK && b.len == 5 &&
            memcmp(b.data, "hello", 5) == 0)
            a->ok++;
        rf_buf_free(&b);
    }
    return NULL;
}

static void test_threads(void **state)
{
    srv *s = *state;
    pthread_t t[NTHREADS];
    thr_arg a[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        a[i] = (thr_arg){ .s = s };
        assert_int_equal(pthread_create(&t[i], NULL, thr_main, &a[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(a[i].ok, 3);
    }
    assert_int_equal(srv_stop(s), NTHREADS * 3);
}

/* The fetch function is used through rf_tuf_fetch_fn. */
static void test_fn_type(void **state)
{
    srv *s = *state;
    rf_tuf_fetch_fn fn = rf_tuf_fetch_http;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", s->port);
    rf_buf b;
    rf_buf_init(&b);
    assert_int_equal(fn(NULL, url, 5, NULL, &b, NULL), RF_OK);
    expect_body(&b, "hello", 5);
    rf_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_threads), /* first: libcurl is not initialised yet */
        T(test_ok_exact_body),
        T(test_request_headers),
        T(test_exactly_max_len),
        T(test_one_over_max_len),
        T(test_content_length_over_limit_fails_fast),
        T(test_content_length_lie_small),
        T(test_content_length_lie_large),
        T(test_endless_body),
        T(test_endless_headers),
        T(test_statuses),
        T(test_interim_and_empty),
        T(test_no_decoding),
        T(test_request_timeout),
        T(test_deadline_limits_request),
        T(test_deadline_passed),
        T(test_low_speed),
        T(test_connection_refused),
        T(test_append_keeps_earlier_bytes),
        T(test_env_proxy_ignored),
        T(test_bad_urls),
        T(test_fn_type),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
