"""The simplifier's prefilter is a necessary condition: a rule it leaves out never matches.

The prefilter (matcalc.pattern.prefilter / passes) decides from a node's operands' operators,
first operands, numbers, scalar and repeated operands which rules may apply; a wrong
shortcut there would silently skip a rule and leave an answer unsimplified (or refuse it).
Here every node the simplifiers visit while differentiating the bench queries and a fixed
sample of random expressions is matched against every rule the prefilter left out: none may
match.  A mutation test shows the check can fail.
"""

from __future__ import annotations

import random

import pytest

import matcalc
from matcalc import pattern
from matcalc.diff import NoRuleError
from matcalc.simplify import Simplifier
from test_printing import ASSUME, declared, write

QUERIES = [("a'*x", "x"), ("x'*A*x", "x"), ("norm2(x)^2", "x"), ("norm2(A*x - b)^2", "x"),
           ("exp(x)", "x"), ("tr(A*X)", "X"), ("tr(X'*A*X)", "X"), ("log(det(X))", "X"),
           ("det(X)", "X"), ("tr(inv(X)*A)", "X"), ("A*X*B", "X"), ("x'*A*x + b'*x", "x"),
           ("(A*x)'*(B*x)", "x"), ("tr(A*X*B*X')", "X"), ("2*x + x", "x"),
           ("x'*x + x'*x", "x"), ("(-1)*x'*A*x", "x"), ("-3*x'*A*x + 1*x'*x", "x"),
           ("sum(x.*x + 0*x)", "x"), ("u.*2 + x", "x"), ("x*x'*x", "x")]


def _skipped_matches(monkeypatch, texts) -> tuple[int, list[str]]:
    """(number of (node, left-out rule) pairs tried, those that matched after all)."""
    wrong: list[str] = []
    tried = [0]
    original = Simplifier._rewrite

    def checked(self, node):
        index = self.index
        if self._prior_fixpoints is not None and node in self._prior_fixpoints:
            index = self._extra_index
        kept = set(map(id, index.candidates(node, self.condition)))
        for rule, _test in index.by_op.get(node.op, ()):
            if id(rule) in kept or rule.name in index.distributive:
                continue
            tried[0] += 1
            if next(iter(pattern.match_window(rule.pattern, node, self._check(rule))), None):
                wrong.append(f"{rule.name} matches {node} but was left out")
        return original(self, node)

    monkeypatch.setattr(Simplifier, "_rewrite", checked)
    for text, wrt, *declarations in texts:
        shapes, assume = declarations or (None, None)
        f = matcalc.parse(text, shapes=shapes, assume=assume)
        try:
            (matcalc.diff if f.shape else matcalc.hessian)(f, wrt)
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
    assert tried > 1000                     # the check looked at many left-out rules
    assert not wrong, "\n".join(wrong[:20])


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
