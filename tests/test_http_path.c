/* uco-httpd's paths: decoding and normalising targets, refusing every traversal spelling, and
 * opening files so that nothing outside the root can be reached (real files and symlinks in a
 * temporary root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"

static void paths_decode_and_normalise(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"/", "/"},
        {"/index.html", "/index.html"},
        {"/a/b/", "/a/b/"},
        {"//a///b", "/a/b"},
        {"/./a/./b/.", "/a/b/"},
        {"/a%20b", "/a b"},
        {"/%41%62%63", "/Abc"},
        {"/caf%C3%A9", "/caf\xc3\xa9"},
        {"/...", "/..."},
        {"/..a/a..", "/..a/a.."},
        {"/.hidden", "/.hidden"},
        {"/a%25", "/a%"},
        {"/a%25zz", "/a%zz"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ssize_t n = httpd_path_decode(cases[i].in, strlen(cases[i].in), out, sizeof out);
        if (n < 0 || strcmp(out, cases[i].out) || (size_t)n != strlen(cases[i].out))
            fail_msg("'%s' -> %zd '%s', expected '%s'", cases[i].in, n, n >= 0 ? out : "",
                     cases[i].out);
    }
}

static void traversal_attempts_are_refused(void **state)
{
    static const char *const attacks[] = {
        "/..",
        "/../etc/passwd",
        "/a/../../etc/passwd",
        "/a/..",
        "/%2e%2e/etc/passwd",
        "/%2E%2E/etc/passwd",
        "/.%2e/etc/passwd",
        "/%2e./etc/passwd",
        "/a/%2e%2e/%2e%2e/etc/passwd",
        "/..%2fetc/passwd",
        "/%2f..%2fetc",
        "/a%2F..%2F..%2Fetc",
        "/%252e%252e/etc/passwd", /* double encoding */
        "/%252e%252e%252fetc",
        "/%25%32%65%25%32%65/etc",
        "/..\\etc\\passwd",
        "/a\\..\\..\\etc",
        "/%5c..%5c..%5cetc",
        "/..%5cetc",
        "/etc/passwd%00.html",
        "/a%00",
        "/a\0b",
        "/a%0d%0aX: y",
        "/a%7f",
        "etc/passwd", /* not starting with '/' */
        "",
        "/%",
        "/%2",
        "/%zz",
        "/%2e%2",
    };
    char out[128];
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++) {
        size_t len = strlen(attacks[i]);
        if (i == 21) len = 4; /* "/a\0b" */
        ssize_t n = httpd_path_decode(attacks[i], len, out, sizeof out);
        if (n != -400) fail_msg("'%s' -> %zd ('%s')", attacks[i], n, n >= 0 ? out : "");
    }
}

static void path_that_does_not_fit_is_414(void **state)
{
    char out[8];
    assert_int_equal(httpd_path_decode("/abcdef", 7, out, sizeof out), 7);
    assert_string_equal(out, "/abcdef");
    assert_int_equal(httpd_path_decode("/abcdefg", 8, out, sizeof out), -414);
    assert_int_equal(httpd_path_decode("/abcdef/", 8, out, sizeof out), -414);
    assert_int_equal(httpd_path_decode("/", 1, out, 1), -414);
    assert_int_equal(httpd_path_decode("/", 1, out, 2), 1);
    /* Dropped segments do not need room. */
    assert_int_equal(httpd_path_decode("/./././././a", 12, out, 3), 2);
    assert_string_equal(out, "/a");
}

/* The Location of a directory redirect is built from the normalised path: a target with empty
 * segments ("//host") must not come back as a network-path reference to another host. */
static void encoded_path_for_location_is_never_network_path(void **state)
{
    static const struct {
        const char *target, *location;
    } cases[] = {
        {"//evil.example", "/evil.example"},
        {"///evil.example/", "/evil.example/"},
        {"/.//evil.example", "/evil.example"},
        {"/%2e//evil.example", "/evil.example"},
        {"/a%20b/%25x", "/a%20b/%25x"}, /* a decoded "%" is encoded again */
        {"/a%20b", "/a%20b"},
        {"/caf%C3%A9", "/caf%C3%A9"},
        {"/q%3Fx%23y", "/q%3Fx%23y"},
        {"/sub-delims!$&'()*+,;=:@~._", "/sub-delims!$&'()*+,;=:@~._"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dec[256], enc[256];
        ssize_t n = httpd_path_decode(cases[i].target, strlen(cases[i].target), dec, sizeof dec);
        assert_true(n > 0);
        size_t m = httpd_path_encode(dec, enc, sizeof enc);
        assert_int_equal(m, strlen(enc));
        assert_string_equal(enc, cases[i].location);
        assert_false(enc[0] == '/' && enc[1] == '/');
        /* Decoding what was encoded gives the same path back. */
        char back[256];
        assert_int_equal(httpd_path_decode(enc, m, back, sizeof back), n);
        assert_string_equal(back, dec);
    }
    char enc[8];
    assert_int_equal(httpd_path_encode("/abcdef", enc, sizeof enc), 7);
    assert_int_equal(httpd_path_encode("/abcdefg", enc, sizeof enc), 0);
    assert_string_equal(enc, "");
    assert_int_equal(httpd_path_encode("/a b", enc, 6), 0); /* "/a%20b" and its NUL: 7 */
    assert_string_equal(enc, "");
    assert_int_equal(httpd_path_encode("/a b", enc, 7), 6);
    assert_string_equal(enc, "/a%20b");
    assert_int_equal(httpd_path_encode("/", enc, 0), 0);
}

static void media_types_come_from_the_extension(void **state)
{
    assert_string_equal(httpd_mime_type("/index.html", 11), "text/html; charset=utf-8");
    assert_string_equal(httpd_mime_type("/A.HTML", 7), "text/html; charset=utf-8");
    assert_string_equal(httpd_mime_type("/x.css", 6), "text/css; charset=utf-8");
    assert_string_equal(httpd_mime_type("/x.js", 5), "text/javascript; charset=utf-8");
    assert_string_equal(httpd_mime_type("/d/x.json", 9), "application/json");
    assert_string_equal(httpd_mime_type("/x.png", 6), "image/png");
    assert_string_equal(httpd_mime_type("/x.tar.gz", 9), "application/gzip");
    assert_string_equal(httpd_mime_type("/x.woff2", 8), "font/woff2");
    assert_string_equal(httpd_mime_type("/x.woff\x12", 8), "application/octet-stream");
    assert_string_equal(httpd_mime_type("/README", 7), "application/octet-stream");
    assert_string_equal(httpd_mime_type("/.bashrc", 8), "application/octet-stream");
    assert_string_equal(httpd_mime_type("/d.x/file", 9), "application/octet-stream");
    assert_string_equal(httpd_mime_type("/x.", 3), "application/octet-stream");
    assert_string_equal(httpd_mime_type("", 0), "application/octet-stream");
}

/* A temporary tree:
 *   outside/secret                   a file outside the root
 *   root/index.html, root/d/f.txt    files inside
 *   root/in -> d/f.txt               relative symlink staying inside
 *   root/abs -> <outside>/secret     absolute symlink
 *   root/up -> ../outside/secret     relative symlink climbing out
 *   root/d/updir -> ../../outside    directory symlink climbing out
 *   root/proc -> /proc/self/root     magic link path
 *   root/fifo                        a FIFO */
static char base[64], root[128];

static void put_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int make_tree(void **state)
{
    char p[256];
    strcpy(base, "/tmp/uco-http-root-XXXXXX");
    if (!mkdtemp(base)) return -1;
    snprintf(root, sizeof root, "%s/root", base);
    snprintf(p, sizeof p, "%s/outside", base);
    if (mkdir(p, 0755) || mkdir(root, 0755)) return -1;
    snprintf(p, sizeof p, "%s/outside/secret", base);
    put_file(p, "secret");
    snprintf(p, sizeof p, "%s/index.html", root);
    put_file(p, "<p>hi</p>");
    snprintf(p, sizeof p, "%s/d", root);
    if (mkdir(p, 0755)) return -1;
    snprintf(p, sizeof p, "%s/d/f.txt", root);
    put_file(p, "inside");
    char target[256];
    snprintf(p, sizeof p, "%s/in", root);
    if (symlink("d/f.txt", p)) return -1;
    snprintf(p, sizeof p, "%s/abs", root);
    snprintf(target, sizeof target, "%s/outside/secret", base);
    if (symlink(target, p)) return -1;
    snprintf(p, sizeof p, "%s/up", root);
    if (symlink("../outside/secret", p)) return -1;
    snprintf(p, sizeof p, "%s/d/updir", root);
    if (symlink("../../outside", p)) return -1;
    snprintf(p, sizeof p, "%s/proc", root);
    if (symlink("/proc/self/root", p)) return -1;
    snprintf(p, sizeof p, "%s/fifo", root);
    if (mkfifo(p, 0644)) return -1;
    return 0;
}

static int remove_tree(void **state)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

static void read_fd(int fd, const char *want)
{
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
    close(fd);
}

static void files_open_beneath_the_root(void **state)
{
    int rootfd = httpd_root_open(root);
    assert_true(rootfd >= 0);
    struct stat st;
    int fd = httpd_file_open(rootfd, "/index.html", &st);
    assert_true(fd >= 0);
    assert_int_equal(st.st_size, 9);
    read_fd(fd, "<p>hi</p>");
    fd = httpd_file_open(rootfd, "/d/f.txt", &st);
    assert_true(fd >= 0);
    read_fd(fd, "inside");
    /* A symlink that stays inside is followed by openat2... */
    fd = httpd_open_beneath(rootfd, "/in", O_RDONLY);
    assert_true(fd >= 0);
    read_fd(fd, "inside");
    /* ...and refused by the walk, which follows no symlink at all. */
    assert_int_equal(httpd_open_beneath_walk(rootfd, "/in", O_RDONLY), -ELOOP);
    fd = httpd_open_beneath_walk(rootfd, "/d/f.txt", O_RDONLY);
    assert_true(fd >= 0);
    read_fd(fd, "inside");
    assert_int_equal(httpd_file_open(rootfd, "/d", &st), -EISDIR);
    assert_int_equal(httpd_file_open(rootfd, "/", &st), -EISDIR);
    assert_int_equal(httpd_file_open(rootfd, "/missing", &st), -ENOENT);
    /* A FIFO is refused without blocking on its open. */
    assert_int_equal(httpd_file_open(rootfd, "/fifo", &st), -EACCES);
    assert_int_equal(httpd_status_for_errno(-ENOENT), 404);
    assert_int_equal(httpd_status_for_errno(-EACCES), 403);
    assert_int_equal(httpd_status_for_errno(-EXDEV), 404);
    assert_int_equal(httpd_status_for_errno(-EIO), 500);
    close(rootfd);
}

static void nothing_outside_the_root_can_be_opened(void **state)
{
    static const char *const escapes[] = {
        "/abs",
        "/up",
        "/d/updir/secret",
        "/../outside/secret",
        "../outside/secret",
        "/d/../../outside/secret",
        "/proc/etc/passwd",
        "/proc",
    };
    int rootfd = httpd_root_open(root);
    assert_true(rootfd >= 0);
    for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
        struct stat st;
        int fd = httpd_file_open(rootfd, escapes[i], &st);
        if (fd >= 0 || (fd != -EXDEV && fd != -ELOOP))
            fail_msg("'%s' (openat2) gave %d", escapes[i], fd);
        fd = httpd_open_beneath_walk(rootfd, escapes[i], O_RDONLY);
        if (fd >= 0 || (fd != -EXDEV && fd != -ELOOP && fd != -ENOTDIR))
            fail_msg("'%s' (walk) gave %d", escapes[i], fd);
        assert_int_equal(httpd_status_for_errno(fd), 404);
    }
    close(rootfd);
}

/* End to end: what a request names goes through httpd_path_decode() then httpd_file_open(). */
static void encoded_traversal_in_a_target_never_reaches_a_file(void **state)
{
    static const char *const targets[] = {
        "/%2e%2e/outside/secret",
        "/..%2foutside/secret",
        "/%252e%252e/outside/secret",
        "/d/%2e%2e/%2e%2e/outside/secret",
        "/up",
        "/abs",
        "/d%2fupdir/secret",
    };
    int rootfd = httpd_root_open(root);
    assert_true(rootfd >= 0);
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        char path[256];
        struct stat st;
        ssize_t n = httpd_path_decode(targets[i], strlen(targets[i]), path, sizeof path);
        int fd = n < 0 ? (int)n : httpd_file_open(rootfd, path, &st);
        if (fd >= 0) fail_msg("'%s' opened '%s'", targets[i], path);
    }
    close(rootfd);
}

/* Whole requests, as the server sees them: parse, decode the path, open beneath the root.
 * Absolute-form targets carry their path like origin-form ones and get the same treatment. */
static void traversal_in_whole_requests_is_refused(void **state)
{
    static const char *const requests[] = {
        "GET http://h/../outside/secret HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET http://h/%2e%2e/outside/secret HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET https://h/d/..%2f..%2foutside/secret HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET http://h/abs HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /../outside/secret HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /d/updir/secret HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /..\\outside\\secret HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /%00/../outside/secret HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET //../outside/secret HTTP/1.1\r\nHost: h\r\n\r\n",
    };
    int rootfd = httpd_root_open(root);
    assert_true(rootfd >= 0);
    static httpd_request req;
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        httpd_parser p;
        httpd_parser_init(&p, NULL);
        int r = httpd_parse_request(&p, requests[i], strlen(requests[i]), &req);
        if (r < 0) continue; /* refused by the parser */
        assert_true(r > 0);
        char path[256];
        struct stat st;
        ssize_t n = httpd_path_decode(req.path.p, req.path.len, path, sizeof path);
        int fd = n < 0 ? (int)n : httpd_file_open(rootfd, path, &st);
        if (fd >= 0) fail_msg("request %zu opened '%s'", i, path);
    }
    /* And the same way a file inside is served. */
    const char *ok = "GET http://h/d/f.txt HTTP/1.1\r\nHost: h\r\n\r\n";
    httpd_parser p;
    httpd_parser_init(&p, NULL);
    assert_true(httpd_parse_request(&p, ok, strlen(ok), &req) > 0);
    char path[256];
    struct stat st;
    assert_true(httpd_path_decode(req.path.p, req.path.len, path, sizeof path) > 0);
    int fd = httpd_file_open(rootfd, path, &st);
    assert_true(fd >= 0);
    close(fd);
    close(rootfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paths_decode_and_normalise),
        cmocka_unit_test(traversal_attempts_are_refused),
        cmocka_unit_test(path_that_does_not_fit_is_414),
        cmocka_unit_test(encoded_path_for_location_is_never_network_path),
        cmocka_unit_test(media_types_come_from_the_extension),
        cmocka_unit_test_setup_teardown(files_open_beneath_the_root, make_tree, remove_tree),
        cmocka_unit_test_setup_teardown(nothing_outside_the_root_can_be_opened, make_tree,
                                        remove_tree),
        cmocka_unit_test_setup_teardown(encoded_traversal_in_a_target_never_reaches_a_file,
                                        make_tree, remove_tree),
        cmocka_unit_test_setup_teardown(traversal_in_whole_requests_is_refused, make_tree,
                                        remove_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
