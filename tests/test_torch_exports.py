"""The frontend against files written by PyTorch's own ONNX exporter.

The fixtures in ``tests/fixtures/torch/`` were made once by ``generate.py`` there (run by
hand in a separate venv with torch; never by the tests). They are structure-only: weights
with more than 16 values are graph inputs instead of initializers. ``manifest.json`` holds,
for each file, the counts computed from the torch model itself (see its ``rules``), or the
error the frontend must raise.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import onnx
import pytest

from onnx_frontend import errors, load_network
from onnx_frontend.errors import FrontendError

FIXTURES = Path(__file__).parent / "fixtures" / "torch"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
ENTRIES = MANIFEST["fixtures"]
SUPPORTED = [e for e in ENTRIES if "expect_error" not in e]
REFUSED = [e for e in ENTRIES if "expect_error" in e]


def _ids(entries):
    return [e["name"] for e in entries]


@pytest.mark.parametrize("entry", SUPPORTED, ids=_ids(SUPPORTED))
def test_totals_match_the_torch_model(entry):
    net = load_network(FIXTURES / entry["file"])
    expected = {k: entry[k] for k in ("conv_layers", "fc_layers", "macs", "params")}
    assert net.totals() == expected


@pytest.mark.parametrize("entry", SUPPORTED, ids=_ids(SUPPORTED))
def test_input_shape_is_chw_of_one_inference(entry):
    net = load_network(FIXTURES / entry["file"])
    assert net.input_shape == tuple(entry["input_shape"][1:])


@pytest.mark.parametrize("entry", REFUSED, ids=_ids(REFUSED))
def test_refused_with_one_line_naming_the_op(entry):
    with pytest.raises(FrontendError, match=entry["expect_error"]) as info:
        load_network(FIXTURES / entry["file"])
    assert isinstance(info.value, getattr(errors, entry["expect_error_type"]))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("entry", ENTRIES, ids=_ids(ENTRIES))
def test_fixture_is_structure_only_and_matches_manifest(entry):
    model = onnx.load(str(FIXTURES / entry["file"]))
    onnx.checker.check_model(model)
    assert all(math.prod(t.dims) <= 16 for t in model.graph.initializer)
    assert model.graph.input[0].name == "input"
    assert sorted({n.op_type for n in model.graph.node}) == entry["ops"]


def test_fixture_folder_stays_small():
    total = sum(p.stat().st_size for p in FIXTURES.iterdir() if p.is_file())
    assert total < 3 * 1024 * 1024
    assert {e["file"] for e in ENTRIES} == {p.name for p in FIXTURES.glob("*.onnx")}
