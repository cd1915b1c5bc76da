/*
 * irqfwd measurement guest: one bare-metal program for every experiment (comm.h).
 *
 * vCPU0 drives the experiment; vCPU1 exists only for the SGI experiment, where it waits
 * in WFI for vCPU0's SGIs.  Idle waits follow Linux's idle loop: IRQs masked, check,
 * WFI, unmask (the pending interrupt is taken after the unmask), so no wake-up is lost.
 * A baseline run does the same set-up and waits (idle or busy) without any interrupt
 * source until the VMM stops the vCPUs.
 */
#include <stdint.h>

#include "../comm.h"

volatile uint64_t pgtable_ready;
extern uint64_t __pgtable[];

static struct comm *const comm = (struct comm *)COMM_ADDR;

#define R32(a) (*(volatile uint32_t *)(uintptr_t)(a))
#define R64(a) (*(volatile uint64_t *)(uintptr_t)(a))

static inline void dsb(void) { __asm__ volatile("dsb sy" ::: "memory"); }
static inline void isb(void) { __asm__ volatile("isb" ::: "memory"); }
static inline void irq_off(void) { __asm__ volatile("msr daifset, #2" ::: "memory"); }
static inline void irq_on(void) { __asm__ volatile("msr daifclr, #2" ::: "memory"); }
static inline void wfi(void) { __asm__ volatile("dsb sy\n\twfi" ::: "memory"); }

#define SYSREG_R(name) ({ uint64_t _v; __asm__ volatile("mrs %0, " #name : "=r"(_v)); _v; })
#define SYSREG_W(name, v) __asm__ volatile("msr " #name ", %0" ::"r"((uint64_t)(v)) : "memory")

static inline uint64_t cntvct(void) { isb(); return SYSREG_R(cntvct_el0); }

/* 1 GiB blocks: [0,1G) device, [1G,2G) normal write-back (RAM), the rest unmapped. */
void build_pgtable(void)
{
    __pgtable[0] = 0x00000000UL | (0UL << 2) | (1UL << 10) | (1UL << 54) | 0x1;
    __pgtable[1] = 0x40000000UL | (1UL << 2) | (1UL << 10) | (3UL << 8) | 0x1;
    for (int i = 2; i < 512; i++)
        __pgtable[i] = 0;
}

static void mailbox(uint64_t off, uint64_t v)
{
    dsb();
    R64(MAILBOX_BASE + off) = v;
    dsb();
}

static __attribute__((noreturn)) void halt(void)
{
    irq_off();
    for (;;)
        wfi();
}

void guest_fault(uint64_t esr, uint64_t elr, uint64_t far)
{
    uint64_t idx = SYSREG_R(tpidr_el1);
    comm->fault_elr = elr;
    comm->fault_far = far;
    comm->fault_vcpu = idx;
    mailbox(MB_FAULT, esr);
    halt();
}

static void guest_error(uint64_t code)
{
    mailbox(MB_ERROR, code);
    halt();
}

/* --- GIC -------------------------------------------------------------------------- */
#define GICD_CTLR 0x000
#define GICD_ISENABLER 0x100
#define GICD_ICENABLER 0x180
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR 0x800
#define GICD_ICFGR 0xc00
#define GICD_SGIR 0xf00
#define GICD_IROUTER 0x6000
#define GICC_CTLR 0x00
#define GICC_PMR 0x04
#define GICC_IAR 0x0c
#define GICC_EOIR 0x10
#define GICR_SGI 0x10000 /* SGI_base frame of a redistributor */
#define GICR_WAKER 0x0014

static uint64_t gicv;

static void gic_cfg(uint64_t idx, uint32_t intid, int edge)
{
    uint64_t base = intid < 32 && gicv == 3 ? GICR_BASE + idx * GICR_STRIDE + GICR_SGI : GICD_BASE;
    uint32_t reg = intid / 4, sh = (intid % 4) * 8;
    uint32_t v = R32(base + GICD_IPRIORITYR + 4 * reg);
    R32(base + GICD_IPRIORITYR + 4 * reg) = (v & ~(0xffu << sh)) | (0xa0u << sh);
    if (intid >= 32) {
        uint32_t c = R32(GICD_BASE + GICD_ICFGR + 4 * (intid / 16));
        uint32_t bit = 2u << ((intid % 16) * 2);
        R32(GICD_BASE + GICD_ICFGR + 4 * (intid / 16)) = edge ? (c | bit) : (c & ~bit);
        if (gicv == 3) {
            R64(GICD_BASE + GICD_IROUTER + 8 * intid) = 0; /* affinity 0.0.0.0 = vCPU0 */
        } else {
            uint32_t t = R32(GICD_BASE + GICD_ITARGETSR + 4 * reg);
            R32(GICD_BASE + GICD_ITARGETSR + 4 * reg) = (t & ~(0xffu << sh)) | (1u << sh);
        }
    }
    R32(base + GICD_ISENABLER + 4 * (intid / 32)) = 1u << (intid % 32);
}

static void gic_cpu_init(uint64_t idx)
{
    if (gicv == 3) {
        uint64_t rd = GICR_BASE + idx * GICR_STRIDE;
        R32(rd + GICR_WAKER) = 0;
        SYSREG_W(S3_0_C12_C12_5, 1);  /* ICC_SRE_EL1.SRE */
        isb();
        SYSREG_W(S3_0_C4_C6_0, 0xff); /* ICC_PMR_EL1 */
        SYSREG_W(S3_0_C12_C12_4, 0);  /* ICC_CTLR_EL1: EOImode 0 */
        SYSREG_W(S3_0_C12_C12_7, 1);  /* ICC_IGRPEN1_EL1 */
        isb();
    } else {
        R32(GICC_BASE + GICC_PMR) = 0xff;
        R32(GICC_BASE + GICC_CTLR) = 1;
    }
}

static uint32_t gic_ack(void)
{
    if (gicv == 3) {
        uint64_t v = SYSREG_R(S3_0_C12_C12_0); /* ICC_IAR1_EL1 */
        dsb();
        return (uint32_t)v;
    }
    return R32(GICC_BASE + GICC_IAR);
}

static void gic_eoi(uint32_t iar)
{
    if (gicv == 3) {
        SYSREG_W(S3_0_C12_C12_1, iar); /* ICC_EOIR1_EL1 */
        isb();
    } else {
        R32(GICC_BASE + GICC_EOIR) = iar;
    }
}

static void send_sgi(uint64_t target)
{
    dsb();
    if (gicv == 3) /* ICC_SGI1R_EL1: INTID[27:24], Aff1 0, target list bit = Aff0 */
        SYSREG_W(S3_0_C12_C11_5, ((uint64_t)SGI_INTID << 24) | (1UL << target));
    else
        R32(GICD_BASE + GICD_SGIR) = (1u << (16 + target)) | SGI_INTID;
    isb();
}

/* --- the experiments -------------------------------------------------------------- */
static volatile uint64_t deadline; /* vtimer: CNTVCT of the pending expiry */

static void vtimer_arm(uint64_t at)
{
    deadline = at;
    SYSREG_W(cntv_cval_el0, at);
    SYSREG_W(cntv_ctl_el0, 1); /* ENABLE, not masked */
    isb();
}

void guest_irq(void)
{
    uint64_t idx = SYSREG_R(tpidr_el1);
    uint32_t iar = gic_ack();
    uint32_t intid = iar & 0xffffff;
    if (gicv == 2)
        intid = iar & 0x3ff;
    if (intid >= 1020) {
        if (++comm->spurious[idx] > 1000000)
            guest_error(GERR_SPURIOUS_LIMIT);
        return;
    }
    comm->last_intid[idx] = intid;
    switch (comm->experiment) {
    case EXP_VTIMER_IDLE:
    case EXP_VTIMER_BUSY: {
        if (intid != VTIMER_INTID)
            guest_error(GERR_UNEXPECTED_IRQ);
        uint64_t now = cntvct();
        uint64_t late = now > deadline ? now - deadline : 0;
        comm->late_ticks_sum += late;
        if (late > comm->late_ticks_max)
            comm->late_ticks_max = late;
        uint64_t h = comm->handled[idx] + 1;
        if (h < comm->n) /* reprogram before the EOI: the timer output is a level */
            vtimer_arm(deadline + comm->period_ticks > now ? deadline + comm->period_ticks
                                                           : now + comm->period_ticks);
        else
            SYSREG_W(cntv_ctl_el0, 0);
        isb();
        comm->handled[idx] = h;
        break;
    }
    case EXP_LEVEL_RESAMPLE:
        if (intid != SPI_LEVEL_INTID)
            guest_error(GERR_UNEXPECTED_IRQ);
        /* service the device: one request per interrupt (the line drops once none is left) */
        if (comm->dev_serviced < comm->dev_requests)
            comm->dev_serviced = comm->dev_serviced + 1;
        dsb();
        comm->handled[idx] = comm->handled[idx] + 1;
        break;
    case EXP_LEVEL_IRQLINE:
        if (intid != SPI_IRQLINE_INTID)
            guest_error(GERR_UNEXPECTED_IRQ);
        comm->dev_serviced = comm->dev_serviced + 1;
        mailbox(MB_DEVACK, comm->dev_serviced); /* the device drops its line (VMM exit) */
        comm->handled[idx] = comm->handled[idx] + 1;
        break;
    case EXP_EDGE_IRQFD:
        if (intid != SPI_EDGE_INTID)
            guest_error(GERR_UNEXPECTED_IRQ);
        comm->dev_serviced = comm->dev_serviced + 1;
        comm->handled[idx] = comm->handled[idx] + 1;
        break;
    case EXP_SGI:
        if (intid != SGI_INTID)
            guest_error(GERR_UNEXPECTED_IRQ);
        comm->handled[idx] = comm->handled[idx] + 1;
        break;
    default:
        guest_error(GERR_BAD_EXPERIMENT);
    }
    dsb();
    gic_eoi(iar);
}

/* Wait in WFI until *count reaches n (n == 0: forever, the VMM stops the vCPU). */
static void idle_until(volatile uint64_t *count, uint64_t n)
{
    for (;;) {
        irq_off();
        if (n && *count >= n)
            break;
        wfi();
        irq_on();
    }
    irq_on();
}

static void busy_until(volatile uint64_t *count, uint64_t n)
{
    irq_on();
    while (!n || *count < n)
        __asm__ volatile("" ::: "memory");
}

static void spin_ticks(uint64_t ticks)
{
    uint64_t end = cntvct() + ticks;
    while (cntvct() < end)
        ;
}

void guest_main(uint64_t idx)
{
    SYSREG_W(tpidr_el1, idx);
    if (comm->magic != COMM_MAGIC)
        guest_error(GERR_BAD_EXPERIMENT);
    gicv = comm->gic_version;
    uint64_t exp = comm->experiment;
    uint64_t n = comm->baseline ? 0 : comm->n;
    if (idx == 0) {
        comm->cntfrq = SYSREG_R(cntfrq_el0);
        if (gicv == 2 || gicv == 3) {
            R32(GICD_BASE + GICD_CTLR) = gicv == 3 ? 0x13 : 0x1; /* (ARE,) enable groups */
        }
    }
    gic_cpu_init(idx);
    switch (exp) {
    case EXP_LEVEL_RESAMPLE:
        if (idx == 0)
            gic_cfg(0, SPI_LEVEL_INTID, 0);
        break;
    case EXP_EDGE_IRQFD:
        if (idx == 0)
            gic_cfg(0, SPI_EDGE_INTID, 1);
        break;
    case EXP_LEVEL_IRQLINE:
        if (idx == 0)
            gic_cfg(0, SPI_IRQLINE_INTID, 0);
        break;
    case EXP_VTIMER_IDLE:
    case EXP_VTIMER_BUSY:
        if (idx == 0)
            gic_cfg(0, VTIMER_INTID, 0);
        break;
    case EXP_SGI:
        gic_cfg(idx, SGI_INTID, 1);
        break;
    case EXP_GUEST_FAULT:
        (void)R32(0xc0000000UL); /* not in the page table: a translation fault */
        break;
    default:
        guest_error(GERR_BAD_EXPERIMENT);
    }
    dsb();
    comm->ready[idx] = 1;
    dsb();
    if (idx != 0) { /* only the SGI experiment gives vCPU1 work: receive in WFI */
        idle_until(&comm->handled[idx], 0);
        halt();
    }
    switch (exp) {
    case EXP_LEVEL_RESAMPLE:
    case EXP_EDGE_IRQFD:
    case EXP_LEVEL_IRQLINE:
        idle_until(&comm->handled[0], n);
        break;
    case EXP_VTIMER_IDLE:
    case EXP_VTIMER_BUSY:
        if (n)
            vtimer_arm(cntvct() + comm->period_ticks);
        if (exp == EXP_VTIMER_IDLE)
            idle_until(&comm->handled[0], n);
        else
            busy_until(&comm->handled[0], n);
        break;
    case EXP_SGI:
        while (comm->nr_vcpus > 1 && !comm->ready[1])
            ;
        if (!n)
            busy_until(&comm->handled[0], 0); /* baseline: the sender spins as it does below */
        for (uint64_t i = 0; i < n; i++) {
            spin_ticks(comm->period_ticks);
            comm->sent = i + 1;
            uint64_t t0 = cntvct(); /* as kvm-unit-tests' micro-bench ipi: send -> handled */
            send_sgi(1);
            while (comm->handled[1] < i + 1)
                ;
            comm->sgi_rtt_ticks_sum += cntvct() - t0;
        }
        break;
    }
    mailbox(MB_DONE, idx);
    halt();
}
