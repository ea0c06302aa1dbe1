"""The library functions behind the REPL's :equal, :check and :graph commands."""

from __future__ import annotations

import pytest

import matcalc
from matcalc.equivalence import check_derivative


def test_equal_expressions_are_equal():
    r = matcalc.equivalent("x'*(A + A')", "(A*x + A'*x)'", seed=1)
    assert r and r.equal and r.trials == 5
    assert str(r).startswith("equal: ")


def test_a_transposed_answer_is_caught():
    # a hand derivation of d/dx x'*A*x that forgot the transpose on one term
    r = matcalc.equivalent("x'*(A + A')", "x'*(A + A)", seed=1)
    assert not r
    assert r.reason.startswith("the values differ by")
    assert set(r.values) == {"x", "A"} and r.sizes["n"] >= 2
    assert r.left_value is not None and r.right_value is not None
    text = str(r)
    assert "counterexample:" in text and "left" in text and "right" in text
    # a column where a row is due is caught by the shapes alone
    r = matcalc.equivalent("x'*(A + A')", "(A + A')*x")
    assert not r and "is 1×n but" in r.reason
    # a square matrix against its transpose: caught by the values
    r = matcalc.equivalent("A", "A'", shapes={"A": ("n", "n")}, seed=2)
    assert not r and "differ" in r.reason


def test_an_off_by_a_factor_answer_is_caught():
    r = matcalc.equivalent("2*A'*(A*x - b)", "A'*(A*x - b)", seed=3)
    assert not r and "differ" in r.reason


def test_sizes_fixed_by_one_side_carry_to_the_other():
    # 2*A*x alone leaves A rectangular; A'*x + A*x needs it square
    assert not matcalc.equivalent("2*A*x", "A'*x + A*x", seed=0)
    assert matcalc.equivalent("2*A*x", "A'*x + A*x", assume={"A": "symmetric"}, seed=0)


def test_domains_are_honoured():
    assert matcalc.equivalent("log(det(X))", "logdet(X)", seed=0)
    assert matcalc.equivalent("exp(log(x))", "x", seed=0)


def test_check_derivative_agrees_for_right_answers():
    for text, wrt in [("x'*A*x", "x"), ("log(det(X))", "X"), ("A*X*B", "X"), ("sin(c)*x", "c")]:
        f = matcalc.parse(text)
        result = check_derivative(f, wrt, matcalc.diff(f, wrt), seed=0)
        assert result, str(result)
        assert result.bp_abs < 1e-8 and result.fd_abs < 1e-4
    f = matcalc.parse("x'*A*x")
    assert check_derivative(f, "x", matcalc.grad(f, "x"), "grad", seed=0)
    assert check_derivative(f, "x", matcalc.hessian(f, "x"), "hessian", seed=0)


def test_a_point_outside_logdets_domain_is_drawn_again():
    # c < 0 can make det(A'*A + c*I) negative; --check stopped there with 'logdet: the
    # determinant is negative' (seed 0 draws such a point first) instead of drawing again
    f = matcalc.parse("logdet(A'*A + c*eye)")
    assert check_derivative(f, "A", matcalc.diff(f, "A"), seed=0)
    assert matcalc.equivalent("logdet(A'*A + c*eye)", "logdet(c*eye + A'*A)", seed=0)


def test_check_derivative_refuses_a_transposed_answer():
    f = matcalc.parse("tr(A*X)")                    # the derivative is A (numerator layout)
    shapes = {"A": f.variables()["A"].shape}
    assert check_derivative(f, "X", matcalc.parse("A", shapes=shapes), seed=0)
    wrong = matcalc.parse("A'", shapes=shapes)
    result = check_derivative(f, "X", wrong, seed=0)
    assert not result
    assert "✗ the answer is WRONG" in str(result)
    assert set(result.values) == {"A", "X"}


def test_to_dot_draws_shared_nodes_once():
    dot = matcalc.to_dot("x'*A*x + x'*A*x")
    assert dot.startswith("digraph matcalc {") and dot.rstrip().endswith("}")
    assert dot.count('label="x\\nn×1"') == 1
    assert dot.count('label="A\\nn×n"') == 1
    assert "add" not in dot or dot.count('"add') == 1


def test_to_dot_rejects_what_is_not_an_expression():
    with pytest.raises(matcalc.MatcalcError):
        matcalc.to_dot(42)
