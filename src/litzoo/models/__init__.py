"""Plain nn.Modules, one file per family; `sequential` builds Keras-style Sequential models from configs."""
from litzoo.models.sequential import KerasSequential, sequential

__all__ = ["KerasSequential", "sequential"]
