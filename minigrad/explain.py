"""Which inputs made the model say what it said: gradient-based attributions.

For a model f and the output of class c (``target``), with x an input:

* saliency:             |df_c/dx|                                  (Simonyan et al. 2014)
* SmoothGrad:           mean over n noisy copies x + N(0, sigma^2) of |df_c/dx|,
                        sigma = noise * (max x - min x) per example    (Smilkov et al. 2017)
* integrated gradients: (x - x0) * mean over alpha in (0, 1] of df_c/dx at x0 + alpha (x - x0)
                        (the midpoint rule over ``steps`` points; x0 the baseline, zeros by
                        default). Completeness: the attributions sum to f_c(x) - f_c(x0), up
                        to the integration error    (Sundararajan et al. 2017)
* Grad-CAM:             ReLU(sum_k a_k A_k), A the output of a convolutional layer,
                        a_k the mean over positions of d y_c / d A_k with y_c the class score
                        before the final activation; upsampled to the input's size and scaled
                        to [0, 1] per example       (Selvaraju et al. 2017)

f is the model's output as ``predict`` returns it (after its final activation). The model
runs in inference mode (dropout off) and is left in the mode it was in. Attributions are
NumPy arrays on the host.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import backend
from .autograd import grad as _grad
from .tensor import Tensor

__all__ = ["saliency", "smoothgrad", "integrated_gradients", "grad_cam"]


def _targets(target, n: int, num_classes: Optional[int] = None) -> np.ndarray:
    """One class index per example from an int or a sequence of n ints."""
    t = np.asarray(target)
    if t.ndim == 0:
        t = np.full(n, int(t))
    if t.shape != (n,) or t.dtype.kind not in "iu":
        raise ValueError(f"target must be a class index or one integer per example ({n}), "
                         f"got {np.asarray(target).dtype} of shape {np.asarray(target).shape}")
    if num_classes is not None and (t.min() < 0 or t.max() >= num_classes):
        bad = t.min() if t.min() < 0 else t.max()
        raise ValueError(f"target class {bad} is out of range for {num_classes} outputs")
    return t.astype(np.int64)


def _inputs(x) -> np.ndarray:
    x = backend.to_host(x.data) if isinstance(x, Tensor) else np.asarray(x)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a batch (N, ...) with N >= 1, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"x must be floating point (as the model takes it), got {x.dtype}")
    return x


class _inference:
    """The model in eval mode for the block, then back in its previous mode."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was = self.model.training
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was)
        return False


def _class_outputs(out: Tensor, target: np.ndarray) -> Tensor:
    if out.ndim != 2:
        raise ValueError(f"the model's output must be (N, classes), got {out.shape}")
    _targets(target, out.shape[0], out.shape[1])
    return out[np.arange(out.shape[0]), target]


def _input_grad(model, x: np.ndarray, target: np.ndarray) -> np.ndarray:
    """d f_target / dx for every example (each output depends on its own example only)."""
    xt = Tensor(x, requires_grad=True)
    (g,) = _grad(_class_outputs(model(xt), target).sum(), [xt])
    return backend.to_host(g.data)


def _batched_grad(model, xs: np.ndarray, target: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([_input_grad(model, xs[i:i + batch_size], target[i:i + batch_size])
                           for i in range(0, len(xs), batch_size)])


def saliency(model, x, target) -> np.ndarray:
    """|d f_target / dx|, the shape of ``x``: how much each input value moves the target
    class's output."""
    x = _inputs(x)
    t = _targets(target, len(x))
    with _inference(model):
        return np.abs(_input_grad(model, x, t))


def smoothgrad(model, x, target, samples: int = 25, noise: float = 0.15,
               seed: Optional[int] = 0, batch_size: int = 256) -> np.ndarray:
    """The saliency averaged over ``samples`` copies of each example with Gaussian noise
    of standard deviation ``noise`` times the example's value range added: the noise
    averages away the gradient's high-frequency jitter."""
    x = _inputs(x)
    t = _targets(target, len(x))
    if samples < 1 or noise < 0:
        raise ValueError(f"smoothgrad: samples must be >= 1 and noise >= 0, got {samples} "
                         f"and {noise}")
    rng = np.random.default_rng(seed)
    axes = tuple(range(1, x.ndim))
    sigma = noise * (x.max(axis=axes, keepdims=True) - x.min(axis=axes, keepdims=True))
    noisy = x[None] + rng.standard_normal((samples,) + x.shape).astype(x.dtype) * sigma
    with _inference(model):
        g = _batched_grad(model, noisy.reshape((-1,) + x.shape[1:]), np.tile(t, samples),
                          batch_size)
    return np.abs(g).reshape((samples,) + x.shape).mean(axis=0)


def integrated_gradients(model, x, target, baseline=None, steps: int = 50,
                         batch_size: int = 256) -> np.ndarray:
    """(x - baseline) times the gradient averaged along the straight path from the
    baseline (zeros by default) to x, at the midpoints of ``steps`` equal segments. The
    attributions (the shape of ``x``) add up to f(x) - f(baseline) for the target class,
    within the integration error (which shrinks as ``steps`` grows)."""
    x = _inputs(x)
    t = _targets(target, len(x))
    base = np.zeros_like(x) if baseline is None else np.broadcast_to(
        np.asarray(baseline, dtype=x.dtype), x.shape)
    if steps < 1:
        raise ValueError(f"integrated_gradients: steps must be >= 1, got {steps}")
    alphas = ((np.arange(steps) + 0.5) / steps).astype(x.dtype)
    path = base[None] + alphas.reshape((-1,) + (1,) * x.ndim) * (x - base)[None]
    with _inference(model):
        g = _batched_grad(model, path.reshape((-1,) + x.shape[1:]), np.tile(t, steps),
                          batch_size)
    return (x - base) * g.reshape((steps,) + x.shape).mean(axis=0)


def _find_layer(model, layer):
    if isinstance(layer, str):
        for name, m in model.named_modules():
            if getattr(m, "name", None) == layer or name == layer:
                return m
        names = [getattr(m, "name", n) for n, m in model.named_modules() if n]
        raise ValueError(f"grad_cam: no layer named {layer!r}; the model's layers: {names}")
    if not any(m is layer for m in model.modules()):
        raise ValueError(f"grad_cam: {layer!r} is not a layer of this model")
    return layer


def _resize_bilinear(maps: np.ndarray, H: int, W: int) -> np.ndarray:
    """(N, h, w) -> (N, H, W) by linear interpolation between pixel centres."""
    def weights(n_in, n_out):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, (pos - lo)
    r0, r1, fr = weights(maps.shape[1], H)
    c0, c1, fc = weights(maps.shape[2], W)
    rows = maps[:, r0] * (1 - fr)[None, :, None] + maps[:, r1] * fr[None, :, None]
    return rows[:, :, c0] * (1 - fc) + rows[:, :, c1] * fc


def grad_cam(model, x, target, layer) -> np.ndarray:
    """Heatmaps (N, H, W) in [0, 1] at the input's resolution (inputs (N, H, W, C)):
    where the activations of ``layer`` (the layer object or its name; a layer with
    (N, h, w, channels) outputs, such as a Conv2D) most raised the target class's score.
    A map with no positive evidence is all zeros."""
    x = _inputs(x)
    t = _targets(target, len(x))
    if x.ndim != 4:
        raise ValueError(f"grad_cam needs image inputs (N, H, W, C), got shape {x.shape}")
    layer = _find_layer(model, layer)
    seen = []
    handle = layer.register_forward_hook(lambda m, inputs, out: seen.append(out))
    try:
        with _inference(model):
            xt = Tensor(x)
            forward = getattr(model, "forward_logits", None)
            scores = forward(xt) if forward is not None else model(xt)
            if not seen:
                raise ValueError(f"grad_cam: layer {getattr(layer, 'name', layer)!r} did not "
                                 "run in the model's forward pass")
            A = seen[-1]
            if A.ndim != 4:
                raise ValueError(f"grad_cam: layer {getattr(layer, 'name', layer)!r} gives "
                                 f"outputs of shape {A.shape}; it needs (N, h, w, channels) "
                                 "(a convolutional layer)")
            (dA,) = _grad(_class_outputs(scores, t).sum(), [A])
    finally:
        handle.remove()
    a = backend.to_host(A.data).astype(np.float64)
    w = backend.to_host(dA.data).astype(np.float64).mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((a * w).sum(axis=-1), 0)                   # (N, h, w)
    cam = _resize_bilinear(cam, x.shape[1], x.shape[2])
    top = cam.max(axis=(1, 2), keepdims=True)
    return np.where(top > 0, cam / np.where(top > 0, top, 1), 0.0)
