"""matcalc.evaluate and matcalc.numeric_jacobian: values, layouts, conventions, errors."""

import numpy as np
import pytest

import matcalc
from numeric_helpers import central_jacobian
from matcalc import EvaluationError, MatcalcError
from matcalc.numeric import NUMERIC

RNG = np.random.default_rng(20261130)


def rand(*shape):
    return RNG.standard_normal(shape)


def spd(n):
    a = rand(n, n)
    return a @ a.T + n * np.eye(n)


# ---------------------------------------------------------------- values

VALUE_CASES = [
    ("x'*A*x", lambda v: v["x"] @ v["A"] @ v["x"]),
    ("x'*A*x + b'*x", lambda v: v["x"] @ v["A"] @ v["x"] + v["b"] @ v["x"]),
    ("norm2(A*x - b)^2", lambda v: np.sum((v["A"] @ v["x"] - v["b"]) ** 2)),
    ("exp(x).*y - x./z", lambda v: np.exp(v["x"]) * v["y"] - v["x"] / v["z"]),
    ("x*y'", lambda v: np.outer(v["x"], v["y"])),
    ("x'*A", lambda v: (v["x"] @ v["A"]).reshape(1, -1)),
    ("tr(A*B')", lambda v: np.trace(v["A"] @ v["B"].T)),
    ("det(S) + logdet(S)", lambda v: np.linalg.det(v["S"]) + np.log(np.linalg.det(v["S"]))),
    ("inv(S)*x", lambda v: np.linalg.solve(v["S"], v["x"])),
    ("S^-1", lambda v: np.linalg.inv(v["S"])),
    ("diag(x)*A", lambda v: np.diag(v["x"]) @ v["A"]),
    ("diag(A)", lambda v: np.diag(v["A"])),
    ("kron(A, B)", lambda v: np.kron(v["A"], v["B"])),
    ("vec(A)", lambda v: v["A"].reshape(-1, order="F")),
    ("<A, B>", lambda v: np.sum(v["A"] * v["B"])),
    ("‖x‖", lambda v: np.linalg.norm(v["x"])),
    ("norm1(A)", lambda v: np.sum(np.abs(v["A"]))),
    ("dot(x, y)", lambda v: v["x"] @ v["y"]),
    ("sum(log(vector(1) + exp(-y.*(A*x))))", lambda v: np.sum(np.log1p(np.exp(-v["y"] * (v["A"] @ v["x"]))))),
    ("2*A' - eye/3 + matrix(0.5)", lambda v: 2 * v["A"].T - np.eye(3) / 3 + 0.5),
    ("sigmoid(x).^2 + relu(x) + abs(x) .* sign(x) + tanh(x)",
     lambda v: (1 / (1 + np.exp(-v["x"]))) ** 2 + np.maximum(v["x"], 0) + np.abs(v["x"]) * np.sign(v["x"]) + np.tanh(v["x"])),
    ("sin(a)*cos(a)/tan(a) + sqrt(c)", lambda v: np.sin(v["a"]) * np.cos(v["a"]) / np.tan(v["a"]) + np.sqrt(v["c"])),
]


@pytest.fixture
def values():
    return {"x": rand(3), "y": rand(3), "z": rand(3) + 5, "b": rand(3), "A": rand(3, 3),
            "B": rand(3, 3), "S": spd(3), "a": 0.7, "c": 2.5}


@pytest.mark.parametrize("text, expected", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_value_matches_numpy(text, expected, values):
    got = matcalc.evaluate(text, values, shapes={"b": ("n",), "a": (), "c": ()})
    want = expected(values)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_result_conventions():
    x, A = [1.0, 2.0], [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(matcalc.evaluate("x'*x", {"x": x}), float)
    assert matcalc.evaluate("A*x", {"A": A, "x": x}).shape == (2,)
    assert matcalc.evaluate("x'*A", {"A": A, "x": x}).shape == (1, 2)
    assert matcalc.evaluate("A", {"A": A}).shape == (2, 2)


def test_vectors_as_n_or_n_by_1_and_scalars_as_1_by_1():
    a = matcalc.evaluate("x'*x", {"x": np.array([[1.0], [2.0]])})
    b = matcalc.evaluate("x'*x", {"x": [1.0, 2.0]})
    assert a == b == 5.0
    assert matcalc.evaluate("c*x", {"c": [[2.0]], "x": [1.0, 1.0]}).tolist() == [2.0, 2.0]


def test_accepts_an_expr_and_tensors():
    e = matcalc.parse("x'*x")
    t = matcalc.autograd.tensor([3.0, 4.0])
    assert matcalc.evaluate(e, {"x": t}) == 25.0


def test_shared_subexpressions_are_computed_once(monkeypatch):
    calls = []
    original = NUMERIC["exp"]

    def counting(node, args, sizes):
        calls.append(node)
        return original(node, args, sizes)

    monkeypatch.setitem(NUMERIC, "exp", counting)
    e = matcalc.parse("exp(x)'*exp(x) + sum(exp(x))")
    matcalc.evaluate(e, {"x": [0.0, 1.0]})
    assert len(calls) == 1


@pytest.mark.parametrize("text, vals, message", [
    ("A*x", {"A": np.ones((2, 3)), "x": np.ones(4)}, "x: has n = 4"),
    ("A*x", {"A": np.ones((2, 3))}, "no value for x"),
    ("A*x", {"A": np.ones((2, 3)), "x": np.ones((3, 2))}, "x: expected a vector of length n"),
    ("c*x", {"c": [1.0, 2.0], "x": np.ones(2)}, "c: expected a scalar"),
    ("A", {"A": np.ones(3)}, "A: expected a n×m matrix"),
    ("x", {"x": "abc"}, "x: expected numbers"),
    ("A*eye(3)", {"A": np.ones((2, 2))}, "A: expected"),
])
def test_bad_values_name_the_variable(text, vals, message):
    with pytest.raises(EvaluationError) as info:
        matcalc.evaluate(text, vals)
    assert message in str(info.value)


def test_singular_matrix_is_a_matcalc_error():
    with pytest.raises(MatcalcError, match="singular"):
        matcalc.evaluate("inv(A)", {"A": np.ones((2, 2))})


# ---------------------------------------------------------------- numerator layout

def test_layouts_against_closed_forms():
    x, b, A = rand(4), rand(3), rand(3, 4)
    S = rand(4, 4)
    X = spd(4)
    v = {"x": x, "b": b, "A": A, "S": S, "X": X}
    J = matcalc.numeric_jacobian
    np.testing.assert_allclose(J("x'*S*x", "x", v), (x @ (S + S.T)).reshape(1, -1), atol=1e-10)
    np.testing.assert_allclose(J("A*x", "x", v), A, atol=1e-12)
    np.testing.assert_allclose(J("b'*A", "b", v), A.T, atol=1e-12)    # ∂(bᵀA)/∂b = Aᵀ
    np.testing.assert_allclose(J("norm2(A*x - b)^2", "x", v),
                               (2 * (A @ x - b) @ A).reshape(1, -1), atol=1e-10)
    np.testing.assert_allclose(J("log(det(X))", "X", v), np.linalg.inv(X), atol=1e-10)
    np.testing.assert_allclose(J("tr(S*X)", "X", v), S, atol=1e-12)     # q×p, not Sᵀ
    np.testing.assert_allclose(J("exp(x)", "x", v), np.diag(np.exp(x)), atol=1e-12)


def test_scalar_by_non_square_matrix_is_q_by_p():
    a, b, X = rand(3), rand(5), rand(3, 5)
    got = matcalc.numeric_jacobian("a'*X*b", "X", {"a": a, "b": b, "X": X})
    assert got.shape == (5, 3)
    np.testing.assert_allclose(got, np.outer(b, a), atol=1e-12)


def test_matrix_by_matrix_is_the_kronecker_vec_jacobian():
    A, X, B = rand(2, 3), rand(3, 4), rand(4, 5)
    got = matcalc.numeric_jacobian("A*X*B", "X", {"A": A, "X": X, "B": B})
    np.testing.assert_allclose(got, np.kron(B.T, A), atol=1e-12)


NINE = [  # (expression, variable): every kind of f by every kind of variable
    ("a*b^2 + sin(a)", "a"), ("x'*x*a", "x"), ("tr(X)*a + sum(X.*X)", "X"),
    ("x*a^2", "a"), ("exp(x).*y", "x"), ("X*y", "X"),
    ("X*a + a^2*X'", "a"), ("x*y'", "x"), ("X*X'", "X"),
    ("y'*X", "X"), ("x'*X", "x"),
]


@pytest.mark.parametrize("text, wrt", NINE, ids=[f"{t} wrt {w}" for t, w in NINE])
def test_backprop_jacobian_matches_central_differences(text, wrt):
    shapes = {"x": (3,), "y": (3,), "X": (3, 3)}
    vals = {"a": 0.3, "b": -1.2, "x": rand(3), "y": rand(3), "X": rand(3, 3)}
    expr = matcalc.parse(text, shapes=shapes)
    vals = {k: v for k, v in vals.items() if k in expr.variables()}
    got = np.asarray(matcalc.numeric_jacobian(expr, wrt, vals))

    def f(value):
        out = matcalc.evaluate(expr, dict(vals, **{wrt: value}))
        return np.asarray(out).T if np.ndim(out) == 2 and np.shape(out)[0] == 1 else out

    fd = central_jacobian(f, vals[wrt])
    f_rank = len(expr.shape)
    var_rank = len(expr.variables()[wrt].shape)
    if var_rank == 0:
        fd = fd.reshape(np.shape(got), order="F")
    elif f_rank == 0:
        fd = fd.reshape(np.shape(vals[wrt]), order="F").T if var_rank == 2 else fd.reshape(1, -1)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-7)
