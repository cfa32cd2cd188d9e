"""Shared fixtures of the cost-model tests: the bundled technology and zoo networks."""

from __future__ import annotations

from functools import lru_cache

import pytest

from costmodel.technology import load_technology
from onnx_frontend import load_network
from onnx_frontend.zoo import build_model


@lru_cache(maxsize=None)
def _network(name: str):
    return load_network(build_model(name))


@pytest.fixture(scope="session")
def tech():
    """The bundled ``reram`` technology."""
    return load_technology("reram")


@pytest.fixture(scope="session")
def zoo_net():
    """``zoo_net(name)``: a zoo network, built once per session."""
    return _network


@pytest.fixture(scope="session")
def alexnet(zoo_net):
    return zoo_net("alexnet-cifar")


@pytest.fixture(scope="session")
def resnet18_cifar(zoo_net):
    return zoo_net("resnet18-cifar")
