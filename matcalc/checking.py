"""Prove rules with numbers: ``matcalc check-rules``.

Every rule is instantiated at random sizes (2..6 for each dimension name, so non-square where
the rule allows) and random values honouring domains (positive, invertible, symmetric positive
definite), and its symbolic side is compared with matcalc.autograd backprop and with central
differences:

- ``derivatives``: the stated derivative against the backprop Jacobian (numerator layout);
- ``adjoints``: the cotangent the rule gives against the VJP of the pattern;
- ``elementwise``: f'(u) against the derivative of f;
- ``identities`` and ``identify``: both sides must have the same value;
- a language record declaring ``involution: true``: f(f(A)) must equal A;
- a language record declaring ``unit``: A*U and U*A must equal A wherever U fits.

A failure names the rule, its file and line, and a counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from matcalc import expr as E
from matcalc.errors import MatcalcError
from matcalc.numeric import evaluate, numeric_jacobian, numeric_vjp
from matcalc.rules import Rule, RuleSet
from matcalc.shapes import eval_dim

RTOL, ATOL = 1e-6, 1e-8
FD_RTOL, FD_ATOL = 1e-4, 1e-5
_POSITIVE_FUNCTIONS = {"positive"}
_SPD_FUNCTIONS = {"invertible", "positive-determinant"}


@dataclass
class Failure:
    rule: Rule
    message: str

    def __str__(self) -> str:
        return f"{self.rule.where_text} rule '{self.rule.name}': {self.message}"


def _domains(rule: Rule, lang) -> dict[str, str]:
    """Where values must come from: the rule's own domain, then the functions' domains."""
    out = dict(rule.domain)
    for root in (rule.pattern, rule.result):
        if root is None:
            continue
        for node in root.walk():
            spec = lang.get(node.op)
            if spec is None or spec.domain is None:
                continue
            for arg in node.args:
                target = arg.args[0] if arg.op == "transpose" and arg.args else arg
                if target.op == "var" and target.value not in out:
                    if spec.domain in _POSITIVE_FUNCTIONS:
                        out[target.value] = "positive"
                    elif spec.domain in _SPD_FUNCTIONS:
                        out[target.value] = "spd"
                elif spec.domain in _SPD_FUNCTIONS:          # inv(X + A): all matrices SPD
                    for v in arg.variables().values():
                        if len(v.shape) == 2:
                            out.setdefault(v.value, "spd")
    return out


def draw_sizes(exprs, rng, sizes: dict | None = None, low: int = 2, high: int = 7) -> dict:
    """A random size for every dimension name in ``exprs`` (kept where ``sizes`` has one)."""
    sizes = {} if sizes is None else sizes
    for root in exprs:
        for node in root.walk():
            for d in node.shape:
                for part in str(d).split("*"):
                    if not part.isdigit() and part not in sizes:
                        sizes[part] = int(rng.integers(low, high))
    return sizes


def random_values(variables: dict[str, E.Expr], domains: dict, rng, sizes=None) -> dict:
    """Random values for ``variables``; ``sizes`` (filled in) maps dimension names to sizes."""
    sizes = {} if sizes is None else sizes
    values = {}
    for name, var in variables.items():
        dims = []
        for d in var.shape:
            if isinstance(d, str):
                for part in d.split("*"):
                    if not part.isdigit() and part not in sizes:
                        sizes[part] = int(rng.integers(2, 7))
            dims.append(eval_dim(d, sizes))
        value = rng.standard_normal(dims)
        kind = domains.get(name)
        square = len(dims) == 2 and dims[0] == dims[1]
        if kind in ("spd", "invertible") and square:
            value = value @ value.T + dims[0] * np.eye(dims[0])
        elif kind == "positive":
            value = np.abs(value) + 0.5
            if square and "symmetric" in var.props:      # positive and still symmetric
                value = (value + value.T) / 2
        elif square and "symmetric" in var.props:
            value = value + value.T
        if square and "diagonal" in var.props:           # what the assumption says
            value = np.diag(np.diag(value))
        values[name] = value if dims else float(value)
    return values


class _NotFinite(Exception):
    """The values drawn gave NaN or inf (a power of a negative base, say): draw again."""


def _close(a, b, rtol, atol) -> float | None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size != b.size:
        return float("inf")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise _NotFinite
    a, b = a.reshape(-1), b.reshape(-1)
    err = np.abs(a - b)
    bad = err > atol + rtol * np.abs(b)
    return float(err.max()) if bad.any() else None


def _describe(values: dict) -> str:
    parts = []
    for k, v in values.items():
        arr = np.asarray(v)
        text = np.array2string(arr, precision=3, separator=", ", max_line_width=10**6)
        parts.append(f"{k} = {' '.join(text.split())}"
                     if arr.size <= 9 else f"{k}: shape {arr.shape}")
    return "; ".join(parts)


def _central(f, x, eps=1e-6):
    """Central differences of a scalar function of an array: the gradient, shaped like x."""
    x = np.asarray(x, dtype=float)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = f(x.copy())
        flat[i] = old - eps
        lo = f(x.copy())
        flat[i] = old
        gflat[i] = (hi - lo) / (2 * eps)
    return g


def kind_variants(rule: Rule, lang) -> list[Rule]:
    """The rule, and the same identity typed with every other kind (scalar, vector, matrix)
    its ``where`` allows for each name: matching does not look at shapes, so an identity
    must hold for every kind it can match (row vectors included)."""
    if rule.kind not in ("identities", "identify") or rule.result is None:
        return [rule]
    from itertools import product

    from matcalc.parse import parse
    from matcalc.rules import _kind_for
    names = sorted(rule.pattern.variables())
    fixed = {n: k for n in names if (k := _kind_for(rule.where.get(n, frozenset()))) is not None}
    free = [n for n in names if n not in fixed][:3]
    options = [[k for k in (0, 1, 2, "row") if k or "nonscalar" not in rule.where.get(n, ())]
               for n in free]
    props = {n: "symmetric" for n, c in rule.where.items() if "symmetric" in c}
    text = f"<{rule.pattern}, {rule.result}>"
    out, seen = [rule], {(rule.pattern, rule.result)}
    for combo in product(*options):
        try:
            both = parse(text, assume=props, language=lang, kinds={**fixed, **dict(zip(free, combo))})
        except MatcalcError:
            continue                                    # that kind cannot occur here
        pattern, result = both.args
        if (pattern, result) not in seen:
            seen.add((pattern, result))
            out.append(replace(rule, pattern=pattern, result=result))
    return out


def check_rule(rule: Rule, rules: RuleSet, rng, tries: int = 3) -> Failure | None:
    """Check a rule, typed with every kind it can match."""
    for variant in kind_variants(rule, rules.language):
        failure = _check_variant(variant, rules, rng, tries)
        if failure is not None:
            return failure
    return None


def _check_variant(rule: Rule, rules: RuleSet, rng, tries: int) -> Failure | None:
    lang = rules.language
    domains = _domains(rule, lang)
    checked = 0
    for attempt in range(4 * tries):
        if attempt == 2 * tries and checked < tries:   # keep drawing, from positive values
            domains = {**{n: "positive" for n in _names(rule)}, **domains}
        try:
            with np.errstate(all="ignore"):
                failure = _check_once(rule, lang, domains, rng)
        except _NotFinite:
            continue
        except MatcalcError as exc:
            return Failure(rule, f"could not be evaluated: {str(exc).splitlines()[0]}")
        if failure:
            return Failure(rule, failure)
        checked += 1
        if checked == tries:
            return None
    if checked:
        return None
    return Failure(rule, "every value drawn gave NaN or inf, so it could not be checked")


def _names(rule: Rule) -> set[str]:
    names = set(rule.pattern.variables())
    return names | set(rule.result.variables()) if rule.result is not None else names


def _whole_numbers(rule: Rule, values: dict, rng) -> dict:
    """The values with a whole number (±1 to ±3) for each name the rule says is an integer."""
    for name, conds in rule.where.items():
        if "integer" in conds and name in values:
            values[name] = float(rng.choice([-3, -2, -1, 1, 2, 3]))
    return values


def _check_once(rule: Rule, lang, domains, rng) -> str | None:
    kind = rule.kind
    sizes = draw_sizes([r for r in (rule.pattern, rule.result) if r is not None], rng)
    if kind in ("identities", "identify"):
        values = _whole_numbers(rule, random_values(rule.pattern.variables(), domains, rng,
                                                    sizes), rng)
        left = evaluate(rule.pattern, values, language=lang, dims=sizes)
        right = evaluate(rule.result, _only(values, rule.result), language=lang, dims=sizes)
        err = _close(right, left, RTOL, ATOL)
        if err is not None:
            return f"{rule.pattern} ≠ {rule.result}: they differ by {err:.3g} at {_describe(values)}"
        return None
    if kind == "derivatives":
        values = _whole_numbers(rule, random_values(rule.pattern.variables(), domains, rng,
                                                    sizes), rng)
        got = evaluate(rule.result, _only(values, rule.result), language=lang, dims=sizes)
        want = numeric_jacobian(rule.pattern, rule.wrt, values, language=lang)
        err = _close(got, want, RTOL, ATOL)
        if err is not None:
            return (f"d/d{rule.wrt} {rule.pattern} is not {rule.result}: it differs from "
                    f"backprop by {err:.3g} at {_describe(values)}")
        return None
    if kind == "elementwise":
        u = E.var("u", ("n",))
        f = E.make(rule.pattern.op, (u,), ("n",))
        spec = lang.get(rule.pattern.op)
        values = random_values({"u": u}, {"u": "positive"} if spec.domain else {}, rng)
        y = rng.standard_normal(np.shape(values["u"]))
        want = numeric_vjp(f, "u", values, y, language=lang)
        from matcalc.pattern import instantiate_entrywise
        deriv = instantiate_entrywise(rule.result, {"u": u}, lang)
        got = np.asarray(evaluate(deriv, values, language=lang)) * y \
            if deriv.variables() else rule.result.value * y
        err = _close(got, want, RTOL, ATOL)
        if err is not None:
            return f"{rule.pattern.op}'(u) is not {rule.result}: off by {err:.3g} at {_describe(values)}"
        return None
    # adjoints: the cotangent against the VJP of the pattern
    variables = dict(rule.pattern.variables())
    values = _whole_numbers(rule, random_values(variables, domains, rng, sizes), rng)
    out = evaluate(rule.pattern, values, language=lang)
    ybar = rng.standard_normal(np.shape(out)) if np.ndim(out) else float(rng.standard_normal())
    env = dict(values, Y=ybar)
    if rule.result is None:                                 # "no gradient": the VJP is zero
        got = np.zeros(np.shape(values[rule.wrt]))
    else:
        got = evaluate(rule.result, _only(env, rule.result), language=lang, dims=sizes)
    want = numeric_vjp(rule.pattern, rule.wrt, values, ybar, language=lang)
    err = _close(got, want, RTOL, ATOL)
    if err is not None:
        return (f"the cotangent of {rule.wrt} in {rule.pattern} is not {rule.result}: it "
                f"differs from backprop by {err:.3g} at {_describe(env)}")

    def scalar(x):
        return float(np.sum(np.asarray(evaluate(rule.pattern, dict(values, **{rule.wrt: x}),
                                                language=lang)) * ybar))
    fd = _central(scalar, values[rule.wrt])
    err = _close(got, fd, FD_RTOL, FD_ATOL)
    if err is not None:
        return (f"the cotangent of {rule.wrt} in {rule.pattern} is not {rule.result}: it "
                f"differs from central differences by {err:.3g} at {_describe(env)}")
    return None


@dataclass
class Declared:
    """A property a language record declares (``involution``): checked like a rule."""

    name: str
    where_text: str


def _operand_shapes(spec) -> list[tuple]:
    """Operand shapes a one-operand function takes, with dimension names (m ≠ n)."""
    if spec.signature == "transpose":
        return [("m", "n"), ("n",), (1, "n"), ()]
    if spec.signature == "elementwise":
        return [("m", "n"), ("n",), ()]
    return [tuple(d if not d.isdigit() else int(d) for d in o.inputs[0])
            for o in spec.overloads]


def check_involution(spec, lang, rng, tries: int = 3) -> Failure | None:
    """f(f(a)) against a, for every operand shape f takes, on random values."""
    from matcalc.build import shape_of
    subject = Declared(spec.name, spec.where)
    claim = "declared an involution (f(f(A)) = A), but"
    domain = {"A": "positive" if spec.domain in _POSITIVE_FUNCTIONS else
              "spd" if spec.domain in _SPD_FUNCTIONS else None}
    for shape in _operand_shapes(spec):
        a = E.var("A", shape)
        try:
            once = E.make(spec.name, (a,), shape_of(spec.name, (a,), lang))
            twice = E.make(spec.name, (once,), shape_of(spec.name, (once,), lang))
        except MatcalcError as exc:
            return Failure(subject, f"{claim} {spec.name}({spec.name}(A)) is not defined for "
                                    f"A of shape {a.shape_text}: {exc}")
        if twice.shape != a.shape:
            return Failure(subject, f"{claim} {spec.name}({spec.name}(A)) is "
                                    f"{twice.shape_text}, A is {a.shape_text}")
        for _ in range(tries):
            values = random_values({"A": a}, domain, rng)
            try:
                err = _close(evaluate(twice, values, language=lang), values["A"], RTOL, ATOL)
            except _NotFinite:
                continue
            if err is not None:
                return Failure(subject, f"{claim} {spec.name}({spec.name}(A)) differs from A "
                                        f"by {err:.3g} at {_describe(values)}")
    return None


def check_unit(spec, lang, rng, tries: int = 3) -> Failure | None:
    """op(A, U) and op(U, A) against A for each declared unit U of an associative operator,
    for every operand shape A where the unit fits and the product keeps A's shape."""
    from matcalc.build import shape_of
    subject = Declared(spec.name, spec.where)
    for name, params in spec.unit:
        number = name == "const"
        shown = f"{params:g}" if number else name if params is None else f"{name}({params[0]:g})"
        claim = f"declares {shown} a unit ({spec.name} with it leaves A as it is), but"
        const = None if number else lang.get(name)
        if not number and (const is None or not const.overloads or const.overloads[0].inputs):
            return Failure(subject, f"{claim} {name} is not a constant of the language")
        letters = () if number else const.overloads[0].output
        fitted = 0
        for shape in (("m", "n"), ("n",), ()):
            a = E.var("A", shape)
            for size in {*((d, d) for d in shape), shape}:
                if len(size) != len(letters) or (len(size) == 2 and letters[0] == letters[1]
                                                 and size[0] != size[1]) or (size and number) \
                        or (not size and not number):
                    continue
                unit = E.const(params) if number else E.make(name, (), size, params)
                for args in ((a, unit), (unit, a)):
                    try:
                        if shape_of(spec.name, args, lang) != shape:
                            continue
                    except MatcalcError:
                        continue
                    fitted += 1
                    both = E.make(spec.name, args, shape)
                    for _ in range(tries):
                        values = random_values({"A": a}, {}, rng)
                        try:
                            err = _close(evaluate(both, values, language=lang), values["A"],
                                         RTOL, ATOL)
                        except _NotFinite:
                            continue
                        if err is not None:
                            return Failure(subject, f"{claim} {both} differs from A by "
                                                    f"{err:.3g} at {_describe(values)}")
        if not fitted:
            return Failure(subject, f"{claim} {shown} fits no operand of {spec.name} "
                                    "without changing its shape")
    return None


def _only(values: dict, expr: E.Expr) -> dict:
    names = expr.variables()
    return {k: v for k, v in values.items() if k in names}


def check_rules(rules: RuleSet, only_files: set[str] | None = None, seed: int = 0,
                tries: int = 3) -> tuple[int, list[Failure]]:
    """Check every rule (or those of ``only_files``); the count checked and the failures."""
    from pathlib import Path

    from matcalc.rulefile import display_path
    if only_files is not None:
        only_files = {display_path(Path(f)) for f in only_files}
    rng = np.random.default_rng(seed)
    failures = []
    count = 0
    def place(r):
        file, _, line = r.where_text.rpartition(":")
        return file, int(line) if line.isdigit() else 0
    for rule in sorted(rules.rules, key=place):
        if only_files is not None and rule.where_text.rsplit(":", 1)[0] not in only_files:
            continue
        count += 1
        failure = check_rule(rule, rules, rng, tries)
        if failure:
            failures.append(failure)
    for declared, check in (("involution", check_involution), ("unit", check_unit)):
        for spec in rules.language.functions.values():
            if not getattr(spec, declared) or (
                    only_files is not None and spec.where.rsplit(":", 1)[0] not in only_files):
                continue
            count += 1
            failure = check(spec, rules.language, rng, tries)
            if failure:
                failures.append(failure)
    return count, failures
