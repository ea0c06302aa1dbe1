"""The expression DAG: immutable, hashable, hash-consed nodes with resolved shapes.

Every node is made through :func:`make`, which returns the one existing node for the same
operator, arguments, value, shape and properties (structural sharing).  Equality is therefore
identity and hashing is constant time, and an expression with repeated subexpressions is stored
once however large its printed form grows.

Nodes:
- ``var``: ``value`` is the name, ``props`` the assumptions (``symmetric``, ``diagonal``,
  ``posdef``);
- ``const``: ``value`` is a float;
- every operator and function: ``op`` is its name in rules/ (``add``, ``mul``, ``tr`` ...),
  ``value`` holds literal arguments (``eye(3)``, ``vector(1)``).

Associative operators (``add``, ``mul``, ``hadamard``) are flattened when built, so
``a + (b + c)`` and ``a + b + c`` are the same node; operand order is kept as written.
"""

from __future__ import annotations

import weakref
from _weakref import _remove_dead_weakref

from matcalc.errors import ShapeError
from matcalc.shapes import format_shape, kind_of

FLATTEN = frozenset({"add", "mul", "hadamard"})
PRODUCTS = frozenset({"mul"})            # flattened products whose runs are matrix chains


class _Ref(weakref.ref):
    """A weak reference to a node that knows the node's key in the table.

    The table is a plain dict of these rather than a ``weakref.WeakValueDictionary``, whose
    ``get``, ``__setitem__``, ``KeyedRef`` and removal callback all run Python code: every
    parse makes and drops a handful of nodes, and this halves what each one costs.  Nothing
    iterates over the table, so the dictionary's guards for iteration are not needed.
    """

    __slots__ = ("key",)


_table: dict[tuple, _Ref] = {}          # key -> weak reference to the one node for it


def _gone(ref: _Ref, table=_table, remove=_remove_dead_weakref) -> None:
    """A node died: drop its entry, unless a new node has taken the key since (bound as
    defaults, so it still works while the interpreter shuts down)."""
    remove(table, ref.key)


class _Fields:
    """A node's storage while :func:`make` fills it in.

    Expr refuses every assignment, so its slots could only be filled through their
    descriptors' ``__set__``, one Python-level call each; a _Fields takes plain attribute
    stores, which CPython runs inline, and :func:`make` then turns it into an Expr by
    assigning ``__class__`` (Expr adds no slots, so the layout is the same).  Only
    :func:`make` makes one; every Expr is one by inheritance, and what is remembered on a
    node later (its operands' signatures) is stored through these slots' own setters.
    """

    __slots__ = ("op", "args", "value", "shape", "props", "_chain", "_sig", "_kind",
                 "_operand_sigs", "_operand_kinds", "__weakref__")


class Expr(_Fields):
    """One node of an expression.  Build with :func:`make`, :func:`var`, :func:`const`."""

    __slots__ = ()

    op: str
    args: tuple["Expr", ...]
    value: object
    shape: tuple
    props: frozenset

    def __setattr__(self, name, value):
        raise AttributeError("Expr is immutable")

    def __delattr__(self, name):
        raise AttributeError("Expr is immutable")

    # Equality is identity and the hash is object's own (both in C, no Python call per dict
    # lookup): make() returns the one node for equal fields, so identity is equality.

    def __reduce__(self):
        return (make, (self.op, self.args, self.shape, self.value, self.props))

    # ------------------------------------------------------------ shape queries
    @property
    def kind(self) -> str:
        """``scalar``, ``vector``, ``row vector`` or ``matrix``."""
        return kind_of(self.shape)

    @property
    def shape_text(self) -> str:
        """The shape as a person writes it: ``scalar``, ``n×1``, ``1×n``, ``m×n``."""
        return format_shape(self.shape)

    @property
    def is_scalar(self) -> bool:
        return len(self.shape) == 0

    # ------------------------------------------------------------ traversal
    def walk(self, known=()):
        """Each distinct node once, children before parents (no recursion limit: past a
        small depth the walk goes on iteratively); below this node, none of ``known`` (a set
        or dict) nor what is reached only through them: the simplifier's walk over what it
        has not simplified yet stops at what it has (the root is always listed; the
        simplifier asks about it first)."""
        order: list[Expr] = []
        try:
            _walk_into(self, {self}, known, order, 0)   # hash-consed: identity is equality
        except RecursionError:
            # called with fewer than _WALK_RECURSION frames to spare (from deep in a caller,
            # or under a lowered recursion limit): the same walk again, all on its own stack
            order = []
            _walk_loop(self, {self}, known, order)
        return order

    def node_count(self) -> int:
        """Number of distinct nodes in the DAG (the size that matters for swell)."""
        return len(self.walk())

    def variables(self) -> dict[str, "Expr"]:
        """The variables in order of first appearance, by name."""
        return {n.value: n for n in self.walk() if n.op == "var"}

    # ------------------------------------------------------------ printing
    def __str__(self) -> str:
        from matcalc.printing import to_text
        return to_text(self)

    def unicode(self) -> str:
        """Textbook form: ``xᵀ(A + Aᵀ)``, ``‖Ax − b‖²``."""
        from matcalc.printing import to_unicode
        return to_unicode(self)

    def latex(self) -> str:
        """LaTeX source (math mode, without the dollar signs)."""
        from matcalc.printing import to_latex
        return to_latex(self)

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    def __repr__(self) -> str:
        return f"Expr({str(self)!r}, shape={self.shape_text})"


# how deep Expr.walk recurses before it goes on with a stack of its own: a recursive call
# costs less than a turn of the loop for the small expressions most walks meet, and this
# depth stays far from the interpreter's limit wherever the walk is called from
_WALK_RECURSION = 48


def _walk_into(node: Expr, seen: set, known, order: list, depth: int) -> None:
    """Append to ``order`` the nodes under ``node`` not in ``seen`` or ``known``, children
    first, then ``node``; a leaf is listed where it is met, without a call."""
    for child in node.args:
        if child not in seen and child not in known:
            seen.add(child)
            if not child.args:
                order.append(child)
            elif depth < _WALK_RECURSION:
                _walk_into(child, seen, known, order, depth + 1)
            else:
                _walk_loop(child, seen, known, order)
    order.append(node)


def _walk_loop(root: Expr, seen: set, known, order: list) -> None:
    """:func:`_walk_into` without recursion (a stack of the nodes being expanded)."""
    path = [(root, iter(root.args))]        # the nodes being expanded, their operands left
    while path:
        node, rest = path[-1]
        for child in rest:
            if child not in seen and child not in known:
                seen.add(child)
                if child.args:
                    path.append((child, iter(child.args)))
                    break
                order.append(child)
        else:
            order.append(node)
            path.pop()


def make(op: str, args: tuple = (), shape: tuple = (), value=None,
         props: frozenset = frozenset()) -> Expr:
    """The unique node for these fields (flattening associative operators)."""
    chain = base = None                  # whether a product's factors chain, when known;
    if op in FLATTEN:                    # the long product spliced into it, and where
        for a in args:
            if a.op == op:
                if op == "mul":
                    args, chain, base = _splice_products(args)
                else:
                    args = _flatten(op, args)
                break
    key = (op, args, value, shape, props)
    ref = _table.get(key)
    if ref is not None:
        node = ref()
        if node is not None:
            return node
    node = _new(_Fields)
    node.op = op
    node.args = args
    node.value = value
    node.shape = shape
    node.props = props
    # whether its factors form a chain: known from splicing (a long product is not walked
    # again), else worked out when the product is spliced into another (None till then:
    # most products never are)
    node._chain = chain if op == "mul" else False
    # what the simplifier's prefilter reads of an operand: its first operand's operator, or
    # a number's value
    node._sig = (op, args[0].op) if args else ("const", value) if op == "const" else None
    node._kind = _KINDS[len(shape)] if len(shape) != 2 or shape[0] != 1 else _ROW
    node._operand_sigs = None            # what the prefilter reads of the operands, once asked
    node._operand_kinds = None
    node.__class__ = Expr
    ref = _Ref(node, _gone)
    ref.key = key
    _table[key] = ref
    if base is not None:
        _grown_from(args, *base)
    return node


_new = object.__new__
# The slots' own setters, for what is remembered on a node once it is an Expr.
_set_operand_sigs, _set_operand_kinds, _set_chain = (
    _Fields.__dict__[name].__set__ for name in ("_operand_sigs", "_operand_kinds", "_chain"))
# what a node's shape says to the simplifier's prefilter: its rank, or that it is a row
_KINDS, _ROW = (("rank", 0), ("rank", 1), ("rank", 2)), ("row",)


# Long products made by splicing a few factors onto a long product: the factors of the new
# one, by id -> (those factors, the long one's factors, where they start).  The indexes of
# pattern.py over a product's factors extend the long one's instead of walking them all
# again (a deep network's Jacobian adds a factor or two per layer).  Kept for the most
# recent few only: an index is built right after its product is made.
LONG_RUN = 32
SPLICED: dict[int, tuple] = {}


def _grown_from(args: tuple, base: tuple, lo: int) -> None:
    if len(SPLICED) >= 64:
        SPLICED.clear()
    SPLICED[id(args)] = (args, base, lo)


def spliced(args: tuple) -> tuple | None:
    """(the long product's factors, where they start in ``args``) when ``args`` were made
    by splicing factors onto a product of at least :data:`LONG_RUN` factors; else None."""
    hit = SPLICED.get(id(args))
    return hit[1:] if hit is not None and hit[0] is args else None


def remember_operand_signatures(node: Expr, sigs: frozenset) -> None:
    """Keep pattern.operand_signatures of ``node`` on it (a function of its operands)."""
    _set_operand_sigs(node, sigs)


def remember_operand_kinds(node: Expr, kinds: tuple) -> None:
    """Keep pattern.operand_kinds of ``node`` on it (a function of its operands)."""
    _set_operand_kinds(node, kinds)


def _flatten(op: str, args: tuple) -> tuple:
    """Operands of an associative operator with nested ones of the same operator spliced in."""
    if op == "mul":
        return _splice_products(args)[0]
    flat: list[Expr] = []
    for a in args:
        if a.op == op:
            flat.extend(a.args)
        else:
            flat.append(a)
    return tuple(flat)


def _splice_products(args: tuple) -> tuple[tuple, bool, tuple | None]:
    """Splice nested products in where the factors still form one matrix chain, so every
    contiguous run of a product is itself a product (the engine splits them): A*(x'*y) and
    (b'*x)*(A*x) keep their scalar factor whole.  Returns the factors, whether they
    chain (:func:`_matrix_chain` of them, known here without walking them), and the longest
    product spliced in when it has :data:`LONG_RUN` factors or more (its factors, where they
    start among the factors), else None.

    The same as asking :func:`_matrix_chain` of ``flat + a.args + args[i+1:]`` for each
    nested product ``a``, but checked only where the pieces meet (whether a product's own
    factors chain is worked out once per product, by :func:`_chains`), so
    ``A*(A*(A*...))`` 10,000 deep is linear, not quadratic.
    """
    whole = _spliced_whole(args)
    if whole is not None:
        return whole
    n = len(args)
    after_rows: list = [None] * (n + 1)        # rows of the first non-scalar in args[i:]
    after_ok = [True] * (n + 1)                # whether args[i:] chain
    for i in range(n - 1, -1, -1):
        rows, cols = _shape_ends(args[i].shape)
        nxt = after_rows[i + 1]
        after_ok[i] = after_ok[i + 1] and (rows is None or nxt is None or cols == nxt)
        after_rows[i] = nxt if rows is None else rows
    flat = []
    ok, prev = True, None                      # whether flat chains; cols of its last factor
    base = None
    for i, a in enumerate(args):
        if a.op != "mul":
            first = last = None
        elif a.shape:                           # a chain's ends are its own rows and columns
            first, last = _shape_ends(a.shape)
        else:                                   # u'*v: 1 and 1; a product of scalars: none
            first, last = _ends(a.args)
        end = prev if last is None else last
        if a.op == "mul" and _chains(a) and ok and after_ok[i + 1] and (
                first is None or prev is None or prev == first) and (
                end is None or after_rows[i + 1] is None or end == after_rows[i + 1]):
            base = _longest(base, a.args, len(flat))
            flat.extend(a.args)
            prev = end
            continue
        flat.append(a)
        rows, cols = _shape_ends(a.shape)
        if rows is not None:
            ok = ok and (prev is None or prev == rows)
            prev = cols
    return tuple(flat), ok, base


def _spliced_whole(args: tuple) -> tuple[tuple, bool, tuple | None] | None:
    """:func:`_splice_products` of ``args`` in the usual case, every nested product a chain
    of matrices or vectors and the operands a chain (their ends meet): each is spliced in
    whole and the factors chain.  None otherwise."""
    flat: list[Expr] = []
    base = None
    for a in args:
        if a.op != "mul":
            flat.append(a)
        elif a.shape and _chains(a):
            base = _longest(base, a.args, len(flat))
            flat.extend(a.args)
        else:
            return None
    return (tuple(flat), True, base) if chain_ends(args) is not None else None


def _longest(base: tuple | None, factors: tuple, start: int) -> tuple | None:
    """The longer of ``base`` and (``factors``, ``start``), a product spliced in at
    ``start``, counting only one of :data:`LONG_RUN` factors or more."""
    if len(factors) >= LONG_RUN and (base is None or len(factors) > len(base[0])):
        return factors, start
    return base


def _chains(product: Expr) -> bool:
    """Whether a product's factors form a chain (:func:`_matrix_chain`), remembered on it."""
    chain = product._chain
    if chain is None:
        chain = _matrix_chain(product.args)
        _set_chain(product, chain)
    return chain


def run_shape(factors, lo: int = 0, hi: int | None = None) -> tuple:
    """The shape of the product of the run ``factors[lo:hi]`` of a product's factors (which
    chain), from its end factors alone: no node is built and nothing is copied."""
    from matcalc.shapes import normalise
    hi = len(factors) if hi is None else hi
    first = next((i for i in range(lo, hi) if factors[i].shape), None)
    if first is None:
        return ()
    last = next(i for i in range(hi - 1, lo - 1, -1) if factors[i].shape)
    f, l = factors[first].shape, factors[last].shape
    return normalise(f[0], 1 if len(l) == 1 else l[1])


def _shape_ends(s: tuple) -> tuple:
    """Rows and columns of one factor of this shape (None, None: a scalar)."""
    if not s:
        return None, None
    return s[0], 1 if len(s) == 1 else s[1]


def _ends(factors) -> tuple:
    """Rows of the first and columns of the last non-scalar factor (None: all scalars)."""
    first = next((f for f in factors if f.shape), None)
    if first is None:
        return None, None
    last = next(f for f in reversed(factors) if f.shape)
    return first.shape[0], 1 if len(last.shape) == 1 else last.shape[1]


def chain_ends(factors) -> tuple | None:
    """(rows of the first, columns of the last) non-scalar factor when the non-scalar factors
    multiply as matrices, each next to the next; (None, None) for scalars only; None when
    they do not chain.  Scalars scale wherever they stand; a column vector is n×1 and a row
    vector 1×n."""
    rows = cols = None
    for f in factors:
        s = f.shape
        if s:
            if cols is None:
                rows = s[0]
            elif s[0] != cols:
                return None
            cols = s[1] if len(s) == 2 else 1
    return rows, cols


def _matrix_chain(factors: list[Expr]) -> bool:
    """Whether the non-scalar factors multiply as matrices (:func:`chain_ends`)."""
    return chain_ends(factors) is not None


def var(name: str, shape: tuple = (), props=frozenset()) -> Expr:
    """A variable node: a scalar, a vector or a matrix (a shape of at most two sizes)."""
    shape = tuple(shape)
    if len(shape) > 2:
        raise ShapeError(f"{name}: a shape has at most two dimensions (scalars, vectors and "
                         f"matrices), got {shape!r}")
    return make("var", (), shape, name, frozenset(props))


def const(value: float) -> Expr:
    """A scalar constant node."""
    return make("const", (), (), float(value))
