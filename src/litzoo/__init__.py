"""litzoo: classic Keras models as PyTorch Lightning + Hydra experiments."""
