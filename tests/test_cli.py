"""The command line, run as a user runs it: ``python -m matcalc parse ...`` in a subprocess.

Exit codes: 0 an answer, 1 a user error (message on stderr, never a traceback), 2 usage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(*args, cwd=None):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "matcalc", *args], capture_output=True,
                          text=True, encoding="utf-8", env=env, cwd=cwd, timeout=120)


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
    ([], "usage: matcalc"),
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
