"""The vectorised evaluator: batch = per-design loop, model identities, partition and budget
rules, golden figures of the reference designs and fidelity against the reference scheduler."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from costmodel.design import COMPONENTS, MACRO_MODES, DesignBatch, DesignError
from costmodel.evaluator import evaluate
from costmodel.opgraph import OP_CHAIN, to_opgraph
from costmodel.reference_designs import reference_design
from costmodel.reference_sim import simulate
from costmodel.resolve import REASONS
from costmodel.random_designs import random_designs

CODE = {name: code for code, name in REASONS.items()}
NETS = ("alexnet-cifar", "resnet18-cifar")
POWERS = (5.0, 20.0, 65.8)
METRICS = ("feasible", "reason", "tops_per_watt", "latency_s", "interval_s", "energy_j", "peak_power_w",
           "area_mm2", "throughput_ips", "peak_tops", "peak_tops_per_watt", "edp_js", "dynamic_energy_j",
           "static_energy_j")


def slices_of(tech, cell_bits):
    return -(-tech.precision.weight_bits // np.asarray(cell_bits))


def geometry(layer, S):
    """(row_groups, col_groups) of one copy, MODEL.md section 2, from the layer's own figures."""
    g = layer.groups
    cols_g = layer.out_channels // g
    rows_g = layer.weights // layer.out_channels            # kh*kw*C_in/groups (fc: C_in)
    if rows_g <= S and cols_g <= S:
        p = min(S // rows_g, S // cols_g)
        return math.ceil(g / p), 1
    return g * math.ceil(rows_g / S), math.ceil(cols_g / S)


def crossbars_of(network, tech, S, cell_bits, dup):
    sl = int(slices_of(tech, cell_bits))
    return [d * rg * cg * sl for d, (rg, cg) in zip(dup, (geometry(l, S) for l in network.weighted_layers))]


def fewest(network, tech, S, cell_bits, dup):
    """The fewest macros per layer that hold its crossbars within the technology's bound."""
    sl = int(slices_of(tech, cell_bits))
    return [max(1, -(-x // (tech.macro.max_crossbars // sl * sl))) for x in crossbars_of(network, tech, S, cell_bits, dup)]


def plain_design(network, tech, power, *, S=128, cell_bits=2, dac_bits=1, ratio=None, n=1):
    """No duplication, the fewest macros per layer, no sharing; rram_ratio pays for the weights x 1.5."""
    L = len(network.weighted_layers)
    X = sum(crossbars_of(network, tech, S, cell_bits, [1] * L))
    if ratio is None:
        ratio = min(0.9, 1.5 * X * tech.crossbar_row(S, cell_bits).peak_power_w / power)
    return DesignBatch(rram_ratio=np.full(n, ratio), cell_bits=cell_bits, xbar_size=S, dac_bits=dac_bits,
                       dup=np.ones((n, L), int), macros=np.tile(fewest(network, tech, S, cell_bits, [1] * L), (n, 1)),
                       share=np.full((n, L), -1))


def with_rows(batch: DesignBatch, **updates) -> DesignBatch:
    """A copy of a one-design batch with per-layer arrays edited: updates map name -> {j: value}."""
    arrays = {f: np.array(getattr(batch, f)) for f in ("dup", "macros", "share")}
    for name, edits in updates.items():
        for j, v in edits.items():
            arrays[name][:, j] = v
    return DesignBatch(rram_ratio=batch.rram_ratio, cell_bits=batch.cell_bits, xbar_size=batch.xbar_size,
                       dac_bits=batch.dac_bits, offchip_links=batch.offchip_links, counts=batch.counts,
                       macro_mode=batch.macro_mode, **arrays)


def conv_positions(network):
    return [j for j, l in enumerate(network.weighted_layers) if l.kind == "conv"]


def fc_positions(network):
    return [j for j, l in enumerate(network.weighted_layers) if l.kind == "fc"]


# --- vectorised = per-design loop -----------------------------------------------------------

def assert_batch_equals_loop(network, tech, batch, power) -> None:
    """Every metric of the batch equals the evaluation of each design alone."""
    res = evaluate(network, tech, batch, power)
    assert 0 < res.feasible.sum() < len(batch)              # both kinds are compared
    for i in range(len(batch)):
        one = evaluate(network, tech, batch.subset(i), power[i])
        for m in METRICS:
            got, want = getattr(one, m)[0], getattr(res, m)[i]
            if m in ("feasible", "reason"):
                assert got == want, (i, m)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f"design {i} {m}")
        for c, parts in res.energy_by_component_j.items():
            for k in ("static", "dynamic"):
                np.testing.assert_allclose(one.energy_by_component_j[c][k][0], parts[k][i], rtol=1e-5)


@pytest.mark.parametrize("mode", MACRO_MODES)
@pytest.mark.parametrize("net", NETS)
def test_batch_equals_per_design_loop(zoo_net, tech, net, mode):
    network = zoo_net(net)
    rng = np.random.default_rng(42)
    batch = random_designs(network, tech, 20.0, 64, seed=42, share_p=0.3, macro_mode=mode)
    assert (batch.share >= 0).any()
    assert_batch_equals_loop(network, tech, batch, rng.choice([10.0, 20.0, 65.8], size=len(batch)))


@pytest.mark.parametrize("net", NETS)
def test_runs_of_equal_duplication_equal_per_design_loop(zoo_net, tech, net):
    """As a search scores them: runs of designs with one duplication vector and different
    partitions (macros halved, sharing dropped) and budgets."""
    network = zoo_net(net)
    rng = np.random.default_rng(7)
    base = random_designs(network, tech, 20.0, 24, seed=7, share_p=0.3)
    batch = base.subset(np.repeat(np.arange(len(base)), 3))
    batch.macros[1::3] = np.maximum(batch.macros[1::3] // 2, 1)
    batch.share[1::3] = -1
    assert (batch.share >= 0).any()
    assert_batch_equals_loop(network, tech, batch, rng.choice([10.0, 20.0, 65.8], size=len(batch)))


def test_batch_with_explicit_counts_equals_loop(alexnet, tech):
    batch = random_designs(alexnet, tech, 20.0, 32, seed=9, share_p=0.3)
    rng = np.random.default_rng(9)
    counts = rng.integers(1, 60, size=(32, batch.n_layers, len(COMPONENTS))).astype(float)
    counts *= rng.uniform(size=counts.shape) > 0.02              # a few designs miss a component
    batch = DesignBatch(rram_ratio=batch.rram_ratio, cell_bits=batch.cell_bits, xbar_size=batch.xbar_size,
                        dac_bits=batch.dac_bits, dup=batch.dup, macros=batch.macros, share=batch.share,
                        counts=counts)
    res = evaluate(alexnet, tech, batch, 20.0)
    for i in range(len(batch)):
        one = evaluate(alexnet, tech, batch.subset(i), 20.0)
        for m in METRICS:
            if m in ("feasible", "reason"):
                assert getattr(one, m)[0] == getattr(res, m)[i], (i, m)
            else:
                np.testing.assert_allclose(getattr(one, m)[0], getattr(res, m)[i], rtol=1e-5)


# --- model identities on random designs ----------------------------------------------------------

def _random_batch(zoo_net, tech, net, seed, power, mode, share_p, n=12):
    network = zoo_net(net)
    batch = random_designs(network, tech, power, n, seed=seed, share_p=share_p, macro_mode=mode)
    return network, batch, evaluate(network, tech, batch, power)


design_space = dict(seed=st.integers(0, 2**31 - 1), net=st.sampled_from(NETS), power=st.sampled_from(POWERS),
                    mode=st.sampled_from(MACRO_MODES), share_p=st.sampled_from([0.0, 0.3, 0.8]))


@settings(max_examples=30, deadline=None)
@given(**design_space)
def test_breakdowns_sum_to_totals(zoo_net, tech, seed, net, power, mode, share_p):
    network, batch, r = _random_batch(zoo_net, tech, net, seed, power, mode, share_p)
    f = r.feasible
    static = sum(p["static"] for p in r.energy_by_component_j.values())
    dynamic = sum(p["dynamic"] for p in r.energy_by_component_j.values())
    np.testing.assert_allclose(static[f], r.static_energy_j[f], rtol=1e-9)
    np.testing.assert_allclose(dynamic, r.dynamic_energy_j, rtol=1e-9)
    np.testing.assert_allclose((static + dynamic)[f], r.energy_j[f], rtol=1e-9)
    # dynamic energy is every operation's energy times its occurrences (what the reference
    # scheduler sums), split by component
    per_op = sum(r.resolved.energy_per_inference(k).sum(1, dtype=float) for k in OP_CHAIN) * 1e-9
    np.testing.assert_allclose(r.dynamic_energy_j[f], per_op[f], rtol=1e-4)
    np.testing.assert_allclose(sum(r.area_by_component_mm2.values()), r.area_mm2, rtol=1e-9)
    np.testing.assert_allclose(sum(r.peak_power_by_component_w.values()), r.peak_power_w, rtol=1e-9)
    # static energy is the static power over one interval
    static_w = sum(r.resolved.static_w.values())
    np.testing.assert_allclose(r.static_energy_j[f], (static_w * r.interval_s)[f], rtol=1e-6)
    # every unit's static power is part of its peak power; every part is non-negative
    assert (static_w <= r.peak_power_w * (1 + 1e-9)).all()
    for parts in (r.area_by_component_mm2, r.peak_power_by_component_w):
        assert all((v >= 0).all() for v in parts.values())
    for p in r.energy_by_component_j.values():
        assert (p["dynamic"] >= 0).all() and (p["static"][f] >= 0).all()
    # the crossbar array itself: crossbars x S^2 cells of area and peak power from the file
    tb = tech.tables
    si = np.searchsorted(tb.xbar_sizes, batch.xbar_size)
    ci = np.searchsorted(tb.cell_bits, batch.cell_bits)
    X = r.resolved.crossbars.sum(1)
    np.testing.assert_allclose(r.area_by_component_mm2["crossbar"], X * tb.xbar_area[si, ci], rtol=1e-6)
    np.testing.assert_allclose(r.peak_power_by_component_w["crossbar"], X * tb.xbar_peak[si, ci], rtol=1e-6)


@settings(max_examples=30, deadline=None)
@given(**design_space)
def test_feasibility_and_derived_metrics(zoo_net, tech, seed, net, power, mode, share_p):
    network, batch, r = _random_batch(zoo_net, tech, net, seed, power, mode, share_p)
    f = r.feasible
    assert (f == (r.reason == 0)).all()
    # the closed-form allocation keeps every feasible design within its budget
    assert (r.peak_power_w[f] <= power * (1 + 1e-6)).all(), r.peak_power_w[f].max()
    # infeasible designs carry a reason and are never preferred
    assert (r.reason[~f] != 0).all()
    for m in ("tops_per_watt", "peak_tops_per_watt", "throughput_ips", "tops"):
        assert (getattr(r, m)[~f] == 0).all(), m
        assert (getattr(r, m)[f] > 0).all(), m
    ops = 2.0 * network.macs
    np.testing.assert_allclose(r.throughput_ips[f], 1.0 / r.interval_s[f], rtol=1e-12)
    np.testing.assert_allclose(r.tops[f], ops * r.throughput_ips[f] / 1e12, rtol=1e-12)
    np.testing.assert_allclose(r.tops_per_watt[f], ops / r.energy_j[f] / 1e12, rtol=1e-12)
    np.testing.assert_allclose(r.power_avg_w[f], r.energy_j[f] / r.interval_s[f], rtol=1e-12)
    np.testing.assert_allclose(r.peak_tops_per_watt[f], r.peak_tops[f] / r.peak_power_w[f], rtol=1e-12)
    np.testing.assert_allclose(r.edp_js, r.energy_j * r.latency_s, rtol=1e-12)
    # peak throughput: every crossbar doing an MVM of S^2 cells every B * t_xbar
    S = batch.xbar_size.astype(float)
    B = np.ceil(tech.precision.activation_bits / batch.dac_bits)
    t_xbar = np.array([tech.crossbar_row(int(s), int(c)).latency_ns for s, c in zip(batch.xbar_size, batch.cell_bits)])
    X = r.resolved.crossbars.sum(1)
    want = X * S ** 2 / slices_of(tech, batch.cell_bits) * 2 / (B * t_xbar * 1e-9) / 1e12
    np.testing.assert_allclose(r.peak_tops, want, rtol=1e-6)
    for n in np.flatnonzero(f)[:3]:
        m = r.metrics(int(n))
        assert m["feasible"] and m["reason"] == "ok" and m["power_w"]["budget"] == power


@settings(max_examples=30, deadline=None)
@given(**design_space)
def test_latency_bounds(zoo_net, tech, seed, net, power, mode, share_p):
    """Latency covers every layer's span and the interval; without sharing it also covers
    every layer's busy time (timing.py: finish >= start + (steps-1) * step + fill with
    step >= the layer's own step time and fill >= it)."""
    network, batch, r = _random_batch(zoo_net, tech, net, seed, power, mode, share_p)
    f = r.feasible
    t = r.timing
    lat_ns = r.latency_s * 1e9
    tol = 1 + 1e-5
    assert (t.start_ns >= 0).all() and (t.finish_ns >= t.start_ns).all()
    assert (lat_ns[f] * tol >= (t.finish_ns - t.start_ns).max(1)[f]).all()
    assert (r.latency_s[f] * tol >= r.interval_s[f]).all()
    assert (t.busy_ns >= 0).all()
    alone = f & (batch.share < 0).all(1)
    assert (lat_ns[alone] * tol >= t.busy_ns.max(1)[alone]).all()
    # every layer's steps take at least its own busy time after it starts, plus the fill
    np.testing.assert_array_less(
        (t.start_ns + (r.resolved.steps - 1) * t.step_ns + t.fill_ns)[f].max(1), lat_ns[f] * tol)
    # the interval is the busiest resource's time: at least every layer's own busy time
    d = r.resolved.durations
    crossbars = r.resolved.iterations * d[OP_CHAIN.index("mvm")] + d[OP_CHAIN.index("feed")]
    assert (r.interval_s[f] * 1e9 * tol >= (r.resolved.steps * crossbars)[f].max(1)).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), net=st.sampled_from(NETS), power=st.sampled_from((20.0, 65.8)),
       mode=st.sampled_from(MACRO_MODES), data=st.data())
def test_more_duplication_never_lowers_peak_tops(zoo_net, tech, seed, net, power, mode, data):
    network, batch, r = _random_batch(zoo_net, tech, net, seed, power, mode, 0.3, n=16)
    feasible = np.flatnonzero(r.feasible)
    assume(len(feasible) > 0)          # raw random designs in identical mode can all be infeasible
    i = int(data.draw(st.sampled_from(feasible.tolist()), label="design"))
    j = int(data.draw(st.sampled_from(conv_positions(network)), label="conv layer"))
    one = batch.subset(i)
    more = with_rows(one, dup={j: one.dup[0, j] + 1})            # macros kept: the limit only grows
    before, after = evaluate(network, tech, one, power), evaluate(network, tech, more, power)
    assert after.reason[0] != CODE["invalid_partition"]
    assert after.peak_tops[0] > before.peak_tops[0]
    assert after.resolved.crossbars.sum() > before.resolved.crossbars.sum()


# --- partition rules ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base(alexnet, tech):
    """A feasible alexnet-cifar design at 20 W: no duplication, 1 macro per layer, no sharing."""
    b = plain_design(alexnet, tech, 20.0)
    r = evaluate(alexnet, tech, b, 20.0)
    assert r.feasible[0], r.reason_name(0)
    return b


def partition_cases(network):
    conv, fc = conv_positions(network), fc_positions(network)
    rg = [math.prod(geometry(l, 128)) for l in network.weighted_layers]     # blocks of one copy
    j_multi = next(j for j in conv if rg[j] > 1)                 # a layer whose limit is above 1
    j_one = next(j for j in conv if rg[j] == 1)                  # a layer whose limit is 1
    return {
        "macros 0": dict(macros={2: 0}),
        "macros above dup*blocks": dict(macros={j_multi: rg[j_multi] + 1}),
        "macros above dup*blocks with dup": dict(dup={j_multi: 2}, macros={j_multi: 2 * rg[j_multi] + 1}),
        "dup 0": dict(dup={1: 0}),
        "share with a later layer": dict(share={0: 1}),
        "share with itself": dict(share={2: 2}),
        "share below -1": dict(share={3: -2}),
        "chain": dict(share={1: 0, 2: 1}),
        "shared by two layers": dict(share={1: 0, 2: 0}),
        "pair above the partner's limit": dict(macros={j_multi: 2}, share={j_multi: j_one})
        if j_one < j_multi else dict(macros={j_one + 1: 2}, share={j_one + 1: j_one}),
        "fc dup 2": dict(dup={fc[0]: 2}),
        "last fc dup 3": dict(dup={fc[-1]: 3}),
    }


def test_partition_rules(alexnet, tech, base):
    cases = partition_cases(alexnet)
    batches = [with_rows(base, **edit) for edit in cases.values()]
    for name, b in zip(cases, batches):
        r = evaluate(alexnet, tech, b, 20.0)
        assert r.reason_name(0) == "invalid_partition", name
        assert r.tops_per_watt[0] == 0 and not r.feasible[0], name
    # the same designs in one batch, mixed with valid ones: the broken designs neither
    # change their reason nor leak into the valid designs' figures
    joined = DesignBatch.concat([base] + batches + [base])
    r = evaluate(alexnet, tech, joined, 20.0)
    assert r.reason.tolist() == [0] + [CODE["invalid_partition"]] * len(cases) + [0]
    alone = evaluate(alexnet, tech, base, 20.0)
    for m in METRICS:
        for row in (0, len(joined) - 1):
            np.testing.assert_allclose(getattr(r, m)[row], getattr(alone, m)[0], rtol=1e-6, err_msg=m)


def test_valid_sharing_is_not_a_partition_error(alexnet, tech, base):
    for edit in (dict(share={1: 0}), dict(share={1: 0, 3: 2}, macros={3: 2}), dict(share={4: 1}, macros={4: 1}),
                 dict(share={fc_positions(alexnet)[-1]: 0})):
        r = evaluate(alexnet, tech, with_rows(base, **edit), 20.0)
        assert r.reason_name(0) != "invalid_partition", edit
        assert r.feasible[0], (edit, r.reason_name(0))


def test_partition_error_wins_over_other_reasons(alexnet, tech, base):
    """Reasons are checked in REASONS order: a broken partition is reported first."""
    b = with_rows(base, share={0: 1})
    r = evaluate(alexnet, tech, b, 0.5)                          # also far over the budget
    assert r.reason_name(0) == "invalid_partition"


# --- budget -----------------------------------------------------------------------------------

def test_crossbar_count_follows_the_geometry(alexnet, resnet18_cifar, tech):
    """Crossbars per layer = dup x row_groups x col_groups x slices (MODEL.md section 2)."""
    for network in (alexnet, resnet18_cifar):
        columns = [l.index for l in network.weighted_layers]
        dup = [3 if l.kind == "conv" else 1 for l in network.weighted_layers]
        for S in tech.xbar_sizes:
            for c in tech.cell_bits_options:
                b = with_rows(plain_design(network, tech, 1e4, S=S, cell_bits=c), dup=dict(enumerate(dup)))
                r = evaluate(network, tech, b, 1e4)
                assert r.resolved.crossbars[0, columns].tolist() == crossbars_of(network, tech, S, c, dup), (S, c)


@pytest.mark.parametrize("S,c", [(128, 2), (256, 1), (512, 4)])
def test_weights_do_not_fit(alexnet, tech, S, c):
    P = 20.0
    L = len(alexnet.weighted_layers)
    dup = [2 if j in conv_positions(alexnet) else 1 for j in range(L)]
    X = sum(crossbars_of(alexnet, tech, S, c, dup))
    xp = tech.crossbar_row(S, c).peak_power_w
    macros = dict(enumerate(fewest(alexnet, tech, S, c, dup)))
    exact = with_rows(plain_design(alexnet, tech, P, S=S, cell_bits=c, dac_bits=1, ratio=X * xp / P),
                      dup=dict(enumerate(dup)), macros=macros)
    short = with_rows(plain_design(alexnet, tech, P, S=S, cell_bits=c, dac_bits=1, ratio=(X - 0.5) * xp / P),
                      dup=dict(enumerate(dup)), macros=macros)
    r_exact, r_short = evaluate(alexnet, tech, exact, P), evaluate(alexnet, tech, short, P)
    assert r_exact.resolved.n_xbar_budget[0] == X                 # floor(P * r / P_xbar)
    assert r_exact.reason_name(0) != "weights_do_not_fit"
    assert r_short.resolved.n_xbar_budget[0] == X - 1
    assert r_short.reason_name(0) == "weights_do_not_fit"
    assert r_short.tops_per_watt[0] == 0


def test_tiny_power_budget(alexnet, tech, base):
    for P in (0.05, 0.5, 2.0):
        r = evaluate(alexnet, tech, base, P)
        assert r.reason_name(0) in ("peripheral_power", "weights_do_not_fit"), P
        assert r.tops_per_watt[0] == 0
    # crossbars fit (rram_ratio 0.9) but the DACs alone exceed the rest of the budget
    X = sum(crossbars_of(alexnet, tech, 128, 2, [1] * len(alexnet.weighted_layers)))
    P = X * tech.crossbar_row(128, 2).peak_power_w / 0.9 * 1.01
    r = evaluate(alexnet, tech, plain_design(alexnet, tech, P, ratio=0.9), P)
    assert r.reason_name(0) == "peripheral_power"


def test_adc_resolution(alexnet, tech):
    combos = [(S, d, c) for S in tech.xbar_sizes for d in tech.dac_bits_options for c in tech.cell_bits_options]
    S, d, c = (np.array(col) for col in zip(*combos))
    L = len(alexnet.weighted_layers)
    b = DesignBatch(rram_ratio=np.full(len(combos), 0.2), cell_bits=c, xbar_size=S, dac_bits=d,
                    dup=np.ones((len(combos), L), int), macros=np.ones((len(combos), L), int),
                    share=np.full((len(combos), L), -1))
    r = evaluate(alexnet, tech, b, 1e3)
    for n, (s, dd, cc) in enumerate(combos):
        need = int(math.log2(s)) + dd + cc - (1 if dd > 1 and cc > 1 else 2)
        row = tech.adc_row_for(need)
        if row is None:
            assert r.reason_name(n) == "adc_resolution", (s, dd, cc)
        else:
            assert r.reason_name(n) != "adc_resolution", (s, dd, cc)
            assert r.resolved.adc_bits[n] == row.bits, (s, dd, cc)


def test_explicit_counts(alexnet, tech, base):
    L = len(alexnet.weighted_layers)
    def counted(k):
        return DesignBatch(rram_ratio=base.rram_ratio, cell_bits=base.cell_bits, xbar_size=base.xbar_size,
                           dac_bits=base.dac_bits, dup=base.dup, macros=base.macros, share=base.share,
                           counts=np.full((1, L, len(COMPONENTS)), float(k)))
    ok = evaluate(alexnet, tech, counted(1), 20.0)
    assert ok.feasible[0], ok.reason_name(0)
    assert ok.peak_power_w[0] <= 20.0
    assert evaluate(alexnet, tech, counted(10_000), 20.0).reason_name(0) == "over_budget"
    missing = counted(1)
    missing.counts[0, :, COMPONENTS.index("adc")] = 0
    assert evaluate(alexnet, tech, missing, 20.0).reason_name(0) == "missing_component"


# --- golden figures of the reference designs ----------------------------------------------------

GOLDEN = {
    # Regression anchors, recorded from the model as it stands: a change that moves them
    # must be deliberate (re-record them together with the model change). Last recorded
    # with bounded macros fed over ISAAC's bus (tests/test_macro_realism.py keeps the
    # figures from before that change).
    # (network, power W, design): tops_per_watt, peak_tops_per_watt, throughput_ips, latency_s, area_mm2
    ("resnet18", 65.8, "isaac"): (0.211725, 0.620245, 1948.7, 0.00101436, 79.2256),
    ("resnet18", 65.8, "no-dup"): (0.0709661, 1.32005, 185.781, 0.0065731, 81.3193),
    ("resnet18", 65.8, "heuristic"): (0.641195, 1.25065, 5182.66, 0.000577266, 69.8082),
    ("alexnet-cifar", 20.0, "no-dup"): (0.127935, 3.50735, 4689.73, 0.000377343, 39.2694),
    ("alexnet-cifar", 20.0, "heuristic"): (0.818198, 2.03817, 72338, 9.203e-05, 21.0739),
    ("alexnet-cifar", 65.8, "isaac"): (0.210872, 0.62943, 58593.7, 6.4208e-05, 83.2597),
}


@pytest.mark.parametrize("key", list(GOLDEN), ids=lambda k: f"{k[0]}-{k[1]}W-{k[2]}")
def test_reference_design_golden_figures(zoo_net, tech, key):
    net, power, name = key
    network = zoo_net(net)
    r = evaluate(network, tech, reference_design(name, network, tech, power), power)
    assert r.feasible[0]
    got = (r.tops_per_watt[0], r.peak_tops_per_watt[0], r.throughput_ips[0], r.latency_s[0], r.area_mm2[0])
    names = ("tops_per_watt", "peak_tops_per_watt", "throughput_ips", "latency_s", "area_mm2")
    for m, g, want in zip(names, got, GOLDEN[key]):
        assert g == pytest.approx(want, rel=1e-3), m
    assert r.peak_power_w[0] <= power * (1 + 1e-9)


def test_isaac_matches_published_peak_efficiency(zoo_net, tech):
    """ISAAC (ISCA 2016) reports 0.63 TOPS/W peak; its organisation at 65.8 W must land within 15 %."""
    network = zoo_net("resnet18")
    b = reference_design("isaac", network, tech, 65.8)
    r = evaluate(network, tech, b, 65.8)
    assert r.feasible[0]
    assert r.peak_tops_per_watt[0] == pytest.approx(0.63, rel=0.15)
    assert (b.xbar_size[0], b.cell_bits[0], b.dac_bits[0], b.offchip_links[0]) == (128, 2, 1, 1)
    assert r.resolved.adc_bits[0] == 8


def test_isaac_cannot_hold_alexnet_cifar_at_20_w(alexnet, tech):
    """One 8-bit ADC per crossbar alone needs more than 20 W for alexnet-cifar's weights."""
    with pytest.raises(DesignError, match="raise --power"):
        reference_design("isaac", alexnet, tech, 20.0)


# --- fidelity against the reference scheduler --------------------------------------------------

def _fidelity(network, tech, power, seed, want=20):
    """Fast vs reference figures of the first ``want`` feasible random designs of one seed."""
    batch = random_designs(network, tech, power, 120, seed=seed, share_p=0.2)
    r = evaluate(network, tech, batch, power)
    idx = np.flatnonzero(r.feasible)[:want]
    assert len(idx) == want
    ref = [simulate(to_opgraph(r.resolved, int(i))) for i in idx]
    lat_ref = np.array([s.latency_ns for s in ref]) * 1e-9
    energy_ref = np.array([s.energy_nj for s in ref]) * 1e-9
    return dict(name=f"{network.name} {power} W seed {seed}", idx=idx,
                latency=r.latency_s[idx], latency_ref=lat_ref, energy=r.energy_j[idx], energy_ref=energy_ref,
                dynamic=r.dynamic_energy_j[idx], dynamic_ref=np.array([s.dynamic_energy_nj for s in ref]) * 1e-9,
                static_w=sum(r.resolved.static_w.values())[idx],
                static_w_ref=np.array([s.static_energy_nj / s.interval_ns for s in ref]),
                tpw=r.tops_per_watt[idx], tpw_ref=2.0 * network.macs / energy_ref / 1e12)


def _spearman(a, b):
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return np.corrcoef(ra, rb)[0, 1]


def _worst(fid, key, bound):
    err = np.abs(fid[key] / fid[f"{key}_ref"] - 1)
    k = int(np.argmax(err))
    return err[k], (f"{fid['name']}: {key} off by {err[k]:.2%} (> {bound:.1%}) on design {int(fid['idx'][k])} "
                    f"of random_designs(n=120, share_p=0.2): fast {fid[key][k]:.6g} vs reference "
                    f"{fid[key + '_ref'][k]:.6g}; errors {np.round(err, 4).tolist()}")


@pytest.fixture(scope="module", params=[("alexnet-cifar", 20.0, 1), ("resnet18-cifar", 20.0, 2)],
                ids=lambda p: p[0])
def fidelity(request, zoo_net, tech):
    net, power, seed = request.param
    return _fidelity(zoo_net(net), tech, power, seed)


# Issue 3's target is 10 %. These cases are within 2.7 % (alexnet-cifar) and 4.2 %
# (resnet18-cifar). Since macros are bounded, random designs start from each layer's
# fewest macros and resnet18-cifar's seed 2 draws a design whose later layer shares the
# macros of a partner paced by its producers: 9.95 % until the wait at its start was
# bounded by the partner's queue (MODEL.md section 7).
LATENCY_BOUND = 0.07


def test_fidelity_latency(fidelity):
    err, msg = _worst(fidelity, "latency", LATENCY_BOUND)
    assert err <= LATENCY_BOUND, msg


# Issue 3's target is 5 %. Both implementations take the interval (hence static energy)
# from the busiest resource, which they count identically (MODEL.md section 7), so energy
# agrees to float32 rounding.
ENERGY_BOUND = 0.001


def test_fidelity_energy(fidelity):
    err, msg = _worst(fidelity, "energy", ENERGY_BOUND)
    assert err <= ENERGY_BOUND, msg


def test_fidelity_dynamic_energy_and_static_power_agree_exactly(fidelity):
    """Both implementations count the same operations with the same energies and the same
    static power: only time (hence static energy) may differ."""
    np.testing.assert_allclose(fidelity["dynamic"], fidelity["dynamic_ref"], rtol=1e-4)
    np.testing.assert_allclose(fidelity["static_w"], fidelity["static_w_ref"], rtol=1e-6)


def test_interval_is_the_stream_interval_without_sharing(alexnet, tech):
    """The interval both implementations report (the busiest resource's time per inference,
    MODEL.md section 7) is what the reference scheduler measures on a stream of
    back-to-back inferences, exactly, for designs without macro sharing; a layer's span
    (its first to last operation in one inference) is no bound on it."""
    batch = random_designs(alexnet, tech, 20.0, 40, seed=5, share_p=0.0)
    r = evaluate(alexnet, tech, batch, 20.0)
    idx = np.flatnonzero(r.feasible)[:6]
    assert len(idx) == 6
    for i in idx:
        g = to_opgraph(r.resolved, int(i))
        stream = simulate(g, stream=(3, 6)).interval_ns
        assert stream == pytest.approx(simulate(g).interval_ns, rel=1e-9)
        assert stream == pytest.approx(r.interval_s[i] * 1e9, rel=1e-5)


def test_fidelity_tops_per_watt_ranking(fidelity):
    rho = _spearman(fidelity["tpw"], fidelity["tpw_ref"])
    assert rho >= 0.95, f"{fidelity['name']}: Spearman {rho:.3f}"


def test_spearman_helper():
    assert _spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == pytest.approx(1)
    assert _spearman(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == pytest.approx(-1)


@pytest.mark.parametrize("net", NETS)
def test_without_latency_every_other_metric_is_the_same(zoo_net, tech, net):
    network = zoo_net(net)
    batch = random_designs(network, tech, 20.0, 48, seed=3, share_p=0.3)
    full = evaluate(network, tech, batch, 20.0)
    lean = evaluate(network, tech, batch, 20.0, latency=False)
    assert full.feasible.any()
    for m in METRICS:
        if m in ("latency_s", "edp_js"):
            assert np.isnan(getattr(lean, m)).all()
        else:
            np.testing.assert_array_equal(getattr(lean, m), getattr(full, m), err_msg=m)
    assert np.isnan(lean.timing.start_ns).all() and np.isnan(lean.timing.finish_ns).all()
