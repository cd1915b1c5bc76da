"""The IRQFWD_ACCEL loader (irqfwd._accel): when a build is used, and what happens when not.

Most tests use a synthetic build directory (a manifest with the real source hashes and
placeholder extension files that are never loaded), so the decision logic is covered
without a C compiler; the last ones use a copy of the real build.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from .conftest import ROOT, load_build_script, run_cli, status_and_files

SCRIPT = load_build_script()
NAMES = [SCRIPT.module_name(src) for src in SCRIPT.MODULES]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def fake_build(root: Path, **changes: Any) -> Path:
    """A build dir whose manifest matches the current sources (``changes`` edit it)."""
    build = root / "accel"
    modules = []
    for src in SCRIPT.MODULES:
        name = SCRIPT.module_name(src)
        so = name.replace(".", "/") + SUFFIX
        (build / so).parent.mkdir(parents=True, exist_ok=True)
        (build / so).write_bytes(b"")
        digest = hashlib.sha256((ROOT / src).read_bytes()).hexdigest()
        modules.append({"name": name, "so": so, "source": src, "sha256": digest})
    (build / f"0123456789abcdef0123__mypyc{SUFFIX}").write_bytes(b"")
    manifest: dict[str, Any] = {
        "format": 1,
        "cache_tag": sys.implementation.cache_tag,
        "python": sys.version,
        "extension_suffix": SUFFIX,
        "mypy": "test",
        "builder": "test",
        "shared_lib": {"name": "0123456789abcdef0123__mypyc", "so": f"0123456789abcdef0123__mypyc{SUFFIX}"},
        "modules": modules,
    }
    manifest.update(changes)
    (build / "manifest.json").write_text(json.dumps(manifest))
    return build


def with_hash(build: Path, module: str, digest: str) -> None:
    """Rewrite one module's sha256 in ``build``'s manifest."""
    manifest = json.loads((build / "manifest.json").read_text())
    for m in manifest["modules"]:
        if m["name"] == module:
            m["sha256"] = digest
    (build / "manifest.json").write_text(json.dumps(manifest))


def test_fresh_build_is_accepted_with_every_module(tmp_path: Path) -> None:
    """auto + a manifest whose every sha256 matches its source: the finder serves every
    module of the compiled packages (the hot path from the engine to the guest) and the
    shared <hash>__mypyc library (status only; nothing is imported)."""
    st = status_and_files("auto", [], fake_build(tmp_path))["status"]
    assert st["active"] is True and st["error"] is None
    assert sorted(st["modules"]) == sorted(NAMES)
    assert {"irqfwd.sim.engine", "irqfwd.hw.machine", "irqfwd.host.kvm.vgic", "irqfwd.guest.kernel"} <= set(NAMES)
    assert "irqfwd.sim.costs" not in NAMES  # marked "# mypyc: interpreted" (a pydantic model)
    assert st["shared_lib"] == "0123456789abcdef0123__mypyc"


def test_one_stale_source_disables_the_whole_build(tmp_path: Path) -> None:
    """All-or-nothing: one changed source hash (irqfwd.hw.machine) => auto runs every module
    as pure Python, and the reason names the stale file."""
    build = fake_build(tmp_path)
    with_hash(build, "irqfwd.hw.machine", "0" * 64)
    out = status_and_files("auto", ["irqfwd.hw.machine", "irqfwd.sim.engine"], build)
    st = out["status"]
    assert st["active"] is False and st["modules"] == [] and st["error"] is None
    assert "src/irqfwd/hw/machine.py" in st["reason"] and "stale" in st["reason"]
    assert all(f.endswith(".py") for f in out["files"].values()), out["files"]


def test_require_with_stale_build_exits_2_with_reason(tmp_path: Path) -> None:
    """require + stale build: the irqfwd command prints one clear line naming the stale
    module and exits with status 2 (cli.errors contract), no traceback."""
    build = fake_build(tmp_path)
    with_hash(build, "irqfwd.hw.gicv2.distributor", "f" * 64)
    p = run_cli("require", "compare", "nic-level", build_dir=build)
    assert p.code == 2 and p.out == ""
    assert "Traceback" not in p.err
    assert p.err.startswith("irqfwd: error: IRQFWD_ACCEL=require")
    assert "src/irqfwd/hw/gicv2/distributor.py" in p.err


def test_require_refuses_library_imports(tmp_path: Path) -> None:
    """require + no usable build, used as a library: importing a model module raises
    AccelError (an ImportError) instead of silently running pure Python."""
    code = (
        "import irqfwd._accel as a\n"
        "try:\n    import irqfwd.sim.engine\nexcept a.AccelError as e:\n    print('refused:', e)\n"
    )
    from .conftest import run_py

    p = run_py("require", code, tmp_path / "nothing-here")
    assert p.code == 0, p.err
    assert p.out.startswith("refused: IRQFWD_ACCEL=require") and "no compiled build" in p.out


def test_wrong_cache_tag_falls_back_to_pure(tmp_path: Path) -> None:
    """A build for another interpreter (cache tag cpython-399) is not used under auto; the
    reason names both tags."""
    build = fake_build(tmp_path, cache_tag="cpython-399")
    out = status_and_files("auto", ["irqfwd.sim.engine"], build)
    assert out["status"]["active"] is False
    assert "cpython-399" in out["status"]["reason"]
    assert sys.implementation.cache_tag in out["status"]["reason"]
    assert out["files"]["irqfwd.sim.engine"].endswith(".py")


def test_off_ignores_a_fresh_build(tmp_path: Path) -> None:
    """IRQFWD_ACCEL=off: pure Python even though the build would be accepted."""
    out = status_and_files("off", ["irqfwd.sim.engine"], fake_build(tmp_path))
    assert out["status"]["active"] is False and out["status"]["mode"] == "off"
    assert out["files"]["irqfwd.sim.engine"].endswith(".py")


def test_missing_extension_file_disables_the_build(tmp_path: Path) -> None:
    """An incomplete build (one .so deleted) is not used: the reason names the module."""
    build = fake_build(tmp_path)
    (build / ("irqfwd/host/vfio" + SUFFIX)).unlink()
    st = status_and_files("auto", [], build)["status"]
    assert st["active"] is False and "irqfwd.host.vfio" in st["reason"]


def test_missing_or_malformed_manifest(tmp_path: Path) -> None:
    """No build dir => pure with "no compiled build"; a manifest that is not JSON => pure
    with "unreadable manifest"."""
    st = status_and_files("auto", [], tmp_path / "absent")["status"]
    assert st["active"] is False and "no compiled build" in st["reason"]
    build = fake_build(tmp_path)
    (build / "manifest.json").write_text("{not json")
    st = status_and_files("auto", [], build)["status"]
    assert st["active"] is False and "unreadable manifest" in st["reason"]


def test_bad_mode_is_an_input_error() -> None:
    """IRQFWD_ACCEL=fast is not a mode: exit status 2 and a message listing the valid ones."""
    p = run_cli("fast", "list")
    assert p.code == 2 and "Traceback" not in p.err
    assert "IRQFWD_ACCEL='fast' is not one of auto, off, require" in p.err


def test_accel_command_reports_status(tmp_path: Path) -> None:
    """``irqfwd accel --json`` prints the loader's decision (mode, active, reason)."""
    p = run_cli("off", "accel", "--json", build_dir=fake_build(tmp_path))
    assert p.code == 0, p.err
    st = json.loads(p.out)
    assert st["mode"] == "off" and st["active"] is False and "IRQFWD_ACCEL=off" in st["reason"]


def test_real_build_with_stale_hash_runs_pure(compiled_build: Path, tmp_path: Path) -> None:
    """A copy of the real build with one manifest hash changed: auto runs pure Python (every
    module from src/) and prints the same JSON as IRQFWD_ACCEL=off."""
    build = tmp_path / "accel"
    shutil.copytree(compiled_build, build)
    with_hash(build, "irqfwd.host.kvm.vgic", "a" * 64)
    out = status_and_files("auto", NAMES, build)
    assert out["status"]["active"] is False and "src/irqfwd/host/kvm/vgic.py" in out["status"]["reason"]
    assert all(f.endswith(".py") for f in out["files"].values())
    args = ("compare", "nic-level", "--designs", "forwarded", "--json")
    assert run_cli("auto", *args, build_dir=build).out == run_cli("off", *args).out


def test_real_build_copy_is_used_from_accel_dir(compiled_build: Path, tmp_path: Path) -> None:
    """IRQFWD_ACCEL_DIR points the loader at another directory: an intact copy of the build
    is used from there (paths in the manifest are relative)."""
    build = tmp_path / "elsewhere"
    shutil.copytree(compiled_build, build)
    out = status_and_files("require", ["irqfwd.sim.engine"], build)
    assert out["status"]["active"] is True
    assert Path(out["files"]["irqfwd.sim.engine"]).is_relative_to(build)
