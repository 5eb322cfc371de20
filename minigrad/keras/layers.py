"""Keras layer names: the classes of :mod:`minigrad.nn`."""
from ..nn import (GELU, Activation, AveragePooling2D, BatchNormalization, Conv2D,  # noqa
                 Dense, Dropout, Embedding, Flatten, InputLayer, Layer, LayerNormalization,
                 LeakyReLU, MaxPooling2D, MultiHeadAttention, PositionEmbedding, ReLU,
                 Sigmoid, Softmax, Tanh, TransformerBlock)

Input = InputLayer
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
Convolution2D = Conv2D
