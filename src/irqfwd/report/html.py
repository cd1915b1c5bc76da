"""``report.html``: one self-contained page (no network, no date): the plots inline, the
statistics table, the exit tables, and an interactive timeline per design (an SVG drawn by a
small inline script: wheel zooms around the pointer, dragging pans, hovering a slice shows
its fields; one lane per pCPU, vCPU handler track and device)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from irqfwd.config import ScenarioConfig
from irqfwd.fileio import atomic_write_text
from irqfwd.report.plots import COLORS
from irqfwd.report.timeline import lanes

__all__ = ["write_html"]

_SCRIPT = r"""
const COLORS = %COLORS%;
function timeline(el, data, windowNs) {
  const W = 1100, LANE = 22, LEFT = 170, TOP = 20;
  const H = TOP + data.length * LANE + 24;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', W); svg.setAttribute('height', H); svg.setAttribute('class', 'tl');
  el.appendChild(svg);
  const tip = document.getElementById('tip');
  let t0 = 0, t1 = windowNs;
  function x(t) { return LEFT + (t - t0) / (t1 - t0) * (W - LEFT - 10); }
  function draw() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    data.forEach((lane, i) => {
      const y = TOP + i * LANE;
      const label = document.createElementNS(ns, 'text');
      label.setAttribute('x', 4); label.setAttribute('y', y + 15); label.textContent = lane.name;
      svg.appendChild(label);
      lane.slices.forEach(s => {
        const [start, dur, name, kind, args] = s;
        if (start + dur < t0 || start > t1) return;
        const r = document.createElementNS(ns, 'rect');
        const xa = Math.max(x(start), LEFT), xb = Math.min(x(start + dur), W - 10);
        r.setAttribute('x', xa); r.setAttribute('y', y + 2);
        r.setAttribute('width', Math.max(xb - xa, 1)); r.setAttribute('height', LANE - 6);
        r.setAttribute('fill', COLORS[kind] || '#888'); r.setAttribute('class', 'slice');
        r.addEventListener('mousemove', ev => {
          tip.style.display = 'block'; tip.style.left = (ev.pageX + 12) + 'px'; tip.style.top = (ev.pageY + 12) + 'px';
          tip.textContent = name + '\n' + 'start ' + start + ' ns, ' + dur + ' ns\n' + JSON.stringify(args);
        });
        r.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
        svg.appendChild(r);
      });
    });
    const axis = document.createElementNS(ns, 'text');
    axis.setAttribute('x', LEFT); axis.setAttribute('y', H - 6);
    axis.textContent = (t0 / 1000).toFixed(2) + ' µs … ' + (t1 / 1000).toFixed(2) + ' µs (wheel: zoom, drag: pan)';
    svg.appendChild(axis);
    svg.dataset.t0 = t0; svg.dataset.t1 = t1;
  }
  svg.addEventListener('wheel', ev => {
    ev.preventDefault();
    const rect = svg.getBoundingClientRect();
    const px = Math.max(ev.clientX - rect.left, LEFT);
    const tm = t0 + (px - LEFT) / (W - LEFT - 10) * (t1 - t0);
    const f = ev.deltaY < 0 ? 0.8 : 1.25;
    t0 = Math.max(0, tm - (tm - t0) * f); t1 = Math.min(windowNs, tm + (t1 - tm) * f);
    if (t1 - t0 < 50) t1 = t0 + 50;
    draw();
  }, {passive: false});
  let drag = null;
  svg.addEventListener('mousedown', ev => { drag = [ev.clientX, t0, t1]; });
  window.addEventListener('mouseup', () => { drag = null; });
  window.addEventListener('mousemove', ev => {
    if (!drag) return;
    const dt = (drag[0] - ev.clientX) / (W - LEFT - 10) * (drag[2] - drag[1]);
    const span = drag[2] - drag[1];
    t0 = Math.min(Math.max(0, drag[1] + dt), windowNs - span); t1 = t0 + span; draw();
  });
  draw();
}
document.querySelectorAll('.timeline').forEach(el => {
  timeline(el, JSON.parse(document.getElementById(el.dataset.src).textContent), %WINDOW%);
});
document.body.dataset.ready = '1';
"""

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 0.5em; font-size: 12px; }
img { max-width: 100%; border: 1px solid #eee; }
svg.tl text { font-size: 11px; }
svg.tl { border: 1px solid #ddd; cursor: grab; }
#tip { position: absolute; display: none; white-space: pre; background: #fffbe6; border: 1px solid #aaa;
       padding: 4px; font: 11px monospace; pointer-events: none; }
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def write_html(out: Path, config: ScenarioConfig, seed: int, designs: list[str],
               summaries: dict[str, dict[str, Any]], window_ns: int) -> Path:
    """Write ``out/report.html`` (the plots and traces must already be in ``out``)."""
    esc = html.escape
    rows = []
    keys = ["device_irqs_raised", "guest_irqs_handled", "exits_total", "maintenance_irqs", "host_irqs",
            "vfio_mask", "eventfd_signals", "resamplefd_signals", "lr_spills"]
    for k in keys:
        rows.append("<tr><td>" + esc(k) + "</td>" + "".join(
            f"<td>{summaries[d]['counters'].get(k, 0)}</td>" for d in designs) + "</tr>")
    for stat in ("p50", "p99", "max"):
        rows.append(f"<tr><td>assert_to_guest_handler {stat} (µs)</td>" + "".join(
            f"<td>{summaries[d]['latency_ns'].get('assert_to_guest_handler', {}).get(stat, 0) / 1000:.2f}</td>"
            for d in designs) + "</tr>")
    rows.append("<tr><td>invariant violations</td>" + "".join(
        f"<td>{len(summaries[d]['invariants']['violations'])}</td>" for d in designs) + "</tr>")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>irqfwd report: {esc(config.name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>irqfwd report: {esc(config.name)}</h1>",
        f"<p>{esc(config.description)} Seed {seed}; designs: {esc(', '.join(designs))}. "
        "Files: config.json, stats.txt, stats.json, exits.txt, trace-&lt;design&gt;.json (open in ui.perfetto.dev).</p>",
        "<h2>Statistics</h2><table><tr><th></th>" + "".join(f"<th>{esc(d)}</th>" for d in designs) + "</tr>",
        *rows, "</table>",
        "<h2>Latency</h2>", _img(out / "latency-cdf.png", "latency CDF per design"),
        "<h2>Exits and maintenance interrupts</h2>", _img(out / "per-interrupt.png", "exits per interrupt"),
        f"<pre>{esc((out / 'exits.txt').read_text())}</pre>",
        f"<h2>Timeline of the first {window_ns / 1000:.0f} µs</h2>",
        _img(out / "timeline.png", "timeline of the first milliseconds"),
    ]
    for i, d in enumerate(designs):
        data = json.dumps(lanes(out / f"trace-{d}.json", window_ns), sort_keys=True, separators=(",", ":"))
        data = data.replace("</", "<\\/")
        parts.append(f"<h3>{esc(d)}</h3>")
        parts.append(f'<script type="application/json" id="lanes{i}">{data}</script>')
        parts.append(f'<div class="timeline" id="timeline{i}" data-src="lanes{i}"></div>')
    script = _SCRIPT.replace("%COLORS%", json.dumps(COLORS, sort_keys=True)).replace("%WINDOW%", str(window_ns))
    parts += ['<div id="tip"></div>', f"<script>{script}</script>", "</body></html>", ""]
    path = out / "report.html"
    atomic_write_text(path, ["\n".join(parts)], "--report")
    return path
