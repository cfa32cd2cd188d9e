"""Bad input of every class, as a user meets it on the command line: exit 2, exactly one
``pimtune: error: ...`` line on stderr and no traceback, and stored data left untouched
(a storage holding a finished study and a foreign SQLite file are hashed before and after)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from search.cli.main import main
from search.storage.studies import open_storage

PEER = "alexnet-cifar"


@pytest.fixture
def world(tmp_path, monkeypatch, alexnet, tech):
    """A working folder with a storage holding a study, a foreign SQLite file, a good
    design file, a sweep file in a subfolder and a plain file, entered as the cwd."""
    monkeypatch.chdir(tmp_path)
    study = optuna.create_study(study_name="kept", storage=open_storage(f"sqlite:///{tmp_path / 'kept.db'}"))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    conn = sqlite3.connect(tmp_path / "foreign.db")
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    from costmodel import reference_design, save_design
    save_design(tmp_path / "good.json", reference_design("heuristic", alexnet, tech, 20.0), 0, alexnet)
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "s.yaml").write_text(
        f"name: s\nnetworks: [{PEER}]\npower_budgets_w: [10]\neffort: quick\nstorage: sqlite:///s.db\n")
    (tmp_path / "a-file").write_text("not a folder\n")
    return tmp_path


def design_with(world: Path, **changes) -> str:
    d = json.loads((world / "good.json").read_text())
    d.update(changes)
    path = world / "bad.json"
    path.write_text(json.dumps(d))
    return str(path)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file's hash; a SQLite database's by its rows and journal mode (its -wal and
    -shm files come and go as it is read)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.suffix in (".db-wal", ".db-shm") or p.name.endswith(("-wal", "-shm")):
            continue
        data = p.read_bytes()
        if p.suffix == ".db" and data.startswith(b"SQLite format 3"):
            conn = sqlite3.connect(f"{p.as_uri()}?mode=ro", uri=True)
            data = "\n".join([*conn.iterdump(), str(conn.execute("PRAGMA journal_mode").fetchone())]).encode()
            conn.close()
        out[str(p.relative_to(folder))] = hashlib.sha1(data).hexdigest()
    return out


def write(world: Path, name: str, data: bytes) -> str:
    (world / name).write_bytes(data)
    return str(world / name)


EVALUATE = ["evaluate", PEER, "--power", "20", "--design"]
CASES = {
    # design files
    "dup fraction": (lambda w: EVALUATE + [design_with(w, dup=[2.5] + [1] * 7)], "key 'dup[0]': must be a whole number"),
    "dup zero": (lambda w: EVALUATE + [design_with(w, dup=[0] + [1] * 7)], "key 'dup[0]'"),
    "rram_ratio NaN": (lambda w: EVALUATE + [design_with(w, rram_ratio=float("nan"))], "key 'rram_ratio': must be a finite"),
    "rram_ratio 1.5": (lambda w: EVALUATE + [design_with(w, rram_ratio=1.5)], "key 'rram_ratio': must be less than 1"),
    "unknown key": (lambda w: EVALUATE + [design_with(w, dupp=[1])], "unknown key 'dupp'"),
    "other network": (lambda w: EVALUATE + [design_with(w, network="vgg16")], "made for network 'vgg16'"),
    "renamed layer": (lambda w: EVALUATE + [design_with(w, layers=["c1"] + json.loads(
        (w / "good.json").read_text())["layers"][1:])], "weighted layer 0 is 'c1'"),
    # models
    "model not ONNX": (lambda w: ["inspect", write(w, "m.onnx", b"\x08\x07garbage")], "not a readable ONNX model"),
    "model missing": (lambda w: ["inspect", "nope.onnx"], "nope.onnx: no such file"),
    # budgets
    "budget negative": (lambda w: EVALUATE[:3] + ["-5", "--design", "heuristic"], "positive, finite number of W"),
    "budget nan": (lambda w: EVALUATE[:3] + ["nan", "--design", "heuristic"], "positive, finite number of W"),
    "budget absurd": (lambda w: EVALUATE[:3] + ["1e9", "--design", "heuristic"], "beyond any single chip"),
    "budget text": (lambda w: EVALUATE[:3] + ["49W", "--design", "heuristic"], "expected a power budget in W"),
    "area negative": (lambda w: ["evaluate", PEER, "--area", "-3", "--design", "heuristic"],
                      "positive, finite number of mm^2"),
    "area absurd": (lambda w: ["synth", PEER, "--area", "1e9"], "beyond any single chip"),
    "no budget": (lambda w: ["synth", PEER, "--effort", "quick"], "no budget: give --power W"),
    "sweep area budget": (lambda w: ["sweep", write(w, "a.yaml", f"name: a\nnetworks: [{PEER}]\narea_budgets_mm2: [0]\n"
                                                    .encode()), "--summary"], "area_budgets_mm2[0]"),
    # text files and folders
    "design not UTF-8": (lambda w: EVALUATE + [write(w, "l.json", '{"format": "\u00e9"}'.encode("latin-1"))],
                         "not UTF-8 text"),
    "tech not UTF-8": (lambda w: EVALUATE[:-1] + ["--design", "heuristic", "--tech",
                                                  write(w, "t.yaml", "name: r\u00e9".encode("latin-1"))], "not UTF-8 text"),
    "sweep not UTF-8": (lambda w: ["sweep", write(w, "x.yaml", "name: \u00e9".encode("latin-1")), "--summary"],
                        "not UTF-8 text"),
    "--out is a file": (lambda w: ["synth", PEER, "--power", "20", "--out", "a-file", "--storage",
                                   "sqlite:///kept.db", "--study-name", "kept"], "--out a-file: is a file"),
    "compare --out is a file": (lambda w: ["compare", PEER, "--power", "20", "--samplers", "random", "--trials", "1",
                                           "--seeds", "1", "--out", "a-file"], "--out a-file: is a file"),
    # storages
    "foreign SQLite": (lambda w: ["synth", PEER, "--power", "20", "--storage", "sqlite:///foreign.db"],
                       "holds tables of another program (customers)"),
    "not SQLite": (lambda w: ["synth", PEER, "--power", "20", "--storage", "sqlite:///a-file"], "not a SQLite database"),
    "in-memory synth": (lambda w: ["synth", PEER, "--power", "20", "--storage", "sqlite://"], "in-memory database"),
    "in-memory sweep": (lambda w: ["sweep", "sweeps/s.yaml", "--storage", "sqlite:///:memory:"], "in-memory database"),
    "foreign study name": (lambda w: ["synth", PEER, "--power", "20", "--effort", "quick", "--storage",
                                      "sqlite:///kept.db", "--study-name", "kept"], "pick another --study-name"),
    # sweep paths
    "sweep storage is relative to the file": (lambda w: ["sweep", "sweeps/s.yaml", "--summary"],
                                              "/sweeps/s.db: no such file"),
    "summary of a storage without the sweep": (lambda w: ["sweep", "sweeps/s.yaml", "--summary", "--storage",
                                                          "sqlite:///kept.db"], "nothing to summarise"),
    "resume of a storage without the sweep": (lambda w: ["sweep", "sweeps/s.yaml", "--resume", "--storage",
                                                         "sqlite:///kept.db"], "nothing to resume"),
    # usage
    "usage": (lambda w: ["synth", "--power"], "synth: argument --power: expected one argument"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_touches_nothing(world, capsys, case):
    argv, words = CASES[case]
    argv = argv(world)
    before = snapshot(world)
    try:
        code = main(argv)
    except SystemExit as exc:                                  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    errors = [l for l in err.splitlines() if "error" in l.lower()]
    assert code == 2, err
    assert len(errors) == 1 and errors[0].startswith("pimtune: error: ") and err.rstrip().endswith(errors[0]), err
    assert words in errors[0], err
    assert "Traceback" not in err
    assert snapshot(world) == before, "stored data changed"
    assert not (world / "sweeps" / "s.db").exists()


def test_version_and_usage_in_a_fresh_process():
    run = [sys.executable, "-m", "search.cli.main"]
    out = subprocess.run(run + ["--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("pimtune ")
    bad = subprocess.run(run + ["evaluate", "alexnet-cifar", "--power", "inf", "--design", "isaac"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.splitlines()[-1].startswith("pimtune: error: evaluate: argument --power")
