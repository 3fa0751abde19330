"""Keras parameter totals of the image models (seeds 000-004); see test_models.py for the format."""
EXPECTED = {
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
}
