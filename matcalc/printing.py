"""Print an Expr three ways: plain text (parses back), unicode (textbook), LaTeX.

The printers hold the one operator table matcalc keeps in Python (precedence and spelling, as
STYLE.md allows).  Printing is iterative over the DAG, so deep expressions print without
recursion, and each shared subexpression is rendered once.  A function the table does not
know (a user's own) prints as ``name(args)``.

Identities show their size where it cannot be inferred: inside the operands of a function
whose signature multiplies dimensions (``kron``, ``vec``, ``unvec``, ``commutation``: read
from rules/language), a bare ``eye`` of n×n prints as ``eye(n)`` (``Iₙ``, ``I_{n}``), since a
parser given only the product of two sizes cannot split it.  ``eye(n)`` parses to the same
node as a bare ``eye`` typed n×n, so the text still parses back to the same Expr.
"""

from __future__ import annotations

import math
import weakref
from functools import lru_cache

from matcalc.expr import Expr

ADD, NEG, MUL, POW, POST, ATOM = 10, 15, 20, 30, 40, 50

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_SUBSCRIPTS = "0123456789aehijklmnoprstuvx"
_SUBSCRIPT = str.maketrans(_SUBSCRIPTS, "₀₁₂₃₄₅₆₇₈₉ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
_GREEK = dict(zip("αβγδεζηθικλμνξοπρστυφχψωΓΔΘΛΞΠΣΦΨΩ",
                  r"\alpha \beta \gamma \delta \epsilon \zeta \eta \theta \iota \kappa \lambda "
                  r"\mu \nu \xi o \pi \rho \sigma \tau \upsilon \phi \chi \psi \omega \Gamma "
                  r"\Delta \Theta \Lambda \Xi \Pi \Sigma \Phi \Psi \Omega".split()))
# the rest of the Greek letters a name may use: final sigma, and capitals that LaTeX writes
# as Latin letters (there is no \Alpha)
_GREEK.update(zip("ςΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", [r"\varsigma", "A", "B", "E", "Z", "H", "I", "K", "M",
                                          "N", "O", "P", "T", r"\Upsilon", "X"]))


def _tex_letters(text: str) -> str:
    """Greek letters inside a longer name or subscript as LaTeX: ``αβ1 -> {\alpha}{\beta}1``."""
    return "".join(f"{{{_GREEK[ch]}}}" if _GREEK.get(ch, "").startswith("\\")
                   else _GREEK.get(ch, ch) for ch in text)


def format_number(value: float) -> str:
    """``2.0 -> '2'``, ``0.5 -> '0.5'``, ``1e-3 -> '0.001'``; always re-parseable."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(float(value))


class _Printer:
    """Shared layout; subclasses give spellings.  ``render`` returns the text of a node.

    Each node's text is kept (weakly, while the node lives), so printing a new expression
    that shares subexpressions with one printed before costs only its new nodes.
    """

    def __init__(self, sizes: bool = False):
        self._cache: "weakref.WeakKeyDictionary[Expr, tuple[str, int]]" = \
            weakref.WeakKeyDictionary()
        self.sizes = sizes          # print every identity's size (inside kron and vec)
        # the printer for operands of kron, vec, ...: itself once sizes are shown
        self.sized = self if sizes else type(self)(sizes=True)

    minus = "-"
    plus = " + "
    sub = " - "
    star = "*"
    ops = {"div": "/", "hadamard": ".*", "ediv": "./", "epow": ".^", "pow": "^"}

    def render(self, root: Expr) -> str:
        cache = self._cache
        hit = cache.get(root)
        if hit is not None:
            return hit[0]
        done: dict[int, tuple[str, int]] = {}
        self._done = done
        stack: list[tuple[Expr, bool]] = [(root, False)]
        while stack:                        # children first, stopping at nodes printed before
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if not expanded:
                hit = cache.get(node)
                if hit is not None:
                    done[id(node)] = hit
                    continue
                stack.append((node, True))
                if self.sized is self or node.op not in _sized_ops():
                    stack.extend((c, False) for c in reversed(node.args) if id(c) not in done)
                continue
            if self.sized is not self and node.op in _sized_ops():
                sized = self.sized
                kids = [sized._cache.get(a) or (sized.render(a), sized._cache[a])[1]
                        for a in node.args]
            else:
                kids = [done[id(a)] for a in node.args]
            out = self.node(node, kids)
            done[id(node)] = out
            cache[node] = out
        return done[id(root)][0]

    # ------------------------------------------------------------ helpers
    def _lookup(self, node: Expr) -> tuple[str, int]:
        """The printed form of a node rendered in this call or an earlier one."""
        hit = self._done.get(id(node)) or self._cache.get(node)
        if hit is None:
            outer = self._done
            self.render(node)
            self._done = outer
            hit = self._cache[node]
        return hit

    def wrap(self, s: str) -> str:
        return f"({s})"

    def at_least(self, item: tuple[str, int], prec: int) -> str:
        s, p = item
        return s if p >= prec else self.wrap(s)

    def number(self, value: float) -> tuple[str, int]:
        text = format_number(value)
        if value < 0:
            return self.minus + text[1:], NEG
        return text, ATOM

    # ------------------------------------------------------------ dispatch
    def node(self, node: Expr, kids: list[tuple[str, int]]) -> tuple[str, int]:
        op = node.op
        if op == "var":
            return self.name(node.value), ATOM
        if op == "const":
            return self.number(node.value)
        method = getattr(self, "op_" + op, None)
        if method is not None:
            return method(node, kids)
        if not node.args:
            return self.constant(node)
        return self.call(node.op, [k[0] for k in kids]), ATOM

    def name(self, name: str) -> str:
        return name

    def call(self, name: str, args: list[str]) -> str:
        return f"{name}({', '.join(args)})"

    def constant(self, node: Expr) -> tuple[str, int]:
        params = node.value or ()
        if not params:
            if node.op == "eye" and node.shape and (self.sizes or _numeric(node.shape[0])):
                return self.call(node.op, [str(node.shape[0])]), ATOM
            return node.op, ATOM
        return self.call(node.op, [format_number(p) for p in params]), ATOM

    # ------------------------------------------------------------ operators
    def op_add(self, node, kids):
        parts = [self.at_least(kids[0], ADD)]
        for arg, kid in zip(node.args[1:], kids[1:]):
            if arg.op == "neg":
                parts.append(self.sub + self.at_least(self._lookup(arg.args[0]), MUL))
            elif arg.op == "const" and arg.value < 0:
                parts.append(self.sub + self.number(-arg.value)[0])
            else:
                parts.append(self.plus + self.at_least(kid, ADD + 1))
        return "".join(parts), ADD

    def op_neg(self, node, kids):
        return self.minus + self.at_least(kids[0], MUL), NEG

    def op_mul(self, node, kids):
        # a product kept whole inside a product is a scalar factor: (b'*x)*A*x
        first = self.wrap(kids[0][0]) if node.args[0].op == node.op else self.at_least(kids[0],
                                                                                       MUL)
        out = prev = first
        prev_prec = kids[0][1]
        for kid in kids[1:]:
            factor = self.at_least(kid, MUL + 1)
            out += self.separator(prev, prev_prec, factor) + factor
            prev, prev_prec = factor, kid[1]
        return out, MUL

    def separator(self, left: str, left_prec: int, right: str) -> str:
        """What goes between two factors of a product."""
        return self.star

    def _left_assoc(self, node, kids):
        left, right = kids
        sym = self.ops[node.op]
        return self.at_least(left, MUL) + sym + self.at_least(right, MUL + 1), MUL

    op_div = op_ediv = _left_assoc

    def op_hadamard(self, node, kids):
        sym = self.ops["hadamard"]
        out = self.at_least(kids[0], MUL)
        for kid in kids[1:]:
            out += sym + self.at_least(kid, MUL + 1)
        return out, MUL

    def _power(self, node, kids):
        base, exponent = kids
        arg = node.args[1]
        if arg.op == "const" and arg.value < 0:
            exp_text = self.minus + format_number(-arg.value)
        elif arg.op == "neg" and _prec_of(arg.args[0]) >= POW:
            exp_text = exponent[0]
        else:
            exp_text = self.at_least(exponent, POW)
        return self.at_least(base, POST) + self.ops[node.op] + exp_text, POW

    op_pow = op_epow = _power

    def op_transpose(self, node, kids):
        return self.at_least(kids[0], POST) + "'", POST

    def op_inner(self, node, kids):
        return f"<{kids[0][0]}, {kids[1][0]}>", ATOM


def _numeric(dim) -> bool:
    """Whether a dimension is a number (an identity of fixed size prints it: eye(3))."""
    return isinstance(dim, int)


@lru_cache(maxsize=1)
def _sized_ops() -> frozenset:
    """Functions of the language whose signature multiplies dimensions (kron, vec, ...):
    worked out once (the printer asks for every node it prints)."""
    from matcalc.language import builtin_language
    return frozenset(spec.name for spec in builtin_language().functions.values()
                     if isinstance(spec.signature, tuple) and any(
                         "*" in d for o in spec.overloads for dims in (*o.inputs, o.output)
                         for d in dims))


def _prec_of(node: Expr) -> int:
    """Precedence of a node's printed form (the same in every printer)."""
    if node.op == "const":
        return NEG if node.value < 0 else ATOM
    return {"add": ADD, "neg": NEG, "mul": MUL, "div": MUL, "hadamard": MUL, "ediv": MUL,
            "kron": MUL, "dot": MUL, "pow": POW, "epow": POW, "inv": POW,
            "transpose": POST}.get(node.op, ATOM)


class TextPrinter(_Printer):
    """Plain text that :func:`matcalc.parse` reads back to the same Expr."""


class UnicodePrinter(_Printer):
    """The textbook look: ``xᵀ(A + Aᵀ)``, ``‖Ax − b‖²``, ``X⁻¹``."""

    minus = "−"
    sub = " − "
    ops = {"div": "/", "hadamard": " ⊙ ", "ediv": " ⊘ ", "epow": ".^", "pow": "^"}

    def separator(self, left: str, left_prec: int, right: str) -> str:
        """Juxtapose (``xᵀA``, ``2x``, ``A(B + C)``) unless that could be misread."""
        if left_prec < POW:                      # a/b·c, not a/bc
            return "·"
        lw = _edge_word(left[::-1])
        rw = _edge_word(right)
        if not lw or not rw:
            return ""
        if len(lw) == 1 and len(rw) == 1 and rw.isalpha():      # xy, 2x; but x·2, not x2
            return ""
        if lw.isdigit() and len(rw) == 1 and rw.isalpha():
            return ""
        return "·"

    def _power(self, node, kids):
        arg = node.args[1]
        if node.op == "pow" and arg.op == "const" and arg.value == int(arg.value) \
                and abs(arg.value) < 100:
            return self.at_least(kids[0], POST) + format_number(arg.value).translate(
                _SUPERSCRIPT), POW
        return super()._power(node, kids)

    op_pow = op_epow = _power

    def op_transpose(self, node, kids):
        return self.at_least(kids[0], POST) + "ᵀ", POST

    def op_inner(self, node, kids):
        return f"⟨{kids[0][0]}, {kids[1][0]}⟩", ATOM

    def op_inv(self, node, kids):
        return self.at_least(kids[0], POST) + "⁻¹", POW

    def op_norm2(self, node, kids):
        return f"‖{kids[0][0]}‖", ATOM

    def op_norm1(self, node, kids):
        return f"‖{kids[0][0]}‖₁", ATOM

    def op_kron(self, node, kids):
        return self.at_least(kids[0], MUL) + " ⊗ " + self.at_least(kids[1], MUL + 1), MUL

    def constant(self, node):
        params = node.value or ()
        if node.op == "eye":
            if params:
                return "I" + format_number(params[0]).translate(_SUBSCRIPT), ATOM
            if node.shape and (self.sizes or _numeric(node.shape[0])):
                size = str(node.shape[0]).replace("*", "")
                if all(ch in _SUBSCRIPTS for ch in size):
                    return "I" + size.translate(_SUBSCRIPT), ATOM
                return f"I_{size}" if len(size) == 1 else f"I_({size})", ATOM
            return "I", ATOM
        if node.op in ("vector", "matrix") and params:
            c = params[0]
            return ("𝟙", ATOM) if c == 1 else (self.number(c)[0] + "·𝟙", MUL)
        return super().constant(node)


def _edge_word(s: str) -> str:
    out = []
    for ch in s:
        if (ch.isalnum() or ch == "_") and ch not in "ᵀ⁻¹²³":     # θ_2·y, not θ_2y
            out.append(ch)
        else:
            break
    return "".join(out)


class LatexPrinter(_Printer):
    """LaTeX math: ``x^{\\top} \\left(A + A^{\\top}\\right)``."""

    sub = " - "
    star = " "
    ops = {"div": "/", "hadamard": " \\odot ", "ediv": " \\oslash ", "epow": "^", "pow": "^"}
    FUNCTIONS = {"exp": "\\exp", "log": "\\log", "sin": "\\sin", "cos": "\\cos", "tan": "\\tan",
                 "tanh": "\\tanh", "det": "\\det"}

    def wrap(self, s: str) -> str:
        return f"\\left({s}\\right)"

    def name(self, name: str) -> str:
        base, _, sub = name.partition("_")
        out = _GREEK.get(base, base) if len(base) == 1 else f"\\mathit{{{_tex_letters(base)}}}"
        return out + (f"_{{{_tex_letters(self._escape(sub))}}}" if sub else "")

    @staticmethod
    def _escape(text: str) -> str:
        return text.replace("_", "\\_")

    def number(self, value: float):
        text = format_number(abs(value))
        if "e" in text:
            mant, _, exp = text.partition("e")
            text = f"{mant} \\cdot 10^{{{int(exp)}}}"          # a product: 2 \cdot 10^{-7}
            return ("-" + text, NEG) if value < 0 else (text, MUL)
        return ("-" + text, NEG) if value < 0 else (text, ATOM)

    def call(self, name: str, args: list[str]) -> str:
        head = self.FUNCTIONS.get(name, f"\\operatorname{{{self._escape(name)}}}")
        return f"{head}\\left({', '.join(args)}\\right)"

    def separator(self, left: str, left_prec: int, right: str) -> str:
        if right[:1].isdigit():                  # 2 \cdot 3 and x \cdot 2, never x 2
            return " \\cdot "
        return " "

    def op_div(self, node, kids):
        return f"\\frac{{{kids[0][0]}}}{{{kids[1][0]}}}", MUL + 1

    def _power(self, node, kids):
        base = self.at_least(kids[0], ATOM)
        arg = node.args[1]
        exp_text = kids[1][0]
        circ = "\\circ " if node.op == "epow" else ""
        return f"{base}^{{{circ}{exp_text}}}", POW

    op_pow = op_epow = _power

    def op_transpose(self, node, kids):
        return self.at_least(kids[0], ATOM) + "^{\\top}", POST

    def op_inner(self, node, kids):
        return f"\\left\\langle {kids[0][0]}, {kids[1][0]} \\right\\rangle", ATOM

    def op_inv(self, node, kids):
        return self.at_least(kids[0], ATOM) + "^{-1}", POW

    def op_norm2(self, node, kids):
        return f"\\left\\lVert {kids[0][0]} \\right\\rVert", ATOM

    def op_norm1(self, node, kids):
        return f"\\left\\lVert {kids[0][0]} \\right\\rVert_{{1}}", ATOM

    def op_sqrt(self, node, kids):
        return f"\\sqrt{{{kids[0][0]}}}", ATOM

    def op_abs(self, node, kids):
        return f"\\left| {kids[0][0]} \\right|", ATOM

    def op_kron(self, node, kids):
        return self.at_least(kids[0], MUL) + " \\otimes " + self.at_least(kids[1], MUL + 1), MUL

    def op_tr(self, node, kids):
        return f"\\operatorname{{tr}}\\left({kids[0][0]}\\right)", ATOM

    def constant(self, node):
        params = node.value or ()
        if node.op == "eye":
            if not params and node.shape and (self.sizes or _numeric(node.shape[0])):
                factors = str(node.shape[0]).split("*")
                sep = "" if all(len(f) == 1 or f.isdigit() for f in factors) else " "
                return f"I_{{{sep.join(self.name(f) if not f.isdigit() else f for f in factors)}}}", ATOM
            return ("I" + (f"_{{{params[0]}}}" if params else "")), ATOM
        if node.op in ("vector", "matrix") and params:
            c = params[0]
            return ("\\mathbf{1}", ATOM) if c == 1 else (
                self.number(c)[0] + " \\mathbf{1}", MUL)
        return super().constant(node)


_TEXT, _UNICODE, _LATEX = TextPrinter(), UnicodePrinter(), LatexPrinter()


def to_text(expr: Expr) -> str:
    """Plain text; ``parse(to_text(e))`` gives ``e`` back (same shapes and assumptions)."""
    return _TEXT.render(expr)


def text_head(expr: Expr, factors: int) -> str:
    """The start of :func:`to_text` of ``expr``: for a product of more factors than
    ``factors``, its first ``factors`` as they print in it, else the whole text.  A product
    prints its factors in order, each in its own text, so the start is a prefix of the whole
    and costs what those factors cost, not what the product does."""
    if expr.op != "mul" or len(expr.args) <= factors:
        return to_text(expr)
    printed = _TEXT._cache
    kids = [printed.get(a) or (_TEXT.render(a), printed[a])[1] for a in expr.args[:factors]]
    return _TEXT.op_mul(expr, kids)[0]


def to_unicode(expr: Expr) -> str:
    return _UNICODE.render(expr)


def to_latex(expr: Expr) -> str:
    return _LATEX.render(expr)


BRIEF = 240     # characters of an expression an error message shows


def brief(expr: Expr, limit: int = BRIEF) -> str:
    """Plain text for an error message: whole when short, else its two ends around how much
    was left out (a generated sum of a thousand terms would bury the message itself)."""
    text = to_text(expr)
    if len(text) <= limit:
        return text
    half = limit // 2
    head, tail = text[:half], text[-half:]
    cut = head.rfind(" ")                   # at a space when there is one: whole operators
    head = head[:cut] if cut > half // 2 else head
    cut = tail.find(" ")
    tail = tail[cut + 1:] if 0 <= cut < half // 2 else tail
    return f"{head} … ({len(text):,} characters in all) … {tail}"


def brief_names(names, limit: int = 12) -> str:
    """``x, A, b``; the first ``limit`` and how many more when there are more."""
    names = list(names)
    shown = ", ".join(names[:limit]) or "none"
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def where_line(answer: Expr, query: Expr | None = None) -> str:
    """``x is n×1, A is n×n``: the answer's variables and their shapes, and, for the sizes of
    its shape that none of them has (d/dx x is the n×n eye, with no variable), the
    variables of the ``query`` that have them; "no variables" when there are none."""
    shown = dict(answer.variables())
    if query is not None:
        named = set().union(*(_dim_names(v.shape) for v in shown.values()))
        missing = _dim_names(answer.shape) - named
        for name, v in query.variables().items():
            if missing and name not in shown and missing & _dim_names(v.shape):
                shown[name] = v
                missing -= _dim_names(v.shape)
    return ", ".join(f"{n} is {v.shape_text}" for n, v in shown.items()) or "no variables"


def _dim_names(shape: tuple) -> set:
    """The size names in a shape: n and r in (n*r, m)."""
    return {part for d in shape if not isinstance(d, int) for part in str(d).split("*")
            if not part.isdigit()}
