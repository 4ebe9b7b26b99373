# The sources of uco-httpd's HTTP core, for the library (examples/http.cmake) and for the tests
# and benchmarks that compile them directly (tests/http.cmake, bench/http.cmake).
set(UCO_HTTP_DIR ${CMAKE_CURRENT_LIST_DIR})
set(UCO_HTTP_SOURCES
  ${UCO_HTTP_DIR}/http_parse.c
  ${UCO_HTTP_DIR}/http_body.c
  ${UCO_HTTP_DIR}/http_path.c
  ${UCO_HTTP_DIR}/http_fs.c
  ${UCO_HTTP_DIR}/http_range.c
  ${UCO_HTTP_DIR}/http_date.c
  ${UCO_HTTP_DIR}/http_response.c
  ${UCO_HTTP_DIR}/http_log.c)
