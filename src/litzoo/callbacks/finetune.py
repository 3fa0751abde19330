"""Two-phase fine-tuning in one run (DLwP 5.3, seed 000): head first, then the base from a named layer on.

Phase 1 (epochs < `unfreeze_at_epoch`): the pretrained base is frozen and only the head trains.
Phase 2: the base layers from `unfreeze_from` (Keras name, e.g. `block5_conv1`) on become trainable and
join the optimizer as a new parameter group at `lr`; the head's learning rate is set to `head_lr` (the
book recompiles the whole model with a lower learning rate). Lightning's BaseFinetuning stores the
parameter groups in the checkpoint, so `ckpt_path=last` resumes either phase exactly.
"""
from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import BaseFinetuning
from torch.optim import Optimizer

from litzoo.models.pretrained import PretrainedBase


def find_base(pl_module: pl.LightningModule) -> PretrainedBase:
    bases = [m for m in pl_module.modules() if isinstance(m, PretrainedBase)]
    if not bases:
        raise ValueError("FineTune needs a model with a pretrained base (litzoo.models.pretrained.transfer_model)")
    return bases[0]


class FineTune(BaseFinetuning):
    """Unfreeze `unfreeze_from` onward at epoch `unfreeze_at_epoch` with learning rate `lr`."""

    def __init__(self, unfreeze_from: str = "block5_conv1", unfreeze_at_epoch: int = 1, lr: float = 1e-5,
                 head_lr: float | None = None) -> None:
        super().__init__()
        if unfreeze_at_epoch < 0:
            raise ValueError(f"unfreeze_at_epoch must be >= 0, got {unfreeze_at_epoch}")
        self.unfreeze_from, self.unfreeze_at_epoch, self.lr, self.head_lr = unfreeze_from, unfreeze_at_epoch, lr, head_lr

    def freeze_before_training(self, pl_module: pl.LightningModule) -> None:
        base = find_base(pl_module)
        base.unfreeze_from(self.unfreeze_from)  # validates the name before any training
        base.freeze()

    def finetune_function(self, pl_module: pl.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        if epoch < self.unfreeze_at_epoch:
            return
        layers = find_base(pl_module).unfreeze_from(self.unfreeze_from)  # also after a resume (flags not saved)
        known = {id(p) for group in optimizer.param_groups for p in group["params"]}
        params = [p for layer in layers for p in layer.parameters() if id(p) not in known]
        if not params:  # already in the optimizer (resumed in phase 2: BaseFinetuning restored the groups)
            return
        if self.head_lr is not None:
            for group in optimizer.param_groups:
                group["lr"] = self.head_lr
        optimizer.add_param_group({"params": params, "lr": self.lr})
