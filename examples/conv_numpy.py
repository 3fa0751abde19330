"""The seed's convolution in NumPy (seed 002, "Using convolutions"), with its typos fixed.

The seed slides a kernel over an array and multiplies element-wise::

    array = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0]); kernel = np.array([1, -1, 0])
    conv = np.zelos_like(array)                                   # -> np.zeros(...)
    for ii in range(8):
        conv[ii] = (kernel * array[ii: ii + len(conv)])           # -> len(kernel), then .sum()

That is a cross-correlation (the kernel is not flipped), which is what deep-learning "convolution"
layers compute (`torch.nn.functional.conv1d`/`conv2d`, Keras Conv1D/Conv2D). The output length follows
the seed's formula O = (I - K + 2P) / S + 1 (floor), with dilation D: O = (I - D(K - 1) - 1 + 2P) / S + 1.
"""
from __future__ import annotations

import numpy as np

# The seed's kernel that "finds horizontal lines in images": a bright row between two dark ones.
HORIZONTAL_LINE_KERNEL = np.array([[-1, -1, -1],
                                   [1, 1, 1],
                                   [-1, -1, -1]])


def output_size(size: int, kernel: int, padding: int = 0, stride: int = 1, dilation: int = 1) -> int:
    """O = floor((I - D(K - 1) - 1 + 2P) / S) + 1, the seed's (I - K + 2P) / S + 1 when D = 1."""
    if min(size, kernel, stride, dilation) < 1 or padding < 0:
        raise ValueError(f"need positive size/kernel/stride/dilation and padding >= 0, got "
                         f"I={size} K={kernel} P={padding} S={stride} D={dilation}")
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(f"kernel span {span} is larger than the padded input {size + 2 * padding}")
    return (size + 2 * padding - span) // stride + 1


def conv1d(array: np.ndarray, kernel: np.ndarray, padding: int = 0, stride: int = 1, dilation: int = 1) -> np.ndarray:
    """The seed's loop: out[i] = sum(kernel * window i), zero padding P each side, stride S, dilation D."""
    array, kernel = np.asarray(array, dtype=float), np.asarray(kernel, dtype=float)
    padded = np.pad(array, padding)
    n = output_size(len(array), len(kernel), padding, stride, dilation)
    out = np.zeros(n)
    for i in range(n):
        start = i * stride
        out[i] = (kernel * padded[start: start + dilation * (len(kernel) - 1) + 1: dilation]).sum()
    return out


def conv2d(image: np.ndarray, kernel: np.ndarray, padding: int = 0, stride: int = 1) -> np.ndarray:
    """The same loop over rows and columns of a 2-D image (one channel, one kernel)."""
    image, kernel = np.asarray(image, dtype=float), np.asarray(kernel, dtype=float)
    padded = np.pad(image, padding)
    (kh, kw) = kernel.shape
    oh = output_size(image.shape[0], kh, padding, stride)
    ow = output_size(image.shape[1], kw, padding, stride)
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = (kernel * padded[i * stride: i * stride + kh, j * stride: j * stride + kw]).sum()
    return out
