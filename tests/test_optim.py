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
