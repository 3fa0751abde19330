"""Keras recurrent layers: LSTM, GRU, Bidirectional, with Keras' `dropout` and `recurrent_dropout`.

Sequences are (B, L, C), channels-last as in Keras. The layers keep PyTorch's fused `nn.LSTM`/`nn.GRU`
weights and run the fused kernel (cuDNN on GPU, oneDNN/ATen on CPU) whenever `recurrent_dropout` is
inactive. With `recurrent_dropout > 0` in training mode, one dropout mask per sequence multiplies
h(t-1) where it enters the recurrent products (Gal & Ghahramani 2016, as Keras does), which no fused
kernel offers: `masked_gru`/`masked_lstm` run that recurrence with a hand-written backward pass. Why:
autograd through a Python step loop costs ~20 recorded ops a step (6-9x the fused kernel on CPU);
here the input projections of all steps are one matmul, each step is ~7 in-place-friendly ops
forward and ~6 backward, and the weight gradients are one matmul over all steps.

PyTorch's LSTM has two bias vectors (+4*units weights): the layer reports Keras' count through
`keras_params()` and the summary shows both. Keras 3 GRU (reset_after=True) has PyTorch's layout.
Initialisers are Keras' (glorot_uniform kernel, orthogonal recurrent kernel, zero bias with LSTM
forget bias 1): they matter for how these small models train.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from litzoo.models.layers import check_rate


def sequence_mask(batch: int, size: int, rate: float, like: Tensor) -> Tensor:
    """One inverted-dropout mask per sequence, (B, size), reused at every time step."""
    keep = 1.0 - rate
    return torch.bernoulli(like.new_full((batch, size), keep)) / keep


def _shifted(states: Tensor) -> Tensor:
    """(T, B, H) states -> the states one step earlier, zeros (Keras' initial state) first."""
    return torch.cat([states.new_zeros(1, *states.shape[1:]), states[:-1]])


class _MaskedGRU(torch.autograd.Function):
    """GRU (reset_after) over time-major input projections `xs` (T, B, 3H), `mask` (B, H) on h(t-1)."""

    @staticmethod
    def forward(ctx: Any, xs: Tensor, mask: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
        steps, batch, h3 = xs.shape
        hid = h3 // 3
        w_t = w_hh.t()
        gh, rz = torch.empty_like(xs), xs.new_empty(steps, batch, 2 * hid)  # recurrent products; r, z
        hs, n = xs.new_empty(steps, batch, hid), xs.new_empty(steps, batch, hid)
        h = xs.new_zeros(batch, hid)
        for t in range(steps):
            torch.addmm(b_hh, h * mask, w_t, out=gh[t])
            torch.sigmoid(xs[t, :, :2 * hid] + gh[t, :, :2 * hid], out=rz[t])
            torch.tanh(torch.addcmul(xs[t, :, 2 * hid:], rz[t, :, :hid], gh[t, :, 2 * hid:]), out=n[t])
            h = torch.lerp(n[t], h, rz[t, :, hid:], out=hs[t])  # (1 - z) n + z h(t-1)
        ctx.save_for_backward(mask, w_hh, hs, gh, rz, n)
        return hs

    @staticmethod
    def backward(ctx: Any, dhs: Tensor) -> tuple[Tensor, None, Tensor, Tensor]:
        mask, w_hh, hs, gh, rz, n = ctx.saved_tensors
        hid = hs.shape[-1]
        h_prev = _shifted(hs)
        r, z, hn = rz[..., :hid], rz[..., hid:], gh[..., 2 * hid:]
        dn = (1 - z) * (1 - n * n)  # d(pre-tanh n) / dh(t)
        # d(recurrent products r, z, n) / dh(t): every gate gradient is linear in dh(t)
        coef = torch.cat([dn * hn * r * (1 - r), (h_prev - n) * z * (1 - z), dn * r], dim=-1)
        dh_all, dh = torch.empty_like(hs), hs.new_zeros(hs.shape[1:])
        for t in range(hs.shape[0] - 1, -1, -1):
            dh = torch.add(dh, dhs[t], out=dh_all[t])
            dgh = dh.repeat(1, 3).mul_(coef[t])
            dh = torch.addcmul(dh * z[t], dgh.mm(w_hh), mask)
        dgh = dh_all.repeat(1, 1, 3).mul_(coef)
        dxs = torch.cat([dgh[..., :2 * hid], dh_all * dn], dim=-1)
        dw = dgh.flatten(0, 1).t().mm((h_prev * mask).flatten(0, 1))
        return dxs, None, dw, dgh.sum((0, 1))


class _MaskedLSTM(torch.autograd.Function):
    """LSTM (gates i, f, g, o) over time-major input projections `xs` (T, B, 4H), `mask` (B, H) on h(t-1)."""

    @staticmethod
    def forward(ctx: Any, xs: Tensor, mask: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
        steps, batch, h4 = xs.shape
        hid = h4 // 4
        w_t = w_hh.t()
        gates, hs, cs, tcs = torch.empty_like(xs), *(xs.new_empty(steps, batch, hid) for _ in range(3))
        h = c = xs.new_zeros(batch, hid)
        for t in range(steps):
            g = torch.addmm(b_hh, h * mask, w_t, out=gates[t]).add_(xs[t])
            g[:, :2 * hid].sigmoid_()
            g[:, 2 * hid:3 * hid].tanh_()
            g[:, 3 * hid:].sigmoid_()
            c = torch.addcmul(g[:, hid:2 * hid] * c, g[:, :hid], g[:, 2 * hid:3 * hid], out=cs[t])
            h = torch.mul(g[:, 3 * hid:], torch.tanh(c, out=tcs[t]), out=hs[t])
        ctx.save_for_backward(mask, w_hh, gates, hs, cs, tcs)
        return hs

    @staticmethod
    def backward(ctx: Any, dhs: Tensor) -> tuple[Tensor, None, Tensor, Tensor]:
        mask, w_hh, gates, hs, cs, tcs = ctx.saved_tensors
        i, f, g, o = gates.chunk(4, dim=-1)
        dc_dh = o * (1 - tcs * tcs)
        # d(pre-activation gates) = [dc, dc, dc, dh] * coef
        coef = torch.cat([g * i * (1 - i), _shifted(cs) * f * (1 - f), i * (1 - g * g), tcs * o * (1 - o)], dim=-1)
        dh_all, dc_all = torch.empty_like(hs), torch.empty_like(hs)
        dh, dc = hs.new_zeros(hs.shape[1:]), hs.new_zeros(hs.shape[1:])
        for t in range(hs.shape[0] - 1, -1, -1):
            dh = torch.add(dh, dhs[t], out=dh_all[t])
            dc = torch.addcmul(dc, dh, dc_dh[t], out=dc_all[t])
            dgates = torch.cat([dc, dc, dc, dh], dim=1).mul_(coef[t])
            dh = dgates.mm(w_hh).mul_(mask)
            dc = dc * f[t]
        dgates = torch.cat([dc_all, dc_all, dc_all, dh_all], dim=-1).mul_(coef)
        dw = dgates.flatten(0, 1).t().mm((_shifted(hs) * mask).flatten(0, 1))
        return dgates, None, dw, dgates.sum((0, 1))


class _Recurrent:
    """Keras arguments and the dropout logic shared by LSTM and GRU (mixed into nn.LSTM / nn.GRU)."""

    gates = 0
    recurrence: type[torch.autograd.Function]  # _MaskedLSTM / _MaskedGRU

    def __init__(self, input_size: int, units: int, return_sequences: bool = False, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0) -> None:
        super().__init__(input_size, units, batch_first=True)  # nn.LSTM / nn.GRU, next in the MRO
        self.return_sequences = return_sequences
        self.keras_dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate("recurrent_dropout", recurrent_dropout)
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
        """The recurrence with `mask` on h(t-1) where it enters the gates, (B, L, F) -> (B, L, units)."""
        dtype = torch.promote_types(x.dtype, torch.float32)  # at least fp32: the state passes through every step
        w_ih, b_ih, w_hh, b_hh = (w.to(dtype) for w in (self.weight_ih_l0, self.bias_ih_l0, self.weight_hh_l0,
                                                         self.bias_hh_l0))
        with torch.autocast(x.device.type, enabled=False):
            xs = F.linear(x.to(dtype), w_ih, b_ih)  # the input projections of all steps in one matmul
            seq = self.recurrence.apply(xs.transpose(0, 1).contiguous(), mask.to(dtype), w_hh, b_hh)
        return seq.transpose(0, 1)  # (B, L, units)


class LSTM(_Recurrent, nn.LSTM):
    """keras.layers.LSTM(units, return_sequences, dropout, recurrent_dropout); tanh/sigmoid as Keras."""

    gates = 4
    recurrence = _MaskedLSTM

    def keras_params(self) -> int:
        """Keras has one bias vector: 4 * units * (inputs + units + 1)."""
        return 4 * self.hidden_size * (self.input_size + self.hidden_size + 1)


class GRU(_Recurrent, nn.GRU):
    """keras.layers.GRU (Keras 3, reset_after=True: PyTorch's layout and equations)."""

    gates = 3
    recurrence = _MaskedGRU


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
