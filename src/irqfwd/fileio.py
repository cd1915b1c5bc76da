"""Writing a user's output file safely: all or nothing.

:func:`atomic_write_text` writes into a temporary file beside the target and renames it
over the target only once everything is written, so a failure (a full disk, an exception
while formatting, an interrupted run) never leaves a half-written file and never destroys
what was there; the data reach the disk (``fsync``) before the rename, so that a crash
right after it cannot leave an empty file under the new name.  Errors become :class:`~irqfwd.errors.InputError` naming the option and
the path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from irqfwd.errors import InputError

__all__ = ["atomic_write_bytes", "atomic_write_text", "check_output_path", "check_writable"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_path(path: Path, what: str) -> None:
    """:class:`InputError` unless ``path`` can be created as a file (its directory exists,
    it is not itself a directory)."""
    if path.is_dir():
        raise InputError(f"{what} {path}: is a directory, not a file")
    if not path.parent.is_dir():
        raise InputError(f"{what} {path}: directory {path.parent} does not exist")


def check_writable(path: Path, what: str, *, missing_parents: bool = False) -> None:
    """:class:`InputError` unless a file can be written at ``path`` now: not a directory,
    its directory exists and takes a new file (probed with a temporary file, removed at
    once).  For checking an output before long work.  ``missing_parents``: the directories
    up to ``path`` may be missing (the writer makes them); the nearest existing one must
    then be a directory that takes a new entry.  Creates nothing that stays."""
    if path.is_dir():
        raise InputError(f"{what} {path}: is a directory, not a file")
    if missing_parents:
        probe_dir = next((p for p in path.parents if p.exists()), Path("."))
        if not probe_dir.is_dir():
            raise InputError(f"{what} {path}: {probe_dir} is a file, not a directory")
    else:
        check_output_path(path, what)
        probe_dir = path.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=probe_dir)
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot write: {exc.strerror or exc}") from None
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)


def atomic_write_text(path: Path, chunks: Iterable[str], what: str, *, exclusive: bool = False) -> None:
    """Write ``chunks`` to ``path`` through a temporary file renamed over it.

    ``exclusive``: refuse (:class:`InputError`) if ``path`` already exists, never replacing it.
    """
    _atomic_write(path, chunks, what, exclusive=exclusive, binary=False)


def atomic_write_bytes(path: Path, data: bytes, what: str, *, exclusive: bool = False) -> None:
    """:func:`atomic_write_text` for bytes (an image, an encoded document)."""
    _atomic_write(path, [data], what, exclusive=exclusive, binary=True)


def _atomic_write(path: Path, chunks: Iterable[str] | Iterable[bytes], what: str, *,
                  exclusive: bool, binary: bool) -> None:
    check_output_path(path, what)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(f"{what} {path}: cannot write: {exc.strerror or exc}") from None
    try:
        if binary:
            with os.fdopen(fd, "wb") as bout:
                for bchunk in chunks:
                    assert isinstance(bchunk, bytes)
                    bout.write(bchunk)
                bout.flush()
                os.fsync(bout.fileno())
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for chunk in chunks:
                    assert isinstance(chunk, str)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
        if exclusive:
            try:
                os.link(tmp, path)  # fails if path exists: never replaces it
            except FileExistsError:
                raise InputError(f"{what} {path}: already exists; refusing to overwrite it") from None
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"{what} {path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
