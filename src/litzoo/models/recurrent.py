"""Text and sequence layers with Keras semantics: Embedding, LSTM, GRU, Bidirectional, Conv1D, pooling.

Sequences are (B, L, C), channels-last as in Keras, so summary shapes read like the seed notes; the
1-D conv/pool layers transpose to PyTorch's (B, C, L) internally.

Recurrent layers keep PyTorch's fused (cuDNN on GPU) `nn.LSTM`/`nn.GRU` weights and use the fused
kernel whenever `recurrent_dropout` is inactive. With `recurrent_dropout > 0` in training mode they run
a step loop over the same weights with one dropout mask per sequence on the recurrent state (Gal &
Ghahramani 2016, as Keras does). PyTorch's LSTM has two bias vectors (+4*units weights): the layer
reports Keras' count through `keras_params()` and the summary shows both. Keras 3 GRU (reset_after=True)
has the same layout as PyTorch's. Initialisers are Keras' (glorot_uniform kernel, orthogonal
recurrent kernel, zero bias with LSTM forget bias 1, Embedding uniform(-0.05, 0.05), Conv1D glorot):
they matter for how these small models train.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litzoo.models.layers import activation_fn, same_padding

Shape = tuple[int, ...]


def _check_rate(name: str, rate: float) -> float:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {rate!r}")
    return float(rate)


def sequence_mask(batch: int, size: int, rate: float, like: Tensor) -> Tensor:
    """One inverted-dropout mask per sequence, (B, size), reused at every time step."""
    keep = 1.0 - rate
    return torch.bernoulli(like.new_full((batch, size), keep)) / keep


class Embedding(nn.Embedding):
    """keras.layers.Embedding(input_dim, output_dim); optionally filled from a GloVe-format file.

    `embeddings_file` is read by the data module once the vocabulary is known (see `load_pretrained`);
    `trainable=False` freezes the matrix (Keras' `layer.trainable = False`).
    """

    def __init__(self, input_dim: int, output_dim: int, embeddings_file: str | None = None,
                 trainable: bool = True) -> None:
        super().__init__(input_dim, output_dim)
        nn.init.uniform_(self.weight, -0.05, 0.05)
        self.embeddings_file = embeddings_file
        self.weight.requires_grad_(trainable)

    def load_pretrained(self, vocabulary: Sequence[str], first_index: int) -> int:
        """Fill rows from `embeddings_file` (word i of `vocabulary` -> row first_index + i); returns rows found."""
        from litzoo.text import load_glove

        matrix, found = load_glove(self.embeddings_file, vocabulary, first_index, self.num_embeddings,
                                   self.embedding_dim)
        with torch.no_grad():
            self.weight.copy_(matrix)
        return found

    def forward(self, x: Tensor) -> Tensor:  # (B, L) int -> (B, L, D)
        return super().forward(x.long())


def _make_embedding(s: Shape, input_length: int | None = None, **kw: Any) -> Embedding:
    if input_length is not None and (len(s) != 1 or s[0] != input_length):
        raise ValueError(f"Embedding input_length={input_length} does not match the input shape {s}")
    return Embedding(**kw)


class _Recurrent:
    """Keras arguments and the dropout logic shared by LSTM and GRU (mixed into nn.LSTM / nn.GRU)."""

    gates = 0

    def __init__(self, input_size: int, units: int, return_sequences: bool = False, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0) -> None:
        super().__init__(input_size, units, batch_first=True)  # nn.LSTM / nn.GRU, next in the MRO
        self.return_sequences = return_sequences
        self.keras_dropout = _check_rate("dropout", dropout)
        self.recurrent_dropout = _check_rate("recurrent_dropout", recurrent_dropout)
        units = self.hidden_size
        nn.init.xavier_uniform_(self.weight_ih_l0)  # Keras kernel: glorot_uniform over (in, gates*units)
        nn.init.orthogonal_(self.weight_hh_l0)
        nn.init.zeros_(self.bias_ih_l0)
        nn.init.zeros_(self.bias_hh_l0)
        if self.gates == 4:  # Keras unit_forget_bias=True (PyTorch gate order i, f, g, o)
            nn.init.ones_(self.bias_ih_l0[units:2 * units])

    def forward(self, x: Tensor) -> Tensor:  # (B, L, F) -> (B, L, units) or (B, units)
        if self.training and self.keras_dropout > 0:  # Keras `dropout`: one input mask per sequence
            x = x * sequence_mask(x.shape[0], x.shape[-1], self.keras_dropout, x).unsqueeze(1)
        if self.training and self.recurrent_dropout > 0:
            mask = sequence_mask(x.shape[0], self.hidden_size, self.recurrent_dropout, x)
            seq = self.step_loop(x, mask)
        else:
            seq, _ = super().forward(x)  # fused kernel
        return seq if self.return_sequences else seq[:, -1]

    def step_loop(self, x: Tensor, mask: Tensor) -> Tensor:
        raise NotImplementedError


class LSTM(_Recurrent, nn.LSTM):
    """keras.layers.LSTM(units, return_sequences, dropout, recurrent_dropout); tanh/sigmoid as Keras."""

    gates = 4

    def keras_params(self) -> int:
        """Keras has one bias vector: 4 * units * (inputs + units + 1)."""
        return 4 * self.hidden_size * (self.input_size + self.hidden_size + 1)

    def step_loop(self, x: Tensor, mask: Tensor) -> Tensor:
        """The LSTM recurrence with `mask` on h(t-1) where it enters the gates."""
        xs = F.linear(x, self.weight_ih_l0, self.bias_ih_l0)  # (B, L, 4H), all input projections at once
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        out = []
        for t in range(x.shape[1]):
            i, f, g, o = (xs[:, t] + F.linear(h * mask, self.weight_hh_l0, self.bias_hh_l0)).chunk(4, dim=1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            out.append(h)
        return torch.stack(out, dim=1)


class GRU(_Recurrent, nn.GRU):
    """keras.layers.GRU (Keras 3, reset_after=True: PyTorch's layout and equations)."""

    gates = 3

    def step_loop(self, x: Tensor, mask: Tensor) -> Tensor:
        """The GRU recurrence with `mask` on h(t-1) where it enters the gates (the update uses h(t-1))."""
        xs = F.linear(x, self.weight_ih_l0, self.bias_ih_l0)  # (B, L, 3H): r, z, n
        h = x.new_zeros(x.shape[0], self.hidden_size)
        out = []
        for t in range(x.shape[1]):
            xr, xz, xn = xs[:, t].chunk(3, dim=1)
            hr, hz, hn = F.linear(h * mask, self.weight_hh_l0, self.bias_hh_l0).chunk(3, dim=1)
            r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
            h = (1 - z) * (xn + r * hn).tanh() + z * h
            out.append(h)
        return torch.stack(out, dim=1)


RNN_TYPES: dict[str, type[nn.Module]] = {"LSTM": LSTM, "GRU": GRU}
MERGE_MODES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "concat": lambda a, b: torch.cat([a, b], dim=-1),
    "sum": torch.add,
    "mul": torch.mul,
    "ave": lambda a, b: (a + b) / 2,
}


class Bidirectional(nn.Module):
    """keras.layers.Bidirectional(layer, merge_mode='concat'): a forward and a time-reversed copy."""

    def __init__(self, input_size: int, layer: Mapping[str, Any], merge_mode: str = "concat") -> None:
        super().__init__()
        spec = dict(layer)
        kind = spec.pop("type", None)
        if kind not in RNN_TYPES:
            raise ValueError(f"Bidirectional wraps a recurrent layer; got {kind!r}, valid: {sorted(RNN_TYPES)}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"unknown merge_mode {merge_mode!r}; valid: {sorted(MERGE_MODES)}")
        self.forward_layer = RNN_TYPES[kind](input_size, **spec)
        self.backward_layer = RNN_TYPES[kind](input_size, **spec)
        self.merge_mode = merge_mode

    def keras_params(self) -> int:
        return sum(m.keras_params() if hasattr(m, "keras_params") else sum(p.numel() for p in m.parameters())
                   for m in (self.forward_layer, self.backward_layer))

    def forward(self, x: Tensor) -> Tensor:  # (B, L, F)
        fwd = self.forward_layer(x)
        bwd = self.backward_layer(x.flip(1))
        if self.forward_layer.return_sequences:
            bwd = bwd.flip(1)  # Keras re-aligns the backward outputs with the input time steps
        return MERGE_MODES[self.merge_mode](fwd, bwd)


class Conv1D(nn.Conv1d):
    """keras.layers.Conv1D on channels-last (B, L, C) input; padding 'valid', 'same' or 'causal'."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int, strides: int = 1, padding: str = "valid",
                 dilation_rate: int = 1, activation: str | None = None, use_bias: bool = True) -> None:
        if padding not in ("valid", "same", "causal"):
            raise ValueError(f"Conv1D padding must be 'valid', 'same' or 'causal', got {padding!r}")
        super().__init__(in_channels, filters, kernel_size, stride=strides, dilation=dilation_rate, bias=use_bias)
        nn.init.xavier_uniform_(self.weight)  # Keras: glorot_uniform kernel, zero bias
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self.keras_padding = padding
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


LAYER_TYPES: dict[str, Callable[..., nn.Module]] = {
    "Embedding": _make_embedding,
    "LSTM": lambda s, **kw: LSTM(s[-1], **kw),
    "GRU": lambda s, **kw: GRU(s[-1], **kw),
    "Bidirectional": lambda s, **kw: Bidirectional(s[-1], **kw),
    "Conv1D": lambda s, **kw: Conv1D(s[-1], **kw),
    "MaxPooling1D": lambda s, **kw: MaxPooling1D(**kw),
    "GlobalMaxPooling1D": lambda s, **kw: GlobalMaxPooling1D(**kw),
    "GlobalAveragePooling1D": lambda s, **kw: GlobalAveragePooling1D(**kw),
}
