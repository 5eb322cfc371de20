"""`Sequential.summary()` and the fusion plan's step labels, character by character.

The summary is text a learner reads next to Keras' own; the plan labels say which fast
path runs each layer. Both are compared exactly (layers are named explicitly, so the
automatic name counters do not matter).
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.keras import layers, models


def named_cnn(fuse=True):
    return models.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1), name="c1"),
        layers.MaxPooling2D((2, 2), name="p1"),
        layers.Conv2D(64, (3, 3), activation="relu", name="c2"),
        layers.MaxPooling2D((2, 2), name="p2"),
        layers.Conv2D(64, (3, 3), activation="relu", name="c3"),
        layers.Flatten(name="f"),
        layers.Dense(64, activation="relu", name="d1"),
        layers.Dense(10, activation="softmax", name="d2"),
    ], fuse=fuse)


CNN_TABLE = """\
Model: "{name}"
{rule}
 Layer (type)                Output Shape              Param #
{double}
 c1 (Conv2D)                 (None, 26, 26, 32)        320
 p1 (MaxPooling2D)           (None, 13, 13, 32)        0
 c2 (Conv2D)                 (None, 11, 11, 64)        18,496
 p2 (MaxPooling2D)           (None, 5, 5, 64)          0
 c3 (Conv2D)                 (None, 3, 3, 64)          36,928
 f (Flatten)                 (None, 576)               0
 d1 (Dense)                  (None, 64)                36,928
 d2 (Dense)                  (None, 10)                650
{double}
Total params: 93,322
Trainable params: 93,322
Non-trainable params: 0
{rule}"""


def expected_cnn_table(name):
    return CNN_TABLE.format(name=name, rule="_" * 67, double="=" * 67)


def test_summary_of_the_article_cnn_is_the_keras_table():
    m = named_cnn()
    printed = []
    text = m.summary(print_fn=printed.append)
    assert text == expected_cnn_table(m.name)
    assert printed == [text]


def test_summary_prints_with_print_by_default(capsys):
    m = named_cnn()
    text = m.summary()
    assert capsys.readouterr().out == text + "\n"


def test_summary_shows_the_fused_plan():
    m = named_cnn()
    text = m.summary(print_fn=None, show_plan=True)
    assert text.startswith(expected_cnn_table(m.name) + "\n")
    assert text.endswith("""
Execution plan (fused):
 1. c1 (Conv2D) + relu + p1 (MaxPooling2D): conv2d(max_pool=2)
 2. c2 (Conv2D) + relu + p2 (MaxPooling2D): conv2d(max_pool=2)
 3. c3 (Conv2D) + relu (in place)
 4. f (Flatten)
 5. d1 (Dense) + relu (in place)
 6. d2 (Dense)
 7. softmax""")


def test_summary_shows_the_unfused_plan():
    text = named_cnn(fuse=False).summary(print_fn=None, show_plan=True)
    assert text.endswith("""
Execution plan (fuse=False):
 1. c1 (Conv2D)
 2. relu
 3. p1 (MaxPooling2D)
 4. c2 (Conv2D)
 5. relu
 6. p2 (MaxPooling2D)
 7. c3 (Conv2D)
 8. relu
 9. f (Flatten)
 10. d1 (Dense)
 11. relu
 12. d2 (Dense)
 13. softmax""")


def test_columns_widen_for_long_names_and_shapes():
    m = models.Sequential([layers.Dense(3, input_shape=(2,), name="a" * 40)])
    text = m.summary(print_fn=None)
    first = " " + "a" * 40 + " (Dense)"
    w0 = len(first) + 2
    lines = text.splitlines()
    assert lines[1] == "_" * (w0 + 26 + 12)
    assert lines[2] == " Layer (type)".ljust(w0) + "Output Shape".ljust(26) + "Param #"
    assert lines[4] == first.ljust(w0) + "(None, 3)".ljust(26) + "9"
    # a 1x1 convolution over a huge image: a long shape, a tiny kernel
    wide = models.Sequential([layers.Conv2D(1, 1, input_shape=(100000, 100000, 1),
                                            name="c")])
    shape = "(None, 100000, 100000, 1)"
    assert len(shape) + 2 > 26
    wlines = wide.summary(print_fn=None).splitlines()
    assert wlines[4] == " c (Conv2D)".ljust(29) + shape.ljust(len(shape) + 2) + "2"
    assert wlines[1] == "_" * (29 + len(shape) + 2 + 12)


def test_batch_statistics_are_non_trainable_and_thousands_are_separated():
    m = models.Sequential([layers.Dense(1000, input_shape=(3,), name="d"),
                           layers.BatchNormalization(name="bn"),
                           layers.Dense(2, name="d2"),
                           layers.BatchNormalization(name="bn2")])
    lines = m.summary(print_fn=None).splitlines()
    assert lines[4] == " d (Dense)".ljust(29) + "(None, 1000)".ljust(26) + "4,000"
    # gamma and beta train; the moving mean and variance are buffers
    assert lines[5] == " bn (BatchNormalization)".ljust(29) + "(None, 1000)".ljust(26) + "4,000"
    assert lines[7] == " bn2 (BatchNormalization)".ljust(29) + "(None, 2)".ljust(26) + "8"
    assert lines[-4:] == ["Total params: 10,010", "Trainable params: 8,006",
                          "Non-trainable params: 2,004", "_" * 67]


def test_a_plain_module_in_the_stack_counts_its_parameters():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.ones(3, np.float32))

        def compute_output_shape(self, shape):
            return shape

        def forward(self, x):
            return x * self.w

    m = models.Sequential([layers.Dense(3, input_shape=(2,), name="d")])
    m.add(Scale())
    lines = m.summary(print_fn=None).splitlines()
    assert lines[5].split() == ["(Scale)", "(None,", "3)", "3"]
    assert lines[5].startswith("  (Scale)")       # no Keras name: the name column is empty
    assert "Total params: 12" in lines


def test_summary_of_an_unbuilt_model_says_how_to_build_it():
    m = models.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError) as e:
        m.summary(print_fn=None)
    assert str(e.value) == ("summary: the model is not built; give the first layer "
                            "input_shape=... or call the model on data first")


def other_fusions(fuse=True):
    return models.Sequential([
        layers.Conv2D(2, 3, activation="relu", input_shape=(8, 8, 1), name="c"),
        layers.MaxPooling2D(2, strides=1, name="p"),          # stride != size: not fused
        layers.Conv2D(2, 3, name="c2"),
        layers.MaxPooling2D(3, name="p3"),                    # no activation: fused, 3x3
        layers.Flatten(name="f"),
        layers.Dense(4, activation="sigmoid", name="d")], fuse=fuse)


def test_plan_labels_of_the_other_fusions():
    fused = other_fusions()
    plan = fused.plan()
    assert [s.label for s in plan] == [
        "c (Conv2D) (its relu moves past the pooling)",
        "p (MaxPooling2D) + relu (moved past the pooling)",
        "c2 (Conv2D) + p3 (MaxPooling2D): conv2d(max_pool=3)",
        "f (Flatten)",
        "d (Dense)",
        "sigmoid"]
    assert [s.final_activation for s in plan] == [False] * 5 + [True]
    assert [tuple(layer.name for layer in s.layers) for s in plan] == [
        ("c",), ("p",), ("c2", "p3"), ("f",), ("d",), ()]
    unfused = other_fusions(fuse=False)
    unfused.set_weights(fused.get_weights())
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 1)).astype(np.float32)
    with mg.no_grad():
        np.testing.assert_allclose(fused(x).data, unfused(x).data, rtol=1e-5, atol=1e-6)


def test_a_hidden_activation_other_than_relu_is_a_step_of_its_own():
    m = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(3,), name="a"),
                           layers.Dense(2, name="b")])
    plan = m.plan()
    assert [s.label for s in plan] == ["a (Dense)", "tanh", "b (Dense)"]
    assert [s.final_activation for s in plan] == [False, False, False]
