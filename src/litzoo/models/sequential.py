"""A Keras `Sequential` built from a list of layer specs, as in the seed notes.

A model config lists layers the way the Keras code adds them::

    layers:
      - {type: Conv2D, filters: 32, kernel_size: 3, activation: relu}
      - {type: MaxPooling2D, pool_size: 2}
      - {type: Dense, units: 10, activation: softmax}

Input sizes are inferred as Keras does (a probe tensor runs through each new layer), layers get Keras'
default names (`conv2d`, `conv2d_1`, `dense`, ...), and a final `softmax`/`sigmoid` is left to the loss
(CrossEntropy / BCEWithLogits take logits: same parameters, numerically stable).

The seeds show one model and then its variations (`padding='same'`, `strides=2`, an extra Dropout or
BatchNormalization, average instead of max pooling). A model config keeps those knobs in `options`,
refers to them by interpolation, and a layer whose `when` is falsy is left out::

    options: {strides: 1, dropout: null}
    layers:
      - {type: Conv2D, filters: 10, kernel_size: 3, strides: "${model.options.strides}"}
      - {type: Dropout, rate: "${model.options.dropout}", when: "${model.options.dropout}"}

so `litzoo-train experiment=datacamp_conv model.options.strides=2` is the seed's stride example.
"""
from __future__ import annotations

import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from litzoo.models import layers as L
from litzoo.models import recurrent as R
from litzoo.models import sequence as S

Shape = tuple[int, ...]
# The Keras vocabulary: layer name -> factory(input shape without batch, **keras kwargs).
LAYER_TYPES: dict[str, Callable[..., nn.Module]] = {
    "Conv2D": lambda s, **kw: L.Conv2D(s[0], **kw),
    "MaxPooling2D": lambda s, **kw: L.MaxPooling2D(**kw),
    "AveragePooling2D": lambda s, **kw: L.AveragePooling2D(**kw),
    "GlobalAveragePooling2D": lambda s, **kw: L.GlobalAveragePooling2D(**kw),
    "GlobalMaxPooling2D": lambda s, **kw: L.GlobalMaxPooling2D(**kw),
    "Flatten": lambda s, **kw: L.Flatten(**kw),
    "Dense": lambda s, **kw: L.Dense(s[-1], **kw),
    "Dropout": lambda s, **kw: L.Dropout(**kw),
    "Activation": lambda s, **kw: L.Activation(**kw),
    "BatchNormalization": lambda s, **kw: L.BatchNormalization(s[0], **kw),
    "Embedding": S.embedding,
    "Conv1D": lambda s, **kw: S.Conv1D(s[-1], **kw),
    "MaxPooling1D": lambda s, **kw: S.MaxPooling1D(**kw),
    "GlobalMaxPooling1D": lambda s, **kw: S.GlobalMaxPooling1D(**kw),
    "GlobalAveragePooling1D": lambda s, **kw: S.GlobalAveragePooling1D(**kw),
    "LSTM": lambda s, **kw: R.LSTM(s[-1], **kw),
    "GRU": lambda s, **kw: R.GRU(s[-1], **kw),
    "Bidirectional": lambda s, **kw: R.Bidirectional(s[-1], **kw),
}


INITIALIZED = ("Conv2D", "Dense", "Conv1D")  # the layers that take Keras' kernel_initializer


def keras_name(kind: str, seen: Counter) -> str:
    """Keras' default layer name: snake_case of the class, `_1`, `_2` ... for repeats."""
    base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", kind).lower().replace("2_d", "2d").replace("1_d", "1d")
    n = seen[base]
    seen[base] += 1
    return base if n == 0 else f"{base}_{n}"


class KerasSequential(nn.Sequential):
    """nn.Sequential that remembers its input/output shapes and the output activation the loss applies."""

    def __init__(self, modules: "OrderedDict[str, nn.Module]", input_shape: Shape, output_shape: Shape,
                 output_activation: str | None, input_dtype: torch.dtype) -> None:
        super().__init__(modules)
        self.input_shape = input_shape
        self.output_shape = output_shape
        self.output_activation = output_activation
        self.input_dtype = input_dtype

    def example_input(self, batch: int = 2) -> Tensor:
        return torch.zeros(batch, *self.input_shape, dtype=self.input_dtype)


def build_layer(spec: Mapping[str, Any], in_shape: Shape) -> tuple[str, nn.Module]:
    """One layer from its spec; unknown types and bad arguments name the layer and the valid choices."""
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in LAYER_TYPES:
        raise ValueError(f"unknown layer type {kind!r} in {dict(spec)}; valid: {sorted(LAYER_TYPES)}")
    name = spec.pop("name", None)
    try:
        return name, LAYER_TYPES[kind](in_shape, **spec)
    except (TypeError, ValueError) as err:  # name the layer: the same message may fit several
        raise type(err)(f"bad arguments for {kind} {spec}: {err}") from None


def sequential(input_shape: Sequence[int], layers: Sequence[Mapping[str, Any]], input_dtype: str = "float32",
               options: Mapping[str, Any] | None = None, kernel_initializer: str | None = None) -> KerasSequential:
    """Build a Keras-style Sequential from layer specs, leaving out those whose `when` is falsy (see module docstring).

    `options` is read only through `${model.options.*}` interpolations in `layers`, resolved before this call.
    `kernel_initializer` is the default of every Dense/Conv layer that does not name its own (None: Keras').
    """
    layers = [{k: v for k, v in spec.items() if k != "when"} for spec in layers if spec.get("when", True)]
    if kernel_initializer is not None:
        layers = [{"kernel_initializer": kernel_initializer, **spec} if spec.get("type") in INITIALIZED else spec
                  for spec in layers]
    if not layers:
        raise ValueError("a Sequential model needs at least one layer")
    dtype = getattr(torch, input_dtype)
    x = torch.zeros(2, *input_shape, dtype=dtype)
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    seen: Counter = Counter()
    for i, spec in enumerate(layers):
        name, layer = build_layer(spec, tuple(x.shape[1:]))
        name = name or keras_name(str(spec["type"]), seen)
        if name in modules:
            raise ValueError(f"duplicate layer name {name!r}")
        layer.eval()  # probe in eval mode: BatchNorm/Dropout must not change anything
        with torch.no_grad():
            try:
                x = layer(x)
            except RuntimeError as err:
                raise ValueError(f"layer {i} ({name}) cannot take input of shape {('None', *x.shape[1:])}: {err}") from None
        layer.train()
        modules[name] = layer
    out_act = _strip_output_activation(modules)
    return KerasSequential(modules, tuple(input_shape), tuple(x.shape[1:]), out_act, dtype)


def _strip_output_activation(modules: "OrderedDict[str, nn.Module]") -> str | None:
    last = next(reversed(modules.values()))
    act = getattr(last, "activation", None)
    if act in L.OUTPUT_ACTIVATIONS and hasattr(last, "act"):
        last.act = L.activation_fn(None)
        last.activation = None
        return act
    return None
