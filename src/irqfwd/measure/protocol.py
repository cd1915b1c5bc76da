"""Parse what the VMM prints: lines starting with ``@@irqfwd`` (``measure/vmm.c``).

Everything else on the console (kernel messages, QEMU) is ignored here; the whole
console output is kept in the log file by the runner.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from irqfwd.errors import InputError

__all__ = ["MARK", "BootOutput", "HistEntry", "ProtocolError", "RunOutput", "parse_hist_line",
           "parse_interrupts", "parse_output"]

MARK = "@@irqfwd "


class ProtocolError(InputError):
    """The VMM's output cannot be understood (or it reported an error)."""


@dataclass(frozen=True)
class HistEntry:
    """One line of a hist trigger's output: the key values and the hit count."""

    keys: dict[str, str]
    count: int


@dataclass
class RunOutput:
    """One run (measured or baseline) of one experiment repetition."""

    experiment: str
    rep: int
    kind: str
    n: int
    interval_us: int
    vcpus: int
    hists: dict[str, list[HistEntry]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    irq_before: list[str] = field(default_factory=list)
    irq_after: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    complete: bool = False
    trace: list[str] = field(default_factory=list)
    """The ring buffer's events of this run (only with the VMM's ``rawtrace``)."""


@dataclass
class BootOutput:
    """Everything one boot's VMM reported."""

    info: dict[str, str] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    """Traced event → the hist keys actually used."""
    missing_events: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dmesg: list[str] = field(default_factory=list)
    kvm_exit_fields: list[str] = field(default_factory=list)
    runs: list[RunOutput] = field(default_factory=list)
    error: str | None = None
    began: bool = False
    ended: bool = False
    status: int | None = None


_KEY_RE = re.compile(r"(\w+): (.*?)(?=, \w+: |$)")
_HIST_RE = re.compile(r"^\{ (.*) \} hitcount: (\d+)$")
_SYM_RE = re.compile(r"^\[[0-9a-f]+\] (.*)$")


def parse_hist_line(text: str) -> HistEntry | None:
    """``{ common_pid: 133, esr_ec: 1 } hitcount: 20`` → HistEntry (None if not a key line).

    Symbolic keys (``.sym``) print ``[address] name``: the name is kept.
    """
    m = _HIST_RE.match(" ".join(text.split()))
    if not m:
        return None
    keys: dict[str, str] = {}
    for k, v in _KEY_RE.findall(m.group(1)):
        v = v.strip()
        sym = _SYM_RE.match(v)
        if sym:
            v = sym.group(1).strip()
        keys[k] = v
    return HistEntry(keys, int(m.group(2)))


def parse_interrupts(lines: list[str]) -> dict[str, list[int]]:
    """``/proc/interrupts`` lines → {name: per-CPU counts}.

    Numbered rows are named by their action (``vgic``, ``kvm guest vtimer``,
    ``arch_timer``); IPI rows by their description (``Rescheduling interrupts``).
    Rows with the same name (one handler on several lines) are added.
    """
    if not lines:
        return {}
    ncpu = len(lines[0].split())
    out: dict[str, list[int]] = {}
    for line in lines[1:]:
        parts = line.split()
        if not parts or not parts[0].endswith(":"):
            continue
        label = parts[0][:-1]
        counts: list[int] = []
        i = 1
        while i < len(parts) and len(counts) < ncpu and parts[i].isdigit():
            counts.append(int(parts[i]))
            i += 1
        rest = parts[i:]
        if label.isdigit():
            # chip, hwirq, trigger type, then the action name(s)
            name = " ".join(rest[3:]) if len(rest) > 3 else f"irq{label}"
        elif rest:
            name = " ".join(rest)
        else:
            name = label
        counts += [0] * (ncpu - len(counts))
        prev = out.get(name)
        out[name] = counts if prev is None else [a + b for a, b in zip(prev, counts, strict=True)]
    return out


def parse_output(text: str) -> BootOutput:
    """Parse a whole console transcript."""
    boot = BootOutput()
    run: RunOutput | None = None
    for raw in text.splitlines():
        idx = raw.find(MARK)
        if idx < 0:
            continue
        line = raw[idx + len(MARK):].rstrip("\r")
        tag, _, rest = line.partition(" ")
        if tag == "begin":
            boot.began = True
        elif tag == "end":
            boot.ended = True
            try:
                boot.status = int(rest.strip())
            except ValueError:
                boot.status = None
        elif tag == "error":
            boot.error = rest.strip()
        elif tag == "warn":
            boot.warnings.append(rest.strip())
        elif tag == "info":
            key, _, value = rest.partition(" ")
            if key == "kvm_exit_field":
                boot.kvm_exit_fields.append(value.strip())
            else:
                boot.info[key] = value.strip()
        elif tag == "dmesg":
            boot.dmesg.append(rest)
        elif tag == "event":
            name, _, keys = rest.partition(" ")
            boot.events[name] = keys.strip()
        elif tag in ("event-missing", "event-failed"):
            boot.missing_events.append(rest.split()[0] if rest.split() else rest)
        elif tag == "event-nokey":
            boot.warnings.append(f"event field missing: {rest.strip()}")
        elif tag == "run-begin":
            parts = rest.split()
            if len(parts) < 3:
                raise ProtocolError(f"malformed run-begin line: {line!r}")
            kv = dict(p.split("=", 1) for p in parts[3:] if "=" in p)
            run = RunOutput(parts[0], int(parts[1]), parts[2], int(kv.get("n", "0")),
                            int(kv.get("interval_us", "0")), int(kv.get("vcpus", "1")))
            boot.runs.append(run)
        elif tag == "run-end":
            if run is not None:
                run.complete = True
            run = None
        elif run is not None and tag == "hist":
            event, _, body = rest.partition(" ")
            entry = parse_hist_line(body)
            if entry is not None:
                run.hists.setdefault(event, []).append(entry)
            elif "Dropped:" in body:
                with contextlib.suppress(IndexError, ValueError):
                    run.dropped[event] = int(body.split("Dropped:")[1].split()[0])
            else:
                run.hists.setdefault(event, [])
        elif run is not None and tag == "trace":
            run.trace.append(rest)
        elif run is not None and tag == "irq-before":
            run.irq_before.append(rest)
        elif run is not None and tag == "irq-after":
            run.irq_after.append(rest)
        elif run is not None and tag == "stat":
            key, _, value = rest.partition(" ")
            with contextlib.suppress(ValueError):
                run.stats[key] = int(value.strip())
    return boot
