"""Run the VMM: as ``/init`` of an initramfs on an arm64 kernel under QEMU, or directly.

Under QEMU (TCG, any host) the board is ``-M virt,virtualization=on`` with the host
setting's GIC; the kernel starts at EL2, so its KVM runs our guest nested inside it.  The
counts are the kernel's; the times are TCG's and are not reported.  On an arm64 host
with ``/dev/kvm`` the same VMM runs directly (as root: it needs tracefs) and its times
are real.

Every exit path kills QEMU (its whole process group).  The console output goes to a log
file; a failed run keeps it and names it in the error.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from irqfwd.errors import InputError
from irqfwd.measure.build import QEMU, Harness
from irqfwd.measure.experiments import Experiment, HostSetting
from irqfwd.measure.initramfs import Entry, pack_initramfs
from irqfwd.measure.kernel import Kernel, cache_dir
from irqfwd.measure.protocol import MARK, BootOutput, parse_output

__all__ = ["EVENTS", "BootResult", "MeasureError", "Progress", "RunSpec", "detect_mode", "kernel_cmdline", "kernel_errors",
           "log_dir", "qemu_command", "qemu_version", "run_native", "run_qemu", "vmm_config"]

Progress = Callable[[str, str], None]
"""``progress(phase, detail)``: phase is ``boot``, ``kernel``, ``run`` or ``done``."""


class MeasureError(InputError):
    """A measurement could not be made (boot failure, timeout, guest fault, VMM error)."""


EVENTS: tuple[tuple[str, str, str], ...] = (
    ("kvm", "kvm_exit", "common_pid,ret,esr_ec"),
    ("kvm", "kvm_entry", "common_pid"),
    ("kvm", "kvm_vcpu_wakeup", "common_pid,waited,valid"),
    ("kvm", "kvm_ack_irq", "irqchip,pin"),
    ("kvm", "kvm_set_irq", "gsi,level"),
    ("kvm", "kvm_irq_line", "type,level"),
    ("kvm", "vgic_update_irq_pending", "irq,level"),
    ("kvm", "kvm_timer_update_irq", "irq,level"),
    ("kvm", "kvm_timer_save_state", "timer_idx"),
    ("kvm", "kvm_timer_restore_state", "timer_idx"),
    ("kvm", "kvm_userspace_exit", "common_pid,reason"),
    ("irq", "irq_handler_entry", "name,common_cpu"),
    ("ipi", "ipi_send_cpu", "callsite.sym,common_cpu"),
    ("sched", "sched_switch", "prev_comm,next_comm"),
    ("timer", "hrtimer_expire_entry", "function.sym,common_cpu"),
    ("workqueue", "workqueue_execute_start", "function.sym"),
)
"""Tracefs events counted with hist triggers, and their keys (a missing field falls back)."""


@dataclass(frozen=True)
class RunSpec:
    """One experiment to run in a boot: N interrupts, ``reps`` repetitions."""

    experiment: Experiment
    n: int
    reps: int
    interval_us: int
    timeout_s: int = 0

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise InputError(f"-n {self.n}: the number of interrupts must be at least 1")
        if self.reps <= 0:
            raise InputError(f"--reps {self.reps}: must be at least 1")
        if self.interval_us <= 0:
            raise InputError(f"--interval-us {self.interval_us}: must be at least 1")

    @property
    def run_timeout_s(self) -> int:
        """The VMM's limit for one run: generous (TCG is 20-100x slower than hardware)."""
        if self.timeout_s:
            return self.timeout_s
        return max(30, int(self.n * self.interval_us * 50 / 1e6) + 30)


def vmm_config(setting: HostSetting, specs: list[RunSpec], *, set_halt_poll: bool = False,
               pin: bool = True, raw_trace: bool = False) -> str:
    """The VMM's config file (``measure/vmm.c``, "Config")."""
    lines = ["# irqfwd measure: generated", f"gic {setting.gic}", f"pin {1 if pin else 0}"]
    if raw_trace:
        lines.append("rawtrace 1")
    if set_halt_poll and setting.halt_poll_ns is not None:
        lines.append(f"halt_poll_ns {setting.halt_poll_ns}")
    lines += [f"event {cat} {name} {keys}" for cat, name, keys in EVENTS]
    lines += [f"run {s.experiment.name} {s.n} {s.reps} {s.interval_us} {s.run_timeout_s}"
              for s in specs]
    return "\n".join(lines) + "\n"


def kernel_cmdline(setting: HostSetting) -> str:
    return " ".join(["console=ttyAMA0", "panic=-1", "rdinit=/init", *setting.kernel_args()])


def qemu_command(setting: HostSetting, kernel: Path, initrd: Path, *, smp: int = 2,
                 memory: str = "1G") -> list[str]:
    return [QEMU, "-M", f"virt,virtualization=on,gic-version={setting.gic}", "-cpu", "max",
            "-smp", str(smp), "-m", memory, "-nographic", "-no-reboot", "-nodefaults",
            "-serial", "stdio", "-monitor", "none", "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", kernel_cmdline(setting)]


def qemu_version() -> str:
    try:
        out = subprocess.run([QEMU, "--version"], capture_output=True, text=True, timeout=30,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.splitlines()[0].strip() if out else "unknown"


_MODE_RE = re.compile(r"kvm \[\d+\]: (Protected (?:nVHE|hVHE) |Hyp (?:nVHE|hVHE) |VHE )mode initialized")


def detect_mode(dmesg: list[str]) -> str | None:
    """The KVM mode the kernel chose, from its boot messages: ``protected`` ("Protected
    nVHE/hVHE mode initialized"), ``nvhe`` ("Hyp nVHE mode"), ``vhe`` ("VHE mode")."""
    for line in dmesg:
        m = _MODE_RE.search(line)
        if m:
            text = m.group(1)
            if text.startswith("Protected"):
                return "protected"
            return "nvhe" if text.startswith("Hyp") else "vhe"
    return None


def kernel_errors(dmesg: list[str]) -> list[str]:
    """KVM's error messages from the boot log (``kvm_err``: KERN_ERR lines)."""
    out = []
    for line in dmesg:
        if line.startswith("<3>") and "kvm" in line.lower():
            out.append(re.sub(r"^<3>\[\s*[\d.]+\]\s*(kvm \[\d+\]: )?", "", line).strip())
    return out


def log_dir() -> Path:
    """Where console logs are kept: ``$IRQFWD_MEASURE_LOGS`` or the cache's ``logs/``."""
    env = os.environ.get("IRQFWD_MEASURE_LOGS")
    return Path(env) if env else cache_dir() / "logs"


@dataclass
class BootResult:
    """One boot (or one native VMM run) and what it printed."""

    output: BootOutput
    where: str
    """``qemu-tcg`` or ``native``."""
    command: list[str]
    kernel_cmdline: str
    qemu_version: str | None
    boot_seconds: float
    total_seconds: float
    log: Path | None
    started_at: str
    extra: dict[str, str] = field(default_factory=dict)


_KERNEL_TS = re.compile(r"^\[\s*\d+\.\d+\]\s*")


def _tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    useful = [t.strip() for t in text if t.strip() and MARK not in t]
    return " | ".join(useful[-lines:])


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the parent dies (PR_SET_PDEATHSIG), so
    a killed ``irqfwd measure`` never leaves QEMU running."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def _new_log(setting: HostSetting) -> Path:
    d = log_dir()
    d.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return d / f"measure-{setting.key}-{stamp}-{os.getpid()}.log"


def run_qemu(setting: HostSetting, specs: list[RunSpec], *, kernel: Kernel, harness: Harness,
             smp: int = 2, memory: str = "1G", boot_timeout: float = 180.0,
             progress: Progress | None = None, keep_log: bool = False,
             raw_trace: bool = False) -> BootResult:
    """Boot ``kernel`` under QEMU with the VMM as /init and run ``specs``."""
    if smp < 2 and any(s.experiment.vcpus > 1 for s in specs):
        raise InputError("the sgi experiment needs at least 2 host CPUs (--smp 2)")
    note = progress or (lambda phase, detail: None)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        vmm, guest = harness.vmm.read_bytes(), harness.guest.read_bytes()
    except OSError as exc:
        raise MeasureError(f"cannot read the built harness: {exc}") from None
    config = vmm_config(setting, specs, raw_trace=raw_trace)
    total_timeout = boot_timeout + sum(s.reps * (2 * s.run_timeout_s + 60) for s in specs)
    log = _new_log(setting)
    with tempfile.TemporaryDirectory(prefix="irqfwd-measure-") as tmp:
        initrd = Path(tmp) / "initramfs.cpio.gz"
        initrd.write_bytes(pack_initramfs([
            Entry("init", vmm, 0o755), Entry("guest.bin", guest, 0o644),
            Entry("irqfwd.conf", config.encode(), 0o644)]))
        cmd = qemu_command(setting, kernel.image, initrd, smp=smp, memory=memory)
        note("boot", f"booting Linux {kernel.release} under QEMU ({setting.describe()})")
        t0 = time.monotonic()
        began_at: float | None = None
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, cwd=tmp, start_new_session=True,
                                    preexec_fn=_die_with_parent)
        except OSError as exc:
            raise MeasureError(f"cannot start {QEMU}: {exc}") from None
        assert proc.stdout is not None
        failure: str | None = None
        buf = b""
        with log.open("wb") as logf, selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            try:
                while True:
                    now = time.monotonic()
                    if began_at is None and now - t0 > boot_timeout:
                        failure = (f"the kernel did not start the VMM within {boot_timeout:g} s"
                                   " (raise --boot-timeout on a slow machine)")
                        break
                    if now - t0 > total_timeout:
                        failure = f"the measurement did not finish within {total_timeout:g} s"
                        break
                    events = sel.select(1.0)
                    if not events:
                        continue
                    data = os.read(proc.stdout.fileno(), 65536)
                    if not data:
                        break
                    logf.write(data)
                    buf += data
                    *lines, buf = buf.split(b"\n")
                    for raw in lines:
                        text = raw.decode(errors="replace").rstrip("\r")
                        if MARK in text:
                            tag = text[text.find(MARK) + len(MARK):]
                            if tag.startswith("begin"):
                                began_at = time.monotonic()
                                note("kernel", f"booted in {began_at - t0:.0f} s")
                            elif tag.startswith("run-begin"):
                                parts = tag.split()
                                note("run", f"{parts[1]} repetition {int(parts[2]) + 1} ({parts[3]})")
                        elif began_at is None and text.startswith("["):
                            note("boot", _KERNEL_TS.sub("", text)[:70])
            finally:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
                proc.stdout.close()
        total = time.monotonic() - t0
    output = parse_output(log.read_text(errors="replace"))
    if failure is None:
        if output.error:
            failure = output.error
            errors = kernel_errors(output.dmesg)
            if errors:
                failure += " (kernel: " + "; ".join(errors) + ")"
        elif not output.began:
            failure = (f"QEMU exited (status {proc.returncode}) before the VMM started: "
                       f"{_tail(log) or 'no console output'}")
        elif not output.ended:
            failure = f"QEMU exited (status {proc.returncode}) before the VMM finished"
    if failure is not None:
        raise MeasureError(f"{failure}; console log kept at {log}")
    result = BootResult(output, "qemu-tcg", cmd, kernel_cmdline(setting), qemu_version(),
                        (began_at or t0) - t0, total, log if keep_log else None, started_at)
    if not keep_log:
        log.unlink(missing_ok=True)
    note("done", f"finished in {total:.0f} s")
    return result


def run_native(setting: HostSetting, specs: list[RunSpec], *, harness: Harness,
               progress: Progress | None = None, keep_log: bool = False,
               raw_trace: bool = False) -> BootResult:
    """Run the VMM directly on this arm64 host (root, /dev/kvm, tracefs)."""
    note = progress or (lambda phase, detail: None)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    total_timeout = sum(s.reps * (2 * s.run_timeout_s + 60) for s in specs)
    log = _new_log(setting)
    with tempfile.TemporaryDirectory(prefix="irqfwd-measure-") as tmp:
        conf = Path(tmp) / "irqfwd.conf"
        conf.write_text(vmm_config(setting, specs, set_halt_poll=True, raw_trace=raw_trace))
        cmd = [str(harness.vmm), str(conf), str(harness.guest)]
        note("run", "running the VMM on this host's KVM")
        t0 = time.monotonic()
        try:
            with log.open("wb") as logf:
                proc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                      timeout=total_timeout, check=False)
        except subprocess.TimeoutExpired:
            raise MeasureError(f"the VMM did not finish within {total_timeout} s; "
                               f"log kept at {log}") from None
        except OSError as exc:
            raise MeasureError(f"cannot run the VMM: {exc}") from None
        total = time.monotonic() - t0
    output = parse_output(log.read_text(errors="replace"))
    failure = output.error
    if failure is None and not output.ended:
        failure = f"the VMM exited with status {proc.returncode} before finishing: {_tail(log)}"
    if failure is not None:
        raise MeasureError(f"{failure}; log kept at {log}")
    result = BootResult(output, "native", cmd, Path("/proc/cmdline").read_text().strip()
                        if Path("/proc/cmdline").exists() else "", None, 0.0, total,
                        log if keep_log else None, started_at)
    if not keep_log:
        log.unlink(missing_ok=True)
    note("done", f"finished in {total:.0f} s")
    return result
