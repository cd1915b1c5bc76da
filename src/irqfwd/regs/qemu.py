"""The QEMU target: run register scripts on ``qemu-system-aarch64``'s GICv2 or GICv3/v4.

The bare-metal probe in ``probe/`` (built here with ``make``) runs at EL2 on
``-M virt,gic-version=N,virtualization=on -cpu cortex-a57`` (QEMU ``hw/arm/virt.c``: GICD
0x08000000, GICC 0x08010000, GICH 0x08030000, GICV 0x08040000, GICR 0x080A0000, GITS 0x08080000) and
executes one command per line received on the PL011.  For GICv3/v4 it enables the system
register interface (ICC_SRE_EL2) and executes ``mrs``/``msr`` through a table of stubs
(:func:`probe_stub_index`), at EL2 for ``ICC_*``/``ICH_*`` and, for ``ICV_*``, in a short
excursion to EL1 with ``HCR_EL2.IMO = FMO = 1``.  CPU writes to GITS_TRANSLATER carry
QEMU's requester ID of CPU accesses, DeviceID 0.  The whole script is streamed in one go (non-blocking
pipes, stdin written while stdout is read; QEMU's PL011 applies back-pressure through the
chardev, so nothing is lost), then the answers are matched to the reads.  Between scripts
the probe issues PSCI SYSTEM_RESET, which resets the whole machine (GIC included) without
restarting QEMU.  Every exit path kills QEMU; an overall timeout bounds every exchange.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from irqfwd.errors import InputError
from irqfwd.regs.script import Op, ReadResult, Script

__all__ = ["QEMU_DRIVABLE_PPIS", "QemuError", "QemuTarget", "build_probe", "missing_tools",
           "probe_source_dir", "probe_stub_index", "run_on_qemu"]

QEMU = "qemu-system-aarch64"
CROSS_GCC = "aarch64-linux-gnu-gcc"
BANNER = b"IRQFWD-PROBE READY"
QEMU_DRIVABLE_PPIS = {26: "CNTHP (EL2 physical timer)", 27: "CNTV (EL1 virtual timer)",
                      30: "CNTP (EL1 physical timer)"}
"""PPIs the probe can drive: generic timer outputs wired by the virt board (``hw/arm/virt.c`` ``create_gic``)."""
MAX_QEMU_CPUS = 2
"""The probe drives CPU0 and CPU1 (started through PSCI CPU_ON)."""


class QemuError(InputError):
    """The QEMU target could not run a script (tools missing, build failure, timeout, crash)."""


def missing_tools() -> list[str]:
    """Names of the host tools the QEMU target needs that are not on PATH."""
    return [t for t in (QEMU, CROSS_GCC, "make") if shutil.which(t) is None]


def probe_source_dir() -> Path:
    """The ``probe/`` directory (``$IRQFWD_PROBE_DIR`` or the source checkout's)."""
    env = os.environ.get("IRQFWD_PROBE_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "probe")
    for c in candidates:
        if (c / "probe.c").is_file() and (c / "Makefile").is_file():
            return c
    raise QemuError("probe sources not found (looked in "
                    + ", ".join(str(c) for c in candidates)
                    + "); set IRQFWD_PROBE_DIR to the probe/ directory of an irqfwd checkout")


def build_probe(build_dir: Path | None = None) -> Path:
    """Build ``probe.elf`` with ``make`` (incremental) into ``build_dir`` (default probe/build)."""
    missing = missing_tools()
    if missing:
        raise QemuError("the QEMU target needs " + ", ".join(missing)
                        + " (Debian: apt-get install qemu-system-arm gcc-aarch64-linux-gnu make;"
                        " or run scripts/ensure-system-deps.sh)")
    src = probe_source_dir()
    out = (build_dir if build_dir is not None else src / "build").resolve()
    out.mkdir(parents=True, exist_ok=True)
    # Several processes (pytest-xdist workers) may build into the same directory at once:
    # make is serialised by an advisory lock there, so none reads a half-written probe.elf.
    with open(out / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            proc = subprocess.run(["make", "-s", "-C", str(src), f"BUILD={out}"],
                                  capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired:
            raise QemuError("building the probe timed out after 120 s") from None
    if proc.returncode != 0:
        raise QemuError(f"building the probe failed (make exit {proc.returncode}):\n"
                        + (proc.stdout + proc.stderr).strip())
    return out / "probe.elf"


def probe_stub_index(reg: str) -> tuple[int, int]:
    """``(EL, stub index)`` of the probe's ``mrs``/``msr`` stub for system register ``reg``
    (``probe/start.S``: index ``(op1 == 4) << 6 | (CRm - 8) << 3 | op2`` for CRn = 12,
    128 for ICC_PMR_EL1); ``ICV_*`` names run at EL1."""
    from irqfwd.hw.gic.sysregs import sysreg_by_name

    entry, virtual = sysreg_by_name(reg)
    if entry.name == "ICC_PMR_EL1":
        idx = 128
    else:
        assert entry.crn == 12 and entry.op1 in (0, 4) and 8 <= entry.crm <= 15, entry
        idx = (entry.op1 == 4) << 6 | (entry.crm - 8) << 3 | entry.op2
    return (1 if virtual else 2), idx


def _probe_command(op: Op) -> bytes:
    if op.kind == "sysread":
        el, idx = probe_stub_index(op.reg)
        return f"m {el} {idx}\n".encode()
    if op.kind == "syswrite":
        el, idx = probe_stub_index(op.reg)
        return f"s {el} {idx} {op.value:x}\n".encode()
    if op.kind == "read":
        return f"r{op.size} {op.addr:x}\n".encode()
    if op.kind == "write":
        return f"w{op.size} {op.addr:x} {op.value:x}\n".encode()
    if op.kind == "line":
        return f"l {op.addr} {op.value}\n".encode()
    if op.kind == "isr":
        return b"i\n"
    return f"c {op.cpu}\n".encode()


class QemuTarget:
    """One QEMU process running the probe; a context manager that always kills QEMU.

    ``run(script)`` may be called repeatedly: from the second call on, the machine is
    reset (PSCI SYSTEM_RESET) first, so every script starts from the GIC's reset state.
    """

    def __init__(self, num_cpus: int = 2, timeout: float = 60.0,
                 build_dir: Path | None = None, gic_version: int = 2) -> None:
        if not 1 <= num_cpus <= MAX_QEMU_CPUS:
            raise QemuError(f"the QEMU target supports 1 or {MAX_QEMU_CPUS} CPUs, got {num_cpus}")
        if gic_version not in (2, 3, 4):
            raise QemuError(f"GIC version must be 2, 3 or 4, got {gic_version}")
        self.num_cpus = num_cpus
        self.gic_version = gic_version
        """QEMU's ``gic-version``: every script run here must declare it (``gic vN``)."""
        self.timeout = timeout
        self._build_dir = build_dir
        self._proc: subprocess.Popen[bytes] | None = None
        self._sel: selectors.BaseSelector | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._buf = b""
        self._lines: list[bytes] = []
        self._stderr = b""
        self._dirty = False
        self.commands_sent = 0
        """Probe commands executed so far (for throughput figures)."""
        log = os.environ.get("IRQFWD_QEMU_TRANSCRIPT")
        self._transcript = open(log, "a", encoding="utf-8") if log else None  # noqa: SIM115
        """``$IRQFWD_QEMU_TRANSCRIPT``: append every probe command sent (debugging aid)."""

    # -- process management -----------------------------------------------------------
    def start(self) -> None:
        """Build the probe, start QEMU and wait for the probe's ready banner."""
        elf = build_probe(self._build_dir)
        self._buf, self._lines, self._stderr, self._dirty = b"", [], b"", False
        self._tmp = tempfile.TemporaryDirectory(prefix="irqfwd-qemu-")
        cmd = [QEMU, "-M", f"virt,gic-version={self.gic_version},virtualization=on",
               "-cpu", "cortex-a57",
               "-smp", str(self.num_cpus), "-m", "128M", "-accel", "tcg,thread=single",
               "-display", "none", "-monitor", "none", "-nodefaults", "-serial", "stdio",
               "-kernel", str(elf)]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, cwd=self._tmp.name,
                                          start_new_session=True)
        except OSError as exc:
            self.close()
            raise QemuError(f"cannot start {QEMU}: {exc}") from None
        assert self._proc.stdin and self._proc.stdout and self._proc.stderr
        for f in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            os.set_blocking(f.fileno(), False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._proc.stdout, selectors.EVENT_READ)
        self._sel.register(self._proc.stderr, selectors.EVENT_READ)
        try:
            self._wait_banner(time.monotonic() + self.timeout)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Kill QEMU (if running), reap it and remove the temporary directory."""
        proc, self._proc = self._proc, None
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
                proc.wait(timeout=10)
            for f in (proc.stdin, proc.stdout, proc.stderr):
                if f is not None:
                    with contextlib.suppress(OSError):
                        f.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if self._transcript is not None:
            self._transcript.close()
            self._transcript = None

    def _log(self, data: bytes) -> None:
        if self._transcript is not None:
            self._transcript.write(data.decode())
            self._transcript.flush()

    @property
    def alive(self) -> bool:
        """True while the QEMU process runs."""
        return self._proc is not None and self._proc.poll() is None

    def restart(self) -> None:
        """Kill QEMU if needed and start a fresh one (e.g. after QEMU aborted)."""
        self.close()
        self.start()

    def __enter__(self) -> QemuTarget:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- I/O ----------------------------------------------------------------------------
    def _pump(self, deadline: float, out: bytearray | None = None) -> None:
        """Wait for I/O once: write pending ``out`` bytes, read stdout into lines."""
        assert self._proc is not None and self._sel is not None
        stdin = self._proc.stdin
        assert stdin is not None
        want_write = out is not None and len(out) > 0
        if want_write:
            self._sel.register(stdin, selectors.EVENT_WRITE)
        try:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QemuError(f"QEMU did not answer within {self.timeout:g} s"
                                + self._stderr_tail())
            for key, _ in self._sel.select(min(remaining, 1.0)):
                if key.fileobj is stdin:
                    assert out is not None
                    try:
                        n = os.write(stdin.fileno(), bytes(out[:65536]))
                    except BrokenPipeError:
                        raise QemuError("QEMU exited unexpectedly" + self._stderr_tail()) from None
                    del out[:n]
                    continue
                data = os.read(key.fd, 65536)
                if key.fileobj is self._proc.stderr:
                    if data:
                        self._stderr = (self._stderr + data)[-4000:]
                    else:
                        self._sel.unregister(self._proc.stderr)
                    continue
                if not data:
                    self._proc.wait(timeout=5)
                    raise QemuError(f"QEMU exited unexpectedly (status {self._proc.returncode})"
                                    + self._stderr_tail())
                self._buf += data
                *done, self._buf = self._buf.split(b"\n")
                self._lines.extend(line.rstrip(b"\r") for line in done)
        finally:
            if want_write:
                self._sel.unregister(stdin)

    def _stderr_tail(self) -> str:
        text = self._stderr.decode(errors="replace").strip()
        return f"; QEMU stderr: {text}" if text else ""

    def _wait_banner(self, deadline: float) -> None:
        while True:
            while self._lines:
                if self._lines.pop(0).startswith(BANNER):
                    self._lines.clear()
                    return
            self._pump(deadline)

    def reset(self) -> None:
        """PSCI SYSTEM_RESET: QEMU resets the machine and restarts the probe."""
        out = bytearray(b"x\n")
        self._log(bytes(out))
        deadline = time.monotonic() + self.timeout
        while out:
            self._pump(deadline, out)
        self._wait_banner(deadline)
        self._dirty = False

    # -- scripts ------------------------------------------------------------------------
    def check(self, script: Script) -> None:
        """Raise :class:`InputError` for statements the QEMU target cannot execute."""
        if script.version != self.gic_version:
            raise InputError(f"{script.path}: a GICv{script.version} script cannot run on "
                             f"QEMU's GICv{self.gic_version} (gic-version={self.gic_version})")
        for op in script.ops:
            where = f"{script.path}:{op.lineno}"
            if op.kind == "cpu" and op.cpu >= self.num_cpus:
                raise InputError(f"{where}: CPU {op.cpu} out of range: QEMU runs with "
                                 f"{self.num_cpus} CPU(s)")
            if op.kind == "line" and op.addr not in QEMU_DRIVABLE_PPIS:
                raise InputError(
                    f"{where}: the QEMU target cannot drive {op.op} INTID {op.addr}: only "
                    + ", ".join(f"ppi{k} ({v})" for k, v in QEMU_DRIVABLE_PPIS.items())
                    + " have a source the probe controls")

    def run(self, script: Script) -> list[ReadResult]:
        """Stream ``script`` to the probe and return every read's value."""
        if self._proc is None:
            raise QemuError("QemuTarget.run() called before start()")
        self.check(script)
        if self._dirty:
            self.reset()
        self._dirty = True
        ops = list(script.ops)
        out = bytearray(b"".join(_probe_command(op) for op in ops))
        self._log(f"# {script.path}\n".encode() + bytes(out))
        deadline = time.monotonic() + self.timeout
        answers: list[bytes] = []
        while len(answers) < len(ops):
            while self._lines and len(answers) < len(ops):
                line = self._lines.pop(0)
                if not line:
                    continue
                if line.startswith(BANNER):
                    raise QemuError(f"{script.path}: the probe restarted unexpectedly")
                answers.append(line)
            if len(answers) < len(ops):
                self._pump(deadline, out)
        self.commands_sent += len(ops)
        results: list[ReadResult] = []
        for op, ans in zip(ops, answers, strict=True):
            text = ans.decode(errors="replace")
            where = f"{script.path}:{op.lineno}"
            if text.startswith("!"):
                raise QemuError(f"{where}: the probe rejected '{op.op}': {text[1:]}")
            if op.kind in ("read", "isr", "sysread"):
                if not text.startswith("="):
                    raise QemuError(f"{where}: unexpected probe answer {text!r} to a read")
                results.append(ReadResult(op.lineno, op.op, op.addr, int(text[1:], 16), op.cpu,
                                          op.reg))
            elif text != "k":
                raise QemuError(f"{where}: unexpected probe answer {text!r}")
        return results

    def run_many(self, scripts: Iterable[Script]) -> list[list[ReadResult]]:
        """Run each script from reset, in one QEMU process."""
        return [self.run(s) for s in scripts]


def run_on_qemu(script: Script, num_cpus: int = 2, timeout: float = 60.0) -> list[ReadResult]:
    """Start QEMU (the script's GIC version), run ``script`` from reset, stop QEMU."""
    with QemuTarget(num_cpus, timeout, gic_version=script.version) as q:
        return q.run(script)
