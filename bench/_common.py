"""Shared by bench/hessian.py and bench/gradient.py: one BLAS thread, timing, the problems.

BLAS, XLA and PyTorch are pinned to one thread before NumPy is imported, so the comparison is
of algorithms, not of thread pools.  Frameworks that are not installed are reported as absent.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_ENABLE_X64", "1")

import statistics                                   # noqa: E402
import time                                         # noqa: E402

import numpy as np                                  # noqa: E402

THREADS_NOTE = ("BLAS pinned to one thread (OMP/OPENBLAS/MKL_NUM_THREADS=1, "
                "torch.set_num_threads(1), XLA single-threaded Eigen); float64")


def frameworks():
    """{name: module or None} for torch, jax, autograd (None: absent)."""
    out = {}
    try:
        import torch
        torch.set_num_threads(1)
        out["torch"] = torch
    except ImportError:
        out["torch"] = None
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        out["jax"] = jax
    except ImportError:
        out["jax"] = None
    try:
        import autograd
        out["autograd"] = autograd
    except ImportError:
        out["autograd"] = None
    return out


def median_time(fn, budget=2.0, max_runs=7):
    """Median seconds of fn() after one warm-up call; fewer runs when a call is slow."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs = []
    while len(runs) < max_runs and (len(runs) < 3 or sum(runs) < budget):
        if first > budget and len(runs) >= 1:
            break
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def ms(t):
    if t is None:
        return "—"
    return f"{t * 1e3:.3g}" if t * 1e3 < 1000 else f"{t * 1e3:.0f}"


# ---------------------------------------------------------------- the problems
# Each: matcalc text, variable, data(n, rng) -> dict, and the hand-written closed forms.

def _sig(z):
    return 0.5 * np.tanh(0.5 * z) + 0.5


PROBLEMS = {
    "x'Ax": dict(
        text="x'*A*x", wrt="x",
        data=lambda n, rng: {"A": rng.standard_normal((n, n)), "x": rng.standard_normal(n)},
        value=lambda A, x: x @ (A @ x),
        grad=lambda A, x: A @ x + A.T @ x,
        hessian=lambda A, x: A + A.T),
    "logistic": dict(
        text="sum(log(vector(1) + exp(-y.*(X*w))))", wrt="w",
        data=lambda n, rng: {"X": rng.standard_normal((2 * n, n)) / np.sqrt(n),
                             "y": np.sign(rng.standard_normal(2 * n)),
                             "w": rng.standard_normal(n)},
        value=lambda X, y, w: np.sum(np.logaddexp(0.0, -y * (X @ w))),
        grad=lambda X, y, w: -(X.T @ (y * _sig(-y * (X @ w)))),
        hessian=lambda X, y, w: X.T @ ((lambda s: s * (1 - s))(_sig(y * (X @ w)))[:, None] * X)),
    "least squares": dict(
        text="norm2(A*x - b)^2", wrt="x",
        data=lambda n, rng: {"A": rng.standard_normal((2 * n, n)), "x": rng.standard_normal(n),
                             "b": rng.standard_normal(2 * n)},
        value=lambda A, x, b: (lambda r: r @ r)(A @ x - b),
        grad=lambda A, x, b: 2.0 * (A.T @ (A @ x - b)),
        hessian=lambda A, x, b: 2.0 * (A.T @ A)),
    # U is (n/10)×10, so the Hessian with respect to U is n×n like the others
    "‖T−UVᵀ‖² (U)": dict(
        text="norm2(T - U*V')^2", wrt="U",
        data=lambda n, rng: {"T": rng.standard_normal((n // 10, 40)),
                             "U": rng.standard_normal((n // 10, 10)),
                             "V": rng.standard_normal((40, 10))},
        value=lambda T, U, V: (lambda r: np.einsum("ij,ij->", r, r))(T - U @ V.T),
        grad=lambda T, U, V: -2.0 * ((T - U @ V.T) @ V),
        hessian=lambda T, U, V: np.kron(2.0 * (V.T @ V), np.eye(U.shape[0]))),
}


def _loss(name, xp, t):
    """The scalar function of the variable, other inputs fixed, written once for any
    NumPy-like module ``xp`` (torch, jax.numpy, autograd.numpy) and its arrays ``t``."""
    if name == "x'Ax":
        return lambda x: x @ (t["A"] @ x), t["x"]
    if name == "logistic":
        return lambda w: xp.sum(xp.log(1 + xp.exp(-t["y"] * (t["X"] @ w)))), t["w"]
    if name == "least squares":
        return lambda x: xp.sum((t["A"] @ x - t["b"]) ** 2), t["x"]
    return lambda U: xp.sum((t["T"] - U @ t["V"].T) ** 2), t["U"]


def torch_fn(name, torch, d):
    """The problem in PyTorch."""
    return _loss(name, torch, {k: torch.tensor(v) for k, v in d.items()})


def jax_fn(name, jax, d):
    return _loss(name, jax.numpy, {k: jax.numpy.asarray(v) for k, v in d.items()})


def autograd_fn(name, d):
    import autograd.numpy as anp
    return _loss(name, anp, d)
