"""Build Expr nodes whose shapes follow from their operands (resolved shapes, no unification).

The engine and the simplifier make new nodes from existing ones; :func:`build` computes each
new node's shape from the signature in rules/language, and refuses operands that do not fit
(a :class:`~matcalc.errors.ShapeError` that names the operator and the shapes), so a wrong
rule can never produce an ill-shaped answer.
"""

from __future__ import annotations

from operator import attrgetter

from matcalc import expr as E
from matcalc.errors import ShapeError
from matcalc.language import Language, builtin_language
from matcalc.shapes import format_shape, normalise, product_dim


_OP = attrgetter("op")


def _fail(op: str, args, why: str):
    shown = ", ".join(format_shape(a.shape) for a in args)
    raise ShapeError(f"{op}: {why} (operands {shown})")


def _matmul_shape(op, args):
    ends = E.chain_ends(args)                   # the usual case: one chain, whose ends give
    if ends is not None:                        # the shape
        return () if ends[0] is None else normalise(*ends)
    # not one chain: a 1×1 run in it scales what follows (u'*v*A), or the dimensions differ
    shape = args[0].shape
    for arg in args[1:]:
        b = arg.shape
        if not shape:
            shape = b
            continue
        if not b:
            continue
        r1, c1 = (shape[0], 1) if len(shape) == 1 else shape
        r2, c2 = (b[0], 1) if len(b) == 1 else b
        if c1 != r2:
            _fail(op, args, f"inner dimensions differ: {c1} and {r2}")
        shape = normalise(r1, c2)
    return shape


def _same(op, args, allow_scalar: bool):
    full = [a.shape for a in args if a.shape or not allow_scalar]
    for s in full[1:]:
        if s != full[0]:
            _fail(op, args, "shapes differ")
    return full[0] if full else ()


def _transpose_shape(op, args):
    s = args[0].shape
    if len(s) == 0:
        return ()
    if len(s) == 1:
        return (1, s[0])
    return (s[1],) if s[0] == 1 else (s[1], s[0])


def _gufunc_shape(op, spec, args):
    shapes = tuple([a.shape for a in args])
    key = (op, id(spec), shapes)
    hit = _GUFUNC_SHAPES.get(key)
    if hit is not None and hit[0] is spec:
        return hit[1]
    out = _gufunc_shape_of(op, spec, args)
    if len(_GUFUNC_SHAPES) > 4096:
        _GUFUNC_SHAPES.clear()
    _GUFUNC_SHAPES[key] = (spec, out)
    return out


# The output shape of a signature function by its operands' shapes: a pure function of the
# signature and the shapes, worked out once (kron of an m×n and a p×q is mp×nq whatever the
# operands are); refusals are not kept, so each raises with its own operands' message.
_GUFUNC_SHAPES: dict[tuple, tuple] = {}


def _gufunc_shape_of(op, spec, args):
    ranks = tuple(len(a.shape) for a in args)
    chosen = spec.by_ranks.get(ranks)
    if chosen is None:
        _fail(op, args, f"no signature of {op} takes operands of ranks {ranks}")
    letters: dict[str, object] = {}
    products = []
    for dims, arg in zip(chosen.inputs, args):
        for d, size in zip(dims, arg.shape):
            if "*" in d:
                products.append((d, size))
                continue
            want = int(d) if d.isdigit() else letters.setdefault(d, size)
            if want != size:
                _fail(op, args, f"{chosen.text} needs {d} = {want}, got {size}")
    for d, size in products:
        want = product_dim([letters[p] if not p.isdigit() else int(p) for p in d.split("*")])
        if want != product_dim([size]):
            _fail(op, args, f"{chosen.text} needs {d} = {want}, got {size}")
    out = tuple(product_dim([letters[p] if not p.isdigit() else int(p) for p in d.split("*")])
                for d in chosen.output)
    return normalise(*out) if len(out) == 2 else out


def shape_of(op: str, args: tuple, lang: Language) -> tuple:
    """The shape of ``op(*args)``; ShapeError if the operands do not fit its signature."""
    spec = lang.get(op)
    if spec is None:
        raise ShapeError(f"unknown operator {op!r}")
    kind = spec.signature
    if isinstance(kind, tuple):
        return _gufunc_shape(op, spec, args)
    if kind == "matmul":
        return _matmul_shape(op, args)
    if kind == "elementwise":
        return _same(op, args, allow_scalar=True)
    if kind == "congruent":
        return _same(op, args, allow_scalar=False)
    if kind == "pairwise-reduce":
        _same(op, args, allow_scalar=False)
        return ()
    if kind == "reduce":
        return ()
    if kind == "scale":
        if args[1].shape:
            _fail(op, args, "the divisor must be a scalar")
        return args[0].shape
    if kind == "transpose":
        return _transpose_shape(op, args)
    raise ShapeError(f"{op}: unknown signature kind {kind!r}")


def filled(value: float, shape: tuple, lang: Language | None = None) -> E.Expr | None:
    """The constant of ``shape`` whose every entry is ``value``, written as a person would:
    the number for a scalar, ``vector(c)`` for a column, ``vector(c)'`` for a row (not a 1×n
    ``matrix(c)``, which would not print back to the same shape), ``matrix(c)`` otherwise.
    None when the language has no such constant function."""
    lang = lang or builtin_language()
    if not shape:
        return E.const(value)
    if len(shape) == 2 and shape[0] == 1:
        column = filled(value, (shape[1],), lang)
        return None if column is None else build("transpose", (column,), None, lang)
    fill = lang.fill(len(shape))
    return None if fill is None else build(fill, (), (float(value),), lang, shape=shape)


def build(op: str, args, value=None, lang: Language | None = None, shape=None) -> E.Expr:
    """The node ``op(*args)`` with its shape computed (or given, for constants like eye);
    an operator the language declares an ``involution`` applied to itself is its operand
    (``build("transpose", (x',))`` is x), so the engine never builds what a rule would
    only have to undo.  The parser keeps what a user typed (``x''`` stays until simplified)."""
    args = tuple(args)
    lang = lang or builtin_language()
    if len(args) == 1 and args[0].op == op and op in lang.involutions and \
            args[0].value == value:
        return args[0].args[0]                 # f(f(a)) = a for a declared involution (a'')
    if len(args) == 1 and args[0].op == "const" and op in lang.negations:
        return E.const(-args[0].value)         # -(2) is the number -2, as the parser makes it
    if shape is None:
        shape = shape_of(op, args, lang)
        units = lang.units.get(op)
        if units is not None and len(args) > 1 and not units[0].isdisjoint(map(_OP, args)):
            kept = _without_units(op, args, units, tuple(shape), lang)
            if kept is not args:
                return kept
    return E.make(op, args, tuple(shape), value)


def _without_units(op: str, args: tuple, units: tuple, shape: tuple, lang: Language):
    """``op(*args)`` without its operands that are a declared unit of ``op`` (A*I is A,
    1 ⊙ u is u), where what is left has the same shape (c*I stays); ``args`` when none is
    dropped.  ``units``: the units' function names and their (name, params); called when
    some operand's operator is one of those names."""
    names, units = units
    rest = tuple(a for a in args if a.args or (a.op, a.value) not in units)
    if len(rest) == len(args):
        return args
    if not rest:                                     # I*I is I, 1*I is I
        rest = next(((a,) for a in args if a.shape == shape), args[:1])
    if len(rest) == 1:
        return rest[0] if rest[0].shape == shape else args
    try:
        if tuple(shape_of(op, rest, lang)) != shape:
            return args
    except ShapeError:
        return args
    return E.make(op, rest, shape)

