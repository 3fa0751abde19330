"""Speed options of the task (issue 12): channels_last gives NCHW's numbers; label smoothing is Keras'."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
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


# --- task.optimization: litzoo's direct step (manual optimization) against Lightning's automatic optimization

QUIET = ("callbacks=minimal", "logger=none", "trainer.max_epochs=2")


def _history(run_dir: Path) -> list[dict[str, str]]:
    import csv

    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


class CountBackward(pl.Callback):
    """Listens to a hook Lightning calls around each optimizer step: the direct step must not skip it."""

    calls = 0

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        CountBackward.calls += 1


class Spy(pl.Callback):
    """Records which step the task took and Lightning's mode."""

    seen: dict = {}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        Spy.seen = {"direct": pl_module._direct, "automatic": pl_module.automatic_optimization}


def _run(make_cfg, tmp_path: Path, name: str, *overrides: str, spy: bool = True) -> dict:
    from omegaconf import open_dict

    cfg = make_cfg(*QUIET, f"paths.output_dir={tmp_path / name}", *overrides)
    if spy:
        with open_dict(cfg):
            cfg.callbacks.spy = {"_target_": f"{__name__}.Spy"}
    return train(cfg)


@pytest.mark.parametrize("scheduler", ["cosine", "plateau"])
def test_direct_step_gives_lightnings_numbers(make_cfg, tmp_path: Path, scheduler: str) -> None:
    """The same run with litzoo's direct step and with Lightning's automatic optimization: the same losses,
    accuracies, learning rates (a per-epoch schedule; ReduceLROnPlateau made to cut every epoch) and steps."""
    # no improvement counts (threshold 10): a cut after epoch 2, seen in epoch 3's learning rate
    extra = ["scheduler.patience=0", "scheduler.threshold=10", "trainer.max_epochs=3"] if scheduler == "plateau" else []
    runs = {}
    for mode in ("direct", "lightning"):
        runs[mode] = _run(make_cfg, tmp_path, mode, f"scheduler={scheduler}", *extra, f"task.optimization={mode}")
        assert Spy.seen == {"direct": mode == "direct", "automatic": mode == "lightning"}
    assert runs["direct"]["global_step"] == runs["lightning"]["global_step"] == 18 * (3 if extra else 2)
    direct, auto = _history(tmp_path / "direct"), _history(tmp_path / "lightning")
    for a, b in zip(direct, auto):
        for key in ("loss", "acc", "val_loss", "val_acc", "lr"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4, abs=1e-7), (key, a, b)
    assert float(direct[-1]["lr"]) < float(direct[0]["lr"])  # the schedule did move


def test_direct_step_only_where_it_is_exact(make_cfg, tmp_path: Path) -> None:
    """A callback listening to on_after_backward gets every call (Lightning's manual_backward); gradient clipping,
    which Lightning offers only in automatic optimization, switches the run there."""
    from omegaconf import open_dict

    CountBackward.calls = 0
    cfg = make_cfg(*QUIET, f"paths.output_dir={tmp_path / 'hook'}")
    with open_dict(cfg):
        cfg.callbacks.spy = {"_target_": f"{__name__}.Spy"}
        cfg.callbacks.count = {"_target_": f"{__name__}.CountBackward"}
    assert train(cfg)["status"] == "ok"
    assert Spy.seen == {"direct": False, "automatic": False} and CountBackward.calls == 2 * 18
    results = _run(make_cfg, tmp_path, "clip", "+trainer.gradient_clip_val=0.5")
    assert results["status"] == "ok" and Spy.seen["automatic"] is True and results["global_step"] == 2 * 18
    with pytest.raises(ValueError, match="task.optimization must be one of direct, lightning; got 'fast'"):
        ClassificationTask(dense(10, "softmax"), torch.optim.SGD, num_classes=10, optimization="fast")


def test_a_checkpoint_of_the_other_mode_resumes_at_its_step(make_cfg, tmp_path: Path) -> None:
    """Lightning counts steps in a different loop per mode: a run checkpointed under automatic optimization (any run
    of an earlier litzoo) resumes under the direct step at its step, and ends where a straight run ends."""
    straight = _run(make_cfg, tmp_path, "straight", spy=False)
    _run(make_cfg, tmp_path, "resumed", "trainer.max_epochs=1", "task.optimization=lightning", spy=False)
    resumed = _run(make_cfg, tmp_path, "resumed", f"ckpt_path={tmp_path / 'resumed'}", spy=False)
    assert resumed["global_step"] == straight["global_step"] == 2 * 18
    for key in ("last/loss", "last/val_loss", "test/acc"):
        assert resumed["metrics"][key] == pytest.approx(straight["metrics"][key], abs=1e-6), key


def test_metrics_taken_once_equal_metrics_taken_every_step() -> None:
    """The steps' predictions are handed to the metrics in one update: the same accuracy and batch-size-weighted
    mean loss as updating them every step (batches of unequal size included)."""
    import torchmetrics

    torch.manual_seed(0)
    task = ClassificationTask(dense(10, "softmax"), torch.optim.SGD, num_classes=10)
    accuracy, mean = torchmetrics.classification.MulticlassAccuracy(10, average="micro"), torchmetrics.MeanMetric()
    for size in (8, 8, 3):
        x, y = torch.rand(size, 1, 28, 28), torch.randint(0, 10, (size,))
        loss = task.step((x, y), "train")
        accuracy.update(task(x).argmax(-1), y)
        mean.update(loss.detach(), weight=size)
    assert len(task.pending["train"]) == 3
    running = task.running_metrics("train")
    assert running == pytest.approx({"acc": float(accuracy.compute()), "loss": float(mean.compute())}, rel=1e-6)
    assert not task.pending["train"]  # handed over once
