"""Handles for hooks: what ``Tensor.register_hook`` and ``Module.register_forward_hook``
return, so that a hook can be taken out again (``handle.remove()``)."""
from __future__ import annotations

import itertools

__all__ = ["RemovableHandle"]

_ids = itertools.count()


class RemovableHandle:
    """Holds the place of one hook in its owner's ordered dict of hooks; ``remove()``
    takes it out (a second call does nothing). Usable as a context manager."""

    def __init__(self, hooks: dict, on_remove=None):
        self.id = next(_ids)
        self._hooks = hooks
        self._on_remove = on_remove

    def remove(self) -> None:
        if self._hooks.pop(self.id, None) is not None and self._on_remove is not None:
            self._on_remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False
