"""The simplifier's prefilter and the matcher's shortcuts are necessary conditions only.

The prefilter (matcalc.pattern.prefilter / passes / subject_needs) decides from a node's
operands' operators, first operands, numbers, kinds and repeated operands which rules may
apply; the adjoint index (matcalc.adjoints.candidates) which adjoint rules may fit a pair; and
the matcher itself skips work through its where-check (group sizes from shapes, conjunctive
limits, anchors that must hold the cotangent).  A wrong shortcut would silently skip a rule and
leave an answer unsimplified, or refuse it.  Here every node the simplifiers visit and every
operand pair backprop asks about, while differentiating the bench queries and a fixed sample of
random expressions, is checked against an oracle that matches with a plain condition function
(none of the where-check's shortcuts): a rule left out never matches, and a rule kept matches
exactly when the oracle says so.  Mutation tests show each check can fail.
"""

from __future__ import annotations

import importlib
import random

import pytest

import matcalc
from matcalc import pattern
from matcalc.diff import NoRuleError, _Engine
from matcalc.simplify import Simplifier
from test_printing import ASSUME, declared, write

QUERIES = [("a'*x", "x"), ("x'*A*x", "x"), ("norm2(x)^2", "x"), ("norm2(A*x - b)^2", "x"),
           ("exp(x)", "x"), ("tr(A*X)", "X"), ("tr(X'*A*X)", "X"), ("log(det(X))", "X"),
           ("det(X)", "X"), ("tr(inv(X)*A)", "X"), ("A*X*B", "X"), ("x'*A*x + b'*x", "x"),
           ("(A*x)'*(B*x)", "x"), ("tr(A*X*B*X')", "X"), ("2*x + x", "x"),
           ("x'*x + x'*x", "x"), ("(-1)*x'*A*x", "x"), ("-3*x'*A*x + 1*x'*x", "x"),
           ("sum(x.*x + 0*x)", "x"), ("u.*2 + x", "x"), ("x*x'*x", "x"),
           ("x'*eye*A*eye*B*eye*x", "x"), ("tr(X*inv(X)*A*inv(X)*X*inv(X))", "X")]


def _oracle(pat, node, check) -> bool:
    """Whether ``pat`` matches ``node`` (or a window of it), found without the shortcuts a
    where-check gives the matcher: the same conditions through a plain function."""
    def plain(name, e):
        return check(name, e)
    return next(iter(pattern.match_window(pat, node, plain)), None) is not None


def _skipped_matches(monkeypatch, texts, rules=None) -> tuple[int, list[str]]:
    """(number of (node or pair, rule) checks, the disagreements with the oracle), with the
    built-in rules or ``rules``."""
    wrong: list[str] = []
    tried = [0]
    original = Simplifier._rewrite
    original_to_step = Simplifier._to_step
    original_adjoint = _Engine.adjoint

    def checked(self, node, asked=()):
        # which rules the simplifier must try, worked out here on purpose rather than by
        # its own _index_for: the extra ones only where the prior simplifier tried its own
        index = self.index
        if self._prior_fixpoints is not None and node in self._prior_fixpoints:
            index = self._extra_index
        kept = set(map(id, index.candidates(node, self.condition)))
        if asked and (asked[0] is not index or set(map(id, asked[1])) != kept):
            wrong.append(f"the rules handed to the step for {node} are not its own")
        for rule, _test in index.by_op.get(node.op, ()):
            tried[0] += 1
            check = self._check(rule)
            truth = _oracle(rule.pattern, node, check)
            if id(rule) not in kept:
                if truth:
                    wrong.append(f"{rule.name} matches {node} but was left out")
            elif rule.name in index.distributive:
                continue                    # applied by distribution, not by the matcher
            elif truth != (next(iter(pattern.match_window(rule.pattern, node, check)), None)
                           is not None):
                wrong.append(f"{rule.name} on {node}: the matcher says {not truth}, the "
                             f"oracle {truth}")
        return original(self, node, asked)

    def checked_to_step(self, node):
        # a node settled without a step is one the step would leave as it is; the step's
        # _rewrite (checked above) puts each rule left out of it to the oracle as well
        asked = original_to_step(self, node)
        if asked is None and self._step(node) is not node:
            wrong.append(f"{node} was taken as settled, but a step changes it")
        return asked

    def checked_adjoint(self, node, position, y, args=None, negated=False, listed=True):
        pair = node.args if args is None else args
        index = importlib.import_module("matcalc.adjoints").candidates    # what the engine uses
        kept = set(map(id, index(self.rules, node.op, position, pair, self.condition)))
        for rule in self.rules.adjoints.get(node.op, ()):
            if id(rule) in kept or len(rule.pattern.args) != len(pair) \
                    or rule.pattern.args[position].value != rule.wrt:
                continue
            tried[0] += 1
            plain = pattern.where_check(rule.where, self.condition)
            if next(iter(pattern.match_args(rule.pattern.args, pair, {},
                                            lambda n, e, c=plain: c(n, e))), None):
                wrong.append(f"adjoint {rule.name} fits {pair} but was left out")
        return original_adjoint(self, node, position, y, args, negated, listed)

    monkeypatch.setattr(Simplifier, "_rewrite", checked)
    monkeypatch.setattr(Simplifier, "_to_step", checked_to_step)
    monkeypatch.setattr(_Engine, "adjoint", checked_adjoint)
    for text, wrt, *declarations in texts:
        shapes, assume = declarations or (None, None)
        f = matcalc.parse(text, shapes=shapes, assume=assume,
                          language=rules.language if rules else None)
        try:
            (matcalc.diff if f.shape else matcalc.hessian)(f, wrt, rules=rules)
        except NoRuleError:
            pass
    return tried[0], wrong


def _random_queries(count: int, seed: int) -> list[tuple]:
    r = random.Random(seed)
    out = []
    while len(out) < count:
        text = write(lambda k: r.randrange(k), r.choice("svrm"), r.randint(1, 4), "n")
        names = sorted(v for v in matcalc.parse(text, shapes=declared("n"),
                                                assume=ASSUME).variables() if v != "α")
        if names:
            out.append((text, r.choice(names), declared("n"), ASSUME))
    return out


def test_no_rule_left_out_by_the_prefilter_matches(monkeypatch):
    tried, wrong = _skipped_matches(monkeypatch, QUERIES + _random_queries(150, 2026))
    assert tried > 10_000                   # the check looked at many rules and pairs
    assert not wrong, "\n".join(wrong[:20])


def test_the_check_catches_a_matcher_shortcut_that_skips_a_match(monkeypatch):
    """Mutation: every anchor is taken to hold the cotangent (C' anywhere, say)."""
    monkeypatch.setattr(pattern.where_check, "containing",
                        lambda self, pat: frozenset({"linear"}))
    _, wrong = _skipped_matches(monkeypatch, [("x'*(-A)*(-B)*(-C)*x", "x")])
    assert any("the matcher says False" in w for w in wrong), wrong


def test_the_check_catches_an_adjoint_index_that_leaves_out_too_much(monkeypatch):
    """Mutation: the adjoint index drops the first rule that may fit."""
    adjoints = importlib.import_module("matcalc.adjoints")
    real = adjoints.candidates
    monkeypatch.setattr(adjoints, "candidates", lambda *a: real(*a)[1:])
    _, wrong = _skipped_matches(monkeypatch, [("x'*A*x", "x"), ("A*X*B", "X")])
    assert any(w.startswith("adjoint ") for w in wrong), wrong


def test_the_check_catches_a_prefilter_that_leaves_out_too_much(monkeypatch):
    """Mutation: a prefilter demanding a number's value that is never there."""
    real = pattern.prefilter

    def broken(pat, where=()):
        needs, kids = real(pat, where)
        if needs is not None and "const" in needs:
            return needs | {("const", float("nan"))}, kids
        return needs, kids

    monkeypatch.setattr("matcalc.simplify.prefilter", broken)
    from matcalc.rules import builtin_rules
    rules = builtin_rules()
    monkeypatch.setattr(rules, "_simplify_indexes", {}, raising=False)    # rebuilt, mutated
    monkeypatch.setattr(rules, "_simplify_recent", {}, raising=False)
    _, wrong = _skipped_matches(monkeypatch, [("2*x + x", "x"), ("(-1)*x'*A*x", "x")])
    assert wrong


def test_the_check_catches_a_nested_prefilter_that_leaves_out_too_much(monkeypatch):
    """Mutation: an associative argument of a fixed pattern ((A + A')') demands an operand
    that is never there."""
    real = pattern.prefilter

    def broken(pat, where=()):
        needs, kids = real(pat, where)
        if needs is None and kids[1]:
            positional, nested = kids
            return None, (positional, tuple((i, n | {"never"}) for i, n in nested))
        return needs, kids

    monkeypatch.setattr("matcalc.simplify.prefilter", broken)
    from matcalc.rules import builtin_rules
    rules = builtin_rules()
    monkeypatch.setattr(rules, "_simplify_indexes", {}, raising=False)    # rebuilt, mutated
    monkeypatch.setattr(rules, "_simplify_recent", {}, raising=False)
    _, wrong = _skipped_matches(monkeypatch, [("x'*A*x", "x")])
    assert wrong


def test_the_check_catches_an_exclusion_that_leaves_out_too_much(monkeypatch):
    """Mutation: every rule taken to be unable to match a node holding the cotangent (as
    if each of its names had to be free of it)."""
    monkeypatch.setattr("matcalc.simplify.subject_excludes",
                        lambda pat, where: frozenset({"linear"}))
    from matcalc.rules import builtin_rules
    rules = builtin_rules()
    monkeypatch.setattr(rules, "_simplify_indexes", {}, raising=False)    # rebuilt, mutated
    monkeypatch.setattr(rules, "_simplify_recent", {}, raising=False)
    _, wrong = _skipped_matches(monkeypatch, [("A*X*B", "X"), ("x'*A", "x")])
    assert any("but was left out" in w for w in wrong), wrong


def test_the_check_catches_a_node_settled_that_a_move_changes(monkeypatch):
    """Mutation: every operator taken to have no canonical or generic move beside its rules
    (a product's scalars no longer keep it from being settled, nor a transposed sum)."""
    simplify = importlib.import_module("matcalc.simplify")
    real = simplify._moves_of
    monkeypatch.setattr(simplify, "_moves_of",
                        lambda lang, op: real(lang, op)[:2] + (simplify._PLAIN,))
    monkeypatch.setattr(simplify, "_MOVES", type(simplify._MOVES)())     # rebuilt, mutated
    _, wrong = _skipped_matches(monkeypatch, [("x*2", "x"), ("x'*A*x", "x"),
                                              ("(A + B + X)'*x", "x")])
    assert any("taken as settled" in w for w in wrong), wrong


def test_the_check_catches_rules_handed_to_the_step_from_the_wrong_index(monkeypatch):
    """Mutation: the identify step tries every rule again on what the prior simplifier left
    as it was (the index chosen without the prior's fixpoints)."""
    monkeypatch.setattr(Simplifier, "_index_for", lambda self, node: self.index)
    _, wrong = _skipped_matches(monkeypatch, QUERIES)
    assert any("not its own" in w for w in wrong), wrong


SECOND_TRANSPOSE = """
functions:
  - name: flip
    signature: transpose
    involution: true
    numeric: transpose
    doc: a second transpose
adjoints:
  - name: flip
    of: "flip(A)"
    wrt: A
    result: "flip(Y)"
    source: "a transpose's adjoint"
identities:
  - name: flip-of-product
    from: "flip(A*B)"
    to: "flip(B)*flip(A)"
    source: "(AB)ᵀ = BᵀAᵀ"
  - name: flip-of-scalar
    from: "flip(a)"
    to: "a"
    where: {a: scalar}
    source: "a scalar is its own transpose"
"""


def test_no_rule_left_out_in_a_language_with_a_second_transpose(monkeypatch, tmp_path):
    """A user's transpose is a transpose to the simplifier (its generic moves on sums and
    fills, and so what keeps a node from being settled without a step)."""
    path = tmp_path / "flip.yaml"
    path.write_text(SECOND_TRANSPOSE, encoding="utf-8")
    rules = matcalc.load_rules(path)
    texts = [("flip(A*x)*x", "x"), ("flip(A + B)*x", "x"), ("flip(X)*flip(X + A)", "X"),
             ("x'*flip(flip(A)*B)*x", "x"), ("tr(flip(X)*A)", "X"), ("flip(x'*A*x)", "x"),
             ("flip(matrix(1))*x", "x"), ("flip(A' + flip(A))*x", "x")]
    tried, wrong = _skipped_matches(monkeypatch, texts, rules)
    assert tried > 200
    assert not wrong, "\n".join(wrong[:20])


def test_a_pattern_of_free_names_excludes_a_subject_holding_the_cotangent():
    """kron(B, A)*vec(X) with every name free cannot match kron(B, A')*vec(C) as a whole;
    a pattern with one name not free (C: linear) excludes nothing."""
    from matcalc.pattern import _frozen, subject_excludes
    from matcalc.rules import builtin_rules
    rules = {r.name: r for r in builtin_rules().identify_all}
    kron = rules["kron-times-vec"]
    assert subject_excludes(kron.pattern, _frozen(kron.where)) == {"linear"}
    sandwich = rules["vec-sandwich"]
    assert subject_excludes(sandwich.pattern, _frozen(sandwich.where)) == frozenset()


def test_a_distributed_rule_gives_what_matching_it_gives():
    """The rules the simplifier applies by distribution, without the matcher ((A*B)' over
    any number of factors; kron(A, B)', inv(A)', (-A)' over a fixed-width operand), on
    operands of their own arity: the result the matcher and instantiate build.  A rule that
    reverses a fixed-width operator's operands is not distributive."""
    from matcalc.build import build
    from matcalc.parse import parse
    from matcalc.pattern import distribute, distributes, instantiate
    from matcalc.rules import builtin_rules
    rules = builtin_rules()
    names = {"kron": ("P", "Q"), "mul": ("P", "Q"), "hadamard": ("P", "Q"), "add": ("P", "Q")}
    seen = set()
    for rule in rules.identities:
        reverse = distributes(rule.pattern, rule.result)
        if reverse is None or rule.where:
            continue
        seen.add(rule.name)
        inner = rule.pattern.args[0]
        operands = [parse(n, shapes={n: ("n", "n")}) for n in names.get(inner.op, ("P",))]
        subject = build(rule.pattern.op, (build(inner.op, operands[:len(inner.args)]),),
                        rule.pattern.value)
        (env, _, _), = list(pattern.match_window(rule.pattern, subject, lambda n, e: True))
        assert distribute(subject, reverse) is instantiate(rule.result, env, {}), rule.name
    assert {"transpose-product", "transpose-kron", "transpose-negation"} <= seen
    kron = parse("kron(A, B)'")
    assert distributes(kron, parse("kron(B', A')")) is None     # not an identity, not taken


def test_long_runs_keep_the_value_and_twice_signatures():
    """A product of 32 or more factors takes the long path of operand_signatures; the rules
    needing a negative number or the same operator twice must still be tried there (the
    review of session 5 found them skipped from exactly 32 factors on)."""
    for n in (29, 31, 40):
        chain = "*".join(["A"] * n)
        assert str(matcalc.diff(f"{chain}*diag(x)*diag(y)*z", "z")).endswith("*diag(x.*y)")
        assert str(matcalc.diff(f"tr((-2)*{chain}*X)", "X")).startswith("-2*")
