"""Simulation kernel: the deterministic event engine, cost profiles, metrics and invariants."""

from irqfwd.sim.engine import LATE, NORMAL, URGENT, Engine, Process, Signal, SimulationError

__all__ = ["LATE", "NORMAL", "URGENT", "Engine", "Process", "Signal", "SimulationError"]
