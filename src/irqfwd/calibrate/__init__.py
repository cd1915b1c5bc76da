"""Calibration and benchmark helpers that sit beside the models (GICv3 model benchmark)."""
