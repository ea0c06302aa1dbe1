"""Cold start of the command line: whole-process wall time, median of several runs.

    python bench/cli_startup.py [--runs 15]

The floor is ``python -c "import lark, yaml"``: no tool on these dependencies can start
faster.  The target (issue 5) is a symbolic one-shot query within 2x of it, which means it
must not import NumPy (``import numpy`` alone is shown for scale).  "warm" runs use the disk
cache (matcalc/cache.py) in a fresh temporary folder filled by one untimed run; "no cache"
runs with ``MATCALC_CACHE_DIR=off``, which is also what the very first run costs.

Every run may write and use ``.pyc`` files, as after ``pip install`` (which compiles them):
with ``PYTHONDONTWRITEBYTECODE=1`` and an editable install, as on the development machine,
matcalc would be compiled from source at every start (about 30 ms more).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

QUERY = "x'*A*x"


def _time(cmd: list[str], env: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - start)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed: {r.stderr.decode(errors='replace')}")
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    py = sys.executable
    mc = [py, "-m", "matcalc"]
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as folder:
        warm = dict(base, MATCALC_CACHE_DIR=folder)
        off = dict(base, MATCALC_CACHE_DIR="off")
        subprocess.run(mc + ["diff", QUERY, "--wrt", "x"], env=warm, capture_output=True)
        subprocess.run(mc + ["-c", "1"], env=warm, capture_output=True)
        cases = [
            ("floor: python -c 'import lark, yaml'", [py, "-c", "import lark, yaml"], warm),
            ("python -c 'import numpy'", [py, "-c", "import numpy"], warm),
            ("matcalc --version", mc + ["--version"], warm),
            (f'matcalc diff "{QUERY}" --wrt x (warm)', mc + ["diff", QUERY, "--wrt", "x"], warm),
            (f'matcalc -c "d/dx {QUERY}" (warm)', mc + ["-c", f"d/dx {QUERY}"], warm),
            ('matcalc hessian "x\'*A*x" --wrt x (warm)',
             mc + ["hessian", QUERY, "--wrt", "x"], warm),
            (f'matcalc diff "{QUERY}" --wrt x (no cache)',
             mc + ["diff", QUERY, "--wrt", "x"], off),
        ]
        rows = [(label, _time(cmd, env, args.runs)) for label, cmd, env in cases]
    floor = rows[0][1]
    width = max(len(label) for label, _ in rows)
    print(f"{'command':<{width}}  {'median':>8}  {'x floor':>7}")
    for label, t in rows:
        print(f"{label:<{width}}  {t * 1000:6.0f}ms  {t / floor:6.2f}x")
    print(f"({args.runs} runs each, Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
