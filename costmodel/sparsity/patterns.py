"""Where the sparsity reference's zeros come from (MODEL.md section 10).

The fast model multiplies expected shares; the reference (:mod:`costmodel.sparsity.sampled`)
counts actual zeros, taken from a :class:`ZeroPatterns`:

- weights: the model's own weight matrices (:func:`onnx_frontend.weight_matrices.weight_matrices`)
  when it holds them, their non-zero ``c``-bit slices those of the sign-magnitude codes
  the loader measures (:func:`onnx_frontend.weight_matrices.nonzero_slices`); otherwise
  each weight is non-zero with its layer's weight density (seeded draws; dense without
  densities) and every slice of a non-zero weight counts as non-zero (the densities give
  no values to slice; the fast model, too, skips no slice column of weights it has not
  measured);
- inputs: one inference's activations, the ``A``-bit codes of every weighted layer's input
  tensor quantised as an activation profile does
  (:func:`onnx_frontend.activation_profile.quantised`), computed by ONNX Runtime on
  seeded standard-normal inputs (``pimtune profile MODEL --random N``'s, so that they are
  the very inputs ``--sparsity measured`` measured); otherwise drawn from the densities:
  each input value non-zero with the layer's input density, each bit of a non-zero value
  one with ``bit_density / input_density``, independently (without densities every bit
  is one). ONNX Runtime's outputs serve only as zero patterns.

Sample ``i`` is one inference: the ``i mod N``-th of the N model inputs, or the draws of
seed ``(seed, i)``. Zero padding is zero by geometry in both (:func:`unrolled_inputs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from costmodel.sparsity.densities import Densities
from costmodel.sparsity.source import MEASURED_INPUTS
from onnx_frontend.activation_profile import (
    ProfileError, layer_inputs, quantised, random_inputs, random_source,
)
from onnx_frontend.network import Layer, Network
from onnx_frontend.weight_matrices import nonzero_slices, weight_matrices

#: Standard-normal inputs the model runs on and their seed: those ``--sparsity measured``
#: measures (:data:`costmodel.sparsity.source.MEASURED_INPUTS`, ``measure_profile``'s seed).
MODEL_INPUTS, MODEL_SEED = MEASURED_INPUTS, 0


@dataclass(frozen=True, eq=False)
class ZeroPatterns:
    """The zeros the reference counts, for one network (module docstring).

    Attributes:
        network: the network.
        bits: A, the activation precision of the input codes.
        densities: what drawn zeros follow (None: every weight and input bit non-zero).
        weights: layer index -> ``(groups, rows_g, cols_g)`` float, the model's own
            weight matrices (layers absent: drawn).
        activations: per model input, ONNX tensor -> ``(C, H, W)`` uint32 codes of what
            the weighted layers read (empty: inputs drawn).
        seed: seed of the draws.
        source: where the zeros come from, for reports.
    """

    network: Network
    bits: int
    densities: Densities | None
    weights: dict[int, np.ndarray]
    activations: tuple[dict[str, np.ndarray], ...]
    seed: int
    source: str

    def weight_mask(self, layer: Layer, j: int) -> np.ndarray:
        """``(groups, rows_g, cols_g)`` bool: the non-zero weights of weighted layer ``j``."""
        if layer.index in self.weights:
            return self.weights[layer.index] != 0
        shape = (layer.groups, layer.matrix_rows, layer.matrix_cols)
        w = 1.0 if self.densities is None else float(self.densities.weight_density[j])
        if w >= 1:
            return np.ones(shape, dtype=bool)
        return np.random.default_rng([self.seed, 1, j]).random(shape) < w

    def weight_slices(self, layer: Layer, j: int, weight_bits: int, cell_bits: int) -> np.ndarray:
        """``(groups, rows_g, cols_g)`` unsigned: bit ``k`` set where the ``k``-th
        ``cell_bits``-bit slice of the ``weight_bits``-bit weight of weighted layer ``j`` is
        non-zero (drawn weights: every slice of a non-zero weight; module docstring)."""
        if layer.index in self.weights:
            return nonzero_slices(self.weights[layer.index], weight_bits, cell_bits)
        every = (1 << -(-weight_bits // cell_bits)) - 1
        return self.weight_mask(layer, j) * np.min_scalar_type(every).type(every)

    def input_codes(self, layer: Layer, j: int, sample: int) -> np.ndarray:
        """The uint32 codes of weighted layer ``j``'s input in inference ``sample``:
        ``(C, H, W)``, or a tensor of the padded input's shape when the model pads it
        with a Pad node of its own."""
        if self.activations:
            return self.activations[sample % len(self.activations)][self.network.input_tensors[layer.index]]
        shape = layer.in_shape
        A = self.bits
        if self.densities is None:
            return np.full(shape, 2 ** A - 1, dtype=np.uint32)
        a = float(self.densities.input_density[j])
        given = np.clip(self.densities.bit_density[j] / a, 0, 1) if a > 0 else np.zeros(A)
        rng = np.random.default_rng([self.seed, 2, sample, j])
        nonzero = rng.random(shape) < a
        codes = np.zeros(shape, dtype=np.uint32)
        for b in range(A):
            codes |= ((rng.random(shape) < given[b]) & nonzero).astype(np.uint32) << np.uint32(b)
        return codes


def zero_patterns(network: Network, bits: int, densities: Densities | None, model: onnx.ModelProto | None = None,
                  activations: bool = True, seed: int = 0) -> ZeroPatterns:
    """The zeros of ``network`` at ``bits``-bit activations: ``model``'s own weights where
    it holds them and, with ``activations``, its activations on the :data:`MODEL_INPUTS`
    inputs of seed :data:`MODEL_SEED`; the rest drawn from ``densities`` with ``seed``
    (module docstring). ProfileError (one line) when ``model`` asks for activations but
    holds no weights or cannot run."""
    weights = {} if model is None else weight_matrices(model, network)
    runs: tuple[dict[str, np.ndarray], ...] = ()
    if model is not None and activations:
        if not weights:
            raise ProfileError(f"{network.name}: the model holds no weights, so it cannot run for its activations; "
                               "export it with its weights, or sample the activations from a profile")
        runs = tuple({t: quantised(x, bits).reshape(x.shape[1:] if x.ndim == 4 else (-1, 1, 1)).astype(np.uint32)
                      for t, x in values.items()}
                     for values in layer_inputs(model, network, random_inputs(network, MODEL_INPUTS, MODEL_SEED)))
    drawn = "drawn from the densities" if densities is not None else "all non-zero"
    w_text = "the model's own" if weights else ("drawn from the densities" if densities is not None else "dense")
    a_text = (f"the model's own (ONNX Runtime, inputs {random_source(MODEL_INPUTS, MODEL_SEED)}, one per design)"
              if runs else f"{drawn} (seed {seed})")
    return ZeroPatterns(network=network, bits=bits, densities=densities, weights=weights, activations=runs,
                        seed=seed, source=f"weights: {w_text}; activations: {a_text}")


def unrolled_inputs(layer: Layer, codes: np.ndarray) -> np.ndarray:
    """``(P, rows + 1)`` codes each output pixel's copy drives (P output pixels in raster
    order; rows ``(input channel, kernel row, kernel column)`` as the weights unroll,
    zero padding included), plus a zero column that padding rows of arrays point to."""
    if layer.kind == "fc":
        flat = codes.reshape(1, -1)
    else:
        flat = _windows(layer, codes)
    return np.concatenate([flat, np.zeros((flat.shape[0], 1), dtype=flat.dtype)], axis=1)


def _windows(layer: Layer, codes: np.ndarray) -> np.ndarray:
    """The conv windows of ``codes`` as ``(Ho * Wo, C * kh * kw)``."""
    C, H, W = layer.in_shape
    top, left, bottom, right = layer.padding
    if codes.shape[1:] == (H + top + bottom, W + left + right) and (top or left or bottom or right):
        padded = codes                                                      # the model's own Pad node
    elif codes.shape == (C, H, W):
        padded = np.pad(codes, ((0, 0), (top, bottom), (left, right)))
    else:
        raise ProfileError(f"layer '{layer.name}' reads a tensor of shape {list(codes.shape)}, neither its input "
                           f"{[C, H, W]} nor that padded; re-export the model without a separate Pad node")
    _, Ho, Wo = layer.out_shape
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel, layer.stride, layer.dilation
    cols = [padded[:, i * dh: i * dh + (Ho - 1) * sh + 1: sh, k * dw: k * dw + (Wo - 1) * sw + 1: sw]
            for i in range(kh) for k in range(kw)]
    return np.stack(cols, axis=1).reshape(C * kh * kw, Ho * Wo).T
