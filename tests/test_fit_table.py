"""Tables at 80 columns (and narrower): every value whole, no line too long."""

from __future__ import annotations

import json
import random
import re

import pytest
from rich.table import Table

from search.cli.fit_table import FittingConsole
from search.cli.main import main

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:e[+-]\d+)?")


def rendered(table: Table, width: int) -> list[str]:
    con = FittingConsole(width=width, record=True, file=open("/dev/null", "w"))
    con.print(table)
    return con.export_text().splitlines()


def random_table(rng: random.Random, columns: int, rows: int) -> Table:
    table = Table(title="a table of random numbers")
    for c in range(columns):
        table.add_column(rng.choice(["#", "layer name", "busy of interval (%)", "energy (J)", "x"]) + str(c),
                         justify=rng.choice(["left", "right"]))
    for r in range(rows):
        table.add_row(f"row{r}", *(rng.choice([f"{rng.uniform(-1e6, 1e6):.6g}", f"{rng.random():.3e}",
                                               f"{rng.randrange(10 ** rng.randrange(1, 9)):,}", "31.4 W / 48.9 W"])
                                   for _ in range(columns - 1)))
    return table


@pytest.mark.parametrize("width", [24, 40, 60, 80, 120])
def test_every_cell_is_shown_whole(width):
    rng = random.Random(width)
    for _ in range(20):
        table = random_table(rng, rng.randrange(1, 16), rng.randrange(1, 6))
        lines = rendered(table, width)
        text = "\n".join(lines)
        assert max(len(l) for l in lines) <= width and "…" not in text
        for col in table.columns:
            for cell in col._cells:
                for word in cell.split():
                    assert re.search(rf"(?<![\d.e+-]){re.escape(word)}(?![\d.e+-])", text), (word, width)


def test_a_table_that_fits_is_unchanged():
    table = Table("a", "b")
    table.add_row("1.5", "2")
    assert rendered(table, 80) == rendered(table, 200)


def cli_lines(capsys, monkeypatch, width: int, *argv: str) -> tuple[int, list[str]]:
    monkeypatch.setenv("COLUMNS", str(width))
    code = main(list(argv))
    return code, capsys.readouterr().out.splitlines()


def test_evaluate_at_80_columns_shows_every_number_of_the_wide_report(capsys, monkeypatch):
    argv = ("evaluate", "vgg16", "--power", "49", "--design", "heuristic")
    _, wide = cli_lines(capsys, monkeypatch, 250, *argv)
    code, narrow = cli_lines(capsys, monkeypatch, 80, *argv)
    assert code == 0 and max(len(l) for l in narrow) <= 80 and "…" not in "\n".join(narrow)
    assert max(len(l) for l in wide) > 80                       # the report is wide indeed
    assert set(NUMBER.findall("\n".join(wide))) <= set(NUMBER.findall("\n".join(narrow)))


@pytest.mark.parametrize("argv,value", [
    (("synth", "alexnet-cifar", "--power", "20", "--effort", "quick", "--jobs", "1"),
     lambda r: f"{r['best']['tops_per_watt']:.4f}"),
    (("search", "alexnet-cifar", "--power", "20", "--sampler", "ea", "--trials", "80", "--seed", "3"),
     lambda r: f"{r['best']['metrics']['tops_per_watt']:.4g}"),
    (("compare", "alexnet-cifar", "--power", "20", "--samplers", "random,ea", "--trials", "60", "--seeds", "1",
      "--jobs", "1"),
     lambda r: f"{r['samplers']['ea']['best']:.4f}"),
])
def test_commands_at_80_columns(capsys, monkeypatch, tmp_path, argv, value):
    out = ("--out", str(tmp_path / "o")) if argv[0] in ("synth", "compare") else ()
    monkeypatch.setenv("COLUMNS", "80")
    assert main([*argv, *out, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    code, lines = cli_lines(capsys, monkeypatch, 80, *argv, *out)
    text = "\n".join(lines)
    assert code == 0 and max(len(l) for l in lines) <= 80 and "…" not in text
    assert value(report) in text
