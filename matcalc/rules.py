"""Rule sets: the differentiation and simplification identities of rules/*.yaml, validated.

Sections a rules file may hold (rules/README.md documents every key):

- ``functions``: the language (see :mod:`matcalc.language`);
- ``adjoints``: how a cotangent flows from an operator's result to one of its operands
  (reverse mode, numerator layout read off at the end);
- ``elementwise``: the scalar derivative of an elementwise function;
- ``derivatives``: whole-expression identities (the seed's table, the Matrix Cookbook) that
  ``check-rules`` proves and the tests hold the engine's answers to (not used as shortcuts);
- ``identities``: simplification rewrites; ``identify``: the rewrites that bring a linear form
  in the cotangent to ``K*vec(C)`` so the Jacobian K can be read off.

Every pattern and result is parsed by the grammar with shapes the rule implies, so a rule
whose result cannot have its pattern's shape, or uses a name its pattern does not bind, is
rejected when loaded, naming file, line and rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from matcalc import expr as E
from matcalc.errors import MatcalcError, RuleFileError, ShapeError
from matcalc.language import FUNCTION_KEYS, Language, builtin_language
from matcalc.rulefile import Record, read_records

CONDITIONS = {"scalar", "nonscalar", "vector", "row", "matrix", "square", "number", "constant",
              "depends", "symmetric", "cotangent", "free", "linear", "nonzero-number",
              "negative", "integer"}
COMMON = {"name", "source", "priority", "example", "where", "doc", "domain"}
SECTIONS = {
    "functions": ({"name", "signature"}, FUNCTION_KEYS),
    "adjoints": ({"name", "of", "wrt", "result"}, COMMON | {"of", "wrt", "result"}),
    "elementwise": ({"name", "function", "derivative"},
                    COMMON | {"function", "derivative", "subgradient"}),
    "derivatives": ({"name", "of", "wrt", "derivative"}, COMMON | {"of", "wrt", "derivative"}),
    "identities": ({"name", "from", "to"}, COMMON | {"from", "to"}),
    "identify": ({"name", "from", "to"}, COMMON | {"from", "to"}),
}
RESERVED = {"Y": "the cotangent of the result", "C": "the cotangent symbol"}


@dataclass(frozen=True)
class Rule:
    """One rewrite or derivative rule, parsed."""

    name: str
    kind: str                   # the section it came from
    pattern: E.Expr
    result: E.Expr | None       # None: an adjoint through which no gradient flows
    where: dict                 # metavariable -> frozenset of conditions
    wrt: str | None
    where_text: str             # file:line
    source: str
    priority: int
    subgradient: str = ""
    variables: dict = field(default_factory=dict)   # template variables by name
    domain: dict = field(default_factory=dict)      # name -> spd | positive | invertible

    def describe(self) -> str:
        return f"{self.name} ({self.where_text})"


def _kind_for(conds: frozenset):
    """What a rule's name is (for parsing the rule), from its conditions."""
    if conds & {"scalar", "number", "nonzero-number", "negative", "integer"}:
        return 0
    if "vector" in conds:
        return 1
    if "row" in conds:
        return "row"
    if conds & {"square", "symmetric"}:
        return "square"
    if "matrix" in conds:
        return 2
    return None


def _where(rec: Record) -> dict:
    raw = rec.fields.get("where", {}) or {}
    if not isinstance(raw, dict):
        raise rec.error("where maps a name to a condition or a list of them", "where")
    out = {}
    for name, conds in raw.items():
        items = [conds] if isinstance(conds, str) else conds
        if not isinstance(items, list) or any(c not in CONDITIONS for c in items):
            raise rec.error(f"unknown condition {conds!r} for {name}; known: "
                            f"{', '.join(sorted(CONDITIONS))}", "where")
        out[str(name)] = frozenset(items)
    return out


def _parse(rec: Record, key: str, lang: Language, shapes: dict, props: dict,
           kinds: dict | None = None, text: str | None = None) -> E.Expr:
    """Parse the text of field ``key`` (or ``text``); errors name the file, rule and field."""
    from matcalc.parse import parse
    text = rec.fields[key] if text is None else text
    if not isinstance(text, str):
        raise rec.error(f"expected an expression as text, got {text!r}", key)
    try:
        return parse(text, shapes=shapes, assume=props, language=lang, kinds=kinds)
    except MatcalcError as exc:
        raise rec.error(f"{str(exc).splitlines()[0]}", key) from None


def _compile(rec: Record, lang: Language) -> Rule:
    where = _where(rec)
    kinds = {n: k for n, c in where.items() if (k := _kind_for(c)) is not None}
    props = {n: "symmetric" for n, c in where.items() if "symmetric" in c}
    section = rec.section
    if section == "elementwise":
        fname = rec.fields["function"]
        if lang.get(str(fname)) is None or lang.get(str(fname)).signature != "elementwise":
            raise rec.error(f"{fname!r} is not an elementwise function of the language",
                            "function")
        pattern = _parse(rec, "function", lang, {"u": ()}, {}, text=f"{fname}(u)")
        result = _parse(rec, "derivative", lang, {"u": ()}, {})
        if result.shape:
            raise rec.error("the derivative of an elementwise function is a scalar expression "
                            "of the scalar u", "derivative")
        return Rule(rec.name, section, pattern, result, where, "u", rec.where,
                    str(rec.fields.get("source", "")), int(rec.fields.get("priority", 0)),
                    str(rec.fields.get("subgradient", "")), {"u": pattern.args[0]})
    key_from = {"adjoints": "of", "derivatives": "of"}.get(section, "from")
    key_to = {"adjoints": "result", "derivatives": "derivative"}.get(section, "to")
    pattern = _parse(rec, key_from, lang, {}, props, kinds)
    variables = pattern.variables()
    stray = sorted(set(where) - set(variables))
    if stray:                           # a typo would silently drop (or change) a condition
        raise rec.error(f"where names {', '.join(stray)}, which the pattern "
                        f"{rec.fields[key_from]!r} does not have", "where")
    wrt = rec.fields.get("wrt")
    if section in ("adjoints", "derivatives"):
        if wrt not in variables:
            raise rec.error(f"wrt {wrt!r} is not a name in the pattern {rec.fields[key_from]!r}",
                            "wrt")
    if section == "adjoints":
        if not pattern.args or any(a.op != "var" for a in pattern.args) or \
                len({a.value for a in pattern.args}) != len(pattern.args):
            raise rec.error("an adjoint's pattern is one operator applied to distinct names, "
                            "like A*B or tr(X)", key_from)
    if rec.fields[key_to] is None or rec.fields[key_to] == "none":
        if section != "adjoints":
            raise rec.error("only an adjoint may say 'none' (no gradient flows)", key_to)
        return Rule(rec.name, section, pattern, None, where, wrt, rec.where,
                    str(rec.fields.get("source", "")), int(rec.fields.get("priority", 0)), "",
                    dict(variables), _domain(rec))
    joint = {n: _kind_of(v.shape) for n, v in variables.items()}
    joint.update(kinds)
    if section == "adjoints":
        joint["Y"] = _kind_of(pattern.shape)
        text = f"<<Y, {rec.fields[key_from]}>, <{wrt}, {rec.fields[key_to]}>>"
    elif section in ("identities", "identify"):
        text = f"<{rec.fields[key_from]}, {rec.fields[key_to]}>"
    else:
        text = None
    if not isinstance(rec.fields[key_to], str):
        raise rec.error(f"expected an expression as text, got {rec.fields[key_to]!r}", key_to)
    if text is None:
        result = _parse(rec, key_to, lang, {n: v.shape for n, v in variables.items()}, props)
    else:
        # the result is parsed together with the pattern, so that constants such as eye take
        # their sizes from it and a result that cannot have the pattern's shape is refused
        from matcalc.parse import parse
        try:
            both = parse(text, assume=props, language=lang, kinds=joint)
        except MatcalcError as exc:
            # the joint text wraps both fields in <..., ...>, so an error that is not about
            # shapes (a syntax error, an unknown function) is reported for the field alone,
            # or it would speak of brackets the user never wrote
            if not isinstance(exc, ShapeError):
                _parse(rec, key_to, lang, {}, props, joint)
            raise rec.error(f"the result cannot have the shape the pattern gives it: "
                            f"{str(exc).splitlines()[0]}", key_to) from None
        result = both.args[1].args[1] if section == "adjoints" else both.args[1]
        pattern = both.args[0].args[1] if section == "adjoints" else both.args[0]
        variables = pattern.variables()
    allowed = set(variables) | ({"Y"} if section == "adjoints" else set())
    unbound = sorted(set(result.variables()) - allowed)
    if unbound:
        raise rec.error(f"result uses unbound {', '.join(unbound)}", key_to)
    want = {"adjoints": variables[wrt].shape if wrt in variables else None,
            "identities": pattern.shape, "identify": pattern.shape}.get(section)
    if section == "derivatives":
        want = derivative_shape(pattern.shape, variables[wrt].shape)
        result = _fit_constants(result, want, variables, lang)
    if want is not None and result.shape != want:
        from matcalc.shapes import format_shape
        raise rec.error(f"the result is {format_shape(result.shape)} but should be "
                        f"{format_shape(want)}", key_to)
    tvars = dict(variables)
    tvars.update(result.variables())
    if section == "adjoints":
        tvars["Y"] = E.var("Y", pattern.shape)
    return Rule(rec.name, section, pattern, result, where, wrt, rec.where,
                str(rec.fields.get("source", "")), int(rec.fields.get("priority", 0)), "",
                tvars, _domain(rec))


DOMAINS = ("spd", "positive", "invertible")


def _domain(rec: Record) -> dict:
    raw = rec.fields.get("domain", {}) or {}
    if not isinstance(raw, dict) or any(v not in DOMAINS for v in raw.values()):
        raise rec.error(f"domain maps a name to one of {', '.join(DOMAINS)}, got {raw!r}",
                        "domain")
    return {str(k): str(v) for k, v in raw.items()}


def _fit_constants(result: E.Expr, want, variables, lang) -> E.Expr:
    """Give constants such as eye in a derivative the sizes the derivative must have."""
    if want is None or result.shape == want or len(result.shape) != len(want):
        return result
    from matcalc.pattern import instantiate
    used = {d for v in variables.values() for d in v.shape}
    dims = {}
    for r, w in zip(result.shape, want):
        left, right = str(r).split("*"), str(w).split("*")
        for f in list(left):
            if f in right:
                left.remove(f)
                right.remove(f)
        if len(left) == 1 and len(right) == 1 and left[0] not in used and not left[0].isdigit():
            dims[left[0]] = int(right[0]) if right[0].isdigit() else right[0]
    try:
        return instantiate(result, {n: v for n, v in result.variables().items()}, dims, lang)
    except MatcalcError:
        return result


def _kind_of(shape: tuple):
    if len(shape) == 2 and shape[0] == 1:
        return "row"
    return len(shape)


def derivative_shape(f_shape: tuple, x_shape: tuple) -> tuple | None:
    """Numerator layout: the shape of ∂f/∂x, or None where it is a vec-Jacobian."""
    from matcalc.shapes import product_dim
    if not x_shape:
        return f_shape
    if not f_shape:
        return (1, x_shape[0]) if len(x_shape) == 1 else (x_shape[1], x_shape[0])
    rows = f_shape[0] if len(f_shape) == 1 else (
        f_shape[1] if f_shape[0] == 1 else product_dim(list(f_shape)))
    cols = x_shape[0] if len(x_shape) == 1 else product_dim(list(x_shape))
    from matcalc.shapes import normalise
    return normalise(rows, cols)


class RuleSet:
    """A language and its rules.  Immutable; :meth:`extended` makes a new one."""

    def __init__(self, lang: Language, rules: list[Rule]):
        self.language = lang
        self.rules = rules
        by_name: dict[str, Rule] = {}
        for r in rules:
            if r.name in by_name:
                raise RuleFileError(f"{r.where_text} rule '{r.name}': the name is already used "
                                    f"at {by_name[r.name].where_text}")
            by_name[r.name] = r
        self.by_name = by_name
        order = sorted(rules, key=lambda r: (-r.priority, r.name))
        self.adjoints: dict[str, list[Rule]] = {}
        self.derivatives: dict[str, list[Rule]] = {}
        self.elementwise: dict[str, Rule] = {}
        self.identities: list[Rule] = []
        self.identify: list[Rule] = []
        for r in order:
            if r.kind == "adjoints":
                self.adjoints.setdefault(r.pattern.op, []).append(r)
            elif r.kind == "derivatives":
                self.derivatives.setdefault(r.pattern.op, []).append(r)
            elif r.kind == "elementwise":
                self.elementwise[r.pattern.op] = r
            elif r.kind == "identities":
                self.identities.append(r)
            else:
                self.identify.append(r)
        # what the identify step applies: the identities, then the identify rules
        self.identify_all: list[Rule] = self.identities + self.identify

    def extended(self, paths) -> "RuleSet":
        """This rule set plus the records of more rule files (a user's own)."""
        records = []
        for path in paths:
            records.extend(read_records(Path(path), SECTIONS))
        lang = self.language.extended([r for r in records if r.section == "functions"])
        rules = list(self.rules) + [_compile(r, lang) for r in records
                                    if r.section != "functions"]
        return RuleSet(lang, rules)


@lru_cache(maxsize=None)
def builtin_rules() -> RuleSet:
    """The rules shipped in rules/ (language, derivatives, simplification)."""
    from matcalc import cache
    return cache.cached("builtin-rules", cache.builtin_files(), _build_builtin_rules)


def _build_builtin_rules() -> RuleSet:
    from matcalc.resources import rules_dir
    lang = builtin_language()
    records: list[Record] = []
    for sub in ("derivatives", "simplify"):
        for path in sorted((rules_dir() / sub).glob("*.yaml")):
            records.extend(read_records(path, SECTIONS))
    return RuleSet(lang, [_compile(r, lang) for r in records])


def load_rules(*paths) -> RuleSet:
    """The built-in rules extended by the given files; the built-in set is not changed."""
    import os
    import zlib

    from matcalc import cache
    if not all(isinstance(p, (str, os.PathLike)) for p in paths):
        return builtin_rules().extended(paths)
    files = [Path(p) for p in paths]
    # one cache entry per list of files; messages name them relative to the working folder
    name = "user-rules-%08x" % zlib.crc32("\0".join(str(p.resolve()) for p in files).encode())
    return cache.cached(name, cache.builtin_files() + files,
                        lambda: builtin_rules().extended(paths), extra=os.getcwd())
