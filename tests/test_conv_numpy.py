"""The seed's NumPy convolution (examples/conv_numpy.py) and horizontal-line kernel against torch's conv1d/conv2d."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))  # an example, not part of the package
from conv_numpy import HORIZONTAL_LINE_KERNEL, conv1d, conv2d, output_size  # noqa: E402


def test_seed_example_and_torch_agree() -> None:
    array = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    kernel = np.array([1, -1, 0])
    out = conv1d(array, kernel)
    assert out.tolist() == [1, -1] * 4  # the seed's 8 outputs: (10 - 3 + 0) / 1 + 1
    ref = F.conv1d(torch.tensor(array, dtype=torch.float64)[None, None], torch.tensor(kernel, dtype=torch.float64)[None, None])
    np.testing.assert_array_equal(out, ref[0, 0].numpy())


@pytest.mark.parametrize(("padding", "stride", "dilation"), [(0, 1, 1), (2, 1, 1), (1, 2, 1), (0, 1, 2), (3, 3, 2)])
def test_conv1d_options_match_torch(padding, stride, dilation) -> None:
    rng = np.random.default_rng(0)
    array, kernel = rng.normal(size=17), rng.normal(size=4)
    out = conv1d(array, kernel, padding, stride, dilation)
    ref = F.conv1d(torch.tensor(array)[None, None], torch.tensor(kernel)[None, None], padding=padding, stride=stride,
                   dilation=dilation)[0, 0].numpy()
    np.testing.assert_allclose(out, ref)
    assert len(out) == output_size(17, 4, padding, stride, dilation)


def test_horizontal_line_kernel_finds_horizontal_lines() -> None:
    image = np.zeros((7, 7))
    image[3, :] = 1  # one horizontal line
    image[:, 5] = 1  # and one vertical line
    out = conv2d(image, HORIZONTAL_LINE_KERNEL)
    ref = F.conv2d(torch.tensor(image)[None, None], torch.tensor(HORIZONTAL_LINE_KERNEL, dtype=torch.float64)[None, None])
    np.testing.assert_allclose(out, ref[0, 0].numpy())
    assert out.shape == (5, 5)
    assert np.unravel_index(out.argmax(), out.shape)[0] == 2  # strongest response centred on row 3
    assert out[2, 0] == 3 and out[:, 3:].max() < 3  # the vertical line does not respond as strongly
    np.testing.assert_allclose(conv2d(image, HORIZONTAL_LINE_KERNEL, padding=1, stride=2),
                               F.conv2d(torch.tensor(image)[None, None],
                                        torch.tensor(HORIZONTAL_LINE_KERNEL, dtype=torch.float64)[None, None],
                                        padding=1, stride=2)[0, 0].numpy())


def test_output_size_formula() -> None:
    assert output_size(28, 3) == 26 and output_size(28, 3, padding=1) == 28  # 'valid' and 'same'
    assert output_size(200, 7) == 194 and output_size(10, 3, stride=2) == 4
    with pytest.raises(ValueError, match="larger than the padded input"):
        output_size(2, 5)
