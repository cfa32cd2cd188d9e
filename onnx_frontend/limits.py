"""Sizes a model's tensors and layers may have, checked once while the model loads.

Every dimension of a data tensor or weight is at least 1 (a zero-sized or negative one,
e.g. a kernel larger than its padded input, has no meaning on a chip), and nothing is
absurdly large: the bounds are about 100 times the largest CNN layers in use (VGG16's
first fc layer holds 1.0e8 weights; its conv layers take up to 1.9e9 MACs), well inside
the 64-bit arithmetic of the cost model.
"""

from __future__ import annotations

from math import prod

from onnx_frontend.errors import FrontendError

#: Elements of one activation tensor of one inference (batch 1).
MAX_TENSOR_ELEMENTS = 2**32
#: Weight values of one layer.
MAX_LAYER_WEIGHTS = 2**34
#: Multiply-accumulates of one layer for one inference.
MAX_LAYER_MACS = 2**40


def check_tensor(name: str, dims: tuple[int, ...], what: str = "tensor") -> None:
    """FrontendError (one line, naming the tensor) if a dimension is < 1 or the tensor is
    absurdly large; ``what`` is "tensor" for activations, "weight" for parameters."""
    if any(d < 1 for d in dims):
        raise FrontendError(f"{what} '{name}' has shape {list(dims)} with a dimension below 1; "
                            f"fix the model's shapes (input size, kernels, padding) and re-export it")
    limit = MAX_TENSOR_ELEMENTS if what == "tensor" else MAX_LAYER_WEIGHTS
    if prod(dims) > limit:
        raise FrontendError(f"{what} '{name}' has shape {list(dims)}: {prod(dims):.3g} elements, more than the "
                            f"{limit:.3g} pimtune maps; check the model's sizes")


def check_layer(name: str, weights: int, macs: int) -> None:
    """FrontendError (one line, naming the layer) if its weights or MACs are absurd."""
    for count, limit, what in ((weights, MAX_LAYER_WEIGHTS, "weights"), (macs, MAX_LAYER_MACS, "MACs")):
        if count > limit:
            raise FrontendError(f"layer '{name}' has {count:.3g} {what}, more than the {limit:.3g} pimtune maps "
                                f"per layer; check the model's sizes")
