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
    adr     x1, vectors_el1
    msr     vbar_el1, x1
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
    adr     x1, vectors_el1
    msr     vbar_el1, x1
    isb
    bl      sec_main
4:  wfi
    b       4b

    .global smc_call
/* uint64_t smc_call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3) */
smc_call:
    smc     #0
    ret

/*
 * System-register stubs (GICv3): one `mrs x0, REG; ret` and one `msr REG, x1; ret` per
 * encoding op0=3, op1 in {0, 4}, CRn=12, CRm=8..15, op2=0..7 (every ICC_*_EL1, ICC_SRE_EL2
 * and ICH_*_EL2 register), plus ICC_PMR_EL1 (S3_0_C4_C6_0) at index 128.  Entry i of
 * sysreg_rd_table / sysreg_wr_table is 8 bytes long: i = (op1 == 4) << 6 | (CRm - 8) << 3 | op2.
 * An encoding the CPU does not implement traps (UNDEF) and is reported as a fault.
 */
    .macro rdstub op1, crm, op2
    mrs     x0, S3_\op1\()_C12_C\crm\()_\op2
    ret
    .endm
    .macro wrstub op1, crm, op2
    msr     S3_\op1\()_C12_C\crm\()_\op2, x1
    ret
    .endm
    .balign 8
    .global sysreg_rd_table
sysreg_rd_table:
    .irp op1, 0, 4
    .irp crm, 8, 9, 10, 11, 12, 13, 14, 15
    .irp op2, 0, 1, 2, 3, 4, 5, 6, 7
    rdstub  \op1, \crm, \op2
    .endr
    .endr
    .endr
    mrs     x0, S3_0_C4_C6_0        /* 128: ICC_PMR_EL1 */
    ret
    .global sysreg_wr_table
sysreg_wr_table:
    .irp op1, 0, 4
    .irp crm, 8, 9, 10, 11, 12, 13, 14, 15
    .irp op2, 0, 1, 2, 3, 4, 5, 6, 7
    wrstub  \op1, \crm, \op2
    .endr
    .endr
    .endr
    msr     S3_0_C4_C6_0, x1        /* 128: ICC_PMR_EL1 */
    ret

/*
 * uint64_t el1_call(void (*stub)(void), uint64_t value): run a stub at EL1h with
 * HCR_EL2.RW|IMO|FMO (so ICC_* encodings reach the ICV_* registers), DAIF masked, on a
 * stack below the caller's; the EL1 side returns through HVC #0, the EL2 lower-EL
 * synchronous vector then resumes here with the stub's x0.  A trap to EL2 (e.g.
 * ICH_HCR_EL2.TALL1) or an exception at EL1 (UNDEF) ends the excursion as a fault.
 */
    .global el1_call
el1_call:
    stp     x29, x30, [sp, #-16]!
    mov     x2, #(1 << 31)
    orr     x2, x2, #((1 << 4) | (1 << 3))
    msr     hcr_el2, x2
    adr     x2, el1_tramp
    msr     elr_el2, x2
    mov     x2, #0x3c5              /* EL1h, DAIF masked */
    msr     spsr_el2, x2
    mov     x2, sp
    sub     x2, x2, #512
    msr     sp_el1, x2
    isb
    eret
el1_tramp:
    blr     x0
    hvc     #0
el1_return:                         /* at EL2 (SP_EL2 is the caller's), x0 = result */
    mov     x2, #(1 << 31)
    msr     hcr_el2, x2
    isb
    ldp     x29, x30, [sp], #16
    ret

/* Every EL2 vector: record ESR_EL2 in probe_fault, skip the instruction, return. */
    .macro vent
    .balign 0x80
    b       fault_handler
    .endm
    .balign 0x800
vectors:
    .rept 8
    vent
    .endr
    .balign 0x80                    /* 0x400: synchronous, lower EL (AArch64) */
    b       lower_sync
    .rept 7
    vent
    .endr

lower_sync:                         /* HVC #0 from el1_tramp, or a trap of the stub to EL2 */
    mrs     x2, esr_el2
    lsr     x3, x2, #26
    cmp     x3, #0x16
    b.eq    el1_return
    orr     x2, x2, #(1 << 63)
    adrp    x3, probe_fault
    add     x3, x3, :lo12:probe_fault
    str     x2, [x3]
    mov     x0, #0
    b       el1_return

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

/* EL1 vectors (used only inside el1_call): record ESR_EL1 as a fault, return to EL2. */
    .macro vent1
    .balign 0x80
    b       el1_fault
    .endm
    .balign 0x800
vectors_el1:
    .rept 16
    vent1
    .endr
el1_fault:
    mrs     x2, esr_el1
    orr     x2, x2, #(1 << 63)
    adrp    x3, probe_fault
    add     x3, x3, :lo12:probe_fault
    str     x2, [x3]
    mov     x0, #0
    hvc     #0
