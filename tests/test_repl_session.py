"""The query language of the REPL and ``matcalc -c`` (session.py, commands.py), in process.

Each test is a short conversation: the lines a person types and what comes back.  Errors are
MatcalcErrors whose message shows what, where (a caret under the typed line) and what was
expected; an error never changes the session.
"""

from __future__ import annotations

import os
import stat

import pytest

from matcalc.errors import MatcalcError
from matcalc.session import Quit, Session


def say(session, line):
    return session.run(line).lines


def error(session, line):
    with pytest.raises(MatcalcError) as info:
        session.run(line)
    return str(info.value)


@pytest.fixture
def s():
    return Session()


def test_the_four_ways_to_ask_for_a_derivative_agree(s):
    want = ["xᵀ(A + Aᵀ)", "  shape:  1×n", "  where:  x is n×1, A is n×n",
            "  text:   x'*(A + A')"]
    for line in ("d/dx x'*A*x", "∂/∂x x'*A*x", "diff(x'*A*x, x)", "d / dx (x'*A*x)"):
        assert say(s, line) == want, line
    assert say(s, "grad(x'*A*x, x)")[0] == "(A + Aᵀ)·x"
    assert say(s, "hessian(x'*A*x, x)")[0] == "A + Aᵀ"


def test_a_bare_expression_shows_its_simplified_form_and_shape(s):
    out = say(s, "x'*A*x + x'*A*x")
    assert out[:2] == ["2xᵀAx", "  shape:  scalar"]
    assert "  input:  x'*A*x + x'*A*x" in out


def test_declarations_persist_and_change_answers(s):
    assert say(s, "A: matrix(n, n) symmetric") == ["A: matrix (n×n), symmetric"]
    assert say(s, "c: scalar") == ["c: scalar"]
    assert say(s, "x, y: vector(n)") == ["x: vector (n×1)", "y: vector (n×1)"]
    assert say(s, "d/dx x'*A*x")[0] == "2xᵀA"
    assert "shape:  n×n" in " ".join(say(s, "d/dy A*y"))
    assert say(s, "S: positive definite matrix") == ["S: square matrix (sizes from use), posdef"]
    assert say(s, "r: row(k)") == ["r: row vector (1×k)"]


@pytest.mark.parametrize("line, message, column", [
    ("d/dx x'*A*", "expected an operand after '*'", 11),
    ("d/dy x'*A*x", "y does not occur in x'*A*x (its variables: x, A)", 4),
    ("diff(x'*A*x, )", "expected the name of a variable, got ''", 14),
    ("diff(x'*A*x)", "diff takes an expression and a variable", 5),
    ("grad(x'*A*x, x", "missing ')' to close grad(", 15),
    # a query word without parentheses (a new user's first try)
    ("hessian x'*A*x wrt x", "hessian takes its expression and variable in parentheses: "
                             "hessian(x'*A*x, x)", 9),
    ("diff  x'*x", "diff takes its expression and variable in parentheses", 7),
    ("x: vectr(n)", "unexpected 'vectr' (did you mean 'vector'?)", 4),
    ("x: vector(n) symmetric", "symmetric needs a square matrix, not a vector", 3),
    ("A: matrix(2, 3) diagonal", "diagonal needs a square matrix, but 2 ≠ 3", 3),
    ("x = [1, 2", "expected a number or a list of numbers", 10),
    ("x = [[1, 2], [3]]", "rows of different lengths", 5),
    ("x = __import__('os')", "expected a number or a list of numbers", 5),
    (":eval x'*x, x = [1, 2], 3", "expected NAME = VALUE after the expression", 25),
    (":equal x", ":equal takes two expressions separated by a comma", 8),
    (":layout sideways", "unknown layout 'sideways'; expected numerator or denominator", 9),
    (":explian d/dx x'*x", "unknown command ':explian'; did you mean ':explain'?", 1),
    (":explain x'*x", ":explain needs a derivative query", 10),
    (":check d/dx x'*A*", "expected an operand after '*'", 18),
    ("∂/∂ x'*x", "a derivative is written ∂/∂x EXPR", 1),
    ("d/d x'*x", "a derivative is written ∂/∂x EXPR", 1),
    ("é: scalar", "'é' is not a name matcalc reads", 1),
    ("x, sum: vector(n)", "sum is a function of the language", 4),
    ("x = 1e999", "a value is a finite number", 5),
    ("x = [1, NaN]", "expected a number or a list of numbers", 9),
])
def test_errors_say_what_where_and_what_was_expected(s, line, message, column):
    text = error(s, line)
    first, where, shown, caret = text.split("\n")
    assert first.startswith(message), text
    assert where == f"  at line 1, column {column}:"
    assert shown == f"    {line}"
    assert caret == " " * (4 + column - 1) + "^"


def test_a_variable_named_like_a_query_word_is_still_a_variable(s):
    say(s, "grad: vector")
    assert say(s, "grad'*x")[0] == "gradᵀx"


def test_an_error_changes_nothing(s):
    say(s, "A: matrix(n, n) symmetric")
    say(s, "n = 4")
    before = say(s, ":vars")
    for bad in ("A: matrix(2, 3) symmetric", "x = [1,", "d/dx A*", ":load missing.yaml",
                ":layout sideways"):
        error(s, bad)
    assert say(s, ":vars") == before


def test_values_and_eval(s):
    assert say(s, "x = [1, 2, 3]") == ["x = [1, 2, 3] (a value, for :eval)"]
    assert say(s, ":eval x'*x") == ["14.0"]
    out = say(s, ":eval A*x, A = [[1, 0, 0], [0, 2, 0], [0, 0, 3]]")
    assert out[0] == "[1., 4., 9.]" and "vector" in out[1]
    assert "no value for A" in error(s, ":eval A*x")
    assert say(s, "c = 2") == ["c = 2 (a value, for :eval)"]       # a-g: a scalar value
    assert say(s, ":eval c*x'*x") == ["28.0"]


def test_a_bound_dimension_fixes_numeric_sizes(s):
    say(s, "x: vector(n)")
    assert say(s, "n = 3")[0].startswith("n = 3 (a dimension")
    assert "n = 3" in say(s, ":check d/dx x'*A*x")[0]
    # a value given inline is checked as one set on its own line is, with a caret under it
    message = error(s, ":eval x'*x, x = [1, 2]")
    assert message.startswith("x is a vector (n×1) with n = 3, but this value has 2 numbers")
    assert message.endswith("    :eval x'*x, x = [1, 2]\n                    ^")


def test_a_dimension_takes_only_a_whole_number(s):
    # it used to become a value as well ("n = 3 (a dimension)" and "n = 2.5" side by side)
    say(s, "x: vector(n)")
    assert error(s, "n = 2.5").startswith("n is a dimension (x: vector (n×1)): give it a "
                                          "whole number of at least 1, such as n = 3")
    assert error(s, "n = [1, 2]").startswith("n is a dimension")
    say(s, "k = 2")
    assert error(s, "k = -1").startswith("k is a dimension (you set k = 2)")
    assert "n = 2.5" not in say(s, ":vars") and "k = -1" not in say(s, ":vars")
    assert say(s, "m = 2.5") == ["m = 2.5 (a value, for :eval)"]   # m is no dimension here


@pytest.mark.parametrize("declare, value, message", [
    ("x: vector(n)", "[[1, 2], [3, 4]]", "x is a vector (n×1), but this value is a 2×2 matrix"),
    ("x: vector(3)", "[1, 2]", "x is a vector (3×1), but this value has 2 numbers"),
    ("x: vector(n); n = 3", "[1, 2]", "x is a vector (n×1) with n = 3, but this value has 2"),
    ("c: scalar", "[1, 2]", "c is a scalar, but this value has 2 numbers"),
    ("r: row(k)", "[[1], [2]]", "r is a row vector (1×k), but this value is a 2×1 matrix"),
    ("S: matrix symmetric", "[[1, 2, 3]]", "S is a square matrix (sizes from use), symmetric, "
                                           "but this value is a 1×3 matrix"),
])
def test_a_value_must_fit_its_declaration(s, declare, value, message):
    # caught when typed rather than at the next :eval
    say(s, declare)
    text = error(s, f"{declare.split(':')[0]} = {value}")
    assert text.startswith(message), text
    assert text.split("\n")[1] == "  at line 1, column 5:"


def test_values_that_fit_their_declaration(s):
    say(s, "x: vector(n); r: row(n); c: scalar; A: matrix(n, 2); n = 3")
    for line in ("x = [1, 2, 3]", "x = [[1], [2], [3]]", "r = [1, 2, 3]", "r = [[1, 2, 3]]",
                 "c = 2", "c = [[2]]", "A = [[1, 2], [3, 4], [5, 6]]"):
        assert say(s, line)[0].endswith("(a value, for :eval)"), line


def test_check_uses_backprop_and_central_differences(s):
    say(s, "d/dX log(det(X))")
    out = say(s, ":check")
    assert out[0].startswith("check d/dX log(det(X)): 3 random points")
    assert out[1].lstrip().startswith("vs backprop:") and "max rel error" in out[1]
    assert out[2].lstrip().startswith("vs central differences:")
    assert out[-1] == "  ✓ the answer agrees with both"


def test_equal_for_checking_a_hand_derivation(s):
    assert say(s, ":equal x'*(A + A'), (A*x + A'*x)'")[0].startswith("equal: ")
    out = say(s, ":equal x'*(A + A'), x'*(A + A)")
    assert out[0].startswith("not equal: the values differ by")
    assert "counterexample:" in out and any(line.lstrip().startswith("x ") for line in out)
    assert say(s, ":equal 2*A*x, A'*x + A*x")[0].startswith("not equal")


def test_layout_denominator_transposes_and_says_so(s):
    say(s, ":layout denominator")
    out = say(s, "d/dx x'*A*x")
    assert out[0] == "(A + Aᵀ)·x" and out[1] == "  shape:  n×1"
    assert out[-1].startswith("  layout: denominator")
    assert say(s, "grad(x'*A*x, x)")[-1].startswith("  layout: denominator (a gradient")
    say(s, ":layout numerator")
    assert say(s, "d/dx x'*A*x")[0] == "xᵀ(A + Aᵀ)"


def test_explain_and_latex(s):
    out = say(s, ":explain d/dx x'*A*x")
    assert out[0] == "xᵀ(A + Aᵀ)"
    steps = [line for line in out if line.strip()[:1].isdigit()]
    assert steps and all(".yaml:" in line for line in steps)
    assert say(s, ":latex") == ["x^{\\top} \\left(A + A^{\\top}\\right)"]
    assert say(s, ":latex hessian(x'*A*x, x)") == ["A + A^{\\top}"]


def test_rules_lists_and_filters(s):
    out = say(s, ":rules trace-inverse")
    assert out[-1].startswith("(2 of ") and "matching 'trace-inverse'" in out[-1]
    name, section, where = out[0].split()
    assert name == "trace-inverse" and section == "derivatives" and ".yaml:" in where
    assert "no rule matches" in error(s, ":rules no-such-rule-anywhere")


def test_load_user_rules(s, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text('functions:\n  - name: softplus\n    signature: elementwise\n'
                    '    definition: "log(1 + exp(u))"\nelementwise:\n  - name: softplus\n'
                    '    function: softplus\n    derivative: "sigmoid(u)"\n')
    assert "unknown function 'softplus'" in error(s, "d/dx sum(softplus(x))")
    assert say(s, f":load {path}")[0].startswith(f"loaded {path}: 1 rules")
    assert say(s, "d/dx sum(softplus(x))")[0] == "sigmoid(x)ᵀ"
    assert "softplus" in " ".join(say(s, ":rules softplus"))


def test_graph_prints_dot_without_graphviz(s, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))          # no dot here
    out = say(s, ":graph x'*x")
    assert out[0] == "digraph matcalc {" and "dot -Tsvg" in out[-1]


@pytest.mark.skipif(os.name != "posix", reason="a shell script stands in for Graphviz")
def test_graph_writes_an_svg_with_graphviz(s, monkeypatch, tmp_path):
    fake = tmp_path / "bin" / "dot"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\n# a stand-in for Graphviz: -Tsvg -o FILE, DOT on stdin\n'
                    'cat > "$3"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(fake.parent) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.chdir(tmp_path)
    out = say(s, ":graph x'*A*x")
    assert out[0].startswith("wrote ") and out[0].endswith("matcalc-graph.svg (4 nodes)")
    assert (tmp_path / "matcalc-graph.svg").read_text().startswith("digraph matcalc {")


def test_numpy_comes_from_the_code_generator(s):
    say(s, "d/dx x'*A*x")
    assert any("def f(" in line for line in say(s, ":numpy"))


def test_help_forget_quit(s):
    out = say(s, ":help")
    assert any(line.lstrip().startswith(":explain") for line in out)
    assert say(s, ":help check")[0].startswith(":check")
    say(s, "x: vector(k)")
    assert say(s, ":forget x") == ["forgot x"]
    assert "  where:  x is n×1" in say(s, "d/dx x'*x")      # k×1 forgotten: inferred again
    with pytest.raises(Quit):
        s.run(":quit")
    with pytest.raises(Quit):
        s.run(":q")


def test_semicolons_separate_queries_and_grad_needs_a_scalar(s):
    out = say(s, "x: vector(k); d/dx x'*x")
    assert out == ["x: vector (k×1)", "2xᵀ", "  shape:  1×k", "  where:  x is k×1",
                   "  text:   2*x'"]
    assert error(s, "hessian(A*x, x)").startswith("hessian needs a scalar expression; A*x is")
    assert error(s, "grad(A*x, x)").startswith("grad needs a scalar expression")


def test_equal_types_both_sides_together(s):
    # alone, A*B leaves A and B rectangular; against B*A they must be square
    out = say(s, ":equal A*B, B*A")
    assert out[0].startswith("not equal: the values differ")
    assert say(s, ":equal A*B + B*A, B*A + A*B")[0].startswith("equal")


def test_eval_of_a_derivative_query_is_the_value_of_its_answer(s):
    # x'*(A + A') at x = [1, 2], A = diag(2, 3): [4, 12]; a layout and a gradient are as shown
    out = say(s, ":eval d/dx x'*A*x, x = [1, 2], A = [[2, 0], [0, 3]]")
    assert out[0] == "[[ 4., 12.]]" and out[-1] == "  (the value of x'*(A + A'))"
    assert say(s, ":eval grad(x'*A*x, x), x = [1, 2], A = [[2, 0], [0, 3]]")[0] == "[ 4., 12.]"
    assert say(s, ":eval hessian(x'*A*x, x), x = [1, 2], A = [[1, 2], [3, 4]]")[:2] == [
        "[[2., 5.],", " [5., 8.]]"]
    # the answer eye has no variable: its size comes from the expression's value of x
    assert say(s, ":eval d/dx x, x = [1, 2]")[:2] == ["[[1., 0.],", " [0., 1.]]"]
    # every variable of the expression needs a value, and must fit it
    assert "no value for A" in error(s, ":eval d/dx x'*A*x, x = [1, 2]")
    assert "A already made n = 2" in error(s, ":eval d/dx A*x, x = [1, 2, 3], A = [[1, 2], [3, 4]]")


def test_eval_of_a_derivative_refuses_a_value_its_declaration_rules_out(s):
    # 2*x'*S is the derivative for a symmetric S only: at S = [[1, 2], [3, 4]] the
    # derivative of x'*S*x is x'*(S + S') = [12, 21], not 2*x'*S = [14, 20] (review 11)
    say(s, "S: matrix(n, n) symmetric")
    message = error(s, ":eval d/dx x'*S*x, x = [1, 2], S = [[1, 2], [3, 4]]")
    assert message.startswith("S is declared symmetric, but its value is not")
    assert message.endswith("    :eval d/dx x'*S*x, x = [1, 2], S = [[1, 2], [3, 4]]\n"
                            + " " * 39 + "^")                        # under S's value
    assert say(s, ":eval d/dx x'*S*x, x = [1, 2], S = [[1, 2], [2, 4]]")[0] == "[[10., 20.]]"
    assert say(s, ":eval x'*S*x, x = [1, 2], S = [[1, 2], [3, 4]]")[0] == "27.0"   # a value
    say(s, "D: matrix(n, n) diagonal")
    assert error(s, ":eval d/dx x'*D*x, x = [1, 2], D = [[1, 2], [2, 4]]").startswith(
        "D is declared diagonal, but its value is not")


def test_a_query_error_inside_a_command_points_into_the_whole_line(s):
    message = error(s, ":eval x'*A*x wrt x, x = [1, 2]")
    assert message.startswith("'wrt x' is not part of a query: write d/dx x'*A*x")
    assert message.endswith("    :eval x'*A*x wrt x, x = [1, 2]\n                 ^")
    assert error(s, ":explain  x'*A*x wrt x").endswith(
        "    :explain  x'*A*x wrt x\n                     ^")
    assert error(s, ":latex").endswith("    :latex\n          ^")      # its own line: kept


def test_eval_shows_no_negative_zero(s):
    assert say(s, ":eval -c*0, c = 1") == ["0.0"]
    assert say(s, ":eval d/dx x.^-1, x = [1, 2]")[:2] == ["[[-1.  ,  0.  ],", " [ 0.  , -0.25]]"]


def test_eval_outside_a_domain_says_so(s):
    out = say(s, ":eval log(c), c = -1")
    assert out[0] == "nan" and "outside its domain" in out[1]


def test_an_answer_whose_simplification_stopped_says_so(s, cycling_rules):
    from conftest import CYCLE_MESSAGE
    say(s, f":load {cycling_rules}")
    out = say(s, "grad(sum(cos(x)), x)")
    assert out[0] == "−sin(x)"
    assert out[-1] == f"  note:   not fully simplified: {CYCLE_MESSAGE}"


@pytest.mark.parametrize("line, where", [
    ("d/dx x", "x is n×1"),                     # eye: no variable of its own
    ("d/dX tr(X)", "X is n×n"),
    ("d/dX tr(matrix(2)'*X)", "X is n×m"),     # X' sized: m×n
    ("d/dx x'*A*x", "x is n×1, A is n×n"),     # the answer's own variables
    ("d/dc c*eye", "no variables"),            # n belongs to no variable at all
])
def test_an_answer_without_the_variables_of_its_sizes_names_the_querys(s, line, where):
    """A constant answer (d/dx x = I, n×n) said "where: no variables", leaving n unexplained;
    it names the variables of the query that have the sizes its shape uses."""
    assert f"  where:  {where}" in say(s, line)


@pytest.mark.parametrize("line, says, column", [
    ("d/dx x'*A*x wrt x", "write d/dx x'*A*x", 12),
    ("∂/∂x x'*A*x wrt x", "write ∂/∂x x'*A*x", 12),
    ("x'*A*x wrt x", "write d/dx x'*A*x or diff(x'*A*x, x)", 7),
])
def test_a_trailing_wrt_says_how_to_name_the_variable(s, line, says, column):
    """'wrt x' (the CLI's --wrt, other tools' syntax) failed with "missing operator before
    'wrt' (write '*' for a product)", which sends a person the wrong way."""
    message = error(s, line)
    assert says in message and "missing operator" not in message, message
    assert message.splitlines()[-1] == " " * (4 + column) + "^", message


@pytest.mark.parametrize("line", ["x'*A* wrt x", " wrt x", "d/dx wrt x"])
def test_a_trailing_wrt_after_text_that_does_not_parse_gets_the_parsers_error(s, line):
    """Review 9: the hint echoed what came before 'wrt' even when that was broken or empty
    ("write d/dx x'*A* or diff(x'*A*, x)"), hiding the real error."""
    message = error(s, line)
    assert "not part of a query" not in message, message
