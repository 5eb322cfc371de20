"""Reference ops checked where the op catalogue's random data cannot see a mistake.

Written from the mutants of `minigrad.functional` that the suite let through: ties,
boundary values and slopes, rows of very different scales, defaults, the exact error
messages, third derivatives (the `backward_graph` of the gradient ops themselves) and
gradients asked for only some inputs.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F

ERF = np.vectorize(__import__("math").erf)


def t(a, grad=True):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def assert_create_graph_gradient_is_the_plain_one(f, z):
    """The gradient of ``f`` at ``z`` taken with create_graph=True equals the plain
    backward's, and its own derivative passes gradgradcheck."""
    x = t(z)
    (g,) = mg.grad(f(x), [x], create_graph=True)
    x2 = t(z)
    f(x2).backward()
    np.testing.assert_allclose(g.numpy(), x2.grad.numpy(), rtol=1e-12)
    assert mg.gradgradcheck(f, [t(z)])


def assert_gradients_for_some_inputs(fn, arrays, need):
    """When only the inputs marked in ``need`` require gradients, theirs equal those of
    the computation with every input requiring one, and the others get none."""
    mine = [t(a, n) for a, n in zip(arrays, need)]
    fn(*mine).sum().backward()
    full = [t(a) for a in arrays]
    fn(*full).sum().backward()
    for m, ref, n in zip(mine, full, need):
        if n:
            np.testing.assert_allclose(m.grad.numpy(), ref.grad.numpy(), rtol=1e-12)
        else:
            assert m.grad is None


def nth_grads(f, x, n):
    """[d f/dx, d2, ..., dn]: each the gradient of the sum of the one before."""
    out, y = [], f(x)
    for _ in range(n):
        (y,) = mg.grad(y.sum(), [x], create_graph=True)
        out.append(y.numpy())
    return out


# --- error messages, exactly -------------------------------------------------------------
X = mg.tensor(np.ones((2, 3)))
MESSAGES = [
    (lambda: F.dropout(X, 1.0), "dropout rate must be in [0, 1), got 1.0"),
    (lambda: F.dropout(X, -0.1), "dropout rate must be in [0, 1), got -0.1"),
    (lambda: F.clip(X), "clip: give at least one of min and max"),
    (lambda: F.concatenate([]), "concatenate: need at least one tensor"),
    (lambda: F.concatenate([X, X, mg.ones(2, 4)], axis=0),
     "concatenate: shapes (2, 3) and (2, 4) differ outside axis 0"),
    (lambda: F.concatenate([X, mg.ones(2, 3, 1)], axis=1),
     "concatenate: shapes (2, 3) and (2, 3, 1) differ outside axis 1"),
    (lambda: F.stack([]), "stack: need at least one tensor"),
    (lambda: F.stack([X, X, mg.ones(3, 2)]),
     "stack: all shapes must be equal, got (2, 3) and (3, 2)"),
    (lambda: F.pad(X, ((0, 1), (-1, 0))), "pad: negative pad width ((0, 1), (-1, 0))"),
    (lambda: F.var(mg.ones(3), ddof=3),
     "var: 3 elements with ddof=3 leave no degrees of freedom"),
    (lambda: F.max(mg.ones(0)), "max/min of an empty tensor"),
    (lambda: F.min(mg.ones(2, 0), axis=1), "max/min of an empty tensor"),
    (lambda: F.squeeze(X, 1), "squeeze: axis 1 of shape (2, 3) is not 1"),
    (lambda: F.nll_loss(X, np.ones((2, 3))),
     "nll_loss takes integer class labels; use cross_entropy for probability targets"),
    (lambda: F.binary_cross_entropy(X, np.ones(3)),
     "binary_cross_entropy: target shape (3,) does not match prediction shape (2, 3)"),
    (lambda: F.binary_cross_entropy_with_logits(X, np.ones((3, 2))),
     "binary_cross_entropy_with_logits: target shape (3, 2) does not match prediction "
     "shape (2, 3)"),
]


@pytest.mark.parametrize("call,message", MESSAGES, ids=[m[:40] for _, m in MESSAGES])
def test_messages_are_exact(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == message


def test_pad_widths_must_be_integers():
    for bad in (1.5, ((0, 1), (0.5, 0)), True):
        with pytest.raises(TypeError) as e:
            F.pad(X, bad)
        assert str(e.value) == f"pad: pad widths must be integers, got {bad}"
    assert F.pad(X, np.int32(1)).shape == (4, 5)


def test_pad_of_zero_width_is_allowed():
    assert F.pad(X, ((0, 0), (0, 0))).shape == (2, 3)
    np.testing.assert_array_equal(F.pad(X, 1, value=5.0).numpy()[0], [5.0] * 5)


def test_var_with_exactly_one_degree_of_freedom():
    np.testing.assert_allclose(F.var(t([1.0, 3.0]), ddof=1).numpy(), 2.0)


# --- defaults ------------------------------------------------------------------------------
def test_dropout_defaults_to_half_while_training():
    mg.manual_seed(0)
    y = F.dropout(mg.ones(200, 100)).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}
    assert abs((y == 0).mean() - 0.5) < 0.02


def test_dropout_keeps_the_dtype_and_rate_zero_or_eval_is_the_identity():
    mg.manual_seed(0)
    x = mg.tensor(np.ones((50, 40), np.float32))
    y = F.dropout(x, 0.25)
    assert y.dtype == np.float32
    assert abs((y.numpy() == 0).mean() - 0.25) < 0.03
    np.testing.assert_array_equal(y.numpy()[y.numpy() != 0], np.float32(1 / 0.75))
    assert F.dropout(x, 0.0) is x and F.dropout(x, 0.9, training=False) is x


def test_reduction_defaults_drop_the_axis():
    x = t(np.arange(6.0).reshape(2, 3))
    assert F.var(x).shape == () and F.var(x, axis=1).shape == (2,)
    np.testing.assert_allclose(F.var(x, axis=1).numpy(), [2 / 3, 2 / 3])     # ddof 0
    for f in (F.max, F.min, F.argmax, F.argmin, F.logsumexp):
        assert f(x, axis=0).shape == (3,), f
        assert f(x, axis=0, keepdims=True).shape == (1, 3), f
    assert F.argmax(x, keepdims=True).shape == (1, 1)
    assert int(F.argmax(x, keepdims=True).numpy()[0, 0]) == 5
    assert F.logsumexp(x).shape == ()


def test_concatenate_and_stack_default_to_the_first_axis():
    a, b = t(np.ones((2, 3))), t(np.zeros((2, 3)))
    assert F.concatenate([a, b]).shape == (4, 3)
    assert F.stack([a, b]).shape == (2, 2, 3)
    assert F.stack([a, b], axis=-1).shape == (2, 3, 2)


def test_expand_dims_counts_negative_axes_from_the_new_shape():
    x = t(np.ones((2, 3)))
    assert F.expand_dims(x, -1).shape == (2, 3, 1)
    assert F.expand_dims(x, -3).shape == (1, 2, 3)


def test_gelu_approximate_false_is_the_exact_form():
    x = t(np.linspace(-3, 3, 7))
    exact = x.numpy() * 0.5 * (1 + ERF(x.numpy() / np.sqrt(2)))
    np.testing.assert_allclose(F.gelu(x, approximate=False).numpy(), exact, rtol=1e-12)
    np.testing.assert_allclose(F.gelu(x).numpy(), exact, rtol=1e-12)


def test_categorical_crossentropy_checks_labels_by_default():
    with pytest.raises(ValueError, match="class label 3 is out of range for 3 classes"):
        F.categorical_crossentropy(mg.tensor(np.full((2, 3), 1 / 3)), np.array([0, 3]))


# --- ties, boundaries, slopes ------------------------------------------------------------
@pytest.mark.parametrize("op", [F.maximum, F.minimum])
def test_maximum_and_minimum_split_the_gradient_of_a_tie(op):
    a, b = t([1.0, 2.0, 3.0]), t([1.0, 5.0, 0.0])
    op(a, b).sum().backward()
    wins_a = [0.5, 0.0, 1.0] if op is F.maximum else [0.5, 1.0, 0.0]
    np.testing.assert_array_equal(a.grad.numpy(), wins_a)
    np.testing.assert_array_equal(b.grad.numpy(), 1 - np.array(wins_a))


def test_maximum_with_a_constant_and_in_float32():
    a = mg.tensor(np.array([0.0, -1.0, 2.0], np.float32), requires_grad=True)
    y = F.maximum(a, 0.0)
    assert y.dtype == np.float32
    y.sum().backward()
    assert a.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0, 1.0])
    b = t([3.0])
    F.minimum(2.0, b).sum().backward()          # only the second input needs a gradient
    np.testing.assert_array_equal(b.grad.numpy(), [0.0])


@pytest.mark.parametrize("slope", [0.0, 0.2, 1.0, 2.0, -0.5])
def test_leaky_relu_at_every_kind_of_slope(slope):
    xs = np.array([-2.0, -0.5, 0.5, 3.0])
    x = t(xs)
    y = F.leaky_relu(x, slope)
    np.testing.assert_allclose(y.numpy(), np.where(xs > 0, xs, slope * xs), rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(xs > 0, 1.0, slope), rtol=1e-15)
    (g,) = mg.grad(F.leaky_relu(x, slope).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), np.where(xs > 0, 1.0, slope), rtol=1e-15)


def test_clip_passes_the_gradient_at_its_bounds_and_blocks_it_outside():
    x = t([-2.0, -1.0, 0.0, 1.0, 2.0])
    F.clip(x, -1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 0])
    x2 = t([-2.0, 2.0])
    F.clip(x2, min=-1.0).sum().backward()
    np.testing.assert_array_equal(x2.grad.numpy(), [0, 1])
    x3 = t([-2.0, 2.0])
    F.clip(x3, max=1.0).sum().backward()
    np.testing.assert_array_equal(x3.grad.numpy(), [1, 0])


def test_log_softmax_and_logsumexp_shift_each_row_by_its_own_maximum():
    z = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -999.0, -1001.0]])
    shifted = z - z.max(1, keepdims=True)
    lse = z.max(1) + np.log(np.exp(shifted).sum(1))
    np.testing.assert_allclose(F.logsumexp(t(z), axis=1).numpy(), lse, rtol=1e-15)
    np.testing.assert_allclose(F.log_softmax(t(z), 1).numpy(),
                               shifted - np.log(np.exp(shifted).sum(1, keepdims=True)),
                               rtol=1e-12)
    np.testing.assert_allclose(F.logsumexp(t(z.T), axis=0).numpy(), lse, rtol=1e-15)
    np.testing.assert_allclose(F.log_softmax(t(z.T), 0).numpy().T,
                               F.log_softmax(t(z), 1).numpy(), rtol=1e-12)


@pytest.mark.parametrize("op", ["log_softmax", "logsumexp"])
def test_double_backprop_over_the_first_axis(op):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 4))
    w = rng.standard_normal((3, 4) if op == "log_softmax" else (4,))

    def f(x):
        y = F.log_softmax(x, 0) if op == "log_softmax" else F.logsumexp(x, axis=0)
        return (y * mg.tensor(w) * y).sum()
    assert_create_graph_gradient_is_the_plain_one(f, z)


def test_pow_gradient_for_the_exponent_at_a_zero_base():
    base, expo = t([0.0, 0.0, 2.0]), t([0.0, 2.0, 3.0])
    (base ** expo).sum().backward()
    np.testing.assert_allclose(expo.grad.numpy(), [0.0, 0.0, 8 * np.log(2.0)], rtol=1e-15)
    b2, e2 = t([0.0, 0.0, 2.0]), t([0.0, 2.0, 3.0])
    (g,) = mg.grad((b2 ** e2).sum(), [e2], create_graph=True)
    np.testing.assert_allclose(g.numpy(), [0.0, 0.0, 8 * np.log(2.0)], rtol=1e-15)


def test_binary_crossentropy_clips_both_ends():
    out = F.binary_cross_entropy(t([[0.0, 1.0]]), np.array([[1.0, 0.0]]), reduction="none")
    np.testing.assert_allclose(out.numpy(), [[-np.log(1e-7), -np.log(1e-7)]], rtol=1e-9)


def test_categorical_crossentropy_clips_a_certain_prediction_below_one():
    out = F.categorical_crossentropy(t([[1.0, 0.0]]), np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(out.numpy(), -np.log1p(-1e-7), rtol=1e-9)
    assert out.numpy() > 0


# --- gradients for some of the inputs ---------------------------------------------------
@pytest.mark.parametrize("need", [(True, False, False), (False, True, False),
                                  (False, False, True), (True, True, False)])
def test_conv2d_gradients_for_some_inputs(need):
    rng = np.random.default_rng(1)
    xs, ws, bs = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 2, 3)), \
        rng.standard_normal(3)
    gy = mg.tensor(rng.standard_normal((2, 3, 4, 2)))
    assert_gradients_for_some_inputs(lambda x, w, b: F.conv2d(x, w, b) * gy, (xs, ws, bs),
                                     need)


def test_conv2d_without_bias_gradients():
    rng = np.random.default_rng(2)
    x, w = t(rng.standard_normal((1, 1, 4, 4))), t(rng.standard_normal((2, 1, 3, 3)))
    assert mg.gradcheck(lambda a, b: F.conv2d(a, b), [x, w])


# --- third derivatives: the backward_graph of the gradient ops ---------------------------
def test_third_derivative_through_a_broadcast():
    xs = np.array([[0.5], [-1.0], [2.0]])
    c = mg.tensor(np.ones((3, 4)))
    x = t(xs)
    g1, g2, g3 = nth_grads(lambda v: (v + c) ** 3, x, 3)
    np.testing.assert_allclose(g1, 4 * 3 * (xs + 1) ** 2, rtol=1e-12)
    np.testing.assert_allclose(g2, 4 * 6 * (xs + 1), rtol=1e-12)
    np.testing.assert_allclose(g3, np.full((3, 1), 4 * 6.0), rtol=1e-12)


def test_third_derivative_through_indexing():
    xs = np.array([0.5, -1.0, 2.0, 3.0])
    idx = np.array([0, 2, 2])
    count = np.bincount(idx, minlength=4)
    g1, g2, g3 = nth_grads(lambda v: v[idx] ** 3, t(xs), 3)
    np.testing.assert_allclose(g1, 3 * xs ** 2 * count, rtol=1e-12)
    np.testing.assert_allclose(g2, 6 * xs * count, rtol=1e-12)
    np.testing.assert_allclose(g3, 6.0 * count, rtol=1e-12)


def test_third_derivative_of_the_exact_gelu():
    xs = np.linspace(-2.5, 2.5, 6)
    phi = np.exp(-0.5 * xs ** 2) / np.sqrt(2 * np.pi)
    g1, g2, g3 = nth_grads(lambda v: F.gelu(v), t(xs), 3)
    np.testing.assert_allclose(g1, 0.5 * (1 + ERF(xs / np.sqrt(2))) + xs * phi, rtol=1e-12)
    np.testing.assert_allclose(g2, phi * (2 - xs ** 2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g3, phi * (xs ** 3 - 4 * xs), rtol=1e-12, atol=1e-15)


def test_third_derivative_across_devices():
    pytest.importorskip("strict_backend")
    xs = np.array([0.5, -1.0, 2.0])
    g1, g2, g3 = nth_grads(lambda v: (v.to("strict") ** 3).to("cpu"), t(xs), 3)
    np.testing.assert_allclose(g1, 3 * xs ** 2, rtol=1e-12)
    np.testing.assert_allclose(g3, np.full(3, 6.0), rtol=1e-12)


# --- more messages, defaults and reductions ------------------------------------------------
@pytest.mark.parametrize("call,kind,message", [
    (lambda: F.mean(mg.ones(2, 0), axis=1), ValueError,
     "mean of an empty selection (shape (2, 0), axis 1)"),
    (lambda: F.broadcast_to(X, (3, 3)), ValueError, "cannot broadcast shape (2, 3) to (3, 3)"),
    (lambda: X[np.array([0.5])], IndexError,
     "tensors used as indices must be integer or bool, got float64"),
    (lambda: X[0:1, np.array([1.0], np.float32)], IndexError,
     "tensors used as indices must be integer or bool, got float32"),
    (lambda: X[mg.tensor(np.array([0.0]))], IndexError,
     "tensors used as indices must be integer or bool, got float64"),
    (lambda: X[np.array([True, False]), np.array([0.5])], IndexError,
     "tensors used as indices must be integer or bool, got float64"),
])
def test_more_messages_are_exact(call, kind, message):
    with pytest.raises(kind) as e:
        call()
    assert str(e.value) == message


def test_one_out_of_range_label_is_found():
    with pytest.raises(ValueError) as e:
        F.cross_entropy(mg.tensor(np.zeros((1, 3))), np.array([3]))
    assert str(e.value) == ("class label 3 is out of range for 3 classes "
                            "(labels must be in [0, 2])")
    assert F.cross_entropy(mg.tensor(np.zeros((0, 3))), np.zeros(0, int),
                           reduction="sum").item() == 0.0


def test_flatten_defaults_to_every_axis():
    assert F.flatten(mg.ones(2, 3, 4)).shape == (24,)
    assert F.flatten(mg.ones(2, 3, 4), 1).shape == (2, 12)


def test_conv_output_size_with_uneven_padding():
    from minigrad.functional.conv import conv_output_size
    assert conv_output_size(5, 2, 1, 0, 1) == 5
    assert conv_output_size(7, 3, 2, 1, 2) == 4
    assert conv_output_size(7, 3, 2, 2, 0) == 4
    assert conv_output_size(6, 4, 1, 3, 0) == 6


def test_same_padding_with_even_kernels_pads_more_after():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 5, 6)), rng.standard_normal((3, 2, 2, 4))
    mine = F.conv2d(t(x), t(w), padding="same")
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        ref = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding="same")
    np.testing.assert_allclose(mine.numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)


LOSS_P = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]])
LOSS_T = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["mse", "bce", "bce_logits", "nll", "ce", "cce"])
def test_each_loss_reduces_as_asked(name, reduction):
    p, tgt, labels = LOSS_P, LOSS_T, np.array([1, 0])
    z = np.log(p)
    elementwise = {
        "mse": lambda: (F.mse_loss, p, tgt, (p - tgt) ** 2),
        "bce": lambda: (F.binary_cross_entropy, p, tgt,
                        -(tgt * np.log(p) + (1 - tgt) * np.log(1 - p))),
        "bce_logits": lambda: (F.binary_cross_entropy_with_logits, z, tgt,
                               -(tgt * np.log(1 / (1 + np.exp(-z)))
                                 + (1 - tgt) * np.log(1 - 1 / (1 + np.exp(-z))))),
        "nll": lambda: (F.nll_loss, z, labels, -z[[0, 1], labels]),
        "ce": lambda: (F.cross_entropy, z, labels, -z[[0, 1], labels]),
        "cce": lambda: (F.categorical_crossentropy, p, tgt, -(tgt * np.log(p)).sum(1)),
    }[name]
    fn, pred, target, per = elementwise()
    x = t(pred)
    out = fn(x, target, reduction=reduction)
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12)
    assert out.shape == np.shape(want)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("targets", ["labels", "probabilities", "ignored"])
def test_cross_entropy_double_backprop_for_every_reduction(reduction, targets):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((4, 3))
    target = {"labels": np.array([0, 2, 1, 2]),
              "probabilities": rng.dirichlet(np.ones(3), 4),
              "ignored": np.array([-100, -100, 1, -100])}[targets]     # one row kept
    w = rng.standard_normal(4 if reduction == "none" else ())

    def f(x):
        y = F.cross_entropy(x, target, reduction=reduction)
        return (y * y * mg.tensor(w)).sum()
    assert_create_graph_gradient_is_the_plain_one(f, z)


def test_cross_entropy_with_every_row_ignored_has_no_gradient():
    x = t(np.zeros((2, 3)))
    loss = F.cross_entropy(x, np.array([-100, -100]), reduction="sum")
    (g,) = mg.grad(loss, [x], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), np.zeros((2, 3)))


def test_strided_max_pooling_keeps_float32_and_negative_values():
    x = mg.tensor(-np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4), requires_grad=True)
    y = F.max_pool2d(x, 2)
    assert y.dtype == np.float32 and float(y.numpy().max()) == 0.0
    np.testing.assert_array_equal(y.numpy()[0, 0], [[0, -2], [-8, -10]])
    y.sum().backward()
    assert x.grad.dtype == np.float32
    assert x.grad.numpy().sum() == 8.0


def test_pooling_messages_name_the_function():
    for name, f in (("avg_pool2d", F.avg_pool2d), ("max_pool2d", F.max_pool2d)):
        with pytest.raises(ValueError) as e:
            f(mg.ones(1, 1, 2), 2)
        assert str(e.value) == f"{name}: expected a 4-D input, got shape (1, 1, 2)"
        with pytest.raises(ValueError) as e:
            f(mg.ones(1, 1, 2, 2), 3)
        assert str(e.value) == (f"{name}: window (3, 3) is larger than the input 2x2 "
                                "(input shape (1, 1, 2, 2))")
        with pytest.raises(ValueError) as e:
            f(mg.ones(1, 1, 4, 4), 2, padding=2)
        assert str(e.value) == f"{name}: padding 2 must be at most half the kernel (2, 2)"


@pytest.mark.parametrize("include", [True, False])
def test_average_pooling_of_a_window_cut_by_same_padding(include):
    # 4 x 5 input, 2 x 2 windows, stride 2, 'same': one padded column on the right only
    xs = np.arange(20.0).reshape(1, 1, 4, 5)
    y = F.avg_pool2d(t(xs), 2, padding="same", count_include_pad=include).numpy()[0, 0]
    last = xs[0, 0, :, 4]
    want_last = [(last[0] + last[1]) / (4 if include else 2),
                 (last[2] + last[3]) / (4 if include else 2)]
    np.testing.assert_allclose(y[:, 2], want_last, rtol=1e-15)
    np.testing.assert_allclose(y[0, 0], xs[0, 0, :2, :2].mean(), rtol=1e-15)


def test_negative_labels_are_named():
    with pytest.raises(ValueError) as e:
        F.cross_entropy(mg.tensor(np.zeros((2, 4))), np.array([-1, 5]), ignore_index=None)
    assert str(e.value) == ("class label -1 is out of range for 4 classes "
                            "(labels must be in [0, 3])")


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False),
                                  (False, False, True), (True, False, True)])
@pytest.mark.parametrize("relu", [False, True])
def test_linear_gradients_for_some_inputs(need, relu):
    rng = np.random.default_rng(4)
    xs, ws, bs = rng.standard_normal((5, 3)), rng.standard_normal((3, 2)), \
        rng.standard_normal(2)
    act = "relu" if relu else None
    assert_gradients_for_some_inputs(lambda x, w, b: F.linear(x, w, b, activation=act),
                                     (xs, ws, bs), need)


def test_linear_beyond_two_dimensions():
    rng = np.random.default_rng(5)
    xs, ws, bs = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), \
        rng.standard_normal(5)
    y = F.linear(t(xs), t(ws), t(bs), activation="relu")
    np.testing.assert_allclose(y.numpy(), np.maximum(xs @ ws + bs, 0), rtol=1e-12)
    # a 1-D input and a batch of matrices go through matmul
    v = F.linear(t(xs[0, 0]), t(ws), t(bs), activation="relu")
    np.testing.assert_allclose(v.numpy(), np.maximum(xs[0, 0] @ ws + bs, 0), rtol=1e-12)
    batched = rng.standard_normal((2, 4, 5))
    z = F.linear(t(xs), t(batched), t(bs))
    np.testing.assert_allclose(z.numpy(), xs @ batched + bs, rtol=1e-12)
    z2 = F.linear(t(xs), t(batched))
    np.testing.assert_allclose(z2.numpy(), xs @ batched, rtol=1e-12)
    with pytest.raises(ValueError) as e:
        F.linear(t(xs[0]), t(ws.T))
    assert str(e.value) == "linear: shapes (3, 4) and (5, 4) cannot be multiplied (4 != 5)"
    for f in (lambda: F.linear(t(xs[0]), t(ws), activation="tanh"),
              lambda: F.max_pool2d(mg.ones(1, 1, 2, 2), 2, activation="tanh")):
        with pytest.raises(ValueError) as e:
            f()
        assert str(e.value).endswith("only activation='relu' can be fused, got 'tanh'")


def test_cross_entropy_rows_of_different_scales_and_soft_targets_per_row():
    z = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -999.0, -1001.0]])
    p = np.array([[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]])
    lsm = z - z.max(1, keepdims=True)
    lsm = lsm - np.log(np.exp(lsm).sum(1, keepdims=True))
    out = F.cross_entropy(t(z), p, reduction="none")
    np.testing.assert_allclose(out.numpy(), -(p * lsm).sum(1), rtol=1e-12)
    x = t(z)
    F.cross_entropy(x, p, reduction="none").sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(lsm) - p, rtol=1e-9, atol=1e-15)


def test_cross_entropy_with_every_row_ignored_is_nan_without_a_warning():
    out = F.cross_entropy(t(np.zeros((2, 3))), np.array([-100, -100]))
    assert np.isnan(out.item())      # the suite turns RuntimeWarnings into errors


def test_reshape_message_is_exact():
    with pytest.raises(ValueError) as e:
        X.reshape(4, 2)
    assert str(e.value) == ("cannot reshape a tensor of shape (2, 3) (6 elements) into "
                            "shape (4, 2)")


def test_sum_and_mean_drop_the_axis_by_default():
    x = t(np.ones((2, 3)))
    assert F.sum(x).shape == () and F.sum(x, axis=0).shape == (3,)
    assert F.mean(x, axis=1).shape == (2,) and F.sum(x, axis=1, keepdims=True).shape == (2, 1)


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False),
                                  (False, False, True)])
def test_linear_double_backprop_for_some_inputs(need):
    rng = np.random.default_rng(6)
    xs, ws, bs = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), \
        rng.standard_normal(2)
    x, w, b = t(xs, need[0]), t(ws, need[1]), t(bs, need[2])
    wanted = [v for v, n in zip((x, w, b), need) if n]
    grads = mg.grad((F.linear(x, w, b, activation="relu") ** 2).sum(), wanted,
                    create_graph=True)
    full = [t(xs), t(ws), t(bs)]
    (F.linear(*full, activation="relu") ** 2).sum().backward()
    ref = [v.grad.numpy() for v, n in zip(full, need) if n]
    for g, r in zip(grads, ref):
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-12)


def test_ignore_index_zero_without_the_label_check():
    z = np.array([[2.0, 0.0, 1.0], [0.5, 1.5, 0.0], [1.0, 1.0, 3.0]])
    labels = np.array([0, 1, 0])
    out = F.cross_entropy(t(z), labels, ignore_index=0, check_targets=False)
    lsm = z - np.log(np.exp(z).sum(1, keepdims=True))
    np.testing.assert_allclose(out.numpy(), -lsm[1, 1], rtol=1e-12)


def test_mse_gradient_reaches_a_target_of_another_dtype():
    p = mg.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    target = t([0.0, 0.0])
    F.mse_loss(p, target).backward()
    np.testing.assert_allclose(target.grad.numpy(), [-1.0, -2.0], rtol=1e-6)
    np.testing.assert_allclose(p.grad.numpy(), [1.0, 2.0], rtol=1e-6)


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False),
                                  (False, False, True)])
def test_reference_conv2d_gradients_for_some_inputs(need):
    with mg.kernels.reference_ops():             # Conv2d itself, not the fast kernel
        test_conv2d_gradients_for_some_inputs(need)


def test_stack_and_concatenate_check_the_second_tensor_too():
    a = mg.ones(3, 4)
    assert F.stack([a, a]).shape == (2, 3, 4) and F.stack([a, a], 1).shape == (3, 2, 4)
    with pytest.raises(ValueError) as e:
        F.stack([a, mg.ones(4, 3), a])
    assert str(e.value) == "stack: all shapes must be equal, got (3, 4) and (4, 3)"
    with pytest.raises(ValueError) as e:
        F.concatenate([a, mg.ones(3, 5)], axis=0)
    assert str(e.value) == "concatenate: shapes (3, 4) and (3, 5) differ outside axis 0"
    with pytest.raises(ValueError) as e:
        F.concatenate([mg.tensor(1.0), mg.tensor(2.0)])
    assert str(e.value) == "concatenate: 0-d tensors have no axis to join along (use stack)"


@pytest.mark.parametrize("call,message", [
    (lambda: F.concatenate([X, X], axis=2), "concatenate: axis 2 is out of range for 2 axes"),
    (lambda: F.concatenate([X, X], axis=-3), "concatenate: axis -3 is out of range for 2 axes"),
    (lambda: F.stack([X, X], axis=3), "stack: axis 3 is out of range for 3 axes"),
    (lambda: F.squeeze(mg.ones(1, 3), 4), "squeeze: axis 4 is out of range for 2 axes"),
    (lambda: F.expand_dims(X, 7), "expand_dims: axis 7 is out of range for 3 axes"),
    (lambda: F.flatten(X, 2), "flatten: axis 2 is out of range for 2 axes"),
])
def test_axes_out_of_range_are_errors_not_wrapped_around(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == message


def test_axes_at_the_ends_of_the_range():
    assert F.concatenate([X, X], axis=-2).shape == (4, 3)
    assert F.stack([X, X], axis=-3).shape == (2, 2, 3) and F.stack([X, X], 2).shape == (2, 3, 2)
    assert F.expand_dims(X, 2).shape == (2, 3, 1) and F.expand_dims(X, -3).shape == (1, 2, 3)
    assert F.flatten(mg.ones(2, 3, 4), -2).shape == (2, 12)
    assert F.flatten(mg.tensor(5.0)).shape == (1,)


def test_squeeze_several_axes_and_leaky_relu_default_slope():
    assert F.squeeze(mg.ones(1, 3, 1), (0, 2)).shape == (3,)
    assert F.squeeze(mg.ones(1, 3, 1), [0, -1]).shape == (3,)
    np.testing.assert_allclose(F.leaky_relu(t([-2.0, 3.0])).numpy(), [-0.02, 3.0])


def test_linear_with_relu_and_no_bias():
    xs, ws = np.array([[1.0, -2.0]]), np.array([[1.0, -1.0], [1.0, 1.0]])
    np.testing.assert_allclose(F.linear(t(xs), t(ws), activation="relu").numpy(),
                               [[0.0, 0.0]])
    np.testing.assert_allclose(F.linear(t(xs), t(ws)).numpy(), [[-1.0, -3.0]])


def test_nll_loss_checks_its_labels():
    with pytest.raises(ValueError, match="class label -1 is out of range for 3 classes"):
        F.nll_loss(X, np.array([0, -1]))


def test_cross_entropy_of_nothing_is_nan_in_the_inputs_dtype():
    out = F.cross_entropy(mg.tensor(np.zeros((2, 3), np.float32)), np.array([-100, -100]))
    assert out.dtype == np.float32 and np.isnan(out.item())


def test_astype_of_a_tensor_requiring_gradients_to_integers_leaves_the_graph():
    x = t([1.7, -2.2])
    y = x.astype(np.int32)
    assert y.dtype == np.int32 and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), [1, -2])
    with pytest.raises(ValueError) as e:
        F.cross_entropy(mg.ones(4), np.array([0]))
    assert str(e.value) == "expected outputs of shape (N, C), got (4,)"


def test_reference_conv2d_without_bias():
    rng = np.random.default_rng(7)
    xs, ws = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((3, 2, 2, 2))
    with mg.kernels.reference_ops():
        for need in ((True, False), (False, True)):
            x, w = t(xs, need[0]), t(ws, need[1])
            F.conv2d(x, w).sum().backward()
            assert (x.grad is None) != need[0] and (w.grad is None) != need[1]
        assert mg.gradcheck(lambda a, b: F.conv2d(a, b), [t(xs), t(ws)])


# --- from the mutants of minigrad.kernels.cpu.conv ---------------------------------------
@pytest.mark.parametrize("cin, pool, relu", [(3, 2, True), (9, 2, False), (9, None, True),
                                             (3, None, False)])
@pytest.mark.parametrize("wants", [(True, False, False), (False, True, False),
                                   (False, False, True), (True, True, False),
                                   (False, True, True), (True, False, True)])
def test_fast_convolutions_give_each_asked_gradient_and_only_those(cin, pool, relu, wants):
    """The fused kernels keep or drop the product's gradient depending on which inputs
    want one (an input gradient with frozen weights: saliency maps, adversarial
    examples): each subset gives the reference ops' gradients, and None for the rest."""
    rng = np.random.default_rng(0)
    arrays = (rng.standard_normal((2, 6, 6, cin)), rng.standard_normal((3, 3, cin, 4)),
              rng.standard_normal(4))
    gy = None

    def grads(fast):
        nonlocal gy
        x, W, b = (t(a, w) for a, w in zip(arrays, wants))
        with mg.kernels.reference_ops(not fast):
            y = F.conv2d(x, W, b, padding=1, layout="NHWC",
                         activation="relu" if relu else None, max_pool=pool)
            gy = rng.standard_normal(y.shape) if gy is None else gy
            y.backward(mg.tensor(gy))
        return x.grad, W.grad, b.grad
    for got, want, asked in zip(grads(True), grads(False), wants):
        if asked:
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
        else:
            assert got is None and want is None


@pytest.mark.parametrize("cin, pool", [(3, 2), (9, 2), (9, None), (3, None)])
def test_fast_convolutions_stay_in_float32_and_keep_a_byte_per_pooled_value(cin, pool):
    """float32 in, float32 out and float32 gradients (no float64 buffer on the way: the
    gradients would come back in float64); the pooled kernel keeps one byte per pooled
    value for its backward, as documented."""
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((2, 6, 6, cin)).astype(np.float32), requires_grad=True)
    W = mg.tensor(rng.standard_normal((3, 3, cin, 4)).astype(np.float32), requires_grad=True)
    b = mg.tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    y = F.conv2d(x, W, b, padding=1, layout="NHWC", activation="relu", max_pool=pool)
    assert type(y.creator).__name__ == ("Conv2dMaxPool" if pool else "Conv2dGemm")
    if pool:
        assert y.creator.first.dtype == np.uint8
    y.backward(mg.tensor(rng.standard_normal(y.shape).astype(np.float32)))
    assert [t.dtype for t in (y, x.grad, W.grad, b.grad)] == [np.float32] * 4
    for t in (x, W, b):
        assert t.grad.data.dtype == np.float32


# --- from the mutants of minigrad.functional.conv: the checks, one axis at a time -------
def _error(f):
    with pytest.raises((ValueError, TypeError)) as e:
        f()
    return f"{e.type.__name__}: {e.value}"


def _nhwc(h, w, c=2):
    return mg.zeros((1, h, w, c))


@pytest.mark.parametrize("make, message", [
    (lambda: F.conv2d(_nhwc(5, 3), mg.zeros((3, 4, 2, 1)), layout="NHWC"),
     "ValueError: conv2d: kernel 3x4 is larger than the (padded) input 5x3 "
     "(input shape (1, 5, 3, 2))"),
    (lambda: F.conv2d(_nhwc(3, 5), mg.zeros((4, 3, 2, 1)), layout="NHWC"),
     "ValueError: conv2d: kernel 4x3 is larger than the (padded) input 3x5 "
     "(input shape (1, 3, 5, 2))"),
    (lambda: F.conv2d(_nhwc(3, 3), mg.zeros((4, 5, 2, 1)), padding=(0, 1), layout="NHWC"),
     "ValueError: conv2d: kernel 4x5 is larger than the (padded) input 3x5 "
     "(input shape (1, 3, 3, 2))"),
    (lambda: F.conv2d(_nhwc(5, 5), mg.zeros((3, 3, 2, 1)), stride="a", layout="NHWC"),
     "TypeError: conv2d: stride must be an integer, got 'a'"),
    (lambda: F.conv2d(_nhwc(5, 5), mg.zeros((3, 3, 2, 1)), max_pool=0, layout="NHWC"),
     "ValueError: conv2d: max_pool must be an integer >= 1, got 0"),
    (lambda: F.max_pool2d(_nhwc(5, 3), (2, 4), layout="NHWC"),
     "ValueError: max_pool2d: window (2, 4) is larger than the input 5x3 "
     "(input shape (1, 5, 3, 2))"),
    (lambda: F.max_pool2d(_nhwc(5, 3), (6, 2), layout="NHWC"),
     "ValueError: max_pool2d: window (6, 2) is larger than the input 5x3 "
     "(input shape (1, 5, 3, 2))"),
    (lambda: F.max_pool2d(_nhwc(5, 5), (2, 2), padding=(0, 2), layout="NHWC"),
     "ValueError: max_pool2d: padding (0, 2) must be at most half the kernel (2, 2)"),
    (lambda: F.max_pool2d(_nhwc(5, 5), (2, 2), padding=(2, 0), layout="NHWC"),
     "ValueError: max_pool2d: padding (2, 0) must be at most half the kernel (2, 2)"),
    (lambda: F.max_pool2d(_nhwc(5, 5), "a", layout="NHWC"),
     "TypeError: max_pool2d: kernel_size must be an integer, got 'a'"),
    (lambda: F.max_pool2d(_nhwc(5, 5), 2, stride="a", layout="NHWC"),
     "TypeError: max_pool2d: stride must be an integer, got 'a'"),
    (lambda: F.max_pool2d(_nhwc(5, 5), 2, stride=0, layout="NHWC"),
     "ValueError: max_pool2d: stride must be an integer >= 1, got 0"),
    (lambda: F.max_pool2d(_nhwc(5, 5), (2, 4), padding=(2, 0), layout="NHWC"),
     "ValueError: max_pool2d: padding (2, 0) must be at most half the kernel (2, 4)"),
    (lambda: F.max_pool2d(mg.zeros((5, 5, 2)), 2, layout="NHWC"),
     "ValueError: max_pool2d: expected a 4-D input, got shape (5, 5, 2)"),
    (lambda: F.conv2d(mg.zeros((5, 5, 2)), mg.zeros((3, 3, 2, 1)), layout="NHWC"),
     "ValueError: conv2d: expected a 4-D input (N, H, W, C), got shape (5, 5, 2)"),
    (lambda: F.conv2d(_nhwc(5, 5), mg.zeros((3, 3, 2)), layout="NHWC"),
     "ValueError: conv2d: expected a 4-D kernel, got shape (3, 3, 2)"),
    (lambda: F.conv2d(_nhwc(5, 5), mg.zeros((3, 3, 3, 1)), layout="NHWC"),
     "ValueError: conv2d: input has 2 channels but the kernel expects 3 (input shape "
     "(1, 5, 5, 2), kernel shape (3, 3, 3, 1))"),
    (lambda: F.conv2d(_nhwc(5, 5), mg.zeros((3, 3, 2, 1)), mg.zeros(2), layout="NHWC"),
     "ValueError: conv2d: bias must have shape (1,), got (2,)"),
    (lambda: F.conv2d(_nhwc(5, 5), mg.zeros((3, 3, 2, 1)), max_pool=4, layout="NHWC"),
     "ValueError: conv2d: max_pool 4 must be >= 1 and fit the convolution's output 3x3 "
     "(input shape (1, 5, 5, 2))"),
])
def test_convolution_and_pooling_checks_name_the_axis_that_fails(make, message):
    assert _error(make) == message


@pytest.mark.parametrize("make, shape", [
    (lambda: F.conv2d(_nhwc(3, 4), mg.zeros((3, 4, 2, 1)), layout="NHWC"), (1, 1, 1, 1)),
    (lambda: F.conv2d(_nhwc(3, 3), mg.zeros((3, 5, 2, 1)), padding=(0, 1), layout="NHWC"),
     (1, 1, 1, 1)),
    (lambda: F.max_pool2d(_nhwc(5, 3), (5, 3), layout="NHWC"), (1, 1, 1, 2)),
    (lambda: F.max_pool2d(_nhwc(4, 4), (2, 2), padding=(1, 0), layout="NHWC"), (1, 3, 2, 2)),
    (lambda: F.max_pool2d(_nhwc(4, 4), (2, 2), padding=(0, 1), layout="NHWC"), (1, 2, 3, 2)),
    (lambda: F.max_pool2d(_nhwc(3, 5), (4, 4), padding=(1, 0), layout="NHWC"), (1, 1, 1, 2)),
    (lambda: F.max_pool2d(_nhwc(5, 3), (2, 4), padding=(0, 1), layout="NHWC"), (1, 2, 1, 2)),
    (lambda: F.conv2d(_nhwc(5, 5), mg.zeros((3, 3, 2, 1)), max_pool=3, layout="NHWC"),
     (1, 1, 1, 1)),
])
def test_convolution_and_pooling_accept_the_boundary_cases(make, shape):
    """A kernel as large as the (padded) input, padding of exactly half the kernel."""
    assert make().shape == shape


@pytest.mark.parametrize("call, message", [
    (lambda: mg.ones(3) @ mg.tensor(2.0),
     "matmul: both operands need at least 1 dimension, got shapes (3,) and ()"),
    (lambda: F.matmul(mg.tensor(2.0), mg.ones(3)),
     "matmul: both operands need at least 1 dimension, got shapes () and (3,)"),
    (lambda: mg.ones(2, 2, 3) @ mg.ones(3, 3, 4),
     "matmul: batch dimensions of shapes (2, 2, 3) and (3, 3, 4) do not broadcast"),
    (lambda: F.flatten(mg.ones(3), 1), "flatten: axis 1 is out of range for 1 axes"),
])
def test_matmul_and_flatten_messages_are_exact(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == message


def test_max_pooling_over_more_than_256_positions_finds_a_late_maximum():
    """A 16 x 17 window has 272 positions: the index of its first maximum no longer fits
    in a byte. The maximum sits at position 271 and at 260; both kernels agree."""
    a = -np.arange(2 * 16 * 17, dtype=np.float64).reshape(2, 16, 17, 1)
    a[0, 15, 16, 0] = 5.0                           # position 271
    a[1, 15, 5, 0] = 5.0                            # position 260
    grads = []
    for reference in (False, True):
        x = mg.tensor(a, requires_grad=True)
        with mg.kernels.reference_ops(reference):
            y = F.max_pool2d(x, (16, 17), layout="NHWC")
        y.backward(mg.tensor(np.array([2.0, 3.0]).reshape(2, 1, 1, 1)))
        np.testing.assert_array_equal(y.numpy().ravel(), [5.0, 5.0])
        grads.append(x.grad.numpy())
    expect = np.zeros_like(a)
    expect[0, 15, 16, 0], expect[1, 15, 5, 0] = 2.0, 3.0
    np.testing.assert_array_equal(grads[0], expect)
    np.testing.assert_array_equal(grads[1], expect)


def test_cross_entropy_of_one_class_with_an_ignored_row():
    """The ignored rows' labels are replaced by a class that exists (0), even when there
    is only one; the loss of a single class is 0, as in PyTorch."""
    x = t(np.zeros((3, 1)))
    loss = F.cross_entropy(x, mg.tensor(np.array([0, -100, 0])))
    loss.backward()
    assert loss.item() == 0.0
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 1)))


def test_softmax_of_a_single_number_is_one():
    x = t(2.0)
    y = F.softmax(x)
    y.backward()
    assert y.shape == () and y.item() == 1.0 and x.grad.item() == 0.0


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d])
def test_pooling_names_a_wrong_layout(pool):
    with pytest.raises(ValueError) as e:
        pool(mg.ones(1, 1, 2, 2), 2, layout="NWHC")
    assert str(e.value) == "layout must be 'NCHW' or 'NHWC', got 'NWHC'"


L = mg.tensor(np.zeros((2, 3)))


@pytest.mark.parametrize("call, kind, message", [
    (lambda: F.cross_entropy(L, np.array([True, False])), TypeError,
     "class targets have dtype bool (shape (2,)): a mask, not labels. Pass integer class "
     "indices (for example target.astype(int)) or float probabilities"),
    (lambda: F.cross_entropy(L, np.zeros((2, 3), int)), ValueError,
     "integer class targets must have shape (2,) for outputs of shape (2, 3), got (2, 3) "
     "(one-hot targets must be floating point)"),
    (lambda: F.cross_entropy(L, np.zeros(3, int)), ValueError,
     "integer class targets must have shape (2,) for outputs of shape (2, 3), got (3,)"),
    (lambda: F.cross_entropy(L, np.zeros(2)), ValueError,
     "probability/one-hot targets must have the outputs' shape (2, 3), got (2,) "
     "(integer labels need an integer dtype)"),
    (lambda: F.cross_entropy(L, np.zeros((3, 3))), ValueError,
     "probability/one-hot targets must have the outputs' shape (2, 3), got (3, 3)"),
    (lambda: F.mse_loss(L, np.zeros((2, 3)), reduction="avg"), ValueError,
     "reduction must be one of ('mean', 'sum', 'none'), got 'avg'"),
    (lambda: F.cross_entropy(L, mg.tensor(np.zeros(2, int), device="strict")), RuntimeError,
     "target is on strict:0 but the prediction is on cpu"),
])
def test_loss_target_messages_are_exact(call, kind, message):
    with pytest.raises(kind) as e:
        call()
    assert str(e.value) == message


def test_array_targets_go_to_the_predictions_device():
    """A target given as a NumPy array or a list joins the prediction on its device."""
    p = mg.tensor(np.array([[0.0, 1.0], [2.0, 0.0]]), device="strict", requires_grad=True)
    for target in (np.array([1, 0]), [1, 0]):
        loss = F.cross_entropy(p, target)
        assert loss.device == p.device
        want = F.cross_entropy(mg.tensor(p.numpy()), target).item()
        assert loss.item() == want
    loss = F.mse_loss(p, np.ones((2, 2)))
    assert loss.device == p.device and loss.item() == 0.75


def test_arrays_in_an_op_take_a_floating_tensors_dtype_and_device():
    """As PyTorch: a float32 tensor with an integer array gives float32 (NumPy alone gives
    float64); an integer tensor with a floating array keeps the fractions; the array joins
    the tensor's device."""
    x = mg.tensor(np.array([1.5, 2.5], np.float32))
    for y in (x + np.array([1, 2]), np.array([1, 2]) * x, x - np.array([True, False]),
              x / np.array([2.0, 4.0])):
        assert y.dtype == np.float32
    np.testing.assert_array_equal((x + np.array([1, 2])).numpy(), [2.5, 4.5])
    i = mg.tensor(np.array([1, 2]))
    np.testing.assert_array_equal((i + np.array([0.5, 0.25])).numpy(), [1.5, 2.25])
    s = mg.tensor(np.array([1.0, 2.0]), device="strict", requires_grad=True)
    y = s * np.array([3.0, 4.0])
    assert y.device == s.device
    y.sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), [3.0, 4.0])


@pytest.mark.parametrize("k", [(1, 1), (1, 2), (2, 1), (1, 3), (3, 1), (1, 257)])
@pytest.mark.parametrize("grad", [True, False])
def test_strided_max_pooling_of_windows_of_one_two_three_and_257_positions(k, grad):
    """The fast kernel's special cases (a window of one position is a copy; of two, one
    maximum; the index of the first maximum over a loop of the middle parts; 257 positions
    no longer fit a byte), the maximum at the window's last position, against the
    reference op."""
    rng = np.random.default_rng(sum(k))
    a = rng.standard_normal((2, 2 * k[0], 2 * k[1], 3))
    a[:, k[0] - 1, k[1] - 1, :] = 9.0            # the first window's last position
    gy = rng.standard_normal((2, 2, 2, 3))
    results = []
    for reference in (False, True):
        x = mg.tensor(a, requires_grad=grad)
        with mg.kernels.reference_ops(reference):
            y = F.max_pool2d(x, k, layout="NHWC")
        if grad:
            y.backward(mg.tensor(gy))
        results.append((y.numpy(), x.grad.numpy() if grad else None))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert (results[0][0][:, 0, 0, :] == 9.0).all()
    if grad:
        np.testing.assert_array_equal(results[0][1], results[1][1])


def test_transpose_takes_the_axes_as_one_tuple_or_list():
    x = mg.tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    for axes in [(1, 0, 2)], [[1, 0, 2]], [1, 0, 2]:
        y = F.transpose(x, *axes)
        assert y.shape == (3, 2, 4)
        np.testing.assert_array_equal(y.numpy(), x.numpy().transpose(1, 0, 2))
    y = F.transpose(x, (2, 0, 1))
    y.backward(mg.tensor(np.arange(24.0).reshape(4, 2, 3)))
    np.testing.assert_array_equal(x.grad.numpy(),
                                  np.arange(24.0).reshape(4, 2, 3).transpose(1, 2, 0))


X4, W4 = mg.ones(1, 2, 5, 5), mg.ones(3, 2, 3, 3)


@pytest.mark.parametrize("call, message", [
    (lambda: F.conv2d(X4, W4, padding="full"),
     "padding must be 'valid', 'same' or integers, got 'full'"),
    (lambda: F.conv2d(X4, W4, padding=-1),
     "conv2d/pooling: padding must be an integer >= 0, got -1"),
    (lambda: F.conv2d(X4, W4, activation="tanh"),
     "conv2d: only activation='relu' can be fused, got 'tanh'"),
    (lambda: F.conv2d(X4, W4, layout="CHWN"), "layout must be 'NCHW' or 'NHWC', got 'CHWN'"),
    (lambda: F.conv2d(mg.ones(2, 5, 5), W4),
     "conv2d: expected 4-D input and kernel, got shapes (2, 5, 5) and (3, 2, 3, 3)"),
    (lambda: F.conv2d(X4, mg.ones(2, 3, 3)),
     "conv2d: expected 4-D input and kernel, got shapes (1, 2, 5, 5) and (2, 3, 3)"),
    (lambda: F.conv2d(mg.ones(1, 3, 5, 6), W4),
     "conv2d: input has 3 channels but the kernel expects 2 (input shape (1, 3, 5, 6), "
     "kernel shape (3, 2, 3, 3))"),
    (lambda: F.conv2d(mg.ones(1, 5, 3, 2), mg.ones(3, 3, 2, 4), layout="NHWC", max_pool=2),
     "conv2d: max_pool 2 must be >= 1 and fit the convolution's output 3x1 (input shape "
     "(1, 5, 3, 2))"),
    (lambda: F.conv2d(mg.ones(1, 3, 5, 2), mg.ones(3, 3, 2, 4), layout="NHWC", max_pool=2),
     "conv2d: max_pool 2 must be >= 1 and fit the convolution's output 1x3 (input shape "
     "(1, 3, 5, 2))"),
    (lambda: F.transpose(mg.ones(2, 3), (0, 0)),
     "transpose: axes (0, 0) are not a permutation for shape (2, 3)"),
])
def test_convolution_and_transpose_messages_are_exact(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert str(e.value) == message


def test_ops_on_two_arrays_and_negative_axes_of_one_axis():
    """An op given no Tensor at all lifts both operands; the first takes the second's
    dtype; transpose of one axis accepts -1."""
    y = F.add(2.0, np.ones(3))
    np.testing.assert_array_equal(y.numpy(), [3.0, 3.0, 3.0])
    assert F.matmul(np.ones(3), np.ones(3)).item() == 3.0
    z = F.mul(np.array([1, 2]), mg.tensor(np.array([0.5, 0.25], np.float32)))
    assert z.dtype == np.float32 and z.numpy().tolist() == [0.5, 0.5]
    assert F.transpose(mg.ones(3), -1).shape == (3,)


def test_functional_ops_take_arrays_and_lists():
    np.testing.assert_array_equal(F.relu(np.array([-1.0, 2.0])).numpy(), [0.0, 2.0])
    np.testing.assert_array_equal(F.exp([0.0, 0.0]).numpy(), [1.0, 1.0])
    assert F.sum(np.ones(3)).item() == 3.0


@pytest.mark.parametrize("s0, s1", [((4,), (4,)), ((2, 3, 4), (4,)), ((4,), (2, 4, 5)),
                                    ((3, 4), (4,)), ((4,), (4, 5))])
def test_matmul_with_vectors_on_either_side(s0, s1):
    """The shapes NumPy gives, and the gradients, for every place a 1-D operand can take
    (the op catalogue draws these shapes at random; here each is checked every run)."""
    r = np.random.default_rng(len(s0) + 3 * len(s1))
    a, b = r.standard_normal(s0), r.standard_normal(s1)
    x0, x1 = t(a), t(b)
    y = F.matmul(x0, x1)
    assert y.shape == np.matmul(a, b).shape
    np.testing.assert_allclose(y.numpy(), np.matmul(a, b), rtol=1e-12)
    assert mg.gradcheck(F.matmul, [t(a), t(b)])
