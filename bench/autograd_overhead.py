"""Autograd overhead: matcalc.autograd beside a minimal NumPy tape, PyTorch and HIPS autograd.

1. Per-op overhead on tiny tensors: a chain of 100 elementwise ops (25 x [*c, sin, +x, tanh])
   on a 4-element vector, then sum and backward.  Reported in microseconds per recorded op
   (101 ops), the median of several repeats.
2. A matmul-dominated graph at n=1000: sum(tanh(A @ B) @ C), forward and backward to A, B, C,
   against plain NumPy doing the same arithmetic by hand.

Libraries that are not installed are reported as "absent".  BLAS and OpenMP use one thread
unless the environment already says otherwise.  Run: python bench/autograd_overhead.py
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import statistics  # noqa: E402
from importlib.metadata import version as _version  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from matcalc import autograd as ag  # noqa: E402

try:
    import torch
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    torch.set_default_dtype(torch.float64)
except ImportError:
    torch = None
try:
    import autograd as hips
    import autograd.numpy as anp
except ImportError:
    hips = anp = None

OPS = 101          # 100 elementwise ops and the sum
C = 1.001


def median_time(fn, inner, repeats=7):
    fn()                                        # warm up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t) / inner)
    return statistics.median(times)


# ---- 1. per-op overhead ------------------------------------------------------------------------
def chain(sin, tanh, x):
    y = x
    for _ in range(25):
        y = y * C
        y = sin(y)
        y = y + x
        y = tanh(y)
    return y.sum()


X0 = np.linspace(0.1, 0.4, 4)


def matcalc_chain():
    x = ag.tensor(X0, requires_grad=True)
    chain(ag.sin, ag.tanh, x).backward()
    return x.grad


def torch_chain():
    x = torch.tensor(X0, requires_grad=True)
    chain(torch.sin, torch.tanh, x).backward()
    return x.grad


def hips_chain():
    return hips.grad(lambda x: chain(anp.sin, anp.tanh, x))(X0)


def numpy_tape_chain():
    """The least a reverse-mode tape can do: values, a list of closures, one reverse sweep."""
    values = [X0]
    tape = []                       # (output index, [(input index, vjp)])

    def record(out, parents):
        values.append(out)
        tape.append((len(values) - 1, parents))
        return len(values) - 1

    def mul_c(i):
        return record(values[i] * C, [(i, lambda g: g * C)])

    def sin(i):
        v = values[i]
        return record(np.sin(v), [(i, lambda g: g * np.cos(v))])

    def add(i, j):
        return record(values[i] + values[j], [(i, lambda g: g), (j, lambda g: g)])

    def tanh(i):
        out = np.tanh(values[i])
        return record(out, [(i, lambda g: g * (1 - out * out))])

    y = 0
    for _ in range(25):
        y = tanh(add(sin(mul_c(y)), 0))
    v = values[y]
    y = record(np.sum(v), [(y, lambda g: np.broadcast_to(g, v.shape))])
    grads = [None] * len(values)
    grads[y] = 1.0
    for out, parents in reversed(tape):
        g = grads[out]
        for i, vjp in parents:
            gi = vjp(g)
            grads[i] = gi if grads[i] is None else grads[i] + gi
    return grads[0]


# ---- 2. matmul-dominated graph -----------------------------------------------------------------
def matmul_inputs(n):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((n, n)) / np.sqrt(n) for _ in range(3)]


def numpy_by_hand(a, b, c):
    h = a @ b
    t = np.tanh(h)
    y = t @ c
    _ = y.sum()
    gy = np.ones_like(y)
    gc = t.T @ gy
    gt = gy @ c.T
    gh = gt * (1 - t * t)
    return gh @ b.T, a.T @ gh, gc


def matcalc_matmul(ts):
    for t in ts:
        t.grad = None
    (ag.tanh(ts[0] @ ts[1]) @ ts[2]).sum().backward()
    return [t.grad for t in ts]


def torch_matmul(ts):
    for t in ts:
        t.grad = None
    (torch.tanh(ts[0] @ ts[1]) @ ts[2]).sum().backward()
    return [t.grad for t in ts]


def hips_matmul(ms):
    return hips.grad(lambda a, b, c: anp.sum(anp.tanh(a @ b) @ c), argnum=[0, 1, 2])(*ms)


def main():
    print(f"threads: OMP={os.environ['OMP_NUM_THREADS']} "
          f"OPENBLAS={os.environ['OPENBLAS_NUM_THREADS']}; numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch else "")
          + (f", autograd {_version('autograd')}" if hips else ""))

    np.testing.assert_allclose(matcalc_chain().numpy(), numpy_tape_chain(), rtol=1e-12)
    print(f"\n1. per-op overhead: chain of 100 elementwise ops + sum + backward, 4-vector "
          f"(us per op, median)")
    rows = [("minimal NumPy tape", numpy_tape_chain), ("matcalc.autograd", matcalc_chain),
            ("PyTorch (CPU)", torch_chain if torch else None),
            ("HIPS autograd", hips_chain if hips else None)]
    per_op = {}
    for name, fn in rows:
        per_op[name] = None if fn is None else median_time(fn, inner=100) / OPS * 1e6
    base = per_op["matcalc.autograd"]
    print(f"   {'library':<22}{'us/op':>9}{'matcalc / it':>15}")
    for name, us in per_op.items():
        if us is None:
            print(f"   {name:<22}{'absent':>9}")
        else:
            print(f"   {name:<22}{us:9.2f}{base / us:15.2f}")

    n = 1000
    a, b, c = matmul_inputs(n)
    ref = numpy_by_hand(a, b, c)
    leaves = [ag.tensor(m, requires_grad=True) for m in (a, b, c)]
    for got, want in zip(matcalc_matmul(leaves), ref):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    print(f"\n2. matmul graph n={n}: sum(tanh(A @ B) @ C), forward + backward to A, B, C "
          "(ms, median; inputs made once, outside the timing)")
    rows = [("NumPy by hand", numpy_by_hand, (a, b, c)),
            ("matcalc.autograd", matcalc_matmul, (leaves,)),
            ("PyTorch (CPU)", torch_matmul if torch else None,
             ([torch.tensor(m, requires_grad=True) for m in (a, b, c)],) if torch else ()),
            ("HIPS autograd", hips_matmul if hips else None, ((a, b, c),))]
    ms = {}
    for name, fn, args in rows:
        ms[name] = None if fn is None else median_time(lambda: fn(*args), 1, repeats=9) * 1e3
    print(f"   {'library':<22}{'ms':>9}{'it / NumPy':>15}")
    for name, t in ms.items():
        if t is None:
            print(f"   {name:<22}{'absent':>9}")
        else:
            print(f"   {name:<22}{t:9.1f}{t / ms['NumPy by hand']:15.3f}")


if __name__ == "__main__":
    main()
