"""Hooks: the handles ``Tensor.register_hook`` and ``Module.register_forward_hook`` return,
so that a hook can be taken out again (``handle.remove()``), and the registration of
tensor hooks (which the backward engine runs, see ``engine._run_hooks``)."""
from __future__ import annotations

import itertools
import weakref

__all__ = ["RemovableHandle", "register_tensor_hook", "forward_hooks_active"]

_ids = itertools.count()

#: How many module forward (pre-)hooks are registered: while none is, a Sequential model
#: asks no layer whether it has one (a walk of the module tree at every step).
forward_hooks_active = [0]


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


def register_tensor_hook(t, fn) -> RemovableHandle:
    """``Tensor.register_hook``: add ``fn`` to the hooks of tensor ``t``. While any tensor
    hook is registered (``autograd._hooks_active``), backward runs the mode that looks for
    them; a tensor's hooks stop counting when it is removed or freed."""
    from .autograd import _hooks_active
    if not t.requires_grad:
        raise RuntimeError("register_hook on a tensor that does not require grad")
    if not callable(fn):
        raise TypeError(f"register_hook expects a callable, got {type(fn).__name__}")
    hooks = getattr(t, "_hooks", None)
    if hooks is None:
        hooks = t._hooks = {}
        weakref.finalize(t, _drop_hooks, hooks)          # hooks end with their tensor

    def forget():
        _hooks_active[0] -= 1
    handle = RemovableHandle(hooks, forget)
    hooks[handle.id] = fn
    _hooks_active[0] += 1
    c = t.creator
    if c is not None:
        c._watch = True                       # the engine then looks at its outputs,
        if not any(o is t for o in c._hooked):
            c._hooked = c._hooked + (t,)      # alive until then: its consumers, freed
    return handle                             # first, may have held its last reference


def _drop_hooks(hooks: dict) -> None:
    """A tensor with hooks was freed: they no longer count as registered."""
    from .autograd import _hooks_active
    _hooks_active[0] -= len(hooks)
    hooks.clear()
