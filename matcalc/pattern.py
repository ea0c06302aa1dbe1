"""Patterns written in the expression language: matching and instantiation.

A pattern is an Expr whose variables are metavariables.  A metavariable matches any
subexpression that satisfies the rule's ``where`` conditions; the same metavariable twice must
match the same (hash-consed, so identical) subexpression.  Shapes in a pattern only served to
validate the rule when it was loaded: matching ignores them.

Associative operators (``add``, ``mul``, ``hadamard``) are n-ary.  A pattern argument list
matches a subject's argument list by splitting the subject's operands into as many contiguous
groups as the pattern has arguments (``A*B`` matches ``x'*A*x`` as ``x'`` · ``A*x`` and as
``x'*A`` · ``x``); at the root of a rule, the pattern may also match a contiguous window of the
operands, which the rewrite then replaces.

Matching is a generator of bindings, so a failed condition further on backtracks.
"""

from __future__ import annotations

import bisect
import functools
import operator
import threading
from collections import OrderedDict
from typing import Callable, Iterable, Iterator

from matcalc import expr as E
from matcalc.build import build, filled
from matcalc.errors import MatcalcError

Check = Callable[[str, E.Expr], bool]


# Conditions only a single operand can meet (a group of operands is a product, never a
# number or the cotangent itself): a name carrying one of them never takes a group.
SINGLE_CONDITIONS = frozenset({"number", "nonzero-number", "negative", "integer", "cotangent"})
# Conditions a product meets exactly when each of its factors does.
CONJUNCTIVE_CONDITIONS = frozenset({"free", "constant"})
# Conditions decided by a shape alone.
SHAPE_CONDITIONS = frozenset({"scalar", "nonscalar", "vector", "row", "matrix", "square"})


_CLASSIFIED: dict[int, tuple] = {}        # id(where) -> (where, its classification)


class _Recent:
    """Values computed from objects, kept for the ``size`` most recently used (an entry
    holds its objects, so no id in its key can be reused while it is kept)."""

    __slots__ = ("size", "data")

    def __init__(self, size: int):
        self.size, self.data = size, OrderedDict()

    def get(self, key, objects: tuple):
        hit = self.data.get(key)
        if hit is None or len(hit[0]) != len(objects) or any(
                a is not b for a, b in zip(hit[0], objects)):
            return None
        self.data.move_to_end(key)
        return hit[1]

    def put(self, key, objects: tuple, value) -> None:
        self.data[key] = (objects, value)
        self.data.move_to_end(key)
        if len(self.data) > self.size:
            self.data.popitem(last=False)


class Grown:
    """Ascending positions among the ``n`` items of a run that grew at its front, read like a
    list (``len``, indexing, slices, ``bisect``, iteration).

    Kept as distances from the run's end (``n - 1 - i``, ascending) in a list shared with the
    run it grew from: a run that is a long one with a few factors put before it (see
    :func:`matcalc.expr.spliced`) appends the new factors' distances and reads the rest as
    they are, so its index costs what it adds, not its length.  The first run to grow from
    a list appends to it in place (each reads only its first ``count`` entries); another
    copies it."""

    __slots__ = ("dist", "count", "last")

    def __init__(self, dist: list, count: int, last: int):
        self.dist, self.count, self.last = dist, count, last

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, j):
        if j.__class__ is slice:
            return [self[k] for k in range(*j.indices(self.count))]
        if j < 0:
            j += self.count
        if not 0 <= j < self.count:
            raise IndexError(j)
        return self.last - self.dist[self.count - 1 - j]

    def __iter__(self):
        dist, last = self.dist, self.last
        return (last - dist[k] for k in range(self.count - 1, -1, -1))

    def __repr__(self) -> str:
        return f"Grown({list(self)!r})"


def grown(base_positions, n_base: int, front, lo: int) -> Grown:
    """The positions among ``lo`` new factors followed by a run of ``n_base`` items: those
    of the new ones (``front``, ascending, below ``lo``), then the run's (``base_positions``,
    a list or a :class:`Grown`, shifted by ``lo``)."""
    last = n_base + lo - 1
    new = [last - i for i in reversed(front)]
    if base_positions.__class__ is Grown:
        with _GROWING:                      # (two threads must not extend one list)
            dist, count = base_positions.dist, base_positions.count
            if len(dist) != count:          # another run grew from it already
                dist = dist[:count]
            dist.extend(new)
            return Grown(dist, len(dist), last)
    dist = [n_base - 1 - i for i in reversed(base_positions)]   # indexed from scratch
    dist.extend(new)
    return Grown(dist, len(dist), last)


_GROWING = threading.Lock()


def grown_base(items: tuple) -> tuple | None:
    """(the long run of items a product's factors grew from at their front, how many factors
    were put before it), or None: then its indexes are built from scratch."""
    if len(items) < E.LONG_RUN:
        return None
    found = E.spliced(items)
    if found is None or found[1] + len(found[0]) != len(items):
        return None
    return found


def _grown_dict(base: dict, n_base: int, front: dict, lo: int) -> dict:
    """A dict of position lists (by operator, by dimension) for ``lo`` new factors before a
    run, from the run's and the new factors' (each key's list grown, or read as it is)."""
    return {key: grown(base.get(key, ()), n_base, front.get(key, ()), lo)
            for key in base.keys() | front.keys()}


# next/previous failing factor per (conditions, run), kept by the engine whose conditions they
# are (``run_cache``, gone with it); checks over a plain function share this small one
_LOCAL_RUNS: dict = {}


def _frozen(where: dict) -> tuple:
    return tuple(sorted((name, frozenset(conds)) for name, conds in where.items()))


@functools.lru_cache(maxsize=2048)
def _classified(where: tuple) -> tuple:
    """The names of a ``where`` by what matching may assume of them (computed once)."""
    single = frozenset(name for name, conds in where if not SINGLE_CONDITIONS.isdisjoint(conds))
    shaped = {name: conds & SHAPE_CONDITIONS for name, conds in where
              if conds & SHAPE_CONDITIONS}
    conjunctive = {name: conds & CONJUNCTIVE_CONDITIONS for name, conds in where
                   if conds & CONJUNCTIVE_CONDITIONS}
    return single, shaped, conjunctive


_CONTAINING: dict = {}              # (pattern, where) -> where_check.containing's answer


def _holding(condition, conds, items: tuple, holding: bool) -> list:
    """The positions of ``items`` where every condition of ``conds`` holds (``holding``) or
    some fails, ascending (an engine's ``holds_each`` reads them all at once)."""
    each = getattr(getattr(condition, "__self__", None), "holds_each", None)
    ok = None
    for c in conds:
        got = each(c, items) if each is not None else None
        if got is None:
            got = [condition(c, item) for item in items]
        ok = got if ok is None else [a and b for a, b in zip(ok, got)]
    return ([i for i, v in enumerate(ok) if v] if holding else
            [i for i, v in enumerate(ok) if not v])


class where_check:
    """The check for a rule's ``where``: every condition on a name holds for what it binds.

    ``single`` names the metavariables that only one operand can satisfy (see
    :data:`SINGLE_CONDITIONS`), so matching never builds a group for them."""

    __slots__ = ("where", "condition", "single", "shaped", "conjunctive")

    def __init__(self, where: dict, condition: Callable[[str, E.Expr], bool]):
        self.where = where
        self.condition = condition
        hit = _CLASSIFIED.get(id(where))
        if hit is None or hit[0] is not where:
            if len(_CLASSIFIED) > 10_000:
                _CLASSIFIED.clear()
            hit = _CLASSIFIED[id(where)] = (where, _classified(_frozen(where)))
        self.single, self.shaped, self.conjunctive = hit[1]

    def longest(self, name: str, op: str, items: tuple, start: int, room: int,
                step: int) -> int:
        """How many operands from ``items[start]`` on (``step`` 1, rightwards; -1, leftwards),
        at most ``room``, can be in a group for ``name``: a condition that holds for a
        product exactly when it holds for each factor stops at the first factor failing it."""
        conds = self.conjunctive.get(name)
        if not conds or op not in E.PRODUCTS:
            return room
        fails = self._failures(name, conds, items)
        if step > 0:
            return max(1, min(room, _next_failing(fails, start, len(items)) - start))
        return max(1, min(room, start - _last_failing(fails, start)))

    def _failures(self, name: str, conds, items: tuple) -> list:
        """The positions of the factors failing ``conds``, ascending."""
        return self._positions(conds, items, False)

    def _positions(self, conds, items: tuple, holding: bool) -> list:
        """The positions of ``items`` where every condition of ``conds`` holds (``holding``)
        or some fails, ascending; computed once per run of operands and set of conditions
        (shared by every check whose conditions come from the same engine)."""
        condition = self.condition
        store = getattr(getattr(condition, "__self__", None), "run_cache", None)
        if store is None:                   # a plain condition function
            store = _LOCAL_RUNS
        key = (conds, holding, id(condition), id(items))
        hit = store.get(key)
        if hit is not None and hit[0] is items and hit[1] is condition:
            return hit[2]
        out = None
        found = grown_base(items)
        if found is not None:               # a long run with a few factors before it
            base, lo = found
            hit = store.get((conds, holding, id(condition), id(base)))
            if hit is not None and hit[0] is base and hit[1] is condition:
                out = grown(hit[2], len(base), _holding(condition, conds, items[:lo], holding),
                            lo)
        if out is None:
            out = _holding(condition, conds, items, holding)
        if len(store) > 1024:
            store.clear()
        store[key] = (items, condition, out)
        return out

    def __call__(self, name: str, e: E.Expr) -> bool:
        condition = self.condition
        for c in self.where.get(name, ()):
            if not condition(c, e):
                return False
        return True

    def containing(self, pat: E.Expr) -> frozenset:
        """The :data:`CONTAINING` conditions whatever ``pat`` matches must meet: those of
        the names in it (``C'`` with C the cotangent matches only what contains it);
        worked out once per pattern and ``where``."""
        key = (id(pat), id(self.where))
        hit = _CONTAINING.get(key)
        if hit is not None and hit[0] is pat and hit[1] is self.where:
            return hit[2]
        out = frozenset(CONTAINING[c] for node in pat.walk() if node.op == "var"
                        for c in self.where.get(node.value, ()) if c in CONTAINING)
        if len(_CONTAINING) > 10_000:
            _CONTAINING.clear()
        _CONTAINING[key] = (pat, self.where, out)
        return out

    def meeting(self, conds: frozenset, items: tuple) -> list:
        """The positions of ``items`` meeting every condition of ``conds``, ascending."""
        return self._positions(conds, items, True)

    def sizes(self, name: str, op: str, items: tuple, start: int, room: int, least: int,
              step: int):
        """The group sizes, from ``room`` down to ``least``, of a run for ``name`` from
        ``items[start]`` on (``step`` 1, rightwards; -1, leftwards) that may meet its shape
        conditions (size 1 always: the match decides it).  The same as asking
        :meth:`may_take` of each size, but a run's shape depends only on its end factors, so
        sizes are found by the distinct dimensions of the factors, not one by one: a long
        product where no run fits costs no more than a short one."""
        conds = self.shaped.get(name)
        if not conds or op not in E.PRODUCTS or room - least < 8:
            return _probed_sizes(lambda lo, hi: self.may_take(name, op, items, lo, hi),
                                 start, room, least, step)
        ok = {}

        def fits(shape):
            hit = ok.get(shape)
            if hit is None:
                probe = _Shaped(shape)
                hit = ok[shape] = all(self.condition(c, probe) for c in conds)
            return hit

        return _fitting_sizes(_shape_index(items), start, room, least, step, fits)

    def may_take(self, name: str, op: str, items: tuple, lo: int, hi: int) -> bool:
        """Whether the run ``items[lo:hi]`` of an ``op`` product can meet the shape
        conditions on ``name``, decided from its end factors without building it."""
        conds = self.shaped.get(name)
        if not conds or op not in E.PRODUCTS:
            return True
        probe = _Shaped(E.run_shape(items, lo, hi))
        return all(self.condition(c, probe) for c in conds)


def _next_failing(fails: list, i: int, n: int) -> int:
    """The first position ≥ i in the ascending list ``fails``, or n."""
    k = bisect.bisect_left(fails, i)
    return fails[k] if k < len(fails) else n


def _last_failing(fails: list, i: int) -> int:
    """The last position ≤ i in the ascending list ``fails``, or -1."""
    k = bisect.bisect_right(fails, i) - 1
    return fails[k] if k >= 0 else -1


_SHAPE_INDEXES = _Recent(1024)


def _shape_index(items: tuple) -> tuple:
    """Where a product's non-scalar factors stand, and the positions by rows and by columns
    (a column vector has one column): computed once per run of factors."""
    hit = _SHAPE_INDEXES.get(id(items), (items,))
    if hit is not None:
        return hit
    found = grown_base(items)
    if found is not None:                   # a long run with a few factors before it
        base, lo = found
        had = _SHAPE_INDEXES.get(id(base), (base,))
        if had is not None:
            front = _shape_index(items[:lo]) if lo else ((), (), (), {}, {})
            n = len(base)
            index = (grown(had[0], n, front[0], lo), _Ends(items, 0), _Ends(items, 1),
                     _grown_dict(had[3], n, front[3], lo), _grown_dict(had[4], n, front[4], lo))
            _SHAPE_INDEXES.put(id(items), (items,), index)
            return index
    shapes = [f.shape for f in items]
    pos = [i for i, sh in enumerate(shapes) if sh]
    rows = [sh[0] if sh else None for sh in shapes]
    cols = [(sh[1] if len(sh) == 2 else 1) if sh else None for sh in shapes]
    by_rows, by_cols = _positions_by(rows, pos), _positions_by(cols, pos)
    index = (pos, rows, cols, by_rows, by_cols)
    _SHAPE_INDEXES.put(id(items), (items,), index)
    return index


class _Ends:
    """The rows (``which`` 0) or columns (1; a column vector has one) of each of ``items``,
    None for a scalar, read like the list :func:`_shape_index` makes, one entry at a time."""

    __slots__ = ("items", "which")

    def __init__(self, items: tuple, which: int):
        self.items, self.which = items, which

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        if i.__class__ is slice:
            return [self[k] for k in range(*i.indices(len(self.items)))]
        sh = self.items[i].shape
        if not sh:
            return None
        return sh[0] if self.which == 0 else sh[1] if len(sh) == 2 else 1


def no_scalar(items: tuple) -> bool:
    """Whether every factor of a product is a vector or matrix.  A long product reads it off
    its shape index when that is at hand or grows from the index of the product it was made
    from (see :func:`grown_base`); else each factor is looked at (in C: cheaper than
    building the index for it)."""
    if len(items) >= E.LONG_RUN:
        index = _SHAPE_INDEXES.get(id(items), (items,))
        if index is None:
            found = grown_base(items)
            if found is not None and _SHAPE_INDEXES.get(id(found[0]), (found[0],)) is not None:
                index = _shape_index(items)
        if index is not None:
            return len(index[0]) == len(items)
    return all(map(_SHAPE, items))


def _positions_by(dims: list, pos: list) -> dict:
    """The positions ``pos`` grouped by ``dims[i]`` (ascending in each group); a product has
    few distinct dimensions, so one comprehension per dimension beats a loop in Python."""
    distinct = set(dims)
    distinct.discard(None)
    if len(distinct) <= 4:
        return {d: [i for i in pos if dims[i] == d] for d in distinct}
    out: dict = {}
    for i in pos:
        out.setdefault(dims[i], []).append(i)
    return out


def _fitting_sizes(index: tuple, start: int, room: int, least: int, step: int, fits) -> list:
    """Sizes (descending, within [least, room]) of runs from ``start`` whose shape ``fits``.

    Growing rightwards a run's rows are fixed by its first non-scalar factor and its columns
    are those of its last one, so the runs ending in factors of one column count share a
    shape; leftwards, the mirror image.  A run of scalars only is a scalar."""
    from matcalc.shapes import normalise
    pos, rows, cols, by_rows, by_cols = index
    lo_s, hi_s = max(least, 1), room
    if lo_s > hi_s:
        return []
    allowed: list[tuple[int, int]] = []               # inclusive ranges of sizes
    if step > 0:
        k = bisect.bisect_left(pos, start)
        first = pos[k] if k < len(pos) and pos[k] < start + room else None
        scalar_top = room if first is None else first - start
        if first is not None:
            fixed, groups, ends = rows[first], by_cols, lambda c: (fixed, c)
    else:
        k = bisect.bisect_right(pos, start) - 1
        first = pos[k] if k >= 0 and pos[k] > start - room else None
        scalar_top = room if first is None else start - first
        if first is not None:
            fixed, groups, ends = cols[first], by_rows, lambda r: (r, fixed)
    if scalar_top >= 1 and fits(()):
        allowed.append((1, scalar_top))
    if first is not None:
        every = True
        for dim, where in groups.items():
            if not fits(normalise(*ends(dim))):
                every = False
                continue
            # the factors of this dimension within reach, each ending a range of runs
            if step > 0:
                a = bisect.bisect_left(where, first)
                b = bisect.bisect_left(where, start + room)
                for j in where[a:b]:
                    nxt = bisect.bisect_right(pos, j)
                    stop = pos[nxt] if nxt < len(pos) else start + room
                    allowed.append((j - start + 1, min(stop, start + room) - start))
            else:
                a = bisect.bisect_right(where, start - room)
                b = bisect.bisect_right(where, first)
                for j in where[a:b]:
                    prv = bisect.bisect_left(pos, j) - 1
                    stop = pos[prv] if prv >= 0 else start - room
                    allowed.append((start - j + 1, start - max(stop, start - room)))
        if every and (scalar_top < 1 or fits(())):
            return list(range(hi_s, lo_s - 1, -1))
    out = {1} if lo_s <= 1 else set()
    for a, b in allowed:
        out.update(range(max(a, lo_s), min(b, hi_s) + 1))
    return sorted(out, reverse=True)


class _Shaped:
    """Stands in for an expression when only its shape is asked."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple):
        self.shape = shape


_SEARCH = object()           # _match_one_way: the match needs the backtracking search


def match(pat: E.Expr, subj: E.Expr, env: dict, check: Check) -> Iterator[dict]:
    """Bindings (extending ``env``) under which ``pat`` matches ``subj``."""
    yield from _matches(pat, subj, env, check)


def _matches(pat: E.Expr, subj: E.Expr, env: dict, check: Check) -> Iterable[dict]:
    """:func:`match` as an iterable: a tuple in the usual case of one way or none (no
    generator to close when the caller stops at the first), else the search."""
    found = _match_one_way(pat, subj, env, check)
    if found is _SEARCH:
        return _search(pat, subj, env, check)
    return () if found is None else (found,)


def _search(pat: E.Expr, subj: E.Expr, env: dict, check: Check) -> Iterator[dict]:
    """:func:`match` where an associative pattern meets more operands than it has: each of
    the ways its names may group them, by backtracking."""
    if pat.op == "var":
        name = pat.value
        bound = env.get(name)
        if bound is not None:
            if bound is subj:
                yield env
            return
        if check(name, subj):
            yield {**env, name: subj}
        return
    if pat.op != subj.op or pat.value != subj.value:
        return
    if pat.op == "const":
        yield env
        return
    if pat.op in E.FLATTEN and len(subj.args) > len(pat.args):
        yield from _match_all(pat.op, pat.args, subj.args, env, check)
        return
    if len(pat.args) != len(subj.args):
        return
    yield from match_args(pat.args, list(subj.args), env, check)


def match_args(pats, subjs, env, check) -> Iterator[dict]:
    if not pats:
        yield env
        return
    found = _match_args_one_way(pats, subjs, env, check)
    if found is not _SEARCH:
        if found is not None:
            yield found
        return
    for env2 in match(pats[0], subjs[0], env, check):
        yield from match_args(pats[1:], subjs[1:], env2, check)


def _match_args_one_way(pats, subjs, env: dict, check: Check):
    """:func:`_match_one_way` of each pattern argument against its operand in turn, each
    extending the bindings of those before: the bindings, None, or ``_SEARCH``."""
    found = env
    for p, s in zip(pats, subjs):
        found = _match_one_way(p, s, found, check)
        if found is None or found is _SEARCH:
            return found
    return found


def _match_one_way(pat: E.Expr, subj: E.Expr, env: dict, check: Check):
    """The binding (extending ``env``, which is not changed) under which ``pat`` matches
    ``subj`` when there is at most one, operand against argument, or None; ``_SEARCH`` when
    an associative pattern meets more operands than it has arguments (its names may group
    them in several ways: :func:`_search`).  The usual case, decided without generators;
    the structure is compared first, the names' conditions after, as it fails more
    cheaply."""
    out = env
    todo = [(pat, subj)]
    while todo:
        p, s = todo.pop()
        if p.op == "var":
            name = p.value
            bound = out.get(name)
            if bound is None:
                if out is env:
                    out = dict(env)
                out[name] = s
            elif bound is not s:
                return None
            continue
        if p.op != s.op or p.value != s.value:
            return None
        if len(p.args) != len(s.args):
            if len(s.args) > len(p.args) and p.op in E.FLATTEN:
                return _SEARCH
            return None
        if p.args:
            todo.extend(zip(reversed(p.args), reversed(s.args)))   # left operand first
    if out is not env:
        for name, s in out.items():
            if name not in env and not check(name, s):
                return None
    return out


def _can_take_many(op: str, pat: E.Expr) -> bool:
    """Whether a pattern argument may match several operands of an ``op`` run at once."""
    return pat.op == "var" or pat.op == op


def _is_anchor(op: str, pat: E.Expr) -> bool:
    """A pattern argument that matches exactly one operand of an ``op`` run."""
    return pat.op != "var" and pat.op != op


def _single(p: E.Expr, check) -> bool:
    return p.op == "var" and p.value in getattr(check, "single", ())


def _may_take(check, p: E.Expr, op: str, items: tuple, lo: int, hi: int) -> bool:
    may_take = getattr(check, "may_take", None)
    return p.op != "var" or may_take is None or may_take(p.value, op, items, lo, hi)


def _sizes(check, p: E.Expr, op: str, items: tuple, start: int, room: int, least: int,
           step: int):
    """Group sizes to try for ``p`` from ``items[start]`` (see :meth:`where_check.sizes`)."""
    sizes = getattr(check, "sizes", None)
    if p.op == "var" and sizes is not None:
        return sizes(p.value, op, items, start, room, least, step)
    return _probed_sizes(lambda lo, hi: _may_take(check, p, op, items, lo, hi),
                         start, room, least, step)


def _probed_sizes(may_take, start: int, room: int, least: int, step: int) -> list:
    """Sizes from ``room`` down to ``least`` whose run from ``start`` (rightwards when
    ``step`` > 0, else leftwards) ``may_take(lo, hi)`` allows, one by one (size 1 always)."""
    return [k for k in range(room, least - 1, -1)
            if k == 1 or may_take(*((start, start + k) if step > 0
                                    else (start + 1 - k, start + 1)))]


def _takes_most(check, p: E.Expr) -> bool:
    """Whether a name, matched left to right, takes its longest group first: when its
    condition holds factor by factor (``free``: u in u.*v takes every free factor, one
    rewrite), not when one factor decides it (``linear``: C in C*Q is the cotangent alone)."""
    return p.op == "var" and bool(getattr(check, "conjunctive", {}).get(p.value))


def _group(op: str, chunk: tuple):
    try:
        return chunk[0] if len(chunk) == 1 else build(op, chunk)
    except MatcalcError:
        return None                                     # not a product on its own


def _run_of(op: str, bound: E.Expr) -> tuple:
    return bound.args if bound.op == op else (bound,)


def match_run(op: str, pats: tuple, items: tuple, env: dict, check: Check) -> Iterator[dict]:
    """Match ``pats`` against all of ``items``, each pattern taking a contiguous group.

    Backtracking, left to right: a pattern that is not a name (``eye``, ``(-A)``) takes one
    operand; a name already bound is compared with the run without building it; a group is
    built only for a name that is about to be bound.
    """
    if not pats:
        if not items:
            yield env
        return
    p, rest = pats[0], pats[1:]
    most = len(items) - len(rest)
    if most < 1:
        return
    if p.op == "var" and p.value in env:
        bound = env[p.value]
        if items[0] is bound:
            yield from match_run(op, rest, items[1:], env, check)
        elif bound.op == op and items[:len(bound.args)] == bound.args:
            yield from match_run(op, rest, items[len(bound.args):], env, check)
        return
    if not _can_take_many(op, p) or _single(p, check):
        most = 1
    least = most if not rest else 1                     # the last pattern takes the rest
    sizes = _sizes(check, p, op, items, 0, most, least, 1)
    if not _takes_most(check, p):
        sizes = reversed(sizes)
    for size in sizes:
        if not rest and size != len(items):
            continue
        group = _group(op, items[:size])
        if group is None:
            continue
        for env2 in match(p, group, env, check):
            yield from match_run(op, rest, items[size:], env2, check)


def _match_all(op: str, pats: tuple, items: tuple, env: dict, check: Check) -> Iterator[dict]:
    """``pats`` against all of ``items``: from the first anchor outward when there is one
    (so a long run is not cut at every place), else left to right."""
    anchor = next((j for j, p in enumerate(pats) if _is_anchor(op, p)), None)
    if anchor is None:
        yield from match_run(op, pats, items, env, check)
        return
    a, k, n = pats[anchor], len(pats), len(items)
    for i in range(anchor, n - (k - 1 - anchor)):
        if items[i].op != a.op:
            continue
        for env1 in match(a, items[i], env, check):
            for env2, _ in _match_left(op, pats[:anchor], items, i, env1, check, True):
                for env3, _ in _match_right(op, pats[anchor + 1:], items, i + 1, env2, check, True):
                    yield env3


def _match_right(op, pats, items, lo, env, check, whole, beyond=-1
                 ) -> Iterator[tuple[dict, int]]:
    """``pats`` against a run of ``items`` starting at ``lo`` (to the end when ``whole``):
    (bindings, stop); groups of a name not yet bound are tried longest first."""
    if not pats:
        if not whole or lo == len(items):
            yield env, lo
        return
    p, rest = pats[0], pats[1:]
    room = len(items) - lo - len(rest)
    if room < 1:
        return
    if _is_anchor(op, p):
        for env2 in match(p, items[lo], env, check):
            yield from _match_right(op, rest, items, lo + 1, env2, check, whole)
        return
    if p.op == "var" and p.value in env:
        bound = env[p.value]
        if items[lo] is bound:
            yield from _match_right(op, rest, items, lo + 1, env, check, whole)
        else:
            run = _run_of(op, bound)
            if items[lo:lo + len(run)] == run:
                yield from _match_right(op, rest, items, lo + len(run), env, check, whole)
        return
    if _single(p, check):
        room = 1
    elif p.op == "var" and hasattr(check, "longest"):
        room = check.longest(p.value, op, items, lo, room, 1)
    least = max(1, beyond - lo + 1) if not rest else 1      # the run must pass ``beyond``
    if whole and not rest:
        least = max(least, len(items) - lo)
    for size in _sizes(check, p, op, items, lo, room, least, 1):
        if whole and not rest and lo + size != len(items):
            continue
        group = _group(op, items[lo:lo + size])
        if group is None:
            continue
        for env2 in match(p, group, env, check):
            yield from _match_right(op, rest, items, lo + size, env2, check, whole, beyond)


def _match_left(op, pats, items, hi, env, check, whole, before=None
                ) -> Iterator[tuple[dict, int]]:
    """``pats`` against a run of ``items`` ending just before ``hi`` (from the start when
    ``whole``): (bindings, start); the mirror image of :func:`_match_right`."""
    if not pats:
        if not whole or hi == 0:
            yield env, hi
        return
    p, rest = pats[-1], pats[:-1]
    room = hi - len(rest)
    if room < 1:
        return
    if _is_anchor(op, p):
        for env2 in match(p, items[hi - 1], env, check):
            yield from _match_left(op, rest, items, hi - 1, env2, check, whole)
        return
    if p.op == "var" and p.value in env:
        bound = env[p.value]
        if items[hi - 1] is bound:
            yield from _match_left(op, rest, items, hi - 1, env, check, whole)
        else:
            run = _run_of(op, bound)
            if hi >= len(run) and items[hi - len(run):hi] == run:
                yield from _match_left(op, rest, items, hi - len(run), env, check, whole)
        return
    if _single(p, check):
        room = 1
    elif p.op == "var" and hasattr(check, "longest"):
        room = check.longest(p.value, op, items, hi - 1, room, -1)
    least = max(1, hi - before + 1) if before is not None and not rest else 1
    if whole and not rest:
        least = max(least, hi)
    for size in _sizes(check, p, op, items, hi - 1, room, least, -1):
        if whole and not rest and hi - size != 0:
            continue
        group = _group(op, items[hi - size:hi])
        if group is None:
            continue
        for env2 in match(p, group, env, check):
            yield from _match_left(op, rest, items, hi - size, env2, check, whole, before)


@functools.lru_cache(maxsize=4096)
def _leads(op: str, pats: tuple) -> list[tuple[tuple, int]]:
    """Necessary conditions of a sum-of-products pattern such as ``A*B + A*C``: a name that
    starts (ends) two sub-patterns of one associative operator must start (end) both matched
    operands.  Returns (path to the sub-pattern, end index 0 or -1) groups keyed by name."""
    found: dict[tuple, list[tuple]] = {}
    for i, p in enumerate(pats):
        path: list[str] = []
        q = p
        while q.op not in E.FLATTEN and len(q.args) == 1:
            path.append(q.op)
            q = q.args[0]
        if q.op not in E.FLATTEN or q.op == op or len(q.args) < 2:
            continue
        for end in (0, -1):
            if q.args[end].op == "var":
                found.setdefault((q.op, q.args[end].value, end), []).append((i, tuple(path)))
    return tuple((key, tuple(members)) for key, members in found.items() if len(members) > 1)


def _lead_item(item: E.Expr, path: tuple, inner: str, end: int):
    for step in path:
        if item.op != step:
            return None
        item = item.args[0]
    return item.args[end] if item.op == inner else item


def _leads_agree(leads, items: tuple, start: int) -> bool:
    for (inner, _, end), members in leads:
        first = None
        for i, path in members:
            got = _lead_item(items[start + i], path, inner, end)
            if got is None:
                return False
            if first is None:
                first = got
            elif got is not first:
                return False
    return True


def distributes(pattern: E.Expr, result: E.Expr | None):
    """Whether a rule says a unary operator distributes over an associative one, as
    ``(A*B)' → B'*A'`` or ``vec(A + B) → vec(A) + vec(B)`` (then it holds for any number of
    operands at once), or over the operands of a fixed-width one in their order, as
    ``kron(A, B)' → kron(A', B')``: :func:`distribute` applies it in one step, without
    matching.  Returns None, or whether the operands come out reversed."""
    if result is None or len(pattern.args) != 1:
        return None
    inner = pattern.args[0]
    flat = inner.op in E.FLATTEN
    names = list(inner.args)
    if not names or (flat and len(names) != 2) or any(a.op != "var" for a in names) \
            or len(set(names)) < len(names):
        return None
    if result.op != inner.op or result.value != inner.value or len(result.args) != len(names):
        return None
    outer = [(r.args[0] if r.op == pattern.op and len(r.args) == 1 and r.value == pattern.value
              else None) for r in result.args]
    if outer == names:
        return False
    if flat and outer == names[::-1]:
        return True
    return None


def distribute(node: E.Expr, reverse: bool, lang=None, done: dict | None = None) -> E.Expr:
    """``U(s1 ∘ ... ∘ sn)`` as ``U(s1) ∘ ... ∘ U(sn)`` (reversed when ``reverse``); ``done``:
    the U(s) built already, by (U, its value, s), kept by the caller from one call to the
    next (the N rotations of a long product share their factors)."""
    inner = node.args[0]
    items = reversed(inner.args) if reverse else inner.args
    if done is None:
        done = {}                           # a repeated operand (X in A*X*B*X) built once
    op, value = node.op, node.value
    parts = []
    for s in items:
        key = (op, value, s)
        u = done.get(key)
        if u is None:
            u = done[key] = build(op, (s,), value, lang)
        parts.append(u)
    return build(inner.op, parts, inner.value, lang)


# Conditions that hold of a whole subject when they hold of a part of it (the part contains
# the cotangent, or the variable): a rule with a name under one needs its subject to meet it.
CONTAINING = {"linear": "linear", "cotangent": "linear", "depends": "depends"}


def subject_needs(where: tuple) -> frozenset:
    """The :data:`CONTAINING` conditions a rule's subject must meet (``where`` as
    :func:`_frozen` gives it)."""
    return frozenset(CONTAINING[c] for _, conds in where for c in conds if c in CONTAINING)


# A condition on a name -> the condition a match fails when every name of the pattern
# carries it: names free of the cotangent (of the variable) leave the whole match free of
# it, the pattern's own nodes being operators and constants.
EXCLUDING = {"free": "linear", "constant": "depends"}


def subject_excludes(pat: E.Expr, where: tuple) -> frozenset:
    """The :data:`CONTAINING` conditions whatever ``pat`` matches as a whole cannot meet
    (``where`` as :func:`_frozen` gives it): those :data:`EXCLUDING` gives for a condition
    every name of the pattern carries."""
    conds = dict(where)
    names = {n.value for n in pat.walk() if n.op == "var"}
    if not names:
        return frozenset()
    return frozenset(out for c, out in EXCLUDING.items()
                     if all(c in conds.get(name, ()) for name in names))


# Conditions only a number meets: a name carrying one needs a number among the operands.
NUMBER_CONDITIONS = frozenset({"number", "nonzero-number", "negative", "integer"})


def _signature(e: E.Expr):
    """An operand's operator, with its only operand's operator when it has one."""
    return (e.op, e.args[0].op) if len(e.args) == 1 else None


_OP, _SIG, _KIND, _SHAPE = (operator.attrgetter(a) for a in ("op", "_sig", "_kind", "shape"))
# signatures of an operand's kind (``e._kind``): some operand is a scalar, a column, a row
SCALAR_OPERAND, COLUMN_OPERAND, ROW_OPERAND = ("rank", 0), ("rank", 1), ("row",)
# a signature of a product: some run of its factors may be a scalar (a scalar factor, or a
# row and a column: u'*v)
SCALAR_RUN = ("scalar run",)
# what a group of operands needs among them to meet a shape condition: in a sum or ⊙ the
# group has its operands' shape; in a product its ends decide (a column last for a vector,
# a row first for a row)
_GROUP_NEEDS = {"scalar": SCALAR_OPERAND, "vector": COLUMN_OPERAND, "row": ROW_OPERAND}
_RUN_NEEDS = {"scalar": SCALAR_RUN, "vector": COLUMN_OPERAND, "row": ROW_OPERAND}
REPEATED_OPERAND = ("repeated",)    # a signature: some operand stands twice (A + A)
# signatures: at least 3, at least 4 operands (each argument of a pattern takes one or more)
_AT_LEAST = (("operands", 3), ("operands", 4))


# Conditions on a number's value that a product's or sum's signatures record.
_VALUE_CONDITIONS = frozenset({"negative", "integer", "nonzero-number"})


def _number_tests(value: float) -> tuple:
    return (("negative", value < 0), ("integer", float(value).is_integer()),
            ("nonzero-number", value != 0))


def operand_signatures(node: E.Expr) -> frozenset:
    """What :func:`passes` looks for among an associative node's operands: their operators,
    each operand's ``_sig`` (its operator with its first operand's, or a number's value),
    and whether one is a scalar (worked out once per node and kept on it)."""
    got = node._operand_sigs
    if got is None:
        got = _operand_signatures(node)
        E.remember_operand_signatures(node, got)
    return got


def _operand_signatures(node: E.Expr) -> frozenset:
    if len(node.args) >= E.LONG_RUN:
        core, repeated = _long_signatures(node.args)
        out = set(core)
        if repeated:
            out.add(REPEATED_OPERAND)
        # not counted on a long run: any operator may stand twice, any number may meet a
        # value condition (a necessary test may say yes too often, never too rarely)
        out.update([("twice", s) for s in core if isinstance(s, str)])
        if "const" in out:
            out.update(("number", c) for c in _VALUE_CONDITIONS)
        if node.op in E.PRODUCTS and (SCALAR_OPERAND in out or (ROW_OPERAND in out
                                                                 and COLUMN_OPERAND in out)):
            out.add(SCALAR_RUN)
        out.update(_AT_LEAST)
        return frozenset(out)
    args = node.args
    ops = [a.op for a in args]
    out = set(ops)
    twice = len(out) < len(ops)
    for a in args:
        out.add(a._sig)
        out.add(a._kind)
    out.discard(None)
    if node.op in E.PRODUCTS and (SCALAR_OPERAND in out or (ROW_OPERAND in out
                                                             and COLUMN_OPERAND in out)):
        out.add(SCALAR_RUN)
    if twice:
        if len(set(args)) < len(args):
            out.add(REPEATED_OPERAND)
        out.update(("twice", op) for op in set(ops) if ops.count(op) > 1)
    if "const" in out:
        for a in args:
            if a.op == "const":
                out.update(("number", c) for c, holds in _number_tests(a.value) if holds)
    if len(args) > 2:
        out.update(_AT_LEAST[:len(args) - 2])
    return frozenset(out)


_SIGNATURES = _Recent(256)


def _long_signatures(args: tuple) -> tuple[frozenset, bool]:
    """The operators, ``_sig`` and ``_kind`` of a long run of operands, and whether one
    stands twice: once per run, and for a long run with a few operands put before it from
    the run's (see :func:`grown_base`)."""
    hit = _SIGNATURES.get(id(args), (args,))
    if hit is not None:
        return hit
    found = grown_base(args)
    had = _SIGNATURES.get(id(found[0]), (found[0],)) if found is not None else None
    if had is not None:
        base, lo = found
        front = args[:lo]
        core = had[0] | _signatures_of(front)
        repeated = had[1] or len(set(front)) < lo or any(f in base for f in front)
    else:
        core, repeated = frozenset(_signatures_of(args)), len(set(args)) < len(args)
    _SIGNATURES.put(id(args), (args,), (core, repeated))
    return core, repeated


def _signatures_of(args: tuple) -> set:
    out = set(map(_OP, args))
    out.update(map(_SIG, args))
    out.update(map(_KIND, args))
    out.discard(None)
    return out


def _anchor_needs(op: str, p: E.Expr, numbers: set) -> set:
    """What the operand an anchor ``p`` of an ``op`` run matches must show of itself: its
    operator; a number's value; the operator of its first operand where that operand is
    matched in place (by a unary pattern, a product, a function of fixed arity) and is not
    a name that may stand for anything."""
    needs = {p.op}
    if p.op == "const":
        needs.add(("const", p.value))
        return needs
    if not p.args or (p.op in E.FLATTEN and p.op not in E.PRODUCTS):
        return needs                    # a sum or ⊙ matches its operands in any order
    q = p.args[0]
    if q.op == "const" or (q.op == "var" and q.value in numbers):
        needs.add((p.op, "const"))
    elif q.op != "var" and q.op != p.op:
        needs.add((p.op, q.op))
    return needs


@functools.lru_cache(maxsize=4096)
def prefilter(pat: E.Expr, where: tuple = ()):
    """A cheap necessary test for ``match_window(pat, subject)``, decided on the subject's
    operands' operators only: (``needs``, ``kids``).  For an associative root ``needs`` is
    what its anchors require among the operands (:func:`_anchor_needs`: an operator, the
    operator of a first operand as in ``vector(0)'`` or ``a*A`` with a number ``a``, a
    number's value), a number when a name can only be one (``where``: the rule's
    conditions, as :func:`_frozen` gives them), the operand kinds a name's shape condition
    needs (a scalar, column or row operand; in a product a run that can be a scalar), an
    operand standing twice when a name does, as many operands as
    the pattern has arguments (counted up to 4); otherwise ``kids``
    lists (position, operator, number or None) of the subject's operands."""
    numbers = {name for name, conds in where if conds & NUMBER_CONDITIONS}
    if pat.op in E.FLATTEN:
        needs: set = set()
        for p in pat.args:
            if _is_anchor(pat.op, p):
                needs |= _anchor_needs(pat.op, p, numbers)
        named = [p.value for p in pat.args if p.op == "var"]
        names = set(named)
        if len(names) < len(named):     # a name twice takes the same operands twice
            needs.add(REPEATED_OPERAND)
        if names & numbers:
            needs.add("const")
            for name, conds in where:        # a negative number, a whole one, ...
                if name in names:
                    needs.update(("number", c) for c in conds & _VALUE_CONDITIONS)
        anchors = [p.op for p in pat.args if _is_anchor(pat.op, p)]
        for op in set(anchors):              # diag(u)*diag(v): two operands of diag
            if anchors.count(op) > 1:
                needs.add(("twice", op))
        if len(pat.args) >= 3:
            needs.add(_AT_LEAST[min(len(pat.args), 4) - 3])
        group_needs = _RUN_NEEDS if pat.op in E.PRODUCTS else _GROUP_NEEDS
        for name, conds in where:
            if name in names:
                needs.update(group_needs[c] for c in conds if c in group_needs)
        vectors = {name for name, conds in where if "vector" in conds}
        if any(p.op == "transpose" and p.args[0].op == "var" and p.args[0].value in vectors
               for p in pat.args):
            needs.add(ROW_OPERAND)           # u' with u a vector is one operand, a row
        return frozenset(needs), None
    return None, (positional_test(pat, where), tuple(
        (i, prefilter(p, where)[0]) for i, p in enumerate(pat.args) if p.op in E.FLATTEN))


@functools.lru_cache(maxsize=4096)
def positional_test(pat: E.Expr, where: tuple = ()) -> tuple:
    """What operands matched one by one against ``pat.args`` must show: (count, the
    (position, operator, number or None) of each argument that is not a name, the
    (position, kind conditions) of each name that has some); see :func:`args_pass`."""
    conds = dict(where)
    decided = KIND_CONDITIONS | NUMBER_CONDITIONS        # by what kinds_of records
    shaped = tuple((i, conds[p.value] & decided) for i, p in enumerate(pat.args)
                   if p.op == "var" and conds.get(p.value, frozenset()) & decided)
    return (len(pat.args), tuple((i, p.op, p.value if p.op == "const" else None)
                                 for i, p in enumerate(pat.args) if p.op != "var"), shaped)


def args_pass(kids: tuple, args: tuple, condition: Check | None = None) -> bool:
    """Whether ``args`` pass a :func:`positional_test` (``condition`` decides the kind
    conditions, when given): necessary for ``match_args(pat.args, args)``."""
    count, ops, shaped = kids
    if len(args) != count or not all(args[i].op == op and (op != "const"
                                                           or args[i].value == value)
                                     for i, op, value in ops):
        return False
    return condition is None or all(condition(c, args[i]) for i, cs in shaped for c in cs)


# Conditions decided by what :func:`operand_kinds` records of an operand.
KIND_CONDITIONS = SHAPE_CONDITIONS | {"symmetric"}


def exactly(present: frozenset, width: int) -> bool:
    """Whether the :func:`operand_signatures` ``present`` of an associative node show it has
    exactly ``width`` operands (known for 2 and 3 only; a long run shows neither)."""
    at_least_3, at_least_4 = _AT_LEAST
    if width == 2:
        return at_least_3 not in present
    return width == 3 and at_least_3 in present and at_least_4 not in present


def operand_kinds(node: E.Expr) -> tuple:
    """:func:`kinds_of` a node's operands, and the :func:`operand_signatures` of each that is
    associative (None for the others, or None for all when none is): what the prefilter
    reads of a fixed-width node's operands, worked out once per node and kept on it."""
    got = node._operand_kinds
    if got is None:
        args = node.args
        present = tuple([operand_signatures(a) if a.op in E.FLATTEN else None
                         for a in args]) if not E.FLATTEN.isdisjoint(map(_OP, args)) else None
        got = (kinds_of(args), present)
        E.remember_operand_kinds(node, got)
    return got


def kinds_of(args: tuple) -> tuple:
    """Each operand's operator, kind (rank, row, square, symmetric) and value if a number:
    all that :func:`passes` reads of a fixed-width pattern's operands (the numbers it must
    equal, the :data:`KIND_CONDITIONS` of its names)."""
    return tuple((a.op, len(a.shape), a.shape[:1] == (1,) and len(a.shape) == 2,
                  len(a.shape) == 2 and a.shape[0] == a.shape[1], "symmetric" in a.props,
                  a.value if a.op == "const" else None)
                 for a in args)


def passes(test, subj: E.Expr, present, condition: Check | None = None) -> bool:
    """Whether ``subj`` passes a :func:`prefilter` test (``present``: for an associative
    node its :func:`operand_signatures`; for another, those of each operand that is
    associative, None for the others (or None for all); ``condition`` decides the kind
    conditions of a fixed-width pattern's names on the operands, when given)."""
    needs, kids = test
    if needs is not None:
        return needs <= present
    if subj.op in E.FLATTEN:
        return True                     # a fixed pattern may match a window of a run
    positional, nested = kids           # nested: (A + diag(u))' needs a diag in the sum
    if not args_pass(positional, subj.args, condition):
        return False
    return present is None or all(present[i] is None or wants <= present[i]
                                  for i, wants in nested)

def match_window(pat: E.Expr, subj: E.Expr, check: Check, env: dict | None = None,
                 clean: tuple = ()) -> Iterable[tuple[dict, int, int]]:
    """Matches of ``pat`` against ``subj`` or, for an associative root, a window of its operands.

    Returns an iterable of (bindings, start, stop), to be iterated once: the operands
    ``subj.args[start:stop]`` are what matched
    (the whole node when start, stop = 0, len(args)).  For an associative root the search
    starts from the pattern's first operand that is not a name (its anchor), found where it
    stands, and grows the names around it, longest first; a pattern of names only matches the
    whole node, or windows where each name takes one operand.

    ``clean`` lists runs ``(lo, hi)`` of operands that were a simplified product on their own:
    every window inside one was tried already, so only windows reaching out of them are.

    The usual cases, a match at the root or of one window, come back as a tuple: a caller
    that takes the first match leaves no nest of suspended generators to close.
    """
    env = env or {}
    n = len(subj.args)
    if pat.op not in E.FLATTEN or pat.op != subj.op:
        found = _matches(pat, subj, env, check)
        if found.__class__ is tuple:            # one way or none: no generator
            return tuple([(b, 0, n) for b in found])
        return ((b, 0, n) for b in found)
    op, pats, items = pat.op, pat.args, subj.args
    k = len(pats)
    if k > n:
        return ()
    if k == n:                              # each pattern operand takes one operand: the
        leads = _leads(op, pats)            # one window, no group to size (what the
        if leads and not _leads_agree(leads, items, 0):     # names-only path would)
            return ()
        found = _match_args_one_way(pats, items, env, check)
        if found is _SEARCH:
            return _fixed_windows(op, pats, items, env, check, None)
        return () if found is None else ((found, 0, n),)
    return _windows(op, pats, items, env, check, clean)


def _windows(op: str, pats: tuple, items: tuple, env: dict, check: Check, clean: tuple
             ) -> Iterator[tuple[dict, int, int]]:
    """:func:`match_window` for an associative pattern with fewer operands than the run."""
    n, k = len(items), len(pats)
    anchor = next((j for j, p in enumerate(pats) if _is_anchor(op, p)), None)
    inside = _inside(clean, n)
    if anchor is None:                      # names only: the whole node, then windows
        for b in _match_all(op, pats, items, env, check):
            yield b, 0, n
        if k < n <= GROUP_WINDOWS and op in E.PRODUCTS:
            yield from _group_windows(op, pats, items, env, check, inside)
        elif k < n:
            yield from _fixed_windows(op, pats, items, env, check, inside)
        return
    if all(_is_anchor(op, p) for p in pats):            # fixed width: k operands
        yield from _fixed_windows(op, pats, items, env, check, inside)
        return
    a = pats[anchor]
    positions = _op_positions(items).get(a.op, ())
    if len(positions) > 2 and isinstance(check, where_check):
        conds = check.containing(a)         # C': only an operand holding the cotangent
        if conds:
            meeting = check.meeting(conds, items)
            if len(meeting) < len(positions):
                positions = [i for i in meeting if items[i].op == a.op]
    useful: dict = {}
    j, end = bisect.bisect_left(positions, anchor), n - (k - 1 - anchor)
    while j < len(positions):
        i = positions[j]
        if i >= end:
            break
        seg = inside[i] if inside else None
        if seg is not None:                 # skip anchors whose windows cannot leave seg
            u = useful.get(seg)
            if u is None:
                u = useful[seg] = _useful_anchors(seg, op, pats, anchor, items, check)
            if i < u[0]:
                j = bisect.bisect_left(positions, u[0], j)
                continue
            if i >= u[1]:
                j = bisect.bisect_left(positions, seg[1], j)
                continue
        j += 1
        # with the anchor inside a clean run, the window must reach out of it on a side
        # that has names to grow: right when the anchor comes first, left when it is last
        beyond = seg[1] if seg and anchor == 0 else -1
        before = seg[0] if seg and anchor == k - 1 else None
        for env1 in match(a, items[i], env, check):
            for env2, start in _match_left(op, pats[:anchor], items, i, env1, check, False,
                                           before):
                for env3, stop in _match_right(op, pats[anchor + 1:], items, i + 1, env2,
                                               check, False, beyond):
                    if seg and _stale(inside, start, stop):
                        continue
                    yield env3, start, stop


def _useful_anchors(seg: tuple, op: str, pats: tuple, anchor: int, items: tuple,
                    check) -> tuple[int, int]:
    """The positions [u0, u1) within the clean run ``seg`` where an anchor may start a
    window that reaches out of it: for a pattern of an anchor and one name, the name's
    group must cross the run's end (start), so every factor it would span must be able to
    belong to it (its conjunctive conditions, as :meth:`where_check.longest` reads them)."""
    lo, hi = seg
    if len(pats) != 2 or op not in E.PRODUCTS or not isinstance(check, where_check):
        return lo, hi
    p = pats[1 - anchor]
    if p.op != "var":
        return lo, hi
    name, n = p.value, len(items)
    conds = check.conjunctive.get(name)
    if anchor == 0:                         # anchor*name: the name must take items[i+1..hi]
        if hi >= n:
            return hi, hi
        if name in check.single:
            return hi - 1, hi
        if conds:
            last = _last_failing(check._failures(name, conds, items), hi)
            return max(lo, last), hi        # no failing factor in [i+1, hi]
        return lo, hi
    if lo == 0:                             # name*anchor: the name must take items[lo-1..i-1]
        return lo, lo
    if name in check.single:
        return lo, lo + 1
    if conds:
        nxt = _next_failing(check._failures(name, conds, items), lo - 1, n)
        return lo, min(hi, nxt + 1)         # no failing factor in [lo-1, i-1]
    return lo, hi


_OP_POSITIONS = _Recent(1024)


def _op_positions(items: tuple) -> dict:
    """Where each operator stands among ``items`` (computed once per run of operands)."""
    hit = _OP_POSITIONS.get(id(items), (items,))
    if hit is not None:
        return hit
    found = grown_base(items)
    if found is not None:                   # a long run with a few factors before it
        base, lo = found
        had = _OP_POSITIONS.get(id(base), (base,))
        if had is not None:
            out = _grown_dict(had, len(base), _op_positions(items[:lo]) if lo else {}, lo)
            _OP_POSITIONS.put(id(items), (items,), out)
            return out
    ops = list(map(_OP, items))
    distinct = set(ops)
    if len(distinct) <= 4:                  # a comprehension per operator beats a loop
        out = {op: [i for i, o in enumerate(ops) if o == op] for op in distinct}
    else:
        out = {}
        for i, op in enumerate(ops):
            out.setdefault(op, []).append(i)
    _OP_POSITIONS.put(id(items), (items,), out)
    return out


# Up to this many factors, a pattern of names only is tried on every window of a product with
# each name taking any group (``A*A`` finds x'*B*x'*B); beyond, each name takes one operand
# (the number of windows and splits grows as a power of the length).
GROUP_WINDOWS = 12


def _group_windows(op: str, pats: tuple, items: tuple, env: dict, check: Check, inside
                   ) -> Iterator[tuple[dict, int, int]]:
    """Windows (not the whole run) where each name takes a group, left to right."""
    n = len(items)
    for start in range(n):
        for b, stop in _match_right(op, pats, items, start, env, check, False):
            if (start, stop) == (0, n) or (inside and _stale(inside, start, stop)):
                continue
            yield b, start, stop


def _fixed_windows(op: str, pats: tuple, items: tuple, env: dict, check: Check, inside
                   ) -> Iterator[tuple[dict, int, int]]:
    """Windows of exactly one operand per pattern argument, left to right (inside a clean
    run only those that reach out of it)."""
    k = len(pats)
    leads = _leads(op, pats)
    for start in _window_starts(len(items), k, inside):
        if leads and not _leads_agree(leads, items, start):
            continue
        for b in match_args(pats, items[start:start + k], env, check):
            yield b, start, start + k


def _window_starts(n: int, k: int, inside) -> Iterator[int]:
    """Starts of the width-``k`` windows of ``n`` operands that are not stale."""
    start = 0
    while start <= n - k:
        seg = inside[start] if inside else None
        if seg is not None and start + k <= seg[1]:
            start = seg[1] - k + 1          # every window starting before that is stale
            continue
        yield start
        start += 1


_INSIDE = _Recent(1024)


def _inside(clean: tuple, n: int) -> list | None:
    """For each operand position, the clean run (lo, hi) holding it, or None."""
    if not clean:
        return None
    hit = _INSIDE.get((clean, n), ())
    if hit is not None:
        return hit
    out: list = [None] * n
    for lo, hi in clean:
        out[lo:hi] = [(lo, hi)] * (hi - lo)
    _INSIDE.put((clean, n), (), out)
    return out


def _stale(inside: list, start: int, stop: int) -> bool:
    seg = inside[start]
    return seg is not None and stop <= seg[1]


def dim_map(template_vars: dict[str, E.Expr], env: dict) -> dict:
    """Template dimension names → the bound expressions' dimensions (where ranks agree)."""
    dims: dict = {}
    for name, tv in template_vars.items():
        bound = env.get(name)
        if bound is None:
            continue
        if len(tv.shape) == len(bound.shape):
            for d, actual in zip(tv.shape, bound.shape):
                if isinstance(d, str):
                    dims.setdefault(d, actual)
        elif len(tv.shape) == 2 and len(bound.shape) == 1 and isinstance(tv.shape[0], str):
            dims.setdefault(tv.shape[0], bound.shape[0])
            if isinstance(tv.shape[1], str):
                dims.setdefault(tv.shape[1], 1)
    return dims


def _map_dim(d, dims: dict):
    """A template dimension in the matched sizes; a product such as m*n factor by factor."""
    if d in dims or not isinstance(d, str) or "*" not in d:
        return dims.get(d, d)
    from matcalc.shapes import product_dim
    return product_dim([dims.get(f, f) for f in d.split("*")])


_PLANS: dict[int, tuple] = {}


def _planned(template: E.Expr) -> tuple:
    """(template, its plan, whether it has sized constants) once per template."""
    hit = _PLANS.get(id(template))
    if hit is not None and hit[0] is template:
        return hit
    if len(_PLANS) > 4096:
        _PLANS.clear()
    order = template.walk()
    place = {id(n): i for i, n in enumerate(order)}
    plan = [(n, tuple(place[id(a)] for a in n.args)) for n in order]
    sized = any(not n.args and n.op not in ("var", "const") for n in order)
    hit = _PLANS[id(template)] = (template, plan, sized)
    return hit


def _plan(template: E.Expr) -> list:
    """A template's nodes, children first, each with the places of its operands in that
    list (computed once per template)."""
    return _planned(template)[1]


def needs_dims(template: E.Expr) -> bool:
    """Whether instantiating ``template`` reads the dimension map: it has a constant whose
    size comes from the match (eye, vector(0)); most results are built from the bound
    operands alone, and their shapes follow from those."""
    return _planned(template)[2]


def instantiate(template: E.Expr, env: dict, dims: dict, lang=None) -> E.Expr:
    """The template with metavariables replaced; shapes recomputed from the operands with
    the signatures of ``lang`` (the rule set's language: a user's rule may build a user's
    function; the built-in language when None)."""
    if lang is None:
        from matcalc.language import builtin_language
        lang = builtin_language()
    done: list[E.Expr] = []
    for node, args in _plan(template):
        op = node.op
        if op == "var":
            out = env.get(node.value)
            if out is None:
                raise MatcalcError(f"rule result uses {node.value}, which the pattern does not "
                                   "bind")
        elif op == "const":
            out = node
        elif not args:                                       # eye, vector(c), matrix(c)
            shape = tuple(_map_dim(d, dims) for d in node.shape)
            if len(shape) == 2 and shape[0] == 1 and op == lang.fill(2):
                out = filled(node.value[0], shape, lang)     # a row of c: vector(c)'
            else:
                out = build(op, (), node.value, lang, shape=shape)
        else:
            out = build(op, [done[i] for i in args], node.value, lang)
        done.append(out)
    return done[-1]


def instantiate_entrywise(template: E.Expr, env: dict, lang) -> E.Expr:
    """A scalar template applied entry by entry: operators become their ``entrywise`` forms
    (``*`` → ``.*``, ``^`` → ``.^``) and scalars added to a matrix become constant matrices.

    This is how ``derivative: "1 - tanh(u)^2"`` of an elementwise function serves vectors.
    """
    done: dict[int, E.Expr] = {}
    for node in template.walk():
        if node.op == "var":
            out = env[node.value]
        elif not node.args:
            out = node if node.op == "const" else build(node.op, (), node.value, lang,
                                                        shape=node.shape)
        else:
            args = [done[id(a)] for a in node.args]
            spec = lang.get(node.op)
            op = node.op
            if any(a.shape for a in args):
                if spec is not None and spec.entrywise:
                    op = spec.entrywise
                if spec is not None and spec.signature == "congruent":
                    shape = next(a.shape for a in args if a.shape)
                    args = [a if a.shape else _filled(a, shape, lang) for a in args]
            out = build(op, args, node.value, lang)
        done[id(node)] = out
    return done[id(template)]


def _filled(scalar: E.Expr, shape: tuple, lang) -> E.Expr:
    ones = filled(scalar.value if scalar.op == "const" else 1.0, shape, lang)
    if ones is None:
        raise MatcalcError("the language defines no constant vector or matrix to lift a scalar")
    if scalar.op == "const":
        return ones
    return build("mul", (scalar, ones), None, lang)
