"""Hook handles and the reference-ops switch as context managers: removal is idempotent,
exceptions inside a `with` block propagate, the messages are exact."""
import numpy as np
import pytest

import minigrad as mg


def test_removing_a_hook_twice_is_harmless():
    x = mg.tensor(np.ones(2), requires_grad=True)
    seen = []
    h = x.register_hook(lambda g: seen.append(1))
    h.remove()
    h.remove()
    (x * 2).sum().backward()
    assert seen == []
    h2 = x.register_hook(lambda g: g * 3)
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2 + 6, 2 + 6])
    h2.remove()


def test_exceptions_inside_a_handle_or_reference_ops_block_propagate():
    x = mg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(KeyError):
        with x.register_hook(lambda g: g):
            raise KeyError("inside")
    with pytest.raises(KeyError):
        with mg.kernels.reference_ops():
            raise KeyError("inside")
    with mg.kernels.reference_ops(False):
        pass


def test_hook_messages_are_exact():
    with pytest.raises(RuntimeError) as e:
        mg.tensor(np.ones(2)).register_hook(lambda g: g)
    assert str(e.value) == "register_hook on a tensor that does not require grad"
    with pytest.raises(TypeError) as e:
        mg.tensor(np.ones(2), requires_grad=True).register_hook(3)
    assert str(e.value) == "register_hook expects a callable, got int"


def test_without_any_hook_no_module_reports_one():
    """The fast answer while no forward hook exists anywhere is False (then a Sequential
    runs its fused plan)."""
    from minigrad.keras import layers, models
    m = models.Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)])
    assert m.has_forward_hooks() is False and m.layers[0].has_forward_hooks() is False
    handle = m.layers[1].register_forward_hook(lambda *a: None)
    assert m.has_forward_hooks() is True and m.layers[0].has_forward_hooks() is False
    handle.remove()
    assert m.has_forward_hooks() is False
