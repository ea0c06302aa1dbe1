"""Compiled NumPy functions: ``matcalc.compile`` and the compile-once cache of ``evaluate``.

``compile(expr, wrt, grad=True, hessian=True)`` derives what is asked symbolically, generates
NumPy source for all of it at once (matcalc.codegen: shared subexpressions computed once) and
executes that source in a namespace holding only NumPy.  Before exec the source is parsed and
every name in it checked against the names the generator made or validated.
"""

from __future__ import annotations

import ast
import builtins
import weakref

import numpy as np

from matcalc.codegen import CodegenError, generate
from matcalc.errors import MatcalcError
from matcalc.expr import Expr

# builtins the generated module names: the function body reaches them only through
# module-level aliases (a variable called `float` cannot shadow them); helpers use them directly
_BUILTINS = frozenset({"float", "type", "ValueError", "range", "min", "max"})


def request(expr, wrt=None, *, value=True, grad=False, hessian=False, jacobian=False,
            shapes=None, assume=None, rules=None):
    """The outputs asked for, as (label, Expr) pairs, and the variables of ``expr``."""
    from matcalc.diff import _as_expr, diff, grad as grad_of, hessian as hessian_of
    from matcalc.rules import builtin_rules
    rules = rules or builtin_rules()
    e = _as_expr(expr, shapes, assume, rules) if not isinstance(expr, Expr) else expr
    variables = e.variables()
    if (grad or hessian or jacobian) and wrt is None:
        if len(variables) != 1:
            raise MatcalcError(f"say which variable to differentiate by: wrt= one of "
                               f"{', '.join(variables)}")
        wrt = next(iter(variables))
    if wrt is not None and wrt not in variables:
        raise MatcalcError(f"{wrt} is not a variable of {e}")
    outputs = [("value", e)] if value else []
    if grad:
        outputs.append(("grad", grad_of(e, wrt, rules=rules)))
    if jacobian:
        outputs.append(("jacobian", diff(e, wrt, rules=rules)))
    if hessian:
        outputs.append(("hessian", hessian_of(e, wrt, rules=rules)))
    if not outputs:
        raise MatcalcError("nothing to compute: ask for value, grad, jacobian or hessian")
    return outputs, variables, rules.language


def numpy_source(expr, wrt=None, *, value=True, grad=False, hessian=False, jacobian=False,
                 name="f", shapes=None, assume=None, rules=None, dims=None) -> str:
    """The NumPy source :func:`compile` executes: a self-contained module, NumPy only."""
    outputs, variables, lang = request(expr, wrt, value=value, grad=grad, hessian=hessian,
                                       jacobian=jacobian, shapes=shapes, assume=assume,
                                       rules=rules)
    return generate(outputs, variables, lang, name=name, dims=dims,
                    doc=_doc(outputs, variables))[0]


def _doc(outputs, variables) -> str:
    lines = [f"{label}: {e.unicode()}  ({e.shape_text})" for label, e in outputs]
    args = ", ".join(f"{n} ({v.shape_text})" for n, v in variables.items())
    text = "Returns " + "; ".join(lines) + f".  Arguments: {args}."
    return text.replace("\\", "\\\\").replace('"""', "'''")


def load(source: str, name: str, names: set[str]):
    """Exec generated source after checking that it uses only the names it may."""
    tree = ast.parse(source)
    allowed = set(names) | _BUILTINS | {"np", "numpy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in allowed:
            raise CodegenError(f"generated code uses an unexpected name {node.id!r}")
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not (
                isinstance(node, ast.Import) and [a.name for a in node.names] == ["numpy"]):
            raise CodegenError("generated code may import only numpy")
        if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            raise CodegenError("generated code may not reach dunder attributes")
    namespace: dict = {"__name__": "matcalc_generated"}
    exec(builtins.compile(tree, f"<matcalc {name}>", "exec"), namespace)    # noqa: S102 — checked above
    return namespace[name]


def compile(expr, wrt=None, *, value=True, grad=False, hessian=False, jacobian=False,  # noqa: A001
            shapes=None, assume=None, rules=None, dims=None, name="f"):
    """A NumPy function computing ``expr`` and, when asked, its derivatives by ``wrt``.

    Call it with the variables as keyword arguments (vectors as (n,) or (n, 1)); it returns
    the value, or a tuple in the order value, grad, jacobian, hessian of what was asked.  Its
    ``source`` attribute is the generated module; ``exprs`` the symbolic outputs.  ``dims``
    gives expected sizes ({"n": 1000}) for choosing the order of matrix products.

    >>> f = compile("x'*A*x", "x", value=False, grad=True, hessian=True)
    >>> g, H = f(A=[[1.0, 2.0], [0.0, 3.0]], x=[1.0, 1.0])
    >>> g.tolist(), H.tolist()
    ([4.0, 8.0], [[2.0, 2.0], [2.0, 6.0]])
    """
    outputs, variables, lang = request(expr, wrt, value=value, grad=grad, hessian=hessian,
                                       jacobian=jacobian, shapes=shapes, assume=assume,
                                       rules=rules)
    source, free, names = generate(outputs, variables, lang, name=name, dims=dims,
                                   doc=_doc(outputs, variables))
    fn = load(source, name, names)
    fn.source = source
    fn.exprs = dict(outputs)
    fn.variables = tuple(variables)
    fn.size_params = free
    return fn


# ---------------------------------------------------------------- evaluate's cache

_CACHE: "weakref.WeakKeyDictionary[Expr, dict]" = weakref.WeakKeyDictionary()
_FAILED = object()


def cached(expr: Expr, lang):
    """The unchecked compiled function of ``expr`` from the second call on (None before, or
    when the expression has no NumPy code): evaluate binds and checks the values itself."""
    slot = _CACHE.get(expr)
    if slot is None:
        _CACHE[expr] = {lang: None}
        return None
    fn = slot.get(lang, _FAILED if lang in slot else None)
    if fn is None and lang in slot:
        try:
            source, free, names = generate([("value", expr)], expr.variables(), lang,
                                           name="f", checks=False)
            fn = load(source, "f", names)
            fn.size_params = free
        except MatcalcError:
            fn = _FAILED
        slot[lang] = fn
    elif lang not in slot:
        slot[lang] = None
        return None
    return None if fn is _FAILED else fn


def run_cached(fn, arrays: dict, sizes: dict):
    """The compiled function's result as an array, or None when it failed (the caller then
    takes the reference path, which raises the error a user should see)."""
    try:
        kwargs = {p: sizes[d] for d, p in fn.size_params.items()}
        with np.errstate(all="ignore"):
            out = fn(**arrays, **kwargs)
    except Exception:                                        # noqa: BLE001 — see docstring
        return None
    return np.asarray(out)
