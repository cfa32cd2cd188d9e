"""``pimtune zoo --list`` and ``pimtune zoo NAME -o FILE [--random-weights [--seed S] [--prune P]]``:
the benchmark network zoo, structure-only or with random (optionally magnitude-pruned)
weights (:mod:`onnx_frontend.zoo.random_weights`)."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from onnx_frontend import load_network
from onnx_frontend.errors import PimtuneError
from onnx_frontend.zoo import NETWORKS, build_model
from onnx_frontend.zoo.random_weights import with_random_weights
from search import atomic_files


def prune_share(text: str) -> float:
    """argparse type of ``--prune``: the share of each weight tensor set to zero, in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share of the weights in [0, 1) such as 0.7, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"a share of the weights in [0, 1) such as 0.7 (70 % zeros), got {text}")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "zoo",
        help="list the benchmark networks or write one as an ONNX file (structure-only or with random weights)",
        description="Without NAME (or with --list) print the zoo; with NAME -o FILE write that network, "
                    "structure-only (the weights declared without data), or with --random-weights holding random "
                    "He-normal weights, --prune P of each weight tensor's smallest magnitudes set to zero (e.g. a "
                    "70 %-pruned model for --sparsity measured).",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help=f"one of: {', '.join(NETWORKS)}")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write the .onnx model")
    p.add_argument("--list", action="store_true", help="print name, description, input and GMACs of every network")
    p.add_argument("--random-weights", action="store_true",
                   help="write random He-normal weights (zero biases, batch norms at identity) instead of none")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="seed of --random-weights (default 0)")
    p.add_argument("--prune", type=prune_share, default=None, metavar="P",
                   help="with --random-weights: the share of each weight tensor's smallest magnitudes set to "
                        "zero, in [0, 1) (e.g. 0.7)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list or args.name is None:
        if args.output or args.random_weights:
            raise PimtuneError(f"zoo: {'-o' if args.output else '--random-weights'} needs a network NAME; run "
                               "'pimtune zoo --list' to see them")
        Console().print(zoo_table())
        return 0
    if not args.output:
        raise PimtuneError(f"zoo: say where to write {args.name}: pimtune zoo {args.name} -o FILE")
    if not args.random_weights and (args.prune is not None or args.seed is not None):
        flag = "--prune" if args.prune is not None else "--seed"
        raise PimtuneError(f"zoo: {flag} applies to random weights; add --random-weights "
                           f"(pimtune zoo {args.name} -o {args.output} --random-weights {flag} ...)")
    model = build_model(args.name)
    note = ""
    if args.random_weights:
        seed, prune = args.seed or 0, args.prune or 0.0
        model = with_random_weights(model, seed=seed, prune=prune)
        note = f"; random He-normal weights, seed {seed}" + (f", {prune:.0%} of each weight tensor pruned" if prune else "")
    data = model.SerializeToString()
    try:
        atomic_files.write_bytes(args.output, data)         # never a half-written model
    except OSError as exc:
        raise PimtuneError(f"zoo: cannot write {args.output} ({exc.strerror}); check the path") from None
    macs = load_network(model).macs
    print(f"wrote {args.output} ({len(data)} bytes, {macs / 1e9:.3f} GMACs{note})")
    return 0


def zoo_table() -> Table:
    """One row per zoo network; MACs come from loading the model like any other file."""
    table = Table(title="pimtune zoo")
    for col in ("name", "description", "input", "GMACs"):
        table.add_column(col, justify="right" if col == "GMACs" else "left")
    for name, (_, description) in NETWORKS.items():
        network = load_network(build_model(name))
        table.add_row(name, description, "x".join(map(str, network.input_shape)), f"{network.macs / 1e9:.3f}")
    return table
