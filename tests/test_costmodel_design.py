"""Design batches: the JSON form, design files, shape validation, subset and concat."""

from __future__ import annotations

import json
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel.design import (
    COMPONENTS, DESIGN_FORMAT, MACRO_MODES, DesignBatch, DesignError, load_design, save_design,
)
from costmodel.evaluator import evaluate
from costmodel.random_designs import random_designs

FIELDS = [f.name for f in fields(DesignBatch) if f.name != "_checked"]
ARRAY_FIELDS = [f for f in FIELDS if f != "macro_mode"]
NETS = ("alexnet-cifar", "resnet18-cifar")


def with_counts(batch: DesignBatch, seed: int) -> DesignBatch:
    rng = np.random.default_rng(seed + 1)
    counts = rng.integers(0, 40, size=(len(batch), batch.n_layers, len(COMPONENTS))).astype(float)
    counts[rng.uniform(size=counts.shape) < 0.1] += 0.5          # fractional counts survive too
    return DesignBatch(**{f: getattr(batch, f) for f in ARRAY_FIELDS if f != "counts"},
                       counts=counts, macro_mode=batch.macro_mode)


def assert_same_batch(a: DesignBatch, b: DesignBatch) -> None:
    assert a.macro_mode == b.macro_mode
    for f in ARRAY_FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        if x is None or y is None:
            assert x is None and y is None, f
            continue
        assert x.shape == y.shape, f
        assert x.dtype.kind == y.dtype.kind, f
        assert np.array_equal(x, y), f


def one_line_error(fn, *args, match: str | None = None, **kwargs) -> str:
    with pytest.raises(DesignError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert msg and "\n" not in msg, f"not one line: {msg!r}"
    if match is not None:
        assert match in msg, msg
    return msg


@pytest.fixture(scope="module")
def sample(alexnet, tech):
    """Five random alexnet-cifar designs with sharing and explicit counts."""
    return with_counts(random_designs(alexnet, tech, 20.0, 5, seed=7, share_p=0.5), 7)


# --- JSON round trip ------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), net=st.sampled_from(NETS), counts=st.booleans(),
       mode=st.sampled_from(MACRO_MODES), share_p=st.sampled_from([0.0, 0.3, 0.9]),
       power=st.sampled_from([5.0, 20.0, 65.8]))
def test_json_round_trip_is_exact(zoo_net, tech, seed, net, counts, mode, share_p, power):
    network = zoo_net(net)
    batch = random_designs(network, tech, power, 4, seed=seed, share_p=share_p, macro_mode=mode)
    if counts:
        batch = with_counts(batch, seed)
    dicts = [batch.to_dict(i, network) for i in range(len(batch))]
    # through JSON text, as a file holds it
    texts = [json.dumps(d) for d in dicts]
    back = DesignBatch.from_dicts([json.loads(t) for t in texts], network)
    assert [back.to_dict(i, network) for i in range(len(back))] == dicts
    assert [json.dumps(back.to_dict(i, network)) for i in range(len(back))] == texts
    assert_same_batch(back, batch)
    d = dicts[0]
    assert d["format"] == DESIGN_FORMAT
    assert d["network"] == network.name
    assert d["layers"] == [l.name for l in network.weighted_layers]
    assert d["macro_mode"] == mode
    assert (d["counts"] is None) == (not counts)
    if counts:
        assert list(d["counts"]) == list(COMPONENTS)
        assert all(len(v) == batch.n_layers for v in d["counts"].values())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), counts=st.booleans(), mode=st.sampled_from(MACRO_MODES),
       index=st.integers(0, 3))
def test_save_and_load_design_file(alexnet, tech, seed, counts, mode, index):
    batch = random_designs(alexnet, tech, 20.0, 4, seed=seed, share_p=0.4, macro_mode=mode)
    batch.offchip_links[index] = 1
    if counts:
        batch = with_counts(batch, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "design.json"
        save_design(path, batch, index, alexnet)
        loaded = load_design(path, alexnet)
        assert len(loaded) == 1
        assert loaded.to_dict(0, alexnet) == batch.to_dict(index, alexnet)
        assert_same_batch(loaded, batch.subset(index))
        assert json.loads(path.read_text()) == batch.to_dict(index, alexnet)
        # a list of designs in one file
        many = Path(tmp) / "many.json"
        many.write_text(json.dumps([batch.to_dict(i, alexnet) for i in range(len(batch))]))
        assert_same_batch(load_design(many, alexnet), batch)


def test_loaded_design_evaluates_the_same(alexnet, tech, tmp_path):
    batch = random_designs(alexnet, tech, 20.0, 30, seed=3, share_p=0.3)
    res = evaluate(alexnet, tech, batch, 20.0)
    i = int(np.flatnonzero(res.feasible)[0])
    save_design(tmp_path / "d.json", batch, i, alexnet)
    again = evaluate(alexnet, tech, load_design(tmp_path / "d.json", alexnet), 20.0)
    assert again.feasible[0]
    assert again.tops_per_watt[0] == pytest.approx(res.tops_per_watt[i], rel=1e-6)
    assert again.latency_s[0] == pytest.approx(res.latency_s[i], rel=1e-6)


# --- errors of design files -------------------------------------------------------------------

def test_missing_design_file(alexnet, tmp_path):
    path = tmp_path / "nope.json"
    one_line_error(load_design, path, alexnet, match=str(path))


def test_wrong_format_tag(alexnet, sample, tmp_path):
    d = sample.to_dict(0, alexnet)
    d["format"] = "pimtune-design/0"
    path = tmp_path / "d.json"
    path.write_text(json.dumps(d))
    msg = one_line_error(load_design, path, alexnet, match=str(path))
    assert "format" in msg and DESIGN_FORMAT in msg and "pimtune-design/0" in msg
    del d["format"]
    path.write_text(json.dumps(d))
    one_line_error(load_design, path, alexnet, match="format")


def test_layers_of_another_network(alexnet, resnet18_cifar, sample, tmp_path):
    path = tmp_path / "d.json"
    save_design(path, sample, 0, alexnet)
    msg = one_line_error(load_design, path, resnet18_cifar, match=str(path))
    assert "resnet18-cifar" in msg and "layers" in msg
    # the same number of layers, one renamed
    d = sample.to_dict(0, alexnet)
    d["layers"][3] = "conv4_renamed"
    path.write_text(json.dumps(d))
    one_line_error(load_design, path, alexnet, match="layers")


@pytest.mark.parametrize("key", ["rram_ratio", "cell_bits", "xbar_size", "dac_bits", "dup", "macros", "share"])
def test_missing_key(alexnet, sample, tmp_path, key):
    d = sample.to_dict(1, alexnet)
    del d[key]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(d))
    msg = one_line_error(load_design, path, alexnet, match=str(path))
    assert repr(key) in msg and "missing" in msg


def test_missing_component_in_counts(alexnet, sample, tmp_path):
    """Explicit counts without one component are a missing key like any other."""
    path = tmp_path / "d.json"
    for component in COMPONENTS:
        d = sample.to_dict(1, alexnet)
        del d["counts"][component]
        path.write_text(json.dumps(d))
        msg = one_line_error(load_design, path, alexnet, match=str(path))
        assert component in msg


def test_designs_mixing_counts_and_none(alexnet, sample, tmp_path):
    """A list whose designs disagree on explicit counts is a DesignError, not a crash."""
    with_c = sample.to_dict(0, alexnet)
    without = dict(sample.to_dict(1, alexnet), counts=None)
    path = tmp_path / "d.json"
    for designs in ([with_c, without], [without, with_c]):
        path.write_text(json.dumps(designs))
        one_line_error(load_design, path, alexnet, match=str(path))


def test_not_json(alexnet, tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"format": "pimtune-design/1", ')
    msg = one_line_error(load_design, path, alexnet, match=str(path))
    assert "JSON" in msg
    path.write_bytes(b"\xff\xfe\x00garbage")
    one_line_error(load_design, path, alexnet, match="JSON")


def test_list_with_a_non_object(alexnet, sample, tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([sample.to_dict(0, alexnet), 3]))
    msg = one_line_error(load_design, path, alexnet, match=str(path))
    assert "design object" in msg
    for bad in ([], "isaac", 42, [["nested"]]):
        path.write_text(json.dumps(bad))
        one_line_error(load_design, path, alexnet, match=str(path))


def test_design_for_other_layer_count_fails_in_evaluate(alexnet, resnet18_cifar, sample, tech):
    msg = one_line_error(evaluate, resnet18_cifar, tech, sample, 20.0)
    assert "resnet18-cifar" in msg


# --- DesignBatch construction and shape validation ----------------------------------------------

def _arrays(n=3, L=4):
    return dict(rram_ratio=np.full(n, 0.2), cell_bits=2, xbar_size=128, dac_bits=1,
                dup=np.ones((n, L), int), macros=np.ones((n, L), int), share=np.full((n, L), -1))


def test_broadcasting_of_globals_and_layers():
    b = DesignBatch(rram_ratio=[0.1, 0.2, 0.3], cell_bits=2, xbar_size=256, dac_bits=[1, 2, 4],
                    dup=[1, 2, 3, 4], macros=[1, 1, 1, 1], share=[-1, 0, -1, -1])
    assert len(b) == 3 and b.n_layers == 4
    assert b.cell_bits.tolist() == [2, 2, 2] and b.xbar_size.tolist() == [256] * 3
    assert b.dac_bits.tolist() == [1, 2, 4]
    assert b.dup.shape == (3, 4) and (b.dup == [1, 2, 3, 4]).all()
    assert b.share.shape == (3, 4) and b.share[2].tolist() == [-1, 0, -1, -1]
    assert b.offchip_links.tolist() == [0, 0, 0]
    assert b.counts is None and b.macro_mode == "specialised"
    b.dup[0, 0] = 9                                       # rows are independent copies
    assert b.dup[1, 0] == 1


def test_per_layer_shapes_must_agree():
    a = _arrays()
    a["macros"] = np.ones((3, 5), int)
    one_line_error(DesignBatch, **a, match="per-layer arrays")
    a = _arrays()
    a["share"] = np.full((3, 3), -1)
    one_line_error(DesignBatch, **a, match="per-layer arrays")


def test_per_layer_rows_must_match_design_count():
    a = _arrays()
    for key in ("dup", "macros", "share"):
        a[key] = np.ones((4, 4), int) * (1 if key != "share" else -1)
    one_line_error(DesignBatch, **a, match="N=3")


def test_counts_shape():
    a = _arrays()
    one_line_error(DesignBatch, **a, counts=np.ones((3, 4, len(COMPONENTS) - 1)), match="counts must be")
    one_line_error(DesignBatch, **a, counts=np.ones((3, 5, len(COMPONENTS))), match="counts must be")
    one_line_error(DesignBatch, **a, counts=np.ones((2, 4, len(COMPONENTS))), match="counts must be")
    ok = DesignBatch(**a, counts=np.ones((3, 4, len(COMPONENTS))))
    assert ok.counts.shape == (3, 4, len(COMPONENTS))


def test_macro_mode_checked():
    one_line_error(DesignBatch, **_arrays(), macro_mode="uniform", match="macro_mode")


def test_global_arrays_of_wrong_length():
    """A per-design global with the wrong number of designs is a malformed batch (DesignError)."""
    for key, value in (("cell_bits", [2, 2]), ("xbar_size", [128, 128]), ("dac_bits", [1, 1]),
                       ("offchip_links", [0, 1])):
        a = _arrays(n=3)
        a[key] = value
        one_line_error(DesignBatch, **a)


# --- subset and concat -----------------------------------------------------------------------------

@pytest.mark.parametrize("counts", [False, True])
@pytest.mark.parametrize("mode", MACRO_MODES)
def test_subset_keeps_every_field(alexnet, tech, counts, mode):
    batch = random_designs(alexnet, tech, 20.0, 6, seed=11, share_p=0.5, macro_mode=mode)
    batch.offchip_links[:] = [0, 1, 0, 1, 1, 0]
    if counts:
        batch = with_counts(batch, 11)
    for index in (2, slice(1, 4), np.array([5, 0, 3]), np.array([True, False] * 3)):
        sub = batch.subset(index)
        rows = np.atleast_1d(np.arange(len(batch))[index])
        assert len(sub) == len(rows)
        assert sub.macro_mode == mode
        for f in ARRAY_FIELDS:
            full, part = getattr(batch, f), getattr(sub, f)
            if full is None:
                assert part is None, f
            else:
                assert np.array_equal(part, full[rows]), f
                assert part.dtype == full.dtype, f
    one = batch.subset(4)
    assert one.to_dict(0, alexnet) == batch.to_dict(4, alexnet)
    one.dup[0, 0] += 1                                  # a subset does not alias its batch
    assert batch.dup[4, 0] == one.dup[0, 0] - 1


@pytest.mark.parametrize("counts", [False, True])
@pytest.mark.parametrize("mode", MACRO_MODES)
def test_concat_keeps_every_field(alexnet, tech, counts, mode):
    batch = random_designs(alexnet, tech, 20.0, 7, seed=5, share_p=0.5, macro_mode=mode)
    batch.offchip_links[:] = [1, 0, 0, 1, 0, 1, 1]
    if counts:
        batch = with_counts(batch, 5)
    parts = [batch.subset(slice(0, 2)), batch.subset(2), batch.subset(slice(3, None))]
    joined = DesignBatch.concat(parts)
    assert_same_batch(joined, batch)
    assert [joined.to_dict(i, alexnet) for i in range(7)] == [batch.to_dict(i, alexnet) for i in range(7)]


def test_concat_refuses_mixed_batches(alexnet, tech):
    a = random_designs(alexnet, tech, 20.0, 2, seed=1)
    b = random_designs(alexnet, tech, 20.0, 2, seed=2, macro_mode="identical")
    one_line_error(DesignBatch.concat, [a, b], match="macro modes")
    one_line_error(DesignBatch.concat, [a, with_counts(a, 0)], match="counts")
