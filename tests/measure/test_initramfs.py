"""The newc cpio writer (no QEMU): read back with an independent parser."""

from __future__ import annotations

import gzip

import pytest

from irqfwd.measure.initramfs import Entry, pack_cpio, pack_initramfs


def _read_newc(data: bytes) -> list[tuple[str, int, bytes]]:
    out = []
    pos = 0
    while True:
        assert data[pos:pos + 6] == b"070701", f"bad magic at {pos}"
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = data[name_start:name_start + namesize - 1].decode()
        assert data[name_start + namesize - 1] == 0
        body = name_start + namesize + (-(110 + namesize) % 4)
        payload = data[body:body + size]
        pos = body + size + (-size % 4)
        if name == "TRAILER!!!":
            return out
        out.append((name, mode, payload))


def test_round_trip() -> None:
    entries = [Entry("dev", None, 0o755), Entry("init", b"\x7fELF" + b"x" * 13, 0o755),
               Entry("irqfwd.conf", b"gic 2\n", 0o644), Entry("empty", b"", 0o600)]
    got = _read_newc(pack_cpio(entries))
    assert [g[0] for g in got] == ["dev", "init", "irqfwd.conf", "empty"]
    assert got[0][1] == 0o040755
    assert got[1][1] == 0o100755 and got[1][2] == b"\x7fELF" + b"x" * 13
    assert got[2][2] == b"gic 2\n" and got[3][2] == b""


def test_deterministic_gzip() -> None:
    entries = [Entry("init", b"abc"), Entry("guest.bin", bytes(range(256)) * 5, 0o644)]
    a, b = pack_initramfs(entries), pack_initramfs(entries)
    assert a == b
    assert a[:2] == b"\x1f\x8b" and a[4:8] == b"\0\0\0\0"  # gzip, mtime 0
    assert gzip.decompress(a) == pack_cpio(entries)


@pytest.mark.parametrize("name", ["", "/init", "a/../b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ValueError):
        Entry(name, b"")
