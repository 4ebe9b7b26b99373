# Section "core" of bench/run.sh: the core runtime (async/, uring/). Sourced by run.sh, which
# provides bench_prog, bench_callgrind, bench_note and $BENCH_QUICK, $BENCH_OUT, $BENCH_SRC.

bench_section_core() {
    local inflight=1,4,16,64,256
    [ "$BENCH_QUICK" = 1 ] && inflight=1,64
    bench_prog bench_switch
    bench_prog bench_nop --inflight "$inflight"
    bench_prog bench_spawn
    bench_prog bench_work
    bench_prog bench_idle
    bench_prog bench_sync

    bench_note ""
    bench_note "== instructions per operation (callgrind: user space only, kernel excluded;"
    bench_note "   exact and repeatable even on a busy machine)"
    bench_callgrind bench_switch
    bench_callgrind bench_nop --inflight 1,64
    bench_callgrind bench_spawn
    # (the queue and pipe baselines block in futex/read: valgrind runs one thread at a time)
    bench_callgrind bench_sync --only chan,chan0,uco,pthread
    # uco_work is left out: under valgrind (3.19) a thread blocked in io_uring_enter keeps
    # valgrind's thread lock, so the pool thread never runs and the run hangs.
    bench_callgrind bench_work --only handoff,libuv

    core_plot
}

# Two pictures from results.tsv: time per operation of uco and its baselines (log scale), and
# awaited-NOP throughput against the number in flight.
core_plot() {
    if ! command -v gnuplot >/dev/null; then
        bench_note "(no plots: gnuplot is not installed)"
        return 0
    fi
    local tsv=$BENCH_OUT/results.tsv data=$BENCH_OUT/core-ops.dat nops=$BENCH_OUT/core-nop.dat
    # label, ns per op, colour group (0 = uco, 1 = baseline), value as text
    awk -F'\t' '
        function add(key, label, uco,   t) {
            if (!(key in v)) return
            t = v[key] < 1000 ? sprintf("%.3g ns", v[key]) : sprintf("%.3g µs", v[key] / 1000)
            printf "\"%s\" %s %d \"%s\"\n", label, v[key], uco, t
        }
        { v[$2] = $3 }
        END {
            add("switch.uco_ctx.ns", "uco switch", 0)
            add("switch.boost.ns", "boost jump_fcontext", 1)
            add("switch.uco_yield.ns", "uco_yield", 0)
            add("switch.swapcontext.ns", "swapcontext", 1)
            add("nop64.uco.ns", "uco NOP, 64 tasks", 0)
            add("nop64.raw.ns", "liburing NOP, 64", 1)
            add("spawn.uco.ns", "uco spawn+join", 0)
            add("spawn.pthread.ns", "pthread create+join", 1)
            add("work.uco.ns", "uco_work", 0)
            add("work.handoff.ns", "condvar handoff", 1)
            add("work.libuv.ns", "uv_queue_work", 1)
        }' "$tsv" >"$data"
    # in flight, uco M NOPs/s, raw M NOPs/s
    awk -F'\t' '
        $2 ~ /^nop[0-9]+\.(uco|raw)\.ns$/ {
            split($2, p, "."); k = substr(p[1], 4) + 0
            if (p[2] == "uco") u[k] = 1e3 / $3; else r[k] = 1e3 / $3
            ks[k] = 1
        }
        END { for (k in ks) printf "%d %.4f %.4f\n", k, u[k], r[k] }
    ' "$tsv" | sort -n >"$nops"
    [ -s "$data" ] && gnuplot <<EOF
set terminal pngcairo size 900,480 font ",10" noenhanced
set output "$BENCH_OUT/core-ops.png"
set title "uco core runtime vs baselines: time per operation (lower is better, log scale)"
set style fill solid 0.85 border -1
set boxwidth 0.7
set logscale y
set format y "%g"
set ylabel "ns per operation"
set yrange [1:*]
set xtics rotate by -35 left
set grid ytics
unset key
plot "$data" using 0:2:(\$3 == 0 ? 0x1f77b4 : 0xbbbbbb):xtic(1) with boxes lc rgb variable, \
     "" using 0:(\$2 * 1.5):4 with labels font ",8"
EOF
    [ -s "$nops" ] && gnuplot <<EOF
set terminal pngcairo size 700,420 font ",10" noenhanced
set output "$BENCH_OUT/core-nop.png"
set title "Awaited NOPs: uco tasks vs a raw liburing loop"
set xlabel "NOPs in flight (uco: tasks)"
set ylabel "million NOPs per second"
set logscale x 2
set grid
set key left top
set yrange [0:*]
plot "$nops" using 1:3 with linespoints lw 2 pt 7 lc rgb "#999999" title "raw liburing", \
     "" using 1:2 with linespoints lw 2 pt 5 lc rgb "#1f77b4" title "uco"
EOF
    bench_note ""
    bench_note "plots: $BENCH_OUT/core-ops.png $BENCH_OUT/core-nop.png"
}
