# Section "net" of bench/run.sh: the echo servers (uco-echo, raw liburing, epoll), then
# uco-httpd against nginx with one worker on GET /plaintext (wrk, 100 and 500 connections), in
# paired, alternating runs through bench/net-bench.sh; static files of 4 KiB, 64 KiB and 1 MiB
# from both (no target: for the record); then the idle keep-alive connections uco-httpd holds
# in 1 GiB (bench/idle-conns --http). Sourced by run.sh.

bench_section_net() {
    local build
    build=$(dirname "$BENCH_BIN")
    local args=(--build "$build")
    [ "$BENCH_QUICK" = 1 ] && args+=(--quick)
    bench_note ""
    "$BENCH_SRC/bench/net-bench.sh" "${args[@]}" 2>&1 | tee -a "$LOG"
    [ "${PIPESTATUS[0]}" = 0 ] || { bench_note "!! net-bench.sh failed"; FAILED=$((FAILED + 1)); }
    net_http "$build" "${args[@]}"
    net_http_static "$build" "${args[@]}"
    net_idle_http "$build"
}

# uco-httpd against nginx; TARGET lines from the table: throughput and requests per
# server-CPU-second (eff) at least 1.2x nginx's, p99 latency no worse.
net_http() {
    local build=$1
    shift
    bench_note ""
    if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
        bench_note "TARGET [N/A] uco-httpd /plaintext vs nginx: wrk or nginx is not installed"
        return 0
    fi
    local out=$BENCH_OUT/net-http.txt
    "$BENCH_SRC/bench/net-bench.sh" "$@" --no-echo --conns "100 500" \
        --http-server "uco-httpd=$build/examples/uco-httpd --port {port}" 2>&1 | tee "$out" |
        tee -a "$LOG"
    if [ "${PIPESTATUS[0]}" != 0 ]; then
        bench_note "!! net-bench.sh --http failed"
        FAILED=$((FAILED + 1))
        return 1
    fi
    # rows: | config | server | req/s | core us | proc us | p99 us | eff | eff-p | thr | p99 |
    # (ratios: medians of the per-round ratios; p99 = nginx's p99 / uco-httpd's in each round)
    awk -F'|' '
        function trim(s) { gsub(/^ +| +$/, "", s); return s }
        trim($3) == "nginx" {
            c = trim($2); eff = trim($8) + 0; thr = trim($10) + 0; lat = trim($11) + 0
            ok = eff >= 1.2 && thr >= 1.2 && lat >= 1.0
            printf "TARGET [%s] uco-httpd /plaintext %s vs nginx (1 worker): >= 1.2x req/s and " \
                   "req per server-CPU-second, p99 no worse: %.2fx req/s, %.2fx per CPU-s, " \
                   "nginx p99 / uco-httpd p99 %.2f\n", ok ? "MET" : "MISSED", c, thr, eff, lat
        }' "$out" | tee -a "$LOG"
}

# Static files, uco-httpd against nginx (sendfile on), 100 connections: figures, no target.
net_http_static() {
    local build=$1
    shift
    command -v wrk >/dev/null && command -v nginx >/dev/null || return 0
    local root
    root=$(mktemp -d /tmp/uco-bench-www.XXXXXX)
    head -c 4096 /dev/urandom >"$root/4k.bin"
    head -c 65536 /dev/urandom >"$root/64k.bin"
    head -c 1048576 /dev/urandom >"$root/1m.bin"
    bench_note ""
    "$BENCH_SRC/bench/net-bench.sh" "$@" --no-echo --conns 100 --http-root "$root" \
        --http-paths "/4k.bin /64k.bin /1m.bin" \
        --http-server "uco-httpd=$build/examples/uco-httpd --port {port} --root {root}" 2>&1 |
        tee "$BENCH_OUT/net-http-static.txt" | tee -a "$LOG"
    [ "${PIPESTATUS[0]}" = 0 ] || { bench_note "!! net-bench.sh (static files) failed"; FAILED=$((FAILED + 1)); }
    rm -rf "$root"
}

# 100,000 idle keep-alive connections (each served one request) within 1 GiB of RSS.
net_idle_http() {
    local build=$1 n=100000 out=$BENCH_OUT/net-idle-http.txt
    [ "$BENCH_QUICK" = 1 ] && n=10000
    bench_note ""
    bench_note "== idle keep-alive connections held by uco-httpd (bench/idle-conns --http)"
    "$BENCH_BIN/idle-conns" -n "$n" --http -- "$build/examples/uco-httpd" --port '{port}' 2>&1 |
        tee "$out" | tee -a "$LOG"
    local rc=${PIPESTATUS[0]}
    local mib
    mib=$(awk '/scaled to/ { v = $(NF-3) } /with them/ && !v { for (i = 1; i <= NF; i++)
              if ($i == "MiB" && $(i+1) == "with") w = $(i-1) } END { print v ? v : w }' "$out")
    printf 'TARGET [%s] uco-httpd holds %d idle keep-alive connections in 1 GiB: %s MiB\n' \
        "$([ "$rc" = 0 ] && echo MET || echo MISSED)" "$n" "${mib:-?}" | tee -a "$LOG"
    [ "$rc" = 0 ] || FAILED=$((FAILED + 1))
}
