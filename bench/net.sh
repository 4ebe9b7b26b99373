# Section "net" of bench/run.sh: the echo servers (uco-echo, raw liburing, epoll) in paired,
# alternating runs, through bench/net-bench.sh. Sourced by run.sh.

bench_section_net() {
    local args=(--build "$(dirname "$BENCH_BIN")")
    [ "$BENCH_QUICK" = 1 ] && args+=(--quick)
    bench_note ""
    "$BENCH_SRC/bench/net-bench.sh" "${args[@]}" 2>&1 | tee -a "$LOG"
    [ "${PIPESTATUS[0]}" = 0 ] || { bench_note "!! net-bench.sh failed"; FAILED=$((FAILED + 1)); }
}
