"""Built-in scenarios, the scenario registry, TOML scenario files and ``--set`` overrides.

Built-ins (all 10 ms, cost profile ``altra``):

``nic-level``
    1 pCPU, 1 VM with 1 vCPU, a level-triggered NIC (SPI 48) at 20 kHz, periodic.
``nic-edge``
    the same NIC, edge-triggered.
``nic-burst``
    the level NIC sending bursts of 8 events 500 ns apart, 20 kHz mean event rate.
``two-vms-one-pcpu``
    2 VMs with 1 vCPU and one level NIC each (SPIs 48 and 49, both seen as vSPI 48),
    sharing one pCPU under a round-robin scheduler (1 ms timeslice), 10 kHz each.

**Adding scenarios from another module** (e.g. the ``vtimer-*`` scenarios): build a
:class:`ScenarioConfig` and call :func:`register_scenario` at import time of a module listed
in :data:`PLUGIN_MODULES` (``irqfwd.scenarios.vtimer`` and ``irqfwd.scenarios.explore`` are listed); the registry
imports those modules the first time it is consulted::

    from irqfwd.scenarios.builtin import register_scenario
    register_scenario(ScenarioConfig(name="vtimer-periodic", ...))

:func:`load_scenario` accepts a registered name or a path to a TOML file with the
:class:`ScenarioConfig` structure (``[[vms]]``, ``[[devices]]``, ``[devices.traffic]``...);
unknown keys are rejected and every error names the file and the key path.
"""

from __future__ import annotations

import json
import re
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from irqfwd._plugins import import_plugins
from irqfwd.config import (
    DeviceConfig,
    ScenarioConfig,
    SchedulerConfig,
    TrafficConfig,
    VMConfig,
)
from irqfwd.errors import InputError

__all__ = [
    "PLUGIN_MODULES",
    "apply_overrides",
    "get_scenario",
    "load_scenario",
    "parse_duration",
    "register_scenario",
    "scenario_names",
]

PLUGIN_MODULES: list[str] = ["irqfwd.scenarios.vtimer", "irqfwd.scenarios.gicv3", "irqfwd.scenarios.explore",
                             "irqfwd.scenarios.hostile"]
"""Modules imported on first use of the registry; they call :func:`register_scenario`."""

_REGISTRY: dict[str, ScenarioConfig] = {}


def register_scenario(config: ScenarioConfig, *, replace: bool = False) -> ScenarioConfig:
    """Add ``config`` to the registry under ``config.name``."""
    if config.name in _REGISTRY and not replace:
        raise ValueError(f"scenario {config.name!r} is already registered")
    _REGISTRY[config.name] = config
    return config


def _load_plugins() -> None:
    import_plugins(PLUGIN_MODULES)


def scenario_names() -> list[str]:
    """Names of all registered scenarios, sorted."""
    _load_plugins()
    return sorted(_REGISTRY)


def get_scenario(name: str) -> ScenarioConfig:
    """A deep copy of registered scenario ``name``; :class:`InputError` if unknown."""
    _load_plugins()
    try:
        return _REGISTRY[name].model_copy(deep=True)
    except KeyError:
        raise InputError(
            f"unknown scenario {name!r} (built-in: {', '.join(scenario_names())}; or a path to a .toml file)"
        ) from None


_MAX_ERRORS = 5
"""Validation errors listed in one message; the rest are counted (``--set vms=100000``
would otherwise list one error per device)."""


def _format_errors(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = []
    for err in errors[:_MAX_ERRORS]:
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    if len(errors) > _MAX_ERRORS:
        parts.append(f"... and {len(errors) - _MAX_ERRORS} more")
    return "; ".join(parts)


def load_scenario(name_or_path: str) -> ScenarioConfig:
    """A registered scenario by name, or a scenario TOML file by path.

    Relative ``trace_csv`` paths in a file are resolved against the file's directory.
    """
    _load_plugins()
    if name_or_path in _REGISTRY:
        return get_scenario(name_or_path)
    path = Path(name_or_path)
    if path.suffix != ".toml" and not path.is_file():
        return get_scenario(name_or_path)  # raises the "unknown scenario" error
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such scenario file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    data.setdefault("name", path.stem)
    try:
        config = ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{path}: {_format_errors(exc)}") from None
    for dev in config.devices:
        csv = dev.traffic.trace_csv
        if csv is not None and not Path(csv).is_absolute():
            dev.traffic.trace_csv = str(path.parent / csv)
    return config


# --------------------------------------------------------------------------- --set

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s)?\s*$", re.ASCII)
_UNIT_NS = {None: 1, "ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(k|K|M)?(?:Hz|hz)?\s*$", re.ASCII)


def parse_duration(text: str) -> int:
    """``"5ms"``, ``"200us"``, ``"1.5s"``, ``"100ns"`` or a plain integer of ns → ns."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a duration (use e.g. 5ms, 200us, 1s or an integer of ns)")
    value = Fraction(m.group(1)) * _UNIT_NS[m.group(2)]  # exact: 1.005us is 1005 ns
    if value.denominator != 1:
        raise ValueError(f"{text!r} is not a whole number of ns")
    return int(value)


def _parse_rate(text: str) -> float:
    m = _RATE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a rate in Hz (use e.g. 20000, 20k or 1.5M)")
    return float(m.group(1)) * {None: 1, "k": 1e3, "K": 1e3, "M": 1e6}[m.group(2)]


_ASCII_HINT = " (write numbers in ASCII digits)"


def _parse_int(text: str) -> int:
    """An integer in ASCII digits (``int`` alone reads full-width and other Unicode digits)."""
    try:
        if not text.isascii():
            raise ValueError(text)
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an integer{_ASCII_HINT if not text.isascii() else ''}") from None


def _parse_scalar(text: str, current: Any) -> Any:
    """Value for a generic dotted path, typed after the value it replaces.

    JSON for lists/objects, ``none``/``null`` for None, int/float/bool when the current value
    has that type; otherwise the string (pydantic coerces it, e.g. ``"500"`` for ``int | None``).
    """
    stripped = text.strip()
    if stripped.lower() in ("none", "null"):
        return None
    if stripped[:1] and stripped[:1] in "[{":
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{text!r} is not valid JSON: {exc.msg}") from None
    if isinstance(current, bool):
        if stripped.lower() in ("true", "1", "yes", "on"):
            return True
        if stripped.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{text!r} is not a boolean (true/false)")
    if isinstance(current, int):
        return _parse_int(stripped)
    if isinstance(current, float):
        try:
            if not stripped.isascii():  # float() reads full-width and other Unicode digits
                raise ValueError(stripped)
            return float(stripped)
        except ValueError:
            raise ValueError(f"{text!r} is not a number{_ASCII_HINT if not stripped.isascii() else ''}") from None
    return stripped


def _set_vms(data: dict[str, Any], n: int) -> None:
    if n < 1:
        raise ValueError("needs at least 1 VM")
    vms: list[dict[str, Any]] = data["vms"]
    devices: list[dict[str, Any]] = data["devices"]
    one_nic_per_vm = len(devices) == len(vms) and sorted(d["vm"] for d in devices) == list(range(len(vms)))
    template_vm = vms[-1]
    data["vms"] = [dict(vms[i]) if i < len(vms) else {**template_vm, "name": None} for i in range(n)]
    if one_nic_per_vm:
        template_dev = devices[-1]
        base = min(d["host_intid"] for d in devices)
        data["devices"] = [
            dict(devices[i])
            if i < len(devices)
            else {**template_dev, "name": f"nic{i}", "vm": i, "host_intid": base + i}
            for i in range(n)
        ]


def _set_vcpus(data: dict[str, Any], n: int) -> None:
    for vm in data["vms"]:
        vm["vcpus"] = n
        if vm.get("pin") is not None and len(vm["pin"]) != n:
            vm["pin"] = None


def _set_path(data: dict[str, Any], key: str, raw: str) -> None:
    node: Any = data
    parts = key.split(".")
    for i, part in enumerate(parts):
        where = ".".join(parts[: i + 1])
        last = i == len(parts) - 1
        if isinstance(node, list):
            try:
                idx = int(part)
            except ValueError:
                raise ValueError(f"{where}: expected a list index, got {part!r}") from None
            if not 0 <= idx < len(node):
                raise ValueError(f"{where}: index {idx} out of range (there are {len(node)})")
            if last:
                node[idx] = _parse_scalar(raw, node[idx])
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if part not in node:
                known = ", ".join(sorted(node))
                raise ValueError(f"{where}: unknown key {part!r} (known: {known})")
            if last:
                node[part] = _parse_scalar(raw, node[part])
            else:
                node = node[part]
        else:
            raise ValueError(f"{where}: {'.'.join(parts[:i])} is not a table or a list")


_SHORTCUTS = ("rate", "duration", "trigger", "pattern", "vms", "vcpus", "pcpus", "lrs")


def apply_overrides(config: ScenarioConfig, assignments: list[str]) -> ScenarioConfig:
    """Apply ``--set key=value`` assignments in order and re-validate; returns a new config.

    The configuration must be valid after the last assignment; an error names the first
    assignment after which it was invalid and stayed so (a later one may complete a change
    checked across fields, e.g. ``oneshot_min_ns`` then ``oneshot_max_ns``).

    Shortcuts: ``rate`` (every device's traffic.rate_hz; ``20k``, ``1.5M`` allowed),
    ``duration`` (duration_ns; ``5ms``, ``200us``...), ``trigger`` and ``pattern`` (every
    device), ``vms`` (number of VMs; with one NIC per VM, NICs are added alongside on the
    next host INTIDs), ``vcpus`` (every VM; pins of another length are dropped), ``pcpus``,
    ``lrs`` (num_lrs).  Any other key is a dotted path into the configuration
    (``devices.0.traffic.pattern=poisson``, ``scheduler.policy=round-robin``).
    """
    data = config.model_dump()
    first_invalid: str | None = None
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected key=value")
        try:
            if key in ("rate", "trigger", "pattern") and not data["devices"]:
                raise ValueError("the scenario has no devices")
            if key == "rate":
                rate = _parse_rate(raw)
                for dev in data["devices"]:
                    dev["traffic"]["rate_hz"] = rate
            elif key == "duration":
                data["duration_ns"] = parse_duration(raw)
            elif key in ("trigger", "pattern"):
                for dev in data["devices"]:
                    if key == "trigger":
                        dev["trigger"] = raw.strip()
                    else:
                        dev["traffic"]["pattern"] = raw.strip()
            elif key == "vms":
                _set_vms(data, _parse_int(raw))
            elif key == "vcpus":
                _set_vcpus(data, _parse_int(raw))
            elif key == "pcpus":
                data["pcpus"] = _parse_int(raw)
            elif key == "lrs":
                data["num_lrs"] = _parse_int(raw)
            elif "." not in key and key not in data:
                raise ValueError(
                    f"unknown key {key!r} (shortcuts: {', '.join(_SHORTCUTS)}; "
                    f"or a dotted path into: {', '.join(sorted(data))})"
                )
            else:
                _set_path(data, key, raw)
        except ValueError as exc:
            raise InputError(f"--set {key}: {exc}") from None
        try:
            data = ScenarioConfig.model_validate(data).model_dump()
            first_invalid = None
        except ValidationError:
            # A cross-field check may fail half-way through a change that later assignments
            # complete (oneshot_min_ns raised before oneshot_max_ns): go on; if the
            # configuration stays invalid, the error names the first assignment after which
            # it was.
            if first_invalid is None:
                first_invalid = f"{key}={raw}"
    try:
        return ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"--set {first_invalid}: {_format_errors(exc)}") from None


# --------------------------------------------------------------------------- built-ins

register_scenario(
    ScenarioConfig(
        name="nic-level",
        description="1 pCPU, 1 VM / 1 vCPU, level-triggered pass-through NIC at 20 kHz (periodic)",
        duration_ns=10_000_000,
        pcpus=1,
        vms=[VMConfig(vcpus=1)],
        devices=[DeviceConfig(name="nic0", trigger="level", traffic=TrafficConfig(pattern="periodic", rate_hz=20_000))],
    )
)
register_scenario(
    ScenarioConfig(
        name="nic-edge",
        description="1 pCPU, 1 VM / 1 vCPU, edge-triggered pass-through NIC at 20 kHz (periodic)",
        duration_ns=10_000_000,
        pcpus=1,
        vms=[VMConfig(vcpus=1)],
        devices=[DeviceConfig(name="nic0", trigger="edge", traffic=TrafficConfig(pattern="periodic", rate_hz=20_000))],
    )
)
register_scenario(
    ScenarioConfig(
        name="nic-burst",
        description="level NIC sending bursts of 8 events 500 ns apart, 20 kHz mean event rate",
        duration_ns=10_000_000,
        pcpus=1,
        vms=[VMConfig(vcpus=1)],
        devices=[
            DeviceConfig(
                name="nic0",
                trigger="level",
                traffic=TrafficConfig(pattern="burst", rate_hz=20_000, burst_size=8, burst_gap_ns=500),
            )
        ],
    )
)
register_scenario(
    ScenarioConfig(
        name="two-vms-one-pcpu",
        description="2 VMs with a level NIC each (10 kHz) sharing one pCPU, round-robin 1 ms timeslice",
        duration_ns=10_000_000,
        pcpus=1,
        vms=[VMConfig(name="vm0", vcpus=1), VMConfig(name="vm1", vcpus=1)],
        devices=[
            DeviceConfig(name="nic0", vm=0, host_intid=48, guest_intid=48, traffic=TrafficConfig(rate_hz=10_000)),
            DeviceConfig(
                name="nic1",
                vm=1,
                host_intid=49,
                guest_intid=48,
                traffic=TrafficConfig(rate_hz=10_000, start_ns=35_000),
            ),
        ],
        scheduler=SchedulerConfig(policy="round-robin", timeslice_ns=1_000_000),
    )
)
