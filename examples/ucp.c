/* ucp — copy files and directory trees, like cp(1), with many files in flight on io_uring.
 *
 *   ucp [OPTION]... SRC DST          copy SRC to DST (into DST/ when DST is a directory)
 *   ucp [OPTION]... SRC... DIR       copy each SRC into DIR
 *
 * Built on the public API only: uco_copy() does the work; this file is the command line, the
 * messages and the progress bar. Exit status 0 when everything was copied, 1 otherwise.
 * A regular file whose copy failed midway is removed, and the message says so.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uco.h>

struct ucp {
    uco_copy_opts o;
    bool verbose, progress, tty, recursive;
    char **srcs;
    int nsrc;
    const char *dst;
    bool dst_is_dir;
    int status;
    unsigned long reported; /* failures printed by on_error */
    int bar_len;            /* characters of the bar on screen (to clear it) */
    uco_copy_stats total;
};

static void usage(FILE *f)
{
    fputs("Usage: ucp [OPTION]... SRC DST\n"
          "  or:  ucp [OPTION]... SRC... DIRECTORY\n"
          "Copy SRC to DST, or each SRC into DIRECTORY, with many files in flight (io_uring).\n"
          "\n"
          "  -a, --archive         same as -dR --preserve=all (mode, owner, times, links, xattrs)\n"
          "  -d                    copy symlinks as symlinks and keep hard links\n"
          "  -f, --force           remove a destination that cannot be opened, and retry\n"
          "  -H                    follow symlinks given on the command line\n"
          "  -L, --dereference     always follow symlinks in SRC\n"
          "  -n, --no-clobber      do not overwrite an existing file\n"
          "  -P, --no-dereference  never follow symlinks in SRC\n"
          "  -p                    preserve mode, ownership and timestamps\n"
          "  -r, -R, --recursive   copy directories recursively\n"
          "  -u, --update          copy only when SRC is newer than DST or DST is missing\n"
          "  -v, --verbose         say what is being done\n"
          "  -x, --one-file-system stay on the file systems of the sources\n"
          "      --progress        show a progress bar (bytes, files, rate, ETA) on a terminal\n"
          "      --jobs=N          files in flight (default 256)\n"
          "      --walkers=N       directories read at once (default 32)\n"
          "      --queue-depth=N   chunks in flight per big file (default 4)\n"
          "      --chunk-size=SIZE bytes per chunk of a big file, K/M suffixes (default 1M)\n"
          "      --direct          O_DIRECT for big files where the file system allows it\n"
          "      --help            display this help and exit\n"
          "      --version         output version information and exit\n"
          "\n"
          "Like cp: symlinks inside a recursive copy are copied as symlinks; errors name the\n"
          "path and the reason, the copy goes on with what it can, and the exit status is 1.\n"
          "A file whose copy failed midway is removed, never left looking complete.\n",
          f);
}

/* ---- messages ------------------------------------------------------------------------- */

static void clear_bar(struct ucp *u)
{
    if (u->bar_len) {
        fprintf(stderr, "\r%*s\r", u->bar_len, "");
        u->bar_len = 0;
    }
}

static int on_error(const uco_copy_error *e, void *arg)
{
    struct ucp *u = arg;
    clear_bar(u);
    u->reported++;
    const char *op = e->op;
    if (!strcmp(op, "same file"))
        fprintf(stderr, "ucp: '%s' and '%s' are the same file\n", e->src, e->dst);
    else if (!strcmp(op, "copy a directory into itself"))
        fprintf(stderr, "ucp: cannot copy a directory, '%s', into itself, '%s'\n", e->src, e->dst);
    else if (!strcmp(op, "omit directory"))
        fprintf(stderr, "ucp: -r not specified; omitting directory '%s'\n", e->src);
    else if (!strcmp(op, "overwrite non-directory with directory"))
        fprintf(stderr, "ucp: cannot overwrite non-directory '%s' with directory '%s'\n", e->dst,
                e->src);
    else if (!strcmp(op, "overwrite directory with non-directory"))
        fprintf(stderr, "ucp: cannot overwrite directory '%s' with non-directory '%s'\n", e->dst,
                e->src);
    else if (!strcmp(op, "write through dangling symlink"))
        fprintf(stderr, "ucp: not writing through dangling symlink '%s'\n", e->dst);
    else if (!strcmp(op, "copy cyclic directory"))
        fprintf(stderr, "ucp: cannot copy cyclic directory '%s': %s\n", e->src, strerror(-e->err));
    else if (e->incomplete)
        fprintf(stderr, "ucp: %s '%s': %s (incomplete copy '%s' left)\n", op, e->path,
                strerror(-e->err), e->dst);
    else
        fprintf(stderr, "ucp: %s '%s': %s%s%s%s\n", op, e->path, strerror(-e->err),
                e->removed ? " (incomplete copy '" : "", e->removed ? e->dst : "",
                e->removed ? "' removed)" : "");
    return 0;
}

static void on_entry(const char *src, const char *dst, mode_t type, bool linked, void *arg)
{
    struct ucp *u = arg;
    clear_bar(u);
    printf("'%s' -> '%s'%s\n", src, dst, linked ? " (hard link)" : "");
    (void)type;
}

static void human(char *out, size_t n, double v)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    unsigned i = 0;
    while (v >= 1024 && i + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        i++;
    }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", v, units[i]);
}

static void on_progress(const uco_copy_stats *st, bool done, void *arg)
{
    struct ucp *u = arg;
    uco_copy_stats t = u->total; /* earlier sources of this run */
    uint64_t bytes = t.bytes + st->bytes, total = t.bytes_total + st->bytes_total;
    uint64_t files = t.files + t.dirs + t.symlinks + t.hardlinks + t.specials + st->files +
                     st->dirs + st->symlinks + st->hardlinks + st->specials;
    uint64_t ftotal = t.files_total + st->files_total;
    double secs = (double)st->elapsed_ns / 1e9;
    double rate = secs > 0 ? (double)st->bytes / secs : 0;
    char b[32], tb[32], r[32], eta[32] = "--:--";
    human(b, sizeof b, (double)bytes);
    human(tb, sizeof tb, (double)total);
    human(r, sizeof r, rate);
    if (rate > 0 && total > bytes) {
        long s = (long)((double)(total - bytes) / rate);
        snprintf(eta, sizeof eta, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    }
    if (!u->tty) {
        if (done)
            fprintf(stderr, "ucp: %s in %llu of %llu entries, %.2f s, %s/s\n", b,
                    (unsigned long long)files, (unsigned long long)ftotal, secs, r);
        return;
    }
    double frac = total ? (double)bytes / (double)total : 0.0;
    if (frac > 1 || done) frac = 1;
    char bar[21];
    int fill = (int)(frac * 20);
    for (int i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[20] = 0;
    char line[200];
    int len = snprintf(line, sizeof line, "[%s] %3.0f%%  %s / %s  %llu / %llu files  %s/s  ETA %s",
                       bar, frac * 100, b, tb, (unsigned long long)files,
                       (unsigned long long)ftotal, r, done ? "0:00:00" : eta);
    fprintf(stderr, "\r%s%*s", line, u->bar_len > len ? u->bar_len - len : 0, "");
    u->bar_len = len;
    if (done) {
        fputc('\n', stderr);
        u->bar_len = 0;
    }
}

/* ---- the copy ------------------------------------------------------------------------- */

/* The last component of a path, trailing slashes ignored ("a/b/" -> "b", "/" -> "/"). */
static char *last_component(const char *p)
{
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        n--;
    size_t s = n;
    while (s > 0 && p[s - 1] != '/')
        s--;
    return strndup(p + s, n - s);
}

/* ---- several sources with one name ---------------------------------------------------------
 * Sources copied into a directory with the same last name go to the same place, as with cp:
 * the same source given twice is copied once ("specified more than once"), and a file just
 * written by an earlier source is not overwritten by a later one ("will not overwrite
 * just-created"). Only sources that share a target are looked at. */

struct seen {
    int prev;      /* the previous source with the same target, or -1 */
    bool shared;   /* another source has the same target */
    bool have_src; /* sdev.. spino are valid */
    bool dir;      /* the source is a directory */
    bool made;     /* its copy wrote the target (a non-directory): ddev, dino */
    dev_t sdev, spdev, ddev;
    ino_t sino, spino, dino;
};

static char *target_of(const struct ucp *u, const char *src)
{
    char *base = last_component(src), *target = NULL;
    /* As cp: "ucp -r src/.. dir" copies into dir itself, never into dir/.. (outside it). */
    if (base && !strcmp(base, "..")) base[1] = 0;
    size_t dl = strlen(u->dst);
    if (!base ||
        asprintf(&target, "%s%s%s", u->dst, dl && u->dst[dl - 1] == '/' ? "" : "/", base) < 0)
        target = NULL;
    free(base);
    return target;
}

static char **g_targets; /* for the sort below */

static int by_target(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    int c = strcmp(g_targets[x], g_targets[y]);
    return c ? c : (x > y) - (x < y);
}

/* Links each source to the previous one with the same target (NULL: out of memory, or a single
 * source: nothing to look at). */
static struct seen *find_shared(char **targets, int n)
{
    struct seen *sn = calloc((size_t)n, sizeof *sn);
    int *order = malloc((size_t)n * sizeof *order);
    if (!sn || !order) {
        free(order);
        free(sn);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        order[i] = i;
        sn[i].prev = -1;
    }
    g_targets = targets;
    qsort(order, (size_t)n, sizeof *order, by_target);
    for (int k = 1; k < n; k++) {
        int a = order[k - 1], b = order[k];
        if (targets[a] && targets[b] && !strcmp(targets[a], targets[b])) {
            sn[b].prev = a;
            sn[a].shared = sn[b].shared = true;
        }
    }
    free(order);
    return sn;
}

/* The source as cp sees it (following a symlink unless told not to) and its directory. */
static void stat_source(const struct ucp *u, const char *src, struct seen *s, struct stat *st)
{
    unsigned f = u->o.flags;
    bool follow = !(f & UCO_COPY_NO_DEREF) || (f & UCO_COPY_DEREF_ROOT);
    if ((follow ? stat(src, st) : lstat(src, st)) < 0) return;
    char *slash = NULL, *parent = strdup(src);
    if (!parent) return;
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = 0;
    slash = strrchr(parent, '/');
    if (slash) slash[slash == parent ? 1 : 0] = 0;
    struct stat ps;
    int r = stat(slash ? parent : ".", &ps);
    free(parent);
    if (r < 0) return;
    s->have_src = true;
    s->dir = S_ISDIR(st->st_mode);
    s->sdev = st->st_dev;
    s->sino = st->st_ino;
    s->spdev = ps.st_dev;
    s->spino = ps.st_ino;
}

/* Whether source i, sharing its target with earlier ones, is to be copied: 0 yes, 1 no (said
 * why: a warning), -1 no (a refusal, said). */
static int shared_check(struct ucp *u, struct seen *sn, int i, const char *src, const char *target,
                        const struct stat *st)
{
    struct seen *s = &sn[i];
    if (!s->have_src) return 0; /* the copy says what is wrong with it */
    for (int j = s->prev; j >= 0; j = sn[j].prev) {
        struct seen *e = &sn[j];
        if (!e->have_src || e->sdev != s->sdev || e->sino != s->sino) continue;
        if (s->dir || (e->spdev == s->spdev && e->spino == s->spino)) {
            clear_bar(u);
            fprintf(stderr, "ucp: warning: source %s '%s' specified more than once\n",
                    s->dir ? "directory" : "file", src);
            return 1;
        }
    }
    if (s->dir) return 0;
    /* What is there now, as the copy will see it (through a symlink for a regular file). */
    struct stat ds;
    if ((S_ISREG(st->st_mode) ? stat(target, &ds) : lstat(target, &ds)) < 0) return 0;
    unsigned f = u->o.flags;
    if (S_ISDIR(ds.st_mode) || (f & UCO_COPY_NO_CLOBBER) ||
        (ds.st_dev == st->st_dev && ds.st_ino == st->st_ino))
        return 0; /* the copy refuses or skips it, in its own words */
    if ((f & UCO_COPY_UPDATE) &&
        (ds.st_mtim.tv_sec > st->st_mtim.tv_sec ||
         (ds.st_mtim.tv_sec == st->st_mtim.tv_sec && ds.st_mtim.tv_nsec >= st->st_mtim.tv_nsec)))
        return 0; /* -u skips it */
    for (int j = s->prev; j >= 0; j = sn[j].prev)
        if (sn[j].made && sn[j].ddev == ds.st_dev && sn[j].dino == ds.st_ino) {
            clear_bar(u);
            fprintf(stderr, "ucp: will not overwrite just-created '%s' with '%s'\n", target, src);
            return -1;
        }
    return 0;
}

static intptr_t run(void *arg)
{
    struct ucp *u = arg;
    char **targets = NULL;
    struct seen *sn = NULL;
    if (u->dst_is_dir) {
        targets = calloc((size_t)u->nsrc, sizeof *targets);
        if (!targets) {
            fprintf(stderr, "ucp: copy: %s\n", strerror(ENOMEM));
            u->status = 1;
            return 0;
        }
        for (int i = 0; i < u->nsrc; i++)
            targets[i] = target_of(u, u->srcs[i]);
        if (u->nsrc > 1) sn = find_shared(targets, u->nsrc);
    }
    /* cp -a a b dir: what a and b have hard-linked stays so in dir. */
    if (u->nsrc > 1 && (u->o.flags & UCO_COPY_LINKS)) u->o.links = uco_copy_links_new();
    for (int i = 0; i < u->nsrc; i++) {
        const char *src = u->srcs[i];
        char *target = NULL;
        if (u->dst_is_dir) {
            target = targets[i];
            targets[i] = NULL;
            if (!target) {
                fprintf(stderr, "ucp: copy '%s': %s\n", src, strerror(ENOMEM));
                u->status = 1;
                continue;
            }
        }
        struct stat sst;
        if (sn && sn[i].shared) {
            stat_source(u, src, &sn[i], &sst);
            int c = shared_check(u, sn, i, src, target, &sst);
            if (c) {
                if (c < 0) u->status = 1;
                free(target);
                continue;
            }
        }
        /* Zeroed: a copy refused before it began (bad options, no memory) writes no stats. */
        uco_copy_stats st;
        memset(&st, 0, sizeof st);
        unsigned long reported = u->reported;
        int r = uco_copy(AT_FDCWD, src, AT_FDCWD, target ? target : u->dst, &u->o, &st);
        if (r < 0) u->status = 1;
        if (r < 0 && u->reported == reported) {
            /* Refused without a report of its own: still say what failed. */
            clear_bar(u);
            fprintf(stderr, "ucp: copy '%s': %s\n", src, strerror(-r));
        }
        u->total.bytes += st.bytes;
        u->total.bytes_total += st.bytes_total;
        u->total.files += st.files;
        u->total.dirs += st.dirs;
        u->total.symlinks += st.symlinks;
        u->total.hardlinks += st.hardlinks;
        u->total.specials += st.specials;
        u->total.files_total += st.files_total;
        if (sn && sn[i].shared && sn[i].have_src && !sn[i].dir && r == 0 && st.skipped == 0) {
            /* What this copy wrote, for the later sources with its target. */
            struct stat ds;
            if (lstat(target, &ds) == 0) {
                sn[i].made = true;
                sn[i].ddev = ds.st_dev;
                sn[i].dino = ds.st_ino;
            }
        }
        free(target);
    }
    uco_copy_links_free(u->o.links);
    u->o.links = NULL;
    free(sn);
    free(targets);
    return 0;
}

static int parse_count(const char *s, const char *opt, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || !*s || v == 0 || v > max) {
        fprintf(stderr, "ucp: invalid %s '%s' (1..%u)\n", opt, s, max);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end == 'K' || *end == 'k')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    if (*end == 'i') end++;
    if (*end == 'B') end++;
    if (errno || *end || !*s || v < (64u << 10) || v > (64u << 20) || (v & (v - 1))) {
        fprintf(stderr, "ucp: invalid chunk size '%s' (a power of two, 64K..64M)\n", s);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

enum {
    OPT_PROGRESS = 256,
    OPT_JOBS,
    OPT_WALKERS,
    OPT_QD,
    OPT_CHUNK,
    OPT_DIRECT,
    OPT_HELP,
    OPT_VERSION
};

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"archive", no_argument, NULL, 'a'},
        {"force", no_argument, NULL, 'f'},
        {"dereference", no_argument, NULL, 'L'},
        {"no-clobber", no_argument, NULL, 'n'},
        {"no-dereference", no_argument, NULL, 'P'},
        {"recursive", no_argument, NULL, 'r'},
        {"update", no_argument, NULL, 'u'},
        {"verbose", no_argument, NULL, 'v'},
        {"one-file-system", no_argument, NULL, 'x'},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"jobs", required_argument, NULL, OPT_JOBS},
        {"walkers", required_argument, NULL, OPT_WALKERS},
        {"queue-depth", required_argument, NULL, OPT_QD},
        {"chunk-size", required_argument, NULL, OPT_CHUNK},
        {"direct", no_argument, NULL, OPT_DIRECT},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    struct ucp u;
    memset(&u, 0, sizeof u);
    unsigned flags = 0;
    int deref = 0; /* 0: default, 'L', 'P', 'H' */
    int c;
    while ((c = getopt_long(argc, argv, "adfHLnPprRuvx", longopts, NULL)) != -1) {
        switch (c) {
        case 'a':
            flags |= UCO_COPY_ARCHIVE;
            deref = deref ? deref : 'P';
            break;
        case 'd':
            flags |= UCO_COPY_LINKS;
            deref = 'P';
            break;
        case 'f':
            flags |= UCO_COPY_FORCE;
            break;
        case 'H':
        case 'L':
        case 'P':
            deref = c;
            break;
        case 'n':
            flags |= UCO_COPY_NO_CLOBBER;
            break;
        case 'p':
            flags |= UCO_COPY_PRESERVE;
            break;
        case 'r':
        case 'R':
            flags |= UCO_COPY_RECURSIVE;
            break;
        case 'u':
            flags |= UCO_COPY_UPDATE;
            break;
        case 'v':
            u.verbose = true;
            break;
        case 'x':
            flags |= UCO_COPY_ONE_FS;
            break;
        case OPT_PROGRESS:
            u.progress = true;
            break;
        case OPT_JOBS:
            if (parse_count(optarg, "--jobs", 4096, &u.o.jobs)) return 1;
            break;
        case OPT_WALKERS:
            if (parse_count(optarg, "--walkers", 256, &u.o.walkers)) return 1;
            break;
        case OPT_QD:
            if (parse_count(optarg, "--queue-depth", 64, &u.o.queue_depth)) return 1;
            break;
        case OPT_CHUNK:
            if (parse_size(optarg, &u.o.chunk_size)) return 1;
            break;
        case OPT_DIRECT:
            flags |= UCO_COPY_DIRECT;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("ucp (uco) %s\n", uco_version());
            return 0;
        default:
            fputs("Try 'ucp --help' for more information.\n", stderr);
            return 1;
        }
    }
    /* Symlinks: cp follows them only when not recursive, unless told (-L, -P, -H). */
    if (deref == 'P' || (deref == 0 && (flags & UCO_COPY_RECURSIVE))) flags |= UCO_COPY_NO_DEREF;
    if (deref == 'H') flags |= UCO_COPY_NO_DEREF | UCO_COPY_DEREF_ROOT;
    if (deref == 'L') flags &= ~UCO_COPY_NO_DEREF;
    /* -n wins over -u and -f, as in cp. */
    if (flags & UCO_COPY_NO_CLOBBER) flags &= ~(UCO_COPY_UPDATE | UCO_COPY_FORCE);

    int nargs = argc - optind;
    if (nargs < 1) {
        fputs("ucp: missing file operand\nTry 'ucp --help' for more information.\n", stderr);
        return 1;
    }
    if (nargs < 2) {
        fprintf(stderr,
                "ucp: missing destination file operand after '%s'\n"
                "Try 'ucp --help' for more information.\n",
                argv[optind]);
        return 1;
    }
    u.srcs = argv + optind;
    u.nsrc = nargs - 1;
    u.dst = argv[argc - 1];
    struct stat st;
    int dst_err = stat(u.dst, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    u.dst_is_dir = dst_err == 0;
    if (u.nsrc > 1 && !u.dst_is_dir) {
        fprintf(stderr, "ucp: target '%s': %s\n", u.dst, strerror(dst_err));
        return 1;
    }

    /* The loop runs the copy alone: small files may be written from its thread (fs.h). */
    u.o.flags = flags | UCO_COPY_OWN_LOOP;
    u.o.on_error = on_error;
    u.o.error_arg = &u;
    if (u.verbose) {
        u.o.on_entry = on_entry;
        u.o.entry_arg = &u;
    }
    if (u.progress) {
        u.tty = isatty(2);
        u.o.on_progress = on_progress;
        u.o.progress_arg = &u;
    }
    /* Many files in flight need descriptors: take what the hard limit allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    uco_loop_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.sq_entries = 512;
    intptr_t r = uco_run(run, &u, &lo);
    if (r < 0) {
        char why[256];
        fprintf(stderr, "ucp: cannot start: %s\n%s\n", strerror((int)-r),
                uco_diagnose((int)r, why, sizeof why));
        return 1;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "ucp: write error: %s\n", strerror(errno));
        return 1;
    }
    return u.status;
}
