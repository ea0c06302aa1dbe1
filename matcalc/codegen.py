"""NumPy source for expressions: one self-contained function, as a careful person writes it.

:func:`numpy_source` turns one or more Exprs (a value, its gradient, its Hessian) over the same
variables into the text of a Python module that imports only NumPy and defines one function
taking the variables as keyword arguments, checking their shapes, and returning the results in
matcalc's array conventions (scalar → float, column vector (n,), row vector (1, n), matrix).

What a node computes comes from the ``numeric`` name of its rules/language record, as in
matcalc.numeric; a function given by a ``definition`` is inlined.  The lowering is generic over
that vocabulary; the rewrites below are NumPy-level choices, not symbolic rules:

- each node of the DAG is computed once (a node used twice is bound to a local);
- ``diag(v)``, ``eye``, ``vector(c)``, ``inv(X)`` and ``kron(A, B)`` stay lazy until something
  needs the dense array: in a product ``diag(v)*X`` is ``v[:, None] * X``, ``inv(X)*b`` a solve,
  ``kron(A, B)*v`` two small products, ``vector(1) + u`` a broadcast scalar;
- a product's factors are multiplied in the cheapest order (matrix-chain dynamic programme on
  the sizes bound at compile time, unbound sizes taken as :data:`SIZE_GUESS`); a sum that only
  feeds a product with a smaller result is distributed (``(A + A')*x`` is ``A@x + A.T@x``);
  scalar factors scale the smallest operand, or the result in place;
- ``tr(P*Q)`` and ``diag(P*Q)`` are entrywise sums, never the full product;
- ``P'*diag(v)*P`` is symmetric: its lower block rows are computed in blocks and mirrored, so
  no temporary is as large as ``P`` (``P'*P`` is left to NumPy, which calls syrk).

Every name in the source is either a validated variable name (an identifier, not a keyword,
NFKC-normal, not starting with an underscore reserved below) or made here by :class:`_Namer`;
numbers are written with ``repr``; messages are string literals made with ``repr``.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import sys
import unicodedata

from matcalc.errors import MatcalcError
from matcalc.expr import Expr, make
from matcalc.shapes import eval_dim, format_shape

SIZE_GUESS = 1000          # the size assumed for a dimension no value binds at compile time
MAX_DEPTH = 400            # deeper DAGs are refused (the lowering recurses)
RESERVED = frozenset({"np"})
# the parameters and locals of the helper functions written below (module-level functions, so
# a user's variable of the same name never meets them)
HELPER_LOCALS = frozenset({"a", "name", "x", "v", "rows", "cols", "out", "step", "j0", "j1",
                           "sign", "value"})
ELEMENTWISE = {
    "exp": "np.exp({})", "log": "np.log({})", "sin": "np.sin({})", "cos": "np.cos({})",
    "tan": "np.tan({})", "tanh": "np.tanh({})", "sqrt": "np.sqrt({})", "abs": "np.abs({})",
    "sign": "np.sign({})", "relu": "np.maximum({}, 0.0)",
    "sigmoid": "(0.5 * np.tanh(0.5 * {}) + 0.5)",
}


class CodegenError(MatcalcError):
    """An expression or a name that cannot be turned into NumPy source."""


def check_name(name: str) -> str:
    """A variable name that may appear in generated source, or a CodegenError."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) \
            or keyword.issoftkeyword(name) or unicodedata.normalize("NFKC", name) != name \
            or name in RESERVED or name.startswith("__"):
        raise CodegenError(f"{name!r} cannot be a parameter of generated code (it must be an "
                           "identifier that is not a Python keyword, 'np' or a dunder name)")
    return name


class _Namer:
    """Fresh identifiers that never collide with the variables or each other."""

    def __init__(self, taken):
        self.taken = set(taken) | RESERVED | set(dir(builtins))

    def __call__(self, base: str) -> str:
        base = base if base.isidentifier() else "t"
        name, i = base, 0
        while name in self.taken or keyword.iskeyword(name):
            i += 1
            name = f"{base}{i}"
        self.taken.add(name)
        return name


# ---------------------------------------------------------------- values

class Val:
    """A node's value during generation.

    ``kind``: ``dense`` (``code`` is an array expression), ``diag`` (args[0] the vector),
    ``eye`` (code the size, coef), ``fill`` (coef the entry), ``inv`` (args[0] the matrix),
    ``kron`` (args the two factors).  A row vector's dense code is 1-d when ``flat``.
    """

    __slots__ = ("kind", "shape", "code", "args", "coef", "flat", "fresh", "shared", "depth")

    def __init__(self, kind, shape, code=None, args=(), coef=None, flat=False, fresh=True,
                 depth=1):
        self.kind, self.shape, self.code, self.args, self.coef = kind, shape, code, args, coef
        self.flat, self.fresh, self.shared, self.depth = flat, fresh, False, depth


def _is_name(code: str) -> bool:
    return code.isidentifier()


def _rank2(shape):
    """A shape as (rows, cols): a column vector is n×1."""
    if not shape:
        return (1, 1)
    return (shape[0], 1) if len(shape) == 1 else shape


def _num(x: float) -> str:
    x = float(x)
    if x != x:
        return "np.nan"
    if x in (float("inf"), float("-inf")):
        return "np.inf" if x > 0 else "(-np.inf)"
    return repr(x) if x >= 0 else f"({x!r})"


# ---------------------------------------------------------------- the generator

class _Gen:
    def __init__(self, lang, params, namer, dim_names, sizes):
        self.lang, self.namer, self.dim_names, self.sizes = lang, namer, dim_names, sizes
        self.lines: list[str] = []
        self.memo: dict = {}
        self.uses: dict = {}
        self.helpers: dict[str, str] = {}
        self.env = {p: Val("dense", None, p, fresh=False) for p in params}

    # ------------------------------------------------------------ plumbing
    def emit(self, line: str):
        self.lines.append("    " + line)

    def bind(self, code: str, base="t") -> str:
        name = self.namer(base)
        self.emit(f"{name} = {code}")
        return name

    def dim(self, d) -> str:
        if isinstance(d, int):
            return str(d)
        parts = [p if p.isdigit() else self.dim_names[p] for p in d.split("*")]
        return parts[0] if len(parts) == 1 else "(" + " * ".join(parts) + ")"

    def size(self, d) -> int:
        guess = eval_dim(d, self.sizes)
        if guess is None:
            guess = 1
            for p in str(d).split("*"):
                guess *= int(p) if p.isdigit() else self.sizes.get(p, SIZE_GUESS)
        return guess

    def count(self, shape) -> int:
        r, c = _rank2(shape)
        return self.size(r) * self.size(c)

    def helper(self, key: str, make_text) -> str:
        if key not in self.helpers:
            name = self.namer("_" + key)
            self.helpers[key] = (name, make_text(name))
        return self.helpers[key][0]

    # ------------------------------------------------------------ reading values
    def dense(self, v: Val) -> Val:
        """The value as an array (materialising a lazy one, once)."""
        if v.kind == "dense":
            return v
        code = self._materialise(v)
        v.kind, v.code, v.args, v.coef, v.flat, v.fresh = "dense", code, (), None, False, True
        v.depth = 1
        return v

    def _materialise(self, v: Val) -> str:
        k = v.kind
        if k == "diag":
            return self.bind(f"np.diag({self.vec(v.args[0])})", "D")
        if k == "eye":
            eye = f"np.eye({v.code})"
            return self.bind(eye if v.coef is None else f"{v.coef} * {eye}", "I")
        if k == "fill":
            shape = v.shape
            dims = ", ".join(self.dim(d) for d in shape)
            return self.bind(f"np.full(({dims},), {v.coef})" if len(shape) == 1 else
                             f"np.full(({dims}), {v.coef})", "F")
        if k == "inv":
            return self.bind(f"np.linalg.inv({self.code(v.args[0])})", "Xi")
        if k == "kron":
            a, b = v.args
            if (a.kind == "eye") != (b.kind == "eye") and len(v.shape) == 2:
                return self._kron_eye(v)
            out = f"np.kron({self.mat(a)}, {self.mat(b)})"
            if len(v.shape) == 1:
                out += ".reshape(-1)"
            return self.bind(out, "K")
        raise CodegenError(f"cannot materialise {k}")

    def _kron_eye(self, v: Val) -> str:
        """kron(A, eye) or kron(eye, B): zeros, then A's entries on the block diagonals
        (n multiplications fewer than np.kron, and only the nonzeros are written)."""
        a, b = v.args
        eye, other, left = (b, a, False) if b.kind == "eye" else (a, b, True)
        m = self.mat(other)
        if eye.coef:
            m = f"({eye.coef} * {m})"
        n = eye.code
        rows, cols = (self.dim(d) for d in _rank2(other.shape))
        name = self.bind(f"np.zeros(({rows} * {n}, {cols} * {n}))", "K")
        idx = self.bind(f"np.arange({n})", "i")
        if left:
            self.emit(f"{name}.reshape({n}, {rows}, {n}, {cols})[{idx}, :, {idx}, :] = {m}")
        else:
            self.emit(f"{name}.reshape({rows}, {n}, {cols}, {n})[:, {idx}, :, {idx}] = {m}")
        return name

    def code(self, v: Val) -> str:
        """Array code in matcalc's convention (a row vector as (1, n))."""
        self.dense(v)
        c = self._use(v)
        return f"{c}[None, :]" if v.flat else c

    def vec(self, v: Val) -> str:
        """Code for a vector or row vector as a 1-d array (a matrix or scalar as is)."""
        self.dense(v)
        c = self._use(v)
        if v.shape and len(v.shape) == 2 and v.shape[0] == 1 and not v.flat:
            return f"{c}[0]"
        return c

    def mat(self, v: Val) -> str:
        """2-d code: a column vector as (n, 1)."""
        c = self.vec(v)
        return f"{c}[:, None]" if len(v.shape) == 1 else (self.code(v) if v.shape else c)

    def _use(self, v: Val) -> str:
        if (v.shared or v.depth > 12) and not _is_name(v.code) and not _is_simple(v.code):
            v.code, v.depth = self.bind(v.code), 1
        return v.code

    def lazy_scalar(self, v: Val):
        """The entry of a constant fill, as scalar code."""
        return v.coef if v.kind == "fill" else None

    # ------------------------------------------------------------ lowering
    def value(self, node: Expr) -> Val:
        v = self.memo.get(node)
        if v is None:
            v = self._lower(node)
            v.shared = self.uses.get(node, 1) > 1
            self.memo[node] = v
        return v

    def _lower(self, node: Expr) -> Val:
        if node.op == "var":
            if node.value not in self.env:
                raise CodegenError(f"{node.value} is not a parameter")
            p = self.env[node.value]
            return Val(p.kind, node.shape, p.code, p.args, p.coef, p.flat, False)
        if node.op == "const":
            return Val("dense", (), _num(node.value), fresh=False)
        spec = self.lang.get(node.op)
        if spec is None:
            raise CodegenError(f"{node.op}: not in the language")
        if spec.numeric is None and spec.definition is not None:
            return self._inline(spec, node)
        handler = getattr(self, "op_" + str(spec.numeric), None)
        if handler is None:
            raise CodegenError(f"{node.op}: no NumPy code for numeric '{spec.numeric}'")
        return handler(node)

    def _inline(self, spec, node):
        outer = self.env
        self.env = {name: self.value(a) for name, a in zip(spec.operands, node.args)}
        saved, self.memo = self.memo, {}
        try:
            body = self.value(spec.definition)
        finally:
            self.env, self.memo = outer, saved
        return Val(body.kind, node.shape, body.code, body.args, body.coef, body.flat,
                   body.fresh, body.depth)

    def dense_op(self, node, code, args=(), fresh=True, flat=False) -> Val:
        depth = 1 + max((a.depth for a in args), default=0)
        return Val("dense", node.shape, code, flat=flat, fresh=fresh, depth=depth)

    # ------------------------------------------------------------ elementwise
    def _elementwise_operands(self, node):
        vals = [self.value(a) for a in node.args]
        full = [v for v in vals if v.kind != "fill" and v.shape == node.shape]
        flat = len(node.shape) == 2 and node.shape[0] == 1
        out = []
        for v in vals:
            if v.kind == "fill" and full:
                out.append(v.coef)
            elif not v.shape:
                out.append(self.code(v))
            else:
                out.append(self.vec(v) if flat else self.code(v))
        return vals, out, flat

    def _unary(self, node, template):
        (v,) = [self.value(a) for a in node.args]
        if v.kind == "fill":
            return Val("fill", node.shape, coef=template.format(v.coef))
        flat = len(node.shape) == 2 and node.shape[0] == 1
        arg = self.vec(v) if flat else self.code(v)
        return self.dense_op(node, template.format(arg), [v], flat=flat)

    def op_neg(self, node):
        (arg,) = node.args
        if self._is(arg, "matmul") and self.uses.get(arg, 1) == 1 and arg not in self.memo:
            coef, items = self._factors(arg)
            if items:
                items = _drop_eyes(items, coef)
                return self.chain(node.shape, _coef(coef + ["-1.0"]), items)
        (v,) = [self.value(a) for a in node.args]
        if v.kind == "diag":                 # -diag(v) is diag(-v): the inner value is a vector
            inner = Val("dense", node.shape[:1], f"(-{self.vec(v.args[0])})",
                        depth=1 + v.args[0].depth)
            return Val("diag", node.shape, args=(inner,))
        if v.kind == "inv":
            return self.dense_op(node, f"(-{self.code(v)})", [v])
        if v.kind in ("eye", "fill"):
            return Val(v.kind, node.shape, v.code, coef=f"(-{v.coef or '1.0'})")
        return self._unary(node, "(-{})")

    def op_add(self, node):
        args = []                    # (sign, node): a negation used only here is subtracted
        for a in node.args:
            if self._is(a, "neg") and self.uses.get(a, 1) == 1 and a not in self.memo \
                    and a.args[0].shape == node.shape:
                args.append(("-", a.args[0]))
            else:
                args.append(("+", a))
        vals = [self.value(a) for _, a in args]
        if all(v.kind == "diag" for v in vals):
            parts = "".join(f" {s} {self.vec(v.args[0])}" for (s, _), v in zip(args, vals))
            return Val("diag", node.shape, args=(Val("dense", node.shape[:1], f"(0.0{parts})"),))
        diags = [(s, v) for (s, _), v in zip(args, vals) if v.kind in ("diag", "eye")] \
            if len(node.shape) == 2 else []
        terms = [(s, v) for (s, _), v in zip(args, vals)
                 if not any(v is d for _, d in diags)]
        flat = len(node.shape) == 2 and node.shape[0] == 1
        full = any(v.kind != "fill" and v.shape == node.shape for _, v in terms)
        if not terms:
            (sign, first_diag), diags = diags[0], diags[1:]
        # the diagonals' codes before anything is materialised: a value used twice (-I - I
        # shares one -I) is one Val, and self.dense turns it into an array in place
        diags = [(s, self.vec(v.args[0]) if v.kind == "diag" else (v.coef or "1.0"))
                 for s, v in diags]
        if not terms:
            terms = [(sign, self.dense(first_diag))]
        codes = []
        for sign, v in terms:
            if v.kind == "fill" and full:
                codes.append((sign, v.coef))
            elif not v.shape:
                codes.append((sign, self.code(v)))
            else:
                codes.append((sign, self.vec(v) if flat else self.code(v)))
        first = codes[0][1] if codes[0][0] == "+" else f"(-{codes[0][1]})"
        big = len(node.shape) == 2 and node.shape[0] != 1 and len(codes) > 2 and full
        if not diags and not big:
            expr = first + "".join(f" {s} {c}" for s, c in codes[1:])
            return self.dense_op(node, f"({expr})", vals, flat=flat)
        # a matrix sum: one temporary, the other terms added in place, diagonals on the diagonal
        acc = self.bind(f"{first} {codes[1][0]} {codes[1][1]}" if len(codes) > 1 else
                        f"np.array({first}, dtype=float)", "S")
        if not full:
            self.emit(f"{acc} = np.broadcast_to({acc}, ({self.dim(node.shape[0])}, "
                      f"{self.dim(node.shape[1])})).copy()")
        for s, c in codes[2:]:
            self.emit(f"{acc} {s}= {c}")
        n = self.dim(node.shape[0])
        for s, d in diags:
            self.emit(f"{acc}[np.diag_indices({n})] {s}= {d}")
        return Val("dense", node.shape, acc)

    def op_mul(self, node):                                      # hadamard
        vals, codes, flat = self._elementwise_operands(node)
        if len(node.shape) == 2 and any(v.kind == "diag" for v in vals):
            others = [v for v in vals if v.kind != "diag"]
            if all(not v.shape or v.kind == "fill" for v in others):
                scale = " * ".join(v.coef if v.kind == "fill" else self.code(v) for v in others)
                vec = [self.vec(v.args[0]) for v in vals if v.kind == "diag"]
                inner = Val("dense", node.shape[:1], "(" + " * ".join(vec + [scale] * bool(
                    scale)) + ")")
                return Val("diag", node.shape, args=(inner,))
            vals = [self.dense(v) for v in vals]
            vals, codes, flat = self._elementwise_operands(node)
        return self.dense_op(node, "(" + " * ".join(codes) + ")", vals, flat=flat)

    def op_div(self, node):                                      # div and ediv
        vals, (a, b), flat = self._elementwise_operands(node)
        if vals[0].kind == "diag" and not node.args[1].shape:
            inner = Val("dense", node.shape[:1], f"({self.vec(vals[0].args[0])} / {b})")
            return Val("diag", node.shape, args=(inner,))
        if vals[0].kind in ("eye", "fill", "kron", "inv", "diag"):
            self.dense(vals[0])
            vals, (a, b), flat = self._elementwise_operands(node)
        if node.args[0].op == "const":
            a = f"np.float64({a})"
        return self.dense_op(node, f"({a} / {b})", vals, flat=flat)

    def op_pow(self, node):                                      # pow and epow
        base, expo = node.args
        spec = self.lang.get(base.op)
        if spec is not None and spec.numeric == "norm2" and expo.op == "const" \
                and expo.value == 2.0:
            return self._squared_norm(node, self.value(base.args[0]))
        vals, (a, b), flat = self._elementwise_operands(node)
        if vals[0].kind != "dense":
            self.dense(vals[0])
            vals, (a, b), flat = self._elementwise_operands(node)
        if base.op == "const":                   # NumPy's float semantics: 2.0 ** 1e20 is inf
            a = f"np.float64({a})"
        return self.dense_op(node, f"({a} ** {b})", vals, flat=flat)

    def _squared_norm(self, node, v):
        if v.kind == "diag":
            c = self.vec(v.args[0])
            return self.dense_op(node, f"({c} @ {c})", [v])
        c = self.vec(v)
        if len(v.shape) == 2 and v.shape[0] != 1:
            return self.dense_op(node, f"np.einsum('ij,ij->', {c}, {c})", [v])
        return self.dense_op(node, f"({c} @ {c})" if v.shape else f"({c} * {c})", [v])


    # ------------------------------------------------------------ elementwise functions
    def op_transpose(self, node):
        (v,) = [self.value(a) for a in node.args]
        if not node.shape or v.kind in ("diag", "eye"):
            return Val(v.kind, node.shape, v.code, v.args, v.coef, v.flat, v.fresh, v.depth)
        if v.kind == "fill":
            return Val("fill", node.shape, coef=v.coef)
        if v.kind == "kron":
            a, b = (self.value(make("transpose", (x,), _t(x.shape))) for x in node.args[0].args)
            return Val("kron", node.shape, args=(a, b))
        if v.kind == "inv":
            return Val("inv", node.shape, args=(Val("dense", node.shape,
                                                    f"{self.code(v.args[0])}.T", fresh=False),))
        if len(node.shape) == 1 or node.shape[0] == 1:       # a vector becomes a row, or back
            return Val("dense", node.shape, self.vec(v), flat=len(node.shape) == 2,
                       fresh=False, depth=v.depth)
        return Val("dense", node.shape, f"{self.code(v)}.T", fresh=False, depth=v.depth)

    def _elementwise(name):
        def op(self, node):
            return self._unary(node, ELEMENTWISE[name])
        return op

    for _name in ELEMENTWISE:
        locals()["op_" + _name] = _elementwise(_name)
    del _name

    # ------------------------------------------------------------ reductions
    def op_inner(self, node):
        a, b = (self.value(x) for x in node.args)
        if a.kind == "diag" or b.kind == "diag":
            d, m = (a, b) if a.kind == "diag" else (b, a)
            return self.dense_op(node, f"({self.vec(d.args[0])} @ np.diagonal({self.code(m)}))",
                                 [a, b])
        if len(a.shape) == 2 and a.shape[0] != 1:
            return self.dense_op(node, f"np.einsum('ij,ij->', {self.code(a)}, {self.code(b)})",
                                 [a, b])
        if not a.shape:
            return self.dense_op(node, f"({self.code(a)} * {self.code(b)})", [a, b])
        return self.dense_op(node, f"({self.vec(a)} @ {self.vec(b)})", [a, b])

    op_dot = op_inner

    def op_sum(self, node):
        (v,) = [self.value(a) for a in node.args]
        if v.kind == "diag":
            return self.dense_op(node, f"np.sum({self.vec(v.args[0])})", [v])
        if v.kind in ("eye", "fill"):
            n = (" * ".join(self.dim(d) for d in v.shape) or "1") if v.kind == "fill" else v.code
            c = v.coef if v.kind == "fill" else (v.coef or "1.0")
            return self.dense_op(node, f"({c} * {n})", [v])
        return self.dense_op(node, f"np.sum({self.vec(v)})", [v])

    def op_norm1(self, node):
        (v,) = [self.value(a) for a in node.args]
        return self.dense_op(node, f"np.sum(np.abs({self.vec(self.dense(v))}))", [v])

    def op_norm2(self, node):
        sq = self._squared_norm(node, self.value(node.args[0]))
        return self.dense_op(node, f"np.sqrt({sq.code})", [sq])

    def op_det(self, node):
        (v,) = [self.value(a) for a in node.args]
        if v.kind == "diag":
            return self.dense_op(node, f"np.prod({self.vec(v.args[0])})", [v])
        return self.dense_op(node, f"np.linalg.det({self.code(v)})", [v])

    def op_logdet(self, node):
        (v,) = [self.value(a) for a in node.args]
        fn = self.helper("logdet", lambda name: (
            f"def {name}(x):\n"
            f"    sign, value = np.linalg.slogdet(x)\n"
            f"    if sign <= 0:\n"
            f"        raise ValueError('logdet: the determinant is not positive')\n"
            f"    return value\n"))
        return self.dense_op(node, f"{fn}({self.code(v)})", [v])

    def op_inv(self, node):
        (v,) = [self.value(a) for a in node.args]
        if v.kind == "diag":
            inner = Val("dense", node.shape[:1], f"(1.0 / {self.vec(v.args[0])})")
            return Val("diag", node.shape, args=(inner,))
        if v.kind == "eye":
            return Val("eye", node.shape, v.code, coef=f"(1.0 / {v.coef})" if v.coef else None)
        return Val("inv", node.shape, args=(self.dense(v),))

    def _own_product(self, arg):
        """(coefficients, factors) of a product used only here and not computed yet, when it
        has two factors or more besides identities: tr and diag of it need no full product."""
        if not (self._is(arg, "matmul") and self.uses.get(arg, 1) == 1 and arg not in self.memo):
            return None
        coef, items = self._factors(arg)
        kept = _drop_eyes(items, coef)  # a scaled identity (inv(b*eye)) leaves its scale
        return (coef, kept) if len(kept) >= 2 else None

    def op_trace(self, node):
        (arg,) = node.args
        factors = self._own_product(arg)
        if factors is not None:
            return self._trace_of_product(node, *factors)
        v = self.value(arg)
        if v.kind == "diag":
            return self.dense_op(node, f"np.sum({self.vec(v.args[0])})", [v])
        if v.kind == "eye":
            return self.dense_op(node, f"({v.coef or '1.0'} * {v.code})", [v])
        if v.kind == "kron" and all(_square(a.shape) for a in v.args):
            a, b = v.args                   # tr(A ⊗ B) = tr(A) tr(B) for square A and B only
            return self.dense_op(node, f"(np.trace({self.mat(a)}) * np.trace({self.mat(b)}))",
                                 [v])
        return self.dense_op(node, f"np.trace({self.code(v)})", [v])

    def op_diag(self, node):
        (arg,) = node.args
        if len(arg.shape) == 1:
            return Val("diag", node.shape, args=(self.value(arg),))
        factors = self._own_product(arg)
        if factors is not None:
            return self._diag_of_product(node, *factors)
        v = self.value(arg)
        if v.kind == "diag":
            return v.args[0]
        if v.kind == "eye":
            return self.dense_op(node, f"np.full({v.code}, {v.coef or '1.0'})", [v])
        return self.dense_op(node, f"np.diagonal({self.code(v)})", [v], fresh=False)

    # ------------------------------------------------------------ shapes and constants
    def op_kron(self, node):
        return Val("kron", node.shape, args=tuple(self.value(a) for a in node.args))

    def op_vec(self, node):
        (v,) = [self.value(a) for a in node.args]
        if len(v.shape) < 2 or v.shape[0] == 1:
            return Val("dense", node.shape, self.vec(v), fresh=False, depth=v.depth)
        if v.kind == "kron":
            self.dense(v)
        return self.dense_op(node, f"{self.code(v)}.T.reshape(-1)", [v])

    def op_unvec(self, node):
        v = self.value(node.args[0])
        shape = node.shape
        if not shape:
            return self.dense_op(node, f"{self.vec(v)}.reshape(())", [v], fresh=False)
        if len(shape) == 1 or shape[0] == 1:
            return Val("dense", shape, self.vec(v), flat=len(shape) == 2, fresh=False)
        rows, cols = (self.dim(d) for d in shape)
        return self.dense_op(node, f"{self.vec(v)}.reshape({cols}, {rows}).T", [v], fresh=False)

    def op_commutation(self, node):
        """K with K vec(X) = vec(Xᵀ) for X r×c: row i*c + j of I picks column i + j*r."""
        like = node.args[0].shape
        rows = self.dim(like[0]) if like else "1"
        cols = self.dim(like[1]) if len(like) == 2 else "1"
        return self.dense_op(node, f"np.eye({rows} * {cols})[np.arange({rows} * {cols})"
                                   f".reshape({cols}, {rows}).T.reshape(-1)]", [])

    def op_eye(self, node):
        return Val("eye", node.shape, self.dim(node.shape[0]))

    def op_fill(self, node):
        return Val("fill", node.shape, coef=_num(node.value[0]))

    # ------------------------------------------------------------ products
    def _is(self, node, numeric):
        spec = self.lang.get(node.op)
        return spec is not None and spec.numeric == numeric

    def _factors(self, node):
        """Scalar coefficient codes and the (node, Val) of the other factors, negations out."""
        coef, items = [], []
        for a in node.args:
            while self._is(a, "neg") and self.uses.get(a, 1) == 1 and a not in self.memo:
                coef.append("-1.0")
                a = a.args[0]
            if not a.shape:
                coef.append(a if a.op == "const" else self.code(self.value(a)))
            else:
                items.append((a, self.value(a)))
        return coef, items

    def op_matmul(self, node):
        out = self.count(node.shape)
        args = list(node.args)
        if sum(1 for a in args if a.shape) > 1:
            for k, a in enumerate(args):      # (A + B)*x → A*x + B*x: no n×n temporary
                if self._is(a, "add") and self.uses.get(a, 1) == 1 and a not in self.memo \
                        and self.count(a.shape) > out:
                    terms = tuple(make("mul", tuple(args[:k] + [t] + args[k + 1:]), node.shape)
                                  for t in a.args)
                    return self.value(make("add", terms, node.shape))
        coef, items = self._factors(node)
        if not items:
            return self.dense_op(node, "(" + " * ".join(_coef(coef) or ["1.0"]) + ")")
        items = _drop_eyes(items, coef)
        return self.chain(node.shape, _coef(coef), items)

    def chain(self, shape, coef, items) -> Val:
        if len(items) == 1:
            return self._scaled(shape, items[0][1], coef)
        ch = _Chain(self, [v for _, v in items])
        if len(items) == 3 and items[1][1].kind == "diag" and items[2][1].kind == "dense" \
                and self._is(items[0][0], "transpose") and items[0][0].args[0] is items[2][0] \
                and len(items[2][0].shape) == 2:
            return self._symmetric(shape, coef, items)
        code = ch.emit(ch.plan(), coef)
        if code.kind == "diag":
            return Val("diag", shape, args=(Val("dense", shape[:1], code.code),))
        return Val("dense", shape, code.code, flat=len(shape) == 2 and shape[0] == 1)

    def _scaled(self, shape, v: Val, coef) -> Val:
        if not coef:
            return v
        c = " * ".join(coef)
        if v.kind in ("eye", "fill"):
            return Val(v.kind, shape, v.code, coef=f"({c} * {v.coef or '1.0'})")
        if v.kind == "diag":
            return Val("diag", shape, args=(Val("dense", shape[:1],
                                                f"({c} * {self.vec(v.args[0])})"),))
        if v.kind == "kron":
            a, b = v.args
            if a.kind == "eye" or b.kind == "eye":        # scale the identity, still lazy
                e = a if a.kind == "eye" else b
                scaled = Val("eye", e.shape, e.code, coef=f"({c} * {e.coef or '1.0'})")
                return Val("kron", shape, args=(scaled, b) if e is a else (a, scaled))
            small = 0 if self.count(a.shape) <= self.count(b.shape) else 1
            scaled = Val("dense", v.args[small].shape, f"({c} * {self.code(v.args[small])})")
            return Val("kron", shape, args=(scaled, b) if small == 0 else (a, scaled))
        flat = len(shape) == 2 and shape[0] == 1
        return Val("dense", shape, f"({c} * {self.vec(v) if flat else self.code(v)})",
                   flat=flat)

    def _symmetric(self, shape, coef, items):
        """P'*diag(v)*P: symmetric, computed by lower block rows, no temporary as big as P."""
        p = self.code(items[2][1])
        if not _is_name(p):
            p = self.bind(p, "P")
        v = self.vec(items[1][1].args[0])
        if coef:
            v = f"({' * '.join(coef)} * {v})"
        fn = self.helper("xtdx", _xtdx_text)
        return Val("dense", shape, f"{fn}({p}, {v})")

    def _best_split(self, orders):
        """The cheapest split of one of ``orders`` (lists of factors) into two products
        whose outer result is only partly needed (a trace or a diagonal): (left, right, their
        emitted values)."""
        best = None
        for order in orders:
            for s in range(1, len(order)):
                left, right = _Chain(self, order[:s]), _Chain(self, order[s:])
                lp, rp = left.plan(), right.plan()
                cost = lp.cost + rp.cost + self.size(left.rows) * self.size(left.cols)
                if best is None or cost < best[0]:
                    best = (cost, left, lp, right, rp)
        _, left, lp, right, rp = best
        return left, right, left.emit(lp, []), right.emit(rp, [])

    def _trace_of_product(self, node, coef, items):
        vals = [v for _, v in items]
        left, right, p, q = self._best_split(vals[r:] + vals[:r] for r in range(len(vals)))
        if left.rows == 1 or left.cols == 1:                      # tr(u*w') = w'*u
            code = f"({p.code} @ {q.code})" if left.rows != left.cols else \
                f"({p.code} * {q.code})"
        elif p.kind == "diag" and q.kind == "diag":
            code = f"({p.code} @ {q.code})"
        elif p.kind == "diag" or q.kind == "diag":
            d, m = (p, q) if p.kind == "diag" else (q, p)
            code = f"({d.code} @ np.diagonal({m.code}))"
        else:
            code = f"np.einsum('ij,ji->', {p.code}, {q.code})"
        if _coef(coef):                      # empty when the numbers multiply to 1 (-(-x))
            code = f"({' * '.join(_coef(coef))} * {code})"
        return Val("dense", node.shape, code)

    def _diag_of_product(self, node, coef, items):
        left, right, p, q = self._best_split([[v for _, v in items]])
        if left.cols == 1:
            code = f"({p.code} * {q.code})"
        elif p.kind == "diag" or q.kind == "diag":
            if p.kind == "diag" and q.kind == "diag":
                code = f"({p.code} * {q.code})"
            else:
                d, m = (p, q) if p.kind == "diag" else (q, p)
                code = f"({d.code} * np.diagonal({m.code}))"
        else:
            code = f"np.einsum('ij,ji->i', {p.code}, {q.code})"
        if _coef(coef):                      # empty when the numbers multiply to 1 (-(-x))
            code = f"({' * '.join(_coef(coef))} * {code})"
        return Val("dense", node.shape, code)


def _square(shape) -> bool:
    """Whether a shape is square by its dimensions (n×n), not merely at some sizes."""
    r, c = _rank2(shape)
    return r == c


def _t(shape):
    if not shape:
        return shape
    if len(shape) == 1:
        return (1, shape[0])
    return (shape[1],) if shape[0] == 1 else (shape[1], shape[0])


def _drop_eyes(items, coef=None):
    """Identity factors do nothing in a product of two or more factors."""
    if len(items) < 2:
        return items
    kept = [i for i, (a, v) in enumerate(items) if v.kind != "eye"] or [0]
    if coef is not None:                # by position: the same factor twice counts twice
        coef.extend(v.coef for i, (a, v) in enumerate(items) if v.kind == "eye" and v.coef
                    and i not in kept)
    return [items[i] for i in kept]


def _coef(coef) -> list[str]:
    """Fold the numeric constants among scalar factors into one number."""
    number, codes = 1.0, []
    for c in coef:
        if isinstance(c, Expr):
            number *= c.value
        elif c == "-1.0":
            number = -number
        else:
            codes.append(c)
    if number != 1.0 or not codes and number != 1.0:
        codes.insert(0, _num(number))
    return codes


def _xtdx_text(name: str) -> str:
    return (
        f"def {name}(x, v):\n"
        f'    """x\' * diag(v) * x: lower block rows of the symmetric result, mirrored; the\n'
        f'    scaled temporary is at most half the size of the result."""\n'
        f"    rows, cols = x.shape\n"
        f"    out = np.empty((cols, cols))\n"
        f"    step = max(1, min(-(-cols // 4), (cols * cols) // (2 * rows)))\n"
        f"    for j0 in range(0, cols, step):\n"
        f"        j1 = min(j0 + step, cols)\n"
        f"        np.matmul((v[:, None] * x[:, j0:j1]).T, x[:, :j1], out=out[j0:j1, :j1])\n"
        f"        out[:j0, j0:j1] = out[j0:j1, :j0].T\n"
        f"    return out\n")


class _Plan:
    __slots__ = ("cost", "split", "kind")

    def __init__(self, cost, split, kind):
        self.cost, self.split, self.kind = cost, split, kind


class _Chain:
    """A matrix chain: the cheapest parenthesisation, then its code (vectors as 1-d)."""

    def __init__(self, gen: _Gen, vals: list[Val]):
        self.gen, self.vals = gen, vals
        self.shapes = [_rank2(v.shape) for v in vals]
        self.rows, self.cols = self.shapes[0][0], self.shapes[-1][1]

    def _cost(self, lk, lshape, rk, rshape, li, rj) -> tuple[int, str]:
        size = self.gen.size
        r, k, c = size(lshape[0]), size(lshape[1]), size(rshape[1])
        if lk == "inv" and rk not in ("inv", "kron"):
            return k ** 3 + k * k * c, "dense"
        if rk == "inv" and lk not in ("inv", "kron"):
            return k ** 3 + r * k * k, "dense"
        if lk == "kron" and rk in ("dense", "diag"):
            (m, n), (p, q) = self._kron_sizes(li)
            return n * p * q * c + m * n * p * c, "dense"
        if rk == "kron" and lk in ("dense", "diag"):
            (m, n), (p, q) = self._kron_sizes(rj)
            return r * m * p * q + r * n * m * q, "dense"
        extra = sum({"inv": k ** 3, "kron": n}.get(kind, 0)
                    for kind, n in ((lk, r * k), (rk, k * c)))
        if lk == "diag" and rk == "diag":
            return k, "diag"
        if lk == "diag" or rk == "diag":
            return extra + (k * c if lk == "diag" else r * k), "dense"
        return extra + r * k * c, "dense"

    def _kron_sizes(self, i):
        return tuple(tuple(self.gen.size(d) for d in _rank2(a.shape))
                     for a in self.vals[i].args)

    def plan(self) -> _Plan:
        n = len(self.vals)
        best = {(i, i): _Plan(0, None, self.vals[i].kind if self.vals[i].kind != "fill"
                              else "dense") for i in range(n)}
        for length in range(2, n + 1):
            for i in range(n - length + 1):
                j = i + length - 1
                for s in range(i, j):
                    lp, rp = best[(i, s)], best[(s + 1, j)]
                    step, kind = self._cost(lp.kind, (self.shapes[i][0], self.shapes[s][1]),
                                            rp.kind, (self.shapes[s + 1][0], self.shapes[j][1]),
                                            i, j)
                    cost = lp.cost + rp.cost + step
                    if (i, j) not in best or cost < best[(i, j)].cost:
                        best[(i, j)] = _Plan(cost, s, kind)
        self.best = best
        return best[(0, n - 1)]

    def emit(self, plan: _Plan, coef: list[str]) -> Val:
        n = len(self.vals)
        scale_leaf = None
        if coef:
            out = self.gen.count((self.rows, self.cols))
            counts = [(self.gen.count(self.shapes[i]), i) for i in range(n)
                      if self.vals[i].kind == "dense"]
            if counts and min(counts)[0] < out:
                scale_leaf = min(counts)[1]
        res = self._emit(0, n - 1, coef if scale_leaf is not None else None, scale_leaf)
        if res.kind in ("inv", "kron"):                     # a lone lazy factor
            g = self.gen
            dense = g.dense(res)
            res = Val("dense", None, g.vec(dense) if self.rows == 1 or self.cols == 1
                      else g.code(dense))
        if coef and scale_leaf is None:
            c = " * ".join(coef)
            if res.kind == "diag" or self.rows == 1 or self.cols == 1:
                res = Val(res.kind, None, f"({c} * {res.code})")
            else:
                name = self.gen.bind(res.code, "M")
                self.gen.emit(f"{name} *= {c}")
                res = Val("dense", None, name)
        return res

    def _leaf(self, i, coef, scale_leaf) -> Val:
        v, (r, c) = self.vals[i], self.shapes[i]
        g = self.gen
        if v.kind == "diag":
            return Val("diag", None, g.vec(v.args[0]))
        if v.kind in ("inv", "kron"):
            return v
        g.dense(v)
        code = g.vec(v) if (r == 1 or c == 1) else g.code(v)
        if i == scale_leaf:
            code = f"({' * '.join(coef)} * {code})"
        return Val("dense", None, code)

    def _emit(self, i, j, coef, scale_leaf) -> Val:
        if i == j:
            return self._leaf(i, coef, scale_leaf)
        s = self.best[(i, j)].split
        left = self._emit(i, s, coef, scale_leaf)
        right = self._emit(s + 1, j, coef, scale_leaf)
        r, k, c = self.shapes[i][0], self.shapes[s][1], self.shapes[j][1]
        return self._combine(left, right, r, k, c, i, s, j)

    def _combine(self, left, right, r, k, c, i, s, j) -> Val:
        g = self.gen
        lk, rk = left.kind, right.kind
        if lk == "diag" and rk == "diag":
            return Val("diag", None, f"({left.code} * {right.code})")
        if lk == "inv" and rk in ("dense", "diag"):
            right = self._dense(right, k)
            return Val("dense", None, f"np.linalg.solve({g.code(left.args[0])}, {right.code})")
        if rk == "inv" and lk in ("dense", "diag"):
            left = self._dense(left, k)
            a = g.code(right.args[0])
            if r == 1:
                return Val("dense", None, f"np.linalg.solve({a}.T, {left.code})")
            return Val("dense", None, f"np.linalg.solve({a}.T, {left.code}.T).T")
        if lk == "kron" and rk in ("dense", "diag"):
            right = self._dense(right, k)
            code = self._kron_apply(left.args, right.code, c == 1, False)
            return Val("dense", None, _chain_value(code, r, c, flat=c == 1))
        if rk == "kron" and lk in ("dense", "diag"):
            left = self._dense(left, k)
            code = self._kron_apply(right.args, left.code, r == 1, True)
            return Val("dense", None, _chain_value(code, r, c, flat=r == 1))
        if lk in ("inv", "kron"):
            left = Val("dense", None, g.vec(g.dense(left)) if r == 1 or k == 1 else
                       g.code(g.dense(left)))
            lk = "dense"
        if rk in ("inv", "kron"):
            right = Val("dense", None, g.vec(g.dense(right)) if k == 1 or c == 1 else
                        g.code(g.dense(right)))
            rk = "dense"
        if lk == "diag":
            if c == 1:
                return Val("dense", None, f"({left.code} * {right.code})")
            return Val("dense", None, f"({left.code}[:, None] * {right.code})")
        if rk == "diag":
            return Val("dense", None, f"({left.code} * {right.code})")
        if k == 1:
            if r == 1 or c == 1:
                return Val("dense", None, f"({left.code} * {right.code})")
            return Val("dense", None, f"np.multiply.outer({left.code}, {right.code})")
        return Val("dense", None, f"({left.code} @ {right.code})")

    def _dense(self, v: Val, n) -> Val:
        if v.kind == "diag":
            return Val("dense", None, f"np.diag({v.code})")
        return v

    def _kron_apply(self, factors, m: str, vector: bool, from_left: bool) -> str:
        """kron(A, B) * M (or M * kron(A, B)) without forming the Kronecker product:
        (kron(A, B) M)[i*p + s, :] = sum_jl A[i, j] B[s, l] M[j*q + l, :]."""
        g = self.gen
        a, b = factors
        a2, b2 = g.mat(a), g.mat(b)
        (m_, n_), (p_, q_) = _rank2(a.shape), _rank2(b.shape)
        if from_left:                       # M kron(A, B) = (kron(A', B') M')'
            a2, b2 = f"{a2}.T", f"{b2}.T"
            m_, n_, p_, q_ = n_, m_, q_, p_
            m = m if vector else f"{m}.T"
        n, q = g.dim(n_), g.dim(q_)
        if vector:
            return f"({a2} @ {m}.reshape({n}, {q}) @ {b2}.T).reshape(-1)"
        out = f"({a2} @ ({b2} @ {m}.reshape({n}, {q}, -1)).reshape({n}, -1)).reshape(" \
              f"{g.dim(m_)} * {g.dim(p_)}, -1)"
        return f"{out}.T" if from_left else out

def _chain_value(code: str, r, c, flat: bool) -> str:
    """A Kronecker product applied to an r×c result as the chain keeps values: a vector or
    row 1-d, a 1×1 a scalar (``flat``: the code gives a 1-d array already)."""
    if r == 1 and c == 1:
        return f"{code}[0]" if flat else f"{code}[0, 0]"
    if (r == 1 or c == 1) and not flat:
        return f"{code}.reshape(-1)"
    return code


def _is_simple(code: str) -> bool:
    """A variable, a number, or a view of a variable: never worth a local."""
    for suffix in (".T", "[0]", "[None, :]"):
        if code.endswith(suffix):
            code = code[: -len(suffix)]
    return code.isidentifier() or code.strip("()-").replace(".", "", 1).isdigit()


# ---------------------------------------------------------------- the module

_INPUTS = {
    "scalar": ("a = np.asarray(a, dtype=float)\n"
               "    if a.size != 1:\n"
               "        raise ValueError('%s: expected a scalar, got shape %s' % (name, a.shape))\n"
               "    return a.reshape(())"),
    "vector": ("a = np.asarray(a, dtype=float)\n"
               "    if a.ndim == 1 or (a.ndim == 2 and a.shape[1] == 1):\n"
               "        return a.reshape(-1)\n"
               "    raise ValueError('%s: expected a vector as shape (n,) or (n, 1), got shape %s'"
               " % (name, a.shape))"),
    "row": ("a = np.asarray(a, dtype=float)\n"
            "    if a.ndim == 1 or (a.ndim == 2 and a.shape[0] == 1):\n"
            "        return a.reshape(1, -1)\n"
            "    raise ValueError('%s: expected a row vector as shape (n,) or (1, n), got shape %s'"
            " % (name, a.shape))"),
    "matrix": ("a = np.asarray(a, dtype=float)\n"
               "    if a.ndim != 2:\n"
               "        raise ValueError('%s: expected a matrix, got shape %s' % (name, a.shape))\n"
               "    return a"),
}


def _input_kind(shape) -> str:
    if not shape:
        return "scalar"
    if len(shape) == 1:
        return "vector"
    return "row" if shape[0] == 1 else "matrix"


def _depth(outputs) -> int:
    depth: dict = {}
    for out in outputs:
        for node in out.walk():
            if node not in depth:
                depth[node] = 1 + max((depth[a] for a in node.args), default=0)
    return max(depth.values(), default=0)


def generate(outputs: list[tuple[str, Expr]], variables: dict[str, Expr], lang, *,
             name: str = "f", checks: bool = True, dims: dict | None = None,
             doc: str = "") -> tuple[str, dict[str, str], set[str]]:
    """The module source computing ``outputs`` from ``variables``.

    Returns the source, the parameter name of each dimension the function takes as a keyword
    (every dimension when ``checks`` is false; else only those no variable's shape fixes),
    and every name the source may use (for the caller's check before exec).
    """
    for v in variables:
        check_name(v)
    check_name(name)
    exprs = [e for _, e in outputs]
    if _depth(exprs) > MAX_DEPTH:
        raise CodegenError(f"the expression is more than {MAX_DEPTH} operations deep")
    namer = _Namer(set(variables) | {name})
    simple_dims: list[str] = []
    for e in list(variables.values()) + exprs:
        for node in e.walk():
            for d in node.shape:
                for part in str(d).split("*"):
                    if not part.isdigit() and part not in simple_dims:
                        simple_dims.append(part)
    dim_names = {d: namer(d) for d in simple_dims}
    alias = {b: namer("_" + b) for b in ("float", "type", "ValueError", "ndarray")}
    bound: dict[str, str] = {}                  # dim -> the variable whose shape fixes it
    body: list[str] = []
    helpers: list[str] = []
    input_helpers: dict[str, str] = {}
    if checks:
        later = []
        for vname, var in variables.items():
            kind = _input_kind(var.shape)
            if kind not in input_helpers:
                input_helpers[kind] = namer("_" + kind)
                helpers.append(f"def {input_helpers[kind]}(a, name):\n    {_INPUTS[kind]}\n")
            fast = {"vector": f"{vname}.ndim != 1", "matrix": f"{vname}.ndim != 2",
                    "row": f"{vname}.ndim != 2 or {vname}.shape[0] != 1"}.get(kind)
            call = f"{vname} = {input_helpers[kind]}({vname}, {vname!r})"
            if fast is None:
                body.append(call)
            else:                          # an ndarray of float64 already right: no call
                body.append(f"if {alias['type']}({vname}) is not {alias['ndarray']} or "
                            f"{vname}.dtype.char != 'd' or {fast}:\n        {call}")
            for axis, d in enumerate(var.shape):
                if isinstance(d, str) and "*" not in d and d not in bound:
                    bound[d] = vname
                    body.append(f"{dim_names[d]} = {vname}.shape[{axis}]")
                else:
                    later.append((vname, var, axis, d))
        for vname, var, axis, d in later:
            if all(p.isdigit() or p in bound for p in str(d).split("*")):
                want = _dim_code(d, dim_names)
                msg = f"{vname}: expected {format_shape(var.shape)} with {d} = %d, got shape %s"
                body.append(f"if {vname}.shape[{axis}] != {want}:\n"
                            f"        raise {alias['ValueError']}({msg!r} % ({want}, "
                            f"{vname}.shape))")
    free = [d for d in simple_dims if d not in bound]
    params = list(variables) + (["*"] + [dim_names[d] for d in free] if free else [])
    if checks:
        for d in free:
            body.append(f"if {dim_names[d]} is None:\n        raise {alias['ValueError']}("
                        f"{'the size ' + d + ' is fixed by no input; pass ' + dim_names[d] + '=...'!r})")
    sizes = dict(dims or {})
    gen = _Gen(lang, list(variables), namer, dim_names, sizes)
    gen.float = alias["float"]
    for e in exprs:
        gen.uses[e] = gen.uses.get(e, 0) + 1
    seen = set()
    for e in exprs:
        for node in e.walk():
            if node in seen:
                continue
            seen.add(node)
            for a in node.args:
                gen.uses[a] = gen.uses.get(a, 0) + 1
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 40 * MAX_DEPTH + 1000))
    try:
        results = []
        for label, e in outputs:
            v = gen.value(e)
            results.append(_output(gen, v, e))
    finally:
        sys.setrecursionlimit(limit)
    body += [line[4:] for line in gen.lines]
    ret = results[0] if len(results) == 1 else ", ".join(results)
    body.append(f"return {ret}")
    helpers += [text for _, text in gen.helpers.values()]
    sig = ", ".join(p if p == "*" or p in variables or checks is False else f"{p}=None"
                    for p in params)
    docstring = f'    """{doc}"""\n' if doc else ""
    aliases = "".join(f"{alias[b]} = {b if b != 'ndarray' else 'np.ndarray'}\n"
                      for b in ("float", "type", "ValueError", "ndarray"))
    text = ('"""Generated by matcalc: NumPy only, no other import."""\n\n'
            "import numpy as np\n\n" + aliases + "\n\n" + "\n\n".join(helpers) + ("\n\n" if helpers else "")
            + f"def {name}({sig}):\n" + docstring
            + "".join(f"    {line}\n" for line in body))
    names = set(namer.taken) | set(variables) | {name} | HELPER_LOCALS
    return text, {d: dim_names[d] for d in free}, names


def _dim_code(d, dim_names) -> str:
    if isinstance(d, int):
        return str(d)
    parts = [p if p.isdigit() else dim_names[p] for p in d.split("*")]
    return parts[0] if len(parts) == 1 else "(" + " * ".join(parts) + ")"


def _output(gen: _Gen, v: Val, e: Expr) -> str:
    """A local holding the output in matcalc's convention (a new array, a float)."""
    if not e.shape:
        return gen.bind(f"{gen.float}({gen.code(v)})", "out")
    if v.kind != "dense":
        gen.dense(v)
    code = gen.code(v)
    if not v.fresh:
        code = f"np.array({code})"
    return gen.bind(code, "out") if not _is_name(code) else code


def numpy_source(expr, wrt=None, **options) -> str:
    """The NumPy source of ``expr`` (and, with ``grad=True`` / ``hessian=True``, its
    derivatives): a self-contained module importing only NumPy.  See
    :func:`matcalc.compiled.numpy_source` for the options."""
    from matcalc.compiled import numpy_source as source
    return source(expr, wrt, **options)
