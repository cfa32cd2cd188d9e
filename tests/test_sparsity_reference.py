"""The sparsity reference (issue 15, item 4): sampled zero patterns, counted per step and
bit iteration, scheduled by the exact reference; ``pimtune validate --sparsity``."""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache

import numpy as np
import onnx
import pytest
from hypothesis import given, settings, strategies as st
from onnx import numpy_helper

from costmodel import load_technology
from costmodel.array_figures import array_figures
from costmodel.design import DesignBatch
from costmodel.evaluator import evaluate
from costmodel.fidelity import feasible_random_designs, measure_fidelity, random_modes
from costmodel.opgraph import OP_CHAIN, to_opgraph
from costmodel.reference_segments import reloads, simulate_design
from costmodel.reference_sim import SKIPPED, simulate
from costmodel.sparsity.applied import ou_bits_share
from costmodel.sparsity.densities import Densities, densities_of
from costmodel.sparsity.factors import COMPACT, GATE, NONE, SKIP
from costmodel.sparsity.layout import layout
from costmodel.sparsity.patterns import zero_patterns
from costmodel.sparsity.sampled import sampled_occurrences
from costmodel.sparsity.source import sparsity_densities
from costmodel.technology import require_network_family
from costmodel.workload import crossbar_geometry
from onnx_frontend import load_network
from onnx_frontend.activation_profile import ProfileError, quantised
from onnx_frontend.network import Layer
from onnx_frontend.weight_density import CELL_BITS, TILE_SIZES
from onnx_frontend.weight_matrices import nonzero_slices
from search.cli.main import main
from tests.onnx_styles import Styled

MVM = OP_CHAIN.index("mvm")


def small_model(scale: float = 1.0, in_hw: int = 16) -> onnx.ModelProto:
    """conv 4->32 (3x3) -> ReLU -> conv 32->32 (3x3, stride 2) -> ReLU -> fc 32, no biases,
    70 % of each weight tensor's smallest magnitudes zero, every weight times ``scale``."""
    rng = np.random.default_rng(0)
    s = Styled(in_shape=(1, 4, in_hw, in_hw))

    def w(shape):
        a = rng.standard_normal(shape).astype(np.float32)
        a[np.abs(a) <= np.quantile(np.abs(a), 0.7)] = 0
        name = s.name("w")
        s.inits.append(numpy_helper.from_array(a * np.float32(scale), name))
        return name

    x = s.relu(s.node("Conv", ["x", w((32, 4, 3, 3))], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    x = s.relu(s.node("Conv", [x, w((32, 32, 3, 3))], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]))
    flat = s.node("Flatten", [x])
    return s.model(s.node("Gemm", [flat, w((32, 32 * (in_hw // 2) ** 2))], transB=1))


@lru_cache(maxsize=None)
def small():
    """(model, network, reram technology, measured densities) of :func:`small_model`."""
    model = small_model()
    net = load_network(model, name="small")
    tech = load_technology("reram")
    return model, net, tech, sparsity_densities("measured", net, tech, model)


@lru_cache(maxsize=None)
def designs(power: float, n: int = 6):
    model, net, tech, dens = small()
    return feasible_random_designs(net, tech, power, n, seed=1, segmented=True, densities=dens)


def with_modes(batch: DesignBatch, mode) -> DesignBatch:
    out = batch.subset(slice(None))
    out.sparse_mode = np.broadcast_to(mode, out.sparse_mode.shape).copy()
    return out


def same(a, b) -> bool:
    return (a.latency_ns, a.interval_ns, a.energy_nj, a.energy_by_kind_nj) == \
        (b.latency_ns, b.interval_ns, b.energy_nj, b.energy_by_kind_nj)


@pytest.mark.parametrize("power", [0.5, 2.0])
def test_modes_none_reference_equals_dense_bit_for_bit(power):
    """Every layer's mode none: no occurrence is sampled, and the reference of the sparse
    evaluation is the dense reference (the model's weights have no structured zeros)."""
    model, net, tech, dens = small()
    assert not dens.zero_rows.any() and not dens.zero_cols.any()
    batch = with_modes(designs(power), NONE)
    sparse = evaluate(net, tech, batch, power, densities=dens).resolved
    dense = evaluate(net, tech, batch, power).resolved
    patterns = zero_patterns(net, 16, dens, model)
    for i in range(len(batch)):
        occ = sampled_occurrences(sparse, i, batch, patterns, sample=i)
        assert occ == {}
        assert same(simulate_design(sparse, i, batch.dataflow[i], occurrences=occ),
                    simulate_design(dense, i, batch.dataflow[i]))


@pytest.mark.parametrize("power", [0.5, 2.0])
def test_gate_never_changes_the_schedule(power):
    """Gating scales energies, never durations: the sampled reference's latency and
    interval are the expected reference's, bit for bit; its energy is not."""
    model, net, tech, dens = small()
    batch = with_modes(designs(power), GATE)
    r = evaluate(net, tech, batch, power, densities=dens).resolved
    patterns = zero_patterns(net, 16, dens, model)
    assert any(reloads(r, i) for i in range(len(batch))) == (power < 1)
    for i in range(len(batch)):
        occ = sampled_occurrences(r, i, batch, patterns, sample=i)
        assert set(occ) == {int(l) for l in r.workload.layer_of_w}
        assert all(not o.durations_ns for o in occ.values())
        sampled, expected = (simulate_design(r, i, batch.dataflow[i], occurrences=o) for o in (occ, None))
        assert (sampled.latency_ns, sampled.interval_ns) == (expected.latency_ns, expected.interval_ns)
        assert sampled.energy_nj != expected.energy_nj
        assert sampled.energy_nj == pytest.approx(expected.energy_nj, rel=0.05)


@pytest.mark.parametrize("power", [0.3, 2.0])
def test_every_occurrence_counts_once_per_inference(power):
    """The reference's energies are the occurrences' sums, tiled and segmented designs
    included (each tile's own occurrences, once per inference whatever the batch)."""
    model, net, tech, dens = small()
    batch = with_modes(designs(power), [SKIP, GATE, COMPACT])
    r = evaluate(net, tech, batch, power, densities=dens).resolved
    patterns = zero_patterns(net, 16, dens, model)
    tiled = 0
    for i in range(len(batch)):
        occ = sampled_occurrences(r, i, batch, patterns, sample=i)
        ref = simulate_design(r, i, batch.dataflow[i], occurrences=occ)
        tiled += int(r.tiles.count[i, 2] > 1)
        for kind in ("mvm", "adc", "shift_add"):
            assert ref.energy_by_kind_nj[kind] == pytest.approx(sum(o.energies_nj[kind].sum() for o in occ.values()))
        assert ref.energy_by_kind_nj["sparsity"] == pytest.approx(sum(o.overhead_nj.sum() for o in occ.values()))
    assert tiled > 0 if power < 1 else tiled == 0


def one_conv(c_in: int = 4, hw: int = 66) -> Layer:
    """A valid 3x3 conv ``c_in -> 8`` on ``hw x hw`` inputs (no padding)."""
    o = hw - 2
    return Layer(index=0, name="conv", kind="conv", in_shapes=((c_in, hw, hw),), out_shape=(8, o, o), kernel=(3, 3),
                 weights=8 * c_in * 9, macs=8 * c_in * 9 * o * o, producers=(-1,))


def synthetic_densities(a: float, bit_given: float, w: float) -> Densities:
    T = len(TILE_SIZES)
    return Densities(source="synthetic", activation_bits=16, input_density=np.array([a]),
                     bit_density=np.full((1, 16), a * bit_given), weight_density=np.array([w]),
                     zero_rows=np.zeros(1), zero_cols=np.zeros(1), tile_sizes=TILE_SIZES,
                     tile_zero_rows=np.zeros((T, 1)), tile_zero_cols=np.zeros((T, 1)), cell_bits=CELL_BITS,
                     tile_zero_slice_cols=np.zeros((len(CELL_BITS), T, 1)), weights_measured=False)


@lru_cache(maxsize=None)
def synthetic(mode: int):
    """``(network, batch, resolved, occurrences)`` of one valid 3x3 conv (4 -> 8 channels,
    4096 output pixels) on one 128-row crossbar per copy, one copy, one input bit per
    iteration, inputs and weights drawn from densities (input 0.3, bits 0.15 of the
    non-zero values, weights 0.6)."""
    from onnx_frontend.network import Network

    net = Network(name="one-conv", input_shape=(4, 66, 66), layers=(one_conv(),))
    tech = load_technology("reram")
    dens = synthetic_densities(a=0.3, bit_given=0.15, w=0.6)
    batch = DesignBatch(rram_ratio=[0.3], cell_bits=[2], xbar_size=[128], dac_bits=[1], dup=[[1]], macros=[[1]],
                        share=[[-1]], sparse_mode=[[mode]])
    r = evaluate(net, tech, batch, 100.0, densities=dens).resolved
    assert r.feasible[0] and int(r.steps[0, 0]) == 64 * 64
    (occ,) = sampled_occurrences(r, 0, batch, zero_patterns(net, 16, dens, seed=3)).values()
    return net, batch, r, occ


@pytest.mark.parametrize("mode", [GATE, SKIP, COMPACT])
def test_sampled_counts_approach_the_expectation(mode):
    """On i.i.d. inputs drawn from the densities (4096 steps, one copy, one array of 36
    rows), the mean sampled work and time are the fast model's expectation within 3 %."""
    net, batch, r, occ = synthetic(mode)
    f = r.sparse
    if mode == GATE:
        assert not occ.durations_ns
    else:                                                  # skip: kept iterations; compact: E[ceil(X / ou_rows)]
        dense_ns = r.durations[MVM, 0, 0] / f.iterations[0, 0]
        assert occ.durations_ns["mvm"].mean() / dense_ns == pytest.approx(f.iterations[0, 0], rel=0.03)
        assert 0.3 < f.iterations[0, 0] < 1.0
    overhead = r.work["sparsity_pj"][0, 0] * 1e-3
    assert occ.energies_nj["mvm"].mean() == pytest.approx(r.energy("mvm")[0, 0] - overhead, rel=0.03)
    assert occ.energies_nj["adc"].mean() == pytest.approx(r.energy("adc")[0, 0], rel=0.03)
    assert occ.overhead_nj.mean() == pytest.approx(overhead * r.iterations[0, 0], rel=0.03)


@pytest.mark.parametrize("mode", [SKIP, COMPACT])
def test_skipped_iteration_has_no_time_and_no_energy(mode):
    """An iteration no copy drives a row in (skip), or with no operation-unit cycle
    (compact), lasts 0 ns, costs nothing and holds no resource in the schedule."""
    net, batch, r, occ = synthetic(mode)
    off = occ.durations_ns["mvm"] == 0
    assert 0 < off.mean() < 0.5
    for kind in ("mvm", "adc", "shift_add"):
        assert (occ.energies_nj[kind][off] == 0).all() and (occ.durations_ns[kind][off] == 0).all()
        assert (occ.energies_nj[kind][~off] > 0).all() and (occ.durations_ns[kind][~off] > 0).all()
    rows = simulate(to_opgraph(r, 0, {0: occ}), record=True).schedule
    zero = [row for row in rows if row[2] in ("mvm", "adc", "shift_add") and row[4] == row[5]]
    assert len(zero) == 3 * int(off.sum()) and all(row[6] == SKIPPED for row in zero)
    busy = [row for row in rows if row[2] == "mvm" and row[4] < row[5]]
    assert len(busy) == int((~off).sum()) and all(row[6] == "xbar0" for row in busy)


@settings(max_examples=60, deadline=None)
@given(groups=st.sampled_from([1, 2, 4]), c_in=st.integers(1, 6), c_out=st.integers(1, 12), k=st.sampled_from([1, 3]),
       size=st.sampled_from([4, 8, 16, 32]), cols=st.sampled_from([4, 8, 16]), seed=st.integers(0, 99),
       density=st.floats(0.0, 1.0))
def test_layout_is_the_workload_geometry(groups, c_in, c_out, k, size, cols, seed, density):
    """The sampled arrays are the cost model's: row groups, column groups, rows driven and
    columns read of every kept matrix; the non-zero products are the kept part's, the
    converting slice columns each array's (a column cut into row pieces converts in each)."""
    cin, cout = c_in * groups, c_out * groups
    layer = Layer(index=0, name="l", kind="conv", in_shapes=((cin, 5, 5),), out_shape=(cout, 5, 5), kernel=(k, k),
                  padding=(k // 2,) * 4, groups=groups, weights=cout * c_in * k * k, producers=(-1,))
    rng = np.random.default_rng(seed)
    mask = rng.random((groups, layer.matrix_rows, layer.matrix_cols)) < density
    slices = rng.integers(1, 16, mask.shape, dtype=np.uint8) * mask      # 4 slices, some non-zero where a weight is
    kept = (max(int(mask.any(2).sum(1).max()), 1), max(int(mask.any(1).sum(1).max()), 1))
    lay = layout(layer, mask, slices, kept, size, cols)
    rg, cg, rows_total, cols_read, _ = crossbar_geometry(layer, size, cols, kept)
    assert (lay.row_blocks, lay.col_groups) == (rg, cg)
    assert (int(lay.rows.sum()) * cg, int(lay.cols.sum())) == (rows_total, cols_read)
    assert int(lay.weights.sum()) == groups * kept[0] * kept[1]
    assert int(lay.products.sum()) == int(mask.sum())      # every non-zero weight is in a kept row and column
    assert (lay.kept_slice_cols <= 4 * lay.cols).all() and int((lay.nonzero > 0).sum()) <= rows_total
    whole = int(np.bitwise_count(np.bitwise_or.reduce(slices, axis=1)).sum())   # slice columns of whole groups
    assert int(lay.kept_slice_cols.sum()) >= whole                     # a column cut in row pieces converts in each
    assert int(lay.kept_slice_cols.sum()) == whole or kept[0] > size


def test_nonzero_slices_of_sign_magnitude_codes():
    """Codes at 8 bits 127, 255, 0, 13 and 128 (the sign alone); at 20 bits (no table)
    0x7ffff, 0xfffff, 0, 0xcccd and 0x8020c."""
    w = np.array([[[1.0, -1.0, 0.0, 0.1, -0.001]]], dtype=np.float32)
    assert nonzero_slices(w, 8, 4).tolist() == [[[0b11, 0b11, 0, 0b01, 0b10]]]
    assert nonzero_slices(w, 8, 8).tolist() == [[[1, 1, 0, 1, 1]]]
    assert nonzero_slices(w, 20, 4).tolist() == [[[0b11111, 0b11111, 0, 0b01111, 0b10101]]]
    assert nonzero_slices(w, 16, 1).dtype == np.uint16


def quiet_model(quiet: float) -> onnx.ModelProto:
    """One 1x1 conv, 256 -> 64 channels on 4 x 4 inputs (no padding, no bias): weights of
    magnitude 0.5 to 1 and either sign (the largest exactly 1), except those of output
    channels 0-31 from input channels 0-127 (their column pieces on 128-row arrays):
    positive, 0.7 to 1 times ``quiet``."""
    rng = np.random.default_rng(5)
    w = rng.uniform(0.5, 1.0, (64, 256)) * rng.choice([-1.0, 1.0], (64, 256))
    w[:32, :128] = rng.uniform(0.7, 1.0, (32, 128)) * quiet
    w[40, 200] = 1.0
    s = Styled(in_shape=(1, 256, 4, 4))
    name = s.name("w")
    s.inits.append(numpy_helper.from_array(w.astype(np.float32).reshape(64, 256, 1, 1), name))
    return s.model(s.node("Conv", ["x", name], kernel_shape=[1, 1]))


@lru_cache(maxsize=None)
def without_input_zeros(tech_name: str, quiet: float, cell_bits: int, size: int, mode: int):
    """``(fast, reference, batch, resolved)`` of :func:`quiet_model` on one design (2 copies,
    2 input bits per cycle) whose layer has ``mode``, every input bit one: per energy kind
    the fast model's and the sampled reference's nJ per inference (the reference's mvm
    with the sparsity overhead, as the fast model's) and per duration kind its occurrences'
    least and largest duration (``<kind> ns least``, ns; the fast model's: its one)."""
    model = quiet_model(quiet)
    net = load_network(model, name="quiet")
    tech = require_network_family(load_technology(tech_name))
    A = tech.precision.activation_bits
    dens = densities_of(net, None, A, "every input bit one", tech.precision.weight_bits)
    dens = dataclasses.replace(dens, bit_density=np.ones_like(dens.bit_density))
    batch = DesignBatch(rram_ratio=[0.3], cell_bits=[cell_bits], xbar_size=[size], dac_bits=[2], dup=[[2]],
                        macros=[[1]], share=[[-1]], sparse_mode=[[mode]])
    r = evaluate(net, tech, batch, 100.0, densities=dens).resolved
    assert r.feasible[0]
    l = int(r.workload.layer_of_w[0])
    fast = {k: float(r.energy_per_inference(k)[0, l]) for k in ("mvm", "adc", "shift_add")}
    if mode == NONE:
        return fast, None, batch, r
    occ = sampled_occurrences(r, 0, batch, zero_patterns(net, A, dens, model, activations=False))[l]
    ref = {k: float(occ.energies_nj[k].sum()) for k in fast}
    ref["mvm"] += float(occ.overhead_nj.sum())
    for k, ns in occ.durations_ns.items():
        for end, value in (("least", ns.min()), ("largest", ns.max())):
            fast[f"{k} ns {end}"], ref[f"{k} ns {end}"] = float(r.durations[OP_CHAIN.index(k), 0, l]), float(value)
    return fast, ref, batch, r


@pytest.mark.parametrize("cell_bits, size, skipped", [(1, 128, 1 / 16), (2, 128, 1 / 16), (4, 128, 1 / 16),
                                                      (4, 256, 0.0)])
def test_zero_weight_slice_columns_skip_exactly_their_conversions(cell_bits, size, skipped):
    """Weights below 1/8 of the largest and positive have their top 4 code bits (the
    sign and 3 magnitude bits of 16) zero: on 128-row arrays a quarter of the column
    pieces lose 4 / cell_bits of their 16 / cell_bits slice columns' conversions, 1/16 of
    all; on 256-row arrays every piece holds large weights too, and none is skipped."""
    none = without_input_zeros("reram", 0.1, cell_bits, size, NONE)[0]
    ref = without_input_zeros("reram", 0.1, cell_bits, size, SKIP)[1]
    assert ref["adc"] / none["adc"] == pytest.approx(1 - skipped, rel=1e-9)
    assert ref["shift_add"] / none["shift_add"] == pytest.approx(1 - skipped, rel=1e-6)


@pytest.mark.parametrize("tech_name, quiet, cell_bits, size", [("reram", 0.1, 1, 128), ("reram", 0.1, 4, 256),
                                                                ("reram", 0.1, 2, 512), ("sram-aimc", 0.003, 8, 128),
                                                                ("sram-aimc", 0.003, 8, 64)])
@pytest.mark.parametrize("mode", [SKIP, COMPACT])
def test_fast_model_is_the_reference_without_input_zeros(tech_name, quiet, cell_bits, size, mode):
    """Every input bit one, every weight non-zero, no padding, every array full: the only
    skipping is the static zero slice columns (SRAM: whole 8-bit codes, zero below 1/254
    of the largest weight), and the fast model's expected work and durations are the
    reference's counts, kind by kind, compact's ADC bits share included."""
    fast, ref, *_ = without_input_zeros(tech_name, quiet, cell_bits, size, mode)
    assert ref == pytest.approx(fast, rel=1e-6)
    assert {"mvm ns least", "adc ns largest"} <= set(ref) or tech_name == "sram-aimc"
    if tech_name == "sram-aimc" and mode == SKIP:                      # the in-array converters of 1/4 of the pieces
        assert fast["mvm"] < without_input_zeros(tech_name, quiet, cell_bits, size, NONE)[0]["mvm"]


def test_compact_conversions_resolve_fewer_bits():
    """Compact's ADC conversions take the design's operation-unit bits share of their
    energy (and, above, of their duration); its shift-adds do not."""
    skip = without_input_zeros("reram", 0.1, 2, 128, SKIP)[1]
    _, compact, batch, r = without_input_zeros("reram", 0.1, 2, 128, COMPACT)
    share = float(ou_bits_share(r.tech, batch, array_figures(r.tech, batch))[0])
    assert 0 < share < 1
    assert compact["adc"] / compact["shift_add"] == pytest.approx(share * skip["adc"] / skip["shift_add"], rel=1e-6)


def test_model_activations_serve_only_as_zero_patterns():
    """ONNX Runtime's outputs give codes, max-scaled per tensor: weights twice as large
    (activations 2, 4, 8 times as large, exactly) sample the very same occurrences."""
    model, net, tech, dens = small()
    doubled = small_model(scale=2.0)
    a, b = (zero_patterns(net, 16, dens, m) for m in (model, doubled))
    assert a.source == b.source and "ONNX Runtime" in a.source and len(a.activations) == 8
    tensor = net.input_tensors[net.layers[1].index]
    assert (a.activations[0][tensor] == b.activations[0][tensor]).all()
    batch = with_modes(designs(2.0), COMPACT)
    r = evaluate(net, tech, batch, 2.0, densities=dens).resolved
    for i in range(2):
        oa, ob = (sampled_occurrences(r, i, batch, p, sample=i) for p in (a, b))
        for l in oa:
            for kind, v in oa[l].durations_ns.items():
                assert np.array_equal(v, ob[l].durations_ns[kind])
            assert np.array_equal(oa[l].overhead_nj, ob[l].overhead_nj)


def test_codes_are_the_profiles():
    x = np.array([[-1.0, 0.0, 0.5, 2.0]])
    assert quantised(x, 8).tolist() == [[(1 << 7) | 64, 0, 32, 127]]
    assert quantised(np.zeros(3), 8).tolist() == [0, 0, 0]


def test_random_modes_per_family():
    for name, top in (("reram", COMPACT), ("sram-aimc", COMPACT), ("sram-dimc", SKIP)):
        modes = random_modes(require_network_family(load_technology(name)), 400, 5, (0, 1))
        assert modes.min() == 0 and modes.max() == top


def test_fidelity_with_sparsity_says_its_sources():
    model, net, tech, dens = small()
    drawn = measure_fidelity(net, tech, 2.0, 3, densities=dens, seed=2)
    assert drawn["sparsity"]["densities"] == dens.source
    assert drawn["sparsity"]["reference"] == "weights: drawn from the densities; activations: drawn from the " \
                                            "densities (seed 2)"
    real = measure_fidelity(net, tech, 2.0, 3, densities=dens, model=model)
    assert real["sparsity"]["reference"].startswith("weights: the model's own; activations: the model's")
    assert sum(real["sparsity"]["layers_per_mode"].values()) == 3 * 3
    assert real["sample_seconds_per_design"] > 0 and real["energy_err_max"] < 0.5
    assert "sparsity" not in measure_fidelity(net, tech, 2.0, 2)


def test_validate_sparsity_end_to_end(tmp_path, capsys):
    path = tmp_path / "small.onnx"
    onnx.save(small()[0], path)
    assert main(["validate", str(path), "--power", "2", "--designs", "3", "--sparsity", "measured", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["designs"] == 3 and report["sparsity"]["densities"].startswith("measured")
    assert "ONNX Runtime" in report["sparsity"]["reference"]
    assert all(np.isfinite(report[k]) for k in ("latency_err_max", "energy_err_max"))
    profile = tmp_path / "p.yaml"
    profile.write_text("format: pimtune-profile/1\nnetwork: small\ndensity: 0.4\n")
    assert main(["validate", str(path), "--power", "2", "--designs", "2", "--sparsity", str(profile)]) == 0
    out = capsys.readouterr().out
    assert "sparsity: profile p.yaml" in out and "activations: drawn from the densities" in out
    assert "weights: the model's own" in out


@pytest.mark.parametrize("args, words", [
    (["alexnet-cifar", "--sparsity", "measured"], "holds no weights"),
    (["alexnet-cifar", "--sparsity", "sometimes"], "not dense, measured or a profile"),
    (["alexnet-cifar", "--sparsity", "missing.yaml"], "no such profile file"),
])
def test_validate_sparsity_bad_input_is_one_line(args, words, capsys):
    assert main(["validate", *args, "--power", "20", "--designs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pimtune: error:") and words in err[0]


def test_model_without_weights_cannot_give_activations():
    from onnx_frontend.zoo import build_model

    structure = build_model("alexnet-cifar")
    net = load_network(structure)
    with pytest.raises(ProfileError, match="holds no weights"):
        zero_patterns(net, 16, None, structure)


def test_weights_routed_through_identity_are_the_models_own():
    from onnx_frontend.weight_matrices import weight_matrices
    from tests.onnx_styles import Styled

    w = np.random.default_rng(5).standard_normal((6, 3, 3, 3)).astype(np.float32)
    w[w < 0.3] = 0
    s = Styled(in_shape=(1, 3, 8, 8))
    stored = s.name("w")
    s.inits.append(numpy_helper.from_array(w, stored))
    shared = s.node("Identity", [stored])
    y = s.node("Conv", ["x", shared], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    model = s.model(y)
    net = load_network(model)
    found = weight_matrices(model, net)
    layer = net.weighted_layers[0]
    assert set(found) == {layer.index}
    np.testing.assert_array_equal(found[layer.index], w.reshape(1, 6, 27).transpose(0, 2, 1))
