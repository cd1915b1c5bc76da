/*
 * irqfwd-vmm: a small VMM on the Linux KVM API that runs irqfwd's measurement
 * experiments and counts what the host kernel does with its own instruments.
 *
 * As /init of an initramfs (PID 1) it mounts proc, sysfs and tracefs, runs the
 * experiments listed in /irqfwd.conf and powers the machine off.  Run directly
 * (`irqfwd-vmm CONFIG [GUEST.bin]`, as root on an arm64 host with /dev/kvm) it does the
 * same without mounting or powering off.
 *
 * For each experiment and repetition it runs the guest twice: the measured run (N
 * interrupts) and a baseline run of the same guest and set-up, as long as the measured
 * run, with no interrupt source.  Around each run it attaches tracefs hist triggers
 * (counting in the kernel: kvm_exit by reason, kvm_vcpu_wakeup, kvm_ack_irq, irq handler
 * entries by name, sched_switch, ...) and snapshots /proc/interrupts.  Everything is
 * printed on stdout as lines starting with "@@irqfwd " (the Python side parses them;
 * src/irqfwd/measure/protocol.py).  Any failure prints "@@irqfwd error MESSAGE".
 *
 * Config (one directive per line, '#' comments):
 *   gic 2|3                    vgic version to create (the host GIC's)
 *   event CAT NAME KEYS        a hist trigger; KEYS comma-separated fields (".sym" ok)
 *   run EXP N REPS INTERVAL_US TIMEOUT_S
 *                              EXP: level-resample edge-irqfd vtimer-idle vtimer-busy sgi
 *                              level-irqline
 *                              (and guest-fault, the error path's test)
 *   pin 0|1                    pin vCPU i to CPU i % ncpus and the VMM thread to the last
 *   rawtrace 0|1               also enable the events in the ring buffer and print every
 *                              event of each run ("@@irqfwd trace LINE"; for small N)
 *   halt_poll_ns N             write N to /sys/module/kvm/parameters/halt_poll_ns first
 *                              (the old value is restored at the end when not PID 1)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/reboot.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "comm.h"

#define TRACEFS "/sys/kernel/tracing"
#define MAX_EVENTS 64
#define MAX_RUNS 32

static int is_init;

static void out(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    /* one write per line: the console never splits our lines */
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = write(1, buf + off, (size_t)(n - off));
        if (w <= 0)
            break;
        off += w;
    }
}

static int write_file(const char *path, const char *text, int append);
static char saved_halt_poll[32];

static void finish(int status)
{
    if (saved_halt_poll[0])
        write_file("/sys/module/kvm/parameters/halt_poll_ns", saved_halt_poll, 0);
    out("@@irqfwd end %d", status);
    if (is_init) {
        sync();
        reboot(RB_POWER_OFF);
        for (;;)
            pause();
    }
    exit(status);
}

static void die(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; p++)
        if (*p == '\n')
            *p = ' ';
    out("@@irqfwd error %s", buf);
    finish(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
        ;
}

static int write_file(const char *path, const char *text, int append)
{
    int fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int err = n < 0 ? -errno : 0;
    close(fd);
    return err;
}

static char *read_file(const char *path, size_t *len_out)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = 0;
    if (len_out)
        *len_out = len;
    return buf;
}

/* Print every line of a file as "@@irqfwd TAG line". */
static void dump_file(const char *tag, const char *path)
{
    char *text = read_file(path, NULL);
    if (!text) {
        out("@@irqfwd %s !unreadable %s", tag, path);
        return;
    }
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        out("@@irqfwd %s %s", tag, line);
    free(text);
}

/* --- configuration ------------------------------------------------------------------ */
struct event {
    char cat[32], name[64], keys[160];
    char trigger[256];
    int ok;
};

struct run_spec {
    char exp[32];
    int id;
    uint64_t n, reps, interval_us, timeout_s;
};

static struct {
    int gic;
    int pin;
    long long halt_poll_ns; /* -1: leave the kernel's value */
    int rawtrace;           /* also record the events in the ring buffer and print them */
    int nevents, nruns;
    struct event ev[MAX_EVENTS];
    struct run_spec run[MAX_RUNS];
} cfg = {.gic = 2, .pin = 1, .halt_poll_ns = -1};

static const struct {
    const char *name;
    int id, vcpus;
} experiments[] = {
    {"level-resample", EXP_LEVEL_RESAMPLE, 1}, {"edge-irqfd", EXP_EDGE_IRQFD, 1},
    {"vtimer-idle", EXP_VTIMER_IDLE, 1},       {"vtimer-busy", EXP_VTIMER_BUSY, 1},
    {"sgi", EXP_SGI, 2},
    {"guest-fault", EXP_GUEST_FAULT, 1},
    {"level-irqline", EXP_LEVEL_IRQLINE, 1},
};

static int exp_vcpus(int id)
{
    for (size_t i = 0; i < sizeof experiments / sizeof experiments[0]; i++)
        if (experiments[i].id == id)
            return experiments[i].vcpus;
    return 1;
}

static void parse_config(const char *path)
{
    char *text = read_file(path, NULL);
    if (!text)
        die("cannot read config %s: %s", path, strerror(errno));
    int lineno = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char a[64] = "", b[64] = "", c[160] = "";
        unsigned long long n = 0, reps = 0, iv = 0, to = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        if (sscanf(line, "gic %d", &cfg.gic) == 1) {
            if (cfg.gic != 2 && cfg.gic != 3)
                die("config line %d: gic must be 2 or 3", lineno);
        } else if (sscanf(line, "pin %d", &cfg.pin) == 1) {
        } else if (sscanf(line, "halt_poll_ns %lld", &cfg.halt_poll_ns) == 1) {
        } else if (sscanf(line, "rawtrace %d", &cfg.rawtrace) == 1) {
        } else if (sscanf(line, "event %31s %63s %159s", a, b, c) == 3) {
            if (cfg.nevents == MAX_EVENTS)
                die("config line %d: too many events", lineno);
            struct event *e = &cfg.ev[cfg.nevents++];
            snprintf(e->cat, sizeof e->cat, "%s", a);
            snprintf(e->name, sizeof e->name, "%s", b);
            snprintf(e->keys, sizeof e->keys, "%s", c);
        } else if (sscanf(line, "run %31s %llu %llu %llu %llu", a, &n, &reps, &iv, &to) == 5) {
            if (cfg.nruns == MAX_RUNS)
                die("config line %d: too many runs", lineno);
            struct run_spec *r = &cfg.run[cfg.nruns++];
            snprintf(r->exp, sizeof r->exp, "%s", a);
            r->id = 0;
            for (size_t i = 0; i < sizeof experiments / sizeof experiments[0]; i++)
                if (!strcmp(experiments[i].name, a))
                    r->id = experiments[i].id;
            if (!r->id)
                die("config line %d: unknown experiment '%s'", lineno, a);
            if (n == 0 || reps == 0 || iv == 0 || to == 0)
                die("config line %d: N, REPS, INTERVAL_US and TIMEOUT_S must be positive",
                    lineno);
            r->n = n, r->reps = reps, r->interval_us = iv, r->timeout_s = to;
        } else {
            die("config line %d: cannot parse '%s'", lineno, line);
        }
    }
    free(text);
    if (!cfg.nruns)
        die("config %s lists no run", path);
}

/* --- tracing -------------------------------------------------------------------------- */
static int have_tracefs;

/* Check that every key field exists in the event's format; fall back to common_pid. */
static void prepare_events(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/events", TRACEFS);
    struct stat st;
    have_tracefs = stat(path, &st) == 0;
    if (!have_tracefs) {
        out("@@irqfwd warn tracefs not available at %s: no event counts", TRACEFS);
        return;
    }
    for (int i = 0; i < cfg.nevents; i++) {
        struct event *e = &cfg.ev[i];
        snprintf(path, sizeof path, "%s/events/%s/%s/format", TRACEFS, e->cat, e->name);
        char *fmt = read_file(path, NULL);
        if (!fmt) {
            out("@@irqfwd event-missing %s:%s", e->cat, e->name);
            continue;
        }
        char keys[160] = "", tmp[160];
        snprintf(tmp, sizeof tmp, "%s", e->keys);
        char *save = NULL;
        for (char *k = strtok_r(tmp, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
            char field[80], pat[96];
            snprintf(field, sizeof field, "%s", k);
            char *dot = strchr(field, '.');
            if (dot)
                *dot = 0;
            snprintf(pat, sizeof pat, " %s;", field);
            int found = strstr(fmt, pat) != NULL;
            if (!found) {
                snprintf(pat, sizeof pat, " %s[", field); /* arrays, e.g. char comm[16] */
                found = strstr(fmt, pat) != NULL;
            }
            if (!found && !strcmp(field, "common_cpu"))
                found = 1; /* a special hist field, not in the format */
            if (!found) {
                out("@@irqfwd event-nokey %s:%s %s", e->cat, e->name, field);
                continue;
            }
            if (keys[0])
                strncat(keys, ",", sizeof keys - strlen(keys) - 1);
            strncat(keys, k, sizeof keys - strlen(keys) - 1);
        }
        free(fmt);
        if (!keys[0])
            snprintf(keys, sizeof keys, "common_pid");
        snprintf(e->trigger, sizeof e->trigger, "hist:keys=%s:vals=hitcount:size=2048", keys);
        e->ok = 1;
        out("@@irqfwd event %s:%s %s", e->cat, e->name, keys);
    }
}

static void triggers(int on)
{
    char path[512], text[300];
    for (int i = 0; i < cfg.nevents; i++) {
        struct event *e = &cfg.ev[i];
        if (!e->ok)
            continue;
        snprintf(path, sizeof path, "%s/events/%s/%s/trigger", TRACEFS, e->cat, e->name);
        snprintf(text, sizeof text, "%s%s", on ? "" : "!", e->trigger);
        int err = write_file(path, text, 1);
        if (err && on) {
            out("@@irqfwd event-failed %s:%s %s", e->cat, e->name, strerror(-err));
            e->ok = 0;
        }
    }
}

/* Collapse runs of blanks (hist pads strings to their field width) to one space. */
static void squeeze(char *s)
{
    char *d = s;
    int blank = 0;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\t') {
            if (!blank)
                *d++ = ' ';
            blank = 1;
            continue;
        }
        blank = 0;
        *d++ = *s;
    }
    *d = 0;
}

/* The ring buffer: every configured event, printed after the run (cfg.rawtrace). */
static void rawtrace(int on)
{
    char path[512];
    write_file(TRACEFS "/tracing_on", "0", 0);
    for (int i = 0; i < cfg.nevents; i++) {
        struct event *e = &cfg.ev[i];
        if (!e->ok)
            continue;
        snprintf(path, sizeof path, "%s/events/%s/%s/enable", TRACEFS, e->cat, e->name);
        write_file(path, on ? "1" : "0", 0);
    }
    if (on) {
        write_file(TRACEFS "/buffer_size_kb", "16384", 0);
        write_file(TRACEFS "/trace", "", 0); /* O_TRUNC: clear */
        write_file(TRACEFS "/tracing_on", "1", 0);
        return;
    }
    char *text = read_file(TRACEFS "/trace", NULL);
    if (!text)
        return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] != '#') {
            squeeze(line);
            out("@@irqfwd trace %s", line);
        }
    free(text);
}

static void dump_hists(void)
{
    char path[512], tag[128];
    for (int i = 0; i < cfg.nevents; i++) {
        struct event *e = &cfg.ev[i];
        if (!e->ok)
            continue;
        snprintf(path, sizeof path, "%s/events/%s/%s/hist", TRACEFS, e->cat, e->name);
        char *text = read_file(path, NULL);
        if (!text)
            continue;
        snprintf(tag, sizeof tag, "hist %s:%s", e->cat, e->name);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            if (line[0] != '{' && !strstr(line, "Hits:") && !strstr(line, "Dropped:"))
                continue;
            squeeze(line);
            out("@@irqfwd %s %s", tag, line);
        }
        free(text);
    }
}

/* --- the VM --------------------------------------------------------------------------- */
struct vcpu {
    int idx, fd;
    struct kvm_run *run;
    pthread_t th;
    volatile pid_t tid;
    volatile int started;
};

static struct vm {
    int kvm, fd, vgic;
    uint8_t *mem;
    struct comm *comm;
    int nvcpus;
    size_t run_size;
    struct vcpu v[MAX_VCPUS];
    int irqfd, resamplefd, done_efd, ack_efd;
    uint64_t irq_line_calls;
    volatile int stop;
    volatile int guest_done;
    volatile int error_set;
    char error[512];
    int ncpus;
} vm;

static const uint8_t *guest_image;
static size_t guest_size;
static uint64_t cntfrq;

static void vm_error(const char *fmt, ...)
{
    if (__sync_lock_test_and_set(&vm.error_set, 1))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vm.error, sizeof vm.error, fmt, ap);
    va_end(ap);
    uint64_t one = 1;
    if (write(vm.done_efd, &one, 8) < 0) {
    }
}

static void kvm_ioctl_or_die(int fd, unsigned long req, void *arg, const char *what)
{
    if (ioctl(fd, req, arg) < 0)
        die("%s failed: %s", what, strerror(errno));
}

static void set_device_attr(int fd, uint32_t group, uint64_t attr, void *addr, const char *what)
{
    struct kvm_device_attr a = {.group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)addr};
    kvm_ioctl_or_die(fd, KVM_SET_DEVICE_ATTR, &a, what);
}

static uint64_t core_reg(size_t off)
{
    return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (off / sizeof(uint32_t));
}

static void set_reg(int fd, uint64_t id, uint64_t val, const char *what)
{
    struct kvm_one_reg r = {.id = id, .addr = (uint64_t)(uintptr_t)&val};
    kvm_ioctl_or_die(fd, KVM_SET_ONE_REG, &r, what);
}

static void vm_create(int exp, uint64_t n, uint64_t period_ticks, int baseline)
{
    memset(&vm.v, 0, sizeof vm.v);
    vm.stop = 0, vm.guest_done = 0, vm.error_set = 0, vm.error[0] = 0;
    vm.irqfd = vm.resamplefd = -1;
    vm.irq_line_calls = 0;
    vm.nvcpus = exp_vcpus(exp);
    vm.fd = ioctl(vm.kvm, KVM_CREATE_VM, 0);
    if (vm.fd < 0)
        die("KVM_CREATE_VM failed: %s", strerror(errno));
    vm.mem = mmap(NULL, GUEST_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (vm.mem == MAP_FAILED)
        die("mmap of guest RAM failed: %s", strerror(errno));
    memcpy(vm.mem, guest_image, guest_size);
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = GUEST_RAM_BASE, .memory_size = GUEST_RAM_SIZE,
        .userspace_addr = (uint64_t)(uintptr_t)vm.mem};
    kvm_ioctl_or_die(vm.fd, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
    vm.comm = (struct comm *)(vm.mem + COMM_OFFSET);
    memset(vm.comm, 0, sizeof *vm.comm);
    vm.comm->magic = COMM_MAGIC;
    vm.comm->experiment = (uint64_t)exp;
    vm.comm->gic_version = (uint64_t)cfg.gic;
    vm.comm->n = n;
    vm.comm->period_ticks = period_ticks;
    vm.comm->baseline = (uint64_t)baseline;
    vm.comm->nr_vcpus = (uint64_t)vm.nvcpus;

    struct kvm_vcpu_init init;
    kvm_ioctl_or_die(vm.fd, KVM_ARM_PREFERRED_TARGET, &init, "KVM_ARM_PREFERRED_TARGET");
    init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
    for (int i = 0; i < vm.nvcpus; i++) {
        struct vcpu *c = &vm.v[i];
        c->idx = i;
        c->fd = ioctl(vm.fd, KVM_CREATE_VCPU, i);
        if (c->fd < 0)
            die("KVM_CREATE_VCPU %d failed: %s", i, strerror(errno));
        c->run = mmap(NULL, vm.run_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
        if (c->run == MAP_FAILED)
            die("mmap of kvm_run failed: %s", strerror(errno));
        kvm_ioctl_or_die(c->fd, KVM_ARM_VCPU_INIT, &init, "KVM_ARM_VCPU_INIT");
        set_reg(c->fd, core_reg(offsetof(struct kvm_regs, regs.pc)), GUEST_RAM_BASE, "set PC");
        set_reg(c->fd, core_reg(offsetof(struct kvm_regs, regs.regs[0])), (uint64_t)i, "set X0");
    }

    struct kvm_create_device dev = {
        .type = cfg.gic == 3 ? KVM_DEV_TYPE_ARM_VGIC_V3 : KVM_DEV_TYPE_ARM_VGIC_V2};
    if (ioctl(vm.fd, KVM_CREATE_DEVICE, &dev) < 0)
        die("KVM_CREATE_DEVICE (vgic v%d) failed: %s", cfg.gic, strerror(errno));
    vm.vgic = (int)dev.fd;
    uint64_t dist = GICD_BASE, cpu = GICC_BASE, redist = GICR_BASE;
    if (cfg.gic == 3) {
        set_device_attr(vm.vgic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist,
                        "vgic v3 distributor address");
        set_device_attr(vm.vgic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST,
                        &redist, "vgic v3 redistributor address");
    } else {
        set_device_attr(vm.vgic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_DIST, &dist,
                        "vgic v2 distributor address");
        set_device_attr(vm.vgic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_CPU, &cpu,
                        "vgic v2 CPU interface address");
    }
    uint32_t nr_irqs = 96;
    set_device_attr(vm.vgic, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs, "vgic nr_irqs");
    set_device_attr(vm.vgic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL,
                    "vgic init");

    if (exp == EXP_LEVEL_RESAMPLE || exp == EXP_EDGE_IRQFD) {
        vm.irqfd = eventfd(0, EFD_CLOEXEC);
        struct kvm_irqfd irqfd = {.fd = (uint32_t)vm.irqfd};
        if (exp == EXP_LEVEL_RESAMPLE) {
            vm.resamplefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            irqfd.gsi = SPI_LEVEL_INTID - 32;
            irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
            irqfd.resamplefd = (uint32_t)vm.resamplefd;
        } else {
            irqfd.gsi = SPI_EDGE_INTID - 32;
        }
        kvm_ioctl_or_die(vm.fd, KVM_IRQFD, &irqfd,
                         exp == EXP_LEVEL_RESAMPLE ? "KVM_IRQFD (resample)" : "KVM_IRQFD");
    }
}

static void vm_destroy(void)
{
    if (vm.irqfd >= 0) {
        struct kvm_irqfd irqfd = {.fd = (uint32_t)vm.irqfd, .flags = KVM_IRQFD_FLAG_DEASSIGN,
                                  .gsi = vm.resamplefd >= 0 ? SPI_LEVEL_INTID - 32
                                                            : SPI_EDGE_INTID - 32};
        ioctl(vm.fd, KVM_IRQFD, &irqfd);
        close(vm.irqfd);
    }
    if (vm.resamplefd >= 0)
        close(vm.resamplefd);
    for (int i = 0; i < vm.nvcpus; i++) {
        munmap(vm.v[i].run, vm.run_size);
        close(vm.v[i].fd);
    }
    close(vm.vgic);
    close(vm.fd);
    munmap(vm.mem, GUEST_RAM_SIZE);
}

static void pin_to(int cpu)
{
    if (!cfg.pin || vm.ncpus <= 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % vm.ncpus, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static void on_kick(int sig) { (void)sig; }

/* KVM_IRQ_LINE on the level-irqline experiment's SPI. */
static void irq_line(int level)
{
    struct kvm_irq_level il = {
        .irq = (KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT) | SPI_IRQLINE_INTID,
        .level = (uint32_t)level};
    if (ioctl(vm.fd, KVM_IRQ_LINE, &il) < 0)
        vm_error("KVM_IRQ_LINE (level %d) failed: %s", level, strerror(errno));
    __sync_fetch_and_add(&vm.irq_line_calls, 1);
}

static const char *gerr_name(uint64_t code)
{
    switch (code) {
    case GERR_SPURIOUS_LIMIT: return "too many spurious interrupts";
    case GERR_UNEXPECTED_IRQ: return "unexpected interrupt";
    case GERR_BAD_EXPERIMENT: return "bad experiment block";
    default: return "unknown error";
    }
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *c = arg;
    char name[16];
    snprintf(name, sizeof name, "vcpu%d", c->idx);
    prctl(PR_SET_NAME, name);
    c->tid = (pid_t)syscall(SYS_gettid);
    pin_to(c->idx);
    c->started = 1;
    while (!vm.stop) {
        int ret = ioctl(c->fd, KVM_RUN, 0);
        if (ret < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            vm_error("KVM_RUN on vCPU%d failed: %s", c->idx, strerror(errno));
            break;
        }
        struct kvm_run *r = c->run;
        if (r->exit_reason == KVM_EXIT_MMIO && r->mmio.phys_addr >= MAILBOX_BASE &&
            r->mmio.phys_addr < MAILBOX_BASE + 0x1000) {
            if (!r->mmio.is_write) {
                memset(r->mmio.data, 0, sizeof r->mmio.data);
                continue;
            }
            uint64_t val = 0;
            memcpy(&val, r->mmio.data, r->mmio.len <= 8 ? r->mmio.len : 8);
            uint64_t off = r->mmio.phys_addr - MAILBOX_BASE;
            if (off == MB_DONE) {
                if (c->idx == 0) {
                    vm.guest_done = 1;
                    uint64_t one = 1;
                    if (write(vm.done_efd, &one, 8) < 0) {
                    }
                }
            } else if (off == MB_DEVACK) {
                irq_line(0);
                uint64_t one = 1;
                if (write(vm.ack_efd, &one, 8) < 0) {
                }
            } else if (off == MB_FAULT) {
                vm_error("guest fault on vCPU%d: ESR_EL1=0x%llx ELR_EL1=0x%llx FAR_EL1=0x%llx",
                         (int)vm.comm->fault_vcpu, (unsigned long long)val,
                         (unsigned long long)vm.comm->fault_elr,
                         (unsigned long long)vm.comm->fault_far);
                break;
            } else if (off == MB_ERROR) {
                vm_error("guest error on vCPU%d: %s (last INTID %llu)", c->idx, gerr_name(val),
                         (unsigned long long)vm.comm->last_intid[c->idx]);
                break;
            }
            continue;
        }
        if (r->exit_reason == KVM_EXIT_MMIO) {
            vm_error("vCPU%d accessed unmapped guest address 0x%llx", c->idx,
                     (unsigned long long)r->mmio.phys_addr);
            break;
        }
        if (r->exit_reason == KVM_EXIT_SYSTEM_EVENT) {
            vm_error("vCPU%d: guest system event %u", c->idx, r->system_event.type);
            break;
        }
        vm_error("vCPU%d: unexpected exit reason %u", c->idx, r->exit_reason);
        break;
    }
    return NULL;
}

static void vcpus_start(void)
{
    for (int i = 0; i < vm.nvcpus; i++)
        if (pthread_create(&vm.v[i].th, NULL, vcpu_thread, &vm.v[i]))
            die("pthread_create failed");
    for (int i = 0; i < vm.nvcpus; i++)
        while (!vm.v[i].started)
            sched_yield();
}

static void vcpus_stop(void)
{
    vm.stop = 1;
    __sync_synchronize();
    for (int i = 0; i < vm.nvcpus; i++) {
        vm.v[i].run->immediate_exit = 1;
        __sync_synchronize();
        pthread_kill(vm.v[i].th, SIGUSR1);
    }
    for (int i = 0; i < vm.nvcpus; i++)
        pthread_join(vm.v[i].th, NULL);
}

/* Wait for done_efd (guest finished or error) until the deadline; 1 if signalled. */
static int wait_done(uint64_t deadline)
{
    for (;;) {
        uint64_t t = now_ns();
        if (vm.guest_done || vm.error_set)
            return 1;
        if (t >= deadline)
            return 0;
        struct pollfd p = {.fd = vm.done_efd, .events = POLLIN};
        int ms = (int)((deadline - t) / 1000000ULL) + 1;
        if (poll(&p, 1, ms) > 0) {
            uint64_t v;
            if (read(vm.done_efd, &v, 8) < 0) {
            }
        }
    }
}

struct vmm_stats {
    uint64_t irqfd_signals, resamples, reasserts, requests;
    uint64_t roundtrip_ns_sum; /* level: irqfd write -> resamplefd readable, summed */
};

static void signal_fd(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, 8) != 8)
        vm_error("eventfd write failed: %s", strerror(errno));
}

/* The emulated device of the level experiment, VFIO INTx style: each request asserts
 * the line (irqfd); at the resamplefd (the guest's EOI, the line de-asserted by KVM) the
 * device re-asserts if the guest left requests unserviced. */
static void device_level(uint64_t n, uint64_t interval_ns, uint64_t deadline, struct vmm_stats *s)
{
    for (uint64_t i = 0; i < n && !vm.error_set; i++) {
        sleep_ns(interval_ns);
        __atomic_store_n(&vm.comm->dev_requests, i + 1, __ATOMIC_RELEASE);
        uint64_t t_assert = now_ns();
        signal_fd(vm.irqfd);
        s->irqfd_signals++;
        s->requests++;
        int first = 1;
        for (;;) {
            uint64_t t = now_ns();
            if (t >= deadline || vm.error_set)
                return;
            struct pollfd p = {.fd = vm.resamplefd, .events = POLLIN};
            int r = poll(&p, 1, (int)((deadline - t) / 1000000ULL) + 1);
            if (r <= 0)
                continue;
            uint64_t v = 0;
            if (read(vm.resamplefd, &v, 8) != 8)
                continue;
            s->resamples += v;
            if (first)
                s->roundtrip_ns_sum += now_ns() - t_assert;
            first = 0;
            if (__atomic_load_n(&vm.comm->dev_serviced, __ATOMIC_ACQUIRE) <
                __atomic_load_n(&vm.comm->dev_requests, __ATOMIC_ACQUIRE)) {
                s->reasserts++;
                s->irqfd_signals++;
                signal_fd(vm.irqfd);
                continue;
            }
            break;
        }
    }
}

static void device_edge(uint64_t n, uint64_t interval_ns, uint64_t deadline, struct vmm_stats *s)
{
    for (uint64_t i = 0; i < n && !vm.error_set; i++) {
        sleep_ns(interval_ns);
        while (vm.comm->handled[0] < i && !vm.error_set) { /* the guest lags: wait for it */
            if (now_ns() >= deadline)
                return;
            sleep_ns(interval_ns / 4 + 1);
        }
        __atomic_store_n(&vm.comm->dev_requests, i + 1, __ATOMIC_RELEASE);
        signal_fd(vm.irqfd);
        s->irqfd_signals++;
        s->requests++;
    }
}

/* A device emulated in the VMM, without irqfd: KVM_IRQ_LINE raises its level SPI, the
 * guest's ack (a register write: an MMIO exit to the VMM) lowers it (vcpu_thread). */
static void device_irqline(uint64_t n, uint64_t interval_ns, uint64_t deadline,
                           struct vmm_stats *s)
{
    for (uint64_t i = 0; i < n && !vm.error_set; i++) {
        sleep_ns(interval_ns);
        __atomic_store_n(&vm.comm->dev_requests, i + 1, __ATOMIC_RELEASE);
        irq_line(1);
        s->requests++;
        for (;;) {
            uint64_t t = now_ns();
            if (t >= deadline || vm.error_set)
                return;
            struct pollfd p = {.fd = vm.ack_efd, .events = POLLIN};
            if (poll(&p, 1, (int)((deadline - t) / 1000000ULL) + 1) <= 0)
                continue;
            uint64_t v;
            if (read(vm.ack_efd, &v, 8) == 8)
                break;
        }
    }
}

static void print_interrupts(const char *when) { dump_file(when, "/proc/interrupts"); }

static void run_one(const struct run_spec *spec, uint64_t rep, int baseline, uint64_t *duration)
{
    uint64_t interval_ns = spec->interval_us * 1000ULL;
    uint64_t period_ticks = cntfrq * spec->interval_us / 1000000ULL;
    vm_create(spec->id, spec->n, period_ticks, baseline);
    const char *kind = baseline ? "baseline" : "run";
    out("@@irqfwd run-begin %s %llu %s n=%llu interval_us=%llu vcpus=%d", spec->exp,
        (unsigned long long)rep, kind, (unsigned long long)spec->n,
        (unsigned long long)spec->interval_us, vm.nvcpus);
    pin_to(vm.ncpus - 1);
    /* attaching a trigger enables a tracepoint (code patching, IPIs): snapshot after it */
    if (have_tracefs)
        triggers(1);
    if (have_tracefs && cfg.rawtrace)
        rawtrace(1);
    print_interrupts("irq-before");
    struct vmm_stats s = {0};
    uint64_t t0 = now_ns();
    uint64_t deadline = t0 + spec->timeout_s * 1000000000ULL;
    vcpus_start();
    int ok = 1;
    if (baseline) {
        uint64_t end = t0 + *duration;
        while (now_ns() < end && !vm.error_set)
            sleep_ns(end - now_ns() < 50000000ULL ? end - now_ns() : 50000000ULL);
    } else {
        if (spec->id == EXP_LEVEL_RESAMPLE)
            device_level(spec->n, interval_ns, deadline, &s);
        else if (spec->id == EXP_EDGE_IRQFD)
            device_edge(spec->n, interval_ns, deadline, &s);
        else if (spec->id == EXP_LEVEL_IRQLINE)
            device_irqline(spec->n, interval_ns, deadline, &s);
        ok = wait_done(deadline);
    }
    uint64_t t1 = now_ns();
    vcpus_stop();
    uint64_t t2 = now_ns();
    print_interrupts("irq-after");
    if (have_tracefs && cfg.rawtrace)
        rawtrace(0);
    if (have_tracefs) {
        dump_hists();
        triggers(0);
    }
    if (!baseline)
        *duration = t1 - t0;
    for (int i = 0; i < vm.nvcpus; i++)
        out("@@irqfwd stat vcpu%d_tid %d", i, (int)vm.v[i].tid);
    out("@@irqfwd stat vmm_tid %d", (int)syscall(SYS_gettid));
    out("@@irqfwd stat elapsed_ns %llu", (unsigned long long)(t1 - t0));
    out("@@irqfwd stat stop_ns %llu", (unsigned long long)(t2 - t1));
    for (int i = 0; i < vm.nvcpus; i++) {
        out("@@irqfwd stat guest_handled_%d %llu", i, (unsigned long long)vm.comm->handled[i]);
        out("@@irqfwd stat guest_spurious_%d %llu", i, (unsigned long long)vm.comm->spurious[i]);
    }
    out("@@irqfwd stat guest_sent %llu", (unsigned long long)vm.comm->sent);
    out("@@irqfwd stat guest_late_ticks_sum %llu", (unsigned long long)vm.comm->late_ticks_sum);
    out("@@irqfwd stat guest_late_ticks_max %llu", (unsigned long long)vm.comm->late_ticks_max);
    out("@@irqfwd stat guest_cntfrq %llu", (unsigned long long)vm.comm->cntfrq);
    out("@@irqfwd stat dev_requests %llu", (unsigned long long)vm.comm->dev_requests);
    out("@@irqfwd stat dev_serviced %llu", (unsigned long long)vm.comm->dev_serviced);
    out("@@irqfwd stat vmm_irqfd_signals %llu", (unsigned long long)s.irqfd_signals);
    out("@@irqfwd stat vmm_resamplefd_reads %llu", (unsigned long long)s.resamples);
    out("@@irqfwd stat vmm_reasserts %llu", (unsigned long long)s.reasserts);
    out("@@irqfwd stat vmm_irq_line_calls %llu", (unsigned long long)vm.irq_line_calls);
    out("@@irqfwd stat vmm_roundtrip_ns_sum %llu", (unsigned long long)s.roundtrip_ns_sum);
    out("@@irqfwd stat guest_sgi_rtt_ticks_sum %llu",
        (unsigned long long)vm.comm->sgi_rtt_ticks_sum);
    const char *what = baseline ? "baseline run" : "measured run";
    if (vm.error_set)
        die("%s, repetition %llu of %s: %s", what, (unsigned long long)rep + 1, spec->exp,
            vm.error);
    if (!ok) {
        uint64_t h = vm.comm->handled[spec->id == EXP_SGI ? 1 : 0];
        die("%s, repetition %llu of %s, timed out after %llu s: the guest handled %llu of "
            "%llu interrupts", what, (unsigned long long)rep + 1, spec->exp,
            (unsigned long long)spec->timeout_s, (unsigned long long)h,
            (unsigned long long)spec->n);
    }
    out("@@irqfwd run-end %s %llu %s", spec->exp, (unsigned long long)rep, kind);
    vm_destroy();
}

/* --- start-up ------------------------------------------------------------------------- */
static void mount_all(void)
{
    mkdir("/proc", 0555);
    mkdir("/sys", 0555);
    mkdir("/dev", 0755);
    mkdir("/tmp", 01777);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    if (mount("tracefs", TRACEFS, "tracefs", 0, NULL) < 0 && errno != EBUSY)
        out("@@irqfwd warn mount tracefs: %s", strerror(errno));
}

static void print_dmesg(void)
{
    int len = klogctl(10, NULL, 0); /* SYSLOG_ACTION_SIZE_BUFFER */
    if (len <= 0)
        return;
    char *buf = malloc((size_t)len + 1);
    int n = klogctl(3, buf, len); /* SYSLOG_ACTION_READ_ALL */
    if (n <= 0) {
        free(buf);
        return;
    }
    buf[n] = 0;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        if (strcasestr(line, "kvm") || strcasestr(line, "hyp") || strcasestr(line, "GIC") ||
            strcasestr(line, "VHE") || strstr(line, "Machine model") ||
            strstr(line, "CPU features") || strstr(line, "Kernel command line"))
            out("@@irqfwd dmesg %s", line);
    free(buf);
}

static void print_info(void)
{
    struct utsname u;
    if (uname(&u) == 0) {
        out("@@irqfwd info kernel_release %s", u.release);
        out("@@irqfwd info kernel_version %s", u.version);
        out("@@irqfwd info machine %s", u.machine);
    }
    char *cmdline = read_file("/proc/cmdline", NULL);
    if (cmdline) {
        cmdline[strcspn(cmdline, "\n")] = 0;
        out("@@irqfwd info cmdline %s", cmdline);
        free(cmdline);
    }
    char *hp = read_file("/sys/module/kvm/parameters/halt_poll_ns", NULL);
    if (hp) {
        hp[strcspn(hp, "\n")] = 0;
        out("@@irqfwd info halt_poll_ns %s", hp);
        free(hp);
    }
    const char *more[] = {"halt_poll_ns_grow", "halt_poll_ns_grow_start", "halt_poll_ns_shrink"};
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof path, "/sys/module/kvm/parameters/%s", more[i]);
        char *v = read_file(path, NULL);
        if (v) {
            v[strcspn(v, "\n")] = 0;
            out("@@irqfwd info %s %s", more[i], v);
            free(v);
        }
    }
    out("@@irqfwd info ncpus %d", vm.ncpus);
    out("@@irqfwd info cntfrq %llu", (unsigned long long)cntfrq);
    out("@@irqfwd info gic %d", cfg.gic);
    out("@@irqfwd info pin %d", cfg.pin);
    int api = ioctl(vm.kvm, KVM_GET_API_VERSION, 0);
    out("@@irqfwd info kvm_api %d", api);
    out("@@irqfwd info cap_irqfd_resample %d",
        ioctl(vm.kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE));
    char path[256];
    snprintf(path, sizeof path, "%s/events/kvm/kvm_exit/format", TRACEFS);
    char *fmt = read_file(path, NULL);
    if (fmt) {
        for (char *line = strtok(fmt, "\n"); line; line = strtok(NULL, "\n"))
            if (strstr(line, "field:") && !strstr(line, "common_"))
                out("@@irqfwd info kvm_exit_field %s", line + strspn(line, " \t"));
        free(fmt);
    }
    print_dmesg();
}

int main(int argc, char **argv)
{
    is_init = getpid() == 1;
    const char *config = "/irqfwd.conf", *guest = "/guest.bin";
    if (!is_init) {
        if (argc < 2) {
            fprintf(stderr, "usage: %s CONFIG [GUEST.bin]\n", argv[0]);
            return 2;
        }
        config = argv[1];
        if (argc > 2)
            guest = argv[2];
    }
    if (is_init) {
        mount_all();
        klogctl(8, NULL, 1); /* console loglevel 1: kernel messages stay off our lines */
        int fd = open("/dev/console", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    out("@@irqfwd begin 1");
    struct sigaction sa = {.sa_handler = on_kick};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    prctl(PR_SET_NAME, "irqfwd-vmm");
    parse_config(config);
    size_t len = 0;
    guest_image = (const uint8_t *)read_file(guest, &len);
    if (!guest_image || len == 0)
        die("cannot read the guest image %s", guest);
    if (len > COMM_OFFSET)
        die("guest image too large (%zu bytes)", len);
    guest_size = len;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(cntfrq));
    vm.ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    vm.kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm.kvm < 0) {
        print_dmesg();
        die("cannot open /dev/kvm: %s (is KVM enabled in this kernel, and is the CPU at EL2?)",
            strerror(errno));
    }
    vm.run_size = (size_t)ioctl(vm.kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    vm.done_efd = eventfd(0, EFD_CLOEXEC);
    vm.ack_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (cfg.halt_poll_ns >= 0) {
        const char *hp_path = "/sys/module/kvm/parameters/halt_poll_ns";
        char *old = read_file(hp_path, NULL), val[32];
        snprintf(val, sizeof val, "%lld", cfg.halt_poll_ns);
        int err = write_file(hp_path, val, 0);
        if (err)
            die("cannot set %s: %s", hp_path, strerror(-err));
        if (old && !is_init)
            snprintf(saved_halt_poll, sizeof saved_halt_poll, "%s", old);
        free(old);
    }
    print_info();
    prepare_events();
    for (int r = 0; r < cfg.nruns; r++) {
        for (uint64_t rep = 0; rep < cfg.run[r].reps; rep++) {
            uint64_t duration = 0;
            run_one(&cfg.run[r], rep, 0, &duration);
            run_one(&cfg.run[r], rep, 1, &duration);
        }
    }
    finish(0);
    return 0;
}
