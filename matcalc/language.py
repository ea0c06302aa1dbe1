"""The language table: which functions and operators exist, their arity and shape signatures.

Everything here is read from ``rules/language/*.yaml`` (and from user rule files given to
:func:`load_language`): the grammar only knows that ``name(args)`` is a call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable

from matcalc.rulefile import Record, read_records
from matcalc.shapes import Gufunc, parse_signature

FUNCTION_KEYS = {"name", "signature", "numeric", "doc", "params", "domain", "operator", "source",
                 "definition", "args", "entrywise", "shape_only", "involution", "unit"}
PARAM_KINDS = ("size", "number")
DOMAINS = ("positive", "nonzero", "invertible", "positive-determinant")

# Node names the grammar itself creates; a rules file must define each of them.
GRAMMAR_OPERATORS = ("add", "neg", "mul", "div", "hadamard", "ediv", "pow", "epow",
                     "transpose", "inner")


@dataclass(frozen=True)
class FunctionSpec:
    """A function or operator of the language."""

    name: str
    signature: object          # a kind name, or a tuple of Gufunc overloads
    params: tuple[str, ...]    # literal arguments: "size", "number", optionally ending in "?"
    numeric: str | None
    doc: str
    domain: str | None
    where: str
    definition: object = None                # an Expr over ``operands``, for user functions
    operands: tuple[str, ...] = ()
    entrywise: str | None = None             # the operator doing the same entry by entry
    shape_only: tuple[int, ...] = ()         # operands that give only their shape
    involution: bool = False                 # f(f(a)) = a: built nodes never nest it twice
    # constants that leave an operand of this associative operator as it is (A*I = A): as
    # (function name, its literal params or None)
    unit: tuple[tuple[str, object], ...] = ()

    @property
    def arity(self) -> int | None:
        """Number of expression operands (None when it depends on the kind)."""
        if self.params:
            return 0
        if isinstance(self.signature, tuple):
            return len(self.signature[0].inputs)
        return {"elementwise": 1, "reduce": 1, "transpose": 1}.get(self.signature)

    @property
    def overloads(self) -> tuple[Gufunc, ...]:
        return self.signature if isinstance(self.signature, tuple) else ()

    @cached_property
    def by_ranks(self) -> dict[tuple[int, ...], Gufunc]:
        """The overloads by their operands' ranks (which tell them apart), made once: typing
        and building choose one at every node."""
        return {o.ranks: o for o in self.overloads}


class Language:
    """Functions by name.  Immutable once built; combine with :meth:`extended`."""

    def __init__(self, functions: dict[str, FunctionSpec]):
        self.functions = dict(functions)
        # get(name): the function by that name, or None (the dictionary's own method: the
        # simplifier and build ask it at every node; bound again to a copy's own functions)
        self.get: Callable[[str], FunctionSpec | None] = self.functions.get
        self.involutions = frozenset(n for n, spec in self.functions.items() if spec.involution)
        # transposes: involutions of the transpose signature (the simplifier's transposed sums)
        self.transposes = frozenset(n for n in self.involutions
                                    if self.functions[n].signature == "transpose")
        # operators that negate (numeric neg): of a number, the negative number
        self.negations = frozenset(n for n, spec in self.functions.items()
                                   if spec.numeric == "neg")
        # by operator: its declared units' function names, and (function name, params) of
        # the constant nodes
        self.units = {n: (frozenset(name for name, _ in spec.unit), frozenset(spec.unit))
                      for n, spec in self.functions.items() if spec.unit}
        # the constant functions that fill a vector (rank 1) or a matrix (rank 2): vector(c)
        self._fills = {rank: next((spec.name for spec in self.functions.values()
                                   if spec.params == ("number",) and spec.overloads
                                   and len(spec.overloads[0].output) == rank
                                   and not spec.overloads[0].inputs), None)
                       for rank in (1, 2)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.get = self.functions.get

    def fill(self, rank: int) -> str | None:
        """The constant function that fills a vector (rank 1) or matrix (rank 2): vector(c)."""
        return self._fills.get(rank)

    def names(self) -> list[str]:
        """Names a user can call (the grammar's operators excluded)."""
        return sorted(n for n in self.functions if n not in GRAMMAR_OPERATORS)

    def extended(self, records: list[Record]) -> "Language":
        funcs = dict(self.functions)
        for rec in records:
            spec = _spec(rec, Language(funcs))
            if spec.name in funcs:
                raise rec.error(f"'{spec.name}' is already defined at {funcs[spec.name].where}")
            funcs[spec.name] = spec
        return Language(funcs)


def _spec(rec: Record, lang: "Language") -> FunctionSpec:
    f = rec.fields
    name = f["name"]
    if not isinstance(name, str) or not name.isidentifier():
        raise rec.error(f"a name is an identifier, got {name!r}", "name")
    try:
        signature = parse_signature(f["signature"])
    except ValueError as exc:
        raise rec.error(str(exc), "signature") from None
    params = f.get("params", [])
    if not isinstance(params, list) or any(str(p).rstrip("?") not in PARAM_KINDS for p in params):
        raise rec.error(f"params is a list of {' / '.join(PARAM_KINDS)} (optionally ending in ?), "
                        f"got {params!r}", "params")
    if params and (not isinstance(signature, tuple) or any(o.inputs for o in signature)):
        raise rec.error("a function with literal params takes no operands: its signature "
                        "must look like '->(n,n)'", "signature")
    domain = f.get("domain")
    if domain is not None and domain not in DOMAINS:
        raise rec.error(f"unknown domain {domain!r}; known: {', '.join(DOMAINS)}", "domain")
    numeric = f.get("numeric")
    definition, operands = None, ()
    if "definition" in f:
        definition, operands = _definition(rec, name, signature, lang)
    elif numeric is None:
        raise rec.error("a function needs 'numeric' (a matcalc.autograd operation) or "
                        "'definition' (an expression of its operands)")
    shape_only = f.get("shape_only", [])
    arity = len(signature[0].inputs) if isinstance(signature, tuple) and signature else 0
    if not isinstance(shape_only, list) or any(
            not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < arity
            for i in shape_only):
        raise rec.error(f"shape_only lists operand positions (0 to {arity - 1}) whose shape "
                        f"alone matters, got {shape_only!r}", "shape_only")
    involution = f.get("involution", False)
    if not isinstance(involution, bool):
        raise rec.error(f"involution is true or false, got {involution!r}", "involution")
    if involution and (params or not (signature in ("transpose", "elementwise") or (
            isinstance(signature, tuple) and all(len(o.inputs) == 1 for o in signature)))):
        raise rec.error("only a function of one operand and no literal params can be an "
                        "involution (f(f(a)) = a)", "involution")
    return FunctionSpec(name, signature, tuple(str(p) for p in params), numeric,
                        str(f.get("doc", "")), domain, rec.where, definition, operands,
                        f.get("entrywise"), tuple(shape_only), involution, _units(rec, signature))


_UNIT = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\(\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\))?\s*$")


def _units(rec: Record, signature) -> tuple:
    """The ``unit`` constants of an associative operator, each ``name`` or ``name(c)``
    (``eye``, ``vector(1)``): a product or entrywise product never keeps one as an operand
    when the rest has the same shape."""
    raw = rec.fields.get("unit")
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    from matcalc.expr import FLATTEN            # the operators flattened into n operands
    if signature not in ("matmul", "elementwise") or rec.fields.get("name") not in FLATTEN:
        raise rec.error("only an associative operator (a product or an entrywise product) has "
                        "units", "unit")
    out = []
    for item in items:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append(("const", float(item)))        # a number: 1*A = A
            continue
        m = _UNIT.match(item) if isinstance(item, str) else None
        if m is None:
            raise rec.error(f"a unit is a number or a constant written as name or "
                            f"name(number) (1, eye, vector(1)), got {item!r}", "unit")
        out.append((m.group(1), None if m.group(2) is None else (float(m.group(2)),)))
    return tuple(out)


def _definition(rec: Record, name: str, signature, lang: "Language"):
    """Parse a user function's definition over its operands (u for an elementwise one)."""
    from matcalc.errors import MatcalcError
    from matcalc.parse import parse
    f = rec.fields
    if signature == "elementwise":
        operands = tuple(f.get("args", ["u"]))
        shapes = {operands[0]: ()}
        want: tuple | None = ()
    elif isinstance(signature, tuple) and len(signature) == 1:
        operands = tuple(f.get("args", []))
        (overload,) = signature
        if len(operands) != len(overload.inputs):
            raise rec.error(f"args must name the {len(overload.inputs)} operand(s) of "
                            f"{overload.text}, e.g. args: [x]", "args")
        shapes = {a: tuple(int(d) if d.isdigit() else d for d in dims)
                  for a, dims in zip(operands, overload.inputs)}
        want = tuple(int(d) if d.isdigit() else d for d in overload.output)
    else:
        raise rec.error("a definition needs an elementwise signature or a single gufunc "
                        "signature such as '(n)->()'", "definition")
    if not all(isinstance(a, str) and a.isidentifier() for a in operands):
        raise rec.error(f"args are names, got {list(operands)!r}", "args")
    try:
        body = parse(str(f["definition"]), shapes=shapes, language=lang)
    except MatcalcError as exc:
        raise rec.error(str(exc).splitlines()[0], "definition") from None
    unknown = sorted(set(body.variables()) - set(operands))
    if unknown:
        raise rec.error(f"uses {', '.join(unknown)}, which are not among its args "
                        f"{list(operands)}", "definition")
    if body.shape != want:
        from matcalc.shapes import format_shape
        raise rec.error(f"is {format_shape(body.shape)} but the signature says "
                        f"{format_shape(want)}", "definition")
    return body, operands


def read_language_file(path: Path) -> list[Record]:
    return read_records(path, {"functions": ({"name", "signature"}, FUNCTION_KEYS)})


@lru_cache(maxsize=None)
def builtin_language() -> Language:
    """The language defined by the built-in rules/language/*.yaml."""
    from matcalc import cache
    rules = cache.load("builtin-rules", cache.builtin_files())    # a fast start (cache.py)
    if rules is not None:
        return rules.language
    from matcalc.resources import rule_files
    lang = Language({})
    for path in rule_files("language"):
        lang = lang.extended(read_language_file(path))
    missing = [op for op in GRAMMAR_OPERATORS if op not in lang.functions]
    if missing:
        from matcalc.errors import RuleFileError
        raise RuleFileError(f"rules/language defines no record for the grammar's operators: "
                            f"{', '.join(missing)}")
    return lang


def load_language(*paths) -> Language:
    """The built-in language extended by the ``functions`` of the given rule files."""
    lang = builtin_language()
    for path in paths:
        lang = lang.extended(read_language_file(Path(path)))
    return lang
