"""Sliding windows over NHWC images, shared by the convolution and pooling ops (reference
and fast): the windows as a strided view, their adjoint (col2im), padding and cropping."""
from __future__ import annotations

from .. import backend
from ..backend import get_array_module

__all__ = ["windows", "col2im", "pad_nhwc", "crop_nhwc"]


def windows(x, kh, kw, sh, sw):
    """Strided view (N, Ho, Wo, kh, kw, C) of the sliding windows of NHWC ``x``."""
    N, H, W, C = x.shape
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    sN, sH, sW, sC = x.strides
    return backend.as_strided(x, (N, Ho, Wo, kh, kw, C), (sN, sH * sh, sW * sw, sH, sW, sC))


def col2im(g6, shape, sh, sw):
    """Adjoint of :func:`windows`: add each window's gradient back to NHWC ``shape``."""
    xp = get_array_module(g6)
    N, Ho, Wo, kh, kw, C = g6.shape
    gx = xp.zeros(shape, dtype=g6.dtype)
    for i in range(kh):
        for j in range(kw):
            gx[:, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw, :] += g6[:, :, :, i, j, :]
    return gx


def pad_nhwc(x, pads, value=0.0):
    """``x`` padded by ((top, bottom), (left, right)) with ``value`` (itself when 0)."""
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    xp = get_array_module(x)
    return xp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), mode="constant",
                  constant_values=value)


def crop_nhwc(gx, pads, in_shape):
    """The gradient of :func:`pad_nhwc`: ``gx`` without the padded border (and without
    the rows and columns no window reached)."""
    (pt, _), (pl, _) = pads
    if gx.shape == in_shape:
        return gx
    return gx[:, pt:pt + in_shape[1], pl:pl + in_shape[2], :]
