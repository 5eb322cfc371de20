"""Silent wrong results turned into right results or clear errors, and argument
validation of every public constructor and of fit/evaluate/predict."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import optim
from minigrad.keras import layers, models
from minigrad.keras.utils import to_categorical


# --- labels, dtypes, conversions --------------------------------------------------------
def test_bool_class_labels_are_refused_not_used_as_a_mask():
    logits = mg.tensor([[1.0, 2.0], [0.5, -1.0]])
    for fn in (F.cross_entropy, F.nll_loss):
        with pytest.raises(TypeError, match="bool.*mask"):
            fn(logits, np.array([True, False]))


def test_strings_and_objects_do_not_make_tensors():
    for bad in ("abc", ["a", "b"], [1, "a"], None, {"a": 1}):
        with pytest.raises(TypeError, match="tensors hold numbers"):
            mg.tensor(bad)


def test_iteration_and_numpy_conversion():
    t = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(t)
    assert len(rows) == 2 and rows[1].numpy().tolist() == [3.0, 4.0]
    with pytest.raises(TypeError, match="0-d"):
        list(mg.tensor(1.0))
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64


def test_float16_default_dtype_is_refused_until_mixed_precision():
    with pytest.raises(ValueError, match="float16"):
        mg.set_default_dtype("float16")
    assert mg.get_default_dtype() == np.float32


def test_complex_inputs_are_refused_by_fit_and_predict():
    m = models.Sequential([layers.Dense(2, input_shape=(3,))])
    m.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 3), dtype=np.complex64)
    with pytest.raises(TypeError, match="imaginary"):
        m.predict(x)
    with pytest.raises(TypeError, match="x has dtype complex64"):
        m.fit(x, np.ones((4, 2)), verbose=0)


# --- in-place changes a pending graph needs ------------------------------------------------
def test_assignment_into_a_tensor_a_graph_needs_makes_backward_raise():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    with mg.no_grad():
        x[0] = 10
    with pytest.raises(RuntimeError, match="modified in place: input 0 of Mul"):
        y.backward()


def test_assignment_into_a_constant_operand_makes_backward_raise():
    c = mg.tensor([1.0, 2.0, 3.0])
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * c).sum()
    c[0] = 5
    with pytest.raises(RuntimeError, match="input 1 of Mul"):
        y.backward()


def test_assignment_through_detach_counts_as_one_into_the_original():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    x.detach()[1] = 7
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_assignment_before_the_forward_pass_is_fine():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with mg.no_grad():
        x[0] = 10
    (x * x).sum().backward()
    assert x.grad.numpy().tolist() == [20.0, 4.0, 6.0]
    with pytest.raises(RuntimeError, match="no_grad"):       # the message says how
        x[0] = 1


# --- gradients -------------------------------------------------------------------------
def test_leaf_gradient_keeps_the_leaf_dtype():
    w = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    (w * mg.tensor(np.ones(3))).sum().backward()          # float64 flows in
    assert w.grad.dtype == np.float32
    w.grad = None
    (w * 2).sum().backward(mg.tensor(np.float64(1.0)))
    assert w.grad.dtype == np.float32


def test_grad_outputs_stay_in_the_graph_with_create_graph():
    x = mg.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    v = mg.tensor([3.0, 4.0], dtype="float64", requires_grad=True)
    (g,) = mg.grad(x * x, x, grad_outputs=v, create_graph=True)     # g = 2 x v
    (gv,) = mg.grad(g.sum(), v)
    assert gv.numpy().tolist() == [2.0, 4.0]


def test_power_gradients_at_zero_take_the_limits():
    x = mg.tensor([0.0, 2.0], dtype="float64", requires_grad=True)
    (x ** 0).sum().backward()
    assert x.grad.numpy().tolist() == [0.0, 0.0]
    b = mg.tensor([0.0, 0.0], dtype="float64", requires_grad=True)
    e = mg.tensor([2.0, 0.5], dtype="float64", requires_grad=True)
    (b ** e).sum().backward()
    assert e.grad.numpy().tolist() == [0.0, 0.0]
    (g,) = mg.grad((x ** 0).sum(), x, create_graph=True)
    assert g.numpy().tolist() == [0.0, 0.0]
    torch = pytest.importorskip("torch")
    tb = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    te = torch.tensor([2.0, 0.5], dtype=torch.float64, requires_grad=True)
    (tb ** te).sum().backward()
    assert te.grad.tolist() == e.grad.numpy().tolist()


# --- layers ----------------------------------------------------------------------------
def test_batchnorm_axis_counts_the_batch_axis():
    bn = layers.BatchNormalization(axis=1, input_shape=(3, 5, 5))       # channels first
    assert bn.gamma.shape == (3,)
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 3, 5, 5)))
    assert bn(x).shape == (4, 3, 5, 5)
    assert layers.BatchNormalization(input_shape=(5, 5, 3)).gamma.shape == (3,)
    with pytest.raises(ValueError, match="axis 4 is out of range"):
        layers.BatchNormalization(axis=4, input_shape=(5, 5, 3))


def test_average_pooling_same_averages_real_inputs_only():
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    y = layers.AveragePooling2D(2, padding="same")(mg.tensor(x)).numpy()[0, :, :, 0]
    np.testing.assert_allclose(y, [[2.0, 3.5], [6.5, 8.0]])
    # the functional op keeps PyTorch's default (padding counts as zeros)
    z = F.avg_pool2d(mg.tensor(x), 2, padding="same", layout="NHWC").numpy()[0, :, :, 0]
    np.testing.assert_allclose(z, [[2.0, 1.75], [3.25, 2.0]])


def test_load_model_whose_first_layer_is_batchnorm(tmp_path):
    m = models.Sequential([layers.BatchNormalization(input_shape=(4,)), layers.Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    p = m.save(tmp_path / "bn.npz")
    m2 = models.load_model(p)
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(m2.predict(x), m.predict(x))


def test_saved_model_with_bad_optimizer_settings_is_a_clear_error(tmp_path):
    from minigrad import io as wio
    m = models.Sequential([layers.Dense(2, input_shape=(3,))])
    m.compile(optimizer="adam", loss="mse")
    p = m.save(tmp_path / "m.npz")
    cfg = wio.read_config(p)
    for bad in ({"name": "Adam", "beta_1": 7.0}, {"name": "Adam", "momentum": 0.9},
                {"name": "Nadam2"}):
        cfg["compile"]["optimizer"] = bad
        q = wio.save_arrays(tmp_path / "bad.npz", m.state_dict(), config=cfg)
        with pytest.raises(wio.WeightsFileError, match="compile"):
            models.load_model(q)
        assert models.load_model(q, compile=False).predict(np.ones((1, 3))).shape == (1, 2)


@pytest.mark.parametrize("name", ["w.h5", "w.weights.h5", "w"])
def test_save_weights_then_load_weights_with_the_same_name(tmp_path, name):
    a = models.Sequential([layers.Dense(2, input_shape=(3,))])
    b = models.Sequential([layers.Dense(2, input_shape=(3,))])
    written = a.save_weights(tmp_path / name)
    assert written == str(tmp_path / name) + ("" if "." in name else ".npz")
    b.load_weights(tmp_path / name)
    np.testing.assert_array_equal(a.layers[0].kernel.numpy(), b.layers[0].kernel.numpy())


def test_channels_first_input_to_a_channels_last_conv_says_so():
    conv = layers.Conv2D(4, 3, input_shape=(28, 28, 1))
    with pytest.raises(ValueError, match="looks channels-first"):
        conv(mg.tensor(np.zeros((2, 1, 28, 28), np.float32)))


# --- training --------------------------------------------------------------------------
def compiled(metrics=None):
    m = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))])
    m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=metrics)
    return m


X = np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32)
Y = to_categorical(np.arange(10) % 3, 3)


def test_metrics_may_be_one_string():
    m = compiled("accuracy")
    assert m.metrics_names == ["accuracy"]
    assert len(m.evaluate(X, Y, verbose=0)) == 2


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("bad", [0, -1, 2.5, "32", True])
def test_batch_size_must_be_a_positive_integer(call, bad):
    m = compiled(["accuracy"])
    args = (X,) if call == "predict" else (X, Y)
    with pytest.raises((TypeError, ValueError), match="batch_size"):
        getattr(m, call)(*args, batch_size=bad, verbose=0)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None])
def test_epochs_must_be_a_whole_number(bad):
    with pytest.raises((TypeError, ValueError), match="epochs"):
        compiled().fit(X, Y, epochs=bad, verbose=0)


@pytest.mark.parametrize("bad", [(X,), (X, Y, Y), X, (X[:, :2], Y), (X, Y[:5])])
def test_malformed_validation_data_is_refused_before_training(bad):
    m = compiled()
    w = m.layers[0].kernel.numpy().copy()
    with pytest.raises((TypeError, ValueError), match="validation_data|samples|shape"):
        m.fit(X, Y, epochs=1, verbose=0, validation_data=bad)
    np.testing.assert_array_equal(m.layers[0].kernel.numpy(), w)        # no step taken


def test_non_finite_loss_leaves_the_weights_as_they_were():
    m = compiled()
    x = X.copy()
    x[7] = np.nan
    before = [p.numpy().copy() for p in m.parameters()]
    with pytest.raises(FloatingPointError, match="not applied"):
        m.fit(x, Y, batch_size=5, epochs=1, verbose=0, shuffle=False)
    first = [p.numpy() for p in m.parameters()]              # batch 1 was applied
    assert all(np.isfinite(a).all() for a in first)
    assert any(not np.array_equal(a, b) for a, b in zip(first, before))
    m2 = compiled()
    w = [p.numpy().copy() for p in m2.parameters()]
    with pytest.raises(FloatingPointError, match="not applied"):
        m2.train_on_batch(x, Y)
    assert all(np.array_equal(p.numpy(), a) for p, a in zip(m2.parameters(), w))


# --- constructors: fuzz-style argument validation ----------------------------------------
BAD_INTS = [0, -3, 2.7, "4", None, True, float("nan")]
CONSTRUCTORS = {
    "Dense.units": lambda v: layers.Dense(v),
    "Conv2D.filters": lambda v: layers.Conv2D(v, 3),
    "Conv2D.kernel_size": lambda v: layers.Conv2D(4, v),
    "Conv2D.strides": lambda v: layers.Conv2D(4, 3, strides=v),
    "MaxPooling2D.pool_size": lambda v: layers.MaxPooling2D(v),
    "MaxPooling2D.strides": lambda v: layers.MaxPooling2D(2, strides=v),
    "AveragePooling2D.pool_size": lambda v: layers.AveragePooling2D(v),
    "F.max_pool2d.kernel_size": lambda v: F.max_pool2d(mg.zeros(1, 1, 4, 4), v),
    "F.conv2d.stride": lambda v: F.conv2d(mg.zeros(1, 1, 4, 4), mg.zeros(1, 1, 2, 2),
                                          stride=v),
    "Embedding.input_dim": lambda v: layers.Embedding(v, 4),
    "Embedding.output_dim": lambda v: layers.Embedding(4, v),
    "PositionEmbedding.sequence_length": lambda v: layers.PositionEmbedding(v),
    "MultiHeadAttention.num_heads": lambda v: layers.MultiHeadAttention(v, 4),
    "MultiHeadAttention.key_dim": lambda v: layers.MultiHeadAttention(2, v),
    "MultiHeadAttention.value_dim": lambda v: layers.MultiHeadAttention(2, 4, value_dim=v),
    "TransformerBlock.num_heads": lambda v: layers.TransformerBlock(v),
    "GPT.vocab_size": lambda v: mg.nn.GPT(v, 4, 1, 1, 4),
    "GPT.block_size": lambda v: mg.nn.GPT(5, v, 1, 1, 4),
    "GPT.n_layer": lambda v: mg.nn.GPT(5, 4, v, 1, 4),
    "sinusoidal_positions.length": lambda v: mg.nn.sinusoidal_positions(v, 4),
    "sinusoidal_positions.dim": lambda v: mg.nn.sinusoidal_positions(4, v),
}


@pytest.mark.parametrize("what", list(CONSTRUCTORS))
@pytest.mark.parametrize("value", BAD_INTS, ids=[repr(v) for v in BAD_INTS])
def test_sizes_must_be_positive_integers(what, value):
    if value is None and what.endswith(("strides", "value_dim")):
        pytest.skip("None means the default: the pool size, the key_dim")
    with pytest.raises((TypeError, ValueError)) as info:
        CONSTRUCTORS[what](value)
    name = what.split(".")[-1]
    assert name in str(info.value) and repr(value) in str(info.value)


@pytest.mark.parametrize("make", [
    lambda: layers.Dropout(1.0), lambda: layers.Dropout(-0.1), lambda: layers.Dropout("0.5"),
    lambda: layers.BatchNormalization(momentum=1.5), lambda: layers.BatchNormalization(epsilon=0),
    lambda: layers.BatchNormalization(axis=0), lambda: layers.Conv2D(4, 3, padding="full"),
    lambda: layers.MaxPooling2D(2, data_format="nchw"), lambda: layers.LeakyReLU("a"),
    lambda: mg.arange(0, 10, 0), lambda: mg.arange(0, "10"),
    lambda: optim.Adam(lr=float("nan")), lambda: optim.Adam(epsilon=-1e-8),
    lambda: optim.Adam(beta_1=1.0), lambda: optim.SGD(lr=-0.1), lambda: optim.SGD(momentum=-1),
    lambda: optim.RMSprop(rho=1.0), lambda: optim.RMSprop(epsilon=float("inf")),
    lambda: optim.SGD(clipnorm=0), lambda: optim.AdamW(weight_decay=-1),
    lambda: optim.ExponentialDecay(0.1, 0, 0.5), lambda: optim.StepDecay(0.1, 2.5),
    lambda: optim.CosineDecay(-1.0, 10), lambda: optim.PiecewiseConstantDecay([5, 2], [1, 2, 3]),
    lambda: mg.data.DataLoader(np.zeros((4, 2)), batch_size=0),
    lambda: mg.callbacks.EarlyStopping(patience=-1),
], ids=lambda f: f.__code__.co_firstlineno)
def test_bad_arguments_raise_clear_errors(make):
    with pytest.raises((TypeError, ValueError)) as info:
        make()
    assert ":" in str(info.value)            # names the caller and the argument


@pytest.mark.parametrize("make, message", [
    (lambda: layers.MultiHeadAttention(2, 4, dropout=1.0),
     r"^MultiHeadAttention: dropout must be"),
    (lambda: layers.MultiHeadAttention(2, 4, dropout=-0.5),
     r"^MultiHeadAttention: dropout must be"),
    (lambda: layers.TransformerBlock(2, dropout=1.0), r"^TransformerBlock: dropout must be"),
    (lambda: layers.LayerNormalization(epsilon=0), r"^LayerNormalization: epsilon must be"),
    (lambda: layers.LayerNormalization(axis=1), r"^LayerNormalization: only axis=-1"),
], ids=lambda v: "" if callable(v) else v.split(":")[0].strip("^"))
def test_transformer_layer_arguments_name_the_layer_and_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_good_arguments_in_every_accepted_form():
    assert layers.Dense(np.int64(4)).units == 4 and layers.Dense(4.0).units == 4
    assert layers.Conv2D(4, (3, 2), strides=[2, 1]).strides == (2, 1)
    assert layers.Dropout(0).rate == 0.0
    assert mg.arange(0.0, 1.0, 0.25).shape == (4,)


def test_model_get_and_set_weights_in_keras_order():
    mg.manual_seed(0)
    m = models.Sequential([layers.Dense(3, input_shape=(2,)), layers.BatchNormalization(),
                           layers.Dense(1)])
    ws = m.get_weights()
    assert [w.shape for w in ws] == [(2, 3), (3,), (3,), (3,), (3,), (3,), (3, 1), (1,)]
    np.testing.assert_array_equal(ws[4], 0)                   # moving mean
    np.testing.assert_array_equal(ws[5], 1)                   # moving variance
    mg.manual_seed(1)
    m2 = models.Sequential([layers.Dense(3, input_shape=(2,)), layers.BatchNormalization(),
                            layers.Dense(1)])
    x = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    assert not np.allclose(m2.predict(x), m.predict(x))
    m2.set_weights(ws)
    np.testing.assert_array_equal(m2.predict(x), m.predict(x))
    before = m2.get_weights()
    with pytest.raises(ValueError, match="weight 6"):
        m2.set_weights(ws[:6] + [np.zeros((4, 1)), ws[7]])
    with pytest.raises(ValueError, match="has 8 weights, got 7"):
        m2.set_weights(ws[:7])
    for a, b in zip(before, m2.get_weights()):
        np.testing.assert_array_equal(a, b)              # untouched by a failed call


# --- every validated argument: the message names the caller, the argument and the value,
#     and each bound is where the documentation puts it ----------------------------------
NAN, INF = float("nan"), float("inf")
ARGUMENTS = [
    # (caller, argument, make(value), bad values, good values at the bounds)
    ("SGD", "learning_rate", lambda v: optim.SGD(lr=v), [-0.1, NAN, "a"], [0.0]),
    ("SGD", "momentum", lambda v: optim.SGD(momentum=v), [-0.5, INF], [0.0, 1.0]),
    ("SGD", "weight_decay", lambda v: optim.SGD(weight_decay=v), [-1.0], [0.0]),
    ("SGD", "clipnorm", lambda v: optim.SGD(clipnorm=v), [0.0, -1.0], [1e-9]),
    ("Adam", "beta_1", lambda v: optim.Adam(beta_1=v), [1.0, -0.1], [0.0, 0.999]),
    ("Adam", "beta_2", lambda v: optim.Adam(beta_2=v), [1.0, -0.1], [0.0]),
    ("Adam", "epsilon", lambda v: optim.Adam(epsilon=v), [-1e-8, NAN], [0.0]),
    ("Adam", "learning_rate", lambda v: optim.Adam(learning_rate=v), [-1.0, INF], [0.0]),
    ("AdamW", "weight_decay", lambda v: optim.AdamW(weight_decay=v), [-1.0], [0.0]),
    ("RMSprop", "rho", lambda v: optim.RMSprop(rho=v), [1.0, -0.1], [0.0]),
    ("RMSprop", "epsilon", lambda v: optim.RMSprop(epsilon=v), [-1.0, INF], [0.0]),
    ("ExponentialDecay", "initial_learning_rate",
     lambda v: optim.ExponentialDecay(v, 10, 0.5), [-1.0], [0.0]),
    ("ExponentialDecay", "decay_steps", lambda v: optim.ExponentialDecay(0.1, v, 0.5),
     [0, 1.5], [1]),
    ("ExponentialDecay", "decay_rate", lambda v: optim.ExponentialDecay(0.1, 10, v),
     [-0.5], [0.0]),
    ("StepDecay", "initial_learning_rate", lambda v: optim.StepDecay(v, 2), [-1.0], [0.0]),
    ("StepDecay", "step_size", lambda v: optim.StepDecay(0.1, v), [0, 2.5], [1]),
    ("StepDecay", "gamma", lambda v: optim.StepDecay(0.1, 2, v), [-0.1], [0.0]),
    ("CosineDecay", "initial_learning_rate", lambda v: optim.CosineDecay(v, 10), [-1.0],
     [0.0]),
    ("CosineDecay", "decay_steps", lambda v: optim.CosineDecay(0.1, v), [0], [1]),
    ("CosineDecay", "alpha", lambda v: optim.CosineDecay(0.1, 10, v), [-0.1, 1.5],
     [0.0, 1.0]),
    ("Dense", "units", lambda v: layers.Dense(v), [0, 2.7], [1]),
    ("Conv2D", "filters", lambda v: layers.Conv2D(v, 3), [0], [1]),
    ("Conv2D", "kernel_size", lambda v: layers.Conv2D(1, v), [0, (3, 0)], [1]),
    ("Conv2D", "strides", lambda v: layers.Conv2D(1, 3, strides=v), [0], [1]),
    ("MaxPooling2D", "pool_size", lambda v: layers.MaxPooling2D(v), [0], [1]),
    ("AveragePooling2D", "strides", lambda v: layers.AveragePooling2D(2, v), [0], [1]),
    ("Conv2D", "padding", lambda v: layers.Conv2D(1, 3, padding=v), ["full", "VALID"],
     ["valid", "same"]),
    ("Conv2D", "data_format", lambda v: layers.Conv2D(1, 3, data_format=v), ["nhwc"],
     ["channels_last", "channels_first"]),
    ("MaxPooling2D", "strides", lambda v: layers.MaxPooling2D(2, strides=v), [0, (1, 2, 3)],
     [1, (1, 2)]),
    ("MaxPooling2D", "padding", lambda v: layers.MaxPooling2D(2, padding=v), ["full"],
     ["valid", "same"]),
    ("MaxPooling2D", "data_format", lambda v: layers.MaxPooling2D(2, data_format=v),
     ["nchw"], ["channels_last", "channels_first"]),
    ("AveragePooling2D", "pool_size", lambda v: layers.AveragePooling2D(v), [0, (2, -1)],
     [1, (2, 3)]),
    ("AveragePooling2D", "padding", lambda v: layers.AveragePooling2D(2, padding=v),
     ["full"], ["valid", "same"]),
    ("AveragePooling2D", "data_format", lambda v: layers.AveragePooling2D(2, data_format=v),
     ["nchw"], ["channels_last", "channels_first"]),
    ("Dropout", "rate", lambda v: layers.Dropout(v), [1.0, -0.1], [0.0, 0.999]),
    ("BatchNormalization", "momentum", lambda v: layers.BatchNormalization(momentum=v),
     [1.5, -0.1], [0.0, 1.0]),
    ("BatchNormalization", "epsilon", lambda v: layers.BatchNormalization(epsilon=v),
     [0.0, -1.0], [1e-12]),
    ("LeakyReLU", "negative_slope", lambda v: layers.LeakyReLU(v), ["a", NAN], [0.0]),
    ("DataLoader", "batch_size",
     lambda v: mg.data.DataLoader(np.zeros((4, 2)), batch_size=v), [0, 1.5], [1]),
    ("EarlyStopping", "patience", lambda v: mg.callbacks.EarlyStopping(patience=v), [-1],
     [0]),
    ("EarlyStopping", "min_delta", lambda v: mg.callbacks.EarlyStopping(min_delta=v),
     [NAN], [0.0]),
    ("arange", "step", lambda v: mg.arange(0, 10, v), [NAN], [1]),
]


@pytest.mark.parametrize("caller,arg,make,bad,good", ARGUMENTS,
                         ids=[f"{c}.{a}" for c, a, *_ in ARGUMENTS])
def test_each_argument_names_itself_and_keeps_its_bounds(caller, arg, make, bad, good):
    for v in bad:
        with pytest.raises((TypeError, ValueError)) as info:
            make(v)
        msg = str(info.value)
        assert msg.startswith(f"{caller}: {arg} must be") and repr(v) in msg, msg
    for v in good:
        make(v)                                # the bound itself is accepted


def test_adam_takes_pytorchs_argument_names_too():
    a = optim.Adam(betas=(0.8, 0.9), eps=1e-6)
    assert (a.beta_1, a.beta_2, a.epsilon) == (0.8, 0.9, 1e-6)


def test_piecewise_constant_decay_says_what_does_not_fit():
    with pytest.raises(ValueError, match="got 2 boundaries and 2 values"):
        optim.PiecewiseConstantDecay([1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"boundaries must increase, got \[5, 2\]"):
        optim.PiecewiseConstantDecay([5, 2], [1.0, 2.0, 3.0])


def test_number_messages_state_the_allowed_interval():
    from minigrad.checks import number
    cases = [((-1, "Adam", "epsilon"), dict(low=0.0), "in [0.0, inf), got -1"),
             ((1.0, "Dropout", "rate"), dict(low=0.0, high=1.0, high_open=True),
              "in [0.0, 1.0), got 1.0"),
             ((0, "B", "eps"), dict(low=0.0, low_open=True), "in (0.0, inf), got 0"),
             ((5, "X", "a"), dict(high=2), "in (-inf, 2], got 5"),
             ((float("nan"), "X", "a"), {}, "X: a must be a finite number, got nan")]
    for args, kw, tail in cases:
        with pytest.raises(ValueError) as info:
            number(*args, **kw)
        assert str(info.value).endswith(tail), str(info.value)
        assert str(info.value).startswith(f"{args[1]}: {args[2]} must be a finite number")


def test_keras_style_optimizers_and_their_checks():
    assert optim.Adam(0.005).lr == pytest.approx(0.005)      # learning rate as first arg
    opt = optim.Adam()
    opt.zero_grad()                                          # nothing bound: nothing to do
    opt.step()
    assert opt.params == [] and opt.iterations == 1
    with pytest.raises(ValueError, match="parameter 0 is a tensor that does not require"):
        optim.SGD([np.zeros(3)])
    with pytest.raises(ValueError) as info:
        optim.SGD([])
    assert str(info.value) == (
        "optimizer got an empty parameter list: nothing to train. If the model builds its "
        "weights on first call, build it first (give input_shape, call model.build(shape) "
        "or run one batch through it), or pass the optimizer to compile(), which binds the "
        "parameters when they exist")


def test_a_size_that_is_neither_an_integer_nor_a_pair():
    with pytest.raises(ValueError) as info:
        layers.Conv2D(4, (3, 3, 3))
    assert str(info.value) == ("Conv2D: kernel_size must be an integer or a pair, got "
                               "(3, 3, 3)")
