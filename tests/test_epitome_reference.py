"""The epitome reference (costmodel/epitome/passes.py): the exact reference scheduler runs
every crossbar pass of an epitome layer with its own rows and columns, so ``pimtune
validate`` covers epitome designs (MODEL.md section 11)."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.epitome.mapping import matrix_geometry, stored
from costmodel.epitome.passes import epitome_occurrences, pass_counts, step_copies
from costmodel.evaluator import evaluate
from costmodel.fidelity import feasible_random_designs, measure_fidelity
from costmodel.layer_map import LayerMap
from costmodel.opgraph import OP_CHAIN
from costmodel.reference_segments import reloads, simulate_design
from tests.cli_runs import run_cli
from tests.test_epitome_model import PLAN_C4, PLAN_W4, budgets, conv_and_epitome, network, tech_of

KINDS = ("mvm", "adc", "shift_add")


@lru_cache(maxsize=None)
def drawn(tech_name: str, plan: str = PLAN_C4, n: int = 6, segmented: bool = True, scale: float = 1.0):
    """``(network, batch, results)``: feasible random designs of alexnet-cifar with the
    plan, each with random epitomes, under the test budgets times ``scale``."""
    net = network(plan=plan)
    b = {k: v * scale for k, v in budgets(tech_name).items() if v is not None}
    batch = feasible_random_designs(net, tech_of(tech_name), b.get("power_w"), n, seed=4, segmented=segmented,
                                    area_mm2=b.get("area_mm2"))
    return net, batch, evaluate(net, tech_of(tech_name), batch, b.get("power_w"), area_mm2=b.get("area_mm2"))


def one_layer_map(d, e, size: int, cols: int, pack: int, B: int = 2) -> LayerMap:
    """The :class:`LayerMap` of one design of one conv layer ``d`` with epitome ``e``."""
    s = stored(d, e, pack)
    geo = [np.asarray(v).reshape(1, 1) for v in matrix_geometry(s.rows_g, s.cols_g, s.groups, size, cols)]
    return LayerMap(*geo, slices=np.ones((1, 1), dtype=np.int64), bit_iterations=np.full((1, 1), B), stored=s,
                    weight_bits=np.full(1, 8), cell_share=np.ones(1), per_design=True)


def full_blocks(net, batch, n: int, j: int) -> bool:
    """Whether weighted layer ``j``'s epitome of design ``n`` splits its channels into full blocks."""
    layer = net.weighted_layers[j]
    out, in_ = batch.epitome[n, j, :2]
    return (layer.in_channels // layer.groups) % in_ == 0 and layer.out_channels % out == 0


# --- one pass at a time --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(conv_and_epitome(), st.sampled_from([(128, 128), (64, 32), (256, 128)]), st.sampled_from([1, 2, 4]))
def test_the_passes_average_to_the_models_shares(layer, array, pack):
    d, e = layer
    m = one_layer_map(d, e, *array, pack)
    s = m.stored
    if not s.epitome[0]:
        return
    c = pass_counts(m, d, 0, 0)
    passes = int(s.passes[0])
    assert len(c.rows) == len(c.columns) == len(c.products) == passes
    assert c.rows.mean() == pytest.approx(float(m.rows_total[0, 0] * s.drive_share[0]))
    assert c.columns.mean() == pytest.approx(float(m.cols_read[0, 0] * s.convert_share[0]))
    assert c.products.mean() == pytest.approx(float(s.products[0]))
    out, in_ = int(e[0, 0]), int(e[0, 1])
    if int(d.cin_g[0]) % in_ == 0 and int(d.cout[0]) % out == 0:     # full blocks: every pass alike
        assert np.ptp(c.rows) == np.ptp(c.columns) == np.ptp(c.products) == 0
    else:                                                                 # only the last blocks hold fewer
        assert c.rows.max() == c.rows[0] and c.columns.max() == c.columns[0]


@pytest.mark.parametrize("tech_name", ["reram", "sram-aimc", "sram-dimc"])
@pytest.mark.parametrize("plan", [PLAN_C4, PLAN_W4])
def test_the_reference_equals_the_model_on_full_blocks(tech_name, plan):
    """A layer's counted passes do the model's work: in all (the model's step is the mean
    over the passes and over the steps: the last step runs only its pixels' copies), per
    step in proportion to the copies it runs, and per occurrence where the blocks are full
    (the tables' lookups at a pass's first iteration, the model spreading them over its
    iterations)."""
    net, batch, res = drawn(tech_name, plan)
    r = res.resolved
    seen_full = seen_partial = 0
    for n in range(len(batch)):
        occurrences = epitome_occurrences(r, n, batch)
        assert set(occurrences) == {int(r.workload.layer_of_w[j]) for j in np.flatnonzero(batch.epitome[n, :, 0] > 0)
                                    if r.layer_map.stored.epitome[n, j]}
        for l, occ in occurrences.items():
            j = int(r.workload.widx[l])
            iterations, B = int(r.iterations[n, l]), int(r.layer_map.bit_iterations[n, j])
            copies = step_copies(r, n, j)
            share = copies / copies.mean()                                   # of the model's mean step
            full = full_blocks(net, batch, n, j)
            for kind in KINDS:
                model = float(r.energy(kind)[n, l])
                e = occ.energies_nj[kind]
                assert e.shape == (int(r.steps[n, l]), iterations)
                assert e.sum() == pytest.approx(model * iterations * len(copies), rel=2e-6)
                np.testing.assert_allclose(e.sum(1), model * iterations * share, rtol=2e-6)
                if full:
                    per_pass = e.reshape(len(copies), -1, B).sum(2)
                    np.testing.assert_allclose(per_pass, np.outer(share, np.full(per_pass.shape[1], model * B)), rtol=2e-6)
                    if kind != "mvm":
                        np.testing.assert_allclose(e, np.outer(share, np.full(iterations, model)), rtol=2e-6)
            for kind, d in occ.durations_ns.items():
                model = float(r.durations[OP_CHAIN.index(kind), n, l])
                np.testing.assert_allclose(d.sum(1), model * iterations * share, rtol=2e-6)
                if full:
                    np.testing.assert_allclose(d, np.outer(share, np.full(iterations, model)), rtol=2e-6)
            seen_full += full
            seen_partial += not full
    assert seen_full and seen_partial


def test_passes_follow_the_blocks_order_and_the_last_step_runs_fewer_copies():
    net, batch, _ = drawn("reram", segmented=False)
    conv = [l.kind == "conv" for l in net.weighted_layers]
    shapes = [(-(-l.out_channels * 2 // 5), -(-(l.in_channels // l.groups) * 3 // 5), *l.kernel) if c else (0,) * 4
              for l, c in zip(net.weighted_layers, conv)]
    batch = replace(batch, epitome=np.broadcast_to(np.array(shapes), batch.dup.shape + (4,)).copy())
    r = evaluate(net, tech_of("reram"), batch, budgets("reram")["power_w"]).resolved
    checked = 0
    for n in range(len(batch)):
        for l in epitome_occurrences(r, n, batch):
            j = int(r.workload.widx[l])
            layer = net.layers[l]
            out, in_ = shapes[j][:2]
            cin_g = layer.in_channels // layer.groups
            c = pass_counts(r.layer_map, r.workload.dims, n, j)
            out_blocks = -(-layer.out_channels // out)
            assert len(c.rows) == out_blocks * -(-cin_g // in_)
            last_in = cin_g - (len(c.rows) // out_blocks - 1) * in_
            assert c.rows[-1] / c.rows[0] == pytest.approx(last_in / in_)       # input block outer
            last_out = layer.out_channels - (out_blocks - 1) * out
            assert c.columns[out_blocks - 1] / c.columns[0] == pytest.approx(last_out / out, abs=1 / out)
            np.testing.assert_array_equal(c.columns[:out_blocks], c.columns[out_blocks:2 * out_blocks])
            dup, pixels = int(r.dup[n, l]), layer.out_pixels
            copies = step_copies(r, n, j)
            assert copies.sum() == pixels and (copies[:-1] == dup).all()
            assert copies[-1] == pixels - (len(copies) - 1) * dup               # the last step: its pixels' copies
            checked += last_in < in_ and last_out < out
    assert checked


def test_a_tiled_epitome_layer_does_its_share_on_each_tile():
    net, batch, res = drawn("reram", n=12, scale=0.025)                    # 0.5 W: conv layers run in tiles
    r = res.resolved
    tiled = [(n, j) for n, j in zip(*np.nonzero(r.tiles.count > 1)) if r.layer_map.stored.epitome[n, j]]
    assert tiled
    n, j = tiled[0]
    l = int(r.workload.layer_of_w[j])
    occ = epitome_occurrences(r, n, batch)[l]
    T = int(r.tiles.count[n, j])
    for kind in KINDS:
        np.testing.assert_allclose(occ.energies_nj[kind].sum(), float(r.energy(kind)[n, l]) * r.iterations[n, l]
                                   * r.steps[n, l], rtol=2e-6)
    assert occ.energies_nj["mvm"].shape[0] == T * net.layers[l].out_pixels


# --- scheduled ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tech_name", ["reram", "sram-aimc"])
def test_scheduling_the_passes_changes_only_what_the_blocks_change(tech_name):
    """With full blocks and full steps, the counted passes schedule exactly as the
    model's mean passes; energies agree to rounding."""
    net, batch, res = drawn(tech_name, n=4)
    r = res.resolved
    for n in range(len(batch)):
        mean = simulate_design(r, n, batch.dataflow[n])
        counted = simulate_design(r, n, batch.dataflow[n], occurrences=epitome_occurrences(r, n, batch))
        exact = all(full_blocks(net, batch, n, j) and step_copies(r, n, j).min() == step_copies(r, n, j).max()
                    for j in np.flatnonzero(r.layer_map.stored.epitome[n]))
        assert counted.energy_nj == pytest.approx(mean.energy_nj, rel=0.02)
        if exact:
            assert counted.latency_ns == pytest.approx(mean.latency_ns, rel=1e-6)
            assert counted.energy_nj == pytest.approx(mean.energy_nj, rel=1e-6)
        assert set(counted.energy_by_kind_nj) == set(mean.energy_by_kind_nj)


@pytest.mark.parametrize("tech_name", ["reram", "sram-dimc"])
def test_full_blocks_and_full_steps_schedule_exactly_as_the_model(tech_name):
    """Designs whose epitomes split the channels into full blocks and whose copies divide
    every layer's pixels: the counted passes are the model's, occurrence by occurrence."""
    net, batch, _ = drawn(tech_name)
    shapes = np.array([(l.out_channels // 2, (l.in_channels // l.groups) // (2 - (l.in_channels // l.groups) % 2),
                        *l.kernel) if l.kind == "conv" else (0,) * 4 for l in net.weighted_layers])
    pixels = np.array([l.out_pixels for l in net.weighted_layers])
    dup = np.array([[max(d for d in range(1, int(c) + 1) if p % d == 0) for c, p in zip(row, pixels)]
                    for row in batch.dup])
    exact = replace(batch, dup=dup, epitome=np.broadcast_to(shapes, batch.dup.shape + (4,)).copy(),
                    share=np.full(batch.dup.shape, -1))
    b = budgets(tech_name)
    probe = evaluate(net, tech_of(tech_name), exact, b["power_w"], area_mm2=b.get("area_mm2")).resolved
    exact.macros = np.minimum(exact.macros, (dup * probe.layer_map.row_groups * probe.layer_map.col_groups))
    res = evaluate(net, tech_of(tech_name), exact, b["power_w"], area_mm2=b.get("area_mm2"))
    r = res.resolved
    assert res.feasible.any()
    for n in np.flatnonzero(res.feasible):
        mean = simulate_design(r, n, exact.dataflow[n])
        counted = simulate_design(r, n, exact.dataflow[n], occurrences=epitome_occurrences(r, n, exact))
        assert counted.latency_ns == pytest.approx(mean.latency_ns, rel=1e-6)     # float32 model, float64 counts
        assert counted.energy_nj == pytest.approx(mean.energy_nj, rel=1e-6)


@pytest.mark.parametrize("tech_name, plan", [("reram", PLAN_W4), ("sram-dimc", PLAN_W4), ("reram", PLAN_C4)])
def test_a_reloading_design_writes_the_arrays_the_design_maps(tech_name, plan):
    """The reference's reloads use the design's epitomes and weight bits (its arrays,
    rows, stored weights), as the model's do."""
    net, batch, res = drawn(tech_name, plan, scale=0.1)
    r = res.resolved
    checked = 0
    for n in range(len(batch)):
        if not reloads(r, n):
            continue
        sim = simulate_design(r, n, batch.dataflow[n], occurrences=epitome_occurrences(r, n, batch))
        model = res.energy_by_component_j["array_write"]["dynamic"][n] * 1e9
        assert sim.energy_by_kind_nj["array_write"] == pytest.approx(model, rel=1e-6)
        checked += 1
    assert checked


def test_fidelity_on_epitome_designs_meets_the_targets():
    net = network(plan=PLAN_C4)
    report = measure_fidelity(net, tech_of("reram"), 2.0, 6, seed=2)
    assert report["epitome_layers"] > 0
    assert report["latency_err_max"] <= 0.10 and report["energy_err_max"] <= 0.05


def test_validate_runs_epitome_designs_end_to_end(tmp_path, capsys):
    (tmp_path / "plan.yaml").write_text(PLAN_W4)
    code, out, err = run_cli(capsys, "validate", "alexnet-cifar", "--power", 2, "--designs", 3, "--epitomes",
                             tmp_path / "plan.yaml", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["designs"] == 3 and report["epitome_layers"] >= 3
    assert report["latency_err_max"] <= 0.10 and report["energy_err_max"] <= 0.05
    code, out, err = run_cli(capsys, "validate", "alexnet-cifar", "--power", 2, "--designs", 2, "--epitomes",
                             tmp_path / "plan.yaml")
    assert code == 0 and "epitome layers" in out


def test_bench_times_epitome_designs(tmp_path, capsys):
    (tmp_path / "plan.yaml").write_text(PLAN_C4)
    code, out, err = run_cli(capsys, "bench", "--network", "alexnet-cifar", "--batch", 64, "--repeats", 1,
                             "--epitomes", tmp_path / "plan.yaml", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["epitomes"].endswith("plan.yaml")
    row = report["networks"][0]
    assert row["evaluator"]["designs_per_s"] > 0 and row["reference"]["designs"] >= 1
