"""Keras parameter counts of every model config and of the seeds' variations: the one table (format: test_models.py).

PyTorch's LSTM keeps a second bias vector (+4 * units per direction) and torchvision's ResNet50 convs have
no biases: `torch_total` states PyTorch's own count where it differs from Keras'.
"""
EXPECTED = {
    # DLwP 5.1 / seed 000
    "mnist_convnet": {"keras_total": 93_322, "trainable": 93_322, "output": (10,)},
    "mnist_fast": {"keras_total": 93_962, "trainable": 93_642, "output": (10,)},
    # image models (seeds 000-004)
    "datacamp_dense": {"keras_total": 7_993, "trainable": 7_993, "output": (3,)},
    "datacamp_conv": {"keras_total": 20_383, "trainable": 20_383, "output": (3,)},
    "day27_two_conv": {"keras_total": 195_753, "trainable": 195_753, "output": (1,)},
    "day27_conv16": {"keras_total": 208, "trainable": 208, "output": (16, 224, 224)},
    "day27_complete": {"keras_total": 291_661, "trainable": 291_661, "output": (1,)},
    "kaggle_scratch": {"keras_total": 1_479_798, "trainable": 1_479_798, "output": (10,)},
    "kaggle_dropout_strides": {"keras_total": 148_088, "trainable": 148_088, "output": (10,)},
    "cats_dogs_small_convnet": {"keras_total": 3_453_121, "trainable": 3_453_121, "output": (1,)},
    # base frozen (conv_base.trainable = False): only the head's 2,097,665 weights train
    "vgg16_head": {"keras_total": 16_812_353, "trainable": 2_097_665, "torch_total": 16_812_353, "output": (1,),
                   "overrides": ["model.weights=none"]},
    "vgg16_features": {"keras_total": 2_097_665, "trainable": 2_097_665, "output": (1,)},
    # Keras: base 23,587,712 + Dense 4,098. torchvision: 23,508,032 weights + 53,120 BN moving stats + 4,098.
    "resnet50_transfer": {"keras_total": 23_591_810, "trainable": 4_098, "torch_total": 23_565_250, "output": (2,),
                          "overrides": ["model.weights=none"]},
    # text and sequence models (seed 000, DLwP 3.4 / 6.1-6.4)
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
    # the seeds' variations, as config values ("<model config>:<what changes>")
    "datacamp_conv:same+second_conv": {"keras_total": 24_533, "trainable": 24_533, "output": (3,),
                                       "overrides": ["model.options.padding=same", "model.options.second_conv=true"]},
    "datacamp_conv:strides=2": {"keras_total": 5_173, "trainable": 5_173, "output": (3,),
                                "overrides": ["model.options.strides=2"]},
    "datacamp_conv:dilation_rate=2": {"keras_total": 17_383, "trainable": 17_383, "output": (3,),
                                      "overrides": ["model.options.dilation_rate=2"]},
    "datacamp_conv:dropout=0.25": {"keras_total": 20_383, "trainable": 20_383, "output": (3,),
                                   "overrides": ["model.options.dropout=0.25"]},
    # Keras counts BatchNormalization's 20 moving mean/variance values as non-trainable params
    "datacamp_conv:batch_norm": {"keras_total": 20_423, "trainable": 20_403, "output": (3,),
                                 "overrides": ["model.options.batch_norm=true"]},
    "day27_conv16:strides=2": {"keras_total": 208, "trainable": 208, "output": (16, 112, 112),
                               "overrides": ["model.options.strides=2"]},
    "day27_conv16:padding=same": {"keras_total": 208, "trainable": 208, "output": (16, 225, 225),
                                  "overrides": ["model.options.padding=same"]},
    "day27_complete:average_pooling": {"keras_total": 291_661, "trainable": 291_661, "output": (1,),
                                       "overrides": ["model.options.pooling=AveragePooling2D"]},
    # the output layer follows the data: the binary seed on 3 classes ends in Dense(3, softmax)
    "cats_dogs_small_convnet:3_classes": {"keras_total": 3_454_147, "trainable": 3_454_147, "output": (3,),
                                          "overrides": ["data.num_classes=3"]},
}
