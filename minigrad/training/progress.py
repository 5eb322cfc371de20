"""The Keras-like progress line of fit and evaluate."""
from __future__ import annotations

import sys
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """Keras-like progress line: ``120/938 [===>......] - ETA: 9s - loss: 0.21``.

    verbose=1 redraws the line (at most ten times a second, only on a terminal; elsewhere
    once at the end of the epoch), verbose=2 prints one line per epoch, 0 nothing.
    """

    def __init__(self, target: int, verbose: int = 1, width: int = 30, stream=None):
        self.target, self.verbose, self.width = target, verbose, width
        self.stream = stream or sys.stdout
        self.start = time.perf_counter()
        self._last = 0.0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def _fmt_values(self, values):
        return "".join(f" - {k}: {v:.4f}" for k, v in values.items())

    def update(self, current: int, values: dict, finalize: bool = False):
        if self.verbose == 0:
            return
        now = time.perf_counter()
        elapsed = now - self.start
        if not finalize:
            if self.verbose != 1 or not self._tty or now - self._last < 0.1:
                return
        self._last = now
        n = len(str(self.target))
        if finalize:
            per = elapsed / max(current, 1)
            timing = f" - {elapsed:.0f}s {per * 1e3:.0f}ms/step"
        else:
            eta = elapsed / max(current, 1) * (self.target - current)
            timing = f" - ETA: {eta:.0f}s"
        filled = int(self.width * current / max(self.target, 1))
        bar = "=" * max(filled - 1, 0) + (">" if filled < self.width else "=") if filled else ""
        bar = bar.ljust(self.width, ".")
        line = f"{current:>{n}}/{self.target} [{bar}]{timing}{self._fmt_values(values)}"
        end = "\n" if finalize else ""
        self.stream.write(("\r" if self._tty else "") + line + end)
        self.stream.flush()
