"""The AIMC-vs-DIMC study: the macro-space grid, the Pareto front, the reports and the command."""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.pareto import dominated_by, pareto_front
from costmodel.families.sram.macro import MacroBatch, macro_costs
from costmodel.families.sram.macro_space import (MacroGrid, evaluate_space, grid_batch, lossless_adc_bits,
                                        lossless_subset)
from costmodel.families.sram.technology import check_geometry_family
from costmodel.technology import load_technology
from search.cli.main import main
from search.reports.family_fronts import check_records, comparison_rows, network_study

TECHS = {name: load_technology(name) for name in ("sram-aimc", "sram-dimc")}
SPACES = {name: evaluate_space(tech) for name, tech in TECHS.items()}


# --- the grid -----------------------------------------------------------------------------
def test_grid_is_the_full_product_of_the_axes():
    aimc, dimc = SPACES["sram-aimc"], SPACES["sram-dimc"]
    assert len(aimc) == 6 * 5 * 4 * 6 == MacroGrid().size(True)
    assert len(dimc) == 6 * 5 * 4 == MacroGrid().size(False)
    got = set(zip(aimc.rows, aimc.cols, aimc.input_bits_per_cycle, aimc.adc_bits))
    assert got == set(itertools.product((32, 64, 128, 256, 512, 1024), (32, 64, 128, 256, 512), (1, 2, 4, 8),
                                        (3, 4, 5, 6, 7, 8)))
    assert set(dimc.adc_bits) == {0}
    b = grid_batch(TECHS["sram-aimc"])
    assert np.all(b.cell_area_um2 == TECHS["sram-aimc"].cell.area_um2) and TECHS["sram-aimc"].cell.area_um2 > 0


@pytest.mark.parametrize("name", sorted(TECHS))
def test_vectorised_grid_equals_one_design_at_a_time(name):
    tech, space = TECHS[name], SPACES[name]
    picks = np.random.default_rng(7).choice(len(space), size=12, replace=False)
    for i in picks:
        geom = type(tech.macro).model_validate(tech.macro.model_dump() | {
            "rows": int(space.rows[i]), "cols": int(space.cols[i]), "banks": 1, "weight_bits": 8,
            "activation_bits": 8, "input_bits_per_cycle": int(space.input_bits_per_cycle[i]),
            "adc_bits": int(space.adc_bits[i]) if tech.is_analog else None})
        check_geometry_family(geom, tech.family)
        one = macro_costs(tech, MacroBatch.from_geometries(tech, [geom])).summary(0)
        assert space.tops_per_w[i] == pytest.approx(one["peak_tops_per_w"], rel=1e-12)
        assert space.tops_per_mm2[i] == pytest.approx(one["peak_tops_per_mm2"], rel=1e-12)
        assert space.area_mm2[i] == pytest.approx(one["area_mm2"], rel=1e-12)
        assert space.energy_per_cycle_pj[i] == pytest.approx(one["energy_per_cycle_pj"], rel=1e-12)
        assert space.tclk_ns[i] == pytest.approx(one["tclk_ns"], rel=1e-12)


def test_cell_area_override_changes_only_the_area():
    tech = TECHS["sram-dimc"]
    grid = MacroGrid(rows=(64,), cols=(32,), input_bits_per_cycle=(1,))
    with_cells, without = evaluate_space(tech, grid), evaluate_space(tech, grid, cell_area_um2=0.0)
    assert with_cells.area_mm2[0] - without.area_mm2[0] == pytest.approx(64 * 32 * 8 * tech.cell.area_um2 * 1e-6)
    assert with_cells.tops_per_w[0] == without.tops_per_w[0]


@pytest.mark.parametrize("grid, analog", [
    (MacroGrid(rows=(48,)), True), (MacroGrid(input_bits_per_cycle=(3,)), True),
    (MacroGrid(input_bits_per_cycle=(1, 2, 4, 8, 16)), False), (MacroGrid(rows=(1,)), False)])
def test_invalid_grids_are_refused(grid, analog):
    with pytest.raises(ValueError):
        grid.check(analog)


def test_lossless_adc_rule():
    assert lossless_adc_bits(128, 2) == 8
    assert lossless_adc_bits(32, 1) == 5
    assert lossless_adc_bits(256, 2, cell_bits=2) == 11
    assert lossless_adc_bits(np.array([64, 1024]), np.array([1, 8])).tolist() == [6, 17]
    aimc = SPACES["sram-aimc"]
    sub = lossless_subset(aimc)
    assert 0 < len(sub) < len(aimc)
    assert np.all(sub.adc_bits >= np.log2(sub.rows) + sub.input_bits_per_cycle - 1)
    assert lossless_subset(SPACES["sram-dimc"]) is None


# --- the Pareto front ---------------------------------------------------------------------
def brute_dominated(x, y, i, j) -> bool:
    """j dominates i."""
    return x[j] >= x[i] and y[j] >= y[i] and (x[j] > x[i] or y[j] > y[i])


points = st.lists(st.tuples(st.one_of(st.integers(0, 6).map(float), st.floats(-1e3, 1e3)),
                            st.one_of(st.integers(0, 6).map(float), st.floats(-1e3, 1e3))),
                  min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(points)
def test_front_is_exactly_the_non_dominated_points(pts):
    x, y = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    front = pareto_front(x, y)
    on = set(front.tolist())
    assert len(on) == len(front)
    n = len(x)
    for i in range(n):
        dominated = any(brute_dominated(x, y, i, j) for j in range(n))
        assert (i in on) == (not dominated)
        if i not in on:                                   # dominated by some front point
            assert any(brute_dominated(x, y, i, j) for j in front)
    assert np.all(np.diff(x[front]) >= 0) and np.all(np.diff(y[front]) <= 0)
    assert np.array_equal(dominated_by(x, y, front), np.array([i not in on for i in range(n)]))


def test_front_skips_non_finite_points_and_keeps_ties():
    x = np.array([1.0, 2.0, np.nan, 2.0, 0.5, np.inf])
    y = np.array([3.0, 1.0, 9.0, 1.0, 0.5, 1.0])
    assert pareto_front(x, y).tolist() in ([0, 1, 3], [0, 3, 1])


def test_space_front_and_bests():
    for space in SPACES.values():
        dom = dominated_by(space.tops_per_mm2, space.tops_per_w, space.front)
        assert len(space.front) and not dom[space.front].any() and dom[~space.on_front].all()
        assert space.best("tops_per_w")["tops_per_w"] == space.tops_per_w.max()
        assert space.best("tops_per_mm2")["tops_per_mm2"] == space.tops_per_mm2.max()


# --- the command --------------------------------------------------------------------------
def test_macro_command_writes_its_files(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["aimc-vs-dimc", "macro", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    png = out / "macro_space.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "macro_space.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == MacroGrid().size(True) + MacroGrid().size(False)
    assert {r["family"] for r in rows} == {"sram_aimc", "sram_dimc"}
    assert sum(r["on_front"] == "True" for r in rows) == sum(len(s.front) for s in SPACES.values())
    md = (out / "macro_fronts.md").read_text()
    for words in ("AIMC Pareto front", "DIMC Pareto front", "Which family dominates where", "AIMC / DIMC", "DIMC4"):
        assert words in md
    fams = summary["families"]
    assert fams["AIMC"]["best_tops_per_w"]["tops_per_w"] == pytest.approx(SPACES["sram-aimc"].tops_per_w.max())
    assert fams["DIMC"]["best_tops_per_mm2"]["tops_per_mm2"] == pytest.approx(SPACES["sram-dimc"].tops_per_mm2.max())
    assert set(summary["comparisons"]) == {"all designs", "AIMC with a lossless ADC"}


def test_macro_command_takes_a_smaller_grid(tmp_path, capsys):
    out = tmp_path / "small"
    assert main(["aimc-vs-dimc", "macro", "--out", str(out), "--rows", "64,128", "--cols", "32",
                 "--input-bits", "1,2", "--adc-bits", "5", "--no-chips"]) == 0
    assert "joint front" in capsys.readouterr().out
    with open(out / "macro_space.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2 * 1 * 2 * 1 + 2 * 1 * 2


@pytest.mark.parametrize("argv, words", [
    (["--aimc-tech", "sram-dimc"], "expected sram_aimc"),
    (["--rows", "48"], "powers of two"),
    (["--input-bits", "3"], "divide"),
])
def test_macro_command_one_line_errors(tmp_path, capsys, argv, words):
    assert main(["aimc-vs-dimc", "macro", "--out", str(tmp_path / "x"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pimtune: error:") and words in err and "\n" not in err


# --- the network-level report -------------------------------------------------------------
def records():
    out = []
    for fam, scale in (("sram_aimc", 2.0), ("sram_dimc", 1.0)):
        for net, k in (("resnet18", 1.0), ("vgg16", 3.0)):
            for budget, a in (("20 mm2", 20.0), ("50 mm2", 50.0)):
                out.append({"family": fam, "network": net, "budget": budget, "tops_per_w": scale * k * a / 10,
                            "tops_per_mm2": k / scale + a / 100, "throughput_ips": 100 * k * scale,
                            "area_mm2": a, "energy_j": 1e-3 / scale})
    return out


def test_network_study_writes_plot_and_ratio_table(tmp_path):
    files = network_study(records(), tmp_path / "net")
    assert files["plot"].stat().st_size > 10_000 and files["plot"].read_bytes()[:4] == b"\x89PNG"
    md = files["markdown"].read_text()
    assert "TOPS/W AIMC/DIMC" in md and "resnet18" in md and "vgg16" in md
    with open(files["comparison_csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["network"], r["budget"]) for r in rows] == [("resnet18", "20 mm2"), ("resnet18", "50 mm2"),
                                                           ("vgg16", "20 mm2"), ("vgg16", "50 mm2")]
    for r in rows:
        assert float(r["tops_per_w_ratio"]) == pytest.approx(2.0)
        assert float(r["tops_per_w_ratio"]) == pytest.approx(float(r["aimc_tops_per_w"]) / float(r["dimc_tops_per_w"]))
        assert float(r["energy_j_ratio"]) == pytest.approx(0.5)
    with open(files["records_csv"], newline="") as f:
        assert len(list(csv.DictReader(f))) == len(records())


def test_comparison_rows_handle_gaps_and_duplicates():
    recs = records()
    recs[0] = recs[0] | {"tops_per_w": None}                                 # AIMC resnet18 20 mm2: no design
    recs.append(recs[-1] | {"tops_per_w": 1e6})                              # a second DIMC vgg16 50 mm2 record
    rows = {(r["network"], r["budget"]): r for r in comparison_rows(recs)}
    assert rows[("resnet18", "20 mm2")]["tops_per_w_ratio"] is None
    assert rows[("vgg16", "50 mm2")]["dimc_tops_per_w"] == 1e6
    with pytest.raises(ValueError, match="lacks"):
        check_records([{"family": "sram_aimc"}])
    with pytest.raises(ValueError):
        check_records([])


def test_network_plot_over_all_networks(tmp_path):
    files = network_study(records(), tmp_path, fronts="all")
    assert files["plot"].stat().st_size > 10_000
    with pytest.raises(ValueError):
        network_study(records(), tmp_path, fronts="some")
