/* Stack switch for x86-64 (System V). Saves the callee-saved registers the ABI requires
 * (rbx, rbp, r12-r15) on the current stack, stores the stack pointer in *from, loads to,
 * restores and returns on the other stack. The x87 control word and MXCSR are not switched:
 * a thread's floating-point environment is shared by its tasks (see docs/DESIGN.md).
 *
 *   void uco__ctx_jump(void **from, void *to);          rdi = from, rsi = to
 *   uco__ctx_start: first "return address" of a new context; r12 = entry, r13 = its argument.
 */
    .text
    .globl  uco__ctx_jump
    .hidden uco__ctx_jump
    .type   uco__ctx_jump, @function
    .p2align 4
uco__ctx_jump:
    .cfi_startproc
    endbr64
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   uco__ctx_jump, .-uco__ctx_jump

    .globl  uco__ctx_start
    .hidden uco__ctx_start
    .type   uco__ctx_start, @function
    .p2align 4
uco__ctx_start:
    .cfi_startproc
    /* Bottom frame of a task: tell debuggers and unwinders there is no caller. */
    .cfi_undefined rip
    endbr64
    movq    %r13, %rdi
    callq   *%r12
    ud2                     /* entry never returns */
    .cfi_endproc
    .size   uco__ctx_start, .-uco__ctx_start

    .section .note.GNU-stack,"",%progbits
