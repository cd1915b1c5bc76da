"""Loader of the optional compiled hot path (the mypyc "accelerator").

``scripts/build_accel.py`` compiles the simulator's hot modules out of tree into
``build/accel/`` and writes ``manifest.json``.  :func:`install`, called first thing by
``irqfwd/__init__.py``, decides from the environment whether to use that build:

``IRQFWD_ACCEL``
    ``auto`` (default): use the build if it is present and fresh, else pure Python;
    ``off``: pure Python; ``require``: the build must be used -- if it cannot be, importing
    any other ``irqfwd`` module raises :class:`AccelError` naming the reason, and the
    ``irqfwd`` command prints that reason and exits with status 2.
``IRQFWD_ACCEL_DIR``
    the build directory (default ``<project root>/build/accel``; project root = the
    directory holding ``src/irqfwd``).

The build is used all-or-nothing: the interpreter's cache tag must match and *every*
compiled module's source ``.py`` must hash (sha256) to the manifest's value; one stale
file and no module is served compiled (the reason names the file).  A fresh build is
served by a finder at the front of :data:`sys.meta_path` that knows exactly the
manifest's modules and the shared ``<hash>__mypyc`` extension, loaded with
:class:`importlib.machinery.ExtensionFileLoader`.  Nothing is printed;
:func:`status` tells what happened.  No dependency beyond the standard library.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

__all__ = [
    "ENV_DIR",
    "ENV_MODE",
    "MODES",
    "AccelError",
    "AccelStatus",
    "default_build_dir",
    "install",
    "status",
]

ENV_MODE = "IRQFWD_ACCEL"
ENV_DIR = "IRQFWD_ACCEL_DIR"
MODES = ("auto", "off", "require")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))  # .../src/irqfwd
_SRC_DIR = os.path.dirname(_PKG_DIR)  # .../src: module sources resolve against it

# Modules importable even when IRQFWD_ACCEL=require cannot be honoured, so that the CLI
# can report the problem (irqfwd.cli.main) instead of failing on an import.
_ALWAYS_IMPORTABLE = frozenset(
    {"irqfwd._accel", "irqfwd._mypyc", "irqfwd.errors", "irqfwd.cli", "irqfwd.cli.errors",
     "irqfwd.cli.main"}
)


class AccelError(ImportError):
    """``IRQFWD_ACCEL=require`` cannot be honoured, or ``IRQFWD_ACCEL`` is not a known mode."""


@dataclass(frozen=True)
class AccelStatus:
    """What :func:`install` decided (``irqfwd accel`` prints it).

    ``active``: compiled modules are served; ``mode``: the ``IRQFWD_ACCEL`` value in force;
    ``reason``: why the build is (not) used; ``modules``: dotted names served compiled
    (empty when inactive); ``build_dir``: the directory examined; ``shared_lib``: the
    mypyc group extension name; ``error``: set when the mode cannot be honoured
    (``require`` without a usable build, unknown mode), the message the CLI prints.
    """

    active: bool
    mode: str
    reason: str
    build_dir: str
    modules: tuple[str, ...] = ()
    shared_lib: str = ""
    error: str | None = None
    cache_tag: str = field(default_factory=lambda: sys.implementation.cache_tag or "")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``irqfwd accel --json``, ``irqfwd bench --json``)."""
        return {
            "active": self.active,
            "mode": self.mode,
            "reason": self.reason,
            "build_dir": self.build_dir,
            "modules": list(self.modules),
            "shared_lib": self.shared_lib,
            "error": self.error,
            "cache_tag": self.cache_tag,
        }


_status: AccelStatus | None = None


def default_build_dir() -> str:
    """``$IRQFWD_ACCEL_DIR`` or ``<project root>/build/accel`` (src layout, editable install)."""
    env = os.environ.get(ENV_DIR, "").strip()
    if env:
        return os.path.abspath(env)
    return os.path.join(os.path.dirname(_SRC_DIR), "build", "accel")


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class _StaleBuild(Exception):
    """The build cannot be used; the message says why."""


def _validate(build_dir: str) -> tuple[dict[str, str], str]:
    """Return ``({module: .so path}, shared lib name)`` or raise :class:`_StaleBuild`."""
    path = os.path.join(build_dir, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise _StaleBuild(f"no compiled build at {build_dir} (run `make compile`)") from None
    except (OSError, ValueError) as exc:
        raise _StaleBuild(f"unreadable manifest {path}: {exc}") from None
    try:
        if manifest["format"] != MANIFEST_FORMAT:
            raise _StaleBuild(f"manifest format {manifest['format']!r}, expected {MANIFEST_FORMAT}")
        tag = manifest["cache_tag"]
        if tag != sys.implementation.cache_tag:
            raise _StaleBuild(
                f"build is for {tag}, this interpreter is {sys.implementation.cache_tag}"
            )
        suffix = manifest["extension_suffix"]
        if suffix not in importlib.machinery.EXTENSION_SUFFIXES:
            raise _StaleBuild(f"extension suffix {suffix} is not loadable by this interpreter")
        shared = manifest["shared_lib"]
        served = {str(shared["name"]): os.path.join(build_dir, str(shared["so"]))}
        modules: Sequence[dict[str, str]] = manifest["modules"]
        if not modules:
            raise _StaleBuild("manifest lists no modules")
        for entry in modules:
            name = str(entry["name"])
            if not name.startswith("irqfwd."):
                raise _StaleBuild(f"manifest module {name!r} is outside irqfwd")
            source = os.path.join(_SRC_DIR, *name.split(".")) + ".py"
            try:
                digest = _sha256(source)
            except OSError:
                raise _StaleBuild(f"stale: source of {name} ({source}) is missing") from None
            if digest != entry["sha256"]:
                rel = os.path.relpath(source, os.path.dirname(_SRC_DIR))
                raise _StaleBuild(
                    f"stale: {rel} ({name}) changed since the build (sha256 mismatch)"
                )
            served[name] = os.path.join(build_dir, str(entry["so"]))
    except (KeyError, TypeError) as exc:
        raise _StaleBuild(f"malformed manifest {path}: {exc!r}") from None
    for name, so in served.items():
        if not os.path.isfile(so):
            raise _StaleBuild(f"incomplete build: {so} ({name}) is missing")
    return served, str(shared["name"])


class _CompiledFinder:
    """Meta-path finder serving exactly the manifest's modules from their extensions."""

    def __init__(self, served: dict[str, str]) -> None:
        self._served = served

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """PEP 451 ``find_spec``: a spec with an ``ExtensionFileLoader`` or ``None``."""
        so = self._served.get(fullname)
        if so is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, so)
        return importlib.util.spec_from_file_location(fullname, so, loader=loader)


class _RefusingFinder:
    """Meta-path finder that makes every ``irqfwd`` import fail with the reason (require)."""

    def __init__(self, message: str) -> None:
        self._message = message

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Raise :class:`AccelError` for ``irqfwd.*`` except the CLI's error reporting."""
        if fullname.startswith("irqfwd.") and fullname not in _ALWAYS_IMPORTABLE:
            raise AccelError(self._message, name=fullname)
        return None


def install() -> AccelStatus:
    """Read the environment, install the finder if the build is usable; idempotent."""
    global _status
    if _status is not None:
        return _status
    raw = os.environ.get(ENV_MODE, "")
    mode = raw.strip().lower() or "auto"
    build_dir = default_build_dir()
    if mode not in MODES:
        message = f"{ENV_MODE}={raw!r} is not one of {', '.join(MODES)}"
        _status = AccelStatus(False, raw, message, build_dir, error=message)
        sys.meta_path.insert(0, _RefusingFinder(message))
        return _status
    if mode == "off":
        _status = AccelStatus(False, mode, f"{ENV_MODE}=off: pure Python", build_dir)
        return _status
    try:
        served, shared = _validate(build_dir)
    except _StaleBuild as exc:
        reason = str(exc)
        if mode == "require":
            message = f"{ENV_MODE}=require but the compiled build cannot be used: {reason}"
            _status = AccelStatus(False, mode, reason, build_dir, error=message)
            sys.meta_path.insert(0, _RefusingFinder(message))
        else:
            _status = AccelStatus(False, mode, f"pure Python: {reason}", build_dir)
        return _status
    sys.meta_path.insert(0, _CompiledFinder(served))
    modules = tuple(sorted(n for n in served if n != shared))
    reason = f"compiled build in use: {len(modules)} modules, all sources match"
    _status = AccelStatus(True, mode, reason, build_dir, modules, shared)
    return _status


def status() -> AccelStatus:
    """The decision :func:`install` made in this process (installs first if needed)."""
    return _status if _status is not None else install()
