"""The primitive table: each operation's forward, VJP and JVP side by side, and nothing else.

``PRIMITIVES[name]`` is a :class:`Primitive` with

- ``fwd(*args)``: the NumPy forward; tensor arguments first, static parameters (axis, shape,
  index key) after;
- ``vjps[i](g, ans, *args)``: the vector-Jacobian product for argument ``i`` (reverse mode).
  It may return any shape that broadcasts to argument ``i``; the engine sums it back;
- ``jvps[i](t, ans, *args)``: the Jacobian-vector product, the output's tangent due to
  argument ``i``'s tangent ``t`` (forward mode); the engine broadcasts it to ``ans``.

Each rule is written once and runs two ways.  Given ndarrays it is plain NumPy: a backward
pass that builds no graph costs no Tensor objects.  Given Tensors (``create_graph=True``) the
same operators and ``P.<name>`` calls record a graph, so a gradient can be differentiated
again.  ``P`` holds one such two-way function per primitive; a compiler can call ``P`` or
``apply(PRIMITIVES[name], args)`` by name.

Markers: ``SAME``, the op is elementwise, so its Jacobian is diagonal and the JVP is the VJP
formula with ``t`` for ``g``; ``LINEAR``, the op is linear in that argument, so the JVP is the
op applied to the tangent.  Static parameters have no rule (``None``).

Matrix rules: Giles, "An extended collection of matrix derivative results for forward and
reverse mode algorithmic differentiation" (2008), sections 2.2-2.3 and 3.1-3.3.
"""

from __future__ import annotations

import numpy as np

from matcalc.autograd.tensor import Tensor, _const, apply
from matcalc.errors import AutogradShapeError, AutogradValueError, LinAlgError

__all__ = ["Primitive", "PRIMITIVES", "P", "SAME", "LINEAR", "defprim", "sum_to_raw"]

SAME = "same"
LINEAR = "linear"
PRIMITIVES: dict[str, "Primitive"] = {}


class Primitive:
    """One row of the table; ``grad_fn`` is torch's node name (or a function of the inputs)."""

    __slots__ = ("name", "fwd", "vjps", "jvps", "grad_fn", "error", "unbroadcast")

    def node_name(self, inputs: tuple) -> str:
        gf = self.grad_fn
        return gf if type(gf) is str else gf(*inputs)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


class _Ops:
    """Namespace of two-way functions, one per primitive: NumPy in, NumPy out; Tensor in,
    Tensor out (recorded)."""


P = _Ops()


def _two_way(prim: Primitive):
    fwd = prim.fwd

    def op(x, *rest):
        if type(x) is Tensor:
            return apply(prim, (x,) + rest)
        for a in rest:
            if type(a) is Tensor:
                return apply(prim, (x,) + rest)
        return fwd(x, *rest)
    op.__name__ = prim.name
    op.__qualname__ = "P." + prim.name
    return op


def _default_error(name):
    def error(exc, *raw):
        return AutogradValueError(f"{name}: {exc}")
    return error


def defprim(name, fwd, vjps, jvps, grad_fn, error=None, broadcasts=False) -> Primitive:
    """Register a primitive.  ``vjps``: one rule per differentiable (leading) argument;
    ``jvps``: SAME, LINEAR, or one rule or marker per argument.  ``broadcasts``: the VJPs may
    return a broadcast shape that the engine must sum back (otherwise they return exactly
    the argument's shape).  A VJP may return ``g`` itself but never an input's array."""
    prim = Primitive()
    prim.name, prim.fwd, prim.vjps, prim.grad_fn = name, fwd, tuple(vjps), grad_fn
    prim.unbroadcast = broadcasts
    prim.error = error or _default_error(name)
    marks = jvps if isinstance(jvps, tuple) else (jvps,) * len(prim.vjps)
    rules = []
    for i, (v, j) in enumerate(zip(prim.vjps, marks)):
        rules.append(v if j is SAME else _linear_jvp(name, i) if j is LINEAR else j)
    prim.jvps = tuple(rules) + (None,) * 4      # static parameters carry no tangent
    PRIMITIVES[name] = prim
    setattr(P, name, _two_way(prim))
    return prim


def _linear_jvp(name, i):
    def jvp(t, ans, *args):
        args = list(args)
        args[i] = t
        return getattr(P, name)(*args)
    return jvp


# ---- helpers the rules share (two-way, like the rules) ----------------------------------------
def _value(x):
    return x._data if type(x) is Tensor else np.asarray(x)


def zeros_like(x):
    """Zeros shaped like ``x``, a constant in either mode."""
    return _const(np.zeros_like(x._data, dtype=float)) if type(x) is Tensor \
        else np.zeros_like(x, dtype=float)


def no_gradient(g, ans, *args):
    """Piecewise-constant ops: the derivative is 0 (at the jumps too, by convention)."""
    return zeros_like(g)


def _mT(x):
    """Swap the last two axes (matrix transpose, batched)."""
    n = x.ndim
    return P.transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def _expand2(v):
    """A scalar (or batch of scalars) shaped to multiply a batch of matrices."""
    return P.reshape(v, tuple(v.shape) + (1, 1))


def _kept_shape(shape, axis):
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _unreduce(g, shape, axis, keepdims):
    """``g`` reshaped to broadcast against an input of ``shape`` reduced over ``axis``."""
    if keepdims or axis is None:
        return g
    return P.reshape(g, _kept_shape(shape, axis))


def _nonzero(ans):
    """``ans`` with exact zeros replaced by 1 (for norms: x is 0 there, so x/1 = 0)."""
    return ans + (ans == 0)


def sum_to_raw(x, shape):
    """Sum ``x`` over the axes that broadcasting added or stretched, back to ``shape``."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    if lead > 0:
        x = x.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    if x.shape != shape:
        x = np.broadcast_to(x, shape)
    return x


def _broadcast_error(name):
    def error(exc, a, b):
        sa, sb = np.shape(a), np.shape(b)
        try:
            np.broadcast_shapes(sa, sb)
        except ValueError:
            return AutogradShapeError(f"{name}: shapes {sa} and {sb} cannot be broadcast "
                                      "together")
        return AutogradValueError(f"{name}: {exc}")
    return error


def _shape_error(message):
    def error(exc, x, *params):
        return AutogradShapeError(message.format(shape=np.shape(x), size=np.size(x),
                                                 params=params, exc=exc))
    return error


def _matmul_error(exc, a, b):
    sa, sb = np.shape(a), np.shape(b)
    if not sa or not sb:
        return AutogradShapeError(f"matmul: both operands need at least one dimension, got "
                                  f"shapes {sa} and {sb}")
    ka, kb = sa[-1], sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        return AutogradShapeError(f"matmul: shapes {sa} and {sb} are not aligned: "
                                  f"{ka} (dim {len(sa) - 1}) != {kb} (dim {max(len(sb) - 2, 0)})")
    return AutogradShapeError(f"matmul: batch dimensions of shapes {sa} and {sb} cannot be "
                              "broadcast together")


# ---- elementwise arithmetic (broadcasting; the engine sums gradients back to shape) -----------
defprim("add", np.add,
        (lambda g, ans, x, y: g,
         lambda g, ans, x, y: g), SAME, "AddBackward0", _broadcast_error("add"),
        broadcasts=True)
defprim("sub", np.subtract,
        (lambda g, ans, x, y: g,
         lambda g, ans, x, y: -g), SAME,
        lambda x, y: "SubBackward0" if type(x) is Tensor else "RsubBackward1",
        _broadcast_error("sub"),
        broadcasts=True)
defprim("mul", np.multiply,
        (lambda g, ans, x, y: g * y,
         lambda g, ans, x, y: g * x), SAME, "MulBackward0", _broadcast_error("mul"),
        broadcasts=True)
defprim("div", np.true_divide,
        (lambda g, ans, x, y: g / y,
         lambda g, ans, x, y: -g * ans / y), SAME, "DivBackward0", _broadcast_error("div"),
        broadcasts=True)
defprim("pow", np.power,
        (lambda g, ans, x, y: g * y * x ** (y - 1),
         lambda g, ans, x, y: g * ans * P.log(x + (x == 0))), SAME,   # 0**y: d/dy taken as 0
        lambda x, y: ("PowBackward1" if type(y) is Tensor else "PowBackward0")
        if type(x) is Tensor else "PowBackward2", _broadcast_error("pow"),
        broadcasts=True)

# ---- elementwise functions -----------------------------------------------------------------
defprim("neg", np.negative, (lambda g, ans, x: -g,), SAME, "NegBackward0")
defprim("exp", np.exp, (lambda g, ans, x: g * ans,), SAME, "ExpBackward0")
defprim("log", np.log, (lambda g, ans, x: g / x,), SAME, "LogBackward0")
defprim("sin", np.sin, (lambda g, ans, x: g * P.cos(x),), SAME, "SinBackward0")
defprim("cos", np.cos, (lambda g, ans, x: -g * P.sin(x),), SAME, "CosBackward0")
defprim("tan", np.tan, (lambda g, ans, x: g * (1 + ans * ans),), SAME, "TanBackward0")
defprim("tanh", np.tanh, (lambda g, ans, x: g * (1 - ans * ans),), SAME, "TanhBackward0")
defprim("sqrt", np.sqrt, (lambda g, ans, x: g / (2 * ans),), SAME, "SqrtBackward0")
defprim("sigmoid", lambda x: 0.5 * np.tanh(0.5 * x) + 0.5,
        (lambda g, ans, x: g * ans * (1 - ans),), SAME, "SigmoidBackward0")
# Subgradients: sign(0) = 0, so abs'(0) = 0 (in [-1, 1]) and relu'(0) = 0.
defprim("abs", np.abs, (lambda g, ans, x: g * P.sign(x),), SAME, "AbsBackward0")
defprim("relu", lambda x: np.maximum(x, 0), (lambda g, ans, x: g * (x > 0),), SAME,
        "ReluBackward0")
defprim("sign", np.sign, (no_gradient,), SAME, "SignBackward0")


# ---- matrix product (1-D operands as in NumPy: vector.vector, matrix.vector, vector.matrix) ----
def _matmul_vjp_a(g, ans, a, b):
    if b.ndim == 1:
        return g * b if a.ndim == 1 else P.reshape(g, tuple(g.shape) + (1,)) * b
    if a.ndim == 1:                                   # (1, m) @ b^T, summed to (k,)
        return P.matmul(P.reshape(g, tuple(g.shape[:-1]) + (1, g.shape[-1])), _mT(b))
    return P.matmul(g, _mT(b))


def _matmul_vjp_b(g, ans, a, b):
    if a.ndim == 1:
        if b.ndim == 1:
            return g * a
        return P.reshape(a, (-1, 1)) * P.reshape(g, tuple(g.shape[:-1]) + (1, g.shape[-1]))
    if b.ndim == 1:                                   # (1, n) @ a, summed to (k,)
        return P.matmul(P.reshape(g, tuple(g.shape[:-1]) + (1, g.shape[-1])), a)
    return P.matmul(_mT(a), g)


_MATMUL_NAMES = {(1, 1): "DotBackward0", (2, 1): "MvBackward0", (2, 2): "MmBackward0"}
defprim("matmul", np.matmul, (_matmul_vjp_a, _matmul_vjp_b), LINEAR,
        lambda a, b: _MATMUL_NAMES.get((np.ndim(a), np.ndim(b)), "MatmulBackward0"),
        _matmul_error, broadcasts=True)


# ---- reductions --------------------------------------------------------------------------------
def _sum(x, axis=None, keepdims=False):
    return x.sum(axis=axis, keepdims=keepdims)


def _norm(x, axis=None, keepdims=False):
    return np.sqrt((x * x).sum(axis=axis, keepdims=keepdims))


defprim("sum", _sum,
        (lambda g, ans, x, axis, keepdims:
            P.broadcast_to(_unreduce(g, x.shape, axis, keepdims), x.shape),), LINEAR,
        lambda x, axis, keepdims: "SumBackward0" if axis is None else "SumBackward1",
        _shape_error("sum: {exc} (tensor of shape {shape})"))
# 2-norm (Frobenius for matrices); at 0 the subgradient 0 is used, as torch does.
defprim("norm", _norm,
        (lambda g, ans, x, axis, keepdims:
            _unreduce(g, x.shape, axis, keepdims) * x
            / _unreduce(_nonzero(ans), x.shape, axis, keepdims),),
        (lambda t, ans, x, axis, keepdims: P.sum(x * t, axis, keepdims) / _nonzero(ans),),
        "LinalgVectorNormBackward0",
        _shape_error("norm: {exc} (tensor of shape {shape})"))

# ---- shape and indexing (all linear) -------------------------------------------------------------
defprim("reshape", np.reshape,
        (lambda g, ans, x, shape: P.reshape(g, x.shape),), LINEAR, "ViewBackward0",
        _shape_error("reshape: cannot reshape a tensor of shape {shape} ({size} elements) "
                     "into shape {params[0]}"))
defprim("transpose", np.transpose,
        (lambda g, ans, x, axes:
            P.transpose(g, None if axes is None else tuple(np.argsort(axes))),), LINEAR,
        "PermuteBackward0",
        _shape_error("transpose: axes {params[0]} do not fit a tensor of shape {shape}"))
defprim("broadcast_to", np.broadcast_to,
        (lambda g, ans, x, shape: P.sum_to(g, x.shape),), LINEAR, "ExpandBackward0",
        _shape_error("broadcast_to: cannot broadcast shape {shape} to {params[0]}"))
defprim("sum_to", sum_to_raw,
        (lambda g, ans, x, shape: P.broadcast_to(g, x.shape),), LINEAR, "SumBackward1",
        _shape_error("sum_to: cannot sum shape {shape} down to {params[0]}"))


def _is_fancy(key) -> bool:
    keys = key if type(key) is tuple else (key,)
    return any(isinstance(k, (np.ndarray, list)) for k in keys)


def _untake(g, key, shape):
    """Scatter ``g`` into zeros of ``shape`` at ``key``, adding where indices repeat."""
    out = np.zeros(shape, dtype=np.result_type(g, np.float64))
    if _is_fancy(key):
        np.add.at(out, key, g)
    else:
        out[key] = g
    return out


def _index_name(x, key):
    if _is_fancy(key):
        return "IndexBackward0"
    keys = key if type(key) is tuple else (key,)
    return "SelectBackward0" if any(isinstance(k, (int, np.integer)) for k in keys) \
        else "SliceBackward0"


defprim("index", lambda x, key: x[key],
        (lambda g, ans, x, key: P.untake(g, key, x.shape),), LINEAR, _index_name)
defprim("untake", _untake,
        (lambda g, ans, x, key, shape: P.index(g, key),), LINEAR, "IndexPutBackward0")


# ---- linear algebra on (batches of) square matrices ---------------------------------------------
def _square(name, x):
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise LinAlgError(f"{name}: expected a square matrix (or a batch of them), got shape "
                          f"{x.shape}")


def _inv(x):
    _square("inv", x)
    try:
        return np.linalg.inv(x)
    except np.linalg.LinAlgError:
        raise LinAlgError(f"inv: the matrix is singular (shape {x.shape}), it has no "
                          "inverse") from None


def _det(x):
    _square("det", x)
    return np.linalg.det(x)


def _logdet(x):
    _square("logdet", x)
    sign, logabs = np.linalg.slogdet(x)
    if np.any(sign <= 0):
        what = "zero (the matrix is singular)" if np.any(sign == 0) else "negative"
        raise LinAlgError(f"logdet: the determinant is {what}; logdet needs det > 0 "
                          "(use log(abs(det(X))) for the log of |det|)")
    return logabs


def _nonsingular(ans):
    if not np.all(_value(ans)):
        raise LinAlgError("det: the derivative at a singular matrix (det = 0) is not "
                          "supported")


def _det_vjp(g, ans, x):
    _nonsingular(ans)
    return _expand2(g * ans) * _mT(P.inv(x))


def _det_jvp(t, ans, x):
    _nonsingular(ans)
    return ans * P.sum(_mT(P.inv(x)) * t, (-2, -1), False)


defprim("inv", _inv,
        (lambda g, ans, x: -P.matmul(P.matmul(_mT(ans), g), _mT(ans)),),   # Giles 2.2.3
        (lambda t, ans, x: -P.matmul(P.matmul(ans, t), ans),), "LinalgInvExBackward0")
defprim("det", _det, (_det_vjp,), (_det_jvp,), "LinalgDetBackward0")        # Giles 2.2.4
defprim("logdet", _logdet,
        (lambda g, ans, x: _expand2(g) * _mT(P.inv(x)),),
        (lambda t, ans, x: P.sum(_mT(P.inv(x)) * t, (-2, -1), False),), "LogdetBackward0")
