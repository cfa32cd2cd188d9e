"""The benchmark network zoo: structure-only ONNX models of standard CNNs.

``build_model("vgg16")`` returns an ``onnx.ModelProto`` whose weights are declared graph
inputs without data (a few kB per model); ``load_network`` maps it like any exported
model. ``pimtune zoo --list`` shows the table, ``pimtune zoo NAME -o FILE`` writes one.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import onnx

from onnx_frontend.errors import FrontendError
from onnx_frontend.zoo import networks as nets

#: name -> (builder, one-line description), in display order.
NETWORKS: dict[str, tuple[Callable[[], onnx.ModelProto], str]] = {
    "alexnet": (nets.alexnet, "AlexNet (torchvision), 5 conv + 3 fc"),
    "vgg13": (nets.vgg13, "VGG-13 without BN, 10 conv + 3 fc"),
    "vgg16": (nets.vgg16, "VGG-16 without BN, 13 conv + 3 fc"),
    "msra-a": (nets.msra_a, "MSRA PReLU-net model A, 16 conv + SPP + 3 fc"),
    "resnet18": (nets.resnet18, "ResNet-18 (torchvision), basic blocks"),
    "resnet34": (nets.resnet34, "ResNet-34 (torchvision), basic blocks"),
    "resnet50": (nets.resnet50, "ResNet-50 (torchvision), bottlenecks"),
    "mobilenetv2": (nets.mobilenetv2, "MobileNetV2 1.0 (torchvision), ReLU6"),
    "alexnet-cifar": (nets.alexnet_cifar, "CIFAR-10 AlexNet, 3x3 convs, 5 conv + 3 fc"),
    "vgg16-cifar": (nets.vgg16_cifar, "CIFAR-10 VGG-16 with BN, 13 conv + 1 fc"),
    "resnet18-cifar": (nets.resnet18_cifar, "CIFAR-10 ResNet-18 (kuangliu), 3x3 stem"),
}


def network_names() -> list[str]:
    """The zoo's network names in display order."""
    return list(NETWORKS)


def build_model(name: str) -> onnx.ModelProto:
    """The structure-only ONNX model of zoo network ``name``.

    Raises:
        FrontendError: ``name`` is not in the zoo.
    """
    try:
        builder, _ = NETWORKS[name]
    except KeyError:
        raise FrontendError(
            f"unknown zoo network {name!r}; choose one of: {', '.join(NETWORKS)}"
        ) from None
    return builder()


def save_model(name: str, path: str | os.PathLike) -> int:
    """Write zoo network ``name`` to ``path``; returns the file size in bytes."""
    data = build_model(name).SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


__all__ = ["NETWORKS", "build_model", "network_names", "save_model"]
