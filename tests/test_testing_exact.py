"""The testing kit's promises, checked at their edges: the ranges its strategies cover
(and reach), the exact grid of `distinct` arrays, where `avoid` moves values, and what
each option of `check_gradients` and `assert_matches` turns on or off."""
import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import testing
from test_testing import WrongSecondOrder


# Strategies are built inside the tests (data.draw), not in @given: then a test sees the
# kit as it is when it runs (mutation testing switches a mutant on only then).
@settings(max_examples=60)
@given(st.data())
def test_default_shapes_stay_in_their_ranges(data):
    shape = data.draw(testing.shapes())
    assert 0 <= len(shape) <= 3 and all(1 <= s <= 4 for s in shape)


def test_default_shapes_reach_their_ends():
    assert find(testing.shapes(), lambda s: len(s) == 0) == ()
    assert len(find(testing.shapes(), lambda s: len(s) == 3)) == 3
    assert 4 in find(testing.shapes(), lambda s: 4 in s)
    assert find(testing.shapes(min_dims=2, min_side=3), lambda s: True) == (3, 3)


@settings(max_examples=40)
@given(st.data())
def test_broadcastable_shapes_honour_their_arguments(data):
    shapes = data.draw(testing.broadcastable_shapes(num=3, max_dims=2, max_side=3))
    assert len(shapes) == 3 and all(isinstance(s, tuple) for s in shapes)
    assert all(len(s) <= 2 and all(d <= 3 for d in s) for s in shapes)
    np.broadcast_shapes(*shapes)


def test_default_pair_of_broadcastable_shapes():
    pair = find(testing.broadcastable_shapes(), lambda p: True)
    assert len(pair) == 2
    assert 4 in sum(find(testing.broadcastable_shapes(), lambda p: 4 in sum(p, ())), ())


@settings(max_examples=60)
@given(st.data())
def test_default_arrays_are_float64_in_minus_three_to_three(data):
    a = data.draw(testing.arrays((5,)))
    assert a.dtype == np.float64 and a.shape == (5,)
    assert np.all(np.abs(a) <= 3.0) and np.all(np.isfinite(a))


def test_arrays_reach_the_ends_of_their_range():
    assert find(testing.arrays((1,)), lambda a: a[0] <= -2.9)[0] >= -3.0
    assert find(testing.arrays((1,), low=0.0, high=1.0), lambda a: a[0] >= 0.9)[0] <= 1.0


@settings(max_examples=30)
@given(st.data())
def test_distinct_arrays_are_the_centred_grid(data):
    a = data.draw(testing.arrays(st.sampled_from([(4,), (2, 3), (7,)]), distinct=True,
                                 min_distance=0.1))
    gap = max(0.2, 6.0 / a.size)
    flat = np.sort(a.reshape(-1))
    np.testing.assert_allclose(flat, (np.arange(a.size) - a.size // 2 + 0.5) * gap,
                               rtol=1e-12)


@settings(max_examples=10)
@given(st.data())
def test_distinct_arrays_keep_twice_min_distance_apart(data):
    a = data.draw(testing.arrays((7,), distinct=True, min_distance=0.5))
    # 6 / 7 is below 2 * 0.5: the gap is twice the minimum distance
    np.testing.assert_allclose(np.sort(a), np.arange(-3, 4) + 0.5, rtol=1e-12)


def test_avoid_moves_values_exactly_min_distance_away():
    a = find(testing.arrays((1,), avoid=(1.0,), min_distance=0.25),
             lambda a: abs(a[0] - 1.0) <= 0.25 + 1e-12)
    assert a[0] in (0.75, 1.25)
    assert testing._keep_off(np.array([1.0, 0.9, 1.1, 2.0]), (1.0,), 0.25).tolist() == \
        [1.25, 0.75, 1.25, 2.0]


@settings(max_examples=5)
@given(st.data())
def test_tensors_pass_their_options_through(data):
    x = data.draw(testing.tensors((2,), requires_grad=False, device="strict", low=5.0,
                                  high=6.0))
    d = data.draw(testing.tensors())
    assert d.requires_grad and d.device == "cpu" and d.dtype == np.float64 and d.ndim <= 3
    assert not x.requires_grad and x.device == "strict" and x.dtype == np.float64
    assert x.shape == (2,)
    assert np.all((x.numpy() >= 5.0) & (x.numpy() <= 6.0))


class WrongFirstOrder(mg.Function):
    def forward(self, a):
        return a ** 2

    def backward(self, gy):
        return gy                                # forgets 2 x


def test_check_gradients_options():
    x = mg.tensor(np.array([0.5, 1.5]), dtype="float64", requires_grad=True)
    assert testing.check_gradients(lambda t: WrongSecondOrder().apply(t), [x],
                                   second_order=False)
    with pytest.raises(mg.GradcheckError) as e:
        testing.check_gradients(lambda t: WrongFirstOrder().apply(t), [x])
    assert str(e.value).startswith("first-order check: ")
    # tolerances reach the checks: loose enough, a 50% error in the gradient passes
    y = mg.tensor(np.array([1.0]), dtype="float64", requires_grad=True)
    assert testing.check_gradients(lambda t: WrongFirstOrder().apply(t), [y],
                                   second_order=False, atol=1.5, rtol=0.0)


def test_assert_matches_options():
    x = mg.tensor(np.linspace(-1, 1, 5), dtype="float64", requires_grad=True)
    c = mg.tensor(np.ones(5), dtype="float64")                  # needs no gradient
    near = lambda t, u: F.tanh(t) * (1 + 1e-5) + u * 0          # noqa: E731
    with pytest.raises(AssertionError, match="outputs differ"):
        testing.assert_matches(near, lambda t, u: F.tanh(t) + u * 0, [x, c])
    testing.assert_matches(near, lambda t, u: F.tanh(t) + u * 0, [x, c], rtol=1e-4)

    class BadGrad(mg.Function):
        def forward(self, a):
            return np.tanh(a)

        def backward(self, gy):
            return gy
    testing.assert_matches(lambda t: BadGrad().apply(t), F.tanh, [x], gradients=False)
    # an input the function does not use: zero gradients on both sides
    testing.assert_matches(lambda t, u: F.tanh(t), lambda t, u: F.tanh(t),
                           [x, mg.tensor(np.ones(2), dtype="float64", requires_grad=True)])


def test_second_order_tolerances_reach_gradgradcheck():
    x = mg.tensor(np.array([0.5, 1.5]), dtype="float64", requires_grad=True)
    with pytest.raises(mg.GradcheckError):
        testing.check_gradients(lambda t: WrongSecondOrder().apply(t), [x])
    # 3x^2 against 2x^2 on [0.5, 1.5]: an absolute error of at most 2.25
    assert testing.check_gradients(lambda t: WrongSecondOrder().apply(t), [x],
                                   atol=5.0, rtol=0.0)


def test_assert_matches_uses_atol_for_values_and_gradients():
    x = mg.tensor(np.array([0.0, 1.0]), dtype="float64", requires_grad=True)
    tiny = 1e-12
    # values: 1e-12 apart around 0, within the default atol (1e-9), not within rtol alone
    testing.assert_matches(lambda t: t * 0 + tiny, lambda t: t * 0, [x])
    with pytest.raises(AssertionError, match="outputs differ"):
        testing.assert_matches(lambda t: t * 0 + tiny, lambda t: t * 0, [x], atol=0.0)
    # gradients: the same values, a gradient of 1e-12 against 0

    class TinyGrad(mg.Function):
        def forward(self, a):
            return a * 0

        def backward(self, gy):
            return gy * tiny
    testing.assert_matches(lambda t: TinyGrad().apply(t), lambda t: t * 0, [x])
    with pytest.raises(AssertionError, match="gradients of input 0 differ"):
        testing.assert_matches(lambda t: TinyGrad().apply(t), lambda t: t * 0, [x],
                               atol=0.0)


def test_more_defaults_of_the_strategies():
    assert 1 in find(testing.shapes(), lambda s: 1 in s)                 # sides from 1
    # within 0.5 of an avoided point, but never within the default 0.01
    v = find(testing.arrays((1,), avoid=(0.0,)), lambda a: abs(a[0]) < 0.5)[0]
    assert 0.01 <= abs(v) < 0.5


@settings(max_examples=40)
@given(st.data())
def test_default_broadcastable_shapes_and_distinct_shapes(data):
    pair = data.draw(testing.broadcastable_shapes())
    assert all(len(s) <= 3 and all(d <= 4 for d in s) for s in pair)
    shape = data.draw(st.sampled_from([(2, 3), (3, 1, 2)]))
    assert data.draw(testing.arrays(shape, distinct=True)).shape == shape


@pytest.mark.parametrize("device,dtype", [("strict", "float64"), ("cpu", "float32")])
def test_assert_matches_on_other_devices_and_dtypes(device, dtype):
    x = mg.tensor(np.linspace(-1, 1, 4), dtype=dtype, device=device, requires_grad=True)
    testing.assert_matches(F.tanh, lambda t: (mg.exp(2 * t) - 1) / (mg.exp(2 * t) + 1), [x],
                           rtol=1e-5, atol=1e-6)
