"""minigrad as users get it: a wheel built from this checkout, installed into a fresh
virtual environment, used from a folder outside the checkout with no network. An editable
install would hide package data missing from the wheel."""
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(),
                                reason="needs the source checkout")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A clean copy of the tree (an in-tree build/ folder would carry stale files)."""
    src = tmp_path_factory.mktemp("src") / "minigrad-src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "mutants", "__pycache__", ".venv"))
    return src


@pytest.fixture(scope="module")
def wheel(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    src = source
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(out), str(src)],
                   check=True, capture_output=True)
    (whl,) = out.glob("minigrad-*.whl")
    return whl


def test_wheel_holds_the_package_data_and_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = subprocess.run(["git", "ls-files", "minigrad"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    missing = [f for f in tracked if f not in names]
    assert not missing, f"tracked package files missing from the wheel: {missing}"
    assert "minigrad/py.typed" in names
    assert sum(n.startswith("minigrad/datasets/data/mnist-sample-") for n in names) == 4
    assert "minigrad/datasets/data/hamlet.txt.gz" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def _install(wheel, tmp_path, modules=(np,)):
    """A fresh virtual environment with the wheel installed and ``modules`` (numpy, the
    one runtime dependency, and any optional one) linked from this interpreter: no
    network needed. Returns (its python, its site-packages, a work folder elsewhere)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(site), str(wheel)], check=True, capture_output=True)
    for module in modules:
        d = Path(module.__file__).parent
        for path in (d, d.parent / f"{d.name}.libs"):
            if path.exists():
                (site / path.name).symlink_to(path, target_is_directory=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    return venv / "bin" / "python", site, work


def _run(python, script, work, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIGRAD_", "PYTHON"))}
    env.update(MINIGRAD_NO_DOWNLOAD="1", HOME=str(tmp_path))
    r = subprocess.run([str(python), "-I", "-c", script], cwd=work, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_wheel_installs_and_trains_offline_outside_the_checkout(wheel, tmp_path):
    python, site, work = _install(wheel, tmp_path)
    script = textwrap.dedent(f"""
        import warnings
        import numpy as np
        import minigrad as mg
        from minigrad.keras import layers, models
        from minigrad.keras.datasets import mnist
        assert mg.__file__.startswith({str(site)!r}), mg.__file__
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            (x, y), (xt, yt) = mnist.load_data()
        assert mg.datasets.mnist.data_source["mnist"] == "sample"
        assert any("bundled sample" in str(m.message) for m in w)
        mg.manual_seed(0)
        x = x[:2000].reshape(-1, 784).astype("float32") / 255
        xt = xt.reshape(-1, 784).astype("float32") / 255
        model = models.Sequential([layers.Dense(64, activation="relu", input_shape=(784,)),
                                   layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y[:2000], batch_size=64, epochs=2, verbose=0)
        loss, acc = model.evaluate(xt, yt, verbose=0)
        print("accuracy", acc)
        assert acc > 0.8, acc
        text = mg.datasets.load_text("hamlet")        # the bundled corpus of the GPT example
        assert text.startswith("Hamlet") and len(text) > 170_000
        gpt = mg.nn.GPT(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=8)
        assert gpt.generate(np.array([1, 2]), 3, temperature=0).shape == (5,)
    """)
    out = _run(python, script, work, tmp_path)
    assert "accuracy" in out


def test_the_wheel_with_numba_trains_with_the_compiled_kernels_and_keeps_them(wheel,
                                                                             tmp_path):
    """With the fast extra's Numba beside the installed wheel, a GPT step runs the compiled
    CPU kernels (loss as with NumPy's) and their machine code is cached in the installed
    package, so a second process compiles nothing."""
    numba = pytest.importorskip("numba")
    import llvmlite
    python, site, work = _install(wheel, tmp_path, (np, numba, llvmlite))
    script = textwrap.dedent(f"""
        import numpy as np
        import minigrad as mg
        from minigrad.kernels import elementwise
        assert mg.__file__.startswith({str(site)!r}), mg.__file__
        losses = []
        for compiled in (True, False):
            mg.kernels.set_compiled_kernels(compiled)
            mg.manual_seed(0)
            gpt = mg.nn.GPT(vocab_size=7, block_size=8, n_layer=1, n_head=2, n_embd=16)
            opt = mg.optim.AdamW(gpt.parameters(), lr=1e-2)
            idx = np.random.default_rng(0).integers(0, 7, (4, 8))
            for _ in range(3):
                loss = gpt.loss(idx, np.roll(idx, -1, axis=1))
                opt.zero_grad()
                loss.backward()
                opt.step()
            losses.append(loss.item())
            if compiled:
                assert sorted(elementwise._checked) and all(elementwise._checked.values())
        print("losses", losses)
        assert abs(losses[0] - losses[1]) < 1e-4, losses
    """)
    assert "losses" in _run(python, script, work, tmp_path)
    cache = site / "minigrad" / "kernels" / "cpu" / "__pycache__"
    assert any(cache.glob("compiled.*.nbi")), sorted(p.name for p in cache.iterdir())


def test_sdist_ships_the_whole_test_suite(source, tmp_path):
    subprocess.run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
                    "build_meta.build_sdist(sys.argv[1])", str(tmp_path)], cwd=source,
                   check=True, capture_output=True)
    import tarfile
    (sdist,) = tmp_path.glob("minigrad-*.tar.gz")
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    tests = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("*.py")}
    assert tests <= names, sorted(tests - names)
    assert {"LICENSE", "minigrad/py.typed", "tests/conftest.py", "tests/catalogue.py",
            "tests/strict_backend.py"} <= names
    assert not any(n.endswith(".pyc") for n in names)
