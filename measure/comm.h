/*
 * irqfwd measurement harness: what the VMM (vmm.c) and the bare-metal guest (guest/)
 * share.  The guest physical memory map is the VMM's own (not QEMU's):
 *
 *   0x08000000  GIC distributor (vgic v2 or v3, emulated by KVM: accesses exit)
 *   0x08010000  GICv2 CPU interface (GICV, mapped by KVM: accesses do not exit)
 *   0x080a0000  GICv3 redistributors, 128 KiB per vCPU
 *   0x0a000000  mailbox: not backed by memory, every write is a KVM_EXIT_MMIO to the VMM
 *   0x40000000  RAM (GUEST_RAM_SIZE): the guest image, then the comm page
 *
 * The comm page is plain shared memory: the VMM writes the experiment before the vCPUs
 * start, the guest writes its counters, the VMM's device threads read the emulated
 * device's state there (like a BAR the guest reaches without exits).
 */
#ifndef IRQFWD_COMM_H
#define IRQFWD_COMM_H

#include <stdint.h>

#define GUEST_RAM_BASE 0x40000000UL
#define GUEST_RAM_SIZE 0x00400000UL
#define COMM_OFFSET 0x00200000UL
#define COMM_ADDR (GUEST_RAM_BASE + COMM_OFFSET)

#define GICD_BASE 0x08000000UL
#define GICC_BASE 0x08010000UL
#define GICR_BASE 0x080a0000UL
#define GICR_STRIDE 0x20000UL
#define MAILBOX_BASE 0x0a000000UL

#define MB_DONE 0x00  /* value: vCPU index; the guest finished its part */
#define MB_FAULT 0x08 /* value: ESR; fault_elr/fault_far in the comm page */
#define MB_ERROR 0x10 /* value: error code (GERR_*) */
#define MB_DEVACK 0x18 /* level-irqline: the guest acks the device, the VMM lowers the line */

#define GERR_SPURIOUS_LIMIT 1
#define GERR_UNEXPECTED_IRQ 2
#define GERR_BAD_EXPERIMENT 3

#define MAX_VCPUS 4

enum experiment {
    EXP_LEVEL_RESAMPLE = 1, /* level SPI: irqfd + resamplefd, VFIO INTx style */
    EXP_EDGE_IRQFD = 2,     /* edge SPI: plain irqfd */
    EXP_VTIMER_IDLE = 3,    /* virtual timer, guest waits in WFI */
    EXP_VTIMER_BUSY = 4,    /* virtual timer, guest spins */
    EXP_SGI = 5,            /* SGI from vCPU0 to vCPU1 waiting in WFI */
    EXP_GUEST_FAULT = 6,    /* test of the error path: the guest reads an unmapped address */
    EXP_LEVEL_IRQLINE = 7,  /* level SPI raised/lowered by the VMM with KVM_IRQ_LINE, acked by
                               the guest through a register of the (userspace) device */
};

#define SPI_LEVEL_INTID 40 /* irqfd GSI 8 */
#define SPI_EDGE_INTID 41  /* irqfd GSI 9 */
#define SPI_IRQLINE_INTID 42 /* KVM_IRQ_LINE */
#define VTIMER_INTID 27
#define SGI_INTID 1

struct comm {
    /* written by the VMM before the vCPUs start */
    uint64_t magic;         /* COMM_MAGIC */
    uint64_t experiment;    /* enum experiment */
    uint64_t gic_version;   /* 2 or 3 */
    uint64_t n;             /* interrupts to take (0 for a baseline run) */
    uint64_t period_ticks;  /* vtimer period / SGI spacing in CNTVCT ticks */
    uint64_t baseline;      /* 1: no interrupt source; wait until the VMM stops the vCPUs */
    uint64_t nr_vcpus;
    uint64_t pad0;
    /* written by the guest */
    volatile uint64_t ready[MAX_VCPUS];   /* set once the vCPU configured its GIC state */
    volatile uint64_t handled[MAX_VCPUS]; /* interrupts handled, per vCPU */
    volatile uint64_t spurious[MAX_VCPUS];
    volatile uint64_t sent;               /* SGIs sent by vCPU0 */
    volatile uint64_t cntfrq;
    volatile uint64_t late_ticks_sum;     /* vtimer: sum of (handler entry - deadline) */
    volatile uint64_t late_ticks_max;
    volatile uint64_t fault_elr;
    volatile uint64_t fault_far;
    volatile uint64_t fault_vcpu;
    volatile uint64_t last_intid[MAX_VCPUS];
    /* the emulated device (level / edge experiments): written by both sides */
    volatile uint64_t dev_requests;       /* VMM: requests raised (one writer) */
    volatile uint64_t dev_serviced;       /* guest: requests serviced (one writer); the
                                             device asserts its line while they differ */
    volatile uint64_t sgi_rtt_ticks_sum;  /* SGI: sum over SGIs of send -> handler ran */
};

#define COMM_MAGIC 0x6972716677643031ULL /* "irqfwd01" */

#endif
