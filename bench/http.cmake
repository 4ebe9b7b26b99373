# uco-httpd's HTTP core: parse throughput against the nodejs http-parser (Debian
# libhttp-parser-dev) when it is installed.
include(${PROJECT_SOURCE_DIR}/examples/httpd/http_sources.cmake)
uco_add_bench(http_parse SOURCES http_parse.c ${UCO_HTTP_SOURCES})
target_include_directories(http_parse PRIVATE ${UCO_HTTP_DIR})
find_path(UCO_HTTP_PARSER_INCLUDE http_parser.h)
find_library(UCO_HTTP_PARSER_LIB http_parser)
if(UCO_HTTP_PARSER_INCLUDE AND UCO_HTTP_PARSER_LIB)
  target_compile_definitions(http_parse PRIVATE UCO_HAVE_HTTP_PARSER=1)
  target_include_directories(http_parse PRIVATE ${UCO_HTTP_PARSER_INCLUDE})
  target_link_libraries(http_parse PRIVATE ${UCO_HTTP_PARSER_LIB})
else()
  message(STATUS "http_parser.h not found: bench/http_parse runs without its baseline")
endif()
