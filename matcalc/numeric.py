"""Numbers for expressions: compile an Expr to matcalc.autograd operations and run it.

``evaluate`` gives an expression's value; ``numeric_jacobian`` its derivative by backprop in
numerator layout (DESIGN.md), the independent truth every symbolic answer is checked against.

Each node of the DAG is computed once.  What a node computes is found through the ``numeric``
field of its rules/language record (``tr`` → ``trace``); :data:`NUMERIC` maps those names to
autograd operations — with the autograd primitive table, the one place numeric meaning is
written in Python.  Array conventions: a scalar is 0-d, a column vector 1-d ``(n,)``, a row
vector ``(1, n)``, a matrix ``(m, n)``.
"""

from __future__ import annotations

import numpy as np

from matcalc import autograd as ag
from matcalc.compiled import cached, run_cached
from matcalc.errors import EvaluationError
from matcalc.expr import Expr
from matcalc.language import Language, builtin_language
from matcalc.shapes import eval_dim, format_shape, normalise


# ---------------------------------------------------------------- the numeric table

def _as_matrix(t, shape):
    """A column vector as (n, 1) for products; everything else as is."""
    return t.reshape(-1, 1) if len(shape) == 1 else t


def _to_shape(t, shape):
    """Bring a 2-d result back to matcalc's convention for ``shape``."""
    if len(shape) == 0:                     # (a scalar applied entrywise stays an array)
        return t.reshape(()) if all(d == 1 for d in t.shape) else t
    if len(shape) == 1:
        return t.reshape(-1)
    return t if t.ndim == 2 else t.reshape(1, -1)


def _product(node, args, sizes):
    acc, acc_shape = args[0], node.args[0].shape
    for arg, sub in zip(args[1:], node.args[1:]):
        if not acc_shape or not sub.shape:
            acc = acc * arg
            acc_shape = acc_shape or sub.shape
        else:
            out_shape = normalise(acc_shape[0], 1 if len(sub.shape) == 1 else sub.shape[1])
            acc = _to_shape(ag.matmul(_as_matrix(acc, acc_shape), _as_matrix(arg, sub.shape)),
                            out_shape)
            acc_shape = out_shape
    return _to_shape(acc, node.shape)


def _transpose(node, args, sizes):
    (x,) = args
    if x.ndim == 0 or not node.shape:
        return x
    if x.ndim == 1:
        return x.reshape(1, -1)
    return x.reshape(-1) if x.shape[0] == 1 and len(node.shape) == 1 else x.T


def _vec(node, args, sizes):
    (x,) = args
    return x.reshape(-1) if x.ndim < 2 else x.T.reshape(-1)      # column-major


def _unvec(node, args, sizes):
    v, like = args
    if like.ndim == 0:
        return v.reshape(())
    if like.ndim == 1:
        return v.reshape(-1)
    rows, cols = like.shape
    return v.reshape(cols, rows).T                          # column-major


def _kron(node, args, sizes):
    a, b = (_as_matrix(x, s.shape) for x, s in zip(args, node.args))
    return _to_shape(ag.kron(a, b), node.shape)


def _fold(fn):
    def apply(node, args, sizes):
        out = args[0]
        for arg in args[1:]:
            out = fn(out, arg)
        return out
    return apply


def _concrete(node, sizes) -> tuple[int, ...]:
    out = tuple(eval_dim(d, sizes) for d in node.shape)
    if None in out:
        free = next(d for d, v in zip(node.shape, out) if v is None)
        raise EvaluationError(f"{node}: its size {format_shape(node.shape)} is not fixed by any "
                              f"value; give the sizes: dims={{'{free}': 3}} in Python, "
                              f"{free} = 3 in the REPL")
    return out


def _commutation(node, args, sizes):
    (like,) = args
    rows, cols = (like.shape[0], 1) if like.ndim == 1 else like.shape
    k = np.zeros((rows * cols, rows * cols))
    i, j = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    k[(j + i * cols).ravel(), (i + j * rows).ravel()] = 1.0   # K vec(X) = vec(Xᵀ)
    return ag.tensor(k)


def _eye(node, args, sizes):
    return ag.eye(_concrete(node, sizes)[0])


def _fill(node, args, sizes):
    return ag.full(_concrete(node, sizes), float(node.value[0]))


NUMERIC = {
    "add": _fold(lambda a, b: a + b),
    "neg": lambda node, args, sizes: -args[0],
    "matmul": _product,
    "mul": _fold(lambda a, b: a * b),
    "div": lambda node, args, sizes: args[0] / args[1],
    "pow": lambda node, args, sizes: args[0] ** args[1],
    "transpose": _transpose,
    "inner": lambda node, args, sizes: ag.sum(args[0] * args[1]),
    "sum": lambda node, args, sizes: ag.sum(args[0]),
    "trace": lambda node, args, sizes: ag.trace(args[0]),
    "det": lambda node, args, sizes: ag.det(args[0]),
    "logdet": lambda node, args, sizes: ag.logdet(args[0]),
    "inv": lambda node, args, sizes: ag.inv(args[0]),
    "norm1": lambda node, args, sizes: ag.sum(ag.abs(args[0])),
    "norm2": lambda node, args, sizes: ag.norm(args[0]),
    "diag": lambda node, args, sizes: ag.diag(args[0]),
    "dot": lambda node, args, sizes: ag.dot(args[0], args[1]),
    "kron": _kron,
    "vec": _vec,
    "unvec": _unvec,
    "commutation": _commutation,
    "eye": _eye,
    "fill": _fill,
}
for _name in ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "abs", "sign", "relu",
              "sigmoid"):
    NUMERIC[_name] = (lambda fn: lambda node, args, sizes: fn(args[0]))(getattr(ag, _name))


# ---------------------------------------------------------------- binding values

def _as_array(name: str, value) -> np.ndarray:
    try:
        arr = value.numpy() if isinstance(value, ag.Tensor) else np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise EvaluationError(f"{name}: expected numbers, got {type(value).__name__}") from None
    if arr.dtype == object:
        raise EvaluationError(f"{name}: expected a scalar, vector or matrix of numbers")
    return arr


def bind(expr: Expr, values: dict, dims: dict | None = None
         ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Arrays for the variables in matcalc's layout, and the sizes of the named dimensions.

    Vectors may be given as (n,) or (n, 1); scalars as numbers, (1,) or (1, 1).  A value
    whose shape contradicts the expression, or another value, is an EvaluationError that names
    the variable.
    """
    arrays: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = dict(dims or {})
    bound_by: dict[str, str] = {d: "the given sizes" for d in sizes}
    for name, var in expr.variables().items():
        if name not in values:
            raise EvaluationError(f"no value for {name} ({_describe(var.shape)})")
        arr = _as_array(name, values[name])
        arr = _reshape(name, arr, var.shape)
        for dim, size in zip(var.shape, arr.shape):
            if isinstance(dim, str) and "*" not in dim:
                if dim in sizes and sizes[dim] != size:
                    raise EvaluationError(
                        f"{name}: has {dim} = {size} ({_describe(var.shape)}), but "
                        f"{bound_by[dim]} already made {dim} = {sizes[dim]}")
                sizes.setdefault(dim, size)
                bound_by.setdefault(dim, name)
        arrays[name] = arr
    for name, var in expr.variables().items():
        for dim, size in zip(var.shape, arrays[name].shape):
            want = eval_dim(dim, sizes)
            if want is not None and want != size:
                raise EvaluationError(f"{name}: expected {_describe(var.shape)} with {dim} = "
                                      f"{want}, got shape {arrays[name].shape}")
    return arrays, sizes


def _describe(shape: tuple) -> str:
    if not shape:
        return "a scalar"
    if len(shape) == 1:
        return f"a vector of length {shape[0]}"
    if shape[0] == 1:
        return f"a row vector of length {shape[1]}"
    return f"a {format_shape(shape)} matrix"


def _reshape(name: str, arr: np.ndarray, shape: tuple) -> np.ndarray:
    rank = len(shape)
    if rank == 0:
        if arr.size != 1:
            raise EvaluationError(f"{name}: expected a scalar, got shape {arr.shape}")
        return arr.reshape(())
    if rank == 1:
        if arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1):
            return arr.reshape(-1)
        raise EvaluationError(f"{name}: expected {_describe(shape)} as shape (n,) or (n, 1), "
                              f"got shape {arr.shape}")
    if shape[0] == 1 and (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[0] == 1)):
        return arr.reshape(1, -1)
    if arr.ndim != 2:
        raise EvaluationError(f"{name}: expected {_describe(shape)}, got shape {arr.shape}")
    return arr


# ---------------------------------------------------------------- running

def _run(expr: Expr, tensors: dict, sizes: dict, lang: Language):
    done: dict[int, object] = {}
    for node in expr.walk():
        if node.op == "var":
            out = tensors[node.value]
        elif node.op == "const":
            out = ag.tensor(node.value)
        else:
            spec = lang.get(node.op)
            fn = NUMERIC.get(spec.numeric) if spec is not None else None
            if fn is None and spec is not None and spec.definition is not None:
                env = dict(zip(spec.operands, (done[id(a)] for a in node.args)))
                done[id(node)] = _run(spec.definition, env, sizes, lang)
                continue
            if fn is None:
                raise EvaluationError(f"{node.op}: no numeric definition (its rules record "
                                      f"needs a 'numeric' field naming one of "
                                      f"{', '.join(sorted(NUMERIC))})")
            out = fn(node, [done[id(a)] for a in node.args], sizes)
        done[id(node)] = out
    return done[id(expr)]


def _prepare(expr, values, shapes, lang, dims=None):
    if isinstance(expr, str):
        from matcalc.parse import parse
        expr = parse(expr, shapes=shapes, language=lang)
    if not isinstance(expr, Expr):
        raise EvaluationError(f"expected an expression (text or Expr), got {type(expr).__name__}")
    arrays, sizes = bind(expr, values or {}, dims)
    return expr, arrays, sizes


def _result(arr: np.ndarray):
    return float(arr) if arr.ndim == 0 else arr


def evaluate(expr, values: dict, shapes=None, language: Language | None = None,
             dims: dict | None = None):
    """The value of ``expr`` (text or Expr) at ``values``.

    A scalar comes back as a float, a column vector as shape (n,), a row vector as (1, n), a
    matrix as (m, n).  ``dims`` gives sizes of dimensions no value shows (``eye`` alone).
    From the second call on the same expression it runs NumPy code generated once
    (matcalc.compiled); anything that code cannot do, or any error, takes the reference path
    through matcalc.autograd, so results and errors are those of the reference path.

    >>> evaluate("x'*A*x", {"x": [1.0, 2.0], "A": [[1.0, 0.0], [0.0, 3.0]]})
    13.0
    """
    lang = language or builtin_language()
    expr, arrays, sizes = _prepare(expr, values, shapes, lang, dims)
    fast = cached(expr, lang)                   # compiled NumPy from the second call on
    if fast is not None:
        out = run_cached(fast, arrays, sizes)
        if out is not None:
            return _result(out)
    return _reference(expr, arrays, sizes, lang)


def reference(expr, values: dict, shapes=None, language: Language | None = None,
              dims: dict | None = None):
    """The value of ``expr`` through matcalc.autograd only (never the generated code that
    :func:`evaluate` caches): what the code generator is checked against."""
    lang = language or builtin_language()
    expr, arrays, sizes = _prepare(expr, values, shapes, lang, dims)
    return _reference(expr, arrays, sizes, lang)


def _reference(expr: Expr, arrays: dict, sizes: dict, lang: Language):
    with ag.no_grad():
        out = _run(expr, {n: ag.tensor(a) for n, a in arrays.items()}, sizes, lang)
    return _result(out.numpy())


def numeric_jacobian(expr, wrt: str, values: dict, shapes=None,
                     language: Language | None = None, dims: dict | None = None):
    """The derivative of ``expr`` with respect to the variable ``wrt``, by backprop.

    Numerator layout (DESIGN.md): scalar by vector x (n) is 1×n; scalar by matrix X (p×q) is
    q×p; vector (m) by vector is m×n; anything by a scalar has the expression's shape;
    otherwise the vec-Jacobian ∂vec f/∂(vec X)ᵀ with column-major vec.  A row-vector
    expression is differentiated as its transpose (∂(xᵀA)/∂x = Aᵀ).
    """
    lang = language or builtin_language()
    expr, arrays, sizes = _prepare(expr, values, shapes, lang, dims)
    if wrt not in arrays:
        raise EvaluationError(f"{wrt} is not a variable of {expr}")
    x_arr = arrays[wrt]

    def f(x):
        tensors = {n: ag.tensor(a) for n, a in arrays.items() if n != wrt}
        tensors[wrt] = x
        return _run(expr, tensors, sizes, lang)

    jac = ag.jacobian(f, ag.tensor(x_arr)).numpy()
    return _result(_numerator_layout(jac, expr.shape, x_arr.shape))


def _numerator_layout(jac: np.ndarray, f_shape: tuple, x_shape: tuple) -> np.ndarray:
    """Reorder a Jacobian of shape f.shape + x.shape into matcalc's numerator layout."""
    f_rank, x_rank = len(f_shape), len(x_shape)
    f_dims, x_dims = jac.shape[:jac.ndim - x_rank], jac.shape[jac.ndim - x_rank:]
    if x_rank == 0:
        return jac.reshape(f_dims) if f_rank != 1 else jac.reshape(-1)
    if f_rank == 0:
        return jac.reshape(1, -1) if x_rank == 1 else jac.T     # 1×n, or q×p for X p×q
    m = int(np.prod(f_dims))
    n = int(np.prod(x_dims))
    # column-major vec of both sides: reverse the axes of each, then row-major reshape
    f_axes = list(range(len(f_dims)))[::-1]
    x_axes = [len(f_dims) + i for i in range(len(x_dims))][::-1]
    return jac.transpose(f_axes + x_axes).reshape(m, n)


def numeric_vjp(expr, wrt: str, values: dict, cotangent, language: Language | None = None):
    """∂⟨Y, expr⟩/∂wrt by backprop, shaped like the variable (Y = ``cotangent``)."""
    lang = language or builtin_language()
    expr, arrays, sizes = _prepare(expr, values, None, lang)
    x = ag.tensor(arrays[wrt], requires_grad=True)
    tensors = {n: ag.tensor(a) for n, a in arrays.items() if n != wrt}
    tensors[wrt] = x
    out = _run(expr, tensors, sizes, lang)
    if not out.requires_grad:                               # it does not depend on wrt
        return _result(np.zeros_like(arrays[wrt]))
    y = np.asarray(cotangent, dtype=float).reshape(out.shape)
    (g,) = ag.grad(out, [x], grad_outputs=ag.tensor(y), allow_unused=True)
    return _result(np.zeros_like(arrays[wrt]) if g is None else g.numpy())
