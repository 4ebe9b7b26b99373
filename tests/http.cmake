# uco-httpd's HTTP core: the tests compile its sources directly (no server, no io_uring).
include(${PROJECT_SOURCE_DIR}/examples/httpd/http_sources.cmake)
foreach(t test_http_parser test_http_body test_http_path test_http_util)
  uco_add_test(${t} SOURCES ${UCO_HTTP_SOURCES})
  target_include_directories(${t} PRIVATE ${UCO_HTTP_DIR})
endforeach()
# Replays the fuzzer's seed corpus and every crasher it found through the fuzz harness.
uco_add_test(test_http_fuzz_corpus SOURCES ${UCO_HTTP_SOURCES} ${UCO_HTTP_DIR}/fuzz/fuzz_http_parser.c)
target_include_directories(test_http_fuzz_corpus PRIVATE ${UCO_HTTP_DIR})
target_compile_definitions(test_http_fuzz_corpus PRIVATE
  HTTPD_FUZZ_DIRS="${UCO_HTTP_DIR}/fuzz/corpus:${UCO_HTTP_DIR}/fuzz/crashers")
uco_http_use_http_parser(test_http_fuzz_corpus)

# uco-httpd as a real process on loopback (skip when examples are not built): the protocol side
# (it links the HTTP core too: the parser says what the server must answer to each file of the
# fuzz corpus), and its clients and its life (timeouts, bad clients, shutdown, limits).
foreach(t test_httpd test_httpd_clients)
  uco_add_test(${t} TIMEOUT 300 SOURCES ${UCO_HTTP_SOURCES})
  target_include_directories(${t} PRIVATE ${UCO_HTTP_DIR})
  if(UCO_BUILD_EXAMPLES)
    target_compile_definitions(${t} PRIVATE UCO_HTTPD_PATH="$<TARGET_FILE:uco-httpd>")
    add_dependencies(${t} uco-httpd)
  endif()
endforeach()
target_compile_definitions(test_httpd PRIVATE
  HTTPD_CORPUS_DIRS="${UCO_HTTP_DIR}/fuzz/corpus:${UCO_HTTP_DIR}/fuzz/crashers")
