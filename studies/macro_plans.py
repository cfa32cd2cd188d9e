"""How much the macro stage matters: TOPS/W over macro plans of one duplication vector.

For each network, run ``pimtune synth NETWORK --power W`` (default effort), take its best
design's globals and duplication, and score, for that duplication:

- the minimum-macro plan: every layer on the fewest macros that hold its crossbars
  (``macro.max_crossbars``), no sharing;
- N random macro plans (uniform macro levels and sharing, repaired: legal and within
  the capacity);
- the synthesis's own plan (the EA's best).

Prints a table (Markdown) of the spread and the EA's gain over the minimum-macro plan.

    python studies/macro_plans.py [--networks alexnet,resnet18] [--power 49] [--plans 4000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from costmodel import evaluate, load_design, load_technology
from onnx_frontend.zoo import build_model
from onnx_frontend import load_network
from search.operators.evolution import partition_columns
from space import DesignSpace, repair
from space.repair import repair_partition


def design_row(space: DesignSpace, batch) -> np.ndarray:
    """(D,) the encoded row of a one-design batch's globals and duplication (levels 0, no sharing)."""
    x = np.zeros(space.dims, dtype=np.int64)
    for name in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits"):
        x[space.index[name]] = space.columns[space.index[name]].index(getattr(batch, name)[0])
    conv = space.dup_cols >= 0
    x[space.dup_cols[conv]] = batch.dup[0][conv]
    x[space.share_cols[space.share_cols >= 0]] = -1
    return x


def study(network_name: str, power: float, plans: int, seed: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"macro-plans-{network_name}-"))
    subprocess.run([sys.executable, "-m", "search.cli.main", "synth", network_name, "--power", str(power),
                    "--out", str(out), "--json"], check=True, stdout=subprocess.DEVNULL)
    network = load_network(build_model(network_name))
    tech = load_technology("reram")
    best = load_design(out / "design.json", network)
    space = DesignSpace.for_network(network, tech, power)
    base = repair(space, design_row(space, best)[None])[0]              # floors, no sharing
    rng = np.random.default_rng(seed)
    X = np.tile(base, (plans, 1))
    cols = partition_columns(space)
    X[:, cols] = space.random(plans, rng)[:, cols]
    X = repair_partition(space, X)
    minimum = space.evaluate(base[None]).tops_per_watt[0]
    rand = space.evaluate(X).tops_per_watt
    ok = rand[rand > 0]
    ea = float(evaluate(network, tech, best, power).tops_per_watt[0])
    m_best, m_min = best.macros[0].sum(), space.to_batch(base[None]).macros[0].sum()
    return {"network": network_name, "power_w": power, "minimum_plan": float(minimum), "ea_plan": ea,
            "ea_gain": ea / minimum - 1, "random_feasible": int(len(ok)), "random_min": float(ok.min()),
            "random_median": float(np.median(ok)), "random_max": float(ok.max()),
            "macros_minimum": int(m_min), "macros_ea": int(m_best),
            "sharing_pairs_ea": int((best.share[0] >= 0).sum()), "dac_bits": int(best.dac_bits[0]),
            "cell_bits": int(best.cell_bits[0]), "xbar_size": int(best.xbar_size[0])}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--networks", default="alexnet,resnet18")
    p.add_argument("--power", type=float, default=49.0)
    p.add_argument("--plans", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rows = [study(n, a.power, a.plans, a.seed) for n in a.networks.split(",")]
    print("| network | globals (S, cell, DAC) | minimum-macro plan TOPS/W (macros) | random plans: min / median / max "
          "(feasible) | EA plan TOPS/W (macros, sharing pairs) | EA vs minimum |")
    print("|---|---|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['network']} | {r['xbar_size']}, {r['cell_bits']}-bit, {r['dac_bits']}-bit | "
              f"{r['minimum_plan']:.4f} ({r['macros_minimum']}) | {r['random_min']:.4f} / {r['random_median']:.4f} / "
              f"{r['random_max']:.4f} ({r['random_feasible']}) | {r['ea_plan']:.4f} ({r['macros_ea']}, "
              f"{r['sharing_pairs_ea']}) | {r['ea_gain']:+.1%} |")
    print(json.dumps(rows, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
