"""Module and Parameter: the containers that hold a network's weights."""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterator, Tuple

import numpy as np

from .. import backend
from ..hooks import RemovableHandle, forward_hooks_active
from ..tensor import Tensor, check_grad_dtype

__all__ = ["Parameter", "Module"]


class Parameter(Tensor):
    """A Tensor that is a weight of a Module (``requires_grad`` is True unless the module
    is frozen: see :attr:`Module.trainable`)."""

    __slots__ = ()

    def __init__(self, data, dtype=None, device=None, name=None):
        super().__init__(data, dtype=dtype, device=device, requires_grad=True, name=name)

    @classmethod
    def from_array(cls, array, name=None) -> "Parameter":
        """Wrap a backend array (no copy)."""
        check_grad_dtype(array.dtype)
        p = cls._wrap(array, True)
        p.name = name
        return p


class Module:
    """Base class of layers and models.

    Parameters and sub-modules assigned as attributes are registered in assignment order
    (so ``parameters()`` and ``state_dict()`` are deterministic). Each module has its own
    train/eval mode.

    Example:
        >>> class MLP(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc1 = nn.Dense(128, activation='relu')
        ...         self.fc2 = nn.Dense(10)
        ...     def forward(self, x):
        ...         return self.fc2(self.fc1(x))
    """

    def __init__(self):
        object.__setattr__(self, "_params", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    def __setattr__(self, name, value):
        if "_params" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before "
                               "assigning attributes")
        self._params.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            if not self._trainable:            # a weight built by a frozen layer
                value.requires_grad = False
            self._params[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._params.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    #: The dtype policy of a layer (mixed precision), None to follow the surrounding one
    #: (see :mod:`minigrad.mixed_precision`).
    _policy = None

    def __call__(self, *args, **kwargs):
        if self._policy is not None:
            with self._policy.scope():
                return self._call(args, kwargs)
        return self._call(args, kwargs)

    def _call(self, args, kwargs):
        """forward with the forward (pre-)hooks around it."""
        if not (self._forward_hooks or self._forward_pre_hooks):
            return self.forward(*args, **kwargs)
        for fn in list(self._forward_pre_hooks.values()):
            new = fn(self, args)
            if new is not None:
                args = new if isinstance(new, tuple) else (new,)
        out = self.forward(*args, **kwargs)
        for fn in list(self._forward_hooks.values()):
            new = fn(self, args, out)
            if new is not None:
                out = new
        return out

    # --- hooks ---------------------------------------------------------------------------
    def register_forward_hook(self, fn):
        """Call ``fn(module, inputs, output)`` after each forward of this module
        (``inputs`` the tuple of positional arguments); a returned value replaces the
        output. In a Sequential model the hook sees the layer's own output (with its
        activation) even where the fused plan would merge it with its neighbours: while a
        hook is registered, the model runs layer by layer. Returns a handle with
        ``remove()``."""
        return self._add_hook(self._forward_hooks, fn)

    def register_forward_pre_hook(self, fn):
        """Call ``fn(module, inputs)`` before each forward; a returned value (a tuple, or
        one value) replaces the positional arguments. Returns a handle with ``remove()``."""
        return self._add_hook(self._forward_pre_hooks, fn)

    def _add_hook(self, hooks, fn):
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}: a hook must be callable, got "
                            f"{type(fn).__name__}")

        def forget():
            forward_hooks_active[0] -= 1
        handle = RemovableHandle(hooks, forget)
        hooks[handle.id] = fn
        forward_hooks_active[0] += 1
        return handle

    def has_forward_hooks(self) -> bool:
        """True when this module or one below it has a forward (pre-)hook (no walk of the
        tree while no forward hook is registered anywhere)."""
        if not forward_hooks_active[0]:
            return False
        return any(m._forward_hooks or m._forward_pre_hooks for m in self.modules())

    # --- traversal ---------------------------------------------------------------------
    def children(self) -> Iterator["Module"]:
        """The direct sub-modules, in registration order."""
        return iter(self._modules.values())

    def named_modules(self, prefix: str = "") -> Iterator[Tuple[str, "Module"]]:
        """(dotted name, module) pairs of this module and all below it, depth first."""
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, m = stack.pop(0)
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            stack[0:0] = [(f"{name}.{k}" if name else k, c) for k, c in m._modules.items()]

    def modules(self) -> Iterator["Module"]:
        """This module and every module below it."""
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix: str = "") -> Iterator[Tuple[str, Parameter]]:
        """(dotted name, Parameter) pairs, each parameter once, in registration order."""
        seen = set()
        for mname, m in self.named_modules(prefix):
            for pname, p in m._params.items():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self):
        """All parameters (each once), in registration order."""
        return [p for _, p in self.named_parameters()]

    # --- modes, gradients, devices --------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (dropout active, batch statistics) here and below."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        """Set inference mode here and below (same as ``train(False)``)."""
        return self.train(False)

    #: False once frozen (``trainable = False``); weights that never train (Keras'
    #: ``add_weight(trainable=False)``), whatever ``trainable`` is set to
    _trainable = True
    _non_trainable = ()

    @property
    def trainable(self) -> bool:
        """Whether training updates this module's weights (Keras' ``layer.trainable``).

        ``False`` freezes this module and every module inside it: their parameters stop
        requiring grad (no gradient is computed for them and optimizers leave them alone),
        weights a frozen layer builds later are frozen too, ``summary()`` counts them as
        non-trainable, and a BatchNormalization normalises with its moving statistics
        without updating them. As in Keras, a compiled model trains weights unfrozen after
        ``compile`` only once ``compile`` is called again.
        """
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"{type(self).__name__}: trainable must be True or False, got "
                            f"{value!r}")
        for m in self.modules():
            m._trainable = value
            for p in m._params.values():
                p.requires_grad = value and not any(p is q for q in m._non_trainable)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """PyTorch's spelling of ``trainable = requires_grad``; returns the module."""
        self.trainable = requires_grad
        return self

    @property
    def trainable_weights(self) -> list:
        """The parameters that training updates (those requiring grad)."""
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list:
        """The frozen parameters, then the statistics (BatchNormalization's moving mean and
        variance...) as Tensors sharing their arrays."""
        frozen = [p for p in self.parameters() if not p.requires_grad]
        return frozen + [Tensor._wrap(getattr(m, b)) for m in self.modules()
                         for b in m._buffer_names()]

    def zero_grad(self) -> None:
        """Forget the gradients of all parameters."""
        for p in self.parameters():
            p.grad = None

    def to(self, device) -> "Module":
        """Move every parameter and buffer to ``device`` in place (optimizers stay valid)."""
        dev = backend.as_device(device)
        for m in self.modules():
            for p in m._params.values():
                p.data = backend.move(p.data, dev)
                if p.grad is not None:
                    p.grad = Tensor._wrap(backend.move(p.grad.data, dev))
            for name in m._buffer_names():
                setattr(m, name, backend.move(getattr(m, name), dev))
            m._on_device(dev)
        return self

    def _buffer_names(self):
        """Names of non-trainable arrays saved in the state dict (e.g. running means)."""
        return ()

    def _on_device(self, device) -> None:
        """Hook for modules that remember their device."""

    @property
    def device(self):
        """The device of the first parameter (the CPU for a module without any): read
        twice per training step, so only the first parameter is looked for."""
        for _, p in self.named_parameters():
            return p.device
        return backend.as_device("cpu")

    def has_parameters(self) -> bool:
        """True when this module or one below it has a parameter (built)."""
        for _ in self.named_parameters():
            return True
        return False

    # --- state ------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Host copies of all parameters and buffers, keyed by dotted name."""
        out = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = backend.to_host(p.data).copy()
        for mname, m in self.named_modules():
            for b in m._buffer_names():
                out[f"{mname}.{b}" if mname else b] = backend.to_host(getattr(m, b)).copy()
        return out

    def _state_targets(self):
        targets = OrderedDict((n, ("param", p, None)) for n, p in self.named_parameters())
        for mname, m in self.named_modules():
            for b in m._buffer_names():
                targets[f"{mname}.{b}" if mname else b] = ("buffer", m, b)
        return targets

    def load_state_dict(self, state, strict: bool = True) -> None:
        """Copy arrays from ``state`` into this module's parameters and buffers.

        Every name, shape and dtype is checked BEFORE anything changes: a mismatch raises
        naming the offending keys and leaves the module untouched.
        """
        targets = self._state_targets()
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        for k, (kind, obj, attr) in targets.items():
            if k not in state:
                continue
            cur = obj.data if kind == "param" else getattr(obj, attr)
            v = state[k]
            shape = tuple(getattr(v, "shape", ()))
            if shape != tuple(cur.shape):
                problems.append(f"'{k}': shape {shape} in the file, {tuple(cur.shape)} in "
                                "the model")
            elif np.dtype(getattr(v, "dtype", None)) != cur.dtype:
                problems.append(f"'{k}': dtype {np.dtype(v.dtype)} in the file, {cur.dtype} "
                                "in the model")
        if problems:
            raise ValueError(f"cannot load state into {type(self).__name__}: "
                             + "; ".join(problems))
        for k, (kind, obj, attr) in targets.items():
            if k not in state:
                continue
            cur = obj.data if kind == "param" else getattr(obj, attr)
            dev = backend.device_of(cur)
            new = backend.move(np.array(backend.to_host(state[k]), copy=True), dev)
            if kind == "param":
                obj.data = new
            else:
                setattr(obj, attr, new)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for k, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({k}): {sub}")
        return "\n".join(lines) + ")" if len(lines) > 1 else f"{type(self).__name__}()"
