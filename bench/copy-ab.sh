#!/bin/bash
# bench/copy-ab.sh — paired comparison of copy commands (two ucp builds, ucp and cp -a, ...) on a
# fresh ext4 file system in memory, for deciding a change to the copy engine in minutes.
#
#   bench/copy-ab.sh [--reps N] [--tree DIR] [--size SIZE] [--fs-opts "MKFS OPTIONS"] \
#                    [--cold] [--img-dir DIR] NAME=CMD [NAME=CMD...]
#
# Each CMD gets SRC DST appended (e.g. "new=build/examples/ucp -a" "cp=cp -a"). Every run, for
# every command in turn (the order alternates: A B C, C B A, ...):
#   1. a new ext4 (default without a journal, like this VM's root) is made in a file in
#      --img-dir (default /dev/shm) and mounted through a loop device, and --tree (default:
#      the small-file tree of bench/copy.sh, made with bench/mktree.py when missing) is copied
#      into it with cp -a;
#   2. sync, drop caches, read the source once (warm cache; --cold: not read);
#   3. the command copies SRC to DST on that file system, timed by /usr/bin/time.
# A new file system per run means no writeback of an earlier copy lands in a later one and no
# recently deleted inodes slow the creates (docs/BENCHMARKS.md, "ext4 and recently deleted
# inodes"), and the disk is memory, so what is measured is the CPU work of the copy: the
# figures move less than bench/copy.sh's on the root file system, but they are not its
# figures (the disk is never waited for). With --img-dir on a disk and --cold the source is
# read from that disk (through the image file). Prints each command's median wall time and CPU time
# (user + system) with min and max, and the median of the per-round ratios to the first
# command. Needs root (mount, drop_caches).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
reps=6
tree=${UCO_BENCH_DIR:-/var/tmp/uco-bench-copy}/src-small
size=4G
fs_opts="-O ^has_journal"
cold=0
img_dir=/dev/shm
while [ $# -gt 0 ]; do
    case $1 in
    --reps) reps=$2; shift 2 ;;
    --tree) tree=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --fs-opts) fs_opts=$2; shift 2 ;;
    --cold) cold=1; shift ;;
    --img-dir) img_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "copy-ab.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "copy-ab.sh: give at least one NAME=CMD (see --help)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "copy-ab.sh: needs root (mount, drop_caches)" >&2; exit 2; }
for t in mkfs.ext4 losetup /usr/bin/time python3; do
    command -v "$t" >/dev/null || { echo "copy-ab.sh: $t not found" >&2; exit 2; }
done
if [ ! -d "$tree" ]; then
    case $tree in
    */src-small)
        echo "# making $tree (bench/mktree.py small)"
        mkdir -p "$(dirname "$tree")"
        python3 "$here/mktree.py" small "$tree" ;;
    *) echo "copy-ab.sh: tree $tree not found" >&2; exit 2 ;;
    esac
fi

names=() cmds=()
for a in "$@"; do
    [[ $a == *=* ]] || { echo "copy-ab.sh: '$a' is not NAME=CMD" >&2; exit 2; }
    names+=("${a%%=*}")
    cmds+=("${a#*=}")
done
n=${#names[@]}

work=$(mktemp -d "$img_dir/uco-copy-ab-XXXXXX")
mnt=$work/mnt
img=$work/fs.img
results=$work/results.txt
mkdir "$mnt"
cleanup() {
    mountpoint -q "$mnt" && umount "$mnt"
    rm -rf "$work"
}
trap cleanup EXIT

echo "# bench/copy-ab.sh  $(date -u +%FT%TZ)  $(uname -r)  $(nproc) cpus  tree $tree" \
    "($(find "$tree" | wc -l) entries)  ext4 $fs_opts in $img_dir  reps=$reps" \
    "$( ((cold)) && echo cold || echo warm)"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

one_run() { # index round
    local i=$1 r=$2
    rm -f "$img"
    truncate -s "$size" "$img"
    # shellcheck disable=SC2086 # word splitting of the mkfs options is wanted
    mkfs.ext4 -q -F $fs_opts "$img"
    mount -o loop "$img" "$mnt"
    cp -a "$tree" "$mnt/src"
    sync
    echo 3 >/proc/sys/vm/drop_caches
    ((cold)) || find "$mnt/src" -type f -print0 | xargs -0 cat >/dev/null
    local t
    # shellcheck disable=SC2086 # CMD is a command line
    t=$(/usr/bin/time -f "%e %U %S" ${cmds[$i]} "$mnt/src" "$mnt/dst" 2>&1 >/dev/null | tail -1)
    local ok=ok
    if ! diff -r --no-dereference "$mnt/src" "$mnt/dst" >/dev/null 2>&1; then ok=DIFFERENT; fi
    umount "$mnt"
    rm -f "$img"
    echo "$r $i $t $ok" >>"$results"
    # shellcheck disable=SC2086 # $t is three numbers
    printf '  round %d  %-12s wall %6s s  user %5s  sys %5s  %s\n' "$r" "${names[$i]}" $t "$ok"
}

for ((r = 0; r < reps; r++)); do
    if ((r % 2 == 0)); then order=$(seq 0 $((n - 1))); else order=$(seq $((n - 1)) -1 0); fi
    for i in $order; do one_run "$i" "$r"; done
done

echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$results" "${names[@]}" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = sys.argv[2:]
wall, cpu = {}, {}
for r, i, w, u, s, ok in rows:
    wall[(int(r), int(i))] = float(w)
    cpu[(int(r), int(i))] = float(u) + float(s)
rounds = sorted({k[0] for k in wall})
print(f"{'command':<12} {'wall s':>6} {'(min-max)':>13} {'cpu s':>6} {'(min-max)':>13} "
      f"{'wall ratio':>10} {'cpu ratio':>9}")
for i, name in enumerate(names):
    w = [wall[(r, i)] for r in rounds]
    c = [cpu[(r, i)] for r in rounds]
    # > 1: this command took longer than the first, in the median round.
    rw = statistics.median(wall[(r, i)] / wall[(r, 0)] for r in rounds)
    rc = statistics.median(cpu[(r, i)] / cpu[(r, 0)] for r in rounds)
    print(f"{name:<12} {statistics.median(w):6.2f} ({min(w):5.2f}-{max(w):5.2f}) "
          f"{statistics.median(c):6.2f} ({min(c):5.2f}-{max(c):5.2f}) {rw:10.2f} {rc:9.2f}")
bad = [l for l in rows if l[5] != "ok"]
if bad:
    print(f"# {len(bad)} runs gave a copy that differs from the source (diff -r)")
    sys.exit(1)
EOF
