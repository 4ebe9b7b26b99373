/* uco-httpd as a real process on loopback, the protocol side: the endpoints, keep-alive and
 * pipelining, more clients than receive buffers, a corpus of malformed requests, path
 * traversal, static files (types, Range, If-Modified-Since, a large file through splice) and
 * request bodies. Bad clients, shutdown and limits: test_httpd_clients.c. */
#include "httpd_util.h"

#include <dirent.h>
#include <sys/stat.h>

#include "fuzz/http_replay.h"

#ifndef HTTPD_CORPUS_DIRS
#define HTTPD_CORPUS_DIRS ""
#endif

/* ---- endpoints, keep-alive, pipelining ---------------------------------------------------- */

static void benchmark_endpoints_answer_exactly(void **state)
{
    (void)state;
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    struct resp p = {0};
    assert_int_equal(request(&s.addr, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(p.body, "Hello, World!");
    assert_string_equal(hdr(&p, "Content-Type"), "text/plain");
    assert_string_equal(hdr(&p, "Server"), "uco-httpd");
    assert_int_equal(strlen(hdr(&p, "Date")), HTTPD_DATE_LEN);
    assert_int_equal(request(&s.addr, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(p.body, "{\"message\":\"Hello, World!\"}");
    assert_string_equal(hdr(&p, "Content-Type"), "application/json");
    assert_int_equal(request(&s.addr, "HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(hdr(&p, "Content-Length"), "27");
    assert_int_equal(p.body_len, 0);
    assert_int_equal(request(&s.addr, "DELETE /json HTTP/1.1\r\nHost: t\r\n\r\n", &p), 405);
    assert_string_equal(hdr(&p, "Allow"), "GET, HEAD, OPTIONS");
    assert_int_equal(request(&s.addr, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", &p), 204);
    assert_null(hdr(&p, "Content-Length"));
    assert_int_equal(request(&s.addr, "GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n", &p), 404);
    /* HTTP/1.0 without keep-alive: answered, then closed. */
    int fd = dial(&s.addr);
    struct reader *r = reader_new(fd);
    assert_int_equal(send_str(fd, "GET /plaintext HTTP/1.0\r\n\r\n"), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_string_equal(hdr(&p, "Connection"), "close");
    assert_true(rd_closed(r));
    reader_free(r);
    free(p.body);
    server_done(&s);
}

static void keep_alive_and_pipelined_requests_are_answered_in_order(void **state)
{
    (void)state;
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    int fd = dial(&s.addr);
    struct reader *r = reader_new(fd);
    struct resp p = {0};
    /* Keep-alive: one after the other on one connection. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(send_str(fd, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        assert_int_equal(read_resp(r, &p, false), 0);
        assert_int_equal(p.status, 200);
    }
    /* Pipelined: 300 requests of several kinds in one write, answered in order. */
    static const char *const kinds[] = {"GET /plaintext", "GET /json", "GET /missing",
                                        "POST /echo"};
    size_t cap = 300 * 128, len = 0;
    char *all = malloc(cap);
    for (int i = 0; i < 300; i++) {
        if (i % 4 == 3)
            len += (size_t)snprintf(all + len, cap - len,
                                    "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n"
                                    "n%05d",
                                    i);
        else
            len += (size_t)snprintf(all + len, cap - len, "%s HTTP/1.1\r\nHost: t\r\n\r\n",
                                    kinds[i % 4]);
    }
    assert_int_equal(write_full(fd, all, len), 0);
    for (int i = 0; i < 300; i++) {
        assert_int_equal(read_resp(r, &p, false), 0);
        switch (i % 4) {
        case 0:
            assert_int_equal(p.status, 200);
            assert_string_equal(p.body, "Hello, World!");
            break;
        case 1:
            assert_int_equal(p.status, 200);
            assert_string_equal(p.body, "{\"message\":\"Hello, World!\"}");
            break;
        case 2:
            assert_int_equal(p.status, 404);
            break;
        default: {
            char want[8];
            snprintf(want, sizeof want, "n%05d", i);
            assert_int_equal(p.status, 200);
            assert_string_equal(p.body, want);
        }
        }
    }
    /* The same stream a byte at a time: the answers do not depend on how it is cut. */
    for (size_t i = 0; i < 600 && i < len; i++)
        assert_int_equal(write_full(fd, all + i, 1), 0);
    int whole = 0;
    for (size_t off = 0; off < 600;) { /* count the requests the 600 bytes hold completely */
        const char *e = memmem(all + off, len - off, "\r\n\r\n", 4);
        size_t end = (size_t)(e - all) + 4;
        if (strncmp(all + off, "POST", 4) == 0) end += 6;
        if (end > 600) break;
        whole++;
        off = end;
    }
    for (int i = 0; i < whole; i++) {
        assert_int_equal(read_resp(r, &p, false), 0);
        assert_int_equal(p.status, i % 4 == 2 ? 404 : 200);
    }
    free(all);
    free(p.body);
    reader_free(r);
    server_done(&s);
}

/* More connections asking at once than the server has receive buffers (1024): the ones that
 * find the pool empty wait for buffers to come back, and every request is answered. */
static void more_clients_than_receive_buffers_are_all_served(void **state)
{
    (void)state;
    enum { N = 2500 };
    if (nofile_at_least(N + 100) < N + 50) {
        printf("SKIP: RLIMIT_NOFILE cannot reach %d here\n", N + 50);
        skip();
    }
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    struct reader **rs = calloc(N, sizeof *rs);
    for (int i = 0; i < N; i++) {
        int fd = dial(&s.addr);
        if (fd < 0) fail_msg("connect %d: %s", i, strerror(errno));
        rs[i] = reader_new(fd);
    }
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) /* two pipelined requests each, all sent before any read */
            assert_int_equal(send_str(rs[i]->fd, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"
                                                 "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"),
                             0);
        struct resp p = {0};
        for (int i = 0; i < N; i++) {
            assert_int_equal(read_resp(rs[i], &p, false), 0);
            assert_string_equal(p.body, "{\"message\":\"Hello, World!\"}");
            assert_int_equal(read_resp(rs[i], &p, false), 0);
            assert_string_equal(p.body, "Hello, World!");
        }
        free(p.body);
    }
    for (int i = 0; i < N; i++)
        reader_free(rs[i]);
    free(rs);
    assert_serving(&s.addr);
    server_done(&s);
}

/* ---- malformed requests --------------------------------------------------------------------- */

struct bad {
    const char *req;
    int status;
};

static void malformed_requests_get_their_status_and_the_server_stays_up(void **state)
{
    (void)state;
    static char long_line[9000], big_head[17000], many[4000];
    memset(long_line, 0, sizeof long_line);
    strcpy(long_line, "GET /");
    memset(long_line + 5, 'a', 8400);
    strcat(long_line, " HTTP/1.1\r\nHost: t\r\n\r\n");
    strcpy(big_head, "GET / HTTP/1.1\r\nHost: t\r\nX: ");
    memset(big_head + strlen(big_head), 'b', 16500);
    strcat(big_head, "\r\n\r\n");
    strcpy(many, "GET / HTTP/1.1\r\nHost: t\r\n");
    for (int i = 0; i < 70; i++)
        sprintf(many + strlen(many), "X-%d: v\r\n", i);
    strcat(many, "\r\n");
    const struct bad cases[] = {
        {"GET / HTTP/1.1\nHost: t\r\n\r\n", 400},                 /* bare LF */
        {"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", 400}, /* obs-fold */
        {"GET / HTTP/1.1\r\n\r\n", 400},                          /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},    /* two */
        {"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400},              /* double space */
        {"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400},              /* space before the colon */
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1x\r\n\r\n", 400},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: "
         "chunked\r\n\r\n",
         400},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501},
        {"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501},
        {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
        {"GET / HTTP/1.1\r\nHost: t\r\nExpect: tea\r\n\r\n", 417},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n", 413},
        {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        {"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
         "800\r\n",
         0 /* 413: filled in below, the body is over --max-body */},
        {"GET /a%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {"GET /a\x01 HTTP/1.1\r\nHost: t\r\n\r\n", 400},
        {long_line, 414},
        {big_head, 431},
        {many, 431},
        /* garbage after a good request: the good one is answered first (checked below) */
        {"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n\x16\x03\x01\x02\x00garbage", 400},
    };
    const char *const args[] = {"--max-body", "1024", NULL};
    struct server s;
    assert_int_equal(server_start(&s, args), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = dial(&s.addr);
        assert_true(fd >= 0);
        struct reader *r = reader_new(fd);
        const char *req = cases[i].req;
        int want = cases[i].status ? cases[i].status : 413;
        assert_int_equal(send_str(fd, req), 0);
        if (want == 413 && !cases[i].status) { /* a chunked body over the limit */
            char chunk[2048 + 2];
            memset(chunk, 'c', 2048);
            memcpy(chunk + 2048, "\r\n", 2);
            write_full(fd, chunk, sizeof chunk); /* may fail: the server stops reading */
        }
        struct resp p = {0};
        assert_int_equal(read_resp(r, &p, false), 0);
        if (strncmp(req, "GET /plaintext", 14) == 0) { /* the good one first */
            assert_int_equal(p.status, 200);
            assert_int_equal(read_resp(r, &p, false), 0);
        }
        if (p.status != want) fail_msg("case %zu: status %d, expected %d", i, p.status, want);
        assert_string_equal(hdr(&p, "Connection"), "close");
        assert_true(rd_closed(r));
        free(p.body);
        reader_free(r);
    }
    assert_serving(&s.addr);
    server_done(&s);
}

/* Each file of the parser's fuzz corpus through the real server: as many answers as the
 * parser finds requests, the same error statuses, and the server still up afterwards. */
struct expect {
    int answers;
    int error; /* status of the last answer if the stream ends in an error, else 0 */
    bool closes;
};

static struct expect expect_of(const char *data, size_t len)
{
    static replay rep;
    httpd_limits lim;
    httpd_limits_default(&lim);
    replay_run(data, len, &lim, NULL, NULL, NULL, &rep);
    struct expect e = {0};
    for (int i = 0; i < rep.n; i++) {
        switch (rep.ev[i].kind) {
        case REPLAY_BODY:
            e.answers++;
            break;
        case REPLAY_HEAD_ERROR:
        case REPLAY_BODY_ERROR:
            e.answers++;
            e.error = rep.ev[i].status;
            e.closes = true;
            break;
        case REPLAY_CLOSE:
            e.closes = true;
            break;
        default:
            break;
        }
    }
    return e;
}

static void parser_corpus_through_the_server(void **state)
{
    (void)state;
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    char dirs[] = HTTPD_CORPUS_DIRS;
    int files = 0;
    for (char *dir = strtok(dirs, ":"); dir; dir = strtok(NULL, ":")) {
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            int f = open(path, O_RDONLY | O_CLOEXEC);
            static char data[1 << 16];
            ssize_t n = read(f, data, sizeof data);
            close(f);
            assert_true(n >= 0);
            struct expect e = expect_of(data, (size_t)n);
            int fd = dial(&s.addr);
            struct reader *r = reader_new(fd);
            assert_int_equal(write_full(fd, data, (size_t)n), 0);
            shutdown(fd, SHUT_WR); /* the stream ends where the file does */
            struct resp p = {0};
            int got = 0;
            while (read_resp(r, &p, strstr(data, "HEAD ") == data) == 0) {
                got++;
                if (got == e.answers && e.error && p.status != e.error)
                    fail_msg("%s: last status %d, expected %d", de->d_name, p.status, e.error);
            }
            if (got != e.answers)
                fail_msg("%s: %d answers, the parser finds %d", de->d_name, got, e.answers);
            free(p.body);
            reader_free(r);
            files++;
        }
        closedir(d);
    }
    assert_true(files >= 10);
    assert_serving(&s.addr);
    server_done(&s);
}

/* ---- static files ------------------------------------------------------------------------- */

static char tmp_root[96], tmp_top[64];

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write_full(fd, data, len), 0);
    close(fd);
}

/* tmp_top/secret (outside), tmp_top/root/ with files, a directory and symlinks. */
static void make_tree(void)
{
    strcpy(tmp_top, "/tmp/uco-httpd-test-XXXXXX");
    assert_non_null(mkdtemp(tmp_top));
    snprintf(tmp_root, sizeof tmp_root, "%s/root", tmp_top);
    assert_int_equal(mkdir(tmp_root, 0755), 0);
    char p[256];
    snprintf(p, sizeof p, "%s/secret", tmp_top);
    write_file(p, "TOP-SECRET", 10);
    snprintf(p, sizeof p, "%s/index.html", tmp_root);
    write_file(p, "<h1>hi</h1>", 11);
    snprintf(p, sizeof p, "%s/style.css", tmp_root);
    write_file(p, "a{}", 3);
    snprintf(p, sizeof p, "%s/data.json", tmp_root);
    write_file(p, "[1]", 3);
    snprintf(p, sizeof p, "%s/pic.png", tmp_root);
    write_file(p, "\x89PNG", 4);
    snprintf(p, sizeof p, "%s/blob", tmp_root);
    write_file(p, "0123456789", 10);
    snprintf(p, sizeof p, "%s/sub", tmp_root);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/sub/a b.txt", tmp_root);
    write_file(p, "space", 5);
    snprintf(p, sizeof p, "%s/up", tmp_root);
    assert_int_equal(symlink("../secret", p), 0); /* climbs out */
    snprintf(p, sizeof p, "%s/abs", tmp_root);
    assert_int_equal(symlink("/etc/passwd", p), 0); /* absolute */
    snprintf(p, sizeof p, "%s/outdir", tmp_root);
    assert_int_equal(symlink("..", p), 0); /* a directory outside */
    snprintf(p, sizeof p, "%s/inside", tmp_root);
    assert_int_equal(symlink("sub/a b.txt", p), 0); /* stays inside: allowed */
    snprintf(p, sizeof p, "%s/fifo", tmp_root);
    assert_int_equal(mkfifo(p, 0644), 0);
}

static void remove_tree(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_top);
    assert_int_equal(system(cmd), 0);
    tmp_top[0] = 0;
}

/* The test tree, and the server serving it (--root). */
static void tree_server_start(struct server *s)
{
    make_tree();
    const char *const args[] = {"--root", tmp_root, NULL};
    assert_int_equal(server_start(s, args), 0);
}

static void tree_server_done(struct server *s)
{
    server_done(s);
    remove_tree();
}

/* After every test: a server and a tree a failed test left behind go. */
static int teardown(void **state)
{
    server_teardown(state);
    if (tmp_top[0]) remove_tree();
    return 0;
}

static void path_traversal_is_refused_in_every_spelling(void **state)
{
    (void)state;
    struct server s;
    tree_server_start(&s);
    static const struct {
        const char *target;
        int status;
    } cases[] = {
        {"/../secret", 400},
        {"/%2e%2e/secret", 400},
        {"/%2E%2e/secret", 400},
        {"/.%2e/secret", 400},
        {"/sub/../../secret", 400},
        {"/..%2fsecret", 400},
        {"/%2e%2e%2fsecret", 400},
        {"/%252e%252e/secret", 400},
        {"/..%5csecret", 400},
        {"/%00/secret", 400},
        {"http://t/../secret", 400},
        {"//../secret", 400},
        {"/up", 404},
        {"/abs", 404},
        {"/outdir/secret", 404},
        {"/fifo", 403},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[512];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", cases[i].target);
        struct resp p = {0};
        int st = request(&s.addr, req, &p);
        if (st != cases[i].status)
            fail_msg("%s: status %d, expected %d", cases[i].target, st, cases[i].status);
        assert_null(strstr(p.body, "SECRET"));
        assert_null(strstr(p.body, "root:"));
        free(p.body);
    }
    struct resp p = {0};
    assert_int_equal(request(&s.addr, "GET /inside HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(p.body, "space");
    free(p.body);
    tree_server_done(&s);
}

static void static_files_types_ranges_and_conditionals(void **state)
{
    (void)state;
    struct server s;
    tree_server_start(&s);
    struct resp p = {0};
    static const struct {
        const char *path, *type;
    } types[] = {
        {"/", "text/html; charset=utf-8"},
        {"/index.html", "text/html; charset=utf-8"},
        {"/style.css", "text/css; charset=utf-8"},
        {"/data.json", "application/json"},
        {"/pic.png", "image/png"},
        {"/blob", "application/octet-stream"},
        {"/sub/a%20b.txt", "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", types[i].path);
        assert_int_equal(request(&s.addr, req, &p), 200);
        if (strcmp(hdr(&p, "Content-Type"), types[i].type) != 0)
            fail_msg("%s: %s", types[i].path, hdr(&p, "Content-Type"));
    }
    assert_int_equal(request(&s.addr, "GET /sub HTTP/1.1\r\nHost: t\r\n\r\n", &p), 301);
    assert_string_equal(hdr(&p, "Location"), "/sub/");
    /* Not "//sub/" (a network-path reference: the client would go to host "sub"). */
    assert_int_equal(request(&s.addr, "GET //sub HTTP/1.1\r\nHost: t\r\n\r\n", &p), 301);
    assert_string_equal(hdr(&p, "Location"), "/sub/");
    assert_int_equal(request(&s.addr, "GET http://t//./sub HTTP/1.1\r\nHost: t\r\n\r\n", &p), 301);
    assert_string_equal(hdr(&p, "Location"), "/sub/");
    assert_int_equal(request(&s.addr, "GET /s%75b?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", &p), 301);
    assert_string_equal(hdr(&p, "Location"), "/sub/");
    assert_int_equal(request(&s.addr, "GET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n", &p), 404);
    /* Range */
    assert_int_equal(
        request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\nRange: bytes=2-5\r\n\r\n", &p), 206);
    assert_string_equal(p.body, "2345");
    assert_string_equal(hdr(&p, "Content-Range"), "bytes 2-5/10");
    assert_int_equal(
        request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\nRange: bytes=-3\r\n\r\n", &p), 206);
    assert_string_equal(p.body, "789");
    assert_int_equal(
        request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\nRange: bytes=10-\r\n\r\n", &p), 416);
    assert_string_equal(hdr(&p, "Content-Range"), "bytes */10");
    assert_int_equal(
        request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1,4-5\r\n\r\n", &p), 200);
    assert_string_equal(p.body, "0123456789");
    /* If-Modified-Since with the Last-Modified sent: 304; with an older date: 200. */
    assert_int_equal(request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    char lm[600], req[1024];
    snprintf(lm, sizeof lm, "%s", hdr(&p, "Last-Modified"));
    snprintf(req, sizeof req, "GET /blob HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: %s\r\n\r\n", lm);
    assert_int_equal(request(&s.addr, req, &p), 304);
    assert_int_equal(p.body_len, 0);
    assert_int_equal(
        request(&s.addr,
                "GET /blob HTTP/1.1\r\nHost: t\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 "
                "GMT\r\n\r\n",
                &p),
        200);
    snprintf(req, sizeof req,
             "GET /blob HTTP/1.1\r\nHost: t\r\nIf-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 "
             "GMT\r\n\r\n");
    assert_int_equal(request(&s.addr, req, &p), 412);
    /* The ETag: a 304 for If-None-Match naming it (with the same ETag), If-Range with it
     * gives the range, If-Match with another tag 412. */
    assert_int_equal(request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    char etag[600];
    snprintf(etag, sizeof etag, "%s", hdr(&p, "ETag"));
    assert_true(etag[0] == '"' && strlen(etag) > 2 && etag[strlen(etag) - 1] == '"');
    snprintf(req, sizeof req, "GET /blob HTTP/1.1\r\nHost: t\r\nIf-None-Match: W/%s\r\n\r\n", etag);
    assert_int_equal(request(&s.addr, req, &p), 304);
    assert_int_equal(p.body_len, 0);
    assert_string_equal(hdr(&p, "ETag"), etag);
    snprintf(req, sizeof req,
             "GET /blob HTTP/1.1\r\nHost: t\r\nRange: bytes=2-3\r\nIf-Range: %s\r\n\r\n", etag);
    assert_int_equal(request(&s.addr, req, &p), 206);
    assert_string_equal(p.body, "23");
    assert_int_equal(
        request(&s.addr, "GET /blob HTTP/1.1\r\nHost: t\r\nIf-Match: \"x\"\r\n\r\n", &p), 412);
    assert_int_equal(request(&s.addr, "HEAD /blob HTTP/1.1\r\nHost: t\r\n\r\n", &p), 200);
    assert_string_equal(hdr(&p, "Content-Length"), "10");
    assert_string_equal(hdr(&p, "ETag"), etag);
    assert_int_equal(request(&s.addr, "POST /blob HTTP/1.1\r\nHost: t\r\n\r\n", &p), 405);
    free(p.body);
    tree_server_done(&s);
}

/* RFC 9110 10.1.1: a request that waits for 100 Continue but is answered without its body
 * (a file, a redirect, a 404) gets "Connection: close", and the body the client then sends
 * anyway is not read as the next request: the connection ends after the answer. */
static void expect_continue_answered_without_its_body_closes_the_connection(void **state)
{
    (void)state;
    struct server s;
    tree_server_start(&s);
    static const struct {
        const char *target, *body;
        int status;
    } cases[] = {{"/blob", "0123456789", 200},
                 {"/sub", "301 Moved Permanently\n", 301},
                 {"/nothing", "404 Not Found\n", 404}};
    struct resp p = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = dial(&s.addr);
        struct reader *r = reader_new(fd);
        char req[256];
        snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                 "Content-Length: 35\r\n\r\n",
                 cases[i].target);
        assert_int_equal(send_str(fd, req), 0);
        assert_true(rd_until(r, "\r\n\r\n") > 0);
        assert_int_equal(strncmp(r->buf, "HTTP/1.1 100", 12) != 0, 1); /* no 100: not read */
        assert_int_equal(read_resp(r, &p, false), 0);
        assert_int_equal(p.status, cases[i].status);
        assert_string_equal(p.body, cases[i].body);
        const char *conn = hdr(&p, "Connection");
        if (!conn || strcmp(conn, "close") != 0)
            fail_msg("%s: Connection: %s", cases[i].target, conn ? conn : "(none)");
        /* The body comes anyway, shaped like a request: it must not be answered. */
        assert_int_equal(send_str(fd, "GET /blob HTTP/1.1\r\nHost: t\r\n\r\n\r\n\r\n"), 0);
        assert_true(rd_closed(r));
        reader_free(r);
    }
    free(p.body);
    tree_server_done(&s);
}

/* Starts the server on tmp_root and opens one keep-alive connection to it, with a reader. */
static int root_server_dial(struct server *s, struct reader **r)
{
    const char *const args[] = {"--root", tmp_root, NULL};
    assert_int_equal(server_start(s, args), 0);
    int fd = dial(&s->addr);
    *r = reader_new(fd);
    return fd;
}

/* A large file, cold (out of the page cache: spliced through a pipe) and then cached (sent with
 * sendfile(2)), whole, and a range of it. */
static void large_file_comes_back_whole_cold_and_cached(void **state)
{
    (void)state;
    make_tree();
    enum { SIZE = 12 << 20 }; /* 48 sends of 256 KiB */
    char *data = malloc(SIZE);
    fill_pattern(data, SIZE, 7);
    char path[256];
    snprintf(path, sizeof path, "%s/large.bin", tmp_root);
    write_file(path, data, SIZE);
    struct ck want = {0}, want_range = {0};
    ck_update(&want, data, SIZE);
    ck_update(&want_range, data + 1000000, 5000000);
    struct server s;
    struct reader *r;
    int fd = root_server_dial(&s, &r);
    struct resp p = {0};
    int f = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(f >= 0);
    if (!evict_pages(f)) printf("note: %s kept its pages: no cold file here\n", tmp_root);
    close(f);
    /* Twice on one connection (keep-alive after a splice), then a range. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(send_str(fd, "GET /large.bin HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
        assert_int_equal(read_resp(r, &p, false), 0);
        assert_int_equal(p.status, 200);
        assert_int_equal(p.body_len, SIZE);
        struct ck got = {0};
        ck_update(&got, p.body, p.body_len);
        assert_true(got.h == want.h);
    }
    assert_int_equal(
        send_str(fd, "GET /large.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1000000-5999999\r\n\r\n"),
        0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 206);
    struct ck got = {0};
    ck_update(&got, p.body, p.body_len);
    assert_true(got.h == want_range.h && got.n == 5000000);
    free(p.body);
    free(data);
    reader_free(r);
    tree_server_done(&s);
}

/* A body goes three ways by size: read into the output beside the head (up to about 8 KiB),
 * read into a buffer after the output and the head (up to 32 KiB), sent by uco_conn_sendfile
 * (more). Every way must deliver the whole file and every range of it, on one keep-alive
 * connection, also pipelined. */
static void files_of_every_size_come_back_whole(void **state)
{
    (void)state;
    make_tree();
    static const size_t sizes[] = {0,     1,     4000,  7900,  8191,  8192,   32767,
                                   32768, 32769, 65535, 65536, 65537, 300000, 1 << 20};
    enum { MAX = 1 << 20 };
    char *data = malloc(MAX);
    fill_pattern(data, MAX, 3);
    char path[256];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        snprintf(path, sizeof path, "%s/f%zu", tmp_root, sizes[i]);
        write_file(path, data, sizes[i]);
    }
    struct server s;
    struct reader *r;
    int fd = root_server_dial(&s, &r);
    struct resp p = {0};
    char req[256];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        snprintf(req, sizeof req, "GET /f%zu HTTP/1.1\r\nHost: t\r\n\r\n", n);
        assert_int_equal(send_str(fd, req), 0);
        assert_int_equal(read_resp(r, &p, false), 0);
        assert_int_equal(p.status, 200);
        assert_int_equal(p.body_len, n);
        assert_true(n == 0 || memcmp(p.body, data, n) == 0);
        if (n < 3) continue;
        /* All but the first and the last byte. */
        snprintf(req, sizeof req, "GET /f%zu HTTP/1.1\r\nHost: t\r\nRange: bytes=1-%zu\r\n\r\n", n,
                 n - 2);
        assert_int_equal(send_str(fd, req), 0);
        assert_int_equal(read_resp(r, &p, false), 0);
        assert_int_equal(p.status, 206);
        assert_int_equal(p.body_len, n - 2);
        assert_memory_equal(p.body, data + 1, n - 2);
    }
    /* Pipelined: a small answer waiting in the output goes out with the next, larger one. */
    assert_int_equal(send_str(fd, "GET /f4000 HTTP/1.1\r\nHost: t\r\n\r\n"
                                  "GET /f65535 HTTP/1.1\r\nHost: t\r\n\r\n"
                                  "GET /f1 HTTP/1.1\r\nHost: t\r\n\r\n"),
                     0);
    static const size_t piped[] = {4000, 65535, 1};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(read_resp(r, &p, false), 0);
        assert_int_equal(p.status, 200);
        assert_int_equal(p.body_len, piped[i]);
        assert_memory_equal(p.body, data, piped[i]);
    }
    free(p.body);
    free(data);
    reader_free(r);
    tree_server_done(&s);
}

/* ---- request bodies ------------------------------------------------------------------------ */

static void request_bodies_echo_or_are_discarded(void **state)
{
    (void)state;
    struct server s;
    assert_int_equal(server_start(&s, NULL), 0);
    int fd = dial(&s.addr);
    struct reader *r = reader_new(fd);
    struct resp p = {0};
    /* Content-Length, split across writes */
    assert_int_equal(
        send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhel"), 0);
    assert_int_equal(send_str(fd, "lo world"), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 200);
    assert_string_equal(p.body, "hello world");
    /* chunked in, chunked out, with extensions and trailers */
    assert_int_equal(send_str(fd, "PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                                  "\r\n5;x=y\r\nhello\r\n1\r\n \r\n"),
                     0);
    assert_int_equal(send_str(fd, "5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 200);
    assert_string_equal(hdr(&p, "Transfer-Encoding"), "chunked");
    assert_string_equal(p.body, "hello world");
    /* A large body (many receives) */
    enum { BIG = 600000 };
    char *big = malloc(BIG);
    fill_pattern(big, BIG, 3);
    char head[128];
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
             BIG);
    assert_int_equal(send_str(fd, head), 0);
    assert_int_equal(write_full(fd, big, BIG), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.body_len, BIG);
    assert_memory_equal(p.body, big, BIG);
    free(big);
    /* Expect: 100-continue */
    assert_int_equal(send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                                  "Expect: 100-continue\r\n\r\n"),
                     0);
    assert_true(rd_until(r, "\r\n\r\n") > 0);
    assert_int_equal(strncmp(r->buf, "HTTP/1.1 100 Continue\r\n\r\n", 25), 0);
    assert_int_equal(send_str(fd, "ok"), 0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_string_equal(p.body, "ok");
    /* A body sent where none is wanted is read and dropped; the connection goes on. */
    assert_int_equal(send_str(fd, "POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                                  "\r\nabcdGET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"),
                     0);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 405);
    assert_int_equal(read_resp(r, &p, false), 0);
    assert_int_equal(p.status, 200);
    free(p.body);
    reader_free(r);
    server_done(&s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(benchmark_endpoints_answer_exactly, teardown),
        cmocka_unit_test_teardown(keep_alive_and_pipelined_requests_are_answered_in_order,
                                  teardown),
        cmocka_unit_test_teardown(more_clients_than_receive_buffers_are_all_served, teardown),
        cmocka_unit_test_teardown(malformed_requests_get_their_status_and_the_server_stays_up,
                                  teardown),
        cmocka_unit_test_teardown(parser_corpus_through_the_server, teardown),
        cmocka_unit_test_teardown(path_traversal_is_refused_in_every_spelling, teardown),
        cmocka_unit_test_teardown(static_files_types_ranges_and_conditionals, teardown),
        cmocka_unit_test_teardown(expect_continue_answered_without_its_body_closes_the_connection,
                                  teardown),
        cmocka_unit_test_teardown(large_file_comes_back_whole_cold_and_cached, teardown),
        cmocka_unit_test_teardown(files_of_every_size_come_back_whole, teardown),
        cmocka_unit_test_teardown(request_bodies_echo_or_are_discarded, teardown),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
