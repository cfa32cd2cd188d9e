"""Zeros of a model's weights, measured at load (onnx_frontend/weight_density.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import numpy_helper

from onnx_frontend import load_network
from onnx_frontend.weight_density import CELL_BITS, TILE_SIZES, measure, unrolled
from onnx_frontend.zoo import build_model
from search.cli.main import main
from tests.onnx_styles import Styled

RNG = np.random.default_rng(3)


def conv_model(weights: np.ndarray, groups: int = 1, fc: np.ndarray | None = None):
    """x (1, Cin, 8, 8) -> Conv(weights) [-> Flatten -> Gemm(fc, transB=1)]."""
    cout, cin_g = weights.shape[:2]
    s = Styled(in_shape=(1, cin_g * groups, 8, 8))
    w = s.name("w")
    s.inits.append(numpy_helper.from_array(weights.astype(np.float32), w))
    k = weights.shape[2]
    y = s.node("Conv", ["x", w], kernel_shape=[k, k], pads=[k // 2] * 4, group=groups)
    if fc is not None:
        f = s.node("Flatten", [y])
        wf = s.name("w")
        s.inits.append(numpy_helper.from_array(fc.astype(np.float32), wf))
        y = s.node("Gemm", [f, wf], transB=1)
    return load_network(s.model(y))


def test_unstructured_zeros_are_counted_exactly():
    w = RNG.standard_normal((16, 8, 3, 3))
    w[RNG.random(w.shape) < 0.7] = 0
    d = conv_model(w).weight_densities[0]
    assert d.density == pytest.approx((w != 0).mean(), abs=0)


def test_zero_rows_are_input_channels_and_kernel_positions_zero_for_every_output():
    w = RNG.standard_normal((16, 8, 3, 3)) + 5            # no accidental zeros
    w[:, 2] = 0                                           # input channel 2: 9 of the 72 rows
    w[:, 5, 1, 1] = 0                                     # one kernel position of channel 5: 1 row
    w[3, 0, 0, 0] = 0                                     # a lone zero is not a row
    d = conv_model(w).weight_densities[0]
    assert d.zero_rows == pytest.approx(10 / 72)
    assert d.zero_cols == 0


def test_zero_cols_are_output_channels_and_groups_unroll_per_group():
    w = RNG.standard_normal((16, 4, 3, 3)) + 5
    w[[1, 7, 12]] = 0                                     # three output channels pruned
    d = conv_model(w, groups=2).weight_densities[0]
    assert d.zero_cols == pytest.approx(3 / 16)
    assert d.zero_rows == 0
    m = unrolled(w, 2)
    assert m.shape == (2, 4 * 9, 8)                       # (groups, rows_g, cols_g)
    assert (m[0][:, 1] == 0).all() and (m[1][:, 12 - 8] == 0).all()


def test_fc_layers_are_rows_by_outputs_and_transb_is_read():
    conv = RNG.standard_normal((4, 2, 3, 3)) + 5
    fc = RNG.standard_normal((10, 4 * 8 * 8)) + 5         # Gemm transB=1: (outputs, inputs)
    fc[:, :32] = 0                                        # 32 input rows pruned
    fc[3] = 0                                             # one output
    net = conv_model(conv, fc=fc)
    d = net.weight_densities[1]
    assert d.zero_rows == pytest.approx(32 / 256) and d.zero_cols == pytest.approx(1 / 10)


def test_structure_only_models_and_weightless_layers_have_none():
    net = load_network(build_model("resnet18-cifar"))
    assert all(d is None for d in net.weight_densities)
    rows = net.summary_rows()
    assert all(r["weight_density"] is None and r["zero_rows"] is None for r in rows)


def test_tile_pieces():
    """An 8 x 8 matrix of 4 x 4 tiles: row 0 is zero in the left tile only."""
    m = np.ones((1, 8, 8))
    m[0, 0, :4] = 0
    m[0, :, 7] = 0                                        # column 7 zero everywhere
    d = measure(m)
    assert set(d.tile_zero_rows) == set(TILE_SIZES)
    from onnx_frontend.weight_density import _tile_zero_share
    assert _tile_zero_share(m != 0, 4, axis=2) == pytest.approx(1 / 16)   # 16 row pieces
    assert _tile_zero_share(m != 0, 4, axis=1) == pytest.approx(2 / 16)   # column 7 in both row tiles
    assert _tile_zero_share(m != 0, 64, axis=1) == pytest.approx(1 / 8)   # one tile: its 8 real columns


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 40), st.integers(1, 40), st.floats(0, 1), st.integers(0, 10**6))
def test_shares_are_bounded_and_zeros_never_raise_density(g, rows, cols, p, seed):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((g, rows, cols))
    m[rng.random(m.shape) < p] = 0
    d = measure(m)
    for v in [d.density, d.zero_rows, d.zero_cols, *d.slice_density.values(), *d.tile_zero_rows.values(),
              *d.tile_zero_cols.values()]:
        assert 0 <= v <= 1
    assert d.density == pytest.approx((m != 0).mean())
    # every slice of a zero weight is zero: slice densities are at most the weight density
    assert all(v <= d.density + 1e-12 for v in d.slice_density.values())
    more = m.copy()
    more[0, 0, :] = 0
    e = measure(more)
    assert e.density <= d.density and e.zero_rows >= d.zero_rows
    # a tile piece is zero if its whole row or column is: tile shares are at least the matrix's
    assert all(v >= d.zero_rows - 1e-12 for v in d.tile_zero_rows.values())


def test_slices_of_sign_magnitude_codes():
    """Weights -1, 0, 0.5, 1 at 8 bits: codes 0x80|127, 0, 64, 127."""
    m = np.array([[[-1.0, 0.0, 0.5, 1.0]]])
    d = measure(m)
    codes = [0x80 | 127, 0, 64, 127]
    for c in CELL_BITS:
        slices = -(-8 // c)
        nz = sum(((code >> (c * k)) & ((1 << c) - 1)) != 0 for code in codes for k in range(slices))
        assert d.slice_density[c] == pytest.approx(nz / (4 * slices))


@pytest.mark.parametrize("bits", [8, 16])
def test_zero_slice_columns_of_tiles_are_counted_exactly(bits):
    """A column piece's slice is zero where no weight of the piece has a one in it."""
    rng = np.random.default_rng(bits)
    m = rng.standard_normal((1, 70, 5))
    m[rng.random(m.shape) < 0.8] = 0
    m[0, :, 2] = 0                                                     # one output channel pruned
    d = measure(m)
    top, levels = np.abs(m).max(), 2 ** (bits - 1) - 1
    codes = np.rint(np.abs(m) / top * levels).astype(np.int64) | ((m < 0).astype(np.int64) << (bits - 1))
    for size in TILE_SIZES:
        for c in CELL_BITS:
            slices, zero, pieces = -(-bits // c), 0, 0
            for start in range(0, 70, size):
                for col in range(5):
                    piece = codes[0, start:start + size, col]
                    for k in range(slices):
                        pieces += 1
                        zero += not ((piece >> (c * k)) & ((1 << c) - 1)).any()
            assert d.tile_zero_slice_cols[bits][c][size] == pytest.approx(zero / pieces)


def test_inspect_json_reports_the_densities(tmp_path, capsys):
    w = RNG.standard_normal((8, 3, 3, 3))
    w[RNG.random(w.shape) < 0.5] = 0
    s = Styled(in_shape=(1, 3, 8, 8))
    wn = s.name("w")
    s.inits.append(numpy_helper.from_array(w.astype(np.float32), wn))
    y = s.node("Conv", ["x", wn], kernel_shape=[3, 3], pads=[1] * 4)
    path = tmp_path / "m.onnx"
    path.write_bytes(s.model(y).SerializeToString())
    assert main(["inspect", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    layer = out["layers"][0] if isinstance(out, dict) else out[0]
    assert layer["weight_density"] == pytest.approx((w != 0).mean())
    assert {"zero_rows", "zero_cols"} <= set(layer)
