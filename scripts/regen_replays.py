#!/usr/bin/env python3
"""Regenerate the kept counter-examples of ``tests/system/replays`` (issue 13).

For every fault design, the first explore scenario (``EXPLORE_SCENARIOS`` order) in which
the explorer finds its bug with one deviation per ordering; of its counter-examples it keeps
the default ordering (or, if the default ordering keeps every invariant, the first one
found) and the first whose deviation is the VM teardown (else a vCPU migration).  Files are
named ``SCENARIO-DESIGN-default.json``, ``-first.json``, ``-vm-teardown.json`` or
``-vcpu-migration.json``.  The ``fixed-*`` files (bugs of the model the explorer found)
are not touched.  Run it after an intended change of the model's event orderings, when
``test_kept_counterexamples_replay`` says a file is stale::

    python scripts/regen_replays.py            # replaces the fault designs' files
"""

from __future__ import annotations

from pathlib import Path

from irqfwd.scenarios.builtin import get_scenario
from irqfwd.scenarios.explore import EXPLORE_SCENARIOS
from irqfwd.sim.costs import load_profile
from irqfwd.system.designs import DESIGNS
from irqfwd.system.explore import ExploreOptions, explore_design, inapplicable, write_replay

REPLAYS = Path(__file__).resolve().parent.parent / "tests" / "system" / "replays"


def main() -> None:
    costs = load_profile("altra")
    for old in REPLAYS.glob("*.json"):
        if not old.name.startswith("fixed-"):
            old.unlink()
    for design, d in DESIGNS.items():
        if not d.fault:
            continue
        for scenario in EXPLORE_SCENARIOS:
            cfg = get_scenario(scenario)
            if inapplicable(cfg, design) is not None:
                continue
            rep = explore_design(cfg, design, seed=0, costs=costs, options=ExploreOptions(max_deviations=1))
            if not rep.counterexamples:
                continue
            cxs = rep.counterexamples
            default = next((cx for cx in cxs if not cx.decisions), None)
            keep = [("default", default) if default is not None else ("first", cxs[0])]
            for event, tag in (("VM teardown", "vm-teardown"), ("vCPU migration", "vcpu-migration")):
                cx2 = next((cx for cx in cxs if cx is not keep[0][1] and event in {x.ran for x in cx.decisions}), None)
                if cx2 is not None:
                    keep.append((tag, cx2))
                    break
            for tag, cx in keep:
                path = REPLAYS / f"{scenario}-{design}-{tag}.json"
                write_replay(path, cx)
                print(path.name, sorted(cx.rules))
            break
        else:
            raise SystemExit(f"{design}: no counter-example in {EXPLORE_SCENARIOS}")


if __name__ == "__main__":
    main()
