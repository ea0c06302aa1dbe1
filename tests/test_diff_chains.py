"""Every matrix chain of up to three factors differentiates with respect to X, and agrees
with backprop: products of X, Xᵀ, constants, inv(X), exp(X), sums and vectors in every order
(a cold review found 168 such chains refused after a matching change; none may be)."""

import itertools

import numpy as np
import pytest

import matcalc
from matcalc.checking import random_values
from matcalc.errors import MatcalcError
from numeric_helpers import dims_of

POOL = ["X", "X'", "A", "inv(X)", "exp(X)", "(X + A)", "u", "v'", "x'"]
SHAPES = {"X": ("n", "n"), "A": ("n", "n")}


def _chains():
    out = []
    for k in (1, 2, 3):
        for combo in itertools.product(POOL, repeat=k):
            text = "*".join(combo)
            try:
                expr = matcalc.parse(text, shapes=SHAPES)
            except MatcalcError:
                continue                    # does not chain (a vector times a vector, ...)
            if "X" in expr.variables():
                out.append(text)
    return out


CHAINS = _chains()


def test_the_pool_makes_many_chains():
    assert len(CHAINS) > 300


@pytest.mark.parametrize("text", CHAINS)
def test_chain_differentiates_and_agrees_with_backprop(text):
    expr = matcalc.parse(text, shapes=SHAPES)
    answer = matcalc.diff(expr, "X")                    # a NoRuleError fails the test
    rng = np.random.default_rng(len(text))
    n = 3
    values = {"X": rng.standard_normal((n, n)) + n * np.eye(n),
              "A": rng.standard_normal((n, n)), "u": rng.standard_normal(n),
              "v": rng.standard_normal(n), "x": rng.standard_normal(n)}
    values = {k: v for k, v in values.items() if k in expr.variables()}
    got = np.asarray(matcalc.evaluate(answer, {k: v for k, v in values.items()
                                               if k in answer.variables()},
                                      dims=dims_of(expr, values)))
    want = np.asarray(matcalc.numeric_jacobian(expr, "X", values))
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------- functions of chains

WRAPS = ["tr({})", "sum({})", "a'*{}*b", "norm2({})^2", "logdet({}*{}')", "det({})", "vec({})",
         "{}'", "tr({}*{})", "{}.*{}", "sum(exp({}))", "log(det({}))", "inv({})"]
FACTORS = ["X", "X'", "A", "inv(X)", "exp(X)", "(X + A)", "u", "v'", "x'", "diag(x)", "X.*A",
           "tanh(X)"]


def _wrapped():
    out = []
    for k in (1, 2):
        for combo in itertools.product(FACTORS, repeat=k):
            p = "*".join(combo)
            for w in WRAPS:
                text = w.format(p, p)
                try:
                    expr = matcalc.parse(text, shapes=SHAPES)
                except MatcalcError:
                    continue
                out += [(text, wrt) for wrt in ("X", "x") if wrt in expr.variables()]
    return out


WRAPPED = _wrapped()


def test_the_functions_of_chains_are_many():
    assert len(WRAPPED) > 1000


@pytest.mark.filterwarnings("ignore::RuntimeWarning")     # exp of exp overflows: skipped
@pytest.mark.parametrize("text, wrt", WRAPPED)
def test_function_of_a_chain_differentiates_and_agrees_with_backprop(text, wrt):
    expr = matcalc.parse(text, shapes=SHAPES)
    answer = matcalc.diff(expr, wrt)                    # a NoRuleError fails the test
    rng = np.random.default_rng(len(text))
    sizes: dict = {}
    values = random_values(expr.variables(), {"X": "spd"}, rng, sizes)   # det X > 0
    try:
        want = np.asarray(matcalc.numeric_jacobian(expr, wrt, values))
    except matcalc.LinAlgError:
        pytest.skip("singular at this draw")
    if not np.all(np.isfinite(want)):
        pytest.skip("overflow at this draw")
    try:
        got = np.asarray(matcalc.evaluate(answer, {k: v for k, v in values.items()
                                                   if k in answer.variables()}, dims=sizes))
    except matcalc.LinAlgError:
        pytest.skip("singular at this draw (inv of the rank-1 u*x')")
    scale = 1 + np.abs(want).max()
    # rtol 1e-6: inv(tanh(X)*tanh(X)) reaches 1e10 at some draws
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-6, atol=1e-9 * scale)
