"""The simplifier: rewrite to the textbook form with the identities of rules/simplify/.

Strategy (sympy.strategies style, knowing no operator by name): rebuild the DAG bottom-up;
at each node fold numeric constants, put the operands of a commutative sum and of an entrywise
product in canonical order (in the latter the cotangent last), move scalar factors of a product
to the front, then apply the identities (highest priority first) until none applies,
simplifying what each rewrite builds.  The whole pass repeats until nothing changes.  Every
loop has limits and reports why it stopped.

Which operator is a commutative sum, a product with scalar factors, or foldable on numbers is
read from the language's signature kinds and ``numeric`` names, not from operator names.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Callable

from matcalc import expr as E
from matcalc.build import build, filled, shape_of
from matcalc.errors import MatcalcError, ShapeError
from matcalc.pattern import (_frozen, dim_map, distribute, distributes, exactly, instantiate,
                             match_window, needs_dims, no_scalar, operand_kinds,
                             operand_signatures, passes, prefilter, subject_excludes,
                             subject_needs, where_check)
from matcalc.printing import brief, text_head
from matcalc.rules import Rule, RuleSet

MAX_PASSES = 30
MAX_REWRITES = 5_000
MAX_NODES = 200_000
MAX_DEPTH = 60
# a sum longer than this has a conditioned distribution applied to all its terms at once
LONG_SUM = MAX_DEPTH // 2
# conditions that hold of a sum when they hold of each of its terms (it contains C, x)
_HELD_BY_PARTS = frozenset({"linear", "depends"})


# Scalar arithmetic by the ``numeric`` name of a language record (the numeric table).
_FOLD = {
    "add": lambda *xs: sum(xs),
    "neg": lambda x: -x,
    "matmul": lambda *xs: _prod(xs),
    "mul": lambda *xs: _prod(xs),
    "div": lambda a, b: a / b if b else None,
    "pow": lambda a, b: _pow(a, b),
}


def negative(term: E.Expr) -> bool:
    """Whether a term is written with a minus sign, -u or a negative number (how
    :meth:`Simplifier._sorted_terms` puts last; what backprop carries past a node)."""
    return term.op == "neg" or (term.op == "const" and term.value < 0)


def _prod(xs):
    out = 1.0
    for x in xs:
        out *= x
    return out


def _pow(a, b):
    try:
        value = a ** b
    except (OverflowError, ZeroDivisionError):
        return None
    return value if isinstance(value, float) else None


# The canonical move of an operator (Simplifier._canonical), read from its declaration:
# a commutative sum (cancel opposites, then order the terms), another commutative
# associative operator (order the operands), an entrywise product (order the factors), a
# matrix product (scalars first).
_SUM, _TERMS, _FACTORS, _MATMUL = "sum", "terms", "factors", "matmul"
# op -> _moves_of(lang, op), per language: kept beside the language, not on it, so that a
# Language (and a RuleSet holding it) still pickles once it has simplified (the plans hold
# _FOLD's lambdas)
_MOVES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


_PLAIN, _PRODUCT, _TRANSPOSED, _FOLDING, _NEVER = \
    "plain", "product", "transposed", "folding", "never"


def _moves_of(lang, op: str) -> tuple:
    """(fold, move, what else) of ``op``, worked out once per operator instead of at every
    node: how numbers fold (None: they do not), its canonical move (None: none), and what
    besides the rules decides whether a step can change one of its nodes
    (:meth:`Simplifier._to_step`): nothing (_PLAIN); a scalar factor, which a product moves
    to its front (_PRODUCT); a transposed sum or fill, which the generic moves rewrite
    (_TRANSPOSED); numbers, which fold (_FOLDING); or always a step (_NEVER: a sum or an
    entrywise product, whose order and cancellation the step checks)."""
    spec = lang.get(op)
    if spec is None:
        return None, None, _PLAIN
    kind, flat = spec.signature, op in E.FLATTEN
    move = None
    if kind == "congruent" and flat:
        move = _SUM if spec.numeric == "add" else _TERMS
    elif kind == "elementwise" and flat and spec.numeric == "mul":
        move = _FACTORS
    elif kind == "matmul":
        move = _MATMUL
    fold = _FOLD.get(spec.numeric)
    if move is _MATMUL:
        other = _PRODUCT
    elif move is not None or flat:
        other = _NEVER
    elif op in lang.transposes:
        other = _NEVER if fold is not None else _TRANSPOSED
    else:
        other = _PLAIN if fold is None else _FOLDING
    return fold, move, other


# factors of a long product whose text orders it among a sum's terms before its whole text
_HEAD = 8
_FIRST = itemgetter(0)


def _long_product(term: E.Expr) -> bool:
    """Whether a sum's term is (minus) a product of more than :data:`_HEAD` factors."""
    if term.op == "neg":
        term = term.args[0]
    return term.op in E.PRODUCTS and len(term.args) > _HEAD


class _TermText:
    """A sum term's place among those of its sign, ordered as the texts of their cores are
    (``'`` read as ``~``, so A comes before A'), when one of them is a long product: by
    the text of its first :data:`_HEAD` factors, and by its whole text only where those do
    not decide (one the start of the other).  The rotations of a long product then order
    without printing them whole; a sum of N of them printed N products of 2N factors."""

    __slots__ = ("head", "core", "simplifier", "_whole")

    def __init__(self, simplifier: "Simplifier", core: E.Expr):
        self.simplifier, self.core = simplifier, core
        self.head = text_head(core, _HEAD).replace("'", "~")
        self._whole: str | None = None

    def whole(self) -> str:
        if self._whole is None:             # as _core_text, once
            self._whole = self.simplifier._text(self.core).replace("'", "~")
        return self._whole

    def __lt__(self, other: "_TermText") -> bool:
        a, b = self.head, other.head
        if a.startswith(b) or b.startswith(a):
            return self.whole() < other.whole()
        return a < b


@dataclass
class Step:
    """One rewrite: the rule, where it is written, the subexpression before and after."""

    rule: str
    where: str
    before: E.Expr
    after: E.Expr
    note: str = ""
    marker: bool = False        # not a rule: where a Hessian's second pass starts

    def __str__(self) -> str:
        return f"{self.rule} ({self.where}): {self.before}  →  {self.after}"


@dataclass
class Trace:
    """The rewrites of one derivation, in order, and why each loop stopped."""

    steps: list[Step] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)


_NOTHING_MET: frozenset = frozenset()


class _Index:
    """The identities that may apply to a node, found by its operator and its operands'
    operators (each rule's :func:`~matcalc.pattern.prefilter`), cached per operand pattern.
    One index per rule set and list of identities, shared by every simplifier."""

    def __init__(self, identities: list[Rule]):
        self.by_op: dict[str, list[tuple]] = {}
        self.subject_needs: dict[str, tuple] = {}     # by operator: conditions to look up
        needs_of: dict[int, frozenset] = {}
        # what a rule cannot match because every name in it is free of it (the cotangent,
        # the variable): a node holding it, when the match is the whole node (a pattern of
        # fixed width, or an associative one of two or three operands on as many)
        self._excludes_of: dict[int, tuple[frozenset, int]] = {}
        for r in identities:
            where = _frozen(r.where or {})
            self.by_op.setdefault(r.pattern.op, []).append((r, prefilter(r.pattern, where)))
            needs_of[id(r)] = subject_needs(where)
            width = len(r.pattern.args) if r.pattern.op in E.FLATTEN else 0
            excludes = subject_excludes(r.pattern, where) if width in (0, 2, 3) else None
            if excludes:
                self._excludes_of[id(r)] = (excludes, width)
        for op, entries in self.by_op.items():
            self.subject_needs[op] = tuple(sorted(frozenset().union(
                *(needs_of[id(r)] | self._excludes_of.get(id(r), (_NOTHING_MET,))[0]
                  for r, _ in entries))))
        # the one condition asked of an operator's nodes, where there is one (the usual
        # case: the identify rules ask whether a node holds C): its set, met or not
        self._single = {op: (asked[0], frozenset(asked))
                        for op, asked in self.subject_needs.items() if len(asked) == 1}
        self._needs_of = needs_of
        self.cache: dict[tuple, tuple] = {}
        # rules that distribute an operator over an n-ary one apply to all operands at once
        self.distributive = {r.name: rev for r in identities if not r.where
                             for rev in [distributes(r.pattern, r.result)] if rev is not None}
        # and, over a long sum, those whose names must contain the cotangent (or the
        # variable), when every term does: one term at a time, each rewrite would take the
        # rest a level deeper (a 62-term sum reached the depth limit).  A shorter sum keeps
        # the one-at-a-time rewrites, which collect the rest as they go
        self.distributive_where = {
            r.name: (rev, frozenset(c for cs in r.where.values() for c in cs))
            for r in identities if r.where
            and all(c in _HELD_BY_PARTS for cs in r.where.values() for c in cs)
            for rev in [distributes(r.pattern, r.result)] if rev is not None}

    @staticmethod
    def of(rules: RuleSet, identities: list[Rule]) -> "_Index":
        indexes = rules.__dict__.setdefault("_simplify_indexes", {})
        recent = rules.__dict__.setdefault("_simplify_recent", {})
        same = recent.get(id(identities))              # the very list again: no walk over it
        if same is not None and same[0] is identities and same[1] == len(identities):
            return same[2]
        key = tuple(id(r) for r in identities)
        index = indexes.get(key)
        if index is None:
            index = indexes[key] = _Index(identities)
        if len(recent) >= 8:                           # a caller making new lists each time
            recent.clear()
        recent[id(identities)] = (identities, len(identities), index)
        return index

    def candidates(self, node: E.Expr, condition) -> tuple:
        """The rules that may apply to ``node``; ``condition`` must decide the shape
        conditions as every simplifier sharing this index does (they depend on the kind
        of operand only, which is part of the cache key)."""
        flat = node.op in E.FLATTEN
        single = self._single.get(node.op)
        if single is not None:
            met = single[1] if condition(single[0], node) else _NOTHING_MET
        else:
            asked = self.subject_needs.get(node.op, ())
            met = frozenset(c for c in asked if condition(c, node)) if asked else _NOTHING_MET
        if flat:
            present = operand_signatures(node)
            key = (node.op, present, met)
        else:                   # an associative operand's signatures: (A + diag(u))'
            kinds, present = operand_kinds(node)
            key = (node.op, kinds, met, present)
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = tuple(r for r, test in self.by_op.get(node.op, ())
                                            if self._needs_of[id(r)] <= met
                                            and not self._excluded(r, met, present)
                                            and passes(test, node, present, condition))
        return found

    def _excluded(self, rule: Rule, met: frozenset, present) -> bool:
        """Whether ``rule`` cannot match a node meeting ``met`` as a whole (see
        ``_excludes_of``); an associative node's width is read from its signatures."""
        found = self._excludes_of.get(id(rule))
        if found is None or found[0].isdisjoint(met):
            return False
        return found[1] == 0 or exactly(present, found[1])


class Simplifier:
    """Applies one list of identities (plus the generic canonical moves) to fixpoint."""

    def __init__(self, rules: RuleSet, identities: list[Rule],
                 condition: Callable[[str, E.Expr], bool], trace: Trace,
                 scalars_first: Callable[[E.Expr], bool] | None = None,
                 last: Callable[[E.Expr], bool] | None = None,
                 prior: tuple["Simplifier", list[Rule]] | None = None,
                 checks: dict | None = None):
        """``prior``: a simplifier with the same conditions whose identities, together with
        ``extra``, are this one's (``(simplifier, extra)``): a node it left unchanged only
        needs the ``extra`` rules tried.  ``scalars_first``: the scalar factors a product
        moves to its front; ``last``: the operands an entrywise product puts last (by
        default those ``scalars_first`` keeps back).  A derivation's simplifier puts the
        cotangent last, as the identify step does, so that step does not reorder C.*exp(x)
        back to exp(x).*C before reading it off."""
        self.rules = rules
        self.lang = rules.language
        self.index = _Index.of(rules, identities)
        self._prior_fixpoints = prior[0].fixpoints if prior is not None else None
        self._extra_index = _Index.of(rules, prior[1]) if prior is not None else None
        self.condition = condition
        # where-checks by rule name: shared by simplifiers with the same ``condition``
        self._checks: dict[str, Callable] = {} if checks is None else checks
        self.trace = trace
        self.scalars_first = scalars_first or (lambda e: True)
        first = self.scalars_first          # (not self: a lambda holding self is a cycle)
        self.last = last or (lambda e: not first(e))
        self.memo: dict[E.Expr, E.Expr] = {}
        # nodes every rule was tried on and none applied (not those left by a limit)
        self.fixpoints: set[E.Expr] = set()
        self.rewrites = 0
        self.gave_up = 0                    # loops stopped by a limit (their results unfinished)
        self._depth = 0
        self._deep_reported = False
        self._key: dict[E.Expr, str] = {}
        self._sizes: dict[E.Expr, int] = {}
        self._fixed: dict[tuple, list[E.Expr]] = {}    # simplified runs, by first operand
        self._moves: dict = _MOVES.setdefault(self.lang, {})
        self._distributed: dict = {}           # what distribute() built: (U, value, s) -> U(s)

    # ---------------------------------------------------------------- driver
    def __call__(self, root: E.Expr) -> E.Expr:
        current = root
        for _ in range(MAX_PASSES):
            new = self.tree(current)
            if new is current:
                self.trace.stopped.append("simplify: fixpoint")
                return new
            current = new
            if len(self.memo) > MAX_NODES:
                self.trace.stopped.append(f"simplify: stopped after visiting {MAX_NODES} nodes")
                return current
        self.trace.stopped.append(f"simplify: stopped after {MAX_PASSES} passes")
        return current

    def tree(self, root: E.Expr) -> E.Expr:
        """Simplify every node of ``root`` (children first, each distinct node once)."""
        leaf_rules = self.index.by_op
        memo = self.memo
        simplified = memo.__getitem__
        for node in self._unsimplified(root):
            if not node.args and node.op not in leaf_rules:
                memo[node] = node               # a name or number no rule rewrites
                self.fixpoints.add(node)
                continue
            args = tuple(map(simplified, node.args))
            rebuilt = node if args == node.args else self._rebuild(node, args)
            known = memo.get(rebuilt)
            if known is not None:               # rebuilt into a node simplified already
                memo[node] = known              # (or met as a form a rewrite passed through)
                continue
            gave_up = self.gave_up
            asked = self._to_step(rebuilt)
            if asked is None:                   # the usual case: nothing applies
                self.fixpoints.add(rebuilt)
                done = memo[node] = rebuilt
            else:
                done = memo[node] = self.node(rebuilt, asked)
            if done not in memo and self.gave_up == gave_up:    # its own fixpoint
                memo[done] = done
                if done.op in E.FLATTEN and len(done.args) > 1:
                    self._fixed.setdefault((done.op, done.args[0]), []).append(done)
        return memo[root]

    def _to_step(self, node: E.Expr) -> tuple | None:
        """None when :meth:`_step` would leave ``node`` as it is, known without its calls:
        no rule may apply (the index has no candidate) and no move can (an operator without
        a canonical move, a product without scalar factors, a transpose of neither a sum
        nor a fill), within the depth limit.  Most nodes a simplifier visits are such; each
        then costs one lookup in the index instead of a step's six calls.  Else what the
        first step needs: ``(index, candidates)`` when they were looked up (the canonical
        move then leaves the node as it is), ``()`` when the step must look."""
        kind = (self._moves.get(node.op) or self._moves_for(node.op))[2]
        if kind is not _PLAIN:
            if kind is _NEVER:
                return ()
            args = node.args
            if kind is _PRODUCT:
                if not no_scalar(args):
                    return ()
            elif kind is _TRANSPOSED:
                inner = args[0]
                if inner.op in E.FLATTEN or (not inner.args and inner.op == self.lang.fill(2)):
                    return ()
            elif args and args[0].op == "const":   # _FOLDING: numbers may fold
                return ()
        if self._depth > MAX_DEPTH:
            return ()
        index = self._index_for(node)
        found = index.candidates(node, self.condition)
        return (index, found) if found else None

    def _index_for(self, node: E.Expr) -> _Index:
        """The index of the rules to try on ``node``: only the extra ones when the prior
        simplifier tried its own on it and none applied."""
        if self._prior_fixpoints is not None and node in self._prior_fixpoints:
            return self._extra_index
        return self.index

    def _moves_for(self, op: str) -> tuple:
        """:func:`_moves_of` ``op`` in this simplifier's language, worked out once (the
        callers read ``self._moves`` first: a visit's commonest lookup, without a call)."""
        found = self._moves.get(op)
        if found is None:
            found = self._moves[op] = _moves_of(self.lang, op)
        return found

    def _unsimplified(self, root: E.Expr) -> list[E.Expr]:
        """The nodes under ``root`` not simplified yet, children first (no recursion; the
        walk stops at simplified nodes, so a rewrite deep in a big tree costs little)."""
        memo = self.memo
        if root in memo:
            return []
        if all(map(memo.__contains__, root.args)):
            return [root]                       # the usual case after a rewrite at the top
        return root.walk(memo)

    def _rebuild(self, node: E.Expr, args: tuple) -> E.Expr:
        try:
            new = build(node.op, args, node.value, self.lang,
                        shape=node.shape if not args else None)
        except ShapeError as exc:
            raise MatcalcError(f"internal: rebuilding {node} failed: {exc}") from None
        if len(args) == 1 and args[0].op == node.op and new is args[0].args[0]:
            # a declared involution met itself (what a user typed: (x + 0)'' once x + 0 is x)
            spec = self.lang.get(node.op)
            self.trace.steps.append(Step(
                f"{node.op}-involution", spec.where, E.make(node.op, args, new.shape, node.value),
                new, f"{node.op}({node.op}(a)) = a: declared an involution in the language"))
        return new

    # ---------------------------------------------------------------- one node
    def node(self, node: E.Expr, asked: tuple = ()) -> E.Expr:
        """``node`` rewritten to its fixpoint; ``asked``: what :meth:`_to_step` found."""
        if self._depth > MAX_DEPTH:
            if not self._deep_reported:
                self.trace.stopped.append(f"simplify: rewrites nested deeper than {MAX_DEPTH}"
                                          f" (a cycle between rules?); left {brief(node)} as "
                                          "it was")
                self._deep_reported = True
            self.gave_up += 1
            return node
        self._depth += 1
        try:
            return self._node(node, asked)
        finally:
            self._depth -= 1

    def _node(self, node: E.Expr, asked: tuple = ()) -> E.Expr:
        """Rewrite ``node`` to its fixpoint: a rewrite's new operands are simplified (one
        level deeper), its new root is rewritten here, in a loop, so a sum whose terms are
        rewritten one at a time (collected, identified) does not nest a level per term.
        The forms passed through map to the result in the memo, as tree() would map them."""
        new = self._step(node, asked)
        if new is node:                         # the usual case: nothing applies
            self.fixpoints.add(node)
            return node
        passed: list[E.Expr] = []
        seen = {node}
        for _ in range(MAX_REWRITES):           # rewrites count, canonical moves do not
            if new is None:
                new = self._step(node)
            if new is node:
                self.fixpoints.add(node)        # every rule tried, none applied
                break
            if self.rewrites > MAX_REWRITES:
                self.trace.stopped.append(f"simplify: stopped after {MAX_REWRITES} rewrites")
                self.gave_up += 1
                node = new
                break
            known = self.memo.get(new)
            if known is None:
                args = tuple([self.memo[a] if a in self.memo else self.tree(a)
                              for a in new.args])
                rebuilt = new if args == new.args else self._rebuild(new, args)
                passed.append(new)
                known = self.memo.get(rebuilt)
                if known is None:
                    if rebuilt is not new:
                        passed.append(rebuilt)
                    if rebuilt in seen:
                        node = self._cycle(rebuilt)
                        break
                    seen.add(rebuilt)
                    node, new = rebuilt, None
                    continue
            node, new = known, None
            if node in self.fixpoints:
                break                           # simplified already: its own fixpoint
            if node in seen:                    # a form left unfinished by a limit, again
                self._cycle(node)
                break
            seen.add(node)
        else:
            self.trace.stopped.append(f"simplify: a node kept changing; left as {brief(node)}")
            self.gave_up += 1
        # the result too, so tree() does not register it as a simplified run: the runs of a
        # node's own rewrites are many, and _clean_runs reads them all at every operand
        # (registering them took the trace of 128 products from 0.11 to 0.37 s)
        for form in passed:
            self.memo.setdefault(form, node)
        return node

    def _step(self, node: E.Expr, asked: tuple = ()) -> E.Expr:
        """One move on ``node``: a canonical move, else the first rule that applies, else a
        generic move no rule makes (on a transpose, or on a sum of three terms or more);
        ``node`` itself when none does.  ``asked``: the rules to try, found already."""
        new = self._canonical(node)
        if new is not node:
            return new
        new = self._rewrite(node, asked)
        if new is not node:
            return new
        if node.op in self.lang.transposes:
            inner = node.args[0]
            if not inner.args:
                return self._transposed_fill(node)      # what no rule did: matrix(c)'
            if inner.op in E.FLATTEN:
                return self._transposed_sum(node)       # and a transposed sum
        elif node.op in E.FLATTEN and len(node.args) > 2:
            return self._spread_transposed_terms(node)  # (A + B)' + A + B
        return node

    def _cycle(self, node: E.Expr) -> E.Expr:
        """Stop at a form that came back (a cycle between rules), saying so; ``node``."""
        self.trace.stopped.append(f"simplify: a node kept changing (a cycle between rules?); "
                                  f"left as {brief(node)}")
        self.gave_up += 1
        return node

    def _kind(self, op: str):
        spec = self.lang.get(op)
        return spec.signature if spec is not None else None

    def _canonical(self, node: E.Expr) -> E.Expr:
        if not node.args:
            return node
        fold, move, _ = self._moves.get(node.op) or self._moves_for(node.op)
        if fold is not None and node.args[0].op == "const" and all(
                a.op == "const" for a in node.args):
            value = fold(*(a.value for a in node.args))
            if value is not None and value == value and abs(value) != float("inf"):
                return E.const(value)
        if move is None:
            return node
        if move is _SUM:
            cancelled = self._cancel(node)
            if cancelled is not node:
                return cancelled
        if move is _SUM or move is _TERMS:
            ordered = self._sorted_terms(node.args)
            if ordered != node.args:
                return E.make(node.op, ordered, node.shape, node.value)
        elif move is _FACTORS:
            ordered = self._sorted_factors(node.args)
            if ordered != node.args:             # an entrywise product commutes
                return E.make(node.op, ordered, node.shape, node.value)
        elif len(node.args) > 1:                # _MATMUL
            return self._scalars_first(node)
        return node

    def _transposed_fill(self, node: E.Expr) -> E.Expr:
        """A transposed matrix of one constant, ``matrix(c)'``, as that constant of the
        transposed shape: the rule language cannot write a fill whose value is a name, so
        the rules cover matrix(0) and matrix(1) only.  Generic: the fill is the language's
        constant function of rank 2, the transpose is known by its declaration."""
        inner = node.args[0]
        if inner.args or len(inner.shape) != 2 or inner.op != self.lang.fill(2):
            return node
        new = filled(inner.value[0], node.shape, self.lang)
        if new is None or new is node:
            return node
        self.trace.steps.append(Step("transposed-fill", "matcalc/simplify.py (a generic move)",
                                     node, new, "a matrix of one constant is its own transpose"))
        return new

    def _transposed_sum(self, node: E.Expr) -> E.Expr:
        """A transposed sum without its transpose: the sum of its terms' own operands when
        every term is transposed, the sum itself when the transposes of its terms are its
        terms (A + A' + B + B', any number of them); else the node.  Tried only where no
        rule applies (the rules for two and three terms cite their source).  Generic: the
        transpose is known by its signature kind and involution, a sum by its numeric."""
        inner = node.args[0]
        if not self._adds(inner) or len(inner.args) < 2:
            return node
        if all(t.op == node.op for t in inner.args):       # (A' + B' + D' + E')' = A + B + D + E
            new = build(inner.op, [t.args[0] for t in inner.args], inner.value, self.lang)
            self.trace.steps.append(Step("transpose-of-transposes",
                                         "matcalc/simplify.py (a generic move)", node, new,
                                         "the transpose of a sum is the sum of the transposes"))
            return new
        if len(inner.shape) != 2 or inner.shape[0] != inner.shape[1]:
            return node                         # only a square matrix is its own transpose
        flipped = [self.tree(build(node.op, (t,), lang=self.lang)) for t in inner.args]
        if sorted(map(id, flipped)) != sorted(map(id, inner.args)):
            return node
        self.trace.steps.append(Step("symmetric-sum", "matcalc/simplify.py (a generic move)",
                                     node, inner, "the transposes of its terms are its terms"))
        return inner

    def _adds(self, node: E.Expr) -> bool:
        """Whether ``node`` is a sum (its function's numeric is ``add``)."""
        spec = self.lang.get(node.op)
        return spec is not None and spec.numeric == "add" and node.op in E.FLATTEN

    def _spread_transposed_terms(self, node: E.Expr) -> E.Expr:
        """A sum holding a transposed sum beside that sum's own terms, with the transpose
        spread over them: (A + B)' + A + B = A' + B' + A + B, which collects and reads as
        symmetric (the derivative of x'*(A + B)*x was x'*((A + B)' + A + B)').  Tried only
        where no rule applies; generic: the transpose is known by its declaration, a sum by
        its numeric."""
        if not self._adds(node):
            return node
        terms = node.args
        for i, t in enumerate(terms):
            if t.op not in self.lang.transposes or t.args[0].op != node.op:
                continue
            inner = t.args[0].args
            rest = list(terms[:i] + terms[i + 1:])
            for u in inner:                     # each of its terms stands in the sum too
                if u not in rest:
                    break
                rest.remove(u)
            else:
                spread = [build(t.op, (u,), t.value, self.lang) for u in inner]
                new = build(node.op, terms[:i] + tuple(spread) + terms[i + 1:], node.value,
                            self.lang)
                self.trace.steps.append(Step(
                    "transposed-sum-beside-its-terms", "matcalc/simplify.py (a generic move)",
                    node, new, "(A + B)ᵀ = Aᵀ + Bᵀ where A and B stand in the same sum"))
                return new
        return node

    def _cancel(self, node: E.Expr) -> E.Expr:
        """A sum without its pairs of opposite terms (t and -t, wherever they stand); the
        zero of its shape when nothing is left.  Generic: ``neg`` is found by its numeric
        name, the zero by the language's constant fill."""
        terms = list(node.args)
        opposite = {}
        for i, t in enumerate(terms):
            spec = self.lang.get(t.op)
            if spec is not None and spec.numeric == "neg":
                opposite.setdefault(t.args[0], []).append(i)
        if not opposite:
            return node
        dropped: set[int] = set()
        for i, t in enumerate(terms):
            if i in dropped or t not in opposite:
                continue
            free = [j for j in opposite[t] if j not in dropped]
            if free:
                dropped.update((i, free[0]))
        if not dropped:
            return node
        rest = [t for i, t in enumerate(terms) if i not in dropped]
        if len(rest) > 1:
            new = build(node.op, rest, node.value, self.lang)
        elif rest:
            new = rest[0]
        elif not node.shape:
            new = E.const(0.0)
        else:
            new = filled(0.0, node.shape, self.lang)
            if new is None:
                return node
        self.trace.steps.append(Step("cancel-opposites", "matcalc/simplify.py (a generic move)",
                                     node, new, "t - t = 0"))
        return new

    def _scalars_first(self, node: E.Expr) -> E.Expr:
        if no_scalar(node.args):
            return node                         # no scalar factor (the usual long product)
        numbers = [a for a in node.args if a.op == "const"]
        scalars = [a for a in node.args if a.op != "const" and not a.shape
                   and self.scalars_first(a)]
        rest = [a for a in node.args if a.shape or (a.op != "const" and not self.scalars_first(a))]
        if len(numbers) > 1:
            numbers = [E.const(_prod([n.value for n in numbers]))]
        args = tuple(numbers + scalars + rest)
        if args == node.args:
            return node
        if len(args) == 1:
            return args[0]
        return build(node.op, args, node.value, self.lang)

    def _sorted_terms(self, terms: tuple) -> tuple:
        """A sum's terms, those with a minus last, each sign's by the text of their
        :meth:`_core` (see :class:`_TermText` for long products), made only to order terms of
        the same sign: printing a long term costs as much as the term (1 - tanh(u)^2 in a
        deep network's derivative would print u, the whole network below that layer)."""
        signs = [negative(t) for t in terms]
        if len(terms) == 2 and signs[0] != signs[1]:
            return terms if signs[1] else terms[::-1]
        out: list = []
        for sign in (False, True):              # x - a: the terms with a minus last
            group = [t for t, s in zip(terms, signs) if s is sign]
            if len(group) > 1 and any(map(_long_product, group)):
                keyed = [(_TermText(self, self._core(t)), t) for t in group]
                group = [t for _, t in sorted(keyed, key=_FIRST)]
            elif len(group) > 1:
                group.sort(key=self._core_text)
            out.extend(group)
        return tuple(out)

    def _core_text(self, term: E.Expr) -> str:
        """The text a term's place among those of its sign is ordered by (A before A', A*x
        before A'*x)."""
        return self._text(self._core(term)).replace("'", "~")

    def _core(self, term: E.Expr) -> E.Expr:
        """What orders a sum's term among those of its sign: the term without its sign and
        numeric factor."""
        core = term.args[0] if term.op == "neg" else term
        if core.op in E.FLATTEN and core.args and core.args[0].op == "const":
            rest = core.args[1:]
            core = rest[0] if len(rest) == 1 else E.make(core.op, rest, core.shape)
        return core

    def _sorted_factors(self, factors: tuple) -> tuple:
        """An entrywise product's operands in canonical order: ``last`` (the cotangent)
        last, then the smaller first (``y.*(X*w)``), then by text; an operand with a constant
        power sorts by its base, so u and u.^-1 stand side by side for the identities to
        meet.  Text is made only to break ties (printing a long operand costs as much as the
        operand)."""
        keyed = sorted(((self._factor_key(f), f) for f in factors), key=lambda t: t[0])
        out: list = []
        i = 0
        while i < len(keyed):
            j = i + 1
            while j < len(keyed) and keyed[j][0] == keyed[i][0]:
                j += 1
            group = [f for _, f in keyed[i:j]]
            if len(group) > 1:
                group.sort(key=lambda f: (self._text(self._power_base(f)), self._text(f)))
            out.extend(group)
            i = j
        return tuple(out)

    def _factor_key(self, factor: E.Expr) -> tuple:
        base = self._power_base(factor)
        return (self.last(factor), self._tree_size(base), base.op)

    def _power_base(self, e: E.Expr) -> E.Expr:
        spec = self.lang.get(e.op)
        if spec is not None and spec.numeric == "pow" and e.args[1].op == "const":
            return e.args[0]
        return e

    def _tree_size(self, root: E.Expr) -> int:
        """Nodes of ``root`` counted as printed (a shared operand each time it occurs)."""
        size = self._sizes
        if root not in size:
            for node in root.walk(size):        # children first, never below a known node
                size[node] = 1 + sum(map(size.__getitem__, node.args))
        return size[root]

    def _text(self, e: E.Expr) -> str:
        key = self._key.get(e)
        if key is None:
            key = self._key[e] = str(e)
        return key

    def _check(self, rule: Rule) -> Callable:
        check = self._checks.get(rule.name)
        if check is None:
            check = self._checks[rule.name] = where_check(rule.where, self.condition)
        return check

    def _clean_runs(self, node: E.Expr) -> tuple:
        """Runs of ``node``'s operands that are the operands of a simplified node of the same
        operator: every rule was tried on their windows already."""
        if node.op not in E.FLATTEN or len(node.args) < 3 or not self._fixed:
            return ()
        args, n, i, runs = node.args, len(node.args), 0, []
        while i < n:
            best = 0
            for done in self._fixed.get((node.op, args[i]), ()):
                m = len(done.args)
                if best < m < n and args[i:i + m] == done.args:
                    best = m
            if best > 1:
                runs.append((i, i + best))
                i += best
            else:
                i += 1
        return tuple(runs)

    def _window_shape(self, node: E.Expr, start: int, stop: int) -> tuple | None:
        """The shape of the operands ``start:stop`` of an associative node taken as one
        (None if they do not make one); no node is built."""
        args = node.args[start:stop]
        if len(args) == 1:
            return args[0].shape
        try:
            return shape_of(node.op, args, self.lang)
        except ShapeError:
            return None

    def _dims(self, rule: Rule, env: dict, node: E.Expr, start: int, stop: int) -> dict:
        """The sizes a rule's result reads: from what its names bound, and a constant's size
        no name binds (vector(0) in vector(0)*u') from what the pattern matched, the whole
        node or a window of its operands."""
        dims = dim_map(rule.variables, env)
        if any(isinstance(d, str) and d not in dims for d in rule.pattern.shape):
            matched = node.shape if start == 0 and stop == len(node.args) else \
                self._window_shape(node, start, stop)
            if matched is not None and len(rule.pattern.shape) == len(matched):
                for d, actual in zip(rule.pattern.shape, matched):
                    if isinstance(d, str):
                        dims.setdefault(d, actual)
        return dims

    def _rewrite(self, node: E.Expr, asked: tuple = ()) -> E.Expr:
        """``node`` rewritten by the first rule that applies (``asked``: the index and its
        candidates, found already), or ``node``."""
        clean = self._clean_runs(node)
        if asked:
            index, found = asked
        else:
            index = self._index_for(node)
            found = index.candidates(node, self.condition)
        for rule in found:
            reverse = index.distributive.get(rule.name)
            if reverse is None and rule.name in index.distributive_where:
                reverse, conditions = index.distributive_where[rule.name]
                inner = node.args[0] if node.args else None
                if inner is None or inner.op != rule.pattern.args[0].op \
                        or len(inner.args) <= LONG_SUM or not self._adds(inner) or not all(
                        self.condition(c, t) for t in inner.args for c in conditions):
                    reverse = None              # a short sum, or a term free of it
            if reverse is not None:
                inner = rule.pattern.args[0]
                if node.args[0].op != inner.op or (inner.op not in E.FLATTEN and len(
                        node.args[0].args) != len(inner.args)):
                    continue
                try:
                    new = distribute(node, reverse, self.lang, self._distributed)
                except ShapeError:
                    continue
                if new is node or new.shape != node.shape:
                    continue
                self.rewrites += 1
                self.trace.steps.append(Step(rule.name, rule.where_text, node, new))
                return new
            for env, start, stop in match_window(rule.pattern, node, self._check(rule),
                                                 clean=clean):
                dims = {}
                if needs_dims(rule.result):     # a constant in the result takes a size
                    dims = self._dims(rule, env, node, start, stop)
                try:
                    result = instantiate(rule.result, env, dims, self.lang)
                except ShapeError:
                    continue
                if start == 0 and stop == len(node.args):
                    new = result
                else:
                    args = node.args[:start] + (result,) + node.args[stop:]
                    try:
                        new = build(node.op, args, node.value, self.lang)
                    except ShapeError:
                        continue                # the rewritten run no longer fits its place
                if new is node or new.shape != node.shape:
                    continue                    # a rewrite never changes a shape
                self.rewrites += 1
                self.trace.steps.append(Step(rule.name, rule.where_text, node, new))
                return new
        return node
