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
    st = opt.state[p]
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
    from minigrad import tuning
    for dtype in (np.float32, np.float64):
        tiny = np.finfo(dtype).tiny
        a = np.array([tiny / 4, -tiny / 2, tiny, -3 * tiny, tiny * 2 ** 23, 1.0, 0.0],
                     dtype=dtype)
        b = a.copy()
        tuning.flush_tiny(b)
        np.testing.assert_array_equal(b, [0, 0, tiny, -3 * tiny, tiny * 2 ** 23, 1, 0])
        tuning.flush_tiny(b, 24)
        np.testing.assert_array_equal(b, [0, 0, 0, 0, 0, 1, 0])
    h = np.array([1e-7, 1.0], dtype=np.float16)         # float16 subnormal: left alone
    tuning.flush_tiny(h, 24)
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
        for key, a in opt.state[p].items():
            if key in always or (key != "t" and flushed):
                assert not _subnormal(a).any(), (key, t, a)
        ref_had_subnormals |= any(_subnormal(a).any()
                                  for k, a in ref_opt.state[ref].items() if k != "t")
    assert ref_had_subnormals                            # without the flush
    np.testing.assert_array_equal(p.numpy(), ref.numpy())


def test_adam_without_epsilon_keeps_its_tiny_second_moments():
    p = mg.nn.Parameter(np.array([1.0, 1.0], dtype=np.float32))
    opt = optim.Adam([p], learning_rate=0.001, epsilon=0.0)
    for t in range(optim.optimizers.FLUSH_EVERY):
        p.grad = mg.tensor(np.array([1.0, 1e-21 if t == 0 else 0.0], dtype=np.float32))
        opt.step()
    v = opt.state[p]["v"]
    assert v[1] != 0 and _subnormal(v)[1]                # kept: sqrt(v) is the denominator
    assert np.isfinite(p.numpy()).all()


# --- every option, against its formula, over several steps --------------------------------
# Gradients vary in sign and size; the tiny ones make epsilon matter, the large ones make
# clipnorm and the bias correction matter.
GRADS = [np.array([0.3, -1.2, 1e-9, 40.0]), np.array([-2.0, 0.5, -3e-9, 25.0]),
         np.array([1e-8, 7.0, 2e-9, -60.0]), np.array([0.9, -0.1, 0.0, 10.0]),
         np.array([-0.4, 3.0, 5e-9, -5.0])]
THETA0 = np.array([0.5, -1.0, 2.0, 0.25])


def clip(g, clipnorm):
    if clipnorm is None:
        return g
    return g * min(1.0, clipnorm / (np.sqrt((g * g).sum()) + 1e-12))


def sgd_ref(lr, momentum=0.0, nesterov=False, weight_decay=0.0, clipnorm=None):
    theta, v = THETA0.copy(), np.zeros(4)
    for g in GRADS:
        g = clip(g, clipnorm) + weight_decay * theta
        if momentum == 0:
            theta = theta - lr * g
            continue
        v = momentum * v - lr * g
        theta = theta + (momentum * v - lr * g if nesterov else v)
    return theta


def adam_ref(lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=0.0, decoupled=False,
             bias_correction=True, clipnorm=None):
    theta, m, v = THETA0.copy(), np.zeros(4), np.zeros(4)
    for t, g in enumerate(GRADS, start=1):
        g = clip(g, clipnorm)
        if weight_decay and not decoupled:
            g = g + weight_decay * theta
        if weight_decay and decoupled:
            theta = theta - lr * weight_decay * theta
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        c1, c2 = (1 - beta_1 ** t, 1 - beta_2 ** t) if bias_correction else (1.0, 1.0)
        theta = theta - lr * (m / c1) / (np.sqrt(v / c2) + epsilon)
    return theta


def rmsprop_ref(lr, rho=0.9, epsilon=1e-7, weight_decay=0.0, clipnorm=None):
    theta, s = THETA0.copy(), np.zeros(4)
    for g in GRADS:
        g = clip(g, clipnorm) + weight_decay * theta
        s = rho * s + (1 - rho) * g * g
        theta = theta - lr * g / (np.sqrt(s) + epsilon)
    return theta


CASES = [
    ("sgd", optim.SGD, sgd_ref, dict(lr=0.05)),
    ("sgd_wd", optim.SGD, sgd_ref, dict(lr=0.05, weight_decay=0.1)),
    ("sgd_momentum_wd", optim.SGD, sgd_ref, dict(lr=0.05, momentum=0.8, weight_decay=0.01)),
    ("sgd_nesterov_clip", optim.SGD, sgd_ref, dict(lr=0.05, momentum=0.9, nesterov=True,
                                                   clipnorm=1.5)),
    ("sgd_clipnorm", optim.SGD, sgd_ref, dict(lr=0.05, clipnorm=2.0)),
    ("adam", optim.Adam, adam_ref, dict(lr=0.01)),
    ("adam_betas_eps", optim.Adam, adam_ref, dict(lr=0.01, beta_1=0.5, beta_2=0.8,
                                                  epsilon=1e-3)),
    ("adam_l2", optim.Adam, adam_ref, dict(lr=0.01, weight_decay=0.05)),
    ("adam_no_bias_correction", optim.Adam, adam_ref, dict(lr=0.01, bias_correction=False)),
    ("adam_clipnorm", optim.Adam, adam_ref, dict(lr=0.01, clipnorm=1.0)),
    ("adamw", optim.AdamW, lambda **k: adam_ref(decoupled=True, **k),
     dict(lr=0.01, weight_decay=0.2)),
    ("adamw_default_decay", optim.AdamW, lambda **k: adam_ref(decoupled=True, weight_decay=0.004,
                                                             **k), dict(lr=0.01)),
    ("rmsprop", optim.RMSprop, rmsprop_ref, dict(lr=0.01)),
    ("rmsprop_eps_rho", optim.RMSprop, rmsprop_ref, dict(lr=0.01, rho=0.5, epsilon=1e-4)),
    ("rmsprop_wd_clip", optim.RMSprop, rmsprop_ref, dict(lr=0.01, weight_decay=0.1,
                                                         clipnorm=3.0)),
]


@pytest.mark.parametrize("name,cls,ref,kw", CASES, ids=[c[0] for c in CASES])
def test_every_option_follows_its_formula_over_several_steps(name, cls, ref, kw):
    p = mg.nn.Parameter(THETA0.copy())
    opt = cls([p], **kw)
    for g in GRADS:
        p.grad = mg.tensor(g)
        opt.step()
    np.testing.assert_allclose(p.numpy(), ref(**kw), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("epsilon", [1e-7, 1e-3])
def test_rmsprop_and_adam_epsilon_matter_where_gradients_are_tiny(epsilon):
    """With gradients near 1e-9 the step is lr g / (sqrt(s) + eps): eps decides it."""
    for cls, ref in ((optim.RMSprop, rmsprop_ref), (optim.Adam, adam_ref)):
        p = mg.nn.Parameter(THETA0.copy())
        opt = cls([p], lr=0.01, epsilon=epsilon)
        for g in GRADS:
            p.grad = mg.tensor(g)
            opt.step()
        np.testing.assert_allclose(p.numpy()[2], ref(lr=0.01, epsilon=epsilon)[2], rtol=1e-12)
    a = rmsprop_ref(lr=0.01, epsilon=1e-7)[2]
    b = rmsprop_ref(lr=0.01, epsilon=1e-3)[2]
    assert abs(a - b) > 1e-4          # the test data really depends on epsilon


def test_adamw_differs_from_adam_with_l2_after_the_first_step():
    kw = dict(lr=0.01, weight_decay=0.2)
    assert not np.allclose(adam_ref(decoupled=True, **kw), adam_ref(**kw))
    p = mg.nn.Parameter(THETA0.copy())
    opt = optim.AdamW([p], **kw)
    for g in GRADS:
        p.grad = mg.tensor(g)
        opt.step()
    assert not np.allclose(p.numpy(), adam_ref(**kw))


def test_optimizer_refuses_empty_and_duplicate_parameter_lists():
    with pytest.raises(ValueError, match="empty parameter list.*build"):
        optim.Adam([])
    model = mg.nn.Sequential([mg.nn.Dense(4), mg.nn.Dense(2)])       # not built yet
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam(model.parameters())
    p = quad_param()
    with pytest.raises(ValueError, match="parameters 0 and 1 are the same tensor"):
        optim.SGD([p, p])


def test_state_belongs_to_the_bound_parameters_only():
    opt = optim.Adam(lr=0.1)
    for _ in range(5):                   # rebinding to new parameters: no stale state
        p = quad_param()
        opt.bind([p])
        p.grad = mg.tensor(np.ones(2))
        opt.step()
        assert list(opt.state) == [p] and opt.state[p]["t"] == 1
    q = quad_param()
    opt.bind([p, q])                     # the state of p stays
    assert opt.state[p]["t"] == 1


def test_sgd_with_the_same_parameter_twice_is_refused_not_applied_twice():
    p = quad_param()
    with pytest.raises(ValueError):
        optim.SGD([p, p], lr=0.1)
    np.testing.assert_array_equal(p.numpy(), [1.0, -2.0])


def test_keras_default_hyperparameters():
    """Defaults are Keras': they decide what compile(optimizer='adam') trains with."""
    assert optim.SGD().lr == pytest.approx(0.01)
    assert optim.Adam().lr == pytest.approx(0.001) and optim.Adam().epsilon == 1e-7
    assert (optim.Adam().beta_1, optim.Adam().beta_2) == (0.9, 0.999)
    assert optim.AdamW().lr == pytest.approx(0.001) and optim.AdamW().weight_decay == 0.004
    assert optim.RMSprop().lr == pytest.approx(0.001) and optim.RMSprop().rho == 0.9
    assert optim.RMSprop().epsilon == 1e-7
    assert optim.StepDecay(1.0, 2).gamma == 0.1


def assert_same_steps(opt, p, other, q, steps=3):
    """Three steps of ``opt`` on ``p`` and of ``other`` on ``q`` (gradient = the
    parameter) leave them bitwise equal."""
    for _ in range(steps):
        grad_of(p)
        grad_of(q)
        opt.step()
        other.step()
    np.testing.assert_array_equal(p.numpy(), q.numpy())


@pytest.mark.parametrize("make", [
    lambda: optim.SGD(learning_rate=0.05, momentum=0.5, nesterov=True, weight_decay=0.1),
    lambda: optim.Adam(learning_rate=0.02, beta_1=0.8, beta_2=0.95, epsilon=1e-6,
                       clipnorm=2.0),
    lambda: optim.AdamW(learning_rate=0.03, weight_decay=0.2),
    lambda: optim.RMSprop(learning_rate=0.04, rho=0.7, epsilon=1e-5)])
def test_get_config_rebuilds_the_same_optimizer(make):
    opt = make()
    cfg = opt.get_config()
    cls = getattr(optim, cfg.pop("name"))
    assert cls is type(opt)
    again = cls(**cfg)
    assert again.get_config() == opt.get_config()
    p, q = quad_param(), quad_param()
    opt.bind([p])
    again.bind([q])
    assert_same_steps(opt, p, again, q)


def test_get_config_of_a_schedule_reports_the_current_rate():
    opt = optim.SGD(learning_rate=optim.StepDecay(1.0, 1, 0.5))
    p = quad_param()
    opt.bind([p])
    grad_of(p)
    opt.step()
    assert opt.get_config()["learning_rate"] == pytest.approx(0.5)


def test_momentum_of_one_keeps_every_past_gradient():
    p = quad_param()
    opt = optim.SGD([p], learning_rate=0.1, momentum=1.0)
    theta, v = np.array([1.0, -2.0]), np.zeros(2)
    for _ in range(3):
        g = theta.copy()
        grad_of(p)
        opt.step()
        v = v - 0.1 * g
        theta = theta + v
    np.testing.assert_allclose(p.numpy(), theta)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, momentum=0.9, weight_decay=0.1), lambda ps: optim.SGD(ps),
    lambda ps: optim.Adam(ps, weight_decay=0.1), lambda ps: optim.AdamW(ps),
    lambda ps: optim.RMSprop(ps, weight_decay=0.1)])
def test_every_optimizer_on_every_backend(make, device):
    rng = np.random.default_rng(0)
    w0, gs = rng.standard_normal(5), rng.standard_normal((3, 5))
    p = mg.nn.Parameter(mg.tensor(w0, device=device).data)
    ref = mg.nn.Parameter(w0.copy())
    opt, ref_opt = make([p]), make([ref])
    for g in gs:
        p.grad, ref.grad = mg.tensor(g, device=device), mg.tensor(g)
        opt.step()
        ref_opt.step()
    assert p.device == mg.tensor(0.0, device=device).device
    for st in opt.state[p].values():
        if hasattr(st, "shape"):
            assert type(st) is type(p.data)
    np.testing.assert_allclose(p.numpy(), ref.numpy(), rtol=1e-12)


def test_schedules_follow_their_formulas():
    e = optim.ExponentialDecay(0.5, decay_steps=4, decay_rate=0.1)
    assert e(2) == pytest.approx(0.5 * 0.1 ** 0.5) and e(8) == pytest.approx(0.005)
    s = optim.ExponentialDecay(0.5, decay_steps=4, decay_rate=0.1, staircase=True)
    assert s(3) == 0.5 and s(5) == pytest.approx(0.05)
    c = optim.CosineDecay(2.0, decay_steps=8, alpha=0.25)
    for step in (0, 2, 4, 6, 8, 12):
        t = min(step, 8) / 8
        assert c(step) == pytest.approx(2.0 * (0.75 * 0.5 * (1 + np.cos(np.pi * t)) + 0.25))
    pw = optim.PiecewiseConstantDecay([2, 5], [1.0, 0.5, 0.1])
    assert [pw(i) for i in (0, 2, 3, 5, 6, 100)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    sd = optim.StepDecay(1.0, step_size=3, gamma=0.5)
    assert [sd(i) for i in (0, 2, 3, 6, 7)] == [1.0, 1.0, 0.5, 0.25, 0.25]


def test_parameters_without_a_gradient_are_skipped_wherever_they_are():
    p, q = quad_param(), quad_param()
    opt = optim.SGD([p, q], lr=0.1)
    grad_of(q)                               # p (first) has no gradient
    opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0, -2.0])
    np.testing.assert_allclose(q.numpy(), [0.9, -1.8])


def test_clipnorm_leaves_small_gradients_alone():
    for cls in (optim.SGD, optim.Adam):
        p, ref = quad_param(), quad_param()
        opt, ref_opt = cls([p], lr=0.1, clipnorm=100.0), cls([ref], lr=0.1)
        assert_same_steps(opt, p, ref_opt, ref)


def test_nesterov_without_momentum_says_so():
    with pytest.raises(ValueError, match=r"^SGD: nesterov=True needs momentum > 0$"):
        optim.SGD(nesterov=True)


def test_with_zero_epsilon_first_moments_are_still_flushed_and_second_moments_kept():
    """eps = 0: sqrt(v) (sqrt(s)) is the whole denominator, so tiny second moments stay;
    Adam's m still decays out of the subnormal range (after 830 steps 0.1 * 0.9^830 would
    be subnormal; the flush sets it to 0 long before)."""
    for make, first, second in ((lambda p: optim.Adam([p], lr=1e-3, epsilon=0.0), "m", "v"),
                                (lambda p: optim.RMSprop([p], lr=1e-3, epsilon=0.0), None,
                                 "s")):
        p = mg.nn.Parameter(np.array([1.0, 1.0, 1.0], dtype=np.float32))
        opt = make(p)
        for t in range(830):
            g = [1.0, 1e-21, 1.0] if t == 0 else [1.0, 0.0, 0.0]
            p.grad = mg.tensor(np.array(g, dtype=np.float32))
            opt.step()
        st = opt.state[p]
        assert _subnormal(st[second])[1], (second, st[second])
        if first:
            assert not _subnormal(st[first]).any() and st[first][2] == 0, st[first]


# --- global norm clipping, parameter groups, warm-up ---------------------------------------
def _two_params(seed=0):
    r = np.random.default_rng(seed)
    return [mg.tensor(r.standard_normal(s), requires_grad=True) for s in ((3, 4), (4,))]


def test_clip_grad_norm_returns_the_norm_before_and_scales_every_gradient():
    ps = _two_params()
    gs = [np.full(p.shape, 2.0) for p in ps]
    for p, g in zip(ps, gs):
        p.grad = mg.tensor(g.copy())
    norm = float(np.sqrt(sum((g * g).sum() for g in gs)))          # sqrt(16 * 4) = 8
    assert optim.clip_grad_norm(ps, 2.0).item() == pytest.approx(norm)
    for p, g in zip(ps, gs):
        np.testing.assert_allclose(p.grad.numpy(), g * 2.0 / (norm + 1e-6))
    before = [p.grad.numpy().copy() for p in ps]
    assert optim.clip_grad_norm(ps, 100.0).item() == pytest.approx(2.0, rel=1e-6)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.grad.numpy(), b)        # below max_norm: untouched
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_grad_norm(ps, -1.0)


def test_global_clipnorm_follows_keras_formula_over_several_steps():
    """g <- g * c / max(||all g||, c), then SGD; with varied, tiny and large gradients."""
    ps = _two_params()
    ref = [p.numpy().copy() for p in ps]
    opt = optim.SGD(ps, lr=0.1, global_clipnorm=1.0)
    r = np.random.default_rng(3)
    for scale in (10.0, 1e-3, 0.3, 100.0):
        gs = [r.standard_normal(p.shape) * scale for p in ps]
        for p, g in zip(ps, gs):
            p.grad = mg.tensor(g)
        opt.step()
        n = np.sqrt(sum((g * g).sum() for g in gs))
        for i, g in enumerate(gs):
            ref[i] = ref[i] - 0.1 * g * (1.0 / max(n, 1.0))
    for p, q in zip(ps, ref):
        np.testing.assert_allclose(p.numpy(), q, rtol=1e-12)
    assert opt.get_config()["global_clipnorm"] == 1.0
    with pytest.raises(ValueError, match="not both"):
        optim.Adam(ps, clipnorm=1.0, global_clipnorm=1.0)


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop])
def test_parameter_groups_set_each_parameters_weight_decay(cls):
    """A group's weight_decay replaces the optimizer's for its parameters only: the same
    steps as two optimizers, one per decay."""
    ps, qs, rs = _two_params(), _two_params(), _two_params()
    grouped = cls([{"params": [ps[0]], "weight_decay": 0.2}, {"params": [ps[1]]}],
                  lr=0.01, weight_decay=0.05)
    a, b = cls([qs[0]], lr=0.01, weight_decay=0.2), cls([qs[1]], lr=0.01, weight_decay=0.05)
    plain = cls(rs, lr=0.01, weight_decay=0.05)
    r = np.random.default_rng(1)
    for _ in range(4):
        for i in range(2):
            g = r.standard_normal(ps[i].shape)
            ps[i].grad, qs[i].grad, rs[i].grad = mg.tensor(g), mg.tensor(g), mg.tensor(g)
        grouped.step(), a.step(), b.step(), plain.step()
    for p, q in zip(ps, qs):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-12)
    assert not np.allclose(ps[0].numpy(), rs[0].numpy(), rtol=1e-9, atol=0)   # group used
    np.testing.assert_allclose(ps[1].numpy(), rs[1].numpy(), rtol=1e-12)


def test_parameter_group_errors_and_weight_decay_groups():
    ps = _two_params()
    with pytest.raises(ValueError, match="a parameter group is a dict with 'params'"):
        optim.Adam([{"params": ps, "lr": 0.1}])
    with pytest.raises(ValueError, match="weight_decay"):
        optim.Adam([{"params": ps, "weight_decay": -1.0}])
    model = mg.nn.Dense(3, input_shape=(4,))
    decay, rest = optim.weight_decay_groups(model, 0.1)
    assert decay["params"] == [model.kernel] and decay["weight_decay"] == 0.1
    assert rest["params"] == [model.bias] and rest["weight_decay"] == 0.0


def test_cosine_decay_with_linear_warmup_as_keras():
    s = optim.CosineDecay(0.0, 10, alpha=0.1, warmup_target=1.0, warmup_steps=5)
    np.testing.assert_allclose([s(i) for i in range(5)], [0, 0.2, 0.4, 0.6, 0.8])
    for i in range(5, 18):
        t = min(i - 5, 10) / 10
        assert s(i) == pytest.approx(0.9 * 0.5 * (1 + np.cos(np.pi * t)) + 0.1)
    with pytest.raises(ValueError, match="warmup_steps needs warmup_target"):
        optim.CosineDecay(0.1, 10, warmup_steps=5)
    with pytest.raises(ValueError, match="warmup_steps must be an integer"):
        optim.CosineDecay(0.1, 10, warmup_target=1.0, warmup_steps=-1)


def test_clip_grad_norm_edges_from_mutation_testing():
    """A single tensor; a max_norm below 1; no change when the norm is under max_norm by
    less than a factor 2; the norm returned in the gradients' dtype; its message."""
    p = mg.tensor(np.array([3.0, 4.0], np.float32), requires_grad=True)
    p.grad = mg.tensor(np.array([3.0, 4.0], np.float32))
    norm = optim.clip_grad_norm(p, 0.5)
    assert norm.item() == pytest.approx(5.0) and norm.dtype == np.float32
    np.testing.assert_allclose(p.grad.numpy(), [0.3, 0.4], rtol=1e-5)
    p.grad = mg.tensor(np.array([0.6, 0.8], np.float32))       # norm 1 under max_norm 1.5
    optim.clip_grad_norm([p], 1.5)
    np.testing.assert_array_equal(p.grad.numpy(), np.array([0.6, 0.8], np.float32))
    q = mg.tensor(np.ones(2), requires_grad=True)                # float64 gradients:
    q.grad = mg.tensor(np.ones(2))
    assert optim.clip_grad_norm([q], 1.0).dtype == np.float64   # the norm in their dtype
    with pytest.raises(ValueError, match=r"^clip_grad_norm: max_norm must be"):
        optim.clip_grad_norm([p], -1)
    decay, rest = optim.weight_decay_groups([mg.nn.Parameter(np.ones((2, 2))),
                                             mg.nn.Parameter(np.ones(2))], 0.1)
    assert [q.shape for q in decay["params"]] == [(2, 2)]
    assert [q.shape for q in rest["params"]] == [(2,)]
