"""Highest-priority-pending candidate sets shared by every GIC model (issue 2's bound).

A *bucket list* ``bk`` holds, for one (CPU, group), the candidates of every priority value
as a two-level bitmap, and ``pm[group]`` a 256-bit mask of the non-empty priorities:

* ``bk[prio]``: summary, bit ``n`` set iff word ``n`` of that priority is non-zero;
* ``bk[256 | prio]``: the lowest INTID in that bucket (meaningless while it is empty);
* ``bk[((n + 2) << 8) | prio]``: bit ``INTID & 31`` set for each candidate of that
  priority whose INTID is in word ``n = INTID >> 5``.

``bk`` has ``(words + 2) * 256`` entries (:func:`new_buckets`).  Every stored value is below
2**32, so adding, removing and selecting a candidate are a fixed number of small-int
operations whatever the INTID and the number of interrupts: the HPPI is the lowest set bit
of ``pm[group]`` (highest priority), then that bucket's cached lowest INTID (the
lowest-INTID tie-break of QEMU and Arm's implementations).
"""

from __future__ import annotations

__all__ = ["bucket_add", "bucket_low", "bucket_remove", "new_buckets"]


def new_buckets(words: int) -> list[int]:
    """An empty bucket list for INTIDs ``0 .. 32 * words - 1``."""
    return [0] * ((words + 2) << 8)


def bucket_add(bk: list[int], pm: list[int], g: int, w: int, b: int, p: int, intid: int) -> None:
    """Add candidate ``intid`` (bit ``b`` of word ``w``) to the priority-``p`` bucket
    ``bk`` of group ``g``: set its bit, the word's summary bit and the priority's ``pm``
    bit when the bucket was empty, and lower the cached lowest INTID."""
    j = ((w + 2) << 8) | p
    old = bk[j]
    bk[j] = old | b
    if old:
        j = 256 | p
        if intid < bk[j]:
            bk[j] = intid
    else:
        old = bk[p]
        bk[p] = old | (1 << w)
        j = 256 | p
        if not old:
            pm[g] |= 1 << p
            bk[j] = intid
        elif intid < bk[j]:
            bk[j] = intid


def bucket_remove(bk: list[int], pm: list[int], g: int, w: int, b: int, p: int, intid: int) -> None:
    """Remove candidate ``intid`` from its bucket (the inverse of :func:`bucket_add`):
    clear the summary and ``pm`` bits that become empty, recompute the cached lowest INTID
    when it was ``intid`` and the bucket stays non-empty."""
    j = ((w + 2) << 8) | p
    new = bk[j] ^ b
    bk[j] = new
    if not new:
        new = bk[p] ^ (1 << w)
        bk[p] = new
        if not new:
            pm[g] &= ~(1 << p)
    if new and bk[256 | p] == intid:  # removed the lowest of a non-empty bucket
        bk[256 | p] = bucket_low(bk, p)


def bucket_low(bk: list[int], p: int) -> int:
    """Lowest INTID in priority ``p``'s non-empty bucket of ``bk``: lowest non-empty word
    (summary), then lowest bit of that word (the lowest-INTID tie-break)."""
    sm = bk[p]
    wn = (sm & -sm).bit_length() - 1
    wd = bk[((wn + 2) << 8) | p]
    return (wn << 5) | ((wd & -wd).bit_length() - 1)
