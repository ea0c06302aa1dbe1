"""Lark's own LALR tables and terminals, driven by a lean loop for input that parses.

Lark stays the parser generator: the grammar (grammar/matcalc.lark), the parse table, the
terminals' master regular expression and the tree-building callbacks all come from the
:class:`lark.Lark` object.  What this module replaces is only Lark's general-purpose
per-token machinery (lexer state, line counting, interactive-parser bookkeeping), which
costs more than the parse itself for a short query.  It returns None as soon as anything
is unexpected (a character no terminal matches, a token the table has no action for); the
caller then runs Lark's own parser, whose exception is the syntax error the user sees.  So
this loop decides nothing about errors, and it accepts exactly what Lark accepts:

- tokens: Lark's basic lexer matches the one master regex (terminals in Lark's order) at
  each position; the contextual lexer Lark runs tries, in the same order, only the
  terminals the current state accepts, so wherever the table accepts the basic lexer's
  token, the contextual lexer finds the same one;
- reductions: Lark's callbacks, except for a rule ``?a: b`` (one symbol, inlined), whose
  callback returns its only child: the loop keeps the child without the call.
"""

from __future__ import annotations

import sys


class Token:
    """What a callback sees of a token: the attributes of Lark's Token that matcalc reads."""

    __slots__ = ("type", "value", "start_pos", "end_pos")

    def __init__(self, type: str, value: str, start_pos: int, end_pos: int):
        self.type, self.value, self.start_pos, self.end_pos = type, value, start_pos, end_pos

    def __repr__(self) -> str:
        return f"Token({self.type!r}, {self.value!r}, {self.start_pos}, {self.end_pos})"


_new = object.__new__


class Unsupported(Exception):
    """The Lark object uses a feature this loop does not reproduce (then Lark parses)."""


class LALR:
    """``LALR(lark).parse(text)``: the tree Lark's callbacks build, or None when Lark must
    parse ``text`` itself (a syntax error, reported by Lark)."""

    def __init__(self, lark) -> None:
        try:
            self._build(lark)
        except Unsupported:
            raise
        except Exception as exc:             # another Lark version's internals: Lark parses
            raise Unsupported(f"{type(exc).__name__}: {exc}") from None

    def _build(self, lark) -> None:
        from lark.parse_tree_builder import ExpandSingleChild
        from lark.parsers.lalr_analysis import Shift

        options = lark.options
        if options.parser != "lalr" or options.postlex is not None or options.lexer_callbacks \
                or options.propagate_positions or len(options.start) != 1:
            raise Unsupported("parser options")
        frontend = lark.parser
        parser = frontend.parser.parser
        basic = getattr(frontend.lexer, "root_lexer", frontend.lexer)
        scanner = basic.scanner                       # (builds basic.callback)
        if basic.callback or len(scanner._mres) != 1:
            raise Unsupported("lexer callbacks or a split master regex")
        callbacks = parser.callbacks
        if any(isinstance(k, str) for k in callbacks):
            raise Unsupported("terminal callbacks")
        table = parser.parse_table
        (start,) = options.start
        self._regex = scanner._mres[0]
        # parse matches with the pattern's scanner: where a pattern has none, this fails
        # and __init__ says Unsupported, so Lark's own parser is used
        self._regex.scanner("").match()
        self._ignore = frozenset(basic.ignore_types)
        self._start = table.start_states[start]
        self._end = table.end_states[start]
        # Symbols as interned plain strings: Lark names rules with its Token, a str subclass
        # whose __eq__ is Python code, run on every dictionary lookup that meets one
        symbol_of = _symbol
        rows: dict = {}
        for state, row in table.states.items():
            out = rows[state] = {}
            for symbol, (action, arg) in row.items():
                if action is Shift:
                    out[symbol_of(symbol)] = arg      # a shift, or the goto of a nonterminal
                else:
                    callback = callbacks[arg]
                    size = len(arg.expansion)
                    if size == 1 and isinstance(callback, ExpandSingleChild):
                        callback = None               # returns its only child
                    out[symbol_of(symbol)] = (size, symbol_of(arg.origin.name), callback)
        # indexed by state (Lark numbers them from 0): a list is read faster than a dict
        self._rows = [rows.get(state) for state in range(max(rows) + 1)]
        self._units: dict = {}      # (below, top, next kind) -> the state unit reductions end in
        self._gotos: dict = {}      # (below, rule, next kind) -> the state after a reduction

    def parse(self, text: str):
        rows, units, gotos, end_state = self._rows, self._units, self._gotos, self._end
        ignore = self._ignore
        states = [self._start]
        values: list = []
        pos = 0
        # each match starts where the last one ended (no terminal matches the empty string:
        # Lark refuses such a terminal), so no match means no terminal matches at pos
        match = self._regex.scanner(text).match
        while True:
            m = match()
            if m is not None:
                pos = m.end()
                kind = m.lastgroup
                if kind in ignore:
                    continue
                token = _new(Token)                   # (slots filled inline: no __init__ run)
                token.type, token.value, token.start_pos, token.end_pos = (
                    kind, m.group(), m.start(), pos)
            elif pos != len(text):
                return None                           # no terminal matches at pos
            else:
                kind, token = "$END", None
            while True:
                top = states[-1]
                action = rows[top].get(kind)
                if action is None:
                    return None                       # a syntax error: Lark reports it
                if action.__class__ is int:
                    if token is None:
                        return None                   # (Lark never shifts the end)
                    states.append(action)
                    values.append(token)
                    break
                size, origin, callback = action
                if callback is None:                  # ?a: b, inlined: the child stays,
                    key = (states[-2], top, kind)     # and so do the states under it
                    state = units.get(key)
                    if state is None:
                        state = units[key] = self._unit_chain(*key)
                    states[-1] = state
                else:
                    if size:
                        children = values[-size:]
                        del states[-size:]
                        del values[-size:]
                    else:
                        children = []
                    values.append(callback(children))
                    key = (states[-1], origin, kind)  # the goto, and the ?a: b run after it
                    state = gotos.get(key)
                    if state is None:
                        state = gotos[key] = self._goto(*key)
                    states.append(state)
                if token is None and state == end_state:
                    return values[-1]

    def _goto(self, below: int, origin: str, kind: str) -> int:
        """The state a reduction to ``origin`` over ``below`` leads to with ``kind`` next: its
        goto, and then the end of the run of reductions ``?a: b`` that usually follows (an
        atom is at once a postfix, a power, a product ...), so the loop takes no turn for
        them."""
        top = self._rows[below][origin]
        if top == self._end or not _is_unit(self._rows[top].get(kind)):
            return top
        return self._unit_chain(below, top, kind)

    def _unit_chain(self, below: int, top: int, kind: str) -> int:
        """The state a run of reductions ``?a: b`` ends in, from ``top`` over ``below`` with
        ``kind`` next: each replaces the top state only, so the run depends on these three."""
        rows = self._rows
        while True:
            top = rows[below][rows[top][kind][1]]
            if top == self._end:
                return top
            if not _is_unit(rows[top].get(kind)):
                return top


def _is_unit(action) -> bool:
    """Whether a table action is a reduction ``?a: b`` (one symbol, no callback)."""
    return action is not None and action.__class__ is not int and action[2] is None


def _symbol(name) -> str:
    """A grammar symbol's name as a plain ``str``, interned: a rule's name found in a
    reduction is then the very key of the goto it looks up."""
    return sys.intern(str.__str__(name))
