"""Shapes: symbolic dimensions unified while typing, kinds by first letter, declarations,
assumptions, kron/vec product dimensions, and the helpers in matcalc.shapes."""

from __future__ import annotations

import re

import pytest

from matcalc import ShapeError, format_shape, parse
from matcalc.shapes import (Prod, Rigid, Unifier, UnifyError, Var, eval_dim, kind_of, normalise,
                            parse_signature, product_dim)


def shapes_of(e):
    return {name: v.shape for name, v in e.variables().items()}


# ---------------------------------------------------------------- unification

def test_quadratic_form_makes_the_matrix_square():
    e = parse("x'*A*x")
    assert e.shape == ()
    assert shapes_of(e) == {"x": ("n",), "A": ("n", "n")}


@pytest.mark.parametrize("text, shape, variables", [
    ("A*x", ("m",), {"A": ("m", "n"), "x": ("n",)}),
    ("x'*A*y", (), {"x": ("n",), "A": ("n", "m"), "y": ("m",)}),
    ("A*B", ("n", "p"), {"A": ("n", "m"), "B": ("m", "p")}),
    ("A'*A", ("m", "m"), {"A": ("n", "m")}),
    ("A*x + y", ("m",), {"A": ("m", "n"), "x": ("n",), "y": ("m",)}),
    ("tr(A*B)", (), {"A": ("n", "m"), "B": ("m", "n")}),
    ("x'*A*x + b'*x", (), {"x": ("n",), "A": ("n", "n"), "b": ("n",)}),
    ("diag(x)*y", ("n",), {"x": ("n",), "y": ("n",)}),
    ("<A, B>", (), {"A": ("n", "m"), "B": ("n", "m")}),
    ("inv(X)*y", ("n",), {"X": ("n", "n"), "y": ("n",)}),
])
def test_dimensions_unify(text, shape, variables):
    e = parse(text)
    assert e.shape == shape
    assert shapes_of(e) == variables


def test_row_vectors():
    e = parse("x'")
    assert e.shape == (1, "n") and e.kind == "row vector" and e.shape_text == "1×n"
    assert parse("x'*A").shape == (1, "k")
    assert parse("(x')'").shape == ("n",)
    assert parse("x' + y'").shape == (1, "n")


def test_inner_and_outer_products():
    assert parse("x'*y").shape == ()
    outer = parse("x*y'")
    assert outer.kind == "matrix" and outer.shape == ("n", "m")
    assert parse("x*x'").shape == ("n", "n")


def test_a_vector_length_is_never_taken_to_be_one():
    with pytest.raises(ShapeError, match="inner dimensions differ"):
        parse("x*y")


# ---------------------------------------------------------------- kinds by first letter

@pytest.mark.parametrize("name, kind", [
    *[(ch, "scalar") for ch in "abcdefg"],
    *[(ch, "vector") for ch in "hijklmnopqrstuvwxyz"],
    *[(ch, "matrix") for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"],
    ("alpha", "scalar"), ("x_2", "vector"), ("Xk", "matrix"), ("α", "scalar"),
])
def test_default_kind_by_first_letter(name, kind):
    assert parse(name).kind == kind


@pytest.mark.parametrize("text, kinds", [
    # transposed a-g letters are vectors
    ("a'*x", {"a": 1, "x": 1}),
    ("a'*X*b", {"a": 1, "X": 2, "b": 1}),
    # a-g letter right of a matrix: the vector reading makes it a matrix product
    ("A*b", {"A": 2, "b": 1}),
    ("x'*A*b", {"x": 1, "A": 2, "b": 1}),
    # when the defaults do not type-check, a-g letters become vectors until they do
    ("norm2(A*x - b)^2", {"A": 2, "x": 1, "b": 1}),
    ("a + x", {"a": 1, "x": 1}),
    ("d*x + e", {"d": 0, "x": 1, "e": 1}),
    ("A*x + b", {"A": 2, "x": 1, "b": 1}),
    # ... and otherwise stay scalars
    ("a*x", {"a": 0, "x": 1}),
    ("c*A", {"c": 0, "A": 2}),
    ("b*A", {"b": 0, "A": 2}),
    ("A*x*c", {"A": 2, "x": 1, "c": 0}),
    ("x'*A*x*c", {"x": 1, "A": 2, "c": 0}),
    ("a .* x", {"a": 0, "x": 1}),
    ("exp(a)*x", {"a": 0, "x": 1}),
    # a coefficient left of a quadratic form is a scalar, not an outer-product vector
    # (regression: c*x'*A*x used to come out as a vector with c a vector)
    ("c*x'*A*x", {"c": 0, "x": 1, "A": 2}),
    ("a*x'*x", {"a": 0, "x": 1}),
])
def test_kind_inference_refinements(text, kinds):
    e = parse(text)
    assert {n: len(s) for n, s in shapes_of(e).items()} == kinds


def test_inference_gives_up_with_the_defaults_error():
    with pytest.raises(ShapeError) as info:
        parse("A + x")
    assert str(info.value).startswith("A + x: '+' needs operands of the same shape")


# ---------------------------------------------------------------- declarations

DECLARED = {"x": ("n",), "A": ("m", "n"), "c": ()}


def test_declared_shapes_override_the_letters():
    e = parse("c*A*x", shapes=DECLARED)
    assert e.shape == ("m",)
    assert shapes_of(e) == {"c": (), "A": ("m", "n"), "x": ("n",)}


@pytest.mark.parametrize("shapes, text, shape, variables", [
    ({"x": (3,)}, "A*x", ("n",), {"A": ("n", 3), "x": (3,)}),
    ({"A": (2, 3)}, "A*x", (2,), {"A": (2, 3), "x": (3,)}),
    ({"x": "n"}, "x", ("n",), {"x": ("n",)}),                  # one name is a vector
    ({"x": 4}, "x", (4,), {"x": (4,)}),
    ({"A": ()}, "A*x", ("n",), {"A": (), "x": ("n",)}),        # a capital declared scalar
    ({"c": ("k",)}, "c", ("k",), {"c": ("k",)}),
    ({"Z": ("p",)}, "Z'*Z", (), {"Z": ("p",)}),
    ({"q": (1, "n")}, "q*x", (), {"q": (1, "n"), "x": ("n",)}),
    ({"q": (1, 1)}, "q", (), {"q": ()}),                        # 1×1 is a scalar
    ({"q": ("n", 1)}, "q", ("n",), {"q": ("n",)}),              # n×1 is a column vector
    ({"x": (3,), "y": (3,)}, "x'*y", (), {"x": (3,), "y": (3,)}),
])
def test_declarations(shapes, text, shape, variables):
    e = parse(text, shapes=shapes)
    assert e.shape == shape
    assert shapes_of(e) == variables


def test_declared_names_are_rigid():
    with pytest.raises(ShapeError) as info:
        parse("A*x", shapes={"A": ("m", "n"), "x": ("k",)})
    assert "A is m×n, x is k×1" in str(info.value)


def test_fresh_dimension_names_avoid_declared_ones():
    e = parse("A*x", shapes={"x": ("m",)})
    assert shapes_of(e) == {"A": ("n", "m"), "x": ("m",)}
    e = parse("B*A", shapes={"A": ("n", "m")})
    assert e.variables()["B"].shape[1] == "n" and e.variables()["B"].shape[0] not in ("n", "m")


@pytest.mark.parametrize("shapes, message", [
    ({"A": (1, 2, 3)}, "has 3 dimensions"),
    ({"A": (0, 3)}, "dimension 0 is neither a positive integer nor a name"),
    ({"x": (-2,)}, "dimension -2"),
    ({"x": ("n m",)}, "dimension 'n m'"),
    ({"x": (True,)}, "dimension True"),
    ({"x": (2.5,)}, "dimension 2.5"),
])
def test_bad_declarations(shapes, message):
    with pytest.raises(ShapeError, match=message):
        parse("A + x'*x*A" if "A" in shapes else "x", shapes=shapes)


# ---------------------------------------------------------------- assumptions

@pytest.mark.parametrize("assume, props", [
    ("symmetric", {"symmetric"}),
    ("diagonal", {"diagonal", "symmetric"}),
    ("posdef", {"posdef", "symmetric"}),
    ("positive definite", {"posdef", "symmetric"}),
    ("SPD", {"posdef", "symmetric"}),
    (["symmetric", "diagonal"], {"diagonal", "symmetric"}),
])
def test_assumptions_are_stored_in_the_variable(assume, props):
    e = parse("S*x", assume={"S": assume})
    s = e.variables()["S"]
    assert s.props == frozenset(props)
    assert s.shape == ("n", "n")               # an assumption makes the matrix square
    assert e.variables()["x"].props == frozenset()


def test_assumption_squares_a_declared_symbolic_matrix():
    e = parse("S", shapes={"S": ("m", "m")}, assume={"S": "symmetric"})
    assert e.shape == ("m", "m") and e.props == frozenset({"symmetric"})


@pytest.mark.parametrize("shapes, assume, message", [
    ({}, {"x": "symmetric"}, "x: 'symmetric' needs a square matrix, but x is a vector (n×1)"),
    ({}, {"c": "posdef"}, "c: 'posdef/symmetric' needs a square matrix, but c is a scalar"),
    ({"q": (1, "n")}, {"q": "diagonal"}, "q is a row vector (1×n)"),
    ({"S": ("m", "n")}, {"S": "symmetric"}, "S is declared m×n"),
    ({"S": (3, 4)}, {"S": "symmetric"}, "S is declared 3×4"),
    ({}, {"S": "orthogonal"}, "unknown assumption 'orthogonal'; known: symmetric, diagonal"),
    ({}, {"S": 3}, "S: an assumption is a name or a list of names (symmetric, diagonal, "
                   "posdef), got int 3"),
    ({}, {"S": None}, "S: an assumption is a name or a list of names"),
])
def test_bad_assumptions(shapes, assume, message):
    name = next(iter(assume))
    with pytest.raises(ShapeError) as info:
        parse(name, shapes=shapes, assume=assume)
    assert message in str(info.value)
    assert "Var(" not in str(info.value) and "Rigid(" not in str(info.value)


@pytest.mark.parametrize("kinds, message", [
    ({"x": 3}, "x: a kind is 0 (a scalar), 1 (a vector), 2 (a matrix), 'row' or 'square', "
               "got 3"),
    ({"x": 0.0}, "x: a kind is 0 (a scalar)"),
    ({"x": True}, "got True"),
    ({"x": "bogus"}, "got 'bogus'"),
    ({"x": None}, "got None"),
    (["x"], "kinds must map names to what they are"),
])
def test_bad_kinds(kinds, message):
    with pytest.raises(ShapeError) as info:
        parse("x'*A*x", kinds=kinds)
    assert message in str(info.value)


def test_kinds_fix_what_a_name_is():
    import numpy as np
    assert parse("x'*A*x", kinds={"x": 1}).variables()["x"].shape == ("n",)
    assert parse("A*B", kinds={"A": "square"}).variables()["A"].shape == ("n", "n")
    assert parse("c*x", kinds={"c": 0}).variables()["c"].shape == ()
    assert parse("a'*x", kinds={"a": np.int64(1)}).variables()["a"].shape == ("n",)


def test_assumptions_are_a_name_or_names_in_any_iterable():
    for given in ("symmetric", ["symmetric"], ("posdef",), {"symmetric"},
                  (p for p in ["symmetric"])):
        assert "symmetric" in parse("S", assume={"S": given}).props       # (posdef implies it)
    with pytest.raises(ShapeError) as info:          # {"symmetric": False} is no list
        parse("S", assume={"S": {"symmetric": False}})
    assert "an assumption is a name or a list of names" in str(info.value)


# ---------------------------------------------------------------- kron, vec, eye, constants

@pytest.mark.parametrize("text, shapes, shape", [
    ("kron(A, B)", {"A": (2, 3), "B": (4, 5)}, (8, 15)),
    ("kron(x, y)", {"x": (3,), "y": (4,)}, (12,)),
    ("kron(x, A)", {"x": (3,), "A": (2, 5)}, (6, 5)),
    ("kron(A, x)", {"A": (2, 5), "x": (3,)}, (6, 5)),
    ("kron(A, B)", {"A": ("m", "n"), "B": ("p", "q")}, ("m*p", "n*q")),
    ("kron(B, A)", {"A": ("m", "n"), "B": ("p", "q")}, ("m*p", "n*q")),   # factors sorted
    ("kron(A, A)", {"A": (2, "n")}, (4, "n*n")),
    ("vec(A)", {"A": (2, 3)}, (6,)),
    ("vec(A)", {"A": ("m", "n")}, ("m*n",)),
    ("vec(x)", {"x": ("n",)}, ("n",)),
    ("kron(B', A)*vec(X)", {"A": ("m", "n"), "B": ("p", "q"), "X": ("n", "p")}, ("m*q",)),
    ("vec(X)'*kron(B, A)", {"A": ("m", "n"), "B": ("p", "q"), "X": ("m", "p")}, (1, "n*q")),
    ("vec(A)'*vec(A)", {"A": (2, 3)}, ()),
])
def test_kron_and_vec_multiply_dimensions(text, shapes, shape):
    assert parse(text, shapes=shapes).shape == shape


def test_kron_of_undeclared_matrices_has_product_dimensions():
    e = parse("kron(A, B)")
    a, b = e.variables()["A"].shape, e.variables()["B"].shape
    assert e.shape == (product_dim([a[0], b[0]]), product_dim([a[1], b[1]]))


@pytest.mark.parametrize("text, shapes, variables", [
    ("eye(3)*x", {}, {"x": (3,)}),
    ("A + eye(3)", {}, {"A": (3, 3)}),
    ("eye(3)*A", {}, {"A": (3, "m")}),
    ("A*eye(2)*B", {}, {"A": ("n", 2), "B": (2, "p")}),
    ("A + eye", {}, {"A": ("n", "n")}),                 # eye takes its size from A
    ("eye*x", {"x": (5,)}, {"x": (5,)}),
    ("x + vector(1)", {"x": (4,)}, {"x": (4,)}),
    ("A + matrix(2)", {"A": (2, 3)}, {"A": (2, 3)}),
])
def test_eye_and_constants_take_or_fix_sizes(text, shapes, variables):
    assert shapes_of(parse(text, shapes=shapes)) == variables


def test_eye_size_conflicts():
    with pytest.raises(ShapeError, match="eye\\(3\\) is 3×3, x is 4×1"):
        parse("eye(3)*x", shapes={"x": (4,)})
    with pytest.raises(ShapeError, match="eye\\(3\\) is 3×3, eye\\(4\\) is 4×4"):
        parse("eye(3) + eye(4)")


def test_constant_shapes_are_inferred():
    assert parse("eye").shape == ("n", "n")
    assert parse("vector(2)").kind == "vector"
    assert parse("matrix(2)").kind == "matrix"
    assert parse("x'*vector(1)").shape == ()


# ---------------------------------------------------------------- helpers

def test_format_shape_and_kind_of():
    assert [format_shape(s) for s in [(), ("n",), (1, "n"), ("m", "n"), (2, 3)]] == \
        ["scalar", "n×1", "1×n", "m×n", "2×3"]
    assert [kind_of(s) for s in [(), ("n",), (1, "n"), ("m", "n")]] == \
        ["scalar", "vector", "row vector", "matrix"]


def test_normalise():
    assert normalise(1, 1) == ()
    assert normalise("n", 1) == ("n",)
    assert normalise(1, "n") == (1, "n")
    assert normalise("m", "n") == ("m", "n")


def test_product_and_eval_dim():
    assert product_dim([2, "n", "m"]) == "2*m*n"
    assert product_dim([3, 4]) == 12
    assert product_dim(["m*n", "p"]) == "m*n*p"
    assert eval_dim("2*m*n", {"m": 3, "n": 5}) == 30
    assert eval_dim("m*n", {"m": 3}) is None
    assert eval_dim(7, {}) == 7


def test_unifier():
    u = Unifier()
    n, m = Var("n"), Var("m")
    u.unify(n, m)
    assert u.resolve(m) == "n"                     # the older name survives
    u.unify(m, 4)
    assert u.resolve(n) == 4
    with pytest.raises(UnifyError):
        u.unify(n, 5)
    with pytest.raises(UnifyError):
        u.unify(Var("k"), 1)                      # a vector length is never silently 1
    one = Var("j", can_be_one=True)
    u.unify(one, 1)
    assert u.resolve(one) == 1
    with pytest.raises(UnifyError):
        u.unify(Rigid("n"), Rigid("m"))
    p, q = Var("p"), Var("q")
    u.unify(Prod(p, q), Prod(p, q))                # the same product is fine
    assert u.resolve(Prod(Rigid("b"), Rigid("a"))) == "a*b"


@pytest.mark.parametrize("text, message", [
    ("tr(kron(eye, x))", "tr needs a square matrix"),
    ("kron(A, x) + A", "'+' needs operands of the same shape"),
])
def test_a_size_never_equals_a_product_of_itself(text, message):
    # regression: the unifier bound m to m*n and then resolved it forever (parse hung)
    with pytest.raises(ShapeError, match=re.escape(message)):
        parse(text)


def test_a_product_with_a_factor_one_is_its_other_factor():
    u = Unifier()
    n = Var("n")
    u.unify(n, Prod(n, 1))                         # n*1 is n: no error, no cycle
    assert u.resolve(Prod(n, 1)) == "n"
    m = Var("m")
    u.unify(m, Prod(1, Rigid("k")))
    assert u.resolve(m) == "k"


def test_deep_product_terms_resolve_without_recursion(shallow_stack):
    u = Unifier()
    term = Rigid("n")
    for _ in range(5000):
        term = Prod(term, Rigid("n"))
    with shallow_stack():
        assert u.resolve(term) == "*".join(["n"] * 5001)


@pytest.mark.parametrize("sig, ranks", [
    ("(m,k),(k,n)->(m,n)", [(2, 2)]),
    ("(n)->(n,n)", [(1,)]),
    (["(n)->(n,n)", "(n,n)->(n)"], [(1,), (2,)]),
    ("->(n,n)", [()]),
    ("(m,n),(p,q)->(m*p,n*q)", [(2, 2)]),
])
def test_parse_signature(sig, ranks):
    assert [o.ranks for o in parse_signature(sig)] == ranks


@pytest.mark.parametrize("sig, message", [
    ("(n,n->()", "neither a kind"),
    ("elementwize", "neither a kind"),
    ("(n)->(m)", "output dimension 'm' is not an input dimension"),
    ("(a,b,c)->()", "rank <= 2"),
    (["(n)->(n)", "(m)->(m)"], "cannot be told apart"),
    ("(n+1)->(n)", "bad dimension 'n+1'"),
    ([3], "a signature is a string"),
])
def test_bad_signatures(sig, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace("+", "\\+")):
        parse_signature(sig)


@pytest.mark.parametrize("text, shapes, want", [
    # products of unknown sizes (constants' sizes) pair with known ones in order
    ("vec(A) + vec(eye)", {"A": ("n", "n")}, ("n*n",)),
    ("vec(A) + vec(B)", {"A": ("m", "n")}, ("m*n",)),
    # declared sizes are never paired: products of the same factors in any order are equal
    ("kron(x, y) + kron(y, x)", {"x": ("n",), "y": ("m",)}, ("m*n",)),
])
def test_product_sizes_of_constants_are_inferred(text, shapes, want):
    assert parse(text, shapes=shapes).shape == want


def test_the_selection_matrix_of_diag_parses_back():
    """d/dy diag(y) prints as diag(vec(eye))*kron(vector(1), eye): n²×n."""
    rows, cols = parse("diag(vec(eye))*kron(vector(1), eye)").shape
    assert rows == f"{cols}*{cols}"


@pytest.mark.parametrize("text, shapes", [
    ("vec(A) + vec(B)", {"A": ("m", "n"), "B": ("p", "q")}),
    ("vec(A) + x", {"A": ("m", "n"), "x": ("k",)}),
])
def test_declared_product_sizes_are_not_paired(text, shapes):
    with pytest.raises(ShapeError):
        parse(text, shapes=shapes)
