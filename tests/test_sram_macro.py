"""SRAM in-memory macros (BACKGROUND.md section 9): the published regression points, the
formulas on a grid, monotonicity, the vectorised kernel against one design at a time,
and every new technology key's bad value."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.families.sram.macro import COMPONENTS, MacroBatch, macro_costs
from costmodel.families.sram.technology import MacroGeometry
from costmodel.technology import TECH_DIR, TechnologyError, load_technology

AIMC, DIMC = load_technology("sram-aimc"), load_technology("sram-dimc")


def costs(tech, cell_area_um2=None, **geometry):
    geom = tech.macro.model_copy(update=geometry)
    return macro_costs(tech, MacroBatch.from_geometries(tech, [geom], cell_area_um2)).summary(0)


@pytest.mark.parametrize("tech, published", [
    (AIMC, dict(tclk_ns=14.07, area_mm2=2.288, energy_per_cycle_pj=851, macs_per_cycle=4096, peak_tops_per_w=9.62)),
    (DIMC, dict(tclk_ns=3.757, area_mm2=0.802, energy_per_cycle_pj=547, macs_per_cycle=2048, peak_tops_per_w=7.49)),
])
def test_regression_points_within_one_percent(tech, published):
    got = costs(tech, cell_area_um2=0)
    for key, want in published.items():
        assert got[key] == pytest.approx(want, rel=0.01), key


def test_regression_point_shares():
    a, d = costs(AIMC, cell_area_um2=0), costs(DIMC, cell_area_um2=0)
    assert a["area_breakdown_mm2"]["adcs"] / a["area_mm2"] == pytest.approx(0.93, abs=0.01)
    assert a["energy_breakdown_pj"]["adcs"] / a["energy_per_cycle_pj"] == pytest.approx(0.84, abs=0.01)
    assert d["energy_breakdown_pj"]["adder_trees"] / d["energy_per_cycle_pj"] == pytest.approx(0.90, abs=0.01)
    # the bundled files carry a real bitcell: 128 x 128 x 8 cells of 0.254 um^2
    assert costs(AIMC)["area_breakdown_mm2"]["cells"] == pytest.approx(128 * 128 * 8 * 0.254e-6)


# --- the formulas, written out once more per design on a grid -----------------------
V2 = 0.81
FA_UM2, FA_FJ = 3 * 0.614 + 2 * 0.614 * 2.4, (3 * 0.7 + 2 * 1.05) * V2
DFF_UM2, DFF_FJ = 6 * 0.614, 2.1 * V2
T_IS, T_IC, T_CC = 2 * 2.4 * 0.0478, 2.4 * 0.0478 + 2 * 0.0478, 2 * 0.0478


def by_hand(analog, R, C, Bw, Ba, Bs, B):
    """Energy (pJ), area (mm^2) and clock (ns) of one macro, straight from BACKGROUND.md."""
    acc = Bs < Ba
    mults_e, mults_a = 0.5 * 0.7 * V2 * Bw * R * C * (1 if analog else Bs), 0.614 * Bw * R * C * (1 if analog else Bs)
    if analog:
        adc_e = (100 * B + 0.001 * 4 ** B) * V2 * Bw * C
        adc_a = (10 ** (-0.0369 * B + 1.206) * 2 ** B if B > 1 else 0) * Bw * C
        pv = (Bw * (math.log2(Bw) - 0.5) + B * (Bw - 1)) * C if Bw > 1 else 0
        acc_bits, pv_out = Ba + B + Bw, (B + Bw if Bw > 1 else B)
        e = adc_e + (50 * Bs * V2 * R if Bs > 1 else 0) + mults_e + 0.35 * V2 * Bw * R * C + pv * FA_FJ
        a = adc_a + mults_a + pv * FA_UM2
        t = B * (0.00653 * R + 0.640) + 0.0478
        if Bw > 1:
            t += (math.log2(Bw) - 1) * T_IS + T_IC + (Bw - 1) * T_CC
    else:
        d = math.log2(R)
        tree = (R * (Bw + 1) - (Bw + d + 1)) * Bs * C
        pv = ((Bw + d) * (Bs - 1) + Bs * (math.log2(Bs) - 0.5)) * C if Bs > 1 else 0
        acc_bits, pv_out = Ba + d + Bw, (Bw + d + Bs if Bs > 1 else Bw + d)
        e, a = mults_e + (tree + pv) * FA_FJ, mults_a + (tree + pv) * FA_UM2
        t = 0.0478 + (d - 1) * T_IS + T_IC + (Bw + d - 2) * T_CC
        if Bs > 1:
            t += (math.log2(Bs) - 1) * T_IS + T_IC + (Bs - 1) * T_CC
    if acc:
        e += acc_bits * C * (FA_FJ + DFF_FJ)
        a += acc_bits * C * (FA_UM2 + DFF_UM2)
        t += T_IC + (acc_bits - pv_out - 1) * T_CC
    return e / 1e3, a / 1e6, t


GRID = [(analog, R, C, Bw, Ba, Bs, B) for analog in (True, False) for R in (16, 128, 512) for C in (8, 100)
        for Bw in (1, 4, 8) for Ba, Bs in ((8, 1), (8, 2), (8, 8), (4, 4)) for B in ((3, 8) if analog else (None,))]


@pytest.mark.parametrize("analog, R, C, Bw, Ba, Bs, B", GRID)
def test_figures_equal_the_formulas(analog, R, C, Bw, Ba, Bs, B):
    tech = AIMC if analog else DIMC
    got = costs(tech, cell_area_um2=0, rows=R, cols=C, weight_bits=Bw, activation_bits=Ba,
                input_bits_per_cycle=Bs, adc_bits=B)
    e, a, t = by_hand(analog, R, C, Bw, Ba, Bs, B)
    assert got["energy_per_cycle_pj"] == pytest.approx(e, rel=1e-9)
    assert got["area_mm2"] == pytest.approx(a, rel=1e-9)
    assert got["tclk_ns"] == pytest.approx(t, rel=1e-9)
    assert got["macs_per_cycle"] == R * C * Bs / Ba


# --- properties -----------------------------------------------------------------------
geometries = st.fixed_dictionaries({
    "rows": st.sampled_from([2, 4, 16, 64, 256, 1024]), "cols": st.integers(1, 512), "banks": st.integers(1, 16),
    "weight_bits": st.sampled_from([1, 2, 4, 8]), "activation_bits": st.sampled_from([4, 8, 16]),
    "input_bits_per_cycle": st.sampled_from([1, 2, 4]), "adc_bits": st.integers(1, 10),
})


def batch_of(tech, geoms):
    dims = [tech.macro.model_copy(update=dict(g, adc_bits=g["adc_bits"] if tech.is_analog else None)) for g in geoms]
    return MacroBatch.from_geometries(tech, dims)


@settings(max_examples=40, deadline=None)
@given(geometries, st.sampled_from(["rows", "cols", "banks", "weight_bits", "adc_bits"]), st.booleans())
def test_monotone_where_physics_says_so(geom, key, analog):
    """More rows, columns, banks, weight bits or ADC bits never cost less area or energy
    per cycle; more rows or bits never shorten the clock; banks and columns leave it alone."""
    tech = AIMC if analog else DIMC
    bigger = dict(geom, **{key: geom[key] * 2})
    c = macro_costs(tech, batch_of(tech, [geom, bigger]))
    assert c.total_area_mm2[1] >= c.total_area_mm2[0]
    assert c.energy_per_cycle_pj[1] >= c.energy_per_cycle_pj[0]
    if key in ("banks", "cols"):
        assert c.tclk_ns[1] == pytest.approx(c.tclk_ns[0])
    else:
        assert c.tclk_ns[1] >= c.tclk_ns[0] - 1e-12
    assert c.macs_per_cycle[1] >= c.macs_per_cycle[0]


@settings(max_examples=30, deadline=None)
@given(geometries)
def test_dimc_has_no_adc_and_one_input_bit_no_dac(geom):
    d = macro_costs(DIMC, batch_of(DIMC, [geom]))
    assert d.energy_pj["adcs"][0] == 0 and d.area_mm2["adcs"][0] == 0 and d.energy_pj["dacs"][0] == 0
    a = macro_costs(AIMC, batch_of(AIMC, [dict(geom, input_bits_per_cycle=1)]))
    assert a.energy_pj["dacs"][0] == 0
    assert a.energy_pj["accumulators"][0] > 0 or geom["activation_bits"] == 1


@settings(max_examples=20, deadline=None)
@given(st.lists(geometries, min_size=1, max_size=12), st.booleans())
def test_vectorised_equals_the_per_design_loop(geoms, analog):
    tech = AIMC if analog else DIMC
    batch = batch_of(tech, geoms)
    together = macro_costs(tech, batch)
    for i in range(len(batch)):
        alone = macro_costs(tech, batch.row(i))
        assert flat(alone.summary(0)) == pytest.approx(flat(together.summary(i)), rel=1e-12)


def flat(summary: dict) -> dict:
    return {f"{k}.{kk}": vv for k, v in summary.items() for kk, vv in (v.items() if isinstance(v, dict) else [("", v)])}


def test_activity_scales_the_switching_parts():
    quiet = AIMC.model_copy(update={"activity": AIMC.activity.model_copy(
        update={"input_toggle_rate": 0.5, "weight_sparsity": 0.5})})
    full, half = costs(AIMC)["energy_breakdown_pj"], costs(quiet)["energy_breakdown_pj"]
    assert half["multipliers"] == pytest.approx(full["multipliers"] / 4)
    for part in ("adcs", "bitlines"):
        assert half[part] == pytest.approx(full[part] / 2)
    for part in ("dacs", "place_value_adders", "accumulators"):
        assert half[part] == pytest.approx(full[part])


def test_components_are_complete():
    c = macro_costs(AIMC, MacroBatch.from_geometries(AIMC, [AIMC.macro]))
    assert tuple(c.area_mm2) == tuple(c.energy_pj) == tuple(c.delay_ns) == COMPONENTS


# --- bad values in the new keys: one line each ------------------------------------
BASE = yaml.safe_load((TECH_DIR / "sram-aimc.yaml").read_text())
BASE_D = yaml.safe_load((TECH_DIR / "sram-dimc.yaml").read_text())


def leaves(data, prefix=()):
    for k, v in data.items():
        if isinstance(v, dict):
            yield from leaves(v, prefix + (k,))
        else:
            yield prefix + (k,), v


def bad_values(path, value):
    key = path[-1]
    if isinstance(value, bool):
        return ["yes please"]
    if key in ("name", "description", "family"):
        return [] if key != "family" else ["sram_quantum"]
    if key in ("area_log10_um2_offset", "area_log10_um2_per_bit"):
        return ["big"]
    if key.endswith(("_fraction", "_rate", "sparsity")):
        return [-0.1, 1.5]
    if value is None:   # adc_bits of DIMC: any value is refused; endurance_writes: null is a valid value
        return [-1, "lots"] if key == "endurance_writes" else [3]
    return [-1, "lots"]


CASES = [(base, path, bad) for base in (BASE, BASE_D) for path, value in leaves(base)
         for bad in bad_values(path, value)]


def one_line_error(tmp_path, data) -> str:
    p = tmp_path / "t.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(TechnologyError) as info:
        load_technology(p)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(p))
    return msg


@pytest.mark.parametrize("base, path, bad", CASES, ids=[f"{b['family']}:{'.'.join(p)}={v!r}" for b, p, v in CASES])
def test_every_key_refuses_a_bad_value(tmp_path, base, path, bad):
    data = copy.deepcopy(base)
    node = data
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = bad
    msg = one_line_error(tmp_path, data)
    assert path[-1] in msg or path[0] in msg or "(top level)" in msg


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["macro"].update(rows=100), "power of two"),
    (lambda d: d["macro"].update(input_bits_per_cycle=3), "must divide"),
    (lambda d: d["macro"].update(weight_bits_per_adc=3), "must divide"),
    (lambda d: d["macro"].update(adc_bits=None), "adc_bits is required"),
    (lambda d: d.pop("adc"), "needs a 'adc:'"),
    (lambda d: d["unit_gates"].update(nand2_area_mm2=1), "nand2_area_mm2"),
])
def test_inconsistent_files_name_the_rule(tmp_path, mutate, words):
    data = copy.deepcopy(BASE)
    mutate(data)
    assert words in one_line_error(tmp_path, data)


def test_dimc_refuses_converters(tmp_path):
    assert "no 'adc:'" in one_line_error(tmp_path, dict(copy.deepcopy(BASE_D), adc=BASE["adc"]))
    data = copy.deepcopy(BASE_D)
    data["macro"]["adc_bits"] = 4
    assert "no ADC" in one_line_error(tmp_path, data)


def test_geometry_model_is_the_file_schema():
    assert set(MacroGeometry.model_fields) <= set(BASE["macro"])
    assert np.isfinite(costs(DIMC)["peak_tops_per_mm2"])


# --- optional structure keys (the published chips' scripts): each changes only its parts ---
def with_keys(tech, section, **values):
    """``tech`` with ``values`` set in its ``section`` (validated like a file would be)."""
    data = tech.model_dump()
    data[section].update(values)
    return type(tech).model_validate(data)


# (tech, section, key -> value, the (kind, component) pairs it may change)
OPTIONS = [
    (AIMC, "unit_gates", {"weight_enable_cap_ff": 0.35}, {("energy_breakdown_pj", "bitlines")}),
    (with_keys(DIMC, "macro", input_bits_per_cycle=2), "macro", {"booth_encoding": True},
     {(k, p) for k in ("area_breakdown_mm2", "energy_breakdown_pj") for p in ("multipliers", "adder_trees",
                                                                              "place_value_adders")}
     # the accumulator's carry ripple starts after the (now narrower) place-value sum
     | {("tclk_breakdown_ns", p) for p in ("adder_trees", "place_value_adders", "accumulators")}),
    (AIMC, "macro", {"adc_area_bits": 10}, {("area_breakdown_mm2", "adcs")}),
    (AIMC, "macro", {"output_adder_bits": 6},
     {(k, p) for k in ("area_breakdown_mm2", "energy_breakdown_pj", "tclk_breakdown_ns")
      for p in ("adder_trees", "accumulators")}),
    (with_keys(DIMC, "macro", input_bits_per_cycle=2), "macro", {"weight_bits_per_column": 1},
     {(k, p) for k in ("area_breakdown_mm2", "energy_breakdown_pj", "tclk_breakdown_ns")
      for p in ("adder_trees", "place_value_adders")}),
    (with_keys(DIMC, "macro", weight_bits_per_column=1), "macro", {"column_adder_bits": 16},
     {(k, "place_value_adders") for k in ("area_breakdown_mm2", "energy_breakdown_pj", "tclk_breakdown_ns")}
     | {("tclk_breakdown_ns", "accumulators")}),
]


@pytest.mark.parametrize("tech, section, values, claimed", OPTIONS, ids=[str(o[2]) for o in OPTIONS])
def test_option_changes_only_its_components(tech, section, values, claimed):
    old, new = costs(tech), costs(with_keys(tech, section, **values))
    for kind in ("area_breakdown_mm2", "energy_breakdown_pj", "tclk_breakdown_ns"):
        for part in COMPONENTS:
            if (kind, part) in claimed:
                assert new[kind][part] != pytest.approx(old[kind][part]), (kind, part)
            else:
                assert new[kind][part] == old[kind][part], (kind, part)


def test_enable_line_energy_is_one_cap_per_weight():
    tech = with_keys(AIMC, "unit_gates", weight_enable_cap_ff=0.35)
    quiet = with_keys(tech, "activity", weight_sparsity=0.5)
    extra = costs(tech)["energy_breakdown_pj"]["bitlines"] - costs(AIMC)["energy_breakdown_pj"]["bitlines"]
    assert extra == pytest.approx(128 * 128 * 0.35 * V2 / 1e3)
    assert costs(quiet)["energy_breakdown_pj"]["bitlines"] == pytest.approx(costs(tech)["energy_breakdown_pj"]["bitlines"] / 2)


def test_booth_halves_the_partial_products():
    plain, booth = (costs(DIMC, cell_area_um2=0, input_bits_per_cycle=4, booth_encoding=b) for b in (False, True))
    assert booth["area_breakdown_mm2"]["multipliers"] == pytest.approx(plain["area_breakdown_mm2"]["multipliers"] / 2)
    # two trees of 128 operands of 9 bits instead of four of 8 bits, per column
    trees = lambda n, bits: n * (128 * (bits + 1) - (bits + 7 + 1))  # noqa: E731
    ratio = booth["area_breakdown_mm2"]["adder_trees"] / plain["area_breakdown_mm2"]["adder_trees"]
    assert ratio == pytest.approx(trees(2, 9) / trees(4, 8))
    assert booth["macs_per_cycle"] == plain["macs_per_cycle"]


@pytest.mark.parametrize("base, mutate, words", [
    (BASE_D, lambda m: m.update(booth_encoding=True, input_bits_per_cycle=1), "must be even"),
    (BASE, lambda m: m.update(booth_encoding=True), "sram_dimc"),
    (BASE, lambda m: m.update(adc_area_bits=4), "at least adc_bits"),
    (BASE_D, lambda m: m.update(adc_area_bits=7), "adc_area_bits must be 0"),
    (BASE_D, lambda m: m.update(output_adder_bits=6), "family sram_aimc"),
    (BASE, lambda m: m.update(weight_bits_per_column=1), "family sram_dimc"),
    (BASE_D, lambda m: m.update(weight_bits_per_column=3), "must be a power of two"),
    (BASE_D, lambda m: m.update(weight_bits_per_column=1, booth_encoding=True, input_bits_per_cycle=2),
     "whole weights per column"),
    (BASE_D, lambda m: m.update(column_adder_bits=16), "needs weight_bits_per_column"),
])
def test_option_keys_refuse_an_inconsistent_structure(tmp_path, base, mutate, words):
    data = copy.deepcopy(base)
    mutate(data["macro"])
    assert words in one_line_error(tmp_path, data)


def test_adc_area_bits_is_the_area_of_that_adc():
    wide, at_ten = costs(AIMC, adc_area_bits=10), costs(AIMC, adc_bits=10)
    assert wide["area_breakdown_mm2"]["adcs"] == pytest.approx(at_ten["area_breakdown_mm2"]["adcs"])
    assert costs(AIMC, adc_area_bits=AIMC.macro.adc_bits) == costs(AIMC)


def test_output_adder_is_one_register_less_adder_per_channel():
    got = costs(with_keys(AIMC, "activity", weight_sparsity=0.5), output_adder_bits=6)
    assert got["area_breakdown_mm2"]["accumulators"] == got["tclk_breakdown_ns"]["accumulators"] == 0
    fa_area, fa_fj = 3 * 0.614 + 2 * 2.4 * 0.614, (3 * 0.7 + 2 * 1.5 * 0.7) * V2
    assert got["area_breakdown_mm2"]["adder_trees"] == pytest.approx(6 * 128 * fa_area / 1e6)
    assert got["energy_breakdown_pj"]["adder_trees"] == pytest.approx(6 * 128 * fa_fj * 0.5 / 1e3)
    # in->cout, then 5 carry ripples (the published Adder's calculate_delay_msb)
    assert got["tclk_breakdown_ns"]["adder_trees"] == pytest.approx(0.0478 * (2.4 + 2) + 5 * 2 * 0.0478)


@pytest.mark.parametrize("base, path, bad", [
    (BASE, ("unit_gates", "weight_enable_cap_ff"), -0.1), (BASE, ("unit_gates", "weight_enable_cap_ff"), "lots"),
])
def test_option_keys_refuse_a_bad_value(tmp_path, base, path, bad):
    data = copy.deepcopy(base)
    data[path[0]][path[1]] = bad
    assert path[1] in one_line_error(tmp_path, data)


def test_weight_bits_per_column_spreads_a_weight_over_columns():
    whole = costs(DIMC, cell_area_um2=0.2, input_bits_per_cycle=2)
    got = costs(DIMC, cell_area_um2=0.2, input_bits_per_cycle=2, weight_bits_per_column=1)
    # same cells, multipliers and operations; the full weight width is a no-op
    for kind, part in (("area_breakdown_mm2", "cells"), ("area_breakdown_mm2", "multipliers")):
        assert got[kind][part] == whole[kind][part]
    assert got["macs_per_cycle"] == whole["macs_per_cycle"]
    assert costs(DIMC, weight_bits_per_column=DIMC.macro.weight_bits) == costs(DIMC)
    # per column one tree of 128 2-bit operands (2 input bits x 1 weight bit), 8 columns,
    # instead of one tree of 128 8-bit operands per input bit
    trees = lambda n, bits: n * (128 * (bits + 1) - (bits + 7 + 1))  # noqa: E731
    ratio = got["area_breakdown_mm2"]["adder_trees"] / whole["area_breakdown_mm2"]["adder_trees"]
    assert ratio == pytest.approx(trees(8, 2) / trees(2, 8))


def test_column_adder_is_a_tree_across_the_columns():
    got = costs(DIMC, weight_bits_per_column=1, column_adder_bits=16)
    fa_area = 3 * 0.614 + 2 * 2.4 * 0.614
    channels = DIMC.macro.cols * DIMC.macro.banks
    # 8 inputs of 16 bits: 8*17 - (16 + 3 + 1) full adders per output channel
    assert got["area_breakdown_mm2"]["place_value_adders"] == pytest.approx(channels * 116 * fa_area / 1e6)
    xor, nand = 2.4 * 0.0478, 0.0478
    assert got["tclk_breakdown_ns"]["place_value_adders"] == pytest.approx(2 * 2 * xor + xor + 2 * nand + 17 * 2 * nand)
