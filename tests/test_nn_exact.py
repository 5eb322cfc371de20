"""Modules, activation layers and the Sequential container exactly: what a Parameter is
made with, deleting attributes, forward (pre-)hooks with keyword arguments and their
count, state dicts of a lone layer, partial and scalar loads, reprs, configs, building,
and a Sequential holding a plain Module."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.keras import layers, models
from minigrad.nn import Module, Parameter


class Scale(Module):
    def __init__(self, n=2):
        super().__init__()
        self.w = Parameter(np.arange(1.0, n + 1.0))

    def forward(self, x, offset=0.0):
        return x * self.w + offset


def test_a_parameter_takes_its_dtype_device_and_name():
    p = Parameter([1.0, 2.0], dtype="float64", device="strict", name="w")
    assert p.dtype == np.float64 and p.device == mg.device("strict") and p.name == "w"
    assert p.requires_grad


def test_deleting_a_parameter_or_a_submodule_unregisters_it():
    class Two(Module):
        def __init__(self):
            super().__init__()
            self.a = Scale()
            self.b = Parameter(np.ones(3))
    m = Two()
    del m.b
    assert [n for n, _ in m.named_parameters()] == ["a.w"]
    del m.a
    assert list(m.named_parameters()) == [] and list(m.children()) == []
    assert not hasattr(m, "a")


def test_forward_of_a_bare_module_names_the_class():
    class Nothing(Module):
        pass
    with pytest.raises(NotImplementedError) as err:
        Nothing()(mg.ones(2))
    assert str(err.value) == "Nothing has no forward()"


def test_hooks_see_the_module_keyword_arguments_pass_and_a_single_value_replaces_args():
    m = Scale()
    seen = []
    h = m.register_forward_pre_hook(lambda mod, args: (seen.append(mod), args[0] * 10)[1])
    out = m(mg.tensor([1.0, 1.0]), offset=0.5)            # keyword through the hooked call
    assert seen == [m] and out.numpy().tolist() == [10.5, 20.5]
    h.remove()
    with pytest.raises(TypeError) as err:
        m.register_forward_hook(3)
    assert str(err.value) == "Scale: a hook must be callable, got int"
    assert list(m.children()) == []


def test_removing_one_of_two_forward_hooks_keeps_the_other_running():
    mg.manual_seed(0)
    model = models.Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)])
    calls = []
    h0 = model.layers[0].register_forward_hook(lambda *a: calls.append(0))
    model.layers[1].register_forward_hook(lambda *a: calls.append(1))
    h0.remove()
    model(np.ones((1, 2)))
    assert calls == [1]


def test_a_lone_layers_state_dict_and_loading_it():
    bn = layers.BatchNormalization()
    bn.build((3,))
    state = bn.state_dict()
    assert sorted(state) == ["beta", "gamma", "moving_mean", "moving_variance"]
    new = {k: np.full(v.shape, 2.0, v.dtype) for k, v in state.items()}
    bn.load_state_dict(new)
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, new[k])
    assert type(bn.moving_mean) is np.ndarray


def test_load_state_dict_partial_scalar_dtype_and_device():
    class Two(Module):
        def __init__(self):
            super().__init__()
            self.a = Parameter(np.zeros(2))
            self.b = Parameter(np.zeros(2))
            self.s = Parameter(np.array(0.0))
    m = Two()
    m.load_state_dict({"b": np.ones(2)}, strict=False)      # 'a' missing: 'b' still loads
    assert m.b.numpy().tolist() == [1.0, 1.0] and m.a.numpy().tolist() == [0.0, 0.0]
    m.load_state_dict({"s": 2.5}, strict=False)               # a number for a 0-d weight
    assert float(m.s.numpy()) == 2.5
    with pytest.raises(ValueError) as err:
        m.load_state_dict({"a": np.ones(2, np.float32)}, strict=False)
    assert str(err.value) == ("cannot load state into Two: 'a': dtype float32 in the file, "
                              "float64 in the model")
    m.to("strict")
    m.load_state_dict({"a": np.full(2, 3.0)}, strict=False)
    assert m.a.device == mg.device("strict") and m.a.numpy().tolist() == [3.0, 3.0]


def test_module_reprs_indent_their_children():
    class Outer(Module):
        def __init__(self):
            super().__init__()
            self.inner = Wrap()

    class Wrap(Module):
        def __init__(self):
            super().__init__()
            self.s = Scale()
    assert repr(Scale()) == "Scale()"
    assert repr(Outer()) == "Outer(\n  (inner): Wrap(\n    (s): Scale()))"


def test_a_sequential_runs_a_plain_module_as_a_step():
    s = Scale()
    model = models.Sequential([s, layers.Activation("tanh")])
    np.testing.assert_allclose(model(mg.tensor([[0.5, 0.5]])).numpy(),
                               np.tanh([[0.5, 1.0]]))
    assert [step.label for step in model.plan()][0] == "Scale (Scale)"
    assert model.plan()[0].layers == (s,)
    assert model.final_activation_name() == "tanh"
    only = models.Sequential([Scale()])
    assert only.final_activation_name() is None
    with pytest.raises(TypeError) as err:
        only.get_config()
    assert str(err.value) == "cannot serialise a Scale: only Keras-style layers have a config"


def test_activation_layers_keep_their_name_input_shape_and_config():
    relu = layers.ReLU(name="r", input_shape=(3,))
    assert relu.name == "r" and relu.input_shape == (3,) and relu.get_config() == {"name": "r"}
    act = layers.Activation("sigmoid", name="s", input_shape=(2,))
    assert act.input_shape == (2,)
    assert act.get_config() == {"name": "s", "activation": "sigmoid"}
    leaky = layers.LeakyReLU(name="l", input_shape=(4,))
    assert leaky.negative_slope == 0.3 and leaky.input_shape == (4,)       # Keras' default
    assert leaky.get_config() == {"name": "l", "negative_slope": 0.3}
    np.testing.assert_allclose(leaky(mg.tensor([-1.0, 2.0])).numpy(), [-0.3, 2.0])
    model = models.Sequential([layers.ReLU(input_shape=(3,)), layers.Dense(2)])
    assert model.layers[1].kernel.shape == (3, 2)


def test_sequential_slices_builds_and_describes_itself():
    mg.manual_seed(0)
    model = models.Sequential([layers.Dense(3, input_shape=(4,), name="a"),
                               layers.Dense(2, activation="softmax", name="b")])
    head = model[:1]
    assert type(head) is type(model) and head.layers == [model.layers[0]]
    assert model.activation_bytes_per_sample((4,)) == (3 + 2) * 4
    assert model.get_config()["layers"][0]["config"]["input_shape"] == [4]
    assert repr(models.Sequential([layers.ReLU(name="r")])) == \
        f"Sequential([\n  {layers.ReLU(name='r')!r}\n])"
    logits = model.forward_logits(mg.ones(1, 4))
    np.testing.assert_allclose(model.final_activation(logits).numpy(),
                               model(mg.ones(1, 4)).numpy(), rtol=1e-6)
    with pytest.raises(ValueError) as err:
        models.Sequential([]).build((3,))
    assert str(err.value) == "Sequential: add layers before building"
    late = models.Sequential([layers.Dense(2)])
    late.build((5,))
    assert late.layers[0].input_shape == (5,) and late.layers[0].kernel.shape == (5, 2)
    given = models.Sequential([layers.Dense(2, input_shape=(3,))])
    given.build()
    assert given.layers[0].kernel.shape == (3, 2)
    given.build((3,))
    assert given.layers[0].input_shape == (3,)


def test_a_layer_built_by_hand_is_built_once():
    mg.manual_seed(0)
    dense = layers.Dense(2)
    dense.build((3,))
    assert dense.built
    dense.kernel.data[...] = 7.0
    out = dense(mg.ones(1, 3))                      # not built again: the 7s stay
    assert out.numpy().tolist() == [[21.0, 21.0]]


def test_from_array_checks_the_dtype_and_keeps_the_name():
    p = Parameter.from_array(np.ones(2), name="k")
    assert p.name == "k"
    with pytest.raises(TypeError):
        Parameter.from_array(np.ones(2, dtype=np.int64))


def test_shared_modules_and_parameters_are_listed_once_depth_first():
    class Tree(Module):
        def __init__(self):
            super().__init__()
            self.left = Scale()
            self.mid = Wrapper(self.left)
            self.right = Scale(3)
            self.tied = self.right.w

    class Wrapper(Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.own = Scale(1)
    t = Tree()
    assert [n for n, _ in t.named_modules()] == ["", "left", "mid", "mid.own", "right"]
    assert [n for n, _ in t.named_parameters()] == ["tied", "left.w", "mid.own.w"]
    assert len(t.parameters()) == 3


def test_a_non_strict_load_still_checks_the_keys_it_finds():
    class Two(Module):
        def __init__(self):
            super().__init__()
            self.a = Parameter(np.zeros(2))
            self.b = Parameter(np.zeros(2))
    m = Two()
    with pytest.raises(ValueError) as err:
        m.load_state_dict({"b": np.ones(3)}, strict=False)
    assert str(err.value) == ("cannot load state into Two: 'b': shape (3,) in the file, (2,) "
                              "in the model")
    assert m.b.numpy().tolist() == [0.0, 0.0]


def test_activation_layers_compute_their_activation():
    x = mg.tensor([-1.0, 2.0])
    assert layers.ReLU()(x).numpy().tolist() == [0.0, 2.0]
    np.testing.assert_allclose(layers.Tanh()(x).numpy(), np.tanh([-1.0, 2.0]))
    np.testing.assert_allclose(layers.Sigmoid()(x).numpy(), 1 / (1 + np.exp([1.0, -2.0])))


def test_sequential_defaults_plain_first_layers_and_final_activations(monkeypatch):
    from minigrad.nn import layers as nn_layers
    monkeypatch.setattr(nn_layers, "_counts", {})     # as in a fresh process
    names = [models.Sequential([]).name for _ in range(3)]
    assert names == ["sequential", "sequential_1", "sequential_2"]      # unique, as Keras
    assert models.Sequential([], name="mine").name == "mine"
    with pytest.raises(ValueError) as err:
        models.Sequential([Scale()]).build()
    assert str(err.value) == "Sequential.build: give input_shape (the first layer was given none)"
    plain_first = models.Sequential([Scale(), layers.Dense(2)])
    plain_first.build((2,))                         # a plain module first: no error
    assert plain_first(mg.ones(1, 2)).shape == (1, 2)
    mg.manual_seed(0)
    three = models.Sequential([layers.Dense(3, input_shape=(2,)),
                               layers.Dense(3, activation="relu"), layers.Dense(2)])
    z = mg.tensor([[-1.0, 2.0]])
    assert three.final_activation(z) is z and three.final_activation_name() is None
    assert models.Sequential([]).final_activation(z) is z
    fused = models.Sequential([layers.Dense(3, activation="relu", input_shape=(2,))])
    assert [s.layers for s in fused.plan()] == [(fused.layers[0],)]
    two = models.Sequential([layers.ReLU(name="r"), layers.Tanh(name="t")])
    assert repr(two) == f"Sequential([\n  {two.layers[0]!r},\n  {two.layers[1]!r}\n])"


def test_named_parameters_take_a_prefix_and_skip_only_the_shared_one():
    class Holder(Module):
        def __init__(self, shared):
            super().__init__()
            self.shared = shared
            self.own = Parameter(np.zeros(1))

    class Top(Module):
        def __init__(self):
            super().__init__()
            self.a = Scale()
            self.b = Holder(self.a.w)
    t = Top()
    assert [n for n, _ in t.named_parameters()] == ["a.w", "b.own"]
    assert [n for n, _ in t.named_parameters(prefix="m")] == ["m.a.w", "m.b.own"]
    with pytest.raises(TypeError) as err:
        models.Sequential([]).add(3)
    assert str(err.value) == "Sequential.add expects a layer, got int"


def test_the_count_of_forward_hooks_returns_to_where_it_was():
    from minigrad.hooks import forward_hooks_active
    before = forward_hooks_active[0]
    m = Scale()
    handles = [m.register_forward_hook(lambda *a: None),
               m.register_forward_pre_hook(lambda *a: None)]
    assert forward_hooks_active[0] == before + 2
    handles[0].remove()
    assert forward_hooks_active[0] == before + 1
    handles[1].remove()
    assert forward_hooks_active[0] == before


def test_layer_names_are_keras_style_and_unique(monkeypatch):
    from minigrad.nn import layers as nn_layers
    monkeypatch.setattr(nn_layers, "_counts", {})     # as in a fresh process
    names = [layers.Conv2D(2, 3).name, layers.Conv2D(2, 3).name,
             layers.MaxPooling2D().name]
    assert names[0].startswith("conv2d") and names[1].startswith("conv2d")
    assert names[0] != names[1] and names[2].startswith("max_pooling2d")
    assert nn_layers._auto_name("NeverMadeLayer") == "never_made_layer"      # first: bare
    assert nn_layers._auto_name("NeverMadeLayer") == "never_made_layer_1"
    base = nn_layers._auto_name("BatchNormalization")
    assert base.startswith("batch_normalization")
    again = nn_layers._auto_name("BatchNormalization")
    n = int(base.rpartition("_")[2]) if base != "batch_normalization" else 0
    assert again == f"batch_normalization_{n + 1}"


def test_activation_names_of_known_and_unknown_callables():
    import functools
    from minigrad import functional as F
    from minigrad.nn.layers import activation_name
    assert activation_name(F.relu) == "relu" and activation_name(None) == "linear"
    assert activation_name(functools.partial(F.relu)) is None


def test_base_layers_build_and_take_lists():
    flat = layers.Flatten()
    flat.build((2, 3))
    assert flat.built
    dense = layers.Dense(2, input_shape=(3,))
    np.testing.assert_array_equal(dense([[1.0, 2.0, 3.0]]).numpy(),
                                  dense(np.array([[1.0, 2.0, 3.0]])).numpy())


def test_layer_messages_and_set_weights_exactly():
    with pytest.raises(TypeError) as err:
        layers.Dense(2, name="d8")(np.ones((2, 3), np.uint8))
    assert str(err.value) == ("layer 'd8': input has dtype uint8; convert it to float32 "
                              "first (uint8 pixel arithmetic would wrap around)")
    with pytest.raises(ValueError) as err:
        layers.Dense(2, name="d1")(mg.tensor([1.0, 2.0]))
    assert str(err.value) == ("layer 'd1' (Dense) expects inputs of shape (batch, ..., "
                              "features), got one number per sample; reshape it to (batch, 1)")
    with pytest.raises(ValueError) as err:
        layers.Conv2D(2, 3, name="c2")(mg.ones(2, 5, 5))
    assert str(err.value) == ("layer 'c2' (Conv2D) expects inputs of shape (batch, H, W, C), "
                              "got feature shape (5, 5)")
    d = layers.Dense(2, input_shape=(3,), name="dw")
    with pytest.raises(ValueError) as err:
        d.set_weights([np.ones((3, 2))])
    assert str(err.value) == "layer 'dw' has 2 weights, got 1"
    with pytest.raises(ValueError) as err:
        d.set_weights([np.ones((2, 2)), np.ones(2)])
    assert str(err.value) == "layer 'dw': weight shape (2, 2) does not match (3, 2)"
    d.set_weights([np.ones((3, 2), np.float64), np.zeros(2, np.float64)])
    assert d.kernel.dtype == np.float32 and d.bias.dtype == np.float32


@pytest.mark.parametrize("kernel,fits", [((5, 3), True), ((3, 5), True), ((6, 3), False),
                                         ((3, 6), False), ((3, 7), False)])
def test_conv_output_shape_refuses_a_kernel_that_does_not_fit(kernel, fits):
    conv = layers.Conv2D(2, kernel, name="ck")
    if fits:
        assert conv.compute_output_shape((5, 5, 1))[2] == 2
        return
    with pytest.raises(ValueError) as err:
        conv.compute_output_shape((5, 5, 1))
    assert str(err.value) == f"layer 'ck' (Conv2D): kernel {kernel} does not fit input 5x5"


def test_small_layers_keep_their_arguments_and_configs():
    inp = layers.InputLayer(input_shape=(3,), name="in")
    assert inp.input_shape == (3,) and inp.get_config() == {"name": "in", "input_shape": [3]}
    drop = layers.Dropout(0.25, name="dr", input_shape=(4,))
    assert drop.input_shape == (4,) and drop.get_config() == {"name": "dr", "rate": 0.25}
    assert layers.Dense(2, input_dim=3).input_shape == (3,)
    assert layers.Dense(2, input_shape=(5,), input_dim=3).input_shape == (5,)
    assert layers.Dense(2, input_shape=(3,)).get_config()["input_shape"] == [3]
    assert layers.Dense(2).get_config()["input_shape"] is None
    assert layers.Conv2D(2, 3, input_shape=(5, 5, 1)).get_config()["input_shape"] == [5, 5, 1]
    assert layers.Conv2D(2, 3).get_config()["input_shape"] is None
    from minigrad.nn import Linear
    lin = Linear(3, 4, name="lin")
    assert lin.name == "lin" and lin.kernel.shape == (3, 4) and lin.bias.shape == (4,)
    assert len(Linear(3, 4, bias=False).parameters()) == 1
    pool = layers.MaxPooling2D(input_shape=(4, 6, 3))
    assert pool.pool_size == (2, 2) and pool.input_shape == (4, 6, 3)
    first = layers.AveragePooling2D(data_format="channels_first")
    assert first.compute_output_shape((3, 4, 6)) == (3, 2, 3)


def test_unknown_activation_is_refused_with_the_known_names():
    from minigrad.nn.layers import ACTIVATIONS
    with pytest.raises(ValueError) as err:
        layers.Dense(2, activation="swishy")
    names = sorted(k for k in ACTIVATIONS if k)
    assert str(err.value) == f"unknown activation 'swishy'; known: {names}"


def test_a_channels_first_convolution_with_same_padding_matches_channels_last():
    mg.manual_seed(0)
    last = layers.Conv2D(3, (3, 2), padding="same", input_shape=(5, 4, 2))
    first = layers.Conv2D(3, (3, 2), padding="same", data_format="channels_first",
                          input_shape=(2, 5, 4))
    first.set_weights(last.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 5, 4, 2)).astype(np.float32)
    y_last = last(x).numpy()
    y_first = first(x.transpose(0, 3, 1, 2)).numpy()
    assert y_first.shape == (2, 3, 5, 4)
    np.testing.assert_allclose(y_first, y_last.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-6)


def test_a_subclass_build_keeps_its_own_signature():
    class Fixed(layers.Layer):
        def build(self, input_shape=(2,)):
            self.w = Parameter(np.ones(input_shape))
    f = Fixed()
    f.build()                                       # its default, then marked built
    assert f.built and f.w.shape == (2,)


def test_a_layers_weights_include_its_statistics_in_keras_order():
    """As Keras: BatchNormalization's get_weights is gamma, beta, moving mean, moving
    variance, so set_weights(other.get_weights()) copies the statistics too (they decide
    the layer's inference output)."""
    rng = np.random.default_rng(0)
    trained = layers.BatchNormalization(input_shape=(3,))
    trained.training = True
    trained(mg.tensor(rng.standard_normal((16, 3)) * 4 + 2))     # moves the statistics
    w = trained.get_weights()
    assert len(w) == 4 and [a.shape for a in w] == [(3,)] * 4
    assert (w[2] != 0).all() and (w[3] != 1).all()                # they did move
    np.testing.assert_array_equal(w[2], trained.moving_mean)
    np.testing.assert_array_equal(w[3], trained.moving_variance)
    fresh = layers.BatchNormalization(input_shape=(3,))
    fresh.set_weights(w)
    x = mg.tensor(rng.standard_normal((4, 3)))
    trained.training = fresh.training = False
    np.testing.assert_array_equal(fresh(x).numpy(), trained(x).numpy())
    with pytest.raises(ValueError) as err:
        fresh.set_weights(w[:2])
    assert str(err.value) == f"layer '{fresh.name}' has 4 weights, got 2"
