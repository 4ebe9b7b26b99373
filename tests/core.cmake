# Core runtime tests (uring/, async/), one line each.
uco_add_test(test_task)
uco_add_test(test_ring)
uco_add_test(test_fault)
uco_add_test(test_io)
uco_add_test(test_cancel)
uco_add_test(test_ops)
uco_add_test(test_deadline)
uco_add_test(test_pool)
uco_add_test(test_loop)
uco_add_test(test_badinput)
uco_add_test(test_stack)
uco_add_test(test_stall)
uco_add_test(test_sync)
uco_add_test(test_post)
uco_add_test(test_scale TIMEOUT 120)
uco_add_test(test_alloc)
uco_add_test(test_valgrind TIMEOUT 150)
target_compile_definitions(test_valgrind PRIVATE
  "UCO_TEST_BINARIES=\"$<TARGET_FILE:test_task>\", \"$<TARGET_FILE:test_cancel>\"")
add_dependencies(test_valgrind test_task test_cancel)

# The stack switch alone: native assembly, the ucontext fallback, and aarch64 under qemu.
uco_add_test(test_ctx SOURCES ${PROJECT_SOURCE_DIR}/async/ctx_ucontext.c)
target_compile_options(test_ctx PRIVATE -fno-omit-frame-pointer)
if(UCO_CONTEXT_IMPL STREQUAL "ucontext")
  target_compile_definitions(test_ctx PRIVATE UCO_CONTEXT_UCONTEXT=1)
endif()
if(NOT UCO_CONTEXT_IMPL STREQUAL "ucontext")
  add_executable(test_ctx_ucontext test_ctx.c ${PROJECT_SOURCE_DIR}/async/ctx_ucontext.c)
  target_include_directories(test_ctx_ucontext PRIVATE ${PROJECT_SOURCE_DIR})
  target_compile_definitions(test_ctx_ucontext PRIVATE _GNU_SOURCE UCO_CONTEXT_UCONTEXT=1)
  target_compile_options(test_ctx_ucontext PRIVATE -fno-omit-frame-pointer)
  target_link_libraries(test_ctx_ucontext PRIVATE PkgConfig::CMOCKA)
  add_test(NAME test_ctx_ucontext COMMAND test_ctx_ucontext)
  set_tests_properties(test_ctx_ucontext PROPERTIES TIMEOUT 60)
endif()
add_test(NAME test_ctx_aarch64 COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/ctx_cross.sh ${PROJECT_SOURCE_DIR}
         ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(test_ctx_aarch64 PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)

# The installed library works for consumers (pkg-config, static, CMake package). Not in
# sanitizer builds: a consumer built without -fsanitize cannot load a sanitized libuco.so.
if(UCO_SANITIZE STREQUAL "")
add_test(NAME install_check COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/install_check.sh ${PROJECT_SOURCE_DIR}
         ${PROJECT_BINARY_DIR})
set_tests_properties(install_check PROPERTIES TIMEOUT 300)
endif()
