"""The pooling layers (Keras names): MaxPooling2D and AveragePooling2D over windows of
``pool_size``, in either data format."""
from __future__ import annotations

from .. import functional as F
from ..checks import int_pair, one_of
from .layers import Layer, _shape_mismatch

__all__ = ["MaxPooling2D", "AveragePooling2D"]


class _Pooling2D(Layer):
    _fn = None

    def __init__(self, pool_size=2, strides=None, padding: str = "valid",
                 data_format: str = "channels_last", input_shape=None, name=None):
        super().__init__(input_shape=input_shape, name=name)
        where = type(self).__name__
        self.pool_size = int_pair(pool_size, where, "pool_size")
        self.strides = self.pool_size if strides is None else int_pair(strides, where,
                                                                        "strides")
        one_of(padding, where, "padding", ("valid", "same"))
        one_of(data_format, where, "data_format", ("channels_last", "channels_first"))
        self.padding, self.data_format = padding, data_format

    def _check_input(self, shape):
        if len(shape) != 4:
            raise _shape_mismatch(self, (None, None, None, None), tuple(shape))

    @property
    def layout(self) -> str:
        return "NHWC" if self.data_format == "channels_last" else "NCHW"

    def call(self, x):
        return type(self)._fn(x, self.pool_size, self.strides, self.padding,
                              layout=self.layout)

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            H, W, C = input_shape
        else:
            C, H, W = input_shape
        (kh, kw), (sh, sw) = self.pool_size, self.strides
        if self.padding == "same":
            Ho, Wo = -(-H // sh), -(-W // sw)
        else:
            Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
        return (Ho, Wo, C) if self.data_format == "channels_last" else (C, Ho, Wo)

    def get_config(self):
        return {"name": self.name, "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """Max pooling over (pool_size) windows; strides default to pool_size."""
    _fn = staticmethod(F.max_pool2d)


class AveragePooling2D(_Pooling2D):
    """Average pooling over (pool_size) windows; strides default to pool_size. With
    ``padding='same'`` a window at the edge averages its real inputs only (Keras)."""

    @staticmethod
    def _fn(x, k, s, padding, layout):
        return F.avg_pool2d(x, k, s, padding, layout=layout, count_include_pad=False)
