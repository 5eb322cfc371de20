"""Mixed precision: autocast, dtype policies and dynamic loss scaling (on the CPU; the
same code runs on CUDA)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F
from minigrad import kernels, nn, optim
from minigrad.keras import layers, models
from minigrad.mixed_precision import Policy, global_policy, set_global_policy
from minigrad.optim import LossScaleOptimizer

F16, F32, F64 = np.dtype("float16"), np.dtype("float32"), np.dtype("float64")


@pytest.fixture(autouse=True)
def _default_policy():
    yield
    set_global_policy(None)


def _rand(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


# --- autocast ----------------------------------------------------------------------------

def _products():
    x = _rand(6, 5, 5, 3)
    W = _rand(3, 3, 3, 4, seed=1, scale=0.3)
    b = _rand(4, seed=2)
    return [
        ("matmul", lambda t, w, c: (t.reshape(6, -1)[:, :36] @ w.reshape(36, 3)) *
         c[:3].astype("float16")),
        ("linear+relu", lambda t, w, c: F.linear(t.reshape(6, -1)[:, :36], w.reshape(36, 3),
                                                 c[:3], activation="relu")),
        ("conv2d", lambda t, w, c: F.conv2d(t, w, c, layout="NHWC", padding="same")),
        ("conv2d+relu+pool", lambda t, w, c: F.conv2d(t, w, c, layout="NHWC",
                                                     activation="relu", max_pool=2)),
    ], (x, W, b)


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])
@pytest.mark.parametrize("k", range(4))
def test_products_run_in_float16_and_gradients_come_back_in_float32(k, reference):
    cases, (x, W, b) = _products()
    name, op = cases[k]

    def run(autocast):
        xt = mg.tensor(x)
        wt, bt = mg.tensor(W, requires_grad=True), mg.tensor(b, requires_grad=True)
        with kernels.reference_ops(reference), mg.autocast(enabled=autocast):
            y = op(xt, wt, bt)
        (y.astype("float32") * mg.tensor(_rand(*y.shape, seed=3))).sum().backward()
        return y, wt.grad, bt.grad
    y16, gw16, gb16 = run(True)
    y32, gw32, gb32 = run(False)
    assert y16.dtype == F16 and y32.dtype == F32, name
    assert gw16.dtype == F32 and gb16.dtype == F32          # the master weights' dtype
    scale = np.abs(y32.numpy()).max()
    np.testing.assert_allclose(y16.numpy().astype(np.float32), y32.numpy(), rtol=0,
                               atol=4e-3 * scale)
    for g16, g32 in ((gw16, gw32), (gb16, gb32)):
        np.testing.assert_allclose(g16.numpy(), g32.numpy(), rtol=0,
                                   atol=4e-3 * np.abs(g32.numpy()).max())


@pytest.mark.parametrize("op", [
    lambda t: F.softmax(t), lambda t: F.log_softmax(t), lambda t: t.sum(), lambda t: t.mean(),
    lambda t: F.logsumexp(t, axis=1), lambda t: F.exp(t), lambda t: F.log(F.abs(t)),
    lambda t: t ** 2, lambda t: F.cross_entropy(t, np.array([0, 1, 2, 3])),
    lambda t: F.binary_cross_entropy_with_logits(t, np.ones((4, 5), np.float32)),
    lambda t: F.layer_norm(t, (5,)),
], ids=["softmax", "log_softmax", "sum", "mean", "logsumexp", "exp", "log", "pow",
        "cross_entropy", "bce_logits", "layer_norm"])
def test_precision_sensitive_ops_run_in_float32(op):
    x = mg.tensor(_rand(4, 5).astype(np.float16), requires_grad=True)
    with mg.autocast():
        y = op(x)
    assert y.dtype == F32
    y.sum().backward()
    assert x.grad.dtype == F16                       # converted back on the way down
    x64 = mg.tensor(x.numpy().astype(np.float64), requires_grad=True)
    y64 = op(x64)
    y64.sum().backward()
    np.testing.assert_allclose(y.numpy(), y64.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy().astype(np.float64), x64.grad.numpy(),
                               rtol=2e-3, atol=1e-4)


def test_autocast_leaves_other_dtypes_and_other_ops_alone():
    a64 = mg.tensor(_rand(3, 4).astype(np.float64))
    a16 = mg.tensor(_rand(3, 4).astype(np.float16))
    a32 = mg.tensor(_rand(4, 2))
    with mg.autocast():
        assert (a64 @ a64.T).dtype == F64             # float64 is never lowered
        assert F.relu(a16).dtype == F16               # elementwise ops keep their dtype
        assert F.tanh(a32).dtype == F32
        assert (a32 * 2.0).dtype == F32
        assert (a32.T @ a32).dtype == F16
        with mg.autocast(enabled=False):
            assert (a32.T @ a32).dtype == F32
            assert F.softmax(a16).dtype == F16        # nothing converted when off
        assert (a32.T @ a32).dtype == F16
    assert (a32.T @ a32).dtype == F32                 # restored on exit

    @mg.autocast()
    def product(t):
        return t.T @ t
    assert product(a32).dtype == F16
    assert (a32.T @ a32).dtype == F32


def test_autocast_dtype_names():
    with pytest.raises(ValueError, match="'float16' or 'bfloat16', got 'float32'"):
        mg.autocast("float32")
    with pytest.raises(ValueError, match="got 'int8'"):
        mg.autocast("int8")


def test_bfloat16_autocast_when_ml_dtypes_is_installed():
    pytest.importorskip("ml_dtypes")
    W = mg.tensor(_rand(4, 3), requires_grad=True)
    x = mg.tensor(_rand(5, 4))
    with mg.autocast("bfloat16"):
        y = F.softmax(x @ W)
    assert y.dtype == F32
    y.sum().backward()
    assert W.grad.dtype == F32 and np.isfinite(W.grad.numpy()).all()
    np.testing.assert_allclose(y.numpy(), F.softmax(x @ W).numpy(), atol=2e-2)


# --- policies ----------------------------------------------------------------------------

def test_float16_as_the_default_dtype_points_to_mixed_precision():
    with pytest.raises(ValueError, match=r"set_global_policy\('mixed_float16'\)"):
        mg.set_default_dtype("float16")
    assert mg.get_default_dtype() == F32


def test_policy_names_and_dtypes():
    p = Policy("mixed_float16")
    assert (p.name, p.variable_dtype, p.compute_dtype, p.is_mixed) == \
        ("mixed_float16", F32, F16, True)
    assert Policy("float64").compute_dtype == F64 and not Policy("float64").is_mixed
    assert Policy(p) == p and repr(p) == '<Policy "mixed_float16">'
    with pytest.raises(ValueError, match=r"unknown dtype policy 'float16'.*master weights"):
        Policy("float16")
    with pytest.raises(ValueError, match=r"known: \['float32', 'float64', 'mixed_float16'"):
        Policy("half")
    assert global_policy() == Policy("float32")
    set_global_policy("mixed_float16")
    assert global_policy() == p
    set_global_policy("float32")                      # the default again
    assert global_policy() == Policy("float32") and nn.Dense(2)._policy is None


def test_layers_built_under_the_mixed_policy_keep_float32_weights():
    set_global_policy("mixed_float16")
    dense = nn.Dense(3, input_shape=(4,))
    conv = nn.Conv2D(2, 3, input_shape=(5, 5, 1))
    bn = nn.BatchNormalization(input_shape=(3,))
    for layer in (dense, conv, bn):
        assert layer.dtype_policy.name == "mixed_float16"
        assert layer.compute_dtype == F16 and layer.variable_dtype == F32
        assert all(p.dtype == F32 for p in layer.parameters())
    assert bn.moving_mean.dtype == F32
    assert dense(_rand(2, 4)).dtype == F16
    assert conv(_rand(2, 5, 5, 1)).dtype == F16
    set_global_policy(None)
    assert nn.Dense(3).dtype_policy == Policy("float32")   # layers made after: default


def test_a_float32_layer_in_a_mixed_model():
    set_global_policy("mixed_float16")
    first = nn.Dense(8, activation="relu", input_shape=(4,))
    last = nn.Dense(3)
    last.dtype_policy = "float32"
    model = nn.Sequential([first, last])
    x = _rand(5, 4)
    assert first(x).dtype == F16
    y = model(x)
    assert y.dtype == F32                              # its input converted up, computed in 32
    ref = (np.maximum(x @ first.kernel.numpy() + first.bias.numpy(), 0) @
           last.kernel.numpy() + last.bias.numpy())
    np.testing.assert_allclose(y.numpy(), ref, atol=5e-3 * np.abs(ref).max())


def test_dtype_policy_is_set_before_the_weights_exist():
    layer = nn.Dense(2, input_shape=(3,))
    layer.dtype_policy = "mixed_float16"               # float32 weights either way: allowed
    assert layer.compute_dtype == F16
    with pytest.raises(ValueError, match=r"'dense\w*': its weights are float32 already; a "
                                         r"float64 policy must be set before"):
        layer.dtype_policy = "float64"
    late = nn.Dense(2)
    late.dtype_policy = "float64"
    late(_rand(1, 3))
    assert late.kernel.dtype == F64


def test_a_policy_set_on_a_layer_reaches_its_sub_layers():
    mha = nn.MultiHeadAttention(num_heads=2, key_dim=4)
    mha.dtype_policy = "mixed_float16"
    assert all(m.dtype_policy.name == "mixed_float16" for m in mha.modules()
               if isinstance(m, nn.Layer))


@pytest.mark.parametrize("fuse", [True, False])
def test_mixed_cnn_matches_float32_with_the_same_weights(fuse):
    def build():
        mg.manual_seed(0)
        return models.Sequential([
            layers.Conv2D(4, 3, activation="relu", input_shape=(10, 10, 1)),
            layers.MaxPooling2D(2), layers.Flatten(),
            layers.Dense(16, activation="relu"), layers.Dense(10, activation="softmax")],
            fuse=fuse)
    ref = build()
    set_global_policy("mixed_float16")
    mixed = build()
    mixed.set_weights(ref.get_weights())
    x = _rand(8, 10, 10, 1)
    p16, p32 = mixed(x), ref(x)
    assert p16.dtype == F32                            # softmax runs in float32
    np.testing.assert_allclose(p16.numpy(), p32.numpy(), atol=5e-3)


# --- dynamic loss scaling ------------------------------------------------------------------

def _regression(n=64, seed=0):
    x = _rand(n, 16, seed=seed)
    y = x @ _rand(16, 1, seed=seed + 1) + 1.0
    return x, y


def _train_tiny_loss(opt_factory, steps=5, autocast=True):
    """A linear model whose loss is weighted by 1e-6: in float16 its gradient (about 3e-8
    per output) is below the smallest float16 number."""
    x, y = _regression()
    W = mg.tensor(np.zeros((16, 1), np.float32), requires_grad=True)
    opt = opt_factory([W])
    for _ in range(steps):
        with mg.autocast(enabled=autocast):
            loss = F.mse_loss(mg.tensor(x) @ W, y) * 1e-6
        opt.zero_grad()
        (opt.scale_loss(loss) if isinstance(opt, LossScaleOptimizer) else loss).backward()
        opt.step()
    return W.numpy()


def test_loss_scaling_trains_what_float16_gradients_lose():
    w_plain = _train_tiny_loss(lambda ps: optim.SGD(ps, lr=2e4))
    assert not w_plain.any()                           # every gradient underflowed to zero
    w_scaled = _train_tiny_loss(lambda ps: LossScaleOptimizer(optim.SGD(ps, lr=2e4)))
    w_float32 = _train_tiny_loss(lambda ps: optim.SGD(ps, lr=2e4), autocast=False)
    assert np.abs(w_float32).max() > 0.1
    np.testing.assert_allclose(w_scaled, w_float32, atol=2e-2 * np.abs(w_float32).max())


def _overflowing_step(opt, W, x, y):
    with mg.autocast():
        loss = F.mse_loss(mg.tensor(x) @ W, y)
    opt.zero_grad()
    with np.errstate(over="ignore", invalid="ignore"):    # inf * 0 in the backward pass
        opt.scale_loss(loss).backward()
    return opt.step()


def test_a_step_with_overflowing_gradients_is_skipped_and_the_scale_halved():
    x, y = _regression(n=4)
    W = mg.tensor(_rand(16, 1, seed=5), requires_grad=True)
    inner = optim.Adam([W], lr=0.01)
    opt = LossScaleOptimizer(inner, initial_scale=2.0 ** 20)
    before = W.numpy().copy()
    applied = []
    while not applied or not applied[-1]:
        applied.append(_overflowing_step(opt, W, x, y))
        if not applied[-1]:
            np.testing.assert_array_equal(W.numpy(), before)   # untouched
            assert inner.iterations == 0 and not inner.state   # Adam's state untouched
    k = len(applied) - 1
    assert k >= 2 and opt.skipped_steps == k
    assert opt.loss_scale == 2.0 ** (20 - k)
    assert inner.iterations == 1 and not np.array_equal(W.numpy(), before)


def test_the_scale_doubles_after_growth_steps_clean_steps_in_a_row():
    x, y = _regression(n=64)
    W = mg.tensor(np.zeros((16, 1), np.float32), requires_grad=True)
    opt = LossScaleOptimizer(optim.SGD([W], lr=1e-3), initial_scale=4.0,
                             dynamic_growth_steps=3)
    scales = []
    for _ in range(7):
        assert _overflowing_step(opt, W, x, y)
        scales.append(opt.loss_scale)
    assert scales == [4, 4, 8, 8, 8, 16, 16]
    W.grad = None
    opt.inner_optimizer.params[0].grad = mg.tensor(np.full((16, 1), np.nan, np.float32))
    assert opt.step() is False and opt.loss_scale == 8 and opt._good_steps == 0


def test_a_fixed_scale_still_skips_non_finite_steps():
    W = mg.tensor(np.ones((2,), np.float32), requires_grad=True)
    opt = LossScaleOptimizer(optim.SGD([W], lr=1.0), initial_scale=8.0, dynamic=False)
    W.grad = mg.tensor(np.array([np.inf, 1.0], np.float32))
    assert opt.step() is False and opt.loss_scale == 8.0
    np.testing.assert_array_equal(W.numpy(), [1.0, 1.0])
    W.grad = mg.tensor(np.array([8.0, 16.0], np.float32))
    assert opt.step() is True
    np.testing.assert_array_equal(W.numpy(), [0.0, -1.0])   # gradient / 8 applied
    assert opt.loss_scale == 8.0


def test_gradients_that_overflow_at_any_scale_are_an_error():
    W = mg.tensor(np.ones((2,), np.float32), requires_grad=True)
    opt = LossScaleOptimizer(optim.SGD([W], lr=1.0), initial_scale=2.0 ** -22)
    W.grad = mg.tensor(np.array([np.nan, 1.0], np.float32))
    assert opt.step() is False and opt.step() is False
    assert opt.loss_scale == 2.0 ** -24
    with pytest.raises(FloatingPointError, match=r"inf or NaN even with the loss scale at "
                                                 r"5\.96046e-08.*dtype_policy = 'float32'"):
        opt.step()
    np.testing.assert_array_equal(W.numpy(), [1.0, 1.0])


def test_loss_scale_optimizer_arguments_and_delegation():
    W = mg.tensor(np.ones((2,), np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="LossScaleOptimizer: initial_scale"):
        LossScaleOptimizer(optim.SGD([W]), initial_scale=0)
    with pytest.raises(ValueError, match="LossScaleOptimizer: dynamic_growth_steps"):
        LossScaleOptimizer(optim.SGD([W]), dynamic_growth_steps=0)
    opt = LossScaleOptimizer("adam")
    assert isinstance(opt.inner_optimizer, optim.Adam) and opt.loss_scale == 2.0 ** 15
    with pytest.raises(TypeError, match="already a LossScaleOptimizer"):
        LossScaleOptimizer(opt)
    opt.bind([W])
    opt.lr = 0.25                                       # the inner optimizer's
    assert opt.inner_optimizer.learning_rate == 0.25 and opt.lr == 0.25
    assert opt.params == [W] and opt.iterations == 0
    loss = (W * 3.0).sum()
    assert float(opt.scale_loss(loss).item()) == pytest.approx(6.0 * 2 ** 15)
    cfg = opt.get_config()
    assert cfg["name"] == "LossScaleOptimizer" and cfg["inner_optimizer"]["name"] == "Adam"


# --- fit -------------------------------------------------------------------------------------

def _blobs(n=256, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = rng.standard_normal((3, 8)) * 3
    return (centres[y] + rng.standard_normal((n, 8))).astype(np.float32), y


def _fit(policy, x, y, epochs=4):
    set_global_policy(policy)
    mg.manual_seed(1)
    model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(8,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optim.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    set_global_policy(None)
    return model, hist.history


def test_fit_under_mixed_float16_scales_the_loss_and_trains_like_float32():
    x, y = _blobs()
    mixed, h16 = _fit("mixed_float16", x, y)
    ref, h32 = _fit(None, x, y)
    assert isinstance(mixed.optimizer, LossScaleOptimizer)
    assert not isinstance(ref.optimizer, LossScaleOptimizer)
    assert all(p.dtype == F32 for p in mixed.parameters())
    assert mixed.optimizer.skipped_steps == 0 and mixed.optimizer.iterations == 32
    np.testing.assert_allclose(h16["loss"], h32["loss"], rtol=2e-2)
    assert h16["accuracy"][-1] >= h32["accuracy"][-1] - 0.02 and h16["accuracy"][-1] > 0.9
    res16, res32 = mixed.evaluate(x, y, verbose=0), ref.evaluate(x, y, verbose=0)
    assert res16[0] == pytest.approx(res32[0], rel=5e-2)


def test_fit_reports_the_unscaled_loss_and_evaluate_agrees():
    x, y = _blobs(64)
    set_global_policy("mixed_float16")
    model = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(8,))])
    model.compile(optimizer=optim.SGD(learning_rate=0.0),
                  loss="sparse_categorical_crossentropy")
    loss = model.fit(x, y, batch_size=64, epochs=1, verbose=0).history["loss"][0]
    assert loss == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    assert loss < 50                                     # not multiplied by 2**15


def test_a_saved_mixed_model_loads_with_its_loss_scale_settings(tmp_path):
    set_global_policy("mixed_float16")
    model = models.Sequential([layers.Dense(3, input_shape=(4,))])
    model.compile(LossScaleOptimizer(optim.SGD(learning_rate=0.1), initial_scale=64.0,
                                     dynamic_growth_steps=7), loss="mse")
    path = model.save(tmp_path / "m.npz")
    loaded = mg.keras.models.load_model(path)
    opt = loaded.optimizer
    assert isinstance(opt, LossScaleOptimizer) and isinstance(opt.inner_optimizer, optim.SGD)
    assert (opt.loss_scale, opt.dynamic_growth_steps, opt.lr) == (64.0, 7, 0.1)


def test_gpt_under_mixed_float16():
    tokens = np.random.default_rng(0).integers(0, 11, (2, 8))
    mg.manual_seed(0)
    ref = nn.GPT(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16)
    set_global_policy("mixed_float16")
    mg.manual_seed(0)
    mixed = nn.GPT(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=16)
    mixed.load_state_dict(ref.state_dict())
    assert mixed(tokens).dtype == F16
    loss16, loss32 = mixed.loss(tokens[:, :-1], tokens[:, 1:]), ref.loss(tokens[:, :-1],
                                                                          tokens[:, 1:])
    assert loss16.dtype == F32
    assert float(loss16.item()) == pytest.approx(float(loss32.item()), rel=5e-3)
    opt = LossScaleOptimizer(optim.AdamW(mixed.parameters(), lr=1e-3))
    opt.scale_loss(loss16).backward()
    assert all(p.grad.dtype == F32 for p in mixed.parameters())
    assert opt.step() is True


def test_fit_skips_the_steps_whose_gradients_overflow_without_a_warning():
    x, y = _blobs(128)
    set_global_policy("mixed_float16")
    mg.manual_seed(1)
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(LossScaleOptimizer(optim.Adam(learning_rate=0.01), initial_scale=2.0 ** 30),
                  "sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x[:32], y[:32])               # warnings are errors in this suite
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    opt = model.optimizer
    assert opt.skipped_steps == 1 and opt.loss_scale == 2.0 ** 29 and opt.iterations == 0
    model.fit(x, y, batch_size=32, epochs=10, verbose=0)
    assert opt.loss_scale <= 2.0 ** 24 and opt.iterations > 0
    assert model.evaluate(x, y, verbose=0) < 0.5


def test_mixed_precision_on_a_device_reads_back_twice_per_step():
    """On a device (the strict backend counts reads like a GPU's) a loss-scaled step reads
    back the loss and metrics, and the flag that says whether the gradients are finite."""
    from strict_backend import TRANSFERS
    x, y = _blobs(40)
    set_global_policy("mixed_float16")
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                               layers.Dense(3, activation="softmax")]).to("strict")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:8], y[:8], batch_size=8, epochs=1, verbose=0)
    before = TRANSFERS["count"]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)            # 5 steps
    assert TRANSFERS["count"] - before == 10
    assert all(p.device == "strict" and p.dtype == F32 for p in model.parameters())
    assert model.optimizer.iterations == 6


# --- from mutation testing ---------------------------------------------------------------
def test_half_dtype_names_and_the_missing_ml_dtypes_message(monkeypatch):
    from minigrad.mixed_precision import half_dtype
    assert half_dtype(np.float16) == F16 and half_dtype(np.dtype("float16")) == F16
    with pytest.raises(ValueError, match=r"got <class 'numpy\.float32'>"):
        half_dtype(np.float32)
    import sys
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)
    with pytest.raises(ImportError, match=r"^bfloat16 needs the ml_dtypes package \(pip "
                                          r"install ml_dtypes\)$"):
        half_dtype("bfloat16")


def test_autocast_lets_exceptions_through_and_restores_the_state():
    with pytest.raises(KeyError):
        with mg.autocast():
            raise KeyError("inside")
    a = mg.tensor(_rand(2, 2))
    assert (a @ a).dtype == F32


def test_a_float32_policy_scope_turns_autocast_off():
    a = mg.tensor(_rand(2, 2))
    with mg.autocast():
        with Policy("float32").scope():
            assert (a @ a).dtype == F32
        with Policy("mixed_float16").scope():
            assert (a @ a).dtype == F16
    assert Policy("float32") != "float32" and Policy("float32") != Policy("float64")
    assert len({Policy("float32"), Policy("float32"), Policy("mixed_float16")}) == 2


def test_loss_scale_optimizer_defaults_and_attribute_lookup():
    import copy
    opt = LossScaleOptimizer(optim.SGD(learning_rate=0.1))
    assert (opt.loss_scale, opt.dynamic, opt.dynamic_growth_steps, opt.skipped_steps) == \
        (2.0 ** 15, True, 2000, 0)
    with pytest.raises(AttributeError, match=r"__no_such__"):
        opt.__no_such__
    with pytest.raises(AttributeError, match=r"no_such"):
        opt.no_such                                       # the inner optimizer has none
    bare = object.__new__(LossScaleOptimizer)             # no inner optimizer yet
    with pytest.raises(AttributeError, match="inner_optimizer"):
        bare.learning_rate
    twin = copy.deepcopy(opt)
    assert twin.inner_optimizer is not opt.inner_optimizer and twin.lr == 0.1


def test_the_overflow_message_in_full():
    W = mg.tensor(np.ones((1,), np.float32), requires_grad=True)
    opt = LossScaleOptimizer(optim.SGD([W], lr=1.0), initial_scale=2.0 ** -24)
    W.grad = mg.tensor(np.array([np.inf], np.float32))
    with pytest.raises(FloatingPointError, match=(
            r"^LossScaleOptimizer: the gradients are inf or NaN even with the loss scale at "
            r"5\.96046e-08: the model's numbers overflow \(check the data and the learning "
            r"rate, or keep the layer that overflows in float32: layer\.dtype_policy = "
            r"'float32'\)$")):
        opt.step()


def test_policy_messages_in_full():
    with pytest.raises(ValueError, match=(
            r"^unknown dtype policy 'float16'; known: \['float32', 'float64', "
            r"'mixed_float16', 'mixed_bfloat16'\] \(training in pure float16 needs float32 "
            r"master weights: use 'mixed_float16'\)$")):
        Policy("float16")
    with pytest.raises(ValueError, match=r"'bfloat16'; known: .*master weights"):
        Policy("bfloat16")
    with pytest.raises(ValueError, match=r"^unknown dtype policy 'half'; known: \[.*\]$"):
        Policy("half")
    assert repr(LossScaleOptimizer("sgd")) == "LossScaleOptimizer(SGD, loss_scale=32768)"


def test_dropout_on_float16_activations():
    """NumPy's generator has no float16 draws: dropout draws in float32 for a float16
    input and keeps its dtype; a mixed-precision model with Dropout trains."""
    mg.manual_seed(0)
    x = mg.tensor(np.ones((64, 32), np.float16), requires_grad=True)
    y = F.dropout(x, 0.25)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == np.float16
    assert set(np.unique(y.numpy()).tolist()) == {0.0, np.float16(1 / 0.75)}
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
    mg.manual_seed(0)
    keep32 = F.dropout(mg.tensor(np.ones((64, 32), np.float32)), 0.25).numpy() != 0
    np.testing.assert_array_equal(y.numpy() != 0, keep32)      # the same float32 draws
    set_global_policy("mixed_float16")
    m = models.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                           layers.Dropout(0.5), layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    h = m.fit(np.ones((8, 4), np.float32), np.zeros(8, int), epochs=2, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
