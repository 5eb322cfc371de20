"""MNIST and Fashion-MNIST loaders (Keras' ``load_data`` API).

Files are the standard IDX ``.gz`` files. Search order:

1. ``path`` (a folder holding the four files);
2. ``$MINIGRAD_DATA/mnist/`` (resp. ``$MINIGRAD_DATA/fashion-mnist/``);
3. system folders (Fashion-MNIST: ``/usr/share/datasets/fashion-mnist/``, where Debian's
   ``dataset-fashion-mnist`` package puts it);
4. the user cache ``~/.cache/minigrad/mnist/`` (resp. ``fashion-mnist``);
5. a download from the canonical mirrors into that cache (unless
   ``MINIGRAD_NO_DOWNLOAD=1``): to a temporary file, verified, then renamed.

Every file is verified before parsing, by the SHA-256 of its decompressed content, so any
gzip wrapper of the published data is accepted. MNIST also ships a small real sample inside
the package (6,000 training and 1,000 test images, the first ones of each official
split), used when the full data cannot be found or fetched.
"""
from __future__ import annotations

import os
import tempfile
import urllib.request
import warnings
from pathlib import Path

from .idx import ChecksumError, load_pair, read_idx_bytes, verify

__all__ = ["load_data", "load_fashion_mnist", "data_source", "DataNotFoundError"]

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

# (sha256 of the decompressed content, md5 of the original .gz)
MNIST_CHECKS = {
    "train-images-idx3-ubyte.gz": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels-idx1-ubyte.gz": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "d53e105ee54ea40749a09fcbcd1e9432"),
    "t10k-images-idx3-ubyte.gz": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "9fb629c4189551a2d022fa330f9573f3"),
    "t10k-labels-idx1-ubyte.gz": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        "ec29112dd5afa0611ce80d1b7f02629c"),
}
# Fashion-MNIST by the SHA-256 of the decompressed content only: re-compressed copies of
# the same data (Debian's dataset-fashion-mnist strips the gzip file-name field) are the
# same data.
FASHION_CHECKS = {
    "train-images-idx3-ubyte.gz": (
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", None),
    "train-labels-idx1-ubyte.gz": (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", None),
    "t10k-images-idx3-ubyte.gz": (
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", None),
    "t10k-labels-idx1-ubyte.gz": (
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", None),
}
SAMPLE_PREFIX = "mnist-sample-"
SAMPLE_CHECKS = {
    SAMPLE_PREFIX + "train-images-idx3-ubyte.gz": (
        "2782ff6f3467f3487a520503c34fe99b761aa97623af029969e59716ac3585c3", None),
    SAMPLE_PREFIX + "train-labels-idx1-ubyte.gz": (
        "0d830540a6191e75a9f5cd63cd5b4bde38960b893784bbf456d560179296d7cd", None),
    SAMPLE_PREFIX + "t10k-images-idx3-ubyte.gz": (
        "de7c252b04f05e1f8309634180ccdf286dc6dbac8c579b74e76e02ae0331ca52", None),
    SAMPLE_PREFIX + "t10k-labels-idx1-ubyte.gz": (
        "832c0d20f0dc42e575488c75a83a970787d4c8d4d05831b2ef03701b4a478a90", None),
}
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    # (an S3 *website* endpoint serves plain http only; the content is verified anyway)
    "fashion-mnist": ["https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
                      "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/"
                      "master/data/fashion/",
                      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
#: folders where system packages install the data (Debian's dataset-fashion-mnist)
SYSTEM_DIRS = {"mnist": [], "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")]}
SAMPLE_DIR = Path(__file__).resolve().parent / "data"

#: where the last ``load_data`` call found its data ('full: <folder>' or 'sample')
data_source = {"mnist": None, "fashion-mnist": None}


class DataNotFoundError(FileNotFoundError):
    """The dataset files are nowhere to be found and could not be downloaded."""


def _candidates(name, path):
    dirs = []
    if path is not None:
        dirs.append(Path(path))
    env = os.environ.get("MINIGRAD_DATA")
    if env:
        dirs.append(Path(env) / name)
    dirs += SYSTEM_DIRS[name]
    dirs.append(Path.home() / ".cache" / "minigrad" / name)     # last: the download target
    return dirs


def _has_all(d: Path) -> bool:
    return all((d / f).is_file() for f in FILES)


def _download(name, folder: Path, checks) -> bool:
    """Fetch the missing files into ``folder``: each to a temporary file, verified, then
    renamed. Returns False when no mirror answers.

    Raises:
        ChecksumError: a mirror served content that fails verification (the temporary
            file is deleted first).
    """
    if os.environ.get("MINIGRAD_NO_DOWNLOAD") == "1":
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    for fname in FILES:
        if (folder / fname).is_file():
            continue
        ok, bad = False, None
        for base in MIRRORS[name]:
            url = base + fname
            fd, tmp = tempfile.mkstemp(prefix=".part-", dir=folder)
            os.close(fd)
            try:
                with urllib.request.urlopen(url, timeout=20) as r, open(tmp, "wb") as f:
                    while True:
                        chunk = r.read(1 << 20)
                        if not chunk:
                            break
                        f.write(chunk)
                sha, md5 = checks[fname]
                verify(tmp, read_idx_bytes(tmp), sha, md5)
                os.replace(tmp, folder / fname)
                ok = True
                break
            except ChecksumError as exc:
                bad = ChecksumError(f"{url}: {str(exc).split(': ', 1)[-1]}; the downloaded "
                                    "file was deleted")
            except (OSError, ValueError):
                continue
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        if not ok:
            if bad is not None:
                raise bad
            return False
    return True


def _load_folder(d: Path, checks, prefix=""):
    tr = load_pair(d / (prefix + FILES[0]), d / (prefix + FILES[1]), checks)
    te = load_pair(d / (prefix + FILES[2]), d / (prefix + FILES[3]), checks)
    return tr, te


def _load(name, checks, path, sample):
    if sample is True:
        if name != "mnist":
            raise ValueError(f"no bundled sample of {name}")
        data_source[name] = "sample"
        return _load_folder(SAMPLE_DIR, SAMPLE_CHECKS, SAMPLE_PREFIX)
    dirs = _candidates(name, path)
    for d in dirs:
        if _has_all(d):
            data_source[name] = f"full: {d}"
            return _load_folder(d, checks)
    if path is not None and not _has_all(Path(path)):
        missing = [f for f in FILES if not (Path(path) / f).is_file()]
        raise DataNotFoundError(f"{path}: missing {', '.join(missing)}")
    cache = dirs[-1]
    if _download(name, cache, checks):
        data_source[name] = f"full: {cache}"
        return _load_folder(cache, checks)
    where = " or ".join(str(d) for d in dirs)
    msg = (f"{name} not found: put {', '.join(FILES)} in {where} (or set MINIGRAD_DATA to a "
           f"folder holding '{name}/'), or allow a download from {MIRRORS[name][0]}")
    if sample == "auto" and name == "mnist":
        warnings.warn(msg + ". Using the bundled sample (6,000 train / 1,000 test images).",
                      stacklevel=3)
        data_source[name] = "sample"
        return _load_folder(SAMPLE_DIR, SAMPLE_CHECKS, SAMPLE_PREFIX)
    raise DataNotFoundError(msg)


def load_data(path=None, sample="auto"):
    """MNIST as ``(x_train, y_train), (x_test, y_test)``, uint8 arrays like Keras'.

    Args:
        path: a folder with the four IDX ``.gz`` files (searched first).
        sample: ``'auto'`` (default) falls back to the bundled sample with a warning when
            the full data is nowhere and cannot be downloaded; ``True`` always returns the
            sample; ``False`` raises :class:`DataNotFoundError` instead.

    Returns:
        x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28), y_test (10000,).
    """
    return _load("mnist", MNIST_CHECKS, path, sample)


def load_fashion_mnist(path=None):
    """Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)`` (same format as MNIST)."""
    return _load("fashion-mnist", FASHION_CHECKS, path, False)


__all__ += ["ChecksumError"]
