#!/usr/bin/env python3
"""Deterministic source trees for bench/copy.sh.

  mktree.py small DIR   50,000 files of 0-16 KiB in ~1,260 directories (3 levels)
  mktree.py big DIR     one 1 GiB file
  mktree.py mixed DIR   a mixed tree (about 0.45 GiB): 20,000 small files, 100 medium ones,
                        2 large ones, sparse files, symlinks, hard links, empty files and
                        directories, odd names

The shape and sizes are fixed (seeded); contents are random bytes, so compression or
deduplication cannot flatter anyone.
"""
import os
import random
import sys

CHUNK = os.urandom(1 << 20)  # one random MiB, sliced at random offsets


def data(rng, n):
    out = bytearray()
    while len(out) < n:
        off = rng.randrange(0, len(CHUNK) - 1)
        take = min(n - len(out), len(CHUNK) - off)
        out += CHUNK[off:off + take]
    return bytes(out)


def write(path, payload, mode=0o644):
    with open(path, "wb") as f:
        f.write(payload)
    os.chmod(path, mode)


def small(root, rng, files=50000, fanout=(6, 6, 35)):
    # 6 x 6 x 35 = 1,260 leaf directories, files spread evenly over them.
    leaves = []
    for a in range(fanout[0]):
        for b in range(fanout[1]):
            for c in range(fanout[2]):
                leaves.append(os.path.join(root, "d%02d" % a, "e%02d" % b, "f%03d" % c))
    for d in leaves:
        os.makedirs(d)
    for i in range(files):
        d = leaves[i % len(leaves)]
        write(os.path.join(d, "file%05d.dat" % i), data(rng, rng.randrange(0, 16 * 1024 + 1)))


def big(root, rng, size=1 << 30):
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(data(rng, n))
            left -= n


def mixed(root, rng):
    small(os.path.join(root, "small"), rng, files=20000, fanout=(4, 5, 20))
    med = os.path.join(root, "medium")
    os.makedirs(med)
    for i in range(100):  # 64 KiB - 2 MiB
        write(os.path.join(med, "m%03d.bin" % i), data(rng, rng.randrange(64 << 10, 2 << 20)))
    lg = os.path.join(root, "large")
    os.makedirs(lg)
    for i in range(2):  # 64, 96 MiB
        write(os.path.join(lg, "l%d.bin" % i), data(rng, (64 + 32 * i) << 20))
    sp = os.path.join(root, "sparse")
    os.makedirs(sp)
    for i in range(8):  # 256 MiB apparent, a few MiB of data
        with open(os.path.join(sp, "s%d.img" % i), "wb") as f:
            for j in range(4):
                f.seek(j * (64 << 20) + (i << 16))
                f.write(data(rng, 1 << 20))
            f.truncate(256 << 20)
    misc = os.path.join(root, "misc")
    os.makedirs(os.path.join(misc, "empty_dir"))
    for i in range(100):
        write(os.path.join(misc, "empty%d" % i), b"", 0o600 + (i % 8))
        os.symlink("../small/d00/e00/f%03d" % (i % 20), os.path.join(misc, "link%d" % i))
        os.link(os.path.join(med, "m%03d.bin" % i), os.path.join(misc, "hard%d" % i))
    write(os.path.join(misc, "name with spaces"), b"x")
    write(os.path.join(misc.encode(), b"latin1-\xe9t\xe9"), b"y")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("small", "big", "mixed"):
        sys.exit(__doc__)
    kind, root = sys.argv[1], sys.argv[2]
    if os.path.exists(root):
        sys.exit("mktree.py: %s already exists" % root)
    rng = random.Random(20261125)
    {"small": small, "big": big, "mixed": mixed}[kind](root, rng)


if __name__ == "__main__":
    main()
