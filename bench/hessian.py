"""Hessians: matcalc's compiled closed form beside hand-written NumPy and autodiff frameworks.

Reproduces the comparison of Laue, Mitterreiter and Giesen (NeurIPS 2018) on this machine:
Hessians of x'*A*x, logistic regression (X is 2n×n), least squares ‖Ax − b‖² (A is 2n×n) and
‖T − UVᵀ‖² with respect to U ((n/10)×10, so its Kronecker-form Hessian is n×n), for n in 100,
300, 1000, 2000.  Columns, all medians of repeated runs in this one process:

- matcalc: ``matcalc.compile(text, wrt, value=False, hessian=True)`` evaluated (derive +
  compile time reported separately, once per problem);
- closed: the closed form written by hand in NumPy;
- jax: ``jax.jit(jax.hessian(f))`` (its first-call compile time reported separately);
- torch / torch-vec: ``torch.autograd.functional.hessian`` without and with ``vectorize``;
- autograd: HIPS ``autograd.hessian``.
A framework that is not installed is reported as absent; a run predicted to take over
``--limit`` seconds is skipped and shown as "skip".  Ratios are the other column's time over
matcalc's (so 50x means matcalc is 50 times faster); "mc/closed" is matcalc over the closed form.
The peak memory of one matcalc Hessian evaluation is measured with tracemalloc, as a multiple
of the Hessian's own size (inputs already allocated are not counted), beside the same measure
for the hand-written closed form.  At small n NumPy's own iteration buffer (64 KB for
``A + A.T`` with mixed memory orders) and np.kron's temporary dominate that ratio.

    python bench/hessian.py            # n = 100, 300, 1000, 2000
    python bench/hessian.py --quick    # n = 100, 300, 1000
    python bench/hessian.py --plot     # also write bench/results/hessian.png
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PROBLEMS, THREADS_NOTE, autograd_fn, frameworks, jax_fn, median_time,  # noqa: E402
                     ms, torch_fn)

import numpy as np                                  # noqa: E402

import matcalc                                      # noqa: E402

METHODS = ("matcalc", "closed", "jax", "torch", "torch-vec", "autograd")


def runners(name, prob, d, fw):
    """{method: zero-argument callable computing the Hessian} for what is installed."""
    out = {}
    wrt = prob["wrt"]
    torch, jax = fw["torch"], fw["jax"]
    if torch is not None:
        f, x0 = torch_fn(name, torch, d)
        out["torch"] = lambda f=f, x0=x0: torch.autograd.functional.hessian(f, x0)
        out["torch-vec"] = lambda f=f, x0=x0: torch.autograd.functional.hessian(
            f, x0, vectorize=True)
    if jax is not None:
        f, x0 = jax_fn(name, jax, d)
        h = jax.jit(jax.hessian(f))
        out["jax"] = (h, x0)
    if fw["autograd"] is not None:
        import autograd
        f, x0 = autograd_fn(name, d)
        h = autograd.hessian(f)
        out["autograd"] = lambda h=h, x0=x0: h(x0)
    out["closed"] = lambda: prob["hessian"](**d)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--plot", action="store_true")
    ap.add_argument("--limit", type=float, default=20.0, help="skip runs predicted longer")
    args = ap.parse_args(argv)
    sizes = (100, 300, 1000) if args.quick else (100, 300, 1000, 2000)
    fw = frameworks()
    print(f"# Hessians — {THREADS_NOTE}")
    print("# frameworks: " + ", ".join(f"{k} {'absent' if v is None else getattr(v, '__version__', 'installed')}"
                                       for k, v in fw.items()))
    results = {}
    targets = []
    rng = np.random.default_rng(0)
    for name, prob in PROBLEMS.items():
        t0 = time.perf_counter()
        hess = matcalc.compile(prob["text"], prob["wrt"], value=False, hessian=True)
        setup = time.perf_counter() - t0
        print(f"\n## {name}: H = {hess.exprs['hessian'].unicode()}   "
              f"(matcalc derive + compile: {setup * 1e3:.1f} ms)")
        print(f"{'n':>5} {'matcalc':>9} {'closed':>9} {'mc/closed':>9} {'peak/H':>7} {'(closed)':>8} "
              + " ".join(f"{m:>16}" for m in METHODS[2:]) + "   (ms; ×: time / matcalc)")
        last: dict = {}
        for n in sizes:
            d = prob["data"](n, rng)
            row = {}
            want = prob["hessian"](**d)
            got = hess(**d)
            if not np.allclose(got, want, rtol=1e-8, atol=1e-8 * np.abs(want).max()):
                print(f"  WRONG: matcalc's Hessian differs from the closed form at n = {n}")
            row["matcalc"] = median_time(lambda: hess(**d))
            tracemalloc.start()
            tracemalloc.reset_peak()
            h = hess(**d)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            peak_ratio = peak / h.nbytes
            del h
            tracemalloc.start()
            tracemalloc.reset_peak()
            h = prob["hessian"](**d)
            closed_peak = tracemalloc.get_traced_memory()[1] / h.nbytes
            tracemalloc.stop()
            del h
            extra = {}
            for method, run in runners(name, prob, d, fw).items():
                if method in last and last[method][1] * (n / last[method][0]) ** 3 > args.limit:
                    row[method] = "skip"
                    continue
                if method == "jax":
                    h, x0 = run
                    t0 = time.perf_counter()
                    h(x0).block_until_ready()
                    extra["jax-compile"] = time.perf_counter() - t0
                    row[method] = median_time(lambda: h(x0).block_until_ready())
                else:
                    row[method] = median_time(run)
                last[method] = (n, row[method])
            results[(name, n)] = row
            mc = row["matcalc"]
            cells = []
            for m in METHODS[2:]:
                v = row.get(m)
                if v is None:
                    cells.append(f"{'absent':>16}")
                elif v == "skip":
                    cells.append(f"{'skip':>16}")
                else:
                    cells.append(f"{ms(v) + f' ({v / mc:.1f}×)':>16}")
            print(f"{n:>5} {ms(mc):>9} {ms(row['closed']):>9} {mc / row['closed']:>9.2f} "
                  f"{peak_ratio:>7.2f} {closed_peak:>8.2f} " + " ".join(cells)
                  + (f"   jax compile {ms(extra['jax-compile'])} ms" if "jax-compile" in extra
                     else ""))
            targets.append((f"{name} n={n}: matcalc within 1.3x of closed form",
                            mc / row["closed"] <= 1.3, f"{mc / row['closed']:.2f}x"))
            targets.append((f"{name} n={n}: peak memory <= 2x the Hessian",
                            peak_ratio <= 2.0, f"{peak_ratio:.2f}x (closed form: "
                                               f"{closed_peak:.2f}x)"))
            if n == 1000 and name in ("x'Ax", "logistic"):
                for m, want in (("torch", 100 if name == "x'Ax" else 15),
                                ("jax", 15 if name == "x'Ax" else 1.8)):
                    v = row.get(m)
                    if isinstance(v, float):
                        targets.append((f"{name} n=1000: >= {want}x faster than {m}",
                                        v / mc >= want, f"{v / mc:.1f}x"))
                    else:
                        targets.append((f"{name} n=1000: >= {want}x faster than {m}", None,
                                        "absent" if v is None else "skipped"))
    print("\n## targets")
    for what, ok, got in targets:
        print(f"  {'PASS' if ok else ('MISS' if ok is False else 'N/A ')}  {what}: {got}")
    if args.plot:
        plot(results, sizes, Path(__file__).resolve().parent / "results" / "hessian.png")


def plot(results, sizes, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib absent: no plot")
        return
    fig, axes = plt.subplots(1, len(PROBLEMS), figsize=(4 * len(PROBLEMS), 3.6))
    for ax, name in zip(axes, PROBLEMS):
        for m in METHODS:
            pts = [(n, results[(name, n)].get(m)) for n in sizes]
            pts = [(n, t) for n, t in pts if isinstance(t, float)]
            if pts:
                ax.loglog(*zip(*pts), marker="o", label=m,
                          linewidth=2.5 if m == "matcalc" else 1)
        ax.set_title(f"Hessian: {name}")
        ax.set_xlabel("n")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds (median, 1 BLAS thread)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
