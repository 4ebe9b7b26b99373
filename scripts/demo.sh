#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), builds uco in release mode and runs the main
# job: uco-demo, many tasks doing concurrent file reads, timeouts, sleeps and worker-pool jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkgs "${BUILD_PKGS[@]}"
configure_build build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
exec build/release/examples/uco-demo "$@"
