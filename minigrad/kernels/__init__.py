"""Fast paths: tuned and fused versions of reference ops, chosen here and only here.

Every op of :mod:`minigrad.functional` has one readable reference Function. Where a
faster computation of the same values and gradients exists, the functional op asks this
module for it; the answer depends on the op's arguments and on whether fast paths are on
(:func:`reference_ops` turns them off, as ``Sequential(fuse=False)`` does). Each kernel is
tested against its reference by the op catalogue (``tests/test_ops.py``).

=======================  ==========================  ===================================
reference                fast kernel                 when
=======================  ==========================  ===================================
Conv2d (+ ReLU)          cpu.conv.Conv2dGemm         always: columns as contiguous
                                                     planes for few channels, input
                                                     gradient in an (H, W, N, C) buffer,
                                                     ReLU in place
Conv2d (+ ReLU)          cpu.conv.Conv2dMaxPool      ``conv2d(..., max_pool=p)``: columns
+ MaxPool2d(p, p)                                    in pooling blocks, the dropped edge
                                                     never computed, cache-sized chunks
MaxPool2d (+ ReLU)       cpu.pool.MaxPool2dStrided   stride == window, no padding:
                                                     strided views, a byte per output
MatMul, Mul, Add,        attention.Attention         no dropout on the weights: scale
Softmax, MatMul                                      and mask in place, softmax by the
(attention)                                          row kernels, one graph node
=======================  ==========================  ===================================

The elementwise and row hot paths (the ReLU gradient, the Adam step, GELU and its
gradient, the sum over rows of bias gradients, layer normalisation and softmax of rows
and their gradients) go through :func:`minigrad.kernels.elementwise.fused`: a generic
version on every backend; on CUDA one kernel launch per pass (:mod:`minigrad.kernels.cuda`);
on the CPU, when Numba is installed, loops compiled to machine code
(:mod:`minigrad.kernels.cpu.compiled`, turned off by :func:`set_compiled_kernels`). Each
is checked against the generic version on first use; inside :class:`reference_ops` the
generic versions run.
"""
from __future__ import annotations

from . import elementwise
from .attention import Attention
from .cpu import compiled
from .cpu.conv import Conv2dGemm, Conv2dMaxPool
from .cpu.pool import MaxPool2dStrided
from .switches import _fast, compiled_kernels_wanted, fast_paths_enabled, \
    set_compiled_kernels_wanted

__all__ = ["reference_ops", "fast_paths_enabled", "set_compiled_kernels",
           "compiled_kernels_enabled", "conv2d", "max_pool2d", "attention"]


class reference_ops:
    """Context manager (and decorator) that runs the reference ops instead of the fast
    kernels: the code a learner reads in :mod:`minigrad.functional` is then the code that
    runs. Thread- and task-local.

    Example:
        >>> with mg.kernels.reference_ops():
        ...     y = F.conv2d(x, W, layout="NHWC", activation="relu", max_pool=2)
        ...     y.sum().backward()       # MaxPool2d.backward, ReLU.backward, Conv2d.backward
    """

    def __init__(self, enabled: bool = True):
        self.enabled = bool(enabled)
        self._tokens = []

    def __enter__(self):
        self._tokens.append(_fast.set(not self.enabled))
        return self

    def __exit__(self, *exc):
        _fast.reset(self._tokens.pop())
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with reference_ops(self.enabled):
                return fn(*args, **kwargs)
        return wrapper


def set_compiled_kernels(enabled: bool = True) -> bool:
    """Use the CPU kernels compiled with Numba (:mod:`minigrad.kernels.cpu.compiled`) for
    the elementwise and row hot paths, or NumPy's generic versions (``False``). On by
    default when Numba is installed (``pip install minigrad[fast]``); the environment
    variable ``MINIGRAD_COMPILED_KERNELS=0`` turns them off from the start. Returns whether
    they will be used (False without Numba). Results agree up to rounding either way."""
    set_compiled_kernels_wanted(enabled)
    elementwise.forget_kernels("cpu")
    return compiled_kernels_enabled()


def compiled_kernels_enabled() -> bool:
    """Whether the CPU hot paths use the compiled kernels: wanted and Numba installed."""
    return compiled_kernels_wanted() and compiled.available()


def conv2d(stride, pads, relu: bool, max_pool):
    """The fast Function for ``conv2d`` (NHWC, HWIO kernel) with these options, or None
    to run the reference ops (Conv2d, then MaxPool2d and ReLU)."""
    if not _fast.get():
        return None
    if max_pool is None:
        return Conv2dGemm(stride, pads, relu)
    return Conv2dMaxPool(stride, pads, max_pool, relu)


def max_pool2d(k, s, pads, relu: bool):
    """The fast Function for ``max_pool2d`` (NHWC) with these options, or None."""
    if not _fast.get():
        return None
    if k == s and pads == ((0, 0), (0, 0)):
        return MaxPool2dStrided(k, relu)
    return None


def attention(scale: float, mask, dropout: bool):
    """The fast Function for ``attention`` (the result and the weights as one op, the
    scale and an additive ``mask`` array applied in place), or None to run the reference
    ops: inside :class:`reference_ops`, or when dropout applies to the weights."""
    if not _fast.get() or dropout:
        return None
    return Attention(scale, mask)
