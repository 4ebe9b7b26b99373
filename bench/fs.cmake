# File-system benchmarks. bench/copy.sh (ucp against cp -a and rsync -a on real trees) is the
# macro benchmark; bench_fs_ops compares single awaitables with the blocking system calls.
uco_add_bench(bench_fs_ops SOURCES fs_ops.c)
# copy-floor: a tree copied by plain system calls on every core (no uco), the floor ucp is
# measured against in bench/copy-ab.sh.
uco_add_bench(copy-floor SOURCES copy_floor.c)
