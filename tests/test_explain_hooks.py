"""Tensor hooks, module forward hooks (also through the fusion plan), and the attribution
methods of minigrad.explain against exact oracles."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd, explain
from minigrad.keras import layers, models

from models import article_cnn

rng = np.random.default_rng(0)


def t64(a, grad=False):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# --- Tensor.register_hook ----------------------------------------------------------------------
def test_leaf_hook_sees_the_summed_gradient_once_and_can_replace_it():
    base = autograd._hooks_active[0]           # hooks other tests' objects still hold
    x = t64([1.0, 2.0, 3.0], grad=True)
    seen = []
    h = x.register_hook(lambda g: seen.append(g.numpy().copy()))
    (x * x + 2 * x).sum().backward()           # two contributions: 2x and 2
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [4.0, 6.0, 8.0])
    h.remove()
    x.grad = None
    with x.register_hook(lambda g: g * 0.5):   # a handle is a context manager too
        (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])
    assert autograd._hooks_active[0] == base   # every hook removed: back to the count before


def test_intermediate_hook_changes_what_flows_further_back():
    """As PyTorch: a hook on y = x * x replaces dL/dy before y's backward runs."""
    base = autograd._hooks_active[0]
    x = t64([1.0, 2.0, 3.0], grad=True)
    y = x * x
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    h = y.register_hook(lambda g: g * 10)
    (y * 3 + x).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0, 3.0])       # before the replacement
    np.testing.assert_array_equal(x.grad.numpy(), 60 * x.numpy() + 1)
    h.remove()
    assert autograd._hooks_active[0] == base + 1   # the first hook stays while y lives
    del y
    assert autograd._hooks_active[0] == base       # and ends with it


def test_hook_with_retain_grad_and_mg_grad_and_create_graph():
    x = t64([1.0, 2.0], grad=True)
    y = x * x
    y.retain_grad()
    h = y.register_hook(lambda g: g + 1)
    (y.sum() * 2).backward()
    np.testing.assert_array_equal(y.grad.numpy(), [3.0, 3.0])     # kept after the hook
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy() * 3)
    h.remove()
    hx = x.register_hook(lambda g: g * 2)
    (g,) = mg.grad((x ** 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 6 * x.numpy() ** 2)
    (gg,) = mg.grad(g.sum(), x)                 # the replacement is differentiable
    np.testing.assert_allclose(gg.numpy(), 12 * x.numpy() * 2)   # the hook runs again
    hx.remove()


def test_hook_errors():
    base = autograd._hooks_active[0]
    with pytest.raises(RuntimeError, match="does not require grad"):
        t64([1.0]).register_hook(lambda g: g)
    x = t64([1.0, 2.0], grad=True)
    with pytest.raises(TypeError, match="callable"):
        x.register_hook(3)
    with x.register_hook(lambda g: mg.zeros(3, dtype="float64")):
        with pytest.raises(ValueError, match=r"shape \(2,\) returned a gradient of shape "
                                             r"\(3,\)"):
            (x * x).sum().backward()
    assert autograd._hooks_active[0] == base


# --- Module forward hooks ----------------------------------------------------------------------
def test_forward_hooks_and_pre_hooks_on_a_layer():
    d = layers.Dense(2, input_shape=(3,))
    x = rng.standard_normal((4, 3)).astype(np.float32)
    calls = []
    h1 = d.register_forward_pre_hook(lambda m, inp: (inp[0] * 2,))
    h2 = d.register_forward_hook(lambda m, inp, out: calls.append((m, inp[0], out)) or out + 1)
    y = d(x)
    m, inp, out = calls[0]
    assert m is d
    np.testing.assert_allclose(inp.numpy() if hasattr(inp, "numpy") else inp, x * 2)
    np.testing.assert_allclose(y.numpy(), out.numpy() + 1)
    h1.remove(), h2.remove()
    np.testing.assert_allclose(d(x).numpy(), x @ d.kernel.numpy() + d.bias.numpy(), rtol=1e-6)
    with pytest.raises(TypeError, match="must be callable"):
        d.register_forward_hook(None)


def test_forward_hooks_see_real_outputs_through_the_fusion_plan():
    """In the article's CNN the plan fuses conv + ReLU + pooling and the softmax with the
    loss; a hook on a conv still sees its own ReLU'd output, a hook on the last layer its
    probabilities, the predictions do not change, and after remove() the plan is used."""
    m = article_cnn()
    x = rng.random((3, 28, 28, 1)).astype(np.float32)
    before = m.predict(x)
    conv, last = m.layers[0], m.layers[-1]
    got = {}
    hc = conv.register_forward_hook(lambda mod, inp, out: got.__setitem__("conv", out.numpy()))
    hl = last.register_forward_hook(lambda mod, inp, out: got.__setitem__("last", out.numpy()))
    np.testing.assert_allclose(m.predict(x), before, rtol=1e-6, atol=1e-7)
    alone = conv.forward(mg.tensor(x)).numpy()               # Conv2D + its ReLU, by itself
    np.testing.assert_allclose(got["conv"], alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["last"].sum(axis=1), 1, rtol=1e-5)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.fit(x, np.array([1, 2, 3]), epochs=1, verbose=0)
    np.testing.assert_allclose(got["last"].sum(axis=1), 1, rtol=1e-5)   # in fit too
    hc.remove(), hl.remove()
    assert not m._hooked_layers()
    from minigrad.hooks import forward_hooks_active
    base = forward_hooks_active[0]
    with conv.register_forward_pre_hook(lambda mod, inp: None):
        assert forward_hooks_active[0] == base + 1 and m._hooked_layers()
    assert forward_hooks_active[0] == base and not m._hooked_layers()


# --- explain -------------------------------------------------------------------------------------
def linear_model(seed=0):
    mg.manual_seed(seed)
    return models.Sequential([layers.Dense(3, input_shape=(5,))])


def test_attributions_of_a_linear_model_are_exact():
    """f_c(x) = x . W[:, c] + b_c: the gradient is W[:, c] everywhere, so saliency is
    |W[:, c]|, SmoothGrad too, and integrated gradients are x * W[:, c] at any steps."""
    m = linear_model()
    W = m.layers[0].kernel.numpy()
    x = rng.standard_normal((4, 5)).astype(np.float32)
    t = np.array([0, 2, 1, 2])
    np.testing.assert_allclose(explain.saliency(m, x, t), np.abs(W[:, t].T), rtol=1e-6)
    np.testing.assert_allclose(explain.smoothgrad(m, x, t, samples=3), np.abs(W[:, t].T),
                               rtol=1e-5)
    np.testing.assert_allclose(explain.integrated_gradients(m, x, t, steps=3), x * W[:, t].T,
                               rtol=1e-5, atol=1e-6)
    base = np.ones_like(x)
    np.testing.assert_allclose(explain.integrated_gradients(m, x, 1, baseline=base, steps=2),
                               (x - base) * W[:, 1], rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def trained_cnn():
    from minigrad.keras.datasets import mnist
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (x, y), (xt, yt) = mnist.load_data()
    x = x[:2000].reshape(-1, 28, 28, 1).astype("float32") / 255
    m = article_cnn(seed=0)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    m.fit(x, y[:2000], epochs=1, batch_size=64, verbose=0)
    return m, xt[:6].reshape(-1, 28, 28, 1).astype("float32") / 255


def test_integrated_gradients_completeness_on_the_cnn(trained_cnn):
    m, x = trained_cnn
    p = m.predict(x)
    t = p.argmax(1)
    ig = explain.integrated_gradients(m, x, t, steps=128)
    assert ig.shape == x.shape
    gap = p[np.arange(len(x)), t] - m.predict(np.zeros_like(x))[np.arange(len(x)), t]
    np.testing.assert_allclose(ig.reshape(len(x), -1).sum(1), gap, rtol=0.02, atol=1e-3)


def test_grad_cam_maps_shape_range_and_layer_lookup(trained_cnn):
    m, x = trained_cnn
    t = m.predict(x).argmax(1)
    by_name = explain.grad_cam(m, x, t, m.layers[2].name)
    by_obj = explain.grad_cam(m, x, t, m.layers[2])
    assert by_name.shape == (len(x), 28, 28)
    assert by_name.min() >= 0 and by_name.max() <= 1
    tops = by_name.reshape(len(x), -1).max(1)
    assert np.all((tops == 1) | (tops == 0)) and np.any(tops == 1)   # each scaled to [0, 1]
    np.testing.assert_array_equal(by_name, by_obj)
    with pytest.raises(ValueError, match="needs \\(N, h, w, channels\\)"):
        explain.grad_cam(m, x, t, m.layers[-2])                  # a Dense layer
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        explain.grad_cam(m, x, t, "nope")
    assert not m._hooked_layers() and m.training


def test_grad_cam_follows_its_formula_on_a_small_model():
    """Conv2D (no activation) -> Flatten -> Dense: d logit_c / dA = the Dense weights of
    class c reshaped, so the map is ReLU(sum_k mean_hw(V_k) A_k), upsampled and scaled."""
    mg.manual_seed(3)
    m = models.Sequential([layers.Conv2D(2, 3, input_shape=(6, 6, 1)), layers.Flatten(),
                           layers.Dense(3, activation="softmax")])
    x = rng.random((2, 6, 6, 1)).astype(np.float32)
    conv, dense = m.layers[0], m.layers[2]
    A = conv.forward(mg.tensor(x)).numpy().astype(np.float64)           # (2, 4, 4, 2)
    V = dense.kernel.numpy().astype(np.float64).reshape(4, 4, 2, 3)
    t = np.array([0, 2])
    w = np.stack([V[..., c].mean(axis=(0, 1)) for c in t])             # (2, channels)
    cam = np.maximum((A * w[:, None, None, :]).sum(-1), 0)
    cam = explain._resize_bilinear(cam, 6, 6)
    top = cam.max(axis=(1, 2), keepdims=True)
    expected = np.where(top > 0, cam / np.where(top > 0, top, 1), 0)
    np.testing.assert_allclose(explain.grad_cam(m, x, t, conv), expected, rtol=1e-5,
                               atol=1e-6)


def test_resize_bilinear_keeps_constants_and_interpolates_between_centres():
    maps = np.array([[[0.0, 1.0]]])                           # (1, 1, 2) -> (1, 1, 4)
    np.testing.assert_allclose(explain._resize_bilinear(maps, 1, 4),
                               [[[0.0, 0.25, 0.75, 1.0]]])
    np.testing.assert_allclose(explain._resize_bilinear(np.full((2, 3, 3), 0.4), 7, 5), 0.4)


def test_explain_argument_errors_and_mode_restored():
    m = linear_model()
    m.train()
    x = rng.standard_normal((2, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="class 3 is out of range for 3 outputs"):
        explain.saliency(m, x, 3)
    with pytest.raises(ValueError, match="one integer per example"):
        explain.saliency(m, x, [0, 1, 2])
    with pytest.raises(TypeError, match="floating point"):
        explain.saliency(m, x.astype(int), 0)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        explain.integrated_gradients(m, x, 0, steps=0)
    with pytest.raises(ValueError, match="image inputs"):
        explain.grad_cam(m, x, 0, m.layers[0])
    assert m.training
