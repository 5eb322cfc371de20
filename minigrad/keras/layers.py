"""Keras layer names: the classes of :mod:`minigrad.nn`."""
from ..nn import (GELU, Activation, AveragePooling2D, BatchNormalization, Conv2D,  # noqa
                 Dense, Dropout, Flatten, InputLayer, Layer, LeakyReLU, MaxPooling2D, ReLU,
                 Sigmoid, Softmax, Tanh)

Input = InputLayer
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
Convolution2D = Conv2D
