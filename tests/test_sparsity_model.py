"""The sparsity cost model (costmodel/sparsity, MODEL.md section 10)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.design import DesignError
from costmodel.evaluator import evaluate
from costmodel.random_designs import random_designs
from costmodel.sparsity.densities import aligned_bits, densities_of
from costmodel.sparsity.source import sparsity_densities
from costmodel.sparsity.tables import expected_ceil, padding_share, slice_nonzero
from costmodel.technology import load_technology, require_network_family
from onnx_frontend import load_network
from onnx_frontend.activation_profile import PROFILE_FORMAT, Profile, ProfileError
from onnx_frontend.zoo import build_model
from tests.test_weight_density import conv_model

NET = load_network(build_model("alexnet-cifar"), name="alexnet-cifar")
FAMILIES = {"reram": (2.0, None, 3), "sram-aimc": (None, 5.0, 3), "sram-dimc": (None, 5.0, 2)}


def tech_of(name):
    return require_network_family(load_technology(name))


def profile(density: float, network=NET, bits=None) -> Profile:
    return Profile(format=PROFILE_FORMAT, network=network.name, density=density) if bits is None else Profile(
        format=PROFILE_FORMAT, network=network.name, activation_bits=len(bits),
        layers={l.name: {"input_density": density, "bit_density": bits} for l in network.weighted_layers})


def dens(tech, density, network=NET, bits=None):
    return densities_of(network, profile(density, network, bits), tech.precision.activation_bits, "test",
                        tech.precision.weight_bits)


def designs(name, n=48, seed=0, mode=None):
    power, area, _ = FAMILIES[name]
    tech = tech_of(name)
    b = random_designs(NET, tech, power, n, seed=seed, area_mm2=area, segmented=True)
    if mode is not None:
        b = dataclasses.replace(b, sparse_mode=np.broadcast_to(np.asarray(mode), b.dup.shape).copy())
    return tech, b, power, area


@pytest.mark.parametrize("name", FAMILIES)
def test_mode_none_with_densities_equals_dense_bit_for_bit(name):
    tech, b, power, area = designs(name)
    base = evaluate(NET, tech, b, power, area_mm2=area)
    for d in (dens(tech, 1.0), dens(tech, 0.3)):
        r = evaluate(NET, tech, b, power, area_mm2=area, densities=d)
        for field in ("energy_j", "latency_s", "interval_s", "area_mm2", "tops_per_watt", "reason"):
            np.testing.assert_array_equal(getattr(r, field), getattr(base, field))


@pytest.mark.parametrize("name", FAMILIES)
def test_gating_never_changes_cycles(name):
    tech, b, power, area = designs(name, mode=0)
    d = dens(tech, 0.4)
    none = evaluate(NET, tech, b, power, area_mm2=area, densities=d)
    gate = evaluate(NET, tech, dataclasses.replace(b, sparse_mode=np.ones_like(b.dup)), power, area_mm2=area,
                    densities=d)
    np.testing.assert_array_equal(gate.resolved.durations[3], none.resolved.durations[3])   # mvm
    assert (gate.resolved.dynamic_nj["crossbar"] + gate.resolved.dynamic_nj["dac"]
            <= none.resolved.dynamic_nj["crossbar"] + none.resolved.dynamic_nj["dac"] + 1e-9).all()


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("mode", [1, 2, 3])
def test_dynamic_energy_is_monotone_in_input_density(name, mode):
    if mode > FAMILIES[name][2]:
        pytest.skip("compact needs analog arrays")
    tech, b, power, area = designs(name, n=24, mode=mode)
    energies = []
    for density in (0.05, 0.3, 0.6, 1.0):
        r = evaluate(NET, tech, b, power, area_mm2=area, densities=dens(tech, density))
        energies.append(sum(r.resolved.dynamic_nj[c] for c in ("crossbar", "dac", "adc", "sparsity")))
    for lower, higher in zip(energies, energies[1:]):
        assert (lower <= higher * (1 + 1e-6)).all()


@pytest.mark.parametrize("name", FAMILIES)
def test_a_population_equals_one_design_at_a_time(name):
    tech, b, power, area = designs(name, n=12, seed=4)
    rng = np.random.default_rng(1)
    b = dataclasses.replace(b, sparse_mode=rng.integers(0, FAMILIES[name][2] + 1, b.dup.shape))
    d = dens(tech, 0.35)
    whole = evaluate(NET, tech, b, power, area_mm2=area, densities=d)
    for i in range(len(b)):
        one = evaluate(NET, tech, b.subset(i), power, area_mm2=area, densities=d)
        for field in ("energy_j", "latency_s", "area_mm2", "feasible"):
            np.testing.assert_allclose(getattr(one, field)[0], getattr(whole, field)[i], rtol=2e-6)


def test_skipping_pays_only_when_inputs_are_very_sparse():
    tech, b, power, area = designs("reram", n=24, mode=2)
    sparse = evaluate(NET, tech, b, power, area_mm2=area, densities=dens(tech, 0.002))
    relu = evaluate(NET, tech, b, power, area_mm2=area, densities=dens(tech, 0.5))
    skipped_sparse = np.array([[l["skipped_share"]["input_cycles"] for l in sparse.layer_rows(i)] for i in range(len(b))])
    skipped_relu = np.array([[l["skipped_share"]["input_cycles"] for l in relu.layer_rows(i)] for i in range(len(b))])
    assert skipped_relu.max() < 0.01 and skipped_sparse.mean() > 0.2
    ok = sparse.feasible & relu.feasible
    assert (sparse.latency_s[ok] < relu.latency_s[ok]).all()


def test_compact_is_analog_only_and_modes_need_the_technology_section():
    tech, b, power, area = designs("sram-dimc", n=4, mode=3)
    with pytest.raises(DesignError, match="compact"):
        evaluate(NET, tech, b, power, area_mm2=area, densities=dens(tech, 0.5))
    tech, b, power, area = designs("reram", n=4, mode=1)
    bare = tech.model_copy(update={"sparsity": None})
    with pytest.raises(DesignError, match="sparsity:"):
        evaluate(NET, bare, b, power, densities=dens(tech, 0.5))


def test_structured_zero_channels_need_fewer_arrays_and_buy_more_copies():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 64, 3, 3))
    w[:, 32:] = 0                                             # half the input channels pruned
    net = conv_model(w)
    tech = tech_of("reram")
    d = densities_of(net, None, tech.precision.activation_bits, "test", tech.precision.weight_bits)
    from costmodel.workload import build_workload
    assert build_workload(net, tech).row_groups[0, 0] == 5 and build_workload(net, tech, d).row_groups[0, 0] == 3
    b = random_designs(net, tech, 2.0, 8, seed=0)
    dense = evaluate(net, tech, b, 2.0)
    pruned = evaluate(net, tech, b, 2.0, densities=d)
    assert (pruned.resolved.crossbars.sum(1) <= dense.resolved.crossbars.sum(1)).all()
    assert pruned.resolved.crossbars.sum() < dense.resolved.crossbars.sum()
    share = np.array([r["skipped_share"]["crossbars"] for i in range(len(b)) for r in pruned.layer_rows(i)])
    assert share.max() > 0.3


def test_overheads_make_gating_a_loss_on_dense_data():
    tech, b, power, area = designs("reram", n=24, mode=0)
    d = dens(tech, 1.0, bits=[1.0] * tech.precision.activation_bits)
    none = evaluate(NET, tech, b, power, densities=d)
    gate = evaluate(NET, tech, dataclasses.replace(b, sparse_mode=np.ones_like(b.dup)), power, densities=d)
    assert (gate.resolved.dynamic_nj["sparsity"] > 0).all()
    assert (gate.energy_j > none.energy_j).all()
    assert (gate.area_mm2 > none.area_mm2).all()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 40), q=st.floats(0, 1), u=st.integers(1, 17), arrays=st.integers(1, 3))
def test_expected_ceil_is_exact(n, q, u, arrays):
    from itertools import product
    from math import ceil, comb
    pmf = {k: comb(n, k) * q ** k * (1 - q) ** (n - k) for k in range(n + 1)}
    if arrays == 3 and n > 12:
        arrays = 2
    want = sum(np.prod([pmf[k] for k in ks]) * max(ceil(k / u) for k in ks)
               for ks in product(range(n + 1), repeat=arrays))
    assert expected_ceil(np.array(n), np.array(q), u, arrays) == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_slice_probabilities():
    a = np.array([0.5])
    bits = np.array([[0.25, 0.5, 0.0, 0.5]])                 # given non-zero: 0.5, 1, 0, 1
    q = slice_nonzero(a, bits, 2)
    assert q[0, 0] == pytest.approx(0.5)                      # bit 1 is always one when non-zero
    assert q[0, 1] == pytest.approx(0.5)
    assert slice_nonzero(a, np.array([[0.25, 0.0, 0.0, 0.0]]), 4)[0, 0] == pytest.approx(0.25)


def test_profile_bits_are_aligned_by_their_top_bit():
    np.testing.assert_allclose(aligned_bits([0.1, 0.2], 0.4, 2, 4), [0.2, 0.2, 0.1, 0.2])
    np.testing.assert_allclose(aligned_bits([0.1, 0.2, 0.3, 0.4], 0.5, 4, 2), [0.3, 0.4])
    np.testing.assert_allclose(aligned_bits(None, 0.4, 8, 3), [0.2] * 3)


def test_padding_share_counts_the_unrolled_inputs_in_the_padding():
    net = conv_model(np.ones((4, 2, 3, 3)))                   # 8 x 8, pad 1: 4 * 8 + ... edges
    layer = net.weighted_layers[0]
    inside = sum(1 for y in range(8) for x in range(8) for a in range(3) for b in range(3)
                 if 0 <= y - 1 + a < 8 and 0 <= x - 1 + b < 8)
    assert padding_share(layer) == pytest.approx(1 - inside / (64 * 9))


def test_measured_needs_weights_and_bad_specs_name_the_fix(tmp_path):
    tech = tech_of("reram")
    assert sparsity_densities("dense", NET, tech) is None
    with pytest.raises(ProfileError, match="holds no weights"):
        sparsity_densities("measured", NET, tech, build_model("alexnet-cifar"))
    with pytest.raises(ProfileError, match="not dense, measured or a profile"):
        sparsity_densities("sparse", NET, tech)
    with pytest.raises(ProfileError, match="no such profile file"):
        sparsity_densities(str(tmp_path / "p.yaml"), NET, tech)


def test_measured_densities_of_a_pruned_model():
    from onnx_frontend.zoo.random_weights import with_random_weights

    proto = with_random_weights(build_model("alexnet-cifar"), seed=0, prune=0.7)
    net = load_network(proto, name="alexnet-cifar")
    tech = tech_of("sram-dimc")
    d = sparsity_densities("measured", net, tech, proto)
    np.testing.assert_allclose(d.weight_density, 0.3, atol=0.01)
    assert d.weights_measured and 0 < d.input_density[1:].mean() < 1
    assert d.bit_density.shape == (len(net.weighted_layers), tech.precision.activation_bits)
    assert d.fingerprint() == sparsity_densities("measured", net, tech, proto).fingerprint()
