"""minigrad.explain against closed forms on models whose gradients are known exactly
(written from mutation-testing survivors: noise that matters, non-square images, a
model without forward_logits, maps with no positive evidence, every message)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import explain, nn
from minigrad.keras import layers, models

rng = np.random.default_rng(4)


class Quadratic(nn.Module):
    """f_c(x) = sum_i x_i^2 W[i, c]: df_c/dx_i = 2 x_i W[i, c] depends on x, so SmoothGrad's
    noise changes the answer, and integrated gradients are exactly (x^2 - x0^2) W[:, c]
    (the midpoint rule is exact for an integrand linear in alpha)."""

    def __init__(self, W):
        super().__init__()
        self.W = nn.Parameter(W)

    def forward(self, x):
        return (x * x) @ self.W


def quadratic(features=5, classes=3, seed=0):
    W = np.random.default_rng(seed).standard_normal((features, classes))
    return Quadratic(W.astype(np.float64)), W


def test_smoothgrad_is_the_mean_saliency_of_the_noisy_copies():
    m, W = quadratic()
    x = rng.standard_normal((3, 5))
    x[1] *= 4.0                                          # its own value range, its own sigma
    t = np.array([2, 0, 1])
    samples, noise = 4, 0.3
    got = explain.smoothgrad(m, x, t, samples=samples, noise=noise, seed=11)
    r = np.random.default_rng(11)
    sigma = noise * (x.max(axis=1, keepdims=True) - x.min(axis=1, keepdims=True))
    noisy = x[None] + r.standard_normal((samples,) + x.shape) * sigma
    expected = np.abs(2 * noisy * W[:, t].T[None]).mean(axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # batches of any size give the same, and so does another seed's mean only roughly
    np.testing.assert_allclose(explain.smoothgrad(m, x, t, samples=samples, noise=noise,
                                                  seed=11, batch_size=5), expected, rtol=1e-10)
    assert not np.allclose(explain.smoothgrad(m, x, t, samples=samples, noise=noise, seed=12),
                           expected)
    # no noise: the saliency itself
    np.testing.assert_allclose(explain.smoothgrad(m, x, t, samples=2, noise=0.0),
                               explain.saliency(m, x, t), rtol=1e-12)
    np.testing.assert_allclose(explain.saliency(m, x, t), np.abs(2 * x * W[:, t].T),
                               rtol=1e-12)


@pytest.mark.parametrize("steps", [1, 3, 8])
def test_integrated_gradients_are_exact_on_a_quadratic(steps):
    m, W = quadratic()
    x = rng.standard_normal((4, 5))
    t = np.array([0, 1, 2, 1])
    np.testing.assert_allclose(explain.integrated_gradients(m, x, t, steps=steps),
                               x ** 2 * W[:, t].T, rtol=1e-10, atol=1e-12)
    base = rng.standard_normal(5)                        # broadcast to every example
    got = explain.integrated_gradients(m, x, t, baseline=base, steps=steps, batch_size=3)
    np.testing.assert_allclose(got, (x ** 2 - base ** 2) * W[:, t].T, rtol=1e-10, atol=1e-12)
    # completeness: the attributions add up to f(x) - f(baseline)
    f = lambda a: (a ** 2) @ W                            # noqa: E731
    np.testing.assert_allclose(got.sum(1), (f(x) - f(np.broadcast_to(base, x.shape)))[
        np.arange(4), t], rtol=1e-10)


def small_cnn(seed=3):
    mg.manual_seed(seed)
    return models.Sequential([layers.Conv2D(2, 3, input_shape=(6, 8, 1), name="feat"),
                              layers.Flatten(), layers.Dense(3, activation="softmax")])


def cam_by_formula(m, x, t, H, W):
    conv, dense = m.layers[0], m.layers[2]
    A = conv.forward(mg.tensor(x)).numpy().astype(np.float64)
    h, w = A.shape[1:3]
    V = dense.kernel.numpy().astype(np.float64).reshape(h, w, A.shape[3], -1)
    weights = np.stack([V[..., c].mean(axis=(0, 1)) for c in t])
    cam = np.maximum((A * weights[:, None, None, :]).sum(-1), 0)
    cam = explain._resize_bilinear(cam, H, W)
    top = cam.max(axis=(1, 2), keepdims=True)
    return np.where(top > 0, cam / np.where(top > 0, top, 1), 0)


def test_grad_cam_on_non_square_images_by_name_and_by_object():
    m = small_cnn()
    x = rng.random((3, 6, 8, 1)).astype(np.float32)
    t = np.array([0, 2, 1])
    got = explain.grad_cam(m, x, t, "feat")
    assert got.shape == (3, 6, 8)
    np.testing.assert_allclose(got, cam_by_formula(m, x, t, 6, 8), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(explain.grad_cam(m, x, t, m.layers[0]), got)
    np.testing.assert_array_equal(explain.grad_cam(m, x, t, "0"), got)   # its module path


class Wrapped(nn.Module):
    """A model without forward_logits: grad_cam takes its output as the score."""

    def __init__(self):
        super().__init__()
        mg.manual_seed(5)
        self.conv = nn.Conv2D(2, 3, input_shape=(5, 5, 1), name="wconv")
        self.flat = nn.Flatten()
        self.head = nn.Dense(2, input_shape=(18,))

    def forward(self, x):
        return self.head(self.flat(self.conv(x)))


def test_grad_cam_of_a_module_without_forward_logits_and_a_map_with_no_evidence():
    m = Wrapped()
    x = rng.random((2, 5, 5, 1)).astype(np.float32)
    A = m.conv(mg.tensor(x)).numpy().astype(np.float64)
    V = m.head.kernel.numpy().astype(np.float64).reshape(3, 3, 2, 2)
    for c in (0, 1):
        w = V[..., c].mean(axis=(0, 1))
        cam = explain._resize_bilinear(np.maximum((A * w).sum(-1), 0), 5, 5)
        top = cam.max(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(explain.grad_cam(m, x, c, "wconv"),
                                   np.where(top > 0, cam / np.where(top > 0, top, 1), 0),
                                   rtol=1e-5, atol=1e-6)
    # make every class-0 weight negative on positive activations: no positive evidence
    m.conv.kernel.data[...] = np.abs(m.conv.kernel.data)
    m.conv.bias.data[...] = 0.1
    m.head.kernel.data[:, 0] = -np.abs(m.head.kernel.data[:, 0])
    cam = explain.grad_cam(m, x, 0, m.conv)
    assert cam.shape == (2, 5, 5) and not cam.any()


def test_grad_cam_messages():
    m = Wrapped()
    x = rng.random((1, 5, 5, 1)).astype(np.float32)
    with pytest.raises(ValueError, match=r"^grad_cam: no layer named 'nope'; the model's "
                                         r"layers: \['wconv', "):
        explain.grad_cam(m, x, 0, "nope")
    stranger = nn.Conv2D(1, 3, name="stranger")
    with pytest.raises(ValueError, match=r"^grad_cam: .*stranger.* is not a layer of this "
                                         r"model$"):
        explain.grad_cam(m, x, 0, stranger)
    m.unused = nn.Conv2D(1, 3, name="idle")
    with pytest.raises(ValueError, match=r"^grad_cam: layer 'idle' did not run in the model's "
                                         r"forward pass$"):
        explain.grad_cam(m, x, 0, "idle")
    with pytest.raises(ValueError, match=r"^grad_cam: layer 'dense\w*' gives outputs of shape "
                                         r"\(1, 2\); it needs \(N, h, w, channels\) \(a "
                                         r"convolutional layer\)$"):
        explain.grad_cam(m, x, 0, m.head)
    with pytest.raises(ValueError, match=r"^grad_cam needs image inputs \(N, H, W, C\), got "
                                         r"shape \(1, 25\)$"):
        explain.grad_cam(m, x.reshape(1, 25), 0, "wconv")
    assert not m.has_forward_hooks()                    # every hook removed again


def test_argument_messages():
    m, _ = quadratic()
    x = rng.standard_normal((2, 5))
    with pytest.raises(ValueError, match=r"^target must be a class index or one integer per "
                                         r"example \(2\), got float64 of shape \(2,\)$"):
        explain.saliency(m, x, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"^target class -1 is out of range for 3 outputs$"):
        explain.saliency(m, x, [-1, 0])
    with pytest.raises(ValueError, match=r"^target class 5 is out of range for 3 outputs$"):
        explain.saliency(m, x, [0, 5])
    with pytest.raises(ValueError, match=r"^x must be a batch \(N, \.\.\.\) with N >= 1, got "
                                         r"shape \(5,\)$"):
        explain.saliency(m, x[0], 0)
    with pytest.raises(ValueError, match=r"got shape \(0, 5\)$"):
        explain.saliency(m, x[:0], 0)
    with pytest.raises(TypeError, match=r"^x must be floating point \(as the model takes it\), "
                                        r"got int64$"):
        explain.saliency(m, x.astype(np.int64), 0)
    with pytest.raises(ValueError, match=r"^smoothgrad: samples must be >= 1 and noise >= 0, "
                                         r"got 0 and 0.1$"):
        explain.smoothgrad(m, x, 0, samples=0, noise=0.1)
    with pytest.raises(ValueError, match=r"got 2 and -0.5$"):
        explain.smoothgrad(m, x, 0, samples=2, noise=-0.5)
    with pytest.raises(ValueError, match=r"^integrated_gradients: steps must be >= 1, got 0$"):
        explain.integrated_gradients(m, x, 0, steps=0)
    out = mg.tensor(np.zeros((2, 3, 1)))
    with pytest.raises(ValueError, match=r"^the model's output must be \(N, classes\), got "
                                         r"\(2, 3, 1\)$"):
        explain._class_outputs(out, np.array([0, 0]))
    # tensors are taken as inputs too (on the host)
    np.testing.assert_allclose(explain.saliency(m, mg.tensor(x), 1), explain.saliency(m, x, 1))


def test_one_example_is_a_batch():
    m, W = quadratic()
    x = rng.standard_normal((1, 5))
    np.testing.assert_allclose(explain.saliency(m, x, 2), np.abs(2 * x * W[:, 2]), rtol=1e-12)


@pytest.mark.parametrize("n_in,n_out", [(3, 6), (4, 7), (5, 2), (3, 3)])
def test_resize_bilinear_is_linear_interpolation_between_pixel_centres(n_in, n_out):
    maps = rng.standard_normal((2, n_in, 3))
    got = explain._resize_bilinear(maps, n_out, 3)
    centres_in = (np.arange(n_in) + 0.5) / n_in
    centres_out = (np.arange(n_out) + 0.5) / n_out
    for k in range(2):
        for c in range(3):
            np.testing.assert_allclose(got[k, :, c], np.interp(centres_out, centres_in,
                                                               maps[k, :, c]), rtol=1e-12)


def test_smoothgrad_with_one_sample_and_its_default_seed_and_dtypes():
    m, W = quadratic()
    x = rng.standard_normal((2, 5))
    np.testing.assert_allclose(explain.smoothgrad(m, x, 1, samples=1, noise=0.0),
                               explain.saliency(m, x, 1), rtol=1e-12)
    np.testing.assert_array_equal(explain.smoothgrad(m, x, 1, samples=3),
                                  explain.smoothgrad(m, x, 1, samples=3, seed=0))
    mg.manual_seed(0)
    lin = models.Sequential([layers.Dense(3, input_shape=(5,))])
    x32 = rng.standard_normal((2, 5)).astype(np.float32)
    assert explain.integrated_gradients(lin, x32, 0, baseline=[0.5] * 5, steps=2).dtype == \
        np.float32
    assert explain.smoothgrad(lin, x32, 0, samples=2).dtype == np.float32


class Tanh(nn.Module):
    """f_c(x) = tanh(x . W[:, c]): the path integral depends on the number of steps."""

    def __init__(self, W):
        super().__init__()
        self.W = nn.Parameter(W)

    def forward(self, x):
        return mg.functional.tanh(x @ self.W)


def test_documented_defaults_of_the_attribution_methods():
    W = np.random.default_rng(2).standard_normal((5, 3))
    m = Tanh(W)
    # moderate inputs: for saturated ones the midpoint rule is exact to 1e-9 already
    # (the integrand sech^2(a z) is flat at both ends), and 50 and 51 steps agree
    x = np.random.default_rng(3).standard_normal((2, 5)) * 0.5
    np.testing.assert_array_equal(explain.smoothgrad(m, x, 1),
                                  explain.smoothgrad(m, x, 1, samples=25, noise=0.15, seed=0))
    ig = explain.integrated_gradients(m, x, 1)
    np.testing.assert_array_equal(ig, explain.integrated_gradients(m, x, 1, steps=50))
    assert not np.allclose(ig, explain.integrated_gradients(m, x, 1, steps=51), rtol=1e-9,
                           atol=0)


class Plain(nn.Module):
    """A sub-module with no Keras name: messages show its path or repr."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Flatten()

    def forward(self, x):
        return self.inner(x)


def test_messages_for_modules_without_a_name():
    mg.manual_seed(0)
    m = Wrapped()
    m.plain = Plain()
    x = rng.random((1, 5, 5, 1)).astype(np.float32)
    with pytest.raises(ValueError, match=r"the model's layers: \['wconv', '\w+', '\w+', "
                                         r"'plain', '\w+'\]$"):
        explain.grad_cam(m, x, 0, "nope")
    with pytest.raises(ValueError, match=r"^grad_cam: layer Plain\(\n  \(inner\): Flatten"
                                         r"\(name='flatten\w*'\)\) did not run"):
        explain.grad_cam(m, x, 0, m.plain)
