"""The group sizes matching tries for a name with shape conditions, found from the factors'
dimensions (``where_check.sizes``), are exactly those the one-by-one shape probe allows."""

import random

import pytest

from matcalc import expr as E
from matcalc.pattern import where_check

SHAPES = [(), ("n",), (1, "n"), ("n", "n"), ("n", "m"), ("m", "n"), ("m",), (1, "m")]
CONDITIONS = ["scalar", "nonscalar", "vector", "row", "matrix", "square"]


def _condition(c, e):
    s = e.shape
    return {"scalar": not s, "nonscalar": bool(s), "vector": len(s) == 1,
            "row": len(s) == 2 and s[0] == 1, "matrix": len(s) == 2 and s[0] != 1,
            "square": len(s) == 2 and s[0] == s[1]}[c]


def _chain(r: random.Random, n: int) -> tuple:
    """``n`` factors whose non-scalar ones chain (only their end dimensions matter here)."""
    items, cols = [], None
    for i in range(n):
        choices = [s for s in SHAPES if not s or cols is None or s[0] == cols]
        s = r.choice(choices)
        if s:
            cols = 1 if len(s) == 1 else s[1]
        items.append(E.var(f"f{i}", s))
    return tuple(items)


@pytest.mark.parametrize("seed", range(200))
def test_sizes_agree_with_the_probe(seed):
    r = random.Random(seed)
    items = _chain(r, r.randint(1, 30))
    conds = r.sample(CONDITIONS, r.randint(1, 2))
    check = where_check({"v": conds}, _condition)
    n = len(items)
    for _ in range(10):
        step = r.choice([1, -1])
        start = r.randrange(n)
        reach = n - start if step > 0 else start + 1
        room = r.randint(1, reach)
        least = r.randint(1, max(1, room // 4))     # mostly wide: the dimension search
        got = list(check.sizes("v", "mul", items, start, room, least, step))
        want = [k for k in range(room, least - 1, -1)
                if k == 1 or check.may_take("v", "mul", items,
                                            *((start, start + k) if step > 0
                                              else (start + 1 - k, start + 1)))]
        assert got == want, (items, conds, start, room, least, step)


def test_a_long_product_where_no_run_fits_yields_only_single_factors():
    items = tuple(E.var(f"W{i}", ("n", "n")) for i in range(200))
    check = where_check({"v": ["vector"]}, _condition)
    assert list(check.sizes("v", "mul", items, 0, 200, 1, 1)) == [1]
    assert list(check.sizes("v", "mul", items, 199, 200, 1, -1)) == [1]


# ---------------------------------------------------------------- clean runs

def _factor_pool():
    from matcalc.build import build
    n = ("n", "n")
    A, B = E.var("A", n), E.var("B", n)
    x, u = E.var("x", ("n",)), E.var("u", ("n",))
    cot = E.var("C", ("n",), frozenset({"cotangent"}))
    square = [A, B, build("transpose", (A,)), build("diag", (u,)), build("eye", (), shape=n),
              build("inv", (B,)), build("mul", (x, build("transpose", (cot,))))]
    return square, x, cot


@pytest.mark.parametrize("seed", range(60))
def test_clean_runs_skip_only_windows_that_stay_inside_them(seed):
    """match_window with clean runs yields exactly the windows that the plain search yields
    and that reach out of every clean run (the skipped anchors and starts had none)."""
    from matcalc.build import build
    from matcalc.diff import _Engine
    from matcalc.pattern import _stale, _inside, match_window
    from matcalc.rules import builtin_rules
    from matcalc.simplify import Trace

    r = random.Random(seed)
    square, x, cot = _factor_pool()
    factors = [r.choice(square) for _ in range(r.randint(3, 16))]
    factors.append(r.choice([x, cot, r.choice(square)]))
    node = build("mul", factors)
    n = len(node.args)
    clean, i = [], 0
    while i < n - 1:                                   # random disjoint runs of 2+ operands
        if r.random() < 0.4:
            hi = r.randint(i + 2, n if i > 0 else n - 1)   # a proper part, as in use
            clean.append((i, hi))
            i = hi
        else:
            i += 1
    clean = tuple(clean)
    rules = builtin_rules()
    engine = _Engine(rules, x, cot, Trace())
    inside = _inside(clean, n)
    tried = 0
    for rule in rules.identify_all:
        if rule.pattern.op != "mul":
            continue
        check = where_check(rule.where, engine.condition)
        fast = {(s, t, tuple(sorted(env.items(), key=lambda kv: kv[0])))
                for env, s, t in match_window(rule.pattern, node, check, clean=clean)}
        plain = {(s, t, tuple(sorted(env.items(), key=lambda kv: kv[0])))
                 for env, s, t in match_window(rule.pattern, node,
                                               where_check(rule.where, engine.condition))
                 if not (inside and _stale(inside, s, t))}
        assert fast == plain, (rule.name, str(node), clean)
        tried += 1
    assert tried > 20
