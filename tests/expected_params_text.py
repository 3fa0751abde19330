"""Keras parameter totals for the text and sequence models (seed 000, DLwP 3.4 / 6.1-6.4; format: test_models.py).

PyTorch's LSTM keeps a second bias vector (+4 * units per direction): torch_total states it.
"""
EXPECTED = {
    "imdb_multihot_dense": {"keras_total": 160_305, "trainable": 160_305, "output": (1,)},
    "imdb_embedding_flatten": {"keras_total": 80_161, "trainable": 80_161, "output": (1,)},
    "imdb_embedding_flatten_dense": {"keras_total": 85_185, "trainable": 85_185, "output": (1,)},
    "imdb_glove_flatten": {"keras_total": 1_320_065, "trainable": 320_065, "output": (1,)},
    "imdb_lstm": {"keras_total": 85_281, "torch_total": 85_409, "trainable": 85_409, "output": (1,)},
    "imdb_stacked_lstm": {"keras_total": 101_921, "torch_total": 102_305, "trainable": 102_305, "output": (1,)},
    "imdb_bidirectional_lstm": {"keras_total": 336_705, "torch_total": 336_961, "trainable": 336_961, "output": (1,)},
    "imdb_conv1d": {"keras_total": 1_315_937, "trainable": 1_315_937, "output": (1,)},
    "jena_gru": {"keras_total": 4_257, "trainable": 4_257, "output": (1,)},
    "jena_gru_dropout": {"keras_total": 4_257, "trainable": 4_257, "output": (1,)},
}
