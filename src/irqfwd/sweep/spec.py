"""Sweep specifications: which runs a study is made of.

A spec is a TOML file validated by :class:`SweepSpec`::

    name = "rate-vs-design"            # optional (default: the file's stem)
    scenario = "nic-level"             # a built-in scenario or a scenario .toml (relative to the spec)
    set = ["duration=20ms"]            # --set overrides applied to every run first
    designs = ["irqfd-resample", "forwarded"]
    seeds = [0, 1, 2]                  # or a count: seeds = 3 (0, 1, 2)
    mode = "product"                   # "product" of [parameters] (default) or "list" of [[runs]]

    [parameters]                       # keys: the --set keys of `irqfwd run` or dotted paths
    rate = [1000, "20k", 200000]
    lrs = { start = 1, stop = 16, scale = "log", num = 5 }   # 1, 2, 4, 8, 16
    "devices.0.trigger" = ["level", "edge"]

    # mode = "list": one table per point, each setting any keys
    [[runs]]
    rate = "20k"
    vms = 2

A point may also set ``scenario`` (a built-in name or a scenario .toml relative to the
spec): that point starts from it instead of the spec's scenario, ``set`` is applied to it,
then the point's other keys.

A range is ``{start, stop, step}`` (arithmetic, ``stop`` included when reached) or
``{start, stop, num, scale = "linear" | "log"}`` (``num`` points from ``start`` to ``stop``
inclusive; integers when ``start`` and ``stop`` are integers, duplicates dropped).

:func:`plan` expands a spec into the runs (:class:`PlannedRun`: a picklable
:class:`~irqfwd.system.run.RunSpec`, the parameter values, and a stable key) in a
deterministic order: points in spec order, then designs, then seeds.  Every point's
overrides are applied (and validated) while planning, so a bad value is reported before
any run starts, as an :class:`~irqfwd.errors.InputError` naming the spec field.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from irqfwd.config import ScenarioConfig
from irqfwd.errors import InputError
from irqfwd.scenarios.builtin import apply_overrides, load_scenario
from irqfwd.sim.costs import CostProfile, load_profile
from irqfwd.system.designs import DESIGNS, NAMES, check_designs, unsupported
from irqfwd.system.run import RunSpec

__all__ = [
    "PlannedRun",
    "RangeSpec",
    "SweepSpec",
    "load_spec",
    "model_fingerprint",
    "plan",
    "run_key",
    "set_argument",
]

Scalar = bool | int | float | str
"""A parameter value: what ``--set key=value`` accepts (lists and tables are written as JSON)."""


_RESERVED = frozenset({"key", "design", "seed", "sim_time_ns", "events_run",
                       "exits_per_irq", "maintenance_per_irq", "host_irqs_per_irq", "lr_spills_per_irq",
                       "host_cpu_ns_per_irq", "guest_irqs_per_sim_s"})
_RESULT_PREFIXES = ("counters.", "latency_ns.", "invariants.")

INT64_MAX = 2**63 - 1
"""The largest integer the result table stores (an Arrow int64 column): seeds and
integer parameter values must fit."""
MAX_RUNS = 1_000_000
"""The most runs a spec may expand to (points × designs × seeds)."""


def _check_int64(value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise ValueError(f"{value} does not fit a 64-bit integer (the result table's column)")


def _check_int64_at(where: str, value: object) -> None:
    """:func:`_check_int64`, its message prefixed with where the value was given."""
    try:
        _check_int64(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RangeSpec(_Strict):
    """A numeric range of parameter values (see the module docstring)."""

    start: int | float
    stop: int | float
    step: int | float | None = None
    num: int | None = Field(default=None, ge=1, le=100_000)
    scale: Literal["linear", "log"] = "linear"

    @field_validator("start", "stop", "step")
    @classmethod
    def _finite(cls, v: int | float | None) -> int | float | None:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{v} is not a finite number")
        _check_int64(v)
        return v

    @model_validator(mode="after")
    def _one_of_step_num(self) -> RangeSpec:
        if (self.step is None) == (self.num is None):
            raise ValueError("give exactly one of step and num")
        if self.step is not None:
            if self.scale != "linear":
                raise ValueError("scale applies to num ranges only")
            if self.step == 0 or (self.stop - self.start) * self.step < 0:
                raise ValueError(f"step {self.step} never reaches stop {self.stop} from start {self.start}")
            if not (self.stop - self.start) / self.step <= 100_000:
                raise ValueError("more than 100,000 values")
        if self.scale == "log" and (self.start <= 0 or self.stop <= 0):
            raise ValueError("a log range needs start and stop > 0")
        return self

    def count(self) -> int:
        """The number of values (without listing them)."""
        return len(self.values())

    def values(self) -> list[int | float]:
        """The values, in order."""
        integral = isinstance(self.start, int) and isinstance(self.stop, int)
        if self.step is not None:
            out: list[int | float] = []
            n = math.floor((self.stop - self.start) / self.step + 1e-9)
            for k in range(n + 1):
                v = self.start + k * self.step
                out.append(v if isinstance(v, int) else round(v, 12))
            return out
        assert self.num is not None
        pts: list[float] = []
        for k in range(self.num):
            f = k / (self.num - 1) if self.num > 1 else 0.0
            if self.scale == "log":
                pts.append(math.exp(math.log(self.start) + f * (math.log(self.stop) - math.log(self.start))))
            else:
                pts.append(self.start + f * (self.stop - self.start))
        if integral:
            return list(dict.fromkeys(round(p) for p in pts))  # duplicates dropped, in order
        return [round(p, 12) for p in pts]


ParamValues = list[Scalar] | RangeSpec


class SweepSpec(_Strict):
    """A sweep: the scenario, fixed overrides, designs, seeds and the swept parameters."""

    name: str = Field(default="sweep", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    scenario: str = "nic-level"
    set: list[str] = Field(default_factory=list)
    """``--set`` overrides applied to the scenario before the swept parameters."""
    designs: list[str] = Field(default_factory=lambda: ["irqfd-resample", "forwarded"], min_length=1)
    seeds: list[int] | int = Field(default_factory=lambda: [0])
    mode: Literal["product", "list"] = "product"
    parameters: dict[str, ParamValues] = Field(default_factory=dict)
    runs: list[dict[str, Scalar]] = Field(default_factory=list)
    cost_profile: str | None = None
    """A cost profile other than the scenario's (name or TOML path)."""

    @field_validator("designs")
    @classmethod
    def _known_designs(cls, v: list[str]) -> list[str]:
        for d in v:
            if d not in NAMES:
                raise ValueError(f"unknown design {d!r} (known: {', '.join(NAMES)})")
        if len(set(v)) != len(v):
            raise ValueError("a design is listed twice")
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int] | int) -> list[int] | int:
        if isinstance(v, int):
            if not 1 <= v <= 100_000:
                raise ValueError("a seed count must be between 1 and 100000")
        else:
            if not v:
                raise ValueError("at least one seed")
            if any(s < 0 for s in v):
                raise ValueError("seeds must be >= 0")
            if any(s > INT64_MAX for s in v):
                raise ValueError(f"seeds must be <= {INT64_MAX} (2^63 - 1, the table's 64-bit seed column)")
            if len(set(v)) != len(v):
                raise ValueError("a seed is listed twice")
        return v

    @field_validator("parameters")
    @classmethod
    def _params(cls, v: dict[str, ParamValues]) -> dict[str, ParamValues]:
        for key, values in v.items():
            if isinstance(values, list):
                if not values:
                    raise ValueError(f"{key}: no values")
                for value in values:
                    _check_int64_at(key, value)
        return v

    @field_validator("runs")
    @classmethod
    def _runs(cls, v: list[dict[str, Scalar]]) -> list[dict[str, Scalar]]:
        for i, point in enumerate(v):
            for key, value in point.items():
                _check_int64_at(f"runs[{i}].{key}", value)
        return v

    @field_validator("name")
    @classmethod
    def _not_dots(cls, v: str) -> str:
        if not v.strip("."):
            raise ValueError(f"{v!r} names no directory of its own (out/NAME): use letters or digits")
        return v

    @model_validator(mode="after")
    def _mode(self) -> SweepSpec:
        keys = [*self.parameters, *(k for r in self.runs for k in r)]
        for k in keys:
            if k in _RESERVED or k.startswith(_RESULT_PREFIXES):
                raise ValueError(f"parameter {k!r}: the name of a result column (design and "
                                 "seeds have fields of their own)")
        if self.mode == "product" and self.runs:
            raise ValueError("runs: only with mode = \"list\" (use [parameters] for a product)")
        if self.mode == "list":
            if self.parameters:
                raise ValueError("parameters: only with mode = \"product\" (use [[runs]] for a list)")
            if not self.runs:
                raise ValueError("runs: mode = \"list\" needs at least one [[runs]] table")
        points = self.point_count()
        seeds = self.seeds if isinstance(self.seeds, int) else len(self.seeds)
        total = points * len(self.designs) * seeds
        if total > MAX_RUNS:
            raise ValueError(f"too many runs: {points:,} points × {len(self.designs)} designs × {seeds:,} seeds "
                             f"= {total:,} runs, more than {MAX_RUNS:,}")
        return self

    def point_count(self) -> int:
        """The number of parameter points, computed without listing them."""
        if self.mode == "list":
            return len(self.runs)
        return math.prod(v.count() if isinstance(v, RangeSpec) else len(v) for v in self.parameters.values())

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def points(self) -> list[dict[str, Scalar]]:
        """The parameter points, in order (one ``{}`` when nothing is swept)."""
        if self.mode == "list":
            return [dict(r) for r in self.runs]
        keys = list(self.parameters)
        axes = [v.values() if isinstance(v, RangeSpec) else list(v) for v in self.parameters.values()]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*axes)]


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: what to run, the swept values it stands for, and its key."""

    key: str
    spec: RunSpec
    params: dict[str, Scalar]
    index: int


def set_argument(key: str, value: Scalar) -> str:
    """The ``--set`` argument for parameter ``key`` = ``value``."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        text = str(int(value))
    else:
        text = str(value)
    return f"{key}={text}"


_MODEL_PACKAGES = ("errors.py", "config.py", "sim", "hw", "devices", "host", "guest", "check",
                   "scenarios", "system")


@cache
def model_fingerprint() -> str:
    """sha256 (16 hex digits) of the sources that decide a run's results (the model, the
    scenarios, the cost profiles, the assembly): part of every run key, so a sweep resumed
    after the model changed reruns everything instead of mixing results of two models."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for name in _MODEL_PACKAGES:
        p = root / name
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file() and f.suffix in (".py", ".toml", ".csv"):
                h.update(str(f.relative_to(root)).encode())
                h.update(b"\0")
                h.update(f.read_bytes())
                h.update(b"\0")
    return h.hexdigest()[:16]


def _file_digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return f"unreadable:{path}"


def run_key(spec: RunSpec) -> str:
    """A stable key of ``spec`` (24 hex digits): sha256 of the resolved scenario, design,
    seed, cost profile, the contents of trace CSV files the traffic replays,
    and :func:`model_fingerprint`."""
    ident = {
        "config": spec.config.model_dump(mode="json"),
        "design": spec.design,
        "seed": spec.seed,
        "costs": spec.costs.model_dump(mode="json") if spec.costs is not None else None,
        "model": model_fingerprint(),
        "traces": [_file_digest(d.traffic.trace_csv) for d in spec.config.devices if d.traffic.trace_csv],
    }
    blob = json.dumps(ident, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


_UNION_NOISE = ("Input should be a valid list", "Input should be a valid dictionary",
                "Input should be a valid integer", "Input should be a valid boolean",
                "Input should be a valid number", "Input should be a valid string")


def _format_errors(exc: ValidationError) -> str:
    """``field.path: message; ...``: union members' own names left out of the path, and the
    "not this member's type" messages dropped when a member gave a real reason."""
    found: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]
                       if not (isinstance(p, str) and ("[" in p or p in ("RangeSpec", "list", "bool", "int", "float", "str"))))
        found.setdefault(loc, []).append(err["msg"].removeprefix("Value error, "))
    def real_below(loc: str) -> bool:
        """A union member's field under ``loc`` gave a real reason."""
        return any(other.startswith(f"{loc}.") and not all(m.startswith(_UNION_NOISE) for m in ms)
                   for other, ms in found.items())

    parts = []
    for loc, msgs in found.items():
        real = [m for m in msgs if not m.startswith(_UNION_NOISE)]
        if not real and real_below(loc):
            continue
        real = real or msgs
        for m in dict.fromkeys(real):
            parts.append(f"{loc}: {m}" if loc else m)
    return "; ".join(parts)


def load_spec(path: Path) -> SweepSpec:
    """Read and validate a spec file; :class:`InputError` names the file and the field."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such sweep spec") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a sweep spec") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    data.setdefault("name", re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-.") or "sweep")
    return parse_spec(data, str(path), base_dir=path.parent)


def _resolve(scenario: Any, base_dir: Path | None) -> Any:
    if base_dir is not None and isinstance(scenario, str) and scenario.endswith(".toml") \
            and not Path(scenario).is_absolute():
        return str(base_dir / scenario)
    return scenario


def parse_spec(data: dict[str, Any], where: str = "sweep spec", base_dir: Path | None = None) -> SweepSpec:
    """Validate a spec given as a dict (``where`` names it in messages; scenario files are
    relative to ``base_dir``)."""
    data = dict(data)
    if "scenario" in data:
        data["scenario"] = _resolve(data["scenario"], base_dir)
    params = data.get("parameters")
    if isinstance(params, dict) and isinstance(params.get("scenario"), list):
        data["parameters"] = {**params, "scenario": [_resolve(s, base_dir) for s in params["scenario"]]}
    runs = data.get("runs")
    if isinstance(runs, list):
        data["runs"] = [{**r, "scenario": _resolve(r["scenario"], base_dir)}
                        if isinstance(r, dict) and "scenario" in r else r for r in runs]
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{where}: {_format_errors(exc)}") from None


def plan(spec: SweepSpec, where: str = "sweep spec") -> list[PlannedRun]:
    """Every run of ``spec``, validated, in order (points, then designs, then seeds)."""
    bases: dict[str, tuple[ScenarioConfig, CostProfile]] = {}

    def base_of(name: str, field: str) -> tuple[ScenarioConfig, CostProfile]:
        if name not in bases:
            try:
                config = load_scenario(name)
                check_designs(config)  # the scenario's own list, as run and compare check it
            except InputError as exc:
                raise InputError(f"{where}: {field}: {exc}") from None
            if spec.set:
                try:
                    config = apply_overrides(config, spec.set)
                    check_designs(config)
                except InputError as exc:
                    raise InputError(f"{where}: set: {exc}") from None
            profile = spec.cost_profile or config.cost_profile
            try:
                costs = load_profile(profile)
            except (InputError, ValueError, OSError) as exc:
                where_field = "cost_profile" if spec.cost_profile else f"{field} cost_profile"
                raise InputError(f"{where}: {where_field} {profile!r}: {exc}") from None
            bases[name] = (config, costs)
        return bases[name]

    section = "runs" if spec.mode == "list" else "parameters"
    runs: list[PlannedRun] = []
    seen: dict[str, int] = {}
    for i, point in enumerate(spec.points()):
        prefix = f"runs[{i}]." if spec.mode == "list" else f"{section}."
        scenario = point.get("scenario", spec.scenario)
        if not isinstance(scenario, str):
            raise InputError(f"{where}: {prefix}scenario = {scenario!r}: not a scenario name or file")
        config, costs = base_of(scenario, f"{prefix}scenario" if "scenario" in point else "scenario")
        for key, value in point.items():
            if key == "scenario":
                continue
            field = f"{prefix}{key}"
            try:
                config = apply_overrides(config, [set_argument(key, value)])
                check_designs(config)
            except InputError as exc:
                msg = str(exc)
                if msg.startswith("--set "):
                    msg = msg.split(": ", 1)[-1]
                raise InputError(f"{where}: {field} = {value!r}: {msg}") from None
        for design in spec.designs:
            reason = unsupported(DESIGNS[design], config)
            if reason is not None:
                at = f" at {section} point {i} ({point})" if point else ""
                raise InputError(f"{where}: designs: {design!r} cannot run the scenario "
                                  f"{config.name!r}{at}: {reason}")
            for seed in spec.seed_list():
                rs = RunSpec(config=config, design=design, seed=seed, costs=costs,
                             labels={"params": dict(point)})
                key = run_key(rs)
                if key in seen:
                    raise InputError(
                        f"{where}: {section}: point {i} ({point}) runs the same scenario as point "
                        f"{seen[key]}: every point must differ"
                    )
                seen[key] = i
                runs.append(PlannedRun(key=key, spec=rs, params=dict(point), index=len(runs)))
    return runs
