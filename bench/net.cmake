# Network benchmarks: the echo load generator, the epoll and raw-liburing echo baselines, the
# 100,000-idle-connections memory check and the send / send_zc comparison. bench/net-bench.sh runs them.
uco_add_bench(echo-load SOURCES echo-load.c)
uco_add_bench(echo-epoll SOURCES echo-epoll.c)
uco_add_bench(echo-uring SOURCES echo-uring.c)
uco_add_bench(idle-conns SOURCES idle-conns.c)
uco_add_bench(send-zc SOURCES send-zc.c)
