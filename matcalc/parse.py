"""Text to typed Expr: Lark parsing, shape inference by unification, and readable errors.

Three passes, none of them recursive (a 10,000-deep expression is fine):
1. Lark's LALR parser calls :class:`_Builder` on every reduction, building a light syntax
   tree of :class:`_Node` with source positions;
2. :func:`_type` walks it bottom-up, giving every node a shape of dimension terms and
   unifying them (the signatures come from rules/language);
3. :func:`_finish` builds the hash-consed :class:`~matcalc.expr.Expr` with resolved shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import difflib
import itertools
import re
import weakref
from functools import lru_cache
from numbers import Integral

from matcalc import expr as E
from matcalc.errors import ParseError, ShapeError, UnknownFunctionError
from matcalc.language import Language, builtin_language
from matcalc.shapes import (KINDS, Gufunc, Prod, Rigid, Unifier, UnifyError, Var,
                            format_shape, kind_of, normalise)

MAX_LENGTH = 1_000_000
PROPS = {"symmetric": "symmetric", "diagonal": "diagonal", "posdef": "posdef",
         "positive definite": "posdef", "positive-definite": "posdef", "spd": "posdef",
         "pd": "posdef"}
IMPLIED = {"posdef": {"symmetric"}, "diagonal": {"symmetric"}}
DIM_NAMES = ("n", "m", "k", "p", "q", "r", "s", "t", "u", "v", "w")

_OPERAND_TOKENS = {"NAME", "NUMBER", "LPAR", "LANGLE", "NORM"}
_OPERAND_START = {"NAME", "NUMBER"}
_WORDS = {"NAME": "a name", "NUMBER": "a number", "LPAR": "'('", "RPAR": "')'", "COMMA": "','",
          "LANGLE": "'<'", "RANGLE": "'>'", "NORM": "'‖'", "MINUS": "'-'", "PLUS": "'+'",
          "STAR": "'*'", "SLASH": "'/'", "DOTSTAR": "'.*'", "DOTSLASH": "'./'", "CARET": "'^'",
          "DOTCARET": "'.^'", "QUOTE": '"\'"', "SUPERT": "'ᵀ'", "ODOT": "'⊙'", "ODIV": "'⊘'",
          "$END": "the end of the input"}
_CLOSERS = {"(": ")", "<": ">", "⟨": "⟩"}


# ---------------------------------------------------------------- syntax tree

class _Node:
    """A syntax-tree node: operator name, children, literal value, source span, and (set by
    the passes) its parent and its position in post-order.  A leaf's children are the empty
    tuple (no list made for each name or number); an operator's are a list, which _walk may
    change (``eye(n)``'s n becomes a size)."""

    __slots__ = ("op", "args", "value", "start", "end", "at", "paren", "up", "i")

    def __init__(self, op, args, value, start, end, at):
        self.op, self.args, self.value = op, args, value
        self.start, self.end, self.at = start, end, at   # at: the operator's character offset
        self.paren = False                               # written in parentheses
        self.up = None                                   # the parent node (None: the root)


def _binary(op):
    def build(self, children):
        left, tok, right = children
        node = _Node(op, [left, right], None, left.start, right.end, tok.start_pos)
        left.up = right.up = node
        return node
    return build


class _Builder:
    """Lark callbacks, one per alias in grammar/matcalc.lark (run inline by the LALR parser)."""

    add = _binary("add")
    sub = _binary("sub")
    mul = _binary("mul")
    div = _binary("div")
    hadamard = _binary("hadamard")
    ediv = _binary("ediv")
    pow = _binary("pow")
    epow = _binary("epow")

    def neg(self, children):
        tok, x = children
        x.up = node = _Node("neg", [x], None, tok.start_pos, x.end, tok.start_pos)
        return node

    def transpose(self, children):
        x, tok = children
        x.up = node = _Node("transpose", [x], None, x.start, tok.end_pos, tok.start_pos)
        return node

    def number(self, children):
        (tok,) = children
        return _Node("const", (), float(tok.value), tok.start_pos, tok.end_pos, tok.start_pos)

    def name(self, children):
        (tok,) = children
        return _Node("name", (), tok.value, tok.start_pos, tok.end_pos, tok.start_pos)

    def call(self, children):
        name, rpar = children[0], children[-1]
        args = [c for c in children[2:-1] if isinstance(c, _Node)]
        node = _Node("call", args, name.value, name.start_pos, rpar.end_pos, name.start_pos)
        for a in args:
            a.up = node
        return node

    def paren(self, children):
        lpar, x, rpar = children
        x.start, x.end = lpar.start_pos, rpar.end_pos
        x.paren = True
        return x

    def inner(self, children):
        lt, a, _comma, b, gt = children
        a.up = b.up = node = _Node("inner", [a, b], None, lt.start_pos, gt.end_pos, lt.start_pos)
        return node

    def norm(self, children):
        left, x, right = children
        x.up = node = _Node("call", [x], "norm2", left.start_pos, right.end_pos, left.start_pos)
        return node


@lru_cache(maxsize=None)
def _parser():
    from matcalc.cache import lark_parser
    from matcalc.resources import grammar_path
    return lark_parser(grammar_path().read_text(encoding="utf-8"), parser="lalr",
                       transformer=_Builder(), keep_all_tokens=True, maybe_placeholders=False)


@lru_cache(maxsize=None)
def _fast_parser():
    """Lark's tables in a lean loop (matcalc/lalr.py), or None if it cannot drive them."""
    from matcalc.lalr import LALR, Unsupported
    try:
        return LALR(_parser())
    except Unsupported:
        return None


def _syntax_tree(text: str) -> _Node:
    """The syntax tree of ``text``; a syntax error is Lark's, as a ParseError."""
    fast = _fast_parser()
    tree = fast.parse(text) if fast is not None else None
    if tree is None:                     # a syntax error: Lark's own parser reports it
        from lark.exceptions import UnexpectedInput
        try:
            tree = _parser().parse(text)
        except UnexpectedInput as exc:
            raise _syntax_error(text, exc) from None
    return tree


# ---------------------------------------------------------------- error display

def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def point(text: str, pos: int) -> str:
    """Where ``pos`` is: ``at line L, column C:`` then the line and a caret under it."""
    line, col = _line_col(text, pos)
    src = text.split("\n")[line - 1] if text else ""
    lo = 0
    if len(src) > 100:                       # show a window of a very long line
        lo = max(0, col - 50)
        src = ("…" if lo else "") + src[lo:lo + 100] + ("…" if lo + 100 < len(src) else "")
        lo -= 1 if lo else 0
    caret = " " * (col - 1 - lo) + "^"
    return f"  at line {line}, column {col}:\n    {src}\n    {caret}"


def _error(cls, message: str, text: str, pos: int):
    line, col = _line_col(text, pos)
    return cls(f"{message}\n{point(text, pos)}", line, col)


def _syntax_error(text: str, exc) -> ParseError:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        ch = text[pos]
        if "\udc80" <= ch <= "\udcff":           # a byte that was not UTF-8 (surrogateescape)
            return _error(ParseError, f"a byte that is not UTF-8 text ({ord(ch) - 0xDC00:#04x});"
                                      " save the input as UTF-8", text, pos)
        msg = f"unexpected character {ch!r}"
        if not ch.isprintable() or ord(ch) > 127:
            msg += f" (U+{ord(ch):04X})"
        hint = _CHAR_HINTS.get(ch)
        if hint is None and ch in _SUPERSCRIPTS:
            hint = "write a power with ^, as in x^2 (superscripts are only printed)"
        elif hint is None and ch in _SUBSCRIPTS:
            hint = "write a subscript with _, as in x_1"
        elif hint is None and ch.isnumeric():
            hint = "numbers are written with the digits 0-9 (0.5, not ½)"
        return _error(ParseError, msg + (f"; {hint}" if hint else ""), text, pos)
    if isinstance(exc, UnexpectedEOF):
        return _eof_error(text, set(exc.expected))
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = set(exc.expected)
    if tok.type == "$END":
        return _eof_error(text, expected)
    pos = tok.start_pos
    shown = str(tok)
    prev = _previous_token(text, pos)
    if tok.type == "RPAR" and _unclosed(text[:pos]) is None:
        return _error(ParseError, "unbalanced ')': there is no '(' for it to close", text, pos)
    if expected & _OPERAND_START and tok.type not in _OPERAND_TOKENS:
        if prev is None:
            return _error(ParseError, f"expected an operand before {shown!r}", text, pos)
        hint = "; write a power with ^, as in x^2" if prev == shown == "*" else ""
        return _error(ParseError, f"expected an operand after {prev!r}, got {shown!r}{hint}",
                      text, pos)
    if tok.type in _OPERAND_TOKENS and not expected & _OPERAND_START:
        return _error(ParseError, f"missing operator before {shown!r} (write '*' for a product)",
                      text, pos)
    words = sorted({_WORDS.get(t, t) for t in expected})
    return _error(ParseError, f"unexpected {shown!r}; expected {', '.join(words)}", text, pos)


# what a character the grammar does not know was probably meant to be
_TRANSPOSE = "write ' (or ᵀ) for the transpose"
_PRODUCT = "write * for a product"
_CHAR_HINTS = {
    "[": "matrices are named (A, B, ...) rather than written out",
    "=": "an expression has no '='",
    "|": "write abs(x) for the absolute value or norm1(x) for the 1-norm",
    ".": "elementwise operators are '.*', './' and '.^'",
    ";": "one expression at a time",
    "′": _TRANSPOSE, "’": _TRANSPOSE, "‘": _TRANSPOSE, "`": _TRANSPOSE, "´": _TRANSPOSE,
    "×": _PRODUCT, "⋅": _PRODUCT, "∙": _PRODUCT, "•": _PRODUCT,
    "∘": "write .* (or ⊙) for the elementwise product",
    "⊗": "write kron(A, B) for the Kronecker product",
    "÷": "write / to divide by a scalar, ./ (or ⊘) elementwise",
    "⁻": "write inv(X) or X^-1 for the inverse, x^-2 for a negative power",
    "√": "write sqrt(x)",
    "∑": "write sum(x)",
    "{": "group with ( and )", "}": "group with ( and )",
    "\\": "LaTeX is only printed; type the expression as text, like x'*A*x",
    "\u00a0": "a non-breaking space: type an ordinary space",
    "\u200b": "an invisible zero-width space: delete it",
    "𝟙": "𝟙 is how the all-ones vector is printed: type vector(1) (matrix(1) for a matrix)",
}
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_SUBSCRIPTS = "₀₁₂₃₄₅₆₇₈₉"


def _eof_error(text: str, expected: set) -> ParseError:
    end = len(text.rstrip())
    prev = _previous_token(text, end)
    if expected & _OPERAND_START:
        if prev is None:
            return _error(ParseError, "expected an expression", text, end)
        return _error(ParseError, f"expected an operand after {prev!r}", text, end)
    opener = _unclosed(text)
    if opener is not None:
        ch = text[opener]
        closer = _CLOSERS.get(ch, ch)
        line, col = _line_col(text, opener)
        return _error(ParseError, f"missing {closer!r} to close the {ch!r} at line {line}, "
                                  f"column {col}", text, end)
    return _error(ParseError, "unexpected end of input", text, end)


def _previous_token(text: str, pos: int) -> str | None:
    before = text[:pos].rstrip()
    if not before:
        return None
    for op in (".*", "./", ".^"):
        if before.endswith(op):
            return op
    return before[-1]


def _unclosed(text: str) -> int | None:
    """Offset of the innermost bracket of ``text`` that is not closed, if any."""
    stack: list[int] = []
    norm_open: int | None = None
    for i, ch in enumerate(text):
        if ch in "(<⟨":
            stack.append(i)
        elif ch in ")>⟩" and stack:
            stack.pop()
        elif ch == "‖":
            norm_open = None if norm_open is not None else i
    candidates = [p for p in (stack[-1] if stack else None, norm_open) if p is not None]
    return max(candidates) if candidates else None


# ---------------------------------------------------------------- typing

_DECLARE_ORDER = {1: 0, 2: 1, "row": 1, "square": 1}     # vectors first, other kinds last
_NO_PROPS: frozenset = frozenset()


class _Mismatch(Exception):
    """Internal: operands whose shapes do not fit.  Kind inference tries several readings
    and reports only the first one's failure, so the ShapeError (whose message takes a while
    to write) is made only when it is reported, from the failed typer, which nothing changes
    after the failure."""

    def __init__(self, typer: "_Typer", node: _Node, spec, reason: str):
        super().__init__(reason)
        self.typer, self.node, self.spec, self.reason = typer, node, spec, reason

    def error(self, hint: str = "") -> ShapeError:
        typer = self.typer
        message = typer._mismatch(self.node, self.spec, self.reason)
        return _error(ShapeError, f"{message}\n{hint}" if hint else message, typer.text,
                      self.node.at)


def _dim_names(used: frozenset):
    """Fresh dimension names: DIM_NAMES, then d1, d2, ... (those not in ``used``), made as
    they are asked for (most parses ask for two or three)."""
    for name in DIM_NAMES:
        if name not in used:
            yield name
    yield from _more_names(used)


def _more_names(used: frozenset):
    """Dimension names after DIM_NAMES: d1, d2, ... (those not in ``used``)."""
    for i in itertools.count(1):
        name = f"d{i}"
        if name not in used:
            yield name


class _Typer:
    """Gives every syntax node a shape of dimension terms; raises ShapeError with a position."""

    __slots__ = ("text", "lang", "u", "user_shapes", "assume", "vars", "props", "shape",
                 "rewrite", "_names", "used", "sized_freely", "tables")

    def __init__(self, text: str, lang: Language, shapes: dict, assume: dict, size: int,
                 used: frozenset = frozenset()):
        self.text, self.lang = text, lang
        self.u = Unifier()
        self.user_shapes = shapes
        self.assume = assume
        self.vars: dict[str, tuple] = {}
        self.props: dict[str, frozenset] = {}
        self.shape: list = [None] * size         # node.i -> shape of dimension terms
        self.rewrite: dict[int, tuple] = {}     # node.i -> (op, value, args) the node stands for
        self._names = _dim_names(used)
        self.used = used
        self.sized_freely = False               # a constant took a fresh size (eye, vector(1))
        self.tables = _typed_by_kind(lang)      # the language's signatures, ready to use

    def fresh(self, can_be_one: bool = False) -> Var:
        return Var(next(self._names), can_be_one)

    def src(self, node: _Node) -> str:
        s = self.text[node.start:node.end]
        return s if len(s) <= 40 else s[:37] + "..."

    def show(self, node: _Node) -> str:
        return format_shape(tuple(self.u.resolve(d) for d in self.shape[node.i]))

    def fail(self, node: _Node, message: str):
        raise _error(ShapeError, message, self.text, node.at)

    # -------------------------------------------------------- variables
    def declare(self, names: list[str], kinds: dict[str, int]) -> None:
        """Shapes for the variables, vectors before matrices, so A*x reads A: m×n, x: n."""
        order = sorted(names, key=lambda n: _DECLARE_ORDER.get(kinds[n], 2)) \
            if len(names) > 1 else names
        # the commonest kinds take fresh sizes as self.fresh() makes them, without its call
        user_shapes, fresh = self.user_shapes, self._names
        for name in order:
            kind = kinds[name]
            if name in user_shapes:
                shape = tuple(d if isinstance(d, int) else Rigid(d) for d in user_shapes[name])
            elif kind == 2:
                shape = (Var(next(fresh)), Var(next(fresh)))
            elif kind == 1:
                shape = (Var(next(fresh)),)
            elif kind == "row":
                shape = (1, self.fresh())
            elif kind == "square":
                d = self.fresh()
                shape = (d, d)
            else:                               # 0: parse() let no other kind through
                shape = ()
            self.vars[name] = shape
            props = self.assume.get(name, _NO_PROPS)
            if props:
                if len(shape) != 2 or shape[0] == 1:
                    shown = tuple(self.u.resolve(d) for d in shape)
                    is_ = "a scalar" if not shape else f"a {kind_of(shown)} ({format_shape(shown)})"
                    raise ShapeError(f"{name}: '{'/'.join(sorted(props))}' needs a square "
                                     f"matrix, but {name} is {is_}")
                try:
                    self.u.unify(shape[0], shape[1])
                except UnifyError:
                    raise ShapeError(f"{name}: '{'/'.join(sorted(props))}' needs a square "
                                     f"matrix, but {name} is declared "
                                     f"{format_shape(tuple(self.u.resolve(d) for d in shape))}"
                                     ) from None
            self.props[name] = props

    # -------------------------------------------------------- one node
    def type_node(self, node: _Node) -> None:
        op = node.op
        if op == "const":
            if node.value == float("inf"):
                raise _error(ParseError, f"the number {self.src(node)} is too large "
                                         "(over 1.8e308)", self.text, node.start)
            self.shape[node.i] = ()
            return
        if op == "name":
            self.shape[node.i] = self.vars[node.value]
            return
        if op == "size":                   # eye(n)'s n: read by the call (_constant)
            self.shape[node.i] = ()
            return
        if op == "sub":
            spec = self.lang.get("add")
        elif op == "call":
            spec = self._function(node)
        else:
            spec = self.lang.get(op)
        args = node.args
        if op == "pow" and self.shape[args[0].i]:
            self._matrix_power(node)
            spec, args = self.lang.get("inv"), args[:1]
        if spec.params:
            self.shape[node.i] = self._constant(node, spec)
            return
        if op == "call" and spec.arity is not None and len(args) != spec.arity:
            n = spec.arity
            raise _error(ParseError, f"{spec.name} takes {n} argument{'s' if n != 1 else ''}, "
                                     f"got {len(args)}", self.text, node.at)
        kind = spec.signature
        shapes = [self.shape[a.i] for a in args]
        try:
            if isinstance(kind, tuple):
                self.shape[node.i] = self._gufunc(node, spec, shapes)
            else:
                self.shape[node.i] = _KINDS[kind](self, node, shapes)
        except UnifyError as exc:
            raise _Mismatch(self, node, spec, str(exc)) from None

    def _function(self, node: _Node):
        spec = self.lang.get(node.value)
        if spec is None:
            names = self.lang.names()
            close = difflib.get_close_matches(node.value, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(names)}"
            raise _error(UnknownFunctionError, f"unknown function {node.value!r}{hint}",
                         self.text, node.start)
        return spec

    def _matrix_power(self, node: _Node) -> None:
        base, exponent = node.args
        minus_one = (exponent.op == "const" and exponent.value == -1) or (
            exponent.op == "neg" and exponent.args[0].op == "const"
            and exponent.args[0].value == 1)
        if not minus_one or len(self.shape[base.i]) != 2:
            self.fail(node, f"{self.src(node)}: '^' raises a scalar to a power, but "
                            f"{self.src(base)} is {self.show(base)}; write inv(X) or X^-1 for "
                            f"the inverse, X*X for a matrix square, or '.^' for elementwise powers")
        self.rewrite[node.i] = ("call", "inv", [base])

    def _constant(self, node: _Node, spec) -> tuple:
        params = []
        required = sum(1 for p in spec.params if not p.endswith("?"))
        if not required <= len(node.args) <= len(spec.params):
            self.fail(node, f"{spec.name} takes {required}"
                            f"{'' if required == len(spec.params) else f' to {len(spec.params)}'}"
                            f" literal argument(s), got {len(node.args)}")
        size = None                        # the size term, if the call gives one
        for arg, kind in zip(node.args, spec.params):
            if arg.op == "size" and arg.value:   # eye(n), eye(m*n): names, not a literal
                terms = [f if isinstance(f, int) else Rigid(f) for f in arg.value]
                size = terms[0]
                for t in terms[1:]:
                    size = Prod(size, t)
                continue
            value = _literal(arg)
            if value is None or (kind.startswith("size") and (value < 1 or value != int(value))):
                want = ("a positive integer, a dimension name or a product of them (eye(3), "
                        "eye(n), eye(m*n))") if kind.startswith("size") else "a number"
                self.fail(arg, f"{spec.name}: the argument must be {want}, "
                               f"got {self.src(arg)!r}")
            if kind.startswith("size"):     # the size lives in the shape, as for eye(n):
                size = int(value)           # eye(3) is the same node as an eye typed 3×3
                continue
            params.append(value)
        self.rewrite[node.i] = ("call", (spec.name, tuple(params)), [])
        (overload,) = spec.overloads
        letters: dict[str, object] = {}
        if size is not None:
            for letter in overload.output:
                letters[letter] = size
        out = []
        for d in overload.output:
            if d not in letters:
                letters[d] = int(d) if d.isdigit() else self.fresh()
                self.sized_freely = self.sized_freely or not d.isdigit()
            out.append(letters[d])
        return normalise(*out) if len(out) == 2 else tuple(out)

    # -------------------------------------------------------- signature kinds
    def _elementwise(self, node, shapes):
        if len(shapes) == 1:               # exp(x), -x: the operand's shape
            return shapes[0]
        full = [s for s in shapes if s]
        for s in full[1:]:
            if len(s) != len(full[0]):
                raise UnifyError("ranks differ")
            for a, b in zip(full[0], s):
                self.u.unify(a, b)
        return full[0] if full else ()

    def _congruent(self, node, shapes):
        a, b = shapes
        if len(a) != len(b):
            raise UnifyError("ranks differ")
        for x, y in zip(a, b):
            self.u.unify(x, y)
        return a

    def _pairwise_reduce(self, node, shapes):
        self._congruent(node, shapes)
        return ()

    def _reduce(self, node, shapes):
        return ()

    def _scale(self, node, shapes):
        if shapes[1]:
            raise UnifyError("divisor is not a scalar")
        return shapes[0]

    def _transpose(self, node, shapes):
        (s,) = shapes
        if len(s) == 0:
            return ()
        if len(s) == 1:
            return (1, s[0])
        if self.u.find(s[0]) == 1:
            return (s[1],)
        return (s[1], s[0])

    def _matmul(self, node, shapes):
        a, b = shapes
        if not a:
            return b
        if not b:
            return a
        r1, c1 = (a[0], 1) if len(a) == 1 else a
        r2, c2 = (b[0], 1) if len(b) == 1 else b
        self.u.unify(c1, r2)
        return normalise(self.u.find(r1), self.u.find(c2))

    def _gufunc(self, node, spec, shapes):
        chosen = spec.by_ranks.get(tuple(map(len, shapes)))
        if chosen is None:
            raise UnifyError("no overload")
        if chosen.plain:                    # letters only (tr, det, inv, '^'): one per size
            unify, find = self.u.unify, self.u.find
            letters: dict[str, object] = {}
            for dims, shape in zip(chosen.inputs, shapes):
                for d, term in zip(dims, shape):
                    if d in letters:
                        unify(letters[d], term)
                    else:
                        letters[d] = term
            out = []
            for d in chosen.output:
                term = letters[d]
                out.append(1 if find(term) == 1 else term)
            return normalise(*out) if len(out) == 2 else tuple(out)
        letters = {}
        products = []
        for dims, shape in zip(chosen.inputs, shapes):
            for d, term in zip(dims, shape):
                if d.isdigit():
                    self.u.unify(term, int(d))
                elif "*" in d:
                    products.append((d, term))              # once its letters are known
                elif d in letters:
                    self.u.unify(letters[d], term)
                else:
                    letters[d] = term
        for d, term in products:                            # vec(X) is m*n long: unvec
            whole = None
            for part in d.split("*"):
                t = int(part) if part.isdigit() else letters[part]
                whole = t if whole is None else Prod(whole, t)
            self.u.unify(term, whole)
        out = []
        for d in chosen.output:
            term = None
            for part in d.split("*"):
                t = int(part) if part.isdigit() else letters[part]
                if self.u.find(t) == 1:
                    continue                                 # m*1 is m
                term = t if term is None else Prod(term, t)
            if term is None:
                term = 1
            out.append(term)
        return normalise(*out) if len(out) == 2 else tuple(out)

    # -------------------------------------------------------- messages
    def _mismatch(self, node, spec, reason) -> str:
        src, args = self.src(node), node.args
        shown = ", ".join(f"{self.src(a)} is {self.show(a)}" for a in args)
        op = node.op
        if op == "mul":
            return f"{src}: inner dimensions differ: {shown}"
        if op in ("add", "sub"):
            a, b = args
            hint = ""
            if not self.shape[a.i] or not self.shape[b.i]:
                hint = "; to add a scalar c to every entry write c*vector(1) or c*matrix(1)"
            return f"{src}: '{'+' if op == 'add' else '-'}' needs operands of the same shape: " \
                   f"{shown}{hint}"
        if op == "div":
            return f"{src}: '/' divides by a scalar, but {self.src(args[1])} is " \
                   f"{self.show(args[1])}; for elementwise division write './'"
        if op in ("hadamard", "ediv", "epow"):
            return f"{src}: elementwise operands need the same shape (or one scalar): {shown}"
        if op == "inner":
            return f"{src}: an inner product needs operands of the same shape: {shown}"
        if isinstance(spec.signature, tuple):
            wants = " or ".join(_describe(o) for o in spec.overloads)
            return f"{src}: {spec.name} needs {wants}, but {shown}"
        return f"{src}: shapes do not fit ({reason}): {shown}"


_KINDS = {kind: getattr(_Typer, "_" + kind.replace("-", "_")) for kind in KINDS}  # by signature


def _describe(overload: Gufunc) -> str:
    def one(dims):
        if not dims:
            return "a scalar"
        if len(dims) == 1:
            return f"a vector ({dims[0]})"
        if dims[0] == dims[1]:
            return f"a square matrix ({dims[0]}×{dims[1]})"
        return f"a matrix ({dims[0]}×{dims[1]})"
    return " and ".join(one(d) for d in overload.inputs)


def _literal(node: _Node) -> float | None:
    sign = 1.0
    while node.op == "neg":
        sign, node = -sign, node.args[0]
    return sign * node.value if node.op == "const" else None


# ---------------------------------------------------------------- the passes

def _walk(root: _Node, lang: Language, shapes: dict
          ) -> tuple[list[_Node], list[str], list[_Node]]:
    """The nodes in post-order (children left to right, then the parent), each numbered by
    its place (``node.i``), the variables in order of first appearance, and the symbolic
    sizes (``eye(n)``'s n).  A bare constant such as ``eye`` becomes a call with no
    arguments."""
    nodes: list[_Node] = []
    sizes: list[_Node] = []
    stack = [root]
    while stack:                          # pre-order, children right to left ...
        node = stack.pop()
        nodes.append(node)
        if node.op == "call" and node.args:
            spec = lang.get(node.value)
            if spec is not None and spec.params:
                for j, kind in enumerate(spec.params[:len(node.args)]):
                    size = kind.startswith("size") and _size_node(node.args[j])
                    if size:
                        size.up = node
                        node.args[j] = size
                        sizes.append(size)
        stack.extend(node.args)
    nodes.reverse()                       # ... reversed is post-order, children left to right
    kept: dict[str, bool] = {}
    names: list[str] = []                 # leaves come in the same order in pre- and post-order
    for i, node in enumerate(nodes):
        node.i = i
        if node.op == "name":
            value = node.value
            keep = kept.get(value)
            if keep is None:
                spec = lang.get(value)
                keep = kept[value] = (value in shapes or spec is None
                                      or not _is_bare_constant(spec))
                if keep:
                    names.append(value)
            if not keep:
                node.op, node.args = "call", []          # a bare constant such as eye
    return nodes, names, sizes


def _size_node(arg: _Node) -> _Node | None:
    """A size argument that names dimensions (``n``, ``m*n``, ``2*n``) as one leaf of op
    ``size`` whose value is its factors (names and integers), or None as its value if it
    is not a product of those (``n + 1``: refused when typed, its names no variables);
    None for an argument without names (``3``: a literal, as before)."""
    factors: list = []
    valid, named = True, False
    stack = [arg]
    while stack:
        cur = stack.pop()
        if cur.op == "name":
            factors.append(cur.value)
            named = True
        elif cur.op == "mul":
            stack.extend(reversed(cur.args))
        elif cur.op == "const" and cur.value == int(cur.value) and cur.value >= 1:
            factors.append(int(cur.value))
        else:
            valid = False
            stack.extend(cur.args)
    if not named:
        return None
    return _Node("size", [], tuple(factors) if valid else None, arg.start, arg.end, arg.start)


def _name_at(text: str, node: _Node, name: str) -> int:
    found = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text[node.start:node.end])
    return node.start + (found.start() if found else 0)


def _check_sizes(text: str, sizes: list[_Node], names: list[str], shapes: dict,
                 kinds: dict, lang: Language) -> None:
    """A dimension name in a size must not also be a variable or a function: ``eye(n)``
    with a variable n is refused (a size never depends on a value)."""
    variables = set(names) | set(shapes) | set(kinds)
    for node in sizes:
        call = node.up.value
        for name in node.value or ():
            if isinstance(name, int):
                continue
            if name in variables:
                raise _error(ParseError, f"{call}({text[node.start:node.end]}): {name} is a "
                                         f"size here, so it names a dimension, but {name} is "
                                         "also a variable; a size is a positive integer, a "
                                         "dimension name or a product of them, never a "
                                         "variable's value: rename one of them", text,
                             _name_at(text, node, name))
            if lang.get(name) is not None:
                raise _error(ParseError, f"{call}({text[node.start:node.end]}): {name} is a "
                                         "function, not a dimension name", text,
                             _name_at(text, node, name))


def _is_bare_constant(spec) -> bool:
    return bool(spec.params) and all(p.endswith("?") for p in spec.params)


def _finish(nodes: list[_Node], typer: _Typer) -> E.Expr:
    resolve, shapes, rewrite, props = typer.u.resolve, typer.shape, typer.rewrite, typer.props
    make, flatten = E.make, E.FLATTEN
    built: list = [None] * len(nodes)          # node.i -> its Expr
    chain: dict[int, list] = {}       # operands of an associative chain, built once (a+b+c+...)
    variables: dict[str, E.Expr] = {}          # a name's node, made once per name
    for node in nodes:
        i, op = node.i, node.op
        if op == "name":
            name = node.value
            out = variables.get(name)
            if out is None:
                out = variables[name] = make("var", (), _resolved(shapes[i], resolve), name,
                                             props.get(name, _NO_PROPS))
            built[i] = out
            continue
        if op == "const":
            built[i] = make("const", (), (), node.value)    # (a float: E.const's node)
            continue
        if op == "size":                          # part of its call, which has no operands
            continue
        if i in rewrite:
            op, value, kids = rewrite[i]
        else:
            value, kids = node.value, node.args
        family = "add" if op == "sub" else op
        if family in flatten:
            left, right = kids
            operands = chain.pop(left.i, None)
            if operands is None:
                operands = [built[left.i]]
            if right.i in chain:                  # a + (b + c): spliced without building b + c
                operands.extend(chain.pop(right.i))
            else:
                right_e = built[right.i]
                if op == "sub":
                    right_e = (E.const(-right_e.value) if right_e.op == "const"
                               else make("neg", (right_e,), right_e.shape))
                operands.append(right_e)          # make() splices nested chains in
            up = node.up
            up_op = None if up is None else rewrite[up.i][0] if up.i in rewrite else up.op
            if up_op == family and up.args[-1] is node and (
                    family != "mul" or shapes[i]
                    or not any(o.shape or o.op == "mul" for o in operands)):
                # the right operand of the same operator (not of a '-'): its operands go
                # straight into the parent, so x + (x + (x + ...)) stays linear in time and
                # memory; a scalar product such as A*(x'*y) is built, to stay whole
                chain[i] = operands
                continue
            if up is not None and up.args[0] is node and (
                    up_op == family or (family == "add" and up_op == "sub")):
                # the parent goes on with the chain, unless this is a scalar product that
                # stays one factor: x'*y (a factor not a scalar), or in parentheses
                # ((x'*A*z*0.5)*B)
                if family != "mul" or shapes[i]:
                    chain[i] = operands
                    continue
                if not node.paren:
                    for o in operands:
                        if o.shape:
                            break
                    else:
                        chain[i] = operands
                        continue
            built[i] = make(family, tuple(operands), _resolved(shapes[i], resolve))
            continue
        args = (built[kids[0].i],) if len(kids) == 1 else tuple([built[a.i] for a in kids])
        if op == "neg" and args[0].op == "const":
            out = E.const(-args[0].value)
        elif op == "call" and isinstance(value, tuple):     # a constant: eye(3), vector(1)
            name, params = value
            out = make(name, (), _resolved(shapes[i], resolve), params or None)
        else:
            out = make(value if op == "call" else op, args, _resolved(shapes[i], resolve))
        built[i] = out
    return built[nodes[-1].i]


def _resolved(shape: tuple, resolve) -> tuple:
    """A shape of dimension terms as resolved dimensions (a shape has at most two)."""
    if not shape:
        return ()
    if len(shape) == 1:
        return (resolve(shape[0]),)
    return (resolve(shape[0]), resolve(shape[1]))


def _normalise_shapes(shapes) -> dict[str, tuple]:
    out = {}
    if shapes is not None and not isinstance(shapes, Mapping):
        raise ShapeError(f"shapes must map names to shapes, e.g. {{'x': 'n', 'A': 'm,n'}}, got "
                         f"{type(shapes).__name__} {shapes!r}")
    for name, shape in (shapes or {}).items():
        if isinstance(shape, str) and "," in shape:
            shape = tuple(d.strip() for d in shape.split(","))
            shape = tuple(int(d) if d.isdigit() else d for d in shape)
        if isinstance(shape, str) and shape.strip() in ("", "scalar"):
            shape = ()
        try:
            dims = (shape,) if isinstance(shape, (int, str)) else tuple(shape)
        except TypeError:
            raise ShapeError(f"{name}: a shape is a size, a name or a pair of them, e.g. 'n' or "
                             f"('m', 'n'), got {shape!r}") from None
        if len(dims) > 2:
            raise ShapeError(f"{name}: shape {shape!r} has {len(dims)} dimensions; matcalc has "
                             "scalars, vectors and matrices only")
        for d in dims:
            ok = (isinstance(d, int) and not isinstance(d, bool) and d >= 1) or (
                isinstance(d, str) and d.isidentifier())
            if not ok:
                raise ShapeError(f"{name}: dimension {d!r} is neither a positive integer nor a "
                                 "name")
        if len(dims) == 2:
            dims = normalise(dims[0], dims[1])
        out[name] = dims
    return out


def _normalise_assume(assume) -> dict[str, frozenset]:
    out = {}
    if assume is not None and not isinstance(assume, Mapping):
        raise ShapeError(f"assume must map names to properties, e.g. {{'A': 'symmetric'}}, got "
                         f"{type(assume).__name__} {assume!r}")
    for name, props in (assume or {}).items():
        if isinstance(props, str):
            items = [props]
        elif isinstance(props, Iterable) and not isinstance(props, Mapping):
            items = list(props)             # a list, a set, a generator of names
        else:                               # ({"symmetric": False} read as symmetric)
            raise ShapeError(f"{name}: an assumption is a name or a list of names (symmetric, "
                             f"diagonal, posdef), got {type(props).__name__} {props!r}")
        canon: set[str] = set()
        for p in items:
            key = PROPS.get(str(p).strip().lower())
            if key is None:
                raise ShapeError(f"{name}: unknown assumption {p!r}; known: symmetric, "
                                 "diagonal, posdef (positive definite)")
            canon |= {key} | IMPLIED.get(key, set())
        out[name] = frozenset(canon)
    return out


# what ``kinds`` may say a name is: a rank, a row vector or a square matrix
_KIND_NAMES = "0 (a scalar), 1 (a vector), 2 (a matrix), 'row' or 'square'"


def _normalise_kinds(kinds) -> dict:
    """``kinds`` checked, each rank a plain int (a NumPy integer is one too)."""
    if not isinstance(kinds, Mapping):
        raise ShapeError(f"kinds must map names to what they are, {_KIND_NAMES}, got "
                         f"{type(kinds).__name__} {kinds!r}")
    out = {}
    for name, kind in kinds.items():
        if isinstance(kind, str) and kind in ("row", "square"):
            out[name] = kind
        elif isinstance(kind, Integral) and not isinstance(kind, bool) and 0 <= kind <= 2:
            out[name] = int(kind)
        else:
            raise ShapeError(f"{name}: a kind is {_KIND_NAMES}, got {kind!r}")
    return out


def parse(text: str, shapes=None, assume=None, language: Language | None = None,
          kinds: dict | None = None) -> E.Expr:
    """Parse and type an expression.

    ``shapes`` overrides the default kinds (a–g scalars, h–z vectors, A–Z matrices):
    ``{"x": ("n",), "A": ("m", "n"), "c": ()}`` or integer sizes.  ``assume`` marks matrices
    ``symmetric``, ``diagonal`` or ``posdef``.  ``kinds`` fixes what a name is without fixing
    its sizes: a rank (0, 1, 2), ``"row"`` or ``"square"`` (rules use it for their names).

    >>> e = parse("x'*A*x")
    >>> str(e), e.shape, e.variables()["A"].shape
    ("x'*A*x", (), ('n', 'n'))
    """
    if not isinstance(text, str):
        raise ParseError(f"expected the expression as text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the input is {len(text):,} characters long; the limit is "
                         f"{MAX_LENGTH:,}")
    if not text.strip():
        raise ParseError("empty input: type an expression, for example x'*A*x")
    lang = language or builtin_language()
    shapes = _normalise_shapes(shapes) if shapes is not None else {}
    assume = _normalise_assume(assume) if assume is not None else {}
    kinds = _normalise_kinds(kinds) if kinds is not None else {}
    tree = _syntax_tree(text)
    nodes, names, sizes = _walk(tree, lang, shapes)
    if sizes:
        _check_sizes(text, sizes, names, shapes, kinds, lang)
    # fresh dimension names differ from the declared ones, the written ones (eye(n)) and the
    # variables' names, so an answer's eye(n) never reads as a variable n
    used = frozenset(itertools.chain(
        (d for s in shapes.values() for d in s if isinstance(d, str)), names, shapes,
        (f for node in sizes for f in node.value or () if isinstance(f, str)))) \
        if shapes or sizes else frozenset(names)
    typer = _infer_kinds(text, lang, shapes, assume, names, nodes, kinds, used)
    if typer.sized_freely:
        _name_free_dims(typer, nodes)
    return _finish(nodes, typer)


def _name_free_dims(typer: "_Typer", nodes: list) -> None:
    """Name the sizes that no variable has (``diag(eye)``'s, left free) in order of first
    appearance, after the names the variables' sizes took: the names then do not depend on
    how many fresh names were handed out and unified away while typing, so the printed
    text parses back to the same expression (``tr(A + eye)*diag(eye)``, where the first
    eye's fresh name went to A's size)."""
    unbound = typer.u.unbound
    anchored: list = []
    for shape in typer.vars.values():
        for d in shape:
            unbound(d, anchored)
    kept = {id(v) for v in anchored}
    free: list = []
    seen: set = set()                   # terms looked at: most nodes share their terms
    for node in nodes:
        found: list = []
        for d in typer.shape[node.i] or ():
            if id(d) not in seen:
                seen.add(id(d))
                unbound(d, found)
        for v in found:
            if id(v) not in kept:
                kept.add(id(v))
                free.append(v)
    if not free:
        return
    taken = typer.used | {v.hint for v in anchored}
    names = _dim_names(taken)
    for v in free:
        v.hint = next(names)


# ---------------------------------------------------------------- kinds of variables

def _letter_rank(name: str) -> int:
    first = name[0]
    if "h" <= first <= "z":
        return 1
    if "A" <= first <= "Z":
        return 2
    return 0


def _attempt(text, lang, shapes, assume, names, nodes, ranks, used) -> _Typer:
    typer = _Typer(text, lang, shapes, assume, len(nodes), used)
    typer.declare(names, ranks)
    shape, variables, type_node = typer.shape, typer.vars, typer.type_node
    operators, functions = typer.tables
    for node in nodes:                   # type_node's commonest cases, without the call:
        op = node.op
        if op == "name":
            shape[node.i] = variables[node.value]
            continue
        entry = operators.get(op)
        if entry is None and op == "call":   # (a wrong number of operands: type_node says so)
            entry = functions.get((node.value, len(node.args)))
        if entry is None:
            type_node(node)
            continue
        spec, kind = entry
        args = node.args
        operands = [shape[args[0].i], shape[args[1].i]] if len(args) == 2 else [
            shape[a.i] for a in args]           # (most are binary: no comprehension run)
        try:
            shape[node.i] = kind(typer, node, operands)
        except UnifyError as exc:
            raise _Mismatch(typer, node, spec, str(exc)) from None
    return typer


_TYPED_BY_KIND: "weakref.WeakKeyDictionary[Language, tuple]" = weakref.WeakKeyDictionary()


def _typed_by_kind(lang: Language) -> tuple[dict, dict]:
    """What type_node types by a signature alone (no literal params, not '^'), as (spec,
    kind function), per language: the grammar's operators by op, and the functions of a
    fixed arity (exp, log, sum, tr, det ...) by their name and that arity."""
    tables = _TYPED_BY_KIND.get(lang)
    if tables is None:
        operators = {}
        for op in ("add", "sub", "neg", "mul", "div", "hadamard", "ediv", "epow",
                   "transpose", "inner"):
            spec = lang.get("add" if op == "sub" else op)
            if spec is not None and not spec.params and not isinstance(spec.signature, tuple):
                operators[op] = (spec, _KINDS[spec.signature])
        functions = {(name, spec.arity): (spec, _gufunc_kind(spec)
                                          if isinstance(spec.signature, tuple)
                                          else _KINDS[spec.signature])
                     for name, spec in lang.functions.items()
                     if not spec.params and spec.arity is not None}
        tables = _TYPED_BY_KIND[lang] = (operators, functions)
    return tables


def _gufunc_kind(spec):
    """type_node's typing of a call of this gufunc function, as a kind function."""
    def kind(typer: _Typer, node: _Node, shapes: list):
        return typer._gufunc(node, spec, shapes)
    return kind


def _infer_kinds(text, lang, shapes, assume, names, nodes, kinds, used) -> _Typer:
    """Type the expression, choosing the kind of each undeclared variable.

    Kinds start from the first letter (a–g scalars, h–z vectors, A–Z matrices).  A letter
    a–g that is transposed (``a'*x``) is a vector, and so is one multiplied from the right
    onto a non-scalar where the vector reading makes it a matrix product (``a'*X*b``,
    ``A*b``); on the left it stays a coefficient (``c*x'*A*x`` is a scalar).  When the
    defaults do not type-check (``norm2(A*x - b)``), matcalc makes one letter a–g a vector,
    then two, until it type-checks.  If none does, the error is the defaults' error.
    """
    free: list[str] = []
    ranks: dict = {}
    scalars: set[str] = set()           # free names the rules below may make vectors
    for n in names:
        if n in shapes:
            ranks[n] = len(shapes[n])
        elif n in kinds:
            ranks[n] = kinds[n]
        else:
            free.append(n)
            rank = ranks[n] = _letter_rank(n)
            if rank == 0:
                scalars.add(n)
    # their leaves (none in A*X*B: no list made)
    leaves = [node for node in nodes if node.op == "name" and node.value in scalars] \
        if scalars else ()
    for node in leaves:
        if ranks[node.value] == 0 and node.up is not None and node.up.op == "transpose":
            ranks[node.value] = 1
    try:
        typer = _attempt(text, lang, shapes, assume, names, nodes, ranks, used)
    except (ShapeError, _Mismatch) as first_error:
        typer = None
        for changed in _deviations(free, ranks):
            try:
                typer = _attempt(text, lang, shapes, assume, names, nodes, changed, used)
            except (ShapeError, _Mismatch):
                continue
            ranks = changed
            break
        if typer is None:
            if isinstance(first_error, _Mismatch):
                raise first_error.error(_scalar_hint(text, lang, shapes, assume, names, nodes,
                                                     ranks, used, free)) from None
            raise first_error from None
    for node in leaves:                    # a scalar right of a matrix or row: A*b, a'*X*b
        name = node.value
        up = node.up
        if ranks[name] != 0 or up is None \
                or up.op != "mul" or _letter_rank(name) != 0 or up.args[1] is not node:
            continue                       # c*x'*A*x keeps c a scalar coefficient
        other = up.args[0]
        if not typer.shape[other.i]:
            continue
        trial = dict(ranks, **{name: 1})
        try:
            typer, ranks = _attempt(text, lang, shapes, assume, names, nodes, trial,
                                   used), trial
        except (ShapeError, _Mismatch):
            pass
    return typer


def _scalar_hint(text, lang, shapes, assume, names, nodes, ranks, used, free) -> str:
    """When the expression types with one undeclared name h–z read as a scalar
    (``lam*norm2(w)^2`` added to a scalar), a line saying how to declare it; else ''."""
    for name in free:
        if _letter_rank(name) != 1 or ranks[name] != 1:
            continue
        try:
            _attempt(text, lang, shapes, assume, names, nodes, dict(ranks, **{name: 0}), used)
        except (ShapeError, _Mismatch):
            continue
        return (f"{name} is a vector, as every undeclared name starting h–z is; if it is a "
                f"scalar, declare it: '{name}: scalar' in the REPL, --shape {name}= on the "
                f"command line, shapes={{'{name}': ()}} in Python")
    return ""


def _deviations(free: list[str], ranks: dict[str, int], limit: int = 200):
    """Assignments that make one scalar-by-letter variable a vector, then two (at most
    ``limit``).  Letters h–z stay vectors and A–Z matrices unless declared otherwise."""
    options = {n: [1] if _letter_rank(n) == 0 and ranks[n] == 0 else [] for n in free}
    count = 0
    for i, a in enumerate(free):
        for ra in options[a]:
            count += 1
            if count > limit:
                return
            yield dict(ranks, **{a: ra})
    for i, a in enumerate(free):
        for b in free[i + 1:]:
            for ra in options[a]:
                for rb in options[b]:
                    count += 1
                    if count > limit:
                        return
                    yield dict(ranks, **{a: ra, b: rb})
