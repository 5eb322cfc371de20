"""The op catalogue: one row per op, from which forward, gradient and invariant tests are
generated (see test_ops.py).

Each row gives the minigrad callable, a NumPy reference, how to draw input shapes, and
an input domain that keeps gradient checks off kinks and poles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import testing


# --- input domains: map standard normal draws into a safe region ----------------------
def real(x):
    return x


def positive(x):
    return np.abs(x) + 0.5


def off_zero(x):
    """Away from 0 (kinks of relu/abs, poles of 1/x): |x| >= 0.2."""
    return np.where(x >= 0, x + 0.2, x - 0.2)


def distinct(x):
    """Pairwise distinct values on a grid 0.37 apart, in random order (max/min ties)."""
    flat = x.reshape(-1)
    order = np.argsort(flat, kind="stable")
    vals = np.empty_like(flat)
    vals[order] = (np.arange(flat.size) - flat.size // 2) * 0.37 + 0.12   # never 0 (ReLU)
    return vals.reshape(x.shape)


def distinct_between(x):
    """As :func:`distinct`, on the grid shifted by half a step: never equal to a value
    drawn by ``distinct`` (a second operand of maximum/minimum)."""
    return distinct(x) + 0.185


def spread_rows(x):
    """Each row (last axis) a shuffle of values 0.37 apart around 0.3: rows of nearly
    equal values would make layer normalisation ill-conditioned in float32."""
    ranks = np.argsort(np.argsort(x, axis=-1, kind="stable"), axis=-1)
    return (ranks - (x.shape[-1] - 1) / 2) * 0.37 + 0.3 if x.ndim else x


def probs(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def unit_interval(x):
    return 0.1 + 0.8 / (1 + np.exp(-x))


# --- shape strategies -------------------------------------------------------------------
def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    return testing.shapes(min_dims, max_dims, min_side, max_side).map(lambda s: (s,))


def broadcast_pair(max_dims=3):
    return testing.broadcastable_shapes(2, max_dims=max_dims)


def fixed(*shape_tuples):
    return st.just(tuple(shape_tuples))


def matmul_shapes():
    return st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4),
                     st.sampled_from(["2d", "batch", "vec_left", "vec_right", "bcast", "vec_vec",
                                      "vec_batch", "batch_vec"])) \
        .map(_mm)


def _mm(a):
    n, k, m, kind = a
    return {"2d": ((n, k), (k, m)), "batch": ((2, n, k), (2, k, m)),
            "vec_left": ((k,), (k, m)), "vec_right": ((n, k), (k,)),
            "bcast": ((3, 1, n, k), (2, k, m)), "vec_vec": ((k,), (k,)),
            "vec_batch": ((k,), (2, k, m)), "batch_vec": ((2, n, k), (k,))}[kind]


def conv_shapes():
    """(x, W, b) shapes for NHWC convolutions: few and many channels, kernels 1-3 wide,
    an input at least one larger than the kernel (room for a 2 x 2 pooling)."""
    return st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
                     st.sampled_from([1, 2, 3, 9]), st.integers(1, 4), st.integers(1, 4),
                     st.integers(1, 4)).map(
        lambda a: ((a[0], a[1] + a[4], a[2] + a[5], a[3]), (a[1], a[2], a[3], a[6]),
                   (a[6],)))


def attention_shapes():
    """(q, k, v) shapes (..., L, E), (..., S, E), (..., S, Ev) with 0-2 batch axes."""
    return st.tuples(testing.shapes(0, 2, 1, 3), st.integers(1, 4), st.integers(1, 4),
                     st.integers(1, 4), st.integers(1, 4)).map(
        lambda a: (a[0] + (a[1], a[3]), a[0] + (a[2], a[3]), a[0] + (a[2], a[4])))


def layer_norm_shapes(k=1):
    """(x, w, b) shapes: any leading axes, the last ``k`` normalised (at least 2 values
    per row: with one, every output is the bias)."""
    return st.tuples(testing.shapes(0, 2, 1, 3), testing.shapes(k, k, 2, 4)).map(
        lambda a: (a[0] + a[1], a[1], a[1]))


@dataclass
class Op:
    name: str
    fn: Callable                       # Tensors -> Tensor
    ref: Optional[Callable]            # arrays -> array (None: no forward reference)
    shapes: object                     # strategy of tuples of shapes
    domains: tuple = (real,)           # one per input (the last repeats)
    grad: bool = True
    gradgrad: bool = True              # double backprop (False: no backward_graph)
    targets: tuple = ()                # inputs that are targets: never require grad
    directional: bool = False          # large inputs: gradient by mg.check_vjp
    extra: dict = field(default_factory=dict)

    def domain(self, i):
        return self.domains[min(i, len(self.domains) - 1)]


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _erf(x):
    return np.vectorize(math.erf)(x)


def _lse(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return (np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m).squeeze(axis)


def _pads(pad):
    """((top, bottom), (left, right)) from an int, a pair or the full form."""
    if isinstance(pad, int):
        return (pad, pad), (pad, pad)
    if isinstance(pad[0], int):
        return (pad[0], pad[0]), (pad[1], pad[1])
    return tuple(pad)


def _same(size, k, s):
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _conv_ref(x, W, b, stride, pad):
    """Direct loops over output positions; x (N, C, H, W), W (O, C, kh, kw)."""
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    xp_ = np.pad(x, ((0, 0), (0, 0)) + _pads(pad))
    N, C, H, Wd = xp_.shape
    O, _, kh, kw = W.shape
    Ho, Wo = (H - kh) // sh + 1, (Wd - kw) // sw + 1
    y = np.zeros((N, O, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp_[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = np.tensordot(patch, W, axes=([1, 2, 3], [1, 2, 3]))
    return y + b.reshape(1, -1, 1, 1)


def _pool_ref(x, k, s, pad, reduce):
    """Pooling by direct loops; padded positions are skipped (never counted)."""
    kh, kw = (k, k) if isinstance(k, int) else k
    sh, sw = (s, s) if isinstance(s, int) else s
    xp_ = np.pad(x, ((0, 0), (0, 0)) + _pads(pad), constant_values=np.nan)
    N, C, H, W = xp_.shape
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    y = np.zeros((N, C, Ho, Wo))
    nan_reduce = {np.max: np.nanmax, np.mean: np.nanmean}[reduce]
    for i in range(Ho):
        for j in range(Wo):
            y[:, :, i, j] = nan_reduce(xp_[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw],
                                       axis=(2, 3))
    return y


def nchw(f):
    """A reference written for NCHW arrays, applied to NHWC input and kernel (kh, kw, C, O)."""
    def g(x, *rest):
        if rest:
            W, *b = rest
            return f(x.transpose(0, 3, 1, 2), W.transpose(3, 2, 0, 1), *b).transpose(0, 2, 3, 1)
        return f(x.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    return g


LABELS = np.array([2, 0, 1, 2, 1])
IGNORED = np.array([2, -100, 1, -100, 0])           # rows 1 and 3 count for nothing
IGNORED = np.array([2, -100, 1, -100, 1])
TOKENS = np.array([[1, 4, 1], [0, 2, 1]])           # repeated rows: gradients add up
ATTN_MASK = np.array([[1, 0, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)


def _layer_norm(x, w=None, b=None, k=1, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def _attention(q, k, v, mask=None, scale=None):
    scores = q @ np.swapaxes(k, -1, -2) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf) if mask.dtype == bool else scores + mask
    return _softmax(scores) @ v


def _gelu_tanh(a):
    return 0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))

CATALOGUE = [
    # arithmetic
    Op("add", lambda a, b: a + b, np.add, broadcast_pair()),
    Op("sub", lambda a, b: a - b, np.subtract, broadcast_pair()),
    Op("mul", lambda a, b: a * b, np.multiply, broadcast_pair()),
    Op("div", lambda a, b: a / b, np.divide, broadcast_pair(), (real, off_zero)),
    Op("pow", lambda a, b: a ** b, np.power, broadcast_pair(), (positive, real)),
    Op("pow_scalar", lambda a: a ** 3, lambda a: a ** 3, shapes()),
    Op("rsub_scalar", lambda a: 2.0 - a, lambda a: 2.0 - a, shapes()),
    Op("rdiv_scalar", lambda a: 1.5 / a, lambda a: 1.5 / a, shapes(), (off_zero,)),
    # a Python number as one operand stays a number inside the Function (no array is
    # made for it): its backward must still work where xp routines want arrays (CuPy)
    Op("pow_zero_exponent", lambda a: a ** 0, lambda a: a ** 0, shapes()),
    Op("rpow_scalar", lambda a: 2.0 ** a, lambda a: 2.0 ** a, shapes()),
    Op("maximum_scalar", lambda a: F.maximum(a, 0.3), lambda a: np.maximum(a, 0.3), shapes(),
       (distinct,)),
    Op("minimum_scalar_first", lambda a: F.minimum(0.3, a), lambda a: np.minimum(0.3, a),
       shapes(), (distinct,)),
    Op("where_scalar", lambda a: F.where(mg.tensor(
        np.arange(a.size).reshape(a.shape) % 2 == 0, device=a.device), a, 0.5),
       lambda a: np.where(np.arange(a.size).reshape(a.shape) % 2 == 0, a, 0.5),
       shapes(min_dims=1)),
    Op("neg", lambda a: -a, np.negative, shapes()),
    Op("exp", F.exp, np.exp, shapes()),
    Op("log", F.log, np.log, shapes(), (positive,)),
    Op("sqrt", F.sqrt, np.sqrt, shapes(), (positive,)),
    Op("abs", F.abs, np.abs, shapes(), (off_zero,)),
    Op("clip", lambda a: F.clip(a, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), shapes(),
       (lambda x: np.where(np.abs(x + 0.5) < 0.05, x + 0.1,
                           np.where(np.abs(x - 0.7) < 0.05, x + 0.1, x)),)),
    Op("maximum", F.maximum, np.maximum, broadcast_pair(), (distinct, distinct_between)),
    Op("minimum", F.minimum, np.minimum, broadcast_pair(), (distinct, distinct_between)),
    Op("where", lambda a, b: F.where(a.data > 0 if False else mg.tensor(
        np.arange(a.size).reshape(a.shape) % 2 == 0, device=a.device), a, b),
       lambda a, b: np.where(np.arange(a.size).reshape(a.shape) % 2 == 0, a, b),
       shapes(min_dims=1).map(lambda s: (s[0], s[0]))),
    # reductions
    Op("sum", lambda a: a.sum(), np.sum, shapes()),
    Op("sum_axis", lambda a: a.sum(axis=-1, keepdims=True),
       lambda a: a.sum(axis=-1, keepdims=True), shapes(min_dims=1)),
    Op("mean_axis0", lambda a: a.mean(axis=0), lambda a: a.mean(axis=0), shapes(min_dims=1)),
    Op("var", lambda a: a.var(axis=-1), lambda a: a.var(axis=-1), shapes(min_dims=1)),
    Op("max", lambda a: a.max(), np.max, shapes(), (distinct,)),
    Op("max_axis", lambda a: a.max(axis=-1), lambda a: a.max(axis=-1), shapes(min_dims=1),
       (distinct,)),
    Op("min_axis", lambda a: a.min(axis=0, keepdims=True),
       lambda a: a.min(axis=0, keepdims=True), shapes(min_dims=1), (distinct,)),
    Op("logsumexp", lambda a: F.logsumexp(a, axis=-1), lambda a: _lse(a, -1),
       shapes(min_dims=1)),
    # shape
    Op("reshape", lambda a: a.reshape(-1), lambda a: a.reshape(-1), shapes()),
    Op("transpose", lambda a: a.T, lambda a: a.T, shapes()),
    Op("transpose_axes", lambda a: a.transpose(1, 0, 2), lambda a: a.transpose(1, 0, 2),
       shapes(min_dims=3)),
    Op("flatten", lambda a: a.flatten(1), lambda a: a.reshape(a.shape[0], -1),
       shapes(min_dims=2)),
    Op("expand_squeeze", lambda a: a.expand_dims(0).squeeze(0), lambda a: a, shapes()),
    Op("broadcast_to", lambda a: a.broadcast_to((3,) + a.shape),
       lambda a: np.broadcast_to(a, (3,) + a.shape), shapes()),
    Op("getitem_slice", lambda a: a[1:, ..., ::2], lambda a: a[1:, ..., ::2],
       shapes(min_dims=2, min_side=2)),
    Op("getitem_int_array", lambda a: a[np.array([0, 1, 0, 0])],
       lambda a: a[np.array([0, 1, 0, 0])], shapes(min_dims=1, min_side=2)),
    Op("getitem_bool", lambda a: a[mg.tensor(np.arange(a.shape[0]) % 2 == 0, device=a.device)],
       lambda a: a[np.arange(a.shape[0]) % 2 == 0], shapes(min_dims=1)),
    Op("concatenate", lambda a, b: mg.concatenate([a, b, a], axis=0),
       lambda a, b: np.concatenate([a, b, a], axis=0),
       shapes(min_dims=1).map(lambda s: (s[0], (2,) + s[0][1:]))),
    Op("stack", lambda a, b: mg.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], -1),
       shapes().map(lambda s: (s[0], s[0]))),
    Op("pad", lambda a: mg.pad(a, 1), lambda a: np.pad(a, 1), shapes(min_dims=1)),
    # linear algebra
    Op("matmul", lambda a, b: a @ b, np.matmul, matmul_shapes()),
    Op("linear", lambda x, W, b: F.linear(x, W, b), lambda x, W, b: x @ W + b,
       fixed((5, 3), (3, 4), (4,))),
    Op("linear_relu", lambda x, W, b: F.linear(x, W, b, activation="relu"),
       lambda x, W, b: np.maximum(x @ W + b, 0), fixed((5, 3), (3, 4), (4,))),
    # activations
    Op("relu", F.relu, lambda a: np.maximum(a, 0), shapes(), (off_zero,)),
    Op("leaky_relu", lambda a: F.leaky_relu(a, 0.1), lambda a: np.where(a > 0, a, 0.1 * a),
       shapes(), (off_zero,)),
    Op("sigmoid", F.sigmoid, lambda a: 1 / (1 + np.exp(-a)), shapes()),
    Op("tanh", F.tanh, np.tanh, shapes()),
    Op("gelu", F.gelu, lambda a: a * 0.5 * (1 + _erf(a / np.sqrt(2))), shapes()),
    Op("softmax", F.softmax, _softmax, shapes(min_dims=1)),
    Op("softmax_axis0", lambda a: F.softmax(a, 0), lambda a: _softmax(a, 0),
       shapes(min_dims=1)),
    Op("log_softmax", F.log_softmax, lambda a: np.log(_softmax(a)), shapes(min_dims=1)),
    # losses
    Op("mse", F.mse_loss, lambda p, t: ((p - t) ** 2).mean(), fixed((5, 3), (5, 3))),
    Op("cross_entropy_labels", lambda x: F.cross_entropy(x, mg.tensor(LABELS, device=x.device)),
       lambda x: -np.log(_softmax(x))[np.arange(5), LABELS].mean(), fixed((5, 3))),
    Op("cross_entropy_probs", lambda x, t: F.cross_entropy(x, t),
       lambda x, t: -(t * np.log(_softmax(x))).sum(1).mean(), fixed((5, 3), (5, 3)),
       (real, probs), targets=(1,)),
    Op("cross_entropy_none", lambda x: F.cross_entropy(
        x, mg.tensor(LABELS, device=x.device), reduction="none"),
       lambda x: -np.log(_softmax(x))[np.arange(5), LABELS], fixed((5, 3))),
    Op("cross_entropy_ignored", lambda x: F.cross_entropy(x, mg.tensor(IGNORED, device=x.device)),
       lambda x: -np.log(_softmax(x))[[0, 2, 4], IGNORED[[0, 2, 4]]].mean(), fixed((5, 3))),
    Op("cross_entropy_ignored_sum", lambda x: F.cross_entropy(
        x, mg.tensor(IGNORED, device=x.device), reduction="sum"),
       lambda x: -np.log(_softmax(x))[[0, 2, 4], IGNORED[[0, 2, 4]]].sum(), fixed((5, 3))),
    Op("nll_loss", lambda x: F.nll_loss(x, mg.tensor(LABELS, device=x.device)),
       lambda x: -x[np.arange(5), LABELS].mean(), fixed((5, 3))),
    Op("bce", lambda p, t: F.binary_cross_entropy(p, t),
       lambda p, t: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(),
       fixed((4, 3), (4, 3)), (unit_interval,), targets=(1,)),
    Op("bce_logits", lambda z, t: F.binary_cross_entropy_with_logits(z, t),
       lambda z, t: (np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))).mean(),
       fixed((4, 3), (4, 3)), (real, unit_interval), targets=(1,)),
    Op("categorical_crossentropy", lambda p, t: F.categorical_crossentropy(p, t),
       lambda p, t: -(t * np.log(p / p.sum(1, keepdims=True))).sum(1).mean(),
       fixed((4, 3), (4, 3)), (unit_interval, probs), targets=(1,)),
    Op("categorical_crossentropy_labels",
       lambda p: F.categorical_crossentropy(p, mg.tensor(LABELS[:4], device=p.device)),
       lambda p: -np.log(p / p.sum(1, keepdims=True))[np.arange(4), LABELS[:4]].mean(),
       fixed((4, 3)), (unit_interval,)),
    # convolution and pooling
    Op("conv2d", lambda x, W, b: F.conv2d(x, W, b, stride=1, padding=1),
       lambda x, W, b: _conv_ref(x, W, b, 1, 1), fixed((2, 3, 5, 5), (4, 3, 3, 3), (4,)),
       gradgrad=False),
    Op("conv2d_many_channels", lambda x, W, b: F.conv2d(x, W, b, padding=1),
       lambda x, W, b: _conv_ref(x, W, b, 1, 1), fixed((2, 9, 4, 4), (3, 9, 3, 3), (3,)),
       gradgrad=False),
    Op("conv2d_stride2", lambda x, W, b: F.conv2d(x, W, b, stride=2),
       lambda x, W, b: _conv_ref(x, W, b, 2, 0), fixed((2, 2, 7, 6), (3, 2, 3, 2), (3,)),
       extra={"ref_note": "kernel 3x2"}, gradgrad=False),
    Op("conv2d_nhwc_same_relu",
       lambda x, W, b: F.conv2d(x, W, b, stride=2, padding="same", layout="NHWC",
                                activation="relu"),
       lambda x, W, b: np.maximum(_conv_ref(x.transpose(0, 3, 1, 2), W.transpose(3, 2, 0, 1),
                                            b, 2, 1), 0).transpose(0, 2, 3, 1),
       fixed((2, 5, 5, 3), (3, 3, 3, 4), (4,)), gradgrad=False),
    # convolution + max pooling in one op (columns in pooling blocks, odd edges dropped)
    Op("conv2d_max_pool_relu",
       lambda x, W, b: F.conv2d(x, W, b, padding=1, activation="relu", max_pool=2),
       lambda x, W, b: np.maximum(_pool_ref(_conv_ref(x, W, b, 1, 1), 2, 2, 0, np.max), 0),
       fixed((2, 3, 5, 6), (4, 3, 3, 3), (4,)), gradgrad=False),
    Op("conv2d_nhwc_max_pool3_many_channels",
       lambda x, W, b: F.conv2d(x, W, b, stride=1, layout="NHWC", max_pool=3),
       lambda x, W, b: _pool_ref(_conv_ref(x.transpose(0, 3, 1, 2), W.transpose(3, 2, 0, 1),
                                           b, 1, 0), 3, 3, 0, np.max).transpose(0, 2, 3, 1),
       fixed((2, 8, 9, 9), (2, 2, 9, 3), (3,)), gradgrad=False),
    Op("conv2d_stride2_same_max_pool",
       lambda x, W, b: F.conv2d(x, W, b, stride=2, padding=1, activation="relu", max_pool=2),
       lambda x, W, b: np.maximum(_pool_ref(_conv_ref(x, W, b, 2, 1), 2, 2, 0, np.max), 0),
       fixed((2, 2, 9, 10), (3, 2, 3, 3), (3,)), gradgrad=False),
    Op("max_pool2d_nhwc", lambda x: F.max_pool2d(x, 2, layout="NHWC"),
       lambda x: _pool_ref(x.transpose(0, 3, 1, 2), 2, 2, 0, np.max).transpose(0, 2, 3, 1),
       fixed((2, 6, 5, 3)), (distinct,), gradgrad=False),
    Op("max_pool2d_relu", lambda x: F.max_pool2d(x, 2, activation="relu"),
       lambda x: np.maximum(_pool_ref(x, 2, 2, 0, np.max), 0), fixed((2, 3, 4, 6)), (distinct,),
       gradgrad=False),
    Op("max_pool2d_overlap_relu", lambda x: F.max_pool2d(x, 3, 2, 1, activation="relu"),
       lambda x: np.maximum(_pool_ref(x, 3, 2, 1, np.max), 0), fixed((1, 2, 5, 5)), (distinct,),
       gradgrad=False),
    Op("max_pool2d", lambda x: F.max_pool2d(x, 2), lambda x: _pool_ref(x, 2, 2, 0, np.max),
       fixed((2, 3, 5, 4)), (distinct,), gradgrad=False),
    Op("max_pool2d_overlap", lambda x: F.max_pool2d(x, 3, stride=2, padding=1),
       lambda x: _pool_ref(x, 3, 2, 1, np.max), fixed((2, 2, 5, 5)), (distinct,), gradgrad=False),
    Op("avg_pool2d", lambda x: F.avg_pool2d(x, 2, stride=1),
       lambda x: _pool_ref(x, 2, 1, 0, np.mean), fixed((2, 2, 4, 5)), gradgrad=False),
    # asymmetric pads, non-square kernels and strides, odd sizes with 'same'
    Op("conv2d_nhwc_same_even_kernel",
       lambda x, W, b: F.conv2d(x, W, b, padding="same", layout="NHWC"),
       nchw(lambda x, W, b: _conv_ref(x, W, b, 1, (_same(7, 2, 1), _same(6, 4, 1)))),
       fixed((2, 7, 6, 2), (2, 4, 2, 3), (3,)), gradgrad=False),
    Op("conv2d_stride21_pad10", lambda x, W, b: F.conv2d(x, W, b, stride=(2, 1),
                                                         padding=(1, 0)),
       lambda x, W, b: _conv_ref(x, W, b, (2, 1), (1, 0)),
       fixed((2, 2, 7, 5), (3, 2, 3, 2), (3,)), gradgrad=False),
    Op("conv2d_nhwc_same_stride12_max_pool",
       lambda x, W, b: F.conv2d(x, W, b, stride=(1, 2), padding="same", layout="NHWC",
                                max_pool=2, activation="relu"),
       nchw(lambda x, W, b: np.maximum(_pool_ref(_conv_ref(
           x, W, b, (1, 2), (_same(7, 3, 1), _same(9, 2, 2))), 2, 2, 0, np.max), 0)),
       fixed((2, 7, 9, 2), (3, 2, 2, 3), (3,)), gradgrad=False),
    Op("max_pool2d_kernel23_stride12", lambda x: F.max_pool2d(x, (2, 3), (1, 2), (1, 1)),
       lambda x: _pool_ref(x, (2, 3), (1, 2), 1, np.max), fixed((2, 2, 5, 7)), (distinct,),
       gradgrad=False),
    Op("max_pool2d_nhwc_same_odd", lambda x: F.max_pool2d(x, 2, padding="same",
                                                          layout="NHWC"),
       nchw(lambda x: _pool_ref(x, 2, 2, ((0, 1), (0, 1)), np.max)), fixed((2, 5, 7, 3)),
       (distinct,), gradgrad=False),
    Op("max_pool2d_289_positions", lambda x: F.max_pool2d(x, 17, stride=1),
       lambda x: _pool_ref(x, 17, 1, 0, np.max), fixed((1, 2, 17, 18)), (distinct,),
       gradgrad=False, directional=True),
    Op("avg_pool2d_kernel32_stride21", lambda x: F.avg_pool2d(x, (3, 2), (2, 1)),
       lambda x: _pool_ref(x, (3, 2), (2, 1), 0, np.mean), fixed((2, 2, 7, 5)), gradgrad=False),
    Op("avg_pool2d_pad_counts_zeros", lambda x: F.avg_pool2d(x, 3, 2, 1),
       lambda x: _pool_ref(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), 3, 2, 0, np.mean),
       fixed((2, 2, 5, 6)), gradgrad=False),
    Op("avg_pool2d_nhwc_same_real_inputs_only",
       lambda x: F.avg_pool2d(x, (2, 3), padding="same", layout="NHWC",
                              count_include_pad=False),
       nchw(lambda x: _pool_ref(x, (2, 3), (2, 3), (_same(5, 2, 2), _same(7, 3, 3)),
                                np.mean)), fixed((2, 5, 7, 3)), gradgrad=False),
    Op("conv2d_nhwc_drawn", lambda x, W, b: F.conv2d(x, W, b, layout="NHWC"),
       nchw(lambda x, W, b: _conv_ref(x, W, b, 1, 0)), conv_shapes(), gradgrad=False),
    Op("conv2d_nhwc_drawn_relu_max_pool",
       lambda x, W, b: F.conv2d(x, W, b, layout="NHWC", activation="relu", max_pool=2),
       nchw(lambda x, W, b: np.maximum(_pool_ref(_conv_ref(x, W, b, 1, 0), 2, 2, 0, np.max),
                                       0)), conv_shapes(), gradgrad=False),
    # the Transformer's ops
    Op("embedding", lambda W: F.embedding(mg.tensor(TOKENS, device=W.device), W),
       lambda W: W[TOKENS], fixed((5, 3))),
    Op("layer_norm", lambda x, w, b: F.layer_norm(x, w.shape, w, b), _layer_norm,
       layer_norm_shapes(), (spread_rows, real)),
    Op("layer_norm_two_axes_no_affine", lambda x: F.layer_norm(x, x.shape[-2:]),
       lambda x: _layer_norm(x, k=2), layer_norm_shapes(2).map(lambda s: s[:1]),
       (spread_rows,)),
    Op("layer_norm_bias_only", lambda x, b: F.layer_norm(x, b.shape, bias=b),
       lambda x, b: _layer_norm(x, b=b), layer_norm_shapes().map(lambda s: (s[0], s[2])),
       (spread_rows, real)),
    Op("attention", F.scaled_dot_product_attention, _attention, attention_shapes()),
    Op("attention_bool_mask_scale",
       lambda q, k, v: F.scaled_dot_product_attention(
           q, k, v, attn_mask=mg.tensor(ATTN_MASK, device=q.device), scale=0.7),
       lambda q, k, v: _attention(q, k, v, ATTN_MASK, 0.7),
       fixed((2, 3, 5), (2, 4, 5), (2, 4, 2))),
    Op("attention_causal", lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, is_causal=True), lambda q, k, v: _attention(
        q, k, v, np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))),
       st.tuples(testing.shapes(0, 2, 1, 3), st.integers(1, 4), st.integers(1, 4),
                 st.integers(1, 4)).map(lambda a: (a[0] + (a[1], a[2]),) * 2
                                        + (a[0] + (a[1], a[3]),))),
    # the weights times v, outside the op: the gradient through the weights output
    Op("attention_weights", lambda q, k, v: F.attention(q, k, v, is_causal=True)[1] @ v,
       lambda q, k, v: _attention(q, k, v, np.tril(np.ones((q.shape[-2], k.shape[-2]),
                                                           dtype=bool))),
       st.tuples(testing.shapes(0, 2, 1, 3), st.integers(1, 4), st.integers(1, 4),
                 st.integers(1, 4)).map(lambda a: (a[0] + (a[1], a[2]),) * 2
                                        + (a[0] + (a[1], a[3]),))),
    Op("attention_float_mask_with_grad", lambda q, k, v, m: F.scaled_dot_product_attention(
        q, k, v, attn_mask=m), lambda q, k, v, m: _attention(q, k, v, m),
       fixed((2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5))),
    Op("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), _gelu_tanh, shapes()),
    Op("cross_entropy_ignore_index", lambda x: F.cross_entropy(
        x, mg.tensor(IGNORED, device=x.device)),
       lambda x: -np.log(_softmax(x))[[0, 2, 4], IGNORED[[0, 2, 4]]].mean(), fixed((5, 3))),
    Op("cross_entropy_ignore_index_none", lambda x: F.cross_entropy(
        x, mg.tensor(IGNORED, device=x.device), reduction="none", ignore_index=-100),
       lambda x: np.where(IGNORED >= 0, -np.log(_softmax(x))[np.arange(5),
                                                             np.maximum(IGNORED, 0)], 0),
       fixed((5, 3))),
    Op("cross_entropy_unnormalised_soft_targets", lambda x, t: F.cross_entropy(x, t),
       lambda x, t: -(t * np.log(_softmax(x))).sum(1).mean(), fixed((5, 3), (5, 3)),
       (real, positive), targets=(1,)),
]

BY_NAME = {op.name: op for op in CATALOGUE}
