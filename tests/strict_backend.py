"""A test-only backend that behaves like CuPy where CPU code usually goes wrong.

Its arrays wrap NumPy arrays but refuse implicit conversion to host NumPy arrays
(``numpy.asarray(a)`` raises, as ``cupy.ndarray`` does) and refuse to mix with plain
NumPy arrays in one operation. An op that calls ``np.*`` instead of ``xp.*``, or keeps a
host array next to device arrays, fails here on CPU-only CI just as it would on a GPU.
"""
from __future__ import annotations

import operator
import types

import numpy as np

from minigrad import backend


class StrictArrayError(TypeError):
    pass


#: device-to-host reads, as a GPU would pay them (to_host, float(), int(), bool(), item())
TRANSFERS = {"count": 0}


def _read():
    TRANSFERS["count"] += 1


def _unwrap(v, where):
    if isinstance(v, StrictArray):
        return v._a
    if isinstance(v, np.ndarray):
        raise StrictArrayError(
            f"{where}: a host numpy.ndarray {v.shape} mixed with device arrays "
            "(CuPy refuses this too)")
    if isinstance(v, (tuple, list)):
        return type(v)(_unwrap(i, where) for i in v)
    if isinstance(v, slice):
        return v
    return v


def _wrap(r):
    if isinstance(r, np.ndarray):
        return StrictArray(r)
    if isinstance(r, np.generic):
        return StrictArray(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_wrap(i) for i in r)
    if isinstance(r, list):
        return [_wrap(i) for i in r]
    return r


class StrictArray:
    """An ndarray stand-in whose ``__array__`` raises."""

    __slots__ = ("_a",)

    def __init__(self, a):
        assert isinstance(a, np.ndarray)
        self._a = a

    def __array__(self, *args, **kwargs):
        raise StrictArrayError(
            "implicit conversion of a device array to a NumPy array (CuPy raises here); "
            "use minigrad.backend.to_host")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        ins = _unwrap(list(inputs), f"ufunc {ufunc.__name__}")
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(list(kwargs["out"]), "out="))
        return _wrap(getattr(ufunc, method)(*ins, **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        args = _unwrap(list(args), func.__name__)
        kwargs = {k: _unwrap(v, func.__name__) for k, v in kwargs.items()}
        return _wrap(func(*args, **kwargs))

    # attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    T = property(lambda self: StrictArray(self._a.T))
    flags = property(lambda self: self._a.flags)

    @property
    def base(self):
        return None if self._a.base is None else StrictArray(np.asarray(self._a.base))

    def __getattr__(self, name):
        attr = getattr(self._a, name)
        if not callable(attr):
            return attr
        if name in ("item", "tolist"):
            _read()

        def method(*args, **kwargs):
            args = _unwrap(list(args), f"ndarray.{name}")
            kwargs = {k: _unwrap(v, f"ndarray.{name}") for k, v in kwargs.items()}
            return _wrap(attr(*args, **kwargs))
        return method

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index, "indexing")])

    def __setitem__(self, index, value):
        self._a[_unwrap(index, "indexing")] = _unwrap(value, "assignment")

    def __len__(self):
        return len(self._a)

    def __float__(self):
        _read()
        return float(self._a)

    def __int__(self):
        _read()
        return int(self._a)

    def __index__(self):
        _read()
        return operator.index(self._a)

    def __bool__(self):
        _read()
        return bool(self._a)

    def __repr__(self):
        return f"StrictArray({self._a!r})"

    def __iter__(self):
        return (_wrap(v) for v in self._a)


def _binary(name):
    def op(self, other):
        return getattr(np, name)(self, other)

    def rop(self, other):
        return getattr(np, name)(other, self)

    def iop(self, other):
        getattr(np, name)(self, other, out=(self,))
        return self
    return op, rop, iop


for _dunder, _ufunc in [("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                        ("truediv", "true_divide"), ("floordiv", "floor_divide"),
                        ("pow", "power"), ("matmul", "matmul"), ("mod", "remainder"),
                        ("and", "bitwise_and"), ("or", "bitwise_or"), ("xor", "bitwise_xor")]:
    _op, _rop, _iop = _binary(_ufunc)
    setattr(StrictArray, f"__{_dunder}__", _op)
    setattr(StrictArray, f"__r{_dunder}__", _rop)
    setattr(StrictArray, f"__i{_dunder}__", _iop)
for _dunder, _ufunc in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
                        ("ge", "greater_equal"), ("eq", "equal"), ("ne", "not_equal")]:
    setattr(StrictArray, f"__{_dunder}__", _binary(_ufunc)[0])
StrictArray.__neg__ = lambda self: np.negative(self)
StrictArray.__abs__ = lambda self: np.absolute(self)
StrictArray.__invert__ = lambda self: np.invert(self)
StrictArray.__pos__ = lambda self: self
StrictArray.__hash__ = None


class _StrictGenerator:
    def __init__(self, seed=None):
        self._g = np.random.default_rng(seed)

    def __getattr__(self, name):
        f = getattr(self._g, name)
        return lambda *a, **k: _wrap(f(*a, **k))


def _accepts_host(fn):
    """asarray/array copy host data to the device explicitly, as CuPy's do."""
    def f(a, *args, **kwargs):
        if isinstance(a, StrictArray):
            a = a._a
        return _wrap(fn(a, *args, **kwargs))
    return f


#: xp routines that CuPy runs only on arrays: they call a method of their first argument
#: (``cupy.where`` calls ``condition.astype``, ``cupy.sum`` calls ``a.sum``), so a Python
#: or NumPy scalar there raises on a GPU. (Ufuncs such as ``xp.exp`` take scalars.)
ARRAY_FIRST = frozenset("""where sum mean max min amax amin prod cumsum clip transpose
    reshape squeeze expand_dims moveaxis swapaxes broadcast_to take argmax argmin sort
    var std any all nonzero count_nonzero""".split())


def _check_array_first(name, args):
    if name in ARRAY_FIRST and args and not isinstance(args[0], StrictArray):
        raise StrictArrayError(
            f"xp.{name}: first argument is {type(args[0]).__name__}, not a device array "
            f"(cupy.{name} needs a cupy.ndarray there)")


class _StrictModule(types.ModuleType):
    """``xp`` of the strict backend: numpy functions that take and give StrictArrays."""

    def __init__(self):
        super().__init__("strictnp")
        self.random = types.SimpleNamespace(default_rng=_StrictGenerator)
        self.asarray = _accepts_host(np.asarray)
        self.array = _accepts_host(np.array)
        self.ascontiguousarray = _accepts_host(np.ascontiguousarray)
        self.ndarray = StrictArray

    def __getattr__(self, name):
        attr = getattr(np, name)
        if isinstance(attr, type) or not callable(attr):
            return attr

        def f(*args, **kwargs):
            _check_array_first(name, args)
            args = _unwrap(list(args), f"xp.{name}")
            kwargs = {k: _unwrap(v, f"xp.{name}") for k, v in kwargs.items()}
            return _wrap(attr(*args, **kwargs))
        return f


xp = _StrictModule()


def _add_at(target, index, values):
    np.add.at(target._a, _unwrap(index, "scatter_add"), _unwrap(values, "scatter_add"))


STRICT = backend.Backend(
    name="strict", xp=xp, array_type=StrictArray,
    from_host=lambda a, index: StrictArray(np.array(a, copy=True)),
    to_host=lambda a: (_read(), a._a.copy())[1],
    as_strided=lambda x, shape, strides: StrictArray(np.lib.stride_tricks.as_strided(
        x._a, shape=shape, strides=strides, writeable=False)),
    scatter_add=_add_at,
)


def register():
    backend.register_backend(STRICT)
