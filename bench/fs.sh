# Section "fs" of bench/run.sh: ucp against cp -a and rsync -a (bench/copy.sh), and the single
# file-system awaitables against their blocking calls (fs_ops). Sourced by run.sh. A full copy
# run takes about 40 minutes and needs root (drop_caches) and ~20 GiB free; --quick runs the
# small-files case once, warm only.

bench_section_fs() {
    bench_prog bench_fs_ops
    local args=(--ucp "$(dirname "$BENCH_BIN")/examples/ucp" --out "$BENCH_OUT/copy")
    [ "$BENCH_QUICK" = 1 ] && args+=(--reps 1 --cases small --modes warm --no-wait)
    bench_note ""
    "$BENCH_SRC/bench/copy.sh" "${args[@]}" 2>&1 | tee -a "$LOG"
    [ "${PIPESTATUS[0]}" = 0 ] || { bench_note "!! copy.sh failed"; FAILED=$((FAILED + 1)); }
}
