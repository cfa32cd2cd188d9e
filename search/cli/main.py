"""The ``pimtune`` command: one sub-command per module in this package.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` (taking the parsed ``argparse.Namespace`` and returning an exit code).
Bad input raises :class:`~onnx_frontend.errors.PimtuneError`; it is printed as one
``pimtune: error: ...`` line on stderr with exit code 2, never as a traceback. Ctrl-C,
SIGTERM and SIGHUP end a run alike (:mod:`search.lifecycle`): finished work is kept, one
line says so, and the exit code is 128 + the signal (130, 143, 129).
"""

from __future__ import annotations

import argparse
import sys

from threadpoolctl import threadpool_limits

from onnx_frontend.errors import Interrupted, PimtuneError
from search import lifecycle
from search.cli import (ablate_cmd, bench_cmd, compare_cmd, evaluate_cmd, inspect_cmd, search_cmd, synth_cmd, validate_cmd,
                        zoo_cmd)
from search.cli import aimc_vs_dimc_cmd, chips_cmd, macro_cmd, profile_cmd, sweep_cmd
from search.cli.parser import Parser, add_version_arg

COMMANDS = (zoo_cmd, inspect_cmd, evaluate_cmd, validate_cmd, bench_cmd, search_cmd, compare_cmd, synth_cmd, ablate_cmd)
COMMANDS += (sweep_cmd, macro_cmd, chips_cmd, aimc_vs_dimc_cmd, profile_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="pimtune",
        description="Synthesise processing-in-memory CNN accelerators.",
    )
    add_version_arg(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    lifecycle.handle_signals()
    try:
        # designs are batched per numpy call and parallel work runs in processes: numpy's
        # BLAS threads would only oversubscribe the cores (2x slower measured on 2 cores)
        with threadpool_limits(limits=1):
            return int(args.func(args) or 0)
    except Interrupted as exc:
        print(f"pimtune: error: {exc} ({lifecycle.interrupt_name()})", file=sys.stderr)
        return lifecycle.interrupt_exit_code()
    except PimtuneError as exc:
        print(f"pimtune: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"pimtune: interrupted ({lifecycle.interrupt_name()}); finished work is kept", file=sys.stderr)
        return lifecycle.interrupt_exit_code()
    finally:
        if argv is None:                # run as the program, not called from Python: see ignore_late_signals
            lifecycle.ignore_late_signals()


if __name__ == "__main__":
    sys.exit(main())
