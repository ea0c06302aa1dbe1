"""matcalc.autograd against PyTorch on the same programs: values, gradients, second derivatives,
forward-mode tangents and printed text.  Skipped when torch is not installed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from matcalc import autograd as ag  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")   # torch's own, on import


@pytest.fixture(autouse=True)
def torch_float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _spd(rng, n):
    b = rng.standard_normal((n, n))
    return b @ b.T + n * np.eye(n)


# Programs written once, run with lib = matcalc.autograd or torch.
PROGRAMS = {
    "least-squares": lambda lib, A, x, S: ((A @ x - x[:3]) ** 2).sum(),
    "tanh-dot-exp-over-norm": lambda lib, A, x, S: lib.tanh(A @ x).dot(lib.exp(x[:3])) / x.norm(),
    "logdet-trace-inv": lambda lib, A, x, S: lib.logdet(S) + lib.trace(lib.inverse(S) @ A.T @ A),
    "det-quadratic-form": lambda lib, A, x, S: lib.det(S) * (x @ S @ x) ** 0.5,
    "kron-outer-diag": lambda lib, A, x, S: (lib.kron(S, A) ** 2).sum() * lib.outer(
        x, x[:3]).mean() + lib.diag(S).dot(lib.diag(lib.diag(S)).sum(1)),
    "sigmoid-relu-abs": lambda lib, A, x, S: (lib.sigmoid(A) * lib.relu(A - 0.1)).sum(0).dot(
        lib.abs(x) + lib.sign(x)) + lib.sqrt(lib.abs(x) + 1).sum(),
    "broadcast-and-index": lambda lib, A, x, S: ((A[:, None, :] * x[None, :, None]) / (
        1 + S[:3, :1, None] ** 2)).sum((0, 2)).dot(x[[0, 1, 1, 3]]),
    "trig-log-pow": lambda lib, A, x, S: (lib.sin(x) * lib.cos(x) + lib.tan(x / 4)).sum()
    + lib.log(S.sum() ** 2) + (2 ** x).sum() + (lib.abs(x) ** x).mean(),
    "norm-axis-mean-axis": lambda lib, A, x, S: A.norm(dim=1).dot(A.mean(1) + S.sum(1)[:3]),
}


def _inputs(seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((3, 4)), rng.standard_normal(4), _spd(rng, 4)


def _run(lib, program, arrays):
    tensors = [lib.tensor(a, requires_grad=True) for a in arrays]
    grad = torch.autograd.grad if lib is torch else ag.grad
    out = program(lib, *tensors)
    grads = grad(out, tensors, create_graph=True, materialize_grads=True)
    # a second derivative: d/d(inputs) of <grads, w> with fixed w
    rng = np.random.default_rng(99)
    proj = sum((g * lib.tensor(rng.standard_normal(g.shape))).sum() for g in grads)
    second = grad(proj, tensors, materialize_grads=True) if proj.requires_grad else \
        [lib.zeros(a.shape) for a in arrays]
    return (out.detach().numpy(), [g.detach().numpy() for g in grads],
            [s.detach().numpy() for s in second])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_values_gradients_and_second_derivatives_match_torch(name, seed):
    arrays = _inputs(seed)
    ours = _run(ag, PROGRAMS[name], arrays)
    theirs = _run(torch, PROGRAMS[name], arrays)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
    for a, b in zip(ours[1] + ours[2], theirs[1] + theirs[2]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


# Random compositions of elementwise and broadcasting steps.
STEPS = [
    lambda lib, v, c: v * c,
    lambda lib, v, c: v + c,
    lambda lib, v, c: v - 2 * c,
    lambda lib, v, c: v / (1 + c * c),
    lambda lib, v, c: lib.sin(v),
    lambda lib, v, c: lib.tanh(v) * c,
    lambda lib, v, c: lib.exp(-v * v),
    lambda lib, v, c: lib.sigmoid(v + c),
    lambda lib, v, c: (v * v + 1) ** 0.5,
    lambda lib, v, c: lib.log(1 + v * v),
    lambda lib, v, c: v @ lib.ones(v.shape[-1], v.shape[-1]) / 3,
    lambda lib, v, c: lib.abs(v) + v.T.T,
]


@pytest.mark.parametrize("seed", range(12))
def test_random_programs_match_torch(seed):
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(STEPS), size=8)
    x0, c0 = rng.standard_normal((2, 3)), rng.standard_normal(3)

    def program(lib, x, c):
        v = x
        for k in picks:
            v = STEPS[k](lib, v, c)
        return (v * x).sum()

    results = []
    for lib in (ag, torch):
        x, c = lib.tensor(x0, requires_grad=True), lib.tensor(c0, requires_grad=True)
        out = program(lib, x, c)
        out.backward()
        results.append((out.item(), x.grad.numpy(), c.grad.numpy()))
    (o1, gx1, gc1), (o2, gx2, gc2) = results
    assert o1 == pytest.approx(o2, rel=1e-12)
    np.testing.assert_allclose(gx1, gx2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gc1, gc2, rtol=1e-10, atol=1e-12)


def test_jvp_matches_torch_func_jvp():
    A, x, S = _inputs(5)
    v = np.random.default_rng(6).standard_normal(4)

    def f(lib):
        return lambda t: lib.tanh(lib.tensor(A) @ t) * t[:3].exp() + lib.tensor(S)[:3] @ t

    _, ours = ag.jvp(f(ag), ag.tensor(x), ag.tensor(v))
    _, theirs = torch.func.jvp(f(torch), (torch.tensor(x),), (torch.tensor(v),))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)


def test_jacobian_and_hessian_match_torch():
    A, x, S = _inputs(7)

    def f(lib):
        return lambda t: lib.sin(lib.tensor(A) @ t) * t[1]

    def g(lib):
        return lambda t: (t @ lib.tensor(S) @ t) * lib.exp(t).sum()

    for strategy in ("reverse-mode", "forward-mode"):
        np.testing.assert_allclose(
            ag.jacobian(f(ag), ag.tensor(x), strategy=strategy).numpy(),
            torch.autograd.functional.jacobian(f(torch), torch.tensor(x)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(ag.hessian(g(ag), ag.tensor(x)).numpy(),
                               torch.autograd.functional.hessian(g(torch), torch.tensor(x)).numpy(),
                               rtol=1e-11)


# ---- printing -----------------------------------------------------------------------------------
def _arrays():
    rng = np.random.default_rng(0)
    yield from [
        np.arange(4.0), np.array([0.0, 4.0, 8.0, 12.0]), np.array(28.0), np.array([0.5, 1.25]),
        np.array([-1.5, 2.0, 1e-5]), np.array([[1.0, -2.0], [3.0, 4.0]]), np.array(-0.0),
        np.array([1e10, 1.0]), np.array([np.nan, 1.0, np.inf, -np.inf]), np.array(np.nan),
        np.array([True, False]), np.array(True), np.arange(4), np.array([-12, 3]),
        np.zeros(0), np.zeros((0, 3)), np.zeros((2, 0)), np.zeros(4), np.array([1e-3, 1.0]),
        np.array([123456.7, 0.5]), np.array([1e9]), np.array([100.0, 0.1]),
        np.arange(2000.0), np.arange(1001).reshape(7, 143), np.arange(30.0) * 1.5,
        np.arange(3000.0).reshape(10, 10, 30), rng.standard_normal((3, 4, 5)),
        rng.standard_normal(40) * 1000, rng.standard_normal((2, 3)).astype(np.float32),
        np.array([1, 2], dtype=np.int32), rng.integers(-5, 5, size=(4, 4)),
    ]
    for scale in (1e-6, 1e-2, 1.0, 1e3, 1e9):
        yield rng.standard_normal(7) * scale


@pytest.mark.parametrize("array", list(_arrays()), ids=lambda a: f"{a.dtype}{a.shape}")
def test_repr_matches_torch(array):
    ours = repr(ag.tensor(array))
    theirs = repr(torch.tensor(array)).replace("torch.", "")
    assert ours == theirs


def test_repr_suffixes_match_torch():
    for lib in (ag, torch):
        x = lib.arange(4.0, requires_grad=True)
        lib.texts = [repr(x), repr(x * x), repr(2 * lib.dot(x, x)), repr(x.sum()),
                     repr(lib.arange(100.0, requires_grad=True) * 3)]
    assert ag.texts == torch.texts
