/*
 * irqfwd measurement guest: entry at EL1 for every vCPU (the VMM starts all of them at
 * _start, with x0 = vCPU index).  Each vCPU sets its stack and vector table, builds (vCPU0)
 * or waits for (others) a flat identity map, turns the MMU and caches on, and calls
 * guest_main(index).  IRQs are taken at VBAR_EL1 + 0x280 (current EL, SPx); every other
 * vector reports a fault to the VMM (guest_fault never returns).
 */
    .section .text.boot, "ax"
    .global _start
_start:
    msr     daifset, #0xf
    mov     x19, x0                     /* vCPU index */
    cmp     x19, #3
    b.hi    .Lbad
    adrp    x1, __stack0_top
    add     x1, x1, :lo12:__stack0_top
    mov     x2, #0x4000
    madd    x1, x2, x19, x1             /* stacks are 16 KiB apart */
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el1, x1
    isb
    cbnz    x19, 2f
    /* vCPU0: zero .bss, build the page table, then release the others */
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    3f
    str     xzr, [x1], #8
    b       1b
3:  bl      build_pgtable
    dsb     sy
    adrp    x1, pgtable_ready
    add     x1, x1, :lo12:pgtable_ready
    mov     x2, #1
    str     x2, [x1]
    dsb     sy
    sev
    b       4f
2:  adrp    x1, pgtable_ready
    add     x1, x1, :lo12:pgtable_ready
5:  ldr     x2, [x1]
    cbnz    x2, 4f
    wfe
    b       5b
4:  bl      mmu_on
    mov     x0, x19
    bl      guest_main
.Lbad:
    wfi
    b       .Lbad

/* MAIR: attr0 Device-nGnRnE, attr1 Normal write-back.  TCR: 4 KiB granule, T0SZ=32
 * (4 GiB, walk starts at level 1), inner-shareable write-back walks, TTBR1 walks off. */
mmu_on:
    mov     x1, #0xff00
    msr     mair_el1, x1
    ldr     x1, =((32 << 0) | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23))
    msr     tcr_el1, x1
    adrp    x1, __pgtable
    add     x1, x1, :lo12:__pgtable
    msr     ttbr0_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mrs     x1, sctlr_el1
    orr     x1, x1, #(1 << 0)           /* M */
    orr     x1, x1, #(1 << 2)           /* C */
    orr     x1, x1, #(1 << 12)          /* I */
    msr     sctlr_el1, x1
    isb
    ret

    .macro vent target
    .balign 0x80
    b       \target
    .endm

    .balign 0x800
vectors:
    vent    fault_entry     /* current EL, SP0: sync */
    vent    fault_entry     /* irq */
    vent    fault_entry     /* fiq */
    vent    fault_entry     /* serror */
    vent    fault_entry     /* current EL, SPx: sync */
    vent    irq_entry       /* irq */
    vent    fault_entry     /* fiq */
    vent    fault_entry     /* serror */
    .rept 8
    vent    fault_entry     /* lower EL: never used */
    .endr

fault_entry:
    mrs     x0, esr_el1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    bl      guest_fault
    b       .Lbad

/* Save the caller-saved registers, run the C handler, return. */
irq_entry:
    sub     sp, sp, #(20 * 8)
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x30, [sp, #144]
    mrs     x0, elr_el1
    mrs     x1, spsr_el1
    stp     x0, x1, [sp, #160]
    bl      guest_irq
    ldp     x0, x1, [sp, #160]
    msr     elr_el1, x0
    msr     spsr_el1, x1
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x30, [sp, #144]
    add     sp, sp, #(20 * 8)
    eret
