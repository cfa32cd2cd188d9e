"""``pimtune ablate [FILE]``: PIMSYN's ablations in our model (see :mod:`search.synth.ablations`)."""

from __future__ import annotations

import argparse
import json

import optuna
from rich.table import Table

from costmodel.budgets import budget_text
from search.synth.ablations import load_ablation_file, ratio_rows, ratio_text, run_ablations, write_tables
from search.cli.common import add_json_arg, console, jsonable, load_model_arg, output_dir
from search.storage.studies import open_storage

DESCRIPTION = """\
Run PIMSYN's ablations in pimtune's cost model: for each network of FILE, full syntheses
of the complete flow and of its variants (heuristic or no duplication, identical macros,
no sharing) at the same budget, and the full flow against ISAAC at a budget that holds
ISAAC's organisation. Prints and writes ablations.md / ablations.csv (ratios of TOPS/W and
throughput between the two designs of each comparison, beside the paper's figures). Every synthesis is stored
(default: OUT/ablations.db), so rerunning resumes."""


def register(subparsers) -> None:
    p = subparsers.add_parser("ablate", help="reproduce PIMSYN's ablations in pimtune's model",
                              description=DESCRIPTION)
    p.add_argument("file", nargs="?", default="studies/ablations.yaml", metavar="FILE",
                   help="ablation file (default studies/ablations.yaml)")
    p.add_argument("--out", metavar="DIR", default="ablations", help="output directory (default ./ablations)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage (default sqlite:///OUT/ablations.db)")
    add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_ablation_file(args.file)
    out = output_dir(args.out)
    storage = open_storage(args.storage or f"sqlite:///{out / 'ablations.db'}", resumable=True)
    err = console(stderr=True)

    def progress(network, variant):
        if not args.json:
            err.print(f"[dim]{network}: {variant}[/]")

    results = run_ablations(spec, load_model_arg, storage, progress)
    rows = ratio_rows(results)
    md, csv_path = write_tables(out, rows)
    if args.json:
        print(json.dumps(jsonable({"rows": rows, "files": [str(md), str(csv_path)]}), indent=2))
        return 0
    table = Table(title=f"ablations at {budget_text(spec.power_w, spec.area_mm2)} (ratios a / b, see ablations.md)")
    for col in ("network", "comparison", "TOPS/W ratio", "throughput ratio", "paper", "note"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["network"], r["comparison"], ratio_text(r["tops_per_watt_ratio"]), ratio_text(r["throughput_ratio"]),
                      r["paper"], r["note"])
    console().print(table)
    console().print(f"wrote {md} and {csv_path}")
    return 0

