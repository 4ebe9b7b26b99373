# Net layer tests: addresses, socket awaitables, connections and listeners, and the uco-echo
# server as a real process.
uco_add_test(test_net_addr TIMEOUT 30)
uco_add_test(test_net_sock TIMEOUT 180)
uco_add_test(test_net_conn TIMEOUT 120)
uco_add_test(test_net_close TIMEOUT 60)
# uco-echo as a real process (skips when examples are not built).
uco_add_test(test_net_echo TIMEOUT 120)
if(UCO_BUILD_EXAMPLES)
  target_compile_definitions(test_net_echo PRIVATE UCO_ECHO_PATH="$<TARGET_FILE:uco-echo>")
  add_dependencies(test_net_echo uco-echo)
endif()
