"""Adjoint rules, matched and instantiated without the general matcher.

An adjoint's pattern is one operator applied to distinct names (rules.py refuses any
other), so it matches exactly when the conditions on its names hold, binding each name to
its operand.  This module indexes a rule set's adjoints once (by operator, operand position
and the operands' kinds) and compiles each result into the builds that make it, so the
reverse pass in diff.py spends its time on the nodes it builds, not on matching.
"""

from __future__ import annotations

from matcalc import expr as E
from matcalc.build import build
from matcalc.pattern import (KIND_CONDITIONS, NUMBER_CONDITIONS, _frozen, args_pass, kinds_of,
                             needs_dims, positional_test)
from matcalc.rules import RuleSet


def candidates(rules: RuleSet, op: str, position: int, args: tuple, condition) -> list:
    """The adjoint rules of ``op`` for operand ``position`` of ``args`` that may match them,
    in file order: indexed once per rule set by the operands' operators and kinds
    (``condition`` must decide the shape conditions as every engine does); where no such
    rule has a kind condition (a sum, a transpose, a trace), by the operator alone."""
    rules_of, kinds_matter = tables(rules)[0].get((op, position, len(args)), ([], False))
    if not kinds_matter:
        return rules_of
    index = rules.__dict__.get("_adjoint_index")
    if index is None:
        index = rules.__dict__["_adjoint_index"] = {}
    key = (op, position, kinds_of(args))
    found = index.get(key)
    if found is None:
        if len(index) > 4096:
            index.clear()
        found = index[key] = [r for r in rules_of
                              if args_pass(positional_test(r.pattern, _frozen(r.where or {})),
                                           args, condition)]
    return found


def tables(rules: RuleSet) -> tuple[dict, dict]:
    """What adjoint matching needs of the rules, worked out once per rule set.

    An adjoint's pattern is one operator applied to distinct names (rules.py refuses any
    other), so it matches exactly when the conditions on its names hold, binding each name
    to its operand: no matcher and no where-check per node, which cost more than the rest
    of a small query's backprop.  The tables:

    - by (operator, the position of ``wrt``, number of operands): the rules in file order
      and whether any has a kind condition (scalar, vector ...; else the list is the
      answer for every operand, and :func:`candidates` need not read their kinds);
    - by rule name: its names in operand order, the conditions the kinds leave open as
      (position, condition) in the order matching would ask them (what an operand
      contains: linear, depends ...), its result as a :func:`program`, and whether the
      result holds Y (then it holds whatever the cotangent Y holds).
    """
    found = rules.__dict__.get("_adjoint_tables")
    if found is None:
        slots: dict[tuple, tuple[list, bool]] = {}
        plans: dict[str, tuple] = {}
        settled = KIND_CONDITIONS | NUMBER_CONDITIONS   # decided by the index's kinds_of key
        for op, group in rules.adjoints.items():
            for r in group:
                names = tuple(a.value for a in r.pattern.args)
                where = r.where or {}
                slot = (op, names.index(r.wrt), len(names))
                candidates, kinds_matter = slots.get(slot, ([], False))
                candidates.append(r)
                slots[slot] = (candidates, kinds_matter or any(
                    c in settled for name in names for c in where.get(name, ())))
                plans[r.name] = (names, tuple((i, c) for i, name in enumerate(names)
                                              for c in where.get(name, ()) if c not in settled),
                                 program(r.result, names),
                                 r.result is not None and any(
                                     n.op == "var" and n.value == "Y" for n in r.result.walk()))
        found = rules.__dict__["_adjoint_tables"] = (slots, plans)
    return found


def program(result: E.Expr | None, names: tuple) -> tuple | None:
    """An adjoint's result as the builds that make it, reading the operands by position:
    what :func:`~matcalc.pattern.instantiate` does, without a bindings dict and its
    per-node dispatch (a third of a small adjoint's cost).  (constants, steps, place of the
    result) over a list of values that starts as the operands, Y and the constants, each
    step (operator, value, places of its operands) appending the node it builds.  None
    when instantiate must do it: a constant sized by the match (eye, vector(1)), which
    only its dimension map can size, or a name the pattern does not bind (its error)."""
    if result is None or needs_dims(result):
        return None
    place = {name: i for i, name in enumerate(names)}
    place["Y"] = len(names)
    order = result.walk()
    if any(n.op == "var" and n.value not in place for n in order):
        return None
    constants = tuple(n for n in order if n.op == "const")
    at = {n: len(place) + i for i, n in enumerate(constants)}
    steps = []
    for n in order:
        if n.op == "var":
            at[n] = place[n.value]
        elif n.op != "const":
            at[n] = len(place) + len(constants) + len(steps)
            steps.append((n.op, n.value, tuple(at[a] for a in n.args)))
    return constants, tuple(steps), at[result]


def run(program: tuple, args: tuple, y: E.Expr, lang) -> E.Expr:
    """The node a :func:`program` builds from the operands ``args`` and the cotangent ``y``."""
    constants, steps, result = program
    values = [*args, y, *constants]
    for op, value, places in steps:
        values.append(build(op, [values[i] for i in places], value, lang))
    return values[result]
