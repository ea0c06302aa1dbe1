"""Bad input: every failure is a MatcalcError with a message a person can act on.

The table of cases is tests/cases/bad_input.yaml (run by :func:`test_bad_input`); this module
adds what a table cannot say: size limits, 10,000-deep nesting under a low recursion limit,
and a fuzz property over random text.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

import matcalc
from matcalc import MatcalcError, ParseError, ShapeError, parse
from matcalc.parse import MAX_LENGTH

CASES_FILE = Path(__file__).parent / "cases" / "bad_input.yaml"
CASES = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
CASE_KEYS = {"input", "shapes", "assume", "error", "message", "line", "column"}


def _shapes(raw):
    if raw is None:
        return None
    return {name: tuple(dims) if isinstance(dims, list) else dims for name, dims in raw.items()}


def check_position(message: str, text: str, line: int, column: int) -> None:
    """The message says where: the header, the input line quoted, a caret under the column."""
    lines = message.split("\n")
    header = f"  at line {line}, column {column}:"
    assert header in lines, message
    at = lines.index(header)
    source = text.split("\n")[line - 1]
    assert lines[at + 1] == "    " + source, message
    assert lines[at + 2] == "    " + " " * (column - 1) + "^", message


def test_the_case_file_is_well_formed():
    assert len(CASES) >= 30
    for case in CASES:
        assert set(case) <= CASE_KEYS and {"input", "error", "message"} <= set(case), case
        assert isinstance(getattr(matcalc, case["error"]), type), case["error"]
        assert isinstance(case["message"], list) and case["message"], case
    inputs = [(c["input"], str(c.get("shapes")), str(c.get("assume"))) for c in CASES]
    assert len(inputs) == len(set(inputs)), "duplicate cases"


@pytest.mark.parametrize("case", CASES, ids=[repr(c["input"])[:40] for c in CASES])
def test_bad_input(case):
    text = case["input"]
    with pytest.raises(MatcalcError) as info:
        parse(text, shapes=_shapes(case.get("shapes")), assume=case.get("assume"))
    err = info.value
    assert type(err).__name__ == case["error"], f"{type(err).__name__}: {err}"
    message = str(err)
    for part in case["message"]:
        assert part in message, f"{part!r} not in:\n{message}"
    assert "Traceback" not in message and "Var(" not in message and "Rigid(" not in message
    assert err.line == case["line"] and err.column == case["column"], (err.line, err.column)
    if case["line"] is not None:
        check_position(message, text, case["line"], case["column"])


def test_the_readme_shape_error_reads_as_documented():
    with pytest.raises(ShapeError) as info:
        parse("A*x", shapes={"A": (4, 3), "x": (4,)})
    assert str(info.value).startswith("A*x: inner dimensions differ: A is 4×3, x is 4×1\n")
    assert (info.value.line, info.value.column) == (1, 2)


def test_error_classes_share_one_base():
    for cls in (ParseError, ShapeError, matcalc.UnknownFunctionError, matcalc.RuleFileError,
                matcalc.EvaluationError):
        assert issubclass(cls, MatcalcError)
    assert issubclass(matcalc.UnknownFunctionError, ParseError)
    assert issubclass(ParseError, ValueError)          # `except ValueError` keeps working


@pytest.mark.parametrize("value", [5, None, b"x'*A*x", ["x"]])
def test_the_input_must_be_text(value):
    with pytest.raises(ParseError, match="expected the expression as text"):
        parse(value)


# ---------------------------------------------------------------- size

def test_input_over_the_limit_is_refused_before_parsing():
    text = "x" * (MAX_LENGTH + 1)
    start = time.perf_counter()
    with pytest.raises(ParseError) as info:
        parse(text)
    assert time.perf_counter() - start < 1.0
    assert "1,000,001 characters long; the limit is 1,000,000" in str(info.value)


def test_a_long_valid_input_parses():
    terms = 15_000
    text = " + ".join(f"x'*A*x*{i}" for i in range(terms))
    assert 200_000 <= len(text) <= MAX_LENGTH
    e = parse(text)
    assert e.op == "add" and len(e.args) == terms and e.shape == ()
    assert e.node_count() < terms * 3                  # x, A and x' are shared by every term


def test_a_long_line_is_shown_as_a_window_around_the_caret():
    text = "x + " * 1000 + "* y"
    with pytest.raises(ParseError) as info:
        parse(text)
    lines = str(info.value).split("\n")
    source, caret = lines[-2], lines[-1]
    assert len(source) < 120 and source.lstrip().startswith("…")
    assert source[caret.index("^")] == "*"             # the caret is under the bad token
    assert info.value.column == 4001


# ---------------------------------------------------------------- depth

DEPTH = 10_000
DEEP = {
    "parentheses": "(" * DEPTH + "x" + ")" * DEPTH,
    "unary minus": "-" * DEPTH + "x",
    "functions": "exp(" * DEPTH + "x" + ")" * DEPTH,
    "transposes": "x" + "'" * DEPTH,
    "powers": "a^" * DEPTH + "a",
    "negative powers": "a^-" * DEPTH + "a",
    "matrix functions": "tr(" + "inv(" * DEPTH + "A" + ")" * DEPTH + ")",
    "products in parentheses": "A*(" * DEPTH + "x" + ")" * DEPTH,
    "norm bars": "‖" * DEPTH + "x" + "‖" * DEPTH,
    "sums": "(" * DEPTH + "x" + " + y)" * DEPTH,
}


def test_the_guard_catches_a_recursive_walk(shallow_stack):
    def depth(n):
        return 0 if n == 0 else 1 + depth(n - 1)
    with shallow_stack():
        with pytest.raises(RecursionError):
            depth(1000)
    assert depth(500) == 500                         # and the limit is restored afterwards


@pytest.mark.parametrize("kind", list(DEEP))
def test_deep_nesting_never_hits_the_recursion_limit(kind, shallow_stack):
    text = DEEP[kind]
    with shallow_stack():
        try:
            e = parse(text)
        except MatcalcError as err:      # a clear error is allowed, RecursionError is not
            assert kind == "norm bars", err
            assert err.line == 1 and err.column is not None
            return
        printed = str(e)
        assert len(printed) >= DEPTH or kind == "parentheses"
        e.unicode()
        hash(e)
        e.node_count()
        again = parse(printed)
    assert again is e


@pytest.mark.parametrize("text", ["-" * 3000 + "x", "exp(" * 3000 + "x" + ")" * 3000,
                                  "x" + "'" * 3000, "a^" * 3000 + "a"])
def test_deep_latex_prints_without_recursion(text, shallow_stack):
    # 3,000 deep rather than 10,000: LaTeX strings grow quadratically with nesting depth
    e = parse(text)
    with shallow_stack():
        latex = e.latex()
    assert latex.count("\\left") == latex.count("\\right") and latex.count("{") == latex.count("}")


@pytest.mark.parametrize("text", ["x + (" * 5000 + "x" + ")" * 5000,
                                  "A*(" * 5000 + "x" + ")" * 5000,
                                  "x.*(" * 5000 + "x" + ")" * 5000])
def test_right_nesting_is_linear_in_memory(text):
    # regression: each level built its own flattened copy of the rest, so 5,000 levels took
    # 150 MB and 4 s, and an input under the length limit could exhaust memory
    import tracemalloc
    tracemalloc.start()
    try:
        e = parse(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(e.args) == 5001
    assert peak < 60_000_000, f"{peak / 1e6:.0f} MB"


def test_deep_expressions_have_the_right_structure():
    e = parse(DEEP["unary minus"])
    depth = 0
    while e.op == "neg":
        depth, e = depth + 1, e.args[0]
    assert depth == DEPTH and e.op == "var"
    e = parse(DEEP["parentheses"])
    assert e is parse("x")


def test_deep_errors_are_clear(shallow_stack):
    text = "(" * DEPTH + "x" + ")" * (DEPTH - 1)
    with shallow_stack():
        with pytest.raises(ParseError) as info:
            parse(text)
    assert "missing ')'" in str(info.value)
    text = "exp(" * DEPTH + "x" + ")" * DEPTH + "*"
    with shallow_stack():
        with pytest.raises(ParseError, match="expected an operand after '\\*'"):
            parse(text)
    text = "tr(" * 3 + "exp(" * DEPTH + "x" + ")" * DEPTH + ")))"
    with shallow_stack():
        with pytest.raises(ShapeError) as info:
            parse(text)
    assert str(info.value).startswith("tr(exp(exp(")


# ---------------------------------------------------------------- fuzz

ALPHABET = "xyAbc2.5e()'ᵀ*.+-/^<>,‖⊙⊘− \n_[|=é日0"


@given(st.text(alphabet=ALPHABET, max_size=40))
@example("x'*A*")
@example("(((")
@example("‖‖")
@example("<<x, y>, z>")
@example("e")
@example("1e999*x")
@example("tr(kron(eye, x))")
def test_any_text_parses_or_fails_with_a_matcalc_error(text):
    try:
        e = parse(text)
    except MatcalcError as err:
        message = str(err)
        assert message and "Traceback" not in message
        if err.line is not None:
            assert 1 <= err.line <= text.count("\n") + 1
            assert 1 <= err.column <= len(text.split("\n")[err.line - 1]) + 1
            check_position(message, text, err.line, err.column)
        return
    declared = {name: v.shape for name, v in e.variables().items()}
    assert parse(str(e), shapes=declared) is e                 # prints and re-reads
