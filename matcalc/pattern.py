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

from typing import Callable, Iterator

from matcalc import expr as E
from matcalc.build import build
from matcalc.errors import MatcalcError

Check = Callable[[str, E.Expr], bool]


def where_check(where: dict, condition: Callable[[str, E.Expr], bool]) -> Check:
    """The check for a rule's ``where``: every condition on a name holds for what it binds."""
    def check(name: str, e: E.Expr) -> bool:
        return all(condition(c, e) for c in where.get(name, ()))
    return check


def match(pat: E.Expr, subj: E.Expr, env: dict, check: Check) -> Iterator[dict]:
    """Bindings (extending ``env``) under which ``pat`` matches ``subj``."""
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
        yield from match_run(pat.op, pat.args, subj.args, env, check)
        return
    if len(pat.args) != len(subj.args):
        return
    yield from match_args(pat.args, list(subj.args), env, check)


def match_args(pats, subjs, env, check) -> Iterator[dict]:
    if not pats:
        yield env
        return
    for env2 in match(pats[0], subjs[0], env, check):
        yield from match_args(pats[1:], subjs[1:], env2, check)


def _can_take_many(op: str, pat: E.Expr) -> bool:
    """Whether a pattern argument may match several operands of an ``op`` run at once."""
    return pat.op == "var" or pat.op == op


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
    for size in range(1, most + 1):
        if size > 1 and not _can_take_many(op, p):
            break
        if not rest and size != len(items):
            continue
        chunk = items[:size]
        if p.op == "var" and p.value in env:
            bound = env[p.value]
            same = (bound is chunk[0]) if size == 1 else (bound.op == op and
                                                           bound.args == chunk)
            if same:
                yield from match_run(op, rest, items[size:], env, check)
            continue
        try:
            group = chunk[0] if size == 1 else build(op, chunk)
        except MatcalcError:
            continue                                    # not a product on its own
        for env2 in match(p, group, env, check):
            yield from match_run(op, rest, items[size:], env2, check)


def match_window(pat: E.Expr, subj: E.Expr, check: Check, env: dict | None = None
                 ) -> Iterator[tuple[dict, int, int]]:
    """Matches of ``pat`` against ``subj`` or, for an associative root, a window of its operands.

    Yields (bindings, start, stop): the operands ``subj.args[start:stop]`` are what matched
    (the whole node when start, stop = 0, len(args)).
    """
    env = env or {}
    n = len(subj.args)
    if pat.op in E.FLATTEN and pat.op == subj.op:
        present = {a.op for a in subj.args}
        if any(p.op not in ("var", pat.op) and p.op not in present for p in pat.args):
            return                          # an operand the pattern needs is not there at all
    for b in match(pat, subj, env, check):
        yield b, 0, n
    if pat.op not in E.FLATTEN or pat.op != subj.op:
        return
    k = len(pat.args)
    if not any(_can_take_many(pat.op, p) for p in pat.args):
        sizes = [k] if k < n else []                  # fixed width: one size of window
    else:
        sizes = range(n - 1, k - 1, -1)
    first, last = pat.args[0], pat.args[-1]
    for size in sizes:
        for start in range(0, n - size + 1):
            if first.op not in ("var", pat.op) and first.op != subj.args[start].op:
                continue                                  # quick reject on the first operand
            if last.op not in ("var", pat.op) and last.op != subj.args[start + size - 1].op:
                continue                                  # and on the last
            window = subj.args[start:start + size]
            for b in match_run(pat.op, pat.args, window, env, check):
                yield b, start, start + size


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


def instantiate(template: E.Expr, env: dict, dims: dict) -> E.Expr:
    """The template with metavariables replaced; shapes recomputed from the operands."""
    done: dict[int, E.Expr] = {}
    for node in template.walk():
        if node.op == "var":
            if node.value not in env:
                raise MatcalcError(f"rule result uses {node.value}, which the pattern does not "
                                   "bind")
            out = env[node.value]
        elif node.op == "const":
            out = node
        elif not node.args:                                  # eye, vector(c), matrix(c)
            shape = tuple(dims.get(d, d) for d in node.shape)
            out = build(node.op, (), node.value, shape=shape)
        else:
            out = build(node.op, [done[id(a)] for a in node.args], node.value)
        done[id(node)] = out
    return done[id(template)]


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
    fill = lang.fill(len(shape))
    if fill is None:
        raise MatcalcError("the language defines no constant vector or matrix to lift a scalar")
    if scalar.op == "const":
        return build(fill, (), (scalar.value,), lang, shape=shape)
    return build("mul", (scalar, build(fill, (), (1.0,), lang, shape=shape)), None, lang)
