"""Bounded macros whose feed costs time, both efficiency conventions and the counting
options of the technology file (MODEL.md sections 1, 3, 6 and 7)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.design import COMPONENTS
from costmodel.evaluator import evaluate
from costmodel.opgraph import OP_CHAIN
from costmodel.random_designs import random_designs
from costmodel.reference_designs import reference_design
from costmodel.resolve import REASONS
from space import DesignSpace
from space.repair import repair

CODE = {name: code for code, name in REASONS.items()}
K = {kind: i for i, kind in enumerate(OP_CHAIN)}


def variant(tech, macro=None, counting=None):
    """``tech`` with some fields of its ``macro`` and ``counting`` sections replaced."""
    update = {}
    if macro:
        update["macro"] = tech.macro.model_copy(update=macro)
    if counting:
        update["counting"] = tech.counting.model_copy(update=counting)
    return tech.model_copy(update=update)


def busiest_macro(network, tech, batch, n):
    """Crossbars on the busiest macro of design ``n``, counted layer by layer in Python."""
    S, c = int(batch.xbar_size[n]), int(batch.cell_bits[n])
    slices = -(-tech.precision.weight_bits // c)
    si = tech.xbar_sizes.index(S)
    from costmodel.workload import build_workload
    wl = build_workload(network, tech)
    L = wl.n_weighted
    blocks = [int(batch.dup[n, j]) * int(wl.row_groups[si, j]) * int(wl.col_groups[si, j]) for j in range(L)]
    share = batch.share[n]
    worst = 0
    for j in range(L):
        if share[j] >= 0:
            continue
        partners = [q for q in range(L) if share[q] == j]
        m = max([int(batch.macros[n, j])] + [int(batch.macros[n, q]) for q in partners])
        worst = max(worst, sum(-(-blocks[q] // m) * slices for q in [j] + partners))
    return worst


# --- capacity --------------------------------------------------------------------------------

@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), capacity=st.sampled_from([16, 32, 96, 512]))
def test_capacity_reason_fires_exactly_when_the_bound_breaks(zoo_net, tech, seed, capacity):
    network = zoo_net("alexnet-cifar")
    small = variant(tech, macro={"max_crossbars": capacity})
    batch = random_designs(network, variant(tech, macro={"max_crossbars": 10**9}), 20.0, 40, seed=seed)
    r = evaluate(network, small, batch, 20.0)
    for n in range(len(batch)):
        broken = busiest_macro(network, small, batch, n) > capacity
        earlier = r.reason[n] in (CODE["invalid_partition"], CODE["adc_resolution"], CODE["weights_do_not_fit"])
        if earlier:
            continue
        assert (r.reason[n] == CODE["macro_capacity"]) == broken, (n, r.reason_name(n))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), capacity=st.sampled_from([16, 48, 96, 512]),
       net=st.sampled_from(["alexnet-cifar", "resnet18-cifar"]))
def test_repair_keeps_every_macro_within_the_capacity(zoo_net, tech, seed, capacity, net):
    small = variant(tech, macro={"max_crossbars": capacity})
    space = DesignSpace.for_network(zoo_net(net), small, 20.0)
    X = repair(space, space.random(48, np.random.default_rng(seed)))
    batch = space.to_batch(X)
    slices = -(-tech.precision.weight_bits // batch.cell_bits)
    for n in range(len(batch)):
        if slices[n] > capacity:                     # not even one block fits: reported, not repaired
            continue
        assert busiest_macro(space.network, small, batch, n) <= capacity
    assert not (space.evaluate(X).reason == CODE["macro_capacity"])[slices <= capacity].any()


def test_reference_designs_respect_the_capacity(zoo_net, tech):
    for net, power in (("alexnet", 49.0), ("resnet18", 65.8), ("vgg16", 49.0)):
        network = zoo_net(net)
        for name in ("isaac", "heuristic", "no-dup"):
            try:
                batch = reference_design(name, network, tech, power)
            except Exception as exc:                  # ISAAC cannot hold every network: says so
                assert "raise --power" in str(exc)
                continue
            # all three use ISAAC's tile of 96 crossbars (below the technology's 512)
            assert busiest_macro(network, tech, batch, 0) <= 96, (net, name)


# --- the feed: scratchpad to crossbars over the macro's bus -------------------------------------

def test_a_load_takes_the_longer_of_access_and_transfer_and_splits_over_macros(zoo_net, tech):
    network = zoo_net("alexnet-cifar")
    batch = reference_design("heuristic", network, tech, 20.0)
    r = evaluate(network, tech, batch, 20.0).resolved
    word_ns = tech.scratchpad.bus_width_bits / tech.macro.input_bus_bits_per_ns
    t_read = tech.tables.spad_read_latency[r.spad_index.take(np.arange(1) * r.set_macros.shape[1] + r.host[0])]
    m = r.set_macros[0].take(r.host[0])
    want = r.work["load_words"][0] * np.maximum(t_read, word_ns) / m
    np.testing.assert_allclose(r.durations[K["load"], 0], want, rtol=1e-5)
    # ISAAC's bus is slower than the scratchpad's word: the transfer sets the time
    assert word_ns > tech.scratchpad.sizes[0].read_latency_ns
    # twice the macros for the most duplicated layer: half its load time per step (its
    # per-macro buffer halves too, so the scratchpad size may drop: still the bus's word time)
    j = int(np.argmax(batch.dup[0]))
    assert batch.macros[0, j] * 2 <= batch.dup[0, j]
    wider = batch.subset(0)
    wider.macros[0, j] *= 2
    r2 = evaluate(network, tech, wider, 20.0).resolved
    lj = r.workload.layer_of_w[j]
    assert r2.durations[K["load"], 0, lj] == pytest.approx(r.durations[K["load"], 0, lj] / 2, rel=1e-5)


LEGACY_GOLDEN = {
    # the figures of the model before macros were bounded and fed over ISAAC's bus
    # (design, power W): tops_per_watt, peak_tops_per_watt, throughput_ips, latency_s, area_mm2
    ("isaac", 65.8): (0.211722, 0.620245, 1948.66, 0.00101282, 79.2256),
    ("no-dup", 65.8): (0.0717457, 1.32005, 188.017, 0.00648979, 81.3193),
    ("heuristic", 65.8): (0.641195, 1.25065, 5182.66, 0.000564798, 69.8082),
}


@pytest.mark.parametrize("key", list(LEGACY_GOLDEN), ids=lambda k: f"resnet18-{k[1]}W-{k[0]}")
def test_unbounded_macros_with_the_old_feed_give_the_old_figures(zoo_net, tech, key):
    """resnet18's reference designs split no column groups, so they are the designs of the
    old model; with an unbounded capacity and a bus that never limits, its figures return."""
    legacy = variant(tech, macro={"max_crossbars": 10**9, "input_bus_clock_ghz": 1e6})
    network = zoo_net("resnet18")
    name, power = key
    r = evaluate(network, legacy, reference_design(name, network, legacy, power), power)
    got = (r.tops_per_watt[0], r.peak_tops_per_watt[0], r.throughput_ips[0], r.latency_s[0], r.area_mm2[0])
    for g, want in zip(got, LEGACY_GOLDEN[key]):
        assert g == pytest.approx(want, rel=1e-4)


# --- both efficiency conventions ----------------------------------------------------------------

@pytest.mark.parametrize("net,power,name", [("resnet18", 65.8, "isaac"), ("resnet18", 65.8, "heuristic"),
                                            ("alexnet-cifar", 20.0, "heuristic")])
def test_single_inference_efficiency(zoo_net, tech, net, power, name):
    network = zoo_net(net)
    r = evaluate(network, tech, reference_design(name, network, tech, power), power)
    static_w = sum(v[0] for v in r.resolved.static_w.values())
    want = 2 * network.macs / (r.dynamic_energy_j[0] + static_w * r.latency_s[0]) / 1e12
    assert r.tops_per_watt_single[0] == pytest.approx(want, rel=1e-9)
    # a single inference waits for the whole pipeline: it can only be less efficient
    assert r.latency_s[0] >= r.interval_s[0]
    assert r.tops_per_watt_single[0] <= r.tops_per_watt[0]
    assert r.metrics(0)["tops_per_watt_single"] == pytest.approx(want, rel=1e-9)
    no_latency = evaluate(network, tech, reference_design(name, network, tech, power), power, latency=False)
    assert np.isnan(no_latency.tops_per_watt_single[0])


# --- counting options change only what they claim -----------------------------------------------

@pytest.fixture(scope="module")
def counted(zoo_net, tech):
    """ISAAC's design on resnet18: explicit component counts, so no reallocation hides effects."""
    network = zoo_net("resnet18")
    return network, reference_design("isaac", network, tech, 65.8)


def test_dacs_on_used_rows_change_only_the_dacs(counted, tech):
    network, batch = counted
    a = evaluate(network, tech, batch, 65.8)
    b = evaluate(network, variant(tech, counting={"dacs": "used_rows"}), batch, 65.8)
    used = float(a.resolved.work["dac_conv"][0].sum())
    assert used < a.resolved.crossbars[0].sum() * 128                 # some rows hold no weights
    dac = tech.dac_row(1)
    assert b.resolved.static_w["dac"][0] == pytest.approx(used * dac.static_power_w, rel=1e-6)
    assert b.area_by_component_mm2["dac"][0] == pytest.approx(used * dac.area_mm2, rel=1e-6)
    for comp in a.resolved.static_w:
        if comp != "dac":
            assert b.resolved.static_w[comp][0] == a.resolved.static_w[comp][0], comp
            assert b.area_by_component_mm2[comp][0] == a.area_by_component_mm2[comp][0], comp
    np.testing.assert_array_equal(a.resolved.durations, b.resolved.durations)
    for comp, e in a.resolved.dynamic_nj.items():
        assert b.resolved.dynamic_nj[comp][0] == e[0], comp


def test_adc_conversions_of_physical_columns_change_only_the_adcs(counted, tech):
    network, batch = counted
    a = evaluate(network, tech, batch, 65.8)
    b = evaluate(network, variant(tech, counting={"adc_conversions": "physical_columns"}), batch, 65.8)
    conv_a, conv_b = a.resolved.work["adc_conv"][0], b.resolved.work["adc_conv"][0]
    np.testing.assert_allclose(conv_b, a.resolved.crossbars[0] * 128)
    assert (conv_b >= conv_a).all() and (conv_b > conv_a).any()
    assert b.resolved.dynamic_nj["adc"][0] > a.resolved.dynamic_nj["adc"][0]
    for comp, e in a.resolved.dynamic_nj.items():
        if comp != "adc":
            assert b.resolved.dynamic_nj[comp][0] == pytest.approx(e[0], rel=1e-6), comp
    for kind in OP_CHAIN:
        if kind != "adc":
            np.testing.assert_array_equal(a.resolved.durations[K[kind]], b.resolved.durations[K[kind]], kind)
    assert (b.resolved.durations[K["adc"]] >= a.resolved.durations[K["adc"]]).all()
    for comp in a.resolved.static_w:
        assert b.resolved.static_w[comp][0] == a.resolved.static_w[comp][0], comp
    assert COMPONENTS[0] == "adc"


def test_one_step_of_input_registers_makes_the_crossbars_wait_for_the_feed(zoo_net, tech):
    """ISAAC's input registers hold one step: the crossbars are busy for the feed plus the
    bit iterations, and more macros (each with its own bus) shorten the feed; with
    double-buffered registers the feed overlaps and the crossbars see only the MVMs."""
    network = zoo_net("alexnet-cifar")
    batch = reference_design("heuristic", network, tech, 20.0)
    single = evaluate(network, tech, batch, 20.0)
    double = evaluate(network, variant(tech, macro={"input_register_steps": 2}), batch, 20.0)
    rs, rd = single.resolved, double.resolved
    word_ns = tech.scratchpad.bus_width_bits / tech.macro.input_bus_bits_per_ns
    weighted = rs.workload.weighted
    m = rs.set_macros[0].take(rs.host[0])
    np.testing.assert_allclose(rs.durations[K["feed"], 0, weighted],
                               (rs.work["load_words"][0] * word_ns / m)[weighted], rtol=1e-5)
    assert (rs.durations[K["feed"], 0, ~weighted] == 0).all()
    assert (rd.durations[K["feed"]] == 0).all()
    for kind in OP_CHAIN:
        if kind != "feed":
            np.testing.assert_array_equal(rs.durations[K[kind]], rd.durations[K[kind]], kind)
    assert single.interval_s[0] >= double.interval_s[0]
    assert single.dynamic_energy_j[0] == double.dynamic_energy_j[0]
    # the layer whose crossbars are busiest: twice its macros, half its feed, less busy
    steps = rs.steps[0]
    busy = steps * (rs.iterations[0] * rs.durations[K["mvm"], 0] + rs.durations[K["feed"], 0])
    lj = int(np.argmax(busy))
    j = int(rs.workload.widx[lj])
    wider = batch.subset(0)
    wider.macros[0, j] *= 2
    r2 = evaluate(network, tech, wider, 20.0)
    assert r2.resolved.durations[K["feed"], 0, lj] == pytest.approx(rs.durations[K["feed"], 0, lj] / 2, rel=1e-5)
    d2 = r2.resolved.durations
    busy2 = steps[lj] * (rs.iterations[0, lj] * d2[K["mvm"], 0, lj] + d2[K["feed"], 0, lj])
    assert busy2 < busy[lj]
