"""Engine invariants: accumulation, deep graphs, graph freeing, no_grad, leaks, errors."""
import gc
import os
import re
import sys
import weakref

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import backend, tuning


def test_fan_out_accumulates():
    a = mg.tensor(1.0, requires_grad=True)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0


def test_grad_accumulates_across_backward_calls():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])


def test_deep_chain_is_iterative_and_frees_cleanly():
    limit = sys.getrecursionlimit()
    x = mg.tensor(0.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1
    y.backward()
    assert x.grad.item() == 1.0
    assert y.item() == 100_000
    assert sys.getrecursionlimit() == limit


def test_deep_retained_graph_deallocates_without_crash():
    x = mg.tensor(0.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward(retain_graph=True)
    ref = weakref.ref(y)
    del y
    gc.collect()
    assert ref() is None


def test_second_backward_through_freed_graph_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])


def test_backward_needs_grad_for_non_scalar():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        (x * 2).backward(mg.ones(3))


def test_backward_on_tensor_without_graph_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor(1.0).backward()


def test_no_grad_context_and_decorator():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        y = x * 2
        with mg.enable_grad():
            z = x * 2
    assert y.creator is None and not y.requires_grad
    assert z.creator is not None

    @mg.no_grad()
    def f(t):
        return t * 2
    assert f(x).creator is None
    assert mg.is_grad_enabled()


def test_integer_and_bool_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating point"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating point"):
        mg.tensor([True], requires_grad=True)
    labels = mg.tensor([0, 1])
    assert labels.dtype == np.int64


def test_no_work_for_inputs_that_need_no_grad():
    data = mg.randn(4, 3)
    W = mg.randn(3, 2, requires_grad=True)
    y = (data @ W).sum()
    y.backward()
    assert data.grad is None and W.grad is not None


def test_retain_grad_on_intermediate():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])
    assert (x * 3).grad is None


class SplitHalves(mg.Function):
    """A user-defined Function with two outputs: the two halves of a vector."""

    def forward(self, x):
        n = x.shape[0] // 2
        return x[:n] * 1, x[n:] * 1

    def backward(self, g0, g1):
        return np.concatenate([g0, g1])


def test_function_with_several_outputs():
    x = mg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    a, b = SplitHalves().apply(x)
    a.retain_grad()
    ((a * a).sum() + (b * 3).sum() + a.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 5.0, 3.0, 3.0])
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 5.0])
    x.grad = None
    a, b = SplitHalves().apply(x)
    (b * b).sum().backward()                  # the unused output's gradient is zero
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 6.0, 8.0])
    (gb,) = mg.grad((SplitHalves().apply(x)[1] * 2).sum(), x)
    np.testing.assert_allclose(gb.numpy(), [0.0, 0.0, 2.0, 2.0])


def test_failed_backward_leaves_no_pending_gradient():
    class Fails(mg.Function):
        def forward(self, x):
            return x * 1

        def backward(self, gy):
            raise ValueError("boom")

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    y = (Fails().apply(h) + h).sum()
    with pytest.raises(ValueError, match="boom"):
        y.backward(retain_graph=True)
    assert h.creator._gy is None              # nothing stale for a later backward
    (h * 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_grad_function_does_not_touch_dot_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = mg.grad((x * x).sum(), x)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
    assert x.grad is None


def test_double_backprop_hessian_vector_product():
    x = mg.tensor([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    v = mg.tensor([1.0, 0.5, -1.0], dtype="float64")
    f = (x ** 3).sum()
    (g,) = mg.grad(f, x, create_graph=True)
    (hv,) = mg.grad((g * v).sum(), x)
    np.testing.assert_allclose(hv.numpy(), 6 * x.numpy() * v.numpy())


def test_newton_method_with_create_graph():
    # minimise f(x) = x^4 - 3x^2 + x from x = 2 using f' and f''
    x = mg.tensor(2.0, dtype="float64", requires_grad=True)
    for _ in range(20):
        f = x ** 4 - 3 * x ** 2 + x
        (g,) = mg.grad(f, x, create_graph=True)
        (h,) = mg.grad(g, x)
        x = mg.tensor(x.item() - g.item() / h.item(), dtype="float64", requires_grad=True)
    assert abs(4 * x.item() ** 3 - 6 * x.item() + 1) < 1e-10


def test_backward_create_graph_gives_differentiable_grad():
    x = mg.tensor(2.0, dtype="float64", requires_grad=True)
    y = x ** 3
    y.backward(create_graph=True)
    gx = x.grad
    assert gx.requires_grad
    x.grad = None
    gx.backward()
    assert x.grad.item() == pytest.approx(12.0)


def _live_tensors():
    """Tensors the collector knows of (by type: isinstance on a weak proxy whose object is
    gone, such as Numba keeps, raises ReferenceError)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if issubclass(type(o), mg.Tensor))


def test_no_leaked_tensors_after_del():
    base = _live_tensors()
    gc.disable()
    try:
        x = mg.randn(5, 4, requires_grad=True)
        W = mg.randn(4, 3, requires_grad=True)
        loss = F.cross_entropy(F.relu(x @ W), mg.tensor([0, 1, 2, 0, 1]))
        loss.backward()
        del x, W, loss
    finally:
        gc.enable()
    assert _live_tensors() == base


def test_graph_is_freed_without_gc():
    gc.disable()
    try:
        x = mg.randn(3, requires_grad=True)
        y = (x * 2).exp()
        ref = weakref.ref(y.creator)
        del y
        assert ref() is None     # no reference cycle: freed by refcounting alone
    finally:
        gc.enable()


def test_anomaly_mode_names_the_op():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    y = F.sqrt(x).sum()
    with pytest.raises(FloatingPointError, match="Sqrt"):
        with mg.detect_anomaly(), np.errstate(divide="ignore"):
            y.backward()


def test_matmul_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(1, 1024\) and \(128, 384\)"):
        mg.zeros(1, 1024) @ mg.zeros(128, 384)


def test_broadcast_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"Add: shapes \(2, 3\) and \(4,\) cannot be"):
        mg.zeros(2, 3) + mg.zeros(4)


def test_device_mismatch_is_a_clear_error():
    a = mg.ones(3)
    b = mg.ones(3, device="strict")
    with pytest.raises(RuntimeError, match="same device"):
        a + b


def test_cuda_request_without_gpu_says_why():
    if mg.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="CUDA is unavailable"):
        mg.zeros(2, device="cuda")
    assert mg.cuda.unavailable_reason()


def test_to_device_is_differentiable(device):
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(device) * 2
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    assert x.grad.device == "cpu"
    assert y.device == mg.device(device)


def test_default_dtype_and_float64_end_to_end():
    assert mg.tensor(1.5).dtype == np.float32
    mg.set_default_dtype("float64")
    assert mg.tensor(1.5).dtype == np.float64
    assert mg.randn(2).dtype == np.float64
    mg.set_default_dtype("float32")
    x = mg.tensor(np.ones(3), requires_grad=True)        # float64 array keeps its dtype
    (x * 2.0).sum().backward()
    assert x.grad.dtype == np.float64


def test_python_scalars_keep_dtype():
    x = mg.ones(3)
    assert (x * 2.5).dtype == np.float32
    assert (2 ** x).dtype == np.float32
    assert (x + np.float64(1)).dtype == np.float32
    assert (x + np.ones(3)).dtype == np.float32


def test_numpy_on_the_left_defers_to_tensor():
    x = mg.ones(3, requires_grad=True)
    y = np.ones(3) * x
    assert isinstance(y, mg.Tensor) and y.creator is not None


def test_setitem_on_graph_tensor_refused():
    x = mg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 5.0
    with mg.no_grad():
        x[0] = 5.0
    assert x.numpy()[0] == 5.0


def test_tensor_api_surface():
    x = mg.arange(6, dtype="float32").reshape(2, 3)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.T.shape == (3, 2)
    assert x.argmax().item() == 5 and x.argmax(axis=1).tolist() == [2, 2]
    assert x.max(axis=0).tolist() == [3, 4, 5]
    assert (x > 2).dtype == bool
    assert x.detach().creator is None
    assert x.astype("float64").dtype == np.float64
    assert mg.zeros_like(x).shape == (2, 3) and mg.ones_like(x).sum().item() == 6
    assert mg.full((2,), 7).tolist() == [7, 7]
    assert mg.where(x > 2, x, 0.0).tolist() == [[0, 0, 0], [3, 4, 5]]
    assert mg.maximum(x, 2.0).tolist() == [[2, 2, 2], [3, 4, 5]]
    assert x.flatten().shape == (6,) and x.expand_dims(0).shape == (1, 2, 3)
    assert x.squeeze().shape == (2, 3) and x.broadcast_to((4, 2, 3)).shape == (4, 2, 3)
    assert mg.pad(x, 1).shape == (4, 5)
    assert x.clip(1, 3).tolist() == [[1, 1, 2], [3, 3, 3]]
    assert "tensor(" in repr(x)


def test_manual_seed_reproducible():
    mg.manual_seed(3)
    a = mg.randn(4).numpy()
    mg.manual_seed(3)
    b = mg.randn(4).numpy()
    mg.manual_seed(4)
    c = mg.randn(4).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def _first_draws(env_seed):
    import os
    import subprocess
    env = dict(os.environ, MINIGRAD_SEED=env_seed)
    code = "import minigrad as mg; print(mg.randn(3).numpy().tolist())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True)


def test_seed_from_environment():
    a, b, c = _first_draws("5"), _first_draws("5"), _first_draws("6")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout != c.stdout
    mg.manual_seed(5)
    assert a.stdout.strip() == str(mg.randn(3).numpy().tolist())
    bad = _first_draws("five")
    assert bad.returncode != 0 and "MINIGRAD_SEED must be an integer" in bad.stderr


def test_max_ties_split_evenly():
    x = mg.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5])


def test_relu_subgradient_at_zero_is_zero():
    x = mg.tensor([0.0], requires_grad=True)
    F.relu(x).sum().backward()
    assert x.grad.item() == 0.0


def test_max_pool_ties_first_maximum_takes_the_gradient():
    """As PyTorch's and TensorFlow's max pooling: of tied maxima, the first in the window
    (row by row) gets the whole gradient, on every pooling path."""
    x = mg.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)          # stride = window
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0], [0, 0]])
    x = mg.tensor([[[[0.0, 2.0, 2.0], [1.0, 2.0, 2.0]]]], requires_grad=True)
    F.max_pool2d(x, 2, stride=1).sum().backward()                     # overlapping windows
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0, 2, 0], [0, 0, 0]])
    x = mg.tensor(np.ones((1, 16, 16, 1)), requires_grad=True)        # 256 ties in a window
    F.max_pool2d(x, 16, layout="NHWC").sum().backward()
    expect = np.zeros((16, 16))
    expect[0, 0] = 1
    np.testing.assert_array_equal(x.grad.numpy()[0, :, :, 0], expect)
    x = mg.tensor(np.zeros((1, 4, 4, 1)), requires_grad=True)         # fused with a conv
    W = mg.tensor(np.ones((1, 1, 1, 2)), requires_grad=True)
    F.conv2d(x, W, layout="NHWC", max_pool=2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, :, :, 0],
                                  [[2, 0, 2, 0], [0, 0, 0, 0], [2, 0, 2, 0], [0, 0, 0, 0]])
    for p in (3, 17):                      # 9 and 289 positions per window (byte-sized
        x = mg.tensor(np.zeros((2, p, p, 1)), requires_grad=True)     # index or not)
        W = mg.tensor(np.ones((1, 1, 1, 3)), requires_grad=True)
        F.conv2d(x, W, layout="NHWC", max_pool=p).sum().backward()
        expect = np.zeros((p, p))
        expect[0, 0] = 3
        np.testing.assert_array_equal(x.grad.numpy()[1, :, :, 0], expect)


def test_max_pool_ties_match_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, (2, 3, 6, 7)).astype(np.float64)           # many ties
    g = rng.standard_normal((2, 3, 6, 7))
    for k, s, p in [(2, 2, 0), (3, 2, 1), (2, 1, 0)]:
        x = mg.tensor(a, requires_grad=True)
        y = F.max_pool2d(x, k, s, p)
        y.backward(mg.tensor(g[..., :y.shape[2], :y.shape[3]].copy()))
        t = torch.tensor(a, requires_grad=True)
        ty = torch.nn.functional.max_pool2d(t, k, s, p)
        ty.backward(torch.tensor(g[..., :ty.shape[2], :ty.shape[3]].copy()))
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), err_msg=str((k, s, p)))


@pytest.mark.parametrize("C,relu,bias,pool_only", [(1, True, True, False), (3, False, False, False),
                                                   (9, True, True, False), (4, False, False, True)])
def test_cache_sized_chunks_give_the_same_gradients(monkeypatch, C, relu, bias, pool_only):
    """Pooling runs over cache-sized chunks of samples on the CPU, forward and backward;
    with few input channels the convolution's product and kernel gradient too. One sample
    per chunk must give the output and gradients of one chunk for the whole batch, ties
    included."""
    rng = np.random.default_rng(C)
    a = rng.integers(-2, 3, (5, 9, 8, C)).astype(np.float64)          # ties, as MNIST's zeros
    w = rng.standard_normal((3, 3, C, 4))
    g = rng.standard_normal((5, 4, 4, C if pool_only else 4))

    def grads():
        x, W = mg.tensor(a, requires_grad=True), mg.tensor(w, requires_grad=True)
        b = mg.tensor(np.linspace(-1, 1, 4), requires_grad=True) if bias else None
        if pool_only:
            y = F.max_pool2d(x, 2, layout="NHWC", activation="relu" if relu else None)
        else:
            y = F.conv2d(x, W, b, layout="NHWC", activation="relu" if relu else None,
                         max_pool=2)
        y.backward(mg.tensor(g[:, :y.shape[1], :y.shape[2]].copy()))
        return [y.numpy()] + [t.grad.numpy() for t in (x, W, b)
                              if t is not None and t.grad is not None]

    sizes = []
    real = tuning.batch_chunks

    def recorded(*args):
        chunks = real(*args)
        sizes.append(len(chunks))
        return chunks

    monkeypatch.setattr(tuning, "batch_chunks", recorded)
    whole = grads()
    assert sizes == [1, 1]                               # forward and backward
    monkeypatch.setattr(tuning, "CPU_CHUNK_BYTES", 1)
    chunked = grads()
    assert sizes == [1, 1, 5, 5]
    assert len(whole) == len(chunked)
    for u, v in zip(whole, chunked):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


def test_pooling_keeps_no_index_without_a_backward():
    """The first-maximum index is only for the backward: under no_grad, or when nothing
    needs a gradient, the pooling ops keep none (and give the same output)."""
    from minigrad.functional import conv
    from minigrad.kernels.cpu import conv as fast_conv
    from minigrad.kernels.cpu import pool as fast_pool
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3))
    W = np.random.default_rng(1).standard_normal((3, 3, 3, 4))
    for make in (lambda: fast_pool.MaxPool2dStrided((2, 2)),
                 lambda: conv.MaxPool2d((3, 3), (2, 2), ((1, 1), (1, 1))),
                 lambda: conv.MaxPool2d((2, 2), (2, 2), ((0, 0), (0, 0))),
                 lambda: fast_conv.Conv2dMaxPool((1, 1), ((0, 0), (0, 0)), 2)):
        args = [mg.tensor(x, requires_grad=True)]
        if "Conv" in type(make()).__name__:
            args.append(mg.tensor(W, requires_grad=True))
        f = make()
        with mg.no_grad():
            y0 = f.apply(*args)
        assert getattr(f, "first", None) is None
        g = make()
        y1 = g.apply(*args)
        assert g.first is not None
        np.testing.assert_array_equal(y0.numpy(), y1.numpy())


def test_directional_check_on_large_arrays(device):
    x = mg.randn(4, 3, 16, 16, dtype="float64", device=device, requires_grad=True)
    W = mg.randn(8, 3, 3, 3, dtype="float64", device=device, requires_grad=True)
    assert mg.check_vjp(lambda x, W: F.max_pool2d(F.relu(F.conv2d(x, W, padding=1)), 2),
                        [x, W])


def test_directional_check_catches_a_wrong_backward():
    class CubeWrong(mg.Function):
        def forward(self, x):
            self.x = x
            return x ** 3

        def backward(self, gy):
            return gy * self.x ** 2          # missing the factor 3

    x = mg.randn(1000, dtype="float64", requires_grad=True)
    with pytest.raises(mg.GradcheckError, match="directional"):
        mg.check_vjp(lambda t: CubeWrong().apply(t), [x])
    with pytest.raises(mg.GradcheckError, match="input 0 at index"):
        mg.gradcheck(lambda t: CubeWrong().apply(t), [x[:5].detach().requires_grad_()])


def test_fused_kernels_are_self_checked(monkeypatch):
    """A backend's fused kernel is used only after it agrees with the generic one."""
    from minigrad.kernels import elementwise
    calls = []

    def good(gy, y):
        calls.append("good")
        return elementwise.relu_grad_generic(gy, y)

    def bad(gy, y):
        return gy                                # forgets the mask
    x = mg.tensor([-1.0, 2.0], device="strict", requires_grad=True)
    monkeypatch.setattr(elementwise, "_checked", {})
    monkeypatch.setitem(elementwise.FUSED, "strict", {"relu_grad": good})
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # a good kernel passes silently
        F.relu(x).sum().backward()
    assert calls and x.grad.numpy().tolist() == [0.0, 1.0]
    assert elementwise.fused("relu_grad", x.data) is good
    monkeypatch.setattr(elementwise, "_checked", {})
    monkeypatch.setitem(elementwise.FUSED, "strict", {"relu_grad": bad})
    x.grad = None
    with pytest.warns(UserWarning, match=r"^fused kernel relu_grad disagrees with the generic "
                                         r"one on strict; using the generic one$"):
        F.relu(x).sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 1.0]
    assert elementwise.fused("relu_grad", x.data) is elementwise.relu_grad_generic


def test_a_fused_kernel_that_fails_is_dropped_and_adam_is_checked_too(monkeypatch,
                                                                     generic_cpu_kernels):
    from minigrad.kernels import elementwise

    def broken(*args):
        raise RuntimeError("does not compile")
    calls = []

    def adam(*args):
        calls.append(1)
        elementwise.adam_step_generic(*args)
    x = mg.tensor([1.0, 2.0], device="strict")
    monkeypatch.setattr(elementwise, "_checked", {})
    monkeypatch.setitem(elementwise.FUSED, "strict", {"relu_grad": broken, "adam_step": adam})
    with pytest.warns(UserWarning, match=r"fused kernel relu_grad failed on strict \(does not "
                                         r"compile\); using the generic one"):
        assert elementwise.fused("relu_grad", x.data) is elementwise.relu_grad_generic
    assert elementwise.fused("adam_step", x.data) is adam and calls   # passed its check
    assert elementwise.fused("adam_step", mg.tensor([1.0]).data) is \
        elementwise.adam_step_generic       # without Numba's kernels the CPU has none
    assert elementwise.FUSED["cpu"] == {}


@pytest.mark.parametrize("error", [1e-3, 1e-2])
def test_an_adam_kernel_off_by_a_little_is_refused(monkeypatch, error):
    from minigrad.kernels import elementwise

    def sloppy(p, g, m, v, b1, b2, lr_c1, c2inv, eps):
        elementwise.adam_step_generic(p, g, m, v, b1, b2, lr_c1, c2inv, eps)
        p *= 1 + error
    x = mg.tensor([1.0, 2.0], device="strict")
    monkeypatch.setattr(elementwise, "_checked", {})
    monkeypatch.setitem(elementwise.FUSED, "strict", {"adam_step": sloppy})
    with pytest.warns(UserWarning, match="fused kernel adam_step disagrees"):
        assert elementwise.fused("adam_step", x.data) is elementwise.adam_step_generic


def test_the_cuda_kernels_are_built_from_the_cupy_module():
    """Their sources, built with a stand-in for CuPy (the kernels run only on a GPU)."""
    from minigrad.kernels.cuda import elementwise_kernels
    built = []

    class FakeCupy:
        ones = staticmethod(np.ones)

        @staticmethod
        def ElementwiseKernel(inputs, outputs, body, name):
            built.append((inputs, outputs, name))
            return lambda *a: ("launched", name, len(a))

        @staticmethod
        def ReductionKernel(inputs, outputs, map_expr, reduce_expr, post, identity, name):
            built.append((inputs, outputs, name))
            return lambda *a, **k: ("reduced", name, len(a), k)
    ks = elementwise_kernels(FakeCupy)
    assert [b[2] for b in built] == [
        "minigrad_relu_grad", "minigrad_adam_step", "minigrad_gelu_tanh",
        "minigrad_gelu_tanh_grad", "minigrad_centred_squares", "minigrad_inv_std",
        "minigrad_normalise", "minigrad_row_dot", "minigrad_layer_norm_grad",
        "minigrad_exp_sum", "minigrad_softmax", "minigrad_softmax_grad"]
    assert built[9][:2] == ("T x, T m", "T s")
    assert built[11][:2] == ("T gy, T y, T d", "T gx")
    assert built[4][:2] == ("T x, T mean", "T q")
    assert built[8][:2] == ("T g, T xhat, T inv, T gsum, T dsum, T n", "T gx")
    assert built[1][:2] == ("T g, T b1, T b2, T lr_c1, T c2inv, T eps", "T p, T m, T v")
    assert built[2][:2] == ("T x, T k, T c", "T y, T t")
    assert built[3][:2] == ("T gy, T x, T t, T k, T c", "T gx")
    assert ks["relu_grad"](1, 2) == ("launched", "minigrad_relu_grad", 2)
    assert ks["adam_step"](*range(9)) is None
    x = np.ones(3, np.float32)
    assert ks["gelu_tanh"](x, 0.5, 0.25) == ("launched", "minigrad_gelu_tanh", 3)
    assert ks["gelu_tanh_grad"](x, x, x, 0.5, 0.25) == \
        ("launched", "minigrad_gelu_tanh_grad", 5)
    assert sorted(ks) == ["adam_step", "gelu_tanh", "gelu_tanh_grad", "layer_norm",
                          "layer_norm_grad", "relu_grad", "softmax_rows",
                          "softmax_rows_grad", "sum_rows"]
    a = np.arange(12.0).reshape(4, 3)
    assert ks["sum_rows"](a).tolist() == [18.0, 22.0, 26.0]     # ones @ a


@pytest.mark.parametrize("name", ["gelu_tanh", "gelu_tanh_grad", "sum_rows"])
def test_each_new_kernel_is_used_when_right_and_refused_when_off(monkeypatch, name):
    """The self-check compares every result of a kernel (GELU gives two) with its generic
    version; one off by 1e-3 is refused with a warning, an exact one used silently."""
    from minigrad.kernels import elementwise
    generic = elementwise.GENERIC[name]

    def off(*args):
        out = generic(*args)
        last = out[-1] if isinstance(out, tuple) else out
        last *= 1.001                             # the last result (t for GELU) is off
        return out
    x = mg.tensor([1.0, 2.0], device="strict")
    import warnings
    for kernel, used in ((lambda *a: generic(*a), True), (off, False)):
        monkeypatch.setattr(elementwise, "_checked", {})
        monkeypatch.setitem(elementwise.FUSED, "strict", {name: kernel})
        if used:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert elementwise.fused(name, x.data) is kernel
        else:
            with pytest.warns(UserWarning, match=f"fused kernel {name} disagrees"):
                assert elementwise.fused(name, x.data) is generic


def test_gelu_and_bias_gradients_run_through_the_kernels(monkeypatch):
    """GELU's forward and backward, and the bias gradients of Dense, Conv2D and
    LayerNormalization, ask for their kernels (a fused one replaces the generic)."""
    from minigrad.kernels import elementwise
    asked = []

    def spy(name):
        def kernel(*args):
            asked.append(name)
            return elementwise.GENERIC[name](*args)
        return kernel
    monkeypatch.setattr(elementwise, "_checked", {})
    monkeypatch.setitem(elementwise.FUSED, "strict",
                        {n: spy(n) for n in ("gelu_tanh", "gelu_tanh_grad", "sum_rows")})
    x = mg.randn(2, 3, 4, device="strict", requires_grad=True)
    W = mg.randn(4, 5, device="strict", requires_grad=True)
    b = mg.randn(5, device="strict", requires_grad=True)
    F.gelu(F.linear(x, W, b), approximate="tanh").sum().backward()
    assert asked.count("gelu_tanh") == 2 and asked.count("gelu_tanh_grad") == 2  # + checks
    assert asked.count("sum_rows") == 2
    asked.clear()
    w, c = mg.ones(4, device="strict", requires_grad=True), mg.zeros(4, device="strict",
                                                                    requires_grad=True)
    F.layer_norm(x, (4,), w, c).sum().backward()
    assert asked == ["sum_rows", "sum_rows"]                 # the weight's and the bias's
    np.testing.assert_allclose(c.grad.numpy(), np.full(4, 6.0))


# --- from mutation testing: the engine's less travelled paths ----------------------------
def test_grad_mode_decorators_and_state():
    x = mg.tensor([1.0], requires_grad=True)

    @mg.enable_grad()
    def inner(t):
        return t * 2

    with mg.no_grad():
        assert mg.is_grad_enabled() is False
        assert inner(x).creator is not None       # enable_grad as a decorator
        assert mg.is_grad_enabled() is False
    assert mg.is_grad_enabled() is True

    @mg.set_grad_enabled(False)
    def off(t):
        return t * 2
    assert off(x).creator is None


class SplitHalvesXp(mg.Function):
    """SplitHalves with an xp concatenate (works on every backend) and double backprop."""

    def forward(self, x):
        n = x.shape[0] // 2
        return x[:n] * 1, x[n:] * 1

    def backward(self, g0, g1):
        return backend.get_array_module(g0).concatenate([g0, g1])

    def backward_graph(self, g0, g1):
        # Tensors both, the zeros of an unused output too: the graph goes through them
        assert isinstance(g0, mg.Tensor) and isinstance(g1, mg.Tensor)
        return mg.concatenate([g0, g1])


def test_unused_output_gets_zeros_on_every_backend(device):
    x = mg.tensor(np.array([1.0, 2.0, 3.0, 4.0], np.float32), device=device,
                  requires_grad=True)
    a, b = SplitHalvesXp().apply(x)
    (b * b).sum().backward()
    assert x.grad.dtype == np.float32 and type(x.grad.data) is type(x.data)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 6.0, 8.0])
    a, b = SplitHalvesXp().apply(x)
    (g,) = mg.grad((b * b).sum(), x, create_graph=True)     # zeros as a Tensor too
    assert g.requires_grad and g.dtype == np.float32
    np.testing.assert_allclose(g.numpy(), [0.0, 0.0, 6.0, 8.0])
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), [0.0, 0.0, 2.0, 2.0])


def test_anomaly_mode_checks_every_input_gradient_and_every_mode(device):
    class NanForSecond(mg.Function):
        def forward(self, a, b):
            return a * b

        def backward(self, gy):
            xp = backend.get_array_module(gy)
            return None, xp.full(gy.shape, xp.nan, dtype=gy.dtype)

        def backward_graph(self, gy):
            return None, gy * float("nan")

    a = mg.tensor([1.0, 2.0], device=device)                 # needs no gradient
    b = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    with mg.detect_anomaly():
        with pytest.raises(FloatingPointError, match="NanForSecond.*input 1"):
            NanForSecond().apply(a, b).sum().backward()
        with pytest.raises(FloatingPointError, match="NanForSecond"):
            mg.grad(NanForSecond().apply(a, b).sum(), b, create_graph=True)


def test_in_place_check_only_flags_assignments_after_the_forward(monkeypatch):
    from minigrad import autograd
    monkeypatch.setattr(autograd, "_inplace_epoch", [0])
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    other = mg.tensor([5.0])
    y = (x * x).sum()                          # recorded at epoch 0, x never assigned
    other[0] = 1.0                             # an unrelated assignment moves the epoch
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    with mg.no_grad():
        x[0] = 3.0                             # assigned at epoch 2
    y = (x * x).sum()                          # recorded at epoch 2: x is current
    other[0] = 2.0
    x.grad = None
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 4.0])
    y = (x * x).sum()
    with mg.no_grad():
        x[1] = 0.0
    with pytest.raises(RuntimeError) as info:
        y.backward()
    assert str(info.value).endswith(
        "was assigned to after the forward pass used it, so its saved values are stale. "
        "Assign before the forward pass, or compute a new tensor instead of assigning")


def test_create_graph_gradients_accumulate_in_the_leaf_dtype():
    x = mg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    w = mg.tensor(np.array([3.0, 4.0]))                      # float64 flows in
    y = (x * x * w).sum()
    y.backward(create_graph=True)
    y.backward(create_graph=True)                            # accumulates: 2 * 2 x w
    assert x.grad.dtype == np.float32 and x.grad.requires_grad
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 32.0])
    (h,) = mg.grad(x.grad.sum(), x)                          # d/dx of 4 x w
    np.testing.assert_allclose(h.numpy(), [12.0, 16.0])


class SplitUneven(mg.Function):
    """Two outputs of different shapes and dtypes: x[:1] and x[1:] as float64."""
    seen = []

    def forward(self, x):
        return x[:1] * 1, (x[1:] * 1).astype(np.float64)

    def backward(self, g0, g1):
        SplitUneven.seen.append((g0.shape, g0.dtype, g1.shape, g1.dtype))
        return np.concatenate([g0, g1.astype(g0.dtype)])


def test_missing_output_gradients_have_their_output_shape_and_dtype():
    x = mg.tensor(np.array([1.0, 2.0, 3.0, 4.0], np.float32), requires_grad=True)
    SplitUneven.seen.clear()
    a, b = SplitUneven().apply(x)
    (a * 5).sum().backward()
    assert SplitUneven.seen == [((1,), np.float32, (3,), np.float64)]
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 0.0, 0.0, 0.0])


def test_double_backprop_through_a_function_without_backward_graph_says_so():
    class Plain(mg.Function):
        def forward(self, a):
            return a * 2

        def backward(self, gy):
            return gy * 2

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(NotImplementedError,
                       match=r"^Plain does not support double backprop \(create_graph=True\)$"):
        mg.grad(Plain().apply(x).sum(), x, create_graph=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_cuda_kernels_compute_what_the_generic_versions_do(monkeypatch, dtype):
    """Each CUDA kernel's source, run by a NumPy stand-in for CuPy's ElementwiseKernel
    (tests/fake_cupy.py), passes the self-check and agrees with its generic version on
    other data (values away from ReLU's kink), in place where the generic works in place."""
    import fake_cupy
    from minigrad.kernels import elementwise
    from minigrad.kernels.cuda import elementwise_kernels
    kernels = elementwise_kernels(fake_cupy)
    monkeypatch.setattr(elementwise, "_checked", {})
    monkeypatch.setitem(elementwise.FUSED, "cpu", kernels)
    rng = np.random.default_rng(5)

    def a(*shape):
        return rng.standard_normal(shape or (6, 7)).astype(dtype)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in sorted(kernels):
            assert elementwise.fused(name, a()) is kernels[name], name
    K, C = 0.7978845608028654, 0.044715
    cases = {"relu_grad": (a(), a()), "gelu_tanh": (3 * a(), K, C),
             "gelu_tanh_grad": (a(), 3 * a(), np.tanh(a()), K, C), "sum_rows": (a(),),
             "adam_step": (a(), a(), a(), np.abs(a()), 0.8, 0.99, 2e-3, 1.5, 1e-6),
             "layer_norm": (2 * a() - 1, 1e-3),
             "layer_norm_grad": (a(), a(), np.abs(a(6, 1)) + 0.2),
             "softmax_rows": (4 * a(),), "softmax_rows_grad": (a(), np.abs(a()) / 7)}
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12)
    for name, args in cases.items():
        mine = [v.copy() if isinstance(v, np.ndarray) else v for v in args]
        before = [np.copy(v) for v in mine[:4]]
        got = kernels[name](*mine)
        want = elementwise.GENERIC[name](*args)
        if name == "adam_step":                       # p, m, v updated in place
            for m, v, b in zip(mine[:4], args[:4], before):
                np.testing.assert_allclose(m, v, **tol)
            assert not any(np.allclose(m, b) for m, b in zip(mine[:4], before)
                           if m is not mine[1])       # p, m and v all moved
            continue
        for g, w in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            assert g.dtype == dtype and g.shape == w.shape, name
            np.testing.assert_allclose(g, w, **tol)


def _generic_then_cuda_sources(monkeypatch, names, compute):
    """``compute()`` (a list of arrays) run twice: with the CPU's generic kernels, then with
    the CUDA kernels ``names`` built from their sources by tests/fake_cupy.py as the CPU's
    (spied; a kernel refused by its self-check fails). Returns both results and the
    names of the kernels asked for, in order."""
    import warnings

    import fake_cupy
    from minigrad.kernels import elementwise
    from minigrad.kernels.cuda import elementwise_kernels
    cuda = elementwise_kernels(fake_cupy)
    results, asked = [], []

    def spy(name):
        def kernel(*args):
            asked.append(name)
            return cuda[name](*args)
        return kernel
    for table in ({}, {n: spy(n) for n in names}):
        monkeypatch.setattr(elementwise, "_checked", {})
        monkeypatch.setitem(elementwise.FUSED, "cpu", table)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            results.append(compute())
    return results, asked


@pytest.mark.parametrize("k", [1, 2])
def test_layer_norm_through_the_cuda_kernels_equals_the_reference(monkeypatch, k):
    """F.layer_norm over the last k axes of a 3-D input runs its forward and input
    gradient as the layer_norm kernels on rows of the normalised axes: with the CUDA
    kernels' sources as the CPU's, the output and all three gradients equal those of the
    generic kernels; each kernel is asked for once (and once by its self-check)."""
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((3, 4, 5)) * 2 + 1
    w0, b0 = rng.standard_normal(x0.shape[3 - k:]), rng.standard_normal(x0.shape[3 - k:])
    gy = rng.standard_normal(x0.shape)

    def compute():
        x, w, b = (mg.tensor(a, requires_grad=True) for a in (x0, w0, b0))
        y = F.layer_norm(x, x0.shape[3 - k:], w, b, eps=1e-3)
        y.backward(mg.tensor(gy))
        return [y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()]
    results, asked = _generic_then_cuda_sources(monkeypatch, ("layer_norm",
                                                              "layer_norm_grad"), compute)
    assert asked.count("layer_norm") == 2 and asked.count("layer_norm_grad") == 2
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert not np.allclose(results[0][1], 0)


@pytest.mark.parametrize("axis", [-1, 2, 1])
def test_softmax_through_the_cuda_kernels_equals_the_reference(monkeypatch, axis):
    """Softmax over the last axis runs as the softmax_rows kernels: with the CUDA kernels'
    sources as the CPU's, the output and gradient equal the generic ones, masked (-inf)
    scores included; over another axis no kernel is asked for."""
    rng = np.random.default_rng(4)
    x0 = rng.standard_normal((2, 3, 5)) * 3
    x0[..., 3:] = np.where(rng.random((2, 3, 2)) < 0.5, -np.inf, x0[..., 3:])
    gy = rng.standard_normal(x0.shape)

    def compute():
        x = mg.tensor(x0, requires_grad=True)
        y = F.softmax(x, axis=axis)
        y.backward(mg.tensor(gy))
        return [y.numpy(), x.grad.numpy()]
    results, asked = _generic_then_cuda_sources(monkeypatch, ("softmax_rows",
                                                              "softmax_rows_grad"), compute)
    last = axis in (-1, 2)
    assert asked == (["softmax_rows"] * 2 + ["softmax_rows_grad"] * 2 if last else [])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(results[0][0].sum(axis=axis), 1.0)
    if last:
        assert (results[0][0][np.isinf(x0)] == 0).all()


def _checked_kernel(monkeypatch, name, kernel, x):
    """fused(name, x) with ``kernel`` as the strict backend's fused one, freshly checked."""
    from minigrad.kernels import elementwise
    monkeypatch.setattr(elementwise, "_checked", {})
    monkeypatch.setitem(elementwise.FUSED, "strict", {name: kernel})
    return elementwise.fused(name, x.data)


def test_the_self_check_runs_in_the_arrays_dtype_with_its_tolerance(monkeypatch):
    """A kernel wrong only in float32 is refused for float32 arrays (the check's samples
    have the arrays' dtype); float16 rounding (2e-3) passes for float16, while 1e-5 off
    values near zero, or 5e-7 off the zeros of the ReLU gradient, fail in float32 and
    pass within float32's absolute tolerance (1e-6) respectively."""
    from minigrad.kernels import elementwise
    relu = elementwise.relu_grad_generic

    def wrong_in_float32(gy, y):
        return gy if gy.dtype == np.float32 else relu(gy, y)
    x32 = mg.tensor([1.0, 2.0], device="strict")
    x64 = mg.tensor([1.0, 2.0], dtype="float64", device="strict")
    x16 = mg.tensor([1.0, 2.0], dtype="float16", device="strict")
    with pytest.warns(UserWarning, match="disagrees"):
        assert _checked_kernel(monkeypatch, "relu_grad", wrong_in_float32, x32) is relu
    assert _checked_kernel(monkeypatch, "relu_grad", wrong_in_float32, x64) is \
        wrong_in_float32

    def rounded(gy, y):
        return relu(gy, y) * gy.dtype.type(1.002)
    assert _checked_kernel(monkeypatch, "relu_grad", rounded, x16) is rounded
    with pytest.warns(UserWarning, match="disagrees"):
        _checked_kernel(monkeypatch, "relu_grad", rounded, x32)

    def shifted(by):
        return lambda gy, y: relu(gy, y) + gy.dtype.type(by)
    with pytest.warns(UserWarning, match="disagrees"):
        _checked_kernel(monkeypatch, "relu_grad", shifted(1e-5), x32)
    k = shifted(5e-7)
    assert _checked_kernel(monkeypatch, "relu_grad", k, x32) is k


def test_a_refused_kernel_is_reported_where_it_was_asked_for(monkeypatch):
    """The warnings point at the caller of fused() (here this file), not at minigrad."""
    if "MUTANT_UNDER_TEST" in os.environ:
        pytest.skip("under mutation testing every call to minigrad passes one more frame")

    def broken(*args):
        raise RuntimeError("no")

    def off(gy, y):
        return gy
    from minigrad.kernels import elementwise
    x = mg.tensor([1.0, 2.0], device="strict")
    for kernel, match in ((broken, "failed"), (off, "disagrees")):
        monkeypatch.setattr(elementwise, "_checked", {})
        monkeypatch.setitem(elementwise.FUSED, "strict", {"relu_grad": kernel})
        with pytest.warns(UserWarning, match=match) as rec:
            elementwise.fused("relu_grad", x.data)
        assert [w.filename for w in rec] == [__file__]


def test_the_cuda_backend_gets_the_cuda_kernels_and_others_none(monkeypatch,
                                                                generic_cpu_kernels):
    """Built once per backend on first use: 'cuda' from its array module (here the NumPy
    stand-in for CuPy), any other backend an empty table (the CPU too, without its
    compiled kernels)."""
    import types

    import fake_cupy
    from minigrad.kernels import elementwise
    monkeypatch.setattr(elementwise, "FUSED", {})
    cuda = types.SimpleNamespace(name="cuda", xp=fake_cupy)
    table = elementwise._fused_kernels(cuda)
    assert sorted(table) == ["adam_step", "gelu_tanh", "gelu_tanh_grad", "layer_norm",
                             "layer_norm_grad", "relu_grad", "softmax_rows",
                             "softmax_rows_grad", "sum_rows"]
    assert elementwise._fused_kernels(cuda) is table is elementwise.FUSED["cuda"]
    x = np.array([[-1.0, 2.0]], np.float32)
    assert table["relu_grad"](np.ones_like(x), x).tolist() == [[0.0, 1.0]]
    for name in ("cpu", "strict"):
        assert elementwise._fused_kernels(types.SimpleNamespace(name=name, xp=np)) == {}
        assert elementwise.FUSED[name] == {}
    assert sorted(elementwise.FUSED) == ["cpu", "cuda", "strict"]


def test_a_hooked_leafs_gradient_is_its_own_array():
    """A leaf with a hook gets its gradient after the pass (held, then the hooks): still
    a copy, never the array Add passed on to the other input or kept as retained grad."""
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g)
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    y = x + w
    y.retain_grad()
    y.backward(mg.tensor([1.0, 1.0]))
    x.grad.data[0] = 100.0
    assert w.grad.tolist() == [1.0, 1.0] and y.grad.tolist() == [1.0, 1.0]


def test_astype_backward_casts_back_quietly_and_double_backprops():
    """A cast's gradient is cast back to the input's dtype, overflow to inf included
    without a warning (float16 mixed precision relies on it), and the cast has a second
    derivative."""
    import warnings
    x16 = mg.tensor(np.array([1.0], np.float16), requires_grad=True)
    y = x16.astype("float32") * 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y.sum().backward()
    assert x16.grad.dtype == np.float16 and np.isinf(x16.grad.numpy()).all()
    x = mg.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    (g,) = mg.grad((x.astype("float32") ** 3).sum(), x, create_graph=True)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0], rtol=1e-6)
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), [6.0, -12.0], rtol=1e-6)


def test_a_hook_may_return_a_plain_array_with_create_graph_too():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g.numpy() * 2)
    (x * x).sum().backward()
    assert x.grad.tolist() == [4.0, 8.0]
    (g,) = mg.grad((x * x * x).sum(), x, create_graph=True)
    assert isinstance(g, mg.Tensor)
    np.testing.assert_allclose(g.numpy(), [6.0, 24.0])


class _TransposedGrad(mg.Function):
    """A Function whose backward is wrong in shape only: the gradient transposed."""

    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return (gy * 2).T


class _FlatGrad(_TransposedGrad):
    def backward(self, gy):
        return (gy * 2).reshape(-1)


@pytest.mark.parametrize("op, got", [(_TransposedGrad, "(4, 3)"), (_FlatGrad, "(12,)")])
def test_a_backward_that_returns_a_gradient_of_the_wrong_shape_is_refused(op, got):
    """Same size, another shape: it used to be reshaped silently into the input's shape
    (a wrong gradient). Only what broadcasting explains is summed away."""
    x = mg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"^the backward of {op.__name__} returned a "
                                           rf"gradient of shape {re.escape(got)} for its "
                                           r"input 0 of shape \(3, 4\)$"):
        op().apply(x).sum().backward()
    assert x.grad is None


def test_sum_to_refuses_a_shape_that_does_not_broadcast():
    from minigrad.functional.shape import sum_to
    x = mg.tensor(np.arange(12.0).reshape(4, 3))
    with pytest.raises(ValueError, match=r"^sum_to: shape \(3, 4\) does not broadcast to "
                                         r"the input's shape \(4, 3\)$"):
        sum_to(x, (3, 4))
    np.testing.assert_array_equal(sum_to(x, (1, 3)).numpy(), [[18.0, 22.0, 26.0]])
    np.testing.assert_array_equal(sum_to(x, (3,)).numpy(), [18.0, 22.0, 26.0])
