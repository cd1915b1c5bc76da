"""Sweeps: many runs of the simulator over scenario parameters × designs × seeds.

* :mod:`irqfwd.sweep.spec`: the TOML spec (pydantic), its expansion into runs and their
  stable keys;
* :mod:`irqfwd.sweep.executors`: local processes (default, every core), a Dask cluster, or
  in-process;
* :mod:`irqfwd.sweep.store`: per-run result files written atomically as runs finish
  (resumable), the Parquet and CSV tables;
* :mod:`irqfwd.sweep.runner`: :func:`run_sweep`;
* :mod:`irqfwd.sweep.plot`: the standard figures;
* :mod:`irqfwd.sweep.study`: built-in studies (``irqfwd study forwarding``).
"""
