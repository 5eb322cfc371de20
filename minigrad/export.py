"""Exporting a Sequential model to ONNX (``model.export(path, format='onnx')``).

The graph is built with the ``onnx`` package (an optional extra) and checked by
``onnx.checker`` (full check, shape inference included) before the file is written.

Token models (Embedding first) take int64 tokens (N, T) for the T they were built with;
TransformerBlock is exported with its causal mask for that length.

Layouts: the model's input is kept as the model takes it (channels-last (N, H, W, C) for
the Keras-style CNN), with a dynamic batch dimension. ONNX's Conv and pooling work on
(N, C, H, W), so the exporter transposes into that layout before the first of them and
back before a Flatten (whose order must stay Keras') or at the output. Dropout is the
identity (inference) and BatchNormalization uses its moving statistics, folded into a
scale and a shift.
"""
from __future__ import annotations

import math
import os
from typing import Optional

import numpy as np

from . import backend
from .functional.conv import same_padding
from .io import _write_atomically
from .nn.activations import Activation, LeakyReLU
from .nn.layers import Conv2D, Dense, Dropout, Flatten, InputLayer, activation_name
from .nn.pooling import AveragePooling2D, MaxPooling2D
from .nn.normalization import BatchNormalization
from .nn.transformer import Embedding, LayerNormalization, TransformerBlock

__all__ = ["export_onnx", "OPSET"]

#: the ONNX operator set the files declare (ONNX Runtime 1.14 and later run it)
OPSET = 17


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install onnx (or "
                          "minigrad[onnx], which adds onnxruntime to run the file)") from None
    return onnx, helper, numpy_helper


class _Graph:
    """Nodes and weights being collected, and where the value flowing through is: its
    name, its shape (batch axis excluded) and whether it is in ONNX's (C, H, W) layout."""

    def __init__(self, helper, numpy_helper, name, shape):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.inits = [], []
        self.value, self.shape, self.chw = name, tuple(shape), False
        self.count = 0

    def fresh(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, base, array):
        name = self.fresh(base)
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type, inputs, base, **attrs):
        out = self.fresh(base)
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out],
                                                name=out, **attrs))
        self.value = out
        return out

    def to_chw(self):
        if not self.chw:
            self.op("Transpose", [self.value], "to_nchw", perm=[0, 3, 1, 2])
            self.chw = True

    def to_hwc(self):
        if self.chw:
            self.op("Transpose", [self.value], "to_nhwc", perm=[0, 2, 3, 1])
            self.chw = False


def _activation(g: _Graph, fn, where):
    """ONNX nodes for a layer's activation function (None: nothing)."""
    if fn is None:
        return
    name = activation_name(fn)
    axis = 1 if g.chw else -1
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
    if name in simple:
        g.op(simple[name], [g.value], name)
    elif name == "softmax":
        g.op("Softmax", [g.value], name, axis=axis)
    elif name == "log_softmax":
        g.op("LogSoftmax", [g.value], name, axis=axis)
    elif name == "leaky_relu":
        g.op("LeakyRelu", [g.value], name, alpha=0.01)
    elif name == "gelu":                       # x * (1 + erf(x / sqrt 2)) / 2
        x = g.value
        e = g.op("Erf", [g.op("Mul", [x, g.const("inv_sqrt2", np.float32(2 ** -0.5))],
                              "gelu")], "gelu")
        half = g.op("Mul", [x, g.const("half", np.float32(0.5))], "gelu")
        g.op("Mul", [half, g.op("Add", [e, g.const("one", np.float32(1.0))], "gelu")], "gelu")
    else:
        raise ValueError(f"{where}: activation {name!r} cannot be exported to ONNX")


def _pads(layer, H, W):
    kh, kw = layer.kernel_size if isinstance(layer, Conv2D) else layer.pool_size
    sh, sw = layer.strides
    if layer.padding == "same":
        (t, b), (left, r) = same_padding(H, kh, sh), same_padding(W, kw, sw)
    else:
        t = b = left = r = 0
    return [t, left, b, r], [kh, kw], [sh, sw]


def _spatial(g: _Graph, layer):
    """The (H, W, C) of the value, in Keras' order whatever the layout."""
    if layer.data_format != "channels_last":
        raise ValueError(f"{_where(layer)}: only channels_last models can be exported")
    if len(g.shape) != 3:
        raise ValueError(f"{_where(layer)} gets inputs of shape {g.shape}; ONNX export "
                         "needs (H, W, C)")
    return g.shape


def _conv(g: _Graph, layer: Conv2D):
    H, W, _ = _spatial(g, layer)
    pads, kernel, strides = _pads(layer, H, W)
    k = backend.to_host(layer.compute_kernel().data).astype(np.float32)
    inputs = [g.value, g.const("kernel", k.transpose(3, 2, 0, 1))]     # (O, C, kh, kw)
    if layer.use_bias:
        inputs.append(g.const("bias", backend.to_host(layer.bias.data).astype(np.float32)))
    g.to_chw()
    inputs[0] = g.value
    g.op("Conv", inputs, "conv", kernel_shape=kernel, strides=strides, pads=pads)
    g.shape = layer.compute_output_shape(g.shape)
    _activation(g, layer.activation, _where(layer))


def _pool(g: _Graph, layer):
    H, W, _ = _spatial(g, layer)
    pads, kernel, strides = _pads(layer, H, W)
    g.to_chw()
    if isinstance(layer, MaxPooling2D):
        g.op("MaxPool", [g.value], "max_pool", kernel_shape=kernel, strides=strides,
             pads=pads)
    else:                                 # Keras: the padding is not counted in the mean
        g.op("AveragePool", [g.value], "avg_pool", kernel_shape=kernel, strides=strides,
             pads=pads, count_include_pad=0)
    g.shape = layer.compute_output_shape(g.shape)


def _dense(g: _Graph, layer: Dense):
    g.to_hwc()
    k = backend.to_host(layer.compute_kernel().data).astype(np.float32)
    g.op("MatMul", [g.value, g.const("kernel", k)], "dense")
    if layer.use_bias:
        g.op("Add", [g.value, g.const("bias", backend.to_host(layer.bias.data)
                                      .astype(np.float32))], "dense")
    g.shape = layer.compute_output_shape(g.shape)
    _activation(g, layer.activation, _where(layer))


def _batch_norm(g: _Graph, layer: BatchNormalization):
    axis = layer.axis if layer.axis < 0 else layer.axis - 1 - len(g.shape)
    if axis != -1:
        raise ValueError(f"layer '{layer.name}' (BatchNormalization): only axis=-1 can be "
                         "exported")
    host = backend.to_host
    scale = host(layer.gamma.data) / np.sqrt(host(layer.moving_variance) + layer.epsilon)
    shift = host(layer.beta.data) - host(layer.moving_mean) * scale
    shape = (-1, 1, 1) if g.chw else (-1,)        # channels: axis 1 in (N, C, H, W)
    g.op("Mul", [g.value, g.const("bn_scale", scale.astype(np.float32).reshape(shape))], "bn")
    g.op("Add", [g.value, g.const("bn_shift", shift.astype(np.float32).reshape(shape))], "bn")


def _gelu_tanh(g: _Graph, x):
    """x (1 + tanh(k (x + 0.044715 x^3))) / 2 (the TransformerBlock's GELU)."""
    c = g.const
    cube = g.op("Mul", [g.op("Mul", [x, x], "gelu"), x], "gelu")
    inner = g.op("Add", [x, g.op("Mul", [cube, c("c", np.float32(0.044715))], "gelu")], "gelu")
    t = g.op("Tanh", [g.op("Mul", [inner, c("k", np.float32(math.sqrt(2 / math.pi)))],
                           "gelu")], "gelu")
    half = g.op("Mul", [x, c("half", np.float32(0.5))], "gelu")
    return g.op("Mul", [half, g.op("Add", [t, c("one", np.float32(1.0))], "gelu")], "gelu")


def _linear(g: _Graph, dense: Dense, x):
    """x @ kernel + bias on (N, ..., features)."""
    host = backend.to_host
    y = g.op("MatMul", [x, g.const("kernel", host(dense.compute_kernel().data)
                                   .astype(np.float32))], "dense")
    if dense.use_bias:
        y = g.op("Add", [y, g.const("bias", host(dense.bias.data).astype(np.float32))],
                 "dense")
    return y


def _layer_norm(g: _Graph, ln: LayerNormalization, x):
    host = backend.to_host
    c = ln.features
    gamma = host(ln.gamma.data) if ln.scale else np.ones(c)
    beta = host(ln.beta.data) if ln.center else np.zeros(c)
    return g.op("LayerNormalization", [x, g.const("ln_gamma", gamma.astype(np.float32)),
                                       g.const("ln_beta", beta.astype(np.float32))],
                "layer_norm", axis=-1, epsilon=float(ln.epsilon))


def _transformer_block(g: _Graph, block: TransformerBlock):
    """The pre-LayerNorm block (see nn.transformer.TransformerBlock) with its causal mask
    for the model's sequence length; dropout is the identity."""
    T, dim = g.shape
    attn = block.attn
    H, d = attn.num_heads, attn.key_dim
    x = g.value
    h = _layer_norm(g, block.ln1, x)

    def heads(t, perm):              # (N, T, H*d) -> (N, H, T, d), or (N, H, d, T) for keys
        r = g.op("Reshape", [t, g.const("shape", np.array([0, 0, H, d], np.int64))], "heads")
        return g.op("Transpose", [r], "heads", perm=perm)
    q = heads(_linear(g, attn.query_dense, h), [0, 2, 1, 3])
    k = heads(_linear(g, attn.key_dense, h), [0, 2, 3, 1])
    v = heads(_linear(g, attn.value_dense, h), [0, 2, 1, 3])
    scores = g.op("Mul", [g.op("MatMul", [q, k], "attention"),
                          g.const("scale", np.float32(1 / math.sqrt(d)))], "attention")
    if block.causal:
        mask = np.where(np.tril(np.ones((T, T), bool)), 0, -np.inf).astype(np.float32)
        scores = g.op("Add", [scores, g.const("causal_mask", mask)], "attention")
    w = g.op("Softmax", [scores], "attention", axis=-1)
    a = g.op("Transpose", [g.op("MatMul", [w, v], "attention")], "attention",
             perm=[0, 2, 1, 3])
    a = g.op("Reshape", [a, g.const("shape", np.array([0, 0, H * d], np.int64))],
             "attention")
    x = g.op("Add", [x, _linear(g, attn.output_dense, a)], "residual")
    f = _linear(g, block.ff2, _gelu_tanh(g, _linear(g, block.ff1,
                                                     _layer_norm(g, block.ln2, x))))
    g.op("Add", [x, f], "residual")


def _where(layer) -> str:
    """How error messages name a layer: ``layer 'conv2d_1' (Conv2D)``."""
    return f"layer '{getattr(layer, 'name', type(layer).__name__)}' ({type(layer).__name__})"


def _layer(g: _Graph, layer):
    where = _where(layer)
    if isinstance(layer, InputLayer) or type(layer) is Dropout:
        return
    if isinstance(layer, Conv2D):
        _conv(g, layer)
    elif isinstance(layer, (MaxPooling2D, AveragePooling2D)):
        _pool(g, layer)
    elif isinstance(layer, Dense):
        _dense(g, layer)
    elif type(layer) is Flatten:
        g.to_hwc()                                # Keras flattens (H, W, C) in that order
        g.op("Flatten", [g.value], "flatten", axis=1)
        g.shape = (math.prod(g.shape),)
    elif type(layer) is BatchNormalization:
        _batch_norm(g, layer)
    elif type(layer) is Embedding:
        table = backend.to_host(layer.embeddings.data).astype(np.float32)
        g.op("Gather", [g.const("embeddings", table), g.value], "embedding", axis=0)
        g.shape = g.shape + (layer.output_dim,)
    elif type(layer) is LayerNormalization:
        _layer_norm(g, layer, g.value)
    elif type(layer) is TransformerBlock:       # built on (length, dim) inputs only
        _transformer_block(g, layer)
    elif isinstance(layer, Activation):
        _activation(g, layer.activation, where)
    elif type(layer) is LeakyReLU:
        g.op("LeakyRelu", [g.value], "leaky_relu", alpha=float(layer.negative_slope))
    else:
        raise ValueError(f"{where} cannot be exported to ONNX (supported: Dense, Conv2D, "
                         "MaxPooling2D, AveragePooling2D, Flatten, Dropout, "
                         "BatchNormalization, the activations, Embedding, "
                         "LayerNormalization and TransformerBlock)")


def export_onnx(model, path, opset: int = OPSET, name: Optional[str] = None) -> str:
    """Write ``model`` (a built Sequential) as an ONNX file at ``path``; returns the path.
    The input is named ``input`` and the output ``output``, both with a dynamic batch
    dimension ``N``.

    Raises:
        ValueError: naming the first layer that cannot be exported, or an unbuilt model.
        ImportError: without the onnx package.
    """
    onnx, helper, numpy_helper = _onnx()
    from onnx import TensorProto
    shape = model._input_shape() if hasattr(model, "_input_shape") else None
    if shape is None:
        raise ValueError("export: build the model first (give the first layer input_shape "
                         "or call it on data)")
    g = _Graph(helper, numpy_helper, "input", shape)
    for layer in model._layers:
        _layer(g, layer)
    g.to_hwc()
    g.op("Identity", [g.value], "output")
    g.nodes[-1].output[0] = "output"
    tokens = bool(model._layers) and type(model._layers[0]) is Embedding
    graph = helper.make_graph(
        g.nodes, name or getattr(model, "name", None) or "minigrad",
        [helper.make_tensor_value_info("input", TensorProto.INT64 if tokens else
                                       TensorProto.FLOAT, ["N", *shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", *g.shape])],
        initializer=g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="minigrad")
    proto.ir_version = 8                     # what ONNX Runtime 1.14+ reads
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    path = os.fspath(path)
    return _write_atomically(path, lambda f: f.write(data))

