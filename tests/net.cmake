# Net layer tests: addresses, socket awaitables, connections and listeners, and the uco-echo
# server as a real process.
uco_add_test(test_net_addr TIMEOUT 30)
uco_add_test(test_net_sock TIMEOUT 60)
uco_add_test(test_net_conn TIMEOUT 120)
