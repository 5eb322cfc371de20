"""Each callback driven directly, epoch by epoch, with the logs `fit` would pass: when
EarlyStopping stops and what it restores, which files ModelCheckpoint writes, the CSV
text, the learning rates, the TensorBoard scalars (a recording writer in place of
tensorboardX). `tests/test_training.py` runs them inside `fit`."""
import csv

import numpy as np
import pytest

from minigrad import callbacks as cb


class Opt:
    def __init__(self, lr=0.1):
        self.lr = lr


class Model:
    """What the callbacks use of a model, recorded."""

    def __init__(self):
        self.stop_training = False
        self.optimizer = Opt()
        self.weights = {"w": np.array([0.0])}
        self.saved = []

    def state_dict(self):
        return {k: v.copy() for k, v in self.weights.items()}

    def load_state_dict(self, state):
        self.weights = {k: v.copy() for k, v in state.items()}

    def save(self, path):
        self.saved.append(("model", path))

    def save_weights(self, path):
        self.saved.append(("weights", path))

    def named_parameters(self):
        yield "w", type("P", (), {"data": self.weights["w"]})()


def run(callback, values, key="val_loss", model=None):
    """Feed one log per epoch until the callback stops training; the epochs run."""
    model = model or Model()
    callback.set_model(model)
    callback.on_train_begin()
    ran = []
    for epoch, v in enumerate(values):
        model.weights["w"] = np.array([float(epoch)])
        callback.on_epoch_end(epoch, {key: v})
        ran.append(epoch)
        if model.stop_training:
            break
    return ran, model


# --- EarlyStopping ---------------------------------------------------------------------
def test_early_stopping_waits_patience_epochs_after_the_best():
    es = cb.EarlyStopping(patience=2)
    ran, model = run(es, [1.0, 0.9, 0.95, 0.91, 0.92, 0.5])
    assert ran == [0, 1, 2, 3] and es.stopped_epoch == 3 and es.best == 0.9
    assert es.wait == 2


def test_patience_zero_stops_at_the_first_epoch_without_improvement():
    es = cb.EarlyStopping()
    assert run(es, [1.0, 0.9, 0.9, 0.1])[0] == [0, 1, 2]


def test_min_delta_is_the_improvement_needed_either_sign():
    for delta in (0.1, -0.1):
        es = cb.EarlyStopping(min_delta=delta, patience=0)
        assert es.min_delta == 0.1
        assert run(es, [1.0, 0.85, 0.8])[0] == [0, 1, 2]     # 0.8 is not below 0.85 - 0.1
    es = cb.EarlyStopping(min_delta=0.1, patience=0)
    assert run(es, [1.0, 0.95])[0] == [0, 1]                 # 0.95 is not below 0.9


@pytest.mark.parametrize("monitor,mode", [("val_accuracy", "max"), ("acc", "max"),
                                          ("val_auc", "max"), ("val_loss", "min"),
                                          ("loss", "min"), ("mae", "min")])
def test_auto_mode_follows_the_metric_name(monitor, mode):
    assert cb.EarlyStopping(monitor=monitor).mode == mode
    assert cb.ModelCheckpoint("f.npz", monitor=monitor).mode == mode


def test_max_mode_stops_when_the_metric_stops_rising():
    es = cb.EarlyStopping(monitor="val_accuracy", min_delta=0.01)
    assert run(es, [0.5, 0.6, 0.605, 0.9], key="val_accuracy")[0] == [0, 1, 2]
    assert es.best == 0.6


def test_restore_best_weights_loads_the_best_epochs_weights():
    es = cb.EarlyStopping(patience=2, restore_best_weights=True)
    ran, model = run(es, [1.0, 0.5, 0.7, 0.8, 0.1])
    assert ran == [0, 1, 2, 3]
    np.testing.assert_array_equal(model.weights["w"], [1.0])     # epoch 1's
    es2 = cb.EarlyStopping(patience=2)
    _, model2 = run(es2, [1.0, 0.5, 0.7, 0.8])
    np.testing.assert_array_equal(model2.weights["w"], [3.0])    # left as they were


def test_a_new_fit_starts_early_stopping_afresh():
    es = cb.EarlyStopping(patience=0)
    run(es, [1.0, 2.0])
    ran, _ = run(es, [5.0, 4.0, 3.0])
    assert ran == [0, 1, 2] and es.best == 3.0 and es.stopped_epoch is None


def test_early_stopping_says_so_when_verbose(capsys):
    run(cb.EarlyStopping(verbose=1), [1.0, 2.0])
    assert capsys.readouterr().out == "Epoch 2: early stopping\n"
    run(cb.EarlyStopping(), [1.0, 2.0])
    assert capsys.readouterr().out == ""


def test_missing_metric_and_bad_mode_are_named():
    with pytest.raises(KeyError) as e:
        run(cb.EarlyStopping(), [1.0], key="loss")
    assert e.value.args[0] == "EarlyStopping: metric 'val_loss' not in logs ['loss']"
    with pytest.raises(ValueError) as e:
        cb.EarlyStopping(mode="up")
    assert str(e.value) == "mode must be 'auto', 'min' or 'max', got 'up'"
    with pytest.raises(KeyError) as e:
        run(cb.ModelCheckpoint("x.npz", save_best_only=True), [1.0], key="loss")
    assert e.value.args[0] == "ModelCheckpoint: metric 'val_loss' not in logs"


# --- ModelCheckpoint ---------------------------------------------------------------------
def test_checkpoint_every_epoch_with_the_epoch_and_metrics_in_the_name():
    ck = cb.ModelCheckpoint("ckpt-{epoch:02d}-{val_loss:.2f}.npz")
    _, model = run(ck, [0.5, 0.25])
    assert model.saved == [("model", "ckpt-01-0.50.npz"), ("model", "ckpt-02-0.25.npz")]


def test_checkpoint_only_the_best_weights():
    ck = cb.ModelCheckpoint("best-{epoch}.npz", save_best_only=True, save_weights_only=True)
    _, model = run(ck, [0.5, 0.7, 0.4, 0.4])
    assert model.saved == [("weights", "best-1.npz"), ("weights", "best-3.npz")]
    ck = cb.ModelCheckpoint("acc-{epoch}.npz", monitor="val_accuracy", save_best_only=True)
    _, model = run(ck, [0.5, 0.4, 0.6], key="val_accuracy")
    assert model.saved == [("model", "acc-1.npz"), ("model", "acc-3.npz")]
    ck = cb.ModelCheckpoint("min-{epoch}.npz", monitor="val_accuracy", mode="min",
                            save_best_only=True)
    _, model = run(ck, [0.5, 0.4, 0.6], key="val_accuracy")
    assert [p for _, p in model.saved] == ["min-1.npz", "min-2.npz"]


def test_checkpoint_says_where_when_verbose(capsys):
    run(cb.ModelCheckpoint("m-{epoch}.npz", verbose=1), [0.5])
    assert capsys.readouterr().out == "Epoch 1: saved m-1.npz\n"


# --- TerminateOnNaN, LearningRateScheduler, History ---------------------------------------
@pytest.mark.parametrize("loss,stops", [(float("nan"), True), (float("inf"), True),
                                        (-float("inf"), True), (1e30, False), (None, False)])
def test_terminate_on_nan(loss, stops, capsys):
    model = Model()
    t = cb.TerminateOnNaN()
    t.set_model(model)
    t.on_train_batch_end(7, {} if loss is None else {"loss": loss})
    assert model.stop_training is stops
    assert capsys.readouterr().out == (f"Batch 7: invalid loss {loss}, terminating "
                                       "training\n" if stops else "")


def test_learning_rate_scheduler_sets_and_logs_the_rate(capsys):
    model = Model()
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr * 0.5 if epoch else lr
    s = cb.LearningRateScheduler(schedule, verbose=1)
    s.set_model(model)
    logs = {}
    for epoch in range(3):
        s.on_epoch_begin(epoch)
        s.on_epoch_end(epoch, logs)
    assert seen == [(0, 0.1), (1, 0.1), (2, 0.05)]
    assert model.optimizer.lr == 0.025 and logs["learning_rate"] == 0.025
    assert capsys.readouterr().out == ("Epoch 1: learning rate 0.1\nEpoch 2: learning rate "
                                       "0.05\nEpoch 3: learning rate 0.025\n")
    s.on_epoch_end(3, None)                      # no logs: nothing to write into


def test_history_collects_each_key_per_epoch():
    h = cb.History()
    h.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})
    h.on_epoch_end(1, {"loss": 0.5})
    h.on_epoch_end(2, None)
    assert h.epoch == [0, 1, 2]
    assert h.history == {"loss": [1.0, 0.5], "val_loss": [2.0]}


# --- CSVLogger ----------------------------------------------------------------------------
def test_csv_logger_writes_a_header_then_one_row_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("old\n")
    log = cb.CSVLogger(path, separator=";")
    log.on_train_begin()
    assert path.read_text() == ""                  # not appending: the old rows go
    log.on_epoch_end(0, {"loss": 0.5, "acc": 0.25})
    log.on_epoch_end(1, {"loss": 0.25})
    assert path.read_text() == "epoch;acc;loss\n0;0.25;0.5\n1;;0.25\n"


def test_csv_logger_to_a_missing_folder_fails_before_training(tmp_path):
    from minigrad.keras import layers, models
    m = models.Sequential([layers.Dense(1, input_shape=(2,))])
    m.compile(optimizer="sgd", loss="mse")
    w = m.get_weights()
    path = tmp_path / "no such folder" / "log.csv"
    with pytest.raises(FileNotFoundError) as e:
        m.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), epochs=2, verbose=0,
              callbacks=[cb.CSVLogger(path)])
    assert str(path) in str(e.value)
    for a, b in zip(m.get_weights(), w):               # not one step was taken
        np.testing.assert_array_equal(a, b)


def test_csv_logger_appends_without_a_second_header(tmp_path):
    path = tmp_path / "log.csv"
    for _ in range(2):
        log = cb.CSVLogger(path, append=True)
        log.on_train_begin()
        log.on_epoch_end(0, {"loss": 1.0})
    with path.open() as f:
        rows = list(csv.reader(f))
    assert rows == [["epoch", "loss"], ["0", "1.0"], ["0", "1.0"]]


# --- TensorBoard ----------------------------------------------------------------------------
class Writer:
    def __init__(self):
        self.scalars, self.histograms, self.flushed, self.closed = [], [], 0, False

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def add_histogram(self, tag, values, step):
        self.histograms.append((tag, list(values), step))

    def flush(self):
        self.flushed += 1

    def close(self):
        self.closed = True


def recording(tb):
    writers = {"train": Writer(), "validation": Writer()}

    def _open():
        tb._writers = writers
    tb._open = _open
    return writers


def test_tensorboard_scalars_per_epoch_and_histograms_every_n():
    tb = cb.TensorBoard(histogram_freq=2)
    w = recording(tb)
    model = Model()
    tb.set_model(model)
    tb.on_train_begin()
    for epoch in range(3):
        tb.on_train_batch_end(0, {"loss": 9.0})
        tb.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "val_loss": 2.0})
    train, val = w["train"], w["validation"]
    assert train.scalars == [("epoch_loss", 1.0, 0), ("epoch_learning_rate", 0.1, 0),
                             ("epoch_loss", 0.5, 1), ("epoch_learning_rate", 0.1, 1),
                             ("epoch_loss", 1 / 3, 2), ("epoch_learning_rate", 0.1, 2)]
    assert val.scalars == [("epoch_loss", 2.0, 0), ("epoch_loss", 2.0, 1),
                           ("epoch_loss", 2.0, 2)]
    assert [(tag, step) for tag, _, step in train.histograms] == [("w", 0), ("w", 2)]
    assert train.flushed == val.flushed == 3
    tb.on_train_end()
    assert train.closed and val.closed and tb._writers is None


@pytest.mark.parametrize("freq,logged", [("batch", [1, 2, 3, 4, 5]), (2, [2, 4]),
                                         ("epoch", [])])
def test_tensorboard_batch_losses(freq, logged):
    tb = cb.TensorBoard(update_freq=freq)
    w = recording(tb)
    tb.set_model(Model())
    tb.on_train_begin()
    for b in range(5):
        tb.on_train_batch_end(b, {"loss": float(b)})
    assert [step for _, _, step in w["train"].scalars] == logged
    assert all(tag == "batch_loss" for tag, _, _ in w["train"].scalars)


def test_tensorboard_arguments_are_checked():
    with pytest.raises(ValueError) as e:
        cb.TensorBoard(update_freq=0)
    assert str(e.value) == "TensorBoard: update_freq must be an integer >= 1, got 0"
    with pytest.raises(ValueError) as e:
        cb.TensorBoard(histogram_freq=-1)
    assert str(e.value) == "TensorBoard: histogram_freq must be an integer >= 0, got -1"
    assert cb.TensorBoard(log_dir=__import__("pathlib").Path("x")).log_dir == "x"


def test_history_plot_draws_each_metric_with_its_validation_curve():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    h = cb.History()
    h.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.5, "accuracy": 0.5})
    h.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.75, "accuracy": 0.75})
    axes = h.plot()
    assert len(axes) == 2 and len(axes[0].figure.axes) == 2
    assert tuple(axes[0].figure.get_size_inches()) == (10.0, 3.5)   # 5 inches per plot
    loss_ax, acc_ax = axes
    assert [ln.get_label() for ln in loss_ax.get_lines()] == ["loss", "val_loss"]
    assert list(loss_ax.get_lines()[0].get_xdata()) == [1, 2]
    assert list(loss_ax.get_lines()[1].get_ydata()) == [1.5, 0.75]
    assert list(loss_ax.get_lines()[1].get_xdata()) == [1, 2]      # epochs, counted from 1
    assert loss_ax.get_title() == "loss" and loss_ax.get_xlabel() == "epoch"
    assert loss_ax.get_ylabel() == "loss" and list(loss_ax.get_xticks()) == [1, 2]
    assert [ln.get_label() for ln in acc_ax.get_lines()] == ["accuracy"]
    assert loss_ax.get_lines()[0].get_marker() == "o"
    assert loss_ax.get_lines()[1].get_linestyle() == "--"
    only = h.plot(metrics=["accuracy"])
    assert len(only) == 1 and only[0].get_title() == "accuracy"
    fig, ax = plt.subplots()
    got = h.plot(metrics=["loss"], ax=ax)
    assert list(got) == [ax] and len(ax.get_lines()) == 2
    assert ax.get_legend() is not None
    plt.close("all")


def test_an_equal_value_is_no_improvement_in_either_mode():
    es = cb.EarlyStopping(monitor="val_accuracy")
    assert run(es, [0.5, 0.5, 0.9], key="val_accuracy")[0] == [0, 1]
    ck = cb.ModelCheckpoint("m-{epoch}.npz", monitor="val_accuracy", save_best_only=True)
    _, model = run(ck, [0.5, 0.5], key="val_accuracy")
    assert [p for _, p in model.saved] == ["m-1.npz"]


def test_defaults_save_every_epoch_quietly(capsys):
    ck = cb.ModelCheckpoint("e-{epoch}.npz")
    _, model = run(ck, [0.5, 0.75, 1.0])          # worse and worse: saved all the same
    assert [p for _, p in model.saved] == ["e-1.npz", "e-2.npz", "e-3.npz"]
    s = cb.LearningRateScheduler(lambda epoch, lr: lr)
    s.set_model(Model())
    s.on_epoch_begin(0)
    assert capsys.readouterr().out == ""
    tb = cb.TensorBoard()
    assert (tb.log_dir, tb.histogram_freq, tb.update_freq) == ("logs", 0, "epoch")


def test_csv_logger_writes_the_header_into_an_empty_file(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("")
    log = cb.CSVLogger(path, append=True)
    log.on_train_begin()
    log.on_epoch_end(0, {"loss": 2.0})
    assert path.read_text() == "epoch,loss\n0,2.0\n"


def test_tensorboard_without_tensorboardx_says_how_to_get_it(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError) as e:
        cb.TensorBoard().on_train_begin()
    assert str(e.value) == ("TensorBoard needs tensorboardX: pip install tensorboardX (or "
                            "minigrad[interop])")


def test_tensorboard_with_a_model_without_an_optimizer():
    tb = cb.TensorBoard()
    w = recording(tb)
    tb.set_model(object())
    tb.on_train_begin()
    tb.on_epoch_end(0, {"loss": 1.0})
    assert w["train"].scalars == [("epoch_loss", 1.0, 0)]
