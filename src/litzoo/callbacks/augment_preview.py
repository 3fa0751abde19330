"""A grid of augmented training images in TensorBoard, once per run: see what the model is fed."""
from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from torchvision.utils import make_grid

from litzoo.run.loggers import tensorboard_writer
from litzoo.visual.draw import min_max


class AugmentationPreview(Callback):
    """Logs the first training batch (after augmentation and preprocessing) as `augmentation/train_batch`.

    A no-op when the DataModule has no `augment` or the logger cannot take images.
    """

    def __init__(self, max_images: int = 32) -> None:
        self.max_images, self.logged = max_images, False

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self.logged or trainer.datamodule is None or trainer.datamodule.augment is None:
            return  # the common case, every step: keep it to a few attribute reads
        writer = tensorboard_writer(trainer.logger)
        if writer is None or batch[0].dim() != 4:
            return
        images = batch[0][: self.max_images].detach().float().cpu()
        writer.add_image("augmentation/train_batch", make_grid(min_max(images), nrow=8, padding=2), trainer.global_step)
        self.logged = True
