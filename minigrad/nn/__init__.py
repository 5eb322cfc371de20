"""Layers and containers: Module, Parameter, the Keras-style layers, Sequential."""
from . import init
from .activations import GELU, Activation, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .layers import Conv2D, Dense, Dropout, Flatten, InputLayer, Layer, Linear
from .pooling import AveragePooling2D, MaxPooling2D
from .normalization import BatchNormalization
from .module import Module, Parameter
from .sequential import Sequential
from .transformer import (Embedding, KVCache, LayerNormalization, MultiHeadAttention,
                          PositionEmbedding, TransformerBlock, sinusoidal_positions)
from .gpt import GPT

Input = InputLayer

__all__ = ["Module", "Parameter", "Layer", "Dense", "Linear", "Conv2D", "MaxPooling2D",
           "AveragePooling2D", "Flatten", "Dropout", "BatchNormalization", "Activation",
           "ReLU", "Sigmoid", "Tanh", "Softmax", "GELU", "LeakyReLU", "InputLayer", "Input",
           "Sequential", "init", "Embedding", "PositionEmbedding", "LayerNormalization",
           "MultiHeadAttention", "TransformerBlock", "KVCache", "sinusoidal_positions", "GPT"]
