"""Keras text/sequence layers: recurrent dropout for real, Bidirectional, Conv1D/pooling shapes, Embedding."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from litzoo.models import recurrent as R
from litzoo.models import sequence as S
from litzoo.models.sequential import sequential


@pytest.mark.parametrize("cls", [R.LSTM, R.GRU])
def test_step_loop_matches_the_fused_kernel(cls) -> None:
    torch.manual_seed(0)
    layer = cls(5, 7, return_sequences=True)
    x = torch.randn(3, 11, 5)
    fused, _ = nn.LSTM.forward(layer, x) if cls is R.LSTM else nn.GRU.forward(layer, x)
    loop = layer.step_loop(x, torch.ones(3, 7))
    torch.testing.assert_close(loop, fused, rtol=1e-5, atol=1e-5)


def reference_loop(layer: nn.Module, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The textbook recurrence with the mask on h(t-1) in the recurrent products, differentiated by autograd."""
    xs = F.linear(x, layer.weight_ih_l0, layer.bias_ih_l0)
    h = c = x.new_zeros(x.shape[0], layer.hidden_size)
    out = []
    for t in range(x.shape[1]):
        hh = F.linear(h * mask, layer.weight_hh_l0, layer.bias_hh_l0)
        if isinstance(layer, R.LSTM):
            i, f, g, o = (xs[:, t] + hh).chunk(4, dim=1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
        else:
            (xr, xz, xn), (hr, hz, hn) = xs[:, t].chunk(3, dim=1), hh.chunk(3, dim=1)
            r, z = (xr + hr).sigmoid(), (xz + hz).sigmoid()
            h = (1 - z) * (xn + r * hn).tanh() + z * h
        out.append(h)
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("cls", [R.LSTM, R.GRU])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_hand_written_backward_matches_autograd(cls, return_sequences) -> None:
    """Same outputs and gradients (inputs and all four weight tensors) as autograd through the plain loop."""
    torch.manual_seed(0)
    layer = cls(5, 6, return_sequences=return_sequences, recurrent_dropout=0.4).double().train()
    x = torch.randn(4, 9, 5, dtype=torch.double, requires_grad=True)
    mask = R.sequence_mask(4, 6, 0.4, x.detach())
    got, want = layer.step_loop(x, mask), reference_loop(layer, x, mask)
    torch.testing.assert_close(got, want)
    weights = [x, *layer.parameters()]
    g = torch.randn_like(got if return_sequences else got[:, -1])
    pick = (lambda s: s) if return_sequences else (lambda s: s[:, -1])
    grads = torch.autograd.grad(pick(got), weights, g)
    ref = torch.autograd.grad(pick(want), weights, g)
    for a, b in zip(grads, ref):
        torch.testing.assert_close(a, b)
    xs = torch.randn(3, 2, layer.gates * 3, dtype=torch.double, requires_grad=True)
    w, b = torch.randn(layer.gates * 3, 3, dtype=torch.double, requires_grad=True), torch.randn(
        layer.gates * 3, dtype=torch.double, requires_grad=True)
    m = R.sequence_mask(2, 3, 0.5, xs.detach())
    assert torch.autograd.gradcheck(lambda a, c, d: layer.recurrence.apply(a, m, c, d), (xs, w, b))


@pytest.mark.parametrize("cls", [R.LSTM, R.GRU])
def test_recurrent_dropout_is_one_mask_per_sequence_on_the_state(cls, monkeypatch) -> None:
    """h(t-1) * m @ W_hh^T == h(t-1) @ (W_hh * m)^T: a per-sequence mask equals a masked recurrent kernel."""
    torch.manual_seed(0)
    layer = cls(4, 6, return_sequences=True, recurrent_dropout=0.5)
    x = torch.randn(1, 9, 4)
    masks = []
    real = R.sequence_mask
    monkeypatch.setattr(R, "sequence_mask", lambda *a: masks.append(real(*a)) or masks[-1])
    layer.train()
    out = layer(x)
    (mask,) = masks
    assert set(mask.unique().tolist()) <= {0.0, 2.0}
    ref = cls(4, 6, return_sequences=True)
    ref.load_state_dict(layer.state_dict())
    with torch.no_grad():
        ref.weight_hh_l0.mul_(mask)  # scales column j (state unit j) by m_j
    ref.eval()
    torch.testing.assert_close(out, ref(x), rtol=1e-5, atol=1e-5)
    layer.eval()  # inference: no mask, the fused kernel
    torch.testing.assert_close(layer(x), nn.GRU.forward(layer, x)[0] if cls is R.GRU else nn.LSTM.forward(layer, x)[0])


def test_input_dropout_mask_is_shared_over_time(monkeypatch) -> None:
    torch.manual_seed(0)
    layer = R.GRU(5, 3, return_sequences=True, dropout=0.5).train()
    masks = []
    real = R.sequence_mask
    monkeypatch.setattr(R, "sequence_mask", lambda *a: masks.append(real(*a)) or masks[-1])
    x = torch.randn(2, 6, 5)
    out = layer(x)
    (mask,) = masks
    assert mask.shape == (2, 5)  # one mask per sequence, the same at every step
    torch.testing.assert_close(out, layer.eval()(x * mask[:, None, :]))


def test_lstm_reports_keras_params_and_keras_initialisers() -> None:
    layer = R.LSTM(8, 32)
    assert layer.keras_params() == 4 * 32 * (8 + 32 + 1) == 5_248
    assert sum(p.numel() for p in layer.parameters()) == 5_248 + 4 * 32
    assert torch.all(layer.bias_ih_l0[32:64] == 1) and torch.all(layer.bias_hh_l0 == 0)  # unit_forget_bias
    w = layer.weight_hh_l0
    torch.testing.assert_close(w.T @ w, torch.eye(32), atol=1e-5, rtol=0)  # orthogonal recurrent kernel


def test_bidirectional_runs_the_backward_layer_on_reversed_time() -> None:
    torch.manual_seed(0)
    bi = R.Bidirectional(3, {"type": "GRU", "units": 4, "return_sequences": True}).eval()
    x = torch.randn(2, 5, 3)
    out = bi(x)
    assert out.shape == (2, 5, 8)
    torch.testing.assert_close(out[..., :4], bi.forward_layer(x))
    torch.testing.assert_close(out[..., 4:], bi.backward_layer(x.flip(1)).flip(1))
    summed = R.Bidirectional(3, {"type": "LSTM", "units": 4}, merge_mode="sum")
    assert summed(x).shape == (2, 4) and summed.keras_params() == 2 * 4 * 4 * (3 + 4 + 1)
    with pytest.raises(ValueError, match="recurrent layer"):
        R.Bidirectional(3, {"type": "Dense", "units": 4})


@pytest.mark.parametrize(("padding", "length"), [("valid", 14), ("same", 20), ("causal", 20)])
def test_conv1d_is_channels_last_keras(padding, length) -> None:
    conv = S.Conv1D(3, 5, kernel_size=7, padding=padding)
    x = torch.randn(2, 20, 3)
    out = conv(x)
    assert out.shape == (2, length, 5)
    if padding == "valid":
        torch.testing.assert_close(out, F.conv1d(x.transpose(1, 2), conv.weight, conv.bias).transpose(1, 2))
    if padding == "causal":  # output t sees inputs <= t only
        x2 = x.clone()
        x2[:, 10:] += 1
        assert torch.equal(conv(x2)[:, :10], out[:, :10])


def test_seed_conv1d_text_model_shapes() -> None:
    net = sequential([200], [{"type": "Embedding", "input_dim": 100, "output_dim": 16, "input_length": 200},
                             {"type": "Conv1D", "filters": 32, "kernel_size": 7, "activation": "relu"},
                             {"type": "MaxPooling1D", "pool_size": 5},
                             {"type": "Conv1D", "filters": 32, "kernel_size": 7},
                             {"type": "GlobalMaxPooling1D"}, {"type": "Dense", "units": 1}], input_dtype="int64")
    x = torch.randint(0, 100, (2, 200))
    shapes = []
    for m in net:
        x = m(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(200, 16), (194, 32), (38, 32), (32, 32), (32,), (1,)]  # seed 000's Dimensions


def test_embedding_keras_init_and_input_length_check() -> None:
    emb = S.Embedding(1000, 8)
    assert emb.weight.abs().max() <= 0.05
    with pytest.raises(ValueError, match="input_length=30"):
        sequential([20], [{"type": "Embedding", "input_dim": 10, "output_dim": 2, "input_length": 30}],
                   input_dtype="int64")
    with pytest.raises(ValueError, match="recurrent_dropout"):
        R.GRU(3, 4, recurrent_dropout=1.0)
