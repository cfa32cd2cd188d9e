"""What segmented execution buys: issue 13's three ablations, each a pair of syntheses.

1. **One segment vs the best segmentation** at budgets where both exist (the network fits
   once somewhere in the box): ``pimtune synth --segments one`` against ``--segments
   searched``.
2. **Batch 1 vs the best batch** where the network fits nowhere (every design reloads):
   ``--batch 1`` against the searched batch (1..64).
3. **A fixed dataflow for every layer vs the searched per-layer dataflow**: the best
   design of (2)'s searched synthesis scored again with every layer weight-, input- and
   output-stationary.

Every synthesis is ``pimtune synth NETWORK --power W [options] --json`` (default effort)
in its own folder. Prints Markdown tables (TOPS/W of a stream, throughput, latency,
segments and batch of each best design) and writes them with ``--json FILE``.

    python studies/segment_ablations.py [--effort default] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from costmodel import evaluate, load_design, load_technology
from costmodel.design_json import DATAFLOWS
from onnx_frontend import load_network
from onnx_frontend.zoo import build_model

#: (network, budget W) where one copy fits somewhere in the box, but not everywhere
BOTH_EXIST = [("vgg16", 49.0), ("resnet18", 10.0)]
#: (network, budget W) where it fits nowhere
RELOADING = [("vgg16", 20.0), ("resnet50", 5.0)]


def synth(network: str, power: float, effort: str, extra: list[str]) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"seg-ablation-{network}-"))
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "search.cli.main", "synth", network, "--power", f"{power:g}",
                          "--effort", effort, "--out", str(out), "--json", *extra],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if run.returncode != 0:
        return {"options": " ".join(extra), "error": run.stderr.strip().splitlines()[-1], "seconds": seconds}
    best = json.loads(run.stdout)["best"]
    m = best["metrics"] if "metrics" in best else best
    return {"options": " ".join(extra) or "(default)", "tops_per_watt": m["tops_per_watt"],
            "throughput_ips": m["throughput_ips"], "latency_s": m["latency_s"], "segments": m["segments"],
            "batch": m["batch"], "seconds": seconds, "design": str(out / "design.json")}


def dataflow_rows(network_name: str, power: float, design_path: str) -> list[dict]:
    network = load_network(build_model(network_name))
    tech = load_technology("reram")
    best = load_design(design_path, network)
    rows = []
    searched = evaluate(network, tech, best, power)
    tiled = searched.resolved.tiles.tiled[0]
    for label, flows in [("searched per layer", best.dataflow)] + [
            (f"all {name}", np.full_like(best.dataflow, k)) for k, name in enumerate(DATAFLOWS)]:
        variant = best.subset([0])
        variant.dataflow = flows.copy()
        m = evaluate(network, tech, variant, power).metrics(0)
        rows.append({"dataflow": label, "tops_per_watt": m["tops_per_watt"], "throughput_ips": m["throughput_ips"],
                     "tiled_layers": int(tiled.sum()),
                     "tiled_flows": ",".join(DATAFLOWS[int(f)].split("_")[0] for f in np.asarray(flows)[0][tiled])})
    return rows


def table(rows: list[dict], keys: list[str]) -> str:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = []
        for k in keys:
            v = r.get(k, "")
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--effort", default="default")
    p.add_argument("--json", metavar="FILE")
    a = p.parse_args()
    keys = ["network", "power_w", "options", "tops_per_watt", "throughput_ips", "latency_s", "segments", "batch",
            "seconds"]
    results = {"segments": [], "batch": [], "dataflow": []}
    for name, power in BOTH_EXIST:
        for extra in (["--segments", "one"], ["--segments", "searched"]):
            results["segments"].append({"network": name, "power_w": power, **synth(name, power, a.effort, extra)})
            print(table(results["segments"][-1:], keys), flush=True)
    for name, power in RELOADING:
        for extra in (["--batch", "1"], []):
            results["batch"].append({"network": name, "power_w": power, **synth(name, power, a.effort, extra)})
            print(table(results["batch"][-1:], keys), flush=True)
        best = results["batch"][-1]
        if "design" in best:
            results["dataflow"] += [{"network": name, "power_w": power, **r}
                                    for r in dataflow_rows(name, power, best["design"])]
    print("\n## One segment vs the best segmentation\n" + table(results["segments"], keys))
    print("\n## Batch 1 vs the best batch\n" + table(results["batch"], keys))
    print("\n## Fixed vs per-layer dataflow\n" + table(results["dataflow"], ["network", "power_w", "dataflow",
                                                                               "tops_per_watt", "throughput_ips",
                                                                               "tiled_layers", "tiled_flows"]))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
