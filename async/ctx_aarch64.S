/* Stack switch for AArch64 (AAPCS64). Saves x19-x28, fp (x29), lr (x30) and d8-d15 (the
 * callee-saved registers) on the current stack, stores sp in *from, loads to, restores and
 * returns through the restored lr. FPCR is not switched (shared by a thread's tasks).
 *
 *   void uco__ctx_jump(void **from, void *to);          x0 = from, x1 = to
 *   uco__ctx_start: first lr of a new context; x19 = entry, x20 = its argument.
 */
    .text
    .globl  uco__ctx_jump
    .hidden uco__ctx_jump
    .type   uco__ctx_jump, %function
    .p2align 4
uco__ctx_jump:
    .cfi_startproc
    sub     sp, sp, #160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8,  d9,  [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]
    mov     x2, sp
    str     x2, [x0]
    mov     sp, x1
    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8,  d9,  [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    ret
    .cfi_endproc
    .size   uco__ctx_jump, .-uco__ctx_jump

    .globl  uco__ctx_start
    .hidden uco__ctx_start
    .type   uco__ctx_start, %function
    .p2align 4
uco__ctx_start:
    .cfi_startproc
    .cfi_undefined x30
    mov     x29, #0
    mov     x0, x20
    blr     x19
    brk     #0              /* entry never returns */
    .cfi_endproc
    .size   uco__ctx_start, .-uco__ctx_start

    .section .note.GNU-stack,"",%progbits
