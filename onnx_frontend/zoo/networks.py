"""The benchmark networks, as structure-only ONNX models.

Every public function here takes no argument and returns an ``onnx.ModelProto`` built
with :class:`~onnx_frontend.zoo.builder.GraphBuilder`. MACs count conv and fc layers
only (conv: ``Cout * Ho * Wo * k * k * Cin / groups``; fc: ``in * out``); the exact
figures are pinned in ``tests/test_zoo.py``.
"""

from __future__ import annotations

from math import ceil

import onnx

from onnx_frontend.zoo.builder import INPUT, GraphBuilder

IMAGENET = (3, 224, 224)
CIFAR = (3, 32, 32)

# -- shared pieces ----------------------------------------------------------------------


def _classifier(b: GraphBuilder, x: str, widths: tuple[int, ...], dropout_before: tuple[int, ...] = ()) -> str:
    """Flatten (if needed), then one Gemm per width with ReLU between them.

    ``dropout_before`` lists the Gemms (by position) preceded by a Dropout: torchvision's
    AlexNet has ``(0, 1)`` (Dropout, Linear, ReLU, ...), VGG ``(1, 2)`` (Linear, ReLU, Dropout, ...).
    """
    x = b.flatten(x) if len(b.shapes[x]) == 3 else x
    for i, width in enumerate(widths):
        if i:
            x = b.relu(x)
        if i in dropout_before:
            x = b.dropout(x)
        x = b.gemm(x, width)
    return x


def _conv_bn_relu(b: GraphBuilder, x: str, cout: int, k: int, stride: int = 1, pad: int = 0) -> str:
    return b.relu(b.bn(b.conv(x, cout, k, stride, pad, bias=False)))


# -- AlexNet ----------------------------------------------------------------------------


def alexnet() -> onnx.ModelProto:
    """torchvision AlexNet, 224x224 -> 1000.

    conv 11x11/4 p2 64 (55x55), maxpool 3/2 (27), conv 5x5 p2 192, maxpool 3/2 (13),
    conv 3x3 384, 256, 256 (13x13), maxpool 3/2 (6x6; torchvision's adaptive 6x6 average
    pool is then the identity and omitted), Dropout-FC 9216->4096-Dropout-4096-1000.
    MACs: 70.3M + 223.9M + 112.1M + 149.5M + 99.7M + FC 58.6M = 714.2M.
    """
    b = GraphBuilder("alexnet", IMAGENET)
    x = b.maxpool(b.relu(b.conv(INPUT, 64, 11, 4, 2)), 3, 2)
    x = b.maxpool(b.relu(b.conv(x, 192, 5, 1, 2)), 3, 2)
    for cout in (384, 256, 256):
        x = b.relu(b.conv(x, cout, 3, 1, 1))
    return b.build(_classifier(b, b.maxpool(x, 3, 2), (4096, 4096, 1000), dropout_before=(0, 1)))


def alexnet_cifar() -> onnx.ModelProto:
    """The widely copied CIFAR-10 AlexNet (e.g. icpm/pytorch-cifar10), 32x32 -> 10.

    conv 3x3/2 p1 64 (16x16), maxpool 2 (8), conv 3x3 192, maxpool 2 (4),
    conv 3x3 384, 256, 256 (4x4), maxpool 2 (2x2), Dropout-FC 1024->4096-Dropout-4096-10.
    MACs: 0.4M + 7.1M + 10.6M + 14.2M + 9.4M + FC 21.0M = 62.7M.
    """
    b = GraphBuilder("alexnet-cifar", CIFAR)
    x = b.maxpool(b.relu(b.conv(INPUT, 64, 3, 2, 1)), 2, 2)
    x = b.maxpool(b.relu(b.conv(x, 192, 3, 1, 1)), 2, 2)
    for cout in (384, 256, 256):
        x = b.relu(b.conv(x, cout, 3, 1, 1))
    return b.build(_classifier(b, b.maxpool(x, 2, 2), (4096, 4096, 10), dropout_before=(0, 1)))


# -- VGG --------------------------------------------------------------------------------

VGG13 = (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def _vgg_features(b: GraphBuilder, cfg: tuple, batch_norm: bool) -> str:
    """3x3 p1 convs (with ReLU, optionally BN) and 2x2/2 max pools as listed in ``cfg``."""
    x = INPUT
    for item in cfg:
        if item == "M":
            x = b.maxpool(x, 2, 2)
        elif batch_norm:
            x = _conv_bn_relu(b, x, item, 3, 1, 1)
        else:
            x = b.relu(b.conv(x, item, 3, 1, 1))
    return x


def _vgg_imagenet(name: str, cfg: tuple) -> onnx.ModelProto:
    """torchvision VGG without BN: features to 512x7x7 (the adaptive 7x7 pool is the
    identity and omitted), FC 25088->4096-Dropout-4096-Dropout-1000."""
    b = GraphBuilder(name, IMAGENET)
    return b.build(_classifier(b, _vgg_features(b, cfg, batch_norm=False), (4096, 4096, 1000), (1, 2)))


def vgg13() -> onnx.ModelProto:
    """VGG-13 (config B), 224x224 -> 1000; 10 convs + 3 FCs, 11.31 GMACs."""
    return _vgg_imagenet("vgg13", VGG13)


def vgg16() -> onnx.ModelProto:
    """VGG-16 (config D), 224x224 -> 1000; 13 convs + 3 FCs, 15.47 GMACs."""
    return _vgg_imagenet("vgg16", VGG16)


def vgg16_cifar() -> onnx.ModelProto:
    """kuangliu/pytorch-cifar VGG16: the 13 VGG-16 convs with BN on 32x32 (five pools
    leave 512x1x1; its 1x1 average pool is the identity and omitted), one FC 512->10.
    MACs: 313.2M conv + 5K fc = 313.2M."""
    b = GraphBuilder("vgg16-cifar", CIFAR)
    return b.build(_classifier(b, _vgg_features(b, VGG16, batch_norm=True), (10,)))


# -- MSRA (PReLU-net) model A -----------------------------------------------------------

#: SPP bin grids ``(rows, cols)`` of msra-a; 49 + 9 + 2 = 60 bins x 512 = 30720 features.
MSRA_SPP_LEVELS = ((7, 7), (3, 3), (2, 1))


def _spp(b: GraphBuilder, x: str, levels: tuple[tuple[int, int], ...]) -> str:
    """Spatial pyramid pooling: one MaxPool per bin grid (SPP-net windows: kernel
    ``ceil(H / n)``, stride ``floor(H / n)``), each flattened, concatenated on axis 1."""
    _, h, w = b.chw(x)
    flat = []
    for nh, nw in levels:
        pooled = b.maxpool(x, (ceil(h / nh), ceil(w / nw)), (h // nh, w // nw))
        if b.chw(pooled)[1:] != (nh, nw):
            raise ValueError(f"spp: a {h}x{w} map cannot be pooled to {nh}x{nw} bins")
        flat.append(b.flatten(pooled))
    return b.concat(flat)


def msra_a() -> onnx.ModelProto:
    """Model A of He et al., "Delving Deep into Rectifiers" (2015), Table 3, 224 -> 1000.

    ======================  ==========  ===============================================
    layer                   out         MACs
    ======================  ==========  ===============================================
    conv1 7x7/2 p3, 96      96x112x112  96*112^2*147            =    177,020,928
    maxpool 3x3/2 p1        96x56x56
    conv2_1..5 3x3, 256     256x56x56   256*56^2*(864 + 4*2304)  =  8,092,385,280
    maxpool 2x2/2           256x28x28
    conv3_1..5 3x3, 512     512x28x28   512*28^2*(2304 + 4*4608) =  8,323,596,288
    maxpool 2x2/2           512x14x14
    conv4_1..5 3x3, 512     512x14x14   5*512*14^2*4608          =  2,312,110,080
    spp {7x7, 3x3, 2x1}     30720
    fc 4096, 4096, 1000                 30720*4096 + 4096^2 + 4096*1000 = 146,702,336
    ======================  ==========  ===============================================

    Total 19,051,814,912 MACs (19.05 G); 16 convs + 3 FCs = the paper's depth 19.
    The trunk follows the paper (its stage sizes 112/56/28/14). The paper's pyramid
    {7x7, 3x3, 2x2, 1x1} has 63 bins (fc1 input 32256, 19.058 G in all); the published
    benchmark figures (fc1 input 30720 = 60 x 512, 19.05 G) need 60 bins, which no
    pyramid of distinct square grids gives, so the coarse levels are a single 2x1 grid
    (see :data:`MSRA_SPP_LEVELS`). PReLU is modelled as ReLU (same cost: none).
    """
    b = GraphBuilder("msra-a", IMAGENET)
    x = b.maxpool(b.relu(b.conv(INPUT, 96, 7, 2, 3)), 3, 2, 1)
    for stage, cout in enumerate((256, 512, 512)):
        if stage:
            x = b.maxpool(x, 2, 2)
        for _ in range(5):
            x = b.relu(b.conv(x, cout, 3, 1, 1))
    return b.build(_classifier(b, _spp(b, x, MSRA_SPP_LEVELS), (4096, 4096, 1000), (1, 2)))


# -- ResNet -----------------------------------------------------------------------------


def _shortcut(b: GraphBuilder, x: str, cout: int, stride: int) -> str:
    """Identity, or a 1x1 strided conv + BN when the shape changes."""
    if stride == 1 and b.chw(x)[0] == cout:
        return x
    return b.bn(b.conv(x, cout, 1, stride, bias=False))


def _basic_block(b: GraphBuilder, x: str, planes: int, stride: int) -> str:
    """conv3x3/s-BN-ReLU, conv3x3-BN, + shortcut, ReLU: ``(C, H, W) -> (planes, H/s, W/s)``."""
    out = _conv_bn_relu(b, x, planes, 3, stride, 1)
    out = b.bn(b.conv(out, planes, 3, 1, 1, bias=False))
    return b.relu(b.add(out, _shortcut(b, x, planes, stride)))


def _bottleneck(b: GraphBuilder, x: str, planes: int, stride: int) -> str:
    """1x1-3x3/s-1x1 (x4) with BN, stride on the 3x3 (torchvision v1.5):
    ``(C, H, W) -> (4 planes, H/s, W/s)``."""
    out = _conv_bn_relu(b, x, planes, 1)
    out = _conv_bn_relu(b, out, planes, 3, stride, 1)
    out = b.bn(b.conv(out, 4 * planes, 1, bias=False))
    return b.relu(b.add(out, _shortcut(b, x, 4 * planes, stride)))


def _resnet_stages(b: GraphBuilder, x: str, block, depths: tuple[int, ...]) -> str:
    """Four stages of 64/128/256/512 planes; the first block of stages 2-4 has stride 2."""
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), depths)):
        for i in range(n):
            x = block(b, x, planes, 2 if stage and i == 0 else 1)
    return x


def _resnet_imagenet(name: str, block, depths: tuple[int, ...]) -> onnx.ModelProto:
    """torchvision ResNet: conv 7x7/2 p3 64-BN-ReLU (112), maxpool 3/2 p1 (56), four
    stages (56, 28, 14, 7), global average pool, FC -> 1000."""
    b = GraphBuilder(name, IMAGENET)
    x = b.maxpool(_conv_bn_relu(b, INPUT, 64, 7, 2, 3), 3, 2, 1)
    x = _resnet_stages(b, x, block, depths)
    return b.build(_classifier(b, b.global_avgpool(x), (1000,)))


def resnet18() -> onnx.ModelProto:
    """ResNet-18: basic blocks [2, 2, 2, 2]; 20 convs (3 downsample) + FC, 1.81 GMACs."""
    return _resnet_imagenet("resnet18", _basic_block, (2, 2, 2, 2))


def resnet34() -> onnx.ModelProto:
    """ResNet-34: basic blocks [3, 4, 6, 3]; 36 convs (3 downsample) + FC, 3.6 GMACs."""
    return _resnet_imagenet("resnet34", _basic_block, (3, 4, 6, 3))


def resnet50() -> onnx.ModelProto:
    """ResNet-50: bottlenecks [3, 4, 6, 3]; 53 convs (4 downsample) + FC, 4.1 GMACs."""
    return _resnet_imagenet("resnet50", _bottleneck, (3, 4, 6, 3))


def resnet18_cifar() -> onnx.ModelProto:
    """kuangliu/pytorch-cifar ResNet18: conv 3x3 p1 64-BN-ReLU at 32x32 (no max pool),
    basic blocks [2, 2, 2, 2] at 32/16/8/4, 4x4 average pool, FC 512->10; 0.556 GMACs."""
    b = GraphBuilder("resnet18-cifar", CIFAR)
    x = _conv_bn_relu(b, INPUT, 64, 3, 1, 1)
    x = _resnet_stages(b, x, _basic_block, (2, 2, 2, 2))
    return b.build(_classifier(b, b.avgpool(x, 4, 4), (10,)))


# -- MobileNetV2 ------------------------------------------------------------------------

#: (expansion t, output channels c, repeats n, first stride s) of torchvision's MobileNetV2.
MOBILENETV2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _conv_bn_relu6(b: GraphBuilder, x: str, cout: int, k: int, stride: int = 1, groups: int = 1) -> str:
    return b.clip6(b.bn(b.conv(x, cout, k, stride, k // 2, groups=groups, bias=False)))


def _inverted_residual(b: GraphBuilder, x: str, t: int, cout: int, stride: int) -> str:
    """Expand 1x1 (if t > 1) - depthwise 3x3/s - project 1x1 (linear, BN), + x when the
    shape is kept: ``(C, H, W) -> (cout, H/s, W/s)``."""
    cin = b.chw(x)[0]
    hidden = cin * t
    out = _conv_bn_relu6(b, x, hidden, 1) if t != 1 else x
    out = _conv_bn_relu6(b, out, hidden, 3, stride, groups=hidden)
    out = b.bn(b.conv(out, cout, 1, bias=False))
    return b.add(out, x) if stride == 1 and cin == cout else out


def mobilenetv2() -> onnx.ModelProto:
    """torchvision MobileNetV2 (width 1.0), 224x224 -> 1000: conv 3x3/2 32, 17 inverted
    residual blocks, conv 1x1 1280, global average pool, Dropout, FC 1280->1000;
    52 convs (17 depthwise) + FC, 0.30 GMACs."""
    b = GraphBuilder("mobilenetv2", IMAGENET)
    x = _conv_bn_relu6(b, INPUT, 32, 3, 2)
    for t, c, n, s in MOBILENETV2_BLOCKS:
        for i in range(n):
            x = _inverted_residual(b, x, t, c, s if i == 0 else 1)
    x = b.global_avgpool(_conv_bn_relu6(b, x, 1280, 1))
    return b.build(_classifier(b, x, (1000,), dropout_before=(0,)))
