# Every test executable, one line each. Keep sorted within a layer.
# core runtime
uco_add_test(test_task)
