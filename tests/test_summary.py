"""Keras-style summary: rows, shapes and totals a Keras user can check against the seed notes."""
from __future__ import annotations

import subprocess
import sys

import pytest
from hydra.utils import instantiate

from litzoo.models.sequential import sequential
from litzoo.summary import count_params, format_summary, keras_shape

KERAS_ROWS = [  # seed 000: the MNIST convnet, Keras' own output shapes and params
    ("conv2d (Conv2D)", "(None, 26, 26, 32)", "320"),
    ("max_pooling2d (MaxPooling2D)", "(None, 13, 13, 32)", "0"),
    ("conv2d_1 (Conv2D)", "(None, 11, 11, 64)", "18,496"),
    ("max_pooling2d_1 (MaxPooling2D)", "(None, 5, 5, 64)", "0"),
    ("conv2d_2 (Conv2D)", "(None, 3, 3, 64)", "36,928"),
    ("flatten (Flatten)", "(None, 576)", "0"),
    ("dense (Dense)", "(None, 64)", "36,928"),
    ("dense_1 (Dense)", "(None, 10)", "650"),
]


def test_mnist_convnet_summary_matches_keras(make_cfg) -> None:
    text = format_summary(instantiate(make_cfg("experiment=mnist_convnet").model))
    rows = [line.split() for line in text.splitlines() if "(None," in line]
    got = [(f"{r[0]} {r[1]}", " ".join(r[2:-1]), r[-1]) for r in rows]
    assert got == KERAS_ROWS
    assert "Total params: 93,322" in text and "Trainable params: 93,322" in text
    assert "Non-trainable params: 0" in text


def test_batchnorm_statistics_are_keras_non_trainable() -> None:
    net = sequential([1, 8, 8], [{"type": "Conv2D", "filters": 4, "kernel_size": 3},
                                 {"type": "BatchNormalization"}, {"type": "Flatten"}, {"type": "Dense", "units": 2}])
    total, trainable = count_params(net)
    # conv 4*9+4, BN 4*C (2*C moving statistics non-trainable, as Keras counts), dense 144*2+2
    assert (total, trainable) == (40 + 16 + 290, 40 + 8 + 290)
    assert "Non-trainable params: 8" in format_summary(net)


def test_frozen_params_are_non_trainable() -> None:
    net = sequential([4], [{"type": "Dense", "units": 3}, {"type": "Dense", "units": 1}])
    for p in net.dense.parameters():
        p.requires_grad_(False)
    assert "Non-trainable params: 15" in format_summary(net)


def test_shape_notation() -> None:
    assert keras_shape((32, 26, 26)) == "(None, 26, 26, 32)"
    assert keras_shape((32, 26, 26), "torch") == "(N, 32, 26, 26)"
    assert keras_shape((20, 8)) == "(None, 20, 8)"  # sequences are channels-last already


def test_summary_cli_needs_no_data(tmp_path) -> None:
    env_cmd = [sys.executable, "-m", "litzoo.cli.summary", "experiment=mnist_convnet", f"paths.data_dir={tmp_path}"]
    out = subprocess.run(env_cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "(None, 26, 26, 32)" in out.stdout and "Total params: 93,322" in out.stdout
    torch_style = subprocess.run(env_cmd + ["--torch"], capture_output=True, text=True, timeout=120)
    assert "(N, 32, 26, 26)" in torch_style.stdout


def test_a_bad_layer_argument_is_one_paragraph_naming_layer_and_choices(capsys: pytest.CaptureFixture) -> None:
    """Hydra wraps the layer's ValueError in an InstantiationException whose first line names nothing."""
    from litzoo.cli.summary import main

    with pytest.raises(SystemExit) as exit_:
        main(["experiment=mnist_fast", "model.kernel_initializer=xavier"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "`model` cannot be built: bad arguments for Conv2D" in err and "got 'xavier'" in err
    assert "he_uniform" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
