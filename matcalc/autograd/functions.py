"""The public operations: primitives with argument checks, the composites built from them, and
the same functions bound onto Tensor as operators and methods.

Composites (no rules of their own, differentiated through their parts): ``dot`` (matmul of
two vectors), ``outer``, ``kron``, ``mean``, ``trace``, ``diag``, ``transpose``/``T``.  Their
``grad_fn`` is their last part's (``mean`` shows DivBackward0 where torch shows
MeanBackward0).  Comparisons give boolean tensors and are not differentiable.
"""

from __future__ import annotations

import math

import numpy as np

from matcalc.autograd.primitives import PRIMITIVES
from matcalc.autograd.mode import MODE
from matcalc.autograd.tensor import (AutogradTypeError, Tensor, _index_key, apply, as_tensor,
                                     push_tangent)
from matcalc.errors import AutogradShapeError, AutogradValueError

_ndarray = np.ndarray
_asarray = np.asarray
_new = object.__new__
_SCALARS = frozenset((float, int, bool))


def call(name: str, *args) -> Tensor:
    """Apply the primitive called ``name`` to tensors and constants (for compilers)."""
    try:
        prim = PRIMITIVES[name]
    except KeyError:
        raise AutogradValueError(f"no primitive named {name!r}; known: "
                                 f"{', '.join(sorted(PRIMITIVES))}") from None
    return apply(prim, args)


# ---- the hot paths: one and two operands, inlined (same steps as tensor.apply) --------------
def _unary(name):
    prim = PRIMITIVES[name]
    fwd = prim.fwd

    def op(x):
        if type(x) is not Tensor:
            x = as_tensor(x)
        d = x._data
        out = fwd(d)
        if type(out) is not _ndarray:
            out = _asarray(out)
        t = _new(Tensor)
        t._data = out
        t.grad = None
        if x._rg and MODE.grad:
            t._rg = True
            t._prim = prim
            t._inputs = (x,)
            t._raw = (d,)
        else:
            t._rg = False
            t._prim = None
        if MODE.tangents is not None:
            push_tangent(t, prim, (x,), (d,))
        return t
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"Elementwise {name} (differentiable)."
    return op


def _operand(b):
    """The raw value of a non-Tensor operand, or None if it cannot be one."""
    if type(b) in _SCALARS:
        return b
    if isinstance(b, (np.ndarray, np.generic, list, tuple)):
        arr = np.asarray(b)
        if arr.dtype.kind in "biuf":
            return arr
    return None


def _binary(name, reflected=False):
    prim = PRIMITIVES[name]
    fwd = prim.fwd

    def op(a, b):
        if type(b) is Tensor:
            bd = b._data
            brg = b._rg
        else:
            bd = b if type(b) in _SCALARS else _operand(b)
            if bd is None:
                return NotImplemented
            brg = False
        ad = a._data
        need = (brg or a._rg) and MODE.grad
        if reflected:
            a, b, ad, bd = b, a, bd, ad
        try:
            out = fwd(ad, bd)
        except ValueError as exc:
            raise prim.error(exc, ad, bd) from None
        if type(out) is not _ndarray:
            out = _asarray(out)
        t = _new(Tensor)
        t._data = out
        t.grad = None
        if need:
            t._rg = True
            t._prim = prim
            t._inputs = (a, b)
            t._raw = (ad, bd)
        else:
            t._rg = False
            t._prim = None
        if MODE.tangents is not None:
            push_tangent(t, prim, (a, b), (ad, bd))
        return t
    op.__name__ = op.__qualname__ = ("__r%s__" if reflected else "__%s__") % name
    return op


def _compare(ufunc):
    def op(a, b):
        bd = b._data if type(b) is Tensor else _operand(b)
        if bd is None:
            return NotImplemented
        try:
            return as_tensor(_asarray(ufunc(a._data, bd)))
        except ValueError:
            raise AutogradShapeError(f"{ufunc.__name__}: shapes {a.shape} and {np.shape(bd)} "
                                     "cannot be broadcast together") from None
    return op


_METHODS = {}
for _name in ("neg", "exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "abs", "sign",
              "relu", "sigmoid"):
    _METHODS[_name] = globals()[_name] = _unary(_name)
_add, _sub, _mul, _div, _pow, _matmul = (_binary(n) for n in
                                         ("add", "sub", "mul", "div", "pow", "matmul"))


def _lift(method, name):
    """A module-level function from a method: converts a non-Tensor first operand."""
    def fn(a, b):
        out = method(as_tensor(a), b)
        if out is NotImplemented:
            raise AutogradTypeError(f"{name}: unsupported operand of type {type(b).__name__}")
        return out
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name} with NumPy broadcasting (differentiable)."
    return fn


add, sub, mul, div, pow, _matmul_lifted = (
    _lift(m, n) for m, n in ((_add, "add"), (_sub, "sub"), (_mul, "mul"), (_div, "div"),
                             (_pow, "pow"), (_matmul, "matmul")))
subtract, multiply, divide = sub, mul, div


# ---- linear algebra ------------------------------------------------------------------------------
def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules for 1-D operands and batches."""
    return _matmul_lifted(a, b)


def dot(a, b) -> Tensor:
    """Inner product of two vectors of one length: a'b."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 1 or b.ndim != 1:
        raise AutogradShapeError(f"dot: 1D tensors expected, but got {a.ndim}D and {b.ndim}D "
                                 f"tensors (shapes {a.shape} and {b.shape})")
    if a.shape != b.shape:
        raise AutogradShapeError(f"dot: shapes {a.shape} and {b.shape} have different lengths")
    return _matmul(a, b)


def outer(a, b) -> Tensor:
    """Outer product ab' of two vectors (an (n, m) matrix)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 1 or b.ndim != 1:
        raise AutogradShapeError(f"outer: 1D tensors expected, got shapes {a.shape} and "
                                 f"{b.shape}")
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def kron(a, b) -> Tensor:
    """Kronecker product: block (i, j) is a[i, j] * b (any equal or padded ranks)."""
    a, b = as_tensor(a), as_tensor(b)
    n = max(a.ndim, b.ndim)
    sa, sb = (1,) * (n - a.ndim) + a.shape, (1,) * (n - b.ndim) + b.shape
    ia = tuple(v for d in sa for v in (d, 1))
    ib = tuple(v for d in sb for v in (1, d))
    return reshape(reshape(a, ia) * reshape(b, ib), tuple(x * y for x, y in zip(sa, sb)))


def inv(x) -> Tensor:
    """Inverse of a square matrix (or a batch); LinAlgError when singular."""
    return apply(PRIMITIVES["inv"], (as_tensor(x),))


def det(x) -> Tensor:
    """Determinant of a square matrix (or a batch)."""
    return apply(PRIMITIVES["det"], (as_tensor(x),))


def logdet(x) -> Tensor:
    """log(det(x)) from slogdet; LinAlgError unless det(x) > 0."""
    return apply(PRIMITIVES["logdet"], (as_tensor(x),))


def trace(x) -> Tensor:
    """Sum of the diagonal of a matrix."""
    x = as_tensor(x)
    if x.ndim != 2:
        raise AutogradShapeError(f"trace: expected a matrix, got shape {x.shape}")
    return sum(diag(x))


def diag(x, diagonal: int = 0) -> Tensor:
    """Vector -> matrix with it on a diagonal; matrix -> vector of a diagonal."""
    x = as_tensor(x)
    k = int(diagonal)
    if x.ndim == 1:
        n = x.shape[0] + (k if k >= 0 else -k)
        i = np.arange(x.shape[0])
        rows, cols = (i, i + k) if k >= 0 else (i - k, i)
        return apply(PRIMITIVES["untake"], (x, (rows, cols), (n, n)))
    if x.ndim == 2:
        m, n = x.shape
        length = max(0, min(m, n - k) if k >= 0 else min(m + k, n))
        i = np.arange(length)
        rows, cols = (i, i + k) if k >= 0 else (i - k, i)
        return apply(PRIMITIVES["index"], (x, (rows, cols)))
    raise AutogradShapeError(f"diag: expected a vector or a matrix, got shape {x.shape}")


# ---- reductions ----------------------------------------------------------------------------------
def _axis(dim, axis):
    a = axis if dim is None else dim
    if a is None or isinstance(a, (int, np.integer)):
        return None if a is None else int(a)
    return tuple(int(d) for d in a)


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:  # noqa: A001
    """Sum of all elements, or along ``dim`` (torch) / ``axis`` (NumPy)."""
    kd = bool(keepdim if keepdims is None else keepdims)
    return apply(PRIMITIVES["sum"], (as_tensor(x), _axis(dim, axis), kd))


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """Mean of all elements or along an axis (sum divided by the count)."""
    x = as_tensor(x)
    a = _axis(dim, axis)
    axes = range(x.ndim) if a is None else (a,) if isinstance(a, int) else a
    count = math.prod(x.shape[i] for i in axes)
    return sum(x, a, keepdim, keepdims=keepdims) / count


def norm(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """2-norm of a vector, Frobenius norm of a matrix (all elements), or along an axis."""
    kd = bool(keepdim if keepdims is None else keepdims)
    return apply(PRIMITIVES["norm"], (as_tensor(x), _axis(dim, axis), kd))


# ---- shapes --------------------------------------------------------------------------------------
def _shape(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return tuple(int(s) for s in args)


def reshape(x, *shape) -> Tensor:
    """The same elements in a new shape (one dimension may be -1)."""
    return apply(PRIMITIVES["reshape"], (as_tensor(x), _shape(shape)))


def permute(x, *dims) -> Tensor:
    """Reorder the axes."""
    return apply(PRIMITIVES["transpose"], (as_tensor(x), _shape(dims)))


def transpose(x, dim0=None, dim1=None) -> Tensor:
    """Swap axes ``dim0`` and ``dim1``; with neither, reverse all axes (a matrix transpose)."""
    x = as_tensor(x)
    if dim0 is None and dim1 is None:
        return apply(PRIMITIVES["transpose"], (x, None))
    if dim0 is None or dim1 is None:
        raise AutogradValueError("transpose: give both dim0 and dim1, or neither")
    axes = list(range(x.ndim))
    try:
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    except IndexError:
        raise AutogradShapeError(f"transpose: dimensions {dim0} and {dim1} do not exist in a "
                                 f"tensor of shape {x.shape}") from None
    return apply(PRIMITIVES["transpose"], (x, tuple(axes)))


def broadcast_to(x, shape) -> Tensor:
    """A broadcast (read-only) view with the given shape; its gradient sums back."""
    return apply(PRIMITIVES["broadcast_to"], (as_tensor(x), _shape((shape,))))


def flatten(x) -> Tensor:
    return reshape(x, -1)


def squeeze(x, dim=None) -> Tensor:
    x = as_tensor(x)
    shape = tuple(n for i, n in enumerate(x.shape)
                  if not (n == 1 and (dim is None or i == dim % x.ndim)))
    return reshape(x, shape)


def unsqueeze(x, dim: int) -> Tensor:
    x = as_tensor(x)
    shape = list(x.shape)
    shape.insert(dim % (x.ndim + 1), 1)
    return reshape(x, shape)


# ---- non-differentiable helpers ------------------------------------------------------------------
def all(x) -> Tensor:  # noqa: A001
    return as_tensor(np.asarray(np.all(as_tensor(x)._data)))


def any(x) -> Tensor:  # noqa: A001
    return as_tensor(np.asarray(np.any(as_tensor(x)._data)))


def equal(a, b) -> bool:
    """True if both have the same shape and elements."""
    a, b = as_tensor(a), as_tensor(b)
    return a.shape == b.shape and bool(np.all(a._data == b._data))


def allclose(a, b, rtol=1e-05, atol=1e-08) -> bool:
    return bool(np.allclose(as_tensor(a)._data, as_tensor(b)._data, rtol=rtol, atol=atol))


# ---- Tensor operators and methods: the functions above, bound -----------------------------------
def _getitem(x, key):
    return apply(PRIMITIVES["index"], (x, _index_key(key)))


def _reshape_method(x, *shape):
    return reshape(x, *shape)


_BINDINGS = dict(
    __add__=_add, __radd__=_binary("add", True), __sub__=_sub, __rsub__=_binary("sub", True),
    __mul__=_mul, __rmul__=_binary("mul", True), __truediv__=_div,
    __rtruediv__=_binary("div", True), __pow__=_pow, __rpow__=_binary("pow", True),
    __matmul__=_matmul, __rmatmul__=_binary("matmul", True), __neg__=neg,
    __pos__=lambda x: x, __abs__=abs, __getitem__=_getitem,
    __eq__=_compare(np.equal), __ne__=_compare(np.not_equal), __lt__=_compare(np.less),
    __le__=_compare(np.less_equal), __gt__=_compare(np.greater),
    __ge__=_compare(np.greater_equal),
    sum=sum, mean=mean, norm=norm, dot=dot, matmul=matmul, outer=outer, kron=kron,
    inverse=inv, inv=inv, det=det, logdet=logdet, trace=trace, diag=diag,
    reshape=_reshape_method, view=_reshape_method, permute=permute, transpose=transpose,
    t=lambda x: transpose(x), flatten=flatten, squeeze=squeeze, unsqueeze=unsqueeze,
    expand=lambda x, *shape: broadcast_to(x, _shape(shape)), all=all, any=any,
    T=property(lambda x: transpose(x), doc="All axes reversed (a matrix transpose)."),
    **_METHODS,
)
for _name, _fn in _BINDINGS.items():
    setattr(Tensor, _name, _fn)
del _name, _fn
