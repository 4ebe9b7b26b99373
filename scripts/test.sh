#!/usr/bin/env bash
# Builds and runs the whole test suite twice: plainly, then under ASan+UBSan. Installs what is
# missing first (Debian 12, as root). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkgs "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"

jobs=${UCO_TEST_JOBS:-$(nproc)}
status=0
for variant in release asan; do
  case $variant in
    release) args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DUCO_WERROR=ON) ;;
    asan)    args=(-DCMAKE_BUILD_TYPE=Debug -DUCO_SANITIZE=address -DUCO_WERROR=ON) ;;
  esac
  echo "=== $variant build ==="
  configure_build "build/$variant" "${args[@]}"
  echo "=== $variant tests ==="
  if ! (cd "build/$variant" && ctest --output-on-failure --timeout 600 -j "$jobs"); then
    status=1
  fi
done
if ((status)); then echo "FAILED: see the output above"; else echo "all tests passed (plain and ASan+UBSan)"; fi
exit $status
