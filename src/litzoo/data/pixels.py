"""Pixels <-> model input: each preprocessing convention and its inverse, side by side.

Image sources hold uint8 pixels and `preprocess_images` them on the device (after augmentation, as Keras
applies `rescale` last); the pictures (litzoo.visual) turn model inputs back into pixels with `to_display`.
A new convention is added to both functions here, and tests/test_image_data.py checks the round trip of each.
"""
from __future__ import annotations

from torch import Tensor

# Keras' preprocess_input conventions, on float pixels in [0, 255] (imagenet_utils: 'tf', 'torch', 'caffe').
PREPROCESS_MODES = ("rescale", "symmetric", "imagenet", "caffe", "none")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _channels(x: Tensor, values: tuple[float, ...]) -> Tensor:
    return x.new_tensor(values).view(1, 3, 1, 1)


def preprocess_images(x: Tensor, mode: str) -> Tensor:
    """rescale: [0, 1] (Keras `rescale=1./255`); symmetric: [-1, 1] (mode 'tf'); imagenet: torchvision's mean/std
    (mode 'torch', what torchvision's pretrained weights expect); caffe: BGR minus mean (Keras' VGG16/ResNet50
    preprocess_input, for weights converted from Keras); none: raw 0..255."""
    if mode == "rescale":
        return x / 255.0
    if mode == "symmetric":
        return x / 127.5 - 1.0
    if mode == "imagenet":
        return (x / 255.0 - _channels(x, IMAGENET_MEAN)) / _channels(x, IMAGENET_STD)
    if mode == "caffe":
        return x.flip(1) - _channels(x, CAFFE_MEAN_BGR)
    if mode == "none":
        return x
    raise ValueError(f"unknown preprocess {mode!r}; valid: {', '.join(PREPROCESS_MODES)}")


def to_display(x: Tensor, mode: str) -> Tensor:
    """The inverse of `preprocess_images(., mode)`, divided by 255: model input -> [0, 1] RGB/grey for display."""
    x = x.detach().float()
    if mode == "symmetric":
        x = (x + 1) / 2
    elif mode == "imagenet":
        x = x * _channels(x, IMAGENET_STD) + _channels(x, IMAGENET_MEAN)
    elif mode == "caffe":
        x = (x + _channels(x, CAFFE_MEAN_BGR)).flip(1) / 255
    elif mode == "none":
        x = x / 255
    return x.clamp(0, 1)  # rescale (and sources that hold [0, 1] floats): as it is
