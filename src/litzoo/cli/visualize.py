"""`litzoo-visualize RUN_DIR [key=value ...]`: what a trained convnet learned (DLwP 5.4), from its checkpoint.

Writes PNG files into RUN_DIR/visualizations/ and the same images into the run's TensorBoard (same tags
as during training): activations_<layer>, filters_<layer>, gradcam_<image>, confusion_matrix (test split),
mistakes (validation split); for text models the embedding projector and text_heatmap_<i>. No retraining:
the model is rebuilt from the config stored in the checkpoint, read with `weights_only=True`.

Options (every other key=value is a config override, e.g. paths.data_dir=../shared/data):
  layer=<keras name>      Grad-CAM layer (default: the last conv layer), e.g. layer=block5_conv3
  image=<file>[,<file>]   also Grad-CAM these image files (resized and preprocessed as the data module does)
  images=4                fixed validation images for activations, Grad-CAM and text heat maps
  filters=16              filter patterns per layer (0: none); filter_layers=block1_conv1,block3_conv1
  steps=40 step=10        gradient-ascent steps and step (pixel units); filter_size=<px> (default: the input's)
  mistakes=16             images in the mistakes grid
  device=auto             auto | cpu | cuda
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from litzoo.cli import add_allow_target, cli_run, own_options

OPTIONS: dict[str, type] = {"layer": str, "image": str, "images": int, "filters": int, "filter_layers": str,
                            "steps": int, "step": float, "filter_size": int, "mistakes": int, "device": str}


def parse_args(items: list[str]) -> tuple[dict[str, Any], list[str]]:
    """key=value items -> (visualisation options, config overrides)."""
    if bad := [item for item in items if "=" not in item]:
        raise SystemExit(f"litzoo-visualize: {bad[0]!r} is not key=value; options: {', '.join(OPTIONS)}, "
                         "or a config override such as paths.data_dir=<folder>")
    given, overrides = own_options(items, OPTIONS)
    options: dict[str, Any] = {}
    for key, value in given.items():
        try:
            options[key] = OPTIONS[key](value)
        except ValueError:
            raise SystemExit(f"litzoo-visualize: {key}={value!r} must be a {OPTIONS[key].__name__}") from None
    return options, overrides


def _device(choice: str, accelerator: str | None) -> Any:
    import torch

    if choice == "auto":
        use_cuda = torch.cuda.is_available() and accelerator not in ("cpu",)
        return torch.device("cuda" if use_cuda else "cpu")
    if choice not in ("cpu", "cuda"):
        raise SystemExit(f"litzoo-visualize: device={choice!r}; valid: auto, cpu, cuda")
    return torch.device(choice)


def load_run(path: str | Path, overrides: list[str] | None = None, allow: tuple[str, ...] = ()
             ) -> tuple[Any, Any, Any, dict[str, Any], Path]:
    """(config, data module set up, task with the checkpoint's weights, checkpoint, run dir)."""
    from litzoo.run.build import rebuild_run

    cfg, datamodule, task, state, run_dir = rebuild_run(path, overrides, allow)
    datamodule.setup("fit")
    return cfg, datamodule, task, state, run_dir


def visualize(path: str | Path, overrides: list[str] | None = None, allow: tuple[str, ...] = (),
              **options: Any) -> list[Path]:
    """Rebuild the run's model from its checkpoint and write every picture that applies; returns the PNG files."""
    import torch
    from torch.utils.tensorboard import SummaryWriter

    from litzoo.visual.inputs import first_batch, load_image
    from litzoo.visual.report import (
        Publisher,
        Settings,
        Subject,
        write_all,
        write_gradcams,
    )

    cfg, datamodule, task, state, run_dir = load_run(path, overrides, allow)
    device = _device(options.get("device", "auto"), cfg.trainer.get("accelerator"))
    subject = Subject(task.net.to(device), datamodule, task.num_classes)
    if not subject.layers and not subject.embeddings and not subject.num_classes:
        raise SystemExit(f"litzoo-visualize: {cfg.name} has no Conv2D or Embedding layer and is not a classifier: "
                         "nothing to picture")
    files = [Path(f) for f in options["image"].split(",")] if options.get("image") else []
    # read the user's images first: a bad path fails before any picture is drawn
    extra = [load_image(f, tuple(subject.net.input_shape), datamodule) for f in files] if subject.layers else []
    x, y = first_batch(datamodule, "val", options.get("images", 4), device)
    writer = SummaryWriter(str(run_dir))
    publish = Publisher(run_dir / "visualizations", writer, int(state.get("global_step", 0)))
    try:
        layers = options.get("filter_layers")
        keys = ("filters", "steps", "step", "filter_size", "layer", "mistakes")
        settings = Settings(filter_layers=layers.split(",") if layers else None,
                            **{k: options[k] for k in keys if k in options})
        write_all(subject, publish, x, y, settings)
        if extra:
            write_gradcams(subject, torch.cat(extra).to(device), None, [f.stem for f in files], publish,
                           options.get("layer"))
    finally:
        writer.close()
    return publish.written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="litzoo-visualize", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("run", help="a run directory (or a .ckpt file)")
    parser.add_argument("items", nargs="*", help="options and config overrides, key=value")
    add_allow_target(parser)
    args = parser.parse_args(argv)
    options, overrides = parse_args(args.items)
    written = cli_run(lambda: visualize(args.run, overrides, tuple(args.allow_target), **options),
                      "verbose=true" in overrides)
    folder = written[0].parent if written else None
    print(f"Wrote {len(written)} pictures to {folder} (and the run's TensorBoard)")
    for f in written:
        print(f"  {f.name}")


if __name__ == "__main__":
    main()
