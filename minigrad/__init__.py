"""minigrad: a from-scratch deep learning engine on NumPy (CPU) and CuPy (CUDA).

    >>> import minigrad as mg
    >>> x = mg.tensor([1.0, 2.0], requires_grad=True)
    >>> (x ** 2).sum().backward()
    >>> x.grad
    tensor([2., 4.])
"""
from . import backend, cuda
from . import functional, kernels, mixed_precision, tuning
from .autograd import (Function, detect_anomaly, enable_grad, grad, is_grad_enabled,
                       no_grad, set_grad_enabled)
from .backend import Device, manual_seed
from .backend import as_device as device
from .creation import (arange, empty, from_dlpack, from_numpy, full, full_like, ones,
                       ones_like, rand, randn, tensor, zeros, zeros_like)
from .functional import (concatenate, logsumexp, maximum, minimum, pad, stack, where)
from .functional import exp, log, sqrt, tanh, sigmoid, relu, abs, clip, matmul
from .gradcheck import GradcheckError, check_vjp, gradcheck, gradgradcheck
from .mixed_precision import autocast
from .tensor import Tensor, get_default_dtype, set_default_dtype

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "from_numpy", "from_dlpack", "zeros", "ones", "full", "empty", "arange", "rand",
    "randn", "zeros_like", "ones_like", "full_like", "manual_seed", "set_default_dtype",
    "get_default_dtype", "Device", "device", "cuda", "backend", "Function", "no_grad",
    "enable_grad", "set_grad_enabled", "is_grad_enabled", "detect_anomaly", "grad",
    "gradcheck", "gradgradcheck", "check_vjp", "GradcheckError", "concatenate", "stack",
    "where", "maximum", "minimum", "pad", "logsumexp", "exp", "log", "sqrt", "tanh",
    "sigmoid", "relu", "abs", "clip", "matmul", "functional", "F", "nn", "optim", "losses",
    "callbacks", "data", "datasets", "viz", "keras", "kernels", "tuning", "explain",
    "compress", "mixed_precision", "autocast", "float32", "float64", "float16", "int64",
]

float32 = "float32"
float64 = "float64"
float16 = "float16"
int64 = "int64"

from . import callbacks, compress, data, datasets, explain, losses, nn, optim, viz  # noqa: E402,E501
from . import keras  # noqa: E402  (minigrad.keras, the Keras-compatible names)
from . import functional as F  # noqa: E402,F401


def _seed_from_environment() -> None:
    """``MINIGRAD_SEED=<int>`` seeds minigrad at import, as ``manual_seed`` would: a
    program that sets no seed itself (the article's) then runs reproducibly."""
    import os
    value = os.environ.get("MINIGRAD_SEED", "").strip()
    if not value:
        return
    try:
        seed = int(value)
    except ValueError:
        raise ValueError(f"MINIGRAD_SEED must be an integer, got {value!r}") from None
    manual_seed(seed)


_seed_from_environment()
