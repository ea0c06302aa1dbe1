"""The indexes of a long product made by putting a few factors before a long one (a deep
network's Jacobian, one layer at a time) are grown from the long one's: each must equal the
index built from scratch over the same factors."""

import random
from types import SimpleNamespace

import pytest

from matcalc import expr as E
from matcalc.pattern import (Grown, _op_positions, _shape_index, grown_base, no_scalar,
                             _operand_signatures, where_check)

N = ("n", "n")
MATRICES = [E.var(f"W{i}", N) for i in range(6)]
POOL = (MATRICES
        + [E.make("transpose", (w,), N) for w in MATRICES[:3]]
        + [E.make("neg", (w,), N) for w in MATRICES[3:]]
        + [E.var("a", ()), E.var("b", ()), E.const(2.0)])
X = E.var("x", ("n",))
XT = E.make("transpose", (X,), (1, "n"))
LIVE = frozenset(MATRICES[:2] + [X])           # "free" fails on these


def _free(c, e):
    assert c == "free"
    return e not in LIVE


def _front(r: random.Random) -> tuple:
    """One to three factors to put before a product whose rows are n."""
    if r.random() < 0.15:
        return (X, XT)                          # an outer product: n×1 times 1×n
    return tuple(r.choice(POOL) for _ in range(r.randint(1, 3)))


def _scratch(items: tuple) -> tuple:
    """The same factors in a tuple no splice made: indexed from scratch."""
    return tuple(list(items))


def _indexes(items: tuple, check) -> tuple:
    free = frozenset({"free"})
    shape = _shape_index(items)
    return (
        {op: list(p) for op, p in _op_positions(items).items()},
        (list(shape[0]), list(shape[1]), list(shape[2]),
         {d: list(p) for d, p in shape[3].items()}, {d: list(p) for d, p in shape[4].items()}),
        list(check._positions(free, items, False)),
        list(check._positions(free, items, True)),
        _operand_signatures(SimpleNamespace(op="mul", args=items)),
        no_scalar(items),
    )


@pytest.mark.parametrize("seed", range(12))
def test_grown_indexes_equal_the_indexes_built_from_scratch(seed):
    r = random.Random(seed)
    check = where_check({"v": ["free"]}, _free)
    # distinct factors to start: an operand standing twice comes with the factors put before
    start = tuple(E.var(f"V{i}", N) for i in range(E.LONG_RUN + r.randint(0, 8))) + (X,)
    products = [E.make("mul", start, ("n",))]
    grown = 0
    for _ in range(60):
        # mostly the newest product; sometimes an older one, which another grew from already
        base = products[-1] if r.random() < 0.8 else r.choice(products)
        p = E.make("mul", (*_front(r), base), ("n",))
        assert p.args[-len(base.args):] == base.args
        if grown_base(p.args) is None:
            continue                            # an older product no longer remembered
        _indexes(base.args, check)              # the engine indexes a product before growing it
        got = _indexes(p.args, check)
        assert got == _indexes(_scratch(p.args), check), p
        grown += isinstance(_op_positions(p.args).get("var"), Grown)
        products.append(p)
    assert grown > 30
    assert not no_scalar(products[-1].args) and no_scalar(start)


def test_grown_positions_read_like_a_list():
    g = Grown([0, 3, 4], 3, 9)              # distances from the end of 10 items: 9, 6, 5
    assert list(g) == [5, 6, 9] and len(g) == 3
    assert [g[0], g[1], g[2], g[-1]] == [5, 6, 9, 9] and g[1:] == [6, 9]
    with pytest.raises(IndexError):
        g[3]
    import bisect
    assert bisect.bisect_left(g, 6) == 1 and bisect.bisect_right(g, 9) == 3
