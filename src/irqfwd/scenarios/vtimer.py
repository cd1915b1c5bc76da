"""Name listed in ``irqfwd.scenarios.builtin.PLUGIN_MODULES``: loads the timer scenarios."""

from irqfwd.scenarios.timer import TIMER_SCENARIOS

__all__ = ["TIMER_SCENARIOS"]
