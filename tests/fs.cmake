# File-system tests (fs/ and ucp), one line each.
uco_add_test(test_fs)
