"""Answers of a fixed corpus of queries, dumped and compared between two checkouts.

A rule or simplifier change should say how many answers it changes, and whether they got
bigger; this script measures that.  The corpus is reproducible: random expressions of the
property test's generator (tests/test_printing.py ``write``; seeds 0..N-1, each a diff by one
of its variables, and a Hessian when it is a scalar), and the bench's textbook queries.

    python tools/answers.py dump NEW.json                   # this checkout's matcalc
    git worktree add /tmp/base <commit>
    python tools/answers.py dump BASE.json --root /tmp/base # that commit's matcalc
    python tools/answers.py compare BASE.json NEW.json      # changed, bigger, refused, ...

The queries always come from this checkout's generator, so both dumps ask the same ones.
Each entry is the answer's text and its DAG node count, or the error it raised.  Nothing here
asserts: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))        # the generator (imported after matcalc)

TEXTBOOK = ["a'*x", "x'*A*x", "A*x", "x'*A", "norm2(x)^2", "norm2(x)", "norm2(A*x - b)^2",
            "exp(x)", "x'*A*x + b'*x", "(A*x)'*(B*x)", "sum(log(vector(1) + exp(-y.*(X*w))))"]
TEXTBOOK_X = ["tr(A*X)", "a'*X*b", "tr(X'*A*X)", "log(det(X))", "det(X)", "tr(inv(X)*A)",
              "A*X*B", "tr(A*X*B*X')"]


def _entry(op, expr, wrt) -> list:
    from matcalc.errors import MatcalcError
    try:
        answer = op(expr, wrt)
    except MatcalcError as exc:
        return ["ERR " + type(exc).__name__, 0]
    return [str(answer), answer.node_count()]


def corpus(seeds: int):
    """(key, expression, variable, op name) for the random seeds and the textbook queries."""
    import matcalc
    from matcalc.errors import MatcalcError
    from test_printing import ASSUME, declared, write
    for seed in range(seeds):
        r = random.Random(seed)
        kind = r.choice("svrm")
        text = write(lambda k: r.randrange(k), kind, r.randint(1, 6), "n")
        try:
            expr = matcalc.parse(text, shapes=declared("n"), assume=ASSUME)
        except MatcalcError:
            continue
        names = sorted(v for v in expr.variables() if v != "α")
        if not names:
            continue
        wrt = r.choice(names)
        yield f"diff {seed}", expr, wrt, "diff"
        if not expr.shape:
            yield f"hessian {seed}", expr, wrt, "hessian"
    for text in TEXTBOOK:
        wrt = "w" if "w" in text else "x"
        yield f"diff {text}", text, wrt, "diff"
        if not matcalc.parse(text).shape:
            yield f"hessian {text}", text, wrt, "hessian"
    for text in TEXTBOOK_X:
        yield f"diff {text}", text, "X", "diff"


def dump(out: Path, seeds: int, root: Path) -> None:
    sys.path.insert(0, str(root))               # the matcalc whose answers are dumped
    import matcalc
    if Path(matcalc.__file__).resolve().parents[1] != root.resolve():
        sys.exit(f"imported {matcalc.__file__}, not the matcalc of {root}")
    start = time.perf_counter()
    answers = {key: _entry(getattr(matcalc, op), expr, wrt)
               for key, expr, wrt, op in corpus(seeds)}
    out.write_text(json.dumps(answers, indent=0, ensure_ascii=False))
    print(f"{len(answers)} answers from {matcalc.__file__} in "
          f"{time.perf_counter() - start:.0f} s -> {out}")


def compare(old: Path, new: Path, show: int) -> None:
    a, b = json.loads(old.read_text()), json.loads(new.read_text())
    common = [k for k in a if k in b]
    changed = [k for k in common if a[k] != b[k]]
    refused = [k for k in changed if b[k][0].startswith("ERR") and not a[k][0].startswith("ERR")]
    answered = [k for k in changed if a[k][0].startswith("ERR") and not b[k][0].startswith("ERR")]
    both = [k for k in changed if k not in refused and k not in answered]
    bigger = [k for k in both if b[k][1] > a[k][1]]
    smaller = [k for k in both if b[k][1] < a[k][1]]
    for kind in ("diff", "hessian"):
        of_kind = [k for k in changed if k.startswith(kind)]
        total = sum(k.startswith(kind) for k in common)
        print(f"{kind}: {len(of_kind)} of {total} changed "
              f"({sum(k in bigger for k in of_kind)} bigger, "
              f"{sum(k in smaller for k in of_kind)} smaller, "
              f"{sum(k in refused for k in of_kind)} newly refused, "
              f"{sum(k in answered for k in of_kind)} newly answered)")
    nodes = sum(b[k][1] - a[k][1] for k in both)
    print(f"nodes over the changed answers: {nodes:+d}")
    for title, keys in (("newly refused", refused), ("bigger", bigger), ("other changes",
                        [k for k in changed if k not in refused and k not in bigger])):
        for k in keys[:show]:
            print(f"\n[{title}] {k}\n  old ({a[k][1]}): {a[k][0]}\n  new ({b[k][1]}): {b[k][0]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="dump this checkout's answers")
    d.add_argument("out", type=Path)
    d.add_argument("--seeds", type=int, default=4000, help="random seeds (default 4000)")
    d.add_argument("--root", type=Path, default=ROOT,
                   help="the checkout whose matcalc answers (default: this one)")
    c = sub.add_parser("compare", help="compare two dumps")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    c.add_argument("--show", type=int, default=5, help="examples per kind (default 5)")
    args = ap.parse_args()
    if args.command == "dump":
        dump(args.out, args.seeds, args.root)
    else:
        compare(args.old, args.new, args.show)


if __name__ == "__main__":
    main()
