"""Helpers the command-line tests share: run ``pimtune`` in-process and read its one error line."""

from __future__ import annotations

from search.cli.main import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``pimtune ARGV`` (arguments str()-ed)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:                                   # argparse's usage errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(err: str) -> str:
    """The single ``pimtune: error:`` line of ``err`` (asserts there is exactly one, no traceback)."""
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("pimtune: error: ") and "Traceback" not in err, err
    return errors[0]
