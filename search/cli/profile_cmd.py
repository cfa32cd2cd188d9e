"""``pimtune profile MODEL [--inputs FILE.npy | --random N] [-o FILE]``: each weighted
layer's input density and per-bit density, measured by running the model with ONNX
Runtime (:mod:`onnx_frontend.activation_profile`)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.table import Table

from onnx_frontend import load_network
from onnx_frontend.activation_profile import ProfileError, measure_profile, profile_yaml
from onnx_frontend.zoo.random_weights import with_random_weights
from search import atomic_files
from search.cli.common import MODEL_HELP, add_json_arg, console, model_proto_arg, positive_int


def activation_bits(text: str) -> int:
    """argparse type of ``--act-bits``: 1 to 32 bits."""
    bits = positive_int(text)
    if bits > 32:
        raise argparse.ArgumentTypeError(f"activation codes of 1 to 32 bits, got {bits}")
    return bits


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "profile", help="measure each weighted layer's input and bit densities with ONNX Runtime",
        description="Run the model on --inputs (an .npy array of N inputs) or --random N standard-normal inputs "
                    "and write each weighted layer's input density and per-bit density as a profile YAML file.")
    p.add_argument("model", help=MODEL_HELP)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--inputs", metavar="FILE.npy", help="inputs of shape (N, C, H, W) or (C, H, W)")
    src.add_argument("--random", type=positive_int, metavar="N", help="N standard-normal inputs (the profile says so)")
    p.add_argument("--seed", type=int, default=0, help="seed of --random and of --random-weights (default 0)")
    p.add_argument("--random-weights", action="store_true",
                   help="give a structure-only model (a zoo network) random He-normal weights first")
    p.add_argument("--prune", type=float, default=0.0, metavar="P",
                   help="with --random-weights: the share of each weight tensor's smallest magnitudes set to zero")
    p.add_argument("--act-bits", type=activation_bits, default=8, metavar="A", help="activation bits of the codes (default 8)")
    p.add_argument("-o", "--out", metavar="FILE", help="profile YAML to write (default: MODEL-profile.yaml)")
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    proto, name = model_proto_arg(args.model)
    if args.random_weights:
        proto = with_random_weights(proto, seed=args.seed, prune=args.prune)
    elif args.prune:
        raise ProfileError("--prune applies to --random-weights; prune your own model's weights before exporting it")
    network = load_network(proto, name=name)
    out = Path(args.out or f"{name}-profile.yaml")
    if not out.parent.is_dir():
        raise ProfileError(f"-o {out}: the folder {out.parent} does not exist; create it or pass another path")
    inputs = None
    if args.inputs:
        try:
            inputs = np.load(args.inputs, allow_pickle=False)
        except (OSError, ValueError):
            raise ProfileError(f"--inputs {args.inputs}: not a readable numeric .npy array; save one with "
                               "numpy.save(FILE, array)") from None
    t0 = time.perf_counter()
    profile = measure_profile(proto, network, inputs=inputs, random=args.random or 0, seed=args.seed,
                              activation_bits=args.act_bits)
    seconds = time.perf_counter() - t0
    try:
        atomic_files.write_text(out, profile_yaml(profile))
    except OSError as exc:
        raise ProfileError(f"-o {out}: cannot write the profile ({exc.strerror}); pass a writable path") from None
    if args.json:
        print(json.dumps({**profile.model_dump(exclude_none=True), "file": str(out), "seconds": seconds}, indent=2))
        return 0
    table = Table(title=f"{name}: input densities ({profile.source})")
    for col in ("layer", "input density", "bit densities (LSB first)"):
        table.add_column(col, justify="left" if col != "input density" else "right")
    for layer, d in profile.layers.items():
        table.add_row(layer, f"{d.input_density:.3f}", " ".join(f"{b:.2f}" for b in d.bit_density))
    con = console()
    con.print(table)
    con.print(f"wrote {out} in {seconds:.1f} s")
    return 0
