"""The densities a sparsity-aware evaluation uses, per weighted layer (MODEL.md section 10).

:class:`Densities` gathers, for the L weighted layers of a network in order, what the
model's own weights say (:mod:`onnx_frontend.weight_density`, measured at load) and what
an activation profile says (:mod:`onnx_frontend.activation_profile`), at the
technology's activation precision. Layers without measured weights (structure-only
models) count as dense weights: density 1, no zero rows or columns.

Bit densities are shares of ones among all of a layer's input values (zero values
included), least significant bit first. A profile measured at another precision is
aligned by its top bit: the codes of a max-scaled quantisation keep their top bits when
the precision changes, so the A top bits of an A-bit code are the profile's (A <= the
profile's bits), and bits below the profile's count as ones in half of the non-zero
values (A above the profile's bits). A profile that gives only a density treats every
bit of a non-zero value as one half of the time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from onnx_frontend.activation_profile import Profile
from onnx_frontend.network import Network
from onnx_frontend.weight_density import CELL_BITS, TILE_SIZES


@dataclass(frozen=True, eq=False)
class Densities:
    """Per weighted layer densities; arrays are ``(L,)`` unless noted, shares in [0, 1].

    Attributes:
        source: where they come from (``measured ...`` or the profile's path), for reports.
        activation_bits: A, the precision of ``bit_density``.
        input_density: non-zero share of the layer's input values.
        bit_density: ``(L, A)`` share of ones per bit of the A-bit input codes, LSB first.
        weight_density: non-zero share of the weights.
        zero_rows, zero_cols: shares of the unrolled matrices' all-zero rows and columns.
        tile_sizes: ``(T,)`` the tile sizes of ``tile_zero_rows`` / ``tile_zero_cols``
            ``(T, L)``: shares of a tile's row (column) pieces that are zero in the tile.
        cell_bits: ``(C,)`` the cell resolutions of ``tile_zero_slice_cols`` ``(C, T, L)``:
            shares of the column pieces of one weight slice that are zero in the tile, at
            the technology's weight bits (whole weights' shares where not measured at them).
        weights_measured: whether any layer's weights were measured.
    """

    source: str
    activation_bits: int
    input_density: np.ndarray
    bit_density: np.ndarray
    weight_density: np.ndarray
    zero_rows: np.ndarray
    zero_cols: np.ndarray
    tile_sizes: tuple[int, ...]
    tile_zero_rows: np.ndarray
    tile_zero_cols: np.ndarray
    cell_bits: tuple[int, ...]
    tile_zero_slice_cols: np.ndarray
    weights_measured: bool

    def __post_init__(self) -> None:
        for name in ("input_density", "bit_density", "weight_density", "zero_rows", "zero_cols",
                     "tile_zero_rows", "tile_zero_cols", "tile_zero_slice_cols"):
            arr = np.array(getattr(self, name), dtype=float)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def n_layers(self) -> int:
        return len(self.input_density)

    def tile_share(self, table: np.ndarray, size: int) -> np.ndarray:
        """(L,) a ``tile_zero_*`` row at tile size ``size`` (the largest measured tile
        size not above it: smaller tiles have at least as many zero pieces)."""
        at = max(int(np.searchsorted(self.tile_sizes, size, side="right")) - 1, 0)
        return table[at]

    def fingerprint(self) -> str:
        """A short hash of every figure (study identities: a resume with other densities is refused)."""
        h = hashlib.sha256(str(self.activation_bits).encode())
        for arr in (self.input_density, self.bit_density, self.weight_density, self.zero_rows, self.zero_cols,
                    self.tile_zero_rows, self.tile_zero_cols, self.tile_zero_slice_cols):
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:12]


def densities_of(network: Network, profile: Profile | None, activation_bits: int, source: str,
                 weight_bits: int = 8) -> Densities:
    """The :class:`Densities` of ``network``'s weighted layers: weights as measured at load
    (dense where not) at ``weight_bits``, inputs from ``profile`` (dense without one) at
    ``activation_bits``."""
    weighted = [l for l in network.layers if l.is_weighted]
    measured = [network.weight_densities[l.index] if l.index < len(network.weight_densities) else None
                for l in weighted]
    T, L = len(TILE_SIZES), len(weighted)
    inputs = np.ones(L)
    bits = np.full((L, activation_bits), 0.5)
    if profile is not None:
        for j, layer in enumerate(weighted):
            d = profile.density_of(layer.name)
            inputs[j] = d.input_density
            bits[j] = aligned_bits(d.bit_density, d.input_density, profile.activation_bits, activation_bits)
    tile_rows, tile_cols = np.zeros((T, L)), np.zeros((T, L))
    slice_cols = np.zeros((len(CELL_BITS), T, L))
    for j, w in enumerate(measured):
        if w is not None:
            tile_rows[:, j] = [w.tile_zero_rows[s] for s in TILE_SIZES]
            tile_cols[:, j] = [w.tile_zero_cols[s] for s in TILE_SIZES]
            per_cell = w.tile_zero_slice_cols.get(weight_bits)
            slice_cols[:, :, j] = tile_cols[:, j] if per_cell is None else \
                [[per_cell[c][s] for s in TILE_SIZES] for c in CELL_BITS]
    return Densities(
        source=source, activation_bits=activation_bits, input_density=inputs, bit_density=bits,
        weight_density=np.array([1.0 if w is None else w.density for w in measured]),
        zero_rows=np.array([0.0 if w is None else w.zero_rows for w in measured]),
        zero_cols=np.array([0.0 if w is None else w.zero_cols for w in measured]),
        tile_sizes=TILE_SIZES, tile_zero_rows=tile_rows, tile_zero_cols=tile_cols,
        cell_bits=CELL_BITS, tile_zero_slice_cols=slice_cols,
        weights_measured=any(w is not None for w in measured))


def aligned_bits(bit_density: list[float] | None, input_density: float, profile_bits: int, bits: int) -> np.ndarray:
    """(bits,) shares of ones of ``bits``-bit codes from a profile's ``profile_bits``-bit
    ones (None: a density only), top bits aligned (module docstring)."""
    half = np.full(bits, 0.5 * input_density)
    if bit_density is None:
        return half
    given = np.asarray(bit_density, dtype=float)
    keep = min(bits, profile_bits)
    half[bits - keep:] = given[profile_bits - keep:]
    return half
