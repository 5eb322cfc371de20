"""Layers, Module, Sequential: building, shapes, registration order, errors."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.keras import layers, models
from models import article_cnn


def test_keras_names_are_the_same_objects():
    import minigrad.keras as K
    assert K.layers.Dense is nn.Dense and issubclass(K.models.Sequential, nn.Sequential)
    assert K.optimizers.Adam is mg.optim.Adam and K.losses.get is mg.losses.get
    assert mg.keras is K


def test_summary_matches_keras_parameter_counts():
    model = article_cnn()
    text = model.summary(print_fn=None)
    assert "Total params: 93,322" in text
    assert "(None, 26, 26, 32)" in text and "(None, 3, 3, 64)" in text
    assert "(None, 576)" in text and text.count("\n") > 10


def test_sequential_container_protocol():
    model = article_cnn()
    assert len(model) == 8
    assert isinstance(model[0], nn.Conv2D) and isinstance(model[-1], nn.Dense)
    assert [type(layer).__name__ for layer in model][:2] == ["Conv2D", "MaxPooling2D"]
    model.add(layers.Dropout(0.5))
    assert len(model) == 9


def test_parameters_registered_in_assignment_order():
    model = article_cnn()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.kernel", "0.bias", "2.kernel", "2.bias", "4.kernel", "4.bias",
                     "6.kernel", "6.bias", "7.kernel", "7.bias"]


def test_lazy_build_on_first_call():
    d = nn.Dense(5)
    assert not d.built and d.parameters() == []
    y = d(mg.randn(3, 7))
    assert y.shape == (3, 5) and d.kernel.shape == (7, 5)


def test_dense_input_mismatch_names_layer_and_shapes():
    d = nn.Dense(4, input_shape=(3,), name="fc")
    with pytest.raises(ValueError, match=r"'fc'.*expected shape \(None, 3\).*\(2, 5\)"):
        d(mg.randn(2, 5))


def test_conv_input_mismatch_names_layer_and_shapes():
    c = nn.Conv2D(8, 3, input_shape=(10, 10, 3), name="c1")
    with pytest.raises(ValueError, match=r"'c1'.*received shape \(2, 10, 10, 1\)"):
        c(mg.randn(2, 10, 10, 1))
    d = nn.Dense(3, name="d3")
    d(mg.randn(2, 4, 4))
    with pytest.raises(ValueError, match=r"'d3'.*expected shape \(None, 4, 4\), received "
                                         r"shape \(2, 4, 5\)"):
        d(mg.randn(2, 4, 5))


def test_dense_transforms_the_last_axis_as_keras():
    """(N, ..., in) -> (N, ..., units): the same map on every position, gradients too."""
    rng = np.random.default_rng(0)
    d = nn.Dense(3, activation="relu")
    x = mg.tensor(rng.standard_normal((2, 5, 4)), requires_grad=True)
    y = d(x)
    assert y.shape == (2, 5, 3) and d.output_shape == (None, 5, 3)
    W, b = d.kernel.numpy(), d.bias.numpy()
    np.testing.assert_allclose(y.numpy(), np.maximum(x.numpy() @ W + b, 0), rtol=1e-6)
    g = rng.standard_normal((2, 5, 3))
    y.backward(mg.tensor(g))
    m = (x.numpy() @ W + b > 0) * g
    np.testing.assert_allclose(x.grad.numpy(), m @ W.T, rtol=1e-6)
    np.testing.assert_allclose(d.kernel.grad.numpy(),
                               np.einsum("nti,nto->io", x.numpy(), m), rtol=1e-6)
    with pytest.raises(ValueError, match="reshape it to"):
        nn.Dense(2)(mg.randn(4))


def test_uint8_input_refused_with_clear_error():
    d = nn.Dense(2, input_shape=(3,))
    with pytest.raises(TypeError, match="uint8"):
        d(mg.tensor(np.array([[200, 100, 1]], dtype=np.uint8)))


def test_conv_same_padding_and_strides():
    c = nn.Conv2D(4, (3, 3), strides=2, padding="same", input_shape=(9, 9, 2))
    y = c(mg.randn(1, 9, 9, 2))
    assert y.shape == (1, 5, 5, 4) == (1,) + c.compute_output_shape((9, 9, 2))


def test_conv_channels_first_matches_channels_last():
    mg.manual_seed(1)
    cl = nn.Conv2D(3, 3, input_shape=(6, 6, 2))
    cf = nn.Conv2D(3, 3, data_format="channels_first", input_shape=(2, 6, 6))
    cf.set_weights(cl.get_weights())
    x = mg.randn(2, 6, 6, 2)
    y1 = cl(x).numpy()
    y2 = cf(x.transpose(0, 3, 1, 2)).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-6)


def test_conv_layer_matches_torch():
    torch = pytest.importorskip("torch")
    c = nn.Conv2D(4, (3, 2), strides=(2, 1), input_shape=(7, 6, 3))
    x = np.random.default_rng(0).standard_normal((2, 7, 6, 3)).astype(np.float32)
    W = c.kernel.numpy()
    ref = torch.nn.functional.conv2d(torch.tensor(x).permute(0, 3, 1, 2),
                                     torch.tensor(W).permute(3, 2, 0, 1),
                                     torch.tensor(c.bias.numpy()), stride=(2, 1))
    np.testing.assert_allclose(c(mg.tensor(x)).numpy(), ref.permute(0, 2, 3, 1).numpy(),
                               rtol=1e-4, atol=1e-5)


def test_dropout_train_and_eval():
    d = nn.Dropout(0.5)
    x = mg.ones(1000)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 300 < (y == 0).sum() < 700
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())


def test_dropout_seeded():
    mg.manual_seed(5)
    a = F.dropout(mg.ones(50), 0.5).numpy()
    mg.manual_seed(5)
    b = F.dropout(mg.ones(50), 0.5).numpy()
    np.testing.assert_array_equal(a, b)


def test_batchnorm_train_eval_and_gradient():
    bn = nn.BatchNormalization(input_shape=(3,))
    x = mg.randn(16, 3, dtype="float32") * 4 + 2
    y = bn(x).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-2)
    assert not np.allclose(bn.moving_mean, 0)
    bn.eval()
    assert bn(x).shape == (16, 3)
    sd = bn.state_dict()
    assert "moving_mean" in sd and "gamma" in sd
    mg.set_default_dtype("float64")
    bn64 = nn.BatchNormalization(input_shape=(3,))
    xx = mg.randn(6, 3, requires_grad=True)
    assert mg.gradcheck(lambda t: bn64(t) * mg.tensor(np.arange(18.0).reshape(6, 3)), [xx])


def test_module_state_dict_roundtrip_and_checks():
    a, b = article_cnn(), article_cnn()
    b.load_state_dict(a.state_dict())
    for (n1, p1), (n2, p2) in zip(a.named_parameters(), b.named_parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1.numpy(), p2.numpy())
    bad = a.state_dict()
    bad["0.kernel"] = bad["0.kernel"][:, :, :, :5]
    before = b.state_dict()
    with pytest.raises(ValueError, match=r"'0\.kernel': shape"):
        b.load_state_dict(bad)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_custom_module_and_explicit_loop():
    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Dense(16, activation="relu", input_shape=(4,))
            self.fc2 = nn.Dense(3)

        def forward(self, x):
            return self.fc2(self.fc1(x))

    mg.manual_seed(0)
    model = MLP()
    opt = mg.optim.SGD(model.parameters() or None, lr=0.1)
    x = mg.randn(64, 4)
    y = mg.tensor((x.numpy()[:, 0] > 0).astype(np.int64) + (x.numpy()[:, 1] > 0))
    model(x)
    opt = mg.optim.SGD(model.parameters(), lr=0.5)
    first = None
    for _ in range(60):
        loss = F.cross_entropy(model(x), y)
        model.zero_grad()
        loss.backward()
        opt.step()
        first = first or loss.item()
    assert loss.item() < 0.5 * first
    assert [n for n, _ in model.named_parameters()] == ["fc1.kernel", "fc1.bias",
                                                       "fc2.kernel", "fc2.bias"]


def test_train_eval_modes_propagate():
    model = article_cnn()
    model.eval()
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_initializers_and_seeding():
    mg.manual_seed(7)
    a = article_cnn().state_dict()
    mg.manual_seed(7)
    b = article_cnn().state_dict()
    mg.manual_seed(8)
    c = article_cnn().state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["0.kernel"], c["0.kernel"])
    lim = np.sqrt(6 / (9 + 9 * 32))
    assert np.abs(a["0.kernel"]).max() <= lim


def test_pooling_layers_shapes():
    x = mg.randn(2, 7, 7, 3)
    assert nn.MaxPooling2D(2)(x).shape == (2, 3, 3, 3)
    assert nn.MaxPooling2D(2, padding="same")(x).shape == (2, 4, 4, 3)
    assert nn.AveragePooling2D(3, strides=2)(x).shape == (2, 3, 3, 3)


def _conv_pool_models():
    """Sequential models whose conv -> pool pairs take each of the fused paths."""
    def small(conv, pool, shape=(9, 10, 2)):
        return models.Sequential([conv, pool, layers.Flatten(), layers.Dense(3)]), shape
    return {
        # Conv2D + 2x2 pooling in one op, ReLU after the pooling; odd edges dropped
        "article_cnn": (article_cnn(), (28, 28, 1)),
        "conv_pool_no_activation": small(layers.Conv2D(4, 3, input_shape=(9, 10, 2)),
                                         layers.MaxPooling2D(2)),
        "conv_pool_channels_first": small(
            layers.Conv2D(3, 2, activation="relu", data_format="channels_first",
                          input_shape=(2, 9, 10)),
            layers.MaxPooling2D(3, data_format="channels_first"), (2, 9, 10)),
        "conv_pool3_many_channels": small(
            layers.Conv2D(4, 2, activation="relu", input_shape=(9, 10, 9)),
            layers.MaxPooling2D(3), (9, 10, 9)),
        # overlapping / padded pooling: only the ReLU moves past it
        "relu_moves_past_overlapping_pool": small(
            layers.Conv2D(4, 3, activation="relu", input_shape=(9, 10, 2)),
            layers.MaxPooling2D(3, strides=2, padding="same")),
        # a non-ReLU activation: nothing is fused
        "tanh_conv_then_pool": small(layers.Conv2D(4, 3, activation="tanh",
                                                   input_shape=(9, 10, 2)),
                                     layers.MaxPooling2D(2)),
    }


@pytest.mark.parametrize("name", list(_conv_pool_models()))
def test_sequential_fusions_equal_layer_by_layer(name):
    """Sequential fuses Conv2D + MaxPooling2D (and moves ReLUs past poolings); outputs and
    gradients equal those of the layers run one by one."""
    mg.manual_seed(2)
    model, shape = _conv_pool_models()[name]
    x = mg.tensor(np.random.default_rng(0).standard_normal((3,) + shape).astype(np.float32))
    spatial = (slice(None),) * (2 if name == "conv_pool_channels_first" else 1)
    x.data[spatial + (slice(0, 7), slice(0, 7))] = 0     # flat: tied maxima in the pooling
    y = mg.tensor([1, 2, 0])
    logits = model.forward_logits(x)
    F.cross_entropy(logits, y).backward()
    fused = [p.grad.numpy() for p in model.parameters()]
    model.zero_grad()
    h = x
    for layer in model.layers[:-1]:
        h = layer(h)                          # layer by layer: ReLU before each pooling
    ref = model.layers[-1](h, apply_activation=False)
    F.cross_entropy(ref, y).backward()
    np.testing.assert_allclose(logits.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(fused, (p.grad.numpy() for p in model.parameters())):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_fused_max_pool_that_does_not_fit_is_refused():
    x = mg.randn(1, 4, 4, 2)
    W = mg.randn(3, 3, 2, 5)
    with pytest.raises(ValueError, match="max_pool 3 must be >= 1 and fit"):
        F.conv2d(x, W, layout="NHWC", max_pool=3)


def test_summary_counts_batchnorm_statistics_as_non_trainable():
    m = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.BatchNormalization(),
                           layers.Dense(2)])
    text = m.summary(print_fn=None)
    assert "Total params: 42" in text          # 16 + (4 + 4 + 8) + 10
    assert "Trainable params: 34" in text and "Non-trainable params: 8" in text


def test_device_and_has_parameters_of_built_and_empty_modules():
    empty = nn.Sequential([nn.Flatten()])
    assert not empty.has_parameters() and empty.device == "cpu"
    lazy = nn.Sequential([nn.Dense(2)])
    assert not lazy.has_parameters()
    lazy(np.zeros((1, 3), np.float32))
    assert lazy.has_parameters() and lazy.device == "cpu"
    from strict_backend import StrictArray  # noqa: F401  (registers the backend)
    assert lazy.to("strict").device == "strict:0"
