"""``irqfwd sweep``: spec validation, planning, executors (local processes, a real Dask
``LocalCluster``, in-process) giving identical rows, resumption after a kill, the tables
and the figures.  Runs are tiny (nic-level for 1-20 ms)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from irqfwd.sweep.runner import run_sweep
from irqfwd.sweep.spec import RangeSpec, load_spec, parse_spec, plan

TINY = """
scenario = "nic-level"
set = ["duration=1ms", "pattern=poisson"]
designs = ["irqfd-resample", "forwarded"]
seeds = [0, 1]
[parameters]
rate = [50000, 100000]
"""


def _spec(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


# --------------------------------------------------------------------------- specs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("desings = ['forwarded']\n", "desings: Extra inputs are not permitted"),
        ("designs = ['forwarded', 'psychic']\n", "designs: unknown design 'psychic'"),
        ("seeds = [1, -2]\n", "seeds: seeds must be >= 0"),
        ("[parameters]\nrate = ['fast']\n", "parameters.rate = 'fast': 'fast' is not a rate"),
        ("[parameters]\nnope = [1]\n", "parameters.nope = 1: unknown key 'nope'"),
        ("[parameters]\nlrs = [1]\n", "parameters.lrs = 1: num_lrs: Input should be greater than or equal to 2"),
        ("[parameters]\nlrs = {start = 1, stop = 4}\n", "parameters.lrs: give exactly one of step and num"),
        ("[parameters]\nrate = []\n", "parameters: rate: no values"),
        ("[parameters]\ndesign = ['x']\n", "parameter 'design': the name of a result column"),
        ("mode = 'list'\n", "runs: mode = \"list\" needs at least one [[runs]] table"),
        ("mode = 'list'\n[[runs]]\nvms = 'two'\n", "runs[0].vms = 'two': 'two' is not an integer"),
        ("scenario = 'nowhere'\n", "scenario: unknown scenario 'nowhere'"),
        ("set = ['duration=soon']\n", "set: --set duration: 'soon' is not a duration"),
        ("designs = [\n", "invalid TOML"),
        # a name that is only dots would make out/NAME the current directory or its parent
        ("name = '..'\n", "name: '..' names no directory of its own"),
        ("name = '.'\n", "name: '.' names no directory of its own"),
        # ranges: finite numbers only (NaN used to reach int() in RangeSpec.values)
        ("[parameters]\nrate = { start = 0, stop = nan, step = 1 }\n", "parameters.rate.stop: nan is not a finite number"),
        ("[parameters]\nrate = { start = 0, stop = 10, step = nan }\n", "parameters.rate.step: nan is not a finite number"),
        ("[parameters]\nrate = { start = -inf, stop = 10, num = 3 }\n", "parameters.rate.start: -inf is not a finite number"),
        # seeds and integer values must fit the table's int64 columns (checked before running)
        ("seeds = [99999999999999999999]\n", "seeds: seeds must be <= 9223372036854775807"),
        ("seeds = 100001\n", "seeds: a seed count must be between 1 and 100000"),
        ("[parameters]\nseed = [99999999999999999999]\n",
         "parameters: seed: 99999999999999999999 does not fit a 64-bit integer"),
        ("mode = 'list'\n[[runs]]\nseed = -99999999999999999999\n",
         "runs: runs[0].seed: -99999999999999999999 does not fit a 64-bit integer"),
        # the number of runs is bounded, and counted without listing them
        ("[parameters]\nrate = { start = 1, stop = 100000, num = 100000 }\n"
         "lrs = { start = 1, stop = 100000, num = 100000 }\nvms = { start = 1, stop = 100000, num = 100000 }\n",
         "too many runs: 1,000,000,000,000,000 points × 2 designs × 1 seeds = 2,000,000,000,000,000 runs, "
         "more than 1,000,000"),
        ("seeds = 100000\ndesigns = ['irqfd-resample', 'forwarded', 'forwarded-direct']\n[parameters]\nlrs = [2, 4, 8, 16]\n",
         "too many runs: 4 points × 3 designs × 100,000 seeds = 1,200,000 runs"),
        # a design the scenario cannot run is refused before any run (nic-level is a GICv2)
        ("designs = ['forwarded', 'gicv4-direct']\n",
         "designs: 'gicv4-direct' cannot run the scenario 'nic-level': design 'gicv4-direct' needs a GICv4"),
        ("designs = ['vmm-irqline']\n[parameters]\ntrigger = ['level', 'edge']\n",
         "designs: 'vmm-irqline' cannot run the scenario 'nic-level' at parameters point 1 ({'trigger': 'edge'}): "
         "design 'vmm-irqline' is QEMU's INTx path"),
    ],
)
def test_bad_spec_exits_2_naming_the_field(irqfwd, tmp_path: Path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    """A bad spec: one 'irqfwd: error:' line naming the file and the field, exit 2, no
    traceback, and nothing written."""
    f = _spec(tmp_path, text)
    out = tmp_path / "out"
    res = irqfwd("sweep", str(f), "--out", str(out), "--executor", "serial")
    assert res.code == 2, res.err
    assert f"irqfwd: error: {f}: " in res.err
    assert message in res.err
    assert "Traceback" not in res.err + res.out
    assert not out.exists()


def test_bad_options_and_missing_file_exit_2(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = _spec(tmp_path, TINY)
    for args, message in [
        (["--executor", "gpu"], "--executor 'gpu': unknown"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler: only with --executor dask"),
        (["--workers", "0"], "--workers 0: must be at least 1"),
    ]:
        res = irqfwd("sweep", str(f), "--out", str(tmp_path / "o"), *args)
        assert res.code == 2 and message in res.err, res.err
    res = irqfwd("sweep", str(tmp_path / "absent.toml"))
    assert res.code == 2 and "absent.toml: no such sweep spec" in res.err
    assert not (tmp_path / "o").exists()


def test_dot_name_exits_2_and_leaves_the_users_files(irqfwd, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """name = ".." (out/..: the current directory), "." or "..." is refused: exit 2 naming
    the field; the results.csv of the user in the current directory and its parent are
    untouched, nothing is created."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    mine = {work / "results.csv": "my,own\n1,2\n", tmp_path / "results.csv": "parent,file\n"}
    for path, text in mine.items():
        path.write_text(text)
    before = sorted(p.name for p in work.iterdir()), sorted(p.name for p in tmp_path.iterdir())
    for name in ("..", ".", "..."):
        f = _spec(tmp_path, f"name = '{name}'\n" + TINY, "dots.toml")
        res = irqfwd("sweep", str(f), "--executor", "serial")
        assert res.code == 2, res.err
        assert f"irqfwd: error: {f}: name: '{name}' names no directory of its own" in res.err
        assert "Traceback" not in res.err + res.out
    for path, text in mine.items():
        assert path.read_text() == text
    assert sorted(p.name for p in work.iterdir()) == before[0]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".toml") == before[1]


def test_range_counts_and_dedup() -> None:
    """A 100,000-point integer range counts its values, rounding to integers drops the
    duplicates in order, and a spec's point count is the product of its ranges' counts
    (the 1,000,000-run limit itself is allowed).  (Speed is not timed here: the dedup is a
    dict, the count a product.)"""
    assert RangeSpec(start=1, stop=100_000, num=100_000).count() == 100_000
    assert RangeSpec(start=1, stop=10, num=1000).values() == list(range(1, 11))
    spec = parse_spec({"designs": ["forwarded"],
                       "parameters": {"rate": {"start": 1, "stop": 1000, "num": 1000},
                                      "lrs": {"start": 2, "stop": 1001, "num": 1000}}})
    assert spec.point_count() == 1_000_000  # the limit itself is allowed


def test_ranges_and_plan_order() -> None:
    """Ranges expand as documented; the plan is points × designs × seeds in spec order with
    stable, distinct keys."""
    assert RangeSpec(start=1, stop=16, num=5, scale="log").values() == [1, 2, 4, 8, 16]
    assert RangeSpec(start=4, stop=64, step=20).values() == [4, 24, 44, 64]
    assert RangeSpec(start=0.5, stop=1.0, num=3).values() == [0.5, 0.75, 1.0]
    spec = parse_spec({"set": ["duration=1ms"], "designs": ["forwarded", "irqfd-resample"], "seeds": 2,
                       "parameters": {"rate": [1000, 2000], "lrs": [2, 4]}})
    runs = plan(spec)
    assert len(runs) == 16
    assert [(r.params["rate"], r.params["lrs"], r.spec.design, r.spec.seed) for r in runs[:5]] == [
        (1000, 2, "forwarded", 0), (1000, 2, "forwarded", 1), (1000, 2, "irqfd-resample", 0),
        (1000, 2, "irqfd-resample", 1), (1000, 4, "forwarded", 0)]
    assert runs[4].spec.config.num_lrs == 4 and runs[4].spec.config.devices[0].traffic.rate_hz == 1000
    assert [r.key for r in plan(spec)] == [r.key for r in runs]
    assert len({r.key for r in runs}) == 16


def test_list_mode_duplicate_point_is_rejected() -> None:
    spec = parse_spec({"mode": "list", "runs": [{"rate": 1000}, {"rate": "1k"}]})
    with pytest.raises(Exception, match=r"point 1 .* runs the same scenario as point 0"):
        plan(spec)


# --------------------------------------------------------------------------- executors


def test_executors_give_identical_rows_dask_local_cluster(tmp_path: Path) -> None:
    """The same spec and seeds give identical rows in-process, on local worker processes,
    on the Dask LocalCluster the executor starts, and on a running Dask cluster reached by
    its scheduler address (real distributed LocalClusters, 2 workers each)."""
    import logging

    from distributed import LocalCluster

    spec = load_spec(_spec(tmp_path, TINY))
    serial = run_sweep(spec, tmp_path / "serial", executor="serial")
    local = run_sweep(spec, tmp_path / "local", executor="local", workers=2)
    dask = run_sweep(spec, tmp_path / "dask", executor="dask", workers=2)  # starts its LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:  # an existing cluster, by address
        remote = run_sweep(spec, tmp_path / "remote", executor="dask", scheduler=cluster.scheduler_address)
    assert serial.total == 8 and serial.ran == 8 and not serial.failed
    assert local.ran == dask.ran == remote.ran == 8
    assert serial.rows == local.rows == dask.rows == remote.rows
    assert serial.columns == dask.columns
    assert (tmp_path / "serial" / "results.csv").read_bytes() == (tmp_path / "dask" / "results.csv").read_bytes()
    rates = {(r["rate"], r["design"], r["seed"]) for r in dask.rows}
    assert len(rates) == 8
    assert all(r["counters.guest_irqs_handled"] > 0 and r["invariants.violations"] == 0 for r in dask.rows)


def test_dask_unreachable_scheduler_exits_2(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = _spec(tmp_path, TINY)
    res = irqfwd("sweep", str(f), "--out", str(tmp_path / "o"), "--executor", "dask",
                 "--scheduler", "tcp://127.0.0.1:9")
    assert res.code == 2
    assert "--scheduler tcp://127.0.0.1:9: cannot connect to a Dask scheduler" in res.err


def test_dask_local_cluster_that_fails_to_start_exits_2(irqfwd_error, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A LocalCluster whose worker process dies while starting raises distributed's
    ``RuntimeError("Nanny failed to start.")``: one error line naming --executor dask and
    the cause, exit 2, no traceback, and no result file."""
    import distributed

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", broken)
    out = tmp_path / "out"
    msg = irqfwd_error("sweep", str(_spec(tmp_path, TINY)), "--out", str(out), "--executor", "dask", "-q")
    assert "--executor dask: the local Dask cluster did not start: Nanny failed to start." in msg
    assert not list((out / "runs").glob("*.json"))


# --------------------------------------------------------------------------- resume


def test_killed_sweep_resumes_without_losing_or_repeating_runs(tmp_path: Path) -> None:
    """A sweep killed (SIGKILL, whole process group) after some results is rerun: every run
    finished before the kill is kept as it was (same file, not rewritten), the others run
    once, and the tables hold every run once."""
    f = _spec(tmp_path, """
scenario = "nic-level"
set = ["duration=20ms"]
designs = ["irqfd-resample", "forwarded"]
seeds = 1
[parameters]
rate = [20000, 30000, 40000, 50000, 60000, 70000, 80000, 90000]
""")
    out = tmp_path / "out"
    runs_dir = out / "runs"
    cmd = [sys.executable, "-c", "from irqfwd.cli.main import main; main()", "sweep", str(f), "--out", str(out),
           "--executor", "serial", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if runs_dir.is_dir() and len(list(runs_dir.glob("*.json"))) >= 3:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in runs_dir.glob("*.json")}
    assert 3 <= len(before) < 16, "kill the sweep mid-way"
    outcome = run_sweep(load_spec(f), out, executor="serial")
    assert outcome.skipped == len(before)
    assert outcome.ran == 16 - len(before)
    after = {p.name: p for p in runs_dir.glob("*.json")}
    assert len(after) == 16
    for name, (ino, mtime, data) in before.items():
        st = after[name].stat()
        assert (st.st_ino, st.st_mtime_ns, after[name].read_bytes()) == (ino, mtime, data)
    keys = [r["key"] for r in outcome.rows]
    assert len(keys) == len(set(keys)) == 16
    again = run_sweep(load_spec(f), out, executor="serial")
    assert (again.skipped, again.ran) == (16, 0)
    assert again.rows == outcome.rows


# --------------------------------------------------------------------------- tables and figures


def test_tables_figures_and_cli(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Parquet and CSV hold the same rows; --plot draws one figure per parameter; the
    per-run files carry the summary and the wall time."""
    import csv

    import pyarrow.parquet as pq

    f = _spec(tmp_path, TINY)
    out = tmp_path / "out"
    res = irqfwd("sweep", str(f), "--out", str(out), "--executor", "serial", "--plot")
    assert res.code == 0, res.err
    assert "8 runs: 0 already done, 8 run now, 0 failed" in res.out
    table = pq.read_table(out / "results.parquet").to_pylist()
    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(table) == len(rows) == 8
    assert [r["key"] for r in table] == [r["key"] for r in rows]
    assert table[0]["rate"] == 50000 and rows[0]["rate"] == "50000"
    assert table[0]["latency_ns.assert_to_guest_handler.p99"] > 0
    assert (out / "figures" / "rate.png").stat().st_size > 10_000
    record = json.loads(next((out / "runs").glob("*.json")).read_text())
    assert record["wall_s"] > 0 and "latency_ns" in record["summary"]
    res = irqfwd("sweep", str(f), "--out", str(out), "--executor", "serial")
    assert "8 runs: 8 already done, 0 run now" in res.out


def test_study_forwarding_spec_plans() -> None:
    """The built-in study is a valid sweep: 25 points × 3 designs × 3 seeds."""
    from irqfwd.sweep.study import get_study

    runs = plan(get_study("forwarding").spec())
    assert len(runs) == 25 * 3 * 3
    lrs = [r for r in runs if "lrs" in r.params]
    assert {r.spec.config.name for r in lrs} == {"lr-pressure"}
    assert {len(r.spec.config.devices) for r in lrs} == {8}
    assert len(plan(get_study("forwarding").spec(quick=True))) == 25 * 3


def test_a_failing_run_is_reported_not_stored_and_retried(irqfwd, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that raises (here the model raising for the edge point: a design the scenario
    cannot run is now refused when the spec is planned, see
    test_design_the_scenario_cannot_run_exits_2_before_any_run) is reported with its
    parameters, exit status 1; the other runs are stored, and a rerun retries only the
    failed one."""
    from irqfwd.errors import SimulationError
    from irqfwd.sweep import executors
    from irqfwd.system.run import RunSpec

    real = executors.run_summary

    def flaky(spec: RunSpec) -> dict[str, object]:
        if spec.config.devices[0].trigger == "edge":
            raise SimulationError("the edge point breaks")
        return real(spec)

    monkeypatch.setattr(executors, "run_summary", flaky)
    f = _spec(tmp_path, """
set = ["duration=1ms"]
designs = ["forwarded"]
[parameters]
"devices.0.trigger" = ["level", "edge"]
""")
    out = tmp_path / "out"
    res = irqfwd("sweep", str(f), "--out", str(out), "--executor", "serial")
    assert res.code == 1
    assert "2 runs: 0 already done, 1 run now, 1 failed" in res.out
    assert ("failed: forwarded seed 0 {'devices.0.trigger': 'edge'}: SimulationError: the edge point breaks"
            in res.err)
    assert len(list((out / "runs").glob("*.json"))) == 1
    assert (out / "results.csv").read_text().count("\n") == 2
    res = irqfwd("sweep", str(f), "--out", str(out), "--executor", "serial")
    assert res.code == 1 and "2 runs: 1 already done, 0 run now, 1 failed" in res.out


def test_run_key_follows_the_replayed_trace_file_and_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run key changes when a trace CSV the traffic replays changes, or when the model's
    sources change (so a resumed sweep never reuses results of another input or model)."""
    from irqfwd.sweep import spec as spec_mod

    (tmp_path / "t.csv").write_text("time_ns\n0\n1000\n")
    (tmp_path / "sc.toml").write_text('[[devices]]\ntraffic = { pattern = "trace", trace_csv = "t.csv" }\n')
    f = _spec(tmp_path, 'scenario = "sc.toml"\ndesigns = ["forwarded"]\n', "my sweep.toml")
    spec = load_spec(f)
    assert spec.name == "my-sweep"
    key = plan(spec)[0].key
    (tmp_path / "t.csv").write_text("time_ns\n0\n2000\n")
    assert plan(spec)[0].key != key
    key2 = plan(spec)[0].key
    monkeypatch.setattr(spec_mod, "model_fingerprint", lambda: "another-model")
    assert plan(spec)[0].key != key2


def test_empty_out_exits_2_and_leaves_the_current_directory(irqfwd, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty --out (Path("") is the current directory) is refused by sweep and study:
    exit 2 naming --out, the user's results.csv there untouched, nothing created."""
    monkeypatch.chdir(tmp_path)
    f = _spec(tmp_path, TINY)
    (tmp_path / "results.csv").write_text("my,own\n")
    for args in (["sweep", str(f)], ["study", "forwarding", "--quick"]):
        res = irqfwd(*args, "--out", "", "--executor", "serial")
        assert res.code == 2, res.err
        assert "irqfwd: error: --out: empty directory name" in res.err
        assert "Traceback" not in res.err + res.out
    assert (tmp_path / "results.csv").read_text() == "my,own\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "s.toml"]


def test_study_unwritable_report_exits_2_before_running(irqfwd, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A --report that cannot be written (no such directory, its parent a file, a directory,
    not a regular file, /proc) stops the study before any run: exit 2 naming --report,
    nothing written."""
    from irqfwd.sweep import runner

    def no_sweep(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sweep ran")

    monkeypatch.setattr(runner, "run_sweep", no_sweep)
    monkeypatch.setattr("irqfwd.cli.sweep.run_sweep", no_sweep)
    (tmp_path / "file").write_text("x")
    bad = [(tmp_path / "nodir" / "r.md", "does not exist"), (tmp_path / "file" / "r.md", "does not exist"),
           (tmp_path, "is a directory")]
    if Path("/dev/null").exists():
        bad.append((Path("/dev/null"), "exists and is not a regular file"))
    if Path("/proc/self").is_dir():
        bad.append((Path("/proc/x.md"), "cannot write"))
    (tmp_path / "study-forwarding-figures").write_text("in the way")
    bad.append((tmp_path / "r.md", "study-forwarding-figures exists and is not a directory"))
    out = tmp_path / "out"
    for report, message in bad:
        res = irqfwd("study", "forwarding", "--quick", "-q", "--out", str(out), "--report", str(report))
        assert res.code == 2, (report, res.err)
        assert f"irqfwd: error: --report {report}: " in res.err and message in res.err
        assert "Traceback" not in res.err + res.out
    assert not out.exists() and not (tmp_path / "r.md").exists()
    assert (tmp_path / "file").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "study-forwarding-figures"]


def test_study_report_write_failure_is_an_input_error(tmp_path: Path) -> None:
    """A report or its figures failing to be written after the sweep (its directory became a
    file) is an InputError naming --report, not an OSError traceback."""
    from irqfwd.errors import InputError
    from irqfwd.sweep.runner import SweepOutcome
    from irqfwd.sweep.study import get_study, write_report

    (tmp_path / "gone").write_text("x")
    gone = tmp_path / "gone" / "r.md"
    with pytest.raises(InputError, match=r"^--report .*gone/r\.md: cannot write .*gone"):
        write_report(get_study("forwarding"), SweepOutcome(out=tmp_path, total=0, skipped=0), gone, quick=True)
    assert (tmp_path / "gone").read_text() == "x"


def test_plot_write_failure_exits_2_naming_plot(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """--plot into DIR/figures that is a file: exit 2 naming --plot and the directory, no
    traceback; the file is untouched and the results are kept."""
    f = _spec(tmp_path, TINY)
    out = tmp_path / "out"
    out.mkdir()
    (out / "figures").write_text("mine")
    res = irqfwd("sweep", str(f), "--out", str(out), "--executor", "serial", "--plot", "-q")
    assert res.code == 2, res.err
    assert f"irqfwd: error: --plot: cannot write the figures into {out / 'figures'}" in res.err
    assert "Traceback" not in res.err + res.out
    assert (out / "figures").read_text() == "mine"
    assert (out / "results.csv").read_text().count("\n") == 9
