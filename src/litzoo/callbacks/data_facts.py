"""What a model needs of its training data to answer on new data, saved in every checkpoint as `data_facts`.

A classifier's output unit i means the i-th class of the training data; that order lives in the data module
only while it runs, so without this record `litzoo-eval` on a folder spelled differently would take another
order and report a wrong accuracy without a word. Saved beside the weights: the class names in training order,
a text model's vocabulary (a vocabulary built from other texts would give other token ids) and a series' training
normalisation statistics. `litzoo.infer` reads them back (`stored_facts`), checked as the untrusted data they are.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytorch_lightning as pl

from litzoo.data.base import InMemoryDataModule

KEY = "data_facts"


def class_names_of(datamodule: InMemoryDataModule) -> list[str]:
    """The class names in training order (empty for regression): the one reading for checkpoints and results.json."""
    from litzoo.visual.inputs import class_names

    return class_names(datamodule, datamodule.num_classes) if datamodule.num_classes else []


def data_facts(datamodule: InMemoryDataModule) -> dict[str, Any]:
    """Plain lists and numbers only: a checkpoint is read back with `weights_only=True`."""
    facts: dict[str, Any] = {"class_names": class_names_of(datamodule)}
    if datamodule.vocabulary:
        facts["vocabulary"] = [str(w) for w in datamodule.vocabulary]
    if datamodule.stats:
        facts["stats"] = {k: np.asarray(v, dtype=np.float64).tolist() for k, v in datamodule.stats.items()}
    return facts


class DataFacts(pl.Callback):
    """Writes `data_facts` into every checkpoint (always on: litzoo.run.build adds it, like the history)."""

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        if trainer.datamodule is not None:
            checkpoint[KEY] = data_facts(trainer.datamodule)
