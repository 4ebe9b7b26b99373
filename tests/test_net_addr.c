/* Addresses: parse and format round trips, and bad input. */
#include "test_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>

/* Parses s, formats it, and checks the text and that parsing the text gives the same address. */
static void round_trip(const char *s, uint16_t def, const char *want, int family, uint16_t port)
{
    uco_addr a, b;
    assert_int_equal(uco_addr_parse(&a, s, def), 0);
    assert_int_equal(uco_addr_family(&a), family);
    assert_int_equal(uco_addr_port(&a), port);
    char buf[UCO_ADDR_STRLEN];
    int n = uco_addr_format(&a, buf, sizeof buf);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
    assert_int_equal(uco_addr_parse(&b, buf, 1), 0);
    assert_true(uco_addr_equal(&a, &b));
}

static void ipv4_forms_round_trip(void **state)
{
    round_trip("127.0.0.1:80", 7000, "127.0.0.1:80", AF_INET, 80);
    round_trip("127.0.0.1", 7000, "127.0.0.1:7000", AF_INET, 7000);
    round_trip("0.0.0.0:0", 1, "0.0.0.0:0", AF_INET, 0);
    round_trip("255.255.255.255:65535", 1, "255.255.255.255:65535", AF_INET, 65535);
}

static void ipv6_forms_round_trip(void **state)
{
    round_trip("[::1]:8080", 1, "[::1]:8080", AF_INET6, 8080);
    round_trip("::1", 7000, "[::1]:7000", AF_INET6, 7000);
    round_trip("[::]:0", 1, "[::]:0", AF_INET6, 0);
    round_trip("[2001:db8::a:b]:443", 1, "[2001:db8::a:b]:443", AF_INET6, 443);
    round_trip("[::ffff:127.0.0.1]:1", 1, "[::ffff:127.0.0.1]:1", AF_INET6, 1);
    round_trip("[fe80::1%7]:80", 1, "[fe80::1%7]:80", AF_INET6, 80);
    unsigned lo = if_nametoindex("lo");
    if (lo) {
        uco_addr a;
        assert_int_equal(uco_addr_parse(&a, "[fe80::1%lo]:80", 1), 0);
        assert_int_equal(a.u.in6.sin6_scope_id, lo);
    }
}

static void unix_forms_round_trip(void **state)
{
    round_trip("unix:/tmp/x.sock", 0, "unix:/tmp/x.sock", AF_UNIX, 0);
    round_trip("/run/uco/y.sock", 0, "unix:/run/uco/y.sock", AF_UNIX, 0);
    round_trip("unix:relative.sock", 0, "unix:relative.sock", AF_UNIX, 0);
    round_trip("@abstract-name", 0, "unix:@abstract-name", AF_UNIX, 0);
    round_trip("unix:@a", 0, "unix:@a", AF_UNIX, 0);
    uco_addr a;
    assert_int_equal(uco_addr_parse(&a, "@abc", 0), 0);
    /* abstract: a leading NUL and no terminating one */
    assert_int_equal(a.u.un.sun_path[0], 0);
    assert_int_equal(a.len, offsetof(struct sockaddr_un, sun_path) + 4);
    /* the longest path that fits */
    char path[sizeof a.u.un.sun_path + 8];
    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[sizeof a.u.un.sun_path - 1] = 0;
    assert_int_equal(uco_addr_parse(&a, path, 0), 0);
    path[sizeof a.u.un.sun_path - 1] = 'p';
    path[sizeof a.u.un.sun_path] = 0;
    assert_int_equal(uco_addr_parse(&a, path, 0), -EINVAL);
}

static void bad_input_is_rejected_and_zeroes(void **state)
{
    static const char *const bad[] = {
        "",
        "1.2.3.4:",
        "1.2.3.4:65536",
        "1.2.3.4:-1",
        "1.2.3",
        "256.1.1.1",
        "1.2.3.4:80x",
        "1.2.3.4: 80",
        " 1.2.3.4",
        "[::1",
        "[::1]x",
        "[::1]:",
        "[::1]:99999",
        "::g",
        "[1.2.3.4]:80",
        "host:80",
        "localhost",
        "unix:",
        "@",
        "[fe80::1%]:80",
        "[fe80::1%no-such-if]:1",
        "1.2.3.4:123456",
        ":80",
        "[]:80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uco_addr a;
        memset(&a, 0x5a, sizeof a);
        int r = uco_addr_parse(&a, bad[i], 7);
        if (r != -EINVAL) fail_msg("'%s' parsed (%d)", bad[i], r);
        assert_int_equal(a.len, 0);
        assert_int_equal(uco_addr_family(&a), AF_UNSPEC);
    }
    uco_addr a;
    assert_int_equal(uco_addr_parse(&a, NULL, 1), -EINVAL);
    assert_int_equal(uco_addr_parse(NULL, "1.2.3.4", 1), -EINVAL);
}

static void format_reports_small_buffers_and_empty_addresses(void **state)
{
    uco_addr a;
    assert_int_equal(uco_addr_parse(&a, "[2001:db8::1]:65535", 0), 0);
    char buf[UCO_ADDR_STRLEN];
    assert_int_equal(uco_addr_format(&a, buf, 8), -ENOSPC);
    assert_string_equal(buf, "");
    int n = uco_addr_format(&a, buf, sizeof buf);
    assert_int_equal(uco_addr_format(&a, buf, (size_t)n + 1), n);
    assert_int_equal(uco_addr_format(&a, buf, (size_t)n), -ENOSPC);
    uco_addr empty = {0};
    assert_int_equal(uco_addr_format(&empty, buf, sizeof buf), -EAFNOSUPPORT);
    assert_int_equal(uco_addr_format(NULL, buf, sizeof buf), -EAFNOSUPPORT);
    assert_int_equal(uco_addr_format(&a, NULL, 10), -ENOSPC);
}

static void helpers_build_compare_and_copy(void **state)
{
    uco_addr a, b;
    assert_int_equal(uco_addr_ip(&a, "10.1.2.3", 99), 0);
    assert_int_equal(uco_addr_parse(&b, "10.1.2.3:99", 0), 0);
    assert_true(uco_addr_equal(&a, &b));
    assert_int_equal(uco_addr_set_port(&b, 100), 0);
    assert_false(uco_addr_equal(&a, &b));
    assert_int_equal(uco_addr_port(&b), 100);
    assert_int_equal(uco_addr_ip(&a, "::1", 5), 0);
    assert_int_equal(uco_addr_family(&a), AF_INET6);
    assert_int_equal(uco_addr_ip(&a, "[::1]", 5), -EINVAL);
    assert_int_equal(uco_addr_parse(&a, "unix:/x", 0), 0);
    assert_int_equal(uco_addr_set_port(&a, 1), -EAFNOSUPPORT);
    assert_int_equal(uco_addr_port(&a), 0);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(8080)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(uco_addr_from_sockaddr(&a, (struct sockaddr *)&sin, sizeof sin), 0);
    char buf[UCO_ADDR_STRLEN];
    uco_addr_format(&a, buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.1:8080");
    assert_int_equal(uco_addr_from_sockaddr(&a, (struct sockaddr *)&sin, 4), -EINVAL);
    sin.sin_family = AF_PACKET;
    assert_int_equal(uco_addr_from_sockaddr(&a, (struct sockaddr *)&sin, sizeof sin), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4_forms_round_trip),
        cmocka_unit_test(ipv6_forms_round_trip),
        cmocka_unit_test(unix_forms_round_trip),
        cmocka_unit_test(bad_input_is_rejected_and_zeroes),
        cmocka_unit_test(format_reports_small_buffers_and_empty_addresses),
        cmocka_unit_test(helpers_build_compare_and_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
