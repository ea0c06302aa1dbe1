"""A sum's terms are ordered by the text of each term without its sign and numeric factor;
a long product is ordered by the text of its first factors, and by its whole text only where
those do not decide (matcalc.simplify._TermText, matcalc.printing.text_head).  Both must
give exactly the order of the whole texts, which is what the answers are printed in."""

import random

import pytest

import matcalc
import matcalc.expr as E
from matcalc.build import build
from matcalc.diff import _Engine
from matcalc.errors import ShapeError
from matcalc.printing import text_head, to_text
from matcalc.rules import builtin_rules
from matcalc.simplify import _HEAD, Simplifier, Trace

RULES = builtin_rules()
LANG = RULES.language
N = ("n", "n")


def _factor(r: random.Random) -> E.Expr:
    """A square matrix factor: a name (some sharing a prefix, A1 and A10), its transpose,
    its inverse, a sum, or a scalar (a number, a name, an inner product) that prints
    inside the product."""
    name = E.var(r.choice(["A1", "A10", "A2", "B", "X"]), N)
    kind = r.randrange(8)
    if kind == 0:
        return build("transpose", (name,), lang=LANG)
    if kind == 1:
        return build("inv", (name,), lang=LANG)
    if kind == 2:
        return build("add", (name, E.var("C", N)), lang=LANG)
    if kind == 3:
        return E.const(r.choice([2.0, 0.5, 3.0]))
    if kind == 4:
        x = E.var("x", ("n",))
        return build("mul", (build("transpose", (x,), lang=LANG), x), lang=LANG)
    return name


def _product(r: random.Random, length: int) -> E.Expr:
    """A product of ``length`` factors (at least two), one of them a matrix name."""
    while True:
        factors = [_factor(r) for _ in range(max(length, 2) - 1)] + [E.var("B", N)]
        r.shuffle(factors)
        try:
            return build("mul", factors, lang=LANG)
        except ShapeError:
            continue


def _terms(r: random.Random, count: int) -> list[E.Expr]:
    """Long products, several of them rotations of one another or alike for their first
    factors, some short ones, some negated, some with a number in front."""
    base = [_factor(r) for _ in range(r.randint(_HEAD + 1, 3 * _HEAD))]
    out = []
    for _ in range(count):
        pick = r.randrange(4)
        if pick == 0:
            k = r.randrange(len(base))
            t = build("mul", base[k:] + base[:k], lang=LANG)
        elif pick == 1:
            t = build("mul", base[:-1] + [_factor(r)], lang=LANG)
        elif pick == 2:
            t = _product(r, r.randint(1, _HEAD + 4))
        else:
            t = _product(r, r.randint(_HEAD, 3 * _HEAD))
        if r.random() < 0.2:
            t = build("mul", (E.const(r.choice([2.0, 3.0])), t), lang=LANG)
        if r.random() < 0.3:
            t = build("neg", (t,), lang=LANG)
        out.append(t)
    return out


def _simplifier() -> Simplifier:
    trace = Trace()
    engine = _Engine(RULES, E.var("X", N), None, trace)
    return Simplifier(RULES, RULES.identities, engine.condition, trace)


def _by_whole_text(s: Simplifier, terms: list) -> tuple:
    """The order by definition: minus signs last, then the cores' whole texts."""
    def key(t):
        core = s._core(t)
        return (t.op == "neg", to_text(core).replace("'", "~"))
    return tuple(sorted(terms, key=key))


@pytest.mark.parametrize("seed", range(6))
def test_long_products_order_as_their_whole_texts(seed):
    r = random.Random(seed)
    s = _simplifier()
    decided_by_heads = 0
    for _ in range(40):
        terms = _terms(r, r.randint(2, 12))
        assert s._sorted_terms(tuple(terms)) == _by_whole_text(s, terms)
        cores = [s._core(t) for t in terms]
        heads = {text_head(c, _HEAD) for c in cores if c.op == "mul" and len(c.args) > _HEAD}
        decided_by_heads += len(heads) > 1
    assert decided_by_heads > 20         # the heads decided, not only the whole texts


@pytest.mark.parametrize("seed", range(4))
def test_the_head_of_a_product_begins_its_text(seed):
    r = random.Random(100 + seed)
    for _ in range(200):
        p = _product(r, r.randint(1, 3 * _HEAD))
        for k in (1, 2, _HEAD, len(p.args)):
            head = text_head(p, k)
            assert to_text(p).startswith(head)
            if p.op == "mul" and len(p.args) > k:
                assert len(head) < len(to_text(p))


def test_the_trace_product_orders_its_rotations_as_before():
    d = matcalc.diff("tr(" + "*".join(f"A{i}*X" for i in range(1, 13)) + ")", "X")
    terms = d.args
    assert len(terms) == 12
    texts = [to_text(t).replace("'", "~") for t in terms]
    assert texts == sorted(texts)
