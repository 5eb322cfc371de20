"""The shape messages of Dense, Conv2D and the pooling layers, exactly (written from
mutation-testing survivors: the expected shape, the channels-first/last hints)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def test_dense_names_the_expected_features():
    d = nn.Dense(2, input_shape=(5, 3), name="d")
    with pytest.raises(ValueError, match=r"^Input to layer 'd' \(Dense\) is incompatible: "
                                         r"expected shape \(None, 5, 3\), received shape "
                                         r"\(2, 5, 4\)$"):
        d(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"received shape \(3,\)$"):
        d._check_input((3,))


def test_conv_names_the_layout_and_hints_at_the_other():
    last = nn.Conv2D(2, 3, input_shape=(6, 6, 3), name="cl")
    with pytest.raises(ValueError, match=(
            r"^Input to layer 'cl' \(Conv2D\) is incompatible: expected shape \(None, None, "
            r"None, 3\), received shape \(1, 3, 6, 6\) \(the input looks channels-first "
            r"\(N, C, H, W\); this layer is channels_last: transpose the data to "
            r"\(N, H, W, C\) or build the layer with data_format='channels_first'\)$")):
        last(np.zeros((1, 3, 6, 6), np.float32))
    with pytest.raises(ValueError, match=r"expected shape \(None, None, None, 3\), received "
                                         r"shape \(1, 6, 6, 2\)$"):
        last(np.zeros((1, 6, 6, 2), np.float32))                 # no hint: neither fits
    with pytest.raises(ValueError, match=r"received shape \(6, 6, 3\)$"):
        last._check_input((6, 6, 3))
    first = nn.Conv2D(2, 3, input_shape=(3, 6, 6), data_format="channels_first", name="cf")
    with pytest.raises(ValueError, match=(
            r"^Input to layer 'cf' \(Conv2D\) is incompatible: expected shape \(None, 3, "
            r"None, None\), received shape \(1, 6, 6, 3\) \(the input looks channels-last "
            r"\(N, H, W, C\); this layer is channels_first\)$")):
        first(np.zeros((1, 6, 6, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected shape \(None, 3, None, None\), received "
                                         r"shape \(1,\)$"):
        first._check_input((1,))
    first._check_input((1, 3, 5, 5))
    last._check_input((1, 5, 5, 3))


@pytest.mark.parametrize("cls", [nn.MaxPooling2D, nn.AveragePooling2D])
def test_pooling_needs_images(cls):
    p = cls(2, name="p")
    with pytest.raises(ValueError, match=(
            rf"^Input to layer 'p' \({cls.__name__}\) is incompatible: expected shape "
            r"\(None, None, None, None\), received shape \(2, 4, 4\)$")):
        p(np.zeros((2, 4, 4), np.float32))
    assert p(np.zeros((2, 4, 4, 1), np.float32)).shape == (2, 2, 2, 1)
