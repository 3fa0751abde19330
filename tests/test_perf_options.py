"""Speed options of the task (issue 12): channels_last gives NCHW's numbers; label smoothing is Keras'."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from litzoo.models.sequential import sequential
from litzoo.tasks import ClassificationTask, use_channels_last
from litzoo.run.fit import train


def dense(units: int, activation: str) -> torch.nn.Module:
    return sequential([1, 28, 28], [{"type": "Flatten"}, {"type": "Dense", "units": units, "activation": activation}])


def _task(make_cfg, *overrides: str) -> ClassificationTask:
    cfg = make_cfg("experiment=mnist_convnet", *overrides)
    return instantiate(cfg.task, net=instantiate(cfg.model), optimizer=instantiate(cfg.optimizer))


def test_channels_last_auto_follows_the_network(make_cfg) -> None:
    conv = _task(make_cfg)
    assert conv.channels_last is True  # auto, a Conv2D net
    assert _task(make_cfg, "task.channels_last=false").channels_last is False
    assert use_channels_last(dense(10, "softmax"), "auto") is False
    with pytest.raises(ValueError, match="task.channels_last must be one of auto, true, false; got 'yes'"):
        use_channels_last(conv.net, "yes")


def test_channels_last_same_outputs_and_gradients_as_nchw(make_cfg) -> None:
    torch.manual_seed(0)
    nchw = _task(make_cfg, "task.channels_last=false")
    nhwc = _task(make_cfg, "task.channels_last=true")
    nhwc.net.load_state_dict(nchw.net.state_dict())
    for task in (nchw, nhwc):
        task.setup("fit")
    conv = nhwc.net.conv2d_1.weight  # (64, 32, 3, 3): the first conv has one input channel, either layout
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    losses = []
    for task in (nchw, nhwc):
        loss, _ = task.loss_and_output(task(x), y)
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(nchw.net.named_parameters(), nhwc.net.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_channels_last_run_matches_nchw_run(make_cfg, mnist_root: Path, tmp_path: Path) -> None:
    """Two real runs, one epoch each: the same metrics to float noise, and the checkpoint loads either way."""
    common = ("experiment=mnist_convnet", "data.download=false", f"paths.data_dir={mnist_root}", "data.batch_size=32",
              "trainer.max_epochs=1")
    runs = [train(make_cfg(*common, f"paths.output_dir={tmp_path / flag}", f"task.channels_last={flag}"))
            for flag in ("false", "true")]
    for key in ("last/loss", "last/val_loss", "test/loss"):
        assert runs[1]["metrics"][key] == pytest.approx(runs[0]["metrics"][key], rel=1e-3), key
    state = torch.load(runs[1]["best_checkpoint"], weights_only=True)["state_dict"]
    plain = _task(make_cfg, "task.channels_last=false")
    plain.load_state_dict(state)  # an NHWC checkpoint into an NCHW network: values, not layouts, are stored
    assert plain.net.conv2d_1.weight.is_contiguous()


def test_label_smoothing_is_keras(make_cfg) -> None:
    task = _task(make_cfg, "task.label_smoothing=0.1")
    logits, y = torch.randn(6, 10), torch.tensor([0, 1, 2, 3, 4, 9])
    loss, _ = task.loss_and_output(logits, y)
    # Keras categorical_crossentropy(label_smoothing=s): targets (1 - s) * one_hot + s / classes
    target = F.one_hot(y, 10) * 0.9 + 0.1 / 10
    torch.testing.assert_close(loss, -(target * logits.log_softmax(-1)).sum(-1).mean())
    assert _task(make_cfg).loss_and_output(logits, y)[0] == pytest.approx(F.cross_entropy(logits, y).item())


def test_binary_label_smoothing_is_keras(make_cfg) -> None:
    task = ClassificationTask(dense(1, "sigmoid"), torch.optim.SGD, num_classes=2, label_smoothing=0.2)
    logits, y = torch.tensor([[2.0], [-1.0]]), torch.tensor([1, 0])
    loss, _ = task.loss_and_output(logits, y)
    # Keras binary_crossentropy(label_smoothing=s): targets y * (1 - s) + s / 2, here 0.9 and 0.1
    p = torch.sigmoid(logits.squeeze(-1))
    expected = -(0.9 * math.log(p[0]) + 0.1 * math.log(1 - p[0]) + 0.1 * math.log(p[1]) + 0.9 * math.log(1 - p[1])) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"task.label_smoothing must be in \[0, 1\), got 1.0"):
        ClassificationTask(dense(10, "softmax"), torch.optim.SGD, num_classes=10, label_smoothing=1.0)


def test_mnist_fast_runs_one_cycle_per_step(make_cfg, mnist_root: Path, tmp_path: Path) -> None:
    """experiment=mnist_fast end to end: OneCycleLR gets the run's step count from the task (else it would
    stop after `trainer.max_epochs` steps), warms up, and ends near zero after the last step."""
    cfg = make_cfg("experiment=mnist_fast", "data.download=false", f"paths.data_dir={mnist_root}",
                   "data.batch_size=32", "trainer.max_epochs=2", f"paths.output_dir={tmp_path / 'run'}")
    results = train(cfg)
    assert results["status"] == "ok" and results["global_step"] == 2 * 7  # 216 training images / 32, rounded up
    lrs = [float(line.split(",")[5]) for line in (tmp_path / "run" / "history.csv").read_text().splitlines()[1:]]
    # the learning rate of each epoch's last step: near the peak (0.004) after epoch 1 of 2, annealed at the end
    assert lrs[0] > 2e-3 and lrs[1] < 1e-4
