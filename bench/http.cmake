# uco-httpd's HTTP core: parse throughput against the nodejs http-parser (Debian
# libhttp-parser-dev) when it is installed.
include(${PROJECT_SOURCE_DIR}/examples/httpd/http_sources.cmake)
uco_add_bench(http_parse SOURCES http_parse.c ${UCO_HTTP_SOURCES})
target_include_directories(http_parse PRIVATE ${UCO_HTTP_DIR})
uco_http_use_http_parser(http_parse)
