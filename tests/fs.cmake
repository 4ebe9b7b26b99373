# File-system tests (fs/ and ucp), one line each.
uco_add_test(test_fs)
uco_add_test(test_copy TIMEOUT 120 SOURCES tree_util.c)
