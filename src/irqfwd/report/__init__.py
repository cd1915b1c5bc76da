"""``irqfwd compare ... --report DIR``: a gem5-like output directory of one comparison.

* ``config.json``: the fully resolved scenario, cost profile, seed and designs;
* ``stats.json`` (the ``compare --json`` object) and ``stats.txt`` (gem5 layout: framed by
  ``---------- Begin/End Simulation Statistics ----------``, one ``name value # description``
  line per statistic, dotted names ``<design>.exits.WFx``);
* ``exits.txt``: a ``perf kvm stat report`` table per design (``VM-EXIT Samples Samples%
  Time% Min Time Max Time Avg time``; time = ``kvm_exit`` to the vCPU's next ``kvm_entry``
  or put) and the maintenance interrupts by GICH_MISR bit;
* ``trace-<design>.json``: each design's whole run as Perfetto JSON (:mod:`irqfwd.trace.chrome`);
* PNG plots (matplotlib, Agg): ``latency-cdf.png``, ``per-interrupt.png``, ``timeline.png``;
* ``report.html``: one self-contained page (plots inline, no network) with an interactive
  timeline per design (wheel to zoom, drag to pan, hover for an event's fields; one lane
  per pCPU, vCPU and device).

Every file depends only on the scenario, designs and seed (no dates): reruns are identical.
"""

from __future__ import annotations

from irqfwd.report.build import ReportObserver, write_report

__all__ = ["ReportObserver", "write_report"]
