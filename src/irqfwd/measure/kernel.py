"""Find the arm64 host kernel the measurements boot under QEMU.

``scripts/ensure-system-deps.sh`` (``make system-deps``) fetches Debian's newest
``linux-image-6.*-arm64-unsigned`` package with ``apt-get download`` and extracts its
``vmlinuz`` into the cache, outside the source tree::

    ${XDG_CACHE_HOME:-~/.cache}/irqfwd/kernel/<release>/vmlinuz   the image
                                              /config    its build configuration
                                              /package   "<package name> <version>"
    ${XDG_CACHE_HOME:-~/.cache}/irqfwd/kernel/current      the <release> to use

``$IRQFWD_KERNEL`` overrides it: a vmlinuz file, or a directory laid out like one
``<release>`` directory above.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from irqfwd.errors import InputError

__all__ = ["Kernel", "KernelMissing", "cache_dir", "find_kernel", "kernel_cache_dir"]


class KernelMissing(InputError):
    """No arm64 kernel to boot."""


def cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/irqfwd``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "irqfwd"


def kernel_cache_dir() -> Path:
    return cache_dir() / "kernel"


@dataclass(frozen=True)
class Kernel:
    """An arm64 kernel image and what is known about it."""

    image: Path
    release: str
    package: str
    config: Path | None

    def sha256(self) -> str:
        h = hashlib.sha256()
        with self.image.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    def config_value(self, name: str) -> str | None:
        """``CONFIG_name``'s value in the kernel's config file (None if unknown/unset)."""
        if self.config is None or not self.config.is_file():
            return None
        prefix = f"CONFIG_{name}="
        for line in self.config.read_text(errors="replace").splitlines():
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        return None


def _from_dir(d: Path) -> Kernel | None:
    image = d / "vmlinuz"
    if not image.is_file():
        return None
    package = (d / "package").read_text().strip() if (d / "package").is_file() else "unknown"
    config = d / "config"
    return Kernel(image, d.name, package, config if config.is_file() else None)


def _hint() -> str:
    return ("run `make system-deps` (scripts/ensure-system-deps.sh: apt-get download of "
            "Debian's linux-image-6.*-arm64-unsigned) or set IRQFWD_KERNEL to an arm64 vmlinuz")


def find_kernel() -> Kernel:
    """The kernel to boot: ``$IRQFWD_KERNEL``, else the cache's current one."""
    env = os.environ.get("IRQFWD_KERNEL")
    if env:
        p = Path(env).expanduser()
        if p.is_dir():
            k = _from_dir(p)
            if k is None:
                raise KernelMissing(f"IRQFWD_KERNEL={env}: no vmlinuz in that directory")
            return k
        if not p.is_file():
            raise KernelMissing(f"IRQFWD_KERNEL={env}: no such file")
        release = p.name.removeprefix("vmlinuz-") if p.name.startswith("vmlinuz-") else "unknown"
        cfg = p.with_name(f"config-{release}")
        return Kernel(p, release, "IRQFWD_KERNEL", cfg if cfg.is_file() else None)
    root = kernel_cache_dir()
    current = root / "current"
    if current.is_file():
        k = _from_dir(root / current.read_text().strip())
        if k is not None:
            return k
    raise KernelMissing(f"no arm64 kernel found in {root}: {_hint()}")
