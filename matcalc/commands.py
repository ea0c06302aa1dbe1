"""The ``:`` commands of a session: :explain :latex :numpy :check :eval :equal :graph
:layout :rules :load :vars :forget :help :quit.

Each command is a function ``_cmd_NAME(session, line, rest, at)``: ``line`` is the whole
line typed, ``rest`` what follows the command word and ``at`` where it starts, so an error
in ``rest`` points its caret into the line.  The numeric ones load NumPy when they run.
"""

from __future__ import annotations

import difflib
import json

from matcalc import expr as E
from matcalc.errors import MatcalcError
from matcalc.session import (_ASSIGN, Answer, Quit, Reply, Session, _scalar_for, _split_top,
                             _user_error, parse_value)

COMMANDS = {
    ":explain": ("QUERY", "the rules that fired, each with its file:line"),
    ":latex": ("[QUERY]", "LaTeX of the answer (the last one when no query is given)"),
    ":numpy": ("[QUERY]", "NumPy code computing the answer"),
    ":check": ("[QUERY]", "check the answer with numbers: backprop and central differences"),
    ":eval": ("EXPR[, x = [1, 2], ...]", "the value of EXPR, or of a derivative query's "
              "answer, at the given (or set) values"),
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


def run_command(session, line: str) -> Reply:
    """Answer a line that starts with ':'."""
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
    handler = globals()["_cmd_" + name[1:]]
    return handler(session, line, rest, rest_at + len(rest) - len(rest.lstrip()))

def _cmd_quit(session, line, rest, at):
    raise Quit

def _cmd_help(session, line, rest, at):
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

def _needs_answer(session, rest: str, line: str, at: int, what: str) -> Answer:
    if rest.strip():
        query = session.query(rest)
        if query[0] == "expr":
            g = session.simplified(query[1])
            return Answer(rest.strip(), "expr", query[1], None, g, g)
        return _answer_of(session, rest.strip(), query)
    if session.last is None:
        raise _user_error(f"{what} needs a query (e.g. {what} d/dx x'*A*x) or an earlier "
                          "answer", line, len(line))
    return session.last

def _answer_of(session, text: str, query: tuple) -> Answer:
    """The answer to a derivative query (kind, expression, variable), as shown (its layout)."""
    kind, f, wrt = query
    import matcalc
    _scalar_for(kind, f)
    result = getattr(matcalc, kind)(f, wrt, rules=session.rules)
    return Answer(text, kind, f, wrt, session._in_layout(result, kind), result)

def _sub(session, rest: str, line: str, at: int):
    """Errors in ``rest`` point into the whole line."""
    return _Within(session, line, at - (len(rest) - len(rest.lstrip())))

def _cmd_explain(session, line, rest, at):
    if not rest.strip():
        if session.last is None or session.last.wrt is None:
            raise _user_error(":explain needs a derivative query, e.g. :explain d/dx "
                              "x'*A*x", line, len(line))
        rest = session.last.query
        line, at = rest, 0
    with _sub(session, rest, line, at):
        query = session.query(rest)
    if query[0] == "expr":
        raise _user_error(":explain needs a derivative query: d/dx EXPR, diff(EXPR, x), "
                          "grad(EXPR, x) or hessian(EXPR, x)", line, at)
    with _sub(session, rest, line, at):
        return session.answer(rest, explain=True)

def _cmd_latex(session, line, rest, at):
    with _sub(session, rest, line, at):
        answer = _needs_answer(session, rest, line, at, ":latex")
    return Reply("info", [answer.result.latex()])

def _cmd_numpy(session, line, rest, at):
    with _sub(session, rest, line, at):
        answer = _needs_answer(session, rest, line, at, ":numpy")
    return Reply("info", numpy_code(answer.result, session.rules).rstrip("\n").splitlines())

def _cmd_check(session, line, rest, at):
    with _sub(session, rest, line, at):
        answer = _needs_answer(session, rest, line, at, ":check")
    if answer.wrt is None:
        raise _user_error(":check needs a derivative query, e.g. :check d/dx x'*A*x",
                          line, at)
    from matcalc.equivalence import check_derivative
    result = check_derivative(answer.expr, answer.wrt, answer.numerator, answer.kind,
                              session.rules.language, dims=session.dims)
    return Reply("info", result.lines())

def _cmd_eval(session, line, rest, at):
    pieces = _split_top(rest)
    base = at - (len(rest) - len(rest.lstrip()))
    (e_at, text), assignments = pieces[0], pieces[1:]
    values = dict(session.values)
    value_at: dict[str, int] = {}                   # where each value given here starts
    for p_at, piece in assignments:
        p_at += len(piece) - len(piece.lstrip())
        piece = piece.lstrip()
        m = _ASSIGN.match(piece)
        if not m:
            raise _user_error("expected NAME = VALUE after the expression, e.g. "
                              ":eval x'*x, x = [1, 2]", line, base + p_at)
        v_at = base + p_at + m.end()
        value_at[m["name"]] = v_at + len(piece[m.end():]) - len(piece[m.end():].lstrip())
        values[m["name"]] = parse_value(piece[m.end():].strip(), line, value_at[m["name"]])
        session._check_fits(m["name"], values[m["name"]], line, value_at[m["name"]])
    text_at = base + e_at + len(text) - len(text.lstrip())
    with _sub(session, text.strip(), line, text_at):
        query = session.query(text.strip())
    f = query[1]                                # the expression (of the derivative)
    from matcalc.numeric import bind, evaluate
    missing = [n for n in f.variables() if n not in values]
    if missing:
        raise _user_error(f"no value for {', '.join(missing)}: give it as "
                          f"{missing[0]} = [1, 2, 3] (after the expression, or on a line "
                          f"of its own)", line, text_at, MatcalcError)
    import numpy as np
    dims, note = session.dims, []
    if query[0] != "expr":                      # a derivative query: its answer's value,
        answer = _answer_of(session, text.strip(), query).result  # sized by the expression's
        for name, var in f.variables().items():     # the answer holds for such values only
            broken = _broken_property(var.props, values[name])
            if broken:
                raise _user_error(f"{name} is declared {broken}, but its value is not: the "
                                  f"answer {answer} holds only for a {broken} {name}", line,
                                  value_at.get(name, text_at), MatcalcError)
        dims = bind(f, {n: values[n] for n in f.variables()}, session.dims)[1]    # values
        f, note = answer, [f"  (the value of {answer})"]
    with np.errstate(all="ignore"):
        result = evaluate(f, {n: values[n] for n in f.variables()},
                          language=session.rules.language, dims=dims)
    lines = format_value(result).splitlines() + note
    if not np.all(np.isfinite(result)):
        lines.append("  (NaN or inf: some function is outside its domain here, such as "
                     "log or sqrt of a negative number)")
    return Reply("answer", lines)

def _broken_property(props, value) -> str | None:
    """The declared property (diagonal, symmetric) a matrix value does not have, or None."""
    import numpy as np
    if not props & {"symmetric", "diagonal"}:
        return None
    a = np.asarray(value, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        return None                             # not a square matrix: bind says what is wrong
    if "diagonal" in props and not np.allclose(a, np.diag(np.diag(a))):
        return "diagonal"
    if not np.allclose(a, a.T):
        return "symmetric"
    return None

def _cmd_equal(session, line, rest, at):
    pieces = _split_top(rest)
    base = at - (len(rest) - len(rest.lstrip()))
    if len(pieces) != 2 or not all(p.strip() for _, p in pieces):
        raise _user_error(":equal takes two expressions separated by a comma: "
                          ":equal x'*(A + A'), (A*x + A'*x)'", line, at)
    (a_at, a), (b_at, b) = pieces
    session.parse(a, line, base + a_at)             # each side alone: errors point here
    session.parse(b, line, base + b_at)
    from matcalc.equivalence import equivalent
    result = equivalent(a, b, session._shapes(), session.assume, language=session.rules.language,
                        dims=session.dims, kinds=dict(session.kinds))
    return Reply("answer", str(result).splitlines())

def _cmd_graph(session, line, rest, at):
    from matcalc.graph import render, to_dot
    if rest.strip():
        f = session.parse(rest, line, at - (len(rest) - len(rest.lstrip())))
    elif session.last is not None:
        f = session.last.result
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

def _cmd_layout(session, line, rest, at):
    word = rest.strip().lower()
    if not word:
        return Reply("info", [f"layout: {session.layout}"])
    if word not in ("numerator", "denominator"):
        raise _user_error(f"unknown layout {rest.strip()!r}; expected numerator or "
                          "denominator", line, at)
    session.layout = word
    what = ("derivatives are shown transposed, as in the Matrix Cookbook and SymPy"
            if word == "denominator" else "the derivative of a scalar by a column vector "
            "is a row (matcalc's default)")
    return Reply("info", [f"layout: {word}: {what}"])

def _cmd_rules(session, line, rest, at):
    pattern = rest.strip().lower()
    chosen = [r for r in session.rules.rules if not pattern or pattern in r.name.lower()
              or pattern in r.kind or pattern in r.where_text.lower()]
    if not chosen:
        raise _user_error(f"no rule matches {rest.strip()!r}", line, at, MatcalcError)
    w1 = max(len(r.name) for r in chosen)
    w2 = max(len(r.kind) for r in chosen)
    lines = [f"{r.name:<{w1}}  {r.kind:<{w2}}  {r.where_text}" for r in chosen]
    lines.append(f"({len(chosen)} of {len(session.rules.rules)} rules"
                 + (f" matching {rest.strip()!r})" if pattern else ")"))
    return Reply("info", lines)

def _cmd_load(session, line, rest, at):
    import shlex
    try:
        files = shlex.split(rest)
    except ValueError as exc:
        raise _user_error(f"{exc}", line, at) from None
    if not files:
        raise _user_error(":load needs a rules file: :load my_rules.yaml", line, len(line))
    from matcalc.rules import load_rules
    rules = load_rules(*session.rule_files, *files)
    before = len(session.rules.rules)
    session._rules = rules
    session.rule_files.extend(files)
    added = len(rules.rules) - before
    funcs = len(rules.language.functions) - 0
    return Reply("info", [f"loaded {', '.join(files)}: {added} rules "
                          f"({len(rules.rules)} in all, {funcs} functions)"])

def _cmd_vars(session, line, rest, at):
    lines = [session._declaration(n) for n in sorted(set(session.shapes) | set(session.kinds))]
    lines += [f"{n} = {s} (a dimension)" for n, s in sorted(session.dims.items())]
    lines += [f"{n} = {json.dumps(v)}" for n, v in sorted(session.values.items())]
    lines.append(f"layout: {session.layout}" + (f"; rules loaded from {', '.join(session.rule_files)}"
                                             if session.rule_files else ""))
    if len(lines) == 1:
        lines.insert(0, "nothing declared: names a-g are scalars, h-z vectors, A-Z "
                        "matrices (declare with x: vector(n))")
    return Reply("info", lines)

def _cmd_forget(session, line, rest, at):
    names = rest.split()
    if not names:
        raise _user_error(":forget needs names: :forget x A n", line, len(line))
    gone = []
    for n in names:
        found = False
        for table in (session.shapes, session.kinds, session.assume, session.dims, session.values):
            found = table.pop(n, None) is not None or found
        if found:
            gone.append(n)
    unknown = [n for n in names if n not in gone]
    out = [f"forgot {', '.join(gone)}"] if gone else []
    if unknown:
        out.append(f"(nothing was declared for {', '.join(unknown)})")
    return Reply("info", out)


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


# ---------------------------------------------------------------- output

def format_value(value) -> str:
    import numpy as np
    if isinstance(value, float):
        return repr(value + 0.0)                # -0.0 shows as 0.0
    arr = np.asarray(value) + 0.0
    kind = "vector" if arr.ndim == 1 else ("row vector" if arr.shape[0] == 1 else "matrix")
    text = np.array2string(arr, separator=", ", precision=6, suppress_small=True,
                           max_line_width=100)
    shape = " × ".join(str(d) for d in arr.shape) if arr.ndim == 2 else f"{arr.shape[0]}×1"
    return f"{text}\n  ({kind}, {shape})"


def numpy_code(expr: E.Expr, rules=None) -> str:
    """NumPy source for ``expr`` from matcalc's code generator."""
    from matcalc.codegen import numpy_source
    return numpy_source(expr, name="f", rules=rules)
