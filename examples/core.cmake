uco_add_example(uco-demo SOURCES uco-demo.c)
if(UCO_BUILD_TESTS)
  # The demo checks its own results (checksums, deadlines, cancellation) and exits non-zero.
  add_test(NAME example_uco_demo COMMAND uco-demo --files 64)
  set_tests_properties(example_uco_demo PROPERTIES TIMEOUT 120)
endif()
