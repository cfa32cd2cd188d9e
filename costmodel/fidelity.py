"""How closely the analytical evaluator follows the exact reference scheduler.

``measure_fidelity`` draws random feasible designs, scores them with ``evaluate`` (one
call) and schedules each with ``simulate_design`` (``simulate(to_opgraph(...))`` for a
design that keeps its weights; the segmented schedule of
:mod:`costmodel.reference_segments` for one that reloads them: MODEL.md section 8). Errors are relative,
``|fast / ref - 1|`` (a fraction, 0.05 = 5 %); TOPS/W of the reference is
``2 * MACs / energy`` (energy in J, result in 1e12 ops/s/W).

With densities (``--sparsity``), every random design also draws a sparsity mode per
weighted layer (:func:`random_modes`), the evaluator uses the densities' expectations and
the reference counts the zeros of one actual inference per design
(:mod:`costmodel.sparsity.sampled`): the model's own weights and activations where a
model is given, else draws from the densities (:mod:`costmodel.sparsity.patterns`).

With a network that carries epitomes (``--epitomes PLAN``: its precisions too), every random
design draws a random epitome per conv layer
(:func:`~costmodel.random_designs.random_epitomes`) and the reference counts each crossbar
pass of those layers on its own (:mod:`costmodel.epitome.passes`), where the evaluator
takes their mean.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import onnx

from costmodel.budgets import budget_fix, budget_text, finite_or_none, given
from costmodel.design import DesignBatch
from costmodel.epitome.passes import epitome_occurrences
from costmodel.evaluator import Results, evaluate
from costmodel.opgraph import Occurrences
from costmodel.random_designs import random_designs
from costmodel.reference_segments import SegmentedSimResult, simulate_design
from costmodel.sparsity import SPARSE_MODES
from costmodel.sparsity.densities import Densities
from costmodel.sparsity.factors import COMPACT, SKIP
from costmodel.sparsity.patterns import zero_patterns
from costmodel.sparsity.sampled import sampled_occurrences
from costmodel.technology import Technology, load_technology
from onnx_frontend.errors import PimtuneError
from onnx_frontend.network import Network

#: Accuracy the evaluator must reach against the reference (largest error over designs).
TARGETS = {"latency_err_max": 0.10, "energy_err_max": 0.05, "tops_per_watt_spearman": 0.95}
MAX_ROUNDS = 50


def rankdata(x) -> np.ndarray:
    """Ranks 1..n of ``x``, ties sharing the average of their ranks (like scipy's default)."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # first position of each run of equal values, and the run every sorted element is in
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    avg = (starts + ends + 1) / 2.0                      # mean of ranks starts+1 .. ends
    run = np.cumsum(np.r_[True, sorted_x[1:] != sorted_x[:-1]]) - 1
    ranks = np.empty(len(x))
    ranks[order] = avg[run]
    return ranks


def spearman(a, b) -> float:
    """Spearman rank correlation of ``a`` and ``b`` (Pearson correlation of average
    ranks); NaN when fewer than two values or one side is constant."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"spearman: shapes differ {a.shape} vs {b.shape}")
    if len(a) < 2:
        return float("nan")
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def random_modes(tech: Technology, n: int, layers: int, seed) -> np.ndarray:
    """``(n, layers)`` sparsity modes drawn uniformly from those ``tech`` offers: none,
    gate, skip and compact on analog arrays, none to skip on digital SRAM arrays, none
    without a ``sparsity`` section (``seed``: a seed or a sequence of them)."""
    top = 0 if tech.sparsity is None else SKIP if tech.family == "sram_dimc" else COMPACT
    return np.random.default_rng(seed).integers(top + 1, size=(n, layers))


def feasible_random_designs(network: Network, tech: Technology, power_w: float | None, n: int, seed: int = 0,
                            max_rounds: int = MAX_ROUNDS, segmented: bool = False,
                            area_mm2: float | None = None, densities: Densities | None = None) -> DesignBatch:
    """Up to ``n`` feasible random designs under ``power_w`` W and/or ``area_mm2`` mm^2,
    drawn in rounds of oversampled batches (``segmented``: those whose network does not
    fit the budget once are segmented, :func:`~costmodel.random_designs.random_designs`);
    with ``densities``, each also with random sparsity modes (:func:`random_modes`, seed
    ``(seed, k, 15)``), feasible when evaluated with the densities.

    Round ``k`` draws with seed ``(seed, k)``; fewer than ``n`` come back only when
    ``max_rounds`` rounds did not find enough.

    Raises:
        PimtuneError: not a single feasible design in ``max_rounds`` rounds.
    """
    found: list[DesignBatch] = []
    have = 0
    draws = 0
    for k in range(max_rounds):
        m = max(64, 4 * (n - have))
        sub_seed = int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
        batch = random_designs(network, tech, power_w, m, seed=sub_seed, segmented=segmented, area_mm2=area_mm2)
        if densities is not None:
            batch.sparse_mode = random_modes(tech, m, batch.n_layers, (seed, k, 15))
        draws += m
        ok = np.flatnonzero(evaluate(network, tech, batch, power_w, area_mm2=area_mm2,
                                     densities=densities).feasible)[: n - have]
        if len(ok):
            found.append(batch.subset(ok))
            have += len(ok)
        if have >= n:
            break
    if not found:
        within = f"{power_w:g} W" if not given(area_mm2) else budget_text(power_w, area_mm2)
        raise PimtuneError(
            f"no feasible random design of {network.name} within {within} in {draws} draws; "
            f"the budget is too small{'' if segmented else ' for its weights'}: {budget_fix(power_w, area_mm2)}"
        )
    return DesignBatch.concat(found)


def measure_fidelity(network: Network, tech: Technology | str, power_w: float | None, n_designs: int, seed: int = 0,
                     progress: Callable[[int, int], None] | None = None, area_mm2: float | None = None,
                     densities: Densities | None = None, model: onnx.ModelProto | None = None,
                     activations: bool = True) -> dict:
    """Compare the evaluator with the reference scheduler on ``n_designs`` random designs
    under ``power_w`` W and/or ``area_mm2`` mm^2 (segmented where the network does not
    fit a design's budget once).

    With ``densities``, the designs also have random sparsity modes and the reference
    counts actual zeros (module docstring): ``model``'s own weights where it holds them
    and, with ``activations``, its activations (design ``i`` on the ``i mod 8``-th of the
    inputs ``--sparsity measured`` measures); the rest drawn from the densities with
    ``seed``. The result then also has ``sparsity``: the densities' and the reference's
    sources, the designs' layers per mode, and ``sample_seconds_per_design`` (the mean
    time of counting the zeros, s).

    Returns ``designs`` (count compared), ``latency_err_max/median``,
    ``energy_err_max/median``, ``interval_err_max`` (relative errors, fractions),
    ``tops_per_watt_spearman`` (rank correlation of the two TOPS/W),
    ``reloading_designs`` (how many reload weights: several segments or a tiled layer),
    ``epitome_layers`` (with epitomes: the epitome layers of all designs) and
    ``sim_seconds_per_design`` (mean wall time of ``simulate_design``, s), plus
    ``per_design`` (one dict of fast and reference figures per design). ``progress(i, n)``
    is called after each simulated design.
    """
    tech = load_technology(tech)
    batch = feasible_random_designs(network, tech, power_w, n_designs, seed, segmented=True, area_mm2=area_mm2,
                                    densities=densities)
    res = evaluate(network, tech, batch, power_w, area_mm2=area_mm2, densities=densities)
    patterns = None if densities is None else zero_patterns(network, tech.precision.activation_bits, densities,
                                                             model, activations, seed)
    n = len(batch)
    rows = []
    seconds = sampling = 0.0
    for i in range(n):
        t0 = time.perf_counter()
        occurrences = reference_occurrences(res.resolved, i, batch, patterns)
        t1 = time.perf_counter()
        sim = simulate_design(res.resolved, i, batch.dataflow[i], occurrences=occurrences)
        seconds += time.perf_counter() - t1
        sampling += t1 - t0
        rows.append(_compare(network, res, i, sim))
        if progress is not None:
            progress(i + 1, n)
    err = {k: np.array([r[k] for r in rows]) for k in ("latency_err", "energy_err", "interval_err")}
    return {
        "network": network.name,
        "power_w": finite_or_none(power_w),
        **({"area_mm2": float(area_mm2)} if given(area_mm2) else {}),
        "seed": seed,
        "designs": n,
        "latency_err_max": float(err["latency_err"].max()),
        "latency_err_median": float(np.median(err["latency_err"])),
        "energy_err_max": float(err["energy_err"].max()),
        "energy_err_median": float(np.median(err["energy_err"])),
        "interval_err_max": float(err["interval_err"].max()),
        "tops_per_watt_spearman": spearman([r["tops_per_watt"] for r in rows],
                                           [r["ref_tops_per_watt"] for r in rows]),
        "reloading_designs": sum(r["reloads"] for r in rows),
        **({"epitome_layers": int(np.broadcast_to(res.resolved.layer_map.stored.epitome, batch.dup.shape).sum())}
           if res.resolved.layer_map.any_epitome else {}),
        "sim_seconds_per_design": seconds / n,
        **({} if patterns is None else {
            "sparsity": {"densities": densities.source, "reference": patterns.source,
                         "layers_per_mode": {m: int((batch.sparse_mode == i).sum())
                                             for i, m in enumerate(SPARSE_MODES)}},
            "sample_seconds_per_design": sampling / n}),
        "per_design": rows,
    }


def reference_occurrences(resolved, n: int, batch: DesignBatch, patterns=None) -> dict[int, Occurrences]:
    """Layer index -> the counted :class:`~costmodel.opgraph.Occurrences` the reference
    schedules for design ``n`` of ``resolved`` (resolved from ``batch``): each epitome
    layer's passes (:func:`~costmodel.epitome.passes.epitome_occurrences`) and, with zero
    ``patterns``, each sparse layer's zeros on inference ``n`` of them
    (:func:`~costmodel.sparsity.sampled.sampled_occurrences`). A design has one or the
    other: the model has no sparsity with epitomes."""
    out = epitome_occurrences(resolved, n, batch)
    if patterns is not None:
        out.update(sampled_occurrences(resolved, n, batch, patterns, sample=n))
    return out


def _compare(network: Network, res: Results, i: int, sim) -> dict:
    """Fast vs reference figures of design ``i`` (s, J, TOPS/W) and their relative errors."""
    fast = {"latency_s": float(res.latency_s[i]), "interval_s": float(res.interval_s[i]),
            "energy_j": float(res.energy_j[i])}
    ref = {"latency_s": sim.latency_ns * 1e-9, "interval_s": sim.interval_ns * 1e-9, "energy_j": sim.energy_nj * 1e-9}
    row = {"index": i, **fast, "tops_per_watt": float(res.tops_per_watt[i])}
    row.update({f"ref_{k}": v for k, v in ref.items()})
    row["ref_tops_per_watt"] = 2.0 * network.macs / ref["energy_j"] / 1e12
    for k, name in (("latency_s", "latency_err"), ("energy_j", "energy_err"), ("interval_s", "interval_err")):
        row[name] = abs(fast[k] / ref[k] - 1.0)
    row["steps"] = int(res.resolved.steps[i].sum())
    row["reloads"] = isinstance(sim, SegmentedSimResult)
    if row["reloads"]:
        row.update(batch=sim.batch, segments=len(sim.segment_ns), ref_reload_s=sum(sim.reload_ns) * 1e-9,
                   composed=sim.composed)
    return row
