#!/bin/sh
# Installs the built project into a temporary prefix and builds a consumer three ways: with
# pkg-config (shared), with pkg-config --static, and with CMake's find_package(uco). The
# consumer runs a task and checks its result. With a C++ compiler, the headers are also
# compiled as C++ (they must be C++-clean).
#   install_check.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/pkgconfig | head -n1)
libdir=${libdir%/pkgconfig}
cat >"$tmp/app.c" <<'C'
#include <uco.h>
#include <stdio.h>
static intptr_t task(void *arg) { return uco_nop() == 0 ? 42 : -1; }
int main(void)
{
    intptr_t r = uco_run(task, NULL, NULL);
    printf("uco %s: %ld\n", uco_version(), (long)r);
    return r == 42 ? 0 : 1;
}
C
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
cc -o "$tmp/app_shared" "$tmp/app.c" $(pkg-config --cflags --libs uco)
LD_LIBRARY_PATH="$libdir" "$tmp/app_shared"
# shellcheck disable=SC2046
cc -o "$tmp/app_static" "$tmp/app.c" $(pkg-config --cflags uco) "$libdir/libuco.a" \
    $(pkg-config --static --libs-only-l uco | sed 's/-luco//')
"$tmp/app_static"
mkdir "$tmp/cm"
cat >"$tmp/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.21)
project(consumer C)
find_package(uco 0.1 REQUIRED)
add_executable(app ../app.c)
target_link_libraries(app PRIVATE uco::uco)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm/build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cm/build/app"
if command -v c++ >/dev/null; then
    echo '#include <uco.h>
int main() { return uco_version() ? 0 : 1; }' >"$tmp/app.cc"
    c++ -Wall -Wextra -Werror -I"$tmp/prefix/include" -c "$tmp/app.cc" -o "$tmp/app.o"
    echo "headers compile as C++"
else
    echo "no C++ compiler: C++ header check not run"
fi
echo "install check passed"
