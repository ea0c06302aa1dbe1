"""matcalc.compile and the generated NumPy source: agreement with evaluate, backprop and
finite differences on the issue's problems; the source is valid and NumPy-only; names are
validated; evaluate's compiled path agrees with the reference path."""

from __future__ import annotations

import ast

import numpy as np
import pytest

import matcalc
from matcalc.codegen import CodegenError, check_name
from matcalc.compiled import numpy_source
from numeric_helpers import central_jacobian

PROBLEMS = [
    ("x'*A*x", "x", {"A": (5, 5), "x": (5,)}),
    ("sum(log(vector(1) + exp(-y.*(X*w))))", "w", {"X": (8, 4), "y": (8,), "w": (4,)}),
    ("norm2(A*x - b)^2", "x", {"A": (7, 4), "x": (4,), "b": (7,)}),
    ("norm2(T - U*V')^2", "U", {"T": (3, 6), "U": (3, 2), "V": (6, 2)}),
    ("tr(A*X*B*X')", "X", {"A": (4, 4), "X": (4, 3), "B": (3, 3)}),
    ("x'*inv(A)*b + sum(diag(x)*A*b)", "x", {"A": (4, 4), "x": (4,), "b": (4,)}),
]


def _values(shapes, seed=0):
    rng = np.random.default_rng(seed)
    vals = {k: rng.standard_normal(s) for k, s in shapes.items()}
    for k, s in shapes.items():
        if len(s) == 2 and s[0] == s[1]:
            vals[k] = vals[k] @ vals[k].T + s[0] * np.eye(s[0])      # well conditioned, posdef
    return vals


@pytest.mark.parametrize("text,wrt,shapes", PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_compiled_agrees_with_evaluate_backprop_and_differences(text, wrt, shapes):
    f = matcalc.compile(text, wrt, grad=True, hessian=True)
    vals = _values(shapes)
    value, g, H = f(**vals)
    assert np.isclose(value, matcalc.evaluate(text, vals))
    jac = matcalc.numeric_jacobian(text, wrt, vals)                  # numerator layout
    assert np.allclose(np.asarray(g).reshape(-1, order="F"),
                       np.asarray(jac).T.reshape(-1, order="F") if np.ndim(jac) == 2 and
                       np.shape(jac)[0] != 1 else np.asarray(jac).reshape(-1), rtol=1e-6)
    grad = matcalc.compile(text, wrt, value=False, grad=True)

    def g_at(x):
        return grad(**dict(vals, **{wrt: x}))
    fd = central_jacobian(g_at, vals[wrt])
    assert np.allclose(H, fd, rtol=1e-4, atol=1e-4 * (1 + np.abs(fd).max()))


@pytest.mark.parametrize("text,wrt,shapes", PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_generated_source_is_valid_numpy_only_python(text, wrt, shapes):
    src = numpy_source(text, wrt, grad=True, hessian=True)
    tree = ast.parse(src)
    compile(src, "<test>", "exec")
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [a.name for n in imports for a in n.names] == ["numpy"]


def test_logistic_hessian_has_no_dense_diagonal():
    src = numpy_source("sum(log(vector(1) + exp(-y.*(X*w))))", "w", value=False, hessian=True)
    assert "np.diag(" not in src


def test_products_are_ordered_and_inverses_solved():
    src = numpy_source("x'*A*B*y", value=True)
    assert "(A @ B)" not in src
    assert "np.linalg.solve" in numpy_source("inv(X)*b") and "inv(" not in \
        numpy_source("inv(X)*b").split("def f")[1]
    tr = numpy_source("tr(A*B)")
    assert "einsum" in tr and "@" not in tr.split("def f")[1]


def test_shape_errors_name_the_variable():
    f = matcalc.compile("x'*A*x")
    with pytest.raises(ValueError, match="A: expected n×n with n = 3"):
        f(x=np.ones(3), A=np.ones((3, 4)))
    with pytest.raises(ValueError, match="x: expected a vector"):
        f(x=np.ones((3, 3)), A=np.ones((3, 3)))


def test_unsafe_names_are_refused():
    for bad in ("np", "__x", "lambda"):
        with pytest.raises(CodegenError):
            check_name(bad)
    assert check_name("x_1") == "x_1" and check_name("α") == "α"


def test_evaluate_compiles_once_and_agrees_with_the_reference_path():
    from matcalc.compiled import _CACHE
    e = matcalc.parse("sum(exp(A*x)) + x'*diag(x)*A*x")
    vals = _values({"A": (4, 4), "x": (4,)})
    first = matcalc.evaluate(e, vals)                                # reference path
    second = matcalc.evaluate(e, vals)                               # compiled now
    assert callable(_CACHE[e][next(iter(_CACHE[e]))])
    assert np.isclose(first, second, rtol=1e-12)
    with pytest.raises(matcalc.EvaluationError):                     # checks stay evaluate's
        matcalc.evaluate(e, {"A": np.ones((4, 4)), "x": np.ones(3)})


def test_property_expressions_compile_like_evaluate():
    import random
    import warnings
    from matcalc.checking import draw_sizes, random_values
    from matcalc.compiled import generate, load
    from matcalc.language import builtin_language
    from matcalc.numeric import bind
    from test_printing import ASSUME, declared, write
    lang = builtin_language()
    checked = 0
    for seed in range(300):
        r = random.Random(seed)
        text = write(lambda k: r.randrange(k), r.choice("svrm"), r.randint(1, 5), "n")
        if "1e+20" in text:
            continue
        e = matcalc.parse(text, shapes=declared("n"), assume=ASSUME)
        rng = np.random.default_rng(seed)
        sizes = draw_sizes([e], rng, high=5)
        values = random_values(e.variables(), {}, rng, sizes)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                want = np.asarray(matcalc.numeric.reference(e, values, dims=sizes))
            except matcalc.MatcalcError:
                continue
            if want.dtype == object or not np.all(np.isfinite(want)) or \
                    np.abs(want).max(initial=0) > 1e10:
                continue
            src, free, names = generate([("value", e)], e.variables(), lang, checks=False)
            arrays, sz = bind(e, values, sizes)
            try:
                got = load(src, "f", names)(**arrays, **{p: sz[d] for d, p in free.items()})
            except np.linalg.LinAlgError:
                continue
        assert np.shape(got) == want.shape, (text, src)
        assert np.allclose(got, want, rtol=1e-6, atol=1e-8 * (1 + np.abs(want).max())), (text, src)
        checked += 1
    assert checked > 150


def test_a_variable_named_like_a_builtin_does_not_shadow_generated_code():
    f = matcalc.compile("float*x'*x + type*ValueError", shapes={"type": (), "ValueError": ()})
    assert f(float=2.0, x=[1.0, 2.0], type=1.0, ValueError=3.0) == 13.0


def test_kron_with_identity_is_built_on_its_block_diagonal_only():
    f = matcalc.compile("kron(eye, B)*2 + kron(B, eye)")
    B = np.arange(6.0).reshape(3, 2)
    (size,) = f.size_params.values()
    want = 2 * np.kron(np.eye(4), B) + np.kron(B, np.eye(4))
    assert np.array_equal(f(B=B, **{size: 4}), want)
    assert "np.kron" not in f.source
    with pytest.raises(ValueError, match="pass"):
        f(B=B)


def test_a_size_written_in_the_text_is_a_size_parameter_by_its_name():
    """eye(m) in kron(eye(m), B): the compiled function takes m, like a bare eye's size; an
    answer printed with its identities' sizes compiles from its text."""
    f = matcalc.compile("kron(eye(m), B)*2 + kron(B, eye(m))")
    B = np.arange(6.0).reshape(3, 2)
    assert list(f.size_params.values()) == ["m"]
    want = 2 * np.kron(np.eye(4), B) + np.kron(B, np.eye(4))
    assert np.array_equal(f(B=B, m=4), want)
    answer = matcalc.diff("kron(A, X)", "X", shapes={"A": ("p", "q"), "X": ("r", "s")})
    again = matcalc.compile(str(answer), shapes={"A": ("p", "q"), "X": ("r", "s")})
    A, X = np.arange(6.0).reshape(2, 3), np.ones((4, 5))
    want = matcalc.numeric_jacobian("kron(A, X)", "X", {"A": A, "X": X})
    np.testing.assert_allclose(again(A=A, X=X), want)


@pytest.mark.parametrize("text, wrt", [("X'", "X"), ("A*X'*B", "X"), ("X*X'", "X"),
                                       ("diag(x)*A*diag(x)", "x")])
def test_commutation_and_diagonal_derivatives_compile(text, wrt):
    rng = np.random.default_rng(3)
    values = {"X": rng.standard_normal((3, 4)), "A": rng.standard_normal((5, 4)),
              "B": rng.standard_normal((3, 2)), "x": rng.standard_normal(3)}
    if wrt == "x":
        values["A"] = rng.standard_normal((3, 3))
    d = matcalc.diff(text, wrt)
    f = matcalc.compile(d)
    sizes = {p: 3 for p in f.size_params.values()}
    got = f(**{k: v for k, v in values.items() if k in d.variables()}, **sizes)
    want = matcalc.numeric_jacobian(text, wrt, {k: values[k] for k in
                                                matcalc.parse(text).variables()})
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-12)
    ast.parse(numpy_source(d))


# Found by the differentiation property test's finite differences (evaluate compiles an
# expression from its second call on): the diagonal of a negated diagonal matrix was given the
# matrix's shape (diag(z)*diag(-diag(y)) came back n×n), a double negation left an empty
# coefficient in a trace or diagonal of a product (invalid Python), and in -I - I (one shared
# -I) the second term was read after the first had been made an array: 0 instead of -2I.
@pytest.mark.parametrize("text", ["diag(z)*diag(-diag(y))", "(diag(z)*diag(-diag(y)))'",
                                  "diag(-diag(z))", "tr(z*(-(-x')))", "diag(z*(-(-x')))",
                                  "tr(A*(-(-B)))", "(-eye - eye)*(x'*y)*A", "-diag(x) - diag(x)",
                                  "(-eye - eye)*A"])
def test_compiled_path_agrees_with_the_reference_on_negations(text):
    e = matcalc.parse(text)
    vals = _values({"z": (3,), "y": (3,), "x": (3,), "A": (3, 3), "B": (3, 3)})
    vals = {k: v for k, v in vals.items() if k in e.variables()}
    want = np.asarray(matcalc.numeric.reference(e, vals))
    got = np.asarray(matcalc.compile(e)(**vals))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("text", [
    "y*kron(r, s)*kron(eye(2), A)*kron(u, w)",  # a matrix times kron(u, w): once (2, 1)
    "y*kron(r, s)*z", "N*kron(u, w)", "N*kron(eye(2), A)*z", "kron(r, s)*M",
    "kron(r, s)*kron(eye(2), A)*M", "kron(r, s)*kron(eye(2), A)*kron(u, w)"])
def test_compiled_kronecker_chains_keep_vector_shapes(text):
    """A chain through a lazy Kronecker product ending in a column (or starting with a row)
    gives a 1-d vector (a row 1×n), as the reference does: found by a review, seed 13110."""
    shapes = {"y": (2,), "z": (16,), "r": (1, 4), "s": (1, 4), "A": (8, 8), "u": (4,),
              "w": (4,), "M": (16, 3), "N": (3, 16)}
    e = matcalc.parse(text, shapes=shapes)
    vals = {k: v for k, v in _values(shapes).items() if k in e.variables()}
    want = np.asarray(matcalc.numeric.reference(e, vals))
    got = np.asarray(matcalc.compile(e)(**vals))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("text,shapes", [
    # tr(A ⊗ B) = tr(A) tr(B) holds for square A and B only (x ⊗ y' is n×n, x and y' not)
    ("tr(kron(x, y'))", {"x": (3,), "y": (3,)}),
    ("tr(kron(A, B))", {"A": (2, 3), "B": (3, 2)}),
    ("tr(kron(A, B))", {"A": (2, 2), "B": (3, 3)}),
    # the same identity factor twice: each counts (the second was dropped: 0.5, not 0.25)
    ("inv(a*eye(2))*inv(a*eye(2))", {"a": ()}),
    ("inv(a*eye(2))*inv(a*eye(2))*inv(a*eye(2))*B", {"a": (), "B": (2, 2)}),
    # a scaled identity inside a trace or diagonal of a product kept no scale (the hunt, diff
    # seed 7000179411: tr(inv(eye*b)*z*c*y') came back as c*y'*z, without the 1/b)
    ("tr(inv(a*eye)*x*y')", {"a": (), "x": (3,), "y": (3,)}),
    ("tr(A*inv(a*eye)*B)", {"a": (), "A": (2, 3), "B": (3, 2)}),
    ("diag(A*B*inv(2*eye))", {"A": (3, 2), "B": (2, 3)}),
])
def test_compiled_identities_and_traces_agree_with_the_reference(text, shapes):
    """Found by the second review: evaluate (compiled from its second call on) disagreed."""
    from matcalc.numeric import reference
    e = matcalc.parse(text, shapes=shapes)
    vals = {k: v for k, v in _values(shapes).items() if k in e.variables()}
    want = np.asarray(reference(e, vals))
    got = np.asarray(matcalc.compile(e)(**vals))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-10)
