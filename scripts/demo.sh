#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds uco-httpd in release mode and runs it in
# the foreground on http://127.0.0.1:8080/, serving docs/ with the access log on stdout, until
# Ctrl-C (which stops it gracefully). Extra arguments go to uco-httpd (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkgs "${BUILD_PKGS[@]}"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" --target uco-httpd

url=http://127.0.0.1:8080
now=$(date -u '+%a, %d %b %Y %H:%M:%S GMT')
cat <<EOF

uco-httpd serves docs/ at $url/  (Ctrl-C stops it: requests in flight finish first)

Try, from another terminal:
  curl -i $url/plaintext                      # the benchmark endpoint
  curl $url/json
  curl -i $url/DESIGN.md                      # a file from docs/, sent with splice
  curl -i -r 0-99 $url/BENCHMARKS.md          # a Range request: 206 Partial Content
  curl -i -H 'If-Modified-Since: $now' $url/DESIGN.md   # 304
  curl --data-binary 'hello, uco' $url/echo   # POST /echo answers with the body
  curl -i --path-as-is $url/../etc/passwd     # refused: 400 Bad Request
  wrk -c 100 -d 5 $url/plaintext              # load (apt-get install wrk)

Access log (Common Log Format) below:
EOF
exec build/release/examples/uco-httpd --bind 127.0.0.1 --port 8080 --root docs --access-log - "$@"
