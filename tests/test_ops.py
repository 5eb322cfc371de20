"""Forward, gradient and invariant tests generated from the op catalogue."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg

from catalogue import CATALOGUE

TOL = {np.float32: dict(rtol=1.3e-6, atol=1e-5), np.float64: dict(rtol=1e-7, atol=1e-7)}


def draw_arrays(op, shapes, seed):
    rng = np.random.default_rng(seed)
    return [op.domain(i)(rng.standard_normal(s)) for i, s in enumerate(shapes)]


def to_tensors(arrays, device, dtype, op=None):
    return [mg.tensor(a.astype(dtype), device=device,
                      requires_grad=op is None or i not in op.targets)
            for i, a in enumerate(arrays)]


ids = [op.name for op in CATALOGUE]


@pytest.mark.parametrize("op", CATALOGUE, ids=ids)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@given(data=st.data())
def test_forward_matches_numpy(op, dtype, device, data):
    shapes = data.draw(op.shapes, label="shapes")
    arrays = draw_arrays(op, shapes, data.draw(st.integers(0, 2**16), label="seed"))
    xs = to_tensors(arrays, device, dtype, op)
    y = op.fn(*xs)
    expected = op.ref(*[a.astype(dtype).astype(np.float64) for a in arrays])
    assert y.shape == np.shape(expected), (y.shape, np.shape(expected))
    assert y.dtype == dtype
    tol = TOL[dtype] if op.name not in ("gelu",) else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y.numpy(), expected, **tol)


@pytest.mark.parametrize("op", [o for o in CATALOGUE if o.grad], ids=[o.name for o in
                                                                      CATALOGUE if o.grad])
@given(data=st.data())
def test_gradient_float64(op, device, data):
    shapes = data.draw(op.shapes, label="shapes")
    arrays = draw_arrays(op, shapes, data.draw(st.integers(0, 2**16), label="seed"))
    xs = to_tensors(arrays, device, np.float64, op)
    check = mg.check_vjp if op.directional else mg.gradcheck
    assert check(op.fn, xs)


GG = [o for o in CATALOGUE if o.gradgrad]


@pytest.mark.parametrize("op", GG, ids=[o.name for o in GG])
@given(data=st.data())
def test_second_order_float64(op, data):
    shapes = data.draw(op.shapes, label="shapes")
    arrays = draw_arrays(op, shapes, data.draw(st.integers(0, 2**16), label="seed"))
    xs = to_tensors(arrays, "cpu", np.float64, op)
    assert mg.gradgradcheck(op.fn, xs)


@pytest.mark.parametrize("op", CATALOGUE, ids=ids)
@settings(max_examples=3)
@given(data=st.data())
def test_inputs_and_upstream_grad_not_mutated(op, device, data):
    arrays = draw_arrays(op, data.draw(op.shapes), 1)
    xs = to_tensors(arrays, device, np.float64, op)
    before = [x.numpy().copy() for x in xs]
    y = op.fn(*xs)
    gy = np.random.default_rng(2).standard_normal(y.shape)
    gy_t = mg.tensor(gy, device=device)
    gy_before = gy_t.numpy().copy()
    y.backward(gy_t)
    for x, b in zip(xs, before):
        np.testing.assert_array_equal(x.numpy(), b)
    np.testing.assert_array_equal(gy_t.numpy(), gy_before)


@pytest.mark.parametrize("op", CATALOGUE, ids=ids)
@settings(max_examples=3)
@given(data=st.data())
def test_no_aliased_grads(op, data):
    arrays = draw_arrays(op, data.draw(op.shapes), 3)
    xs = to_tensors(arrays, "cpu", np.float64, op)
    y = op.fn(*xs)
    gy = mg.tensor(np.ones(y.shape))
    y.backward(gy)
    grads = [x.grad.data for x in xs if x.grad is not None]
    for i, g in enumerate(grads):
        assert not np.shares_memory(g, gy.data)
        for x in xs:
            assert not np.shares_memory(g, x.data)
        for h in grads[i + 1:]:
            assert not np.shares_memory(g, h)


@pytest.mark.parametrize("op", CATALOGUE, ids=ids)
@settings(max_examples=2)
@given(data=st.data())
def test_no_grad_records_nothing(op, data):
    arrays = draw_arrays(op, data.draw(op.shapes), 4)
    xs = to_tensors(arrays, "cpu", np.float32, op)
    with mg.no_grad():
        y = op.fn(*xs)
    assert y.creator is None and not y.requires_grad


@pytest.mark.parametrize("op", CATALOGUE, ids=ids)
@settings(max_examples=2)
@given(data=st.data())
def test_grad_dtype_and_shape_match_input(op, data):
    arrays = draw_arrays(op, data.draw(op.shapes), 5)
    xs = to_tensors(arrays, "cpu", np.float32, op)
    y = op.fn(*xs)
    y.backward(mg.ones(y.shape))
    for x in xs:
        if x.grad is not None:
            assert x.grad.shape == x.shape and x.grad.dtype == np.float32


@pytest.fixture
def gradient_dtypes(monkeypatch):
    """A list that collects every gradient a Function's backward returns in another dtype
    than its input's. The engine casts only at the leaves, so such a gradient would pass
    test_grad_dtype_and_shape_match_input while every op below it computed in float64."""
    from minigrad import engine
    wrong = []
    real = engine._Mode.backward

    def checked(mode, f, gys):
        gxs = real(mode, f, gys)
        for i, (x, g, need) in enumerate(zip(f.inputs, gxs, f.needs_input_grad)):
            if need and g is not None and g.dtype != x.dtype:
                wrong.append(f"{type(f).__name__}, input {i}: {g.dtype} for {x.dtype}")
        return gxs

    monkeypatch.setattr(engine._Mode, "backward", checked)
    return wrong


@pytest.mark.parametrize("op, create_graph",
                         [(o, False) for o in CATALOGUE] + [(o, True) for o in GG],
                         ids=[f"plain-{o.name}" for o in CATALOGUE] +
                             [f"graph-{o.name}" for o in GG])
@settings(max_examples=2)
@given(data=st.data())
def test_every_backward_keeps_its_inputs_dtype(op, create_graph, gradient_dtypes, data):
    arrays = draw_arrays(op, data.draw(op.shapes), 6)
    xs = to_tensors(arrays, "cpu", np.float32, op)
    wrt = [x for x in xs if x.requires_grad]
    y = op.fn(*xs)
    mg.grad(y, wrt, grad_outputs=mg.ones(y.shape), create_graph=create_graph,
            allow_unused=True)
    assert not gradient_dtypes, gradient_dtypes


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.3, 1.0, 2.5, -0.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_leaky_relu_every_slope_exactly(slope, dtype):
    """LeakyReLU runs without a select for slopes in [0, 1] and above 1 (max / min of x and
    a x); values and derivatives must be exactly those of the select, NaN included."""
    import minigrad.functional as F
    a = np.array([-3.0, -1e-30, 0.0, 1e-30, 0.7, 5.0, np.nan], dtype=dtype)
    g = np.array([0.5, -2.0, 3.0, 1.5, -1.0, 2.0, 1.0], dtype=dtype)
    x = mg.tensor(a, requires_grad=True)
    y = F.leaky_relu(x, slope)
    y.backward(mg.tensor(g))
    s = np.array(slope, dtype=dtype)
    np.testing.assert_array_equal(y.numpy(), np.where(a > 0, a, a * s))
    np.testing.assert_array_equal(x.grad.numpy(), g * np.where(a > 0, 1, s).astype(dtype))
    assert y.dtype == x.grad.dtype == np.dtype(dtype)


@pytest.mark.parametrize("op", GG, ids=[o.name for o in GG])
@settings(max_examples=4)
@given(data=st.data())
def test_create_graph_gradient_equals_plain_gradient(op, device, data):
    """Each op's double-backprop formula (backward_graph) gives the same first derivative
    as its plain backward, on every backend; gradgradcheck then checks its derivatives."""
    arrays = draw_arrays(op, data.draw(op.shapes, label="shapes"),
                         data.draw(st.integers(0, 2**16), label="seed"))
    xs = to_tensors(arrays, device, np.float64, op)
    wrt = [x for x in xs if x.requires_grad]
    y = op.fn(*xs)
    gy = mg.tensor(np.random.default_rng(7).standard_normal(y.shape), device=device)
    plain = mg.grad(y, wrt, grad_outputs=gy, retain_graph=True, allow_unused=True)
    graph = mg.grad(y, wrt, grad_outputs=gy, create_graph=True, allow_unused=True)
    for i, (p, g) in enumerate(zip(plain, graph)):
        assert (p is None) == (g is None), i
        if p is not None:
            np.testing.assert_allclose(g.numpy(), p.numpy(), rtol=1e-12, atol=1e-12,
                                       err_msg=f"input {i}")


@pytest.mark.parametrize("op", CATALOGUE, ids=ids)
@settings(max_examples=4)
@given(data=st.data())
def test_fast_kernels_match_the_reference_ops(op, device, data):
    """Where a fast kernel runs (minigrad.kernels), the reference ops give the same values
    and gradients in float64: every row is computed both ways."""
    arrays = draw_arrays(op, data.draw(op.shapes, label="shapes"),
                         data.draw(st.integers(0, 2**16), label="seed"))
    results = []
    for reference in (False, True):
        xs = to_tensors(arrays, device, np.float64, op)
        with mg.kernels.reference_ops(reference):
            y = op.fn(*xs)
            gy = mg.tensor(np.random.default_rng(3).standard_normal(y.shape), device=device)
            y.backward(gy)
        results.append([y.numpy()] + [x.grad.numpy() for x in xs if x.grad is not None])
    assert len(results[0]) == len(results[1])           # the same gradients exist
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
