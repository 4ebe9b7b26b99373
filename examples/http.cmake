# uco-httpd: the HTTP/1.1 core (parser, bodies, paths, ranges, dates, responses) as a static
# library the server program links; it uses only libc and the kernel ABI.
include(${CMAKE_CURRENT_SOURCE_DIR}/httpd/http_sources.cmake)
add_library(uco_http STATIC ${UCO_HTTP_SOURCES})
target_include_directories(uco_http PUBLIC ${UCO_HTTP_DIR})
target_compile_definitions(uco_http PRIVATE _GNU_SOURCE)

# libFuzzer target for the parser (scripts/fuzz.sh builds and runs it). Needs clang.
option(UCO_FUZZ "Build the libFuzzer targets (clang only)" OFF)
if(UCO_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "UCO_FUZZ=ON needs clang (configure with CC=clang)")
  endif()
  add_executable(fuzz_http_parser ${UCO_HTTP_DIR}/fuzz/fuzz_http_parser.c ${UCO_HTTP_SOURCES})
  target_include_directories(fuzz_http_parser PRIVATE ${UCO_HTTP_DIR})
  target_compile_definitions(fuzz_http_parser PRIVATE _GNU_SOURCE)
  target_compile_options(fuzz_http_parser PRIVATE
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(fuzz_http_parser PRIVATE -fsanitize=fuzzer,address,undefined)
  # With Debian's libhttp-parser-dev the harness also checks that both parsers frame every
  # message they both accept the same way (a request smuggling check).
  uco_http_use_http_parser(fuzz_http_parser)
endif()

# The server program.
uco_add_example(uco-httpd INSTALL
  SOURCES httpd/server_main.c httpd/server_conn.c httpd/server_static.c httpd/server_log.c
  LIBS uco_http)
