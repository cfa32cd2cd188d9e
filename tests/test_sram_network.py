"""Whole networks on the SRAM families (costmodel/families/sram/network.py, MODEL.md section 9)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import evaluate
from costmodel.array_figures import affordable_arrays, array_figures
from costmodel.families.sram.network import sram_tables
from costmodel.random_designs import random_designs
from costmodel.reference_segments import simulate_design
from costmodel.technology import TechnologyError, load_technology, require_network_family
from onnx_frontend import load_network
from onnx_frontend.zoo import build_model
from search.cli.main import main

FAMILIES = ("sram-aimc", "sram-dimc")


@lru_cache(maxsize=None)
def net(name: str):
    return load_network(build_model(name))


@lru_cache(maxsize=None)
def chip(name: str):
    return require_network_family(load_technology(name))


@lru_cache(maxsize=None)
def scored(tech: str, network: str = "resnet18-cifar", area: float = 20.0, n: int = 200):
    designs = random_designs(net(network), chip(tech), None, n, seed=5, segmented=True, area_mm2=area)
    return designs, evaluate(net(network), chip(tech), designs, None, area_mm2=area)


@pytest.mark.parametrize("tech", FAMILIES)
def test_population_equals_one_at_a_time(tech):
    designs, res = scored(tech)
    assert res.feasible.sum() >= 20
    for i in list(np.flatnonzero(res.feasible)[:6]) + list(np.flatnonzero(~res.feasible)[:2]):
        one = evaluate(net("resnet18-cifar"), chip(tech), designs.subset(i), None, area_mm2=20.0)
        assert one.reason[0] == res.reason[i]
        for k in ("latency_s", "energy_j", "area_mm2", "interval_s"):
            assert getattr(one, k)[0] == pytest.approx(getattr(res, k)[i], rel=1e-5)


@pytest.mark.parametrize("tech", FAMILIES)
def test_feasible_designs_keep_within_the_area(tech):
    _, res = scored(tech)
    assert (res.area_mm2[res.feasible] <= 20.0 * (1 + 1e-9)).all()


@pytest.mark.parametrize("tech", FAMILIES)
def test_energy_lands_where_the_family_spends_it(tech):
    designs, res = scored(tech)
    ok = res.feasible
    by = res.energy_by_component_j
    assert (by["adc"]["dynamic"][ok] == 0).all()          # SRAM ADCs are inside the arrays
    assert (by["sample_hold"]["dynamic"][ok] == 0).all()
    assert (by["crossbar"]["dynamic"][ok] > 0).all()
    dac = by["dac"]["dynamic"][ok]
    one_bit = designs.dac_bits[ok] == 1
    assert (dac[one_bit] == 0).all()                      # 1 input bit per cycle: no DAC
    if tech == "sram-dimc":
        assert (dac == 0).all()                           # digital: no DACs at all
    else:
        assert (dac[~one_bit] > 0).all()


@pytest.mark.parametrize("tech", FAMILIES)
def test_array_energy_is_the_macro_models_per_cycle_energy(tech):
    """A fully used array costs the macro kernel's energy per cycle, per cycle."""
    t = sram_tables(load_technology(tech))
    rows, cols = t.rows[:, None, None], t.cols[:, None, None]
    full = rows * t.row_nj + rows * cols * t.cell_nj + cols * t.column_nj
    from costmodel.families.sram.macro import MacroBatch, macro_costs
    from costmodel.families.sram.technology import MacroGeometry
    sram = load_technology(tech)
    for i, j, k in [(0, 0, 0), (2, 1, len(t.adc_bits) - 1), (len(t.rows) - 1, len(t.input_bits) - 1, 0)]:
        geom = sram.macro.model_copy(update={"rows": int(t.rows[i]), "cols": int(t.cols[i]), "banks": 1,
                                             "input_bits_per_cycle": int(t.input_bits[j]),
                                             "adc_bits": int(t.adc_bits[k]) if sram.is_analog else None})
        MacroGeometry.model_validate(geom.model_dump())
        c = macro_costs(sram, MacroBatch.from_geometries(sram, [geom]))
        assert full[i, j, k] == pytest.approx(c.energy_per_cycle_pj[0] * 1e-3, rel=1e-9)
        assert t.tclk_ns[i, j, k] == pytest.approx(c.tclk_ns[0], rel=1e-12)
        assert t.area_mm2[i, j, k] == pytest.approx(c.total_area_mm2[0], rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(FAMILIES), st.floats(1.0, 50.0), st.floats(1.01, 4.0), st.integers(0, 10**6))
def test_more_area_never_buys_fewer_arrays(tech, area, factor, seed):
    t = chip(tech)
    rng = np.random.default_rng(seed)
    n = 16
    g = {"rram_ratio": rng.uniform(0.1, 0.9, n), "xbar_size": rng.choice(t.xbar_sizes, n),
         "cell_bits": np.full(n, t.cell_bits_options[0]), "dac_bits": rng.choice(t.dac_bits_options, n),
         "adc_bits": np.zeros(n, int)}
    small, large = affordable_arrays(t, g, None, area), affordable_arrays(t, g, None, area * factor)
    assert (large >= small).all()
    a = array_figures(t, g)
    assert (small * a.array_area_mm2 <= g["rram_ratio"] * area * (1 + 1e-9)).all()


@pytest.mark.parametrize("tech", FAMILIES)
def test_reference_scheduler_agrees(tech):
    designs, res = scored(tech, area=5.0)
    for i in np.flatnonzero(res.feasible)[:4]:
        sim = simulate_design(res.resolved, int(i), designs.dataflow[i])
        assert res.latency_s[i] == pytest.approx(sim.latency_ns * 1e-9, rel=0.10)
        assert res.energy_j[i] == pytest.approx(sim.energy_nj * 1e-9, rel=0.05)


def test_a_chip_file_without_a_chip_section_says_what_to_copy():
    with pytest.raises(TechnologyError, match="no 'chip:' section.*copy the 'chip:' section from the bundled file"):
        require_network_family(load_technology("chips/dimc3"))


@pytest.mark.parametrize("tech, key, value, words", [
    ("sram-dimc", "input_bits_per_cycle_options", [1, 3], "do not divide macro.activation_bits"),
    ("sram-dimc", "adc_bits_options", [4], "has no ADC; remove chip.adc_bits_options"),
    ("sram-dimc", "adc_bits_rule", "lossless", "has no ADC; remove chip.adc_bits_options and chip.adc_bits_rule"),
    ("sram-aimc", "adc_bits_options", None, "chip.adc_bits_options is required"),
    ("sram-aimc", "adc_bits_rule", None, "chip.adc_bits_rule is required"),
    ("sram-aimc", "adc_bits_rule", "free", "'lossless' or 'searched'"),
    ("sram-aimc", "arrays", [{"rows": 100, "cols": 64}], "power of two"),
    ("sram-aimc", "arrays", [{"rows": 64, "cols": 64}, {"rows": 64, "cols": 32}], "one shape per rows value"),
    ("sram-aimc", "cell_leakage_nw", -1, "greater than or equal to 0"),
    ("sram-dimc", "cell_leakage_nw", "lots", "valid number"),
    ("sram-dimc", "max_arrays_per_macro", 0, "greater than 0"),
    ("sram-dimc", "input_bus_width_bits", -8, "greater than 0"),
    ("sram-dimc", "input_bus_clock_ghz", 0, "greater than 0"),
    ("sram-dimc", "input_register_steps", 3, "1 or 2"),
    ("sram-dimc", "array_shares", [0.5, 1.2], "fractions in (0, 1)"),
    ("sram-dimc", "array_shares", [0.5, 0.3], "ascending"),
    ("sram-dimc", "array_shares", [], "at least 1"),
    ("sram-dimc", "arrays", [], "at least 1"),
    ("sram-dimc", "input_bits_per_cycle_options", [1, 2, 2], "ascending distinct"),
])
def test_bad_chip_values_give_one_line(tmp_path, tech, key, value, words):
    import yaml
    from costmodel.technology import TECH_DIR
    data = yaml.safe_load((TECH_DIR / f"{tech}.yaml").read_text())
    data["chip"][key] = value
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TechnologyError) as err:
        load_technology(str(path))
    assert words in str(err.value) and "\n" not in str(err.value) and "chip" in str(err.value)


@pytest.mark.parametrize("tech", FAMILIES)
def test_synth_end_to_end(tmp_path, monkeypatch, capsys, tech):
    monkeypatch.chdir(tmp_path)
    assert main(["synth", "alexnet-cifar", "--tech", tech, "--power", "2", "--effort", "quick",
                 "--out", str(tmp_path / "out"), "--json"]) == 0
    import json
    summary = json.loads(capsys.readouterr().out)
    design = json.loads((tmp_path / "out" / "design.json").read_text())
    assert "adc_bits" not in design                      # lossless AIMC derives it, DIMC has none
    arrays = summary["best"]["arrays"]
    assert ("ADCs" in arrays) == (tech == "sram-aimc") and "SRAM arrays" in arrays
    assert "isaac is a ReRAM crossbar organisation" in json.dumps(summary)


def test_lossless_adcs_resolve_every_partial_sum():
    """log2(rows) + input bits - 1 bits, the smallest offered at least that; none: infeasible."""
    t = chip("sram-aimc")
    offered = t.sram.chip.adc_bits_options
    rows = np.array(t.xbar_sizes)
    g = {"rram_ratio": np.full(len(rows), 0.3), "xbar_size": rows, "cell_bits": np.full(len(rows), 8),
         "dac_bits": np.full(len(rows), 2)}
    a = array_figures(t, g)
    need = np.log2(rows).astype(int) + 2 - 1
    fits = need <= max(offered)
    assert (a.no_adc == ~fits).all()
    assert (a.adc_bits[fits] == [min(b for b in offered if b >= k) for k in need[fits]]).all()
    assert a.adc_bits[list(rows).index(128)] == 8                 # the published regression point's ADC
    designs, res = scored("sram-aimc")
    lossless = array_figures(t, designs)
    assert (res.reason[lossless.no_adc] == 2).all()               # adc_resolution


def test_searched_adcs_are_a_design_variable(tmp_path):
    import yaml
    from costmodel.technology import TECH_DIR
    from space import DesignSpace
    data = yaml.safe_load((TECH_DIR / "sram-aimc.yaml").read_text())
    data["chip"]["adc_bits_rule"] = "searched"
    path = tmp_path / "aimc-searched.yaml"
    path.write_text(yaml.safe_dump(data))
    tech = load_technology(str(path))
    space = DesignSpace.for_network(net("resnet18-cifar"), tech, None, area_mm2=20.0)
    assert space.columns[space.index["adc_bits"]].choices == tuple(data["chip"]["adc_bits_options"])
    assert "adc_bits" not in DesignSpace.for_network(net("resnet18-cifar"), "sram-aimc", None, area_mm2=20.0).index
    designs = random_designs(net("resnet18-cifar"), require_network_family(tech), None, 50, seed=1,
                             segmented=True, area_mm2=20.0)
    assert set(designs.adc_bits.tolist()) <= set(data["chip"]["adc_bits_options"])
    res = evaluate(net("resnet18-cifar"), tech, designs, None, area_mm2=20.0)
    assert res.feasible.any()
    few = designs.subset(np.flatnonzero(res.feasible)[:1])
    few.adc_bits[:] = 0
    with pytest.raises(Exception, match="need adc_bits"):
        evaluate(net("resnet18-cifar"), tech, few, None, area_mm2=20.0)

