"""The DLwP 5.4 pictures of one trained model, as PNG files and TensorBoard images.

`litzoo-visualize` and the training callbacks both call these functions; a picture's TensorBoard tag
and its file name are one string (`gradcam/val_0` <-> `visualizations/gradcam_val_0.png`).
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image
from tensorboard.compat.proto.summary_pb2 import Summary
from torch import Tensor, nn

from litzoo.data import text
from litzoo.data.base import InMemoryDataModule
from litzoo.data.pixels import to_display
from litzoo.run.atomic import atomic_write
from litzoo.run.console import phase
from litzoo.run.loggers import add_summary
from litzoo.visual import figures
from litzoo.visual.compute import (
    confusion_counts,
    deprocess,
    filter_patterns,
    grad_cam,
    token_attribution,
)
from litzoo.visual.inputs import (
    Mistakes,
    class_names,
    pixel_input,
    predict_split,
)
from litzoo.visual.layers import (
    conv_layers,
    device_of,
    embedding_layers,
    eval_mode,
    pick,
    run_until,
)

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

# DLwP 5.4.2's VGG16 layers ("block1_conv1" ...) and their ResNet50 counterparts: the first layer of each stage.
STAGE_FIRST = re.compile(r"^(block\d+_conv1|conv\d+_block1)$")


def png_bytes(image: Image.Image) -> bytes:
    """The picture as PNG. zlib level 1: faster to encode than PIL's default 6 for slightly larger files
    (docs/speed.md, "The end of the run")."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@dataclass
class Publisher:
    """Sends each picture to `folder/<tag with _ for />.png` and to a TensorBoard writer, at one step."""

    folder: Path | None
    writer: SummaryWriter | None  # litzoo.run.loggers.tensorboard_writer: None when the logger takes no pictures
    step: int
    written: list[Path] = field(default_factory=list)

    def __call__(self, tag: str, image: Image.Image) -> None:
        png = png_bytes(image)  # encoded once: the file and TensorBoard's event (add_image would encode again)
        if self.writer is not None:
            picture = Summary.Image(height=image.height, width=image.width, colorspace=3, encoded_image_string=png)
            add_summary(self.writer, Summary(value=[Summary.Value(tag=tag, image=picture)]), self.step)
        if self.folder is not None:
            path = self.folder / f"{tag.replace('/', '_')}.png"
            atomic_write(path, lambda f: f.write(png))
            self.written.append(path)

    def text(self, tag: str, markdown: str) -> None:
        if self.writer is not None:
            self.writer.add_text(tag, markdown, self.step)


@dataclass
class Subject:
    """A net and what its pictures need from the data: class names, the input convention, the layers."""

    net: nn.Module
    datamodule: InMemoryDataModule
    num_classes: int | None  # None: not a classifier (no Grad-CAM, confusion matrix or mistakes)

    def __post_init__(self) -> None:
        self.names = class_names(self.datamodule, self.num_classes) if self.num_classes else []
        self.mode = self.datamodule.preprocess_mode
        self.to_model = pixel_input(self.datamodule)
        self.layers = conv_layers(self.net)
        self.embeddings = embedding_layers(self.net)
        self.images = len(getattr(self.net, "input_shape", ())) == 3  # (C, H, W): pictures of inputs make sense

    def display(self, x: Tensor) -> Tensor:
        return to_display(x, self.mode).cpu()

    def label(self, index: int) -> str:
        return self.names[index] if index < len(self.names) else str(index)


@torch.no_grad()
def write_activations(subject: Subject, x: Tensor, publish: Publisher, max_channels: int = 64) -> None:
    """activations/<layer>: every conv layer's feature maps for the images x (DLwP 5.4.1)."""
    if not subject.layers:
        return
    with eval_mode(subject.net):
        maps = run_until(subject.net, x, subject.layers, last=list(subject.layers)[-1])
    shown = subject.display(x)
    for name, out in maps.items():
        publish(f"activations/{name}", figures.activations_figure(name, shown, out.float().cpu(), max_channels))


def default_filter_layers(names: list[str]) -> list[str]:
    """All conv layers of a small convnet; the first layer of each stage of VGG16/ResNet50 (DLwP's choice)."""
    if len(names) <= 5:
        return list(names)
    chosen = [n for n in names if STAGE_FIRST.match(n)]
    return chosen if len(chosen) >= 3 else [names[round(i * (len(names) - 1) / 4)] for i in range(5)]


def write_filters(subject: Subject, publish: Publisher, layers: list[str] | None = None, count: int = 16,
                  steps: int = 40, size: int | None = None, step: float = 10.0) -> None:
    """filters/<layer>: DLwP 5.4.2's filter patterns of the first `count` filters of each layer."""
    shape = tuple(getattr(subject.net, "input_shape", ()))
    if not subject.layers or len(shape) != 3:
        return
    shape = shape if size is None else (shape[0], size, size)
    names = layers or default_filter_layers(list(subject.layers))
    for i, name in enumerate(names, 1):
        out_channels = getattr(pick(subject.layers, name), "out_channels", None) or _channels(subject, name, shape)
        filters = list(range(min(count, out_channels)))
        with phase(f"Pictures: filter patterns of {name} ({len(filters)} filters, {steps} steps; layer {i}/{len(names)})"):
            found = filter_patterns(subject.net, subject.layers, name, filters, shape, subject.to_model, steps, step)
            publish(f"filters/{name}", figures.filters_figure(name, deprocess(found.pixels).cpu(), filters, found.gain))


@torch.no_grad()
def _channels(subject: Subject, name: str, shape: tuple[int, ...]) -> int:
    """Output channels of a block (a residual block has no `out_channels`): one probe."""
    x = torch.zeros(1, *shape, device=device_of(subject.net))
    with eval_mode(subject.net):
        return run_until(subject.net, x, subject.layers, name)[name].shape[1]


def write_gradcams(subject: Subject, x: Tensor, labels: Tensor | None, image_names: list[str], publish: Publisher,
                   layer: str | None = None) -> None:
    """gradcam/<image>: DLwP 5.4.3's heatmap of the predicted class on `layer` (default: the last conv layer)."""
    if not subject.layers or not subject.num_classes:
        return
    name = layer or list(subject.layers)[-1]
    found = grad_cam(subject.net, pick(subject.layers, name), x)
    shown = subject.display(x)
    for i, image_name in enumerate(image_names):
        pred = int(found.pred[i])
        title = f"Grad-CAM on {name}: predicted {subject.label(pred)} (p={found.probs[i, pred]:.2f})"
        if labels is not None:
            title += f", true {subject.label(int(labels[i]))}"
        publish(f"gradcam/{image_name}", figures.gradcam_figure(shown[i], found.cam[i], title))


def write_confusion(subject: Subject, counts: Tensor, publish: Publisher, tag: str, split: str) -> None:
    """confusion_matrix[/split]: counts with class names."""
    publish(tag, figures.confusion_figure(counts, subject.names, f"confusion matrix, {split} split"))


def write_mistakes(subject: Subject, mistakes: Mistakes, publish: Publisher, split: str) -> None:
    """mistakes: the most confidently wrong images of a split, true and predicted labels."""
    images = subject.display(mistakes.x) if mistakes.x is not None else torch.empty(0)
    true = [subject.label(int(i)) for i in mistakes.target]
    pred = [subject.label(int(i)) for i in mistakes.pred]
    title = f"most confidently wrong {split} images ({mistakes.wrong} wrong of {mistakes.seen})"
    publish("mistakes", figures.mistakes_figure(images, true, pred, mistakes.conf, title))


def write_split_report(subject: Subject, publish: Publisher, split: str | None = "test", count: int = 16) -> None:
    """confusion_matrix (on `split`, if given) and mistakes (the `count` most confidently wrong validation images)."""
    if not subject.num_classes:
        return
    device = device_of(subject.net)
    if split:
        target, pred, _ = predict_split(subject.net, subject.datamodule, split, device)
        write_confusion(subject, confusion_counts(target, pred, subject.num_classes), publish, "confusion_matrix", split)
    if count and subject.images:
        _, _, mistakes = predict_split(subject.net, subject.datamodule, "val", device, keep=count)
        write_mistakes(subject, mistakes, publish, "validation")


def tokens_of(ids: Tensor, vocabulary: list[str]) -> list[str]:
    """Token ids -> words (litzoo.text's index convention); padding is kept as '' for alignment."""
    special = {text.PAD: "", text.START: "<start>", text.OOV: "<oov>"}
    words = []
    for i in ids.tolist():
        if i in special:
            words.append(special[i])
        else:
            rank = i - text.FIRST_INDEX
            words.append(vocabulary[rank] if 0 <= rank < len(vocabulary) else f"#{i}")
    return words


def write_text_heatmaps(subject: Subject, ids: Tensor, labels: Tensor | None, publish: Publisher) -> None:
    """text_heatmap/<i>: which words drove each review's prediction (gradient x input per token)."""
    if not subject.embeddings or not subject.num_classes or ids.is_floating_point():
        return
    found = token_attribution(subject.net, next(iter(subject.embeddings.values())), ids)
    vocabulary = list(subject.datamodule.vocabulary)
    for i in range(len(ids)):
        words = tokens_of(ids[i].cpu(), vocabulary)
        keep = [j for j, w in enumerate(words) if w]
        pred = int(found.pred[i])
        title = f"review {i}: predicted {subject.label(pred)} (p={found.probs[i, pred]:.2f})"
        if labels is not None:
            title += f", true {subject.label(int(labels[i]))}"
        title += "\nred: words that pushed towards the prediction, blue: against it"
        scores = found.scores[i, keep]
        publish(f"text_heatmap/{i}", figures.text_heatmap_figure([words[j] for j in keep], scores, title))
        top = scores.argsort(descending=True)[:10].tolist()
        publish.text(f"text_heatmap/{i}", title.splitlines()[0] + "  \nwords that drove it: " +
                     ", ".join(f"**{words[keep[j]]}** ({scores[j]:+.3f})" for j in top))


def write_embeddings(subject: Subject, writer: SummaryWriter | None, step: int, max_words: int = 10_000) -> None:
    """embedding/<layer> in TensorBoard's projector, one point per word, the words as labels."""
    if writer is None:
        return
    vocabulary = list(subject.datamodule.vocabulary)
    for name, layer in subject.embeddings.items():
        rows = min(layer.num_embeddings, max_words)
        words = tokens_of(torch.arange(rows), vocabulary)
        words[text.PAD] = "<pad>"
        writer.add_embedding(layer.weight.detach()[:rows].float().cpu(), metadata=words, tag=f"embedding/{name}",
                             global_step=step)


@dataclass
class Settings:
    """What to draw and how: `litzoo-visualize`'s options and the training callback's arguments."""

    activations: bool = True
    max_channels: int = 64
    filters: int = 16                        # patterns per layer; 0: none
    filter_layers: list[str] | None = None   # None: default_filter_layers
    filter_size: int | None = None           # None: the model's input size
    steps: int = 40
    step: float = 10.0
    gradcam: bool = True
    layer: str | None = None                 # Grad-CAM layer; None: the last conv layer
    text: bool = True                        # per-token heat maps and the embedding projector
    mistakes: int = 16                       # 0: no mistakes grid
    confusion_split: str | None = "test"     # None: no confusion matrix


def write_all(subject: Subject, publish: Publisher, x: Tensor, y: Tensor | None, settings: Settings) -> None:
    """Every picture that applies to the model, for the fixed validation inputs x (labels y)."""
    if subject.layers and settings.activations:
        with phase("Pictures: activations"):
            write_activations(subject, x, publish, settings.max_channels)
    if subject.layers and settings.filters:
        write_filters(subject, publish, settings.filter_layers, settings.filters, settings.steps, settings.filter_size,
                      settings.step)
    if subject.layers and settings.gradcam:
        with phase(f"Pictures: Grad-CAM of {len(x)} images"):
            write_gradcams(subject, x, y, [f"val_{i}" for i in range(len(x))], publish, settings.layer)
    if subject.embeddings and settings.text:
        with phase("Pictures: text heat maps and the embedding projector"):
            write_text_heatmaps(subject, x, y, publish)
            write_embeddings(subject, publish.writer, publish.step)
    if subject.num_classes:
        split = settings.confusion_split
        with phase(f"Pictures: confusion matrix ({split} split) and mistakes" if split else "Pictures: mistakes"):
            write_split_report(subject, publish, settings.confusion_split, settings.mistakes)
