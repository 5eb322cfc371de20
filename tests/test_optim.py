"""Optimizers against their documented formulas and against PyTorch."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import optim


def quad_param(v=(1.0, -2.0)):
    return mg.nn.Parameter(np.array(v, dtype=np.float64))


def grad_of(p):
    # loss = sum(p^2) / 2  ->  grad = p
    p.grad = mg.tensor(p.data.copy())


def test_sgd_plain_gradient_descent():
    p = quad_param()
    opt = optim.SGD([p], learning_rate=0.1)
    grad_of(p)
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.9, -1.8])


def test_sgd_momentum_and_nesterov_formulas():
    for nesterov in (False, True):
        p = quad_param()
        opt = optim.SGD([p], learning_rate=0.1, momentum=0.9, nesterov=nesterov)
        theta, v = np.array([1.0, -2.0]), np.zeros(2)
        for _ in range(3):
            g = theta.copy()
            grad_of(p)
            opt.step()
            v = 0.9 * v - 0.1 * g
            theta = theta + (0.9 * v - 0.1 * g if nesterov else v)
        np.testing.assert_allclose(p.numpy(), theta)


def test_adam_formula_with_and_without_bias_correction():
    for bc in (True, False):
        p = quad_param()
        opt = optim.Adam([p], learning_rate=0.01, bias_correction=bc)
        theta, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
        for t in range(1, 5):
            g = theta.copy()
            grad_of(p)
            opt.step()
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            mh, vh = (m / (1 - 0.9 ** t), v / (1 - 0.999 ** t)) if bc else (m, v)
            theta = theta - 0.01 * mh / (np.sqrt(vh) + 1e-7)
        np.testing.assert_allclose(p.numpy(), theta, rtol=1e-12)


def test_rmsprop_and_adamw_formulas():
    p = quad_param()
    opt = optim.RMSprop([p], learning_rate=0.01)
    grad_of(p)
    opt.step()
    g = np.array([1.0, -2.0])
    s = 0.1 * g * g
    np.testing.assert_allclose(p.numpy(), g - 0.01 * g / (np.sqrt(s) + 1e-7))
    p = quad_param()
    opt = optim.AdamW([p], learning_rate=0.01, weight_decay=0.1)
    grad_of(p)
    opt.step()
    theta = g - 0.01 * 0.1 * g
    theta = theta - 0.01 * (0.1 * g / 0.1) / (np.sqrt(0.001 * g * g / 0.001) + 1e-7)
    np.testing.assert_allclose(p.numpy(), theta)


def test_adam_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3))
    p = mg.nn.Parameter(w0.copy())
    tp = torch.tensor(w0.copy(), requires_grad=True)
    opt = optim.Adam([p], learning_rate=0.01, epsilon=1e-8)
    topt = torch.optim.Adam([tp], lr=0.01, eps=1e-8)
    for _ in range(5):
        g = rng.standard_normal((4, 3))
        p.grad = mg.tensor(g)
        tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-6, atol=1e-9)


def test_updates_are_in_place_and_state_on_device(device):
    p = mg.nn.Parameter(mg.ones(3, device=device).data)
    arr = p.data
    opt = optim.Adam([p])
    p.grad = mg.ones(3, device=device)
    opt.step()
    assert p.data is arr
    st = opt.state[id(p)]
    assert type(st["m"]) is type(p.data)


def test_params_without_grad_are_skipped_and_zero_grad():
    p, q = quad_param(), quad_param()
    opt = optim.SGD([p, q], lr=0.1)
    grad_of(p)
    opt.step()
    np.testing.assert_allclose(q.numpy(), [1.0, -2.0])
    opt.zero_grad()
    assert p.grad is None


def test_schedules():
    s = optim.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(0) == 0.1 and s(10) == pytest.approx(0.05)
    assert optim.StepDecay(1.0, 2, 0.1)(5) == pytest.approx(0.01)
    assert optim.CosineDecay(1.0, 10)(10) == pytest.approx(0.0)
    p = quad_param()
    opt = optim.SGD([p], learning_rate=optim.PiecewiseConstantDecay([0], [1.0, 0.1]))
    grad_of(p)
    opt.step()
    grad_of(p)
    opt.step()
    np.testing.assert_allclose(p.numpy(), np.array([1.0, -2.0]) * 0.0 * 0.9)


def test_optimizer_names_and_errors():
    assert isinstance(optim.get("adam"), optim.Adam)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim.get("adamax2")
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(nesterov=True)
    with pytest.raises(ValueError, match="does not require grad"):
        optim.SGD([mg.ones(2)])


def _subnormal(a):
    a = np.asarray(a)
    return (a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)


def test_flush_tiny_sets_only_values_below_the_threshold_to_zero():
    from minigrad import backend
    for dtype in (np.float32, np.float64):
        tiny = np.finfo(dtype).tiny
        a = np.array([tiny / 4, -tiny / 2, tiny, -3 * tiny, tiny * 2 ** 23, 1.0, 0.0],
                     dtype=dtype)
        b = a.copy()
        backend.flush_tiny(b)
        np.testing.assert_array_equal(b, [0, 0, tiny, -3 * tiny, tiny * 2 ** 23, 1, 0])
        backend.flush_tiny(b, 24)
        np.testing.assert_array_equal(b, [0, 0, 0, 0, 0, 1, 0])
    h = np.array([1e-7, 1.0], dtype=np.float16)         # float16 subnormal: left alone
    backend.flush_tiny(h, 24)
    assert h[0] != 0


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD([p], learning_rate=0.01, momentum=0.9),
    lambda p: optim.Adam([p], learning_rate=0.001),
    lambda p: optim.RMSprop([p], learning_rate=0.001)], ids=["sgd", "adam", "rmsprop"])
def test_decaying_states_are_kept_out_of_the_subnormal_range(make):
    """Where the gradient turns zero (a dead unit) a state decays geometrically towards
    zero; it is flushed before it reaches subnormal floats, which cost the CPU 10-100x
    more per operation, and the parameters stay bitwise those of the unflushed formula."""
    p = mg.nn.Parameter(np.array([0.5, -0.25, 0.125, 1.0], dtype=np.float32))
    opt = make(p)
    ref = mg.nn.Parameter(p.data.copy())
    ref_opt = make(ref)
    ref_opt._flushed = lambda: {}                        # the plain formula
    first = np.array([1.0, 1e-25, 1e-18, 1e-3])          # then zero except element 0
    # never subnormal: the states flushed 24 binades above (per step); the others at least
    # right after each flush
    always = {optim.SGD: {"v"}, optim.Adam: {"m"}, optim.RMSprop: set()}[type(opt)]
    ref_had_subnormals = False
    for t in range(1, 301):
        g = first if t == 1 else np.array([1.0, 0.0, 0.0, 0.0])
        p.grad = ref.grad = mg.tensor(g.astype(np.float32))
        opt.step()
        ref_opt.step()
        flushed = t % optim.optimizers.FLUSH_EVERY == 0
        for key, a in opt.state[id(p)].items():
            if key in always or (key != "t" and flushed):
                assert not _subnormal(a).any(), (key, t, a)
        ref_had_subnormals |= any(_subnormal(a).any()
                                  for k, a in ref_opt.state[id(ref)].items() if k != "t")
    assert ref_had_subnormals                            # without the flush
    np.testing.assert_array_equal(p.numpy(), ref.numpy())


def test_adam_without_epsilon_keeps_its_tiny_second_moments():
    p = mg.nn.Parameter(np.array([1.0, 1.0], dtype=np.float32))
    opt = optim.Adam([p], learning_rate=0.001, epsilon=0.0)
    for t in range(optim.optimizers.FLUSH_EVERY):
        p.grad = mg.tensor(np.array([1.0, 1e-21 if t == 0 else 0.0], dtype=np.float32))
        opt.step()
    v = opt.state[id(p)]["v"]
    assert v[1] != 0 and _subnormal(v)[1]                # kept: sqrt(v) is the denominator
    assert np.isfinite(p.numpy()).all()
