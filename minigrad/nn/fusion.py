"""The fusion planner: a Sequential's layers turned into a plan of steps, once.

This is the ONE place where minigrad decides to run several layers as one op. Each step
of a plan computes one or more consecutive layers; the fused steps call the functional
ops' fused forms, which give the same values and gradients as the layers run one by one
(tested), only faster:

===============================  ==============================================
layers                           one step
===============================  ==============================================
Conv2D (ReLU or none)            ``F.conv2d(..., activation, max_pool=p)``: the
+ MaxPooling2D(p, stride p,      product's columns come in pooling blocks, the
'valid', same data format)       dropped edge is never computed
Dense or Conv2D with ReLU        ``F.linear`` / ``F.conv2d(activation='relu')``:
                                 the ReLU in place, on the op's own output
layer with ReLU                  the ReLU moves past the pooling (ReLU and max
+ MaxPooling2D                   commute) and runs on the 4x smaller array
===============================  ==============================================

The last layer's activation is always a step of its own, so that a loss can take the
logits before it (softmax + cross-entropy as one op: see ``Model``). With
``fuse=False`` every layer runs its own reference op and every activation its own
Function: a learner stepping through a training step lands in ``ReLU.backward``,
``MaxPool2d.backward``, ``Conv2d.backward``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Sequence

from .. import functional as F
from .layers import Conv2D, Dense, Layer, activation_name
from .pooling import MaxPooling2D

__all__ = ["Step", "plan", "run_in_policy"]


@dataclass
class Step:
    """One step of a plan: ``run(x)`` computes ``layers`` (described by ``label``).
    ``final_activation`` marks the step that applies the last layer's activation."""

    label: str
    layers: tuple
    run: Callable
    final_activation: bool = False


def plan(layers: Sequence, fuse: bool = True) -> List[Step]:
    """The steps that compute ``layers`` one after the other (see the module docstring)."""
    steps: List[Step] = []
    i, n = 0, len(layers)
    relu_pending = False          # a ReLU moved past the max pooling that comes next
    while i < n:
        layer = layers[i]
        last = i == n - 1
        if not fuse or not isinstance(layer, Layer):
            steps.append(_plain(layer))
        elif relu_pending:
            steps.append(_pool_relu(layer))
            relu_pending = False
        elif _conv_pool(layer, layers[i + 1] if not last else None):
            steps.append(_conv_pool_step(layer, layers[i + 1]))
            i += 1
            last = i == n - 1
            layer = None                      # the activation is inside the step
        elif layer.activation is F.relu and not last and _is_max_pool(layers[i + 1]):
            step = _plain(layer)              # its ReLU runs after the pooling
            step.label += " (its relu moves past the pooling)"
            steps.append(step)
            relu_pending = True
            layer = None
        elif layer.activation is F.relu and isinstance(layer, (Dense, Conv2D)):
            steps.append(_with_relu(layer))
            layer = None
        else:
            steps.append(_plain(layer))
        if layer is not None and isinstance(layer, Layer) and layer.activation is not None:
            steps.append(_activation(layer, final=last))
        i += 1
    return steps


def run_in_policy(layer, x, apply_activation: bool = True):
    """``layer.forward(x, apply_activation)`` under the layer's dtype policy."""
    return _in_policy(layer, lambda x: layer.forward(x, apply_activation))(x)


def _in_policy(layer, run) -> Callable:
    """``run`` under the layer's dtype policy (mixed precision: see
    :mod:`minigrad.mixed_precision`), when it has one of its own."""
    def scoped(x):
        if layer._policy is None:
            return run(x)
        with layer._policy.scope():
            return run(x)
    return scoped


def _name(layer) -> str:
    return f"{getattr(layer, 'name', type(layer).__name__)} ({type(layer).__name__})"


def _plain(layer) -> Step:
    """The layer's own op, its activation (if any) left to a step of its own."""
    if isinstance(layer, Layer):
        return Step(_name(layer), (layer,),
                    _in_policy(layer, lambda x: layer.forward(x, apply_activation=False)))
    return Step(_name(layer), (layer,), layer)


def _activation(layer, final: bool) -> Step:
    act = layer.activation
    return Step(f"{activation_name(act)}", (), _in_policy(layer, act), final_activation=final)


def _is_max_pool(layer) -> bool:
    # a subclass that changes the computation is not the pooling the fused ops know
    return isinstance(layer, MaxPooling2D) and type(layer).call is MaxPooling2D.call


def _conv_pool(a, b) -> bool:
    """Conv2D (ReLU or no activation) + a p x p, stride p, 'valid' MaxPooling2D."""
    if not (isinstance(a, Conv2D) and a.activation in (None, F.relu) and _is_max_pool(b)):
        return False
    p = b.pool_size[0]
    return (b.pool_size == (p, p) and b.strides == (p, p) and b.padding == "valid"
            and b.data_format == a.data_format)


def _conv_pool_step(conv: Conv2D, pool: MaxPooling2D) -> Step:
    relu = "relu" if conv.activation is F.relu else None

    def run(x):
        x = conv.prepare(x)
        y = conv.convolve(x, activation=relu, max_pool=pool.pool_size[0])
        pool.ensure_built(conv.compute_output_shape(x.shape[1:]))
        return y
    label = f"{_name(conv)}{' + relu' if relu else ''} + {_name(pool)}: conv2d(max_pool=" \
            f"{pool.pool_size[0]})"
    return Step(label, (conv, pool), _in_policy(conv, run))


def _with_relu(layer) -> Step:
    def run(x):
        x = layer.prepare(x)
        if isinstance(layer, Dense):
            return layer.linear(x, activation="relu")
        return layer.convolve(x, activation="relu")
    return Step(f"{_name(layer)} + relu (in place)", (layer,), _in_policy(layer, run))


def _pool_relu(pool: MaxPooling2D) -> Step:
    def run(x):
        x = pool.prepare(x)
        return F.max_pool2d(x, pool.pool_size, pool.strides, pool.padding,
                            layout=pool.layout, activation="relu")
    return Step(f"{_name(pool)} + relu (moved past the pooling)", (pool,), run)
