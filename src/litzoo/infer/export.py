"""`litzoo-export`: a run's model as ONNX or TorchScript, its preprocessing described beside it, parity checked.

The exported graph takes the model's input as the data module hands it to the network (after scaling) and gives
what a user wants back: class probabilities in training order (softmax, or the sigmoid pair of a one-unit binary
head) or a forecast in the target's own units. `model.json` says everything needed to feed it: input shape,
dtype and layout, the data config's preprocessing keys and the stored facts (class names, vocabulary,
normalisation statistics). Parity: the same batch of real inputs (the run's test split; random ones, said so,
when the data is not at hand) through ONNX Runtime (or the reloaded TorchScript file) and eager PyTorch; the
largest absolute difference must be at most 1e-4. Default folder: `<run>/export/<format>/`, of its own (the
run's record is not touched), never over an earlier export without `--force`.
"""
from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from litzoo.errors import LitzooError
from litzoo.infer.runs import LoadedRun, load_run

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
TOLERANCE = 1e-4
PARITY_BATCH = 16
OPSET = 17
PREPROCESSING_KEYS = ("target_size", "color_mode", "interpolation", "preprocess", "image_size", "mode", "tokens",
                      "num_words", "maxlen", "ngrams", "hashing", "features", "target", "lookback", "step", "delay",
                      "time_column", "time_format", "missing")


class Deployable(nn.Module):
    """The network with its answer as users read it: probabilities, or the forecast in the target's units."""

    def __init__(self, net: nn.Module, classifier: bool, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        self.net, self.classifier, self.mean, self.std = net, classifier, mean, std

    def forward(self, x: Tensor) -> Tensor:
        from litzoo.heads import class_probabilities

        out = self.net(x)
        return class_probabilities(out) if self.classifier else out.float() * self.std + self.mean


def deployable(run: LoadedRun) -> Deployable:
    """The wrapper in eval mode as a whole: torch.onnx.export puts a module back in the mode it found it in,
    and a wrapper left in training mode would switch the network's dropout on for the eager reference."""
    net = run.task.net.float().cpu()
    if run.is_classifier or "stats" not in run.facts:
        return Deployable(net, run.is_classifier).eval()
    t_col = run.datamodule.columns.index(run.datamodule.target)
    return Deployable(net, False, run.facts["stats"]["mean"][t_col], run.facts["stats"]["std"][t_col]).eval()


def parity_inputs(run: LoadedRun) -> tuple[Tensor, str]:
    """(a batch of the run's test inputs as the network sees them, where it came from)."""
    dm = run.datamodule
    try:
        dm.setup("test")
        dataset = dm.datasets["test"]
        batch = dataset[torch.arange(min(PARITY_BATCH, len(dataset)))]
        return dm.on_after_batch_transfer(tuple(t.cpu() for t in batch), 0)[0], f"{len(batch[0])} test examples"
    except (OSError, LitzooError, ValueError) as err:  # the data is elsewhere: random inputs of the right shape
        example = run.task.net.example_input(PARITY_BATCH)
        x = torch.randint_like(example, 0, 2) if not example.is_floating_point() else torch.rand_like(example)
        return x, f"{PARITY_BATCH} random inputs (the run's data is not at hand: {str(err).splitlines()[0][:120]})"


def export_onnx(model: nn.Module, x: Tensor, target: io.BytesIO) -> None:
    # the TorchScript-based exporter (dynamo=False): no onnxscript needed, and it handles every litzoo layer in eval
    torch.onnx.export(model, (x,), target, input_names=["input"], output_names=["output"], opset_version=OPSET,
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, dynamo=False)


def export_torchscript(model: nn.Module, x: Tensor, target: io.BytesIO) -> None:
    torch.jit.save(torch.jit.trace(model, (x,), check_trace=False), target)


def run_exported(fmt: str, path: Path, x: Tensor) -> Tensor:
    if fmt == "torchscript":
        with torch.inference_mode():
            return torch.jit.load(str(path), map_location="cpu")(x)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"input": x.numpy()})[0])


def blame(net: nn.Module, x: Tensor, export: Callable[[nn.Module, Tensor, io.BytesIO], None]) -> str | None:
    """The first top-level layer that does not export on its own (its input captured from one forward pass)."""
    inputs: dict[str, Tensor] = {}
    hooks = [m.register_forward_pre_hook(lambda _m, args, name=name: inputs.setdefault(name, args[0]))
             for name, m in net.named_children()]
    try:
        with torch.inference_mode():
            net(x)
    finally:
        for hook in hooks:
            hook.remove()
    for name, layer in net.named_children():
        try:
            export(layer, inputs[name].clone(), io.BytesIO())
        except Exception as err:  # noqa: BLE001 - any exporter failure names the layer
            return f"layer {name!r} ({type(layer).__name__}) does not export ({str(err).strip().splitlines()[0][:300]})"
    return None


def describe(run: LoadedRun, fmt: str, x: Tensor, diff: float, source: str) -> dict[str, Any]:
    """model.json: what the exported file takes and gives."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(run.cfg.data, resolve=True)
    shape = list(x.shape[1:])
    layout = {3: "NCHW (channels first, PyTorch's; Keras' NHWC transposed)", 2: "(batch, timesteps, features)",
              1: "(batch, values): token ids or a multi-hot vector"}.get(len(shape), "(batch, ...)")
    facts = {k: v for k, v in run.facts.items() if k != "class_names"}
    output = ({"meaning": "class probabilities, in training order", "classes": run.class_names}
              if run.is_classifier else {"meaning": f"forecast of {data.get('target')} in its own units"})
    return {"format": fmt, "file": FORMATS[fmt], "experiment": run.cfg.get("name"), "run_dir": str(run.run_dir),
            "input": {"name": "input", "shape": ["batch", *shape], "dtype": str(x.dtype).replace("torch.", ""),
                      "layout": layout},
            "preprocessing": {"source": data.get("_target_"), **{k: data[k] for k in PREPROCESSING_KEYS if k in data},
                              **facts},
            "output": {"name": "output", **output},
            "parity": {"max_abs_diff": diff, "tolerance": TOLERANCE, "inputs": source}}


def export_run(path: str | Path, fmt: str, out: str | None = None, force: bool = False,
               allow: tuple[str, ...] = ()) -> Path:
    """Write <out>/model.onnx|model.pt and model.json; returns the folder."""
    from litzoo.run.atomic import atomic_write, atomic_write_text

    if fmt not in FORMATS:
        raise LitzooError(f"--format {fmt!r} is not one litzoo-export writes; valid: {', '.join(FORMATS)}.")
    run = load_run(path, [], allow)
    folder = Path(out).expanduser() if out else run.run_dir / "export" / fmt
    taken = [p.name for p in (folder / FORMATS[fmt], folder / "model.json") if p.exists()]
    if taken and not force:
        raise LitzooError(f"{folder} already holds an export ({', '.join(taken)}); give --force to replace it, or "
                          "--out <another folder>. Nothing was written.")
    model, (x, source) = deployable(run), parity_inputs(run)
    exporter = export_onnx if fmt == "onnx" else export_torchscript
    buffer = io.BytesIO()  # whole or not at all: the file is written atomically once the export succeeded
    try:
        with warnings.catch_warnings():  # class_probabilities reads the output's width: fixed for one model
            warnings.filterwarnings("ignore", "Converting a tensor to a Python boolean", torch.jit.TracerWarning)
            exporter(model, x, buffer)
    except Exception as err:
        raise LitzooError(_cannot_export(fmt, blame(model.net, x, exporter), err)) from err
    atomic_write(folder / FORMATS[fmt], lambda f: f.write(buffer.getvalue()))
    with torch.inference_mode():
        expected = model(x)
    diff = float((run_exported(fmt, folder / FORMATS[fmt], x).float() - expected.float()).abs().max())
    atomic_write_text(folder / "model.json", json.dumps(describe(run, fmt, x, diff, source), indent=2,
                                                        ensure_ascii=False) + "\n")
    print(f"Parity on {source}: max abs difference {diff:.3g} ({'ONNX Runtime' if fmt == 'onnx' else 'TorchScript'}"
          f" vs eager PyTorch; tolerance {TOLERANCE:g})")
    if not diff <= TOLERANCE:
        raise LitzooError(f"The exported model differs from the PyTorch one by up to {diff:.3g} on {source} (more "
                          f"than {TOLERANCE:g}): do not deploy {folder / FORMATS[fmt]} as it is. model.json records it.")
    print(f"Wrote {folder / FORMATS[fmt]} and {folder / 'model.json'}")
    return folder


def _cannot_export(fmt: str, culprit: str | None, err: BaseException) -> str:
    what = culprit or ("the model as a whole does not export although each layer does on its own "
                       f"({type(err).__name__}: {str(err).strip().splitlines()[0][:300]})")
    other = "torchscript" if fmt == "onnx" else "onnx"
    return (f"Cannot export the model to {fmt}: {what}. A layer written by hand in litzoo.models may need a form "
            f"the exporter knows; --format {other} may work. Nothing was written.")
