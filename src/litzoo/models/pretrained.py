"""Pretrained convolutional bases from torchvision under Keras' layer names (VGG16, ResNet50, include_top=False).

Seeds 000/001 (DLwP 5.3: `VGG16(weights='imagenet', include_top=False, input_shape=(150, 150, 3))`) and
004 (Kaggle Learn: `ResNet50(include_top=False, pooling='avg')`, base frozen). A base is one row of the
summary, as a nested Keras model is; its layers are addressable by Keras names (`block5_conv1`,
`conv5_block1`) for freezing and fine-tuning.

Both are torchvision's own modules (`vgg16().features`, `resnet50()`'s stages) under Keras' names, so
torchvision's weights load unchanged. Weights: `none` (random), `imagenet` (torchvision's download; needs
network) or a local file loaded with `weights_only=True`, either torchvision's state dict
(`vgg16-397923af.pth`, `resnet50-*.pth`) or a `state_dict()` of these bases. torchvision's weights
expect Keras' `preprocess_input(mode='torch')` input (data.preprocess=imagenet), not the 'caffe' BGR
convention of Keras' own VGG16/ResNet50 weights.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from litzoo.models import layers as L
from litzoo.models.sequential import KerasSequential, sequential


class PretrainedBase(nn.Sequential):
    """Named layers with Keras' `trainable` semantics: frozen weights, and frozen BatchNorm in inference mode."""

    def freeze(self) -> None:
        """`base.trainable = False`."""
        self.requires_grad_(False)
        self.train(self.training)

    def unfreeze_from(self, name: str) -> list[nn.Module]:
        """DLwP 5.3's loop: layers before `name` frozen, `name` and everything after it trainable."""
        names = list(self._modules)
        if name not in names:
            raise ValueError(f"{type(self).__name__} has no layer {name!r}; valid names: {names}")
        start = names.index(name)
        for i, layer in enumerate(self):
            layer.requires_grad_(i >= start)
        self.train(self.training)
        return list(self)[start:]

    def train(self, mode: bool = True) -> PretrainedBase:
        # Keras (>= 2.1.3) runs a non-trainable BatchNormalization in inference mode: moving stats frozen.
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and not any(p.requires_grad for p in m.parameters()):
                m.eval()
        return self


class VGG16(PretrainedBase):
    """Keras' VGG16 conv base: torchvision's `vgg16().features`, convs named `block1_conv1` .. `block5_conv3`.

    Keras' conv layers include their ReLU; here it is the next layer, `block1_conv1_relu` (Keras' ResNet
    naming), so the weights keep the keys `block5_conv1.weight` of earlier checkpoints and files.
    """


class ResNet50(PretrainedBase):
    """Keras' ResNet50 base on torchvision's weights; Keras' convs have biases, torchvision's do not."""

    def keras_params(self) -> int:
        """Keras' count: PyTorch's weights + BatchNorm moving stats + the conv biases Keras has and torchvision lacks."""
        params = sum(p.numel() for p in self.parameters())
        stats = sum(b.numel() for n, b in self.named_buffers() if n.endswith(("running_mean", "running_var")))
        missing_bias = sum(m.out_channels for m in self.modules() if isinstance(m, nn.Conv2d) and m.bias is None)
        return params + stats + missing_bias


def _read_state(weights: str, imagenet: object, key: str = "model.weights") -> dict[str, Tensor] | None:
    """The state dict named by `weights` (see module docstring), or None for random weights; `key` is the
    config key that sets `weights`, named in the offline hint."""
    if weights == "none":
        return None
    if weights == "imagenet":
        try:
            return imagenet.get_state_dict(progress=True)
        except Exception as err:  # offline machines end here
            raise RuntimeError(f"cannot download ImageNet weights ({imagenet}): {err}. Use {key}=<local .pth file> "
                               f"(torchvision's state dict) or {key}=none for random weights.") from None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{key} must be 'none', 'imagenet' or an existing file; {path} does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


def vgg16_output_shape(target_size: Sequence[int]) -> list[int]:
    """[channels, height, width] out of the VGG16 base for images of `target_size` (150x150 -> [512, 4, 4]),
    from torchvision's layer table: each "M" is a 2x2/2 max-pool (floors odd sizes), the last number the
    channels of block5."""
    from torchvision.models.vgg import cfgs

    height, width = int(target_size[0]), int(target_size[1])
    for entry in cfgs["D"]:
        if entry == "M":
            height, width = height // 2, width // 2
    return [next(c for c in reversed(cfgs["D"]) if c != "M"), height, width]


def vgg16(weights: str = "imagenet", weights_key: str = "model.weights") -> VGG16:
    """Keras' `VGG16(include_top=False)`: 13 convs + 5 max pools, 14,714,688 params (`weights_key`: see _read_state)."""
    from torchvision.models import VGG16_Weights
    from torchvision.models.vgg import cfgs, make_layers

    # vgg16() builds `features` with make_layers(cfgs["D"]); calling it directly skips the 120M-weight classifier
    features = make_layers(cfgs["D"])
    state = _read_state(weights, VGG16_Weights.IMAGENET1K_V1, weights_key)
    if state is not None and any(k.startswith("features.") for k in state):  # torchvision's file
        features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                                  if k.startswith("features.")})
        state = None
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    block, conv = 1, 0
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            conv += 1
            name = f"block{block}_conv{conv}"
        elif isinstance(layer, nn.ReLU):
            name = f"block{block}_conv{conv}_relu"
        else:
            name, block, conv = f"block{block}_pool", block + 1, 0
        layers[name] = layer
    base = VGG16(layers)
    if state is not None:  # a state_dict() of this base
        base.load_state_dict(state)
    return base


def resnet50(weights: str = "imagenet", pooling: str | None = "avg",
             weights_key: str = "model.weights") -> ResNet50:
    """Keras' `ResNet50(include_top=False, pooling=...)`: stem, 16 bottleneck blocks named conv2_block1 .. conv5_block3."""
    from torchvision.models import ResNet50_Weights
    from torchvision.models import resnet50 as tv_resnet50

    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}")
    tv = tv_resnet50(weights=None)
    state = _read_state(weights, ResNet50_Weights.IMAGENET1K_V2, weights_key)
    own_format = state is not None and any(k.startswith("conv2_block1.") for k in state)
    if state is not None and not own_format:
        tv.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, strict=False)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["conv1"] = nn.Sequential(OrderedDict(conv=tv.conv1, bn=tv.bn1, relu=tv.relu))
    layers["pool1"] = tv.maxpool
    for stage, blocks in enumerate((tv.layer1, tv.layer2, tv.layer3, tv.layer4), start=2):
        for i, block in enumerate(blocks, start=1):
            layers[f"conv{stage}_block{i}"] = block
    if pooling:
        layers[f"{pooling}_pool"] = L.GlobalAveragePooling2D() if pooling == "avg" else L.GlobalMaxPooling2D()
    base = ResNet50(layers)
    if own_format:
        base.load_state_dict(state)
    return base


BASES = {"vgg16": vgg16, "resnet50": resnet50}


def transfer_model(input_shape: Sequence[int], base: str, layers: Sequence[dict], weights: str = "imagenet",
                   trainable: bool = False, unfreeze_from: str | None = None, pooling: str | None = None) -> KerasSequential:
    """`Sequential([base, *head])` as in the seeds; the base is frozen unless `trainable` (or from `unfreeze_from`)."""
    if base not in BASES:
        raise ValueError(f"unknown base {base!r}; valid: {sorted(BASES)}")
    conv_base = BASES[base](weights, pooling) if base == "resnet50" else BASES[base](weights)
    if not trainable:
        conv_base.freeze()
    if unfreeze_from:
        conv_base.unfreeze_from(unfreeze_from)
    conv_base.eval()
    with torch.no_grad():  # (1, C, H, W) -> the base's output shape, e.g. (512, 4, 4) for VGG16 at 150x150
        base_shape = tuple(conv_base(torch.zeros(1, *input_shape)).shape[1:])
    conv_base.train()
    head = sequential(base_shape, layers)
    modules = OrderedDict([(base, conv_base), *head.named_children()])
    return KerasSequential(modules, tuple(input_shape), head.output_shape, head.output_activation, torch.float32)
