"""Numbers against symbols: are two expressions equal, and is a derivative right?

- :func:`equivalent` evaluates two expressions at random sizes (2..6 for every dimension
  name) and random values and says whether they agree, with a counterexample when they do
  not — for checking a derivation done by hand (``:equal`` in the REPL).
- :func:`check_derivative` compares a symbolic answer (``diff``, ``grad`` or ``hessian``)
  with the backprop Jacobian of matcalc.autograd and with central differences
  (``--check`` and ``:check``).

Values come from :mod:`matcalc.checking` (as ``check-rules`` draws them), honouring the
domains the functions need (``log`` positive, ``det`` / ``inv`` of a positive definite
matrix, ``symmetric`` declarations); a draw that gives NaN or inf is drawn again from
positive values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from matcalc import expr as E
from matcalc.checking import draw_sizes, random_values
from matcalc.errors import LinAlgError, MatcalcError
from matcalc.language import Language

RTOL, ATOL = 1e-6, 1e-8
FD_RTOL, FD_ATOL = 1e-4, 1e-5
LOW, HIGH = 2, 7                           # sizes 2..6


def _domains(exprs, lang: Language) -> dict[str, str]:
    """Which variables must be positive or positive definite for the functions to be defined."""
    out: dict[str, str] = {}
    for root in exprs:
        for node in root.walk():
            if node.op == "var" and "posdef" in node.props:
                out[node.value] = "spd"
            spec = lang.get(node.op)
            if spec is None or spec.domain is None:
                continue
            for arg in node.args:
                for v in arg.variables().values():
                    if spec.domain in ("positive", "nonzero"):
                        out.setdefault(v.value, "positive")
                    elif len(v.shape) == 2 and v.shape[0] == v.shape[1]:
                        out.setdefault(v.value, "spd")
    return out


def _draw(exprs, lang, rng, dims: dict, positive: bool):
    variables: dict[str, E.Expr] = {}
    for root in exprs:
        variables.update(root.variables())
    sizes = draw_sizes(exprs, rng, dict(dims), LOW, HIGH)
    domains = _domains(exprs, lang)
    if positive:
        domains = {**{n: "positive" for n in variables}, **domains}
    return sizes, random_values(variables, domains, rng, sizes)


def _outside_domain(exc: MatcalcError) -> bool:
    """Whether the point drawn is outside a function's domain (a singular matrix, or logdet
    of a matrix whose determinant is negative, as logdet(A'*A + c*eye) at c < 0): draw again,
    as for NaN, rather than give up on the check."""
    text = str(exc).lower()
    return "singular" in text or (isinstance(exc, LinAlgError) and "det > 0" in text)


def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(np.asarray(a, dtype=float))) for a in arrays)


def _show(value) -> str:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return f"{float(arr):.6g}"
    text = np.array2string(arr, precision=4, suppress_small=True, separator=", ",
                           max_line_width=88)
    return text.replace("\n", "\n" + " " * 10)


def describe_point(sizes: dict, values: dict) -> list[str]:
    """Lines showing sizes and values: ``n = 3``, ``x = [1, 2, 3]``."""
    out = []
    if sizes:
        out.append("sizes:  " + ", ".join(f"{k} = {v}" for k, v in sorted(sizes.items())
                                          if not str(k).isdigit()))
    for name, value in values.items():
        out.append(f"{name:<7} = {_show(value)}")
    return out


# ---------------------------------------------------------------- equivalent

@dataclass
class Equivalence:
    """Whether two expressions agreed at random points; truthy when they did."""

    equal: bool
    left: E.Expr
    right: E.Expr
    trials: int
    max_error: float = 0.0
    reason: str = ""
    sizes: dict = field(default_factory=dict)      # the counterexample, when not equal
    values: dict = field(default_factory=dict)
    left_value: object = None
    right_value: object = None

    def __bool__(self) -> bool:
        return self.equal

    def __str__(self) -> str:
        if self.equal:
            return (f"equal: {self.left} and {self.right} agree at {self.trials} random "
                    f"points (largest difference {self.max_error:.2g})")
        lines = [f"not equal: {self.reason}"]
        if self.values or self.sizes:
            lines.append("counterexample:")
            lines += ["  " + s for s in describe_point(self.sizes, self.values)]
        if self.left_value is not None:
            lines.append(f"  left    = {_show(self.left_value)}")
            lines.append(f"  right   = {_show(self.right_value)}")
        return "\n".join(lines)


def _parse_pair(e1, e2, shapes, assume, lang, kinds=None):
    """Both expressions, a name meaning the same variable (and size) in both."""
    from matcalc.errors import ShapeError
    from matcalc.parse import parse

    def one(text, other):
        if isinstance(text, E.Expr):
            return text
        joint = {n: v.shape for n, v in other.variables().items()} if other else {}
        joint.update(shapes or {})
        return parse(text, joint, assume, language=lang, kinds=kinds)

    if isinstance(e1, str) and isinstance(e2, str):
        # typed together, as the two sides of an inner product, so that sizes either side
        # leaves open are unified (A*B against B*A makes A and B square)
        from matcalc.errors import ParseError
        try:
            both = parse(f"<({e1}), ({e2})>", shapes, assume, language=lang, kinds=kinds)
            return both.args[0], both.args[1]
        except (ShapeError, ParseError):
            pass                          # shapes that cannot agree: compare them apart
    first = one(e1, None)
    try:
        return first, one(e2, first)
    except ShapeError as error:          # e1 alone left a size open that e2 fixes: e2 first
        try:
            second = one(e2, None)
            return one(e1, second), second
        except ShapeError:
            raise error from None


def equivalent(e1, e2, shapes=None, assume=None, trials: int = 5, seed=None,
               language: Language | None = None, dims: dict | None = None,
               kinds: dict | None = None) -> Equivalence:
    """Whether ``e1`` and ``e2`` (text or Expr) are equal, by evaluating both at ``trials``
    random points; names shared by the two mean the same variable.

    >>> bool(equivalent("x'*(A + A')", "(A*x + A'*x)'"))
    True
    >>> r = equivalent("2*A*x", "A'*x + A*x")
    >>> bool(r), r.reason  # doctest: +ELLIPSIS
    (False, 'the values differ by ...')
    """
    from matcalc.language import builtin_language
    from matcalc.numeric import evaluate
    from matcalc.shapes import format_shape
    lang = language or builtin_language()
    left, right = _parse_pair(e1, e2, shapes, assume, lang, kinds)
    if len(left.shape) != len(right.shape) or any(
            isinstance(a, int) and isinstance(b, int) and a != b
            for a, b in zip(left.shape, right.shape)):
        return Equivalence(False, left, right, 0, float("inf"),
                           f"{left} is {format_shape(left.shape)} but {right} is "
                           f"{format_shape(right.shape)}")
    rng = np.random.default_rng(seed)
    worst, done = 0.0, 0
    for attempt in range(4 * trials):
        sizes, values = _draw([left, right], lang, rng, dims or {}, attempt >= 2 * trials)
        with np.errstate(all="ignore"):
            try:
                a = evaluate(left, _only(values, left), language=lang, dims=sizes)
                b = evaluate(right, _only(values, right), language=lang, dims=sizes)
            except MatcalcError as exc:
                if _outside_domain(exc):
                    continue
                raise
        if not _finite(a, b):
            continue
        a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if a_arr.shape != b_arr.shape:
            return Equivalence(False, left, right, done, float("inf"),
                               f"the shapes differ: {format_shape(left.shape)} and "
                               f"{format_shape(right.shape)} are {a_arr.shape} and "
                               f"{b_arr.shape} here", _concrete(sizes), values, a, b)
        err = float(np.max(np.abs(a_arr - b_arr))) if a_arr.size else 0.0
        scale = float(np.max(np.abs(b_arr))) if b_arr.size else 0.0
        if err > ATOL + RTOL * max(scale, float(np.max(np.abs(a_arr))) if a_arr.size else 0):
            return Equivalence(False, left, right, done + 1, err,
                               f"the values differ by {err:.3g}", _concrete(sizes), values,
                               a, b)
        worst = max(worst, err)
        done += 1
        if done == trials:
            break
    if done == 0:
        raise MatcalcError(f"could not compare {left} and {right}: every random point gave "
                           "NaN, inf or a singular matrix")
    return Equivalence(True, left, right, done, worst)


def _only(values: dict, expr: E.Expr) -> dict:
    names = expr.variables()
    return {k: v for k, v in values.items() if k in names}


def _concrete(sizes: dict) -> dict:
    return {k: v for k, v in sizes.items() if "*" not in str(k)}


# ---------------------------------------------------------------- check_derivative

@dataclass
class DerivativeCheck:
    """How far a symbolic derivative is from backprop and from central differences."""

    query: str
    trials: int
    bp_abs: float
    bp_rel: float
    fd_abs: float
    fd_rel: float
    ok: bool
    sizes: dict = field(default_factory=dict)      # the worst point
    values: dict = field(default_factory=dict)
    note: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def lines(self) -> list[str]:
        sizes = ", ".join(f"{k} = {v}" for k, v in sorted(self.sizes.items()))
        out = [f"check {self.query}: {self.trials} random points"
               + (f" (last at {sizes})" if sizes else ""),
               f"  vs backprop:             max abs error {self.bp_abs:.2e}, "
               f"max rel error {self.bp_rel:.2e}",
               f"  vs central differences:  max abs error {self.fd_abs:.2e}, "
               f"max rel error {self.fd_rel:.2e}"]
        if self.note:
            out.append(f"  note: {self.note}")
        if self.ok:
            out.append("  ✓ the answer agrees with both")
        else:
            out.append("  ✗ the answer is WRONG: it disagrees with the numbers at")
            out += ["    " + s for s in describe_point(self.sizes, self.values)]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _errors(got, want) -> tuple[float, float]:
    got = np.asarray(got, dtype=float).reshape(-1)
    want = np.asarray(want, dtype=float).reshape(-1)
    if got.size != want.size:
        return float("inf"), float("inf")
    if not got.size:
        return 0.0, 0.0
    err = float(np.max(np.abs(got - want)))
    return err, err / max(float(np.max(np.abs(want))), 1e-300) if err else 0.0


def _numerator(value, x_shape: tuple):
    """A gradient (shaped like x) as the numerator-layout derivative."""
    arr = np.asarray(value, dtype=float)
    if len(x_shape) == 2:
        return arr.T
    return arr.reshape(1, -1) if len(x_shape) == 1 else arr


def _central_jacobian(f, x: np.ndarray, out_shape: tuple, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂x by central differences, shape out_shape + x.shape."""
    x = np.array(x, dtype=float)
    jac = np.zeros(tuple(out_shape) + x.shape)
    flat = x.reshape(-1)
    cols = jac.reshape(int(np.prod(out_shape, dtype=int)), flat.size)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = np.asarray(f(x.copy()), dtype=float).reshape(-1)
        flat[i] = old - eps
        lo = np.asarray(f(x.copy()), dtype=float).reshape(-1)
        flat[i] = old
        cols[:, i] = (hi - lo) / (2 * eps)
    return jac


def _vec_layout(jac: np.ndarray, f_rank: int, x_rank: int) -> np.ndarray:
    from matcalc.numeric import _numerator_layout
    f_shape, x_shape = jac.shape[:f_rank], jac.shape[f_rank:]
    return _numerator_layout(jac, f_shape, x_shape)


def check_derivative(f: E.Expr, wrt: str, answer: E.Expr, kind: str = "diff",
                     language: Language | None = None, trials: int = 3, seed=None,
                     dims: dict | None = None) -> DerivativeCheck:
    """Check ``answer`` = ``kind`` (diff, grad or hessian) of ``f`` by ``wrt`` with numbers.

    diff and grad are compared with :func:`matcalc.numeric_jacobian` (backprop) and with
    central differences of ``f``; a Hessian with autograd's Hessian and with central
    differences of the backprop gradient.  None of these reads the symbolic rules.
    """
    from matcalc.language import builtin_language
    from matcalc.numeric import evaluate, numeric_jacobian
    lang = language or builtin_language()
    rng = np.random.default_rng(seed)
    x_shape = f.variables()[wrt].shape
    worst = [0.0, 0.0, 0.0, 0.0]
    done, note, point = 0, "", ({}, {})
    ok = True
    for attempt in range(4 * trials):
        sizes, values = _draw([f, answer], lang, rng, dims or {}, attempt >= 2 * trials)
        values = _only(values, f)
        try:
            with np.errstate(all="ignore"):
                got = evaluate(answer, _only(values, answer), language=lang, dims=sizes)
                if kind == "grad":
                    got = _numerator(got, x_shape)
                bp, fd, note = _truths(f, wrt, values, sizes, kind, lang, numeric_jacobian,
                                       evaluate)
        except MatcalcError as exc:
            if _outside_domain(exc):
                continue
            raise
        if not _finite(got, bp, fd):
            continue
        done += 1
        bp_abs, bp_rel = _errors(got, bp)
        fd_abs, fd_rel = _errors(got, fd)
        worst = [max(w, e) for w, e in zip(worst, (bp_abs, bp_rel, fd_abs, fd_rel))]
        point = (_concrete(sizes), values)
        scale = float(np.max(np.abs(np.asarray(bp, dtype=float)))) if np.size(bp) else 0.0
        if bp_abs > ATOL + RTOL * scale or fd_abs > FD_ATOL + FD_RTOL * scale:
            ok = False
            break
        if done == trials:
            break
    if done == 0:
        raise MatcalcError(f"could not check the derivative of {f}: every random point gave "
                           "NaN, inf or a singular matrix")
    query = f"d/d{wrt} {f}" if kind == "diff" else f"{kind}({f}, {wrt})"
    return DerivativeCheck(query, done, *worst, ok, point[0], point[1], note)


def _truths(f, wrt, values, sizes, kind, lang, numeric_jacobian, evaluate):
    x = np.asarray(values[wrt], dtype=float)

    def value_at(t):
        return evaluate(f, dict(values, **{wrt: t}), language=lang, dims=sizes)

    def backprop_at(t):
        return numeric_jacobian(f, wrt, dict(values, **{wrt: t}), language=lang, dims=sizes)

    if kind != "hessian":
        bp = numeric_jacobian(f, wrt, values, language=lang, dims=sizes)
        out = np.shape(value_at(x))
        fd = _vec_layout(_central_jacobian(value_at, x, out), len(out), x.ndim)
        return bp, fd, ""
    # the Hessian: d/dx of the transposed gradient
    grad_at = lambda t: _gradient_shaped(backprop_at(t), x.shape)      # noqa: E731
    fd = _vec_layout(_central_jacobian(grad_at, x, x.shape), x.ndim, x.ndim)
    try:
        from matcalc import autograd as ag
        from matcalc.numeric import _run, bind
        arrays, bound = bind(f, values, sizes)
        others = {n: ag.tensor(a) for n, a in arrays.items() if n != wrt}
        h = ag.functional.hessian(lambda t: _run(f, {**others, wrt: t}, bound, lang),
                                  ag.tensor(arrays[wrt])).numpy()
        bp = _vec_layout(h, x.ndim, x.ndim)
        note = ""
    except MatcalcError as exc:
        bp = fd
        note = f"autograd's Hessian is not available here ({str(exc).splitlines()[0]}); " \
               "'vs backprop' repeats central differences of the backprop gradient"
    return bp, fd, note


def _gradient_shaped(jac, x_shape):
    arr = np.asarray(jac, dtype=float)
    return arr.T if len(x_shape) == 2 else arr.reshape(x_shape)
