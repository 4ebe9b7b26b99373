#!/bin/sh
# Builds uco-httpd's HTTP parser fuzzer (clang, libFuzzer + ASan + UBSan) and runs it for a
# bounded time.
#
#   scripts/fuzz.sh [SECONDS] [libFuzzer options...]      (default 60 seconds)
#
# The working corpus grows in build-fuzz/corpus (seeded from examples/httpd/fuzz/corpus);
# a crash leaves its input in build-fuzz/findings/ and the script exits non-zero. Fix the bug,
# copy the input to examples/httpd/fuzz/crashers/<what-broke> (test_http_fuzz_corpus replays
# it) and add a regression test named after it. Needs clang and libclang-rt-14-dev (Debian).
set -eu
secs=${1:-60}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/.." && pwd)
build=${UCO_FUZZ_BUILD:-$root/build-fuzz}
fuzz=$root/examples/httpd/fuzz

command -v clang >/dev/null || { echo "fuzz.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DUCO_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUCO_BUILD_TESTS=OFF -DUCO_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target fuzz_http_parser
mkdir -p "$build/corpus" "$build/findings"
echo "fuzz.sh: running for $secs s (corpus $build/corpus, findings $build/findings)"
if "$build/examples/fuzz_http_parser" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -max_len=4096 -dict="$fuzz/http.dict" -artifact_prefix="$build/findings/" \
      -print_final_stats=1 "$@" "$build/corpus" "$fuzz/corpus" "$fuzz/crashers"; then
    echo "fuzz.sh: no finding in $secs s"
else
    echo "fuzz.sh: finding(s) in $build/findings:" >&2
    ls -l "$build/findings" >&2
    exit 1
fi
