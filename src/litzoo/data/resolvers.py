"""OmegaConf resolvers that derive each data config's `input_shape` from the values it follows from.

    input_shape: ${litzoo_window_shape:${data.lookback},${data.step},${data.features}}   # time series
    input_shape: ${litzoo_image_shape:${data.target_size},${data.color_mode}}             # image folders
    input_shape: ${litzoo_vgg16_shape:${data.source.target_size}}                         # VGG16 features
    input_shape: ${litzoo_text_shape:${data.mode},${data.maxlen},${data.num_words}}       # IMDB

The data modules still check the shape against the data they load.
"""
from __future__ import annotations

from collections.abc import Sequence

from omegaconf import OmegaConf

CHANNELS = {"rgb": 3, "grayscale": 1}


def window_shape(lookback: int, step: int, features: Sequence[str]) -> list[int]:
    """[lookback // step, number of features]: one window of a time series."""
    return [int(lookback) // int(step), len(features)]


def image_shape(target_size: Sequence[int], color_mode: str) -> list[int]:
    """[channels, height, width] of images read at Keras' `target_size=(height, width)`."""
    if color_mode not in CHANNELS:
        raise ValueError(f"color_mode must be one of {sorted(CHANNELS)}, got {color_mode!r}")
    return [CHANNELS[color_mode], int(target_size[0]), int(target_size[1])]


def vgg16_shape(target_size: Sequence[int]) -> list[int]:
    """VGG16's convolutional base output for images of `target_size` (150x150 -> [512, 4, 4]): the model's
    own arithmetic (litzoo.models.pretrained), imported only when a config asks for it."""
    from litzoo.models.pretrained import vgg16_output_shape

    return vgg16_output_shape(target_size)


def text_shape(mode: str, maxlen: int | None, num_words: int) -> list[int]:
    """[maxlen] padded token ids (mode sequence) or [num_words] multi-hot (mode multihot)."""
    return [int(num_words)] if mode == "multihot" else [int(maxlen)]


def register() -> None:
    """Register the shape resolvers once (litzoo.run.resume.register_resolvers calls this)."""
    for name, fn in (("litzoo_window_shape", window_shape), ("litzoo_image_shape", image_shape),
                     ("litzoo_vgg16_shape", vgg16_shape), ("litzoo_text_shape", text_shape)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
