"""The design-file schema (costmodel/design_json.py): every malformed value is refused
in one line naming the key and the fix; every design the JSON form can hold loads."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.design import COMPONENTS, DesignBatch, DesignError, load_design
from costmodel.random_designs import random_designs


@pytest.fixture(scope="module")
def good(alexnet, tech) -> dict:
    """One valid alexnet-cifar design with sharing and explicit counts, as JSON."""
    batch = random_designs(alexnet, tech, 20.0, 1, seed=3, share_p=0.9)
    d = batch.to_dict(0, alexnet)
    d["counts"] = {c: [1.0] * len(d["layers"]) for c in COMPONENTS}
    return d


def edited(d: dict, key: str, value) -> dict:
    """``d`` with ``key`` (``a``, ``a[i]`` or ``a.b[i]``) set to ``value``, or deleted for ``...``."""
    d = json.loads(json.dumps(d))
    *path, last = key.replace("[", ".").replace("]", "").split(".")
    target = d
    for part in path:
        target = target[int(part)] if part.isdigit() else target[part]
    last = int(last) if last.isdigit() else last
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return d


def refused(d, network, tmp_path) -> str:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(d))
    with pytest.raises(DesignError) as info:
        load_design(path, network)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path))
    return msg


@pytest.mark.parametrize("key, value, words", [
    ("dup[0]", 2.5, "whole number"),
    ("dup[1]", 0, "greater than or equal to 1"),
    ("dup[2]", -3, "greater than or equal to 1"),
    ("dup[0]", True, "whole number"),
    ("dup[0]", "4", "whole number"),
    ("dup[0]", 10**30, "less than or equal to"),
    ("macros[0]", 0, "greater than or equal to 1"),
    ("macros[3]", 1.5, "whole number"),
    ("share[0]", 0, "none (-1)"),
    ("share[4]", 4, "earlier layer"),
    ("share[4]", -2, "greater than or equal to -1"),
    ("rram_ratio", math.nan, "finite"),
    ("rram_ratio", math.inf, "finite"),
    ("rram_ratio", 0, "greater than 0"),
    ("rram_ratio", 1.0, "less than 1"),
    ("rram_ratio", "0.2", "number"),
    ("cell_bits", 2.5, "whole number"),
    ("xbar_size", 0, "greater than or equal to 1"),
    ("dac_bits", None, "whole number"),
    ("offchip_links", 2, "less than or equal to 1"),
    ("macro_mode", "uniform", "choose from specialised, identical"),
    ("counts.adc[0]", -1, "greater than or equal to 0"),
    ("counts.pool[2]", math.nan, "finite"),
    ("counts.adc", [1.0], "one per weighted layer"),
    ("counts.adcs", [1.0] * 8, "unknown key 'counts.adcs'"),
    ("dup", [1] * 7, "key 'dup' has 7 entries"),
    ("dupp", [1] * 8, "unknown key 'dupp'"),
    ("rram_ratio", ..., "'rram_ratio' is missing"),
    ("format", "pimtune-design/2", "choose from pimtune-design/1"),
])
def test_malformed_value_is_refused(alexnet, good, tmp_path, key, value, words):
    msg = refused(edited(good, key, value), alexnet, tmp_path)
    shown = key.split(".")[0].split("[")[0]
    assert words in msg and shown in msg and "README" in msg


@pytest.mark.parametrize("key, value, words", [
    ("network", "vgg16", "made for network 'vgg16', not 'alexnet-cifar'"),
    ("layers[3]", "conv4_renamed", "weighted layer 3 is 'conv4_renamed' in the design but 'conv4'"),
    ("dup[5]", 2, "more copies than the 1 output position(s) of fc layer"),
    ("dup[0]", 10**6, "output position(s) of conv layer 'conv1'"),
])
def test_design_of_another_model_names_the_first_mismatch(alexnet, good, tmp_path, key, value, words):
    assert words in refused(edited(good, key, value), alexnet, tmp_path)


def test_fewer_layers_than_the_model(alexnet, good, tmp_path):
    d = good
    for key in ("layers", "dup", "macros", "share", "segment", "dataflow"):
        d = edited(d, key, d[key][:-1])
    d["counts"] = None
    assert "the design has 7 weighted layers, network 'alexnet-cifar' has 8" in refused(d, alexnet, tmp_path)


def test_a_list_names_the_bad_design(alexnet, good, tmp_path):
    msg = refused([good, edited(good, "dup[0]", 0.5)], alexnet, tmp_path)
    assert "design 1: key 'dup[0]'" in msg


def test_not_utf8_is_one_line(alexnet, good, tmp_path):
    path = tmp_path / "d.json"
    path.write_bytes(json.dumps(good).replace("conv1", "conv\u00e9").encode("latin-1"))
    with pytest.raises(DesignError, match="not UTF-8 text.*save it with UTF-8 encoding"):
        load_design(path, alexnet)


@settings(max_examples=40, deadline=None)
@given(dup=st.lists(st.one_of(st.integers(1, 4), st.integers(1, 4).map(float)), min_size=5, max_size=5),
       ratio=st.floats(0.001, 0.999), share_first=st.booleans())
def test_whole_numbers_in_any_json_spelling_load(alexnet, good, dup, ratio, share_first, tmp_path_factory):
    """Integral floats (what other tools write for counts) load as the same integers."""
    d = edited(edited(good, "rram_ratio", ratio), "share", [-1, 0 if share_first else -1] + [-1] * 6)
    d["dup"] = dup + [1, 1, 1]
    path = tmp_path_factory.mktemp("d") / "d.json"
    path.write_text(json.dumps(d))
    batch = load_design(path, alexnet)
    assert batch.dup[0].tolist() == [int(v) for v in d["dup"]] and batch.rram_ratio[0] == ratio


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not float(v).is_integer()),
                       st.booleans(), st.text(max_size=3), st.none(), st.integers(max_value=0)),
       key=st.sampled_from(["dup[0]", "macros[1]", "xbar_size", "cell_bits", "dac_bits"]))
def test_no_non_count_loads_as_a_count(alexnet, good, value, key, tmp_path_factory):
    path = tmp_path_factory.mktemp("d") / "d.json"
    path.write_text(json.dumps(edited(good, key, value)))
    with pytest.raises(DesignError):
        load_design(path, alexnet)


def test_valid_design_round_trips(alexnet, good):
    batch = DesignBatch.from_dicts([good], alexnet)
    assert batch.to_dict(0, alexnet) == good
