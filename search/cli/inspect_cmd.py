"""``pimtune inspect MODEL.onnx [--epitomes PLAN.yaml] [--json]``: the layer table and
totals of a model, with the epitomes the model carries or a plan sets
(:mod:`onnx_frontend.epitome_plan`)."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from onnx_frontend import Network, load_network
from onnx_frontend.epitome_plan import apply_plan, load_plan


def register(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="print the layer graph of an ONNX model")
    p.add_argument("model", help="path of an .onnx file")
    p.add_argument("--epitomes", metavar="PLAN.yaml",
                   help="set conv layers' epitomes from a plan file (format pimtune-epitomes/1)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    network = load_network(args.model)
    if args.epitomes:
        network = apply_plan(network, load_plan(args.epitomes), label=args.epitomes)
    if args.json:
        print(json.dumps(inspect_json(network), indent=2))
    else:
        Console().print(layer_table(network))
        t = network.totals()
        print(
            f"{network.name}: {t['conv_layers']} conv, {t['fc_layers']} fc, "
            f"{t['macs'] / 1e9:.3f} GMACs, {t['params'] / 1e6:.2f} M params"
        )
    return 0


def inspect_json(network: Network) -> dict:
    """``{"layers": [...], "totals": {...}}`` as documented in the README."""
    return {"layers": network.summary_rows(), "totals": network.totals()}


def layer_table(network: Network) -> Table:
    """The layer table; an ``epitome`` column (shape and compression) only when some layer
    stores one."""
    epitomes = any(l.epitome is not None for l in network.layers)
    table = Table(title=f"{network.name}  input {network.input_shape}")
    cols = ("#", "name", "kind", "in -> out (C,H,W)", "kernel/stride", "groups", "act", "from", "MMACs")
    for col in cols:
        table.add_column(col, justify="right" if col in ("#", "groups", "MMACs") else "left")
    if epitomes:
        table.add_column("epitome", no_wrap=True, min_width=18)
    for l in network.layers:
        extra = () if not epitomes else (
            "" if l.epitome is None else f"{l.epitome.text()} ({l.weights / l.stored_weights:.2f}x)",)
        table.add_row(
            str(l.index),
            l.name,
            l.kind + (f" {l.pool_type}" if l.pool_type else ""),
            f"{'+'.join(str(s) for s in l.in_shapes)} -> {l.out_shape}",
            f"{l.kernel[0]}x{l.kernel[1]}/{l.stride[0]}",
            str(l.groups),
            ",".join(l.activation),
            ",".join("in" if p < 0 else str(p) for p in l.producers),
            f"{l.macs / 1e6:.2f}",
            *extra,
        )
    return table
