"""What sparsity-aware synthesis gains on a magnitude-pruned ResNet18, per technology family.

    python studies/sparsity_gains.py [--prune 0.7] [--effort default] [--jobs N]
                                     [--network resnet18] [--out DIR]

Builds the zoo network with random He-normal weights whose smallest ``--prune`` share
of every tensor is zero (``pimtune zoo NAME --random-weights --prune P``), then runs
``pimtune synth`` on it twice per family, as a user would (fresh processes, fresh SQLite
studies): with ``--sparsity dense`` (every weight and input counts as non-zero: today's
model) and with ``--sparsity measured`` (the model's weights, its activations measured
with ONNX Runtime on 8 random inputs; the per-layer sparsity mode is searched). Budgets:
ReRAM at PIMSYN's 49 W, the SRAM families at 20 mm^2 (the AIMC-vs-DIMC study's middle
budget). Prints a Markdown table: the best TOPS/W of each, the gain, throughput, the
modes the sparse design chose and the wall times.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FAMILIES = (("reram", ["--power", "49"]), ("sram-aimc", ["--area", "20"]), ("sram-dimc", ["--area", "20"]))


def pimtune(*args: str) -> tuple[float, dict | None, str]:
    """Run ``pimtune ARGS --json``: (wall seconds, parsed JSON or None, stderr)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "search.cli.main", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"pimtune {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds, (json.loads(done.stdout) if done.stdout.strip().startswith("{") else None), done.stderr


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", default="resnet18")
    p.add_argument("--prune", type=float, default=0.7)
    p.add_argument("--effort", default="default")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", help="keep the model and every synthesis output here (default: a temporary folder)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        root.mkdir(parents=True, exist_ok=True)
        model = root / f"{args.network}-pruned{round(100 * args.prune)}.onnx"
        pimtune("zoo", args.network, "-o", str(model), "--random-weights", "--prune", str(args.prune))
        print(f"`pimtune synth {model.name} --effort {args.effort} --jobs {args.jobs} --sparsity dense|measured`, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}\n")
        print("| family | budget | dense TOPS/W | sparse TOPS/W | gain | throughput ratio | modes chosen "
              "| wall s dense / sparse |")
        print("|---|---|---:|---:|---:|---:|---|---|")
        for tech, budget in FAMILIES:
            best, wall = {}, {}
            for spec in ("dense", "measured"):
                out = root / f"synth-{tech}-{spec}"
                wall[spec], summary, _ = pimtune("synth", str(model), "--tech", tech, *budget, "--effort", args.effort,
                                                 "--jobs", str(args.jobs), "--sparsity", spec, "--out", str(out),
                                                 "--storage", f"sqlite:///{root / f'{tech}-{spec}.db'}", "--json")
                best[spec] = (summary or {}).get("best") or {}
            d, s = best["dense"], best["measured"]
            modes = collections.Counter(l.get("sparsity", "none") for l in s.get("layers", []))
            gain = s["tops_per_watt"] / d["tops_per_watt"] if d.get("tops_per_watt") and s.get("tops_per_watt") else None
            speed = s["throughput_ips"] / d["throughput_ips"] if d.get("throughput_ips") and s.get("throughput_ips") else None
            print(f"| {tech} | {' '.join(budget)} | {d.get('tops_per_watt', 0):.3f} | {s.get('tops_per_watt', 0):.3f} "
                  f"| {'-' if gain is None else f'{gain:.3f}x'} | {'-' if speed is None else f'{speed:.3f}x'} "
                  f"| {', '.join(f'{k} {v}' for k, v in modes.most_common())} "
                  f"| {wall['dense']:.1f} / {wall['measured']:.1f} |")


if __name__ == "__main__":
    main()
