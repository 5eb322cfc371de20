"""Making a trained model smaller: int8 quantization, magnitude pruning, distillation.

* quantize: each output channel c of a Dense or Conv2D kernel is stored as int8 values
  q = round(W_c / s_c) in [-127, 127] with one float32 scale s_c = max|W_c| / 127
  (symmetric, per channel); the layer computes with q * s. Activations stay float32
  (weight-only quantization: the kernel bytes shrink 4x). quantization_aware first trains
  with the rounding in the forward pass (fake quantization, straight-through gradient).
* prune: the fraction ``amount`` of kernel weights with the smallest |w| (over all Dense and
  Conv2D kernels together) are set to 0 and kept there: a mask zeroes their gradients and
  the optimizer's state for them, so further training leaves them exactly 0.
* Distiller: a student learns from the labels and from a teacher's softened outputs:
  loss = alpha * CE(y, student) + (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T)),
  t and s the teacher's and student's logits (Hinton et al. 2015).
"""
from __future__ import annotations

import copy
from typing import Optional

import numpy as np

from . import backend
from . import functional as F
from .autograd import Function, no_grad
from .checks import number
from .nn.layers import Conv2D, Dense
from .tensor import Tensor

__all__ = ["quantize", "QuantizedDense", "QuantizedConv2D", "quantization_aware",
           "FakeQuantize", "prune", "sparsity", "Distiller", "distillation_loss"]


# =====================================================================================
# Quantization
# =====================================================================================

def quantize_per_channel(w):
    """(int8 values, float32 scales) of kernel ``w`` (an array on any backend) whose last
    axis is the output channel: s_c = max|w[..., c]| / 127 (1 for an all-zero channel)."""
    xp = backend.get_array_module(w)
    axes = tuple(range(w.ndim - 1))
    top = xp.abs(w).max(axis=axes)
    scale = xp.where(top > 0, top / 127.0, 1.0).astype(np.float32)
    q = xp.clip(xp.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


class _Quantized:
    """Mixin for a layer whose kernel is int8 values and per-channel scales (buffers, so
    they are saved as they are: 1 byte per weight)."""

    def _quantize_from(self, layer):
        self.kernel_int8, self.kernel_scale = quantize_per_channel(layer.kernel.data)
        del self.kernel                     # the float kernel is gone

    def _buffer_names(self):
        return ("kernel_int8", "kernel_scale")

    def compute_kernel(self) -> Tensor:
        """q * s as float32: the kernel the layer computes with."""
        return Tensor._wrap(self.kernel_int8.astype(np.float32) * self.kernel_scale)


class QuantizedDense(_Quantized, Dense):
    """A Dense layer computing with its int8 kernel (see :func:`quantize`)."""

    def _check_input(self, shape):
        if len(shape) < 2 or shape[-1] != self.kernel_int8.shape[0]:
            raise ValueError(f"layer '{self.name}' (QuantizedDense): expected "
                             f"{self.kernel_int8.shape[0]} features, got shape {shape}")


class QuantizedConv2D(_Quantized, Conv2D):
    """A Conv2D layer computing with its int8 kernel (see :func:`quantize`)."""

    def _check_input(self, shape):
        c = self.kernel_int8.shape[2]
        got = shape[-1] if self.data_format == "channels_last" else shape[1]
        if len(shape) != 4 or got != c:
            raise ValueError(f"layer '{self.name}' (QuantizedConv2D): expected {c} input "
                             f"channels, got shape {shape}")


class FakeQuantize(Function):
    """y = round(w / s) * s per output channel (the values int8 will hold), with the
    straight-through estimator as its gradient: dy/dw = 1, as if rounding were not there
    (its true derivative is 0 almost everywhere, which would stop training)."""

    def forward(self, w):
        q, s = quantize_per_channel(w)
        return (q * s).astype(w.dtype, copy=False)

    def backward(self, gy):
        return gy

    def backward_graph(self, gy):
        return gy


class _FakeQuantized:
    """Mixin: the layer trains with fake-quantized kernels (see quantization_aware)."""

    def compute_kernel(self):
        return FakeQuantize().apply(self.kernel)


class QATDense(_FakeQuantized, Dense):
    """A Dense layer whose forward uses its kernel rounded to int8 steps."""


class QATConv2D(_FakeQuantized, Conv2D):
    """A Conv2D layer whose forward uses its kernel rounded to int8 steps."""


def quantization_aware(model):
    """Quantization-aware training: from now on (in place) the model's Dense and Conv2D
    layers compute with their kernels rounded as int8 will round them
    (:class:`FakeQuantize`), and their gradients pass the rounding straight through; the
    float kernels keep learning. Train on (``fit``), then :func:`quantize`. Returns the
    model."""
    found = False
    for m in model.modules():
        if type(m) in (Dense, Conv2D) and m.built:
            object.__setattr__(m, "__class__", QATConv2D if isinstance(m, Conv2D)
                               else QATDense)
            found = True
    if not found:
        raise ValueError("quantization_aware: the model has no built Dense or Conv2D layer")
    model._plan = None
    return model


def _quantized_copy(layer):
    cls = QuantizedConv2D if isinstance(layer, Conv2D) else QuantizedDense
    new = copy.copy(layer)                   # same configuration (a shallow copy)
    object.__setattr__(new, "__class__", cls)
    for name in ("_params", "_modules", "_forward_hooks", "_forward_pre_hooks"):
        object.__setattr__(new, name, copy.copy(getattr(layer, name)))
    new._quantize_from(layer)
    return new


def quantize(model, calibration_x=None):
    """A copy of ``model`` whose Dense and Conv2D kernels are int8, per output channel
    (symmetric); ``predict`` computes with them and ``save_weights`` stores them (int8
    values and float32 scales). The original model is unchanged.

    ``calibration_x``: a few representative inputs; the copy records on them how often it
    agrees with the float model (``model.calibration``: agreement of the predicted class
    and the largest absolute difference of the outputs).
    """
    q = copy.deepcopy(model)
    layers = getattr(q, "_layers", None)
    if layers is None:
        raise TypeError("quantize: expects a Sequential model")
    found = False
    for i, layer in enumerate(layers):
        if type(layer) in (Dense, Conv2D, QATDense, QATConv2D) and layer.built:
            new = _quantized_copy(layer)
            layers[i] = new
            q._modules[str(i)] = new
            found = True
    if not found:
        raise ValueError("quantize: the model has no built Dense or Conv2D layer")
    q._plan = None
    if getattr(q, "optimizer", None) is not None:
        q._bind_optimizer()
    if calibration_x is not None:
        a, b = model.predict(calibration_x), q.predict(calibration_x)
        q.calibration = {"samples": int(len(a)),
                         "same_class": float((a.argmax(-1) == b.argmax(-1)).mean()),
                         "max_abs_diff": float(np.abs(a - b).max())}
    return q


# =====================================================================================
# Pruning
# =====================================================================================

def _kernels(model):
    return [m for m in model.modules() if isinstance(m, (Dense, Conv2D))
            and not isinstance(m, _Quantized) and m.built]


def _apply_mask(layer, mask: np.ndarray, optimizer=None):
    """Zero the kernel where ``mask`` is False and keep it so: the mask becomes the
    layer's ``kernel_mask`` (saved with the weights) and a gradient hook multiplies the
    kernel's gradient by it."""
    dev_mask = backend.move(mask, backend.device_of(layer.kernel.data))
    layer.kernel.data *= dev_mask.astype(layer.kernel.dtype)
    if getattr(layer, "kernel_mask", None) is None:
        layer.kernel.register_hook(lambda g, layer=layer: g * Tensor._wrap(
            layer.kernel_mask.astype(g.dtype)))
    layer.kernel_mask = dev_mask
    if optimizer is not None:                 # moments of pruned weights: zero too
        for arr in (optimizer.state.get(layer.kernel) or {}).values():
            if hasattr(arr, "shape") and tuple(arr.shape) == layer.kernel.shape:
                arr *= dev_mask.astype(arr.dtype)


def prune(model, amount: float = 0.8, structured: bool = False):
    """Zero the fraction ``amount`` of the Dense and Conv2D kernel weights of smallest
    magnitude, over all of them together (global magnitude pruning), in place; the pruned
    weights stay 0 through further training (their gradients and optimizer moments are
    masked) and the masks are saved with the weights. Pruning again raises the sparsity.

    ``structured=True`` prunes whole output channels (filters, or Dense units) instead:
    in each layer the fraction ``amount`` with the smallest L1 norm.

    Returns the model.
    """
    amount = number(amount, "prune", "amount", 0.0, 1.0)
    layers = _kernels(model)
    if not layers:
        raise ValueError("prune: the model has no built Dense or Conv2D layer")
    optimizer = getattr(model, "optimizer", None)
    if structured:
        for layer in layers:
            w = backend.to_host(layer.kernel.data)
            norms = np.abs(w).reshape(-1, w.shape[-1]).sum(axis=0)
            k = int(round(amount * w.shape[-1]))
            mask = np.ones(w.shape, dtype=bool)
            if k:
                mask[..., np.argsort(norms, kind="stable")[:k]] = False
            _apply_mask(layer, mask & _current_mask(layer), optimizer)
        return model
    weights = [np.abs(backend.to_host(layer.kernel.data)) for layer in layers]
    flat = np.concatenate([w.ravel() for w in weights])
    k = int(round(amount * flat.size))
    if k == 0:
        return model
    order = np.argsort(flat, kind="stable")        # exactly k weights pruned, ties too
    keep = np.ones(flat.size, dtype=bool)
    keep[order[:k]] = False
    start = 0
    for layer, w in zip(layers, weights):
        mask = keep[start:start + w.size].reshape(w.shape)
        start += w.size
        _apply_mask(layer, mask & _current_mask(layer), optimizer)
    return model


def _current_mask(layer) -> np.ndarray:
    m = getattr(layer, "kernel_mask", None)
    return np.ones(layer.kernel.shape, dtype=bool) if m is None else backend.to_host(m)


def sparsity(model) -> float:
    """The fraction of the Dense and Conv2D kernel weights that are exactly 0."""
    layers = _kernels(model)
    total = sum(layer.kernel.size for layer in layers)
    zeros = sum(int((backend.to_host(layer.kernel.data) == 0).sum()) for layer in layers)
    return zeros / total if total else 0.0


# =====================================================================================
# Distillation
# =====================================================================================

def distillation_loss(student_logits: Tensor, teacher_logits, temperature: float) -> Tensor:
    """T^2 * KL(softmax(t / T) || softmax(s / T)), averaged over the batch: the soft
    targets' cross-entropy minus their entropy (a constant for the student)."""
    t = teacher_logits.data if isinstance(teacher_logits, Tensor) else teacher_logits
    xp = backend.get_array_module(t)
    z = t / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = xp.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    # a constant for the student; kept on the device (no host read per step)
    entropy = -(p * xp.log(xp.maximum(p, 1e-30))).sum(axis=-1).mean()
    ce = F.cross_entropy(student_logits * (1.0 / temperature), p)
    return (ce - entropy) * (temperature ** 2)


class Distiller:
    """Keras' distillation recipe: ``Distiller(student=, teacher=, temperature=,
    alpha=)``, then ``compile(optimizer, metrics)`` and ``fit(x, y)``; the teacher is not
    trained. Both models end in a softmax (or give logits); the loss uses logits.

    loss = alpha * CE(y, student) + (1 - alpha) * distillation_loss(student, teacher, T)
    """

    def __init__(self, student, teacher, temperature: float = 3.0, alpha: float = 0.1):
        self.student, self.teacher = student, teacher
        self.temperature = number(temperature, "Distiller", "temperature", low=0.0,
                                  low_open=True)
        self.alpha = number(alpha, "Distiller", "alpha", 0.0, 1.0)
        self.optimizer = None
        self.history = {}

    def compile(self, optimizer="adam", metrics=("accuracy",)):
        from . import optim
        self.optimizer = optim.get(optimizer)
        self.metrics = list(metrics or ())
        return self

    @staticmethod
    def _logits(model, x):
        f = getattr(model, "forward_logits", None)
        return f(x) if f is not None else model(x)

    def loss(self, x, y) -> Tensor:
        """The mixed loss on one batch (the teacher run without a graph)."""
        x = Tensor._wrap(np.asarray(x)) if not isinstance(x, Tensor) else x
        with no_grad():
            self.teacher.eval()
            t = self._logits(self.teacher, x)
        s = self._logits(self.student, x)
        hard = F.cross_entropy(s, np.asarray(y).astype(np.int64))
        soft = distillation_loss(s, t, self.temperature)
        return hard * self.alpha + soft * (1 - self.alpha)

    def fit(self, x, y, epochs: int = 1, batch_size: int = 32, shuffle: bool = True,
            seed: Optional[int] = 0, verbose: int = 0):
        """Train the student; returns ``{'loss': [per epoch]}`` (also ``self.history``)."""
        if self.optimizer is None:
            raise RuntimeError("Distiller: call compile(optimizer) first")
        x, y = np.asarray(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"Distiller.fit: x has {len(x)} samples but y has {len(y)}")
        if not self.student.parameters():
            self.student.predict(x[:1])                  # build the student
        if not self.student.trainable_weights:
            raise ValueError("Distiller.fit: every weight of the student is frozen "
                             "(trainable=False): nothing to train")
        self.optimizer.bind(self.student.trainable_weights)
        rng = np.random.default_rng(seed)
        history = {"loss": []}
        self.student.train()
        for epoch in range(epochs):
            order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
            total = 0.0
            for i in range(0, len(x), batch_size):
                b = order[i:i + batch_size]
                loss = self.loss(x[b], y[b])
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                total += loss.item() * len(b)
            history["loss"].append(total / len(x))
            if verbose:
                print(f"epoch {epoch + 1}/{epochs} - distillation loss "
                      f"{history['loss'][-1]:.4f}")
        self.history = history
        return history

    def evaluate(self, x, y) -> float:
        """The student's accuracy on (x, y)."""
        return float((self.student.predict(x).argmax(-1) == np.asarray(y)).mean())

