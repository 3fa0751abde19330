"""DLwP 5.3 "fast feature extraction without data augmentation" (seed 001).

The frozen pretrained base runs once over every split of an image DataModule; its outputs (VGG16 at
150x150: (512, 4, 4) per image) are cached in `cache_dir` and served in memory, so each epoch trains
only the dense head. No augmentation is possible here (the base never sees the images again); the
end-to-end alternative is experiment=vgg16_head. The cache goes through litzoo.cache (atomic, checked).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from litzoo import cache
from litzoo.data.base import InMemoryDataModule
from litzoo.data.image_folder import preprocess_images


@torch.no_grad()
def extract(base: nn.Module, images: Tensor, mode: str, batch_size: int, device: torch.device) -> Tensor:
    """Base outputs for uint8 images (N, C, H, W), preprocessed with `mode`, computed in eval mode."""
    base.eval().to(device)
    return torch.cat([base(preprocess_images(chunk.to(device).float(), mode)).cpu() for chunk in images.split(batch_size)])


def _cache_key(source: InMemoryDataModule, base_cfg: Mapping[str, Any], seed: int) -> str:
    # the seed matters for weights=none: the random base is drawn after seed_everything
    digest = hashlib.sha1(json.dumps([dict(base_cfg), seed], sort_keys=True, default=str).encode())
    weights = Path(str(base_cfg.get("weights", "")))
    if weights.is_file():
        digest.update(f"{weights.stat().st_size}-{weights.stat().st_mtime_ns}".encode())
    digest.update(source.preprocess_mode.encode())
    for name in sorted(source.splits):
        x, y = source.splits[name]
        digest.update(name.encode())
        digest.update(x.contiguous().numpy().tobytes())
        digest.update(y.numpy().tobytes())
    return digest.hexdigest()


class FeatureDataModule(InMemoryDataModule):
    """Serves cached base features of `source`'s splits; `source` and `base` are configs built on load."""

    # where the data lives: a resume may change these (see base.py)
    runtime_keys = ("cache_dir", "eval_batch_size", "source.data_dir", "source.folder", "source.cache_dir", "source.workers")

    def __init__(self, source: DictConfig, base: DictConfig, cache_dir: str | None = None, extract_batch_size: int = 50,
                 augment: Any = None, **common: Any) -> None:
        """`common`: InMemoryDataModule's keyword arguments (the splits are the source's: val_split is not used)."""
        if augment:  # `_recursive_: false` hands over the config node: any non-empty one is an augmentation
            raise ValueError("data=vgg16_features trains on cached base outputs, so image augmentation cannot apply "
                             "(the base never sees the images again): use augmentation=none, or experiment=vgg16_head "
                             "to train end to end with augmentation.")
        super().__init__(**common)
        self.source_cfg, self.base_cfg = source, base
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.extract_batch_size = extract_batch_size
        self.extract_seconds: float | None = None  # time of the one pass of the base (None: loaded from cache)

    def load(self) -> dict[str, tuple[Tensor, Tensor]]:
        source = instantiate(self.source_cfg)
        source.setup()
        self.data_warnings = list(source.data_warnings)  # what the images' scan found (empty class folders, ...)
        base_cfg = OmegaConf.to_container(self.base_cfg, resolve=True) if isinstance(self.base_cfg, DictConfig) else dict(self.base_cfg)
        key = _cache_key(source, base_cfg, self.seed)
        path = self.cache_dir / f"features-{key[:16]}.pt" if self.cache_dir else None
        meta = {"kind": "features", "key": key}
        cached = cache.load_torch(path, meta) if path is not None else None
        if cached is not None:
            return cached
        # a pretrained base (vgg16, resnet50) names in its hints the key that sets its weights: here data.base.weights
        base = instantiate(base_cfg, **({"weights_key": "data.base.weights"} if "weights" in base_cfg else {}))
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        start = time.perf_counter()
        splits = {name: (extract(base, x, source.preprocess_mode, self.extract_batch_size, device), y)
                  for name, (x, y) in source.splits.items()}
        self.extract_seconds = time.perf_counter() - start
        if path is not None:
            cache.save_torch(path, meta, splits)
        return splits
