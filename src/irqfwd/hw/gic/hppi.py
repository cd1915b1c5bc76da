"""Highest-priority-pending candidate sets shared by every GIC model (issue 2's bound).

A *bucket list* ``bk`` holds, for one (CPU, group), the candidates of every priority value
as a two-level bitmap, and a summary of the non-empty priorities goes with it (below):

* ``bk[prio]``: summary, bit ``n`` set iff word ``n`` of that priority is non-zero;
* ``bk[256 | prio]``: the lowest INTID in that bucket (meaningless while it is empty);
* ``bk[((n + 2) << 8) | prio]``: bit ``INTID & 31`` set for each candidate of that
  priority whose INTID is in word ``n = INTID >> 5``.

``bk`` has ``(words + 2) * 256`` entries (:func:`new_buckets`).  Every stored value is below
2**32, so adding, removing and selecting a candidate are a fixed number of small-int
operations whatever the INTID and the number of interrupts: the HPPI is the lowest
non-empty priority (highest priority), then that bucket's cached lowest INTID (the
lowest-INTID tie-break of QEMU and Arm's implementations).

The set of non-empty priorities of a (CPU, group) is a *priority summary* ``ps``
(:func:`bucket_add`, :func:`bucket_remove`, :func:`ps_lowest`): :data:`PS_SIZE` ints
from offset ``o``, ``ps[o]`` with bit ``n`` set iff word ``n`` is non-zero, ``ps[o + 1 + n]``
with bit ``p & 31`` set for each non-empty priority ``p`` of word ``n = p >> 5``.  Every
value stays below 2**32: a 256-bit mask is >= 2**62 as soon as a priority above 61 is set,
and mypyc then does every operation on it as an allocating arbitrary-precision int instead
of a tagged machine int.  The highest priority is the lowest set bit of the summary's
lowest non-empty word.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "PS_SIZE",
    "bucket_add",
    "bucket_low",
    "bucket_remove",
    "new_buckets",
    "ps_lowest",
]

PS_SIZE: Final = 9
"""Ints in one priority summary: the word summary, then 8 words of 32 priorities."""


def new_buckets(words: int) -> list[int]:
    """An empty bucket list for INTIDs ``0 .. 32 * words - 1``."""
    return [0] * ((words + 2) << 8)


def bucket_add(bk: list[int], ps: list[int], o: int, w: int, b: int, p: int, intid: int) -> None:
    """Add candidate ``intid`` (bit ``b`` of word ``w``) to the priority-``p`` bucket of
    ``bk``: set its bit, the word's summary bit and, when the bucket was empty, ``p`` in the
    priority summary at offset ``o`` of ``ps``; lower the cached lowest INTID."""
    j = ((w + 2) << 8) | p
    old = bk[j]
    bk[j] = old | b
    if old:
        j = 256 | p
        if intid < bk[j]:
            bk[j] = intid
        return
    old = bk[p]
    bk[p] = old | (1 << w)
    j = 256 | p
    if old:
        if intid < bk[j]:
            bk[j] = intid
        return
    bk[j] = intid
    j = o + 1 + (p >> 5)
    old = ps[j]
    ps[j] = old | (1 << (p & 31))
    if not old:
        ps[o] |= 1 << (p >> 5)


def bucket_remove(bk: list[int], ps: list[int], o: int, w: int, b: int, p: int, intid: int) -> None:
    """Remove candidate ``intid`` from its bucket (the inverse of :func:`bucket_add`):
    clear the word's summary bit and ``p`` in the priority summary when they become empty,
    recompute the cached lowest INTID when it was ``intid`` and the bucket stays non-empty."""
    j = ((w + 2) << 8) | p
    new = bk[j] ^ b
    bk[j] = new
    if not new:
        new = bk[p] ^ (1 << w)
        bk[p] = new
        if not new:
            j = o + 1 + (p >> 5)
            new = ps[j] ^ (1 << (p & 31))
            ps[j] = new
            if not new:
                ps[o] ^= 1 << (p >> 5)
            return
    if bk[256 | p] == intid:  # removed the lowest of a non-empty bucket
        bk[256 | p] = bucket_low(bk, p)


def bucket_low(bk: list[int], p: int) -> int:
    """Lowest INTID in priority ``p``'s non-empty bucket of ``bk``: lowest non-empty word
    (summary), then lowest bit of that word (the lowest-INTID tie-break)."""
    sm = bk[p]
    wn = (sm & -sm).bit_length() - 1
    wd = bk[((wn + 2) << 8) | p]
    return (wn << 5) | ((wd & -wd).bit_length() - 1)


def ps_lowest(ps: list[int], o: int) -> int:
    """The lowest non-empty priority in the priority summary at offset ``o`` of ``ps``
    (the highest priority with a candidate), or -1 when every bucket is empty."""
    s = ps[o]
    if not s:
        return -1
    n = (s & -s).bit_length() - 1
    m = ps[o + 1 + n]
    return (n << 5) | ((m & -m).bit_length() - 1)
