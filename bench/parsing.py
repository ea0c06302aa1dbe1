"""Parse time alone: the median of ``matcalc.parse.parse`` on short queries and one long one.

For each text: the median over many calls after a warm-up ("warm", the same text again),
and the median when every call renames the variables (x -> x_r1, x_r2, ...) so that nothing
an earlier call made can be reused ("renamed").  The disk cache goes to a fresh temporary
folder unless MATCALC_CACHE_DIR is set, so stale Lark tables are never measured.

    python bench/parsing.py           # 2,000 calls per text (100 for the long product)
    python bench/parsing.py 500
"""

from __future__ import annotations

import gc
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MATCALC_CACHE_DIR", tempfile.mkdtemp(prefix="matcalc-bench-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # measure this checkout
import matcalc  # noqa: E402
from matcalc.parse import parse  # noqa: E402

LONG = "*".join(f"A{i}" for i in range(200))
QUERIES = ["a'*x", "x'*A*x", "norm2(A*x - b)^2", "x'*A*x + b'*x", "tr(A*X*B*X')",
           "sum(log(vector(1) + exp(-y.*(X*w))))", LONG]
FUNCTIONS = {"norm2", "tr", "sum", "log", "vector", "exp"}


def rename(text: str, i: int) -> str:
    return re.sub(r"[A-Za-z_][A-Za-z0-9_]*",
                  lambda m: m.group(0) if m.group(0) in FUNCTIONS else f"{m.group(0)}_r{i}", text)


def median_us(texts: list[str]) -> float:
    times = []
    for text in texts:
        t = time.perf_counter()
        parse(text)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def main(argv: list[str]) -> None:
    calls = int(argv[0]) if argv else 2000
    print(f"matcalc from {Path(matcalc.__file__).parent}; median of {calls} calls (µs)")
    gc.disable()
    for text in QUERIES:
        n = calls if text is not LONG else max(50, calls // 20)
        for _ in range(20):
            parse(text)
        warm = median_us([text] * n)
        renamed = median_us([rename(text, i) for i in range(n)])
        label = text if text is not LONG else "A0*A1*...*A199 (200 factors)"
        print(f"  {label:40s} warm {warm:8.1f}   renamed {renamed:8.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
