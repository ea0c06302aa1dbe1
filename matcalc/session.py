"""A session: the query language of the REPL and ``matcalc -c``, and its answers as text.

One line at a time, with declarations that persist:

    x: vector(n)            A: matrix(n, n) symmetric      c: scalar      n = 3
    d/dx x'*A*x             ∂/∂x x'*A*x                    diff(x'*A*x, x)
    grad(EXPR, x)           hessian(EXPR, x)               EXPR  (its simplified form)
    x = [1, 2, 3]           :explain QUERY   :check QUERY  :eval EXPR, x = [1, 2]  ...

:meth:`Session.run` turns a line into a :class:`Reply` (lines of text) or raises a
MatcalcError whose message says what, where (a caret under the line) and what was expected;
the session's state is changed only by a line that succeeds (of ``a; b``, the pieces before
a failing one have taken effect).  Nothing typed is evaluated as Python: expressions go to the
Lark grammar, values to ``json.loads``.  The ``:`` commands are in :mod:`matcalc.commands`;
NumPy is loaded only by the numeric ones (:check, :eval, :equal, :numpy).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field

from matcalc import expr as E
from matcalc.errors import MatcalcError, ParseError

NAME = r"[^\W\d]\w*"
_DIFF = re.compile(rf"\s*[d∂]\s*/\s*[d∂](?P<wrt>{NAME})", re.UNICODE)
_DIFF_SPACED = re.compile(r"\s*[d∂]\s*/\s*[d∂](?=\s|$)", re.UNICODE)
_CALL = re.compile(r"\s*(?P<fn>diff|grad|hessian)\s*\(", re.UNICODE)
# a query word followed by an expression without parentheses: hessian x'*A*x wrt x
_BARE_CALL = re.compile(rf"\s*(?P<fn>diff|grad|hessian)\s+(?=[\w(])", re.UNICODE)
_DECLARE = re.compile(rf"\s*(?P<names>{NAME}(?:\s*,\s*{NAME})*)\s*:(?!\S*=)", re.UNICODE)
_ASSIGN = re.compile(rf"\s*(?P<name>{NAME})\s*=(?!=)", re.UNICODE)
KINDS = ("scalar", "vector", "row", "matrix")
PROPERTIES = ("symmetric", "diagonal", "posdef", "spd")
QUERY_WORDS = ("diff", "grad", "hessian")
# names that stand for sizes unless declared otherwise (matcalc names dimensions n, m, k, ...)
DIMENSION_NAMES = {"n", "m", "k", "p", "q", "r", "N", "M", "K"}

@dataclass
class Reply:
    """What a line printed: ``kind`` is answer, info or quit; ``lines`` the text."""

    kind: str
    lines: list[str] = field(default_factory=list)


@dataclass
class Answer:
    """The last derivative (or expression) asked for, for :latex, :numpy, :check, :graph."""

    query: str
    kind: str                   # diff, grad, hessian or expr
    expr: E.Expr
    wrt: str | None
    result: E.Expr              # what was shown (transposed in denominator layout)
    numerator: E.Expr           # the numerator-layout answer


class Quit(Exception):
    """:quit was typed."""


def _user_error(message: str, line: str, pos: int, cls=ParseError) -> MatcalcError:
    from matcalc.parse import _line_col, point
    exc = cls(f"{message}\n{point(line, pos)}")
    # where the caret is, and in what text: a command that reads a piece of its line
    # (:explain QUERY) moves it into the whole line (Session._repoint)
    exc.line, exc.column = _line_col(line, pos)
    exc.source = line
    return exc


# "... wrt x" at the end of a line: how other tools (and matcalc's CLI, --wrt) name the
# variable, not the REPL's query language
_TRAILING_WRT = re.compile(rf"\s(?P<wrt>wrt)\s+(?P<name>{NAME})\s*$", re.UNICODE)


def _refuse_trailing_wrt(line: str, start: int, how, parses) -> None:
    """A line ending in ``wrt x`` (which does not parse: 'wrt' would be a name) is refused
    saying how to write it, ``how(the expression before 'wrt', x)``, instead of with the
    parser's "missing operator"; only when that expression parses (``parses``), so that
    ``x'*A* wrt x`` gets the parser's own error about what is wrong in it."""
    m = _TRAILING_WRT.search(line, start)
    if m is None:
        return
    expr = line[start:m.start()].strip()
    if not expr or not parses(expr):
        return
    raise _user_error(f"'wrt {m['name']}' is not part of a query: {how(expr, m['name'])}",
                      line, m.start("wrt"))


def _split_top(text: str, sep: str = ",") -> list[tuple[int, str]]:
    """Pieces of ``text`` split at ``sep`` outside brackets, each with its offset."""
    depth, start, out = 0, 0, []
    for i, ch in enumerate(text):
        if ch in "([<⟨{":
            depth += 1
        elif ch in ")]>⟩}":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append((start, text[start:i]))
            start = i + 1
    out.append((start, text[start:]))
    return out


class Session:
    """Declarations, values, layout and rules of one REPL session; answers one line at a time."""

    def __init__(self, rules=None):
        self.shapes: dict[str, tuple] = {}       # declared shapes (dimension names or sizes)
        self.kinds: dict[str, object] = {}       # declared kind without sizes (x: vector)
        self.assume: dict[str, frozenset] = {}
        self.dims: dict[str, int] = {}           # n = 3
        self.values: dict[str, object] = {}      # x = [1, 2, 3]
        self.layout = "numerator"
        self.rule_files: list[str] = []
        self._rules = rules
        self.last: Answer | None = None
        self._seen: set[str] = set()             # names met in expressions

    # ------------------------------------------------------------ state
    @property
    def rules(self):
        if self._rules is None:
            from matcalc.rules import builtin_rules
            self._rules = builtin_rules()
        return self._rules

    def variable_names(self) -> list[str]:
        """Names declared, given values, or met in an expression (for Tab completion)."""
        return sorted(set(self.shapes) | set(self.kinds) | set(self.values) | self._seen)

    def function_names(self) -> list[str]:
        return self.rules.language.names()

    def _shapes(self) -> dict:
        # dimensions stay names in answers; ``n = 3`` fixes n for :eval, :check and :equal
        return dict(self.shapes)

    def parse(self, text: str, line: str | None = None, offset: int = 0) -> E.Expr:
        """``text`` as an Expr under the session's declarations; errors point into ``line``."""
        line = text if line is None else line
        if not text.strip():
            raise _user_error("expected an expression here", line, min(offset, len(line)))
        try:
            f = self._parsed(text)
        except (ParseError, MatcalcError) as exc:
            raise self._repoint(exc, text, line, offset) from None
        self._seen.update(f.variables())
        return f

    def _parsed(self, text: str) -> E.Expr:
        from matcalc.parse import parse
        return parse(text, self._shapes(), self.assume, self.rules.language, dict(self.kinds))

    def _parses(self, text: str) -> bool:
        """Whether ``text`` parses under the session's declarations (changing nothing)."""
        try:
            self._parsed(text)
        except (ParseError, MatcalcError):
            return False
        return True

    @staticmethod
    def _repoint(exc: MatcalcError, text: str, line: str, offset: int) -> MatcalcError:
        """Move an error's caret from the expression to where it sits in the whole line."""
        column = getattr(exc, "column", None)
        message = str(exc)
        if column is None or line == text or "\n  at line" not in message:
            return exc
        source = getattr(exc, "source", None)   # a caret put in this very line stays
        if source is not None and (source == line or not line.startswith(source, offset)):
            return exc
        head = message.split("\n  at line")[0]
        row = getattr(exc, "line", 1) or 1
        pos = sum(len(s) + 1 for s in text.split("\n")[:row - 1]) + column - 1
        new = _user_error(head, line, offset + pos, type(exc))
        new.line, new.column = 1, offset + pos + 1
        return new

    # ------------------------------------------------------------ one line
    def run(self, line: str) -> Reply:
        """Answer one line.  MatcalcError for bad input; :class:`Quit` for :quit.

        ``;`` outside brackets separates queries: ``x: vector(n); d/dx x'*x``.
        """
        pieces = _split_top(line, ";")
        if len(pieces) > 1:
            replies = [self.run(piece.lstrip()) for _, piece in pieces if piece.strip()]
            kind = replies[-1].kind if replies else "info"
            return Reply(kind, [text for r in replies for text in r.lines])
        return self._run_one(line)

    def _run_one(self, line: str) -> Reply:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            return Reply("info")
        if stripped.startswith(":"):
            return self._command(line)
        m = _DECLARE.match(line)
        if m and not _DIFF.match(line):
            return self._declare(line, m)
        m = _ASSIGN.match(line)
        if m:
            return self._assign(line, m)
        return self.answer(line)

    def answer(self, line: str, explain: bool = False) -> Reply:
        query = self.query(line)
        if query[0] == "expr":
            return Reply("answer", self._show_expr(query[1]))
        kind, f, wrt = query
        from matcalc.diff import derive, derive_hessian, rules_fired, unfinished_notes
        _scalar_for(kind, f)
        derivation = (derive_hessian if kind == "hessian" else derive)(f, wrt, rules=self.rules)
        result, steps = derivation.result, list(derivation.steps)
        if kind == "grad":
            result = derivation.gradient(self.rules)
        shown = self._in_layout(result, kind)
        self.last = Answer(line.strip(), kind, f, wrt, shown, result)
        lines = self._describe(shown, f) + unfinished_notes(derivation)
        if self.layout == "denominator":
            lines.append("  layout: " + ("denominator (a gradient is shaped like "
                                         f"{wrt} in either layout)" if kind == "grad" else
                                         "denominator: the transpose of the numerator-layout "
                                         "answer"))
        if explain:
            lines += rules_fired(steps)
        return Reply("answer", lines)

    def query(self, line: str):
        """("expr", Expr) or (kind, Expr, wrt) for a derivative query."""
        m = _DIFF.match(line)
        if m is None and (line.lstrip().startswith("∂") or _DIFF_SPACED.match(line)):
            raise _user_error("a derivative is written ∂/∂x EXPR (or d/dx EXPR), with the "
                              "variable's name after ∂/∂", line, len(line) - len(line.lstrip()))
        if m:
            rest_at = m.end()
            rest = line[rest_at:]
            if rest and not (rest[0].isspace() or rest[0] == "("):
                raise _user_error(f"expected a space after d/d{m['wrt']}, then the expression",
                                  line, rest_at)
            lead = line[:rest_at].strip()             # d/dx or ∂/∂x, as typed
            _refuse_trailing_wrt(line, rest_at, lambda e, x: f"{lead} names the variable "
                                 f"already: write {lead} {e}", self._parses)
            f = self.parse(rest, line, rest_at)
            return "diff", f, self._wrt(f, m["wrt"], line, m.start("wrt"))
        m = _CALL.match(line)
        if m and self.rules.language.get(m["fn"]) is None:
            return self._call_query(line, m)
        m = _BARE_CALL.match(line)
        if m and self.rules.language.get(m["fn"]) is None:
            fn = m["fn"]
            raise _user_error(f"{fn} takes its expression and variable in parentheses: "
                              f"{fn}(x'*A*x, x)" + (", or d/dx x'*A*x" if fn == "diff" else ""),
                              line, m.end())
        _refuse_trailing_wrt(line, 0, lambda e, x: f"write d/d{x} {e} or diff({e}, {x})",
                             self._parses)
        return "expr", self.parse(line)

    def _call_query(self, line: str, m):
        open_at = m.end() - 1
        depth, close = 0, None
        for i in range(open_at, len(line)):
            if line[i] in "(<⟨":
                depth += 1
            elif line[i] in ")>⟩":
                depth -= 1
                if depth == 0:
                    close = i
                    break
        if close is None:
            raise _user_error(f"missing ')' to close {m['fn']}(", line, len(line.rstrip()))
        if line[close + 1:].strip():
            raise _user_error(f"unexpected text after {m['fn']}(...)", line,
                              close + 1 + len(line[close + 1:]) - len(line[close + 1:].lstrip()))
        parts = _split_top(line[open_at + 1:close])
        if len(parts) != 2:
            raise _user_error(f"{m['fn']} takes an expression and a variable: "
                              f"{m['fn']}(x'*A*x, x)", line, open_at)
        (at_e, text), (at_w, wrt) = parts
        f = self.parse(text, line, open_at + 1 + at_e)
        wrt_at = open_at + 1 + at_w + len(wrt) - len(wrt.lstrip())
        if not re.fullmatch(NAME, wrt.strip()):
            raise _user_error(f"expected the name of a variable, got {wrt.strip()!r}", line,
                              wrt_at)
        return m["fn"], f, self._wrt(f, wrt.strip(), line, wrt_at)

    @staticmethod
    def _wrt(f: E.Expr, wrt: str, line: str, pos: int) -> str:
        names = f.variables()
        if wrt not in names:
            known = ", ".join(names) or "none"
            hint = difflib.get_close_matches(wrt, list(names), n=1)
            raise _user_error(f"{wrt} does not occur in {f} (its variables: {known})"
                              + (f"; did you mean {hint[0]}?" if hint else ""), line, pos,
                              MatcalcError)
        return wrt

    def _in_layout(self, result: E.Expr, kind: str) -> E.Expr:
        if self.layout == "numerator" or kind == "grad" or not result.shape:
            return result
        from matcalc.build import build
        return self.simplified(build("transpose", (result,), lang=self.rules.language))

    def simplified(self, f: E.Expr) -> E.Expr:
        """``f`` rewritten by the simplification rules, as answers are.

        The engine has no public simplify() yet, so this borrows the one the derivative
        uses (with a variable that occurs nowhere, every subexpression counts as constant);
        should that internal change, expressions are shown as typed rather than failing.
        """
        from matcalc.simplify import Simplifier, Trace
        try:
            from matcalc.diff import _Engine
            trace = Trace()
            engine = _Engine(self.rules, E.var("\0", ()), None, trace)
            return Simplifier(self.rules, self.rules.identities, engine.condition, trace)(f)
        except (ImportError, TypeError, AttributeError):
            return f

    def _show_expr(self, f: E.Expr) -> list[str]:
        g = self.simplified(f)
        self.last = Answer(str(f), "expr", f, None, g, g)
        lines = self._describe(g)
        if g is not f:
            lines.append(f"  input:  {f}")
        return lines

    @staticmethod
    def _describe(e: E.Expr, query: E.Expr | None = None) -> list[str]:
        from matcalc.printing import where_line
        return [e.unicode(), f"  shape:  {e.shape_text}", f"  where:  {where_line(e, query)}",
                f"  text:   {e}"]

    # ------------------------------------------------------------ declarations
    def _check_name(self, name: str, line: str) -> None:
        """A declared name must be one the grammar reads as a variable."""
        pos = line.find(name)
        if self.rules.language.get(name) is not None:
            raise _user_error(f"{name} is a function of the language; choose another name",
                              line, pos)
        try:
            ok = self.parse(name).op == "var"
        except MatcalcError:
            ok = False
        if not ok:
            raise _user_error(f"{name!r} is not a name matcalc reads: names are Latin or Greek "
                              "letters, digits and _, starting with a letter", line, pos)

    def _declare(self, line: str, m) -> Reply:
        names = [n.strip() for n in m["names"].split(",")]
        for name in names:
            self._check_name(name, line)
        spec_at = m.end()
        spec = line[spec_at:]
        tokens = [(t.start() + spec_at, t.group()) for t in
                  re.finditer(r"\d+|[^\W\d]\w*|\S", spec, re.UNICODE)]
        if not tokens:
            raise _user_error("expected a kind after ':': scalar, vector(n), matrix(m, n)",
                              line, len(line))
        props: set[str] = set()
        kind, dims, i = None, None, 0
        while i < len(tokens):
            pos, word = tokens[i]
            low = word.lower()
            if low in ("positive",) and i + 1 < len(tokens) and tokens[i + 1][1] == "definite":
                props.add("posdef")
                i += 2
                continue
            if low in PROPERTIES:
                props.add("posdef" if low == "spd" else low)
                i += 1
                continue
            if low in KINDS and kind is None:
                kind = low
                i += 1
                if i < len(tokens) and tokens[i][1] == "(":
                    dims, i = self._dims(line, tokens, i)
                continue
            if low in ("vector",) and kind == "row":         # "row vector(n)"
                i += 1
                if i < len(tokens) and tokens[i][1] == "(":
                    dims, i = self._dims(line, tokens, i)
                continue
            close = difflib.get_close_matches(low, KINDS + PROPERTIES, n=1)
            raise _user_error(f"unexpected {word!r}" + (f" (did you mean {close[0]!r}?)" if close
                              else "") + "; expected scalar, vector(n), row(n) or "
                              "matrix(m, n), optionally symmetric, diagonal or posdef", line, pos)
        if kind is None:
            kind = "matrix" if props else None
            if kind is None:
                raise _user_error("expected a kind: scalar, vector(n), matrix(m, n)", line,
                                  tokens[0][0])
        want = {"scalar": (0,), "vector": (0, 1), "row": (0, 1), "matrix": (0, 1, 2)}[kind]
        if dims is not None and len(dims) not in want:
            raise _user_error(f"{kind} takes {' or '.join(str(w) for w in want if w)} "
                              f"size{'s' if max(want) > 1 else ''}, got {len(dims)}", line,
                              spec_at)
        if props and kind != "matrix":
            raise _user_error(f"{'/'.join(sorted(props))} needs a square matrix, not a {kind}",
                              line, spec_at)
        if kind == "matrix" and dims is not None and len(dims) == 1:
            dims = (dims[0], dims[0])
        if props and dims is not None and len(dims) == 2 and dims[0] != dims[1]:
            raise _user_error(f"{'/'.join(sorted(props))} needs a square matrix, but "
                              f"{dims[0]} ≠ {dims[1]}", line, spec_at)
        for name in names:
            for table in (self.shapes, self.kinds, self.assume):
                table.pop(name, None)
            if kind == "scalar":
                self.shapes[name] = ()
            elif dims:
                self.shapes[name] = (1, dims[0]) if kind == "row" else tuple(dims)
            else:
                self.kinds[name] = {"vector": 1, "row": "row",
                                    "matrix": "square" if props else 2}[kind]
            if props:
                self.assume[name] = frozenset(props)
        return Reply("info", [self._declaration(n) for n in names])

    @staticmethod
    def _dims(line, tokens, i):
        """The sizes in ``( ... )`` starting at tokens[i]; (dims, index after the ')')."""
        dims, i = [], i + 1
        while i < len(tokens) and tokens[i][1] != ")":
            pos, word = tokens[i]
            if word == ",":
                i += 1
                continue
            if word.isdigit():
                if int(word) < 1:
                    raise _user_error("a size is at least 1", line, pos)
                dims.append(int(word))
            elif re.fullmatch(NAME, word):
                dims.append(word)
            else:
                raise _user_error(f"expected a size (a name like n, or a number), got {word!r}",
                                  line, pos)
            i += 1
        if i >= len(tokens):
            raise _user_error("missing ')' after the sizes", line, len(line.rstrip()))
        return tuple(dims), i + 1

    def _declaration(self, name: str) -> str:
        from matcalc.shapes import format_shape, kind_of
        props = sorted(self.assume.get(name, ()))
        extra = f", {', '.join(props)}" if props else ""
        if name in self.shapes:
            s = self._shapes()[name]
            return f"{name}: {kind_of(s)}" + (f" ({format_shape(s)})" if s else "") + extra
        k = self.kinds[name]
        word = {1: "vector", "row": "row vector", 2: "matrix", "square": "square matrix"}[k]
        return f"{name}: {word} (sizes from use){extra}"

    # ------------------------------------------------------------ values and dimensions
    def _assign(self, line: str, m) -> Reply:
        name, at = m["name"], m.end()
        text = line[at:].strip()
        value_at = at + len(line[at:]) - len(line[at:].lstrip())
        if not text:
            raise _user_error(f"expected a value after '{name} =': a size such as 3, or "
                              "numbers such as [1, 2, 3]", line, len(line))
        if text.isdigit() and self._is_dimension(name):
            size = int(text)
            if size < 1:
                raise _user_error("a dimension is at least 1", line, value_at)
            self.dims[name] = size
            return Reply("info", [f"{name} = {size} (a dimension: :eval, :check and :equal "
                                  "use it; answers keep the name)"])
        owner = self._sized_by(name)
        if owner is not None:          # a name is a dimension or a variable, never both
            raise _user_error(f"{name} is a dimension ({owner}): give it a whole number of at "
                              f"least 1, such as {name} = 3", line, value_at)
        value = parse_value(text, line, value_at)
        self._check_fits(name, value, line, value_at)
        self.values[name] = value
        return Reply("info", [f"{name} = {json.dumps(value)} (a value, for :eval)"])

    def _sized_by(self, name: str) -> str | None:
        """``x: vector(n)`` or ``n = 3`` when ``name`` is already a dimension, else None."""
        for var in sorted(self.shapes):
            if name in self.shapes[var]:
                return self._declaration(var)
        return f"you set {name} = {self.dims[name]}" if name in self.dims else None

    def _check_fits(self, name: str, value, line: str, pos: int) -> None:
        """A value for a declared name has its kind and its known sizes (as :eval wants)."""
        from matcalc.shapes import format_shape
        if name in self.shapes:
            want = self.shapes[name]
        elif name in self.kinds:
            want = {1: ("?",), "row": (1, "?"), 2: ("?", "?"), "square": ("?", "?")}[
                self.kinds[name]]
        else:
            return
        got = _shape_of(value)
        if len(want) == 0:                  # a scalar: one number, however nested
            fits = all(d == 1 for d in got)
            sizes = ()
        elif len(want) == 1:                # a column: (n,) or (n, 1)
            fits = len(got) == 1 or (len(got) == 2 and got[1] == 1)
            sizes = got[:1]
        elif want[0] == 1:                  # a row: (n,) or (1, n)
            fits = len(got) == 1 or (len(got) == 2 and got[0] == 1)
            sizes = (1, got[-1])
        else:
            fits = len(got) == 2 and (self.kinds.get(name) != "square" or got[0] == got[1])
            sizes = got
        known = {d: self.dims[d] for d in want if isinstance(d, str) and d in self.dims}
        if fits:
            fits = all(self.dims.get(d, s) == s if isinstance(d, str) else d == s
                       for d, s in zip(want, sizes) if d != "?")
        if fits:
            return
        given = ("is one number" if not got else f"has {got[0]} numbers" if len(got) == 1
                 else f"is a {got[0]}×{got[1]} matrix")
        declared = self._declaration(name).split(": ", 1)[1]
        bound = " and ".join(f"{d} = {v}" for d, v in known.items())
        raise _user_error(f"{name} is a {declared}{' with ' + bound if bound else ''}, but this "
                          f"value {given}", line, pos)

    def _is_dimension(self, name: str) -> bool:
        """``n = 3`` fixes a dimension; ``c = 3`` or ``x = 3`` gives a value."""
        if name in self.dims or any(name == d for s in self.shapes.values() for d in s):
            return True
        declared = name in self.shapes or name in self.kinds
        return not declared and name in DIMENSION_NAMES

    # ------------------------------------------------------------ commands
    def _command(self, line: str) -> Reply:
        from matcalc.commands import run_command
        return run_command(self, line)


def _scalar_for(kind: str, f: E.Expr) -> None:
    if kind in ("grad", "hessian") and f.shape:
        raise MatcalcError(f"{kind} needs a scalar expression; {f} is {f.shape_text} (use "
                           f"d/dx or diff for its Jacobian)")


# ---------------------------------------------------------------- values

def parse_value(text: str, line: str, pos: int):
    """A number, or a (nested) list of numbers, from JSON-like text such as [1, 2.5, -3]."""
    expected = ("expected a number or a list of numbers, like 2.5, [1, 2, 3] or "
                "[[1, 2], [3, 4]]")
    def refuse(word):
        raise ValueError(word)

    try:
        value = json.loads(text, parse_constant=refuse)       # no NaN or Infinity
    except ValueError as exc:
        col = getattr(exc, "pos", None)
        if col is None:                                        # NaN, Infinity
            col = text.find(str(exc))
        raise _user_error(expected, line, pos + max(col, 0)) from None
    if not _finite(value):
        raise _user_error("a value is a finite number: this one is too large for a float",
                          line, pos)
    shape = _shape_of(value)
    if shape is None:
        raise _user_error("rows of different lengths, or an entry that is not a number; "
                          + expected, line, pos)
    if len(shape) > 2:
        raise _user_error("matcalc has scalars, vectors and matrices; this value has "
                          f"{len(shape)} dimensions", line, pos)
    return value


def _shape_of(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return ()
    if isinstance(value, list) and value:
        shapes = [_shape_of(v) for v in value]
        if shapes[0] is None or any(s != shapes[0] for s in shapes):
            return None
        return (len(value),) + shapes[0]
    return None


def _finite(value) -> bool:
    if isinstance(value, float):
        return value - value == 0.0                     # false for inf and nan
    return all(_finite(v) for v in value) if isinstance(value, list) else True
