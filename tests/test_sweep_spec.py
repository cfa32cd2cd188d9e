"""Sweep files: the shipped ones validate; each kind of bad input is refused in one line
naming the file, the key and the allowed values; cells and their study names."""

from __future__ import annotations

from pathlib import Path

import pytest

from onnx_frontend.zoo import save_model
from search.sweeps.sweep import cells_of
from search.sweeps.sweep_spec import SweepError, load_sweep

STUDIES = Path(__file__).resolve().parents[1] / "studies"
GOOD = "name: s\nnetworks: [alexnet-cifar]\npower_budgets_w: [10]\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


def refused(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(SweepError) as info:
        load_sweep(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg
    return msg


@pytest.mark.parametrize("name", ["quick-sweep.yaml", "pimsyn-benchmarks.yaml"])
def test_shipped_sweeps_validate(name):
    spec = load_sweep(STUDIES / name)
    cells = cells_of(spec)
    assert len({c.study_name for c in cells}) == len(cells)


def test_quick_sweep_is_twenty_quick_cells():
    spec = load_sweep(STUDIES / "quick-sweep.yaml")
    assert len(cells_of(spec)) == 20 and spec.effort == "quick"


def test_pimsyn_benchmarks_cover_the_five_networks():
    spec = load_sweep(STUDIES / "pimsyn-benchmarks.yaml")
    assert set(spec.networks) == {"alexnet", "vgg13", "vgg16", "msra-a", "resnet18"}
    assert len(spec.power_budgets_w) >= 3


def test_defaults_and_study_names(tmp_path):
    spec = load_sweep(write(tmp_path, GOOD))
    assert (spec.techs, spec.effort, spec.outer, spec.seeds) == (["reram"], "default", "grid", [0])
    (cell,) = cells_of(spec)
    assert cell.study_name == "s/alexnet-cifar-10W-reram-specialised-tops_per_watt-grid-default-s0"
    spec = load_sweep(write(tmp_path, GOOD + "options: [{macros: identical, sharing: false}]\nouter: tpe\n"
                                             "outer_trials: 12\nseeds: [3]\n"))
    assert cells_of(spec)[0].study_name == "s/alexnet-cifar-10W-reram-identical-noshare-tops_per_watt-tpe12-default-s3"


def test_cells_are_the_product(tmp_path):
    spec = load_sweep(write(tmp_path, "name: s\nnetworks: [alexnet-cifar, vgg16-cifar]\npower_budgets_w: [10, 20, 30]\n"
                                      "options: [{sharing: true}, {sharing: false}]\nseeds: [0, 1]\n"))
    assert len(cells_of(spec)) == 2 * 3 * 2 * 2


def test_relative_files_resolve_against_the_sweep_folder(tmp_path):
    (tmp_path / "nets").mkdir()
    save_model("alexnet-cifar", tmp_path / "nets" / "mine.onnx")
    spec = load_sweep(write(tmp_path, "name: s\nnetworks: [nets/mine.onnx]\npower_budgets_w: [10]\n"))
    assert spec.networks == [str((tmp_path / "nets" / "mine.onnx").resolve())]
    assert cells_of(spec)[0].study_name.startswith("s/mine-10W-")


@pytest.mark.parametrize("text, expected", [
    (GOOD + "effort: fast\n", "key 'effort': 'fast' is not allowed; choose from quick, default, thorough"),
    (GOOD + "outer: bayes\n", "key 'outer': 'bayes' is not allowed; choose from grid, tpe, random"),
    (GOOD + "objective: area\n", "key 'objective': 'area' is not allowed; choose from tops_per_watt, tops_per_watt_single, throughput, edp"),
    (GOOD + "options: [{macros: shared}]\n",
     "key 'options[0].macros': 'shared' is not allowed; choose from specialised, identical"),
    (GOOD + "options: [{macro: identical}]\n", "unknown key 'options[0].macro'; allowed keys: macros, sharing"),
    (GOOD + "budget: 3\n", "unknown key 'budget'; allowed keys: name, networks, power_budgets_w, area_budgets_mm2, "
                          "techs"),
    ("name: s\nnetworks: [alexnet-cifar]\n", "no budget: give power_budgets_w (W), area_budgets_mm2 (mm^2) or both"),
    ("name: s\nnetworks: [alexnet-cifar]\narea_budgets_mm2: [100, 0]\n",
     "key 'area_budgets_mm2[1]': the area budget must be a positive, finite number of mm^2 (got 0)"),
    ("name: s\nnetworks: [alexnet-cifar]\narea_budgets_mm2: [1e9]\n",
     "key 'area_budgets_mm2[0]': an area budget of 1e+09 mm^2 is beyond any single chip"),
    ("name: s\nnetworks: [alexnet-cifar]\narea_budgets_mm2: [50, 50]\n",
     "key 'area_budgets_mm2': has repeated entries"),
    ("name: s\nnetworks: [alexnet-cifar]\npower_budgets_w: [10, -5]\n",
     "key 'power_budgets_w[1]': the power budget must be a positive, finite number of W (got -5)"),
    ("name: s\nnetworks: [alexnet-cifar]\npower_budgets_w: [.nan]\n",
     "key 'power_budgets_w[0]': the power budget must be a positive, finite number of W (got nan)"),
    ("name: s\nnetworks: [alexnet-cifar]\npower_budgets_w: [49, 1e9]\n",
     "key 'power_budgets_w[1]': a power budget of 1e+09 W is beyond any single chip (at most 100000 W)"),
    ("name: s\nnetworks: [alexnet-cifar]\npower_budgets_w: [ten]\n", "key 'power_budgets_w[0]':"),
    ("name: s\nnetworks: []\npower_budgets_w: [10]\n", "key 'networks':"),
    ("name: s\nnetworks: [alexnet-cifar, alexnet-cifar]\npower_budgets_w: [10]\n",
     "key 'networks': has repeated entries; list each value once"),
    ("name: a b\nnetworks: [alexnet-cifar]\npower_budgets_w: [10]\n", "key 'name': 'a b' is not a valid name"),
    (GOOD + "outer_trials: 0\n", "key 'outer_trials':"),
    (GOOD + "seeds: [x]\n", "key 'seeds[0]':"),
])
def test_bad_values_name_the_key_and_the_allowed_values(tmp_path, text, expected):
    assert expected in refused(tmp_path, text)


def test_unknown_network_lists_the_zoo(tmp_path):
    msg = refused(tmp_path, "name: s\nnetworks: [alexnet-cifar, lenet]\npower_budgets_w: [10]\n")
    assert "key 'networks[1]': 'lenet' is neither a file" in msg and "alexnet-cifar, vgg16-cifar" in msg


def test_unknown_tech_lists_the_bundled_ones(tmp_path):
    msg = refused(tmp_path, GOOD + "techs: [sram]\n")
    assert "key 'techs[0]': 'sram' is neither a file" in msg and "reram" in msg


def test_not_yaml_or_not_a_mapping(tmp_path):
    assert "not valid YAML" in refused(tmp_path, "name: [unclosed\n")
    assert "expected a mapping with keys name, networks" in refused(tmp_path, "- a\n- b\n")


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(SweepError, match="cannot read the sweep file"):
        load_sweep(tmp_path / "nope.yaml")


@pytest.mark.parametrize("storage, expected", [
    ("sqlite:///runs/s.db", "sqlite:///{folder}/runs/s.db"),
    ("runs/s.log", "{folder}/runs/s.log"),
    ("sqlite:////abs/s.db", "sqlite:////abs/s.db"),
    ("postgresql+psycopg://u:p@host/db", "postgresql+psycopg://u:p@host/db"),
])
def test_storage_path_resolves_against_the_sweep_folder(tmp_path, storage, expected):
    """A sweep file's storage, like its networks, is relative to the file, not to the shell."""
    spec = load_sweep(write(tmp_path, GOOD + f"storage: {storage}\n"))
    assert spec.storage == expected.format(folder=tmp_path.resolve())
