"""Executors: where a sweep's runs execute.  Each yields one record per run as it finishes.

* ``local`` (default): a :class:`concurrent.futures.ProcessPoolExecutor` with one worker
  process per core (``os.cpu_count()``) unless told otherwise; processes are started with
  ``spawn`` (no fork of a parent that has threads).
* ``dask``: a Dask ``distributed`` cluster: an existing scheduler (``scheduler`` =
  ``tcp://host:8786``), or a ``LocalCluster`` of ``workers`` single-threaded worker
  processes started for the sweep and closed after it.  The workers must have the same
  irqfwd installed: each record carries the worker's :func:`model_fingerprint`, and a
  record from a different model is reported as an error instead of being stored.
* ``serial``: every run in this process, one after the other (debugging, profiling).

A run is shipped as its :class:`~irqfwd.system.run.RunSpec` (picklable) and executed by
:func:`execute`, which never raises: an exception becomes an ``error`` record.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Iterator
from typing import Any

from irqfwd.errors import InputError
from irqfwd.sweep.spec import PlannedRun, model_fingerprint
from irqfwd.system.run import RunSpec, run_summary

__all__ = ["EXECUTORS", "check_options", "default_workers", "execute", "results"]

EXECUTORS = ("local", "dask", "serial")


def default_workers() -> int:
    """One worker per core of this machine."""
    return os.cpu_count() or 1


def execute(spec: RunSpec, key: str) -> dict[str, Any]:
    """Run ``spec`` and return its record ``{"key", "model", "summary", "wall_s"}``, or
    ``{"key", "model", "error"}`` if the run raised."""
    t0 = time.perf_counter()
    try:
        summary = run_summary(spec)
    except Exception as exc:  # reported per run; the sweep goes on
        last = traceback.extract_tb(exc.__traceback__)[-1:] or None
        where = f" ({last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
        return {"key": key, "model": model_fingerprint(), "error": f"{type(exc).__name__}: {exc}{where}"}
    return {"key": key, "model": model_fingerprint(), "summary": summary,
            "wall_s": round(time.perf_counter() - t0, 6)}


def _lost(key: str, exc: BaseException) -> dict[str, Any]:
    return {"key": key, "error": f"the worker was lost: {type(exc).__name__}: {exc}"}


def _serial(runs: list[PlannedRun]) -> Iterator[dict[str, Any]]:
    for r in runs:
        yield execute(r.spec, r.key)


def _local(runs: list[PlannedRun], workers: int) -> Iterator[dict[str, Any]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(execute, r.spec, r.key): r.key for r in runs}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # a worker process died (BrokenProcessPool) or did not unpickle
                yield _lost(futures[fut], exc)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(runs: list[PlannedRun], workers: int, scheduler: str | None) -> Iterator[dict[str, Any]]:
    import logging

    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise InputError("--executor dask: the 'distributed' package is not installed") from None
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="10s")
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
    except (OSError, TimeoutError, ValueError, RuntimeError) as exc:
        # RuntimeError: a LocalCluster whose worker process died while starting
        # ("Nanny failed to start"), or a scheduler that closed during the handshake.
        if cluster is not None:
            cluster.close()
        if scheduler:
            raise InputError(f"--scheduler {scheduler}: cannot connect to a Dask scheduler: {exc}") from None
        raise InputError(f"--executor dask: the local Dask cluster did not start: {exc}") from None
    try:
        futures = client.map(execute, [r.spec for r in runs], [r.key for r in runs],
                             key=[f"irqfwd-run-{r.key}" for r in runs])
        keys = {f.key: r.key for f, r in zip(futures, runs, strict=True)}
        try:
            for fut in as_completed(futures):
                try:
                    yield fut.result()
                except Exception as exc:  # a worker died, or the cluster lost the task
                    yield _lost(keys[fut.key], exc)
        finally:
            client.cancel(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def check_options(executor: str, workers: int | None, scheduler: str | None) -> None:
    """:class:`InputError` naming the option if the executor options do not fit together."""
    if executor not in EXECUTORS:
        raise InputError(f"--executor {executor!r}: unknown (known: {', '.join(EXECUTORS)})")
    if scheduler and executor != "dask":
        raise InputError("--scheduler: only with --executor dask")
    if workers is not None and workers < 1:
        raise InputError(f"--workers {workers}: must be at least 1")
    if workers is not None and executor == "serial":
        raise InputError(f"--workers {workers}: contradicts --executor serial, which runs every run "
                         "in this process, one after the other (drop --workers, or use --executor local)")
    if workers is not None and scheduler:
        raise InputError(f"--workers {workers}: contradicts --scheduler {scheduler}: the running Dask "
                         "scheduler has its own workers (--workers sizes the LocalCluster started "
                         "without --scheduler)")


def results(runs: list[PlannedRun], executor: str = "local", workers: int | None = None,
            scheduler: str | None = None) -> Iterator[dict[str, Any]]:
    """Execute ``runs`` on ``executor``; yield each record as its run finishes."""
    check_options(executor, workers, scheduler)
    if not runs:
        return iter(())
    n = workers or default_workers()
    if executor == "serial":
        return _serial(runs)
    if executor == "local":
        return _local(runs, min(n, len(runs)))
    return _dask(runs, min(n, len(runs)), scheduler)
