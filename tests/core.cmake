# Core runtime tests (uring/, async/), one line each.
uco_add_test(test_task)
uco_add_test(test_ring)
uco_add_test(test_fault)
uco_add_test(test_io)
uco_add_test(test_cancel)
uco_add_test(test_ops)
uco_add_test(test_deadline)
uco_add_test(test_pool)
