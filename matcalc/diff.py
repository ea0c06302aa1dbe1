"""Differentiate in numerator layout: symbolic reverse mode over rules/derivatives, then read off.

1. Seed: a scalar expression starts with cotangent 1; a vector or matrix expression with a
   symbol C shaped like it (a row vector is differentiated as its transpose).
2. Reverse pass over the DAG (each node once, parents first): the ``adjoints`` rules say
   how a node's cotangent reaches each operand that depends on the variable; elementwise
   functions use their scalar derivative from ``elementwise`` records.
3. Read off (DESIGN.md's table): for a scalar expression the cotangent G of the variable is
   the gradient and the derivative is G (scalar variable) or Gᵀ; otherwise G is linear in C
   and the ``identify`` rewrites bring it to K*vec(C) (K*C, or ⟨V, C⟩ for a scalar
   variable), so the derivative is Kᵀ (or V).
4. Simplify with rules/simplify.  Every rule that fired is in the trace (``explain``).

No rule for an operand → an error that names the subexpression and how to add a rule; the
engine never returns a partial answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matcalc import adjoints
from matcalc import expr as E
from matcalc.build import build, filled
from matcalc.errors import MatcalcError, ShapeError
from matcalc.parse import parse
from matcalc.pattern import dim_map, instantiate, instantiate_entrywise
from matcalc.printing import brief, brief_names
from matcalc.rules import RuleSet, derivative_shape, builtin_rules
from matcalc.simplify import Simplifier, Step, Trace, negative

# The structural operators the read-off step itself builds and recognises (as STYLE.md
# allows for the printer and the numeric table): their meaning is in rules/language.
SUM, NEG, PRODUCT, TRANSPOSE, HADAMARD, INNER, VEC, UNVEC = (
    "add", "neg", "mul", "transpose", "hadamard", "inner", "vec", "unvec")
COTANGENT = "cotangent"


class NoRuleError(MatcalcError):
    """No rule tells how to differentiate a subexpression."""


@dataclass
class Derivation:
    """An answer and how it was reached."""

    expr: E.Expr
    wrt: E.Expr
    result: E.Expr
    trace: Trace
    # the simplifier of a scalar expression's derivation (no cotangent): grad reuses its memo
    simplifier: "Simplifier | None" = field(default=None, repr=False, compare=False)
    hessian: bool = False           # the result is the Hessian (derive_hessian)

    def gradient(self, rules: RuleSet | None = None) -> E.Expr:
        """The gradient (shaped like the variable) of this derivation's scalar expression,
        as :func:`grad` gives it; its transpose adds simplifier steps to the trace."""
        return _grad(self, rules)

    @property
    def unfinished(self) -> list[str]:
        """Why simplification stopped before its fixpoint (a limit, a cycle between rules),
        each reason once: the answer is right but may not be in its simplest form."""
        return list(dict.fromkeys(s for s in self.trace.stopped if s != "simplify: fixpoint"))

    @property
    def steps(self) -> list[Step]:
        return self.trace.steps


# how deep _looked_up goes operand by operand before a walk takes over (no recursion limit)
_LOOKUP_DEPTH = 32


def _contains(root: E.Expr, target: E.Expr, memo: dict) -> bool:
    """Whether ``target`` occurs in ``root``, memoized in ``memo`` for every node looked at."""
    found = memo.get(root)
    if found is not None:
        return found
    return _looked_up(root, target, memo, 0)


def _looked_up(root: E.Expr, target: E.Expr, memo: dict, depth: int) -> bool:
    """:func:`_contains` of a node not in ``memo``: its operands last first (identify moves
    the cotangent right), each looked up the same way, to a depth past which a walk of
    what is left takes over (no recursion limit)."""
    if root is target:
        memo[root] = True
        return True
    get = memo.get
    for a in reversed(root.args):
        v = get(a)
        if v is None:
            if depth > _LOOKUP_DEPTH:
                for node in root.walk(memo):    # children first, never below a known node
                    memo[node] = node is target or any(map(memo.__getitem__, node.args))
                return memo[root]
            v = _looked_up(a, target, memo, depth + 1)
        if v:
            memo[root] = True
            return True
    memo[root] = False
    return False


class _Engine:
    def __init__(self, rules: RuleSet, wrt: E.Expr, cot: E.Expr | None, trace: Trace):
        self.rules = rules
        self.lang = rules.language
        self.wrt = wrt
        self.cot = cot
        self.trace = trace
        self._dep: dict = {}
        self._lin: dict = {}
        self.holding = self._lin        # which nodes hold the cotangent: read-off asks too
        self.checks: dict = {}          # where-checks by rule name, for self.condition
        self.run_cache: dict = {}       # per-run arrays of the where-checks (pattern.py)
        # the conditions on what a node contains: (memo, target, whether it must contain it)
        self._contain = {"linear": (self._lin, cot, True), "free": (self._lin, cot, False),
                         "depends": (self._dep, wrt, True), "constant": (self._dep, wrt, False)}

    # ---------------------------------------------------------------- conditions
    def depends(self, e: E.Expr) -> bool:
        return _contains(e, self.wrt, self._dep)

    def linear(self, e: E.Expr) -> bool:
        return self.cot is not None and _contains(e, self.cot, self._lin)

    def holds_each(self, c: str, items: tuple) -> list | None:
        """``[condition(c, item) for item in items]`` for the conditions on what a node
        contains, read from their memos in one C-level pass when every item is known (a long
        product's factors are, after the first time); None for the others."""
        found = self._contain.get(c)
        if found is None:
            return None
        memo, target, want = found
        if target is None:                         # no cotangent: nothing is linear
            return [not want] * len(items)
        got = list(map(memo.get, items))
        if None in got:
            got = [v if v is not None else _contains(e, target, memo)
                   for v, e in zip(got, items)]
        return got if want else [not v for v in got]

    def condition(self, c: str, e: E.Expr) -> bool:
        found = self._contain.get(c)
        if found is not None:               # the most asked, and the dearest
            memo, target, want = found
            if target is None:
                return not want
            got = memo.get(e)
            return want == (got if got is not None else _contains(e, target, memo))
        s = e.shape
        if c == "scalar":
            return not s
        if c == "nonscalar":
            return bool(s)
        if c == "vector":
            return len(s) == 1
        if c == "row":
            return len(s) == 2 and s[0] == 1
        if c == "matrix":
            return len(s) == 2 and s[0] != 1
        if c == "square":
            return len(s) == 2 and s[0] == s[1]
        if c == "number":
            return e.op == "const"
        if c == "nonzero-number":
            return e.op == "const" and e.value != 0
        if c == "integer":
            return e.op == "const" and float(e.value).is_integer()
        if c == "negative":
            return e.op == "const" and e.value < 0
        if c == "symmetric":
            return "symmetric" in e.props or (e.op == "eye")
        if c == "cotangent":
            return self.cot is not None and e is self.cot
        raise MatcalcError(f"unknown condition {c!r}")

    # ---------------------------------------------------------------- reverse pass
    def backprop(self, root: E.Expr, seed: E.Expr) -> E.Expr | None:
        order = root.walk()
        dep, wrt, cot, lin = self._dep, self.wrt, self.cot, self._lin
        # children first, in one pass (not a search from each node): whether each node
        # depends on the variable, and whether it holds C (none does, as a rule); what
        # identify and read-off ask is then known at once, as it is for the seed and for
        # what the adjoints build from it (marked where they are built)
        for node in order:
            if node not in dep:
                dep[node] = node is wrt or any(map(dep.__getitem__, node.args))
            if cot is not None and node not in lin:
                lin[node] = node is cot or any(map(lin.__getitem__, node.args))
        if cot is not None:
            self.linear(seed)
        pending: dict[E.Expr, list[E.Expr]] = {root: [seed]}
        result: list[E.Expr] = []
        for node in reversed(order):
            contributions = pending.pop(node, None)
            if not contributions or not dep[node]:
                continue
            if node is self.wrt:
                result.append(contributions[0] if len(contributions) == 1 else
                              build(SUM, contributions, lang=self.lang))
                continue
            # every adjoint is linear in the cotangent: a negation is carried past the node
            # (-C through X*w gives -X'*C), not built into each operand's cotangent for the
            # simplifier to pull out again, rewrite by rewrite
            negated = all(map(negative, contributions))
            if negated:
                contributions = [c.args[0] if c.op == NEG else E.const(-c.value)
                                 for c in contributions]
            if len(contributions) == 1:
                y = contributions[0]
            else:
                y = build(SUM, contributions, lang=self.lang)
                if any(map(lin.get, contributions)):
                    lin[y] = True
            for arg, cot in self.operand_cotangents(node, y, negated):
                if cot is not None:
                    pending.setdefault(arg, []).append(
                        build(NEG, (cot,), lang=self.lang) if negated else cot)
        if not result:
            return None
        return result[0] if len(result) == 1 else build(SUM, result, lang=self.lang)

    def operand_cotangents(self, node: E.Expr, y: E.Expr, negated: bool = False):
        """Each operand's cotangent given the node's ``y`` (``negated``: the cotangent in
        flight is -y, which the trace shows)."""
        elementwise = self.rules.elementwise.get(node.op)
        if elementwise is not None:
            yield node.args[0], self.elementwise(elementwise, node, y, negated)
            return
        args = node.args
        if node.op in E.FLATTEN and len(args) > 2 and node.op not in E.PRODUCTS:
            # a sum or entrywise product: halves, then halves of those (a chain of pairs
            # would build every suffix: quadratic in the number of operands)
            yield from self._halves(node, args, y, negated)
            return
        if node.op in E.FLATTEN and len(args) > 2:
            current = y
            for i in range(len(args) - 1):
                left = args[i]
                right = args[i + 1] if i == len(args) - 2 else build(node.op, args[i + 1:],
                                                                       lang=self.lang)
                pair = (left, right)
                if self.depends(left):
                    yield left, self.adjoint(node, 0, current, pair, negated)
                if not self.depends(right):
                    return
                current = self.adjoint(node, 1, current, pair, negated)
                if current is None:
                    return
            yield args[-1], current
            return
        for i, arg in enumerate(args):
            if self.depends(arg):
                yield arg, self.adjoint(node, i, y, negated=negated)

    def _halves(self, node: E.Expr, args: tuple, y: E.Expr, negated: bool,
                nested: bool = False):
        """The operands' cotangents of an associative, commuting ``node`` taken as a pair of
        halves of ``args`` (each half a node of the same operator), recursively.  Inside a
        half, a rule that passes the cotangent on unchanged (a sum's) is not listed again:
        the trace shows it once per node, not once per split (14 lines for 8 terms)."""
        half = len(args) // 2
        parts = (args[:half], args[half:])
        pair = tuple(p[0] if len(p) == 1 else build(node.op, p, lang=self.lang) for p in parts)
        for position, (part, operand) in enumerate(zip(parts, pair)):
            if not self.depends(operand):
                continue
            cot = self.adjoint(node, position, y, pair, negated, listed=not nested)
            if cot is None:
                continue
            if len(part) == 1:
                yield operand, cot
            else:
                yield from self._halves(node, part, cot, negated, nested=True)

    def elementwise(self, rule, node: E.Expr, y: E.Expr, negated: bool = False) -> E.Expr:
        if rule.result.op == "const" and rule.result.value == 0:
            self.trace.steps.append(Step(rule.name, rule.where_text, node, E.const(0.0),
                                         "its derivative is 0: no gradient flows through it"))
            return None
        u = node.args[0]
        dfu = instantiate_entrywise(rule.result, {"u": u}, self.lang) if u.shape else \
            instantiate(rule.result, {"u": u}, {}, self.lang)
        out = build(HADAMARD, (dfu, y), lang=self.lang) if u.shape else \
            build(PRODUCT, (dfu, y), lang=self.lang)
        if self._lin.get(y):
            self._lin[out] = True           # it holds y
        self.trace.steps.append(Step(rule.name, rule.where_text, node,
                                     self._shown(out, negated), rule.subgradient))
        return out

    def _shown(self, out: E.Expr, negated: bool) -> E.Expr:
        """An operand's cotangent as the trace shows it: with the negation carried past."""
        return build(NEG, (out,), lang=self.lang) if negated else out

    def adjoint(self, node: E.Expr, position: int, y: E.Expr, args: tuple | None = None,
                negated: bool = False, listed: bool = True) -> E.Expr | None:
        """The cotangent of operand ``position`` of ``node`` (of ``args``, for a pair taken
        out of an n-ary product) given the node's cotangent ``y``; ``listed`` False: a rule
        that passes ``y`` on unchanged is not put in the trace (it is there once already)."""
        args = node.args if args is None else args
        condition = self.condition
        plans = adjoints.tables(self.rules)[1]
        for rule in adjoints.candidates(self.rules, node.op, position, args, condition):
            names, unsettled, program, holds_y = plans[rule.name]
            if unsettled and not all(condition(c, args[i]) for i, c in unsettled):
                continue
            if rule.result is None:                         # said explicitly: no gradient
                self.trace.steps.append(Step(rule.name, rule.where_text, node,
                                             self._shown(y, negated),
                                             "no gradient flows to this operand"))
                return None
            try:
                if program is not None:
                    out = adjoints.run(program, args, y, self.lang)
                else:
                    env = dict(zip(names, args))
                    env["Y"] = y
                    out = instantiate(rule.result, env, dim_map(rule.variables, env), self.lang)
            except ShapeError as exc:
                raise MatcalcError(f"rule {rule.describe()} built an ill-shaped result "
                                   f"for {brief(node)}: {exc}") from None
            if holds_y and self._lin.get(y):    # what read-off and identify ask of it
                self._lin[out] = True
            if listed or out is not y:
                self.trace.steps.append(Step(rule.name, rule.where_text, node,
                                             self._shown(out, negated)))
            return out
        arg = args[position]
        raise NoRuleError(
            f"no rule differentiates {brief(node)} with respect to its operand {position + 1} "
            f"({brief(arg)}, {arg.shape_text}): add an 'adjoints' record for {node.op!r} to a "
            "rules file (see rules/README.md) and load it with matcalc.load_rules")


def _free_of(answer: E.Expr, cot: E.Expr, f: E.Expr, memo: dict) -> E.Expr:
    """The answer, refused if the cotangent symbol is still in it (a rule left it there);
    ``memo``: what is known to contain it (the engine's, shared by every such question)."""
    if _contains(answer, cot, memo):
        raise NoRuleError(f"cannot identify the derivative of {brief(f)}: the cotangent C is "
                          f"still in {brief(answer)}; an 'identify' rule "
                          "(rules/simplify/90-identify.yaml) must move it out")
    return answer


# ---------------------------------------------------------------- read-off

def _terms(e: E.Expr) -> list[tuple[int, E.Expr]]:
    out = []
    stack = [(1, e)]
    while stack:
        sign, t = stack.pop()
        if t.op == SUM:
            stack.extend((sign, a) for a in reversed(t.args))
        elif t.op == NEG:
            stack.append((-sign, t.args[0]))
        else:
            out.append((sign, t))
    return out


def _coefficient(term: E.Expr, target: E.Expr, lang) -> E.Expr | None:
    """K with term = K*target (target last in a product), or None."""
    if term is target:
        return None
    if term.op == PRODUCT and term.args[-1] is target:
        rest = term.args[:-1]
        return rest[0] if len(rest) == 1 else build(PRODUCT, rest, lang=lang)
    return None


class _ReadOffError(MatcalcError):
    """A term that is not K*target; its text is made only when the error is shown (the
    first read-off is tried on forms that often fail it, some of them huge)."""

    def __init__(self, term: E.Expr):
        super().__init__()
        self.term = term

    def __str__(self) -> str:
        return f"cannot read a Jacobian off the term {brief(self.term)}"


def _read_off(form: E.Expr, target: E.Expr, lang, seen: dict) -> E.Expr | None:
    """K with form = K*target, term by term (``seen``: what is known to hold the cotangent);
    None when every term cancelled; _ReadOffError when a term is not of that form."""
    parts = []
    cot = target.args[0] if target.op == VEC else target
    for sign, term in _terms(form):
        if term is target:
            k = _identity(target, lang)
        else:
            k = _coefficient(term, target, lang)
            if k is None:
                if _is_zero(term, lang) or not _contains(term, cot, seen):
                    continue    # a zero fill, or a term free of C: the form is linear in C,
                                # so such terms add up to zero (a zero fill in a product)
                raise _ReadOffError(term)
        if not k.shape and target.shape:                  # s*C: the Jacobian is s*I
            k = build(PRODUCT, (k, _identity(target, lang)), lang=lang)
        parts.append(k if sign > 0 else build(NEG, (k,), lang=lang))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else build(SUM, parts, lang=lang)


def _is_zero(e: E.Expr, lang) -> bool:
    """0, or a constant fill of zeros (vector(0), matrix(0), transposed)."""
    while e.op == TRANSPOSE:
        e = e.args[0]
    if e.op == "const":
        return e.value == 0
    return not e.args and e.value == (0.0,) and e.op in (lang.fill(1), lang.fill(2))


# ---------------------------------------------------------------- the API

def _as_expr(expr, shapes, assume, rules: RuleSet) -> E.Expr:
    if isinstance(expr, E.Expr):
        return expr
    if isinstance(expr, str):
        return parse(expr, shapes=shapes, assume=assume, language=rules.language)
    raise MatcalcError(f"expected an expression (text or Expr), got {type(expr).__name__}")


def _variable(f: E.Expr, wrt) -> E.Expr:
    if isinstance(wrt, E.Expr):
        if wrt.op != "var":
            raise MatcalcError(f"can differentiate with respect to a variable only, not {wrt}")
        return wrt
    variables = f.variables()
    if wrt not in variables:
        raise MatcalcError(f"{wrt!r} does not occur in {brief(f)} (its variables: "
                           f"{brief_names(variables)}); the "
                           "derivative would be zero")
    return variables[wrt]


def _rule_set(rules) -> RuleSet:
    rules = rules or builtin_rules()
    if not isinstance(rules, RuleSet):
        raise MatcalcError(f"rules must be a RuleSet (from matcalc.load_rules), got "
                           f"{type(rules).__name__}")
    return rules


def _gradient(f: E.Expr, x: E.Expr, rules: RuleSet, trace: Trace):
    """The gradient of a scalar ``f`` as backprop gives it (shaped like x), simplified, or
    None when every path has zero derivative; and the simplifier that made it."""
    engine = _Engine(rules, x, None, trace)
    simplify = _simplifier(rules, engine, trace)
    g = engine.backprop(f, E.const(1.0))
    return (None if g is None else simplify(g)), simplify


def derive(expr, wrt, shapes=None, assume=None, rules: RuleSet | None = None) -> Derivation:
    """The numerator-layout derivative of ``expr`` with respect to ``wrt``, with its trace."""
    return _derive(expr, wrt, shapes, assume, rules)


def _derive(expr, wrt, shapes=None, assume=None, rules: RuleSet | None = None,
            symmetric: bool = False) -> Derivation:
    """:func:`derive`; ``symmetric``: the Jacobian is known to equal its transpose (the
    derivative of a gradient), so the form read off is the answer as it stands."""
    rules = _rule_set(rules)
    f = _as_expr(expr, shapes, assume, rules)
    x = _variable(f, wrt)
    lang = rules.language
    trace = Trace()
    if not f.shape:
        g, simplify = _gradient(f, x, rules, trace)
        if g is None:                                  # every path has zero derivative
            return Derivation(f, x, _zero(derivative_shape(f.shape, x.shape), lang), trace)
        answer = g if not x.shape else _transposed(g, lang)
        return Derivation(f, x, simplify(answer), trace, simplify)
    row = len(f.shape) == 2 and f.shape[0] == 1     # a row f: C is shaped like f'
    cot = E.var("C", (f.shape[1],) if row else f.shape, frozenset({COTANGENT}))
    engine = _Engine(rules, x, cot, trace)
    simplify = _simplifier(rules, engine, trace)
    seed = build(TRANSPOSE, (cot,), lang=lang) if row else cot
    g = engine.backprop(f, seed)
    if g is None:
        shape = derivative_shape(f.shape if not x.shape else cot.shape, x.shape)
        return Derivation(f, x, _zero(shape, lang), trace)
    g = simplify(g)
    if not x.shape and len(cot.shape) == 2:
        v = _inner_read_off(_identifier(rules, engine, simplify, trace)(g), cot, f, lang)
        if v is None:                                   # every term cancelled
            return Derivation(f, x, _zero(derivative_shape(f.shape, x.shape), lang), trace)
        v = _shape_stand_ins(simplify(v), cot, (x, f), lang, engine.holding)
        return Derivation(f, x, _free_of(simplify(v), cot, f, engine.holding), trace)
    target = cot if len(cot.shape) != 2 else build(VEC, (cot,), lang=lang)
    wrapped = len(x.shape) == 2 or len(cot.shape) == 2
    if wrapped:                                         # read off ∂vec f/∂(vec X)ᵀ
        g = build(VEC, (g,), lang=lang)
    # a form that reads off as it stands (A'*C for d/dx A*x) skips the identify step,
    # whose rules move the cotangent right and would have nothing to do; vec(G) does not
    # (it is not K*vec(C)) unless G is C
    try:
        if wrapped and g is not target:
            raise _ReadOffError(g)
        k = _read_off(g, target, lang, engine.holding)
    except _ReadOffError:
        form = _identifier(rules, engine, simplify, trace)(g)
        try:
            k = _read_off(form, target, lang, engine.holding)
        except _ReadOffError as exc:
            raise NoRuleError(f"{exc}: cannot identify the derivative of {brief(f)} with "
                              f"respect to {x.value}; the linear form reached was "
                              f"{brief(form)}. An 'identify' rule "
                              "(rules/simplify/90-identify.yaml) that moves the cotangent C "
                              "to the right would let matcalc finish") from None
    if k is None:                                       # every term cancelled
        shape = derivative_shape(f.shape if not x.shape else cot.shape, x.shape)
        return Derivation(f, x, _zero(shape, lang), trace)
    k = simplify(k)                             # the Jacobian's transpose
    answer = _shape_stand_ins(k if symmetric else _transposed(k, lang), cot, (x, f), lang,
                              engine.holding)
    if not x.shape and row:                    # a row by a scalar stays a row (f's shape)
        answer = build(TRANSPOSE, (simplify(answer),), lang=lang)
    return Derivation(f, x, _free_of(simplify(answer), cot, f, engine.holding), trace)


def _shape_stand_ins(answer: E.Expr, cot: E.Expr, near: tuple, lang,
                     holding: dict) -> E.Expr:
    """The answer with the cotangent gone from operands that give only their shape
    (``commutation(C')`` → ``commutation(X)``): each such operand becomes the first of the
    variable, the expression, their variables or their transposes with the same shape."""
    if not _contains(answer, cot, holding):
        return answer                       # the usual case: no cotangent to stand in for
    nodes = answer.walk()
    if not any(getattr(lang.get(n.op), "shape_only", ()) for n in nodes):
        return answer                       # C only where it counts: _free_of refuses it
    done: dict[E.Expr, E.Expr] = {}
    pool: list[E.Expr] = []
    for e in near:
        pool.extend([e, *e.variables().values()])
    pool = list(dict.fromkeys(pool))
    pool += [build(TRANSPOSE, (e,), lang=lang) for e in pool if e.shape]
    for node in nodes:
        args = tuple(done[a] for a in node.args)
        spec = lang.get(node.op)
        if spec is not None and spec.shape_only:
            args = list(args)
            for i in spec.shape_only:
                if _contains(args[i], cot, holding):
                    same = next((e for e in pool if e.shape == args[i].shape), None)
                    if same is None:
                        raise NoRuleError(f"the derivative needs {node.op} of an operand shaped "
                                          f"{args[i].shape_text}, and no variable has that shape")
                    args[i] = same
            args = tuple(args)
        done[node] = node if args == node.args else build(node.op, args, node.value, lang,
                                                          shape=node.shape if not args else None)
    return done[answer]


def _transposed(g: E.Expr, lang) -> E.Expr:
    """Gᵀ, term by term when G is a sum (the numerator-layout form of each gradient term),
    or scalars times a sum (w*(P + Q) gives w*(Pᵀ + Qᵀ), not w*(P + Q)ᵀ); the scalars in
    reverse order, as transposing the whole product puts them (b*a*(P + Q) gives
    a*b*(Pᵀ + Qᵀ)), so a query's own order of scalars comes back as it does elsewhere."""
    if g.op == PRODUCT and g.args[-1].op == SUM and all(not a.shape for a in g.args[:-1]):
        return build(PRODUCT, (*reversed(g.args[:-1]), _transposed(g.args[-1], lang)),
                     lang=lang)
    terms = _terms(g)
    if len(terms) == 1:
        return build(TRANSPOSE, (g,), lang=lang)
    parts = [build(TRANSPOSE, (t,), lang=lang) for _, t in terms]
    parts = [p if sign > 0 else build(NEG, (p,), lang=lang) for (sign, _), p in zip(terms, parts)]
    return build(SUM, parts, lang=lang)


def _renamed(root: E.Expr, old: E.Expr, new: E.Expr) -> E.Expr:
    """``root`` with the variable ``old`` replaced by ``new`` (same name and shape)."""
    done: dict = {}
    for node in root.walk():
        args = tuple(done[a] for a in node.args)
        done[node] = new if node is old else node if args == node.args else E.make(
            node.op, args, node.shape, node.value, node.props)
    return done[root]


def _zero(shape: tuple, lang) -> E.Expr:
    """The zero derivative: 0, or vector(0) / matrix(0) of the derivative's shape."""
    return filled(0.0, shape, lang)


def _identity(target: E.Expr, lang) -> E.Expr:
    n = target.shape[0]
    return build("eye", (), None, lang=lang, shape=(n, n))


def _inner_read_off(form: E.Expr, cot: E.Expr, f: E.Expr, lang) -> E.Expr | None:
    """V with form = ⟨V, C⟩; a term k*vec(C) (k a row) is ⟨unvec(kᵀ, C), C⟩."""
    parts = []
    vec_cot = build(VEC, (cot,), lang=lang)
    seen: dict = {}
    for sign, term in _terms(form):
        if _is_zero(term, lang) or not _contains(term, cot, seen):
            continue                                    # zero: the form is linear in C
        if term.op == INNER and term.args[1] is cot:
            v = term.args[0]
        elif (k := _coefficient(term, vec_cot, lang)) is not None and len(k.shape) == 2:
            v = build(UNVEC, (build(TRANSPOSE, (k,), lang=lang), cot), lang=lang)
        else:
            raise NoRuleError(f"cannot identify the derivative of {brief(f)}: the term "
                              f"{brief(term)} is not of the form <V, C>")
        parts.append(v if sign > 0 else build(NEG, (v,)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else build(SUM, parts)


def _identifier(rules: RuleSet, engine: _Engine, simplify: Simplifier, trace: Trace):
    """The identify step's simplifier (made only when a form does not read off as it
    stands): the identities and the rules that move the cotangent C to the right."""
    return Simplifier(rules, rules.identify_all, engine.condition, trace,
                      scalars_first=lambda e: not engine.linear(e),
                      prior=(simplify, rules.identify), checks=engine.checks)


def _simplifier(rules: RuleSet, engine: _Engine, trace: Trace):
    """One simplifier per derivation: what it simplified once it never simplifies again."""
    return Simplifier(rules, rules.identities, engine.condition, trace, last=engine.linear,
                      checks=engine.checks)


# ---------------------------------------------------------------- public entry points

def diff(expr, wrt, shapes=None, assume=None, rules: RuleSet | None = None) -> E.Expr:
    """∂expr/∂wrt in numerator layout (DESIGN.md), simplified.

    >>> str(diff("x'*A*x", "x"))
    "x'*(A + A')"
    >>> str(diff("log(det(X))", "X"))
    'inv(X)'
    """
    return derive(expr, wrt, shapes, assume, rules).result


def grad(expr, wrt, shapes=None, assume=None, rules: RuleSet | None = None) -> E.Expr:
    """The gradient of a scalar expression, shaped like the variable (what optimisers use).

    >>> str(grad("norm2(A*x - b)^2", "x"))
    "2*A'*(A*x - b)"
    """
    return _grad(derive(expr, wrt, shapes, assume, rules), rules)


def _grad(d: Derivation, rules: RuleSet | None) -> E.Expr:
    if d.expr.shape:
        raise MatcalcError(f"grad needs a scalar expression; {brief(d.expr)} is "
                           f"{d.expr.shape_text} (use diff for its Jacobian)")
    if not d.wrt.shape:
        return d.result
    rules = rules or builtin_rules()
    simplify = d.simplifier or _simplifier(rules, _Engine(rules, d.wrt, None, d.trace), d.trace)
    return simplify(_transposed(d.result, rules.language))


def hessian(expr, wrt, shapes=None, assume=None, rules: RuleSet | None = None) -> E.Expr:
    """The derivative of the transposed gradient: n×n for a vector variable.

    A Hessian is symmetric, so for a vector or matrix variable the form read off the
    gradient's derivative (its transpose) is returned as it stands, which is the same matrix
    for every rule whose adjoint is its function's derivative (``check-rules`` proves that of
    each rule).

    >>> str(hessian("x'*A*x", "x"))
    "A + A'"
    """
    return derive_hessian(expr, wrt, shapes, assume, rules).result


def derive_hessian(expr, wrt, shapes=None, assume=None, rules: RuleSet | None = None
                   ) -> Derivation:
    """:func:`hessian` with its trace: the gradient's steps, a step naming the gradient,
    then the steps of its derivative."""
    rules = _rule_set(rules)
    f = _as_expr(expr, shapes, assume, rules)
    x = _variable(f, wrt)
    if f.shape:
        raise MatcalcError(f"hessian needs a scalar expression; {brief(f)} is {f.shape_text} (diff "
                           "gives its Jacobian)")
    if "symmetric" in x.props:
        # by the free entries, as diff by S is: the gradient of logdet(S) simplifies to inv(S)
        # (S' = S), right at S but not off it, so its derivative would lose a commutation
        free = E.var(x.value, x.shape)
        d = derive_hessian(_renamed(f, x, free), free, rules=rules)
        h = _renamed(d.result, free, x)
        h = _simplifier(rules, _Engine(rules, x, None, d.trace), d.trace)(h)
        for step in d.trace.steps:
            if step.marker:
                step.note += (f"; both passes are by the entries of {x.value} as if it had no "
                              f"assumption (as diff by {x.value} is), then simplified with it")
        return Derivation(f, x, h, d.trace, hessian=True)
    trace = Trace()
    if not x.shape:
        first = derive(f, x, rules=rules)
        g = _grad(first, rules)
    else:
        # the gradient as backprop gives it (shaped like x): the derivative's two transposes
        # (to the numerator layout and back) would only cost time
        first = None
        g, _ = _gradient(f, x, rules, trace)
        if g is None:                                  # every path has zero derivative
            trace.steps.append(_gradient_step(f, _zero(x.shape, rules.language)))
            return Derivation(f, x, _zero(derivative_shape(x.shape, x.shape), rules.language),
                              trace, hessian=True)
    if first is not None:
        trace.steps.extend(first.trace.steps)
        trace.stopped.extend(first.trace.stopped)
    trace.steps.append(_gradient_step(f, g))
    # a Hessian is symmetric: what is read off (the Jacobian's transpose) is the answer
    second = _derive(g, x, rules=rules, symmetric=bool(x.shape))
    trace.steps.extend(second.trace.steps)
    trace.stopped.extend(second.trace.stopped)
    return Derivation(f, x, second.result, trace, hessian=True)


def _gradient_step(f: E.Expr, g: E.Expr) -> Step:
    """The step between a Hessian's two passes (not a rule): the gradient the first gave."""
    return Step("gradient", "end of the first pass", f, g,
                "the second pass differentiates this gradient", marker=True)


def explain(expr, wrt, shapes=None, assume=None, rules: RuleSet | None = None,
            hessian: bool = False) -> "Explanation":
    """The derivation as steps: each rule's name, file and line, before and after
    (``hessian``: of the Hessian, both passes)."""
    if hessian:
        return Explanation(derive_hessian(expr, wrt, shapes, assume, rules))
    return Explanation(derive(expr, wrt, shapes, assume, rules))


class Explanation:
    """A printable derivation (``str`` gives one line per rule that fired)."""

    def __init__(self, derivation: Derivation):
        self.derivation = derivation
        self.result = derivation.result
        self.steps = derivation.steps

    def lines(self) -> list[str]:
        d = self.derivation
        head = f"hessian of {d.expr} by {d.wrt.value}" if d.hessian else \
            f"d/d{d.wrt.value} {d.expr}"
        out = [f"{head}  =  {d.result}    ({d.result.shape_text})"]
        out += step_lines(self.steps)
        out += [f"  not fully simplified: {why}" for why in d.unfinished]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def step_lines(steps: list[Step], indent: str = "") -> list[str]:
    """Each rule that fired numbered, as ``explain``, ``--explain`` and ``:explain`` list
    it, with its note (a subgradient chosen, a Hessian's gradient) on a line of its own; a
    marker (where a Hessian's second pass starts) unnumbered, so the count says the rules."""
    out = []
    i = 0
    for step in steps:
        if step.marker:                 # not a rule (a Hessian's gradient): not counted
            out.append(f"{indent}   · {step}")
        else:
            i += 1
            out.append(f"{indent}{i:3d}. {step}")
        if step.note:
            out.append(f"       note: {step.note}")
    return out


def unfinished_notes(d: Derivation) -> list[str]:
    """The lines the CLI and the REPL add under an answer whose simplification stopped early
    (a limit, a cycle between rules): it is right but may not be in its simplest form."""
    return [f"  note:   not fully simplified: {why}" for why in d.unfinished]


def rules_fired(steps: list[Step]) -> list[str]:
    """What ``--explain`` and ``:explain`` add under an answer."""
    return [f"  rules that fired ({sum(not s.marker for s in steps)}):"] + step_lines(steps, "  ")
