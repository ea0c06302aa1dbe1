"""matcalc.parse and matcalc.expr: the language's syntax, precedence, and the Expr DAG.

Assertions are on the structure of the Expr (op, args, value, shape), not only on strings.
Shapes and kinds have their own module (test_shapes.py), printing too (test_printing.py), and
inputs that must fail live in tests/cases/bad_input.yaml (test_bad_input.py).
"""

from __future__ import annotations

import pickle

import pytest

import matcalc
from matcalc import Expr, parse
from matcalc.expr import const, make, var


def V(name):
    """How :func:`tree` shows the variable ``name``."""
    return ("var", name)


def tree(e: Expr):
    """A nested tuple view of an Expr: ('op', children...) / ('var', name) / ('const', value).

    Iterative, so it is safe on the deep trees the other tests build."""
    out: dict[int, object] = {}
    for node in e.walk():
        if node.op == "var":
            out[id(node)] = ("var", node.value)
        elif node.op == "const":
            out[id(node)] = ("const", node.value)
        elif not node.args:
            out[id(node)] = (node.op, node.value) if node.value else (node.op,)
        else:
            out[id(node)] = (node.op, *(out[id(a)] for a in node.args))
    return out[id(e)]


# ---------------------------------------------------------------- names and numbers

@pytest.mark.parametrize("name", ["x", "x2", "x_1", "x_old_2", "Ab_c3", "A1", "α", "θ_2", "_t"])
def test_names_are_letters_digits_underscores(name):
    e = parse(name)
    assert e.op == "var" and e.value == name and e.args == ()


@pytest.mark.parametrize("text, value", [
    ("2", 2.0), ("0.5", 0.5), ("1e-3", 0.001), ("1E3", 1000.0), ("2.5e+2", 250.0),
    (".5", 0.5), ("007", 7.0), ("0", 0.0),
])
def test_numbers(text, value):
    e = parse(text)
    assert e.op == "const" and e.value == value and e.shape == ()


def test_negative_literal_folds_to_a_constant():
    assert tree(parse("-2")) == ("const", -2.0)
    assert tree(parse("a - 2")) == ("add", V("a"), ("const", -2.0))


def test_whitespace_and_newlines_are_ignored():
    assert parse(" x '\n *\tA\r\n* x ") is parse("x'*A*x")


def test_parentheses_make_no_node():
    assert parse("((x))") is parse("x")
    assert parse("(x')*(A)*(x)") is parse("x'*A*x")


# ---------------------------------------------------------------- operators

@pytest.mark.parametrize("text, op", [
    ("x'", "transpose"), ("xᵀ", "transpose"),
    ("a*b", "mul"), ("a·b", "mul"),
    ("x.*y", "hadamard"), ("x ⊙ y", "hadamard"),
    ("x./y", "ediv"), ("x ⊘ y", "ediv"),
    ("x.^2", "epow"), ("a^b", "pow"),
    ("a + b", "add"), ("a - b", "add"), ("a − b", "add"),
    ("-a", "neg"), ("−a", "neg"),
    ("x/c", "div"),
    ("<u, v>", "inner"), ("⟨u, v⟩", "inner"),
    ("‖x‖", "norm2"),
])
def test_each_operator_builds_its_node(text, op):
    assert parse(text).op == op


@pytest.mark.parametrize("ascii_text, unicode_text", [
    ("x'*A*x", "xᵀ·A·x"),
    ("x.*y", "x ⊙ y"),
    ("x./y", "x ⊘ y"),
    ("a - b", "a − b"),
    ("<u, v>", "⟨u, v⟩"),
    ("norm2(A*x - b)", "‖A*x − b‖"),
])
def test_unicode_spellings_are_the_same_expr(ascii_text, unicode_text):
    assert parse(ascii_text) is parse(unicode_text)


def test_subtraction_is_addition_of_a_negation():
    e = parse("a - b")
    assert tree(e) == ("add", V("a"), ("neg", V("b")))


def test_division_by_a_scalar():
    e = parse("x/c")
    assert tree(e) == ("div", V("x"), V("c")) and e.shape == ("n",)


def test_scalar_powers():
    assert tree(parse("a^2")) == ("pow", V("a"), ("const", 2.0))
    assert tree(parse("a^-1")) == ("pow", V("a"), ("const", -1.0))      # a scalar stays pow
    assert tree(parse("a^0.5")) == ("pow", V("a"), ("const", 0.5))
    e = parse("norm2(x)^2")
    assert tree(e) == ("pow", ("norm2", V("x")), ("const", 2.0)) and e.shape == ()


@pytest.mark.parametrize("text", ["X^-1", "X^(-1)", "X ^ - 1", "X^−1"])
def test_matrix_to_the_minus_one_is_inv(text):
    e = parse(text)
    assert e is parse("inv(X)")
    assert tree(e) == ("inv", V("X")) and e.shape == ("n", "n")


def test_inner_product_and_norm_bars():
    e = parse("<u, v>")
    assert tree(e) == ("inner", V("u"), V("v")) and e.shape == ()
    assert parse("‖x‖") is parse("norm2(x)")
    assert parse("‖A*x - b‖^2") is parse("norm2(A*x - b)^2")


def test_transposes_stack_without_simplifying():
    e = parse("x''")
    assert tree(e) == ("transpose", ("transpose", V("x")))
    assert e.shape == ("n",)
    assert parse("xᵀ'") is e


# ---------------------------------------------------------------- precedence

def test_unary_minus_binds_looser_than_the_product():
    e = parse("-x'*A*x")
    assert e.op == "neg"
    (arg,) = e.args
    assert arg.op == "mul"
    assert tree(arg) == ("mul", ("transpose", V("x")), V("A"), V("x"))
    assert e.shape == ()


def test_sum_is_on_top():
    e = parse("x'*A*x + b'*x")
    assert e.op == "add"
    assert [a.op for a in e.args] == ["mul", "mul"]
    assert tree(e.args[1]) == ("mul", ("transpose", V("b")), V("x"))


def test_power_binds_tighter_than_product():
    assert tree(parse("a*b^2")) == ("mul", V("a"), ("pow", V("b"), ("const", 2.0)))


def test_hadamard_is_on_the_product_level_left_to_right():
    e = parse("A*x.*y")
    assert tree(e) == ("hadamard", ("mul", V("A"), V("x")), V("y"))
    assert tree(parse("x.*y*c")) == ("mul", ("hadamard", V("x"), V("y")), V("c"))


@pytest.mark.parametrize("text, expected", [
    ("a^b^c", ("pow", V("a"), ("pow", V("b"), V("c")))),                 # right-assoc
    ("(a^b)^c", ("pow", ("pow", V("a"), V("b")), V("c"))),
    ("a/b/c", ("div", ("div", V("a"), V("b")), V("c"))),                 # left-assoc
    ("a/(b/c)", ("div", V("a"), ("div", V("b"), V("c")))),
    ("a*b/c", ("div", ("mul", V("a"), V("b")), V("c"))),
    ("a/b*c", ("mul", ("div", V("a"), V("b")), V("c"))),
    ("-a^2", ("neg", ("pow", V("a"), ("const", 2.0)))),
    ("(-a)^2", ("pow", ("neg", V("a")), ("const", 2.0))),
    ("a*-b", ("mul", V("a"), ("neg", V("b")))),
    ("a^-b", ("pow", V("a"), ("neg", V("b")))),
    ("-a + b", ("add", ("neg", V("a")), V("b"))),
    ("a - b - c", ("add", V("a"), ("neg", V("b")), ("neg", V("c")))),
    ("a - (b - c)", ("add", V("a"), ("neg", ("add", V("b"), ("neg", V("c")))))),
    ("--a", ("neg", ("neg", V("a")))),
    ("a + b*c", ("add", V("a"), ("mul", V("b"), V("c")))),
    ("(a + b)*c", ("mul", ("add", V("a"), V("b")), V("c"))),
    ("a.*b.^c", ("hadamard", V("a"), ("epow", V("b"), V("c")))),
    ("x'*A*x.*c", ("hadamard", ("mul", ("transpose", V("x")), V("A"), V("x")), V("c"))),
])
def test_precedence_and_associativity(text, expected):
    assert tree(parse(text)) == expected


def test_transpose_binds_tightest():
    assert tree(parse("a*b'")) == ("mul", V("a"), ("transpose", V("b")))
    assert tree(parse("-x'")) == ("neg", ("transpose", V("x")))
    assert tree(parse("(A*x)'")) == ("transpose", ("mul", V("A"), V("x")))


def test_associative_operators_flatten():
    assert parse("a + (b + c)") is parse("a + b + c")
    assert parse("A*(B*C)") is parse("(A*B)*C")
    assert tree(parse("A*B*C")) == ("mul", V("A"), V("B"), V("C"))
    assert parse("x.*(y.*z)") is parse("x.*y.*z")


def test_a_product_is_never_flattened_into_one_that_does_not_type():
    # A*(x'*y) scales A by a scalar; spliced flat it would read (A*x')*y, which is ill-typed
    # (a regression: str() of it used to be "A*x'*y", which does not parse).
    e = parse("A*(x'*y)")
    assert e.kind == "matrix"
    assert tree(e) == ("mul", V("A"), ("mul", ("transpose", V("x")), V("y")))
    assert str(e) == "A*(x'*y)"
    f = parse("x'*(y'*z)")
    assert f.shape == (1, "n") and f.args[1].op == "mul"
    # where splicing types, it still happens: one canonical node for x'*A*x
    assert parse("x'*(A*x)") is parse("x'*A*x")
    assert parse("c*(x'*y)") is parse("c*x'*y")


# ---------------------------------------------------------------- functions

FUNCTION_CASES = [
    # text, op, shape (with the default kinds: a-g scalars, h-z vectors, A-Z matrices)
    ("exp(x)", "exp", ("n",)), ("log(x)", "log", ("n",)), ("sin(A)", "sin", ("n", "m")),
    ("cos(a)", "cos", ()), ("tan(x)", "tan", ("n",)), ("tanh(x)", "tanh", ("n",)),
    ("sqrt(x)", "sqrt", ("n",)), ("abs(x)", "abs", ("n",)), ("sign(x)", "sign", ("n",)),
    ("relu(x)", "relu", ("n",)), ("sigmoid(x)", "sigmoid", ("n",)),
    ("sum(x)", "sum", ()), ("sum(A)", "sum", ()), ("tr(A)", "tr", ()), ("det(A)", "det", ()),
    ("logdet(A)", "logdet", ()), ("inv(A)", "inv", ("n", "n")),
    ("norm1(x)", "norm1", ()), ("norm2(x)", "norm2", ()), ("norm2(A)", "norm2", ()),
    ("diag(x)", "diag", ("n", "n")), ("diag(A)", "diag", ("n",)),
    ("dot(x, y)", "dot", ()), ("kron(x, y)", "kron", ("m*n",)),
    ("kron(A, B)", "kron", ("k*n", "m*p")), ("vec(A)", "vec", ("m*n",)), ("vec(x)", "vec", ("n",)),
    ("eye", "eye", ("n", "n")), ("eye(3)", "eye", (3, 3)),
    ("vector(2)", "vector", ("n",)), ("matrix(0.5)", "matrix", ("n", "m")),
]


@pytest.mark.parametrize("text, op, shape", FUNCTION_CASES)
def test_function_calls(text, op, shape):
    e = parse(text)
    assert e.op == op
    assert e.shape == shape


def test_function_arguments_are_the_operands():
    e = parse("dot(x, A*y)")
    assert tree(e) == ("dot", V("x"), ("mul", V("A"), V("y")))
    assert e.variables()["A"].shape == ("n", "m")


def test_literal_parameters_are_values_not_operands():
    # a size is part of the shape: eye(3) is the node an eye typed 3×3 is, and prints back
    assert parse("eye(3)").args == () and parse("eye(3)").shape == (3, 3)
    assert parse("eye(3)") is parse("A + eye", shapes={"A": (3, 3)}).args[1]
    assert str(parse("x'*eye(3)*x")) == "x'*eye(3)*x"
    assert parse("eye").value is None
    v = parse("vector(-2)")
    assert v.args == () and v.value == (-2.0,)
    m = parse("matrix(0.5)")
    assert m.value == (0.5,)


def test_a_bare_constant_name_is_a_variable_when_declared():
    e = parse("eye + A")
    assert e.args[0].op == "eye"
    e = parse("eye*x", shapes={"eye": ()})
    assert e.args[0].op == "var" and e.args[0].value == "eye"


def test_a_size_written_with_dimension_names_is_the_inferred_identity():
    """eye(n) is eye whose size is the dimension n: the same node as a bare eye typed n×n,
    so it prints as eye where the size can be inferred."""
    assert parse("eye(n)") is parse("eye")
    assert parse("eye(n)").value is None
    assert parse("eye(m*n)").shape == ("m*n", "m*n")
    assert parse("eye(n*2)").shape == ("2*n", "2*n")
    # the dimension is the one the declarations name: n here is x's length
    e = parse("eye(n)*x", shapes={"x": ("n",)})
    assert e.shape == ("n",)
    e = parse("kron(eye(m), A)*vec(X)", shapes={"A": ("p", "q"), "X": ("q", "m")})
    assert e.shape == ("m*p",)
    text = "kron(vec(eye(n))', eye(m))*kron(eye(n), kron(A, eye(m)))*kron(eye(n), vec(eye(m)))"
    assert parse(text, shapes={"A": ("n", "m")}).shape == ("m", "n")


def test_dimension_names_in_sizes_are_never_variables():
    e = parse("eye(k)*x")
    assert list(e.variables()) == ["x"] and e.shape == ("k",)
    # fresh sizes avoid the names of variables and of written dimensions
    e = parse("kron(m, n)")
    assert {d for v in e.variables().values() for d in v.shape}.isdisjoint({"m", "n"})
    e = parse("eye(n) + x*y'")
    assert e.variables()["x"].shape == ("n",) and e.variables()["y"].shape == ("n",)
    assert parse("eye(k) + A").shape == ("k", "k")
    assert parse("eye(m*n) + A").variables()["A"].shape == ("m*n", "m*n")


def test_sizes_in_evaluation_come_from_dims_or_values():
    import numpy as np
    import matcalc
    assert matcalc.evaluate("tr(eye(n))", {}, dims={"n": 4}) == 4
    x = np.arange(3.0)
    np.testing.assert_allclose(matcalc.evaluate("eye(n)*x", {"x": x}, shapes={"x": "n"}), x)
    got = matcalc.evaluate("kron(eye(m), A)", {"A": np.ones((2, 2))}, dims={"m": 3})
    np.testing.assert_allclose(got, np.kron(np.eye(3), np.ones((2, 2))))


# ---------------------------------------------------------------- the Expr DAG

def test_expr_is_immutable():
    e = parse("x'*A*x")
    for attr, value in [("op", "add"), ("args", ()), ("value", 1), ("shape", ()),
                        ("props", frozenset()), ("new_attribute", 1)]:
        with pytest.raises(AttributeError):
            setattr(e, attr, value)
    with pytest.raises(AttributeError):
        del e.op
    assert e.op == "mul" and len(e.args) == 3


def test_expr_is_hashable_and_equality_is_identity():
    a, b = parse("x'*A*x"), parse("x' * A * x")
    assert a is b and a == b and hash(a) == hash(b)
    c = parse("x'*B*x")
    assert a != c
    table = {a: "quadratic", c: "other"}
    assert table[parse("(x')*A*x")] == "quadratic"
    assert len({a, b, c}) == 2


def test_hash_consing_shares_subexpressions():
    e = parse("exp(x) + exp(x)")
    assert e.op == "add" and len(e.args) == 2
    assert e.args[0] is e.args[1]
    assert e.node_count() == 3                     # add, exp, x
    f = parse("tr(A*B) + tr(A*B)*tr(A*B)")
    left, right = f.args
    assert right.args[0] is left and right.args[1] is left


def test_same_names_different_shapes_are_different_nodes():
    assert parse("x", shapes={"x": (3,)}) is not parse("x", shapes={"x": (4,)})
    assert parse("S", assume={"S": "symmetric"}) is not parse("S")


def test_doubling_stays_linear_in_nodes():
    k = 14
    text = "x"
    for _ in range(k):
        text = f"({text}) + ({text})"
    e = parse(text)
    assert e.op == "add" and len(e.args) == 2 ** k      # the printed tree has 2^k leaves
    assert e.node_count() <= 2 * k + 2


def test_doubling_through_functions_stays_linear_in_nodes():
    k = 12
    text = "x"
    for _ in range(k):
        text = f"exp({text}) - log({text})"
    e = parse(text)
    assert len(text) > 2 ** k
    assert e.node_count() <= 4 * k + 1
    # the shared structure is really there: the two halves hold the same child
    assert e.args[0].args[0] is e.args[1].args[0].args[0]


def test_walk_is_children_first_and_each_node_once():
    e = parse("x'*A*x + x'*A*x*2")
    order = e.walk()
    assert order[-1] is e
    assert len(order) == len(set(map(id, order)))
    seen = set()
    for node in order:
        assert all(id(a) in seen for a in node.args)
        seen.add(id(node))


def test_variables_in_order_of_first_appearance():
    e = parse("b'*x + x'*A*x")
    assert list(e.variables()) == ["b", "x", "A"]
    assert e.variables()["A"].shape == ("n", "n")


def test_pickle_round_trip_gives_the_same_node():
    e = parse("x'*(A + A')*y", assume={"A": "posdef"})
    assert pickle.loads(pickle.dumps(e)) is e


def test_make_var_const_build_the_nodes_parse_builds():
    x = var("x", ("n",))
    a = var("A", ("n", "n"))
    built = make("mul", (make("transpose", (x,), (1, "n")), a, x), ())
    assert built is parse("x'*A*x")
    assert const(2) is parse("2")
    assert make("add", (x, make("add", (x, x), ("n",))), ("n",)).args == (x, x, x)


def test_expr_properties():
    e = parse("x'*S", assume={"S": "symmetric"})
    assert e.kind == "row vector" and e.shape_text == "1×n" and not e.is_scalar
    assert parse("x'*A*x").is_scalar
    assert repr(parse("x'*A*x")) == "Expr(\"x'*A*x\", shape=scalar)"


def test_parse_is_exported_and_documented():
    assert matcalc.parse is parse
    assert "shapes" in parse.__doc__ and "assume" in parse.__doc__


# ---------------------------------------------------------------- splicing products

def test_a_parenthesised_scalar_product_stays_one_factor():
    # regression: ((x'*A*z)*0.5)*B printed as ((x'*A*z*0.5))*B re-parsed as (x'*A*z)*0.5*B
    e = parse("(x'*A*z*0.5)*B", shapes={"x": ("n",), "z": ("n",), "A": ("n", "n"),
                                         "B": ("n", "n")})
    assert tree(e) == ("mul", ("mul", ("transpose", V("x")), V("A"), V("z"), ("const", 0.5)),
                       V("B"))
    assert str(e) == "(x'*A*z*0.5)*B"
    # a scalar product of non-scalars at the head of a product is one factor either way
    assert parse("x'*y*A") is parse("(x'*y)*A")
    assert tree(parse("x'*y*A")) == ("mul", ("mul", ("transpose", V("x")), V("y")), V("A"))


def _reference_splice(args):
    """make()'s splicing as first written: check the whole chain for each nested product."""
    from matcalc.expr import _matrix_chain
    flat = []
    for i, a in enumerate(args):
        if a.op == "mul" and _matrix_chain(flat + list(a.args) + list(args[i + 1:])):
            flat.extend(a.args)
        else:
            flat.append(a)
    return tuple(flat)


FACTORS = {
    "a": var("a", ()), "x": var("x", ("n",)), "y": var("y", ("m",)),
    "xt": make("transpose", (var("x", ("n",)),), (1, "n")),
    "yt": make("transpose", (var("y", ("m",)),), (1, "m")),
    "A": var("A", ("n", "n")), "B": var("B", ("n", "m")), "C": var("C", ("m", "n")),
}


def _shape_of_product(factors):
    """The left-to-right product's shape, or None where it does not type."""
    from matcalc.shapes import normalise
    acc = ()
    for f in factors:
        if not acc or not f.shape:
            acc = acc or f.shape
            continue
        rows, inner = (acc[0], 1) if len(acc) == 1 else acc
        if inner != f.shape[0]:
            return None
        acc = normalise(rows, 1 if len(f.shape) == 1 else f.shape[1])
    return acc


def test_splicing_products_agrees_with_the_whole_chain_check():
    """_splice_products checks only where the pieces meet; over every typed grouping of
    short products it must decide exactly as the whole-chain reference does, and say
    whether the factors chain exactly as _matrix_chain does."""
    import itertools

    from matcalc.expr import _matrix_chain, _splice_products
    names = list(FACTORS)
    groups = []
    for k in (2, 3):
        for combo in itertools.product(names, repeat=k):
            fs = [FACTORS[c] for c in combo]
            shape = _shape_of_product(fs)
            if shape is not None:
                groups.append(make("mul", tuple(fs), shape))
    items = list(FACTORS.values()) + groups[::7]
    checked = 0
    for left, right in itertools.product(items, repeat=2):
        if _shape_of_product([left, right]) is None:
            continue
        args = (left, right)
        flat, chain, _ = _splice_products(args)
        assert flat == _reference_splice(args), (left, right)
        assert chain == _matrix_chain(flat), (left, right)
        checked += 1
    assert checked > 200
    # three operands: a scalar run between them (y'*y*(A*B)) leaves factors that do not chain
    unchained = 0
    for args in itertools.product(list(FACTORS.values()) + groups[::23], repeat=3):
        if _shape_of_product(args) is None or not any(a.op == "mul" for a in args):
            continue
        flat, chain, _ = _splice_products(args)
        assert flat == _reference_splice(args), args
        assert chain == _matrix_chain(flat), args
        unchained += not chain
    assert unchained > 20


def test_walk_needs_no_headroom_on_the_stack(shallow_stack):
    """Expr.walk recurses for the first levels (cheaper than its loop on small expressions):
    called with a few frames to spare, it still lists a deep chain, in the same order."""
    from matcalc import expr as E
    chain = [E.var("x", ("n",))]
    for _ in range(3000):
        chain.append(E.make("exp", (chain[-1],), ("n",)))
    with shallow_stack(headroom=8):
        order = chain[-1].walk()
        below = chain[-1].walk(known={chain[100]})
    assert order == chain
    assert below == chain[101:]                 # the walk stops at a known node, as before
