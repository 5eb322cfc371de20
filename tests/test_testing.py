"""The public property-testing kit (minigrad.testing) does what its users rely on."""
import numpy as np
import pytest
from hypothesis import given, settings

import minigrad as mg
import minigrad.functional as F
from minigrad import testing


@given(testing.tensors(testing.shapes(max_dims=3), avoid=(0.0, 1.5), min_distance=0.05))
def test_tensors_are_float64_in_range_and_off_the_kinks(x):
    a = x.numpy()
    assert x.dtype == np.float64 and x.requires_grad
    assert np.all(np.abs(a) >= 0.05 - 1e-12) and np.all(np.abs(a - 1.5) >= 0.05 - 1e-12)
    assert np.all(np.abs(a) <= 3.05)


@given(testing.arrays(testing.shapes(min_dims=1, max_dims=2, max_side=6), distinct=True))
def test_distinct_arrays_have_no_ties(a):
    flat = np.sort(a.reshape(-1))
    assert np.all(np.diff(flat) >= 0.02 - 1e-12) and np.all(np.abs(a) > 0)


@given(testing.broadcastable_shapes())
def test_broadcastable_shapes_broadcast(pair):
    np.broadcast_shapes(*pair)


class WrongSecondOrder(mg.Function):
    """x^3 with a right first derivative and a wrong create_graph one."""

    def forward(self, a):
        self.a = a
        return a ** 3

    def backward(self, gy):
        return gy * 3 * self.a ** 2

    def backward_graph(self, gy):
        t = self.inputs[0]
        return gy * 2 * t * t                # 2 x^2: wrong


@settings(max_examples=5)
@given(testing.tensors(testing.shapes(max_dims=2), avoid=(0.0,)))
def test_check_gradients_passes_a_right_op_and_reports_a_wrong_one(x):
    assert testing.check_gradients(F.relu, [x])
    with pytest.raises(mg.GradcheckError, match="second-order check: create_graph"):
        testing.check_gradients(lambda t: WrongSecondOrder().apply(t), [x])


def test_assert_matches_compares_values_and_gradients():
    x = mg.tensor(np.linspace(-2, 2, 7), dtype="float64", requires_grad=True)
    testing.assert_matches(F.sigmoid, lambda t: 1 / (1 + mg.exp(-t)), [x])
    testing.assert_matches(F.tanh, np.tanh, [x])               # NumPy: values only

    class BadGrad(mg.Function):
        def forward(self, a):
            return np.tanh(a)

        def backward(self, gy):
            return gy                                         # forgets 1 - y^2
    with pytest.raises(AssertionError, match="gradients of input 0 differ"):
        testing.assert_matches(lambda t: BadGrad().apply(t), F.tanh, [x])
    with pytest.raises(AssertionError, match="outputs differ"):
        testing.assert_matches(F.sigmoid, np.tanh, [x])
