"""Keras 2-D image and dense layers with the semantics PyTorch lacks, implemented once (channels-first images).

Every class keeps the Keras constructor vocabulary (`filters`, `strides`, `padding='same'`,
`activation='relu'`, ...) so a model config reads like the seed's Keras code. Input sizes
(`in_channels`, `in_features`) come first and are filled in by the Sequential builder.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": lambda x: x,
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softmax": lambda x: F.softmax(x, dim=-1),
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
}
# Output activations the loss applies itself (BCEWithLogits / CrossEntropy), see models/sequential.py.
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid")


def activation_fn(name: str | None) -> Callable[[Tensor], Tensor]:
    """Keras activation by name; `None` means linear."""
    key = name or "linear"
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def check_rate(name: str, rate: float) -> float:
    """A Keras dropout rate, validated: [0, 1)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {rate!r}")
    return float(rate)


def _check_padding(padding: str) -> str:
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'same' padding for one axis: output ceil(size / stride), extra pixel at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


# Keras' kernel initializers by name: VarianceScaling(scale, mode, distribution); "torch_default" keeps PyTorch's
# own kaiming_uniform(a=sqrt(5)) kernel and uniform bias (what these layers did before they followed Keras).
INITIALIZERS: dict[str, tuple[float, str, str]] = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"), "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"), "he_normal": (2.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"), "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def check_initializer(name: str) -> str:
    if name not in INITIALIZERS and name != "torch_default":
        raise ValueError(f"kernel_initializer must be one of {sorted(INITIALIZERS) + ['torch_default']}, got {name!r}")
    return name


@torch.no_grad()
def keras_init(layer: nn.Module, kernel_initializer: str = "glorot_uniform") -> None:
    """Keras' defaults for Dense and Conv layers: glorot_uniform kernel, zero bias (or another Keras initializer).

    PyTorch's own default (kaiming_uniform with a=sqrt(5), uniform bias) trains these small seed models
    measurably differently. Fans are Keras': the (out, in, *kernel) weight gives in * prod(kernel), out * prod(kernel).
    """
    scale, mode, distribution = INITIALIZERS[check_initializer(kernel_initializer)]
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(layer.weight)
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    if distribution == "uniform":
        limit = math.sqrt(3.0 * scale / n)
        nn.init.uniform_(layer.weight, -limit, limit)
    else:  # Keras' truncated normal: cut at 2 std, stddev corrected for the cut
        std = math.sqrt(scale / n) / 0.87962566103423978
        nn.init.trunc_normal_(layer.weight, 0.0, std, -2 * std, 2 * std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class KerasInit:
    """Mixin for nn.Linear / nn.ConvNd subclasses: `reset_parameters` follows `kernel_initializer` (set before
    the torch constructor runs, which calls it)."""

    kernel_initializer = "glorot_uniform"

    def reset_parameters(self) -> None:
        if self.kernel_initializer == "torch_default":
            super().reset_parameters()  # type: ignore[misc]
        else:
            keras_init(self, self.kernel_initializer)  # type: ignore[arg-type]


class Conv2D(KerasInit, nn.Conv2d):
    """keras.layers.Conv2D; `padding='same'` works with any stride (asymmetric, as TensorFlow pads)."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int | Sequence[int], strides: int | Sequence[int] = 1,
                 padding: str = "valid", dilation_rate: int | Sequence[int] = 1, activation: str | None = None,
                 use_bias: bool = True, kernel_initializer: str = "glorot_uniform") -> None:
        k, s, d = _pair(kernel_size), _pair(strides), _pair(dilation_rate)
        _check_padding(padding)
        self.kernel_initializer = check_initializer(kernel_initializer)
        # Symmetric 'same' (stride 1, even total) is native padding: no F.pad copy in the hot path.
        native = padding == "same" and s == (1, 1) and all(di * (ki - 1) % 2 == 0 for ki, di in zip(k, d))
        pad = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d)) if native else 0
        super().__init__(in_channels, filters, k, stride=s, padding=pad, dilation=d, bias=use_bias)
        self.dynamic_same = padding == "same" and not native
        self.activation = activation
        self.act = activation_fn(activation)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W)
        if self.dynamic_same:
            (h0, h1), (w0, w1) = (same_padding(n, k, s, d) for n, k, s, d in
                                  zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation))
            x = F.pad(x, (w0, w1, h0, h1))
        return self.act(super().forward(x))


class _Pool2D(nn.Module):
    def __init__(self, pool_size: int | Sequence[int] = 2, strides: int | Sequence[int] | None = None,
                 padding: str = "valid") -> None:
        super().__init__()
        self.pool_size = _pair(pool_size)
        self.strides = _pair(strides) if strides is not None else self.pool_size  # Keras default: strides = pool
        self.padding = _check_padding(padding)

    def _pad(self, x: Tensor, value: float) -> Tensor:
        if self.padding == "valid":
            return x
        (h0, h1), (w0, w1) = (same_padding(n, k, s) for n, k, s in zip(x.shape[-2:], self.pool_size, self.strides))
        return F.pad(x, (w0, w1, h0, h1), value=value)

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}"


class MaxPooling2D(_Pool2D):
    """keras.layers.MaxPooling2D (padding 'same' pads with -inf, so padded cells never win)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(self._pad(x, -math.inf), self.pool_size, self.strides)


class AveragePooling2D(_Pool2D):
    """keras.layers.AveragePooling2D ('valid' only: Keras' 'same' averages over the unpadded cells)."""

    def __init__(self, pool_size: int | Sequence[int] = 2, strides: int | Sequence[int] | None = None,
                 padding: str = "valid") -> None:
        if padding != "valid":
            raise ValueError("AveragePooling2D supports padding='valid' only")
        super().__init__(pool_size, strides, padding)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.pool_size, self.strides)


class GlobalAveragePooling2D(nn.Module):
    """keras.layers.GlobalAveragePooling2D: (B, C, H, W) -> (B, C)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(-2, -1))


class GlobalMaxPooling2D(nn.Module):
    """keras.layers.GlobalMaxPooling2D: (B, C, H, W) -> (B, C)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.amax(dim=(-2, -1))


class Flatten(nn.Flatten):
    """keras.layers.Flatten (channels-first order; the parameter count of the next Dense is the same)."""


class Dense(KerasInit, nn.Linear):
    """keras.layers.Dense on the last axis."""

    def __init__(self, in_features: int, units: int, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform") -> None:
        self.kernel_initializer = check_initializer(kernel_initializer)
        super().__init__(in_features, units, bias=use_bias)
        self.activation = activation
        self.act = activation_fn(activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(super().forward(x))


class Dropout(nn.Dropout):
    """keras.layers.Dropout(rate)."""

    def __init__(self, rate: float) -> None:
        super().__init__(p=check_rate("Dropout rate", rate))


class Activation(nn.Module):
    """keras.layers.Activation(name)."""

    def __init__(self, activation: str) -> None:
        super().__init__()
        self.activation = activation
        self.act = activation_fn(activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x)


class BatchNormalization(nn.modules.batchnorm._BatchNorm):
    """keras.layers.BatchNormalization over channels (axis 1) of 2-D or 4-D input.

    Keras' momentum 0.99 is PyTorch's 0.01 (they weight the old/new statistics the other way round);
    Keras' epsilon is 1e-3. The moving mean/variance are buffers; the summary counts them as Keras'
    non-trainable params.
    """

    def __init__(self, num_features: int, momentum: float = 0.99, epsilon: float = 1e-3) -> None:
        super().__init__(num_features, eps=epsilon, momentum=1.0 - momentum)

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() not in (2, 4):
            raise ValueError(f"BatchNormalization expects (B, C) or (B, C, H, W) input, got shape {tuple(x.shape)}")
