"""The command line, run as a user runs it: ``python -m matcalc parse ...`` in a subprocess.

Exit codes: 0 an answer, 1 a user error (message on stderr, never a traceback), 2 usage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(*args, cwd=None, stdin="", env=None):
    env = dict(os.environ, PYTHONIOENCODING="utf-8", **(env or {}))
    return subprocess.run([sys.executable, "-m", "matcalc", *args], capture_output=True,
                          text=True, encoding="utf-8", env=env, cwd=cwd, timeout=120,
                          input=stdin)


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory):
    """A working folder outside the repository."""
    return tmp_path_factory.mktemp("cwd")


def test_parse_prints_forms_shape_and_variables(elsewhere):
    r = run("parse", "x'*A*x + b'*x", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.splitlines() == [
        "xᵀAx + bᵀx",
        "  shape:  scalar",
        "  where:  x is n×1, A is n×n, b is n×1",
        "  text:   x'*A*x + b'*x",
        "  latex:  x^{\\top} A x + b^{\\top} x",
    ]


def test_the_readme_example(elsewhere):
    r = run("parse", "x'*(A + A')", cwd=elsewhere)
    assert r.returncode == 0
    assert r.stdout == ("xᵀ(A + Aᵀ)\n"
                        "  shape:  1×n\n"
                        "  where:  x is n×1, A is n×n\n"
                        "  text:   x'*(A + A')\n"
                        "  latex:  x^{\\top} \\left(A + A^{\\top}\\right)\n")


def test_shapes_and_assumptions(elsewhere):
    r = run("parse", "A*x", "--shape", "A=4,3", "--shape", "x=3", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "  shape:  4×1" in r.stdout and "A is 4×3, x is 3×1" in r.stdout
    r = run("parse", "c*x", "--shape", "c=", "--shape", "x=m", cwd=elsewhere)
    assert r.returncode == 0 and "c is scalar, x is m×1" in r.stdout


def test_json_output(elsewhere):
    r = run("parse", "tr(S*X)", "--assume", "S=symmetric", "--json", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data == {"input": "tr(S*X)", "expr": "tr(S*X)", "unicode": "tr(SX)",
                    "latex": "\\operatorname{tr}\\left(S X\\right)", "shape": "scalar",
                    "variables": {"S": "n×n", "X": "n×n"}}


def test_an_expression_may_start_with_a_minus(elsewhere):
    # regression: argparse took "-x'*A*x" for an option and exited 2
    r = run("parse", "-x'*A*x", "--json", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["expr"] == "-x'*A*x"
    r = run("parse", "--", "-x", cwd=elsewhere)
    assert r.returncode == 0 and r.stdout.startswith("−x\n")


@pytest.mark.parametrize("args, first_line", [
    (["parse", "x'*A*"], "matcalc: expected an operand after '*'"),
    (["parse", "ex(x)"], "matcalc: unknown function 'ex'; did you mean 'exp'?"),
    (["parse", "A*x", "--shape", "A=4,3", "--shape", "x=4"],
     "matcalc: A*x: inner dimensions differ: A is 4×3, x is 4×1"),
    (["parse", ""], "matcalc: empty input: type an expression, for example x'*A*x"),
    (["parse", "1e999"], "matcalc: the number 1e999 is too large (over 1.8e308)"),
    (["parse", "x", "--shape", "x"], "matcalc: --shape 'x': expected NAME=VALUE, e.g. x=n"),
    (["parse", "x", "--shape", "x=0"], "matcalc: x: dimension 0 is neither a positive"),
    (["parse", "S", "--assume", "S=orthogonal"], "matcalc: S: unknown assumption 'orthogonal'"),
    (["parse", "x", "--assume", "x=symmetric"], "matcalc: x: 'symmetric' needs a square matrix"),
])
def test_user_errors_exit_1_with_a_message_and_no_traceback(args, first_line, elsewhere):
    r = run(*args, cwd=elsewhere)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.startswith(first_line), r.stderr
    assert "Traceback" not in r.stderr


def test_a_parse_error_shows_where(elsewhere):
    r = run("parse", "x'*A*", cwd=elsewhere)
    assert r.stderr == ("matcalc: expected an operand after '*'\n"
                        "  at line 1, column 6:\n"
                        "    x'*A*\n"
                        "         ^\n")


@pytest.mark.parametrize("args, says", [
    (["-c"], "argument -c: expected one argument"),
    (["-c", "1", "diff", "x", "--wrt", "x"], "-c QUERY and a command do not go together"),
    (["diff", "x", "--wrt", "x", "--json", "--latex"], "not allowed with argument"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["parse"], "the following arguments are required: expr"),
    (["parse", "x", "--no-such-option"], "unrecognized arguments: --no-such-option"),
    (["parse", "x", "y"], "unrecognized arguments: y"),
])
def test_usage_errors_exit_2(args, says, elsewhere):
    r = run(*args, cwd=elsewhere)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert says in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_version_and_help(elsewhere):
    import matcalc
    r = run("--version", cwd=elsewhere)
    assert r.returncode == 0 and r.stdout.strip() == f"matcalc {matcalc.__version__}"
    r = run("parse", "--help", cwd=elsewhere)
    assert r.returncode == 0 and "--shape NAME=DIMS" in r.stdout and "examples:" in r.stdout


# ---------------------------------------------------------------- derivatives (issue 5)

def test_diff_prints_the_answer_its_shape_and_variables(elsewhere):
    r = run("diff", "x'*A*x", "--wrt", "x", cwd=elsewhere)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.splitlines() == ["xᵀ(A + Aᵀ)", "  shape:  1×n",
                                     "  where:  x is n×1, A is n×n", "  text:   x'*(A + A')"]


def test_json_has_the_fields_the_issue_lists(elsewhere):
    for command, derivative in (("diff", "x'*(A + A')"), ("grad", "(A + A')*x"),
                                ("hessian", "A + A'")):
        r = run(command, "x'*A*x", "--wrt", "x", "--json", cwd=elsewhere)
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert set(data) == {"input", "wrt", "derivative", "shape", "unicode", "latex", "steps",
                             "unfinished"}
        assert data["derivative"] == derivative, command
        assert data["unfinished"] == []
        assert data["steps"] and {"rule", "where", "before", "after", "note", "marker"} <= set(
            data["steps"][0])
        # a Hessian's marker (where its second pass starts) is told from the rules (review 9)
        markers = [s["rule"] for s in data["steps"] if s["marker"]]
        assert markers == (["gradient"] if command == "hessian" else []), markers


def test_assumptions_shapes_and_latex(elsewhere):
    r = run("diff", "x'*A*x", "--wrt", "x", "--assume", "A=symmetric", "--latex", cwd=elsewhere)
    assert r.returncode == 0 and r.stdout == "2 x^{\\top} A\n"
    r = run("grad", "b'*x", "--wrt", "x", "--shape", "x=3", cwd=elsewhere)
    assert r.returncode == 0 and "  shape:  3×1" in r.stdout


def test_explain_lists_rules_with_file_and_line(elsewhere):
    r = run("hessian", "x'*A*x", "--wrt", "x", "--explain", cwd=elsewhere)
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    rules = [line for line in lines if line.strip()[:1].isdigit()]
    assert rules and all(".yaml:" in line for line in rules)
    assert f"  rules that fired ({len(rules)}):" in lines      # the count is the numbered
    assert any(line.startswith("     · gradient (end of the first pass)") for line in lines)


def test_check_reports_both_errors_and_a_verdict(elsewhere):
    r = run("diff", "log(det(X))", "--wrt", "X", "--check", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "vs backprop:" in r.stdout and "vs central differences:" in r.stdout
    assert "max abs error" in r.stdout and "max rel error" in r.stdout
    assert "✓ the answer agrees with both" in r.stdout
    r = run("grad", "x'*A*x", "--wrt", "x", "--check", "--json", cwd=elsewhere)
    data = json.loads(r.stdout)
    assert data["check"]["ok"] is True and data["check"]["backprop"]["max_abs"] < 1e-8


@pytest.mark.parametrize("argv", [["diff", "x'*A*x", "--wrt", "x"],
                                  ["hessian", "x'*A*x", "--wrt", "x", "--json"],
                                  ["-c", "A: matrix(n, n) symmetric; d/dx x'*A*x"]])
def test_a_symbolic_query_does_not_import_numpy(argv, elsewhere):
    code = (f"import sys, matcalc.cli as c; c.main({argv!r}); "
            "print('numpy' in sys.modules, 'yaml' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       encoding="utf-8", cwd=elsewhere, timeout=120,
                       env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].split()[0] == "False"      # NumPy stays out


def test_numpy_output_comes_from_the_code_generator(elsewhere):
    r = run("diff", "x'*A*x", "--wrt", "x", "--numpy", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "def f(" in r.stdout and "np." in r.stdout


@pytest.mark.parametrize("args, first_line", [
    (["diff", "x'*A*", "--wrt", "x"], "matcalc: expected an operand after '*'"),
    (["diff", "x'*A*x", "--wrt", "y"], "matcalc: 'y' does not occur in x'*A*x"),
    (["grad", "A*x", "--wrt", "x"], "matcalc: grad needs a scalar expression"),
    (["hessian", "S*x", "--wrt", "S"], "matcalc: hessian needs a scalar expression"),
    (["diff", "x", "--wrt", "x", "--rules", "no-such-file.yaml"],
     "matcalc: no-such-file.yaml: cannot read"),
    (["-c", "d/dx x'*A*"], "matcalc: expected an operand after '*'"),
    (["-c", ":frobnicate"], "matcalc: unknown command ':frobnicate'"),
])
def test_derivative_user_errors_exit_1(args, first_line, elsewhere):
    r = run(*args, cwd=elsewhere)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith(first_line), r.stderr
    assert "Traceback" not in r.stderr


def test_dash_c_uses_the_query_language(elsewhere):
    r = run("-c", "d/dx x'*A*x", cwd=elsewhere)
    assert r.returncode == 0 and r.stdout.startswith("xᵀ(A + Aᵀ)\n  shape:  1×n\n")
    r = run("-c", "A: matrix(n, n) symmetric; grad(x'*A*x, x)", cwd=elsewhere)
    assert r.returncode == 0 and "2Ax" in r.stdout
    r = run("-c", "∂/∂x x'*x", cwd=elsewhere)
    assert r.returncode == 0 and r.stdout.startswith("2xᵀ")


def test_a_script_on_stdin_is_answered_line_by_line(elsewhere):
    script = ("# a comment\n"
              "x: vector(n)\n"
              "d/dx x'*A*\n"                       # an error on line 3 does not stop it
              "d/dx x'*A*x\n"
              ":eval x'*x, x = [1, 2, 3]\n"
              ":quit\n"
              "d/dx never answered\n")
    r = run(stdin=script, cwd=elsewhere)
    assert r.returncode == 1                       # a line failed
    assert "matcalc>" not in r.stdout and "\x1b[" not in r.stdout
    assert r.stdout.splitlines() == ["x: vector (n×1)", "xᵀ(A + Aᵀ)", "  shape:  1×n",
                                     "  where:  x is n×1, A is n×n", "  text:   x'*(A + A')",
                                     "14.0"]
    assert r.stderr.startswith("matcalc: line 3: expected an operand after '*'")
    r = run(stdin="d/dx x'*x\n", cwd=elsewhere)
    assert r.returncode == 0 and r.stderr == ""
    r = run(cwd=elsewhere)                         # no arguments, empty stdin: nothing to do
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""


def test_help_shows_the_repl_and_examples(elsewhere):
    r = run("--help", cwd=elsewhere)
    assert r.returncode == 0
    assert "-c QUERY" in r.stdout and 'matcalc -c "d/dx x\'*A*x"' in r.stdout
    assert "matcalc < queries.txt" in r.stdout


def test_a_script_with_a_byte_that_is_not_utf8(elsewhere):
    # in a UTF-8 locale stdin is strict: reading the bad line raised UnicodeDecodeError and
    # printed a traceback; now that line fails clearly and the next ones are answered
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict")
    r = subprocess.run([sys.executable, "-m", "matcalc"], input=b"x\xff*y\nd/dx x'*x\n",
                       capture_output=True, env=env, cwd=elsewhere, timeout=120)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 1 and "Traceback" not in err
    assert err.startswith("matcalc: line 1: a byte that is not UTF-8 text (0xff); save the "
                          "input as UTF-8\n  at column 2:"), err
    assert r.stdout.decode().startswith("2xᵀ\n")


def test_parse_reads_functions_from_a_rules_file(elsewhere):
    user = os.path.join(os.path.dirname(__file__), "..", "examples", "user_rules.yaml")
    r = run("parse", "softplus(x)", "--rules", user, cwd=elsewhere)
    assert r.returncode == 0 and r.stdout.startswith("softplus(x)\n  shape:  n×1\n"), r.stderr


def test_an_unknown_function_points_at_rules_files(elsewhere):
    r = run("diff", "sum(softplus(x))", "--wrt", "x", cwd=elsewhere)
    first = r.stderr.splitlines()[0]
    assert r.returncode == 1 and first.startswith("matcalc: unknown function 'softplus'")
    assert first.endswith("(functions of your own come from --rules FILE)")


@pytest.mark.parametrize("wrt", ["2", "x y", "x'"])
def test_wrt_must_be_a_name(wrt, elsewhere):
    r = run("diff", "x'*x", "--wrt", wrt, cwd=elsewhere)
    assert r.returncode == 1
    assert r.stderr == f"matcalc: --wrt {wrt!r}: expected the name of a variable, e.g. --wrt x\n"


def test_explain_has_a_header_and_lists_both_passes_of_a_hessian(elsewhere):
    r = run("diff", "log(det(X))", "--wrt", "X", "--explain", cwd=elsewhere)
    assert r.stdout.splitlines()[4] == "  rules that fired (8):"          # as in the REPL
    r = run("hessian", "x'*A*x", "--wrt", "x", "--explain", "--check", cwd=elsewhere)
    lines = r.stdout.splitlines()
    assert lines[4] == "  rules that fired (7):"              # the gradient step is no rule
    # the gradient's rules, the gradient itself, then its derivative's rules
    assert "     · gradient (end of the first pass): x'*A*x  →  (A + A')*x" in lines, lines
    assert any(line.startswith("    6. product-rule-right") for line in lines), lines
    assert not any(line.startswith("    8. ") for line in lines), lines   # 7 rules, 7 numbers
    assert any(line.startswith("check hessian(x'*A*x, x): ") for line in lines), lines


def test_a_reader_that_goes_away_is_no_error(elsewhere):
    # `matcalc ... | head -1`: the pipe closes while matcalc still writes; that printed
    # "internal error (a bug in matcalc ...): BrokenPipeError" (found trying the README)
    queries = "\n".join(["d/dx x'*A*x"] * 2000) + "\n"
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    p = subprocess.Popen([sys.executable, "-m", "matcalc"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=elsewhere, env=env)
    p.stdin.write(queries.encode())
    p.stdin.close()
    assert p.stdout.readline().decode().startswith("xᵀ(A + Aᵀ)")
    p.stdout.close()                              # the reader goes away
    assert p.wait(timeout=120) == 141
    assert p.stderr.read().decode() == ""


# ---- a new user's first tries (in-process: the parsing of argv, not the start-up)

def _main(capsys, *argv):
    from matcalc.cli import main
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_one_argument_that_is_a_query_runs_as_with_dash_c(capsys):
    code, out, err = _main(capsys, "d/dx x'*A*x")
    assert code == 0, err
    assert out.splitlines()[0] == "xᵀ(A + Aᵀ)"
    code, out, _ = _main(capsys, "hessian(x'*A*x, x)")
    assert code == 0 and out.splitlines()[0] == "A + Aᵀ"


def test_a_mistyped_command_is_still_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        _main(capsys, "dif")
    assert exc.value.code == 2
    assert "invalid choice: 'dif'" in capsys.readouterr().err


def test_wrt_may_be_left_out_when_there_is_one_variable(capsys):
    code, out, err = _main(capsys, "diff", "norm2(x)^2")
    assert code == 0, err
    assert "  text:   2*x'" in out.splitlines()
    code, out, err = _main(capsys, "grad", "x'*A*x")
    assert code == 1 and out == ""
    assert err == ("matcalc: x'*A*x has the variables x, A: say which one to differentiate "
                   "by, e.g. --wrt x\n")


def test_a_file_as_the_only_argument_says_how_to_answer_it(capsys, tmp_path):
    queries = tmp_path / "queries.txt"
    queries.write_text("d/dx x'*x\n")
    code, out, err = _main(capsys, str(queries))
    assert code == 2 and out == ""
    assert err == (f"matcalc: {queries} is a file: to answer its queries line by line, write "
                   f"matcalc < {queries}\n")


def test_a_long_expression_without_wrt_is_named_briefly(capsys):
    text = " + ".join(f"x'*A{i}*x" for i in range(100))
    code, out, err = _main(capsys, "diff", text)
    assert code == 1 and out == ""
    assert len(err) < 600, err
    assert "characters in all" in err and "A10 and 89 more: say which one" in err


def test_an_answer_whose_simplification_stopped_says_so(capsys, cycling_rules):
    """A user's rule that the built-in ones undo is a cycle: the answer is right, and the
    output says it may not be in its simplest form (it said nothing)."""
    from conftest import CYCLE_MESSAGE
    code, out, err = _main(capsys, "diff", "sum(cos(x))", "--rules", str(cycling_rules))
    assert code == 0, err
    assert f"  note:   not fully simplified: {CYCLE_MESSAGE}" in out.splitlines()
    code, out, err = _main(capsys, "diff", "sum(cos(x))")
    assert code == 0 and "note:" not in out


def test_grad_lists_the_derivation_steps_as_diff_does(capsys):
    # the second review: grad's transpose added a step to --json and --explain that stopped
    # short of the answer ((x'*(A + A'))' -> (A + A')'*x)
    steps = {}
    for command in ("diff", "grad"):
        code, out, err = _main(capsys, command, "x'*A*x", "--wrt", "x", "--json")
        assert code == 0, err
        steps[command] = json.loads(out)["steps"]
    assert steps["grad"] == steps["diff"] and len(steps["diff"]) == 7
