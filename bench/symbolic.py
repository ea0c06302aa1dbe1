"""Symbolic differentiation: matcalc beside SymPy's matrix expressions.

Measures, in one run:

1. Latency per query (Table 1).  Twenty textbook queries (x'*A*x, log(det(X)), two Hessians,
   ...).  For each: the median time of ``matcalc.diff`` (``matcalc.hessian``) on the same
   text after one untimed call ("warm"); the median when every repetition renames the
   variables (x'*A*x, then x_r1'*A_r1*x_r1, ...) so that nothing from an earlier call can be
   reused ("cold-ish"); and the median of the same query typed by hand into SymPy
   (``MatrixSymbol`` with symbolic sizes, ``expr.diff(X)``).  Both sides include building the
   expression (matcalc parses text, SymPy constructs the expression tree).  Where SymPy gives
   no answer (raises, returns 0, returns the derivative unevaluated) the row shows "—" and a
   note says why.  The targets (every matcalc query under 1 ms warm; at least 30x faster than
   SymPy on each query SymPy answers) are printed as PASS/MISS, for information only.

   What matcalc keeps between calls: the parser, the language and the compiled rules
   (``functools.lru_cache``, loaded once).  Nothing per query: each Simplifier has its own
   memo, and the hash-consing table of ``matcalc.expr`` is weak, so nodes live only while an
   expression refers to them.  The cold-ish column checks that claim by measurement.

2. Scaling with depth N = 2, 4, ..., 512 (Table 2):
   (a) tr(A1*X*A2*X*...*AN*X) with respect to X (all n×n), against SymPy;
   (b) sum(tanh(W1*tanh(W2*...tanh(WN*x)...))) with respect to x (a gradient);
   (c) tanh(W1*tanh(W2*...tanh(WN*x)...)) with respect to x (a Jacobian).
   For each N: the time (median of up to 5 runs; one run once a case takes over a second),
   the growth ratio time(N)/time(N/2), the number of distinct nodes of the answer
   (``Expr.node_count()``, the DAG size) and its growth ratio, the number of operands of
   those nodes (the DAG's edges: what any algorithm must at least write) and its growth ratio,
   and "steps": the rule applications in the derivation's trace (differentiation and
   simplification).  Table 2
   calls ``matcalc.diff.derive`` (``matcalc.diff`` is its ``.result``) to read the trace.
   Guards: matcalc runs at N only if N/2 took under 10 s, and each call is stopped after 60 s
   (SymPy: 20 s); a stopped case prints "> limit (stopped)".  The limit uses SIGALRM, so it
   is enforced only on platforms that have it (not Windows).

Nothing here asserts: this is a script that prints numbers, not a test.

Run (about 5 minutes; ``--quick`` takes under one):

    python bench/symbolic.py            # full run
    python bench/symbolic.py --quick    # fewer repetitions, N up to 64, tighter limits
    python bench/symbolic.py --verbose  # also print each answer (matcalc and SymPy)
    python bench/symbolic.py --no-sympy # as if SymPy were not installed
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import re
import signal
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version as _version
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))                  # measure the checkout this script lives in
import matcalc  # noqa: E402
from matcalc.diff import derive  # noqa: E402

try:
    import sympy
except ImportError:
    sympy = None


@dataclass
class Settings:
    """Repetitions and limits: the full run, or ``--quick``."""

    matcalc_reps: tuple[int, int, float]     # (min, max, seconds budget) per query
    sympy_reps: tuple[int, int, float]
    depths: tuple[int, ...]
    scaling_reps: int                          # runs per case while a run is cheap
    repeat_below: float                        # ... "cheap": a run under this many seconds
    matcalc_next_below: float                  # run N only if N/2 took less than this
    matcalc_limit: float                       # seconds before one matcalc call is stopped
    sympy_limit: float
    query_limit: float = 120.0                 # seconds for one whole Table 1 measurement


FULL = Settings(matcalc_reps=(20, 200, 0.5), sympy_reps=(5, 30, 1.0),
                depths=(2, 4, 8, 16, 32, 64, 128, 256, 512), scaling_reps=5, repeat_below=1.0,
                matcalc_next_below=10.0, matcalc_limit=60.0, sympy_limit=20.0)
QUICK = Settings(matcalc_reps=(5, 20, 0.1), sympy_reps=(2, 5, 0.2),
                 depths=(2, 4, 8, 16, 32, 64), scaling_reps=3, repeat_below=0.2,
                 matcalc_next_below=2.0, matcalc_limit=5.0, sympy_limit=5.0, query_limit=20.0)

MS_TARGET = 1e-3           # every matcalc query under 1 ms (warm median)
RATIO_TARGET = 30.0        # at least 30x faster than SymPy where SymPy answers


# ---------------------------------------------------------------- timing

class Stopped(BaseException):
    """Raised by the time limit (a BaseException, so no ``except Exception`` swallows it)."""


@contextmanager
def time_limit(seconds: float | None):
    """Interrupt the block after ``seconds`` with :class:`Stopped` (where SIGALRM exists)."""
    if (seconds is None or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()):
        yield
        return

    def alarm(signum, frame):
        raise Stopped

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def median_time(fn: Callable[[int], object], reps: tuple[int, int, float]) -> float:
    """Median seconds of ``fn(i)`` for i = 1, 2, ... after an untimed ``fn(0)``.

    Repeats at least ``reps[0]`` and at most ``reps[1]`` times, stopping once ``reps[2]``
    seconds have been spent (and the minimum is reached).
    """
    low, high, budget = reps
    fn(0)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < high and (len(times) < low or time.perf_counter() - start < budget):
        t = time.perf_counter()
        fn(len(times) + 1)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fmt_time(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1e-3:
        return f"{t * 1e6:.0f} µs"
    if t < 1.0:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "—"
    return f"{r:.2g}x" if r < 1 else f"{r:.1f}x" if r < 100 else f"{r:.0f}x"


def table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    """Plain text table; the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.ljust(w) if i < left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule] + [line(r) for r in rows])


# ---------------------------------------------------------------- Table 1: the queries

@dataclass
class Query:
    text: str
    wrt: str
    sympy: Callable[[SimpleNamespace], object] | None   # builds and differentiates in SymPy
    expect: str | None = None         # SymPy's correct answer (denominator layout), as printed
    hessian: bool = False

    @property
    def label(self) -> str:
        return f"hessian({self.text}) wrt {self.wrt}" if self.hessian else \
            f"{self.text} wrt {self.wrt}"


def _logistic(S):
    """sum(log(1 + exp(-y .* (X*w)))) in SymPy: a ones-row times an elementwise log."""
    sp = S.sp
    ones = sp.OneMatrix(S.m, 1)
    z = -sp.HadamardProduct(S.y, S.Xmn * S.w)
    return ones.T * (ones + z.applyfunc(sp.exp)).applyfunc(sp.log)


QUERIES = [
    Query("a'*x", "x", lambda S: (S.a.T * S.x).diff(S.x), "a"),
    Query("x'*A*x", "x", lambda S: (S.x.T * S.A * S.x).diff(S.x), "A*x + A.T*x"),
    Query("A*x", "x", lambda S: (S.Amn * S.x).diff(S.x), "A.T"),
    Query("x'*A", "x", lambda S: (S.x.T * S.Ank).diff(S.x), "A"),
    Query("norm2(x)^2", "x", lambda S: (S.x.T * S.x).diff(S.x), "2*x"),
    Query("norm2(x)", "x", lambda S: ((S.x.T * S.x) ** S.sp.Rational(1, 2)).diff(S.x),
          "x*(x.T*x)**(-1/2)"),
    Query("norm2(A*x - b)^2", "x",
          lambda S: ((S.Amn * S.x - S.bm).T * (S.Amn * S.x - S.bm)).diff(S.x),
          "2*A.T*(A*x - b)"),
    Query("exp(x)", "x", lambda S: S.x.applyfunc(S.sp.exp).diff(S.x),
          "DiagMatrix(Lambda(_d, exp(_d)).(x))"),
    Query("tr(A*X)", "X", lambda S: S.sp.Trace(S.A * S.X).diff(S.X), "A.T"),
    Query("a'*X*b", "X", lambda S: (S.a.T * S.X * S.b).diff(S.X), "a*b.T"),
    Query("tr(X'*A*X)", "X", lambda S: S.sp.Trace(S.X.T * S.A * S.X).diff(S.X),
          "A*X + A.T*X"),
    Query("log(det(X))", "X", lambda S: S.sp.log(S.sp.Determinant(S.X)).diff(S.X),
          "X.T**(-1)"),
    Query("det(X)", "X", lambda S: S.sp.Determinant(S.X).diff(S.X),
          "Determinant(X)*X.T**(-1)"),
    Query("tr(inv(X)*A)", "X", lambda S: S.sp.Trace(S.sp.Inverse(S.X) * S.A).diff(S.X),
          "-X.T**(-1)*A.T*X.T**(-1)"),
    Query("A*X*B", "X", lambda S: (S.Amn * S.Xnp * S.Bpq).diff(S.Xnp),
          "PermuteDims(ArrayTensorProduct(A.T, B), (3)(1 2))"),
    Query("x'*A*x", "x", lambda S: (S.x.T * S.A * S.x).diff(S.x).diff(S.x), "A + A.T",
          hessian=True),
    Query("sum(log(vector(1) + exp(-y.*(X*w))))", "w",
          lambda S: _logistic(S).diff(S.w).diff(S.w), None, hessian=True),
    Query("x'*A*x + b'*x", "x", lambda S: (S.x.T * S.A * S.x + S.b.T * S.x).diff(S.x),
          "A*x + b + A.T*x"),
    Query("(A*x)'*(B*x)", "x", lambda S: ((S.A * S.x).T * (S.B * S.x)).diff(S.x),
          "A.T*B*x + B.T*A*x"),
    Query("tr(A*X*B*X')", "X", lambda S: S.sp.Trace(S.A * S.X * S.B * S.X.T).diff(S.X),
          "A*X*B + A.T*X*B.T"),
]


def sympy_symbols() -> SimpleNamespace:
    """Symbolic sizes and the matrix symbols the SymPy translations use (made once)."""
    sp = sympy
    n, m, k, p, q = sp.symbols("n m k p q", integer=True, positive=True)
    M = sp.MatrixSymbol
    return SimpleNamespace(
        sp=sp, n=n, m=m,
        x=M("x", n, 1), a=M("a", n, 1), b=M("b", n, 1), w=M("w", n, 1),
        A=M("A", n, n), B=M("B", n, n), X=M("X", n, n),
        Amn=M("A", m, n), bm=M("b", m, 1), Ank=M("A", n, k), y=M("y", m, 1),
        Xmn=M("X", m, n), Xnp=M("X", n, p), Bpq=M("B", p, q))


def sympy_verdict(fn: Callable[[], object], expect: str | None) -> tuple[bool, str, str]:
    """(answered, note, answer text) for one SymPy query, from one untimed call."""
    try:
        result = fn()
    except Exception as exc:                    # noqa: BLE001 - we report whatever it raises
        msg = str(exc).strip() or "(no message)"
        return False, f"raises {type(exc).__name__}: {msg}", ""
    text = str(result)
    if result == 0 or isinstance(result, sympy.ZeroMatrix) or getattr(result, "is_zero", False):
        return False, f"returns {text}, which is wrong" + \
            (f" (the answer is {expect})" if expect else ""), text
    if result.has(sympy.Derivative) or type(result).__name__ == "ArrayDerivative":
        return False, f"returns the derivative unevaluated: {text}", text
    if expect is not None and text != expect:
        return True, f"answered, but not in the expected form {expect!r}: {text}", text
    return True, "", text


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def renamer(text: str) -> Callable[[str, int], str]:
    """A function giving ``text`` with every variable v renamed v_r{i} (first letter kept,
    so each name keeps its default kind)."""
    names = set(matcalc.parse(text).variables())

    def rename(s: str, i: int) -> str:
        return _NAME.sub(lambda mo: f"{mo.group()}_r{i}" if mo.group() in names else mo.group(),
                         s)
    return rename


@dataclass
class Row:
    query: Query
    warm: float | None = None
    cold: float | None = None
    sympy: float | None = None
    answer: str = ""
    sympy_answer: str = ""
    error: str = ""
    notes: list[str] = field(default_factory=list)
    sympy_note: str = ""
    sympy_answered: bool = False


def matcalc_call(q: Query, text: str, wrt: str):
    return (matcalc.hessian if q.hessian else matcalc.diff)(text, wrt)


def run_query(q: Query, cfg: Settings, S: SimpleNamespace | None) -> Row:
    row = Row(q)
    try:
        with time_limit(cfg.query_limit):
            row.answer = str(matcalc_call(q, q.text, q.wrt))
            row.warm = median_time(lambda i: matcalc_call(q, q.text, q.wrt), cfg.matcalc_reps)
            rename = renamer(q.text)
            texts = [(rename(q.text, i), rename(q.wrt, i)) for i in range(cfg.matcalc_reps[1] + 1)]
            renamed = str(matcalc_call(q, *texts[0]))
            if renamed.replace("_r0", "") != row.answer:
                row.notes.append(f"renamed query answers differently: {renamed}")
            row.cold = median_time(lambda i: matcalc_call(q, *texts[i]), cfg.matcalc_reps)
    except Stopped:
        row.error = f"stopped after {cfg.query_limit:.0f} s"
    except Exception as exc:                    # noqa: BLE001 - an error is a finding
        row.error = f"{type(exc).__name__}: {exc}"
    if S is None or q.sympy is None:
        return row
    fn = lambda: q.sympy(S)                     # noqa: E731
    try:
        with time_limit(cfg.query_limit):
            row.sympy_answered, row.sympy_note, row.sympy_answer = sympy_verdict(fn, q.expect)
            if row.sympy_answered:
                row.sympy = median_time(lambda i: fn(), cfg.sympy_reps)
    except Stopped:
        row.sympy_answered, row.sympy_note = False, f"stopped after {cfg.query_limit:.0f} s"
    return row


def table1(cfg: Settings, use_sympy: bool, verbose: bool) -> None:
    print("\nTable 1 — latency per query (median; warm = same text again, cold-ish = variables "
          "renamed every repetition)")
    lo, hi, _ = cfg.matcalc_reps
    slo, shi, _ = cfg.sympy_reps
    print(f"  matcalc {lo}–{hi} repetitions per column, SymPy {slo}–{shi}; "
          "SymPy/matcalc uses the warm medians\n")
    S = sympy_symbols() if use_sympy else None
    rows = [run_query(q, cfg, S) for q in QUERIES]

    notes: list[str] = []
    out = []
    for i, r in enumerate(rows, 1):
        mark = ""
        if r.error or r.notes or r.sympy_note:
            notes.append(f"[{i}] {r.query.label}: " + "; ".join(
                ([f"matcalc raised {r.error}"] if r.error else []) + r.notes +
                ([f"SymPy {r.sympy_note}"] if r.sympy_note else [])))
            mark = f" [{i}]"
        if not use_sympy:
            sym = "absent"
        elif r.sympy_answered:
            sym = fmt_time(r.sympy)
        else:
            sym = "—"
        ratio = r.sympy / r.warm if r.sympy and r.warm else None
        under = "—" if r.warm is None else "PASS" if r.warm < MS_TARGET else "MISS"
        faster = ("PASS" if ratio >= RATIO_TARGET else "MISS") if ratio is not None else "n/a"
        out.append([f"{i:2d}. {r.query.label}{mark}", fmt_time(r.warm), fmt_time(r.cold),
                    sym, fmt_ratio(ratio), under, faster])
    print(table(["query", "matcalc warm", "cold-ish", "SymPy", "SymPy/matcalc", "<1 ms",
                 f"≥{RATIO_TARGET:.0f}x"], out))

    answered = [r for r in rows if r.warm is not None]
    n_fast = sum(r.warm < MS_TARGET for r in answered)
    compared = [r for r in rows if r.sympy and r.warm]
    n_ratio = sum(r.sympy / r.warm >= RATIO_TARGET for r in compared)
    print(f"\nTargets (information, not assertions):")
    print(f"  every matcalc query under 1 ms warm:          {n_fast}/{len(QUERIES)} rows PASS"
          + (f" (slowest {fmt_time(max(r.warm for r in answered))})" if answered else ""))
    if use_sympy:
        print(f"  ≥{RATIO_TARGET:.0f}x faster than SymPy where SymPy answers: "
              f"{n_ratio}/{len(compared)} rows PASS" +
              (f" (ratios {min(r.sympy / r.warm for r in compared):.1f}x–"
               f"{max(r.sympy / r.warm for r in compared):.1f}x, median "
               f"{statistics.median(r.sympy / r.warm for r in compared):.1f}x)"
               if compared else ""))
    else:
        print("  ≥30x faster than SymPy: SymPy absent, not compared")
    if answered:
        ratios = [r.cold / r.warm for r in answered if r.cold]
        print(f"  cold-ish / warm: median {statistics.median(ratios):.2f}, range "
              f"{min(ratios):.2f}–{max(ratios):.2f} (≈1 means no per-query cache helps)")
    if notes:
        print("\nNotes:")
        for n in notes:
            print("  " + n)
    if verbose:
        print("\nAnswers (matcalc: numerator layout; SymPy: denominator layout):")
        for i, r in enumerate(rows, 1):
            print(f"  {i:2d}. {r.query.label}")
            print(f"      matcalc: {r.answer or r.error}")
            if use_sympy:
                print(f"      SymPy:   {r.sympy_answer or r.sympy_note}")


# ---------------------------------------------------------------- Table 2: scaling

def trace_product(N: int) -> tuple[str, str, dict]:
    text = "tr(" + "*".join(f"A{i}*X" for i in range(1, N + 1)) + ")"
    shapes = {f"A{i}": ("n", "n") for i in range(1, N + 1)} | {"X": ("n", "n")}
    return text, "X", shapes


def tanh_stack(N: int) -> str:
    s = "x"
    for i in range(N, 0, -1):
        s = f"tanh(W{i}*{s})"
    return s


def tanh_shapes(N: int) -> dict:
    return {f"W{i}": ("n", "n") for i in range(1, N + 1)} | {"x": ("n",)}


def tanh_loss(N: int) -> tuple[str, str, dict]:
    return f"sum({tanh_stack(N)})", "x", tanh_shapes(N)


def tanh_jacobian(N: int) -> tuple[str, str, dict]:
    return tanh_stack(N), "x", tanh_shapes(N)


def sympy_trace_product(N: int) -> Callable[[], object]:
    n = sympy.Symbol("n", integer=True, positive=True)
    X = sympy.MatrixSymbol("X", n, n)
    factors = []
    for i in range(1, N + 1):
        factors += [sympy.MatrixSymbol(f"A{i}", n, n), X]
    return lambda: sympy.Trace(sympy.MatMul(*factors)).diff(X)


@dataclass
class Case:
    time: float | None = None
    nodes: int | None = None
    operands: int | None = None     # edges of the answer DAG: a flat product of k factors has k
    steps: int | None = None
    status: str = ""                # "", "stopped", "skipped", "error: ..."
    notes: list[str] = field(default_factory=list)


def timed_runs(fn: Callable[[], object], cfg: Settings, limit: float) -> tuple[float, object]:
    """Median time of one to ``cfg.scaling_reps`` calls (more only while a call is cheap)."""
    times = []
    result = None
    for _ in range(cfg.scaling_reps):
        result = None               # the last answer's nodes (and what is cached about them)
        gc.collect()                # die first, so no repetition starts warmer than the first
        with time_limit(limit):
            t = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t)
        if times[0] >= cfg.repeat_below:
            break
    return statistics.median(times), result


def run_matcalc_case(build: Callable[[int], tuple], N: int, cfg: Settings) -> Case:
    text, wrt, shapes = build(N)
    case = Case()
    try:
        case.time, d = timed_runs(lambda: derive(text, wrt, shapes=shapes), cfg,
                                  cfg.matcalc_limit)
    except Stopped:
        case.status = "stopped"
        return case
    except Exception as exc:                    # noqa: BLE001 - an error is a finding
        case.status = f"error: {type(exc).__name__}: {exc}"
        return case
    walk = d.result.walk()
    case.nodes = len(walk)
    case.operands = sum(len(n.args) for n in walk)
    case.steps = len(d.trace.steps)
    case.notes = [s for s in d.trace.stopped if s != "simplify: fixpoint"]
    return case


def growth(cur, prev) -> str:
    return "" if cur is None or not prev else f"{cur / prev:.2f}"


def scaling_table(title: str, build: Callable[[int], tuple], cfg: Settings,
                  sympy_fn: Callable[[int], Callable] | None, use_sympy: bool) -> list[str]:
    """Print one scaling table; return the findings worth repeating at the end."""
    print(f"\n{title}")
    example, wrt, _ = build(2)
    print(f"  N = 2 is: d/d{wrt} {example}\n")
    findings = []
    rows = []
    prev = Case()
    sym_prev: float | None = 0.0            # None once SymPy was stopped or skipped
    for N in cfg.depths:
        if prev.status or (prev.time is not None and prev.time >= cfg.matcalc_next_below):
            case = Case(status="skipped")
        else:
            case = run_matcalc_case(build, N, cfg)
        if case.status == "skipped" and not prev.status:
            findings.append(f"{title.split(' ')[0]} N≥{N}: matcalc not run, N={N // 2} took "
                            f"{fmt_time(prev.time)} (≥ {cfg.matcalc_next_below:.0f} s)")
        if case.status == "stopped":
            findings.append(f"{title.split(' ')[0]} N={N}: matcalc stopped after "
                            f"{cfg.matcalc_limit:.0f} s")
        elif case.status.startswith("error"):
            findings.append(f"{title.split(' ')[0]} N={N}: matcalc {case.status}")
        for note in case.notes:
            findings.append(f"{title.split(' ')[0]} N={N}: {note}")

        if case.status == "stopped":
            mc = f"> {cfg.matcalc_limit:.0f} s (stopped)"
        elif case.status == "skipped":
            mc = "skipped (too slow)"
        elif case.status:
            mc = "error (see below)"
        else:
            mc = fmt_time(case.time)

        cells = [str(N), mc, growth(case.time, prev.time),
                 "" if case.nodes is None else str(case.nodes), growth(case.nodes, prev.nodes),
                 "" if case.operands is None else str(case.operands),
                 growth(case.operands, prev.operands),
                 "" if case.steps is None else str(case.steps)]
        if sympy_fn is not None:
            if not use_sympy:
                sym, ratio = "absent", ""
            elif sym_prev is None:
                sym, ratio = "skipped (too slow)", ""
            else:
                try:
                    t, _ = timed_runs(sympy_fn(N), cfg, cfg.sympy_limit)
                    sym = fmt_time(t)
                    ratio = fmt_ratio(t / case.time) if case.time else ""
                    sym_prev = t if t < cfg.sympy_limit else None
                except Stopped:
                    sym, ratio, sym_prev = f"> {cfg.sympy_limit:.0f} s (stopped)", "", None
                except Exception as exc:        # noqa: BLE001
                    sym, ratio, sym_prev = f"error: {type(exc).__name__}", "", None
            cells += [sym, ratio]
        rows.append(cells)
        prev = case
    headers = ["N", "matcalc", "×time", "nodes", "×nodes", "operands", "×operands", "steps"]
    if sympy_fn is not None:
        headers += ["SymPy", "SymPy/matcalc"]
    print(table(headers, rows))
    return findings


def table2(cfg: Settings, use_sympy: bool) -> None:
    print("\nTable 2 — scaling with depth N (×time = time(N)/time(N/2), ×nodes likewise; "
          "nodes = distinct nodes of the answer DAG; operands = its edges, the operands of "
          "those nodes: a flat product of k factors counts k, so (a)'s sum of N products of "
          "2N factors is quadratic in N as matcalc stores products, flat; nested products "
          "sharing their prefixes and suffixes could hold it in linear space)")
    print(f"  matcalc runs at N only if N/2 took < {cfg.matcalc_next_below:.0f} s; one call is "
          f"stopped after {cfg.matcalc_limit:.0f} s, a SymPy call after {cfg.sympy_limit:.0f} s")
    findings = []
    findings += scaling_table("(a) trace of a product: tr(A1*X*A2*X*...*AN*X) wrt X",
                              trace_product, cfg, sympy_trace_product, use_sympy)
    findings += scaling_table("(b) gradient of sum(tanh(W1*tanh(W2*...tanh(WN*x)))) wrt x",
                              tanh_loss, cfg, None, use_sympy)
    findings += scaling_table("(c) Jacobian of tanh(W1*tanh(W2*...tanh(WN*x))) wrt x",
                              tanh_jacobian, cfg, None, use_sympy)
    if findings:
        print("\nmatcalc findings in Table 2:")
        for f in findings:
            print("  " + f)


# ---------------------------------------------------------------- main

def pkg_version(name: str) -> str:
    try:
        return _version(name)
    except PackageNotFoundError:
        return "absent"


def header(cfg_name: str, use_sympy: bool) -> None:
    print("Symbolic differentiation benchmark: matcalc vs SymPy "
          f"({cfg_name} run)")
    print(f"  python {platform.python_version()} ({platform.python_implementation()}), "
          f"numpy {pkg_version('numpy')}, "
          f"sympy {sympy.__version__ if sympy is not None and use_sympy else 'absent'}, "
          f"lark {pkg_version('lark')}")
    print(f"  matcalc {matcalc.__version__} from {Path(matcalc.__file__).parent}")
    print(f"  machine: {platform.platform()}, {platform.machine()}, "
          f"os.cpu_count() = {os.cpu_count()}")
    if not hasattr(signal, "setitimer"):
        print("  note: no SIGALRM on this platform, so the time limits are not enforced")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer repetitions, N up to 64, tighter limits (under a minute)")
    ap.add_argument("--verbose", action="store_true",
                    help="print every answer of Table 1 (matcalc and SymPy)")
    ap.add_argument("--no-sympy", action="store_true", help="run as if SymPy were absent")
    args = ap.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    use_sympy = sympy is not None and not args.no_sympy
    header("quick" if args.quick else "full", use_sympy)
    start = time.perf_counter()
    matcalc.diff("x'*A*x", "x")             # load the parser and the rules once, untimed
    table1(cfg, use_sympy, args.verbose)
    table2(cfg, use_sympy)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
