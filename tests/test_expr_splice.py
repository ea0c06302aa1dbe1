"""How a product spliced into a product is flattened (matcalc.expr._splice_products).

A nested product is spliced in exactly where its factors, the factors before it and the
operands after it still form one matrix chain (A*(x'*y) keeps the scalar x'*y whole); the
function checks this only where the pieces meet, with a shortcut for the usual case where
everything chains.  Here both are compared with that definition, written plainly, on random
well-shaped products of scalars, vectors, rows and matrices (nested ones made by build).
"""

import random

import pytest

import matcalc.expr as E
from matcalc.build import build
from matcalc.errors import ShapeError
from matcalc.language import builtin_language

LANG = builtin_language()
DIMS = ["n", "m", "k"]


def _leaf(r: random.Random) -> E.Expr:
    a, b = r.choice(DIMS), r.choice(DIMS)
    shape = r.choice([(), (a,), (1, a), (a, b), (a, b)])
    return E.var(r.choice("ABCxyz") + str(len(shape)), shape)


def _product(r: random.Random, depth: int) -> E.Expr:
    for _ in range(50):
        args = [_leaf(r) if depth == 0 or r.random() < 0.6 else _product(r, depth - 1)
                for _ in range(r.randint(2, 4))]
        try:
            return build("mul", args, lang=LANG)
        except ShapeError:
            continue
    return _leaf(r)


def _by_definition(args: tuple) -> tuple[tuple, bool]:
    flat: list = []
    for i, a in enumerate(args):
        if a.op == "mul" and E._matrix_chain(a.args) and \
                E._matrix_chain(flat + list(a.args) + list(args[i + 1:])):
            flat.extend(a.args)
        else:
            flat.append(a)
    return tuple(flat), E._matrix_chain(flat)


@pytest.mark.parametrize("seed", range(4))
def test_splicing_follows_its_definition(seed):
    r = random.Random(seed)
    checked = spliced = kept = 0
    for _ in range(1500):
        args = tuple(_product(r, 1) if r.random() < 0.5 else _leaf(r)
                     for _ in range(r.randint(2, 4)))
        if not any(a.op == "mul" for a in args):
            continue
        flat, chain, _ = E._splice_products(args)
        assert (flat, bool(chain)) == _by_definition(args), args
        checked += 1
        spliced += len(flat) > len(args)
        kept += any(a.op == "mul" for a in flat)
    # both ways were met many times: spliced in, and kept whole
    assert checked > 1000 and spliced > 200 and kept > 200, (checked, spliced, kept)


def test_the_longest_long_product_spliced_in_is_remembered_with_where_it_starts():
    A, B = E.var("A", ("n", "n")), E.var("B", ("n", "n"))
    x, y = E.var("x", ("n",)), E.var("y", ("n",))
    long = build("mul", [A] * E.LONG_RUN, lang=LANG)
    longer = build("mul", [B] * (E.LONG_RUN + 3), lang=LANG)
    flat, chain, base = E._splice_products((A, long, x))
    assert chain and len(flat) == E.LONG_RUN + 2 and base == (long.args, 1)
    flat, chain, base = E._splice_products((long, A, longer))
    assert chain and base == (longer.args, E.LONG_RUN + 1)
    # kept whole (a scalar y'*A*...*A*x between matrices): nothing long spliced in
    scalar = build("mul", [build("transpose", (y,), lang=LANG), long, x], lang=LANG)
    flat, chain, base = E._splice_products((A, scalar, B))
    assert flat == (A, scalar, B) and base is None
