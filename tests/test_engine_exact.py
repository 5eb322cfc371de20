"""The backward engine's entry points and hooks, exactly: the upstream gradient given to
backward() (every form and every message), hooks on intermediate tensors, mg.grad of an
intermediate tensor, and grad mode inside a create_graph backward."""
import numpy as np
import pytest

import minigrad as mg


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
