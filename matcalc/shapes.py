"""Symbolic shapes: dimension terms, unification, and operator signatures.

A shape is a tuple of dimensions: ``()`` a scalar, ``(n,)`` a column vector, ``(1, n)`` a row
vector, ``(m, n)`` a matrix.  A resolved dimension is an ``int`` or a ``str``: a name such as
``"n"`` or a product such as ``"m*p"`` (factors sorted, integer coefficient first).

While an expression is typed, dimensions are *terms* in a :class:`Unifier`: fresh variables
(unknown sizes that unification binds), rigid names the user declared, integers, and products
(from ``kron`` and ``vec``).  A literal 1 never unifies with a variable: a vector's length is
never silently taken to be 1.

Signatures come from rules/ data.  A signature is either a named kind (``elementwise``,
``congruent``, ``matmul``, ``scale``, ``transpose``, ``reduce``) or one or more gufunc strings such
as ``"(m,k),(k,n)->(m,n)"`` or ``"(m,n),(p,q)->(m*p,n*q)"``; overloads are chosen by the ranks
of the operands.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

KINDS = ("elementwise", "congruent", "matmul", "scale", "transpose", "reduce", "pairwise-reduce")

_SIG_RE = re.compile(r"^\s*(\(.*?\)(?:\s*,\s*\(.*?\))*)?\s*->\s*(\(.*?\))\s*$")
_DIM_TOKEN = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|\d+)(?:\*(?:[A-Za-z_][A-Za-z0-9_]*|\d+))*$")


class UnifyError(Exception):
    """Internal: two dimension terms cannot be equal.  Callers turn it into a ShapeError."""


# ---------------------------------------------------------------- dimension terms

_var_seq = itertools.count(1)             # Var.seq: the order variables were made in


class Var:
    """An unknown dimension; ``hint`` is the name it prints as when nothing binds it.

    ``can_be_one`` says whether unification may bind it to the literal 1; the length of a
    vector variable may not (``x*y`` with two column vectors is an error, not 1-vectors).
    ``bound`` is the term a :class:`Unifier` bound it to (None: unbound); a variable
    belongs to one unifier, that of the typing that made it.
    """

    __slots__ = ("hint", "can_be_one", "seq", "bound")

    def __init__(self, hint: str, can_be_one: bool = False):
        # (a module counter: assigning a class attribute would change the class, which
        # undoes CPython's caching of attribute lookups on every Var)
        self.hint, self.can_be_one, self.seq = hint, can_be_one, next(_var_seq)
        self.bound = None

    def __repr__(self) -> str:
        return f"Var({self.hint})"


@dataclass(frozen=True)
class Rigid:
    """A dimension name the user declared: equal only to itself."""

    name: str


@dataclass(frozen=True)
class Prod:
    """The product of two dimension terms (``kron``, ``vec``)."""

    left: object
    right: object


def product_dim(factors: list) -> int | str:
    """Canonical resolved product of resolved dimensions: ``product_dim([2, 'n', 'm']) == '2*m*n'``.

    >>> product_dim(['p', 1, 'm'])
    'm*p'
    """
    coeff = 1
    names: list[str] = []
    for f in factors:
        if isinstance(f, int):
            coeff *= f
        else:
            for part in str(f).split("*"):
                if part.isdigit():
                    coeff *= int(part)
                else:
                    names.append(part)
    if not names:
        return coeff
    names.sort()
    return "*".join(([str(coeff)] if coeff != 1 else []) + names)


def eval_dim(dim: int | str, sizes: dict[str, int]) -> int | None:
    """The integer value of a resolved dimension under ``sizes``, or None if a name is unbound."""
    if isinstance(dim, int):
        return dim
    value = 1
    for part in dim.split("*"):
        if part.isdigit():
            value *= int(part)
        elif part in sizes:
            value *= sizes[part]
        else:
            return None
    return value


class Unifier:
    """Union-find over dimension terms, with path compression.  A variable's link is its
    ``bound`` slot (no table keyed by id, looked up at every step)."""

    def find(self, t):
        if not isinstance(t, Var) or t.bound is None:
            return t                                 # the common case: a root, no list made
        path = []
        while isinstance(t, Var) and t.bound is not None:
            path.append(t)
            t = t.bound
        for v in path:
            v.bound = t
        return t

    def resolve(self, t) -> int | str:
        """A term as a resolved dimension (int or str); unbound variables print as their hint."""
        if t.__class__ is Var:                       # leaves directly: most dimensions are
            if t.bound is None:
                return t.hint
            t = self.find(t)
            if t.__class__ is Var:
                return t.hint
        if isinstance(t, int):
            return t
        if isinstance(t, Var):
            return t.hint
        if isinstance(t, Rigid):
            return t.name
        stack = [t]
        out: dict[int, int | str] = {}
        while stack:
            cur = self.find(stack[-1])
            if isinstance(cur, Prod):
                left, right = self.find(cur.left), self.find(cur.right)
                pending = [x for x in (left, right) if isinstance(x, Prod) and id(x) not in out]
                if pending:
                    stack.extend(pending)
                    continue
                out[id(cur)] = product_dim([self._leaf(left, out), self._leaf(right, out)])
            stack.pop()
        return self._leaf(self.find(t), out)

    def unbound(self, term, out: list) -> list:
        """Append to ``out`` the unbound variables ``term`` stands for (a product's factors'
        too), left to right; returns ``out``."""
        stack = [term]
        while stack:
            t = self.find(stack.pop())
            if t.__class__ is Var:
                out.append(t)
            elif isinstance(t, Prod):
                stack.extend((t.right, t.left))
        return out

    def _leaf(self, t, done: dict) -> int | str:
        if isinstance(t, int):
            return t
        if isinstance(t, Rigid):
            return t.name
        if isinstance(t, Var):
            return t.hint
        return done[id(t)]

    def _occurs(self, var: Var, term) -> bool:
        """Whether ``var`` is a factor of the product ``term`` (binding it would loop)."""
        stack = [term]
        while stack:
            t = self.find(stack.pop())
            if t is var:
                return True
            if isinstance(t, Prod):
                stack.extend((t.left, t.right))
        return False

    def unify(self, a, b) -> None:
        a, b = self.find(a), self.find(b)
        if a is b or (not isinstance(a, (Var, Prod)) and a == b):
            return
        if isinstance(a, Var) and isinstance(b, Var):
            old, new = (a, b) if a.seq < b.seq else (b, a)   # the older name survives
            old.can_be_one = old.can_be_one and new.can_be_one
            new.bound = old
            return
        for var, other in ((a, b), (b, a)):
            if isinstance(var, Var) and isinstance(other, Prod):
                factors = self._factors(other)
                if any(f is var for f in factors):
                    if len(factors) == 1:
                        return                               # k = k*1
                    raise UnifyError(f"{self.resolve(var)} cannot equal "
                                     f"{self.resolve(other)}")
                if len(factors) == 1:
                    self.unify(var, factors[0])
                    return
            if isinstance(var, Var):
                if other == 1 and not var.can_be_one:
                    raise UnifyError("a size that is not known to be 1 cannot be taken as 1")
                if isinstance(other, Prod):
                    factors = self._factors(other)          # without the 1s: n*1 is n
                    if len(factors) == 1:
                        self.unify(var, factors[0])
                        return
                    if self._occurs(var, other):           # n = n*m would loop forever
                        raise UnifyError(f"{var.hint} cannot equal a product of itself "
                                         "with other sizes")
                var.bound = other
                return
        if isinstance(a, Prod) and isinstance(b, Prod):
            left, right = self._factors(a), self._factors(b)
            for t in list(left):                     # cancel common factors: m*n = m*k → n = k
                same = next((u for u in right if u is t or (not isinstance(u, Var)
                                                             and u == t)), None)
                if same is not None:
                    left.remove(t)
                    right.remove(same)
            if len(left) == 1 and len(right) == 1:
                self.unify(left[0], right[0])
                return
            if len(left) == len(right) > 1 and all(_same(t, left[0]) for t in left) and all(
                    _same(u, right[0]) for u in right):
                self.unify(left[0], right[0])      # sizes are positive: k*k = n*n → k = n
                return
            for one, many in ((left, right), (right, left)):
                if len(one) == 1 and isinstance(one[0], Var) and many:
                    self.unify(one[0], _product(many))     # k = m*n
                    return
            if len(left) == len(right) > 1 and (all(isinstance(t, Var) for t in left) or
                                                all(isinstance(u, Var) for u in right)):
                # one side unknown sizes only (those of constants such as eye and vector(1)):
                # the simplest typing that fits pairs them in order (m*m = k*p → k = p = m)
                for t, u in zip(left, right):
                    self.unify(t, u)
                return
        if self.resolve(a) != self.resolve(b):
            raise UnifyError(f"{self.resolve(a)} ≠ {self.resolve(b)}")

    def _factors(self, t) -> list:
        out, stack = [], [t]
        while stack:
            cur = self.find(stack.pop())
            if isinstance(cur, Prod):
                stack.extend((cur.right, cur.left))
            elif cur != 1:
                out.append(cur)
        return out


def _same(t, u) -> bool:
    return t is u or (not isinstance(t, Var) and t == u)


def _product(factors: list):
    out = factors[-1]
    for f in reversed(factors[:-1]):
        out = Prod(f, out)
    return out


# ---------------------------------------------------------------- describing shapes

def format_shape(shape: tuple) -> str:
    """How a person writes a shape: ``scalar``, ``n×1``, ``1×n``, ``m×n``.

    >>> format_shape(('m', 'n')), format_shape(('n',)), format_shape(())
    ('m×n', 'n×1', 'scalar')
    """
    if len(shape) == 0:
        return "scalar"
    if len(shape) == 1:
        return f"{shape[0]}×1"
    return f"{shape[0]}×{shape[1]}"


def kind_of(shape: tuple) -> str:
    """``scalar``, ``vector`` (column), ``row vector`` or ``matrix``."""
    if len(shape) == 0:
        return "scalar"
    if len(shape) == 1:
        return "vector"
    if shape[0] == 1:
        return "row vector"
    return "matrix"


def normalise(rows, cols, one=1):
    """Shape of a 2-D result: 1×1 is a scalar, r×1 a column vector."""
    if rows == one and cols == one:
        return ()
    if cols == one:
        return (rows,)
    return (rows, cols)


# ---------------------------------------------------------------- signatures

@dataclass(frozen=True)
class Gufunc:
    """One overload: input dimension lists and the output dimension list; worked out once,
    as typing and building read them at every node: its operands' ``ranks`` (what chooses
    among overloads), and whether its sizes are all ``plain`` letters (no 1 or 2, no
    product m*n: tr, det, inv, '^')."""

    inputs: tuple[tuple[str, ...], ...]
    output: tuple[str, ...]
    text: str
    ranks: tuple[int, ...] = field(init=False, compare=False, repr=False)
    plain: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "ranks", tuple(len(i) for i in self.inputs))
        object.__setattr__(self, "plain", not any(
            "*" in d or d.isdigit() for dims in (*self.inputs, self.output) for d in dims))


def parse_signature(sig) -> str | tuple[Gufunc, ...]:
    """A signature from rules data: a kind name, or a gufunc string or list of them.

    Raises ValueError with a reason when the text is not a signature.

    >>> parse_signature("(m,k),(k,n)->(m,n)")[0].ranks
    (2, 2)
    >>> parse_signature("elementwise")
    'elementwise'
    """
    if isinstance(sig, str) and sig in KINDS:
        return sig
    texts = sig if isinstance(sig, list) else [sig]
    overloads = []
    for text in texts:
        if not isinstance(text, str):
            raise ValueError(f"a signature is a string, got {text!r}")
        m = _SIG_RE.match(text)
        if not m:
            raise ValueError(f"{text!r} is neither a kind ({', '.join(KINDS)}) nor a signature "
                             "like '(m,k),(k,n)->(m,n)'")
        inputs = tuple(_dims(part) for part in re.findall(r"\(.*?\)", m.group(1) or ""))
        output = _dims(m.group(2))
        if len(output) > 2 or any(len(i) > 2 for i in inputs):
            raise ValueError(f"{text!r}: matcalc has scalars, vectors and matrices only (rank <= 2)")
        bound = {d for dims in inputs for d in dims for d in d.split("*")}
        for d in output:
            for part in d.split("*"):
                if not part.isdigit() and part not in bound and inputs:
                    raise ValueError(f"{text!r}: output dimension {part!r} is not an input dimension")
        overloads.append(Gufunc(inputs, output, text))
    ranks = [o.ranks for o in overloads]
    if len(set(ranks)) != len(ranks):
        raise ValueError(f"overloads {texts!r} cannot be told apart by operand ranks")
    return tuple(overloads)


def _dims(text: str) -> tuple[str, ...]:
    inner = text.strip()[1:-1].replace(" ", "")
    if not inner:
        return ()
    dims = tuple(inner.split(","))
    for d in dims:
        if not _DIM_TOKEN.match(d):
            raise ValueError(f"bad dimension {d!r} in {text!r}")
    return dims
