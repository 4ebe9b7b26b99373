#!/usr/bin/env bash
# Network benchmark runner: servers on CPU 0, load on CPU 1, paired alternating runs, the
# median of the per-round ratios. Prints one table per mode.
#
#   bench/net-bench.sh [--build DIR] [--secs S] [--rounds N] [--quick]
#                [--conns "50 500"] [--sizes "64 4096"]
#                [--server NAME=CMD]... [--http] [--http-server NAME=CMD]... [--no-echo]
#                [--server-quota PCT] [--rounds-out FILE]
#                [--http-paths "/plaintext /4k.bin ..."] [--http-root DIR]
#
# Echo mode (default): uco-echo against the raw-liburing and epoll echo baselines, driven by
# bench/echo-load (closed loop, every byte checked). HTTP mode (--http): nginx with one worker
# (bench/nginx-plaintext.conf) and any --http-server given (e.g. uco-httpd), driven by wrk on
# GET /plaintext (--http-paths: each path in turn, one table each). In CMD, {port} is replaced
# by the port to use and {root} by the --http-root directory, which nginx serves too (with
# sendfile, as a tuned nginx does; open_file_cache off, its default). The first server of a mode
# is the one compared with the others.
#
# Per server the table gives req/s, the server core's busy time per request ("core us", from
# /proc/stat of CPU 0 over the measured window: with one load core on this 2-core machine the
# client saturates before a good server does, and CPU per request still ranks servers then),
# the server process's own CPU time per request ("proc us", less disturbed by other work on
# CPU 0) and p99 latency. Ratios against the first server: eff = row's core time per request /
# first's (> 1: the first does more requests per CPU-second), eff-p the same with process
# time, thr = first's req/s / row's, p99 = row's p99 latency / first's (> 1: the first's tail
# is shorter); each the median of the per-round ratios. The last column, eff 95%, is a
# distribution-free 95 % confidence interval of eff's median (from 6 rounds up): where it holds
# 1.0, the run cannot tell the two servers' CPU per request apart.
#
# --rounds-out FILE appends every single run to FILE, one line each: config, server, round,
# req/s, core ns per request, p99 us, process ns per request.
#
# bench/net.sh runs it as the `net` section of bench/run.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=net.sh
# shellcheck source=bench/net-lib.sh
. "$here/net-lib.sh"
build=${UCO_BUILD:-$here/../build}
secs=5
rounds=5
conns="50 500"
sizes="64 4096"
echo_mode=1
http_mode=0
declare -a servers=() http_servers=()
quota=
rounds_out=
http_paths=/plaintext
http_root=

while [ $# -gt 0 ]; do
    case "$1" in
    --build) build=$2; shift 2 ;;
    --secs) secs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --quick) secs=1; rounds=2; shift ;;
    --server) servers+=("$2"); shift 2 ;;
    --http) http_mode=1; shift ;;
    --http-server) http_servers+=("$2"); http_mode=1; shift 2 ;;
    --no-echo) echo_mode=0; shift ;;
    --server-quota) quota=$2; shift 2 ;;
    --rounds-out) rounds_out=$2; shift 2 ;;
    --http-paths) http_paths=$2; http_mode=1; shift 2 ;;
    --http-root) http_root=$(cd "$2" && pwd); shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | grep -v '^set -e' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "net.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done

build=$(cd "$build" && pwd)
if [ ${#servers[@]} -eq 0 ]; then
    servers=("uco=$build/examples/uco-echo --port {port}"
             "raw-uring=$build/bench/echo-uring --port {port}"
             "epoll=$build/bench/echo-epoll --port {port}")
fi
load=$build/bench/echo-load
for f in "$load"; do
    [ -x "$f" ] || { echo "net.sh: $f is not built (cmake --build $build)" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
    echo "net.sh: needs 2 CPUs (server on CPU 0, load on CPU 1)" >&2
    exit 1
fi

tmp=$(mktemp -d /tmp/uco-net-bench.XXXXXX)
server_pid=
# --server-quota PCT: every server runs in a cgroup capped at PCT % of one CPU, the same cap
# for each, so that the server, not the one-core load generator, is what limits throughput
# (on a 2-core machine the client otherwise saturates first and req/s cannot rank servers).
cg=
if [ -n "$quota" ]; then
    if [ -d /sys/fs/cgroup/cpu ] && [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
        cg=/sys/fs/cgroup/cpu/uco-bench-$$
        mkdir "$cg" && echo 100000 >"$cg/cpu.cfs_period_us" && echo $((quota * 1000)) >"$cg/cpu.cfs_quota_us"
    elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        cg=/sys/fs/cgroup/uco-bench-$$
        mkdir "$cg" && echo "$((quota * 1000)) 100000" >"$cg/cpu.max"
    fi
    [ -n "$cg" ] && [ -d "$cg" ] || { echo "net.sh: --server-quota needs a cgroup cpu controller (and root)" >&2; exit 1; }
fi
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [ -n "$cg" ]; then rmdir "$cg" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# below the ephemeral range (32768+), where client sockets could hold the port
port=$((20000 + RANDOM % 10000))

# Busy and total jiffies of CPU 0.
cpu0() { awk '$1 == "cpu0" { print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }

# One echo run: prints "rps core_ns_per_req p99_us proc_ns_per_req".
run_echo() { # server-cmd conns size
    start_server "$1"
    local out
    out=$(taskset -c 1 "$load" --addr "127.0.0.1:$port" -c "$2" -s "$3" -d "$secs" --warmup 0.5 \
        --server-cpu 0 --server-pid "$server_pid") || { echo "net.sh: load failed: $out" >&2; exit 1; }
    stop_server
    echo "$out" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
        END { print v["rps"], v["server_ns_per_req"], v["p99_us"], v["server_proc_ns_per_req"] }'
}

# CPU ticks (user + system) of process $1.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# One HTTP run with wrk: prints "rps core_ns_per_req p99_us proc_ns_per_req".
run_http() { # server-cmd conns path
    start_server "${1//\{root\}/$http_root}"
    local b0 t0 b1 t1 p0 p1 out
    read -r b0 t0 < <(cpu0)
    p0=$(proc_ticks "$server_pid")
    out=$(taskset -c 1 wrk -t1 -c "$2" -d "${secs}s" --latency "http://127.0.0.1:$port$3") ||
        { echo "net.sh: wrk failed: $out" >&2; exit 1; }
    read -r b1 t1 < <(cpu0)
    p1=$(proc_ticks "$server_pid")
    stop_server
    local hz
    hz=$(getconf CLK_TCK)
    echo "$out" | awk -v busy=$((b1 - b0)) -v proc=$((p1 - p0)) -v hz="$hz" '
        function us(x) { if (x ~ /us$/) return x + 0; if (x ~ /ms$/) return x * 1000; if (x ~ /s$/) return x * 1e6; return x }
        /Requests\/sec:/ { rps = $2 } /^ +Requests\/sec/ { rps = $2 }
        $1 == "99%" { p99 = us($2) }
        /requests in/ { n = $1 }
        /Non-2xx/ { bad = 1 }
        END { if (bad) { print "nan nan nan nan"; exit }
              printf "%s %.0f %s %.0f\n", rps, (n > 0 ? busy / hz * 1e9 / n : 0), p99, (n > 0 ? proc / hz * 1e9 / n : 0) }'
}

# Runs every server of list $1 (name=cmd) for one config, alternating the order each round;
# prints the table rows.
bench_config() { # mode label conns size-or-path server...
    local mode=$1 label=$2 c=$3 s=$4
    shift 4
    local -a names=() cmds=()
    local spec
    for spec in "$@"; do names+=("${spec%%=*}"); cmds+=("${spec#*=}"); done
    local n=${#names[@]} r i k
    for r in $(seq "$rounds"); do
        for k in $(seq 0 $((n - 1))); do
            # forward on odd rounds, backward on even ones: drift hits everyone alike
            if [ $((r % 2)) -eq 1 ]; then i=$k; else i=$((n - 1 - k)); fi
            if [ "$mode" = echo ]; then
                run_echo "${cmds[$i]}" "$c" "$s" >"$tmp/r.$r.$i"
            else
                run_http "${cmds[$i]}" "$c" "$s" >"$tmp/r.$r.$i"
            fi
            if [ -n "$rounds_out" ]; then
                echo "$label ${names[$i]} $r $(cat "$tmp/r.$r.$i")" >>"$rounds_out"
            fi
        done
    done
    col() { for r in $(seq "$rounds"); do awk -v c="$2" '{print $c}' "$tmp/r.$r.$1"; done | median; }
    # the per-round ratios (baseline column a / first server's column b)
    ratios() {
        for r in $(seq "$rounds"); do paste "$tmp/r.$r.0" "$tmp/r.$r.$1" |
            awk -v a="$2" -v b="$3" '{ if ($b > 0) printf "%.4f\n", $a / $b }'; done
    }
    ratio() { ratios "$@" | median; }
    for i in $(seq 0 $((n - 1))); do
        local eff effp thr lat ci
        if [ "$i" -eq 0 ]; then
            eff="-" effp="-" thr="-" lat="-" ci="-"
        else
            eff=$(printf '%.2f' "$(ratio "$i" 6 2)")  # baseline core ns / first's
            effp=$(printf '%.2f' "$(ratio "$i" 8 4)") # baseline process ns / first's
            thr=$(printf '%.2f' "$(ratio "$i" 1 5)")  # first's req/s / baseline's
            lat=$(printf '%.2f' "$(ratio "$i" 7 3)")  # baseline p99 / first's
            ci=$(ratios "$i" 6 2 | median_ci | awk '$2 == "nan" { print "-"; next }
                { printf "%.2f-%.2f\n", $2, $3 }')
        fi
        printf '| %-12s | %-10s | %8.0f | %9.2f | %9.2f | %8.0f | %8s | %9s | %8s | %8s | %9s |\n' \
            "$label" "${names[$i]}" "$(col "$i" 1)" "$(col "$i" 2 | awk '{print $1/1000}')" \
            "$(col "$i" 4 | awk '{print $1/1000}')" "$(col "$i" 3)" "$eff" "$effp" "$thr" "$lat" "$ci"
    done
}

header() {
    local first=${2:0:8}
    echo
    echo "$1 (server on CPU 0, load on CPU 1; $rounds alternating rounds of ${secs}s; medians)"
    echo "core/proc us/req: busy time of CPU 0 / CPU time of the server process, per request."
    echo "eff = the row's core time per request / ${2}'s, i.e. ${2}'s requests per server-CPU-second"
    echo "relative to the row (eff-p: the same with process time); thr = ${2}'s req/s / the row's;"
    echo "p99 = the row's p99 latency / ${2}'s (> 1: ${2}'s tail is shorter)."
    echo "Ratios are medians of the per-round ratios; eff 95% = a distribution-free 95 % confidence"
    echo "interval of eff's median (order statistics of the per-round ratios; from 6 rounds up)."
    echo
    printf '| %-12s | %-10s | %8s | %9s | %9s | %8s | %8s | %9s | %8s | %8s | %9s |\n' config server \
        req/s "core us" "proc us" "p99 us" "eff" "eff-p" "thr" "p99" "eff 95%"
    echo "|--------------|------------|----------|-----------|-----------|----------|----------|-----------|----------|----------|-----------|"
}

echo "uco network benchmark: $(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
if [ "$echo_mode" -eq 1 ]; then
    header "Echo" "${servers[0]%%=*}"
    for c in $conns; do
        for s in $sizes; do
            bench_config echo "${c}c x ${s}B" "$c" "$s" "${servers[@]}"
        done
    done
fi

if [ "$http_mode" -eq 1 ]; then
    command -v wrk >/dev/null || { echo "net.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
    command -v nginx >/dev/null || { echo "net.sh: nginx is not installed (apt-get install nginx-light)" >&2; exit 1; }
    mkdir -p "$tmp/nginx"
    # nginx's config names its port: one config per run is written by the command below.
    cat >"$tmp/nginx-run" <<EOF
#!/bin/sh
sed -e "s|@PORT@|\$1|" -e "s|@DIR@|$tmp/nginx|" -e "s|@ROOT@|${http_root:-$tmp/nginx}|" \
    "$here/nginx-plaintext.conf" >"$tmp/nginx/nginx-\$1.conf"
exec nginx -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx-\$1.conf"
EOF
    chmod +x "$tmp/nginx-run"
    hs=("${http_servers[@]}" "nginx=$tmp/nginx-run {port}")
    for path in $http_paths; do
        case $path in
        /plaintext) ;;
        *) [ -n "$http_root" ] && [ -f "$http_root$path" ] ||
               { echo "net.sh: $path is no file under --http-root" >&2; exit 2; } ;;
        esac
        header "HTTP GET $path (wrk -t1)" "${hs[0]%%=*}"
        for c in $conns; do
            bench_config http "${c}c" "$c" "$path" "${hs[@]}"
        done
    done
fi
