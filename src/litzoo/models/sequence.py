"""Keras sequence layers: Embedding, Conv1D and the 1-D pools, on channels-last (B, L, C) tensors.

Sequences stay (B, L, C) as in Keras, so summary shapes read like the seed notes; the 1-D conv/pool
layers transpose to PyTorch's (B, C, L) internally. Initialisers are Keras' (Embedding uniform(-0.05,
0.05), Conv1D glorot_uniform kernel and zero bias): they matter for how these small models train.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litzoo.models.layers import (
    KerasInit,
    activation_fn,
    check_initializer,
    same_padding,
)

Shape = tuple[int, ...]


class Embedding(nn.Embedding):
    """keras.layers.Embedding(input_dim, output_dim); `trainable=False` freezes the matrix.

    `embeddings_file` names a pretrained matrix (GloVe format) for the data module to read once the
    vocabulary is known (litzoo.data.imdb.fill_pretrained_embeddings); it hands the matrix over with
    `set_weights`, as DLwP 6.1.3 does with `model.layers[0].set_weights([embedding_matrix])`.
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_file: str | None = None,
                 trainable: bool = True) -> None:
        super().__init__(input_dim, output_dim)
        nn.init.uniform_(self.weight, -0.05, 0.05)
        self.embeddings_file = embeddings_file
        self.weight.requires_grad_(trainable)

    def set_weights(self, matrix: Tensor) -> None:
        """Keras' `layer.set_weights([matrix])`: (input_dim, output_dim) values copied into the table."""
        if tuple(matrix.shape) != tuple(self.weight.shape):
            raise ValueError(f"Embedding.set_weights needs a matrix of shape {tuple(self.weight.shape)} "
                             f"(input_dim, output_dim), got {tuple(matrix.shape)}")
        with torch.no_grad():
            self.weight.copy_(matrix)

    def forward(self, x: Tensor) -> Tensor:  # (B, L) int -> (B, L, D)
        return super().forward(x.long())


def embedding(shape: Shape, input_length: int | None = None, **kw: object) -> Embedding:
    """Embedding for input `shape`; Keras' optional `input_length` must agree with it."""
    if input_length is not None and (len(shape) != 1 or shape[0] != input_length):
        raise ValueError(f"Embedding input_length={input_length} does not match the input shape {shape}")
    return Embedding(**kw)


class Conv1D(KerasInit, nn.Conv1d):
    """keras.layers.Conv1D on channels-last (B, L, C) input; padding 'valid', 'same' or 'causal'."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int, strides: int = 1, padding: str = "valid",
                 dilation_rate: int = 1, activation: str | None = None, use_bias: bool = True,
                 kernel_initializer: str = "glorot_uniform") -> None:
        if padding not in ("valid", "same", "causal"):
            raise ValueError(f"Conv1D padding must be 'valid', 'same' or 'causal', got {padding!r}")
        self.kernel_initializer = check_initializer(kernel_initializer)
        super().__init__(in_channels, filters, kernel_size, stride=strides, dilation=dilation_rate, bias=use_bias)
        self.keras_padding = padding  # applied in forward: 'same' and 'causal' pad unevenly
        self.activation = activation
        self.act = activation_fn(activation)

    def forward(self, x: Tensor) -> Tensor:  # (B, L, C) -> (B, L', filters)
        x = x.transpose(1, 2)
        k, s, d = self.kernel_size[0], self.stride[0], self.dilation[0]
        if self.keras_padding == "same":
            x = F.pad(x, same_padding(x.shape[-1], k, s, d))
        elif self.keras_padding == "causal":
            x = F.pad(x, (d * (k - 1), 0))
        return self.act(super().forward(x)).transpose(1, 2)


class MaxPooling1D(nn.Module):
    """keras.layers.MaxPooling1D(pool_size=2, strides=pool_size, padding) on (B, L, C)."""

    def __init__(self, pool_size: int = 2, strides: int | None = None, padding: str = "valid") -> None:
        super().__init__()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
        self.pool_size, self.strides, self.padding = pool_size, strides or pool_size, padding

    def forward(self, x: Tensor) -> Tensor:
        x = x.transpose(1, 2)  # (B, C, L)
        if self.padding == "same":
            x = F.pad(x, same_padding(x.shape[-1], self.pool_size, self.strides), value=-math.inf)
        return F.max_pool1d(x, self.pool_size, self.strides).transpose(1, 2)


class GlobalMaxPooling1D(nn.Module):
    """keras.layers.GlobalMaxPooling1D: (B, L, C) -> (B, C)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.amax(dim=1)


class GlobalAveragePooling1D(nn.Module):
    """keras.layers.GlobalAveragePooling1D: (B, L, C) -> (B, C)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=1)
