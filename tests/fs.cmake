# File-system tests (fs/ and ucp), one line each.
uco_add_test(test_fs)
if(UCO_BUILD_EXAMPLES)
  # ucp against cp on the same trees; needs root (skips otherwise).
  uco_add_test(test_ucp TIMEOUT 300 SOURCES tree_util.c)
  target_compile_definitions(test_ucp PRIVATE UCP_PATH="$<TARGET_FILE:ucp>"
                             UCO_LIB_PATH="$<TARGET_SONAME_FILE:uco>")
  add_dependencies(test_ucp ucp)
endif()
uco_add_test(test_copy TIMEOUT 120 SOURCES tree_util.c)
