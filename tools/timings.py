"""Per-query matcalc timings of two checkouts side by side, run in turns on the same machine.

A speed change should say what it does to every benchmark query, not only the ones it aims
at (3b0e409 sped up exp(x) and slowed tr(A*X*B*X') from 334 to 493 µs, unseen).  This script
times bench/symbolic.py's queries in each checkout, alternating the checkouts round by round
so that a busy machine slows both alike, and prints the best time of each and the ratio.

    git worktree add /tmp/base <commit>
    python tools/timings.py /tmp/base .                 # base vs this checkout
    python tools/timings.py /tmp/base . --rounds 5 --reps 300

Each checkout runs in its own Python process (its own matcalc), so the two never share
caches.  Best of ``reps`` warm calls per query and round, best over the rounds: the minimum
is what the code costs; the bench's medians add the machine's noise.  Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run in the checkout's own process: its matcalc, the bench's queries from this checkout.
_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import matcalc
queries = json.loads(sys.argv[2])
reps = int(sys.argv[3])
out = []
for text, wrt, hessian in queries:
    f = matcalc.hessian if hessian else matcalc.diff
    f(text, wrt)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        f(text, wrt)
        best = min(best, time.perf_counter() - start)
    out.append(best * 1e6)
print(json.dumps({"file": matcalc.__file__, "us": out}))
"""


def bench_queries() -> list[tuple[str, str, bool]]:
    """(text, variable, whether a Hessian) of bench/symbolic.py's Table 1."""
    sys.path.insert(0, str(ROOT / "bench"))
    import symbolic
    return [(q.text, q.wrt, q.hessian) for q in symbolic.QUERIES]


def run(root: Path, queries: list, reps: int) -> list[float]:
    got = subprocess.run([sys.executable, "-c", _CHILD, str(root.resolve()),
                          json.dumps(queries), str(reps)],
                         capture_output=True, text=True, check=True, cwd=root)
    result = json.loads(got.stdout)
    if Path(result["file"]).resolve().parents[1] != root.resolve():
        sys.exit(f"imported {result['file']}, not the matcalc of {root}")
    return result["us"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="the base checkout")
    ap.add_argument("new", type=Path, help="the checkout to compare with it")
    ap.add_argument("--rounds", type=int, default=3, help="turns of each checkout (default 3)")
    ap.add_argument("--reps", type=int, default=150, help="calls per query and turn")
    args = ap.parse_args()
    queries = bench_queries()
    best = {"old": [float("inf")] * len(queries), "new": [float("inf")] * len(queries)}
    for _ in range(args.rounds):
        for side in ("old", "new"):
            times = run(getattr(args, side), queries, args.reps)
            best[side] = [min(a, b) for a, b in zip(best[side], times)]
    width = max(len(t) + 14 for t, _, _ in queries)
    print(f"{'query':<{width}}  {'old µs':>8}  {'new µs':>8}  {'new/old':>7}")
    for (text, wrt, hessian), a, b in zip(queries, best["old"], best["new"]):
        name = f"{'hessian ' if hessian else ''}{text} wrt {wrt}"
        flag = "  slower" if b > 1.05 * a else ""
        print(f"{name:<{width}}  {a:8.0f}  {b:8.0f}  {b / a:7.2f}{flag}")


if __name__ == "__main__":
    main()
