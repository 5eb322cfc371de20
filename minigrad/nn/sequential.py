"""Sequential: a stack of layers, each feeding the next."""
from __future__ import annotations

import math
from typing import Iterable, Optional

from ..tensor import get_default_dtype
from .. import kernels
from . import fusion
from .layers import InputLayer, Layer, _auto_name, activation_name
from .module import Module

__all__ = ["Sequential"]


class Sequential(Module):
    """A linear stack of layers (PyTorch's ``nn.Sequential``, Keras-style layers).

    Supports ``add``, ``len``, iteration and indexing; builds from the first layer's
    ``input_shape`` (or on first call), after which ``summary()`` works. The Keras
    ``models.Sequential`` (:class:`minigrad.training.Sequential`) adds ``compile`` /
    ``fit`` / ``evaluate`` / ``predict`` and the weight files.

    The forward pass runs a plan of steps made once from the layers by the fusion
    planner (:mod:`minigrad.nn.fusion`): a Conv2D + MaxPooling2D as one op, a ReLU in
    place or moved past a pooling, and, in training, the last softmax/sigmoid inside the
    loss. Calling the layers one by one gives the same outputs and gradients (tested).
    ``fuse=False`` runs every layer's and every activation's own reference op instead;
    ``summary(show_plan=True)`` prints the plan.

    Example:
        >>> model = nn.Sequential([nn.Dense(64, activation='relu', input_shape=(784,)),
        ...                        nn.Dense(10)])
        >>> loss = F.cross_entropy(model(x), labels)
    """

    def __init__(self, layers: Optional[Iterable[Module]] = None, name: Optional[str] = None,
                 fuse: bool = True):
        super().__init__()
        self._layers = []
        self.name = name or _auto_name("Sequential")   # sequential, sequential_1, ...
        self.fuse = bool(fuse)
        self._plan = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Module) -> None:
        """Append a layer (built at once when the model's input shape is known)."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        idx = len(self._layers)
        self._layers.append(layer)
        self._plan = None
        setattr(self, str(idx), layer)   # registered as sub-module "0", "1", ...
        shape = self._input_shape()
        if shape is not None:
            self._build_from(shape)
        self._weights_changed()

    def _weights_changed(self) -> None:
        """Called when layers were added or built (the Keras model rebinds its optimizer)."""

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
            return type(self)(self._layers[i])
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

    def build(self, input_shape=None) -> None:
        """Build every layer for inputs of ``input_shape`` (without the batch axis; by
        default the ``input_shape`` its first layer was given, as Keras' ``build()``)."""
        if not self._layers:
            raise ValueError("Sequential: add layers before building")
        first = self._layers[0]
        if input_shape is None:
            input_shape = getattr(first, "input_shape", None)
            if input_shape is None:
                raise ValueError("Sequential.build: give input_shape (the first layer was "
                                 "given none)")
        if isinstance(first, Layer) and first.input_shape is None:
            first.input_shape = tuple(input_shape)
        self._build_from(tuple(input_shape))
        self._weights_changed()

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._layers:
            if not isinstance(layer, Layer):
                return None
            shape = layer.compute_output_shape(shape)
        return shape

    def activation_bytes_per_sample(self, input_shape):
        shape, total = tuple(input_shape), 0
        for layer in self._layers:
            if not isinstance(layer, Layer):
                return None
            shape = layer.compute_output_shape(shape)
            total += math.prod(shape)
        return total * get_default_dtype().itemsize

    def plan(self):
        """The steps the forward pass runs (built once from the layers; see
        :mod:`minigrad.nn.fusion`)."""
        if self._plan is None:
            self._plan = fusion.plan(self._layers, self.fuse)
        return self._plan

    def forward(self, x, apply_final_activation: bool = True):
        run = self._run_layers if self._hooked_layers() else self._run_plan
        if not self.fuse:
            with kernels.reference_ops():
                return run(x, apply_final_activation)
        return run(x, apply_final_activation)

    def _hooked_layers(self) -> bool:
        return any(layer.has_forward_hooks() for layer in self._layers)

    def _run_layers(self, x, apply_final_activation):
        """Layer by layer through each layer's ``__call__`` (so its hooks run), without
        the plan's fusion: used while some layer has a forward hook."""
        last = len(self._layers) - 1
        for i, layer in enumerate(self._layers):
            if i == last and not apply_final_activation and isinstance(layer, Layer):
                x = fusion.run_in_policy(layer, x, apply_activation=False)
            else:
                x = layer(x)
        return x

    def _run_plan(self, x, apply_final_activation):
        for step in self.plan():
            if step.final_activation and not apply_final_activation:
                break
            x = step.run(x)
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
        return activation_name(act) if act is not None else None

    # --- description ---------------------------------------------------------------------
    def summary(self, print_fn=print, show_plan: bool = False) -> str:
        """Print (and return) each layer's output shape and parameter count, Keras style;
        with ``show_plan``, also the steps the forward pass runs."""
        shape = self._input_shape()
        if shape is None:
            raise ValueError("summary: the model is not built; give the first layer "
                             "input_shape=... or call the model on data first")
        names, shapes, counts, frozen = [], [], [], 0
        for layer in self.layers:
            buffers = sum(int(getattr(layer, b).size) for b in layer._buffer_names())
            frozen += buffers + sum(int(p.size) for p in layer.parameters()
                                    if not p.requires_grad)
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
        if show_plan:
            lines += [f"Execution plan ({'fused' if self.fuse else 'fuse=False'}):"]
            lines += [f" {k + 1}. {step.label}" for k, step in enumerate(self.plan())]
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
            if not layer.trainable:
                cfg["trainable"] = False
            layers.append({"class_name": type(layer).__name__, "config": cfg})
        return {"class_name": "Sequential", "name": self.name, "layers": layers}

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self._layers)
        return f"Sequential([\n  {inner}\n])"
