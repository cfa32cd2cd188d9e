"""Segmented execution (MODEL.md section 8): the vectorised evaluator against a per-design
loop and its own identities, and against the reference schedule of reloading designs
(costmodel/reference_segments.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.design import DesignBatch
from costmodel.evaluator import evaluate
from costmodel.fidelity import TARGETS, spearman
from costmodel.opgraph import to_opgraph
from costmodel.random_designs import random_designs
from costmodel.reference_segments import SegmentedSimResult, offchip_plan, simulate_design
from costmodel.reference_sim import _schedule, _streamed, simulate
from costmodel.resolve import resolve

METRICS = ("feasible", "reason", "tops_per_watt", "tops_per_watt_single", "latency_s", "interval_s", "energy_j",
           "dynamic_energy_j", "static_energy_j", "peak_power_w", "area_mm2", "throughput_ips", "peak_tops")
# (network, power) where no design fits its budget once: every segmented draw reloads
SMALL = (("vgg16-cifar", 2.0), ("alexnet-cifar", 3.0))
ARRAY_WORK = ("crossbars", "dac_conv", "adc_conv", "shift_add", "addition", "activation", "sigmoid")


def with_columns(designs: DesignBatch, **columns) -> DesignBatch:
    """``designs`` with some columns replaced (segment, batch, dataflow, ...)."""
    keep = {f: getattr(designs, f) for f in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits", "dup", "macros", "share",
                                           "offchip_links", "counts", "alloc_weights", "segment", "batch", "dataflow")}
    keep.update(columns)
    return DesignBatch(**keep, macro_mode=designs.macro_mode)


@pytest.fixture(scope="module")
def reloading(zoo_net, tech):
    """Per small case: the network, its feasible segmented random designs and their results."""
    out = {}
    for name, power in SMALL:
        network = zoo_net(name)
        batch = random_designs(network, tech, power, 96, seed=5, share_p=0.3, segmented=True)
        r = evaluate(network, tech, batch, power)
        batch = batch.subset(np.flatnonzero(r.feasible))
        out[name] = (network, power, batch, evaluate(network, tech, batch, power))
    return out


# --- drawing ----------------------------------------------------------------------------------------

def test_segmented_draws_leave_designs_that_fit_unchanged(zoo_net, tech):
    network = zoo_net("alexnet-cifar")
    old = random_designs(network, tech, 20.0, 64, seed=3, share_p=0.4)
    new = random_designs(network, tech, 20.0, 64, seed=3, share_p=0.4, segmented=True)
    fits = new.n_segments == 1
    fits &= evaluate(network, tech, new, 20.0).resolved.tiles.count.max(1) == 1
    assert 0 < fits.sum() < len(new)
    for f in ("rram_ratio", "cell_bits", "xbar_size", "dac_bits"):
        np.testing.assert_array_equal(getattr(old, f), getattr(new, f))
    for f in ("dup", "macros", "share"):
        np.testing.assert_array_equal(getattr(old, f)[fits], getattr(new, f)[fits])
    assert (new.batch[fits] == 1).all() and (new.dataflow[fits] == 0).all()
    # the others did not fit: they were infeasible and are now segmented
    assert (evaluate(network, tech, old, 20.0).reason_name(i) == "weights_do_not_fit" for i in np.flatnonzero(~fits))


@pytest.mark.parametrize("name,power", SMALL)
def test_segmented_draws_are_mostly_feasible_and_reload(zoo_net, tech, name, power):
    network = zoo_net(name)
    batch = random_designs(network, tech, power, 200, seed=1, segmented=True)
    r = evaluate(network, tech, batch, power)
    reasons = {r.reason_name(i) for i in range(len(batch))}
    assert not reasons & {"invalid_partition", "weights_do_not_fit", "macro_capacity"}, reasons
    assert r.feasible.mean() > 0.25
    assert ((batch.n_segments > 1) | r.resolved.tiles.tiled.any(1)).all()
    assert r.resolved.tiles.tiled.any()                                       # some layers are tiled
    assert set(np.unique(batch.batch)) <= {1, 2, 4, 8, 16, 32, 64}
    # partners run in one segment
    n_idx, j = np.nonzero(batch.share >= 0)
    assert (batch.segment[n_idx, batch.share[n_idx, j]] == batch.segment[n_idx, j]).all()


# --- the vectorised evaluator ----------------------------------------------------------------------

@pytest.mark.parametrize("name", [name for name, _ in SMALL])
def test_batch_equals_per_design_loop(reloading, tech, name):
    """Neighbouring designs with equal duplication but different tiles (dup 1 everywhere is
    common at small budgets) must not share what depends on the steps."""
    network, power, batch, res = reloading[name]
    assert len(batch) >= 12
    for i in range(len(batch)):
        one = evaluate(network, tech, batch.subset([i]), power)
        for m in METRICS:
            np.testing.assert_allclose(getattr(one, m)[0], getattr(res, m)[i], rtol=1e-5, err_msg=f"design {i}: {m}")


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), case=st.sampled_from(SMALL))
def test_tiles_conserve_the_array_work(zoo_net, tech, seed, case):
    """A tiled layer's steps times its per-step array work is the untiled layer's (the
    same design on a budget that holds it): the MACs are conserved."""
    name, power = case
    network = zoo_net(name)
    batch = random_designs(network, tech, power, 24, seed=seed, segmented=True)
    small, big = resolve(network, tech, batch, power), resolve(network, tech, batch, 1e4)
    tiled = small.tiles.tiled
    assert not big.tiles.tiled.any()
    wl = small.workload
    for kind in ARRAY_WORK:
        a = (small.work[kind] * small.steps)[:, wl.layer_of_w].astype(float)
        b = (big.work[kind] * big.steps)[:, wl.layer_of_w].astype(float)
        np.testing.assert_allclose(a[tiled], b[tiled], rtol=1e-5, err_msg=kind)
    for kind in ("mvm", "adc", "shift_add"):
        a = small.energy_per_inference(kind)[:, wl.layer_of_w].astype(float)
        b = big.energy_per_inference(kind)[:, wl.layer_of_w].astype(float)
        np.testing.assert_allclose(a[tiled], b[tiled], rtol=1e-5, err_msg=kind)
    # every step of a tile does 1/T of the untiled step's array work
    T = small.tiles.count[tiled]
    steps_t = small.steps[:, wl.layer_of_w][tiled]
    np.testing.assert_array_equal(steps_t, big.steps[:, wl.layer_of_w][tiled] * T)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), log_b=st.integers(1, 6))
def test_a_batch_divides_the_reload_energy(zoo_net, tech, seed, log_b):
    """Weight-stationary: the weights are read from DRAM and written once per batch, so a
    batch of B pays 1/B of them per inference; input- and output-stationary tiled layers
    reload once per inference whatever B."""
    network = zoo_net("vgg16-cifar")
    base = random_designs(network, tech, 2.0, 16, seed=seed, segmented=True)
    B = 2 ** log_b
    for flow in (0, 1, 2):
        one = with_columns(base, batch=np.ones(len(base), dtype=np.int64), dataflow=np.full_like(base.dataflow, flow))
        many = with_columns(one, batch=np.full(len(base), B))
        r1, rb = (resolve(network, tech, b, 2.0) for b in (one, many))
        per_inference = r1.tiles.tiled & (flow != 0)                         # R = B
        scale = np.where(per_inference, 1.0, 1.0 / B)
        np.testing.assert_allclose(rb.offchip.reload_energy_nj, r1.offchip.reload_energy_nj * scale, rtol=1e-12)
        if flow == 0:
            np.testing.assert_allclose(rb.dynamic_nj["array_write"], r1.dynamic_nj["array_write"] / B, rtol=1e-12)
            # the reference counts the same from the blocks it schedules
            for i in range(2):
                s1 = simulate_design(r1, i, one.dataflow[i])
                sb = simulate_design(rb, i, many.dataflow[i])
                assert sb.energy_by_kind_nj["array_write"] == pytest.approx(s1.energy_by_kind_nj["array_write"] / B)


def test_one_segment_and_batch_one_are_todays_figures(zoo_net, tech):
    """Explicit one-segment columns (batch 1, weight-stationary) are the design without
    them, and the reference schedules them exactly as before; a design that keeps its
    weights keeps its interval and latency whatever its batch."""
    network = zoo_net("alexnet-cifar")
    batch = random_designs(network, tech, 20.0, 48, seed=2, share_p=0.3)
    plain = with_columns(batch, segment=None, batch=None, dataflow=None)
    explicit = with_columns(batch, segment=np.zeros_like(batch.dup), batch=np.ones(len(batch), dtype=np.int64),
                            dataflow=np.zeros_like(batch.dup))
    a, b = evaluate(network, tech, plain, 20.0), evaluate(network, tech, explicit, 20.0)
    assert a.feasible.sum() >= 5
    for m in METRICS:
        np.testing.assert_array_equal(getattr(a, m), getattr(b, m), err_msg=m)
    assert set(a.energy_by_component_j) == set(b.energy_by_component_j)
    for c in a.energy_by_component_j:
        for k in ("static", "dynamic"):
            np.testing.assert_array_equal(a.energy_by_component_j[c][k], b.energy_by_component_j[c][k])
    batched = evaluate(network, tech, with_columns(explicit, batch=np.full(len(batch), 16)), 20.0)
    for m in METRICS:
        np.testing.assert_array_equal(getattr(a, m), getattr(batched, m), err_msg=m)
    for i in np.flatnonzero(a.feasible)[:3]:
        assert simulate_design(b.resolved, int(i), explicit.dataflow[i]) == simulate(to_opgraph(a.resolved, int(i)))


# --- the reference schedule ------------------------------------------------------------------------

@pytest.mark.parametrize("name", [name for name, _ in SMALL])
def test_traffic_rules_agree_with_a_plain_python_count(reloading, tech, name):
    """The vectorised off-chip traffic (costmodel/offchip_traffic.py) against the same
    rules applied one design at a time (reference_segments.offchip_plan)."""
    network, power, batch, res = reloading[name]
    r, wl = res.resolved, res.resolved.workload
    mem, buf = tech.offchip_memory, tech.global_buffer
    for i in range(len(batch)):
        plan = offchip_plan(r, i, list(batch.dataflow[i]))
        np.testing.assert_array_equal(plan.reloads, r.offchip.reloads[i])
        np.testing.assert_array_equal(plan.spilled, r.offchip.spilled[i].astype(bool))
        weights = sum(plan.reloads[j] * wl.weights[l] for j, l in enumerate(wl.layer_of_w))
        dram = (weights * tech.precision.weight_bits / batch.batch[i] + plan.dram_read_bits) \
            * mem.read_energy_pj_per_bit + plan.dram_write_bits * mem.write_energy_pj_per_bit
        gb = plan.buffer_read_bits * buf.read_energy_pj_per_bit + plan.buffer_write_bits * buf.write_energy_pj_per_bit
        assert r.dynamic_nj["dram"][i] == pytest.approx(dram * 1e-3, rel=1e-12)
        assert r.dynamic_nj["global_buffer"][i] == pytest.approx(gb * 1e-3, rel=1e-12, abs=1e-12)


def test_in_order_stream_of_one_inference_is_the_schedule(reloading):
    network, power, batch, res = reloading["alexnet-cifar"]
    g = to_opgraph(res.resolved, 0)
    plain = _schedule(g, False)
    assert _schedule(_streamed(g, 1), False, in_order=plain.ops) == plain


@pytest.mark.parametrize("name", [name for name, _ in SMALL])
def test_reference_agrees_with_the_evaluator(reloading, name):
    """Issue 13's targets on the first designs of each small case (``pimtune validate``
    measures them on 50), and the energies both count from the same operations and
    traffic agree to rounding."""
    network, power, batch, res = reloading[name]
    idx = range(min(len(batch), 10))
    sims = [simulate_design(res.resolved, i, batch.dataflow[i]) for i in idx]
    assert all(isinstance(s, SegmentedSimResult) for s in sims)
    lat = np.array([abs(res.latency_s[i] * 1e9 / s.latency_ns - 1) for i, s in zip(idx, sims)])
    energy = np.array([abs(res.energy_j[i] * 1e9 / s.energy_nj - 1) for i, s in zip(idx, sims)])
    assert lat.max() <= TARGETS["latency_err_max"], lat
    assert energy.max() <= TARGETS["energy_err_max"], energy
    rho = spearman([res.tops_per_watt[i] for i in idx], [2.0 * network.macs / s.energy_nj / 1e3 for s in sims])
    assert rho >= TARGETS["tops_per_watt_spearman"]
    for i, s in zip(idx, sims):
        assert s.dynamic_energy_nj == pytest.approx(res.dynamic_energy_j[i] * 1e9, rel=1e-5)
        for k in ("dram", "array_write", "global_buffer"):
            assert s.energy_by_kind_nj[k] == pytest.approx(float(res.resolved.dynamic_nj[k][i]), rel=1e-9, abs=1e-9)
        assert s.interval_ns == pytest.approx(s.latency_ns / batch.batch[i])


def test_composed_stream_follows_the_exact_one(reloading):
    """A batch beyond ``m2`` inferences is extrapolated from the streams of m1 and m2; on
    these designs it stays within 1 % of the exact in-order schedule of the whole batch."""
    network, power, batch, res = reloading["vgg16-cifar"]
    done = 0
    for i in np.flatnonzero((batch.batch >= 4) & (batch.batch <= 16)):
        composed = simulate_design(res.resolved, int(i), batch.dataflow[i])
        exact = simulate_design(res.resolved, int(i), batch.dataflow[i], stream=(1, 16))
        assert composed.composed and not exact.composed
        assert composed.latency_ns == pytest.approx(exact.latency_ns, rel=0.01)
        done += 1
        if done == 2:
            break
    assert done


def test_reload_schedule(reloading, tech):
    """A segment's reload: the crossbars' transfers on the DRAM port, one per macro a
    round, each followed by its write on its macro. With one untiled layer dealt evenly
    to ``m`` macros and the DRAM faster than the writes, the last macro's first crossbar
    arrives after ``m`` transfers, then the macro writes its share without a pause. The
    evaluator's reload (the busiest macro's writes, or the transfers) omits that fill."""
    wr, bits_per_ns = tech.array_write, tech.offchip_memory.bandwidth_gbyte_per_s * 8
    network, power, batch, res = reloading["vgg16-cifar"]
    r, wl = res.resolved, res.resolved.workload
    checked = 0
    for i in range(len(batch)):
        s = simulate_design(r, i, batch.dataflow[i])
        fast = r.offchip.reload_ns[i, :len(s.reload_ns)]
        assert (fast <= np.array(s.reload_ns) * (1 + 1e-9)).all()
        assert (fast >= 0.7 * np.array(s.reload_ns)).all()
        for seg in range(len(s.reload_ns)):
            (js,) = np.nonzero(batch.segment[i] == seg)
            if len(js) != 1 or r.tiles.tiled[i, js[0]] or batch.share[i, js[0]] >= 0:
                continue
            j = js[0]
            l, m = wl.layer_of_w[j], batch.macros[i, j]
            si = list(tech.tables.xbar_sizes).index(batch.xbar_size[i])
            blocks = batch.dup[i, j] * wl.row_groups[si, j] * wl.col_groups[si, j]
            xbars = blocks * r.slices[i]
            transfer = wl.weights[l] * tech.precision.weight_bits / xbars / bits_per_ns      # one crossbar's
            write = batch.dup[i, j] * r.slices[i] * wl.rows_total[si, j] / xbars / wr.rows_in_parallel_per_macro \
                * wr.row_latency_ns
            if blocks % m or m * transfer > write:
                continue
            assert s.reload_ns[seg] == pytest.approx(m * transfer + xbars / m * write, rel=1e-9)
            # the fast model's fill is one chunk's read (its lower bound); the schedule's, one per macro
            assert fast[seg] == pytest.approx(transfer + xbars / m * write, rel=1e-6)
            checked += 1
    assert checked >= 3


def test_dataflow_is_checked(reloading):
    network, power, batch, res = reloading["alexnet-cifar"]
    with pytest.raises(ValueError, match="dataflow"):
        simulate_design(res.resolved, 0, [0])
    with pytest.raises(ValueError, match="stream"):
        simulate_design(res.resolved, 0, batch.dataflow[0], stream=(2, 2))


def test_replace_keeps_the_result_frozen(reloading):
    network, power, batch, res = reloading["alexnet-cifar"]
    s = simulate_design(res.resolved, 0, batch.dataflow[0])
    assert replace(s, batch=s.batch).latency_ns == s.latency_ns
