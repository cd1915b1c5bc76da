"""Calibration: micro-benchmarks and the model benchmarks (GICv2, GICv3) behind `irqfwd bench`."""
