# Shared by scripts/*.sh: install missing Debian packages, configure and build.
# Sourced, not run.

# need_pkgs PKG...: installs (apt-get, as root) every package not yet installed.
need_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  local sudo=""
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || { echo "missing packages: ${missing[*]} (run as root or install them)" >&2; return 1; }
    sudo="sudo"
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has no package lists yet; refresh them once if an install fails.
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  }
}

# Packages every build needs.
BUILD_PKGS=(gcc libc6-dev make cmake ninja-build pkg-config liburing-dev libcmocka-dev valgrind)
# What the test suite needs on top: the aarch64 stack switch is tested under qemu-user, and
# the installed headers are compiled as C++.
TEST_PKGS=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user g++)

# What bench/run.sh needs on top: the baselines and the tools that drive and measure them.
BENCH_PKGS=(libboost-context-dev libuv1-dev libhttp-parser-dev nginx-light wrk rsync gnuplot-nox
            util-linux time)

# configure_build DIR [cmake args...]: configures (once) and builds the project into DIR.
configure_build() {
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
}
