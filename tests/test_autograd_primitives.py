"""Every primitive's VJP and JVP against central differences, and higher-order derivatives.

``check_grads`` follows HIPS autograd's test_util: project the output on a random vector u and
move the inputs along random directions v; then the reverse-mode <grad(u.f), v>, the
forward-mode <u, jvp(f)[v]> and the central difference of u.f(x + hv) must agree.  Order 2
repeats the check on x -> <grad(u.f)(x), w>, built with create_graph=True.
"""

from __future__ import annotations

import numpy as np
import pytest

from matcalc import autograd as ag

RNG = np.random.default_rng(20240611)


def _randn(*shape):
    return RNG.standard_normal(shape)


def _pos(*shape):
    return RNG.uniform(0.5, 2.0, shape)


def _away_from_zero(*shape):
    return RNG.uniform(0.3, 1.5, shape) * RNG.choice([-1.0, 1.0], shape)


def _spd(n, batch=()):
    b = RNG.standard_normal(batch + (n, n))
    return b @ np.swapaxes(b, -1, -2) + n * np.eye(n)


def _general(n):
    """A well-conditioned matrix with a negative determinant, for inv and det."""
    m = _spd(n)
    m[0] *= -1.0
    return m


def _directional(f, xs, u, vs, eps=1e-6):
    def proj(h):
        with ag.no_grad():
            out = f(*[ag.tensor(x + h * v) for x, v in zip(xs, vs)])
        return float(np.sum(out.detach().numpy() * u))
    return (proj(eps) - proj(-eps)) / (2 * eps)


def _check_first_order(f, xs, rtol, atol):
    ts = [ag.tensor(x, requires_grad=True) for x in xs]
    out = f(*ts)
    u = RNG.standard_normal(out.shape)
    vs = [RNG.standard_normal(x.shape) for x in xs]
    numeric = _directional(f, xs, u, vs)
    projected = (out * u).sum()
    grads = ag.grad(projected, ts, allow_unused=True) if projected.requires_grad \
        else [None] * len(ts)                    # f does not depend on its inputs
    reverse = sum(0.0 if g is None else float(np.sum(g.numpy() * v)) for g, v in zip(grads, vs))
    _, tangent = ag.jvp(f, tuple(ag.tensor(x) for x in xs), tuple(ag.tensor(v) for v in vs))
    forward = float(np.sum(tangent.numpy() * u))
    assert reverse == pytest.approx(numeric, rel=rtol, abs=atol), "VJP disagrees with numbers"
    assert forward == pytest.approx(numeric, rel=rtol, abs=atol), "JVP disagrees with numbers"


def check_grads(f, *args, order=2, rtol=1e-5, atol=1e-6):
    """Check f's first (and second) derivatives in reverse and forward mode."""
    xs = [np.asarray(a, dtype=np.float64) for a in args]
    _check_first_order(f, xs, rtol, atol)
    if order >= 2:
        with ag.no_grad():
            shape = f(*[ag.tensor(x) for x in xs]).shape
        u = RNG.standard_normal(shape)
        ws = [RNG.standard_normal(x.shape) for x in xs]

        def projected_gradient(*ts):
            with ag.enable_grad():
                for t in ts:        # fresh leaves from the numeric and forward-mode checks
                    if not t.requires_grad:
                        t.requires_grad_()
                out = (f(*ts) * u).sum()
                grads = ag.grad(out, ts, create_graph=True, materialize_grads=True)
                return sum((g * w).sum() for g, w in zip(grads, ws))
        _check_first_order(projected_gradient, xs, rtol, atol)


# name, function, inputs.  Every primitive appears at least once (checked below).
CASES = [
    ("add", lambda x, y: x + y, [_randn(3, 4), _randn(3, 4)]),
    ("add-broadcast", lambda x, y: x + y, [_randn(3, 4), _randn(4)]),
    ("add-broadcast-both", lambda x, y: x + y, [_randn(2, 1, 3), _randn(4, 1)]),
    ("add-scalar", lambda x: 2.5 + x, [_randn(3)]),
    ("sub", lambda x, y: x - y, [_randn(3, 1), _randn(1, 5)]),
    ("rsub", lambda x: 1.0 - x, [_randn(4)]),
    ("mul", lambda x, y: x * y, [_randn(2, 3), _randn(2, 3)]),
    ("mul-0d", lambda x, y: x * y, [_randn(3), _randn()]),
    ("mul-array-constant", lambda x: np.arange(3.0) * x, [_randn(2, 3)]),
    ("div", lambda x, y: x / y, [_randn(3, 2), _away_from_zero(2)]),
    ("rdiv", lambda x: 2.0 / x, [_away_from_zero(3)]),
    ("pow-const", lambda x: x ** 3, [_randn(4)]),
    ("pow-frac", lambda x: x ** 1.5, [_pos(4)]),
    ("pow-tensor", lambda x, y: x ** y, [_pos(3), _randn(3)]),
    ("rpow", lambda y: 2.0 ** y, [_randn(3)]),
    ("neg", lambda x: -x, [_randn(2, 2)]),
    ("exp", ag.exp, [_randn(3)]),
    ("log", ag.log, [_pos(3)]),
    ("sin", ag.sin, [_randn(2, 3)]),
    ("cos", ag.cos, [_randn(3)]),
    ("tan", ag.tan, [RNG.uniform(-1.0, 1.0, 4)]),
    ("tanh", ag.tanh, [_randn(5)]),
    ("sqrt", ag.sqrt, [_pos(4)]),
    ("sigmoid", ag.sigmoid, [_randn(4)]),
    ("abs", ag.abs, [_away_from_zero(5)]),
    ("relu", ag.relu, [_away_from_zero(5)]),
    ("sign", lambda x: ag.sign(x) * x, [_away_from_zero(5)]),
    ("matmul-mm", lambda a, b: a @ b, [_randn(3, 4), _randn(4, 2)]),
    ("matmul-mv", lambda a, b: a @ b, [_randn(3, 4), _randn(4)]),
    ("matmul-vm", lambda a, b: a @ b, [_randn(4), _randn(4, 2)]),
    ("matmul-vv", lambda a, b: ag.matmul(a, b), [_randn(4), _randn(4)]),
    ("matmul-batched", lambda a, b: a @ b, [_randn(2, 3, 4), _randn(4, 5)]),
    ("matmul-batch-broadcast", lambda a, b: a @ b, [_randn(1, 3, 4), _randn(2, 4, 2)]),
    ("matmul-batched-mv", lambda a, b: a @ b, [_randn(2, 3, 4), _randn(4)]),
    ("matmul-batched-vm", lambda a, b: a @ b, [_randn(4), _randn(2, 4, 3)]),
    ("rmatmul-constant", lambda b: np.ones((2, 3)) @ b, [_randn(3, 2)]),
    ("dot", ag.dot, [_randn(5), _randn(5)]),
    ("outer", ag.outer, [_randn(3), _randn(2)]),
    ("kron", ag.kron, [_randn(2, 3), _randn(3, 2)]),
    ("kron-vector", ag.kron, [_randn(2), _randn(3)]),
    ("sum-all", lambda x: x.sum(), [_randn(3, 4)]),
    ("sum-axis", lambda x: x.sum(1), [_randn(3, 4)]),
    ("sum-axes-keepdims", lambda x: ag.sum(x, (0, 2), keepdim=True), [_randn(2, 3, 4)]),
    ("sum-neg-axis", lambda x: ag.sum(x, axis=-1), [_randn(2, 3)]),
    ("mean", ag.mean, [_randn(3, 4)]),
    ("mean-axis", lambda x: x.mean(0), [_randn(3, 4)]),
    ("norm", ag.norm, [_randn(5)]),
    ("norm-frobenius", lambda x: x.norm(), [_randn(3, 2)]),
    ("norm-axis", lambda x: ag.norm(x, dim=1), [_randn(3, 2)]),
    ("norm-keepdim", lambda x: ag.norm(x, 0, keepdim=True), [_randn(3, 2)]),
    ("reshape", lambda x: x.reshape(2, 6) * np.arange(6.0), [_randn(3, 4)]),
    ("transpose", lambda x: x.T, [_randn(3, 4)]),
    ("transpose-dims", lambda x: x.transpose(0, 2), [_randn(2, 3, 4)]),
    ("permute", lambda x: x.permute(1, 2, 0), [_randn(2, 3, 4)]),
    ("broadcast_to", lambda x: ag.broadcast_to(x, (2, 3, 4)) * np.arange(24.0).reshape(2, 3, 4),
     [_randn(3, 1)]),
    ("index-int", lambda x: x[1], [_randn(3, 4)]),
    ("index-slice", lambda x: x[1:, ::2], [_randn(3, 4)]),
    ("index-fancy-repeats", lambda x: x[[0, 2, 0, 0]], [_randn(3, 2)]),
    ("index-mask", lambda x: x[np.array([True, False, True])], [_randn(3)]),
    ("index-tensor", lambda x: x[ag.tensor([1, 1])], [_randn(3)]),
    ("diag-matrix", ag.diag, [_randn(3, 4)]),
    ("diag-offset", lambda x: ag.diag(x, -1), [_randn(4, 3)]),
    ("diag-vector", lambda x: ag.diag(x) * np.arange(9.0).reshape(3, 3), [_randn(3)]),
    ("diag-vector-offset", lambda x: ag.diag(x, 1), [_randn(2)]),
    ("trace", ag.trace, [_randn(3, 4)]),
    ("inv", ag.inv, [_general(3)]),
    ("inv-batched", ag.inv, [_spd(3, (2,))]),
    ("det", ag.det, [_general(3)]),
    ("det-batched", ag.det, [_spd(2, (3,))]),
    ("logdet", ag.logdet, [_spd(3)]),
    ("composite", lambda A, x: ag.tanh(A @ x).dot(ag.exp(x[:3])) / x.norm(),
     [_randn(3, 4), _randn(4)]),
]


@pytest.mark.parametrize("name,f,args", CASES, ids=[c[0] for c in CASES])
def test_gradients_against_finite_differences(name, f, args):
    check_grads(f, *args)


def test_every_primitive_is_checked():
    used = set()
    for _, f, args in CASES:
        out = f(*[ag.tensor(a, requires_grad=True) for a in args])
        stack = [out]
        while stack:
            t = stack.pop()
            if t.grad_fn is not None:
                used.add(t._prim.name)
                stack.extend(a for a in t._inputs if isinstance(a, ag.Tensor))
        ts = [ag.tensor(a, requires_grad=True) for a in args]   # gradient graphs too
        for g in ag.grad(f(*ts).sum(), ts, create_graph=True, allow_unused=True):
            stack = [g] if g is not None else []
            while stack:
                t = stack.pop()
                if t.grad_fn is not None:
                    used.add(t._prim.name)
                    stack.extend(a for a in t._inputs if isinstance(a, ag.Tensor))
    assert set(ag.PRIMITIVES) - used == set()


# ---- subgradients at the kinks -------------------------------------------------------------------
def test_subgradients_at_zero_are_zero():
    x = ag.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    (ag.abs(x) + ag.relu(x) + ag.sign(x)).sum().backward()
    assert x.grad.tolist() == [-1.0, 0.0, 2.0]
    z = ag.zeros(3, requires_grad=True)
    z.norm().backward()
    assert z.grad.tolist() == [0.0, 0.0, 0.0]


# ---- higher order ------------------------------------------------------------------------------
def test_hessian_of_quadratic_form_is_a_plus_a_transpose():
    a = RNG.standard_normal((4, 4))
    h = ag.hessian(lambda x: x @ ag.tensor(a) @ x, ag.tensor(RNG.standard_normal(4)))
    np.testing.assert_allclose(h.numpy(), a + a.T, rtol=1e-12, atol=1e-12)


def test_gradient_of_gradient_of_sin_is_minus_sin():
    x = ag.tensor(RNG.standard_normal(5), requires_grad=True)
    (dx,) = ag.grad(ag.sin(x).sum(), x, create_graph=True)
    (ddx,) = ag.grad(dx.sum(), x)
    np.testing.assert_allclose(dx.detach().numpy(), np.cos(x.detach().numpy()))
    np.testing.assert_allclose(ddx.numpy(), -np.sin(x.detach().numpy()))


def test_third_derivative():
    x = ag.tensor(1.5, requires_grad=True)
    (d1,) = ag.grad(x ** 4, x, create_graph=True)
    (d2,) = ag.grad(d1, x, create_graph=True)
    (d3,) = ag.grad(d2, x)
    assert (d1.item(), d2.item(), d3.item()) == pytest.approx((4 * 1.5 ** 3, 12 * 1.5 ** 2,
                                                                24 * 1.5))


def test_hessian_by_rows_with_backward():
    """A Hessian row by row, torch style: backward on each component of the gradient."""
    a = _spd(3)
    x = ag.tensor(RNG.standard_normal(3), requires_grad=True)
    (g,) = ag.grad(0.5 * x @ ag.tensor(a) @ x + ag.exp(x).sum(), x, create_graph=True)
    rows = []
    for i in range(3):
        x.grad = None
        g[i].backward()
        rows.append(x.grad.numpy().copy())
    expected = a + np.diag(np.exp(x.detach().numpy()))
    np.testing.assert_allclose(np.array(rows), expected, rtol=1e-12)


def _numeric_jacobian(f, x, eps=1e-6):
    cols = []
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = eps
        e = e.reshape(x.shape)
        cols.append((f(x + e) - f(x - e)).reshape(-1) / (2 * eps))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("strategy", ["reverse-mode", "forward-mode"])
def test_jacobian_matches_finite_differences(strategy):
    a = RNG.standard_normal((3, 4))
    x = RNG.standard_normal(4)

    def f(v):
        return ag.tanh(ag.tensor(a) @ v) * v[:3]

    jac = ag.jacobian(f, ag.tensor(x), strategy=strategy)
    assert jac.shape == (3, 4)                  # numerator layout: m x n
    with ag.no_grad():
        numeric = _numeric_jacobian(lambda v: f(ag.tensor(v)).numpy(), x)
    np.testing.assert_allclose(jac.numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_jacobian_shapes_are_output_then_input():
    x = ag.tensor(RNG.standard_normal((2, 3)))
    assert ag.jacobian(lambda m: m.sum(0), x).shape == (3, 2, 3)
    assert ag.jacobian(lambda m: m.sum(), x).shape == (2, 3)
    assert ag.jacobian(lambda m: m @ m.T, x, strategy="forward-mode").shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(ag.jacobian(lambda v: 2.0 * v, ag.ones(3)).numpy(),
                                  2 * np.eye(3))


def test_jacobian_of_constant_function_is_zero():
    assert ag.jacobian(lambda v: ag.ones(2), ag.ones(3)).numpy().tolist() == [[0.0] * 3] * 2


def test_hessian_matches_finite_differences_of_gradient():
    x = RNG.standard_normal(4)

    def f(v):
        return ag.log(ag.exp(v).sum()) + (v ** 3).sum() * v[0]

    h = ag.hessian(f, ag.tensor(x)).numpy()

    def gradient(v):
        t = ag.tensor(v, requires_grad=True)
        return ag.grad(f(t), t)[0].numpy()
    np.testing.assert_allclose(h, _numeric_jacobian(gradient, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h, h.T, atol=1e-12)


def test_hessian_of_linear_function_is_zero():
    assert ag.hessian(lambda v: (2 * v).sum(), ag.ones(2)).tolist() == [[0.0, 0.0]] * 2


def test_jvp_is_forward_accumulation_with_several_inputs():
    a, b = RNG.standard_normal(3), RNG.standard_normal(3)
    va, vb = RNG.standard_normal(3), RNG.standard_normal(3)
    (out, tangent) = ag.jvp(lambda x, y: x * ag.sin(y), (ag.tensor(a), ag.tensor(b)),
                            (ag.tensor(va), ag.tensor(vb)))
    np.testing.assert_allclose(out.numpy(), a * np.sin(b))
    np.testing.assert_allclose(tangent.numpy(), va * np.sin(b) + a * np.cos(b) * vb)
    assert out.grad_fn is None and not tangent.requires_grad


def test_hessian_vector_product_forward_over_reverse():
    a = _spd(3)
    x0, v = RNG.standard_normal(3), RNG.standard_normal(3)

    def gradient(x):
        x.requires_grad_()
        y = 0.5 * x @ ag.tensor(a) @ x + ag.sin(x).sum()
        return ag.grad(y, x, create_graph=True)[0]
    _, hv = ag.jvp(gradient, ag.tensor(x0), ag.tensor(v))
    np.testing.assert_allclose(hv.numpy(), (a - np.diag(np.sin(x0))) @ v, rtol=1e-12)


def test_vjp_function():
    out, g = ag.vjp(lambda x: x * x, ag.tensor([1.0, 2.0]), ag.tensor([1.0, 10.0]))
    assert out.tolist() == [1.0, 4.0] and g.tolist() == [2.0, 40.0]


def test_call_by_name_and_table_layout():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = ag.call("mul", x, 3.0)
    assert repr(y) == "tensor([3., 6.], grad_fn=<MulBackward0>)"
    prim = ag.PRIMITIVES["sin"]
    assert prim.fwd(0.0) == 0.0 and prim.vjps[0](2.0, 0.0, 0.0) == 2.0
    assert prim.jvps[0](3.0, 0.0, 0.0) == 3.0
    assert callable(ag.PRIMITIVES["matmul"].jvps[1])
