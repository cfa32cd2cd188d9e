"""Crossbar area of a network held once, dense against EPIM-like epitomes (issue 16's
ResNet50 target; MODEL.md section 11).

    python studies/epitome_area.py [--network resnet50] [--tech reram] [--bits 3]
                                   [--ratios 2 4 8 16]

For every array shape and cell resolution of the technology file, counts the arrays one
copy of every weighted layer occupies (the crossbar area at one copy per layer, as EPIM
reports it): the dense network at the file's weight bits, the dense network at ``--bits``
(a plan ``weight_bits: B``), and the network with a plan ``compression: R`` epitome on
every conv layer at ``--bits``, for each ``--ratios`` R. The counts come from the cost
model's own geometry (:func:`costmodel.layer_map.layer_map`), so they are the arrays an
evaluated design would pay for. Prints a Markdown table of counts and reductions, and the
stored-weight compression each plan reaches.
"""

from __future__ import annotations

import argparse

import numpy as np

from costmodel.layer_map import layer_map
from costmodel.technology import load_technology, require_network_family
from costmodel.workload import build_workload
from onnx_frontend.epitome_plan import PLAN_FORMAT, EpitomePlan, apply_plan
from search.cli.common import load_model_arg


def one_copy_arrays(network, tech, size: int, cell_bits: int) -> tuple[int, int]:
    """(arrays, stored weight values) of one copy of every weighted layer."""
    wl = build_workload(network, tech)
    si = np.array([tech.xbar_sizes.index(size)])
    m = layer_map(wl, tech, si, np.array([cell_bits]), np.array([tech.dac_bits_options[0]]))
    return int((m.row_groups * m.col_groups * m.slices).sum()), int(m.stored.weights.sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", default="resnet50", help="zoo name or .onnx path")
    p.add_argument("--tech", default="reram")
    p.add_argument("--bits", type=int, default=3, help="weight bits of the quantised networks (EPIM: 3)")
    p.add_argument("--ratios", type=float, nargs="+", default=[2, 4, 8, 16],
                   help="plan compression ratios (each conv layer's epitome, window = kernel)")
    args = p.parse_args()
    tech = require_network_family(load_technology(args.tech))
    dense = load_model_arg(args.network)

    def plan(**keys):
        return apply_plan(dense, EpitomePlan(format=PLAN_FORMAT, **keys))

    quantised = plan(weight_bits=args.bits)
    epitomes = {r: plan(weight_bits=args.bits, compression=r) for r in args.ratios}
    wb = tech.precision.weight_bits
    print(f"{dense.name} on {tech.name}: arrays of one copy of every weighted layer; dense {wb}-bit, dense "
          f"{args.bits}-bit, and `compression: R` epitomes at {args.bits} bits (reduction against dense {wb}-bit / "
          f"dense {args.bits}-bit)\n")
    head = " | ".join(f"R = {r:g}" for r in args.ratios)
    print(f"| array | cell bits | dense {wb}-bit | dense {args.bits}-bit | {head} |")
    print("|---|---:|---:|---:|" + "---:|" * len(args.ratios))
    for size in tech.xbar_sizes:
        for cell in tech.cell_bits_options:
            full, _ = one_copy_arrays(dense, tech, size, cell)
            q, _ = one_copy_arrays(quantised, tech, size, cell)
            cells = []
            for net in epitomes.values():
                e, _ = one_copy_arrays(net, tech, size, cell)
                cells.append(f"{e} ({full / e:.1f}x / {q / e:.1f}x)")
            print(f"| {size} | {cell} | {full} | {q} ({full / q:.2f}x) | " + " | ".join(cells) + " |")
    base = one_copy_arrays(dense, tech, tech.xbar_sizes[0], tech.cell_bits_options[0])[1]
    print("\nstored-weight compression of each plan (all weighted layers; fc layers stay dense): "
          + ", ".join(f"R = {r:g}: {base / one_copy_arrays(n, tech, tech.xbar_sizes[0], tech.cell_bits_options[0])[1]:.2f}x"
                      for r, n in epitomes.items()))


if __name__ == "__main__":
    main()
