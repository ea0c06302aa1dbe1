"""A session: the query language of the REPL and ``matcalc -c``, and its answers as text.

One line at a time, with declarations that persist:

    x: vector(n)            A: matrix(n, n) symmetric      c: scalar      n = 3
    d/dx x'*A*x             ∂/∂x x'*A*x                    diff(x'*A*x, x)
    grad(EXPR, x)           hessian(EXPR, x)               EXPR  (its simplified form)
    x = [1, 2, 3]           :explain QUERY   :check QUERY  :eval EXPR, x = [1, 2]  ...

:meth:`Session.run` turns a line into a :class:`Reply` (lines of text) or raises a
MatcalcError whose message says what, where (a caret under the line) and what was expected;
the session's state is changed only by a line that succeeds.  Nothing typed is evaluated as
Python: expressions go to the Lark grammar, values to ``json.loads``.  NumPy is loaded only
by the numeric commands (:check, :eval, :equal, :numpy).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field

from matcalc import expr as E
from matcalc.errors import MatcalcError, ParseError

NAME = r"[^\W\d]\w*"
_DIFF = re.compile(rf"\s*[d∂]\s*/\s*[d∂]\s*(?P<wrt>{NAME})", re.UNICODE)
_CALL = re.compile(r"\s*(?P<fn>diff|grad|hessian)\s*\(", re.UNICODE)
_DECLARE = re.compile(rf"\s*(?P<names>{NAME}(?:\s*,\s*{NAME})*)\s*:(?!\S*=)", re.UNICODE)
_ASSIGN = re.compile(rf"\s*(?P<name>{NAME})\s*=(?!=)", re.UNICODE)
KINDS = ("scalar", "vector", "row", "matrix")
PROPERTIES = ("symmetric", "diagonal", "posdef", "spd")
QUERY_WORDS = ("diff", "grad", "hessian")
# names that stand for sizes unless declared otherwise (matcalc names dimensions n, m, k, ...)
DIMENSION_NAMES = {"n", "m", "k", "p", "q", "r", "N", "M", "K"}

COMMANDS = {
    ":explain": ("QUERY", "the rules that fired, each with its file:line"),
    ":latex": ("[QUERY]", "LaTeX of the answer (the last one when no query is given)"),
    ":numpy": ("[QUERY]", "NumPy code computing the answer"),
    ":check": ("[QUERY]", "check the answer with numbers: backprop and central differences"),
    ":eval": ("EXPR[, x = [1, 2], ...]", "the value of EXPR at the given (or set) values"),
    ":equal": ("E1, E2", "are two expressions equal? (random values; a counterexample if not)"),
    ":graph": ("[EXPR]", "the computation graph: an SVG with Graphviz, else DOT text"),
    ":layout": ("[numerator|denominator]", "how derivatives are shown (default numerator)"),
    ":rules": ("[FILTER]", "the loaded rules: name, section, file:line"),
    ":load": ("FILE.yaml ...", "load rules of your own (see rules/README.md)"),
    ":vars": ("", "declarations, bound dimensions and values"),
    ":forget": ("NAME ...", "drop declarations, dimensions or values"),
    ":help": ("[COMMAND]", "this help"),
    ":quit": ("", "leave (Ctrl-D does too)"),
}
ALIASES = {":q": ":quit", ":exit": ":quit", ":h": ":help", ":?": ":help", ":e": ":explain"}

HELP = """\
Queries                                   Declarations (kept for the session)
  d/dx x'*A*x      ∂/∂x x'*A*x              x: vector(n)        c: scalar
  diff(x'*A*x, x)  grad(f, x)  hessian(f, x)  A: matrix(n, n) symmetric   (diagonal, posdef)
  x'*A*x           (its simplified form)    n = 3               (binds a dimension)
                                            x = [1, 2, 3]       (a value, for :eval)
Names a-g are scalars, h-z vectors, A-Z matrices unless declared.  Numerator layout:
the derivative of a scalar by a column vector is a row.
Commands"""


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
    from matcalc.parse import point
    return cls(f"{message}\n{point(line, pos)}")


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

    # ------------------------------------------------------------ state
    @property
    def rules(self):
        if self._rules is None:
            from matcalc.rules import builtin_rules
            self._rules = builtin_rules()
        return self._rules

    def variable_names(self) -> list[str]:
        return sorted(set(self.shapes) | set(self.kinds) | set(self.values))

    def function_names(self) -> list[str]:
        return self.rules.language.names()

    def _shapes(self) -> dict:
        # dimensions stay names in answers; ``n = 3`` fixes n for :eval, :check and :equal
        return dict(self.shapes)

    def parse(self, text: str, line: str | None = None, offset: int = 0) -> E.Expr:
        """``text`` as an Expr under the session's declarations; errors point into ``line``."""
        from matcalc.parse import parse
        line = text if line is None else line
        if not text.strip():
            raise _user_error("expected an expression here", line, min(offset, len(line)))
        try:
            return parse(text, self._shapes(), self.assume, self.rules.language,
                         dict(self.kinds))
        except (ParseError, MatcalcError) as exc:
            raise self._repoint(exc, text, line, offset) from None

    @staticmethod
    def _repoint(exc: MatcalcError, text: str, line: str, offset: int) -> MatcalcError:
        """Move an error's caret from the expression to where it sits in the whole line."""
        column = getattr(exc, "column", None)
        message = str(exc)
        if column is None or line == text or "\n  at line" not in message:
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
        import matcalc
        from matcalc.diff import derive
        _scalar_for(kind, f)
        if kind == "diff":
            derivation = derive(f, wrt, rules=self.rules)
            result, steps = derivation.result, derivation.steps
        else:
            result = getattr(matcalc, kind)(f, wrt, rules=self.rules)
            steps = derive(f, wrt, rules=self.rules).steps if explain else []
        shown = self._in_layout(result, kind)
        self.last = Answer(line.strip(), kind, f, wrt, shown, result)
        lines = self._describe(shown)
        if self.layout == "denominator":
            lines.append("  layout: " + ("denominator (a gradient is shaped like "
                                         f"{wrt} in either layout)" if kind == "grad" else
                                         "denominator: the transpose of the numerator-layout "
                                         "answer"))
        if explain:
            lines.append(f"  rules that fired ({len(steps)}):")
            for i, step in enumerate(steps, 1):
                lines.append(f"  {i:3d}. {step.rule} ({step.where}): {step.before}  →  "
                             f"{step.after}")
                if step.note:
                    lines.append(f"       note: {step.note}")
        return Reply("answer", lines)

    def query(self, line: str):
        """("expr", Expr) or (kind, Expr, wrt) for a derivative query."""
        m = _DIFF.match(line)
        if m:
            rest_at = m.end()
            rest = line[rest_at:]
            if rest and not (rest[0].isspace() or rest[0] == "("):
                raise _user_error(f"expected a space after d/d{m['wrt']}, then the expression",
                                  line, rest_at)
            f = self.parse(rest, line, rest_at)
            return "diff", f, self._wrt(f, m["wrt"], line, m.start("wrt"))
        m = _CALL.match(line)
        if m and self.rules.language.get(m["fn"]) is None:
            return self._call_query(line, m)
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
        from matcalc.diff import _Engine, _simplify
        from matcalc.simplify import Trace
        lang = self.rules.language
        t = build("transpose", (result,), lang=lang)
        engine = _Engine(self.rules, E.var("\0", ()), None, Trace())
        return _simplify(self.rules, t, engine, Trace())

    def simplified(self, f: E.Expr) -> E.Expr:
        """``f`` rewritten by the simplification rules (as answers are)."""
        from matcalc.diff import _Engine, _simplify
        from matcalc.simplify import Trace
        engine = _Engine(self.rules, E.var("\0", ()), None, Trace())
        return _simplify(self.rules, f, engine, Trace())

    def _show_expr(self, f: E.Expr) -> list[str]:
        g = self.simplified(f)
        self.last = Answer(str(f), "expr", f, None, g, g)
        lines = self._describe(g)
        if g is not f:
            lines.append(f"  input:  {f}")
        return lines

    @staticmethod
    def _describe(e: E.Expr) -> list[str]:
        variables = ", ".join(f"{n} is {v.shape_text}" for n, v in e.variables().items())
        return [e.unicode(), f"  shape:  {e.shape_text}",
                f"  where:  {variables or 'no variables'}", f"  text:   {e}"]

    # ------------------------------------------------------------ declarations
    def _declare(self, line: str, m) -> Reply:
        names = [n.strip() for n in m["names"].split(",")]
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
        value = parse_value(text, line, value_at)
        self.values[name] = value
        return Reply("info", [f"{name} = {json.dumps(value)} (a value, for :eval)"])

    def _is_dimension(self, name: str) -> bool:
        """``n = 3`` fixes a dimension; ``c = 3`` or ``x = 3`` gives a value."""
        if name in self.dims or any(name == d for s in self.shapes.values() for d in s):
            return True
        declared = name in self.shapes or name in self.kinds
        return not declared and name in DIMENSION_NAMES

    # ------------------------------------------------------------ commands
    def _command(self, line: str) -> Reply:
        stripped = line.lstrip()
        word = stripped.split(None, 1)[0]
        name = ALIASES.get(word, word)
        rest_at = len(line) - len(stripped) + len(word)
        rest = line[rest_at:]
        if name not in COMMANDS:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            raise _user_error(f"unknown command {word!r}" + (
                f"; did you mean {close[0]!r}?" if close else "; type :help for the list"),
                line, len(line) - len(stripped))
        handler = getattr(self, "_cmd_" + name[1:])
        return handler(line, rest, rest_at + len(rest) - len(rest.lstrip()))

    def _cmd_quit(self, line, rest, at):
        raise Quit

    def _cmd_help(self, line, rest, at):
        if rest.strip():
            cmd = rest.strip()
            cmd = ALIASES.get(cmd if cmd.startswith(":") else ":" + cmd,
                              cmd if cmd.startswith(":") else ":" + cmd)
            if cmd not in COMMANDS:
                raise _user_error(f"no command {rest.strip()!r}; type :help", line, at)
            args, what = COMMANDS[cmd]
            return Reply("info", [f"{cmd} {args}".rstrip(), f"  {what}"])
        width = max(len(f"{c} {a}") for c, (a, _) in COMMANDS.items())
        lines = HELP.splitlines()
        lines += [f"  {(c + ' ' + a).ljust(width)}  {w}" for c, (a, w) in COMMANDS.items()]
        return Reply("info", lines)

    def _needs_answer(self, rest: str, line: str, at: int, what: str) -> Answer:
        if rest.strip():
            query = self.query(rest)
            if query[0] == "expr":
                g = self.simplified(query[1])
                return Answer(rest.strip(), "expr", query[1], None, g, g)
            kind, f, wrt = query
            import matcalc
            _scalar_for(kind, f)
            result = getattr(matcalc, kind)(f, wrt, rules=self.rules)
            return Answer(rest.strip(), kind, f, wrt, self._in_layout(result, kind), result)
        if self.last is None:
            raise _user_error(f"{what} needs a query (e.g. {what} d/dx x'*A*x) or an earlier "
                              "answer", line, len(line))
        return self.last

    def _sub(self, rest: str, line: str, at: int):
        """Errors in ``rest`` point into the whole line."""
        return _Within(self, line, at - (len(rest) - len(rest.lstrip())))

    def _cmd_explain(self, line, rest, at):
        if not rest.strip():
            if self.last is None or self.last.wrt is None:
                raise _user_error(":explain needs a derivative query, e.g. :explain d/dx "
                                  "x'*A*x", line, len(line))
            rest = self.last.query
            line, at = rest, 0
        with self._sub(rest, line, at):
            query = self.query(rest)
        if query[0] == "expr":
            raise _user_error(":explain needs a derivative query: d/dx EXPR, diff(EXPR, x), "
                              "grad(EXPR, x) or hessian(EXPR, x)", line, at)
        with self._sub(rest, line, at):
            return self.answer(rest, explain=True)

    def _cmd_latex(self, line, rest, at):
        with self._sub(rest, line, at):
            answer = self._needs_answer(rest, line, at, ":latex")
        return Reply("info", [answer.result.latex()])

    def _cmd_numpy(self, line, rest, at):
        with self._sub(rest, line, at):
            answer = self._needs_answer(rest, line, at, ":numpy")
        return Reply("info", numpy_code(answer.result, self.rules).rstrip("\n").splitlines())

    def _cmd_check(self, line, rest, at):
        with self._sub(rest, line, at):
            answer = self._needs_answer(rest, line, at, ":check")
        if answer.wrt is None:
            raise _user_error(":check needs a derivative query, e.g. :check d/dx x'*A*x",
                              line, at)
        from matcalc.equivalence import check_derivative
        result = check_derivative(answer.expr, answer.wrt, answer.numerator, answer.kind,
                                  self.rules.language, dims=self.dims)
        return Reply("info", result.lines())

    def _cmd_eval(self, line, rest, at):
        pieces = _split_top(rest)
        base = at - (len(rest) - len(rest.lstrip()))
        (e_at, text), assignments = pieces[0], pieces[1:]
        values = dict(self.values)
        for p_at, piece in assignments:
            p_at += len(piece) - len(piece.lstrip())
            piece = piece.lstrip()
            m = _ASSIGN.match(piece)
            if not m:
                raise _user_error("expected NAME = VALUE after the expression, e.g. "
                                  ":eval x'*x, x = [1, 2]", line, base + p_at)
            v_at = base + p_at + m.end()
            values[m["name"]] = parse_value(piece[m.end():].strip(), line,
                                            v_at + len(piece[m.end():]) -
                                            len(piece[m.end():].lstrip()))
        f = self.parse(text, line, base + e_at)
        from matcalc.numeric import evaluate
        missing = [n for n in f.variables() if n not in values]
        if missing:
            raise _user_error(f"no value for {', '.join(missing)}: give it as "
                              f"{missing[0]} = [1, 2, 3] (after the expression, or on a line "
                              f"of its own)", line, base + e_at, MatcalcError)
        import numpy as np
        with np.errstate(all="ignore"):
            result = evaluate(f, {n: values[n] for n in f.variables()},
                              language=self.rules.language, dims=self.dims)
        lines = format_value(result).splitlines()
        if not np.all(np.isfinite(result)):
            lines.append("  (NaN or inf: some function is outside its domain here, such as "
                         "log or sqrt of a negative number)")
        return Reply("answer", lines)

    def _cmd_equal(self, line, rest, at):
        pieces = _split_top(rest)
        base = at - (len(rest) - len(rest.lstrip()))
        if len(pieces) != 2 or not all(p.strip() for _, p in pieces):
            raise _user_error(":equal takes two expressions separated by a comma: "
                              ":equal x'*(A + A'), (A*x + A'*x)'", line, at)
        (a_at, a), (b_at, b) = pieces
        self.parse(a, line, base + a_at)             # each side alone: errors point here
        self.parse(b, line, base + b_at)
        from matcalc.equivalence import equivalent
        result = equivalent(a, b, self._shapes(), self.assume, language=self.rules.language,
                            dims=self.dims, kinds=dict(self.kinds))
        return Reply("answer", str(result).splitlines())

    def _cmd_graph(self, line, rest, at):
        from matcalc.graph import render, to_dot
        if rest.strip():
            f = self.parse(rest, line, at - (len(rest) - len(rest.lstrip())))
        elif self.last is not None:
            f = self.last.result
        else:
            raise _user_error(":graph needs an expression, e.g. :graph x'*A*x", line, len(line))
        dot = to_dot(f)
        from pathlib import Path
        path = render(dot, Path("matcalc-graph.svg"))
        if path is not None:
            return Reply("info", [f"wrote {path.resolve()} ({f.node_count()} nodes)"])
        return Reply("info", dot.rstrip("\n").splitlines() + [
            "(Graphviz's dot is not installed: save the text above as graph.dot and run "
            "dot -Tsvg graph.dot -o graph.svg, or paste it into an online Graphviz viewer)"])

    def _cmd_layout(self, line, rest, at):
        word = rest.strip().lower()
        if not word:
            return Reply("info", [f"layout: {self.layout}"])
        if word not in ("numerator", "denominator"):
            raise _user_error(f"unknown layout {rest.strip()!r}; expected numerator or "
                              "denominator", line, at)
        self.layout = word
        what = ("derivatives are shown transposed, as in the Matrix Cookbook and SymPy"
                if word == "denominator" else "the derivative of a scalar by a column vector "
                "is a row (matcalc's default)")
        return Reply("info", [f"layout: {word}: {what}"])

    def _cmd_rules(self, line, rest, at):
        pattern = rest.strip().lower()
        chosen = [r for r in self.rules.rules if not pattern or pattern in r.name.lower()
                  or pattern in r.kind or pattern in r.where_text.lower()]
        if not chosen:
            raise _user_error(f"no rule matches {rest.strip()!r}", line, at, MatcalcError)
        w1 = max(len(r.name) for r in chosen)
        w2 = max(len(r.kind) for r in chosen)
        lines = [f"{r.name:<{w1}}  {r.kind:<{w2}}  {r.where_text}" for r in chosen]
        lines.append(f"({len(chosen)} of {len(self.rules.rules)} rules"
                     + (f" matching {rest.strip()!r})" if pattern else ")"))
        return Reply("info", lines)

    def _cmd_load(self, line, rest, at):
        import shlex
        try:
            files = shlex.split(rest)
        except ValueError as exc:
            raise _user_error(f"{exc}", line, at) from None
        if not files:
            raise _user_error(":load needs a rules file: :load my_rules.yaml", line, len(line))
        from matcalc.rules import load_rules
        rules = load_rules(*self.rule_files, *files)
        before = len(self.rules.rules)
        self._rules = rules
        self.rule_files.extend(files)
        added = len(rules.rules) - before
        funcs = len(rules.language.functions) - 0
        return Reply("info", [f"loaded {', '.join(files)}: {added} rules "
                              f"({len(rules.rules)} in all, {funcs} functions)"])

    def _cmd_vars(self, line, rest, at):
        lines = [self._declaration(n) for n in sorted(set(self.shapes) | set(self.kinds))]
        lines += [f"{n} = {s} (a dimension)" for n, s in sorted(self.dims.items())]
        lines += [f"{n} = {json.dumps(v)}" for n, v in sorted(self.values.items())]
        lines.append(f"layout: {self.layout}" + (f"; rules loaded from {', '.join(self.rule_files)}"
                                                 if self.rule_files else ""))
        if len(lines) == 1:
            lines.insert(0, "nothing declared: names a-g are scalars, h-z vectors, A-Z "
                            "matrices (declare with x: vector(n))")
        return Reply("info", lines)

    def _cmd_forget(self, line, rest, at):
        names = rest.split()
        if not names:
            raise _user_error(":forget needs names: :forget x A n", line, len(line))
        gone = []
        for n in names:
            found = False
            for table in (self.shapes, self.kinds, self.assume, self.dims, self.values):
                found = table.pop(n, None) is not None or found
            if found:
                gone.append(n)
        unknown = [n for n in names if n not in gone]
        out = [f"forgot {', '.join(gone)}"] if gone else []
        if unknown:
            out.append(f"(nothing was declared for {', '.join(unknown)})")
        return Reply("info", out)


def _scalar_for(kind: str, f: E.Expr) -> None:
    if kind in ("grad", "hessian") and f.shape:
        raise MatcalcError(f"{kind} needs a scalar expression; {f} is {f.shape_text} (use "
                           f"d/dx or diff for its Jacobian)")


class _Within:
    """Re-point errors raised for a piece of a line at the whole line."""

    def __init__(self, session, line, offset):
        self.session, self.line, self.offset = session, line, offset

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, MatcalcError) and self.offset:
            text = self.line[self.offset:]
            raise Session._repoint(exc, text, self.line, self.offset) from None
        return False


# ---------------------------------------------------------------- values

def parse_value(text: str, line: str, pos: int):
    """A number, or a (nested) list of numbers, from JSON-like text such as [1, 2.5, -3]."""
    expected = ("expected a number or a list of numbers, like 2.5, [1, 2, 3] or "
                "[[1, 2], [3, 4]]")
    try:
        value = json.loads(text)
    except ValueError as exc:
        col = getattr(exc, "pos", 0)
        raise _user_error(expected, line, pos + col) from None
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


def format_value(value) -> str:
    import numpy as np
    if isinstance(value, float):
        return repr(value)
    arr = np.asarray(value)
    kind = "vector" if arr.ndim == 1 else ("row vector" if arr.shape[0] == 1 else "matrix")
    text = np.array2string(arr, separator=", ", precision=6, suppress_small=True,
                           max_line_width=100)
    shape = " × ".join(str(d) for d in arr.shape) if arr.ndim == 2 else f"{arr.shape[0]}×1"
    return f"{text}\n  ({kind}, {shape})"


def numpy_code(expr: E.Expr, rules=None) -> str:
    """NumPy source for ``expr`` from matcalc's code generator.

    The interface is ``matcalc.codegen.numpy_source(expr, name="f")``; the generator's own
    branch also offers it as ``matcalc.compiled.numpy_source``, which is used when codegen does
    not export it.  ``rules`` is passed on where the generator accepts it (user functions).
    """
    import importlib
    import inspect
    source = None
    for module in ("matcalc.codegen", "matcalc.compiled"):
        try:
            source = getattr(importlib.import_module(module), "numpy_source", None)
        except ImportError:
            continue
        if source is not None:
            break
    if source is None:
        raise MatcalcError("NumPy code generation is not available in this matcalc "
                           "(matcalc.codegen is missing)")
    try:
        accepts_rules = "rules" in inspect.signature(source).parameters
    except (TypeError, ValueError):
        accepts_rules = False
    if accepts_rules and rules is not None:
        return source(expr, name="f", rules=rules)
    return source(expr, name="f")
