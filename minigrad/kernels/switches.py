"""The two switches of the fast paths, read by :mod:`minigrad.kernels` and
:mod:`minigrad.kernels.elementwise`:

* fast paths on or off for the running thread or task (``reference_ops`` turns them off);
* the compiled CPU kernels (:mod:`minigrad.kernels.cpu.compiled`) on or off for the
  process: on when Numba is installed, unless the environment variable
  ``MINIGRAD_COMPILED_KERNELS`` is ``0`` or :func:`set_compiled_kernels` said otherwise.
"""
from __future__ import annotations

import contextvars
import os

__all__ = ["fast_paths_enabled", "compiled_kernels_wanted", "set_compiled_kernels_wanted"]

_fast = contextvars.ContextVar("minigrad_fast_paths", default=True)

_compiled = {"wanted": os.environ.get("MINIGRAD_COMPILED_KERNELS", "1").strip() != "0"}


def fast_paths_enabled() -> bool:
    """False inside :class:`minigrad.kernels.reference_ops`."""
    return _fast.get()


def compiled_kernels_wanted() -> bool:
    return _compiled["wanted"]


def set_compiled_kernels_wanted(enabled: bool) -> None:
    _compiled["wanted"] = bool(enabled)
