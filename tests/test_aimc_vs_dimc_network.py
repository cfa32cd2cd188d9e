"""``pimtune aimc-vs-dimc network``: a tiny AIMC-vs-DIMC sweep (one CIFAR network, one
area budget, both SRAM families, quick effort) run in-process, then the network study of
its storage; the errors of a sweep not run yet and of a sweep with the wrong techs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import optuna
import pytest

from costmodel.technology import TECH_DIR
from search.cli.main import main
from search.storage.studies import open_storage
from search.sweeps.sweep import cells_of, load_inputs, run_in_process
from search.sweeps.sweep_spec import load_sweep
from search.sweeps.sweep_summary import summary_rows
from search.synth.synthesis import best_trial

NETWORK = "alexnet-cifar"
AREA = 5


def sweep_file(folder: Path, name: str = "tiny-avd", areas=(AREA,), techs=("sram-aimc", "sram-dimc"),
               db: str = "tiny-avd.db") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: tiny-avd\nnetworks: [{NETWORK}]\narea_budgets_mm2: [{', '.join(map(str, areas))}]\n"
                    f"techs: [{', '.join(techs)}]\neffort: quick\nseeds: [0]\nstorage: sqlite:///{db}\n")
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> Path:
    """The tiny sweep's file, its two cells run in-process into the storage beside it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = tmp_path_factory.mktemp("avd")
    path = sweep_file(folder)
    spec = load_sweep(path)
    cells = cells_of(spec)
    assert [c.tech for c in cells] == ["sram-aimc", "sram-dimc"]
    run_in_process(cells, load_inputs(cells), spec.storage)
    return path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("pimtune: error: aimc-vs-dimc network:") and err.count("\n") == 1, err
    return err


def test_network_study_of_a_sweep(ran, tmp_path, capsys):
    out = tmp_path / "net"
    assert main(["aimc-vs-dimc", "network", str(ran), "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    records = {r["family"]: r for r in result["records"]}
    assert sorted(records) == ["sram_aimc", "sram_dimc"] and len(result["records"]) == 2

    # every record is its cell's best design as the storage holds it
    spec = load_sweep(ran)
    storage = open_storage(spec.storage)
    for cell in cells_of(spec):
        best = best_trial(optuna.load_study(study_name=cell.study_name, storage=storage), cell.objective)
        assert best is not None, f"{cell.study_name}: no feasible design at {AREA} mm^2"
        m = best.user_attrs["metrics"]
        rec = records[cell.tech.replace("-", "_")]
        assert (rec["network"], rec["budget"], rec["tech"], rec["state"]) == (NETWORK, f"{AREA} mm2", cell.tech,
                                                                              "done")
        assert rec["tops_per_w"] == pytest.approx(best.value) == pytest.approx(m["tops_per_watt"])
        assert rec["tops"] == pytest.approx(m["tops"]) and m["tops"] > 0
        assert rec["area_mm2"] == pytest.approx(m["area_mm2"]["total"]) and 0 < rec["area_mm2"] <= AREA * 1.0001
        assert rec["tops_per_mm2"] == pytest.approx(m["tops"] / m["area_mm2"]["total"])
        assert rec["energy_j"] == pytest.approx(m["energy_j"]["total"])
        assert rec["throughput_ips"] == pytest.approx(m["throughput_ips"])
        assert rec["xbar_size"] == best.user_attrs["design"]["xbar_size"]
    assert records["sram_aimc"]["adc_bits"] >= 1 and records["sram_dimc"]["adc_bits"] is None

    files = {k: Path(v) for k, v in result["files"].items()}
    assert files["plot"] == out / "network_fronts.png"
    assert files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files["plot"].stat().st_size > 10_000
    with open(out / "network_comparison.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    a, d = records["sram_aimc"], records["sram_dimc"]
    assert (row["network"], row["budget"]) == (NETWORK, f"{AREA} mm2")
    assert float(row["tops_per_w_ratio"]) == pytest.approx(a["tops_per_w"] / d["tops_per_w"])
    assert float(row["tops_per_mm2_ratio"]) == pytest.approx(a["tops_per_mm2"] / d["tops_per_mm2"])
    with open(out / "network_records.csv", newline="") as f:
        assert sorted(r["family"] for r in csv.DictReader(f)) == ["AIMC", "DIMC"]
    md = (out / "network_study.md").read_text()
    assert f"| {NETWORK} | {AREA} mm2 |" in md and "TOPS/mm^2 AIMC/DIMC" in md
    assert result["comparison"][0]["tops_per_w_ratio"] == pytest.approx(a["tops_per_w"] / d["tops_per_w"])

    # the rich table names the network, the ratio and the files written
    assert main(["aimc-vs-dimc", "network", str(ran), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert NETWORK in text and "AIMC/DIMC" in text and "network_fronts.png" in text
    assert f"{a['tops_per_w'] / d['tops_per_w']:.4g}" in text


def test_summary_rows_carry_tops_and_sram_design_keys(ran):
    spec = load_sweep(ran)
    rows = summary_rows(open_storage(spec.storage), cells_of(spec))
    assert all(r["tops"] > 0 and r["buffer_kib"] for r in rows)
    assert [r["adc_bits"] is None for r in rows] == [False, True]


def test_cells_not_run_yet_are_one_line(ran, tmp_path, capsys):
    # the sweep's storage, with a second budget whose two cells never ran
    more = sweep_file(ran.parent, "more-avd", areas=(AREA, 7))
    assert main(["aimc-vs-dimc", "network", str(more), "--out", str(tmp_path / "x")]) == 2
    err = _one_line_error(capsys)
    assert "2 of 4 cells" in err and "2 not run" in err and f"run `pimtune sweep {more}` first" in err
    assert not (tmp_path / "x").exists()
    # no storage at all
    none = sweep_file(tmp_path, db="never.db")
    assert main(["aimc-vs-dimc", "network", str(none), "--out", str(tmp_path / "y")]) == 2
    err = _one_line_error(capsys)
    assert "all 2 cells" in err and "never.db" in err and "pimtune sweep" in err
    assert not (tmp_path / "never.db").exists()
    # --storage overrides the file's storage, as for pimtune sweep
    assert main(["aimc-vs-dimc", "network", str(none), "--out", str(tmp_path / "z"),
                 "--storage", load_sweep(ran).storage]) == 0


@pytest.mark.parametrize("techs, words", [
    (("sram-aimc", "reram"), "reram (analog_crossbar)"),
    (("sram-dimc",), "sram-dimc (sram_dimc)"),
    (("sram-aimc", "sram-dimc", "reram"), "needs exactly two"),
    (("sram-aimc", "aimc-copy.yaml"), "aimc-copy (sram_aimc)"),
])
def test_sweep_without_one_aimc_and_one_dimc_tech_is_one_line(tmp_path, capsys, techs, words):
    shutil.copy(TECH_DIR / "sram-aimc.yaml", tmp_path / "aimc-copy.yaml")
    path = sweep_file(tmp_path, techs=techs)
    assert main(["aimc-vs-dimc", "network", str(path), "--out", str(tmp_path / "x")]) == 2
    err = _one_line_error(capsys)
    assert words in err and "one sram_aimc and one sram_dimc" in err
    assert not (tmp_path / "tiny-avd.db").exists()


def test_records_keep_each_familys_highest_tops_per_w_over_seeds(monkeypatch):
    from search.cli import aimc_vs_dimc_cmd
    from search.sweeps.sweep_spec import SweepSpec

    spec = SweepSpec(name="s", networks=[NETWORK], power_budgets_w=[10], area_budgets_mm2=[5, 20],
                     techs=["sram-aimc", "sram-dimc"], seeds=[0, 1, 2], effort="quick")
    cells = cells_of(spec)
    values = {0: None, 1: 3.0, 2: 2.0}                # seed 0: no feasible design

    def rows(storage, cs):
        assert cs == cells
        return [{"network": NETWORK, "tops_per_watt": values[c.seed], "tops": None if values[c.seed] is None else
                 10.0 * c.seed, "area_mm2": None if values[c.seed] is None else 4.0, "throughput_ips": 1.0,
                 "energy_j": 1e-3, "seed": c.seed, "tech": c.tech} for c in cs]

    monkeypatch.setattr(aimc_vs_dimc_cmd, "summary_rows", rows)
    fams = {"sram-aimc": "sram_aimc", "sram-dimc": "sram_dimc"}
    recs = aimc_vs_dimc_cmd.network_records(None, cells, fams)
    assert [(r["budget"], r["family"]) for r in recs] == [(b, f) for b in ("10 W, 5 mm2", "10 W, 20 mm2")
                                                          for f in ("sram_aimc", "sram_dimc")]
    assert all(r["seed"] == 1 and r["tops_per_w"] == 3.0 and r["tops_per_mm2"] == 2.5 for r in recs)
    values.update({1: None, 2: None})                 # no seed has a design: one record of Nones
    recs = aimc_vs_dimc_cmd.network_records(None, cells, fams)
    assert len(recs) == 4 and all(r["tops_per_w"] is None and r["tops_per_mm2"] is None for r in recs)
