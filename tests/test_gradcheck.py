"""The gradient checkers themselves: each must catch the kind of wrong formula it exists for."""
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad.tensor import Tensor


class Tanh(mg.Function):
    """tanh with a choice of (possibly wrong) formulas for the two backward paths."""

    def __init__(self, plain="right", graph="right"):
        self.plain, self.graph = plain, graph

    def forward(self, x):
        self.y = np.tanh(x)
        return self.y

    def backward(self, gy):
        d = 1 - self.y ** 2 if self.plain == "right" else 1 + self.y ** 2
        return gy * d

    def backward_graph(self, gy):
        if self.graph == "constant":          # right value, but cut from the graph
            return gy * Tensor(1 - self.y ** 2)
        y = mg.tanh(self.inputs[0])
        return gy * (1 - y * y) if self.graph == "right" else gy * (1 + y * y)


def x64(*shape):
    return mg.tensor(np.random.default_rng(3).standard_normal(shape), dtype="float64",
                     requires_grad=True)


def test_right_formulas_pass_both_checks():
    f = lambda t: Tanh().apply(t)          # noqa: E731
    assert mg.gradcheck(f, [x64(4, 3)])
    assert mg.gradgradcheck(f, [x64(4, 3)])


def test_wrong_double_backprop_formula_is_caught_and_named():
    """backward right, backward_graph 1 + y^2: smooth, so it agrees with its own finite
    differences; only comparing the create_graph gradient with the numbers catches it."""
    f = lambda t: Tanh(graph="wrong").apply(t)      # noqa: E731
    assert mg.gradcheck(f, [x64(4, 3)])
    with pytest.raises(mg.GradcheckError, match=r"create_graph=True gradient.*"
                                                 r"\(backward_graph\) is wrong"):
        mg.gradgradcheck(f, [x64(4, 3)])
    assert mg.gradgradcheck(f, [x64(4, 3)], raise_exception=False) is False
    # and mg.grad with create_graph really is wrong with it: the check is not a false alarm
    x = x64(3)
    (g,) = mg.grad(f(x).sum(), x, create_graph=True)
    assert not np.allclose(g.numpy(), 1 - np.tanh(x.numpy()) ** 2)


def test_wrong_plain_backward_is_reported_as_such():
    f = lambda t: Tanh(plain="wrong", graph="wrong").apply(t)     # noqa: E731
    with pytest.raises(mg.GradcheckError, match="plain backward is wrong too"):
        mg.gradgradcheck(f, [x64(5)])
    with pytest.raises(mg.GradcheckError, match="gradient mismatch for input 0"):
        mg.gradcheck(f, [x64(5)])


def test_double_backprop_cut_from_the_graph_is_caught():
    """Right first derivative, but built from a constant: second derivatives are wrong."""
    f = lambda t: Tanh(graph="constant").apply(t)       # noqa: E731
    with pytest.raises(mg.GradcheckError, match="gradient mismatch"):
        mg.gradgradcheck(f, [x64(2, 3)])


def test_gradcheck_catches_a_backward_that_ignores_the_upstream_gradient():
    class Square(mg.Function):
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, gy):
            return 2 * self.x                # forgets gy: passes with an all-ones check

    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(lambda t: Square().apply(t), [x64(3, 2)])


def test_gradcheck_refuses_float32_inputs():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        mg.gradcheck(lambda t: t * t, [x])


def test_gradcheck_reports_a_wrong_gradient_shape():
    class Bad(mg.Function):
        def forward(self, x):
            return x.sum()

        def backward(self, gy):
            return np.ones(7)

    with pytest.raises(Exception):
        mg.gradcheck(lambda t: Bad().apply(t), [x64(3)])


class ScaledTanhGraph(Tanh):
    """backward_graph off by a factor (1 + err): a subtly wrong double-backprop formula."""

    def __init__(self, err):
        super().__init__()
        self.err = err

    def backward_graph(self, gy):
        y = mg.tanh(self.inputs[0])
        return gy * (1 - y * y) * (1 + self.err)


def test_default_tolerances_are_pytorchs_and_catch_small_errors():
    """rtol 1e-3: an error of 0.5% is caught, one of 1e-6 is not."""
    x = x64(6)
    with pytest.raises(mg.GradcheckError):
        mg.gradgradcheck(lambda t: ScaledTanhGraph(5e-3).apply(t), [x])
    assert mg.gradgradcheck(lambda t: ScaledTanhGraph(1e-6).apply(t), [x])

    class ScaledCube(mg.Function):
        def __init__(self, err):
            self.err = err

        def forward(self, a):
            self.a = a
            return a ** 3

        def backward(self, gy):
            return gy * 3 * self.a ** 2 * (1 + self.err)

    y = x64(50)
    with pytest.raises(mg.GradcheckError):
        mg.check_vjp(lambda t: ScaledCube(5e-3).apply(t), [y])
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(lambda t: ScaledCube(5e-3).apply(t), [x64(4)])
    assert mg.check_vjp(lambda t: ScaledCube(1e-7).apply(t), [y])


def test_checks_on_a_device_backend():
    x = mg.tensor(np.random.default_rng(0).standard_normal((3, 2)), dtype="float64",
                  device="strict", requires_grad=True)
    f = lambda t: mg.tanh(t) * t           # noqa: E731
    assert mg.gradcheck(f, [x]) and mg.gradgradcheck(f, [x]) and mg.check_vjp(f, [x])


def test_unused_inputs_and_constant_outputs_are_checked_not_errors():
    a, b = x64(3), x64(3)
    assert mg.gradgradcheck(lambda p, q: p * p, [a, b])
    assert mg.check_vjp(lambda p, q: p * p, [a, b])
    assert mg.gradgradcheck(lambda p: mg.tensor(np.ones(2)), [a])


def test_directional_check_uses_a_random_direction():
    """A backward that permutes the gradient keeps its sum: an all-ones direction would
    not see it."""
    class Permuted(mg.Function):
        def forward(self, a):
            self.a = a
            return a * a

        def backward(self, gy):
            return (2 * self.a * gy)[::-1].copy()

    with pytest.raises(mg.GradcheckError):
        mg.check_vjp(lambda t: Permuted().apply(t), [x64(20)])


def test_directional_check_with_large_values_and_its_report():
    big = lambda t: 1e4 * t * t             # noqa: E731
    assert mg.check_vjp(big, [x64(30)])

    class Wrong(mg.Function):
        def forward(self, a):
            return a * 2

        def backward(self, gy):
            return gy * 3

    assert mg.check_vjp(lambda t: Wrong().apply(t), [x64(5)], raise_exception=False) is False
    with pytest.raises(mg.GradcheckError) as info:
        mg.check_vjp(lambda t: Wrong().apply(t), [x64(5)])
    msg = str(info.value)
    a, n = [float(v) for v in re.findall(r"= (-?[\d.e+-]+) \(", msg)]
    err = float(re.search(r"abs err ([\d.e+-]+)", msg).group(1))
    assert a == pytest.approx(1.5 * n, rel=1e-6) and err == pytest.approx(abs(a - n), rel=1e-2)


class OffSecondOrder(Tanh):
    """Right value of the first derivative, second derivative off by ``err`` (the added
    ``err * (x - x.detach())`` is 0 but has derivative ``err``)."""

    def __init__(self, err):
        super().__init__()
        self.err = err

    def backward_graph(self, gy):
        x = self.inputs[0]
        y = mg.tanh(x)
        return gy * (1 - y * y) + gy * self.err * (x - x.detach())


def test_gradgradcheck_passes_its_tolerances_to_the_second_order_check():
    f = lambda t: OffSecondOrder(0.02).apply(t)      # noqa: E731
    x = x64(5)
    with pytest.raises(mg.GradcheckError, match="^gradient mismatch"):
        mg.gradgradcheck(f, [x])
    assert mg.gradgradcheck(f, [x], atol=0.1, rtol=0.0)          # absolute tolerance
    assert mg.gradgradcheck(f, [x], atol=0.0, rtol=1e6)          # relative tolerance
    assert not mg.gradgradcheck(f, [x], atol=1e-3, rtol=1e-3, raise_exception=False)


def test_gradgradcheck_reports_in_full():
    x = x64(4, 3)
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradgradcheck(lambda t: Tanh(graph="wrong").apply(t), [x])
    msg = str(info.value)
    assert msg.startswith("create_graph=True gradient mismatch for input 0 at index")
    assert msg.endswith(". The plain backward (create_graph=False) agrees with central "
                        "differences: the double-backprop formula (backward_graph) is wrong")
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradgradcheck(lambda t: Tanh(plain="wrong", graph="wrong").apply(t), [x])
    assert str(info.value).endswith(". The plain backward is wrong too (see gradcheck)")


def test_gradcheck_report_gives_both_values_and_their_errors():
    class Wrong(mg.Function):
        def forward(self, a):
            return a * 2

        def backward(self, gy):
            return gy * 3

    with pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(lambda t: Wrong().apply(t), [x64(5)])
    msg = str(info.value)
    m = re.search(r"^gradient mismatch for input 0 at index \((\d+),\): analytic (\S+) vs "
                  r"numeric (\S+) \(abs err (\S+), rel err (\S+); atol=1e-05, rtol=0.001\); "
                  r"(\d+) of 5 elements out of tolerance$", msg)
    assert m, msg
    a, n = float(m.group(2)), float(m.group(3))
    assert a == pytest.approx(1.5 * n, rel=1e-6)
    assert m.group(4) == f"{abs(a - n):.3g}" and m.group(5) == f"{abs(a - n) / abs(n):.3g}"


def test_gradgradcheck_passes_its_step_to_the_second_order_check():
    """At 0, x^4's first derivative has exact central differences at any step (an even
    function), but its gradient 4x^3 has a second-difference error of 4 eps^2: a step of
    0.1 must fail the second-order check, the default step pass it."""
    x = mg.tensor([0.0], dtype="float64", requires_grad=True)
    assert not mg.gradgradcheck(lambda x: x ** 4, [x], eps=0.1, raise_exception=False)
    assert mg.gradgradcheck(lambda x: x ** 4, [x], raise_exception=False)
