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

# Debian's libhttp-parser-dev (the nodejs http-parser), if installed: the benchmark's baseline and
# the fuzz harness's second opinion on message framing.
find_path(UCO_HTTP_PARSER_INCLUDE http_parser.h)
find_library(UCO_HTTP_PARSER_LIB http_parser)
function(uco_http_use_http_parser target)
  if(UCO_HTTP_PARSER_INCLUDE AND UCO_HTTP_PARSER_LIB)
    target_compile_definitions(${target} PRIVATE UCO_HAVE_HTTP_PARSER=1)
    target_include_directories(${target} PRIVATE ${UCO_HTTP_PARSER_INCLUDE})
    target_link_libraries(${target} PRIVATE ${UCO_HTTP_PARSER_LIB})
  elseif(NOT UCO_HTTP_PARSER_WARNED)
    set(UCO_HTTP_PARSER_WARNED ON CACHE INTERNAL "")
    message(STATUS "http_parser.h not found (libhttp-parser-dev): no http-parser baseline")
  endif()
endfunction()
