/*
 * irqfwd probe: a bare-metal AArch64 program that lets the host drive QEMU's GICv2.
 *
 * Runs at EL2 on `qemu-system-aarch64 -M virt,gic-version=2,virtualization=on`, with
 * interrupts masked.  Reads one command per line from the PL011 UART and answers each
 * with exactly one line (except `x`, which resets the machine):
 *
 *   r1|r2|r4|r8 ADDR     MMIO (or RAM) read of 8/16/32/64 bits  -> "=VALUE"
 *   w1|w2|w4|w8 ADDR VALUE  MMIO (or RAM) write                 -> "k"
 *   m EL IDX             system register read (GICv3): stub IDX of sysreg_rd_table
 *                        (start.S) executed at EL2, or at EL1 with HCR_EL2.IMO|FMO
 *                        (EL = 1: the ICC_* encodings then reach ICV_*) -> "=VALUE"
 *   s EL IDX VALUE       system register write, likewise      -> "k"
 *   c N                  select the CPU doing the next accesses (0 or 1); CPU1 is
 *                        started through PSCI CPU_ON (SMC) on first use  -> "k"
 *   l PPI LEVEL          drive a generic-timer output of the current CPU:
 *                        26 = CNTHP (EL2 phys), 27 = CNTV (EL1 virt), 30 = CNTP -> "k"
 *   i                    ISR_EL1 of the current CPU (bit 7 = IRQ, bit 6 = FIQ) -> "=VALUE"
 *   x                    PSCI SYSTEM_RESET: QEMU restarts the probe (and resets the GIC)
 *
 * Numbers are hexadecimal without prefix, except PPI, LEVEL, N, EL and IDX (decimal).
 * At boot the probe reads GICD_PIDR2.ArchRev to know whether it drives a GICv2 or a
 * GICv3/v4; for a GICv3/v4 it zeroes the scratch RAM window SCRATCH_BASE..+SCRATCH_SIZE
 * that register scripts use for LPI and ITS tables (every script starts from zeroed
 * memory) and enables the system-register interface at EL2.  Errors
 * answer "!message".  A ready banner "IRQFWD-PROBE READY" is printed after every boot.
 * CPU1 executes its accesses for CPU0 through a mailbox in RAM; CPU0 does all UART I/O.
 */
#include <stdint.h>

#define UART_BASE 0x09000000UL
#define UART_DR 0x00
#define UART_FR 0x18
#define UART_LCR_H 0x2c
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)

#define PSCI_CPU_ON 0xC4000003UL
#define PSCI_SYSTEM_RESET 0x84000009UL

#define GICD_PIDR2 0x0800ffe8UL
#define GICD_PIDR2_V2 0x08000fe8UL
#define SCRATCH_BASE 0x40400000UL
#define SCRATCH_SIZE 0x00400000UL
#define SYSREG_STUBS 129 /* 128 CRn=12 encodings + ICC_PMR_EL1 */
#define STUB_PMR 128

extern uint64_t smc_call(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3);
extern uint64_t el1_call(const void *stub, uint64_t value);
extern void sec_entry(void);
extern const char sysreg_rd_table[], sysreg_wr_table[];

static unsigned gic_arch; /* 2, or GICD_PIDR2.ArchRev of a GICv3/v4: 3 or 4 */

typedef uint64_t (*stub_fn)(uint64_t unused, uint64_t value);

static uint64_t sysreg_el2(uint64_t write, uint64_t idx, uint64_t value)
{
    const char *t = write ? sysreg_wr_table : sysreg_rd_table;
    return ((stub_fn)(const void *)(t + 8 * idx))(0, value);
}

/*
 * A system-register access at EL1 (the guest's view: ICV_* when HCR_EL2.IMO/FMO = 1).
 * Physical IRQ/FIQ taken to EL2 cannot be masked at EL1, so ICC_PMR_EL1 is set to 0 for
 * the excursion (no physical interrupt is signalled) and restored afterwards.
 */
static uint64_t sysreg_el1(uint64_t write, uint64_t idx, uint64_t value)
{
    const char *t = write ? sysreg_wr_table : sysreg_rd_table;
    uint64_t pmr = sysreg_el2(0, STUB_PMR, 0);
    sysreg_el2(1, STUB_PMR, 0);
    __asm__ volatile("isb" ::: "memory");
    uint64_t r = el1_call(t + 8 * idx, value);
    sysreg_el2(1, STUB_PMR, pmr);
    __asm__ volatile("isb" ::: "memory");
    return r;
}

volatile uint64_t probe_fault;

/* Mailbox between CPU0 (UART side) and CPU1 (executes requests). */
struct mailbox {
    volatile uint64_t req;   /* incremented by CPU0 for every request */
    volatile uint64_t ack;   /* set to req by CPU1 when done */
    volatile uint64_t alive; /* set by CPU1 when it entered sec_main */
    volatile uint64_t op;
    volatile uint64_t size;
    volatile uint64_t addr;
    volatile uint64_t value;
    volatile uint64_t result;
    volatile uint64_t fault;
};
static struct mailbox mb;

static inline void dsb(void) { __asm__ volatile("dsb sy" ::: "memory"); }
static inline void isb(void) { __asm__ volatile("isb" ::: "memory"); }
static inline void cpu_yield(void) { __asm__ volatile("yield" ::: "memory"); }

static inline uint32_t mmio_r32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_w32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

static void uart_putc(char c)
{
    while (mmio_r32(UART_BASE + UART_FR) & FR_TXFF)
        ;
    mmio_w32(UART_BASE + UART_DR, (uint32_t)(unsigned char)c);
}

static void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

static void uart_puthex(uint64_t v)
{
    char buf[17];
    int n = 0;
    do {
        unsigned d = (unsigned)(v & 0xf);
        buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v >>= 4;
    } while (v);
    while (n)
        uart_putc(buf[--n]);
}

static int uart_getc(void)
{
    while (mmio_r32(UART_BASE + UART_FR) & FR_RXFE)
        ;
    return (int)(mmio_r32(UART_BASE + UART_DR) & 0xff);
}

/* One MMIO access or timer-line change, on the CPU executing it. */
static uint64_t do_access(uint64_t op, uint64_t size, uint64_t addr, uint64_t value)
{
    uint64_t r = 0;
    dsb();
    if (op == 'r') {
        if (size == 1)
            r = *(volatile uint8_t *)addr;
        else if (size == 2)
            r = *(volatile uint16_t *)addr;
        else if (size == 8)
            r = *(volatile uint64_t *)addr;
        else
            r = *(volatile uint32_t *)addr;
    } else if (op == 'w') {
        if (size == 1)
            *(volatile uint8_t *)addr = (uint8_t)value;
        else if (size == 2)
            *(volatile uint16_t *)addr = (uint16_t)value;
        else if (size == 8)
            *(volatile uint64_t *)addr = value;
        else
            *(volatile uint32_t *)addr = (uint32_t)value;
    } else if (op == 'l') {
        /* CVAL = 0 and ENABLE=1, IMASK=0: ISTATUS=1, output high.
         * ENABLE=1, IMASK=1: output low. */
        uint64_t ctl = value ? 1 : 3;
        if (addr == 27) {
            __asm__ volatile("msr cntv_cval_el0, xzr\n\tmsr cntv_ctl_el0, %0" ::"r"(ctl));
        } else if (addr == 30) {
            __asm__ volatile("msr cntp_cval_el0, xzr\n\tmsr cntp_ctl_el0, %0" ::"r"(ctl));
        } else {
            __asm__ volatile("msr cnthp_cval_el2, xzr\n\tmsr cnthp_ctl_el2, %0" ::"r"(ctl));
        }
        isb();
    } else if (op == 'i') {
        __asm__ volatile("mrs %0, isr_el1" : "=r"(r));
    } else if (op == 'm' || op == 's') {
        /* size = EL (1 or 2), addr = stub index */
        uint64_t wr = op == 's';
        r = size == 1 ? sysreg_el1(wr, addr, value) : sysreg_el2(wr, addr, value);
        __asm__ volatile("isb" ::: "memory");
    }
    dsb();
    return r;
}

/*
 * QEMU 7.2's GIC reset (arm_gic_common_reset) leaves GICC_APRn, GICC_NSAPRn and GICH_APR
 * unchanged (reference D19 for GICH_APR; observed for GICC_APRn/NSAPRn as well), so a
 * PSCI SYSTEM_RESET would carry active priorities over from the previous script.  Each
 * CPU clears its own banked copies before taking commands, which gives the architectural
 * reset state (all zero) that a fresh model instance has.
 */
static void clear_active_priorities(void)
{
    if (gic_arch != 2)
        return; /* QEMU's GICv3 CPU interface reset clears ICC_AP*R and ICH_AP*R */
    for (uint64_t n = 0; n < 4; n++) {
        mmio_w32(0x080100d0UL + 4 * n, 0); /* GICC_APRn */
        mmio_w32(0x080100e0UL + 4 * n, 0); /* GICC_NSAPRn */
    }
    mmio_w32(0x080300f0UL, 0); /* GICH_APR */
    dsb();
}

static void el2_setup(void)
{
    uint64_t hcr = 1UL << 31; /* RW: EL1 is AArch64 (el1_call) */
    __asm__ volatile("msr hcr_el2, %0\n\tisb" ::"r"(hcr));
    sysreg_el2(1, 64 + 8 + 5, 0xf); /* ICC_SRE_EL2: SRE | DFB | DIB | Enable */
}

void sec_main(void)
{
    uint64_t seen = mb.req;
    if (gic_arch != 2)
        el2_setup();
    clear_active_priorities();
    mb.alive = 1;
    dsb();
    for (;;) {
        while (mb.req == seen)
            cpu_yield();
        dsb();
        seen = mb.req;
        probe_fault = 0;
        mb.result = do_access(mb.op, mb.size, mb.addr, mb.value);
        mb.fault = probe_fault;
        dsb();
        mb.ack = seen;
        dsb();
    }
}

static char line[128];

static int read_line(void)
{
    int n = 0;
    for (;;) {
        int c = uart_getc();
        if (c == '\n')
            break;
        if (c == '\r')
            continue;
        if (n < (int)sizeof(line) - 1)
            line[n++] = (char)c;
    }
    line[n] = 0;
    return n;
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* Parse a number in `base` (10 or 16); returns 0 when no digit was found. */
static int parse_num(const char **pp, unsigned base, uint64_t *out)
{
    const char *p = skip_ws(*pp);
    uint64_t v = 0;
    int digits = 0;
    for (;; p++) {
        unsigned d;
        char c = *p;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            break;
        v = v * base + d;
        digits++;
    }
    *pp = p;
    *out = v;
    return digits;
}

static int cur_cpu;

static int start_cpu1(void)
{
    if (mb.alive)
        return 0;
    int64_t ret = (int64_t)smc_call(PSCI_CPU_ON, 1, (uint64_t)&sec_entry, 0);
    if (ret != 0) {
        uart_puts("!psci cpu_on returned ");
        uart_puthex((uint64_t)ret);
        uart_putc('\n');
        return -1;
    }
    for (uint64_t spin = 0; !mb.alive; spin++) {
        cpu_yield();
        if (spin > 100000000UL) {
            uart_puts("!cpu1 did not start\n");
            return -1;
        }
    }
    return 0;
}

/* Run an access on the current CPU; returns the read value, sets *fault. */
static uint64_t run(uint64_t op, uint64_t size, uint64_t addr, uint64_t value, uint64_t *fault)
{
    if (cur_cpu == 0) {
        probe_fault = 0;
        uint64_t r = do_access(op, size, addr, value);
        *fault = probe_fault;
        return r;
    }
    mb.op = op;
    mb.size = size;
    mb.addr = addr;
    mb.value = value;
    dsb();
    uint64_t ticket = mb.req + 1;
    mb.req = ticket;
    dsb();
    while (mb.ack != ticket)
        cpu_yield();
    dsb();
    *fault = mb.fault;
    return mb.result;
}

static void answer(char op, uint64_t r, uint64_t fault)
{
    if (fault) {
        uart_puts("!fault esr=");
        uart_puthex(fault & ~(1UL << 63));
        uart_putc('\n');
    } else if (op == 'r' || op == 'i') {
        uart_putc('=');
        uart_puthex(r);
        uart_putc('\n');
    } else {
        uart_puts("k\n");
    }
}

static void command(void)
{
    const char *p = line;
    char op = *p++;
    uint64_t size = 4, addr = 0, value = 0, fault = 0, r;

    switch (op) {
    case 'r':
    case 'w':
        size = (uint64_t)(*p++ - '0');
        if (size != 1 && size != 2 && size != 4 && size != 8)
            goto bad;
        if (!parse_num(&p, 16, &addr) || (addr & (size - 1)))
            goto bad;
        if (op == 'w' && !parse_num(&p, 16, &value))
            goto bad;
        r = run((uint64_t)op, size, addr, value, &fault);
        answer(op, r, fault);
        return;
    case 'l':
        if (!parse_num(&p, 10, &addr) || !parse_num(&p, 10, &value))
            goto bad;
        if (addr != 26 && addr != 27 && addr != 30)
            goto bad;
        run('l', 0, addr, value, &fault);
        answer('l', 0, fault);
        return;
    case 'i':
        r = run('i', 0, 0, 0, &fault);
        answer('i', r, fault);
        return;
    case 'm':
    case 's':
        if (gic_arch == 2 || !parse_num(&p, 10, &size) || (size != 1 && size != 2)
            || !parse_num(&p, 10, &addr) || addr >= SYSREG_STUBS)
            goto bad;
        if (op == 's' && !parse_num(&p, 16, &value))
            goto bad;
        r = run((uint64_t)op, size, addr, value, &fault);
        answer(op == 'm' ? 'r' : 'w', r, fault);
        return;
    case 'c':
        if (!parse_num(&p, 10, &value) || value > 1)
            goto bad;
        if (value == 1 && start_cpu1() != 0)
            return;
        cur_cpu = (int)value;
        uart_puts("k\n");
        return;
    case 'x':
        smc_call(PSCI_SYSTEM_RESET, 0, 0, 0);
        uart_puts("!reset failed\n");
        return;
    default:
        break;
    }
bad:
    uart_puts("!bad command\n");
}

int main(void)
{
    uint64_t el;
    /* 8-bit words, FIFOs enabled: QEMU then buffers 16 received characters. */
    mmio_w32(UART_BASE + UART_LCR_H, 0x70);
    /* A GICv2 has its PIDR2 at GICD + 0xFE8 (ArchRev 2) and decodes only 4 KiB; a
     * GICv3/v4 has it at GICD + 0xFFE8 (ArchRev 3 or 4).  A GICv2 boot does nothing else
     * new: the scratch RAM and the EL2 set-up are for GICv3/v4 scripts only. */
    gic_arch = (mmio_r32(GICD_PIDR2_V2) >> 4) & 0xf;
    if (gic_arch != 2) {
        gic_arch = (mmio_r32(GICD_PIDR2) >> 4) & 0xf;
        for (uint64_t a = SCRATCH_BASE; a < SCRATCH_BASE + SCRATCH_SIZE; a += 16)
            __asm__ volatile("stp xzr, xzr, [%0]" ::"r"(a) : "memory");
        dsb();
        el2_setup();
    }
    clear_active_priorities();
    __asm__ volatile("mrs %0, CurrentEL" : "=r"(el));
    uart_puts("\nIRQFWD-PROBE READY EL");
    uart_puthex((el >> 2) & 3);
    uart_puts(" GIC");
    uart_puthex(gic_arch);
    uart_putc('\n');
    for (;;) {
        if (read_line() == 0)
            continue;
        command();
    }
}
