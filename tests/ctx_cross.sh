#!/bin/sh
# Builds tests/test_ctx.c for aarch64 with the aarch64 stack switch and runs it under
# qemu-aarch64. Skips (77) where the cross compiler or qemu-user is not installed.
#   ctx_cross.sh SOURCE_DIR BUILD_DIR
src=$1 out=$2
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    echo "SKIP: needs aarch64-linux-gnu-gcc and qemu-aarch64 (Debian: gcc-aarch64-linux-gnu qemu-user)"
    exit 77
fi
if [ ! -e /usr/aarch64-linux-gnu/include/stdint.h ]; then
    echo "SKIP: needs the aarch64 C library headers (Debian: libc6-dev-arm64-cross)"
    exit 77
fi
set -e
aarch64-linux-gnu-gcc -O2 -static -fno-omit-frame-pointer -DUCO_CTX_STANDALONE -I"$src" \
    "$src/tests/test_ctx.c" "$src/async/ctx_aarch64.S" -o "$out/test_ctx_aarch64"
qemu-aarch64 "$out/test_ctx_aarch64"
