"""The rules library: every rule proven by numbers, the engine agreeing with every stated
identity, load-time validation naming file, line, rule and field, and user rule files."""

from pathlib import Path

import numpy as np
import pytest
import yaml

import matcalc
from matcalc import RuleFileError
from matcalc.checking import check_rules, draw_sizes, random_values
from matcalc.rules import builtin_rules

CASES = Path(__file__).parent / "cases" / "bad_rule_files"
EXPECTED = yaml.safe_load((CASES / "expected.yaml").read_text())
EXAMPLE = Path(__file__).parent.parent / "examples" / "user_rules.yaml"


def test_every_builtin_rule_passes_check_rules():
    count, failures = check_rules(builtin_rules())
    assert count >= 200
    assert not failures, "\n".join(map(str, failures))


def test_the_library_has_what_the_issue_asks_for():
    names = {r.name for r in builtin_rules().rules}
    by_file = {}
    for r in builtin_rules().rules:
        by_file.setdefault(r.where_text.split(":")[0], []).append(r)
    assert len(by_file["rules/derivatives/40-cookbook-traces.yaml"]) >= 15
    assert len(by_file["rules/derivatives/50-cookbook-determinants.yaml"]) >= 6
    inverses = [r for r in builtin_rules().rules if r.kind == "derivatives"
                and "inv(" in str(r.pattern)]
    assert len(inverses) >= 4
    for seed_rule in ("seed-identity", "seed-Ax", "seed-xTA", "seed-squared-norm",
                      "seed-inner-product", "seed-au", "seed-Au", "seed-u-plus-v",
                      "product-rule-left", "product-rule-right", "sum-rule-left"):
        assert seed_rule in names
    assert all(r.source for r in builtin_rules().rules if r.kind == "derivatives")


DERIVATIVES = [r for r in builtin_rules().rules if r.kind == "derivatives"]


@pytest.mark.parametrize("rule", DERIVATIVES, ids=[r.name for r in DERIVATIVES])
def test_engine_agrees_with_each_stated_derivative(rule):
    answer = matcalc.diff(rule.pattern, rule.wrt)
    assert answer.shape == rule.result.shape
    rng = np.random.default_rng(7)
    sizes: dict = {}
    values = random_values(rule.pattern.variables(), rule.domain, rng, sizes)
    draw_sizes([rule.result, answer], rng, sizes, low=3, high=4)     # constants' sizes: 3
    got = matcalc.evaluate(answer, {k: v for k, v in values.items()
                                    if k in answer.variables()}, dims=sizes)
    want = matcalc.evaluate(rule.result, {k: v for k, v in values.items()
                                          if k in rule.result.variables()}, dims=sizes)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", sorted(k for k in EXPECTED if k != "wrong_math.yaml"))
def test_bad_rule_files_are_refused_with_file_line_rule_field(name):
    with pytest.raises(RuleFileError) as info:
        matcalc.load_rules(CASES / name)
    message = str(info.value)
    for part in EXPECTED[name]:
        assert part in message, message


def test_wrong_rules_are_caught_by_check_rules():
    rules = matcalc.load_rules(CASES / "wrong_math.yaml")
    count, failures = check_rules(rules, {str(CASES / "wrong_math.yaml")})
    assert count == 7 and len(failures) == 7
    text = "\n".join(map(str, failures))
    for part in EXPECTED["wrong_math.yaml"]:
        assert part in text, text


def test_user_rules_extend_without_touching_the_builtin_set():
    user = matcalc.load_rules(EXAMPLE)
    assert str(matcalc.diff("sum(softplus(A*x))", "x", rules=user)) == "sigmoid(A*x)'*A"
    with pytest.raises(matcalc.UnknownFunctionError):
        matcalc.diff("sum(softplus(A*x))", "x")              # the built-in set is unchanged
    assert "softplus" not in builtin_rules().language.functions
    count, failures = check_rules(user, {str(EXAMPLE)})
    assert count == 5 and not failures


def test_user_functions_evaluate_through_their_definitions():
    user = matcalc.load_rules(EXAMPLE)
    x = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    got = matcalc.evaluate("huber(x)", {"x": x}, language=user.language)
    np.testing.assert_allclose(got, np.where(np.abs(x) <= 1, x**2 / 2, np.abs(x) - 0.5))
    got = matcalc.evaluate("logsumexp(x)", {"x": x}, language=user.language)
    assert abs(got - np.log(np.sum(np.exp(x)))) < 1e-12


def test_explain_points_at_the_rule_in_its_file():
    root = Path(__file__).parent.parent
    explanation = matcalc.explain("log(det(X))", "X")
    assert str(explanation.result) == "inv(X)"
    for step in explanation.steps:
        file, line = step.where.rsplit(":", 1)
        text = (root / file).read_text().splitlines()[int(line) - 1]
        assert f"name: {step.rule}" in text


def test_cli_check_rules_exit_codes(tmp_path):
    from matcalc.cli import main
    assert main(["check-rules", str(EXAMPLE)]) == 0
    assert main(["check-rules", str(CASES / "wrong_math.yaml")]) == 1
