"""Evaluator throughput on segmented designs against the same designs in one segment.

For each network and budget where one copy of the weights fits nowhere (so every design
of the space reloads), draw repaired random rows of the segmented space in two ways:

- ``uniform``: every column uniform, so about every other layer starts a segment (tens
  of segments: the most per-segment arrays);
- ``search-like``: a segment starts at 10 % of the layers before repair packs the rest,
  as in the synthesis EA's first population (a few segments, what searches score);

and time ``evaluate`` (median of --repeats calls after a warm-up, one BLAS thread) on

- ``segmented``: the designs as drawn (segments, batch, dataflow, weight tiles);
- ``one segment``: the same arrays with every layer in segment 0, batch 1 (today's
  evaluator path: the single-segment model, infeasible here but computed in full).

Prints designs/s of both and their ratio (issue 13's target: segmented >= 0.5x), with the
machine's load average. Usage::

    python studies/bench_segments.py [--batch 4096] [--repeats 7] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import replace

import numpy as np
from threadpoolctl import threadpool_limits

from costmodel import evaluate
from costmodel.technology import load_technology
from onnx_frontend import load_network
from onnx_frontend.zoo import build_model
from space import DesignSpace, repair

CASES = [("vgg16-cifar", 2.0), ("resnet18", 2.0), ("vgg16", 20.0), ("resnet50", 5.0), ("mobilenetv2", 5.0)]


def median_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    tech = load_technology("reram")
    rows = []
    with threadpool_limits(1):
        for name, power in CASES:
            net = load_network(build_model(name))
            space = DesignSpace.for_network(net, tech, power)
            rng = np.random.default_rng(0)
            X = space.random(args.batch, rng)
            seg_cols = space.seg_cols[space.seg_cols >= 0]
            for draw in ("uniform", "search-like"):
                if draw == "search-like":
                    X[:, seg_cols] = rng.random((args.batch, len(seg_cols))) < 0.1
                seg = space.to_batch(repair(space, X))
                one = replace(seg, segment=np.zeros_like(seg.segment), batch=np.ones_like(seg.batch),
                              dataflow=np.zeros_like(seg.dataflow))
                t_seg = median_seconds(lambda: evaluate(net, tech, seg, power), args.repeats)
                t_one = median_seconds(lambda: evaluate(net, tech, one, power), args.repeats)
                res = evaluate(net, tech, seg, power)
                rows.append({"network": name, "power_w": power, "draw": draw, "designs": args.batch,
                             "segments_mean": float(seg.n_segments.mean()), "feasible": float(res.feasible.mean()),
                             "segmented_designs_per_s": args.batch / t_seg,
                             "one_segment_designs_per_s": args.batch / t_one, "ratio": t_one / t_seg})
                r = rows[-1]
                print(f"{name:12s} {power:5g} W {draw:12s} {r['segments_mean']:5.1f} segments  "
                      f"segmented {r['segmented_designs_per_s']:8.0f}/s  "
                      f"one segment {r['one_segment_designs_per_s']:8.0f}/s  ratio {r['ratio']:.2f}", flush=True)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, {os.cpu_count()} cores")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "loadavg": load}, f, indent=2)


if __name__ == "__main__":
    main()
