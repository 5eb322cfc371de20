"""The CPU kernels compiled with Numba (minigrad.kernels.cpu.compiled) against the generic
NumPy versions they replace: every kernel, float32 and float64, drawn shapes, strided and
non-finite inputs, the arrays updated in place; the switch that turns them off; and one
GPT training step with and without them."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import kernels
from minigrad.kernels import elementwise

pytest.importorskip("numba")
from minigrad.kernels.cpu import compiled  # noqa: E402

K, C = 0.7978845608028654, 0.044715
COMPILED = compiled.elementwise_kernels()
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def arguments(name, rows, cols, dtype, rng):
    """Arguments for kernel ``name`` on (rows, cols) arrays: the shapes its callers give."""
    def a(*shape):
        return rng.standard_normal(shape or (rows, cols)).astype(dtype)
    return {"relu_grad": lambda: (a(), a()),
            "adam_step": lambda: (a(), a(), a(), np.abs(a()), 0.8, 0.99, 2e-3, 1.5, 1e-6),
            "gelu_tanh": lambda: (3 * a(), K, C),
            "gelu_tanh_grad": lambda: (a(), 3 * a(), np.tanh(a()), K, C),
            "layer_norm": lambda: (2 * a() + 1, 1e-5),
            "layer_norm_grad": lambda: (a(), a(), np.abs(a(rows, 1)) + 0.2),
            "softmax_rows": lambda: (4 * a(),),
            "softmax_rows_grad": lambda: (a(), np.abs(a()) / 7),
            "sum_rows": lambda: (a(),),
            "layer_norm_affine": lambda: (2 * a() + 1, a(cols), a(cols), 1e-5),
            "layer_norm_affine_grad": lambda: (a(), a(), np.abs(a(rows, 1)) + 0.2, a(cols)),
            "scatter_rows": lambda: (a(), rng.integers(-rows, rows, 2 * rows + 3),
                                     a(2 * rows + 3, cols))}[name]()


def results(value):
    return list(value) if isinstance(value, tuple) else [] if value is None else [value]


def _run(kernel, args, dtype=None):
    """``kernel`` on copies of ``args`` (cast to ``dtype`` when given): (its results, the
    arguments afterwards: Adam and the row scatter update theirs in place)."""
    copies = [v.astype(dtype or v.dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
              else np.copy(v) if isinstance(v, np.ndarray) else v for v in args]
    return results(kernel(*copies)), copies


def assert_kernel_matches(name, args, dtype):
    """The compiled kernel and the generic version on copies of ``args``: every result and
    every array argument afterwards agree within the dtype's tolerance, or (float32, where
    NumPy's float32 sums round more than the kernels' float64 ones on ill-conditioned
    rows) the compiled value is no farther from the float64 computation than NumPy's."""
    got, mine = _run(COMPILED[name], args)
    want, theirs = _run(elementwise.GENERIC[name], args)
    assert len(got) == len(want)
    assert all(isinstance(r, np.ndarray) for r in got + want), name
    exact = _run(elementwise.GENERIC[name], args, np.float64) if dtype == np.float32 else None
    exact = exact[0] + exact[1] if exact else [None] * len(got + mine)
    for g, w, e in zip(got + mine, want + theirs, exact):
        if not isinstance(w, np.ndarray):
            continue
        assert g.dtype == w.dtype and g.shape == w.shape, name
        try:
            np.testing.assert_allclose(g, w, **TOL[dtype], err_msg=name)
        except AssertionError:
            if e is None:
                raise
            slack = TOL[dtype]["atol"] + TOL[dtype]["rtol"] * np.abs(e)
            assert (np.abs(g - e) <= np.abs(w - e) + slack).all(), name
    return got, mine


def test_the_table_names_every_generic_kernel():
    assert sorted(COMPILED) == sorted(elementwise.GENERIC)


def test_an_embedding_gradient_goes_through_the_row_scatter():
    """W[indices] (an embedding lookup) scatters its gradient with the scatter_rows
    kernel; repeated and negative indices add up as np.add.at's do."""
    W = mg.tensor(np.zeros((5, 3)), requires_grad=True)
    idx = np.array([[4, 0, 4], [-1, 2, 0]])
    gy = np.arange(18.0).reshape(2, 3, 3)
    W[idx].backward(mg.tensor(gy))
    want = np.zeros((5, 3))
    np.add.at(want, idx, gy)
    np.testing.assert_array_equal(W.grad.numpy(), want)
    assert (elementwise.fused("scatter_rows", W.grad.numpy()) is
            elementwise.FUSED["cpu"]["scatter_rows"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(COMPILED))
@settings(max_examples=15, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 70), seed=st.integers(0, 2**16))
def test_each_kernel_equals_its_generic_version(name, dtype, rows, cols, seed):
    args = arguments(name, rows, cols, dtype, np.random.default_rng(seed))
    assert_kernel_matches(name, args, dtype)


@pytest.mark.parametrize("name", sorted(COMPILED))
def test_strided_inputs_give_the_same_results(name):
    """Transposed and sliced views are read right (copied to rows when needed)."""
    rng = np.random.default_rng(1)
    args = arguments(name, 9, 14, np.float64, rng)
    if name == "adam_step":                      # p, m, v are updated in place: see below
        args = (args[0], args[1].T.copy().T, *args[2:])
    else:
        args = tuple(np.asfortranarray(v) if isinstance(v, np.ndarray) and v.ndim == 2
                     else v for v in args)
    assert_kernel_matches(name, args, np.float64)


def test_adam_updates_strided_parameters_in_place_too():
    """A parameter, moment or gradient that is not one contiguous block is still updated
    in place (by the generic version: a flat copy would be updated instead)."""
    rng = np.random.default_rng(2)
    base = [rng.standard_normal((6, 8)) for _ in range(4)]
    p, g, m, v = base[0][:, ::2], base[1][:, 1::2], base[2][:4, :6].T, np.abs(base[3])[:, :4]
    assert not (p.flags.c_contiguous or m.flags.c_contiguous or v.flags.c_contiguous)
    ref = [np.copy(a) for a in (p, g, m, v)]
    before = np.copy(base[0])
    elementwise.adam_step_generic(*ref, 0.9, 0.999, 1e-3, 1.001, 1e-8)
    COMPILED["adam_step"](p, g, m, v, 0.9, 0.999, 1e-3, 1.001, 1e-8)
    for mine, want in zip((p, m, v), (ref[0], ref[2], ref[3])):
        np.testing.assert_allclose(mine, want, rtol=1e-12)
    assert not np.allclose(p, before[:, ::2])
    np.testing.assert_array_equal(base[0][:, 1::2], before[:, 1::2])   # the gaps untouched


def test_a_float32_parameter_takes_a_float64_gradient():
    rng = np.random.default_rng(3)
    p, m, v = (rng.standard_normal(50).astype(np.float32) for _ in range(3))
    v = np.abs(v)
    g = rng.standard_normal(50)
    assert_kernel_matches("adam_step", (p, g, m, v, 0.9, 0.999, 1e-3, 1.001, 1e-7),
                          np.float32)


@pytest.mark.parametrize("name", ["relu_grad", "gelu_tanh", "gelu_tanh_grad", "layer_norm",
                                  "layer_norm_grad", "softmax_rows", "softmax_rows_grad"])
def test_nan_and_infinity_propagate_as_in_numpy(name):
    """No 'no NaN' assumption in the compiled code: NaN and +-inf in the inputs give what
    the generic version gives (masked scores of -inf included)."""
    rng = np.random.default_rng(4)
    args = list(arguments(name, 5, 6, np.float64, rng))
    first = args[0]
    first[0, 0], first[1, 2], first[2, :] = np.nan, np.inf, -np.inf
    first[3, 4] = -np.inf
    with np.errstate(all="ignore"):
        got = results(COMPILED[name](*args))
        want = results(elementwise.GENERIC[name](*args))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_allclose(np.nan_to_num(g), np.nan_to_num(w), rtol=1e-12)
    assert np.isnan(got[0]).any()


def test_layer_norm_of_a_constant_row_is_exactly_zero():
    x = np.full((3, 17), 0.1, np.float32)
    xhat, inv = COMPILED["layer_norm"](x, 1e-5)
    assert (xhat == 0).all() and np.isfinite(inv).all()


def test_empty_arrays_give_empty_results():
    for name in ("relu_grad", "gelu_tanh_grad", "softmax_rows", "layer_norm"):
        args = arguments(name, 0, 5, np.float32, np.random.default_rng(0))
        for g, w in zip(results(COMPILED[name](*args)),
                        results(elementwise.GENERIC[name](*args))):
            assert g.shape == w.shape


def test_the_cpu_uses_them_for_float32_and_float64_only():
    """float16 (mixed precision) and the strict backend take the generic versions,
    silently; inside reference_ops every backend does."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in (np.float32, np.float64):
            assert elementwise.fused("gelu_tanh", np.ones(3, dtype)) is \
                elementwise.FUSED["cpu"]["gelu_tanh"]
        assert elementwise.fused("gelu_tanh", np.ones(3, np.float16)) is \
            elementwise.gelu_tanh_generic
        with kernels.reference_ops():
            assert elementwise.fused("gelu_tanh", np.ones(3, np.float32)) is \
                elementwise.gelu_tanh_generic
    strict = mg.tensor([1.0], device="strict").data
    assert elementwise.fused("gelu_tanh", strict) is elementwise.gelu_tanh_generic


def test_the_switch_turns_them_off_and_on():
    x = np.ones(4, np.float32)
    try:
        assert kernels.set_compiled_kernels(False) is False
        assert not kernels.compiled_kernels_enabled()
        assert elementwise.fused("adam_step", x) is elementwise.adam_step_generic
        assert elementwise.FUSED["cpu"] == {}
    finally:
        assert kernels.set_compiled_kernels() is True            # on by default
    assert kernels.compiled_kernels_enabled()
    assert elementwise.fused("adam_step", x) is elementwise.FUSED["cpu"]["adam_step"]


def test_forgetting_a_backends_kernels_leaves_the_others(monkeypatch):
    """forget_kernels('cpu') drops the CPU's table, its dtypes and its self-checks only."""
    monkeypatch.setattr(elementwise, "_checked", {("cpu", "relu_grad", "<f4"): True,
                                                  ("strict", "relu_grad", "<f4"): False})
    monkeypatch.setattr(elementwise, "FUSED", {"cpu": {}, "strict": {}})
    monkeypatch.setattr(elementwise, "FUSED_DTYPES", {"cpu": compiled.DTYPES,
                                                      "strict": frozenset()})
    elementwise.forget_kernels("cpu")
    assert elementwise._checked == {("strict", "relu_grad", "<f4"): False}
    assert list(elementwise.FUSED) == ["strict"] and list(elementwise.FUSED_DTYPES) == ["strict"]


def test_fused_only_gives_a_backends_own_kernel_or_none():
    x = np.ones((2, 3), np.float32)
    assert elementwise.fused_only("layer_norm_affine", x) is \
        elementwise.FUSED["cpu"]["layer_norm_affine"]
    assert elementwise.fused_only("layer_norm_affine", x.astype(np.float16)) is None
    with kernels.reference_ops():
        assert elementwise.fused_only("layer_norm_affine", x) is None


def _spied(monkeypatch, names):
    """The CPU's compiled kernels ``names`` replaced by spies that record their calls."""
    calls = []
    table = dict(elementwise._fused_kernels(mg.backend.get_backend(np.ones(1))))
    for name in names:
        def spy(*args, _name=name, _kernel=table[name]):
            calls.append(_name)
            return _kernel(*args)
        table[name] = spy
    monkeypatch.setitem(elementwise.FUSED, "cpu", table)
    monkeypatch.setattr(elementwise, "_checked", {})
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_with_weight_and_bias_runs_the_one_pass_kernels(monkeypatch, dtype):
    """LayerNorm with weight and bias of the input's dtype asks for layer_norm_affine and
    its gradient (each once, and once more for its self-check); without the bias, or
    with frozen weights, the composed path runs: the same values either way."""
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((2, 3, 6)).astype(dtype)
    w0, b0 = rng.standard_normal(6).astype(dtype), rng.standard_normal(6).astype(dtype)
    calls = _spied(monkeypatch, ["layer_norm_affine", "layer_norm_affine_grad"])
    x, w, b = (mg.tensor(a, requires_grad=True) for a in (x0, w0, b0))
    y = F.layer_norm(x, (6,), w, b)
    y.backward(mg.tensor(np.cos(np.arange(36.0)).reshape(2, 3, 6).astype(dtype)))
    assert calls == ["layer_norm_affine"] * 2 + ["layer_norm_affine_grad"] * 2
    want = [a.numpy() for a in (y, x.grad, w.grad, b.grad)]
    del calls[:]
    with kernels.reference_ops():
        x, w, b = (mg.tensor(a, requires_grad=True) for a in (x0, w0, b0))
        y = F.layer_norm(x, (6,), w, b)
        y.backward(mg.tensor(np.cos(np.arange(36.0)).reshape(2, 3, 6).astype(dtype)))
    assert calls == []
    for got, ref in zip(want, [a.numpy() for a in (y, x.grad, w.grad, b.grad)]):
        np.testing.assert_allclose(got, ref, **TOL[dtype])
    frozen = mg.tensor(w0)                                     # no gradient wanted
    x = mg.tensor(x0, requires_grad=True)
    F.layer_norm(x, (6,), frozen, mg.tensor(b0, requires_grad=True)).sum().backward()
    assert calls == ["layer_norm_affine"]                      # the forward only
    F.layer_norm(x, (6,), mg.tensor(w0)).sum().backward()      # no bias: composed
    assert calls == ["layer_norm_affine"]


def test_an_embedding_gradient_asks_for_the_row_scatter(monkeypatch):
    calls = _spied(monkeypatch, ["scatter_rows"])
    W = mg.tensor(np.zeros((5, 3)), requires_grad=True)
    W[np.array([4, 0, 4])].sum().backward()
    assert calls == ["scatter_rows"] * 2                       # and its self-check
    np.testing.assert_array_equal(W.grad.numpy()[:, 0], [1, 0, 0, 0, 2])
    W.grad = None
    W[np.array([1, 1]), np.array([0, 2])].sum().backward()   # a tuple: elements, not rows
    W[np.array([True, False, True, False, False])].sum().backward()     # a mask
    assert calls == ["scatter_rows"] * 2


def _gpt_step(seed=0):
    """Loss, logits and every gradient of one float64 training step of a tiny GPT."""
    mg.manual_seed(seed)
    before = mg.get_default_dtype()
    mg.set_default_dtype("float64")
    try:
        model = mg.nn.GPT(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)
    finally:
        mg.set_default_dtype(before)
    idx = np.random.default_rng(seed).integers(0, 11, (3, 8))
    logits = model(idx)
    loss = model.loss(idx, np.roll(idx, -1, axis=1))
    loss.backward()
    assert logits.dtype == np.float64
    return [loss.numpy(), logits.numpy()] + [p.grad.numpy() for p in model.parameters()]


def test_a_gpt_step_with_them_equals_one_without():
    """GELU, layer normalisation, softmax and their gradients through the compiled kernels
    give the generic versions' loss, logits and gradients (float64)."""
    with_compiled = _gpt_step()
    kernels.set_compiled_kernels(False)
    try:
        without = _gpt_step()
    finally:
        kernels.set_compiled_kernels(True)
    assert len(with_compiled) > 10
    for a, b in zip(with_compiled, without):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_the_environment_variable_turns_them_off_and_import_loads_no_numba():
    code = ("import sys, minigrad as mg\n"
            "assert 'numba' not in sys.modules\n"
            "print(mg.kernels.compiled_kernels_enabled())")
    for value, expected in (("0", "False"), ("1", "True")):
        env = dict(os.environ, MINIGRAD_COMPILED_KERNELS=value)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
        assert out.stdout.strip() == expected


def test_without_a_folder_for_the_machine_code_they_compile_each_run(monkeypatch):
    """Numba refuses cache=True when it finds no writable folder (an installed package on
    a read-only disk): the kernels are then compiled without a cache, not dropped."""
    import numba
    real = numba.njit
    refused = []

    def njit(*args, **kwargs):
        if kwargs.get("cache"):
            refused.append(1)
            raise RuntimeError("cannot cache function: no locator available")
        return real(*args, **kwargs)
    monkeypatch.setattr(numba, "njit", njit)
    monkeypatch.setattr(compiled, "_LOOPS", {})          # the session's loops come back after
    table = compiled.elementwise_kernels()
    assert refused and sorted(table) == sorted(COMPILED)
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    np.testing.assert_allclose(table["softmax_rows"](x), elementwise.softmax_rows_generic(x))


def test_a_numba_that_does_not_import_leaves_numpys_kernels(monkeypatch):
    """Installed but broken (built for another NumPy): one warning naming the error, and
    the generic kernels serve the CPU."""
    import importlib
    real = importlib.import_module

    def import_module(name, *args):
        if name == "numba":
            raise ImportError("Numba needs NumPy 2.3 or less")
        return real(name, *args)
    monkeypatch.setattr(importlib, "import_module", import_module)
    monkeypatch.setattr(compiled, "_IMPORTED", {})
    try:
        with pytest.warns(UserWarning, match=r"^Numba is installed but does not import "
                                             r"\(Numba needs NumPy 2.3 or less\); minigrad "
                                             r"uses NumPy's generic kernels on the CPU$"):
            assert kernels.set_compiled_kernels(True) is False
        assert elementwise.fused("adam_step", np.ones(3, np.float32)) is \
            elementwise.adam_step_generic
        with warnings.catch_warnings():
            warnings.simplefilter("error")                   # said once
            assert not kernels.compiled_kernels_enabled()
    finally:
        monkeypatch.setattr(compiled, "_IMPORTED", {})
        monkeypatch.undo()
        kernels.set_compiled_kernels(True)


def test_layer_norm_with_a_bias_of_another_dtype_takes_the_composed_path(monkeypatch):
    """Weight and input float64, bias float32: no one-pass kernel (it takes one dtype); the
    bias is added, promoted as NumPy does."""
    calls = _spied(monkeypatch, ["layer_norm_affine"])
    x0 = np.array([[1.0, 2.0, 4.0], [0.5, -1.0, 3.0]])
    w0, b0 = np.array([1.0, 2.0, 0.5]), np.array([0.25, -1.0, 2.0], np.float32)
    y = F.layer_norm(mg.tensor(x0), (3,), mg.tensor(w0), mg.tensor(b0))
    xhat = (x0 - x0.mean(1, keepdims=True)) / np.sqrt(x0.var(1, keepdims=True) + 1e-5)
    assert calls == [] and y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), xhat * w0 + b0, rtol=1e-12)


@pytest.mark.parametrize("x_learns", [True, False])
def test_layer_norm_over_two_axes_with_weight_and_bias(x_learns):
    """Normalised over the last two axes, weight and bias (3, 4): the one-pass kernels
    (all three gradients) or, when the input needs none, the composed backward; the
    gradients keep the weight's shape and equal the reference ops'."""
    rng = np.random.default_rng(6)
    x0, w0, b0 = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4)), \
        rng.standard_normal((3, 4))
    gy = rng.standard_normal((2, 3, 4))
    out = []
    for reference in (False, True):
        x = mg.tensor(x0, requires_grad=x_learns)
        w, b = mg.tensor(w0, requires_grad=True), mg.tensor(b0, requires_grad=True)
        with kernels.reference_ops(reference):
            y = F.layer_norm(x, (3, 4), w, b)
            y.backward(mg.tensor(gy))
        out.append([y.numpy(), w.grad.numpy(), b.grad.numpy()]
                   + ([x.grad.numpy()] if x_learns else []))
    assert out[0][1].shape == (3, 4) and out[0][2].shape == (3, 4)
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
