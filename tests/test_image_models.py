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


def test_seed_variations_are_config_values(make_cfg) -> None:
    """`when:` leaves optional layers out; the layer type itself can be an option (counts: expected_params.py)."""
    net = instantiate(make_cfg("experiment=datacamp_conv").model)
    assert [type(m).__name__ for m in net] == ["Conv2D", "Flatten", "Dense"]
    net = instantiate(make_cfg("experiment=datacamp_conv", "model.options.dropout=0.25",
                               "model.options.batch_norm=true").model)
    assert [type(m).__name__ for m in net] == ["Conv2D", "Dropout", "BatchNormalization", "Flatten", "Dense"]
    assert net.dropout.p == 0.25
    net = instantiate(make_cfg("experiment=day27_complete", "model.options.pooling=AveragePooling2D").model)
    assert [n for n in net._modules if "pool" in n] == ["average_pooling2d", "average_pooling2d_1"]


def _conv_sizes(size: int, kernel: int, stride: int, dilation: int) -> None:
    x = torch.zeros(1, 1, size, size + 1)
    same = L.Conv2D(1, 1, kernel, strides=stride, padding="same", dilation_rate=dilation)(x)
    assert same.shape[-2:] == (math.ceil(size / stride), math.ceil((size + 1) / stride))
    valid_size = (size - dilation * (kernel - 1) - 1) // stride + 1
    if valid_size >= 1:
        valid = L.Conv2D(1, 1, kernel, strides=stride, padding="valid", dilation_rate=dilation)(x)
        assert valid.shape[-2] == valid_size


@pytest.mark.parametrize(("size", "kernel", "stride", "dilation"), [
    (28, 3, 1, 1), (150, 3, 1, 1), (5, 2, 2, 1), (33, 5, 3, 2), (1, 5, 2, 2), (8, 1, 3, 1)])
def test_conv_output_sizes_match_keras_formula(size: int, kernel: int, stride: int, dilation: int) -> None:
    """The seeds' shapes and the edge cases (a kernel larger than the input, a 1x1 kernel)."""
    _conv_sizes(size, kernel, stride, dilation)


def test_conv_output_sizes_property() -> None:
    """Keras' formula for 'same' and 'valid' over 150 random (size, kernel, stride, dilation), one seed."""
    rng = torch.Generator().manual_seed(0)
    for _ in range(150):
        size, kernel, stride, dilation = (int(torch.randint(lo, hi, (1,), generator=rng))
                                          for lo, hi in ((1, 80), (1, 8), (1, 5), (1, 4)))
        _conv_sizes(size, kernel, stride, dilation)


def test_vgg16_is_torchvisions_features_under_keras_names() -> None:
    from torchvision.models import vgg16 as tv_vgg16

    torch.manual_seed(0)
    base = vgg16("none")
    assert list(base._modules)[:5] == ["block1_conv1", "block1_conv1_relu", "block1_conv2", "block1_conv2_relu",
                                       "block1_pool"] and "block5_conv1" in base._modules
    assert count_params(base) == (14_714_688, 14_714_688)
    assert base(torch.zeros(1, 3, 150, 150)).shape == (1, 512, 4, 4)
    features = tv_vgg16(weights=None).features
    assert [type(m) for m in base] == [type(m) for m in features]  # the same modules, in the same order
    tail = base.unfreeze_from("block5_conv1")
    assert [type(m).__name__ for m in tail] == ["Conv2d", "ReLU"] * 3 + ["MaxPool2d"]
    assert count_params(base)[1] == 3 * 2_359_808
    with pytest.raises(ValueError, match="block5_conv1.*block5_pool|valid names"):
        base.unfreeze_from("block6_conv1")


def test_weights_from_local_files(tmp_path: Path) -> None:
    from torchvision.models import vgg16 as tv_vgg16

    torch.manual_seed(0)
    tv = tv_vgg16(weights=None)  # torchvision's own file layout (features.<index>.weight, classifier.*)
    torch.save(tv.state_dict(), tmp_path / "vgg16_tv.pth")
    loaded = vgg16(str(tmp_path / "vgg16_tv.pth"))
    assert torch.equal(loaded.block5_conv3.weight, tv.features[28].weight)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(loaded(x), tv.features(x))
    torch.save(loaded.state_dict(), tmp_path / "vgg16_own.pth")  # this base's own state dict (block5_conv1.weight)
    assert "block5_conv1.weight" in loaded.state_dict()
    assert torch.equal(vgg16(str(tmp_path / "vgg16_own.pth")).block1_conv1.bias, loaded.block1_conv1.bias)
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


def test_imagenet_weights_offline_is_one_clear_error(monkeypatch) -> None:
    import urllib.error

    from torchvision.models import VGG16_Weights

    from litzoo.models.pretrained import _read_state

    def offline(*_a, **_k):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(type(VGG16_Weights.IMAGENET1K_V1), "get_state_dict", offline)
    with pytest.raises(RuntimeError, match=r"cannot download ImageNet weights.*model\.weights=<local \.pth.*none"):
        _read_state("imagenet", VGG16_Weights.IMAGENET1K_V1)
