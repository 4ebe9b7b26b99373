# Helpers shared by bench/net-bench.sh and bench/net-profile.sh (sourced). They use the
# caller's globals: tmp (a scratch directory), port (the last port used), cg (a cgroup to start
# servers in, or empty), server_pid, and prog (the name in messages).

# Waits until something accepts connections on $1 (at most 10 s).
wait_port() {
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

# Starts server command $1 on CPU 0 with a fresh port (in $port), {port} in it replaced by that
# port; sets server_pid. Exits, saying why, when the server does not start listening.
start_server() {
    port=$((port + 1))
    local cmd=${1//\{port\}/$port}
    # shellcheck disable=SC2086
    (
        if [ -n "$cg" ]; then echo "$BASHPID" >"$cg/cgroup.procs"; fi
        exec taskset -c 0 $cmd
    ) >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    if ! wait_port "$port"; then
        echo "$prog: '$cmd' did not start:" >&2
        cat "$tmp/server.err" >&2
        exit 1
    fi
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

# The median of the numbers on stdin, one a line ("nan" for none).
median() { median_ci | awk '{ print $1 }'; }

# The median of the numbers on stdin and a distribution-free 95 % confidence interval for it:
# "median lo hi", lo and hi the k-th smallest and k-th largest values, k the largest with
# P(Binomial(n, 1/2) < k) <= 2.5 % (n = 15: the 4th and 12th of 15). "median nan nan" below
# six values, where even the whole range covers the median with less than 95 %.
median_ci() {
    sort -g | awk '{ v[NR] = $1 }
        END {
            n = NR
            if (n == 0) { print "nan nan nan"; exit }
            m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            k = 0; cum = 0; c = 1 # c = C(n, j)
            for (j = 0; j < n; j++) {
                cum += c * 0.5 ^ n
                if (cum > 0.025) break
                k = j + 1
                c = c * (n - j) / (j + 1)
            }
            if (k == 0) print m, "nan", "nan"; else print m, v[k], v[n - k + 1]
        }'
}
