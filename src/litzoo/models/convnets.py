"""Keras Sequential convnets whose seed variations are config values (DataCamp, Day 27, Kaggle Learn).

The seeds show one model and then its variations: `padding='same'`, `strides=2`, `dilation_rate=2`,
an extra Dropout or BatchNormalization, average instead of max pooling. A model config keeps those
knobs in `options` and refers to them by interpolation; a layer whose `when` is falsy is left out::

    options: {strides: 1, dropout: null}
    layers:
      - {type: Conv2D, filters: 10, kernel_size: 3, strides: "${model.options.strides}"}
      - {type: Dropout, rate: "${model.options.dropout}", when: "${model.options.dropout}"}

so `litzoo-train experiment=datacamp_conv model.options.strides=2` is the seed's stride example.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from litzoo.models.sequential import KerasSequential
from litzoo.models.sequential import sequential as build_sequential


def sequential(input_shape: Sequence[int], layers: Sequence[Mapping[str, Any]],
               options: Mapping[str, Any] | None = None, input_dtype: str = "float32") -> KerasSequential:
    """`litzoo.models.sequential` with optional layers: specs with a falsy `when` are dropped.

    `options` is only read through interpolations in `layers` (Hydra resolves them before this call).
    """
    kept = []
    for spec in layers:
        spec = dict(spec)
        if not spec.pop("when", True):
            continue
        kept.append(spec)
    return build_sequential(input_shape, kept, input_dtype)
