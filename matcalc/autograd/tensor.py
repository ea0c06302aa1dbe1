"""The Tensor: an ndarray, a requires-grad flag, and the graph node that produced it.

A tensor made by a primitive while recording (grad mode on, some input requires grad) keeps
the primitive, its inputs and their raw arrays; that is the whole graph.  Nothing is freed
after a backward pass (``retain_graph`` is always in effect): the graph lives as long as the
tensors that reference it.  ``apply`` is the one place where graph nodes and forward-mode
tangents are made; the hot operators in ``functions.py`` inline the same steps.

In-place operations (``zero_``, ``+=``, ``x[i] = v``) are refused on a tensor that requires
grad while recording, as in torch.  There is no version counter: changing in place, under
``no_grad``, a value that a recorded graph saved makes that graph's later gradients wrong.

Operators and most methods are bound onto Tensor by ``functions.py`` (as HIPS autograd binds
ArrayBox's), because they are made from the primitive table, which needs this class first.
"""

from __future__ import annotations

import numpy as np

from matcalc.autograd.mode import MODE, RETAINED
from matcalc.errors import AutogradError, AutogradTypeError, AutogradValueError

__all__ = ["Tensor", "apply", "as_tensor", "push_tangent", "AutogradTypeError"]

_ndarray = np.ndarray
_asarray = np.asarray
_new = object.__new__


def _check_float(data: np.ndarray) -> None:
    if data.dtype.kind != "f":
        raise AutogradError("Only Tensors of floating point dtype can require gradients "
                            f"(got dtype {data.dtype})")


def _to_array(data, dtype=None) -> np.ndarray:
    """A new ndarray from Python data; float64/int64/bool by default as in torch."""
    if isinstance(data, Tensor):
        data = data._data
    try:
        arr = np.array(data, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise AutogradValueError(f"tensor: cannot make a tensor from {type(data).__name__}: "
                                 f"{exc}") from None
    if arr.dtype.kind not in "biuf":
        raise AutogradValueError(f"tensor: unsupported data of dtype {arr.dtype} "
                                 "(only bool, integer and float tensors exist)")
    return arr


def as_tensor(x) -> "Tensor":
    """``x`` itself if it is a Tensor, else a constant tensor viewing it (no copy for arrays)."""
    if type(x) is Tensor:
        return x
    if type(x) is _ndarray and x.dtype.kind in "biuf":
        return _const(x)
    return _const(_to_array(x))


def _const(data: np.ndarray) -> "Tensor":
    """A tensor outside any graph around an ndarray (no copy, no checks)."""
    t = _new(Tensor)
    t._data = data
    t._rg = False
    t.grad = None
    t._prim = None
    return t


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward(); x.grad
    tensor([2., 4.])
    """

    # _g and _deps are the engine's scratch space during a backward pass (see engine.py)
    __slots__ = ("_data", "_rg", "grad", "_prim", "_inputs", "_raw", "_g", "_deps",
                 "__weakref__")
    __array_ufunc__ = None      # ndarray (op) Tensor defers to Tensor's reflected operator
    __hash__ = object.__hash__  # identity, as torch; == is elementwise

    def __init__(self, data, requires_grad: bool = False):
        self._data = _to_array(data)
        self._rg = False
        self.grad = None
        self._prim = None
        if requires_grad:
            self.requires_grad_(True)

    def __init_subclass__(cls, **kwargs):
        raise AutogradTypeError("Tensor cannot be subclassed (the fast paths test its exact type)")

    # ---- flags and graph --------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Start (or stop) recording operations on this leaf; returns self."""
        if self._prim is not None:
            if not requires_grad:
                raise AutogradError(
                    "you can only change requires_grad flags of leaf variables. If you want "
                    "to use a computed variable in a subgraph that doesn't require "
                    "differentiation use var_no_grad = var.detach().")
            return self
        if requires_grad:
            _check_float(self._data)
        self._rg = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self._prim is None

    @property
    def grad_fn(self):
        """The node that made this tensor (``<MulBackward0 ...>``), None for a leaf."""
        if self._prim is None:
            return None
        return BackwardNode(self)

    def detach(self) -> "Tensor":
        """The same values (shared memory) cut from the graph."""
        return _const(self._data)

    def detach_(self) -> "Tensor":
        self._prim = None
        self._rg = False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` of this non-leaf tensor after backward passes."""
        if not self._rg:
            raise AutogradError("can't retain_grad on Tensor that has requires_grad=False")
        if self._prim is not None:
            RETAINED[id(self)] = self

    @property
    def data(self) -> "Tensor":
        """A detached tensor sharing memory (torch's ``.data``)."""
        return _const(self._data)

    # ---- shape and conversion ---------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def size(self, dim: int | None = None):
        return self._data.shape if dim is None else self._data.shape[dim]

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    def item(self):
        if self._data.size != 1:
            raise AutogradError(f"a Tensor with {self._data.size} elements cannot be "
                                "converted to Scalar")
        return self._data.item()

    def tolist(self):
        return self._data.tolist()

    def numpy(self, force: bool = False) -> np.ndarray:
        """The underlying ndarray (shared memory)."""
        if self._rg and not force:
            raise AutogradError("Can't call numpy() on Tensor that requires grad. "
                                "Use tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self._data, dtype=dtype)
        return self._data if dtype is None else self._data.astype(dtype)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise AutogradTypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise AutogradTypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise AutogradError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "biu" or self._data.size != 1:
            raise AutogradTypeError("only integer tensors of a single element can be "
                                    "converted to an index")
        return int(self._data.item())

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0 and spec:
            return format(self._data.item(), spec)
        return format(repr(self), spec)

    def __repr__(self) -> str:
        from matcalc.autograd.printing import format_tensor
        name = None if self._prim is None else self._prim.node_name(self._inputs)
        return format_tensor(self._data, name, self._rg)

    __str__ = __repr__

    # ---- in place (only outside a recorded graph) -------------------------------------
    def _check_inplace(self) -> None:
        if self._rg and MODE.grad:
            if self._prim is None:
                raise AutogradError("a leaf Variable that requires grad is being used in an "
                                    "in-place operation.")
            raise AutogradError("in-place operations on a tensor that is part of a recorded "
                                "graph are not supported; use out-of-place operations")

    def _inplace(self, ufunc, other) -> "Tensor":
        self._check_inplace()
        value = other._data if type(other) is Tensor else other
        try:
            if self._data.flags.writeable:
                ufunc(self._data, value, out=self._data)
            else:
                self._data = ufunc(self._data, value)
        except TypeError:
            raise AutogradError(f"{ufunc.__name__}_: result type "
                                f"{np.result_type(self._data, value)} can't be cast to the "
                                f"desired output type {self._data.dtype}") from None
        return self

    def zero_(self) -> "Tensor":
        """Fill with zeros in place (``x.grad.zero_()``); returns self."""
        return self.fill_(0)

    def fill_(self, value) -> "Tensor":
        self._check_inplace()
        if self._data.flags.writeable:
            self._data[...] = value
        else:
            self._data = np.full_like(self._data, value)
        return self

    def __iadd__(self, other): return self._inplace(np.add, other)
    def __isub__(self, other): return self._inplace(np.subtract, other)
    def __imul__(self, other): return self._inplace(np.multiply, other)
    def __itruediv__(self, other): return self._inplace(np.true_divide, other)
    add_ = __iadd__
    sub_ = __isub__
    mul_ = __imul__
    div_ = __itruediv__

    def copy_(self, src) -> "Tensor":
        self._check_inplace()
        self._data[...] = src._data if type(src) is Tensor else src
        return self

    def __setitem__(self, key, value) -> None:
        self._check_inplace()
        self._data[_index_key(key)] = value._data if type(value) is Tensor else value


class BackwardNode:
    """What ``tensor.grad_fn`` returns: names the primitive as torch names its nodes."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor):
        self.tensor = tensor

    def name(self) -> str:
        t = self.tensor
        return t._prim.node_name(t._inputs)

    @property
    def next_functions(self) -> tuple:
        """``(node, 0)`` per input; None for leaves and constants (torch: AccumulateGrad)."""
        return tuple((a.grad_fn if type(a) is Tensor and a._rg else None, 0)
                     for a in self.tensor._inputs)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"


def _index_key(key):
    """An indexing key with tensors replaced by their arrays."""
    if type(key) is Tensor:
        return key._data
    if type(key) is tuple:
        return tuple(k._data if type(k) is Tensor else k for k in key)
    if type(key) is list:
        return np.asarray([k._data if type(k) is Tensor else k for k in key])
    return key


def push_tangent(t: Tensor, prim, inputs: tuple, raw: tuple) -> None:
    """Forward mode: give ``t`` the tangent its primitive's JVP rules compute from its inputs'."""
    table = MODE.tangents
    total = None
    jvps = prim.jvps
    for i, a in enumerate(inputs):
        if type(a) is Tensor:
            entry = table.get(id(a))
            if entry is not None and jvps[i] is not None:
                c = jvps[i](entry[1], t._data, *raw)
                total = c if total is None else total + c
    if total is not None:
        if type(total) is not _ndarray:
            total = _asarray(total)
        if total.shape != t._data.shape:
            total = np.broadcast_to(total, t._data.shape)
        table[id(t)] = (t, total)


def apply(prim, args: tuple) -> Tensor:
    """Run primitive ``prim`` on ``args`` (tensors and constants), recording a node if needed."""
    need = False
    raw = list(args)
    for i, a in enumerate(args):
        if type(a) is Tensor:
            raw[i] = a._data
            if a._rg:
                need = True
    raw = tuple(raw)
    try:
        out = prim.fwd(*raw)
    except ValueError as exc:       # includes numpy.linalg.LinAlgError
        raise prim.error(exc, *raw) from None
    if type(out) is not _ndarray:
        out = _asarray(out)
    t = _new(Tensor)
    t._data = out
    t.grad = None
    if need and MODE.grad:
        t._rg = True
        t._prim = prim
        t._inputs = args
        t._raw = raw
    else:
        t._rg = False
        t._prim = None
    if MODE.tangents is not None:
        push_tangent(t, prim, args, raw)
    return t
