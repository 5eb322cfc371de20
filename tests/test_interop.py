"""Interop: DLPack (zero-copy with PyTorch and NumPy), safetensors weight files, ONNX export
checked by ONNX Runtime."""
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad import io as wio
from minigrad.keras import layers, models

from models import article_cnn

rng = np.random.default_rng(0)


# --- DLPack ------------------------------------------------------------------------------------
def test_dlpack_with_pytorch_shares_memory_both_ways():
    torch = pytest.importorskip("torch")
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    m = mg.from_dlpack(t, requires_grad=True)
    assert m.shape == (2, 3) and m.dtype == np.float32
    m.data[0, 0] = 42.0
    assert t[0, 0].item() == 42.0                      # minigrad's write seen by PyTorch
    (m * m).sum().backward()                           # and it takes part in a graph
    np.testing.assert_array_equal(m.grad.numpy(), 2 * t.numpy())
    x = mg.tensor(np.zeros(3, np.float32))
    tt = torch.from_dlpack(x)
    tt[1] = 7.0
    np.testing.assert_array_equal(x.numpy(), [0, 7, 0])  # PyTorch's write seen by minigrad


def test_dlpack_with_numpy_and_errors():
    a = np.arange(4.0)
    t = mg.from_dlpack(a)
    assert np.shares_memory(t.data, a)
    b = np.from_dlpack(t)
    assert np.shares_memory(b, a)
    assert t.__dlpack_device__() == (1, 0)
    with pytest.raises(TypeError, match="object with __dlpack__"):
        mg.from_dlpack([1.0, 2.0])


# --- safetensors --------------------------------------------------------------------------------
def test_safetensors_round_trip_writes_exactly_that_path(tmp_path):
    pytest.importorskip("safetensors")
    m = article_cnn(seed=0)
    path = tmp_path / "w.safetensors"
    assert m.save_weights(str(path)) == str(path)
    assert os.listdir(tmp_path) == ["w.safetensors"]            # no temporary left
    other = article_cnn(seed=1)
    other.load_weights(str(path))
    for (k, a), (_, b) in zip(m.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    model_path = tmp_path / "m.safetensors"                     # architecture in metadata
    m.save(str(model_path))
    again = models.load_model(str(model_path))
    x = rng.random((2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x), m.predict(x))


def test_a_safetensors_file_written_by_pytorch_loads(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    m = article_cnn(seed=0)
    state = {k: torch.from_numpy(v.copy()) for k, v in m.state_dict().items()}
    st_torch.save_file(state, str(tmp_path / "t.safetensors"))
    other = article_cnn(seed=3)
    other.load_weights(str(tmp_path / "t.safetensors"))
    x = rng.random((2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_array_equal(other.predict(x), m.predict(x))


def _unchanged(model, before):
    for (k, a), b in zip(model.state_dict().items(), before):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_bad_safetensors_files_are_refused_and_the_model_untouched(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    m = article_cnn(seed=0)
    before = [v.copy() for v in m.state_dict().values()]
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1}")          # corrupt header
    with pytest.raises(wio.WeightsFileError, match="not a valid safetensors file"):
        m.load_weights(str(bad))
    good = st.save({"x": np.ones((4, 4), np.float32)})
    lying = tmp_path / "lying.safetensors"
    lying.write_bytes(good[:-8])                       # the header promises 8 more bytes
    with pytest.raises(wio.WeightsFileError, match="not a valid safetensors file"):
        m.load_weights(str(lying))
    state = m.state_dict()
    key = next(iter(state))
    state[key] = state[key][..., :-1].copy()                     # one wrong shape
    st_path = tmp_path / "shape.safetensors"
    wio.save_arrays(str(st_path), state)
    with pytest.raises(wio.WeightsFileError, match=rf"'{key}': file has"):
        m.load_weights(str(st_path))
    state = m.state_dict()
    state[key] = state[key].astype(np.float64)                   # one wrong dtype
    wio.save_arrays(str(st_path), state)
    with pytest.raises(wio.WeightsFileError, match="float64"):
        m.load_weights(str(st_path))
    _unchanged(m, before)


def test_a_failed_safetensors_write_leaves_the_old_file(tmp_path, monkeypatch):
    st = pytest.importorskip("safetensors.numpy")
    m = article_cnn(seed=0)
    path = tmp_path / "w.safetensors"
    m.save_weights(str(path))
    old = path.read_bytes()

    def broken(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(st, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        article_cnn(seed=1).save_weights(str(path))
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["w.safetensors"]


# --- ONNX ------------------------------------------------------------------------------------------
def run_onnx(path, x):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def test_the_article_cnn_exported_to_onnx_runs_the_same_in_onnx_runtime(tmp_path):
    onnx = pytest.importorskip("onnx")
    m = article_cnn(seed=0)
    path = m.export(str(tmp_path / "cnn.onnx"), format="onnx")
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 17
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == [28, 28, 1]
    for n in (1, 7):                                                # a dynamic batch
        x = rng.random((n, 28, 28, 1)).astype(np.float32)
        np.testing.assert_allclose(run_onnx(path, x), m.predict(x), rtol=1e-5, atol=1e-5)


def test_an_mlp_with_batch_norm_and_dropout_exports_for_inference(tmp_path):
    pytest.importorskip("onnx")
    mg.manual_seed(1)
    m = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                           layers.BatchNormalization(), layers.Dropout(0.3),
                           layers.Dense(5, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((64, 8)).astype(np.float32)
    m.fit(x, np.arange(64) % 5, epochs=3, verbose=0)       # moving statistics away from 0/1
    path = m.export(str(tmp_path / "mlp.onnx"))
    np.testing.assert_allclose(run_onnx(path, x), m.predict(x), rtol=1e-5, atol=1e-5)


def test_onnx_export_of_same_padding_strides_pools_and_activations(tmp_path):
    """Asymmetric 'same' pads (even kernel, stride 2), average pooling without the
    padding counted, GELU and LeakyReLU, and a model that ends on a convolution (its
    output back in (N, H, W, C))."""
    pytest.importorskip("onnx")
    mg.manual_seed(2)
    m = models.Sequential([
        layers.Conv2D(4, (2, 3), strides=2, padding="same", activation="gelu",
                      input_shape=(9, 8, 3)),
        layers.AveragePooling2D(2, padding="same"),
        layers.LeakyReLU(0.2),
        layers.MaxPooling2D((2, 1), strides=1, padding="same"),
        layers.Conv2D(3, 1, activation="tanh")])
    x = rng.standard_normal((3, 9, 8, 3)).astype(np.float32)
    path = m.export(str(tmp_path / "mix.onnx"))
    np.testing.assert_allclose(run_onnx(path, x), m.predict(x), rtol=1e-5, atol=1e-5)


def test_int8_model_exports_with_its_dequantized_kernels(tmp_path):
    pytest.importorskip("onnx")
    from minigrad import compress
    q = compress.quantize(article_cnn(seed=0))
    x = rng.random((2, 28, 28, 1)).astype(np.float32)
    path = q.export(str(tmp_path / "q.onnx"))
    np.testing.assert_allclose(run_onnx(path, x), q.predict(x), rtol=1e-5, atol=1e-5)


def test_a_transformer_model_exports_with_its_causal_mask(tmp_path):
    """Embedding -> two TransformerBlocks -> LayerNormalization -> Dense(softmax) on int64
    tokens: the same probabilities at every position as predict."""
    pytest.importorskip("onnx")
    mg.manual_seed(0)
    V, T = 11, 7
    m = models.Sequential([layers.Embedding(V, 16, input_shape=(T,)),
                           layers.TransformerBlock(4), layers.TransformerBlock(2, dropout=0.1),
                           layers.LayerNormalization(), layers.Dense(V, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.integers(0, V, (16, T))
    m.fit(x, x, epochs=1, verbose=0)
    path = m.export(str(tmp_path / "gpt.onnx"))
    out = run_onnx(path, x[:5].astype(np.int64))
    assert out.shape == (5, T, V)
    np.testing.assert_allclose(out, m.predict(x[:5]), rtol=1e-5, atol=1e-5)
    changed = x[:1].copy()                      # causal: a later token changes no earlier one
    changed[0, -1] = (changed[0, -1] + 1) % V
    a, b = run_onnx(path, x[:1].astype(np.int64)), run_onnx(path, changed.astype(np.int64))
    np.testing.assert_allclose(a[0, :-1], b[0, :-1], rtol=1e-6)
    assert not np.allclose(a[0, -1], b[0, -1])


class Doubler(layers.Layer):
    def call(self, x):
        return x * 2


def test_layers_that_cannot_be_exported_are_named(tmp_path):
    pytest.importorskip("onnx")
    m = models.Sequential([layers.Dense(4, input_shape=(5,)), Doubler(name="twice")])
    with pytest.raises(ValueError, match=r"layer 'twice' \(Doubler\) cannot be exported"):
        m.export(str(tmp_path / "x.onnx"))
    assert not os.path.exists(tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="format must be 'onnx'"):
        m.export(str(tmp_path / "x.tflite"), format="tflite")
    with pytest.raises(ValueError, match="build the model first"):
        models.Sequential([layers.Dense(2)]).export(str(tmp_path / "y.onnx"))


# --- TensorBoard ---------------------------------------------------------------------------------
def read_scalars(folder):
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    acc = ea_mod.EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    return acc


def test_tensorboard_callback_logs_read_back_by_tensorboard(tmp_path):
    pytest.importorskip("tensorboardX")
    from minigrad.keras import callbacks
    mg.manual_seed(0)
    m = models.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)),
                           layers.Dense(2, activation="softmax")])
    m.compile(optimizer=mg.optim.SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    tb = callbacks.TensorBoard(str(tmp_path), histogram_freq=1, update_freq=2)
    h = m.fit(x[:30], y[:30], validation_data=(x[30:], y[30:]), epochs=3, batch_size=10,
              verbose=0, callbacks=[tb]).history
    train = read_scalars(tmp_path / "train")
    val = read_scalars(tmp_path / "validation")
    got = [e.value for e in train.Scalars("epoch_loss")]
    np.testing.assert_allclose(got, h["loss"], rtol=1e-6)
    np.testing.assert_allclose([e.value for e in train.Scalars("epoch_accuracy")],
                               h["accuracy"], rtol=1e-6)
    np.testing.assert_allclose([e.value for e in val.Scalars("epoch_loss")], h["val_loss"],
                               rtol=1e-6)
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1, 2]
    np.testing.assert_allclose([e.value for e in train.Scalars("epoch_learning_rate")],
                               [0.05] * 3, rtol=1e-6)
    assert [e.step for e in train.Scalars("batch_loss")] == [2, 4, 6, 8]  # 9 batches, every 2
    assert len(train.Tags()["histograms"]) == len(m.parameters())
    with pytest.raises(ValueError, match="update_freq"):
        callbacks.TensorBoard(str(tmp_path), update_freq=0)
