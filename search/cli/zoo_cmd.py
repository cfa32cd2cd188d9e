"""``pimtune zoo --list`` and ``pimtune zoo NAME -o FILE``: the benchmark network zoo."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from onnx_frontend import load_network
from onnx_frontend.errors import PimtuneError
from onnx_frontend.zoo import NETWORKS, build_model
from search import atomic_files


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "zoo",
        help="list the benchmark networks or write one as a structure-only ONNX file",
        description="Without NAME (or with --list) print the zoo; with NAME -o FILE write that network.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help=f"one of: {', '.join(NETWORKS)}")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write the .onnx model")
    p.add_argument("--list", action="store_true", help="print name, description, input and GMACs of every network")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list or args.name is None:
        if args.output:
            raise PimtuneError("zoo: -o needs a network NAME; run 'pimtune zoo --list' to see them")
        Console().print(zoo_table())
        return 0
    if not args.output:
        raise PimtuneError(f"zoo: say where to write {args.name}: pimtune zoo {args.name} -o FILE")
    model = build_model(args.name)
    data = model.SerializeToString()
    try:
        atomic_files.write_bytes(args.output, data)         # never a half-written model
    except OSError as exc:
        raise PimtuneError(f"zoo: cannot write {args.output} ({exc.strerror}); check the path") from None
    macs = load_network(model).macs
    print(f"wrote {args.output} ({len(data)} bytes, {macs / 1e9:.3f} GMACs)")
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
