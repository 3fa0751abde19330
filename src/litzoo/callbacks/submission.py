"""Kaggle digit-recognizer predictions: `submission.csv` (ImageId,Label) for the unlabeled test CSV."""
from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from litzoo.heads import class_probabilities
from litzoo.run.atomic import atomic_write_text


class KaggleSubmission(Callback):
    """After testing (best checkpoint loaded), predict the DataModule's `predict_x` and write the CSV."""

    def __init__(self, dirpath: str, filename: str = "submission.csv", batch_size: int = 1024) -> None:
        self.path, self.batch_size = Path(dirpath) / filename, batch_size

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        x = trainer.datamodule.predict_x if trainer.datamodule is not None else None  # declared: data/base.py
        if x is None:
            return
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            # class_probabilities: a one-unit (binary) head is a sigmoid, not an argmax over one column
            labels = torch.cat([class_probabilities(pl_module(chunk.to(pl_module.device))).argmax(1).cpu()
                                for chunk in x.split(self.batch_size)])
        pl_module.train(was_training)
        rows = "\n".join(f"{i},{int(label)}" for i, label in enumerate(labels, start=1))
        atomic_write_text(self.path, "ImageId,Label\n" + rows + "\n")
        print(f"Predictions for {len(labels)} unlabeled images: {self.path}")
