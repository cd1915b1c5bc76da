#!/usr/bin/env python3
"""Build irqfwd's optional compiled hot path ("the accelerator") with mypyc, out of tree.

The compiled modules are every module of the packages in :data:`PACKAGES` (except those
marked ``# mypyc: interpreted``); the Makefile reads the list with
``scripts/build_accel.py --list``.

``scripts/build_accel.py [--out build/accel]`` runs ``mypyc.build.mypycify`` on
:data:`MODULES` (``multi_file``: one C file per module, so that setuptools ``build_ext
--parallel`` compiles them on every CPU; on 2 CPUs 107 s instead of 223 s, with the same
instructions per simulated interrupt) into a temporary directory next to ``--out``, writes ``manifest.json`` (interpreter cache tag and version,
mypy version, the shared ``<hash>__mypyc`` extension, and per module its dotted name,
extension path and source sha256) and then swaps the directory into place.  Nothing is
written under ``src/``.  ``src/irqfwd/_accel.py`` reads the manifest at import time and
uses the build only if every source hash still matches (docs/performance.md, "Compiled
build (mypyc)").

Options: ``--list`` prints the source paths (one per line) and exits; ``--make`` is the
Makefile's mode: an existing build whose manifest matches every source hash, this script
and the mypy version is kept (only its timestamp is refreshed); a failed build prints a
warning and exits 0 (pure Python still works) unless ``CI=true``, where it exits 1.

Runs with the project venv's interpreter (the one whose cache tag the build targets).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANIFEST_FORMAT = 1

#: The packages whose modules are compiled: the simulation hot path, from the event kernel
#: to the guest.  Every ``.py`` below them is compiled except package ``__init__`` files and
#: modules that declare, in a line of their own near the top, :data:`INTERPRETED_MARK`
#: followed by the reason (e.g. a pydantic model, which cannot be a native class).  Moving
#: a module inside or between these packages therefore needs no change here.
PACKAGES: tuple[str, ...] = ("sim", "hw", "devices", "host", "guest", "vmm", "check")
INTERPRETED_MARK = "# mypyc: interpreted"


def _compiled_sources() -> tuple[str, ...]:
    """The source paths (relative to the project root) of every module to compile."""
    found: list[str] = []
    for pkg in PACKAGES:
        top = os.path.join(ROOT, "src", "irqfwd", pkg)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
            for name in sorted(filenames):
                if not name.endswith(".py") or name == "__init__.py":
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    head = [next(f, "") for _ in range(40)]
                if any(line.startswith(INTERPRETED_MARK) for line in head):
                    continue
                found.append(os.path.relpath(path, ROOT).replace(os.sep, "/"))
    return tuple(sorted(found))


#: The compiled modules, as source paths relative to the project root (found by
#: :func:`_compiled_sources`; the Makefile reads them with ``--list``).
MODULES: tuple[str, ...] = _compiled_sources()


class BuildError(Exception):
    """The accelerator could not be built; the message says why."""


def module_name(source: str) -> str:
    """Dotted module name of a ``src/``-layout source path (``src/irqfwd/sim/engine.py``)."""
    rel = source.removeprefix("src/").removesuffix(".py")
    return rel.replace("/", ".")


def sha256_file(path: str) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _hashes() -> dict[str, str]:
    return {src: sha256_file(os.path.join(ROOT, src)) for src in MODULES}


def _compile(lib_dir: str, temp_dir: str, c_dir: str, verbose: bool) -> None:
    """mypycify + setuptools build_ext into ``lib_dir`` (never in place)."""
    try:
        from mypyc.build import mypycify
        from setuptools import setup  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the venv
        raise BuildError(f"mypyc/setuptools not importable ({exc}); run `make install`") from exc
    extensions = mypycify(list(MODULES), target_dir=c_dir, opt_level="3", multi_file=True)
    jobs = str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    args = ["build_ext", "--parallel", jobs, "--build-lib", lib_dir, "--build-temp", temp_dir]
    if not verbose:
        args.insert(0, "--quiet")
    try:
        setup(name="irqfwd-accel", ext_modules=extensions, script_args=args)
    except SystemExit as exc:  # setuptools reports compiler errors this way
        if exc.code not in (0, None):
            raise BuildError(f"build_ext failed: {exc.code}") from exc


def _manifest(lib_dir: str, hashes: dict[str, str]) -> dict[str, object]:
    import importlib.machinery

    import mypy.version

    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    shared = sorted(
        name for name in os.listdir(lib_dir) if name.endswith(suffix) and "__mypyc" in name
    )
    if len(shared) != 1:
        raise BuildError(f"expected one <hash>__mypyc{suffix} in the build, found {shared}")
    modules = []
    for src in MODULES:
        name = module_name(src)
        so = name.replace(".", "/") + suffix
        if not os.path.isfile(os.path.join(lib_dir, so)):
            raise BuildError(f"mypyc produced no extension for {name} ({so})")
        modules.append({"name": name, "so": so, "source": src, "sha256": hashes[src]})
    return {
        "format": MANIFEST_FORMAT,
        "cache_tag": sys.implementation.cache_tag,
        "python": sys.version,
        "extension_suffix": suffix,
        "mypy": mypy.version.__version__,
        "shared_lib": {"name": shared[0].removesuffix(suffix), "so": shared[0]},
        "builder": _builder_digest(),
        "modules": modules,
    }


def _builder_digest() -> str:
    """What else the compiled code depends on: this script and the mypy version."""
    import mypy.version

    return f"{sha256_file(os.path.abspath(__file__))}/mypy-{mypy.version.__version__}"


def up_to_date(out: str) -> bool:
    """True when ``out`` holds a build of the current sources by this builder and interpreter.

    Lets ``make`` skip the ~70 s rebuild when only timestamps changed (a checkout).
    """
    try:
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
        hashes = _hashes()
        return (
            manifest.get("format") == MANIFEST_FORMAT
            and manifest.get("cache_tag") == sys.implementation.cache_tag
            and manifest.get("builder") == _builder_digest()
            and [m["source"] for m in manifest["modules"]] == list(MODULES)
            and all(m["sha256"] == hashes[m["source"]] for m in manifest["modules"])
        )
    except (OSError, ValueError, KeyError, TypeError, ImportError):
        return False


def build(out: str, verbose: bool = False) -> dict[str, object]:
    """Build into a temporary directory beside ``out``, then swap it into place."""
    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    os.chdir(ROOT)  # mypyc needs the src/ paths and pyproject.toml's [tool.mypy]
    before = _hashes()
    work = tempfile.mkdtemp(prefix=".accel-build-", dir=parent)
    try:
        lib_dir = os.path.join(work, "lib")
        _compile(lib_dir, os.path.join(work, "temp"), os.path.join(work, "c"), verbose)
        if _hashes() != before:
            changed = [s for s, h in _hashes().items() if before[s] != h]
            raise BuildError(
                f"sources changed during the build ({', '.join(changed)}); run it again"
            )
        manifest = _manifest(lib_dir, before)
        with open(os.path.join(lib_dir, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        old = None
        if os.path.exists(out):
            old = os.path.join(work, "old")
            os.rename(out, old)
        os.rename(lib_dir, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "accel"))
    parser.add_argument("--list", action="store_true", help="print the compiled sources and exit")
    parser.add_argument(
        "--make", action="store_true", help="warn instead of failing unless CI=true"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(MODULES))
        return 0
    t0 = time.monotonic()
    if args.make and up_to_date(args.out):
        os.utime(os.path.join(args.out, "manifest.json"))  # newer than its prerequisites
        print(f"build_accel: {os.path.relpath(args.out, ROOT)} is up to date (sources unchanged)")
        return 0
    try:
        manifest = build(args.out, args.verbose)
    except (Exception, SystemExit) as exc:  # mypy (SystemExit) or compiler failures
        ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
        print(f"build_accel: the mypyc build FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.make and not ci:
            print(
                "build_accel: WARNING: continuing without the compiled build; irqfwd runs as pure "
                "Python (IRQFWD_ACCEL=auto falls back). `make compile` retries.",
                file=sys.stderr,
            )
            return 0
        return 1
    shared = manifest["shared_lib"]
    assert isinstance(shared, dict)
    print(
        f"build_accel: {len(MODULES)} modules compiled into {os.path.relpath(args.out, ROOT)} "
        f"({shared['name']}, {manifest['cache_tag']}) in {time.monotonic() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
