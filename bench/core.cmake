# Core runtime benchmarks (uring/, async/); `bench/run.sh core` runs them (bench/core.sh).
# Optional baselines are built only when found: boost.context (libboost-context-dev) for the
# switch, libuv (libuv1-dev) for the worker-pool round trip. A missing one is reported as such
# by the benchmark, never silently dropped.
find_library(UCO_BOOST_CONTEXT_LIB boost_context)
pkg_check_modules(LIBUV QUIET IMPORTED_TARGET libuv)
if(NOT UCO_BOOST_CONTEXT_LIB)
  message(STATUS "bench: boost.context not found (libboost-context-dev): bench_switch runs without that baseline")
endif()
if(NOT LIBUV_FOUND)
  message(STATUS "bench: libuv not found (libuv1-dev): bench_work runs without that baseline")
endif()

uco_add_bench(bench_switch SOURCES bench_switch.c)
# It switches with async/ctx.h itself, so it must see the same choice of switch as the library.
if(UCO_CONTEXT_IMPL STREQUAL "ucontext")
  target_compile_definitions(bench_switch PRIVATE UCO_CONTEXT_UCONTEXT=1)
endif()
if(UCO_BOOST_CONTEXT_LIB)
  target_link_libraries(bench_switch PRIVATE ${UCO_BOOST_CONTEXT_LIB})
  target_compile_definitions(bench_switch PRIVATE BENCH_HAVE_BOOST_CONTEXT=1)
endif()
uco_add_bench(bench_nop SOURCES bench_nop.c bench_malloc.c)
uco_add_bench(bench_spawn SOURCES bench_spawn.c)
uco_add_bench(bench_work SOURCES bench_work.c)
if(LIBUV_FOUND)
  target_link_libraries(bench_work PRIVATE PkgConfig::LIBUV)
  target_compile_definitions(bench_work PRIVATE BENCH_HAVE_LIBUV=1)
endif()
uco_add_bench(bench_idle SOURCES bench_idle.c bench_malloc.c)
uco_add_bench(bench_sync SOURCES bench_sync.c bench_malloc.c)
