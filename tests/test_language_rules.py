"""The language's rule files (rules/language/*.yaml): what they define, how a user extends
them, and how a broken file is reported (tests/cases/bad_rules/, one file per mistake, with
the expected messages in tests/cases/bad_rules/expected.yaml)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from matcalc import MatcalcError, RuleFileError, parse
from matcalc.language import GRAMMAR_OPERATORS, builtin_language, load_language
from matcalc.resources import data_dir, grammar_path, rule_files, rules_dir

BAD = Path(__file__).parent / "cases" / "bad_rules"
EXPECTED = yaml.safe_load((BAD / "expected.yaml").read_text(encoding="utf-8"))
BAD_FILES = sorted(p.name for p in BAD.glob("*.yaml") if p.name != "expected.yaml")

FUNCTIONS = ["exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "abs", "sign", "relu",
             "sigmoid", "sum", "tr", "det", "logdet", "inv", "norm1", "norm2", "diag", "dot",
             "kron", "vec", "eye", "vector", "matrix"]


# ---------------------------------------------------------------- broken files

def test_every_bad_file_has_expectations_and_back():
    assert BAD_FILES == sorted(EXPECTED)
    assert len(BAD_FILES) >= 7


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_rule_file(name):
    with pytest.raises(RuleFileError) as info:
        load_language(BAD / name)
    message = str(info.value)
    # names the file and the line, relative to the repository when run from a checkout
    assert re.match(rf"^tests/cases/bad_rules/{re.escape(name)}:\d+[ :]", message), message
    for part in EXPECTED[name]:
        assert part in message, f"{part!r} not in {message!r}"
    if " rule '" in message:
        assert re.search(r":\d+ rule '[^']*':", message), message


def test_a_missing_file_is_a_rule_file_error(tmp_path):
    with pytest.raises(RuleFileError, match="cannot read"):
        load_language(tmp_path / "nope.yaml")


def test_an_empty_file_defines_nothing(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n", encoding="utf-8")
    assert load_language(path).names() == builtin_language().names()


# ---------------------------------------------------------------- user functions

def test_a_user_file_extends_the_language(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "functions:\n"
        "  - name: softplus\n"
        "    signature: elementwise\n"
        "    numeric: softplus\n"
        "  - name: outer\n"
        "    signature: \"(m),(n)->(m,n)\"\n"
        "    numeric: outer\n"
        "  - name: zeros\n"
        "    signature: \"->(n)\"\n"
        "    params: [\"size?\"]\n"
        "    numeric: zeros\n", encoding="utf-8")
    lang = load_language(path)
    assert {"softplus", "outer", "zeros"} <= set(lang.names())
    assert "softplus" not in builtin_language().names()       # the built-in table is untouched
    e = parse("softplus(A*x)", language=lang)
    assert e.op == "softplus" and e.shape == ("m",)
    assert str(e) == "softplus(A*x)"
    assert parse(str(e), language=lang) is e
    assert e.latex() == r"\operatorname{softplus}\left(A x\right)"
    o = parse("outer(x, y)", language=lang)
    assert o.shape == ("n", "m")
    assert parse("zeros(3) + x", language=lang).shape == (3,)
    assert parse("x + zeros", language=lang).shape == ("n",)
    with pytest.raises(MatcalcError, match="unknown function 'softplus'"):
        parse("softplus(x)")


def test_a_user_function_by_definition(tmp_path):
    path = tmp_path / "defined.yaml"
    path.write_text(
        "functions:\n"
        "  - name: logsumexp\n"
        "    signature: \"(n)->()\"\n"
        "    args: [x]\n"
        "    definition: \"log(sum(exp(x)))\"\n", encoding="utf-8")
    lang = load_language(path)
    e = parse("logsumexp(A*x)", language=lang)
    assert e.op == "logsumexp" and e.shape == ()
    with pytest.raises(MatcalcError, match="logsumexp needs a vector"):
        parse("logsumexp(A)", language=lang)


def test_a_declared_involution_is_never_built_twice_and_is_proven(tmp_path):
    """transpose is declared an involution: the engine's builder returns a for (a')'; a
    user's own involution works the same, and check-rules proves the claim."""
    import matcalc
    from matcalc.build import build
    from matcalc.checking import check_rules
    x = parse("x")
    assert build("transpose", (build("transpose", (x,)),)) is x
    assert str(parse("x''")) == "x''"                   # what a user typed is kept
    path = tmp_path / "flip.yaml"
    path.write_text(
        "functions:\n"
        "  - name: flip\n"
        "    signature: elementwise\n"
        "    definition: \"-u\"\n"
        "    involution: true\n"
        "elementwise:\n"
        "  - name: flip-slope\n"
        "    function: flip\n"
        "    derivative: \"-1\"\n", encoding="utf-8")
    rules = matcalc.load_rules(path)
    lang = rules.language
    assert "flip" in lang.involutions and "transpose" in lang.involutions
    once = build("flip", (x,), lang=lang)
    assert once.op == "flip" and build("flip", (once,), lang=lang) is x
    count, failures = check_rules(rules, {str(path)})
    assert count == 2 and not failures
    # the numbers agree with what the builder assumes: d/dx sum(flip(flip(x))) = 1'
    assert str(matcalc.diff("sum(flip(flip(x)))", "x", rules=rules)) == "vector(1)'"


def test_a_user_identity_may_build_a_user_function(tmp_path):
    """An identity whose result uses a function the user's file defines is built with the
    rule set's language.  Before, the result was built with the
    built-in language, failed as an unknown operator, and the identity was skipped without a
    word."""
    import matcalc
    from matcalc.checking import check_rules
    path = tmp_path / "softplus.yaml"
    path.write_text(
        "functions:\n"
        "  - name: softplus\n"
        "    signature: elementwise\n"
        "    definition: \"log(1 + exp(u))\"\n"
        "elementwise:\n"
        "  - name: softplus\n"
        "    function: softplus\n"
        "    derivative: \"sigmoid(u)\"\n"
        "identities:\n"
        "  - name: softplus-by-definition\n"
        "    from: \"log(exp(u) + vector(1))\"\n"
        "    to: \"softplus(u)\"\n", encoding="utf-8")
    rules = matcalc.load_rules(path)
    answer = matcalc.diff("x.*log(vector(1) + exp(x))", "x", rules=rules)
    assert str(answer) == "diag(softplus(x) + x.*sigmoid(x))"
    assert "softplus-by-definition" in str(matcalc.explain("x.*log(vector(1) + exp(x))", "x",
                                                           rules=rules))
    assert str(matcalc.diff("x.*log(vector(1) + exp(x))", "x")) == \
        "diag(log(exp(x) + vector(1)) + x.*sigmoid(x))"     # the built-in set is unchanged
    count, failures = check_rules(rules, {str(path)})
    assert count == 2 and not failures


def test_declared_units_are_never_built_and_are_proven():
    """rules/language declares 1 and eye units of the product and the ones fills units of
    the entrywise product: the builder drops them where the rest keeps the shape (c*eye stays),
    and check-rules proves each declaration, so a wrong one is caught."""
    import dataclasses

    import matcalc
    import numpy as np
    from matcalc.build import build
    from matcalc.checking import check_unit
    lang = builtin_language()
    A, x, c = parse("A"), parse("x"), parse("c")
    eye = build("eye", (), None, lang, shape=(A.shape[1], A.shape[1]))
    assert build("mul", (A, eye), lang=lang) is A
    scaled = build("mul", (c, eye), lang=lang)
    assert scaled.op == "mul" and scaled.args == (c, eye)          # c*I is not c
    assert build("mul", (eye, eye), lang=lang) is eye
    one = matcalc.parse("1")
    assert build("mul", (one, A), lang=lang) is A and build("mul", (c, one), lang=lang) is c
    assert build("mul", (one, eye), lang=lang) is eye              # units only: the one shaped
    assert [s.after for s in matcalc.explain("tr(X'*A*X)", "X").steps][0].op == "eye"
    assert build("neg", (one,), lang=lang).value == -1.0              # the number -1
    ones = build("vector", (), (1.0,), lang, shape=x.shape)
    assert build("hadamard", (ones, x), lang=lang) is x
    twos = build("vector", (), (2.0,), lang, shape=x.shape)
    assert build("hadamard", (twos, x), lang=lang).args == (twos, x)
    assert str(parse("A*eye")) == "A*eye"                           # what a user typed stays
    assert [s.rule for s in matcalc.explain("tr(A*X)", "X").steps] == [
        "trace", "product-rule-right"]
    rng = np.random.default_rng(0)
    for name in ("mul", "hadamard"):
        assert check_unit(lang.get(name), lang, rng) is None
    wrong = dataclasses.replace(lang.get("hadamard"), unit=(("matrix", (2.0,)),))
    assert "differs from A" in check_unit(wrong, lang, rng).message
    misfit = dataclasses.replace(lang.get("hadamard"), unit=(("eye", None),))
    assert check_unit(misfit, lang, rng) is not None                # eye .* A is not A


# ---------------------------------------------------------------- the built-in table

def test_the_built_in_language_has_every_function_of_the_issue():
    lang = builtin_language()
    assert set(FUNCTIONS) <= set(lang.names())
    for op in GRAMMAR_OPERATORS:
        assert lang.get(op) is not None
        assert op not in lang.names()                 # operators are not callable by name


def test_every_grammar_alias_is_defined_in_rules():
    """The grammar names the nodes; rules/language must say what each node is."""
    aliases = set(re.findall(r"->\s*(\w+)", grammar_path().read_text(encoding="utf-8")))
    syntax_only = {"number", "name", "call", "paren", "norm"}   # builder nodes, not operators
    operators = aliases - syntax_only - {"sub"}                 # a - b is add(a, neg b)
    assert operators == set(GRAMMAR_OPERATORS)


@pytest.mark.parametrize("path", rule_files("language"), ids=lambda p: p.name)
def test_each_language_file_opens_with_a_header(path):
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith(f"# rules/language/{path.name}")
    assert "What this covers" in text.split("functions:")[0]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_is_documented_and_evaluable(name):
    spec = builtin_language().get(name)
    assert spec.doc and spec.numeric
    assert re.match(r"rules/language/\d\d-[a-z-]+\.yaml:\d+$", spec.where)


# ---------------------------------------------------------------- resources

def test_resources_find_the_checkout_folders():
    assert grammar_path().is_file() and grammar_path().name == "matcalc.lark"
    assert (rules_dir() / "language").is_dir()
    files = rule_files("language")
    assert [p.name for p in files] == sorted(p.name for p in files)
    assert [p.name for p in files][:3] == ["00-operators.yaml", "10-elementwise.yaml",
                                           "20-matrix.yaml"]


def test_resources_say_what_is_missing():
    with pytest.raises(MatcalcError, match="installed without its no-such-folder/ folder"):
        data_dir("no-such-folder")
