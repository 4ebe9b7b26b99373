/* Why io_uring is unavailable: a message that names the cause and the fix. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uco/ring.h>

/* Reads a small /proc file into buf; returns the length or -1. */
static int read_small(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = 0;
    return (int)n;
}

/* The number after "key:" in /proc/self/status, or -1. */
static long status_field(const char *key)
{
    char buf[8192];
    if (read_small("/proc/self/status", buf, sizeof buf) < 0) return -1;
    size_t kl = strlen(key);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') return strtol(line + kl + 1, NULL, 10);
    return -1;
}

static bool in_group(long gid)
{
    if (gid < 0) return false;
    if ((long)getegid() == gid) return true;
    gid_t groups[256];
    int n = getgroups(256, groups);
    for (int i = 0; i < n; i++)
        if ((long)groups[i] == gid) return true;
    return false;
}

char *uco_diagnose(int err, char *buf, size_t len)
{
    if (!buf || !len) return buf;
    if (err > 0) err = -err;
    char val[64];
    long disabled = -1, group = -1;
    if (read_small("/proc/sys/kernel/io_uring_disabled", val, sizeof val) > 0)
        disabled = strtol(val, NULL, 10);
    if (read_small("/proc/sys/kernel/io_uring_group", val, sizeof val) > 0)
        group = strtol(val, NULL, 10);
    long seccomp = status_field("Seccomp");
    struct rlimit ml = {0, 0};
    getrlimit(RLIMIT_MEMLOCK, &ml);
    const char *what = err ? strerror(-err) : "no error";

    if (err == 0) {
        snprintf(buf, len, "io_uring is available");
    } else if (disabled == 2 && (err == -EPERM || err == -EACCES)) {
        snprintf(buf, len,
                 "io_uring_setup: %s: io_uring is disabled on this machine (sysctl "
                 "kernel.io_uring_disabled=2); an administrator can enable it with "
                 "'sysctl -w kernel.io_uring_disabled=0'",
                 what);
    } else if (disabled == 1 && (err == -EPERM || err == -EACCES) && geteuid() != 0 && group < 0) {
        snprintf(buf, len,
                 "io_uring_setup: %s: io_uring is restricted to root by sysctl "
                 "kernel.io_uring_disabled=1 (no kernel.io_uring_group is set) and this process "
                 "is not root; set kernel.io_uring_group to one of its groups, or the sysctl to 0",
                 what);
    } else if (disabled == 1 && (err == -EPERM || err == -EACCES) && geteuid() != 0 &&
               !in_group(group)) {
        snprintf(buf, len,
                 "io_uring_setup: %s: io_uring is restricted to root and the group of "
                 "kernel.io_uring_group (gid %ld) by sysctl kernel.io_uring_disabled=1, and this "
                 "process is in neither; add the user to that group or set the sysctl to 0",
                 what, group);
    } else if (seccomp == 2 && (err == -EPERM || err == -ENOSYS || err == -EACCES)) {
        snprintf(buf, len,
                 "io_uring_setup: %s: a seccomp filter forbids io_uring in this process (the "
                 "default profiles of Docker, containerd and systemd's SystemCallFilter= do); "
                 "run it with a profile that allows io_uring_setup, io_uring_enter and "
                 "io_uring_register",
                 what);
    } else if (err == -ENOSYS) {
        snprintf(buf, len,
                 "io_uring_setup: %s: this kernel was built without io_uring "
                 "(CONFIG_IO_URING); uco needs Linux 6.1 or newer with io_uring",
                 what);
    } else if (err == -ENOMEM) {
        snprintf(buf, len,
                 "io_uring_setup: %s: the ring's memory could not be allocated; kernels before "
                 "5.12 charge it to RLIMIT_MEMLOCK (now %llu KiB): raise it with 'ulimit -l' or "
                 "LimitMEMLOCK=, or use a smaller sq_entries",
                 what,
                 ml.rlim_cur == RLIM_INFINITY ? 0ull : (unsigned long long)ml.rlim_cur / 1024);
    } else if (err == -EOPNOTSUPP) {
        snprintf(buf, len,
                 "io_uring_setup: this kernel's io_uring cannot keep completions that overflow "
                 "(no IORING_FEAT_NODROP, Linux < 5.5); uco needs Linux 6.1 or newer");
    } else if (err == -EPERM) {
        snprintf(buf, len,
                 "io_uring_setup: %s: denied by a security module or policy (check SELinux/"
                 "AppArmor denials in the kernel log)",
                 what);
    } else if (err == -EMFILE || err == -ENFILE) {
        snprintf(buf, len, "io_uring_setup: %s: no file descriptor left for the ring", what);
    } else {
        snprintf(buf, len, "io_uring_setup: %s", what);
    }
    return buf;
}
