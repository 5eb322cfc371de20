"""A test-only stand-in for the parts of CuPy that ``minigrad.kernels.cuda`` uses, so that
the CUDA kernels' arithmetic is checked on machines without a GPU.

``ElementwiseKernel(in_params, out_params, operation, name)`` keeps CuPy's calling
convention (the inputs, then optionally the outputs, updated in place) and evaluates the
C body with NumPy, one statement at a time over whole arrays (the same values, as every
statement is elementwise): ``(T)`` casts are dropped, ``c ? a : b`` becomes a
``where``, and ``tanh``/``sqrt`` are NumPy's. A type placeholder must be bound by an
input array, as CuPy requires; names the body uses that are not parameters fail.

``ReductionKernel(in_params, out_params, map_expr, reduce_expr, post_map_expr, identity,
name)``, called with the inputs and ``axis``/``keepdims``, evaluates the map expression
over the broadcast inputs, reduces it with NumPy (``a + b`` is a sum, ``max(a, b)`` a
maximum; others fail) and runs the post-map statement with ``a`` the reduced values.
"""
from __future__ import annotations

import re

import numpy as np

_TERNARY = re.compile(r"^(\w+)\s*=\s*(.+?)\s*\?\s*(.+?)\s*:\s*(.+)$")
_FUNCTIONS = {"tanh": np.tanh, "sqrt": np.sqrt, "exp": np.exp, "log": np.log,
              "where": np.where}


def _params(spec: str):
    """[(type, name)] from 'T gy, T y'."""
    out = []
    for part in spec.split(","):
        typ, name = part.split()
        out.append((typ, name))
    return out


def _statements(body: str):
    body = re.sub(r"\(T\)", "", body)
    for stmt in body.split(";"):
        stmt = " ".join(stmt.split())
        if not stmt:
            continue
        m = _TERNARY.match(stmt)
        yield f"{m[1]} = where({m[2]}, {m[3]}, {m[4]})" if m else stmt


class ElementwiseKernel:
    def __init__(self, in_params, out_params, operation, name):
        self.ins, self.outs = _params(in_params), _params(out_params)
        self.code = compile("\n".join(_statements(operation)), name, "exec")
        self.name = name

    def __call__(self, *args):
        n_in = len(self.ins)
        if len(args) not in (n_in, n_in + len(self.outs)):
            raise TypeError(f"{self.name}: wrong number of arguments ({len(args)})")
        types = {}
        for (typ, _), a in zip(self.ins, args):
            if isinstance(a, np.ndarray):
                if types.setdefault(typ, a.dtype) != a.dtype:
                    raise TypeError(f"{self.name}: type {typ} bound to two dtypes")
        for typ, _ in self.ins + self.outs:
            if typ not in types:
                raise TypeError(f"{self.name}: cannot determine the type of {typ}")
        env = dict(_FUNCTIONS)
        for (typ, name), a in zip(self.ins, args):
            env[name] = np.asarray(a, dtype=types[typ])
        shape = np.broadcast_shapes(*(np.shape(a) for a in args[:n_in]))
        given = args[n_in:]
        outs = list(given) if given else [np.empty(shape, dtype=types[typ])
                                          for typ, _ in self.outs]
        for (_, name), o in zip(self.outs, outs):
            env[name] = o.copy()
        exec(self.code, {"__builtins__": {}}, env)
        for (_, name), o in zip(self.outs, outs):
            o[...] = env[name]
        return outs[0] if len(outs) == 1 else tuple(outs)


ones = np.ones


_REDUCTIONS = {"a + b": np.add, "max(a, b)": np.maximum}


class ReductionKernel:
    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr,
                 identity, name):
        self.ins, self.outs = _params(in_params), _params(out_params)
        if len(self.outs) != 1 or reduce_expr not in _REDUCTIONS:
            raise NotImplementedError(f"{name}: only one output and {sorted(_REDUCTIONS)}")
        self.map = compile(" ".join(_statements(map_expr)), name, "eval")
        self.reduce = _REDUCTIONS[reduce_expr]
        self.post = compile("\n".join(_statements(post_map_expr)), name, "exec")
        self.identity, self.name = float(identity), name

    def __call__(self, *args, axis=None, keepdims=False):
        if len(args) != len(self.ins):
            raise TypeError(f"{self.name}: wrong number of arguments ({len(args)})")
        dtypes = {typ: a.dtype for (typ, _), a in zip(self.ins, args)
                  if isinstance(a, np.ndarray)}
        env = dict(_FUNCTIONS)
        for (typ, name), a in zip(self.ins, args):
            env[name] = np.asarray(a, dtype=dtypes[typ])
        mapped = np.broadcast_to(eval(self.map, {"__builtins__": {}}, env),
                                 np.broadcast_shapes(*(np.shape(a) for a in args)))
        env["a"] = self.reduce.reduce(mapped, axis=axis, keepdims=keepdims,
                                      initial=self.identity)
        exec(self.post, {"__builtins__": {}}, env)
        typ, out = self.outs[0]
        return np.asarray(env[out], dtype=dtypes[typ])
