/* Replays the HTTP fuzzer's seed corpus and every crasher it ever found (one regression per
 * file) through the fuzz harness, so that the plain test suite keeps them fixed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dirent.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0; /* no crashers yet */
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static uint8_t buf[1 << 16];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        uint8_t *copy = malloc(len ? len : 1); /* exact size, so ASan sees over-reads */
        memcpy(copy, buf, len);
        LLVMFuzzerTestOneInput(copy, len);
        free(copy);
        n++;
    }
    closedir(d);
    return n;
}

static void corpus_and_crashers_pass_the_harness(void **state)
{
    char dirs[] = HTTPD_FUZZ_DIRS;
    int n = 0;
    for (char *dir = strtok(dirs, ":"); dir; dir = strtok(NULL, ":"))
        n += replay_dir(dir);
    printf("replayed %d inputs\n", n);
    assert_true(n >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(corpus_and_crashers_pass_the_harness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
