"""Keras layer names: the classes of :mod:`minigrad.nn`."""
from ..nn.layers import (GELU, Activation, AveragePooling2D, BatchNormalization, Conv2D,  # noqa
                         Dense, Dropout, Flatten, InputLayer, Layer, LeakyReLU, MaxPooling2D,
                         ReLU, Softmax)

Input = InputLayer
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
Convolution2D = Conv2D
