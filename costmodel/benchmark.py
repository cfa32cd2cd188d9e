"""Speed of the vectorised evaluator and of the exact reference scheduler.

``bench_evaluator`` times ``evaluate`` on a batch of random designs (median over repeats,
seconds per call; designs/s = batch / median); with densities (``--sparsity``) the
designs draw every layer's sparsity mode at random and are scored with the densities.
``bench_reference`` times ``resolve`` + ``to_opgraph`` + ``simulate`` per design (median
seconds per design; dense designs, or with epitomes their passes counted,
:mod:`costmodel.epitome.passes`); designs whose predicted scheduling time exceeds a
limit are skipped, predicted from their operation count (exact: ``estimate_ops``) and
the scheduler's measured rate.
"""

from __future__ import annotations

import os
import time

import numpy as np
from threadpoolctl import threadpool_info

from costmodel.design import DesignBatch
from costmodel.epitome.passes import epitome_occurrences
from costmodel.evaluator import evaluate
from costmodel.opgraph import ITERATED, OP_CHAIN
from costmodel.random_designs import random_designs
from costmodel.reference_segments import simulate_design
from costmodel.resolve import Resolved, resolve
from costmodel.sparsity.densities import Densities
from costmodel.technology import Technology, load_technology
from onnx_frontend.network import Network

#: Operations per second of the reference scheduler assumed before any is measured
#: (a conservative figure; about 1.5e6 on a 2020s laptop core).
DEFAULT_OPS_PER_S = 1.0e6
_ITERATED = np.array([k in ITERATED for k in OP_CHAIN])


def thread_info() -> dict:
    """CPU count and numpy's BLAS/OpenMP thread pools as threadpoolctl sees them."""
    return {"cpus": os.cpu_count(),
            "pools": [{"api": p.get("user_api"), "threads": p.get("num_threads")} for p in threadpool_info()]}


def bench_evaluator(network: Network, tech: Technology | str, power_w: float | None, batch: int, repeats: int,
                    seed: int = 0, area_mm2: float | None = None, segmented: bool = False,
                    densities: Densities | None = None) -> dict:
    """Time ``evaluate`` on ``batch`` random designs (under ``power_w`` W and/or
    ``area_mm2`` mm^2; with ``segmented``, those whose network does not fit their budget
    once are segmented; with ``densities``, random sparsity modes scored with them): one
    warm-up call, then ``repeats``.

    Returns ``batch``, ``repeats``, ``median_s`` (seconds per call), ``ms_per_batch``,
    ``designs_per_s`` (batch / median), ``times_s`` (every timed call) and
    ``feasible_share`` (fraction of the batch that is feasible).
    """
    tech = load_technology(tech)
    designs = random_designs(network, tech, power_w, batch, seed=seed, area_mm2=area_mm2, segmented=segmented,
                             densities=densities, sparse_modes=densities is not None)
    # warm-up (workload and sparsity caches, page faults); its results are not kept: held, they
    # would keep the allocator from reusing their memory in the timed calls (measured: 20 % slower)
    feasible = float(evaluate(network, tech, designs, power_w, area_mm2=area_mm2, densities=densities).feasible.mean())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        evaluate(network, tech, designs, power_w, area_mm2=area_mm2, densities=densities)
        times.append(time.perf_counter() - t0)
    median = float(np.median(times))
    return {"batch": batch, "repeats": repeats, "median_s": median, "ms_per_batch": median * 1e3,
            "designs_per_s": batch / median, "times_s": times, "feasible_share": feasible}


def estimate_ops(resolved: Resolved, n: int) -> int:
    """Operation occurrences the reference scheduler will schedule for design ``n``:
    per layer, steps x (kinds present + (B - 1) x iterated kinds present)."""
    present = resolved.durations[:, n, :] > 0                         # (K, La)
    iters = np.where(resolved.workload.weighted, resolved.iterations[n].astype(np.int64), 1)
    per_step = (present & ~_ITERATED[:, None]).sum(0) + (present & _ITERATED[:, None]).sum(0) * iters
    return int((per_step * resolved.steps[n].astype(np.int64)).sum())


def bench_reference(network: Network, tech: Technology | str, power_w: float | None, designs: DesignBatch,
                    max_seconds: float = 20.0, area_mm2: float | None = None) -> dict:
    """Median seconds per design of ``resolve`` + ``to_opgraph`` + ``simulate``.

    Designs are run in order of their operation count; one whose predicted time (its
    operation count at the rate measured so far, ``DEFAULT_OPS_PER_S`` until 0.5 s
    have been measured) exceeds ``max_seconds`` is skipped. Returns ``designs`` (timed), ``skipped``,
    ``median_s`` (None if all skipped), ``steps`` and ``ops`` of the timed designs,
    ``ops_per_s`` and ``predicted_s`` of the smallest skipped design (or None).
    """
    tech = load_technology(tech)
    each = [designs.subset(i) for i in range(len(designs))]
    resolved = [resolve(network, tech, d, power_w, area_mm2) for d in each]
    est = [estimate_ops(r, 0) for r in resolved]
    order = np.argsort(est, kind="stable")
    times, steps, ops, skipped, predicted = [], [], [], 0, None
    rate = DEFAULT_OPS_PER_S
    for i in order:
        if est[i] / rate > max_seconds:
            skipped += 1
            predicted = est[i] / rate if predicted is None else min(predicted, est[i] / rate)
            continue
        t0 = time.perf_counter()
        r = resolve(network, tech, each[i], power_w, area_mm2)
        sim = simulate_design(r, 0, each[i].dataflow[0], occurrences=epitome_occurrences(r, 0, each[i]))
        times.append(time.perf_counter() - t0)
        steps.append(int(r.steps[0].sum()))
        ops.append(sim.ops)
        if sum(times) >= 0.5:         # small designs are dominated by fixed overheads
            rate = sum(ops) / sum(times)
    return {
        "designs": len(times), "skipped": skipped,
        "median_s": float(np.median(times)) if times else None,
        "steps": steps, "ops": ops, "ops_per_s": sum(ops) / sum(times) if times else None,
        "predicted_s": predicted, "max_seconds": max_seconds,
    }
