/* Kernel io_uring ABI that Debian's liburing 2.3 headers lack. Values come from the kernel's
 * stable UAPI (include/uapi/linux/io_uring.h); each may be used only after the loop's probe
 * (uco__ring_has_op / uco_loop_has_op) or a feature check says the running kernel has it. */
#ifndef UCO_URING_ABI_H
#define UCO_URING_ABI_H

/* Opcodes after IORING_OP_SENDMSG_ZC (the last one liburing 2.3 knows). They are enum values
 * in the kernel header, so they get names of our own rather than #ifndef guards. */
#define UCO__IORING_OP_READ_MULTISHOT   49 /* 6.7 */
#define UCO__IORING_OP_WAITID           50 /* 6.7 */
#define UCO__IORING_OP_FUTEX_WAIT       51 /* 6.7 */
#define UCO__IORING_OP_FUTEX_WAKE       52 /* 6.7 */
#define UCO__IORING_OP_FUTEX_WAITV      53 /* 6.7 */
#define UCO__IORING_OP_FIXED_FD_INSTALL 54 /* 6.8 */
#define UCO__IORING_OP_FTRUNCATE        55 /* 6.9 */
#define UCO__IORING_OP_BIND             56 /* 6.11 */
#define UCO__IORING_OP_LISTEN           57 /* 6.11 */

/* Setup flags newer than the headers. */
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16) /* 6.6 */
#endif

#endif
