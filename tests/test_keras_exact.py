"""Keras-side helpers at their edges: to_categorical, load_text and load_model's refusals,
every message exactly."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import io as wio
from minigrad.datasets import load_text
from minigrad.datasets.text import BUNDLED
from minigrad.keras import layers, models
from minigrad.keras.utils import to_categorical


# --- to_categorical -----------------------------------------------------------------------
def test_to_categorical_shapes_dtypes_and_inputs():
    np.testing.assert_array_equal(to_categorical(mg.tensor(np.array([1, 0]))),
                                  [[0, 1], [1, 0]])
    out = to_categorical(np.array([[0, 2], [1, 1]]), 4, dtype="float64")
    assert out.shape == (2, 2, 4) and out.dtype == np.float64
    np.testing.assert_array_equal(out[0, 1], [0, 0, 1, 0])
    assert to_categorical(np.array([[2], [0]])).shape == (2, 3)      # (N, 1) labels
    np.testing.assert_array_equal(to_categorical([2.0, 0.0]), [[0, 0, 1], [1, 0, 0]])
    assert to_categorical(np.zeros(0, int)).shape == (0, 0)
    assert to_categorical(np.zeros(0, int), 3).shape == (0, 3)
    assert to_categorical(np.array([0, 1], np.uint8), 2).dtype == np.float32


@pytest.mark.parametrize("labels,classes,message", [
    ([0.5, 1.0], None, "to_categorical: labels must be whole numbers"),
    (np.array([True, False]), None, "to_categorical: labels must be integers, got dtype bool"),
    (["a"], None, "to_categorical: labels must be integers, got dtype <U1"),
    ([0, -2], 3, "to_categorical: negative label -2"),
    ([0, 3], 3, "to_categorical: label 3 is out of range for 3 classes"),
])
def test_to_categorical_messages(labels, classes, message):
    with pytest.raises(ValueError) as e:
        to_categorical(labels, classes)
    assert str(e.value) == message


# --- load_text -------------------------------------------------------------------------------
def test_the_bundled_hamlet():
    text = load_text()
    assert text == load_text("hamlet") and len(text) > 170_000
    assert "To be, or not to be" in text and BUNDLED == {"hamlet": "hamlet.txt.gz"}


def test_load_text_reads_utf8_files_and_names_what_is_wrong(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("héllo", encoding="utf-8")
    assert load_text(str(f)) == "héllo" and load_text(f) == "héllo"
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError) as e:
        load_text(str(missing))
    assert str(e.value) == (f"load_text: no file {str(missing)!r} (and not a bundled text: "
                            "['hamlet'])")
    with pytest.raises(FileNotFoundError):
        load_text(str(tmp_path))                       # a folder is not a text file
    empty = tmp_path / "e.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError) as e:
        load_text(str(empty))
    assert str(e.value) == f"load_text: {str(empty)!r} is empty"
    latin = tmp_path / "l.txt"
    latin.write_bytes(b"ab\xe9cd")
    with pytest.raises(ValueError) as e:
        load_text(str(latin))
    assert str(e.value) == (f"load_text: {str(latin)!r} is not UTF-8 text (invalid "
                            "continuation byte at byte 2)")


# --- load_model's refusals -------------------------------------------------------------------
def saved(tmp_path, compile_cfg=None, layers_cfg=None, class_name="Sequential", fmt=None):
    """A saved model whose config is then rewritten as asked."""
    m = models.Sequential([layers.Dense(2, input_shape=(3,))])
    m.compile(optimizer="adam", loss="mse")
    path = tmp_path / "m.npz"
    m.save(path)
    cfg = wio.read_config(path)
    if fmt is not None:
        cfg["format"] = fmt
    cfg["model"]["class_name"] = class_name
    if layers_cfg is not None:
        cfg["model"]["layers"] = layers_cfg
    if compile_cfg is not None:
        cfg["compile"] = compile_cfg
    arrays = {k: v for k, v in np.load(path).items() if k != wio.CONFIG_KEY}
    wio.save_arrays(path, arrays, config=cfg)
    return path


@pytest.mark.parametrize("kw,message", [
    (dict(fmt="other"), "{path} holds no model architecture (was it written by "
                        "save_weights? use model.load_weights)"),
    (dict(class_name="Functional"), "unsupported model class 'Functional'"),
    (dict(layers_cfg=[["Dense"]]), "bad layer entry in the architecture: ['Dense']"),
    (dict(layers_cfg=[{"class_name": "Dense", "config": {"units": 0, "input_shape": [3]}}]),
     "bad config for Dense: Dense: units must be an integer >= 1, got 0"),
    (dict(layers_cfg=[{"class_name": "Dense", "config": {"units": 2}}]),
     "{path}: the saved model has no input shape to build from"),
    (dict(compile_cfg={"optimizer": {"name": "Adagrad"}, "loss": "mse"}),
     "{path}: unknown optimizer 'Adagrad' in the saved compile settings (load with "
     "compile=False)"),
    (dict(compile_cfg={"optimizer": {"name": "SGD", "momentum": -1}, "loss": "mse"}),
     "{path}: bad compile settings (SGD: momentum must be a finite number in [0.0, inf), "
     "got -1); load with compile=False to skip them"),
    (dict(compile_cfg={"optimizer": {"name": "SGD"}, "loss": "hinge"}),
     "{path}: bad compile settings (unknown loss 'hinge'; known: ['binary_crossentropy', "
     "'categorical_crossentropy', 'mean_squared_error', 'mse', "
     "'sparse_categorical_crossentropy']); load with compile=False to skip them"),
])
def test_load_model_refusals_are_exact(tmp_path, kw, message):
    path = saved(tmp_path, **kw)
    with pytest.raises(wio.WeightsFileError) as e:
        models.load_model(path)
    assert str(e.value) == message.format(path=path)


def test_load_model_without_compile_skips_bad_settings(tmp_path):
    path = saved(tmp_path, compile_cfg={"optimizer": {"name": "Adagrad"}, "loss": "mse"})
    m = models.load_model(path, compile=False)
    assert m.optimizer is None and m.loss is None
    ok = models.load_model(saved(tmp_path))
    assert type(ok.optimizer).__name__ == "Adam" and ok.loss.name == "mse"


def test_to_categorical_of_one_label_and_of_sequences_of_labels():
    assert to_categorical([2]).shape == (1, 3)
    out = to_categorical(np.array([[[0], [2], [1]], [[1], [1], [0]]]))   # (2, 3, 1)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out[0, 1], [0, 0, 1])


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_load_model_restores_the_optimizer_and_the_model_name(tmp_path, name):
    m = models.Sequential([layers.Dense(2, input_shape=(3,))], name="mine")
    m.compile(optimizer=name, loss="mse")
    path = m.save(tmp_path / "m.npz")
    back = models.load_model(path)
    assert type(back.optimizer) is type(m.optimizer) and back.name == "mine"


@pytest.mark.parametrize("kw,message", [
    (dict(layers_cfg=[{"config": {}}]), "bad layer entry in the architecture: {{'config': {{}}}}"),
    (dict(compile_cfg={"optimizer": {}, "loss": "mse"}),
     "{path}: unknown optimizer None in the saved compile settings (load with compile=False)"),
    (dict(compile_cfg={"optimizer": {"name": "LossScaleOptimizer",
                                     "inner_optimizer": {"name": "Nadam"}}, "loss": "mse"}),
     "{path}: unknown optimizer 'Nadam' in the saved compile settings (load with "
     "compile=False)"),
    (dict(compile_cfg={"optimizer": {"name": "LossScaleOptimizer", "initial_scale": -1,
                                     "inner_optimizer": {"name": "SGD"}}, "loss": "mse"}),
     "{path}: bad compile settings ("),
])
def test_more_load_model_refusals(tmp_path, kw, message):
    path = saved(tmp_path, **kw)
    with pytest.raises(wio.WeightsFileError) as e:
        models.load_model(path)
    assert str(e.value).startswith(message.format(path=path))
    if not message.endswith("("):
        assert str(e.value) == message.format(path=path)
