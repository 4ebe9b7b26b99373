#!/usr/bin/env bash
# Where an echo server's CPU goes per request, split into user space and kernel, by sampling:
# each server runs on CPU 0 under bench/echo-load (CPU 1), `perf record -e cpu-clock` samples
# it for the middle of the run, and the samples outside the kernel x the sample period / the
# requests answered give the user-space time per request. On this VM req/s and core time move
# by +-20 % between runs while this figure stays put, so it shows a change of a few percent of
# a server's CPU that the paired runs of net-bench.sh cannot.
#
#   bench/net-profile.sh [--build DIR] [--conns N] [--size B] [--rounds N] [--secs S]
#                        [--top N] [NAME=CMD...]
#
# CMD as in net-bench.sh ({port} is replaced); without any, uco-echo, the raw-liburing and the
# epoll echo servers of --build. The servers take turns, --rounds times (default
# 4); each run prints its figures, then the medians per server. --top N also prints the N
# user-space functions with the most samples in each run (to see where a stall sits).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=net-profile.sh
# shellcheck source=bench/net-lib.sh
. "$here/net-lib.sh"
build=${UCO_BUILD:-$here/../build}
conns=500
size=64
rounds=4
secs=4
top=0
declare -a servers=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --secs) secs=$2; shift 2 ;;
    --top) top=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | grep -v '^set -e' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "net-profile.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) servers+=("$1"); shift ;;
    esac
done
if [ ${#servers[@]} -eq 0 ]; then # uco-echo and its two baselines, as net-bench.sh
    servers=("uco=$build/examples/uco-echo --port {port}"
             "raw-uring=$build/bench/echo-uring --port {port}"
             "epoll=$build/bench/echo-epoll --port {port}")
fi
command -v perf >/dev/null || { echo "net-profile.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
load=$build/bench/echo-load
[ -x "$load" ] || { echo "net-profile.sh: $load not found (build first, or --build DIR)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/uco-net-profile.XXXXXX)
server_pid=
cg=
cleanup() {
    if [ -n "$server_pid" ]; then stop_server; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
port=$((20000 + RANDOM % 10000))

# One run: writes "rps user_us_per_req kernel_us_per_req user_percent" to $tmp/result.
run_one() { # server command
    start_server "$1"
    # The load runs for secs + 3 s; the samples cover secs seconds from its second second on.
    local total=$((secs + 3))
    taskset -c 1 "$load" --addr "127.0.0.1:$port" -c "$conns" -s "$size" -d "$total" \
        --warmup 0.5 >"$tmp/load.out" 2>&1 &
    local load_pid=$!
    sleep 2
    perf record -q -e cpu-clock -F 4000 -g -o "$tmp/perf.data" -p "$server_pid" -- sleep "$secs" \
        >/dev/null 2>&1
    wait "$load_pid" || { echo "net-profile.sh: echo-load failed:" >&2; cat "$tmp/load.out" >&2; exit 1; }
    stop_server
    local rps
    rps=$(grep -o 'rps=[0-9]*' "$tmp/load.out" | cut -d= -f2)
    perf report -i "$tmp/perf.data" --no-children --sort dso -F overhead,sample,dso -g none \
        2>/dev/null | grep '%' | awk -v rps="$rps" -v secs="$secs" '
        { tot += $2; if ($3 !~ /kernel/) user += $2 }
        END { req = rps * secs; if (req == 0 || tot == 0) { print "0 0 0 0"; exit }
              printf "%d %.3f %.3f %.2f\n", rps, user * 250 / req, (tot - user) * 250 / req,
                     100 * user / tot }' >"$tmp/result"
    if [ "$top" -gt 0 ]; then
        perf report -i "$tmp/perf.data" --no-children --sort sym -g none 2>/dev/null |
            grep '\[\.\]' | head -n "$top" | awk '{ printf "      %-8s %s\n", $1, $3 }' >"$tmp/top"
    fi
}

echo "echo server CPU per request by perf sampling: ${conns} connections x ${size} B, server on CPU 0,"
echo "load on CPU 1, ${secs} s sampled per run, $rounds alternating rounds; $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-12s %5s %9s %13s %15s %7s\n' server round req/s "user us/req" "kernel us/req" "user %"
n=${#servers[@]}
for r in $(seq "$rounds"); do
    for k in $(seq 0 $((n - 1))); do
        if [ $((r % 2)) -eq 1 ]; then i=$k; else i=$((n - 1 - k)); fi
        name=${servers[$i]%%=*}
        run_one "${servers[$i]#*=}"
        read -r rps u kern pct <"$tmp/result"
        echo "$name $u $kern $pct" >>"$tmp/all"
        printf '%-12s %5d %9d %13s %15s %7s\n' "$name" "$r" "$rps" "$u" "$kern" "$pct"
        if [ "$top" -gt 0 ]; then cat "$tmp/top"; fi
    done
done
echo
echo "medians:"
for spec in "${servers[@]}"; do
    name=${spec%%=*}
    printf '%-12s user %s us/req, kernel %s us/req, user share %s %%\n' "$name" \
        "$(awk -v s="$name" '$1 == s { print $2 }' "$tmp/all" | median)" \
        "$(awk -v s="$name" '$1 == s { print $3 }' "$tmp/all" | median)" \
        "$(awk -v s="$name" '$1 == s { print $4 }' "$tmp/all" | median)"
done
