"""Keras parameter totals for the foundation's models (see test_models.py for the format)."""
EXPECTED = {
    "mnist_convnet": {"keras_total": 93_322, "trainable": 93_322, "output": (10,)},
}
