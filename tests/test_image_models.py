"""The seeds' variations as config values, Keras 'same'/'valid' output sizes, pretrained bases."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from litzoo.models import layers as L
from litzoo.models.pretrained import resnet50, transfer_model, vgg16
from litzoo.summary import count_params, format_summary

VARIATIONS = [  # (experiment, overrides, Keras total, trainable, output shape without batch)
    ("datacamp_conv", ["model.options.padding=same", "model.options.second_conv=true"], 24_533, 24_533, (3,)),
    ("datacamp_conv", ["model.options.strides=2"], 5_173, 5_173, (3,)),
    ("datacamp_conv", ["model.options.dilation_rate=2"], 17_383, 17_383, (3,)),
    ("datacamp_conv", ["model.options.dropout=0.25"], 20_383, 20_383, (3,)),
    ("datacamp_conv", ["model.options.batch_norm=true"], 20_423, 20_403, (3,)),  # 20 moving stats non-trainable
    ("day27_conv16", ["model.options.strides=2"], 208, 208, (16, 112, 112)),
    ("day27_conv16", ["model.options.padding=same"], 208, 208, (16, 225, 225)),
    ("day27_complete", ["model.options.pooling=AveragePooling2D"], 291_661, 291_661, (1,)),
]


@pytest.mark.parametrize(("name", "overrides", "total", "trainable", "output"), VARIATIONS,
                         ids=[f"{v[0]}:{','.join(v[1])}" for v in VARIATIONS])
def test_seed_variations(name, overrides, total, trainable, output, make_cfg) -> None:
    base = [f"experiment={name}"] if name != "day27_conv16" else [f"model={name}"]
    net = instantiate(make_cfg(*base, *overrides).model)
    assert count_params(net) == (total, trainable)
    assert net.output_shape == output
    if "model.options.dropout=0.25" in overrides:
        assert any(isinstance(m, L.Dropout) for m in net)
    if "model.options.pooling=AveragePooling2D" in overrides:
        assert [n for n in net._modules if "pool" in n] == ["average_pooling2d", "average_pooling2d_1"]


@pytest.mark.parametrize("size", [1, 5, 8, 28, 33, 150, 225])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2])
def test_conv_output_sizes_match_keras_formula(size: int, kernel: int, stride: int, dilation: int) -> None:
    x = torch.zeros(1, 1, size, size + 1)
    same = L.Conv2D(1, 1, kernel, strides=stride, padding="same", dilation_rate=dilation)(x)
    assert same.shape[-2:] == (math.ceil(size / stride), math.ceil((size + 1) / stride))
    valid_size = (size - dilation * (kernel - 1) - 1) // stride + 1
    if valid_size >= 1:
        valid = L.Conv2D(1, 1, kernel, strides=stride, padding="valid", dilation_rate=dilation)(x)
        assert valid.shape[-2] == valid_size


def test_vgg16_keras_names_shape_and_freezing() -> None:
    base = vgg16("none")
    assert list(base._modules)[:3] == ["block1_conv1", "block1_conv2", "block1_pool"] and "block5_conv1" in base._modules
    assert count_params(base) == (14_714_688, 14_714_688)
    assert base(torch.zeros(1, 3, 150, 150)).shape == (1, 512, 4, 4)
    tail = base.unfreeze_from("block5_conv1")
    assert [type(m).__name__ for m in tail] == ["Conv2D", "Conv2D", "Conv2D", "MaxPooling2D"]
    assert count_params(base)[1] == 3 * 2_359_808
    with pytest.raises(ValueError, match="block5_conv1.*block5_pool|valid names"):
        base.unfreeze_from("block6_conv1")


def test_weights_from_local_files(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = vgg16("none")
    # torchvision's own layout (features.<index>.weight), as in vgg16-397923af.pth
    tv_state = {}
    convs = [m for m in src if isinstance(m, torch.nn.Conv2d)]
    index = 0
    for filters, n in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(n):
            conv = convs.pop(0)
            tv_state[f"features.{index}.weight"], tv_state[f"features.{index}.bias"] = conv.weight, conv.bias
            index += 2
        index += 1
    torch.save(tv_state, tmp_path / "vgg16_tv.pth")
    loaded = vgg16(str(tmp_path / "vgg16_tv.pth"))
    assert torch.equal(loaded.block5_conv3.weight, src.block5_conv3.weight)
    torch.save(src.state_dict(), tmp_path / "vgg16_own.pth")
    assert torch.equal(vgg16(str(tmp_path / "vgg16_own.pth")).block1_conv1.bias, src.block1_conv1.bias)
    with pytest.raises(FileNotFoundError, match="none.*imagenet"):
        vgg16(str(tmp_path / "missing.pth"))


def test_frozen_resnet_keeps_batchnorm_statistics_and_reports_keras_count() -> None:
    net = transfer_model([3, 32, 32], "resnet50", [{"type": "Dense", "units": 2, "activation": "softmax"}],
                         weights="none", pooling="avg")
    net.train()
    bn = net.resnet50.conv1.bn
    before = bn.running_mean.clone()
    net(torch.randn(4, 3, 32, 32))
    assert not bn.training and torch.equal(bn.running_mean, before)  # Keras: frozen BN runs in inference mode
    assert count_params(net)[1] == 4_098
    text = format_summary(net)
    assert "23,587,712 (torch 23,561,152)" in text and "Keras would count 23,591,810" in text
    net.resnet50.unfreeze_from("conv5_block1")
    net.train()
    assert net.resnet50.conv5_block1.bn1.training and not net.resnet50.conv4_block6.bn1.training
    assert resnet50("none", pooling=None)(torch.zeros(1, 3, 64, 64)).shape == (1, 2048, 2, 2)
