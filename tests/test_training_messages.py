"""What the training entry points print and say: the progress line character by character
(with a controlled clock), and the errors of fit / evaluate / predict / train_on_batch,
each naming the call and the argument."""
import io

import numpy as np
import pytest

import minigrad as mg
from minigrad.keras import layers, models
from minigrad.training import progress
from minigrad.training.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    return now


def test_progress_line_on_a_terminal(clock):
    out = Terminal()
    bar = ProgressBar(10, verbose=1, width=10, stream=out)
    clock[0] = 100.6
    bar.update(3, {"loss": 0.5})
    assert out.getvalue() == "\r 3/10 [==>.......] - ETA: 1s - loss: 0.5000"
    clock[0] = 100.65                          # within 0.1 s of the last redraw: skipped
    bar.update(4, {"loss": 0.4})
    assert out.getvalue().count("\r") == 1
    clock[0] = 100.8
    bar.update(0, {})
    assert out.getvalue().endswith("\r 0/10 [..........] - ETA: 8s")    # 0.8 s x 10
    clock[0] = 102.0
    bar.update(10, {"loss": 0.25, "accuracy": 0.9}, finalize=True)
    assert out.getvalue().endswith(
        "\r10/10 [==========] - 2s 200ms/step - loss: 0.2500 - accuracy: 0.9000\n")


def test_progress_line_elsewhere_and_other_verbosities(clock):
    out = io.StringIO()                              # not a terminal: only the final line
    bar = ProgressBar(4, verbose=1, width=8, stream=out)
    clock[0] = 101.0
    bar.update(1, {"loss": 1.0})
    assert out.getvalue() == ""
    clock[0] = 104.0
    bar.update(4, {"loss": 1.0}, finalize=True)
    assert out.getvalue() == "4/4 [========] - 4s 1000ms/step - loss: 1.0000\n"
    for verbose, want in ((2, "\r1/2 [===>....] - 1s 1000ms/step\n"), (0, "")):
        out = Terminal()
        clock[0] = 100.0
        bar = ProgressBar(2, verbose=verbose, width=8, stream=out)
        clock[0] = 101.0
        bar.update(1, {})                         # verbose 2 never redraws
        assert out.getvalue() == ""
        bar.update(1, {}, finalize=True)
        assert out.getvalue() == want


def test_progress_of_fit_and_evaluate_counts_steps_of_the_default_batch_size(capsys):
    m = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((40, 3)).astype(np.float32)
    y = np.arange(40) % 2
    m.fit(x, y, epochs=1, verbose=2)                   # default batch_size 32: 2 steps
    assert "Epoch 1/1\n2/2 [" in capsys.readouterr().out
    m.evaluate(x, y, verbose=2)
    assert capsys.readouterr().out.startswith("2/2 [")
    m.evaluate(x, y, batch_size=8, verbose=2)
    assert capsys.readouterr().out.startswith("5/5 [")


def model():
    m = models.Sequential([layers.Dense(2, input_shape=(3,))])
    return m


X = np.zeros((4, 3), np.float32)
Y = np.zeros(4, np.int64)

CALLS = {
    "fit": lambda m, **kw: m.fit(X, Y, verbose=0, **kw),
    "evaluate": lambda m, **kw: m.evaluate(X, Y, verbose=0, **kw),
    "train_on_batch": lambda m, **kw: m.train_on_batch(X, Y, **kw),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_calls_before_compile_name_themselves(name):
    with pytest.raises(RuntimeError, match=rf"^{name}: call model.compile\(optimizer, "
                                           r"loss\) first$"):
        CALLS[name](model())


@pytest.mark.parametrize("name", ["fit", "evaluate", "predict"])
def test_bad_batch_size_names_the_call_and_the_argument(name):
    m = model()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    call = CALLS.get(name, lambda m, **kw: m.predict(X, **kw))
    with pytest.raises(ValueError, match=rf"^{name}: batch_size must be an integer >= 1, "
                                         r"got 0$"):
        call(m, batch_size=0)


@pytest.mark.parametrize("name", ["fit", "evaluate", "train_on_batch"])
def test_sample_count_mismatch_names_the_call(name):
    m = model()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    call = {"fit": lambda: m.fit(X, Y[:3], verbose=0),
            "evaluate": lambda: m.evaluate(X, Y[:3], verbose=0),
            "train_on_batch": lambda: m.train_on_batch(X, Y[:3])}[name]
    with pytest.raises(ValueError, match=rf"^{name}: x has 4 samples but y has 3 "):
        call()


@pytest.mark.parametrize("name", ["predict", "evaluate"])
def test_no_samples_names_the_call(name):
    m = model()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    call = m.predict if name == "predict" else (lambda x: m.evaluate(x, Y[:0], verbose=0))
    with pytest.raises(ValueError, match=rf"^{name}: got 0 samples \(x has shape \(0, 3\)\)"):
        call(X[:0])


def test_fit_argument_messages():
    m = model()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"^fit: epochs must be an integer >= 0, got -1$"):
        m.fit(X, Y, epochs=-1, verbose=0)
    with pytest.raises(ValueError, match=r"^fit: initial_epoch must be an integer >= 0"):
        m.fit(X, Y, initial_epoch=-2, verbose=0)
    with pytest.raises(ValueError, match=r"^fit: validation_batch_size must be an integer "
                                         r">= 1, got 0$"):
        m.fit(X, Y, validation_batch_size=0, verbose=0)
    with pytest.raises(ValueError, match=r"^fit: validation_data must be a pair \(x_val, "
                                         r"y_val\), got tuple of length 3$"):
        m.fit(X, Y, validation_data=(X, Y, Y), verbose=0)
    with pytest.raises(ValueError, match=r"^fit: validation_data must be a pair \(x_val, "
                                         r"y_val\), got ndarray$"):
        m.fit(X, Y, validation_data=X, verbose=0)
    with pytest.raises(ValueError, match=r"^fit \(validation_data\): x has 4 samples but y "
                                         r"has 2"):
        m.fit(X, Y, validation_data=(X, Y[:2]), verbose=0)


def test_model_call_runs_the_models_own_forward_hooks():
    m = model()
    seen = []
    with m.register_forward_hook(lambda mod, inputs, out: seen.append(out.shape)):
        m(X)
    m(X)
    assert seen == [(4, 2)]
