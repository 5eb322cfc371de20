"""Sequential: a stack of layers, each feeding the next (Keras' ``models.Sequential``)."""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from ..training import Model
from .. import functional as F
from ..tensor import get_default_dtype
from .layers import InputLayer, Layer, MaxPooling2D, _activation_name
from .module import Module

__all__ = ["Sequential"]


class Sequential(Model):
    """A linear stack of layers with Keras' training API.

    Supports ``add``, ``len``, iteration and indexing; builds from the first layer's
    ``input_shape`` (or on first call), after which ``summary()`` and ``load_weights``
    work before any training.

    The forward pass fuses what it can without changing any result: a Conv2D (ReLU or
    no activation) followed by a p x p, stride p, 'valid' MaxPooling2D runs as one op
    (``F.conv2d(..., max_pool=p)``), and a ReLU followed by another max pooling moves
    past it (ReLU and max commute). Calling the layers one by one gives the same outputs
    and gradients (tested).

    Example:
        >>> model = Sequential([Dense(64, activation='relu', input_shape=(784,)),
        ...                     Dense(10, activation='softmax')])
        >>> model.compile(optimizer='adam', loss='categorical_crossentropy',
        ...               metrics=['accuracy'])
    """

    def __init__(self, layers: Optional[Iterable[Module]] = None, name: str = "sequential"):
        super().__init__()
        object.__setattr__(self, "_layers", [])
        object.__setattr__(self, "name", name)
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Module) -> None:
        """Append a layer (built at once when the model's input shape is known)."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        idx = len(self._layers)
        self._layers.append(layer)
        setattr(self, str(idx), layer)   # registered as sub-module "0", "1", ...
        shape = self._input_shape()
        if shape is not None:
            self._build_from(shape)
        if self.optimizer is not None and self.parameters():
            self.optimizer.bind(self.parameters())

    def __setattr__(self, name, value):
        if name.isdigit():                 # layers register as sub-modules "0", "1", ...
            self._modules[name] = value
            return
        super().__setattr__(name, value)

    @property
    def layers(self):
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(self._layers[i])
        return self._layers[i]

    def _input_shape(self):
        if self._layers and isinstance(self._layers[0], Layer):
            s = self._layers[0].input_shape
            return tuple(s) if s is not None else None
        return None

    def _build_from(self, shape):
        for layer in self._layers:
            if isinstance(layer, Layer):
                layer.ensure_built(shape)
                shape = layer.compute_output_shape(shape)
            else:
                return

    def build(self, input_shape) -> None:
        """Build every layer for inputs of ``input_shape`` (without the batch axis)."""
        if not self._layers:
            raise ValueError("Sequential: add layers before building")
        first = self._layers[0]
        if isinstance(first, Layer) and first.input_shape is None:
            first.input_shape = tuple(input_shape)
        self._build_from(tuple(input_shape))
        if self.optimizer is not None and self.parameters():
            self.optimizer.bind(self.parameters())

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._layers:
            if not isinstance(layer, Layer):
                return None
            shape = layer.compute_output_shape(shape)
        return shape

    def _relu_moves_past(self, i) -> bool:
        """True when layer i ends in a ReLU that can move past the max pooling at i + 1
        (ReLU and max commute), so that it runs on the pooled, smaller array."""
        layers = self._layers
        if i + 1 >= len(layers):
            return False
        a, b = layers[i], layers[i + 1]
        return (isinstance(a, Layer) and a.activation is F.relu and
                isinstance(b, MaxPooling2D) and type(b).call is MaxPooling2D.call)

    def activation_bytes_per_sample(self, input_shape):
        shape, total = tuple(input_shape), 0
        for layer in self._layers:
            if not isinstance(layer, Layer):
                return None
            shape = layer.compute_output_shape(shape)
            total += int(np.prod(shape))
        return total * get_default_dtype().itemsize

    def _max_pool_fuses(self, i):
        """The pool size p when layer i can compute the max pooling at i + 1 inside its
        op (a Conv2D with ReLU or no activation, then a p x p, stride p, 'valid'
        MaxPooling2D of the same data format), else None."""
        layers = self._layers
        if i + 1 >= len(layers):
            return None
        a, b = layers[i], layers[i + 1]
        if not (isinstance(a, Layer) and a._fuses_max_pool and a.activation in (None, F.relu)
                and isinstance(b, MaxPooling2D) and type(b).call is MaxPooling2D.call):
            return None
        p = b.pool_size[0]
        if b.pool_size != (p, p) or b.strides != (p, p) or b.padding != "valid" or \
                b.data_format != getattr(a, "data_format", None):
            return None
        return p

    def forward(self, x, apply_final_activation: bool = True):
        layers, last = self._layers, len(self._layers) - 1
        i, moved = 0, False
        while i <= last:
            layer = layers[i]
            pool = self._max_pool_fuses(i)
            if pool is not None:
                # conv + pooling in one op (the ReLU, if any, after the pooling)
                shape = tuple(x.shape[1:])
                x = layer.forward(x, apply_activation=False, fused_max_pool=pool,
                                  fused_activation="relu" if layer.activation else None)
                if not layers[i + 1].built:
                    layers[i + 1].ensure_built(layer.compute_output_shape(shape))
                i += 2
                continue
            if moved:
                x = layer.forward(x, fused_activation="relu")
                moved = False
            elif self._relu_moves_past(i):
                x = layer.forward(x, apply_activation=False)
                moved = True
            elif i == last and not apply_final_activation and isinstance(layer, Layer):
                x = layer.forward(x, apply_activation=False)
            else:
                x = layer(x)
            i += 1
        return x

    def forward_logits(self, x):
        """The output before the last layer's activation (the loss fuses with it)."""
        return self.forward(x, apply_final_activation=False)

    def final_activation(self, logits):
        act = self._layers[-1].activation if self._layers else None
        return logits if act is None else act(logits)

    def final_activation_name(self):
        """Name of the last layer's activation ('softmax', 'sigmoid', ...) or None."""
        if not self._layers or not isinstance(self._layers[-1], Layer):
            return None
        act = self._layers[-1].activation
        return _activation_name(act) if act is not None else None

    # --- description ---------------------------------------------------------------------
    def summary(self, print_fn=print) -> str:
        """Print (and return) each layer's output shape and parameter count, Keras style."""
        shape = self._input_shape()
        if shape is None:
            raise ValueError("summary: the model is not built; give the first layer "
                             "input_shape=... or call the model on data first")
        names, shapes, counts, frozen = [], [], [], 0
        for layer in self.layers:
            buffers = sum(int(getattr(layer, b).size) for b in layer._buffer_names())
            frozen += buffers
            shape = layer.compute_output_shape(shape)
            names.append(f" {getattr(layer, 'name', '')} ({type(layer).__name__})")
            shapes.append(str((None,) + tuple(shape)))
            counts.append(buffers + (layer.count_params() if isinstance(layer, Layer) else
                                     sum(p.size for p in layer.parameters())))
        w = (max([29] + [len(n) + 2 for n in names]), max([26] + [len(s) + 2 for s in shapes]), 12)
        rule = "_" * sum(w)
        lines = [f'Model: "{self.name}"', rule,
                 " Layer (type)".ljust(w[0]) + "Output Shape".ljust(w[1]) + "Param #",
                 "=" * sum(w)]
        lines += [n.ljust(w[0]) + s.ljust(w[1]) + f"{c:,}"
                  for n, s, c in zip(names, shapes, counts)]
        total = sum(counts)
        lines += ["=" * sum(w), f"Total params: {total:,}",
                  f"Trainable params: {total - frozen:,}", f"Non-trainable params: {frozen:,}",
                  rule]
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self) -> dict:
        layers = []
        for i, layer in enumerate(self._layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"cannot serialise a {type(layer).__name__}: only Keras-style "
                                "layers have a config")
            cfg = layer.get_config()
            if i == 0 and layer.input_shape is not None and cfg.get("input_shape") is None:
                cfg["input_shape"] = list(layer.input_shape)   # the model builds from it
            layers.append({"class_name": type(layer).__name__, "config": cfg})
        return {"class_name": "Sequential", "name": self.name, "layers": layers}

    def save(self, path) -> str:
        """Save architecture (JSON) and weights in one .npz file (no pickle, atomic)."""
        from .. import io as wio
        if not self.parameters():
            raise RuntimeError("save: the model has no weights yet (build it first)")
        cfg = {"format": "minigrad-model", "version": 1, "model": self.get_config()}
        if self.loss is not None:
            cfg["compile"] = {"loss": self.loss.name, "optimizer": self.optimizer.get_config(),
                              "metrics": list(self.metrics_names)}
        return wio.save_arrays(path, self.state_dict(), config=cfg)

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self._layers)
        return f"Sequential([\n  {inner}\n])"
