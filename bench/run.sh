#!/usr/bin/env bash
# bench/run.sh — builds and runs uco's benchmarks, section by section, and prints each result
# beside its baseline measured in the same run, the ratios, and whether each target was met.
#
#   bench/run.sh [options] [all | SECTION...]        (default: all)
#
# A section is a file bench/<name>.sh defining a function bench_section_<name> (core, and
# later fs, net, http); `all` runs every section present. Options:
#   --quick          a few seconds per section: checks that everything works (noisy figures)
#   --build DIR      build directory (default: build-bench in the source tree)
#   --no-build       use the programs already built in DIR
#   --out DIR        where results.tsv, log.txt and plots go (default: DIR/bench-results)
#   --cpu N          pin the benchmarks to CPU N (default: the last CPU; -1: no pinning)
#   --no-callgrind   skip the instruction counts (valgrind --tool=callgrind)
#   --list           list the sections and exit
#
# Helpers for section files: bench_prog NAME [ARGS] runs build/bench/NAME with the common flags
# (--quick, --cpu, --tsv); bench_callgrind NAME [ARGS] runs it once under callgrind in count
# mode and prints instructions per operation; bench_note TEXT prints a line to the log. The
# last lines of the run collect every "TARGET" line the programs printed.
set -u -o pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$SRC/build-bench
OUT=
QUICK=0
DO_BUILD=1
CALLGRIND=1
CPU=
SECTIONS=()

die() {
    echo "bench/run.sh: $*" >&2
    exit 2
}

all_sections() {
    local f
    for f in "$SRC"/bench/*.sh; do
        # a section file defines bench_section_<its name>; other scripts are helpers
        grep -q "^bench_section_$(basename "$f" .sh)()" "$f" && basename "$f" .sh
    done
}

while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --build) [ $# -ge 2 ] || die "--build needs a directory"; BUILD=$2; shift ;;
    --no-build) DO_BUILD=0 ;;
    --out) [ $# -ge 2 ] || die "--out needs a directory"; OUT=$2; shift ;;
    --cpu) [ $# -ge 2 ] || die "--cpu needs a number"; CPU=$2; shift ;;
    --no-callgrind) CALLGRIND=0 ;;
    --list) all_sections; exit 0 ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    all) mapfile -t SECTIONS < <(all_sections) ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -f "$SRC/bench/$1.sh" ] || die "no section '$1' (sections: $(all_sections | tr '\n' ' '))"
       SECTIONS+=("$1") ;;
    esac
    shift
done
[ ${#SECTIONS[@]} -gt 0 ] || mapfile -t SECTIONS < <(all_sections)
[ -n "$OUT" ] || OUT=$BUILD/bench-results
BENCH_BIN=$BUILD/bench
BENCH_QUICK=$QUICK
BENCH_OUT=$OUT
BENCH_SRC=$SRC
export BENCH_BIN BENCH_QUICK BENCH_OUT BENCH_SRC

if [ "$DO_BUILD" = 1 ]; then
    # What the benchmarks and their baselines need (Debian 12, as root): the build itself,
    # boost.context and libuv (switch and worker-pool baselines), Debian's http-parser (HTTP
    # parse baseline), nginx and wrk (HTTP), rsync (file copy), valgrind (instruction counts),
    # gnuplot (plots), util-linux (taskset), time (peak RSS).
    . "$SRC/scripts/lib.sh"
    need_pkgs "${BUILD_PKGS[@]}" "${BENCH_PKGS[@]}" || die "could not install the benchmark dependencies"
    gen=()
    command -v ninja >/dev/null && [ ! -f "$BUILD/CMakeCache.txt" ] && gen=(-G Ninja)
    echo "== building the benchmarks in $BUILD"
    cmake -S "$SRC" -B "$BUILD" "${gen[@]}" -DUCO_BUILD_BENCH=ON -DUCO_BUILD_TESTS=OFF \
        >"$BUILD.configure.log" 2>&1 || { cat "$BUILD.configure.log"; die "cmake configure failed"; }
    cmake --build "$BUILD" -j2 >"$BUILD.build.log" 2>&1 || { tail -40 "$BUILD.build.log"; die "build failed"; }
    rm -f "$BUILD.configure.log" "$BUILD.build.log"
fi
[ -d "$BENCH_BIN" ] || die "$BENCH_BIN: no benchmarks built (drop --no-build)"

mkdir -p "$OUT" || die "cannot create $OUT"
TSV=$OUT/results.tsv
LOG=$OUT/log.txt
: >"$TSV"
: >"$LOG"
FAILED=0

COMMON=()
[ "$QUICK" = 1 ] && COMMON+=(--quick)
[ -n "$CPU" ] && COMMON+=(--cpu "$CPU")

bench_note() {
    echo "$*" | tee -a "$LOG"
}

bench_prog() {
    local name=$1
    shift
    if [ ! -x "$BENCH_BIN/$name" ]; then
        bench_note "!! $name was not built"
        FAILED=$((FAILED + 1))
        return 1
    fi
    bench_note ""
    "$BENCH_BIN/$name" "${COMMON[@]}" --tsv "$TSV" "$@" 2>&1 | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" != 0 ]; then
        bench_note "!! $name exited with status $rc"
        FAILED=$((FAILED + 1))
    fi
    return "$rc"
}

# Instructions per operation: the program marks its steady state with callgrind client
# requests (zero, then dump "<key> ops=N"); each dump's summary is divided by N.
bench_callgrind() {
    local name=$1
    shift
    if [ "$CALLGRIND" = 0 ]; then return 0; fi
    if ! command -v valgrind >/dev/null; then
        bench_note "   (instruction counts skipped: valgrind is not installed)"
        return 0
    fi
    local dir
    dir=$(mktemp -d "$OUT/callgrind.XXXXXX") || return 1
    local args=(--count --tsv /dev/null)
    [ -n "$CPU" ] && args+=(--cpu "$CPU")
    if ! timeout -k 5 300 valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
        "$BENCH_BIN/$name" "${args[@]}" "$@" >"$dir/stdout" 2>"$dir/stderr"; then
        bench_note "!! $name under callgrind failed:"
        tail -5 "$dir/stderr" | tee -a "$LOG"
        FAILED=$((FAILED + 1))
        return 1
    fi
    local f desc ops ir key
    for f in "$dir"/cg.out.*; do
        [ -e "$f" ] || continue
        desc=$(sed -n 's/^desc: Trigger: Client Request: //p' "$f")
        ir=$(sed -n 's/^summary: //p' "$f")
        key=${desc% ops=*}
        ops=${desc##* ops=}
        [ -n "$ir" ] && [ -n "$ops" ] && [ "$ops" != 0 ] || continue
        awk -v k="$key" -v ir="$ir" -v ops="$ops" 'BEGIN {
            printf "  %-28s %10.1f instructions/op   (%d ops)\n", k, ir / ops, ops }' | tee -a "$LOG"
        printf '%s\t%s.instr\t%s\tinstr/op\n' "$name" "$key" \
            "$(awk -v ir="$ir" -v ops="$ops" 'BEGIN { printf "%.1f", ir / ops }')" >>"$TSV"
    done
    rm -rf "$dir"
}

bench_note "uco benchmarks: $(date -u '+%Y-%m-%d %H:%M UTC'), sections: ${SECTIONS[*]}$([ "$QUICK" = 1 ] && echo ' (quick)')"
bench_note "machine: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}'), Linux $(uname -r)"
bench_note "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

for s in "${SECTIONS[@]}"; do
    # shellcheck source=/dev/null
    . "$SRC/bench/$s.sh"
    bench_note ""
    bench_note "######## section $s"
    "bench_section_$s"
done

bench_note ""
bench_note "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_note "######## targets"
grep '^TARGET' "$LOG" >"$OUT/targets.txt"
cat "$OUT/targets.txt"
cat "$OUT/targets.txt" >>"$LOG"
met=$(grep -c '^TARGET \[MET\]' "$OUT/targets.txt")
missed=$(grep -c '^TARGET \[MISSED\]' "$OUT/targets.txt")
na=$(grep -c '^TARGET \[N/A\]' "$OUT/targets.txt")
bench_note "targets: $met met, $missed missed, $na not measurable here; results in $OUT"
if [ "$FAILED" != 0 ]; then
    bench_note "$FAILED benchmark program(s) failed"
    exit 1
fi
exit 0
