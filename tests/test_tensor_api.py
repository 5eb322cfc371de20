"""The Tensor class's own methods, each against NumPy or its exact message (written from
mutation-testing survivors and from the methods no test had called)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F

rng = np.random.default_rng(0)


def t(a, grad=False):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# --- comparisons ------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"])
def test_comparisons_give_bool_tensors_outside_the_graph(op):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    x = t(a, grad=True)
    for other in (t(b), b, 2.0):
        got = getattr(x, op)(other)
        want = getattr(a, op)(np.asarray(other.numpy() if isinstance(other, mg.Tensor)
                                         else other))
        assert got.dtype == np.bool_ and not got.requires_grad and got.creator is None
        np.testing.assert_array_equal(got.numpy(), want)


def test_a_tensor_is_hashable_by_identity():
    a, b = t([1.0]), t([1.0])
    assert len({a, b, a}) == 2


# --- reductions and shapes as methods ---------------------------------------------------------
def test_reduction_methods_match_numpy():
    a = rng.standard_normal((3, 4))
    x = t(a)
    np.testing.assert_allclose(x.std().item(), a.std())
    np.testing.assert_allclose(x.std(axis=0, ddof=1).numpy(), a.std(axis=0, ddof=1))
    np.testing.assert_allclose(x.std(axis=1, keepdims=True).numpy(),
                               a.std(axis=1, keepdims=True))
    np.testing.assert_allclose(x.var(axis=1, ddof=1).numpy(), a.var(axis=1, ddof=1))
    assert x.argmin().item() == a.argmin()
    np.testing.assert_array_equal(x.argmin(axis=0).numpy(), a.argmin(axis=0))
    np.testing.assert_array_equal(x.argmin(axis=1, keepdims=True).numpy(),
                                  a.argmin(axis=1, keepdims=True))
    np.testing.assert_array_equal(x.argmax(axis=1, keepdims=True).numpy(),
                                  a.argmax(axis=1, keepdims=True))
    assert x.argmax().item() == a.argmax()
    np.testing.assert_allclose(x.min(axis=0, keepdims=True).numpy(), a.min(0, keepdims=True))
    np.testing.assert_allclose(x.max(axis=1).numpy(), a.max(1))


def test_std_gradient():
    a = rng.standard_normal((3, 4))
    x = t(a, grad=True)
    x.std(axis=1, ddof=1).sum().backward()
    n = a.shape[1]
    want = (a - a.mean(1, keepdims=True)) / ((n - 1) * a.std(1, ddof=1, keepdims=True))
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-10)


def test_elementwise_methods_match_the_functional_ops():
    a = rng.standard_normal((2, 5))
    x = t(a)
    pairs = [(x.tanh(), np.tanh(a)), (x.sigmoid(), 1 / (1 + np.exp(-a))),
             (x.relu(), np.maximum(a, 0)), (x.exp(), np.exp(a)), (x.abs(), np.abs(a)),
             (x.abs().log(), np.log(np.abs(a))), (x.abs().sqrt(), np.sqrt(np.abs(a))),
             (x.clip(-0.5, 0.25), np.clip(a, -0.5, 0.25)),
             (x.softmax(), np.exp(a) / np.exp(a).sum(-1, keepdims=True)),
             (x.softmax(axis=0), np.exp(a) / np.exp(a).sum(0, keepdims=True)),
             (x.log_softmax(axis=0), a - np.log(np.exp(a).sum(0, keepdims=True))),
             (x.log_softmax(), a - np.log(np.exp(a).sum(-1, keepdims=True)))]
    for got, want in pairs:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-15)


def test_view_is_reshape_and_shapes():
    a = np.arange(12.0)
    x = t(a)
    np.testing.assert_array_equal(x.view(3, 4).numpy(), a.reshape(3, 4))
    np.testing.assert_array_equal(x.view((2, 6)).numpy(), a.reshape(2, 6))
    assert x.view(-1, 3).shape == (4, 3)
    assert x.unsqueeze(0).shape == (1, 12)


def test_rmatmul_with_a_numpy_operand():
    W = rng.standard_normal((3, 4))
    x = t(rng.standard_normal((4, 2)), grad=True)
    y = x.__rmatmul__(W)                                    # W @ x
    np.testing.assert_allclose(y.numpy(), W @ x.numpy())
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), W.T @ np.ones((3, 2)))


# --- conversions ------------------------------------------------------------------------------
def test_bool_float_int_and_their_messages():
    assert bool(t([2.0])) is True and bool(t(0.0)) is False
    assert float(t([[1.5]])) == 1.5 and int(t(2.9)) == 2
    with pytest.raises(ValueError, match=r"^the truth value of a tensor with 3 elements is "
                                         r"ambiguous$"):
        bool(t([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"^item\(\) needs a one-element tensor, got shape "
                                         r"\(2,\)$"):
        t([1.0, 2.0]).item()


def test_len_and_iteration():
    x = t(np.arange(6.0).reshape(3, 2))
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(r, mg.Tensor) for r in rows)
    np.testing.assert_array_equal(rows[2].numpy(), [4.0, 5.0])
    with pytest.raises(TypeError, match=r"^len\(\) of a 0-d tensor$"):
        len(t(1.0))
    with pytest.raises(TypeError, match=r"^iteration over a 0-d tensor$"):
        iter(t(1.0))


def test_array_protocol_dtype_and_copy():
    a = np.arange(4, dtype=np.float32)
    x = mg.tensor(a)
    assert np.asarray(x) is x.data                          # no copy asked: none made
    b = np.asarray(x, dtype=np.float64)
    assert b.dtype == np.float64 and np.array_equal(b, a)
    c = x.__array__(copy=True)
    assert c is not x.data and np.array_equal(c, a)
    c[0] = 99
    assert x.data[0] == 0
    assert x.__array__(np.float32, copy=False) is x.data    # same dtype: no copy needed
    d = x.__array__(np.float64, copy=True)
    assert d.dtype == np.float64 and not np.shares_memory(d, x.data)
    with pytest.raises(ValueError, match=r"^a copy is needed to change the dtype$"):
        x.__array__(np.float64, copy=False)


def test_array_protocol_refuses_a_device_tensor():
    from strict_backend import StrictArray  # noqa: F401  (registers the backend)
    x = mg.tensor([1.0, 2.0]).to("strict")
    with pytest.raises(TypeError, match=r"^cannot convert a tensor on strict:0 to a NumPy array "
                                        r"implicitly; call \.numpy\(\) to copy it to the "
                                        r"host$"):
        np.asarray(x)
    assert x.cpu().device == "cpu" and np.array_equal(x.cpu().numpy(), [1.0, 2.0])


def test_cuda_without_a_gpu_says_why():
    if mg.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="cuda"):
        mg.tensor([1.0]).cuda()


def test_repr_shows_values_device_dtype_and_graph():
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(mg.tensor([[1.0, 2.0], [3.0, 4.0]])) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(t([1.0])) == "tensor([1.], dtype=float64)"
    assert repr(mg.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    y = mg.tensor([1.0], requires_grad=True) * 2.0
    assert repr(y) == "tensor([2.], creator=<Mul>)"
    assert repr(mg.tensor([1, 2])) == "tensor([1, 2], dtype=int64)"
    from strict_backend import StrictArray  # noqa: F401
    assert repr(mg.tensor([0.5]).to("strict")) == "tensor([0.5], device='strict:0')"


def test_float_and_double_copies_carry_the_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    d = x.double()
    assert d.dtype == np.float64
    (d * d).sum().backward()
    assert x.grad.dtype == np.float32 and np.array_equal(x.grad.numpy(), [2.0, 4.0])
    assert t([1.0]).float().dtype == np.float32


# --- autograd flags ---------------------------------------------------------------------------
def test_requires_grad_in_place_and_its_messages():
    x = mg.tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    assert x.requires_grad_(False) is x and not x.requires_grad
    with pytest.raises(TypeError, match="only floating point tensors can require gradients"):
        mg.tensor([1, 2]).requires_grad_()
    mg.tensor([1, 2]).requires_grad_(False)                 # turning it off is always fine
    y = mg.tensor([1.0], requires_grad=True) * 2.0
    with pytest.raises(RuntimeError, match=r"^requires_grad_\(False\) is only valid on leaf "
                                           r"tensors; use \.detach\(\)$"):
        y.requires_grad_(False)
    y.requires_grad_(True)                                   # a no-op on a non-leaf


def test_retain_grad_keeps_the_gradient_of_an_intermediate():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    z = y * y
    y.retain_grad()
    z.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [6.0, 12.0])
    x2 = mg.tensor([1.0], requires_grad=True)
    w = x2 * 2.0
    (w * w).sum().backward()
    assert w.grad is None                                    # not kept without retain_grad
    with pytest.raises(RuntimeError, match=r"^retain_grad\(\) on a tensor that does not "
                                           r"require grad$"):
        mg.tensor([1.0]).retain_grad()
    leaf = mg.tensor([1.0], requires_grad=True)
    leaf.retain_grad()                                       # a leaf keeps it anyway
    (leaf * 2.0).sum().backward()
    assert leaf.grad.item() == 2.0


def test_zero_grad_forgets_the_gradient():
    x = mg.tensor([1.0], requires_grad=True)
    (x * 2.0).sum().backward()
    x.zero_grad()
    assert x.grad is None
    (x * 3.0).sum().backward()
    assert x.grad.item() == 3.0                              # not 5: nothing accumulated


def test_setitem_values_tensors_and_the_grad_rule():
    x = mg.tensor(np.zeros((2, 3)))
    x[0, 1] = 5.0
    x[1] = mg.tensor([1.0, 2.0, 3.0])
    x[mg.tensor([True, False])] = 7.0                        # a bool tensor as the index
    np.testing.assert_array_equal(x.numpy(), [[7.0, 7.0, 7.0], [1.0, 2.0, 3.0]])
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"^in-place assignment to a tensor that requires "
                                           r"grad would corrupt its graph"):
        w[0] = 3.0
    with mg.no_grad():
        w[0] = 3.0
    assert w.numpy()[0] == 3.0


def test_dlpack_shares_memory_with_numpy():
    x = mg.tensor(np.arange(3, dtype=np.float32))
    view = np.from_dlpack(x)
    assert np.shares_memory(view, x.data)
    assert x.__dlpack_device__() == view.__dlpack_device__()
    cap = x.__dlpack__(stream=None)
    assert type(cap).__name__ == "PyCapsule"


# --- from the second mutation run ---------------------------------------------------------
def test_abs_operator_min_default_and_combined_repr():
    a = rng.standard_normal((2, 3))
    x = t(a, grad=True)
    y = abs(x)
    np.testing.assert_array_equal(y.numpy(), np.abs(a))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.sign(a))
    assert x.min(axis=0).shape == (3,) and x.max(axis=1).shape == (2,)
    from strict_backend import StrictArray  # noqa: F401
    s = mg.tensor(np.array([1.5]), requires_grad=True).to("strict")
    assert repr(s) == "tensor([1.5], device='strict:0', dtype=float64, creator=<ToDevice>)"
    leaf = mg.tensor(np.array([1.5]), requires_grad=True)
    assert repr(leaf) == "tensor([1.5], dtype=float64, requires_grad=True)"


def test_the_in_place_assignment_message_in_full():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=(
            r"^in-place assignment to a tensor that requires grad would corrupt its graph; "
            r"assign under `with mg\.no_grad\(\):` \(graphs recorded before then refuse to "
            r"backward\), or compute a new tensor instead$")):
        w[0] = 3.0
