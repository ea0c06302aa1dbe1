"""Gradients: matcalc's compiled gradient beside hand-written NumPy and autodiff frameworks.

The problems of bench/hessian.py, gradients only, for n in 100, 1000, 4000.  Columns, medians
in this one process: matcalc (``compile(text, wrt, value=False, grad=True)``), the gradient
written by hand in NumPy, the ratio of the two (target: within 1.2x for n >= 1000), matcalc's
function evaluation alone and the ratio gradient time / function time (the cheap gradient
principle says a small constant), then ``jax.jit(jax.grad(f))``, PyTorch backward and HIPS
autograd where installed (absent otherwise), as time / matcalc.

    python bench/gradient.py            # n = 100, 1000, 4000
    python bench/gradient.py --quick    # n = 100, 1000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (PROBLEMS, THREADS_NOTE, autograd_fn, frameworks, jax_fn, median_time,  # noqa: E402
                     ms, torch_fn)

import numpy as np                                  # noqa: E402

import matcalc                                      # noqa: E402

OTHERS = ("jax", "torch", "autograd")


def others(name, d, fw):
    out = {}
    torch, jax = fw["torch"], fw["jax"]
    if jax is not None:
        f, x0 = jax_fn(name, jax, d)
        g = jax.jit(jax.grad(f))
        g(x0).block_until_ready()                   # compile outside the timing
        out["jax"] = lambda g=g, x0=x0: g(x0).block_until_ready()
    if torch is not None:
        f, x0 = torch_fn(name, torch, d)

        def run(f=f, x0=x0):
            x = x0.detach().requires_grad_(True)
            f(x).backward()
            return x.grad
        out["torch"] = run
    if fw["autograd"] is not None:
        import autograd
        f, x0 = autograd_fn(name, d)
        g = autograd.grad(f)
        out["autograd"] = lambda g=g, x0=x0: g(x0)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    sizes = (100, 1000) if args.quick else (100, 1000, 4000)
    fw = frameworks()
    print(f"# Gradients — {THREADS_NOTE}")
    print("# frameworks: " + ", ".join(f"{k} {'absent' if v is None else getattr(v, '__version__', 'installed')}"
                                       for k, v in fw.items()))
    targets = []
    rng = np.random.default_rng(0)
    for name, prob in PROBLEMS.items():
        grad = matcalc.compile(prob["text"], prob["wrt"], value=False, grad=True)
        value = matcalc.compile(prob["text"], prob["wrt"])
        print(f"\n## {name}: ∇ = {grad.exprs['grad'].unicode()}")
        print(f"{'n':>5} {'matcalc':>9} {'by hand':>9} {'mc/hand':>8} {'f(x)':>9} {'∇/f':>6} "
              + " ".join(f"{m:>16}" for m in OTHERS) + "   (ms; ×: time / matcalc)")
        for n in sizes:
            d = prob["data"](n, rng)
            want = prob["grad"](**d)
            if not np.allclose(grad(**d), want, rtol=1e-8, atol=1e-8 * np.abs(want).max()):
                print(f"  WRONG: matcalc's gradient differs from the hand-written one at n = {n}")
            mc = median_time(lambda: grad(**d))
            hand = median_time(lambda: prob["grad"](**d))
            fx = median_time(lambda: value(**d))
            cells = []
            got = others(name, d, fw)
            for m in OTHERS:
                if m not in got:
                    cells.append(f"{'absent':>16}")
                else:
                    t = median_time(got[m])
                    cells.append(f"{ms(t) + f' ({t / mc:.1f}×)':>16}")
            print(f"{n:>5} {ms(mc):>9} {ms(hand):>9} {mc / hand:>8.2f} {ms(fx):>9} "
                  f"{mc / fx:>6.2f} " + " ".join(cells))
            if n >= 1000:
                targets.append((f"{name} n={n}: gradient within 1.2x of hand-written NumPy",
                                mc / hand <= 1.2, f"{mc / hand:.2f}x"))
    print("\n## targets")
    for what, ok, got in targets:
        print(f"  {'PASS' if ok else 'MISS'}  {what}: {got}")


if __name__ == "__main__":
    main()
