"""The backward engine's entry points and hooks, exactly: the upstream gradient given to
backward() (every form and every message), hooks on intermediate tensors, mg.grad of an
intermediate tensor, and grad mode inside a create_graph backward."""
import numpy as np
import pytest

import minigrad as mg
from test_autograd import SplitHalves


def test_backward_messages_are_exact():
    with pytest.raises(RuntimeError) as err:
        mg.tensor([1.0, 2.0]).sum().backward()
    assert str(err.value) == (
        "element 0 of tensors does not require grad and does not have a grad_fn: nothing to "
        "differentiate (did you compute it under no_grad, or from tensors created without "
        "requires_grad=True?)")
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError) as err:
        (x * 2).backward()
    assert str(err.value) == ("grad can be implicitly created only for one-element outputs; "
                              "this output has shape (2,): pass grad= (same shape) "
                              "explicitly")
    with pytest.raises(ValueError) as err:
        (x * 2).backward(mg.ones(3))
    assert str(err.value) == "backward: grad has shape (3,) but the output has shape (2,)"
    with pytest.raises(RuntimeError) as err:
        (x * 2).backward(mg.ones(2, device="strict"))
    assert str(err.value) == "backward: grad is on strict:0 but the output is on cpu"


@pytest.mark.parametrize("form", ["list", "array", "tensor", "float64 array"])
def test_the_upstream_gradient_in_every_form(form):
    x = mg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    g = {"list": [3.0, 4.0], "array": np.array([3.0, 4.0], np.float32),
         "tensor": mg.tensor([3.0, 4.0]), "float64 array": np.array([3.0, 4.0])}[form]
    (x * 2).backward(g)
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [6.0, 8.0]
    x.grad = None
    y = x * x
    (g2,) = mg.grad(y, x, grad_outputs=[mg.tensor([3.0, 4.0])], create_graph=True)
    assert g2.requires_grad and g2.tolist() == [6.0, 16.0]


def test_a_given_gradient_tensor_stays_in_the_graph_with_create_graph():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    v = mg.tensor([3.0, 5.0], requires_grad=True)
    (gx,) = mg.grad(x * x, x, grad_outputs=[v], create_graph=True)   # 2 x v
    (gv,) = mg.grad(gx.sum(), v)
    assert gv.tolist() == [2.0, 4.0]


def test_a_hook_on_an_intermediate_tensor_replaces_its_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.register_hook(lambda g: g * 10)
    (y * y).sum().backward()                    # d/dy = 2 y, hooked: 20 y; then * 2
    assert x.grad.tolist() == [80.0, 160.0]
    x.grad = None
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.sum().backward()                           # a hook returning None changes nothing
    assert seen == [[1.0, 1.0]] and x.grad.tolist() == [2.0, 2.0]
    y = x * 2
    y.register_hook(lambda g: g * 10)
    (g,) = mg.grad((y * y).sum(), x, create_graph=True)
    assert g.requires_grad and g.tolist() == [80.0, 160.0]


def test_grad_of_an_intermediate_tensor_is_captured():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    z = y * y
    gy, gx = mg.grad(z.sum(), [y, x])
    assert gy.tolist() == [6.0, 12.0] and gx.tolist() == [18.0, 36.0]
    assert x.grad is None and y.grad is None


def test_create_graph_builds_the_graph_under_no_grad_too():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x * x).sum()
    with mg.no_grad():
        (g,) = mg.grad(y, x, create_graph=True)
        assert not mg.is_grad_enabled()
    assert g.requires_grad
    (h,) = mg.grad(g.sum(), x)
    assert h.tolist() == [6.0, 12.0]


class Three(mg.Function):
    """An op of three inputs (the general path of Function.apply): a * b + c."""

    def forward(self, a, b, c):
        return a * b + c

    def backward(self, gy):
        return None, None, gy


def test_grad_messages_and_default_allow_unused_are_exact():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    u = mg.tensor([3.0], requires_grad=True)
    with pytest.raises(RuntimeError) as err:
        mg.grad((x * 2).sum(), [x, u])
    assert str(err.value) == ("grad: input 1 is not part of the graph of the outputs "
                              "(pass allow_unused=True to get None for it)")
    with pytest.raises(RuntimeError) as err:
        mg.grad((x * 2).sum(), [mg.tensor([1.0]), x])
    assert str(err.value) == "grad: input 0 does not require grad"
    gx, gu = mg.grad((x * 2).sum(), [x, u], allow_unused=True)
    assert gu is None and gx.numpy().tolist() == [2.0, 2.0]


def test_grad_takes_one_plain_array_as_the_upstream_gradient():
    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (g,) = mg.grad(x * 3, x, grad_outputs=np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    np.testing.assert_array_equal(g.numpy(), [[3.0, 6.0, 9.0], [12.0, 15.0, 18.0]])


def test_the_freed_graph_message_names_the_op_also_for_several_outputs():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError) as err:
        y.backward()
    assert "The graph of Sum was freed by an earlier backward()" in str(err.value)
    a, b = SplitHalves().apply(mg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True))
    (a.sum() + b.sum()).backward()                  # frees SplitHalves
    with pytest.raises(RuntimeError) as err:
        (a * 2).sum().backward()
    assert "The graph of SplitHalves was freed" in str(err.value)


def test_no_gradient_aliases_the_upstream_one_or_another_gradient():
    """Ops that pass their gradient through (Add, a leaf as the root) give every leaf a
    gradient of its own: in the plain pass, with a hook active somewhere, and when an
    intermediate keeps its gradient."""
    def leaves():                                   # of g's dtype: no cast copies
        return (mg.tensor([1.0, 2.0], dtype="float64", requires_grad=True),
                mg.tensor([3.0, 4.0], dtype="float64", requires_grad=True))

    def separate(*arrays):
        for i, p in enumerate(arrays):
            for q in arrays[i + 1:]:
                assert not np.shares_memory(p, q)

    g = np.array([1.0, 1.0])
    a, b = leaves()
    (a + b).backward(g)
    separate(g, a.grad.data, b.grad.data)
    a.backward(g)                                   # the root is a leaf
    separate(g, a.grad.data, b.grad.data)
    c, _ = leaves()
    c.backward(g)
    separate(g, c.grad.data)
    other = mg.tensor([0.0], requires_grad=True)
    handle = other.register_hook(lambda t: t)       # a hook somewhere: the hook pass
    try:
        a, b = leaves()
        (a + b).backward(g)
        separate(g, a.grad.data, b.grad.data)
    finally:
        handle.remove()
    a, b = leaves()
    y = a + b
    y.retain_grad()
    y.backward(g)
    separate(g, a.grad.data, b.grad.data, y.grad.data)
    y = a * 1.0
    y.retain_grad()
    (y + b).backward(g)
    separate(g, y.grad.data, b.grad.data)


def test_retain_grad_keeps_only_the_outputs_asked_for():
    x = mg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    a, b = SplitHalves().apply(x)
    b.retain_grad()
    (a.sum() + (b * 2).sum()).backward()
    assert a.grad is None and b.grad.numpy().tolist() == [2.0, 2.0]
    b = SplitHalves().apply(x)[1]                        # the first output is gone
    b.retain_grad()
    (b * 3).sum().backward()
    assert b.grad.numpy().tolist() == [3.0, 3.0]
    y = x * 2
    y.sum().backward()
    assert y.grad is None
    y = x * 2
    y.register_hook(lambda g: g * 1)                # a hook, but no retain_grad
    y.sum().backward()
    assert y.grad is None


def test_hooks_of_a_backward_under_no_grad_record_nothing():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append((mg.is_grad_enabled(), (g * 2).requires_grad)))
    y = (x * 3).sum()
    with mg.no_grad():
        y.backward()
    assert seen == [(False, False)]


def test_a_root_gradient_given_as_a_list_takes_the_outputs_dtype():
    x = mg.tensor([1.0, 2.0], dtype="float32", requires_grad=True)
    y = x * 2
    y.retain_grad()
    y.backward([1.0, 0.5])
    assert y.grad.dtype == np.float32 and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 1.0])
    x = mg.tensor([1.0], dtype="float32", requires_grad=True)
    (x * 0.1).backward([0.1])                       # the backward runs in float32
    assert x.grad.numpy()[0] == np.float32(0.1) * np.float32(0.1) != np.float32(0.1 * 0.1)


def test_a_root_gradient_on_another_device_is_refused_by_name():
    y = mg.ones(2, device="strict", requires_grad=True) * 2
    with pytest.raises(RuntimeError) as err:
        y.backward(np.ones(2))
    assert str(err.value) == "backward: grad is on cpu but the output is on strict:0"


def test_forward_results_become_arrays():
    class Listed(mg.Function):
        def forward(self, x):
            return [float(v) * 2 for v in x]

        def backward(self, gy):
            return gy * 2
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = Listed().apply(x)
    assert type(y.data) is np.ndarray and y.numpy().tolist() == [2.0, 4.0]
    s = x.sum()
    assert type(s.data) is np.ndarray and s.data.shape == ()


def test_the_array_types_follow_the_registry(monkeypatch):
    from minigrad import autograd, backend

    class Arr(np.ndarray):
        pass
    monkeypatch.setattr(autograd, "_ARRAY_TYPES_CACHE", [None, None])
    before = autograd.backend_array_types()
    assert before == tuple(b.array_type for b in backend._BACKENDS.values())
    monkeypatch.setattr(backend, "_BACKENDS", dict(backend._BACKENDS))
    monkeypatch.setattr(backend, "_BY_TYPE", dict(backend._BY_TYPE))
    backend.register_backend(backend.Backend(
        name="toy", xp=np, array_type=Arr, from_host=lambda a, i: a.view(Arr),
        to_host=np.asarray, as_strided=None, scatter_add=None))
    assert autograd.backend_array_types() == before + (Arr,)
    assert autograd.backend_array_types() is autograd.backend_array_types()


def test_mg_grad_returns_arrays_of_its_own_for_views():
    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    g = np.arange(6.0).reshape(3, 2)
    (gx,) = mg.grad(x.T, x, grad_outputs=g)
    assert not np.shares_memory(gx.data, g)
    np.testing.assert_array_equal(gx.numpy(), g.T)


def test_mixed_devices_in_an_op_of_three_inputs_are_refused_by_name():
    from minigrad.tensor import Tensor
    a, c = mg.ones(2), mg.ones(2, device="strict")
    for xs in ((a, a, c), (Tensor._wrap(2.0), a, c)):       # a constant first too
        with pytest.raises(RuntimeError) as err:
            Three().apply(*xs)
        assert str(err.value) == ("Three: expected all tensors on the same device, found "
                                  "cpu and strict:0. Move them with .to(device) first.")


def test_arrays_of_one_type_on_two_devices_are_refused(monkeypatch):
    from minigrad import backend
    strict = backend._BACKENDS["strict"]
    a, b = mg.ones(2, device="strict"), mg.ones(2, device="strict")
    monkeypatch.setattr(strict, "array_index", lambda arr: 1 if arr is b.data else 0)
    with pytest.raises(RuntimeError, match="^Add: .* found strict:0 and strict:1"):
        a + b


def test_a_hook_on_an_intermediate_fires_when_nothing_else_holds_the_tensor():
    """The hooked tensor's consumers are freed before its creator runs in a backward that
    frees the graph; the hook must still see (and may replace) the gradient, and stop
    counting once the pass is over."""
    import gc
    from minigrad import autograd
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    gc.collect()                        # hooked tensors that earlier tests left to the GC
    before = autograd._hooks_active[0]

    def loss(x):
        h = x * 2                                   # the caller never sees h
        h.register_hook(lambda g: (seen.append(g.numpy().tolist()), g * 10)[1])
        return (h * 3).sum()
    loss(x).backward()
    assert seen == [[3.0, 3.0]]
    assert x.grad.numpy().tolist() == [60.0, 60.0]
    gc.collect()
    assert autograd._hooks_active[0] == before
