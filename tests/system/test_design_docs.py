"""docs/designs.md holds the per-interrupt tables the model computes now."""

from __future__ import annotations

from pathlib import Path

from irqfwd.system.design_tables import design_tables

DOC = Path(__file__).resolve().parents[2] / "docs" / "designs.md"


def test_design_tables_in_the_docs_are_current() -> None:
    """The tables between the design-tables markers are exactly what
    ``python -m irqfwd.system.design_tables`` prints (idle and busy guests, current and 5.8)."""
    text = DOC.read_text()
    begin = "<!-- design-tables:begin -->\n"
    inner = text[text.index(begin) + len(begin):text.index("<!-- design-tables:end -->")]
    assert inner == design_tables()
