"""The rule engine against numbers: every case of tests/cases/derivatives.yaml.

Each answer is evaluated at random values of random sizes and compared with the Jacobian
that matcalc.autograd computes by backprop and with central differences, so a transposed,
mis-scaled or wrong-layout answer fails.  The answer must also be no bigger than the
textbook form.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml

import matcalc
from matcalc.checking import random_values
from numeric_helpers import central_jacobian, dims_of

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "derivatives.yaml").read_text())["cases"]


def _id(case):
    return f"{case.get('op', 'diff')} {case['query']} wrt {case['wrt']}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_case(case):
    op = case.get("op", "diff")
    shapes, assume = case.get("shapes"), case.get("assume")
    expr = matcalc.parse(case["query"], shapes=shapes, assume=assume)
    answer = getattr(matcalc, op)(expr, case["wrt"])
    assert str(answer) == case["expect"]
    if "size_reason" not in case:       # else: why the answer is bigger, or cannot be compared
        textbook = case.get("textbook", case["expect"])
        names = {n: v.shape for n, v in expr.variables().items()}
        book = matcalc.parse(textbook, shapes=names, assume=assume)
        assert answer.node_count() <= book.node_count(), f"{answer} is bigger than {textbook}"

    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        values = random_values(expr.variables(), case.get("domain") or {}, rng)
        got = np.asarray(matcalc.evaluate(answer, {k: v for k, v in values.items()
                                                    if k in answer.variables()},
                                          dims=dims_of(expr, values)))
        if op == "hessian":
            g = matcalc.grad(expr, case["wrt"])
            want = matcalc.numeric_jacobian(g, case["wrt"], {k: v for k, v in values.items()
                                                              if k in g.variables()})
            fd = central_jacobian(
                lambda v: matcalc.numeric_jacobian(expr, case["wrt"], dict(values, **{case["wrt"]: v})).T,
                values[case["wrt"]])
        else:
            want = matcalc.numeric_jacobian(expr, case["wrt"], values)
            fd = _fd_layout(expr, case["wrt"], values, op)
        want = np.asarray(want)
        if op == "grad":
            want = want.T.reshape(np.shape(values[case["wrt"]])) if np.ndim(want) else want
        assert got.shape == np.shape(want) or got.size == np.size(want) == 1
        np.testing.assert_allclose(got.reshape(np.shape(want)), want, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(got.reshape(-1), np.asarray(fd).reshape(-1), rtol=1e-4,
                                   atol=1e-5)


def _fd_layout(expr, wrt, values, op):
    """Central differences in numerator layout (or gradient layout for grad)."""
    x = values[wrt]

    def f(v):
        out = matcalc.evaluate(expr, dict(values, **{wrt: v}))
        return np.asarray(out).T if np.ndim(out) == 2 and np.shape(out)[0] == 1 else out

    jac = central_jacobian(f, x)
    f_rank, x_rank = len(expr.shape), np.ndim(x)
    if x_rank == 0:
        return jac.reshape(np.shape(f(x)), order="F")
    if f_rank == 0:
        grad = jac.reshape(np.shape(x), order="F")
        if op == "grad":
            return grad
        return grad.T if x_rank == 2 else grad.reshape(1, -1)
    return jac


def test_a_transposed_answer_would_fail():
    """The harness can tell an answer from its transpose (non-square, non-symmetric)."""
    rng = np.random.default_rng(0)
    values = {"a": rng.standard_normal(3), "b": rng.standard_normal(4),
              "X": rng.standard_normal((3, 4))}
    shapes = {"a": ("p",), "b": ("q",)}
    answer = matcalc.diff("a'*X*b", "X", shapes=shapes)
    want = matcalc.numeric_jacobian("a'*X*b", "X", values)
    np.testing.assert_allclose(matcalc.evaluate(answer, values, shapes=shapes), want, atol=1e-12)
    wrong = matcalc.evaluate(matcalc.parse("a*b'", shapes=shapes), values)
    assert wrong.shape != np.shape(want)
    square = {"a": rng.standard_normal(3), "b": rng.standard_normal(3),
              "X": rng.standard_normal((3, 3))}
    want = matcalc.numeric_jacobian("a'*X*b", "X", square)
    assert not np.allclose(matcalc.evaluate("a*b'", square, shapes=shapes), want)


def test_explain_names_rules_with_file_and_line():
    text = str(matcalc.explain("x'*A*x", "x"))
    assert "product-rule-left (rules/derivatives/00-seed.yaml:" in text
    assert "x'*(A + A')" in text.splitlines()[0]


def test_explain_reports_the_subgradient_choice():
    text = str(matcalc.explain("norm1(x)", "x") if False else matcalc.explain("abs(x)'*y", "x"))
    assert "sign(0) = 0" in text


def test_rules_that_are_not_a_rule_set_are_a_clear_error():
    for call in (matcalc.diff, matcalc.grad, matcalc.hessian, matcalc.explain):
        with pytest.raises(matcalc.MatcalcError, match="rules must be a RuleSet"):
            call("x'*A*x", "x", rules="examples/user_rules.yaml")


def test_no_rule_is_a_clear_error(tmp_path):
    # every built-in operator has its adjoints, so the function without one is a user's
    (tmp_path / "gram.yaml").write_text(
        'functions:\n  - name: gram\n    signature: "(m,n)->(n,n)"\n    args: [X]\n'
        '    definition: "X\'*X"\n')
    rules = matcalc.load_rules(tmp_path / "gram.yaml")
    with pytest.raises(matcalc.MatcalcError, match="no rule differentiates gram"):
        matcalc.diff("gram(X)", "X", rules=rules)


def test_variable_not_in_expression():
    with pytest.raises(matcalc.MatcalcError, match="does not occur"):
        matcalc.diff("A*x", "y")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_answer_prints_as_text_that_parses_back(case):
    """A person can paste an answer back in: its text parses, with the query's variables,
    to the same expression (constants such as eye and vector(1) get their sizes by
    inference)."""
    if "reparse_reason" in case:
        pytest.skip(case["reparse_reason"])
    expr = matcalc.parse(case["query"], shapes=case.get("shapes"), assume=case.get("assume"))
    answer = getattr(matcalc, case.get("op", "diff"))(expr, case["wrt"])
    shapes = {n: v.shape for n, v in expr.variables().items()}
    again = matcalc.parse(str(answer), shapes=shapes, assume=case.get("assume"))
    assert str(again) == str(answer)
    # sizes no variable fixes (vector(0) alone) come back under other names: compare kinds
    assert [d == 1 for d in again.shape] == [d == 1 for d in answer.shape]


def test_a_hessian_is_explained_by_both_passes():
    e = matcalc.explain("sum(log(vector(1) + exp(-y.*(X*w))))", "w", hessian=True)
    rules = [s.rule for s in e.steps]
    at = rules.index("gradient")                  # the gradient's own rules come first
    assert "log" in rules[:at] and "sigmoid" in rules[at:]
    assert str(e.steps[at].after) == "-X'*(y.*sigmoid(-y.*(X*w)))"
    assert str(e.result) == str(matcalc.hessian("sum(log(vector(1) + exp(-y.*(X*w))))", "w"))
    assert str(e).startswith("hessian of sum(log(vector(1) + exp(-y.*(X*w)))) by w  =  X'*diag(")


@pytest.mark.parametrize("text, wrt, assume, gradient", [
    ("c^3", "c", None, "3*c^2"),                      # a scalar variable: diff, then grad
    ("sum(sign(x))", "x", None, "vector(0)"),          # no path: the zero gradient
    ("logdet(S)", "S", {"S": "posdef"}, "inv(S')"),    # by S's entries, then with S' = S
])
def test_every_hessian_explanation_names_its_gradient_once(text, wrt, assume, gradient):
    e = matcalc.explain(text, wrt, assume=assume, hessian=True)
    markers = [s for s in e.steps if s.marker]
    assert len(markers) == 1 and str(markers[0].after) == gradient
    assert all(s.where.endswith(tuple("0123456789")) or "generic" in s.where
               or s.rule.endswith("-involution") for s in e.steps if not s.marker)
    if assume:
        assert "as if it had no assumption" in markers[0].note
    assert str(e.result) == str(matcalc.hessian(text, wrt, assume=assume))


def test_explain_lists_a_sum_rule_once_per_sum_not_once_per_split():
    # backprop takes a sum of 8 terms apart in halves (7 splits); the sum rules pass the
    # cotangent on unchanged, and explain listed them 14 times with the same before and after
    text = " + ".join(f"c{i}*sin(x'*a{i})" for i in range(8))
    rules = [s.rule for s in matcalc.explain(text, "x").steps]
    assert rules.count("sum-rule-left") == 1 and rules.count("sum-rule-right") == 1
    assert rules.count("sin") == 8
