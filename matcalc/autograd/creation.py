"""Making tensors: from data, ranges, constants and seeded random numbers.

Python floats give float64, Python ints int64, bools bool, as torch does with float64 as its
default dtype.  Random numbers come from a :class:`Generator` (NumPy's PCG64); the default one
is reseeded by :func:`manual_seed` and starts from a fixed seed, so runs repeat.
"""

from __future__ import annotations

import numpy as np

from matcalc.autograd.tensor import Tensor, _check_float, _const, _to_array
from matcalc.errors import AutogradValueError

__all__ = ["tensor", "arange", "zeros", "ones", "full", "eye", "zeros_like", "ones_like",
           "randn", "rand", "Generator", "manual_seed", "default_generator",
           "float32", "float64", "int32", "int64", "bool_"]

float32, float64, int32, int64, bool_ = np.float32, np.float64, np.int32, np.int64, np.bool_


def _finish(data: np.ndarray, requires_grad: bool) -> Tensor:
    t = _const(data)
    if requires_grad:
        _check_float(data)
        t._rg = True
    return t


def _size(size, where: str) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    try:
        size = tuple(int(n) for n in size)
    except (TypeError, ValueError):
        raise AutogradValueError(f"{where}: size must be integers, got {size!r}") from None
    if any(n < 0 for n in size):
        raise AutogradValueError(f"{where}: negative dimension in size {size}")
    return size


def _dtype(dtype, default=np.float64):
    return np.dtype(default if dtype is None else dtype)


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (numbers, nested lists, arrays, tensors).

    >>> tensor([1.0, 2.0], requires_grad=True)
    tensor([1., 2.], requires_grad=True)
    """
    return _finish(_to_array(data, dtype), requires_grad)


def arange(start, end=None, step=1, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """``[start, end)`` by ``step``; int64 when all are integers, else float64.

    >>> arange(4.0)
    tensor([0., 1., 2., 3.])
    """
    if end is None:
        start, end = 0, start
    return _finish(np.arange(start, end, step, dtype=dtype), requires_grad)


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.zeros(_size(size, "zeros"), _dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.ones(_size(size, "ones"), _dtype(dtype)), requires_grad)


def full(size, fill_value, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.full(_size((size,), "full"), fill_value, dtype), requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.eye(n, m, dtype=_dtype(dtype)), requires_grad)


def zeros_like(x, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.zeros_like(np.asarray(x), dtype=dtype), requires_grad)


def ones_like(x, *, dtype=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.ones_like(np.asarray(x), dtype=dtype), requires_grad)


class Generator:
    """A seedable source of random numbers (``Generator().manual_seed(0)``)."""

    def __init__(self, seed: int = 67280421310721):
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Reseed the default generator (used by randn and rand without ``generator=``)."""
    return default_generator.manual_seed(seed)


def _random(kind, size, generator, dtype, requires_grad, where):
    if "size" in kind:
        size = (kind.pop("size"),)
    if kind:
        raise AutogradValueError(f"{where}: unexpected arguments {sorted(kind)}")
    rng = (generator or default_generator).rng
    shape = _size(size, where)
    draw = rng.standard_normal(shape) if where == "randn" else rng.random(shape)
    return _finish(np.asarray(draw, dtype=_dtype(dtype)), requires_grad)


def randn(*size, generator: Generator | None = None, dtype=None, requires_grad: bool = False,
          **kw) -> Tensor:
    """Standard normal samples: ``randn(2, 3)``, ``randn(size=(), requires_grad=True)``."""
    return _random(kw, size, generator, dtype, requires_grad, "randn")


def rand(*size, generator: Generator | None = None, dtype=None, requires_grad: bool = False,
         **kw) -> Tensor:
    """Uniform samples in [0, 1)."""
    return _random(kw, size, generator, dtype, requires_grad, "rand")
