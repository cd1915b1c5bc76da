/*
 * irqfwd probe: entry points at EL2 (QEMU virt, virtualization=on, -kernel ELF).
 *
 * CPU0 enters at _start (QEMU resets every CPU to the ELF entry, secondaries start
 * powered off).  CPU1 enters at sec_entry once CPU0 issues PSCI CPU_ON.  Both keep
 * DAIF masked: the probe never takes interrupts, it only observes the GIC through MMIO.
 * A synchronous exception (e.g. an abort on a bad address) sets probe_fault and
 * skips the faulting instruction, so the command loop can report it.
 */
    .section .text.boot, "ax"
    .global _start
_start:
    msr     daifset, #0xf
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    cbnz    x0, 2f
    adrp    x1, __stack0_top
    add     x1, x1, :lo12:__stack0_top
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el2, x1
    isb
    /* zero .bss */
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    3f
    str     xzr, [x1], #8
    b       1b
3:  bl      main
2:  wfi
    b       2b

    .global sec_entry
sec_entry:
    msr     daifset, #0xf
    adrp    x1, __stack1_top
    add     x1, x1, :lo12:__stack1_top
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el2, x1
    isb
    bl      sec_main
4:  wfi
    b       4b

    .global smc_call
/* uint64_t smc_call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3) */
smc_call:
    smc     #0
    ret

/* Every vector: record ESR_EL2 in probe_fault, skip the instruction, return. */
    .macro vent
    .balign 0x80
    b       fault_handler
    .endm
    .balign 0x800
vectors:
    .rept 16
    vent
    .endr

fault_handler:
    stp     x0, x1, [sp, #-16]!
    mrs     x0, esr_el2
    orr     x0, x0, #(1 << 63)
    adrp    x1, probe_fault
    add     x1, x1, :lo12:probe_fault
    str     x0, [x1]
    mrs     x0, elr_el2
    add     x0, x0, #4
    msr     elr_el2, x0
    ldp     x0, x1, [sp], #16
    eret
