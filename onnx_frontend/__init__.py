"""ONNX -> layer graph: ``load_network(path) -> Network``."""

from onnx_frontend.errors import FrontendError, PimtuneError, UnsupportedOperatorError
from onnx_frontend.loader import load_network
from onnx_frontend.network import LAYER_KINDS, Layer, Network

__all__ = [
    "FrontendError",
    "LAYER_KINDS",
    "Layer",
    "Network",
    "PimtuneError",
    "UnsupportedOperatorError",
    "load_network",
]
