"""Usage errors of the command line (click's parsing: unknown option or command, missing
argument, option value of the wrong type or out of range) are bad input like any other:
exit 2 and one ``irqfwd: error:`` line naming the problem and the command's --help, not
click's boxed usage panel of six lines."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--nonsense"], "No such option: --nonsense"),
        (["compare"], "Missing argument 'scenario'; see 'irqfwd compare --help'"),
        (["regs", "run"], "Missing argument 'SCRIPT...'; see 'irqfwd regs run --help'"),
        (["run", "nic-level", "--seed", "abc"], "Invalid value for '--seed'"),
        (["regs", "run", "x.regs", "--target", "kvm"], "Invalid value for '--target'"),
        (["explore", "explore-2x2", "--deviations", "-1"], "Invalid value for '--deviations'"),
        (["nosuch"], "No such command 'nosuch'; see 'irqfwd --help'"),
        (["regs", "frob"], "No such command 'frob'; see 'irqfwd regs --help'"),
        (["state", "nic-level"], "Missing option '--at'"),
    ],
    ids=["unknown-option", "missing-argument", "missing-scripts", "bad-int", "bad-choice", "below-min",
         "unknown-command", "unknown-subcommand", "missing-option"],
)
def test_usage_error_is_one_line(irqfwd_error, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    """A click usage error: exit 2, one 'irqfwd: error:' line with click's message and the
    command's --help, no usage panel (the fixture checks the single line)."""
    err = irqfwd_error(*args)
    assert message in err
    assert "╭" not in err and "Usage:" not in err


def test_no_arguments_still_prints_the_help(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """`irqfwd` and `irqfwd regs` alone print their help on stdout and exit 2, as before."""
    for args in ([], ["regs"]):
        res = irqfwd(*args)
        assert res.code == 2 and "Usage: irqfwd" in res.out and "irqfwd: error" not in res.err


def test_help_and_exit_statuses_are_kept(irqfwd) -> None:  # type: ignore[no-untyped-def]
    """--help exits 0; a command's own exit status (run: 1 on an invariant violation) is
    passed through."""
    res = irqfwd("run", "--help")
    assert res.code == 0 and "--design" in res.out
    res = irqfwd("run", "nic-level", "--set", "duration=100us", "-d", "fault-level-no-eoi-bit", "--json")
    assert res.code == 1 and '"violations"' in res.out
