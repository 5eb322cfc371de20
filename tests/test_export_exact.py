"""ONNX export, exactly: the graph a user opens (every node's operator and name, every
weight's name, in order), batch normalisation in the (N, C, H, W) layout and on any axis
given as a positive number, layer normalisation without its scale or shift."""
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.keras import layers, models

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

rng = np.random.default_rng(0)


def run_onnx(path, x):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def test_a_transformer_graph_names_each_node_after_its_layer(tmp_path):
    """Names are ``<part>_<n>``, numbered in the order written: in a viewer every node
    and weight says which part of which layer it computes."""
    mg.manual_seed(0)
    V, T = 11, 7
    m = models.Sequential([layers.Embedding(V, 16, input_shape=(T,)),
                           layers.TransformerBlock(4),
                           layers.LayerNormalization(center=False, scale=False),
                           layers.Dense(V, activation="softmax")])
    proto = onnx.load(m.export(str(tmp_path / "g.onnx")))
    dense = ["MatMul dense", "Add dense"]
    heads = dense + ["Reshape heads", "Transpose heads"]
    gelu = ["Mul gelu"] * 3 + ["Add gelu", "Mul gelu", "Tanh gelu", "Mul gelu", "Add gelu",
                               "Mul gelu"]
    want = (["Gather embedding", "LayerNormalization layer_norm"] + heads * 3 +
            ["MatMul attention", "Mul attention", "Add attention", "Softmax attention",
             "MatMul attention", "Transpose attention", "Reshape attention"] + dense +
            ["Add residual", "LayerNormalization layer_norm"] + dense + gelu + dense +
            ["Add residual", "LayerNormalization layer_norm"] + dense +
            ["Softmax softmax", "Identity output"])
    got = [f"{n.op_type} {n.name.rsplit('_', 1)[0]}" for n in proto.graph.node]
    assert got == want
    qkv = ["kernel", "bias", "shape"] * 3
    assert [i.name.rsplit("_", 1)[0] for i in proto.graph.initializer] == (
        ["embeddings", "ln_gamma", "ln_beta"] + qkv +
        ["scale", "causal_mask", "shape", "kernel", "bias", "ln_gamma", "ln_beta", "kernel",
         "bias", "c", "k", "half", "one", "kernel", "bias", "ln_gamma", "ln_beta", "kernel",
         "bias"])
    names = [n.name for n in proto.graph.node] + [i.name for i in proto.graph.initializer]
    numbers = sorted(int(n.rsplit("_", 1)[1]) for n in names)
    assert numbers == list(range(1, len(names) + 1))           # each name used once
    inits = {i.name.rsplit("_", 1)[0] + i.name.rsplit("_", 1)[1]:
             onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    np.testing.assert_array_equal(inits["ln_gamma67"], np.ones(16, np.float32))
    np.testing.assert_array_equal(inits["ln_beta68"], np.zeros(16, np.float32))
    x = rng.integers(0, V, (3, T))
    np.testing.assert_allclose(run_onnx(str(tmp_path / "g.onnx"), x.astype(np.int64)),
                               m.predict(x), rtol=1e-5, atol=1e-5)


def _trained(m, x):
    """A few steps of training, so that moving statistics and weights are not 0 and 1."""
    m.compile(optimizer="adam", loss="mse")
    y = m.predict(x) * 0 + rng.standard_normal(m.predict(x).shape).astype(np.float32)
    m.fit(x, y, epochs=3, batch_size=8, verbose=0)
    return m


def test_batch_normalization_after_a_convolution_exports_per_channel(tmp_path):
    """In the (N, C, H, W) layout of ONNX's convolutions, the scale and shift broadcast
    as (C, 1, 1); the same model with ``axis=3`` (positive: the last axis) too."""
    for axis in (-1, 3):
        mg.manual_seed(3)
        m = models.Sequential([layers.Conv2D(3, 3, input_shape=(6, 5, 2)),
                               layers.BatchNormalization(axis=axis),
                               layers.Conv2D(2, 1)])
        x = rng.standard_normal((16, 6, 5, 2)).astype(np.float32)
        _trained(m, x)
        path = m.export(str(tmp_path / f"bn{axis}.onnx"))
        np.testing.assert_allclose(run_onnx(path, x[:4]), m.predict(x[:4]), rtol=1e-5,
                                   atol=1e-5)


def test_batch_normalization_on_a_positive_feature_axis_exports(tmp_path):
    mg.manual_seed(4)
    m = models.Sequential([layers.Dense(6, input_shape=(4,)),
                           layers.BatchNormalization(axis=1), layers.Dense(3)])
    x = rng.standard_normal((32, 4)).astype(np.float32)
    _trained(m, x)
    path = m.export(str(tmp_path / "bn.onnx"))
    np.testing.assert_allclose(run_onnx(path, x), m.predict(x), rtol=1e-5, atol=1e-5)


def test_batch_normalization_over_another_axis_is_refused_by_name(tmp_path):
    m = models.Sequential([layers.Conv2D(3, 3, input_shape=(6, 5, 2)),
                           layers.BatchNormalization(axis=1, name="rows")])
    m.build()                                        # Keras' build() with no shape
    assert m.layers[1].built
    with pytest.raises(ValueError, match=r"^Sequential.build: give input_shape \(the first "
                       r"layer was given none\)$"):
        models.Sequential([layers.Dense(2)]).build()
    with pytest.raises(ValueError) as err:
        m.export(str(tmp_path / "x.onnx"))
    assert str(err.value) == ("layer 'rows' (BatchNormalization): only axis=-1 can be "
                              "exported")
    assert not os.path.exists(tmp_path / "x.onnx")


def test_layer_normalization_without_scale_or_shift_exports(tmp_path):
    mg.manual_seed(5)
    for center, scale in ((False, True), (True, False)):
        m = models.Sequential([layers.Dense(6, input_shape=(4,)),
                               layers.LayerNormalization(center=center, scale=scale,
                                                         epsilon=0.01),
                               layers.Dense(2)])
        x = rng.standard_normal((32, 4)).astype(np.float32)
        _trained(m, x)
        path = m.export(str(tmp_path / f"ln{center}{scale}.onnx"))
        np.testing.assert_allclose(run_onnx(path, x), m.predict(x), rtol=1e-5, atol=1e-5)


def test_every_activation_kind_exports_with_its_operator_and_attributes(tmp_path):
    """Sigmoid, softmax over the channels of (N, C, H, W) (axis 1), the leaky ReLU of an
    activation name (slope 0.01), average pooling, exact GELU (with Erf), log-softmax;
    the graph named after the model, written by 'minigrad', IR version 8."""
    from onnx import helper
    mg.manual_seed(0)
    m = models.Sequential([
        layers.Conv2D(3, 3, activation="sigmoid", input_shape=(8, 7, 2)),
        layers.Conv2D(3, 1, activation="softmax"),
        layers.Conv2D(4, 2, activation="leaky_relu", use_bias=False),
        layers.AveragePooling2D(2), layers.Flatten(),
        layers.Dense(5, activation="gelu"), layers.Dense(4, activation="log_softmax")],
        name="allkinds")
    path = m.export(str(tmp_path / "all.onnx"))
    proto = onnx.load(path)
    conv = {"pads": [0, 0, 0, 0], "strides": [1, 1]}
    got = [(n.op_type, n.name, {a.name: helper.get_attribute_value(a) for a in n.attribute})
           for n in proto.graph.node]
    assert got == [
        ("Transpose", "to_nchw_3", {"perm": [0, 3, 1, 2]}),
        ("Conv", "conv_4", {"kernel_shape": [3, 3], **conv}), ("Sigmoid", "sigmoid_5", {}),
        ("Conv", "conv_8", {"kernel_shape": [1, 1], **conv}),
        ("Softmax", "softmax_9", {"axis": 1}),
        ("Conv", "conv_11", {"kernel_shape": [2, 2], **conv}),
        ("LeakyRelu", "leaky_relu_12", {"alpha": pytest.approx(0.01)}),
        ("AveragePool", "avg_pool_13", {"count_include_pad": 0, "kernel_shape": [2, 2],
                                        "pads": [0, 0, 0, 0], "strides": [2, 2]}),
        ("Transpose", "to_nhwc_14", {"perm": [0, 2, 3, 1]}),
        ("Flatten", "flatten_15", {"axis": 1}),
        ("MatMul", "dense_17", {}), ("Add", "dense_19", {}), ("Mul", "gelu_21", {}),
        ("Erf", "gelu_22", {}), ("Mul", "gelu_24", {}), ("Add", "gelu_26", {}),
        ("Mul", "gelu_27", {}), ("MatMul", "dense_29", {}), ("Add", "dense_31", {}),
        ("LogSoftmax", "log_softmax_32", {"axis": -1}), ("Identity", "output_33", {})]
    assert [i.name for i in proto.graph.initializer] == [
        "kernel_1", "bias_2", "kernel_6", "bias_7", "kernel_10", "kernel_16", "bias_18",
        "inv_sqrt2_20", "half_23", "one_25", "kernel_28", "bias_30"]
    assert (proto.graph.name, proto.producer_name, proto.ir_version) == \
        ("allkinds", "minigrad", 8)
    out = proto.graph.output[0].type.tensor_type.shape.dim
    assert [(d.dim_param, d.dim_value) for d in out] == [("N", 0), ("", 4)]
    x = rng.standard_normal((3, 8, 7, 2)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(path, x), m.predict(x), rtol=1e-5, atol=1e-5)
    from minigrad.export import export_onnx
    assert onnx.load(export_onnx(m, str(tmp_path / "n.onnx"), name="given")).graph.name == \
        "given"


def test_export_errors_are_exact(tmp_path, monkeypatch):
    def twice(x):
        return x * 2
    bad = models.Sequential([layers.Dense(2, input_shape=(3,)),
                             layers.Activation(twice, name="act")])
    with pytest.raises(ValueError) as err:
        bad.export(str(tmp_path / "a.onnx"))
    assert str(err.value) == ("layer 'act' (Activation): activation 'twice' cannot be "
                              "exported to ONNX")
    dense = models.Sequential([layers.Dense(2, activation=twice, input_shape=(3,),
                                            name="d")])
    with pytest.raises(ValueError) as err:
        dense.export(str(tmp_path / "b.onnx"))
    assert str(err.value) == "layer 'd' (Dense): activation 'twice' cannot be exported to ONNX"
    conv = models.Sequential([layers.Conv2D(2, 1, activation=twice, input_shape=(3, 3, 1),
                                            name="c")])
    with pytest.raises(ValueError, match=r"^layer 'c' \(Conv2D\): activation 'twice' "):
        conv.export(str(tmp_path / "b.onnx"))
    with pytest.raises(ValueError) as err:
        models.Sequential([layers.Dense(2)]).export(str(tmp_path / "d.onnx"))
    assert str(err.value) == ("export: build the model first (give the first layer "
                              "input_shape or call it on data)")
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    with pytest.raises(ImportError) as err:
        bad.export(str(tmp_path / "e.onnx"))
    assert str(err.value) == ("ONNX export needs the onnx package: pip install onnx (or "
                              "minigrad[onnx], which adds onnxruntime to run the file)")
    assert not any(os.path.exists(tmp_path / f"{c}.onnx") for c in "abde")


def test_batch_norm_and_pooling_nodes_and_weights_by_name_and_shape(tmp_path):
    """Batch normalisation as a Mul and an Add whose weights broadcast per channel:
    (C, 1, 1) after a convolution, (C,) after a dense layer."""
    mg.manual_seed(0)
    m = models.Sequential([layers.Conv2D(2, 3, input_shape=(6, 6, 1)),
                           layers.BatchNormalization(), layers.MaxPooling2D(2),
                           layers.Flatten(), layers.Dense(3), layers.BatchNormalization()])
    proto = onnx.load(m.export(str(tmp_path / "bn.onnx")))
    assert [(n.op_type, n.name) for n in proto.graph.node] == [
        ("Transpose", "to_nchw_3"), ("Conv", "conv_4"), ("Mul", "bn_6"), ("Add", "bn_8"),
        ("MaxPool", "max_pool_9"), ("Transpose", "to_nhwc_10"), ("Flatten", "flatten_11"),
        ("MatMul", "dense_13"), ("Add", "dense_15"), ("Mul", "bn_17"), ("Add", "bn_19"),
        ("Identity", "output_20")]
    assert [(i.name, list(i.dims)) for i in proto.graph.initializer] == [
        ("kernel_1", [2, 1, 3, 3]), ("bias_2", [2]), ("bn_scale_5", [2, 1, 1]),
        ("bn_shift_7", [2, 1, 1]), ("kernel_12", [8, 3]), ("bias_14", [3]),
        ("bn_scale_16", [3]), ("bn_shift_18", [3])]


def test_a_channels_first_layer_is_refused_by_name(tmp_path):
    m = models.Sequential([layers.Conv2D(2, 3, data_format="channels_first",
                                         input_shape=(1, 6, 6), name="cf")])
    with pytest.raises(ValueError) as err:
        m.export(str(tmp_path / "cf.onnx"))
    assert str(err.value) == "layer 'cf' (Conv2D): only channels_last models can be exported"


def test_a_leaky_relu_layer_and_an_unsupported_layer(tmp_path):
    m = models.Sequential([layers.Dense(2, input_shape=(3,)), layers.LeakyReLU(0.2)])
    proto = onnx.load(m.export(str(tmp_path / "l.onnx")))
    assert [(n.op_type, n.name) for n in proto.graph.node] == [
        ("MatMul", "dense_2"), ("Add", "dense_4"), ("LeakyRelu", "leaky_relu_5"),
        ("Identity", "output_6")]

    class Doubler(layers.Layer):
        def call(self, x):
            return x * 2
    bad = models.Sequential([layers.Dense(4, input_shape=(5,)), Doubler(name="twice")])
    with pytest.raises(ValueError) as err:
        bad.export(str(tmp_path / "x.onnx"))
    assert str(err.value) == (
        "layer 'twice' (Doubler) cannot be exported to ONNX (supported: Dense, Conv2D, "
        "MaxPooling2D, AveragePooling2D, Flatten, Dropout, BatchNormalization, the "
        "activations, Embedding, LayerNormalization and TransformerBlock)")


def test_a_model_without_weights_exports(tmp_path):
    m = models.Sequential([layers.Flatten(input_shape=(2, 3)), layers.Activation("tanh")])
    path = m.export(str(tmp_path / "f.onnx"))
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(path, x), m.predict(x), rtol=1e-6, atol=1e-6)
