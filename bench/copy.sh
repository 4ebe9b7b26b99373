#!/bin/bash
# bench/copy.sh — ucp against cp -a and rsync -a, in the same run, on the same trees.
#
#   bench/copy.sh [--reps N] [--cases small,big,mixed] [--modes warm,cold] [--dir DIR]
#                 [--ucp PATH] [--out DIR] [--settle SECONDS] [--ucp-args "ARGS"]
#
# Cases: (a) big: one 1 GiB file; (b) small: 50,000 files of 0-16 KiB in 1,260 directories;
# (c) mixed: small files, medium and large ones, sparse files, links (bench/mktree.py).
# Modes: warm (the source was read once after dropping caches) and cold (caches dropped).
#
# Every timed run starts from the same state: `sync; echo 3 > /proc/sys/vm/drop_caches`
# (then, warm, the source is read once), so the writeback of the previous copy does not land in
# the next one. The tools take turns (A B C, B C A, C A B, ...) and medians are reported with
# min and max; peak RSS comes from /usr/bin/time. Needs root for drop_caches (without it only
# warm runs are made, after a sync, and the output says so).
#
# Destinations of a case are kept until the case is over: on ext4, creating files within
# minutes after deleting many others makes every create scan the recently-deleted inodes
# (ext4's recently_deleted(); 20x slower creates here, see docs/BENCHMARKS.md "File copy"),
# so each run would pay for the previous run's cleanup. For the same reason a case with many
# files waits until 6 minutes have passed since the copies of the previous one were deleted
# (--no-wait skips that), and --settle waits before starting, if many files were deleted on
# this file system just before. The one big file is deleted after each run (one inode).
#
# Results: a table on stdout, results.csv and copy.svg (gnuplot) in --out
# (default bench/results/copy-<date>/). Hook for bench/run.sh: `bench/copy.sh "$@"`
# as its fs section, with UCP=<build>/examples/ucp in the environment or --ucp.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
reps=5
cases=small,big,mixed
modes=warm,cold
dir=${UCO_BENCH_DIR:-/var/tmp/uco-bench-copy}
ucp=${UCP:-}
out=""
settle=0
wait_deleted=1
ucp_args=""
while [ $# -gt 0 ]; do
    case $1 in
    --reps) reps=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --ucp) ucp=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --settle) settle=$2; shift 2 ;;
    --no-wait) wait_deleted=0; shift ;;
    --ucp-args) ucp_args=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "copy.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
if [ -z "$ucp" ]; then
    for c in "$here/../build/examples/ucp" "$(command -v ucp || true)"; do
        if [ -n "$c" ] && [ -x "$c" ]; then ucp=$c; break; fi
    done
fi
[ -x "$ucp" ] || { echo "copy.sh: ucp not found (build it, or pass --ucp PATH)" >&2; exit 2; }
for tool in cp rsync python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "copy.sh: '$tool' is needed (apt-get install rsync time python3)" >&2; exit 2; }
done
out=${out:-$here/results/copy-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out" "$dir"
csv=$out/results.csv

can_drop=1
if ! (echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null; then
    can_drop=0
    echo "copy.sh: cannot drop caches (not root?): warm runs only, after sync" >&2
    modes=warm
fi

# Space: a case's copies stay until it is over (about 0.5 GiB per copy of the small or mixed
# tree), plus the sources.
need_gb=$(( reps * 2 * 3 / 2 + 4 ))
avail_gb=$(df -Pk "$dir" | awk 'NR==2 { print int($4 / 1048576) }')
if [ "$avail_gb" -lt "$need_gb" ]; then
    echo "copy.sh: about ${need_gb} GiB free needed in $dir, ${avail_gb} GiB there (use --reps, --cases or --dir)" >&2
    exit 2
fi

echo "# bench/copy.sh  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(uname -r)  $(nproc) cpus  $(findmnt -no FSTYPE -T "$dir") at $dir"
echo "# ucp: $ucp $ucp_args ($("$ucp" --version))  cp: $(cp --version | head -1)  rsync: $(rsync --version | head -1 | awk '{print $3}')"
echo "# reps=$reps cases=$cases modes=$modes"
echo "case,mode,tool,rep,seconds,user,sys,maxrss_kib,status" > "$csv"

if [ "$settle" -gt 0 ]; then
    echo "# settling ${settle}s (recently deleted inodes, see the header of this script)"
    sleep "$settle"
fi

# Source trees, made once and kept between runs of this script.
for c in ${cases//,/ }; do
    if [ ! -e "$dir/src-$c/.complete" ]; then
        rm -rf "$dir/src-$c"
        echo "# making the $c tree in $dir/src-$c"
        python3 "$here/mktree.py" "$c" "$dir/src-$c"
        touch "$dir/src-$c/.complete"
    fi
done

drop() {
    sync
    if [ $can_drop = 1 ]; then echo 3 > /proc/sys/vm/drop_caches; fi
}

warm_up() { # reads the whole source once
    find "$1" -type f -print0 | xargs -0 -r cat > /dev/null
}

run_one() { # case mode tool rep
    local c=$1 m=$2 tool=$3 rep=$4 src=$dir/src-$1 dst=$dir/dst-$1-$2-$3-$4
    rm -rf "$dst"
    drop
    if [ "$m" = warm ]; then warm_up "$src"; fi
    local cmd
    case $tool in
    ucp) cmd=("$ucp" -a $ucp_args "$src" "$dst") ;;
    cp) cmd=(cp -a "$src" "$dst") ;;
    rsync) cmd=(rsync -a "$src/" "$dst") ;;
    esac
    local tf=$out/time.tmp st=0
    /usr/bin/time -f "%e %U %S %M" -o "$tf" "${cmd[@]}" > /dev/null 2> "$out/stderr.tmp" || st=$?
    if [ $st != 0 ]; then
        echo "copy.sh: $tool failed ($st) on $c/$m:" >&2
        head -5 "$out/stderr.tmp" >&2
    fi
    read -r secs user sys rss < <(tail -1 "$tf")
    echo "$c,$m,$tool,$rep,$secs,$user,$sys,$rss,$st" >> "$csv"
    printf '  %-6s %-5s %-6s rep %d: %7.2f s  (user %5.2f sys %6.2f)  peak RSS %6d KiB%s\n' \
        "$c" "$m" "$tool" "$rep" "$secs" "$user" "$sys" "$rss" "$([ $st = 0 ] || echo "  FAILED")"
}

tools=(ucp cp rsync)
deleted_at=0
for c in ${cases//,/ }; do
    if [ "$c" != big ] && [ $wait_deleted = 1 ] && [ $deleted_at -gt 0 ]; then
        left=$(( deleted_at + 360 - $(date +%s) ))
        if [ $left -gt 0 ]; then
            echo "# waiting ${left}s: the previous case's files were deleted less than 6 minutes ago"
            sleep $left
        fi
    fi
    for m in ${modes//,/ }; do
        for rep in $(seq 1 "$reps"); do
            # Rotate the order: A B C, B C A, C A B, ...
            for k in 0 1 2; do
                t=${tools[$(( (rep - 1 + k) % 3 ))]}
                run_one "$c" "$m" "$t" "$rep"
                # One file: deleting it costs the next run nothing. Keep rep 1 for the check.
                if [ "$c" = big ] && [ "$rep" -gt 1 ]; then rm -rf "$dir/dst-$c-$m-$t-$rep"; fi
            done
        done
        # Same result as cp? (a cheap check: the same names, sizes and link targets)
        if ! diff <(cd "$dir/dst-$c-$m-cp-1" && find . -printf '%p %s %l\n' | sort) \
                  <(cd "$dir/dst-$c-$m-ucp-1" && find . -printf '%p %s %l\n' | sort) > /dev/null; then
            echo "copy.sh: WARNING: ucp's copy of $c differs from cp's" >&2
        fi
    done
    rm -rf "$dir"/dst-"$c"-*
    sync
    [ "$c" = big ] || deleted_at=$(date +%s)
done
rm -f "$out/time.tmp" "$out/stderr.tmp"

# Medians and ratios.
python3 - "$csv" "$out" <<'EOF'
import csv, statistics, sys, os
rows = list(csv.DictReader(open(sys.argv[1])))
out = sys.argv[2]
res = {}
for r in rows:
    if r["status"] != "0":
        continue
    res.setdefault((r["case"], r["mode"], r["tool"]), []).append((float(r["seconds"]), int(r["maxrss_kib"])))
keys = sorted({(c, m) for c, m, _ in res}, key=lambda k: (["big", "small", "mixed"].index(k[0]) if k[0] in ("big", "small", "mixed") else 9, k[1]))
print("\n| case | mode | ucp s (min-max) | cp -a s | rsync -a s | cp/ucp | rsync/ucp | ucp peak RSS |")
print("|---|---|---|---|---|---|---|---|")
plot = open(os.path.join(out, "plot.dat"), "w")
for c, m in keys:
    med = {}
    cell = {}
    for t in ("ucp", "cp", "rsync"):
        v = [s for s, _ in res.get((c, m, t), [])]
        if v:
            med[t] = statistics.median(v)
            cell[t] = "%.2f (%.2f-%.2f)" % (med[t], min(v), max(v))
        else:
            cell[t] = "-"
    rss = max((k for _, k in res.get((c, m, "ucp"), [(0, 0)])), default=0)
    r1 = "%.2fx" % (med["cp"] / med["ucp"]) if "cp" in med and "ucp" in med else "-"
    r2 = "%.2fx" % (med["rsync"] / med["ucp"]) if "rsync" in med and "ucp" in med else "-"
    print("| %s | %s | %s | %s | %s | %s | %s | %.1f MiB |" % (c, m, cell["ucp"], cell["cp"], cell["rsync"], r1, r2, rss / 1024))
    plot.write('"%s %s" %s %s %s\n' % (c, m, med.get("ucp", 0), med.get("cp", 0), med.get("rsync", 0)))
plot.close()
EOF
if command -v gnuplot > /dev/null; then
    # Speed against cp -a (cp's median time / the tool's): 1 is cp, higher is faster.
    gnuplot <<EOF
set terminal svg size 760,420 font "sans,12"
set output "$out/copy.svg"
set title "Copy speed against cp -a (median of $reps; higher is faster)"
set ylabel "cp -a time / tool time"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top left
set grid ytics
set yrange [0:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 2
plot "$out/plot.dat" using (\$3/\$2):xtic(1) title "ucp -a", '' using (\$3/\$4) title "rsync -a"
EOF
    echo "# plot: $out/copy.svg"
fi
echo "# results: $csv"
