"""Every matrix chain of up to three factors differentiates with respect to X, and agrees
with backprop: products of X, Xᵀ, constants, inv(X), exp(X), sums and vectors in every order
(a cold review found 168 such chains refused after a matching change; none may be)."""

import itertools

import numpy as np
import pytest

import matcalc
from matcalc.errors import MatcalcError

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
                                               if k in answer.variables()}, dims={"n": n}))
    want = np.asarray(matcalc.numeric_jacobian(expr, "X", values))
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-8, atol=1e-10)
