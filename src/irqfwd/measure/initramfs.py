"""Pack an initramfs: a gzip-compressed ``newc`` cpio archive, written by this module.

The archive is deterministic (fixed inode numbers, mtime 0, root ownership, entries in
the given order, gzip header without a timestamp), so the same inputs give the same bytes.
Format: the kernel's ``Documentation/driver-api/early-userspace/buffer-format.rst``: each
entry is a 110-byte ASCII header (magic ``070701`` and 13 eight-digit hex fields), the
NUL-terminated name padded to a multiple of 4, the data padded to a multiple of 4; the
archive ends with the entry ``TRAILER!!!``.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Entry", "pack_cpio", "pack_initramfs"]

_S_IFREG = 0o100000
_S_IFDIR = 0o040000


@dataclass(frozen=True)
class Entry:
    """One archive member: a regular file (``data`` not None) or a directory."""

    name: str
    data: bytes | None = None
    mode: int = 0o755

    def __post_init__(self) -> None:
        if not self.name or self.name.startswith("/") or ".." in self.name.split("/"):
            raise ValueError(f"bad initramfs member name {self.name!r}: relative, no '..'")


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _member(ino: int, name: str, mode: int, data: bytes) -> bytes:
    namez = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1 if mode & _S_IFREG else 2, 0, len(data), 0, 0, 0, 0,
              len(namez), 0)
    header = b"070701" + b"".join(f"{f:08X}".encode() for f in fields)
    assert len(header) == 110
    return header + namez + _pad4(110 + len(namez)) + data + _pad4(len(data))


def pack_cpio(entries: Iterable[Entry]) -> bytes:
    """The uncompressed newc archive of ``entries`` (directories before their contents)."""
    out = io.BytesIO()
    ino = 1
    for e in entries:
        if e.data is None:
            out.write(_member(ino, e.name, _S_IFDIR | (e.mode & 0o7777), b""))
        else:
            out.write(_member(ino, e.name, _S_IFREG | (e.mode & 0o7777), e.data))
        ino += 1
    out.write(_member(0, "TRAILER!!!", 0, b""))
    return out.getvalue()


def pack_initramfs(entries: Iterable[Entry]) -> bytes:
    """The gzip-compressed archive (deterministic: no name, mtime 0)."""
    raw = pack_cpio(entries)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(raw)
    return buf.getvalue()
